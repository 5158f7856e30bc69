//! `inventory show` and inventory errors through the binary.

use crate::support::Scratch;

const FLEET: &str = r#"
[defaults]
user = "root"
connect_timeout = "3s"

[clusters.prod]
api_endpoints = ["10.0.0.10:6443"]

[groups]
workers = "role=worker"

[[hosts]]
name = "cp[1-3]"
address = "10.0.0.[10-12]"
cluster = "prod"
labels = { role = "control-plane" }

[[hosts]]
name = "node[001-200]"
address = "10.0.[1-4].[1-50]"
cluster = "prod"
labels = { role = "worker" }
"#;

#[test]
fn show_expands_ranges_and_selects() {
    let s = Scratch::new();
    let inv = s.write("fleet.toml", FLEET);
    let out = s
        .bg()
        .arg("-i")
        .arg(&inv)
        .args(["inventory", "show", "@workers except node[002-200]"])
        .run()
        .ok();
    assert!(out.stdout.contains("node001"), "{}", out.stdout);
    assert!(out.stdout.contains("10.0.1.1:22"), "{}", out.stdout);
    assert!(!out.stdout.contains("node002"), "{}", out.stdout);
    let out = s
        .bg()
        .env("BREAKGLASS_INVENTORY", &inv)
        .args(["--output", "json", "inventory", "show", "role=worker"])
        .run()
        .ok();
    let hosts: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).expect("json array");
    assert_eq!(hosts.len(), 200);
    assert_eq!(hosts[199]["name"], "node200");
    assert_eq!(hosts[199]["address"], "10.0.4.50");
    assert_eq!(hosts[0]["labels"]["cluster"], "prod");
}

#[test]
fn bad_inventory_names_file_line_and_column() {
    let s = Scratch::new();
    let inv = s.write(
        "bad.toml",
        "[defaults]\nuser = \"root\"\n\n[[hosts]]\nname = \"a\"\naddress = \"10.0.0.1\"\nlabls = {}\n",
    );
    let out = s
        .bg()
        .arg("-i")
        .arg(&inv)
        .args(["inventory", "show"])
        .run()
        .code(2);
    assert!(out.stderr.contains("bad.toml:7:1"), "{}", out.stderr);
    assert!(out.stderr.contains("labls"), "{}", out.stderr);

    let inv = s.write(
        "dns.toml",
        "[[hosts]]\nname = \"a\"\naddress = \"node-a.example\"\n",
    );
    let out = s
        .bg()
        .arg("-i")
        .arg(&inv)
        .args(["inventory", "show"])
        .run()
        .code(2);
    assert!(out.stderr.contains("dns.toml:3:"), "{}", out.stderr);
    assert!(out.stderr.to_lowercase().contains("ip"), "{}", out.stderr);
}

#[test]
fn bad_selector_is_a_usage_error_with_column() {
    let s = Scratch::new();
    let inv = s.write("fleet.toml", FLEET);
    let out = s
        .bg()
        .arg("-i")
        .arg(&inv)
        .args(["inventory", "show", "role in (a,b"])
        .run()
        .code(2);
    assert!(out.stderr.contains("column"), "{}", out.stderr);
    s.bg()
        .arg("-i")
        .arg(&inv)
        .args(["inventory", "show", "role=database"])
        .run()
        .code(2)
        .stderr_has("matched no host");
}
