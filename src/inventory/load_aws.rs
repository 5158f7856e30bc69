//! `[clusters.NAME.aws]`: the schema as written and its checks, each error pointing at the
//! offending value like every inventory error.
//!
//! ```toml
//! [clusters.prod.aws]
//! region = "us-east-1"                      # default: AWS_REGION, AWS_DEFAULT_REGION, the profile's
//! endpoint = "https://vpce-0abc.autoscaling.us-east-1.vpce.amazonaws.com"   # optional
//! profile = "breakglass"                    # optional: a profile of ~/.aws/config
//! config_file = "aws/config"                # optional: that profile's files instead of
//! credentials_file = "aws/credentials"      #   AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE
//! node_groups = [
//!   { name = "workers-a", asg = "prod-workers-a" },
//!   { name = "ng1", eks_cluster = "prod", eks_nodegroup = "ng1" },
//! ]
//! apiserver_security_group = "sg-0abc"     # cloud.firewall.block: the API servers' group
//! eks_cluster = "prod"                      # the EKS control plane: endpoint access, tier
//! control_plane = { asg = "prod-cp", tag = "k8s-role=control-plane", port = 6443 }
//! apiserver_peers = ["10.0.0.0/24"]         # must keep reaching the API through any block
//! operator_cidrs = ["203.0.113.7/32"]       # the break-glass egress, as AWS sees it
//! ```
//!
//! A node group is an Auto Scaling group (`asg`) or an EKS managed node group (`eks_cluster`
//! and `eks_nodegroup`), never both; names are unique within the cluster.

use std::collections::HashSet;

use serde::Deserialize;
use toml::Spanned;

use super::checks::{check_endpoint, check_node_group_name, non_empty};
use super::load::{Cx, InventoryError};
use super::{AwsResources, ControlPlaneGroup, NodeGroup, NodeGroupBacking};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [clusters.NAME.aws] table")]
pub(super) struct RawAws {
    region: Option<Spanned<String>>,
    endpoint: Option<Spanned<String>>,
    profile: Option<Spanned<String>>,
    config_file: Option<Spanned<String>>,
    credentials_file: Option<Spanned<String>>,
    #[serde(default)]
    node_groups: Vec<Spanned<RawNodeGroup>>,
    apiserver_security_group: Option<Spanned<String>>,
    eks_cluster: Option<Spanned<String>>,
    control_plane: Option<Spanned<RawControlPlane>>,
    #[serde(default)]
    apiserver_peers: Vec<Spanned<String>>,
    #[serde(default)]
    operator_cidrs: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a control plane: { asg = \"...\", tag = \"KEY=VALUE\", port = 6443 }"
)]
struct RawControlPlane {
    asg: Spanned<String>,
    tag: Option<Spanned<String>>,
    port: Option<u16>,
}

