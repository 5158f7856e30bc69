//! The run journal: one directory per run holding `journal.jsonl`, a versioned, hash-chained
//! (SHA-256) JSON-lines log, appended and fsynced before the engine acts on a record (one record,
//! or a group of host results that arrived together: group commit) so that a run killed at any
//! instant leaves a journal that `verify`, `resume` and `undo` can trust.
//!
//! It stores events; it does not interpret them (the engine defines what an event means). It
//! stores exactly what it is given, for good: the engine must never pass a secret (a token, a
//! password, a private key, a kubeconfig) inside an event.
//!
//! On disk, `<root>/<run-id>/` (mode 0700) holds:
//! - `journal.jsonl`: one record per line, `{"v":1,"seq":N,"time":"<RFC 3339, UTC, µs>",
//!   "operator":"user@host","event":{..},"prev":"<hash of record N-1, or 64 zeros>","hash":"<hex>"}`;
//!   the first record of a group of K > 1 appended together also has `"batch":K` after `prev`.
//!   `hash` is the SHA-256 of the line's exact bytes up to (not including) `,"hash":"`, followed
//!   by `}`; that is, of the record serialized without `hash`. Verification never re-serializes.
//! - `head`: how many records the journal held after the last append and the last one's hash,
//!   so that whole records cut from the end are noticed (a hash chain alone cannot see that),
//!   signed with the operator's Ed25519 journal key (`key.rs`), so that a rewritten journal and
//!   head no longer verify; a missing head is a failure, not an empty run.
//!   Two 512-byte slots, each a space-padded JSON line
//!   `{"records":N,"hash":"<hash of record N-1, or 64 zeros>","key":"<base64>","sig":"<base64>",
//!   "check":"<16 hex>"}`, updated in
//!   place alternately; the newer valid slot counts (see `head.rs` for why not rename).
//! - `lock`: held with an exclusive `flock` by the one process appending to the run.
//!
//! Public surface:
//! - `Journal::create(root, run_id, key)`, `Journal::open(root, run_id, key, trust)` (refuses a
//!   run others could have written, `perms.rs`, or one signed by a key not trusted),
//!   `Journal::append(&event)`, `Journal::append_batch(&events)`, `Journal::exit_now(code)`
//! - `verify(dir) -> VerifyReport`, `read(dir) -> Vec<Record>`, their `_trusted` forms that also
//!   check the signer, `list(root) -> Vec<RunInfo>`
//! - `OperatorKey`, `Trust`, `default_key_path()`, `root_warning(root)`
//! - `default_root()`, `new_run_id()`, `operator()`

mod error;
mod head;
mod key;
mod list;
mod perms;
mod record;
mod store;
mod verify;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::SystemTime;

pub use error::JournalError;
pub use key::{OperatorKey, PublicKey, Trust, default_key_path, operator_key};
pub use list::{RunInfo, RunStatus, list};
pub use perms::root_warning;
pub use record::Record;
pub use store::{Journal, run_dir};
pub use verify::{VerifyReport, read, read_trusted, verify, verify_trusted};

/// The records file inside a run directory.
const JOURNAL_FILE: &str = "journal.jsonl";
/// The sidecar recording how many records the journal must have at least.
const HEAD_FILE: &str = "head";
/// Written, synced, then renamed over `head`.
const HEAD_TMP_FILE: &str = "head.tmp";
/// Held locked (`flock`) by the process appending to the run.
const LOCK_FILE: &str = "lock";

/// Where runs are journaled when `--journal-dir` is not given: `$XDG_STATE_HOME/breakglass/runs`,
/// else `$HOME/.local/state/breakglass/runs`, else `.breakglass/runs` under the current directory.
pub fn default_root() -> PathBuf {
    root_from(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"))
}

fn root_from(xdg_state_home: Option<OsString>, home: Option<OsString>) -> PathBuf {
    // The XDG base directory spec says relative values must be ignored.
    let absolute = |v: Option<OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(state) = absolute(xdg_state_home) {
        state.join("breakglass").join("runs")
    } else if let Some(home) = absolute(home) {
        home.join(".local/state/breakglass/runs")
    } else {
        PathBuf::from(".breakglass/runs")
    }
}

/// A fresh run id: the UTC start time to the second and 24 random bits, e.g.
/// `20261125T115801Z-3f9a1c`. Ids sort by start time; the random part keeps two runs started in
/// the same second apart (`Journal::create` still refuses an id that exists).
pub fn new_run_id() -> String {
    let stamp: String = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    format!("{stamp}-{:06x}", fastrand::u32(..1 << 24))
}

/// Who is running breakglass, as `user@host`, stamped on every record. Read from `$USER` (or
/// `$LOGNAME`) and the kernel's hostname; never fails, so a bare container still gets a journal.
pub fn operator() -> String {
    let user = ["USER", "LOGNAME"]
        .into_iter()
        .filter_map(std::env::var_os)
        .map(|v| v.to_string_lossy().trim().to_owned())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    let host = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|s| s.lines().next().map(|l| l.trim().to_owned()))
        .find(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned());
    format!("{user}@{host}")
}

/// The current time as stamped on records: RFC 3339, UTC, microseconds.
fn now() -> String {
    humantime::format_rfc3339_micros(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_prefers_absolute_xdg_state_home() {
        assert_eq!(
            root_from(Some("/s".into()), Some("/h".into())),
            PathBuf::from("/s/breakglass/runs")
        );
        assert_eq!(
            root_from(Some("rel".into()), Some("/h".into())),
            PathBuf::from("/h/.local/state/breakglass/runs")
        );
        assert_eq!(root_from(None, None), PathBuf::from(".breakglass/runs"));
    }

    #[test]
    fn run_ids_are_sortable_and_distinct() {
        let a = new_run_id();
        let b = new_run_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), "20261125T115801Z-3f9a1c".len());
        assert_eq!(&a[8..9], "T");
        assert_eq!(&a[15..17], "Z-");
        assert!(a[..8].bytes().all(|c| c.is_ascii_digit()));
        assert!(a[17..].bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn operator_is_user_at_host() {
        let op = operator();
        let (user, host) = op.split_once('@').expect("user@host");
        assert!(!user.is_empty() && !host.is_empty());
    }

    #[test]
    fn time_is_utc_with_microseconds() {
        let t = now();
        assert_eq!(t.len(), "2026-11-25T11:58:01.123456Z".len());
        assert!(t.ends_with('Z'));
    }
}
