//! Typed outcomes, statuses and modes: what happened on one target, how a step or a run ended,
//! and whether a result applied a change or undid one. A leaf module: everything may import it,
//! it imports nothing of ours.
//!
//! On the wire (`--output json`) and in journals each is its `snake_case` label, exactly the
//! strings documented in `engine/event.rs`; in code they are enums, so a typo is a compile error
//! and the retry rule is a method ([`Outcome::retryable`]), not a string match.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What happened on one target. The detail (exit status, signal, phase, reason, host keys)
/// travels beside it in the event; this is the kind, the one thing tallies and policy branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The change (or command) succeeded.
    #[default]
    Ok,
    /// It ran and said no: a non-zero exit status or a signal, or an action's own check failed.
    Failed,
    /// Nothing could be reached (TCP refused, no route, connection lost before anything ran).
    Unreachable,
    /// A deadline passed; the event's `phase` says where (`connect` or `command`).
    TimedOut,
    /// No offered credential was accepted.
    AuthFailed,
    /// The peer's identity was refused (an unknown or changed host key, a TLS name mismatch).
    Refused,
    /// Anything else the transport reported (protocol error, connection lost mid-command).
    Error,
    /// `resume` did not run a step that is not idempotent again on a target an earlier attempt
    /// was cut off changing: it may already have happened.
    InDoubt,
    /// The far side asked us to slow down (HTTP 429, cloud throttling) and the deadline came
    /// before it let us in.
    Throttled,
    /// The target changed since the snapshot (a precondition or revision guard refused).
    Conflict,
    /// Accepted but not yet done (an asynchronous cloud operation still running at its deadline).
    Pending,
}

impl Outcome {
    /// Every outcome, in tally order.
    pub const ALL: [Outcome; 11] = [
        Outcome::Ok,
        Outcome::Failed,
        Outcome::Unreachable,
        Outcome::TimedOut,
        Outcome::AuthFailed,
        Outcome::Refused,
        Outcome::Error,
        Outcome::InDoubt,
        Outcome::Throttled,
        Outcome::Conflict,
        Outcome::Pending,
    ];

    /// The label used in JSON, journals and tallies.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Unreachable => "unreachable",
            Outcome::TimedOut => "timed_out",
            Outcome::AuthFailed => "auth_failed",
            Outcome::Refused => "refused",
            Outcome::Error => "error",
            Outcome::InDoubt => "in_doubt",
            Outcome::Throttled => "throttled",
            Outcome::Conflict => "conflict",
            Outcome::Pending => "pending",
        }
    }

    pub fn is_ok(self) -> bool {
        self == Outcome::Ok
    }

    /// A failure of the way to the target rather than an answer from it: worth another attempt
    /// when the rule in [`Outcome::retryable`] allows.
    pub fn is_transport(self) -> bool {
        matches!(
            self,
            Outcome::Unreachable | Outcome::TimedOut | Outcome::Error | Outcome::Throttled
        )
    }

    /// The retry rule: only a transport failure is tried again, and only when nothing can have
    /// run (`never_ran`) or running twice is the same as once (`idempotent`). An answer from the
    /// target (failed, refused, auth failed, conflict) would answer the same again, and an
    /// in-doubt target is the operator's to check.
    pub fn retryable(self, never_ran: bool, idempotent: bool) -> bool {
        self.is_transport() && (never_ran || idempotent)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The label back to the outcome (`"timed_out".parse()`).
impl std::str::FromStr for Outcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Outcome, String> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.label() == s)
            .ok_or_else(|| format!("unknown outcome '{s}'"))
    }
}

/// Lets tests and callers compare with the documented label (`r.outcome == "ok"`).
impl PartialEq<&str> for Outcome {
    fn eq(&self, other: &&str) -> bool {
        self.label() == *other
    }
}

/// Whether a target result applied a step or undid it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Apply,
    Undo,
    /// `confirm` stopping a firewall step's dead-man timer.
    Confirm,
}

/// How a step ended (`step_end.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Every wave ran within its failure budget.
    Completed,
    /// A wave went over its budget and the step's policy was `continue`.
    Failed,
    /// Stopped by policy: a budget, a gate, a declined confirmation or pause.
    Stopped,
    /// Ctrl-C.
    Interrupted,
    /// `undo` restored every target of the step.
    Undone,
    /// `undo` could not restore some targets.
    UndoFailed,
    /// Not run: a fallback (`run_if_unreachable`) whose step reached its targets.
    Skipped,
}

impl StepStatus {
    pub fn label(self) -> &'static str {
        match self {
            StepStatus::Completed => "completed",
            StepStatus::Failed => "failed",
            StepStatus::Stopped => "stopped",
            StepStatus::Interrupted => "interrupted",
            StepStatus::Undone => "undone",
            StepStatus::UndoFailed => "undo_failed",
            StepStatus::Skipped => "skipped",
        }
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// How a run ended (`run_end.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every step ran (some targets may have failed: see the exit code).
    Completed,
    /// Stopped by policy (exit 3).
    Stopped,
    /// Ctrl-C (exit 130).
    Interrupted,
    /// `undo` restored every target the run changed that can be restored (appended after the
    /// run's own end by `undo`).
    Undone,
    /// `undo` restored some of them: a `--step` undo, failures, or an interrupted undo.
    PartlyUndone,
}

impl RunStatus {
    pub fn label(self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Stopped => "stopped",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Undone => "undone",
            RunStatus::PartlyUndone => "partly_undone",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_the_documented_json_strings() {
        for o in Outcome::ALL {
            let json = serde_json::to_value(o).expect("serialize");
            assert_eq!(json, serde_json::Value::from(o.label()));
            let back: Outcome = serde_json::from_value(json).expect("deserialize");
            assert_eq!(back, o);
        }
        for s in [
            StepStatus::Completed,
            StepStatus::Failed,
            StepStatus::Stopped,
            StepStatus::Interrupted,
            StepStatus::Undone,
            StepStatus::UndoFailed,
        ] {
            assert_eq!(
                serde_json::to_value(s).expect("serialize"),
                serde_json::Value::from(s.label())
            );
        }
        assert_eq!(
            serde_json::to_value(Mode::Undo).expect("serialize"),
            serde_json::Value::from("undo")
        );
    }

    #[test]
    fn only_transport_failures_are_retried_and_only_when_nothing_can_run_twice() {
        for o in [Outcome::Unreachable, Outcome::TimedOut, Outcome::Error] {
            assert!(o.retryable(true, false), "{o}");
            assert!(o.retryable(false, true), "{o}");
            assert!(!o.retryable(false, false), "{o}");
        }
        for o in [
            Outcome::Ok,
            Outcome::Failed,
            Outcome::AuthFailed,
            Outcome::Refused,
            Outcome::InDoubt,
            Outcome::Conflict,
        ] {
            assert!(!o.retryable(true, true), "{o}");
        }
    }
}
