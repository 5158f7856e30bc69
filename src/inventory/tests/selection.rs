//! Selection over loaded inventories.

use super::*;

const FLEET: &str = r#"[clusters.east]
[clusters.west]
labels = { region = "us-west" }

[groups]
workers = "role=worker"
gpu-workers = "@workers,gpu"
not-gpu = "all except @gpu-workers"

[[hosts]]
name = "bastion"
address = "192.0.2.1"
labels = { role = "bastion" }

[[hosts]]
name = "cp[1-3]"
address = "10.0.0.[1-3]"
cluster = "east"
labels = { role = "control-plane" }

[[hosts]]
name = "node[01-10]"
address = "10.0.1.[1-10]"
cluster = "east"
labels = { role = "worker" }

[[hosts]]
name = "gpu[1-2]"
address = "10.0.2.[1-2]"
cluster = "west"
labels = { role = "worker", gpu = "a100" }

[[hosts]]
name = "node11"
address = "10.0.1.11"
cluster = "west"
labels = { role = "worker", drained = "" }
"#;

fn fleet() -> Inventory {
    toml(FLEET).unwrap()
}

fn pick(inv: &Inventory, selector: &str) -> String {
    let selector = Selector::parse(selector).unwrap();
    hostset::fold(names(inv.select(&selector).unwrap()))
}

/// The error of a selector that parses but cannot be evaluated.
fn pick_err(inv: &Inventory, selector: &str) -> String {
    let parsed = Selector::parse(selector).unwrap();
    match inv.select(&parsed) {
        Ok(hosts) => panic!("{selector}: picked {}", hostset::fold(names(hosts))),
        Err(e) => e.to_string(),
    }
}

#[test]
fn label_requirements() {
    let inv = fleet();
    assert_eq!(pick(&inv, "all"), "bastion,cp[1-3],gpu[1-2],node[01-11]");
    assert_eq!(pick(&inv, "*"), pick(&inv, "all"));
    assert_eq!(pick(&inv, "role=worker"), "gpu[1-2],node[01-11]");
    assert_eq!(pick(&inv, "role==worker"), pick(&inv, "role=worker"));
    assert_eq!(pick(&inv, "role!=worker"), "bastion,cp[1-3]");
    // != and notin match hosts without the label (Kubernetes semantics).
    assert_eq!(pick(&inv, "gpu!=a100"), "bastion,cp[1-3],node[01-11]");
    assert_eq!(
        pick(&inv, "role in (bastion, control-plane)"),
        "bastion,cp[1-3]"
    );
    assert_eq!(pick(&inv, "role notin (worker)"), "bastion,cp[1-3]");
    assert_eq!(
        pick(&inv, "gpu notin (a100)"),
        "bastion,cp[1-3],node[01-11]"
    );
    assert_eq!(pick(&inv, "gpu in (a100)"), "gpu[1-2]");
    // A bare word that is no host's name but is a label key means "the label exists".
    assert_eq!(pick(&inv, "gpu"), "gpu[1-2]");
    assert_eq!(pick(&inv, "!gpu,role=worker"), "node[01-11]");
    assert_eq!(pick(&inv, "drained"), "node11");
    assert_eq!(pick(&inv, "drained="), "node11");
    // Requirements are ANDed; cluster labels are inherited; cluster=NAME is set.
    assert_eq!(pick(&inv, "role=worker,region=us-west"), "gpu[1-2],node11");
    assert_eq!(
        pick(&inv, "cluster=east,role!=control-plane"),
        "node[01-10]"
    );
    assert!(pick_err(&inv, "role=nope").starts_with("\"role=nope\" matches no host"));
}

