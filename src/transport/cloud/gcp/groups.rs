//! The node-group calls of `nodes.scale`: managed instance groups (zonal and regional) and GKE
//! node pools, each change followed through its long-running Operation.
//!
//! - MIG: `instanceGroupManagers.get` / `.resize?size=N` and the regional twins
//!   (cloud.google.com/compute/docs/reference/rest/v1/instanceGroupManagers/resize,
//!   .../regionInstanceGroupManagers/resize); the Operation from `zoneOperations.get` /
//!   `regionOperations.get`. A resize Operation is DONE once the resize is *scheduled*: the
//!   instances are counted from `currentActions` afterwards.
//! - GKE: `nodePools.get` / `nodePools.setSize` (nodeCount per zone;
//!   cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters.nodePools/setSize),
//!   the Operation from `projects.locations.operations.get`; the pool's size is read back from
//!   the MIGs of its `instanceGroupUrls`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::client::{Api, Gcp, GcpError};

/// A managed instance group as `nodes.scale` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mig {
    pub target_size: u32,
    /// Instances running with no action pending (`currentActions.none`).
    pub ready: u32,
    /// All instances, whatever they are doing (the sum of `currentActions`).
    pub instances: u32,
}

/// A GKE node pool: its status and the MIGs (one per zone) behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePool {
    /// `RUNNING`, `RECONCILING`, ...
    pub status: String,
    pub migs: Vec<Mig>,
}

