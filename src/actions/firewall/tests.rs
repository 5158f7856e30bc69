//! Tests of the firewall actions against a canned node: the fixtures the other files' tests
//! share (a `firewall.block` built against a small inventory, a node that answers with canned
//! output and records what it was sent), and the check that runs across them all: every script
//! sent is the prelude, quoted inputs and whole `.sh` files, and parses as POSIX sh. Nothing here
//! touches a real node or firewall.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use super::block::KILL_FLOWS;
use super::confirm::CONFIRM;
use super::deadman::{ARM, CANCEL_ALL, DEADMAN_FNS, FORGET, SAVE_RESTORE};
use super::facts::FACTS;
use super::iptables::{BLOCK_IPTABLES, CHAIN};
use super::nft::{BLOCK_NFT, UNBLOCK_PORTS};
use super::restore::{OWNER, RESTORE_FNS};
use super::shell::PRELUDE;
use super::{FirewallBlockAction, FirewallUnblockAction, STATE_ROOT, confirm_command};
use crate::actions::BuildContext;
use crate::actions::args::FirewallBlock;
use crate::actions::contract::{Action, Node};
use crate::transport::ssh::{Captured, ExecResult, Outcome};

pub(super) fn block(args: &str) -> FirewallBlockAction {
    block_in(args, None).expect("build")
}

/// A `firewall.block` built for the runbook cluster `cluster`: `prod` (API servers cp1 and
/// cp2), `eks` (`node_api_endpoints` too) or `bare` (no endpoints at all).
pub(super) fn block_in(args: &str, cluster: Option<&str>) -> anyhow::Result<FirewallBlockAction> {
    let value: toml::Value = toml::from_str(args).expect("toml");
    let args: FirewallBlock = value.try_into().expect("args");
    let inventory = crate::inventory::Inventory::from_str(
        "[clusters.prod]\napi_endpoints = [\"10.0.0.10:6443\", \"10.0.0.11:6443\"]\n\
         [clusters.eks]\napi_endpoints = [\"192.0.2.80:443\"]\n\
         node_api_endpoints = [\"10.0.12.0/24:443\", \"[fd00:12::/64]:443\", \"10.0.44.7:8443\"]\n\
         [clusters.bare]\n\
         [[hosts]]\nname = \"cp1\"\naddress = \"10.0.0.10\"\nlabels = { role = \"control-plane\" }\n\
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
        cluster,
        operator_cidrs: &[],
    };
    FirewallBlockAction::new(&args, &ctx)
}

/// A node that answers every script with canned output and records what it was sent.
pub(super) struct Canned {
    pub(super) answers: Vec<String>,
    pub(super) sent: Vec<(String, Option<Vec<u8>>)>,
}

impl Canned {
    /// A node that gives these answers, in order, and has been sent nothing yet.
    pub(super) fn answering(answers: Vec<String>) -> Canned {
        Canned {
            answers,
            sent: Vec::new(),
        }
    }
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

/// What `arm.sh` answers when it armed a detached timer.
pub(super) const ARMED: &str =
    "\n@@bg:deadman@@\nkind=detached pid=4242 pidfile=/run/breakglass/r/s.pid expires=1764000000\n";

pub(super) fn facts_output(ssh: &str) -> String {
    format!(
        "\n@@bg:tools@@\nnft\niptables\n\n@@bg:ssh@@\n{ssh}\n\n@@bg:deadman@@\nnone\n\n@@bg:timers@@\n"
    )
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
        (
            "direction = \"egress\"\nto = [\"10.0.0.10\"]\nports = [6443]",
            facts_output(ssh),
        ),
        (
            "direction = \"egress\"\nto = [\"10.0.0.10\"]\nports = [6443]\nbackend = \"iptables\"",
            facts_output(ssh),
        ),
    ] {
        let a = block(args);
        let mut node = Canned::answering(vec![facts.clone()]);
        let snap = a.snapshot(&mut node).expect("snapshot");
        node.answers = vec![String::new(), ARMED.to_owned(), facts.clone()];
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
            operator_cidrs: &[],
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
            ("owner", OWNER),
            ("kill-flows", KILL_FLOWS),
        ] {
            if script.contains(file) {
                seen.insert(name);
            }
        }
    }
    assert_eq!(seen.len(), 13, "only these scripts were sent: {seen:?}");
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
