//! `list`: every run under a journal root, newest first, with what an operator needs to pick the
//! one to verify, resume or undo: when it started, what it ran, how it ended, and whether its
//! journal verifies.
//!
//! One damaged run must not hide the others: its problem is reported in its `RunInfo`, and what
//! can still be read from it is shown, unverified.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;

use super::JOURNAL_FILE;
use super::error::{JournalError, io};
use super::record::Record;
use super::verify;

/// One run, as `list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunInfo {
    pub run_id: String,
    /// `<root>/<run-id>`.
    pub dir: PathBuf,
    /// Records in the journal; for a run that does not verify, lines that still parse as records.
    pub records: u64,
    /// `time` of the first record.
    pub started: Option<String>,
    /// `type` of the first event (`run_begin` for runs the engine started).
    pub first_event: Option<String>,
    /// `command` of the first event, as text.
    pub command: Option<String>,
    /// `type` of the last event (`run_end` once the run finished).
    pub last_event: Option<String>,
    /// `status` of the last event, when it is `run_end`.
    pub status: Option<String>,
    /// Whether the journal verifies.
    pub verified: bool,
    /// Why it does not verify.
    pub problem: Option<String>,
}

/// Lists the runs under `root`, newest first (by first record, else by directory time). A
/// missing `root` has no runs.
pub fn list(root: &Path) -> Result<Vec<RunInfo>, JournalError> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(root)(e)),
    };
    let mut runs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io(root))?;
        let Ok(run_id) = entry.file_name().into_string() else {
            continue;
        };
        // Hidden entries are not runs (`create` refuses ids starting with a dot).
        if run_id.starts_with('.') || !entry.file_type().map_err(io(entry.path()))?.is_dir() {
            continue;
        }
        let info = describe(run_id, entry.path());
        let when = info
            .started
            .as_deref()
            .and_then(|t| humantime::parse_rfc3339(t).ok())
            .or_else(|| entry.metadata().and_then(|m| m.modified()).ok())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        runs.push((when, info));
    }
    runs.sort_by(|(a_when, a), (b_when, b)| {
        b_when.cmp(a_when).then_with(|| b.run_id.cmp(&a.run_id))
    });
    Ok(runs.into_iter().map(|(_, info)| info).collect())
}

fn describe(run_id: String, dir: PathBuf) -> RunInfo {
    let mut first = None;
    let mut last = None;
    let mut records = 0;
    let mut keep = |r: Record| {
        records += 1;
        if first.is_none() {
            first = Some(r);
        } else {
            last = Some(r);
        }
    };
    let problem = match verify::scan(&dir, &mut keep) {
        Ok(_) => None,
        Err(e) => {
            // Show what can still be read, unverified.
            (records, first, last) = lenient(&dir);
            Some(match e {
                JournalError::Corrupt { reason, .. } => reason,
                other => other.to_string(),
            })
        }
    };
    let last = last.as_ref().or(first.as_ref());
    let field = |r: Option<&Record>, name: &str| r.and_then(|r| text(&r.event[name]));
    RunInfo {
        run_id,
        records,
        started: first.as_ref().map(|r| r.time.clone()),
        first_event: field(first.as_ref(), "type"),
        command: field(first.as_ref(), "command"),
        last_event: field(last, "type"),
        status: last
            .filter(|r| r.event["type"] == "run_end")
            .and_then(|r| text(&r.event["status"])),
        verified: problem.is_none(),
        problem,
        dir,
    }
}

/// Count, first and last of the lines that parse as records, ignoring hashes and order.
fn lenient(dir: &Path) -> (u64, Option<Record>, Option<Record>) {
    let Ok(file) = File::open(dir.join(JOURNAL_FILE)) else {
        return (0, None, None);
    };
    let (mut count, mut first, mut last) = (0, None, None);
    for line in BufReader::new(file).split(b'\n') {
        let Ok(line) = line else { break };
        if let Ok(record) = serde_json::from_slice::<Record>(&line) {
            count += 1;
            if first.is_none() {
                first = Some(record);
            } else {
                last = Some(record);
            }
        }
    }
    (count, first, last)
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Journal;
    use super::*;
    use serde_json::json;

    #[test]
    fn newest_first_and_bad_runs_flagged() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        // Created oldest to newest; the ids sort the other way, so the order must come from time.
        for (id, status) in [
            ("c-old", Some("success")),
            ("b-mid", None),
            ("a-new", Some("failed")),
        ] {
            let journal = Journal::create(root, id).expect("create");
            journal
                .append(&json!({"type": "run_begin", "command": "run apiserver-overload"}))
                .expect("append");
            journal
                .append(&json!({"type": "host_result"}))
                .expect("append");
            if let Some(status) = status {
                journal
                    .append(&json!({"type": "run_end", "status": status}))
                    .expect("append");
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        // Damage the middle run.
        let path = root.join("b-mid").join(JOURNAL_FILE);
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, text.replace("host_result", "host_resulT")).expect("edit");
        std::fs::create_dir(root.join(".tmp")).expect("hidden");
        std::fs::write(root.join("stray-file"), "").expect("stray");

        let runs = list(root).expect("list");
        let ids: Vec<_> = runs.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(ids, ["a-new", "b-mid", "c-old"]);

        assert!(runs[0].verified && runs[2].verified);
        assert_eq!(runs[0].records, 3);
        assert_eq!(runs[0].first_event.as_deref(), Some("run_begin"));
        assert_eq!(runs[0].command.as_deref(), Some("run apiserver-overload"));
        assert_eq!(runs[0].last_event.as_deref(), Some("run_end"));
        assert_eq!(runs[0].status.as_deref(), Some("failed"));
        assert!(runs[0].started.is_some());

        assert!(!runs[1].verified);
        assert_eq!(runs[1].records, 2);
        assert_eq!(runs[1].status, None);
        assert!(
            runs[1]
                .problem
                .as_deref()
                .is_some_and(|p| p.contains("hash mismatch")),
            "{:?}",
            runs[1].problem
        );
    }

    #[test]
    fn missing_root_has_no_runs() {
        let tmp = tempfile::tempdir().expect("tempdir");
        assert!(list(&tmp.path().join("none")).expect("list").is_empty());
    }
}
