//! The dead-man timer: after a block, a timer on the node runs the step's restore script unless
//! `breakglass confirm` cancels it first. The timer itself is shell (`deadman.sh` with the
//! functions the others share, `save-restore.sh`, `arm.sh`, `forget.sh`, `cancel-all.sh`); this
//! file holds those scripts, saves the restore script before a block, builds the command that
//! blocks and then arms, and reads what `arm.sh` and `facts.sh` report about a timer.
//!
//! It must not decide what a timer restores (the block's snapshot decides, `restore.rs` writes
//! the script) nor whether there is one (`revert_after` does).

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};

use super::shell::{command, ok_or};
use super::step_files::StepFiles;
use crate::actions::contract::{ActionFailure, Node};
use crate::actions::script::Inputs;

/// `cancel_step DIR STEP` and `deadman_state DIR STEP`.
pub(super) const DEADMAN_FNS: &str = include_str!("deadman.sh");
/// Saves the restore script on stdin as the step's `.restore` file.
pub(super) const SAVE_RESTORE: &str = include_str!("save-restore.sh");
/// Arms the step's dead-man timer after the change.
pub(super) const ARM: &str = include_str!("arm.sh");
/// The undo of a block, after its restore: cancel its timer, remove its files.
pub(super) const FORGET: &str = include_str!("forget.sh");
/// `firewall.unblock`: cancel every dead-man timer on the node.
pub(super) const CANCEL_ALL: &str = include_str!("cancel-all.sh");

/// Saves `script` as the step's `.restore` file, the one its timer will run. It runs before the
/// block, so when it fails the firewall is untouched (`never_ran`).
pub(super) fn save_restore(
    node: &mut dyn Node,
    files: &StepFiles,
    script: &str,
) -> Result<(), ActionFailure> {
    let cmd = command(&files.vars()?, &[SAVE_RESTORE])?;
    let r = node.run(&cmd, Some(script.as_bytes()));
    ok_or("writing the dead-man restore script", &r).map_err(|mut e| {
        e.never_ran = true;
        e
    })
}

/// The command that runs `block` (a backend's script, its payload on stdin, and what follows
/// it), then arms the
/// step's timer for `secs` seconds and cancels the earlier timers it takes over (`supersedes`).
pub(super) fn block_then_arm(
    mut inputs: Inputs,
    block: &[&str],
    secs: u64,
    supersedes: &[String],
) -> Result<String, ActionFailure> {
    inputs
        .var("secs", &secs.to_string())?
        .var("supersede", &supersedes.join(" "))?;
    let mut scripts = block.to_vec();
    scripts.extend([DEADMAN_FNS, ARM]);
    command(&inputs, &scripts)
}

/// The timer `arm.sh` reports in its `deadman` section, as `firewall.block` words and journals it.
pub(super) struct Armed {
    /// `detached` or `systemd`, as reported.
    pub(super) kind: Option<String>,
    /// `systemd timer UNIT` or `pid PID`.
    pub(super) timer: String,
    /// The journal's handle on it: `{"unit": ...}` or `{"pid": ..., "pidfile": ...}`.
    pub(super) id: Value,
    /// When it fires (RFC 3339; empty when not reported).
    pub(super) expires: String,
}

impl Armed {
    pub(super) fn parse(report: &str) -> Armed {
        let kv = key_values(report);
        let expires = kv
            .get("expires")
            .and_then(|e| rfc3339(e))
            .unwrap_or_default();
        let (timer, id) = match kv.get("kind").map(String::as_str) {
            Some("systemd") => (
                format!(
                    "systemd timer {}",
                    kv.get("unit").map_or("", String::as_str)
                ),
                json!({"unit": kv.get("unit")}),
            ),
            _ => (
                format!("pid {}", kv.get("pid").map_or("?", String::as_str)),
                json!({"pid": kv.get("pid"), "pidfile": kv.get("pidfile")}),
            ),
        };
        Armed {
            kind: kv.get("kind").cloned(),
            timer,
            id,
            expires,
        }
    }
}

/// Whether a step's timer state (`deadman_state` in `deadman.sh`, the `deadman` section of
/// `facts.sh`) is a live timer.
pub(super) fn is_armed(state: &str) -> bool {
    state.starts_with("detached ") || state.starts_with("systemd ")
}

/// `kind=detached pid=12 pidfile=... expires=1764000000` into a map.
fn key_values(line: &str) -> BTreeMap<String, String> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// An epoch a node reported (`expires=`, `.fired`, `.confirmed`) as RFC 3339; `None` when it is
/// not a number or lies past what RFC 3339 can write (year 9999), which the node's answer must
/// never turn into a panic.
pub(super) fn rfc3339(epoch: &str) -> Option<String> {
    /// 10000-01-01T00:00:00Z.
    const YEAR_10000: u64 = 253_402_300_800;
    let secs: u64 = epoch.trim().parse().ok()?;
    if secs >= YEAR_10000 {
        return None;
    }
    let when = UNIX_EPOCH.checked_add(Duration::from_secs(secs))?;
    Some(humantime::format_rfc3339_seconds(when).to_string())
}
