//! [`Lab::build`]: the order of a build (stale labs removed, the owner recorded, subnet and
//! network claimed under the global lock, the stand-ins' files, the nodes started in parallel,
//! then the inventory), and the plan of node names and addresses decided before any thread runs.
//!
//! A build that fails halfway leaves nothing behind: the [`Lab`] exists from right after its
//! owner record, and dropping it half-built tears down whatever was built (`teardown.rs`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use anyhow::{Context, bail};

use super::lock::{GlobalLock, create_private_dir};
use super::mountpoints::prepare_mountpoint;
use super::network::{choose_octet, prefix_for};
use super::node::{NodePlan, Role};
use super::owner::owner_record;
use super::statefs::mount_state;
use super::teardown::cleanup_stale;
use super::tools::{Tools, require_root};
use super::{
    CLUSTER_NAME, ID_LEN, IF_PREFIX, Lab, LabSpec, NS_PREFIX, PRIVATE_DIRS, STATE_ROOT,
    TLS_SERVER_NAME, copy_key, lock, random_hex,
};
use crate::lab::sshd::SshdLab;
use crate::transport::ssh::host_pattern;

pub(super) const FIRST_NODE_HOST: u16 = 10;
/// The most nodes a lab holds: a /22 from [`FIRST_NODE_HOST`] on, its broadcast address left.
const MAX_NODES: usize = (1 << 10) - 1 - FIRST_NODE_HOST as usize;
/// Upper bound on concurrent node setups (each runs a handful of short processes).
const SETUP_THREADS: usize = 16;

impl Lab {
    /// Builds the lab: namespaces, bridge, one sshd and the stand-ins per node, the inventory.
    /// Needs root and the programs listed in the error when one is missing. Also removes what
    /// crashed earlier runs left behind ([`Lab::cleanup_stale`]).
    pub fn build(spec: &LabSpec) -> anyhow::Result<Lab> {
        let spec = &LabSpec {
            api_objects: spec.api_objects || spec.incident,
            ..spec.clone()
        };
        let total = spec.control_planes + spec.workers;
        if spec.control_planes == 0 {
            bail!("a lab needs at least one control-plane node (its kubelets watch one)");
        }
        let Some(prefix) = prefix_for(usize::from(FIRST_NODE_HOST) + total) else {
            bail!("a lab holds at most {MAX_NODES} nodes (one /22), not {total}");
        };
        if spec.nodes_per_namespace == 0 {
            bail!("nodes per namespace must be at least 1");
        }
        check_memory(total)?;
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
            if let Err(e) = mount_state(&tools, &dir) {
                let _ = fs::remove_dir(&dir);
                return Err(e);
            }
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
            prefix,
            namespaces: Vec::new(),
            nodes: Vec::new(),
            inits: Mutex::new(Vec::new()),
            helpers: Arc::new(Mutex::new(BTreeMap::new())),
            tools,
            users: Vec::new(),
            torn_down: false,
            spec: spec.clone(),
            plans: Vec::new(),
            cloud: None,
            pod_networks: Vec::new(),
        };
        let plans = lab.plan(spec);
        lab.plans.clone_from(&plans);
        {
            let _lock = GlobalLock::acquire()?;
            lab.octet = choose_octet(&lab.tools, prefix)?;
            fs::write(lab.dir.join("subnet"), format!("{}/{prefix}\n", lab.octet))
                .context("recording the lab's subnet")?;
            for (_, target) in PRIVATE_DIRS {
                prepare_mountpoint(Path::new(target))?;
            }
            lab.create_network(&plans)?;
        }
        lab.start_cloud(spec.node_groups, &plans)?;
        lab.install_files()?;
        let members = lab.etcd_members(spec);
        if !members.is_empty() {
            lab.write_etcd_pki(&members)?;
        }
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
        if spec.api_objects {
            lab.wait_for_etcd()?;
            if !spec.incident {
                lab.create_daemonset()?;
            }
        }
        Ok(lab)
    }

    fn plan(&self, spec: &LabSpec) -> Vec<NodePlan> {
        let mut plans = Vec::new();
        let names = (1..=spec.control_planes)
            .map(|i| (format!("cp{i}"), Role::ControlPlane))
            .chain((1..=spec.workers).map(|i| (format!("worker{i}"), Role::Worker)));
        let per_ns = spec.nodes_per_namespace.max(1);
        for (index, (name, role)) in names.enumerate() {
            // `build` bounds the node count: every host number fits the subnet.
            let host = FIRST_NODE_HOST + u16::try_from(index).unwrap_or(u16::MAX / 2);
            let cp_index = u16::try_from(index % spec.control_planes).unwrap_or(0);
            let netns = match role {
                Role::Worker if per_ns > 1 => {
                    let group = (index - spec.control_planes) / per_ns + 1;
                    format!("{NS_PREFIX}{}-wg{group}", self.id)
                }
                _ => format!("{NS_PREFIX}{}-{name}", self.id),
            };
            plans.push(NodePlan {
                index,
                netns,
                name,
                role,
                host,
                api_server_host: FIRST_NODE_HOST + cp_index,
            });
        }
        plans
    }

    fn write_inventory(&self) -> anyhow::Result<()> {
        let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
        let path_str = |p: &Path| q(&p.to_string_lossy());
        let mut text = format!(
            "# Generated by breakglass lab {id} (src/lab/netns/build.rs); removed at teardown.\n\
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
        let etcd = self.etcdctl();
        if let Some(etcd) = &etcd {
            let _ = write!(
                text,
                "etcd_endpoints = [{}]\netcd_ca_file = {}\netcd_cert_file = {}\netcd_key_file = {}\n",
                self.etcd_endpoints()
                    .iter()
                    .map(|e| q(&e.to_string()))
                    .collect::<Vec<_>>()
                    .join(", "),
                path_str(&etcd.ca_file),
                path_str(&etcd.cert_file),
                path_str(&etcd.key_file),
            );
        }
        if let Some(aws) = self.aws_inventory_table(CLUSTER_NAME) {
            text.push_str(&aws);
        }
        let mut known_hosts = String::new();
        for node in &self.nodes {
            let group = self
                .node_group_of(&node.name)
                .map(|g| format!(", node_group = {}", q(&g.name)))
                .unwrap_or_default();
            let _ = write!(
                text,
                "\n[[hosts]]\nname = {}\naddress = {}\ncluster = {}\nlabels = {{ role = {}{group} }}\n\
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
}

/// What one node costs in memory with the incident running (its sshd, kubelet, agent runner,
/// init and containerd stand-ins): a 501-node drill in the scale mode used 11.5 GiB more than
/// the idle machine, 23 MiB per node, with a Python init; the shell init saves about 3.5 MiB
/// of that.
const NODE_MEMORY: u64 = 20 << 20;

/// Refuses a lab this machine cannot hold (`MemAvailable` in `/proc/meminfo`), before anything
/// is built: a thousand nodes need about 24 GiB.
fn check_memory(nodes: usize) -> anyhow::Result<()> {
    let Some(available) = fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    }) else {
        return Ok(());
    };
    let need = NODE_MEMORY * nodes as u64;
    if need > available / 10 * 9 {
        bail!(
            "a lab of {nodes} nodes needs about {} MiB of memory ({} MiB per node); this machine \
             has {} MiB available: build fewer nodes",
            need >> 20,
            NODE_MEMORY >> 20,
            available >> 20
        );
    }
    Ok(())
}
