//! The `head` sidecar: how many records the journal held after the last append, and the last
//! one's hash.
//!
//! A hash chain proves each record follows the previous one, but cannot notice the last whole
//! records being cut off; `head` remembers how far the journal got, so verification can.
//!
//! It is updated after every append, so it must be cheap. Replacing it by rename (temp file,
//! fsync, rename, fsync the directory) cost 12 ms per append on our test VM, three times the
//! record's own fsync. Instead the file holds two copies ("slots") 512 bytes apart, each with a
//! checksum, and an update overwrites the older slot in place and `fdatasync`s it (3 ms). This
//! is the scheme of LMDB's two meta pages; like Postgres's `pg_control`
//! (`PG_CONTROL_MAX_SAFE_SIZE`), it relies on a write within one 512-byte sector not being torn.
//! A slot torn anyway (a power cut, or a reader racing the writer) fails its checksum and the
//! other, one append older, is used; verification accepts `head` one append (one group of
//! records, see `record.rs`) behind. Updates alternate between the slots, so the other slot always
//! holds the previous update. Each slot is a JSON line padded with spaces:
//! `{"records":N,"hash":"<hash of record N-1, or 64 zeros>","check":"<16 hex>"}`.
//!
//! The update happens after the record is durable, so `head` never runs ahead of the journal.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{JournalError, io};
use super::record::ZERO_HASH;
use super::{HEAD_FILE, HEAD_TMP_FILE};

/// Bytes per slot: one disk sector, so that overwriting a slot never tears it.
const SLOT: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    /// How many records the journal held when `head` was written.
    pub records: u64,
    /// The hash of the last of them, or 64 zeros when there are none.
    pub hash: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Slot {
    records: u64,
    hash: String,
    /// Catches a slot that mixes two updates.
    check: String,
}

impl Head {
    pub(crate) fn empty() -> Head {
        Head {
            records: 0,
            hash: ZERO_HASH.to_owned(),
        }
    }
}

/// Tests: points `dir`'s head at the first `n` (at least 1) of `records`, as a crash between a
/// journal write and its head update leaves it.
#[cfg(test)]
pub(crate) fn rewind(dir: &Path, records: &[super::record::Record], n: usize) {
    let head = Head {
        records: u64::try_from(n).expect("count"),
        hash: records[n - 1].hash.clone(),
    };
    replace(dir, &head).expect("head");
}

