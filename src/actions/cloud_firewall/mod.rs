//! `cloud.firewall.block` and `cloud.firewall.unblock`: the admin API cut off at the cloud, one
//! target per lever the inventory names:
//!
//! - AWS: the API servers' security group (`security_group.rs`: exact ingress rules revoked
//!   and added) and an EKS cluster's public endpoint (`eks_endpoint.rs`: `publicAccessCidrs`);
//! - GCP: the API servers' VPC firewall (`gcp_firewall.rs`) and a GKE cluster's authorized
//!   networks (`gke_endpoint.rs`);
//! - Azure: the API servers' network security group (`nsg.rs`) and an AKS cluster's authorized
//!   IP ranges (`aks_endpoint.rs`). The two rule levers share `rules.rs`: an allow rule for
//!   the break-glass ranges, then a deny for everyone else at the next priority.
//!
//! - **snapshot** (block): the resource's state now (ingress rules, endpoint access, firewall
//!   rules, authorized ranges) and the exact change worked out from it. If the resource
//!   carries this run-and-step's marker (tags, labels, or the block's own rules), an earlier
//!   attempt already changed it: the change is the marker's, and the state before is rebuilt
//!   from it;
//! - **preflight** (block): refused when the change would cut the operator's address or a
//!   required peer, or revoke a rule that opens more than the API's ports; notes what it cannot
//!   do (stop nodes behind an EKS private endpoint, a GKE cluster's or AKS's own nodes; cut
//!   tracked connections). `plan` shows it, `run` refuses to start on it, `apply` refuses again;
//! - **apply**: the marker first (the change, so `resume` and `unblock` know it without the
//!   journal), then the change, each asynchronous operation followed to its end (or to the
//!   step's `wait`: then the target is `pending`). A revoke that matches no rule is a failure:
//!   the group changed since the snapshot;
//! - **verify**: reads the resource back: the change holds;
//! - **inverse** (block): exactly the change reversed, the marker removed.
//!   `cloud.firewall.unblock` does the same for every marker it finds, whichever run left it;
//!   its inverse blocks again.

mod aks_endpoint;
mod eks_endpoint;
mod gcp_firewall;
mod gke_endpoint;
mod nsg;
mod rules;
mod security_group;

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::BuildContext;
use super::args::{CloudFirewallBlock, CloudFirewallOn, CloudFirewallUnblock};
use super::context::{CloudResource, Context, Target, TargetKind};
use super::contract::{Action, ActionFailure, Applied, Preflight};
use crate::transport::cloud::aws::ec2::IngressRule;
use crate::transport::cloud::aws::eks::EndpointAccess;
use crate::transport::cloud::azure::network::NsgRule;
use crate::transport::cloud::gcp::firewall::{AuthorizedNetworks, FirewallRule};

/// The tags of every block start with this, then `RUN/STEP/N`.
const MARKER_FAMILY: &str = "breakglass/block/";

/// What a block changes on one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "on")]
pub enum Change {
    SecurityGroup {
        revoke: Vec<IngressRule>,
        add: Vec<IngressRule>,
    },
    EksEndpoint {
        before: EndpointAccess,
        after: EndpointAccess,
    },
    /// The VPC firewall rules a block adds (allow first).
    GcpRules { rules: Vec<FirewallRule> },
    GkeEndpoint {
        before: AuthorizedNetworks,
        after: AuthorizedNetworks,
    },
    /// The NSG rules a block adds (allow first).
    NsgRules { rules: Vec<NsgRule> },
    AksEndpoint {
        before: Vec<String>,
        after: Vec<String>,
    },
}

/// The state of a GCP or Azure lever before the step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "lever")]
enum Now {
    GcpFirewall {
        rules: Vec<FirewallRule>,
    },
    Gke {
        access: AuthorizedNetworks,
        private_nodes: bool,
    },
    Nsg {
        rules: Vec<NsgRule>,
        flush_connection: bool,
    },
    Aks {
        ranges: Vec<String>,
        private: bool,
    },
}

/// A change and the marker tags that remember it on the resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marked {
    pub marker: String,
    pub change: Change,
}

