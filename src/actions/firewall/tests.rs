//! Tests of the firewall actions against a canned node: the fixtures the other files' tests
//! share (a `firewall.block` built against a small inventory, a node that answers with canned
//! output and records what it was sent), and the check that runs across them all: every script
//! sent is the prelude, quoted inputs and whole `.sh` files, and parses as POSIX sh. Nothing here
//! touches a real node or firewall.

use super::*;
use crate::transport::ssh::{Captured, ExecResult, Outcome};

fn block(args: &str) -> FirewallBlockAction {
    let value: toml::Value = toml::from_str(args).expect("toml");
    let args: FirewallBlock = value.try_into().expect("args");
    let inventory = crate::inventory::Inventory::from_str(
        "[[hosts]]\nname = \"cp1\"\naddress = \"10.0.0.10\"\nlabels = { role = \"control-plane\" }\n\
             [[hosts]]\nname = \"cp2\"\naddress = \"10.0.0.11\"\nlabels = { role = \"control-plane\" }\n\
             [[hosts]]\nname = \"w1\"\naddress = \"10.0.1.5\"\nlabels = { role = \"worker\" }\n",
        std::path::Path::new("test.toml"),
        crate::inventory::Format::Toml,
    )
    .expect("inventory");
    let ctx = BuildContext {
        inventory: &inventory,
        run_id: "20261125T115801Z-3f9a1c",
        step_id: "block-api",
        cluster: None,
    };
    FirewallBlockAction::new(&args, &ctx).expect("build")
}

/// A node that answers every script with canned output and records what it was sent.
struct Canned {
    answers: Vec<String>,
    sent: Vec<(String, Option<Vec<u8>>)>,
}

impl Node for Canned {
    fn name(&self) -> &'static str {
        "cp1"
    }
    fn address(&self) -> String {
        "10.0.0.10:22".into()
    }
    fn run(&mut self, script: &str, stdin: Option<&[u8]>) -> ExecResult {
        self.sent
            .push((script.to_owned(), stdin.map(<[u8]>::to_vec)));
        let out = if self.answers.is_empty() {
            String::new()
        } else {
            self.answers.remove(0)
        };
        ExecResult {
            outcome: Outcome::Ok,
            stdout: Captured {
                total: out.len() as u64,
                bytes: out.into_bytes(),
            },
            stderr: Captured::default(),
            connect: None,
            total: Duration::ZERO,
            recorded_host_key: None,
        }
    }
}

fn facts_output(ssh: &str) -> String {
    format!(
        "\n@@bg:tools@@\nnft\niptables\n\n@@bg:ssh@@\n{ssh}\n\n@@bg:deadman@@\nnone\n\n@@bg:timers@@\n"
    )
}

#[test]
fn the_ruleset_is_one_idempotent_transaction() {
    let a =
        block("allow = [\"192.0.2.0/24\", \"192.0.2.7\"]\nallow_targets = \"role=control-plane\"");
    let rs = a.nft_ruleset();
    assert!(
        rs.starts_with(
            "table inet breakglass {}\ndelete table inet breakglass\ntable inet breakglass {\n"
        ),
        "{rs}"
    );
    assert!(rs.contains("elements = { 6443 }"), "{rs}");
    // 192.0.2.7 lies in 192.0.2.0/24, and cp1 (.10) and cp2 (.11) make one /31.
    assert!(
        rs.contains("elements = { 10.0.0.10/31, 127.0.0.0/8, 192.0.2.0/24 }"),
        "{rs}"
    );
    assert!(rs.contains("elements = { ::1/128 }"), "{rs}");
    assert!(rs.contains("type filter hook input priority filter - 10; policy accept;"));
    assert!(rs.contains("tcp dport @ports reject with tcp reset"));
    let kept = block("cut_established = false\nallow = [\"192.0.2.0/24\"]");
    assert!(!kept.nft_ruleset().contains("reject"));
    assert_eq!(
        a.plan("cp1"),
        "block tcp/6443 except 192.0.2.0/24, 192.0.2.7/32, 127.0.0.0/8 (+2 peers from \"role=control-plane\"); cut established; auto-revert in 20m unless confirmed"
    );
}

