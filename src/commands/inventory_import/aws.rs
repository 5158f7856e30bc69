//! `inventory import aws`: instances by tag, their Auto Scaling groups, the EKS cluster.
//!
//! Node groups: each EKS managed node group (`eks_cluster`, `eks_nodegroup`); each Auto Scaling
//! group with the tags, or holding a listed instance, that is neither an EKS node group's own
//! group (EKS owns its size) nor a control-plane group. A group whose listed instances are all
//! control-plane machines becomes `control_plane` (for `apiservers.scale`), never a node group:
//! a runbook shrinking "every node group" must not shrink the API servers. The API servers'
//! security group: the EKS cluster's, else the one group every control-plane instance has.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use super::{Found, cloud_failed, progress, tag_filters};
use crate::cli::AwsImportArgs;
use crate::inventory::import::{Machine, Role, group_name, role_of};
use crate::inventory::{AwsResources, ControlPlaneGroup, NodeGroup, NodeGroupBacking};
use crate::transport::RateLimiter;
use crate::transport::cloud::aws::discover::Filter;
use crate::transport::cloud::aws::{Aws, AwsConfig};
use crate::transport::rate::Budget;

/// The tag EC2 Auto Scaling puts on the instances it launches.
const ASG_TAG: &str = "aws:autoscaling:groupName";
/// The tag EKS puts on a managed node group's instances.
const EKS_NODEGROUP_TAG: &str = "eks:nodegroup-name";
/// The port of a self-managed control plane's API servers.
const API_PORT: u16 = 6443;

