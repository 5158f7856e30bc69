//! `inventory import`: the machines and node groups a cloud API listed (AWS, GCP, Azure), sorted
//! into hosts and written as an inventory file the loader accepts as is.
//!
//! This module only converts; it never connects anywhere and never writes (the command lists
//! through `transport::cloud::*::discover` and writes the file). Its rules, the same for every
//! provider:
//!
//! - One host per machine with a private IP, named after its Kubernetes node name when the
//!   provider gives it (EC2's private DNS name, the GCE instance name, the VM's computer name),
//!   else the cloud's id; in name order.
//! - Labels: the machine's tags (labels on GCP) that are valid inventory labels (Kubernetes label
//!   keys and values), minus the reserved `cluster`, `role` and `node-group`; plus
//!   `role = control-plane | worker` when a known convention says so ([`role_of`]), the node group
//!   the machine belongs to as `node-group = NAME`, and its zone as
//!   `topology.kubernetes.io/zone`. A tag that cannot be a label (a `/` too many, a quote, a
//!   newline, a control character, 64 characters) is left out with a warning that names it,
//!   escaped: cloud tags are written by anyone with tagging rights, and nothing they hold may
//!   reach the file, the terminal or a selector unchecked.
//! - A machine that cannot be a host (no private IP, an address or name another machine took) is
//!   skipped with the reason.
//! - Node group names are label values, unique in the cluster ([`group_name`]): a cloud name that
//!   is not one is made into one, and the warning says so.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use super::checks::{check_host_name, check_label_key, is_label_name};
use super::snapshot::{DroppedLabel, NodeHost, Skipped};
use super::write::{self, HostOut};
use super::{Cluster, NodeGroup};

/// The first line of every imported inventory.
pub const MARKER: &str = "# breakglass inventory import";

/// What a machine is to Kubernetes, as far as its tags tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    ControlPlane,
    Worker,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::ControlPlane => "control-plane",
            Role::Worker => "worker",
        }
    }
}

/// One machine as the cloud listed it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Machine {
    /// The cloud's id (instance id, instance name, VM resource id), for messages.
    pub id: String,
    /// Names to try for the host, in order (the Kubernetes node name first, the id last).
    pub names: Vec<String>,
    /// The primary private address; None: the machine is skipped.
    pub address: Option<IpAddr>,
    /// Tags (labels on GCP) as the cloud gave them.
    pub tags: Vec<(String, String)>,
    /// The inventory name of the node group it belongs to (see [`group_name`]).
    pub node_group: Option<String>,
    pub zone: Option<String>,
}

/// The label keys the import sets itself.
const RESERVED: [(&str, &str); 3] = [
    ("cluster", "reserved: the host's `cluster` sets it"),
    (
        "role",
        "replaced by role=control-plane|worker, from the tags",
    ),
    (
        "node-group",
        "replaced by node-group=NAME, the group the cloud says it is in",
    ),
];

/// The zone label Kubernetes nodes carry
/// (<https://kubernetes.io/docs/reference/labels-annotations-taints/#topologykubernetesiozone>).
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// The role the tags give, by the conventions of the tools that make clusters: kops
/// (`k8s.io/role/control-plane`, `.../master`, `.../node`), Cluster API's providers (CAPA's
/// `sigs.k8s.io/cluster-api-provider-aws/role`, CAPZ's `sigs.k8s.io_cluster-api-provider-azure_role`,
/// CAPG's `capg-role`: `control-plane` or `node`), the managed services' worker tags (EKS
/// `eks:nodegroup-name`, GKE `goog-k8s-node-pool-name`, AKS `aks-managed-poolName`: their
/// control planes have no machines), the kubelet's own `node-role.kubernetes.io/*`, and a plain
/// `role` or `k8s-role` tag saying `control-plane`, `master`, `worker` or `node`.
pub fn role_of(tags: &[(String, String)]) -> Option<Role> {
    let mut found = None;
    for (k, v) in tags {
        let v = v.trim().to_ascii_lowercase();
        let role = match k.as_str() {
            "k8s.io/role/control-plane"
            | "k8s.io/role/master"
            | "node-role.kubernetes.io/control-plane"
            | "node-role.kubernetes.io/master" => Some(Role::ControlPlane),
            "k8s.io/role/node"
            | "eks:nodegroup-name"
            | "goog-k8s-node-pool-name"
            | "aks-managed-poolName" => Some(Role::Worker),
            "sigs.k8s.io/cluster-api-provider-aws/role"
            | "sigs.k8s.io_cluster-api-provider-azure_role"
            | "capg-role"
            | "role"
            | "k8s-role" => match v.as_str() {
                "control-plane" | "controlplane" | "master" => Some(Role::ControlPlane),
                "node" | "worker" => Some(Role::Worker),
                _ => None,
            },
            _ => None,
        };
        // A control-plane mark wins over a worker one (kops tags masters as both in old versions).
        match (found, role) {
            (_, Some(Role::ControlPlane)) => found = Some(Role::ControlPlane),
            (None, Some(r)) => found = Some(r),
            _ => {}
        }
    }
    found
}

