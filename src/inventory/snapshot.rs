//! `inventory snapshot`: a cluster's nodes, as the API lists them or as `kubectl get nodes -o json`
//! saved them, turned into an inventory file for the day the API is down.
//!
//! This module only converts; it never connects anywhere and never writes (the command lists
//! the nodes and writes the file). The node shape is the Node object of the API reference,
//! <https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/node-v1/>:
//! `metadata.name`, `metadata.labels`, and `status.addresses`, a list of `{type, address}` whose
//! `type` is `InternalIP`, `ExternalIP`, `Hostname`, `InternalDNS` or `ExternalDNS`.
//!
//! Rules:
//! - One host per node, named after the node, at its first `InternalIP` (on a dual-stack node
//!   the kubelet lists the primary family's address first), in name order.
//! - Labels: the node's labels that are valid inventory labels, minus `cluster` (reserved: the
//!   host's cluster sets it) and `role`, plus `role = control-plane` for a node labelled
//!   `node-role.kubernetes.io/control-plane` or `node-role.kubernetes.io/master` (before 1.24),
//!   else `role = worker`, so `role=worker` selects the same hosts in every inventory.
//! - A node that cannot be a host (no `InternalIP`, an address that is not an IP, a name the
//!   inventory refuses, a name or address already taken by an earlier node) is skipped with the
//!   reason; the command decides whether that is fatal (`--strict`).
//! - The base inventory's `[defaults]` (with its `jump`, and the jump host's own entry when it is
//!   a host of that file) and the cluster's `[clusters.NAME]` table are written too, with every
//!   path absolute, so the snapshot is self-contained wherever it is copied on the same machine.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::checks::{check_host_name, check_label_key, check_label_value};
use super::write::{self, HostOut};
use super::{Cluster, Host, Inventory};

/// The first line of every snapshot. The command overwrites a file that starts with it (the
/// cron job refreshing its snapshot) and refuses, without `--force`, one that does not.
pub const MARKER: &str = "# breakglass inventory snapshot";

/// The label keys that make a node a control-plane host.
const CONTROL_PLANE_LABELS: [&str; 2] = [
    "node-role.kubernetes.io/control-plane",
    "node-role.kubernetes.io/master",
];

/// A node that becomes a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeHost {
    pub name: String,
    pub address: IpAddr,
    /// The labels written, `role` included.
    pub labels: BTreeMap<String, String>,
}

/// A node that does not become a host, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The node's name, or `item N` (1-based) when it has none.
    pub node: String,
    pub reason: String,
}

/// A node label left out, folded over the nodes that carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedLabel {
    pub key: String,
    pub nodes: usize,
    pub reason: String,
}

/// The nodes of one listing, sorted out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nodes {
    /// In name order.
    pub hosts: Vec<NodeHost>,
    /// In name order.
    pub skipped: Vec<Skipped>,
    pub dropped_labels: Vec<DroppedLabel>,
}

/// The Node objects of `kubectl get nodes -o json` (a `List` or `NodeList` with `items`), or of
/// `kubectl get node NAME -o json` (one `Node`). The message says what the text is instead.
pub fn node_items(text: &str) -> Result<Vec<Value>, String> {
    const EXPECTED: &str = "expected the output of `kubectl get nodes -o json`";
    let value: Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "not JSON (line {}, column {}: {e}); {EXPECTED}",
            e.line(),
            e.column()
        )
    })?;
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
    let items = match (kind, value.get("items")) {
        ("Node", _) => return Ok(vec![value]),
        // kubectl writes `List`; the API answers `NodeList`.
        ("List" | "NodeList" | "", Some(Value::Array(items))) => items.clone(),
        ("List" | "NodeList" | "", Some(Value::Null)) => Vec::new(),
        ("", _) => {
            return Err(format!(
                "a JSON value without `kind` or `items`; {EXPECTED}"
            ));
        }
        (kind, _) => return Err(format!("a {kind}, not a list of nodes; {EXPECTED}")),
    };
    for (i, item) in items.iter().enumerate() {
        // Items of a LIST answer carry no kind; kubectl's `List` sets it on each.
        match item.get("kind").and_then(Value::as_str) {
            None | Some("Node") => {}
            Some(other) => {
                return Err(format!(
                    "item {} is a {other}, not a Node; {EXPECTED}",
                    i + 1
                ));
            }
        }
    }
    Ok(items)
}

