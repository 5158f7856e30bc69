//! EC2 Auto Scaling: the calls `nodes.scale` makes on a group (Query protocol, version
//! 2011-01-01, docs.aws.amazon.com/autoscaling/ec2/APIReference/):
//! `DescribeAutoScalingGroups` (sizes, instances and their lifecycle states, tags),
//! `UpdateAutoScalingGroup` (min, max and desired together, so a new desired below the minimum
//! lowers the minimum in the same call), and `CreateOrUpdateTags` / `DeleteTags` (the marker that
//! remembers a group's sizes from before a run changed it).

use std::collections::BTreeMap;

use super::client::{Aws, AwsError, Service};
use super::xml;

/// An Auto Scaling group as `DescribeAutoScalingGroups` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub min: u32,
    pub max: u32,
    pub desired: u32,
    /// Instances whose `LifecycleState` is `InService`.
    pub in_service: u32,
    /// All instances, whatever their state (launching, terminating, ...).
    pub instances: u32,
    pub tags: BTreeMap<String, String>,
}

/// Min, max and desired capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    pub min: u32,
    pub max: u32,
    pub desired: u32,
}

impl Group {
    pub fn sizes(&self) -> Sizes {
        Sizes {
            min: self.min,
            max: self.max,
            desired: self.desired,
        }
    }
}

impl Aws {
    /// The group named `name`; None when the region has no such group.
    pub async fn describe_auto_scaling_group(&self, name: &str) -> Result<Option<Group>, AwsError> {
        let text = self
            .query(
                Service::AutoScaling,
                "DescribeAutoScalingGroups",
                &[("AutoScalingGroupNames.member.1", name.to_owned())],
            )
            .await?;
        let groups = parse_groups(&text).map_err(|e| AwsError::Protocol {
            permission: "autoscaling:DescribeAutoScalingGroups".into(),
            message: e.to_string(),
        })?;
        Ok(groups.into_iter().find(|g| g.name == name))
    }

    /// The groups named, in one request (up to 100 names, the API's page size); the region's
    /// missing groups are not in the answer.
    pub async fn describe_auto_scaling_groups(
        &self,
        names: &[String],
    ) -> Result<Vec<Group>, AwsError> {
        let params: Vec<(String, String)> = names
            .iter()
            .take(100)
            .enumerate()
            .map(|(i, n)| (format!("AutoScalingGroupNames.member.{}", i + 1), n.clone()))
            .collect();
        let text = self
            .query_named(Service::AutoScaling, "DescribeAutoScalingGroups", &params)
            .await?;
        parse_groups(&text).map_err(|e| AwsError::Protocol {
            permission: "autoscaling:DescribeAutoScalingGroups".into(),
            message: e.to_string(),
        })
    }

    /// Sets min, max and desired capacity in one call.
    pub async fn update_auto_scaling_group(&self, name: &str, s: Sizes) -> Result<(), AwsError> {
        self.query(
            Service::AutoScaling,
            "UpdateAutoScalingGroup",
            &[
                ("AutoScalingGroupName", name.to_owned()),
                ("MinSize", s.min.to_string()),
                ("MaxSize", s.max.to_string()),
                ("DesiredCapacity", s.desired.to_string()),
            ],
        )
        .await
        .map(drop)
    }

    /// Sets a tag on the group (not propagated to instances).
    pub async fn tag_auto_scaling_group(
        &self,
        name: &str,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        self.query(
            Service::AutoScaling,
            "CreateOrUpdateTags",
            &[
                ("Tags.member.1.ResourceId", name.to_owned()),
                ("Tags.member.1.ResourceType", "auto-scaling-group".into()),
                ("Tags.member.1.Key", key.to_owned()),
                ("Tags.member.1.Value", value.to_owned()),
                ("Tags.member.1.PropagateAtLaunch", "false".into()),
            ],
        )
        .await
        .map(drop)
    }

