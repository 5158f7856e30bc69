//! The read-only calls `inventory import gcp` makes, every list followed through its pages
//! (`maxResults`, then `pageToken` = the answer's `nextPageToken`):
//!
//! - `instances.aggregatedList` (every zone;
//!   <https://cloud.google.com/compute/docs/reference/rest/v1/instances/aggregatedList>) or
//!   `instances.list` (one zone; <https://cloud.google.com/compute/docs/reference/rest/v1/instances/list>),
//!   with a `filter` on labels;
//! - `instanceGroupManagers.listManagedInstances` and its regional twin (`POST`;
//!   <https://cloud.google.com/compute/docs/reference/rest/v1/instanceGroupManagers/listManagedInstances>);
//! - GKE `projects.locations.clusters.get` and `.nodePools.list`
//!   (<https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters/get>,
//!   <https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters.nodePools/list>).
//!
//! `progress` hears one line per page; the transport itself never prints.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value;

use super::client::{Api, Gcp, GcpError};
use crate::transport::https::query_escape;

/// An instance as `inventory import` needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub name: String,
    /// The zone's name (`us-central1-a`).
    pub zone: Option<String>,
    /// The first network interface's `networkIP`.
    pub private_ip: Option<IpAddr>,
    pub labels: Vec<(String, String)>,
    /// The `created-by` metadata item: the managed instance group that made it
    /// (`projects/NUM/zones/Z/instanceGroupManagers/NAME`).
    pub created_by: Option<String>,
    /// `RUNNING`, `STAGING`, `TERMINATED`, ...
    pub status: String,
}

/// A GKE cluster's parts `inventory import` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GkeCluster {
    /// `endpoint` and `privateClusterConfig.privateEndpoint`: IP addresses.
    pub endpoints: Vec<IpAddr>,
    /// Its node pools: name and the MIGs behind it (`.../zones/Z/instanceGroupManagers/NAME`).
    pub pools: Vec<(String, Vec<String>)>,
}

