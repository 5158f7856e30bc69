# shellcheck shell=sh
# firewall.block with nftables: loads the ruleset on stdin (`FirewallBlockAction::nft_ruleset`
# in mod.rs: table inet breakglass declared, deleted and made anew) in one `nft -f`
# transaction. Runs after prelude.sh; arm.sh may follow. Exit 3 when nft refuses it.
nft -f - || { echo 'breakglass: nft rejected the ruleset; nothing was changed (nft -f is atomic)' >&2; exit 3; }
