//! The nftables backend of `firewall.block`: the ruleset it loads (one table,
//! `inet breakglass`, replaced in one `nft -f` transaction by `block-nft.sh`), the read-back that
//! checks it holds (from `nft -j`, or from the text listing when nft has no JSON support), and
//! [`NftState`], the table as a snapshot records it.
//!
//! It builds rules and reads listings. It must not run anything on a node (the actions do that,
//! through `shell`) and knows nothing of iptables.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::facts::Facts;
use super::{FirewallBlockAction, Hook};
use crate::actions::args::Direction;

/// Loads the block's nft ruleset (stdin).
pub(super) const BLOCK_NFT: &str = include_str!("block-nft.sh");
/// `firewall.unblock` of some ports of an nft block.
pub(super) const UNBLOCK_PORTS: &str = include_str!("unblock-ports.sh");

/// `table inet breakglass`: `nft -s list table inet breakglass` (stateless: no counter values),
/// or `None` when the table does not exist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NftState {
    pub table: Option<String>,
}

/// An interval set of addresses, `elements` left out when empty (nft refuses `{ }`).
fn addr_set(s: &mut String, name: &str, kind: &str, elements: &[String]) {
    let _ = write!(s, "\tset {name} {{\n\t\ttype {kind}\n\t\tflags interval\n");
    if !elements.is_empty() {
        let _ = writeln!(s, "\t\telements = {{ {} }}", elements.join(", "));
    }
    let _ = writeln!(s, "\t}}");
}

