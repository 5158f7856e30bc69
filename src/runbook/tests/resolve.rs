//! Tests of binding parameters, resolving steps, and the shipped runbooks.

use std::time::Duration;

use super::*;

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn bind_parses_by_type_and_applies_defaults() {
    let rb = parse(GOOD).expect("valid");
    let bound = bind(
        &rb,
        &pairs(&[
            ("cluster", "prod-eu1"),
            ("allow", "10.0.0.0/8, 192.0.2.7,10.1.2.3/16"),
            ("inflight", "1600"),
        ]),
    )
    .expect("binds");
    assert_eq!(
        bound.get("cluster"),
        Some(&ParamValue::String("prod-eu1".into()))
    );
    assert_eq!(
        bound.get("allow").map(ParamValue::to_text).as_deref(),
        Some("10.0.0.0/8,192.0.2.7/32,10.1.0.0/16")
    );
    assert_eq!(bound.get("inflight"), Some(&ParamValue::Integer(1600)));
    assert_eq!(
        bound.get("cp"),
        Some(&ParamValue::Selector("role=control-plane".into()))
    );
    // The journaled pairs bind back to the same values.
    assert_eq!(bind(&rb, &bound.to_pairs()).expect("rebinds"), bound);
    let json = serde_json::to_value(&bound).expect("serialize");
    assert_eq!(json["inflight"], "1600");
}

#[test]
fn bind_reports_every_problem() {
    let rb = parse(GOOD).expect("valid");
    let err = bind(
        &rb,
        &pairs(&[
            ("clustr", "x"),
            ("allow", "10.0.0.0/8,not-a-net"),
            ("inflight", "lots"),
            ("cp", "role in (a"),
            ("cmd_arg", "a"),
            ("cmd_arg", "b"),
        ]),
    )
    .expect_err("invalid");
    assert_eq!(
        err.problems,
        vec![
            "runbook `test` has no parameter `clustr` (did you mean `cluster`?)".to_owned(),
            "parameter `allow` (cidr_list): `not-a-net` is not a CIDR such as 10.0.0.0/8 or an IP address".to_owned(),
            "parameter `inflight` (integer): `lots` is not an integer".to_owned(),
            err.problems[3].clone(),
            "parameter `cmd_arg` is given twice".to_owned(),
            "missing required parameter `cluster` (string): Cluster; pass -p cluster=VALUE".to_owned(),
        ]
    );
    assert!(
        err.problems[3].starts_with("parameter `cp` (selector): selector \"role in (a\""),
        "{}",
        err.problems[3]
    );
    assert_eq!(err.to_string().lines().count(), 6);
}

#[test]
fn param_types_parse_text() {
    assert_eq!(
        ParamType::Duration.parse_text("1h30m"),
        Ok(ParamValue::Duration(Duration::from_secs(5400)))
    );
    assert!(ParamType::Duration.parse_text("soon").is_err());
    assert_eq!(
        ParamType::Bool.parse_text("yes"),
        Ok(ParamValue::Bool(true))
    );
    assert_eq!(
        ParamType::Bool.parse_text("false"),
        Ok(ParamValue::Bool(false))
    );
    assert!(ParamType::Bool.parse_text("maybe").is_err());
    assert_eq!(
        ParamType::Integer.parse_text("-3"),
        Ok(ParamValue::Integer(-3))
    );
    assert_eq!(
        ParamType::CidrList.parse_text(""),
        Ok(ParamValue::CidrList(Vec::new()))
    );
    assert_eq!(
        ParamType::CidrList
            .parse_text("2001:db8::1")
            .map(|v| v.to_text()),
        Ok("2001:db8::1/128".to_owned())
    );
    assert_eq!(
        ParamType::String.parse_text("; rm -rf /"),
        Ok(ParamValue::String("; rm -rf /".into()))
    );
    for ty in ParamType::ALL {
        assert_eq!(ParamType::from_name(ty.name()), Some(ty));
        // Every placeholder is a valid value of its type, written back and parsed again.
        let text = ty.placeholder().to_text();
        assert_eq!(ty.parse_text(&text), Ok(ty.placeholder()), "{ty}");
    }
}

