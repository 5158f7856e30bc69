//! `nodes.scale` end to end: the built binary scales node groups of a real `moto_server`
//! (`breakglass::lab::moto`, set up and read back with boto3) and `undo` puts them back.

use breakglass::lab::moto::{AccessKey, Moto};
use serde_json::Value;

use crate::support::{Bg, Scratch, one_step_runbook, target_results};

struct Env {
    moto: Moto,
    scratch: Scratch,
    inventory: std::path::PathBuf,
}

impl Env {
    fn new(moto: Moto) -> Env {
        let scratch = Scratch::new();
        let inventory = scratch.write(
            "inventory.toml",
            &format!(
                "[clusters.prod]\napi_endpoints = [\"127.0.0.1:6443\"]\n\n[clusters.prod.aws]\n\
                 region = \"us-east-1\"\nendpoint = \"{}\"\nnode_groups = [\n  \
                 {{ name = \"workers-a\", asg = \"prod-workers-a\" }},\n  \
                 {{ name = \"ng1\", eks_cluster = \"prod\", eks_nodegroup = \"ng1\" }},\n]\n",
                moto.endpoint
            ),
        );
        Env {
            moto,
            scratch,
            inventory,
        }
    }

    fn runbook(&self, with: &str) -> std::path::PathBuf {
        one_step_runbook(
            &self.scratch,
            "prod",
            "shrink",
            "nodes.scale",
            &format!("wait = \"30s\"\n{with}"),
        )
    }

    /// `run RUNBOOK --yes --output json` with the given key.
    fn run(&self, key: Option<&AccessKey>, runbook: &std::path::Path) -> crate::support::Ran {
        self.bg(key)
            .args(["--output", "json", "run"])
            .arg(runbook)
            .arg("--yes")
            .run()
    }

    /// The binary with the inventory and the given key in the environment.
    fn bg(&self, key: Option<&AccessKey>) -> Bg {
        let (id, secret) = key.map_or(("AKIAIOSFODNN7EXAMPLE", "not-checked"), |k| {
            (k.id.as_str(), k.secret.as_str())
        });
        self.scratch
            .bg_with(&self.inventory)
            .env("AWS_ACCESS_KEY_ID", id)
            .env("AWS_SECRET_ACCESS_KEY", secret)
    }
}

/// The target results of `mode`, in name order.
fn results(events: &[Value], mode: &str) -> Vec<(String, String, String)> {
    let mut r = target_results(events, mode);
    r.sort();
    r
}

