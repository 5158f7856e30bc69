//! Verification: reads a run's journal front to back and proves it is the one the run wrote,
//! whole, in order and unedited, or says precisely which line is wrong and how.
//!
//! It streams (a run may journal thousands of host results) and takes no lock, so it can check a
//! run that another process is still appending to. Two states a killed run legitimately leaves
//! are accepted with a note: the last append (one record, or a group written together) on disk
//! but `head` not yet updated, and an incomplete last line (a record being written when the
//! process died, never acknowledged to the engine, so no change depended on it).
//! `Journal::open` repairs both before appending.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::JOURNAL_FILE;
use super::error::{JournalError, io};
use super::head::{self, Head};
use super::key::{PublicKey, Trust};
use super::record::{self, Record, ZERO_HASH};

/// The outcome of a successful verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Whole, verified records.
    pub records: u64,
    /// The hash of the last of them, or 64 zeros when there are none.
    pub last_hash: String,
    /// The key that signed the head: base64 of the Ed25519 public key.
    pub signer: String,
    /// Its fingerprint (`SHA256:...`).
    pub signer_fingerprint: String,
    /// Things the operator should know that do not make the journal untrustworthy, e.g. that the
    /// run was killed mid-append.
    pub notes: Vec<String>,
}

/// Checks the run in `dir` (`<root>/<run-id>`). Errors are `Corrupt` with a reason naming the
/// line, `NotFound`, or `Io`.
pub fn verify(dir: &Path) -> Result<VerifyReport, JournalError> {
    scan(dir, &mut |_| {}).map(|scan| scan.report)
}

/// Verifies the run in `dir` and returns its records in order. An incomplete last line that
/// `verify` accepts is left out: it was never acknowledged.
pub fn read(dir: &Path) -> Result<Vec<Record>, JournalError> {
    let mut records = Vec::new();
    scan(dir, &mut |r| records.push(r))?;
    Ok(records)
}

/// [`verify`], then the signer must be one `trust` accepts; also returns whose key it is, in
/// words (`your key SHA256:...`).
pub fn verify_trusted(dir: &Path, trust: &Trust) -> Result<(VerifyReport, String), JournalError> {
    let report = verify(dir)?;
    let whose = trusted(dir, &report, trust)?;
    Ok((report, whose))
}

/// [`read`] of a run whose signer `trust` accepts.
pub fn read_trusted(dir: &Path, trust: &Trust) -> Result<Vec<Record>, JournalError> {
    let mut records = Vec::new();
    let scan = scan(dir, &mut |r| records.push(r))?;
    trusted(dir, &scan.report, trust)?;
    Ok(records)
}

pub(crate) fn trusted(
    dir: &Path,
    report: &VerifyReport,
    trust: &Trust,
) -> Result<String, JournalError> {
    let signer = PublicKey::parse(&report.signer);
    signer
        .as_ref()
        .ok_or_else(|| "its head names no signer".to_owned())
        .and_then(|k| trust.describe(k))
        .map_err(|reason| JournalError::Untrusted {
            run: super::head::run_id_of(dir),
            reason,
        })
}

/// What `Journal::open` needs beyond the report to resume appending.
pub(crate) struct Scan {
    pub report: VerifyReport,
    /// Length of the whole, verified lines: where the next record goes once a torn last line is
    /// cut off.
    pub valid_len: u64,
    /// The record count in `head` (the newer read), `None` when `head` is missing: `open`
    /// rewrites it unless it counts every record.
    pub head_records: Option<u64>,
}

