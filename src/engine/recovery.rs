//! `resume` and `undo`: both start from a run's journal, which must verify first.
//!
//! The journal's `run_begin` holds the runbook's full source and the bound parameters, so both
//! act on exactly what ran, even if the runbook file changed since. The inventory is loaded
//! again from its recorded path, or from `-i` when the file moved, and must have the recorded
//! digest (a changed inventory could point the same host name at another machine) unless the
//! operator says otherwise.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use super::event::{RunBegin, ms};
use super::plan::{self, Plan};
use super::runbook::{Done, RunSettings};
use super::{Event, Run, Summary, TargetResult, fan_out};
use crate::actions::context::{StepContext, Target, TargetKind};
use crate::actions::contract::{Action, ActionFailure, Applied};
use crate::error::{Exit, ExitError};
use crate::inventory::Inventory;
use crate::journal::Record;
use crate::outcome::{Mode, Outcome, RunStatus, StepStatus};
use crate::runbook::{Runbook, bind, resolve};

/// What the journal says about a run.
pub struct History {
    pub begin: RunBegin,
    pub records: Vec<Record>,
}

impl History {
    pub fn from_records(records: Vec<Record>) -> anyhow::Result<History> {
        let begin = records
            .first()
            .and_then(|r| serde_json::from_value::<Event>(r.event.clone()).ok())
            .and_then(|e| match e {
                Event::RunBegin(b) => Some(b),
                _ => None,
            })
            .ok_or_else(|| {
                ExitError::new(
                    Exit::Journal,
                    "the journal does not start with a run_begin record",
                )
            })?;
        Ok(History { begin, records })
    }

