//! A fleet of Kubernetes-like nodes in network namespaces, for real-kernel tests and
//! `breakglass drill --lab`: real `sshd` and `nft` per node, real TCP between nodes, and
//! stand-ins for the Kubernetes programs this machine cannot run.
//!
//! Topology of one lab (`ID` is 6 random hex digits, `X` a free /24 chosen under a lock; a lab
//! of more than 245 nodes takes an aligned /23 or /22 from `X` on):
//!
//! ```text
//! root namespace                 hub namespace bglab-ID-hub        node namespace bglab-ID-NAME
//!  bglabID 10.231.X.1/24 <veth> up-ID --+                          (net + mount + UTS + PID)
//!  (the operator address)               br-ID <-- nI-ID <veth> eth0 10.231.X.(10+I)/24
//! ```
//!
//! In the scale mode ([`LabSpec::nodes_per_namespace`] above 1) several workers share one
//! namespace `bglab-ID-wgN` and its `eth0`, each with its own address on it (and its own sshd
//! on that address, UTS, mount and PID namespaces).
//!
//! The bridge lives in its own namespace so the host's forwarding policy cannot interfere.
//! Nothing has a default route and nothing is translated (no NAT): no packet can leave the subnet.
//!
//! Each node is `nsenter --net=NS unshare --uts --mount --pid --fork --kill-child --mount-proc`
//! running `standins/node-init.sh`, which bind-mounts the node's private directories
//! (`/etc/kubernetes`, `/var/lib/breakglass`, `/tmp`, `/run`, a plain `~/.bashrc`, and the lab's
//! stand-ins over `/usr/local/bin`), starts `sshd` (own ed25519 host key, pinned in the
//! generated inventory), the API server stand-in on control planes, the containerd and kubelet
//! stand-ins, and then becomes the node's PID 1 (`standins/lab-init.sh`, a reaper). A PID
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

use std::collections::BTreeSet;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, anyhow, bail};

use self::held_connection::Helpers;
use self::network::{netns_inodes, processes_in};
use self::tools::Tools;

// One concern per file. Building: spec.rs (what to build), build.rs (in what order), network.rs
// (namespaces, veths, the subnet), node.rs (one node and its sshd), standins.rs (the stand-ins'
// files), objects.rs (etcd and the API objects), pods.rs (the crictl stand-in's pods),
// users.rs (non-root logins), pod_network.rs (a pod's own network namespace on a node).
// Using a lab: shell.rs (commands on a node), probe.rs and held_connection.rs (what a firewall
// lets through). Taking it down: teardown.rs, with lock.rs, owner.rs and mountpoints.rs for what
// labs of all processes share under /run/breakglass-lab, and tools.rs for the host programs.
mod build;
mod cloud;
mod held_connection;
mod lock;
mod mountpoints;
mod network;
mod node;
mod objects;
mod owner;
mod pod_network;
mod pods;
mod probe;
mod shell;
mod spec;
mod standins;
mod statefs;
mod teardown;
#[cfg(test)]
mod tests;
mod tools;
mod users;

pub use cloud::{AWS_PROFILE, LabNodeGroup, NodeGroupController};
pub use held_connection::HeldConnection;
pub use node::{Node, Role};
pub use objects::{ETCD_PORT, WORKLOAD_KEY, WORKLOAD_NAME, WORKLOAD_NAMESPACE};
pub use owner::{LabInfo, list_labs};
pub use pod_network::PodNetwork;
pub use pods::{Pod, PodSpec};
pub use probe::Probe;
pub use spec::LabSpec;
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
/// Lab subnets are 10.231.X.0/24 (or a /23 or /22 from X on, for labs above 245 nodes).
const NET_A: u8 = 10;
const NET_B: u8 = 231;
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

/// A built lab. Torn down by [`Lab::teardown`] or on drop.
#[derive(Debug)]
pub struct Lab {
    id: String,
    dir: PathBuf,
    /// The subnet's first third octet, and its prefix length (24, 23 or 22).
    octet: u8,
    prefix: u8,
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
    /// What the lab was built from, and each node's plan: to start a stopped node again.
    spec: LabSpec,
    plans: Vec<node::NodePlan>,
    /// moto and the node groups, when [`LabSpec::node_groups`] asked for them.
    cloud: Option<cloud::Cloud>,
    /// The pod networks [`Lab::add_pod_network`] made.
    pod_networks: Vec<PodNetwork>,
}

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
        self.host_address(1)
    }

    /// 10.231.X.0/24 (/23, /22 for the biggest labs).
    pub fn subnet(&self) -> ipnet::Ipv4Net {
        ipnet::Ipv4Net::new(self.host_address(0), self.prefix).unwrap_or_default()
    }

    /// The subnet's address number `host` (0 is the network's own).
    pub(super) fn host_address(&self, host: u16) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(Ipv4Addr::new(NET_A, NET_B, self.octet, 0)) + u32::from(host))
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

    /// Host PIDs of every process the lab runs: the node inits' parents and everything inside
    /// the lab's network namespaces.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids: BTreeSet<u32> = lock(&self.inits).iter().map(Child::id).collect();
        pids.extend(lock(&self.helpers).keys());
        pids.extend(processes_in(&netns_inodes(&self.namespaces)));
        pids.into_iter().collect()
    }
}

/// Locks a mutex, ignoring poisoning: a panicking test must not stop teardown.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn random_hex(len: usize) -> String {
    (0..len)
        .map(|_| char::from(b"0123456789abcdef"[fastrand::usize(..16)]))
        .collect()
}

fn copy_key(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o600))?;
    let (from_pub, to_pub) = (from.with_extension("pub"), to.with_extension("pub"));
    fs::copy(&from_pub, &to_pub).with_context(|| format!("copying {}", from_pub.display()))?;
    Ok(())
}
