//! Typed arguments of every action kind: the `with` table of a runbook step, one struct per kind.
//!
//! These structs are the runbook reference: their doc comments say what each argument means and
//! its default. Each rejects unknown fields, so a typo in a runbook is an error rather than a
//! setting silently ignored during an incident. They are plain data: nothing here touches a host,
//! the network or a file. Checks serde cannot express (ranges, formats, one field against
//! another) live in [`ActionArgs::validate`], which names the field each problem belongs to so
//! the runbook loader can point at its line.

mod cloud;
mod firewall;
mod source;
mod values;

pub use cloud::{
    ApiserversScale, CloudFirewallBlock, CloudFirewallOn, CloudFirewallUnblock, EKS_TIERS,
    NodesScale, ScaleTo,
};

pub use firewall::{
    Direction, FirewallBackend, FirewallBlock, FirewallUnblock, REVERT_AFTER_HARD_LIMITS,
};
pub use source::{
    EtcdDelete, MAX_PREFIX_KEYS, PropagationPolicy, ScalableKind, WorkloadCheck, WorkloadDelete,
    WorkloadKind, WorkloadPause, WorkloadScale,
};
pub use values::{duration, parse_cidr};
use values::{flag_values, struct_fields};

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::de;
use serde::{Deserialize, Serialize};

/// The kinds of action a step names in `action = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ActionKind {
    #[serde(rename = "ssh.exec")]
    SshExec,
    #[serde(rename = "firewall.block")]
    FirewallBlock,
    #[serde(rename = "firewall.unblock")]
    FirewallUnblock,
    #[serde(rename = "nodes.quiesce")]
    NodesQuiesce,
    #[serde(rename = "nodes.unquiesce")]
    NodesUnquiesce,
    #[serde(rename = "apiservers.tune")]
    ApiserversTune,
    #[serde(rename = "workload.kill")]
    WorkloadKill,
    #[serde(rename = "wait.healthy")]
    WaitHealthy,
    #[serde(rename = "pause")]
    Pause,
    #[serde(rename = "etcd.delete")]
    EtcdDelete,
    #[serde(rename = "workload.pause")]
    WorkloadPause,
    #[serde(rename = "workload.delete")]
    WorkloadDelete,
    #[serde(rename = "workload.scale")]
    WorkloadScale,
    #[serde(rename = "workload.check")]
    WorkloadCheck,
    #[serde(rename = "nodes.scale")]
    NodesScale,
    #[serde(rename = "apiservers.scale")]
    ApiserversScale,
    #[serde(rename = "cloud.firewall.block")]
    CloudFirewallBlock,
    #[serde(rename = "cloud.firewall.unblock")]
    CloudFirewallUnblock,
}

impl ActionKind {
    /// Every kind, in the order the reference documents them.
    pub const ALL: [Self; 18] = [
        Self::SshExec,
        Self::FirewallBlock,
        Self::FirewallUnblock,
        Self::NodesQuiesce,
        Self::NodesUnquiesce,
        Self::ApiserversTune,
        Self::WorkloadKill,
        Self::WaitHealthy,
        Self::Pause,
        Self::EtcdDelete,
        Self::WorkloadPause,
        Self::WorkloadDelete,
        Self::WorkloadScale,
        Self::WorkloadCheck,
        Self::NodesScale,
        Self::ApiserversScale,
        Self::CloudFirewallBlock,
        Self::CloudFirewallUnblock,
    ];

