//! Tests for loading (both formats, here), every error kind with its position (`errors.rs`) and
//! selection over loaded inventories (`selection.rs`). Host-set expansion and folding are tested
//! in `hostset.rs`.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

mod errors;
mod selection;

const EXAMPLE_TOML: &str = r#"[defaults]
user = "root"
port = 22
identity_files = ["~/.ssh/id_ed25519", "keys/ops"]
known_hosts = "/etc/breakglass/known_hosts"
connect_timeout = "5s"
command_timeout = "2m"
jump = "bastion"

[clusters.prod-east]
api_endpoints = ["10.0.0.10:6443", "10.0.0.11:6443"]
tls_server_name = "kubernetes.default.svc"
labels = { env = "prod", zone = "x" }

[groups]
workers = "role=worker"
edge = "@workers,bastion"

[[hosts]]
name = "bastion"
address = "192.0.2.1"
labels = { role = "bastion" }
host_key = "SHA256:abc+/="

[[hosts]]
name = "cp[1-3]"
address = "10.0.0.[10-12]"
cluster = "prod-east"
labels = { role = "control-plane", zone = "a" }
host_keys = ["SHA256:k1", "SHA256:k2", "SHA256:k3"]

[[hosts]]
name = "node[001-200]"
address = "10.0.[1-4].[1-50]"
cluster = "prod-east"
port = 2222
user = "core"
labels = { role = "worker" }
"#;

const EXAMPLE_JSON: &str = r#"{
  "defaults": {
    "user": "root",
    "port": 22,
    "identity_files": ["~/.ssh/id_ed25519", "keys/ops"],
    "known_hosts": "/etc/breakglass/known_hosts",
    "connect_timeout": "5s",
    "command_timeout": "2m",
    "jump": "bastion"
  },
  "clusters": {
    "prod-east": {
      "api_endpoints": ["10.0.0.10:6443", "10.0.0.11:6443"],
      "tls_server_name": "kubernetes.default.svc",
      "labels": { "env": "prod", "zone": "x" }
    }
  },
  "groups": { "workers": "role=worker", "edge": "@workers,bastion" },
  "hosts": [
    { "name": "bastion", "address": "192.0.2.1", "labels": { "role": "bastion" },
      "host_key": "SHA256:abc+/=" },
    { "name": "cp[1-3]", "address": "10.0.0.[10-12]", "cluster": "prod-east",
      "labels": { "role": "control-plane", "zone": "a" },
      "host_keys": ["SHA256:k1", "SHA256:k2", "SHA256:k3"] },
    { "name": "node[001-200]", "address": "10.0.[1-4].[1-50]", "cluster": "prod-east",
      "port": 2222, "user": "core", "labels": { "role": "worker" } }
  ]
}"#;

fn toml(text: &str) -> Result<Inventory, InventoryError> {
    Inventory::from_str(text, Path::new("/etc/inv.toml"), Format::Toml)
}

fn json(text: &str) -> Result<Inventory, InventoryError> {
    Inventory::from_str(text, Path::new("/etc/inv.json"), Format::Json)
}

/// The error's line, column and the message after the location.
fn where_what(err: &InventoryError) -> (usize, usize, String) {
    let at = err.location().unwrap();
    let text = err.to_string();
    let prefix = format!("{at}: ");
    assert!(text.starts_with(&prefix), "{text}");
    (at.line, at.column, text[prefix.len()..].to_owned())
}

fn assert_err(result: Result<Inventory, InventoryError>, line: usize, column: usize, needle: &str) {
    let err = result.unwrap_err();
    let (l, c, message) = where_what(&err);
    assert_eq!((l, c), (line, column), "{err}");
    assert!(message.contains(needle), "{err:?} lacks {needle:?}");
    assert!(
        message.contains("expected") || message.contains("give an IP"),
        "{err} does not say what was expected"
    );
}

fn names<'a>(hosts: impl IntoIterator<Item = &'a Host>) -> Vec<&'a str> {
    hosts.into_iter().map(|h| h.name.as_str()).collect()
}

fn home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").unwrap())
}

