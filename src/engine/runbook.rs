//! Executes a [`Plan`]: steps in order, waves in order, targets concurrently within limits.
//!
//! Per target: snapshot (read-only, retried on transport failures), journal the snapshot
//! (fsynced) *before* anything changes, apply (retried only when nothing can have run, or the
//! action is idempotent), verify. Between waves and after each step: the failure budget, then
//! the gate. A budget exceeded or a gate that does not pass stops the run (exit 3).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::event::{StepBegin, ms};
use super::plan::{Plan, PlannedStep};
use super::{Event, Run, Summary, TargetResult, fan_out};
use crate::actions::contract::{Action, ActionFailure, Applied};
use crate::actions::node::SshNode;
use crate::actions::{StepAction, wait_healthy};
use crate::engine::exec::ssh_target;
use crate::error::Exit;
use crate::inventory::Host;
use crate::journal::Journal;
use crate::runbook::OnFailure;
use crate::transport::RateLimiter;
use crate::transport::ssh::SshOptions;

/// The operator, as the engine needs them: typed confirmation and pauses. Implemented by the
/// command layer (terminal prompts); the engine never reads the terminal itself.
pub trait Operator: Send + Sync {
    /// Asks the operator to type `expected` before `step` runs. False: declined.
    fn confirm(&self, step: &str, what: &str, expected: &str) -> bool;
    /// Waits at a `pause` step. False: the operator chose to stop.
    fn pause(&self, step: &str, message: &str) -> bool;
}

/// How to execute.
pub struct RunSettings {
    /// `--yes`: no typed confirmation; pauses must be skippable.
    pub yes: bool,
    pub concurrency: usize,
    pub options: Arc<SshOptions>,
    /// Extra attempts after a transport failure (jittered exponential backoff).
    pub retries: u32,
    /// New SSH connections per second across the whole run: every session an action, a gate
    /// or an undo opens waits for its slot.
    pub limiter: Arc<RateLimiter>,
}

/// What an earlier attempt at this run finished (for `resume`).
#[derive(Debug, Default)]
pub struct Done {
    /// (step, target) pairs that succeeded.
    pub targets: HashSet<(String, String)>,
    /// Steps that completed.
    pub steps: HashSet<String>,
    /// (step, target) pairs whose change was under way when the run died: it may or may not
    /// have happened. A step that is not idempotent is not run on them again; they are
    /// reported `in_doubt` (a failure, counted against the wave's budget) until the operator,
    /// having checked, resumes with `--rerun-in-doubt`.
    pub in_doubt: HashSet<(String, String)>,
}

/// The outcome of a target a resumed run did not run again because an earlier attempt may
/// already have changed it (see [`Done::in_doubt`]).
pub const IN_DOUBT: &str = "in_doubt";

/// How the run ended.
#[derive(Debug)]
pub struct RunOutcome {
    pub exit: Exit,
    pub summary: Summary,
    pub status: &'static str,
}

/// Calls `f` until it succeeds, fails in a way that must not be retried, or attempts run out.
/// Backoff: 0.5 s doubling, capped at 8 s, with full jitter (never a synchronized retry storm).
fn with_retries<T>(
    retries: u32,
    retry_all_transport: bool,
    mut f: impl FnMut() -> Result<T, ActionFailure>,
) -> Result<T, ActionFailure> {
    let mut attempt = 0;
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) => {
                let transport = matches!(e.outcome.as_str(), "unreachable" | "timed_out" | "error");
                let retryable = transport && (e.never_ran || retry_all_transport);
                if !retryable || attempt >= retries {
                    return Err(e);
                }
                let cap = Duration::from_millis(500u64.saturating_mul(1 << attempt.min(4)));
                std::thread::sleep(cap.mul_f64(fastrand::f64()));
                attempt += 1;
            }
        }
    }
}

/// What happened on one target.
struct TargetDone {
    host: Host,
    result: Result<Applied, ActionFailure>,
    elapsed: Duration,
}

/// The result of a target an earlier attempt was cut off changing, for an action that is not
/// idempotent: not run again, reported `in_doubt` (see [`Done::in_doubt`]). Nothing connects.
fn in_doubt(action: &dyn Action, host: Host, step: &str) -> TargetDone {
    TargetDone {
        host,
        result: Err(ActionFailure {
            outcome: IN_DOUBT.into(),
            message: format!(
                "an earlier attempt was cut off while step {step} was changing this host, and {} \
                 is not idempotent: it may already have run, so it was not run again. Check the \
                 host, then resume with --rerun-in-doubt to run it again",
                action.kind()
            ),
            never_ran: true,
        }),
        elapsed: Duration::ZERO,
    }
}