/// A cloud name made into a node group name: a label value (letters, digits, `-`, `_`, `.`, at
/// most 63, starting and ending alphanumeric), unique among `taken`. Each character that cannot
/// be is `-`; a long name is cut and ends in a short hash of the whole, so two long names stay
/// two groups.
pub fn group_name(cloud: &str, taken: &mut BTreeSet<String>) -> String {
    let name: String = cloud
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut name = name
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned();
    let hash = || {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(cloud.as_bytes())[..3])
    };
    if name.len() > 63 {
        name.truncate(56);
        name = format!("{}-{}", name.trim_end_matches(['-', '_', '.']), hash());
    }
    if name.is_empty() {
        name = format!("group-{}", hash());
    }
    let base = name.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{}-{n}", &base[..base.len().min(58)]);
        n += 1;
    }
    taken.insert(name.clone());
    name
}

/// A text from the cloud as it can be shown: Rust's escapes for quotes, backslashes and control
/// characters, cut at 80 characters.
pub fn shown(text: &str) -> String {
    let mut s: String = text.chars().take(80).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    format!("{s:?}")
}

/// The machines of one listing, sorted out (the shape `inventory snapshot` uses for nodes).
pub type Hosts = super::snapshot::Nodes;

/// Sorts machines into hosts, skipped machines and labels left out (see the module rules).
pub fn hosts(machines: &[Machine]) -> Hosts {
    let mut out = Hosts::default();
    let mut by_address: HashMap<IpAddr, String> = HashMap::new();
    let mut names: HashSet<String> = HashSet::new();
    let mut dropped: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut sorted: Vec<&Machine> = machines.iter().collect();
    sorted.sort_by(|a, b| a.names.first().cmp(&b.names.first()).then(a.id.cmp(&b.id)));
    for m in sorted {
        let skip = |reason: String| Skipped {
            node: shown(&m.id),
            reason,
        };
        let Some(address) = m.address else {
            out.skipped.push(skip(
                "no private IP address (stopped, or not attached?)".into(),
            ));
            continue;
        };
        let address = match crate::address::host_address(address) {
            Ok(a) => a,
            Err(why) => {
                out.skipped.push(skip(why));
                continue;
            }
        };
        if let Some(first) = by_address.get(&address) {
            out.skipped.push(skip(format!(
                "its address {address} is also {first}'s; {first} is kept"
            )));
            continue;
        }
        let Some(name) = m
            .names
            .iter()
            .chain(std::iter::once(&m.id))
            .find(|n| check_host_name(n).is_ok() && !names.contains(*n))
        else {
            out.skipped.push(skip(
                "no usable host name: each it has is taken or is not letters, digits, `-`, `_` and `.`"
                    .into(),
            ));
            continue;
        };
        by_address.insert(address, name.clone());
        names.insert(name.clone());
        let mut labels = BTreeMap::new();
        for (key, value) in &m.tags {
            let why = if let Some((_, why)) = RESERVED.iter().find(|(k, _)| k == key) {
                Some((*why).to_owned())
            } else if check_label_key(key).is_err() {
                Some(
                    "not a label key (a name like `team` or `example.com/team`: at most 63 letters, digits, `-`, `_`, `.`)"
                        .to_owned(),
                )
            } else if !(value.is_empty() || is_label_name(value)) {
                Some(format!(
                    "value {} is not a label value (at most 63 letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit)",
                    shown(value)
                ))
            } else {
                None
            };
            match why {
                Some(reason) => {
                    dropped.entry(shown(key)).or_insert((0, reason)).0 += 1;
                }
                None => {
                    labels.insert(key.clone(), value.clone());
                }
            }
        }
        if let Some(role) = role_of(&m.tags) {
            labels.insert("role".into(), role.label().into());
        }
        if let Some(g) = &m.node_group {
            labels.insert("node-group".into(), g.clone());
        }
        if let Some(z) = m.zone.as_ref().filter(|z| is_label_name(z)) {
            labels.insert(ZONE_LABEL.into(), z.clone());
        }
        out.hosts.push(NodeHost {
            name: name.clone(),
            address,
            labels,
        });
    }
    out.hosts.sort_by(|a, b| a.name.cmp(&b.name));
    out.dropped_labels = dropped
        .into_iter()
        .map(|(key, (nodes, reason))| DroppedLabel { key, nodes, reason })
        .collect();
    out
}

