//! Against the network-namespace lab: deadlines against a host that drops packets, health
//! probes over TLS by IP, policies (pause, gate), and the ordered removal with its etcd
//! fallback (the reference recovery end to end is `tests/drill.rs`).

use std::time::{Duration, Instant};

use breakglass::engine::Event;
use breakglass::lab::netns::{Lab, LabSpec, WORKLOAD_KEY, WORKLOAD_NAMESPACE};

use crate::support::events;
use crate::support::{Scratch, eventually};

fn lab(workers: usize) -> Lab {
    Lab::build(&LabSpec::new(1, workers))
        .expect("lab (needs root, ip, nft, sshd, openssl, python3)")
}

#[test]
fn connect_timeout_holds_against_a_host_that_drops_packets() {
    let lab = lab(1);
    let s = Scratch::new();
    // worker1 silently drops everything to its SSH port: SYNs go unanswered.
    let out = lab
        .sh("worker1", "nft add table inet drill && nft add chain inet drill in '{ type filter hook input priority -50; }' && nft add rule inet drill in tcp dport 22 drop")
        .expect("nft");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started = Instant::now();
    let out = s
        .bg_with(lab.inventory_path())
        .args([
            "--output",
            "json",
            "exec",
            "all",
            "--connect-timeout",
            "2s",
            "--",
            "hostname",
        ])
        .run()
        .code(1);
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "took {:?}",
        started.elapsed()
    );
    let ev = events(&out.stdout);
    let by_target = |name: &str| {
        ev.iter()
            .find_map(|e| match e {
                Event::TargetResult(r) if r.target == name => Some(r.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no result for {name}: {}", out.stdout))
    };
    let w = by_target("worker1");
    assert_eq!(
        (w.outcome.label(), w.phase.as_deref()),
        ("timed_out", Some("connect")),
        "{w:?}"
    );
    let cp = by_target("cp1");
    assert_eq!(cp.outcome, "ok");
    assert_eq!(cp.stdout.as_deref(), Some("cp1\n"));
}

#[test]
fn inventory_check_reports_each_stage() {
    let lab = lab(2);
    let s = Scratch::new();
    let out = s
        .bg_with(lab.inventory_path())
        .args(["inventory", "check"])
        .run()
        .ok();
    assert!(out.stdout.contains("3 hosts checked"), "{}", out.stdout);
    assert!(out.stdout.contains("3 ok, 0 not ok"), "{}", out.stdout);
    lab.sh("worker2", "nft add table inet drill && nft add chain inet drill in '{ type filter hook input priority -50; }' && nft add rule inet drill in tcp dport 22 reject with tcp reset")
        .expect("nft");
    let out = s
        .bg_with(lab.inventory_path())
        .args(["inventory", "check"])
        .run()
        .code(1);
    assert!(
        out.stdout.contains("worker2 (1): unreachable"),
        "{}",
        out.stdout
    );
}

const HEALTH: &str = r#"
name = "health"
summary = "probe the API servers"

[params.cluster]
type = "string"
default = "lab"
help = "cluster"

[params.timeout]
type = "duration"
default = "20s"
help = "give up after"

[[steps]]
id = "healthy"
action = "wait.healthy"
[steps.with]
window = "2s"
interval = "500ms"
timeout = "${timeout}"
"#;

#[test]
fn wait_healthy_probes_the_api_over_tls_by_ip_and_fails_when_blocked() {
    let lab = lab(1);
    let s = Scratch::new();
    let rb = s.write("health.toml", HEALTH);
    let out = s
        .bg_with(lab.inventory_path())
        .args(["--output", "json", "run"])
        .arg(&rb)
        .arg("--yes")
        .run()
        .ok();
    // `wait.healthy` is an ordinary step acting once, from the operator's machine.
    let probed = events(&out.stdout).into_iter().find_map(|e| match e {
        Event::TargetResult(r) if r.step.as_deref() == Some("healthy") => Some(r),
        _ => None,
    });
    let probed = probed.expect("the wait.healthy step's result");
    assert_eq!(
        (probed.target.as_str(), probed.outcome.label()),
        ("operator", "ok"),
        "{probed:?}"
    );
    let summary = probed.summary.unwrap_or_default();
    assert!(summary.starts_with("healthy: "), "{summary}");

    // The API server stops answering the operator: the step fails within its timeout, exit 3.
    lab.sh("cp1", "nft add table inet drill && nft add chain inet drill in '{ type filter hook input priority -50; }' && nft add rule inet drill in tcp dport 6443 drop")
        .expect("nft");
    let started = Instant::now();
    let out = s
        .bg_with(lab.inventory_path())
        .arg("run")
        .arg(&rb)
        .args(["--yes", "-p", "timeout=4s"])
        .run()
        .code(3);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        out.stdout
            .contains("STOPPED at step healthy: operator: not healthy: still unhealthy"),
        "{}",
        out.stdout
    );
}

/// `lab up` waits for a signal, then tears the lab down: its namespaces exist while it is up,
/// `lab status` lists it, and `lab down ID` (SIGTERM to its owner, as a script or service
/// manager would stop it) leaves none of them.
#[test]
fn lab_up_stays_up_until_lab_down_signals_it_then_tears_down() {
    let netns = || {
        let out = std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip netns list");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let s = Scratch::new();
    let mut live = s
        .bg()
        .args(["lab", "up", "--workers", "1", "--control-planes", "1"])
        .spawn();
    let first = live.wait_for(Duration::from_secs(120), |l| l.starts_with("lab "));
    let id = first.split_whitespace().nth(1).expect("lab ID").to_owned();
    live.wait_for(Duration::from_secs(10), |l| l.contains("Press Ctrl-C"));
    let prefix = format!("bglab-{id}-");
    assert!(netns().contains(&prefix), "{}", netns());
    // `lab status` lists it, up, with its inventory.
    let status = s
        .bg()
        .args(["--output", "json", "lab", "status"])
        .run()
        .ok();
    let listed: Vec<serde_json::Value> = status
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let mine = listed
        .iter()
        .find(|l| l["id"] == id.as_str())
        .unwrap_or_else(|| panic!("lab {id} not in {}", status.stdout));
    assert_eq!(mine["alive"], true);
    assert_eq!(mine["nodes"], 2);
    // `lab down ID` asks its owner (this `lab up`) to tear it down, and waits until it did.
    let down = s.bg().args(["lab", "down", &id]).run().ok();
    assert!(down.stdout.contains("1 lab(s) down"), "{}", down.stdout);
    assert!(!netns().contains(&prefix), "{}", netns());
    let unknown = s.bg().args(["lab", "down", "ffffff"]).run().code(2);
    assert!(
        unknown.stderr.contains("no lab ffffff"),
        "{}",
        unknown.stderr
    );
    let out = live.finish();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("tearing the lab down"),
        "{}",
        out.stderr
    );
    assert!(!netns().contains(&prefix), "{}", netns());
}

/// The ready telemetry-agent pods on each node of the lab.
fn agent_pods(lab: &Lab) -> Vec<(String, usize)> {
    lab.nodes()
        .iter()
        .map(|n| {
            let ready = lab
                .pods(&n.name)
                .expect("pods")
                .iter()
                .filter(|p| {
                    p.ready
                        && p.namespace == WORKLOAD_NAMESPACE
                        && p.name.starts_with("telemetry-agent-")
                })
                .count();
            (n.name.clone(), ready)
        })
        .collect()
}

/// `workload-removal` when no API server answers the operator (its packets to 6443 dropped on
/// the control plane; the nodes still reach it): the pause is unreachable, so the `DaemonSet`'s
/// key is deleted in etcd itself; the kubelets, which read the API, remove their pods; the kill
/// and the check find none coming back. `undo` puts the key back byte for byte, and the pods
/// come back with it.
#[test]
fn ordered_removal_falls_back_to_etcd_when_no_api_server_answers_and_the_pods_stay_gone() {
    let lab = Lab::build(&LabSpec {
        api_objects: true,
        ..LabSpec::new(1, 2)
    })
    .expect("lab (needs root, ip, nft, sshd, openssl, python3, etcd, curl)");
    let etcd = lab.etcdctl().expect("the lab's etcd");
    let before = etcd.get(WORKLOAD_KEY).expect("get").expect("the DaemonSet");
    let everywhere = |n: usize| agent_pods(&lab).iter().all(|(_, c)| *c == n);
    assert!(
        eventually(Duration::from_secs(10), || everywhere(1)),
        "{:?}",
        agent_pods(&lab)
    );

    let operator = lab.operator_address();
    lab.sh(
        "cp1",
        &format!(
            "nft add table inet drill && nft add chain inet drill in '{{ type filter hook input priority -50; }}' \
             && nft add rule inet drill in ip saddr {operator} tcp dport 6443 drop"
        ),
    )
    .expect("nft");
    let s = Scratch::new();
    let out = s
        .bg_with(lab.inventory_path())
        .args(["--output", "json", "run", "workload-removal", "--yes"])
        .args(["-p", "cluster=lab", "-p", "namespace=monitoring"])
        .args(["-p", "daemonset=telemetry-agent", "-p", "settle_seconds=20"])
        .args(["-p", "hold_seconds=3"])
        .run();
    let evs = events(&out.stdout);
    let outcome = |step: &str| -> Vec<String> {
        evs.iter()
            .filter_map(|e| match e {
                Event::TargetResult(r) if r.step.as_deref() == Some(step) => {
                    Some(r.outcome.label().to_owned())
                }
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        outcome("pause-daemonset"),
        ["unreachable"],
        "{}",
        out.stdout
    );
    assert_eq!(outcome("delete-from-etcd"), ["ok"], "{}", out.stdout);
    assert!(
        outcome("kill-pods").iter().all(|o| o == "ok"),
        "{}",
        out.stdout
    );
    assert_eq!(outcome("check-object"), ["ok"], "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "DaemonSet monitoring/telemetry-agent is gone (etcd, since no API server answered"
        ),
        "{}",
        out.stdout
    );
    assert_eq!(outcome("check-gone"), ["ok", "ok", "ok"], "{}", out.stdout);
    assert_eq!(etcd.get(WORKLOAD_KEY).expect("get"), None);
    // Nothing comes back: the kubelets follow the API, which no longer has the object.
    std::thread::sleep(Duration::from_secs(4));
    assert!(everywhere(0), "{:?}", agent_pods(&lab));

    let run = evs
        .iter()
        .find_map(|e| match e {
            Event::RunBegin(b) => Some(b.run_id.clone()),
            _ => None,
        })
        .expect("run id");
    s.bg_with(lab.inventory_path())
        .args(["undo", &run, "--yes"])
        .run()
        .ok();
    assert_eq!(
        etcd.get(WORKLOAD_KEY).expect("get").as_deref(),
        Some(&before[..])
    );
    assert!(
        eventually(Duration::from_secs(10), || everywhere(1)),
        "the pods did not come back with the object: {:?}",
        agent_pods(&lab)
    );
    lab.teardown().expect("teardown");
}

const SHRINK: &str = r#"
name = "shrink"
summary = "Shrink the lab's node groups"

[params.cluster]
type = "cluster"
required = true
help = "The lab"

[[steps]]
id = "shrink"
action = "nodes.scale"
[steps.with]
to = 1
wait = "1m"
"#;

/// The lab's workers belong to real moto Auto Scaling groups: `nodes.scale` stops the nodes a
/// group no longer has (their sshd and agents gone, the address silent), and `undo` starts
/// them again, reachable with the same host key.
#[test]
fn node_groups_in_moto_stop_and_start_lab_nodes_as_their_capacity_changes() {
    use breakglass::lab::netns::NodeGroupController;
    let lab = std::sync::Arc::new(
        Lab::build(&LabSpec {
            node_groups: 2,
            ..LabSpec::new(1, 4)
        })
        .expect("lab with node groups (needs root, moto_server)"),
    );
    let groups: Vec<(String, Vec<String>)> = lab
        .node_groups()
        .iter()
        .map(|g| (g.asg.clone(), g.members.clone()))
        .collect();
    assert_eq!(
        groups,
        [
            (
                "lab-ng-1".to_owned(),
                vec!["worker1".to_owned(), "worker2".to_owned()]
            ),
            (
                "lab-ng-2".to_owned(),
                vec!["worker3".to_owned(), "worker4".to_owned()]
            ),
        ]
    );
    let controller = NodeGroupController::start(&lab)
        .expect("controller")
        .expect("the lab has groups");
    let moto = lab.moto().expect("moto");
    let s = Scratch::new();
    let inv = lab.inventory_path();
    let inventory = std::fs::read_to_string(&inv).expect("inventory");
    assert!(inventory.contains("node_group = \"ng-2\""), "{inventory}");
    let rb = s.write("shrink.toml", SHRINK);
    let out = s
        .bg_with(&inv)
        .args(["--output", "json", "run"])
        .arg(&rb)
        .args(["-p", "cluster=lab", "--yes"])
        .run()
        .ok();
    let ev = out.json_lines();
    let run_id = ev
        .iter()
        .find_map(|e| e["run_id"].as_str())
        .expect("run id")
        .to_owned();
    // boto3, not breakglass, reads the groups back.
    let sizes = |asg: &str| {
        moto.boto(
        &format!(
            "g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[{asg:?}])['AutoScalingGroups'][0]\n\
             print(g['DesiredCapacity'], len(g['Instances']))\n"
        ),
        None,
    ).expect("boto3").trim().to_owned()
    };
    assert_eq!(sizes("lab-ng-1"), "1 1");
    assert_eq!(sizes("lab-ng-2"), "1 1");
    let reachable = |name: &str| {
        std::net::TcpStream::connect_timeout(
            &lab.node(name).expect("node").ssh_addr(),
            Duration::from_millis(300),
        )
        .is_ok()
    };
    assert!(
        eventually(Duration::from_secs(15), || !reachable("worker2")
            && !reachable("worker4")),
        "worker2 and worker4 still answer on port 22 after their groups shrank to 1"
    );
    assert!(reachable("worker1") && reachable("worker3") && reachable("cp1"));
    assert!(lab.node("worker2").expect("node").init_pid().is_none());
    assert!(
        lab.sh("worker4", "true").is_err(),
        "a stopped node runs nothing"
    );

    s.bg_with(&inv).args(["undo", &run_id, "--yes"]).run().ok();
    assert_eq!(sizes("lab-ng-1"), "2 2");
    assert!(
        eventually(Duration::from_secs(30), || reachable("worker2")
            && reachable("worker4")),
        "worker2 and worker4 did not come back after undo"
    );
    // Back as a fresh instance of the same node: same host key (the inventory's pin holds),
    // its kubelet started again.
    let out = s
        .bg_with(&inv)
        .args([
            "--output",
            "json",
            "exec",
            "worker2,worker4",
            "--",
            "hostname",
        ])
        .run()
        .ok();
    let mut names: Vec<String> = out
        .json_lines()
        .iter()
        .filter_map(|e| e["stdout"].as_str().map(|o| o.trim().to_owned()))
        .collect();
    names.sort();
    assert_eq!(names, ["worker2", "worker4"], "{}", out.stdout);
    assert!(
        eventually(Duration::from_secs(10), || lab
            .kubelet_running("worker4")
            .unwrap_or(false)),
        "worker4's kubelet is not running after its restart"
    );
    drop(controller);
    let lab = std::sync::Arc::try_unwrap(lab).expect("the controller let go of the lab");
    lab.teardown().expect("teardown");
}

/// Stacked etcd, as kubeadm lays it out: a member on every control plane, each API server on
/// its own member, and a cluster that keeps serving the API with one member down.
#[test]
fn three_control_planes_run_a_three_member_etcd_that_survives_losing_one() {
    let lab = Lab::build(&LabSpec {
        api_objects: true,
        ..LabSpec::new(3, 1)
    })
    .expect("lab (needs root, etcd)");
    assert_eq!(lab.etcd_endpoints().len(), 3);
    let inventory = std::fs::read_to_string(lab.inventory_path()).expect("inventory");
    for ep in lab.etcd_endpoints() {
        assert!(inventory.contains(&format!("\"{ep}\"")), "{inventory}");
    }
    let etcd = lab.etcdctl().expect("etcdctl");
    let out = etcd
        .run(&["member", "list", "-w", "simple"], None)
        .expect("etcdctl");
    let members = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(members.lines().count(), 3, "{members}");
    for cp in ["cp1", "cp2", "cp3"] {
        assert!(members.contains(&format!(", {cp}, ")), "{members}");
        // Each API server is configured with its own member, through loopback.
        let manifest = String::from_utf8(lab.manifest(cp).expect("manifest")).expect("utf-8");
        assert!(
            manifest.contains("--etcd-servers=https://127.0.0.1:2379"),
            "{manifest}"
        );
    }
    // cp3's member goes; the other two keep quorum and cp1's API server keeps its objects.
    let out = lab
        .sh("cp3", "kill \"$(cat /run/breakglass-lab/etcd.pid)\"")
        .expect("kill etcd");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = format!("/apis/apps/v1/namespaces/{WORKLOAD_NAMESPACE}/daemonsets");
    assert!(
        eventually(Duration::from_secs(10), || lab
            .api_request("GET", &path, None)
            .is_ok_and(
                |r| r.code == 200 && r.body.to_string().contains("telemetry-agent")
            )),
        "cp1's API server lost its objects with one etcd member of three down"
    );
    let out = etcd
        .run(&["put", "/breakglass-test", "x"], None)
        .expect("put");
    assert!(
        out.status.success(),
        "no quorum with two of three members: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    lab.teardown().expect("teardown");
}