fn text<T: ToString>(v: &[T]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

impl FirewallBlockAction {
    /// The nft ruleset `apply` loads (one `nft -f` transaction).
    pub fn nft_ruleset(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "table inet breakglass {{}}");
        let _ = writeln!(s, "delete table inet breakglass");
        let _ = writeln!(s, "table inet breakglass {{");
        let _ = writeln!(
            s,
            "\tset ports {{\n\t\ttype inet_service\n\t\telements = {{ {} }}\n\t}}",
            self.ports_text(", ")
        );
        addr_set(&mut s, "allow4", "ipv4_addr", &text(&self.allow4));
        addr_set(&mut s, "allow6", "ipv6_addr", &text(&self.allow6));
        let egress = self.direction() == Direction::Egress;
        if egress {
            addr_set(&mut s, "to4", "ipv4_addr", &text(&self.to4));
            addr_set(&mut s, "to6", "ipv6_addr", &text(&self.to6));
        }
        // Ingress matches the peer as the source, egress as the destination, and only the
        // destinations `to` (every source is one the ports are blocked for).
        let (peer, to4, to6) = if egress {
            ("daddr", " ip daddr @to4", " ip6 daddr @to6")
        } else {
            ("saddr", "", "")
        };
        for &h in self.hooks() {
            let hook = h.nft();
            let _ = writeln!(s, "\tchain {hook} {{");
            // Before the usual filter chains (priority 0), after conntrack (-200) and after
            // kube-proxy's DNAT in prerouting (-100): a pod's packet to the API service's
            // address already has the endpoint's address here.
            let _ = writeln!(
                s,
                "\t\ttype filter hook {hook} priority filter - 10; policy accept;"
            );
            if let Some(lo) = h.loopback() {
                let _ = writeln!(s, "\t\t{lo} \"lo\" tcp dport @ports accept");
            }
            let _ = writeln!(s, "\t\ttcp dport @ports ip {peer} @allow4 accept");
            let _ = writeln!(s, "\t\ttcp dport @ports ip6 {peer} @allow6 accept");
            let blocked: &[&str] = if egress { &[to4, to6] } else { &[""] };
            for to in blocked {
                let _ = writeln!(
                    s,
                    "\t\ttcp dport @ports{to} tcp flags & (fin | syn | rst | ack) == syn drop"
                );
            }
            if self.args.cut_established {
                let _ = writeln!(s, "\t\ttcp dport @ports tcp flags & rst == rst accept");
                for to in blocked {
                    let _ = writeln!(s, "\t\ttcp dport @ports{to} reject with tcp reset");
                }
            }
            let _ = writeln!(s, "\t}}");
        }
        let _ = writeln!(s, "}}");
        s
    }

    /// The number of rules [`Self::nft_ruleset`] writes into the chain of `hook`.
    fn nft_rule_count(&self, hook: Hook) -> usize {
        let lo = usize::from(hook.loopback().is_some());
        let blocked = if self.direction() == Direction::Egress {
            2
        } else {
            1
        };
        lo + 2
            + blocked
            + if self.args.cut_established {
                1 + blocked
            } else {
                0
            }
    }

    /// The JSON read-back (`nft -j list table inet breakglass`): exactly the chains of
    /// [`Self::hooks`], each on its hook, every set element by element, and each chain's rule
    /// count and verdicts.
    pub(super) fn check_nft(&self, json: &Value) -> Result<(), String> {
        for hook in self.hooks() {
            let hook = hook.nft();
            let chain = nft_objects(json, "chain")
                .find(|c| c["name"] == hook)
                .ok_or_else(|| format!("chain {hook} is missing"))?;
            if chain["hook"] != hook || chain["prio"] != -10 || chain["policy"] != "accept" {
                return Err(format!("chain {hook} is not the expected hook: {chain}"));
            }
        }
        if let Some(extra) = nft_objects(json, "chain")
            .filter_map(|c| c["name"].as_str())
            .find(|name| !self.hooks().iter().any(|h| h.nft() == *name))
        {
            return Err(format!("chain {extra} is not one this block makes"));
        }
        let set = |name: &str| {
            nft_objects(json, "set")
                .find(|s| s["name"] == name)
                .ok_or_else(|| format!("set {name} is missing"))
        };
        let ports: BTreeSet<u64> = set("ports")?["elem"]
            .as_array()
            .map(|v| v.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        let want: BTreeSet<u64> = self.ports.iter().map(|p| u64::from(*p)).collect();
        if ports != want {
            return Err(format!("set ports holds {ports:?}, not {want:?}"));
        }
        let v4 = |nets: &[ipnet::Ipv4Net]| -> Vec<(u128, u128)> {
            nets.iter()
                .map(|n| {
                    (
                        u128::from(u32::from(n.network())),
                        u128::from(u32::from(n.broadcast())),
                    )
                })
                .collect()
        };
        let v6 = |nets: &[ipnet::Ipv6Net]| -> Vec<(u128, u128)> {
            nets.iter()
                .map(|n| (u128::from(n.network()), u128::from(n.broadcast())))
                .collect()
        };
        let mut sets = vec![
            ("allow4", v4(&self.allow4), "the allowlist"),
            ("allow6", v6(&self.allow6), "the allowlist"),
        ];
        if self.direction() == Direction::Egress {
            sets.push(("to4", v4(&self.to4), "the destinations"));
            sets.push(("to6", v6(&self.to6), "the destinations"));
        }
        for (name, want, what) in sets {
            // A set without elements has no `elem` at all.
            let elem = &set(name)?["elem"];
            let got = if elem.is_null() {
                Some(Vec::new())
            } else {
                elem_intervals(elem)
            }
            .ok_or_else(|| format!("set {name} holds elements this build cannot read"))?;
            if merge(got) != merge(want) {
                return Err(format!("set {name} does not hold {what}"));
            }
        }
        let rules: Vec<&Value> = nft_objects(json, "rule").collect();
        for hook in self.hooks() {
            let name = hook.nft();
            let rules: Vec<&&Value> = rules.iter().filter(|r| r["chain"] == name).collect();
            let expected = self.nft_rule_count(*hook);
            if rules.len() != expected {
                return Err(format!(
                    "chain {name} has {} rules, not {expected}",
                    rules.len()
                ));
            }
            let has = |verdict: &str| {
                rules.iter().any(|r| {
                    r["expr"]
                        .as_array()
                        .is_some_and(|e| e.iter().any(|x| x.get(verdict).is_some()))
                })
            };
            if !has("drop") || (self.args.cut_established && !has("reject")) {
                return Err(format!("chain {name} lacks its drop or reject rule"));
            }
        }
        let expected: usize = self.hooks().iter().map(|h| self.nft_rule_count(*h)).sum();
        if rules.len() != expected {
            return Err(format!(
                "table inet breakglass has {} rules, not {expected}",
                rules.len()
            ));
        }
        Ok(())
    }

    /// The read-back without `nft -j`: exactly the chains of [`Self::hooks`], each with its
    /// hook line and its verdicts, and the ports.
    pub(super) fn check_nft_text(&self, text: &str, facts: &Facts) -> Result<(), String> {
        for hook in self.hooks() {
            let hook = hook.nft();
            let body = text_chain(text, hook).ok_or_else(|| format!("chain {hook} is missing"))?;
            if !body.contains(&format!(
                "type filter hook {hook} priority filter - 10; policy accept;"
            )) && !body.contains(&format!(
                "type filter hook {hook} priority -10; policy accept;"
            )) {
                return Err(format!("chain {hook} is not the expected hook"));
            }
            let has = |verdict: &str| {
                body.lines()
                    .any(|l| l.contains("tcp dport @ports") && l.trim_end().ends_with(verdict))
            };
            if !has(" drop") || (self.args.cut_established && !has("reject with tcp reset")) {
                return Err(format!("chain {hook} lacks its drop or reject rule"));
            }
        }
        if let Some(extra) = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("chain ")?.strip_suffix(" {"))
            .find(|name| !self.hooks().iter().any(|h| h.nft() == *name))
        {
            return Err(format!("chain {extra} is not one this block makes"));
        }
        let want: BTreeSet<u16> = self.ports.iter().copied().collect();
        if facts.nft_ports() != Some(want) {
            return Err("set ports does not hold the ports".into());
        }
        Ok(())
    }
}