/// Snapshot, journal, apply, verify on one target. Runs on a blocking thread.
fn run_target(
    action: &dyn Action,
    host: Host,
    step: &str,
    journal: &Journal,
    settings: &RunSettings,
    timeout: Option<Duration>,
) -> TargetDone {
    let started = Instant::now();
    let mut node = SshNode::new(
        ssh_target(&host),
        &settings.options,
        timeout,
        &settings.limiter,
    );
    let result = (|| {
        let snapshot = with_retries(settings.retries, true, || action.snapshot(&mut node))?;
        let record = serde_json::to_value(Event::Snapshot {
            step: step.to_owned(),
            target: host.name.clone(),
            state: snapshot.clone(),
        })
        .map_err(|e| ActionFailure::refused(format!("cannot encode snapshot: {e}")))?;
        journal.append(&record).map_err(|e| {
            ActionFailure::refused(format!(
                "cannot journal the snapshot, so nothing was changed: {e}"
            ))
        })?;
        let applied = with_retries(settings.retries, action.idempotent(), || {
            action.apply(&mut node, &snapshot)
        })?;
        with_retries(settings.retries, true, || {
            action.verify(&mut node, &snapshot)
        })?;
        Ok(applied)
    })();
    TargetDone {
        host,
        result,
        elapsed: started.elapsed(),
    }
}

/// The event for one target's result. `detail.stdout`/`stderr` (from `ssh.exec`) become the
/// event's output, shown folded to humans and digested in the journal.
fn target_event(
    step: &str,
    wave: usize,
    mode: &str,
    done: &TargetDone,
) -> (TargetResult, TargetResult) {
    let mut ev = TargetResult {
        step: Some(step.to_owned()),
        wave: Some(wave),
        mode: Some(mode.to_owned()),
        target: done.host.name.clone(),
        address: done.host.socket_addr().to_string(),
        duration_ms: ms(done.elapsed),
        ..TargetResult::default()
    };
    let (mut out, mut err) = (String::new(), String::new());
    match &done.result {
        Ok(applied) => {
            ev.outcome = "ok".into();
            ev.summary = Some(applied.summary.clone());
            if let Some(s) = applied.detail.get("stdout").and_then(|v| v.as_str()) {
                s.clone_into(&mut out);
            }
            if let Some(s) = applied.detail.get("stderr").and_then(|v| v.as_str()) {
                s.clone_into(&mut err);
            }
            // Output travels as stdout/stderr (digested in the journal); the rest is detail.
            if let serde_json::Value::Object(map) = &applied.detail {
                let rest: serde_json::Map<String, serde_json::Value> = map
                    .iter()
                    .filter(|(k, _)| k.as_str() != "stdout" && k.as_str() != "stderr")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if !rest.is_empty() {
                    ev.detail = Some(serde_json::Value::Object(rest));
                }
            }
        }
        Err(f) => {
            ev.outcome.clone_from(&f.outcome);
            ev.reason = Some(f.message.clone());
        }
    }
    ev.stdout_bytes = out.len() as u64;
    ev.stderr_bytes = err.len() as u64;
    let journaled = TargetResult {
        stdout: None,
        stderr: None,
        ..ev.clone()
    }
    .for_journal(out.as_bytes(), err.as_bytes());
    ev.stdout = (!out.is_empty()).then_some(out);
    ev.stderr = (!err.is_empty()).then_some(err);
    (ev, journaled)
}

/// Why the run stopped early.
enum Stop {
    Policy(String),
    Interrupted,
}

