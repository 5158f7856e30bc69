//! The node-level actions end to end in the network-namespace lab (`breakglass::lab::netns`):
//! the built binary runs runbooks over real SSH against real sshd per node, and the tests look
//! at the nodes directly (processes, files, the crictl stand-in's state) to see what changed.
//! `nodes.quiesce` and its undo, `apiservers.tune` and its byte-for-byte undo, `undo --step` and
//! the reverse step order of a full undo, `workload.kill`, and `resume` after breakglass is
//! `SIGKILLed` mid-wave.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use breakglass::lab::netns::{Lab, LabSpec, PodSpec};
use serde_json::Value;

use crate::support::eventually;
use crate::support::{Bg, Ran, Scratch};

/// Every test runbook starts with this: steps that ask for confirmation need `cluster`.
const HEADER: &str = r#"name = "actions-test"
summary = "one action against the lab"

[params.cluster]
type = "string"
default = "lab"
help = "the lab's cluster name"
"#;

const MANIFEST: &str = "/etc/kubernetes/manifests/kube-apiserver.yaml";

/// A lab plus a scratch home for breakglass (its journal, config).
struct Env {
    lab: Lab,
    scratch: Scratch,
}

impl Env {
    fn new(spec: &LabSpec) -> Env {
        Env {
            lab: Lab::build(spec)
                .expect("build the lab (root, iproute2, nftables, openssh-server)"),
            scratch: Scratch::new(),
        }
    }

    /// A lab whose nodes run no seeded pods.
    fn without_pods(control_planes: usize, workers: usize) -> Env {
        Env::new(&LabSpec {
            default_pods: false,
            ..LabSpec::new(control_planes, workers)
        })
    }

    fn bg(&self) -> Bg {
        self.scratch
            .bg_with(self.lab.inventory_path())
            .env("BREAKGLASS_NO_AGENT", "true")
    }

    fn runbook(&self, steps: &str) -> PathBuf {
        self.scratch
            .write("runbook.toml", &format!("{HEADER}\n{steps}"))
    }

    /// Runs the runbook with `--yes`, expecting exit `code`: (run id, events).
    fn run(&self, steps: &str, code: i32) -> (String, Vec<Value>) {
        let out = self
            .bg()
            .args(["--output", "json", "run"])
            .arg(self.runbook(steps))
            .arg("--yes")
            .run()
            .code(code);
        let events = out.json_lines();
        (run_id(&events), events)
    }

    fn undo(&self, run: &str, code: i32) -> Vec<Value> {
        self.bg()
            .args(["--output", "json", "undo", run, "--yes"])
            .run()
            .code(code)
            .json_lines()
    }

    /// `undo RUN --step STEP --yes`, expecting exit `code`.
    fn undo_step(&self, run: &str, step: &str, code: i32) -> Ran {
        self.bg()
            .args(["--output", "json", "undo", run, "--step", step, "--yes"])
            .run()
            .code(code)
    }

    /// How `journal list --output json` says `run` stands (`null` while unfinished).
    fn status(&self, run: &str) -> Value {
        let runs = self
            .bg()
            .args(["--output", "json", "journal", "list"])
            .run()
            .ok()
            .json_lines();
        let info = runs
            .iter()
            .find(|r| r["run_id"] == run)
            .unwrap_or_else(|| panic!("run {run} not listed: {runs:?}"));
        info["status"].clone()
    }

