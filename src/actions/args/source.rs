//! The arguments of the actions that remove a workload at its source: through the Kubernetes
//! API (`workload.pause`, `workload.delete`, `workload.scale`) or in etcd itself
//! (`etcd.delete`).

use serde::{Deserialize, Serialize};

use super::ArgProblem;

/// `etcd.delete`: delete Kubernetes objects' keys in etcd itself, for when no API server
/// answers. Each key is deleted in a transaction guarded by the `mod_revision` read in the
/// snapshot (a key that changed since is refused, not deleted); the snapshot is the raw value,
/// and undo puts it back only while the key is still absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdDelete {
    /// Exact keys, e.g. `/registry/daemonsets/monitoring/telemetry-agent`.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Every key under this prefix, e.g. `/registry/pods/monitoring/`; needs `max_keys`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// The most keys `prefix` may hold: with more, nothing is deleted.
    #[serde(default)]
    pub max_keys: Option<usize>,
    /// The inventory cluster whose etcd holds the keys. Default: the runbook's `cluster`.
    #[serde(default)]
    pub cluster: Option<String>,
}

/// `workload.pause`: stop a `DaemonSet` everywhere through the API, reversibly: its pod template's
/// `nodeSelector` gets a label no node has (`breakglass.io/paused: RUN`), so the controller
/// itself removes its pods from every node and creates none. Undo removes exactly that label.
/// The first choice for the reference incident's telemetry agent: nothing is deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadPause {
    /// The `DaemonSet`'s namespace.
    pub namespace: String,
    /// The `DaemonSet`'s name.
    pub name: String,
    /// The inventory cluster whose API servers to use. Default: the runbook's `cluster`.
    #[serde(default)]
    pub cluster: Option<String>,
}

impl WorkloadPause {
    pub(super) fn validate(&self) -> Vec<ArgProblem> {
        names_problems(&self.namespace, &self.name)
    }
}

/// The kinds of workload `workload.delete` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkloadKind {
    DaemonSet,
    Deployment,
    StatefulSet,
    Job,
    CronJob,
}

impl WorkloadKind {
    /// API group/version and resource: `apps/v1` `daemonsets`.
    pub fn resource(self) -> (&'static str, &'static str) {
        match self {
            WorkloadKind::DaemonSet => ("apps/v1", "daemonsets"),
            WorkloadKind::Deployment => ("apps/v1", "deployments"),
            WorkloadKind::StatefulSet => ("apps/v1", "statefulsets"),
            WorkloadKind::Job => ("batch/v1", "jobs"),
            WorkloadKind::CronJob => ("batch/v1", "cronjobs"),
        }
    }
}

/// What happens to a deleted object's dependents (its pods):
/// kubernetes.io/docs/concepts/architecture/garbage-collection/#cascading-deletion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PropagationPolicy {
    /// The object goes now; the garbage collector removes its pods after.
    #[default]
    Background,
    /// The object stays (being deleted) until its pods are gone.
    Foreground,
    /// The pods stay, ownerless.
    Orphan,
}

/// `workload.delete`: delete a workload through the API, with preconditions on the uid and
/// resourceVersion the snapshot read, so it deletes the object it looked at and nothing newer.
/// The snapshot is the whole object; undo re-creates it without its server-set fields (status,
/// uid, resourceVersion, managedFields, ...) as a new object (its pods are not brought back by
/// undo; its controller makes new ones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadDelete {
    /// `DaemonSet`, `Deployment`, `StatefulSet`, `Job` or `CronJob`.
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    /// `Background` (default), `Foreground` or `Orphan`.
    #[serde(default)]
    pub propagation_policy: PropagationPolicy,
    /// The inventory cluster whose API servers to use. Default: the runbook's `cluster`.
    #[serde(default)]
    pub cluster: Option<String>,
}

impl WorkloadDelete {
    pub(super) fn validate(&self) -> Vec<ArgProblem> {
        names_problems(&self.namespace, &self.name)
    }
}

/// The kinds `workload.scale` scales (through the `scale` subresource).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScalableKind {
    Deployment,
    StatefulSet,
}

/// `workload.scale`: set a Deployment's or `StatefulSet`'s replicas through its `scale`
/// subresource; undo sets the count the snapshot read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadScale {
    /// `Deployment` or `StatefulSet`.
    pub kind: ScalableKind,
    pub namespace: String,
    pub name: String,
    /// The replica count to set (0 stops every pod).
    pub replicas: u32,
    /// The inventory cluster whose API servers to use. Default: the runbook's `cluster`.
    #[serde(default)]
    pub cluster: Option<String>,
}

