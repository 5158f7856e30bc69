//! Writing an inventory file: the same schema `load.rs` reads, from loaded values, so what
//! `inventory snapshot` and `inventory import` write loads back as it was (their tests load it).
//! Paths are written absolute. Strings go through the TOML serializer, which quotes and escapes
//! whatever they hold; what may be a value (a label, a name) is the callers' to check first.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Cluster, Defaults};

/// One `[[hosts]]` entry as written; `None` and empty fields are left out (the defaults apply).
#[derive(Serialize)]
pub(super) struct HostOut<'a> {
    pub name: &'a str,
    pub address: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_key: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The TOML of an inventory of one cluster: `[defaults]` (when given), `[clusters.NAME]` with
/// its cloud tables, and the hosts in the order given.
pub(super) fn toml(
    defaults: Option<&Defaults>,
    cluster: &Cluster,
    hosts: Vec<HostOut<'_>>,
) -> Result<String, String> {
    let file = FileOut {
        defaults: defaults.map(DefaultsOut::of),
        clusters: BTreeMap::from([(cluster.name.as_str(), ClusterOut::of(cluster))]),
        hosts,
    };
    ::toml::to_string(&file).map_err(|e| format!("cannot write the inventory: {e}"))
}

/// `path` made absolute against the working directory (an inventory loaded as `-i fleet.toml`
/// resolves its relative paths against `""`, i.e. here).
pub(super) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

// ---------------------------------------------------------------------------------------------
// The file as written: the same schema `load.rs` reads.

#[derive(Serialize)]
struct FileOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    defaults: Option<DefaultsOut<'a>>,
    clusters: BTreeMap<&'a str, ClusterOut<'a>>,
    hosts: Vec<HostOut<'a>>,
}

#[derive(Serialize)]
struct DefaultsOut<'a> {
    user: &'a str,
    port: u16,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    identity_files: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    known_hosts: Option<PathBuf>,
    connect_timeout: String,
    command_timeout: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    jump: Option<&'a str>,
}

impl<'a> DefaultsOut<'a> {
    fn of(d: &'a Defaults) -> Self {
        DefaultsOut {
            user: &d.user,
            port: d.port,
            identity_files: d.identity_files.iter().map(|p| absolute(p)).collect(),
            known_hosts: d.known_hosts.as_deref().map(absolute),
            connect_timeout: humantime::format_duration(d.connect_timeout).to_string(),
            command_timeout: humantime::format_duration(d.command_timeout).to_string(),
            jump: d.jump.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct ClusterOut<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    api_endpoints: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_api_endpoints: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_server_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kubeconfig: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    etcd_endpoints: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    etcd_cert_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    etcd_key_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    etcd_ca_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    etcd_server_name: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aws: Option<AwsOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gcp: Option<GcpOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    azure: Option<AzureOut<'a>>,
}

/// `[clusters.NAME.azure]` as `load_azure.rs` reads it (every group with its resource group).
#[derive(Serialize)]
struct AzureOut<'a> {
    subscription: &'a str,
    /// The AKS cluster's resource group: `aks_cluster` takes the table's.
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_group: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_groups: Vec<BTreeMap<&'static str, &'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    apiserver_nsg: Option<NsgOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aks_cluster: Option<&'a str>,
    #[serde(flatten)]
    control: ControlOut<'a>,
}

/// The control-plane keys GCP and Azure write alike: a self-managed control plane's group,
/// the peers and the operator's CIDRs.
#[derive(Serialize)]
struct ControlOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    control_plane: Option<BTreeMap<&'static str, TomlScalar<'a>>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    apiserver_peers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    operator_cidrs: Vec<String>,
}

impl<'a> ControlOut<'a> {
    fn of(
        control_plane: Option<&'a super::CloudControlPlane>,
        peers: &[ipnet::IpNet],
        operators: &[ipnet::IpNet],
    ) -> Self {
        ControlOut {
            control_plane: control_plane.map(control_plane_out),
            apiserver_peers: cidr_strings(peers),
            operator_cidrs: cidr_strings(operators),
        }
    }
}

