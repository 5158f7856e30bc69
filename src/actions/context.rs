//! What an action is handed for one target and one step: the [`Target`] itself, and a
//! [`Context`] that hands out the *reach* the action needs to touch it (a shell on a host over
//! SSH today; Kubernetes, etcd and cloud clients next), already paced and deadline-bound.
//!
//! The engine plans, waves, journals and undoes targets without knowing what they are; the
//! command layer builds the [`Reach`] from settings and inventory and injects it, and tests inject
//! a fake one. Nothing here prints or prompts: the operator is reached through [`Operator`], which
//! the command layer implements.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::contract::{ActionFailure, Node};
use super::node::SshNode;
use crate::cancel::Cancel;
use crate::inventory::Host;
use crate::transport::RateLimiter;
use crate::transport::cloud::aws::{Aws, AwsConfig};
use crate::transport::cloud::azure::{Azure, AzureConfig};
use crate::transport::cloud::gcp::{Gcp, GcpConfig};
use crate::transport::etcd::Etcd;
use crate::transport::kube::{Kube, KubeConfig, kubeconfig};
use crate::transport::rate::Budget;
use crate::transport::ssh::{SshOptions, SshTarget};

/// What a step acts on. More kinds (node groups, API endpoints, cloud firewall rules,
/// Kubernetes objects, etcd keys) join as their reaches do; the engine only needs a name and an
/// address for each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An inventory host, reached over SSH.
    Host(Host),
    /// The operator's own machine: steps that act once per step rather than on a fleet
    /// (`wait.healthy` probing API servers, `pause`).
    Operator,
    /// A key in a cluster's etcd (`prefix`: every key under it, up to the step's `max_keys`).
    EtcdKey {
        cluster: String,
        key: String,
        prefix: bool,
    },
    /// A Kubernetes object, reached through the cluster's API servers. `name` is how events and
    /// journals call it (`daemonsets/monitoring/telemetry-agent`); `path` its API path.
    KubeObject {
        cluster: String,
        name: String,
        path: String,
    },
    /// A cloud node group of a cluster (`node_groups` of `[clusters.NAME.aws]`, `.gcp` or `.azure`), reached through the
    /// cluster's cloud client. Named by its inventory name.
    NodeGroup {
        cluster: String,
        group: crate::inventory::NodeGroup,
    },
    /// A cloud resource of a cluster's control plane (`[clusters.NAME.aws]`), reached through
    /// the cluster's cloud client.
    Cloud {
        cluster: String,
        resource: CloudResource,
    },
}

/// A control-plane resource in the cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudResource {
    /// The API servers' security group, by id (`sg-0abc`).
    SecurityGroup { id: String, name: String },
    /// An EKS cluster, by its EKS name: its endpoint access, its control-plane tier.
    EksCluster { eks_name: String, name: String },
    /// The VPC network whose firewall rules guard the API servers (`gcp-firewall/NETWORK`).
    GcpFirewall {
        lever: crate::inventory::RuleLever,
        name: String,
    },
    /// A GKE cluster (`gke/NAME`): its authorized networks.
    GkeCluster {
        location: String,
        gke_name: String,
        name: String,
    },
    /// The API servers' network security group (`nsg/NAME`).
    Nsg {
        lever: crate::inventory::RuleLever,
        name: String,
    },
    /// An AKS cluster (`aks/NAME`): its authorized IP ranges.
    AksCluster {
        resource_group: String,
        aks_name: String,
        name: String,
    },
}

impl CloudResource {
    pub fn security_group(id: &str) -> CloudResource {
        CloudResource::SecurityGroup {
            id: id.to_owned(),
            name: id.to_owned(),
        }
    }

    pub fn eks_cluster(eks_name: &str) -> CloudResource {
        CloudResource::EksCluster {
            eks_name: eks_name.to_owned(),
            name: format!("eks/{eks_name}"),
        }
    }

    pub fn gcp_firewall(lever: &crate::inventory::RuleLever) -> CloudResource {
        CloudResource::GcpFirewall {
            lever: lever.clone(),
            name: format!("gcp-firewall/{}", lever.name),
        }
    }

