//! Runbooks end to end against real sshd: plan, waves, failure budget, resume, confirmation,
//! and hostile parameter values reaching the remote side as one literal argument.

use std::time::{Duration, Instant};

use breakglass::engine::Event;

use crate::support::events;
use crate::support::fleet::Fleet;

const RUNBOOK: &str = r#"
name = "smoke"
summary = "exercise the engine"

[params.cluster]
type = "string"
default = "lab"
help = "cluster name"

[params.msg]
type = "string"
default = "hello"
help = "printed by every host"

[params.marker]
type = "string"
default = "/nonexistent"
help = "a file whose presence makes node003 fail"

[[steps]]
id = "say"
action = "ssh.exec"
targets = "all"
waves = [1, "50%", "100%"]
confirm = true
[steps.with]
command = "printf '%s\n' ${msg}"
idempotent = true

[[steps]]
id = "flaky"
action = "ssh.exec"
targets = "all"
waves = [1, "100%"]
[steps.with]
command = "case \"$SSH_CONNECTION\" in *' 127.41.0.3 '*) test -e ${marker} && exit 1;; esac; echo fine"
idempotent = true
"#;

#[test]
fn plan_shows_steps_waves_and_changes_without_running() {
    let f = Fleet::new(40, 4);
    let rb = f.scratch.write("smoke.toml", RUNBOOK);
    let out = f.bg().arg("plan").arg(&rb).run().ok();
    assert!(
        out.stdout
            .contains("1. say [ssh.exec]  (asks for confirmation)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("wave 1 (canary): node001"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("wave 2: node002"), "{}", out.stdout);
    assert!(
        out.stdout.contains("wave 3: node[003-004]"),
        "{}",
        out.stdout
    );
    assert!(
        !f.scratch.journal_dir().exists()
            || std::fs::read_dir(f.scratch.journal_dir())
                .expect("dir")
                .count()
                == 0,
        "plan wrote a journal"
    );
}

#[test]
fn waves_run_canary_first_and_a_blown_budget_stops_then_resume_finishes() {
    let f = Fleet::new(41, 4);
    let rb = f.scratch.write("smoke.toml", RUNBOOK);
    let marker = f.scratch.write("marker", "");
    let out = f
        .bg()
        .args(["--output", "json", "run"])
        .arg(&rb)
        .args(["--yes", "-p"])
        .arg(format!("marker={}", marker.display()))
        .run()
        .code(3);
    let ev = events(&out.stdout);
    let waves: Vec<(String, usize, Vec<String>)> = ev
        .iter()
        .filter_map(|e| match e {
            Event::WaveBegin {
                step,
                wave,
                targets,
                ..
            } => Some((step.clone(), *wave, targets.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(waves[0], ("say".into(), 1, vec!["node001".into()]));
    assert_eq!(waves[1].2, vec!["node002".to_owned()]);
    assert_eq!(waves[2].2, vec!["node003".to_owned(), "node004".to_owned()]);
    assert_eq!(waves[4].0, "flaky");
    let stopped = ev.iter().find_map(|e| match e {
        Event::Stopped { step, reason } => Some((step.clone(), reason.clone())),
        _ => None,
    });
    let (step, reason) = stopped.expect("a stopped event");
    assert_eq!(step, "flaky");
    assert!(reason.contains("1 of 3 targets failed"), "{reason}");
    let Some(Event::RunBegin(begin)) = ev.first() else {
        panic!("no run_begin")
    };

    // Fix the cause, then resume: finished targets are not run again.
    std::fs::remove_file(&marker).expect("rm marker");
    let out = f
        .bg()
        .args(["--output", "json", "resume", &begin.run_id, "--yes"])
        .run()
        .ok();
    let ev = events(&out.stdout);
    let rerun: Vec<String> = ev
        .iter()
        .filter_map(|e| match e {
            Event::TargetResult(r) => Some(format!(
                "{}:{}",
                r.step.clone().unwrap_or_default(),
                r.target
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        rerun,
        vec!["flaky:node003".to_owned()],
        "resume re-ran more than the failed target"
    );
    f.bg().args(["journal", "verify", &begin.run_id]).run().ok();

    // A journal that fails verification is refused by resume and undo (exit 4), untouched.
    let path = f
        .scratch
        .journal_dir()
        .join(&begin.run_id)
        .join("journal.jsonl");
    let mut bytes = std::fs::read(&path).expect("journal");
    let at = bytes
        .windows(7)
        .position(|w| w == b"node002")
        .expect("a target name")
        + 6;
    bytes[at] = b'9';
    std::fs::write(&path, &bytes).expect("write");
    for verb in ["resume", "undo"] {
        f.bg()
            .args([verb, &begin.run_id, "--yes"])
            .run()
            .code(4)
            .stderr_has("failed verification")
            .stderr_has("`resume` and `undo` refuse a journal they cannot trust");
    }
    assert_eq!(
        std::fs::read(&path).expect("journal"),
        bytes,
        "a refused journal was modified"
    );
}

#[test]
fn hostile_parameter_values_arrive_as_one_literal_argument() {
    let f = Fleet::new(42, 1);
    let rb = f.scratch.write("smoke.toml", RUNBOOK);
    let pwned = f.scratch.path().join("pwned");
    for hostile in [
        format!("; touch {}", pwned.display()),
        format!("$(touch {})", pwned.display()),
        format!("`touch {}`", pwned.display()),
        format!("' ; touch {} ; '", pwned.display()),
        format!("\" ; touch {} ; \"", pwned.display()),
        format!("a\nb; touch {}", pwned.display()),
        "--help".to_owned(),
    ] {
        let out = f
            .bg()
            .args(["--output", "json", "run"])
            .arg(&rb)
            .arg("--yes")
            .arg("-p")
            .arg(format!("msg={hostile}"))
            .run()
            .ok();
        let ev = events(&out.stdout);
        let said = ev
            .iter()
            .find_map(|e| match e {
                Event::TargetResult(r) if r.step.as_deref() == Some("say") => r.stdout.clone(),
                _ => None,
            })
            .expect("say result");
        assert_eq!(
            said,
            format!("{hostile}\n"),
            "the value was not passed literally"
        );
        assert!(!pwned.exists(), "{hostile:?} ran a command");
    }
}

#[test]
fn confirmation_must_type_the_cluster_name() {
    let f = Fleet::new(43, 2);
    let rb = f.scratch.write("smoke.toml", RUNBOOK);
    let out = f.bg().arg("run").arg(&rb).stdin("prod\n").run().code(3);
    assert!(
        out.stderr.contains("Type the cluster name (lab)"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("STOPPED at step say"), "{}", out.stdout);
    assert!(
        !out.stdout.contains("---- node"),
        "a step ran without confirmation:\n{}",
        out.stdout
    );
    let out = f.bg().arg("run").arg(&rb).stdin("lab\n").run().ok();
    assert!(
        out.stdout.contains("---- node[001-002] (2 hosts)") || out.stdout.contains("hello"),
        "{}",
        out.stdout
    );
    // The word to type is never empty, and always a cluster of the inventory: refused before
    // the plan is shown, nothing journaled.
    for (cluster, needle) in [
        ("", "parameter `cluster` is empty"),
        (
            "prod",
            "parameter `cluster` is `prod`, which is not a cluster of inventory",
        ),
    ] {
        f.bg()
            .args(["run", "--yes"])
            .arg(&rb)
            .args(["-p", &format!("cluster={cluster}")])
            .run()
            .code(2)
            .stderr_has(needle);
    }
}

const POLICY: &str = r#"
name = "policy"
summary = "pauses and gates"

[params.cluster]
type = "string"
default = "lab"
help = "cluster"

[[steps]]
id = "first"
action = "ssh.exec"
targets = "all"
waves = [1, "100%"]
[steps.with]
command = "true"
idempotent = true
[steps.gate]
action = "ssh.exec"
timeout = "3s"
[steps.gate.with]
command = "test -e /nonexistent/gate-file"

[[steps]]
id = "hold"
action = "pause"
[steps.with]
message = "look at the dashboards"
"#;

#[test]
fn a_failing_gate_stops_after_the_canary_wave() {
    let f = Fleet::new(44, 3);
    let rb = f.scratch.write("policy.toml", POLICY);
    let out = f
        .bg()
        .args(["--output", "json", "run"])
        .arg(&rb)
        .arg("--yes")
        .run();
    // The unskippable pause is refused up front under --yes: nothing runs.
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("pause"), "{}", out.stderr);
    assert!(
        out.stdout.lines().all(|l| !l.contains("target_result")),
        "{}",
        out.stdout
    );

    let out = f
        .bg()
        .args(["--output", "json", "run"])
        .arg(&rb)
        .stdin("continue\n")
        .run()
        .code(3);
    let ev = events(&out.stdout);
    let ran: Vec<String> = ev
        .iter()
        .filter_map(|e| match e {
            Event::TargetResult(r) => Some(r.target.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        ran,
        vec!["node001".to_owned()],
        "the gate did not stop the run after the canary"
    );
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::Gate { passed: false, .. })),
        "{}",
        out.stdout
    );
}

#[test]
fn exec_and_inventory_check_are_paced_by_rate_too() {
    let f = Fleet::new(49, 6);
    let out = f
        .bg()
        .args([
            "--output",
            "json",
            "exec",
            "all",
            "--rate",
            "2",
            "--",
            "date +%s.%N",
        ])
        .run()
        .ok();
    let starts: Vec<f64> = events(&out.stdout)
        .iter()
        .filter_map(|e| match e {
            Event::TargetResult(r) => r.stdout.as_deref()?.trim().parse().ok(),
            _ => None,
        })
        .collect();
    assert_eq!(starts.len(), 6, "{}", out.stdout);
    let spread = starts.iter().copied().fold(0.0, f64::max)
        - starts.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        spread >= 1.5,
        "6 exec sessions under --rate 2 within {spread:.3} s"
    );
    // `inventory check` logs in and runs nothing: six checks at 2 per second take 2.5 s at least.
    let started = Instant::now();
    f.bg()
        .args(["inventory", "check", "all", "--rate", "2"])
        .run()
        .ok();
    assert!(
        started.elapsed() >= Duration::from_millis(2500),
        "6 checks under --rate 2 in {:?}",
        started.elapsed()
    );
}

#[test]
fn the_global_rate_limit_spaces_out_connections() {
    // Each host prints when its command started; `--rate 2` allows 2 new SSH sessions per
    // second across the run (one per host here: `ssh.exec` snapshots nothing), so the 6
    // commands, all allowed to run at once by the concurrency, start spread over at least
    // (6 - 1) * 0.5 s. The bound leaves 1 s of slack for a slow handshake on a loaded machine.
    // That every session of a multi-call action waits too: actions::node's unit test.
    let f = Fleet::new(45, 6);
    let rb = f.scratch.write(
        "stamp.toml",
        r#"
name = "stamp"
summary = "print the start time on every host"

[[steps]]
id = "stamp"
action = "ssh.exec"
targets = "all"
concurrency = 6
[steps.with]
command = "date +%s.%N"
idempotent = true
"#,
    );
    let spread = |rate: &str| {
        let out = f
            .bg()
            .args(["--output", "json", "run"])
            .arg(&rb)
            .args(["--yes", "--rate", rate])
            .run()
            .ok();
        let starts: Vec<f64> = events(&out.stdout)
            .iter()
            .filter_map(|e| match e {
                Event::TargetResult(r) => r.stdout.as_deref()?.trim().parse().ok(),
                _ => None,
            })
            .collect();
        assert_eq!(starts.len(), 6, "{}", out.stdout);
        let first = starts.iter().copied().fold(f64::INFINITY, f64::min);
        let last = starts.iter().copied().fold(0.0, f64::max);
        last - first
    };
    let limited = spread("2");
    assert!(
        limited >= 1.5,
        "6 commands under --rate 2 started within {limited:.3} s"
    );
    // Unlimited, the same 6 start together; this only shows the spread above came from the
    // limit, so the bound is loose for a loaded machine.
    let unlimited = spread("0");
    assert!(
        unlimited < limited,
        "--rate 0 spread {unlimited:.3} s, --rate 2 spread {limited:.3} s"
    );
}

#[test]
fn runbook_list_show_and_validate_from_the_command_line() {
    let s = crate::support::Scratch::new();
    let list = s.bg().args(["runbook", "list"]).run().ok();
    let names: Vec<&str> = list
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        [
            "aks-apiserver-overload",
            "apiserver-overload",
            "eks-apiserver-overload",
            "fleet-triage",
            "gke-apiserver-overload",
            "restore-after-block",
            "workload-removal"
        ],
        "{}",
        list.stdout
    );

    let show = s
        .bg()
        .args(["runbook", "show", "apiserver-overload"])
        .run()
        .ok();
    for needle in [
        "cluster (cluster, required)",
        "allow_cidrs (cidr_list, required)",
        "block-admin-api",
        "unblock-admin-api",
    ] {
        assert!(show.stdout.contains(needle), "{needle}:\n{}", show.stdout);
    }
    s.bg()
        .args(["runbook", "show", "no-such-runbook"])
        .run()
        .code(2);

    // Every problem of a bad file, each at its line and column; a good one still checked.
    let bad = s.write(
        "bad.toml",
        "name = \"x\"\nsummary = \"s\"\nbogus = 1\n\n[[steps]]\nid = \"a\"\naction = \"ssh.exek\"\ntargets = \"all\"\n",
    );
    let out = s
        .bg()
        .args(["runbook", "validate"])
        .arg(&bad)
        .arg("fleet-triage")
        .run()
        .code(2);
    let path = bad.display().to_string();
    assert!(
        out.stdout
            .contains(&format!("{path}:3:1: unknown key `bogus`")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "{path}:7:10: step `a`: unknown action `ssh.exek` (did you mean `ssh.exec`?)"
        )),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("fleet-triage"), "{}", out.stdout);
    assert!(
        out.stderr.contains("1 of 2 runbook(s) invalid"),
        "{}",
        out.stderr
    );

    s.bg()
        .args(["runbook", "validate", "fleet-triage", "apiserver-overload"])
        .run()
        .ok();
}

#[test]
fn a_skippable_pause_is_passed_under_yes() {
    let f = Fleet::new(48, 1);
    let rb = f.scratch.write(
        "pause.toml",
        r#"
name = "pause"
summary = "a pause automation may pass"

[[steps]]
id = "wait-for-me"
action = "pause"
[steps.with]
message = "look at the dashboards"
skippable = true

[[steps]]
id = "after"
action = "ssh.exec"
targets = "all"
[steps.with]
command = "echo after-the-pause"
"#,
    );
    let out = f
        .bg()
        .args(["--output", "json", "run"])
        .arg(&rb)
        .arg("--yes")
        .run()
        .ok();
    let ev = events(&out.stdout);
    let ended: Vec<(String, String)> = ev
        .iter()
        .filter_map(|e| match e {
            Event::StepEnd { step, status, .. } => Some((step.clone(), status.label().to_owned())),
            _ => None,
        })
        .collect();
    assert_eq!(
        ended,
        [
            ("wait-for-me".to_owned(), "completed".to_owned()),
            ("after".to_owned(), "completed".to_owned())
        ],
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("after-the-pause"), "{}", out.stdout);
}

#[test]
fn a_dead_man_timer_out_of_bounds_is_refused_before_anything_runs() {
    // `8000y` used to pass validation and abort the process (exit 134) once the blocks were on
    // every target; `1ms` armed no timer at all. Both are now usage errors at plan time.
    let s = crate::support::Scratch::new();
    let inventory = s.write(
        "inventory.toml",
        "[[hosts]]\nname = \"cp1\"\naddress = \"127.0.0.1\"\nlabels = { role = \"control-plane\" }\n",
    );
    let rb = s.write(
        "block.toml",
        "name = \"block\"\nsummary = \"s\"\n\n[params.revert]\ntype = \"duration\"\ndefault = \"20m\"\nhelp = \"h\"\n\n[[steps]]\nid = \"fw\"\naction = \"firewall.block\"\ntargets = \"role=control-plane\"\nconfirm = false\n[steps.with]\nallow = [\"127.0.0.1\"]\nrevert_after = \"${revert}\"\n",
    );
    for (value, needle) in [
        ("8000y", "8000years is outside 1m to 1day"),
        ("1ms", "1ms is not a whole number of seconds"),
        ("30s", "30s is outside 1m to 1day"),
    ] {
        for verb in [&["plan"][..], &["run", "--yes"]] {
            s.bg_with(&inventory)
                .args(verb)
                .arg(&rb)
                .args(["-p", &format!("revert={value}")])
                .run()
                .code(2)
                .stderr_has(needle);
        }
    }
    assert!(
        !s.journal_dir().exists()
            || std::fs::read_dir(s.journal_dir())
                .expect("runs")
                .next()
                .is_none(),
        "a run was journaled"
    );
    s.bg_with(&inventory)
        .arg("plan")
        .arg(&rb)
        .run()
        .ok()
        .stdout_has("auto-revert in 20m unless confirmed");
}
