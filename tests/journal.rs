//! Journals written by real runs, and `journal verify` catching tampering.

use std::net::TcpListener;

use crate::support::Scratch;

/// A loopback port with nothing listening: connections are refused at once.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

fn run_unreachable(s: &Scratch) -> String {
    let port = closed_port();
    let inv = s.write(
        "fleet.toml",
        &format!("[defaults]\nport = {port}\n\n[[hosts]]\nname = \"n[1-3]\"\naddress = \"127.0.0.[1-3]\"\n"),
    );
    let out = s
        .bg()
        .arg("-i")
        .arg(&inv)
        .args(["--output", "json", "exec", "all", "--", "true"])
        .run()
        .code(1);
    let events = out.json_lines();
    let results: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "target_result")
        .collect();
    assert_eq!(results.len(), 3, "{}", out.stdout);
    assert!(
        results.iter().all(|r| r["outcome"] == "unreachable"),
        "{}",
        out.stdout
    );
    let begin = &events[0];
    assert_eq!(begin["type"], "run_begin");
    begin["run_id"].as_str().expect("run_id").to_owned()
}

#[test]
fn verify_accepts_a_real_run_and_rejects_an_edit_and_a_truncation() {
    let s = Scratch::new();
    let run = run_unreachable(&s);
    s.bg()
        .args(["journal", "verify", &run])
        .run()
        .ok()
        .stdout_has("hash chain intact");
    s.bg().args(["journal", "list"]).run().ok().stdout_has(&run);
    s.bg()
        .args(["journal", "show", &run])
        .run()
        .ok()
        .stdout_has("unreachable");

    let path = s.journal_dir().join(&run).join("journal.jsonl");
    let original = std::fs::read(&path).expect("journal");

    // One byte: "unreachable" -> "unreachablf" in the middle record.
    let mut edited = original.clone();
    let at = edited
        .windows(11)
        .position(|w| w == b"unreachable")
        .expect("outcome")
        + 10;
    edited[at] = b'f';
    std::fs::write(&path, &edited).expect("write");
    s.bg()
        .args(["journal", "verify", &run])
        .run()
        .code(4)
        .stderr_has("line");

    // Whole records cut off the tail.
    let lines: Vec<&[u8]> = original.split_inclusive(|b| *b == b'\n').collect();
    let truncated: Vec<u8> = lines[..lines.len() - 2].concat();
    std::fs::write(&path, &truncated).expect("write");
    s.bg()
        .args(["journal", "verify", &run])
        .run()
        .code(4)
        .stderr_has("truncated");

    // Two records swapped.
    let mut swapped: Vec<&[u8]> = lines.clone();
    swapped.swap(1, 2);
    std::fs::write(&path, swapped.concat()).expect("write");
    s.bg()
        .args(["journal", "verify", &run])
        .run()
        .code(4)
        .stderr_has("line 2: seq 2 follows seq 0: records missing or reordered");

    std::fs::write(&path, &original).expect("write");
    s.bg().args(["journal", "verify", &run]).run().ok();
}

#[test]
fn journal_holds_digests_not_output() {
    let s = Scratch::new();
    let run = run_unreachable(&s);
    let text =
        std::fs::read_to_string(s.journal_dir().join(&run).join("journal.jsonl")).expect("journal");
    assert!(text.contains("\"stdout_sha256\""));
    // The command line that ran, word for word.
    let begin: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("first record")).expect("json");
    let argv: Vec<&str> = begin["event"]["argv"]
        .as_array()
        .expect("argv")
        .iter()
        .map(|a| a.as_str().expect("word"))
        .collect();
    assert_eq!(argv.first(), Some(&crate::support::BIN), "{argv:?}");
    assert!(argv.ends_with(&["exec", "all", "--", "true"]), "{argv:?}");
    assert!(text.contains("\"operator\":\"tester@"));
    assert!(text.contains("inventory_digest"));
}

/// `resume`, `undo` and `confirm` of `run`: the verbs that act on the fleet from a journal.
fn act_on(s: &Scratch, run: &str) -> Vec<crate::support::Ran> {
    [
        &["resume", run][..],
        &["undo", run, "--yes"],
        &["confirm", run],
    ]
    .into_iter()
    .map(|verb| s.bg().args(verb).run())
    .collect()
}

