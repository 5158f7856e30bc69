//! Loading errors: each names `FILE:LINE:COLUMN` and what was expected.

use super::*;

#[test]
fn unreadable_file() {
    let err = Inventory::load(Path::new("/nonexistent/inv.toml")).unwrap_err();
    assert!(err.location().is_none());
    let text = err.to_string();
    assert!(
        text.starts_with("/nonexistent/inv.toml: cannot read: "),
        "{text}"
    );
}

#[test]
fn load_reads_both_formats_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("fleet.toml");
    let j = dir.path().join("fleet.JSON");
    std::fs::write(&t, EXAMPLE_TOML).unwrap();
    std::fs::write(&j, EXAMPLE_JSON).unwrap();
    let a = Inventory::load(&t).unwrap();
    let b = Inventory::load(&j).unwrap();
    assert_eq!(a.hosts, b.hosts);
    assert_eq!(a.defaults.identity_files[1], dir.path().join("keys/ops"));
    assert_eq!(Format::from_path(&j), Format::Json);
    assert_eq!(Format::from_path(Path::new("x.yaml")), Format::Toml);

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, b"# ok\n\xff").unwrap();
    let err = Inventory::load(&bad).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2:1: invalid UTF-8; expected a UTF-8 text file",
            bad.display()
        )
    );
}

#[test]
fn toml_errors_point_at_the_value() {
    // Syntax (toml's own message and span).
    assert_err(
        toml("[[hosts]]\nname = \"a\naddress = \"10.0.0.1\"\n"),
        2,
        10,
        "",
    );
    // Schema: unknown key, wrong type, out of range, missing key, unknown top-level key.
    assert_err(
        toml("[[hosts]]\nname = \"a\"\nadress = \"10.0.0.1\"\n"),
        3,
        1,
        "unknown field `adress`",
    );
    assert_err(
        toml("[[hosts]]\nname = \"a\"\naddress = \"10.0.0.1\"\nport = \"22\"\n"),
        4,
        8,
        "invalid type: string \"22\"",
    );
    assert_err(
        toml("[[hosts]]\nname = \"a\"\naddress = \"10.0.0.1\"\nport = 70000\n"),
        4,
        8,
        "70000",
    );
    assert_err(
        toml("[[hosts]]\naddress = \"10.0.0.1\"\n"),
        1,
        1,
        "missing field `name`",
    );
    assert_err(toml("bogus = 1\n"), 1, 1, "unknown field `bogus`");
    assert_err(
        toml("[defaults]\nusr = \"x\"\n"),
        2,
        1,
        "unknown field `usr`",
    );
    assert_err(
        toml("[clusters.a]\nnope = 1\n"),
        2,
        1,
        "unknown field `nope`",
    );
    assert_err(toml("hosts = [5]\n"), 1, 10, "expected a [[hosts]] table");
}

#[test]
fn json_errors_point_at_the_value() {
    // Syntax errors come from serde_json with its line and column.
    assert_err(
        json("{\"hosts\": [\n {\"name\": \"a\",}]}"),
        2,
        15,
        "key must be a string",
    );
    let err = json("").unwrap_err();
    assert_eq!(
        err.to_string(),
        "/etc/inv.json:1:1: EOF while parsing a value; expected valid JSON"
    );
    // Schema errors get exact spans from our span-tracking reader.
    assert_err(
        json("{\"hosts\": [\n {\"name\": \"a\", \"adress\": \"10.0.0.1\"}]}"),
        2,
        16,
        "unknown field `adress`",
    );
    assert_err(
        json("{\"hosts\": [\n {\"name\": \"a\", \"address\": \"10.0.0.1\", \"port\": \"22\"}]}"),
        2,
        47,
        "invalid type: string \"22\"",
    );
    assert_err(
        json("{\"hosts\": [\n {\"address\": \"10.0.0.1\"}]}"),
        2,
        2,
        "missing field `name`",
    );
    assert_err(
        json("{\"defaults\": {\"port\": 22, \"port\": 23}}"),
        1,
        27,
        "duplicate key `port`",
    );
    assert_err(json("[]"), 1, 1, "expected an inventory table");
    assert_err(
        json("{\"hosts\": [[]]}"),
        1,
        12,
        "expected a [[hosts]] table",
    );
    assert_err(
        json("{\"defaults\": {\"user\": 5}}"),
        1,
        23,
        "expected a string",
    );
    // Semantic errors in JSON are as precise as in TOML.
    assert_err(
        json("{\"hosts\": [\n {\"name\": \"cp[1-3]\",\n  \"address\": \"10.0.0.[10-11]\"}]}"),
        3,
        14,
        "is 3 names but `10.0.0.[10-11]` is 2 addresses",
    );
    assert_err(
        json("{\"hosts\": [{\"name\": \"n[5-1]\", \"address\": \"10.0.0.1\"}]}"),
        1,
        24,
        "reversed",
    );
}

