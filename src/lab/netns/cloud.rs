//! The lab's cloud ([`LabSpec::node_groups`]): its workers belong to Auto Scaling groups of a
//! real `moto_server`, and a controller stops and starts them as the groups' capacity changes,
//! so `nodes.scale` really removes nodes (and the agents they run) and `undo` brings them back.
//!
//! - moto listens at `.2:5000` of the lab's subnet, in a namespace of its own (`bglab-ID-cloud`)
//!   bridged to the nodes like the operator: the lab's AWS endpoint, found and stopped with the
//!   rest of the lab's processes;
//! - the workers are split into `lab-ng-1..` groups of consecutive workers (min 0, max and
//!   desired the group's size), made with boto3 (not breakglass's client);
//! - the account's keys are in `DIR/aws/{config,credentials}` (profile `breakglass-lab`), which
//!   the inventory's `[clusters.lab.aws]` names, so nothing in the operator's environment or
//!   `~/.aws` is read or written;
//! - [`NodeGroupController`]: every 250 ms one `DescribeAutoScalingGroups` for all the groups;
//!   a group with N instances in service runs its first N workers. A stopped node is what a
//!   terminated instance is to the fleet: its init is killed (the kernel kills every process of
//!   its PID namespace, so its sshd, kubelet and agents go, their connections closed), and its
//!   address answers nothing. Started again, it boots as a fresh instance of the same name,
//!   address and host key: `/run`'s pid files and transient timers are gone, the kubelet starts.
//!   Which instance a scale-in removes is the cloud's choice; here it is the group's last.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};

use super::network::ip_batch;
use super::node::{Node, NodePlan, Role};
use super::tools::kill;
use super::{Lab, NS_PREFIX, lock};
use crate::lab::moto::{Moto, REGION};
use crate::transport::cloud::aws::{Aws, AwsConfig};
use crate::transport::rate::{Budget, RateLimiter};

/// The cloud namespace's host number in the lab's subnet.
const CLOUD_HOST: u16 = 2;
const MOTO_PORT: u16 = 5000;
/// The profile of the lab's own AWS files.
pub const AWS_PROFILE: &str = "breakglass-lab";
/// How often the controller reads the groups.
const POLL: Duration = Duration::from_millis(250);
/// Nodes started at once when a group grows.
const START_THREADS: usize = 8;

/// One node group of the lab.
#[derive(Debug, Clone)]
pub struct LabNodeGroup {
    /// The inventory's name, `ng-1`.
    pub name: String,
    /// The Auto Scaling group, `lab-ng-1`.
    pub asg: String,
    /// Its workers, in the order they stay: a group of N runs the first N.
    pub members: Vec<String>,
}

/// The lab's cloud: moto and the groups.
#[derive(Debug)]
pub(super) struct Cloud {
    moto: Moto,
    pub(super) groups: Vec<LabNodeGroup>,
    /// `DIR/aws/config` and `DIR/aws/credentials`.
    config_file: PathBuf,
    credentials_file: PathBuf,
}

/// Splits `workers` into `groups` groups of consecutive workers, the first ones larger.
fn split(workers: &[String], groups: usize) -> Vec<LabNodeGroup> {
    let groups = groups.clamp(1, workers.len().max(1));
    let mut out = Vec::new();
    let mut rest = workers;
    for i in 0..groups {
        let size = rest.len().div_ceil(groups - i);
        let (members, tail) = rest.split_at(size);
        out.push(LabNodeGroup {
            name: format!("ng-{}", i + 1),
            asg: format!("lab-ng-{}", i + 1),
            members: members.to_vec(),
        });
        rest = tail;
    }
    out
}