/// The last segment of a resource URL.
pub fn last_segment(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

const LIST: &str = "compute.instances.list";
const MIG_LIST: &str = "compute.instanceGroupManagers.get";
const CLUSTER_GET: &str = "container.clusters.get";

impl Gcp {
    /// The instances matching `filter` (the API's filter syntax), in `zone` or every zone.
    pub async fn discover_instances(
        &self,
        filter: &str,
        zone: Option<&str>,
        page_size: u32,
        progress: &(dyn Fn(String) + Sync),
    ) -> Result<Vec<Instance>, GcpError> {
        let base = match zone {
            Some(z) => format!(
                "{}projects/{}/zones/{}/instances",
                self.endpoint(Api::Compute),
                self.project(),
                query_escape(z)
            ),
            None => format!(
                "{}projects/{}/aggregated/instances",
                self.endpoint(Api::Compute),
                self.project()
            ),
        };
        let mut url = format!(
            "{base}?maxResults={}&filter={}",
            page_size.clamp(1, 500),
            query_escape(filter)
        );
        if zone.is_none() {
            url.push_str("&returnPartialSuccess=true");
        }
        let mut out = Vec::new();
        self.pages(
            &url,
            reqwest::Method::GET,
            LIST,
            "instances",
            progress,
            |v| {
                match zone {
                    Some(_) => v["items"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .for_each(|i| out.push(instance(i))),
                    // aggregatedList: `items` maps `zones/Z` to `{"instances": [...]}` (or a warning).
                    None => v["items"]
                        .as_object()
                        .into_iter()
                        .flat_map(|m| m.values())
                        .filter_map(|scope| scope["instances"].as_array())
                        .flatten()
                        .for_each(|i| out.push(instance(i))),
                }
                out.len()
            },
        )
        .await?;
        Ok(out)
    }

    /// The names of the instances a managed instance group manages. `scope`: `zones/Z` or
    /// `regions/R`.
    pub async fn discover_mig_members(
        &self,
        scope: &str,
        name: &str,
        page_size: u32,
        progress: &(dyn Fn(String) + Sync),
    ) -> Result<Vec<String>, GcpError> {
        let kind = if scope.starts_with("regions/") {
            "regionInstanceGroupManagers"
        } else {
            "instanceGroupManagers"
        };
        let url = format!(
            "{}projects/{}/{scope}/{kind}/{}/listManagedInstances?maxResults={}",
            self.endpoint(Api::Compute),
            self.project(),
            query_escape(name),
            page_size.clamp(1, 500)
        );
        let mut out = Vec::new();
        let what = format!("managed instances of {name}");
        self.pages(
            &url,
            reqwest::Method::POST,
            MIG_LIST,
            &what,
            progress,
            |v| {
                for m in v["managedInstances"].as_array().into_iter().flatten() {
                    if let Some(i) = m["instance"].as_str() {
                        out.push(last_segment(i).to_owned());
                    }
                }
                out.len()
            },
        )
        .await?;
        Ok(out)
    }

    /// The GKE cluster `name` in `location` and its node pools; None if there is none.
    pub async fn discover_gke_cluster(
        &self,
        location: &str,
        name: &str,
    ) -> Result<Option<GkeCluster>, GcpError> {
        let url = format!(
            "{}v1/projects/{}/locations/{}/clusters/{}",
            self.endpoint(Api::Container),
            self.project(),
            query_escape(location),
            query_escape(name)
        );
        let Some(c) = self
            .call(reqwest::Method::GET, &url, None, CLUSTER_GET)
            .await?
        else {
            return Ok(None);
        };
        let endpoints = [
            c["endpoint"].as_str(),
            c.pointer("/privateClusterConfig/privateEndpoint")
                .and_then(Value::as_str),
        ]
        .into_iter()
        .flatten()
        .filter_map(|e| e.parse().ok())
        .collect();
        let pools = self
            .call(
                reqwest::Method::GET,
                &format!("{url}/nodePools"),
                None,
                CLUSTER_GET,
            )
            .await?
            .unwrap_or(Value::Null);
        let pools = pools["nodePools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let migs = p["instanceGroupUrls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect();
                Some((p["name"].as_str()?.to_owned(), migs))
            })
            .collect();
        Ok(Some(GkeCluster { endpoints, pools }))
    }

    /// Every page of a list call starting at `url`: `read` takes each page's JSON and says how
    /// many items there are so far.
    async fn pages(
        &self,
        url: &str,
        method: reqwest::Method,
        permission: &str,
        what: &str,
        progress: &(dyn Fn(String) + Sync),
        mut read: impl FnMut(&Value) -> usize,
    ) -> Result<(), GcpError> {
        let mut token: Option<String> = None;
        for page in 1.. {
            let page_url = match &token {
                Some(t) => format!("{url}&pageToken={}", query_escape(t)),
                None => url.to_owned(),
            };
            let v = self
                .call(method.clone(), &page_url, None, permission)
                .await?
                .ok_or_else(|| GcpError::Api {
                    permission: permission.to_owned(),
                    code: 404,
                    status: "NOT_FOUND".into(),
                    message: format!("{page_url} does not exist"),
                })?;
            let so_far = read(&v);
            progress(format!("GCP {what} page {page}: {so_far} so far"));
            match v["nextPageToken"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(()),
            }
        }
        Ok(())
    }
}

fn instance(v: &Value) -> Instance {
    let labels: BTreeMap<String, String> = v["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let created_by = v
        .pointer("/metadata/items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|i| i["key"] == "created-by")
        .and_then(|i| i["value"].as_str())
        .map(str::to_owned);
    Instance {
        name: v["name"].as_str().unwrap_or_default().to_owned(),
        zone: v["zone"].as_str().map(|z| last_segment(z).to_owned()),
        private_ip: v
            .pointer("/networkInterfaces/0/networkIP")
            .and_then(Value::as_str)
            .and_then(|ip| ip.parse().ok()),
        labels: labels.into_iter().collect(),
        created_by,
        status: v["status"].as_str().unwrap_or("UNKNOWN").to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_is_read_with_its_group_and_address() {
        let v = serde_json::json!({"name": "gke-prod-pool1-a-1", "status": "RUNNING",
            "zone": "https://www.googleapis.com/compute/v1/projects/acme/zones/us-central1-a",
            "labels": {"goog-k8s-cluster-name": "prod"},
            "networkInterfaces": [{"networkIP": "10.128.0.5"}],
            "metadata": {"items": [{"key": "created-by", "value": "projects/123/zones/us-central1-a/instanceGroupManagers/gke-prod-pool1-a-grp"}]}});
        let i = instance(&v);
        assert_eq!(i.zone.as_deref(), Some("us-central1-a"));
        assert_eq!(i.private_ip, Some("10.128.0.5".parse().expect("ip")));
        assert_eq!(
            i.created_by.as_deref().map(last_segment),
            Some("gke-prod-pool1-a-grp")
        );
        assert_eq!(instance(&serde_json::json!({"name": "x"})).private_ip, None);
    }
}
