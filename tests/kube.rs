//! The Kubernetes reach and `workload.pause` end to end: the built binary against the lab's API
//! server stand-in (`breakglass::lab::apiserver`, objects kept in Debian's etcd), reached by IP
//! with the TLS name set, through a kubeconfig's credentials.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use breakglass::lab::apiserver::ApiServer;
use breakglass::lab::etcd::EtcdServer;
use breakglass::lab::sshd::silent_listener;
use serde_json::{Value, json};

use crate::support::Scratch;

const DS_KEY: &str = "/registry/daemonsets/monitoring/telemetry-agent";
const DS_PATH: &str = "/apis/apps/v1/namespaces/monitoring/daemonsets/telemetry-agent";
/// The name the stand-in's certificate has, as a real API server's does.
const TLS_NAME: &str = "kubernetes.default.svc";

struct Env {
    _etcd: EtcdServer,
    api: ApiServer,
    scratch: Scratch,
}

impl Env {
    fn new() -> Env {
        let etcd = EtcdServer::start().expect("etcd (apt-get install etcd-server etcd-client)");
        let api = ApiServer::start(&etcd).expect("the API server stand-in");
        ApiServer::seed(
            &etcd,
            DS_KEY,
            json!({
                "apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": {"name": "telemetry-agent", "namespace": "monitoring"},
                "spec": {"template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}}}}
            }),
        )
        .expect("seed the DaemonSet");
        Env {
            _etcd: etcd,
            api,
            scratch: Scratch::new(),
        }
    }

    /// A kubeconfig whose user is `user` (YAML), with the stand-in's CA inline.
    fn kubeconfig(&self, user: &str) -> PathBuf {
        use base64::Engine as _;
        let ca = std::fs::read(&self.api.ca_file).expect("ca");
        let ca = base64::engine::general_purpose::STANDARD.encode(ca);
        self.scratch.write(
            "kubeconfig",
            &format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: lab\nclusters:\n- name: lab\n  \
                 cluster:\n    server: https://{TLS_NAME}:6443\n    certificate-authority-data: {ca}\n\
                 contexts:\n- name: lab\n  context:\n    cluster: lab\n    user: breakglass\n\
                 users:\n- name: breakglass\n  user:\n{user}"
            ),
        )
    }

    fn token_user(&self) -> String {
        format!("    token: {}\n", self.api.token)
    }

    /// An inventory with `endpoints` as the cluster's API servers.
    fn inventory(&self, endpoints: &[SocketAddr], tls_name: &str, kubeconfig: &Path) -> PathBuf {
        let list: Vec<String> = endpoints.iter().map(|e| format!("\"{e}\"")).collect();
        self.scratch.write(
            "inventory.toml",
            &format!(
                "[clusters.lab]\napi_endpoints = [{}]\ntls_server_name = \"{tls_name}\"\n\
                 kubeconfig = \"{}\"\n\n[[hosts]]\nname = \"cp1\"\naddress = \"127.0.0.1\"\n\
                 cluster = \"lab\"\n",
                list.join(", "),
                kubeconfig.display()
            ),
        )
    }

    fn runbook(&self) -> PathBuf {
        self.scratch.write(
            "pause.toml",
            "name = \"pause-test\"\nsummary = \"workload.pause\"\n\n[params.cluster]\ntype = \
             \"string\"\ndefault = \"lab\"\nhelp = \"cluster\"\n\n[[steps]]\nid = \"pause\"\n\
             action = \"workload.pause\"\n[steps.with]\nnamespace = \"monitoring\"\n\
             name = \"telemetry-agent\"\n",
        )
    }

    fn run(&self, inventory: &PathBuf, args: &[&str], code: i32) -> Vec<Value> {
        self.scratch
            .bg_with(inventory)
            .args(["--output", "json"])
            .args(args)
            .run()
            .code(code)
            .json_lines()
    }

    fn node_selector(&self) -> Value {
        let r = self.api.request("GET", DS_PATH, None).expect("GET");
        assert_eq!(r.code, 200, "{:?}", r.body);
        r.body["spec"]["template"]["spec"]["nodeSelector"].clone()
    }
}

fn result(events: &[Value], mode: &str) -> (String, String) {
    let r = events
        .iter()
        .find(|e| e["type"] == "target_result" && e["mode"] == mode)
        .unwrap_or_else(|| panic!("no {mode} result: {events:?}"));
    let text = r["summary"].as_str().or(r["reason"].as_str()).unwrap_or("");
    (
        r["outcome"].as_str().unwrap_or("").to_owned(),
        text.to_owned(),
    )
}

