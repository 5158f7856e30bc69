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

mod checks;
pub mod hostset;
pub mod import;
mod json;
mod load;
mod load_aws;
mod load_azure;
mod load_gcp;
pub mod selector;
pub mod snapshot;
mod write;

pub(crate) use checks::is_label_name;
pub use hostset::HostsetError;
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
    /// The API endpoints as the nodes reach them, where that differs from `api_endpoints`
    /// (an EKS private endpoint's network interfaces, a GKE private cluster's private
    /// endpoint, an AKS private link address): addresses or networks with the port. What an
    /// egress `firewall.block` on the nodes blocks by default (else `api_endpoints`).
    pub node_api_endpoints: Vec<(ipnet::IpNet, u16)>,
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
    /// `[clusters.NAME.gcp]`: the cluster's GCP resources (node groups) and how to reach them.
    pub gcp: Option<GcpResources>,
    /// `[clusters.NAME.azure]`: the cluster's Azure resources (node groups) and how to reach them.
    pub azure: Option<AzureResources>,
}

/// `[clusters.NAME.azure]`: the subscription and the node groups `nodes.scale` acts on (scale
/// sets, AKS agent pools). Credentials are never in the inventory
/// (`transport::cloud::azure::credentials`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureResources {
    pub subscription: String,
    /// The Resource Manager root (default `https://management.azure.com`; fakes in tests).
    pub endpoint: Option<String>,
    pub node_groups: Vec<NodeGroup>,
    /// The control plane's resources (`cloud.firewall.block`, `apiservers.scale`).
    pub control: AzureControl,
}

/// `[clusters.NAME.azure]`'s control-plane keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AzureControl {
    /// `apiserver_nsg`: the API servers' network security group.
    pub nsg: Option<RuleLever>,
    /// `aks_cluster`: the AKS cluster (resource group, name): its authorized IP ranges.
    pub aks: Option<(String, String)>,
    /// `control_plane`: a self-managed control plane's scale set.
    pub control_plane: Option<CloudControlPlane>,
    pub apiserver_peers: Vec<ipnet::IpNet>,
    pub operator_cidrs: Vec<ipnet::IpNet>,
}

/// Where a block adds its rules: a VPC network (GCP) or a network security group (Azure), and
/// the priority of its allow rule (its deny rule takes the next one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleLever {
    /// The VPC network's name; the NSG's name.
    pub name: String,
    /// The NSG's resource group (Azure); empty on GCP.
    pub resource_group: String,
    /// GCP: the API servers' network tags and service accounts the rules target (none: every
    /// instance in the network).
    pub target_tags: Vec<String>,
    pub target_service_accounts: Vec<String>,
    pub priority: u32,
}

/// A self-managed control plane's group (a MIG, a scale set) and its API servers' port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudControlPlane {
    pub group: NodeGroupBacking,
    pub port: u16,
}

/// `[clusters.NAME.gcp]`: the project and the node groups `nodes.scale` acts on (managed
/// instance groups, GKE node pools). Credentials are never in the inventory: they come from the
/// Application Default Credentials chain (`transport::cloud::gcp::credentials`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpResources {
    /// Default: the key file's `project_id`, `CLOUDSDK_CORE_PROJECT`, `GOOGLE_CLOUD_PROJECT`.
    pub project: Option<String>,
    /// Both APIs (compute, container) under one root URL (a private endpoint; fakes in tests).
    pub endpoint: Option<String>,
    pub node_groups: Vec<NodeGroup>,
    /// The control plane's resources (`cloud.firewall.block`, `apiservers.scale`).
    pub control: GcpControl,
}

/// `[clusters.NAME.gcp]`'s control-plane keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcpControl {
    /// `apiserver_firewall`: the VPC network and targets of the block's firewall rules.
    pub firewall: Option<RuleLever>,
    /// `gke_cluster` (and `gke_location`): the GKE cluster (location, name): its authorized
    /// networks.
    pub gke: Option<(String, String)>,
    /// `control_plane`: a self-managed control plane's MIG.
    pub control_plane: Option<CloudControlPlane>,
    pub apiserver_peers: Vec<ipnet::IpNet>,
    pub operator_cidrs: Vec<ipnet::IpNet>,
}

/// Where a GCP resource lives: one zone or a whole region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcpScope {
    Zone(String),
    Region(String),
}

impl GcpScope {
    /// `zones/us-central1-a`, `regions/us-central1`: the URL path segment.
    pub fn path(&self) -> String {
        match self {
            GcpScope::Zone(z) => format!("zones/{z}"),
            GcpScope::Region(r) => format!("regions/{r}"),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            GcpScope::Zone(n) | GcpScope::Region(n) => n,
        }
    }
}

