//! [`PodNetwork`]: a pod's own network namespace on a lab node, wired the way a routing CNI
//! (Calico, flannel's host-gw) wires one: a veth pair from the pod to the node, the node
//! forwarding (`ip_forward=1` in its namespace) and a route to the pod's /32 on every other
//! node. A pod's packets to the API endpoints then cross the node's forward hook, not its
//! output hook, as a `DaemonSet`'s do on a real worker; tests use it to see what an egress
//! firewall on the node does to them.
//!
//! The pod's namespace is the lab's (`bglab-ID-NODE-podN`), so teardown and
//! [`Lab::cleanup_stale`] remove it with the others. Programs in the pod run in its node's mount,
//! UTS and PID namespaces (the node's files and stand-ins) with the pod's network:
//! [`Lab::node_command`] takes the pod network's name where it takes a node's. Pod addresses
//! are 10.244.0.N/32, outside the lab's /24 and seen nowhere but inside the lab's namespaces
//! (the root namespace has no route to them: the operator cannot reach a pod).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use anyhow::{Context, bail};

use super::network::ip_batch;
use super::{Lab, NS_PREFIX};

/// A pod network namespace on a node ([`Lab::add_pod_network`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNetwork {
    /// `worker1-pod1`: what [`Lab::node_command`], [`Lab::sh`], [`Lab::tcp_probe`] and
    /// [`Lab::hold_connection`] take to run in the pod.
    pub name: String,
    /// The node it lives on (and routes through).
    pub node: String,
    /// Its network namespace (`ip netns`).
    pub netns: String,
    pub address: Ipv4Addr,
}

impl PodNetwork {
    /// `/run/netns/NETNS`, for `nsenter --net=`.
    pub(super) fn netns_path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.netns)
    }
}

impl Lab {
    /// Adds a pod network namespace on `node`, routed through it (see the module docs), and
    /// returns it. The node forwards from now on.
    pub fn add_pod_network(&mut self, node: &str) -> anyhow::Result<PodNetwork> {
        let host = self.node_or_err(node)?.clone();
        let n = self.pod_networks.len() + 1;
        let Ok(last) = u8::try_from(n + 1) else {
            bail!("lab {} has no pod address left for {node}", self.id);
        };
        let name = format!("{node}-pod{n}");
        let pod = PodNetwork {
            netns: format!("{NS_PREFIX}{}-{name}", self.id),
            name,
            node: node.to_owned(),
            address: Ipv4Addr::new(10, 244, 0, last),
        };
        // Record the namespace first: if wiring fails halfway, teardown still removes it.
        self.namespaces.push(pod.netns.clone());
        let veth = format!("pod{n}");
        let (addr, via) = (pod.address, host.address);
        ip_batch(
            &self.tools,
            None,
            &format!(
                "netns add {ns}\nlink add {veth} netns {node_ns} type veth peer name eth0 netns {ns}\n",
                ns = pod.netns,
                node_ns = host.netns
            ),
            false,
        )
        .with_context(|| format!("creating pod network {}", pod.name))?;
        // The pod reaches the node's address on its veth (the node answers ARP for any of its
        // addresses) and the lab's /24 through it: no default route, as everywhere in the lab.
        ip_batch(
            &self.tools,
            Some(&pod.netns),
            &format!(
                "link set lo up\nlink set eth0 up\naddr add {addr}/32 dev eth0\n\
                 route add {via}/32 dev eth0\nroute add {} via {via} dev eth0\n",
                self.subnet()
            ),
            false,
        )
        .with_context(|| format!("addressing pod network {}", pod.name))?;
        ip_batch(
            &self.tools,
            Some(&host.netns),
            &format!("link set {veth} up\nroute add {addr}/32 dev {veth}\n"),
            false,
        )
        .with_context(|| format!("routing pod network {} on {node}", pod.name))?;
        let out = self.sh(node, "echo 1 > /proc/sys/net/ipv4/ip_forward")?;
        if !out.status.success() {
            bail!(
                "turning forwarding on in {node}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        // One route per other namespace: in the scale mode several nodes share one, and the
        // pod's own node's namespace already routes it through the veth.
        let mut routed = std::collections::BTreeSet::from([host.netns.as_str()]);
        for other in &self.nodes {
            if !routed.insert(other.netns.as_str()) {
                continue;
            }
            ip_batch(
                &self.tools,
                Some(&other.netns),
                &format!("route add {addr}/32 via {via}\n"),
                false,
            )
            .with_context(|| format!("routing pod network {} from {}", pod.name, other.name))?;
        }
        self.pod_networks.push(pod.clone());
        Ok(pod)
    }

    /// The pod network named `name`, if [`Lab::add_pod_network`] made one.
    pub(super) fn pod_network(&self, name: &str) -> Option<&PodNetwork> {
        self.pod_networks.iter().find(|p| p.name == name)
    }
}