#[test]
fn resolve_substitutes_typed_values() {
    let rb = parse(GOOD).expect("valid");
    let bound = bind(
        &rb,
        &pairs(&[("cluster", "prod"), ("cmd_arg", "$(reboot); `id` 'x'")]),
    )
    .expect("binds");
    let resolved = resolve(&rb, &bound).expect("resolves");
    assert_eq!(resolved.cluster.as_deref(), Some("prod"));
    assert_eq!(resolved.steps.len(), 4);

    let block = &resolved.steps[0];
    assert_eq!(
        block.targets.as_deref(),
        Some("cluster=prod,role=control-plane")
    );
    let ActionArgs::FirewallBlock(args) = &block.action else {
        panic!("kind")
    };
    let allow: Vec<String> = args.allow.iter().map(ToString::to_string).collect();
    assert_eq!(allow, vec!["192.0.2.0/24", "198.51.100.7/32"]);
    assert_eq!(args.allow_targets.as_deref(), Some("role=control-plane"));

    let echo = &resolved.steps[1];
    let ActionArgs::SshExec(args) = &echo.action else {
        panic!("kind")
    };
    // The hostile value is one quoted word; `$${HOME}` became a literal `${HOME}`.
    let words = shlex::split(&args.command).expect("splits");
    assert_eq!(words, vec!["echo", "$(reboot); `id` 'x'", "${HOME}"]);
    let gate = echo.gate.as_ref().expect("gate");
    assert_eq!(gate.timeout, Duration::from_secs(180));
    let ActionArgs::WaitHealthy(w) = &gate.action else {
        panic!("gate kind")
    };
    assert_eq!(w.endpoints[0].to_string(), "10.0.0.10:6443");

    let ActionArgs::ApiserversTune(tune) = &resolved.steps[2].action else {
        panic!("kind")
    };
    assert_eq!(tune.set["--max-requests-inflight"], "1200");
    assert_eq!(resolved.steps[3].targets, None);
}

#[test]
fn resolve_reports_values_that_do_not_fit_where_used() {
    let text = with_head(
        r#"
[params.bastion]
type = "string"
default = "192.0.2.0/24"
help = "Bastion CIDR"

[params.nodes]
type = "string"
default = "role=worker"
help = "Nodes"

[[steps]]
id = "s"
action = "firewall.block"
targets = "${nodes}"
confirm = false
with = { allow = ["${bastion}"] }
"#,
    );
    let rb = parse(&text).expect("valid with the defaults");
    let bound = bind(
        &rb,
        &pairs(&[
            ("cluster", "c"),
            ("bastion", "the bastion"),
            ("nodes", "a in ("),
        ]),
    )
    .expect("strings bind");
    let err = resolve(&rb, &bound).expect_err("does not fit");
    let e: Vec<String> = err.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(e.len(), 2, "{e:#?}");
    has(
        &e,
        &format!(
            "rb.toml:{}: step `s`: `targets`: `${{nodes}}` is `a in (`, which is not a single value",
            at(&text, "\"${nodes}\"")
        ),
    );
    has(
        &e,
        &format!(
            "rb.toml:{}: step `s`: `allow`: ",
            at(&text, "[\"${bastion}\"]")
        ),
    );
    has(&e, "the bastion");
}

#[test]
fn shell_commands_refuse_nul_at_resolve() {
    let rb = parse(GOOD).expect("valid");
    let bound = bind(&rb, &pairs(&[("cluster", "c"), ("cmd_arg", "a\0b")])).expect("binds");
    let err = resolve(&rb, &bound).expect_err("nul");
    assert!(err.to_string().contains("NUL byte"), "{err}");
}