impl WorkloadScale {
    pub(super) fn validate(&self) -> Vec<ArgProblem> {
        let mut problems = names_problems(&self.namespace, &self.name);
        if self.replicas > 10_000 {
            problems.push(ArgProblem::at(
                "replicas",
                format!("{} replicas is more than any recovery needs", self.replicas),
            ));
        }
        problems
    }
}

/// `workload.check`: that a workload's object is gone or paused at its source, through the API,
/// else (no API server answering) in etcd: a `DaemonSet` gone or carrying the pause label, a
/// `Deployment` or `StatefulSet` gone or at 0 replicas, a `Job` or `CronJob` gone. Reads only;
/// a failed check fails the step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadCheck {
    /// `DaemonSet` (default), `Deployment`, `StatefulSet`, `Job` or `CronJob`.
    #[serde(default = "daemonset")]
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    /// The inventory cluster whose API servers (and etcd) to read. Default: the runbook's
    /// `cluster`.
    #[serde(default)]
    pub cluster: Option<String>,
}

fn daemonset() -> WorkloadKind {
    WorkloadKind::DaemonSet
}

impl WorkloadCheck {
    pub(super) fn validate(&self) -> Vec<ArgProblem> {
        names_problems(&self.namespace, &self.name)
    }
}

fn names_problems(namespace: &str, name: &str) -> Vec<ArgProblem> {
    let mut problems = Vec::new();
    for (field, value) in [("namespace", namespace), ("name", name)] {
        if !is_dns_label_or_subdomain(value) {
            problems.push(ArgProblem::at(
                field,
                format!(
                    "`{value}` is not a Kubernetes name (lowercase letters, digits, `-` and `.`)"
                ),
            ));
        }
    }
    problems
}

/// RFC 1123 subdomain, as Kubernetes names are: lowercase alphanumerics, `-` and `.`, at most
/// 253 characters, starting and ending with an alphanumeric.
fn is_dns_label_or_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

/// The most keys one prefix delete may name: a bound, not a goal.
pub const MAX_PREFIX_KEYS: usize = 10_000;

impl EtcdDelete {
    pub(super) fn validate(&self) -> Vec<ArgProblem> {
        let mut problems = Vec::new();
        if self.keys.is_empty() && self.prefix.is_none() {
            problems.push(ArgProblem::whole(
                "name the `keys` to delete, or a `prefix` with `max_keys`",
            ));
        }
        for key in &self.keys {
            if let Err(m) = registry_path(key) {
                problems.push(ArgProblem::at("keys", format!("`{key}`: {m}")));
            } else if key.ends_with('/') {
                problems.push(ArgProblem::at(
                    "keys",
                    format!(
                        "`{key}` ends with `/`: that is a prefix; use `prefix` with `max_keys`"
                    ),
                ));
            }
        }
        match (&self.prefix, self.max_keys) {
            (Some(prefix), max) => {
                if let Err(m) = registry_path(prefix) {
                    problems.push(ArgProblem::at("prefix", format!("`{prefix}`: {m}")));
                } else if !prefix.ends_with('/') || prefix.matches('/').count() < 4 {
                    problems.push(ArgProblem::at(
                        "prefix",
                        format!(
                            "`{prefix}` must name a resource and a namespace and end with `/`, \
                             e.g. `/registry/pods/monitoring/`"
                        ),
                    ));
                }
                match max {
                    None => problems.push(ArgProblem::at(
                        "max_keys",
                        "a prefix delete needs `max_keys`: the most keys it may delete (it \
                         deletes nothing when the prefix holds more)",
                    )),
                    Some(n) if n == 0 || n > MAX_PREFIX_KEYS => problems.push(ArgProblem::at(
                        "max_keys",
                        format!("{n} is not between 1 and {MAX_PREFIX_KEYS}"),
                    )),
                    Some(_) => {}
                }
            }
            (None, Some(_)) => problems.push(ArgProblem::at(
                "max_keys",
                "`max_keys` bounds a `prefix`, and there is none",
            )),
            (None, None) => {}
        }
        problems
    }
}

/// A key (or prefix) a Kubernetes object can live at, and one whose value may be journaled.
fn registry_path(path: &str) -> Result<(), String> {
    if !path.starts_with("/registry/") || path.len() <= "/registry/".len() {
        return Err(
            "Kubernetes keeps its objects under `/registry/`; nothing else is touched".into(),
        );
    }
    if path.starts_with("/registry/secrets/") {
        // The snapshot journals the value so undo can put it back: a Secret must never reach
        // the journal.
        return Err("Secrets are refused: their values would be written to the journal".into());
    }
    if path.contains("//") || path.contains("/../") || path.contains(char::is_whitespace) {
        return Err("not a plain key".into());
    }
    Ok(())
}
