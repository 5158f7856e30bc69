//! `breakglass drill RUNBOOK --lab`: the reference incident on this machine, and the runbook
//! measured against it.
//!
//! 1. Build a lab with the incident ready ([`LabSpec::incident`]): a real etcd, API server
//!    stand-ins with the load model, kubelets that follow `DaemonSets`, an agent runner per node.
//! 2. Record the fleet as it is (manifests, rulesets, kubelets), start sampling (250 ms).
//! 3. Inject the incident (the telemetry-agent `DaemonSet`, through the API) and wait until it is
//!    detected: `/readyz` failing and p99 over the threshold.
//! 4. Run the runbook unattended (`--yes`), under a run id the drill knows.
//! 5. Wait for recovery: `/readyz` passing and p99 under the threshold for the recovery window.
//! 6. Undo the run and check the fleet is back as it was.
//! 7. Write the report, tear the lab down. Every step is judged from the samples and the
//!    journal, never from the run's own claims.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};

use super::common::{
    DrillOperator, conclude, ms, recovered_at, run_args, snapshot, undo_args, wait_for,
};
use super::expect::Expect;
use super::model::DrillRecord;
use super::sampler::Sampler;
use super::timeline;
use crate::cli::SshArgs;
use crate::error::Exit;
use crate::lab::netns::{
    Lab, LabSpec, NodeGroupController, Role, TLS_SERVER_NAME, WORKLOAD_NAME, WORKLOAD_NAMESPACE,
};
use crate::output::stderr_line;
use crate::settings::Settings;

/// What `drill --lab` was asked for.
pub struct LabDrill {
    pub runbook: String,
    pub params: Vec<(String, String)>,
    pub workers: usize,
    pub control_planes: usize,
    /// Auto Scaling groups of the lab's workers (0: none).
    pub node_groups: usize,
    /// Workers per network namespace (above 1: the scale mode).
    pub nodes_per_namespace: usize,
    pub report_dir: Option<PathBuf>,
    pub expect: Vec<Expect>,
    pub latency_threshold: Duration,
    pub recovery_window: Duration,
    pub recovery_timeout: Duration,
    pub detect_timeout: Duration,
    pub undo: bool,
}

/// The fleet as the drill found it, to compare after `undo`.
#[derive(Debug, PartialEq, Eq)]
struct FleetState {
    manifests: BTreeMap<String, Vec<u8>>,
    rulesets: BTreeMap<String, String>,
    kubelets: BTreeMap<String, bool>,
}

