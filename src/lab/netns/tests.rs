//! Tests that build real labs (root, namespaces, sshd): a three-node lab end to end, two labs
//! in parallel, stale cleanup, and a node posing as systemd. Each test tears its labs down, or
//! leaves that to drop when it fails.

use std::fmt::Write as _;
use std::fs;
use std::net::IpAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::lock::{GlobalLock, create_private_dir};
use super::network::{netns_inodes, processes_in};
use super::owner::owner_record;
use super::tools::require_root;
use super::*;

/// `ssh` (OpenSSH) to a node, trusting only `known_hosts`.
fn ssh(lab: &Lab, known_hosts: &Path, node: &Node, command: &str) -> Output {
    Command::new("ssh")
        .args(["-F", "/dev/null", "-o", "BatchMode=yes", "-o"])
        .arg("StrictHostKeyChecking=yes")
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=5",
        ])
        .arg("-i")
        .arg(lab.client_key())
        .arg(format!("root@{}", node.address))
        .arg(command)
        .stdin(Stdio::null())
        .output()
        .expect("run ssh")
}

/// A `known_hosts` file built from the nodes' public keys, after checking that each key's
/// fingerprint is the pin in the inventory. `rotate` gives each node its neighbour's key.
fn known_hosts_from_pins(lab: &Lab, path: &Path, rotate: bool) {
    let inventory = fs::read_to_string(lab.inventory_path()).expect("inventory");
    let nodes = lab.nodes();
    let mut text = String::new();
    for (i, node) in nodes.iter().enumerate() {
        let key_file = lab.dir().join(format!("pin-{}.pub", node.name));
        fs::write(&key_file, format!("{}\n", node.host_public_key)).expect("write key");
        let printed = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(&key_file)
            .output()
            .expect("ssh-keygen -lf");
        let printed = String::from_utf8_lossy(&printed.stdout);
        assert!(
            printed.contains(&node.host_key),
            "{printed} vs {}",
            node.host_key
        );
        assert!(inventory.contains(&format!("host_key = \"{}\"", node.host_key)));
        let key = &nodes[if rotate { (i + 1) % nodes.len() } else { i }].host_public_key;
        let _ = writeln!(text, "{} {key}", node.address);
    }
    fs::write(path, text).expect("write known_hosts");
}

fn sh_ok(lab: &Lab, node: &str, script: &str) -> String {
    let out = lab.sh(node, script).expect("sh");
    assert!(
        out.status.success(),
        "{node}: {script}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn netns_list() -> String {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts a torn-down lab left nothing: namespaces, root veth, processes, directory.
fn assert_gone(id: &str, namespaces: &[String], veth: &str, pids: &[u32], dir: &Path) {
    let list = netns_list();
    for ns in namespaces {
        assert!(
            !list.contains(ns.as_str()),
            "namespace {ns} left behind:\n{list}"
        );
    }
    assert!(!list.contains(&format!("{NS_PREFIX}{id}")), "{list}");
    assert!(
        !Path::new("/sys/class/net").join(veth).exists(),
        "veth {veth} left behind"
    );
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} left behind"
        );
    }
    assert!(!dir.exists(), "{} left behind", dir.display());
    let mounts = super::statefs::mounts_under(dir);
    assert!(mounts.is_empty(), "mounts left behind: {mounts:?}");
}

#[test]
fn three_node_lab_end_to_end() {
    let lab = Lab::build(&LabSpec::new(1, 2)).expect("build the lab");
    // The lab's state (every node's /run, /tmp, Kubernetes files) is a tmpfs, as /run is on
    // a real node.
    assert_eq!(
        super::statefs::mounts_under(lab.dir()),
        vec![lab.dir().display().to_string()]
    );
    let pinned = lab.dir().join("test-known-hosts");
    check_inventory_and_ssh(&lab, &pinned);
    check_api_reachable(&lab);
    check_node_local_files(&lab);
    let held_operator = check_block_cuts_established(&lab, &pinned);
    check_systemctl_and_kubelet(&lab);
    check_crictl(&lab);
    check_manifest_restart(&lab);

    // Teardown leaves nothing: namespaces, veth, processes (held connection included), files.
    let recorded = lab.pids();
    assert!(recorded.len() >= 10, "{recorded:?}");
    let (id, namespaces) = (lab.id().to_owned(), lab.namespaces().to_vec());
    let (veth, dir) = (lab.root_interface().to_owned(), lab.dir().to_path_buf());
    assert!(netns_list().contains(&namespaces[0]));
    lab.teardown().expect("teardown");
    assert!(!held_operator.is_alive());
    assert_gone(&id, &namespaces, &veth, &recorded, &dir);
}

