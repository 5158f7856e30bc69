//! What the actions that act through a cloud provider's API share: a call's error as a
//! target's outcome, following an asynchronous change to completion (polling with progress
//! until the step's `wait`, then `pending`), EKS updates by id, and the marker tags that
//! remember on the resource itself what a run changed (so a resumed run, which snapshots again,
//! and `cloud.firewall.unblock`, which has no journal, still know the state from before).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use super::api::call;
use super::context::Context;
use super::contract::ActionFailure;
use crate::outcome::Outcome;
use crate::transport::cloud::aws::{Aws, AwsError};
use crate::transport::cloud::azure::AzureError;
use crate::transport::cloud::gcp::GcpError;

/// Runs an AWS call on the engine's worker; its error as the target's outcome. `changing`: the
/// call changes something, so one lost on the way may have happened.
pub fn aws_call<T>(
    f: impl std::future::Future<Output = Result<T, AwsError>>,
    changing: bool,
) -> Result<T, ActionFailure> {
    call(f)?.map_err(|e| {
        let outcome = match &e {
            AwsError::Unreachable(_) => Outcome::Unreachable,
            AwsError::AuthFailed { .. } | AwsError::Denied { .. } | AwsError::Credentials(_) => {
                Outcome::AuthFailed
            }
            AwsError::Throttled { .. } => Outcome::Throttled,
            AwsError::Protocol { .. } => Outcome::Error,
            AwsError::Config(_) | AwsError::Budget(_) | AwsError::Api { .. } => Outcome::Failed,
        };
        ActionFailure {
            outcome,
            message: e.to_string(),
            never_ran: !changing
                || !matches!(e, AwsError::Unreachable(_) | AwsError::Protocol { .. }),
        }
    })
}

/// Runs a GCP call on the engine's worker; its error as the target's outcome.
pub fn gcp_call<T>(
    f: impl std::future::Future<Output = Result<T, GcpError>>,
    changing: bool,
) -> Result<T, ActionFailure> {
    call(f)?.map_err(|e| {
        let outcome = match &e {
            GcpError::Unreachable(_) => Outcome::Unreachable,
            GcpError::AuthFailed { .. } | GcpError::Denied { .. } | GcpError::Credentials(_) => {
                Outcome::AuthFailed
            }
            GcpError::Throttled { .. } => Outcome::Throttled,
            GcpError::Protocol { .. } => Outcome::Error,
            GcpError::Config(_) | GcpError::Budget(_) | GcpError::Api { .. } => Outcome::Failed,
        };
        ActionFailure {
            outcome,
            message: e.to_string(),
            never_ran: !changing
                || !matches!(e, GcpError::Unreachable(_) | GcpError::Protocol { .. }),
        }
    })
}

/// Runs an Azure call on the engine's worker; its error as the target's outcome.
pub fn azure_call<T>(
    f: impl std::future::Future<Output = Result<T, AzureError>>,
    changing: bool,
) -> Result<T, ActionFailure> {
    call(f)?.map_err(|e| {
        let outcome = match &e {
            AzureError::Unreachable(_) => Outcome::Unreachable,
            AzureError::AuthFailed { .. }
            | AzureError::Denied { .. }
            | AzureError::Credentials(_) => Outcome::AuthFailed,
            AzureError::Throttled { .. } => Outcome::Throttled,
            AzureError::Protocol { .. } => Outcome::Error,
            AzureError::Config(_) | AzureError::Budget(_) | AzureError::Api { .. } => {
                Outcome::Failed
            }
        };
        ActionFailure {
            outcome,
            message: e.to_string(),
            never_ran: !changing
                || !matches!(e, AzureError::Unreachable(_) | AzureError::Protocol { .. }),
        }
    })
}

