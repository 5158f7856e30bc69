//! `apiservers.scale`: more API servers, through the cloud.
//!
//! - **A self-managed control plane** (`control_plane` of `[clusters.NAME.aws]`, `.gcp` or
//!   `.azure`): its Auto Scaling group, managed instance group or scale set is scaled with
//!   `nodes.scale`'s machinery (snapshot, the marker tag on AWS, min/max moved when needed,
//!   undo restoring the sizes exactly; GCP and Azure resize followed through their
//!   operations). Verify then follows the instances into service and finds the API servers
//!   (AWS: by their instance tag, `DescribeInstances`; GCP: the group's
//!   `listManagedInstances`; Azure: the scale set's network interfaces), by their private IPs:
//!   each must answer `/readyz` on its port, by IP, with the cluster's CA and TLS name (the
//!   same client as `wait.healthy`).
//! - **EKS** (`eks_cluster`): the Provisioned Control Plane tier
//!   (`controlPlaneScalingConfig.tier`) set by `UpdateClusterConfig`, the update followed by its
//!   id with `DescribeUpdate` to `Successful`, then the cluster read back. The tier from before
//!   is journaled and kept in a tag (`breakglass/prior/RUN/STEP`) so a resumed run still knows
//!   it; `undo` sets it again. The update's id is journaled with the result (also a `pending`
//!   one), so a resumed run follows the same update instead of starting another.
//!
//! Past the step's `wait` the target is `pending`: the change stands, `resume` waits again,
//! `undo` restores.

use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};

use super::BuildContext;
use super::api::call;
use super::args::{ApiserversScale, Scheme};
use super::cloud::{aws_call, azure_call, follow_update, gcp_call, poll};
use super::context::{CloudResource, Context, Target, TargetKind, kube_config};
use super::contract::{Action, ActionFailure, Applied};
use super::nodes_scale::NodesScaleAction;
use super::wait_healthy::{api_client, probe};
use crate::inventory::{ControlPlaneGroup, NodeGroup, NodeGroupBacking};
use crate::transport::cloud::aws::Aws;

/// The name of a self-managed control plane's group in events and journals.
pub const CONTROL_PLANE: &str = "control-plane";

/// How long one `/readyz` may take before it counts as not ready.
const READYZ_LATENCY: Duration = Duration::from_secs(2);

/// Where the API servers of a control-plane group are listed.
enum Finder {
    /// EC2 instances with this tag (`KEY=VALUE`), in the Auto Scaling group.
    AwsTag {
        asg: String,
        key: String,
        value: String,
    },
    /// A managed instance group's running instances (`zones/Z`, `regions/R`).
    Gcp { scope: String, mig: String },
    /// A scale set's instances.
    Azure {
        resource_group: String,
        vmss: String,
    },
}

/// How to reach the new API servers once they run.
struct Readyz {
    find: Finder,
    port: u16,
    tls_server_name: Option<String>,
    /// PEM: the inventory's `ca_file`, else the kubeconfig's.
    ca: Option<Vec<u8>>,
}

enum How {
    Group {
        scale: NodesScaleAction,
        readyz: Readyz,
    },
    Tier {
        eks: String,
        tier: String,
        /// The inverse: set the tier from before and remove the marker.
        restore: bool,
    },
}

pub struct ApiserversScaleAction {
    cluster: String,
    how: How,
    wait: Duration,
    marker: String,
    /// The EKS update apply started, for verify to follow.
    update: Mutex<Option<String>>,
}

