# shellcheck shell=sh
# firewall.unblock: cancels every breakglass dead-man timer on the node (the block is gone, so
# must be every revert to it). Runs after prelude.sh and deadman.sh.
#
# Output: a cancelled section, one line per cancelled timer (`detached PID`, `systemd UNIT`).
sec cancelled
for f in /run/breakglass/*/*.pid /run/breakglass/*/*.unit; do
  [ -f "$f" ] || continue
  d=${f%/*} s=${f##*/}
  s=${s%.*}
  r=$(cancel_step "$d" "$s")
  [ "$r" = none ] || echo "$r"
done
if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
  systemctl list-units --no-legend --plain --state=active 'breakglass-deadman-*.timer' 2>/dev/null | while read -r u _; do
    systemctl stop "$u" && echo "systemd $u"
  done
fi
