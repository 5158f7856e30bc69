//! Pods on lab nodes: [`PodSpec`] to seed, [`Pod`] as the `crictl` stand-in reports it, and the
//! stand-in's state file (`pods.json`, in `crictl pods -o json` shape) that the lab and the
//! stand-in both edit under the same `flock`.
//!
//! Only the state file changes here; `crictl` on the node is what stops and removes pods.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::lock::FileLock;
use super::node::Role;
use super::{Lab, NODE_STATE, random_hex};

/// Kubernetes' random name suffix alphabet (no vowels, no confusable digits).
const K8S_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

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

impl Lab {
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
}

/// One pod in the `crictl` stand-in's state file, in `crictl pods -o json` shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Sandbox {
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

pub(super) fn new_sandbox(spec: &PodSpec) -> Sandbox {
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

pub(super) fn default_pods(node: &str, role: Role) -> Vec<PodSpec> {
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

pub(super) fn write_pods(state: &Path, items: &[Sandbox]) -> anyhow::Result<()> {
    let path = state.join("pods.json");
    let tmp = state.join("pods.json.tmp");
    let text = serde_json::to_string_pretty(&serde_json::json!({ "items": items }))?;
    fs::write(&tmp, text + "\n").with_context(|| format!("writing {}", tmp.display()))?;
    // Rename: crictl readers see the old or the new file, never half of one.
    fs::rename(&tmp, &path).with_context(|| format!("replacing {}", path.display()))
}

fn k8s_suffix(len: usize) -> String {
    (0..len)
        .map(|_| char::from(K8S_ALPHABET[fastrand::usize(..K8S_ALPHABET.len())]))
        .collect()
}
