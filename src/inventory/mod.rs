//! The inventory: clusters, hosts (IP, port, user, labels, pinned host key), defaults and named
//! groups, loaded from TOML or JSON with the same schema; host-set ranges (`node[001-200]` with
//! `10.0.[1-4].[1-250]`); and selectors (label expressions, host patterns, exclusions).
//!
//! It only describes the fleet: it never connects anywhere (`inventory check` lives in commands).
//! Every load error names the file, line and column and what was expected.
//!
//! Public surface (used by commands and the engine):
//! - `Inventory::load(path: &Path) -> Result<Inventory, InventoryError>`
//! - `Inventory::from_str(text, path, Format) -> Result<Inventory, InventoryError>` (tests, stdin)
//! - `Inventory::select(&self, &Selector) -> Result<Vec<&Host>, SelectorError>` (inventory order,
//!   no duplicates; an empty result is not an error; a term that matches no host, or an unknown
//!   `@group`, is)
//! - `Selector::parse(&str) -> Result<Selector, SelectorError>` (grammar: [`selector`])
//! - `hostset::fold(names) -> String` (compact `node[001-180,183]`) and `hostset::expand(pattern)`
//!
//! Files: `load.rs` (schema, validation, errors), `json.rs` (JSON with byte spans),
//! `hostset.rs` (ranges), `selector.rs` (grammar and evaluation), `snapshot.rs` (a cluster's
//! Node objects turned into an inventory file, for `inventory snapshot`).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod hostset;
mod json;
mod load;
mod load_aws;
pub mod selector;
pub mod snapshot;

pub use hostset::HostsetError;
pub(crate) use load::is_label_name;
pub use load::{Format, InventoryError, Location};
pub use selector::{Selector, SelectorError};

/// A loaded, validated inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    pub path: PathBuf,
    /// `sha256:<hex>` of the file's bytes, journaled so a run records exactly what it targeted.
    pub digest: String,
    pub defaults: Defaults,
    pub clusters: BTreeMap<String, Cluster>,
    /// Named selectors, used as `@name` in a selector.
    pub groups: BTreeMap<String, String>,
    /// Every host after range expansion, in file order. Names are unique; so are addresses+port.
    pub hosts: Vec<Host>,
}

/// `[defaults]`: applied to every host that does not set its own value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// Default `root`.
    pub user: String,
    /// Default 22.
    pub port: u16,
    /// `~` expanded. Default empty (the CLI then falls back to `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`).
    pub identity_files: Vec<PathBuf>,
    /// `~` expanded. None: the CLI default (`~/.ssh/known_hosts`).
    pub known_hosts: Option<PathBuf>,
    /// Default 10s.
    pub connect_timeout: Duration,
    /// Default 60s.
    pub command_timeout: Duration,
    /// `[defaults] jump` as written (a host name of this file or `[user@]IP[:port]`); each
    /// host's resolved jump is in [`Host::jump`]. Kept so `inventory snapshot` can carry it.
    pub jump: Option<String>,
}

/// `[clusters.NAME]`: a Kubernetes cluster the hosts belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub name: String,
    /// API server endpoints by IP (`10.0.0.10:6443`), used by later transports and gates.
    pub api_endpoints: Vec<SocketAddr>,
    /// The TLS server name to present to API servers reached by IP.
    pub tls_server_name: Option<String>,
    /// CA bundle (on the operator's machine) that signs the API servers' certificates; `~`
    /// expanded.
    pub ca_file: Option<PathBuf>,
    pub labels: BTreeMap<String, String>,
    /// etcd's client endpoints by IP (`10.0.0.10:2379`), for when no API server answers.
    pub etcd_endpoints: Vec<SocketAddr>,
    /// The client certificate, its key, and the CA that signs etcd's server certificate
    /// (kubeadm: `/etc/kubernetes/pki/etcd/{healthcheck-client.crt,.key,ca.crt}`, copied to the
    /// operator's machine); `~` expanded.
    pub etcd_cert_file: Option<PathBuf>,
    pub etcd_key_file: Option<PathBuf>,
    pub etcd_ca_file: Option<PathBuf>,
    /// The name etcd's certificate is checked against (default: the endpoint's IP, which
    /// kubeadm puts in the certificate's SANs).
    pub etcd_server_name: Option<String>,
    /// The kubeconfig whose credentials (and CA) reach the API servers; `~` expanded.
    pub kubeconfig: Option<PathBuf>,
    /// Its context (default: its `current-context`).
    pub context: Option<String>,
    /// `[clusters.NAME.aws]`: the cluster's AWS resources (node groups) and how to reach them.
    pub aws: Option<AwsResources>,
}

/// `[clusters.NAME.aws]`: where the cluster lives in AWS and the node groups `nodes.scale`
/// acts on. Credentials are never in the inventory: they come from the AWS chain
/// (`transport::cloud::aws::credentials`), optionally through a named `profile`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsResources {
    /// Default: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`.
    pub region: Option<String>,
    /// Every AWS service of this cluster at one URL (a VPC endpoint proxy; moto in the tests).
    pub endpoint: Option<String>,
    /// A profile of `~/.aws/config` to take credentials from (else the usual chain).
    pub profile: Option<String>,
    pub node_groups: Vec<NodeGroup>,
}

/// A group of worker nodes the cloud scales, named in the operator's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeGroup {
    pub name: String,
    pub backing: NodeGroupBacking,
}

/// What a node group is in the cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeGroupBacking {
    /// An EC2 Auto Scaling group, by name.
    Asg(String),
    /// An EKS managed node group.
    Eks { cluster: String, nodegroup: String },
}

impl NodeGroupBacking {
    /// `Auto Scaling group prod-workers-a`, `EKS node group prod/ng1`.
    pub fn describe(&self) -> String {
        match self {
            NodeGroupBacking::Asg(name) => format!("Auto Scaling group {name}"),
            NodeGroupBacking::Eks { cluster, nodegroup } => {
                format!("EKS node group {cluster}/{nodegroup}")
            }
        }
    }
}

/// One host, after defaults and range expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub address: IpAddr,
    pub port: u16,
    pub user: String,
    /// Includes `cluster=<name>` when the host belongs to a cluster.
    pub labels: BTreeMap<String, String>,
    /// Pinned `SHA256:...` fingerprint.
    pub host_key: Option<String>,
    pub cluster: Option<String>,
    /// The jump host (resolved: another inventory host by name, or an inline `user@ip:port`).
    pub jump: Option<Box<Host>>,
}

impl Inventory {
    /// Reads and validates an inventory file: JSON if the name ends in `.json`, else TOML.
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        load::load(path)
    }

    /// Parses inventory text as if read from `path` (used in messages and to resolve relative
    /// paths). `digest` is computed over `text`'s bytes.
    pub fn from_str(text: &str, path: &Path, format: Format) -> Result<Inventory, InventoryError> {
        load::parse(text, path, format)
    }
}

impl Host {
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }
}

#[cfg(test)]
mod tests;