#[test]
fn workload_pause_patches_the_template_through_the_api_and_undo_removes_exactly_that() {
    let env = Env::new();
    let kubeconfig = env.kubeconfig(&env.token_user());
    let inventory = env.inventory(&[env.api.endpoint], TLS_NAME, &kubeconfig);
    let rb = env.runbook();
    let rb = rb.to_str().expect("path");
    // `plan` reads the object (with the kubeconfig's token) and shows what it is now.
    let plan = env.run(&inventory, &["plan", rb], 0);
    let now = plan[0]["steps"][0]["now"].as_object().expect("now").clone();
    let (_, line) = now.iter().next().expect("one object read");
    assert!(
        line.as_str().is_some_and(
            |l| l.starts_with("daemonset monitoring/telemetry-agent (uid ")
                && l.ends_with(", not paused")
        ),
        "{line}"
    );
    let events = env.run(&inventory, &["run", rb, "--yes"], 0);
    let (outcome, summary) = result(&events, "apply");
    assert_eq!(outcome, "ok", "{summary}");
    let run = events[0]["run_id"].as_str().expect("run id").to_owned();
    let plan = env.run(&inventory, &["plan", rb], 0);
    let line = plan[0]["steps"][0]["now"]
        .as_object()
        .and_then(|n| n.values().next().cloned());
    assert!(
        line.as_ref()
            .and_then(Value::as_str)
            .is_some_and(|l| l.ends_with(&format!(", already paused by run {run}"))),
        "{line:?}"
    );
    assert_eq!(
        env.node_selector(),
        json!({"kubernetes.io/os": "linux", "breakglass.io/paused": run})
    );
    let events = env.run(&inventory, &["undo", &run, "--yes"], 0);
    assert_eq!(result(&events, "undo").0, "ok");
    assert_eq!(env.node_selector(), json!({"kubernetes.io/os": "linux"}));
    // The token never reaches the journal.
    let journal = env
        .scratch
        .bg_with(&inventory)
        .args(["journal", "show", &run])
        .run()
        .ok();
    assert!(
        !journal.stdout.contains(&env.api.token),
        "{}",
        journal.stdout
    );
}

#[test]
fn a_tls_name_mismatch_is_refused_and_a_silent_endpoint_is_failed_over() {
    let env = Env::new();
    let kubeconfig = env.kubeconfig(&env.token_user());
    let rb = env.runbook();
    let rb = rb.to_str().expect("path");

    // The certificate does not name wrong.example: refused, and nothing changed.
    let inventory = env.inventory(&[env.api.endpoint], "wrong.example", &kubeconfig);
    let events = env.run(&inventory, &["run", rb, "--yes"], 3);
    let (outcome, reason) = result(&events, "apply");
    assert_eq!(outcome, "refused", "{reason}");
    assert_eq!(env.node_selector(), json!({"kubernetes.io/os": "linux"}));

    // The first endpoint accepts connections and never answers (a server too drowned to
    // speak): the request goes to the next one, and the step succeeds.
    let silent = silent_listener().expect("listener");
    let inventory = env.inventory(&[silent.addr(), env.api.endpoint], TLS_NAME, &kubeconfig);
    let started = Instant::now();
    let events = env.run(&inventory, &["run", rb, "--yes"], 0);
    assert_eq!(result(&events, "apply").0, "ok");
    assert!(
        env.node_selector()["breakglass.io/paused"].is_string(),
        "{}",
        env.node_selector()
    );
    // One per-request deadline (5 s) lost to the silent endpoint, not one per request.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
}

#[test]
fn a_429_storm_is_waited_out_and_exec_plugin_credentials_work() {
    let env = Env::new();
    // The token comes from an exec credential plugin, as on EKS, GKE and AKS.
    let plugin = format!(
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: sh\n      \
         args:\n      - -c\n      - printf '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\
         \"kind\":\"ExecCredential\",\"status\":{{\"token\":\"%s\"}}}}' \"$LAB_TOKEN\"\n      \
         env:\n      - name: LAB_TOKEN\n        value: {}\n",
        env.api.token
    );
    let kubeconfig = env.kubeconfig(&plugin);
    let inventory = env.inventory(&[env.api.endpoint], TLS_NAME, &kubeconfig);
    // Every request answers 429 Retry-After: 2 for the first 3 seconds.
    env.api.throttle(2).expect("throttle");
    let lift = {
        let file = env.api.throttle_file.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(3));
            let _ = std::fs::remove_file(file);
        })
    };
    let rb = env.runbook();
    let events = env.run(&inventory, &["run", rb.to_str().expect("path"), "--yes"], 0);
    lift.join().expect("lift");
    assert_eq!(result(&events, "apply").0, "ok", "{events:?}");
    let stats = env.api.stats().expect("stats");
    let throttled = stats["throttled"].as_u64().unwrap_or(0);
    // Throttled for 3 s with Retry-After: 2: at most two 429s, never a retry storm.
    assert!(
        (1..=2).contains(&throttled),
        "{throttled} requests answered 429: {stats}"
    );
    // snapshot GET, PATCH, verify GET, and the retried ones: a handful, no more.
    let requests = stats["requests"].as_u64().unwrap_or(0);
    assert!(requests <= 6, "{requests} requests: {stats}");
}

/// `wait.healthy` trusts the CA the way the API client does: with no `ca_file` anywhere, the
/// kubeconfig's `certificate-authority-data` (and the TLS name from the inventory).
#[test]
fn wait_healthy_takes_the_ca_from_the_kubeconfig_when_no_ca_file_names_one() {
    let env = Env::new();
    let kubeconfig = env.kubeconfig(&env.token_user());
    let inventory = env.inventory(&[env.api.endpoint], TLS_NAME, &kubeconfig);
    let rb = env.scratch.write(
        "healthy.toml",
        "name = \"healthy\"\nsummary = \"wait.healthy\"\n\n[params.cluster]\ntype = \"string\"\n\
         default = \"lab\"\nhelp = \"cluster\"\n\n[[steps]]\nid = \"healthy\"\n\
         action = \"wait.healthy\"\n[steps.with]\nwindow = \"3s\"\ntimeout = \"10s\"\n",
    );
    let events = env.run(&inventory, &["run", rb.to_str().expect("path"), "--yes"], 0);
    let (outcome, summary) = result(&events, "apply");
    assert_eq!(outcome, "ok", "{summary}");
    assert!(summary.starts_with("healthy: "), "{summary}");
}
