//! Tests of the typed arguments: parsing, defaults and validation.

use super::*;

fn parse(kind: ActionKind, text: &str) -> Result<ActionArgs, String> {
    let value: toml::Value = toml::from_str(text).expect("test toml");
    kind.parse_args(value)
}

#[test]
fn kinds_round_trip_by_name() {
    for kind in ActionKind::ALL {
        assert_eq!(ActionKind::from_name(kind.name()), Some(kind));
        let json = serde_json::to_string(&kind).expect("serialize");
        assert_eq!(json, format!("\"{}\"", kind.name()));
    }
    assert_eq!(ActionKind::from_name("firewall.blok"), None);
}

#[test]
fn fields_come_from_the_structs() {
    assert_eq!(ActionKind::SshExec.fields(), &["command", "idempotent"]);
    assert_eq!(
        ActionKind::FirewallBlock.fields(),
        &[
            "direction",
            "to",
            "ports",
            "allow",
            "allow_any",
            "allow_targets",
            "revert_after",
            "revert_after_limits",
            "cut_established",
            "backend"
        ]
    );
    for kind in ActionKind::ALL {
        assert!(!kind.fields().is_empty(), "{kind}");
        for field in kind.shell_fields() {
            assert!(kind.fields().contains(field), "{kind}: {field}");
        }
    }
}

#[test]
fn defaults_apply() {
    let ActionArgs::FirewallBlock(block) = parse(ActionKind::FirewallBlock, "").expect("ok") else {
        panic!("kind")
    };
    assert_eq!(block.ingress_ports(), vec![6443]);
    assert_eq!(block.direction, Direction::Ingress);
    assert_eq!(block.to, None);
    assert_eq!(block.revert_after, Duration::from_secs(1200));
    assert!(block.cut_established);
    assert_eq!(block.backend, FirewallBackend::Auto);

    let ActionArgs::WaitHealthy(wait) = parse(ActionKind::WaitHealthy, "").expect("ok") else {
        panic!("kind")
    };
    assert_eq!(wait.paths, vec!["/readyz", "/livez"]);
    assert_eq!(wait.timeout, Duration::from_secs(600));
    assert!(!wait.etcd);
    assert!(wait.validate().is_empty());
}

#[test]
fn typed_fields_reject_wrong_values() {
    let err = parse(ActionKind::FirewallBlock, "allow = [\"10.0.0.0/33\"]").expect_err("cidr");
    assert!(err.contains("`10.0.0.0/33` is not a CIDR"), "{err}");
    let err = parse(ActionKind::FirewallBlock, "ports = [70000]").expect_err("port");
    assert!(err.contains("u16"), "{err}");
    let err = parse(ActionKind::FirewallBlock, "revert_after = \"soon\"").expect_err("dur");
    assert!(err.contains("`soon` is not a duration"), "{err}");
    let err = parse(ActionKind::FirewallBlock, "backend = \"pf\"").expect_err("backend");
    assert!(err.contains("unknown variant `pf`"), "{err}");
    let err = parse(ActionKind::SshExec, "command = \"x\"\ncmd = 1").expect_err("unknown");
    assert!(err.starts_with("unknown field `cmd`"), "{err}");
    let err = parse(ActionKind::Pause, "").expect_err("missing");
    assert_eq!(err, "missing field `message`");
}

#[test]
fn flag_values_accept_scalars() {
    let ActionArgs::ApiserversTune(tune) = parse(
        ActionKind::ApiserversTune,
        "set = { \"--max-requests-inflight\" = 1200, \"--profiling\" = false, \"--v\" = \"2\" }",
    )
    .expect("ok") else {
        panic!("kind")
    };
    assert_eq!(tune.set["--max-requests-inflight"], "1200");
    assert_eq!(tune.set["--profiling"], "false");
    assert!(tune.validate().is_empty());
}