#[test]
fn resolved_steps_serialize_and_round_trip() {
    let rb = parse(GOOD).expect("valid");
    let bound = bind(&rb, &pairs(&[("cluster", "c")])).expect("binds");
    let resolved = resolve(&rb, &bound).expect("resolves");
    let json = serde_json::to_value(&resolved).expect("serialize");
    assert_eq!(json["steps"][0]["action"], "firewall.block");
    assert_eq!(
        json["steps"][0]["waves"],
        serde_json::json!([1, "50%", "100%"])
    );
    assert_eq!(json["steps"][0]["failure_budget"], "10%");
    assert_eq!(json["steps"][1]["timeout"], "30s");
    assert_eq!(json["steps"][1]["gate"]["action"], "wait.healthy");
    assert_eq!(json["params"]["cluster"], "c");
    for (i, step) in resolved.steps.iter().enumerate() {
        let back: ResolvedStep =
            serde_json::from_value(json["steps"][i].clone()).expect("deserialize");
        assert_eq!(&back, step);
    }
}

#[test]
fn shipped_runbooks_are_embedded_and_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("runbooks dir")
        .filter_map(|e| {
            let name = e.expect("entry").file_name().into_string().expect("utf8");
            name.strip_suffix(".toml").map(str::to_owned)
        })
        .collect();
    on_disk.sort();
    assert_eq!(embedded::names(), on_disk, "embed every file in runbooks/");
    for name in embedded::names() {
        let rb = embedded::get(name)
            .expect("listed")
            .unwrap_or_else(|e| panic!("{name} is invalid:\n{e}"));
        assert_eq!(rb.name, name, "a shipped runbook is named after its file");
        assert!(
            rb.steps.iter().all(|s| s.description.is_some()),
            "{name}: describe every step"
        );
        assert!(rb.params.iter().all(|p| !p.help.is_empty()));
        assert_eq!(rb.origin, format!("embedded:{name}.toml"));
    }
    let list = embedded::list();
    assert_eq!(list.len(), on_disk.len());
    assert!(
        list.iter()
            .all(|(_, summary)| !summary.starts_with("(invalid"))
    );
    assert!(embedded::get("nope").is_none());
}

#[test]
fn the_eks_runbook_resolves_with_realistic_parameters() {
    let eks = load_any("eks-apiserver-overload").expect("embedded");
    let bound = bind(
        &eks,
        &pairs(&[
            ("cluster", "prod-eu1"),
            ("allow_cidrs", "192.0.2.0/24"),
            ("workload_namespace", "observability"),
            ("workload_name", "telemetry-agent"),
        ]),
    )
    .expect("binds");
    let resolved = resolve(&eks, &bound).expect("resolves");
    let kinds: Vec<ActionKind> = resolved.steps.iter().map(|s| s.action.kind()).collect();
    assert_eq!(
        kinds,
        vec![
            ActionKind::NodesScale,
            ActionKind::CloudFirewallBlock,
            ActionKind::ApiserversScale,
            ActionKind::WorkloadPause,
            ActionKind::WaitHealthy,
            ActionKind::CloudFirewallUnblock,
            ActionKind::WorkloadCheck,
        ]
    );
    let ActionArgs::NodesScale(shrink) = &resolved.steps[0].action else {
        panic!("nodes.scale")
    };
    assert_eq!(shrink.to, Some(crate::actions::args::ScaleTo::Percent(30)));
    let ActionArgs::CloudFirewallBlock(block) = &resolved.steps[1].action else {
        panic!("block")
    };
    assert_eq!(block.allow[0].to_string(), "192.0.2.0/24");
    assert_eq!(
        block.on,
        Some(vec![crate::actions::args::CloudFirewallOn::EksEndpoint])
    );
    let ActionArgs::ApiserversScale(scale) = &resolved.steps[2].action else {
        panic!("apiservers.scale")
    };
    assert_eq!(scale.tier.as_deref(), Some("tier-xl"));
    let confirms: Vec<bool> = resolved.steps.iter().map(|s| s.confirm).collect();
    assert_eq!(confirms, vec![true, true, true, true, false, false, false]);

    // Issue #9: with the private endpoint on, the nodes themselves (`run_if = "${block_nodes}"`).
    let bound = bind(
        &eks,
        &pairs(&[
            ("cluster", "prod-eu1"),
            ("allow_cidrs", "192.0.2.0/24"),
            ("workload_namespace", "observability"),
            ("workload_name", "telemetry-agent"),
            ("block_nodes", "true"),
        ]),
    )
    .expect("binds");
    let nodes = resolve(&eks, &bound).expect("resolves");
    let ids: Vec<&str> = nodes.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "shrink-node-groups",
            "block-public-endpoint",
            "block-nodes-egress",
            "raise-control-plane-tier",
            "pause-workload",
            "wait-healthy",
            "unblock-public-endpoint",
            "unblock-nodes-egress",
            "check-object"
        ]
    );
    let ActionArgs::FirewallBlock(egress) = &nodes.steps[2].action else {
        panic!("firewall.block")
    };
    assert_eq!(egress.direction, crate::actions::args::Direction::Egress);
    assert_eq!(egress.to, None, "the inventory's endpoints");
    assert_eq!(egress.revert_after, Duration::from_secs(30 * 60));
    assert_eq!(
        nodes.steps[2].targets.as_deref(),
        Some("cluster=prod-eu1,role=worker")
    );
    assert!(nodes.steps[2].confirm);
    // No etcd on EKS: the API's pause has no etcd fallback.
    assert!(
        resolved
            .steps
            .iter()
            .all(|s| s.run_if_unreachable.is_none())
    );
}

