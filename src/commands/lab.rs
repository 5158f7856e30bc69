//! `breakglass lab up | demo`: a fleet of network-namespace nodes on this machine (real sshd and
//! nftables per node; stand-ins for kubelet, crictl and the API server) to practise on, and the
//! reference incident's recovery run against it end to end. Needs root (namespaces).

use std::sync::Arc;
use std::time::Duration;

use crate::actions::context::Operator;
use crate::cli::{EngineArgs, LabArgs, PlanArgs, RunArgs, SshArgs};
use crate::error::{Exit, ExitError};
use crate::lab::netns::{Lab, LabSpec, Probe, Role};
use crate::output::{stderr_line, stdout_line};
use crate::settings::Settings;

fn build(args: &LabArgs) -> anyhow::Result<Lab> {
    if args.workers == 0
        || args.workers > 200
        || args.control_planes == 0
        || args.control_planes > 5
    {
        return Err(ExitError::new(
            Exit::Usage,
            "the lab takes 1-5 control planes and 1-200 workers",
        )
        .into());
    }
    stderr_line(&format!(
        "breakglass: building a lab of {} control plane(s) and {} worker(s) in network namespaces...",
        args.control_planes, args.workers
    ));
    let spec = LabSpec {
        api_objects: true,
        ..LabSpec::new(args.control_planes, args.workers)
    };
    Lab::build(&spec).map_err(|e| {
        ExitError::new(
            Exit::Usage,
            format!(
                "cannot build the lab (it needs root, ip, nft, sshd, openssl, python3, etcd, curl): {e:#}"
            ),
        )
        .into()
    })
}

/// `lab up`: build, print how to use it, wait for Ctrl-C (or SIGTERM), tear down.
pub async fn up(args: &LabArgs) -> anyhow::Result<Exit> {
    // Caught before the build starts: a Ctrl-C (or SIGTERM from a script) during the build is
    // held until the lab is whole, then tears it down, instead of killing us halfway.
    let mut interrupts = crate::engine::interrupts()?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let lab = build(args)?;
    let inv = lab.inventory_path();
    let cp: Vec<String> = lab
        .nodes_with_role(Role::ControlPlane)
        .iter()
        .map(|n| n.name.clone())
        .collect();
    stdout_line(&format!(
        "lab {} is up: {} nodes on {} (you are {}).\n\
         inventory: {}\n\n\
         Try:\n  breakglass -i {inv} inventory check\n  breakglass -i {inv} exec all -- uptime\n  \
         breakglass -i {inv} plan apiserver-overload -p cluster=lab -p allow_cidrs={}/32 \\\n      \
         -p workers_to_quiesce='role=worker' -p workload_namespace=monitoring -p workload_name=telemetry-agent\n\n\
         API servers: {} (CA {}); etcd: {} (client certificate in the inventory).\n\
         Every node runs the monitoring/telemetry-agent DaemonSet's pod; its kubelet restarts \
         a killed one while the DaemonSet selects the node.\n\
         Press Ctrl-C to tear the lab down.",
        lab.id(),
        lab.nodes().len(),
        lab.subnet(),
        lab.operator_address(),
        inv.display(),
        lab.operator_address(),
        cp.join(", "),
        lab.ca_cert().display(),
        lab.etcd_endpoint()
            .map_or_else(|| "none".to_owned(), |e| e.to_string()),
        inv = inv.display(),
    ));
    tokio::select! {
        _ = interrupts.recv() => {}
        _ = terminate.recv() => {}
    }
    stderr_line("breakglass: tearing the lab down...");
    lab.teardown()?;
    Ok(Exit::Success)
}

/// Answers confirmations and pauses for the demo, saying so, and at the pause shows what the
/// block does on the lab's network: real TCP from a worker and from the operator's address.
struct DemoOperator {
    lab: Arc<Lab>,
}

