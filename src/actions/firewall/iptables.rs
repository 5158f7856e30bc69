//! The iptables backend of `firewall.block`, for nodes without nft (or with
//! `backend = "iptables"`): the rules of the `BREAKGLASS` chain of each family, loaded with
//! `iptables-restore --noflush` (`block-iptables.sh`) and jumped to from position 1 of `INPUT`
//! (egress: of `OUTPUT` and `FORWARD`, one chain for both); the read-back that checks them; and [`IptState`], one family's chain and jumps as
//! `iptables -S` prints them and a snapshot records them.
//!
//! Like `nft.rs`, it builds rules and parses listings. It must not run anything on a node and
//! knows nothing of nft.

use serde::{Deserialize, Serialize};

use super::FirewallBlockAction;
use crate::actions::args::Direction;

/// The iptables chain (both families).
pub(super) const CHAIN: &str = "BREAKGLASS";
/// Loads the block's iptables rules (stdin), both families.
pub(super) const BLOCK_IPTABLES: &str = include_str!("block-iptables.sh");

/// The `BREAKGLASS` chain of one iptables family: its rules as `iptables -S` prints them
/// (`None`: no such chain), and the `INPUT` (ingress) or `OUTPUT` and `FORWARD` (egress) rules
/// jumping to it with their 1-based positions in that chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IptState {
    pub chain: Option<Vec<String>>,
    #[serde(default)]
    pub jumps: Vec<Jump>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jump {
    pub position: usize,
    /// `-A INPUT ... -j BREAKGLASS` (or `-A OUTPUT ...`, `-A FORWARD ...`).
    pub rule: String,
}