/// Sorts Node objects into hosts and skipped nodes (see the module rules).
pub fn nodes(items: &[Value]) -> Nodes {
    let mut named: Vec<(String, &Value)> = Vec::with_capacity(items.len());
    let mut out = Nodes::default();
    for (i, item) in items.iter().enumerate() {
        match item.pointer("/metadata/name").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => named.push((name.to_owned(), item)),
            _ => out.skipped.push(Skipped {
                node: format!("item {}", i + 1),
                reason: "no metadata.name".into(),
            }),
        }
    }
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let mut by_address: HashMap<IpAddr, String> = HashMap::new();
    let mut previous: Option<&str> = None;
    let mut dropped: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for (name, item) in &named {
        let skip = |reason: String| Skipped {
            node: name.clone(),
            reason,
        };
        if previous == Some(name.as_str()) {
            out.skipped
                .push(skip("listed twice; the first is kept".into()));
            continue;
        }
        previous = Some(name);
        if let Err(why) = check_host_name(name) {
            out.skipped.push(skip(why));
            continue;
        }
        let address = match internal_ip(item) {
            Ok(a) => a,
            Err(why) => {
                out.skipped.push(skip(why));
                continue;
            }
        };
        if let Some(first) = by_address.get(&address) {
            out.skipped.push(skip(format!(
                "its InternalIP {address} is also node {first}'s (a stale Node object?); {first} is kept"
            )));
            continue;
        }
        by_address.insert(address, name.clone());
        let mut labels = BTreeMap::new();
        let mut control_plane = false;
        if let Some(node_labels) = item.pointer("/metadata/labels").and_then(Value::as_object) {
            for (key, value) in node_labels {
                control_plane |= CONTROL_PLANE_LABELS.contains(&key.as_str());
                let value = value.as_str().unwrap_or_default();
                let why = match key.as_str() {
                    "cluster" => Some("reserved: the snapshot sets cluster=NAME".to_owned()),
                    "role" => Some(
                        "replaced by role=control-plane|worker, from the node-role labels".into(),
                    ),
                    _ => check_label_key(key)
                        .and_then(|()| check_label_value(value))
                        .err(),
                };
                match why {
                    Some(reason) => {
                        let entry = dropped.entry(key.clone()).or_insert((0, reason));
                        entry.0 += 1;
                    }
                    None => {
                        labels.insert(key.clone(), value.to_owned());
                    }
                }
            }
        }
        let role = if control_plane {
            "control-plane"
        } else {
            "worker"
        };
        labels.insert("role".into(), role.into());
        out.hosts.push(NodeHost {
            name: name.clone(),
            address,
            labels,
        });
    }
    out.skipped.sort_by(|a, b| a.node.cmp(&b.node));
    out.dropped_labels = dropped
        .into_iter()
        .map(|(key, (nodes, reason))| DroppedLabel { key, nodes, reason })
        .collect();
    out
}

/// The node's first `InternalIP`, or why there is none to use.
fn internal_ip(node: &Value) -> Result<IpAddr, String> {
    let addresses = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let internal: Vec<&str> = addresses
        .iter()
        .filter(|a| a.get("type").and_then(Value::as_str) == Some("InternalIP"))
        .filter_map(|a| a.get("address").and_then(Value::as_str))
        .collect();
    if let Some(first) = internal.first() {
        return first.parse().map_err(|_| {
            format!(
                "its InternalIP `{first}` is not an IP address; breakglass never resolves names"
            )
        });
    }
    let others: Vec<String> = addresses
        .iter()
        .filter_map(|a| {
            Some(format!(
                "{} {}",
                a.get("type")?.as_str()?,
                a.get("address")?.as_str()?
            ))
        })
        .collect();
    Err(if others.is_empty() {
        "no InternalIP in status.addresses (it has no addresses: a node that never registered?)"
            .into()
    } else {
        format!(
            "no InternalIP in status.addresses (it has {}); breakglass reaches nodes by internal IP",
            others.join(", ")
        )
    })
}

/// Where a snapshot came from, for its header.
#[derive(Debug, Clone)]
pub struct Header {
    /// `2026-01-01T00:00:00Z`.
    pub made_at: String,
    /// E.g. `the API of cluster prod (10.0.0.10:6443)` or `nodes.json (kubectl get nodes -o json)`.
    pub source: String,
    /// The inventory whose `[defaults]` and cluster table were copied, if any.
    pub base: Option<PathBuf>,
    /// The command that makes it again.
    pub refresh: String,
}