/// `apiserver_nsg = { name, resource_group, priority }`.
#[derive(Serialize)]
struct NsgOut<'a> {
    name: &'a str,
    resource_group: &'a str,
    priority: u32,
}

/// `apiserver_firewall = { network, target_tags | target_service_accounts, priority }`.
#[derive(Serialize)]
struct FirewallOut<'a> {
    network: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    target_tags: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    target_service_accounts: &'a [String],
    priority: u32,
}

/// A value of an inline table whose keys differ by kind (`control_plane`).
#[derive(Serialize)]
#[serde(untagged)]
enum TomlScalar<'a> {
    Str(&'a str),
    Port(u16),
}

/// A self-managed control plane's group as `control_plane = { ... }` writes it: the group's own
/// keys (as a node group's) and its port.
fn control_plane_out(cp: &super::CloudControlPlane) -> BTreeMap<&'static str, TomlScalar<'_>> {
    let mut m: BTreeMap<_, _> = backing_keys(&cp.group)
        .into_iter()
        .map(|(k, v)| (k, TomlScalar::Str(v)))
        .collect();
    m.insert("port", TomlScalar::Port(cp.port));
    m
}

fn cidr_strings(cidrs: &[ipnet::IpNet]) -> Vec<String> {
    cidrs.iter().map(ToString::to_string).collect()
}

impl<'a> AzureOut<'a> {
    fn of(a: &'a super::AzureResources) -> Self {
        let c = &a.control;
        AzureOut {
            subscription: &a.subscription,
            resource_group: c.aks.as_ref().map(|(rg, _)| rg.as_str()),
            endpoint: a.endpoint.as_deref(),
            node_groups: a.node_groups.iter().map(node_group_out).collect(),
            apiserver_nsg: c.nsg.as_ref().map(|n| NsgOut {
                name: &n.name,
                resource_group: &n.resource_group,
                priority: n.priority,
            }),
            aks_cluster: c.aks.as_ref().map(|(_, name)| name.as_str()),
            control: ControlOut::of(
                c.control_plane.as_ref(),
                &c.apiserver_peers,
                &c.operator_cidrs,
            ),
        }
    }
}

/// A node group as `node_groups = [{ name, ... }]` writes it.
fn node_group_out(g: &super::NodeGroup) -> BTreeMap<&'static str, &str> {
    let mut m = backing_keys(&g.backing);
    m.insert("name", g.name.as_str());
    m
}

/// The keys that say what a group is, as every provider's loader reads them.
fn backing_keys(b: &super::NodeGroupBacking) -> BTreeMap<&'static str, &str> {
    use super::NodeGroupBacking as B;
    match b {
        B::Asg(asg) => BTreeMap::from([("asg", asg.as_str())]),
        B::Eks { cluster, nodegroup } => BTreeMap::from([
            ("eks_cluster", cluster.as_str()),
            ("eks_nodegroup", nodegroup.as_str()),
        ]),
        B::Mig { name, scope } => BTreeMap::from([
            ("mig", name.as_str()),
            match scope {
                super::GcpScope::Zone(z) => ("zone", z.as_str()),
                super::GcpScope::Region(r) => ("region", r.as_str()),
            },
        ]),
        B::GkePool {
            cluster,
            pool,
            location,
        } => BTreeMap::from([
            ("gke_cluster", cluster.as_str()),
            ("node_pool", pool.as_str()),
            ("location", location.as_str()),
        ]),
        B::Vmss {
            resource_group,
            name,
        } => BTreeMap::from([
            ("resource_group", resource_group.as_str()),
            ("vmss", name.as_str()),
        ]),
        B::AksPool {
            resource_group,
            cluster,
            pool,
        } => BTreeMap::from([
            ("resource_group", resource_group.as_str()),
            ("aks_cluster", cluster.as_str()),
            ("agent_pool", pool.as_str()),
        ]),
    }
}