impl Jump {
    /// `INPUT`, `OUTPUT` or `FORWARD`, and the rule's spec after it.
    pub(super) fn chain_and_spec(&self) -> (&str, &str) {
        let rest = self.rule.strip_prefix("-A ").unwrap_or(&self.rule);
        rest.split_once(' ').unwrap_or((rest, ""))
    }
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
    /// The `BREAKGLASS` chain rules for one family, as `iptables-restore` lines: the nft rules
    /// of the same direction, one port (and, egress, one destination) at a time. One chain
    /// serves both egress jumps: its `-o lo` rule never matches a forwarded packet (nothing
    /// forwarded leaves by `lo`), so `FORWARD` needs no chain of its own.
    fn ipt_rules(&self, v6: bool) -> Vec<String> {
        let egress = self.direction() == Direction::Egress;
        let (lo, peer) = if egress { ("-o", "-d") } else { ("-i", "-s") };
        let mut rules = vec![format!("-A {CHAIN} {lo} lo -j RETURN")];
        let (allow, to): (Vec<String>, Vec<String>) = if v6 {
            (text(&self.allow6), text(&self.to6))
        } else {
            (text(&self.allow4), text(&self.to4))
        };
        rules.extend(
            allow
                .iter()
                .map(|n| format!("-A {CHAIN} {peer} {n} -j RETURN")),
        );
        // Ingress: every source; egress: only the destinations `to`.
        let blocked: Vec<String> = if egress {
            to.iter().map(|n| format!(" -d {n}")).collect()
        } else {
            vec![String::new()]
        };
        for d in &blocked {
            for p in &self.ports {
                rules.push(format!(
                    "-A {CHAIN}{d} -p tcp -m tcp --dport {p} --tcp-flags FIN,SYN,RST,ACK SYN -j DROP"
                ));
                if self.args.cut_established {
                    rules.push(format!(
                        "-A {CHAIN}{d} -p tcp -m tcp --dport {p} --tcp-flags RST RST -j RETURN"
                    ));
                    rules.push(format!(
                        "-A {CHAIN}{d} -p tcp -m tcp --dport {p} -j REJECT --reject-with tcp-reset"
                    ));
                }
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
        let hooks: Vec<&str> = self.hooks().iter().map(|h| h.iptables()).collect();
        let mut from: Vec<&str> = st.jumps.iter().map(|j| j.chain_and_spec().0).collect();
        from.sort_unstable();
        let mut want = hooks.clone();
        want.sort_unstable();
        if from != want || st.jumps.iter().any(|j| j.position != 1) {
            return Err(format!(
                "{name}: {} must each jump to {CHAIN} exactly once, first; the jumps are {:?}",
                hooks.join(" and "),
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
        let has_blocked = match (self.direction(), v6) {
            (Direction::Ingress, _) => true,
            (Direction::Egress, false) => !self.to4.is_empty(),
            (Direction::Egress, true) => !self.to6.is_empty(),
        };
        for p in self.ports.iter().filter(|_| has_blocked) {
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

fn text<T: ToString>(v: &[T]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

/// `-N BREAKGLASS`, `-A BREAKGLASS ...`, `-A INPUT ...`, `-A FORWARD ...` and `-A OUTPUT ...`
/// lines into the chain's state (positions counted in each built-in chain on its own).
pub(super) fn parse_ipt(text: &str) -> IptState {
    let mut exists = false;
    let mut rules = Vec::new();
    let mut jumps = Vec::new();
    let (mut input, mut forward, mut output) = (0, 0, 0);
    for line in text.lines() {
        let line = line.trim_end();
        let counter = if line.starts_with("-A INPUT ") {
            Some(&mut input)
        } else if line.starts_with("-A FORWARD ") {
            Some(&mut forward)
        } else if line.starts_with("-A OUTPUT ") {
            Some(&mut output)
        } else {
            None
        };
        if line == format!("-N {CHAIN}") {
            exists = true;
        } else if let Some(counter) = counter {
            *counter += 1;
            let position = *counter;
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
    use crate::actions::firewall::tests::block_in;

    #[test]
    fn egress_rules_jump_from_output_and_forward_and_match_only_the_destinations() {
        let a = block_in(
            "direction = \"egress\"\nto = [\"10.0.12.0/24\"]\nports = [443]\nallow = [\"10.0.12.5\"]",
            Some("prod"),
        )
        .expect("build");
        assert_eq!(
            a.ipt_payload(),
            "-A BREAKGLASS -o lo -j RETURN\n\
             -A BREAKGLASS -d 10.0.12.5/32 -j RETURN\n\
             -A BREAKGLASS -d 127.0.0.0/8 -j RETURN\n\
             -A BREAKGLASS -d 10.0.12.0/24 -p tcp -m tcp --dport 443 --tcp-flags FIN,SYN,RST,ACK SYN -j DROP\n\
             -A BREAKGLASS -d 10.0.12.0/24 -p tcp -m tcp --dport 443 --tcp-flags RST RST -j RETURN\n\
             -A BREAKGLASS -d 10.0.12.0/24 -p tcp -m tcp --dport 443 -j REJECT --reject-with tcp-reset\n\
             #breakglass-v6\n\
             -A BREAKGLASS -o lo -j RETURN\n\
             -A BREAKGLASS -d ::1/128 -j RETURN\n"
        );
        // The read-back wants one jump in OUTPUT and one in FORWARD, each first; IPv6 has no
        // destination to block.
        let listed = |jumps: &str| {
            let mut text = format!("-N BREAKGLASS\n{jumps}");
            for line in a.ipt_payload().lines().take_while(|l| !l.starts_with('#')) {
                text.push_str(line);
                text.push('\n');
            }
            parse_ipt(&text)
        };
        let both = "-A FORWARD -j BREAKGLASS\n-A OUTPUT -j BREAKGLASS\n";
        a.check_ipt("iptables", Some(&listed(both)), false)
            .expect("holds");
        for jumps in [
            "-A INPUT -j BREAKGLASS\n",
            "-A OUTPUT -j BREAKGLASS\n",
            "-A FORWARD -j ACCEPT\n-A FORWARD -j BREAKGLASS\n-A OUTPUT -j BREAKGLASS\n",
            "-A FORWARD -j BREAKGLASS\n-A OUTPUT -j BREAKGLASS\n-A OUTPUT -j BREAKGLASS\n",
        ] {
            let err = a
                .check_ipt("iptables", Some(&listed(jumps)), false)
                .expect_err(jumps);
            assert!(
                err.starts_with("iptables: OUTPUT and FORWARD must each jump to BREAKGLASS"),
                "{err}"
            );
        }
        // A block made before FORWARD was covered: the OUTPUT jump alone, and only that.
        let mut old = a.clone();
        old.forwarded = false;
        old.check_ipt(
            "iptables",
            Some(&listed("-A OUTPUT -j BREAKGLASS\n")),
            false,
        )
        .expect("the old block holds");
        assert!(
            old.check_ipt("iptables", Some(&listed(both)), false)
                .is_err()
        );
        let v6 = parse_ipt(
            "-N BREAKGLASS\n-A FORWARD -j BREAKGLASS\n-A OUTPUT -j BREAKGLASS\n-A BREAKGLASS -o lo -j RETURN\n-A BREAKGLASS -d ::1/128 -j RETURN\n",
        );
        a.check_ipt("ip6tables", Some(&v6), true).expect("holds");
    }

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
        // OUTPUT positions count on their own.
        let st =
            parse_ipt("-A INPUT -j ACCEPT\n-A OUTPUT -o lo -j ACCEPT\n-A OUTPUT -j BREAKGLASS\n");
        assert_eq!(st.jumps[0].position, 2);
        assert_eq!(st.jumps[0].chain_and_spec(), ("OUTPUT", "-j BREAKGLASS"));
        // So do FORWARD's.
        let st = parse_ipt(
            "-A INPUT -j ACCEPT\n-A FORWARD -j ACCEPT\n-A FORWARD -j BREAKGLASS\n-A OUTPUT -j BREAKGLASS\n",
        );
        assert_eq!(
            st.jumps,
            vec![
                Jump {
                    position: 2,
                    rule: "-A FORWARD -j BREAKGLASS".into()
                },
                Jump {
                    position: 1,
                    rule: "-A OUTPUT -j BREAKGLASS".into()
                }
            ]
        );
    }
}
