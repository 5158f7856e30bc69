//! An EKS cluster's public endpoint: a block sets `publicAccessCidrs` to `allow` through
//! `UpdateClusterConfig` (the whole endpoint configuration, since moto replaces
//! `resourcesVpcConfig` with what it is sent), follows the update by id, and reads the cluster
//! back. With the private endpoint enabled, nodes in the VPC reach the API through it, which
//! `publicAccessCidrs` does not govern
//! (<https://docs.aws.amazon.com/eks/latest/APIReference/API_VpcConfigRequest.html>): the
//! preflight says so.

use std::collections::BTreeSet;
use std::time::Duration;

use ipnet::IpNet;
use serde_json::json;

use super::{Block, Change, Marked, Snapshot, markers};
use crate::actions::cloud::{aws_call, follow_update, marker_keys, marker_tags, poll};
use crate::actions::context::Context;
use crate::actions::contract::{ActionFailure, Applied, Preflight};
use crate::transport::cloud::aws::Aws;
use crate::transport::cloud::aws::eks::{EksCluster, EndpointAccess};

/// The access a block sets, and whether it may.
pub(super) fn plan(b: &Block, now: &EndpointAccess) -> (EndpointAccess, Preflight) {
    let mut p = Preflight::default();
    let after = EndpointAccess {
        public: now.public,
        private: now.private,
        public_cidrs: b.allow.iter().map(ToString::to_string).collect(),
    };
    let inside = |a: &IpNet| b.allow.iter().any(|k| k.contains(a));
    if b.allow.is_empty() {
        p.refusals
            .push("`allow` is empty: the public endpoint would answer nobody, you included".into());
    }
    if b.operator.is_empty() {
        p.notes.push(
            "the operator's egress address is unknown (--operator-cidr, or operator_cidrs in the \
             inventory): check that `allow` covers it"
                .into(),
        );
    }
    for o in b.operator.iter().filter(|o| !inside(o)) {
        p.refusals.push(format!(
            "the block would cut the operator's address {o} from the public endpoint: add it to `allow`"
        ));
    }
    for peer in b.peers.iter().filter(|x| !inside(x)) {
        p.refusals.push(format!(
            "the block would cut the control-plane peer {peer} from the public endpoint: add it to `allow`"
        ));
    }
    if !now.public {
        p.notes.push(
            "the public endpoint is off: nobody reaches it now, and the new CIDRs only matter \
             once it is on again"
                .into(),
        );
    }
    if now.private {
        p.notes.push(
            "this cannot stop node traffic: the private endpoint is enabled, so nodes in the VPC \
             reach the API through it, which publicAccessCidrs does not govern. Block on the API \
             servers' side instead (the security group of the cluster's ENIs) or from the nodes: \
             `firewall.block` with `direction = \"egress\"` on the workers drops their \
             connections to the API endpoints (the cluster's node_api_endpoints) and cuts \
             established watches (`-p block_nodes=true` in eks-apiserver-overload)"
                .into(),
        );
    } else {
        p.notes.push(
            "the private endpoint is off: nodes reach the public endpoint from their NAT \
             addresses and are cut too, unless `allow` covers those"
                .into(),
        );
    }
    (after, p)
}

fn describe(aws: &Aws, name: &str) -> Result<EksCluster, ActionFailure> {
    aws_call(aws.describe_cluster(name), false)?.ok_or_else(|| {
        ActionFailure::refused(format!(
            "EKS cluster {name} does not exist in {} (check eks_cluster in [clusters.{}.aws] of \
             the inventory)",
            aws.region(),
            aws.cluster()
        ))
    })
}

/// The same access, whatever the order of the CIDRs.
fn same(a: &EndpointAccess, b: &EndpointAccess) -> bool {
    let set = |x: &EndpointAccess| x.public_cidrs.iter().cloned().collect::<BTreeSet<_>>();
    a.public == b.public && a.private == b.private && set(a) == set(b)
}

fn access_of(m: &Marked) -> Option<(&EndpointAccess, &EndpointAccess)> {
    match &m.change {
        Change::EksEndpoint { before, after } => Some((before, after)),
        _ => None,
    }
}

/// A block's snapshot: the access now and the access the block sets; after an earlier attempt
/// of this run and step (its marker), the access from before it.
pub(super) fn snapshot_block(
    aws: &Aws,
    name: &str,
    b: &Block,
    marker: &str,
) -> Result<Snapshot, ActionFailure> {
    let c = describe(aws, name)?;
    if let Some(m) = markers(&c.tags, true)
        .into_iter()
        .find(|m| m.marker == marker)
        && let Some((before, _)) = access_of(&m)
    {
        return Ok(Snapshot {
            rules: None,
            access: Some(before.clone()),
            now: None,
            changes: vec![m],
        });
    }
    let (after, _) = plan(b, &c.access);
    let changes = if same(&after, &c.access) {
        Vec::new()
    } else {
        vec![Marked {
            marker: marker.to_owned(),
            change: Change::EksEndpoint {
                before: c.access.clone(),
                after,
            },
        }]
    };
    Ok(Snapshot {
        rules: None,
        access: Some(c.access),
        now: None,
        changes,
    })
}

