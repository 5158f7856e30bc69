//! The arguments of the actions that act through a cloud provider's API: `nodes.scale`,
//! `apiservers.scale`, `cloud.firewall.block` and `cloud.firewall.unblock`.

use std::fmt;
use std::time::Duration;

use ipnet::IpNet;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ArgProblem;
use super::values::{cidr_list, duration};

/// `nodes.scale`: set the desired capacity of cloud node groups (EC2 Auto Scaling groups, EKS
/// managed node groups) named in the inventory's `[clusters.NAME.aws] node_groups`, and wait
/// until the instances in service match. The minimum is lowered (the maximum raised) when the
/// new desired capacity needs it; the sizes before (min, max, desired) are journaled, and also
/// kept in a tag on the group (`breakglass/prior/RUN/STEP`) so a resumed run still knows them.
/// `undo` restores min, max and desired exactly and removes the tag.
///
/// Exactly one of `to` and `by`. Example: `node_groups = ["workers-a"]`, `to = "30%"`.
/// IAM permissions: `autoscaling:DescribeAutoScalingGroups`, `UpdateAutoScalingGroup`,
/// `CreateOrUpdateTags`, `DeleteTags`; for EKS `eks:DescribeNodegroup`,
/// `UpdateNodegroupConfig`, `TagResource`, `UntagResource`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodesScale {
    /// The node groups to scale, by their inventory names. Default: every node group of the
    /// cluster.
    #[serde(default)]
    pub node_groups: Option<Vec<String>>,
    /// The new desired capacity: a count (`to = 3`) or a share of the current desired capacity
    /// (`to = "30%"`, rounded up, so a group that had instances keeps at least one).
    #[serde(default)]
    pub to: Option<ScaleTo>,
    /// Or a change to the current desired capacity (`by = -2`); never below zero.
    #[serde(default)]
    pub by: Option<i64>,
    /// The inventory cluster whose node groups these are. Default: the runbook's `cluster`.
    #[serde(default)]
    pub cluster: Option<String>,
    /// How long verify waits for the instances in service to reach the new desired capacity
    /// (an EKS node group: to be ACTIVE again). Past it the target is `pending`: the change
    /// stands, `resume` waits again and `undo` restores. Default "10m"; "0s" only checks that
    /// the new sizes hold.
    #[serde(default = "default_wait", with = "duration")]
    pub wait: Duration,
}

/// The problem with `to` and `by` of a scaling step, if any: exactly one, and a change.
fn how_far(to: Option<ScaleTo>, by: Option<i64>) -> Option<ArgProblem> {
    match (to, by) {
        (None, None) => Some(ArgProblem::whole(
            "say how far to scale: `to = N`, `to = \"30%\"` or `by = -N`",
        )),
        (Some(_), Some(_)) => Some(ArgProblem::at("by", "`to` and `by` both set; keep one")),
        (None, Some(0)) => Some(ArgProblem::at("by", "`by = 0` changes nothing")),
        (Some(ScaleTo::Percent(p)), None) if p > 1000 => Some(ArgProblem::at(
            "to",
            format!("{p}% is more than ten times the current size; expected at most 1000%"),
        )),
        _ => None,
    }
}

fn default_wait() -> Duration {
    Duration::from_secs(600)
}

impl NodesScale {
    pub(super) fn validate(&self) -> Vec<ArgProblem> {
        let mut problems = Vec::new();
        if let Some(p) = how_far(self.to, self.by) {
            problems.push(p);
        }
        if self.node_groups.as_ref().is_some_and(Vec::is_empty) {
            problems.push(ArgProblem::at(
                "node_groups",
                "an empty list scales nothing; omit `node_groups` to scale every node group of the cluster",
            ));
        }
        problems
    }
}

/// Which lever a cloud firewall step pulls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloudFirewallOn {
    /// The ingress rules of the API servers' security group
    /// (`[clusters.NAME.aws] apiserver_security_group`).
    SecurityGroup,
    /// An EKS cluster's `publicAccessCidrs` (`[clusters.NAME.aws] eks_cluster`).
    EksEndpoint,
    /// A deny rule (and the allow rule before it) in the API servers' VPC firewall
    /// (`[clusters.NAME.gcp] apiserver_firewall`).
    GcpFirewall,
    /// A GKE cluster's authorized networks (`[clusters.NAME.gcp] gke_cluster`).
    GkeEndpoint,
    /// A deny rule (and the allow rule before it) in the API servers' network security group
    /// (`[clusters.NAME.azure] apiserver_nsg`).
    Nsg,
    /// An AKS cluster's `apiServerAccessProfile.authorizedIPRanges`
    /// (`[clusters.NAME.azure] aks_cluster`).
    AksEndpoint,
}

