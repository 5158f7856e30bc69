//! The engine's rules, pinned without root, sshd or a network: a fake [`Reach`] hands every
//! action a recording shell, and a scripted operator answers prompts. What the engine does with
//! a real SSH reach is proven by the integration tests (tests/).

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::plan::{self, Plan};
use super::recovery::{self, History};
use super::runbook::{Done, RunOutcome, RunSettings, execute};
use super::{Cancel, Event, Observer, Run};
use crate::actions::context::{Context, Operator, Reach};
use crate::actions::contract::{Action, ActionFailure, Applied, Node};
use crate::error::Exit;
use crate::inventory::{Format, Host, Inventory};
use crate::journal::{self, Journal, OperatorKey};
use crate::outcome::{Mode, Outcome, StepStatus};
use crate::runbook::{Runbook, bind, resolve};
use crate::transport::ssh::{self, Captured, ExecResult};

mod skips;

const INVENTORY: &str = r#"[defaults]
user = "root"

[clusters.lab]
api_endpoints = ["127.0.0.1:6443"]

[[hosts]]
name = "n[1-8]"
address = "127.0.1.[1-8]"
cluster = "lab"
labels = { role = "worker" }
"#;

/// What the fake shells saw, shared by all of them.
#[derive(Default)]
struct Seen {
    /// (host, script) in the order the calls started.
    calls: Vec<(String, String)>,
    in_flight: usize,
    peak: usize,
    /// Shells handed out (the fake's "logins").
    shells: usize,
}

/// A reach whose shells record every call and answer `exit 1` for a script containing `FAIL`
/// or for hosts listed in `failing`, after `delay`.
struct FakeReach {
    seen: Arc<Mutex<Seen>>,
    failing: HashSet<String>,
    delay: Duration,
}

impl FakeReach {
    fn new(delay: Duration) -> Arc<FakeReach> {
        Arc::new(FakeReach {
            seen: Arc::default(),
            failing: HashSet::new(),
            delay,
        })
    }

    fn failing(hosts: &[&str]) -> Arc<FakeReach> {
        Arc::new(FakeReach {
            seen: Arc::default(),
            failing: hosts.iter().map(|h| (*h).to_owned()).collect(),
            delay: Duration::ZERO,
        })
    }

    fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The hosts that ran a script containing `needle`, in call order.
    fn ran(&self, needle: &str) -> Vec<String> {
        self.seen(|s| {
            s.calls
                .iter()
                .filter(|(_, script)| script.contains(needle))
                .map(|(host, _)| host.clone())
                .collect()
        })
    }
}

struct FakeShell {
    host: String,
    seen: Arc<Mutex<Seen>>,
    fail: bool,
    delay: Duration,
}

impl Reach for FakeReach {
    fn shell(&self, host: &Host, _timeout: Option<Duration>) -> Box<dyn Node + Send> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .shells += 1;
        Box::new(FakeShell {
            host: host.name.clone(),
            seen: Arc::clone(&self.seen),
            fail: self.failing.contains(&host.name),
            delay: self.delay,
        })
    }
}

impl Node for FakeShell {
    fn name(&self) -> &str {
        &self.host
    }

    fn address(&self) -> String {
        "127.0.0.1:22".into()
    }

    fn run(&mut self, script: &str, _stdin: Option<&[u8]>) -> ExecResult {
        {
            let mut s = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            s.calls.push((self.host.clone(), script.to_owned()));
            s.in_flight += 1;
            s.peak = s.peak.max(s.in_flight);
        }
        std::thread::sleep(self.delay);
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .in_flight -= 1;
        let outcome = if self.fail || script.contains("FAIL") {
            ssh::Outcome::Exit {
                status: 1,
                signal: None,
            }
        } else {
            ssh::Outcome::Ok
        };
        ExecResult {
            outcome,
            stdout: Captured::default(),
            stderr: Captured::default(),
            connect: Some(Duration::ZERO),
            total: self.delay,
            recorded_host_key: None,
        }
    }
}

/// Answers confirmations and pauses as told, and remembers what it was asked.
#[derive(Default)]
struct Scripted {
    confirm: bool,
    pause: bool,
    asked: Mutex<Vec<String>>,
}

