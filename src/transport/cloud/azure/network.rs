//! The control-plane calls of `cloud.firewall.block` and `apiservers.scale` on Azure, each
//! change followed through its asynchronous operation (`Azure-AsyncOperation`, else `Location`):
//!
//! - a network security group and its rules: `networkSecurityGroups` get
//!   (learn.microsoft.com/rest/api/virtualnetwork/network-security-groups/get), `securityRules`
//!   create-or-update and delete (learn.microsoft.com/rest/api/virtualnetwork/security-rules);
//! - an AKS cluster's `apiServerAccessProfile.authorizedIPRanges`: `managedClusters` get and
//!   create-or-update (learn.microsoft.com/rest/api/aks/managed-clusters/create-or-update): a
//!   PUT of the whole cluster as read, with the ranges (and tags) changed, as `az aks update`
//!   does;
//! - the API servers of a self-managed control plane's scale set: its network interfaces
//!   (learn.microsoft.com/rest/api/virtualnetwork/network-interface-in-vm-ss/list-virtual-machine-scale-set-network-interfaces),
//!   their private addresses.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::{Azure, AzureError};
use super::groups::{AKS_API, gone};

pub const NETWORK_API: &str = "2024-05-01";
/// The API version that lists a scale set's network interfaces.
pub const VMSS_NIC_API: &str = "2018-10-01";

/// An inbound security rule, as a block makes and reads it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NsgRule {
    pub name: String,
    pub priority: u32,
    /// `Allow` (true) or `Deny`.
    pub allow: bool,
    /// `Tcp`, `*`, ...
    pub protocol: String,
    /// `sourceAddressPrefix(es)`: CIDRs, `*`, service tags.
    pub sources: Vec<String>,
    /// `destinationPortRange(s)`: `443`, `1000-2000`, `*`.
    pub ports: Vec<String>,
    #[serde(default)]
    pub description: String,
}

impl NsgRule {
    fn body(&self) -> Value {
        let mut p = json!({
            "priority": self.priority,
            "direction": "Inbound",
            "access": if self.allow { "Allow" } else { "Deny" },
            "protocol": self.protocol,
            "sourcePortRange": "*",
            "destinationAddressPrefix": "*",
            "destinationPortRanges": self.ports,
            "description": self.description,
        });
        if let [one] = self.sources.as_slice() {
            p["sourceAddressPrefix"] = json!(one);
        } else {
            p["sourceAddressPrefixes"] = json!(self.sources);
        }
        json!({ "properties": p })
    }

    /// An inbound rule as read; None for outbound ones.
    fn read(v: &Value) -> Option<NsgRule> {
        let p = &v["properties"];
        if p["direction"] != "Inbound" {
            return None;
        }
        let one_or_many = |one: &str, many: &str| -> Vec<String> {
            let mut out: Vec<String> = p[many]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect();
            if let Some(s) = p[one].as_str().filter(|s| !s.is_empty()) {
                out.push(s.to_owned());
            }
            out
        };
        Some(NsgRule {
            name: v["name"].as_str().unwrap_or_default().to_owned(),
            priority: p["priority"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            allow: p["access"] == "Allow",
            protocol: p["protocol"].as_str().unwrap_or("*").to_owned(),
            sources: one_or_many("sourceAddressPrefix", "sourceAddressPrefixes"),
            ports: one_or_many("destinationPortRange", "destinationPortRanges"),
            description: p["description"].as_str().unwrap_or_default().to_owned(),
        })
    }
}

/// A network security group: its inbound rules and whether a rule change re-evaluates the
/// connections it already tracks (`flushConnection`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nsg {
    pub rules: Vec<NsgRule>,
    pub flush_connection: bool,
    /// The rules whose `provisioningState` is not `Succeeded` yet.
    pub updating: Vec<String>,
}

/// An AKS cluster as a block sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AksCluster {
    pub state: String,
    /// `apiServerAccessProfile.authorizedIPRanges`; empty: open to every address.
    pub ranges: Vec<String>,
    pub private: bool,
    pub tags: BTreeMap<String, String>,
    /// The cluster as read, for the PUT.
    body: Value,
}

const NSG_READ: &str = "Microsoft.Network/networkSecurityGroups/read";
const RULE_WRITE: &str = "Microsoft.Network/networkSecurityGroups/securityRules/write";
const RULE_DELETE: &str = "Microsoft.Network/networkSecurityGroups/securityRules/delete";
const AKS_READ: &str = "Microsoft.ContainerService/managedClusters/read";
const AKS_WRITE: &str = "Microsoft.ContainerService/managedClusters/write";
const NIC_READ: &str = "Microsoft.Compute/virtualMachineScaleSets/networkInterfaces/read";

impl Azure {
    fn nsg_url(&self, rg: &str, nsg: &str) -> String {
        format!(
            "{}/Microsoft.Network/networkSecurityGroups/{nsg}",
            self.rg_url(rg)
        )
    }