    /// The name used in runbooks, plans and the journal.
    pub fn name(self) -> &'static str {
        match self {
            Self::SshExec => "ssh.exec",
            Self::FirewallBlock => "firewall.block",
            Self::FirewallUnblock => "firewall.unblock",
            Self::NodesQuiesce => "nodes.quiesce",
            Self::NodesUnquiesce => "nodes.unquiesce",
            Self::ApiserversTune => "apiservers.tune",
            Self::WorkloadKill => "workload.kill",
            Self::WaitHealthy => "wait.healthy",
            Self::Pause => "pause",
            Self::EtcdDelete => "etcd.delete",
            Self::WorkloadPause => "workload.pause",
            Self::WorkloadDelete => "workload.delete",
            Self::WorkloadScale => "workload.scale",
            Self::WorkloadCheck => "workload.check",
            Self::NodesScale => "nodes.scale",
            Self::ApiserversScale => "apiservers.scale",
            Self::CloudFirewallBlock => "cloud.firewall.block",
            Self::CloudFirewallUnblock => "cloud.firewall.unblock",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether the action runs on hosts chosen by the step's `targets` (over SSH).
    /// `wait.healthy` and `pause` run once, from the operator's machine, and `etcd.delete` on
    /// the keys it names: they take no targets.
    pub fn takes_targets(self) -> bool {
        !matches!(
            self,
            Self::WaitHealthy
                | Self::Pause
                | Self::EtcdDelete
                | Self::WorkloadPause
                | Self::WorkloadDelete
                | Self::WorkloadScale
                | Self::WorkloadCheck
                | Self::NodesScale
                | Self::ApiserversScale
                | Self::CloudFirewallBlock
                | Self::CloudFirewallUnblock
        )
    }

    /// The kinds whose targets are the cloud resources the inventory names for a cluster.
    pub fn acts_on_cloud_resources(self) -> bool {
        matches!(
            self,
            Self::NodesScale
                | Self::ApiserversScale
                | Self::CloudFirewallBlock
                | Self::CloudFirewallUnblock
        )
    }

    /// Whether a step of this kind asks for the typed cluster name unless the runbook says
    /// `confirm = false`: the kinds that hurt if aimed at the wrong cluster. The restoring kinds
    /// (`firewall.unblock`, `nodes.unquiesce`) do not, so recovery is never slowed by a prompt.
    pub fn confirm_by_default(self) -> bool {
        matches!(
            self,
            Self::FirewallBlock
                | Self::NodesQuiesce
                | Self::ApiserversTune
                | Self::WorkloadKill
                | Self::EtcdDelete
                | Self::WorkloadPause
                | Self::WorkloadDelete
                | Self::WorkloadScale
                | Self::NodesScale
                | Self::ApiserversScale
                | Self::CloudFirewallBlock
        )
    }

    /// Whether the kind can serve as a step's `gate`: a check that changes nothing.
    pub fn can_gate(self) -> bool {
        matches!(self, Self::WaitHealthy | Self::SshExec)
    }

    /// The argument names the kind accepts in `with`, taken from its struct so they cannot drift.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Self::SshExec => struct_fields::<SshExec>(),
            Self::FirewallBlock => struct_fields::<FirewallBlock>(),
            Self::FirewallUnblock => struct_fields::<FirewallUnblock>(),
            Self::NodesQuiesce | Self::NodesUnquiesce => struct_fields::<NodesQuiesce>(),
            Self::ApiserversTune => struct_fields::<ApiserversTune>(),
            Self::WorkloadKill => struct_fields::<WorkloadKill>(),
            Self::WaitHealthy => struct_fields::<WaitHealthy>(),
            Self::Pause => struct_fields::<Pause>(),
            Self::EtcdDelete => struct_fields::<EtcdDelete>(),
            Self::WorkloadPause => struct_fields::<WorkloadPause>(),
            Self::WorkloadDelete => struct_fields::<WorkloadDelete>(),
            Self::WorkloadScale => struct_fields::<WorkloadScale>(),
            Self::WorkloadCheck => struct_fields::<WorkloadCheck>(),
            Self::NodesScale => struct_fields::<NodesScale>(),
            Self::ApiserversScale => struct_fields::<ApiserversScale>(),
            Self::CloudFirewallBlock => struct_fields::<CloudFirewallBlock>(),
            Self::CloudFirewallUnblock => struct_fields::<CloudFirewallUnblock>(),
        }
    }

    /// Arguments whose strings are shell commands run on the target: a `${param}` inside them is
    /// substituted shell-quoted, so a parameter value can never become shell syntax.
    pub fn shell_fields(self) -> &'static [&'static str] {
        match self {
            Self::SshExec => &["command"],
            Self::NodesQuiesce | Self::NodesUnquiesce => &["stop_commands", "start_commands"],
            _ => &[],
        }
    }

    /// Deserialize a `with` table (parameters already substituted) into this kind's arguments.
    /// The error is serde's message, e.g. "unknown field `x`, expected ...".
    pub fn parse_args(self, with: toml::Value) -> Result<ActionArgs, String> {
        fn typed<T: de::DeserializeOwned>(with: toml::Value) -> Result<T, String> {
            with.try_into::<T>().map_err(|e| e.message().to_owned())
        }
        Ok(match self {
            Self::SshExec => ActionArgs::SshExec(typed(with)?),
            Self::FirewallBlock => ActionArgs::FirewallBlock(typed(with)?),
            Self::FirewallUnblock => ActionArgs::FirewallUnblock(typed(with)?),
            Self::NodesQuiesce => ActionArgs::NodesQuiesce(typed(with)?),
            Self::NodesUnquiesce => ActionArgs::NodesUnquiesce(typed(with)?),
            Self::ApiserversTune => ActionArgs::ApiserversTune(typed(with)?),
            Self::WorkloadKill => ActionArgs::WorkloadKill(typed(with)?),
            Self::WaitHealthy => ActionArgs::WaitHealthy(typed(with)?),
            Self::Pause => ActionArgs::Pause(typed(with)?),
            Self::EtcdDelete => ActionArgs::EtcdDelete(typed(with)?),
            Self::WorkloadPause => ActionArgs::WorkloadPause(typed(with)?),
            Self::WorkloadDelete => ActionArgs::WorkloadDelete(typed(with)?),
            Self::WorkloadScale => ActionArgs::WorkloadScale(typed(with)?),
            Self::WorkloadCheck => ActionArgs::WorkloadCheck(typed(with)?),
            Self::NodesScale => ActionArgs::NodesScale(typed(with)?),
            Self::ApiserversScale => ActionArgs::ApiserversScale(typed(with)?),
            Self::CloudFirewallBlock => ActionArgs::CloudFirewallBlock(typed(with)?),
            Self::CloudFirewallUnblock => ActionArgs::CloudFirewallUnblock(typed(with)?),
        })
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A step's typed arguments, tagged by kind. Serialized as `{"action": "...", "with": {...}}`
/// so the journal records exactly what ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", content = "with")]
pub enum ActionArgs {
    #[serde(rename = "ssh.exec")]
    SshExec(SshExec),
    #[serde(rename = "firewall.block")]
    FirewallBlock(FirewallBlock),
    #[serde(rename = "firewall.unblock")]
    FirewallUnblock(FirewallUnblock),
    #[serde(rename = "nodes.quiesce")]
    NodesQuiesce(NodesQuiesce),
    #[serde(rename = "nodes.unquiesce")]
    NodesUnquiesce(NodesQuiesce),
    #[serde(rename = "apiservers.tune")]
    ApiserversTune(ApiserversTune),
    #[serde(rename = "workload.kill")]
    WorkloadKill(WorkloadKill),
    #[serde(rename = "wait.healthy")]
    WaitHealthy(WaitHealthy),
    #[serde(rename = "pause")]
    Pause(Pause),
    #[serde(rename = "etcd.delete")]
    EtcdDelete(EtcdDelete),
    #[serde(rename = "workload.pause")]
    WorkloadPause(WorkloadPause),
    #[serde(rename = "workload.delete")]
    WorkloadDelete(WorkloadDelete),
    #[serde(rename = "workload.scale")]
    WorkloadScale(WorkloadScale),
    #[serde(rename = "workload.check")]
    WorkloadCheck(WorkloadCheck),
    #[serde(rename = "nodes.scale")]
    NodesScale(NodesScale),
    #[serde(rename = "apiservers.scale")]
    ApiserversScale(ApiserversScale),
    #[serde(rename = "cloud.firewall.block")]
    CloudFirewallBlock(CloudFirewallBlock),
    #[serde(rename = "cloud.firewall.unblock")]
    CloudFirewallUnblock(CloudFirewallUnblock),
}

/// One problem found by [`ActionArgs::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgProblem {
    /// The argument at fault, or `None` when the problem is the combination.
    pub field: Option<&'static str>,
    pub message: String,
}

