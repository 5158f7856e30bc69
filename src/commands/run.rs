//! `breakglass plan | run | resume | undo`.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use crate::actions::context::{FleetReach, Operator};
use crate::cli::{EngineArgs, PlanArgs, ResumeArgs, RunArgs, SshArgs, UndoArgs};
use crate::engine::event::RunBegin;
use crate::engine::plan::{self, Plan};
use crate::engine::recovery::{self, History};
use crate::engine::runbook::{self as runner, Done, RunSettings};
use crate::engine::{Cancel, Event, Observer, Run};
use crate::error::{Exit, ExitError};
use crate::inventory::Inventory;
use crate::journal::{self, Journal};
use crate::outcome::RunStatus;
use crate::output::human::HumanObserver;
use crate::output::json::JsonObserver;
use crate::output::{stderr_line, stdout_line, stdout_raw};
use crate::runbook::{Runbook, bind, load_any, resolve};
use crate::settings::Settings;

/// Prompts on the terminal (stderr), answers from stdin. Without a terminal on stdin the answer
/// is still read from stdin, so a drill script can pipe it; end of input declines.
struct TerminalOperator;

fn read_answer() -> Option<String> {
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim().to_owned()),
    }
}

impl Operator for TerminalOperator {
    fn confirm(&self, step: &str, what: &str, expected: &str) -> bool {
        stderr_line(&format!("\nStep {step} will change the fleet: {what}."));
        let _ = write!(
            std::io::stderr(),
            "Type the cluster name ({}) to continue, anything else to stop: ",
            crate::output::neutralize(expected)
        );
        let _ = std::io::stderr().flush();
        read_answer().is_some_and(|a| a == expected)
    }

    fn pause(&self, step: &str, message: &str) -> bool {
        stderr_line(&format!("\nPaused at step {step}: {message}"));
        let _ = write!(
            std::io::stderr(),
            "Type 'continue' to go on, anything else to stop here: "
        );
        let _ = std::io::stderr().flush();
        read_answer().is_some_and(|a| a.eq_ignore_ascii_case("continue"))
    }
}

fn usage(e: impl std::fmt::Display) -> anyhow::Error {
    ExitError::new(Exit::Usage, e.to_string()).into()
}

/// Loads the runbook and inventory, binds parameters and builds the plan.
pub(super) fn prepare(
    settings: &Settings,
    args: &PlanArgs,
    run_id: &str,
) -> anyhow::Result<(Runbook, Plan, Inventory)> {
    let runbook = load_any(&args.runbook).map_err(usage)?;
    let bound = bind(&runbook, &args.params).map_err(usage)?;
    let resolved = resolve(&runbook, &bound).map_err(usage)?;
    let inventory = settings.load_inventory()?;
    let plan = plan::build(resolved, &inventory, run_id, &args.operator_cidrs)?;
    Ok((runbook, plan, inventory))
}

pub(super) fn print_plan(settings: &Settings, plan: &Plan) -> anyhow::Result<()> {
    if settings.json() {
        stdout_line(&serde_json::to_string(&crate::output::plan::view(plan))?);
    } else {
        stdout_raw(&crate::output::plan::render(plan));
    }
    Ok(())
}

/// Refuses, before anything runs, what `--yes` cannot honour: a pause that may not be skipped.
fn check_unattended(plan: &Plan, yes: bool) -> anyhow::Result<()> {
    if !yes {
        if !std::io::stdin().is_terminal() && plan.steps.iter().any(|s| s.step.confirm) {
            // Still allowed (answers may be piped), but say where the answer is read from.
            stderr_line("breakglass: stdin is not a terminal: confirmations are read from stdin");
        }
        return Ok(());
    }
    for s in &plan.steps {
        if let crate::actions::args::ActionArgs::Pause(p) = &s.step.action
            && !p.skippable
        {
            return Err(usage(format!(
                "step {} is a pause that may not be skipped, and --yes cannot answer it; run without --yes, or mark the pause `skippable = true`",
                s.step.id
            )));
        }
    }
    Ok(())
}

struct Started {
    run: Run,
    human: Option<Arc<HumanObserver>>,
}

fn start(settings: &Settings, journal: Journal, cancel: Cancel) -> Started {
    let journal = Arc::new(journal);
    let human = (!settings.json()).then(|| Arc::new(HumanObserver::new(settings.progress)));
    let observer: Arc<dyn Observer> = match &human {
        Some(h) => Arc::clone(h) as Arc<dyn Observer>,
        None => Arc::new(JsonObserver),
    };
    let run = Run {
        run_id: journal.run_id().to_owned(),
        journal,
        observer,
        cancel,
    };
    run.watch_interrupts();
    Started { run, human }
}

