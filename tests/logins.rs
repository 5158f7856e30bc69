//! One SSH login per target per step, counted where it costs: on the node. Each lab node's own
//! network namespace gets an nft counter of TCP SYNs to its sshd (port 22), and every shipped
//! node action, its undo, and `exec` must add exactly one per target.
//!
//! Before the kept session (issue #7) a target cost 4 logins for `firewall.block`, 4 for
//! `nodes.quiesce`, 3 for `apiservers.tune` (+2 for its undo) and 6 for `workload.kill`.

use std::collections::BTreeMap;

use breakglass::lab::netns::{Lab, LabSpec};
use serde_json::Value;

use crate::support::Scratch;

const NODES: [&str; 3] = ["cp1", "worker1", "worker2"];

/// The counter: new connections to sshd, counted before anything else sees the packet (the
/// firewall action's own table is `inet breakglass`, at another priority, and never port 22).
const COUNTER: &str = "nft add table inet bglogins && \
    nft add chain inet bglogins in '{ type filter hook input priority -400; }' && \
    nft add rule inet bglogins in tcp dport 22 'tcp flags & (syn|ack) == syn' counter";

struct Env {
    lab: Lab,
    scratch: Scratch,
}

impl Env {
    fn new() -> Env {
        let lab = Lab::build(&LabSpec {
            control_planes: 1,
            workers: 2,
            default_pods: true,
            // Running kubelets, so `nodes.quiesce` has something to stop and its undo to start.
            start_kubelets: true,
            api_objects: false,
            incident: false,
            ..LabSpec::default()
        })
        .expect("lab (needs root, ip, nft, sshd, openssl, python3)");
        for node in NODES {
            let out = lab.sh(node, COUNTER).expect("nft counter");
            assert!(out.status.success(), "{node}: {out:?}");
        }
        Env {
            lab,
            scratch: Scratch::new(),
        }
    }

    /// SYNs to port 22 each node has seen so far.
    fn logins(&self) -> BTreeMap<&'static str, u64> {
        NODES
            .iter()
            .map(|&node| {
                let out = self
                    .lab
                    .sh(node, "nft list chain inet bglogins in")
                    .expect("nft list");
                let text = String::from_utf8_lossy(&out.stdout);
                let packets = text
                    .split_whitespace()
                    .skip_while(|w| *w != "packets")
                    .nth(1)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("{node}: no counter in {text}"));
                (node, packets)
            })
            .collect()
    }

    /// Runs `args` and returns how many logins each node paid for it, and the JSON events.
    fn count(&self, args: &[&str]) -> (BTreeMap<&'static str, u64>, Vec<Value>) {
        let before = self.logins();
        let out = self
            .scratch
            .bg_with(self.lab.inventory_path())
            .env("BREAKGLASS_NO_AGENT", "true")
            .args(["--output", "json"])
            .args(args)
            .run()
            .ok();
        let after = self.logins();
        let paid = after
            .iter()
            .map(|(node, n)| (*node, n - before[node]))
            .collect();
        (paid, out.json_lines())
    }

    fn runbook(&self, name: &str, steps: &str) -> String {
        self.scratch
            .write(
                &format!("{name}.toml"),
                &format!(
                    "name = \"{name}\"\nsummary = \"login count\"\n\n[params.cluster]\ntype = \"string\"\n\
                     default = \"lab\"\nhelp = \"cluster\"\n{steps}"
                ),
            )
            .display()
            .to_string()
    }
}

/// Logins expected per node (nodes not listed: none).
type Logins = [(&'static str, u64)];

fn expect(paid: &BTreeMap<&'static str, u64>, per_node: &Logins, what: &str) {
    let want: BTreeMap<&str, u64> = NODES
        .iter()
        .map(|&n| {
            (
                n,
                per_node
                    .iter()
                    .find(|(m, _)| *m == n)
                    .map_or(0, |(_, c)| *c),
            )
        })
        .collect();
    assert_eq!(*paid, want, "logins per node for {what}");
}

fn run_id(events: &[Value]) -> String {
    events
        .iter()
        .find(|e| e["type"] == "run_begin")
        .and_then(|e| e["run_id"].as_str())
        .expect("run_begin")
        .to_owned()
}

fn all_ok(events: &[Value], what: &str) {
    let bad: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "target_result" && e["outcome"] != "ok")
        .collect();
    assert!(bad.is_empty(), "{what}: {bad:?}");
}

#[test]
fn every_node_action_and_its_undo_cost_one_login_per_target_per_step() {
    let env = Env::new();
    let operator = env.lab.operator_address();
    let cp = [("cp1", 1)];
    let workers = [("worker1", 1), ("worker2", 1)];
    let all = [("cp1", 1), ("worker1", 1), ("worker2", 1)];

    let (paid, events) = env.count(&["exec", "all", "--", "true"]);
    all_ok(&events, "exec");
    expect(&paid, &all, "exec");

    // Each step of a runbook, then its undo: one login per target for each.
    let cases: [(&str, &str, &Logins); 4] = [
        (
            "block",
            &format!(
                "action = \"firewall.block\"\ntargets = \"cp1\"\n[steps.with]\nallow = [\"{operator}\"]\n\
                 allow_targets = \"role=control-plane\"\n"
            ),
            &cp,
        ),
        (
            "quiesce",
            "action = \"nodes.quiesce\"\ntargets = \"role=worker\"\n[steps.with]\nstop_runtime = false\n",
            &workers,
        ),
        (
            "tune",
            "action = \"apiservers.tune\"\ntargets = \"cp1\"\n[steps.with]\n\
             set = { \"--max-requests-inflight\" = 1200 }\n",
            &cp,
        ),
        (
            "kill",
            "action = \"workload.kill\"\ntargets = \"all\"\n[steps.with]\nnamespace = \"monitoring\"\n\
             name_prefix = \"telemetry-agent-\"\n",
            &all,
        ),
    ];
    for (name, step, targets) in cases {
        let rb = env.runbook(name, &format!("\n[[steps]]\nid = \"{name}\"\n{step}"));
        let (paid, events) = env.count(&["run", &rb, "--yes"]);
        all_ok(&events, name);
        expect(&paid, targets, name);
        let run = run_id(&events);
        let (paid, events) = env.count(&["undo", &run, "--yes"]);
        all_ok(&events, &format!("undo {name}"));
        if name == "kill" {
            // Killed pods are not restarted by undo: nothing to do, nobody to log in to.
            expect(&paid, &[], "undo kill");
        } else {
            expect(&paid, targets, &format!("undo {name}"));
        }
    }

    // firewall.unblock, and the ssh.exec of a runbook, likewise.
    let rb = env.runbook(
        "unblock",
        &format!(
            "\n[[steps]]\nid = \"block\"\naction = \"firewall.block\"\ntargets = \"cp1\"\n[steps.with]\n\
             allow = [\"{operator}\"]\n\n[[steps]]\nid = \"unblock\"\naction = \"firewall.unblock\"\n\
             targets = \"cp1\"\n\n[[steps]]\nid = \"look\"\naction = \"ssh.exec\"\ntargets = \"all\"\n\
             [steps.with]\ncommand = \"true\"\n"
        ),
    );
    let (paid, events) = env.count(&["run", &rb, "--yes"]);
    all_ok(&events, "block, unblock, exec");
    // cp1: one for the block, one for the unblock, one for the exec; workers: the exec.
    expect(
        &paid,
        &[("cp1", 3), ("worker1", 1), ("worker2", 1)],
        "block, unblock, exec",
    );
}
