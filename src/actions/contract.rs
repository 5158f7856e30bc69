//! The Action contract every action kind implements (ARCHITECTURE.md, "The Action contract"):
//! plan, snapshot, apply, verify, inverse.
//!
//! Actions are blocking and run on the engine's blocking threads, one target at a time per
//! thread. They reach the target only through [`Node`], so the engine decides how (SSH, later
//! other transports) and tests can substitute a recorder. They never print and never journal:
//! the engine journals the snapshot *before* calling `apply`.

use serde_json::Value;

use crate::transport::ssh::ExecResult;

/// One target as an action sees it.
pub trait Node {
    /// Inventory name.
    fn name(&self) -> &str;
    /// `ip:port` the engine reaches it at.
    fn address(&self) -> String;
    /// Runs a shell script on the node (`sh -c` semantics on the remote side) with optional
    /// stdin. Transport failures come back as the result's outcome, never as a panic.
    fn run(&mut self, script: &str, stdin: Option<&[u8]>) -> ExecResult;
}

/// Why an action failed on a target. `never_ran` means nothing was changed (safe to retry).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ActionFailure {
    /// The outcome label for tallies (`failed`, `unreachable`, `timed_out`, `refused`, ...).
    pub outcome: String,
    pub message: String,
    pub never_ran: bool,
}

impl ActionFailure {
    /// A failure decided before anything was changed (guard rail, bad state).
    pub fn refused(message: impl Into<String>) -> ActionFailure {
        ActionFailure {
            outcome: "failed".into(),
            message: message.into(),
            never_ran: true,
        }
    }

    /// A failure after the change may have started.
    pub fn failed(message: impl Into<String>) -> ActionFailure {
        ActionFailure {
            outcome: "failed".into(),
            message: message.into(),
            never_ran: false,
        }
    }

    /// Turns a non-ok remote result into a failure, naming what was being done.
    pub fn from_result(doing: &str, r: &ExecResult) -> ActionFailure {
        let event = crate::engine::TargetResult::from_exec("", "", r);
        let mut message = format!("{doing}: {}", event.describe());
        let stderr = String::from_utf8_lossy(&r.stderr.bytes);
        let stderr = stderr.trim();
        if !stderr.is_empty() {
            let tail: String = stderr
                .lines()
                .rev()
                .take(3)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join(" | ");
            message.push_str(&format!(": {tail}"));
        }
        ActionFailure {
            outcome: r.outcome.label().to_owned(),
            message,
            never_ran: r.outcome.never_ran(),
        }
    }
}

/// What `apply` reports on success: a one-line summary for the operator (e.g. "stopped 3 pods").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub summary: String,
    /// Extra structured detail journaled with the result (counts, armed timer ids).
    pub detail: Value,
}

/// One action kind bound to its arguments for one step.
pub trait Action: Send + Sync {
    /// `firewall.block`, `ssh.exec`, ...
    fn kind(&self) -> &'static str;

    /// One line saying what would change on `target`, for `plan` and `--dry-run`. No side effects.
    fn plan(&self, target: &str) -> String;

    /// True when applying twice is the same as once (then transport failures are retried).
    fn idempotent(&self) -> bool {
        true
    }

    /// Reads the prior state `inverse` needs. Must not change anything.
    fn snapshot(&self, node: &mut dyn Node) -> Result<Value, ActionFailure>;

    /// Makes the change, idempotently where the kind allows.
    fn apply(&self, node: &mut dyn Node, snapshot: &Value) -> Result<Applied, ActionFailure>;

    /// Reads back and confirms the change holds.
    fn verify(&self, node: &mut dyn Node, snapshot: &Value) -> Result<(), ActionFailure>;

    /// The action that restores `snapshot` on the same target, for `undo`. None when the kind
    /// changes nothing (read-only) or cannot be reversed (the reason is shown by `plan`).
    fn inverse(&self, snapshot: &Value) -> Option<Box<dyn Action>>;
}