fn run_settings(
    settings: &Settings,
    inventory: &Inventory,
    ssh: &SshArgs,
    engine: &EngineArgs,
    yes: bool,
    operator: Arc<dyn Operator>,
) -> anyhow::Result<Arc<RunSettings>> {
    let ssh = settings.ssh(ssh, inventory)?;
    let limiter = ssh.limiter(crate::settings::DEFAULT_CHANGE_RATE);
    let cloud_pace = crate::settings::cloud_pace(ssh.rate, engine.cloud_rate);
    Ok(Arc::new(RunSettings {
        yes,
        concurrency: ssh.concurrency,
        reach: Arc::new(
            FleetReach::new(
                Arc::new(ssh.options),
                limiter,
                inventory.clusters.clone(),
                Arc::new(crate::transport::RateLimiter::new(
                    crate::settings::DEFAULT_API_RATE,
                )),
            )
            .with_cloud_pace(cloud_pace, engine.cloud_budget),
        ),
        operator,
        retries: engine.retries,
    }))
}

fn finish(started: &Started, outcome: &runner::RunOutcome) -> Exit {
    if let Some(h) = &started.human {
        h.finish_run(
            &outcome.summary,
            &started.run.run_id,
            outcome.status.label(),
        );
        match outcome.exit {
            Exit::Policy | Exit::Interrupted => stderr_line(&format!(
                "breakglass: continue with `breakglass resume {id}`, or reverse with `breakglass undo {id}`",
                id = started.run.run_id
            )),
            _ => {}
        }
    }
    outcome.exit
}

pub async fn run(settings: &Settings, args: &RunArgs) -> anyhow::Result<Exit> {
    run_with(settings, args, Arc::new(TerminalOperator)).await
}

/// `run` with a given operator (the terminal, or the lab demo's scripted answers).
pub async fn run_with(
    settings: &Settings,
    args: &RunArgs,
    operator: Arc<dyn Operator>,
) -> anyhow::Result<Exit> {
    run_as(
        settings,
        args,
        operator,
        journal::new_run_id(),
        Cancel::new(),
        StartedBy::Run,
    )
    .await
}

/// What started a run, as its journal's `run_begin` says (`command`) and `journal list` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartedBy {
    /// `breakglass run`.
    Run,
    /// `breakglass drill`: a rehearsal, journaled as one.
    Drill,
}

/// [`run_with`] under a run id the caller chose (a drill reads the run's journal afterwards),
/// stopped like a Ctrl-C when `cancel` is cancelled (a drill's stop condition).
pub async fn run_as(
    settings: &Settings,
    args: &RunArgs,
    operator: Arc<dyn Operator>,
    run_id: String,
    cancel: Cancel,
    started_by: StartedBy,
) -> anyhow::Result<Exit> {
    let (runbook, plan, inventory) = prepare(settings, &args.plan, &run_id)?;
    if args.dry_run {
        print_plan(settings, &plan)?;
        return Ok(Exit::Success);
    }
    check_unattended(&plan, args.yes)?;
    // The preflights (a cloud firewall block that would cut the operator or a peer) before
    // anything changes, even the journal.
    let mut plan = plan;
    super::plan::read_now(settings, &mut plan, &inventory, true).await?;
    let refused = super::plan::refusals(&plan);
    if !refused.is_empty() {
        if !settings.json() {
            stdout_raw(&crate::output::plan::render(&plan));
        }
        return Err(usage(format!(
            "refused before anything changed:\n  {}",
            refused.join("\n  ")
        )));
    }
    let rs = run_settings(
        settings,
        &inventory,
        &args.ssh,
        &args.engine,
        args.yes,
        operator,
    )?;
    if !settings.json() {
        stdout_raw(&crate::output::plan::render(&plan));
    }
    let started = start(settings, super::new_journal(settings, &run_id)?, cancel);
    let targets: usize = plan.steps.iter().map(plan::PlannedStep::target_count).sum();
    let begin = Event::RunBegin(RunBegin {
        run_id: run_id.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        command: match started_by {
            StartedBy::Run => "run",
            StartedBy::Drill => "drill",
        }
        .into(),
        argv: std::env::args().collect(),
        operator: journal::operator(),
        inventory: std::fs::canonicalize(&inventory.path)
            .unwrap_or_else(|_| inventory.path.clone())
            .display()
            .to_string(),
        inventory_digest: inventory.digest.clone(),
        selector: String::new(),
        targets,
        journal: started.run.journal.dir().display().to_string(),
        runbook: Some(runbook.name.clone()),
        runbook_source: Some(runbook.source.clone()),
        params: Some(plan.runbook.params.to_pairs()),
    });
    started.run.record(&begin, &begin)?;
    let outcome = runner::execute(&started.run, &plan, &rs, &Done::default()).await?;
    Ok(finish(&started, &outcome))
}