/// Polls `check` until it reports done (`None`); `Some(state)` is how far it got, shown to the
/// operator when it changes. Past `wait` (or on Ctrl-C) the target is `pending`: "`subject` not
/// done after 5m: `state`. `after`". A `wait` of zero checks once.
///
/// Polls often enough to notice within a few percent of the wait, never more than every 10 s
/// nor less than every 200 ms: a handful of requests a minute per target.
pub fn poll(
    cx: &dyn Context,
    wait: Duration,
    subject: &str,
    after: &str,
    mut check: impl FnMut() -> Result<Option<String>, ActionFailure>,
) -> Result<(), ActionFailure> {
    let started = Instant::now();
    let deadline = started + wait;
    let every = (wait / 30).clamp(Duration::from_millis(200), Duration::from_secs(10));
    let mut last_said = String::new();
    loop {
        let Some(state) = check()? else {
            return Ok(());
        };
        if wait.is_zero() {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline || cx.cancel().is_cancelled() {
            return Err(ActionFailure {
                outcome: Outcome::Pending,
                message: format!(
                    "{subject} not done after {}: {state}. {after}",
                    humantime::format_duration(Duration::from_secs(started.elapsed().as_secs()))
                ),
                never_ran: false,
            });
        }
        if state != last_said {
            cx.notice(&format!(
                "{subject}: {state} ({}s left)",
                (deadline - now).as_secs()
            ));
            last_said = state;
        }
        std::thread::sleep(every.min(deadline - now));
    }
}

/// Follows EKS update `id` of cluster `eks` with `DescribeUpdate` until it is `Successful`;
/// `Failed` or `Cancelled` fail the target with the update's errors; past `wait`, `pending`.
pub fn follow_update(
    cx: &dyn Context,
    aws: &Aws,
    eks: &str,
    id: &str,
    wait: Duration,
    after: &str,
) -> Result<(), ActionFailure> {
    poll(
        cx,
        wait,
        &format!("EKS cluster {eks}: update {id}"),
        after,
        || {
            let u = aws_call(aws.describe_update(eks, id), false)?;
            match u.status.as_str() {
                "Successful" => Ok(None),
                "InProgress" => Ok(Some(format!("status {}", u.status))),
                other => Err(ActionFailure::failed(format!(
                    "EKS cluster {eks}: update {id} ended {other}{}",
                    if u.errors.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", u.errors.join("; "))
                    }
                ))),
            }
        },
    )
}

/// Tag values hold at most 256 characters on EC2 and EKS.
const TAG_VALUE_MAX: usize = 256;
/// Chunks one marker may take (both services allow 50 tags per resource).
const MARKER_CHUNKS_MAX: usize = 20;

/// The tags that carry `value` under `prefix`: its JSON in base64 (the characters every
/// service accepts in tag values), in chunks `PREFIX/0`, `PREFIX/1`, ...
pub fn marker_tags(prefix: &str, value: &Value) -> Result<Vec<(String, String)>, ActionFailure> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(value.to_string());
    let chunks: Vec<&[u8]> = encoded.as_bytes().chunks(TAG_VALUE_MAX).collect();
    if chunks.len() > MARKER_CHUNKS_MAX {
        return Err(ActionFailure::refused(format!(
            "what this step changes is too large to remember in tags ({} characters): change \
             fewer rules per step",
            encoded.len()
        )));
    }
    Ok(chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                format!("{prefix}/{i}"),
                String::from_utf8_lossy(c).into_owned(),
            )
        })
        .collect())
}

/// The markers among `tags` whose prefix starts with `family`, by prefix, decoded. A marker
/// whose chunks do not decode is left out (a hand-edited tag must not break a restore of the
/// others).
pub fn read_markers(tags: &BTreeMap<String, String>, family: &str) -> BTreeMap<String, Value> {
    let mut chunks: BTreeMap<String, BTreeMap<usize, &str>> = BTreeMap::new();
    for (k, v) in tags {
        if let Some((prefix, i)) = k.rsplit_once('/')
            && prefix.starts_with(family)
            && let Ok(i) = i.parse::<usize>()
        {
            chunks
                .entry(prefix.to_owned())
                .or_default()
                .insert(i, v.as_str());
        }
    }
    chunks
        .into_iter()
        .filter_map(|(prefix, parts)| {
            // Chunks 0..n, none missing.
            if parts.keys().copied().ne(0..parts.len()) {
                return None;
            }
            let joined: String = parts.into_values().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(joined)
                .ok()?;
            Some((prefix, serde_json::from_slice(&bytes).ok()?))
        })
        .collect()
}

/// The keys of the marker `prefix` among `tags`.
pub fn marker_keys(tags: &BTreeMap<String, String>, prefix: &str) -> Vec<String> {
    tags.keys()
        .filter(|k| {
            k.rsplit_once('/')
                .is_some_and(|(p, i)| p == prefix && i.parse::<usize>().is_ok())
        })
        .cloned()
        .collect()
}

