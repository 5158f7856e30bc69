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
    /// How the run stands; `None` while it is unfinished (no `run_end`, no `undo`).
    pub status: Option<RunStatus>,
    /// Whether the journal verifies.
    pub verified: bool,
    /// Why it does not verify.
    pub problem: Option<String>,
}

/// How a run stands, from its journal. In JSON, the snake-case word (`partly_undone`).
///
/// The run's own `run_end` says how it ended. `undo` appends records to the same journal and, once
/// it has acted, a `run_end` of its own saying whether every target the run changed that has an
/// inverse is restored: only the engine knows which actions have one, and which steps a
/// `--step` undo left alone, so `list` takes its word rather than guess from the results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStatus {
    /// Every step ran (some targets may have failed: see the summary).
    Completed,
    /// A failure budget, a gate or the operator stopped it.
    Stopped,
    /// Ctrl-C.
    Interrupted,
    /// `undo` restored every target the run changed that can be restored.
    Undone,
    /// `undo` acted on the run but has not restored everything: it undid only some steps, some
    /// targets failed to restore, or it was cut off before it recorded how it ended.
    PartlyUndone,
    /// A `run_end` status this version does not know (written by a newer breakglass).
    Other(String),
}

impl RunStatus {
    /// The word in the journal and in `--output json`.
    pub fn as_str(&self) -> &str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Stopped => "stopped",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Undone => "undone",
            RunStatus::PartlyUndone => "partly_undone",
            RunStatus::Other(s) => s,
        }
    }

    /// The words for people.
    pub fn label(&self) -> &str {
        match self {
            RunStatus::PartlyUndone => "partly undone",
            other => other.as_str(),
        }
    }

    fn recorded(status: &str) -> RunStatus {
        match status {
            "completed" => RunStatus::Completed,
            "stopped" => RunStatus::Stopped,
            "interrupted" => RunStatus::Interrupted,
            "undone" => RunStatus::Undone,
            "partly_undone" => RunStatus::PartlyUndone,
            other => RunStatus::Other(other.to_owned()),
        }
    }
}

impl Serialize for RunStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// What `list` keeps while reading a journal: the first and last records, and how it ended.
#[derive(Default)]
struct Seen {
    records: u64,
    first: Option<Record>,
    last: Option<Record>,
    /// `status` of the last `run_end`.
    end: Option<String>,
    /// An `undo` result came after the last `run_end` (or there is none): an undo is running,
    /// or died, before it recorded how the run stands.
    undo_after_end: bool,
}

impl Seen {
    fn keep(&mut self, r: Record) {
        self.records += 1;
        match r.event["type"].as_str() {
            Some("run_end") => {
                self.end = text(&r.event["status"]);
                self.undo_after_end = false;
            }
            Some("target_result") if r.event["mode"] == "undo" => self.undo_after_end = true,
            _ => {}
        }
        if self.first.is_none() {
            self.first = Some(r);
        } else {
            self.last = Some(r);
        }
    }

    fn status(&self) -> Option<RunStatus> {
        if self.undo_after_end {
            return Some(RunStatus::PartlyUndone);
        }
        self.end.as_deref().map(RunStatus::recorded)
    }
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
    let mut seen = Seen::default();
    let problem = match verify::scan(&dir, &mut |r| seen.keep(r)) {
        Ok(_) => None,
        Err(e) => {
            // Show what can still be read, unverified.
            seen = lenient(&dir);
            Some(match e {
                JournalError::Corrupt { reason, .. } => reason,
                other => other.to_string(),
            })
        }
    };
    let status = seen.status();
    let first = seen.first.as_ref();
    let last = seen.last.as_ref().or(first);
    let field = |r: Option<&Record>, name: &str| r.and_then(|r| text(&r.event[name]));
    RunInfo {
        run_id,
        records: seen.records,
        started: first.map(|r| r.time.clone()),
        first_event: field(first, "type"),
        command: field(first, "command"),
        last_event: field(last, "type"),
        status,
        verified: problem.is_none(),
        problem,
        dir,
    }
}

