//! What `breakglass confirm RUN` runs on a node: cancel the dead-man timers of some steps of one
//! run, so that their blocks stay, and one result per step ([`Confirmed`]). `commands/confirm.rs`
//! picks the nodes and steps and reports; this file only builds the script and reads its
//! answer. It must not touch the rules themselves: a confirmed block is kept as it is.

use std::collections::BTreeMap;

use super::deadman::{DEADMAN_FNS, rfc3339};
use super::shell::{command, sections};
use super::step_files::StepFiles;
use crate::actions::contract::ActionFailure;

/// `confirm`: cancel the timers of some steps of one run.
pub(super) const CONFIRM: &str = include_str!("confirm.sh");

/// What cancelling one step's dead-man timer found, as `confirm` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// The timer was armed and is now cancelled (`detached PID` or `systemd UNIT`).
    Cancelled(String),
    /// An earlier `confirm` cancelled it (at this epoch second).
    Already(String),
    /// The timer fired (at this epoch second): the block was reverted.
    Fired(String),
    /// A later block on the node took the timer over: the revert is now that step's timer
    /// (`/run/breakglass/RUN/STEP`).
    Superseded(String),
    /// No timer and no record of one: undone, never armed, or the node rebooted.
    Missing,
}

/// The script `confirm` runs on a node: cancel the timers of `steps` of one run, printing
/// `STEP RESULT` lines in the `confirm` section.
pub fn confirm_command(run_id: &str, steps: &[String]) -> Result<String, ActionFailure> {
    let files = StepFiles::new(run_id, steps.first().map_or("none", String::as_str))
        .map_err(|e| ActionFailure::refused(e.to_string()))?;
    for step in steps {
        StepFiles::new(run_id, step).map_err(|e| ActionFailure::refused(e.to_string()))?;
    }
    let mut inputs = files.vars()?;
    inputs.args(steps.iter().map(String::as_str))?;
    command(&inputs, &[DEADMAN_FNS, CONFIRM])
}

/// Parses the `confirm` section: one result per step.
pub fn confirm_results(stdout: &str) -> BTreeMap<String, Confirmed> {
    let mut out = BTreeMap::new();
    let s = sections(stdout);
    for line in s.get("confirm").map_or("", String::as_str).lines() {
        let mut parts = line.splitn(3, ' ');
        let (Some(step), Some(what)) = (parts.next(), parts.next()) else {
            continue;
        };
        let rest = parts.next().unwrap_or("").trim().to_owned();
        let when = |r: &str| rfc3339(r).unwrap_or_else(|| r.to_owned());
        let result = match what {
            "cancelled" => Confirmed::Cancelled(rest),
            "already" => Confirmed::Already(when(&rest)),
            "fired" => Confirmed::Fired(when(&rest)),
            "superseded" => Confirmed::Superseded(rest),
            _ => Confirmed::Missing,
        };
        out.insert(step.to_owned(), result);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirm_output_parses() {
        let r = confirm_results(
            "\n@@bg:confirm@@\nblock cancelled detached 42\nother already 0\nthird fired 60\nfourth missing\n",
        );
        assert_eq!(r["block"], Confirmed::Cancelled("detached 42".into()));
        assert_eq!(
            r["other"],
            Confirmed::Already("1970-01-01T00:00:00Z".into())
        );
        assert_eq!(r["third"], Confirmed::Fired("1970-01-01T00:01:00Z".into()));
        assert_eq!(r["fourth"], Confirmed::Missing);
    }
}