#[test]
fn host_patterns_groups_and_except() {
    let inv = fleet();
    // A bare word that is a host's name is that host.
    assert_eq!(pick(&inv, "bastion"), "bastion");
    assert_eq!(pick(&inv, "node0*"), "node[01-09]");
    assert_eq!(pick(&inv, "cp?"), "cp[1-3]");
    assert_eq!(pick(&inv, "node[01-03],cp[2-3]"), "cp[2-3],node[01-03]");
    assert_eq!(pick(&inv, "10.0.1.[1-3]"), "node[01-03]");
    assert_eq!(pick(&inv, "10.0.0.2"), "cp2");
    assert_eq!(pick(&inv, "10.0.2.*"), "gpu[1-2]");
    // Patterns are ORed, then filtered by labels.
    assert_eq!(
        pick(&inv, "node*,gpu*,cp1,region=us-west"),
        "gpu[1-2],node11"
    );
    assert_eq!(pick(&inv, "node*"), "node[01-11]");
    // except
    assert_eq!(pick(&inv, "node* except node0[1-8]"), "node[09-11]");
    assert_eq!(
        pick(&inv, "all except role=worker except bastion"),
        "cp[1-3]"
    );
    // Inside the except set too, patterns are filtered by labels: node10 is not in west, so
    // the set is empty, and an except that removes nothing is refused.
    assert!(
        pick_err(&inv, "role=worker except cluster=west,node10")
            .starts_with("\"except cluster=west,node10\" matches no host, so it removes nothing"),
    );
    assert_eq!(
        pick(&inv, "role=worker except cluster=west except node10"),
        "node[01-09]"
    );
    // groups, nested groups, groups with except
    assert_eq!(pick(&inv, "@workers"), "gpu[1-2],node[01-11]");
    assert_eq!(pick(&inv, "@gpu-workers"), "gpu[1-2]");
    assert_eq!(pick(&inv, "@gpu-workers,bastion"), "bastion,gpu[1-2]");
    assert_eq!(pick(&inv, "@not-gpu,cluster=west"), "node11");
    assert_eq!(
        pick(&inv, "@workers except @gpu-workers,cluster=west"),
        "node[01-11]"
    );
    assert_eq!(
        pick(&inv, "@workers except @gpu-workers except cluster=west"),
        "node[01-10]"
    );
}

#[test]
fn results_are_in_inventory_order_without_duplicates() {
    let inv = fleet();
    let selector = Selector::parse("node02,node01,node0[1-2],node*,10.0.1.1,all,cp1").unwrap();
    let hosts = names(inv.select(&selector).unwrap());
    let all = names(&inv.hosts);
    assert_eq!(hosts, all);
    let selector = Selector::parse("node02,cp1,node01").unwrap();
    assert_eq!(
        names(inv.select(&selector).unwrap()),
        ["cp1", "node01", "node02"]
    );
}

#[test]
fn unknown_and_cyclic_groups_are_errors() {
    let mut inv = fleet();
    let err = inv.select(&Selector::parse("@nope").unwrap()).unwrap_err();
    assert!(matches!(err, SelectorError::UnknownGroup { .. }));
    assert!(
        err.to_string()
            .starts_with("unknown group @nope; expected one of: @gpu-workers, @not-gpu, @workers"),
        "{err}"
    );
    // Inventory fields are public, so select guards against cycles too.
    inv.groups.insert("a".into(), "@b".into());
    inv.groups.insert("b".into(), "role=x,@a".into());
    let err = inv.select(&Selector::parse("@a").unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "group @a includes itself (@a -> @b -> @a); expected groups without cycles"
    );
    inv.groups.insert("c".into(), "role in (".into());
    let err = inv.select(&Selector::parse("@c").unwrap()).unwrap_err();
    assert!(matches!(err, SelectorError::InvalidGroup { .. }), "{err}");
}

#[test]
fn selector_display_is_normalized_and_round_trips() {
    let cases = [
        (
            "role = worker , zone in ( a , b ),node[1-3]  except   cp1",
            "role=worker,zone in (a,b),node[1-3] except cp1",
        ),
        ("key==v", "key=v"),
        ("k != v,!gone", "k!=v,!gone"),
        ("x notin(a,b)", "x notin (a,b)"),
        ("*", "all"),
        (
            "@workers,bastion,10.0.1.[1-20],cp?",
            "@workers,bastion,10.0.1.[1-20],cp?",
        ),
        (
            "node-role.kubernetes.io/control-plane",
            "node-role.kubernetes.io/control-plane",
        ),
        ("a except b except c", "a except b except c"),
        ("drained=", "drained="),
        ("fd00::1", "fd00::1"),
    ];
    for (input, normal) in cases {
        let s: Selector = input.parse().unwrap();
        assert_eq!(s.to_string(), normal, "{input}");
        assert_eq!(Selector::parse(normal).unwrap(), s, "{input}");
    }
    assert_eq!(Selector::all(), Selector::parse("all").unwrap());
}

