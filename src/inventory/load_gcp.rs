//! `[clusters.NAME.gcp]`: the schema as written and its checks, each error pointing at the
//! offending value like every inventory error.
//!
//! ```toml
//! [clusters.prod.gcp]
//! project = "acme-prod"                     # default: the key file's, CLOUDSDK_CORE_PROJECT
//! zone = "us-central1-a"                    # default location of the node groups (or region)
//! endpoint = "https://private.googleapis.com"   # optional: both APIs under one root
//! node_groups = [
//!   { name = "workers-a", mig = "prod-workers-a" },                    # in `zone`
//!   { name = "workers-r", mig = "prod-workers-r", region = "us-central1" },
//!   { name = "pool1", gke_cluster = "prod", node_pool = "pool1", location = "us-central1" },
//! ]
//! # the control plane (cloud.firewall.block, apiservers.scale):
//! apiserver_firewall = { network = "prod-vpc", target_tags = ["k8s-apiserver"], priority = 100 }
//! gke_cluster = "prod"                      # its authorized networks; gke_location default: zone/region
//! control_plane = { mig = "prod-cp", zone = "us-central1-a", port = 6443 }   # self-managed
//! apiserver_peers = ["10.0.0.0/24"]         # must keep reaching the API through any block
//! operator_cidrs = ["203.0.113.7/32"]       # the break-glass egress, as GCP sees it
//! ```
//!
//! The firewall's rules target the API servers by `target_tags` or `target_service_accounts`
//! (one of them: rules without targets would cover every instance in the network); a block's
//! allow rule takes `priority` (default 100), its deny rule the next one, so both come before
//! the usual allow rules (1000).
//!
//! A node group is a managed instance group (`mig`, zonal with `zone` or regional with
//! `region`) or a GKE node pool (`gke_cluster` and `node_pool`, with the cluster's `location`),
//! never both; names are unique within the cluster.

use std::collections::HashSet;

use serde::Deserialize;
use toml::Spanned;

use super::checks::{check_cloud_name, check_endpoint, check_node_group_name};
use super::load::{Cx, InventoryError};
use super::load_aws::cidrs;
use super::{
    CloudControlPlane, GcpControl, GcpResources, GcpScope, NodeGroup, NodeGroupBacking, RuleLever,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [clusters.NAME.gcp] table")]
pub(super) struct RawGcp {
    project: Option<Spanned<String>>,
    zone: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    endpoint: Option<Spanned<String>>,
    #[serde(default)]
    node_groups: Vec<Spanned<RawNodeGroup>>,
    apiserver_firewall: Option<Spanned<RawFirewall>>,
    gke_cluster: Option<Spanned<String>>,
    gke_location: Option<Spanned<String>>,
    control_plane: Option<Spanned<RawControlPlane>>,
    #[serde(default)]
    apiserver_peers: Vec<Spanned<String>>,
    #[serde(default)]
    operator_cidrs: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "the API servers' firewall: { network = \"...\", target_tags = [\"...\"], priority = 100 }"
)]
struct RawFirewall {
    network: Spanned<String>,
    #[serde(default)]
    target_tags: Vec<Spanned<String>>,
    #[serde(default)]
    target_service_accounts: Vec<Spanned<String>>,
    priority: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a control plane: { mig = \"...\", zone = \"...\", port = 6443 }"
)]
struct RawControlPlane {
    mig: Spanned<String>,
    zone: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    port: Option<u16>,
}

/// The highest allow priority a block may take: its deny takes the next, and GCP's lowest is
/// 65535.
const MAX_PRIORITY: u32 = 65534;

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a node group: { name = \"...\", mig = \"...\", zone = \"...\" } or { name = \"...\", gke_cluster = \"...\", node_pool = \"...\", location = \"...\" }"
)]
struct RawNodeGroup {
    name: Spanned<String>,
    mig: Option<Spanned<String>>,
    zone: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    gke_cluster: Option<Spanned<String>>,
    node_pool: Option<Spanned<String>>,
    location: Option<Spanned<String>>,
}

/// GCP names (projects, zones, regions, resources): lower case letters, digits and hyphens
/// (and `_`, `.`, `:` as project ids of some organisations have).
fn gcp_name(v: &Spanned<String>, what: &str, cx: &Cx<'_>) -> Result<String, InventoryError> {
    check_cloud_name(
        cx,
        v,
        what,
        |b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.' | b':'),
        "lower-case letters, digits and hyphens",
    )
}

