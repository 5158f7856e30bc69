//! Locks under `/run/breakglass-lab`: [`GlobalLock`] serializes subnet choice, namespace
//! creation and stale cleanup between the labs of all processes, and [`FileLock`] is the
//! `flock(2)` the Python stand-ins take too. Dropping a lock releases it.
//!
//! What a lock protects is for its callers to say ("called under the global lock").

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::Context;

use super::STATE_ROOT;

/// `flock` on /run/breakglass-lab/lock, shared by every lab of every process.
pub(super) struct GlobalLock {
    _held: FileLock,
}

impl GlobalLock {
    pub(super) fn acquire() -> anyhow::Result<GlobalLock> {
        create_private_dir(Path::new(STATE_ROOT))?;
        Ok(GlobalLock {
            _held: FileLock::acquire(&Path::new(STATE_ROOT).join("lock"))?,
        })
    }
}

/// An exclusive `flock(2)` (std's `File::lock`), released when dropped (the file is closed).
/// The same lock the Python stand-ins take with `fcntl.flock`.
pub(super) struct FileLock {
    _file: fs::File,
}

impl FileLock {
    pub(super) fn acquire(path: &Path) -> anyhow::Result<FileLock> {
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        file.lock()
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(FileLock { _file: file })
    }
}

pub(super) fn create_private_dir(path: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    // Keys (the CA's, the client's) live here.
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("setting the mode of {}", path.display()))
}