/// `[clusters.NAME.gcp]` as `load_gcp.rs` reads it (every group with its own location).
#[derive(Serialize)]
struct GcpOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    project: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_groups: Vec<BTreeMap<&'static str, &'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    apiserver_firewall: Option<FirewallOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gke_cluster: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gke_location: Option<&'a str>,
    #[serde(flatten)]
    control: ControlOut<'a>,
}

impl<'a> GcpOut<'a> {
    fn of(g: &'a super::GcpResources) -> Self {
        let c = &g.control;
        GcpOut {
            project: g.project.as_deref(),
            endpoint: g.endpoint.as_deref(),
            node_groups: g.node_groups.iter().map(node_group_out).collect(),
            apiserver_firewall: c.firewall.as_ref().map(|f| FirewallOut {
                network: &f.name,
                target_tags: &f.target_tags,
                target_service_accounts: &f.target_service_accounts,
                priority: f.priority,
            }),
            gke_cluster: c.gke.as_ref().map(|(_, name)| name.as_str()),
            gke_location: c.gke.as_ref().map(|(location, _)| location.as_str()),
            control: ControlOut::of(
                c.control_plane.as_ref(),
                &c.apiserver_peers,
                &c.operator_cidrs,
            ),
        }
    }
}

/// `[clusters.NAME.aws]` as `load_aws.rs` reads it.
#[derive(Serialize)]
struct AwsOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    config_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credentials_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_groups: Vec<BTreeMap<&'static str, &'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    apiserver_security_group: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eks_cluster: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    control_plane: Option<ControlPlaneOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    apiserver_peers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    operator_cidrs: Vec<String>,
}

/// `control_plane = { asg, tag, port }`.
#[derive(Serialize)]
struct ControlPlaneOut<'a> {
    asg: &'a str,
    tag: String,
    port: u16,
}

impl<'a> AwsOut<'a> {
    fn of(a: &'a super::AwsResources) -> Self {
        AwsOut {
            region: a.region.as_deref(),
            endpoint: a.endpoint.as_deref(),
            profile: a.profile.as_deref(),
            config_file: a.config_file.as_deref().map(absolute),
            credentials_file: a.credentials_file.as_deref().map(absolute),
            node_groups: a.node_groups.iter().map(node_group_out).collect(),
            apiserver_security_group: a.apiserver_security_group.as_deref(),
            eks_cluster: a.eks_cluster.as_deref(),
            control_plane: a.control_plane.as_ref().map(|cp| ControlPlaneOut {
                asg: &cp.asg,
                tag: format!("{}={}", cp.tag.0, cp.tag.1),
                port: cp.port,
            }),
            apiserver_peers: cidr_strings(&a.apiserver_peers),
            operator_cidrs: cidr_strings(&a.operator_cidrs),
        }
    }
}