    fn events(&self) -> impl Iterator<Item = Event> + '_ {
        self.records
            .iter()
            .filter_map(|r| serde_json::from_value::<Event>(r.event.clone()).ok())
    }

    /// The last status recorded (`completed`, `stopped`, `interrupted`; `undone` or
    /// `partly_undone` once `undo` acted on the run), if the run ended.
    pub fn end_status(&self) -> Option<RunStatus> {
        self.events().fold(None, |acc, e| match e {
            Event::RunEnd { status, .. } => Some(status),
            _ => acc,
        })
    }

    /// Targets that succeeded, steps that completed, and targets left in doubt (for resume).
    ///
    /// A target is in doubt when its snapshot was journaled (so `apply` may have started) but
    /// no result followed: the run was killed while the change was under way. A result of
    /// `in_doubt` (a resume that declined to re-run it) keeps it in doubt.
    pub fn done(&self) -> Done {
        let mut done = Done::default();
        // The last apply outcome of every (step, target), for the steps that could not reach
        // their targets (their fallbacks may still have to run).
        let mut last: BTreeMap<(String, String), Outcome> = BTreeMap::new();
        for e in self.events() {
            match e {
                Event::Snapshot { step, target, .. } => {
                    done.in_doubt.insert((step, target));
                }
                Event::TargetResult(r) if r.mode == Some(Mode::Apply) => {
                    let Some(step) = r.step else { continue };
                    let key = (step, r.target);
                    if let Some(d) = r.detail {
                        done.details.insert(key.clone(), d);
                    }
                    last.insert(key.clone(), r.outcome);
                    if r.outcome.is_ok() {
                        done.targets.insert(key.clone());
                    }
                    if r.outcome != Outcome::InDoubt {
                        done.in_doubt.remove(&key);
                    }
                }
                Event::StepEnd {
                    step,
                    status: StepStatus::Completed | StepStatus::Skipped,
                    ..
                } => {
                    done.steps.insert(step);
                }
                _ => {}
            }
        }
        let mut reached: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for ((step, _), outcome) in last {
            let counts = reached.entry(step).or_default();
            match outcome {
                Outcome::Unreachable | Outcome::TimedOut | Outcome::Throttled => counts.0 += 1,
                Outcome::Ok => {}
                _ => counts.1 += 1,
            }
        }
        done.unreachable_steps = reached
            .into_iter()
            .filter(|(_, (unreached, other))| *unreached > 0 && *other == 0)
            .map(|(step, _)| step)
            .collect();
        done
    }

    /// How many targets an `undo` of this run has already tried to restore.
    pub fn undo_attempts(&self) -> usize {
        self.events()
            .filter(|e| matches!(e, Event::TargetResult(r) if r.mode == Some(Mode::Undo)))
            .count()
    }

    /// Rebuilds the plan from the recorded runbook source, parameters and inventory: `given`
    /// (`-i`, for an inventory file moved since the run), else the path the journal recorded.
    /// Either must have the digest the run recorded unless `allow_inventory_change`.
    pub fn plan(
        &self,
        given: Option<&Path>,
        allow_inventory_change: bool,
    ) -> anyhow::Result<(Plan, Inventory)> {
        let b = &self.begin;
        let (Some(name), Some(source), Some(params)) = (&b.runbook, &b.runbook_source, &b.params)
        else {
            return Err(ExitError::new(
                Exit::Usage,
                format!(
                    "run {} was not a runbook run (it was `{}`): nothing to resume or undo",
                    b.run_id, b.command
                ),
            )
            .into());
        };
        let runbook = Runbook::parse(source, &format!("{name} (as recorded in run {})", b.run_id))
            .map_err(|e| ExitError::new(Exit::Journal, e.to_string()))?;
        let bound =
            bind(&runbook, params).map_err(|e| ExitError::new(Exit::Journal, e.to_string()))?;
        let resolved =
            resolve(&runbook, &bound).map_err(|e| ExitError::new(Exit::Journal, e.to_string()))?;
        let inventory = self.inventory(given)?;
        if inventory.digest != b.inventory_digest && !allow_inventory_change {
            return Err(self
                .inventory_changed(
                    &inventory,
                    "check the change, then pass --allow-inventory-change",
                )
                .into());
        }
        Ok((
            plan::build(resolved, &inventory, &b.run_id, &[])?,
            inventory,
        ))
    }

    /// Loads the run's inventory from `given` or, without it, from the path the journal
    /// recorded; a file that is gone is a usage error that says how to point at where it went.
    fn inventory(&self, given: Option<&Path>) -> Result<Inventory, ExitError> {
        let b = &self.begin;
        let path = given.unwrap_or_else(|| Path::new(&b.inventory));
        Inventory::load(path).map_err(|e| {
            let hint = match given {
                Some(_) => String::new(),
                None => format!(
                    "; if the inventory moved, name it with -i FILE (it must still have digest {})",
                    b.inventory_digest
                ),
            };
            ExitError::new(
                Exit::Usage,
                format!("the inventory of run {}: {e}{hint}", b.run_id),
            )
        })
    }

    /// The refusal of an inventory whose digest is not the one the run recorded: both files
    /// and digests, why it matters, and what to do (`fix`, after pointing at the run's own).
    pub fn inventory_changed(&self, inventory: &Inventory, fix: &str) -> ExitError {
        let b = &self.begin;
        let now = inventory.path.display();
        let what = if inventory.path == Path::new(&b.inventory) {
            format!(
                "inventory {now} changed since run {} ({} then, {} now)",
                b.run_id, b.inventory_digest, inventory.digest
            )
        } else {
            format!(
                "inventory {now} ({}) is not the inventory run {} used ({}, {})",
                inventory.digest, b.run_id, b.inventory, b.inventory_digest
            )
        };
        ExitError::new(
            Exit::Usage,
            format!(
                "{what}, so a host name may now mean another machine; name the inventory the run \
                 used with -i FILE (moved or copied, it keeps its digest), or {fix}"
            ),
        )
    }
}

/// One target to restore: the step's action and the snapshot taken before it changed anything.
struct UndoItem {
    target: Target,
    inverse: Box<dyn Action>,
}

/// `undo --step ID` names a step of the run, checked before anything is asked or journaled.
pub fn check_undo_step(plan: &Plan, run_id: &str, step: Option<&str>) -> Result<(), ExitError> {
    let Some(s) = step else {
        return Ok(());
    };
    if plan.steps.iter().any(|p| p.step.id == s) {
        return Ok(());
    }
    let ids = plan.steps.iter().map(|p| p.step.id.as_str());
    Err(ExitError::new(
        Exit::Usage,
        format!(
            "run {run_id} has no step '{s}'{}; its steps are: {}; nothing was changed or journaled",
            crate::runbook::did_you_mean(s, ids.clone()),
            ids.collect::<Vec<_>>().join(", ")
        ),
    ))
}