/// The EKS node group is in the plan only: moto's `TagResource` does not know node group ARNs
/// (it answers 404 to boto3 as well), so the EKS path of `nodes.scale` is tested through its
/// calls in `transport::cloud::aws::tests`, not end to end.
#[test]
fn nodes_scale_shrinks_an_asg_and_undo_restores_it_exactly() {
    let moto = Moto::start().expect("moto_server (pip install 'moto[server]')");
    moto.create_asg("prod-workers-a", 2, 10, 6).expect("asg");
    let env = Env::new(moto);
    let plan = env
        .bg(None)
        .arg("plan")
        .arg(env.runbook("to = 1"))
        .run()
        .ok();
    assert!(
        plan.stdout.contains(
            "scale node group workers-a (Auto Scaling group prod-workers-a) to desired 1"
        ) && plan
            .stdout
            .contains("ng1 (EKS node group prod/ng1) to desired 1"),
        "{}",
        plan.stdout
    );

    let rb = env.runbook("node_groups = [\"workers-a\"]\nto = 1");
    let out = env.run(None, &rb).ok();
    let events = out.json_lines();
    let r = results(&events, "apply");
    assert_eq!(
        r,
        [(
            "workers-a".to_owned(),
            "ok".to_owned(),
            "Auto Scaling group prod-workers-a: desired 6 → 1, min 2 → 1".to_owned()
        )]
    );
    assert_eq!(
        env.moto.asg("prod-workers-a", None).expect("asg"),
        [1, 10, 1, 1]
    );
    // While the change stands, the group carries the sizes from before it.
    let tag = env
        .moto
        .boto(
            "print([t['Value'] for t in asg.describe_tags()['Tags']])",
            None,
        )
        .expect("tags");
    assert_eq!(tag.trim(), "['min=2,max=10,desired=6']");
    let run = events[0]["run_id"].as_str().expect("run id").to_owned();
    // The journal has the group's sizes from before, journaled before the change.
    let journal =
        std::fs::read_to_string(env.scratch.journal_dir().join(&run).join("journal.jsonl"))
            .expect("journal");
    let snapshot: Vec<Value> = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["event"]["type"] == "snapshot")
        .map(|r| r["event"]["state"].clone())
        .collect();
    assert_eq!(
        snapshot,
        [serde_json::json!({"min": 2, "max": 10, "desired": 6})]
    );

    let out = env
        .bg(None)
        .args(["--output", "json", "undo", &run, "--yes"])
        .run()
        .ok();
    let r = results(&out.json_lines(), "undo");
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].1, "ok", "{r:?}");
    assert_eq!(
        env.moto.asg("prod-workers-a", None).expect("asg"),
        [2, 10, 6, 6]
    );
    // The marker tag is gone with the undo.
    let tags = env
        .moto
        .boto("print(len(asg.describe_tags()['Tags']))", None)
        .expect("tags");
    assert_eq!(tags.trim(), "0", "marker tags left: {tags}");
}

#[test]
fn an_unknown_node_group_is_refused_before_anything_runs() {
    let moto = Moto::start().expect("moto_server");
    let env = Env::new(moto);
    let rb = env.runbook("node_groups = [\"workers-z\"]\nby = -1");
    env.bg(None).arg("plan").arg(&rb).run().code(2).stderr_has(
        "cluster 'prod' has no node group 'workers-z' in the inventory (it has: workers-a, ng1)",
    );
    // A group the inventory names but AWS does not have: the target fails, saying so, and the
    // policy stops the run (exit 3).
    let rb = env.runbook("node_groups = [\"workers-a\"]\nby = -1");
    let out = env.run(None, &rb).code(3);
    let r = results(&out.json_lines(), "apply");
    assert!(
        r.len() == 1
            && r[0].1 == "failed"
            && r[0]
                .2
                .contains("Auto Scaling group prod-workers-a does not exist in us-east-1"),
        "{r:?}"
    );
}

/// moto's auth mode through the binary: a wrong secret is refused with the signature error and
/// where the key came from (not the key); the right one scales.
#[test]
fn the_binary_signs_what_moto_verifies() {
    let moto = Moto::start_with_auth(5).expect("moto_server");
    moto.create_asg("prod-workers-a", 1, 10, 3).expect("asg");
    let key = moto
        .create_user("breakglass", &["autoscaling:*"])
        .expect("user");
    let env = Env::new(moto);
    let rb = env.runbook("node_groups = [\"workers-a\"]\nto = \"50%\"");
    let wrong = AccessKey {
        id: key.id.clone(),
        secret: "wrong-secret".into(),
    };
    let out = env.run(Some(&wrong), &rb).code(3);
    assert!(!out.stdout.contains("wrong-secret") && !out.stderr.contains("wrong-secret"));
    let r = results(&out.json_lines(), "apply");
    assert!(
        r.len() == 1
            && r[0].1 == "auth_failed"
            && r[0].2.contains("SignatureDoesNotMatch")
            && r[0].2.contains("the environment (AWS_ACCESS_KEY_ID)"),
        "{r:?}"
    );
    let out = env.run(Some(&key), &rb).ok();
    let r = results(&out.json_lines(), "apply");
    assert_eq!(r[0].1, "ok", "{r:?}");
    assert_eq!(
        env.moto.asg("prod-workers-a", Some(&key)).expect("asg"),
        [1, 10, 2, 2]
    );
}
