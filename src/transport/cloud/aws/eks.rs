//! EKS (REST-JSON, docs.aws.amazon.com/eks/latest/APIReference/).
//!
//! Clusters: `DescribeCluster` (`GET /clusters/{name}`: `resourcesVpcConfig`, the
//! `controlPlaneScalingConfig` tier, `status`, `tags`), `UpdateClusterConfig`
//! (`POST /clusters/{name}/update-config` with `resourcesVpcConfig` or
//! `controlPlaneScalingConfig`; asynchronous: the answer's `update.id` is followed with
//! `DescribeUpdate`, `GET /clusters/{name}/updates/{updateId}`, until `Successful`, `Failed` or
//! `Cancelled`).
//!
//! Managed node groups: `DescribeNodegroup` (`GET /clusters/{name}/node-groups/{nodegroupName}`: `scalingConfig`,
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

/// Who may reach a cluster's API endpoint (`resourcesVpcConfig` minus the subnets and groups).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EndpointAccess {
    pub public: bool,
    pub private: bool,
    /// `publicAccessCidrs`: who may reach the public endpoint (AWS's default: `0.0.0.0/0`).
    pub public_cidrs: Vec<String>,
}

/// An EKS cluster as `DescribeCluster` shows it (the parts breakglass reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EksCluster {
    pub arn: String,
    /// `ACTIVE`, `UPDATING`, ...
    pub status: String,
    pub access: EndpointAccess,
    /// `controlPlaneScalingConfig.tier`; None when the answer has none (`standard`).
    pub tier: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// An update as `DescribeUpdate` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub id: String,
    /// `InProgress`, `Failed`, `Cancelled`, `Successful`.
    pub status: String,
    /// `errorCode: errorMessage` of each error.
    pub errors: Vec<String>,
}

impl Update {
    pub fn done(&self) -> bool {
        self.status != "InProgress"
    }
}