/// Applies inverses in reverse step order (and reverse target order within a step), journaled
/// in the run's own journal as `target_result` records with `mode: "undo"`. Targets already
/// undone are skipped, so `undo` can be repeated after a partial failure.
pub async fn undo(
    run: &Run,
    history: &History,
    plan: &Plan,
    inventory: &Inventory,
    only_step: Option<&str>,
    settings: &Arc<RunSettings>,
) -> anyhow::Result<(Exit, Summary)> {
    let started = Instant::now();
    check_undo_step(plan, &history.begin.run_id, only_step)?;
    // The state before the run per (step, target); what was already undone. An attempt that
    // may have changed a target makes its snapshot the one to restore: a later attempt (a
    // resume) snapshots what its predecessor may have changed already, which an action cannot
    // always tell (a GCP group carries no marker). A later snapshot counts only once the one
    // before is void: followed by a failure decided before any change, or by an undo.
    let mut snapshots: BTreeMap<(String, String), Value> = BTreeMap::new();
    let mut stands: HashSet<(String, String)> = HashSet::new();
    let mut order: Vec<(String, String)> = Vec::new();
    let mut undone: HashSet<(String, String)> = HashSet::new();
    // Targets some attempt may have changed: a snapshot followed by anything but a failure
    // decided before the change (`nothing_changed`), or by nothing at all (the run died).
    let mut pending: HashSet<(String, String)> = HashSet::new();
    let mut changed: HashSet<(String, String)> = HashSet::new();
    for e in history.events() {
        match e {
            Event::Snapshot {
                step,
                target,
                state,
            } => {
                let key = (step, target);
                if !snapshots.contains_key(&key) {
                    order.push(key.clone());
                }
                // A snapshot after an undo means a resume changed the target again: an earlier
                // undo no longer covers it.
                undone.remove(&key);
                pending.insert(key.clone());
                if stands.insert(key.clone()) {
                    snapshots.insert(key, state);
                }
            }
            Event::TargetResult(TargetResult {
                step: Some(step),
                mode: Some(Mode::Apply),
                nothing_changed,
                target,
                ..
            }) => {
                let key = (step, target);
                if pending.remove(&key) && !nothing_changed {
                    changed.insert(key.clone());
                }
                if nothing_changed && !changed.contains(&key) {
                    stands.remove(&key);
                }
            }
            Event::TargetResult(TargetResult {
                step: Some(step),
                mode: Some(mode),
                outcome,
                target,
                ..
            }) if mode == Mode::Undo && outcome.is_ok() => {
                stands.remove(&(step.clone(), target.clone()));
                undone.insert((step, target));
            }
            _ => {}
        }
    }
    changed.extend(pending);
    // What the run changed that an undo can restore, over every step (not only `--step`): the
    // run counts as undone once all of it is (see the `run_end` below).
    let mut reversible: HashSet<(String, String)> = HashSet::new();
    for planned in &plan.steps {
        let action = &planned.action;
        if action.read_only() {
            continue;
        }
        for key in order
            .iter()
            .filter(|k| k.0 == planned.step.id && changed.contains(*k))
        {
            if snapshots
                .get(key)
                .is_some_and(|state| action.inverse(state).is_some())
            {
                reversible.insert(key.clone());
            }
        }
    }
    let mut summary = Summary::default();
    for planned in plan.steps.iter().rev() {
        let id = planned.step.id.clone();
        if only_step.is_some_and(|s| s != id) {
            continue;
        }
        let action = &planned.action;
        // Probes and pauses changed nothing: there is nothing to say about undoing them.
        if action.read_only() {
            continue;
        }
        let mut items = Vec::new();
        let mut irreversible = 0;
        let mut untouched = 0;
        for key in order.iter().rev().filter(|k| k.0 == id) {
            if undone.contains(key) {
                continue;
            }
            if !changed.contains(key) {
                untouched += 1;
                continue;
            }
            let Some(state) = snapshots.get(key) else {
                continue;
            };
            let target = match action.runs_on() {
                TargetKind::Operator => Target::Operator,
                TargetKind::Objects => {
                    let Some(object) = action.objects().into_iter().find(|t| t.name() == key.1)
                    else {
                        return Err(ExitError::new(
                            Exit::Journal,
                            format!("step {id} of the recorded runbook does not name {}", key.1),
                        )
                        .into());
                    };
                    object
                }
                TargetKind::Hosts => {
                    let Some(host) = inventory.hosts.iter().find(|h| h.name == key.1) else {
                        return Err(ExitError::new(
                            Exit::Usage,
                            format!("host {} (step {id}) is no longer in the inventory", key.1),
                        )
                        .into());
                    };
                    Target::Host(host.clone())
                }
            };
            match action.inverse(state) {
                Some(inverse) => items.push(UndoItem { target, inverse }),
                None => irreversible += 1,
            }
        }
        if untouched > 0 {
            run.observer.event(&Event::Notice {
                message: format!(
                    "step {id} ({}): {untouched} target(s) have nothing to undo: the step was \
                     refused there before it changed anything",
                    planned.step.action.kind()
                ),
            });
        }
        if irreversible > 0 {
            run.observer.event(&Event::Notice {
                message: format!(
                    "step {id} ({}): {irreversible} target(s) have nothing to undo",
                    planned.step.action.kind()
                ),
            });
        }
        if items.is_empty() {
            continue;
        }
        let begin = Event::WaveBegin {
            step: id.clone(),
            wave: 1,
            waves: 1,
            targets: items.iter().map(|i| i.target.name().to_owned()).collect(),
        };
        run.record(&begin, &begin)?;
        let mut journal_error = None;
        let settings2 = Arc::clone(settings);
        let timeout = planned.step.timeout;
        let cancel = run.cancel.clone();
        let observer = Arc::clone(&run.observer);
        let step = id.clone();
        let (mut ok, mut failed) = (0, 0);
        let mut restored = Vec::new();
        fan_out(
            items,
            planned.step.concurrency.unwrap_or(settings.concurrency),
            &run.cancel,
            move |item: UndoItem| {
                let t = Instant::now();
                let notice = |m: &str| {
                    observer.event(&Event::Notice {
                        message: format!("undo step {step}: {m}"),
                    });
                };
                // One reach (one SSH session) for the inverse's apply and verify.
                let mut cx = StepContext::new(
                    &item.target,
                    &step,
                    settings2.reach.as_ref(),
                    timeout,
                    &cancel,
                    settings2.operator.as_ref(),
                    settings2.yes,
                    &notice,
                );
                let r: Result<Applied, ActionFailure> = item
                    .inverse
                    .apply(&mut cx, &Value::Null)
                    .and_then(|a| item.inverse.verify(&mut cx, &Value::Null).map(|()| a));
                drop(cx);
                (item.target, r, t.elapsed())
            },
            |_,
             (target, r, elapsed): (
                Target,
                Result<Applied, ActionFailure>,
                std::time::Duration,
            )| {
                let mut ev = TargetResult {
                    step: Some(id.clone()),
                    wave: Some(1),
                    mode: Some(Mode::Undo),
                    target: target.name().to_owned(),
                    address: target.address(),
                    duration_ms: ms(elapsed),
                    ..TargetResult::default()
                };
                match r {
                    Ok(a) => {
                        ev.outcome = Outcome::Ok;
                        ev.summary = Some(a.summary);
                        ok += 1;
                        restored.push((id.clone(), target.name().to_owned()));
                    }
                    Err(f) => {
                        ev.outcome = f.outcome;
                        ev.reason = Some(f.message);
                        failed += 1;
                    }
                }
                summary.total += 1;
                summary.count(ev.outcome);
                let journaled = ev.for_journal(b"", b"");
                if let Err(e) =
                    run.record(&Event::TargetResult(ev), &Event::TargetResult(journaled))
                {
                    journal_error.get_or_insert(e);
                }
            },
        )
        .await;
        if let Some(e) = journal_error {
            return Err(e);
        }
        undone.extend(restored);
        let end = Event::StepEnd {
            step: id.clone(),
            status: if failed == 0 {
                StepStatus::Undone
            } else {
                StepStatus::UndoFailed
            },
            ok,
            failed,
        };
        run.record(&end, &end)?;
        if run.cancel.is_cancelled() {
            break;
        }
    }
    summary.elapsed_ms = ms(started.elapsed());
    summary.interrupted = run.cancel.is_cancelled();
    let exit = if summary.interrupted {
        Exit::Interrupted
    } else if summary.bad() > 0 {
        Exit::TargetsFailed
    } else {
        Exit::Success
    };
    summary.exit_code = exit.code();
    run.record(
        &Event::Summary(summary.clone()),
        &Event::Summary(summary.clone()),
    )?;
    // How the run stands now, for `journal list`: it cannot tell from the journal alone which
    // targets have an inverse, or which steps a `--step` undo left alone, so the undo says.
    // Journal only, like the run's own `run_end`; an undo that has not acted on anything yet
    // (nothing reversible, or a `--step` with nothing to restore) leaves the status as it was.
    if history.undo_attempts() + summary.total > 0 {
        let end = Event::RunEnd {
            status: undo_status(&reversible, &undone),
            exit_code: exit.code(),
        };
        run.journal.append(&serde_json::to_value(&end)?)?;
    }
    Ok((exit, summary))
}