/// Executes the plan. Per-target failures are counted; an `Err` means the run could not go on.
pub async fn execute(
    run: &Run,
    plan: &Plan,
    settings: &Arc<RunSettings>,
    operator: &dyn Operator,
    done: &Done,
) -> anyhow::Result<RunOutcome> {
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut stop = None;
    let mut any_failed = false;
    for planned in &plan.steps {
        let id = &planned.step.id;
        if done.steps.contains(id) {
            run.observer.event(&Event::Notice {
                message: format!("step {id}: completed in an earlier attempt; skipped"),
            });
            continue;
        }
        let begin = Event::StepBegin(StepBegin {
            step: id.clone(),
            action: planned.step.action.kind().name().to_owned(),
            description: planned.step.description.clone(),
            targets: planned.target_count(),
            waves: planned.waves.iter().map(Vec::len).collect(),
        });
        run.record(&begin, &begin)?;
        if planned.step.confirm {
            let expected = plan
                .runbook
                .cluster
                .clone()
                .unwrap_or_else(|| plan.runbook.name.clone());
            let confirmed = settings.yes
                || operator.confirm(
                    id,
                    &format!(
                        "{} on {} targets",
                        planned.step.action.kind(),
                        planned.target_count()
                    ),
                    &expected,
                );
            let note = Event::Notice {
                message: format!(
                    "step {id}: {}",
                    if !confirmed {
                        "confirmation declined".to_owned()
                    } else if settings.yes {
                        "confirmation skipped (--yes)".to_owned()
                    } else {
                        format!("confirmed by typing \"{expected}\"")
                    }
                ),
            };
            run.record(&note, &note)?;
            if !confirmed {
                stop = Some((
                    id.clone(),
                    Stop::Policy("the operator declined the confirmation".into()),
                ));
                break;
            }
        }
        let step_result = match &planned.action {
            StepAction::Targets(action) => {
                run_waves(
                    run,
                    planned,
                    Arc::clone(action),
                    settings,
                    done,
                    &mut summary,
                )
                .await?
            }
            StepAction::WaitHealthy(args) => {
                let detail = wait_healthy::wait(args, &run.cancel, args.timeout, |m| {
                    run.observer.event(&Event::Notice {
                        message: format!("step {id}: {m}"),
                    });
                })
                .await;
                let passed = detail.is_ok();
                let gate = Event::Gate {
                    step: id.clone(),
                    passed,
                    detail: detail.clone().unwrap_or_else(|e| e),
                };
                run.record(&gate, &gate)?;
                match detail {
                    Ok(_) => StepResult::Completed { ok: 0, failed: 0 },
                    Err(_) if run.cancel.is_cancelled() => StepResult::Stopped(Stop::Interrupted),
                    Err(e) => StepResult::Stopped(Stop::Policy(format!("not healthy: {e}"))),
                }
            }
            StepAction::Pause(p) => {
                let go_on = if settings.yes {
                    p.skippable
                } else {
                    operator.pause(id, &p.message)
                };
                if go_on {
                    StepResult::Completed { ok: 0, failed: 0 }
                } else {
                    StepResult::Stopped(Stop::Policy(
                        "the operator stopped the run at a pause".into(),
                    ))
                }
            }
        };
        if run.cancel.is_cancelled() && !matches!(step_result, StepResult::Stopped(_)) {
            stop = Some((id.clone(), Stop::Interrupted));
            let end = Event::StepEnd {
                step: id.clone(),
                status: "interrupted".into(),
                ok: 0,
                failed: 0,
            };
            run.record(&end, &end)?;
            break;
        }
        match step_result {
            StepResult::Completed { ok, failed } => {
                let end = Event::StepEnd {
                    step: id.clone(),
                    status: "completed".into(),
                    ok,
                    failed,
                };
                run.record(&end, &end)?;
            }
            StepResult::FailedContinue { ok, failed } => {
                any_failed = true;
                let end = Event::StepEnd {
                    step: id.clone(),
                    status: "failed".into(),
                    ok,
                    failed,
                };
                run.record(&end, &end)?;
            }
            StepResult::Stopped(s) => {
                let status = match &s {
                    Stop::Interrupted => "interrupted",
                    Stop::Policy(_) => "stopped",
                };
                let end = Event::StepEnd {
                    step: id.clone(),
                    status: status.into(),
                    ok: 0,
                    failed: 0,
                };
                run.record(&end, &end)?;
                stop = Some((id.clone(), s));
                break;
            }
        }
    }
    summary.elapsed_ms = ms(started.elapsed());
    let (exit, status) = match &stop {
        Some((step, Stop::Policy(reason))) => {
            let ev = Event::Stopped {
                step: step.clone(),
                reason: reason.clone(),
            };
            run.record(&ev, &ev)?;
            (Exit::Policy, "stopped")
        }
        Some((_, Stop::Interrupted)) => (Exit::Interrupted, "interrupted"),
        None if any_failed || summary.bad() > 0 => (Exit::TargetsFailed, "completed"),
        None => (Exit::Success, "completed"),
    };
    summary.interrupted = matches!(stop, Some((_, Stop::Interrupted)));
    summary.exit_code = exit.code();
    run.record(
        &Event::Summary(summary.clone()),
        &Event::Summary(summary.clone()),
    )?;
    let end = Event::RunEnd {
        status: status.into(),
        exit_code: exit.code(),
    };
    run.journal.append(&serde_json::to_value(&end)?)?;
    Ok(RunOutcome {
        exit,
        summary,
        status,
    })
}