impl Aws {
    /// The cluster; None when the region has no such cluster.
    pub async fn describe_cluster(&self, name: &str) -> Result<Option<EksCluster>, AwsError> {
        let path = format!("/clusters/{}", query_escape(name));
        match self
            .rest_json(
                Service::Eks,
                "DescribeCluster",
                reqwest::Method::GET,
                &path,
                None,
            )
            .await
        {
            Ok(v) => parse_cluster(&v).map(Some).map_err(|m| AwsError::Protocol {
                permission: "eks:DescribeCluster".into(),
                message: m,
            }),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets who may reach the cluster's endpoint. The whole endpoint configuration is sent
    /// (moto replaces `resourcesVpcConfig` with what it is given); the update's id, when the
    /// answer has one.
    pub async fn update_endpoint_access(
        &self,
        name: &str,
        access: &EndpointAccess,
    ) -> Result<Option<String>, AwsError> {
        self.update_cluster_config(
            name,
            json!({"resourcesVpcConfig": {
                "endpointPublicAccess": access.public,
                "endpointPrivateAccess": access.private,
                "publicAccessCidrs": access.public_cidrs,
            }}),
        )
        .await
    }

    /// Sets the control plane's scaling tier (`standard`, `tier-xl`, ... `tier-8xl`); the
    /// update's id.
    pub async fn update_control_plane_tier(
        &self,
        name: &str,
        tier: &str,
    ) -> Result<Option<String>, AwsError> {
        self.update_cluster_config(name, json!({"controlPlaneScalingConfig": {"tier": tier}}))
            .await
    }

    async fn update_cluster_config(
        &self,
        name: &str,
        mut body: Value,
    ) -> Result<Option<String>, AwsError> {
        body["clientRequestToken"] = json!(request_token());
        let v = self
            .rest_json(
                Service::Eks,
                "UpdateClusterConfig",
                reqwest::Method::POST,
                &format!("/clusters/{}/update-config", query_escape(name)),
                Some(&body),
            )
            .await?;
        Ok(v.pointer("/update/id")
            .and_then(Value::as_str)
            .map(str::to_owned))
    }

    /// One update of the cluster.
    pub async fn describe_update(&self, name: &str, id: &str) -> Result<Update, AwsError> {
        let v = self
            .rest_json(
                Service::Eks,
                "DescribeUpdate",
                reqwest::Method::GET,
                &format!(
                    "/clusters/{}/updates/{}",
                    query_escape(name),
                    query_escape(id)
                ),
                None,
            )
            .await?;
        parse_update(&v).map_err(|m| AwsError::Protocol {
            permission: "eks:DescribeUpdate".into(),
            message: m,
        })
    }

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

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|t| {
            t.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The cluster of a `DescribeCluster` answer. Absent endpoint fields take EKS's defaults
/// (public on, private off, `0.0.0.0/0`).
pub fn parse_cluster(v: &Value) -> Result<EksCluster, String> {
    let c = v.get("cluster").ok_or("the answer has no `cluster`")?;
    let vpc = c.get("resourcesVpcConfig");
    let flag = |f: &str, default: bool| {
        vpc.and_then(|v| v.get(f))
            .and_then(Value::as_bool)
            .unwrap_or(default)
    };
    let public_cidrs = match vpc.and_then(|v| v.get("publicAccessCidrs")) {
        None | Some(Value::Null) => vec!["0.0.0.0/0".to_owned()],
        Some(list) => list
            .as_array()
            .ok_or("publicAccessCidrs is not a list")?
            .iter()
            .map(|c| {
                c.as_str()
                    .map(str::to_owned)
                    .ok_or("a CIDR is not a string")
            })
            .collect::<Result<_, _>>()?,
    };
    let text = |f: &str| c.get(f).and_then(Value::as_str).map(str::to_owned);
    Ok(EksCluster {
        arn: text("arn").unwrap_or_default(),
        status: text("status").unwrap_or_else(|| "UNKNOWN".into()),
        access: EndpointAccess {
            public: flag("endpointPublicAccess", true),
            private: flag("endpointPrivateAccess", false),
            public_cidrs,
        },
        tier: c
            .pointer("/controlPlaneScalingConfig/tier")
            .and_then(Value::as_str)
            .map(str::to_owned),
        tags: string_map(c.get("tags")),
    })
}

/// The update of a `DescribeUpdate` answer.
pub fn parse_update(v: &Value) -> Result<Update, String> {
    let u = v.get("update").ok_or("the answer has no `update`")?;
    let text = |f: &str| {
        u.get(f)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("the update has no `{f}`"))
    };
    Ok(Update {
        id: text("id")?,
        status: text("status")?,
        errors: u
            .get("errors")
            .and_then(Value::as_array)
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        let f = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
                        format!("{}: {}", f("errorCode"), f("errorMessage"))
                    })
                    .collect()
            })
            .unwrap_or_default(),
    })
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
        tags: string_map(ng.get("tags")),
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

    #[test]
    fn a_cluster_and_an_update_are_read_from_the_api_references_shape() {
        let v = json!({"cluster": {"name": "prod", "arn": "arn:aws:eks:us-east-1:123456789012:cluster/prod",
            "status": "ACTIVE", "resourcesVpcConfig": {"subnetIds": ["subnet-1"], "endpointPublicAccess": true,
            "endpointPrivateAccess": true, "publicAccessCidrs": ["203.0.113.0/24"]},
            "controlPlaneScalingConfig": {"tier": "tier-xl"}, "tags": {"team": "sre"}}});
        let c = parse_cluster(&v).expect("parse");
        assert_eq!(
            c.access,
            EndpointAccess {
                public: true,
                private: true,
                public_cidrs: vec!["203.0.113.0/24".into()]
            }
        );
        assert_eq!(c.tier.as_deref(), Some("tier-xl"));
        // moto after an update: only what it was given.
        let bare = parse_cluster(&json!({"cluster": {"resourcesVpcConfig": {}}})).expect("parse");
        assert_eq!(bare.access.public_cidrs, ["0.0.0.0/0"]);
        assert!(bare.access.public && !bare.access.private);

        let u = parse_update(&json!({"update": {"id": "u-1", "status": "Failed", "type": "ScalingTierConfigUpdate",
            "errors": [{"errorCode": "InsufficientCapacity", "errorMessage": "no room", "resourceIds": []}]}}))
        .expect("update");
        assert!(u.done());
        assert_eq!(u.errors, ["InsufficientCapacity: no room"]);
        assert!(parse_update(&json!({"update": {"id": "u"}})).is_err());
    }
}
