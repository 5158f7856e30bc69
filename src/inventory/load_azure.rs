//! `[clusters.NAME.azure]`: the schema as written and its checks, each error pointing at the
//! offending value like every inventory error.
//!
//! ```toml
//! [clusters.prod.azure]
//! subscription = "00000000-0000-0000-0000-000000000000"
//! resource_group = "prod-rg"                # default for the node groups
//! endpoint = "https://management.azure.com" # optional
//! node_groups = [
//!   { name = "workers-a", vmss = "prod-workers-a" },
//!   { name = "pool1", aks_cluster = "prod", agent_pool = "pool1", resource_group = "prod-aks" },
//! ]
//! ```
//!
//! A node group is a scale set (`vmss`) or an AKS agent pool (`aks_cluster` and `agent_pool`),
//! never both; names are unique within the cluster.

use std::collections::HashSet;

use serde::Deserialize;
use toml::Spanned;

use super::checks::{check_cloud_name, check_endpoint, check_node_group_name};
use super::load::{Cx, InventoryError};
use super::{AzureResources, NodeGroup, NodeGroupBacking};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [clusters.NAME.azure] table")]
pub(super) struct RawAzure {
    subscription: Spanned<String>,
    resource_group: Option<Spanned<String>>,
    endpoint: Option<Spanned<String>>,
    #[serde(default)]
    node_groups: Vec<Spanned<RawNodeGroup>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a node group: { name = \"...\", vmss = \"...\" } or { name = \"...\", aks_cluster = \"...\", agent_pool = \"...\" }"
)]
struct RawNodeGroup {
    name: Spanned<String>,
    vmss: Option<Spanned<String>>,
    aks_cluster: Option<Spanned<String>>,
    agent_pool: Option<Spanned<String>>,
    resource_group: Option<Spanned<String>>,
}

/// ARM names in a URL path: no slashes, no query, nothing to escape.
fn arm_name(v: &Spanned<String>, what: &str, cx: &Cx<'_>) -> Result<String, InventoryError> {
    check_cloud_name(
        cx,
        v,
        what,
        |b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'(' | b')'),
        "letters, digits, '-', '_', '.', '(' and ')'",
    )
}

pub(super) fn build(cx: &Cx<'_>, raw: RawAzure) -> Result<AzureResources, InventoryError> {
    let subscription = arm_name(&raw.subscription, "subscription", cx)?;
    let default_rg = raw
        .resource_group
        .as_ref()
        .map(|r| arm_name(r, "resource group", cx))
        .transpose()?;
    check_endpoint(cx, raw.endpoint.as_ref())?;
    let mut seen = HashSet::new();
    let mut node_groups = Vec::new();
    for g in raw.node_groups {
        let span = g.span();
        let g = g.into_inner();
        let name = g.name.get_ref();
        check_node_group_name(cx, &g.name, &mut seen)?;
        let resource_group = match &g.resource_group {
            Some(r) => arm_name(r, "resource group", cx)?,
            None => default_rg.clone().ok_or_else(|| {
                cx.invalid(
                    &span,
                    format!("node group `{name}`: set `resource_group` on it or in [clusters.NAME.azure]"),
                )
            })?,
        };
        let backing = match (&g.vmss, &g.aks_cluster, &g.agent_pool) {
            (Some(v), None, None) => NodeGroupBacking::Vmss {
                resource_group,
                name: arm_name(v, "scale set name", cx)?,
            },
            (None, Some(c), Some(p)) => NodeGroupBacking::AksPool {
                resource_group,
                cluster: arm_name(c, "AKS cluster name", cx)?,
                pool: arm_name(p, "agent pool name", cx)?,
            },
            (Some(v), _, _) => {
                return Err(cx.invalid(
                    &v.span(),
                    format!("node group `{name}` sets both `vmss` and `aks_*`/`agent_pool`; expected one"),
                ));
            }
            (None, _, _) => {
                return Err(cx.invalid(
                    &span,
                    format!("node group `{name}`: expected `vmss = \"...\"`, or `aks_cluster` and `agent_pool` together"),
                ));
            }
        };
        node_groups.push(NodeGroup {
            name: name.clone(),
            backing,
        });
    }
    Ok(AzureResources {
        subscription,
        endpoint: raw.endpoint.map(Spanned::into_inner),
        node_groups,
    })
}

#[cfg(test)]
mod tests {

    use crate::inventory::Inventory;

    fn load(azure: &str) -> Result<Inventory, String> {
        crate::inventory::load::load_cloud_table("azure", azure)
    }

    #[test]
    fn node_groups_are_read_with_their_resource_group() {
        let inv = load(
            "subscription = \"sub-1\"\nresource_group = \"prod-rg\"\nnode_groups = [\n  \
             { name = \"a\", vmss = \"prod-a\" },\n  \
             { name = \"p\", aks_cluster = \"prod\", agent_pool = \"pool1\", resource_group = \"aks-rg\" },\n]\n",
        )
        .expect("valid");
        let az = inv.clusters["prod"].azure.as_ref().expect("azure");
        assert_eq!(
            az.node_groups[0].backing.describe(),
            "scale set prod-rg/prod-a"
        );
        assert_eq!(
            az.node_groups[1].backing.describe(),
            "AKS agent pool aks-rg/prod/pool1"
        );
        let e = load("subscription = \"s\"\nnode_groups = [{ name = \"a\", vmss = \"x\" }]\n")
            .expect_err("no resource group");
        assert!(e.contains("set `resource_group`"), "{e}");
        let e = load("subscription = \"s/../x\"\n").expect_err("bad subscription");
        assert!(e.contains("bad subscription"), "{e}");
    }
}
