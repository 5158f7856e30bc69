//! Actions: what a runbook step does to its targets.
//!
//! `args` holds the typed arguments of every action kind (a step's `with` table); they are the
//! runbook reference. The implementations (plan, snapshot, apply, verify, inverse) live in one
//! file per kind next to it, or in a folder with the `.sh` scripts the kind runs on nodes
//! (`script` hands those scripts their inputs, quoted).

pub mod api;
pub mod args;
pub mod context;
pub mod contract;
pub mod etcd_delete;
pub mod firewall;
pub mod node;
pub mod pause;
pub mod quiesce;
pub mod script;
pub mod ssh_exec;
pub mod tune;
pub mod wait_healthy;
pub mod workload;
pub mod workload_delete;
pub mod workload_pause;
pub mod workload_scale;

use std::sync::Arc;

use crate::inventory::Inventory;
use args::ActionArgs;
use contract::Action;

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
pub fn build(args: &ActionArgs, ctx: &BuildContext<'_>) -> anyhow::Result<Arc<dyn Action>> {
    Ok(match args {
        ActionArgs::SshExec(a) => Arc::new(ssh_exec::SshExecAction { args: a.clone() }),
        ActionArgs::WaitHealthy(a) => Arc::new(wait_healthy::WaitHealthyAction {
            args: wait_healthy_defaults(a, ctx)?,
        }),
        ActionArgs::Pause(a) => Arc::new(pause::PauseAction { args: a.clone() }),
        ActionArgs::NodesQuiesce(a) => Arc::new(quiesce::NodeServices::quiesce(
            a.clone(),
            ctx.run_id,
            ctx.step_id,
        )),
        ActionArgs::NodesUnquiesce(a) => Arc::new(quiesce::NodeServices::unquiesce(
            a.clone(),
            ctx.run_id,
            ctx.step_id,
        )),
        ActionArgs::ApiserversTune(a) => Arc::new(tune::ApiserversTuneAction::new(
            a.clone(),
            ctx.run_id,
            ctx.step_id,
        )?),
        ActionArgs::WorkloadKill(a) => Arc::new(workload::WorkloadKillAction { args: a.clone() }),
        ActionArgs::FirewallBlock(a) => Arc::new(firewall::FirewallBlockAction::new(a, ctx)?),
        ActionArgs::FirewallUnblock(a) => Arc::new(firewall::FirewallUnblockAction::new(a, ctx)?),
        ActionArgs::EtcdDelete(a) => Arc::new(etcd_delete::EtcdDeleteAction::new(a, ctx)?),
        ActionArgs::WorkloadPause(a) => Arc::new(workload_pause::WorkloadPauseAction::new(a, ctx)?),
        ActionArgs::WorkloadDelete(a) => {
            Arc::new(workload_delete::WorkloadDeleteAction::new(a, ctx)?)
        }
        ActionArgs::WorkloadScale(a) => Arc::new(workload_scale::WorkloadScaleAction::new(a, ctx)?),
    })
}
