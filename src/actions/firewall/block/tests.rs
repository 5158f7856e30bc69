//! `firewall.block`: guard rails, apply, verify and undo against canned node answers.

use super::*;
use crate::actions::firewall::tests::{Canned, block, block_in, facts_output};
use serde_json::Value;

#[test]
fn guard_rails_refuse_before_any_change() {
    let a = block("ports = [6443, 22]\nallow = [\"10.9.9.9\"]");
    let mut node = Canned::answering(vec![facts_output("10.9.9.9 50000 10.0.0.10 22")]);
    let snap = a.snapshot(&mut node).expect("snapshot");
    let err = a.apply(&mut node, &snap).expect_err("refused");
    assert!(err.never_ran);
    assert!(
        err.message.contains("`ports` includes 22, the SSH port"),
        "{}",
        err.message
    );
    assert_eq!(node.sent.len(), 1, "only the snapshot ran");

    let a = block("allow = [\"192.0.2.0/24\"]");
    let mut node = Canned::answering(vec![facts_output("::ffff:10.9.9.9 50000 10.0.0.10 22")]);
    let snap = a.snapshot(&mut node).expect("snapshot");
    let err = a.apply(&mut node, &snap).expect_err("refused");
    assert!(
        err.message
            .contains("address as cp1 sees it, 10.9.9.9, is not in the allowlist"),
        "{}",
        err.message
    );

    let mut node = Canned::answering(vec![facts_output("")]);
    let snap = a.snapshot(&mut node).expect("snapshot");
    let err = a.apply(&mut node, &snap).expect_err("refused");
    assert!(
        err.message.contains("cannot tell which address"),
        "{}",
        err.message
    );
}
/// Issue #9: an egress block refuses only what would cut this SSH session (the node's
/// replies go to the operator's port) and a live block of the other direction.
#[test]
fn egress_guard_rails_keep_the_ssh_session_and_never_replace_an_ingress_block() {
    let egress = |args: &str| block_in(args, None).expect("build");
    let ssh = "10.9.9.9 50000 10.0.1.5 22";
    let a = egress("direction = \"egress\"\nto = [\"10.9.9.0/24\"]\nports = [50000]");
    let mut node = Canned::answering(vec![facts_output(ssh)]);
    let snap = a.snapshot(&mut node).expect("snapshot");
    let err = a.apply(&mut node, &snap).expect_err("refused");
    assert!(err.never_ran);
    assert!(
        err.message
            .contains("cp1 answers this SSH session at 10.9.9.9 port 50000"),
        "{err}"
    );
    assert_eq!(node.sent.len(), 1, "only the snapshot ran");

    // The operator's address among the destinations, but not its port: the replies pass.
    let a = egress(
        "direction = \"egress\"\nto = [\"10.9.9.0/24\"]\nports = [6443]\nrevert_after = \"0s\"",
    );
    node.answers = vec![facts_output(ssh), "\n@@bg:killed@@\n2\n".into()];
    node.sent.clear();
    let snap = a.snapshot(&mut node).expect("snapshot");
    let done = a.apply(&mut node, &snap).expect("apply");
    assert_eq!(
        done.summary,
        "blocked outgoing tcp/6443 to 10.9.9.0/24 with nft (2 allowed networks); ended 2 \
         established connections at once; no dead-man timer"
    );
    assert_eq!(done.detail["direction"], "egress");
    let (cmd, stdin) = &node.sent[1];
    assert_eq!(stdin.as_deref(), Some(a.nft_ruleset().as_bytes()));
    let script = shlex::split(cmd).expect("words").pop().expect("script");
    assert!(script.contains(KILL_FLOWS), "no kill-flows.sh: {script}");
    assert!(
        script.contains("\nflows='( dport = :6443 ) and ( dst 10.9.9.0/24 ) and not"),
        "{script}"
    );

    // cp1 holds an ingress block (run R): refused, not replaced.
    node.answers = vec![facts_with(Some(TABLE), "/run/breakglass/R/fw 1")];
    node.sent.clear();
    let snap = a.snapshot(&mut node).expect("snapshot");
    let err = a.apply(&mut node, &snap).expect_err("refused");
    assert!(
        err.message.contains(
            "cp1 holds a breakglass block of incoming connections (run R step fw), and a \
             node holds one breakglass block at a time"
        ),
        "{err}"
    );
    assert_eq!(node.sent.len(), 1, "only the snapshot ran");
    // And the other way round.
    let ingress = block("allow = [\"10.9.9.0/24\"]");
    let out_table = TABLE.replace("hook input", "hook output");
    node.answers = vec![facts_with(Some(&out_table), "")];
    let snap = ingress.snapshot(&mut node).expect("snapshot");
    let err = ingress.apply(&mut node, &snap).expect_err("refused");
    assert!(
        err.message
            .contains("holds a breakglass block of outgoing connections, and"),
        "{err}"
    );
}

