# shellcheck shell=sh
# shellcheck disable=SC2154 # flows is an input, set before this script
# firewall.block of outgoing connections with cut_established: after the rules are in, ends at
# once every established TCP connection they cover (`ss -K`, the kernel's SOCK_DESTROY: the
# local process gets an error now and the API server a reset). The rules alone end such a
# connection at its next packet, which for a quiet watch may be many seconds away. Best effort:
# a kernel without CONFIG_INET_DIAG_DESTROY, or no `ss`, leaves it to the rules. Only the node's
# own sockets: a pod's connection (forwarded, in the pod's network namespace) is out of reach of
# `ss` here, and ends when the forward chain's reset answers its next packet. Runs after
# prelude.sh and the block; arm.sh may follow.
#
# Inputs: flows (an `ss` filter: the ports, the destinations, not the allowed ones).
# Output: a killed section, the number of connections ended, or why none could be.
sec killed
if command -v ss >/dev/null 2>&1; then
  if killed=$(ss -K -H -t -n state established "$flows" 2>&1); then
    printf '%s\n' "$killed" | grep -c . || true
  else
    echo "ss -K failed: $(printf '%s' "$killed" | head -n 1)"
  fi
else
  echo 'no ss on the node'
fi
