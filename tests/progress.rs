//! Progress bars: drawn on stderr when it is a terminal (a pseudo-terminal from `script`), one
//! per running step and wave for runbooks, and never when stderr is not a terminal, under
//! `--no-progress`, or with `--output json`.

use crate::support::fleet::Fleet;

/// What the bar template (`{pos}/{len} hosts`) draws for `n` targets.
fn bar(n: usize) -> String {
    format!("/{n} hosts")
}

#[test]
fn exec_draws_a_bar_only_on_a_terminal() {
    let f = Fleet::new(46, 3);
    // One host at a time for about a second each: the bar ticks every 200 ms meanwhile.
    let exec = |flags: &[&str]| {
        f.bg()
            .args(flags)
            .args(["exec", "all", "-f", "1", "--", "sleep 0.7; echo done"])
    };
    let out_file = f.scratch.path().join("stdout");

    let shown = exec(&[]).run_on_terminal(&out_file).ok();
    assert!(shown.stderr.contains(&bar(3)), "{:?}", shown.stderr);
    assert!(shown.stderr.contains("ok"), "{:?}", shown.stderr);
    // The bar stays on stderr: stdout is the folded output and the tally alone.
    assert!(!shown.stdout.contains(&bar(3)), "{}", shown.stdout);
    assert!(
        shown.stdout.contains("(3 hosts): ok\ndone\n"),
        "{}",
        shown.stdout
    );

    let piped = exec(&[]).run().ok();
    assert!(!piped.stderr.contains(&bar(3)), "{:?}", piped.stderr);

    let quiet = exec(&["--no-progress"]).run_on_terminal(&out_file).ok();
    assert!(!quiet.stderr.contains(&bar(3)), "{:?}", quiet.stderr);

    let json = exec(&["--output", "json"]).run_on_terminal(&out_file).ok();
    assert!(!json.stderr.contains(&bar(3)), "{:?}", json.stderr);
}

#[test]
fn a_runbook_draws_one_bar_per_step_and_wave() {
    let f = Fleet::new(47, 3);
    let rb = f.scratch.write(
        "two-steps.toml",
        r#"
name = "two-steps"
summary = "two slow steps in waves"

[[steps]]
id = "first"
action = "ssh.exec"
targets = "all"
waves = [1, "100%"]
concurrency = 1
[steps.with]
command = "sleep 0.7"

[[steps]]
id = "second"
action = "ssh.exec"
targets = "all"
concurrency = 1
[steps.with]
command = "sleep 0.7"
"#,
    );
    let out_file = f.scratch.path().join("stdout");
    let shown = f
        .bg()
        .arg("run")
        .arg(&rb)
        .arg("--yes")
        .run_on_terminal(&out_file)
        .ok();
    for (prefix, n) in [
        ("first wave 1/2 ", 1),
        ("first wave 2/2 ", 2),
        ("second wave 1/1 ", 3),
    ] {
        assert!(
            shown
                .stderr
                .lines()
                .any(|l| l.contains(prefix) && l.contains(&bar(n))),
            "no bar {prefix:?} for {n} hosts in {:?}",
            shown.stderr
        );
    }
    let piped = f.bg().arg("run").arg(&rb).arg("--yes").run().ok();
    assert!(!piped.stderr.contains(" hosts  "), "{:?}", piped.stderr);
}