pub(super) fn build(cx: &Cx<'_>, raw: RawGcp) -> Result<GcpResources, InventoryError> {
    let project = raw
        .project
        .as_ref()
        .map(|p| gcp_name(p, "project", cx))
        .transpose()?;
    let zone = raw
        .zone
        .as_ref()
        .map(|z| gcp_name(z, "zone", cx))
        .transpose()?;
    let region = raw
        .region
        .as_ref()
        .map(|r| gcp_name(r, "region", cx))
        .transpose()?;
    if let (Some(_), Some(r)) = (&zone, &raw.region) {
        return Err(cx.invalid(
            &r.span(),
            "[clusters.NAME.gcp] sets both `zone` and `region`; expected one default location",
        ));
    }
    check_endpoint(cx, raw.endpoint.as_ref())?;
    let default_scope = zone
        .clone()
        .map(GcpScope::Zone)
        .or_else(|| region.clone().map(GcpScope::Region));
    let mut seen = HashSet::new();
    let mut node_groups = Vec::new();
    for g in raw.node_groups {
        let span = g.span();
        let g = g.into_inner();
        let name = g.name.get_ref();
        check_node_group_name(cx, &g.name, &mut seen)?;
        let backing = match (&g.mig, &g.gke_cluster, &g.node_pool) {
            (Some(mig), None, None) => {
                if g.location.is_some() {
                    return Err(cx.invalid(
                        &span,
                        format!("node group `{name}`: a managed instance group takes `zone` or `region`, not `location`"),
                    ));
                }
                let scope = mig_scope(
                    cx,
                    (g.zone.as_ref(), g.region.as_ref()),
                    default_scope.as_ref(),
                    &span,
                    &format!("node group `{name}`"),
                )?;
                NodeGroupBacking::Mig {
                    name: gcp_name(mig, "instance group name", cx)?,
                    scope,
                }
            }
            (None, Some(c), Some(p)) => {
                if let Some(z) = g.zone.as_ref().or(g.region.as_ref()) {
                    return Err(cx.invalid(
                        &z.span(),
                        format!("node group `{name}`: a GKE node pool takes `location` (its cluster's zone or region)"),
                    ));
                }
                let location = match &g.location {
                    Some(l) => gcp_name(l, "location", cx)?,
                    None => zone.clone().or_else(|| region.clone()).ok_or_else(|| {
                        cx.invalid(
                            &span,
                            format!("node group `{name}`: set `location`, the GKE cluster's zone or region"),
                        )
                    })?,
                };
                NodeGroupBacking::GkePool {
                    cluster: gcp_name(c, "GKE cluster name", cx)?,
                    pool: gcp_name(p, "node pool name", cx)?,
                    location,
                }
            }
            (Some(mig), _, _) => {
                return Err(cx.invalid(
                    &mig.span(),
                    format!("node group `{name}` sets both `mig` and `gke_*`; expected one: a managed instance group or a GKE node pool"),
                ));
            }
            (None, Some(_), None) | (None, None, Some(_)) => {
                let at = g.gke_cluster.as_ref().or(g.node_pool.as_ref());
                return Err(cx.invalid(
                    &at.map_or(span, Spanned::span),
                    format!(
                        "node group `{name}`: `gke_cluster` and `node_pool` go together; set both"
                    ),
                ));
            }
            (None, None, None) => {
                return Err(cx.invalid(
                    &span,
                    format!("node group `{name}` says nothing about what it is; expected `mig = \"...\"`, or `gke_cluster` and `node_pool`"),
                ));
            }
        };
        node_groups.push(NodeGroup {
            name: name.clone(),
            backing,
        });
    }
    let control = GcpControl {
        firewall: raw
            .apiserver_firewall
            .map(|f| firewall(cx, f))
            .transpose()?,
        gke: match (&raw.gke_cluster, &raw.gke_location) {
            (Some(c), l) => {
                let location = match l {
                    Some(l) => gcp_name(l, "location", cx)?,
                    None => zone.clone().or_else(|| region.clone()).ok_or_else(|| {
                        cx.invalid(
                            &c.span(),
                            "gke_cluster: set `gke_location`, the GKE cluster's zone or region",
                        )
                    })?,
                };
                Some((location, gcp_name(c, "GKE cluster name", cx)?))
            }
            (None, Some(l)) => {
                return Err(cx.invalid(&l.span(), "`gke_location` without `gke_cluster`"));
            }
            (None, None) => None,
        },
        control_plane: match raw.control_plane {
            None => None,
            Some(cp) => {
                let span = cp.span();
                let cp = cp.into_inner();
                let scope = mig_scope(
                    cx,
                    (cp.zone.as_ref(), cp.region.as_ref()),
                    default_scope.as_ref(),
                    &span,
                    "control_plane",
                )?;
                Some(CloudControlPlane {
                    group: NodeGroupBacking::Mig {
                        name: gcp_name(&cp.mig, "instance group name", cx)?,
                        scope,
                    },
                    port: cp.port.filter(|p| *p != 0).unwrap_or(6443),
                })
            }
        },
        apiserver_peers: cidrs(cx, raw.apiserver_peers)?,
        operator_cidrs: cidrs(cx, raw.operator_cidrs)?,
    };
    Ok(GcpResources {
        project,
        endpoint: raw.endpoint.map(Spanned::into_inner),
        node_groups,
        control,
    })
}