impl Lab {
    /// The cloud namespace, moto in it, the groups and the account's files. After the network.
    pub(super) fn start_cloud(&mut self, groups: usize, plans: &[NodePlan]) -> anyhow::Result<()> {
        let workers: Vec<String> = plans
            .iter()
            .filter(|p| p.role == Role::Worker)
            .map(|p| p.name.clone())
            .collect();
        if groups == 0 || workers.is_empty() {
            return Ok(());
        }
        let groups = split(&workers, groups);
        let netns = format!("{NS_PREFIX}{}-cloud", self.id);
        self.namespaces.push(netns.clone());
        let veth = format!("c-{}", self.id);
        ip_batch(
            &self.tools,
            None,
            &format!(
                "netns add {netns}\nlink add {veth} netns {hub} type veth peer name eth0 netns {netns}\n",
                hub = self.hub
            ),
            false,
        )
        .context("creating the lab's cloud namespace")?;
        ip_batch(
            &self.tools,
            Some(&self.hub),
            &format!("link set {veth} master br-{} up\n", self.id),
            false,
        )
        .context("bridging the lab's cloud namespace")?;
        let address = self.cloud_address();
        ip_batch(
            &self.tools,
            Some(&netns),
            &format!(
                "link set lo up\naddr add {address}/{} dev eth0\nlink set eth0 up\n",
                self.prefix
            ),
            false,
        )
        .context("addressing the lab's cloud namespace")?;
        let moto = Moto::start_in(&self.tools.nsenter, &netns, address, MOTO_PORT)
            .context("starting moto_server in the lab's cloud namespace")?;
        let mut script = String::from(
            "asg.create_launch_configuration(LaunchConfigurationName='lab-node', \
             ImageId='ami-12c6146b', InstanceType='t3.micro')\n",
        );
        for g in &groups {
            let _ = writeln!(
                script,
                "asg.create_auto_scaling_group(AutoScalingGroupName={asg:?}, \
                 LaunchConfigurationName='lab-node', MinSize=0, MaxSize={n}, DesiredCapacity={n}, \
                 AvailabilityZones=['{REGION}a'], Tags=[{{'Key': 'breakglass-lab/node-group', \
                 'Value': {name:?}, 'PropagateAtLaunch': True}}])",
                asg = g.asg,
                name = g.name,
                n = g.members.len()
            );
        }
        moto.boto(&script, None)
            .context("creating the lab's Auto Scaling groups in moto")?;
        let aws_dir = self.dir.join("aws");
        fs::create_dir_all(&aws_dir)?;
        let config_file = aws_dir.join("config");
        let credentials_file = aws_dir.join("credentials");
        fs::write(
            &config_file,
            format!("[profile {AWS_PROFILE}]\nregion = {REGION}\n"),
        )?;
        // moto checks no signature here: any key will do, but one is needed to sign.
        fs::write(
            &credentials_file,
            format!(
                "[{AWS_PROFILE}]\naws_access_key_id = AKIALABLABLABLABLAB0\n\
                 aws_secret_access_key = breakglass-lab-not-a-secret\n"
            ),
        )?;
        fs::set_permissions(&credentials_file, fs::Permissions::from_mode(0o600))?;
        self.cloud = Some(Cloud {
            moto,
            groups,
            config_file,
            credentials_file,
        });
        Ok(())
    }

    fn cloud_address(&self) -> Ipv4Addr {
        self.host_address(CLOUD_HOST)
    }

    /// The lab's node groups (none without [`LabSpec::node_groups`](super::LabSpec)).
    pub fn node_groups(&self) -> &[LabNodeGroup] {
        self.cloud.as_ref().map_or(&[], |c| c.groups.as_slice())
    }

    /// The node group a worker belongs to.
    pub fn node_group_of(&self, node: &str) -> Option<&LabNodeGroup> {
        self.node_groups()
            .iter()
            .find(|g| g.members.iter().any(|m| m == node))
    }

    /// The lab's AWS endpoint (moto), when it has node groups.
    pub fn aws_endpoint(&self) -> Option<&str> {
        self.cloud.as_ref().map(|c| c.moto.endpoint.as_str())
    }

    /// moto, for tests that read the groups with boto3.
    pub fn moto(&self) -> Option<&Moto> {
        self.cloud.as_ref().map(|c| &c.moto)
    }

    /// `[clusters.NAME.aws]` for the inventory, when the lab has node groups.
    pub(super) fn aws_inventory_table(&self, cluster: &str) -> Option<String> {
        let c = self.cloud.as_ref()?;
        let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
        let groups: Vec<String> = c
            .groups
            .iter()
            .map(|g| format!("{{ name = {}, asg = {} }}", q(&g.name), q(&g.asg)))
            .collect();
        Some(format!(
            "\n[clusters.{cluster}.aws]\nregion = {}\nendpoint = {}\nprofile = {}\n\
             config_file = {}\ncredentials_file = {}\nnode_groups = [{}]\n",
            q(REGION),
            q(&c.moto.endpoint),
            q(AWS_PROFILE),
            q(&c.config_file.to_string_lossy()),
            q(&c.credentials_file.to_string_lossy()),
            groups.join(", ")
        ))
    }

