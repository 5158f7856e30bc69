//! One lab node: its [`Role`], what the lab reports about it ([`Node`]), and how it starts: its
//! private directories and keys, its address on `eth0`, then `standins/node-init.sh` in fresh
//! UTS, mount and PID namespaces inside its network namespace, until its sshd (and, on a control
//! plane, the API server stand-in) accepts connections from the operator address.
//!
//! Starting a node touches no other node and no host file outside the node's directory; its
//! network namespace comes from `network.rs`, and stopping it is `teardown.rs`'s job.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

use super::network::ip_batch;
use super::pods::{default_pods, new_sandbox, write_pods};
use super::shell::node_env;
use super::{API_PORT, Lab, LabSpec, NODE_STATE, PRIVATE_DIRS, copy_key, lock};
use crate::lab::sshd::SshdLab;

/// Node setup (and readiness of sshd and the API stand-in) must finish within this.
pub(super) const READY_TIMEOUT: Duration = Duration::from_secs(30);

const NODE_INIT: &str = include_str!("../standins/node-init.sh");

/// A node's role; also its `role` label in the inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    ControlPlane,
    Worker,
}

impl Role {
    /// The inventory label value: `control-plane` or `worker`.
    pub fn label(self) -> &'static str {
        match self {
            Role::ControlPlane => "control-plane",
            Role::Worker => "worker",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// One node of a lab.
#[derive(Debug, Clone)]
pub struct Node {
    /// `cp1`, `worker3`: the inventory name and the node's hostname.
    pub name: String,
    pub role: Role,
    pub address: Ipv4Addr,
    /// The pinned host key fingerprint, `SHA256:...`.
    pub host_key: String,
    /// The host public key, `ssh-ed25519 AAAA...`.
    pub host_public_key: String,
    /// The node's network namespace (`ip netns`).
    pub netns: String,
    /// Host-side directory holding what the node sees at its private paths.
    pub dir: PathBuf,
    /// Host PID of the node's init (PID 1 in the node's PID namespace); 0 while the node is
    /// stopped (its node group scaled in, `cloud.rs`). Shared by the node's clones.
    pub(super) init: Arc<AtomicU32>,
}

impl Node {
    /// `address:22`.
    pub fn ssh_addr(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(self.address), 22)
    }

    /// Host PID of the node's init, unless the node is stopped.
    pub fn init_pid(&self) -> Option<u32> {
        Some(self.init.load(Ordering::SeqCst)).filter(|p| *p != 0)
    }

    /// `address:6443` (served only on control-plane nodes).
    pub fn api_addr(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(self.address), API_PORT)
    }
}

/// One node to start: everything decided before any thread runs.
#[derive(Debug, Clone)]
pub(super) struct NodePlan {
    pub(super) index: usize,
    pub(super) name: String,
    pub(super) role: Role,
    pub(super) netns: String,
    /// The node's address number in the lab's subnet ([`Lab::host_address`]).
    pub(super) host: u16,
    /// The address number of the control plane this node's kubelet watches.
    pub(super) api_server_host: u16,
}

