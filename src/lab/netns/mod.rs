//! A fleet of Kubernetes-like nodes in network namespaces, for real-kernel tests and
//! `breakglass drill --lab`: real `sshd` and `nft` per node, real TCP between nodes, and
//! stand-ins for the Kubernetes programs this machine cannot run.
//!
//! Topology of one lab (`ID` is 6 random hex digits, `X` a free /24 chosen under a lock):
//!
//! ```text
//! root namespace                 hub namespace bglab-ID-hub        node namespace bglab-ID-NAME
//!  bglabID 10.231.X.1/24 <veth> up-ID --+                          (net + mount + UTS + PID)
//!  (the operator address)               br-ID <-- nI-ID <veth> eth0 10.231.X.(10+I)/24
//! ```
//!
//! The bridge lives in its own namespace so the host's forwarding policy cannot interfere.
//! Nothing has a default route and nothing is translated (no NAT): no packet can leave the subnet.
//!
//! Each node is `nsenter --net=NS unshare --uts --mount --pid --fork --kill-child --mount-proc`
//! running `standins/node-init.sh`, which bind-mounts the node's private directories
//! (`/etc/kubernetes`, `/var/lib/breakglass`, `/tmp`, `/run`, a plain `~/.bashrc`, and the lab's
//! stand-ins over `/usr/local/bin`), starts `sshd` (own ed25519 host key, pinned in the
//! generated inventory), the API server stand-in on control planes, the containerd and kubelet
//! stand-ins, and then becomes the node's PID 1 (`standins/lab-init.py`, a reaper). A PID
//! namespace per node means `pkill kubelet` on one node cannot touch another node's kubelet,
//! and that killing the node's init makes the kernel kill everything the node ran.
//!
//! Files: `/run/breakglass-lab/ID/` holds the lab (`owner` = PID and start time of the process
//! that built it, `subnet`, `inventory.toml`, `known_hosts`, `ca.crt`, `client/id_ed25519`,
//! `bin/` = the stand-ins, `nodes/NAME/{etc-kubernetes,var-lib-breakglass,tmp,run}` = what the
//! node sees at `/etc/kubernetes`, ... and `/run`). `/run/breakglass-lab/lock` serializes subnet
//! choice, namespace creation and stale cleanup between labs of all processes.
//!
//! Everything else (`/etc`, `/usr`, `/var`, `/root`, ...) is the host's, shared by all nodes of
//! all labs: node-local state written by breakglass (snapshots, pidfiles, timers) must live
//! under one of the private paths above, or nodes will see each other's files.
//!
//! Non-root logins (opt-in, [`Lab::add_users`], for `--sudo`): every node then sees private
//! copies of the host's `/etc/passwd`, `/etc/group`, `/etc/shadow` and `/etc/hosts` (plus the
//! node's hostname, which sudo resolves) with the lab's users added, and its own
//! `/etc/sudoers.d` holding only the lab's rules, all bind-mounted inside the node's mount
//! namespace from `nodes/NAME/run/breakglass-lab/accounts/`. Homes are
//! `/run/breakglass-lab/home/USER` on the node. The host's `/etc` is read, never written:
//! `useradd` would change the machine, not a node.
//!
//! Mountpoints: a bind mount needs its target to exist on the host. When `/etc/kubernetes` or
//! `/var/lib/breakglass` is missing, the lab creates the empty directory and records that in
//! `/run/breakglass-lab/mountpoints/`; the last lab to tear down removes it again, only if it
//! is still empty. A directory that already existed is never modified: the lab only mounts over
//! it inside its own (private) mount namespaces.
//!
//! Nodes have no init system: their PID 1 only reaps. [`Lab::pose_as_systemd`] (opt-in, per
//! node) renames it `systemd`, which is how breakglass tells a systemd host (`/proc/1/comm`); the
//! `systemd-run` and `systemctl` stand-ins then run the transient timers breakglass arms there
//! (the firewall dead-man timer), and refuse to on the other nodes. Real systemd as a node's
//! PID 1 would move the node's processes into cgroups of its own on a host the lab shares.
//!
//! The stand-ins follow the real programs' documented command lines; they are not the real
//! programs (see each file in `standins/`). Teardown (explicit or on drop, including unwinding
//! from a panic) kills only processes the lab started or that run inside its namespaces, by
//! PID, then deletes its namespaces, veths and files. Node processes run in their own process
//! group, so a Ctrl-C aimed at breakglass does not reach them; a process that dies without
//! dropping its lab leaves it to [`Lab::cleanup_stale`] (also run by every [`Lab::build`]),
//! which removes labs whose owner is dead. This module never prints.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};

use super::sshd::SshdLab;
use crate::transport::ssh::host_pattern;

mod users;
pub use users::{NodeUser, Sudo};

/// The API server stand-in's port on control-plane nodes.
pub const API_PORT: u16 = 6443;
/// The cluster name in the generated inventory.
pub const CLUSTER_NAME: &str = "lab";
/// The name the API server certificates carry besides the node IP (and the inventory's
/// `tls_server_name`).
pub const TLS_SERVER_NAME: &str = "kubernetes.default.svc";

const STATE_ROOT: &str = "/run/breakglass-lab";
/// Namespace names: `bglab-ID-hub`, `bglab-ID-NODE`. Cleanup recognises labs by this prefix.
const NS_PREFIX: &str = "bglab-";
/// The root-side veth: `bglabID` (11 characters; Linux allows 15).
const IF_PREFIX: &str = "bglab";
const ID_LEN: usize = 6;
/// Lab subnets are 10.231.X.0/24.
const NET_A: u8 = 10;
const NET_B: u8 = 231;
const FIRST_NODE_HOST: u8 = 10;
const MAX_NODES: usize = 245;
/// The root user's PATH that Debian's sshd gives SSH sessions; used for everything run on a node.
const NODE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The stand-ins' state directory, as a node sees it.
const NODE_STATE: &str = "/run/breakglass-lab";
const NODE_CA: &str = "/etc/kubernetes/pki/ca.crt";
/// Node-private directories: (directory under the node dir, path on the node). `/run` comes
/// last because the lab's own host-side paths live under the host's `/run`.
const PRIVATE_DIRS: &[(&str, &str)] = &[
    ("etc-kubernetes", "/etc/kubernetes"),
    ("var-lib-breakglass", "/var/lib/breakglass"),
    ("tmp", "/tmp"),
    ("run", "/run"),
];
/// Node setup (and readiness of sshd and the API stand-in) must finish within this.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// A held connection is alive while its last streamed event is younger than this (the API
/// stand-in sends one per second).
const ALIVE_WINDOW: Duration = Duration::from_millis(2500);
/// The kubelet stand-in's watch counts as connected while its last event is this recent.
const KUBELET_WINDOW_SECS: f64 = 3.0;
/// Upper bound on concurrent node setups (each runs a handful of short processes).
const SETUP_THREADS: usize = 16;
/// `lab.sh` gives up (and kills the command) after this long.
const SH_TIMEOUT: Duration = Duration::from_secs(120);
/// Kubernetes' random name suffix alphabet (no vowels, no confusable digits).
const K8S_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

const NODE_INIT: &str = include_str!("../standins/node-init.sh");
const MANIFEST_TEMPLATE: &str = include_str!("../standins/kube-apiserver.yaml");
const KUBELET_CONF_TEMPLATE: &str = include_str!("../standins/kubelet.conf");

/// Programs installed in every node's `/usr/local/bin` (first on PATH for SSH sessions).
const STANDINS: &[(&str, &str)] = &[
    (
        "kube-apiserver",
        include_str!("../standins/kube-apiserver.py"),
    ),
    ("kubelet", include_str!("../standins/kubelet.py")),
    ("crictl", include_str!("../standins/crictl.py")),
    ("systemctl", include_str!("../standins/systemctl.sh")),
    ("systemd-run", include_str!("../standins/systemd-run.sh")),
    ("containerd", include_str!("../standins/containerd.sh")),
    (
        "breakglass-lab-init",
        include_str!("../standins/lab-init.py"),
    ),
    ("breakglass-lab-net", include_str!("../standins/lab-net.py")),
];

/// What the lab needs on the host: (program, Debian package).
const PREREQUISITES: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("nft", "nftables"),
    ("sshd", "openssh-server"),
    ("ssh-keygen", "openssh-client"),
    ("openssl", "openssl"),
    ("python3", "python3"),
    ("unshare", "util-linux"),
    ("nsenter", "util-linux"),
    ("setsid", "util-linux"),
    ("mount", "mount"),
    ("hostname", "hostname"),
    ("kill", "procps"),
    ("pgrep", "procps"),
];

// ---------------------------------------------------------------------------------------------
// Public types.

/// How big a lab to build.
#[derive(Debug, Clone)]
pub struct LabSpec {
    /// Nodes `cp1..` with the API server stand-in on 6443 (at least one).
    pub control_planes: usize,
    /// Nodes `worker1..`.
    pub workers: usize,
    /// Seed every node's pods: `monitoring/telemetry-agent-xxxxx` (the reference incident's
    /// `DaemonSet`), `kube-system/kube-proxy-xxxxx`, `default/web-...`, and on control planes the
    /// static pods `kube-system/kube-apiserver-NODE` and `kube-system/etcd-NODE`.
    pub default_pods: bool,
    /// Start the kubelet stand-in on every node (it can be started later with `systemctl start
    /// kubelet` on the node).
    pub start_kubelets: bool,
}

impl Default for LabSpec {
    fn default() -> LabSpec {
        LabSpec {
            control_planes: 1,
            workers: 2,
            default_pods: true,
            start_kubelets: true,
        }
    }
}