fn check_inventory_and_ssh(lab: &Lab, pinned: &Path) {
    let cp = lab.node("cp1").expect("cp1");
    let api = cp.api_addr();
    assert_eq!(lab.nodes().len(), 3);
    assert_eq!(lab.nodes_with_role(Role::Worker).len(), 2);
    assert_eq!(lab.api_endpoints(), vec![api]);
    assert!(lab.subnet().contains(&cp.address));

    // The inventory loads with breakglass's own loader and pins every node's key.
    let inventory = crate::inventory::Inventory::load(&lab.inventory_path())
        .expect("the generated inventory loads");
    assert_eq!(inventory.hosts.len(), 3);
    for node in lab.nodes() {
        let host = inventory
            .hosts
            .iter()
            .find(|h| h.name == node.name)
            .expect("host");
        assert_eq!(host.address, IpAddr::V4(node.address));
        assert_eq!(host.host_key.as_deref(), Some(node.host_key.as_str()));
        assert_eq!(
            host.labels.get("role").map(String::as_str),
            Some(node.role.label())
        );
    }
    assert_eq!(inventory.clusters[CLUSTER_NAME].api_endpoints, vec![api]);
    assert_eq!(
        inventory.clusters[CLUSTER_NAME].tls_server_name.as_deref(),
        Some(TLS_SERVER_NAME)
    );

    // Each sshd answers with its pinned key; another node's key is refused.
    known_hosts_from_pins(lab, pinned, false);
    for node in lab.nodes() {
        let out = ssh(lab, pinned, node, "hostname; echo $PATH; ps -e -o comm=");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {}",
            node.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(node.name.as_str()));
        assert_eq!(lines.next(), Some(NODE_PATH), "stock PATH, stand-ins first");
        let procs: Vec<&str> = lines.collect();
        assert!(
            procs.contains(&"kubelet") && procs.contains(&"sshd"),
            "{procs:?}"
        );
        assert!(
            !procs.contains(&"cargo"),
            "a node sees only its own processes: {procs:?}"
        );
    }
    let rotated = lab.dir().join("test-known-hosts-rotated");
    known_hosts_from_pins(lab, &rotated, true);
    let out = ssh(lab, &rotated, cp, "true");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Host key verification failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check_api_reachable(lab: &Lab) {
    let cp = lab.node("cp1").expect("cp1");
    let api = cp.api_addr();
    // Workers reach the API stand-in; TLS verifies with the lab CA by IP and by name.
    for worker in ["worker1", "worker2"] {
        let probe = lab
            .tcp_probe(Some(worker), api, Duration::from_secs(2))
            .expect("probe");
        assert_eq!(probe, Probe::Connected, "{worker}");
        let body = sh_ok(
            lab,
            worker,
            &format!(
                "curl -sS --cacert {NODE_CA} https://{}:6443/readyz",
                cp.address
            ),
        );
        assert_eq!(body, "ok");
    }
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(lab.ca_cert())
        .arg("--resolve")
        .arg(format!("{TLS_SERVER_NAME}:6443:{}", cp.address))
        .arg(format!("https://{TLS_SERVER_NAME}:6443/livez"))
        .output()
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check_node_local_files(lab: &Lab) {
    let cp = lab.node("cp1").expect("cp1");
    // Node-local files: only the control plane has the manifest; the host's is untouched.
    let manifest = lab.manifest("cp1").expect("manifest");
    let text = String::from_utf8_lossy(&manifest);
    assert!(
        text.contains("    - --max-requests-inflight=400\n"),
        "{text}"
    );
    assert!(text.contains(&format!("--advertise-address={}", cp.address)));
    let view = sh_ok(
        lab,
        "worker1",
        "ls /sys/class/net; grep -c ' /run/netns' /proc/self/mountinfo || true",
    );
    assert_eq!(
        view, "eth0\nlo\n0\n",
        "the node sees its own interfaces and no other namespace"
    );
    let out = lab
        .sh("worker1", "ls /etc/kubernetes/manifests")
        .expect("sh");
    assert!(out.status.success() && out.stdout.is_empty());
    assert_ne!(
        fs::read("/etc/kubernetes/manifests/kube-apiserver.yaml").ok(),
        Some(manifest)
    );
}

/// Returns the operator's held connection, still open, for the teardown check.
fn check_block_cuts_established(lab: &Lab, pinned: &Path) -> HeldConnection {
    let cp = lab.node("cp1").expect("cp1");
    let api = cp.api_addr();
    // Held connections and kubelet watches are up.
    let held_worker = lab
        .hold_connection(Some("worker1"), api)
        .expect("hold from worker1");
    let held_operator = lab
        .hold_connection(None, api)
        .expect("hold from the operator");
    assert!(held_worker.is_alive() && held_operator.is_alive());
    for node in ["cp1", "worker1", "worker2"] {
        assert!(
            lab.kubelet_running(node).expect("kubelet_running"),
            "{node}"
        );
        assert!(
            eventually(Duration::from_secs(10), || lab
                .kubelet_watch_connected(node)
                .expect("watch state")),
            "{node}: kubelet watch never connected"
        );
    }

    // Block 6443 on the control plane for everyone but itself and the operator. The drop
    // comes before the established-connection accept, so held connections are cut too.
    let block = format!(
        "nft -f - <<'EOF'\n\
         table inet breakglass {{\n\
           chain input {{\n\
             type filter hook input priority filter - 10; policy accept;\n\
             tcp dport 6443 ip saddr != {{ {}, {} }} drop\n\
             ct state established,related accept\n\
           }}\n\
         }}\n\
         EOF",
        cp.address,
        lab.operator_address()
    );
    sh_ok(lab, "cp1", &block);
    assert!(sh_ok(lab, "cp1", "nft list ruleset").contains("table inet breakglass"));
    assert!(
        sh_ok(lab, "worker1", "nft list ruleset").is_empty(),
        "firewalls are per node"
    );
    let probe = lab
        .tcp_probe(Some("worker2"), api, Duration::from_secs(1))
        .expect("probe");
    assert_eq!(probe, Probe::TimedOut);
    assert_eq!(
        lab.tcp_probe(None, api, Duration::from_secs(1))
            .expect("probe"),
        Probe::Connected
    );
    assert!(
        held_worker.wait_dead(Duration::from_secs(8)),
        "the worker's watch survived the block"
    );
    assert!(held_operator.is_alive(), "the allowlisted watch was cut");
    assert!(
        eventually(Duration::from_secs(12), || !lab
            .kubelet_watch_connected("worker2")
            .expect("watch state")),
        "worker2's kubelet kept its watch"
    );
    assert!(lab.kubelet_watch_connected("cp1").expect("watch state"));
    let out = ssh(lab, pinned, cp, "hostname");
    assert!(out.status.success(), "SSH must survive the block");
    sh_ok(lab, "cp1", "nft delete table inet breakglass");
    let probe = lab
        .tcp_probe(Some("worker2"), api, Duration::from_secs(2))
        .expect("probe");
    assert_eq!(probe, Probe::Connected);

    held_operator
}

fn check_systemctl_and_kubelet(lab: &Lab) {
    // systemctl and the kubelet; PID namespaces keep nodes apart.
    let out = lab
        .sh("worker1", "systemctl is-active kubelet")
        .expect("sh");
    assert_eq!(
        (out.status.code(), out.stdout.as_slice()),
        (Some(0), &b"active\n"[..])
    );
    sh_ok(lab, "worker1", "systemctl stop kubelet");
    let out = lab
        .sh("worker1", "systemctl is-active kubelet")
        .expect("sh");
    assert_eq!(
        (out.status.code(), out.stdout.as_slice()),
        (Some(3), &b"inactive\n"[..])
    );
    assert!(!lab.kubelet_running("worker1").expect("kubelet_running"));
    sh_ok(lab, "worker2", "pkill -x kubelet; sleep 0.2");
    assert!(!lab.kubelet_running("worker2").expect("kubelet_running"));
    assert!(
        lab.kubelet_running("cp1").expect("kubelet_running"),
        "pkill crossed nodes"
    );
    assert_eq!(
        lab.sh("worker1", "systemctl status nosuch")
            .expect("sh")
            .status
            .code(),
        Some(4)
    );
    assert_eq!(
        lab.sh("worker1", "systemctl start nosuch")
            .expect("sh")
            .status
            .code(),
        Some(5)
    );
    sh_ok(
        lab,
        "worker1",
        "systemctl start kubelet && systemctl is-active --quiet kubelet",
    );
    sh_ok(lab, "worker2", "systemctl restart kubelet.service");
    assert!(lab.kubelet_running("worker1").expect("kubelet_running"));
    assert!(lab.kubelet_running("worker2").expect("kubelet_running"));
}

fn check_crictl(lab: &Lab) {
    // crictl over the per-node pod state.
    let pods = lab.pods("worker1").expect("pods");
    let telemetry = pods
        .iter()
        .find(|p| p.namespace == "monitoring" && p.name.starts_with("telemetry-agent-"))
        .expect("a telemetry-agent pod")
        .clone();
    assert!(telemetry.ready && pods.len() >= 3);
    let ids = sh_ok(
        lab,
        "worker1",
        "crictl pods --namespace monitoring --name '^telemetry-agent-' -q",
    );
    assert_eq!(ids.trim(), telemetry.id);
    let json = sh_ok(
        lab,
        "worker1",
        "crictl pods --label app=telemetry-agent -o json",
    );
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("crictl json");
    assert_eq!(parsed["items"][0]["id"], telemetry.id.as_str());
    assert_eq!(parsed["items"][0]["state"], "SANDBOX_READY");
    let table = sh_ok(lab, "worker1", "crictl pods");
    assert!(table.starts_with("POD ID"), "{table}");
    assert!(
        table.contains(&telemetry.id[..13]) && table.contains("hours ago"),
        "{table}"
    );
    let out = lab
        .sh("worker1", &format!("crictl rmp {}", telemetry.id))
        .expect("sh");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("please stop it first"));
    let stopped = sh_ok(
        lab,
        "worker1",
        &format!("crictl stopp {}", &telemetry.id[..12]),
    );
    assert_eq!(
        stopped.trim(),
        format!("Stopped sandbox {}", &telemetry.id[..12])
    );
    let notready = sh_ok(lab, "worker1", "crictl pods --state notready -q");
    assert_eq!(notready.trim(), telemetry.id);
    sh_ok(lab, "worker1", &format!("crictl rmp {}", telemetry.id));
    assert!(
        lab.pods("worker1")
            .expect("pods")
            .iter()
            .all(|p| p.id != telemetry.id)
    );
    assert!(
        lab.pods("worker2")
            .expect("pods")
            .iter()
            .any(|p| p.name.starts_with("telemetry-agent-"))
    );
    let seeded = lab
        .seed_pods(
            "worker1",
            &[PodSpec::new("monitoring", "telemetry-agent-zz9xq").label("app", "telemetry-agent")],
        )
        .expect("seed");
    let ids = sh_ok(lab, "worker1", "crictl pods -q --label app=telemetry-agent");
    assert_eq!(ids.trim(), seeded[0].id);
    sh_ok(lab, "worker1", "systemctl stop containerd");
    let out = lab.sh("worker1", "crictl pods").expect("sh");
    assert_eq!(
        out.status.code(),
        Some(1),
        "crictl fails while the runtime is down"
    );
    sh_ok(
        lab,
        "worker1",
        "systemctl start containerd && crictl pods -q",
    );
}

