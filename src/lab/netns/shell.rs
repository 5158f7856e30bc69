//! Running programs inside a node: [`Lab::node_command`] (nsenter into the node's namespaces,
//! with the environment sshd gives root) and [`Lab::sh`], and the bounded runner they share:
//! output captured, the process group killed at its time limit.
//!
//! This is how tests look into a node, not how breakglass reaches one: breakglass only ever
//! uses SSH.

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::tools::{Tools, kill};
use super::{Lab, NODE_PATH, lock};

/// `lab.sh` gives up (and kills the command) after this long.
const SH_TIMEOUT: Duration = Duration::from_secs(120);

impl Lab {
    /// A command that runs `program` inside the node's network, mount, UTS and PID namespaces
    /// with a node's environment (root's PATH as sshd sets it, stand-ins first). `node` may
    /// also name a pod network ([`Lab::add_pod_network`]): its node's namespaces then, but the
    /// pod's network.
    pub fn node_command(&self, node: &str, program: impl AsRef<OsStr>) -> anyhow::Result<Command> {
        let pod = self.pod_network(node);
        let node = self.node_or_err(pod.map_or(node, |p| p.node.as_str()))?;
        let Some(init) = node.init_pid() else {
            anyhow::bail!(
                "node {} is stopped (its node group was scaled in)",
                node.name
            );
        };
        let mut cmd = Command::new(&self.tools.nsenter);
        cmd.arg("-t").arg(init.to_string());
        match pod {
            // nsenter opens every namespace file before it enters any, so the host's
            // /run/netns path is the one opened.
            Some(pod) => cmd.arg(format!("--net={}", pod.netns_path().display())),
            None => cmd.arg("-n"),
        };
        cmd.args(["-m", "-u", "-p", "--"])
            .arg(program)
            .env_clear()
            .envs(node_env())
            .current_dir("/")
            .stdin(Stdio::null());
        Ok(cmd)
    }

    /// Runs `sh -c script` on the node (its namespaces, as root) and returns its output. A
    /// non-zero exit is not an error; failing to run it, or running over two minutes, is.
    pub fn sh(&self, node: &str, script: &str) -> anyhow::Result<Output> {
        let mut cmd = self.node_command(node, "/bin/sh")?;
        cmd.arg("-c").arg(script);
        output_within(&mut cmd, SH_TIMEOUT, &self.tools)
            .with_context(|| format!("running a script on lab node {node}"))
    }
}

/// The environment of a process on a node: what sshd gives a root session, stand-ins first.
pub(super) fn node_env() -> [(&'static str, &'static str); 3] {
    [("PATH", NODE_PATH), ("HOME", "/root"), ("LANG", "C.UTF-8")]
}

/// Runs `cmd` in its own process group with output captured; kills the group at `limit`.
/// Output that a leftover background process keeps open is cut off shortly after `cmd` exits.
pub(super) fn output_within(
    cmd: &mut Command,
    limit: Duration,
    tools: &Tools,
) -> anyhow::Result<Output> {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("running {}", cmd.get_program().display()))?;
    let stdout = collect(child.stdout.take());
    let stderr = collect(child.stderr.take());
    let deadline = Instant::now() + limit;
    let status: ExitStatus = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            // The leader is not reaped yet, so the group id is still ours.
            kill(tools, &[format!("-{}", child.id())]);
            let _ = child.wait();
            bail!(
                "{} did not finish within {limit:?}",
                cmd.get_program().display()
            );
        }
        thread::sleep(Duration::from_millis(5));
    };
    let grace = Instant::now() + Duration::from_secs(1);
    Ok(Output {
        status,
        stdout: stdout.finish(grace),
        stderr: stderr.finish(grace),
    })
}

/// A pipe drained by a thread into a shared buffer.
struct Collected {
    buf: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
}

impl Collected {
    fn finish(self, grace: Instant) -> Vec<u8> {
        let _ = self
            .done
            .recv_timeout(grace.saturating_duration_since(Instant::now()));
        std::mem::take(&mut *lock(&self.buf))
    }
}

fn collect(pipe: Option<impl Read + Send + 'static>) -> Collected {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let (tx, done) = mpsc::channel();
    let shared = Arc::clone(&buf);
    thread::spawn(move || {
        if let Some(mut pipe) = pipe {
            let mut chunk = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                lock(&shared).extend_from_slice(&chunk[..n]);
            }
        }
        let _ = tx.send(());
    });
    Collected { buf, done }
}
