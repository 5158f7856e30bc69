//! `nodes.quiesce` and `nodes.unquiesce`: stop, and later start again, the kubelet (and with
//! `stop_runtime` the container runtime) on the targets. A quiesced node stops watching and
//! updating through the API server, which is the reversible way to shed API load without
//! deleting machines.
//!
//! Both directions are one type, [`NodeServices`], so each is the other's inverse. The snapshot
//! records which services were active, and the inverse touches only those: undoing a quiesce
//! must not start a kubelet that was already stopped before the run (someone stopped it for a
//! reason). With `stop_commands`/`start_commands` overridden, breakglass cannot know which
//! services the commands touch, so the snapshot says the state is unknown and the inverse runs
//! the other list in full.
//!
//! A run killed after the snapshot was journaled but before the target's result was (say, in
//! the middle of `systemctl stop kubelet`) is resumed with a fresh snapshot, which `undo` then
//! uses; that snapshot would see the kubelet already stopped and undo would leave it stopped.
//! So `apply` first records the states it started from on the node
//! (`/var/lib/breakglass/RUN/STEP/services`, else under `/run/breakglass`), and a later
//! snapshot of the same run and step reports those instead of the current ones.
//!
//! The node-side shell is `record.sh` and `states.sh` in this folder, with quoted inputs put in
//! front (`super::script`); the stop and start commands are sent as they are.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::args::NodesQuiesce;
use super::contract::{Action, ActionFailure, Applied, Context, Node};
use super::script::Inputs;
use crate::transport::ssh::Outcome;

/// The kubelet's systemd unit (the default commands' first service).
const KUBELET: &str = "kubelet";
/// The container runtime's unit, touched only with `stop_runtime`.
const RUNTIME: &str = "containerd";
/// Records the states an attempt starts from, in `/var/lib/breakglass/RUN/STEP/services` or
/// else under `/run/breakglass` (`record.sh`: inputs, output).
const RECORD: &str = include_str!("record.sh");
/// Reads the services' states, or an earlier attempt's record of them (`states.sh`).
const STATES: &str = include_str!("states.sh");

/// Which way the services go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `nodes.quiesce`: run the stop commands.
    Stop,
    /// `nodes.unquiesce`: run the start commands.
    Start,
}

impl Direction {
    fn verb(self) -> &'static str {
        match self {
            Direction::Stop => "stop",
            Direction::Start => "start",
        }
    }

    fn past(self) -> &'static str {
        match self {
            Direction::Stop => "stopped",
            Direction::Start => "started",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Direction::Stop => "nodes.quiesce",
            Direction::Start => "nodes.unquiesce",
        }
    }

    fn opposite(self) -> Direction {
        match self {
            Direction::Stop => Direction::Start,
            Direction::Start => Direction::Stop,
        }
    }
}

/// `nodes.quiesce` or `nodes.unquiesce` bound to its arguments.
#[derive(Debug, Clone)]
pub struct NodeServices {
    args: NodesQuiesce,
    direction: Direction,
    /// Set only on inverses built from a snapshot: the services to act on (default commands),
    /// or, with overridden commands, whether to run them at all (empty: nothing to restore).
    /// `None`: everything the commands touch.
    only: Option<Vec<String>>,
    /// `(run id, step id)`: names the on-node record of the states an attempt started from.
    run: (String, String),
}

/// Service states as read on the node: (unit, active, state text) per unit, and the record
/// they came from when an earlier attempt of the same run and step left one.
struct States {
    units: Vec<(String, bool, String)>,
    earlier: Option<String>,
}

impl NodeServices {
    pub fn quiesce(args: NodesQuiesce, run_id: &str, step_id: &str) -> NodeServices {
        NodeServices {
            args,
            direction: Direction::Stop,
            only: None,
            run: (run_id.to_owned(), step_id.to_owned()),
        }
    }

    pub fn unquiesce(args: NodesQuiesce, run_id: &str, step_id: &str) -> NodeServices {
        NodeServices {
            args,
            direction: Direction::Start,
            only: None,
            run: (run_id.to_owned(), step_id.to_owned()),
        }
    }