/// The lines that parse as records, ignoring hashes and order.
fn lenient(dir: &Path) -> Seen {
    let mut seen = Seen::default();
    let Ok(file) = File::open(dir.join(JOURNAL_FILE)) else {
        return seen;
    };
    for line in BufReader::new(file).split(b'\n') {
        let Ok(line) = line else { break };
        if let Ok(record) = serde_json::from_slice::<Record>(&line) {
            seen.keep(record);
        }
    }
    seen
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
    use super::super::key::OperatorKey;
    use super::*;
    use serde_json::json;

    #[test]
    fn newest_first_and_bad_runs_flagged() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        // Created oldest to newest; the ids sort the other way, so the order must come from time.
        for (id, status) in [
            ("c-old", Some("completed")),
            ("b-mid", None),
            ("a-new", Some("stopped")),
        ] {
            let journal = Journal::create(root, id, &OperatorKey::for_tests()).expect("create");
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
        assert_eq!(runs[0].status, Some(RunStatus::Stopped));
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

    fn begin() -> Value {
        json!({"type": "run_begin", "command": "run"})
    }

    fn result(mode: &str, target: &str, outcome: &str) -> Value {
        json!({"type": "target_result", "step": "s", "mode": mode, "target": target, "outcome": outcome})
    }

    fn end(status: &str) -> Value {
        json!({"type": "run_end", "status": status, "exit_code": 0})
    }

    /// The status `list` gives a run journaled as `events`.
    fn status_of(events: &[Value]) -> Option<RunStatus> {
        let tmp = tempfile::tempdir().expect("tempdir");
        let journal = Journal::create(tmp.path(), "r", &OperatorKey::for_tests()).expect("create");
        for event in events {
            journal.append(event).expect("append");
        }
        let runs = list(tmp.path()).expect("list");
        assert!(runs[0].verified, "{:?}", runs[0].problem);
        runs[0].status.clone()
    }

    #[test]
    fn how_a_run_ended_and_what_undo_did_to_it() {
        let apply = |t| result("apply", t, "ok");
        let undo = |t, outcome| result("undo", t, outcome);
        let notice = json!({"type": "notice", "message": "undo by o"});
        let summary = json!({"type": "summary", "total": 2});
        let cases: Vec<(&str, Vec<Value>, Option<RunStatus>)> = vec![
            (
                "completed",
                vec![begin(), apply("a"), end("completed")],
                Some(RunStatus::Completed),
            ),
            (
                "stopped",
                vec![begin(), apply("a"), end("stopped")],
                Some(RunStatus::Stopped),
            ),
            (
                "interrupted",
                vec![begin(), apply("a"), end("interrupted")],
                Some(RunStatus::Interrupted),
            ),
            ("unfinished", vec![begin(), apply("a")], None),
            (
                "completed, then undone",
                vec![
                    begin(),
                    apply("a"),
                    apply("b"),
                    end("completed"),
                    notice.clone(),
                    undo("b", "ok"),
                    undo("a", "ok"),
                    summary.clone(),
                    end("undone"),
                ],
                Some(RunStatus::Undone),
            ),
            (
                "killed mid-run (no run_end of its own), then undone",
                vec![
                    begin(),
                    apply("a"),
                    notice.clone(),
                    undo("a", "ok"),
                    summary.clone(),
                    end("undone"),
                ],
                Some(RunStatus::Undone),
            ),
            (
                "undo with a failure",
                vec![
                    begin(),
                    apply("a"),
                    apply("b"),
                    end("completed"),
                    undo("b", "ok"),
                    undo("a", "failed"),
                    summary.clone(),
                    end("partly_undone"),
                ],
                Some(RunStatus::PartlyUndone),
            ),
            (
                "partly undone, then undone by a second undo",
                vec![
                    begin(),
                    apply("a"),
                    end("completed"),
                    undo("a", "failed"),
                    end("partly_undone"),
                    undo("a", "ok"),
                    end("undone"),
                ],
                Some(RunStatus::Undone),
            ),
            (
                "undo killed before it recorded how the run stands",
                vec![
                    begin(),
                    apply("a"),
                    apply("b"),
                    end("completed"),
                    notice.clone(),
                    undo("b", "ok"),
                ],
                Some(RunStatus::PartlyUndone),
            ),
            (
                "killed mid-run, then an undo that was killed too",
                vec![begin(), apply("a"), undo("a", "ok")],
                Some(RunStatus::PartlyUndone),
            ),
            (
                "undone, then an undo killed after its first result",
                vec![
                    begin(),
                    apply("a"),
                    end("completed"),
                    undo("a", "ok"),
                    end("undone"),
                    undo("a", "ok"),
                ],
                Some(RunStatus::PartlyUndone),
            ),
        ];
        for (what, events, expected) in cases {
            assert_eq!(status_of(&events), expected, "{what}");
        }
    }

    #[test]
    fn statuses_read_as_words_and_serialize_as_snake_case() {
        let json = |s: RunStatus| serde_json::to_value(s).expect("json");
        assert_eq!(json(RunStatus::PartlyUndone), "partly_undone");
        assert_eq!(json(RunStatus::Undone), "undone");
        assert_eq!(json(RunStatus::Completed), "completed");
        assert_eq!(RunStatus::PartlyUndone.label(), "partly undone");
        assert_eq!(RunStatus::Undone.label(), "undone");
        // A status from a newer version is shown as recorded, not dropped.
        assert_eq!(
            status_of(&[begin(), end("paused")]),
            Some(RunStatus::Other("paused".into()))
        );
        let tmp = tempfile::tempdir().expect("tempdir");
        let journal = Journal::create(tmp.path(), "r", &OperatorKey::for_tests()).expect("create");
        journal.append(&begin()).expect("append");
        let info = serde_json::to_value(&list(tmp.path()).expect("list")[0]).expect("json");
        // An unfinished run keeps `status: null` in JSON, as before.
        assert_eq!(info["status"], Value::Null);
    }

    #[test]
    fn missing_root_has_no_runs() {
        let tmp = tempfile::tempdir().expect("tempdir");
        assert!(list(&tmp.path().join("none")).expect("list").is_empty());
    }
}
