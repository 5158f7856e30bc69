//! The read-only calls `inventory import aws` makes, every one followed through all its pages:
//!
//! - EC2 `DescribeInstances` with filters (`tag:KEY` / `tag-key`, and `instance-state-name`
//!   pending or running), pages of `MaxResults` followed by `NextToken`
//!   (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html>);
//! - Auto Scaling `DescribeAutoScalingGroups` by the same tag filters or by name, pages of
//!   `MaxRecords` (at most 100) followed by `NextToken`
//!   (<https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeAutoScalingGroups.html>);
//! - EKS `DescribeCluster` (`GET /clusters/{name}`), `ListNodegroups`
//!   (`GET /clusters/{name}/node-groups?maxResults=&nextToken=`) and `DescribeNodegroup`
//!   (<https://docs.aws.amazon.com/eks/latest/APIReference/API_ListNodegroups.html>).
//!
//! `progress` hears one line per page; the transport itself never prints.

use serde_json::Value;

use super::autoscaling::{Group, parse_groups};
use super::client::{Aws, AwsError, Service};
use super::xml;
use crate::transport::https::query_escape;

/// An EC2 filter: `tag:KEY` with values, `tag-key` with keys, or any other filter name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

impl Filter {
    /// `KEY=VALUE` is `tag:KEY` = VALUE; `KEY` alone is `tag-key` = KEY (the tag is there, any
    /// value), as the EC2 and Auto Scaling filters take them.
    pub fn tag(spec: &str) -> Filter {
        match spec.split_once('=') {
            Some((k, v)) => Filter {
                name: format!("tag:{k}"),
                values: vec![v.to_owned()],
            },
            None => Filter {
                name: "tag-key".into(),
                values: vec![spec.to_owned()],
            },
        }
    }
}

/// An instance as `inventory import` needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub id: String,
    pub private_ip: Option<std::net::IpAddr>,
    /// `ip-10-0-1-4.ec2.internal`: the Kubernetes node name the AWS cloud provider gives it.
    pub private_dns: Option<String>,
    pub zone: Option<String>,
    pub tags: Vec<(String, String)>,
    /// Its security groups (the instance's, else its primary interface's).
    pub security_groups: Vec<String>,
}

/// An EKS cluster's parts `inventory import` writes or notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EksInfo {
    pub name: String,
    /// `resourcesVpcConfig.clusterSecurityGroupId`, else the groups of `securityGroupIds`.
    pub security_groups: Vec<String>,
    /// The API endpoint's URL (a DNS name).
    pub endpoint: Option<String>,
}

/// A managed node group and the Auto Scaling groups EKS made for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EksNodegroup {
    pub name: String,
    pub asgs: Vec<String>,
}

fn protocol(operation: &str, message: impl std::fmt::Display) -> AwsError {
    AwsError::Protocol {
        permission: operation.to_owned(),
        message: message.to_string(),
    }
}