/// Where a MIG is: its own `zone` or `region`, else the table's.
fn mig_scope(
    cx: &Cx<'_>,
    (zone, region): (Option<&Spanned<String>>, Option<&Spanned<String>>),
    default: Option<&GcpScope>,
    span: &std::ops::Range<usize>,
    what: &str,
) -> Result<GcpScope, InventoryError> {
    match (zone, region) {
        (Some(z), None) => Ok(GcpScope::Zone(gcp_name(z, "zone", cx)?)),
        (None, Some(r)) => Ok(GcpScope::Region(gcp_name(r, "region", cx)?)),
        (Some(_), Some(r)) => Err(cx.invalid(
            &r.span(),
            format!("{what} sets both `zone` and `region`; expected one"),
        )),
        (None, None) => default.cloned().ok_or_else(|| {
            cx.invalid(
                span,
                format!(
                    "{what}: where is it? set `zone` or `region` on it or in [clusters.NAME.gcp]"
                ),
            )
        }),
    }
}

fn firewall(cx: &Cx<'_>, raw: Spanned<RawFirewall>) -> Result<RuleLever, InventoryError> {
    let span = raw.span();
    let f = raw.into_inner();
    let target_tags = f
        .target_tags
        .iter()
        .map(|t| gcp_name(t, "network tag", cx))
        .collect::<Result<Vec<_>, _>>()?;
    let mut target_service_accounts = Vec::new();
    for a in &f.target_service_accounts {
        let ok = a.get_ref().split_once('@').is_some_and(|(u, d)| {
            !u.is_empty() && d.contains('.') && !a.get_ref().contains(char::is_whitespace)
        });
        if !ok {
            return Err(cx.invalid(
                &a.span(),
                format!(
                    "`{}` is not a service account's email (NAME@PROJECT.iam.gserviceaccount.com)",
                    a.get_ref()
                ),
            ));
        }
        target_service_accounts.push(a.get_ref().clone());
    }
    if target_tags.is_empty() == target_service_accounts.is_empty() {
        return Err(cx.invalid(
            &span,
            "apiserver_firewall: name the API servers by `target_tags` or by \
             `target_service_accounts` (one of them: without targets the rules would cover every \
             instance in the network, and GCP takes one kind per rule)",
        ));
    }
    let priority = match &f.priority {
        None => 100,
        Some(p) if *p.get_ref() <= MAX_PRIORITY => *p.get_ref(),
        Some(p) => {
            return Err(cx.invalid(
                &p.span(),
                format!(
                    "priority {} leaves no room for the deny rule after it; expected 0 to {MAX_PRIORITY}",
                    p.get_ref()
                ),
            ));
        }
    };
    Ok(RuleLever {
        name: gcp_name(&f.network, "network", cx)?,
        resource_group: String::new(),
        target_tags,
        target_service_accounts,
        priority,
    })
}

#[cfg(test)]
mod tests {

    use crate::inventory::{GcpScope, Inventory, NodeGroupBacking};

