//! The read-only calls `inventory import azure` makes, every list followed through its pages
//! (`value`, then the answer's `nextLink`, which must stay on the ARM endpoint the token is for):
//!
//! - AKS: `managedClusters` get and `agentPools` list
//!   (<https://learn.microsoft.com/rest/api/aks/managed-clusters/get>,
//!   <https://learn.microsoft.com/rest/api/aks/agent-pools/list>);
//! - Compute: scale sets of a resource group, a scale set's VMs, the group's VMs
//!   (<https://learn.microsoft.com/rest/api/compute/virtual-machine-scale-sets/list>,
//!   <https://learn.microsoft.com/rest/api/compute/virtual-machine-scale-set-vms/list>,
//!   <https://learn.microsoft.com/rest/api/compute/virtual-machines/list>);
//! - Network: a scale set's network interfaces, a resource group's, and its security groups
//!   (<https://learn.microsoft.com/rest/api/virtualnetwork/network-interface-in-vm-ss/list-virtual-machine-scale-set-network-interfaces>,
//!   <https://learn.microsoft.com/rest/api/virtualnetwork/network-interfaces/list>,
//!   <https://learn.microsoft.com/rest/api/virtualnetwork/network-security-groups/list>).
//!
//! The answers come back as JSON for the import to read; `progress` hears one line per page.

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::Value;

use super::client::{Azure, AzureError};
use crate::transport::https::query_escape;

const AKS_API: &str = "2024-09-01";
const COMPUTE_API: &str = "2024-07-01";
const NETWORK_API: &str = "2024-05-01";

impl Azure {
    /// `{ARM}/subscriptions/S/resourceGroups/RG/providers/{rest}?api-version=V`.
    fn group_url(&self, group: &str, rest: &str, version: &str) -> String {
        format!(
            "{}/subscriptions/{}/resourceGroups/{}/providers/{rest}?api-version={version}",
            self.endpoint(),
            query_escape(self.subscription()),
            query_escape(group),
        )
    }

    /// The AKS cluster `name` of `group`; None if there is none.
    pub async fn discover_aks_cluster(
        &self,
        group: &str,
        name: &str,
    ) -> Result<Option<Value>, AzureError> {
        let url = self.group_url(
            group,
            &format!(
                "Microsoft.ContainerService/managedClusters/{}",
                query_escape(name)
            ),
            AKS_API,
        );
        Ok(self
            .call(
                reqwest::Method::GET,
                &url,
                None,
                "Microsoft.ContainerService/managedClusters/read",
            )
            .await?
            .map(|a| a.body))
    }

    /// The agent pools of AKS cluster `name`.
    pub async fn discover_agent_pools(
        &self,
        group: &str,
        name: &str,
        progress: &(dyn Fn(String) + Sync),
    ) -> Result<Vec<Value>, AzureError> {
        let url = self.group_url(
            group,
            &format!(
                "Microsoft.ContainerService/managedClusters/{}/agentPools",
                query_escape(name)
            ),
            AKS_API,
        );
        self.pages(
            url,
            "Microsoft.ContainerService/managedClusters/agentPools/read",
            "agent pools",
            progress,
        )
        .await
    }

    /// The scale sets of `group`.
    pub async fn discover_scale_sets(
        &self,
        group: &str,
        progress: &(dyn Fn(String) + Sync),
    ) -> Result<Vec<Value>, AzureError> {
        let url = self.group_url(
            group,
            "Microsoft.Compute/virtualMachineScaleSets",
            COMPUTE_API,
        );
        self.pages(
            url,
            "Microsoft.Compute/virtualMachineScaleSets/read",
            &format!("scale sets of {group}"),
            progress,
        )
        .await
    }

    /// The VMs of scale set `name`, and the private IP of each (by VM id, lower case).
    pub async fn discover_scale_set_vms(
        &self,
        group: &str,
        name: &str,
        progress: &(dyn Fn(String) + Sync),
    ) -> Result<(Vec<Value>, HashMap<String, IpAddr>), AzureError> {
        let base = format!(
            "Microsoft.Compute/virtualMachineScaleSets/{}",
            query_escape(name)
        );
        let vms = self
            .pages(
                self.group_url(group, &format!("{base}/virtualMachines"), COMPUTE_API),
                "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read",
                &format!("VMs of scale set {name}"),
                progress,
            )
            .await?;
        let nics = self
            .pages(
                self.group_url(group, &format!("{base}/networkInterfaces"), NETWORK_API),
                "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/networkInterfaces/read",
                &format!("network interfaces of scale set {name}"),
                progress,
            )
            .await?;
        Ok((vms, addresses(&nics)))
    }