fn fleet_state(lab: &Lab) -> anyhow::Result<FleetState> {
    let mut s = FleetState {
        manifests: BTreeMap::new(),
        rulesets: BTreeMap::new(),
        kubelets: BTreeMap::new(),
    };
    for node in lab.nodes() {
        if node.role == Role::ControlPlane {
            s.manifests
                .insert(node.name.clone(), lab.manifest(&node.name)?);
            let out = lab.sh(&node.name, "nft list ruleset")?;
            s.rulesets.insert(
                node.name.clone(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            );
        }
        s.kubelets
            .insert(node.name.clone(), lab.kubelet_running(&node.name)?);
    }
    Ok(s)
}

/// What differs between two states, one line each.
fn differences(before: &FleetState, after: &FleetState) -> Vec<String> {
    let mut out = Vec::new();
    for (node, m) in &before.manifests {
        if after.manifests.get(node) != Some(m) {
            out.push(format!("{node}: the API server manifest differs"));
        }
    }
    for (node, r) in &before.rulesets {
        if after.rulesets.get(node) != Some(r) {
            out.push(format!("{node}: the nftables ruleset differs"));
        }
    }
    for (node, k) in &before.kubelets {
        if after.kubelets.get(node) != Some(k) {
            out.push(format!(
                "{node}: the kubelet is {}",
                if *k { "stopped" } else { "running" }
            ));
        }
    }
    out
}

/// The parameters a lab run of the shipped runbooks needs, for those the runbook declares;
/// the operator's `-p` win.
fn lab_params(
    runbook: &crate::runbook::Runbook,
    lab: &Lab,
    given: &[(String, String)],
) -> Vec<(String, String)> {
    let workers: Vec<String> = lab
        .nodes_with_role(Role::Worker)
        .iter()
        .map(|n| n.name.clone())
        .collect();
    let quiesce = format!(
        "role=worker,{}",
        workers
            .iter()
            .take(workers.len().div_ceil(3))
            .cloned()
            .collect::<Vec<_>>()
            .join(",")
    );
    let defaults = [
        ("cluster", "lab".to_owned()),
        ("allow_cidrs", format!("{}/32", lab.operator_address())),
        ("workers_to_quiesce", quiesce),
        ("workload_namespace", WORKLOAD_NAMESPACE.to_owned()),
        ("workload_name", WORKLOAD_NAME.to_owned()),
        ("namespace", WORKLOAD_NAMESPACE.to_owned()),
        ("daemonset", WORKLOAD_NAME.to_owned()),
        ("revert_after", "15m".to_owned()),
        ("health_window", "5s".to_owned()),
        ("gate_window", "3s".to_owned()),
        ("settle_seconds", "60".to_owned()),
        ("hold_seconds", "10".to_owned()),
    ];
    let mut params: BTreeMap<String, String> = defaults
        .into_iter()
        .filter(|(k, _)| runbook.param(k).is_some())
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    for (k, v) in given {
        params.insert(k.clone(), v.clone());
    }
    params.into_iter().collect()
}

/// SSH logins each node accepted so far (its sshd's log).
fn ssh_logins(lab: &Lab) -> BTreeMap<String, u64> {
    lab.nodes()
        .iter()
        .filter_map(|n| Some((n.name.clone(), lab.ssh_logins(&n.name).ok()?)))
        .collect()
}

/// Requests the API servers counted from breakglass itself (User-Agent `breakglass/...`).
fn breakglass_requests(lab: &Lab) -> u64 {
    lab.nodes_with_role(Role::ControlPlane)
        .iter()
        .filter_map(|n| lab.api_stats(&n.name).ok())
        .map(|s| s["user_agents"]["breakglass"].as_u64().unwrap_or(0))
        .sum()
}

pub async fn run(settings: &Settings, d: &LabDrill) -> anyhow::Result<Exit> {
    let runbook = crate::runbook::load_any(&d.runbook)
        .map_err(|e| crate::error::ExitError::new(Exit::Usage, e.to_string()))?;
    stderr_line(&format!(
        "[drill] building a lab of {} control plane(s) and {} workers with the incident ready...",
        d.control_planes, d.workers
    ));
    let spec = LabSpec {
        incident: true,
        node_groups: d.node_groups,
        nodes_per_namespace: d.nodes_per_namespace,
        ..LabSpec::new(d.control_planes, d.workers)
    };
    let lab = tokio::task::spawn_blocking(move || Lab::build(&spec))
        .await?
        .map_err(|e| {
            crate::error::ExitError::new(
                Exit::Usage,
                format!(
                    "cannot build the lab (it needs root, ip, nft, sshd, openssl, python3, etcd, curl): {e:#}"
                ),
            )
        })?;
    let namespaces = lab
        .nodes()
        .iter()
        .map(|n| n.netns.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    stderr_line(&format!(
        "[drill] lab {} is up ({} nodes in {namespaces} network namespaces on {}; inventory {})",
        lab.id(),
        lab.nodes().len(),
        lab.subnet(),
        lab.inventory_path().display()
    ));
    let lab = Arc::new(lab);
    let controller = match NodeGroupController::start(&lab) {
        Ok(c) => c,
        Err(e) => {
            let lab = Arc::try_unwrap(lab).map_err(|_| anyhow::anyhow!("the lab is shared"))?;
            tokio::task::spawn_blocking(move || lab.teardown()).await??;
            return Err(e);
        }
    };
    if let Some(aws) = lab.aws_endpoint() {
        stderr_line(&format!(
            "[drill] its workers are in {} Auto Scaling groups of the lab's cloud ({aws}): a \
             shrink stops workers, an undo starts them again",
            lab.node_groups().len()
        ));
    }
    let result = drill(settings, d, &runbook, &lab).await;
    stderr_line("[drill] tearing the lab down...");
    // The controller lets go of the lab between two reads of the groups.
    tokio::task::spawn_blocking(move || drop(controller)).await?;
    // The sampler lets go of the lab once its task is dropped, a moment after it is stopped.
    let mut lab = lab;
    for _ in 0..100 {
        match Arc::try_unwrap(lab) {
            Ok(owned) => {
                tokio::task::spawn_blocking(move || owned.teardown()).await??;
                return result;
            }
            Err(shared) => lab = shared,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Still shared (unexpected): dropping the last reference tears it down.
    drop(lab);
    result
}

async fn drill(
    settings: &Settings,
    d: &LabDrill,
    runbook: &crate::runbook::Runbook,
    lab: &Arc<Lab>,
) -> anyhow::Result<Exit> {
    let before = fleet_state(lab)?;
    let started_at = SystemTime::now();
    let t0 = Instant::now();
    let ca = std::fs::read(lab.ca_cert()).context("reading the lab's CA")?;
    let sampler = Sampler::new(
        &lab.api_endpoints(),
        Some(TLS_SERVER_NAME),
        Some(&ca),
        Some(Arc::clone(lab)),
        t0,
    )?;
    let samples = sampler.samples();
    let sampling = sampler.start();
    let threshold_ms = d.latency_threshold.as_secs_f64() * 1000.0;

    // The incident.
    let inject_lab = Arc::clone(lab);
    tokio::task::spawn_blocking(move || inject_lab.inject_incident()).await??;
    stderr_line(&format!(
        "[drill] injected: {WORKLOAD_NAMESPACE}/{WORKLOAD_NAME} created through the API; waiting for the API servers to saturate..."
    ));
    let detect_ms = wait_for(&samples, d.detect_timeout, |s| {
        s.last()
            .filter(|l| !l.ready && l.p99_ms.is_some_and(|p| p > threshold_ms))
            .map(|l| l.t_ms)
    })
    .await;
    let Some(detect_ms) = detect_ms else {
        sampling.stop();
        let last = snapshot(&samples).last().cloned();
        bail!(
            "the incident did not reproduce within {}: the API servers never failed /readyz with \
             p99 over {} ms (last sample: {last:?})",
            humantime::format_duration(d.detect_timeout),
            threshold_ms
        );
    };
    stderr_line(&format!(
        "[drill] detected at {:.1}s: /readyz failing, p99 over {threshold_ms:.0} ms; running {}",
        Duration::from_millis(detect_ms).as_secs_f64(),
        runbook.name
    ));

    // The run.
    let mut lab_settings = settings.clone();
    lab_settings.inventory = Some(lab.inventory_path());
    let ssh = SshArgs {
        no_agent: true,
        ..SshArgs::default()
    };
    let args = run_args(&d.runbook, lab_params(runbook, lab, &d.params), ssh.clone());
    let run_id = crate::journal::new_run_id();
    let requests_before = breakglass_requests(lab);
    let logins_before = ssh_logins(lab);
    let run_start_ms = ms(t0.elapsed());
    let run_exit = crate::commands::run::run_as(
        &lab_settings,
        &args,
        Arc::new(DrillOperator),
        run_id.clone(),
        crate::cancel::Cancel::new(),
        crate::commands::run::StartedBy::Drill,
    )
    .await;
    let run_end_ms = ms(t0.elapsed());
    let api_requests = breakglass_requests(lab).saturating_sub(requests_before);
    let logins_after = ssh_logins(lab);
    let ssh_logins_per_node = logins_after
        .iter()
        .map(|(node, n)| n.saturating_sub(logins_before.get(node).copied().unwrap_or(0)))
        .max();
    let run_exit = match run_exit {
        Ok(e) => e,
        Err(e) => {
            stderr_line(&format!("[drill] the run failed: {e:#}"));
            Exit::TargetsFailed
        }
    };
    stderr_line(&format!(
        "[drill] run {run_id} ended (exit {}) after {:.1}s; waiting for recovery ({} healthy)...",
        run_exit.code(),
        Duration::from_millis(run_end_ms - run_start_ms).as_secs_f64(),
        humantime::format_duration(d.recovery_window)
    ));
    let recovered_ms = wait_for(&samples, d.recovery_timeout + d.recovery_window, |s| {
        recovered_at(s, run_start_ms, threshold_ms, d.recovery_window)
    })
    .await;

    let journal = settings.journal_root.join(&run_id).join("journal.jsonl");
    let tl = timeline::read(&journal, started_at).unwrap_or_default();

    // Undo, and the fleet as it was.
    let restored = if d.undo {
        stderr_line(&format!("[drill] undoing run {run_id}..."));
        match crate::commands::run::undo(&lab_settings, &undo_args(&run_id, ssh)).await {
            Ok(Exit::Success) => {}
            // Say so, whatever the fleet check finds next: a worker the shrink stopped after a
            // step had changed it is unreachable to that step's undo, and comes back as a
            // fresh node when its group grows again.
            Ok(exit) => stderr_line(&format!(
                "[drill] the undo ended with exit {}: not every target was undone (`breakglass \
                 journal show {run_id}`); the fleet check below judges what is back",
                exit.code()
            )),
            Err(e) => stderr_line(&format!("[drill] undo failed: {e:#}")),
        }
        let after_lab = Arc::clone(lab);
        let (stopped, after) = tokio::task::spawn_blocking(move || {
            // The controller starts what the groups grew back to, a few nodes at a time: give
            // a big lab's restart its time (a second per worker; hundreds take minutes).
            let workers = after_lab.nodes_with_role(Role::Worker).len() as u64;
            let stopped = after_lab.wait_all_running(Duration::from_secs(120.max(workers)));
            fleet_state(&after_lab).map(|after| (stopped, after))
        })
        .await??;
        let mut diff = differences(&before, &after);
        if !stopped.is_empty() {
            diff.push(format!(
                "{} still stopped: {}",
                stopped.len(),
                crate::inventory::hostset::fold(&stopped)
            ));
        }
        for line in &diff {
            stderr_line(&format!("[drill] not restored: {line}"));
        }
        Some(diff.is_empty())
    } else {
        None
    };
    sampling.stop();

    let mut record = DrillRecord {
        runbook: runbook.name.clone(),
        run_id: Some(run_id.clone()),
        started_at: humantime::format_rfc3339_millis(started_at).to_string(),
        fleet: "lab".to_owned(),
        workers: d.workers,
        control_planes: d.control_planes,
        detect_ms: Some(detect_ms),
        run_start_ms: Some(run_start_ms),
        first_effect_ms: tl.first_block_done_ms,
        recovered_ms,
        latency_threshold_ms: threshold_ms,
        recovery_window_ms: ms(d.recovery_window),
        breakglass_api_requests: api_requests,
        ssh_logins_per_node,
        samples: snapshot(&samples),
        steps: tl.steps.clone(),
        expectations: Vec::new(),
        verdict: String::new(),
        restored,
    };
    record.verdict = match recovered_ms {
        Some(t) => format!(
            "recovered {:.1}s after the run started",
            Duration::from_millis(t.saturating_sub(run_start_ms)).as_secs_f64()
        ),
        None => format!(
            "not recovered within {} of the run's end",
            humantime::format_duration(d.recovery_timeout)
        ),
    };
    conclude(
        record,
        &d.expect,
        tl.failed_targets,
        d.report_dir.as_deref(),
        &settings.journal_root,
        recovered_ms.is_some() && restored != Some(false),
    )
}