    pub fn gke_cluster(location: &str, gke_name: &str) -> CloudResource {
        CloudResource::GkeCluster {
            location: location.to_owned(),
            gke_name: gke_name.to_owned(),
            name: format!("gke/{gke_name}"),
        }
    }

    pub fn nsg(lever: &crate::inventory::RuleLever) -> CloudResource {
        CloudResource::Nsg {
            lever: lever.clone(),
            name: format!("nsg/{}", lever.name),
        }
    }

    pub fn aks_cluster(resource_group: &str, aks_name: &str) -> CloudResource {
        CloudResource::AksCluster {
            resource_group: resource_group.to_owned(),
            aks_name: aks_name.to_owned(),
            name: format!("aks/{aks_name}"),
        }
    }

    /// `sg-0abc`, `eks/prod`: its name in events and journals.
    pub fn name(&self) -> &str {
        match self {
            CloudResource::SecurityGroup { name, .. }
            | CloudResource::EksCluster { name, .. }
            | CloudResource::GcpFirewall { name, .. }
            | CloudResource::GkeCluster { name, .. }
            | CloudResource::Nsg { name, .. }
            | CloudResource::AksCluster { name, .. } => name,
        }
    }

    /// `security group sg-0abc`, `EKS cluster prod`.
    pub fn describe(&self) -> String {
        match self {
            CloudResource::SecurityGroup { id, .. } => format!("security group {id}"),
            CloudResource::EksCluster { eks_name, .. } => format!("EKS cluster {eks_name}"),
            CloudResource::GcpFirewall { lever, .. } => {
                format!("the firewall of VPC network {}", lever.name)
            }
            CloudResource::GkeCluster {
                gke_name, location, ..
            } => format!("GKE cluster {gke_name} in {location}"),
            CloudResource::Nsg { lever, .. } => format!(
                "network security group {}/{}",
                lever.resource_group, lever.name
            ),
            CloudResource::AksCluster {
                resource_group,
                aks_name,
                ..
            } => format!("AKS cluster {resource_group}/{aks_name}"),
        }
    }
}

/// The name the operator's machine has in events and journals.
pub const OPERATOR: &str = "operator";

impl Target {
    /// The name in events, journals and folded output.
    pub fn name(&self) -> &str {
        match self {
            Target::Host(h) => &h.name,
            Target::Operator => OPERATOR,
            Target::EtcdKey { key, .. } => key,
            Target::KubeObject { name, .. } => name,
            Target::NodeGroup { group, .. } => &group.name,
            Target::Cloud { resource, .. } => resource.name(),
        }
    }

    /// Where it is reached (`ip:port` for a host).
    pub fn address(&self) -> String {
        match self {
            Target::Host(h) => h.socket_addr().to_string(),
            Target::Operator => "local".into(),
            Target::EtcdKey { cluster, .. } => format!("etcd of cluster {cluster}"),
            Target::KubeObject { cluster, .. } => format!("API of cluster {cluster}"),
            Target::NodeGroup { group, .. } => group.backing.describe(),
            Target::Cloud { resource, .. } => resource.describe(),
        }
    }

