//! An AKS cluster's `apiServerAccessProfile.authorizedIPRanges`: a block sets them to `allow`
//! and the peers with one PUT of the cluster as read (its tags carrying the marker,
//! `bg-block-HASH-N`, in the same request), follows `Azure-AsyncOperation` to the end and
//! reads the cluster back. AKS always lets the cluster's own outbound IP through
//! (<https://learn.microsoft.com/azure/aks/api-server-authorized-ip-ranges>), so this cannot
//! stop node traffic; a private cluster has no public endpoint to restrict, which is refused.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::json;

use super::rules::{operator_check, stem};
use super::{Block, Change, Marked, Now, Snapshot, label_markers, listed, replacing};
use crate::actions::cloud::{azure_call, marker_labels, poll, without_label_marker};
use crate::actions::context::Context;
use crate::actions::contract::{ActionFailure, Applied, Preflight};
use crate::outcome::Outcome;
use crate::transport::cloud::azure::Azure;
use crate::transport::cloud::azure::network::AksCluster;

/// Azure tag values hold at most 256 characters.
const TAG_VALUE_MAX: usize = 256;

fn get(azure: &Azure, rg: &str, name: &str) -> Result<AksCluster, ActionFailure> {
    azure_call(azure.get_aks(rg, name), false)?.ok_or_else(|| {
        ActionFailure::refused(format!(
            "AKS cluster {rg}/{name} does not exist in subscription {} (check aks_cluster in \
             [clusters.{}.azure] of the inventory)",
            azure.subscription(),
            azure.cluster()
        ))
    })
}

fn same(a: &[String], b: &[String]) -> bool {
    a.iter().collect::<BTreeSet<_>>() == b.iter().collect::<BTreeSet<_>>()
}

fn ranges_of(m: &Marked) -> Option<(&[String], &[String])> {
    match &m.change {
        Change::AksEndpoint { before, after } => Some((before, after)),
        _ => None,
    }
}

fn markers(c: &AksCluster) -> Vec<Marked> {
    label_markers(&c.tags, |c| matches!(c, Change::AksEndpoint { .. }))
}

fn show(ranges: &[String]) -> String {
    if ranges.is_empty() {
        "none (every address)".into()
    } else {
        listed(ranges)
    }
}

pub(super) fn snapshot_block(
    azure: &Azure,
    rg: &str,
    name: &str,
    b: &Block,
    marker: &str,
) -> Result<Snapshot, ActionFailure> {
    let c = get(azure, rg, name)?;
    let earlier = markers(&c)
        .into_iter()
        .find(|m| m.marker == marker)
        .and_then(|m| Some((m.clone(), ranges_of(&m)?.0.to_vec())));
    let after: Vec<String> = b
        .allow
        .iter()
        .chain(&b.peers)
        .map(ToString::to_string)
        .collect();
    Ok(replacing(
        marker,
        earlier,
        c.ranges.clone(),
        after,
        |a, b| same(a, b),
        |before, after| Change::AksEndpoint { before, after },
        |ranges| Now::Aks {
            ranges,
            private: c.private,
        },
    ))
}

pub(super) fn snapshot_markers(
    azure: &Azure,
    rg: &str,
    name: &str,
) -> Result<Snapshot, ActionFailure> {
    let c = get(azure, rg, name)?;
    Ok(Snapshot {
        changes: markers(&c),
        now: Some(Now::Aks {
            ranges: c.ranges,
            private: c.private,
        }),
        ..Snapshot::default()
    })
}

pub(super) fn preflight(b: &Block, private: bool) -> Preflight {
    let mut p = operator_check(b);
    if private {
        p.refusals.push(
            "this is a private AKS cluster: its API server has no public endpoint, and \
             authorized IP ranges do not apply to it. Block on the API servers' network or from \
             the nodes instead"
                .into(),
        );
    }
    p.notes.push(
        "this cannot stop node traffic: AKS always lets the cluster's own outbound IP (its \
         nodes' egress) reach the API server; stop it from the nodes instead"
            .into(),
    );
    p.notes.push(
        "connections already open stay until they close, and new ranges take up to 2 minutes to \
         apply everywhere"
            .into(),
    );
    p
}

