//! breakglass: out-of-band remediation for an overloaded Kubernetes control plane.
//!
//! See ARCHITECTURE.md for the layers: cli -> settings -> commands -> engine -> actions ->
//! transport. This file parses the command line, builds the runtime, dispatches, and renders the
//! final error with its exit code.

pub mod actions;
pub mod address;
pub mod cancel;
pub mod cli;
pub mod commands;
pub mod drill;
pub mod duration;
pub mod engine;
pub mod error;
pub mod input;
pub mod inventory;
pub mod journal;
pub mod lab;
pub mod outcome;
pub mod output;
pub mod runbook;
pub mod settings;
pub mod transport;

#[cfg(test)]
mod proptests;

use clap::Parser;

use crate::cli::{Cli, Command, InventoryCommand, JournalCommand, LabCommand, RunbookCommand};
use crate::error::Exit;
use crate::settings::Settings;

/// Entry point used by `main`: never panics on bad input, always returns a documented code.
pub fn run() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with 0; usage errors to stderr with 2.
            let _ = e.print();
            return std::process::ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let json = cli.global.output == Some(cli::OutputFormat::Json);
    match dispatch(cli) {
        Ok(exit) => std::process::ExitCode::from(exit.code()),
        Err(err) => {
            let exit = error::exit_of(&err);
            render_error(&err, exit, json);
            std::process::ExitCode::from(exit.code())
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<Exit> {
    let settings = Settings::resolve(&cli.global)?;
    output::set_json_stdout(settings.json());
    match cli.command {
        Command::Completions { shell } => Ok(commands::completions::completions(shell)),
        Command::Inventory(InventoryCommand::Show { selector }) => {
            commands::inventory::show(&settings, selector.as_deref())
        }
        Command::Journal(JournalCommand::List) => commands::journal::list(&settings),
        Command::Journal(JournalCommand::Show { run }) => commands::journal::show(&settings, &run),
        Command::Journal(JournalCommand::Verify { run }) => {
            commands::journal::verify(&settings, &run)
        }
        Command::Inventory(InventoryCommand::Check { selector, ssh }) => runtime()?.block_on(
            commands::inventory::check(&settings, selector.as_deref(), &ssh),
        ),
        Command::Inventory(InventoryCommand::Snapshot(args)) => {
            runtime()?.block_on(commands::snapshot::snapshot(&settings, &args))
        }
        Command::Inventory(InventoryCommand::Import(command)) => {
            runtime()?.block_on(commands::inventory_import::import(&settings, &command))
        }
        Command::Exec(args) => runtime()?.block_on(commands::exec::exec(&settings, &args)),
        Command::Health(args) => runtime()?.block_on(commands::health::health(&settings, &args)),
        Command::Lab(LabCommand::Up(args)) => runtime()?.block_on(commands::lab::up(&args)),
        Command::Lab(LabCommand::Status) => commands::lab::status(&settings),
        Command::Lab(LabCommand::Down { ids }) => commands::lab::down(&ids),
        Command::Lab(LabCommand::Demo(args)) => {
            runtime()?.block_on(commands::lab::demo(&settings, &args))
        }
        Command::Drill(args) => runtime()?.block_on(commands::drill::drill(&settings, &args)),
        Command::Plan(args) => runtime()?.block_on(commands::plan::plan(&settings, &args)),
        Command::Run(args) => runtime()?.block_on(commands::run::run(&settings, &args)),
        Command::Resume(args) => runtime()?.block_on(commands::run::resume(&settings, &args)),
        Command::Undo(args) => runtime()?.block_on(commands::run::undo(&settings, &args)),
        Command::Confirm(args) => runtime()?.block_on(commands::confirm::confirm(&settings, &args)),
        Command::Runbook(RunbookCommand::List) => commands::runbook::list(&settings),
        Command::Runbook(RunbookCommand::Show { runbook }) => {
            commands::runbook::show(&settings, &runbook)
        }
        Command::Runbook(RunbookCommand::Validate { files }) => {
            commands::runbook::validate(&settings, &files)
        }
    }
}

/// The runtime for commands that reach hosts. Each in-flight host holds one blocking thread
/// (libssh2 is blocking), created lazily, so the cap costs nothing until used.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(settings::MAX_CONCURRENCY + 16)
        .thread_stack_size(1024 * 1024)
        .thread_keep_alive(std::time::Duration::from_secs(2))
        .enable_all()
        .build()?)
}

fn render_error(err: &anyhow::Error, exit: Exit, json: bool) {
    let mut message = err.to_string();
    for cause in err.chain().skip(1) {
        message.push_str(&format!("\n  caused by: {cause}"));
    }
    if json {
        output::json::print_event(&engine::Event::Error {
            message: message.clone(),
            exit_code: exit.code(),
        });
    }
    output::stderr_line(&format!("breakglass: error: {message}"));
}