fn check_manifest_restart(lab: &Lab) {
    let api = lab.api_endpoints()[0];
    // The API stand-in restarts with new flags when its manifest changes.
    sh_ok(
        lab,
        "cp1",
        "sed -i 's/--max-requests-inflight=400/--max-requests-inflight=800/' \
         /etc/kubernetes/manifests/kube-apiserver.yaml",
    );
    let log = lab
        .node_file("cp1", "/run/breakglass-lab/kube-apiserver.log")
        .expect("path");
    assert!(
        eventually(Duration::from_secs(5), || fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("--max-requests-inflight=800")),
        "the stand-in did not pick up the new manifest"
    );
    assert!(eventually(Duration::from_secs(5), || lab
        .tcp_probe(None, api, Duration::from_secs(1))
        .expect("probe")
        == Probe::Connected));
}

#[test]
fn two_labs_built_in_parallel_do_not_collide() {
    let spec = LabSpec {
        control_planes: 1,
        workers: 1,
        default_pods: false,
        start_kubelets: false,
        api_objects: false,
        incident: false,
        node_groups: 0,
        nodes_per_namespace: 1,
    };
    let builders: Vec<_> = (0..2)
        .map(|_| {
            let spec = spec.clone();
            thread::spawn(move || Lab::build(&spec).expect("build a lab"))
        })
        .collect();
    let labs: Vec<Lab> = builders
        .into_iter()
        .map(|h| h.join().expect("builder"))
        .collect();
    let (a, b) = (&labs[0], &labs[1]);
    assert_ne!(a.id(), b.id());
    assert_ne!(a.subnet(), b.subnet());
    assert!(a.namespaces().iter().all(|ns| !b.namespaces().contains(ns)));
    for lab in &labs {
        let cp = lab.node("cp1").expect("cp1");
        let probe = lab.tcp_probe(Some("worker1"), cp.api_addr(), Duration::from_secs(2));
        assert_eq!(probe.expect("probe"), Probe::Connected);
        let pinned = lab.dir().join("test-known-hosts");
        known_hosts_from_pins(lab, &pinned, false);
        let out = ssh(lab, &pinned, cp, "hostname");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!lab.kubelet_running("worker1").expect("kubelet_running"));
        assert!(lab.pods("worker1").expect("pods").is_empty());
    }
    // Separate bridges: a node of one lab has no route into the other.
    let other = b.node("cp1").expect("cp1").api_addr();
    let probe = a
        .tcp_probe(Some("worker1"), other, Duration::from_secs(1))
        .expect("probe");
    assert!(matches!(probe, Probe::Unreachable(_)), "{probe:?}");
    let gone: Vec<_> = labs
        .iter()
        .map(|l| {
            (
                l.id().to_owned(),
                l.namespaces().to_vec(),
                l.root_interface().to_owned(),
                l.pids(),
                l.dir().to_path_buf(),
            )
        })
        .collect();
    for lab in labs {
        lab.teardown().expect("teardown");
    }
    for (id, namespaces, veth, pids, dir) in gone {
        assert_gone(&id, &namespaces, &veth, &pids, &dir);
    }
}