    /// The VMs of `group` (not in scale sets), and the private IP of each (by VM id, lower case).
    pub async fn discover_vms(
        &self,
        group: &str,
        progress: &(dyn Fn(String) + Sync),
    ) -> Result<(Vec<Value>, HashMap<String, IpAddr>), AzureError> {
        let vms = self
            .pages(
                self.group_url(group, "Microsoft.Compute/virtualMachines", COMPUTE_API),
                "Microsoft.Compute/virtualMachines/read",
                &format!("VMs of {group}"),
                progress,
            )
            .await?;
        let nics = self
            .pages(
                self.group_url(group, "Microsoft.Network/networkInterfaces", NETWORK_API),
                "Microsoft.Network/networkInterfaces/read",
                &format!("network interfaces of {group}"),
                progress,
            )
            .await?;
        Ok((vms, addresses(&nics)))
    }

    /// The network security groups of `group`.
    pub async fn discover_security_groups(
        &self,
        group: &str,
        progress: &(dyn Fn(String) + Sync),
    ) -> Result<Vec<Value>, AzureError> {
        let url = self.group_url(
            group,
            "Microsoft.Network/networkSecurityGroups",
            NETWORK_API,
        );
        self.pages(
            url,
            "Microsoft.Network/networkSecurityGroups/read",
            &format!("network security groups of {group}"),
            progress,
        )
        .await
    }

    /// Every page's `value`, following `nextLink`.
    async fn pages(
        &self,
        first: String,
        permission: &str,
        what: &str,
        progress: &(dyn Fn(String) + Sync),
    ) -> Result<Vec<Value>, AzureError> {
        let mut out = Vec::new();
        let mut url = Some(first);
        let mut page = 0;
        while let Some(u) = url.take() {
            page += 1;
            let Some(answer) = self
                .call(reqwest::Method::GET, &u, None, permission)
                .await?
            else {
                return Err(AzureError::Api {
                    permission: permission.to_owned(),
                    status: 404,
                    code: "NotFound".into(),
                    message: format!("{u} does not exist"),
                });
            };
            out.extend(
                answer.body["value"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
            progress(format!("Azure {what} page {page}: {} so far", out.len()));
            url = answer.body["nextLink"]
                .as_str()
                .filter(|l| !l.is_empty())
                .map(str::to_owned);
        }
        Ok(out)
    }
}

/// The primary private IP of each VM the interfaces are attached to, by VM id (lower case:
/// ARM ids differ in case between answers).
pub fn addresses(nics: &[Value]) -> HashMap<String, IpAddr> {
    let mut out = HashMap::new();
    for nic in nics {
        let p = &nic["properties"];
        let Some(vm) = p.pointer("/virtualMachine/id").and_then(Value::as_str) else {
            continue;
        };
        let configs = p["ipConfigurations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let primary = configs
            .iter()
            .find(|c| c.pointer("/properties/primary") == Some(&Value::Bool(true)))
            .or_else(|| configs.first());
        let ip = primary
            .and_then(|c| c.pointer("/properties/privateIPAddress"))
            .and_then(Value::as_str)
            .and_then(|ip| ip.parse().ok());
        let nic_primary = p["primary"].as_bool().unwrap_or(true);
        if let Some(ip) = ip {
            let key = vm.to_ascii_lowercase();
            if nic_primary || !out.contains_key(&key) {
                out.insert(key, ip);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_vm_gets_its_primary_interfaces_primary_address() {
        let nics = serde_json::json!([
            {"properties": {"primary": false, "virtualMachine": {"id": "/S/vm1"},
                "ipConfigurations": [{"properties": {"primary": true, "privateIPAddress": "10.0.0.9"}}]}},
            {"properties": {"primary": true, "virtualMachine": {"id": "/s/VM1"},
                "ipConfigurations": [{"properties": {"primary": false, "privateIPAddress": "10.0.0.5"}},
                                     {"properties": {"primary": true, "privateIPAddress": "10.0.0.4"}}]}},
            {"properties": {"ipConfigurations": [{"properties": {"privateIPAddress": "10.0.0.6"}}]}}
        ]);
        let a = addresses(nics.as_array().expect("list"));
        assert_eq!(a.len(), 1);
        assert_eq!(a["/s/vm1"], "10.0.0.4".parse::<IpAddr>().expect("ip"));
    }
}
