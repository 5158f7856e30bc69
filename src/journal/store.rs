//! `Journal`: the one appender of a run. It owns the run's lock for its lifetime, so exactly one
//! process appends to a run, and a mutex, so threads of that process append one whole record at
//! a time.
//!
//! Each append is one `write` of the whole line (`O_APPEND`), `fdatasync`, then the `head`
//! update; only then does it return, so the engine never starts a change whose record is not on
//! disk (ARCHITECTURE.md, "Journal"). Any failure part way leaves the `Journal` unusable rather
//! than risk appending after a half-written line; `open` repairs and continues.
//!
//! `append_batch` is group commit: many records (host results that arrived while the previous
//! fsync ran) in one write, one `fdatasync` and one `head` update, marked as a group so that
//! `verify` accepts the group cut short by a kill as it accepts a single record.

use std::fs::{DirBuilder, File, OpenOptions, TryLockError};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use super::error::{JournalError, io};
use super::head::{self, Head, HeadFile};
use super::key::{OperatorKey, Trust};
use super::record::{self, ZERO_HASH};
use super::{JOURNAL_FILE, LOCK_FILE};
use super::{perms, verify};

/// An open run journal. `Send + Sync`: share it (`&Journal` or `Arc<Journal>`) between the
/// threads that report host results.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    run_id: String,
    notes: Vec<String>,
    state: Mutex<State>,
    /// Holds the exclusive `flock` on `<dir>/lock`; closing it (drop, exit, kill) releases it.
    _lock: File,
}

#[derive(Debug)]
struct State {
    file: File,
    /// `<dir>/head`, open for in-place updates.
    head: HeadFile,
    operator: String,
    next_seq: u64,
    last_hash: String,
    /// Set while an append is in progress and left set if it fails or panics part way.
    broken: bool,
}