impl ApiserversScaleAction {
    pub fn new(args: &ApiserversScale, ctx: &BuildContext<'_>) -> anyhow::Result<Self> {
        let kind = "apiservers.scale";
        let Some(cluster) = args.cluster.as_deref().or(ctx.cluster) else {
            anyhow::bail!(
                "{kind} has no `cluster`, and the runbook has no `cluster` parameter to take it from"
            );
        };
        let Some(c) = ctx.inventory.clusters.get(cluster) else {
            anyhow::bail!("{kind}: the inventory has no cluster '{cluster}'");
        };
        let aws = c.aws.as_ref();
        let marker = format!("breakglass/prior/{}/{}", ctx.run_id, ctx.step_id);
        let how = match (&args.tier, aws) {
            (Some(tier), Some(a)) if a.eks_cluster.is_some() => How::Tier {
                eks: a.eks_cluster.clone().unwrap_or_default(),
                tier: tier.clone(),
                restore: false,
            },
            (Some(_), _) => anyhow::bail!(
                "{kind}: `tier` is for EKS, and [clusters.{cluster}.aws] in the inventory has no eks_cluster"
            ),
            (None, _) => {
                let Some((backing, find, port)) = control_plane_of(c) else {
                    return Err(super::NothingToActOn(format!(
                        "{kind}: cluster '{cluster}' in the inventory has no control-plane group; add \
                         control_plane = {{ asg = \"...\" }} to [clusters.{cluster}.aws] (or eks_cluster \
                         and `tier`), {{ mig = \"...\" }} to [clusters.{cluster}.gcp] or \
                         {{ vmss = \"...\" }} to [clusters.{cluster}.azure]"
                    ))
                    .into());
                };
                let node_group = NodeGroup {
                    name: CONTROL_PLANE.into(),
                    backing,
                };
                let k = kube_config(c).map_err(|e| anyhow::anyhow!("{kind}: {e}"))?;
                How::Group {
                    scale: NodesScaleAction::of_group(
                        cluster,
                        node_group,
                        args.to,
                        args.by,
                        args.wait,
                        marker.clone(),
                    )?,
                    readyz: Readyz {
                        find,
                        port,
                        tls_server_name: k.tls_server_name,
                        ca: k.ca,
                    },
                }
            }
        };
        Ok(ApiserversScaleAction {
            cluster: cluster.to_owned(),
            how,
            wait: args.wait,
            marker,
            update: Mutex::new(None),
        })
    }

    /// Probes `/readyz` of every running API server the group lists until at least as many as
    /// the group's size are ready; pending past the wait.
    fn wait_ready(&self, cx: &mut dyn Context, r: &Readyz) -> Result<(), ActionFailure> {
        let cloud = match &r.find {
            Finder::AwsTag { .. } => Cloud::Aws(cx.aws()?),
            Finder::Gcp { .. } => Cloud::Gcp(cx.gcp()?),
            Finder::Azure { .. } => Cloud::Azure(cx.azure()?),
        };
        // The size the group has now (set by the step, or by whoever changed it since).
        let want = match (&r.find, &cloud) {
            (Finder::AwsTag { asg, .. }, Cloud::Aws(aws)) => {
                aws_call(aws.describe_auto_scaling_group(asg), false)?
                    .ok_or_else(|| {
                        ActionFailure::failed(format!("Auto Scaling group {asg} is gone"))
                    })?
                    .desired
            }
            (Finder::Gcp { scope, mig }, Cloud::Gcp(gcp)) => {
                gcp_call(gcp.get_mig(scope, mig), false)?
                    .ok_or_else(|| {
                        ActionFailure::failed(format!("managed instance group {mig} is gone"))
                    })?
                    .target_size
            }
            (
                Finder::Azure {
                    resource_group,
                    vmss,
                },
                Cloud::Azure(azure),
            ) => {
                azure_call(azure.get_vmss(resource_group, vmss), false)?
                    .ok_or_else(|| ActionFailure::failed(format!("scale set {vmss} is gone")))?
                    .capacity
            }
            _ => return Err(ActionFailure::refused("the control plane's cloud changed")),
        };
        let list = || -> Result<Vec<(String, std::net::IpAddr)>, ActionFailure> {
            match (&r.find, &cloud) {
                (Finder::AwsTag { key, value, .. }, Cloud::Aws(aws)) => {
                    Ok(aws_call(aws.instances_tagged(key, value), false)?
                        .into_iter()
                        .filter(|i| i.state == "running")
                        .filter_map(|i| Some((i.id, i.private_ip?)))
                        .collect())
                }
                (Finder::Gcp { scope, mig }, Cloud::Gcp(gcp)) => {
                    gcp_call(gcp.mig_instance_ips(scope, mig), false)
                }
                (
                    Finder::Azure {
                        resource_group,
                        vmss,
                    },
                    Cloud::Azure(azure),
                ) => azure_call(azure.vmss_instance_ips(resource_group, vmss), false),
                _ => Ok(Vec::new()),
            }
        };
        self.probe_until_ready(&*cx, r, want, list)
    }