#[test]
fn host_set_errors_point_at_the_value() {
    let host = |extra: &str| format!("[[hosts]]\nname = \"a\"\naddress = \"10.0.0.1\"\n{extra}");
    // Count mismatch names both counts and points at the addresses.
    assert_err(
        toml("[[hosts]]\nname = \"cp[1-3]\"\naddress = \"10.0.0.[10-11]\"\n"),
        3,
        11,
        "`cp[1-3]` is 3 names but `10.0.0.[10-11]` is 2 addresses",
    );
    assert_err(
        toml("[[hosts]]\nname = \"n[1-2]\"\naddresses = [\"10.0.0.1\"]\n"),
        3,
        13,
        "is 2 names but `addresses` has 1 address;",
    );
    // A bad range points at the offending character inside the string.
    assert_err(
        toml("[[hosts]]\nname = \"cp[5-1]\"\naddress = \"10.0.0.1\"\n"),
        2,
        12,
        "range 5-1 is reversed",
    );
    assert_err(
        toml("[[hosts]]\nname = \"cp[]\"\naddress = \"10.0.0.1\"\n"),
        2,
        12,
        "empty brackets",
    );
    assert_err(
        toml("[[hosts]]\nname = \"n\"\naddress = \"10.0.0.[1-\"\n"),
        3,
        22,
        "expected a number after '-'",
    );
    assert_err(
        toml("[[hosts]]\nname = \"n[1-9999999]\"\naddress = \"10.0.0.1\"\n"),
        2,
        9,
        "more than 1000000",
    );
    assert_err(
        toml(&host("").replace("10.0.0.1", "db.example.com")),
        3,
        11,
        "breakglass never resolves names; give an IP",
    );
    assert_err(
        toml(&host("").replace("10.0.0.1", "10.0.0.300")),
        3,
        11,
        "not an IP address",
    );
    assert_err(
        toml(&host("")).map(|_| ()).and(toml(&format!(
            "{}{}",
            host(""),
            host("").replace("10.0.0.1", "10.0.0.2")
        ))),
        5,
        8,
        "duplicate host name `a` (first defined on line 2)",
    );
    assert_err(
        toml(&format!(
            "{}[[hosts]]\nname = \"b\"\naddress = \"10.0.0.1\"\n",
            host("")
        )),
        6,
        11,
        "address 10.0.0.1:22 of `b` is already used by `a` (line 2)",
    );
    // The same address on another port is fine.
    toml(&format!(
        "{}[[hosts]]\nname = \"b\"\naddress = \"10.0.0.1\"\nport = 2222\n",
        host("")
    ))
    .unwrap();
}

#[test]
fn entry_errors_point_at_the_value() {
    let host = |extra: &str| format!("[[hosts]]\nname = \"a\"\naddress = \"10.0.0.1\"\n{extra}");
    assert_err(
        toml(&host("cluster = \"nope\"\n")),
        4,
        11,
        "unknown cluster `nope`; no clusters are defined",
    );
    assert_err(
        toml(&format!(
            "[clusters.east]\n{}",
            host("cluster = \"west\"\n")
        )),
        5,
        11,
        "unknown cluster `west`; expected one of: east",
    );
    assert_err(toml("[[hosts]]\nname = \"a\"\n"), 1, 1, "has no address");
    assert_err(
        toml(&host("addresses = [\"10.0.0.2\"]\n")),
        3,
        11,
        "both `address` and `addresses`",
    );
    assert_err(
        toml("[[hosts]]\nname = \"a b\"\naddress = \"10.0.0.1\"\n"),
        2,
        8,
        "bad host name `a b`",
    );
    assert_err(
        toml("[[hosts]]\nname = \"all\"\naddress = \"10.0.0.1\"\n"),
        2,
        8,
        "selector keyword",
    );
    assert_err(
        toml("[[hosts]]\nname = \"nœud\"\naddress = \"10.0.0.1\"\n"),
        2,
        8,
        "bad host name",
    );
}