impl LabSpec {
    pub fn new(control_planes: usize, workers: usize) -> LabSpec {
        LabSpec {
            control_planes,
            workers,
            ..LabSpec::default()
        }
    }
}

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
    /// Host PID of the node's init (PID 1 in the node's PID namespace).
    pub init_pid: u32,
}

impl Node {
    /// `address:22`.
    pub fn ssh_addr(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(self.address), 22)
    }

    /// `address:6443` (served only on control-plane nodes).
    pub fn api_addr(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(self.address), API_PORT)
    }
}

/// A pod to seed into a node's container runtime stand-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSpec {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

impl PodSpec {
    pub fn new(namespace: &str, name: &str) -> PodSpec {
        PodSpec {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            labels: BTreeMap::new(),
        }
    }

    #[must_use]
    pub fn label(mut self, key: &str, value: &str) -> PodSpec {
        self.labels.insert(key.to_owned(), value.to_owned());
        self
    }
}

/// A pod sandbox as the `crictl` stand-in reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    /// 64 hex digits, as containerd's sandbox IDs.
    pub id: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// `SANDBOX_READY` (false after `crictl stopp`).
    pub ready: bool,
    pub labels: BTreeMap<String, String>,
    /// Nanoseconds since the epoch.
    pub created_at: i64,
}

/// What a TCP connection attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The three-way handshake completed.
    Connected,
    /// A RST came back (nothing listening, or `reject with tcp reset`).
    Refused,
    /// Nothing came back in time (packets dropped).
    TimedOut,
    /// The kernel gave up at once or reported another error (no route, host unreachable).
    Unreachable(String),
}

/// A built lab. Torn down by [`Lab::teardown`] or on drop.
#[derive(Debug)]
pub struct Lab {
    id: String,
    dir: PathBuf,
    octet: u8,
    hub: String,
    root_veth: String,
    /// Every namespace this lab created (hub first), for teardown even after a failed build.
    namespaces: Vec<String>,
    nodes: Vec<Node>,
    /// `nsenter --net ... unshare` per started node: the parents of the node inits.
    inits: Mutex<Vec<Child>>,
    /// Helpers the lab started that are still running, by process group (= leader PID):
    /// killed and reaped at teardown whoever holds them.
    helpers: Helpers,
    tools: Tools,
    /// `DIR/ca.crt`.
    ca_cert: PathBuf,
    /// The users [`Lab::add_users`] created (name, uid).
    users: Vec<(String, u32)>,
    torn_down: bool,
}

// ---------------------------------------------------------------------------------------------
// Building.

/// One node to start: everything decided before any thread runs.
struct NodePlan {
    index: usize,
    name: String,
    role: Role,
    address: Ipv4Addr,
    netns: String,
    /// The control plane this node's kubelet watches.
    api_server: Ipv4Addr,
}

impl Lab {
    /// Builds the lab: namespaces, bridge, one sshd and the stand-ins per node, the inventory.
    /// Needs root and the programs listed in the error when one is missing. Also removes what
    /// crashed earlier runs left behind ([`Lab::cleanup_stale`]).
    pub fn build(spec: &LabSpec) -> anyhow::Result<Lab> {
        let total = spec.control_planes + spec.workers;
        if spec.control_planes == 0 {
            bail!("a lab needs at least one control-plane node (its kubelets watch one)");
        }
        if total > MAX_NODES {
            bail!("a lab holds at most {MAX_NODES} nodes (one /24), not {total}");
        }
        require_root()?;
        let tools = Tools::find()?;
        cleanup_stale(&tools).context("removing stale labs before building a new one")?;

        let id = random_hex(ID_LEN);
        let dir = Path::new(STATE_ROOT).join(&id);
        {
            // Under the lock that `cleanup_stale` holds: another process's cleanup must never
            // see this directory before its owner record exists (it would remove it as stale).
            let _lock = GlobalLock::acquire()?;
            create_private_dir(&dir)?;
            fs::write(dir.join("owner"), owner_record(std::process::id())?)
                .context("recording the lab's owner")?;
        }
        // From here on, dropping `lab` tears down whatever exists.
        let mut lab = Lab {
            hub: format!("{NS_PREFIX}{id}-hub"),
            root_veth: format!("{IF_PREFIX}{id}"),
            ca_cert: dir.join("ca.crt"),
            id,
            dir,
            octet: 0,
            namespaces: Vec::new(),
            nodes: Vec::new(),
            inits: Mutex::new(Vec::new()),
            helpers: Arc::new(Mutex::new(BTreeMap::new())),
            tools,
            users: Vec::new(),
            torn_down: false,
        };
        let plans = lab.plan(spec);
        {
            let _lock = GlobalLock::acquire()?;
            lab.octet = choose_octet(&lab.tools)?;
            fs::write(lab.dir.join("subnet"), format!("{}\n", lab.octet))
                .context("recording the lab's subnet")?;
            for (_, target) in PRIVATE_DIRS {
                prepare_mountpoint(Path::new(target))?;
            }
            lab.create_network(&plans)?;
        }
        lab.install_files()?;
        let keys = SshdLab::new().context("generating the lab's SSH keys")?;
        fs::create_dir_all(lab.dir.join("client"))?;
        copy_key(keys.client_key(), &lab.client_key_path())?;

        let results = Mutex::new(Vec::new());
        let next = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..plans.len().min(SETUP_THREADS) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(plan) = plans.get(i) else { break };
                        let result = lab.start_node(plan, spec, &keys);
                        lock(&results).push((plan.index, result));
                    }
                });
            }
        });
        let mut results = results
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        results.sort_by_key(|(index, _)| *index);
        let mut failures = Vec::new();
        for (_, result) in results {
            match result {
                Ok(node) => lab.nodes.push(node),
                Err(e) => failures.push(format!("{e:#}")),
            }
        }
        if !failures.is_empty() {
            bail!("building the lab failed:\n  {}", failures.join("\n  "));
        }
        lab.write_inventory()?;
        Ok(lab)
    }

    fn plan(&self, spec: &LabSpec) -> Vec<NodePlan> {
        let mut plans = Vec::new();
        let names = (1..=spec.control_planes)
            .map(|i| (format!("cp{i}"), Role::ControlPlane))
            .chain((1..=spec.workers).map(|i| (format!("worker{i}"), Role::Worker)));
        for (index, (name, role)) in names.enumerate() {
            let host = FIRST_NODE_HOST + u8::try_from(index).unwrap_or(u8::MAX - FIRST_NODE_HOST);
            let cp_index = u8::try_from(index % spec.control_planes).unwrap_or(0);
            plans.push(NodePlan {
                index,
                netns: format!("{NS_PREFIX}{}-{name}", self.id),
                name,
                role,
                address: Ipv4Addr::new(NET_A, NET_B, 0, host),
                api_server: Ipv4Addr::new(NET_A, NET_B, 0, FIRST_NODE_HOST + cp_index),
            });
        }
        plans
    }

    /// Namespaces, veths, bridge and the operator address, in two `ip -batch` runs.
    fn create_network(&mut self, plans: &[NodePlan]) -> anyhow::Result<()> {
        // Record names first: if creation fails halfway, teardown still removes what exists.
        self.namespaces.push(self.hub.clone());
        self.namespaces
            .extend(plans.iter().map(|p| p.netns.clone()));
        let mut root = format!("netns add {}\n", self.hub);
        for plan in plans {
            let _ = writeln!(root, "netns add {}", plan.netns);
        }
        let _ = writeln!(
            root,
            "link add {} type veth peer name up-{} netns {}",
            self.root_veth, self.id, self.hub
        );
        for plan in plans {
            let _ = writeln!(
                root,
                "link add n{}-{} netns {} type veth peer name eth0 netns {}",
                plan.index, self.id, self.hub, plan.netns
            );
        }
        let _ = writeln!(
            root,
            "addr add {}/24 dev {}\nlink set {} up",
            self.operator_address(),
            self.root_veth,
            self.root_veth
        );
        ip_batch(&self.tools, None, &root, false).context("creating the lab's namespaces")?;
        let mut hub = format!(
            "link set lo up\nlink add br-{id} type bridge\nlink set br-{id} up\n\
             link set up-{id} master br-{id} up\n",
            id = self.id
        );
        for plan in plans {
            let _ = writeln!(
                hub,
                "link set n{}-{id} master br-{id} up",
                plan.index,
                id = self.id
            );
        }
        ip_batch(&self.tools, Some(&self.hub), &hub, false).context("creating the lab's bridge")
    }

    /// The stand-ins, the plain `.bashrc`, the CA and the OpenSSL config.
    fn install_files(&self) -> anyhow::Result<()> {
        let bin = self.dir.join("bin");
        fs::create_dir_all(&bin)?;
        let shebang = format!("#!{}\n", self.tools.python.display());
        for (name, text) in STANDINS {
            let path = bin.join(name);
            // Python stand-ins run with the interpreter found at build time: a pyenv shim on
            // PATH costs ~100 ms per start, and nodes do not have the operator's PATH anyway.
            let text = match text.strip_prefix("#!/usr/bin/python3\n") {
                Some(rest) => format!("{shebang}{rest}"),
                None => (*text).to_owned(),
            };
            fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
        }
        fs::write(
            self.dir.join("bashrc"),
            "# breakglass lab node: a stock ~/.bashrc. The host's may run slow tools (pyenv\n\
             # init) on every SSH command; real nodes do not.\n",
        )?;
        fs::write(
            self.dir.join("openssl.cnf"),
            "[req]\ndistinguished_name = dn\n[dn]\n\
             [ext_ca]\nbasicConstraints = critical,CA:TRUE\n\
             keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n",
        )?;
        let subject = format!("/CN=breakglass lab {} CA", self.id);
        self.openssl(
            "creating the lab CA",
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "7",
                "-subj",
                &subject,
                "-extensions",
                "ext_ca",
            ],
            &[
                ("-config", self.dir.join("openssl.cnf")),
                ("-keyout", self.dir.join("ca.key")),
                ("-out", self.ca_cert().to_path_buf()),
            ],
        )
    }

    fn openssl(&self, what: &str, args: &[&str], paths: &[(&str, PathBuf)]) -> anyhow::Result<()> {
        let mut cmd = Command::new(&self.tools.openssl);
        cmd.args(args);
        for (flag, path) in paths {
            cmd.arg(flag).arg(path);
        }
        run(&mut cmd).with_context(|| what.to_owned())?;
        Ok(())
    }

    /// Files, network and processes of one node; waits until its sshd (and API stand-in)
    /// accept connections from the operator address.
    fn start_node(&self, plan: &NodePlan, spec: &LabSpec, keys: &SshdLab) -> anyhow::Result<Node> {
        let name = &plan.name;
        let address = self.node_address(plan.address);
        let api_server = self.node_address(plan.api_server);
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
            self.write_kubernetes_files(plan, &dir, address, api_server)?;
            let pods = if spec.default_pods {
                default_pods(name, plan.role)
            } else {
                Vec::new()
            };
            write_pods(&state, &pods.iter().map(new_sandbox).collect::<Vec<_>>())?;
            Ok(key)
        })()
        .with_context(|| format!("node {name}: preparing {}", dir.display()))?;

        let addr_batch =
            format!("link set lo up\naddr add {address}/24 dev eth0\nlink set eth0 up\n");
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
            init_pid,
        })
    }

    fn write_kubernetes_files(
        &self,
        plan: &NodePlan,
        dir: &Path,
        address: Ipv4Addr,
        api_server: Ipv4Addr,
    ) -> anyhow::Result<()> {
        let kube = dir.join("etc-kubernetes");
        // kubeadm creates the manifests directory on every node; only control planes fill it.
        fs::create_dir_all(kube.join("manifests"))?;
        fs::create_dir_all(kube.join("pki"))?;
        fs::copy(self.ca_cert(), kube.join("pki/ca.crt"))?;
        let conf = KUBELET_CONF_TEMPLATE
            .replace("{{SERVER}}", &api_server.to_string())
            .replace("{{TLS_SERVER_NAME}}", TLS_SERVER_NAME)
            .replace("{{CLUSTER}}", CLUSTER_NAME)
            .replace("{{NODE}}", &plan.name);
        fs::write(kube.join("kubelet.conf"), conf)?;
        if plan.role != Role::ControlPlane {
            return Ok(());
        }
        fs::write(
            kube.join("manifests/kube-apiserver.yaml"),
            MANIFEST_TEMPLATE.replace("{{ADDRESS}}", &address.to_string()),
        )?;
        let san = format!(
            "[ext_server]\nbasicConstraints = critical,CA:FALSE\n\
             keyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n\
             subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid,issuer\n\
             subjectAltName = IP:{address}, IP:10.96.0.1, DNS:{TLS_SERVER_NAME}, \
             DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc.cluster.local, \
             DNS:{name}\n",
            name = plan.name
        );
        let tmp = dir.join("apiserver-cert");
        fs::create_dir_all(&tmp)?;
        fs::write(tmp.join("ext.cnf"), san)?;
        self.openssl(
            "creating the API server key",
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                "/CN=kube-apiserver",
            ],
            &[
                ("-config", self.dir.join("openssl.cnf")),
                ("-keyout", kube.join("pki/apiserver.key")),
                ("-out", tmp.join("apiserver.csr")),
            ],
        )?;
        let serial = format!("0x{}", random_hex(16));
        self.openssl(
            "signing the API server certificate",
            &[
                "x509",
                "-req",
                "-days",
                "7",
                "-set_serial",
                &serial,
                "-extensions",
                "ext_server",
            ],
            &[
                ("-in", tmp.join("apiserver.csr")),
                ("-CA", self.ca_cert().to_path_buf()),
                ("-CAkey", self.dir.join("ca.key")),
                ("-extfile", tmp.join("ext.cnf")),
                ("-out", kube.join("pki/apiserver.crt")),
            ],
        )?;
        fs::remove_dir_all(&tmp)?;
        Ok(())
    }

    /// Starts the node's namespaces and processes (`standins/node-init.sh`), waits for its
    /// `ready`, and returns the host PID of the node's init.
    fn spawn_init(&self, plan: &NodePlan, spec: &LabSpec, dir: &Path) -> anyhow::Result<u32> {
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

    fn write_inventory(&self) -> anyhow::Result<()> {
        let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
        let path_str = |p: &Path| q(&p.to_string_lossy());
        let mut text = format!(
            "# Generated by breakglass lab {id} (src/lab/netns.rs); removed at teardown.\n\
             # Host keys are pinned; the nodes are network namespaces on this machine.\n\n\
             [defaults]\nuser = \"root\"\nport = 22\nidentity_files = [{key}]\n\
             known_hosts = {kh}\nconnect_timeout = \"5s\"\ncommand_timeout = \"60s\"\n\n\
             [clusters.{CLUSTER_NAME}]\napi_endpoints = [{endpoints}]\ntls_server_name = {tls}\n\
             ca_file = {ca}\n",
            id = self.id,
            key = path_str(&self.client_key_path()),
            kh = path_str(&self.known_hosts_path()),
            endpoints = self
                .api_endpoints()
                .iter()
                .map(|a| q(&a.to_string()))
                .collect::<Vec<_>>()
                .join(", "),
            tls = q(TLS_SERVER_NAME),
            ca = path_str(&self.ca_cert),
        );
        let mut known_hosts = String::new();
        for node in &self.nodes {
            let _ = write!(
                text,
                "\n[[hosts]]\nname = {}\naddress = {}\ncluster = {}\nlabels = {{ role = {} }}\n\
                 host_key = {}\n",
                q(&node.name),
                q(&node.address.to_string()),
                q(CLUSTER_NAME),
                q(node.role.label()),
                q(&node.host_key),
            );
            let _ = writeln!(
                known_hosts,
                "{} {}",
                host_pattern(IpAddr::V4(node.address), 22),
                node.host_public_key
            );
        }
        fs::write(self.inventory_path(), text).context("writing the lab inventory")?;
        fs::write(self.known_hosts_path(), known_hosts).context("writing the lab known_hosts")
    }

    fn node_address(&self, planned: Ipv4Addr) -> Ipv4Addr {
        let [a, b, _, d] = planned.octets();
        Ipv4Addr::new(a, b, self.octet, d)
    }
}

