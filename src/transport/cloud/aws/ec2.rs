//! EC2 (Query protocol, version 2016-11-15, docs.aws.amazon.com/AWSEC2/latest/APIReference/):
//! the calls `cloud.firewall.block` makes on the API servers' security group and
//! `apiservers.scale` makes to find the new API servers:
//!
//! - `DescribeSecurityGroups`: the group's ingress rules (flattened: one [`IngressRule`] per
//!   source) and its tags, in one request;
//! - `RevokeSecurityGroupIngress` / `AuthorizeSecurityGroupIngress`, one rule per call so an
//!   answer is about exactly one rule. A revoke that matches no rule is not an error on AWS
//!   (it answers `<return>true</return>` with the rule in `unknownIpPermissionSet`), and moto
//!   answers `InvalidPermission.NotFound`: both come back as [`Revoked::NoMatch`];
//! - `CreateTags` / `DeleteTags`: the marker that remembers what a block changed;
//! - `DescribeInstances` by tag (`Filter.1.Name=tag:KEY`): instances and their private IPs.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::client::{Aws, AwsError, Service};
use super::xml;

/// Where an ingress rule lets traffic come from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleSource {
    /// An address range, IPv4 or IPv6.
    Cidr(IpNet),
    /// Another security group (its members).
    Group(String),
    /// A managed prefix list.
    PrefixList(String),
}

impl fmt::Display for RuleSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleSource::Cidr(c) => write!(f, "{c}"),
            RuleSource::Group(g) => write!(f, "group {g}"),
            RuleSource::PrefixList(p) => write!(f, "prefix list {p}"),
        }
    }
}

/// One ingress rule: a protocol, a port range and one source. What a rule *is* for EC2 (two
/// rules with the same protocol, ports and source are one); the description rides along and is
/// restored with it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IngressRule {
    /// `tcp`, `udp`, `icmp`, or `-1` (every protocol; then the ports are -1).
    pub protocol: String,
    pub from: i32,
    pub to: i32,
    pub source: RuleSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl IngressRule {
    /// A TCP rule for one port from `cidr`.
    pub fn tcp(port: u16, cidr: IpNet, description: Option<String>) -> IngressRule {
        IngressRule {
            protocol: "tcp".into(),
            from: i32::from(port),
            to: i32::from(port),
            source: RuleSource::Cidr(cidr),
            description,
        }
    }

    /// Whether TCP to `port` is let through by this rule.
    pub fn opens(&self, port: u16) -> bool {
        match self.protocol.as_str() {
            "-1" => true,
            "tcp" => self.from <= i32::from(port) && i32::from(port) <= self.to,
            _ => false,
        }
    }

    /// The same rule, whatever its description (EC2 matches rules without it).
    pub fn same(&self, other: &IngressRule) -> bool {
        self.protocol == other.protocol
            && self.from == other.from
            && self.to == other.to
            && self.source == other.source
    }

    /// The ports it opens, as the operator reads them: `tcp 6443`, `tcp 0-65535`, `all traffic`.
    pub fn ports(&self) -> String {
        match (self.protocol.as_str(), self.from, self.to) {
            ("-1", _, _) => "all traffic".into(),
            (p, from, to) if from == to => format!("{p} {from}"),
            (p, from, to) => format!("{p} {from}-{to}"),
        }
    }
}

impl fmt::Display for IngressRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} from {}", self.ports(), self.source)
    }
}

/// A security group as `DescribeSecurityGroups` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroup {
    pub id: String,
    pub ingress: Vec<IngressRule>,
    pub tags: BTreeMap<String, String>,
}

/// What a revoke did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    Removed,
    /// The group has no such rule: nothing was revoked.
    NoMatch,
}

/// An instance as `DescribeInstances` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    /// `pending`, `running`, ...
    pub state: String,
    pub private_ip: Option<IpAddr>,
}

fn protocol_error(operation: &str, message: impl fmt::Display) -> AwsError {
    AwsError::Protocol {
        permission: format!("ec2:{operation}"),
        message: message.to_string(),
    }
}

impl Aws {
    /// The security group `id`; None when the region has no such group.
    pub async fn describe_security_group(
        &self,
        id: &str,
    ) -> Result<Option<SecurityGroup>, AwsError> {
        let text = match self
            .query(
                Service::Ec2,
                "DescribeSecurityGroups",
                &[("GroupId.1", id.to_owned())],
            )
            .await
        {
            Ok(t) => t,
            Err(e) if e.code() == Some("InvalidGroup.NotFound") => return Ok(None),
            Err(e) => return Err(e),
        };
        let groups = parse_security_groups(&text)
            .map_err(|e| protocol_error("DescribeSecurityGroups", e))?;
        Ok(groups.into_iter().find(|g| g.id == id))
    }