impl Journal {
    /// Starts the journal of a new run in `<root>/<run_id>/`, creating `root` if needed (mode
    /// 0700: events describe the fleet). Fails with `Exists` if the run exists, `Locked` if
    /// another process holds it.
    pub fn create(
        root: &Path,
        run_id: &str,
        key: &Arc<OperatorKey>,
    ) -> Result<Journal, JournalError> {
        check_run_id(run_id)?;
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(io(root))?;
        let dir = root.join(run_id);
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // "In use" tells the operator more than "exists" when a live run holds it.
                return Err(match lock(&dir, run_id) {
                    Err(locked @ JournalError::Locked { .. }) => locked,
                    _ => JournalError::Exists {
                        run: run_id.to_owned(),
                    },
                });
            }
            Err(e) => return Err(io(&dir)(e)),
        }
        let lock = lock(&dir, run_id)?;
        // The signed head first: a run without one does not verify, so a crash between the
        // two leaves a run that is refused rather than one that looks empty.
        let head = head::replace(&dir, &Head::empty(), key)?;
        let path = dir.join(JOURNAL_FILE);
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io(&path))?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&dir))?;
        File::open(root)
            .and_then(|r| r.sync_all())
            .map_err(io(root))?;
        let state = State::new(file, head, 0, ZERO_HASH.to_owned());
        Ok(Journal::new(dir, run_id, lock, Vec::new(), state))
    }

    /// Opens an existing run to append to it (resume, undo, confirm). The run must be the
    /// operator's own (no one else could have written its directory or files, `perms.rs`), verify,
    /// and be signed by a key `trust` accepts; what a killed run leaves behind (an incomplete
    /// last line, `head` one record behind) is repaired first and reported by `notes()`.
    pub fn open(
        root: &Path,
        run_id: &str,
        key: &Arc<OperatorKey>,
        trust: &Trust,
    ) -> Result<Journal, JournalError> {
        let dir = run_dir(root, run_id)?;
        perms::check_run(root, &dir)?;
        // Lock before verifying, so nothing appends between the check and our first append.
        let lock = lock(&dir, run_id)?;
        let scan = verify::scan(&dir, &mut |_| {})?;
        verify::trusted(&dir, &scan.report, trust)?;
        let path = dir.join(JOURNAL_FILE);
        // `create(true)`: a run killed inside `create` may not have its journal yet.
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .map_err(io(&path))?;
        let len = file.metadata().map_err(io(&path))?.len();
        if len > scan.valid_len {
            // Cut the never-acknowledged partial line, or the next record would be glued to it.
            file.set_len(scan.valid_len).map_err(io(&path))?;
            file.sync_data().map_err(io(&path))?;
        }
        let covered = Head {
            records: scan.report.records,
            hash: scan.report.last_hash.clone(),
        };
        // From here on this operator's key signs the head (a colleague's trusted run, resumed,
        // is signed by whoever appended last).
        let head = match scan.head_records {
            None => head::replace(&dir, &covered, key)?,
            Some(records) => {
                let mut head = head::open(&dir, key)?;
                if records != covered.records || scan.report.signer != key.public().to_base64() {
                    head::update(&mut head, &dir, &covered)?;
                }
                head
            }
        };
        let state = State::new(file, head, scan.report.records, scan.report.last_hash);
        Ok(Journal::new(dir, run_id, lock, scan.report.notes, state))
    }

    fn new(dir: PathBuf, run_id: &str, lock: File, notes: Vec<String>, state: State) -> Journal {
        Journal {
            dir,
            run_id: run_id.to_owned(),
            notes,
            state: Mutex::new(state),
            _lock: lock,
        }
    }

    /// Appends `event` as the next record and returns its `seq` once it is durable. The event is
    /// stored verbatim and for good: it must not contain secrets.
    ///
    /// On `Err` the record may or may not be on disk: do not make the change it announced, and
    /// stop the run (exit code 4). Later appends on this `Journal` fail too.
    pub fn append(&self, event: &Value) -> Result<u64, JournalError> {
        self.append_batch(std::slice::from_ref(event))
    }

    /// Appends `events` as consecutive records with one write, one `fdatasync` and one `head`
    /// update (group commit), and returns the `seq` of the first once all are durable. Same
    /// contract as [`Journal::append`]; a kill part way leaves a prefix of the group, which
    /// `verify` accepts and `open` keeps. Appending nothing is a no-op returning the next `seq`.
    pub fn append_batch(&self, events: &[Value]) -> Result<u64, JournalError> {
        // A panic elsewhere while holding the lock leaves `broken` set, which is checked below.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let path = self.dir.join(JOURNAL_FILE);
        if state.broken {
            return Err(io(&path)(std::io::Error::other(
                "an earlier append to this journal failed part way, so this process appends no \
                 more; resume the run to repair and continue it",
            )));
        }
        let first = state.next_seq;
        if events.is_empty() {
            return Ok(first);
        }
        let time = super::now();
        let batch = (events.len() > 1).then_some(events.len() as u64);
        let mut lines = String::new();
        let mut last_hash = state.last_hash.clone();
        for (seq, event) in (first..).zip(events) {
            let marker = if seq == first { batch } else { None };
            let (line, hash) =
                record::encode_in_batch(seq, &time, &state.operator, event, &last_hash, marker)
                    .map_err(|e| io(&path)(e.into()))?;
            lines.push_str(&line);
            last_hash = hash;
        }
        state.broken = true;
        // One write of the whole group: a reader, or a process killed now, sees a prefix of it,
        // whose last line `verify` recognizes as incomplete if it was cut.
        state.file.write_all(lines.as_bytes()).map_err(io(&path))?;
        state.file.sync_data().map_err(io(&path))?;
        let head = Head {
            records: first + events.len() as u64,
            hash: last_hash,
        };
        let dir = self.dir.clone();
        head::update(&mut state.head, &dir, &head)?;
        state.next_seq = head.records;
        state.last_hash = head.hash;
        state.broken = false;
        Ok(first)
    }

    /// Ends the process with `code` once no append is in progress (the second Ctrl-C): waits for
    /// the current append to finish and blocks any other, so no record is left half-written.
    pub fn exit_now(&self, code: i32) -> ! {
        let _appends_stopped = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        std::process::exit(code)
    }

    /// The run directory, `<root>/<run-id>`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// What `open` found and repaired (empty after `create`), for the operator.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }
}

impl State {
    fn new(file: File, head: HeadFile, next_seq: u64, last_hash: String) -> State {
        State {
            file,
            head,
            operator: super::operator(),
            next_seq,
            last_hash,
            broken: false,
        }
    }
}