pub(super) fn count(v: &Value) -> u32 {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

fn mig_of(v: &Value) -> Mig {
    let actions = v["currentActions"].as_object();
    Mig {
        target_size: count(&v["targetSize"]),
        ready: count(&v["currentActions"]["none"]),
        instances: actions.map_or(0, |a| a.values().map(count).sum()),
    }
}

const MIG_GET: &str = "compute.instanceGroupManagers.get";
const MIG_UPDATE: &str = "compute.instanceGroupManagers.update";
const POOL_GET: &str = "container.clusters.get";
const POOL_UPDATE: &str = "container.clusters.update";

impl Gcp {
    /// `zones/Z` or `regions/R`: the MIG's URL.
    fn mig_url(&self, scope: &str, name: &str) -> String {
        let kind = if scope.starts_with("regions/") {
            "regionInstanceGroupManagers"
        } else {
            "instanceGroupManagers"
        };
        format!(
            "{}projects/{}/{scope}/{kind}/{name}",
            self.endpoint(Api::Compute),
            self.project()
        )
    }

    /// A MIG, None if it does not exist. `scope`: `zones/Z` or `regions/R`.
    pub async fn get_mig(&self, scope: &str, name: &str) -> Result<Option<Mig>, GcpError> {
        let v = self
            .call(
                reqwest::Method::GET,
                &self.mig_url(scope, name),
                None,
                MIG_GET,
            )
            .await?;
        Ok(v.as_ref().map(mig_of))
    }

    /// Resizes a MIG and follows the Operation until DONE or `until`; true when DONE.
    pub async fn resize_mig(
        &self,
        scope: &str,
        name: &str,
        size: u32,
        until: Instant,
    ) -> Result<bool, GcpError> {
        let url = format!("{}/resize?size={size}", self.mig_url(scope, name));
        let op = self
            .call(reqwest::Method::POST, &url, None, MIG_UPDATE)
            .await?
            .ok_or_else(|| not_found(MIG_UPDATE, &url))?;
        let ops = format!(
            "{}projects/{}/{scope}/operations/",
            self.endpoint(Api::Compute),
            self.project()
        );
        let permission = if scope.starts_with("regions/") {
            "compute.regionOperations.get"
        } else {
            "compute.zoneOperations.get"
        };
        self.follow(op, &ops, permission, until).await
    }

    fn pool_base(&self, location: &str) -> String {
        format!(
            "{}v1/projects/{}/locations/{location}/",
            self.endpoint(Api::Container),
            self.project()
        )
    }

    /// A GKE node pool and its MIGs, None if it does not exist.
    pub async fn get_node_pool(
        &self,
        location: &str,
        cluster: &str,
        pool: &str,
    ) -> Result<Option<NodePool>, GcpError> {
        let url = format!(
            "{}clusters/{cluster}/nodePools/{pool}",
            self.pool_base(location)
        );
        let Some(v) = self
            .call(reqwest::Method::GET, &url, None, POOL_GET)
            .await?
        else {
            return Ok(None);
        };
        let mut migs = Vec::new();
        for u in v["instanceGroupUrls"].as_array().into_iter().flatten() {
            let u = u.as_str().unwrap_or_default();
            // https://www.googleapis.com/compute/v1/projects/P/zones/Z/instanceGroupManagers/N:
            // asked of our compute endpoint, which may not be that host.
            let rest = u
                .split_once("/projects/")
                .map(|(_, r)| r)
                .unwrap_or_default();
            let url = format!("{}projects/{rest}", self.endpoint(Api::Compute));
            let mig = self
                .call(reqwest::Method::GET, &url, None, MIG_GET)
                .await?
                .ok_or_else(|| GcpError::Protocol {
                    permission: POOL_GET.into(),
                    message: format!(
                        "node pool {pool} names instance group {u}, which does not exist"
                    ),
                })?;
            migs.push(mig_of(&mig));
        }
        Ok(Some(NodePool {
            status: v["status"].as_str().unwrap_or("UNKNOWN").to_owned(),
            migs,
        }))
    }

    /// Sets a node pool's size (nodes per zone) and follows the Operation until DONE or
    /// `until`; true when DONE.
    pub async fn set_node_pool_size(
        &self,
        location: &str,
        cluster: &str,
        pool: &str,
        nodes: u32,
        until: Instant,
    ) -> Result<bool, GcpError> {
        let base = self.pool_base(location);
        let url = format!("{base}clusters/{cluster}/nodePools/{pool}:setSize");
        let op = self
            .call(
                reqwest::Method::POST,
                &url,
                Some(&json!({ "nodeCount": nodes })),
                POOL_UPDATE,
            )
            .await?
            .ok_or_else(|| not_found(POOL_UPDATE, &url))?;
        self.follow(
            op,
            &format!("{base}operations/"),
            "container.operations.get",
            until,
        )
        .await
    }

    /// Polls an Operation (compute's and container's share `name`, `status` and an `error`)
    /// until DONE or `until`. An Operation that ends in an error is the call's error.
    pub(super) async fn follow(
        &self,
        mut op: Value,
        base: &str,
        permission: &str,
        until: Instant,
    ) -> Result<bool, GcpError> {
        let mut every = Duration::from_millis(250);
        loop {
            if op["status"] == "DONE" {
                return match op_error(&op) {
                    None => Ok(true),
                    Some((status, message)) => Err(GcpError::Api {
                        permission: permission.into(),
                        code: count(&op["httpErrorStatusCode"]).try_into().unwrap_or(0),
                        status,
                        message,
                    }),
                };
            }
            let now = Instant::now();
            if now >= until {
                return Ok(false);
            }
            tokio::time::sleep(every.min(until - now)).await;
            every = (every * 2).min(Duration::from_secs(5));
            let name = op["name"].as_str().unwrap_or_default().to_owned();
            let url = format!("{base}{name}");
            op = self
                .call(reqwest::Method::GET, &url, None, permission)
                .await?
                .ok_or_else(|| not_found(permission, &url))?;
        }
    }
}

/// The error an Operation ended with: compute's `error.errors[]`, container's `error` Status.
fn op_error(op: &Value) -> Option<(String, String)> {
    let e = op.get("error")?;
    if let Some(first) = e["errors"].as_array().and_then(|a| a.first()) {
        return Some((
            first["code"].as_str().unwrap_or("ERROR").to_owned(),
            first["message"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    Some((
        e["code"].to_string(),
        e["message"].as_str().unwrap_or_default().to_owned(),
    ))
}

pub(super) fn not_found(permission: &str, url: &str) -> GcpError {
    GcpError::Api {
        permission: permission.into(),
        code: 404,
        status: "NOT_FOUND".into(),
        message: format!("{url} does not exist"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migs_are_counted_from_current_actions() {
        let m = mig_of(&json!({
            "targetSize": 3,
            "currentActions": {"none": 2, "creating": 1, "deleting": 0}
        }));
        assert_eq!(
            m,
            Mig {
                target_size: 3,
                ready: 2,
                instances: 3
            }
        );
    }

    #[test]
    fn operation_errors_of_both_apis_are_read() {
        let compute = json!({"status": "DONE", "error": {"errors": [{"code": "QUOTA_EXCEEDED", "message": "Quota 'CPUS' exceeded"}]}});
        assert_eq!(
            op_error(&compute),
            Some(("QUOTA_EXCEEDED".into(), "Quota 'CPUS' exceeded".into()))
        );
        let container = json!({"status": "DONE", "error": {"code": 9, "message": "node pool is being updated"}});
        assert_eq!(
            op_error(&container).map(|e| e.1),
            Some("node pool is being updated".into())
        );
        assert_eq!(op_error(&json!({"status": "DONE"})), None);
    }
}
