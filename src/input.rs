//! Reading the files an operator points breakglass at (inventory, `known_hosts`, runbooks):
//! regular files only, and bounded in size (issue #11, point 14).
//!
//! `std::fs::read` on a FIFO blocks until a writer comes, and on `/dev/zero` or a huge file reads
//! until memory runs out: at 3 a.m. a wrong path must be a clear error, not a hang. The file is
//! opened without blocking (`O_NONBLOCK`, which a FIFO would otherwise wait on), checked with
//! `fstat` on that same descriptor (no window between check and read), and read no further than
//! the limit even if it grows meanwhile.
//!
//! Leaf module: it knows nothing of the formats; callers name the file and the limit.

use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The bytes of the regular file at `path`, at most `limit` of them. A missing file keeps
/// [`io::ErrorKind::NotFound`] (callers may treat it as empty); a file that is not regular or is
/// larger than `limit` is an [`io::ErrorKind::InvalidInput`] error saying which.
pub fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO (named pipe)"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is {what}; expected a regular file"),
        ));
    }
    let too_big = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is larger than the limit of {limit} bytes; expected a smaller file"),
        )
    };
    if meta.len() > limit {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // One byte past the limit, so a file that grew since `fstat` is noticed.
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_big());
    }
    Ok(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;

    #[test]
    fn regular_files_within_the_limit_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"hello").unwrap();
        assert_eq!(read_bounded(&file, 5).unwrap(), b"hello");
        let e = read_bounded(&file, 4).unwrap_err();
        assert!(
            e.to_string().contains("larger than the limit of 4 bytes"),
            "{e}"
        );
        let e = read_bounded(dir.path(), 100).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
        let e = read_bounded(Path::new("/dev/zero"), 100).unwrap_err();
        assert!(e.to_string().contains("a character device"), "{e}");
        let missing = read_bounded(&dir.path().join("missing"), 100).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let e = read_bounded(&fifo, 100).unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
    }
}