    fn load(gcp: &str) -> Result<Inventory, String> {
        crate::inventory::load::load_cloud_table("gcp", gcp)
    }

    #[test]
    fn node_groups_are_read_with_where_they_live() {
        let inv = load(
            "project = \"acme\"\nzone = \"us-central1-a\"\nnode_groups = [\n  \
             { name = \"a\", mig = \"prod-a\" },\n  \
             { name = \"r\", mig = \"prod-r\", region = \"us-central1\" },\n  \
             { name = \"p\", gke_cluster = \"prod\", node_pool = \"pool1\" },\n]\n",
        )
        .expect("valid");
        let gcp = inv.clusters["prod"].gcp.as_ref().expect("gcp");
        assert_eq!(gcp.project.as_deref(), Some("acme"));
        assert_eq!(
            gcp.node_groups[0].backing,
            NodeGroupBacking::Mig {
                name: "prod-a".into(),
                scope: GcpScope::Zone("us-central1-a".into())
            }
        );
        assert_eq!(
            gcp.node_groups[1].backing.describe(),
            "managed instance group prod-r in us-central1"
        );
        assert_eq!(
            gcp.node_groups[2].backing.describe(),
            "GKE node pool prod/pool1 in us-central1-a"
        );
    }

    #[test]
    fn bad_node_groups_point_at_the_value() {
        let e = load("node_groups = [{ name = \"a\", mig = \"x\" }]\n").expect_err("no zone");
        assert!(
            e.starts_with("inv.toml:5:16: node group `a`: where is it?"),
            "{e}"
        );
        let e = load(
            "zone = \"z\"\nnode_groups = [{ name = \"a\", mig = \"x\", gke_cluster = \"c\" }]\n",
        )
        .expect_err("both");
        assert!(e.contains("sets both `mig` and `gke_*`"), "{e}");
        let e = load("project = \"Acme Prod\"\n").expect_err("bad project");
        assert!(e.contains("bad project `Acme Prod`"), "{e}");
    }

    #[test]
    fn the_control_plane_keys_are_read_and_bad_ones_point_at_the_value() {
        let inv = load(
            "zone = \"us-central1-a\"\napiserver_firewall = { network = \"prod-vpc\", target_tags = [\"k8s-api\"] }\n\
             gke_cluster = \"prod\"\ncontrol_plane = { mig = \"prod-cp\", port = 6444 }\n\
             apiserver_peers = [\"10.0.0.0/24\"]\noperator_cidrs = [\"203.0.113.7\"]\n",
        )
        .expect("valid");
        let c = &inv.clusters["prod"].gcp.as_ref().expect("gcp").control;
        let fw = c.firewall.as_ref().expect("firewall");
        assert_eq!((fw.name.as_str(), fw.priority), ("prod-vpc", 100));
        assert_eq!(c.gke, Some(("us-central1-a".into(), "prod".into())));
        let cp = c.control_plane.as_ref().expect("control plane");
        assert_eq!(
            (cp.group.describe(), cp.port),
            (
                "managed instance group prod-cp in us-central1-a".into(),
                6444
            )
        );
        assert_eq!(c.operator_cidrs[0].to_string(), "203.0.113.7/32");

        let e = load("apiserver_firewall = { network = \"prod-vpc\" }\n").expect_err("no targets");
        assert!(
            e.starts_with("inv.toml:5:22: apiserver_firewall: name the API servers"),
            "{e}"
        );
        let e = load(
            "apiserver_firewall = { network = \"v\", target_tags = [\"t\"], priority = 65535 }\n",
        )
        .expect_err("priority");
        assert!(
            e.starts_with("inv.toml:5:71: priority 65535 leaves no room"),
            "{e}"
        );
        let e =
            load("apiserver_firewall = { network = \"v\", target_service_accounts = [\"cp\"] }\n")
                .expect_err("account");
        assert!(e.contains("`cp` is not a service account's email"), "{e}");
        let e = load("gke_cluster = \"prod\"\n").expect_err("no location");
        assert!(
            e.starts_with("inv.toml:5:15: gke_cluster: set `gke_location`"),
            "{e}"
        );
        let e = load("control_plane = { mig = \"cp\" }\n").expect_err("no zone");
        assert!(e.contains("control_plane: where is it?"), "{e}");
    }
}
