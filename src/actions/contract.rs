//! The Action contract every action kind implements (ARCHITECTURE.md, "The Action contract"):
//! plan, snapshot, apply, verify, inverse.
//!
//! Actions are blocking and run on the engine's blocking threads, one target at a time per
//! thread. They reach their target only through the [`Context`] they are handed (a shell on a
//! host is a [`Node`]), so the command decides how and tests can substitute a recorder. They
//! never print and never journal: the engine journals the snapshot *before* calling `apply`.

use serde_json::Value;

pub use super::context::{Context, Target, TargetKind};
use crate::outcome::Outcome;
use crate::transport::ssh::ExecResult;

/// A shell on one host, as an action sees it (the SSH reach; one session per step).
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
    /// What kind of failure, for tallies and the retry rule.
    pub outcome: Outcome,
    pub message: String,
    pub never_ran: bool,
}

impl ActionFailure {
    /// A failure decided before anything was changed (guard rail, bad state).
    pub fn refused(message: impl Into<String>) -> ActionFailure {
        ActionFailure {
            outcome: Outcome::Failed,
            message: message.into(),
            never_ran: true,
        }
    }

    /// A failure after the change may have started.
    pub fn failed(message: impl Into<String>) -> ActionFailure {
        ActionFailure {
            outcome: Outcome::Failed,
            message: message.into(),
            never_ran: false,
        }
    }

    /// Turns a non-ok remote result into a failure, naming what was being done.
    pub fn from_result(doing: &str, r: &ExecResult) -> ActionFailure {
        let mut message = format!("{doing}: {}", r.outcome.describe());
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
            outcome: r.outcome.kind(),
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

/// What an action's preflight found for one target, from its snapshot: `plan` shows it, `run`
/// refuses to start (exit 2) while any refusal stands, and the action refuses again at apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Preflight {
    /// Why the change must not run (it would cut the operator or a required peer).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<String>,
    /// What the operator must know: what the change cannot do, what it leaves alive.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One action kind bound to its arguments for one step.
pub trait Action: Send + Sync {
    /// `firewall.block`, `ssh.exec`, ...
    fn kind(&self) -> &'static str;

    /// What the step's targets are: inventory hosts (the default), or the operator's machine.
    fn runs_on(&self) -> TargetKind {
        TargetKind::Hosts
    }

    /// For [`TargetKind::Objects`]: the targets the action names in its arguments.
    fn objects(&self) -> Vec<Target> {
        Vec::new()
    }

    /// One line saying what would change on `target`, for `plan` and `--dry-run`. No side effects.
    fn plan(&self, target: &str) -> String;

    /// True when applying twice is the same as once (then transport failures are retried).
    fn idempotent(&self) -> bool {
        true
    }

    /// True when the action changes nothing (probes, pauses): it has no prior state to journal
    /// and nothing to undo, and `undo` passes it by without a word.
    fn read_only(&self) -> bool {
        false
    }

    /// Reads the prior state `inverse` needs. Must not change anything.
    fn snapshot(&self, cx: &mut dyn Context) -> Result<Value, ActionFailure>;

    /// What `snapshot` found, in one line, for `plan` to show beside the change (an object's
    /// identity: kind, name, uid, size). None for kinds whose plan reads nothing (hosts: `plan`
    /// opens no SSH session).
    fn describe_now(&self, _snapshot: &Value) -> Option<String> {
        None
    }

    /// True when [`Action::preflight`] has something to say: `run` then reads every target's
    /// snapshot before it starts, and refuses to start while a refusal stands.
    fn has_preflight(&self) -> bool {
        false
    }

    /// Checks, from the snapshot, whether the change is safe to make (cloud firewalls: it would
    /// not cut the operator or a required peer) and what it cannot do. No side effects.
    fn preflight(&self, _snapshot: &Value) -> Preflight {
        Preflight::default()
    }

    /// Makes the change, idempotently where the kind allows.
    fn apply(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<Applied, ActionFailure>;

    /// Reads back and confirms the change holds.
    fn verify(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<(), ActionFailure>;

    /// The action that restores `snapshot` on the same target, for `undo`. None when the kind
    /// changes nothing (read-only) or cannot be reversed (the reason is shown by `plan`).
    fn inverse(&self, snapshot: &Value) -> Option<Box<dyn Action>>;
}
