//! The control-plane calls of `cloud.firewall.block` and `apiservers.scale` on GCP, each change
//! followed through its Operation until DONE:
//!
//! - VPC firewall rules: `firewalls.list` / `get` / `insert` / `delete`
//!   (cloud.google.com/compute/docs/reference/rest/v1/firewalls), the Operation from
//!   `globalOperations.get`;
//! - a GKE cluster's authorized networks: `clusters.get`, `clusters.update` with
//!   `desiredControlPlaneEndpointsConfig.ipEndpointsConfig.authorizedNetworksConfig` (the
//!   replacement of the deprecated `desiredMasterAuthorizedNetworksConfig`,
//!   cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters/update),
//!   and `clusters.setResourceLabels` (the labels that remember a block), the Operation from
//!   `projects.locations.operations.get`;
//! - the API servers of a self-managed control plane's MIG: `listManagedInstances`, then each
//!   instance's `networkInterfaces[0].networkIP` (`instances.get`).

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::{Api, Gcp, GcpError};
use super::groups::not_found;

/// A VPC firewall rule, as a block makes and reads it (ingress, TCP or every protocol).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FirewallRule {
    pub name: String,
    /// The network's name (`prod-vpc`).
    pub network: String,
    pub priority: u32,
    /// `allowed` (true) or `denied`.
    pub allow: bool,
    /// `tcp`, `all`, ...
    pub protocol: String,
    /// `443`, `6000-7000`; empty: every port.
    pub ports: Vec<String>,
    pub source_ranges: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_service_accounts: Vec<String>,
    pub description: String,
    #[serde(default)]
    pub disabled: bool,
}

impl FirewallRule {
    fn body(&self, project: &str) -> Value {
        let key = if self.allow { "allowed" } else { "denied" };
        let mut v = json!({
            "name": self.name,
            "network": format!("projects/{project}/global/networks/{}", self.network),
            "direction": "INGRESS",
            "priority": self.priority,
            "sourceRanges": self.source_ranges,
            "description": self.description,
            "disabled": self.disabled,
            key: [{"IPProtocol": self.protocol, "ports": self.ports}],
        });
        if !self.target_tags.is_empty() {
            v["targetTags"] = json!(self.target_tags);
        }
        if !self.target_service_accounts.is_empty() {
            v["targetServiceAccounts"] = json!(self.target_service_accounts);
        }
        v
    }

    /// Every ingress `allowed`/`denied` entry of a rule as read, one rule each (egress rules and
    /// rules without source ranges are left out: they do not decide who reaches the API).
    fn read(v: &Value) -> Vec<FirewallRule> {
        if v["direction"].as_str().unwrap_or("INGRESS") != "INGRESS" {
            return Vec::new();
        }
        let strings = |k: &str| -> Vec<String> {
            v[k].as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        };
        let network = v["network"]
            .as_str()
            .and_then(|n| n.rsplit('/').next())
            .unwrap_or_default()
            .to_owned();
        let mut out = Vec::new();
        for (key, allow) in [("allowed", true), ("denied", false)] {
            for e in v[key].as_array().into_iter().flatten() {
                out.push(FirewallRule {
                    name: v["name"].as_str().unwrap_or_default().to_owned(),
                    network: network.clone(),
                    priority: v["priority"]
                        .as_u64()
                        .and_then(|p| u32::try_from(p).ok())
                        .unwrap_or(1000),
                    allow,
                    protocol: e["IPProtocol"].as_str().unwrap_or("all").to_owned(),
                    ports: e["ports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p.as_str().map(str::to_owned))
                        .collect(),
                    source_ranges: strings("sourceRanges"),
                    target_tags: strings("targetTags"),
                    target_service_accounts: strings("targetServiceAccounts"),
                    description: v["description"].as_str().unwrap_or_default().to_owned(),
                    disabled: v["disabled"].as_bool().unwrap_or(false),
                });
            }
        }
        out
    }
}

/// A GKE cluster's authorized networks (`MasterAuthorizedNetworksConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizedNetworks {
    pub enabled: bool,
    /// `(cidrBlock, displayName)`.
    pub cidrs: Vec<(String, String)>,
    /// `gcpPublicCidrsAccessEnabled`: every Google Cloud public address may reach the endpoint.
    pub gcp_public: bool,
}