/// `[clusters.NAME.aws]`: where the cluster lives in AWS, the node groups `nodes.scale` acts
/// on, and the control plane's resources (`cloud.firewall.block`, `apiservers.scale`). Credentials are never in the inventory: they come from the AWS chain
/// (`transport::cloud::aws::credentials`), optionally through a named `profile`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsResources {
    /// Default: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`.
    pub region: Option<String>,
    /// Every AWS service of this cluster at one URL (a VPC endpoint proxy; moto in the tests).
    pub endpoint: Option<String>,
    /// A profile of `~/.aws/config` to take credentials from (else the usual chain).
    pub profile: Option<String>,
    /// The shared config and credentials files to read instead of `AWS_CONFIG_FILE` and
    /// `AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/config`, `~/.aws/credentials`): one
    /// account's files kept beside its inventory (the lab's moto account).
    pub config_file: Option<std::path::PathBuf>,
    pub credentials_file: Option<std::path::PathBuf>,
    pub node_groups: Vec<NodeGroup>,
    /// The security group in front of the API servers (`sg-...`), for `cloud.firewall.block`.
    pub apiserver_security_group: Option<String>,
    /// The EKS cluster's name, when the control plane is EKS's: its endpoint access and its
    /// control-plane tier.
    pub eks_cluster: Option<String>,
    /// A self-managed control plane's Auto Scaling group, for `apiservers.scale`.
    pub control_plane: Option<ControlPlaneGroup>,
    /// Addresses that must keep reaching the API whatever a block does (the control plane's
    /// own subnets, load balancer health checks): a block that would cut one is refused.
    pub apiserver_peers: Vec<ipnet::IpNet>,
    /// The operator's egress addresses as AWS sees them (the break-glass bastion's NAT): a
    /// block that would cut them is refused. `--operator-cidr` overrides.
    pub operator_cidrs: Vec<ipnet::IpNet>,
}

/// A self-managed control plane's Auto Scaling group and how to find its API servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPlaneGroup {
    pub asg: String,
    /// The instance tag that marks an API server (`KEY=VALUE`); default the group's own
    /// `aws:autoscaling:groupName`.
    pub tag: (String, String),
    /// The port the API servers listen on. Default 6443.
    pub port: u16,
}

/// A group of worker nodes the cloud scales, named in the operator's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeGroup {
    pub name: String,
    pub backing: NodeGroupBacking,
}

/// The cloud a node group is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Aws,
    Gcp,
    Azure,
}

/// What a node group is in the cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeGroupBacking {
    /// An EC2 Auto Scaling group, by name.
    Asg(String),
    /// An EKS managed node group.
    Eks { cluster: String, nodegroup: String },
    /// A GCE managed instance group, zonal or regional.
    Mig { name: String, scope: GcpScope },
    /// A GKE node pool; `location` is the cluster's zone or region.
    GkePool {
        cluster: String,
        pool: String,
        location: String,
    },
    /// An Azure virtual machine scale set.
    Vmss {
        resource_group: String,
        name: String,
    },
    /// An AKS agent pool.
    AksPool {
        resource_group: String,
        cluster: String,
        pool: String,
    },
}

impl NodeGroupBacking {
    /// `Auto Scaling group prod-workers-a`, `EKS node group prod/ng1`.
    pub fn describe(&self) -> String {
        match self {
            NodeGroupBacking::Asg(name) => format!("Auto Scaling group {name}"),
            NodeGroupBacking::Eks { cluster, nodegroup } => {
                format!("EKS node group {cluster}/{nodegroup}")
            }
            NodeGroupBacking::Mig { name, scope } => {
                format!("managed instance group {name} in {}", scope.name())
            }
            NodeGroupBacking::GkePool {
                cluster,
                pool,
                location,
            } => format!("GKE node pool {cluster}/{pool} in {location}"),
            NodeGroupBacking::Vmss {
                resource_group,
                name,
            } => format!("scale set {resource_group}/{name}"),
            NodeGroupBacking::AksPool {
                resource_group,
                cluster,
                pool,
            } => format!("AKS agent pool {resource_group}/{cluster}/{pool}"),
        }
    }

    /// The cloud the group is in.
    pub fn provider(&self) -> Provider {
        match self {
            NodeGroupBacking::Asg(_) | NodeGroupBacking::Eks { .. } => Provider::Aws,
            NodeGroupBacking::Mig { .. } | NodeGroupBacking::GkePool { .. } => Provider::Gcp,
            NodeGroupBacking::Vmss { .. } | NodeGroupBacking::AksPool { .. } => Provider::Azure,
        }
    }

    /// Whether the cloud has a minimum and maximum for the group (AWS) or only a size (GCP's
    /// and Azure's groups: an autoscaler's bounds are not the group's).
    pub fn has_bounds(&self) -> bool {
        match self.provider() {
            Provider::Aws => true,
            Provider::Gcp | Provider::Azure => false,
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
