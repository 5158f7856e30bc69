# shellcheck shell=sh
# shellcheck disable=SC2154 # crictl, namespace, name and label are inputs, set before this script
# workload.kill: the workload's pod sandboxes on this node, as `crictl pods -o json` prints
# them. crictl's --namespace and --name are regular expressions: the inputs arrive anchored
# and escaped. Changes nothing. Runs in the login shell (or `sudo sh -c`) as sent.
#
# Inputs: crictl (its path), namespace (`^NS$`), name (`^PREFIX`, or empty for any name),
# label (`K=V`, or empty for no label filter).
# Output: crictl's JSON.
set -- pods --namespace "$namespace"
if [ -n "$name" ]; then set -- "$@" --name "$name"; fi
if [ -n "$label" ]; then set -- "$@" --label "$label"; fi
"$crictl" "$@" -o json