    pub fn host(&self) -> Option<&Host> {
        match self {
            Target::Host(h) => Some(h),
            Target::Operator
            | Target::EtcdKey { .. }
            | Target::KubeObject { .. }
            | Target::NodeGroup { .. }
            | Target::Cloud { .. } => None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which kind of target an action acts on: decides what a step's `targets` select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// Inventory hosts chosen by the step's `targets` selector.
    Hosts,
    /// Once, from the operator's machine (the step has no `targets`).
    Operator,
    /// The objects the action names itself in its arguments (etcd keys): see
    /// `Action::objects`. The step has no `targets`.
    Objects,
}

/// The operator, as actions need them: typed confirmation and pauses. Implemented by the
/// command layer (terminal prompts, the lab demo's scripted answers); nothing below it reads
/// the terminal.
pub trait Operator: Send + Sync {
    /// Asks the operator to type `expected` before `step` runs. False: declined.
    fn confirm(&self, step: &str, what: &str, expected: &str) -> bool;
    /// Waits at a `pause` step. False: the operator chose to stop.
    fn pause(&self, step: &str, message: &str) -> bool;
}

/// How a run reaches its targets. Built by the command from settings and inventory; the engine
/// only passes it on.
pub trait Reach: Send + Sync {
    /// A shell on `host` for one step: every call of the step shares one session. `timeout`
    /// (the step's own) replaces the run's command deadline.
    fn shell(&self, host: &Host, timeout: Option<Duration>) -> Box<dyn Node + Send>;

    /// The etcd client of `cluster` (built once per run). Err when the inventory gives no way
    /// to reach it.
    fn etcd(&self, cluster: &str) -> Result<Arc<Etcd>, ActionFailure> {
        Err(ActionFailure::refused(format!(
            "this run has no way to reach the etcd of cluster {cluster}"
        )))
    }

    /// The API client of `cluster` (built once per run).
    fn kube(&self, cluster: &str) -> Result<Arc<Kube>, ActionFailure> {
        Err(ActionFailure::refused(format!(
            "this run has no way to reach the API servers of cluster {cluster}"
        )))
    }

    /// The AWS client of `cluster` (built once per run; credentials fetched on first use).
    fn aws(&self, cluster: &str) -> Result<Arc<Aws>, ActionFailure> {
        Err(ActionFailure::refused(format!(
            "this run has no way to reach AWS for cluster {cluster}"
        )))
    }

    /// The GCP client of `cluster` (built once per run; the token fetched on first use).
    fn gcp(&self, cluster: &str) -> Result<Arc<Gcp>, ActionFailure> {
        Err(ActionFailure::refused(format!(
            "this run has no way to reach GCP for cluster {cluster}"
        )))
    }

    /// The Azure client of `cluster` (built once per run; the token fetched on first use).
    fn azure(&self, cluster: &str) -> Result<Arc<Azure>, ActionFailure> {
        Err(ActionFailure::refused(format!(
            "this run has no way to reach Azure for cluster {cluster}"
        )))
    }
}

/// How a run reaches its targets for real: SSH with the run's trust, credentials and deadlines
/// and its `--rate` limiter, which every new session waits on; and each cluster's etcd, as
/// the inventory describes it (clients built on first use, one per cluster for the run).
pub struct FleetReach {
    pub options: Arc<SshOptions>,
    pub limiter: Arc<RateLimiter>,
    /// The inventory's clusters: their API servers and etcd (the clients are built, and the
    /// kubeconfig read, on first use).
    pub clusters: BTreeMap<String, crate::inventory::Cluster>,
    /// Requests per second to etcd and to API servers across the run.
    pub api_limiter: Arc<RateLimiter>,
    /// Requests per second to AWS across the run, and how many it may send in all.
    pub aws_limiter: Arc<RateLimiter>,
    pub aws_budget: Arc<Budget>,
    /// Likewise to GCP: each provider its own pace and budget.
    pub gcp_limiter: Arc<RateLimiter>,
    pub gcp_budget: Arc<Budget>,
    pub azure_limiter: Arc<RateLimiter>,
    pub azure_budget: Arc<Budget>,
    etcd_clients: Mutex<BTreeMap<String, Arc<Etcd>>>,
    kube_clients: Mutex<BTreeMap<String, Arc<Kube>>>,
    aws_clients: Mutex<BTreeMap<String, Arc<Aws>>>,
    gcp_clients: Mutex<BTreeMap<String, Arc<Gcp>>>,
    azure_clients: Mutex<BTreeMap<String, Arc<Azure>>>,
}

impl FleetReach {
    pub fn new(
        options: Arc<SshOptions>,
        limiter: Arc<RateLimiter>,
        clusters: BTreeMap<String, crate::inventory::Cluster>,
        api_limiter: Arc<RateLimiter>,
    ) -> FleetReach {
        FleetReach {
            options,
            limiter,
            clusters,
            api_limiter,
            aws_limiter: Arc::new(RateLimiter::new(crate::settings::DEFAULT_CLOUD_RATE)),
            aws_budget: Arc::new(Budget::new(crate::settings::CLOUD_REQUEST_BUDGET)),
            gcp_limiter: Arc::new(RateLimiter::new(crate::settings::DEFAULT_CLOUD_RATE)),
            gcp_budget: Arc::new(Budget::new(crate::settings::CLOUD_REQUEST_BUDGET)),
            azure_limiter: Arc::new(RateLimiter::new(crate::settings::DEFAULT_CLOUD_RATE)),
            azure_budget: Arc::new(Budget::new(crate::settings::CLOUD_REQUEST_BUDGET)),
            etcd_clients: Mutex::default(),
            kube_clients: Mutex::default(),
            aws_clients: Mutex::default(),
            gcp_clients: Mutex::default(),
            azure_clients: Mutex::default(),
        }
    }

    /// The same reach with every cloud provider paced at `per_second` (0: no limit) and
    /// allowed `budget` requests in all (each provider its own limiter and budget).
    #[must_use]
    pub fn with_cloud_pace(mut self, per_second: f64, budget: usize) -> FleetReach {
        self.aws_limiter = Arc::new(RateLimiter::new(per_second));
        self.gcp_limiter = Arc::new(RateLimiter::new(per_second));
        self.azure_limiter = Arc::new(RateLimiter::new(per_second));
        self.aws_budget = Arc::new(Budget::new(budget));
        self.gcp_budget = Arc::new(Budget::new(budget));
        self.azure_budget = Arc::new(Budget::new(budget));
        self
    }

    fn cluster(&self, name: &str) -> Result<&crate::inventory::Cluster, ActionFailure> {
        self.clusters
            .get(name)
            .ok_or_else(|| ActionFailure::refused(format!("the inventory has no cluster {name}")))
    }
}

/// The client `clients` holds for `cluster`, built by `build` the first time: one per cluster
/// for the whole run.
fn cached<T>(
    clients: &Mutex<BTreeMap<String, Arc<T>>>,
    cluster: &str,
    build: impl FnOnce() -> Result<T, ActionFailure>,
) -> Result<Arc<T>, ActionFailure> {
    let mut clients = clients.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(client) = clients.get(cluster) {
        return Ok(Arc::clone(client));
    }
    let client = Arc::new(build()?);
    clients.insert(cluster.to_owned(), Arc::clone(&client));
    Ok(client)
}

impl Reach for FleetReach {
    fn shell(&self, host: &Host, timeout: Option<Duration>) -> Box<dyn Node + Send> {
        Box::new(SshNode::new(
            ssh_target(host),
            &self.options,
            timeout,
            &self.limiter,
        ))
    }

    fn etcd(&self, cluster: &str) -> Result<Arc<Etcd>, ActionFailure> {
        cached(&self.etcd_clients, cluster, || {
            let config = crate::settings::etcd_config(self.cluster(cluster)?).ok_or_else(|| {
                ActionFailure::refused(format!(
                    "cluster {cluster} in the inventory lists no etcd_endpoints"
                ))
            })?;
            Etcd::new(&config, Arc::clone(&self.api_limiter))
                .map_err(|e| ActionFailure::refused(e.to_string()))
        })
    }

    fn kube(&self, cluster: &str) -> Result<Arc<Kube>, ActionFailure> {
        cached(&self.kube_clients, cluster, || {
            let config = kube_config(self.cluster(cluster)?).map_err(ActionFailure::refused)?;
            Kube::new(config, Arc::clone(&self.api_limiter))
                .map_err(|e| ActionFailure::refused(e.to_string()))
        })
    }

    fn aws(&self, cluster: &str) -> Result<Arc<Aws>, ActionFailure> {
        cached(&self.aws_clients, cluster, || {
            let config = aws_config(self.cluster(cluster)?).ok_or_else(|| {
                ActionFailure::refused(format!(
                    "cluster {cluster} in the inventory has no [clusters.{cluster}.aws] table"
                ))
            })?;
            Aws::new(
                config,
                Arc::clone(&self.aws_limiter),
                Arc::clone(&self.aws_budget),
            )
            .map_err(|e| ActionFailure::refused(e.to_string()))
        })
    }

    fn gcp(&self, cluster: &str) -> Result<Arc<Gcp>, ActionFailure> {
        cached(&self.gcp_clients, cluster, || {
            let config = gcp_config(self.cluster(cluster)?).ok_or_else(|| {
                ActionFailure::refused(format!(
                    "cluster {cluster} in the inventory has no [clusters.{cluster}.gcp] table"
                ))
            })?;
            Gcp::new(
                config,
                Arc::clone(&self.gcp_limiter),
                Arc::clone(&self.gcp_budget),
            )
            .map_err(|e| ActionFailure::refused(e.to_string()))
        })
    }

    fn azure(&self, cluster: &str) -> Result<Arc<Azure>, ActionFailure> {
        cached(&self.azure_clients, cluster, || {
            let config = azure_config(self.cluster(cluster)?).ok_or_else(|| {
                ActionFailure::refused(format!(
                    "cluster {cluster} in the inventory has no [clusters.{cluster}.azure] table"
                ))
            })?;
            Azure::new(
                config,
                Arc::clone(&self.azure_limiter),
                Arc::clone(&self.azure_budget),
            )
            .map_err(|e| ActionFailure::refused(e.to_string()))
        })
    }
}

/// The Azure client settings of an inventory cluster, if it has an `azure` table.
pub fn azure_config(c: &crate::inventory::Cluster) -> Option<AzureConfig> {
    let azure = c.azure.as_ref()?;
    Some(AzureConfig {
        cluster: c.name.clone(),
        subscription: azure.subscription.clone(),
        endpoint: azure.endpoint.clone(),
        timeout: crate::settings::CLOUD_REQUEST_TIMEOUT,
        deadline: crate::settings::API_CALL_DEADLINE,
    })
}

/// The GCP client settings of an inventory cluster, if it has a `gcp` table.
pub fn gcp_config(c: &crate::inventory::Cluster) -> Option<GcpConfig> {
    let gcp = c.gcp.as_ref()?;
    Some(GcpConfig {
        cluster: c.name.clone(),
        project: gcp.project.clone(),
        endpoint: gcp.endpoint.clone(),
        timeout: crate::settings::CLOUD_REQUEST_TIMEOUT,
        deadline: crate::settings::API_CALL_DEADLINE,
    })
}

/// The AWS client settings of an inventory cluster, if it has an `aws` table.
pub fn aws_config(c: &crate::inventory::Cluster) -> Option<AwsConfig> {
    let aws = c.aws.as_ref()?;
    Some(AwsConfig {
        cluster: c.name.clone(),
        region: aws.region.clone(),
        endpoint: aws.endpoint.clone(),
        profile: aws.profile.clone(),
        config_file: aws.config_file.clone(),
        credentials_file: aws.credentials_file.clone(),
        timeout: crate::settings::CLOUD_REQUEST_TIMEOUT,
        deadline: crate::settings::API_CALL_DEADLINE,
    })
}

/// The API client settings of an inventory cluster: its `api_endpoints`, the TLS name and CA
/// from the inventory first, then from the kubeconfig's context, and that context's
/// credentials.
pub fn kube_config(c: &crate::inventory::Cluster) -> Result<KubeConfig, String> {
    let ctx = match &c.kubeconfig {
        Some(path) => Some(kubeconfig::load(path, c.context.as_deref())?),
        None => None,
    };
    let ca = match &c.ca_file {
        Some(p) => Some(
            std::fs::read(p).map_err(|e| format!("cannot read ca_file {}: {e}", p.display()))?,
        ),
        None => ctx.as_ref().and_then(|x| x.ca.clone()),
    };
    let tls_server_name = c.tls_server_name.clone().or_else(|| {
        ctx.as_ref()
            .and_then(|x| x.tls_server_name.clone().or_else(|| x.server_host.clone()))
            // An IP in the kubeconfig's server URL names nothing: check the endpoint's own IP.
            .filter(|h| h.parse::<std::net::IpAddr>().is_err())
    });
    Ok(KubeConfig {
        cluster: c.name.clone(),
        endpoints: c.api_endpoints.clone(),
        tls_server_name,
        ca,
        credentials: ctx.map_or(kubeconfig::Credentials::None, |x| x.credentials),
        timeout: crate::settings::API_REQUEST_TIMEOUT,
        deadline: crate::settings::API_CALL_DEADLINE,
        budget: crate::settings::API_REQUEST_BUDGET,
    })
}

/// The SSH endpoint of an inventory host (and its jump host).
pub fn ssh_target(host: &Host) -> SshTarget {
    SshTarget {
        name: host.name.clone(),
        addr: host.socket_addr(),
        user: host.user.clone(),
        host_key: host.host_key.clone(),
        jump: host.jump.as_deref().map(|j| Box::new(ssh_target(j))),
    }
}

/// What an action gets for one target in one step.
pub trait Context {
    fn target(&self) -> &Target;
    /// A shell on the target (one session for the whole step). Refused for targets that are
    /// not hosts.
    fn shell(&mut self) -> Result<&mut dyn Node, ActionFailure>;
    /// The etcd of the target's cluster (an etcd key target only).
    fn etcd(&mut self) -> Result<Arc<Etcd>, ActionFailure> {
        Err(ActionFailure::refused("this target is not in etcd"))
    }
    /// The etcd of `cluster`, whatever the target: for checks run from the operator's machine
    /// (`wait.healthy` with `etcd = true`).
    fn etcd_of(&mut self, cluster: &str) -> Result<Arc<Etcd>, ActionFailure> {
        Err(ActionFailure::refused(format!(
            "this step has no way to reach the etcd of cluster {cluster}"
        )))
    }
    /// The API client of the target's cluster (a Kubernetes object target only).
    fn kube(&mut self) -> Result<Arc<Kube>, ActionFailure> {
        Err(ActionFailure::refused(
            "this target is not a Kubernetes object",
        ))
    }
    /// The AWS client of the target's cluster (a node group or cloud resource target only).
    fn aws(&mut self) -> Result<Arc<Aws>, ActionFailure> {
        Err(ActionFailure::refused(
            "this target is not a cloud resource",
        ))
    }
    /// The GCP client of the target's cluster (a node group or cloud resource target only).
    fn gcp(&mut self) -> Result<Arc<Gcp>, ActionFailure> {
        Err(ActionFailure::refused(
            "this target is not a cloud resource",
        ))
    }
    /// The Azure client of the target's cluster (a node group or cloud resource target only).
    fn azure(&mut self) -> Result<Arc<Azure>, ActionFailure> {
        Err(ActionFailure::refused(
            "this target is not a cloud resource",
        ))
    }
    /// Set by the first Ctrl-C: long waits end early.
    fn cancel(&self) -> &Cancel;
    /// The operator, for pauses.
    fn operator(&self) -> &dyn Operator;
    /// `--yes`: nobody is at the terminal.
    fn unattended(&self) -> bool;
    /// The step being run (for prompts and messages).
    fn step(&self) -> &str;
    /// A progress line for the operator (long waits), shown as a notice.
    fn notice(&self, message: &str);
    /// What an earlier attempt's apply recorded for this target and step (a resumed run): the
    /// `detail` of its journaled result, such as the id of an update still under way.
    fn earlier(&self) -> Option<&serde_json::Value> {
        None
    }
}

/// The engine's [`Context`]: opens the reach lazily, so a step that never calls the shell
/// (a refused guard rail) costs the target no login.
pub struct StepContext<'a> {
    pub target: &'a Target,
    pub step: &'a str,
    pub reach: &'a dyn Reach,
    pub timeout: Option<Duration>,
    pub cancel: &'a Cancel,
    pub operator: &'a dyn Operator,
    pub unattended: bool,
    pub notice: &'a (dyn Fn(&str) + Sync),
    earlier: Option<&'a serde_json::Value>,
    shell: Option<Box<dyn Node + Send>>,
}

impl<'a> StepContext<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        target: &'a Target,
        step: &'a str,
        reach: &'a dyn Reach,
        timeout: Option<Duration>,
        cancel: &'a Cancel,
        operator: &'a dyn Operator,
        unattended: bool,
        notice: &'a (dyn Fn(&str) + Sync),
    ) -> StepContext<'a> {
        StepContext {
            target,
            step,
            reach,
            timeout,
            cancel,
            operator,
            unattended,
            notice,
            earlier: None,
            shell: None,
        }
    }

    /// The same context with what an earlier attempt recorded (see [`Context::earlier`]).
    #[must_use]
    pub fn with_earlier(mut self, earlier: Option<&'a serde_json::Value>) -> StepContext<'a> {
        self.earlier = earlier;
        self
    }
}

