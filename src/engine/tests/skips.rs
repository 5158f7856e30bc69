//! Steps that do not run, or do not fail, where their targets cannot be had: a fallback for
//! an unreached step (`run_if_unreachable`), hosts never reached (`ignore_unreachable`), and
//! cloud steps the inventory names nothing for (`skip_if_none`).

use super::*;

/// A reach whose hosts are all unreachable (connection refused before anything ran).
struct Unreachable;

struct Refused;

impl Reach for Unreachable {
    fn shell(&self, _host: &Host, _timeout: Option<Duration>) -> Box<dyn Node + Send> {
        Box::new(Refused)
    }
}

impl Node for Refused {
    #[allow(clippy::unnecessary_literal_bound)] // the trait's real shells borrow their names
    fn name(&self) -> &str {
        "n"
    }

    fn address(&self) -> String {
        "127.0.0.1:22".into()
    }

    fn run(&mut self, _script: &str, _stdin: Option<&[u8]>) -> ExecResult {
        ExecResult {
            outcome: ssh::Outcome::Unreachable {
                reason: "connection refused".into(),
            },
            stdout: Captured::default(),
            stderr: Captured::default(),
            connect: None,
            total: Duration::ZERO,
            recorded_host_key: None,
        }
    }
}

const FALLBACK: &str = r#"
[[steps]]
id = "primary"
action = "ssh.exec"
targets = "cluster=lab,n1"
on_failure = "continue"
[steps.with]
command = "primary"

[[steps]]
id = "fallback"
action = "pause"
run_if_unreachable = "primary"
[steps.with]
message = "the fallback"
skippable = true
"#;

#[test]
fn a_fallback_runs_only_when_its_step_could_not_reach_its_targets_and_then_covers_it() {
    // Reached: the fallback is skipped.
    let h = Harness::new(FALLBACK);
    let out = h.execute(
        &FakeReach::new(Duration::ZERO),
        Arc::default(),
        true,
        &Done::default(),
    );
    assert_eq!(out.exit, Exit::Success);
    assert_eq!(h.observer.results(Mode::Apply).len(), 1, "the fallback ran");
    let skipped = h.observer.events().into_iter().any(|e| {
        matches!(e, Event::StepEnd { step, status: StepStatus::Skipped, .. } if step == "fallback")
    });
    assert!(skipped);

    // Reached, but it said no (exit 1): not a reason to fall back, and the run fails.
    let h = Harness::new(&FALLBACK.replace("command = \"primary\"", "command = \"primary FAIL\""));
    let out = h.execute(
        &FakeReach::new(Duration::ZERO),
        Arc::default(),
        true,
        &Done::default(),
    );
    assert_eq!(out.exit, Exit::TargetsFailed);
    assert_eq!(h.observer.results(Mode::Apply).len(), 1, "the fallback ran");

    // Unreachable: the fallback runs, and since it did the work the run succeeds.
    let h = Harness::new(FALLBACK);
    let out = execute_unreachable(&h);
    assert_eq!(
        h.observer.results(Mode::Apply),
        [
            ("primary".to_owned(), "n1".to_owned(), Outcome::Unreachable),
            ("fallback".to_owned(), "operator".to_owned(), Outcome::Ok),
        ]
    );
    assert_eq!(out.exit, Exit::Success);
    // A resumed run knows the first step could not reach its targets.
    assert!(h.history().done().unreachable_steps.contains("primary"));

    // Resumed after an attempt that could not reach it, the step now reaches its target: the
    // fallback is not run on the strength of the earlier attempt.
    let h = Harness::new(FALLBACK);
    let done = Done {
        unreachable_steps: ["primary".to_owned()].into_iter().collect(),
        ..Done::default()
    };
    let out = h.execute(&FakeReach::new(Duration::ZERO), Arc::default(), true, &done);
    assert_eq!(out.exit, Exit::Success);
    assert_eq!(h.observer.results(Mode::Apply).len(), 1, "the fallback ran");
}

const IGNORING: &str = r#"
[[steps]]
id = "after-shrink"
action = "ssh.exec"
targets = "cluster=lab,n[1-3]"
ignore_unreachable = true
[steps.with]
command = "true"
"#;