impl CloudFirewallOn {
    pub const ALL: [CloudFirewallOn; 6] = [
        CloudFirewallOn::SecurityGroup,
        CloudFirewallOn::EksEndpoint,
        CloudFirewallOn::GcpFirewall,
        CloudFirewallOn::GkeEndpoint,
        CloudFirewallOn::Nsg,
        CloudFirewallOn::AksEndpoint,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CloudFirewallOn::SecurityGroup => "security_group",
            CloudFirewallOn::EksEndpoint => "eks_endpoint",
            CloudFirewallOn::GcpFirewall => "gcp_firewall",
            CloudFirewallOn::GkeEndpoint => "gke_endpoint",
            CloudFirewallOn::Nsg => "nsg",
            CloudFirewallOn::AksEndpoint => "aks_endpoint",
        }
    }

    /// The inventory key that names its resource: `[clusters.NAME.aws] eks_cluster`.
    pub fn key(self) -> &'static str {
        match self {
            CloudFirewallOn::SecurityGroup => "aws] apiserver_security_group",
            CloudFirewallOn::EksEndpoint => "aws] eks_cluster",
            CloudFirewallOn::GcpFirewall => "gcp] apiserver_firewall",
            CloudFirewallOn::GkeEndpoint => "gcp] gke_cluster",
            CloudFirewallOn::Nsg => "azure] apiserver_nsg",
            CloudFirewallOn::AksEndpoint => "azure] aks_cluster",
        }
    }
}

/// `cloud.firewall.block`: cut the admin API off at the cloud, from everyone but `allow` and
/// the inventory's `apiserver_peers`:
///
/// - on the API servers' security group, revoke each ingress rule that lets an address range
///   (or a group of `source_groups`) reach `ports`, except ranges inside `allow` or the peers,
///   and authorize `allow` on `ports` where no remaining rule covers it;
/// - on an EKS cluster, set the public endpoint's `publicAccessCidrs` to `allow`;
/// - on the API servers' VPC firewall (GCP) or network security group (Azure), add an allow
///   rule for `allow` and the peers at the inventory's `priority` and a deny rule for everyone
///   else at the next one, on `ports`;
/// - on a GKE cluster, set its authorized networks (on an AKS cluster, its
///   `authorizedIPRanges`) to `allow` and the peers.
///
/// The exact rules revoked and added (the CIDRs before) are journaled and kept in tags on the
/// group (the cluster) until `undo` or `cloud.firewall.unblock` restores exactly them. Refused
/// before anything changes, by `plan` and `run` alike, when it would cut the operator's address
/// (`--operator-cidr`, or `operator_cidrs` in the inventory) or a peer; `plan` also says when
/// it cannot stop the nodes (an EKS private endpoint) and that established connections stay.
/// IAM: `ec2:DescribeSecurityGroups`, `RevokeSecurityGroupIngress`,
/// `AuthorizeSecurityGroupIngress`, `CreateTags`, `DeleteTags`; `eks:DescribeCluster`,
/// `UpdateClusterConfig`, `DescribeUpdate`, `TagResource`, `UntagResource`. GCP:
/// `compute.firewalls.list`, `get`, `create`, `delete`, `compute.globalOperations.get`,
/// `container.clusters.get`, `update`. Azure: `Microsoft.Network/networkSecurityGroups/read`,
/// `securityRules/write`, `securityRules/delete`, `Microsoft.ContainerService/managedClusters/read`,
/// `write`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudFirewallBlock {
    /// Who keeps API access: the break-glass ranges (bastion, operator VPN). Required: a block
    /// without it would cut everyone, you included. Example: `allow = ["192.0.2.0/24"]`.
    #[serde(default, deserialize_with = "cidr_list")]
    pub allow: Vec<IpNet>,
    /// The API's TCP ports on the security group. Default `[443, 6443]`.
    #[serde(default = "default_cloud_api_ports")]
    pub ports: Vec<u16>,
    /// Security groups whose members lose access too (self-managed nodes usually reach the API
    /// servers through a rule naming the nodes' group). Default none: rules naming groups stay.
    #[serde(default)]
    pub source_groups: Vec<String>,
    /// Which levers: `security_group`, `eks_endpoint`, `gcp_firewall`, `gke_endpoint`, `nsg`,
    /// `aks_endpoint`. Default every one the inventory names.
    #[serde(default)]
    pub on: Option<Vec<CloudFirewallOn>>,
    /// The inventory cluster. Default: the runbook's `cluster`.
    #[serde(default)]
    pub cluster: Option<String>,
    /// How long apply and verify follow the cloud's operations (an EKS update, GCP Operations,
    /// Azure async operations) to completion. Past it the target is `pending`. Default "10m".
    #[serde(default = "default_wait", with = "duration")]
    pub wait: Duration,
}