/// `; the change sets authorizedIPRanges to ...`, for `plan`.
pub(super) fn describe_changes(changes: &[Marked]) -> String {
    changes
        .last()
        .and_then(ranges_of)
        .map_or_else(String::new, |(_, after)| {
            format!("; the change sets authorizedIPRanges to {}", show(after))
        })
}

fn target(changes: &[Marked], forward: bool) -> Option<&[String]> {
    if forward {
        changes.last().and_then(ranges_of).map(|(_, a)| a)
    } else {
        changes.first().and_then(ranges_of).map(|(b, _)| b)
    }
}

/// One PUT: the ranges the changes lead to, and the tags with the markers added (removed).
pub(super) fn apply(
    azure: &Azure,
    rg: &str,
    name: &str,
    changes: &[Marked],
    forward: bool,
    wait: Duration,
) -> Result<Applied, ActionFailure> {
    let until = Instant::now() + wait;
    // AKS runs one operation at a time: an update under way (an earlier attempt's, or
    // anyone's) is waited for before deciding what to send.
    let mut c = get(azure, rg, name)?;
    while c.state != "Succeeded" && Instant::now() < until {
        std::thread::sleep(Duration::from_secs(1).min(until - Instant::now()));
        c = get(azure, rg, name)?;
    }
    let Some(want) = target(changes, forward) else {
        return Err(ActionFailure::refused(format!(
            "AKS cluster {name}: the change is not about its authorized IP ranges"
        )));
    };
    let mine = markers(&c);
    let mut tags = c.tags.clone();
    for m in changes {
        let s = stem(&m.marker);
        if !forward {
            tags = without_label_marker(&tags, &s);
        } else if !mine.iter().any(|x| x.marker == m.marker) {
            let value = serde_json::to_value(m)
                .map_err(|e| ActionFailure::refused(format!("cannot encode the marker: {e}")))?;
            tags.extend(marker_labels(&s, &value, TAG_VALUE_MAX)?);
        }
    }
    let busy = c.state != "Succeeded";
    if busy
        || ((!same(&c.ranges, want) || tags != c.tags)
            && !azure_call(azure.set_aks_access(rg, name, &c, want, &tags, until), true)?)
    {
        return Err(ActionFailure {
            outcome: Outcome::Pending,
            message: format!(
                "AKS cluster {rg}/{name}: the update of authorizedIPRanges not done after {} \
                 (provisioningState {}). The change stands and Azure is still applying it: \
                 `breakglass resume RUN` waits again, `breakglass undo RUN` restores the ranges \
                 from before",
                humantime::format_duration(Duration::from_secs(wait.as_secs())),
                if busy { c.state.as_str() } else { "Updating" }
            ),
            never_ran: false,
        });
    }
    Ok(Applied {
        summary: format!(
            "AKS cluster {rg}/{name}: authorizedIPRanges {} → {}",
            show(&c.ranges),
            show(want)
        ),
        detail: json!({"before": c.ranges, "after": want}),
    })
}

pub(super) fn verify(
    cx: &dyn Context,
    azure: &Azure,
    rg: &str,
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
        &format!("AKS cluster {rg}/{name}"),
        "The change stands and Azure is still applying it: `breakglass resume RUN` waits again, \
         `breakglass undo RUN` restores the ranges from before",
        || {
            let c = get(azure, rg, name)?;
            match (c.state == "Succeeded", same(&c.ranges, want)) {
                (true, true) => Ok(None),
                (true, false) => Err(ActionFailure::failed(format!(
                    "AKS cluster {rg}/{name} read back: authorizedIPRanges {}, not {}: the \
                     change did not hold",
                    show(&c.ranges),
                    show(want)
                ))),
                (false, _) => Ok(Some(format!("provisioningState {}", c.state))),
            }
        },
    )
}