#[test]
fn runs_others_could_write_or_sign_are_refused_and_verify_says_whose_key_signed() {
    use std::os::unix::fs::PermissionsExt;
    let chmod = |p: &std::path::Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    let s = Scratch::new();
    let run = run_unreachable(&s);
    s.bg()
        .args(["journal", "verify", &run])
        .run()
        .ok()
        .stdout_has("head signed by your key SHA256:");
    // The key was made on first use, private, outside the journal directory.
    let key = s.path().join("config/breakglass/journal-key.pk8");
    let mode = std::fs::metadata(&key)
        .expect("the key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // A run directory, or the journal directory, that others can write: refused by the verbs
    // that act on a run, with the path and the fix; `run`/`exec` warn before journaling there.
    let dir = s.journal_dir().join(&run);
    for path in [&dir, &s.journal_dir()] {
        chmod(path, 0o777);
        for out in act_on(&s, &run) {
            out.code(4)
                .stderr_has(&format!("refusing {}", path.display()))
                .stderr_has(&format!("chmod go-w {}", path.display()));
        }
        chmod(path, 0o700);
    }
    chmod(&s.journal_dir(), 0o775);
    let out = s
        .bg()
        .arg("-i")
        .arg(s.path().join("fleet.toml"))
        .args(["exec", "all", "--", "true"])
        .run()
        .code(1);
    assert!(
        out.stderr.contains("warning: journal directory") && out.stderr.contains("mode 0775"),
        "{}",
        out.stderr
    );
    chmod(&s.journal_dir(), 0o700);

    // Another operator (another key) journals a run into the same directory: it verifies as a
    // chain, but this operator's verify, resume, undo and confirm refuse it, naming the key.
    let mallory = |bg: crate::support::Bg| bg.env("XDG_CONFIG_HOME", s.path().join("mallory"));
    let out = mallory(s.bg())
        .arg("-i")
        .arg(s.path().join("fleet.toml"))
        .args(["--output", "json", "exec", "all", "--", "true"])
        .run()
        .code(1);
    let theirs = out.json_lines()[0]["run_id"]
        .as_str()
        .expect("run id")
        .to_owned();
    let verified = mallory(s.bg())
        .args(["--output", "json", "journal", "verify", &theirs])
        .run()
        .ok();
    let their_key = verified.json_lines()[0]["signer"]
        .as_str()
        .expect("signer")
        .to_owned();
    s.bg()
        .args(["journal", "verify", &theirs])
        .run()
        .code(4)
        .stderr_has("neither yours nor listed in");
    for out in act_on(&s, &theirs) {
        out.code(4)
            .stderr_has(&format!("run {theirs} cannot be trusted"));
    }
    // Trusted once listed.
    std::fs::write(
        s.path().join("config/breakglass/trusted-journal-keys"),
        format!("{their_key} mallory@bastion\n"),
    )
    .expect("trust");
    s.bg()
        .args(["journal", "verify", &theirs])
        .run()
        .ok()
        .stdout_has("signed by trusted key SHA256:")
        .stdout_has("(mallory@bastion)");

    // A deleted head is a failure, not an empty run.
    std::fs::remove_file(dir.join("head")).expect("rm head");
    s.bg()
        .args(["journal", "verify", &run])
        .run()
        .code(4)
        .stderr_has("the head file is missing");
}

/// Issue #11, point 17: a bad run id was 4 for `resume`, `undo` and `confirm` and 2 for
/// `journal show` and `verify`, each with its own message. One code (2) and one message now.
#[test]
fn a_bad_run_id_exits_2_from_every_verb() {
    let s = Scratch::new();
    for (run, message) in [
        ("../etc", "invalid run id \"../etc\""),
        (".hidden", "invalid run id \".hidden\""),
        ("nosuchrun", "no run nosuchrun under"),
    ] {
        for verb in [
            &["resume", run][..],
            &["undo", run, "--yes"],
            &["confirm", run],
            &["journal", "show", run],
            &["journal", "verify", run],
        ] {
            s.bg().args(verb).run().code(2).stderr_has(message);
        }
    }
}

/// Issue #11, point 17: `undo RUN --step typo` journaled an undo notice, then refused.
#[test]
fn a_mistyped_undo_step_is_refused_before_anything_is_journaled() {
    let s = Scratch::new();
    let port = closed_port();
    let inv = s.write(
        "fleet.toml",
        &format!(
            "[defaults]\nport = {port}\n\n[[hosts]]\nname = \"n1\"\naddress = \"127.0.0.1\"\n"
        ),
    );
    let rb = s.write(
        "rb.toml",
        "name = \"t\"\nsummary = \"t\"\n\n[[steps]]\nid = \"check\"\naction = \"ssh.exec\"\n\
         targets = \"all\"\n[steps.with]\ncommand = \"true\"\n",
    );
    let out = s
        .bg_with(&inv)
        .args(["--output", "json", "run", "--yes"])
        .arg(&rb)
        .run();
    let run = out.json_lines()[0]["run_id"]
        .as_str()
        .expect("run_id")
        .to_owned();
    let records = |s: &Scratch| {
        let out = s
            .bg()
            .args(["--output", "json", "journal", "show", &run])
            .run()
            .ok();
        out.stdout.lines().count()
    };
    let before = records(&s);
    s.bg_with(&inv)
        .args(["undo", &run, "--step", "chek", "--yes"])
        .run()
        .code(2)
        .stderr_has("has no step 'chek' (did you mean `check`?); its steps are: check");
    assert_eq!(records(&s), before, "undo journaled something");
}
