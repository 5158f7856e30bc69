//! Taking labs down: [`Lab::teardown`] (also run on drop, even while unwinding from a panic) for
//! a lab of this process, and [`Lab::cleanup_stale`] for labs whose owner died. Both kill only
//! processes the lab started or that run inside its namespaces, by PID, then delete its
//! namespaces, veths and files.
//!
//! A lab whose owner is alive (`owner.rs`) is never touched by cleanup, and nothing is killed by
//! name.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::held_connection::stop_group;
use super::lock::GlobalLock;
use super::mountpoints::release_mountpoints;
use super::network::{delete_network, is_lab_id, lab_id_of_netns, netns_inodes, processes_in};
use super::owner::owner_alive;
use super::statefs::unmount_state;
use super::tools::{Tools, kill, require_root};
use super::{IF_PREFIX, Lab, STATE_ROOT, lock};

impl Lab {
    /// Kills every process the lab started (by PID), deletes its namespaces, veths and files.
    /// Idempotent; also runs on drop.
    pub fn teardown(mut self) -> anyhow::Result<()> {
        self.teardown_inner()
    }

    fn teardown_inner(&mut self) -> anyhow::Result<()> {
        if self.torn_down {
            return Ok(());
        }
        self.torn_down = true;
        let mut problems = Vec::new();
        // moto, by PID (what is left in the cloud namespace goes with the rest below).
        drop(self.cloud.take());
        // Helpers, by process group: their leaders are not reaped yet (they are reaped only
        // here or in HeldConnection's drop, under the same lock), so the ids are still theirs.
        {
            let mut helpers = lock(&self.helpers);
            for (pgid, mut child) in std::mem::take(&mut *helpers) {
                stop_group(&self.tools.kill, pgid, &mut child);
            }
        }
        // Each node's init: when PID 1 of a PID namespace dies, the kernel kills the rest of it.
        // Killing the init (not its parent) lets unshare reap it; then we reap unshare.
        let mut inits = std::mem::take(&mut *lock(&self.inits));
        let init_pids: Vec<String> = inits
            .iter()
            .filter_map(|c| {
                let pid = c.id();
                fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()
            })
            .flat_map(|s| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        kill(&self.tools, &init_pids);
        let deadline = Instant::now() + Duration::from_secs(5);
        for child in &mut inits {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            if matches!(child.try_wait(), Ok(None)) {
                // --kill-child: unshare's death kills the init too.
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        // Anything else inside the lab's namespaces (nsenter'd helpers, a process someone
        // started with `ip netns exec`) is the lab's too.
        let inodes = netns_inodes(&self.namespaces);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = processes_in(&inodes);
            if left.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                problems.push(format!("processes still in the lab's namespaces: {left:?}"));
                break;
            }
            kill(
                &self.tools,
                &left.iter().map(u32::to_string).collect::<Vec<_>>(),
            );
            thread::sleep(Duration::from_millis(20));
        }
        if let Err(e) = delete_network(&self.tools, &self.root_veth, &self.namespaces) {
            problems.push(format!("{e:#}"));
        }
        if let Err(e) = unmount_state(&self.tools, &self.dir) {
            problems.push(format!("{e:#}"));
        }
        if let Err(e) = fs::remove_dir_all(&self.dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            problems.push(format!("removing {}: {e}", self.dir.display()));
        }
        match GlobalLock::acquire() {
            Ok(_lock) => release_mountpoints(),
            Err(e) => problems.push(format!("{e:#}")),
        }
        if problems.is_empty() {
            Ok(())
        } else {
            bail!("lab {} teardown: {}", self.id, problems.join("; "))
        }
    }

    /// Removes labs whose owner process is gone (a crashed or killed test run): kills the
    /// processes in their namespaces, deletes the namespaces, the root-side veth and the lab
    /// directory. Labs of live processes are left alone. Returns how many labs it removed.
    pub fn cleanup_stale() -> anyhow::Result<usize> {
        require_root()?;
        cleanup_stale(&Tools::find()?)
    }
}

/// [`Lab::cleanup_stale`] with the tools already found.
pub(super) fn cleanup_stale(tools: &Tools) -> anyhow::Result<usize> {
    let _lock = GlobalLock::acquire()?;
    let mut by_lab: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Ok(entries) = fs::read_dir("/run/netns") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(id) = lab_id_of_netns(&name) {
                by_lab.entry(id.to_owned()).or_default().push(name);
            }
        }
    }
    if let Ok(entries) = fs::read_dir(STATE_ROOT) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_lab_id(&name) {
                by_lab.entry(name).or_default();
            }
        }
    }
    let mut removed = 0;
    for (id, mut namespaces) in by_lab {
        let dir = Path::new(STATE_ROOT).join(&id);
        if owner_alive(&dir) {
            continue;
        }
        // The hub holds the bridge; delete it last so node legs go with their nodes.
        namespaces.sort_by_key(|n| n.ends_with("-hub"));
        let inodes = netns_inodes(&namespaces);
        for _ in 0..50 {
            let left = processes_in(&inodes);
            if left.is_empty() {
                break;
            }
            kill(tools, &left.iter().map(u32::to_string).collect::<Vec<_>>());
            thread::sleep(Duration::from_millis(20));
        }
        delete_network(tools, &format!("{IF_PREFIX}{id}"), &namespaces)?;
        unmount_state(tools, &dir)?;
        if let Err(e) = fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(e).with_context(|| format!("removing {}", dir.display()));
        }
        removed += 1;
    }
    release_mountpoints();
    Ok(removed)
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.teardown_inner();
    }
}