/// Verifies `dir`, handing each verified record to `visit` in order.
pub(crate) fn scan(dir: &Path, visit: &mut dyn FnMut(Record)) -> Result<Scan, JournalError> {
    if !dir.is_dir() {
        return Err(not_found(dir));
    }
    let path = dir.join(JOURNAL_FILE);
    // `head` is read before the journal and again after: an appender writes the record before
    // `head`, so a live run can only make the journal look longer than the first read, never
    // shorter, and the second read explains the extra records.
    // A missing head is a failure, not an empty run: deleting it (and emptying the journal)
    // must not turn a run into one that verifies as "0 records". `create` writes it before the
    // run's first record, so only a crash inside `create` leaves a run without one, and such a
    // run has nothing to resume or undo.
    let Some(first) = head::read(dir)? else {
        let reason = format!(
            "the head file is missing: it was deleted (or the run was killed while being \
             created, before it journaled anything); without it a rewritten or emptied journal \
             cannot be told from the one the run wrote ({JOURNAL_FILE} is {})",
            if path.exists() {
                "there"
            } else {
                "missing too"
            }
        );
        return Err(corrupt(&dir.join(super::HEAD_FILE), None, reason));
    };
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let reason = format!("{JOURNAL_FILE} is missing: it was deleted");
            return Err(corrupt(&path, None, reason));
        }
        Err(e) => return Err(io(&path)(e)),
    };
    let mut notes = Vec::new();
    let h1 = first.head.clone();
    let chain = read_chain(file, &path, h1.records, visit)?;
    let second = head::read(dir)?.unwrap_or_else(|| first.clone());
    if second.signer != first.signer {
        let reason = "the head's signer changed during verification: another program replaced it";
        return Err(corrupt(&path, None, reason.to_owned()));
    }
    let h2 = second.head;
    check_head(&chain, &h1, &h2, &mut notes)
        .map_err(|(line, reason)| corrupt(&path, line, reason))?;
    Ok(Scan {
        valid_len: chain.valid_len,
        head_records: Some(h2.records),
        report: VerifyReport {
            records: chain.records,
            last_hash: chain.last_hash,
            signer: first.signer.to_base64(),
            signer_fingerprint: first.signer.fingerprint(),
            notes,
        },
    })
}

/// What reading the records front to back found.
struct Chain {
    /// Whole records, each verified and chained to the one before.
    records: u64,
    valid_len: u64,
    last_hash: String,
    /// The hash of the record before the last (64 zeros if none).
    before_last: String,
    /// The hash of record number `at` (1-based), as asked by the caller.
    at_hash: Option<String>,
    /// The file ends with a line without its newline.
    torn: bool,
    /// The append group the last record belongs to: its first line (1-based) and its size as
    /// its first record declared (1 for a record appended alone).
    group_start: u64,
    group_size: u64,
}

/// Reads and checks every whole line: its own hash, `seq` one past the previous, `prev` equal to
/// the previous hash. `at` asks for one record's hash, for the comparison with `head`.
fn read_chain(
    file: File,
    path: &Path,
    at: u64,
    visit: &mut dyn FnMut(Record),
) -> Result<Chain, JournalError> {
    let mut chain = Chain {
        records: 0,
        valid_len: 0,
        last_hash: ZERO_HASH.to_owned(),
        before_last: ZERO_HASH.to_owned(),
        at_hash: None,
        torn: false,
        group_start: 0,
        group_size: 0,
    };
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let read = reader.read_until(b'\n', &mut buf).map_err(io(path))?;
        if read == 0 {
            return Ok(chain);
        }
        let n = chain.records;
        let line = n + 1;
        let Some(body) = buf.strip_suffix(b"\n") else {
            // Only the last line can lack its newline; what it means depends on `head`.
            chain.torn = true;
            return Ok(chain);
        };
        let record = record::decode(body)
            .map_err(|r| corrupt(path, Some(line), format!("line {line}: {r}")))?;
        let problem = if record.seq != n && n == 0 {
            Some(format!(
                "line 1: seq {} but the first record is seq 0: records are missing from the start",
                record.seq
            ))
        } else if record.seq != n {
            Some(format!(
                "line {line}: seq {} follows seq {}: records missing or reordered",
                record.seq,
                n - 1
            ))
        } else if record.prev != chain.last_hash && n == 0 {
            Some("line 1: prev is not 64 zeros: records are missing from the start".to_owned())
        } else if record.prev != chain.last_hash {
            Some(format!(
                "line {line}: prev does not match the hash of line {n}: line {n} was edited and \
                 rehashed, or records were replaced"
            ))
        } else if record.batch.is_some_and(|k| k < 2) {
            Some(format!(
                "line {line}: batch {} is not a group size (at least 2): the record was written \
                 by hand",
                record.batch.unwrap_or_default()
            ))
        } else {
            None
        };
        if let Some(reason) = problem {
            return Err(corrupt(path, Some(line), reason));
        }
        if let Some(size) = record.batch {
            (chain.group_start, chain.group_size) = (line, size);
        } else if line >= chain.group_start + chain.group_size {
            (chain.group_start, chain.group_size) = (line, 1);
        }
        chain.records = line;
        chain.valid_len += read as u64;
        chain.before_last = std::mem::replace(&mut chain.last_hash, record.hash.clone());
        if line == at {
            chain.at_hash = Some(record.hash.clone());
        }
        visit(record);
    }
}