enum StepResult {
    Completed { ok: usize, failed: usize },
    FailedContinue { ok: usize, failed: usize },
    Stopped(Stop),
}

async fn run_waves(
    run: &Run,
    planned: &PlannedStep,
    action: Arc<dyn Action>,
    settings: &Arc<RunSettings>,
    done: &Done,
    summary: &mut Summary,
) -> anyhow::Result<StepResult> {
    let id = planned.step.id.clone();
    let waves = planned.waves.len();
    let (mut ok_total, mut failed_total) = (0, 0);
    let mut budget_blown = false;
    let mut done_hosts: Vec<Host> = Vec::new();
    for (w, wave) in planned.waves.iter().enumerate() {
        let wave_no = w + 1;
        let pending: Vec<Host> = wave
            .iter()
            .filter(|h| !done.targets.contains(&(id.clone(), h.name.clone())))
            .cloned()
            .collect();
        let begin = Event::WaveBegin {
            step: id.clone(),
            wave: wave_no,
            waves,
            targets: pending.iter().map(|h| h.name.clone()).collect(),
        };
        run.record(&begin, &begin)?;
        let (mut ok, mut failed) = (wave.len() - pending.len(), 0usize);
        let mut journal_error = None;
        let stats = {
            let action = Arc::clone(&action);
            let settings = Arc::clone(settings);
            let journal = Arc::clone(&run.journal);
            let step = id.clone();
            let timeout = planned.step.timeout;
            let doubtful: HashSet<String> = if action.idempotent() {
                HashSet::new()
            } else {
                pending
                    .iter()
                    .filter(|h| done.in_doubt.contains(&(id.clone(), h.name.clone())))
                    .map(|h| h.name.clone())
                    .collect()
            };
            fan_out(
                pending,
                planned.step.concurrency.unwrap_or(settings.concurrency),
                &run.cancel,
                move |host: Host| {
                    if doubtful.contains(&host.name) {
                        return in_doubt(action.as_ref(), host, &step);
                    }
                    run_target(action.as_ref(), host, &step, &journal, &settings, timeout)
                },
                |_, d: TargetDone| {
                    let (ev, journaled) = target_event(&id, wave_no, "apply", &d);
                    summary.total += 1;
                    summary.count(&ev.outcome);
                    if ev.outcome == "ok" {
                        ok += 1;
                    } else {
                        failed += 1;
                    }
                    if let Err(e) =
                        run.record(&Event::TargetResult(ev), &Event::TargetResult(journaled))
                    {
                        journal_error.get_or_insert(e);
                    }
                },
            )
            .await
        };
        if let Some(e) = journal_error {
            return Err(e);
        }
        summary.not_started += stats.not_started;
        ok_total += ok;
        failed_total += failed;
        let allowed = planned.step.failure_budget.allowed(wave.len());
        let end = Event::WaveEnd {
            step: id.clone(),
            wave: wave_no,
            ok,
            failed,
            allowed_failures: allowed,
        };
        run.record(&end, &end)?;
        if run.cancel.is_cancelled() {
            return Ok(StepResult::Stopped(Stop::Interrupted));
        }
        if failed > allowed {
            if planned.step.on_failure == OnFailure::Stop {
                return Ok(StepResult::Stopped(Stop::Policy(format!(
                    "wave {wave_no}/{waves} of step {id}: {failed} of {} targets failed, budget {} ({allowed} allowed)",
                    wave.len(),
                    planned.step.failure_budget
                ))));
            }
            budget_blown = true;
        }
        done_hosts.extend(wave.iter().cloned());
        if let Some(reason) = gate(run, planned, settings, &done_hosts).await? {
            return Ok(StepResult::Stopped(Stop::Policy(reason)));
        }
    }
    Ok(if budget_blown {
        StepResult::FailedContinue {
            ok: ok_total,
            failed: failed_total,
        }
    } else {
        StepResult::Completed {
            ok: ok_total,
            failed: failed_total,
        }
    })
}

