//! `breakglass drill RUNBOOK` without `--lab`: a rehearsal against a real inventory (a staging
//! cluster), journaled as an ordinary run, with health sampled from the operator's machine
//! (`/readyz` on the runbook cluster's API endpoints) and stop conditions: when one trips, the
//! run is stopped as by Ctrl-C (no new targets; those in flight finish within their deadlines)
//! and everything it changed is undone.
//!
//! Stop conditions (`--stop-if`):
//! - `not_ready=DURATION`: some API endpoint has failed `/readyz` for DURATION straight;
//! - `p99_over=DURATION`: the probes' p99 latency has been over DURATION for two seconds.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::common::{
    DrillOperator, conclude, ms, recovered_at, run_args, snapshot, undo_args, wait_for,
};
use super::expect::Expect;
use super::model::{DrillRecord, Sample};
use super::sampler::{PERIOD, Sampler};
use super::timeline;
use crate::actions::context::kube_config;
use crate::cancel::Cancel;
use crate::cli::SshArgs;
use crate::error::{Exit, ExitError};
use crate::output::stderr_line;
use crate::settings::Settings;

/// How long a p99 must stay over `p99_over` to trip it.
const P99_PERSISTENCE: Duration = Duration::from_secs(2);

/// One stop condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopIf {
    NotReady(Duration),
    P99Over(Duration),
}

pub const STOP_NAMES: &str = "not_ready=DURATION, p99_over=DURATION";

pub fn parse_stop(name: &str, value: &str) -> Result<StopIf, String> {
    let d = crate::duration::parse(value)
        .map_err(|e| format!("--stop-if {name}={value}: {e} (e.g. 10s)"))?;
    match name {
        "not_ready" => Ok(StopIf::NotReady(d)),
        "p99_over" => Ok(StopIf::P99Over(d)),
        _ => Err(format!(
            "--stop-if {name}={value}: unknown condition; known: {STOP_NAMES}"
        )),
    }
}

/// Why `samples` trip `stop`, if they do: judged on the trailing samples.
pub fn tripped(stop: StopIf, samples: &[Sample]) -> Option<String> {
    let last = samples.last()?;
    let bad = |s: &Sample| match stop {
        StopIf::NotReady(_) => !s.ready,
        StopIf::P99Over(d) => s.p99_ms.is_some_and(|p| p > d.as_secs_f64() * 1000.0),
    };
    let (lasting, what) = match stop {
        StopIf::NotReady(d) => (
            d,
            format!(
                "an API endpoint failed /readyz for {}",
                humantime::format_duration(d)
            ),
        ),
        StopIf::P99Over(d) => (
            P99_PERSISTENCE,
            format!(
                "p99 latency over {} for {}",
                humantime::format_duration(d),
                humantime::format_duration(P99_PERSISTENCE)
            ),
        ),
    };
    let since = samples.iter().rev().take_while(|s| bad(s)).last()?;
    (last.t_ms.saturating_sub(since.t_ms) >= ms(lasting)).then_some(what)
}

/// What `drill` without `--lab` was asked for.
pub struct StagingDrill {
    pub runbook: String,
    pub params: Vec<(String, String)>,
    pub report_dir: Option<std::path::PathBuf>,
    pub expect: Vec<Expect>,
    pub stop_if: Vec<StopIf>,
    pub latency_threshold: Duration,
    pub recovery_window: Duration,
    pub recovery_timeout: Duration,
    pub ssh: SshArgs,
}