/// The journaled state of one resource before the step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Snapshot {
    /// The group's ingress rules before the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rules: Option<Vec<IngressRule>>,
    /// The cluster's endpoint access before the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access: Option<EndpointAccess>,
    /// A GCP or Azure lever's state before the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    now: Option<Now>,
    /// What the step changes (a block) or restores (an unblock), oldest first.
    changes: Vec<Marked>,
}

/// What a block keeps and cuts.
#[derive(Debug, Clone)]
struct Block {
    allow: Vec<IpNet>,
    ports: Vec<u16>,
    source_groups: Vec<String>,
    /// `[clusters.NAME.aws] apiserver_peers`.
    peers: Vec<IpNet>,
    /// `--operator-cidr`, else `operator_cidrs` of the inventory.
    operator: Vec<IpNet>,
    /// The description of the rules the block adds.
    description: String,
}

enum Mode {
    Block(Block),
    Unblock,
    /// The inverse of an unblock: these changes made again.
    Redo(Vec<Marked>),
    /// The inverse of a block: these changes reversed.
    Restore(Vec<Marked>),
}

impl Mode {
    fn forward(&self) -> bool {
        matches!(self, Mode::Block(_) | Mode::Redo(_))
    }
}

pub struct CloudFirewallAction {
    kind: &'static str,
    cluster: String,
    resources: Vec<CloudResource>,
    mode: Mode,
    /// This run and step's marker prefix (`breakglass/block/RUN/STEP`).
    marker: String,
    wait: Duration,
    /// The EKS updates apply started, by target, for verify to follow.
    updates: Mutex<BTreeMap<String, String>>,
}

/// The levers of `cluster` the step pulls: those it names in `on` (each must be in the
/// inventory), else every one the inventory names.
fn resources(
    kind: &str,
    cluster: &str,
    on: Option<&[CloudFirewallOn]>,
    ctx: &BuildContext<'_>,
) -> anyhow::Result<Vec<CloudResource>> {
    let c = ctx
        .inventory
        .clusters
        .get(cluster)
        .ok_or_else(|| anyhow::anyhow!("{kind}: the inventory has no cluster '{cluster}'"))?;
    let (aws, gcp, azure) = (
        c.aws.as_ref(),
        c.gcp.as_ref().map(|g| &g.control),
        c.azure.as_ref().map(|a| &a.control),
    );
    let lever = |on: CloudFirewallOn| -> Option<CloudResource> {
        match on {
            CloudFirewallOn::SecurityGroup => aws?
                .apiserver_security_group
                .as_deref()
                .map(CloudResource::security_group),
            CloudFirewallOn::EksEndpoint => {
                aws?.eks_cluster.as_deref().map(CloudResource::eks_cluster)
            }
            CloudFirewallOn::GcpFirewall => gcp?.firewall.as_ref().map(CloudResource::gcp_firewall),
            CloudFirewallOn::GkeEndpoint => gcp?
                .gke
                .as_ref()
                .map(|(l, n)| CloudResource::gke_cluster(l, n)),
            CloudFirewallOn::Nsg => azure?.nsg.as_ref().map(CloudResource::nsg),
            CloudFirewallOn::AksEndpoint => azure?
                .aks
                .as_ref()
                .map(|(rg, n)| CloudResource::aks_cluster(rg, n)),
        }
    };
    let mut out = Vec::new();
    for l in on.map_or_else(|| CloudFirewallOn::ALL.to_vec(), <[_]>::to_vec) {
        match lever(l) {
            Some(r) => out.push(r),
            None if on.is_some() => anyhow::bail!(
                "{kind}: `on` names {}, but the inventory has no [clusters.{cluster}.{}",
                l.name(),
                l.key()
            ),
            None => {}
        }
    }
    if out.is_empty() {
        anyhow::bail!(
            "{kind}: cluster '{cluster}' in the inventory names nothing to firewall; add \
             [clusters.{cluster}.aws] apiserver_security_group or eks_cluster, \
             [clusters.{cluster}.gcp] apiserver_firewall or gke_cluster, or \
             [clusters.{cluster}.azure] apiserver_nsg or aks_cluster"
        );
    }
    Ok(out)
}

fn cluster_of<'a>(
    kind: &str,
    own: Option<&'a str>,
    ctx: &BuildContext<'a>,
) -> anyhow::Result<&'a str> {
    own.or(ctx.cluster).ok_or_else(|| {
        anyhow::anyhow!(
            "{kind} has no `cluster`, and the runbook has no `cluster` parameter to take it from"
        )
    })
}