#[test]
fn cleanup_stale_removes_a_crashed_labs_leftovers() {
    require_root().expect("the lab tests run as root");
    // A lab whose owner died: its directory, hub namespace, root veth and a process inside.
    let id = random_hex(ID_LEN);
    let dir = Path::new(STATE_ROOT).join(&id);
    let mut dead = Command::new("true").spawn().expect("spawn true");
    let owner = owner_record(dead.id()).expect("owner record");
    dead.wait().expect("reap true");
    // Set up under the lock `cleanup_stale` takes, so a concurrent test's cleanup cannot
    // remove the half-built stale lab under our feet.
    let lock = GlobalLock::acquire().expect("lock");
    create_private_dir(&dir).expect("lab dir");
    fs::write(dir.join("owner"), owner).expect("owner");
    let hub = format!("{NS_PREFIX}{id}-hub");
    let veth = format!("{IF_PREFIX}{id}");
    let status = Command::new("ip")
        .args(["netns", "add", &hub])
        .status()
        .expect("ip");
    assert!(status.success());
    let status = Command::new("ip")
        .args([
            "link", "add", &veth, "type", "veth", "peer", "name", "up", "netns", &hub,
        ])
        .status()
        .expect("ip");
    assert!(status.success());
    let mut sleeper = Command::new("ip")
        .args(["netns", "exec", &hub, "sleep", "600"])
        .spawn()
        .expect("sleep in the namespace");
    assert!(eventually(Duration::from_secs(5), || !processes_in(
        &netns_inodes(std::slice::from_ref(&hub))
    )
    .is_empty()));
    drop(lock);

    // A live lab (this process owns it) is left alone.
    let live = Lab::build(&LabSpec::new(1, 0)).expect("build a live lab");
    Lab::cleanup_stale().expect("cleanup");
    let status = sleeper.wait().expect("reap the sleeper");
    assert_eq!(
        status.signal(),
        Some(9),
        "the process in the stale namespace was killed"
    );
    assert_gone(&id, &[hub], &veth, &[], &dir);
    assert!(
        netns_list().contains(&live.namespaces()[0]),
        "a live lab was removed"
    );
    assert!(
        live.tcp_probe(None, live.api_endpoints()[0], Duration::from_secs(2))
            .expect("probe")
            == Probe::Connected
    );
}

