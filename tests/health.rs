//! `breakglass health CLUSTER` end to end: the built binary against the lab's API server
//! stand-in (by IP, TLS name `kubernetes.default.svc`, CA from the kubeconfig), Debian's etcd
//! (client certificates) and a loopback sshd as the control-plane host; then with etcd stopped,
//! and with the API endpoint replaced by a closed port.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use breakglass::commands::health::{CheckKind, HealthCheck, HealthLine, HealthSummary};
use breakglass::lab::apiserver::ApiServer;
use breakglass::lab::etcd::EtcdServer;

use crate::support::fleet::Fleet;
use crate::support::{Ran, Scratch};

const TLS_NAME: &str = "kubernetes.default.svc";

struct Env {
    etcd: Option<EtcdServer>,
    api: ApiServer,
    fleet: Fleet,
    etcd_endpoint: SocketAddr,
}

impl Env {
    fn new() -> Env {
        let etcd = EtcdServer::start().expect("etcd (apt-get install etcd-server etcd-client)");
        let api = ApiServer::start(&etcd).expect("the API server stand-in");
        // Two hosts: node001 is the cluster's control plane, node002 a worker (not checked).
        let fleet = Fleet::new(67, 2);
        Env {
            etcd_endpoint: etcd.endpoint,
            etcd: Some(etcd),
            api,
            fleet,
        }
    }

    /// A kubeconfig carrying the stand-in's CA (the TLS name comes from the inventory).
    fn kubeconfig(&self) -> PathBuf {
        use base64::Engine as _;
        let ca = std::fs::read(&self.api.ca_file).expect("ca");
        let ca = base64::engine::general_purpose::STANDARD.encode(ca);
        self.fleet.scratch.write(
            "kubeconfig",
            &format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: lab\nclusters:\n- name: lab\n  \
                 cluster:\n    server: https://{TLS_NAME}:6443\n    certificate-authority-data: {ca}\n\
                 contexts:\n- name: lab\n  context:\n    cluster: lab\n    user: breakglass\n\
                 users:\n- name: breakglass\n  user:\n    token: {}\n",
                self.api.token
            ),
        )
    }

    /// The fleet's hosts in cluster `lab`, with `api` as its one API endpoint and the lab's
    /// etcd. The etcd client files are copied out of the server's directory, which goes with
    /// the server: a stopped etcd must fail the check by not answering, not by missing files.
    fn inventory(&self, name: &str, api: SocketAddr) -> PathBuf {
        let etcd = self.etcd.as_ref().expect("written while etcd runs");
        let f = &self.fleet;
        let copy = |from: &PathBuf, to: &str| {
            let to = f.scratch.path().join(to);
            std::fs::copy(from, &to).expect("copy an etcd client file");
            to
        };
        let (ca, cert, key) = (
            copy(&etcd.ca_file, "etcd-ca.crt"),
            copy(&etcd.cert_file, "etcd-client.crt"),
            copy(&etcd.key_file, "etcd-client.key"),
        );
        let mut text = format!(
            "[defaults]\nuser = \"{}\"\nport = {}\nidentity_files = [\"{}\"]\nknown_hosts = \"{}\"\n\
             connect_timeout = \"5s\"\n\n[clusters.lab]\napi_endpoints = [\"{api}\"]\n\
             tls_server_name = \"{TLS_NAME}\"\nkubeconfig = \"{}\"\netcd_endpoints = [\"{}\"]\n\
             etcd_ca_file = \"{}\"\netcd_cert_file = \"{}\"\netcd_key_file = \"{}\"\n\n",
            f.lab.user(),
            f.sshd.port(),
            f.lab.client_key().display(),
            f.known_hosts.display(),
            self.kubeconfig().display(),
            etcd.endpoint,
            ca.display(),
            cert.display(),
            key.display(),
        );
        for (i, addr) in f.sshd.addrs().iter().enumerate() {
            let role = if i == 0 { "control-plane" } else { "worker" };
            let _ = writeln!(
                text,
                "[[hosts]]\nname = \"node{:03}\"\naddress = \"{addr}\"\ncluster = \"lab\"\n\
                 labels = {{ role = \"{role}\" }}\n",
                i + 1
            );
        }
        f.scratch.write(name, &text)
    }

    fn health(&self, inventory: &PathBuf, json: bool) -> Ran {
        let mut bg = self
            .fleet
            .scratch
            .bg_with(inventory)
            .env("BREAKGLASS_NO_AGENT", "true");
        if json {
            bg = bg.args(["--output", "json"]);
        }
        // Generous: etcd's TLS handshake with client certificates on a loaded CI machine.
        bg.args(["health", "lab", "--max-latency", "5s"]).run()
    }
}