#[test]
fn selector_syntax_errors_have_columns() {
    let err = Selector::parse("role in (a,b").unwrap_err();
    assert_eq!(
        err.to_string(),
        "selector \"role in (a,b\": column 13: expected ')'"
    );
    let cases = [
        ("", 1, "a host pattern"),
        ("a,,b", 3, "a host pattern"),
        ("a,", 3, "a host pattern"),
        ("except a", 1, "a selector before 'except'"),
        ("a except", 9, "a selector after 'except'"),
        ("a except ", 10, "a host pattern"),
        ("role in a", 9, "'('"),
        ("role in (a,)", 12, "a label value"),
        ("role in (a b)", 12, "',' or ')'"),
        ("x notin", 8, "'('"),
        ("role=wor ker", 10, "',' or ' except '"),
        ("a)", 2, "',' or ' except '"),
        ("!", 2, "a label key"),
        ("!=x", 2, "a label key"),
        ("@", 2, "a group name"),
        ("node[1-", 8, "a number after '-'"),
        ("x,node[5-1]", 8, "LOW-HIGH"),
        ("node[]", 6, "numbers like [1-4]"),
        ("=x", 1, "a host pattern"),
        ("((((", 1, "a host pattern"),
        ("role=-x", 6, "a label value"),
        ("Bad Key=x", 5, "',' or ' except '"),
        ("-bad=x", 1, "a label key"),
        ("é=x", 1, "a label key"),
        (
            "role=worker except gen>3",
            23,
            "a host name, address or pattern",
        ),
        ("nœud*", 2, "a host name, address or pattern"),
        ("a&b", 2, "a host name, address or pattern"),
        ("n[-5]", 3, "LOW-HIGH like [1-5]"),
        ("n[1-010]", 3, "[001-010] or [1-10]"),
    ];
    for (input, column, expected) in cases {
        match Selector::parse(input) {
            Err(SelectorError::Syntax {
                column: c,
                expected: e,
                ..
            }) => {
                assert_eq!(c, column, "{input:?}: {e}");
                assert!(e.contains(expected), "{input:?}: {e}");
            }
            other => panic!("{input:?}: {other:?}"),
        }
    }
}

/// Issue #11, point 11: a character no host name or address contains is a syntax error at its
/// column, and any term that matches no host (after `except` too) is an error naming the term,
/// never a pattern that silently matches nothing.
#[test]
fn selectors_pick_exactly_what_was_written() {
    let inv = fleet();
    let err = Selector::parse("role=worker except gen>3").unwrap_err();
    assert_eq!(
        err.to_string(),
        "selector \"role=worker except gen>3\": column 23: unexpected '>', which no host name or address contains; expected a host name, address or pattern (letters, digits, '-', '_', '.', ':', ranges like [1-3], globs * and ?) or a label requirement"
    );
    // Positive terms must match some host; negative ones must leave some host out (a misspelt
    // key or value leaves none).
    let (no_match, no_exclusion) = ("matches no host", "leaves no host out");
    for (selector, term, problem) in [
        ("role=worker except nodee13", "nodee13", no_match),
        ("node[01-02],ghost", "ghost", no_match),
        ("ghost", "ghost", no_match),
        ("role=worker except node[20-30]", "node[20-30]", no_match),
        ("all except gen*", "gen*", no_match),
        ("all except 10.9.*", "10.9.*", no_match),
        ("all except 10.0.0.99", "10.0.0.99", no_match),
        ("role=wroker", "role=wroker", no_match),
        (
            "all except role in (wroker,gpu)",
            "role in (wroker,gpu)",
            no_match,
        ),
        (
            "role=worker except @gpu-workers except zone",
            "zone",
            no_match,
        ),
        ("role=worker,!drainedd", "!drainedd", no_exclusion),
        ("role!=wroker", "role!=wroker", no_exclusion),
        ("all except zone notin (a)", "zone notin (a)", no_exclusion),
    ] {
        let err = pick_err(&inv, selector);
        assert!(
            err.starts_with(&format!("{term:?} {problem}")),
            "{selector}: {err}"
        );
    }
    assert!(pick_err(&inv, "ghost").contains("no host's name and no label key"));
    // A group whose definition has a term that matches nothing names the group and the term.
    let mut broken = fleet();
    broken
        .groups
        .insert("old".into(), "node[01-02],nodee3".into());
    assert_eq!(
        pick_err(&broken, "@old"),
        "group @old: \"nodee3\" matches no host (it is no host's name and no label key); expected a term that matches a host (`breakglass inventory show` lists hosts and labels)"
    );
    // What was written still works.
    assert_eq!(pick(&inv, "role=worker except gpu"), "node[01-11]");
    assert_eq!(pick(&inv, "role=worker,!drained"), "gpu[1-2],node[01-10]");
}