    /// Revokes one ingress rule (matched by protocol, ports and source).
    pub async fn revoke_ingress(
        &self,
        group: &str,
        rule: &IngressRule,
    ) -> Result<Revoked, AwsError> {
        let params = permission_params(group, rule, false);
        match self
            .query_named(Service::Ec2, "RevokeSecurityGroupIngress", &params)
            .await
        {
            Ok(text) => {
                let doc = xml::parse(&text)
                    .map_err(|e| protocol_error("RevokeSecurityGroupIngress", e))?;
                let unknown = xml::find(doc.root(), "unknownIpPermissionSet")
                    .is_some_and(|s| s.children().any(|n| n.is_element()));
                let refused = xml::find(doc.root(), "return")
                    .and_then(|n| n.text())
                    .is_some_and(|t| t.trim() == "false");
                Ok(if unknown || refused {
                    Revoked::NoMatch
                } else {
                    Revoked::Removed
                })
            }
            Err(e) if e.code() == Some("InvalidPermission.NotFound") => Ok(Revoked::NoMatch),
            Err(e) => Err(e),
        }
    }

    /// Authorizes one ingress rule, with its description. False: the group has it already.
    pub async fn authorize_ingress(
        &self,
        group: &str,
        rule: &IngressRule,
    ) -> Result<bool, AwsError> {
        let params = permission_params(group, rule, true);
        match self
            .query_named(Service::Ec2, "AuthorizeSecurityGroupIngress", &params)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("InvalidPermission.Duplicate") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sets tags on an EC2 resource.
    pub async fn create_ec2_tags(
        &self,
        resource: &str,
        tags: &[(String, String)],
    ) -> Result<(), AwsError> {
        let mut params = vec![("ResourceId.1".to_owned(), resource.to_owned())];
        for (i, (k, v)) in tags.iter().enumerate() {
            params.push((format!("Tag.{}.Key", i + 1), k.clone()));
            params.push((format!("Tag.{}.Value", i + 1), v.clone()));
        }
        self.query_named(Service::Ec2, "CreateTags", &params)
            .await
            .map(drop)
    }

    /// Removes tags (by key) from an EC2 resource.
    pub async fn delete_ec2_tags(&self, resource: &str, keys: &[String]) -> Result<(), AwsError> {
        let mut params = vec![("ResourceId.1".to_owned(), resource.to_owned())];
        for (i, k) in keys.iter().enumerate() {
            params.push((format!("Tag.{}.Key", i + 1), k.clone()));
        }
        self.query_named(Service::Ec2, "DeleteTags", &params)
            .await
            .map(drop)
    }

    /// The pending and running instances tagged `key=value`, every page.
    pub async fn instances_tagged(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<Instance>, AwsError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut params = vec![
                ("Filter.1.Name", format!("tag:{key}")),
                ("Filter.1.Value.1", value.to_owned()),
                ("Filter.2.Name", "instance-state-name".to_owned()),
                ("Filter.2.Value.1", "pending".to_owned()),
                ("Filter.2.Value.2", "running".to_owned()),
            ];
            if let Some(t) = &token {
                params.push(("NextToken", t.clone()));
            }
            let text = self
                .query(Service::Ec2, "DescribeInstances", &params)
                .await?;
            let (page, next) =
                parse_instances(&text).map_err(|e| protocol_error("DescribeInstances", e))?;
            out.extend(page);
            match next {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(out),
            }
        }
    }
}