    /// The scripts' inputs `run` and `step`: they name the on-node record.
    fn record_inputs(&self) -> Result<Inputs, ActionFailure> {
        let mut inputs = Inputs::new();
        inputs.var("run", &self.run.0)?.var("step", &self.run.1)?;
        Ok(inputs)
    }

    /// Records the snapshot's states on the node before anything changes, unless an earlier
    /// attempt already did (its record holds the states from before the run).
    fn record(&self, node: &mut dyn Node, snapshot: &Value) -> Result<(), ActionFailure> {
        let mut lines = String::new();
        for unit in self.units() {
            let Some(active) = snapshot["services"][unit]["active"].as_bool() else {
                return Err(ActionFailure::refused(format!(
                    "the snapshot has no state for {unit}"
                )));
            };
            let state = snapshot["services"][unit]["state"]
                .as_str()
                .filter(|s| {
                    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
                .unwrap_or("unknown");
            let _ = writeln!(lines, "{unit} {} {state}", if active { 0 } else { 3 });
        }
        let script = self.record_inputs()?.then(&[RECORD]);
        let r = node.run(&script, Some(lines.as_bytes()));
        if r.outcome == Outcome::Ok {
            Ok(())
        } else {
            Err(ActionFailure::from_result(
                "recording the service states before changing them",
                &r,
            ))
        }
    }

    /// Whether this direction's commands were overridden by the runbook.
    fn custom(&self) -> bool {
        match self.direction {
            Direction::Stop => self.args.stop_commands.is_some(),
            Direction::Start => self.args.start_commands.is_some(),
        }
    }

    /// Every service the default commands touch, in the order this direction acts on them:
    /// the kubelet stops before the runtime and starts after it (a kubelet without a runtime
    /// only logs errors and retries).
    fn units(&self) -> Vec<&'static str> {
        let mut units = vec![KUBELET];
        if self.args.stop_runtime {
            units.push(RUNTIME);
        }
        if self.direction == Direction::Start {
            units.reverse();
        }
        units
    }

    /// The services this action acts on (default commands only).
    fn target_units(&self) -> Vec<&'static str> {
        self.units()
            .into_iter()
            .filter(|u| self.only.as_ref().is_none_or(|o| o.iter().any(|x| x == u)))
            .collect()
    }

    /// The commands `apply` runs, in order.
    fn commands(&self) -> Vec<String> {
        if self.custom() {
            if self.only.as_ref().is_some_and(Vec::is_empty) {
                return Vec::new();
            }
            return match self.direction {
                Direction::Stop => self.args.stop_commands(),
                Direction::Start => self.args.start_commands(),
            };
        }
        self.target_units()
            .into_iter()
            .map(|u| format!("systemctl {} {u}", self.direction.verb()))
            .collect()
    }

    /// Why there is nothing to do (an inverse whose snapshot found nothing to restore).
    fn nothing_to_do(&self) -> String {
        let state = match self.direction {
            Direction::Start => "active",
            Direction::Stop => "inactive",
        };
        format!(
            "nothing to {}: no service was {state} before {}",
            self.direction.verb(),
            self.direction.opposite().kind()
        )
    }

    /// `systemctl is-active` for every default unit; with `earlier`, an earlier attempt's
    /// record of the states it started from takes precedence.
    fn service_states(&self, node: &mut dyn Node, earlier: bool) -> Result<States, ActionFailure> {
        let units = self.units();
        let mut inputs = self.record_inputs()?;
        inputs
            .var("earlier", if earlier { "yes" } else { "" })?
            .args(units.iter().copied())?;
        let script = inputs.then(&[STATES]);
        let r = node.run(&script, None);
        if r.outcome != Outcome::Ok {
            return Err(ActionFailure::from_result("reading service states", &r));
        }
        parse_states(&String::from_utf8_lossy(&r.stdout.bytes), &units)
    }
}