/// `(exit code, stdout, stderr)` of a script on a node.
fn sh_out(lab: &Lab, node: &str, script: &str) -> (Option<i32>, String, String) {
    let out = lab.sh(node, script).expect("sh");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_node_posing_as_systemd_runs_transient_timers() {
    let lab = Lab::build(&LabSpec {
        control_planes: 1,
        workers: 1,
        default_pods: false,
        start_kubelets: false,
        api_objects: false,
        incident: false,
        node_groups: 0,
        nodes_per_namespace: 1,
    })
    .expect("build the lab");
    let arm = "systemd-run --unit=t1 --on-active=30s --timer-property=AccuracySec=1s \
               --description='a long one' /bin/sh -c 'touch /tmp/t1-ran'";
    let (code, _, err) = sh_out(&lab, "cp1", arm);
    assert_eq!(code, Some(1), "armed a timer without systemd as PID 1");
    assert!(err.contains("not been booted with systemd"), "{err}");

    lab.pose_as_systemd("cp1").expect("cp1 poses as systemd");
    assert_eq!(sh_ok(&lab, "cp1", "cat /proc/1/comm"), "systemd\n");
    assert_ne!(sh_ok(&lab, "worker1", "cat /proc/1/comm"), "systemd\n");
    assert_eq!(
        sh_out(&lab, "cp1", arm),
        (
            Some(0),
            String::new(),
            "Running timer as unit: t1.timer\nWill run service as unit: t1.service\n".into()
        )
    );
    assert_eq!(
        sh_out(&lab, "cp1", "systemctl is-active t1.timer").0,
        Some(0)
    );
    assert_eq!(
        sh_out(&lab, "worker1", "systemctl is-active t1.timer"),
        (Some(3), "inactive\n".into(), String::new()),
        "a timer of cp1 is visible on worker1"
    );
    let list = "systemctl list-units --no-legend --plain --state=active 't*.timer'";
    let listed = sh_ok(&lab, "cp1", list);
    assert_eq!(
        listed.split_whitespace().collect::<Vec<_>>(),
        [
            "t1.timer", "loaded", "active", "waiting", "a", "long", "one"
        ],
        "{listed}"
    );
    let (code, _, err) = sh_out(&lab, "cp1", arm);
    assert_eq!(code, Some(1), "armed the same unit twice");
    assert!(err.contains("Unit t1.timer was already loaded"), "{err}");

    assert_eq!(sh_out(&lab, "cp1", "systemctl stop t1.timer").0, Some(0));
    assert_eq!(
        sh_out(&lab, "cp1", "systemctl is-active --quiet t1.timer"),
        (Some(3), String::new(), String::new())
    );
    let (code, _, err) = sh_out(&lab, "cp1", "systemctl stop t1.timer");
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("Unit t1.timer not loaded"), "{err}");
    assert_eq!(sh_ok(&lab, "cp1", list), "");
    assert!(
        sh_ok(&lab, "cp1", "pgrep -f '[b]reakglass-lab-timer' || true").is_empty(),
        "the stopped timer's process is still there"
    );

    // A short one fires, in the service's environment rather than the caller's.
    let armed = Instant::now();
    assert_eq!(
        sh_out(
            &lab,
            "cp1",
            "cd /tmp && FOO=caller systemd-run --quiet --unit=t2 --on-active=1 \
             --timer-property=AccuracySec=100ms /bin/sh -c \
             'echo \"${FOO-unset} $(pwd) $(umask)\" > /tmp/t2-ran'"
        ),
        (Some(0), String::new(), String::new())
    );
    let ran = lab.node_file("cp1", "/tmp/t2-ran").expect("node path");
    assert!(
        eventually(Duration::from_secs(10), || ran.exists()),
        "the timer did not fire"
    );
    assert!(
        armed.elapsed() >= Duration::from_secs(1),
        "fired after {:?}, before --on-active=1",
        armed.elapsed()
    );
    assert!(eventually(Duration::from_secs(5), || {
        sh_out(&lab, "cp1", "systemctl is-active t2.timer").0 == Some(3)
    }));
    assert_eq!(fs::read_to_string(&ran).expect("read"), "unset / 0022\n");
    assert!(!lab.node_file("cp1", "/tmp/t1-ran").expect("path").exists());
}