impl ArgProblem {
    fn at(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field),
            message: message.into(),
        }
    }

    fn whole(message: impl Into<String>) -> Self {
        Self {
            field: None,
            message: message.into(),
        }
    }
}

impl ActionArgs {
    pub fn kind(&self) -> ActionKind {
        match self {
            Self::SshExec(_) => ActionKind::SshExec,
            Self::FirewallBlock(_) => ActionKind::FirewallBlock,
            Self::FirewallUnblock(_) => ActionKind::FirewallUnblock,
            Self::NodesQuiesce(_) => ActionKind::NodesQuiesce,
            Self::NodesUnquiesce(_) => ActionKind::NodesUnquiesce,
            Self::ApiserversTune(_) => ActionKind::ApiserversTune,
            Self::WorkloadKill(_) => ActionKind::WorkloadKill,
            Self::WaitHealthy(_) => ActionKind::WaitHealthy,
            Self::Pause(_) => ActionKind::Pause,
            Self::EtcdDelete(_) => ActionKind::EtcdDelete,
            Self::WorkloadPause(_) => ActionKind::WorkloadPause,
            Self::WorkloadDelete(_) => ActionKind::WorkloadDelete,
            Self::WorkloadScale(_) => ActionKind::WorkloadScale,
            Self::WorkloadCheck(_) => ActionKind::WorkloadCheck,
            Self::NodesScale(_) => ActionKind::NodesScale,
            Self::ApiserversScale(_) => ActionKind::ApiserversScale,
            Self::CloudFirewallBlock(_) => ActionKind::CloudFirewallBlock,
            Self::CloudFirewallUnblock(_) => ActionKind::CloudFirewallUnblock,
        }
    }

