//! `breakglass drill --lab`: the reference incident reproduced on this machine and the shipped
//! recovery measured against it, judged from the drill's own samples (the API servers' stats,
//! `/readyz` probes, the pods on the nodes), never from the run's claims.

use serde_json::Value;

use crate::support::Scratch;

/// The `bglab-*` network namespaces that exist now.
fn lab_namespaces() -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with("bglab-"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_lab_drill_saturates_the_api_recovers_it_and_restores_the_fleet() {
    lab_drill(1, 21);
}

/// The scale mode: the same drill with five workers to a network namespace (four namespaces
/// of workers), each worker still its own host to SSH, the waves and the node groups.
#[test]
fn a_scale_mode_drill_with_workers_sharing_namespaces_recovers_the_same_way() {
    lab_drill(5, 1 + 4);
}

/// A full drill of 1 control plane and 20 workers in two node groups of ten, `per_ns` workers
/// to a network namespace (`namespaces` in all), judged from its samples.
fn lab_drill(per_ns: usize, namespaces: usize) {
    let s = Scratch::new();
    let report = s.path().join("report");
    let out = s
        .bg()
        .args(["drill", "--lab", "apiserver-overload", "--workers", "20"])
        .args(["--nodes-per-namespace", &per_ns.to_string()])
        .arg("--report-dir")
        .arg(&report)
        .args([
            "--expect",
            "restored=true",
            "--expect",
            "api_requests_max=50",
        ])
        .args(["--recovery-window", "15s"])
        .run();
    assert_eq!(
        out.code, 0,
        "--- stdout\n{}\n--- stderr\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("(21 nodes in {namespaces} network namespaces on ")),
        "{}",
        out.stderr
    );
    let text = std::fs::read_to_string(report.join("report.json")).expect("report.json");
    let r: Value = serde_json::from_str(&text).expect("report.json parses");
    let samples = r["samples"].as_array().expect("samples");
    let at = |key: &str| r[key].as_u64().unwrap_or_else(|| panic!("{key} in {r}"));
    let (detect, run_start, recovered) = (at("detect_ms"), at("run_start_ms"), at("recovered_ms"));
    let threshold = r["latency_threshold_ms"].as_f64().expect("threshold");
    let t = |x: &Value| x["t_ms"].as_u64().unwrap_or(0);
    // Saturated before the run: readyz failing with p99 over the threshold, from the samples.
    assert!(
        samples.iter().any(|x| t(x) <= run_start
            && x["ready"] == false
            && x["p99_ms"].as_f64().is_some_and(|p| p > threshold)),
        "no saturated sample before the run"
    );
    assert!(detect <= run_start && run_start < recovered);
    // Recovered after it: every sample in the recovery window ready and fast.
    let window = at("recovery_window_ms");
    let good: Vec<&Value> = samples
        .iter()
        .filter(|x| t(x) >= recovered && t(x) <= recovered + window)
        .collect();
    // Sampled throughout: the sampler ticks every 250 ms, slower on a loaded machine, but no
    // two seconds of the window go unsampled (so "every sample" below is not vacuous).
    let times: Vec<u64> = std::iter::once(recovered)
        .chain(good.iter().map(|x| t(x)))
        .chain(std::iter::once(recovered + window))
        .collect();
    let widest = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or(u64::MAX);
    assert!(
        widest <= 2000,
        "a {widest} ms gap in the recovery window's {} samples",
        good.len()
    );
    assert!(
        good.iter()
            .all(|x| x["ready"] == true && x["p99_ms"].as_f64().is_none_or(|p| p <= threshold))
    );
    // The agents did not come back after the ordered removal: none between the end of the
    // final check and the undo.
    let steps = r["steps"].as_array().expect("steps");
    let end_of = |id: &str| {
        steps
            .iter()
            .find(|s| s["id"] == id)
            .and_then(|s| s["end_ms"].as_u64())
            .unwrap_or_else(|| panic!("step {id} did not end: {steps:?}"))
    };
    let gone = end_of("check-gone");
    assert!(
        samples
            .iter()
            .filter(|x| t(x) >= gone.saturating_sub(5000) && t(x) <= gone)
            .all(|x| x["agent_pods"] == 0)
    );
    assert_eq!(r["restored"], true);
    // The workers are in two Auto Scaling groups of ten (moto in the lab): the shrink to 30%
    // stopped all but three of each, and the undo brought them back.
    let shrink = steps
        .iter()
        .find(|s| s["id"] == "shrink-node-groups")
        .expect("the shrink step ran");
    assert_eq!(shrink["status"], "completed", "{shrink}");
    assert_eq!(shrink["outcomes"]["ok"], 2, "{shrink}");
    let running = |x: &Value| x["nodes_running"].as_u64();
    let shrunk = end_of("shrink-node-groups");
    assert!(
        samples
            .iter()
            .any(|x| t(x) >= shrunk && t(x) <= gone && running(x) == Some(7)),
        "no sample with 1 control plane and 6 workers running after the shrink"
    );
    assert_eq!(samples.last().and_then(running), Some(21));
    // The lab's inventory names no control-plane group: adding API servers is skipped.
    let added = steps
        .iter()
        .find(|s| s["id"] == "add-apiservers")
        .expect("the add-apiservers step is listed");
    assert_eq!(added["status"], "skipped", "{added}");
    // One SSH login per target per step, counted by each node's sshd: no node paid more
    // logins than the run has SSH steps on it (block, quiesce, tune, kill, unblock, check).
    let logins = r["ssh_logins_per_node"].as_u64().expect("logins counted");
    assert!((1..=6).contains(&logins), "{logins} logins on one node");
    assert!(
        r["breakglass_api_requests"]
            .as_u64()
            .is_some_and(|n| n > 0 && n <= 50)
    );
    // The report's files parse and name every step.
    let md = std::fs::read_to_string(report.join("report.md")).expect("report.md");
    let html = std::fs::read_to_string(report.join("report.html")).expect("report.html");
    for step in steps {
        let id = step["id"].as_str().expect("id");
        assert!(
            md.contains(id) && html.contains(id),
            "step {id} missing from the report"
        );
    }
    assert!(out.stdout.contains("report"), "{}", out.stdout);
    // The lab is gone: none of its namespaces is left (other tests' labs may come and go).
    let id = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("[drill] lab ")?.split_whitespace().next())
        .expect("the drill names its lab");
    let prefix = format!("bglab-{id}-");
    assert!(
        lab_namespaces().iter().all(|n| !n.starts_with(&prefix)),
        "{:?}",
        lab_namespaces()
    );
    assert!(
        !std::path::Path::new("/run/breakglass-lab")
            .join(id)
            .exists()
    );
}

/// A drill against an inventory (the lab's, without `--lab`): a step makes the API server stop
/// answering the operator, the `not_ready` stop condition trips, the run stops before its next
/// step, and the block it had placed is undone.
#[test]
fn a_drill_whose_stop_condition_trips_stops_the_run_and_undoes_it() {
    let lab = breakglass::lab::netns::Lab::build(&breakglass::lab::netns::LabSpec {
        default_pods: false,
        start_kubelets: false,
        ..breakglass::lab::netns::LabSpec::new(1, 1)
    })
    .expect("lab (needs root, ip, nft, sshd, openssl, python3)");
    let s = Scratch::new();
    let operator = lab.operator_address();
    let rb = s.write(
        "drill-stop.toml",
        &format!(
            r#"name = "drill-stop"
summary = "a block, then a step that breaks /readyz for the operator"

[params.cluster]
type = "string"
default = "lab"
help = "cluster"

[[steps]]
id = "block"
action = "firewall.block"
targets = "cluster=${{cluster}},role=control-plane"
[steps.with]
ports = [10250]
allow = ["{operator}/32"]
revert_after = "10m"

[[steps]]
id = "break-readyz"
action = "ssh.exec"
targets = "cluster=${{cluster}},role=control-plane"
timeout = "8s"
[steps.with]
command = "nft add table inet drilltest && nft add chain inet drilltest in '{{ type filter hook input priority -50; }}' && nft add rule inet drilltest in ip saddr {operator} tcp dport 6443 drop && sleep 30"

[[steps]]
id = "never"
action = "ssh.exec"
targets = "cluster=${{cluster}},role=control-plane"
[steps.with]
command = "true"
"#
        ),
    );
    let report = s.path().join("report");
    let out = s
        .bg_with(lab.inventory_path())
        .arg("drill")
        .arg(&rb)
        .args(["-p", "cluster=lab", "--stop-if", "not_ready=1s"])
        .args(["--recovery-timeout", "1s", "--recovery-window", "1s"])
        .arg("--report-dir")
        .arg(&report)
        .run();
    assert_eq!(
        out.code, 3,
        "--- stdout\n{}\n--- stderr\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stderr
            .contains("stop condition tripped: an API endpoint failed /readyz for 1s"),
        "{}",
        out.stderr
    );
    let r: Value = serde_json::from_str(
        &std::fs::read_to_string(report.join("report.json")).expect("report.json"),
    )
    .expect("parses");
    assert!(
        r["verdict"]
            .as_str()
            .is_some_and(|v| v.starts_with("stopped") && v.ends_with("undone")),
        "{r}"
    );
    assert_eq!(r["restored"], true);
    let steps: Vec<&str> = r["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(!steps.contains(&"never"), "{steps:?}");
    // Journaled as a drill: `journal list` says so.
    let run_id = r["run_id"].as_str().expect("run id");
    let list = s
        .bg_with(lab.inventory_path())
        .args(["journal", "list"])
        .run()
        .ok();
    let line = list
        .stdout
        .lines()
        .find(|l| l.starts_with(run_id))
        .unwrap_or_else(|| panic!("{run_id} not listed:\n{}", list.stdout));
    assert_eq!(line.split_whitespace().nth(2), Some("drill"), "{line}");
    // The block is gone from the control plane (undo), the test's own table is still there.
    let ruleset = lab.sh("cp1", "nft list tables").expect("nft");
    let tables = String::from_utf8_lossy(&ruleset.stdout);
    assert!(!tables.contains("breakglass"), "{tables}");
    assert!(tables.contains("drilltest"), "{tables}");
    lab.teardown().expect("teardown");
}