impl AuthorizedNetworks {
    fn read(v: &Value) -> AuthorizedNetworks {
        AuthorizedNetworks {
            enabled: v["enabled"].as_bool().unwrap_or(false),
            cidrs: v["cidrBlocks"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    (
                        c["cidrBlock"].as_str().unwrap_or_default().to_owned(),
                        c["displayName"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
            gcp_public: v["gcpPublicCidrsAccessEnabled"].as_bool().unwrap_or(false),
        }
    }

    fn body(&self) -> Value {
        json!({
            "enabled": self.enabled,
            "cidrBlocks": self.cidrs.iter().map(|(c, d)| json!({"cidrBlock": c, "displayName": d})).collect::<Vec<_>>(),
            "gcpPublicCidrsAccessEnabled": self.gcp_public,
        })
    }
}

/// A GKE cluster as a block sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GkeCluster {
    /// `RUNNING`, `RECONCILING`, ...
    pub status: String,
    pub access: AuthorizedNetworks,
    /// `privateClusterConfig.enablePrivateNodes`: nodes reach the control plane privately.
    pub private_nodes: bool,
    pub labels: BTreeMap<String, String>,
    pub label_fingerprint: String,
}

const FW_LIST: &str = "compute.firewalls.list";
const FW_GET: &str = "compute.firewalls.get";
const FW_CREATE: &str = "compute.firewalls.create";
const FW_DELETE: &str = "compute.firewalls.delete";
const GLOBAL_OPS: &str = "compute.globalOperations.get";
const GKE_GET: &str = "container.clusters.get";
const GKE_UPDATE: &str = "container.clusters.update";
const GKE_OPS: &str = "container.operations.get";
const MIG_GET: &str = "compute.instanceGroupManagers.get";
const INSTANCE_GET: &str = "compute.instances.get";

impl Gcp {
    fn firewalls_url(&self) -> String {
        format!(
            "{}projects/{}/global/firewalls",
            self.endpoint(Api::Compute),
            self.project()
        )
    }

    /// The ingress rules of `network` (every page).
    pub async fn list_firewalls(&self, network: &str) -> Result<Vec<FirewallRule>, GcpError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let url = match &token {
                Some(t) => format!("{}?pageToken={t}", self.firewalls_url()),
                None => self.firewalls_url(),
            };
            let page = self
                .call(reqwest::Method::GET, &url, None, FW_LIST)
                .await?
                .ok_or_else(|| not_found(FW_LIST, &url))?;
            out.extend(
                page["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(FirewallRule::read)
                    .filter(|r| r.network == network),
            );
            match page["nextPageToken"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(out),
            }
        }
    }

    /// A firewall rule by name, None if it does not exist.
    pub async fn get_firewall(&self, name: &str) -> Result<Option<FirewallRule>, GcpError> {
        let url = format!("{}/{name}", self.firewalls_url());
        let v = self.call(reqwest::Method::GET, &url, None, FW_GET).await?;
        Ok(v.and_then(|v| FirewallRule::read(&v).into_iter().next()))
    }

    /// Creates a rule and follows the Operation until DONE or `until`; true when DONE.
    pub async fn insert_firewall(
        &self,
        rule: &FirewallRule,
        until: Instant,
    ) -> Result<bool, GcpError> {
        let url = self.firewalls_url();
        let op = self
            .call(
                reqwest::Method::POST,
                &url,
                Some(&rule.body(self.project())),
                FW_CREATE,
            )
            .await?
            .ok_or_else(|| not_found(FW_CREATE, &url))?;
        self.follow(op, &self.global_ops(), GLOBAL_OPS, until).await
    }

    /// Deletes a rule (gone already: done) and follows the Operation.
    pub async fn delete_firewall(&self, name: &str, until: Instant) -> Result<bool, GcpError> {
        let url = format!("{}/{name}", self.firewalls_url());
        match self
            .call(reqwest::Method::DELETE, &url, None, FW_DELETE)
            .await?
        {
            None => Ok(true),
            Some(op) => self.follow(op, &self.global_ops(), GLOBAL_OPS, until).await,
        }
    }

    fn global_ops(&self) -> String {
        format!(
            "{}projects/{}/global/operations/",
            self.endpoint(Api::Compute),
            self.project()
        )
    }

    fn gke_url(&self, location: &str, cluster: &str) -> String {
        format!(
            "{}v1/projects/{}/locations/{location}/clusters/{cluster}",
            self.endpoint(Api::Container),
            self.project()
        )
    }

    fn gke_ops(&self, location: &str) -> String {
        format!(
            "{}v1/projects/{}/locations/{location}/operations/",
            self.endpoint(Api::Container),
            self.project()
        )
    }

    /// A GKE cluster, None if it does not exist. The authorized networks are read from
    /// `controlPlaneEndpointsConfig` where the cluster has it, else from the older
    /// `masterAuthorizedNetworksConfig`.
    pub async fn get_gke_cluster(
        &self,
        location: &str,
        cluster: &str,
    ) -> Result<Option<GkeCluster>, GcpError> {
        let url = self.gke_url(location, cluster);
        let Some(v) = self.call(reqwest::Method::GET, &url, None, GKE_GET).await? else {
            return Ok(None);
        };
        let access = v
            .pointer("/controlPlaneEndpointsConfig/ipEndpointsConfig/authorizedNetworksConfig")
            .unwrap_or(&v["masterAuthorizedNetworksConfig"]);
        Ok(Some(GkeCluster {
            status: v["status"].as_str().unwrap_or("UNKNOWN").to_owned(),
            access: AuthorizedNetworks::read(access),
            private_nodes: v["privateClusterConfig"]["enablePrivateNodes"]
                .as_bool()
                .unwrap_or(false),
            labels: v["resourceLabels"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect(),
            label_fingerprint: v["labelFingerprint"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }))
    }

    /// Sets a GKE cluster's authorized networks and follows the Operation.
    pub async fn set_authorized_networks(
        &self,
        location: &str,
        cluster: &str,
        access: &AuthorizedNetworks,
        until: Instant,
    ) -> Result<bool, GcpError> {
        let url = self.gke_url(location, cluster);
        let body = json!({"update": {"desiredControlPlaneEndpointsConfig": {"ipEndpointsConfig":
            {"authorizedNetworksConfig": access.body()}}}});
        let op = self
            .call(reqwest::Method::PUT, &url, Some(&body), GKE_UPDATE)
            .await?
            .ok_or_else(|| not_found(GKE_UPDATE, &url))?;
        self.follow(op, &self.gke_ops(location), GKE_OPS, until)
            .await
    }

    /// Replaces a GKE cluster's resource labels (guarded by the fingerprint read with them) and
    /// follows the Operation.
    pub async fn set_cluster_labels(
        &self,
        location: &str,
        cluster: &str,
        labels: &BTreeMap<String, String>,
        fingerprint: &str,
        until: Instant,
    ) -> Result<bool, GcpError> {
        let url = format!("{}:setResourceLabels", self.gke_url(location, cluster));
        let body = json!({"resourceLabels": labels, "labelFingerprint": fingerprint});
        let op = self
            .call(reqwest::Method::POST, &url, Some(&body), GKE_UPDATE)
            .await?
            .ok_or_else(|| not_found(GKE_UPDATE, &url))?;
        self.follow(op, &self.gke_ops(location), GKE_OPS, until)
            .await
    }

    /// The running instances of a MIG and their private addresses: `(name, networkIP)`.
    pub async fn mig_instance_ips(
        &self,
        scope: &str,
        name: &str,
    ) -> Result<Vec<(String, std::net::IpAddr)>, GcpError> {
        let kind = if scope.starts_with("regions/") {
            "regionInstanceGroupManagers"
        } else {
            "instanceGroupManagers"
        };
        let url = format!(
            "{}projects/{}/{scope}/{kind}/{name}/listManagedInstances",
            self.endpoint(Api::Compute),
            self.project()
        );
        let list = self
            .call(reqwest::Method::POST, &url, None, MIG_GET)
            .await?
            .ok_or_else(|| not_found(MIG_GET, &url))?;
        let mut out = Vec::new();
        for m in list["managedInstances"].as_array().into_iter().flatten() {
            if m["instanceStatus"] != "RUNNING" {
                continue;
            }
            // https://www.googleapis.com/compute/v1/projects/P/zones/Z/instances/N, asked of our
            // compute endpoint.
            let Some(rest) = m["instance"]
                .as_str()
                .and_then(|u| u.split_once("/projects/"))
                .map(|(_, r)| r.to_owned())
            else {
                continue;
            };
            let url = format!("{}projects/{rest}", self.endpoint(Api::Compute));
            let Some(i) = self
                .call(reqwest::Method::GET, &url, None, INSTANCE_GET)
                .await?
            else {
                continue;
            };
            if let Some(ip) = i["networkInterfaces"][0]["networkIP"]
                .as_str()
                .and_then(|s| s.parse().ok())
            {
                out.push((i["name"].as_str().unwrap_or_default().to_owned(), ip));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_reads_back_as_it_was_sent() {
        let rule = FirewallRule {
            name: "bg-block-1-deny".into(),
            network: "prod-vpc".into(),
            priority: 101,
            allow: false,
            protocol: "tcp".into(),
            ports: vec!["443".into(), "6443".into()],
            source_ranges: vec!["0.0.0.0/0".into()],
            target_tags: vec!["k8s-apiserver".into()],
            target_service_accounts: vec![],
            description: "d".into(),
            disabled: false,
        };
        let mut body = rule.body("acme");
        body["network"] =
            "https://www.googleapis.com/compute/v1/projects/acme/global/networks/prod-vpc".into();
        assert_eq!(FirewallRule::read(&body), [rule]);
        assert!(FirewallRule::read(&json!({"direction": "EGRESS", "allowed": [{}]})).is_empty());
    }
}
