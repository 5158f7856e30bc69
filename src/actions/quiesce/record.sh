# shellcheck shell=sh
# shellcheck disable=SC2154 # run and step are inputs, set before this script
# nodes.quiesce and nodes.unquiesce, before they change anything: records the service states
# the attempt starts from (stdin) in /var/lib/breakglass/RUN/STEP/services, else under
# /run/breakglass (the first writable; the same list as RECORD_ROOTS in mod.rs), unless an
# earlier attempt of the same run and step already did: its record holds the states from
# before the run. Runs in the login shell (or `sudo sh -c`) as sent.
#
# Inputs: run, step (the run and step ids).
# Stdin: `UNIT STATUS STATE` lines (`systemctl is-active`'s exit status and word).
for root in /var/lib/breakglass /run/breakglass; do
  d=$root/$run/$step
  if mkdir -p -- "$d" 2>/dev/null && [ -w "$d" ]; then
    [ -f "$d"/services ] && exit 0
    cat > "$d"/.services.tmp && mv -f -- "$d"/.services.tmp "$d"/services && exit 0
  fi
done
echo 'breakglass: no writable directory to record the service states in' >&2
exit 1
