//! `inventory show` and inventory errors through the binary.

use crate::support::Scratch;

const FLEET: &str = r#"
[defaults]
user = "root"
connect_timeout = "3s"

[clusters.prod]
api_endpoints = ["10.0.0.10:6443"]

[groups]
workers = "role=worker"

[[hosts]]
name = "cp[1-3]"
address = "10.0.0.[10-12]"
cluster = "prod"
labels = { role = "control-plane" }

[[hosts]]
name = "node[001-200]"
address = "10.0.[1-4].[1-50]"
cluster = "prod"
labels = { role = "worker" }
"#;

#[test]
fn show_expands_ranges_and_selects() {
    let s = Scratch::new();
    let inv = s.write("fleet.toml", FLEET);
    let out = s
        .bg()
        .arg("-i")
        .arg(&inv)
        .args(["inventory", "show", "@workers except node[002-200]"])
        .run()
        .ok();
    assert!(out.stdout.contains("node001"), "{}", out.stdout);
    assert!(out.stdout.contains("10.0.1.1:22"), "{}", out.stdout);
    assert!(!out.stdout.contains("node002"), "{}", out.stdout);
    let out = s
        .bg()
        .env("BREAKGLASS_INVENTORY", &inv)
        .args(["--output", "json", "inventory", "show", "role=worker"])
        .run()
        .ok();
    let hosts: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).expect("json array");
    assert_eq!(hosts.len(), 200);
    assert_eq!(hosts[199]["name"], "node200");
    assert_eq!(hosts[199]["address"], "10.0.4.50");
    assert_eq!(hosts[0]["labels"]["cluster"], "prod");
}

#[test]
fn bad_inventory_names_file_line_and_column() {
    let s = Scratch::new();
    let inv = s.write(
        "bad.toml",
        "[defaults]\nuser = \"root\"\n\n[[hosts]]\nname = \"a\"\naddress = \"10.0.0.1\"\nlabls = {}\n",
    );
    let out = s
        .bg()
        .arg("-i")
        .arg(&inv)
        .args(["inventory", "show"])
        .run()
        .code(2);
    assert!(out.stderr.contains("bad.toml:7:1"), "{}", out.stderr);
    assert!(out.stderr.contains("labls"), "{}", out.stderr);

    let inv = s.write(
        "dns.toml",
        "[[hosts]]\nname = \"a\"\naddress = \"node-a.example\"\n",
    );
    let out = s
        .bg()
        .arg("-i")
        .arg(&inv)
        .args(["inventory", "show"])
        .run()
        .code(2);
    assert!(out.stderr.contains("dns.toml:3:"), "{}", out.stderr);
    assert!(out.stderr.to_lowercase().contains("ip"), "{}", out.stderr);
}

#[test]
fn bad_selector_is_a_usage_error_with_column() {
    let s = Scratch::new();
    let inv = s.write("fleet.toml", FLEET);
    let out = s
        .bg()
        .arg("-i")
        .arg(&inv)
        .args(["inventory", "show", "role in (a,b"])
        .run()
        .code(2);
    assert!(out.stderr.contains("column"), "{}", out.stderr);
    s.bg()
        .arg("-i")
        .arg(&inv)
        .args(["inventory", "show", "role=database"])
        .run()
        .code(2)
        .stderr_has("selector \"role=database\": \"role=database\" matches no host");
}

/// Issue #11, point 11: `exec` on `role=worker except gen>3` ran on every worker (the word was a
/// pattern matching nothing), and a misspelt host after `except` removed nothing. Both are usage
/// errors now, before any connection (the inventory's addresses are unreachable documentation
/// addresses, so a connection attempt would fail differently).
#[test]
fn selector_terms_that_pick_nothing_are_refused() {
    let s = Scratch::new();
    let inv = s.write("fleet.toml", FLEET);
    let exec = |selector: &str| {
        s.bg()
            .arg("-i")
            .arg(&inv)
            .args(["exec", selector, "--", "true"])
            .run()
            .code(2)
    };
    exec("role=worker except gen>3").stderr_has("column 23: unexpected '>'");
    exec("role=worker except node0013").stderr_has("\"node0013\" matches no host");
    exec("role=worker,!node001").stderr_has("expected `all except node001`");
    exec("node[1-010]").stderr_has("padding mismatch in 1-010");
    exec("node[-5]").stderr_has("range without a low bound; expected LOW-HIGH");
}