/// The telemetry-agent pods on `node` that are ready, by name.
fn agent_pods(lab: &Lab, node: &str) -> Vec<String> {
    lab.pods(node)
        .expect("pods")
        .into_iter()
        .filter(|p| {
            p.ready && p.namespace == WORKLOAD_NAMESPACE && p.name.starts_with("telemetry-agent-")
        })
        .map(|p| p.name)
        .collect()
}

/// With API objects: etcd on cp1 holds the `DaemonSet` the lab created through the API; the
/// kubelets register their Nodes and follow the `DaemonSet`: a killed pod comes back, a paused
/// `DaemonSet`'s pods go away on every node, and come back once it selects the nodes again.
#[test]
fn kubelets_follow_the_daemonset_kept_in_etcd() {
    require_root().expect("these tests need root");
    let lab = Lab::build(&LabSpec {
        api_objects: true,
        ..LabSpec::new(1, 2)
    })
    .expect("build");
    let etcd = lab.etcdctl().expect("the lab has an etcd");
    let stored = etcd
        .get(WORKLOAD_KEY)
        .expect("etcdctl get")
        .expect("the DaemonSet is in etcd");
    let stored: serde_json::Value = serde_json::from_slice(&stored).expect("stored as JSON");
    assert_eq!(stored["kind"], "DaemonSet");
    let inventory = fs::read_to_string(lab.inventory_path()).expect("inventory");
    assert!(
        inventory.contains(&format!("etcd_endpoints = [\"{}\"]", etcd.endpoint)),
        "{inventory}"
    );

    let names: Vec<String> = lab.nodes().iter().map(|n| n.name.clone()).collect();
    // Every node registers itself, with its labels and address.
    assert!(
        eventually(Duration::from_secs(10), || {
            lab.api_request("GET", "/api/v1/nodes", None)
                .is_ok_and(|r| {
                    r.body["items"]
                        .as_array()
                        .is_some_and(|i| i.len() == names.len())
                })
        }),
        "nodes did not register"
    );
    for node in &names {
        assert_eq!(
            agent_pods(&lab, node).len(),
            1,
            "{node}: {:?}",
            lab.pods(node)
        );
    }

    // Killed on a node, the pod comes back: the DaemonSet still wants it there.
    let worker = "worker1";
    sh_ok(
        &lab,
        worker,
        "crictl rmp -f $(crictl pods -q --namespace monitoring --name telemetry-agent-)",
    );
    assert!(agent_pods(&lab, worker).is_empty());
    assert!(
        eventually(Duration::from_secs(10), || agent_pods(&lab, worker).len()
            == 1),
        "the killed pod did not come back"
    );

    // Paused (a nodeSelector no node has): gone everywhere, and it stays gone.
    let path = format!("/apis/apps/v1/namespaces/{WORKLOAD_NAMESPACE}/daemonsets/{WORKLOAD_NAME}");
    let patch = |selector: serde_json::Value| {
        let body = serde_json::json!({"spec": {"template": {"spec": {"nodeSelector": selector}}}});
        let r = lab
            .api_request(
                "PATCH",
                &path,
                Some(("application/merge-patch+json", &body.to_string())),
            )
            .expect("patch");
        assert_eq!(r.code, 200, "{}", r.body);
    };
    patch(serde_json::json!({"breakglass.io/paused": "test"}));
    assert!(
        eventually(Duration::from_secs(10), || names
            .iter()
            .all(|n| agent_pods(&lab, n).is_empty())),
        "paused, the pods did not go"
    );
    thread::sleep(Duration::from_secs(3));
    assert!(names.iter().all(|n| agent_pods(&lab, n).is_empty()));

    // Selecting the workers only: back on them, not on the control plane.
    patch(serde_json::json!({"breakglass.io/paused": null, "role": "worker"}));
    assert!(
        eventually(Duration::from_secs(10), || {
            names
                .iter()
                .filter(|n| n.starts_with("worker"))
                .all(|n| agent_pods(&lab, n).len() == 1)
        }),
        "the pods did not come back on the workers"
    );
    assert!(agent_pods(&lab, "cp1").is_empty());
    lab.teardown().expect("teardown");
}