#[test]
fn value_errors_point_at_the_value() {
    let host = |extra: &str| format!("[[hosts]]\nname = \"a\"\naddress = \"10.0.0.1\"\n{extra}");
    assert_err(toml(&host("port = 0\n")), 4, 8, "port 0");
    assert_err(toml(&host("user = \"a b\"\n")), 4, 8, "bad user");
    assert_err(
        toml(&host("labels = { \"-x\" = \"1\" }\n")),
        4,
        12,
        "bad label key `-x`",
    );
    assert_err(
        toml(&host("labels = { x = \"a b\" }\n")),
        4,
        16,
        "bad label value `a b`",
    );
    assert_err(
        toml(&host("labels = { cluster = \"x\" }\n")),
        4,
        12,
        "`cluster` label is set from",
    );
    assert_err(
        toml(&host("host_key = \"md5:aa\"\n")),
        4,
        12,
        "not a SHA256 fingerprint",
    );
    assert_err(
        toml("[[hosts]]\nname = \"n[1-2]\"\naddress = \"10.0.0.[1-2]\"\nhost_key = \"SHA256:x\"\n"),
        4,
        12,
        "`host_key` pins one key but `n[1-2]` is 2 hosts",
    );
    assert_err(
        toml(
            "[[hosts]]\nname = \"n[1-2]\"\naddress = \"10.0.0.[1-2]\"\nhost_keys = [\"SHA256:x\"]\n",
        ),
        4,
        13,
        "`host_keys` has 1 key but `n[1-2]` is 2 hosts",
    );
    assert_err(
        toml("[defaults]\nconnect_timeout = \"soon\"\n"),
        2,
        19,
        "bad duration `soon`",
    );
    assert_err(
        toml("[defaults]\ncommand_timeout = \"0s\"\n"),
        2,
        19,
        "is zero",
    );
    assert_err(
        toml("[defaults]\nidentity_files = [\"~bob/key\"]\n"),
        2,
        19,
        "only `~/` is expanded",
    );
    assert_err(
        toml("[clusters.a]\napi_endpoints = [\"k8s.local:6443\"]\n"),
        2,
        18,
        "never resolves names",
    );
    assert_err(
        toml("[clusters.a]\napi_endpoints = [\"10.0.0.1\"]\n"),
        2,
        18,
        "has no port",
    );
    // Issue #9: node_api_endpoints, an address or a network with the port.
    for (entry, column, what) in [
        ("api.eks.local:443", 39, "never resolves names"),
        (
            "10.0.12.0/24",
            39,
            "is not ADDRESS:PORT or NETWORK/LEN:PORT",
        ),
        ("fd00::1:443", 39, "IPv6 in brackets"),
        ("0.0.0.0/0:443", 39, "is every address"),
        ("10.0.12.0/24:0", 39, "port"),
        ("224.0.0.0/8:443", 39, "multicast"),
    ] {
        assert_err(
            toml(&format!(
                "[clusters.a]\nnode_api_endpoints = [\"10.0.0.1:443\", \"{entry}\"]\n"
            )),
            2,
            column,
            what,
        );
    }
    assert_err(toml("[clusters.\"A B\"]\n"), 1, 11, "cluster name");
    assert_err(
        toml("[clusters.a]\nlabels = { cluster = \"a\" }\n"),
        2,
        12,
        "`cluster` label",
    );
}

#[test]
fn jump_errors() {
    let two = "[[hosts]]\nname = \"a\"\naddress = \"10.0.0.1\"\n[[hosts]]\nname = \"b\"\naddress = \"10.0.0.2\"\n";
    assert_err(
        toml(&format!("{two}jump = \"nowhere\"\n")),
        7,
        8,
        "jump `nowhere` is neither a host in this file nor `user@IP:port`",
    );
    assert_err(
        toml(&format!("{two}jump = \"b\"\n")),
        7,
        8,
        "cannot jump through itself",
    );
    assert_err(
        toml(&format!("{two}jump = \"bob@[fd00::1]:0\"\n")),
        7,
        8,
        "port 0",
    );
    // One hop only: `a` jumps through `b`, which itself jumps through `c`.
    assert_err(
        toml(
            "[[hosts]]\nname = \"a\"\naddress = \"10.0.0.1\"\njump = \"b\"\n[[hosts]]\nname = \"b\"\naddress = \"10.0.0.2\"\njump = \"10.0.0.3\"\n",
        ),
        4,
        8,
        "jump host `b` itself connects through `10.0.0.3`",
    );
    // With a default jump, a second jump host must opt out with jump = "".
    let base = "[defaults]\njump = \"a\"\n[[hosts]]\nname = \"a\"\naddress = \"10.0.0.1\"\n[[hosts]]\nname = \"b\"\naddress = \"10.0.0.2\"\n[[hosts]]\nname = \"c\"\naddress = \"10.0.0.3\"\njump = \"b\"\n";
    assert_err(
        toml(base),
        12,
        8,
        "jump host `b` itself connects through `a`",
    );
    let fixed = base.replace(
        "address = \"10.0.0.2\"\n",
        "address = \"10.0.0.2\"\njump = \"\"\n",
    );
    let inv = toml(&fixed).unwrap();
    assert_eq!(inv.host("c").unwrap().jump.as_ref().unwrap().name, "b");
    assert!(inv.host("b").unwrap().jump.is_none() && inv.host("a").unwrap().jump.is_none());
    assert_err(toml("[defaults]\njump = \"ghost\"\n"), 2, 8, "jump `ghost`");
}