/// Where an import came from, for the file's header.
#[derive(Debug, Clone)]
pub struct Header {
    /// `2026-01-01T00:00:00Z`.
    pub made_at: String,
    /// E.g. `AWS us-east-1 (instances tagged kubernetes.io/cluster/prod)`.
    pub source: String,
    /// What the operator should know or add by hand (an endpoint that is a DNS name, a resource
    /// the inventory has no key for yet), one comment line each.
    pub notes: Vec<String>,
    /// The command that makes it again.
    pub refresh: String,
}

/// A line of text safe to write after `# `: one line, no control characters.
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The imported file's text: a header comment, then `[clusters.NAME]` (with its cloud table)
/// and one `[[hosts]]` per host.
pub fn render(cluster: &Cluster, hosts: &Hosts, header: &Header) -> Result<String, String> {
    let entries = hosts
        .hosts
        .iter()
        .map(|h| HostOut {
            name: &h.name,
            address: h.address,
            cluster: Some(&cluster.name),
            port: None,
            user: None,
            host_key: None,
            labels: h.labels.clone(),
        })
        .collect();
    let body = write::toml(None, cluster, entries)?;
    let count = hosts.hosts.len();
    let mut text = format!(
        "{MARKER} of cluster {}: {count} host{}, {} node group{}.\n",
        cluster.name,
        if count == 1 { "" } else { "s" },
        node_groups(cluster).len(),
        if node_groups(cluster).len() == 1 {
            ""
        } else {
            "s"
        },
    );
    text.push_str(&format!(
        "# Made {} by breakglass {} from {}.\n",
        header.made_at,
        env!("CARGO_PKG_VERSION"),
        comment(&header.source)
    ));
    for note in &header.notes {
        text.push_str(&format!("# Note: {}\n", comment(note)));
    }
    for s in &hosts.skipped {
        text.push_str(&format!(
            "# Skipped {}: {}.\n",
            comment(&s.node),
            comment(&s.reason)
        ));
    }
    text.push_str(&format!(
        "# Refresh with: {}\n# Add by hand what the cloud cannot tell: [defaults] (user, identity_files, \
         known_hosts), kubeconfig, ca_file, etcd_endpoints.\n\n",
        comment(&header.refresh)
    ));
    text.push_str(&body);
    Ok(text)
}

/// A `[clusters.NAME]` with nothing in it yet, for an import to fill.
pub fn empty_cluster(name: &str) -> Cluster {
    Cluster {
        name: name.to_owned(),
        api_endpoints: Vec::new(),
        node_api_endpoints: Vec::new(),
        tls_server_name: None,
        ca_file: None,
        labels: BTreeMap::new(),
        etcd_endpoints: Vec::new(),
        etcd_cert_file: None,
        etcd_key_file: None,
        etcd_ca_file: None,
        etcd_server_name: None,
        kubeconfig: None,
        context: None,
        aws: None,
        gcp: None,
        azure: None,
    }
}