    fn probe_until_ready(
        &self,
        cx: &dyn Context,
        r: &Readyz,
        want: u32,
        list: impl Fn() -> Result<Vec<(String, std::net::IpAddr)>, ActionFailure>,
    ) -> Result<(), ActionFailure> {
        let ca = match &r.ca {
            Some(pem) => Some(reqwest::Certificate::from_pem(pem).map_err(|e| {
                ActionFailure::refused(format!("the cluster's CA is not a PEM certificate: {e}"))
            })?),
            None => None,
        };
        poll(
            cx,
            self.wait,
            &format!("the API servers {}", r.find.describe()),
            "The new API servers run but do not all answer /readyz yet: `breakglass resume RUN` \
             waits again, `breakglass undo RUN` scales the group back",
            || {
                let mut ready = 0;
                let mut not_ready = Vec::new();
                for (id, ip) in list()? {
                    let (client, base) = api_client(
                        SocketAddr::new(ip, r.port),
                        r.tls_server_name.as_deref(),
                        ca.as_ref(),
                        Scheme::Https,
                        READYZ_LATENCY,
                    )
                    .map_err(ActionFailure::refused)?;
                    let url = format!("{base}/readyz");
                    let p =
                        call(async { Ok::<_, ()>(probe(&client, &url, READYZ_LATENCY).await) })?
                            .unwrap_or_else(|()| unreachable!());
                    match p.error {
                        None => ready += 1,
                        Some(e) => not_ready.push(format!("{id} ({ip}): {e}")),
                    }
                }
                Ok((ready < want || !not_ready.is_empty()).then(|| {
                    format!(
                        "{ready} of {want} API servers ready{}",
                        not_ready
                            .first()
                            .map_or_else(String::new, |e| format!("; {e}"))
                    )
                }))
            },
        )
    }
}

/// The provider's client for a control-plane group.
enum Cloud {
    Aws(std::sync::Arc<Aws>),
    Gcp(std::sync::Arc<crate::transport::cloud::gcp::Gcp>),
    Azure(std::sync::Arc<crate::transport::cloud::azure::Azure>),
}

impl Finder {
    /// `tagged k8s-role=control-plane`, `of managed instance group prod-cp`.
    fn describe(&self) -> String {
        match self {
            Finder::AwsTag { key, value, .. } => format!("tagged {key}={value}"),
            Finder::Gcp { mig, .. } => format!("of managed instance group {mig}"),
            Finder::Azure { vmss, .. } => format!("of scale set {vmss}"),
        }
    }
}

/// The control-plane group of an inventory cluster (AWS, then GCP, then Azure): what backs it,
/// where its API servers are listed, their port.
fn control_plane_of(c: &crate::inventory::Cluster) -> Option<(NodeGroupBacking, Finder, u16)> {
    if let Some(g) = c.aws.as_ref().and_then(|a| a.control_plane.as_ref()) {
        let ControlPlaneGroup { asg, tag, port } = g;
        return Some((
            NodeGroupBacking::Asg(asg.clone()),
            Finder::AwsTag {
                asg: asg.clone(),
                key: tag.0.clone(),
                value: tag.1.clone(),
            },
            *port,
        ));
    }
    let gcp = c
        .gcp
        .as_ref()
        .and_then(|g| g.control.control_plane.as_ref());
    let azure = c
        .azure
        .as_ref()
        .and_then(|a| a.control.control_plane.as_ref());
    let cp = gcp.or(azure)?;
    let find = match &cp.group {
        NodeGroupBacking::Mig { name, scope } => Finder::Gcp {
            scope: scope.path(),
            mig: name.clone(),
        },
        NodeGroupBacking::Vmss {
            resource_group,
            name,
        } => Finder::Azure {
            resource_group: resource_group.clone(),
            vmss: name.clone(),
        },
        _ => return None,
    };
    Some((cp.group.clone(), find, cp.port))
}

/// The tier an EKS cluster has (`standard` when it says none).
fn tier_of(c: &crate::transport::cloud::aws::eks::EksCluster) -> String {
    c.tier.clone().unwrap_or_else(|| "standard".into())
}

fn describe_eks(
    aws: &Aws,
    eks: &str,
) -> Result<crate::transport::cloud::aws::eks::EksCluster, ActionFailure> {
    aws_call(aws.describe_cluster(eks), false)?.ok_or_else(|| {
        ActionFailure::refused(format!(
            "EKS cluster {eks} does not exist in {} (check eks_cluster in [clusters.{}.aws])",
            aws.region(),
            aws.cluster()
        ))
    })
}