/// What `facts.sh` reports for cp1 with `table` (text listing) and the owner marker.
fn facts_with(table: Option<&str>, owner: &str) -> String {
    let mut out = facts_output("10.9.9.9 50000 10.0.0.10 22");
    if let Some(table) = table {
        out.push_str(&format!("\n@@bg:nft_table@@\n{table}"));
    }
    out.push_str(&format!("\n@@bg:owner@@\n{owner}\n"));
    out
}

const TABLE: &str = "table inet breakglass {\n\tset ports {\n\t\ttype inet_service\n\t\telements = { 6443 }\n\t}\n\tchain input {\n\t\ttype filter hook input priority filter - 10; policy accept;\n\t\ttcp dport @ports tcp flags syn / fin,syn,rst,ack drop\n\t\ttcp dport @ports reject with tcp reset\n\t}\n}\n";

#[test]
fn undo_restores_only_what_this_run_left_and_never_clobbers_a_later_block() {
    let a = block("allow = [\"10.9.9.0/24\"]");
    let own = "/run/breakglass/20261125T115801Z-3f9a1c/block-api";
    // Before run A: no table, and run Z's marker (from an earlier, lifted block).
    let mut node = Canned::answering(vec![facts_with(None, "/run/breakglass/Z/fw 1764000000")]);
    let snap = a.snapshot(&mut node).expect("snapshot");
    assert_eq!(snap["owner_before"], "/run/breakglass/Z/fw");
    let undo = a.inverse(&snap).expect("inverse");

    // Run B blocked since (other ports), and claimed the marker: refused, nothing sent
    // but the read.
    let later = TABLE.replace("{ 6443 }", "{ 6443, 10250 }");
    node.answers = vec![facts_with(
        Some(&later),
        "/run/breakglass/20261126T090000Z-b0b0b0/fw 1764100000",
    )];
    node.sent.clear();
    let err = undo.apply(&mut node, &Value::Null).expect_err("refused");
    assert!(err.never_ran, "{err}");
    assert!(
        err.message.contains(
            "run 20261126T090000Z-b0b0b0 step fw (at 2025-11-25T19:46:40Z) changed it since"
        ) && err.message.contains("set ports does not hold the ports"),
        "{err}"
    );
    assert_eq!(node.sent.len(), 1, "the undo changed something");

    // Same ruleset as A's but the marker names B: still B's block, still refused.
    node.answers = vec![facts_with(Some(TABLE), "/run/breakglass/B/fw 1")];
    let err = undo.apply(&mut node, &Value::Null).expect_err("refused");
    assert!(err.message.contains("run B step fw"), "{err}");

    // A's own block, A's marker: restored, and the marker handed back to Z.
    node.answers = vec![facts_with(Some(TABLE), &format!("{own} 1")), String::new()];
    node.sent.clear();
    let done = undo.apply(&mut node, &Value::Null).expect("undo");
    assert!(
        done.summary.starts_with("restored no table"),
        "{}",
        done.summary
    );
    let sent = String::from_utf8(node.sent[1].1.clone().expect("stdin")).expect("utf8");
    assert!(sent.contains("delete table inet breakglass"), "{sent}");
    assert!(
        sent.contains(&format!(
            "owner_expect={own}\nowner_new=/run/breakglass/Z/fw\n"
        )),
        "{sent}"
    );

    // The dead-man already reverted it: nothing to restore, whoever the marker names.
    node.answers = vec![facts_with(None, "/run/breakglass/B/fw 1"), String::new()];
    node.sent.clear();
    let done = undo.apply(&mut node, &Value::Null).expect("nothing to do");
    assert!(
        done.summary.starts_with("nothing to restore"),
        "{}",
        done.summary
    );
    let sent = String::from_utf8(node.sent[1].1.clone().expect("stdin")).expect("utf8");
    assert!(!sent.contains("delete table inet breakglass"), "{sent}");
}