#[test]
fn validate_names_the_field() {
    let args = parse(
        ActionKind::ApiserversTune,
        "manifest = \"kube.yaml\"\nset = { \"max\" = \"1\", \"--v\" = \"1\\n- --evil\" }\nremove = [\"--v\"]",
    )
    .expect("typed");
    let fields: Vec<_> = args.validate().into_iter().map(|p| p.field).collect();
    assert_eq!(
        fields,
        vec![Some("manifest"), Some("set"), Some("set"), Some("remove")]
    );

    let args = parse(ActionKind::WorkloadKill, "namespace = \"Kube_System\"").expect("typed");
    let problems = args.validate();
    assert_eq!(problems[0].field, Some("namespace"));
    assert_eq!(problems[1].field, None);

    let args = parse(
        ActionKind::WaitHealthy,
        "max_error_rate = 1.5\nwindow = \"1s\"\ninterval = \"2s\"\ntimeout = \"0s\"",
    )
    .expect("typed");
    let fields: Vec<_> = args.validate().into_iter().map(|p| p.field).collect();
    assert_eq!(
        fields,
        vec![Some("max_error_rate"), Some("window"), Some("timeout")]
    );
}

#[test]
fn wait_healthy_probes_no_path_only_with_etcd() {
    let args = parse(ActionKind::WaitHealthy, "paths = []").expect("typed");
    let problems = args.validate();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].field, Some("paths"));
    assert!(problems[0].message.contains("etcd = true"), "{problems:?}");
    let args = parse(ActionKind::WaitHealthy, "paths = []\netcd = true").expect("typed");
    assert!(args.validate().is_empty());
}

#[test]
fn quiesce_defaults_and_inverse_order() {
    let q = NodesQuiesce {
        stop_runtime: true,
        ..NodesQuiesce::default()
    };
    assert_eq!(
        q.stop_commands(),
        vec!["systemctl stop kubelet", "systemctl stop containerd"]
    );
    assert_eq!(
        q.start_commands(),
        vec!["systemctl start containerd", "systemctl start kubelet"]
    );
    let q = NodesQuiesce {
        stop_runtime: true,
        stop_commands: Some(vec!["rc-service kubelet stop".into()]),
        start_commands: None,
    };
    assert_eq!(q.validate()[0].field, Some("stop_runtime"));
}

#[test]
fn args_serialize_tagged_and_round_trip() {
    let args = parse(ActionKind::FirewallBlock, "allow = [\"192.0.2.0/24\"]").expect("ok");
    let json = serde_json::to_value(&args).expect("serialize");
    assert_eq!(json["action"], "firewall.block");
    assert_eq!(json["with"]["revert_after"], "20m");
    let back: ActionArgs = serde_json::from_value(json).expect("deserialize");
    assert_eq!(back, args);
}

#[test]
fn revert_after_is_bounded_before_any_plan_is_shown() {
    let problems = |text: &str| -> Vec<String> {
        let Ok(ActionArgs::FirewallBlock(b)) = parse(ActionKind::FirewallBlock, text) else {
            panic!("{text}")
        };
        b.validate().into_iter().map(|p| p.message).collect()
    };
    // 1ms armed no timer at all (whole seconds on the node); 8000y aborted the process.
    let tiny = problems("revert_after = \"1ms\"");
    assert!(
        tiny[0].contains("not a whole number of seconds"),
        "{tiny:?}"
    );
    let short = problems("revert_after = \"30s\"");
    assert!(
        short[0].starts_with("30s is outside 1m to 1day")
            && short[0].contains("widen `revert_after_limits` (within 10s to 7days)"),
        "{short:?}"
    );
    let huge = problems("revert_after = \"8000y\"");
    assert!(huge[0].contains("is outside 1m to 1day"), "{huge:?}");
    for ok in [
        "",
        "revert_after = \"0s\"",
        "revert_after = \"1m\"",
        "revert_after = \"1d\"",
    ] {
        assert!(problems(ok).is_empty(), "{ok}");
    }
    // Overridable, within the hard limits.
    assert!(problems("revert_after = \"30s\"\nrevert_after_limits = [\"20s\", \"3d\"]").is_empty());
    let hard = problems("revert_after = \"30s\"\nrevert_after_limits = [\"1s\", \"8000y\"]");
    assert!(
        hard[0].contains("is not within the hard limits of 10s to 7days"),
        "{hard:?}"
    );
    let err = parse(ActionKind::FirewallBlock, "revert_after_limits = [\"1m\"]").expect_err("one");
    assert!(err.contains("write two durations"), "{err}");
}

