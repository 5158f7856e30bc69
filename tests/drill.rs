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
    let s = Scratch::new();
    let report = s.path().join("report");
    let before = lab_namespaces();
    let out = s
        .bg()
        .args(["drill", "--lab", "apiserver-overload", "--workers", "20"])
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
    assert!(good.len() >= 40, "{} samples in the window", good.len());
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
    // `lab down`: nothing left behind.
    assert_eq!(lab_namespaces(), before);
}