/// An egress block made before the forward hook was covered (its snapshot has no
/// `forwarded`) holds the output chain alone: its verify and undo check that ruleset, so
/// they still work, and a block of today's shape is not mistaken for it.
#[test]
fn an_egress_block_from_before_the_forward_hook_still_verifies_and_undoes() {
    let a = block_in(
        "direction = \"egress\"\nto = [\"10.0.0.10\"]\nports = [6443]\nrevert_after = \"0s\"",
        None,
    )
    .expect("build");
    let own = "/run/breakglass/20261125T115801Z-3f9a1c/block-api";
    // As nft lists them back (the sets but `ports` left out).
    let chain = |hook: &str| {
        format!(
            "\tchain {hook} {{\n\t\ttype filter hook {hook} priority filter - 10; policy accept;\n\t\ttcp dport @ports tcp flags syn / fin,syn,rst,ack drop\n\t\ttcp dport @ports reject with tcp reset\n\t}}\n"
        )
    };
    let sets = "table inet breakglass {\n\tset ports {\n\t\ttype inet_service\n\t\telements = { 6443 }\n\t}\n";
    let output = format!("{sets}{}}}\n", chain("output"));
    let both = format!("{sets}{}{}}}\n", chain("output"), chain("forward"));
    let mut node = Canned::answering(vec![facts_with(None, "")]);
    let snap = a.snapshot(&mut node).expect("snapshot");
    assert_eq!(snap["forwarded"], true);
    let mut old = snap.clone();
    old.as_object_mut().expect("object").remove("forwarded");

    // Today's block verifies on both chains, not on the output chain alone.
    node.answers = vec![facts_with(Some(&both), &format!("{own} 1"))];
    a.verify(&mut node, &snap).expect("holds");
    node.answers = vec![facts_with(Some(&output), &format!("{own} 1"))];
    let err = a.verify(&mut node, &snap).expect_err("no forward chain");
    assert!(err.message.contains("chain forward is missing"), "{err}");
    // The older run's block: the output chain alone is what it applied.
    node.answers = vec![facts_with(Some(&output), &format!("{own} 1"))];
    a.verify(&mut node, &old).expect("the old block holds");

    // Its undo restores, where today's run would refuse.
    node.answers = vec![
        facts_with(Some(&output), &format!("{own} 1")),
        String::new(),
    ];
    node.sent.clear();
    let done = a
        .inverse(&old)
        .expect("inverse")
        .apply(&mut node, &Value::Null)
        .expect("undo");
    assert!(
        done.summary.starts_with("restored no table"),
        "{}",
        done.summary
    );
    node.answers = vec![facts_with(Some(&output), &format!("{own} 1"))];
    let err = a
        .inverse(&snap)
        .expect("inverse")
        .apply(&mut node, &Value::Null)
        .expect_err("not what this run applied");
    assert!(
        err.message
            .contains("the live ruleset is not what this run applied: chain forward is missing"),
        "{err}"
    );
}

#[test]
fn a_block_whose_timer_cannot_be_armed_is_rolled_back_before_the_failure_is_reported() {
    let a = block("allow = [\"10.9.9.0/24\"]\nrevert_after = \"5m\"");
    let mut node = Canned::answering(vec![facts_output("10.9.9.9 50000 10.0.0.10 22")]);
    let snap = a.snapshot(&mut node).expect("snapshot");
    // The block went in, but the node's answer names no armed timer.
    node.answers = vec![
        String::new(),
        "\n@@bg:deadman@@\ngarbage\n".into(),
        String::new(),
    ];
    let err = a.apply(&mut node, &snap).expect_err("no timer");
    assert!(
        err.message
            .contains("did not report an armed dead-man timer")
            && err
                .message
                .ends_with("the block was rolled back on this node"),
        "{err}"
    );
    let (cmd, stdin) = node.sent.last().expect("rollback");
    assert_eq!(cmd, "/bin/sh -s");
    let rollback = String::from_utf8(stdin.clone().expect("stdin")).expect("utf8");
    assert!(
        rollback.contains("delete table inet breakglass"),
        "{rollback}"
    );
    assert!(rollback.contains(FORGET), "the timer files are left");

    // The timer was armed, then is gone by the read-back: rolled back as well.
    node.answers = vec![facts_with(Some(TABLE), ""), String::new()];
    node.sent.clear();
    let err = a.verify(&mut node, &snap).expect_err("no timer");
    assert!(
        err.message
            .starts_with("the dead-man timer is not armed (none); the block was rolled back"),
        "{err}"
    );
    assert_eq!(node.sent.len(), 2, "no rollback was sent");
    // A node that reports an expiry past year 9999 is not a panic.
    assert_eq!(super::super::deadman::rfc3339("253402300800"), None);
    assert_eq!(
        super::super::deadman::rfc3339("1764000000").as_deref(),
        Some("2025-11-24T16:00:00Z")
    );
}

#[test]
fn apply_sends_the_ruleset_on_stdin_only() {
    let a = block("allow = [\"10.9.9.0/24\"]\nrevert_after = \"0s\"");
    let mut node = Canned::answering(vec![
        facts_output("10.9.9.9 50000 10.0.0.10 22"),
        String::new(),
    ]);
    let snap = a.snapshot(&mut node).expect("snapshot");
    let applied = a.apply(&mut node, &snap).expect("apply");
    assert!(
        applied.summary.contains("no dead-man timer"),
        "{}",
        applied.summary
    );
    let (cmd, stdin) = &node.sent[1];
    assert!(
        !cmd.contains("10.9.9.0/24"),
        "the ruleset leaked into the command"
    );
    assert_eq!(stdin.as_deref(), Some(a.nft_ruleset().as_bytes()));
}
