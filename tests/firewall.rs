//! `firewall.block`, `firewall.unblock`, the dead-man timer and `confirm`, against real kernels:
//! the network-namespace lab (real sshd per node, the API stand-in on cp1:6443) and real TCP
//! from a worker (blocked) and from the operator side (the root namespace, allowlisted).
//!
//! Every test asserts network behaviour that only a working firewall produces: a worker's
//! connection attempt that times out, a held connection that is reset, and the reverse after
//! undo, revert or unblock.
//!
//! In the `on_a_systemd_node_*` tests cp1 poses as a systemd host (`Lab::pose_as_systemd`), so
//! breakglass takes the path real nodes take: a transient `systemd-run` timer, not a detached
//! process.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use breakglass::engine::{Event, TargetResult};
use breakglass::lab::netns::{HeldConnection, Lab, LabSpec, Probe};

use crate::support::{Bg, Ran, Scratch};
use crate::support::{events, eventually};

/// One lab (cp1, worker1, worker2; no kubelets, so only the test's connections reach 6443) and
/// a scratch home for breakglass.
struct Env {
    lab: Lab,
    scratch: Scratch,
}

impl Env {
    fn new() -> Env {
        Env::with_control_planes(1)
    }

    /// cp1..cpN and two workers.
    fn with_control_planes(control_planes: usize) -> Env {
        let lab = Lab::build(&LabSpec {
            control_planes,
            workers: 2,
            default_pods: false,
            start_kubelets: false,
            api_objects: false,
            incident: false,
            ..LabSpec::default()
        })
        .expect("lab (needs root, ip, nft, sshd, openssl, python3)");
        Env {
            lab,
            scratch: Scratch::new(),
        }
    }

    /// The same lab with cp1 posing as a systemd host ([`Lab::pose_as_systemd`]): there
    /// breakglass arms its dead-man timers with `systemd-run`, as on a real node.
    fn with_systemd_cp1() -> Env {
        let env = Env::new();
        env.lab
            .pose_as_systemd("cp1")
            .expect("cp1 posing as a systemd host");
        env
    }

    fn bg(&self) -> Bg {
        self.scratch
            .bg_with(self.lab.inventory_path())
            .env("BREAKGLASS_NO_AGENT", "true")
    }

    fn api(&self) -> std::net::SocketAddr {
        self.lab.node("cp1").expect("cp1").api_addr()
    }

    /// A one-step runbook: `action` on cp1 with `with` as its arguments.
    fn runbook(&self, name: &str, action: &str, with: &str) -> PathBuf {
        self.runbook_on(name, "cp1", action, with)
    }

    /// A one-step runbook: `action` on `targets` with `with` as its arguments.
    fn runbook_on(&self, name: &str, targets: &str, action: &str, with: &str) -> PathBuf {
        self.scratch.write(
            &format!("{name}.toml"),
            &format!(
                "name = \"{name}\"\nsummary = \"firewall test\"\n\n[params.cluster]\ntype = \"string\"\ndefault = \"lab\"\nhelp = \"cluster\"\n\n[[steps]]\nid = \"fw\"\naction = \"{action}\"\ntargets = \"{targets}\"\n[steps.with]\n{with}\n"
            ),
        )
    }

    /// `node`'s address and port `port`.
    fn addr(&self, node: &str, port: u16) -> std::net::SocketAddr {
        std::net::SocketAddr::new(
            std::net::IpAddr::V4(self.lab.node(node).expect("node").address),
            port,
        )
    }

    /// A watch from node `from` to `to`, held open ([`Lab::hold_connection`]).
    fn hold(&self, from: &str, to: std::net::SocketAddr) -> HeldConnection {
        self.lab
            .hold_connection(Some(from), to)
            .unwrap_or_else(|e| panic!("watch from {from} to {to}: {e:#}"))
    }

    /// New connections from node `from` to `to` go unanswered.
    fn assert_blocked(&self, from: &str, to: std::net::SocketAddr) {
        let got = self.probe(from, to, Duration::from_secs(1));
        assert_eq!(got, Probe::TimedOut, "{from} -> {to}");
    }

    /// New connections from node `from` to `to` get through.
    fn assert_open(&self, from: &str, to: std::net::SocketAddr) {
        let got = self.probe(from, to, Duration::from_secs(2));
        assert_eq!(got, Probe::Connected, "{from} -> {to}");
    }

    fn probe(&self, from: &str, to: std::net::SocketAddr, timeout: Duration) -> Probe {
        self.lab.tcp_probe(Some(from), to, timeout).expect("probe")
    }

    /// The usual block: the operator address allowed, the control plane allowed as peers.
    fn block_runbook(&self, extra: &str) -> PathBuf {
        self.runbook(
            "block",
            "firewall.block",
            &format!(
                "allow = [\"{}\"]\nallow_targets = \"role=control-plane\"\n{extra}",
                self.lab.operator_address()
            ),
        )
    }

    fn run(&self, runbook: &PathBuf) -> (Ran, String) {
        run_with(self.bg(), runbook)
    }

