//! A GKE cluster's authorized networks: a block sets them to `allow` and the peers (enabled,
//! Google Cloud's public ranges off) through `clusters.update`, follows the Operation until
//! DONE and reads the cluster back. The change is remembered in the cluster's resource labels
//! (`bg-block-HASH-N`, set first, removed last) so `resume` and `unblock` know the networks from
//! before. GKE always lets the cluster's own nodes reach the control plane (and in a private
//! cluster the VPC reaches the private endpoint,
//! <https://cloud.google.com/kubernetes-engine/docs/how-to/authorized-networks>): the preflight
//! says that this lever cannot stop node traffic.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::json;

use super::rules::{operator_check, stem};
use super::{Block, Change, Marked, Now, Snapshot, label_markers, listed, replacing};
use crate::actions::cloud::{gcp_call, marker_labels, poll, without_label_marker};
use crate::actions::context::Context;
use crate::actions::contract::{ActionFailure, Applied, Preflight};
use crate::outcome::Outcome;
use crate::transport::cloud::gcp::Gcp;
use crate::transport::cloud::gcp::firewall::{AuthorizedNetworks, GkeCluster};

/// GKE label values hold at most 63 characters.
const LABEL_VALUE_MAX: usize = 63;

fn get(gcp: &Gcp, location: &str, name: &str) -> Result<GkeCluster, ActionFailure> {
    gcp_call(gcp.get_gke_cluster(location, name), false)?.ok_or_else(|| {
        ActionFailure::refused(format!(
            "GKE cluster {name} does not exist in {location} of project {} (check gke_cluster \
             in [clusters.{}.gcp] of the inventory)",
            gcp.project(),
            gcp.cluster()
        ))
    })
}

/// The same networks, whatever their order and names.
fn same(a: &AuthorizedNetworks, b: &AuthorizedNetworks) -> bool {
    let set = |x: &AuthorizedNetworks| x.cidrs.iter().map(|c| c.0.clone()).collect::<BTreeSet<_>>();
    a.enabled == b.enabled && a.gcp_public == b.gcp_public && set(a) == set(b)
}

fn access_of(m: &Marked) -> Option<(&AuthorizedNetworks, &AuthorizedNetworks)> {
    match &m.change {
        Change::GkeEndpoint { before, after } => Some((before, after)),
        _ => None,
    }
}

/// The block markers in a cluster's labels, oldest first.
fn markers(c: &GkeCluster) -> Vec<Marked> {
    label_markers(&c.labels, |c| matches!(c, Change::GkeEndpoint { .. }))
}

pub(super) fn snapshot_block(
    gcp: &Gcp,
    location: &str,
    name: &str,
    b: &Block,
    marker: &str,
) -> Result<Snapshot, ActionFailure> {
    let c = get(gcp, location, name)?;
    let earlier = markers(&c)
        .into_iter()
        .find(|m| m.marker == marker)
        .and_then(|m| Some((m.clone(), access_of(&m)?.0.clone())));
    let after = AuthorizedNetworks {
        enabled: true,
        cidrs: b
            .allow
            .iter()
            .chain(&b.peers)
            .map(|n| (n.to_string(), "breakglass block".to_owned()))
            .collect(),
        gcp_public: false,
    };
    Ok(replacing(
        marker,
        earlier,
        c.access.clone(),
        after,
        same,
        |before, after| Change::GkeEndpoint { before, after },
        |access| Now::Gke {
            access,
            private_nodes: c.private_nodes,
        },
    ))
}

pub(super) fn snapshot_markers(
    gcp: &Gcp,
    location: &str,
    name: &str,
) -> Result<Snapshot, ActionFailure> {
    let c = get(gcp, location, name)?;
    Ok(Snapshot {
        changes: markers(&c),
        now: Some(Now::Gke {
            access: c.access,
            private_nodes: c.private_nodes,
        }),
        ..Snapshot::default()
    })
}

pub(super) fn preflight(b: &Block, now: &AuthorizedNetworks, private_nodes: bool) -> Preflight {
    let mut p = operator_check(b);
    p.notes.push(if private_nodes {
        "this cannot stop node traffic: a private cluster's nodes (and everything in its VPC) \
         reach the control plane's private endpoint, which authorized networks do not govern; \
         stop it from the nodes instead"
            .into()
    } else {
        "this cannot stop node traffic: GKE lets the cluster's own nodes reach the control plane \
         whatever the authorized networks say; stop it from the nodes instead"
            .into()
    });
    if now.gcp_public {
        p.notes.push(
            "Google Cloud's public addresses may reach the endpoint now \
             (gcpPublicCidrsAccessEnabled): the block turns that off, undo turns it on again"
                .into(),
        );
    }
    p.notes.push(
        "connections already open to the endpoint stay until they close; only new ones are \
         checked against the authorized networks"
            .into(),
    );
    p
}

/// `; the change sets the authorized networks to ...`, for `plan`.
pub(super) fn describe_changes(changes: &[Marked]) -> String {
    changes
        .last()
        .and_then(access_of)
        .map_or_else(String::new, |(_, after)| {
            let cidrs: Vec<&String> = after.cidrs.iter().map(|c| &c.0).collect();
            format!(
                "; the change sets the authorized networks to {}",
                listed(&cidrs)
            )
        })
}