fn default_cloud_api_ports() -> Vec<u16> {
    vec![443, 6443]
}

fn validate_on(on: Option<&Vec<CloudFirewallOn>>, problems: &mut Vec<ArgProblem>) {
    if on.is_some_and(Vec::is_empty) {
        problems.push(ArgProblem::at(
            "on",
            "an empty list changes nothing; omit `on` for every lever the inventory names",
        ));
    }
}

impl CloudFirewallBlock {
    pub(super) fn validate(&self) -> Vec<ArgProblem> {
        let mut problems = Vec::new();
        if self.allow.is_empty() {
            problems.push(ArgProblem::at(
                "allow",
                "a block without `allow` would leave nobody able to reach the API, you included: \
                 list the break-glass ranges",
            ));
        }
        if self.ports.is_empty() || self.ports.contains(&0) {
            problems.push(ArgProblem::at(
                "ports",
                "list the API's TCP ports, e.g. [443, 6443]",
            ));
        }
        if let Some(g) = self.source_groups.iter().find(|g| !g.starts_with("sg-")) {
            problems.push(ArgProblem::at(
                "source_groups",
                format!("`{g}` is not a security group id (`sg-...`)"),
            ));
        }
        validate_on(self.on.as_ref(), &mut problems);
        problems
    }
}

/// `cloud.firewall.unblock`: restore what `cloud.firewall.block` changed, whichever run did it,
/// from the markers it left: re-authorize exactly the rules it revoked, revoke only the rules it
/// added, put the EKS CIDRs back; delete the VPC firewall and NSG rules it added (found by name
/// and description); put the GKE networks and AKS ranges from before back (from the cluster's
/// labels, tags). Nothing breakglass did not change is touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudFirewallUnblock {
    /// Which levers. Default every one the inventory names.
    #[serde(default)]
    pub on: Option<Vec<CloudFirewallOn>>,
    /// The inventory cluster. Default: the runbook's `cluster`.
    #[serde(default)]
    pub cluster: Option<String>,
    /// How long verify follows an EKS update. Default "10m".
    #[serde(default = "default_wait", with = "duration")]
    pub wait: Duration,
}

impl CloudFirewallUnblock {
    pub(super) fn validate(&self) -> Vec<ArgProblem> {
        let mut problems = Vec::new();
        validate_on(self.on.as_ref(), &mut problems);
        problems
    }
}

/// The EKS Provisioned Control Plane tiers
/// (<https://docs.aws.amazon.com/eks/latest/APIReference/API_ControlPlaneScalingConfig.html>).
pub const EKS_TIERS: [&str; 5] = ["standard", "tier-xl", "tier-2xl", "tier-4xl", "tier-8xl"];

/// `apiservers.scale`: more API servers.
///
/// - A self-managed control plane (`control_plane` of `[clusters.NAME.aws]`, `.gcp` or
///   `.azure`): its Auto Scaling group, managed instance group or scale set scaled like
///   `nodes.scale` (`to`, `by`), then each API server (found by the instance tag on AWS, the
///   group's instances on GCP and Azure; their private IPs) must answer `/readyz` with the
///   cluster's CA and TLS name.
/// - EKS (`eks_cluster`): the Provisioned Control Plane `tier`, through
///   `UpdateClusterConfig`, followed by its update id (`DescribeUpdate`) to completion.
///
/// The prior size (tier) is journaled and kept in a tag; `undo` restores it.
/// IAM: as `nodes.scale`, plus `ec2:DescribeInstances`; for EKS `eks:DescribeCluster`,
/// `UpdateClusterConfig`, `DescribeUpdate`, `TagResource`, `UntagResource`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiserversScale {
    /// The new number of API servers (`to = 5`, `to = "150%"`, rounded up).
    #[serde(default)]
    pub to: Option<ScaleTo>,
    /// Or a change to it (`by = 2`).
    #[serde(default)]
    pub by: Option<i64>,
    /// EKS: the control-plane tier, one of `standard`, `tier-xl`, `tier-2xl`, `tier-4xl`,
    /// `tier-8xl`.
    #[serde(default)]
    pub tier: Option<String>,
    /// The inventory cluster. Default: the runbook's `cluster`.
    #[serde(default)]
    pub cluster: Option<String>,
    /// How long verify waits for the new API servers to be ready (the EKS update to finish).
    /// Past it the target is `pending`: `resume` waits again, `undo` restores. Default "20m".
    #[serde(default = "default_apiserver_wait", with = "duration")]
    pub wait: Duration,
}

fn default_apiserver_wait() -> Duration {
    Duration::from_secs(1200)
}