    /// Every problem serde could not catch. Empty means the arguments are usable.
    pub fn validate(&self) -> Vec<ArgProblem> {
        match self {
            Self::SshExec(a) => a.validate(),
            Self::FirewallBlock(a) => a.validate(),
            Self::FirewallUnblock(a) => a.validate(),
            Self::NodesQuiesce(a) | Self::NodesUnquiesce(a) => a.validate(),
            Self::ApiserversTune(a) => a.validate(),
            Self::WorkloadKill(a) => a.validate(),
            Self::WaitHealthy(a) => a.validate(),
            Self::Pause(a) => a.validate(),
            Self::EtcdDelete(a) => a.validate(),
            Self::WorkloadPause(a) => a.validate(),
            Self::WorkloadDelete(a) => a.validate(),
            Self::WorkloadScale(a) => a.validate(),
            Self::WorkloadCheck(a) => a.validate(),
            Self::NodesScale(a) => a.validate(),
            Self::ApiserversScale(a) => a.validate(),
            Self::CloudFirewallBlock(a) => a.validate(),
            Self::CloudFirewallUnblock(a) => a.validate(),
        }
    }

    /// Arguments holding inventory selectors, as (field, selector text), so the loader can parse
    /// them with the inventory's grammar (this module does not depend on the inventory).
    pub fn selectors(&self) -> Vec<(&'static str, &str)> {
        match self {
            Self::FirewallBlock(FirewallBlock {
                allow_targets: Some(s),
                ..
            }) => vec![("allow_targets", s.as_str())],
            _ => Vec::new(),
        }
    }
}

/// `ssh.exec`: run a command on every target with the remote user's shell.
///
/// Also usable as a `gate` (it must then be read-only: it runs again at every wave boundary).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshExec {
    /// The command line, passed to the remote shell. A `${param}` inside it is shell-quoted.
    pub command: String,
    /// Whether running the command twice is harmless. Default false: a command that may have
    /// started (the connection dropped after it was sent) is not retried, so it runs at most once.
    #[serde(default)]
    pub idempotent: bool,
}

impl SshExec {
    fn validate(&self) -> Vec<ArgProblem> {
        let mut problems = Vec::new();
        if self.command.trim().is_empty() {
            problems.push(ArgProblem::at("command", "the command is empty"));
        }
        problems
    }
}

/// The default commands of `nodes.quiesce` (in this order) and `nodes.unquiesce` (reversed).
const STOP_KUBELET: &str = "systemctl stop kubelet";
const STOP_RUNTIME: &str = "systemctl stop containerd";
const START_RUNTIME: &str = "systemctl start containerd";
const START_KUBELET: &str = "systemctl start kubelet";

/// `nodes.quiesce` / `nodes.unquiesce`: stop (and later restart) the kubelet, and optionally the
/// container runtime, on the targets: the reversible way to shed API load without deleting
/// machines. Running pods keep running; stopping them is `workload.kill`'s job.
///
/// Both kinds take the same arguments so a runbook can copy one block to the other, and each is
/// the other's inverse for `undo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodesQuiesce {
    /// Also stop the container runtime (containerd) after the kubelet. Default false.
    #[serde(default)]
    pub stop_runtime: bool,
    /// Commands that quiesce a node, run in order; for distributions that differ.
    /// Default `["systemctl stop kubelet"]` (plus `systemctl stop containerd` with `stop_runtime`).
    #[serde(default)]
    pub stop_commands: Option<Vec<String>>,
    /// Commands that bring a node back, run in order.
    /// Default `["systemctl start kubelet"]` (preceded by `systemctl start containerd` with `stop_runtime`).
    #[serde(default)]
    pub start_commands: Option<Vec<String>>,
}

