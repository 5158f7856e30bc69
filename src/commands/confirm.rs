//! `breakglass confirm RUN`: keep a run's firewall blocks by cancelling their dead-man timers
//! (like `commit confirmed` on Junos, fleet-wide).
//!
//! The run's journal says which targets a `firewall.block` step succeeded on; the run's own
//! inventory (from where the journal says, or `-i` when the file moved; checked against the
//! journaled digest, so a host name still means the same machine) says how to reach them. Each target's timers are cancelled over SSH (paced by
//! `--rate`), results are printed folded and journaled in the run's journal as they land
//! (`mode: "confirm"`), and a notice recording what was confirmed closes it. Ctrl-C stops
//! launching new hosts; a second one exits at once (130) without tearing a record.
//! Exit 0 when every timer was cancelled (or already confirmed), 1 otherwise.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use crate::actions::args::ActionArgs;
use crate::actions::firewall::{self, Confirmed};
use crate::cli::ConfirmArgs;
use crate::engine::event::ms;
use crate::engine::exec::ssh_target;
use crate::engine::recovery::History;
use crate::engine::{Cancel, Event, Observer, Run, Summary, TargetResult, fan_out};
use crate::error::{Exit, ExitError};
use crate::inventory::{Host, Inventory, hostset};
use crate::journal::{self, Journal, JournalError};
use crate::outcome::{Mode, Outcome};
use crate::output::human::HumanObserver;
use crate::output::json::JsonObserver;
use crate::output::stderr_line;
use crate::settings::Settings;
use crate::transport::ssh::{self, ExecResult};

