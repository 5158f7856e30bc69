//! `etcd.delete` end to end: the built binary runs a runbook against Debian's etcd (client
//! certificates required, `breakglass::lab::etcd`), and the test reads etcd back with `etcdctl`.

use breakglass::lab::etcd::EtcdServer;
use breakglass::transport::etcd::value::encode_protobuf;

use crate::support::{Scratch, one_step_runbook, target_results as results};

const DS: &str = "/registry/daemonsets/monitoring/telemetry-agent";
const DEPLOY: &str = "/registry/deployments/default/web";

struct Env {
    etcd: EtcdServer,
    scratch: Scratch,
    inventory: std::path::PathBuf,
}

impl Env {
    fn new() -> Env {
        let etcd = EtcdServer::start().expect("etcd (apt-get install etcd-server etcd-client)");
        let scratch = Scratch::new();
        // The host is never contacted: etcd.delete reaches etcd, not the nodes.
        let inventory = scratch.write(
            "inventory.toml",
            &format!(
                "[clusters.lab]\netcd_endpoints = [\"{}\"]\netcd_ca_file = \"{}\"\n\
                 etcd_cert_file = \"{}\"\netcd_key_file = \"{}\"\n\n[[hosts]]\nname = \"cp1\"\n\
                 address = \"127.0.0.1\"\ncluster = \"lab\"\n",
                etcd.endpoint,
                etcd.ca_file.display(),
                etcd.cert_file.display(),
                etcd.key_file.display()
            ),
        );
        Env {
            etcd,
            scratch,
            inventory,
        }
    }

    fn runbook(&self, with: &str) -> std::path::PathBuf {
        one_step_runbook(&self.scratch, "lab", "delete", "etcd.delete", with)
    }
}

#[test]
fn etcd_delete_removes_the_objects_keys_and_undo_puts_them_back_byte_for_byte() {
    let env = Env::new();
    let ds = br#"{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"telemetry-agent","namespace":"monitoring","uid":"ds-uid"}}"#;
    let deploy = encode_protobuf("apps/v1", "Deployment", "default", "web", "web-uid");
    env.etcd.put(DS, ds).expect("put");
    env.etcd.put(DEPLOY, &deploy).expect("put");
    let rb = env.runbook(&format!("keys = [\"{DS}\", \"{DEPLOY}\"]"));

    let plan = env
        .scratch
        .bg_with(&env.inventory)
        .arg("plan")
        .arg(&rb)
        .run()
        .ok();
    assert!(
        plan.stdout.contains(DS) && plan.stdout.contains("if unchanged since the snapshot"),
        "{}",
        plan.stdout
    );
    // `plan` reads each key once and shows what it holds, decoded from JSON or protobuf.
    for now in [
        format!(
            "now {DS}: {DS}: apps/v1 DaemonSet monitoring/telemetry-agent (uid ds-uid, {} bytes json)",
            ds.len()
        ),
        format!(
            "now {DEPLOY}: {DEPLOY}: apps/v1 Deployment default/web (uid web-uid, {} bytes protobuf)",
            deploy.len()
        ),
    ] {
        assert!(
            plan.stdout.contains(&now),
            "no `{now}` in:\n{}",
            plan.stdout
        );
    }
    let json = env
        .scratch
        .bg_with(&env.inventory)
        .args(["--output", "json", "plan"])
        .arg(&rb)
        .run()
        .ok();
    let view: serde_json::Value = serde_json::from_str(json.stdout.trim()).expect("plan JSON");
    assert!(
        view["steps"][0]["now"][DS]
            .as_str()
            .is_some_and(|l| l.contains("uid ds-uid") && l.contains("mod_revision")),
        "{view}"
    );
    let offline = env
        .scratch
        .bg_with(&env.inventory)
        .args(["plan", "--offline"])
        .arg(&rb)
        .run()
        .ok();
    assert!(!offline.stdout.contains(" now "), "{}", offline.stdout);

    let out = env
        .scratch
        .bg_with(&env.inventory)
        .args(["--output", "json", "run"])
        .arg(&rb)
        .arg("--yes")
        .run()
        .ok();
    let events = out.json_lines();
    let mut r = results(&events, "apply");
    r.sort();
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!((r[0].0.as_str(), r[0].1.as_str()), (DS, "ok"), "{r:?}");
    assert!(
        r[0].2
            .contains("apps/v1 DaemonSet monitoring/telemetry-agent (uid ds-uid"),
        "{r:?}"
    );
    assert!(
        r[1].2
            .contains("apps/v1 Deployment default/web (uid web-uid")
            && r[1].2.contains("protobuf"),
        "{r:?}"
    );
    assert_eq!(env.etcd.get(DS).expect("get"), None);
    assert_eq!(env.etcd.get(DEPLOY).expect("get"), None);
    let run = events[0]["run_id"].as_str().expect("run id").to_owned();

    let out = env
        .scratch
        .bg_with(&env.inventory)
        .args(["--output", "json", "undo", &run, "--yes"])
        .run()
        .ok();
    let r = results(&out.json_lines(), "undo");
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(r.iter().all(|(_, outcome, _)| outcome == "ok"), "{r:?}");
    assert_eq!(env.etcd.get(DS).expect("get"), Some(ds.to_vec()));
    assert_eq!(env.etcd.get(DEPLOY).expect("get"), Some(deploy));
}

#[test]
fn prefix_deletes_need_max_keys_and_secrets_are_refused() {
    let env = Env::new();
    for (with, expected) in [
        (
            "prefix = \"/registry/pods/monitoring/\"",
            "needs `max_keys`",
        ),
        (
            "keys = [\"/registry/secrets/kube-system/token\"]",
            "Secrets are refused",
        ),
        ("keys = [\"/other/key\"]", "under `/registry/`"),
    ] {
        let out = env
            .scratch
            .bg_with(&env.inventory)
            .arg("run")
            .arg(env.runbook(with))
            .arg("--yes")
            .run()
            .code(2);
        assert!(out.stderr.contains(expected), "{with}: {}", out.stderr);
    }
}
