//! The command-line surface: help, version, usage errors.

use crate::support::Scratch;

/// The verbs `--help` lists, in order: each one works (tests elsewhere drive every one of them).
const VERBS: [&str; 14] = [
    "exec",
    "health",
    "plan",
    "run",
    "resume",
    "undo",
    "confirm",
    "runbook",
    "inventory",
    "journal",
    "lab",
    "drill",
    "completions",
    "help",
];

#[test]
fn help_lists_only_working_verbs() {
    let s = Scratch::new();
    let out = s.bg().arg("--help").run().ok();
    // The "Commands:" section: one verb per line, two spaces in, until the blank line.
    let listed: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(listed, VERBS, "\n{}", out.stdout);
    assert!(out.stdout.contains("Exit codes"));
    // Each verb's own help works.
    for verb in &VERBS[..VERBS.len() - 1] {
        s.bg().args([*verb, "--help"]).run().ok();
    }
}

#[test]
fn version_names_the_commit() {
    let s = Scratch::new();
    let out = s.bg().arg("--version").run().ok();
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git (the tests run in a checkout)");
    assert!(head.status.success(), "git rev-parse failed");
    let head = String::from_utf8(head.stdout).expect("utf-8");
    assert_eq!(
        out.stdout.trim(),
        format!(
            "breakglass {} (commit {})",
            env!("CARGO_PKG_VERSION"),
            head.trim()
        )
    );
}

#[test]
fn usage_errors_exit_2() {
    let s = Scratch::new();
    s.bg().arg("frobnicate").run().code(2);
    s.bg().args(["exec", "all"]).run().code(2);
    s.bg()
        .args(["exec", "all", "--", "true"])
        .run()
        .code(2)
        .stderr_has("no inventory");
}

/// Issue #11, point 10: `--rate 1e-300` was accepted (one session in 10^292 years).
#[test]
fn rate_below_one_session_a_minute_is_a_usage_error() {
    let s = Scratch::new();
    let inv = s.write(
        "fleet.toml",
        "[[hosts]]\nname = \"a\"\naddress = \"192.0.2.1\"\n",
    );
    for rate in ["1e-300", "0.001", "-1", "inf"] {
        s.bg_with(&inv)
            .args(["exec", &format!("--rate={rate}"), "all", "--", "true"])
            .run()
            .code(2)
            .stderr_has("--rate must be 0 (no limit) or at least 0.0167 (one session a minute)");
    }
}

#[test]
fn completions_print_for_every_shell() {
    let s = Scratch::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = s.bg().args(["completions", shell]).run().ok();
        assert!(out.stdout.contains("breakglass"), "{shell}");
    }
}
