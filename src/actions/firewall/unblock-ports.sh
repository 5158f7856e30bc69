# shellcheck shell=sh
# shellcheck disable=SC2154 # keep is an input, set before this script
# firewall.unblock of some ports of an nft block: the table's `ports` set keeps only the others,
# in one transaction. Runs after prelude.sh.
#
# Inputs: keep (the ports that stay blocked, `6443, 10250`; never empty: without any, the
# table goes instead).
# Exit 3 when nft refuses.
printf 'flush set inet breakglass ports\nadd element inet breakglass ports { %s }\n' "$keep" | nft -f - ||
  { echo 'breakglass: nft could not unblock the ports' >&2; exit 3; }