impl Lab {
    /// Files, network and processes of one node; waits until its sshd (and API stand-in)
    /// accept connections from the operator address.
    pub(super) fn start_node(
        &self,
        plan: &NodePlan,
        spec: &LabSpec,
        keys: &SshdLab,
    ) -> anyhow::Result<Node> {
        let name = &plan.name;
        let address = self.host_address(plan.host);
        let api_server = self.host_address(plan.api_server_host);
        let dir = self.dir.join("nodes").join(name);
        let host_key = (|| -> anyhow::Result<_> {
            for (sub, _) in PRIVATE_DIRS {
                fs::create_dir_all(dir.join(sub))?;
            }
            fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777))?;
            fs::set_permissions(dir.join("run"), fs::Permissions::from_mode(0o755))?;
            // sshd's privilege separation directory, root-owned and not group-writable.
            fs::create_dir_all(dir.join("run/sshd"))?;
            fs::set_permissions(dir.join("run/sshd"), fs::Permissions::from_mode(0o755))?;
            let state = dir.join("run/breakglass-lab");
            fs::create_dir_all(&state)?;
            let key = keys.new_key(&format!("host-{name}"))?;
            copy_key(&key.private, &state.join("ssh_host_ed25519_key"))?;
            fs::copy(
                self.client_key_path().with_extension("pub"),
                state.join("authorized_keys"),
            )?;
            fs::write(state.join("sshd_config"), sshd_config(name, address))?;
            self.write_kubernetes_files(plan, spec, &dir, address, api_server)?;
            let pods = if spec.default_pods {
                // An incident lab starts without the agent: injecting it is the drill.
                default_pods(name, plan.role)
                    .into_iter()
                    .filter(|p| !(spec.incident && p.name.starts_with(super::WORKLOAD_NAME)))
                    .collect()
            } else {
                Vec::new()
            };
            write_pods(&state, &pods.iter().map(new_sandbox).collect::<Vec<_>>())?;
            Ok(key)
        })()
        .with_context(|| format!("node {name}: preparing {}", dir.display()))?;

        // In the scale mode the namespace (and its `eth0`) is shared: each node adds its own
        // address; bringing the links up again is harmless.
        let addr_batch = format!(
            "link set lo up\naddr add {address}/{} dev eth0\nlink set eth0 up\n",
            self.prefix
        );
        ip_batch(&self.tools, Some(&plan.netns), &addr_batch, false)
            .with_context(|| format!("node {name}: configuring eth0"))?;

        let init_pid = self
            .spawn_init(plan, spec, &dir)
            .with_context(|| format!("node {name}: starting its processes"))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        wait_listening(SocketAddr::new(IpAddr::V4(address), 22), deadline).with_context(|| {
            format!(
                "node {name}: sshd (log: {})",
                dir.join("run/breakglass-lab/sshd.log").display()
            )
        })?;
        if plan.role == Role::ControlPlane {
            wait_listening(SocketAddr::new(IpAddr::V4(address), API_PORT), deadline).with_context(
                || {
                    format!(
                        "node {name}: kube-apiserver stand-in (log: {})",
                        dir.join("run/breakglass-lab/kube-apiserver.log").display()
                    )
                },
            )?;
        }
        Ok(Node {
            name: name.clone(),
            role: plan.role,
            address,
            host_key: host_key.fingerprint,
            host_public_key: host_key.public,
            netns: plan.netns.clone(),
            dir,
            init: Arc::new(AtomicU32::new(init_pid)),
        })
    }

    /// Starts the node's namespaces and processes (`standins/node-init.sh`), waits for its
    /// `ready`, and returns the host PID of the node's init.
    pub(super) fn spawn_init(
        &self,
        plan: &NodePlan,
        spec: &LabSpec,
        dir: &Path,
    ) -> anyhow::Result<u32> {
        // nsenter rather than `ip netns exec`: the latter leaves its parent process in a copy of
        // the host's mount namespace, and that copy pins every namespace under /run/netns at
        // the time (other labs' too) until this node is gone.
        let mut cmd = Command::new(&self.tools.nsenter);
        cmd.arg(format!("--net=/run/netns/{}", plan.netns))
            .arg("--")
            .arg(&self.tools.unshare)
            .args([
                "--uts",
                "--mount",
                "--pid",
                "--fork",
                "--kill-child",
                "--mount-proc",
                "--propagation",
                "private",
                "--",
                "/bin/sh",
                "-c",
                NODE_INIT,
                "node-init",
                &plan.name,
            ])
            .arg(&self.tools.sshd)
            .arg(plan.role.label());
        for (sub, target) in PRIVATE_DIRS {
            // The lab's stand-ins and the plain .bashrc go in before /run (see PRIVATE_DIRS).
            if *target == "/run" {
                cmd.arg(self.dir.join("bin")).arg("/usr/local/bin");
                if let Some(bashrc) = root_bashrc() {
                    cmd.arg(self.dir.join("bashrc")).arg(bashrc);
                }
            }
            cmd.arg(dir.join(sub)).arg(target);
        }
        // Its own process group: a Ctrl-C meant for breakglass (which may keep running to
        // finish in-flight hosts) must not kill the lab's nodes. A killed test process leaves
        // them to `cleanup_stale` instead.
        cmd.env_clear()
            .envs(node_env())
            .current_dir("/")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !spec.start_kubelets {
            cmd.env("BREAKGLASS_LAB_NO_KUBELET", "1");
        }
        let mut child = cmd.spawn().context("running nsenter --net ... unshare")?;
        let unshare_pid = child.id();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        // Recorded before waiting, so teardown finds it whatever happens next.
        lock(&self.inits).push(child);
        let errors = thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut stderr) = stderr {
                let _ = stderr.read_to_string(&mut text);
            }
            text
        });
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || wait_for_ready(stdout, &tx));
        match rx.recv_timeout(READY_TIMEOUT) {
            Ok(true) => {}
            Ok(false) => {
                let text = errors.join().unwrap_or_default();
                bail!("node setup exited before it was ready: {}", text.trim());
            }
            Err(_) => bail!("node setup did not finish within {READY_TIMEOUT:?}"),
        }
        // The setup shell, now the node's init, is unshare's only child.
        let children =
            fs::read_to_string(format!("/proc/{unshare_pid}/task/{unshare_pid}/children"))
                .context("finding the node's init")?;
        children
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| anyhow!("the node's init is gone right after setup"))
    }
}