/// An unblock's snapshot: the access now and every block marker on the cluster, oldest first.
pub(super) fn snapshot_markers(aws: &Aws, name: &str) -> Result<Snapshot, ActionFailure> {
    let c = describe(aws, name)?;
    Ok(Snapshot {
        rules: None,
        changes: markers(&c.tags, true),
        access: Some(c.access),
        now: None,
    })
}

/// `; the change sets publicAccessCidrs to ...`, for `plan`.
pub(super) fn describe_changes(changes: &[Marked]) -> String {
    changes
        .last()
        .and_then(access_of)
        .map_or_else(String::new, |(_, after)| {
            format!(
                "; the change sets publicAccessCidrs to {}",
                after.public_cidrs.join(", ")
            )
        })
}

/// The access the changes lead to: the newest block's `after`, or reversed, the oldest's
/// `before`.
fn target(changes: &[Marked], forward: bool) -> Option<&EndpointAccess> {
    if forward {
        changes.last().and_then(access_of).map(|(_, after)| after)
    } else {
        changes
            .first()
            .and_then(access_of)
            .map(|(before, _)| before)
    }
}

/// Makes (or reverses) the changes: markers first, then one update; the update's id.
/// `earlier`: what an earlier attempt's apply journaled (a resumed run): its update to the
/// same access is followed rather than another started, which EKS refuses while one runs.
pub(super) fn apply(
    aws: &Aws,
    name: &str,
    changes: &[Marked],
    forward: bool,
    earlier: Option<&serde_json::Value>,
) -> Result<(Applied, Option<String>), ActionFailure> {
    let c = describe(aws, name)?;
    let Some(want) = target(changes, forward) else {
        return Err(ActionFailure::refused(format!(
            "EKS cluster {name}: the change is not about its endpoint"
        )));
    };
    if forward {
        for m in changes {
            if marker_keys(&c.tags, &m.marker).is_empty() {
                let value = serde_json::to_value(&m.change).map_err(|e| {
                    ActionFailure::refused(format!("cannot encode the marker: {e}"))
                })?;
                for (k, v) in marker_tags(&m.marker, &value)? {
                    aws_call(aws.tag_eks_resource(&c.arn, &k, &v), true)?;
                }
            }
        }
    }
    let under_way = earlier
        .filter(|d| serde_json::to_value(want).is_ok_and(|w| d["after"] == w))
        .and_then(|d| d["update"].as_str());
    let update = match (same(&c.access, want), under_way) {
        (true, _) => None,
        (false, Some(id)) => Some(id.to_owned()),
        (false, None) => aws_call(aws.update_endpoint_access(name, want), true)?,
    };
    if !forward {
        for m in changes {
            for k in marker_keys(&c.tags, &m.marker) {
                aws_call(aws.untag_eks_resource(&c.arn, &k), true)?;
            }
        }
    }
    Ok((
        Applied {
            summary: format!(
                "EKS cluster {name}: publicAccessCidrs {} → {}{}",
                c.access.public_cidrs.join(", "),
                want.public_cidrs.join(", "),
                update
                    .as_deref()
                    .map_or_else(String::new, |u| format!(" (update {u})"))
            ),
            detail: json!({"before": c.access, "after": want, "update": update}),
        },
        update,
    ))
}

/// Follows the update (when EKS gave its id), then reads the cluster back until it is ACTIVE
/// with the access the changes lead to.
pub(super) fn verify(
    cx: &dyn Context,
    aws: &Aws,
    name: &str,
    changes: &[Marked],
    forward: bool,
    update: Option<&str>,
    wait: Duration,
) -> Result<(), ActionFailure> {
    let Some(want) = target(changes, forward) else {
        return Ok(());
    };
    let after = "The change stands and EKS is still applying it: `breakglass resume RUN` waits \
                 again, `breakglass undo RUN` restores the CIDRs from before";
    let started = std::time::Instant::now();
    if let Some(id) = update {
        follow_update(cx, aws, name, id, wait, after)?;
    }
    poll(
        cx,
        wait.saturating_sub(started.elapsed())
            .max(Duration::from_secs(1)),
        &format!("EKS cluster {name}"),
        after,
        || {
            let c = describe(aws, name)?;
            if c.status == "ACTIVE" && same(&c.access, want) {
                return Ok(None);
            }
            if c.status == "ACTIVE" && update.is_some() {
                return Err(ActionFailure::failed(format!(
                    "EKS cluster {name} read back after its update: publicAccessCidrs {}, not {}: \
                     the change did not hold",
                    c.access.public_cidrs.join(", "),
                    want.public_cidrs.join(", ")
                )));
            }
            Ok(Some(format!(
                "status {}, publicAccessCidrs {}",
                c.status,
                c.access.public_cidrs.join(", ")
            )))
        },
    )
}
