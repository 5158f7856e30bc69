# shellcheck shell=sh
# shellcheck disable=SC2154 # crictl is an input, set before this script
# workload.kill: stop, then remove, the pod sandboxes given as positional parameters, and say
# so with a marker line; list.sh follows, so the same session reports what matches afterwards
# (a replacement its controller may already have started). Stopping a stopped sandbox is
# harmless and `rmp` wants it stopped, so a repeated kill converges. A sandbox that vanishes
# between the listing and the kill (its kubelet removed it: the workload's object is gone) is
# not a failure: when the batch call fails, each sandbox is retried alone, and one that
# `crictl pods --id` no longer shows counts as gone.
#
# Inputs: crictl (its path); the positional parameters: the sandbox IDs (64 hex digits each,
# checked by the caller).
# Output: crictl's own output, then `breakglass: pods after the kill`, then list.sh's JSON.
# Exit: 3 when `crictl stopp` fails (nothing removed), 4 when `crictl rmp` fails.
# gone ID: true (and says so) when the runtime answers and no longer has sandbox ID.
gone() {
    left=$("$crictl" pods --id "$1" -q) || return 1
    [ -z "$left" ] && echo "breakglass: sandbox $1 is already gone" >&2
}
if ! "$crictl" stopp "$@" >&2; then
    for id in "$@"; do
        "$crictl" stopp "$id" >&2 || gone "$id" || { echo "breakglass: crictl stopp failed" >&2; exit 3; }
    done
fi
if ! "$crictl" rmp "$@" >&2; then
    for id in "$@"; do
        "$crictl" rmp "$id" >&2 || gone "$id" || { echo "breakglass: crictl rmp failed" >&2; exit 4; }
    done
fi
echo 'breakglass: pods after the kill'