/// Issue #11, point 10: an allowlist of everything, and in-flight limits that are not positive.
#[test]
fn allow_everything_and_unbounded_inflight_are_refused() {
    let args = parse(
        ActionKind::FirewallBlock,
        "allow = [\"10.0.0.0/8\", \"::/0\"]",
    )
    .expect("typed");
    let problems = args.validate();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].field, Some("allow"));
    assert!(
        problems[0].message.contains("::/0 allows every source"),
        "{problems:?}"
    );
    let args = parse(
        ActionKind::FirewallBlock,
        "allow = [\"0.0.0.0/0\"]\nallow_any = true",
    )
    .expect("typed");
    assert!(args.validate().is_empty());
    let err = parse(ActionKind::FirewallBlock, "allow = [\"0.0.0.0\"]").expect_err("0.0.0.0");
    assert!(err.contains("the unspecified address"), "{err}");

    for value in ["0", "-5", "lots", "1.5"] {
        let args = parse(
            ActionKind::ApiserversTune,
            &format!("set = {{ \"--max-mutating-requests-inflight\" = \"{value}\" }}"),
        )
        .expect("typed");
        let problems = args.validate();
        assert_eq!(problems.len(), 1, "{value}: {problems:?}");
        assert!(
            problems[0].message.contains("not a positive whole number"),
            "{problems:?}"
        );
    }
}

/// Issue #9: the egress direction, its destinations and ports, refused when they make no sense.
#[test]
fn egress_blocks_name_their_destinations_and_ports() {
    let problems = |text: &str| -> Vec<(Option<&'static str>, String)> {
        let Ok(ActionArgs::FirewallBlock(b)) = parse(ActionKind::FirewallBlock, text) else {
            panic!("{text}")
        };
        b.validate()
            .into_iter()
            .map(|p| (p.field, p.message))
            .collect()
    };
    // From the inventory (no `to`), or `to` with its ports.
    assert!(problems("direction = \"egress\"").is_empty());
    assert!(problems("direction = \"egress\"\nports = [443]").is_empty());
    assert!(problems("direction = \"egress\"\nto = [\"10.0.12.0/24\"]\nports = [443]").is_empty());
    let p = problems("direction = \"egress\"\nto = []\nports = [443]");
    assert_eq!(p[0].0, Some("to"));
    assert!(p[0].1.starts_with("an empty list blocks nothing"), "{p:?}");
    let p = problems("direction = \"egress\"\nto = [\"10.0.12.0/24\"]");
    assert!(p[0].1.starts_with("with `to`, give `ports` too"), "{p:?}");
    let p = problems("direction = \"egress\"\nto = [\"0.0.0.0/0\"]\nports = [443]");
    assert!(
        p[0].1.starts_with("0.0.0.0/0 is every destination"),
        "{p:?}"
    );
    assert!(
        problems("direction = \"egress\"\nto = [\"::/0\"]\nports = [443]\nallow_any = true")
            .is_empty()
    );
    let p = problems("direction = \"egress\"\nallow = [\"0.0.0.0/0\"]");
    assert!(p[0].1.contains("allows every destination"), "{p:?}");
    // `to` on an ingress block is a mistake, not a setting ignored.
    let p = problems("to = [\"10.0.12.0/24\"]\nports = [443]");
    assert_eq!(p[0].0, Some("to"));
    assert!(p[0].1.contains("only an egress block has"), "{p:?}");
    let p = problems("direction = \"egress\"\nports = []");
    assert_eq!(p[0].0, Some("ports"));
    let err = parse(ActionKind::FirewallBlock, "direction = \"out\"").expect_err("direction");
    assert!(err.contains("unknown variant `out`"), "{err}");
    let err = parse(ActionKind::FirewallBlock, "to = [\"api.example\"]").expect_err("name");
    assert!(err.contains("is not a CIDR"), "{err}");
}