#[test]
fn loads_the_example() {
    let inv = toml(EXAMPLE_TOML).unwrap();
    assert_eq!(inv.hosts.len(), 1 + 3 + 200);
    assert_eq!(inv.path, Path::new("/etc/inv.toml"));
    assert!(inv.digest.starts_with("sha256:") && inv.digest.len() == 7 + 64);

    let d = &inv.defaults;
    assert_eq!(d.user, "root");
    assert_eq!(d.port, 22);
    assert_eq!(
        d.identity_files,
        [
            home().join(".ssh/id_ed25519"),
            PathBuf::from("/etc/keys/ops")
        ]
    );
    assert_eq!(
        d.known_hosts.as_deref(),
        Some(Path::new("/etc/breakglass/known_hosts"))
    );
    assert_eq!(d.connect_timeout, Duration::from_secs(5));
    assert_eq!(d.command_timeout, Duration::from_secs(120));

    let c = &inv.clusters["prod-east"];
    assert_eq!(c.api_endpoints[1], "10.0.0.11:6443".parse().unwrap());
    assert_eq!(c.tls_server_name.as_deref(), Some("kubernetes.default.svc"));

    let cp1 = inv.host("cp1").unwrap();
    assert_eq!(cp1.address.to_string(), "10.0.0.10");
    assert_eq!(cp1.host_key.as_deref(), Some("SHA256:k1"));
    assert_eq!(
        inv.host("cp3").unwrap().host_key.as_deref(),
        Some("SHA256:k3")
    );
    assert_eq!(cp1.cluster.as_deref(), Some("prod-east"));
    // Cluster labels are defaults under the host's own (zone), plus cluster=NAME.
    let labels: Vec<(&str, &str)> = cp1
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("cluster", "prod-east"),
            ("env", "prod"),
            ("role", "control-plane"),
            ("zone", "a")
        ]
    );

    let n1 = inv.host("node001").unwrap();
    assert_eq!(
        (n1.address.to_string().as_str(), n1.port, n1.user.as_str()),
        ("10.0.1.1", 2222, "core")
    );
    assert_eq!(inv.host("node051").unwrap().address.to_string(), "10.0.2.1");
    assert_eq!(
        inv.host("node200").unwrap().address.to_string(),
        "10.0.4.50"
    );
    assert_eq!(n1.labels["zone"], "x");
    assert_eq!(n1.socket_addr(), "10.0.1.1:2222".parse().unwrap());

    // The default jump applies to everyone but the jump host itself.
    let bastion = inv.host("bastion").unwrap();
    assert_eq!((bastion.user.as_str(), bastion.port), ("root", 22));
    assert!(bastion.jump.is_none());
    assert!(bastion.cluster.is_none() && !bastion.labels.contains_key("cluster"));
    let jump = n1.jump.as_deref().unwrap();
    assert_eq!(jump, bastion);
    assert_eq!(cp1.jump.as_deref(), Some(bastion));
}

#[test]
fn toml_and_json_give_identical_inventories() {
    let mut a = toml(EXAMPLE_TOML).unwrap();
    let mut b = json(EXAMPLE_JSON).unwrap();
    assert_ne!(a.digest, b.digest);
    b.path.clone_from(&a.path);
    b.digest.clone_from(&a.digest);
    assert_eq!(a, b);
    a.hosts.clear();
    assert_ne!(a, b);
}

#[test]
fn digest_is_sha256_of_the_bytes() {
    let inv = toml("").unwrap();
    assert_eq!(
        inv.digest,
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert!(inv.hosts.is_empty());
}

#[test]
fn defaults_apply_when_absent() {
    let inv = toml("[[hosts]]\nname = \"a\"\naddress = \"10.0.0.1\"\n").unwrap();
    let d = &inv.defaults;
    assert_eq!((d.user.as_str(), d.port), ("root", 22));
    assert!(d.identity_files.is_empty() && d.known_hosts.is_none());
    assert_eq!(
        (d.connect_timeout, d.command_timeout),
        (Duration::from_secs(10), Duration::from_secs(60))
    );
    let a = &inv.hosts[0];
    assert_eq!(
        (a.user.as_str(), a.port, a.jump.is_none()),
        ("root", 22, true)
    );
    assert!(a.labels.is_empty() && a.host_key.is_none() && a.cluster.is_none());
}

#[test]
fn addresses_list_and_ipv6() {
    let inv = toml(
        r#"[[hosts]]
name = "n[1-3]"
addresses = ["10.0.0.7", "fd00::1", "10.0.0.[2]"]
"#,
    )
    .unwrap();
    let addresses: Vec<String> = inv.hosts.iter().map(|h| h.address.to_string()).collect();
    assert_eq!(addresses, ["10.0.0.7", "fd00::1", "10.0.0.2"]);
}

#[test]
fn jumps_inline_direct_and_per_host() {
    let inv = toml(
        r#"[defaults]
user = "ops"
port = 2200
jump = "core@10.9.9.9:22"

[[hosts]]
name = "a"
address = "10.0.0.1"

[[hosts]]
name = "b"
address = "10.0.0.2"
jump = ""

[[hosts]]
name = "c"
address = "10.0.0.3"
jump = "b"

[[hosts]]
name = "d"
address = "10.0.0.4"
jump = "10.9.9.8"

[[hosts]]
name = "e"
address = "10.0.0.5"
jump = "[fd00::9]:2022"
"#,
    )
    .unwrap();
    let jump = |n: &str| inv.host(n).unwrap().jump.as_deref().cloned();
    let a = jump("a").unwrap();
    assert_eq!(
        (a.name.as_str(), a.user.as_str(), a.port),
        ("10.9.9.9", "core", 22)
    );
    assert!(jump("b").is_none());
    assert_eq!(jump("c").unwrap().name, "b");
    let d = jump("d").unwrap();
    assert_eq!((d.user.as_str(), d.port), ("ops", 2200));
    assert_eq!(
        jump("e").unwrap().socket_addr(),
        "[fd00::9]:2022".parse().unwrap()
    );
}
