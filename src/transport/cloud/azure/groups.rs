//! The node-group calls of `nodes.scale` on Azure, each change followed through its
//! asynchronous operation (learn.microsoft.com/azure/azure-resource-manager/management/async-operations):
//! a 201/202 answer names an `Azure-AsyncOperation` status URL (polled until `Succeeded`,
//! `Failed` or `Canceled`) or a `Location` (polled until it stops answering 202).
//!
//! - scale sets: `virtualMachineScaleSets` get / update (`PATCH` of `sku.capacity`,
//!   learn.microsoft.com/rest/api/compute/virtual-machine-scale-sets/update);
//! - AKS agent pools: `agentPools` get / create-or-update (`PUT` with `properties.count`,
//!   learn.microsoft.com/rest/api/aks/agent-pools/create-or-update): the pool's own
//!   properties sent back with the new count, so nothing else changes.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::client::{Answer, Azure, AzureError};

pub const VMSS_API: &str = "2024-07-01";
pub const AKS_API: &str = "2024-09-01";

/// A scale set or agent pool as `nodes.scale` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scaled {
    pub capacity: u32,
    /// `provisioningState`: `Succeeded`, `Updating`, `Scaling`, ...
    pub state: String,
}

const VMSS_READ: &str = "Microsoft.Compute/virtualMachineScaleSets/read";
const VMSS_WRITE: &str = "Microsoft.Compute/virtualMachineScaleSets/write";
const POOL_READ: &str = "Microsoft.ContainerService/managedClusters/agentPools/read";
const POOL_WRITE: &str = "Microsoft.ContainerService/managedClusters/agentPools/write";

fn capacity(v: &Value) -> u32 {
    v.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

fn state(v: &Value) -> String {
    v["properties"]["provisioningState"]
        .as_str()
        .unwrap_or("Unknown")
        .to_owned()
}

impl Azure {
    pub(super) fn rg_url(&self, resource_group: &str) -> String {
        format!(
            "{}/subscriptions/{}/resourceGroups/{resource_group}/providers",
            self.endpoint(),
            self.subscription()
        )
    }

    fn vmss_url(&self, resource_group: &str, name: &str) -> String {
        format!(
            "{}/Microsoft.Compute/virtualMachineScaleSets/{name}?api-version={VMSS_API}",
            self.rg_url(resource_group)
        )
    }

    fn pool_url(&self, resource_group: &str, cluster: &str, pool: &str) -> String {
        format!(
            "{}/Microsoft.ContainerService/managedClusters/{cluster}/agentPools/{pool}?api-version={AKS_API}",
            self.rg_url(resource_group)
        )
    }

    pub async fn get_vmss(&self, rg: &str, name: &str) -> Result<Option<Scaled>, AzureError> {
        let a = self
            .call(
                reqwest::Method::GET,
                &self.vmss_url(rg, name),
                None,
                VMSS_READ,
            )
            .await?;
        Ok(a.map(|a| Scaled {
            capacity: capacity(&a.body["sku"]["capacity"]),
            state: state(&a.body),
        }))
    }

    /// Sets a scale set's capacity and follows the operation until it ends or `until`; true
    /// when it succeeded in time.
    pub async fn set_vmss_capacity(
        &self,
        rg: &str,
        name: &str,
        capacity: u32,
        until: Instant,
    ) -> Result<bool, AzureError> {
        let url = self.vmss_url(rg, name);
        let a = self
            .call(
                reqwest::Method::PATCH,
                &url,
                Some(&json!({"sku": {"capacity": capacity}})),
                VMSS_WRITE,
            )
            .await?
            .ok_or_else(|| gone(VMSS_WRITE, &url))?;
        self.follow(&a, VMSS_WRITE, until).await
    }

    pub async fn get_agent_pool(
        &self,
        rg: &str,
        cluster: &str,
        pool: &str,
    ) -> Result<Option<Scaled>, AzureError> {
        let a = self
            .call(
                reqwest::Method::GET,
                &self.pool_url(rg, cluster, pool),
                None,
                POOL_READ,
            )
            .await?;
        Ok(a.map(|a| Scaled {
            capacity: capacity(&a.body["properties"]["count"]),
            state: state(&a.body),
        }))
    }

    /// Sets an agent pool's node count (its other properties sent back as read) and follows
    /// the operation until it ends or `until`.
    pub async fn set_agent_pool_count(
        &self,
        rg: &str,
        cluster: &str,
        pool: &str,
        count: u32,
        until: Instant,
    ) -> Result<bool, AzureError> {
        let url = self.pool_url(rg, cluster, pool);
        let current = self
            .call(reqwest::Method::GET, &url, None, POOL_READ)
            .await?
            .ok_or_else(|| gone(POOL_READ, &url))?;
        let mut properties = current.body["properties"].clone();
        if let Some(p) = properties.as_object_mut() {
            // Read-only fields ARM rejects or ignores on a PUT.
            p.remove("provisioningState");
            p.remove("powerState");
            p.remove("nodeImageVersion");
            p.remove("currentOrchestratorVersion");
        }
        properties["count"] = count.into();
        let a = self
            .call(
                reqwest::Method::PUT,
                &url,
                Some(&json!({ "properties": properties })),
                POOL_WRITE,
            )
            .await?
            .ok_or_else(|| gone(POOL_WRITE, &url))?;
        self.follow(&a, POOL_WRITE, until).await
    }

    /// Follows an answer's asynchronous operation until it ends or `until`: true when it
    /// succeeded, false when still running at `until`, an error when it failed.
    pub(super) async fn follow(
        &self,
        first: &Answer,
        permission: &str,
        until: Instant,
    ) -> Result<bool, AzureError> {
        let header = |name: &str| {
            first
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (url, async_op) = match (header("azure-asyncoperation"), header("location")) {
            (Some(u), _) => (u, true),
            (None, Some(u)) if first.status == 202 => (u, false),
            // A synchronous answer: done.
            _ => return Ok(true),
        };
        let mut every = Duration::from_millis(250);
        loop {
            let now = Instant::now();
            if now >= until {
                return Ok(false);
            }
            tokio::time::sleep(every.min(until - now)).await;
            every = (every * 2).min(Duration::from_secs(5));
            let Some(a) = self
                .call(reqwest::Method::GET, &url, None, permission)
                .await?
            else {
                return Err(gone(permission, &url));
            };
            if !async_op {
                if a.status != 202 {
                    return Ok(true);
                }
                continue;
            }
            match a.body["status"].as_str().unwrap_or_default() {
                "Succeeded" => return Ok(true),
                "Failed" | "Canceled" => {
                    let e = &a.body["error"];
                    return Err(AzureError::Api {
                        permission: permission.to_owned(),
                        status: 200,
                        code: e["code"].as_str().unwrap_or("Failed").to_owned(),
                        message: e["message"].as_str().unwrap_or_default().to_owned(),
                    });
                }
                _ => {}
            }
        }
    }
}

pub(super) fn gone(permission: &str, url: &str) -> AzureError {
    AzureError::Api {
        permission: permission.to_owned(),
        status: 404,
        code: "NotFound".into(),
        message: format!("{url} does not exist"),
    }
}