    fn sh(&self, node: &str, script: &str) -> String {
        let out = self.lab.sh(node, script).expect("run on the node");
        assert!(
            out.status.success(),
            "{node}: `{script}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn kubelet(&self, node: &str) -> bool {
        self.lab.kubelet_running(node).expect("kubelet state")
    }

    /// Files in the node's manifests directory.
    fn manifests_dir(&self, node: &str) -> BTreeSet<String> {
        let dir = self
            .lab
            .node_file(node, "/etc/kubernetes/manifests")
            .expect("node path");
        std::fs::read_dir(dir)
            .expect("read the manifests dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect()
    }
}

fn run_id(events: &[Value]) -> String {
    let first = events.first().expect("no events");
    assert_eq!(first["type"], "run_begin", "{first}");
    first["run_id"].as_str().expect("run_id").to_owned()
}

/// `target -> (outcome, summary or reason)` of one step's results in `mode` (apply or undo).
fn results(events: &[Value], step: &str, mode: &str) -> BTreeMap<String, (String, String)> {
    events
        .iter()
        .filter(|e| e["type"] == "target_result" && e["step"] == step && e["mode"] == mode)
        .map(|e| {
            let text = e["summary"].as_str().or(e["reason"].as_str()).unwrap_or("");
            (
                e["target"].as_str().expect("target").to_owned(),
                (
                    e["outcome"].as_str().expect("outcome").to_owned(),
                    text.to_owned(),
                ),
            )
        })
        .collect()
}

#[test]
fn quiesce_stops_selected_kubelets_and_undo_restarts_only_those_that_ran() {
    let env = Env::new(&LabSpec::new(1, 3));
    // worker2's kubelet was already stopped before the incident: undo must leave it stopped.
    env.sh("worker2", "systemctl stop kubelet");
    assert!(env.kubelet("worker1") && !env.kubelet("worker2") && env.kubelet("worker3"));

    let steps = r#"
[[steps]]
id = "quiesce"
action = "nodes.quiesce"
targets = "worker[1-2]"
[steps.with]
stop_runtime = false
"#;
    let plan = env.bg().arg("plan").arg(env.runbook(steps)).run().ok();
    assert!(
        plan.stdout
            .contains("stop kubelet (systemctl stop kubelet)"),
        "{}",
        plan.stdout
    );
    let (run, events) = env.run(steps, 0);
    let r = results(&events, "quiesce", "apply");
    assert_eq!(r.len(), 2, "{r:?}");
    for node in ["worker1", "worker2"] {
        assert_eq!(r[node], ("ok".into(), "stopped kubelet".into()), "{node}");
        assert!(!env.kubelet(node), "{node}'s kubelet still runs");
        assert_eq!(
            env.sh(node, "systemctl is-active containerd").trim(),
            "active",
            "the runtime was stopped without stop_runtime"
        );
    }
    assert!(env.kubelet("worker3"), "an unselected worker was quiesced");
    assert!(env.kubelet("cp1"), "the control plane was quiesced");
    // The states it started from are kept on the node, for a resumed attempt's snapshot.
    let record = env
        .lab
        .node_file(
            "worker2",
            &format!("/var/lib/breakglass/{run}/quiesce/services"),
        )
        .expect("path");
    assert_eq!(
        std::fs::read_to_string(record).expect("record"),
        "kubelet 3 inactive\n"
    );

    let undone = env.undo(&run, 0);
    let r = results(&undone, "quiesce", "undo");
    assert_eq!(r["worker1"], ("ok".into(), "started kubelet".into()));
    assert_eq!(r["worker2"].0, "ok");
    assert!(r["worker2"].1.starts_with("nothing to start"), "{r:?}");
    assert!(
        env.kubelet("worker1"),
        "undo did not restart worker1's kubelet"
    );
    assert!(
        !env.kubelet("worker2"),
        "undo started a kubelet that was stopped before the run"
    );
    assert!(env.kubelet("worker3") && env.kubelet("cp1"));
}

#[test]
fn apiservers_tune_edits_the_manifest_and_undo_restores_it_byte_for_byte() {
    let env = Env::without_pods(1, 1);
    let before = env.lab.manifest("cp1").expect("manifest");
    let path = env.lab.node_file("cp1", MANIFEST).expect("path");
    let meta_before = std::fs::metadata(&path).expect("stat");
    let text = String::from_utf8(before.clone()).expect("utf8");
    assert!(text.contains("    - --max-requests-inflight=400\n"));

    let steps = r#"
[[steps]]
id = "tune"
action = "apiservers.tune"
targets = "role=control-plane"
[steps.with]
set = { "--max-requests-inflight" = 1200, "--goaway-chance" = "0.02" }
"#;
    let (run, events) = env.run(steps, 0);
    let r = results(&events, "tune", "apply");
    assert_eq!(r.len(), 1, "only the control plane is targeted: {r:?}");
    assert_eq!(r["cp1"].0, "ok");
    assert!(
        r["cp1"]
            .1
            .contains("set --max-requests-inflight=1200 (was 400)"),
        "{r:?}"
    );

    // Exactly the two flags changed, everything else byte for byte.
    let after = String::from_utf8(env.lab.manifest("cp1").expect("manifest")).expect("utf8");
    let expected = text
        .replace(
            "    - --max-requests-inflight=400\n",
            "    - --max-requests-inflight=1200\n",
        )
        .replace(
            "    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key\n",
            "    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key\n    - --goaway-chance=0.02\n",
        );
    assert_eq!(after, expected);
    let meta_after = std::fs::metadata(&path).expect("stat");
    assert_eq!(
        (meta_after.mode(), meta_after.uid(), meta_after.gid()),
        (meta_before.mode(), meta_before.uid(), meta_before.gid()),
        "mode or owner changed"
    );
    assert_ne!(
        meta_after.ino(),
        meta_before.ino(),
        "not replaced by rename"
    );
    // Nothing but the manifest in the kubelet-watched directory; the backup lives elsewhere.
    assert_eq!(
        env.manifests_dir("cp1"),
        BTreeSet::from(["kube-apiserver.yaml".to_owned()])
    );
    let backup = env
        .lab
        .node_file(
            "cp1",
            &format!("/var/lib/breakglass/{run}/tune/kube-apiserver.yaml"),
        )
        .expect("path");
    assert_eq!(std::fs::read(&backup).expect("backup"), before);
    // The API server stand-in restarts with the manifest's flags, as the kubelet would.
    let log = env
        .lab
        .node_file("cp1", "/run/breakglass-lab/kube-apiserver.log")
        .expect("path");
    assert!(
        eventually(Duration::from_secs(10), || std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("--max-requests-inflight=1200")),
        "the API server did not restart with the new flag"
    );

    // Someone edits the file after breakglass: undo refuses to clobber it.
    let hand_edited = expected.replace("--goaway-chance=0.02", "--goaway-chance=0.05");
    std::fs::write(&path, &hand_edited).expect("hand edit");
    let undone = env.undo(&run, 1);
    let r = results(&undone, "tune", "undo");
    assert!(
        r["cp1"].1.contains("changed since breakglass wrote it"),
        "{r:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        hand_edited,
        "undo overwrote a concurrent edit"
    );

    // Put breakglass's version back: now undo restores the original exactly.
    std::fs::write(&path, &expected).expect("restore tuned");
    let undone = env.undo(&run, 0);
    let r = results(&undone, "tune", "undo");
    assert_eq!(r["cp1"].0, "ok", "{r:?}");
    assert_eq!(env.lab.manifest("cp1").expect("manifest"), before);
    assert_eq!(
        env.manifests_dir("cp1"),
        BTreeSet::from(["kube-apiserver.yaml".to_owned()])
    );
}

/// The steps an undo's events name (`wave_begin`, `target_result`, `step_end`), in the order they
/// come, repeats folded: `["quiesce", "tune"]` means every quiesce event came before any tune one.
fn undo_order(events: &[Value]) -> Vec<String> {
    let mut steps: Vec<String> = Vec::new();
    for e in events.iter().filter(|e| e["step"].is_string()) {
        let step = e["step"].as_str().expect("step");
        if steps.last().map(String::as_str) != Some(step) {
            steps.push(step.to_owned());
        }
    }
    steps
}

/// `step -> status` of an undo's `step_end` events.
fn step_ends(events: &[Value]) -> BTreeMap<String, String> {
    events
        .iter()
        .filter(|e| e["type"] == "step_end")
        .map(|e| {
            (
                e["step"].as_str().expect("step").to_owned(),
                e["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect()
}

#[test]
fn undo_of_one_step_then_of_the_rest_restores_in_reverse_step_order_and_never_twice() {
    let env = Env::without_pods(1, 2);
    let workers = ["worker1", "worker2"];
    let before = env.lab.manifest("cp1").expect("manifest");
    let text = String::from_utf8(before.clone()).expect("utf8");
    assert!(text.contains("    - --max-requests-inflight=400\n"));
    let tuned = text.replace(
        "    - --max-requests-inflight=400\n",
        "    - --max-requests-inflight=1200\n",
    );
    assert!(workers.iter().all(|w| env.kubelet(w)) && env.kubelet("cp1"));

    let steps = r#"
[[steps]]
id = "tune"
action = "apiservers.tune"
targets = "role=control-plane"
[steps.with]
set = { "--max-requests-inflight" = 1200 }

[[steps]]
id = "quiesce"
action = "nodes.quiesce"
targets = "role=worker"
[steps.with]
stop_runtime = false
"#;
    let changed = |what: &str| {
        assert_eq!(
            String::from_utf8(env.lab.manifest("cp1").expect("manifest")).expect("utf8"),
            tuned,
            "{what}: the manifest is not the tuned one"
        );
        for w in workers {
            assert!(!env.kubelet(w), "{what}: {w}'s kubelet runs");
        }
    };
    let (run, events) = env.run(steps, 0);
    assert_eq!(results(&events, "tune", "apply").len(), 1, "{events:?}");
    assert_eq!(results(&events, "quiesce", "apply").len(), 2, "{events:?}");
    changed("after the run");
    assert_eq!(env.status(&run), "completed");

    // A step the run does not have is a usage error that names it, and changes nothing.
    let out = env.undo_step(&run, "nosuch", 2);
    assert!(
        out.stderr
            .contains(&format!("run {run} has no step 'nosuch'")),
        "{}",
        out.stderr
    );
    assert!(
        out.json_lines()
            .iter()
            .all(|e| e["type"] != "target_result"),
        "{}",
        out.stdout
    );
    changed("after undo --step nosuch");
    assert_eq!(env.status(&run), "completed", "an undo that did nothing");

    // Only tune: the manifest comes back byte for byte, the kubelets stay stopped.
    let undone = env.undo_step(&run, "tune", 0).json_lines();
    let r = results(&undone, "tune", "undo");
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(
        r["cp1"],
        ("ok".into(), format!("restored {MANIFEST} byte for byte")),
        "{r:?}"
    );
    assert_eq!(undo_order(&undone), ["tune"], "{undone:?}");
    assert_eq!(
        step_ends(&undone),
        BTreeMap::from([("tune".to_owned(), "undone".to_owned())])
    );
    assert_eq!(env.lab.manifest("cp1").expect("manifest"), before);
    for w in workers {
        assert!(!env.kubelet(w), "undo --step tune restarted {w}'s kubelet");
    }
    // The workers are still quiesced: the run is only partly undone.
    assert_eq!(env.status(&run), "partly_undone");
    env.bg()
        .args(["journal", "list"])
        .run()
        .ok()
        .stdout_has("partly undone");

    // Then everything: tune was already undone, so only quiesce is left to undo.
    let undone = env.undo(&run, 0);
    assert!(
        results(&undone, "tune", "undo").is_empty(),
        "tune was undone twice: {undone:?}"
    );
    let r = results(&undone, "quiesce", "undo");
    assert_eq!(r.len(), 2, "{r:?}");
    for w in workers {
        assert_eq!(r[w], ("ok".into(), "started kubelet".into()), "{w}");
        assert!(env.kubelet(w), "undo did not restart {w}'s kubelet");
    }
    assert_eq!(undo_order(&undone), ["quiesce"], "{undone:?}");
    assert_eq!(
        step_ends(&undone),
        BTreeMap::from([("quiesce".to_owned(), "undone".to_owned())])
    );
    assert_eq!(env.lab.manifest("cp1").expect("manifest"), before);
    assert_eq!(env.status(&run), "undone");

    // The same runbook again, undone in one go: last step first.
    let (run2, _) = env.run(steps, 0);
    changed("after the second run");
    let undone = env.undo(&run2, 0);
    assert_eq!(undo_order(&undone), ["quiesce", "tune"], "{undone:?}");
    assert_eq!(
        step_ends(&undone),
        BTreeMap::from([
            ("quiesce".to_owned(), "undone".to_owned()),
            ("tune".to_owned(), "undone".to_owned()),
        ])
    );
    assert_eq!(results(&undone, "tune", "undo")["cp1"].0, "ok");
    assert_eq!(env.lab.manifest("cp1").expect("manifest"), before);
    for w in workers {
        assert!(
            env.kubelet(w),
            "the second undo did not restart {w}'s kubelet"
        );
    }
    assert_eq!(env.status(&run2), "undone");
    env.bg().args(["journal", "verify", &run]).run().ok();
    env.bg().args(["journal", "verify", &run2]).run().ok();
}

#[test]
fn an_undone_run_cannot_be_resumed() {
    let env = Env::without_pods(1, 2);
    // worker1 quiesced, then a step that fails everywhere stops the run (exit 3).
    let steps = r#"
[[steps]]
id = "quiesce"
action = "nodes.quiesce"
targets = "worker1"

[[steps]]
id = "fails"
action = "ssh.exec"
targets = "role=worker"
[steps.with]
command = "exit 1"
"#;
    let (run, _) = env.run(steps, 3);
    assert!(!env.kubelet("worker1"));
    assert_eq!(env.status(&run), "stopped");
    env.undo(&run, 0);
    assert!(
        env.kubelet("worker1"),
        "undo did not restart worker1's kubelet"
    );
    // `ssh.exec` has no inverse: restoring worker1 is all there was to undo.
    assert_eq!(env.status(&run), "undone");
    let out = env
        .bg()
        .args(["resume", &run, "--yes"])
        .run()
        .code(2)
        .stderr_has("has been undone");
    assert!(
        out.stderr.contains("Start a new `breakglass run`"),
        "{}",
        out.stderr
    );
    assert!(
        env.kubelet("worker1"),
        "the refused resume quiesced worker1 again"
    );
    env.bg().args(["journal", "verify", &run]).run().ok();
}

#[test]
fn apiservers_tune_edits_the_manifest_it_is_given() {
    let env = Env::without_pods(1, 0);
    // A distribution that keeps the manifest elsewhere.
    let alt = "/etc/kubernetes/alt-manifests/kube-apiserver.yaml";
    env.sh(
        "cp1",
        &format!("mkdir -p /etc/kubernetes/alt-manifests && cp {MANIFEST} {alt}"),
    );
    let default_before = env.lab.manifest("cp1").expect("manifest");
    let alt_path = env.lab.node_file("cp1", alt).expect("path");
    let alt_before = std::fs::read(&alt_path).expect("alt manifest");
    let steps = format!(
        r#"
[[steps]]
id = "tune"
action = "apiservers.tune"
targets = "cp1"
[steps.with]
manifest = "{alt}"
set = {{ "--max-requests-inflight" = 900 }}
"#
    );
    let (run, events) = env.run(&steps, 0);
    let r = results(&events, "tune", "apply");
    assert!(
        r["cp1"]
            .1
            .contains("set --max-requests-inflight=900 (was 400)"),
        "{r:?}"
    );
    let alt_after = String::from_utf8(std::fs::read(&alt_path).expect("alt")).expect("utf8");
    assert!(
        alt_after.contains("    - --max-requests-inflight=900\n"),
        "{alt_after}"
    );
    assert_eq!(
        env.lab.manifest("cp1").expect("manifest"),
        default_before,
        "the default manifest was touched"
    );
    env.undo(&run, 0);
    assert_eq!(std::fs::read(&alt_path).expect("alt"), alt_before);
    assert_eq!(env.lab.manifest("cp1").expect("manifest"), default_before);
}

#[test]
fn a_snapshot_that_cannot_be_journaled_changes_nothing() {
    let env = Env::without_pods(1, 0);
    // A manifest (still valid: comments; under --max-output) larger than the journal's
    // filesystem can hold, so the snapshot record, which carries the whole file, cannot be
    // written.
    env.sh(
        "cp1",
        &format!("head -c 40000 /dev/zero | base64 -w 76 | sed 's/^/# /' >> {MANIFEST}"),
    );
    let before = env.lab.manifest("cp1").expect("manifest");
    assert!(before.len() > 50_000);
    let journals = env.scratch.journal_dir();
    std::fs::create_dir_all(&journals).expect("journal dir");
    let rb = env.runbook(
        r#"
[[steps]]
id = "tune"
action = "apiservers.tune"
targets = "cp1"
[steps.with]
set = { "--max-requests-inflight" = 1200 }
"#,
    );
    // The journal on a 32 KiB tmpfs in a mount namespace of its own (nothing else sees it).
    let out = env
        .bg()
        .args(["--output", "json", "run"])
        .arg(&rb)
        .arg("--yes")
        .under(
            "unshare",
            &[
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                "mount -t tmpfs -o size=32k breakglass-test \"$1\" && shift && exec \"$@\"",
                "sh",
                &journals.to_string_lossy(),
            ],
        )
        .run();
    assert_ne!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(
        said.contains("cannot journal the snapshot, so nothing was changed"),
        "{said}"
    );
    assert_eq!(
        env.lab.manifest("cp1").expect("manifest"),
        before,
        "the manifest changed although its snapshot was never journaled"
    );
    assert_eq!(
        env.manifests_dir("cp1"),
        BTreeSet::from(["kube-apiserver.yaml".to_owned()]),
        "a temporary or backup file was left in the manifests directory"
    );
}

/// The names and namespaces of a node's pods, with whether they run.
fn pod_set(env: &Env, node: &str) -> BTreeSet<(String, String, bool)> {
    env.lab
        .pods(node)
        .expect("pods")
        .into_iter()
        .map(|p| (p.namespace, p.name, p.ready))
        .collect()
}

fn is_target(ns: &str, name: &str) -> bool {
    ns == "monitoring" && name.starts_with("telemetry-agent-")
}

#[test]
fn workload_kill_stops_the_workload_everywhere_and_nothing_else() {
    let env = Env::new(&LabSpec::new(1, 3));
    // A second replica on worker1, and look-alikes that must survive: another name with the
    // same start, and the same name in another namespace.
    env.lab
        .seed_pods(
            "worker1",
            &[
                PodSpec::new("monitoring", "telemetry-agent-zz9xq").label("app", "telemetry-agent"),
                PodSpec::new("monitoring", "telemetry-agentless-q2w4e"),
                PodSpec::new("monitoring-canary", "telemetry-agent-k8s9z"),
            ],
        )
        .expect("seed");
    // worker3 has no telemetry pod at all.
    let w3 = env
        .lab
        .pods("worker3")
        .expect("pods")
        .into_iter()
        .find(|p| is_target(&p.namespace, &p.name))
        .expect("a seeded telemetry pod on worker3");
    env.sh(
        "worker3",
        &format!("crictl stopp {0} && crictl rmp {0}", w3.id),
    );
    let nodes = ["cp1", "worker1", "worker2", "worker3"];
    let before: BTreeMap<&str, BTreeSet<(String, String, bool)>> =
        nodes.iter().map(|n| (*n, pod_set(&env, n))).collect();
    let targets: BTreeMap<&str, Vec<String>> = before
        .iter()
        .map(|(n, pods)| {
            let mut names: Vec<String> = pods
                .iter()
                .filter(|(ns, name, _)| is_target(ns, name))
                .map(|(_, name, _)| name.clone())
                .collect();
            names.sort();
            (*n, names)
        })
        .collect();
    assert_eq!(targets["worker1"].len(), 2);
    assert!(targets["worker3"].is_empty());

    let steps = r#"
[[steps]]
id = "kill"
action = "workload.kill"
targets = "all"
[steps.with]
namespace = "monitoring"
name_prefix = "telemetry-agent-"
"#;
    let (_, events) = env.run(steps, 0);
    let r = results(&events, "kill", "apply");
    for node in nodes {
        let (outcome, summary) = &r[node];
        assert_eq!(outcome, "ok", "{node}: {summary}");
        let names = &targets[node];
        if names.is_empty() {
            assert_eq!(summary, "no matching pods", "{node}");
        } else {
            assert!(
                summary.starts_with(&format!("stopped {} pod(s): ", names.len())),
                "{node}: {summary}"
            );
            for name in names {
                assert!(summary.contains(name.as_str()), "{node}: {summary}");
            }
        }
        // Every matching pod is gone; every other pod is exactly as it was.
        let expected: BTreeSet<_> = before[node]
            .iter()
            .filter(|(ns, name, _)| !is_target(ns, name))
            .cloned()
            .collect();
        assert_eq!(pod_set(&env, node), expected, "{node}");
    }
    assert!(
        pod_set(&env, "worker1").contains(&(
            "monitoring-canary".into(),
            "telemetry-agent-k8s9z".into(),
            true
        )),
        "the namespace filter is not anchored"
    );

    // Again: nothing left to kill is a success everywhere.
    let (_, events) = env.run(steps, 0);
    let r = results(&events, "kill", "apply");
    assert!(
        r.values()
            .all(|(o, s)| o == "ok" && s == "no matching pods"),
        "{r:?}"
    );
}

#[test]
fn workload_kill_by_label_and_by_label_with_prefix() {
    let env = Env::without_pods(1, 1);
    env.lab
        .seed_pods(
            "worker1",
            &[
                // Labelled, whatever their names: the label alone selects both.
                PodSpec::new("monitoring", "collector-a1b2c").label("app", "telemetry-agent"),
                PodSpec::new("monitoring", "telemetry-agent-x9y8z").label("app", "telemetry-agent"),
                // Survivors: another value, no label, the label in another namespace.
                PodSpec::new("monitoring", "telemetry-agent-o0o0o").label("app", "other"),
                PodSpec::new("monitoring", "telemetry-agent-n0l4b"),
                PodSpec::new("kube-system", "collector-k1k2k").label("app", "telemetry-agent"),
                // For the second run: labelled, but only one of them has the prefix.
                PodSpec::new("monitoring", "metrics-agent-m1m2m").label("tier", "node"),
                PodSpec::new("monitoring", "telemetry-agent-t1t2t").label("tier", "node"),
            ],
        )
        .expect("seed");
    let names = |env: &Env| -> BTreeSet<String> {
        pod_set(env, "worker1")
            .into_iter()
            .map(|(ns, name, _)| format!("{ns}/{name}"))
            .collect()
    };
    let all = names(&env);
    assert_eq!(all.len(), 7, "{all:?}");
    let without = |gone: &[&str]| -> BTreeSet<String> {
        all.iter()
            .filter(|p| !gone.contains(&p.as_str()))
            .cloned()
            .collect()
    };

    let (_, events) = env.run(
        r#"
[[steps]]
id = "kill"
action = "workload.kill"
targets = "worker1"
[steps.with]
namespace = "monitoring"
label = "app=telemetry-agent"
"#,
        0,
    );
    let r = results(&events, "kill", "apply");
    assert!(r["worker1"].1.starts_with("stopped 2 pod(s): "), "{r:?}");
    let gone = [
        "monitoring/collector-a1b2c",
        "monitoring/telemetry-agent-x9y8z",
    ];
    assert_eq!(names(&env), without(&gone));

    // Both: a pod must match the label and the prefix.
    let (_, events) = env.run(
        r#"
[[steps]]
id = "kill"
action = "workload.kill"
targets = "worker1"
[steps.with]
namespace = "monitoring"
label = "tier=node"
name_prefix = "telemetry-agent-"
"#,
        0,
    );
    let r = results(&events, "kill", "apply");
    assert_eq!(
        r["worker1"],
        (
            "ok".into(),
            "stopped 1 pod(s): telemetry-agent-t1t2t".into()
        ),
        "{r:?}"
    );
    let mut gone = gone.to_vec();
    gone.push("monitoring/telemetry-agent-t1t2t");
    assert_eq!(names(&env), without(&gone));
}

#[test]
fn a_run_killed_mid_wave_resumes_without_redoing_finished_or_in_doubt_targets() {
    let env = Env::without_pods(1, 3);
    let steps = r#"
[[steps]]
id = "slow"
action = "ssh.exec"
targets = "role=worker"
concurrency = 1
[steps.with]
command = "echo ran >> /tmp/slow-marker; sleep 2; echo done"

[[steps]]
id = "quiesce"
action = "nodes.quiesce"
targets = "role=worker"
"#;
    let rb = env.runbook(steps);
    let mut cmd = env
        .bg()
        .args(["--output", "json", "run"])
        .arg(&rb)
        .arg("--yes")
        .command();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn breakglass");
    let stdout = child.stdout.take().expect("stdout");
    let mut run = None;
    let mut finished = Vec::new();
    // Kept open until the kill: a closed pipe would fail breakglass's next print instead.
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let event: Value = serde_json::from_str(&line.expect("line")).expect("json");
        if event["type"] == "run_begin" {
            run = event["run_id"].as_str().map(str::to_owned);
        }
        if event["type"] == "target_result" && event["step"] == "slow" {
            assert_eq!(event["outcome"], "ok", "{event}");
            finished.push(event["target"].as_str().expect("target").to_owned());
            break;
        }
    }
    let run = run.expect("run_begin");
    // The result is printed, then journaled: wait for the journal, then kill mid-way through
    // the next target's two seconds.
    let journal = env.scratch.journal_dir().join(&run).join("journal.jsonl");
    assert!(
        eventually(Duration::from_secs(5), || {
            std::fs::read_to_string(&journal)
                .unwrap_or_default()
                .lines()
                .any(|l| l.contains("\"target_result\"") && l.contains(&finished[0]))
        }),
        "the first result never reached the journal"
    );
    let workers = ["worker1", "worker2", "worker3"];
    let marker = |node: &str| {
        let path = env.lab.node_file(node, "/tmp/slow-marker").expect("path");
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let started = || workers.iter().filter(|w| marker(w) > 0).count();
    // Kill while the second target sleeps (concurrency 1: the third has not started).
    assert!(
        eventually(Duration::from_secs(10), || started() == 2),
        "the second target never started"
    );
    child.kill().expect("SIGKILL breakglass");
    child.wait().expect("reap");
    drop(lines);
    assert_eq!(started(), 2, "killed mid-way through the second target");
    assert!(
        workers.iter().all(|w| env.kubelet(w)),
        "step 2 ran before the kill"
    );

    env.bg().args(["journal", "verify", &run]).run().ok();
    // The second target was cut off mid-command: `slow` is not idempotent, so resume must not
    // run it again there (it may have done its work), only report it in doubt. The third
    // target never started, so it runs. The in-doubt target fails the wave (budget 0): stop.
    let cut_off = workers
        .iter()
        .find(|w| marker(w) == 1 && !finished.contains(&(**w).to_owned()))
        .map(|w| (*w).to_owned())
        .expect("the target that was running at the kill");
    let out = env
        .bg()
        .args(["--output", "json", "resume", &run, "--yes"])
        .run()
        .code(3);
    let events = out.json_lines();
    let resumed = results(&events, "slow", "apply");
    let expected: BTreeSet<String> = workers
        .iter()
        .filter(|w| !finished.contains(&(**w).to_owned()))
        .map(|w| (*w).to_owned())
        .collect();
    assert_eq!(
        resumed.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "resume redid a finished target or skipped one"
    );
    for (target, (outcome, _)) in &resumed {
        let want = if *target == cut_off { "in_doubt" } else { "ok" };
        assert_eq!(outcome, want, "{target}: {resumed:?}");
    }
    for w in workers {
        assert_eq!(marker(w), 1, "{w} ran {} times", marker(w));
    }
    assert!(
        workers.iter().all(|w| env.kubelet(w)),
        "the next step ran although a target was in doubt"
    );
    // A second resume without the flag keeps it in doubt: reporting it did not settle it.
    let again = env
        .bg()
        .args(["--output", "json", "resume", &run, "--yes"])
        .run()
        .code(3);
    let again = results(&again.json_lines(), "slow", "apply");
    assert_eq!(
        again.keys().cloned().collect::<Vec<_>>(),
        vec![cut_off.clone()],
        "{again:?}"
    );
    assert_eq!(again[&cut_off].0, "in_doubt", "{again:?}");
    assert_eq!(marker(&cut_off), 1, "a second resume ran it again");

    // The operator checked the host: run it again there, then the rest of the run.
    let out = env
        .bg()
        .args([
            "--output",
            "json",
            "resume",
            &run,
            "--yes",
            "--rerun-in-doubt",
        ])
        .run()
        .ok();
    let events = out.json_lines();
    let rerun = results(&events, "slow", "apply");
    assert_eq!(
        rerun.keys().cloned().collect::<Vec<_>>(),
        vec![cut_off.clone()],
        "{rerun:?}"
    );
    assert_eq!(rerun[&cut_off].0, "ok", "{rerun:?}");
    for w in workers {
        let want = if *w == cut_off { 2 } else { 1 };
        assert_eq!(marker(w), want, "{w}");
    }
    let quiesced = results(&events, "quiesce", "apply");
    assert_eq!(quiesced.len(), 3, "{quiesced:?}");
    assert!(
        workers.iter().all(|w| !env.kubelet(w)),
        "the later step did not run on resume"
    );
    env.bg().args(["journal", "verify", &run]).run().ok();
}