    fn sh(&self, node: &str, script: &str) -> String {
        let out = self.lab.sh(node, script).expect("lab sh");
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `systemctl is-active UNIT` on cp1: its exit code (0 active, 3 not) and what it printed.
    fn is_active(&self, unit: &str) -> (Option<i32>, String) {
        let out = self
            .lab
            .sh("cp1", &format!("systemctl is-active {unit}"))
            .expect("lab sh");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    fn probe_from(&self, node: Option<&str>, timeout: Duration) -> Probe {
        self.lab
            .tcp_probe(node, self.api(), timeout)
            .expect("probe")
    }

    /// A block by the iptables backend holds: said so, jumped to first in INPUT, a worker
    /// refused, the operator let through.
    fn assert_blocked_with_iptables(&self, out: &Ran) {
        let summary = result(out, "fw").summary.unwrap_or_default();
        assert!(summary.contains("with iptables"), "{summary}");
        let chain = self.sh("cp1", "iptables -S INPUT");
        assert!(
            chain.lines().nth(1) == Some("-A INPUT -j BREAKGLASS"),
            "{chain}"
        );
        assert_eq!(
            self.probe_from(Some("worker2"), Duration::from_secs(1)),
            Probe::TimedOut
        );
        assert_eq!(
            self.probe_from(None, Duration::from_secs(2)),
            Probe::Connected
        );
    }

    fn has_table(&self) -> bool {
        self.sh("cp1", "nft list tables")
            .lines()
            .any(|l| l == "table inet breakglass")
    }

    /// What cp1's node-side state directory holds for the run (host-side path).
    fn state_file(&self, run: &str, file: &str) -> PathBuf {
        self.lab
            .node_file("cp1", &format!("/run/breakglass/{run}/{file}"))
            .expect("node path")
    }
}

/// `run RUNBOOK --yes` by `bg` (with another inventory, say): the output and the run id.
fn run_with(bg: Bg, runbook: &PathBuf) -> (Ran, String) {
    let out = bg
        .args(["--output", "json", "run"])
        .arg(runbook)
        .arg("--yes")
        .run();
    let run_id = events(&out.stdout)
        .into_iter()
        .find_map(|e| match e {
            Event::RunBegin(b) => Some(b.run_id),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no run_begin\n{}\n{}", out.stdout, out.stderr));
    (out, run_id)
}

fn result(out: &Ran, step: &str) -> TargetResult {
    events(&out.stdout)
        .into_iter()
        .find_map(|e| match e {
            Event::TargetResult(r) if r.step.as_deref() == Some(step) => Some(r),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no result for {step}\n{}\n{}", out.stdout, out.stderr))
}

#[allow(clippy::print_stderr)]
fn timing(what: &str, d: Duration) {
    eprintln!("timing: {what}: {d:?}");
}

/// `held` ends within `within` with an error its client saw (a reset or an abort), not merely
/// starved of events; how long it took is printed as `what`.
fn assert_cut(held: &HeldConnection, within: Duration, what: &str) {
    let cut = Instant::now();
    assert!(
        held.wait_dead(within),
        "{what}: the established watch survived"
    );
    timing(what, cut.elapsed());
    assert!(
        held.closed_reason().is_some(),
        "{what}: the watch went quiet but was not cut"
    );
}

/// Dead-man timers shorter than the default lower bound (one minute), so that the tests which
/// wait for a revert take seconds; 10 s is the hard limit.
const SHORT: &str = "revert_after_limits = [\"10s\", \"1d\"]";

const SEEDED: &str = "nft -f - <<'EOF'\n\
    table ip seeded {\n\
      chain input {\n\
        type filter hook input priority 0; policy accept;\n\
        tcp dport 9 drop\n\
      }\n\
    }\n\
    EOF";

#[test]
fn block_cuts_workers_keeps_operator_and_ssh_and_undo_restores_the_exact_ruleset() {
    let env = Env::new();
    env.sh("cp1", SEEDED);
    let before = env.sh("cp1", "nft -s list ruleset");
    assert!(before.contains("table ip seeded"), "{before}");
    assert_eq!(
        env.probe_from(Some("worker2"), Duration::from_secs(2)),
        Probe::Connected
    );
    let held_worker = env
        .lab
        .hold_connection(Some("worker1"), env.api())
        .expect("watch from worker1");
    let held_operator = env
        .lab
        .hold_connection(None, env.api())
        .expect("watch from the operator side");

    let started = Instant::now();
    let (out, run) = env.run(&env.block_runbook(""));
    timing("run firewall.block (1 target)", started.elapsed());
    let out = out.ok();
    let r = result(&out, "fw");
    let summary = r.summary.clone().unwrap_or_default();
    assert!(
        summary.contains("blocked incoming tcp/6443 with nft")
            && summary.contains("dead-man (pid "),
        "{summary}"
    );

    // The worker's established watch is reset (not merely starved); the operator's lives on.
    assert_cut(
        &held_worker,
        Duration::from_secs(5),
        "held connection dead after the run",
    );
    assert!(held_operator.is_alive(), "the allowlisted watch was cut");
    // New connections from a worker go unanswered; the operator still connects.
    assert_eq!(
        env.probe_from(Some("worker2"), Duration::from_secs(1)),
        Probe::TimedOut
    );
    assert_eq!(
        env.probe_from(None, Duration::from_secs(2)),
        Probe::Connected
    );
    // SSH still works, through breakglass itself.
    env.bg()
        .args(["exec", "cp1", "--", "hostname"])
        .run()
        .ok()
        .stdout_has("cp1");
    // The dead-man timer runs on the node.
    let pidfile = env.state_file(&run, "fw.pid");
    let pid = std::fs::read_to_string(&pidfile).expect("the dead-man pidfile");
    let pid = pid.trim().to_owned();
    assert!(
        env.sh("cp1", &format!("tr '\\0' ' ' < /proc/{pid}/cmdline"))
            .contains("sleep"),
        "the dead-man process is not running"
    );

    let started = Instant::now();
    env.bg()
        .args(["undo", &run, "--yes"])
        .run()
        .ok()
        .stdout_has("undone");
    timing("undo", started.elapsed());
    let after = env.sh("cp1", "nft -s list ruleset");
    assert_eq!(before, after, "undo did not restore the exact ruleset");
    assert_eq!(
        env.probe_from(Some("worker2"), Duration::from_secs(2)),
        Probe::Connected
    );
    assert!(!pidfile.exists(), "undo left the dead-man pidfile");
    let gone = env.lab.sh("cp1", &format!("kill -0 {pid}")).expect("sh");
    assert!(!gone.status.success(), "undo left the dead-man process");
    env.bg().args(["journal", "verify", &run]).run().ok();
}

#[test]
fn the_dead_man_reverts_on_its_own() {
    let env = Env::new();
    // 15 s, not less: the block must still be up when the run has ended and the probe below
    // runs, on a machine loaded by other tests (5 s was seen expiring first under load 60).
    let (out, run) = env.run(&env.block_runbook(&format!("revert_after = \"15s\"\n{SHORT}")));
    out.ok();
    let armed = Instant::now();
    assert_eq!(
        env.probe_from(Some("worker1"), Duration::from_secs(1)),
        Probe::TimedOut
    );
    assert!(env.has_table());
    // No breakglass process runs from here on: only the node's own timer can lift the block.
    assert!(
        eventually(Duration::from_secs(45), || env
            .probe_from(Some("worker1"), Duration::from_secs(1))
            == Probe::Connected),
        "the block was not reverted"
    );
    timing(
        "revert_after=15s: worker connects again after the run ended",
        armed.elapsed(),
    );
    assert!(!env.has_table(), "the revert left table inet breakglass");
    assert!(
        env.state_file(&run, "fw.fired").exists(),
        "the timer did not record that it fired"
    );
    // Confirming now is too late, and says so.
    env.bg()
        .args(["confirm", &run])
        .run()
        .code(1)
        .stdout_has("already fired");
}

#[test]
fn confirm_cancels_the_dead_man_and_unblock_lifts_the_block() {
    let env = Env::new();
    let (out, run) = env.run(&env.block_runbook(&format!("revert_after = \"10s\"\n{SHORT}")));
    out.ok();
    let armed = Instant::now();
    let started = Instant::now();
    env.bg()
        .args(["confirm", &run])
        .run()
        .ok()
        .stdout_has("dead-man timer cancelled");
    timing("confirm (1 target)", started.elapsed());
    assert!(env.state_file(&run, "fw.confirmed").exists());
    // Past the expiry, the block holds.
    std::thread::sleep(Duration::from_secs(12).saturating_sub(armed.elapsed()));
    assert_eq!(
        env.probe_from(Some("worker1"), Duration::from_secs(1)),
        Probe::TimedOut
    );
    assert!(env.has_table());
    assert!(!env.state_file(&run, "fw.fired").exists());
    // A second confirm is harmless.
    env.bg()
        .args(["confirm", &run])
        .run()
        .ok()
        .stdout_has("already confirmed");
    let journal = env.bg().args(["journal", "show", &run]).run().ok();
    assert!(journal.stdout.contains("confirm by"), "{}", journal.stdout);
    // Each confirm's per-target result is journaled like any run's, and the chain still holds.
    let shown = env
        .bg()
        .args(["--output", "json", "journal", "show", &run])
        .run()
        .ok();
    let confirms = shown
        .stdout
        .lines()
        .filter(|l| l.contains("\"target_result\"") && l.contains("\"mode\":\"confirm\""))
        .count();
    assert_eq!(confirms, 2, "{}", shown.stdout);
    env.bg().args(["journal", "verify", &run]).run().ok();

    // firewall.unblock lifts the block; its undo puts it back.
    let (out, unblock_run) = env.run(&env.runbook("unblock", "firewall.unblock", ""));
    let out = out.ok();
    let r = result(&out, "fw");
    assert!(
        r.summary
            .as_deref()
            .unwrap_or_default()
            .contains("removed every breakglass block"),
        "{r:?}"
    );
    assert_eq!(
        env.probe_from(Some("worker1"), Duration::from_secs(2)),
        Probe::Connected
    );
    assert!(!env.has_table());
    env.bg().args(["undo", &unblock_run, "--yes"]).run().ok();
    assert_eq!(
        env.probe_from(Some("worker1"), Duration::from_secs(1)),
        Probe::TimedOut
    );
    assert_eq!(
        env.probe_from(None, Duration::from_secs(2)),
        Probe::Connected
    );
}

/// Issue #11 point 4: the inventory a run used moved after the block went on. `confirm` and
/// `undo` find it with `-i` (checked against the digest the journal recorded), so the block
/// does not stay unconfirmable until its dead-man timer fires; an inventory that is not the
/// run's is refused, naming both files and digests.
#[test]
fn confirm_and_undo_find_a_moved_inventory_with_i_and_refuse_another() {
    let env = Env::new();
    let original = env.scratch.path().join("fleet.toml");
    std::fs::copy(env.lab.inventory_path(), &original).expect("copy the inventory");
    let with = |inventory: &std::path::Path| {
        env.scratch
            .bg_with(inventory)
            .env("BREAKGLASS_NO_AGENT", "true")
    };
    let (out, run) = run_with(
        with(&original),
        &env.block_runbook(&format!("revert_after = \"10m\"\n{SHORT}")),
    );
    out.ok();
    let digest = |path: &std::path::Path| {
        breakglass::inventory::Inventory::load(path)
            .expect("inventory")
            .digest
    };
    let recorded = digest(&original);
    let moved = env.scratch.path().join("moved.toml");
    std::fs::rename(&original, &moved).expect("move the inventory");

    // Without -i: the recorded path is gone, and the message says how to name the new one.
    let out = env
        .scratch
        .bg()
        .env("BREAKGLASS_NO_AGENT", "true")
        .args(["confirm", &run])
        .run()
        .code(2);
    assert!(
        out.stderr.contains(&original.display().to_string())
            && out.stderr.contains("name it with -i FILE")
            && out.stderr.contains(&recorded),
        "{}",
        out.stderr
    );

    // Another inventory (one more comment makes another digest) is refused, by both.
    let other = env.scratch.write(
        "other.toml",
        &format!(
            "{}\n# edited\n",
            std::fs::read_to_string(&moved).expect("read")
        ),
    );
    let other_digest = digest(&other);
    for verb in [
        &["confirm", run.as_str()][..],
        &["undo", run.as_str(), "--yes"],
    ] {
        let out = with(&other).args(verb).run().code(2);
        for needle in [
            other.display().to_string(),
            other_digest.clone(),
            original.display().to_string(),
            recorded.clone(),
            "name the inventory the run used with -i FILE".to_owned(),
        ] {
            assert!(
                out.stderr.contains(&needle),
                "{verb:?} lacks {needle:?}: {}",
                out.stderr
            );
        }
    }
    assert!(
        env.has_table(),
        "a refused confirm or undo changed the node"
    );

    // The moved file itself: confirm keeps the block, undo lifts it.
    with(&moved)
        .args(["confirm", &run])
        .run()
        .ok()
        .stdout_has("dead-man timer cancelled");
    assert!(env.state_file(&run, "fw.confirmed").exists());
    let out = with(&moved)
        .args(["--output", "json", "undo", &run, "--yes"])
        .run()
        .ok();
    assert_eq!(undo_result(&out).outcome, breakglass::outcome::Outcome::Ok);
    assert!(!env.has_table(), "undo with -i left the block");
    assert_eq!(
        env.probe_from(Some("worker1"), Duration::from_secs(2)),
        Probe::Connected
    );
}

#[test]
fn guard_rails_refuse_and_change_nothing() {
    let env = Env::new();
    env.sh("cp1", SEEDED);
    let before = env.sh("cp1", "nft -s list ruleset");

    // Blocking the SSH port this session uses.
    let (out, _) = env.run(&env.block_runbook("ports = [6443, 22]"));
    assert_ne!(out.code, 0, "{}", out.stdout);
    let r = result(&out, "fw");
    let reason = r.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("`ports` includes 22, the SSH port"),
        "{reason}"
    );
    assert_eq!(env.sh("cp1", "nft -s list ruleset"), before);
    assert_eq!(
        env.probe_from(Some("worker1"), Duration::from_secs(2)),
        Probe::Connected
    );

    // Not allowing the operator's own address.
    let rb = env.runbook(
        "locked-out",
        "firewall.block",
        "allow = [\"192.0.2.0/24\"]\nallow_targets = \"role=control-plane\"",
    );
    let (out, _) = env.run(&rb);
    assert_ne!(out.code, 0, "{}", out.stdout);
    let reason = result(&out, "fw").reason.unwrap_or_default();
    assert!(
        reason.contains(&format!(
            "the operator's address as cp1 sees it, {}, is not in the allowlist",
            env.lab.operator_address()
        )),
        "{reason}"
    );
    assert_eq!(env.sh("cp1", "nft -s list ruleset"), before);
    assert_eq!(
        env.probe_from(Some("worker1"), Duration::from_secs(2)),
        Probe::Connected
    );
    assert_eq!(
        env.probe_from(None, Duration::from_secs(2)),
        Probe::Connected
    );
}

/// The `undo` result of step `fw` for cp1.
fn undo_result(out: &Ran) -> TargetResult {
    events(&out.stdout)
        .into_iter()
        .find_map(|e| match e {
            Event::TargetResult(r) if r.mode == Some(breakglass::outcome::Mode::Undo) => Some(r),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no undo result\n{}\n{}", out.stdout, out.stderr))
}

#[test]
fn undo_never_clobbers_a_later_block_and_leaves_alone_a_block_that_was_refused() {
    let env = Env::new();
    let undo = |run: &str| {
        env.bg()
            .args(["--output", "json", "undo", run, "--yes"])
            .run()
    };
    let (out, first) = env.run(&env.block_runbook(""));
    out.ok();
    // A later run blocks the kubelet port too, on top of the first block.
    let later = env.runbook(
        "later",
        "firewall.block",
        &format!(
            "ports = [6443, 10250]\nallow = [\"{}\"]\nallow_targets = \"role=control-plane\"",
            env.lab.operator_address()
        ),
    );
    let (out, second) = env.run(&later);
    out.ok();
    let live = env.sh("cp1", "nft -s list table inet breakglass");

    // Undoing the first run would put back the firewall from before it: no block at all.
    // Refused on cp1, naming the run that changed it since and what differs.
    let out = undo(&first).code(1);
    let r = undo_result(&out);
    let reason = r.reason.unwrap_or_default();
    assert!(
        reason.contains(&format!("run {second} step fw")) && reason.contains("changed it since"),
        "{reason}"
    );
    assert!(
        reason.contains("set ports"),
        "no difference shown: {reason}"
    );
    assert_eq!(
        env.sh("cp1", "nft -s list table inet breakglass"),
        live,
        "the later block was clobbered"
    );
    assert_eq!(
        env.probe_from(Some("worker1"), Duration::from_secs(1)),
        Probe::TimedOut
    );

    // In the order they were made, both undo: the second gives the firewall (and the
    // ownership) back to the first, whose undo then lifts it.
    undo(&second).ok();
    let out = undo(&first).ok();
    assert_eq!(undo_result(&out).outcome, breakglass::outcome::Outcome::Ok);
    assert!(!env.has_table(), "the first undo left its block");

    // A block refused by its guard rails changed nothing: undoing it touches nothing, even
    // with another run's block live.
    let (out, live_run) = env.run(&env.block_runbook(""));
    out.ok();
    let (out, refused) = env.run(&env.block_runbook("ports = [6443, 22]"));
    assert_ne!(out.code, 0, "{}", out.stdout);
    let live = env.sh("cp1", "nft -s list table inet breakglass");
    let out = undo(&refused).ok();
    assert!(
        out.stdout
            .contains("have nothing to undo: the step was refused there"),
        "{}",
        out.stdout
    );
    assert_eq!(env.sh("cp1", "nft -s list table inet breakglass"), live);
    undo(&live_run).ok();
    assert!(!env.has_table());
}

#[test]
fn the_iptables_backend_blocks_too() {
    let env = Env::new();
    let listing = "iptables -S; ip6tables -S";
    let before = env.sh("cp1", listing);
    let held_worker = env
        .lab
        .hold_connection(Some("worker1"), env.api())
        .expect("watch from worker1");
    let (out, run) = env.run(&env.block_runbook("backend = \"iptables\""));
    env.assert_blocked_with_iptables(&out.ok());
    assert!(!env.has_table(), "the iptables backend used nft's table");
    assert!(
        held_worker.wait_dead(Duration::from_secs(5)),
        "the established watch survived the iptables block"
    );
    assert!(held_worker.closed_reason().is_some());
    env.bg().args(["exec", "cp1", "--", "true"]).run().ok();

    env.bg().args(["undo", &run, "--yes"]).run().ok();
    assert_eq!(env.sh("cp1", listing), before, "undo left iptables changed");
    assert_eq!(
        env.probe_from(Some("worker2"), Duration::from_secs(2)),
        Probe::Connected
    );
}

#[test]
fn without_nft_the_default_backend_falls_back_to_iptables() {
    let env = Env::new();
    // Hide nft on cp1 only: a bind mount inside the node's private mount namespace.
    env.sh(
        "cp1",
        "mount --bind /dev/null \"$(command -v nft)\" && ! command -v nft",
    );
    let listing = "iptables -S; ip6tables -S";
    let before = env.sh("cp1", listing);
    let (out, run) = env.run(&env.block_runbook(""));
    env.assert_blocked_with_iptables(&out.ok());
    env.bg().args(["undo", &run, "--yes"]).run().ok();
    assert_eq!(env.sh("cp1", listing), before, "undo left iptables changed");
    assert_eq!(
        env.probe_from(Some("worker2"), Duration::from_secs(2)),
        Probe::Connected
    );
}

#[test]
fn without_cut_established_only_new_connections_are_dropped() {
    let env = Env::new();
    let held_worker = env
        .lab
        .hold_connection(Some("worker1"), env.api())
        .expect("watch from worker1");
    let (out, run) = env.run(&env.block_runbook("cut_established = false"));
    out.ok();
    assert_eq!(
        env.probe_from(Some("worker2"), Duration::from_secs(1)),
        Probe::TimedOut
    );
    // The reset rule is what ends established connections: without it the watch goes on.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        held_worker.is_alive(),
        "the watch died without cut_established: {:?}",
        held_worker.closed_reason()
    );
    env.bg().args(["undo", &run, "--yes"]).run().ok();
    assert!(!env.has_table());
}

#[test]
fn a_second_block_takes_over_the_first_timer_and_its_revert_lifts_both() {
    let env = Env::new();
    let (out, first) = env.run(&env.block_runbook("revert_after = \"5m\""));
    out.ok();
    let first_pid = std::fs::read_to_string(env.state_file(&first, "fw.pid")).expect("pidfile");
    // While the first block is unconfirmed, a second run widens the allowlist.
    let rb = env.runbook(
        "widen",
        "firewall.block",
        &format!(
            "allow = [\"{}\", \"192.0.2.0/24\"]\nallow_targets = \"role=control-plane\"\nrevert_after = \"10s\"\n{SHORT}",
            env.lab.operator_address()
        ),
    );
    let (out, _) = env.run(&rb);
    let out = out.ok();
    let summary = result(&out, "fw").summary.unwrap_or_default();
    assert!(summary.contains("taking over"), "{summary}");
    // The first timer is gone: its process was cancelled, it did not fire.
    let alive = env
        .lab
        .sh("cp1", &format!("kill -0 {}", first_pid.trim()))
        .expect("sh");
    assert!(!alive.status.success(), "the first timer still runs");
    assert!(!env.state_file(&first, "fw.fired").exists());
    // Confirming the first run alone no longer keeps the block: the second run's timer rules.
    env.bg()
        .args(["confirm", &first])
        .run()
        .code(1)
        .stdout_has("took over its dead-man timer");
    // The second timer lifts the block entirely, rather than putting the first one back.
    assert!(
        eventually(Duration::from_secs(30), || env
            .probe_from(Some("worker1"), Duration::from_secs(1))
            == Probe::Connected),
        "the block was not reverted"
    );
    assert!(!env.has_table());
}

/// `breakglass-deadman-RUN-fw`: the transient unit (without `.timer`) of a run's block step.
fn deadman_unit(run: &str) -> String {
    format!("breakglass-deadman-{run}-fw")
}

#[test]
fn on_a_systemd_node_the_dead_man_is_a_transient_timer_that_reverts_on_its_own() {
    let env = Env::with_systemd_cp1();
    env.sh("cp1", SEEDED);
    let before = env.sh("cp1", "nft -s list ruleset");
    let (out, run) = env.run(&env.block_runbook(&format!("revert_after = \"10s\"\n{SHORT}")));
    let armed = Instant::now();
    let out = out.ok();
    let unit = deadman_unit(&run);
    let r = result(&out, "fw");
    let summary = r.summary.clone().unwrap_or_default();
    assert!(
        summary.contains(&format!("dead-man (systemd timer {unit}.timer) reverts at")),
        "{summary}"
    );
    let deadman = &r.detail.as_ref().expect("detail")["deadman"];
    assert_eq!(deadman["kind"], "systemd", "{deadman}");
    assert_eq!(deadman["id"]["unit"], format!("{unit}.timer"), "{deadman}");
    // Recorded as a unit, not as a detached process; systemd (here its stand-in) has it.
    let unit_file = env.state_file(&run, "fw.unit");
    assert_eq!(
        std::fs::read_to_string(&unit_file).expect("the .unit file"),
        format!("{unit}\n")
    );
    assert!(
        !env.state_file(&run, "fw.pid").exists(),
        "a detached timer too"
    );
    assert_eq!(
        env.is_active(&format!("{unit}.timer")),
        (Some(0), "active\n".into())
    );
    assert_eq!(
        env.probe_from(Some("worker1"), Duration::from_secs(1)),
        Probe::TimedOut
    );

    // No breakglass process runs from here on: only the node's timer can lift the block.
    assert!(
        eventually(Duration::from_secs(30), || env
            .probe_from(Some("worker1"), Duration::from_secs(1))
            == Probe::Connected),
        "the block was not reverted"
    );
    timing(
        "revert_after=10s (systemd timer): worker connects again after the run ended",
        armed.elapsed(),
    );
    // The timer was armed before the run ended, and fires 10s (plus up to AccuracySec=1s)
    // after that.
    assert!(
        armed.elapsed() >= Duration::from_secs(9),
        "reverted {:?} after the run, before revert_after",
        armed.elapsed()
    );
    assert_eq!(env.sh("cp1", "nft -s list ruleset"), before);
    assert!(
        env.state_file(&run, "fw.fired").exists(),
        "the timer did not record that it fired"
    );
    assert!(!unit_file.exists(), "the revert left the .unit file");
    assert!(
        eventually(Duration::from_secs(5), || env
            .is_active(&format!("{unit}.timer"))
            .0
            == Some(3)),
        "the elapsed timer is still active"
    );
    env.bg()
        .args(["confirm", &run])
        .run()
        .code(1)
        .stdout_has("already fired");
}

#[test]
fn on_a_systemd_node_confirm_stops_the_timer_and_unblock_lifts_the_block() {
    let env = Env::with_systemd_cp1();
    let (out, run) = env.run(&env.block_runbook(&format!("revert_after = \"10s\"\n{SHORT}")));
    out.ok();
    let armed = Instant::now();
    let unit = deadman_unit(&run);
    assert!(env.state_file(&run, "fw.unit").exists());
    env.bg()
        .args(["confirm", &run])
        .run()
        .ok()
        .stdout_has(&format!("dead-man timer cancelled (systemd {unit})"));
    assert!(env.state_file(&run, "fw.confirmed").exists());
    assert!(!env.state_file(&run, "fw.unit").exists());
    assert_eq!(
        env.is_active(&format!("{unit}.timer")),
        (Some(3), "inactive\n".into())
    );
    // Past the expiry (10s plus AccuracySec=1s), the block holds.
    std::thread::sleep(Duration::from_secs(13).saturating_sub(armed.elapsed()));
    assert_eq!(
        env.probe_from(Some("worker1"), Duration::from_secs(1)),
        Probe::TimedOut
    );
    assert!(env.has_table());
    assert!(!env.state_file(&run, "fw.fired").exists());
    env.bg()
        .args(["confirm", &run])
        .run()
        .ok()
        .stdout_has("already confirmed");

    // firewall.unblock lifts it (no timer left to cancel).
    let unblock = env.runbook("unblock", "firewall.unblock", "");
    let (out, _) = env.run(&unblock);
    let summary = result(&out.ok(), "fw").summary.unwrap_or_default();
    assert_eq!(
        summary, "removed every breakglass block; 0 dead-man timers cancelled",
        "{summary}"
    );
    assert_eq!(
        env.probe_from(Some("worker1"), Duration::from_secs(2)),
        Probe::Connected
    );
    assert!(!env.has_table());

    // Unblock also stops breakglass timers it knows only from systemd's list (their .unit
    // file lost), so none can put a block back later.
    let (out, second) = env.run(&env.block_runbook("revert_after = \"5m\""));
    out.ok();
    let unit = deadman_unit(&second);
    std::fs::remove_file(env.state_file(&second, "fw.unit")).expect("remove the .unit file");
    let (out, _) = env.run(&unblock);
    let r = result(&out.ok(), "fw");
    assert_eq!(
        r.summary.as_deref(),
        Some("removed every breakglass block; 1 dead-man timer cancelled"),
        "{r:?}"
    );
    assert_eq!(
        r.detail.as_ref().expect("detail")["cancelled"],
        serde_json::json!([format!("systemd {unit}.timer")])
    );
    assert_eq!(env.is_active(&format!("{unit}.timer")).0, Some(3));
    assert!(!env.has_table());
}

/// Issue #9: on a worker, an egress block cuts its established watch to the API and its new
/// connections there, and nothing else: not an allowed API server, not other ports of the same
/// address, not another worker, not the operator's SSH session (the operator's address is
/// among the destinations: only port 6443 is blocked). `confirm` keeps it; `undo` restores the
/// worker's ruleset exactly.
#[test]
fn egress_block_cuts_a_workers_watch_and_new_connections_to_the_api_and_nothing_else() {
    let env = Env::with_control_planes(2);
    env.sh("worker1", SEEDED);
    let before = env.sh("worker1", "nft -s list ruleset");
    let (cp1, cp2) = (env.addr("cp1", 6443), env.addr("cp2", 6443));
    let held = env.hold("worker1", cp1);
    let held_allowed = env.hold("worker1", cp2);
    let held_other = env.hold("worker2", cp1);

    let rb = env.runbook_on(
        "egress",
        "worker1",
        "firewall.block",
        &format!(
            "direction = \"egress\"\nto = [\"{}\"]\nports = [6443]\nallow = [\"{}\"]",
            env.lab.subnet(),
            cp2.ip()
        ),
    );
    let plan = env.bg().args(["plan"]).arg(&rb).run().ok();
    assert!(
        plan.stdout.contains(&format!(
            "block outgoing tcp/6443 to {} (from `to`) except {}/32, 127.0.0.0/8",
            env.lab.subnet(),
            cp2.ip()
        )),
        "{}",
        plan.stdout
    );
    let started = Instant::now();
    let (out, run) = env.run(&rb);
    timing("run firewall.block egress (1 target)", started.elapsed());
    let out = out.ok();
    let summary = result(&out, "fw").summary.unwrap_or_default();
    assert!(
        summary.contains(&format!(
            "blocked outgoing tcp/6443 to {} with nft",
            env.lab.subnet()
        )) && summary.contains("ended 1 established connection at once"),
        "{summary}"
    );

    // The established watch is cut at once, with an error the client sees.
    assert_cut(
        &held,
        Duration::from_secs(3),
        "egress: held connection dead after the run",
    );
    assert!(
        held_allowed.is_alive(),
        "the watch to the allowed cp2 was cut"
    );
    assert!(held_other.is_alive(), "worker2's watch was cut");
    // New connections: to cp1's API blocked; to the allowed cp2, to cp1's SSH port and from
    // worker2, through.
    env.assert_blocked("worker1", cp1);
    env.assert_open("worker1", cp2);
    env.assert_open("worker1", env.addr("cp1", 22));
    env.assert_open("worker2", cp1);
    // The operator's SSH to the worker, through breakglass itself.
    env.bg()
        .args(["exec", "worker1", "--", "hostname"])
        .run()
        .ok()
        .stdout_has("worker1");
    let table = env.sh("worker1", "nft -s list table inet breakglass");
    assert!(
        table.contains("type filter hook output priority filter - 10; policy accept;"),
        "{table}"
    );

    env.bg()
        .args(["confirm", &run])
        .run()
        .ok()
        .stdout_has("dead-man timer cancelled");
    env.bg()
        .args(["undo", &run, "--yes"])
        .run()
        .ok()
        .stdout_has("undone");
    assert_eq!(
        env.sh("worker1", "nft -s list ruleset"),
        before,
        "undo did not restore the worker's exact ruleset"
    );
    env.assert_open("worker1", cp1);
    env.bg().args(["journal", "verify", &run]).run().ok();
}

/// Issue #9: without `to`, an egress block takes the cluster's API endpoints from the
/// inventory; unconfirmed, the worker's own dead-man timer lifts it.
#[test]
fn egress_block_defaults_to_the_inventory_endpoints_and_the_dead_man_reverts_it() {
    let env = Env::new();
    let api = env.api();
    let rb = env.runbook_on(
        "egress-deadman",
        "worker1",
        "firewall.block",
        &format!("direction = \"egress\"\nrevert_after = \"15s\"\n{SHORT}"),
    );
    let plan = env.bg().args(["plan"]).arg(&rb).run().ok();
    assert!(
        plan.stdout.contains(&format!(
            "block outgoing tcp/6443 to {}/32 (cluster lab's api_endpoints)",
            api.ip()
        )) && plan.stdout.contains("auto-revert in 15s unless confirmed"),
        "{}",
        plan.stdout
    );
    let (out, run) = env.run(&rb);
    out.ok();
    let armed = Instant::now();
    env.assert_blocked("worker1", api);
    env.assert_open("worker2", api);
    // No breakglass process runs from here on: only the worker's timer can lift the block.
    assert!(
        eventually(Duration::from_secs(45), || env.probe(
            "worker1",
            api,
            Duration::from_secs(1)
        ) == Probe::Connected),
        "the egress block was not reverted"
    );
    timing(
        "egress revert_after=15s: worker connects again",
        armed.elapsed(),
    );
    assert!(
        !env.sh("worker1", "nft list tables")
            .lines()
            .any(|l| l == "table inet breakglass"),
        "the revert left table inet breakglass"
    );
    let fired = env
        .lab
        .node_file("worker1", &format!("/run/breakglass/{run}/fw.fired"))
        .expect("node path");
    assert!(fired.exists(), "the timer did not record that it fired");
}

/// Issue #9: the iptables backend blocks egress from `OUTPUT`; on a node without `ss`, the
/// reject rule alone cuts the established watch at its next packet.
#[test]
fn egress_block_with_iptables_and_no_ss_cuts_at_the_next_packet() {
    let env = Env::new();
    let api = env.api();
    // Hide ss on worker1 only: a bind mount inside the node's private mount namespace.
    env.sh(
        "worker1",
        "mount --bind /dev/null \"$(command -v ss)\" && ! command -v ss",
    );
    let listing = "iptables -S; ip6tables -S";
    let before = env.sh("worker1", listing);
    let held = env.hold("worker1", api);
    let rb = env.runbook_on(
        "egress-iptables",
        "worker1",
        "firewall.block",
        "direction = \"egress\"\nbackend = \"iptables\"",
    );
    let (out, run) = env.run(&rb);
    let summary = result(&out.ok(), "fw").summary.unwrap_or_default();
    assert!(
        summary.contains(&format!(
            "blocked outgoing tcp/6443 to {}/32 with iptables",
            api.ip()
        )) && summary
            .contains("established connections end at their next packet (no ss on the node)"),
        "{summary}"
    );
    let chain = env.sh("worker1", "iptables -S OUTPUT");
    assert_eq!(
        chain.lines().nth(1),
        Some("-A OUTPUT -j BREAKGLASS"),
        "{chain}"
    );
    assert_cut(
        &held,
        Duration::from_secs(5),
        "egress with iptables, no ss: held connection dead after the run",
    );
    env.assert_blocked("worker1", api);
    env.assert_open("worker2", api);
    env.bg().args(["exec", "worker1", "--", "true"]).run().ok();

    env.bg().args(["undo", &run, "--yes"]).run().ok();
    assert_eq!(
        env.sh("worker1", listing),
        before,
        "undo left iptables changed"
    );
    env.assert_open("worker1", api);
}

/// A `DaemonSet` pod on worker1: its own network namespace behind a veth, the worker routing
/// for it ([`Lab::add_pod_network`](breakglass::lab::netns::Lab::add_pod_network)), so its watch
/// to the API crosses the worker's forward hook, never its output hook. An egress block on the
/// worker (`backend`, `listing` the worker's rules as that backend shows them) cuts the pod's
/// established watch at its next packet, as well as the worker's own (`ss -K` reaches only the
/// worker's sockets: the summary counts one), drops the pod's new connections and leaves
/// worker2's alone; `undo` restores the worker's rules exactly and the pod connects again.
fn egress_block_cuts_a_pods_forwarded_watch(backend: &str, listing: &str) {
    let mut env = Env::new();
    let pod = env
        .lab
        .add_pod_network("worker1")
        .expect("a pod network on worker1");
    let api = env.api();
    let before = env.sh("worker1", listing);
    // The pod reaches the API through the worker before the block.
    env.assert_open(&pod.name, api);
    let held_pod = env.hold(&pod.name, api);
    let held_node = env.hold("worker1", api);
    let held_other = env.hold("worker2", api);

    let rb = env.runbook_on(
        "egress-pod",
        "worker1",
        "firewall.block",
        &format!("direction = \"egress\"\nbackend = \"{backend}\""),
    );
    let (out, run) = env.run(&rb);
    let summary = result(&out.ok(), "fw").summary.unwrap_or_default();
    assert!(
        summary.contains(&format!(
            "blocked outgoing tcp/6443 to {}/32 with {backend}",
            api.ip()
        )) && summary.contains("ended 1 established connection at once"),
        "{summary}"
    );
    assert_cut(
        &held_pod,
        Duration::from_secs(5),
        &format!("egress with {backend}: the pod's forwarded watch dead after the run"),
    );
    assert_cut(
        &held_node,
        Duration::from_secs(3),
        &format!("egress with {backend}: the worker's own watch dead after the run"),
    );
    assert!(held_other.is_alive(), "worker2's watch was cut");
    env.assert_blocked(&pod.name, api);
    env.assert_blocked("worker1", api);
    env.assert_open("worker2", api);
    let rules = env.sh("worker1", listing);
    match backend {
        "nft" => assert!(
            rules.contains("type filter hook forward priority filter - 10; policy accept;")
                && rules.contains("type filter hook output priority filter - 10; policy accept;"),
            "{rules}"
        ),
        _ => assert!(
            rules.contains("\n-A FORWARD -j BREAKGLASS\n")
                && rules.contains("\n-A OUTPUT -j BREAKGLASS\n"),
            "{rules}"
        ),
    }

    env.bg()
        .args(["undo", &run, "--yes"])
        .run()
        .ok()
        .stdout_has("undone");
    assert_eq!(
        env.sh("worker1", listing),
        before,
        "undo did not restore the worker's exact rules"
    );
    env.assert_open(&pod.name, api);
    let again = env.hold(&pod.name, api);
    assert!(again.is_alive(), "the pod's new watch after the undo");
}

#[test]
fn egress_block_cuts_a_pods_forwarded_watch_with_nft() {
    egress_block_cuts_a_pods_forwarded_watch("nft", "nft -s list ruleset");
}

#[test]
fn egress_block_cuts_a_pods_forwarded_watch_with_iptables() {
    egress_block_cuts_a_pods_forwarded_watch("iptables", "iptables -S; ip6tables -S");
}
