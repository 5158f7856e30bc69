//! Bind-mount targets on the host: a missing `/etc/kubernetes` or `/var/lib/breakglass` is
//! created empty for the nodes' mounts and recorded under `/run/breakglass-lab/mountpoints/`;
//! when no live lab remains it is removed again, only if still empty.
//!
//! A directory that already existed is never modified, and all of this runs under the global
//! lock (`lock.rs`).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::STATE_ROOT;
use super::owner::live_labs;

fn mountpoint_markers() -> PathBuf {
    Path::new(STATE_ROOT).join("mountpoints")
}

/// Creates a missing bind-mount target on the host and records that the lab created it.
/// Called under the global lock.
pub(super) fn prepare_mountpoint(target: &Path) -> anyhow::Result<()> {
    if target.exists() {
        return Ok(());
    }
    fs::create_dir_all(mountpoint_markers())?;
    fs::create_dir_all(target).with_context(|| {
        format!(
            "creating {} (an empty mountpoint for lab nodes)",
            target.display()
        )
    })?;
    let marker = mountpoint_markers().join(target.to_string_lossy().replace('/', "_"));
    fs::write(&marker, target.to_string_lossy().as_bytes())
        .with_context(|| format!("writing {}", marker.display()))
}

/// When no live lab remains, removes the mountpoints labs created, if still empty. Called
/// under the global lock.
pub(super) fn release_mountpoints() {
    if !live_labs().is_empty() {
        return;
    }
    let Ok(entries) = fs::read_dir(mountpoint_markers()) else {
        return;
    };
    for entry in entries.flatten() {
        if let Ok(target) = fs::read_to_string(entry.path()) {
            // remove_dir fails on a non-empty directory: then it holds someone's files now,
            // and stays.
            let _ = fs::remove_dir(&target);
        }
        let _ = fs::remove_file(entry.path());
    }
}
