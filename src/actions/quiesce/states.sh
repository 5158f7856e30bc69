# shellcheck shell=sh
# shellcheck disable=SC2154 # earlier, run and step are inputs, set before this script
# nodes.quiesce and nodes.unquiesce: the state of each unit, read with `systemctl is-active`;
# or, with `earlier` set, the record an earlier attempt of the same run and step left
# (record.sh), which takes precedence. Changes nothing. Runs in the login shell (or `sudo sh
# -c`) as sent.
#
# Inputs: earlier (`yes`: look for the record first; empty: the states now), run, step (the
# run and step ids that name the record); the positional parameters: the units.
# Output: `earlier PATH` and the record's lines, or one `UNIT STATUS STATE` line per unit.
if [ -n "$earlier" ]; then
  for root in /var/lib/breakglass /run/breakglass; do
    m=$root/$run/$step/services
    if [ -f "$m" ]; then printf 'earlier %s\n' "$m"; cat -- "$m"; exit 0; fi
  done
fi
for unit in "$@"; do
  # `$?` after an assignment from a command substitution is the command's status.
  s=$(systemctl is-active "$unit" 2>/dev/null)
  printf '%s %s %s\n' "$unit" "$?" "${s:-unknown}"
done