impl<'a> ClusterOut<'a> {
    fn of(c: &'a Cluster) -> Self {
        let file = |p: &Option<PathBuf>| p.as_deref().map(absolute);
        ClusterOut {
            api_endpoints: c.api_endpoints.iter().map(ToString::to_string).collect(),
            node_api_endpoints: c
                .node_api_endpoints
                .iter()
                .map(|(net, port)| match net {
                    ipnet::IpNet::V4(n) if n.prefix_len() == 32 => format!("{}:{port}", n.addr()),
                    ipnet::IpNet::V4(n) => format!("{n}:{port}"),
                    ipnet::IpNet::V6(n) if n.prefix_len() == 128 => {
                        format!("[{}]:{port}", n.addr())
                    }
                    ipnet::IpNet::V6(n) => format!("[{n}]:{port}"),
                })
                .collect(),
            tls_server_name: c.tls_server_name.as_deref(),
            ca_file: file(&c.ca_file),
            kubeconfig: file(&c.kubeconfig),
            context: c.context.as_deref(),
            etcd_endpoints: c.etcd_endpoints.iter().map(ToString::to_string).collect(),
            etcd_cert_file: file(&c.etcd_cert_file),
            etcd_key_file: file(&c.etcd_key_file),
            etcd_ca_file: file(&c.etcd_ca_file),
            etcd_server_name: c.etcd_server_name.as_deref(),
            labels: c.labels.clone(),
            aws: c.aws.as_ref().map(AwsOut::of),
            gcp: c.gcp.as_ref().map(GcpOut::of),
            azure: c.azure.as_ref().map(AzureOut::of),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::inventory::load::load_cloud_table;

    /// Every key of every provider's table, as an operator would write it by hand: written back
    /// by `toml` and loaded again, the cluster is the same value (so `inventory import` and
    /// `inventory snapshot` keep what they found, the control plane's keys included).
    fn round_trip(table: &str, body: &str) {
        let inv = load_cloud_table(table, body).expect("the hand-written table loads");
        let cluster = &inv.clusters["prod"];
        let written = super::toml(None, cluster, Vec::new()).expect("writes");
        let again = crate::inventory::Inventory::from_str(
            &written,
            std::path::Path::new("inv.toml"),
            crate::inventory::Format::Toml,
        )
        .unwrap_or_else(|e| panic!("what was written does not load: {e}\n{written}"));
        assert_eq!(&again.clusters["prod"], cluster, "{written}");
    }

    #[test]
    fn aws_tables_round_trip_with_their_control_plane() {
        round_trip(
            "aws",
            "region = \"eu-west-1\"\nprofile = \"ops\"\nnode_groups = [\n  \
             { name = \"a\", asg = \"prod-a\" },\n  \
             { name = \"m\", eks_cluster = \"prod\", eks_nodegroup = \"ng1\" },\n]\n\
             apiserver_security_group = \"sg-0123456789abcdef0\"\neks_cluster = \"prod\"\n\
             control_plane = { asg = \"prod-cp\", tag = \"role=apiserver\", port = 6443 }\n\
             apiserver_peers = [\"10.0.0.0/24\"]\noperator_cidrs = [\"203.0.113.7/32\"]\n",
        );
    }

    #[test]
    fn gcp_tables_round_trip_with_their_control_plane() {
        round_trip(
            "gcp",
            "project = \"acme\"\nzone = \"us-central1-a\"\nnode_groups = [\n  \
             { name = \"a\", mig = \"prod-a\" },\n  \
             { name = \"r\", mig = \"prod-r\", region = \"us-central1\" },\n  \
             { name = \"p\", gke_cluster = \"prod\", node_pool = \"pool1\", location = \"us-central1\" },\n]\n\
             apiserver_firewall = { network = \"prod-vpc\", target_tags = [\"k8s-apiserver\"], priority = 200 }\n\
             gke_cluster = \"prod\"\ngke_location = \"us-central1\"\n\
             control_plane = { mig = \"prod-cp\", region = \"us-central1\", port = 443 }\n\
             apiserver_peers = [\"10.0.0.0/24\"]\noperator_cidrs = [\"203.0.113.7/32\"]\n",
        );
        round_trip(
            "gcp",
            "project = \"acme\"\nzone = \"us-central1-a\"\n\
             apiserver_firewall = { network = \"prod-vpc\", target_service_accounts = [\"cp@acme.iam.gserviceaccount.com\"] }\n\
             gke_cluster = \"prod\"\ncontrol_plane = { mig = \"prod-cp\" }\n",
        );
    }

    #[test]
    fn azure_tables_round_trip_with_their_control_plane() {
        round_trip(
            "azure",
            "subscription = \"sub-1\"\nresource_group = \"prod-aks\"\nnode_groups = [\n  \
             { name = \"a\", vmss = \"prod-a\", resource_group = \"prod-rg\" },\n  \
             { name = \"p\", aks_cluster = \"prod\", agent_pool = \"pool1\" },\n]\n\
             apiserver_nsg = { name = \"prod-cp-nsg\", resource_group = \"net-rg\", priority = 300 }\n\
             aks_cluster = \"prod\"\ncontrol_plane = { vmss = \"prod-cp\", port = 6443 }\n\
             apiserver_peers = [\"10.0.0.0/24\"]\noperator_cidrs = [\"203.0.113.7/32\"]\n",
        );
    }
}
