//! One-line words for results: what happened on a target (`exit 1`, `unreachable: ...`,
//! `ok: stopped 3 pods`) and the tally after a run. Rendering only: the engine reports typed
//! events and never formats them for people.

use crate::engine::{Summary, TargetResult};
use crate::outcome::Outcome;

/// One human line saying what happened, e.g. `exit 1`, `unreachable: connection refused`.
pub fn describe(r: &TargetResult) -> String {
    match r.outcome {
        Outcome::Ok => match &r.summary {
            Some(s) => format!("ok: {s}"),
            None => "ok".into(),
        },
        Outcome::Failed => match (&r.signal, r.exit_status) {
            (Some(sig), _) => format!("killed by signal {sig}"),
            (None, Some(s)) => match &r.reason {
                Some(r) => format!("exit {s}: {r}"),
                None => format!("exit {s}"),
            },
            (None, None) => {
                format!("failed: {}", r.reason.as_deref().unwrap_or("no detail"))
            }
        },
        Outcome::TimedOut => {
            let phase = r.phase.as_deref().unwrap_or("unknown phase");
            match &r.reason {
                // For a command: what became of it on the node.
                Some(reason) => format!("timed out ({phase}): {reason}"),
                None => format!("timed out ({phase})"),
            }
        }
        Outcome::Refused => {
            let mut s = format!(
                "host key refused: {}",
                r.reason.as_deref().unwrap_or("not trusted")
            );
            if let Some(p) = &r.presented_host_key {
                s.push_str(&format!("; presented {p}"));
            }
            if let Some(e) = &r.expected_host_key {
                s.push_str(&format!("; expected {e}"));
            }
            s
        }
        other => format!(
            "{}: {}",
            other.label().replace('_', " "),
            r.reason.as_deref().unwrap_or("no detail")
        ),
    }
}

/// The one-line tally printed after folded output.
pub fn tally(s: &Summary) -> String {
    let mut parts = vec![
        format!("{} ok", s.ok),
        format!("{} failed", s.failed),
        format!("{} unreachable", s.unreachable),
        format!("{} timed out", s.timed_out),
        format!("{} refused", s.refused),
    ];
    if s.auth_failed > 0 {
        parts.push(format!("{} auth failed", s.auth_failed));
    }
    if s.error > 0 {
        parts.push(format!("{} error", s.error));
    }
    for (n, what) in [
        (s.in_doubt, "in doubt"),
        (s.throttled, "throttled"),
        (s.conflict, "conflict"),
        (s.pending, "pending"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    if s.not_started > 0 {
        parts.push(format!("{} not started", s.not_started));
    }
    format!(
        "{} host{} in {:.1}s: {}{}",
        s.total,
        if s.total == 1 { "" } else { "s" },
        s.elapsed_ms / 1000.0,
        parts.join(", "),
        if s.interrupted { " (interrupted)" } else { "" }
    )
}