    /// Stops nodes as terminated instances stop: every process of each killed at once, all of
    /// them together (a group's scale-in terminates its instances in parallel; one at a time,
    /// a thousand-node lab lagged the cloud's view by half a minute). Per node: whether it
    /// was stopped now (false: it was stopped already), or why it could not be.
    pub fn stop_nodes(&self, names: &[String]) -> Vec<(String, anyhow::Result<bool>)> {
        let mut results = Vec::new();
        let mut killed = Vec::new();
        for name in names {
            match self.node_or_err(name) {
                Err(e) => results.push((name.clone(), Err(e))),
                Ok(node) => match node.init_pid() {
                    None => results.push((name.clone(), Ok(false))),
                    Some(pid) => {
                        node.init.store(0, Ordering::SeqCst);
                        killed.push((node, pid));
                    }
                },
            }
        }
        kill(
            &self.tools,
            &killed
                .iter()
                .map(|(_, pid)| pid.to_string())
                .collect::<Vec<_>>(),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while killed.iter().any(|(_, pid)| proc_exists(*pid)) && Instant::now() < deadline {
            // Their parents (unshare) reap them; reap those in turn.
            self.reap_inits();
            thread::sleep(Duration::from_millis(10));
        }
        self.reap_inits();
        for (node, pid) in killed {
            let result = if proc_exists(pid) && !is_zombie(pid) {
                Err(anyhow!(
                    "node {}: its init (host PID {pid}) outlived SIGKILL by 10s",
                    node.name
                ))
            } else {
                Self::clear_instance_state(node).map(|()| true)
            };
            results.push((node.name.clone(), result));
        }
        results
    }

    /// What a new instance does not have: /run is a tmpfs on a real node, and no container
    /// survives its instance.
    fn clear_instance_state(node: &Node) -> anyhow::Result<()> {
        let state = node.dir.join("run/breakglass-lab");
        super::pods::write_pods(&state, &[])
            .with_context(|| format!("node {}: clearing its pods", node.name))?;
        if let Ok(entries) = fs::read_dir(&state) {
            for e in entries.flatten() {
                let path = e.path();
                if path.extension().is_some_and(|x| x == "pid") {
                    let _ = fs::remove_file(&path);
                }
            }
        }
        let _ = fs::remove_dir_all(state.join("transient"));
        let _ = fs::remove_file(state.join("kubelet.watch"));
        Ok(())
    }

    /// Starts a stopped node again (a new instance of the same name, address and host key)
    /// and waits for its sshd. False when it was running.
    pub fn start_node_again(&self, name: &str) -> anyhow::Result<bool> {
        let node = self.node_or_err(name)?;
        if node.init_pid().is_some() {
            return Ok(false);
        }
        let plan = self
            .plans
            .iter()
            .find(|p| p.name == name)
            .with_context(|| format!("lab {} has no plan for node {name}", self.id))?;
        let pid = self
            .spawn_init(plan, &self.spec, &node.dir)
            .with_context(|| format!("node {name}: starting it again"))?;
        node.init.store(pid, Ordering::SeqCst);
        super::node::wait_listening(node.ssh_addr(), Instant::now() + super::node::READY_TIMEOUT)
            .with_context(|| format!("node {name}: sshd after a restart"))?;
        Ok(true)
    }

    /// Waits until every node runs (the controller starts what a group grew back to); the
    /// nodes still stopped at the deadline.
    pub fn wait_all_running(&self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let stopped: Vec<String> = self
                .nodes
                .iter()
                .filter(|n| n.init_pid().is_none())
                .map(|n| n.name.clone())
                .collect();
            if stopped.is_empty() || Instant::now() >= deadline {
                return stopped;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Reaps the node inits' parents that have exited (stopped nodes).
    fn reap_inits(&self) {
        lock(&self.inits).retain_mut(|c| matches!(c.try_wait(), Ok(None)));
    }

    /// Runs the first N workers of each group with N instances in service, stopping and
    /// starting the rest; what changed, one line per node.
    pub fn apply_group_sizes(&self, in_service: &BTreeMap<String, u32>) -> Vec<String> {
        let mut stop = Vec::new();
        let mut start = Vec::new();
        for g in self.node_groups() {
            let Some(n) = in_service.get(&g.asg) else {
                continue;
            };
            let n = usize::try_from(*n)
                .unwrap_or(usize::MAX)
                .min(g.members.len());
            for (i, m) in g.members.iter().enumerate() {
                let running = self.node(m).is_some_and(|x| x.init_pid().is_some());
                if i < n && !running {
                    start.push(m.clone());
                } else if i >= n && running {
                    stop.push(m.clone());
                }
            }
        }
        stop.reverse();
        let mut changes = Vec::new();
        for (m, result) in self.stop_nodes(&stop) {
            match result {
                Ok(_) => changes.push(format!("stopped {m}")),
                Err(e) => changes.push(format!("could not stop {m}: {e:#}")),
            }
        }
        let results = std::sync::Mutex::new(Vec::new());
        let next = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..start.len().min(START_THREADS) {
                s.spawn(|| {
                    while let Some(m) = start.get(next.fetch_add(1, Ordering::SeqCst)) {
                        let line = match self.start_node_again(m) {
                            Ok(_) => format!("started {m}"),
                            Err(e) => format!("could not start {m}: {e:#}"),
                        };
                        lock(&results).push(line);
                    }
                });
            }
        });
        changes.extend(lock(&results).drain(..));
        changes
    }
}

fn proc_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn is_zombie(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(") ")
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|x| x == "Z"))
        })
        .unwrap_or(true)
}