/// The snapshot's text: a header comment, then `[defaults]`, `[clusters.NAME]` and one
/// `[[hosts]]` per node (after the default jump host's entry when it is a host of `base`).
/// `base` holds `cluster` (the command checks). Paths become absolute.
pub fn render(
    base: &Inventory,
    cluster: &Cluster,
    nodes: &Nodes,
    header: &Header,
) -> Result<String, String> {
    let d = &base.defaults;
    let mut hosts: Vec<HostOut<'_>> = Vec::with_capacity(nodes.hosts.len() + 1);
    // A default jump that names a host of the base file needs that host in the snapshot too.
    if let Some(jump) = d
        .jump
        .as_deref()
        .and_then(|j| base.hosts.iter().find(|h| h.name == j))
    {
        hosts.push(jump_host(jump, cluster, d));
    }
    hosts.extend(nodes.hosts.iter().map(|n| HostOut {
        name: &n.name,
        address: n.address,
        cluster: Some(&cluster.name),
        port: None,
        user: None,
        host_key: None,
        labels: n.labels.clone(),
    }));
    let body = write::toml(Some(d), cluster, hosts)?;
    let mut text = format!(
        "{MARKER} of cluster {}: {} host{}.\n",
        cluster.name,
        nodes.hosts.len(),
        if nodes.hosts.len() == 1 { "" } else { "s" }
    );
    text.push_str(&format!(
        "# Made {} by breakglass {} from {}.\n",
        header.made_at,
        env!("CARGO_PKG_VERSION"),
        header.source
    ));
    if let Some(base) = &header.base {
        text.push_str(&format!(
            "# [defaults] and [clusters.{}] from {}.\n",
            cluster.name,
            write::absolute(base).display()
        ));
    }
    for s in &nodes.skipped {
        text.push_str(&format!("# Skipped node {}: {}.\n", s.node, s.reason));
    }
    text.push_str(&format!(
        "# Refresh with: {}\n# Generated: edit the inventory it came from instead.\n\n",
        header.refresh
    ));
    text.push_str(&body);
    Ok(text)
}

