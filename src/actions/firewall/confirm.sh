# shellcheck shell=sh
# shellcheck disable=SC2154 # dir is an input, set before this script
# `breakglass confirm RUN`: cancels the dead-man timers of some block steps of one run, which
# keeps their blocks. Runs after prelude.sh and deadman.sh.
#
# Inputs: dir (/run/breakglass/RUN); the positional parameters: the steps.
# Output: a confirm section, one `STEP RESULT` line per step (`confirm_results` in mod.rs):
# `cancelled detached PID|systemd UNIT`, `already EPOCH` (an earlier confirm), `fired EPOCH`
# (too late: the block was reverted), `superseded RUN_DIR/STEP` (a later block took the timer
# over), `missing`.
sec confirm
for s in "$@"; do
  r=$(cancel_step "$dir" "$s")
  if [ "$r" != none ]; then date +%s > "$dir/$s.confirmed"; echo "$s cancelled $r";
  elif [ -f "$dir/$s.confirmed" ]; then echo "$s already $(cat "$dir/$s.confirmed")";
  elif [ -f "$dir/$s.fired" ]; then echo "$s fired $(cat "$dir/$s.fired")";
  elif [ -f "$dir/$s.superseded" ]; then echo "$s superseded $(cat "$dir/$s.superseded")";
  else echo "$s missing"; fi
done