/// Interval set elements (`"10.0.0.1"`, `{"prefix": ...}`, `{"range": [a, b]}`) as inclusive
/// numeric ranges; `None` when an element has another form.
fn elem_intervals(elems: &Value) -> Option<Vec<(u128, u128)>> {
    let addr = |v: &Value| -> Option<u128> {
        Some(match v.as_str()?.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        })
    };
    let mut out = Vec::new();
    for e in elems.as_array()? {
        if let Some(p) = e.get("prefix") {
            let ip: IpAddr = p["addr"].as_str()?.parse().ok()?;
            let len = u8::try_from(p["len"].as_u64()?).ok()?;
            let net = IpNet::new(ip, len).ok()?;
            out.push(match net {
                IpNet::V4(n) => (
                    u128::from(u32::from(n.network())),
                    u128::from(u32::from(n.broadcast())),
                ),
                IpNet::V6(n) => (u128::from(n.network()), u128::from(n.broadcast())),
            });
        } else if let Some(r) = e.get("range") {
            out.push((addr(&r[0])?, addr(&r[1])?));
        } else {
            let a = addr(e)?;
            out.push((a, a));
        }
    }
    Some(out)
}

/// Sorted, with overlapping and adjacent ranges joined.
fn merge(mut v: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    v.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::new();
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The body of chain `name` in an `nft list table` text listing (from its `chain NAME {` line
/// to its closing brace), `None` without such a chain.
fn text_chain<'a>(table: &'a str, name: &str) -> Option<&'a str> {
    let start = table.find(&format!("chain {name} {{"))?;
    let rest = &table[start..];
    Some(&rest[..rest.find("\n\t}").unwrap_or(rest.len())])
}

/// The elements of set `name` in an `nft list table` text listing (an nft without JSON
/// support). `Some(empty)` for a set without elements, `None` without such a set.
pub(super) fn text_set_elements(table: &str, name: &str) -> Option<Vec<String>> {
    let start = table.find(&format!("set {name} {{"))?;
    let rest = &table[start..];
    let body = &rest[..rest.find("\n\t}").unwrap_or(rest.len())];
    let Some(e) = body.find("elements = {") else {
        return Some(Vec::new());
    };
    let list = &body[e + "elements = {".len()..];
    let list = &list[..list.find('}')?];
    Some(
        list.split(',')
            .map(|x| x.trim().to_owned())
            .filter(|x| !x.is_empty())
            .collect(),
    )
}

