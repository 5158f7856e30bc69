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
/// The agent runner's settings on incident labs: request loops per agent pod, pause between lists.
const INCIDENT_AGENTS: &str = "LOOPS=3\nPAUSE=0.05\n";
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
        if spec.incident {
            fs::write(kube.join("lab-agents"), INCIDENT_AGENTS)?;
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
