//! `breakglass journal list | show RUN | verify RUN`.

use crate::error::Exit;
use crate::journal;
use crate::output::{stdout_line, stdout_raw};
use crate::settings::Settings;

/// The run's directory, checked as `resume`, `undo` and `confirm` check it (one rule, one
/// message, exit 2 for a bad or unknown run id).
fn run_dir(settings: &Settings, run: &str) -> anyhow::Result<std::path::PathBuf> {
    journal::run_dir(&settings.journal_root, run).map_err(journal_error)
}

/// Journal errors stay typed on the way up: `error::exit_of` decides their exit code.
fn journal_error(e: journal::JournalError) -> anyhow::Error {
    e.into()
}

pub fn list(settings: &Settings) -> anyhow::Result<Exit> {
    let runs = journal::list(&settings.journal_root).map_err(journal_error)?;
    if settings.json() {
        for r in &runs {
            stdout_line(&serde_json::to_string(r)?);
        }
        return Ok(Exit::Success);
    }
    if runs.is_empty() {
        stdout_line(&format!(
            "no runs under {}",
            settings.journal_root.display()
        ));
        return Ok(Exit::Success);
    }
    let mut out = format!(
        "{:<26}  {:<27}  {:<8}  {:>7}  {}\n",
        "RUN", "STARTED", "COMMAND", "RECORDS", "STATE"
    );
    for r in &runs {
        out.push_str(&format!(
            "{:<26}  {:<27}  {:<8}  {:>7}  {}\n",
            r.run_id,
            r.started.as_deref().unwrap_or("-"),
            r.command.as_deref().unwrap_or("-"),
            r.records,
            if r.verified {
                r.status
                    .as_ref()
                    .map_or("unfinished", journal::RunStatus::label)
            } else {
                "CORRUPT (run `journal verify`)"
            }
        ));
    }
    stdout_raw(&out);
    Ok(Exit::Success)
}

pub fn show(settings: &Settings, run: &str) -> anyhow::Result<Exit> {
    let dir = run_dir(settings, run)?;
    let records = journal::read(&dir).map_err(journal_error)?;
    if settings.json() {
        for r in &records {
            stdout_line(&serde_json::to_string(r)?);
        }
        return Ok(Exit::Success);
    }
    let mut out = String::new();
    for r in &records {
        let e = &r.event;
        let kind = e.get("type").and_then(|t| t.as_str()).unwrap_or("?");
        let line = match kind {
            "run_begin" => format!(
                "{} by {}: {} on {} targets ({})",
                kind,
                r.operator,
                e.get("argv")
                    .map(std::string::ToString::to_string)
                    .unwrap_or_default(),
                e.get("targets")
                    .map(std::string::ToString::to_string)
                    .unwrap_or_default(),
                e.get("selector").and_then(|s| s.as_str()).unwrap_or("")
            ),
            "target_result" => format!(
                "{} {}: {}{}",
                kind,
                e.get("target").and_then(|s| s.as_str()).unwrap_or("?"),
                e.get("outcome").and_then(|s| s.as_str()).unwrap_or("?"),
                e.get("exit_status")
                    .map(|s| format!(" (exit {s})"))
                    .unwrap_or_default()
            ),
            _ => format!("{kind} {e}"),
        };
        out.push_str(&format!("{:>5}  {}  {line}\n", r.seq, r.time));
    }
    stdout_raw(&out);
    Ok(Exit::Success)
}

pub fn verify(settings: &Settings, run: &str) -> anyhow::Result<Exit> {
    let dir = run_dir(settings, run)?;
    let (_, trust) = journal::operator_key(&settings.journal_root).map_err(journal_error)?;
    let (report, whose) = journal::verify_trusted(&dir, &trust).map_err(journal_error)?;
    if settings.json() {
        stdout_line(&serde_json::json!({"type": "journal_verified", "run_id": run, "records": report.records, "last_hash": report.last_hash, "signer": report.signer, "signer_fingerprint": report.signer_fingerprint, "signed_by": whose, "notes": report.notes}).to_string());
    } else {
        stdout_line(&format!(
            "{run}: ok, {} records, hash chain intact (last {}), head signed by {whose}",
            report.records, report.last_hash
        ));
        for note in &report.notes {
            stdout_line(&format!("  note: {note}"));
        }
    }
    Ok(Exit::Success)
}