#[test]
fn guard_rails_refuse_before_any_change() {
    let a = block("ports = [6443, 22]\nallow = [\"10.9.9.9\"]");
    let mut node = Canned {
        answers: vec![facts_output("10.9.9.9 50000 10.0.0.10 22")],
        sent: Vec::new(),
    };
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
    let mut node = Canned {
        answers: vec![facts_output("::ffff:10.9.9.9 50000 10.0.0.10 22")],
        sent: Vec::new(),
    };
    let snap = a.snapshot(&mut node).expect("snapshot");
    let err = a.apply(&mut node, &snap).expect_err("refused");
    assert!(
        err.message
            .contains("address as cp1 sees it, 10.9.9.9, is not in the allowlist"),
        "{}",
        err.message
    );

    let mut node = Canned {
        answers: vec![facts_output("")],
        sent: Vec::new(),
    };
    let snap = a.snapshot(&mut node).expect("snapshot");
    let err = a.apply(&mut node, &snap).expect_err("refused");
    assert!(
        err.message.contains("cannot tell which address"),
        "{}",
        err.message
    );
}

#[test]
fn apply_sends_the_ruleset_on_stdin_only() {
    let a = block("allow = [\"10.9.9.0/24\"]\nrevert_after = \"0s\"");
    let mut node = Canned {
        answers: vec![facts_output("10.9.9.9 50000 10.0.0.10 22"), String::new()],
        sent: Vec::new(),
    };
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

#[test]
fn sessions_parse_mapped_and_zoned_addresses() {
    let s = Session::parse("::ffff:192.0.2.1 5000 192.0.2.9 22").expect("parse");
    assert_eq!(s.client, "192.0.2.1".parse::<IpAddr>().expect("ip"));
    let s = Session::parse("fe80::1%eth0 5000 fe80::2 2222").expect("parse");
    assert_eq!(s.server_port, 2222);
    assert!(Session::parse("").is_none());
    assert!(Session::parse("1.2.3.4 5 6.7.8.9").is_none());
}

#[test]
fn the_text_listing_is_checked_without_json_support() {
    let a = block("ports = [6443, 10250]\nallow = [\"192.0.2.0/24\"]");
    let table = "table inet breakglass {\n\tset ports {\n\t\ttype inet_service\n\t\telements = { 6443,\n\t\t\t     10250 }\n\t}\n\n\tset allow6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t\telements = { ::1 }\n\t}\n\n\tchain input {\n\t\ttype filter hook input priority filter - 10; policy accept;\n\t\tiif \"lo\" tcp dport @ports accept\n\t\ttcp dport @ports tcp flags syn / fin,syn,rst,ack drop\n\t\ttcp dport @ports tcp flags & rst == rst accept\n\t\ttcp dport @ports reject with tcp reset\n\t}\n}\n";
    let facts = Facts {
        nft: true,
        nft_table: Some(table.to_owned()),
        ..Facts::default()
    };
    assert_eq!(facts.nft_ports(), Some(BTreeSet::from([6443, 10250])));
    a.check_nft_text(table, &facts).expect("holds");
    let b = block("ports = [6443]\nallow = [\"192.0.2.0/24\"]");
    assert!(b.check_nft_text(table, &facts).is_err());
    assert_eq!(
        text_set_elements(table, "allow6"),
        Some(vec!["::1".to_owned()])
    );
    assert_eq!(text_set_elements(table, "nosuch"), None);
}

#[test]
fn iptables_state_parses() {
    let st = parse_ipt(
        "-N BREAKGLASS\n-A INPUT -s 1.1.1.1/32 -j ACCEPT\n-A INPUT -j BREAKGLASS\n-A BREAKGLASS -i lo -j RETURN\n",
    );
    assert_eq!(
        st.chain,
        Some(vec!["-A BREAKGLASS -i lo -j RETURN".to_owned()])
    );
    assert_eq!(
        st.jumps,
        vec![Jump {
            position: 2,
            rule: "-A INPUT -j BREAKGLASS".into()
        }]
    );
    assert_eq!(parse_ipt("-A INPUT -j ACCEPT\n"), IptState::absent());
}

#[test]
fn restore_scripts_put_back_exactly_what_was_recorded() {
    let none = restore_script(
        &FwState {
            nft: Some(NftState { table: None }),
            ..FwState::default()
        },
        None,
        "t",
    )
    .expect("script");
    assert!(none.starts_with("#!/bin/sh\n# breakglass: t\n"), "{none}");
    assert!(none.contains(RESTORE_FNS), "{none}");
    assert!(
        none.contains("\nrestore_table <<'BREAKGLASS_EOF'\n"),
        "{none}"
    );
    assert!(
        none.contains("\ntable inet breakglass {}\ndelete table inet breakglass\nBREAKGLASS_EOF\n"),
        "{none}"
    );
    let hostile = "table inet breakglass {\nBREAKGLASS_EOF\n}\n".to_owned();
    let s = restore_script(
        &FwState {
            nft: Some(NftState {
                table: Some(hostile.clone()),
            }),
            ..FwState::default()
        },
        None,
        "t",
    )
    .expect("script");
    assert!(s.contains("restore_table <<'BREAKGLASS_EOF_1'"), "{s}");
    let prior = s
        .lines()
        .find_map(|l| l.strip_prefix("# breakglass-prior: "))
        .expect("prior");
    let back: FwState = serde_json::from_str(prior).expect("json");
    assert_eq!(back.nft.and_then(|n| n.table), Some(hostile));

    let ipt = IptState {
        chain: Some(vec!["-A BREAKGLASS -s 1.2.3.4/32 -j RETURN".into()]),
        jumps: vec![Jump {
            position: 3,
            rule: "-A INPUT -j BREAKGLASS".into(),
        }],
    };
    let s = restore_script(
        &FwState {
            iptables: Some(ipt),
            ..FwState::default()
        },
        None,
        "t",
    )
    .expect("script");
    assert!(
        s.ends_with(
            "\nrestore_chain iptables <<'BREAKGLASS_EOF'\n\
                 -A BREAKGLASS -s 1.2.3.4/32 -j RETURN\n-I INPUT 3 -j BREAKGLASS\nBREAKGLASS_EOF\n"
        ),
        "{s}"
    );
    let gone = restore_script(
        &FwState {
            iptables: Some(IptState::absent()),
            ip6tables: Some(IptState::absent()),
            ..FwState::default()
        },
        None,
        "t",
    )
    .expect("script");
    assert!(
        gone.ends_with("\nremove_chain iptables\nremove_chain ip6tables\n"),
        "{gone}"
    );
}

#[test]
fn nft_read_back_is_checked_element_by_element() {
    let a = block("allow = [\"192.0.2.0/24\"]");
    let json: Value = serde_json::from_str(
        r#"{"nftables":[{"set":{"name":"ports","elem":[6443]}},
            {"set":{"name":"allow4","elem":[{"prefix":{"addr":"127.0.0.0","len":8}},{"range":["192.0.2.0","192.0.2.255"]}]}},
            {"set":{"name":"allow6","elem":["::1"]}},
            {"chain":{"name":"input","hook":"input","prio":-10,"policy":"accept"}},
            {"rule":{"expr":[]}},{"rule":{"expr":[]}},{"rule":{"expr":[]}},{"rule":{"expr":[{"drop":null}]}},
            {"rule":{"expr":[]}},{"rule":{"expr":[{"reject":{}}]}}]}"#,
    )
    .expect("json");
    a.check_nft(&json).expect("matches");
    let mut wrong = json.clone();
    wrong["nftables"][1]["set"]["elem"][1]["range"][1] = "192.0.3.0".into();
    assert!(a.check_nft(&wrong).expect_err("differs").contains("allow4"));
}