/// `undone` once every target the run changed that can be restored is, else `partly_undone`
/// (a `--step` undo, failures, or an interrupted undo).
fn undo_status(
    reversible: &HashSet<(String, String)>,
    undone: &HashSet<(String, String)>,
) -> RunStatus {
    if reversible.is_subset(undone) {
        RunStatus::Undone
    } else {
        RunStatus::PartlyUndone
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn history(events: &[Value]) -> History {
        let mut all = vec![json!({
            "type": "run_begin", "run_id": "r", "version": "0", "command": "run", "argv": [],
            "operator": "o", "inventory": "i", "inventory_digest": "d", "selector": "",
            "targets": 3, "journal": "j"
        })];
        all.extend_from_slice(events);
        let records = all
            .into_iter()
            .enumerate()
            .map(|(seq, event)| Record {
                v: 1,
                seq: seq as u64,
                time: String::new(),
                operator: String::new(),
                event,
                prev: String::new(),
                batch: None,
                hash: String::new(),
            })
            .collect();
        History::from_records(records).expect("history")
    }

    fn snapshot(target: &str) -> Value {
        json!({"type": "snapshot", "step": "s", "target": target, "state": null})
    }

    fn result(target: &str, outcome: &str) -> Value {
        json!({
            "type": "target_result", "step": "s", "mode": "apply", "target": target,
            "address": "127.0.0.1:22", "outcome": outcome, "stdout_bytes": 0, "stderr_bytes": 0,
            "stdout_truncated": false, "stderr_truncated": false, "duration_ms": 1.0
        })
    }

    fn keys(names: &[&str]) -> HashSet<(String, String)> {
        names.iter().map(|n| ("s".into(), (*n).into())).collect()
    }

    #[test]
    fn a_snapshot_without_a_result_is_in_doubt_until_a_real_result_follows() {
        let h = history(&[
            snapshot("a"),
            result("a", "ok"),
            snapshot("b"),
            result("b", "failed"),
            // c: snapshot journaled, then the run died.
            snapshot("c"),
            // d: in doubt, and a resume reported it so: still in doubt.
            snapshot("d"),
            result("d", "in_doubt"),
            // e: in doubt, then re-run with --rerun-in-doubt: settled.
            snapshot("e"),
            result("e", "in_doubt"),
            snapshot("e"),
            result("e", "ok"),
        ]);
        let done = h.done();
        assert_eq!(done.targets, keys(&["a", "e"]));
        assert_eq!(done.in_doubt, keys(&["c", "d"]));
    }
}
