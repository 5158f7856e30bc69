//! `breakglass lab up | demo`: a fleet of network-namespace nodes on this machine (real sshd and
//! nftables per node; stand-ins for kubelet, crictl and the API server) to practise on, and the
//! reference incident's recovery drilled against it end to end (`demo` is a short
//! `drill --lab apiserver-overload`). Needs root (namespaces).

use std::time::Duration;

use crate::cli::LabArgs;
use crate::error::{Exit, ExitError};
use crate::lab::netns::{Lab, LabSpec, Role};
use crate::output::{stderr_line, stdout_line};
use crate::settings::Settings;

/// The lab's size bounds, for `lab up`, `lab demo` and `drill --lab`.
pub fn check_size(
    workers: usize,
    control_planes: usize,
    nodes_per_namespace: usize,
) -> anyhow::Result<()> {
    let message = if control_planes == 0 || control_planes > 5 {
        "the lab takes 1-5 control planes"
    } else if nodes_per_namespace == 0 || nodes_per_namespace > 50 {
        "--nodes-per-namespace takes 1-50"
    } else if workers == 0 || workers > 1000 {
        "the lab takes 1-1000 workers"
    } else if workers > 200 && nodes_per_namespace == 1 {
        "above 200 workers the lab needs the scale mode: --nodes-per-namespace 5 (or more) puts \
         several workers in each network namespace"
    } else {
        return Ok(());
    };
    Err(ExitError::new(Exit::Usage, message).into())
}

fn build(args: &LabArgs) -> anyhow::Result<Lab> {
    check_size(args.workers, args.control_planes, args.nodes_per_namespace)?;
    stderr_line(&format!(
        "breakglass: building a lab of {} control plane(s) and {} worker(s) in network namespaces...",
        args.control_planes, args.workers
    ));
    let spec = LabSpec {
        api_objects: true,
        node_groups: args.node_groups,
        nodes_per_namespace: args.nodes_per_namespace,
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
    let lab = std::sync::Arc::new(build(args)?);
    let controller = crate::lab::netns::NodeGroupController::start(&lab)?;
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
         {}\
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
        lab.aws_endpoint().map_or_else(String::new, |aws| format!(
            "The workers are in {} Auto Scaling groups of the lab's cloud (moto at {aws}, named \
             in the inventory's [clusters.lab.aws]): nodes.scale stops and starts them.\n",
            lab.node_groups().len()
        )),
        inv = inv.display(),
    ));
    tokio::select! {
        _ = interrupts.recv() => {}
        _ = terminate.recv() => {}
    }
    stderr_line("breakglass: tearing the lab down...");
    drop(controller);
    match std::sync::Arc::try_unwrap(lab) {
        Ok(lab) => lab.teardown()?,
        // Unexpected (the controller let go): dropping the last reference tears it down.
        Err(shared) => drop(shared),
    }
    Ok(Exit::Success)
}

/// `lab demo`: a short drill of the reference recovery (`apiserver-overload`) on a fresh lab:
/// the incident injected, the runbook run, recovery measured, undone, a report written.
pub async fn demo(settings: &Settings, args: &LabArgs) -> anyhow::Result<Exit> {
    check_size(args.workers, args.control_planes, args.nodes_per_namespace)?;
    crate::drill::lab::run(
        settings,
        &crate::drill::lab::LabDrill {
            runbook: "apiserver-overload".to_owned(),
            params: Vec::new(),
            workers: args.workers,
            control_planes: args.control_planes,
            node_groups: args.node_groups,
            nodes_per_namespace: args.nodes_per_namespace,
            report_dir: None,
            expect: Vec::new(),
            latency_threshold: Duration::from_secs(1),
            recovery_window: Duration::from_secs(10),
            recovery_timeout: Duration::from_secs(120),
            detect_timeout: Duration::from_secs(120),
            undo: true,
        },
    )
    .await
}

/// `lab status`: the labs on this machine (JSON with `--output json`).
pub fn status(settings: &Settings) -> anyhow::Result<Exit> {
    let labs = crate::lab::netns::list_labs();
    if settings.json() {
        for l in &labs {
            stdout_line(
                &serde_json::json!({
                    "type": "lab", "id": l.id, "subnet": l.subnet, "nodes": l.nodes,
                    "owner_pid": l.owner_pid, "alive": l.alive, "inventory": l.inventory,
                })
                .to_string(),
            );
        }
        return Ok(Exit::Success);
    }
    if labs.is_empty() {
        stdout_line("no lab on this machine");
        return Ok(Exit::Success);
    }
    for l in &labs {
        stdout_line(&format!(
            "{}  {}  {} nodes  owner {}  {}",
            l.id,
            l.subnet.as_deref().unwrap_or("-"),
            l.nodes,
            l.owner_pid
                .map_or_else(|| "unknown".to_owned(), |p| format!("PID {p}")),
            if l.alive {
                format!("up, inventory {}", l.inventory.display())
            } else {
                "stale (its owner is gone): `breakglass lab down` removes it".to_owned()
            }
        ));
    }
    Ok(Exit::Success)
}

/// How long `lab down` waits for an owner to tear its lab down after SIGTERM.
const DOWN_WAIT: Duration = Duration::from_secs(60);

/// `lab down [ID...]`: SIGTERM to each live lab's owner (which tears it down), a wait for its
/// directory to go, then the stale cleanup for labs whose owner is dead. Nothing else is
/// signalled: the owner PID is checked against its recorded start time.
pub fn down(ids: &[String]) -> anyhow::Result<Exit> {
    let labs = crate::lab::netns::list_labs();
    for id in ids {
        if !labs.iter().any(|l| &l.id == id) {
            return Err(ExitError::new(
                Exit::Usage,
                format!("no lab {id} on this machine (see `breakglass lab status`)"),
            )
            .into());
        }
    }
    let chosen: Vec<_> = labs
        .into_iter()
        .filter(|l| ids.is_empty() || ids.contains(&l.id))
        .collect();
    for l in chosen.iter().filter(|l| l.alive) {
        let Some(pid) = l.owner_pid else { continue };
        stderr_line(&format!(
            "breakglass: lab {}: asking its owner (PID {pid}) to tear it down",
            l.id
        ));
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(i32::try_from(pid).unwrap_or(0))
                .ok_or_else(|| anyhow::anyhow!("lab {}: bad owner PID {pid}", l.id))?,
            rustix::process::Signal::TERM,
        )
        .map_err(|e| anyhow::anyhow!("lab {}: signalling PID {pid}: {e}", l.id))?;
    }
    let deadline = std::time::Instant::now() + DOWN_WAIT;
    loop {
        let left: Vec<String> = crate::lab::netns::list_labs()
            .into_iter()
            .filter(|l| l.alive && chosen.iter().any(|c| c.id == l.id))
            .map(|l| l.id)
            .collect();
        if left.is_empty() {
            break;
        }
        if std::time::Instant::now() > deadline {
            return Err(anyhow::anyhow!(
                "labs {} are still up {}s after SIGTERM to their owners",
                left.join(", "),
                DOWN_WAIT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let removed = Lab::cleanup_stale()?;
    stdout_line(&format!(
        "{} lab(s) down{}",
        chosen.len(),
        if removed > 0 {
            format!(", {removed} stale one(s) removed")
        } else {
            String::new()
        }
    ));
    Ok(Exit::Success)
}
