# shellcheck shell=sh
# shellcheck disable=SC2154 # dir, step, unit, secs and supersede are inputs, set before this script
# Arms one block step's dead-man timer, after the change. Runs after prelude.sh, deadman.sh and
# the block itself (block-nft.sh or block-iptables.sh); the restore script must exist
# (save-restore.sh wrote it). A retried apply first cancels the timer an earlier attempt armed.
# If no timer can be armed, the change is reverted at once: a firewall change without its
# safety net is not one breakglass makes.
#
# Inputs: dir (/run/breakglass/RUN), step (STEP), unit (the systemd unit name, without
# .timer), secs (seconds until the timer fires), supersede (space-separated RUN_DIR/STEP bases
# of earlier blocks' live timers that this one takes over; they are cancelled).
#
# Output: a deadman section, `kind=systemd unit=UNIT.timer expires=EPOCH` when PID 1 is systemd,
# else `kind=detached pid=PID pidfile=FILE expires=EPOCH` (a setsid'd `sleep` then the script).
# Exit 5 when no timer could be armed (the change was reverted).
restore="$dir/$step.restore"
disarm() { /bin/sh "$restore" >&2; echo "breakglass: $1; the change was reverted" >&2; exit 5; }
[ -s "$restore" ] || disarm "the restore script $restore is missing"
cancel_step "$dir" "$step" >/dev/null
for b in $supersede; do
  cancel_step "${b%/*}" "${b##*/}" >/dev/null
  printf '%s\n' "$dir/$step" > "$b.superseded"
done
rm -f "$dir/$step.fired" "$dir/$step.confirmed" "$dir/$step.superseded"
now=$(date +%s)
expires=$((now + secs))
# Both timers are `/bin/sh -c SCRIPT` with SCRIPT in single quotes: the timer's own shell
# expands its $$ and $1..$4, not this one.
# shellcheck disable=SC2016
if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && command -v systemd-run >/dev/null 2>&1 &&
   systemd-run --quiet --unit="$unit" --on-active="${secs}s" --timer-property=AccuracySec=1s \
     --description="breakglass dead-man revert of $dir/$step" \
     /bin/sh -c '/bin/sh "$1" && date +%s > "$2"; rm -f "$3"' breakglass-deadman \
     "$restore" "$dir/$step.fired" "$dir/$step.unit" >&2; then
  printf '%s\n' "$unit" > "$dir/$step.unit"
  sec deadman
  printf 'kind=systemd unit=%s.timer expires=%s\n' "$unit" "$expires"
else
  command -v setsid >/dev/null 2>&1 || disarm "neither systemd-run (PID 1 is not systemd) nor setsid is available for the dead-man timer"
  rm -f "$dir/$step.pid"
  setsid /bin/sh -c 'echo $$ > "$1.tmp" && mv -f "$1.tmp" "$1" && sleep "$2" && /bin/sh "$3" && date +%s > "$4"; rm -f "$1"' \
    breakglass-deadman "$dir/$step.pid" "$secs" "$restore" "$dir/$step.fired" </dev/null >/dev/null 2>&1 &
  i=0
  while [ ! -s "$dir/$step.pid" ] && [ "$i" -lt 50 ]; do sleep 0.1 2>/dev/null || sleep 1; i=$((i + 1)); done
  [ -s "$dir/$step.pid" ] || disarm "the dead-man timer process did not start"
  sec deadman
  printf 'kind=detached pid=%s pidfile=%s expires=%s\n' "$(cat "$dir/$step.pid")" "$dir/$step.pid" "$expires"
fi