/// GKE and AKS size their control planes themselves: their runbooks shrink the node pools and
/// cut the nodes on the nodes (the cloud's ranges cannot stop a cluster's own nodes there), the
/// endpoint's ranges only when asked.
#[test]
fn gke_and_aks_runbooks_cut_the_nodes_on_the_nodes_and_the_endpoint_only_when_asked() {
    for (name, lever) in [
        (
            "gke-apiserver-overload",
            crate::actions::args::CloudFirewallOn::GkeEndpoint,
        ),
        (
            "aks-apiserver-overload",
            crate::actions::args::CloudFirewallOn::AksEndpoint,
        ),
    ] {
        let rb = load_any(name).expect("embedded");
        let base = [
            ("cluster", "prod-eu1"),
            ("allow_cidrs", "192.0.2.0/24"),
            ("workload_namespace", "observability"),
            ("workload_name", "telemetry-agent"),
        ];
        let bound = bind(&rb, &pairs(&base)).expect("binds");
        let resolved = resolve(&rb, &bound).expect("resolves");
        let ids: Vec<&str> = resolved.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "shrink-node-groups",
                "block-nodes-egress",
                "pause-workload",
                "wait-healthy",
                "unblock-nodes-egress",
                "check-object"
            ],
            "{name}"
        );
        assert!(resolved.steps[0].skip_if_none, "{name}");
        let ActionArgs::FirewallBlock(egress) = &resolved.steps[1].action else {
            panic!("{name}: firewall.block")
        };
        assert_eq!(egress.direction, crate::actions::args::Direction::Egress);
        assert!(egress.cut_established);
        assert_eq!(
            resolved.steps[1].targets.as_deref(),
            Some("cluster=prod-eu1,role=worker")
        );
        // No etcd on a managed control plane: no fallback.
        assert!(
            resolved
                .steps
                .iter()
                .all(|s| s.run_if_unreachable.is_none())
        );

        let mut asked = base.to_vec();
        asked.extend([("block_endpoint", "true"), ("block_nodes", "false")]);
        let bound = bind(&rb, &pairs(&asked)).expect("binds");
        let resolved = resolve(&rb, &bound).expect("resolves");
        let ids: Vec<&str> = resolved.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "shrink-node-groups",
                "block-endpoint",
                "pause-workload",
                "wait-healthy",
                "unblock-endpoint",
                "check-object"
            ],
            "{name}"
        );
        let ActionArgs::CloudFirewallBlock(block) = &resolved.steps[1].action else {
            panic!("{name}: cloud.firewall.block")
        };
        assert_eq!(block.on, Some(vec![lever]));
        assert_eq!(block.allow[0].to_string(), "192.0.2.0/24");
    }
}