impl CloudFirewallAction {
    pub fn block(args: &CloudFirewallBlock, ctx: &BuildContext<'_>) -> anyhow::Result<Self> {
        let kind = "cloud.firewall.block";
        let cluster = cluster_of(kind, args.cluster.as_deref(), ctx)?;
        let resources = resources(kind, cluster, args.on.as_deref(), ctx)?;
        let c = &ctx.inventory.clusters[cluster];
        // Each cloud's table may name the peers and the operator's egress: all of them count.
        let (mut peers, mut inventory_operator) = (Vec::new(), Vec::new());
        if let Some(a) = &c.aws {
            peers.extend(a.apiserver_peers.iter().copied());
            inventory_operator.extend(a.operator_cidrs.iter().copied());
        }
        for control in [
            c.gcp
                .as_ref()
                .map(|g| (&g.control.apiserver_peers, &g.control.operator_cidrs)),
            c.azure
                .as_ref()
                .map(|a| (&a.control.apiserver_peers, &a.control.operator_cidrs)),
        ]
        .into_iter()
        .flatten()
        {
            peers.extend(control.0.iter().copied());
            inventory_operator.extend(control.1.iter().copied());
        }
        let operator = if ctx.operator_cidrs.is_empty() {
            inventory_operator
        } else {
            ctx.operator_cidrs.to_vec()
        };
        Ok(CloudFirewallAction {
            kind,
            cluster: cluster.to_owned(),
            resources,
            mode: Mode::Block(Block {
                allow: args.allow.clone(),
                ports: args.ports.clone(),
                source_groups: args.source_groups.clone(),
                peers,
                operator,
                description: format!(
                    "breakglass {}/{}: allowed while the API is blocked",
                    ctx.run_id, ctx.step_id
                ),
            }),
            marker: format!("{MARKER_FAMILY}{}/{}", ctx.run_id, ctx.step_id),
            wait: args.wait,
            updates: Mutex::default(),
        })
    }

    pub fn unblock(args: &CloudFirewallUnblock, ctx: &BuildContext<'_>) -> anyhow::Result<Self> {
        let kind = "cloud.firewall.unblock";
        let cluster = cluster_of(kind, args.cluster.as_deref(), ctx)?;
        Ok(CloudFirewallAction {
            kind,
            cluster: cluster.to_owned(),
            resources: resources(kind, cluster, args.on.as_deref(), ctx)?,
            mode: Mode::Unblock,
            marker: format!("{MARKER_FAMILY}{}/{}", ctx.run_id, ctx.step_id),
            wait: args.wait,
            updates: Mutex::default(),
        })
    }

    fn resource(cx: &dyn Context) -> Result<CloudResource, ActionFailure> {
        match cx.target() {
            Target::Cloud { resource, .. } => Ok(resource.clone()),
            other => Err(ActionFailure::refused(format!(
                "cloud firewall steps act on security groups and EKS clusters, not {other}"
            ))),
        }
    }

    /// The changes to make (or reverse): from the mode, else from the snapshot.
    fn changes(&self, snapshot: &Value) -> Result<Vec<Marked>, ActionFailure> {
        match &self.mode {
            Mode::Redo(c) | Mode::Restore(c) => Ok(c.clone()),
            Mode::Block(_) | Mode::Unblock => Ok(parse_snapshot(snapshot)?.changes),
        }
    }

    fn remember_update(&self, target: &str, id: Option<String>) {
        let mut updates = self.updates.lock().unwrap_or_else(PoisonError::into_inner);
        match id {
            Some(id) => updates.insert(target.to_owned(), id),
            None => updates.remove(target),
        };
    }

    fn update_of(&self, target: &str) -> Option<String> {
        self.updates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(target)
            .cloned()
    }

    fn with_mode(&self, mode: Mode) -> CloudFirewallAction {
        CloudFirewallAction {
            kind: self.kind,
            cluster: self.cluster.clone(),
            resources: self.resources.clone(),
            mode,
            marker: self.marker.clone(),
            wait: self.wait,
            updates: Mutex::default(),
        }
    }
}