/// Compares the records read with `head` as read before (`h1`) and after (`h2`) them. The error
/// is the line to blame, if one is, and the reason.
fn check_head(
    chain: &Chain,
    h1: &Head,
    h2: &Head,
    notes: &mut Vec<String>,
) -> Result<(), (Option<u64>, String)> {
    let n = chain.records;
    let torn_line = n + 1;
    if n < h1.records {
        return Err(if chain.torn {
            let reason = format!(
                "line {torn_line}: incomplete last line (the file was cut mid-record); head says \
                 {} records, the file has {n} whole ones",
                h1.records
            );
            (Some(torn_line), reason)
        } else {
            let reason = format!(
                "truncated: head says {} records, file has {n}: records were cut from the end",
                h1.records
            );
            (None, reason)
        });
    }
    if h1.records > 0 && chain.at_hash.as_deref() != Some(h1.hash.as_str()) {
        return Err(differs_from_head(h1.records));
    }
    if h2.records < h1.records {
        let reason = "the head file went backwards during verification: another program \
                      replaced it";
        return Err((None, reason.to_owned()));
    }
    let covered = h2.records;
    // Records (and a torn line) past `head` must all be the last append, cut short by a kill:
    // one record, or a prefix of the group that starts right after what `head` counts.
    let past_head = n - covered.min(n);
    let in_group = |extra: u64| chain.group_start == covered + 1 && extra <= chain.group_size;
    if n > covered + 1 && !in_group(past_head) {
        let line = covered + 2;
        let reason = format!(
            "line {line}: the journal has {n} records but head says {covered}: the head file \
             is stale (restored from a backup?) or records were added by hand"
        );
        return Err((Some(line), reason));
    }
    if h2 != h1 {
        // A live appender moved `head` while we read. Check it against what we read, when we
        // read that far.
        let seen = if covered == n {
            Some(&chain.last_hash)
        } else if covered + 1 == n {
            Some(&chain.before_last)
        } else {
            None
        };
        if covered > 0 && seen.is_some_and(|h| *h != h2.hash) {
            return Err(differs_from_head(covered));
        }
        notes.push(format!(
            "the run was appending while it was verified; checked its first {n} records"
        ));
    }
    if n > covered {
        if chain.torn && !in_group(past_head + 1) {
            let reason = format!(
                "line {torn_line}: incomplete last line after a record head does not count: the \
                 journal was damaged"
            );
            return Err((Some(torn_line), reason));
        }
        notes.push(if n == covered + 1 {
            format!(
                "line {n}: the last record is not yet counted in head: the run stopped between \
                 writing it and updating head (normal after a kill)"
            )
        } else {
            format!(
                "lines {}-{n}: the last records, written together, are not yet counted in head: \
                 the run stopped between writing them and updating head (normal after a kill)",
                covered + 1
            )
        });
    }
    if chain.torn {
        notes.push(format!(
            "line {torn_line}: incomplete last line ignored: the run stopped while writing it, \
             before the record was acknowledged"
        ));
    }
    Ok(())
}

