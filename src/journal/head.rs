//! The `head` sidecar: `{"records":N,"hash":"<hash of record N-1, or 64 zeros>"}`.
//!
//! A hash chain proves each record follows the previous one, but cannot notice the last whole
//! records being cut off. `head` remembers how far the journal got, so verification can. It is
//! replaced atomically (write a temp file, fsync, rename, fsync the directory: the rename is only
//! durable once the directory is) after the record itself is durable, so on disk `head` never
//! runs ahead of the journal and lags it by at most the one record being appended.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{JournalError, io};
use super::record::ZERO_HASH;
use super::{HEAD_FILE, HEAD_TMP_FILE};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Head {
    /// How many records the journal held when `head` was written.
    pub records: u64,
    /// The hash of the last of them, or 64 zeros when there are none.
    pub hash: String,
}

impl Head {
    pub(crate) fn empty() -> Head {
        Head {
            records: 0,
            hash: ZERO_HASH.to_owned(),
        }
    }
}

/// Reads `<dir>/head`; `None` when it does not exist.
pub(crate) fn read(dir: &Path) -> Result<Option<Head>, JournalError> {
    let path = dir.join(HEAD_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| JournalError::Corrupt {
            path,
            line: None,
            reason: format!("the head file is damaged ({e})"),
        })
}

/// Replaces `<dir>/head` atomically and durably. `dir_handle` is the run directory, opened once by
/// the caller so that each append does not pay for opening it.
pub(crate) fn write(dir: &Path, dir_handle: &File, head: &Head) -> Result<(), JournalError> {
    let tmp = dir.join(HEAD_TMP_FILE);
    let mut text = serde_json::to_string(head).map_err(|e| io(&tmp)(e.into()))?;
    text.push('\n');
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    file.write_all(text.as_bytes()).map_err(io(&tmp))?;
    // Without this, a power cut after the rename can leave an empty `head` (delayed allocation).
    file.sync_data().map_err(io(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, dir.join(HEAD_FILE)).map_err(io(dir.join(HEAD_FILE)))?;
    dir_handle.sync_all().map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read() {
        let tmp = tempfile::tempdir().expect("tempdir");
        assert_eq!(read(tmp.path()).expect("read"), None);
        let handle = File::open(tmp.path()).expect("open dir");
        let head = Head {
            records: 12,
            hash: "ab".repeat(32),
        };
        write(tmp.path(), &handle, &Head::empty()).expect("write");
        write(tmp.path(), &handle, &head).expect("write");
        assert_eq!(read(tmp.path()).expect("read"), Some(head));
        let text = std::fs::read_to_string(tmp.path().join(HEAD_FILE)).expect("text");
        assert_eq!(
            text,
            format!("{{\"records\":12,\"hash\":\"{}\"}}\n", "ab".repeat(32))
        );
        assert!(!tmp.path().join(HEAD_TMP_FILE).exists());
    }

    #[test]
    fn damaged_head_is_corrupt() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(tmp.path().join(HEAD_FILE), "{\"records\":").expect("write");
        let err = read(tmp.path()).expect_err("damaged");
        assert!(matches!(err, JournalError::Corrupt { .. }), "{err}");
    }
}
