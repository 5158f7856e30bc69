//! Actions: what a runbook step does to its targets.
//!
//! `args` holds the typed arguments of every action kind (a step's `with` table); they are the
//! runbook reference. The implementations (plan, snapshot, apply, verify, inverse) live in one
//! file per kind next to it, or in a folder with the `.sh` scripts the kind runs on nodes
//! (`script` hands those scripts their inputs, quoted).

pub mod api;
pub mod apiservers_scale;
pub mod args;
pub mod cloud;
pub mod cloud_firewall;
pub mod context;
pub mod contract;
pub mod etcd_delete;
pub mod firewall;
pub mod node;
pub mod nodes_scale;
pub mod pause;
pub mod quiesce;
pub mod script;
pub mod ssh_exec;
pub mod tune;
pub mod wait_healthy;
pub mod workload;
pub mod workload_check;
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
    /// `--operator-cidr`: the operator's egress addresses as the cloud sees them, which a cloud
    /// firewall block must not cut (empty: the inventory's `operator_cidrs`).
    pub operator_cidrs: &'a [ipnet::IpNet],
}

/// `wait.healthy` with its defaults filled from the inventory cluster: endpoints, TLS name and
/// CA, so a shipped runbook needs no addresses; with `etcd = true`, bound to that cluster's
/// etcd, which must be in the inventory.
fn build_wait_healthy(
    args: &args::WaitHealthy,
    ctx: &BuildContext<'_>,
) -> anyhow::Result<wait_healthy::WaitHealthyAction> {
    let mut a = args.clone();
    let cluster = ctx.cluster.and_then(|c| ctx.inventory.clusters.get(c));
    let etcd_cluster = if a.etcd {
        match (ctx.cluster, cluster) {
            (None, _) => anyhow::bail!(
                "wait.healthy has `etcd = true`, but the runbook has no `cluster` parameter naming whose etcd to probe"
            ),
            (Some(name), None) => {
                anyhow::bail!(
                    "wait.healthy has `etcd = true`, but the inventory has no cluster '{name}'"
                )
            }
            (Some(_), Some(c)) if c.etcd_endpoints.is_empty() => anyhow::bail!(
                "wait.healthy has `etcd = true`, but cluster '{}' in the inventory lists no etcd_endpoints \
                 (and etcd_cert_file, etcd_key_file, etcd_ca_file to reach them)",
                c.name
            ),
            (Some(_), Some(c)) => Some(c.name.clone()),
        }
    } else {
        None
    };
    // Probing etcd alone (`paths = []`) needs no API endpoint.
    if a.endpoints.is_empty() && !a.paths.is_empty() {
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
    let mut ca_pem = None;
    if let Some(cluster) = cluster {
        if a.tls_server_name.is_none() {
            a.tls_server_name.clone_from(&cluster.tls_server_name);
        }
        if a.ca_file.is_none() {
            a.ca_file.clone_from(&cluster.ca_file);
        }
        // No CA file anywhere: the kubeconfig's CA and server name, as the API client uses.
        if a.ca_file.is_none() && cluster.kubeconfig.is_some() {
            let k = context::kube_config(cluster)
                .map_err(|e| anyhow::anyhow!("wait.healthy: cluster '{}': {e}", cluster.name))?;
            ca_pem = k.ca;
            if a.tls_server_name.is_none() {
                a.tls_server_name = k.tls_server_name;
            }
        }
    }
    Ok(wait_healthy::WaitHealthyAction {
        args: a,
        etcd_cluster,
        ca_pem,
    })
}

/// The inventory names nothing for a step to act on (a cloud step in a cluster without those
/// resources): a step with `skip_if_none` is skipped, any other refused with this message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NothingToActOn(pub String);

/// Builds the action a step's arguments describe.
pub fn build(args: &ActionArgs, ctx: &BuildContext<'_>) -> anyhow::Result<Arc<dyn Action>> {
    Ok(match args {
        ActionArgs::SshExec(a) => Arc::new(ssh_exec::SshExecAction { args: a.clone() }),
        ActionArgs::WaitHealthy(a) => Arc::new(build_wait_healthy(a, ctx)?),
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
        ActionArgs::WorkloadCheck(a) => Arc::new(workload_check::WorkloadCheckAction::new(a, ctx)?),
        ActionArgs::NodesScale(a) => Arc::new(nodes_scale::NodesScaleAction::new(a, ctx)?),
        ActionArgs::ApiserversScale(a) => {
            Arc::new(apiservers_scale::ApiserversScaleAction::new(a, ctx)?)
        }
        ActionArgs::CloudFirewallBlock(a) => {
            Arc::new(cloud_firewall::CloudFirewallAction::block(a, ctx)?)
        }
        ActionArgs::CloudFirewallUnblock(a) => {
            Arc::new(cloud_firewall::CloudFirewallAction::unblock(a, ctx)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Format;

    fn inventory(cluster: &str) -> Inventory {
        Inventory::from_str(cluster, std::path::Path::new("inv.toml"), Format::Toml)
            .expect("inventory")
    }

    fn wait(with: &str, inv: &Inventory, cluster: Option<&str>) -> anyhow::Result<String> {
        let args: args::WaitHealthy = toml::from_str(with).expect("args");
        let ctx = BuildContext {
            inventory: inv,
            run_id: "r",
            step_id: "s",
            cluster,
            operator_cidrs: &[],
        };
        build_wait_healthy(&args, &ctx).map(|a| a.plan("operator"))
    }

    #[test]
    fn wait_healthy_binds_etcd_to_the_runbooks_cluster() {
        let with_etcd = inventory(
            "[clusters.lab]\netcd_endpoints = [\"10.0.0.10:2379\"]\napi_endpoints = [\"10.0.0.10:6443\"]\n",
        );
        let plan = wait("etcd = true", &with_etcd, Some("lab")).expect("bound");
        assert!(
            plan.contains("/readyz, /livez on 10.0.0.10:6443 and etcd /health of cluster lab"),
            "{plan}"
        );
        let err = wait("etcd = true", &with_etcd, None).expect_err("no cluster");
        assert!(err.to_string().contains("no `cluster` parameter"), "{err}");

        // etcd alone needs no API endpoint.
        let etcd_only = inventory("[clusters.lab]\netcd_endpoints = [\"10.0.0.10:2379\"]\n");
        let plan = wait("etcd = true\npaths = []", &etcd_only, Some("lab")).expect("bound");
        assert!(
            plan.starts_with("probe etcd /health of cluster lab until"),
            "{plan}"
        );

        let api_only = inventory("[clusters.lab]\napi_endpoints = [\"10.0.0.10:6443\"]\n");
        let err = wait("etcd = true", &api_only, Some("lab")).expect_err("no etcd");
        assert!(err.to_string().contains("lists no etcd_endpoints"), "{err}");
    }
}
