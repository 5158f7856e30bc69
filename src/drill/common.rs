//! What the lab drill and the drill against a real inventory share: the operator that answers
//! for nobody at the terminal, waiting on samples, and the recovery rule.

use std::path::Path;
use std::time::{Duration, Instant};

use super::expect::{self, Expect};
use super::model::{DrillRecord, Sample};
use super::report;
use super::sampler::{PERIOD, Samples};
use crate::actions::context::Operator;
use crate::cli::{EngineArgs, PlanArgs, RunArgs, SshArgs, UndoArgs};
use crate::error::Exit;
use crate::output::stderr_line;

/// A drill's run: unattended, the operator's SSH options aside from the agent.
pub fn run_args(runbook: &str, params: Vec<(String, String)>, ssh: SshArgs) -> RunArgs {
    RunArgs {
        plan: PlanArgs {
            runbook: runbook.to_owned(),
            params,
            operator_cidrs: Vec::new(),
        },
        yes: true,
        dry_run: false,
        engine: EngineArgs::default(),
        ssh,
    }
}

/// Undoing a drill's run, unattended.
pub fn undo_args(run_id: &str, ssh: SshArgs) -> UndoArgs {
    UndoArgs {
        run: run_id.to_owned(),
        step: None,
        yes: true,
        allow_inventory_change: false,
        engine: EngineArgs::default(),
        ssh,
    }
}

/// Judges the expectations, writes the report into `dir` (default: the run's journal directory,
/// `drill/`), prints where it went: exit 0 when `ok` and every expectation held, else 3.
pub fn conclude(
    mut record: DrillRecord,
    expect: &[Expect],
    failed_targets: u64,
    dir: Option<&Path>,
    journal_root: &Path,
    ok: bool,
) -> anyhow::Result<Exit> {
    let dir = dir.map_or_else(
        || {
            journal_root
                .join(record.run_id.as_deref().unwrap_or("drill"))
                .join("drill")
        },
        Path::to_path_buf,
    );
    record.expectations = expect
        .iter()
        .map(|e| expect::judge(e, &record, failed_targets))
        .collect();
    let held = record.expectations.iter().all(|e| e.held);
    for e in record.expectations.iter().filter(|e| !e.held) {
        stderr_line(&format!(
            "[drill] expectation not held: {} {} (observed {})",
            e.name, e.wanted, e.observed
        ));
    }
    let paths = report::write(&record, &dir)?;
    crate::output::stdout_line(&report::terminal_summary(&record, &paths));
    Ok(if ok && held {
        Exit::Success
    } else {
        Exit::Policy
    })
}

/// Answers every confirmation and pause, saying so.
pub struct DrillOperator;

impl Operator for DrillOperator {
    fn confirm(&self, step: &str, what: &str, expected: &str) -> bool {
        stderr_line(&format!(
            "[drill] step {step}: {what}: confirming as \"{expected}\""
        ));
        true
    }

    fn pause(&self, step: &str, _message: &str) -> bool {
        stderr_line(&format!("[drill] paused at step {step}: continuing"));
        true
    }
}

pub fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub fn snapshot(samples: &Samples) -> Vec<Sample> {
    samples.lock().map(|s| s.clone()).unwrap_or_default()
}

pub fn healthy(s: &Sample, threshold_ms: f64) -> bool {
    s.ready && s.p99_ms.is_none_or(|p| p <= threshold_ms)
}

/// Waits until the latest sample satisfies `done`, or `timeout`: the time it did, in ms.
pub async fn wait_for(
    samples: &Samples,
    timeout: Duration,
    mut done: impl FnMut(&[Sample]) -> Option<u64>,
) -> Option<u64> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(t) = done(&snapshot(samples)) {
            return Some(t);
        }
        tokio::time::sleep(PERIOD).await;
    }
    None
}

/// The start of the good stretch that follows the last bad sample at or after `from_ms`, once
/// that stretch has lasted `window`.
pub fn recovered_at(
    samples: &[Sample],
    from_ms: u64,
    threshold_ms: f64,
    window: Duration,
) -> Option<u64> {
    let after: Vec<&Sample> = samples.iter().filter(|s| s.t_ms >= from_ms).collect();
    let last = after.last()?;
    let start = match after.iter().rposition(|s| !healthy(s, threshold_ms)) {
        Some(i) => after.get(i + 1)?.t_ms,
        None => after.first()?.t_ms,
    };
    (last.t_ms.saturating_sub(start) >= ms(window)).then_some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_ms: u64, ready: bool, p99: f64) -> Sample {
        Sample {
            t_ms,
            ready,
            p50_ms: Some(p99 / 2.0),
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
    fn recovery_starts_after_the_last_bad_sample_once_the_window_has_passed() {
        let w = Duration::from_secs(2);
        let mut s: Vec<Sample> = (0..10).map(|i| sample(i * 250, false, 5000.0)).collect();
        s.extend((10..14).map(|i| sample(i * 250, true, 100.0)));
        // Good since 2500 ms, observed until 3250: not yet 2 s.
        assert_eq!(recovered_at(&s, 0, 1000.0, w), None);
        s.extend((14..30).map(|i| sample(i * 250, true, 100.0)));
        assert_eq!(recovered_at(&s, 0, 1000.0, w), Some(2500));
        // A relapse moves it.
        s.push(sample(7500, true, 1500.0));
        s.extend((31..45).map(|i| sample(i * 250, true, 100.0)));
        assert_eq!(recovered_at(&s, 0, 1000.0, w), Some(7750));
    }
}
