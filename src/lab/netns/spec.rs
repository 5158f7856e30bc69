//! [`LabSpec`]: how big a lab to build, and whether its nodes start with pods and kubelets.
//! Plain data: building is `build.rs`.

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
    /// Give the API server stand-ins a real etcd (Debian's `etcd`, on `cp1`, client certificates
    /// required, as kubeadm's) and create the reference incident's `monitoring/telemetry-agent`
    /// `DaemonSet` through the API. The kubelet stand-ins then follow it: each runs the
    /// `DaemonSet`'s pod while the object exists and selects its node, restarts it when it is
    /// killed, and removes it once the object is gone or paused. Without it the API servers have
    /// no objects (the network-level tests need none) and the seeded pods stay as seeded.
    pub api_objects: bool,
    /// The reference incident, ready to inject (implies `api_objects`): the API servers model
    /// load (a LIST costs work per object returned, two CPUs shared, a queue before 429, and a
    /// `/readyz` that fails while saturated; `--lab-*` flags in their manifests, stats in
    /// `/run/breakglass-lab/apiserver-stats.json`), and every node's agent runner
    /// (`standins/lab-agents.py`) hammers its API server for each ready telemetry-agent pod.
    /// The `DaemonSet` is not created at build and no telemetry-agent pod is seeded:
    /// [`Lab::inject_incident`](super::Lab::inject_incident) creates it.
    pub incident: bool,
    /// Put the workers in this many Auto Scaling groups of a real `moto_server` (the lab's
    /// cloud, `cloud.rs`), named in the inventory's `[clusters.lab.aws]`; 0 (default): none.
    /// [`NodeGroupController`](super::NodeGroupController) then stops and starts workers as
    /// the groups' capacity changes.
    pub node_groups: usize,
    /// Workers per network namespace (default 1). Above 1 is the scale mode: several workers
    /// share a namespace (and its nftables and conntrack), each still with its own address on
    /// the shared `eth0`, sshd listening on that address, host key, UTS, mount and PID
    /// namespaces, and state, so SSH fan-out, allowlists on the control planes, waves and
    /// folding see one host per node. Control planes always have a namespace of their own
    /// (firewall steps act on their ruleset).
    pub nodes_per_namespace: usize,
}

impl Default for LabSpec {
    fn default() -> LabSpec {
        LabSpec {
            control_planes: 1,
            workers: 2,
            default_pods: true,
            start_kubelets: true,
            api_objects: false,
            incident: false,
            node_groups: 0,
            nodes_per_namespace: 1,
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