impl Context for StepContext<'_> {
    fn target(&self) -> &Target {
        self.target
    }

    fn shell(&mut self) -> Result<&mut dyn Node, ActionFailure> {
        let Target::Host(host) = self.target else {
            return Err(ActionFailure::refused(format!(
                "step {} acts on {}, which has no shell",
                self.step, self.target
            )));
        };
        let shell = match self.shell.take() {
            Some(shell) => shell,
            None => self.reach.shell(host, self.timeout),
        };
        Ok(self.shell.insert(shell).as_mut())
    }

    fn etcd(&mut self) -> Result<Arc<Etcd>, ActionFailure> {
        match self.target {
            Target::EtcdKey { cluster, .. } => self.reach.etcd(cluster),
            other => Err(ActionFailure::refused(format!(
                "step {} acts on {other}, which is not in etcd",
                self.step
            ))),
        }
    }

    fn etcd_of(&mut self, cluster: &str) -> Result<Arc<Etcd>, ActionFailure> {
        self.reach.etcd(cluster)
    }

    fn kube(&mut self) -> Result<Arc<Kube>, ActionFailure> {
        match self.target {
            Target::KubeObject { cluster, .. } => self.reach.kube(cluster),
            other => Err(ActionFailure::refused(format!(
                "step {} acts on {other}, which is not a Kubernetes object",
                self.step
            ))),
        }
    }

    fn aws(&mut self) -> Result<Arc<Aws>, ActionFailure> {
        match self.target {
            Target::NodeGroup { cluster, .. } | Target::Cloud { cluster, .. } => {
                self.reach.aws(cluster)
            }
            other => Err(ActionFailure::refused(format!(
                "step {} acts on {other}, which is not a cloud resource",
                self.step
            ))),
        }
    }

    fn gcp(&mut self) -> Result<Arc<Gcp>, ActionFailure> {
        match self.target {
            Target::NodeGroup { cluster, .. } | Target::Cloud { cluster, .. } => {
                self.reach.gcp(cluster)
            }
            other => Err(ActionFailure::refused(format!(
                "step {} acts on {other}, which is not a cloud resource",
                self.step
            ))),
        }
    }

    fn azure(&mut self) -> Result<Arc<Azure>, ActionFailure> {
        match self.target {
            Target::NodeGroup { cluster, .. } | Target::Cloud { cluster, .. } => {
                self.reach.azure(cluster)
            }
            other => Err(ActionFailure::refused(format!(
                "step {} acts on {other}, which is not a cloud resource",
                self.step
            ))),
        }
    }

    fn cancel(&self) -> &Cancel {
        self.cancel
    }

    fn operator(&self) -> &dyn Operator {
        self.operator
    }

    fn unattended(&self) -> bool {
        self.unattended
    }

    fn step(&self) -> &str {
        self.step
    }

    fn notice(&self, message: &str) {
        (self.notice)(message);
    }

    fn earlier(&self) -> Option<&serde_json::Value> {
        self.earlier
    }
}