pub async fn run(settings: &Settings, d: &StagingDrill) -> anyhow::Result<Exit> {
    let inventory = settings.load_inventory()?;
    let Some(cluster_name) = d
        .params
        .iter()
        .find(|(k, _)| k == "cluster")
        .map(|(_, v)| v)
    else {
        return Err(ExitError::new(
            Exit::Usage,
            "a drill without --lab samples the API of the runbook's cluster: give -p cluster=NAME",
        )
        .into());
    };
    let Some(cluster) = inventory.clusters.get(cluster_name) else {
        return Err(ExitError::new(
            Exit::Usage,
            format!("the inventory has no cluster '{cluster_name}'"),
        )
        .into());
    };
    if cluster.api_endpoints.is_empty() {
        return Err(ExitError::new(
            Exit::Usage,
            format!("cluster '{cluster_name}' in the inventory lists no api_endpoints to sample"),
        )
        .into());
    }
    let kube = kube_config(cluster).map_err(|e| ExitError::new(Exit::Usage, e))?;
    let started_at = SystemTime::now();
    let t0 = Instant::now();
    let sampler = Sampler::new(
        &cluster.api_endpoints,
        kube.tls_server_name.as_deref(),
        kube.ca.as_deref(),
        None,
        t0,
    )?;
    let samples = sampler.samples();
    let sampling = sampler.start();
    // A first sample before the run, so the report starts from how things were.
    wait_for(&samples, PERIOD * 8, |s| s.last().map(|l| l.t_ms)).await;

    let cancel = Cancel::new();
    let stopped: Arc<Mutex<Option<String>>> = Arc::default();
    let watcher = {
        let (samples, cancel, stopped, stops) = (
            Arc::clone(&samples),
            cancel.clone(),
            Arc::clone(&stopped),
            d.stop_if.clone(),
        );
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PERIOD).await;
                let now = snapshot(&samples);
                if let Some(why) = stops.iter().find_map(|s| tripped(*s, &now)) {
                    stderr_line(&format!(
                        "[drill] stop condition tripped: {why}; stopping the run"
                    ));
                    if let Ok(mut s) = stopped.lock() {
                        *s = Some(why);
                    }
                    cancel.cancel();
                    return;
                }
            }
        })
    };
    let run_id = crate::journal::new_run_id();
    let run_start_ms = ms(t0.elapsed());
    let run_exit = crate::commands::run::run_as(
        settings,
        &run_args(&d.runbook, d.params.clone(), d.ssh.clone()),
        Arc::new(DrillOperator),
        run_id.clone(),
        cancel,
        crate::commands::run::StartedBy::Drill,
    )
    .await;
    watcher.abort();
    let run_exit = run_exit.unwrap_or_else(|e| {
        stderr_line(&format!("[drill] the run failed: {e:#}"));
        Exit::TargetsFailed
    });
    let stop_reason = stopped.lock().ok().and_then(|s| s.clone());
    let threshold_ms = d.latency_threshold.as_secs_f64() * 1000.0;
    let restored = if stop_reason.is_some() {
        stderr_line(&format!("[drill] undoing run {run_id}..."));
        let undone = crate::commands::run::undo(settings, &undo_args(&run_id, d.ssh.clone())).await;
        if let Err(e) = &undone {
            stderr_line(&format!("[drill] undo failed: {e:#}"));
        }
        Some(matches!(undone, Ok(Exit::Success)))
    } else {
        None
    };
    let recovered_ms = wait_for(&samples, d.recovery_timeout + d.recovery_window, |s| {
        recovered_at(s, run_start_ms, threshold_ms, d.recovery_window)
    })
    .await;
    sampling.stop();
    let tl = timeline::read(
        &settings.journal_root.join(&run_id).join("journal.jsonl"),
        started_at,
    )
    .unwrap_or_default();
    let record = DrillRecord {
        runbook: d.runbook.clone(),
        run_id: Some(run_id.clone()),
        started_at: humantime::format_rfc3339_millis(started_at).to_string(),
        fleet: settings.inventory.as_ref().map_or_else(
            || "the default inventory".to_owned(),
            |p| p.display().to_string(),
        ),
        workers: 0,
        control_planes: cluster.api_endpoints.len(),
        detect_ms: None,
        run_start_ms: Some(run_start_ms),
        first_effect_ms: tl.first_block_done_ms,
        recovered_ms,
        latency_threshold_ms: threshold_ms,
        recovery_window_ms: ms(d.recovery_window),
        breakglass_api_requests: 0,
        ssh_logins_per_node: None,
        samples: snapshot(&samples),
        steps: tl.steps.clone(),
        expectations: Vec::new(),
        verdict: match &stop_reason {
            Some(why) => format!(
                "stopped ({why}); {}",
                if restored == Some(true) {
                    "undone"
                } else {
                    "the undo did not finish cleanly"
                }
            ),
            None => format!("run ended with exit {}", run_exit.code()),
        },
        restored,
    };
    conclude(
        record,
        &d.expect,
        tl.failed_targets,
        d.report_dir.as_deref(),
        &settings.journal_root,
        stop_reason.is_none() && run_exit == Exit::Success,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t_ms: u64, ready: bool, p99: f64) -> Sample {
        Sample {
            t_ms,
            ready,
            p50_ms: Some(p99),
            p99_ms: Some(p99),
            error_rate: 0.0,
            throttled_per_s: 0.0,
            inflight: 0,
            agent_pods: 0,
            nodes_connected: 0,
            nodes_running: None,
        }
    }

    #[test]
    fn stop_conditions_trip_only_after_lasting_their_time() {
        let nr = parse_stop("not_ready", "1s").expect("parse");
        let mut v = vec![s(0, true, 10.0), s(250, false, 10.0), s(500, false, 10.0)];
        assert_eq!(tripped(nr, &v), None);
        v.extend([
            s(750, false, 10.0),
            s(1000, false, 10.0),
            s(1250, false, 10.0),
        ]);
        assert!(tripped(nr, &v).is_some_and(|w| w.contains("readyz")));
        v.push(s(1500, true, 10.0));
        assert_eq!(tripped(nr, &v), None);
        let p = parse_stop("p99_over", "500ms").expect("parse");
        let w: Vec<Sample> = (0..10).map(|i| s(i * 250, true, 900.0)).collect();
        assert!(tripped(p, &w).is_some());
        assert!(parse_stop("latency", "1s").is_err_and(|e| e.contains("not_ready=DURATION")));
    }
}