/// The scale mode: workers packed three to a namespace, each still its own host: its own
/// address, sshd on it with its own host key (pinned), hostname, and processes; the control
/// plane alone in its namespace. Teardown leaves nothing.
#[test]
fn scale_mode_packs_workers_into_shared_namespaces_each_still_its_own_host() {
    require_root().expect("the lab tests run as root");
    let mut lab = Lab::build(&LabSpec {
        nodes_per_namespace: 3,
        ..LabSpec::new(1, 7)
    })
    .expect("build");
    // hub, cp1, and the workers in ceil(7 / 3) = 3 namespaces.
    let namespaces = lab.namespaces().to_vec();
    assert_eq!(namespaces.len(), 1 + 1 + 3, "{namespaces:?}");
    let ns_of = |n: &str| lab.node(n).expect(n).netns.clone();
    assert_eq!(ns_of("worker1"), ns_of("worker3"));
    assert_ne!(ns_of("worker3"), ns_of("worker4"));
    assert_ne!(ns_of("cp1"), ns_of("worker1"));
    let mut addresses: Vec<_> = lab.nodes().iter().map(|n| n.address).collect();
    let mut keys: Vec<_> = lab.nodes().iter().map(|n| n.host_key.clone()).collect();
    addresses.sort_unstable();
    addresses.dedup();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!((addresses.len(), keys.len()), (8, 8));

    // Every node answers SSH on its own address with its own pinned key, as itself.
    let pinned = lab.dir().join("pinned_known_hosts");
    known_hosts_from_pins(&lab, &pinned, false);
    for node in lab.nodes() {
        let out = ssh(&lab, &pinned, node, "hostname; cat /proc/1/comm");
        assert!(out.status.success(), "{}: {out:?}", node.name);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.lines().next(), Some(node.name.as_str()), "{text}");
    }
    // A key that is another node's is refused: sharing a namespace shares no identity.
    let rotated = lab.dir().join("rotated_known_hosts");
    known_hosts_from_pins(&lab, &rotated, true);
    let w2 = lab.node("worker2").expect("worker2");
    assert!(!ssh(&lab, &rotated, w2, "true").status.success());

    // Processes are the node's own: stopping worker1's kubelet leaves worker2's running.
    sh_ok(&lab, "worker1", "systemctl stop kubelet");
    assert!(
        !lab.sh("worker1", "systemctl is-active kubelet")
            .expect("sh")
            .status
            .success()
    );
    sh_ok(&lab, "worker2", "systemctl is-active kubelet");
    // A pod on worker1, whose namespace two other workers share, reaches the control plane's
    // API through it.
    let pod = lab
        .add_pod_network("worker1")
        .expect("a pod network on worker1");
    let api = lab.node("cp1").expect("cp1").api_addr();
    assert_eq!(
        lab.tcp_probe(Some(&pod.name), api, Duration::from_secs(5))
            .expect("probe"),
        Probe::Connected
    );
    // The node's init (a shell) reaps what is orphaned to it: no zombie stays.
    sh_ok(&lab, "worker3", "setsid sh -c 'sleep 0.2 & exit 0'");
    assert!(
        eventually(Duration::from_secs(5), || {
            sh_ok(&lab, "worker3", "ps -eo stat= | grep -c '^Z' || true").trim() == "0"
        }),
        "{}",
        sh_ok(&lab, "worker3", "ps -eo pid,ppid,stat,comm")
    );

    let recorded = lab.pids();
    let (id, veth, dir) = (
        lab.id().to_owned(),
        lab.root_interface().to_owned(),
        lab.dir().to_path_buf(),
    );
    lab.teardown().expect("teardown");
    assert_gone(&id, &namespaces, &veth, &recorded, &dir);
}

/// Above 245 nodes a lab takes a /23 or /22; above a /22's worth it is refused before
/// anything is built.
#[test]
fn a_lab_too_big_for_a_22_is_refused_before_anything_is_built() {
    let e = Lab::build(&LabSpec {
        nodes_per_namespace: 10,
        ..LabSpec::new(1, 1013)
    })
    .expect_err("too big");
    assert!(
        e.to_string()
            .contains("at most 1013 nodes (one /22), not 1014"),
        "{e}"
    );
}