impl NodesQuiesce {
    /// The commands that quiesce a node, defaults applied.
    pub fn stop_commands(&self) -> Vec<String> {
        if let Some(commands) = &self.stop_commands {
            return commands.clone();
        }
        let mut commands = vec![STOP_KUBELET.to_owned()];
        if self.stop_runtime {
            commands.push(STOP_RUNTIME.to_owned());
        }
        commands
    }

    /// The commands that bring a node back, defaults applied (runtime first, then the kubelet).
    pub fn start_commands(&self) -> Vec<String> {
        if let Some(commands) = &self.start_commands {
            return commands.clone();
        }
        let mut commands = Vec::new();
        if self.stop_runtime {
            commands.push(START_RUNTIME.to_owned());
        }
        commands.push(START_KUBELET.to_owned());
        commands
    }

    fn validate(&self) -> Vec<ArgProblem> {
        let mut problems = Vec::new();
        for (field, commands) in [
            ("stop_commands", &self.stop_commands),
            ("start_commands", &self.start_commands),
        ] {
            match commands {
                Some(c) if c.is_empty() => problems.push(ArgProblem::at(
                    field,
                    "an empty list would do nothing; omit it for the default",
                )),
                Some(c) if c.iter().any(|c| c.trim().is_empty()) => {
                    problems.push(ArgProblem::at(field, "a command is empty"));
                }
                _ => {}
            }
        }
        if self.stop_runtime && (self.stop_commands.is_some() || self.start_commands.is_some()) {
            // stop_runtime only changes the defaults; with explicit commands it would be ignored,
            // and a setting that is silently ignored is a trap during an incident.
            problems.push(ArgProblem::at(
                "stop_runtime",
                "`stop_runtime` only changes the default commands; with `stop_commands` or \
                 `start_commands`, list the runtime commands there instead",
            ));
        }
        problems
    }
}

/// `apiservers.tune`: change flags of the kube-apiserver static pod manifest on each target; the
/// kubelet restarts the API server with them. The file is backed up, written atomically and read
/// back; `undo` restores it byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiserversTune {
    /// The manifest on the target. Default `/etc/kubernetes/manifests/kube-apiserver.yaml`.
    #[serde(default = "default_manifest")]
    pub manifest: PathBuf,
    /// Flags to set (added when absent), e.g. `"--max-requests-inflight" = "1200"`.
    /// Values may be strings, integers or booleans.
    #[serde(default, deserialize_with = "flag_values")]
    pub set: BTreeMap<String, String>,
    /// Flags to remove, e.g. `["--enable-priority-and-fairness"]`.
    #[serde(default)]
    pub remove: Vec<String>,
}

impl ApiserversTune {
    fn validate(&self) -> Vec<ArgProblem> {
        let mut problems = Vec::new();
        if !self.manifest.is_absolute() {
            problems.push(ArgProblem::at(
                "manifest",
                format!(
                    "`{}` is not an absolute path on the target",
                    self.manifest.display()
                ),
            ));
        }
        if self.set.is_empty() && self.remove.is_empty() {
            problems.push(ArgProblem::whole(
                "nothing to change: give `set` or `remove`",
            ));
        }
        for (flag, value) in &self.set {
            if !is_flag(flag) {
                problems.push(ArgProblem::at("set", flag_problem(flag)));
            }
            if INFLIGHT_FLAGS.contains(&flag.as_str()) && !value.parse::<u32>().is_ok_and(|n| n > 0)
            {
                problems.push(ArgProblem::at(
                    "set",
                    format!(
                        "`{flag}` = `{value}` is not a positive whole number: a negative limit                          stops the API server, and 0 removes the limit"
                    ),
                ));
            }
            // The value lands in a YAML file: a control character (a newline above all) could
            // add lines to the manifest instead of setting one flag.
            if value.chars().any(char::is_control) {
                problems.push(ArgProblem::at(
                    "set",
                    format!("the value of `{flag}` contains a control character"),
                ));
            }
        }
        for flag in &self.remove {
            if !is_flag(flag) {
                problems.push(ArgProblem::at("remove", flag_problem(flag)));
            } else if self.set.contains_key(flag) {
                problems.push(ArgProblem::at(
                    "remove",
                    format!("`{flag}` is both set and removed"),
                ));
            }
        }
        problems
    }
}