/// The node groups of whichever cloud table the cluster has.
pub fn node_groups(cluster: &Cluster) -> &[NodeGroup] {
    if let Some(a) = &cluster.aws {
        &a.node_groups
    } else if let Some(g) = &cluster.gcp {
        &g.node_groups
    } else if let Some(z) = &cluster.azure {
        &z.node_groups
    } else {
        &[]
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::inventory::{AwsResources, Format, Inventory, NodeGroupBacking};

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn roles_follow_the_tools_conventions() {
        assert_eq!(
            role_of(&tags(&[("k8s.io/role/master", "1")])),
            Some(Role::ControlPlane)
        );
        assert_eq!(
            role_of(&tags(&[("eks:nodegroup-name", "ng1")])),
            Some(Role::Worker)
        );
        assert_eq!(
            role_of(&tags(&[("capg-role", "control-plane")])),
            Some(Role::ControlPlane)
        );
        assert_eq!(
            role_of(&tags(&[("k8s.io/role/node", "1"), ("k8s-role", "master")])),
            Some(Role::ControlPlane)
        );
        assert_eq!(role_of(&tags(&[("role", "db")])), None);
        assert_eq!(role_of(&tags(&[("Name", "x")])), None);
    }

    #[test]
    fn group_names_become_unique_label_values() {
        let mut taken = BTreeSet::new();
        assert_eq!(group_name("prod-workers-a", &mut taken), "prod-workers-a");
        assert_eq!(group_name("prod workers/a", &mut taken), "prod-workers-a-2");
        assert_eq!(group_name("\"; rm -rf /", &mut taken), "rm--rf");
        let long = "x".repeat(100);
        let g = group_name(&long, &mut taken);
        assert!(g.len() <= 63 && is_label_name(&g), "{g}");
        assert_ne!(g, group_name(&format!("{long}y"), &mut taken));
        assert!(group_name("!!!", &mut taken).starts_with("group-"));
    }

    /// Hostile tags: quotes, newlines, control characters, selector syntax, TOML syntax. What
    /// cannot be a label is left out and named escaped; the file loads back with only the rest.
    #[test]
    fn hostile_tags_never_reach_the_file_unchecked() {
        let machines = vec![
            Machine {
                id: "i-1".into(),
                names: vec!["ip-10-0-1-4.ec2.internal".into()],
                address: Some("10.0.1.4".parse().expect("ip")),
                tags: tags(&[
                    ("Name", "cp \"1\"\nx"),
                    ("team", "sre"),
                    ("evil", "a,b in (c)"),
                    ("k\"]\n[x]", "v"),
                    ("bell", "\u{7}"),
                    ("role", "control-plane"),
                    ("cluster", "other"),
                ]),
                node_group: Some("workers-a".into()),
                zone: Some("us-east-1a".into()),
            },
            Machine {
                id: "i-2\n# injected".into(),
                names: vec!["bad name\n[[hosts]]".into()],
                address: Some("10.0.1.5".parse().expect("ip")),
                tags: tags(&[("team", "sre")]),
                ..Machine::default()
            },
            Machine {
                id: "i-3".into(),
                names: vec!["ip-10-0-1-4.ec2.internal".into()],
                address: Some("10.0.1.4".parse().expect("ip")),
                ..Machine::default()
            },
            Machine {
                id: "i-4".into(),
                ..Machine::default()
            },
        ];
        let h = hosts(&machines);
        assert_eq!(h.hosts.len(), 1, "{h:?}");
        let labels = &h.hosts[0].labels;
        assert_eq!(labels["role"], "control-plane");
        assert_eq!(labels["node-group"], "workers-a");
        assert_eq!(labels["team"], "sre");
        assert_eq!(labels[ZONE_LABEL], "us-east-1a");
        assert!(!labels.contains_key("Name") && !labels.contains_key("evil"));
        let dropped: Vec<&str> = h.dropped_labels.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(
            dropped,
            [
                "\"Name\"",
                "\"bell\"",
                "\"cluster\"",
                "\"evil\"",
                "\"k\\\"]\\n[x]\"",
                "\"role\""
            ]
        );
        assert!(
            h.dropped_labels[0].reason.contains("\"cp \\\"1\\\"\\nx\""),
            "{:?}",
            h.dropped_labels[0]
        );
        // The machine with a hostile name and id is a host under neither: its id is no name
        // either, so it is skipped, named escaped.
        let skipped: Vec<(&str, &str)> = h
            .skipped
            .iter()
            .map(|s| (s.node.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        assert!(skipped.iter().any(|s| s.0 == "\"i-2\\n# injected\""));
        assert!(
            skipped
                .iter()
                .any(|s| s.0 == "\"i-3\"" && s.1.contains("ip-10-0-1-4.ec2.internal's"))
        );
        assert!(
            skipped
                .iter()
                .any(|s| s.0 == "\"i-4\"" && s.1.contains("no private IP"))
        );

        let mut cluster = empty_cluster("prod");
        cluster.aws = Some(AwsResources {
            region: Some("us-east-1".into()),
            endpoint: None,
            profile: None,
            config_file: None,
            credentials_file: None,
            node_groups: vec![NodeGroup {
                name: "workers-a".into(),
                backing: NodeGroupBacking::Asg("prod workers/a\n".into()),
            }],
            apiserver_security_group: None,
            eks_cluster: None,
            control_plane: None,
            apiserver_peers: vec![],
            operator_cidrs: vec![],
        });
        let header = Header {
            made_at: "2026-01-01T00:00:00Z".into(),
            source: "AWS\nus-east-1".into(),
            notes: vec!["an endpoint\r\n[[hosts]]".into()],
            refresh: "breakglass inventory import aws --cluster prod".into(),
        };
        let text = render(&cluster, &h, &header).expect("render");
        assert!(text.starts_with(MARKER), "{text}");
        // The header is comments to its end, whatever the cloud's texts held.
        let header_lines: Vec<&str> = text.lines().take_while(|l| !l.is_empty()).collect();
        assert!(header_lines.iter().all(|l| l.starts_with('#')), "{text}");
        assert_eq!(
            text.lines().filter(|l| l.trim() == "[[hosts]]").count(),
            1,
            "{text}"
        );
        let back = Inventory::from_str(&text, Path::new("/tmp/import.toml"), Format::Toml)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back.hosts.len(), 1);
        assert_eq!(back.hosts[0].labels["cluster"], "prod");
        assert_eq!(back.clusters["prod"].aws, cluster.aws);
    }
}