fn open_history(settings: &Settings, run: &str) -> anyhow::Result<(Journal, History)> {
    let (key, trust) = journal::operator_key(&settings.journal_root)?;
    let journal = Journal::open(&settings.journal_root, run, &key, &trust)?;
    let records = journal::read_trusted(journal.dir(), &trust)?;
    Ok((journal, History::from_records(records)?))
}

pub async fn resume(settings: &Settings, args: &ResumeArgs) -> anyhow::Result<Exit> {
    let (journal, history) = open_history(settings, &args.run)?;
    if history.end_status() == Some(RunStatus::Completed) {
        stdout_line(&format!(
            "run {} already completed; nothing to resume",
            args.run
        ));
        return Ok(Exit::Success);
    }
    // Resuming an undone run would re-apply only what had not finished before the undo, and
    // leave what the undo restored restored: a fleet half in each state. A new run is clear.
    let undone = history.undo_attempts();
    if undone > 0 {
        return Err(ExitError::new(
            Exit::Usage,
            format!(
                "run {} has been undone ({undone} target result(s) of `breakglass undo` in its journal); \
                 resuming it would leave the fleet half applied. Start a new `breakglass run` instead",
                args.run
            ),
        )
        .into());
    }
    let (plan, inventory) =
        history.plan(settings.given_inventory(), args.allow_inventory_change)?;
    check_unattended(&plan, args.yes)?;
    let rs = run_settings(
        settings,
        &inventory,
        &args.ssh,
        &args.engine,
        args.yes,
        Arc::new(TerminalOperator),
    )?;
    let mut done = history.done();
    let in_doubt = done.in_doubt.len();
    if args.rerun_in_doubt {
        done.in_doubt.clear();
    }
    let started = start(settings, journal, Cancel::new());
    let note = Event::Notice {
        message: format!(
            "resumed by {} ({} targets and {} steps already done{})",
            journal::operator(),
            done.targets.len(),
            done.steps.len(),
            match (in_doubt, args.rerun_in_doubt) {
                (0, _) => String::new(),
                (n, true) => format!("; {n} cut off mid-change, all run again (--rerun-in-doubt)"),
                (n, false) => format!(
                    "; {n} cut off mid-change: run again where the step is idempotent, else in doubt"
                ),
            }
        ),
    };
    started.run.record(&note, &note)?;
    let outcome = runner::execute(&started.run, &plan, &rs, &done).await?;
    Ok(finish(&started, &outcome))
}

pub async fn undo(settings: &Settings, args: &UndoArgs) -> anyhow::Result<Exit> {
    let (journal, history) = open_history(settings, &args.run)?;
    let (plan, inventory) =
        history.plan(settings.given_inventory(), args.allow_inventory_change)?;
    // A mistyped `--step` is refused before the prompt and before the journal records an undo.
    recovery::check_undo_step(&plan, &args.run, args.step.as_deref())?;
    let rs = run_settings(
        settings,
        &inventory,
        &args.ssh,
        &args.engine,
        args.yes,
        Arc::new(TerminalOperator),
    )?;
    if !args.yes {
        let expected = plan
            .runbook
            .cluster
            .clone()
            .unwrap_or_else(|| plan.runbook.name.clone());
        let what = match &args.step {
            Some(s) => format!("undo step {s} of run {}", args.run),
            None => format!("undo every step of run {}", args.run),
        };
        if !TerminalOperator.confirm("undo", &what, &expected) {
            return Err(
                ExitError::new(Exit::Policy, "undo not confirmed; nothing was changed").into(),
            );
        }
    }
    let started = start(settings, journal, Cancel::new());
    let note = Event::Notice {
        message: format!(
            "undo by {}{}",
            journal::operator(),
            args.step
                .as_deref()
                .map(|s| format!(" (step {s})"))
                .unwrap_or_default()
        ),
    };
    started.run.record(&note, &note)?;
    let (exit, summary) = recovery::undo(
        &started.run,
        &history,
        &plan,
        &inventory,
        args.step.as_deref(),
        &rs,
    )
    .await?;
    if let Some(h) = &started.human {
        h.finish_run(
            &summary,
            &started.run.run_id,
            if exit == Exit::Success {
                "undone"
            } else {
                "undo incomplete"
            },
        );
    }
    Ok(exit)
}
