//! `JournalError`: what went wrong with a run's journal, typed so that commands can branch on it
//! (every variant ends the process with exit code 4, "journal conflict or corruption"), and
//! worded so that the operator knows what to do next.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A read, write, fsync or rename failed. After a failed `append` the record may or may not
    /// be on disk: the caller must not make the change it was about to journal.
    #[error("journal I/O failed on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The journal does not verify. `line` is 1-based when one line is to blame; `reason` starts
    /// with `line N:` in that case.
    #[error(
        "journal {path} failed verification: {reason}. Keep the run directory as evidence: \
         `resume` and `undo` refuse a journal they cannot trust, so finish or revert this run by \
         hand"
    )]
    Corrupt {
        path: PathBuf,
        line: Option<u64>,
        reason: String,
    },

    /// Another process holds the run's lock file.
    #[error(
        "run {run} is in use by another breakglass process (its journal is locked); wait for it \
         to finish or stop it, then retry"
    )]
    Locked { run: String },

    /// `create` found a run directory with this id already.
    #[error("run {run} already exists; start a new run, or `resume {run}` to continue it")]
    Exists { run: String },

    /// `open` or `verify` found no such run.
    #[error(
        "no run {run} under {root}; check the run id, and `--journal-dir` if the run was \
         journaled elsewhere"
    )]
    NotFound { run: String, root: PathBuf },

    /// The operator's journal key (or the list of trusted keys) cannot be used.
    #[error("journal key {path}: {reason}")]
    Key { path: PathBuf, reason: String },

    /// The run verifies, but its head is signed by a key the operator does not trust.
    #[error(
        "run {run} cannot be trusted: {reason}. `resume`, `undo` and `confirm` act only on runs \
         signed by a trusted key"
    )]
    Untrusted { run: String, reason: String },

    /// A journal or run directory (or a file in it) that someone other than the operator (or
    /// root) owns or can write: they could have replaced the run.
    #[error(
        "refusing {path}: {reason}. Anyone who can write there can replace a run and have \
         `resume`, `undo` or `confirm` act on it"
    )]
    Unsafe { path: PathBuf, reason: String },

    /// The run id would not name one directory directly under the root.
    #[error(
        "invalid run id {run:?}: a run id is one file name (no `/`, not starting with `.`), \
         e.g. 20261125T115801Z-3f9a1c"
    )]
    InvalidRunId { run: String },
}

/// `map_err` helper that attaches the path an I/O error happened on.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> JournalError {
    let path = path.into();
    move |source| JournalError::Io { path, source }
}