#[test]
fn shipped_runbooks_resolve_with_realistic_parameters() {
    let overload = load_any("apiserver-overload").expect("embedded");
    let bound = bind(
        &overload,
        &pairs(&[
            ("cluster", "prod-eu1"),
            ("allow_cidrs", "192.0.2.0/24"),
            ("workers_to_quiesce", "role=worker,zone=eu1-b"),
            ("workload_namespace", "observability"),
            ("workload_name", "telemetry-agent"),
        ]),
    )
    .expect("binds");
    let resolved = resolve(&overload, &bound).expect("resolves");
    let kinds: Vec<ActionKind> = resolved.steps.iter().map(|s| s.action.kind()).collect();
    assert_eq!(
        kinds,
        vec![
            ActionKind::FirewallBlock,
            ActionKind::NodesScale,
            ActionKind::NodesQuiesce,
            ActionKind::ApiserversTune,
            ActionKind::ApiserversScale,
            ActionKind::WorkloadPause,
            ActionKind::EtcdDelete,
            ActionKind::WorkloadKill,
            ActionKind::WaitHealthy,
            ActionKind::FirewallUnblock,
            ActionKind::WorkloadCheck,
            ActionKind::SshExec,
        ]
    );
    let ActionArgs::FirewallBlock(block) = &resolved.steps[0].action else {
        panic!("block")
    };
    assert_eq!(block.revert_after, Duration::from_secs(30 * 60));
    assert_eq!(block.allow[0].to_string(), "192.0.2.0/24");
    // The shrink is skipped where the inventory names no node groups; the steps on the nodes
    // after it count the nodes it terminated as unreachable, not failed.
    assert!(resolved.steps[1].skip_if_none);
    // More API servers where the inventory names the control plane's group, else skipped.
    assert!(resolved.steps[4].skip_if_none);
    let ActionArgs::ApiserversScale(more) = &resolved.steps[4].action else {
        panic!("apiservers.scale")
    };
    assert_eq!(
        (more.by, more.to, more.tier.as_deref()),
        (Some(2), None, None)
    );
    let ignoring: Vec<&str> = resolved
        .steps
        .iter()
        .filter(|s| s.ignore_unreachable)
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(ignoring, ["quiesce-workers", "kill-workload", "check-gone"]);
    assert_eq!(
        resolved.steps[2].targets.as_deref(),
        Some("cluster=prod-eu1,role=worker,zone=eu1-b")
    );
    let ActionArgs::WorkloadKill(kill) = &resolved.steps[7].action else {
        panic!("kill")
    };
    assert_eq!(kill.name_prefix.as_deref(), Some("telemetry-agent-"));
    let ActionArgs::EtcdDelete(del) = &resolved.steps[6].action else {
        panic!("etcd.delete")
    };
    assert_eq!(
        del.keys,
        ["/registry/daemonsets/observability/telemetry-agent"]
    );
    assert_eq!(
        resolved.steps[6].run_if_unreachable.as_deref(),
        Some("pause-workload")
    );
    let confirms: Vec<bool> = resolved.steps.iter().map(|s| s.confirm).collect();
    assert_eq!(
        confirms,
        vec![
            true, true, true, true, true, true, true, true, false, false, false, false
        ]
    );

    let triage = load_any("fleet-triage").expect("embedded");
    let bound = bind(&triage, &pairs(&[("cluster", "prod-eu1")])).expect("binds");
    let resolved = resolve(&triage, &bound).expect("resolves");
    assert!(
        resolved
            .steps
            .iter()
            .all(|s| matches!(&s.action, ActionArgs::SshExec(a) if a.idempotent))
    );
    assert!(resolved.steps.iter().all(|s| !s.confirm));

    let restore = load_any("restore-after-block").expect("embedded");
    let bound = bind(
        &restore,
        &pairs(&[("cluster", "prod-eu1"), ("stop_runtime", "true")]),
    )
    .expect("binds");
    let resolved = resolve(&restore, &bound).expect("resolves");
    let ActionArgs::NodesUnquiesce(q) = &resolved.steps[1].action else {
        panic!("unquiesce")
    };
    assert_eq!(
        q.start_commands(),
        vec!["systemctl start containerd", "systemctl start kubelet"]
    );
}