fn parse_snapshot(v: &Value) -> Result<Snapshot, ActionFailure> {
    serde_json::from_value(v.clone())
        .map_err(|e| ActionFailure::refused(format!("the snapshot is not a cloud firewall's: {e}")))
}

fn encode(s: &Snapshot) -> Result<Value, ActionFailure> {
    serde_json::to_value(s)
        .map_err(|e| ActionFailure::refused(format!("cannot encode the snapshot: {e}")))
}

/// `a, b and 2 more`.
fn listed<T: std::fmt::Display>(items: &[T]) -> String {
    let shown: Vec<String> = items.iter().take(3).map(ToString::to_string).collect();
    match items.len() {
        0 => "none".into(),
        n if n > 3 => format!("{} and {} more", shown.join(", "), n - 3),
        _ => shown.join(", "),
    }
}

impl Action for CloudFirewallAction {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn runs_on(&self) -> TargetKind {
        TargetKind::Objects
    }

    fn objects(&self) -> Vec<Target> {
        self.resources
            .iter()
            .map(|r| Target::Cloud {
                cluster: self.cluster.clone(),
                resource: r.clone(),
            })
            .collect()
    }

    fn plan(&self, target: &str) -> String {
        let resource = self.resources.iter().find(|r| r.name() == target);
        let what = resource.map_or_else(|| target.to_owned(), CloudResource::describe);
        let ports = |b: &Block| {
            b.ports
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let keep = |b: &Block| listed(&b.allow.iter().chain(&b.peers).collect::<Vec<_>>());
        match (&self.mode, resource) {
            (Mode::Block(b), Some(CloudResource::EksCluster { .. })) => format!(
                "set the public endpoint's publicAccessCidrs of {what} to {}; undo restores the CIDRs from before",
                listed(&b.allow)
            ),
            (
                Mode::Block(b),
                Some(CloudResource::GcpFirewall { lever, .. } | CloudResource::Nsg { lever, .. }),
            ) => format!(
                "add to {what} an allow rule for {} (priority {}) and a deny rule for everyone else (priority {}) on TCP {}; undo removes exactly those rules",
                keep(b),
                lever.priority,
                lever.priority + 1,
                ports(b)
            ),
            (Mode::Block(b), Some(CloudResource::GkeCluster { .. })) => format!(
                "set the authorized networks of {what} to {}; undo restores the networks from before",
                keep(b)
            ),
            (Mode::Block(b), Some(CloudResource::AksCluster { .. })) => format!(
                "set apiServerAccessProfile.authorizedIPRanges of {what} to {}; undo restores the ranges from before",
                keep(b)
            ),
            (Mode::Block(b), _) => format!(
                "revoke the ingress rules of {what} that let anyone but {}{} reach TCP {}{}, allow {} there; undo re-authorizes exactly the rules revoked",
                listed(&b.allow),
                if b.peers.is_empty() {
                    String::new()
                } else {
                    format!(" and the peers {}", listed(&b.peers))
                },
                ports(b),
                if b.source_groups.is_empty() {
                    String::new()
                } else {
                    format!(" (and members of {})", b.source_groups.join(", "))
                },
                listed(&b.allow),
            ),
            (Mode::Unblock, _) => format!(
                "restore what breakglass blocks changed on {what} (from the markers they left)"
            ),
            (Mode::Redo(c), _) => format!("block {what} again ({} change(s) as before)", c.len()),
            (Mode::Restore(_), Some(CloudResource::SecurityGroup { .. }) | None) => format!(
                "authorize again the rules the block revoked on {what}, revoke the ones it added"
            ),
            (
                Mode::Restore(_),
                Some(CloudResource::GcpFirewall { .. } | CloudResource::Nsg { .. }),
            ) => {
                format!("remove the rules the block added to {what}")
            }
            (Mode::Restore(_), Some(_)) => {
                format!("set the allowed ranges of {what} back to what they were")
            }
        }
    }

    fn snapshot(&self, cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        let resource = Self::resource(cx)?;
        let block = match &self.mode {
            Mode::Block(b) => Some(b),
            _ => None,
        };
        let m = &self.marker;
        let snapshot = match (&resource, block) {
            (CloudResource::SecurityGroup { id, .. }, Some(b)) => {
                security_group::snapshot_block(&*cx.aws()?, id, b, m)?
            }
            (CloudResource::SecurityGroup { id, .. }, None) => {
                security_group::snapshot_markers(&*cx.aws()?, id)?
            }
            (CloudResource::EksCluster { eks_name, .. }, Some(b)) => {
                eks_endpoint::snapshot_block(&*cx.aws()?, eks_name, b, m)?
            }
            (CloudResource::EksCluster { eks_name, .. }, None) => {
                eks_endpoint::snapshot_markers(&*cx.aws()?, eks_name)?
            }
            (CloudResource::GcpFirewall { lever, .. }, Some(b)) => {
                gcp_firewall::snapshot_block(&*cx.gcp()?, lever, b, m)?
            }
            (CloudResource::GcpFirewall { lever, .. }, None) => {
                gcp_firewall::snapshot_markers(&*cx.gcp()?, lever)?
            }
            (
                CloudResource::GkeCluster {
                    location, gke_name, ..
                },
                Some(b),
            ) => gke_endpoint::snapshot_block(&*cx.gcp()?, location, gke_name, b, m)?,
            (
                CloudResource::GkeCluster {
                    location, gke_name, ..
                },
                None,
            ) => gke_endpoint::snapshot_markers(&*cx.gcp()?, location, gke_name)?,
            (CloudResource::Nsg { lever, .. }, Some(b)) => {
                nsg::snapshot_block(&*cx.azure()?, lever, b, m)?
            }
            (CloudResource::Nsg { lever, .. }, None) => {
                nsg::snapshot_markers(&*cx.azure()?, lever)?
            }
            (
                CloudResource::AksCluster {
                    resource_group,
                    aks_name,
                    ..
                },
                Some(b),
            ) => aks_endpoint::snapshot_block(&*cx.azure()?, resource_group, aks_name, b, m)?,
            (
                CloudResource::AksCluster {
                    resource_group,
                    aks_name,
                    ..
                },
                None,
            ) => aks_endpoint::snapshot_markers(&*cx.azure()?, resource_group, aks_name)?,
        };
        encode(&snapshot)
    }

    fn describe_now(&self, snapshot: &Value) -> Option<String> {
        let s = parse_snapshot(snapshot).ok()?;
        if let Some(rules) = &s.rules {
            return Some(format!(
                "{} ingress rule(s){}",
                rules.len(),
                security_group::describe_changes(&s.changes)
            ));
        }
        let added = || {
            let names: Vec<String> = s
                .changes
                .iter()
                .flat_map(|m| match &m.change {
                    Change::GcpRules { rules } => rules.iter().map(|r| r.name.clone()).collect(),
                    Change::NsgRules { rules } => rules.iter().map(|r| r.name.clone()).collect(),
                    _ => Vec::new(),
                })
                .collect();
            if names.is_empty() {
                String::new()
            } else {
                format!("; the change adds (or removes) {}", listed(&names))
            }
        };
        match &s.now {
            Some(Now::GcpFirewall { rules }) => {
                return Some(format!(
                    "{} ingress firewall rule(s){}",
                    rules.len(),
                    added()
                ));
            }
            Some(Now::Nsg { rules, .. }) => {
                return Some(format!(
                    "{} inbound security rule(s){}",
                    rules.len(),
                    added()
                ));
            }
            Some(Now::Gke { access, .. }) => {
                return Some(format!(
                    "authorized networks {}{}",
                    if access.enabled {
                        listed(&access.cidrs.iter().map(|c| &c.0).collect::<Vec<_>>())
                    } else {
                        "off".into()
                    },
                    gke_endpoint::describe_changes(&s.changes)
                ));
            }
            Some(Now::Aks { ranges, .. }) => {
                return Some(format!(
                    "authorizedIPRanges {}{}",
                    if ranges.is_empty() {
                        "none (every address)".to_owned()
                    } else {
                        listed(ranges)
                    },
                    aks_endpoint::describe_changes(&s.changes)
                ));
            }
            None => {}
        }
        s.access.map(|a| {
            format!(
                "public endpoint {}, private endpoint {}, publicAccessCidrs {}{}",
                if a.public { "on" } else { "off" },
                if a.private { "on" } else { "off" },
                a.public_cidrs.join(", "),
                eks_endpoint::describe_changes(&s.changes)
            )
        })
    }

    fn has_preflight(&self) -> bool {
        matches!(self.mode, Mode::Block(_))
    }

    fn preflight(&self, snapshot: &Value) -> Preflight {
        let Mode::Block(b) = &self.mode else {
            return Preflight::default();
        };
        let Ok(s) = parse_snapshot(snapshot) else {
            return Preflight::default();
        };
        let lever = |name: &str| {
            self.resources.iter().find_map(|r| match r {
                CloudResource::GcpFirewall { lever, .. } | CloudResource::Nsg { lever, .. }
                    if lever.name == name =>
                {
                    Some(lever.clone())
                }
                _ => None,
            })
        };
        match (&s.rules, &s.access, &s.now) {
            (Some(rules), _, _) => security_group::plan(b, rules).preflight,
            (None, Some(access), _) => eks_endpoint::plan(b, access).1,
            (_, _, Some(Now::GcpFirewall { rules })) => {
                let network = s.changes.iter().find_map(|m| match &m.change {
                    Change::GcpRules { rules } => rules.first().map(|r| r.network.clone()),
                    _ => None,
                });
                network
                    .and_then(|n| lever(&n))
                    .map_or_else(Preflight::default, |l| {
                        gcp_firewall::preflight(b, &l, rules, &s.changes)
                    })
            }
            (
                _,
                _,
                Some(Now::Nsg {
                    rules,
                    flush_connection,
                }),
            ) => {
                // The NSG's lever: the one resource of this kind the step acts on with these
                // rules' priorities.
                let l = self.resources.iter().find_map(|r| match r {
                    CloudResource::Nsg { lever, .. } => Some(lever.clone()),
                    _ => None,
                });
                l.map_or_else(Preflight::default, |l| {
                    nsg::preflight(b, &l, rules, *flush_connection, &s.changes)
                })
            }
            (
                _,
                _,
                Some(Now::Gke {
                    access,
                    private_nodes,
                }),
            ) => gke_endpoint::preflight(b, access, *private_nodes),
            (_, _, Some(Now::Aks { private, .. })) => aks_endpoint::preflight(b, *private),
            (None, None, None) => Preflight::default(),
        }
    }

    fn apply(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<Applied, ActionFailure> {
        let resource = Self::resource(cx)?;
        if let Mode::Block(_) = self.mode {
            let p = self.preflight(snapshot);
            if !p.refusals.is_empty() {
                return Err(ActionFailure::refused(format!(
                    "refused before changing anything: {}",
                    p.refusals.join("; ")
                )));
            }
        }
        let changes = self.changes(snapshot)?;
        if changes.is_empty() {
            return Ok(Applied {
                summary: format!(
                    "{}: nothing to {}",
                    resource.describe(),
                    if self.mode.forward() {
                        "change"
                    } else {
                        "restore (no block marker)"
                    }
                ),
                detail: Value::Null,
            });
        }
        let (forward, wait) = (self.mode.forward(), self.wait);
        match &resource {
            CloudResource::SecurityGroup { id, .. } => {
                security_group::apply(&*cx.aws()?, id, &changes, forward)
            }
            CloudResource::EksCluster { eks_name, .. } => {
                let earlier = cx.earlier().cloned();
                let (applied, update) = eks_endpoint::apply(
                    &*cx.aws()?,
                    eks_name,
                    &changes,
                    forward,
                    earlier.as_ref(),
                )?;
                self.remember_update(resource.name(), update);
                Ok(applied)
            }
            CloudResource::GcpFirewall { lever, .. } => {
                gcp_firewall::apply(&*cx.gcp()?, lever, &changes, forward, wait)
            }
            CloudResource::GkeCluster {
                location, gke_name, ..
            } => gke_endpoint::apply(&*cx.gcp()?, location, gke_name, &changes, forward, wait),
            CloudResource::Nsg { lever, .. } => {
                nsg::apply(&*cx.azure()?, lever, &changes, forward, wait)
            }
            CloudResource::AksCluster {
                resource_group,
                aks_name,
                ..
            } => aks_endpoint::apply(
                &*cx.azure()?,
                resource_group,
                aks_name,
                &changes,
                forward,
                wait,
            ),
        }
    }

    fn verify(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<(), ActionFailure> {
        let resource = Self::resource(cx)?;
        let changes = self.changes(snapshot)?;
        if changes.is_empty() {
            return Ok(());
        }
        let (forward, wait) = (self.mode.forward(), self.wait);
        match &resource {
            CloudResource::SecurityGroup { id, .. } => {
                security_group::verify(&*cx.aws()?, id, &changes, forward)
            }
            CloudResource::EksCluster { eks_name, .. } => {
                let aws = cx.aws()?;
                eks_endpoint::verify(
                    &*cx,
                    &aws,
                    eks_name,
                    &changes,
                    forward,
                    self.update_of(resource.name()).as_deref(),
                    wait,
                )
            }
            CloudResource::GcpFirewall { lever, .. } => {
                let gcp = cx.gcp()?;
                gcp_firewall::verify(&*cx, &gcp, lever, &changes, forward, wait)
            }
            CloudResource::GkeCluster {
                location, gke_name, ..
            } => {
                let gcp = cx.gcp()?;
                gke_endpoint::verify(&*cx, &gcp, location, gke_name, &changes, forward, wait)
            }
            CloudResource::Nsg { lever, .. } => {
                let azure = cx.azure()?;
                nsg::verify(&*cx, &azure, lever, &changes, forward, wait)
            }
            CloudResource::AksCluster {
                resource_group,
                aks_name,
                ..
            } => {
                let azure = cx.azure()?;
                aks_endpoint::verify(
                    &*cx,
                    &azure,
                    resource_group,
                    aks_name,
                    &changes,
                    forward,
                    wait,
                )
            }
        }
    }

    fn inverse(&self, snapshot: &Value) -> Option<Box<dyn Action>> {
        let changes = match &self.mode {
            Mode::Redo(c) | Mode::Restore(c) => c.clone(),
            Mode::Block(_) | Mode::Unblock => parse_snapshot(snapshot).ok()?.changes,
        };
        let mode = if self.mode.forward() {
            Mode::Restore(changes)
        } else {
            Mode::Redo(changes)
        };
        Some(Box::new(self.with_mode(mode)))
    }
}

/// The block markers among a resource's tags whose change is for the security group (or the
/// EKS endpoint), oldest first.
fn markers(tags: &BTreeMap<String, String>, eks: bool) -> Vec<Marked> {
    crate::actions::cloud::read_markers(tags, MARKER_FAMILY)
        .into_iter()
        .filter_map(|(marker, v)| {
            let change: Change = serde_json::from_value(v).ok()?;
            (matches!(change, Change::EksEndpoint { .. }) == eks)
                .then_some(Marked { marker, change })
        })
        .collect()
}

/// The block markers a cluster keeps in its labels (GKE) or tags (AKS) whose change `is_for`
/// the lever, oldest first.
fn label_markers(labels: &BTreeMap<String, String>, is_for: fn(&Change) -> bool) -> Vec<Marked> {
    crate::actions::cloud::read_label_markers(labels, rules::RULE_PREFIX)
        .into_values()
        .filter_map(|v| serde_json::from_value::<Marked>(v).ok())
        .filter(|m| is_for(&m.change))
        .collect()
}

/// A block's snapshot of a lever whose state it replaces (GKE's networks, AKS's ranges): after
/// an earlier attempt of this run and step (`earlier`: its marker and the state from before
/// it), that state and its change; else `now` and the change to `after`, none when `same`.
fn replacing<S: Clone>(
    marker: &str,
    earlier: Option<(Marked, S)>,
    now: S,
    after: S,
    same: impl Fn(&S, &S) -> bool,
    change: impl FnOnce(S, S) -> Change,
    state: impl Fn(S) -> Now,
) -> Snapshot {
    if let Some((m, before)) = earlier {
        return Snapshot {
            now: Some(state(before)),
            changes: vec![m],
            ..Snapshot::default()
        };
    }
    let changes = if same(&after, &now) {
        Vec::new()
    } else {
        vec![Marked {
            marker: marker.to_owned(),
            change: change(now.clone(), after),
        }]
    };
    Snapshot {
        now: Some(state(now)),
        changes,
        ..Snapshot::default()
    }
}

/// The detail journaled with a result: what was revoked and added (the CIDRs set).
fn detail(revoked: &[IngressRule], added: &[IngressRule]) -> Value {
    json!({"revoked": revoked, "added": added})
}

#[cfg(test)]
mod tests;
