//! `--sudo` for real: breakglass logs in to a lab node as a non-root user over SSH and the
//! node's real `sudo` runs the command as root, with the command's quoting intact, and fails
//! at once (not at the command deadline) when the user's sudo wants a password.
//!
//! The users exist only inside the node's mount namespace (`Lab::add_users`); the test also
//! checks that the host's own account files did not change.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use breakglass::engine::{Event, TargetResult};
use breakglass::lab::netns::{Lab, LabSpec, NodeUser, Sudo};

use crate::support::{Ran, Scratch, events};

const NODE: &str = "cp1";
/// Quoted for the remote shell, as an operator types it: every argument is a hostile literal
/// that a second round of shell parsing (sudo's `sh -c` done wrong) would split, run or unquote.
const HOSTILE: &str = r#"printf '<%s>\n' 'a b; echo pwned' "it's" '$(id -u)' '"q"' '`id`'"#;
const HOSTILE_OUT: &str = "<a b; echo pwned>\n<it's>\n<$(id -u)>\n<\"q\">\n<`id`>\n";

/// The host files the lab must never change, with their contents now.
fn host_accounts() -> Vec<(PathBuf, Option<Vec<u8>>)> {
    let mut paths: Vec<PathBuf> = ["passwd", "group", "shadow", "hosts", "sudoers"]
        .iter()
        .map(|f| PathBuf::from("/etc").join(f))
        .collect();
    paths.push(PathBuf::from("/etc/sudoers.d/breakglass-lab"));
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).ok();
            (p, bytes)
        })
        .collect()
}

struct Env {
    lab: Lab,
    scratch: Scratch,
}

impl Env {
    /// `exec cp1 [--sudo] -- COMMAND` logged in as `user`: the process and its one result.
    fn exec(&self, user: &str, sudo: bool, command: &str) -> (Ran, TargetResult) {
        // The lab inventory logs in as root; the same inventory with another `[defaults] user`.
        let root = std::fs::read_to_string(self.lab.inventory_path()).expect("lab inventory");
        let text = root.replacen("user = \"root\"", &format!("user = \"{user}\""), 1);
        assert_ne!(text, root, "the lab inventory sets no `user = \"root\"`");
        let inventory = self.scratch.write(&format!("inventory-{user}.toml"), &text);
        let mut bg = self
            .scratch
            .bg_with(inventory)
            .env("BREAKGLASS_NO_AGENT", "true")
            .args(["--output", "json", "exec", NODE, "--command-timeout", "30s"]);
        if sudo {
            bg = bg.arg("--sudo");
        }
        let ran = bg.args(["--", command]).run();
        let results: Vec<TargetResult> = events(&ran.stdout)
            .into_iter()
            .filter_map(|e| match e {
                Event::TargetResult(r) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(results.len(), 1, "{ran:?}");
        let result = results.into_iter().next().expect("one result");
        (ran, result)
    }

    /// Runs it and expects success with exactly `stdout` and nothing on stderr.
    #[track_caller]
    fn exec_ok(&self, user: &str, sudo: bool, command: &str, stdout: &str) {
        let (ran, r) = self.exec(user, sudo, command);
        let what = format!("{user} sudo={sudo} `{command}`: {r:?}\n{ran:?}");
        assert_eq!(ran.code, 0, "{what}");
        assert_eq!(r.outcome, "ok", "{what}");
        assert_eq!(r.stdout.as_deref(), Some(stdout), "{what}");
        assert_eq!(r.stderr.as_deref().unwrap_or(""), "", "{what}");
    }
}

#[test]
fn sudo_runs_as_root_for_a_non_root_login_and_fails_fast_without_a_password() {
    let before = host_accounts();
    let mut lab = Lab::build(&LabSpec {
        default_pods: false,
        start_kubelets: false,
        ..LabSpec::new(1, 0)
    })
    .expect("lab (needs root, ip, nft, sshd, openssl, python3)");
    lab.add_users(&[
        NodeUser::new("operator", Sudo::Passwordless),
        NodeUser::new("nopass", Sudo::WithPassword),
    ])
    .expect("add the lab users (needs sudo: .ci/install-deps)");
    // The users live in the node's mount namespace only.
    assert_eq!(host_accounts(), before, "the host's /etc changed");
    let operator = lab.user_uid("operator").expect("operator's uid");
    let nopass = lab.user_uid("nopass").expect("nopass's uid");
    assert!(operator != 0 && nopass != 0 && operator != nopass);
    let env = Env {
        lab,
        scratch: Scratch::new(),
    };

    // A real non-root login, then root through the node's sudo.
    let who = "id -u; id -un";
    env.exec_ok("operator", false, who, &format!("{operator}\noperator\n"));
    env.exec_ok("operator", true, who, "0\nroot\n");

    // The remote shell parses the command once, with or without sudo.
    let hostile = format!("{HOSTILE}; id -u");
    env.exec_ok(
        "operator",
        false,
        &hostile,
        &format!("{HOSTILE_OUT}{operator}\n"),
    );
    env.exec_ok("operator", true, &hostile, &format!("{HOSTILE_OUT}0\n"));

    // A login whose sudo needs a password: it logs in, and `--sudo` fails at once with sudo's
    // reason instead of waiting for a password nobody can type.
    env.exec_ok("nopass", false, "id -u", &format!("{nopass}\n"));
    let started = Instant::now();
    let (ran, r) = env.exec("nopass", true, "id -u");
    let took = started.elapsed();
    let what = format!("{r:?}\n{ran:?}");
    assert_eq!(ran.code, 1, "{what}");
    assert_eq!(r.outcome, "failed", "{what}");
    assert_eq!(r.exit_status, Some(1), "{what}");
    assert_eq!(r.stdout.as_deref().unwrap_or(""), "", "{what}");
    // Exactly sudo's `-n` refusal: without `-n`, sudo first complains that it has no terminal
    // to read the password from (and with one, it would wait for the password).
    assert_eq!(
        r.stderr.as_deref(),
        Some("sudo: a password is required\n"),
        "{what}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}: {what}");

    env.lab.teardown().expect("teardown");
    assert_eq!(host_accounts(), before, "the host's /etc changed");
}
