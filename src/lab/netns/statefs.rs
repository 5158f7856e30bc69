//! The lab's state directory (`/run/breakglass-lab/ID`, every node's `/run`, `/tmp` and
//! Kubernetes files) is a tmpfs of its own, as `/run` is on a real node. The nodes' stand-ins
//! rewrite small state files every second (the kubelet's watch and `DaemonSet` state, the
//! agents' counters); on a host whose `/run` is on disk (a container, a CI runner) a thousand
//! nodes' writes kept a core of this machine busy in ext4's journal writeback.
//!
//! Mounted at build under the global lock, unmounted (lazily: a node's leftover open file
//! cannot keep it) before the directory is removed, by teardown and by the stale-lab cleanup.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::Context;

use super::tools::{Tools, run};

/// Mounts a fresh tmpfs (mode 0700, no devices, no setuid) on `dir`, an empty directory.
pub(super) fn mount_state(tools: &Tools, dir: &Path) -> anyhow::Result<()> {
    run(Command::new(&tools.mount)
        .args([
            "-t",
            "tmpfs",
            "-o",
            "mode=0700,nosuid,nodev",
            "breakglass-lab",
        ])
        .arg(dir))
    .with_context(|| format!("mounting a tmpfs on {}", dir.display()))?;
    Ok(())
}

/// Unmounts every mount at or under `dir` (deepest first), if any. Errors are reported, not
/// fatal to the caller's cleanup.
pub(super) fn unmount_state(tools: &Tools, dir: &Path) -> anyhow::Result<()> {
    let mut mounted = mounts_under(dir);
    mounted.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for target in mounted {
        run(Command::new(&tools.umount).arg("-l").arg(&target))
            .with_context(|| format!("unmounting {target}"))?;
    }
    Ok(())
}

/// The mount points at or under `dir` in this process's mount namespace.
pub(super) fn mounts_under(dir: &Path) -> Vec<String> {
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let dir = dir.to_string_lossy();
    text.lines()
        // proc(5): the fifth field is the mount point, with space, tab, newline and
        // backslash escaped in octal; the lab's paths have none of them.
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|target| {
            target
                .strip_prefix(dir.as_ref())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .map(str::to_owned)
        .collect()
}
