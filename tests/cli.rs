//! The command-line surface: help, version, usage errors.

use crate::support::Scratch;

#[test]
fn help_lists_only_working_verbs() {
    let s = Scratch::new();
    let out = s.bg().arg("--help").run().ok();
    for verb in ["exec", "inventory", "journal", "completions"] {
        assert!(
            out.stdout.contains(verb),
            "{verb} missing from help:\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("Exit codes"));
}

#[test]
fn version_names_the_commit() {
    let s = Scratch::new();
    let out = s.bg().arg("--version").run().ok();
    assert!(out.stdout.starts_with("breakglass 0."), "{}", out.stdout);
    assert!(out.stdout.contains("(commit "), "{}", out.stdout);
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

#[test]
fn completions_print_for_every_shell() {
    let s = Scratch::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = s.bg().args(["completions", shell]).run().ok();
        assert!(out.stdout.contains("breakglass"), "{shell}");
    }
}
