//! `inventory import azure`: the AKS cluster's agent pools and the scale sets of its node
//! resource group, else the scale sets and VMs of a resource group.
//!
//! Node groups: each AKS agent pool (`aks_cluster`, `agent_pool`; AKS owns the scale sets behind
//! them, which are not listed again); for a self-managed cluster each scale set, unless every VM
//! of it is a control-plane machine (the Azure table has no control-plane group, and a runbook
//! shrinking "every node group" must not shrink the API servers). VMs outside scale sets are
//! hosts with no group. The inventory has no key yet for a network security group or the AKS
//! API's name: they are written as notes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::Value;

use super::{Found, cloud_failed, matches, progress, tag_filters};
use crate::cli::AzureImportArgs;
use crate::inventory::import::{Machine, Role, group_name, role_of};
use crate::inventory::{AzureResources, NodeGroup, NodeGroupBacking};
use crate::transport::RateLimiter;
use crate::transport::cloud::azure::{Azure, AzureConfig};
use crate::transport::rate::Budget;

/// The tag AKS puts on an agent pool's scale set.
const POOL_TAG: &str = "aks-managed-poolName";
/// The port of a self-managed control plane's API servers.
const API_PORT: u16 = 6443;

fn tags_of(v: &Value) -> Vec<(String, String)> {
    v["tags"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// A VM (of a scale set or not) as a machine; `extra` tags (its scale set's) under its own.
fn machine(
    vm: &Value,
    extra: &[(String, String)],
    addresses: &HashMap<String, IpAddr>,
    location: Option<&str>,
) -> Machine {
    let id = text(vm, "/id").unwrap_or_default();
    let mut tags = extra.to_vec();
    for (k, v) in tags_of(vm) {
        tags.retain(|(ek, _)| *ek != k);
        tags.push((k, v));
    }
    let zone = text(vm, "/zones/0").map(|z| match location {
        Some(l) => format!("{l}-{z}"),
        None => z.to_owned(),
    });
    Machine {
        id: text(vm, "/name").unwrap_or(id).to_owned(),
        names: text(vm, "/properties/osProfile/computerName")
            .into_iter()
            .chain(text(vm, "/name"))
            .map(str::to_owned)
            .collect(),
        address: addresses.get(&id.to_ascii_lowercase()).copied(),
        tags,
        node_group: None,
        zone,
    }
}

pub(super) async fn discover(args: &AzureImportArgs) -> anyhow::Result<Found> {
    let c = &args.common;
    let az = Azure::new(
        AzureConfig {
            cluster: c.cluster.clone(),
            subscription: args.subscription.clone(),
            endpoint: c.endpoint.clone(),
            timeout: crate::settings::CLOUD_REQUEST_TIMEOUT,
            deadline: crate::settings::API_CALL_DEADLINE,
        },
        Arc::new(RateLimiter::new(crate::settings::DEFAULT_CLOUD_RATE)),
        Arc::new(Budget::new(crate::settings::CLOUD_REQUEST_BUDGET)),
    )
    .map_err(|e| super::usage(e.to_string()))?;
    let rg = &args.resource_group;
    let failed =
        |what: &str| format!("cannot {what} in Azure resource group {rg}; nothing written");
    let filters = tag_filters(&c.tags)?;
    progress(format!(
        "listing Azure subscription {} resource group {rg} (credentials: {})",
        args.subscription,
        az.credential_source()
    ));
    let aks = az
        .discover_aks_cluster(rg, &c.cluster)
        .await
        .map_err(|e| cloud_failed(failed("read the AKS cluster"), e))?;
    let mut notes = Vec::new();
    let mut taken = BTreeSet::new();
    let mut node_groups = Vec::new();
    let mut by_pool: BTreeMap<String, String> = BTreeMap::new();
    // Where the machines are: the AKS node resource group, else the group itself.
    let machines_rg = match &aks {
        Some(cluster) => {
            let pools = az
                .discover_agent_pools(rg, &c.cluster, &progress)
                .await
                .map_err(|e| cloud_failed(failed("list the AKS agent pools"), e))?;
            for p in &pools {
                let Some(pool) = text(p, "/name") else {
                    continue;
                };
                let name = group_name(pool, &mut taken);
                by_pool.insert(pool.to_owned(), name.clone());
                node_groups.push(NodeGroup {
                    name,
                    backing: NodeGroupBacking::AksPool {
                        resource_group: rg.clone(),
                        cluster: c.cluster.clone(),
                        pool: pool.to_owned(),
                    },
                });
            }
            for fqdn in [
                text(cluster, "/properties/fqdn"),
                text(cluster, "/properties/privateFQDN"),
            ]
            .into_iter()
            .flatten()
            {
                notes.push(format!(
                    "the AKS API endpoint {fqdn} is a DNS name and breakglass never resolves names: add `api_endpoints` by IP to reach it"
                ));
            }
            text(cluster, "/properties/nodeResourceGroup").map_or_else(|| rg.clone(), str::to_owned)
        }
        None => rg.clone(),
    };
    let location = aks
        .as_ref()
        .and_then(|a| text(a, "/location"))
        .map(str::to_owned);

    let mut machines = Vec::new();
    let scale_sets = az
        .discover_scale_sets(&machines_rg, &progress)
        .await
        .map_err(|e| cloud_failed(failed("list the scale sets"), e))?;
    for ss in &scale_sets {
        let Some(name) = text(ss, "/name") else {
            continue;
        };
        let ss_tags = tags_of(ss);
        let (vms, addresses) = az
            .discover_scale_set_vms(&machines_rg, name, &progress)
            .await
            .map_err(|e| cloud_failed(failed(&format!("list the VMs of scale set {name}")), e))?;
        let loc = location.as_deref().or_else(|| text(ss, "/location"));
        let mut mine: Vec<Machine> = vms
            .iter()
            .map(|vm| machine(vm, &ss_tags, &addresses, loc))
            .filter(|m| matches(&m.tags, &filters))
            .collect();
        if mine.is_empty() && !matches(&ss_tags, &filters) {
            continue;
        }
        let group = if let Some(pool) = ss_tags.iter().find(|(k, _)| k == POOL_TAG) {
            by_pool.get(&pool.1).cloned()
        } else if !mine.is_empty()
            && mine
                .iter()
                .all(|m| role_of(&m.tags) == Some(Role::ControlPlane))
        {
            notes.push(format!(
                "scale set {name} holds the control plane: not a node group (nodes.scale must not shrink it)"
            ));
            None
        } else {
            let g = group_name(name, &mut taken);
            node_groups.push(NodeGroup {
                name: g.clone(),
                backing: NodeGroupBacking::Vmss {
                    resource_group: machines_rg.clone(),
                    name: name.to_owned(),
                },
            });
            Some(g)
        };
        for m in &mut mine {
            m.node_group.clone_from(&group);
        }
        machines.extend(mine);
    }
    let (vms, addresses) = az
        .discover_vms(&machines_rg, &progress)
        .await
        .map_err(|e| cloud_failed(failed("list the VMs"), e))?;
    machines.extend(
        vms.iter()
            .map(|vm| machine(vm, &[], &addresses, text(vm, "/location")))
            .filter(|m| matches(&m.tags, &filters)),
    );
    let nsgs = az
        .discover_security_groups(&machines_rg, &progress)
        .await
        .map_err(|e| cloud_failed(failed("list the network security groups"), e))?;
    let nsg_names: Vec<&str> = nsgs.iter().filter_map(|n| text(n, "/name")).collect();
    if !nsg_names.is_empty() {
        notes.push(format!(
            "network security group{} of {machines_rg}: {} (not written: if one guards \
             self-managed API servers, name it as `apiserver_nsg = {{ name = \"...\", \
             resource_group = \"{machines_rg}\" }}` for cloud.firewall.block)",
            if nsg_names.len() == 1 { "" } else { "s" },
            nsg_names.join(", ")
        ));
    }

    let mut api_endpoints: Vec<std::net::SocketAddr> = if aks.is_some() {
        Vec::new()
    } else {
        machines
            .iter()
            .filter(|m| role_of(&m.tags) == Some(Role::ControlPlane))
            .filter_map(|m| m.address)
            .map(|ip| std::net::SocketAddr::new(ip, API_PORT))
            .collect()
    };
    api_endpoints.sort();
    api_endpoints.dedup();
    let mut cluster = super::cluster(&c.cluster);
    cluster.api_endpoints = api_endpoints;
    cluster.azure = Some(AzureResources {
        subscription: args.subscription.clone(),
        endpoint: c.endpoint.clone(),
        node_groups,
        // The AKS cluster's authorized IP ranges are what `cloud.firewall.block` changes.
        control: crate::inventory::AzureControl {
            aks: aks.as_ref().map(|_| (rg.clone(), c.cluster.clone())),
            ..crate::inventory::AzureControl::default()
        },
    });
    Ok(Found {
        cluster,
        source: format!(
            "Azure subscription {} resource group {rg}{}",
            args.subscription,
            if aks.is_some() {
                format!(", AKS cluster {} (nodes in {machines_rg})", c.cluster)
            } else {
                String::new()
            }
        ),
        machines,
        notes,
        flags: vec![
            ("subscription", args.subscription.clone()),
            ("resource-group", rg.clone()),
        ],
        requests: az.requests_sent(),
    })
}