/// Root's `~/.bashrc` on the host, if it exists (only an existing file can be mounted over).
fn root_bashrc() -> Option<PathBuf> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    let home = passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2] == "0").then(|| f[5].to_owned())
    })?;
    let bashrc = Path::new(&home).join(".bashrc");
    bashrc.is_file().then_some(bashrc)
}

/// One absolute `AuthorizedKeysFile` and `StrictModes no`: the lab's client key logs in as any
/// user, root or [`Lab::add_users`]'s, without per-user `~/.ssh`.
fn sshd_config(name: &str, address: Ipv4Addr) -> String {
    format!(
        "# breakglass lab node {name} (src/lab/netns/node.rs); paths are as the node sees them.\n\
         ListenAddress {address}:22\n\
         HostKey {NODE_STATE}/ssh_host_ed25519_key\n\
         PidFile {NODE_STATE}/sshd.pid\n\
         AuthorizedKeysFile {NODE_STATE}/authorized_keys\n\
         PermitRootLogin prohibit-password\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         StrictModes no\n\
         UseDNS no\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         AllowTcpForwarding yes\n\
         MaxStartups 200:30:400\n\
         MaxSessions 64\n\
         Subsystem sftp internal-sftp\n\
         LogLevel INFO\n"
    )
}

/// Reads the node setup's stdout until `ready` (sends true) or EOF (sends false), then drains
/// it: unshare keeps the pipe open for the node's lifetime.
fn wait_for_ready(stdout: Option<ChildStdout>, ready: &mpsc::Sender<bool>) {
    let Some(stdout) = stdout else {
        let _ = ready.send(false);
        return;
    };
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => {
                let _ = ready.send(false);
                return;
            }
            Ok(_) if line.trim() == "ready" => {
                let _ = ready.send(true);
                let _ = std::io::copy(&mut reader, &mut std::io::sink());
                return;
            }
            Ok(_) => {}
        }
    }
}

pub(super) fn wait_listening(addr: SocketAddr, deadline: Instant) -> anyhow::Result<()> {
    loop {
        let Err(err) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
            return Ok(());
        };
        if Instant::now() >= deadline {
            bail!("{addr} did not accept connections within {READY_TIMEOUT:?}: {err}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}
