//! The stand-ins (the programs in `src/lab/standins/`) and their files: installing them for a
//! lab with its CA, writing each node's Kubernetes files (`kubelet.conf`, and on control planes
//! the API server's manifest and certificate), and asking them what they do (the kubelet's
//! state, the manifest, a node posing as systemd).
//!
//! The stand-ins follow the real programs' documented command lines but are not them; nothing
//! here starts one (`node.rs` does, through `node-init.sh`).

use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};

use super::node::{NodePlan, Role};
use super::tools::run;
use super::{CLUSTER_NAME, Lab, LabSpec, TLS_SERVER_NAME, random_hex};

/// The kubelet stand-in's watch counts as connected while its last event is this recent.
const KUBELET_WINDOW_SECS: f64 = 3.0;

const MANIFEST_TEMPLATE: &str = include_str!("../standins/kube-apiserver.yaml");
/// The in-flight limits in the manifest template, and what an incident lab puts instead: a
/// small cluster's limits and the stand-in's load model (see `standins/kube-apiserver.py`).
const MANIFEST_LIMITS: &str =
    "    - --max-mutating-requests-inflight=200\n    - --max-requests-inflight=400\n";
const INCIDENT_LIMITS: &str = "    - --max-mutating-requests-inflight=20\n    - --max-requests-inflight=40\n\
    - --lab-list-cost=10\n    - --lab-cpus=2\n    - --lab-queue-wait=1\n    - --lab-ready-stretch=4\n\
    - --lab-stats-file=/run/breakglass-lab/apiserver-stats.json\n";
/// What the stand-ins of every node may spend, by lab size. A big lab's nodes share this
/// machine's cores with its API servers, so the periodic work that grows with the number of
/// nodes is paced to stay about constant in total; the incident's load on the API servers
/// (LIST cost grows with the number of nodes) still grows with the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NodePace {
    /// The kubelet stand-in's `syncFrequency` (its `DaemonSet` loop), in seconds: 1 s up to 100
    /// workers, then one second more per 100 (about 100 `DaemonSet` LISTs a second in all).
    pub kubelet_sync_secs: usize,
    /// Request loops per telemetry-agent pod: 3, fewer above 500 workers so that the lab holds
    /// at most about 1500 (what 500 workers ran here); the API server saturates long before.
    pub agent_loops: usize,
    /// How often each agent runner reads its node's pods, in milliseconds: 250, longer above
    /// 250 workers (about 1000 reads a second in all).
    pub agent_poll_ms: usize,
}

impl NodePace {
    pub(super) fn for_workers(workers: usize) -> NodePace {
        let workers = workers.max(1);
        NodePace {
            kubelet_sync_secs: workers.div_ceil(100),
            agent_loops: (1500 / workers).clamp(1, 3),
            agent_poll_ms: workers.max(250),
        }
    }

    /// The kubelet's `KubeletConfiguration` (`/etc/kubernetes/kubelet-config.yaml`).
    fn kubelet_config(&self) -> String {
        format!(
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n\
             syncFrequency: {}s\n",
            self.kubelet_sync_secs
        )
    }

    /// The agent runner's settings on incident labs (`/etc/kubernetes/lab-agents`): request
    /// loops per agent pod, pause between lists, how often it reads the node's pods.
    fn incident_agents(&self) -> String {
        format!(
            "LOOPS={}\nPAUSE=0.05\nPOLL={}.{:03}\n",
            self.agent_loops,
            self.agent_poll_ms / 1000,
            self.agent_poll_ms % 1000
        )
    }
}
const KUBELET_CONF_TEMPLATE: &str = include_str!("../standins/kubelet.conf");