// ---------------------------------------------------------------------------------------------
// Accessors and test helpers.

impl Lab {
    /// The lab's random id (in every namespace and root-side interface name).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `/run/breakglass-lab/ID`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// 10.231.X.1, the root namespace's address on the lab bridge: where breakglass connects
    /// from, as the nodes see it.
    pub fn operator_address(&self) -> Ipv4Addr {
        Ipv4Addr::new(NET_A, NET_B, self.octet, 1)
    }

    /// 10.231.X.0/24.
    pub fn subnet(&self) -> ipnet::Ipv4Net {
        ipnet::Ipv4Net::new(Ipv4Addr::new(NET_A, NET_B, self.octet, 0), 24).unwrap_or_default()
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn nodes_with_role(&self, role: Role) -> Vec<&Node> {
        self.nodes.iter().filter(|n| n.role == role).collect()
    }

    /// Every control plane's `IP:6443`.
    pub fn api_endpoints(&self) -> Vec<SocketAddr> {
        self.nodes_with_role(Role::ControlPlane)
            .iter()
            .map(|n| n.api_addr())
            .collect()
    }

    /// The generated inventory (breakglass's TOML format), cluster `lab`, host keys pinned.
    pub fn inventory_path(&self) -> PathBuf {
        self.dir.join("inventory.toml")
    }

    /// An OpenSSH `known_hosts` file with every node's pinned key.
    pub fn known_hosts_path(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    /// The private key every node's sshd accepts, for root and for [`Lab::add_users`]'s users.
    pub fn client_key(&self) -> PathBuf {
        self.client_key_path()
    }

    fn client_key_path(&self) -> PathBuf {
        self.dir.join("client/id_ed25519")
    }

    /// The CA that signed every API server stand-in certificate (also at
    /// `/etc/kubernetes/pki/ca.crt` on every node).
    pub fn ca_cert(&self) -> &Path {
        &self.ca_cert
    }

    /// The namespaces this lab created (hub first).
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// The root-namespace end of the lab's uplink veth (`bglabID`).
    pub fn root_interface(&self) -> &str {
        &self.root_veth
    }

    fn node_or_err(&self, name: &str) -> anyhow::Result<&Node> {
        self.node(name).ok_or_else(|| {
            anyhow!(
                "lab {} has no node {name} (nodes: {})",
                self.id,
                self.nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }

    /// Where a node-private path (under `/etc/kubernetes`, `/var/lib/breakglass`, `/tmp` or
    /// `/run`) lives on the host, so tests can read node files without entering the node.
    pub fn node_file(&self, node: &str, path: &str) -> anyhow::Result<PathBuf> {
        let node = self.node_or_err(node)?;
        for (sub, target) in PRIVATE_DIRS {
            if let Some(rest) = path.strip_prefix(target)
                && (rest.is_empty() || rest.starts_with('/'))
            {
                return Ok(node.dir.join(sub).join(rest.trim_start_matches('/')));
            }
        }
        bail!("{path} is not node-private (shared with the host); use lab.sh to read it")
    }

    /// A command that runs `program` inside the node's network, mount, UTS and PID namespaces
    /// with a node's environment (root's PATH as sshd sets it, stand-ins first).
    pub fn node_command(&self, node: &str, program: impl AsRef<OsStr>) -> anyhow::Result<Command> {
        let node = self.node_or_err(node)?;
        let mut cmd = Command::new(&self.tools.nsenter);
        cmd.arg("-t")
            .arg(node.init_pid.to_string())
            .args(["-n", "-m", "-u", "-p", "--"])
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

    /// Tries a TCP connection to `to` from `from_node`'s namespace, or from the root namespace
    /// (the operator address) when `None`.
    pub fn tcp_probe(
        &self,
        from_node: Option<&str>,
        to: SocketAddr,
        timeout: Duration,
    ) -> anyhow::Result<Probe> {
        let Some(node) = from_node else {
            return Ok(match TcpStream::connect_timeout(&to, timeout) {
                Ok(_) => Probe::Connected,
                Err(e) => match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => Probe::Refused,
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                        Probe::TimedOut
                    }
                    _ => Probe::Unreachable(e.to_string()),
                },
            });
        };
        let mut cmd = self.node_command(node, "/usr/local/bin/breakglass-lab-net")?;
        cmd.args(["probe", &to.ip().to_string(), &to.port().to_string()])
            .arg(format!("{:.3}", timeout.as_secs_f64()));
        let out = output_within(&mut cmd, timeout + Duration::from_secs(10), &self.tools)
            .with_context(|| format!("probing {to} from lab node {node}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.trim();
        Ok(match line {
            "connected" => Probe::Connected,
            "refused" => Probe::Refused,
            "timeout" => Probe::TimedOut,
            _ => match line.strip_prefix("unreachable ") {
                Some(reason) => Probe::Unreachable(reason.to_owned()),
                None => bail!(
                    "the probe on {node} printed {line:?}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            },
        })
    }

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

    /// Makes `node` look like a systemd host to breakglass from now on: its PID 1 renames itself
    /// `systemd` (`/proc/1/comm`, what breakglass checks), so breakglass arms its dead-man timers
    /// with `systemd-run` there, as on a real node, and the `systemd-run` stand-in (which
    /// refuses on nodes whose PID 1 is not `systemd`) and `systemctl` stand-in run and cancel
    /// them. It is still not systemd: see `standins/systemd-run.sh`. There is no way back
    /// short of a new lab.
    pub fn pose_as_systemd(&self, node: &str) -> anyhow::Result<()> {
        let node = self.node_or_err(node)?;
        let comm = format!("/proc/{}/comm", node.init_pid);
        let pid = node.init_pid.to_string();
        // The init renames itself on SIGUSR1. Sent until it took: right after the build, the
        // init may still be the setup shell, or Python not yet have its handler (PID 1 of a
        // namespace drops signals it has no handler for).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let _ = Command::new(&self.tools.kill)
                .args(["-s", "USR1", &pid])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            thread::sleep(Duration::from_millis(20));
            match fs::read_to_string(&comm) {
                Ok(name) if name.trim_end() == "systemd" => return Ok(()),
                Ok(_) if Instant::now() < deadline => {}
                Ok(name) => bail!(
                    "node {}: its init (host PID {pid}) is still named {:?} 10s after SIGUSR1",
                    node.name,
                    name.trim_end()
                ),
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("node {}: reading {comm} (is its init gone?)", node.name)
                    });
                }
            }
        }
    }

    /// Whether a process named `kubelet` runs on the node (`pgrep -x kubelet` in its PID
    /// namespace).
    pub fn kubelet_running(&self, node: &str) -> anyhow::Result<bool> {
        Ok(self
            .sh(node, "pgrep -x kubelet >/dev/null")?
            .status
            .success())
    }

    /// Whether the node's kubelet stand-in received a watch event in the last 3 seconds.
    pub fn kubelet_watch_connected(&self, node: &str) -> anyhow::Result<bool> {
        let path = self.node_file(node, "/run/breakglass-lab/kubelet.watch")?;
        let Ok(text) = fs::read_to_string(&path) else {
            return Ok(false);
        };
        let mut fields = text.split_whitespace();
        let (Some("connected"), Some(_server), Some(ts)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Ok(false);
        };
        let ts: f64 = ts.parse().unwrap_or(0.0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        Ok(now - ts < KUBELET_WINDOW_SECS)
    }

    /// The pods in the node's `crictl` stand-in state, stopped ones included.
    pub fn pods(&self, node: &str) -> anyhow::Result<Vec<Pod>> {
        let state = self.node_file(node, NODE_STATE)?;
        Ok(read_pods(&state)?.into_iter().map(Pod::from).collect())
    }

    /// Adds pods (ready, with fresh IDs) to the node's `crictl` stand-in state.
    pub fn seed_pods(&self, node: &str, pods: &[PodSpec]) -> anyhow::Result<Vec<Pod>> {
        let state = self.node_file(node, NODE_STATE)?;
        let _lock = FileLock::acquire(&state.join("pods.lock"))?;
        let mut items = read_pods(&state)?;
        let added: Vec<Sandbox> = pods.iter().map(new_sandbox).collect();
        items.extend(added.iter().cloned());
        write_pods(&state, &items)?;
        Ok(added.into_iter().map(Pod::from).collect())
    }

    /// The bytes of `/etc/kubernetes/manifests/kube-apiserver.yaml` on the node.
    pub fn manifest(&self, node: &str) -> anyhow::Result<Vec<u8>> {
        let path = self.node_file(node, "/etc/kubernetes/manifests/kube-apiserver.yaml")?;
        fs::read(&path).with_context(|| format!("reading {}", path.display()))
    }

    /// Host PIDs of every process the lab runs: the node inits' parents and everything inside
    /// the lab's network namespaces.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids: BTreeSet<u32> = lock(&self.inits).iter().map(Child::id).collect();
        pids.extend(lock(&self.helpers).keys());
        pids.extend(processes_in(&netns_inodes(&self.namespaces)));
        pids.into_iter().collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Teardown and stale cleanup.

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
fn cleanup_stale(tools: &Tools) -> anyhow::Result<usize> {
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

fn delete_network(tools: &Tools, root_veth: &str, namespaces: &[String]) -> anyhow::Result<()> {
    let mut batch = String::new();
    if Path::new("/sys/class/net").join(root_veth).exists() {
        let _ = writeln!(batch, "link del {root_veth}");
    }
    for ns in namespaces {
        if Path::new("/run/netns").join(ns).exists() {
            let _ = writeln!(batch, "netns del {ns}");
        }
    }
    if batch.is_empty() {
        return Ok(());
    }
    ip_batch(tools, None, &batch, true).context("deleting the lab's namespaces")
}

fn lab_id_of_netns(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(NS_PREFIX)?;
    let (id, _) = rest.split_once('-')?;
    is_lab_id(id).then_some(id)
}

fn is_lab_id(s: &str) -> bool {
    s.len() == ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

// ---------------------------------------------------------------------------------------------
// Held connections.

/// Running helper processes by process group id (each the leader's PID).
type Helpers = Arc<Mutex<BTreeMap<u32, Child>>>;

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
fn stop_group(kill: &Path, pgid: u32, child: &mut Child) {
    if matches!(child.try_wait(), Ok(None)) {
        let _ = Command::new(kill)
            .args(["-s", "KILL", "--", &format!("-{pgid}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.wait();
}

// ---------------------------------------------------------------------------------------------
// Pods (the crictl stand-in's state file, in `crictl pods -o json` shape).

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sandbox {
    id: String,
    metadata: SandboxMetadata,
    state: String,
    /// Nanoseconds since the epoch, as a string (protobuf JSON's int64).
    created_at: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    runtime_handler: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SandboxMetadata {
    name: String,
    uid: String,
    namespace: String,
    #[serde(default)]
    attempt: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct PodsFile {
    #[serde(default)]
    items: Vec<Sandbox>,
}

impl From<Sandbox> for Pod {
    fn from(s: Sandbox) -> Pod {
        Pod {
            ready: s.state == "SANDBOX_READY",
            created_at: s.created_at.parse().unwrap_or(0),
            id: s.id,
            namespace: s.metadata.namespace,
            name: s.metadata.name,
            uid: s.metadata.uid,
            labels: s.labels,
        }
    }
}

fn new_sandbox(spec: &PodSpec) -> Sandbox {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    // Seeded pods look like they have been running for a while (crictl shows "N hours ago").
    // At least two hours: under 1.5 hours go-units' HumanDuration says "About an hour".
    let age = Duration::from_secs(7200 + fastrand::u64(0..3600));
    let created = now.saturating_sub(age).as_nanos();
    Sandbox {
        id: random_hex(64),
        metadata: SandboxMetadata {
            name: spec.name.clone(),
            uid: format!(
                "{}-{}-{}-{}-{}",
                random_hex(8),
                random_hex(4),
                random_hex(4),
                random_hex(4),
                random_hex(12)
            ),
            namespace: spec.namespace.clone(),
            attempt: 0,
        },
        state: "SANDBOX_READY".to_owned(),
        created_at: created.to_string(),
        labels: spec.labels.clone(),
        annotations: BTreeMap::new(),
        runtime_handler: String::new(),
    }
}

fn default_pods(node: &str, role: Role) -> Vec<PodSpec> {
    let mut pods = vec![
        PodSpec::new("monitoring", &format!("telemetry-agent-{}", k8s_suffix(5)))
            .label("app", "telemetry-agent")
            .label("controller-revision-hash", "6d5f7c9b8")
            .label("pod-template-generation", "1"),
        PodSpec::new("kube-system", &format!("kube-proxy-{}", k8s_suffix(5)))
            .label("k8s-app", "kube-proxy")
            .label("controller-revision-hash", "7c5d9f6b4"),
        PodSpec::new(
            "default",
            &format!("web-{}-{}", k8s_suffix(10), k8s_suffix(5)),
        )
        .label("app", "web")
        .label("pod-template-hash", &k8s_suffix(10)),
    ];
    if role == Role::ControlPlane {
        pods.push(
            PodSpec::new("kube-system", &format!("kube-apiserver-{node}"))
                .label("component", "kube-apiserver")
                .label("tier", "control-plane"),
        );
        pods.push(
            PodSpec::new("kube-system", &format!("etcd-{node}"))
                .label("component", "etcd")
                .label("tier", "control-plane"),
        );
    }
    pods
}

/// `state` is the host-side directory the node sees as /run/breakglass-lab.
fn read_pods(state: &Path) -> anyhow::Result<Vec<Sandbox>> {
    let path = state.join("pods.json");
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let file: PodsFile =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(file.items)
}

fn write_pods(state: &Path, items: &[Sandbox]) -> anyhow::Result<()> {
    let path = state.join("pods.json");
    let tmp = state.join("pods.json.tmp");
    let text = serde_json::to_string_pretty(&serde_json::json!({ "items": items }))?;
    fs::write(&tmp, text + "\n").with_context(|| format!("writing {}", tmp.display()))?;
    // Rename: crictl readers see the old or the new file, never half of one.
    fs::rename(&tmp, &path).with_context(|| format!("replacing {}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Host programs and prerequisites.

#[derive(Debug, Clone)]
struct Tools {
    ip: PathBuf,
    sshd: PathBuf,
    openssl: PathBuf,
    /// The real interpreter (not a pyenv shim), validated to have `ssl`.
    python: PathBuf,
    unshare: PathBuf,
    nsenter: PathBuf,
    kill: PathBuf,
}

impl Tools {
    /// Found once per process (checking python costs ~0.2 s); a failure is not cached.
    fn find() -> anyhow::Result<Tools> {
        static FOUND: OnceLock<Tools> = OnceLock::new();
        if let Some(tools) = FOUND.get() {
            return Ok(tools.clone());
        }
        let tools = Tools::find_uncached()?;
        Ok(FOUND.get_or_init(|| tools).clone())
    }

    fn find_uncached() -> anyhow::Result<Tools> {
        let mut dirs: Vec<PathBuf> =
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect();
        // sbin is not on every user's PATH, and the system python beats a pyenv shim.
        for d in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
            dirs.push(PathBuf::from(d));
        }
        Tools::find_in(&dirs)
    }

    fn find_in(dirs: &[PathBuf]) -> anyhow::Result<Tools> {
        let found = find_programs(dirs).map_err(|missing| anyhow!(missing_message(&missing)))?;
        let get = |name: &str| found.get(name).cloned().unwrap_or_default();
        let python = if Path::new("/usr/bin/python3").is_file() {
            PathBuf::from("/usr/bin/python3")
        } else {
            get("python3")
        };
        let out = Command::new(&python)
            .args([
                "-c",
                "import sys, ssl, json, fcntl, http.server; print(sys.executable)",
            ])
            .output()
            .with_context(|| format!("running {}", python.display()))?;
        if !out.status.success() {
            bail!(
                "{} cannot run the lab's stand-ins (it needs the ssl module): {}; \
                 install python3 (apt-get install -y python3)",
                python.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(Tools {
            ip: get("ip"),
            sshd: get("sshd"),
            openssl: get("openssl"),
            python: PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()),
            unshare: get("unshare"),
            nsenter: get("nsenter"),
            kill: get("kill"),
        })
    }
}

/// Every prerequisite's absolute path, or the list of missing (program, package).
fn find_programs(
    dirs: &[PathBuf],
) -> Result<BTreeMap<&'static str, PathBuf>, Vec<(&'static str, &'static str)>> {
    let mut found = BTreeMap::new();
    let mut missing = Vec::new();
    for &(program, package) in PREREQUISITES {
        match dirs
            .iter()
            .map(|d| d.join(program))
            .find(|p| p.is_absolute() && p.is_file())
        {
            Some(path) => {
                found.insert(program, path);
            }
            None => missing.push((program, package)),
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(missing)
    }
}

fn missing_message(missing: &[(&str, &str)]) -> String {
    let programs: Vec<String> = missing.iter().map(|(p, k)| format!("{p} ({k})")).collect();
    let mut packages: Vec<&str> = missing.iter().map(|(_, k)| *k).collect();
    packages.dedup();
    format!(
        "the network-namespace lab cannot start: missing {}. Install with: \
         apt-get install -y {}. Lab tests fail, never skip, without them.",
        programs.join(", "),
        packages.join(" ")
    )
}

fn require_root() -> anyhow::Result<()> {
    let status = fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?");
    if euid != "0" {
        bail!(
            "the network-namespace lab needs root (it creates network, mount and PID namespaces \
             and veths); this process runs as uid {euid}: run the tests as root"
        );
    }
    Ok(())
}

/// The environment of a process on a node: what sshd gives a root session, stand-ins first.
fn node_env() -> [(&'static str, &'static str); 3] {
    [("PATH", NODE_PATH), ("HOME", "/root"), ("LANG", "C.UTF-8")]
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
        "# breakglass lab node {name} (src/lab/netns.rs); paths are as the node sees them.\n\
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

// ---------------------------------------------------------------------------------------------
// Locks, owners, subnets, mountpoints.

/// `flock` on /run/breakglass-lab/lock, shared by every lab of every process.
struct GlobalLock {
    _held: FileLock,
}

impl GlobalLock {
    fn acquire() -> anyhow::Result<GlobalLock> {
        create_private_dir(Path::new(STATE_ROOT))?;
        Ok(GlobalLock {
            _held: FileLock::acquire(&Path::new(STATE_ROOT).join("lock"))?,
        })
    }
}

/// An exclusive `flock(2)` (std's `File::lock`), released when dropped (the file is closed).
/// The same lock the Python stand-ins take with `fcntl.flock`.
struct FileLock {
    _file: fs::File,
}

impl FileLock {
    fn acquire(path: &Path) -> anyhow::Result<FileLock> {
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

fn create_private_dir(path: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    // Keys (the CA's, the client's) live here.
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

/// `PID STARTTIME`: the start time guards against PID reuse after a crash.
fn owner_record(pid: u32) -> anyhow::Result<String> {
    let start = start_time(pid).ok_or_else(|| anyhow!("reading /proc/{pid}/stat"))?;
    Ok(format!("{pid} {start}\n"))
}

fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22 (starttime); fields after the parenthesised command start at field 3.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

fn owner_alive(lab_dir: &Path) -> bool {
    let Ok(text) = fs::read_to_string(lab_dir.join("owner")) else {
        return false;
    };
    let mut fields = text.split_whitespace();
    let (Some(Ok(pid)), Some(Ok(start))) = (
        fields.next().map(str::parse::<u32>),
        fields.next().map(str::parse::<u64>),
    ) else {
        return false;
    };
    start_time(pid) == Some(start)
}

/// Lab ids with a live owner.
fn live_labs() -> Vec<String> {
    let Ok(entries) = fs::read_dir(STATE_ROOT) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| is_lab_id(name) && owner_alive(&Path::new(STATE_ROOT).join(name)))
        .collect()
}

/// A third octet X such that 10.231.X.0/24 is not on any root-namespace address or more
/// specific route, nor claimed by another live lab. Called under the global lock.
fn choose_octet(tools: &Tools) -> anyhow::Result<u8> {
    let mut used = BTreeSet::new();
    let addrs = run(Command::new(&tools.ip).args(["-o", "-4", "addr", "show"]))?;
    let routes = run(Command::new(&tools.ip).args(["-o", "-4", "route", "show", "table", "all"]))?;
    let text = String::from_utf8_lossy(&addrs.stdout).into_owned()
        + &String::from_utf8_lossy(&routes.stdout);
    for token in text.split_whitespace() {
        let (addr, len) = token.split_once('/').unwrap_or((token, "32"));
        let (Ok(addr), Ok(len)) = (addr.parse::<Ipv4Addr>(), len.parse::<u8>()) else {
            continue;
        };
        let [a, b, c, _] = addr.octets();
        // Addresses count whatever their prefix; a shorter route (10.0.0.0/8) is overridden by
        // the lab's connected /24 and does not matter.
        if a == NET_A && b == NET_B && (len >= 24 || text.contains(&format!("inet {token}"))) {
            used.insert(c);
        }
    }
    for id in live_labs() {
        if let Ok(text) = fs::read_to_string(Path::new(STATE_ROOT).join(id).join("subnet"))
            && let Ok(octet) = text.trim().parse::<u8>()
        {
            used.insert(octet);
        }
    }
    let start = fastrand::u8(..);
    (0..=u8::MAX)
        .map(|i| start.wrapping_add(i))
        .find(|x| !used.contains(x))
        .ok_or_else(|| anyhow!("no free /24 left in {NET_A}.{NET_B}.0.0/16 for another lab"))
}

fn mountpoint_markers() -> PathBuf {
    Path::new(STATE_ROOT).join("mountpoints")
}

/// Creates a missing bind-mount target on the host and records that the lab created it.
/// Called under the global lock.
fn prepare_mountpoint(target: &Path) -> anyhow::Result<()> {
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
fn release_mountpoints() {
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

// ---------------------------------------------------------------------------------------------
// Processes.

/// Network namespace inode numbers of the named namespaces (those that still exist).
fn netns_inodes(namespaces: &[String]) -> BTreeSet<u64> {
    namespaces
        .iter()
        .filter_map(|ns| fs::metadata(Path::new("/run/netns").join(ns)).ok())
        .map(|m| m.ino())
        .collect()
}

/// PIDs of processes whose network namespace is one of `inodes` (never this process).
fn processes_in(inodes: &BTreeSet<u64>) -> Vec<u32> {
    if inodes.is_empty() {
        return Vec::new();
    }
    let me = std::process::id();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            fs::read_link(format!("/proc/{pid}/ns/net"))
                .ok()
                .and_then(|l| {
                    let l = l.to_string_lossy().into_owned();
                    l.strip_prefix("net:[")?
                        .strip_suffix(']')?
                        .parse::<u64>()
                        .ok()
                })
                .is_some_and(|ino| inodes.contains(&ino))
        })
        .collect()
}

/// `kill -s KILL -- TARGET...` (PIDs, or `-PGID` for a group). Errors (already gone) ignored.
fn kill(tools: &Tools, targets: &[String]) {
    if targets.is_empty() {
        return;
    }
    let _ = Command::new(&tools.kill)
        .args(["-s", "KILL", "--"])
        .args(targets)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Runs a command to completion; a non-zero exit is an error carrying its stderr.
fn run(cmd: &mut Command) -> anyhow::Result<Output> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", cmd.get_program().display()))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}): {}",
            cmd.get_program().display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

/// `ip [-n NS] [-force] -batch -` with `lines` on stdin.
fn ip_batch(tools: &Tools, netns: Option<&str>, lines: &str, force: bool) -> anyhow::Result<()> {
    let mut cmd = Command::new(&tools.ip);
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    if force {
        cmd.arg("-force");
    }
    cmd.args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().context("running ip -batch")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(lines.as_bytes())
            .context("writing to ip -batch")?;
    }
    let out = child.wait_with_output().context("waiting for ip -batch")?;
    if !out.status.success() {
        bail!(
            "ip -batch failed: {}\nbatch:\n{lines}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
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

fn wait_listening(addr: SocketAddr, deadline: Instant) -> anyhow::Result<()> {
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

/// Runs `cmd` in its own process group with output captured; kills the group at `limit`.
/// Output that a leftover background process keeps open is cut off shortly after `cmd` exits.
fn output_within(cmd: &mut Command, limit: Duration, tools: &Tools) -> anyhow::Result<Output> {
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

// ---------------------------------------------------------------------------------------------
// Small helpers.

/// Locks a mutex, ignoring poisoning: a panicking test must not stop teardown.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn random_hex(len: usize) -> String {
    (0..len)
        .map(|_| char::from(b"0123456789abcdef"[fastrand::usize(..16)]))
        .collect()
}

fn k8s_suffix(len: usize) -> String {
    (0..len)
        .map(|_| char::from(K8S_ALPHABET[fastrand::usize(..K8S_ALPHABET.len())]))
        .collect()
}

fn copy_key(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o600))?;
    let (from_pub, to_pub) = (from.with_extension("pub"), to.with_extension("pub"));
    fs::copy(&from_pub, &to_pub).with_context(|| format!("copying {}", from_pub.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    /// `ssh` (OpenSSH) to a node, trusting only `known_hosts`.
    fn ssh(lab: &Lab, known_hosts: &Path, node: &Node, command: &str) -> Output {
        Command::new("ssh")
            .args(["-F", "/dev/null", "-o", "BatchMode=yes", "-o"])
            .arg("StrictHostKeyChecking=yes")
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
            .args([
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "ConnectTimeout=5",
            ])
            .arg("-i")
            .arg(lab.client_key())
            .arg(format!("root@{}", node.address))
            .arg(command)
            .stdin(Stdio::null())
            .output()
            .expect("run ssh")
    }

    /// A `known_hosts` file built from the nodes' public keys, after checking that each key's
    /// fingerprint is the pin in the inventory. `rotate` gives each node its neighbour's key.
    fn known_hosts_from_pins(lab: &Lab, path: &Path, rotate: bool) {
        let inventory = fs::read_to_string(lab.inventory_path()).expect("inventory");
        let nodes = lab.nodes();
        let mut text = String::new();
        for (i, node) in nodes.iter().enumerate() {
            let key_file = lab.dir().join(format!("pin-{}.pub", node.name));
            fs::write(&key_file, format!("{}\n", node.host_public_key)).expect("write key");
            let printed = Command::new("ssh-keygen")
                .arg("-lf")
                .arg(&key_file)
                .output()
                .expect("ssh-keygen -lf");
            let printed = String::from_utf8_lossy(&printed.stdout);
            assert!(
                printed.contains(&node.host_key),
                "{printed} vs {}",
                node.host_key
            );
            assert!(inventory.contains(&format!("host_key = \"{}\"", node.host_key)));
            let key = &nodes[if rotate { (i + 1) % nodes.len() } else { i }].host_public_key;
            let _ = writeln!(text, "{} {key}", node.address);
        }
        fs::write(path, text).expect("write known_hosts");
    }

    fn sh_ok(lab: &Lab, node: &str, script: &str) -> String {
        let out = lab.sh(node, script).expect("sh");
        assert!(
            out.status.success(),
            "{node}: {script}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if check() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn netns_list() -> String {
        let out = Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip netns");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Asserts a torn-down lab left nothing: namespaces, root veth, processes, directory.
    fn assert_gone(id: &str, namespaces: &[String], veth: &str, pids: &[u32], dir: &Path) {
        let list = netns_list();
        for ns in namespaces {
            assert!(
                !list.contains(ns.as_str()),
                "namespace {ns} left behind:\n{list}"
            );
        }
        assert!(!list.contains(&format!("{NS_PREFIX}{id}")), "{list}");
        assert!(
            !Path::new("/sys/class/net").join(veth).exists(),
            "veth {veth} left behind"
        );
        for pid in pids {
            assert!(
                !Path::new(&format!("/proc/{pid}")).exists(),
                "process {pid} left behind"
            );
        }
        assert!(!dir.exists(), "{} left behind", dir.display());
    }

    #[test]
    fn three_node_lab_end_to_end() {
        let lab = Lab::build(&LabSpec::new(1, 2)).expect("build the lab");
        let pinned = lab.dir().join("test-known-hosts");
        check_inventory_and_ssh(&lab, &pinned);
        check_api_reachable(&lab);
        check_node_local_files(&lab);
        let held_operator = check_block_cuts_established(&lab, &pinned);
        check_systemctl_and_kubelet(&lab);
        check_crictl(&lab);
        check_manifest_restart(&lab);

        // Teardown leaves nothing: namespaces, veth, processes (held connection included), files.
        let recorded = lab.pids();
        assert!(recorded.len() >= 10, "{recorded:?}");
        let (id, namespaces) = (lab.id().to_owned(), lab.namespaces().to_vec());
        let (veth, dir) = (lab.root_interface().to_owned(), lab.dir().to_path_buf());
        assert!(netns_list().contains(&namespaces[0]));
        lab.teardown().expect("teardown");
        assert!(!held_operator.is_alive());
        assert_gone(&id, &namespaces, &veth, &recorded, &dir);
    }

    fn check_inventory_and_ssh(lab: &Lab, pinned: &Path) {
        let cp = lab.node("cp1").expect("cp1");
        let api = cp.api_addr();
        assert_eq!(lab.nodes().len(), 3);
        assert_eq!(lab.nodes_with_role(Role::Worker).len(), 2);
        assert_eq!(lab.api_endpoints(), vec![api]);
        assert!(lab.subnet().contains(&cp.address));

        // The inventory loads with breakglass's own loader and pins every node's key.
        let inventory = crate::inventory::Inventory::load(&lab.inventory_path())
            .expect("the generated inventory loads");
        assert_eq!(inventory.hosts.len(), 3);
        for node in lab.nodes() {
            let host = inventory
                .hosts
                .iter()
                .find(|h| h.name == node.name)
                .expect("host");
            assert_eq!(host.address, IpAddr::V4(node.address));
            assert_eq!(host.host_key.as_deref(), Some(node.host_key.as_str()));
            assert_eq!(
                host.labels.get("role").map(String::as_str),
                Some(node.role.label())
            );
        }
        assert_eq!(inventory.clusters[CLUSTER_NAME].api_endpoints, vec![api]);
        assert_eq!(
            inventory.clusters[CLUSTER_NAME].tls_server_name.as_deref(),
            Some(TLS_SERVER_NAME)
        );

        // Each sshd answers with its pinned key; another node's key is refused.
        known_hosts_from_pins(lab, pinned, false);
        for node in lab.nodes() {
            let out = ssh(lab, pinned, node, "hostname; echo $PATH; ps -e -o comm=");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{}: {}",
                node.name,
                String::from_utf8_lossy(&out.stderr)
            );
            let mut lines = text.lines();
            assert_eq!(lines.next(), Some(node.name.as_str()));
            assert_eq!(lines.next(), Some(NODE_PATH), "stock PATH, stand-ins first");
            let procs: Vec<&str> = lines.collect();
            assert!(
                procs.contains(&"kubelet") && procs.contains(&"sshd"),
                "{procs:?}"
            );
            assert!(
                !procs.contains(&"cargo"),
                "a node sees only its own processes: {procs:?}"
            );
        }
        let rotated = lab.dir().join("test-known-hosts-rotated");
        known_hosts_from_pins(lab, &rotated, true);
        let out = ssh(lab, &rotated, cp, "true");
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Host key verification failed"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn check_api_reachable(lab: &Lab) {
        let cp = lab.node("cp1").expect("cp1");
        let api = cp.api_addr();
        // Workers reach the API stand-in; TLS verifies with the lab CA by IP and by name.
        for worker in ["worker1", "worker2"] {
            let probe = lab
                .tcp_probe(Some(worker), api, Duration::from_secs(2))
                .expect("probe");
            assert_eq!(probe, Probe::Connected, "{worker}");
            let body = sh_ok(
                lab,
                worker,
                &format!(
                    "curl -sS --cacert {NODE_CA} https://{}:6443/readyz",
                    cp.address
                ),
            );
            assert_eq!(body, "ok");
        }
        let out = Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(lab.ca_cert())
            .arg("--resolve")
            .arg(format!("{TLS_SERVER_NAME}:6443:{}", cp.address))
            .arg(format!("https://{TLS_SERVER_NAME}:6443/livez"))
            .output()
            .expect("curl");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "ok",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn check_node_local_files(lab: &Lab) {
        let cp = lab.node("cp1").expect("cp1");
        // Node-local files: only the control plane has the manifest; the host's is untouched.
        let manifest = lab.manifest("cp1").expect("manifest");
        let text = String::from_utf8_lossy(&manifest);
        assert!(
            text.contains("    - --max-requests-inflight=400\n"),
            "{text}"
        );
        assert!(text.contains(&format!("--advertise-address={}", cp.address)));
        let view = sh_ok(
            lab,
            "worker1",
            "ls /sys/class/net; grep -c ' /run/netns' /proc/self/mountinfo || true",
        );
        assert_eq!(
            view, "eth0\nlo\n0\n",
            "the node sees its own interfaces and no other namespace"
        );
        let out = lab
            .sh("worker1", "ls /etc/kubernetes/manifests")
            .expect("sh");
        assert!(out.status.success() && out.stdout.is_empty());
        assert_ne!(
            fs::read("/etc/kubernetes/manifests/kube-apiserver.yaml").ok(),
            Some(manifest)
        );
    }

    /// Returns the operator's held connection, still open, for the teardown check.
    fn check_block_cuts_established(lab: &Lab, pinned: &Path) -> HeldConnection {
        let cp = lab.node("cp1").expect("cp1");
        let api = cp.api_addr();
        // Held connections and kubelet watches are up.
        let held_worker = lab
            .hold_connection(Some("worker1"), api)
            .expect("hold from worker1");
        let held_operator = lab
            .hold_connection(None, api)
            .expect("hold from the operator");
        assert!(held_worker.is_alive() && held_operator.is_alive());
        for node in ["cp1", "worker1", "worker2"] {
            assert!(
                lab.kubelet_running(node).expect("kubelet_running"),
                "{node}"
            );
            assert!(
                eventually(Duration::from_secs(10), || lab
                    .kubelet_watch_connected(node)
                    .expect("watch state")),
                "{node}: kubelet watch never connected"
            );
        }

        // Block 6443 on the control plane for everyone but itself and the operator. The drop
        // comes before the established-connection accept, so held connections are cut too.
        let block = format!(
            "nft -f - <<'EOF'\n\
             table inet breakglass {{\n\
               chain input {{\n\
                 type filter hook input priority filter - 10; policy accept;\n\
                 tcp dport 6443 ip saddr != {{ {}, {} }} drop\n\
                 ct state established,related accept\n\
               }}\n\
             }}\n\
             EOF",
            cp.address,
            lab.operator_address()
        );
        sh_ok(lab, "cp1", &block);
        assert!(sh_ok(lab, "cp1", "nft list ruleset").contains("table inet breakglass"));
        assert!(
            sh_ok(lab, "worker1", "nft list ruleset").is_empty(),
            "firewalls are per node"
        );
        let probe = lab
            .tcp_probe(Some("worker2"), api, Duration::from_secs(1))
            .expect("probe");
        assert_eq!(probe, Probe::TimedOut);
        assert_eq!(
            lab.tcp_probe(None, api, Duration::from_secs(1))
                .expect("probe"),
            Probe::Connected
        );
        assert!(
            held_worker.wait_dead(Duration::from_secs(8)),
            "the worker's watch survived the block"
        );
        assert!(held_operator.is_alive(), "the allowlisted watch was cut");
        assert!(
            eventually(Duration::from_secs(12), || !lab
                .kubelet_watch_connected("worker2")
                .expect("watch state")),
            "worker2's kubelet kept its watch"
        );
        assert!(lab.kubelet_watch_connected("cp1").expect("watch state"));
        let out = ssh(lab, pinned, cp, "hostname");
        assert!(out.status.success(), "SSH must survive the block");
        sh_ok(lab, "cp1", "nft delete table inet breakglass");
        let probe = lab
            .tcp_probe(Some("worker2"), api, Duration::from_secs(2))
            .expect("probe");
        assert_eq!(probe, Probe::Connected);

        held_operator
    }

    fn check_systemctl_and_kubelet(lab: &Lab) {
        // systemctl and the kubelet; PID namespaces keep nodes apart.
        let out = lab
            .sh("worker1", "systemctl is-active kubelet")
            .expect("sh");
        assert_eq!(
            (out.status.code(), out.stdout.as_slice()),
            (Some(0), &b"active\n"[..])
        );
        sh_ok(lab, "worker1", "systemctl stop kubelet");
        let out = lab
            .sh("worker1", "systemctl is-active kubelet")
            .expect("sh");
        assert_eq!(
            (out.status.code(), out.stdout.as_slice()),
            (Some(3), &b"inactive\n"[..])
        );
        assert!(!lab.kubelet_running("worker1").expect("kubelet_running"));
        sh_ok(lab, "worker2", "pkill -x kubelet; sleep 0.2");
        assert!(!lab.kubelet_running("worker2").expect("kubelet_running"));
        assert!(
            lab.kubelet_running("cp1").expect("kubelet_running"),
            "pkill crossed nodes"
        );
        assert_eq!(
            lab.sh("worker1", "systemctl status nosuch")
                .expect("sh")
                .status
                .code(),
            Some(4)
        );
        assert_eq!(
            lab.sh("worker1", "systemctl start nosuch")
                .expect("sh")
                .status
                .code(),
            Some(5)
        );
        sh_ok(
            lab,
            "worker1",
            "systemctl start kubelet && systemctl is-active --quiet kubelet",
        );
        sh_ok(lab, "worker2", "systemctl restart kubelet.service");
        assert!(lab.kubelet_running("worker1").expect("kubelet_running"));
        assert!(lab.kubelet_running("worker2").expect("kubelet_running"));
    }

    fn check_crictl(lab: &Lab) {
        // crictl over the per-node pod state.
        let pods = lab.pods("worker1").expect("pods");
        let telemetry = pods
            .iter()
            .find(|p| p.namespace == "monitoring" && p.name.starts_with("telemetry-agent-"))
            .expect("a telemetry-agent pod")
            .clone();
        assert!(telemetry.ready && pods.len() >= 3);
        let ids = sh_ok(
            lab,
            "worker1",
            "crictl pods --namespace monitoring --name '^telemetry-agent-' -q",
        );
        assert_eq!(ids.trim(), telemetry.id);
        let json = sh_ok(
            lab,
            "worker1",
            "crictl pods --label app=telemetry-agent -o json",
        );
        let parsed: serde_json::Value = serde_json::from_str(&json).expect("crictl json");
        assert_eq!(parsed["items"][0]["id"], telemetry.id.as_str());
        assert_eq!(parsed["items"][0]["state"], "SANDBOX_READY");
        let table = sh_ok(lab, "worker1", "crictl pods");
        assert!(table.starts_with("POD ID"), "{table}");
        assert!(
            table.contains(&telemetry.id[..13]) && table.contains("hours ago"),
            "{table}"
        );
        let out = lab
            .sh("worker1", &format!("crictl rmp {}", telemetry.id))
            .expect("sh");
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("please stop it first"));
        let stopped = sh_ok(
            lab,
            "worker1",
            &format!("crictl stopp {}", &telemetry.id[..12]),
        );
        assert_eq!(
            stopped.trim(),
            format!("Stopped sandbox {}", &telemetry.id[..12])
        );
        let notready = sh_ok(lab, "worker1", "crictl pods --state notready -q");
        assert_eq!(notready.trim(), telemetry.id);
        sh_ok(lab, "worker1", &format!("crictl rmp {}", telemetry.id));
        assert!(
            lab.pods("worker1")
                .expect("pods")
                .iter()
                .all(|p| p.id != telemetry.id)
        );
        assert!(
            lab.pods("worker2")
                .expect("pods")
                .iter()
                .any(|p| p.name.starts_with("telemetry-agent-"))
        );
        let seeded = lab
            .seed_pods(
                "worker1",
                &[PodSpec::new("monitoring", "telemetry-agent-zz9xq")
                    .label("app", "telemetry-agent")],
            )
            .expect("seed");
        let ids = sh_ok(lab, "worker1", "crictl pods -q --label app=telemetry-agent");
        assert_eq!(ids.trim(), seeded[0].id);
        sh_ok(lab, "worker1", "systemctl stop containerd");
        let out = lab.sh("worker1", "crictl pods").expect("sh");
        assert_eq!(
            out.status.code(),
            Some(1),
            "crictl fails while the runtime is down"
        );
        sh_ok(
            lab,
            "worker1",
            "systemctl start containerd && crictl pods -q",
        );
    }

    fn check_manifest_restart(lab: &Lab) {
        let api = lab.api_endpoints()[0];
        // The API stand-in restarts with new flags when its manifest changes.
        sh_ok(
            lab,
            "cp1",
            "sed -i 's/--max-requests-inflight=400/--max-requests-inflight=800/' \
             /etc/kubernetes/manifests/kube-apiserver.yaml",
        );
        let log = lab
            .node_file("cp1", "/run/breakglass-lab/kube-apiserver.log")
            .expect("path");
        assert!(
            eventually(Duration::from_secs(5), || fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("--max-requests-inflight=800")),
            "the stand-in did not pick up the new manifest"
        );
        assert!(eventually(Duration::from_secs(5), || lab
            .tcp_probe(None, api, Duration::from_secs(1))
            .expect("probe")
            == Probe::Connected));
    }

    #[test]
    fn two_labs_built_in_parallel_do_not_collide() {
        let spec = LabSpec {
            control_planes: 1,
            workers: 1,
            default_pods: false,
            start_kubelets: false,
        };
        let builders: Vec<_> = (0..2)
            .map(|_| {
                let spec = spec.clone();
                thread::spawn(move || Lab::build(&spec).expect("build a lab"))
            })
            .collect();
        let labs: Vec<Lab> = builders
            .into_iter()
            .map(|h| h.join().expect("builder"))
            .collect();
        let (a, b) = (&labs[0], &labs[1]);
        assert_ne!(a.id(), b.id());
        assert_ne!(a.subnet(), b.subnet());
        assert!(a.namespaces().iter().all(|ns| !b.namespaces().contains(ns)));
        for lab in &labs {
            let cp = lab.node("cp1").expect("cp1");
            let probe = lab.tcp_probe(Some("worker1"), cp.api_addr(), Duration::from_secs(2));
            assert_eq!(probe.expect("probe"), Probe::Connected);
            let pinned = lab.dir().join("test-known-hosts");
            known_hosts_from_pins(lab, &pinned, false);
            let out = ssh(lab, &pinned, cp, "hostname");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!lab.kubelet_running("worker1").expect("kubelet_running"));
            assert!(lab.pods("worker1").expect("pods").is_empty());
        }
        // Separate bridges: a node of one lab has no route into the other.
        let other = b.node("cp1").expect("cp1").api_addr();
        let probe = a
            .tcp_probe(Some("worker1"), other, Duration::from_secs(1))
            .expect("probe");
        assert!(matches!(probe, Probe::Unreachable(_)), "{probe:?}");
        let gone: Vec<_> = labs
            .iter()
            .map(|l| {
                (
                    l.id().to_owned(),
                    l.namespaces().to_vec(),
                    l.root_interface().to_owned(),
                    l.pids(),
                    l.dir().to_path_buf(),
                )
            })
            .collect();
        for lab in labs {
            lab.teardown().expect("teardown");
        }
        for (id, namespaces, veth, pids, dir) in gone {
            assert_gone(&id, &namespaces, &veth, &pids, &dir);
        }
    }

    #[test]
    fn cleanup_stale_removes_a_crashed_labs_leftovers() {
        require_root().expect("the lab tests run as root");
        // A lab whose owner died: its directory, hub namespace, root veth and a process inside.
        let id = random_hex(ID_LEN);
        let dir = Path::new(STATE_ROOT).join(&id);
        let mut dead = Command::new("true").spawn().expect("spawn true");
        let owner = owner_record(dead.id()).expect("owner record");
        dead.wait().expect("reap true");
        // Set up under the lock `cleanup_stale` takes, so a concurrent test's cleanup cannot
        // remove the half-built stale lab under our feet.
        let lock = GlobalLock::acquire().expect("lock");
        create_private_dir(&dir).expect("lab dir");
        fs::write(dir.join("owner"), owner).expect("owner");
        let hub = format!("{NS_PREFIX}{id}-hub");
        let veth = format!("{IF_PREFIX}{id}");
        let status = Command::new("ip")
            .args(["netns", "add", &hub])
            .status()
            .expect("ip");
        assert!(status.success());
        let status = Command::new("ip")
            .args([
                "link", "add", &veth, "type", "veth", "peer", "name", "up", "netns", &hub,
            ])
            .status()
            .expect("ip");
        assert!(status.success());
        let mut sleeper = Command::new("ip")
            .args(["netns", "exec", &hub, "sleep", "600"])
            .spawn()
            .expect("sleep in the namespace");
        assert!(eventually(Duration::from_secs(5), || !processes_in(
            &netns_inodes(std::slice::from_ref(&hub))
        )
        .is_empty()));
        drop(lock);

        // A live lab (this process owns it) is left alone.
        let live = Lab::build(&LabSpec::new(1, 0)).expect("build a live lab");
        Lab::cleanup_stale().expect("cleanup");
        let status = sleeper.wait().expect("reap the sleeper");
        assert_eq!(
            status.signal(),
            Some(9),
            "the process in the stale namespace was killed"
        );
        assert_gone(&id, &[hub], &veth, &[], &dir);
        assert!(
            netns_list().contains(&live.namespaces()[0]),
            "a live lab was removed"
        );
        assert!(
            live.tcp_probe(None, live.api_endpoints()[0], Duration::from_secs(2))
                .expect("probe")
                == Probe::Connected
        );
    }

    /// `(exit code, stdout, stderr)` of a script on a node.
    fn sh_out(lab: &Lab, node: &str, script: &str) -> (Option<i32>, String, String) {
        let out = lab.sh(node, script).expect("sh");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[test]
    fn a_node_posing_as_systemd_runs_transient_timers() {
        let lab = Lab::build(&LabSpec {
            control_planes: 1,
            workers: 1,
            default_pods: false,
            start_kubelets: false,
        })
        .expect("build the lab");
        let arm = "systemd-run --unit=t1 --on-active=30s --timer-property=AccuracySec=1s \
                   --description='a long one' /bin/sh -c 'touch /tmp/t1-ran'";
        let (code, _, err) = sh_out(&lab, "cp1", arm);
        assert_eq!(code, Some(1), "armed a timer without systemd as PID 1");
        assert!(err.contains("not been booted with systemd"), "{err}");

        lab.pose_as_systemd("cp1").expect("cp1 poses as systemd");
        assert_eq!(sh_ok(&lab, "cp1", "cat /proc/1/comm"), "systemd\n");
        assert_ne!(sh_ok(&lab, "worker1", "cat /proc/1/comm"), "systemd\n");
        assert_eq!(
            sh_out(&lab, "cp1", arm),
            (
                Some(0),
                String::new(),
                "Running timer as unit: t1.timer\nWill run service as unit: t1.service\n".into()
            )
        );
        assert_eq!(
            sh_out(&lab, "cp1", "systemctl is-active t1.timer").0,
            Some(0)
        );
        assert_eq!(
            sh_out(&lab, "worker1", "systemctl is-active t1.timer"),
            (Some(3), "inactive\n".into(), String::new()),
            "a timer of cp1 is visible on worker1"
        );
        let list = "systemctl list-units --no-legend --plain --state=active 't*.timer'";
        let listed = sh_ok(&lab, "cp1", list);
        assert_eq!(
            listed.split_whitespace().collect::<Vec<_>>(),
            [
                "t1.timer", "loaded", "active", "waiting", "a", "long", "one"
            ],
            "{listed}"
        );
        let (code, _, err) = sh_out(&lab, "cp1", arm);
        assert_eq!(code, Some(1), "armed the same unit twice");
        assert!(err.contains("Unit t1.timer was already loaded"), "{err}");

        assert_eq!(sh_out(&lab, "cp1", "systemctl stop t1.timer").0, Some(0));
        assert_eq!(
            sh_out(&lab, "cp1", "systemctl is-active --quiet t1.timer"),
            (Some(3), String::new(), String::new())
        );
        let (code, _, err) = sh_out(&lab, "cp1", "systemctl stop t1.timer");
        assert_eq!(code, Some(5), "{err}");
        assert!(err.contains("Unit t1.timer not loaded"), "{err}");
        assert_eq!(sh_ok(&lab, "cp1", list), "");
        assert!(
            sh_ok(&lab, "cp1", "pgrep -f '[b]reakglass-lab-timer' || true").is_empty(),
            "the stopped timer's process is still there"
        );

        // A short one fires, in the service's environment rather than the caller's.
        let armed = Instant::now();
        assert_eq!(
            sh_out(
                &lab,
                "cp1",
                "cd /tmp && FOO=caller systemd-run --quiet --unit=t2 --on-active=1 \
                 --timer-property=AccuracySec=100ms /bin/sh -c \
                 'echo \"${FOO-unset} $(pwd) $(umask)\" > /tmp/t2-ran'"
            ),
            (Some(0), String::new(), String::new())
        );
        let ran = lab.node_file("cp1", "/tmp/t2-ran").expect("node path");
        assert!(
            eventually(Duration::from_secs(10), || ran.exists()),
            "the timer did not fire"
        );
        assert!(
            armed.elapsed() >= Duration::from_secs(1),
            "fired after {:?}, before --on-active=1",
            armed.elapsed()
        );
        assert!(eventually(Duration::from_secs(5), || {
            sh_out(&lab, "cp1", "systemctl is-active t2.timer").0 == Some(3)
        }));
        assert_eq!(fs::read_to_string(&ran).expect("read"), "unset / 0022\n");
        assert!(!lab.node_file("cp1", "/tmp/t1-ran").expect("path").exists());
    }

    #[test]
    fn missing_programs_name_their_packages() {
        let missing = find_programs(&[PathBuf::from("/nonexistent")]).expect_err("nothing found");
        assert_eq!(missing.len(), PREREQUISITES.len());
        let message = missing_message(&missing);
        assert!(
            message.contains("missing ip (iproute2), nft (nftables), sshd (openssh-server)"),
            "{message}"
        );
        assert!(
            message.contains("apt-get install -y iproute2 nftables openssh-server"),
            "{message}"
        );
        let err = Tools::find_in(&[]).expect_err("no tools");
        assert!(err.to_string().contains("python3 (python3)"), "{err}");
    }

    #[test]
    fn lab_ids_are_read_from_namespace_names() {
        assert_eq!(lab_id_of_netns("bglab-0a1b2c-worker3"), Some("0a1b2c"));
        assert_eq!(lab_id_of_netns("bglab-0a1b2c-hub"), Some("0a1b2c"));
        assert_eq!(lab_id_of_netns("bglab-xyz-hub"), None);
        assert_eq!(lab_id_of_netns("other-0a1b2c-hub"), None);
    }
}