/// Issue #11, point 12: globs match names only, or addresses only for an address pattern.
#[test]
fn globs_match_names_or_addresses_never_both() {
    let toml_text = r#"[[hosts]]
name = "rack1-n02"
address = "10.0.0.1"

[[hosts]]
name = "rack1-n01"
address = "10.0.0.2"

[[hosts]]
name = "db"
address = "fd00::5"
"#;
    let inv = toml(toml_text).unwrap();
    assert_eq!(pick(&inv, "*01"), "rack1-n01");
    assert_eq!(pick(&inv, "*1"), "rack1-n01");
    assert_eq!(pick(&inv, "10.0.0.*"), "rack1-n[01-02]");
    assert_eq!(pick(&inv, "10.0.0.[1]"), "rack1-n02");
    assert_eq!(pick(&inv, "fd00::*"), "db");
    // `*5` is a name pattern: no name ends so, whatever the addresses.
    assert!(pick_err(&inv, "*5").starts_with("\"*5\" matches no host (a name pattern"));
    // `*.1` is an address pattern (digits and a dot): addresses only.
    assert_eq!(pick(&inv, "*.1"), "rack1-n02");
    assert!(pick_err(&inv, "*.9").starts_with("\"*.9\" matches no host (an address pattern"));
}

/// Issue #11, point 13: `!NAME` for a host is refused with the hint.
#[test]
fn bang_host_is_refused_with_a_hint() {
    let inv = fleet();
    let err = pick_err(&inv, "role=worker,!node05");
    assert_eq!(
        err,
        "\"!node05\" leaves out hosts with the label key node05, and node05 is a host, not a label key; expected `all except node05` (or `... except node05`) to leave the host out"
    );
}

/// Random selectors over a small alphabet: parse never panics, and what parses re-parses from
/// its Display to the same selector.
#[test]
fn random_selectors_never_panic() {
    let alphabet: Vec<char> = "ab1-[]*?,=!()@ é/.except in notin all".chars().collect();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let inv = fleet();
    for _ in 0..20_000 {
        let mut s = String::new();
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        for _ in 0..(state % 16) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            s.push(alphabet[usize::try_from(state % alphabet.len() as u64).unwrap()]);
        }
        if let Ok(sel) = Selector::parse(&s) {
            let again =
                Selector::parse(&sel.to_string()).unwrap_or_else(|e| panic!("{s:?} -> {sel}: {e}"));
            assert_eq!(again, sel, "{s:?}");
            let _ = inv.select(&sel);
        }
    }
}

/// 100,000 hosts: loading and selecting stay linear (a quadratic step would take minutes).
#[test]
/// 100k hosts load and select correctly. How fast is a benchmark's business (the project keeps
/// timings out of tests: shared machines make them flaky), so nothing here is timed.
fn large_inventories_select_correctly() {
    let inv = toml(
        "[defaults]\njump = \"10.255.0.1\"\n[[hosts]]\nname = \"node[1-100000]\"\naddress = \"10.[1-10].[0-99].[0-99]\"\nlabels = { role = \"worker\" }\n",
    )
    .unwrap();
    assert_eq!(inv.hosts.len(), 100_000);
    let many: Vec<String> = (1..=5000).map(|i| format!("node{}", i * 20)).collect();
    let many = many.join(",");
    let selectors = [
        ("node[1-50000]", 50_000),
        ("node1*", 11_112),
        ("10.1.*", 10_000),
        ("role=worker except node[1-99999]", 1),
        ("all except 10.[2-10].*", 10_000),
        (many.as_str(), 5000),
    ];
    for (selector, count) in selectors {
        let selector = Selector::parse(selector).unwrap();
        assert_eq!(inv.select(&selector).unwrap().len(), count);
    }
    assert_eq!(hostset::fold(names(&inv.hosts)), "node[1-100000]");
}
