//! Actions: what a runbook step does to its targets.
//!
//! `args` holds the typed arguments of every action kind (a step's `with` table); they are the
//! runbook reference. The implementations (plan, snapshot, apply, verify, inverse) live in one
//! file per kind next to it.

pub mod args;
pub mod contract;
pub mod node;
pub mod ssh_exec;
pub mod wait_healthy;

use std::sync::Arc;

use crate::inventory::Inventory;
use args::ActionArgs;
use contract::Action;

/// What a step does: act on each target, or act once for the whole step.
pub enum StepAction {
    /// A per-target action (the Action contract), run in waves.
    Targets(Arc<dyn Action>),
    /// Probe API server endpoints until healthy (no targets).
    WaitHealthy(args::WaitHealthy),
    /// Wait for the operator (no targets).
    Pause(args::Pause),
}

impl StepAction {
    /// One line for the plan, for steps without targets (and for gates).
    pub fn describe(&self) -> String {
        match self {
            StepAction::Targets(a) => a.plan("each target"),
            StepAction::WaitHealthy(w) => format!(
                "probe {} on {} until error rate <= {} and latency <= {} for {} (give up after {})",
                w.paths.join(", "),
                w.endpoints
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                w.max_error_rate,
                humantime::format_duration(w.max_latency),
                humantime::format_duration(w.window),
                humantime::format_duration(w.timeout),
            ),
            StepAction::Pause(p) => format!(
                "pause for the operator: {}{}",
                p.message,
                if p.skippable {
                    " (skipped under --yes)"
                } else {
                    " (refused under --yes)"
                }
            ),
        }
    }
}

/// Builds the action a step's arguments describe.
pub fn build(args: &ActionArgs, inventory: &Inventory) -> anyhow::Result<StepAction> {
    let _ = inventory;
    Ok(match args {
        ActionArgs::SshExec(a) => {
            StepAction::Targets(Arc::new(ssh_exec::SshExecAction { args: a.clone() }))
        }
        ActionArgs::WaitHealthy(a) => StepAction::WaitHealthy(a.clone()),
        ActionArgs::Pause(a) => StepAction::Pause(a.clone()),
        other => anyhow::bail!("action {} is not available in this build yet", other.kind()),
    })
}
