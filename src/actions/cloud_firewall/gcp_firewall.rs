//! The API servers' VPC firewall on GCP: a block inserts an allow rule for `allow` and the
//! peers at the lever's priority and a deny rule for everyone else at the next one, both
//! targeting the API servers (`target_tags` or `target_service_accounts`) on the API's ports
//! (`rules.rs`); each insert and delete is followed through its Operation until DONE. GCP's
//! firewall is stateful: connections it already tracks stay open, which the preflight says.

use std::time::Duration;

use super::rules::{self, LeverRule, ports_cover};
use super::{Block, Change, Marked, Now, Snapshot};
use crate::actions::cloud::gcp_call;
use crate::actions::context::Context;
use crate::actions::contract::{ActionFailure, Applied, Preflight};
use crate::inventory::RuleLever;
use crate::transport::cloud::gcp::firewall::FirewallRule;
use crate::transport::cloud::gcp::{Gcp, GcpError};

/// Google's load balancer health checks
/// (<https://cloud.google.com/load-balancing/docs/health-check-concepts#ip-ranges>).
const HEALTH_CHECKS: [&str; 2] = ["35.191.0.0/16", "130.211.0.0/22"];

impl LeverRule for FirewallRule {
    fn name(&self) -> &str {
        &self.name
    }
    fn description(&self) -> &str {
        &self.description
    }
    fn priority(&self) -> u32 {
        self.priority
    }
    fn allows(&self) -> bool {
        self.allow
    }
    fn sources(&self) -> &[String] {
        &self.source_ranges
    }
    fn opens(&self, port: u16) -> bool {
        matches!(self.protocol.as_str(), "tcp" | "all" | "6") && ports_cover(&self.ports, port)
    }
}

/// Whether a rule reaches the API servers the lever names (a rule without targets reaches
/// every instance of the network).
fn reaches(r: &FirewallRule, lever: &RuleLever) -> bool {
    !r.disabled
        && ((r.target_tags.is_empty() && r.target_service_accounts.is_empty())
            || r.target_tags.iter().any(|t| lever.target_tags.contains(t))
            || r.target_service_accounts
                .iter()
                .any(|a| lever.target_service_accounts.contains(a)))
}

fn rules_of(m: &Marked) -> &[FirewallRule] {
    match &m.change {
        Change::GcpRules { rules } => rules,
        _ => &[],
    }
}

/// A block's snapshot: the network's ingress rules now, and the two rules the block adds.
pub(super) fn snapshot_block(
    gcp: &Gcp,
    lever: &RuleLever,
    b: &Block,
    marker: &str,
) -> Result<Snapshot, ActionFailure> {
    let now = gcp_call(gcp.list_firewalls(&lever.name), false)?;
    let ports: Vec<String> = b.ports.iter().map(ToString::to_string).collect();
    let planned = rules::planned(
        b,
        lever.priority,
        marker,
        |name, priority, allow, sources, description| FirewallRule {
            name,
            network: lever.name.clone(),
            priority,
            allow,
            protocol: "tcp".into(),
            ports: ports.clone(),
            source_ranges: sources,
            target_tags: lever.target_tags.clone(),
            target_service_accounts: lever.target_service_accounts.clone(),
            description,
            disabled: false,
        },
    );
    Ok(Snapshot {
        now: Some(Now::GcpFirewall { rules: now }),
        changes: vec![Marked {
            marker: marker.to_owned(),
            change: Change::GcpRules { rules: planned },
        }],
        ..Snapshot::default()
    })
}

/// An unblock's snapshot: the network's rules now and the blocks' rules among them.
pub(super) fn snapshot_markers(gcp: &Gcp, lever: &RuleLever) -> Result<Snapshot, ActionFailure> {
    let now = gcp_call(gcp.list_firewalls(&lever.name), false)?;
    Ok(Snapshot {
        changes: rules::markers(&now, |rules| Change::GcpRules { rules }),
        now: Some(Now::GcpFirewall { rules: now }),
        ..Snapshot::default()
    })
}