fn differs_from_head(line: u64) -> (Option<u64>, String) {
    let reason = format!(
        "line {line}: the record differs from the one head recorded: the journal was rewritten \
         from there"
    );
    (Some(line), reason)
}

fn corrupt(path: &Path, line: Option<u64>, reason: String) -> JournalError {
    JournalError::Corrupt {
        path: path.to_path_buf(),
        line,
        reason,
    }
}

pub(crate) fn not_found(dir: &Path) -> JournalError {
    JournalError::NotFound {
        run: dir
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        root: dir.parent().map_or_else(PathBuf::new, Path::to_path_buf),
    }
}

#[cfg(test)]
mod tests {
    use super::super::key::OperatorKey;
    use super::super::{HEAD_FILE, Journal};
    use super::*;
    use serde_json::json;

    /// A run with `n` records; returns the temp root (kept alive) and the run directory.
    fn run_with(n: u64) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let journal =
            Journal::create(tmp.path(), "run", &OperatorKey::for_tests()).expect("create");
        for i in 0..n {
            journal
                .append(&json!({"type": "host_result", "host": format!("node{i:03}"), "ok": true}))
                .expect("append");
        }
        let dir = journal.dir().to_path_buf();
        (tmp, dir)
    }

    fn lines(dir: &Path) -> Vec<String> {
        std::fs::read_to_string(dir.join(JOURNAL_FILE))
            .expect("journal")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn write_lines(dir: &Path, lines: &[String]) {
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(dir.join(JOURNAL_FILE), text).expect("write");
    }

    fn reason(dir: &Path) -> (Option<u64>, String) {
        match verify(dir) {
            Err(JournalError::Corrupt { line, reason, .. }) => (line, reason),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn round_trip() {
        let (_tmp, dir) = run_with(5);
        let report = verify(&dir).expect("verify");
        assert_eq!(report.records, 5);
        assert!(report.notes.is_empty(), "{:?}", report.notes);
        let records = read(&dir).expect("read");
        assert_eq!(records.len(), 5);
        assert_eq!(records[4].hash, report.last_hash);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.seq, i as u64);
            assert_eq!(r.v, 1);
            assert_eq!(r.event["host"], format!("node{i:03}"));
            assert_eq!(
                r.prev,
                if i == 0 {
                    ZERO_HASH
                } else {
                    &records[i - 1].hash
                }
            );
        }
    }

    #[test]
    fn empty_run_verifies() {
        let (_tmp, dir) = run_with(0);
        let report = verify(&dir).expect("verify");
        assert_eq!((report.records, report.last_hash.as_str()), (0, ZERO_HASH));
    }

    #[test]
    fn catches_one_edited_byte() {
        let (_tmp, dir) = run_with(9);
        let mut l = lines(&dir);
        l[6] = l[6].replace("node006", "node007");
        write_lines(&dir, &l);
        let (line, reason) = reason(&dir);
        assert_eq!(line, Some(7));
        assert_eq!(reason, "line 7: hash mismatch: the record was edited");
    }

    #[test]
    fn catches_a_deleted_middle_record() {
        let (_tmp, dir) = run_with(9);
        let mut l = lines(&dir);
        l.remove(4);
        write_lines(&dir, &l);
        let (line, reason) = reason(&dir);
        assert_eq!(line, Some(5));
        assert_eq!(
            reason,
            "line 5: seq 5 follows seq 3: records missing or reordered"
        );
    }

    #[test]
    fn catches_two_swapped_records() {
        let (_tmp, dir) = run_with(9);
        let mut l = lines(&dir);
        l.swap(3, 4);
        write_lines(&dir, &l);
        assert_eq!(
            reason(&dir),
            (
                Some(4),
                "line 4: seq 4 follows seq 2: records missing or reordered".to_owned()
            )
        );
    }

    #[test]
    fn catches_a_rehashed_edit_through_the_chain() {
        // Someone edits line 3 and recomputes its hash: line 4's prev no longer matches.
        let (_tmp, dir) = run_with(5);
        let mut l = lines(&dir);
        let records = read(&dir).expect("read");
        let r = &records[2];
        let (line, _) = record::encode(
            r.seq,
            &r.time,
            &r.operator,
            &json!({"type": "host_result", "host": "forged"}),
            &r.prev,
        )
        .expect("encode");
        l[2] = line.trim_end().to_owned();
        write_lines(&dir, &l);
        let (line, reason) = reason(&dir);
        assert_eq!(line, Some(4));
        assert!(
            reason.starts_with("line 4: prev does not match the hash of line 3"),
            "{reason}"
        );
    }

    /// What a forger who can write the run directory but has no trusted key can do: rewrite
    /// the records from `from` (0-based) on, recompute the whole chain, and write a head for it
    /// signed with a key of their own (`key`), or none (`None`).
    fn forge(dir: &Path, keep: usize, from: usize, key: Option<&std::sync::Arc<OperatorKey>>) {
        let records = read(dir).expect("read");
        let mut text = String::new();
        let mut prev = if from == 0 {
            ZERO_HASH.to_owned()
        } else {
            records[from - 1].hash.clone()
        };
        for r in &records[..from] {
            text.push_str(&lines(dir)[usize::try_from(r.seq).expect("seq")]);
            text.push('\n');
        }
        for (i, r) in records[from..keep].iter().enumerate() {
            let (line, hash) = record::encode(
                r.seq,
                &r.time,
                &r.operator,
                &json!({"type": "host_result", "host": format!("forged{i}")}),
                &prev,
            )
            .expect("encode");
            text.push_str(&line);
            prev = hash;
        }
        std::fs::write(dir.join(JOURNAL_FILE), text).expect("write");
        let head = Head {
            records: keep as u64,
            hash: prev,
        };
        match key {
            Some(key) => drop(head::replace(dir, &head, key).expect("head")),
            None => std::fs::remove_file(dir.join(HEAD_FILE)).expect("rm head"),
        }
    }

    #[test]
    fn a_rewritten_journal_with_a_recomputed_head_does_not_verify() {
        let trust = Trust::for_tests();
        let forger = std::sync::Arc::new(OperatorKey::ephemeral());
        let (_tmp, dir) = run_with(6);
        let (report, whose) = verify_trusted(&dir, &trust).expect("the run's own");
        assert!(whose.starts_with("your key SHA256:"), "{whose}");
        assert_eq!(report.signer, OperatorKey::for_tests().public().to_base64());

        // Records rewritten from line 3, chain and head recomputed, head signed by the forger:
        // the chain holds, the signature is valid, but the key is not one the operator trusts.
        forge(&dir, 6, 2, Some(&forger));
        verify(&dir).expect("consistent, as far as hashes go");
        let err = verify_trusted(&dir, &trust).expect_err("forged");
        assert!(
            matches!(&err, JournalError::Untrusted { reason, .. }
                if reason.contains(&forger.public().fingerprint())),
            "{err}"
        );
        assert!(read_trusted(&dir, &trust).is_err());

        // Records cut from the end and the head rewritten to match.
        let (_tmp, dir) = run_with(6);
        forge(&dir, 4, 4, Some(&forger));
        assert!(
            verify_trusted(&dir, &trust).is_err(),
            "a cut journal verified"
        );

        // The journal emptied and its head deleted: not "ok, 0 records".
        let (_tmp, dir) = run_with(6);
        forge(&dir, 0, 0, None);
        let (_, reason) = reason(&dir);
        assert!(reason.starts_with("the head file is missing"), "{reason}");
    }

    #[test]
    fn catches_a_truncated_tail() {
        let (_tmp, dir) = run_with(12);
        let l = lines(&dir);
        write_lines(&dir, &l[..9]);
        assert_eq!(
            reason(&dir),
            (
                None,
                "truncated: head says 12 records, file has 9: records were cut from the end"
                    .to_owned()
            )
        );
    }

    #[test]
    fn catches_a_cut_mid_record() {
        let (_tmp, dir) = run_with(10);
        let text = std::fs::read(dir.join(JOURNAL_FILE)).expect("journal");
        std::fs::write(dir.join(JOURNAL_FILE), &text[..text.len() - 40]).expect("cut");
        let (line, reason) = reason(&dir);
        assert_eq!(line, Some(10));
        assert!(
            reason.starts_with("line 10: incomplete last line (the file was cut mid-record)"),
            "{reason}"
        );
    }

    #[test]
    fn head_one_behind_is_ok_with_a_note() {
        let (_tmp, dir) = run_with(4);
        let records = read(&dir).expect("read");
        head::rewind(&dir, &records, 3, &OperatorKey::for_tests());
        let report = verify(&dir).expect("verify");
        assert_eq!(report.records, 4);
        assert_eq!(report.last_hash, records[3].hash);
        assert_eq!(report.notes.len(), 1);
        assert!(
            report.notes[0].contains("not yet counted in head"),
            "{:?}",
            report.notes
        );
    }

    #[test]
    fn head_two_behind_is_corrupt() {
        let (_tmp, dir) = run_with(4);
        let records = read(&dir).expect("read");
        head::rewind(&dir, &records, 2, &OperatorKey::for_tests());
        let (line, reason) = reason(&dir);
        assert_eq!(line, Some(4));
        assert!(reason.contains("head file is stale"), "{reason}");
    }

    /// 2 single records, then a group of 4 (lines 3-6), its `head` moved back to before it as
    /// a kill between the group's fsync and the `head` update leaves it.
    fn group_not_yet_counted() -> (tempfile::TempDir, PathBuf, Vec<Record>) {
        let (tmp, dir) = run_with(2);
        let journal = Journal::open(
            tmp.path(),
            "run",
            &OperatorKey::for_tests(),
            &Trust::for_tests(),
        )
        .expect("open");
        let group: Vec<_> = (0..4)
            .map(|i| json!({"type": "host_result", "i": i}))
            .collect();
        journal.append_batch(&group).expect("batch");
        drop(journal);
        let records = read(&dir).expect("read");
        head::rewind(&dir, &records, 2, &OperatorKey::for_tests());
        (tmp, dir, records)
    }

    #[test]
    fn a_group_cut_short_by_a_kill_is_ok_with_a_note() {
        let (_tmp, dir, records) = group_not_yet_counted();
        let report = verify(&dir).expect("whole group past head");
        assert_eq!((report.records, report.notes.len()), (6, 1));
        assert!(
            report.notes[0].starts_with("lines 3-6: the last records, written together"),
            "{:?}",
            report.notes
        );
        // Any prefix of the group, with or without a torn line after it.
        let l = lines(&dir);
        write_lines(&dir, &l[..4]);
        assert_eq!(verify(&dir).expect("two of the group").records, 4);
        let mut text = std::fs::read(dir.join(JOURNAL_FILE)).expect("journal");
        text.extend_from_slice(&l[4].as_bytes()[..50]);
        std::fs::write(dir.join(JOURNAL_FILE), &text).expect("write");
        let report = verify(&dir).expect("two of the group and a torn third");
        assert_eq!(report.records, 4);
        assert!(
            report.notes[1].starts_with("line 5: incomplete last line ignored"),
            "{:?}",
            report.notes
        );
        assert_eq!(records[2].batch, Some(4));
    }

    #[test]
    fn records_past_the_uncounted_group_are_corrupt() {
        let (_tmp, dir, records) = group_not_yet_counted();
        // A record added after the group, whose head never counted it.
        let mut l = lines(&dir);
        let last = &records[5];
        let (line, _) =
            record::encode(6, &last.time, &last.operator, &json!({}), &last.hash).expect("encode");
        l.push(line.trim_end().to_owned());
        write_lines(&dir, &l);
        let (line, why) = reason(&dir);
        assert_eq!(line, Some(4));
        assert!(why.contains("head file is stale"), "{why}");
        // A torn line after the whole group cannot be part of it.
        let mut l = lines(&dir);
        l.pop();
        write_lines(&dir, &l);
        let mut text = std::fs::read(dir.join(JOURNAL_FILE)).expect("journal");
        text.extend_from_slice(b"{\"v\":1,\"seq\":6,");
        std::fs::write(dir.join(JOURNAL_FILE), &text).expect("write");
        let (line, why) = reason(&dir);
        assert_eq!(line, Some(7));
        assert!(why.contains("after a record head does not count"), "{why}");
        // Head two appends behind (before the single record 2): the group does not start
        // right after it.
        write_lines(&dir, &l);
        head::rewind(&dir, &records, 1, &OperatorKey::for_tests());
        let (_, why) = reason(&dir);
        assert!(why.contains("head file is stale"), "{why}");
    }

    #[test]
    fn a_batch_marker_below_two_is_corrupt() {
        let (_tmp, dir) = run_with(2);
        let mut l = lines(&dir);
        let records = read(&dir).expect("read");
        let r = &records[1];
        let (line, _) =
            record::encode_in_batch(r.seq, &r.time, &r.operator, &r.event, &r.prev, Some(1))
                .expect("encode");
        l[1] = line.trim_end().to_owned();
        write_lines(&dir, &l);
        let (line, reason) = reason(&dir);
        assert_eq!(line, Some(2));
        assert!(reason.contains("batch 1 is not a group size"), "{reason}");
    }

    #[test]
    fn torn_unacknowledged_last_line_is_ok_with_a_note() {
        let (_tmp, dir) = run_with(3);
        let mut text = std::fs::read(dir.join(JOURNAL_FILE)).expect("journal");
        text.extend_from_slice(b"{\"v\":1,\"seq\":3,\"time\":\"2026");
        std::fs::write(dir.join(JOURNAL_FILE), &text).expect("write");
        let report = verify(&dir).expect("verify");
        assert_eq!(report.records, 3);
        assert!(report.notes[0].starts_with("line 4: incomplete last line ignored"));
        assert_eq!(read(&dir).expect("read").len(), 3);
    }

    #[test]
    fn replaced_last_record_differs_from_head() {
        let (_tmp, dir) = run_with(3);
        let mut l = lines(&dir);
        let records = read(&dir).expect("read");
        let r = &records[2];
        let (line, _) =
            record::encode(r.seq, &r.time, &r.operator, &json!({}), &r.prev).expect("encode");
        l[2] = line.trim_end().to_owned();
        write_lines(&dir, &l);
        let (line, reason) = reason(&dir);
        assert_eq!(line, Some(3));
        assert!(
            reason.contains("differs from the one head recorded"),
            "{reason}"
        );
    }

    #[test]
    fn deleted_head_is_corrupt() {
        let (_tmp, dir) = run_with(3);
        std::fs::remove_file(dir.join(HEAD_FILE)).expect("rm");
        let (line, reason) = reason(&dir);
        assert_eq!(line, None);
        assert!(reason.contains("head file is missing"), "{reason}");
    }

    #[test]
    fn missing_run_is_not_found() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let err = verify(&tmp.path().join("nope")).expect_err("missing");
        assert!(
            matches!(err, JournalError::NotFound { ref run, .. } if run == "nope"),
            "{err}"
        );
    }
}
