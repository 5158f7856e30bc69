//! The lab's API objects ([`LabSpec::api_objects`](super::LabSpec)): a real etcd member on
//! every control plane (Debian's `etcd`, client certificates required, kubeadm's file names under
//! `/etc/kubernetes/pki/etcd/`), the API server stand-ins keeping their objects in it, and the
//! reference incident's `DaemonSet` created through the API once every node is up. The kubelet
//! stand-ins follow that object (`standins/kubelet.py`), so killing its pods on the nodes does
//! not hold while it exists and selects them, as in a real cluster.
//!
//! Stacked etcd, as kubeadm lays it out: one member per control plane, peering over the lab
//! network (plain HTTP on 2380: the lab's peers are namespaces of one machine), each API
//! server using its own node's member through loopback. One control plane, one member; three,
//! a cluster that keeps quorum with one of them down.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::build::FIRST_NODE_HOST;
use super::node::Role;
use super::{API_PORT, Lab, LabSpec};
use crate::lab::apiserver::{Response, curl};
use crate::lab::etcd::Etcdctl;
use crate::lab::pki;

/// etcd's client port (kubeadm's).
pub const ETCD_PORT: u16 = 2379;
/// The reference incident's workload: `monitoring/telemetry-agent`, a `DaemonSet` on every node.
pub const WORKLOAD_NAMESPACE: &str = "monitoring";
pub const WORKLOAD_NAME: &str = "telemetry-agent";
/// The etcd key the API server stand-in keeps that `DaemonSet` under.
pub const WORKLOAD_KEY: &str = "/registry/daemonsets/monitoring/telemetry-agent";

/// etcd's configuration on each control plane (`etcd --config-file`, etcd 3.4's YAML keys);
/// the node-side paths are kubeadm's.
const ETCD_CONFIG: &str = "\
name: {{NAME}}
data-dir: /run/breakglass-lab/etcd
listen-client-urls: https://{{ADDRESS}}:2379,https://127.0.0.1:2379
advertise-client-urls: https://{{ADDRESS}}:2379
listen-peer-urls: http://{{ADDRESS}}:2380
initial-advertise-peer-urls: http://{{ADDRESS}}:2380
initial-cluster: {{CLUSTER}}
initial-cluster-token: breakglass-lab
initial-cluster-state: new
# The v3 JSON gateway the API server stand-in uses: on by default with flags, off with a
# config file unless asked for.
enable-grpc-gateway: true
client-transport-security:
  cert-file: /etc/kubernetes/pki/etcd/server.crt
  key-file: /etc/kubernetes/pki/etcd/server.key
  client-cert-auth: true
  trusted-ca-file: /etc/kubernetes/pki/etcd/ca.crt
";

/// How long etcd and the API may take to answer after the nodes are up.
const OBJECTS_TIMEOUT: Duration = Duration::from_secs(30);

impl Lab {
    /// `DIR/etcd/`: etcd's CA, the members' server certificate (every member's address and
    /// loopback) and one client certificate, used by the API servers and by the operator (the
    /// inventory's `etcd_cert_file`).
    pub(super) fn write_etcd_pki(&self, members: &[(String, Ipv4Addr)]) -> anyhow::Result<()> {
        let dir = self.etcd_dir();
        fs::create_dir_all(&dir)?;
        let sans: Vec<String> = members.iter().map(|(_, a)| format!("IP:{a}")).collect();
        pki::certificates(
            &dir,
            &pki::Names {
                ca: "/CN=etcd-ca",
                server: "/CN=etcd",
                server_sans: &format!("{}, IP:127.0.0.1, DNS:localhost", sans.join(", ")),
                server_is_client: true,
                client: "/O=system:masters/CN=kube-apiserver-etcd-client",
            },
        )
        .context("creating the lab's etcd certificates")
    }

