# shellcheck shell=sh
# shellcheck disable=SC2154 # v6 and hooks are inputs, set before this script
# firewall.block with iptables: makes the BREAKGLASS chain hold the rules on stdin and jumps to
# it from position 1 of INPUT (ingress) or of OUTPUT and FORWARD (egress: the node's own
# connections and its pods'), one `iptables-restore --noflush` commit per family (the old jumps
# from any of them go, the chain is flushed and refilled, one jump per hook comes back first).
# Runs after prelude.sh; arm.sh may follow.
#
# Inputs: v6 (`yes`: ip6tables too, `no`: only iptables), hooks (`INPUT`, or `OUTPUT FORWARD`;
# `OUTPUT` alone for an egress block made before FORWARD was covered).
# Stdin: the IPv4 chain rules, a `#breakglass-v6` line, the IPv6 chain rules (`-A BREAKGLASS
# ...` lines; `FirewallBlockAction::ipt_payload` in mod.rs).
# Exit 3 when a family's commit is refused (each commit is atomic).
payload=$(cat)
ipt_apply() {
  cur=$("$1" -w 10 -t filter -S) || return 1
  {
    echo '*filter'
    printf '%s\n' "$cur" | grep -E -- '^-A (INPUT|FORWARD|OUTPUT) .*-j BREAKGLASS( |$)' | sed 's/^-A /-D /'
    echo ':BREAKGLASS - [0:0]'
    printf '%s\n' "$payload" | awk -v fam="$2" '/^#breakglass-v6$/ { f = 6; next } (f ? f : 4) == fam'
    for h in $hooks; do echo "-I $h 1 -j BREAKGLASS"; done
    echo COMMIT
  } | "$1-restore" -w 10 --noflush
}
ipt_apply iptables 4 || { echo 'breakglass: iptables-restore rejected the rules; iptables was not changed' >&2; exit 3; }
if [ "$v6" = yes ]; then
  ipt_apply ip6tables 6 || { echo 'breakglass: ip6tables-restore rejected the rules (IPv4 is blocked; undo restores it)' >&2; exit 3; }
fi