/// The networks the changes lead to: the newest block's `after`, or reversed, the oldest's
/// `before`.
fn target(changes: &[Marked], forward: bool) -> Option<&AuthorizedNetworks> {
    if forward {
        changes.last().and_then(access_of).map(|(_, a)| a)
    } else {
        changes.first().and_then(access_of).map(|(b, _)| b)
    }
}

fn pending(name: &str, what: &str, wait: Duration) -> ActionFailure {
    ActionFailure {
        outcome: Outcome::Pending,
        message: format!(
            "GKE cluster {name}: {what} not DONE after {}. The change stands and GKE is still \
             applying it: `breakglass resume RUN` waits again, `breakglass undo RUN` restores the \
             networks from before",
            humantime::format_duration(Duration::from_secs(wait.as_secs()))
        ),
        never_ran: false,
    }
}

/// Labels first (forward), then the networks, then labels removed (reversed); each Operation
/// followed until DONE or the step's wait.
pub(super) fn apply(
    gcp: &Gcp,
    location: &str,
    name: &str,
    changes: &[Marked],
    forward: bool,
    wait: Duration,
) -> Result<Applied, ActionFailure> {
    let until = Instant::now() + wait;
    // GKE runs one operation at a time: one under way (an earlier attempt's, or anyone's) is
    // waited for before deciding what to send.
    let mut c = get(gcp, location, name)?;
    while c.status == "RECONCILING" && Instant::now() < until {
        std::thread::sleep(Duration::from_secs(1).min(until - Instant::now()));
        c = get(gcp, location, name)?;
    }
    if c.status == "RECONCILING" {
        return Err(pending(name, "the operation under way", wait));
    }
    let Some(want) = target(changes, forward) else {
        return Err(ActionFailure::refused(format!(
            "GKE cluster {name}: the change is not about its authorized networks"
        )));
    };
    let mine = markers(&c);
    if forward {
        let mut labels = c.labels.clone();
        for m in changes
            .iter()
            .filter(|m| !mine.iter().any(|x| x.marker == m.marker))
        {
            let value = serde_json::to_value(m)
                .map_err(|e| ActionFailure::refused(format!("cannot encode the marker: {e}")))?;
            labels.extend(marker_labels(&stem(&m.marker), &value, LABEL_VALUE_MAX)?);
        }
        if labels != c.labels
            && !gcp_call(
                gcp.set_cluster_labels(location, name, &labels, &c.label_fingerprint, until),
                true,
            )?
        {
            return Err(pending(
                name,
                "setting the labels that remember the block",
                wait,
            ));
        }
    }
    if !same(&c.access, want)
        && !gcp_call(
            gcp.set_authorized_networks(location, name, want, until),
            true,
        )?
    {
        return Err(pending(name, "the authorized networks' update", wait));
    }
    if !forward {
        let c = get(gcp, location, name)?;
        let mut labels = c.labels.clone();
        for m in changes {
            labels = without_label_marker(&labels, &stem(&m.marker));
        }
        if labels != c.labels
            && !gcp_call(
                gcp.set_cluster_labels(location, name, &labels, &c.label_fingerprint, until),
                true,
            )?
        {
            return Err(pending(name, "removing the block's labels", wait));
        }
    }
    let show = |a: &AuthorizedNetworks| {
        if a.enabled {
            listed(&a.cidrs.iter().map(|c| &c.0).collect::<Vec<_>>())
        } else {
            "off (every address)".to_owned()
        }
    };
    Ok(Applied {
        summary: format!(
            "GKE cluster {name}: authorized networks {} → {}",
            show(&c.access),
            show(want)
        ),
        detail: json!({"before": c.access, "after": want}),
    })
}

/// Reads the cluster back until it is RUNNING with the networks the changes lead to.
pub(super) fn verify(
    cx: &dyn Context,
    gcp: &Gcp,
    location: &str,
    name: &str,
    changes: &[Marked],
    forward: bool,
    wait: Duration,
) -> Result<(), ActionFailure> {
    let Some(want) = target(changes, forward) else {
        return Ok(());
    };
    poll(
        cx,
        wait,
        &format!("GKE cluster {name}"),
        "The change stands and GKE is still applying it: `breakglass resume RUN` waits again, \
         `breakglass undo RUN` restores the networks from before",
        || {
            let c = get(gcp, location, name)?;
            match (c.status == "RUNNING", same(&c.access, want)) {
                (true, true) => Ok(None),
                (true, false) => Err(ActionFailure::failed(format!(
                    "GKE cluster {name} read back: authorized networks {}, not {}: the change \
                     did not hold",
                    listed(&c.access.cidrs.iter().map(|c| &c.0).collect::<Vec<_>>()),
                    listed(&want.cidrs.iter().map(|c| &c.0).collect::<Vec<_>>())
                ))),
                (false, _) => Ok(Some(format!("status {}", c.status))),
            }
        },
    )
}
