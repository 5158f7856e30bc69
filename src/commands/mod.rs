//! One file per verb. Commands are thin: load what the verb needs, call the engine, render,
//! and choose the exit code. They talk to the user (anyhow errors with context).

pub mod completions;
pub mod confirm;
pub mod drill;
pub mod exec;
pub mod health;
pub mod inventory;
pub mod inventory_import;
pub mod journal;
pub mod lab;
pub mod plan;
pub mod run;
pub mod runbook;
pub mod snapshot;

use crate::error::{Exit, ExitError};
use crate::inventory::{Host, Inventory, Selector};
use crate::journal::{Journal, operator_key, root_warning};
use crate::settings::Settings;

/// The journal of a new run (`run`, `exec`), signed with the operator's key, with a warning on
/// stderr when others could write the journal directory (`resume`, `undo` and `confirm` will
/// refuse runs there).
pub fn new_journal(settings: &Settings, run_id: &str) -> anyhow::Result<Journal> {
    let (key, _) = operator_key(&settings.journal_root)?;
    if let Some(warning) = root_warning(&settings.journal_root) {
        crate::output::stderr_line(&format!("breakglass: warning: {warning}"));
    }
    Ok(Journal::create(&settings.journal_root, run_id, &key)?)
}

/// Parses a selector and returns the hosts it matches, or a usage error that says why.
pub fn select_hosts(inventory: &Inventory, selector: &str) -> anyhow::Result<Vec<Host>> {
    let parsed =
        Selector::parse(selector).map_err(|e| ExitError::new(Exit::Usage, e.to_string()))?;
    let hosts = inventory
        .select(&parsed)
        .map_err(|e| ExitError::new(Exit::Usage, format!("selector \"{selector}\": {e}")))?;
    if hosts.is_empty() {
        return Err(ExitError::new(
            Exit::Usage,
            format!(
                "selector \"{selector}\" matched no host in {} ({} hosts); try `breakglass inventory show`",
                inventory.path.display(),
                inventory.hosts.len()
            ),
        )
        .into());
    }
    Ok(hosts.into_iter().cloned().collect())
}
