//! The API servers' network security group on Azure: a block puts an allow rule for `allow`
//! and the peers at the lever's priority and a deny rule for everyone else at the next one, on
//! the API's ports (`rules.rs`), each followed through `Azure-AsyncOperation` until it
//! succeeds. Azure refuses two inbound rules at one priority, so a priority taken by another
//! rule is refused before anything changes; the NSG's `flushConnection` says whether flows it
//! already tracks are cut, which the preflight reports.

use std::time::Duration;

use super::rules::{self, LeverRule, ports_cover};
use super::{Block, Change, Marked, Now, Snapshot};
use crate::actions::cloud::azure_call;
use crate::actions::context::Context;
use crate::actions::contract::{ActionFailure, Applied, Preflight};
use crate::inventory::RuleLever;
use crate::transport::cloud::azure::Azure;
use crate::transport::cloud::azure::network::{Nsg, NsgRule};

impl LeverRule for NsgRule {
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
        &self.sources
    }
    fn opens(&self, port: u16) -> bool {
        matches!(self.protocol.as_str(), "Tcp" | "*") && ports_cover(&self.ports, port)
    }
}

fn rules_of(m: &Marked) -> &[NsgRule] {
    match &m.change {
        Change::NsgRules { rules } => rules,
        _ => &[],
    }
}

fn get(azure: &Azure, lever: &RuleLever) -> Result<Nsg, ActionFailure> {
    azure_call(azure.get_nsg(&lever.resource_group, &lever.name), false)?.ok_or_else(|| {
        ActionFailure::refused(format!(
            "network security group {}/{} does not exist in subscription {} (check \
             apiserver_nsg in [clusters.{}.azure] of the inventory)",
            lever.resource_group,
            lever.name,
            azure.subscription(),
            azure.cluster()
        ))
    })
}

/// A block's snapshot: the group's inbound rules now, and the two rules the block puts.
pub(super) fn snapshot_block(
    azure: &Azure,
    lever: &RuleLever,
    b: &Block,
    marker: &str,
) -> Result<Snapshot, ActionFailure> {
    let nsg = get(azure, lever)?;
    let ports: Vec<String> = b.ports.iter().map(ToString::to_string).collect();
    let planned = rules::planned(
        b,
        lever.priority,
        marker,
        |name, priority, allow, sources, description| NsgRule {
            name,
            priority,
            allow,
            protocol: "Tcp".into(),
            sources: if allow { sources } else { vec!["*".into()] },
            ports: ports.clone(),
            description,
        },
    );
    Ok(Snapshot {
        now: Some(Now::Nsg {
            rules: nsg.rules,
            flush_connection: nsg.flush_connection,
        }),
        changes: vec![Marked {
            marker: marker.to_owned(),
            change: Change::NsgRules { rules: planned },
        }],
        ..Snapshot::default()
    })
}

/// An unblock's snapshot: the group's rules now and the blocks' rules among them.
pub(super) fn snapshot_markers(
    azure: &Azure,
    lever: &RuleLever,
) -> Result<Snapshot, ActionFailure> {
    let nsg = get(azure, lever)?;
    Ok(Snapshot {
        changes: rules::markers(&nsg.rules, |rules| Change::NsgRules { rules }),
        now: Some(Now::Nsg {
            rules: nsg.rules,
            flush_connection: nsg.flush_connection,
        }),
        ..Snapshot::default()
    })
}

pub(super) fn preflight(
    b: &Block,
    lever: &RuleLever,
    now: &[NsgRule],
    flush_connection: bool,
    changes: &[Marked],
) -> Preflight {
    let ours: Vec<&str> = changes
        .iter()
        .flat_map(|m| rules_of(m).iter().map(|r| r.name.as_str()))
        .collect();
    let existing: Vec<NsgRule> = now
        .iter()
        .filter(|r| !ours.contains(&r.name.as_str()))
        .cloned()
        .collect();
    let mut p = rules::preflight(b, &existing, lever.priority, "NSG rule");
    // A rule's description holds at most 140 characters
    // (https://learn.microsoft.com/rest/api/virtualnetwork/security-rules/create-or-update).
    if let Some(r) = changes
        .iter()
        .flat_map(|m| rules_of(m).iter())
        .find(|r| r.description.len() > 140)
    {
        p.refusals.push(format!(
            "the description that marks rule {} would be {} characters, and Azure takes 140: \
             give the step a shorter id",
            r.name,
            r.description.len()
        ));
    }
    for r in existing
        .iter()
        .filter(|r| r.priority == lever.priority || r.priority == lever.priority + 1)
    {
        p.refusals.push(format!(
            "NSG rule {} already has priority {}, which the block's rules need (Azure takes one \
             inbound rule per priority): set another `priority` on apiserver_nsg in the inventory",
            r.name, r.priority
        ));
    }
    // Azure's health probes come from 168.63.129.16
    // (https://learn.microsoft.com/azure/virtual-network/what-is-ip-address-168-63-129-16).
    let probe: ipnet::IpNet = ipnet::IpNet::from(std::net::IpAddr::from([168, 63, 129, 16]));
    if !b.peers.iter().chain(&b.allow).any(|k| k.contains(&probe)) {
        p.notes.push(
            "the deny covers Azure Load Balancer health probes (from 168.63.129.16) too: if the \
             API sits behind an Azure load balancer, add 168.63.129.16 to apiserver_peers"
                .into(),
        );
    }
    p.notes.push(if flush_connection {
        "the group re-evaluates open flows on a rule change (flushConnection): established \
         connections to the API are cut too"
            .into()
    } else {
        "the group keeps flows it already tracks (flushConnection is off): kubelets' and \
         DaemonSets' open watches stay until they close; `firewall.block` on the API servers \
         (cut_established) cuts them"
            .into()
    });
    p
}

/// The calls that hold the group's rules.
fn calls<'a>(azure: &'a Azure, lever: &'a RuleLever) -> rules::Calls<'a, NsgRule> {
    let (rg, name) = (&lever.resource_group, &lever.name);
    rules::Calls {
        present: Box::new(move |r: &NsgRule, ()| {
            let nsg = get(azure, lever)?;
            Ok(nsg.rules.iter().any(|x| x == r) && !nsg.updating.contains(&r.name))
        }),
        make: Box::new(move |r: &NsgRule, until| {
            azure_call(azure.put_nsg_rule(rg, name, r, until), true)
        }),
        remove: Box::new(move |r: &NsgRule, until| {
            azure_call(azure.delete_nsg_rule(rg, name, &r.name, until), true)
        }),
        read: Box::new(move || {
            let nsg = get(azure, lever)?;
            Ok((nsg.rules, nsg.updating))
        }),
    }
}

fn subject(lever: &RuleLever) -> String {
    format!(
        "network security group {}/{}",
        lever.resource_group, lever.name
    )
}

/// Puts (or deletes) the rules of the changes.
pub(super) fn apply(
    azure: &Azure,
    lever: &RuleLever,
    changes: &[Marked],
    forward: bool,
    wait: Duration,
) -> Result<Applied, ActionFailure> {
    rules::apply(
        changes,
        rules_of,
        forward,
        wait,
        &subject(lever),
        &calls(azure, lever),
    )
}

/// Reads the group back until the changes hold and every rule is provisioned.
pub(super) fn verify(
    cx: &dyn Context,
    azure: &Azure,
    lever: &RuleLever,
    changes: &[Marked],
    forward: bool,
    wait: Duration,
) -> Result<(), ActionFailure> {
    rules::verify(
        cx,
        changes,
        rules_of,
        forward,
        wait,
        &subject(lever),
        &calls(azure, lever),
    )
}