/// A CIDR (`10.0.0.0/8`) or one address, as the firewall arguments take them.
pub(super) fn cidrs(
    cx: &Cx<'_>,
    list: Vec<Spanned<String>>,
) -> Result<Vec<ipnet::IpNet>, InventoryError> {
    list.into_iter()
        .map(|c| {
            let t = c.get_ref().trim();
            t.parse::<ipnet::IpNet>()
                .map(|n| n.trunc())
                .or_else(|_| t.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    cx.invalid(
                        &c.span(),
                        format!("`{t}` is not a CIDR such as 10.0.0.0/8 or an IP address"),
                    )
                })
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a node group: { name = \"...\", asg = \"...\" } or { name = \"...\", eks_cluster = \"...\", eks_nodegroup = \"...\" }"
)]
struct RawNodeGroup {
    name: Spanned<String>,
    asg: Option<Spanned<String>>,
    eks_cluster: Option<Spanned<String>>,
    eks_nodegroup: Option<Spanned<String>>,
}

/// `file` resolves a path as every inventory path is (`~/`, relative to the inventory).
pub(super) fn build(
    cx: &Cx<'_>,
    raw: RawAws,
    file: &dyn Fn(&Spanned<String>) -> Result<std::path::PathBuf, InventoryError>,
) -> Result<AwsResources, InventoryError> {
    if let Some(r) = &raw.region {
        let ok = !r.get_ref().is_empty()
            && r.get_ref()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(cx.invalid(
                &r.span(),
                format!(
                    "bad region `{}`; expected an AWS region such as us-east-1",
                    r.get_ref()
                ),
            ));
        }
    }
    check_endpoint(cx, raw.endpoint.as_ref())?;
    if let Some(p) = &raw.profile {
        non_empty(p.get_ref(), "profile name").map_err(|m| cx.invalid(&p.span(), m))?;
    }
    let mut seen = HashSet::new();
    let mut node_groups = Vec::new();
    for g in raw.node_groups {
        let span = g.span();
        let g = g.into_inner();
        let name = g.name.get_ref();
        check_node_group_name(cx, &g.name, &mut seen)?;
        let text = |v: &Spanned<String>, what: &str| {
            non_empty(v.get_ref(), what)
                .map(|()| v.get_ref().clone())
                .map_err(|m| cx.invalid(&v.span(), m))
        };
        let backing = match (&g.asg, &g.eks_cluster, &g.eks_nodegroup) {
            (Some(asg), None, None) => NodeGroupBacking::Asg(text(asg, "Auto Scaling group name")?),
            (None, Some(c), Some(n)) => NodeGroupBacking::Eks {
                cluster: text(c, "EKS cluster name")?,
                nodegroup: text(n, "EKS node group name")?,
            },
            (Some(asg), _, _) => {
                return Err(cx.invalid(
                    &asg.span(),
                    format!(
                        "node group `{name}` sets both `asg` and `eks_*`; expected one: an Auto Scaling group or an EKS node group"
                    ),
                ));
            }
            (None, Some(_), None) | (None, None, Some(_)) => {
                let at = g.eks_cluster.as_ref().or(g.eks_nodegroup.as_ref());
                return Err(cx.invalid(
                    &at.map_or(span, Spanned::span),
                    format!("node group `{name}`: `eks_cluster` and `eks_nodegroup` go together; set both"),
                ));
            }
            (None, None, None) => {
                return Err(cx.invalid(
                    &span,
                    format!(
                        "node group `{name}` says nothing about what it is; expected `asg = \"...\"`, or `eks_cluster` and `eks_nodegroup`"
                    ),
                ));
            }
        };
        node_groups.push(NodeGroup {
            name: name.clone(),
            backing,
        });
    }
    if let Some(g) = &raw.apiserver_security_group
        && !g.get_ref().starts_with("sg-")
    {
        return Err(cx.invalid(
            &g.span(),
            format!(
                "`{}` is not a security group id; expected `sg-...`",
                g.get_ref()
            ),
        ));
    }
    if let Some(c) = &raw.eks_cluster {
        non_empty(c.get_ref(), "EKS cluster name").map_err(|m| cx.invalid(&c.span(), m))?;
    }
    let control_plane = match raw.control_plane {
        None => None,
        Some(cp) => {
            let cp = cp.into_inner();
            non_empty(cp.asg.get_ref(), "Auto Scaling group name")
                .map_err(|m| cx.invalid(&cp.asg.span(), m))?;
            let tag = match &cp.tag {
                None => (
                    "aws:autoscaling:groupName".to_owned(),
                    cp.asg.get_ref().clone(),
                ),
                Some(t) => match t.get_ref().split_once('=') {
                    Some((k, v)) if !k.is_empty() => (k.to_owned(), v.to_owned()),
                    _ => {
                        return Err(cx.invalid(
                            &t.span(),
                            format!(
                                "tag `{}` is not `KEY=VALUE`, e.g. `k8s-role=control-plane`",
                                t.get_ref()
                            ),
                        ));
                    }
                },
            };
            Some(ControlPlaneGroup {
                asg: cp.asg.into_inner(),
                tag,
                port: cp.port.filter(|p| *p != 0).unwrap_or(6443),
            })
        }
    };
    Ok(AwsResources {
        region: raw.region.map(Spanned::into_inner),
        endpoint: raw.endpoint.map(Spanned::into_inner),
        profile: raw.profile.map(Spanned::into_inner),
        config_file: raw.config_file.as_ref().map(file).transpose()?,
        credentials_file: raw.credentials_file.as_ref().map(file).transpose()?,
        node_groups,
        apiserver_security_group: raw.apiserver_security_group.map(Spanned::into_inner),
        eks_cluster: raw.eks_cluster.map(Spanned::into_inner),
        control_plane,
        apiserver_peers: cidrs(cx, raw.apiserver_peers)?,
        operator_cidrs: cidrs(cx, raw.operator_cidrs)?,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::inventory::{Format, Inventory, NodeGroupBacking};

    fn load(aws: &str) -> Result<Inventory, String> {
        crate::inventory::load::load_cloud_table("aws", aws)
    }

    #[test]
    fn an_accounts_files_are_paths_like_every_inventory_path() {
        let inv = load(
            "profile = \"lab\"\nconfig_file = \"aws/config\"\ncredentials_file = \"/etc/bg/creds\"\n",
        )
        .expect("valid");
        let aws = inv.clusters["prod"].aws.as_ref().expect("aws");
        // Relative to the inventory's directory (here `inv.toml`'s: the current one).
        assert_eq!(aws.config_file.as_deref(), Some(Path::new("aws/config")));
        assert_eq!(
            aws.credentials_file.as_deref(),
            Some(Path::new("/etc/bg/creds"))
        );
        let e = load("config_file = \"~nobody/x\"\n").expect_err("~user is not expanded");
        assert!(e.contains("only `~/` is expanded"), "{e}");
    }

    #[test]
    fn node_groups_are_read_with_what_backs_them() {
        let inv = load(
            "region = \"us-east-1\"\nendpoint = \"http://127.0.0.1:5000\"\nnode_groups = [\n  \
             { name = \"workers-a\", asg = \"prod-workers-a\" },\n  \
             { name = \"ng1\", eks_cluster = \"prod\", eks_nodegroup = \"ng1\" },\n]\n",
        )
        .expect("valid");
        let aws = inv.clusters["prod"].aws.as_ref().expect("aws");
        assert_eq!(aws.region.as_deref(), Some("us-east-1"));
        assert_eq!(aws.node_groups.len(), 2);
        assert_eq!(
            aws.node_groups[0].backing,
            NodeGroupBacking::Asg("prod-workers-a".into())
        );
        assert_eq!(
            aws.node_groups[1].backing.describe(),
            "EKS node group prod/ng1"
        );
        // The same file as JSON means the same.
        let json = Inventory::from_str(
            r#"{"clusters": {"prod": {"api_endpoints": ["10.0.0.10:6443"], "aws": {"region": "us-east-1",
                "endpoint": "http://127.0.0.1:5000", "node_groups": [{"name": "workers-a", "asg": "prod-workers-a"},
                {"name": "ng1", "eks_cluster": "prod", "eks_nodegroup": "ng1"}]}}}}"#,
            Path::new("inv.json"),
            Format::Json,
        )
        .expect("json");
        assert_eq!(json.clusters["prod"].aws, inv.clusters["prod"].aws);
    }

    #[test]
    fn bad_node_groups_point_at_the_value() {
        let e =
            load("node_groups = [{ name = \"a\", asg = \"x\" }, { name = \"a\", asg = \"y\" }]\n")
                .expect_err("duplicate");
        assert!(
            e.starts_with("inv.toml:5:52: node group `a` is listed twice"),
            "{e}"
        );
        let e = load("node_groups = [{ name = \"a\", eks_cluster = \"c\" }]\n").expect_err("half");
        assert!(
            e.contains("`eks_cluster` and `eks_nodegroup` go together"),
            "{e}"
        );
        let e = load("node_groups = [{ name = \"a\", asg = \"x\", eks_cluster = \"c\", eks_nodegroup = \"n\" }]\n")
            .expect_err("both");
        assert!(e.contains("sets both `asg` and `eks_*`"), "{e}");
        let e = load("node_groups = [{ name = \"a\" }]\n").expect_err("nothing");
        assert!(e.contains("expected `asg = \"...\"`"), "{e}");
        let e = load("region = \"US East\"\n").expect_err("region");
        assert!(e.starts_with("inv.toml:5:10: bad region"), "{e}");
        let e = load("endpoint = \"localhost:5000\"\n").expect_err("endpoint");
        assert!(e.contains("expected an http:// or https:// URL"), "{e}");
        let e = load("node_groups = [{ name = \"a\", asgs = \"x\" }]\n").expect_err("typo");
        assert!(e.contains("unknown field `asgs`"), "{e}");
    }

    #[test]
    fn the_control_planes_resources_are_read() {
        let inv = load(
            "apiserver_security_group = \"sg-0abc\"\neks_cluster = \"prod\"\n\
             control_plane = { asg = \"prod-cp\", tag = \"k8s-role=control-plane\" }\n\
             apiserver_peers = [\"10.0.0.0/24\", \"10.1.0.5\"]\noperator_cidrs = [\"203.0.113.7/32\"]\n",
        )
        .expect("valid");
        let aws = inv.clusters["prod"].aws.as_ref().expect("aws");
        assert_eq!(aws.apiserver_security_group.as_deref(), Some("sg-0abc"));
        let cp = aws.control_plane.as_ref().expect("control plane");
        assert_eq!(
            (
                cp.asg.as_str(),
                cp.tag.0.as_str(),
                cp.tag.1.as_str(),
                cp.port
            ),
            ("prod-cp", "k8s-role", "control-plane", 6443)
        );
        assert_eq!(aws.apiserver_peers[1].to_string(), "10.1.0.5/32");
        let e = load("apiserver_security_group = \"web\"\n").expect_err("not sg");
        assert!(e.contains("expected `sg-...`"), "{e}");
        let e = load("operator_cidrs = [\"home\"]\n").expect_err("cidr");
        assert!(e.starts_with("inv.toml:5:19: `home` is not a CIDR"), "{e}");
        let e = load("control_plane = { asg = \"cp\", tag = \"role\" }\n").expect_err("tag");
        assert!(e.contains("is not `KEY=VALUE`"), "{e}");
    }
}
