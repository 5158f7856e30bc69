//! `cloud.firewall.block` and `cloud.firewall.unblock`: the admin API cut off at the cloud, on
//! the API servers' security group (`security_group.rs`) and on an EKS cluster's public
//! endpoint (`eks_endpoint.rs`), one target per lever the inventory names.
//!
//! - **snapshot** (block): the group's ingress rules (the cluster's endpoint access) and the
//!   exact change worked out from them: the rules to revoke and to add (the CIDRs after). If the
//!   resource carries this run-and-step's marker tags, an earlier attempt already changed it:
//!   the change is the marker's, and the state before is rebuilt from it;
//! - **preflight** (block): refused when the change would cut the operator's address or a
//!   required peer, or revoke a rule that opens more than the API's ports; notes what it cannot
//!   do (stop nodes behind an EKS private endpoint; cut tracked connections). `plan` shows it,
//!   `run` refuses to start on it, `apply` refuses again;
//! - **apply**: the marker tags first (the change, so `resume` and `unblock` know it without
//!   the journal), then one revoke or authorize per rule (the CIDRs in one update). A revoke
//!   that matches no rule is a failure: the group changed since the snapshot;
//! - **verify**: reads the group back (follows the EKS update by id, then reads the cluster
//!   back): the revoked rules are gone and the added ones there;
//! - **inverse** (block): exactly the revoked rules authorized again, only the added rules
//!   revoked, the CIDRs from before set again, the marker removed. `cloud.firewall.unblock`
//!   does the same for every marker it finds, whichever run left it; its inverse blocks again.

mod eks_endpoint;
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
    let aws = ctx
        .inventory
        .clusters
        .get(cluster)
        .ok_or_else(|| anyhow::anyhow!("{kind}: the inventory has no cluster '{cluster}'"))?
        .aws
        .as_ref();
    let sg = aws.and_then(|a| a.apiserver_security_group.as_deref());
    let eks = aws.and_then(|a| a.eks_cluster.as_deref());
    let mut out = Vec::new();
    for lever in on.map_or_else(
        || vec![CloudFirewallOn::SecurityGroup, CloudFirewallOn::EksEndpoint],
        <[_]>::to_vec,
    ) {
        match (lever, sg, eks) {
            (CloudFirewallOn::SecurityGroup, Some(id), _) => {
                out.push(CloudResource::security_group(id));
            }
            (CloudFirewallOn::EksEndpoint, _, Some(name)) => {
                out.push(CloudResource::eks_cluster(name));
            }
            _ if on.is_some() => anyhow::bail!(
                "{kind}: `on` names {}, but [clusters.{cluster}.aws] in the inventory has no {}",
                lever.name(),
                match lever {
                    CloudFirewallOn::SecurityGroup => "apiserver_security_group",
                    CloudFirewallOn::EksEndpoint => "eks_cluster",
                }
            ),
            _ => {}
        }
    }
    if out.is_empty() {
        anyhow::bail!(
            "{kind}: cluster '{cluster}' in the inventory names nothing to firewall; add \
             [clusters.{cluster}.aws] apiserver_security_group = \"sg-...\" or eks_cluster = \"...\""
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
        let aws = ctx.inventory.clusters[cluster].aws.as_ref();
        let operator = if ctx.operator_cidrs.is_empty() {
            aws.map(|a| a.operator_cidrs.clone()).unwrap_or_default()
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
                peers: aws.map(|a| a.apiserver_peers.clone()).unwrap_or_default(),
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
        let what = self
            .resources
            .iter()
            .find(|r| r.name() == target)
            .map_or_else(|| target.to_owned(), CloudResource::describe);
        let eks = what.starts_with("EKS");
        match &self.mode {
            Mode::Block(b) if eks => format!(
                "set the public endpoint's publicAccessCidrs of {what} to {}; undo restores the CIDRs from before",
                listed(&b.allow)
            ),
            Mode::Block(b) => format!(
                "revoke the ingress rules of {what} that let anyone but {}{} reach TCP {}{}, allow {} there; undo re-authorizes exactly the rules revoked",
                listed(&b.allow),
                if b.peers.is_empty() {
                    String::new()
                } else {
                    format!(" and the peers {}", listed(&b.peers))
                },
                b.ports
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                if b.source_groups.is_empty() {
                    String::new()
                } else {
                    format!(" (and members of {})", b.source_groups.join(", "))
                },
                listed(&b.allow),
            ),
            Mode::Unblock => format!(
                "restore what breakglass blocks changed on {what} (from the tags they left)"
            ),
            Mode::Redo(c) => format!("block {what} again ({} change(s) as before)", c.len()),
            Mode::Restore(_) if eks => {
                format!("set the publicAccessCidrs of {what} back to what they were")
            }
            Mode::Restore(_) => format!(
                "authorize again the rules the block revoked on {what}, revoke the ones it added"
            ),
        }
    }

    fn snapshot(&self, cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        let aws = cx.aws()?;
        let resource = Self::resource(cx)?;
        let snapshot = match (&resource, &self.mode) {
            (CloudResource::SecurityGroup { id, .. }, Mode::Block(b)) => {
                security_group::snapshot_block(&aws, id, b, &self.marker)?
            }
            (CloudResource::SecurityGroup { id, .. }, _) => {
                security_group::snapshot_markers(&aws, id)?
            }
            (CloudResource::EksCluster { eks_name, .. }, Mode::Block(b)) => {
                eks_endpoint::snapshot_block(&aws, eks_name, b, &self.marker)?
            }
            (CloudResource::EksCluster { eks_name, .. }, _) => {
                eks_endpoint::snapshot_markers(&aws, eks_name)?
            }
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
        match (&s.rules, &s.access) {
            (Some(rules), _) => security_group::plan(b, rules).preflight,
            (None, Some(access)) => eks_endpoint::plan(b, access).1,
            (None, None) => Preflight::default(),
        }
    }

    fn apply(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<Applied, ActionFailure> {
        let aws = cx.aws()?;
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
        match &resource {
            CloudResource::SecurityGroup { id, .. } => {
                security_group::apply(&aws, id, &changes, self.mode.forward())
            }
            CloudResource::EksCluster { eks_name, .. } => {
                let (applied, update) =
                    eks_endpoint::apply(&aws, eks_name, &changes, self.mode.forward())?;
                self.remember_update(resource.name(), update);
                Ok(applied)
            }
        }
    }

    fn verify(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<(), ActionFailure> {
        let aws = cx.aws()?;
        let resource = Self::resource(cx)?;
        let changes = self.changes(snapshot)?;
        if changes.is_empty() {
            return Ok(());
        }
        match &resource {
            CloudResource::SecurityGroup { id, .. } => {
                security_group::verify(&aws, id, &changes, self.mode.forward())
            }
            CloudResource::EksCluster { eks_name, .. } => eks_endpoint::verify(
                &*cx,
                &aws,
                eks_name,
                &changes,
                self.mode.forward(),
                self.update_of(resource.name()).as_deref(),
                self.wait,
            ),
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

/// The detail journaled with a result: what was revoked and added (the CIDRs set).
fn detail(revoked: &[IngressRule], added: &[IngressRule]) -> Value {
    json!({"revoked": revoked, "added": added})
}

#[cfg(test)]
mod tests;