/// Issue #11, point 10: no host, endpoint or jump at an address no host can have, and an
/// IPv4-mapped IPv6 address is its IPv4 address, so it is caught as the duplicate it is.
#[test]
fn addresses_are_unicast_and_canonical() {
    for (address, what) in [
        ("0.0.0.0", "the unspecified address"),
        ("::", "the unspecified address"),
        ("255.255.255.255", "the broadcast address"),
        ("239.1.2.3", "a multicast address"),
        ("ff02::1", "a multicast address"),
    ] {
        assert_err(
            toml(&format!(
                "[[hosts]]\nname = \"a\"\naddress = \"{address}\"\n"
            )),
            3,
            11,
            what,
        );
    }
    assert_err(
        toml("[clusters.c]\napi_endpoints = [\"0.0.0.0:6443\"]\n"),
        2,
        18,
        "the unspecified address",
    );
    assert_err(
        toml("[defaults]\njump = \"224.0.0.1\"\n[[hosts]]\nname = \"a\"\naddress = \"10.0.0.1\"\n"),
        2,
        8,
        "a multicast address",
    );
    let mapped = "[[hosts]]\nname = \"a\"\naddress = \"10.0.0.1\"\n\n[[hosts]]\nname = \"b\"\naddress = \"::ffff:10.0.0.1\"\n";
    assert_err(
        toml(mapped),
        7,
        11,
        "address 10.0.0.1:22 of `b` is already used by `a`",
    );
    let inv = toml("[[hosts]]\nname = \"b\"\naddress = \"::ffff:10.0.0.1\"\n").unwrap();
    assert_eq!(inv.hosts[0].address.to_string(), "10.0.0.1");
}

/// Issue #11, point 14: a 219-byte inventory expanded to 2.9 million hosts (1.1 GB); each entry
/// was under the per-range cap, the whole was not bounded.
#[test]
fn hosts_are_limited_across_entries() {
    let entry = |i: usize| {
        format!("[[hosts]]\nname = \"r{i}n[1-65536]\"\naddress = \"10.{i}.[0-255].[0-255]\"\n\n")
    };
    let three: String = (1..=3).map(entry).collect();
    assert_eq!(toml(&three).unwrap().hosts.len(), 196_608);
    let four: String = (1..=4).map(entry).collect();
    assert_err(
        toml(&four),
        14,
        8,
        "`r4n[1-65536]` would bring the inventory to 262144 hosts; expected at most 200000",
    );
    // A huge address range next to one name is refused before it is expanded.
    assert_err(
        toml("[[hosts]]\nname = \"a\"\naddress = \"10.[0-7].[0-255].[0-255]\"\n"),
        3,
        11,
        "`a` is 1 name but `10.[0-7].[0-255].[0-255]` is 524288 addresses",
    );
    assert_err(
        toml(
            "[[hosts]]\nname = \"a[1-2]\"\naddresses = [\"10.0.0.1\", \"10.0.[0-255].[0-255]\"]\n",
        ),
        3,
        13,
        "`a[1-2]` is 2 names but `addresses` has at least 65537 addresses",
    );
}

/// Issue #11, point 14: a FIFO hung `inventory show`; `/dev/zero` read until memory ran out.
#[test]
fn only_regular_files_are_read() {
    let err = Inventory::load(Path::new("/dev/zero")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/dev/zero: cannot read: it is a character device; expected a regular file"
    );
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fleet.toml");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let err = Inventory::load(&fifo).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("cannot read: it is a FIFO (named pipe); expected a regular file"),
        "{err}"
    );
    let err = Inventory::load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("it is a directory"), "{err}");
}

#[test]
fn group_errors() {
    assert_err(
        toml("[groups]\nw = \"role in (a,b\"\n"),
        2,
        18,
        "selector \"role in (a,b\": column 13: expected ')'",
    );
    assert_err(
        toml("[groups]\nw = \"@x\"\n"),
        2,
        5,
        "unknown group @x; expected one of: @w",
    );
    assert_err(
        toml("[groups]\nw = \"@v\"\nv = \"@w\"\n"),
        3,
        5,
        "includes itself (@w -> @v -> @w)",
    );
    assert_err(
        toml("[groups]\n\"a b\" = \"all\"\n"),
        2,
        1,
        "bad group name",
    );
}

/// Truncating a valid file anywhere gives an error or a smaller inventory, never a panic.
#[test]
fn truncated_files_never_panic() {
    for (text, format) in [(EXAMPLE_TOML, Format::Toml), (EXAMPLE_JSON, Format::Json)] {
        for (cut, _) in text.char_indices() {
            let result = Inventory::from_str(&text[..cut], Path::new("t"), format);
            if let Err(e) = result {
                assert!(e.location().is_some(), "{e}");
            }
        }
    }
}