impl ApiserversScale {
    pub(super) fn validate(&self) -> Vec<ArgProblem> {
        let mut problems = Vec::new();
        match (&self.tier, how_far(self.to, self.by)) {
            (None, Some(_)) if self.to.is_none() && self.by.is_none() => {
                problems.push(ArgProblem::whole(
                    "say how far: `to = N` or `by = N` for a control-plane group, \
                     `tier = \"tier-xl\"` for EKS",
                ));
            }
            (Some(_), _) if self.to.is_some() || self.by.is_some() => {
                problems.push(ArgProblem::at(
                    "tier",
                    "`tier` is for EKS, `to` and `by` for a control-plane group; keep one",
                ));
            }
            (None, Some(p)) => problems.push(p),
            _ => {}
        }
        if let Some(t) = &self.tier
            && !EKS_TIERS.contains(&t.as_str())
        {
            problems.push(ArgProblem::at(
                "tier",
                format!(
                    "`{t}` is not an EKS tier; expected one of {}",
                    EKS_TIERS.join(", ")
                ),
            ));
        }
        problems
    }
}

/// `to`: a count, or a percentage of the current desired capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleTo {
    Count(u32),
    Percent(u32),
}

impl ScaleTo {
    /// The new desired capacity for a group that now wants `current`.
    pub fn of(self, current: u32) -> u32 {
        match self {
            ScaleTo::Count(n) => n,
            ScaleTo::Percent(p) => {
                let scaled = (u64::from(current) * u64::from(p)).div_ceil(100);
                u32::try_from(scaled).unwrap_or(u32::MAX)
            }
        }
    }
}

impl fmt::Display for ScaleTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScaleTo::Count(n) => write!(f, "{n}"),
            ScaleTo::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for ScaleTo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ScaleTo::Count(n) => s.serialize_u32(*n),
            ScaleTo::Percent(_) => s.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for ScaleTo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ScaleTo, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ScaleTo;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count such as 3 or a percentage such as \"30%\"")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ScaleTo, E> {
                u32::try_from(v)
                    .map(ScaleTo::Count)
                    .map_err(|_| E::custom(format!("{v} is not a count of instances")))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ScaleTo, E> {
                u32::try_from(v)
                    .map(ScaleTo::Count)
                    .map_err(|_| E::custom(format!("{v} is not a count of instances")))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ScaleTo, E> {
                let t = v.trim();
                let bad = || {
                    E::custom(format!(
                        "`{v}` is neither a count nor a percentage; write e.g. 3 or \"30%\""
                    ))
                };
                match t.strip_suffix('%') {
                    Some(p) => p.trim().parse().map(ScaleTo::Percent).map_err(|_| bad()),
                    None => t.parse().map(ScaleTo::Count).map_err(|_| bad()),
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(with: &str) -> Result<NodesScale, String> {
        toml::from_str(with).map_err(|e| e.message().to_owned())
    }

    #[test]
    fn to_is_a_count_or_a_percentage_and_by_a_change() {
        assert_eq!(args("to = 3").expect("count").to, Some(ScaleTo::Count(3)));
        assert_eq!(
            args("to = \"30%\"").expect("percent").to,
            Some(ScaleTo::Percent(30))
        );
        assert_eq!(
            args("to = \"4\"").expect("count").to,
            Some(ScaleTo::Count(4))
        );
        assert!(
            args("to = -1")
                .expect_err("negative")
                .contains("not a count")
        );
        assert!(
            args("to = \"lots\"")
                .expect_err("words")
                .contains("write e.g. 3")
        );
        assert_eq!(ScaleTo::Percent(30).of(10), 3);
        assert_eq!(ScaleTo::Percent(30).of(1), 1, "rounded up");
        assert_eq!(ScaleTo::Percent(0).of(10), 0);
        let a = args("by = -2\nnode_groups = [\"workers-a\"]").expect("by");
        assert_eq!((a.by, a.wait), (Some(-2), Duration::from_secs(600)));
        assert!(a.validate().is_empty());
        // Serialized as written, so the journal records what ran.
        assert_eq!(
            toml::to_string(&args("to = \"30%\"").expect("percent")).expect("toml"),
            "to = \"30%\"\nwait = \"10m\"\n"
        );
    }

    #[test]
    fn one_way_to_say_how_far() {
        let fields = |with: &str| -> Vec<Option<&'static str>> {
            args(with)
                .expect("parses")
                .validate()
                .into_iter()
                .map(|p| p.field)
                .collect()
        };
        assert_eq!(fields(""), [None]);
        assert_eq!(fields("to = 1\nby = -1"), [Some("by")]);
        assert_eq!(fields("by = 0"), [Some("by")]);
        assert_eq!(fields("to = \"5000%\""), [Some("to")]);
        assert_eq!(fields("to = 1\nnode_groups = []"), [Some("node_groups")]);
    }
}
