//! Exit codes and the typed errors the top level branches on.
//!
//! The exit code is the contract with runbook automation (`--output json --yes`), so it is
//! decided in one place. See ARCHITECTURE.md, "Exit codes".

use crate::journal::JournalError;

/// The process exit codes, stable across releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every target succeeded.
    Success = 0,
    /// At least one target failed (non-zero exit, unreachable, refused, timed out).
    TargetsFailed = 1,
    /// Usage error, or an invalid runbook, inventory or selector.
    Usage = 2,
    /// Stopped by policy: a failure budget was exceeded or a gate did not pass.
    Policy = 3,
    /// The journal is corrupt, truncated, or another run holds it.
    Journal = 4,
    /// Interrupted by the operator (SIGINT).
    Interrupted = 130,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// An error that carries the exit code it must end the process with. Anything else that reaches
/// the top level is a usage/input problem unless it downcasts to one of these.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExitError {
    pub exit: Exit,
    pub message: String,
    /// What caused it, kept typed so the cause chain reaches the top (`caused by: ...`).
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl ExitError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            source: None,
        }
    }

    /// An error with its cause: `message` says what failed, `source` why.
    pub fn caused(
        exit: Exit,
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            exit,
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

/// 1-based line and column (in characters) of byte offset `pos` in `text`, for diagnostics.
pub fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(text.len());
    let before = text.get(..pos).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before
        .get(line_start..)
        .map_or(1, |s| s.chars().count() + 1);
    (line, col)
}

/// The exit code an error that reached the top level ends the process with, decided here and
/// nowhere else: the code an [`ExitError`] carries; for a [`JournalError`] (kept typed with its
/// cause chain on the way up) the code of [`journal_exit`]; else 2 (bad input is by far the most
/// common cause).
pub fn exit_of(err: &anyhow::Error) -> Exit {
    err.chain()
        .find_map(|e| {
            e.downcast_ref::<ExitError>()
                .map(|x| x.exit)
                .or_else(|| e.downcast_ref::<JournalError>().map(journal_exit))
        })
        .unwrap_or(Exit::Usage)
}

/// One code per kind of journal error, whichever verb meets it (issue #11, point 17): a run id
/// that is malformed or names no run is the operator's typo, 2, like any usage error; a journal
/// that cannot be read, written, trusted or locked is 4.
pub fn journal_exit(err: &JournalError) -> Exit {
    match err {
        JournalError::InvalidRunId { .. } | JournalError::NotFound { .. } => Exit::Usage,
        JournalError::Io { .. }
        | JournalError::Corrupt { .. }
        | JournalError::Locked { .. }
        | JournalError::Exists { .. }
        | JournalError::Key { .. }
        | JournalError::Untrusted { .. }
        | JournalError::Unsafe { .. } => Exit::Journal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_error_anywhere_in_the_chain_exits_4() {
        let e =
            anyhow::Error::new(JournalError::Locked { run: "r".into() }).context("resuming run r");
        assert_eq!(exit_of(&e), Exit::Journal);
        assert_eq!(
            exit_of(&anyhow::Error::new(ExitError::new(Exit::Policy, "gate"))),
            Exit::Policy
        );
        assert_eq!(exit_of(&anyhow::anyhow!("bad input")), Exit::Usage);
        let io = JournalError::Io {
            path: "/j".into(),
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(
            exit_of(&anyhow::Error::new(io).context("run")),
            Exit::Journal
        );
    }

    #[test]
    fn a_bad_run_id_exits_2() {
        for e in [
            JournalError::InvalidRunId { run: "../x".into() },
            JournalError::NotFound {
                run: "x".into(),
                root: "/j".into(),
            },
        ] {
            assert_eq!(exit_of(&anyhow::Error::new(e).context("undo")), Exit::Usage);
        }
    }

    #[test]
    fn line_col_counts_from_one() {
        let t = "ab\ncdé\nf";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 3), (2, 1));
        assert_eq!(line_col(t, 7), (2, 4));
        assert_eq!(line_col(t, 100), (3, 2));
    }
}