impl Aws {
    /// The pending and running instances matching every filter, all pages.
    pub async fn discover_instances(
        &self,
        filters: &[Filter],
        page_size: u32,
        progress: &(dyn Fn(String) + Sync),
    ) -> Result<Vec<Machine>, AwsError> {
        let mut all = filters.to_vec();
        all.push(Filter {
            name: "instance-state-name".into(),
            values: vec!["pending".into(), "running".into()],
        });
        let mut params = Vec::new();
        for (i, f) in all.iter().enumerate() {
            params.push((format!("Filter.{}.Name", i + 1), f.name.clone()));
            for (j, v) in f.values.iter().enumerate() {
                params.push((format!("Filter.{}.Value.{}", i + 1, j + 1), v.clone()));
            }
        }
        // EC2 takes 5 to 1000 results a page.
        params.push(("MaxResults".into(), page_size.clamp(5, 1000).to_string()));
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for page in 1.. {
            let mut p = params.clone();
            if let Some(t) = &token {
                p.push(("NextToken".into(), t.clone()));
            }
            let text = self
                .query_named(Service::Ec2, "DescribeInstances", &p)
                .await?;
            let (machines, next) =
                parse_machines(&text).map_err(|e| protocol("ec2:DescribeInstances", e))?;
            out.extend(machines);
            progress(format!(
                "EC2 DescribeInstances page {page}: {} instances so far",
                out.len()
            ));
            match next {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The Auto Scaling groups matching every tag filter (or named in `names`), all pages.
    pub async fn discover_auto_scaling_groups(
        &self,
        filters: &[Filter],
        names: &[String],
        page_size: u32,
        progress: &(dyn Fn(String) + Sync),
    ) -> Result<Vec<Group>, AwsError> {
        let mut params = Vec::new();
        for (i, n) in names.iter().enumerate() {
            params.push((format!("AutoScalingGroupNames.member.{}", i + 1), n.clone()));
        }
        for (i, f) in filters.iter().enumerate() {
            params.push((format!("Filters.member.{}.Name", i + 1), f.name.clone()));
            for (j, v) in f.values.iter().enumerate() {
                params.push((
                    format!("Filters.member.{}.Values.member.{}", i + 1, j + 1),
                    v.clone(),
                ));
            }
        }
        params.push(("MaxRecords".into(), page_size.clamp(1, 100).to_string()));
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for page in 1.. {
            let mut p = params.clone();
            if let Some(t) = &token {
                p.push(("NextToken".into(), t.clone()));
            }
            let text = self
                .query_named(Service::AutoScaling, "DescribeAutoScalingGroups", &p)
                .await?;
            let bad = |e: xml::XmlError| protocol("autoscaling:DescribeAutoScalingGroups", e);
            out.extend(parse_groups(&text).map_err(bad)?);
            progress(format!(
                "Auto Scaling DescribeAutoScalingGroups page {page}: {} groups so far",
                out.len()
            ));
            let doc = xml::parse(&text).map_err(bad)?;
            match xml::find(doc.root(), "NextToken").and_then(|n| n.text()) {
                Some(t) if !t.trim().is_empty() => token = Some(t.trim().to_owned()),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The EKS cluster `name`; None when the region has none of that name.
    pub async fn discover_eks_cluster(&self, name: &str) -> Result<Option<EksInfo>, AwsError> {
        let path = format!("/clusters/{}", query_escape(name));
        let v = match self
            .rest_json(
                Service::Eks,
                "DescribeCluster",
                reqwest::Method::GET,
                &path,
                None,
            )
            .await
        {
            Ok(v) => v,
            Err(e) if e.code() == Some("ResourceNotFoundException") => return Ok(None),
            Err(e) => return Err(e),
        };
        let c = &v["cluster"];
        let vpc = &c["resourcesVpcConfig"];
        let security_groups = match vpc["clusterSecurityGroupId"].as_str() {
            Some(g) if !g.is_empty() => vec![g.to_owned()],
            _ => strings(&vpc["securityGroupIds"]),
        };
        Ok(Some(EksInfo {
            name: c["name"].as_str().unwrap_or(name).to_owned(),
            security_groups,
            endpoint: c["endpoint"].as_str().map(str::to_owned),
        }))
    }

    /// The cluster's managed node groups, all pages, each with its Auto Scaling groups.
    pub async fn discover_nodegroups(
        &self,
        cluster: &str,
        page_size: u32,
        progress: &(dyn Fn(String) + Sync),
    ) -> Result<Vec<EksNodegroup>, AwsError> {
        let base = format!("/clusters/{}/node-groups", query_escape(cluster));
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        for page in 1.. {
            let mut path = format!("{base}?maxResults={}", page_size.clamp(1, 100));
            if let Some(t) = &token {
                path.push_str(&format!("&nextToken={}", query_escape(t)));
            }
            let v = self
                .rest_json(
                    Service::Eks,
                    "ListNodegroups",
                    reqwest::Method::GET,
                    &path,
                    None,
                )
                .await?;
            names.extend(strings(&v["nodegroups"]));
            progress(format!(
                "EKS ListNodegroups page {page}: {} node groups so far",
                names.len()
            ));
            match v["nextToken"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let v = self
                .rest_json(
                    Service::Eks,
                    "DescribeNodegroup",
                    reqwest::Method::GET,
                    &format!("{base}/{}", query_escape(&name)),
                    None,
                )
                .await?;
            let asgs = v
                .pointer("/nodegroup/resources/autoScalingGroups")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|g| g["name"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            out.push(EksNodegroup { name, asgs });
        }
        Ok(out)
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The instances of one `DescribeInstancesResponse` page and its `nextToken`.
pub fn parse_machines(text: &str) -> Result<(Vec<Machine>, Option<String>), xml::XmlError> {
    let doc = xml::parse(text)?;
    let root = doc.root_element();
    let mut out = Vec::new();
    for r in xml::items(root, "reservationSet") {
        for i in xml::items(r, "instancesSet") {
            let id = xml::text(i, "instanceId")
                .ok_or_else(|| xml::XmlError("an instance has no <instanceId>".into()))?
                .to_owned();
            let private_ip = match xml::text(i, "privateIpAddress") {
                None | Some("") => None,
                Some(ip) => Some(ip.parse().map_err(|_| {
                    xml::XmlError(format!(
                        "instance {id}: <privateIpAddress> is `{ip}`, not an address"
                    ))
                })?),
            };
            let groups = |n: roxmltree::Node<'_, '_>| -> Vec<String> {
                xml::items(n, "groupSet")
                    .iter()
                    .filter_map(|g| xml::text(*g, "groupId").map(str::to_owned))
                    .collect()
            };
            let mut security_groups = groups(i);
            if security_groups.is_empty()
                && let Some(eni) = xml::items(i, "networkInterfaceSet").first()
            {
                security_groups = groups(*eni);
            }
            out.push(Machine {
                private_ip,
                private_dns: xml::text(i, "privateDnsName")
                    .filter(|d| !d.is_empty())
                    .map(str::to_owned),
                zone: xml::child(i, "placement")
                    .and_then(|p| xml::text(p, "availabilityZone"))
                    .map(str::to_owned),
                // Tag values are taken as written (not trimmed): what is odd about them is the
                // import's to judge.
                tags: xml::items(i, "tagSet")
                    .iter()
                    .filter_map(|t| {
                        Some((
                            xml::child(*t, "key")?.text().unwrap_or_default().to_owned(),
                            xml::child(*t, "value")
                                .and_then(|v| v.text())
                                .unwrap_or_default()
                                .to_owned(),
                        ))
                    })
                    .collect(),
                security_groups,
                id,
            });
        }
    }
    Ok((out, xml::text(root, "nextToken").map(str::to_owned)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of the API reference's `DescribeInstances` example, two instances on a page
    /// with a `nextToken`.
    #[test]
    fn instances_are_read_with_tags_zone_groups_and_the_next_token() {
        let text = r#"<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <reservationSet><item><instancesSet>
    <item><instanceId>i-1</instanceId><privateDnsName>ip-10-0-1-4.ec2.internal</privateDnsName>
      <privateIpAddress>10.0.1.4</privateIpAddress>
      <placement><availabilityZone>us-east-1a</availabilityZone></placement>
      <groupSet><item><groupId>sg-cp</groupId><groupName>cp</groupName></item></groupSet>
      <tagSet><item><key>Name</key><value> a "b"
c</value></item><item><key>empty</key><value/></item></tagSet></item>
    <item><instanceId>i-2</instanceId><privateDnsName/><groupSet/>
      <networkInterfaceSet><item><groupSet><item><groupId>sg-eni</groupId></item></groupSet></item></networkInterfaceSet>
    </item>
  </instancesSet></item></reservationSet>
  <nextToken>page-2</nextToken>
</DescribeInstancesResponse>"#;
        let (m, next) = parse_machines(text).expect("parse");
        assert_eq!(next.as_deref(), Some("page-2"));
        assert_eq!(m[0].zone.as_deref(), Some("us-east-1a"));
        assert_eq!(m[0].security_groups, ["sg-cp"]);
        assert_eq!(
            m[0].tags,
            [
                ("Name".to_owned(), " a \"b\"\nc".to_owned()),
                ("empty".to_owned(), String::new())
            ]
        );
        assert_eq!((m[1].private_ip, m[1].private_dns.as_deref()), (None, None));
        assert_eq!(m[1].security_groups, ["sg-eni"]);
    }

    #[test]
    fn tag_specs_become_filters() {
        assert_eq!(
            Filter::tag("team=sre=x"),
            Filter {
                name: "tag:team".into(),
                values: vec!["sre=x".into()]
            }
        );
        assert_eq!(Filter::tag("kubernetes.io/cluster/prod").name, "tag-key");
    }
}
