//! `inventory import gcp`: instances by label, the managed instance groups that made them, and
//! the GKE cluster's node pools.
//!
//! Node groups: each node pool of the GKE cluster (`gke_cluster`, `node_pool`, `location`);
//! each other managed instance group named by an instance's `created-by` metadata, confirmed by
//! `listManagedInstances` (an abandoned instance is no member), unless every member listed is a
//! control-plane machine: the inventory's GCP table has no control-plane group, and a runbook
//! shrinking "every node group" must not shrink the API servers. GKE's control plane has no
//! machines; its endpoints are IPs, written as `api_endpoints`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{Found, cloud_failed, progress, tag_filters};
use crate::cli::GcpImportArgs;
use crate::inventory::import::{Machine, Role, group_name, role_of};
use crate::inventory::{GcpResources, GcpScope, NodeGroup, NodeGroupBacking};
use crate::transport::RateLimiter;
use crate::transport::cloud::gcp::discover::last_segment;
use crate::transport::cloud::gcp::{Gcp, GcpConfig};
use crate::transport::rate::Budget;

/// GKE's labels on its nodes' instances.
const CLUSTER_LABEL: &str = "goog-k8s-cluster-name";
const LOCATION_LABEL: &str = "goog-k8s-cluster-location";
const POOL_LABEL: &str = "goog-k8s-node-pool-name";
/// The port GKE's control plane answers on.
const GKE_API_PORT: u16 = 443;