/// kube-apiserver's in-flight limits: positive numbers. Zero disables the limit ("a zero value
/// disables the limit completely", kube-apiserver reference), which is the opposite of what a
/// tool for an overloaded control plane sets, and a negative one fails flag parsing, so the
/// static pod never comes back.
/// <https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/>
const INFLIGHT_FLAGS: [&str; 2] = [
    "--max-requests-inflight",
    "--max-mutating-requests-inflight",
];

fn is_flag(flag: &str) -> bool {
    flag.strip_prefix("--").is_some_and(|name| {
        name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    })
}

fn flag_problem(flag: &str) -> String {
    format!("`{flag}` is not a kube-apiserver flag; flags look like `--max-requests-inflight`")
}

/// `workload.kill`: on each node, stop and remove the pods of one workload with `crictl`, by
/// namespace and pod-name prefix and/or label, and report how many were stopped. Nothing
/// matching is not an error. Use it when the API server is too loaded to delete the workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadKill {
    /// The pods' namespace.
    pub namespace: String,
    /// Pod names starting with this, e.g. `telemetry-agent-` for the pods of a `DaemonSet`.
    #[serde(default)]
    pub name_prefix: Option<String>,
    /// A pod label, `key=value`, e.g. `app=telemetry-agent`. At least one of `name_prefix` and
    /// `label` is required; with both, a pod must match both.
    #[serde(default)]
    pub label: Option<String>,
    /// The crictl program on the target. Default `crictl`.
    #[serde(default = "default_crictl")]
    pub crictl: String,
}

impl WorkloadKill {
    fn validate(&self) -> Vec<ArgProblem> {
        let mut problems = Vec::new();
        if !is_dns_label(&self.namespace) {
            problems.push(ArgProblem::at(
                "namespace",
                format!(
                    "`{}` is not a namespace name (lowercase letters, digits and `-`, at most 63)",
                    self.namespace
                ),
            ));
        }
        if self.name_prefix.is_none() && self.label.is_none() {
            problems.push(ArgProblem::whole(
                "give `name_prefix` or `label` (or both): killing a whole namespace is not supported",
            ));
        }
        if let Some(prefix) = &self.name_prefix {
            let ok = !prefix.is_empty()
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
            if !ok {
                problems.push(ArgProblem::at(
                    "name_prefix",
                    format!(
                        "`{prefix}` is not the start of a pod name (lowercase letters, digits, `-`, `.`)"
                    ),
                ));
            }
        }
        if let Some(label) = &self.label {
            let ok = label.split_once('=').is_some_and(|(k, v)| {
                let key_ok = !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c));
                let value_ok = v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
                key_ok && value_ok
            });
            if !ok {
                problems.push(ArgProblem::at(
                    "label",
                    format!("`{label}` is not a label `key=value`, e.g. `app=telemetry-agent`"),
                ));
            }
        }
        let crictl_ok = !self.crictl.is_empty()
            && self
                .crictl
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c));
        if !crictl_ok {
            problems.push(ArgProblem::at(
                "crictl",
                format!("`{}` is not a program name or path", self.crictl),
            ));
        }
        problems
    }
}

/// RFC 1123 label, the form of a Kubernetes namespace name.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// How `wait.healthy` reaches the API servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    #[default]
    Https,
    /// For lab and test endpoints only.
    Http,
}