/// Every line read back as the documented type: the checks, then the summary.
fn read(ran: &Ran) -> (Vec<HealthCheck>, HealthSummary) {
    let mut lines: Vec<HealthLine> = ran
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a health line ({e}): {l}")))
        .collect();
    let Some(HealthLine::Summary(summary)) = lines.pop() else {
        panic!("the last line is not the summary:\n{}", ran.stdout);
    };
    let checks = lines
        .into_iter()
        .map(|l| match l {
            HealthLine::Check(c) => c,
            HealthLine::Summary(_) => panic!("two summaries:\n{}", ran.stdout),
        })
        .collect();
    (checks, summary)
}

#[test]
fn health_reports_api_etcd_and_ssh_and_names_what_fails() {
    let mut env = Env::new();
    let healthy = env.inventory("healthy.toml", env.api.endpoint);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let api_down = env.inventory("api-down.toml", closed);

    // Healthy: every check answered, each kind present, only the control-plane host over SSH.
    let ran = env.health(&healthy, true).code(0);
    let (checks, summary) = read(&ran);
    let names: Vec<String> = checks.iter().map(HealthCheck::name).collect();
    let api = env.api.endpoint;
    assert_eq!(
        names,
        vec![
            format!("api {api}/readyz"),
            format!("api {api}/livez"),
            format!("etcd {}", env.etcd_endpoint),
            "ssh node001".to_owned(),
        ],
        "{}",
        ran.stdout
    );
    assert!(checks.iter().all(|c| c.ok), "{}", ran.stdout);
    assert!(
        checks.iter().all(|c| c.latency_ms.is_some()),
        "{}",
        ran.stdout
    );
    assert!(
        checks
            .iter()
            .filter(|c| c.check == CheckKind::Api)
            .all(|c| c.status == Some(200)),
        "{}",
        ran.stdout
    );
    assert_eq!((summary.total, summary.ok, summary.failed), (4, 4, 0));
    assert_eq!((summary.cluster.as_str(), summary.exit_code), ("lab", 0));

    // The same as a table.
    env.health(&healthy, false)
        .code(0)
        .stdout_has("CHECK  TARGET")
        .stdout_has("ok (200)")
        .stdout_has("cluster lab: healthy (4 of 4 checks ok");

    // The API endpoint is a closed port: both of its paths fail, etcd and SSH still pass.
    let ran = env.health(&api_down, true).code(1);
    let (checks, summary) = read(&ran);
    assert_eq!(
        summary.failing,
        vec![
            format!("api {closed}/readyz"),
            format!("api {closed}/livez")
        ],
        "{}",
        ran.stdout
    );
    let failed = &checks[0];
    assert!(
        failed.status.is_none() && failed.detail.contains("onnect"),
        "{failed:?}"
    );
    assert_eq!((summary.ok, summary.exit_code), (2, 1));
    env.health(&api_down, false)
        .code(1)
        .stdout_has(&format!("NOT healthy, failing: api {closed}/readyz"));

    // etcd stopped: its check fails and is named; the API (which answers health without
    // etcd) and SSH still pass.
    drop(env.etcd.take());
    let ran = env.health(&healthy, true).code(1);
    let (checks, summary) = read(&ran);
    assert_eq!(
        summary.failing,
        vec![format!("etcd {}", env.etcd_endpoint)],
        "{}",
        ran.stdout
    );
    let etcd = checks
        .iter()
        .find(|c| c.check == CheckKind::Etcd)
        .expect("an etcd check");
    assert!(!etcd.ok && etcd.detail.contains("onnect"), "{etcd:?}");
}

#[test]
fn health_of_an_unknown_cluster_is_a_usage_error() {
    let s = Scratch::new();
    let inventory = s.write(
        "inventory.toml",
        "[clusters.lab]\napi_endpoints = [\"127.0.0.1:6443\"]\n",
    );
    s.bg_with(&inventory)
        .args(["health", "nope"])
        .run()
        .code(2)
        .stderr_has("has no cluster 'nope' (it has: lab)");
}
