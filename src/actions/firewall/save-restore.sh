# shellcheck shell=sh
# shellcheck disable=SC2154 # dir and step are inputs, set before this script
# firewall.block, before it changes anything: saves the restore script that arrives on stdin as
# /run/breakglass/RUN/STEP.restore, whole or not at all (the dead-man timer and the facts read
# it). Runs after prelude.sh.
#
# Inputs: dir (/run/breakglass/RUN), step (STEP).
mkdir -p "$dir" && cat > "$dir/$step.restore.tmp" && mv -f "$dir/$step.restore.tmp" "$dir/$step.restore"