impl Operator for Scripted {
    fn confirm(&self, step: &str, _what: &str, expected: &str) -> bool {
        self.asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(format!("confirm {step} {expected}"));
        self.confirm
    }

    fn pause(&self, step: &str, _message: &str) -> bool {
        self.asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(format!("pause {step}"));
        self.pause
    }
}

#[derive(Default)]
struct Collect(Mutex<Vec<Event>>);

impl Observer for Collect {
    fn event(&self, event: &Event) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event.clone());
    }
}

impl Collect {
    fn events(&self) -> Vec<Event> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The messages of the `notice` events.
    fn notices(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Notice { message } => Some(message),
                _ => None,
            })
            .collect()
    }

    /// (target, outcome) of every `apply` result, in the order they were recorded.
    fn results(&self, mode: Mode) -> Vec<(String, String, Outcome)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::TargetResult(r) if r.mode == Some(mode) => {
                    Some((r.step.unwrap_or_default(), r.target, r.outcome))
                }
                _ => None,
            })
            .collect()
    }
}

/// A runbook's steps after a common head.
fn runbook(steps: &str) -> String {
    format!(
        "name = \"engine-test\"\nsummary = \"engine rules\"\n\n[params.cluster]\ntype = \"string\"\n\
         default = \"lab\"\nhelp = \"Cluster\"\n{steps}"
    )
}

struct Harness {
    _dir: tempfile::TempDir,
    inventory: Inventory,
    plan: Plan,
    run: Run,
    observer: Arc<Collect>,
}

impl Harness {
    fn new(steps: &str) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("runs");
        let inventory =
            Inventory::from_str(INVENTORY, Path::new("/lab/inventory.toml"), Format::Toml)
                .expect("inventory");
        let text = runbook(steps);
        let rb = Runbook::parse(&text, "engine-test.toml").expect("runbook");
        let bound = bind(&rb, &[]).expect("params");
        let resolved = resolve(&rb, &bound).expect("resolve");
        let run_id = journal::new_run_id();
        let plan = plan::build(resolved, &inventory, &run_id, &[]).expect("plan");
        let observer = Arc::new(Collect::default());
        let run = Run {
            journal: Arc::new(
                Journal::create(&root, &run_id, &OperatorKey::for_tests()).expect("journal"),
            ),
            run_id,
            observer: Arc::clone(&observer) as Arc<dyn Observer>,
            cancel: Cancel::new(),
        };
        let begin = Event::RunBegin(super::event::RunBegin {
            run_id: run.run_id.clone(),
            version: "test".into(),
            command: "run".into(),
            argv: Vec::new(),
            operator: "tester".into(),
            inventory: "/lab/inventory.toml".into(),
            inventory_digest: inventory.digest.clone(),
            selector: String::new(),
            targets: 0,
            journal: String::new(),
            runbook: Some("engine-test".into()),
            runbook_source: Some(text),
            params: Some(Vec::new()),
        });
        run.record(&begin, &begin).expect("run_begin");
        Harness {
            _dir: dir,
            inventory,
            plan,
            run,
            observer,
        }
    }

    fn execute(
        &self,
        reach: &Arc<FakeReach>,
        operator: Arc<Scripted>,
        yes: bool,
        done: &Done,
    ) -> RunOutcome {
        let settings = Arc::new(RunSettings {
            yes,
            concurrency: 3,
            reach: Arc::clone(reach) as Arc<dyn Reach>,
            operator,
            retries: 0,
        });
        runtime()
            .block_on(execute(&self.run, &self.plan, &settings, done))
            .expect("execute")
    }

    fn history(&self) -> History {
        History::from_records(journal::read(self.run.journal.dir()).expect("read journal"))
            .expect("history")
    }

    fn undo(&self, reach: &Arc<FakeReach>, only_step: Option<&str>) -> Exit {
        let settings = Arc::new(RunSettings {
            yes: true,
            concurrency: 3,
            reach: Arc::clone(reach) as Arc<dyn Reach>,
            operator: Arc::new(Scripted::default()),
            retries: 0,
        });
        let history = self.history();
        let (exit, _) = runtime()
            .block_on(recovery::undo(
                &self.run,
                &history,
                &self.plan,
                &self.inventory,
                only_step,
                &settings,
            ))
            .expect("undo");
        exit
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

const EXEC_IN_WAVES: &str = r#"
[[steps]]
id = "touch"
action = "ssh.exec"
targets = "cluster=lab"
waves = [1, 3, "100%"]
failure_budget = 1
[steps.with]
command = "touch-it"
idempotent = true
"#;

#[test]
fn waves_run_in_order_canary_first_and_never_above_concurrency() {
    let h = Harness::new(EXEC_IN_WAVES);
    let reach = FakeReach::new(Duration::from_millis(30));
    let out = h.execute(&reach, Arc::default(), true, &Done::default());
    assert_eq!(out.exit, Exit::Success);
    let ran = reach.ran("touch-it");
    assert_eq!(ran.len(), 8);
    // The canary first, alone; then wave 2 (up to 3 hosts: n2, n3) before any of wave 3.
    assert_eq!(ran[0], "n1");
    let mut wave2: Vec<&str> = ran[1..3].iter().map(String::as_str).collect();
    wave2.sort_unstable();
    assert_eq!(wave2, ["n2", "n3"]);
    let peak = reach.seen(|s| s.peak);
    assert!(peak <= 3, "peak in flight {peak} above concurrency 3");
    assert!(
        peak >= 2,
        "waves of 3 and 4 with 30 ms calls ran one at a time ({peak})"
    );
    // One shell per target: snapshot, apply and verify share it.
    assert_eq!(reach.seen(|s| s.shells), 8);
    // The events say so too: wave_begin 1, 2, 3 in order.
    let waves: Vec<usize> = h
        .observer
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::WaveBegin { wave, .. } => Some(wave),
            _ => None,
        })
        .collect();
    assert_eq!(waves, [1, 2, 3]);
}

