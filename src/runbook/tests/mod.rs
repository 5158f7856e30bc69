//! Tests of loading and validation diagnostics; `resolve.rs`: binding and resolution, and the
//! shipped runbooks.

use std::time::Duration;

use super::*;
use crate::actions::args::{ActionArgs, ActionKind};

mod resolve;

fn parse(text: &str) -> Result<Runbook, RunbookError> {
    Runbook::parse(text, "rb.toml")
}

/// Every diagnostic, as displayed.
fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => Vec::new(),
        Err(e) => e.diagnostics.iter().map(ToString::to_string).collect(),
    }
}

/// The `LINE:COLUMN` of the first occurrence of `needle` (for positions in longer texts).
fn at(text: &str, needle: &str) -> String {
    let offset = text.find(needle).expect("needle in text");
    let pos = super::tree::pos_of(text, offset);
    format!("{}:{}", pos.line, pos.column)
}

fn has(errors: &[String], expected: &str) {
    assert!(
        errors.iter().any(|e| e.contains(expected)),
        "no diagnostic contains {expected:?}; got:\n{}",
        errors.join("\n")
    );
}

const HEAD: &str = r#"name = "test"
summary = "A test runbook"

[params.cluster]
type = "string"
required = true
help = "Cluster"
"#;

fn with_head(rest: &str) -> String {
    format!("{HEAD}{rest}")
}

const GOOD: &str = r#"name = "test"
summary = "A test runbook"

[params.cluster]
type = "string"
required = true
help = "Cluster"

[params.allow]
type = "cidr_list"
default = ["192.0.2.0/24"]
help = "Allowed"

[params.cp]
type = "selector"
default = "role=control-plane"
help = "Control plane"

[params.cmd_arg]
type = "string"
default = "x"
help = "An argument"

[params.inflight]
type = "integer"
default = 1200
help = "Inflight"

[[steps]]
id = "block"
action = "firewall.block"
targets = "cluster=${cluster},${cp}"
waves = [1, "50%", "100%"]
failure_budget = "10%"

[steps.with]
allow = ["${allow}", "198.51.100.7"]
allow_targets = "${cp}"

[[steps]]
id = "echo"
action = "ssh.exec"
targets = "${cp}"
concurrency = 4
on_failure = "continue"
timeout = "30s"

[steps.with]
command = "echo ${cmd_arg} $${HOME}"

[steps.gate]
action = "wait.healthy"
timeout = "3m"

[steps.gate.with]
endpoints = ["10.0.0.10:6443"]

[[steps]]
id = "tune"
action = "apiservers.tune"
targets = "${cp}"
confirm = false

[steps.with.set]
"--max-requests-inflight" = "${inflight}"

[[steps]]
id = "wait"
action = "wait.healthy"
"#;

#[test]
fn a_good_runbook_loads_with_defaults() {
    let rb = parse(GOOD).expect("valid");
    assert_eq!(rb.name, "test");
    assert_eq!(rb.params.len(), 5);
    assert_eq!(rb.params[0].name, "cluster");
    assert!(rb.params[0].required);
    assert_eq!(rb.steps.len(), 4);
    let block = &rb.steps[0];
    assert_eq!(block.action, ActionKind::FirewallBlock);
    assert_eq!(
        block.waves.as_slice(),
        &[Wave::Count(1), Wave::Percent(50), Wave::Percent(100)]
    );
    assert_eq!(block.failure_budget, FailureBudget::Percent(10));
    assert_eq!(block.on_failure, OnFailure::Stop);
    assert!(block.confirm, "firewall.block confirms by default");
    assert_eq!(block.concurrency, None);
    let echo = &rb.steps[1];
    assert!(!echo.confirm);
    assert_eq!(echo.concurrency, Some(4));
    assert_eq!(echo.on_failure, OnFailure::Continue);
    assert_eq!(echo.timeout, Some(Duration::from_secs(30)));
    let gate = echo.gate.as_ref().expect("gate");
    assert_eq!(gate.action, ActionKind::WaitHealthy);
    assert_eq!(gate.timeout, Some(Duration::from_secs(180)));
    assert!(!rb.steps[2].confirm, "explicit confirm = false wins");
    assert_eq!(rb.steps[3].waves, Waves::default());
    assert!(rb.digest.starts_with("sha256:"));
    assert_eq!(rb.digest.len(), 7 + 64);
}

