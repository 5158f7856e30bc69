//! EKS managed node groups (REST-JSON, docs.aws.amazon.com/eks/latest/APIReference/):
//! `DescribeNodegroup` (`GET /clusters/{name}/node-groups/{nodegroupName}`: `scalingConfig`,
//! `status`, `tags`), `UpdateNodegroupConfig` (`POST …/update-config` with `scalingConfig` and a
//! `clientRequestToken`, so a retried call is one update), and `TagResource` / `UntagResource`
//! (`POST|DELETE /tags/{resourceArn}`) for the marker that remembers the sizes from before a run.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::autoscaling::Sizes;
use super::client::{Aws, AwsError, Service};
use crate::transport::https::query_escape;

/// A managed node group as `DescribeNodegroup` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nodegroup {
    pub arn: String,
    pub sizes: Sizes,
    /// `ACTIVE`, `UPDATING`, `DEGRADED`, ...
    pub status: String,
    pub tags: BTreeMap<String, String>,
}

impl Aws {
    /// The node group; None when the cluster has no such node group.
    pub async fn describe_nodegroup(
        &self,
        cluster: &str,
        nodegroup: &str,
    ) -> Result<Option<Nodegroup>, AwsError> {
        let path = format!(
            "/clusters/{}/node-groups/{}",
            query_escape(cluster),
            query_escape(nodegroup)
        );
        match self
            .rest_json(
                Service::Eks,
                "DescribeNodegroup",
                reqwest::Method::GET,
                &path,
                None,
            )
            .await
        {
            Ok(v) => parse_nodegroup(&v)
                .map(Some)
                .map_err(|m| AwsError::Protocol {
                    permission: "eks:DescribeNodegroup".into(),
                    message: m,
                }),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets the node group's scaling configuration; the update's id.
    pub async fn update_nodegroup_scaling(
        &self,
        cluster: &str,
        nodegroup: &str,
        s: Sizes,
    ) -> Result<Option<String>, AwsError> {
        let path = format!(
            "/clusters/{}/node-groups/{}/update-config",
            query_escape(cluster),
            query_escape(nodegroup)
        );
        let body = json!({
            "scalingConfig": {"minSize": s.min, "maxSize": s.max, "desiredSize": s.desired},
            "clientRequestToken": request_token(),
        });
        let v = self
            .rest_json(
                Service::Eks,
                "UpdateNodegroupConfig",
                reqwest::Method::POST,
                &path,
                Some(&body),
            )
            .await?;
        Ok(v.pointer("/update/id")
            .and_then(Value::as_str)
            .map(str::to_owned))
    }

    /// Sets a tag on an EKS resource.
    pub async fn tag_eks_resource(
        &self,
        arn: &str,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        self.rest_json(
            Service::Eks,
            "TagResource",
            reqwest::Method::POST,
            &format!("/tags/{}", query_escape(arn)),
            Some(&json!({"tags": {key: value}})),
        )
        .await
        .map(drop)
    }

    /// Removes a tag from an EKS resource.
    pub async fn untag_eks_resource(&self, arn: &str, key: &str) -> Result<(), AwsError> {
        self.rest_json(
            Service::Eks,
            "UntagResource",
            reqwest::Method::DELETE,
            &format!("/tags/{}?tagKeys={}", query_escape(arn), query_escape(key)),
            None,
        )
        .await
        .map(drop)
    }
}

/// A random UUID (version 4 layout) for `clientRequestToken`.
fn request_token() -> String {
    let h = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// The node group of a `DescribeNodegroup` answer.
pub fn parse_nodegroup(v: &Value) -> Result<Nodegroup, String> {
    let ng = v.get("nodegroup").ok_or("the answer has no `nodegroup`")?;
    let size = |f: &str| {
        ng.pointer(&format!("/scalingConfig/{f}"))
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("the node group has no scalingConfig.{f}"))
    };
    Ok(Nodegroup {
        arn: ng
            .get("nodegroupArn")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        sizes: Sizes {
            min: size("minSize")?,
            max: size("maxSize")?,
            desired: size("desiredSize")?,
        },
        status: ng
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("UNKNOWN")
            .to_owned(),
        tags: ng
            .get("tags")
            .and_then(Value::as_object)
            .map(|t| {
                t.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nodegroup_is_read_from_the_api_references_shape() {
        let v = json!({"nodegroup": {"nodegroupName": "ng1", "clusterName": "prod",
            "nodegroupArn": "arn:aws:eks:us-east-1:123456789012:nodegroup/prod/ng1/x",
            "status": "ACTIVE", "scalingConfig": {"minSize": 1, "maxSize": 10, "desiredSize": 4},
            "tags": {"team": "sre"}}});
        let ng = parse_nodegroup(&v).expect("parse");
        assert_eq!(
            ng.sizes,
            Sizes {
                min: 1,
                max: 10,
                desired: 4
            }
        );
        assert_eq!(ng.status, "ACTIVE");
        assert_eq!(ng.tags["team"], "sre");
        assert!(parse_nodegroup(&json!({"nodegroup": {}})).is_err());
        let t = request_token();
        assert_eq!(t.len(), 36, "{t}");
    }
}
