# shellcheck shell=sh
# shellcheck disable=SC2154 # dir and step are inputs, set before this script
# The undo of a firewall.block, once its restore script ran: cancels the step's dead-man timer
# and removes the step's node-side files. Runs after prelude.sh and deadman.sh.
#
# Inputs: dir (/run/breakglass/RUN), step (STEP).
# Output: a cancelled section, what cancel_step cancelled (or `none`).
sec cancelled
cancel_step "$dir" "$step"
rm -f "$dir/$step.restore" "$dir/$step.restore.tmp" "$dir/$step.fired" "$dir/$step.confirmed" "$dir/$step.superseded"
rmdir "$dir" 2>/dev/null || true
