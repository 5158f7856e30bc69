//! `nodes.scale`: a cloud node group's desired capacity, through the provider's API (AWS: an
//! Auto Scaling group's `UpdateAutoScalingGroup`, an EKS managed node group's
//! `UpdateNodegroupConfig`; GCP: a managed instance group's `resize`, a GKE node pool's
//! `setSize`), canary first and in waves like any step.
//!
//! GCP groups have a size and no minimum or maximum (an autoscaler's bounds are not the
//! group's): their sizes are held as min 0 and max unbounded, which the step never moves. They
//! carry no marker either (neither resource takes labels through the resize permission): a
//! resumed run's snapshot is the journal's first one.
//!
//! - **snapshot**: min, max and desired as the group has them; if the group carries this
//!   run-and-step's marker tag, the sizes the tag remembers instead (a resumed run snapshots
//!   again after its first attempt changed the group: the journal's newest snapshot must still
//!   be the state from before the run, for `undo`);
//! - **apply**: the marker tag first, then min, max and desired in one call (the minimum lowered,
//!   the maximum raised, when the new desired capacity needs it). The new desired capacity is
//!   worked out from the snapshot, so applying twice is the same as once;
//! - **verify**: follows the change to completion, not acceptance: the instances in service
//!   reach the desired capacity (EKS: the node group is `ACTIVE` with the new sizes), polling
//!   with progress until the step's `wait`. Past it the target is `pending` (the journal has the
//!   snapshot and the result; `resume` waits again, `undo` restores);
//! - **inverse**: min, max and desired exactly as snapshotted, then the marker removed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::BuildContext;
use super::args::{NodesScale, ScaleTo};
use super::cloud::{aws_call, azure_call, gcp_call, poll};
use super::context::{Context, Target, TargetKind};
use super::contract::{Action, ActionFailure, Applied};
use crate::inventory::{NodeGroup, NodeGroupBacking, Provider};
use crate::transport::cloud::aws::Aws;
use crate::transport::cloud::aws::autoscaling::Sizes;
use crate::transport::cloud::azure::Azure;
use crate::transport::cloud::gcp::Gcp;

/// The max of a group with no maximum (GCP, Azure).
const UNBOUNDED: u32 = u32::MAX;

/// The provider's client for a group.
enum Cloud {
    Aws(Arc<Aws>),
    Gcp(Arc<Gcp>),
    Azure(Arc<Azure>),
}

/// What the step does to each group's sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    To(ScaleTo),
    By(i64),
    /// The inverse: exactly these sizes, then the marker removed.
    Restore(Sizes),
}

pub struct NodesScaleAction {
    cluster: String,
    groups: Vec<NodeGroup>,
    change: Change,
    wait: Duration,
    /// The tag that remembers the sizes from before this run's step.
    marker: String,
}

/// The journaled state of one group before the step.
/// A group without bounds (GCP) journals its size alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Snapshot {
    #[serde(default, skip_serializing_if = "is_zero")]
    min: u32,
    #[serde(default = "unbounded", skip_serializing_if = "is_unbounded")]
    max: u32,
    desired: u32,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
fn is_unbounded(n: &u32) -> bool {
    *n == UNBOUNDED
}

fn unbounded() -> u32 {
    UNBOUNDED
}

impl From<Snapshot> for Sizes {
    fn from(s: Snapshot) -> Sizes {
        Sizes {
            min: s.min,
            max: s.max,
            desired: s.desired,
        }
    }
}

impl From<Sizes> for Snapshot {
    fn from(s: Sizes) -> Snapshot {
        Snapshot {
            min: s.min,
            max: s.max,
            desired: s.desired,
        }
    }
}