/// The labels that carry `value` under `stem` where keys and values take only lower-case
/// letters, digits, `-` and `_` (GKE resource labels, values of at most 63 characters;
/// <https://cloud.google.com/kubernetes-engine/docs/how-to/creating-managing-labels#requirements>)
/// or where `/` is not allowed in a key (Azure tags): its JSON in hex, in chunks `STEM-0`,
/// `STEM-1`, ... of at most `chunk` characters.
pub fn marker_labels(
    stem: &str,
    value: &Value,
    chunk: usize,
) -> Result<Vec<(String, String)>, ActionFailure> {
    let encoded = hex::encode(value.to_string());
    let chunks: Vec<&[u8]> = encoded.as_bytes().chunks(chunk).collect();
    if chunks.len() > MARKER_CHUNKS_MAX {
        return Err(ActionFailure::refused(format!(
            "what this step changes is too large to remember in labels ({} characters): list \
             fewer ranges",
            encoded.len()
        )));
    }
    Ok(chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                format!("{stem}-{i}"),
                String::from_utf8_lossy(c).into_owned(),
            )
        })
        .collect())
}

/// The markers among `labels` whose stem starts with `family`, by stem, decoded (a marker
/// whose chunks do not decode is left out).
pub fn read_label_markers(
    labels: &BTreeMap<String, String>,
    family: &str,
) -> BTreeMap<String, Value> {
    let mut chunks: BTreeMap<String, BTreeMap<usize, &str>> = BTreeMap::new();
    for (k, v) in labels {
        if let Some((stem, i)) = k.rsplit_once('-')
            && stem.starts_with(family)
            && let Ok(i) = i.parse::<usize>()
        {
            chunks
                .entry(stem.to_owned())
                .or_default()
                .insert(i, v.as_str());
        }
    }
    chunks
        .into_iter()
        .filter_map(|(stem, parts)| {
            if parts.keys().copied().ne(0..parts.len()) {
                return None;
            }
            let joined: String = parts.into_values().collect();
            let bytes = hex::decode(joined).ok()?;
            Some((stem, serde_json::from_slice(&bytes).ok()?))
        })
        .collect()
}

/// `labels` without the marker `stem`'s.
pub fn without_label_marker(
    labels: &BTreeMap<String, String>,
    stem: &str,
) -> BTreeMap<String, String> {
    labels
        .iter()
        .filter(|(k, _)| {
            !k.rsplit_once('-')
                .is_some_and(|(s, i)| s == stem && i.parse::<usize>().is_ok())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_label_marker_survives_its_chunks_and_goes_away_whole() {
        let value = json!({"marker": "breakglass/block/r1/s1", "before": ["0.0.0.0/0"]});
        let labels = marker_labels("bg-block-abc", &value, 63).expect("labels");
        assert!(labels.iter().all(|(k, v)| {
            v.len() <= 63
                && k.starts_with("bg-block-abc-")
                && v.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        }));
        let mut on: BTreeMap<String, String> = labels.into_iter().collect();
        on.insert("team".into(), "sre".into());
        assert_eq!(read_label_markers(&on, "bg-block-")["bg-block-abc"], value);
        let rest = without_label_marker(&on, "bg-block-abc");
        assert_eq!(rest.keys().collect::<Vec<_>>(), ["team"]);
    }

    #[test]
    fn a_marker_survives_its_chunks() {
        let value = json!({"revoke": ["x".repeat(600)], "add": []});
        let tags = marker_tags("breakglass/block/r1/s1", &value).expect("tags");
        assert_eq!(tags.len(), 4, "800-odd characters in chunks of 256");
        assert!(tags.iter().all(|(_, v)| v.len() <= 256));
        let mut on_resource: BTreeMap<String, String> = tags.into_iter().collect();
        on_resource.insert("team".into(), "sre".into());
        on_resource.insert("breakglass/block/r2/s1/0".into(), "not base64!".into());
        let read = read_markers(&on_resource, "breakglass/block/");
        assert_eq!(read.len(), 1);
        assert_eq!(read["breakglass/block/r1/s1"], value);
        assert_eq!(marker_keys(&on_resource, "breakglass/block/r1/s1").len(), 4);
        // A chunk missing: not a marker.
        on_resource.remove("breakglass/block/r1/s1/1");
        assert!(read_markers(&on_resource, "breakglass/block/").is_empty());
    }
}
