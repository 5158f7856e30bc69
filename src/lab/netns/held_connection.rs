//! [`HeldConnection`]: a TLS watch to the API server stand-in, held open by a process the lab
//! starts, so tests can see whether a firewall cuts established connections.
//!
//! Each holder runs in its own process group, registered with its lab ([`Helpers`]): teardown
//! kills it whoever still holds the handle, and a group is only killed while its leader is
//! unreaped, so its id cannot be anyone else's.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::tools::Tools;
use super::{Lab, NODE_CA, TLS_SERVER_NAME, lock};

/// A held connection is alive while its last streamed event is younger than this (the API
/// stand-in sends one per second).
const ALIVE_WINDOW: Duration = Duration::from_millis(2500);

/// Running helper processes by process group id (each the leader's PID).
pub(super) type Helpers = Arc<Mutex<BTreeMap<u32, Child>>>;

/// An established watch connection held by a process the lab started. Killed on drop (or at
/// the lab's teardown, whichever comes first).
#[derive(Debug)]
pub struct HeldConnection {
    pgid: u32,
    state: Arc<Mutex<HeldState>>,
    helpers: Helpers,
    kill: PathBuf,
}

#[derive(Debug, Clone)]
struct HeldState {
    events: u64,
    last_event: Instant,
    closed: Option<String>,
}

impl HeldConnection {
    fn start(
        stdout: Option<ChildStdout>,
        pgid: u32,
        helpers: Helpers,
        tools: &Tools,
    ) -> HeldConnection {
        let state = Arc::new(Mutex::new(HeldState {
            events: 0,
            last_event: Instant::now(),
            closed: None,
        }));
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut s = lock(&shared);
                if line == "event" {
                    s.events += 1;
                    s.last_event = Instant::now();
                } else if let Some(reason) = line.strip_prefix("closed") {
                    s.closed = Some(reason.trim().to_owned());
                }
            }
            let mut s = lock(&shared);
            if s.closed.is_none() {
                s.closed = Some("the watch client exited".to_owned());
            }
        });
        HeldConnection {
            pgid,
            state,
            helpers,
            kill: tools.kill.clone(),
        }
    }

    fn snapshot(&self) -> HeldState {
        lock(&self.state).clone()
    }

    /// True while the connection is open and the server's per-second events keep arriving.
    pub fn is_alive(&self) -> bool {
        let s = self.snapshot();
        s.closed.is_none() && s.last_event.elapsed() < ALIVE_WINDOW
    }

    /// Polls [`HeldConnection::is_alive`] until it turns false; false if still alive at `timeout`.
    pub fn wait_dead(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.is_alive() {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(50));
        }
        true
    }

    /// Events received so far.
    pub fn events(&self) -> u64 {
        self.snapshot().events
    }

    /// Why the client reported the connection closed (reset, server closed, ...), if it did.
    pub fn closed_reason(&self) -> Option<String> {
        self.snapshot().closed
    }
}

impl Drop for HeldConnection {
    fn drop(&mut self) {
        let child = lock(&self.helpers).remove(&self.pgid);
        if let Some(mut child) = child {
            stop_group(&self.kill, self.pgid, &mut child);
        }
    }
}

/// Kills a helper's process group if its leader still runs, then reaps the leader. Only ever
/// called with the leader unreaped, so `pgid` cannot belong to anyone else.
pub(super) fn stop_group(kill: &Path, pgid: u32, child: &mut Child) {
    if matches!(child.try_wait(), Ok(None)) {
        let _ = Command::new(kill)
            .args(["-s", "KILL", "--", &format!("-{pgid}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.wait();
}

impl Lab {
    /// Opens a watch (`GET /api/v1/watch/pods?watch=true` over TLS, verified with the lab CA)
    /// to the API stand-in at `to` from `from_node` (or the operator side when `None`), held
    /// by a process the lab starts. Returns once the first streamed event arrived.
    pub fn hold_connection(
        &self,
        from_node: Option<&str>,
        to: SocketAddr,
    ) -> anyhow::Result<HeldConnection> {
        let (ip, port) = (to.ip().to_string(), to.port().to_string());
        let mut cmd = if let Some(node) = from_node {
            let mut cmd = self.node_command(node, "/usr/local/bin/breakglass-lab-net")?;
            cmd.args(["watch", &ip, &port, NODE_CA, TLS_SERVER_NAME]);
            cmd
        } else {
            let mut cmd = Command::new(&self.tools.python);
            cmd.arg(self.dir.join("bin/breakglass-lab-net"))
                .args(["watch", &ip, &port])
                .arg(self.ca_cert())
                .arg(TLS_SERVER_NAME)
                .stdin(Stdio::null());
            cmd
        };
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0);
        let held = {
            // Spawn and register under the registry lock so teardown sees every live group.
            let mut helpers = lock(&self.helpers);
            let mut child = cmd.spawn().context("starting the watch client")?;
            let pgid = child.id();
            let stdout = child.stdout.take();
            helpers.insert(pgid, child);
            HeldConnection::start(stdout, pgid, Arc::clone(&self.helpers), &self.tools)
        };
        // Returns at the first event; the bound only matters on a badly overloaded machine,
        // where starting a TLS client can take many seconds.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let state = held.snapshot();
            if state.events > 0 {
                return Ok(held);
            }
            if let Some(reason) = state.closed {
                bail!(
                    "watch from {} to {to} failed: {reason}",
                    from_node.unwrap_or("the operator side")
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "watch from {} to {to}: no event within 30s",
                    from_node.unwrap_or("the operator side")
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}