    /// A network security group, None if it does not exist.
    pub async fn get_nsg(&self, rg: &str, nsg: &str) -> Result<Option<Nsg>, AzureError> {
        let url = format!("{}?api-version={NETWORK_API}", self.nsg_url(rg, nsg));
        let a = self
            .call(reqwest::Method::GET, &url, None, NSG_READ)
            .await?;
        Ok(a.map(|a| Nsg {
            rules: a.body["properties"]["securityRules"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(NsgRule::read)
                .collect(),
            flush_connection: a.body["properties"]["flushConnection"]
                .as_bool()
                .unwrap_or(false),
            updating: a.body["properties"]["securityRules"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["properties"]["provisioningState"] != "Succeeded")
                .filter_map(|r| r["name"].as_str().map(str::to_owned))
                .collect(),
        }))
    }

    fn rule_url(&self, rg: &str, nsg: &str, rule: &str) -> String {
        format!(
            "{}/securityRules/{rule}?api-version={NETWORK_API}",
            self.nsg_url(rg, nsg)
        )
    }

    /// Creates (or replaces) a rule and follows the operation; true when it succeeded in time.
    pub async fn put_nsg_rule(
        &self,
        rg: &str,
        nsg: &str,
        rule: &NsgRule,
        until: Instant,
    ) -> Result<bool, AzureError> {
        let url = self.rule_url(rg, nsg, &rule.name);
        let a = self
            .call(reqwest::Method::PUT, &url, Some(&rule.body()), RULE_WRITE)
            .await?
            .ok_or_else(|| gone(RULE_WRITE, &url))?;
        self.follow(&a, RULE_WRITE, until).await
    }

    /// Deletes a rule (gone already: done) and follows the operation.
    pub async fn delete_nsg_rule(
        &self,
        rg: &str,
        nsg: &str,
        rule: &str,
        until: Instant,
    ) -> Result<bool, AzureError> {
        let url = self.rule_url(rg, nsg, rule);
        match self
            .call(reqwest::Method::DELETE, &url, None, RULE_DELETE)
            .await?
        {
            None => Ok(true),
            Some(a) => self.follow(&a, RULE_DELETE, until).await,
        }
    }

    fn aks_url(&self, rg: &str, cluster: &str) -> String {
        format!(
            "{}/Microsoft.ContainerService/managedClusters/{cluster}?api-version={AKS_API}",
            self.rg_url(rg)
        )
    }

    /// An AKS cluster, None if it does not exist.
    pub async fn get_aks(&self, rg: &str, cluster: &str) -> Result<Option<AksCluster>, AzureError> {
        let url = self.aks_url(rg, cluster);
        let a = self
            .call(reqwest::Method::GET, &url, None, AKS_READ)
            .await?;
        Ok(a.map(|a| {
            let p = &a.body["properties"];
            let access = &p["apiServerAccessProfile"];
            AksCluster {
                state: p["provisioningState"]
                    .as_str()
                    .unwrap_or("Unknown")
                    .to_owned(),
                ranges: access["authorizedIPRanges"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect(),
                private: access["enablePrivateCluster"].as_bool().unwrap_or(false),
                tags: a.body["tags"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect(),
                body: a.body,
            }
        }))
    }

    /// Sets an AKS cluster's authorized ranges and tags: the cluster as read, sent back with
    /// those changed (read-only fields left out), the operation followed.
    pub async fn set_aks_access(
        &self,
        rg: &str,
        cluster: &str,
        seen: &AksCluster,
        ranges: &[String],
        tags: &BTreeMap<String, String>,
        until: Instant,
    ) -> Result<bool, AzureError> {
        let url = self.aks_url(rg, cluster);
        let mut body = seen.body.clone();
        if let Some(o) = body.as_object_mut() {
            for k in ["id", "name", "type", "systemData"] {
                o.remove(k);
            }
        }
        if let Some(p) = body["properties"].as_object_mut() {
            for k in [
                "provisioningState",
                "powerState",
                "fqdn",
                "azurePortalFQDN",
                "privateFQDN",
                "currentKubernetesVersion",
                "maxAgentPools",
            ] {
                p.remove(k);
            }
        }
        body["properties"]["apiServerAccessProfile"]["authorizedIPRanges"] = json!(ranges);
        body["tags"] = json!(tags);
        let a = self
            .call(reqwest::Method::PUT, &url, Some(&body), AKS_WRITE)
            .await?
            .ok_or_else(|| gone(AKS_WRITE, &url))?;
        self.follow(&a, AKS_WRITE, until).await
    }

    /// The private addresses of a scale set's instances: `(instance id, address)` (every page).
    pub async fn vmss_instance_ips(
        &self,
        rg: &str,
        vmss: &str,
    ) -> Result<Vec<(String, std::net::IpAddr)>, AzureError> {
        let mut url = format!(
            "{}/Microsoft.Compute/virtualMachineScaleSets/{vmss}/networkInterfaces?api-version={VMSS_NIC_API}",
            self.rg_url(rg)
        );
        let mut out = Vec::new();
        loop {
            let a = self
                .call(reqwest::Method::GET, &url, None, NIC_READ)
                .await?
                .ok_or_else(|| gone(NIC_READ, &url))?;
            for nic in a.body["value"].as_array().into_iter().flatten() {
                let vm = nic["properties"]["virtualMachine"]["id"]
                    .as_str()
                    .and_then(|id| id.rsplit('/').next())
                    .unwrap_or_default()
                    .to_owned();
                let ip = nic["properties"]["ipConfigurations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find_map(|c| c["properties"]["privateIPAddress"].as_str())
                    .and_then(|s| s.parse().ok());
                if let Some(ip) = ip {
                    out.push((vm, ip));
                }
            }
            match a.body["nextLink"].as_str() {
                Some(next) if !next.is_empty() => next.clone_into(&mut url),
                _ => return Ok(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_reads_back_as_it_was_sent() {
        let rule = NsgRule {
            name: "breakglass-block-1-allow".into(),
            priority: 100,
            allow: true,
            protocol: "Tcp".into(),
            sources: vec!["192.0.2.0/24".into(), "10.0.0.0/24".into()],
            ports: vec!["443".into(), "6443".into()],
            description: "d".into(),
        };
        let mut body = rule.body();
        body["name"] = rule.name.clone().into();
        assert_eq!(NsgRule::read(&body), Some(rule));
    }
}