#[test]
fn a_wave_over_its_failure_budget_stops_the_run_before_the_next_wave() {
    let h = Harness::new(EXEC_IN_WAVES);
    // Wave 2 is n2-n3 (waves count up to 3 hosts): two failures against a budget of one.
    let reach = FakeReach::failing(&["n2", "n3"]);
    let out = h.execute(&reach, Arc::default(), true, &Done::default());
    assert_eq!(out.exit, Exit::Policy);
    let ran = reach.ran("touch-it");
    assert_eq!(
        ran.len(),
        3,
        "wave 3 ran after the budget was blown: {ran:?}"
    );
    let stopped = h.observer.events().into_iter().find_map(|e| match e {
        Event::Stopped { reason, .. } => Some(reason),
        _ => None,
    });
    assert!(
        stopped
            .as_deref()
            .is_some_and(|r| r.contains("2 of 2 targets failed")),
        "{stopped:?}"
    );
}

#[test]
fn a_gate_is_retried_until_it_passes_and_stops_the_run_at_its_deadline() {
    // The gate fails on the canary's first check and passes on the second (5 s later).
    let h = Harness::new(
        r#"
[[steps]]
id = "touch"
action = "ssh.exec"
targets = "cluster=lab,n[1-2]"
waves = [1, "100%"]
[steps.with]
command = "touch-it"
idempotent = true
[steps.gate]
action = "ssh.exec"
timeout = "20s"
[steps.gate.with]
command = "check-it"
"#,
    );
    let reach = Arc::new(FlakyGate::default());
    let settings = Arc::new(RunSettings {
        yes: true,
        concurrency: 3,
        reach: Arc::clone(&reach) as Arc<dyn Reach>,
        operator: Arc::new(Scripted::default()),
        retries: 0,
    });
    let out = runtime()
        .block_on(execute(&h.run, &h.plan, &settings, &Done::default()))
        .expect("execute");
    assert_eq!(out.exit, Exit::Success);
    let gates: Vec<bool> = h
        .observer
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Gate { passed, .. } => Some(passed),
            _ => None,
        })
        .collect();
    assert_eq!(gates, [true, true], "one passing gate per wave");
    assert!(reach.checks() >= 3, "the first gate was not retried");

    // A gate that never passes stops the run once its deadline is over.
    let h = Harness::new(
        r#"
[[steps]]
id = "touch"
action = "ssh.exec"
targets = "cluster=lab,n[1-2]"
waves = [1, "100%"]
[steps.with]
command = "touch-it"
idempotent = true
[steps.gate]
action = "ssh.exec"
timeout = "1s"
[steps.gate.with]
command = "check-it FAIL"
"#,
    );
    let reach = FakeReach::new(Duration::ZERO);
    let started = Instant::now();
    let out = h.execute(&reach, Arc::default(), true, &Done::default());
    assert_eq!(out.exit, Exit::Policy);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        reach.ran("touch-it"),
        ["n1"],
        "wave 2 ran behind a failed gate"
    );
    assert!(reach.ran("check-it").len() >= 2, "the gate was not retried");
}