/// A label filter in the Compute API's syntax: `(labels.KEY = "VALUE")`, or `(labels.KEY:*)`
/// for the label with any value; several must all hold.
fn filter(tags: &[(String, Option<String>)]) -> String {
    let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    tags.iter()
        .map(|(k, v)| match v {
            Some(v) => format!("(labels.{} = \"{}\")", quote(k), quote(v)),
            None => format!("(labels.{}:*)", quote(k)),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `zones/Z` or `regions/R` and the group's name, from a `created-by` value.
fn mig_of(created_by: &str) -> Option<(GcpScope, String)> {
    let parts: Vec<&str> = created_by.split('/').collect();
    match parts.as_slice() {
        [.., "zones", z, "instanceGroupManagers", n] => {
            Some((GcpScope::Zone((*z).to_owned()), (*n).to_owned()))
        }
        [.., "regions", r, "instanceGroupManagers", n] => {
            Some((GcpScope::Region((*r).to_owned()), (*n).to_owned()))
        }
        _ => None,
    }
}

pub(super) async fn discover(args: &GcpImportArgs) -> anyhow::Result<Found> {
    let c = &args.common;
    let gcp = Gcp::new(
        GcpConfig {
            cluster: c.cluster.clone(),
            project: args.project.clone(),
            endpoint: c.endpoint.clone(),
            timeout: crate::settings::CLOUD_REQUEST_TIMEOUT,
            deadline: crate::settings::API_CALL_DEADLINE,
        },
        Arc::new(RateLimiter::new(crate::settings::DEFAULT_CLOUD_RATE)),
        Arc::new(Budget::new(crate::settings::CLOUD_REQUEST_BUDGET)),
    )
    .map_err(|e| super::usage(e.to_string()))?;
    let project = gcp.project().to_owned();
    let failed = |what: &str| format!("cannot {what} in GCP project {project}; nothing written");
    let tags = if c.tags.is_empty() {
        vec![(CLUSTER_LABEL.to_owned(), Some(c.cluster.clone()))]
    } else {
        tag_filters(&c.tags)?
    };
    let filter = filter(&tags);
    progress(format!(
        "listing GCP project {project}{}: instances with {filter} (credentials: {})",
        args.zone
            .as_deref()
            .map_or_else(String::new, |z| format!(" zone {z}")),
        gcp.credential_source()
    ));
    let instances: Vec<_> = gcp
        .discover_instances(&filter, args.zone.as_deref(), c.page_size, &progress)
        .await
        .map_err(|e| cloud_failed(failed("list the instances"), e))?
        .into_iter()
        .filter(|i| !matches!(i.status.as_str(), "TERMINATED" | "STOPPED" | "SUSPENDED"))
        .collect();
    let label = |i: &crate::transport::cloud::gcp::discover::Instance, k: &str| {
        i.labels
            .iter()
            .find(|(lk, _)| lk == k)
            .map(|(_, v)| v.clone())
    };
    let mut notes = Vec::new();

    // GKE: the cluster of that name, where the flag or the nodes' labels say it is.
    let gke_named = instances
        .iter()
        .any(|i| label(i, CLUSTER_LABEL).as_deref() == Some(c.cluster.as_str()));
    let locations: BTreeSet<String> = instances
        .iter()
        .filter_map(|i| label(i, LOCATION_LABEL))
        .collect();
    let location = args.location.clone().or_else(|| {
        (locations.len() == 1)
            .then(|| locations.iter().next().cloned())
            .flatten()
    });
    let gke = if let Some(l) = &location {
        gcp.discover_gke_cluster(l, &c.cluster)
            .await
            .map_err(|e| cloud_failed(failed("read the GKE cluster"), e))?
    } else {
        if gke_named {
            notes.push(format!(
                    "instances carry {CLUSTER_LABEL}={} but no single {LOCATION_LABEL}: pass --location to import the GKE node pools",
                    c.cluster
                ));
        }
        None
    };

    let mut taken = BTreeSet::new();
    let mut node_groups = Vec::new();
    // Group name by MIG name, for the hosts' `node-group` label.
    let mut by_mig: BTreeMap<String, String> = BTreeMap::new();
    let mut by_pool: BTreeMap<String, String> = BTreeMap::new();
    let mut api_endpoints = Vec::new();
    if let (Some(g), Some(l)) = (&gke, &location) {
        for (pool, migs) in &g.pools {
            let name = group_name(pool, &mut taken);
            for m in migs {
                by_mig.insert(last_segment(m).to_owned(), name.clone());
            }
            by_pool.insert(pool.clone(), name.clone());
            node_groups.push(NodeGroup {
                name,
                backing: NodeGroupBacking::GkePool {
                    cluster: c.cluster.clone(),
                    pool: pool.clone(),
                    location: l.clone(),
                },
            });
        }
        api_endpoints = g
            .endpoints
            .iter()
            .map(|ip| std::net::SocketAddr::new(*ip, GKE_API_PORT))
            .collect();
    }

    // Other MIGs: the ones that made the instances, their members confirmed.
    let mut migs: BTreeMap<String, GcpScope> = BTreeMap::new();
    for i in &instances {
        if let Some((scope, name)) = i.created_by.as_deref().and_then(mig_of)
            && !by_mig.contains_key(&name)
        {
            migs.insert(name, scope);
        }
    }
    let roles: BTreeMap<&str, Option<Role>> = instances
        .iter()
        .map(|i| (i.name.as_str(), role_of(&i.labels)))
        .collect();
    let mut members: BTreeMap<String, String> = BTreeMap::new();
    for (mig, scope) in &migs {
        let names = gcp
            .discover_mig_members(&scope.path(), mig, c.page_size, &progress)
            .await
            .map_err(|e| cloud_failed(failed(&format!("list the instances of {mig}")), e))?;
        let listed: Vec<&String> = names
            .iter()
            .filter(|n| roles.contains_key(n.as_str()))
            .collect();
        if !listed.is_empty()
            && listed
                .iter()
                .all(|n| roles[n.as_str()] == Some(Role::ControlPlane))
        {
            notes.push(format!(
                "managed instance group {mig} holds the control plane: not a node group (nodes.scale must not shrink it)"
            ));
            continue;
        }
        let name = group_name(mig, &mut taken);
        for n in &names {
            members.insert(n.clone(), name.clone());
        }
        node_groups.push(NodeGroup {
            name,
            backing: NodeGroupBacking::Mig {
                name: mig.clone(),
                scope: scope.clone(),
            },
        });
    }

    let machines = instances
        .iter()
        .map(|i| {
            let group = label(i, POOL_LABEL)
                .and_then(|p| by_pool.get(&p).cloned())
                .or_else(|| {
                    i.created_by
                        .as_deref()
                        .and_then(mig_of)
                        .and_then(|(_, m)| by_mig.get(&m).cloned())
                })
                .or_else(|| members.get(&i.name).cloned());
            Machine {
                id: i.name.clone(),
                names: vec![i.name.clone()],
                address: i.private_ip,
                tags: i.labels.clone(),
                node_group: group,
                zone: i.zone.clone(),
            }
        })
        .collect();

    let mut cluster = super::cluster(&c.cluster);
    cluster.api_endpoints = api_endpoints;
    cluster.gcp = Some(GcpResources {
        project: Some(project.clone()),
        endpoint: c.endpoint.clone(),
        node_groups,
        // The GKE cluster's authorized networks are what `cloud.firewall.block` changes.
        control: crate::inventory::GcpControl {
            gke: gke
                .as_ref()
                .and(location.clone())
                .map(|l| (l, c.cluster.clone())),
            ..crate::inventory::GcpControl::default()
        },
    });
    let mut flags = vec![("project", project.clone())];
    if let Some(z) = &args.zone {
        flags.push(("zone", z.clone()));
    }
    if let Some(l) = &location {
        flags.push(("location", l.clone()));
    }
    Ok(Found {
        cluster,
        source: format!(
            "GCP project {project}, instances with {filter}{}",
            match (&gke, &location) {
                (Some(_), Some(l)) => format!(", GKE cluster {} in {l}", c.cluster),
                _ => String::new(),
            }
        ),
        machines,
        notes,
        flags,
        requests: gcp.requests_sent(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_groups_are_read() {
        assert_eq!(
            filter(&[
                ("goog-k8s-cluster-name".into(), Some("prod".into())),
                ("team".into(), None),
                ("q".into(), Some("a\"b".into()))
            ]),
            "(labels.goog-k8s-cluster-name = \"prod\") (labels.team:*) (labels.q = \"a\\\"b\")"
        );
        assert_eq!(
            mig_of("projects/123/regions/us-central1/instanceGroupManagers/prod-cp"),
            Some((GcpScope::Region("us-central1".into()), "prod-cp".into()))
        );
        assert_eq!(mig_of("projects/123/global/x"), None);
    }
}