pub(super) fn preflight(
    b: &Block,
    lever: &RuleLever,
    now: &[FirewallRule],
    changes: &[Marked],
) -> Preflight {
    let ours: Vec<&str> = changes
        .iter()
        .flat_map(|m| rules_of(m).iter().map(|r| r.name.as_str()))
        .collect();
    let existing: Vec<FirewallRule> = now
        .iter()
        .filter(|r| !ours.contains(&r.name.as_str()) && reaches(r, lever))
        .cloned()
        .collect();
    let mut p = rules::preflight(b, &existing, lever.priority, "VPC firewall rule");
    if b.allow
        .iter()
        .chain(&b.peers)
        .any(|n| matches!(n, ipnet::IpNet::V6(_)))
    {
        p.refusals.push(
            "`allow` or apiserver_peers has an IPv6 range: a VPC firewall rule takes one address \
             family, and the block's rules are IPv4; list IPv4 ranges"
                .into(),
        );
    }
    let keep: Vec<ipnet::IpNet> = b.allow.iter().chain(&b.peers).copied().collect();
    let checks: Vec<&str> = HEALTH_CHECKS
        .iter()
        .filter(|h| {
            h.parse::<ipnet::IpNet>()
                .is_ok_and(|h| !keep.iter().any(|k| k.contains(&h)))
        })
        .copied()
        .collect();
    if !checks.is_empty() {
        p.notes.push(format!(
            "Google's load balancer health checks ({}) are denied too: if the API sits behind a \
             Google load balancer, add them to apiserver_peers",
            checks.join(", ")
        ));
    }
    p.notes.push(
        "VPC firewall rules are stateful: connections already open (kubelets' and DaemonSets' \
         watches) stay until they close; `firewall.block` on the API servers (cut_established) \
         cuts them"
            .into(),
    );
    p
}

fn exists(e: &GcpError) -> bool {
    matches!(e, GcpError::Api { code: 409, .. })
}

/// The calls that hold a VPC network's rules (an insert that finds its rule made already, by
/// an earlier attempt's Operation, is done).
fn calls<'a>(gcp: &'a Gcp, lever: &'a RuleLever) -> rules::Calls<'a, FirewallRule> {
    rules::Calls {
        present: Box::new(move |r: &FirewallRule, ()| {
            Ok(gcp_call(gcp.get_firewall(&r.name), false)?.is_some())
        }),
        make: Box::new(move |r: &FirewallRule, until| {
            match crate::actions::api::call(gcp.insert_firewall(r, until))? {
                Err(e) if exists(&e) => Ok(true),
                other => gcp_call(async { other }, true),
            }
        }),
        remove: Box::new(move |r: &FirewallRule, until| {
            gcp_call(gcp.delete_firewall(&r.name, until), true)
        }),
        read: Box::new(move || {
            Ok((
                gcp_call(gcp.list_firewalls(&lever.name), false)?,
                Vec::new(),
            ))
        }),
    }
}

/// Makes (or removes) the rules of the changes.
pub(super) fn apply(
    gcp: &Gcp,
    lever: &RuleLever,
    changes: &[Marked],
    forward: bool,
    wait: Duration,
) -> Result<Applied, ActionFailure> {
    let subject = format!("VPC network {}", lever.name);
    rules::apply(
        changes,
        rules_of,
        forward,
        wait,
        &subject,
        &calls(gcp, lever),
    )
}

/// Reads the network's rules back until the changes hold.
pub(super) fn verify(
    cx: &dyn Context,
    gcp: &Gcp,
    lever: &RuleLever,
    changes: &[Marked],
    forward: bool,
    wait: Duration,
) -> Result<(), ActionFailure> {
    let subject = format!("VPC network {}", lever.name);
    rules::verify(
        cx,
        changes,
        rules_of,
        forward,
        wait,
        &subject,
        &calls(gcp, lever),
    )
}