/// Runs the step's gate until it passes or its timeout; `Some(reason)` when it did not pass.
async fn gate(
    run: &Run,
    planned: &PlannedStep,
    settings: &Arc<RunSettings>,
    done_hosts: &[Host],
) -> anyhow::Result<Option<String>> {
    let (Some(g), Some(action)) = (&planned.step.gate, &planned.gate_action) else {
        return Ok(None);
    };
    let id = &planned.step.id;
    let result: Result<String, String> = match action {
        StepAction::WaitHealthy(args) => {
            wait_healthy::wait(args, &run.cancel, g.timeout, |m| {
                run.observer.event(&Event::Notice {
                    message: format!("step {id} gate: {m}"),
                });
            })
            .await
        }
        StepAction::Targets(a) => {
            let hosts = planned
                .gate_hosts
                .clone()
                .unwrap_or_else(|| done_hosts.to_vec());
            let deadline = Instant::now() + g.timeout;
            loop {
                let last = check_on_hosts(run, Arc::clone(a), hosts.clone(), settings).await;
                match last {
                    Ok(()) => break Ok(format!("passed on {} hosts", hosts.len())),
                    Err(e) if Instant::now() >= deadline || run.cancel.is_cancelled() => {
                        break Err(e);
                    }
                    Err(e) => {
                        run.observer.event(&Event::Notice {
                            message: format!("step {id} gate not yet passing: {e}"),
                        });
                        tokio::time::sleep(
                            Duration::from_secs(5)
                                .min(deadline.saturating_duration_since(Instant::now())),
                        )
                        .await;
                    }
                }
            }
        }
        StepAction::Pause(_) => Ok("no gate".into()),
    };
    let passed = result.is_ok();
    let detail = result.unwrap_or_else(|e| e);
    let ev = Event::Gate {
        step: id.clone(),
        passed,
        detail: detail.clone(),
    };
    run.record(&ev, &ev)?;
    Ok((!passed).then(|| {
        format!(
            "gate of step {id} did not pass within {}: {detail}",
            humantime::format_duration(g.timeout)
        )
    }))
}

/// A read-only check on hosts: Ok when it succeeds everywhere.
async fn check_on_hosts(
    run: &Run,
    action: Arc<dyn Action>,
    hosts: Vec<Host>,
    settings: &Arc<RunSettings>,
) -> Result<(), String> {
    let mut failures = Vec::new();
    let settings2 = Arc::clone(settings);
    fan_out(
        hosts,
        settings.concurrency,
        &run.cancel,
        move |host: Host| {
            let mut node = SshNode::new(
                ssh_target(&host),
                &settings2.options,
                None,
                &settings2.limiter,
            );
            let r = action.apply(&mut node, &json!(null));
            (host.name, r)
        },
        |_, (name, r): (String, Result<Applied, ActionFailure>)| {
            if let Err(e) = r {
                failures.push(format!("{name}: {e}"));
            }
        },
    )
    .await;
    if failures.is_empty() {
        Ok(())
    } else {
        failures.sort();
        let n = failures.len();
        failures.truncate(3);
        Err(format!("{n} host(s) failing: {}", failures.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(outcome: &str, never_ran: bool) -> ActionFailure {
        ActionFailure {
            outcome: outcome.into(),
            message: outcome.into(),
            never_ran,
        }
    }

    /// How many times `with_retries(2, idempotent, ..)` calls an action failing with `outcome`.
    fn attempts(outcome: &str, never_ran: bool, idempotent: bool) -> u32 {
        let mut calls = 0;
        let r: Result<(), _> = with_retries(2, idempotent, || {
            calls += 1;
            Err(failure(outcome, never_ran))
        });
        assert_eq!(
            r,
            Err(failure(outcome, never_ran)),
            "the last failure is returned"
        );
        calls
    }

    #[test]
    fn only_transport_failures_are_retried_and_only_when_nothing_can_have_run_twice() {
        // Nothing ran (refused TCP, deadline before the command started): always retried.
        assert_eq!(attempts("unreachable", true, false), 3);
        assert_eq!(attempts("timed_out", true, false), 3);
        // The command may have started: retried only when the action is idempotent.
        assert_eq!(attempts("timed_out", false, true), 3);
        assert_eq!(attempts("timed_out", false, false), 1);
        assert_eq!(attempts("error", false, false), 1);
        // Not transport failures: the command ran and said no, or trust was refused.
        for outcome in ["failed", "auth_failed", "refused", IN_DOUBT] {
            assert_eq!(attempts(outcome, true, true), 1, "{outcome}");
        }
    }

    #[test]
    fn a_retry_that_succeeds_ends_the_loop() {
        let mut calls = 0;
        let r = with_retries(5, true, || {
            calls += 1;
            if calls < 2 {
                Err(failure("unreachable", true))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r, Ok(2));
    }
}
