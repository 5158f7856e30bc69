//! Executes a [`Plan`]: steps in order, waves in order, targets concurrently within limits.
//!
//! Per target: snapshot (read-only, retried on transport failures), journal the snapshot
//! (fsynced) *before* anything changes, apply (retried only when nothing can have run, or the
//! action is idempotent), verify. Between waves and after each step: the failure budget, then
//! the gate. A budget exceeded or a gate that does not pass stops the run (exit 3).
//!
//! The engine knows targets only by name and address: every action, whether it acts on hosts or
//! once from the operator's machine (`wait.healthy`, `pause`), goes through the same waves,
//! journal and policy, and reaches its target through the [`Reach`] the command injected.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::event::{StepBegin, ms};
use super::plan::{Plan, PlannedStep};
use super::{Event, Run, Summary, TargetResult, fan_out};
use crate::actions::context::{Operator, Reach, StepContext, Target, TargetKind};
use crate::actions::contract::{Action, ActionFailure, Applied};
use crate::error::Exit;
use crate::journal::Journal;
use crate::outcome::{Mode, Outcome, RunStatus, StepStatus};
use crate::runbook::OnFailure;

/// How to execute.
pub struct RunSettings {
    /// `--yes`: no typed confirmation; pauses must be skippable.
    pub yes: bool,
    pub concurrency: usize,
    /// How targets are reached (SSH sessions paced by `--rate`; fakes in tests).
    pub reach: Arc<dyn Reach>,
    /// Who answers confirmations and pauses.
    pub operator: Arc<dyn Operator>,
    /// Extra attempts after a transport failure (jittered exponential backoff).
    pub retries: u32,
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
    /// Steps that could not reach their targets (for the fallbacks a resumed run may still
    /// have to run).
    pub unreachable_steps: HashSet<String>,
    /// The `detail` of the latest apply result of each (step, target) that has one: what an
    /// earlier attempt recorded (an update under way), handed to the action again.
    pub details: std::collections::HashMap<(String, String), serde_json::Value>,
}

/// How the run ended.
#[derive(Debug)]
pub struct RunOutcome {
    pub exit: Exit,
    pub summary: Summary,
    pub status: RunStatus,
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
                if !e.outcome.retryable(e.never_ran, retry_all_transport) || attempt >= retries {
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
    target: Target,
    result: Result<Applied, ActionFailure>,
    elapsed: Duration,
    /// What apply recorded when verify then failed (an EKS update id, so `resume` follows the
    /// same update): journaled with the failure.
    applied: Option<serde_json::Value>,
}

/// The result of a target an earlier attempt was cut off changing, for an action that is not
/// idempotent: not run again, reported `in_doubt` (see [`Done::in_doubt`]). Nothing connects.
fn in_doubt(action: &dyn Action, target: Target, step: &str) -> TargetDone {
    TargetDone {
        result: Err(ActionFailure {
            outcome: Outcome::InDoubt,
            message: format!(
                "an earlier attempt was cut off while step {step} was changing {target}, and {} \
                 is not idempotent: it may already have run, so it was not run again. Check it, \
                 then resume with --rerun-in-doubt to run it again",
                action.kind()
            ),
            never_ran: true,
        }),
        target,
        elapsed: Duration::ZERO,
        applied: None,
    }
}

/// What every worker of a step needs, shared by reference-counting into the blocking jobs.
struct StepJob {
    action: Arc<dyn Action>,
    step: String,
    timeout: Option<Duration>,
    settings: Arc<RunSettings>,
    journal: Arc<Journal>,
    run_cancel: crate::cancel::Cancel,
    observer: Arc<dyn super::Observer>,
    /// What earlier attempts' apply recorded, by target (see [`Done::details`]).
    earlier: std::collections::HashMap<String, serde_json::Value>,
}

impl StepJob {
    fn new(
        run: &Run,
        planned: &PlannedStep,
        action: Arc<dyn Action>,
        settings: &Arc<RunSettings>,
    ) -> StepJob {
        StepJob {
            action,
            step: planned.step.id.clone(),
            timeout: planned.step.timeout,
            settings: Arc::clone(settings),
            journal: Arc::clone(&run.journal),
            run_cancel: run.cancel.clone(),
            observer: Arc::clone(&run.observer),
            earlier: std::collections::HashMap::new(),
        }
    }

