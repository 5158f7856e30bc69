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
//! ```
//!
//! A node group is a managed instance group (`mig`, zonal with `zone` or regional with
//! `region`) or a GKE node pool (`gke_cluster` and `node_pool`, with the cluster's `location`),
//! never both; names are unique within the cluster.

use std::collections::HashSet;

use serde::Deserialize;
use toml::Spanned;

use super::checks::{check_cloud_name, check_endpoint, check_node_group_name};
use super::load::{Cx, InventoryError};
use super::{GcpResources, GcpScope, NodeGroup, NodeGroupBacking};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [clusters.NAME.gcp] table")]
pub(super) struct RawGcp {
    project: Option<Spanned<String>>,
    zone: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    endpoint: Option<Spanned<String>>,
    #[serde(default)]
    node_groups: Vec<Spanned<RawNodeGroup>>,
}

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
                let scope = match (&g.zone, &g.region) {
                    (Some(z), None) => GcpScope::Zone(gcp_name(z, "zone", cx)?),
                    (None, Some(r)) => GcpScope::Region(gcp_name(r, "region", cx)?),
                    (Some(_), Some(r)) => {
                        return Err(cx.invalid(
                            &r.span(),
                            format!("node group `{name}` sets both `zone` and `region`; expected one"),
                        ));
                    }
                    (None, None) => default_scope.clone().ok_or_else(|| {
                        cx.invalid(
                            &span,
                            format!("node group `{name}`: where is it? set `zone` or `region` on it or in [clusters.NAME.gcp]"),
                        )
                    })?,
                };
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
    Ok(GcpResources {
        project,
        endpoint: raw.endpoint.map(Spanned::into_inner),
        node_groups,
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
}
