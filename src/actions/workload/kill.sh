# shellcheck shell=sh
# shellcheck disable=SC2154 # crictl is an input, set before this script
# workload.kill: stop, then remove, the pod sandboxes given as positional parameters, and say
# so with a marker line; list.sh follows, so the same session reports what matches afterwards
# (a replacement its controller may already have started). Stopping a stopped sandbox is
# harmless and `rmp` wants it stopped, so a repeated kill converges.
#
# Inputs: crictl (its path); the positional parameters: the sandbox IDs (64 hex digits each,
# checked by the caller).
# Output: crictl's own output, then `breakglass: pods after the kill`, then list.sh's JSON.
# Exit: 3 when `crictl stopp` fails (nothing removed), 4 when `crictl rmp` fails.
"$crictl" stopp "$@" >&2 || { echo "breakglass: crictl stopp failed" >&2; exit 3; }
"$crictl" rmp "$@" >&2 || { echo "breakglass: crictl rmp failed" >&2; exit 4; }
echo 'breakglass: pods after the kill'