pub(super) fn nft_objects<'a>(
    json: &'a Value,
    kind: &'a str,
) -> impl Iterator<Item = &'a Value> + 'a {
    json["nftables"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(move |o| o.get(kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::contract::Action;
    use crate::actions::firewall::tests::{block, block_in};

    #[test]
    fn the_ruleset_is_one_idempotent_transaction() {
        let a = block(
            "allow = [\"192.0.2.0/24\", \"192.0.2.7\"]\nallow_targets = \"role=control-plane\"",
        );
        let rs = a.nft_ruleset();
        assert!(
            rs.starts_with(
                "table inet breakglass {}\ndelete table inet breakglass\ntable inet breakglass {\n"
            ),
            "{rs}"
        );
        assert!(rs.contains("elements = { 6443 }"), "{rs}");
        // 192.0.2.7 lies in 192.0.2.0/24, and cp1 (.10) and cp2 (.11) make one /31.
        assert!(
            rs.contains("elements = { 10.0.0.10/31, 127.0.0.0/8, 192.0.2.0/24 }"),
            "{rs}"
        );
        assert!(rs.contains("elements = { ::1/128 }"), "{rs}");
        assert!(rs.contains("type filter hook input priority filter - 10; policy accept;"));
        assert!(rs.contains("tcp dport @ports reject with tcp reset"));
        let kept = block("cut_established = false\nallow = [\"192.0.2.0/24\"]");
        assert!(!kept.nft_ruleset().contains("reject"));
        assert_eq!(
            a.plan("cp1"),
            "block incoming tcp/6443 except 192.0.2.0/24, 192.0.2.7/32, 127.0.0.0/8 (+2 peers from \"role=control-plane\"); cut established; auto-revert in 20m unless confirmed"
        );
    }
    /// The sets and the output chain of an egress block, as every egress block has had them.
    const EGRESS_OUTPUT: &str = "table inet breakglass {}
delete table inet breakglass
table inet breakglass {
\tset ports {
\t\ttype inet_service
\t\telements = { 6443 }
\t}
\tset allow4 {
\t\ttype ipv4_addr
\t\tflags interval
\t\telements = { 127.0.0.0/8 }
\t}
\tset allow6 {
\t\ttype ipv6_addr
\t\tflags interval
\t\telements = { ::1/128 }
\t}
\tset to4 {
\t\ttype ipv4_addr
\t\tflags interval
\t\telements = { 10.0.0.10/31 }
\t}
\tset to6 {
\t\ttype ipv6_addr
\t\tflags interval
\t}
\tchain output {
\t\ttype filter hook output priority filter - 10; policy accept;
\t\toif \"lo\" tcp dport @ports accept
\t\ttcp dport @ports ip daddr @allow4 accept
\t\ttcp dport @ports ip6 daddr @allow6 accept
\t\ttcp dport @ports ip daddr @to4 tcp flags & (fin | syn | rst | ack) == syn drop
\t\ttcp dport @ports ip6 daddr @to6 tcp flags & (fin | syn | rst | ack) == syn drop
\t\ttcp dport @ports tcp flags & rst == rst accept
\t\ttcp dport @ports ip daddr @to4 reject with tcp reset
\t\ttcp dport @ports ip6 daddr @to6 reject with tcp reset
\t}
";

    /// The forward chain: the same rules for the connections the node routes for its pods,
    /// without the loopback rule (nothing forwarded passes `lo`).
    const EGRESS_FORWARD: &str = "\tchain forward {
\t\ttype filter hook forward priority filter - 10; policy accept;
\t\ttcp dport @ports ip daddr @allow4 accept
\t\ttcp dport @ports ip6 daddr @allow6 accept
\t\ttcp dport @ports ip daddr @to4 tcp flags & (fin | syn | rst | ack) == syn drop
\t\ttcp dport @ports ip6 daddr @to6 tcp flags & (fin | syn | rst | ack) == syn drop
\t\ttcp dport @ports tcp flags & rst == rst accept
\t\ttcp dport @ports ip daddr @to4 reject with tcp reset
\t\ttcp dport @ports ip6 daddr @to6 reject with tcp reset
\t}
";

    /// Issue #9: the egress block is the ingress rules on the output hook (the node's own
    /// connections) and on the forward hook (its pods'), matching only the destinations (here
    /// the runbook cluster's API servers, from the inventory) on the ports.
    #[test]
    fn the_egress_ruleset_drops_only_the_destinations_on_the_output_and_forward_hooks() {
        let a = block_in("direction = \"egress\"", Some("prod")).expect("build");
        assert_eq!(
            a.nft_ruleset(),
            format!("{EGRESS_OUTPUT}{EGRESS_FORWARD}}}\n")
        );
        assert_eq!(
            a.plan("w1"),
            "block outgoing tcp/6443 to 10.0.0.10/31 (cluster prod's api_endpoints) except \
             127.0.0.0/8; cut established; auto-revert in 20m unless confirmed"
        );
        // A block made before the forward hook was covered: the output chain alone.
        let mut old = a.clone();
        old.forwarded = false;
        assert_eq!(old.nft_ruleset(), format!("{EGRESS_OUTPUT}}}\n"));
        let kept = block_in(
            "direction = \"egress\"\ncut_established = false",
            Some("prod"),
        )
        .expect("build");
        let rs = kept.nft_ruleset();
        assert!(!rs.contains("reject") && !rs.contains("rst == rst"), "{rs}");
        assert_eq!(
            rs.matches("ip daddr @to4 tcp flags & (fin | syn | rst | ack) == syn drop")
                .count(),
            2,
            "{rs}"
        );
    }

    /// Issue #9: verify reads both chains back, from the text listing (an nft without JSON
    /// support) and from `nft -j`; a table without the forward chain is not this block, but is
    /// one made before the forward hook was covered.
    #[test]
    fn the_egress_read_back_wants_both_chains() {
        let a = block_in("direction = \"egress\"", Some("prod")).expect("build");
        let mut old = a.clone();
        old.forwarded = false;
        // The text listing, as nft prints this ruleset back.
        let chain = |hook: &str| {
            format!(
                "\tchain {hook} {{\n\t\ttype filter hook {hook} priority filter - 10; policy accept;\n\t\ttcp dport @ports ip daddr @to4 tcp flags syn / fin,syn,rst,ack drop\n\t\ttcp dport @ports ip daddr @to4 reject with tcp reset\n\t}}\n"
            )
        };
        let sets = "table inet breakglass {\n\tset ports {\n\t\ttype inet_service\n\t\telements = { 6443 }\n\t}\n";
        let listed = format!("{sets}{}{}}}\n", chain("output"), chain("forward"));
        let output_only = format!("{sets}{}}}\n", chain("output"));
        let facts = |table: &str| Facts {
            nft: true,
            nft_table: Some(table.to_owned()),
            ..Facts::default()
        };
        a.check_nft_text(&listed, &facts(&listed)).expect("holds");
        assert_eq!(
            a.check_nft_text(&output_only, &facts(&output_only)),
            Err("chain forward is missing".to_owned())
        );
        old.check_nft_text(&output_only, &facts(&output_only))
            .expect("the old block holds");
        assert_eq!(
            old.check_nft_text(&listed, &facts(&listed)),
            Err("chain forward is not one this block makes".to_owned())
        );
        let no_reject = listed.replacen(
            "\t\ttcp dport @ports ip daddr @to4 reject with tcp reset\n\t}\n}",
            "\t}\n}",
            1,
        );
        assert_eq!(
            a.check_nft_text(&no_reject, &facts(&no_reject)),
            Err("chain forward lacks its drop or reject rule".to_owned())
        );
        // An ingress block of the same ports does not hold there, nor the egress one on an
        // ingress table.
        let ingress = block("allow = [\"192.0.2.0/24\"]");
        assert!(ingress.check_nft_text(&listed, &facts(&listed)).is_err());
        let input = listed.replace("hook output", "hook input");
        assert_eq!(
            a.check_nft_text(&input, &facts(&input)),
            Err("chain output is not the expected hook".to_owned())
        );

        // The JSON read-back: both chains, every set element by element (the empty to6
        // included), each chain's rules.
        let rules = |chain: &str, lo: bool| {
            let mut r = Vec::new();
            if lo {
                r.push(format!(r#"{{"rule":{{"chain":"{chain}","expr":[]}}}}"#));
            }
            for expr in [
                "[]",
                "[]",
                r#"[{"drop":null}]"#,
                r#"[{"drop":null}]"#,
                "[]",
                r#"[{"reject":{}}]"#,
                r#"[{"reject":{}}]"#,
            ] {
                r.push(format!(r#"{{"rule":{{"chain":"{chain}","expr":{expr}}}}}"#));
            }
            r.join(",")
        };
        let objects = r#"{"set":{"name":"ports","elem":[6443]}},
            {"set":{"name":"allow4","elem":[{"prefix":{"addr":"127.0.0.0","len":8}}]}},
            {"set":{"name":"allow6","elem":["::1"]}},
            {"set":{"name":"to4","elem":[{"prefix":{"addr":"10.0.0.10","len":31}}]}},
            {"set":{"name":"to6"}},
            {"chain":{"name":"output","hook":"output","prio":-10,"policy":"accept"}}"#;
        let forward =
            r#"{"chain":{"name":"forward","hook":"forward","prio":-10,"policy":"accept"}}"#;
        let parse = |text: String| -> Value { serde_json::from_str(&text).expect("json") };
        let json = parse(format!(
            r#"{{"nftables":[{objects},{forward},{},{}]}}"#,
            rules("output", true),
            rules("forward", false)
        ));
        a.check_nft(&json).expect("matches");
        let mut wrong = json.clone();
        wrong["nftables"][3]["set"]["elem"][0]["prefix"]["len"] = 32.into();
        assert_eq!(
            a.check_nft(&wrong),
            Err("set to4 does not hold the destinations".to_owned())
        );
        assert!(
            ingress.check_nft(&json).is_err(),
            "an egress table is no ingress block"
        );
        // Without the forward chain: not this block, but the one an older run applied.
        let old_json = parse(format!(
            r#"{{"nftables":[{objects},{}]}}"#,
            rules("output", true)
        ));
        assert_eq!(
            a.check_nft(&old_json),
            Err("chain forward is missing".to_owned())
        );
        old.check_nft(&old_json).expect("the old block matches");
        assert_eq!(
            old.check_nft(&json),
            Err("chain forward is not one this block makes".to_owned())
        );
        // The forward chain with a rule missing.
        let mut short = json.clone();
        short["nftables"].as_array_mut().expect("array").pop();
        assert_eq!(
            a.check_nft(&short),
            Err("chain forward has 6 rules, not 7".to_owned())
        );
    }

    #[test]
    fn egress_destinations_come_from_to_or_the_inventory() {
        // node_api_endpoints first (the endpoints as the nodes reach them), with their ports.
        let a = block_in("direction = \"egress\"", Some("eks")).expect("build");
        assert_eq!(a.ports, vec![443, 8443]);
        assert!(
            a.plan("w1").starts_with(
                "block outgoing tcp/443,8443 to 10.0.12.0/24, 10.0.44.7/32, fd00:12::/64 \
                 (cluster eks's node_api_endpoints) except"
            ),
            "{}",
            a.plan("w1")
        );
        assert_eq!(
            a.ss_filter(),
            "( dport = :443 or dport = :8443 ) and ( dst 10.0.12.0/24 or dst 10.0.44.7/32 or \
             dst [fd00:12::/64] ) and not ( dst 127.0.0.0/8 or dst [::1/128] )"
        );
        // `ports` narrows the inventory's; `to` replaces it; `allow` keeps one destination.
        let a = block_in("direction = \"egress\"\nports = [443]", Some("eks")).expect("build");
        assert_eq!(a.ports, vec![443]);
        let a = block_in(
            "direction = \"egress\"\nto = [\"10.0.0.0/24\"]\nports = [6443]\nallow = [\"10.0.0.11\"]",
            Some("eks"),
        )
        .expect("build");
        assert!(
            a.plan("w1").starts_with(
                "block outgoing tcp/6443 to 10.0.0.0/24 (from `to`) except 10.0.0.11/32, 127.0.0.0/8;"
            ),
            "{}",
            a.plan("w1")
        );
        assert!(
            a.nft_ruleset()
                .contains("elements = { 10.0.0.11/32, 127.0.0.0/8 }")
        );
        // Nowhere to take them from: refused when the plan is built.
        let err = block_in("direction = \"egress\"", None)
            .err()
            .expect("no cluster")
            .to_string();
        assert!(
            err.contains("the runbook has no `cluster` parameter"),
            "{err}"
        );
        let err = block_in("direction = \"egress\"", Some("bare"))
            .err()
            .expect("no endpoints")
            .to_string();
        assert!(
            err.contains(
                "cluster 'bare' in the inventory lists neither node_api_endpoints nor api_endpoints"
            ),
            "{err}"
        );
    }

    #[test]
    fn the_text_listing_is_checked_without_json_support() {
        let a = block("ports = [6443, 10250]\nallow = [\"192.0.2.0/24\"]");
        let table = "table inet breakglass {\n\tset ports {\n\t\ttype inet_service\n\t\telements = { 6443,\n\t\t\t     10250 }\n\t}\n\n\tset allow6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t\telements = { ::1 }\n\t}\n\n\tchain input {\n\t\ttype filter hook input priority filter - 10; policy accept;\n\t\tiif \"lo\" tcp dport @ports accept\n\t\ttcp dport @ports tcp flags syn / fin,syn,rst,ack drop\n\t\ttcp dport @ports tcp flags & rst == rst accept\n\t\ttcp dport @ports reject with tcp reset\n\t}\n}\n";
        let facts = Facts {
            nft: true,
            nft_table: Some(table.to_owned()),
            ..Facts::default()
        };
        assert_eq!(facts.nft_ports(), Some(BTreeSet::from([6443, 10250])));
        a.check_nft_text(table, &facts).expect("holds");
        let b = block("ports = [6443]\nallow = [\"192.0.2.0/24\"]");
        assert!(b.check_nft_text(table, &facts).is_err());
        assert_eq!(
            text_set_elements(table, "allow6"),
            Some(vec!["::1".to_owned()])
        );
        assert_eq!(text_set_elements(table, "nosuch"), None);
    }
    #[test]
    fn nft_read_back_is_checked_element_by_element() {
        let a = block("allow = [\"192.0.2.0/24\"]");
        let json: Value = serde_json::from_str(
            r#"{"nftables":[{"set":{"name":"ports","elem":[6443]}},
            {"set":{"name":"allow4","elem":[{"prefix":{"addr":"127.0.0.0","len":8}},{"range":["192.0.2.0","192.0.2.255"]}]}},
            {"set":{"name":"allow6","elem":["::1"]}},
            {"chain":{"name":"input","hook":"input","prio":-10,"policy":"accept"}},
            {"rule":{"chain":"input","expr":[]}},{"rule":{"chain":"input","expr":[]}},
            {"rule":{"chain":"input","expr":[]}},{"rule":{"chain":"input","expr":[{"drop":null}]}},
            {"rule":{"chain":"input","expr":[]}},{"rule":{"chain":"input","expr":[{"reject":{}}]}}]}"#,
        )
        .expect("json");
        a.check_nft(&json).expect("matches");
        let mut wrong = json.clone();
        wrong["nftables"][1]["set"]["elem"][1]["range"][1] = "192.0.3.0".into();
        assert!(a.check_nft(&wrong).expect_err("differs").contains("allow4"));
    }
}