    /// A control plane's etcd files in its `/etc/kubernetes` (`kube`): the CA, the API
    /// server's client certificate, the member's server certificate and `etcd.conf.yml`,
    /// which `node-init.sh` starts etcd with.
    pub(super) fn write_etcd_node_files(
        &self,
        kube: &Path,
        name: &str,
        address: Ipv4Addr,
        members: &[(String, Ipv4Addr)],
    ) -> anyhow::Result<()> {
        let runs_etcd = members.iter().any(|(n, _)| n == name);
        let src = self.etcd_dir();
        let pki = kube.join("pki");
        fs::create_dir_all(pki.join("etcd"))?;
        let mut copies = vec![
            ("ca.crt", pki.join("etcd/ca.crt")),
            ("client.crt", pki.join("apiserver-etcd-client.crt")),
            ("client.key", pki.join("apiserver-etcd-client.key")),
        ];
        if runs_etcd {
            copies.push(("server.crt", pki.join("etcd/server.crt")));
            copies.push(("server.key", pki.join("etcd/server.key")));
            fs::write(
                kube.join("etcd.conf.yml"),
                ETCD_CONFIG
                    .replace("{{NAME}}", name)
                    .replace("{{ADDRESS}}", &address.to_string())
                    .replace(
                        "{{CLUSTER}}",
                        &members
                            .iter()
                            .map(|(n, a)| format!("{n}=http://{a}:2380"))
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
            )?;
        }
        for (from, to) in copies {
            fs::copy(src.join(from), &to).with_context(|| format!("copying {from}"))?;
        }
        Ok(())
    }

    /// Once every node is up: waits until etcd answers.
    pub(super) fn wait_for_etcd(&self) -> anyhow::Result<()> {
        let etcd = self.etcdctl().context("the lab has no etcd")?;
        let deadline = Instant::now() + OBJECTS_TIMEOUT;
        loop {
            match etcd.run(&["endpoint", "health"], None) {
                Ok(out) if out.status.success() => return Ok(()),
                Ok(_) | Err(_) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(100));
                }
                Ok(out) => bail!(
                    "etcd on cp1 ({}) is not healthy {}s after the lab started (is Debian's \
                     etcd-server installed?): {}\nits log on the node: {}",
                    etcd.endpoint,
                    OBJECTS_TIMEOUT.as_secs(),
                    String::from_utf8_lossy(&out.stderr).trim(),
                    self.node_file("cp1", "/run/breakglass-lab/etcd.log")
                        .map(|p| fs::read_to_string(p).unwrap_or_default())
                        .unwrap_or_default()
                ),
                Err(e) => return Err(e),
            }
        }
    }

    /// Creates the workload's `DaemonSet` through the first API server (retrying while the
    /// API server starts).
    pub(super) fn create_daemonset(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + OBJECTS_TIMEOUT;
        let daemonset = serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {
                "name": WORKLOAD_NAME,
                "namespace": WORKLOAD_NAMESPACE,
                "labels": {"app": WORKLOAD_NAME},
            },
            "spec": {
                "selector": {"matchLabels": {"app": WORKLOAD_NAME}},
                "template": {
                    "metadata": {"labels": {"app": WORKLOAD_NAME}},
                    "spec": {
                        "containers": [{
                            "name": "agent",
                            "image": "registry.example/telemetry-agent:1.4.2",
                        }],
                        "tolerations": [{"operator": "Exists"}],
                    },
                },
            },
        });
        let path = format!("/apis/apps/v1/namespaces/{WORKLOAD_NAMESPACE}/daemonsets");
        let body = daemonset.to_string();
        loop {
            let r = self.api_request("POST", &path, Some(("application/json", &body)));
            match r {
                Ok(r) if r.code == 201 => return Ok(()),
                Ok(_) | Err(_) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(100));
                }
                Ok(r) => bail!("creating the lab's DaemonSet: {} {}", r.code, r.body),
                Err(e) => return Err(e.context("creating the lab's DaemonSet")),
            }
        }
    }

    /// The reference incident, on a lab built with
    /// [`LabSpec::incident`](super::LabSpec): creates the telemetry-agent `DaemonSet` through
    /// the API; the kubelets start its pods and every pod's agent starts listing Nodes.
    pub fn inject_incident(&self) -> anyhow::Result<()> {
        self.create_daemonset()
    }

    /// The API server stand-in's stats on a control plane (`--lab-stats-file`): request and
    /// 429 counts, and over the last second p50/p99, errors, 429s and requests in flight.
    pub fn api_stats(&self, node: &str) -> anyhow::Result<serde_json::Value> {
        let path = self.node_file(node, "/run/breakglass-lab/apiserver-stats.json")?;
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// `etcdctl` for the lab's etcd with the operator's client certificate (None without
    /// [`LabSpec::api_objects`](super::LabSpec)).
    pub fn etcdctl(&self) -> Option<Etcdctl> {
        let dir = self.etcd_dir();
        Some(Etcdctl {
            endpoint: self.etcd_endpoint()?,
            ca_file: dir.join("ca.crt"),
            cert_file: dir.join("client.crt"),
            key_file: dir.join("client.key"),
        })
    }

    /// etcd's client endpoint on cp1, when the lab has one.
    pub fn etcd_endpoint(&self) -> Option<SocketAddr> {
        self.etcd_endpoints().into_iter().next()
    }

    /// Every member's client endpoint (one per control plane), when the lab has etcd.
    pub fn etcd_endpoints(&self) -> Vec<SocketAddr> {
        if !self.etcd_dir().join("client.crt").exists() {
            return Vec::new();
        }
        self.nodes_with_role(Role::ControlPlane)
            .iter()
            .map(|n| SocketAddr::from((n.address, ETCD_PORT)))
            .collect()
    }

    /// `METHOD path` on the first API server from the operator's address (anonymous: the lab's
    /// API servers have no token file), through `curl`, not the crate's client.
    pub fn api_request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &str)>,
    ) -> anyhow::Result<Response> {
        let cp1 = self
            .nodes_with_role(Role::ControlPlane)
            .first()
            .copied()
            .context("the lab has no control plane")?;
        let url = format!("https://{}:{API_PORT}{path}", cp1.address);
        curl(&url, self.ca_cert(), &[], method, body)
    }

    /// The etcd members (every control plane: name and address), when the lab is built with
    /// API objects.
    pub(super) fn etcd_members(&self, spec: &LabSpec) -> Vec<(String, Ipv4Addr)> {
        if !spec.api_objects {
            return Vec::new();
        }
        (0..spec.control_planes)
            .map(|i| {
                let host = FIRST_NODE_HOST + u16::try_from(i).unwrap_or(0);
                (format!("cp{}", i + 1), self.host_address(host))
            })
            .collect()
    }

    pub(super) fn etcd_dir(&self) -> PathBuf {
        self.dir.join("etcd")
    }
}