/// Programs installed in every node's `/usr/local/bin` (first on PATH for SSH sessions).
const STANDINS: &[(&str, &str)] = &[
    (
        "kube-apiserver",
        include_str!("../standins/kube-apiserver.py"),
    ),
    ("kubelet", include_str!("../standins/kubelet.py")),
    ("crictl", include_str!("../standins/crictl.py")),
    ("systemctl", include_str!("../standins/systemctl.sh")),
    ("systemd-run", include_str!("../standins/systemd-run.sh")),
    ("containerd", include_str!("../standins/containerd.sh")),
    (
        "breakglass-lab-init",
        include_str!("../standins/lab-init.sh"),
    ),
    ("breakglass-lab-net", include_str!("../standins/lab-net.py")),
    (
        "breakglass-lab-agents",
        include_str!("../standins/lab-agents.py"),
    ),
];

impl Lab {
    /// The stand-ins, the plain `.bashrc`, the CA and the OpenSSL config.
    pub(super) fn install_files(&self) -> anyhow::Result<()> {
        let bin = self.dir.join("bin");
        fs::create_dir_all(&bin)?;
        let shebang = format!("#!{}\n", self.tools.python.display());
        for (name, text) in STANDINS {
            let path = bin.join(name);
            // Python stand-ins run with the interpreter found at build time: a pyenv shim on
            // PATH costs ~100 ms per start, and nodes do not have the operator's PATH anyway.
            let text = match text.strip_prefix("#!/usr/bin/python3\n") {
                Some(rest) => format!("{shebang}{rest}"),
                None => (*text).to_owned(),
            };
            fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
        }
        fs::write(
            self.dir.join("bashrc"),
            "# breakglass lab node: a stock ~/.bashrc. The host's may run slow tools (pyenv\n\
             # init) on every SSH command; real nodes do not.\n",
        )?;
        fs::write(
            self.dir.join("openssl.cnf"),
            "[req]\ndistinguished_name = dn\n[dn]\n\
             [ext_ca]\nbasicConstraints = critical,CA:TRUE\n\
             keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n",
        )?;
        let subject = format!("/CN=breakglass lab {} CA", self.id);
        self.openssl(
            "creating the lab CA",
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "7",
                "-subj",
                &subject,
                "-extensions",
                "ext_ca",
            ],
            &[
                ("-config", self.dir.join("openssl.cnf")),
                ("-keyout", self.dir.join("ca.key")),
                ("-out", self.ca_cert().to_path_buf()),
            ],
        )
    }

    fn openssl(&self, what: &str, args: &[&str], paths: &[(&str, PathBuf)]) -> anyhow::Result<()> {
        let mut cmd = Command::new(&self.tools.openssl);
        cmd.args(args);
        for (flag, path) in paths {
            cmd.arg(flag).arg(path);
        }
        run(&mut cmd).with_context(|| what.to_owned())?;
        Ok(())
    }

    pub(super) fn write_kubernetes_files(
        &self,
        plan: &NodePlan,
        spec: &LabSpec,
        dir: &Path,
        address: Ipv4Addr,
        api_server: Ipv4Addr,
    ) -> anyhow::Result<()> {
        let kube = dir.join("etc-kubernetes");
        // kubeadm creates the manifests directory on every node; only control planes fill it.
        fs::create_dir_all(kube.join("manifests"))?;
        fs::create_dir_all(kube.join("pki"))?;
        fs::copy(self.ca_cert(), kube.join("pki/ca.crt"))?;
        let conf = KUBELET_CONF_TEMPLATE
            .replace("{{SERVER}}", &api_server.to_string())
            .replace("{{TLS_SERVER_NAME}}", TLS_SERVER_NAME)
            .replace("{{CLUSTER}}", CLUSTER_NAME)
            .replace("{{NODE}}", &plan.name);
        fs::write(kube.join("kubelet.conf"), conf)?;
        // The labels the kubelet stand-in registers its Node with and matches DaemonSets'
        // nodeSelectors against (the real kubelet's --node-labels).
        let mut labels = format!(
            "kubernetes.io/hostname={}\nkubernetes.io/os=linux\nrole={}\n",
            plan.name,
            plan.role.label()
        );
        if plan.role == Role::ControlPlane {
            labels.push_str("node-role.kubernetes.io/control-plane=\n");
        }
        fs::write(kube.join("node-labels"), labels)?;
        let pace = NodePace::for_workers(spec.workers);
        fs::write(kube.join("kubelet-config.yaml"), pace.kubelet_config())?;
        if spec.incident {
            fs::write(kube.join("lab-agents"), pace.incident_agents())?;
        }
        if plan.role != Role::ControlPlane {
            return Ok(());
        }
        // With API objects, an etcd member on every control plane, each API server using its
        // own through loopback (`objects.rs`).
        let members = self.etcd_members(spec);
        if !members.is_empty() {
            self.write_etcd_node_files(&kube, &plan.name, address, &members)?;
        }
        let mut manifest = MANIFEST_TEMPLATE
            .replace("{{ADDRESS}}", &address.to_string())
            .replace("{{ETCD}}", &Ipv4Addr::LOCALHOST.to_string());
        if spec.incident {
            manifest = manifest.replace(MANIFEST_LIMITS, INCIDENT_LIMITS);
        }
        fs::write(kube.join("manifests/kube-apiserver.yaml"), manifest)?;
        let san = format!(
            "[ext_server]\nbasicConstraints = critical,CA:FALSE\n\
             keyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n\
             subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid,issuer\n\
             subjectAltName = IP:{address}, IP:10.96.0.1, DNS:{TLS_SERVER_NAME}, \
             DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc.cluster.local, \
             DNS:{name}\n",
            name = plan.name
        );
        let tmp = dir.join("apiserver-cert");
        fs::create_dir_all(&tmp)?;
        fs::write(tmp.join("ext.cnf"), san)?;
        self.openssl(
            "creating the API server key",
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                "/CN=kube-apiserver",
            ],
            &[
                ("-config", self.dir.join("openssl.cnf")),
                ("-keyout", kube.join("pki/apiserver.key")),
                ("-out", tmp.join("apiserver.csr")),
            ],
        )?;
        let serial = format!("0x{}", random_hex(16));
        self.openssl(
            "signing the API server certificate",
            &[
                "x509",
                "-req",
                "-days",
                "7",
                "-set_serial",
                &serial,
                "-extensions",
                "ext_server",
            ],
            &[
                ("-in", tmp.join("apiserver.csr")),
                ("-CA", self.ca_cert().to_path_buf()),
                ("-CAkey", self.dir.join("ca.key")),
                ("-extfile", tmp.join("ext.cnf")),
                ("-out", kube.join("pki/apiserver.crt")),
            ],
        )?;
        fs::remove_dir_all(&tmp)?;
        Ok(())
    }

    /// Makes `node` look like a systemd host to breakglass from now on: its PID 1 renames itself
    /// `systemd` (`/proc/1/comm`, what breakglass checks), so breakglass arms its dead-man timers
    /// with `systemd-run` there, as on a real node, and the `systemd-run` stand-in (which
    /// refuses on nodes whose PID 1 is not `systemd`) and `systemctl` stand-in run and cancel
    /// them. It is still not systemd: see `standins/systemd-run.sh`. There is no way back
    /// short of a new lab.
    pub fn pose_as_systemd(&self, node: &str) -> anyhow::Result<()> {
        let node = self.node_or_err(node)?;
        let Some(init) = node.init_pid() else {
            bail!("node {} is stopped", node.name);
        };
        let comm = format!("/proc/{init}/comm");
        let pid = init.to_string();
        // The init renames itself on SIGUSR1. Sent until it took: right after the build, the
        // init may still be the setup shell, or Python not yet have its handler (PID 1 of a
        // namespace drops signals it has no handler for).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let _ = Command::new(&self.tools.kill)
                .args(["-s", "USR1", &pid])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            thread::sleep(Duration::from_millis(20));
            match fs::read_to_string(&comm) {
                Ok(name) if name.trim_end() == "systemd" => return Ok(()),
                Ok(_) if Instant::now() < deadline => {}
                Ok(name) => bail!(
                    "node {}: its init (host PID {pid}) is still named {:?} 10s after SIGUSR1",
                    node.name,
                    name.trim_end()
                ),
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("node {}: reading {comm} (is its init gone?)", node.name)
                    });
                }
            }
        }
    }

    /// Whether a process named `kubelet` runs on the node (`pgrep -x kubelet` in its PID
    /// namespace).
    pub fn kubelet_running(&self, node: &str) -> anyhow::Result<bool> {
        Ok(self
            .sh(node, "pgrep -x kubelet >/dev/null")?
            .status
            .success())
    }

    /// SSH logins the node's sshd accepted so far (its log's `Accepted publickey` lines, kept
    /// across restarts): what a run cost the node, counted on the node's side.
    pub fn ssh_logins(&self, node: &str) -> anyhow::Result<u64> {
        let path = self
            .node_or_err(node)?
            .dir
            .join("run/breakglass-lab/sshd.log");
        let text = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(text
            .split(|b| *b == b'\n')
            .filter(|l| l.windows(18).any(|w| w == b"Accepted publickey"))
            .count() as u64)
    }

    /// Whether the node's kubelet stand-in received a watch event in the last 3 seconds.
    pub fn kubelet_watch_connected(&self, node: &str) -> anyhow::Result<bool> {
        let path = self.node_file(node, "/run/breakglass-lab/kubelet.watch")?;
        let Ok(text) = fs::read_to_string(&path) else {
            return Ok(false);
        };
        let mut fields = text.split_whitespace();
        let (Some("connected"), Some(_server), Some(ts)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Ok(false);
        };
        let ts: f64 = ts.parse().unwrap_or(0.0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        Ok(now - ts < KUBELET_WINDOW_SECS)
    }

    /// The bytes of `/etc/kubernetes/manifests/kube-apiserver.yaml` on the node.
    pub fn manifest(&self, node: &str) -> anyhow::Result<Vec<u8>> {
        let path = self.node_file(node, "/etc/kubernetes/manifests/kube-apiserver.yaml")?;
        fs::read(&path).with_context(|| format!("reading {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::NodePace;

    #[test]
    fn a_big_labs_stand_ins_are_paced_to_about_constant_total_work() {
        let small = NodePace::for_workers(20);
        assert_eq!(
            small,
            NodePace {
                kubelet_sync_secs: 1,
                agent_loops: 3,
                agent_poll_ms: 250
            }
        );
        assert_eq!(NodePace::for_workers(100), small);
        assert_eq!(NodePace::for_workers(500).agent_loops, 3);
        let big = NodePace::for_workers(1000);
        assert_eq!(big.kubelet_sync_secs, 10);
        assert_eq!(big.agent_loops, 1);
        assert_eq!(big.agent_poll_ms, 1000);
        for workers in [1, 50, 101, 200, 499, 501, 750, 1000] {
            let pace = NodePace::for_workers(workers);
            // About 100 DaemonSet LISTs and 1000 pod reads a second in all, at most.
            assert!(
                workers <= 100 * pace.kubelet_sync_secs,
                "{workers}: {pace:?}"
            );
            assert!(
                workers * 1000 <= 1000 * pace.agent_poll_ms || pace.agent_poll_ms == 250,
                "{workers}: {pace:?}"
            );
            assert!(pace.agent_loops * workers <= 1500 || pace.agent_loops == 1);
        }
        assert!(
            NodePace::for_workers(1000)
                .kubelet_config()
                .contains("\nsyncFrequency: 10s\n")
        );
        assert!(
            NodePace::for_workers(1000)
                .incident_agents()
                .contains("LOOPS=1\nPAUSE=0.05\nPOLL=1.000\n")
        );
    }
}