/// The Query parameters of one rule (`IpPermissions.1.…`).
fn permission_params(
    group: &str,
    rule: &IngressRule,
    with_description: bool,
) -> Vec<(String, String)> {
    let p = "IpPermissions.1";
    let mut params = vec![
        ("GroupId".to_owned(), group.to_owned()),
        (format!("{p}.IpProtocol"), rule.protocol.clone()),
    ];
    if rule.protocol != "-1" {
        params.push((format!("{p}.FromPort"), rule.from.to_string()));
        params.push((format!("{p}.ToPort"), rule.to.to_string()));
    }
    let (list, field) = match &rule.source {
        RuleSource::Cidr(IpNet::V4(c)) => ("IpRanges", ("CidrIp", c.to_string())),
        RuleSource::Cidr(IpNet::V6(c)) => ("Ipv6Ranges", ("CidrIpv6", c.to_string())),
        RuleSource::Group(g) => ("UserIdGroupPairs", ("GroupId", g.clone())),
        RuleSource::PrefixList(l) => ("PrefixListIds", ("PrefixListId", l.clone())),
    };
    params.push((format!("{p}.{list}.1.{}", field.0), field.1));
    if with_description && let Some(d) = &rule.description {
        params.push((format!("{p}.{list}.1.Description"), d.clone()));
    }
    params
}

/// The protocol as EC2 names it (`6` is `tcp`).
fn protocol(p: &str) -> String {
    match p {
        "6" => "tcp".into(),
        "17" => "udp".into(),
        "1" => "icmp".into(),
        "all" => "-1".into(),
        other => other.to_ascii_lowercase(),
    }
}

/// The groups of a `DescribeSecurityGroupsResponse`, their ingress flattened to one rule per
/// source.
pub fn parse_security_groups(text: &str) -> Result<Vec<SecurityGroup>, xml::XmlError> {
    let doc = xml::parse(text)?;
    let root = doc.root_element();
    let Some(info) = xml::child(root, "securityGroupInfo") else {
        return Err(xml::XmlError(
            "the answer has no <securityGroupInfo>".into(),
        ));
    };
    let mut groups = Vec::new();
    for g in info
        .children()
        .filter(|n| n.is_element() && n.tag_name().name() == "item")
    {
        let id = xml::text(g, "groupId")
            .ok_or_else(|| xml::XmlError("a group has no <groupId>".into()))?
            .to_owned();
        let mut ingress = Vec::new();
        for perm in xml::items(g, "ipPermissions") {
            let proto = protocol(xml::text(perm, "ipProtocol").unwrap_or("-1"));
            let port = |name: &str| -> Result<i32, xml::XmlError> {
                match xml::text(perm, name) {
                    None => Ok(-1),
                    Some(t) => t
                        .parse()
                        .map_err(|_| xml::XmlError(format!("<{name}> is `{t}`, not a port"))),
                }
            };
            let (from, to) = if proto == "-1" {
                (-1, -1)
            } else {
                (port("fromPort")?, port("toPort")?)
            };
            let description = |n: roxmltree::Node<'_, '_>| {
                xml::text(n, "description")
                    .filter(|d| !d.is_empty())
                    .map(str::to_owned)
            };
            let mut push = |source: RuleSource, description: Option<String>| {
                ingress.push(IngressRule {
                    protocol: proto.clone(),
                    from,
                    to,
                    source,
                    description,
                });
            };
            for (list, field) in [("ipRanges", "cidrIp"), ("ipv6Ranges", "cidrIpv6")] {
                for r in xml::items(perm, list) {
                    let Some(c) = xml::text(r, field) else {
                        continue;
                    };
                    let cidr: IpNet = c
                        .parse()
                        .map_err(|_| xml::XmlError(format!("<{field}> is `{c}`, not a CIDR")))?;
                    push(RuleSource::Cidr(cidr), description(r));
                }
            }
            for r in xml::items(perm, "groups") {
                if let Some(id) = xml::text(r, "groupId") {
                    push(RuleSource::Group(id.to_owned()), description(r));
                }
            }
            for r in xml::items(perm, "prefixListIds") {
                if let Some(id) = xml::text(r, "prefixListId") {
                    push(RuleSource::PrefixList(id.to_owned()), description(r));
                }
            }
        }
        ingress.sort();
        let tags = xml::items(g, "tagSet")
            .iter()
            .filter_map(|t| {
                Some((
                    xml::text(*t, "key")?.to_owned(),
                    xml::text(*t, "value").unwrap_or_default().to_owned(),
                ))
            })
            .collect();
        groups.push(SecurityGroup { id, ingress, tags });
    }
    Ok(groups)
}