    /// Calls `f` with the action's context for `target`: one reach (one SSH session) for all
    /// of it.
    fn with_context<R>(
        &self,
        target: &Target,
        prefix: &str,
        f: impl FnOnce(&mut StepContext<'_>) -> R,
    ) -> R {
        let notice = |m: &str| {
            self.observer.event(&Event::Notice {
                message: format!("{prefix}: {m}"),
            });
        };
        let mut cx = StepContext::new(
            target,
            &self.step,
            self.settings.reach.as_ref(),
            self.timeout,
            &self.run_cancel,
            self.settings.operator.as_ref(),
            self.settings.yes,
            &notice,
        )
        .with_earlier(self.earlier.get(target.name()));
        f(&mut cx)
    }

    /// Snapshot, journal, apply, verify on one target. Runs on a blocking thread.
    fn run_target(&self, target: Target) -> TargetDone {
        let started = Instant::now();
        let action = self.action.as_ref();
        let retries = self.settings.retries;
        let prefix = format!("step {}", self.step);
        let mut applied_detail = None;
        let result = self.with_context(&target, &prefix, |cx| {
            let snapshot = with_retries(retries, true, || action.snapshot(cx))?;
            if !action.read_only() {
                let record = serde_json::to_value(Event::Snapshot {
                    step: self.step.clone(),
                    target: target.name().to_owned(),
                    state: snapshot.clone(),
                })
                .map_err(|e| ActionFailure::refused(format!("cannot encode snapshot: {e}")))?;
                self.journal.append(&record).map_err(|e| {
                    ActionFailure::refused(format!(
                        "cannot journal the snapshot, so nothing was changed: {e}"
                    ))
                })?;
            }
            let applied =
                with_retries(retries, action.idempotent(), || action.apply(cx, &snapshot))?;
            if let Err(e) = with_retries(retries, true, || action.verify(cx, &snapshot)) {
                applied_detail = Some(applied.detail);
                return Err(e);
            }
            Ok(applied)
        });
        TargetDone {
            target,
            result,
            elapsed: started.elapsed(),
            applied: applied_detail.filter(|d| !d.is_null()),
        }
    }
}

/// The event for one target's result. `detail.stdout`/`stderr` (from `ssh.exec`) become the
/// event's output, shown folded to humans and digested in the journal.
fn target_event(
    step: &str,
    wave: usize,
    mode: Mode,
    done: &TargetDone,
) -> (TargetResult, TargetResult) {
    let mut ev = TargetResult {
        step: Some(step.to_owned()),
        wave: Some(wave),
        mode: Some(mode),
        target: done.target.name().to_owned(),
        address: done.target.address(),
        duration_ms: ms(done.elapsed),
        ..TargetResult::default()
    };
    let (mut out, mut err) = (String::new(), String::new());
    match &done.result {
        Ok(applied) => {
            ev.outcome = Outcome::Ok;
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
            ev.outcome = f.outcome;
            ev.reason = Some(f.message.clone());
            ev.detail.clone_from(&done.applied);
            // An in-doubt target was not run again, but an earlier attempt may have changed it.
            ev.nothing_changed = f.never_ran && f.outcome != Outcome::InDoubt;
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
    done: &Done,
) -> anyhow::Result<RunOutcome> {
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut stop = None;
    // Failed targets per step; a step whose fallback succeeded is covered by it.
    let mut failed_by_step: Vec<(String, usize)> = Vec::new();
    let mut covered: HashSet<String> = HashSet::new();
    let mut unreachable: HashSet<String> = done.unreachable_steps.clone();
    let mut skipped = plan.skipped.iter().peekable();
    for (i, planned) in plan.steps.iter().enumerate() {
        while let Some(s) = skipped.next_if(|s| s.before <= i) {
            record_skipped(run, s)?;
        }
        let id = &planned.step.id;
        if done.steps.contains(id) {
            run.observer.event(&Event::Notice {
                message: format!("step {id}: completed in an earlier attempt; skipped"),
            });
            continue;
        }
        if let Some(first) = &planned.step.run_if_unreachable
            && !unreachable.contains(first)
        {
            let note = Event::Notice {
                message: format!(
                    "step {id}: skipped: step {first} reached its targets, so its fallback is not needed"
                ),
            };
            run.record(&note, &note)?;
            let end = Event::StepEnd {
                step: id.clone(),
                status: StepStatus::Skipped,
                ok: 0,
                failed: 0,
            };
            run.record(&end, &end)?;
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
                || settings.operator.confirm(
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
        let mut all_unreachable = false;
        let step_result = run_waves(
            run,
            planned,
            settings,
            done,
            &mut summary,
            &mut all_unreachable,
        )
        .await?;
        // What this attempt saw wins over an earlier attempt's (a resumed step may now reach
        // the targets it could not before).
        if all_unreachable {
            unreachable.insert(id.clone());
        } else {
            unreachable.remove(id);
        }
        if run.cancel.is_cancelled() && !matches!(step_result, StepResult::Stopped(_)) {
            stop = Some((id.clone(), Stop::Interrupted));
            let end = Event::StepEnd {
                step: id.clone(),
                status: StepStatus::Interrupted,
                ok: 0,
                failed: 0,
            };
            run.record(&end, &end)?;
            break;
        }
        match step_result {
            StepResult::Completed { ok, failed } => {
                failed_by_step.push((id.clone(), failed));
                if failed == 0
                    && let Some(first) = &planned.step.run_if_unreachable
                {
                    covered.insert(first.clone());
                }
                let end = Event::StepEnd {
                    step: id.clone(),
                    status: StepStatus::Completed,
                    ok,
                    failed,
                };
                run.record(&end, &end)?;
            }
            StepResult::FailedContinue { ok, failed } => {
                failed_by_step.push((id.clone(), failed));
                let end = Event::StepEnd {
                    step: id.clone(),
                    status: StepStatus::Failed,
                    ok,
                    failed,
                };
                run.record(&end, &end)?;
            }
            StepResult::Stopped(s) => {
                let status = match &s {
                    Stop::Interrupted => StepStatus::Interrupted,
                    Stop::Policy(_) => StepStatus::Stopped,
                };
                let end = Event::StepEnd {
                    step: id.clone(),
                    status,
                    ok: 0,
                    failed: 0,
                };
                run.record(&end, &end)?;
                stop = Some((id.clone(), s));
                break;
            }
        }
    }
    if stop.is_none() {
        for s in skipped {
            record_skipped(run, s)?;
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
            (Exit::Policy, RunStatus::Stopped)
        }
        Some((_, Stop::Interrupted)) => (Exit::Interrupted, RunStatus::Interrupted),
        // A step that could not reach its targets and whose fallback then did the work does
        // not fail the run: the change it was there for is made.
        None if failed_by_step
            .iter()
            .any(|(step, failed)| *failed > 0 && !covered.contains(step)) =>
        {
            (Exit::TargetsFailed, RunStatus::Completed)
        }
        None => (Exit::Success, RunStatus::Completed),
    };
    summary.interrupted = matches!(stop, Some((_, Stop::Interrupted)));
    summary.exit_code = exit.code();
    run.record(
        &Event::Summary(summary.clone()),
        &Event::Summary(summary.clone()),
    )?;
    let end = Event::RunEnd {
        status,
        exit_code: exit.code(),
    };
    run.journal.append(&serde_json::to_value(&end)?)?;
    Ok(RunOutcome {
        exit,
        summary,
        status,
    })
}

/// A `skip_if_none` step the inventory gave nothing to act on: said, and ended as skipped.
fn record_skipped(run: &Run, s: &crate::engine::plan::SkippedStep) -> anyhow::Result<()> {
    let note = Event::Notice {
        message: format!("step {}: skipped (skip_if_none): {}", s.id, s.reason),
    };
    run.record(&note, &note)?;
    let end = Event::StepEnd {
        step: s.id.clone(),
        status: StepStatus::Skipped,
        ok: 0,
        failed: 0,
    };
    run.record(&end, &end)
}

enum StepResult {
    Completed { ok: usize, failed: usize },
    FailedContinue { ok: usize, failed: usize },
    Stopped(Stop),
}

async fn run_waves(
    run: &Run,
    planned: &PlannedStep,
    settings: &Arc<RunSettings>,
    done: &Done,
    summary: &mut Summary,
    all_unreachable: &mut bool,
) -> anyhow::Result<StepResult> {
    // Failures that mean "could not reach it" (unreachable, timed out, throttled) against any
    // other kind: the step reached none of the targets it failed on when only the first occur.
    let (mut unreached, mut other_failures) = (0usize, 0usize);
    let id = planned.step.id.clone();
    let action = Arc::clone(&planned.action);
    let waves = planned.waves.len();
    let (mut ok_total, mut failed_total) = (0, 0);
    let mut budget_blown = false;
    let mut done_targets: Vec<Target> = Vec::new();
    let mut job = StepJob::new(run, planned, Arc::clone(&action), settings);
    job.earlier = done
        .details
        .iter()
        .filter(|((step, _), _)| *step == id)
        .map(|((_, target), d)| (target.clone(), d.clone()))
        .collect();
    let job = Arc::new(job);
    for (w, wave) in planned.waves.iter().enumerate() {
        let wave_no = w + 1;
        let pending: Vec<Target> = wave
            .iter()
            .filter(|t| !done.targets.contains(&(id.clone(), t.name().to_owned())))
            .cloned()
            .collect();
        let begin = Event::WaveBegin {
            step: id.clone(),
            wave: wave_no,
            waves,
            targets: pending.iter().map(|t| t.name().to_owned()).collect(),
        };
        run.record(&begin, &begin)?;
        let (mut ok, mut failed) = (wave.len() - pending.len(), 0usize);
        // Never reached, and the step says so is no failure (`ignore_unreachable`).
        let mut ignored: HashSet<String> = HashSet::new();
        let ignore_unreachable = planned.step.ignore_unreachable;
        let mut first_failure: Option<String> = None;
        let mut journal_error = None;
        let stats = {
            let job = Arc::clone(&job);
            let doubtful: HashSet<String> = if action.idempotent() {
                HashSet::new()
            } else {
                pending
                    .iter()
                    .filter(|t| done.in_doubt.contains(&(id.clone(), t.name().to_owned())))
                    .map(|t| t.name().to_owned())
                    .collect()
            };
            fan_out(
                pending,
                planned.step.concurrency.unwrap_or(settings.concurrency),
                &run.cancel,
                move |target: Target| {
                    if doubtful.contains(target.name()) {
                        return in_doubt(job.action.as_ref(), target, &job.step);
                    }
                    job.run_target(target)
                },
                |_, d: TargetDone| {
                    let (ev, journaled) = target_event(&id, wave_no, Mode::Apply, &d);
                    summary.total += 1;
                    summary.count(ev.outcome);
                    let never_reached = d.result.as_ref().err().is_some_and(|f| {
                        f.never_ran && matches!(f.outcome, Outcome::Unreachable | Outcome::TimedOut)
                    });
                    if ev.outcome.is_ok() {
                        ok += 1;
                    } else if ignore_unreachable && never_reached {
                        ignored.insert(d.target.name().to_owned());
                    } else {
                        failed += 1;
                        if let Err(f) = &d.result {
                            first_failure.get_or_insert_with(|| format!("{}: {f}", d.target));
                            if matches!(
                                f.outcome,
                                Outcome::Unreachable | Outcome::TimedOut | Outcome::Throttled
                            ) {
                                unreached += 1;
                            } else {
                                other_failures += 1;
                            }
                        }
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
        *all_unreachable = unreached > 0 && other_failures == 0;
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
        if !ignored.is_empty() {
            // Folded (`worker[151-400,489-500]`): a shrunk fleet leaves hundreds unreachable.
            let note = Event::Notice {
                message: format!(
                    "wave {wave_no}/{waves} of step {id}: {} not reachable, not counted as failed \
                     (ignore_unreachable): {}",
                    ignored.len(),
                    crate::inventory::hostset::fold(&ignored)
                ),
            };
            run.record(&note, &note)?;
        }
        if run.cancel.is_cancelled() {
            return Ok(StepResult::Stopped(Stop::Interrupted));
        }
        if failed > allowed {
            if planned.step.on_failure == OnFailure::Stop {
                // A step acting once (a pause, a health wait) stops for its one reason.
                if let ([Target::Operator], Some(reason)) = (wave.as_slice(), &first_failure) {
                    return Ok(StepResult::Stopped(Stop::Policy(reason.clone())));
                }
                return Ok(StepResult::Stopped(Stop::Policy(format!(
                    "wave {wave_no}/{waves} of step {id}: {failed} of {} targets failed, budget {} ({allowed} allowed)",
                    wave.len(),
                    planned.step.failure_budget
                ))));
            }
            budget_blown = true;
        }
        done_targets.extend(wave.iter().filter(|t| !ignored.contains(t.name())).cloned());
        if let Some(reason) = gate(run, planned, settings, &done_targets).await? {
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
    done_targets: &[Target],
) -> anyhow::Result<Option<String>> {
    let (Some(g), Some(action)) = (&planned.step.gate, &planned.gate_action) else {
        return Ok(None);
    };
    let id = &planned.step.id;
    let targets = match &planned.gate_targets {
        Some(t) => t.clone(),
        None => done_targets.to_vec(),
    };
    let job = Arc::new(StepJob {
        step: format!("{id} gate"),
        timeout: None,
        ..StepJob::new(run, planned, Arc::clone(action), settings)
    });
    let deadline = Instant::now() + g.timeout;
    let result = loop {
        let last = check(run, &job, targets.clone(), settings).await;
        match last {
            Ok(passed) => break Ok(passed),
            Err(e) if Instant::now() >= deadline || run.cancel.is_cancelled() => {
                break Err(e);
            }
            Err(e) => {
                run.observer.event(&Event::Notice {
                    message: format!("step {id} gate not yet passing: {e}"),
                });
                tokio::time::sleep(
                    Duration::from_secs(5).min(deadline.saturating_duration_since(Instant::now())),
                )
                .await;
            }
        }
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

/// A read-only check (a gate) on targets: what it said when it passes everywhere.
async fn check(
    run: &Run,
    job: &Arc<StepJob>,
    targets: Vec<Target>,
    settings: &Arc<RunSettings>,
) -> Result<String, String> {
    let mut failures = Vec::new();
    let mut said = Vec::new();
    let n = targets.len();
    let once = job.action.runs_on() == TargetKind::Operator;
    let job = Arc::clone(job);
    fan_out(
        targets,
        settings.concurrency,
        &run.cancel,
        move |target: Target| {
            let prefix = format!("step {}", job.step);
            let r = job.with_context(&target, &prefix, |cx| job.action.apply(cx, &json!(null)));
            (target, r)
        },
        |_, (target, r): (Target, Result<Applied, ActionFailure>)| match r {
            Ok(a) => said.push(a.summary),
            Err(e) if once => failures.push(e.message),
            Err(e) => failures.push(format!("{target}: {e}")),
        },
    )
    .await;
    if once {
        // A check from the operator's machine (a health probe): its own words.
        return match (said.pop(), failures.pop()) {
            (Some(passed), None) => Ok(passed),
            (_, Some(failed)) => Err(failed),
            (None, None) => Err("the check did not run".into()),
        };
    }
    if failures.is_empty() {
        Ok(format!("passed on {n} hosts"))
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

    fn failure(outcome: Outcome, never_ran: bool) -> ActionFailure {
        ActionFailure {
            outcome,
            message: outcome.to_string(),
            never_ran,
        }
    }

    /// How many times `with_retries(2, idempotent, ..)` calls an action failing with `outcome`.
    fn attempts(outcome: Outcome, never_ran: bool, idempotent: bool) -> u32 {
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
        assert_eq!(attempts(Outcome::Unreachable, true, false), 3);
        assert_eq!(attempts(Outcome::TimedOut, true, false), 3);
        // The command may have started: retried only when the action is idempotent.
        assert_eq!(attempts(Outcome::TimedOut, false, true), 3);
        assert_eq!(attempts(Outcome::TimedOut, false, false), 1);
        assert_eq!(attempts(Outcome::Error, false, false), 1);
        // Not transport failures: the command ran and said no, or trust was refused.
        for outcome in [
            Outcome::Failed,
            Outcome::AuthFailed,
            Outcome::Refused,
            Outcome::InDoubt,
        ] {
            assert_eq!(attempts(outcome, true, true), 1, "{outcome}");
        }
    }

    #[test]
    fn a_retry_that_succeeds_ends_the_loop() {
        let mut calls = 0;
        let r = with_retries(5, true, || {
            calls += 1;
            if calls < 2 {
                Err(failure(Outcome::Unreachable, true))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r, Ok(2));
    }
}