/// The base file's default jump host, as its own entry (labels without the ones its cluster
/// and the `cluster` key add back at load).
fn jump_host<'a>(h: &'a Host, cluster: &'a Cluster, d: &super::Defaults) -> HostOut<'a> {
    let same_cluster = h.cluster.as_deref() == Some(cluster.name.as_str());
    let labels = h
        .labels
        .iter()
        .filter(|(k, v)| {
            *k != "cluster" && !(same_cluster && cluster.labels.get(k.as_str()) == Some(v))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    HostOut {
        name: &h.name,
        address: h.address,
        cluster: same_cluster.then_some(cluster.name.as_str()),
        port: (h.port != d.port).then_some(h.port),
        user: (h.user != d.user).then_some(h.user.as_str()),
        host_key: h.host_key.as_deref(),
        labels,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::inventory::Format;
    use std::path::Path;

    fn node(name: &str, addresses: &[(&str, &str)], labels: &Value) -> Value {
        let addresses: Vec<Value> = addresses
            .iter()
            .map(|(t, a)| json!({"type": t, "address": a}))
            .collect();
        json!({"metadata": {"name": name, "labels": labels}, "status": {"addresses": addresses}})
    }

    #[test]
    fn nodes_become_hosts_in_name_order_with_roles_and_reasons() {
        let items = vec![
            node(
                "w2",
                &[("Hostname", "w2"), ("InternalIP", "10.0.1.2")],
                &json!({"kubernetes.io/hostname": "w2", "cluster": "x", "role": "db"}),
            ),
            node(
                "cp1",
                &[("InternalIP", "10.0.0.1"), ("InternalIP", "fd00::1")],
                &json!({"node-role.kubernetes.io/control-plane": ""}),
            ),
            node(
                "w1",
                &[("ExternalIP", "203.0.113.9"), ("Hostname", "w1")],
                &json!({}),
            ),
            node("w3", &[("InternalIP", "10.0.1.2")], &json!({})),
            node("w4", &[("InternalIP", "w4.internal")], &json!({})),
            json!({"metadata": {}}),
        ];
        let n = nodes(&items);
        let names: Vec<&str> = n.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["cp1", "w2"]);
        assert_eq!(n.hosts[0].address.to_string(), "10.0.0.1");
        assert_eq!(n.hosts[0].labels["role"], "control-plane");
        assert_eq!(n.hosts[1].labels["role"], "worker");
        assert!(!n.hosts[1].labels.contains_key("cluster"));
        let skipped: Vec<(&str, &str)> = n
            .skipped
            .iter()
            .map(|s| (s.node.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(skipped.len(), 4, "{skipped:?}");
        assert_eq!(skipped[0].0, "item 6");
        assert!(
            skipped[1].0 == "w1" && skipped[1].1.contains("ExternalIP 203.0.113.9"),
            "{skipped:?}"
        );
        assert!(
            skipped[2].0 == "w3" && skipped[2].1.contains("w2"),
            "{skipped:?}"
        );
        assert!(skipped[3].0 == "w4" && skipped[3].1.contains("not an IP"));
        let dropped: Vec<&str> = n.dropped_labels.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(dropped, ["cluster", "role"]);
    }

    #[test]
    fn node_lists_are_recognised() {
        assert_eq!(
            node_items(r#"{"kind":"List","items":[{"kind":"Node"}]}"#).map(|v| v.len()),
            Ok(1)
        );
        assert_eq!(
            node_items(r#"{"kind":"Node","metadata":{"name":"a"}}"#).map(|v| v.len()),
            Ok(1)
        );
        let e = node_items(r#"{"kind":"PodList","items":[]}"#).unwrap_err();
        assert!(e.contains("a PodList, not a list of nodes"), "{e}");
        let e = node_items(r#"{"kind":"List","items":[{"kind":"Pod"}]}"#).unwrap_err();
        assert!(e.contains("item 1 is a Pod"), "{e}");
        let e = node_items("name: a").unwrap_err();
        assert!(e.contains("not JSON"), "{e}");
    }

    #[test]
    fn the_rendered_snapshot_loads_back() {
        let base = Inventory::from_str(
            "[defaults]\nuser = \"ops\"\njump = \"bastion\"\nidentity_files = [\"keys/id\"]\n\n\
             [clusters.prod]\napi_endpoints = [\"10.0.0.10:6443\"]\nlabels = { env = \"prod\" }\n\n\
             [clusters.prod.aws]\nregion = \"us-east-1\"\nnode_groups = [{ name = \"workers-a\", asg = \"prod-a\" }, \
             { name = \"ng1\", eks_cluster = \"prod\", eks_nodegroup = \"ng1\" }]\n\n\
             [[hosts]]\nname = \"bastion\"\naddress = \"192.0.2.1\"\n\
             host_key = \"SHA256:abc\"\nlabels = { role = \"bastion\" }\n",
            Path::new("/etc/breakglass/fleet.toml"),
            Format::Toml,
        )
        .expect("base");
        let n = nodes(&[
            node(
                "cp1",
                &[("InternalIP", "10.0.0.10")],
                &json!({"node-role.kubernetes.io/master": ""}),
            ),
            node(
                "w1",
                &[("InternalIP", "10.0.1.1")],
                &json!({"topology.kubernetes.io/zone": "a"}),
            ),
        ]);
        let header = Header {
            made_at: "2026-01-01T00:00:00Z".into(),
            source: "a test".into(),
            base: Some(base.path.clone()),
            refresh: "breakglass ...".into(),
        };
        let text = render(&base, &base.clusters["prod"], &n, &header).expect("render");
        assert!(text.starts_with(MARKER), "{text}");
        let back = Inventory::from_str(&text, Path::new("/tmp/snap.toml"), Format::Toml)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let names: Vec<&str> = back.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["bastion", "cp1", "w1"]);
        assert_eq!(back.hosts[1].user, "ops");
        assert_eq!(
            back.hosts[1].jump.as_ref().map(|j| j.name.as_str()),
            Some("bastion")
        );
        assert_eq!(back.hosts[0].host_key.as_deref(), Some("SHA256:abc"));
        assert_eq!(back.hosts[2].labels["env"], "prod");
        assert_eq!(back.hosts[2].labels["cluster"], "prod");
        assert_eq!(back.hosts[2].labels["topology.kubernetes.io/zone"], "a");
        assert_eq!(back.hosts[1].labels["role"], "control-plane");
        assert_eq!(
            back.defaults.identity_files,
            [PathBuf::from("/etc/breakglass/keys/id")]
        );
        assert_eq!(back.clusters["prod"], base.clusters["prod"]);
    }
}