#[test]
fn confirm_output_parses() {
    let r = confirm_results(
        "\n@@bg:confirm@@\nblock cancelled detached 42\nother already 0\nthird fired 60\nfourth missing\n",
    );
    assert_eq!(r["block"], Confirmed::Cancelled("detached 42".into()));
    assert_eq!(
        r["other"],
        Confirmed::Already("1970-01-01T00:00:00Z".into())
    );
    assert_eq!(r["third"], Confirmed::Fired("1970-01-01T00:01:00Z".into()));
    assert_eq!(r["fourth"], Confirmed::Missing);
}

/// What a sent command runs: the script of `/bin/sh -c SCRIPT`, or the stdin of
/// `/bin/sh -s`.
fn script_of(cmd: &str, stdin: Option<&[u8]>) -> String {
    if cmd == "/bin/sh -s" {
        return String::from_utf8(stdin.expect("stdin").to_vec()).expect("utf8");
    }
    let words = shlex::split(cmd).expect("words");
    assert_eq!(words[..2], ["/bin/sh", "-c"], "{cmd}");
    assert_eq!(words.len(), 3, "{cmd}");
    words[2].clone()
}

/// `sh -n`: the script parses (POSIX sh; dash on Debian).
fn parses(script: &str) {
    let out = std::process::Command::new("sh")
        .args(["-n", "-c", script])
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_script_sent_is_the_prelude_its_inputs_and_whole_files() {
    let mut sent = Vec::new();
    let ssh = "10.9.9.9 50000 10.0.0.10 22";
    let ipt = "\n@@bg:iptables@@\n-N BREAKGLASS\n-A INPUT -j BREAKGLASS\n-A BREAKGLASS -p tcp -m tcp --dport 6443 -j DROP\n";
    for (args, facts) in [
        (
            "allow = [\"10.9.9.0/24\"]",
            facts_output(ssh)
                + "\n@@bg:nft_table@@\ntable inet breakglass {\n\tset ports {\n\t\ttype inet_service\n\t\telements = { 6443, 10250 }\n\t}\n}\n",
        ),
        (
            "allow = [\"10.9.9.0/24\"]\nbackend = \"iptables\"",
            facts_output(ssh) + ipt,
        ),
    ] {
        let a = block(args);
        let mut node = Canned {
            answers: vec![facts.clone()],
            sent: Vec::new(),
        };
        let snap = a.snapshot(&mut node).expect("snapshot");
        a.apply(&mut node, &snap).expect("apply");
        a.inverse(&snap)
            .expect("inverse")
            .apply(&mut node, &Value::Null)
            .expect("undo");
        let ctx_inventory = crate::inventory::Inventory::from_str(
            "",
            std::path::Path::new("empty.toml"),
            crate::inventory::Format::Toml,
        )
        .expect("inventory");
        let ctx = BuildContext {
            inventory: &ctx_inventory,
            run_id: "20261125T115801Z-3f9a1c",
            step_id: "unblock",
            cluster: None,
        };
        for unblock in ["", "ports = [6443]"] {
            let value: toml::Value = toml::from_str(unblock).expect("toml");
            let u = FirewallUnblockAction::new(&value.try_into().expect("args"), &ctx)
                .expect("unblock");
            node.answers = vec![facts.clone()];
            let snap = u.snapshot(&mut node).expect("snapshot");
            u.apply(&mut node, &snap).expect("apply");
        }
        sent.extend(node.sent);
    }
    let confirm = confirm_command("run-1", &["block-api".into(), "block b".into()])
        .expect_err("a step id with a space");
    assert!(confirm.never_ran);
    let confirm =
        confirm_command("run-1", &["block-api".into(), "block2".into()]).expect("confirm");
    sent.push((confirm, None));

    let mut seen = BTreeSet::new();
    for (cmd, stdin) in &sent {
        let script = script_of(cmd, stdin.as_deref());
        assert!(script.starts_with(PRELUDE), "{script}");
        parses(&script);
        for (name, file) in [
            ("deadman", DEADMAN_FNS),
            ("facts", FACTS),
            ("save-restore", SAVE_RESTORE),
            ("block-nft", BLOCK_NFT),
            ("block-iptables", BLOCK_IPTABLES),
            ("arm", ARM),
            ("restore", RESTORE_FNS),
            ("forget", FORGET),
            ("unblock-ports", UNBLOCK_PORTS),
            ("cancel-all", CANCEL_ALL),
            ("confirm", CONFIRM),
        ] {
            if script.contains(file) {
                seen.insert(name);
            }
        }
    }
    assert_eq!(seen.len(), 11, "only these scripts were sent: {seen:?}");
    assert!(
        sent.iter().any(|(_, stdin)| stdin
            .as_deref()
            .map(String::from_utf8_lossy)
            .is_some_and(|s| s.contains(&format!("\nkeep=10250\n{UNBLOCK_PORTS}")))),
        "the partial unblock keeps 10250"
    );
    let confirm = script_of(&sent.last().expect("confirm").0, None);
    assert!(confirm.contains("\nset -- block-api block2\n"), "{confirm}");
    // The literals of the scripts are the constants of this file.
    for file in [FACTS, BLOCK_IPTABLES, RESTORE_FNS] {
        assert!(
            file.contains(&format!(":{CHAIN} - [0:0]")) || file.contains(&format!("-N {CHAIN}$"))
        );
    }
    for file in [FACTS, CANCEL_ALL] {
        assert!(file.contains(&format!(
            "for f in {STATE_ROOT}/*/*.pid {STATE_ROOT}/*/*.unit"
        )));
    }
}