/// Runs the harness's plan with every host unreachable.
fn execute_unreachable(h: &Harness) -> RunOutcome {
    let settings = Arc::new(RunSettings {
        yes: true,
        concurrency: 3,
        reach: Arc::new(Unreachable),
        operator: Arc::new(Scripted::default()),
        retries: 0,
    });
    runtime()
        .block_on(execute(&h.run, &h.plan, &settings, &Done::default()))
        .expect("execute")
}

#[test]
fn hosts_never_reached_are_reported_but_not_failed_only_where_the_step_says_so() {
    let h = Harness::new(IGNORING);
    let out = execute_unreachable(&h);
    assert_eq!(out.exit, Exit::Success);
    // Each target's outcome is still what happened to it.
    let results = h.observer.results(Mode::Apply);
    assert_eq!(results.len(), 3);
    assert!(results.iter().all(|(_, _, o)| *o == Outcome::Unreachable));
    let events = h.observer.events();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::StepEnd { step, status: StepStatus::Completed, ok: 0, failed: 0 } if step == "after-shrink"
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        // Folded: a shrunk fleet leaves hundreds unreachable.
        Event::Notice { message } if message.contains("3 not reachable") && message.ends_with("(ignore_unreachable): n[1-3]")
    )));

    // Without the key, the same hosts blow the step's budget.
    let h = Harness::new(&IGNORING.replace("ignore_unreachable = true\n", ""));
    let out = execute_unreachable(&h);
    assert_eq!(out.exit, Exit::Policy);

    // A host that was reached and said no is a failure all the same.
    let h = Harness::new(&IGNORING.replace("command = \"true\"", "command = \"x FAIL\""));
    let out = h.execute(
        &FakeReach::new(Duration::ZERO),
        Arc::default(),
        true,
        &Done::default(),
    );
    assert_eq!(out.exit, Exit::Policy);
}

const SHRINK_THEN_EXEC: &str = r#"
[[steps]]
id = "shrink"
action = "nodes.scale"
skip_if_none = true
[steps.with]
to = 1

[[steps]]
id = "after"
action = "ssh.exec"
targets = "cluster=lab,n1"
[steps.with]
command = "true"
"#;

#[test]
fn a_cloud_step_the_inventory_names_nothing_for_is_skipped_in_order_only_when_it_says_so() {
    let h = Harness::new(SHRINK_THEN_EXEC);
    assert_eq!(h.plan.steps.len(), 1);
    assert_eq!(h.plan.skipped.len(), 1);
    assert!(
        h.plan.skipped[0].reason.contains("names no node groups"),
        "{:?}",
        h.plan.skipped
    );
    let out = h.execute(
        &FakeReach::new(Duration::ZERO),
        Arc::default(),
        true,
        &Done::default(),
    );
    assert_eq!(out.exit, Exit::Success);
    let ends: Vec<(String, StepStatus)> = h
        .observer
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::StepEnd { step, status, .. } => Some((step, status)),
            _ => None,
        })
        .collect();
    assert_eq!(
        ends,
        [
            ("shrink".to_owned(), StepStatus::Skipped),
            ("after".to_owned(), StepStatus::Completed)
        ]
    );
    let text = crate::output::plan::render(&h.plan);
    assert!(
        text.contains("shrink: nodes.scale: cluster 'lab'"),
        "{text}"
    );

    // Without `skip_if_none` the plan is refused, as before.
    let rb = Runbook::parse(
        &runbook(&SHRINK_THEN_EXEC.replace("skip_if_none = true\n", "")),
        "engine-test.toml",
    )
    .expect("runbook");
    let resolved = resolve(&rb, &bind(&rb, &[]).expect("params")).expect("resolve");
    let inventory = Inventory::from_str(INVENTORY, Path::new("/lab/inventory.toml"), Format::Toml)
        .expect("inventory");
    let Err(e) = plan::build(resolved, &inventory, "r", &[]) else {
        panic!("planned a nodes.scale step with no node groups");
    };
    assert!(e.to_string().contains("names no node groups"), "{e}");
}