/// Follows the lab's groups until dropped: see the module's doc. Writes what it does to
/// `DIR/cloud.log`.
pub struct NodeGroupController {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for NodeGroupController {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl NodeGroupController {
    /// Starts following `lab`'s groups; None when it has none. Holds the lab only while it
    /// changes it, so the lab can be torn down once this is dropped.
    pub fn start(lab: &Arc<Lab>) -> anyhow::Result<Option<NodeGroupController>> {
        let Some(cloud) = lab.cloud.as_ref() else {
            return Ok(None);
        };
        let config = AwsConfig {
            cluster: super::CLUSTER_NAME.to_owned(),
            region: Some(REGION.to_owned()),
            endpoint: Some(cloud.moto.endpoint.clone()),
            profile: Some(AWS_PROFILE.to_owned()),
            config_file: Some(cloud.config_file.clone()),
            credentials_file: Some(cloud.credentials_file.clone()),
            timeout: Duration::from_secs(5),
            deadline: Duration::from_secs(10),
        };
        let aws = Aws::new(
            config,
            Arc::new(RateLimiter::new(0.0)),
            Arc::new(Budget::new(usize::MAX)),
        )
        .context("the lab controller's AWS client")?;
        let names: Vec<String> = cloud.groups.iter().map(|g| g.asg.clone()).collect();
        let log_path = lab.dir.join("cloud.log");
        let weak: Weak<Lab> = Arc::downgrade(lab);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("the lab controller's runtime")?;
        let thread = thread::Builder::new()
            .name("lab-node-groups".into())
            .spawn(move || {
                let mut log = fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log_path)
                    .ok();
                let mut last_error = String::new();
                while !stopping.load(Ordering::SeqCst) {
                    thread::sleep(POLL);
                    let groups = runtime.block_on(aws.describe_auto_scaling_groups(&names));
                    let Some(lab) = weak.upgrade() else { break };
                    let line = match groups {
                        Ok(groups) => {
                            last_error.clear();
                            let sizes: BTreeMap<String, u32> =
                                groups.into_iter().map(|g| (g.name, g.in_service)).collect();
                            let changes = lab.apply_group_sizes(&sizes);
                            (!changes.is_empty())
                                .then(|| format!("{sizes:?}: {}", changes.join(", ")))
                        }
                        Err(e) => {
                            let e = e.to_string();
                            (e != last_error).then(|| {
                                last_error.clone_from(&e);
                                format!("reading the groups: {e}")
                            })
                        }
                    };
                    if let (Some(line), Some(log)) = (line, log.as_mut()) {
                        let _ = writeln!(
                            log,
                            "{} {line}",
                            humantime::format_rfc3339_millis(std::time::SystemTime::now())
                        );
                    }
                }
            })
            .context("starting the lab controller")?;
        Ok(Some(NodeGroupController {
            stop,
            thread: Some(thread),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn workers_split_into_groups_of_consecutive_workers_the_first_larger() {
        let workers: Vec<String> = (1..=7).map(|i| format!("worker{i}")).collect();
        let groups = split(&workers, 3);
        let sizes: Vec<usize> = groups.iter().map(|g| g.members.len()).collect();
        assert_eq!(sizes, [3, 2, 2]);
        assert_eq!(groups[1].members, ["worker4", "worker5"]);
        assert_eq!(groups[2].asg, "lab-ng-3");
        // More groups than workers: one worker each.
        assert_eq!(split(&workers[..2], 5).len(), 2);
    }
}
