//! Actions: what a runbook step does to its targets.
//!
//! `args` holds the typed arguments of every action kind (a step's `with` table); they are the
//! runbook reference. The implementations (plan, snapshot, apply, verify, inverse) live in one
//! file per kind next to it, or in a folder with the `.sh` scripts the kind runs on nodes
//! (`script` hands those scripts their inputs, quoted).

pub mod args;
pub mod contract;
pub mod firewall;
pub mod node;
pub mod quiesce;
pub mod script;
pub mod ssh_exec;
pub mod tune;
pub mod wait_healthy;
pub mod workload;

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

/// What an action may need to know about where it runs, beyond its arguments.
pub struct BuildContext<'a> {
    /// To resolve selectors inside arguments (`allow_targets`).
    pub inventory: &'a Inventory,
    /// Names node-side state (dead-man timers, backups) so `confirm` and `undo` find it.
    pub run_id: &'a str,
    pub step_id: &'a str,
    /// The runbook's `cluster` parameter: where `wait.healthy` finds its default endpoints.
    pub cluster: Option<&'a str>,
}

/// `wait.healthy` with its defaults filled from the inventory cluster: endpoints, TLS name and
/// CA, so a shipped runbook needs no addresses.
fn wait_healthy_defaults(
    args: &args::WaitHealthy,
    ctx: &BuildContext<'_>,
) -> anyhow::Result<args::WaitHealthy> {
    let mut a = args.clone();
    let cluster = ctx.cluster.and_then(|c| ctx.inventory.clusters.get(c));
    if a.endpoints.is_empty() {
        let Some(cluster) = cluster else {
            anyhow::bail!(
                "wait.healthy has no `endpoints`, and the inventory has no cluster {} to take its api_endpoints from",
                ctx.cluster.map_or_else(
                    || "(the runbook has no `cluster` parameter)".to_owned(),
                    |c| format!("'{c}'")
                )
            );
        };
        if cluster.api_endpoints.is_empty() {
            anyhow::bail!(
                "wait.healthy has no `endpoints`, and cluster '{}' in the inventory lists no api_endpoints",
                cluster.name
            );
        }
        a.endpoints.clone_from(&cluster.api_endpoints);
    }
    if let Some(cluster) = cluster {
        if a.tls_server_name.is_none() {
            a.tls_server_name.clone_from(&cluster.tls_server_name);
        }
        if a.ca_file.is_none() {
            a.ca_file.clone_from(&cluster.ca_file);
        }
    }
    Ok(a)
}

/// Builds the action a step's arguments describe.
pub fn build(args: &ActionArgs, ctx: &BuildContext<'_>) -> anyhow::Result<StepAction> {
    Ok(match args {
        ActionArgs::SshExec(a) => {
            StepAction::Targets(Arc::new(ssh_exec::SshExecAction { args: a.clone() }))
        }
        ActionArgs::WaitHealthy(a) => StepAction::WaitHealthy(wait_healthy_defaults(a, ctx)?),
        ActionArgs::Pause(a) => StepAction::Pause(a.clone()),
        ActionArgs::NodesQuiesce(a) => StepAction::Targets(Arc::new(
            quiesce::NodeServices::quiesce(a.clone(), ctx.run_id, ctx.step_id),
        )),
        ActionArgs::NodesUnquiesce(a) => StepAction::Targets(Arc::new(
            quiesce::NodeServices::unquiesce(a.clone(), ctx.run_id, ctx.step_id),
        )),
        ActionArgs::ApiserversTune(a) => StepAction::Targets(Arc::new(
            tune::ApiserversTuneAction::new(a.clone(), ctx.run_id, ctx.step_id)?,
        )),
        ActionArgs::WorkloadKill(a) => {
            StepAction::Targets(Arc::new(workload::WorkloadKillAction { args: a.clone() }))
        }
        ActionArgs::FirewallBlock(a) => {
            StepAction::Targets(Arc::new(firewall::FirewallBlockAction::new(a, ctx)?))
        }
        ActionArgs::FirewallUnblock(a) => {
            StepAction::Targets(Arc::new(firewall::FirewallUnblockAction::new(a, ctx)?))
        }
    })
}