// ---------------------------------------------------------------------------------------------
// `inventory snapshot`

/// A saved `kubectl get nodes -o json` (trimmed: conditions, images and capacity left out), in
/// the shape of the Node reference,
/// <https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/node-v1/>:
/// `status.addresses` is a list of `{type: InternalIP|ExternalIP|Hostname, address}`. kubectl
/// wraps the items in a `List` and sets `kind` on each. Unsorted on purpose; `w-3` never got an
/// `InternalIP` (a cloud node whose kubelet came up before its private interface), `w-2` is
/// dual-stack, `legacy-cp` carries the pre-1.24 `master` role label, and `w-1` has a
/// `cluster` label, which the inventory reserves.
const NODES_JSON: &str = r#"{
  "apiVersion": "v1",
  "kind": "List",
  "metadata": {"resourceVersion": ""},
  "items": [
    {
      "apiVersion": "v1",
      "kind": "Node",
      "metadata": {
        "name": "w-2",
        "uid": "6f1c1b0e-2b7d-4f5e-9d51-0f7c3a1e2b02",
        "resourceVersion": "88412",
        "creationTimestamp": "2026-03-02T10:14:05Z",
        "labels": {
          "beta.kubernetes.io/arch": "amd64",
          "kubernetes.io/arch": "amd64",
          "kubernetes.io/hostname": "w-2",
          "kubernetes.io/os": "linux",
          "node.kubernetes.io/instance-type": "m6i.xlarge",
          "topology.kubernetes.io/region": "eu-west-1",
          "topology.kubernetes.io/zone": "eu-west-1b"
        },
        "annotations": {"node.alpha.kubernetes.io/ttl": "0"}
      },
      "spec": {"podCIDR": "10.244.2.0/24", "providerID": "aws:///eu-west-1b/i-0b2"},
      "status": {
        "addresses": [
          {"type": "InternalIP", "address": "10.0.1.12"},
          {"type": "InternalIP", "address": "fd00:10::12"},
          {"type": "Hostname", "address": "w-2"}
        ],
        "nodeInfo": {"kubeletVersion": "v1.31.4", "containerRuntimeVersion": "containerd://1.7.24"}
      }
    },
    {
      "apiVersion": "v1",
      "kind": "Node",
      "metadata": {
        "name": "cp-1",
        "uid": "0b6a5c2e-5d8f-4a3c-8f57-1d2e3f4a5b01",
        "resourceVersion": "88390",
        "creationTimestamp": "2026-03-02T10:02:41Z",
        "labels": {
          "kubernetes.io/arch": "amd64",
          "kubernetes.io/hostname": "cp-1",
          "kubernetes.io/os": "linux",
          "node-role.kubernetes.io/control-plane": "",
          "node.kubernetes.io/exclude-from-external-load-balancers": "",
          "topology.kubernetes.io/zone": "eu-west-1a"
        }
      },
      "spec": {
        "podCIDR": "10.244.0.0/24",
        "taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
      },
      "status": {
        "addresses": [
          {"type": "InternalIP", "address": "10.0.0.10"},
          {"type": "ExternalIP", "address": "203.0.113.10"},
          {"type": "Hostname", "address": "cp-1"}
        ],
        "nodeInfo": {"kubeletVersion": "v1.31.4"}
      }
    },
    {
      "apiVersion": "v1",
      "kind": "Node",
      "metadata": {
        "name": "w-3",
        "uid": "a3d9e1f0-7c4b-4e2a-b6d8-9f0e1d2c3b03",
        "resourceVersion": "88455",
        "labels": {"kubernetes.io/hostname": "w-3", "kubernetes.io/os": "linux"}
      },
      "spec": {"providerID": "aws:///eu-west-1c/i-0b3"},
      "status": {
        "addresses": [
          {"type": "ExternalIP", "address": "203.0.113.13"},
          {"type": "Hostname", "address": "ip-10-0-1-13.eu-west-1.compute.internal"}
        ]
      }
    },
    {
      "apiVersion": "v1",
      "kind": "Node",
      "metadata": {
        "name": "legacy-cp",
        "labels": {
          "kubernetes.io/hostname": "legacy-cp",
          "node-role.kubernetes.io/master": ""
        }
      },
      "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.11"}]}
    },
    {
      "apiVersion": "v1",
      "kind": "Node",
      "metadata": {
        "name": "w-1",
        "labels": {"kubernetes.io/hostname": "w-1", "cluster": "prod-eu", "pool": "general"}
      },
      "status": {
        "addresses": [
          {"type": "Hostname", "address": "w-1"},
          {"type": "InternalIP", "address": "10.0.1.11"}
        ]
      }
    }
  ]
}"#;