/// In unit tests a canned shell is a whole context: actions are tested against it directly
/// (`action.apply(&mut canned, ..)`), with nobody at the terminal and nothing cancelled.
#[cfg(test)]
impl<T: Node> Context for T {
    fn target(&self) -> &Target {
        static TEST_TARGET: Target = Target::Operator;
        &TEST_TARGET
    }

    fn shell(&mut self) -> Result<&mut dyn Node, ActionFailure> {
        Ok(self)
    }

    fn cancel(&self) -> &Cancel {
        static NEVER: std::sync::OnceLock<Cancel> = std::sync::OnceLock::new();
        NEVER.get_or_init(Cancel::new)
    }

    fn operator(&self) -> &dyn Operator {
        &NoOperator
    }

    fn unattended(&self) -> bool {
        true
    }

    #[allow(clippy::unnecessary_literal_bound)] // the trait's real contexts borrow theirs
    fn step(&self) -> &str {
        "test"
    }

    fn notice(&self, _message: &str) {}
}

/// Nobody at the terminal: declines everything (tests, and `plan`'s read-only look at its
/// objects).
pub struct NoOperator;

impl Operator for NoOperator {
    fn confirm(&self, _step: &str, _what: &str, _expected: &str) -> bool {
        false
    }

    fn pause(&self, _step: &str, _message: &str) -> bool {
        false
    }
}