/// The directory of an existing run: the id checked ([`check_run_id`]) and the run found, with
/// the same errors for every verb that names a run.
pub fn run_dir(root: &Path, run_id: &str) -> Result<PathBuf, JournalError> {
    check_run_id(run_id)?;
    let dir = root.join(run_id);
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(JournalError::NotFound {
            run: run_id.to_owned(),
            root: root.to_path_buf(),
        })
    }
}

/// Refuses ids that would not name one directory directly under the root (`..`, `a/b`), so a
/// run id from the command line cannot reach outside the journal directory.
fn check_run_id(run_id: &str) -> Result<(), JournalError> {
    let ok = !run_id.is_empty()
        && !run_id.starts_with('.')
        && !run_id.contains(['/', '\\', '\0'])
        && run_id.len() <= 200;
    if ok {
        Ok(())
    } else {
        Err(JournalError::InvalidRunId {
            run: run_id.to_owned(),
        })
    }
}

/// Takes the run's exclusive lock without waiting: two processes appending to one run would
/// break its chain.
fn lock(dir: &Path, run_id: &str) -> Result<File, JournalError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(io(&path))?;
    // `File::try_lock` (stable since Rust 1.89, our `rust-version`): an advisory exclusive lock
    // the kernel drops when the process dies, so a killed run never leaves a stale lock behind.
    // flock(2) is held until every copy of the descriptor closes, and a child forked by another
    // thread holds a copy until it execs (O_CLOEXEC): a lock that clears within a couple of
    // seconds is that, not another run, so try again briefly before calling it a conflict.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(JournalError::Locked {
                    run: run_id.to_owned(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(&path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{HEAD_FILE, read, verify};
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    const _: () = {
        const fn send_sync<T: Send + Sync>() {}
        send_sync::<Journal>();
    };

    /// Opens a run as the tests' operator, who trusts only the tests' key.
    fn open_run(root: &Path, run: &str) -> Result<Journal, JournalError> {
        Journal::open(root, run, &OperatorKey::for_tests(), &Trust::for_tests())
    }

    #[test]
    fn create_append_reopen_continues_the_chain() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("state/runs");
        let journal = Journal::create(&root, "r1", &OperatorKey::for_tests()).expect("create");
        assert_eq!(journal.run_id(), "r1");
        assert_eq!(journal.dir(), root.join("r1"));
        assert_eq!(
            journal
                .append(&json!({"type": "run_begin"}))
                .expect("append"),
            0
        );
        assert_eq!(journal.append(&json!({"type": "step"})).expect("append"), 1);
        drop(journal);
        let journal = open_run(&root, "r1").expect("open");
        assert!(journal.notes().is_empty());
        assert_eq!(
            journal.append(&json!({"type": "run_end"})).expect("append"),
            2
        );
        let records = read(&root.join("r1")).expect("read");
        assert_eq!(records.len(), 3);
        assert_eq!(records[2].event, json!({"type": "run_end"}));
        assert_eq!(records[2].operator, super::super::operator());
        let mode = std::fs::metadata(root.join("r1"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn second_create_or_open_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let journal = Journal::create(tmp.path(), "r1", &OperatorKey::for_tests()).expect("create");
        let err = open_run(tmp.path(), "r1").expect_err("locked");
        assert!(
            matches!(err, JournalError::Locked { ref run } if run == "r1"),
            "{err}"
        );
        let err = Journal::create(tmp.path(), "r1", &OperatorKey::for_tests()).expect_err("locked");
        assert!(matches!(err, JournalError::Locked { .. }), "{err}");
        drop(journal);
        let err = Journal::create(tmp.path(), "r1", &OperatorKey::for_tests()).expect_err("exists");
        assert!(matches!(err, JournalError::Exists { .. }), "{err}");
        let err = open_run(tmp.path(), "r2").expect_err("missing");
        assert!(matches!(err, JournalError::NotFound { .. }), "{err}");
        let journal = open_run(tmp.path(), "r1").expect("unlocked after drop");
        drop(journal);
    }

    #[test]
    fn bad_run_ids_are_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        for id in ["", ".", "..", "../x", "a/b", ".hidden"] {
            let err = Journal::create(tmp.path(), id, &OperatorKey::for_tests()).expect_err(id);
            assert!(
                matches!(err, JournalError::InvalidRunId { .. }),
                "{id}: {err}"
            );
        }
    }

    #[test]
    fn open_refuses_a_corrupted_journal() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let journal = Journal::create(tmp.path(), "r1", &OperatorKey::for_tests()).expect("create");
        for i in 0..3 {
            journal.append(&json!({"replicas": i})).expect("append");
        }
        drop(journal);
        let path = tmp.path().join("r1").join(JOURNAL_FILE);
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, text.replacen("\"replicas\":1", "\"replicas\":9", 1)).expect("edit");
        let err = open_run(tmp.path(), "r1").expect_err("corrupt");
        assert!(
            matches!(err, JournalError::Corrupt { line: Some(2), .. }),
            "{err}"
        );
    }

    #[test]
    fn open_repairs_what_a_kill_leaves() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("r1");
        let journal = Journal::create(tmp.path(), "r1", &OperatorKey::for_tests()).expect("create");
        for i in 0..3 {
            journal.append(&json!({"i": i})).expect("append");
        }
        drop(journal);
        let records = read(&dir).expect("read");
        // head one behind, and a torn line after it is impossible; test each separately.
        head::rewind(&dir, &records, 2, &OperatorKey::for_tests());
        let journal = open_run(tmp.path(), "r1").expect("open");
        assert_eq!(journal.notes().len(), 1);
        assert_eq!(journal.append(&json!({"i": 3})).expect("append"), 3);
        drop(journal);
        assert!(verify(&dir).expect("verify").notes.is_empty());

        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.join(JOURNAL_FILE))
            .expect("open");
        file.write_all(b"{\"v\":1,\"seq\":4,\"ti").expect("torn");
        drop(file);
        let journal = open_run(tmp.path(), "r1").expect("open");
        assert!(journal.notes()[0].contains("incomplete last line ignored"));
        assert_eq!(journal.append(&json!({"i": 4})).expect("append"), 4);
        drop(journal);
        let report = verify(&dir).expect("verify");
        assert_eq!((report.records, report.notes.len()), (5, 0));

        // An emptied journal with its head deleted is not an empty run that verifies: it is
        // refused (a run killed inside `create`, before its head, journaled nothing to act on).
        std::fs::remove_file(dir.join(HEAD_FILE)).expect("rm head");
        std::fs::write(dir.join(JOURNAL_FILE), "").expect("empty");
        let err = open_run(tmp.path(), "r1").expect_err("no head");
        assert!(
            err.to_string().contains("the head file is missing"),
            "{err}"
        );
        assert!(
            verify(&dir).is_err(),
            "an emptied journal without head verified"
        );
    }

    #[test]
    fn append_batch_is_one_group_of_the_chain() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let journal = Journal::create(tmp.path(), "r1", &OperatorKey::for_tests()).expect("create");
        assert_eq!(journal.append(&json!({"i": 0})).expect("append"), 0);
        let group: Vec<Value> = (1..=4).map(|i| json!({"i": i})).collect();
        assert_eq!(journal.append_batch(&group).expect("batch"), 1);
        assert_eq!(journal.append_batch(&[]).expect("empty"), 5);
        assert_eq!(journal.append_batch(&group[..1]).expect("one"), 5);
        assert_eq!(journal.append(&json!({"i": 6})).expect("append"), 6);
        let records = read(journal.dir()).expect("read");
        let batches: Vec<_> = records.iter().map(|r| r.batch).collect();
        assert_eq!(
            batches,
            [None, Some(4), None, None, None, None, None],
            "only the first record of a group of more than one is marked"
        );
        assert_eq!(
            head::read(journal.dir()).expect("head").map(|h| h.head),
            Some(Head {
                records: 7,
                hash: records[6].hash.clone()
            })
        );
        drop(journal);
        // Reopened, the chain continues after the group.
        let journal = open_run(tmp.path(), "r1").expect("open");
        assert!(journal.notes().is_empty(), "{:?}", journal.notes());
        assert_eq!(journal.append_batch(&group).expect("batch"), 7);
        assert_eq!(verify(journal.dir()).expect("verify").records, 11);
    }

    #[test]
    fn concurrent_appends_form_one_chain() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let journal = Journal::create(tmp.path(), "r1", &OperatorKey::for_tests()).expect("create");
        std::thread::scope(|s| {
            for t in 0..8 {
                let journal = &journal;
                s.spawn(move || {
                    for i in 0..50 {
                        journal
                            .append(&json!({"thread": t, "i": i}))
                            .expect("append");
                    }
                });
            }
        });
        let records = read(journal.dir()).expect("read");
        assert_eq!(records.len(), 400);
        for t in 0..8 {
            let mine: Vec<_> = records
                .iter()
                .filter(|r| r.event["thread"] == t)
                .map(|r| r.event["i"].as_u64().expect("i"))
                .collect();
            // Each thread's records are in its own order.
            assert_eq!(mine, (0..50).collect::<Vec<_>>());
        }
    }

    const CHILD_ENV: &str = "BREAKGLASS_TEST_JOURNAL_CHILD";

    /// With `BREAKGLASS_TEST_JOURNAL_CHILD=<root>`, appends to `<root>/run` until killed; a no-op
    /// otherwise. Run as a child process by `killed_appender_leaves_a_verifiable_journal`.
    #[test]
    fn child_appender() {
        let Some(root) = std::env::var_os(CHILD_ENV) else {
            return;
        };
        let journal = open_run(Path::new(&root), "run").expect("child: open");
        // Some records larger than a page, so a kill can land inside one `write`.
        let big = "x".repeat(256 << 10);
        let event = |i: u64| {
            let payload = if i.is_multiple_of(4) {
                big.as_str()
            } else {
                "small"
            };
            json!({"type": "host_result", "i": i, "payload": payload})
        };
        // Single appends and groups of 2 to 6 (group commit), so kills land in both.
        for i in 0u64.. {
            if i.is_multiple_of(2) {
                journal.append(&event(i)).expect("child: append");
            } else {
                let group: Vec<Value> = (0..2 + i % 5).map(|j| event(i * 8 + j)).collect();
                journal.append_batch(&group).expect("child: append_batch");
            }
        }
    }

    #[test]
    fn killed_appender_leaves_a_verifiable_journal() {
        let tmp = tempfile::tempdir().expect("tempdir");
        drop(Journal::create(tmp.path(), "run", &OperatorKey::for_tests()).expect("create"));
        let dir = tmp.path().join("run");
        let exe = std::env::current_exe().expect("current_exe");
        let journal_len = || std::fs::metadata(dir.join(JOURNAL_FILE)).map_or(0, |m| m.len());
        let mut grew = 0;
        let mut last = 0;
        let mut behind = 0;
        // 20 rounds, or more until one kill has landed between a record and its head update.
        for round in 0..80 {
            if round >= 20 && behind > 0 {
                break;
            }
            let before = journal_len();
            let mut child = Command::new(&exe)
                .args([
                    "journal::store::tests::child_appender",
                    "--exact",
                    "--test-threads=1",
                    "--quiet",
                ])
                .env(CHILD_ENV, tmp.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn");
            if round % 2 == 0 {
                // Anywhere from start-up (and `open`'s repair) to the first appends.
                std::thread::sleep(Duration::from_millis(fastrand::u64(0..60)));
            } else {
                // Among appends: wait until the child writes, then a little longer. From round
                // 20 on (no kill has landed before a head update yet), kill as soon as the
                // journal grows: the child is then most likely syncing before its head update.
                let deadline = Instant::now() + Duration::from_secs(30);
                while journal_len() <= before && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
                if round < 20 {
                    std::thread::sleep(Duration::from_micros(fastrand::u64(0..40_000)));
                }
            }
            child.kill().expect("kill");
            let status = child.wait().expect("wait");
            // Killed by us, not a panic in the child (open or append failing).
            assert_eq!(status.code(), None, "round {round}: child exited by itself");
            let report = verify(&dir).unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert!(
                report.records >= last,
                "round {round}: records went backwards"
            );
            if report.records > last {
                grew += 1;
            }
            behind += report
                .notes
                .iter()
                .filter(|n| n.contains("not yet counted"))
                .count();
            last = report.records;
        }
        // Half the rounds wait for the child to write, so most of those must add records.
        assert!(grew >= 5, "the child appended in only {grew} rounds");
        assert!(
            behind >= 1,
            "no kill landed between a record and its head update"
        );
        let journal = open_run(tmp.path(), "run").expect("open after kills");
        journal.append(&json!({"type": "run_end"})).expect("append");
    }
}