    /// Removes a tag from the group.
    pub async fn untag_auto_scaling_group(&self, name: &str, key: &str) -> Result<(), AwsError> {
        self.query(
            Service::AutoScaling,
            "DeleteTags",
            &[
                ("Tags.member.1.ResourceId", name.to_owned()),
                ("Tags.member.1.ResourceType", "auto-scaling-group".into()),
                ("Tags.member.1.Key", key.to_owned()),
            ],
        )
        .await
        .map(drop)
    }
}

/// The groups of a `DescribeAutoScalingGroupsResponse`.
pub fn parse_groups(text: &str) -> Result<Vec<Group>, xml::XmlError> {
    let doc = xml::parse(text)?;
    let list = xml::find(doc.root(), "AutoScalingGroups")
        .ok_or_else(|| xml::XmlError("the answer has no <AutoScalingGroups>".into()))?;
    let mut groups = Vec::new();
    for g in list
        .children()
        .filter(|n| n.is_element() && n.tag_name().name() == "member")
    {
        let instances = xml::members(g, "Instances");
        let in_service = instances
            .iter()
            .filter(|i| xml::text(**i, "LifecycleState") == Some("InService"))
            .count();
        let tags = xml::members(g, "Tags")
            .iter()
            .filter_map(|t| {
                Some((
                    xml::text(*t, "Key")?.to_owned(),
                    xml::text(*t, "Value").unwrap_or_default().to_owned(),
                ))
            })
            .collect();
        groups.push(Group {
            name: xml::text(g, "AutoScalingGroupName")
                .ok_or_else(|| xml::XmlError("a group has no <AutoScalingGroupName>".into()))?
                .to_owned(),
            min: xml::number(g, "MinSize")?,
            max: xml::number(g, "MaxSize")?,
            desired: xml::number(g, "DesiredCapacity")?,
            in_service: u32::try_from(in_service).unwrap_or(u32::MAX),
            instances: u32::try_from(instances.len()).unwrap_or(u32::MAX),
            tags,
        });
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of the API reference's example answer (`DescribeAutoScalingGroups`, "Examples").
    const ANSWER: &str = r#"<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <DescribeAutoScalingGroupsResult>
    <AutoScalingGroups>
      <member>
        <AutoScalingGroupName>prod-workers-a</AutoScalingGroupName>
        <MinSize>2</MinSize>
        <MaxSize>20</MaxSize>
        <DesiredCapacity>3</DesiredCapacity>
        <Instances>
          <member><InstanceId>i-1</InstanceId><LifecycleState>InService</LifecycleState><HealthStatus>Healthy</HealthStatus></member>
          <member><InstanceId>i-2</InstanceId><LifecycleState>InService</LifecycleState><HealthStatus>Healthy</HealthStatus></member>
          <member><InstanceId>i-3</InstanceId><LifecycleState>Pending</LifecycleState><HealthStatus>Healthy</HealthStatus></member>
        </Instances>
        <Tags>
          <member><ResourceId>prod-workers-a</ResourceId><Key>team</Key><Value>sre</Value></member>
        </Tags>
      </member>
    </AutoScalingGroups>
  </DescribeAutoScalingGroupsResult>
  <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>
</DescribeAutoScalingGroupsResponse>"#;

    #[test]
    fn a_group_is_read_with_its_in_service_count_and_tags() {
        let groups = parse_groups(ANSWER).expect("parse");
        assert_eq!(groups.len(), 1);
        let g = &groups[0];
        assert_eq!(
            g.sizes(),
            Sizes {
                min: 2,
                max: 20,
                desired: 3
            }
        );
        assert_eq!((g.in_service, g.instances), (2, 3));
        assert_eq!(g.tags.get("team").map(String::as_str), Some("sre"));
    }

    #[test]
    fn an_empty_answer_is_no_group_and_a_broken_one_an_error() {
        let empty = "<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult>\
            <AutoScalingGroups/></DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>";
        assert_eq!(parse_groups(empty).expect("parse"), Vec::new());
        let broken = ANSWER.replace("<MaxSize>20</MaxSize>", "");
        let e = parse_groups(&broken).expect_err("no max");
        assert!(e.to_string().contains("<MaxSize>"), "{e}");
    }
}