#[test]
fn syntax_error_is_one_positioned_diagnostic() {
    let e = errors("name = \"x\"\nsummary = \"s\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("rb.toml:2:"), "{}", e[0]);
    assert!(e[0].contains("invalid TOML"), "{}", e[0]);
}

#[test]
fn unknown_keys_everywhere_with_exact_positions() {
    let text = r#"name = "test"
summary = "s"
nmae = "oops"

[params.cluster]
type = "string"
required = true
help = "c"
hlp = "typo"

[[steps]]
id = "a"
action = "ssh.exec"
targets = "all"
wave = [1]

[steps.with]
command = "true"
  idempotnet = true

[steps.gate]
action = "wait.healthy"
timout = "1m"
"#;
    let e = errors(text);
    assert_eq!(
        e,
        vec![
            "rb.toml:3:1: unknown key `nmae` in the runbook (did you mean `name`?); expected one of: \
             name, summary, description, params, steps"
                .to_owned(),
            "rb.toml:9:1: parameter `cluster`: unknown key `hlp` in a parameter (did you mean `help`?); \
             expected one of: type, required, default, help, min, max"
                .to_owned(),
            "rb.toml:15:1: step `a`: unknown key `wave` in a step (did you mean `waves`?); expected one of: \
             id, action, description, targets, waves, concurrency, failure_budget, on_failure, timeout, \
             confirm, gate, with, run_if_unreachable, run_if, ignore_unreachable, skip_if_none"
                .to_owned(),
            // Inside `with`: checked against ssh.exec's struct, at the key (indented: column 3).
            "rb.toml:19:3: step `a`: unknown argument `idempotnet` for ssh.exec (did you mean `idempotent`?); \
             its arguments are: command, idempotent"
                .to_owned(),
            "rb.toml:23:1: step `a` gate: unknown key `timout` in a gate (did you mean `timeout`?); \
             expected one of: action, description, targets, timeout, with"
                .to_owned(),
        ]
    );
}

#[test]
fn with_type_errors_point_at_each_value() {
    let text = with_head(
        r#"
[[steps]]
id = "block"
action = "firewall.block"
targets = "all"
confirm = false

[steps.with]
ports = ["https"]
allow = ["10.0.0.0/33"]
revert_after = "soon"
backend = "pf"
cut_established = "yes"
"#,
    );
    let e = errors(&text);
    assert_eq!(e.len(), 5, "{e:#?}");
    assert!(
        e[0].starts_with(&format!(
            "rb.toml:{}: step `block`: `ports`: invalid type: string \"https\"",
            at(&text, "[\"https\"]")
        )),
        "{}",
        e[0]
    );
    assert!(
        e[1].starts_with(&format!(
            "rb.toml:{}: step `block`: `allow`: ",
            at(&text, "[\"10.0.0.0/33\"]")
        )),
        "{}",
        e[1]
    );
    assert!(e[1].contains("10.0.0.0/33"), "{}", e[1]);
    assert_eq!(
        e[2],
        format!(
            "rb.toml:{}: step `block`: `revert_after`: `soon` is not a duration (expected number at 0); write e.g. \"90s\", \"5m\", \"1h30m\"",
            at(&text, "\"soon\"")
        )
    );
    assert!(
        e[3].contains("`backend`: unknown variant `pf`, expected one of `auto`, `nft`, `iptables`"),
        "{}",
        e[3]
    );
    assert!(
        e[4].contains("`cut_established`: invalid type: string \"yes\", expected a boolean"),
        "{}",
        e[4]
    );
}

#[test]
fn missing_arguments_and_cross_field_problems() {
    let text = with_head(
        r#"
[[steps]]
id = "run"
action = "ssh.exec"
targets = "all"
[steps.with]
idempotent = true

[[steps]]
id = "pause"
action = "pause"

[[steps]]
id = "kill"
action = "workload.kill"
targets = "all"
confirm = false
[steps.with]
namespace = "Kube_System"

[[steps]]
id = "tune"
action = "apiservers.tune"
targets = "all"
confirm = false
[steps.with]
manifest = "relative.yaml"
"#,
    );
    let e = errors(&text);
    // A missing argument is reported at the `with` key, or at the step when there is no `with`.
    has(
        &e,
        &format!(
            "rb.toml:{}: step `run`: ssh.exec needs the argument `command` (under `with`)",
            at(&text, "with]\nidempotent")
        ),
    );
    has(
        &e,
        &format!(
            "rb.toml:{}: step `pause`: pause needs the argument `message`",
            at(&text, "[[steps]]\nid = \"pause\"")
        ),
    );
    has(
        &e,
        &format!(
            "rb.toml:{}: step `kill`: `namespace`: `Kube_System` is not a namespace name",
            at(&text, "\"Kube_System\"")
        ),
    );
    has(
        &e,
        "step `kill`: workload.kill: give `name_prefix` or `label`",
    );
    has(
        &e,
        &format!(
            "rb.toml:{}: step `tune`: `manifest`: `relative.yaml` is not an absolute path",
            at(&text, "\"relative.yaml\"")
        ),
    );
    has(
        &e,
        "step `tune`: apiservers.tune: nothing to change: give `set` or `remove`",
    );
    assert_eq!(e.len(), 6, "{e:#?}");
}

#[test]
fn duplicate_ids_and_unknown_actions() {
    let text = with_head(
        r#"
[[steps]]
id = "same"
action = "pause"
with = { message = "m" }

[[steps]]
id = "same"
action = "firewall.blok"

[[steps]]
action = "pause"
with = { message = "m" }

[[steps]]
id = "Bad_Id"
action = "pause"
with = { message = "m" }
"#,
    );
    let e = errors(&text);
    has(
        &e,
        "rb.toml:15:6: duplicate step id `same` (first used at line 10)",
    );
    has(
        &e,
        "rb.toml:16:10: step `same`: unknown action `firewall.blok` (did you mean `firewall.block`?); known actions: ssh.exec, firewall.block, \
         firewall.unblock, nodes.quiesce, nodes.unquiesce, apiservers.tune, workload.kill, wait.healthy, pause",
    );
    has(&e, "step 3: missing `id`");
    has(
        &e,
        &format!(
            "rb.toml:{}: step `Bad_Id`: `id` uses lowercase letters",
            at(&text, "\"Bad_Id\"")
        ),
    );
    assert_eq!(e.len(), 4, "{e:#?}");
}

#[test]
fn bad_waves_and_budgets() {
    let step = |waves: &str, budget: &str| {
        with_head(&format!(
            "\n[[steps]]\nid = \"s\"\naction = \"ssh.exec\"\ntargets = \"all\"\nwaves = {waves}\nfailure_budget = {budget}\nwith = {{ command = \"true\" }}\n"
        ))
    };
    // Line 13 holds `waves = ...`, line 14 the budget.
    let e = errors(&step("[5, 5, \"100%\"]", "0"));
    assert_eq!(e, vec!["rb.toml:13:13: step `s`: `waves`: wave 5 does not grow: waves are cumulative, so each must be larger than the one before (5)".to_owned()]);
    let e = errors(&step("[0, \"150%\", \"0%\"]", "0"));
    assert_eq!(e.len(), 3, "{e:#?}");
    assert_eq!(
        e[0],
        "rb.toml:13:10: step `s`: `waves`: a wave of 0 targets does nothing"
    );
    assert_eq!(
        e[1],
        "rb.toml:13:13: step `s`: `waves`: `150%` is more than 100%"
    );
    assert_eq!(
        e[2],
        "rb.toml:13:21: step `s`: `waves`: a wave of 0% does nothing"
    );
    let e = errors(&step("[1, \"50%\"]", "0"));
    assert_eq!(e, vec!["rb.toml:13:13: step `s`: `waves`: the last wave is 50%; it must be \"100%\" so every target is covered".to_owned()]);
    let e = errors(&step("[\"10%\", 20, \"100%\"]", "0"));
    has(
        &e,
        "rb.toml:13:17: step `s`: `waves`: a count (20) after a share",
    );
    let e = errors(&step("[]", "0"));
    has(
        &e,
        "rb.toml:13:9: step `s`: `waves`: list at least one wave",
    );
    let e = errors(&step("\"100%\"", "0"));
    has(
        &e,
        "rb.toml:13:9: step `s`: `waves` must be an array such as [1, \"10%\", \"100%\"], not a string",
    );

    let e = errors(&step("[\"100%\"]", "-1"));
    assert_eq!(
        e,
        vec!["rb.toml:14:18: step `s`: `failure_budget`: -1 is negative".to_owned()]
    );
    let e = errors(&step("[\"100%\"]", "\"120%\""));
    assert_eq!(
        e,
        vec!["rb.toml:14:18: step `s`: `failure_budget`: `120%` is more than 100%".to_owned()]
    );
    let e = errors(&step("[\"100%\"]", "\"ten\""));
    has(&e, "`failure_budget`: `ten` is not a share such as \"10%\"");
    let e = errors(&step("[\"100%\"]", "1.5"));
    has(
        &e,
        "`failure_budget`: a count such as 2 or a share such as \"10%\", not a float",
    );
    assert!(errors(&step("[1, 10, \"25%\", \"100%\"]", "\"5%\"")).is_empty());
}

#[test]
fn other_step_fields_are_checked() {
    let text = with_head(
        r#"
[[steps]]
id = "s"
action = "ssh.exec"
targets = "all"
concurrency = 0
on_failure = "retry"
timeout = "${t}"
confirm = "yes"
description = 3
with = { command = "true" }
"#,
    );
    let e = errors(&text);
    assert_eq!(
        e,
        vec![
            "rb.toml:13:15: step `s`: `concurrency` must be an integer from 1 to 4096".to_owned(),
            "rb.toml:14:14: step `s`: `on_failure` is \"stop\" or \"continue\", not \"retry\"".to_owned(),
            "rb.toml:15:11: step `s`: `timeout`: `${t}` is not a duration (expected number at 0); write e.g. \"90s\", \"5m\", \"1h30m\" (`${...}` is only substituted in `targets` and `with`)".to_owned(),
            "rb.toml:16:11: step `s`: `confirm` must be true or false, not a string".to_owned(),
            "rb.toml:17:15: step `s`: `description` must be a string, not an integer".to_owned(),
        ]
    );
}

#[test]
fn parameter_references_and_defaults() {
    let text = with_head(
        r#"
[params.ports]
type = "integer"
default = "6443"
help = "p"

[params.nets]
type = "cidr_list"
default = ["10.0.0.0/8", "nope"]
help = "n"

[params.when]
type = "timestamp"
default = "now"
help = "w"

[params.Bad]
type = "bool"
default = true
help = "b"

[params.both]
type = "string"
required = true
default = "x"
help = "b"

[params.neither]
type = "string"
help = "n"

[params.nohelp]
type = "bool"
default = false

[[steps]]
id = "s"
action = "ssh.exec"
targets = "${role}"
with = { command = "echo ${missing}" }
"#,
    );
    let e = errors(&text);
    has(
        &e,
        &format!(
            "rb.toml:{}: parameter `ports`: `default`: a integer default is written as an integer, not a string",
            at(&text, "\"6443\"")
        ),
    );
    has(
        &e,
        &format!(
            "rb.toml:{}: parameter `nets`: `default`: `nope` is not a CIDR",
            at(&text, "[\"10.0.0.0/8\", \"nope\"]")
        ),
    );
    has(
        &e,
        &format!(
            "rb.toml:{}: parameter `when`: unknown type `timestamp`; expected one of: string, integer, duration, cidr_list, selector, bool",
            at(&text, "\"timestamp\"")
        ),
    );
    has(
        &e,
        &format!(
            "rb.toml:{}: parameter `Bad`: a parameter name is lowercase",
            at(&text, "Bad]")
        ),
    );
    has(
        &e,
        "parameter `both`: a required parameter never uses its default",
    );
    has(
        &e,
        &format!(
            "rb.toml:{}: parameter `neither`: give it a `default` or mark it `required = true`",
            at(&text, "neither]")
        ),
    );
    has(
        &e,
        &format!(
            "rb.toml:{}: parameter `nohelp`: missing `help`",
            at(&text, "nohelp]")
        ),
    );
    has(
        &e,
        &format!(
            "rb.toml:{}: step `s`: `targets`: `${{role}}` refers to no declared parameter",
            at(&text, "\"${role}\"")
        ),
    );
    has(
        &e,
        &format!(
            "rb.toml:{}: step `s`: `command`: `${{missing}}` refers to no declared parameter",
            at(&text, "\"echo ${missing}\"")
        ),
    );
    assert_eq!(e.len(), 9, "{e:#?}");
}

#[test]
fn unreachable_and_skip_keys_only_where_they_mean_something() {
    let text = with_head(
        r#"
[[steps]]
id = "once"
action = "wait.healthy"
ignore_unreachable = true

[[steps]]
id = "hosts"
action = "ssh.exec"
targets = "all"
skip_if_none = true
ignore_unreachable = "yes"
with = { command = "true" }

[[steps]]
id = "fine"
action = "nodes.scale"
skip_if_none = true
with = { to = 1 }
"#,
    );
    let e = errors(&text);
    has(
        &e,
        &format!(
            "rb.toml:{}: step `once`: wait.healthy runs once, from the operator's machine, so `ignore_unreachable` does not apply",
            at(&text, "ignore_unreachable = true")
        ),
    );
    has(
        &e,
        &format!(
            "rb.toml:{}: step `hosts`: `skip_if_none` is for steps whose targets are the cloud resources",
            at(&text, "skip_if_none = true\nignore")
        ),
    );
    has(
        &e,
        &format!(
            "rb.toml:{}: step `hosts`: `ignore_unreachable`",
            at(&text, "\"yes\"")
        ),
    );
    assert_eq!(e.len(), 3, "{e:#?}");
}

#[test]
fn targets_per_kind_and_selectors() {
    let text = with_head(
        r#"
[[steps]]
id = "needs-targets"
action = "nodes.quiesce"
confirm = false

[[steps]]
id = "no-targets"
action = "wait.healthy"
targets = "all"
waves = [1, "100%"]
timeout = "1m"

[[steps]]
id = "bad-selector"
action = "ssh.exec"
targets = "role in (a,b"
with = { command = "true" }

[[steps]]
id = "bad-allow-targets"
action = "firewall.block"
targets = "all"
confirm = false
with = { allow_targets = "zone notin (" }
"#,
    );
    let e = errors(&text);
    has(
        &e,
        &format!(
            "rb.toml:{}: step `needs-targets`: nodes.quiesce needs `targets`: a selector such as \"role=control-plane\"",
            at(&text, "[[steps]]\nid = \"needs")
        ),
    );
    has(
        &e,
        &format!(
            "rb.toml:{}: step `no-targets`: wait.healthy runs once, from the operator's machine, so `targets` does not apply",
            at(&text, "targets = \"all\"\nwaves")
        ),
    );
    has(&e, "so `waves` does not apply");
    has(
        &e,
        "so `timeout` does not apply; set `timeout` under `with`",
    );
    has(
        &e,
        &format!(
            "rb.toml:{}: step `bad-selector`: `targets`: selector \"role in (a,b\"",
            at(&text, "\"role in (a,b\"")
        ),
    );
    has(
        &e,
        &format!(
            "rb.toml:{}: step `bad-allow-targets`: `allow_targets`: selector \"zone notin (\"",
            at(&text, "\"zone notin (\"")
        ),
    );
    assert_eq!(e.len(), 6, "{e:#?}");
}

#[test]
fn placeholder_values_are_named_in_problems() {
    let text = with_head(
        r#"
[params.bastion]
type = "string"
required = true
help = "Bastion CIDR"

[[steps]]
id = "s"
action = "firewall.block"
targets = "all"
with = { allow = ["${bastion}"] }
"#,
    );
    let e = errors(&text);
    assert_eq!(e.len(), 1, "{e:#?}");
    has(&e, "`allow`:");
    has(
        &e,
        "(checked with a placeholder for ${bastion}, which has no default)",
    );
}

#[test]
fn gates_are_checked() {
    let text = with_head(
        r#"
[[steps]]
id = "s"
action = "ssh.exec"
targets = "all"
with = { command = "true" }
[steps.gate]
action = "workload.kill"

[[steps]]
id = "t"
action = "ssh.exec"
targets = "all"
with = { command = "true" }
[steps.gate]
action = "wait.healthy"
targets = "all"
with = { max_error_rate = 2.0 }

[[steps]]
id = "u"
action = "pause"
with = { message = "m" }
[steps.gate]
action = "wait.healthy"
"#,
    );
    let e = errors(&text);
    has(
        &e,
        &format!(
            "rb.toml:{}: step `s` gate: workload.kill cannot be a gate",
            at(&text, "\"workload.kill\"")
        ),
    );
    has(
        &e,
        "step `t` gate: wait.healthy probes API endpoints (under `with`), so `targets` does not apply",
    );
    has(
        &e,
        &format!(
            "rb.toml:{}: step `t` gate: `max_error_rate`: 2 is not a share between 0.0 and 1.0",
            at(&text, "2.0 }")
        ),
    );
    has(
        &e,
        "step `u`: pause runs once, from the operator's machine, so `gate` does not apply",
    );
    assert_eq!(e.len(), 4, "{e:#?}");
}

#[test]
fn confirm_requires_a_cluster_parameter() {
    let text = r#"name = "t"
summary = "s"

[[steps]]
id = "block"
action = "firewall.block"
targets = "all"
"#;
    assert_eq!(
        errors(text),
        vec!["rb.toml:4:1: step `block`: firewall.block asks the operator to type the cluster name first, so the runbook needs a `cluster` parameter of type cluster (or set `confirm = false`)".to_owned()]
    );
    assert!(
        errors(&text.replace("targets = \"all\"", "targets = \"all\"\nconfirm = false")).is_empty()
    );
}

#[test]
fn top_level_requirements() {
    let e = errors("description = 1\nsteps = []\n");
    assert_eq!(
        e,
        vec![
            "rb.toml:1:1: missing `name` (e.g. name = \"apiserver-overload\")".to_owned(),
            "rb.toml:1:1: missing `summary` (one line for `runbook list`)".to_owned(),
            "rb.toml:1:15: `description` must be a string, not an integer".to_owned(),
            "rb.toml:2:9: `steps` is empty: add at least one [[steps]] table".to_owned(),
        ]
    );
    let e = errors("name = \"Not OK\"\nsummary = \"two\\nlines\"\n");
    assert_eq!(
        e,
        vec![
            "rb.toml:1:1: missing `steps`: add at least one [[steps]] table".to_owned(),
            "rb.toml:1:8: `name` \"Not OK\": use lowercase letters, digits and `-`".to_owned(),
            "rb.toml:2:11: `summary` is one non-empty line".to_owned(),
        ]
    );
}

#[test]
fn every_problem_is_reported_in_file_order() {
    let text = format!(
        "bogus = 1\n{HEAD}{}",
        r#"
[[steps]]
id = "a"
action = "nope"
targets = "all"
waves = [3, 2]

[[steps]]
id = "a"
action = "ssh.exec"
targets = "${undeclared}"
with = { command = "x", extra = 1 }
"#,
    );
    let e = parse(&text).expect_err("invalid");
    assert_eq!(e.diagnostics.len(), 7, "{e}");
    let lines: Vec<usize> = e.diagnostics.iter().map(|d| d.line).collect();
    let mut sorted = lines.clone();
    sorted.sort_unstable();
    assert_eq!(lines, sorted);
    assert!(e.to_string().lines().all(|l| l.starts_with("rb.toml:")));
}
