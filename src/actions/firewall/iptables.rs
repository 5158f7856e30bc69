//! The iptables backend of `firewall.block`, for nodes without nft (or with
//! `backend = "iptables"`): the rules of the `BREAKGLASS` chain of each family, loaded with
//! `iptables-restore --noflush` (`block-iptables.sh`) and jumped to from position 1 of `INPUT`;
//! the read-back that checks them; and [`IptState`], one family's chain and jumps as
//! `iptables -S` prints them and a snapshot records them.
//!
//! Like `nft.rs`, it builds rules and parses listings. It must not run anything on a node and
//! knows nothing of nft.

use serde::{Deserialize, Serialize};

use super::FirewallBlockAction;

/// The iptables chain (both families).
pub(super) const CHAIN: &str = "BREAKGLASS";
/// Loads the block's iptables rules (stdin), both families.
pub(super) const BLOCK_IPTABLES: &str = include_str!("block-iptables.sh");

/// The `BREAKGLASS` chain of one iptables family: its rules as `iptables -S` prints them
/// (`None`: no such chain), and the `INPUT` rules jumping to it with their 1-based positions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IptState {
    pub chain: Option<Vec<String>>,
    #[serde(default)]
    pub jumps: Vec<Jump>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jump {
    pub position: usize,
    /// `-A INPUT ... -j BREAKGLASS`.
    pub rule: String,
}

impl IptState {
    pub(super) fn absent() -> IptState {
        IptState::default()
    }

    pub(super) fn exists(&self) -> bool {
        self.chain.is_some()
    }
}

impl FirewallBlockAction {
    /// The `BREAKGLASS` chain rules for one family, as `iptables-restore` lines.
    fn ipt_rules(&self, v6: bool) -> Vec<String> {
        let mut rules = vec![format!("-A {CHAIN} -i lo -j RETURN")];
        if v6 {
            rules.extend(
                self.allow6
                    .iter()
                    .map(|n| format!("-A {CHAIN} -s {n} -j RETURN")),
            );
        } else {
            rules.extend(
                self.allow4
                    .iter()
                    .map(|n| format!("-A {CHAIN} -s {n} -j RETURN")),
            );
        }
        for p in &self.args.ports {
            rules.push(format!(
                "-A {CHAIN} -p tcp -m tcp --dport {p} --tcp-flags FIN,SYN,RST,ACK SYN -j DROP"
            ));
            if self.args.cut_established {
                rules.push(format!(
                    "-A {CHAIN} -p tcp -m tcp --dport {p} --tcp-flags RST RST -j RETURN"
                ));
                rules.push(format!(
                    "-A {CHAIN} -p tcp -m tcp --dport {p} -j REJECT --reject-with tcp-reset"
                ));
            }
        }
        rules
    }

    /// The iptables payload: v4 rules, `#breakglass-v6`, v6 rules (comment lines are ignored by
    /// `iptables-restore`).
    pub(super) fn ipt_payload(&self) -> String {
        let mut s = self.ipt_rules(false).join("\n");
        s.push_str("\n#breakglass-v6\n");
        s.push_str(&self.ipt_rules(true).join("\n"));
        s.push('\n');
        s
    }

    pub(super) fn check_ipt(
        &self,
        name: &str,
        st: Option<&IptState>,
        v6: bool,
    ) -> Result<(), String> {
        let st = st.ok_or_else(|| format!("{name} state could not be read"))?;
        let rules = st
            .chain
            .as_ref()
            .ok_or_else(|| format!("the {name} {CHAIN} chain is missing"))?;
        if st.jumps.len() != 1 || st.jumps[0].position != 1 {
            return Err(format!(
                "{name} INPUT does not jump to {CHAIN} exactly once, first: {:?}",
                st.jumps
            ));
        }
        let want = self.ipt_rules(v6);
        if rules.len() != want.len() {
            return Err(format!(
                "the {name} {CHAIN} chain has {} rules, not {}",
                rules.len(),
                want.len()
            ));
        }
        for p in &self.args.ports {
            let dport = format!("--dport {p} ");
            let with = |target: &str| {
                rules
                    .iter()
                    .any(|r| r.contains(&dport) && r.contains(target))
            };
            if !with("-j DROP") || (self.args.cut_established && !with("-j REJECT")) {
                return Err(format!("the {name} {CHAIN} chain does not block port {p}"));
            }
        }
        Ok(())
    }
}

/// `-N BREAKGLASS`, `-A BREAKGLASS ...` and `-A INPUT ...` lines into the chain's state.
pub(super) fn parse_ipt(text: &str) -> IptState {
    let mut exists = false;
    let mut rules = Vec::new();
    let mut jumps = Vec::new();
    let mut position = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line == format!("-N {CHAIN}") {
            exists = true;
        } else if line.starts_with("-A INPUT ") {
            position += 1;
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.windows(2).any(|w| w == ["-j", CHAIN]) {
                jumps.push(Jump {
                    position,
                    rule: line.to_owned(),
                });
            }
        } else if line.starts_with(&format!("-A {CHAIN} ")) {
            rules.push(line.to_owned());
        }
    }
    IptState {
        chain: exists.then_some(rules),
        jumps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iptables_state_parses() {
        let st = parse_ipt(
            "-N BREAKGLASS\n-A INPUT -s 1.1.1.1/32 -j ACCEPT\n-A INPUT -j BREAKGLASS\n-A BREAKGLASS -i lo -j RETURN\n",
        );
        assert_eq!(
            st.chain,
            Some(vec!["-A BREAKGLASS -i lo -j RETURN".to_owned()])
        );
        assert_eq!(
            st.jumps,
            vec![Jump {
                position: 2,
                rule: "-A INPUT -j BREAKGLASS".into()
            }]
        );
        assert_eq!(parse_ipt("-A INPUT -j ACCEPT\n"), IptState::absent());
    }
}
