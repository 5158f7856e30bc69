//! `breakglass exec SELECTOR -- COMMAND`.

use std::sync::Arc;

use crate::cli::ExecArgs;
use crate::engine::event::RunBegin;
use crate::engine::exec::ExecJob;
use crate::engine::{Cancel, Event, Observer, Run};
use crate::error::Exit;
use crate::journal;
use crate::output::human::HumanObserver;
use crate::output::json::JsonObserver;
use crate::settings::Settings;

pub async fn exec(settings: &Settings, args: &ExecArgs) -> anyhow::Result<Exit> {
    let inventory = settings.load_inventory()?;
    let hosts = super::select_hosts(&inventory, &args.selector)?;
    let ssh = settings.ssh(&args.ssh, &inventory)?;
    // Joined like ssh(1) does: the remote user's shell parses the command line.
    let command = args.command.join(" ");

    let run_id = journal::new_run_id();
    let journal = Arc::new(super::new_journal(settings, &run_id)?);
    let human = (!settings.json()).then(|| Arc::new(HumanObserver::new(settings.progress)));
    let observer: Arc<dyn Observer> = match &human {
        Some(h) => Arc::clone(h) as Arc<dyn Observer>,
        None => Arc::new(JsonObserver),
    };
    let run = Run {
        run_id: run_id.clone(),
        journal: Arc::clone(&journal),
        observer,
        cancel: Cancel::new(),
    };
    run.watch_interrupts();
    let begin = Event::RunBegin(RunBegin {
        run_id: run_id.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        command: "exec".into(),
        argv: std::env::args().collect(),
        operator: journal::operator(),
        inventory: inventory.path.display().to_string(),
        inventory_digest: inventory.digest.clone(),
        selector: args.selector.clone(),
        targets: hosts.len(),
        journal: journal.dir().display().to_string(),
        runbook: None,
        runbook_source: None,
        params: None,
    });
    run.record(&begin, &begin)?;
    let summary = crate::engine::exec::run(
        &run,
        ExecJob {
            hosts,
            command,
            concurrency: ssh.concurrency,
            limiter: ssh.limiter(0.0),
            options: ssh.options,
            out_dir: args.out_dir.clone(),
        },
    )
    .await?;
    if let Some(h) = human {
        h.finish(&summary, &run_id);
    }
    Ok(match summary.exit_code {
        0 => Exit::Success,
        130 => Exit::Interrupted,
        _ => Exit::TargetsFailed,
    })
}