/// What a group looks like now, whatever backs it.
struct Observed {
    sizes: Sizes,
    /// Instances in service and all instances (an Auto Scaling group, a MIG, a GKE pool's
    /// MIGs together); None for EKS.
    instances: Option<(u32, u32)>,
    /// How many instances the desired size means: the size times the zones of a GKE pool
    /// (its size is per zone), else the size.
    per_size: u32,
    /// `ACTIVE`, `UPDATING` (EKS), `RUNNING`, `RECONCILING` (GKE); None otherwise.
    status: Option<String>,
    marker: Option<String>,
    /// The node group's ARN (EKS tags are set by ARN).
    arn: Option<String>,
}

impl NodesScaleAction {
    pub fn new(args: &NodesScale, ctx: &BuildContext<'_>) -> anyhow::Result<Self> {
        let Some(cluster) = args.cluster.as_deref().or(ctx.cluster) else {
            anyhow::bail!(
                "nodes.scale has no `cluster`, and the runbook has no `cluster` parameter to take it from"
            );
        };
        let Some(c) = ctx.inventory.clusters.get(cluster) else {
            anyhow::bail!("nodes.scale: the inventory has no cluster '{cluster}'");
        };
        let available: Vec<NodeGroup> = c
            .aws
            .iter()
            .flat_map(|a| a.node_groups.iter())
            .chain(c.gcp.iter().flat_map(|g| g.node_groups.iter()))
            .chain(c.azure.iter().flat_map(|a| a.node_groups.iter()))
            .cloned()
            .collect();
        if available.is_empty() {
            return Err(super::NothingToActOn(format!(
                "nodes.scale: cluster '{cluster}' in the inventory names no node groups; \
                 add [clusters.{cluster}.aws] node_groups = [{{ name = \"...\", asg = \"...\" }}] \
                 or [clusters.{cluster}.gcp] node_groups = [{{ name = \"...\", mig = \"...\", zone = \"...\" }}]"
            ))
            .into());
        }
        if let Some(g) = available
            .iter()
            .enumerate()
            .find(|(i, g)| available[..*i].iter().any(|o| o.name == g.name))
            .map(|(_, g)| g)
        {
            anyhow::bail!(
                "nodes.scale: cluster '{cluster}' names node group '{}' under two clouds; \
                 rename one in the inventory",
                g.name
            );
        }
        let groups = match &args.node_groups {
            None => available.clone(),
            Some(names) => names
                .iter()
                .map(|n| {
                    available.iter().find(|g| &g.name == n).cloned().ok_or_else(|| {
                        anyhow::anyhow!(
                            "nodes.scale: cluster '{cluster}' has no node group '{n}' in the inventory \
                             (it has: {})",
                            available
                                .iter()
                                .map(|g| g.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
                })
                .collect::<anyhow::Result<_>>()?,
        };
        let change = match (args.to, args.by) {
            (Some(to), _) => Change::To(to),
            (None, Some(by)) => Change::By(by),
            (None, None) => anyhow::bail!("nodes.scale: neither `to` nor `by`"),
        };
        Ok(NodesScaleAction {
            cluster: cluster.to_owned(),
            groups,
            change,
            wait: args.wait,
            marker: format!("breakglass/prior/{}/{}", ctx.run_id, ctx.step_id),
        })
    }

    /// The scaling of one group that is not in `node_groups` (a self-managed control plane's,
    /// for `apiservers.scale`): `to` or `by`, as a node group's.
    pub(super) fn of_group(
        cluster: &str,
        group: NodeGroup,
        to: Option<ScaleTo>,
        by: Option<i64>,
        wait: Duration,
        marker: String,
    ) -> anyhow::Result<Self> {
        let change = match (to, by) {
            (Some(to), _) => Change::To(to),
            (None, Some(by)) => Change::By(by),
            (None, None) => anyhow::bail!("neither `to` nor `by`"),
        };
        Ok(NodesScaleAction {
            cluster: cluster.to_owned(),
            groups: vec![group],
            change,
            wait,
            marker,
        })
    }

    /// The sizes the step sets, from the sizes before it.
    fn target(&self, before: Sizes) -> Sizes {
        let desired = match self.change {
            Change::Restore(s) => return s,
            Change::To(to) => to.of(before.desired),
            Change::By(by) => {
                let d = i64::from(before.desired).saturating_add(by).max(0);
                u32::try_from(d).unwrap_or(u32::MAX)
            }
        };
        Sizes {
            min: before.min.min(desired),
            max: before.max.max(desired),
            desired,
        }
    }

    fn cloud(cx: &mut dyn Context, group: &NodeGroup) -> Result<Cloud, ActionFailure> {
        match group.backing.provider() {
            Provider::Aws => cx.aws().map(Cloud::Aws),
            Provider::Gcp => cx.gcp().map(Cloud::Gcp),
            Provider::Azure => cx.azure().map(Cloud::Azure),
        }
    }

    /// The sizes before the step (from its snapshot) and the sizes it sets. The inverse is
    /// handed no snapshot (`undo` passes `null`): it restores the sizes it was built with.
    fn sizes(&self, snapshot: &Value) -> Result<(Option<Sizes>, Sizes), ActionFailure> {
        if let Change::Restore(s) = self.change {
            return Ok((None, s));
        }
        let before: Sizes = parse_snapshot(snapshot)?.into();
        Ok((Some(before), self.target(before)))
    }

    fn group(cx: &dyn Context) -> Result<NodeGroup, ActionFailure> {
        match cx.target() {
            Target::NodeGroup { group, .. } => Ok(group.clone()),
            other => Err(ActionFailure::refused(format!(
                "nodes.scale acts on node groups, not {other}"
            ))),
        }
    }

    fn observe(cloud: &Cloud, group: &NodeGroup, marker: &str) -> Result<Observed, ActionFailure> {
        let aws = match cloud {
            Cloud::Aws(aws) => aws,
            Cloud::Gcp(gcp) => return Self::observe_gcp(gcp, group),
            Cloud::Azure(azure) => return Self::observe_azure(azure, group),
        };
        let missing = |what: String| {
            ActionFailure::refused(format!(
                "node group {}: {what} does not exist in {} (check [clusters.{}.aws] in the inventory)",
                group.name,
                aws.region(),
                aws.cluster()
            ))
        };
        match &group.backing {
            NodeGroupBacking::Asg(name) => {
                let g = aws_call(aws.describe_auto_scaling_group(name), false)?
                    .ok_or_else(|| missing(group.backing.describe()))?;
                Ok(Observed {
                    sizes: g.sizes(),
                    instances: Some((g.in_service, g.instances)),
                    per_size: 1,
                    status: None,
                    marker: g.tags.get(marker).cloned(),
                    arn: None,
                })
            }
            NodeGroupBacking::Eks { cluster, nodegroup } => {
                let ng = aws_call(aws.describe_nodegroup(cluster, nodegroup), false)?
                    .ok_or_else(|| missing(group.backing.describe()))?;
                Ok(Observed {
                    sizes: ng.sizes,
                    instances: None,
                    per_size: 1,
                    status: Some(ng.status),
                    marker: ng.tags.get(marker).cloned(),
                    arn: Some(ng.arn),
                })
            }
            _ => Err(ActionFailure::refused(format!(
                "{} is not an AWS node group",
                group.backing.describe()
            ))),
        }
    }

    fn observe_gcp(gcp: &Gcp, group: &NodeGroup) -> Result<Observed, ActionFailure> {
        let missing = || {
            ActionFailure::refused(format!(
                "node group {}: {} does not exist in project {} (check [clusters.{}.gcp] in the inventory)",
                group.name,
                group.backing.describe(),
                gcp.project(),
                gcp.cluster()
            ))
        };
        let sizes = |desired| Sizes {
            min: 0,
            max: UNBOUNDED,
            desired,
        };
        match &group.backing {
            NodeGroupBacking::Mig { name, scope } => {
                let m = gcp_call(gcp.get_mig(&scope.path(), name), false)?.ok_or_else(missing)?;
                Ok(Observed {
                    sizes: sizes(m.target_size),
                    instances: Some((m.ready, m.instances)),
                    per_size: 1,
                    status: None,
                    marker: None,
                    arn: None,
                })
            }
            NodeGroupBacking::GkePool {
                cluster,
                pool,
                location,
            } => {
                let p = gcp_call(gcp.get_node_pool(location, cluster, pool), false)?
                    .ok_or_else(missing)?;
                // setSize sets every zone's MIG to the same size: a pool whose MIGs differ shows
                // the largest, which verify then reports as changed by someone else.
                let desired = p.migs.iter().map(|m| m.target_size).max().unwrap_or(0);
                Ok(Observed {
                    sizes: sizes(desired),
                    instances: Some((
                        p.migs.iter().map(|m| m.ready).sum(),
                        p.migs.iter().map(|m| m.instances).sum(),
                    )),
                    per_size: u32::try_from(p.migs.len()).unwrap_or(1).max(1),
                    status: Some(p.status),
                    marker: None,
                    arn: None,
                })
            }
            _ => Err(ActionFailure::refused(format!(
                "{} is not a GCP node group",
                group.backing.describe()
            ))),
        }
    }

    fn observe_azure(azure: &Azure, group: &NodeGroup) -> Result<Observed, ActionFailure> {
        let missing = || {
            ActionFailure::refused(format!(
                "node group {}: {} does not exist in subscription {} (check [clusters.{}.azure] in the inventory)",
                group.name,
                group.backing.describe(),
                azure.subscription(),
                azure.cluster()
            ))
        };
        let seen = match &group.backing {
            NodeGroupBacking::Vmss {
                resource_group,
                name,
            } => azure_call(azure.get_vmss(resource_group, name), false)?,
            NodeGroupBacking::AksPool {
                resource_group,
                cluster,
                pool,
            } => azure_call(azure.get_agent_pool(resource_group, cluster, pool), false)?,
            _ => {
                return Err(ActionFailure::refused(format!(
                    "{} is not an Azure node group",
                    group.backing.describe()
                )));
            }
        }
        .ok_or_else(missing)?;
        Ok(Observed {
            sizes: Sizes {
                min: 0,
                max: UNBOUNDED,
                desired: seen.capacity,
            },
            instances: None,
            per_size: 1,
            status: Some(seen.state),
            marker: None,
            arn: None,
        })
    }

    /// Sets the sizes; a GCP Operation is followed until DONE or `until` (verify waits on).
    fn set(
        cloud: &Cloud,
        group: &NodeGroup,
        sizes: Sizes,
        until: Instant,
    ) -> Result<(), ActionFailure> {
        let aws = match cloud {
            Cloud::Aws(aws) => aws,
            Cloud::Gcp(gcp) => {
                return match &group.backing {
                    NodeGroupBacking::Mig { name, scope } => gcp_call(
                        gcp.resize_mig(&scope.path(), name, sizes.desired, until),
                        true,
                    )
                    .map(drop),
                    NodeGroupBacking::GkePool {
                        cluster,
                        pool,
                        location,
                    } => gcp_call(
                        gcp.set_node_pool_size(location, cluster, pool, sizes.desired, until),
                        true,
                    )
                    .map(drop),
                    _ => Ok(()),
                };
            }
            Cloud::Azure(azure) => {
                return match &group.backing {
                    NodeGroupBacking::Vmss {
                        resource_group,
                        name,
                    } => azure_call(
                        azure.set_vmss_capacity(resource_group, name, sizes.desired, until),
                        true,
                    )
                    .map(drop),
                    NodeGroupBacking::AksPool {
                        resource_group,
                        cluster,
                        pool,
                    } => azure_call(
                        azure.set_agent_pool_count(
                            resource_group,
                            cluster,
                            pool,
                            sizes.desired,
                            until,
                        ),
                        true,
                    )
                    .map(drop),
                    _ => Ok(()),
                };
            }
        };
        match &group.backing {
            NodeGroupBacking::Asg(name) => {
                aws_call(aws.update_auto_scaling_group(name, sizes), true)
            }
            NodeGroupBacking::Eks { cluster, nodegroup } => aws_call(
                aws.update_nodegroup_scaling(cluster, nodegroup, sizes),
                true,
            )
            .map(drop),
            _ => Ok(()),
        }
    }

    fn tag(
        &self,
        cloud: &Cloud,
        group: &NodeGroup,
        seen: &Observed,
        value: Option<&str>,
    ) -> Result<(), ActionFailure> {
        let Cloud::Aws(aws) = cloud else {
            return Ok(());
        };
        match (&group.backing, value) {
            (NodeGroupBacking::Asg(name), Some(v)) => {
                aws_call(aws.tag_auto_scaling_group(name, &self.marker, v), true)
            }
            (NodeGroupBacking::Asg(name), None) => {
                aws_call(aws.untag_auto_scaling_group(name, &self.marker), true)
            }
            (NodeGroupBacking::Eks { .. }, v) => {
                let arn = seen.arn.as_deref().unwrap_or_default();
                match v {
                    Some(v) => aws_call(aws.tag_eks_resource(arn, &self.marker, v), true),
                    None => aws_call(aws.untag_eks_resource(arn, &self.marker), true),
                }
            }
            _ => Ok(()),
        }
    }

    fn how(&self) -> String {
        match self.change {
            Change::To(ScaleTo::Count(n)) => format!("to desired {n}"),
            Change::To(ScaleTo::Percent(p)) => {
                format!("to {p}% of its desired capacity (rounded up)")
            }
            Change::By(by) => format!("by {by:+}"),
            Change::Restore(s) if s.min == 0 && s.max == UNBOUNDED => {
                format!("back to size {}", s.desired)
            }
            Change::Restore(s) => format!(
                "back to min {}, max {}, desired {}",
                s.min, s.max, s.desired
            ),
        }
    }
}

/// Sizes in a tag value and back: `min=2,max=10,desired=6`.
fn marker_value(s: Sizes) -> String {
    format!("min={},max={},desired={}", s.min, s.max, s.desired)
}

fn parse_marker(v: &str) -> Option<Sizes> {
    let mut s = Sizes {
        min: 0,
        max: 0,
        desired: 0,
    };
    let mut seen = 0;
    for part in v.split(',') {
        let (k, n) = part.split_once('=')?;
        let n: u32 = n.trim().parse().ok()?;
        match k.trim() {
            "min" => s.min = n,
            "max" => s.max = n,
            "desired" => s.desired = n,
            _ => return None,
        }
        seen += 1;
    }
    (seen == 3).then_some(s)
}

/// `6 → 2`, or `6` when unchanged.
fn arrow(before: u32, after: u32) -> String {
    if before == after {
        before.to_string()
    } else {
        format!("{before} → {after}")
    }
}

fn parse_snapshot(v: &Value) -> Result<Snapshot, ActionFailure> {
    serde_json::from_value(v.clone())
        .map_err(|e| ActionFailure::refused(format!("the snapshot is not min/max/desired: {e}")))
}

impl Action for NodesScaleAction {
    fn kind(&self) -> &'static str {
        "nodes.scale"
    }

    fn runs_on(&self) -> TargetKind {
        TargetKind::Objects
    }

    fn objects(&self) -> Vec<Target> {
        self.groups
            .iter()
            .map(|g| Target::NodeGroup {
                cluster: self.cluster.clone(),
                group: g.clone(),
            })
            .collect()
    }

    fn plan(&self, target: &str) -> String {
        let group = self.groups.iter().find(|g| g.name == target);
        let backing = group.map_or_else(String::new, |g| format!(" ({})", g.backing.describe()));
        let bounded = group.is_none_or(|g| g.backing.has_bounds());
        match self.change {
            Change::Restore(_) => format!("set node group {target}{backing} {}", self.how()),
            _ if !bounded => format!(
                "scale node group {target}{backing} {}; {}; undo restores the size",
                self.how()
                    .replace("desired capacity", "size")
                    .replace("desired", "size"),
                if self.wait.is_zero() {
                    "check the new size holds".to_owned()
                } else {
                    format!(
                        "wait up to {} for the operation and the instances",
                        humantime::format_duration(self.wait)
                    )
                }
            ),
            _ => format!(
                "scale node group {target}{backing} {}, lowering min (raising max) if needed; {}; \
                 undo restores min, max and desired",
                self.how(),
                if self.wait.is_zero() {
                    "check the new sizes hold".to_owned()
                } else {
                    format!(
                        "wait up to {} for the instances in service",
                        humantime::format_duration(self.wait)
                    )
                }
            ),
        }
    }

    fn snapshot(&self, cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        let group = Self::group(cx)?;
        let cloud = Self::cloud(cx, &group)?;
        let seen = Self::observe(&cloud, &group, &self.marker)?;
        // A marker of this run and step: an earlier attempt changed the group already, and the
        // marker holds the sizes from before it.
        let prior = seen
            .marker
            .as_deref()
            .and_then(parse_marker)
            .unwrap_or(seen.sizes);
        serde_json::to_value(Snapshot::from(prior))
            .map_err(|e| ActionFailure::refused(format!("cannot encode the snapshot: {e}")))
    }

    fn apply(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<Applied, ActionFailure> {
        let group = Self::group(cx)?;
        let cloud = Self::cloud(cx, &group)?;
        let (before, after) = self.sizes(snapshot)?;
        let seen = Self::observe(&cloud, &group, &self.marker)?;
        // Remember the sizes from before on the group itself, before changing it.
        if let Some(before) = before
            && seen.marker.is_none()
        {
            self.tag(&cloud, &group, &seen, Some(&marker_value(before)))?;
        }
        if seen.sizes != after {
            Self::set(&cloud, &group, after, Instant::now() + self.wait)?;
        }
        if before.is_none() && seen.marker.is_some() {
            self.tag(&cloud, &group, &seen, None)?;
        }
        let mut summary = format!(
            "{}: desired {}",
            group.backing.describe(),
            arrow(seen.sizes.desired, after.desired)
        );
        if seen.sizes.min != after.min {
            summary.push_str(&format!(", min {}", arrow(seen.sizes.min, after.min)));
        }
        if seen.sizes.max != after.max {
            summary.push_str(&format!(", max {}", arrow(seen.sizes.max, after.max)));
        }
        Ok(Applied {
            summary,
            detail: json!({
                "before": Snapshot::from(seen.sizes),
                "after": Snapshot::from(after),
            }),
        })
    }

    fn verify(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<(), ActionFailure> {
        let group = Self::group(cx)?;
        let cloud = Self::cloud(cx, &group)?;
        let (_, want) = self.sizes(snapshot)?;
        poll(
            cx,
            self.wait,
            &group.backing.describe(),
            "The new sizes stand and the cloud is still working on them: `breakglass resume RUN` \
             waits again, `breakglass undo RUN` restores the sizes from before",
            || {
                let seen = Self::observe(&cloud, &group, &self.marker)?;
                // A node pool still reconciling has not set its MIGs' sizes yet.
                let settled = seen
                    .status
                    .as_deref()
                    .is_none_or(|s| matches!(s, "ACTIVE" | "RUNNING" | "Succeeded"));
                if settled && seen.sizes != want {
                    return Err(ActionFailure::failed(format!(
                        "{} has min {}, max {}, desired {} after the change, not min {}, max {}, desired {}: \
                         something else changed it (an autoscaler, another operator)",
                        group.backing.describe(),
                        seen.sizes.min,
                        seen.sizes.max,
                        seen.sizes.desired,
                        want.min,
                        want.max,
                        want.desired
                    )));
                }
                let expected = want.desired.saturating_mul(seen.per_size);
                Ok(match (&seen.instances, &seen.status) {
                    (_, Some(status)) if !settled => Some(format!("status {status}")),
                    (Some((in_service, all)), _) => (*in_service != expected || *all != expected)
                        .then(|| {
                            format!(
                                "{in_service} of {all} instances in service, desired {expected}"
                            )
                        }),
                    (None, _) => None,
                })
            },
        )
    }

    fn inverse(&self, snapshot: &Value) -> Option<Box<dyn Action>> {
        let before = parse_snapshot(snapshot).ok()?;
        Some(Box::new(NodesScaleAction {
            cluster: self.cluster.clone(),
            groups: self.groups.clone(),
            change: Change::Restore(before.into()),
            wait: self.wait,
            marker: self.marker.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(change: Change) -> NodesScaleAction {
        NodesScaleAction {
            cluster: "prod".into(),
            groups: vec![NodeGroup {
                name: "workers-a".into(),
                backing: NodeGroupBacking::Asg("prod-workers-a".into()),
            }],
            change,
            wait: Duration::from_secs(600),
            marker: "breakglass/prior/r/s".into(),
        }
    }

    const BEFORE: Sizes = Sizes {
        min: 2,
        max: 10,
        desired: 6,
    };

    #[test]
    fn the_new_sizes_follow_from_the_old_and_move_min_and_max_when_needed() {
        let s = |change| action(change).target(BEFORE);
        assert_eq!(
            s(Change::To(ScaleTo::Count(1))),
            Sizes {
                min: 1,
                max: 10,
                desired: 1
            }
        );
        assert_eq!(s(Change::To(ScaleTo::Percent(50))).desired, 3);
        assert_eq!(
            s(Change::To(ScaleTo::Count(12))),
            Sizes {
                min: 2,
                max: 12,
                desired: 12
            }
        );
        assert_eq!(s(Change::By(-10)).desired, 0);
        assert_eq!(s(Change::By(2)).desired, 8);
        let exact = Sizes {
            min: 3,
            max: 4,
            desired: 3,
        };
        assert_eq!(s(Change::Restore(exact)), exact);
    }

    #[test]
    fn the_marker_holds_the_sizes_from_before() {
        assert_eq!(parse_marker(&marker_value(BEFORE)), Some(BEFORE));
        assert_eq!(parse_marker("min=1,max=2"), None);
        assert_eq!(parse_marker("min=1,max=2,desired=x"), None);
    }

    #[test]
    fn the_plan_says_how_far_and_that_undo_restores() {
        let p = action(Change::To(ScaleTo::Percent(30))).plan("workers-a");
        assert_eq!(
            p,
            "scale node group workers-a (Auto Scaling group prod-workers-a) to 30% of its desired \
             capacity (rounded up), lowering min (raising max) if needed; wait up to 10m for the \
             instances in service; undo restores min, max and desired"
        );
        let undo = action(Change::To(ScaleTo::Count(1)))
            .inverse(&json!({"min": 2, "max": 10, "desired": 6}))
            .expect("inverse");
        assert_eq!(
            undo.plan("workers-a"),
            "set node group workers-a (Auto Scaling group prod-workers-a) back to min 2, max 10, desired 6"
        );
    }

    proptest::proptest! {
        #![proptest_config(crate::proptests::config())]

        /// Issue #11 point 6: the sizes marker read back from a cloud tag: never a panic, and
        /// what breakglass writes reads back as itself.
        #[test]
        fn sizes_markers_round_trip_and_never_panic(
            min in proptest::prelude::any::<i64>(),
            max in proptest::prelude::any::<i64>(),
            desired in proptest::prelude::any::<i64>(),
            text in "\\PC{0,40}",
        ) {
            let _ = parse_marker(&text);
            let (Ok(min), Ok(max), Ok(desired)) = (min.try_into(), max.try_into(), desired.try_into()) else {
                return Ok(());
            };
            let sizes = Sizes { min, max, desired };
            proptest::prop_assert_eq!(parse_marker(&marker_value(sizes)), Some(sizes));
        }
    }
}