/// Reads `<dir>/head`: the newer valid slot, `None` when the file does not exist.
pub(crate) fn read(dir: &Path) -> Result<Option<Head>, JournalError> {
    let path = dir.join(HEAD_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    [bytes.get(..SLOT), bytes.get(SLOT..2 * SLOT)]
        .into_iter()
        .filter_map(|slot| slot.and_then(parse_slot))
        .max_by_key(|head| head.records)
        .map(Some)
        .ok_or_else(|| JournalError::Corrupt {
            path,
            line: None,
            reason: "the head file is damaged: neither of its two copies is valid".to_owned(),
        })
}

/// `<dir>/head` open for updates, remembering which slot the next update overwrites.
#[derive(Debug)]
pub(crate) struct HeadFile {
    file: File,
    /// 0 or 1: the slot holding the older of the two heads.
    next: u64,
}

/// Writes a whole new `<dir>/head` with both slots set to `head`, atomically (temp file, fsync,
/// rename, fsync `dir`), and returns it open for `update`. Used when a run is created, and to
/// restore a missing head.
pub(crate) fn replace(dir: &Path, head: &Head) -> Result<HeadFile, JournalError> {
    let tmp = dir.join(HEAD_TMP_FILE);
    let path = dir.join(HEAD_FILE);
    let slot = encode_slot(head);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    file.write_all(&slot)
        .and_then(|()| file.write_all(&slot))
        .and_then(|()| file.sync_data())
        .map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(HeadFile { file, next: 0 })
}

/// Opens `<dir>/head` for `update`; the next update overwrites the older (or damaged) slot.
pub(crate) fn open(dir: &Path) -> Result<HeadFile, JournalError> {
    let path = dir.join(HEAD_FILE);
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let records = |slot: Option<&[u8]>| slot.and_then(parse_slot).map(|h| h.records);
    let next = match (
        records(bytes.get(..SLOT)),
        records(bytes.get(SLOT..2 * SLOT)),
    ) {
        (Some(a), Some(b)) if a > b => 1,
        (Some(_), None) => 1,
        _ => 0,
    };
    let file = OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(io(&path))?;
    Ok(HeadFile { file, next })
}

/// Records `head` durably, overwriting the slot that holds the older of the two previous heads.
pub(crate) fn update(
    head_file: &mut HeadFile,
    dir: &Path,
    head: &Head,
) -> Result<(), JournalError> {
    let offset = head_file.next * SLOT as u64;
    head_file
        .file
        .write_all_at(&encode_slot(head), offset)
        .and_then(|()| head_file.file.sync_data())
        .map_err(io(dir.join(HEAD_FILE)))?;
    head_file.next = 1 - head_file.next;
    Ok(())
}

fn encode_slot(head: &Head) -> Vec<u8> {
    let slot = Slot {
        records: head.records,
        hash: head.hash.clone(),
        check: check(head.records, &head.hash),
    };
    // Serializing integers and strings cannot fail.
    let mut bytes = serde_json::to_vec(&slot).unwrap_or_default();
    bytes.resize(SLOT - 1, b' ');
    bytes.push(b'\n');
    bytes
}

fn parse_slot(bytes: &[u8]) -> Option<Head> {
    let text = std::str::from_utf8(bytes).ok()?;
    let slot: Slot = serde_json::from_str(text.trim_end()).ok()?;
    (slot.check == check(slot.records, &slot.hash)).then_some(Head {
        records: slot.records,
        hash: slot.hash,
    })
}

fn check(records: u64, hash: &str) -> String {
    let digest = Sha256::digest(format!("{records}:{hash}").as_bytes());
    hex::encode(&digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(records: u64) -> Head {
        Head {
            records,
            hash: format!("{records:064x}"),
        }
    }

    #[test]
    fn replace_update_read() {
        let tmp = tempfile::tempdir().expect("tempdir");
        assert_eq!(read(tmp.path()).expect("read"), None);
        let mut file = replace(tmp.path(), &Head::empty()).expect("replace");
        assert_eq!(read(tmp.path()).expect("read"), Some(Head::empty()));
        // Group appends move `head` by more than one; the slots still alternate.
        for n in [1, 3, 5, 6, 8] {
            update(&mut file, tmp.path(), &head(n)).expect("update");
            assert_eq!(read(tmp.path()).expect("read"), Some(head(n)));
        }
        let text = std::fs::read_to_string(tmp.path().join(HEAD_FILE)).expect("text");
        assert_eq!(text.len(), 2 * SLOT);
        assert!(text.starts_with("{\"records\":8,"), "{text}");
        assert!(text[SLOT..].starts_with("{\"records\":6,"), "{text}");
        // Reopened, the next update overwrites the older slot (6), keeping 8.
        let mut file = open(tmp.path()).expect("open");
        update(&mut file, tmp.path(), &head(11)).expect("update");
        let text = std::fs::read_to_string(tmp.path().join(HEAD_FILE)).expect("text");
        assert!(text.starts_with("{\"records\":8,"), "{text}");
        assert!(text[SLOT..].starts_with("{\"records\":11,"), "{text}");
        assert!(!tmp.path().join(HEAD_TMP_FILE).exists());
    }

    #[test]
    fn a_torn_slot_falls_back_to_the_other() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut file = replace(tmp.path(), &Head::empty()).expect("replace");
        update(&mut file, tmp.path(), &head(1)).expect("update");
        update(&mut file, tmp.path(), &head(2)).expect("update");
        // Half of the newer slot (1) from a later update: parses, but the check fails.
        let later = encode_slot(&head(4));
        file.file
            .write_all_at(&later[..30], SLOT as u64)
            .expect("tear");
        assert_eq!(read(tmp.path()).expect("read"), Some(head(1)));
        file.file.write_all_at(b"garbage", 0).expect("tear");
        let err = read(tmp.path()).expect_err("both damaged");
        assert!(matches!(err, JournalError::Corrupt { .. }), "{err}");
    }
}