#[test]
fn fleet_triage_commands_run_in_a_real_shell() {
    // The triage commands are shell text in TOML; make sure they at least parse as sh.
    let triage = load_any("fleet-triage").expect("embedded");
    let bound = bind(
        &triage,
        &pairs(&[("cluster", "c"), ("workload_prefix", "it's; x")]),
    )
    .expect("binds");
    for step in resolve(&triage, &bound).expect("resolves").steps {
        let ActionArgs::SshExec(args) = step.action else {
            panic!("ssh.exec")
        };
        let out = std::process::Command::new("sh")
            .args(["-n", "-c", &args.command])
            .output()
            .expect("sh");
        assert!(
            out.status.success(),
            "{}: {}",
            step.id,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn load_any_finds_names_and_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("custom.toml");
    std::fs::write(&path, GOOD).expect("write");
    let rb = load_any(path.to_str().expect("utf8")).expect("file");
    assert_eq!(rb.name, "test");
    assert_eq!(rb.origin, path.display().to_string());

    let err = load_any("apiserver-overlod").expect_err("unknown");
    assert!(err.to_string().starts_with("apiserver-overlod: neither a shipped runbook nor a file (did you mean `apiserver-overload`?)"), "{err}");
    let err = load_any("/nonexistent/rb.toml").expect_err("missing");
    assert!(
        err.to_string()
            .starts_with("/nonexistent/rb.toml: cannot read the runbook"),
        "{err}"
    );

    std::fs::write(&path, "name = 1\n").expect("write");
    let err = Runbook::load(&path).expect_err("invalid");
    assert!(
        err.to_string()
            .contains(&format!("{}:1:8: `name` must be a string", path.display())),
        "{err}"
    );
}

#[test]
fn a_fallback_names_an_earlier_step_that_lets_the_run_go_on() {
    let text = with_head(
        r#"
[[steps]]
id = "first"
action = "ssh.exec"
targets = "all"
[steps.with]
command = "true"

[[steps]]
id = "second"
action = "pause"
run_if_unreachable = "first"
[steps.with]
message = "m"

[[steps]]
id = "third"
action = "pause"
run_if_unreachable = "later"
[steps.with]
message = "m"

[[steps]]
id = "later"
action = "pause"
[steps.with]
message = "m"
"#,
    );
    let e = errors(&text);
    has(
        &e,
        "step `second`: `run_if_unreachable = \"first\"` needs step `first` to say `on_failure = \"continue\"`",
    );
    has(
        &e,
        "step `third`: `run_if_unreachable` names `later`, which is not an earlier step",
    );
    let ok = text
        .replace("command = \"true\"", "command = \"true\"\n")
        .replace(
            "targets = \"all\"\n",
            "targets = \"all\"\non_failure = \"continue\"\n",
        );
    let e = errors(&ok);
    assert!(!e.iter().any(|m| m.contains("step `second`")), "{e:?}");
}

#[test]
fn a_string_parameter_cannot_widen_a_selector_and_clusters_are_one_value() {
    // `-p cluster='lab except nothing'` turned `cluster=${cluster},role=control-plane` into
    // `cluster=lab except nothing,role=control-plane`: the whole cluster.
    let text = with_head(
        r#"
[params.role]
type = "string"
default = "control-plane"
help = "Which hosts"

[[steps]]
id = "s"
action = "ssh.exec"
targets = "cluster=${cluster},role=${role}"
with = { command = "true" }
"#,
    );
    let rb = parse(&text).expect("valid");
    for (name, value) in [("role", "x except nothing"), ("role", "a,b")] {
        let bound = bind(&rb, &pairs(&[("cluster", "lab"), (name, value)])).expect("binds");
        let err = resolve(&rb, &bound).expect_err("widened");
        let e: Vec<String> = err.diagnostics.iter().map(ToString::to_string).collect();
        has(
            &e,
            &format!("`${{{name}}}` is `{value}`, which is not a single value"),
        );
    }
    let bound = bind(&rb, &pairs(&[("cluster", "lab")])).expect("binds");
    let ok = resolve(&rb, &bound).expect("one value each");
    assert_eq!(
        ok.steps[0].targets.as_deref(),
        Some("cluster=lab,role=control-plane")
    );

    // The `cluster` type takes one label value, so it cannot carry selector syntax either.
    assert_eq!(
        ParamType::Cluster.parse_text("prod-east"),
        Ok(ParamValue::Cluster("prod-east".into()))
    );
    for bad in ["", "lab except nothing", "a,b", "-x"] {
        let err = ParamType::Cluster.parse_text(bad).expect_err(bad);
        assert!(err.contains("is not a cluster name"), "{err}");
    }
}

/// Issue #11, point 10: `-p max_inflight=-5` reached the API servers' manifests (and 0 removes
/// the limit), and `-p allow_cidrs=0.0.0.0/0` turned the block into one that blocks nothing.
#[test]
fn numeric_and_network_parameters_carry_bounds() {
    let overload = load_any("apiserver-overload").expect("embedded");
    let base = [
        ("cluster", "prod-eu1"),
        ("workers_to_quiesce", "role=worker"),
        ("workload_namespace", "observability"),
        ("workload_name", "telemetry-agent"),
    ];
    let with = |extra: &[(&str, &str)]| {
        let mut given = base.to_vec();
        given.extend_from_slice(extra);
        bind(&overload, &pairs(&given))
    };
    let err =
        with(&[("allow_cidrs", "192.0.2.0/24"), ("max_inflight", "-5")]).expect_err("negative");
    assert_eq!(
        err.problems,
        ["parameter `max_inflight` (integer): -5 is below the minimum 1"]
    );
    with(&[("allow_cidrs", "192.0.2.0/24"), ("max_inflight", "0")]).expect_err("zero");
    with(&[("allow_cidrs", "192.0.2.0/24"), ("settle_seconds", "99999")]).expect_err("max");
    for (cidr, problem) in [
        ("0.0.0.0", "the unspecified address"),
        ("255.255.255.255", "the broadcast address"),
        ("224.0.0.0/4", "a multicast range"),
        ("ff02::1", "a multicast address"),
    ] {
        let err = with(&[("allow_cidrs", cidr)]).expect_err(cidr);
        assert!(err.problems[0].contains(problem), "{cidr}: {err}");
    }
    // `0.0.0.0/0` binds (it is a network) but the block refuses it: the step says no allow_any.
    let bound = with(&[("allow_cidrs", "10.0.0.0/8,0.0.0.0/0")]).expect("binds");
    let err = resolve(&overload, &bound).expect_err("allow everything");
    assert!(
        err.to_string()
            .contains("0.0.0.0/0 allows every source, so the block would block nothing"),
        "{err}"
    );
    // An IPv4-mapped address is the IPv4 address: it lands in the set IPv4 packets meet.
    let bound = with(&[("allow_cidrs", "::ffff:192.0.2.7,::ffff:10.0.0.0/104")]).expect("binds");
    assert_eq!(
        bound.get("allow_cidrs").map(ParamValue::to_text).as_deref(),
        Some("192.0.2.7/32,10.0.0.0/8")
    );
}

#[test]
fn integer_bounds_are_checked_where_they_are_written() {
    let rb = |fields: &str| {
        with_head(&format!(
            "\n[params.n]\ntype = \"integer\"\n{fields}help = \"N\"\n\n[[steps]]\nid = \"s\"\naction = \"pause\"\n[steps.with]\nmessage = \"m\"\n"
        ))
    };
    for (fields, expected) in [
        (
            "min = 1\nmax = 10\ndefault = 20\n",
            "`default`: 20 is outside 1 to 10",
        ),
        ("default = -1\n", "`default`: -1 is below the minimum 0"),
        (
            "min = 5\nmax = 1\ndefault = 5\n",
            "`max` 1 is below `min` 5",
        ),
        ("min = \"1\"\ndefault = 5\n", "parameter `n`: `min`"),
    ] {
        has(&errors(&rb(fields)), expected);
    }
    let text = rb("min = -10\ndefault = -3\n");
    let parsed = parse(&text).expect("negative allowed when the runbook says so");
    let bound = bind(&parsed, &pairs(&[("cluster", "c"), ("n", "-10")])).expect("binds");
    assert_eq!(bound.get("n"), Some(&ParamValue::Integer(-10)));
    let string_min = with_head(
        "\n[params.s]\ntype = \"string\"\nmin = 1\ndefault = \"x\"\nhelp = \"S\"\n\n[[steps]]\nid = \"s\"\naction = \"pause\"\n[steps.with]\nmessage = \"m\"\n",
    );
    has(
        &errors(&string_min),
        "`min` bounds an integer parameter, not a string one",
    );
}

/// Issue #9: `run_if = "${PARAM}"` names a bool parameter; false leaves the step out.
#[test]
fn run_if_names_a_bool_parameter_and_false_leaves_the_step_out() {
    let text = with_head(
        r#"
[params.on]
type = "bool"
default = false
help = "h"

[[steps]]
id = "maybe"
action = "firewall.block"
run_if = "${on}"
targets = "all"
[steps.with]
direction = "egress"

[[steps]]
id = "bad"
action = "pause"
run_if = "${cluster}"
[steps.with]
message = "m"

[[steps]]
id = "worse"
action = "pause"
run_if = "yes"
[steps.with]
message = "m"
"#,
    );
    let e = errors(&text);
    has(
        &e,
        &format!(
            "{}: step `bad`: `run_if` is `${{cluster}}`; expected \"${{PARAM}}\" naming a parameter of type \"bool\"",
            at(&text, "\"${cluster}\"")
        ),
    );
    has(&e, "step `worse`: `run_if` is `yes`; expected");
    assert!(!e.iter().any(|m| m.contains("`maybe`")), "{e:?}");

    let ok = text
        .replace("run_if = \"${cluster}\"\n", "")
        .replace("run_if = \"yes\"\n", "");
    let runbook = parse(&ok).expect("valid");
    for (on, steps) in [
        ("false", vec!["bad", "worse"]),
        ("true", vec!["maybe", "bad", "worse"]),
    ] {
        let bound = bind(&runbook, &pairs(&[("cluster", "c"), ("on", on)])).expect("binds");
        let resolved = resolve(&runbook, &bound).expect("resolves");
        let ids: Vec<&str> = resolved.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, steps, "on = {on}");
    }
}

/// Issue #9: an egress block that names no destination, or all of them, is refused where it is
/// written.
#[test]
fn egress_blocks_without_a_sensible_destination_are_refused_where_written() {
    let text = with_head(
        r#"
[[steps]]
id = "empty"
action = "firewall.block"
targets = "all"
[steps.with]
direction = "egress"
to = []
ports = [443]

[[steps]]
id = "world"
action = "firewall.block"
targets = "all"
[steps.with]
direction = "egress"
to = ["0.0.0.0/0"]
ports = [443]
"#,
    );
    let e = errors(&text);
    has(
        &e,
        &format!(
            "{}: step `empty`: `to`: an empty list blocks nothing",
            at(&text, "[]")
        ),
    );
    has(
        &e,
        &format!(
            "{}: step `world`: `to`: 0.0.0.0/0 is every destination",
            at(&text, "[\"0.0.0.0/0\"]")
        ),
    );
}