/// A reach whose `check-it` fails the first time it is called, then passes; everything else
/// succeeds.
#[derive(Default)]
struct FlakyGate {
    checks: Arc<Mutex<usize>>,
}

impl FlakyGate {
    fn checks(&self) -> usize {
        *self.checks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct FlakyShell(Arc<Mutex<usize>>);

impl Reach for FlakyGate {
    fn shell(&self, _host: &Host, _timeout: Option<Duration>) -> Box<dyn Node + Send> {
        Box::new(FlakyShell(Arc::clone(&self.checks)))
    }
}

impl Node for FlakyShell {
    #[allow(clippy::unnecessary_literal_bound)] // the trait's real shells borrow their names
    fn name(&self) -> &str {
        "n"
    }

    fn address(&self) -> String {
        "127.0.0.1:22".into()
    }

    fn run(&mut self, script: &str, _stdin: Option<&[u8]>) -> ExecResult {
        let first_check = script.contains("check-it") && {
            let mut n = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            *n += 1;
            *n == 1
        };
        ExecResult {
            outcome: if first_check {
                ssh::Outcome::Exit {
                    status: 1,
                    signal: None,
                }
            } else {
                ssh::Outcome::Ok
            },
            stdout: Captured::default(),
            stderr: Captured::default(),
            connect: Some(Duration::ZERO),
            total: Duration::ZERO,
            recorded_host_key: None,
        }
    }
}

#[test]
fn a_declined_confirmation_stops_before_anything_runs() {
    let h = Harness::new(
        r#"
[[steps]]
id = "touch"
action = "ssh.exec"
targets = "cluster=lab"
confirm = true
[steps.with]
command = "touch-it"
"#,
    );
    let reach = FakeReach::new(Duration::ZERO);
    let operator = Arc::new(Scripted::default());
    let out = h.execute(&reach, Arc::clone(&operator), false, &Done::default());
    assert_eq!(out.exit, Exit::Policy);
    assert!(
        reach.ran("").is_empty(),
        "something ran after a declined confirmation"
    );
    assert_eq!(
        *operator
            .asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
        ["confirm touch lab"]
    );
}

#[test]
fn a_pause_is_an_ordinary_step_the_operator_can_stop() {
    let steps = r#"
[[steps]]
id = "look"
action = "pause"
[steps.with]
message = "look at the dashboards"

[[steps]]
id = "touch"
action = "ssh.exec"
targets = "cluster=lab"
[steps.with]
command = "touch-it"
"#;
    let h = Harness::new(steps);
    let reach = FakeReach::new(Duration::ZERO);
    let stop = Arc::new(Scripted::default());
    let out = h.execute(&reach, Arc::clone(&stop), false, &Done::default());
    assert_eq!(out.exit, Exit::Policy);
    assert!(reach.ran("touch-it").is_empty());
    assert_eq!(
        h.observer.results(Mode::Apply),
        [("look".to_owned(), "operator".to_owned(), Outcome::Failed)]
    );
    assert_eq!(reach.seen(|s| s.shells), 0, "a pause needs no shell");

    let h = Harness::new(steps);
    let go = Arc::new(Scripted {
        pause: true,
        ..Scripted::default()
    });
    let out = h.execute(&reach, go, false, &Done::default());
    assert_eq!(out.exit, Exit::Success);
    assert_eq!(reach.ran("touch-it").len(), 8);
}

#[test]
fn resume_skips_finished_targets_and_reports_in_doubt_ones_without_running_them() {
    let h = Harness::new(
        r#"
[[steps]]
id = "once"
action = "ssh.exec"
targets = "cluster=lab,n[1-4]"
failure_budget = "100%"
on_failure = "continue"
[steps.with]
command = "do-it-once"
idempotent = false
"#,
    );
    let key = |n: &str| ("once".to_owned(), n.to_owned());
    let done = Done {
        targets: [key("n1"), key("n2")].into_iter().collect(),
        steps: HashSet::new(),
        in_doubt: [key("n3")].into_iter().collect(),
        unreachable_steps: HashSet::new(),
        details: std::collections::HashMap::new(),
    };
    let reach = FakeReach::new(Duration::ZERO);
    let out = h.execute(&reach, Arc::default(), true, &done);
    assert_eq!(out.exit, Exit::TargetsFailed);
    assert_eq!(reach.ran("do-it-once"), ["n4"]);
    let mut results = h.observer.results(Mode::Apply);
    results.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        results,
        [
            ("once".to_owned(), "n3".to_owned(), Outcome::InDoubt),
            ("once".to_owned(), "n4".to_owned(), Outcome::Ok),
        ]
    );
    assert_eq!(out.summary.in_doubt, 1);
}

/// An action with an inverse, recording `apply STEP` and `undo STEP` on the shell.
struct Reversible(&'static str);

impl Action for Reversible {
    fn kind(&self) -> &'static str {
        "test.reversible"
    }

    fn plan(&self, _target: &str) -> String {
        format!("change {}", self.0)
    }

    fn snapshot(&self, cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        let node = cx.shell()?;
        node.run(&format!("read {}", self.0), None);
        Ok(Value::from(self.0))
    }

    fn apply(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<Applied, ActionFailure> {
        let r = cx.shell()?.run(&format!("apply {}", self.0), None);
        if r.outcome == ssh::Outcome::Ok {
            Ok(Applied::default())
        } else {
            Err(ActionFailure::from_result("apply", &r))
        }
    }

    fn verify(&self, _cx: &mut dyn Context, _snapshot: &Value) -> Result<(), ActionFailure> {
        Ok(())
    }

    fn inverse(&self, snapshot: &Value) -> Option<Box<dyn Action>> {
        Some(Box::new(Undoer(
            snapshot.as_str().unwrap_or("?").to_owned(),
        )))
    }
}

struct Undoer(String);

impl Action for Undoer {
    fn kind(&self) -> &'static str {
        "test.undo"
    }

    fn plan(&self, _target: &str) -> String {
        format!("restore {}", self.0)
    }

    fn snapshot(&self, _cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        Ok(Value::Null)
    }

    fn apply(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<Applied, ActionFailure> {
        cx.shell()?.run(&format!("undo {}", self.0), None);
        Ok(Applied::default())
    }

    fn verify(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<(), ActionFailure> {
        cx.shell()?.run(&format!("check {}", self.0), None);
        Ok(())
    }

    fn inverse(&self, _snapshot: &Value) -> Option<Box<dyn Action>> {
        None
    }
}

#[test]
fn undo_walks_steps_in_reverse_and_never_undoes_a_target_twice() {
    let mut h = Harness::new(
        r#"
[[steps]]
id = "first"
action = "ssh.exec"
targets = "cluster=lab,n[1-2]"
[steps.with]
command = "placeholder"

[[steps]]
id = "wait"
action = "pause"
[steps.with]
message = "look"
skippable = true

[[steps]]
id = "second"
action = "ssh.exec"
targets = "cluster=lab,n[1-2]"
[steps.with]
command = "placeholder"
"#,
    );
    h.plan.steps[0].action = Arc::new(Reversible("first"));
    h.plan.steps[2].action = Arc::new(Reversible("second"));
    let reach = FakeReach::new(Duration::ZERO);
    assert_eq!(
        h.execute(&reach, Arc::default(), true, &Done::default())
            .exit,
        Exit::Success
    );
    // Snapshot, apply and verify of one target share one shell.
    assert_eq!(reach.seen(|s| s.shells), 4);

    let undo = FakeReach::new(Duration::ZERO);
    assert_eq!(h.undo(&undo, Some("first")), Exit::Success);
    assert_eq!(undo.ran("undo first").len(), 2);
    assert!(
        undo.ran("undo second").is_empty(),
        "--step undid another step"
    );
    // The rest: only the second step is left, and the pause has nothing to undo.
    assert_eq!(h.undo(&undo, None), Exit::Success);
    assert_eq!(undo.ran("undo first").len(), 2, "a target was undone twice");
    assert_eq!(undo.ran("undo second").len(), 2);
    let calls = undo.seen(|s| s.calls.clone());
    let apply_and_check: Vec<&str> = calls
        .iter()
        .filter(|(h, _)| h == "n1")
        .map(|(_, c)| c.as_str())
        .collect();
    assert_eq!(
        apply_and_check,
        ["undo first", "check first", "undo second", "check second"]
    );
    // Each undo's apply and verify shared one shell: 2 targets x 2 steps.
    assert_eq!(undo.seen(|s| s.shells), 4);
    // Nothing left: a third undo does nothing.
    let again = FakeReach::new(Duration::ZERO);
    assert_eq!(h.undo(&again, None), Exit::Success);
    assert!(again.ran("").is_empty());

    // A full undo of a fresh run goes in reverse step order.
    let mut h = Harness::new(
        r#"
[[steps]]
id = "first"
action = "ssh.exec"
targets = "cluster=lab,n1"
[steps.with]
command = "placeholder"

[[steps]]
id = "second"
action = "ssh.exec"
targets = "cluster=lab,n1"
[steps.with]
command = "placeholder"
"#,
    );
    h.plan.steps[0].action = Arc::new(Reversible("first"));
    h.plan.steps[1].action = Arc::new(Reversible("second"));
    h.execute(
        &FakeReach::new(Duration::ZERO),
        Arc::default(),
        true,
        &Done::default(),
    );
    let undo = FakeReach::new(Duration::ZERO);
    assert_eq!(h.undo(&undo, None), Exit::Success);
    assert_eq!(
        undo.ran("undo "),
        ["n1", "n1"],
        "{:?}",
        undo.seen(|s| s.calls.clone())
    );
    let order: Vec<String> = undo.seen(|s| {
        s.calls
            .iter()
            .filter(|(_, c)| c.starts_with("undo "))
            .map(|(_, c)| c.clone())
            .collect()
    });
    assert_eq!(order, ["undo second", "undo first"]);
    let statuses: Vec<StepStatus> = h
        .observer
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::StepEnd { status, .. } => Some(status),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [
            StepStatus::Completed,
            StepStatus::Completed,
            StepStatus::Undone,
            StepStatus::Undone
        ]
    );
}

/// [`Reversible`], except that its guard rail refuses `n2` before anything changes.
struct RefusesN2;

impl Action for RefusesN2 {
    fn kind(&self) -> &'static str {
        "test.refuses_n2"
    }

    fn plan(&self, target: &str) -> String {
        Reversible("guarded").plan(target)
    }

    fn snapshot(&self, cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        Reversible("guarded").snapshot(cx)
    }

    fn apply(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<Applied, ActionFailure> {
        if cx.shell()?.name() == "n2" {
            return Err(ActionFailure::refused("refused: guard rail"));
        }
        Reversible("guarded").apply(cx, snapshot)
    }

    fn verify(&self, _cx: &mut dyn Context, _snapshot: &Value) -> Result<(), ActionFailure> {
        Ok(())
    }

    fn inverse(&self, snapshot: &Value) -> Option<Box<dyn Action>> {
        Reversible("guarded").inverse(snapshot)
    }
}

#[test]
fn undo_leaves_alone_a_target_the_step_was_refused_on_before_it_changed_anything() {
    let mut h = Harness::new(
        r#"
[[steps]]
id = "guarded"
action = "ssh.exec"
targets = "cluster=lab,n[1-3]"
on_failure = "continue"
[steps.with]
command = "placeholder"
"#,
    );
    h.plan.steps[0].action = Arc::new(RefusesN2);
    let reach = FakeReach::failing(&["n3"]);
    assert_eq!(
        h.execute(&reach, Arc::default(), true, &Done::default())
            .exit,
        Exit::TargetsFailed
    );
    // n2 was refused before any change (its snapshot is journaled all the same); n3's apply
    // ran and failed, so it may have changed something.
    let undo = FakeReach::new(Duration::ZERO);
    assert_eq!(h.undo(&undo, None), Exit::Success);
    let mut undone = undo.ran("undo guarded");
    undone.sort();
    assert_eq!(undone, ["n1", "n3"], "undo acted where nothing had changed");
    let notices = h.observer.notices();
    assert!(
        notices
            .iter()
            .any(|n| n.contains("1 target(s) have nothing to undo: the step was refused")),
        "{notices:?}"
    );
}