pub(super) async fn discover(args: &AwsImportArgs) -> anyhow::Result<Found> {
    let c = &args.common;
    let aws = Aws::new(
        AwsConfig {
            cluster: c.cluster.clone(),
            region: args.region.clone(),
            endpoint: c.endpoint.clone(),
            profile: args.profile.clone(),
            config_file: None,
            credentials_file: None,
            timeout: crate::settings::CLOUD_REQUEST_TIMEOUT,
            deadline: crate::settings::API_CALL_DEADLINE,
        },
        Arc::new(RateLimiter::new(crate::settings::DEFAULT_CLOUD_RATE)),
        Arc::new(Budget::new(crate::settings::CLOUD_REQUEST_BUDGET)),
    )
    .map_err(|e| super::usage(e.to_string()))?;
    let region = aws.region().to_owned();
    let failed = |what: &str| format!("cannot {what} in AWS {region}; nothing written");

    let (filters, filter_text) = if c.tags.is_empty() {
        let key = format!("kubernetes.io/cluster/{}", c.cluster);
        (vec![Filter::tag(&key)], format!("instances tagged {key}"))
    } else {
        let specs: Vec<Filter> = tag_filters(&c.tags)?
            .into_iter()
            .map(|(k, v)| Filter::tag(&v.map_or_else(|| k.clone(), |v| format!("{k}={v}"))))
            .collect();
        (specs, format!("instances tagged {}", c.tags.join(", ")))
    };
    progress(format!(
        "listing AWS {region}: {filter_text} (credentials: {})",
        aws.credential_source()
    ));
    let instances = aws
        .discover_instances(&filters, c.page_size, &progress)
        .await
        .map_err(|e| cloud_failed(failed("list the instances"), e))?;

    let eks = aws
        .discover_eks_cluster(&c.cluster)
        .await
        .map_err(|e| cloud_failed(failed("read the EKS cluster"), e))?;
    let nodegroups = match &eks {
        Some(e) => aws
            .discover_nodegroups(&e.name, c.page_size, &progress)
            .await
            .map_err(|err| cloud_failed(failed("list the EKS node groups"), err))?,
        None => Vec::new(),
    };

    // Groups with the tags, and groups holding a listed instance.
    let mut groups = aws
        .discover_auto_scaling_groups(&filters, &[], c.page_size, &progress)
        .await
        .map_err(|e| cloud_failed(failed("list the Auto Scaling groups"), e))?;
    let known: HashSet<String> = groups.iter().map(|g| g.name.clone()).collect();
    let missing: BTreeSet<String> = instances
        .iter()
        .filter_map(|i| tag(&i.tags, ASG_TAG))
        .filter(|n| !known.contains(*n))
        .map(str::to_owned)
        .collect();
    if !missing.is_empty() {
        // Up to 50 names a request (DescribeAutoScalingGroups' limit).
        let missing: Vec<String> = missing.into_iter().collect();
        for chunk in missing.chunks(50) {
            groups.extend(
                aws.discover_auto_scaling_groups(&[], chunk, c.page_size, &progress)
                    .await
                    .map_err(|e| cloud_failed(failed("read the Auto Scaling groups"), e))?,
            );
        }
    }

    // Roles of the instances in each group.
    let mut group_roles: BTreeMap<&str, Vec<Option<Role>>> = BTreeMap::new();
    for i in &instances {
        if let Some(g) = tag(&i.tags, ASG_TAG) {
            group_roles.entry(g).or_default().push(role_of(&i.tags));
        }
    }
    let eks_asgs: HashSet<&str> = nodegroups
        .iter()
        .flat_map(|n| n.asgs.iter().map(String::as_str))
        .collect();
    let mut taken = BTreeSet::new();
    let mut node_groups = Vec::new();
    // The inventory name of each cloud group, for the hosts' `node-group` label.
    let mut names: BTreeMap<(bool, String), String> = BTreeMap::new();
    for n in &nodegroups {
        let name = group_name(&n.name, &mut taken);
        names.insert((true, n.name.clone()), name.clone());
        node_groups.push(NodeGroup {
            name,
            backing: NodeGroupBacking::Eks {
                cluster: eks
                    .as_ref()
                    .map_or_else(|| c.cluster.clone(), |e| e.name.clone()),
                nodegroup: n.name.clone(),
            },
        });
    }
    let mut control_plane: Option<ControlPlaneGroup> = None;
    let mut notes = Vec::new();
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    groups.dedup_by(|a, b| a.name == b.name);
    for g in &groups {
        if eks_asgs.contains(g.name.as_str()) {
            continue;
        }
        let roles = group_roles.get(g.name.as_str());
        let control = roles.is_some_and(|r| r.iter().all(|x| *x == Some(Role::ControlPlane)))
            || role_of(&g.tags.clone().into_iter().collect::<Vec<_>>()) == Some(Role::ControlPlane);
        if control {
            if let Some(cp) = &control_plane {
                notes.push(format!(
                    "Auto Scaling group {} also holds control-plane instances; only {} is `control_plane`",
                    g.name, cp.asg
                ));
            } else {
                control_plane = Some(ControlPlaneGroup {
                    asg: g.name.clone(),
                    tag: (ASG_TAG.to_owned(), g.name.clone()),
                    port: API_PORT,
                });
            }
            continue;
        }
        let name = group_name(&g.name, &mut taken);
        if name != g.name {
            notes.push(format!(
                "Auto Scaling group {:?} is node group `{name}` (a node group name is a label value)",
                g.name
            ));
        }
        names.insert((false, g.name.clone()), name.clone());
        node_groups.push(NodeGroup {
            name,
            backing: NodeGroupBacking::Asg(g.name.clone()),
        });
    }

    let machines: Vec<Machine> = instances
        .iter()
        .map(|i| {
            let group = tag(&i.tags, EKS_NODEGROUP_TAG)
                .and_then(|n| names.get(&(true, n.to_owned())))
                .or_else(|| tag(&i.tags, ASG_TAG).and_then(|n| names.get(&(false, n.to_owned()))));
            Machine {
                id: i.id.clone(),
                names: i.private_dns.iter().cloned().collect(),
                address: i.private_ip,
                tags: i.tags.clone(),
                node_group: group.cloned(),
                zone: i.zone.clone(),
            }
        })
        .collect();

    // The API servers: their security group and, self-managed, their addresses.
    let control: Vec<_> = instances
        .iter()
        .filter(|i| role_of(&i.tags) == Some(Role::ControlPlane))
        .collect();
    let mut api_endpoints = Vec::new();
    let security_group = if let Some(e) = &eks {
        if let Some(url) = &e.endpoint {
            notes.push(format!(
                    "the EKS API endpoint {url} is a DNS name and breakglass never resolves names: add `api_endpoints` by IP (the endpoint's private addresses) to reach it"
                ));
        }
        match e.security_groups.as_slice() {
            [one] => Some(one.clone()),
            [] => None,
            many => {
                notes.push(format!(
                        "the EKS cluster has several security groups ({}): set `apiserver_security_group` to the one in front of the API",
                        many.join(", ")
                    ));
                None
            }
        }
    } else {
        for i in &control {
            if let Some(ip) = i.private_ip {
                api_endpoints.push(std::net::SocketAddr::new(ip, API_PORT));
            }
        }
        let mut common: Option<BTreeSet<&String>> = None;
        for i in &control {
            let mine: BTreeSet<&String> = i.security_groups.iter().collect();
            common = Some(match common {
                None => mine,
                Some(c) => c.intersection(&mine).copied().collect(),
            });
        }
        match common.map(|c| c.into_iter().cloned().collect::<Vec<_>>()) {
            Some(one) if one.len() == 1 => Some(one[0].clone()),
            Some(many) if many.len() > 1 => {
                notes.push(format!(
                        "the control-plane instances share several security groups ({}): set `apiserver_security_group` to the one in front of the API",
                        many.join(", ")
                    ));
                None
            }
            _ => None,
        }
    };
    api_endpoints.sort();
    api_endpoints.dedup();

    let mut cluster = super::cluster(&c.cluster);
    cluster.api_endpoints = api_endpoints;
    cluster.aws = Some(AwsResources {
        region: Some(region.clone()),
        endpoint: c.endpoint.clone(),
        profile: args.profile.clone(),
        config_file: None,
        credentials_file: None,
        node_groups,
        apiserver_security_group: security_group.filter(|g| g.starts_with("sg-")),
        eks_cluster: eks.as_ref().map(|e| e.name.clone()),
        control_plane,
        apiserver_peers: Vec::new(),
        operator_cidrs: Vec::new(),
    });
    let mut flags = vec![("region", region.clone())];
    if let Some(p) = &args.profile {
        flags.push(("profile", p.clone()));
    }
    Ok(Found {
        cluster,
        source: format!(
            "AWS {region}, {filter_text}{}",
            if eks.is_some() {
                format!(", EKS cluster {}", c.cluster)
            } else {
                String::new()
            }
        ),
        machines,
        notes,
        flags,
        requests: aws.requests_sent(),
    })
}

fn tag<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}
