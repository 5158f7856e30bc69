//! The pure part of a cloud firewall block: which rules go, which come, and when it refuses.

use ipnet::IpNet;

use super::Block;
use super::eks_endpoint;
use super::security_group;
use crate::transport::cloud::aws::ec2::{IngressRule, RuleSource};
use crate::transport::cloud::aws::eks::EndpointAccess;

fn net(s: &str) -> IpNet {
    s.parse().expect("cidr")
}

fn block(allow: &[&str], operator: &[&str], peers: &[&str]) -> Block {
    Block {
        allow: allow.iter().map(|a| net(a)).collect(),
        ports: vec![443, 6443],
        source_groups: vec!["sg-nodes".into()],
        peers: peers.iter().map(|a| net(a)).collect(),
        operator: operator.iter().map(|a| net(a)).collect(),
        description: "breakglass r/s".into(),
    }
}

fn rule(proto: &str, from: i32, to: i32, source: RuleSource) -> IngressRule {
    IngressRule {
        protocol: proto.into(),
        from,
        to,
        source,
        description: None,
    }
}

fn group() -> Vec<IngressRule> {
    vec![
        rule("tcp", 6443, 6443, RuleSource::Cidr(net("0.0.0.0/0"))),
        rule("tcp", 443, 443, RuleSource::Cidr(net("0.0.0.0/0"))),
        rule("tcp", 6443, 6443, RuleSource::Cidr(net("10.0.0.0/24"))),
        rule("tcp", 6443, 6443, RuleSource::Group("sg-nodes".into())),
        rule("tcp", 6443, 6443, RuleSource::Group("sg-lb".into())),
        rule("tcp", 22, 22, RuleSource::Cidr(net("0.0.0.0/0"))),
    ]
}

#[test]
fn a_block_revokes_the_world_and_named_groups_and_allows_the_break_glass_range() {
    let mut rules = group();
    rules.push(rule("tcp", 443, 443, RuleSource::Cidr(net("10.0.0.0/24"))));
    let p = security_group::plan(
        &block(&["203.0.113.0/24"], &["203.0.113.7/32"], &["10.0.0.0/24"]),
        &rules,
    );
    let shown: Vec<String> = p.revoke.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "tcp 6443 from 0.0.0.0/0",
            "tcp 443 from 0.0.0.0/0",
            "tcp 6443 from group sg-nodes"
        ]
    );
    let added: Vec<String> = p.add.iter().map(ToString::to_string).collect();
    assert_eq!(
        added,
        [
            "tcp 443 from 203.0.113.0/24",
            "tcp 6443 from 203.0.113.0/24"
        ]
    );
    assert!(p.preflight.refusals.is_empty(), "{:?}", p.preflight);
    assert!(
        p.preflight
            .notes
            .iter()
            .any(|n| n.contains("group sg-lb stay")),
        "{:?}",
        p.preflight.notes
    );
}

#[test]
fn a_block_that_cuts_the_operator_a_peer_or_other_ports_is_refused() {
    // The operator outside allow.
    let p = security_group::plan(
        &block(&["203.0.113.0/24"], &["198.51.100.9/32"], &[]),
        &group(),
    );
    assert!(
        p.preflight.refusals[0]
            .contains("would cut the operator's address 198.51.100.9/32 from TCP 443, 6443"),
        "{:?}",
        p.preflight.refusals
    );
    // A peer only the world rule covered (it reaches 443 through 0.0.0.0/0 alone).
    let p = security_group::plan(&block(&["203.0.113.0/24"], &[], &["10.0.0.0/24"]), &group());
    assert!(
        p.preflight
            .refusals
            .iter()
            .any(|r| r.contains("control-plane peer 10.0.0.0/24 from TCP 443")),
        "{:?}",
        p.preflight.refusals
    );
    // A rule wider than the API ports.
    let mut wide = group();
    wide.push(rule("-1", -1, -1, RuleSource::Cidr(net("198.51.100.0/24"))));
    let p = security_group::plan(&block(&["203.0.113.0/24"], &[], &["10.0.0.0/24"]), &wide);
    assert!(
        p.preflight
            .refusals
            .iter()
            .any(|r| r
                .contains("`all traffic from 198.51.100.0/24` opens more than the API's ports")),
        "{:?}",
        p.preflight.refusals
    );
    let p = security_group::plan(&block(&[], &[], &[]), &group());
    assert!(
        p.preflight
            .refusals
            .iter()
            .any(|r| r.contains("`allow` is empty"))
    );
}

#[test]
fn an_eks_block_says_when_it_cannot_stop_the_nodes() {
    let now = EndpointAccess {
        public: true,
        private: true,
        public_cidrs: vec!["0.0.0.0/0".into()],
    };
    let (after, p) =
        eks_endpoint::plan(&block(&["203.0.113.0/24"], &["203.0.113.7/32"], &[]), &now);
    assert_eq!(after.public_cidrs, ["203.0.113.0/24"]);
    assert!(p.refusals.is_empty());
    assert!(
        p.notes
            .iter()
            .any(|n| n.starts_with("this cannot stop node traffic")),
        "{:?}",
        p.notes
    );
    let (_, p) = eks_endpoint::plan(&block(&["203.0.113.0/24"], &["192.0.2.1/32"], &[]), &now);
    assert!(p.refusals[0].contains("cut the operator's address 192.0.2.1/32"));
}
