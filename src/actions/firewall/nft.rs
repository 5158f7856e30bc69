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

use super::FirewallBlockAction;
use super::facts::Facts;

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

impl FirewallBlockAction {
    /// The nft ruleset `apply` loads (one `nft -f` transaction).
    pub fn nft_ruleset(&self) -> String {
        let join = |v: Vec<String>| v.join(", ");
        let mut s = String::new();
        let _ = writeln!(s, "table inet breakglass {{}}");
        let _ = writeln!(s, "delete table inet breakglass");
        let _ = writeln!(s, "table inet breakglass {{");
        let _ = writeln!(
            s,
            "\tset ports {{\n\t\ttype inet_service\n\t\telements = {{ {} }}\n\t}}",
            self.ports_text(", ")
        );
        let _ = writeln!(
            s,
            "\tset allow4 {{\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = {{ {} }}\n\t}}",
            join(self.allow4.iter().map(ToString::to_string).collect())
        );
        let _ = writeln!(
            s,
            "\tset allow6 {{\n\t\ttype ipv6_addr\n\t\tflags interval\n\t\telements = {{ {} }}\n\t}}",
            join(self.allow6.iter().map(ToString::to_string).collect())
        );
        let _ = writeln!(s, "\tchain input {{");
        // Before the usual filter chains (priority 0), after conntrack (-200).
        let _ = writeln!(
            s,
            "\t\ttype filter hook input priority filter - 10; policy accept;"
        );
        let _ = writeln!(s, "\t\tiif \"lo\" tcp dport @ports accept");
        let _ = writeln!(s, "\t\ttcp dport @ports ip saddr @allow4 accept");
        let _ = writeln!(s, "\t\ttcp dport @ports ip6 saddr @allow6 accept");
        let _ = writeln!(
            s,
            "\t\ttcp dport @ports tcp flags & (fin | syn | rst | ack) == syn drop"
        );
        if self.args.cut_established {
            let _ = writeln!(s, "\t\ttcp dport @ports tcp flags & rst == rst accept");
            let _ = writeln!(s, "\t\ttcp dport @ports reject with tcp reset");
        }
        let _ = writeln!(s, "\t}}\n}}");
        s
    }

    pub(super) fn check_nft(&self, json: &Value) -> Result<(), String> {
        let chain = nft_objects(json, "chain")
            .find(|c| c["name"] == "input")
            .ok_or("chain input is missing")?;
        if chain["hook"] != "input" || chain["prio"] != -10 || chain["policy"] != "accept" {
            return Err(format!("chain input is not the expected hook: {chain}"));
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
        let want: BTreeSet<u64> = self.args.ports.iter().map(|p| u64::from(*p)).collect();
        if ports != want {
            return Err(format!("set ports holds {ports:?}, not {want:?}"));
        }
        let want4: Vec<(u128, u128)> = self
            .allow4
            .iter()
            .map(|n| {
                (
                    u128::from(u32::from(n.network())),
                    u128::from(u32::from(n.broadcast())),
                )
            })
            .collect();
        let want6: Vec<(u128, u128)> = self
            .allow6
            .iter()
            .map(|n| (u128::from(n.network()), u128::from(n.broadcast())))
            .collect();
        for (name, want) in [("allow4", want4), ("allow6", want6)] {
            let got = elem_intervals(&set(name)?["elem"])
                .ok_or_else(|| format!("set {name} holds elements this build cannot read"))?;
            if merge(got) != merge(want) {
                return Err(format!("set {name} does not hold the allowlist"));
            }
        }
        let rules: Vec<&Value> = nft_objects(json, "rule").collect();
        let expected = if self.args.cut_established { 6 } else { 4 };
        if rules.len() != expected {
            return Err(format!(
                "chain input has {} rules, not {expected}",
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
            return Err("chain input lacks its drop or reject rule".into());
        }
        Ok(())
    }

    /// The read-back without `nft -j`: the hook line, the ports and the verdicts.
    pub(super) fn check_nft_text(&self, text: &str, facts: &Facts) -> Result<(), String> {
        if !text.contains("type filter hook input priority filter - 10; policy accept;")
            && !text.contains("type filter hook input priority -10; policy accept;")
        {
            return Err("chain input is not the expected hook".into());
        }
        let want: BTreeSet<u16> = self.args.ports.iter().copied().collect();
        if facts.nft_ports() != Some(want) {
            return Err("set ports does not hold the ports".into());
        }
        let has = |verdict: &str| {
            text.lines()
                .any(|l| l.contains("tcp dport @ports") && l.trim_end().ends_with(verdict))
        };
        if !has(" drop") || (self.args.cut_established && !has("reject with tcp reset")) {
            return Err("chain input lacks its drop or reject rule".into());
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
    use crate::actions::firewall::tests::block;

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
            "block tcp/6443 except 192.0.2.0/24, 192.0.2.7/32, 127.0.0.0/8 (+2 peers from \"role=control-plane\"); cut established; auto-revert in 20m unless confirmed"
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
            {"rule":{"expr":[]}},{"rule":{"expr":[]}},{"rule":{"expr":[]}},{"rule":{"expr":[{"drop":null}]}},
            {"rule":{"expr":[]}},{"rule":{"expr":[{"reject":{}}]}}]}"#,
        )
        .expect("json");
        a.check_nft(&json).expect("matches");
        let mut wrong = json.clone();
        wrong["nftables"][1]["set"]["elem"][1]["range"][1] = "192.0.3.0".into();
        assert!(a.check_nft(&wrong).expect_err("differs").contains("allow4"));
    }
}