/// `states.sh`'s answer: an optional `earlier RECORD` line, then `UNIT RC STATE` per unit; every
/// one of `units` must be there. The node's answer is untrusted: anything else is refused.
fn parse_states(text: &str, units: &[&str]) -> Result<States, ActionFailure> {
    let mut lines = text.lines().peekable();
    let earlier = lines
        .next_if(|l| l.starts_with("earlier "))
        .map(|l| l["earlier ".len()..].to_owned());
    let mut states = Vec::new();
    for line in lines {
        let mut fields = line.split_whitespace();
        if let (Some(unit), Some(rc), state) = (fields.next(), fields.next(), fields.next()) {
            states.push((
                unit.to_owned(),
                rc == "0",
                state.unwrap_or("unknown").to_owned(),
            ));
        }
    }
    let complete =
        states.len() == units.len() && units.iter().all(|u| states.iter().any(|(s, _, _)| s == u));
    if !complete {
        return Err(ActionFailure::refused(format!(
            "reading service states: unexpected output {:?}",
            text.trim()
        )));
    }
    Ok(States {
        units: states,
        earlier,
    })
}

impl Action for NodeServices {
    fn kind(&self) -> &'static str {
        self.direction.kind()
    }

    fn plan(&self, _target: &str) -> String {
        let commands = self.commands();
        if commands.is_empty() {
            return self.nothing_to_do();
        }
        if self.custom() {
            return format!(
                "run {} commands: {}",
                self.direction.verb(),
                commands
                    .iter()
                    .map(|c| format!("`{}`", c.trim().replace('\n', "\\n")))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        format!(
            "{} {} ({})",
            self.direction.verb(),
            self.target_units().join(", "),
            commands.join("; ")
        )
    }

    fn snapshot(&self, cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        let node = cx.shell()?;
        if self.custom() {
            return Ok(json!({
                "known": false,
                "why": format!(
                    "{}_commands are overridden: which services they touch is unknown, so undo runs every {} command",
                    self.direction.verb(),
                    self.direction.opposite().verb()
                ),
            }));
        }
        let states = self.service_states(node, true)?;
        let mut services = serde_json::Map::new();
        for (unit, active, state) in states.units {
            services.insert(unit, json!({ "active": active, "state": state }));
        }
        let mut snapshot = json!({ "known": true, "services": services });
        if let Some(path) = states.earlier {
            snapshot["earlier_attempt"] = Value::String(path);
        }
        Ok(snapshot)
    }

    fn apply(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<Applied, ActionFailure> {
        let node = cx.shell()?;
        let commands = self.commands();
        if commands.is_empty() {
            return Ok(Applied {
                summary: self.nothing_to_do(),
                detail: json!({ "commands": [] }),
            });
        }
        // Inverses (`only` set) run from `undo` without a snapshot of their own: nothing to keep.
        let known = snapshot.get("known") == Some(&Value::Bool(true));
        if known && self.only.is_none() && snapshot.get("earlier_attempt").is_none() {
            self.record(node, snapshot)?;
        }
        for (i, command) in commands.iter().enumerate() {
            let r = node.run(command, None);
            if r.outcome != Outcome::Ok {
                let mut failure = ActionFailure::from_result(&format!("`{command}`"), &r);
                // An earlier command already changed the node.
                failure.never_ran &= i == 0;
                return Err(failure);
            }
        }
        let summary = if self.custom() {
            format!(
                "ran {} {} command(s)",
                commands.len(),
                self.direction.verb()
            )
        } else {
            format!(
                "{} {}",
                self.direction.past(),
                self.target_units().join(", ")
            )
        };
        Ok(Applied {
            summary,
            detail: json!({ "commands": commands }),
        })
    }

    fn verify(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<(), ActionFailure> {
        let node = cx.shell()?;
        // Overridden commands may touch anything: that they exited 0 is all we can check.
        if self.custom() || self.commands().is_empty() {
            return Ok(());
        }
        let wanted = self.target_units();
        let wrong: Vec<String> = self
            .service_states(node, false)?
            .units
            .into_iter()
            .filter(|(unit, active, _)| {
                wanted.contains(&unit.as_str()) && *active != (self.direction == Direction::Start)
            })
            .map(|(unit, _, state)| format!("{unit} is {state}"))
            .collect();
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(ActionFailure::failed(format!(
                "after `{}`: {}",
                self.commands().join("; "),
                wrong.join(", ")
            )))
        }
    }

    fn inverse(&self, snapshot: &Value) -> Option<Box<dyn Action>> {
        let direction = self.direction.opposite();
        // Undo restores the state before this action: a quiesce restarts what was active, an
        // unquiesce stops what was inactive. An unknown state restores everything.
        let only = (snapshot.get("known") == Some(&Value::Bool(true))).then(|| {
            let restore_active = self.direction == Direction::Stop;
            self.units()
                .into_iter()
                .filter(|u| snapshot["services"][*u]["active"].as_bool() == Some(restore_active))
                .map(str::to_owned)
                .collect()
        });
        Some(Box::new(NodeServices {
            args: self.args.clone(),
            direction,
            only,
            run: self.run.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::ssh::{Captured, ExecResult};
    use std::time::Duration;

    /// A node whose services are a map; it understands the scripts this module sends.
    struct FakeNode {
        active: Vec<(String, bool)>,
        ran: Vec<String>,
        fail: Option<String>,
        /// The on-node record of the states an attempt started from.
        record: Option<String>,
    }

    impl FakeNode {
        fn new(active: &[(&str, bool)]) -> FakeNode {
            FakeNode {
                active: active.iter().map(|(u, a)| ((*u).to_owned(), *a)).collect(),
                ran: Vec::new(),
                fail: None,
                record: None,
            }
        }

        fn is_active(&self, unit: &str) -> bool {
            self.active.iter().any(|(u, a)| u == unit && *a)
        }
    }

    fn result(status: i32, stdout: &str, stderr: &str) -> ExecResult {
        ExecResult {
            outcome: if status == 0 {
                Outcome::Ok
            } else {
                Outcome::Exit {
                    status,
                    signal: None,
                }
            },
            stdout: Captured {
                bytes: stdout.as_bytes().to_vec(),
                total: stdout.len() as u64,
            },
            stderr: Captured {
                bytes: stderr.as_bytes().to_vec(),
                total: stderr.len() as u64,
            },
            connect: Some(Duration::ZERO),
            total: Duration::ZERO,
            recorded_host_key: None,
        }
    }

    impl Node for FakeNode {
        fn name(&self) -> &'static str {
            "fake"
        }

        fn address(&self) -> String {
            "192.0.2.1:22".into()
        }

        fn run(&mut self, script: &str, stdin: Option<&[u8]>) -> ExecResult {
            self.ran.push(script.to_owned());
            if self.fail.as_deref() == Some(script) {
                return result(5, "", "Failed to stop kubelet.service: Access denied");
            }
            if let Some(inputs) = script.strip_suffix(RECORD) {
                assert_eq!(inputs, "run=run-1\nstep=quiesce-step\n");
                if self.record.is_none() {
                    let text = String::from_utf8(stdin.expect("stdin").to_vec()).expect("utf8");
                    self.record = Some(text);
                }
                return result(0, "", "");
            }
            if let Some(inputs) = script.strip_suffix(STATES) {
                let (vars, units) = inputs.split_once("set -- ").expect("units");
                assert!(vars.starts_with("run=run-1\nstep=quiesce-step\n"), "{vars}");
                let earlier = vars.contains("\nearlier=yes\n");
                if let Some(record) = self.record.as_ref().filter(|_| earlier) {
                    return result(0, &format!("earlier /var/lib/x/services\n{record}"), "");
                }
                let units = shlex::split(units).expect("units");
                let mut out = String::new();
                for (unit, active) in &self.active {
                    if units.contains(unit) {
                        let (rc, s) = if *active {
                            (0, "active")
                        } else {
                            (3, "inactive")
                        };
                        let _ = writeln!(out, "{unit} {rc} {s}");
                    }
                }
                return result(0, &out, "");
            }
            if let Some(rest) = script.strip_prefix("systemctl ") {
                let (verb, unit) = rest.split_once(' ').expect("verb unit");
                for (u, a) in &mut self.active {
                    if u == unit {
                        *a = verb == "start";
                    }
                }
            }
            result(0, "", "")
        }
    }

    const RUN: &str = "run-1";
    const STEP: &str = "quiesce-step";

    fn runtime() -> NodesQuiesce {
        NodesQuiesce {
            stop_runtime: true,
            ..NodesQuiesce::default()
        }
    }

    #[test]
    fn default_commands_match_the_args_defaults() {
        for args in [NodesQuiesce::default(), runtime()] {
            assert_eq!(
                NodeServices::quiesce(args.clone(), RUN, STEP).commands(),
                args.stop_commands()
            );
            assert_eq!(
                NodeServices::unquiesce(args.clone(), RUN, STEP).commands(),
                args.start_commands()
            );
        }
        let q = NodeServices::quiesce(NodesQuiesce::default(), RUN, STEP);
        assert_eq!(q.plan("w1"), "stop kubelet (systemctl stop kubelet)");
        assert_eq!(q.kind(), "nodes.quiesce");
        assert_eq!(
            NodeServices::unquiesce(runtime(), RUN, STEP).plan("w1"),
            "start containerd, kubelet (systemctl start containerd; systemctl start kubelet)"
        );
    }

    #[test]
    fn quiesce_then_inverse_restarts_only_what_was_active() {
        let q = NodeServices::quiesce(runtime(), RUN, STEP);
        // The runtime was already down before the run: undo must leave it down.
        let mut node = FakeNode::new(&[("kubelet", true), ("containerd", false)]);
        let snap = q.snapshot(&mut node).expect("snapshot");
        assert_eq!(snap["known"], true);
        assert_eq!(snap["services"]["kubelet"]["active"], true);
        assert_eq!(snap["services"]["containerd"]["state"], "inactive");
        let applied = q.apply(&mut node, &snap).expect("apply");
        assert_eq!(applied.summary, "stopped kubelet, containerd");
        q.verify(&mut node, &snap).expect("verify");
        assert!(!node.is_active("kubelet"));

        let undo = q.inverse(&snap).expect("inverse");
        assert_eq!(undo.kind(), "nodes.unquiesce");
        assert_eq!(undo.plan("w1"), "start kubelet (systemctl start kubelet)");
        node.ran.clear();
        undo.apply(&mut node, &Value::Null).expect("undo");
        undo.verify(&mut node, &Value::Null).expect("undo verify");
        assert_eq!(node.ran[0], "systemctl start kubelet");
        assert!(node.is_active("kubelet") && !node.is_active("containerd"));
    }

    #[test]
    fn inverse_of_a_quiesce_of_a_stopped_node_does_nothing() {
        let q = NodeServices::quiesce(NodesQuiesce::default(), RUN, STEP);
        let mut node = FakeNode::new(&[("kubelet", false)]);
        let snap = q.snapshot(&mut node).expect("snapshot");
        let undo = q.inverse(&snap).expect("inverse");
        assert_eq!(
            undo.plan("w1"),
            "nothing to start: no service was active before nodes.quiesce"
        );
        node.ran.clear();
        let applied = undo.apply(&mut node, &Value::Null).expect("undo");
        assert!(applied.summary.starts_with("nothing to start"));
        assert!(node.ran.is_empty());
    }

    #[test]
    fn unquiesce_inverse_stops_only_what_it_started() {
        let u = NodeServices::unquiesce(runtime(), RUN, STEP);
        let mut node = FakeNode::new(&[("kubelet", false), ("containerd", true)]);
        let snap = u.snapshot(&mut node).expect("snapshot");
        u.apply(&mut node, &snap).expect("apply");
        u.verify(&mut node, &snap).expect("verify");
        let undo = u.inverse(&snap).expect("inverse");
        assert_eq!(undo.plan("w1"), "stop kubelet (systemctl stop kubelet)");
    }

    #[test]
    fn custom_commands_record_unknown_state_and_undo_runs_every_start_command() {
        let args = NodesQuiesce {
            stop_runtime: false,
            stop_commands: Some(vec!["rc-service kubelet stop".into()]),
            start_commands: Some(vec!["rc-service kubelet start".into()]),
        };
        let q = NodeServices::quiesce(args, RUN, STEP);
        let mut node = FakeNode::new(&[]);
        let snap = q.snapshot(&mut node).expect("snapshot");
        assert_eq!(snap["known"], false);
        assert!(
            node.ran.is_empty(),
            "snapshot ran something: {:?}",
            node.ran
        );
        assert_eq!(q.plan("w1"), "run stop commands: `rc-service kubelet stop`");
        q.apply(&mut node, &snap).expect("apply");
        q.verify(&mut node, &snap).expect("verify");
        let undo = q.inverse(&snap).expect("inverse");
        assert_eq!(
            undo.plan("w1"),
            "run start commands: `rc-service kubelet start`"
        );
    }

    #[test]
    fn a_resumed_attempt_snapshots_the_states_from_before_the_run() {
        let q = NodeServices::quiesce(NodesQuiesce::default(), RUN, STEP);
        let mut node = FakeNode::new(&[("kubelet", true)]);
        let first = q.snapshot(&mut node).expect("snapshot");
        assert!(first.get("earlier_attempt").is_none());
        // The first attempt records, stops the kubelet, and is killed before its result is
        // journaled; the resumed attempt snapshots again.
        q.apply(&mut node, &first).expect("apply");
        assert_eq!(node.record.as_deref(), Some("kubelet 0 active\n"));
        assert!(!node.is_active("kubelet"));
        let second = q.snapshot(&mut node).expect("snapshot");
        assert_eq!(second["services"]["kubelet"]["active"], true, "{second}");
        assert_eq!(second["earlier_attempt"], "/var/lib/x/services");
        node.ran.clear();
        q.apply(&mut node, &second).expect("apply again");
        assert!(
            !node.ran.iter().any(|s| s.contains(".services.tmp")),
            "re-recorded"
        );
        let undo = q.inverse(&second).expect("inverse");
        assert_eq!(undo.plan("w1"), "start kubelet (systemctl start kubelet)");
        node.ran.clear();
        undo.apply(&mut node, &Value::Null).expect("undo");
        assert_eq!(
            node.ran,
            ["systemctl start kubelet"],
            "undo recorded or did more"
        );
        assert!(node.is_active("kubelet"));
    }

    #[test]
    fn a_failing_command_names_itself_and_its_stderr() {
        let q = NodeServices::quiesce(runtime(), RUN, STEP);
        let mut node = FakeNode::new(&[("kubelet", true), ("containerd", true)]);
        node.fail = Some("systemctl stop containerd".into());
        let err = q.apply(&mut node, &Value::Null).expect_err("fails");
        assert!(err.message.contains("`systemctl stop containerd`"), "{err}");
        assert!(err.message.contains("Access denied"), "{err}");
        assert!(!err.never_ran, "the kubelet was already stopped");
    }

    #[test]
    fn the_scripts_record_and_read_under_both_roots_and_parse() {
        for script in [RECORD, STATES] {
            assert!(
                script.contains("for root in /var/lib/breakglass /run/breakglass; do"),
                "{script}"
            );
        }
        let q = NodeServices::quiesce(runtime(), "run 1", "it's");
        let script = q
            .record_inputs()
            .expect("inputs")
            .var("earlier", "yes")
            .expect("var")
            .args(q.units())
            .expect("args")
            .then(&[STATES]);
        assert!(
            script.starts_with(
                "run='run 1'\nstep=\"it's\"\nearlier=yes\nset -- kubelet containerd\n"
            ),
            "{script}"
        );
        let out = std::process::Command::new("sh")
            .args(["-n", "-c", &script])
            .output()
            .expect("sh");
        assert!(out.status.success(), "{out:?}");
    }

    proptest::proptest! {
        #![proptest_config(crate::proptests::config())]

        /// Issue #11 point 6: a node's answer about its services never panics the parser.
        #[test]
        fn service_state_answers_never_panic(
            text in "(earlier [ -~]{0,20}\n)?(([a-z.]{0,10}|\\PC{0,6}) [0-9]{0,2} ?[a-z]{0,8}\n){0,5}",
        ) {
            let _ = parse_states(&text, &["kubelet.service", "containerd.service"]);
            let _ = parse_states(&text, &[]);
        }
    }
}
