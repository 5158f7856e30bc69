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
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_groups: Vec<BTreeMap<&'static str, &'a str>>,
}

impl<'a> AzureOut<'a> {
    fn of(a: &'a super::AzureResources) -> Self {
        AzureOut {
            subscription: &a.subscription,
            endpoint: a.endpoint.as_deref(),
            node_groups: a
                .node_groups
                .iter()
                .map(|n| {
                    let mut m = BTreeMap::from([("name", n.name.as_str())]);
                    match &n.backing {
                        super::NodeGroupBacking::Vmss {
                            resource_group,
                            name,
                        } => {
                            m.insert("resource_group", resource_group);
                            m.insert("vmss", name);
                        }
                        super::NodeGroupBacking::AksPool {
                            resource_group,
                            cluster,
                            pool,
                        } => {
                            m.insert("resource_group", resource_group);
                            m.insert("aks_cluster", cluster);
                            m.insert("agent_pool", pool);
                        }
                        _ => {}
                    }
                    m
                })
                .collect(),
        }
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
}

impl<'a> GcpOut<'a> {
    fn of(g: &'a super::GcpResources) -> Self {
        GcpOut {
            project: g.project.as_deref(),
            endpoint: g.endpoint.as_deref(),
            node_groups: g
                .node_groups
                .iter()
                .map(|n| {
                    let mut m = BTreeMap::from([("name", n.name.as_str())]);
                    match &n.backing {
                        super::NodeGroupBacking::Mig { name, scope } => {
                            m.insert("mig", name);
                            match scope {
                                super::GcpScope::Zone(z) => m.insert("zone", z),
                                super::GcpScope::Region(r) => m.insert("region", r),
                            };
                        }
                        super::NodeGroupBacking::GkePool {
                            cluster,
                            pool,
                            location,
                        } => {
                            m.insert("gke_cluster", cluster);
                            m.insert("node_pool", pool);
                            m.insert("location", location);
                        }
                        _ => {}
                    }
                    m
                })
                .collect(),
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
            node_groups: a
                .node_groups
                .iter()
                .map(|g| {
                    let mut m = BTreeMap::from([("name", g.name.as_str())]);
                    match &g.backing {
                        super::NodeGroupBacking::Asg(asg) => {
                            m.insert("asg", asg);
                        }
                        super::NodeGroupBacking::Eks { cluster, nodegroup } => {
                            m.insert("eks_cluster", cluster);
                            m.insert("eks_nodegroup", nodegroup);
                        }
                        _ => {}
                    }
                    m
                })
                .collect(),
            apiserver_security_group: a.apiserver_security_group.as_deref(),
            eks_cluster: a.eks_cluster.as_deref(),
            control_plane: a.control_plane.as_ref().map(|cp| ControlPlaneOut {
                asg: &cp.asg,
                tag: format!("{}={}", cp.tag.0, cp.tag.1),
                port: cp.port,
            }),
            apiserver_peers: a.apiserver_peers.iter().map(ToString::to_string).collect(),
            operator_cidrs: a.operator_cidrs.iter().map(ToString::to_string).collect(),
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
