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
//! # the control plane (cloud.firewall.block, apiservers.scale):
//! apiserver_nsg = { name = "prod-cp-nsg", priority = 100 }   # resource_group default: the table's
//! aks_cluster = "prod"                      # its authorized IP ranges (in `resource_group`)
//! control_plane = { vmss = "prod-cp", port = 6443 }          # self-managed
//! apiserver_peers = ["10.0.0.0/24"]         # must keep reaching the API through any block
//! operator_cidrs = ["203.0.113.7/32"]       # the break-glass egress, as Azure sees it
//! ```
//!
//! A block's allow rule takes the NSG priority `priority` (default 100, the first Azure
//! allows), its deny rule the next one: both come before the rules the group already has.
//!
//! A node group is a scale set (`vmss`) or an AKS agent pool (`aks_cluster` and `agent_pool`),
//! never both; names are unique within the cluster.

use std::collections::HashSet;

use serde::Deserialize;
use toml::Spanned;

use super::checks::{check_cloud_name, check_endpoint, check_node_group_name};
use super::load::{Cx, InventoryError};
use super::load_aws::cidrs;
use super::{
    AzureControl, AzureResources, CloudControlPlane, NodeGroup, NodeGroupBacking, RuleLever,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [clusters.NAME.azure] table")]
pub(super) struct RawAzure {
    subscription: Spanned<String>,
    resource_group: Option<Spanned<String>>,
    endpoint: Option<Spanned<String>>,
    #[serde(default)]
    node_groups: Vec<Spanned<RawNodeGroup>>,
    apiserver_nsg: Option<Spanned<RawNsg>>,
    aks_cluster: Option<Spanned<String>>,
    control_plane: Option<Spanned<RawControlPlane>>,
    #[serde(default)]
    apiserver_peers: Vec<Spanned<String>>,
    #[serde(default)]
    operator_cidrs: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "the API servers' network security group: { name = \"...\", priority = 100 }"
)]
struct RawNsg {
    name: Spanned<String>,
    resource_group: Option<Spanned<String>>,
    priority: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a control plane: { vmss = \"...\", port = 6443 }"
)]
struct RawControlPlane {
    vmss: Spanned<String>,
    resource_group: Option<Spanned<String>>,
    port: Option<u16>,
}

/// NSG rule priorities run from 100 to 4096; the deny rule takes the one after the allow's.
const PRIORITIES: std::ops::RangeInclusive<u32> = 100..=4095;

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
    // The resource group of a control-plane key: its own, else the table's.
    let rg = |own: Option<&Spanned<String>>, span: &std::ops::Range<usize>, what: &str| match own {
        Some(r) => arm_name(r, "resource group", cx),
        None => default_rg.clone().ok_or_else(|| {
            cx.invalid(
                span,
                format!("{what}: set `resource_group` on it or in [clusters.NAME.azure]"),
            )
        }),
    };
    let nsg = match raw.apiserver_nsg {
        None => None,
        Some(n) => {
            let span = n.span();
            let n = n.into_inner();
            let priority = match &n.priority {
                None => 100,
                Some(p) if PRIORITIES.contains(p.get_ref()) => *p.get_ref(),
                Some(p) => {
                    return Err(cx.invalid(
                        &p.span(),
                        format!(
                            "priority {} is not one a block can take: its allow rule takes it and \
                             its deny rule the next, within Azure's 100 to 4096; expected 100 to 4095",
                            p.get_ref()
                        ),
                    ));
                }
            };
            Some(RuleLever {
                resource_group: rg(n.resource_group.as_ref(), &span, "apiserver_nsg")?,
                name: arm_name(&n.name, "network security group name", cx)?,
                target_tags: Vec::new(),
                target_service_accounts: Vec::new(),
                priority,
            })
        }
    };
    let aks = match &raw.aks_cluster {
        None => None,
        Some(c) => Some((
            rg(None, &c.span(), "aks_cluster")?,
            arm_name(c, "AKS cluster name", cx)?,
        )),
    };
    let control_plane = match raw.control_plane {
        None => None,
        Some(cp) => {
            let span = cp.span();
            let cp = cp.into_inner();
            Some(CloudControlPlane {
                group: NodeGroupBacking::Vmss {
                    resource_group: rg(cp.resource_group.as_ref(), &span, "control_plane")?,
                    name: arm_name(&cp.vmss, "scale set name", cx)?,
                },
                port: cp.port.filter(|p| *p != 0).unwrap_or(6443),
            })
        }
    };
    Ok(AzureResources {
        subscription,
        endpoint: raw.endpoint.map(Spanned::into_inner),
        node_groups,
        control: AzureControl {
            nsg,
            aks,
            control_plane,
            apiserver_peers: cidrs(cx, raw.apiserver_peers)?,
            operator_cidrs: cidrs(cx, raw.operator_cidrs)?,
        },
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

    #[test]
    fn the_control_plane_keys_are_read_and_bad_ones_point_at_the_value() {
        let inv = load(
            "subscription = \"s\"\nresource_group = \"prod-rg\"\n\
             apiserver_nsg = { name = \"cp-nsg\", priority = 200 }\naks_cluster = \"prod\"\n\
             control_plane = { vmss = \"prod-cp\", resource_group = \"cp-rg\" }\n",
        )
        .expect("valid");
        let c = &inv.clusters["prod"].azure.as_ref().expect("azure").control;
        let nsg = c.nsg.as_ref().expect("nsg");
        assert_eq!(
            (nsg.resource_group.as_str(), nsg.name.as_str(), nsg.priority),
            ("prod-rg", "cp-nsg", 200)
        );
        assert_eq!(c.aks, Some(("prod-rg".into(), "prod".into())));
        let cp = c.control_plane.as_ref().expect("control plane");
        assert_eq!(
            (cp.group.describe(), cp.port),
            ("scale set cp-rg/prod-cp".into(), 6443)
        );
        let e = load("subscription = \"s\"\nresource_group = \"r\"\napiserver_nsg = { name = \"n\", priority = 4096 }\n")
            .expect_err("priority");
        assert!(
            e.starts_with("inv.toml:7:42: priority 4096 is not one a block can take"),
            "{e}"
        );
        let e =
            load("subscription = \"s\"\naks_cluster = \"prod\"\n").expect_err("no resource group");
        assert!(
            e.starts_with("inv.toml:6:15: aks_cluster: set `resource_group`"),
            "{e}"
        );
    }
}