/// `wait.healthy`: probe API servers by IP (and, with `etcd = true`, the cluster's etcd) until
/// every probe of the last `window` passed with an error rate at most `max_error_rate` and
/// latency under `max_latency`. Fails after `timeout`. Usable as a step or as a `gate`; runs
/// from the operator's machine, takes no targets.
///
/// ```toml
/// [steps.gate]
/// action = "wait.healthy"
/// [steps.gate.with]
/// etcd = true          # also etcd's /health, every round
/// paths = []           # etcd alone: a gate that passes while the API servers are still down
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitHealthy {
    /// `IP:port` of each API server. Default: the `api_endpoints` of the inventory cluster the
    /// run targets, so a shipped runbook needs no addresses.
    #[serde(default)]
    pub endpoints: Vec<SocketAddr>,
    /// Paths probed on every endpoint. Default `["/readyz", "/livez"]`. May be empty only with
    /// `etcd = true` (then the API servers are not probed at all).
    #[serde(default = "default_health_paths")]
    pub paths: Vec<String>,
    /// Also probe etcd's `/health` on each of the `etcd_endpoints` of the runbook's `cluster`
    /// in the inventory (with its `etcd_cert_file`, `etcd_key_file`, `etcd_ca_file`), once per
    /// round beside the API paths: each endpoint's answer is one probe, held to the same
    /// `max_latency`, window and error rate. Default false.
    #[serde(default)]
    pub etcd: bool,
    /// CA bundle (on the operator's machine) that signs the API servers' certificates.
    /// Default: the cluster's CA from the kubeconfig or inventory.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The name to verify the certificate against, since endpoints are IPs. Default: the
    /// inventory cluster's `tls_server_name`.
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// "https" (default) or "http".
    #[serde(default)]
    pub scheme: Scheme,
    /// Share of failed probes tolerated within the window, 0.0 to 1.0. Default 0.0.
    #[serde(default)]
    pub max_error_rate: f64,
    /// A probe slower than this counts as failed. Default "1s".
    #[serde(default = "default_max_latency", with = "duration")]
    pub max_latency: Duration,
    /// How long the probes must stay healthy. Default "30s".
    #[serde(default = "default_window", with = "duration")]
    pub window: Duration,
    /// Time between probe rounds. Default "2s".
    #[serde(default = "default_interval", with = "duration")]
    pub interval: Duration,
    /// Give up (the step fails) after this long. Default "10m".
    #[serde(default = "default_wait_timeout", with = "duration")]
    pub timeout: Duration,
}

impl WaitHealthy {
    fn validate(&self) -> Vec<ArgProblem> {
        let mut problems = Vec::new();
        if self.paths.is_empty() && !self.etcd {
            problems.push(ArgProblem::at(
                "paths",
                "list at least one path to probe, or set `etcd = true` to probe etcd alone",
            ));
        }
        for path in &self.paths {
            if !path.starts_with('/') || path.contains(char::is_whitespace) {
                problems.push(ArgProblem::at(
                    "paths",
                    format!("`{path}` is not a URL path such as `/readyz`"),
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.max_error_rate) {
            problems.push(ArgProblem::at(
                "max_error_rate",
                format!("{} is not a share between 0.0 and 1.0", self.max_error_rate),
            ));
        }
        if let Some(name) = &self.tls_server_name
            && (name.is_empty() || name.contains(char::is_whitespace))
        {
            problems.push(ArgProblem::at(
                "tls_server_name",
                format!("`{name}` is not a server name"),
            ));
        }
        for (field, value) in [
            ("max_latency", self.max_latency),
            ("interval", self.interval),
        ] {
            if value.is_zero() {
                problems.push(ArgProblem::at(field, "must be longer than 0s"));
            }
        }
        if self.window < self.interval {
            problems.push(ArgProblem::at(
                "window",
                "the window is shorter than the interval, so it would judge a single probe",
            ));
        }
        if self.timeout < self.window {
            problems.push(ArgProblem::at(
                "timeout",
                "the timeout is shorter than the window, so the wait could never pass",
            ));
        }
        problems
    }
}

/// `pause`: stop and wait for the operator to type `continue`, e.g. to look at dashboards before
/// unblocking. Runs once, takes no targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pause {
    /// What the operator should check before continuing.
    pub message: String,
    /// Whether `--yes` may skip the pause. Default false: a run with `--yes` stops here with an
    /// error rather than skipping a check the runbook author wanted a human to make.
    #[serde(default)]
    pub skippable: bool,
}

impl Pause {
    fn validate(&self) -> Vec<ArgProblem> {
        if self.message.trim().is_empty() {
            vec![ArgProblem::at(
                "message",
                "say what the operator should check before continuing",
            )]
        } else {
            Vec::new()
        }
    }
}

fn default_manifest() -> PathBuf {
    PathBuf::from("/etc/kubernetes/manifests/kube-apiserver.yaml")
}

fn default_crictl() -> String {
    "crictl".to_owned()
}

fn default_health_paths() -> Vec<String> {
    vec!["/readyz".to_owned(), "/livez".to_owned()]
}

fn default_max_latency() -> Duration {
    Duration::from_secs(1)
}

fn default_window() -> Duration {
    Duration::from_secs(30)
}

fn default_interval() -> Duration {
    Duration::from_secs(2)
}

fn default_wait_timeout() -> Duration {
    Duration::from_secs(10 * 60)
}

#[cfg(test)]
mod tests;