impl DemoOperator {
    /// One line per probe of the first API server: from the first worker (a node, blocked
    /// during the recovery) and from the operator's address (allowed throughout).
    fn show_api_reach(&self, when: &str) {
        let Some(cp) = self
            .lab
            .nodes_with_role(Role::ControlPlane)
            .first()
            .copied()
        else {
            return;
        };
        let api = cp.api_addr();
        let worker = self
            .lab
            .nodes_with_role(Role::Worker)
            .first()
            .map(|w| w.name.clone());
        let operator = format!("the operator ({})", self.lab.operator_address());
        for (from, label) in [(worker.as_deref(), worker.clone()), (None, Some(operator))] {
            let Some(label) = label else { continue };
            let seen = match self.lab.tcp_probe(from, api, Duration::from_secs(1)) {
                Ok(Probe::Connected) => "connected".to_owned(),
                Ok(Probe::TimedOut) => "timed out (packets dropped)".to_owned(),
                Ok(Probe::Refused) => "refused".to_owned(),
                Ok(Probe::Unreachable(e)) => format!("unreachable: {e}"),
                Err(e) => format!("could not probe: {e:#}"),
            };
            stderr_line(&format!(
                "[demo] {when}: {label} -> {} {api}: {seen}",
                cp.name
            ));
        }
    }
}

impl Operator for DemoOperator {
    fn confirm(&self, step: &str, what: &str, expected: &str) -> bool {
        stderr_line(&format!(
            "\n[demo] step {step}: {what}: typing \"{expected}\" as the operator would"
        ));
        // The workload is removed through the API from the operator's address while the
        // nodes are kept out: show both.
        if step == "pause-workload" {
            self.show_api_reach("behind the block");
        }
        true
    }

    fn pause(&self, step: &str, message: &str) -> bool {
        stderr_line(&format!("\n[demo] paused at step {step}:\n{message}"));
        stderr_line("[demo] answering `continue`");
        true
    }
}

/// `lab demo`: the reference incident's recovery (`apiserver-overload`) against a fresh lab.
pub async fn demo(settings: &Settings, args: &LabArgs) -> anyhow::Result<Exit> {
    let lab = build(args)?;
    let workers = lab.nodes_with_role(Role::Worker).len();
    let quiesce = format!(
        "role=worker,{}",
        lab.nodes_with_role(Role::Worker)
            .iter()
            .take(workers.div_ceil(3))
            .map(|n| n.name.clone())
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut lab_settings = settings.clone();
    lab_settings.inventory = Some(lab.inventory_path());
    let params: Vec<(String, String)> = [
        ("cluster", "lab".to_owned()),
        ("allow_cidrs", format!("{}/32", lab.operator_address())),
        ("workers_to_quiesce", quiesce),
        ("workload_namespace", "monitoring".to_owned()),
        ("workload_name", "telemetry-agent".to_owned()),
        ("revert_after", "10m".to_owned()),
        ("health_window", "5s".to_owned()),
        ("gate_window", "3s".to_owned()),
        ("settle_seconds", "30".to_owned()),
        ("hold_seconds", "5".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let run_args = RunArgs {
        plan: PlanArgs {
            runbook: "apiserver-overload".into(),
            params,
            operator_cidrs: Vec::new(),
        },
        yes: false,
        dry_run: false,
        engine: EngineArgs { retries: 2 },
        ssh: SshArgs {
            concurrency: None,
            connect_timeout: None,
            command_timeout: None,
            known_hosts: None,
            accept_new_host_keys: false,
            identity: Vec::new(),
            no_agent: true,
            sudo: false,
            max_output: None,
            rate: None,
        },
    };
    let lab = Arc::new(lab);
    let operator = Arc::new(DemoOperator {
        lab: Arc::clone(&lab),
    });
    operator.show_api_reach("before the recovery");
    let result = super::run::run_with(&lab_settings, &run_args, Arc::clone(&operator) as _).await;
    operator.show_api_reach("after the recovery");
    drop(operator);
    stderr_line("breakglass: tearing the lab down...");
    match Arc::try_unwrap(lab) {
        Ok(lab) => lab.teardown()?,
        // Unreachable (the operator was the only other owner); dropping a lab tears it down.
        Err(lab) => drop(lab),
    }
    result
}