pub async fn confirm(settings: &Settings, args: &ConfirmArgs) -> anyhow::Result<Exit> {
    // The lock is held by a run still in progress (e.g. waiting at a pause): its timers must
    // still be cancellable then, so confirm goes on without appending, and says so.
    let (key, trust) = journal::operator_key(&settings.journal_root)?;
    let journal = match Journal::open(&settings.journal_root, &args.run, &key, &trust) {
        Ok(j) => Some(j),
        Err(JournalError::Locked { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let records = journal::read_trusted(&settings.journal_root.join(&args.run), &trust)?;
    let history = History::from_records(records)?;
    let (plan, inventory) = history.plan(settings.given_inventory(), true)?;
    check_inventory(&history, &inventory)?;

    // Block steps with a dead-man timer, then the targets each succeeded on.
    let steps: Vec<String> = plan
        .steps
        .iter()
        .filter(
            |s| matches!(&s.step.action, ActionArgs::FirewallBlock(b) if !b.revert_after.is_zero()),
        )
        .map(|s| s.step.id.clone())
        .collect();
    let mut per_host: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &history.records {
        let Ok(Event::TargetResult(t)) = serde_json::from_value::<Event>(r.event.clone()) else {
            continue;
        };
        if let (Some(step), Some(Mode::Apply), Outcome::Ok) = (&t.step, t.mode, t.outcome)
            && steps.contains(step)
        {
            let list = per_host.entry(t.target.clone()).or_default();
            if !list.contains(step) {
                list.push(step.clone());
            }
        }
    }
    if per_host.is_empty() {
        return Err(ExitError::new(
            Exit::Usage,
            format!(
                "run {} has no successful firewall.block with a dead-man timer: nothing to confirm",
                args.run
            ),
        )
        .into());
    }
    let mut jobs = Vec::new();
    for (name, steps) in per_host {
        let host = inventory
            .hosts
            .iter()
            .find(|h| h.name == name)
            .ok_or_else(|| {
                ExitError::new(
                    Exit::Usage,
                    format!(
                        "host {name} of run {} is no longer in the inventory",
                        args.run
                    ),
                )
            })?
            .clone();
        let script = firewall::confirm_command(&args.run, &steps)
            .map_err(|e| ExitError::new(Exit::Usage, e.message))?;
        jobs.push((host, steps, script));
    }

    let ssh = settings.ssh(&args.ssh, &inventory)?;
    let limiter = ssh.limiter(crate::settings::DEFAULT_CHANGE_RATE);
    let options = Arc::new(ssh.options);
    let human = (!settings.json()).then(|| Arc::new(HumanObserver::new(false)));
    let observer: Arc<dyn Observer> = match &human {
        Some(h) => Arc::clone(h) as Arc<dyn Observer>,
        None => Arc::new(JsonObserver),
    };
    let cancel = Cancel::new();
    // With the journal: results are journaled like any run's, and Ctrl-C is the run's (a
    // second press exits without tearing a record). Without it (a run in progress holds it):
    // Ctrl-C still stops launching new hosts.
    let run = journal.map(|j| Run {
        run_id: args.run.clone(),
        journal: Arc::new(j),
        observer: Arc::clone(&observer),
        cancel: cancel.clone(),
    });
    match &run {
        Some(run) => run.watch_interrupts(),
        None => {
            if let Ok(mut interrupts) = crate::engine::interrupts() {
                let cancel = cancel.clone();
                tokio::spawn(async move {
                    if interrupts.recv().await.is_some() {
                        cancel.cancel();
                    }
                });
            }
        }
    }
    let started = Instant::now();
    let mut summary = Summary {
        total: jobs.len(),
        ..Summary::default()
    };
    let (mut cancelled, mut already, mut not_confirmed) = (Vec::new(), Vec::new(), Vec::new());
    let mut journal_error = None;
    let run_id = args.run.clone();
    let stats = fan_out(
        jobs,
        ssh.concurrency,
        &cancel,
        move |(host, steps, script): (Host, Vec<String>, String)| {
            limiter.acquire();
            let r = ssh::exec(&ssh_target(&host), &options, &script, None);
            (host, steps, r)
        },
        |_, (host, steps, r): (Host, Vec<String>, ExecResult)| {
            let ev = result_event(&run_id, &host, &steps, &r);
            summary.count(ev.outcome);
            if !ev.outcome.is_ok() {
                not_confirmed.push(format!(
                    "{}: {}",
                    host.name,
                    ev.reason.as_deref().unwrap_or(ev.outcome.label())
                ));
            } else if ev
                .summary
                .as_deref()
                .is_some_and(|s| s.contains("timer cancelled"))
            {
                cancelled.push(host.name.clone());
            } else {
                already.push(host.name.clone());
            }
            let journaled = ev.for_journal(b"", b"");
            match &run {
                Some(run) => {
                    if let Err(e) =
                        run.record(&Event::TargetResult(ev), &Event::TargetResult(journaled))
                    {
                        journal_error.get_or_insert(e);
                    }
                }
                None => observer.event(&Event::TargetResult(ev)),
            }
        },
    )
    .await;
    if let Some(e) = journal_error {
        return Err(e);
    }
    summary.not_started = stats.not_started;
    summary.elapsed_ms = ms(started.elapsed());
    let exit = if summary.bad() > 0 || summary.not_started > 0 {
        Exit::TargetsFailed
    } else {
        Exit::Success
    };
    summary.exit_code = exit.code();

    let mut parts = Vec::new();
    if !cancelled.is_empty() {
        parts.push(format!(
            "dead-man timers cancelled on {}",
            hostset::fold(&cancelled)
        ));
    }
    if !already.is_empty() {
        parts.push(format!("already confirmed on {}", hostset::fold(&already)));
    }
    if !not_confirmed.is_empty() {
        parts.push(format!("NOT confirmed: {}", not_confirmed.join("; ")));
    }
    let message = format!("confirm by {}: {}", journal::operator(), parts.join("; "));
    let note = Event::Notice { message };
    match &run {
        Some(run) => {
            run.journal.append(&serde_json::to_value(&note)?)?;
        }
        None => stderr_line(&format!(
            "breakglass: run {} is in use by another breakglass process, so this confirmation \
             is not recorded in its journal",
            args.run
        )),
    }
    match &human {
        Some(h) => h.finish(&summary, &args.run),
        None => observer.event(&Event::Summary(summary.clone())),
    }
    Ok(exit)
}

/// Refuses an inventory changed since the run: a host name might now mean another machine.
fn check_inventory(history: &History, inventory: &Inventory) -> anyhow::Result<()> {
    let b = &history.begin;
    if inventory.digest == b.inventory_digest {
        return Ok(());
    }
    let fix = format!(
        "cancel the timers by hand: `systemctl stop breakglass-deadman-{}-*.timer`, or kill the \
         PIDs in {}/{}/*.pid",
        b.run_id,
        firewall::STATE_ROOT,
        b.run_id
    );
    Err(history.inventory_changed(inventory, &fix).into())
}

/// One host's result: ok when every step's timer is cancelled now or was already.
fn result_event(run: &str, host: &Host, steps: &[String], r: &ExecResult) -> TargetResult {
    let mut ev = TargetResult::from_exec(&host.name, &host.socket_addr().to_string(), r);
    ev.stdout_bytes = 0;
    ev.stderr_bytes = 0;
    ev.mode = Some(Mode::Confirm);
    if r.outcome != ssh::Outcome::Ok {
        return ev;
    }
    let results = firewall::confirm_results(&String::from_utf8_lossy(&r.stdout.bytes));
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    for step in steps {
        match results.get(step) {
            Some(Confirmed::Cancelled(what)) => {
                good.push(format!("step {step}: dead-man timer cancelled ({what})"));
            }
            Some(Confirmed::Already(at)) => {
                good.push(format!("step {step}: already confirmed at {at}"));
            }
            Some(Confirmed::Fired(at)) => bad.push(format!(
                "step {step}: the dead-man timer already fired at {at}, so the block was reverted; \
                 block again with a new run"
            )),
            Some(Confirmed::Superseded(by)) => {
                // Taken over by another step's timer: fine when this confirm cancels that one.
                let same_run = by
                    .strip_prefix(&format!("{}/{run}/", firewall::STATE_ROOT))
                    .filter(|step| steps.iter().any(|s| s == step));
                match same_run {
                    Some(other) => good.push(format!(
                        "step {step}: its timer was taken over by step {other}"
                    )),
                    None => bad.push(format!(
                        "step {step}: a later block took over its dead-man timer ({by}); \
                         confirm that run to keep the block"
                    )),
                }
            }
            Some(Confirmed::Missing) | None => bad.push(format!(
                "step {step}: no dead-man timer found (undone, never armed, or the node rebooted)"
            )),
        }
    }
    if bad.is_empty() {
        ev.summary = Some(good.join("; "));
    } else {
        ev.outcome = Outcome::Failed;
        ev.exit_status = None;
        ev.reason = Some(bad.join("; "));
    }
    ev
}