impl Action for ApiserversScaleAction {
    fn kind(&self) -> &'static str {
        "apiservers.scale"
    }

    fn runs_on(&self) -> TargetKind {
        TargetKind::Objects
    }

    fn objects(&self) -> Vec<Target> {
        match &self.how {
            How::Group { scale, .. } => scale.objects(),
            How::Tier { eks, .. } => vec![Target::Cloud {
                cluster: self.cluster.clone(),
                resource: CloudResource::eks_cluster(eks),
            }],
        }
    }

    fn plan(&self, target: &str) -> String {
        match &self.how {
            How::Group { scale, readyz } => format!(
                "{}; then wait for /readyz on port {} of each instance {}",
                scale.plan(target).replacen(
                    "scale node group",
                    "scale the control plane's group",
                    1
                ),
                readyz.port,
                readyz.find.describe()
            ),
            How::Tier {
                eks, tier, restore, ..
            } => {
                if *restore {
                    format!("set the control-plane tier of EKS cluster {eks} back to {tier}")
                } else {
                    format!(
                        "set the control-plane tier of EKS cluster {eks} to {tier} and follow the update to completion (up to {}); undo sets the tier from before",
                        humantime::format_duration(self.wait)
                    )
                }
            }
        }
    }

    fn snapshot(&self, cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        match &self.how {
            How::Group { scale, .. } => scale.snapshot(cx),
            How::Tier { eks, .. } => {
                let aws = cx.aws()?;
                let c = describe_eks(&aws, eks)?;
                // An earlier attempt of this run and step already changed it: the tag has the
                // tier from before.
                let before = c
                    .tags
                    .get(&self.marker)
                    .cloned()
                    .unwrap_or_else(|| tier_of(&c));
                Ok(json!({"tier": before}))
            }
        }
    }

    fn describe_now(&self, snapshot: &Value) -> Option<String> {
        match &self.how {
            How::Group { .. } => Some(format!(
                "min {}, max {}, desired {}",
                snapshot.get("min")?,
                snapshot.get("max")?,
                snapshot.get("desired")?
            )),
            How::Tier { .. } => Some(format!("tier {}", snapshot.get("tier")?.as_str()?)),
        }
    }

    fn apply(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<Applied, ActionFailure> {
        let (eks, tier, restore) = match &self.how {
            How::Group { scale, .. } => return scale.apply(cx, snapshot),
            How::Tier { eks, tier, restore } => (eks, tier, *restore),
        };
        // An earlier attempt's update to this tier (journaled with its pending result): resume
        // follows it rather than start another, which EKS would refuse while it runs.
        let earlier = cx
            .earlier()
            .filter(|d| !restore && d["after"].as_str() == Some(tier.as_str()))
            .and_then(|d| d["update"].as_str())
            .map(str::to_owned);
        let aws = cx.aws()?;
        let c = describe_eks(&aws, eks)?;
        let now = tier_of(&c);
        if !restore && !c.tags.contains_key(&self.marker) {
            aws_call(aws.tag_eks_resource(&c.arn, &self.marker, &now), true)?;
        }
        let followed = earlier.is_some() && now != *tier;
        let update = match (now == *tier, earlier) {
            (true, _) => None,
            (false, Some(id)) => Some(id),
            (false, None) => aws_call(aws.update_control_plane_tier(eks, tier), true)?,
        };
        if restore && c.tags.contains_key(&self.marker) {
            aws_call(aws.untag_eks_resource(&c.arn, &self.marker), true)?;
        }
        self.update
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone_from(&update);
        Ok(Applied {
            summary: format!(
                "EKS cluster {eks}: control-plane tier {now} → {tier}{}",
                update.as_deref().map_or_else(String::new, |u| if followed {
                    format!(" (update {u}, started by an earlier attempt)")
                } else {
                    format!(" (update {u})")
                })
            ),
            detail: json!({"before": now, "after": tier, "update": update}),
        })
    }

    fn verify(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<(), ActionFailure> {
        match &self.how {
            How::Group { scale, readyz } => {
                scale.verify(cx, snapshot)?;
                self.wait_ready(cx, readyz)
            }
            How::Tier { eks, tier, .. } => {
                let aws = cx.aws()?;
                let update = self
                    .update
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                if let Some(id) = &update {
                    follow_update(
                        &*cx,
                        &aws,
                        eks,
                        id,
                        self.wait,
                        "The tier change stands and EKS is still applying it: `breakglass resume \
                         RUN` waits again, `breakglass undo RUN` sets the tier from before",
                    )?;
                }
                let c = describe_eks(&aws, eks)?;
                if tier_of(&c) == *tier {
                    Ok(())
                } else {
                    Err(ActionFailure::failed(format!(
                        "EKS cluster {eks} read back after the update: tier {}, not {tier}",
                        tier_of(&c)
                    )))
                }
            }
        }
    }

    fn inverse(&self, snapshot: &Value) -> Option<Box<dyn Action>> {
        match &self.how {
            How::Group { scale, .. } => scale.inverse(snapshot),
            How::Tier { eks, .. } => Some(Box::new(ApiserversScaleAction {
                cluster: self.cluster.clone(),
                how: How::Tier {
                    eks: eks.clone(),
                    tier: snapshot.get("tier")?.as_str()?.to_owned(),
                    restore: true,
                },
                wait: self.wait,
                marker: self.marker.clone(),
                update: Mutex::new(None),
            })),
        }
    }
}