/// The instances of one `DescribeInstancesResponse` page and its `nextToken`.
pub fn parse_instances(text: &str) -> Result<(Vec<Instance>, Option<String>), xml::XmlError> {
    let doc = xml::parse(text)?;
    let root = doc.root_element();
    let mut out = Vec::new();
    for r in xml::items(root, "reservationSet") {
        for i in xml::items(r, "instancesSet") {
            let id = xml::text(i, "instanceId")
                .ok_or_else(|| xml::XmlError("an instance has no <instanceId>".into()))?
                .to_owned();
            let state = xml::child(i, "instanceState")
                .and_then(|s| xml::text(s, "name"))
                .unwrap_or("unknown")
                .to_owned();
            let private_ip = match xml::text(i, "privateIpAddress") {
                None | Some("") => None,
                Some(ip) => Some(ip.parse().map_err(|_| {
                    xml::XmlError(format!("<privateIpAddress> is `{ip}`, not an address"))
                })?),
            };
            out.push(Instance {
                id,
                state,
                private_ip,
            });
        }
    }
    Ok((out, xml::text(root, "nextToken").map(str::to_owned)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of the API reference's `DescribeSecurityGroups` example answer.
    const GROUPS: &str = r#"<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>r</requestId>
  <securityGroupInfo>
    <item>
      <ownerId>123456789012</ownerId><groupId>sg-1a2b3c4d</groupId><groupName>apiservers</groupName>
      <ipPermissions>
        <item><ipProtocol>tcp</ipProtocol><fromPort>6443</fromPort><toPort>6443</toPort>
          <groups><item><userId>123456789012</userId><groupId>sg-nodes</groupId></item></groups>
          <ipRanges><item><cidrIp>0.0.0.0/0</cidrIp><description>world</description></item>
                    <item><cidrIp>10.0.0.0/16</cidrIp></item></ipRanges>
          <ipv6Ranges/><prefixListIds/>
        </item>
        <item><ipProtocol>-1</ipProtocol>
          <groups/><ipRanges/><ipv6Ranges><item><cidrIpv6>::/0</cidrIpv6></item></ipv6Ranges><prefixListIds/>
        </item>
      </ipPermissions>
      <ipPermissionsEgress/>
      <tagSet><item><key>team</key><value>sre</value></item></tagSet>
    </item>
  </securityGroupInfo>
</DescribeSecurityGroupsResponse>"#;

    #[test]
    fn a_group_is_read_as_one_rule_per_source() {
        let g = parse_security_groups(GROUPS).expect("parse");
        assert_eq!(g.len(), 1);
        let shown: Vec<String> = g[0].ingress.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "all traffic from ::/0",
                "tcp 6443 from 0.0.0.0/0",
                "tcp 6443 from 10.0.0.0/16",
                "tcp 6443 from group sg-nodes"
            ]
        );
        assert_eq!(g[0].ingress[1].description.as_deref(), Some("world"));
        assert_eq!(g[0].tags["team"], "sre");
        assert!(g[0].ingress[0].opens(6443) && g[0].ingress[1].opens(6443));
        assert!(!g[0].ingress[1].opens(443));
    }

    #[test]
    fn a_rule_becomes_one_permission() {
        let rule = IngressRule::tcp(
            6443,
            "203.0.113.0/24".parse().expect("cidr"),
            Some("breakglass".into()),
        );
        let p = permission_params("sg-1", &rule, true);
        let p: Vec<String> = p.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            p,
            [
                "GroupId=sg-1",
                "IpPermissions.1.IpProtocol=tcp",
                "IpPermissions.1.FromPort=6443",
                "IpPermissions.1.ToPort=6443",
                "IpPermissions.1.IpRanges.1.CidrIp=203.0.113.0/24",
                "IpPermissions.1.IpRanges.1.Description=breakglass"
            ]
        );
        // Revokes match without the description.
        assert_eq!(permission_params("sg-1", &rule, false).len(), 5);
    }

    #[test]
    fn instances_are_read_with_their_private_addresses() {
        let text = r"<DescribeInstancesResponse><reservationSet><item><instancesSet>
            <item><instanceId>i-1</instanceId><instanceState><code>16</code><name>running</name></instanceState>
            <privateIpAddress>10.0.1.5</privateIpAddress></item>
            <item><instanceId>i-2</instanceId><instanceState><code>0</code><name>pending</name></instanceState></item>
            </instancesSet></item></reservationSet><nextToken>t2</nextToken></DescribeInstancesResponse>";
        let (i, next) = parse_instances(text).expect("parse");
        assert_eq!(i.len(), 2);
        assert_eq!(i[0].private_ip, Some("10.0.1.5".parse().expect("ip")));
        assert_eq!((i[1].state.as_str(), i[1].private_ip), ("pending", None));
        assert_eq!(next.as_deref(), Some("t2"));
    }
}