/// The inventory a snapshot starts from: its `[defaults]` and `[clusters.prod]` are carried over.
const BASE: &str = r#"
[defaults]
user = "ops"
port = 2222
connect_timeout = "4s"
identity_files = ["keys/breakglass"]

[clusters.prod]
api_endpoints = ["10.0.0.10:6443"]
tls_server_name = "kubernetes.default.svc"
labels = { env = "prod" }

[[hosts]]
name = "cp-1"
address = "10.0.0.10"
cluster = "prod"
"#;

fn show_json(s: &Scratch, inventory: &std::path::Path, selector: &str) -> Vec<serde_json::Value> {
    let out = s
        .bg_with(inventory)
        .args(["--output", "json", "inventory", "show", selector])
        .run()
        .ok();
    serde_json::from_str(&out.stdout).expect("json array")
}

#[test]
fn snapshot_from_a_saved_kubectl_file_skips_the_node_without_an_internal_ip_and_loads_back() {
    let s = Scratch::new();
    let base = s.write("fleet.toml", BASE);
    let nodes = s.write("nodes.json", NODES_JSON);
    let snap = s.path().join("prod.toml");
    let out = s
        .bg_with(&base)
        .args(["inventory", "snapshot", "prod", "--from-file"])
        .arg(&nodes)
        .arg("--out")
        .arg(&snap)
        .run()
        .ok()
        .stdout_has("4 hosts of cluster prod (2 control-plane, 2 worker); 1 node skipped")
        .stderr_has("node w-3 skipped: no InternalIP in status.addresses")
        .stderr_has("ExternalIP 203.0.113.13")
        .stderr_has("label `cluster` left out on 1 node");
    assert!(!out.stderr.contains("error"), "{}", out.stderr);

    let text = std::fs::read_to_string(&snap).expect("snapshot");
    assert!(
        text.starts_with("# breakglass inventory snapshot of cluster prod: 4 hosts."),
        "{text}"
    );
    assert!(text.contains("# Skipped node w-3: no InternalIP"), "{text}");
    assert!(text.contains("(kubectl get nodes -o json)"), "{text}");

    // It is an inventory on its own: name order, InternalIPs, roles, the base's defaults.
    let hosts = show_json(&s, &snap, "all");
    let names: Vec<&str> = hosts.iter().filter_map(|h| h["name"].as_str()).collect();
    assert_eq!(names, ["cp-1", "legacy-cp", "w-1", "w-2"]);
    let h = |name: &str| hosts.iter().find(|h| h["name"] == name).expect(name);
    assert_eq!(h("w-2")["address"], "10.0.1.12", "the first InternalIP");
    assert_eq!(h("w-1")["address"], "10.0.1.11");
    assert_eq!(h("w-1")["port"], 2222);
    assert_eq!(h("w-1")["user"], "ops");
    assert_eq!(h("w-1")["labels"]["cluster"], "prod");
    assert_eq!(h("w-1")["labels"]["env"], "prod");
    assert_eq!(h("w-1")["labels"]["pool"], "general");
    assert_eq!(
        h("w-2")["labels"]["topology.kubernetes.io/zone"],
        "eu-west-1b"
    );
    let control_plane: Vec<String> = show_json(&s, &snap, "role=control-plane")
        .iter()
        .filter_map(|h| h["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(control_plane, ["cp-1", "legacy-cp"]);
    assert_eq!(show_json(&s, &snap, "role=worker").len(), 2);

    // Refreshing in place (the cron job) replaces the earlier snapshot; --output json says
    // what was written in one event.
    let out = s
        .bg_with(&base)
        .args([
            "--output",
            "json",
            "inventory",
            "snapshot",
            "prod",
            "--from-file",
        ])
        .arg(&nodes)
        .arg("--out")
        .arg(&snap)
        .run()
        .ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    let event: breakglass::commands::snapshot::SnapshotEvent =
        serde_json::from_str(lines[0]).expect("an inventory_snapshot event");
    assert_eq!(event.kind, "inventory_snapshot");
    assert_eq!(event.source, breakglass::commands::snapshot::Source::File);
    assert_eq!((event.nodes, event.hosts), (5, 4));
    assert_eq!((event.control_plane, event.workers), (2, 2));
    assert_eq!(event.skipped.len(), 1);
    assert_eq!(event.skipped[0].node, "w-3");
    assert_eq!(event.requests, 0);
}

#[test]
fn snapshot_refuses_to_replace_what_it_did_not_write_and_strict_fails_on_a_skipped_node() {
    let s = Scratch::new();
    let base = s.write("fleet.toml", BASE);
    let nodes = s.write("nodes.json", NODES_JSON);
    let snapshot = |out: &std::path::Path, extra: &[&str]| {
        s.bg_with(&base)
            .args(["inventory", "snapshot", "prod", "--from-file"])
            .arg(&nodes)
            .arg("--out")
            .arg(out)
            .args(extra)
    };

    // --strict: the node without an InternalIP fails the snapshot, and nothing is written.
    let strict = s.path().join("strict.toml");
    snapshot(&strict, &["--strict"])
        .run()
        .code(1)
        .stderr_has("--strict: 1 of 5 nodes cannot be written (w-3)");
    assert!(!strict.exists());

    // The hand-written inventory is not a snapshot: refused, untouched; --force replaces it.
    snapshot(&base, &[])
        .run()
        .code(2)
        .stderr_has("is not a breakglass snapshot")
        .stderr_has("--force");
    assert_eq!(std::fs::read_to_string(&base).expect("base"), BASE);
    let copy = s.write("copy.toml", BASE);
    snapshot(&copy, &["--force"]).run().ok();
    assert!(
        std::fs::read_to_string(&copy)
            .expect("copy")
            .starts_with("# breakglass inventory snapshot")
    );

    // A .json name would be read back as JSON: refused.
    snapshot(&s.path().join("prod.json"), &[])
        .run()
        .code(2)
        .stderr_has("a snapshot is TOML");

    // A file that is not a node list says what it expected.
    let pods = s.write(
        "pods.json",
        r#"{"kind":"PodList","apiVersion":"v1","items":[]}"#,
    );
    s.bg_with(&base)
        .args(["inventory", "snapshot", "prod", "--from-file"])
        .arg(&pods)
        .args(["--out", "x.toml"])
        .run()
        .code(2)
        .stderr_has("kubectl get nodes -o json");

    // From a file, no inventory is needed: the built-in defaults and an empty cluster table.
    let bare = s.path().join("bare.toml");
    s.bg()
        .args(["inventory", "snapshot", "lab", "--from-file"])
        .arg(&nodes)
        .arg("--out")
        .arg(&bare)
        .run()
        .ok();
    let hosts = show_json(&s, &bare, "cluster=lab");
    assert_eq!(hosts.len(), 4);
    assert_eq!(hosts[0]["port"], 22);

    // Never an unbounded LIST: a page size of 0 (no limit) is refused.
    snapshot(&s.path().join("y.toml"), &[])
        .args(["--page-size", "0"])
        .run()
        .code(2);

    // An unknown cluster names the ones there are.
    s.bg_with(&base)
        .args(["inventory", "snapshot", "staging", "--from-file"])
        .arg(&nodes)
        .args(["--out", "y.toml"])
        .run()
        .code(2)
        .stderr_has("no cluster `staging`; expected one of: prod");
}

/// An inventory whose cluster `lab` is the API server stand-in, through a kubeconfig with its
/// token and CA (as in tests/kube.rs).
fn lab_inventory(
    s: &Scratch,
    api: &breakglass::lab::apiserver::ApiServer,
    endpoint: &str,
) -> std::path::PathBuf {
    use base64::Engine as _;
    let ca = std::fs::read(&api.ca_file).expect("ca");
    let ca = base64::engine::general_purpose::STANDARD.encode(ca);
    let kubeconfig = s.write(
        "kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: lab\nclusters:\n- name: lab\n  \
             cluster:\n    server: https://kubernetes.default.svc:6443\n    \
             certificate-authority-data: {ca}\ncontexts:\n- name: lab\n  context:\n    \
             cluster: lab\n    user: breakglass\nusers:\n- name: breakglass\n  user:\n    \
             token: {}\n",
            api.token
        ),
    );
    s.write(
        "lab.toml",
        &format!(
            "[clusters.lab]\napi_endpoints = [\"{endpoint}\"]\n\
             tls_server_name = \"kubernetes.default.svc\"\nkubeconfig = \"{}\"\n",
            kubeconfig.display()
        ),
    )
}

#[test]
fn snapshot_from_the_api_reads_every_page_through_continue() {
    use breakglass::lab::apiserver::ApiServer;
    use breakglass::lab::etcd::EtcdServer;

    let etcd = EtcdServer::start().expect("etcd (apt-get install etcd-server etcd-client)");
    let api = ApiServer::start(&etcd).expect("the API server stand-in");
    // Seven nodes, as the API server stores them: one control plane, five workers, and one
    // whose kubelet has not reported its addresses yet.
    for i in 1..=7 {
        let name = format!("node-{i}");
        let mut labels = serde_json::json!({"kubernetes.io/hostname": name});
        if i == 1 {
            labels["node-role.kubernetes.io/control-plane"] = "".into();
        }
        let addresses = if i == 5 {
            serde_json::json!([])
        } else {
            serde_json::json!([
                {"type": "InternalIP", "address": format!("10.9.0.{i}")},
                {"type": "Hostname", "address": name},
            ])
        };
        ApiServer::seed(
            &etcd,
            &format!("/registry/minions/{name}"),
            serde_json::json!({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": labels},
                "status": {"addresses": addresses},
            }),
        )
        .expect("seed a node");
    }
    let s = Scratch::new();
    let inventory = lab_inventory(&s, &api, &api.endpoint.to_string());
    let snap = s.path().join("lab-nodes.toml");
    let out = s
        .bg_with(&inventory)
        .args([
            "--output",
            "json",
            "inventory",
            "snapshot",
            "lab",
            "--page-size",
            "3",
        ])
        .arg("--out")
        .arg(&snap)
        .run()
        .ok()
        .stderr_has("node node-5 skipped: no InternalIP");
    let event: breakglass::commands::snapshot::SnapshotEvent =
        serde_json::from_str(out.stdout.trim()).expect("an inventory_snapshot event");
    assert_eq!(event.source, breakglass::commands::snapshot::Source::Api);
    assert_eq!((event.nodes, event.hosts), (7, 6));
    assert_eq!((event.control_plane, event.workers), (1, 5));
    // 7 nodes in pages of 3: three LIST requests, the last without a continue token.
    assert_eq!(event.requests, 3);
    let stats = api.stats().expect("stats");
    assert_eq!(stats["paths"]["/api/v1/nodes"]["requests"], 3, "{stats}");

    let hosts = show_json(&s, &snap, "all");
    let names: Vec<&str> = hosts.iter().filter_map(|h| h["name"].as_str()).collect();
    assert_eq!(
        names,
        ["node-1", "node-2", "node-3", "node-4", "node-6", "node-7"]
    );
    assert_eq!(hosts[5]["address"], "10.9.0.7");
    assert_eq!(hosts[0]["labels"]["role"], "control-plane");
    let text = std::fs::read_to_string(&snap).expect("snapshot");
    // The cluster table comes along, so the snapshot reaches the same API on its own.
    assert!(
        text.contains("tls_server_name = \"kubernetes.default.svc\""),
        "{text}"
    );
    assert!(
        !text.contains(&api.token),
        "the token stays in the kubeconfig"
    );

    // An API that cannot be reached fails the snapshot (exit 1) and leaves the last one as it
    // was: the file the bad day needs is never replaced by nothing.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_addr = closed.local_addr().expect("addr");
    drop(closed);
    let unreachable = lab_inventory(&s, &api, &closed_addr.to_string());
    s.bg_with(&unreachable)
        .args(["inventory", "snapshot", "lab", "--out"])
        .arg(&snap)
        .run()
        .code(1)
        .stderr_has("cannot list the nodes of cluster lab")
        .stderr_has("caused by: no API server answered");
    assert_eq!(std::fs::read_to_string(&snap).expect("snapshot"), text);
}

/// Issue #11, point 14: `-i` naming a FIFO hung until something wrote to it.
#[test]
fn an_inventory_that_is_not_a_regular_file_is_refused_at_once() {
    let s = Scratch::new();
    let fifo = s.path().join("fleet.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    s.bg_with(&fifo)
        .args(["inventory", "show"])
        .run()
        .code(2)
        .stderr_has("cannot read: it is a FIFO (named pipe); expected a regular file");
    s.bg_with("/dev/zero")
        .args(["inventory", "show"])
        .run()
        .code(2)
        .stderr_has("/dev/zero: cannot read: it is a character device");
}
