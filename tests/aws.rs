//! The AWS actions end to end: the built binary scales node groups and control planes and
//! firewalls the admin API in a real `moto_server` (`breakglass::lab::moto`, set up and read
//! back with boto3), and `undo` puts them back. Where moto lacks a call (EKS `DescribeUpdate`,
//! the control-plane tier), a stub that follows the EKS API reference stands in.

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
        Env::with(moto, "")
    }

    /// With more lines for `[clusters.prod.aws]` (and after it, more of the inventory).
    fn with(moto: Moto, more: &str) -> Env {
        let scratch = Scratch::new();
        let inventory = scratch.write("inventory.toml", &inventory(&moto.endpoint, more));
        Env {
            moto,
            scratch,
            inventory,
        }
    }

    fn runbook(&self, with: &str) -> std::path::PathBuf {
        self.step("nodes.scale", &format!("wait = \"30s\"\n{with}"))
    }

    /// A runbook of one step of `action`.
    fn step(&self, action: &str, with: &str) -> std::path::PathBuf {
        let id = action.replace('.', "-");
        one_step_runbook(&self.scratch, "prod", &id, action, with)
    }

    /// `run RUNBOOK --yes --output json` with the given key.
    fn run(&self, key: Option<&AccessKey>, runbook: &std::path::Path) -> crate::support::Ran {
        self.bg(key)
            .args(["--output", "json", "run"])
            .arg(runbook)
            .arg("--yes")
            .run()
    }

    /// `undo RUN --yes`: its target results.
    fn undo(&self, run: &str) -> Vec<(String, String, String)> {
        let out = self
            .bg(None)
            .args(["--output", "json", "undo", run, "--yes"])
            .run()
            .ok();
        results(&out.json_lines(), "undo")
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

/// Cluster `prod` in `us-east-1` at `endpoint`, with its node groups and `more`.
fn inventory(endpoint: &str, more: &str) -> String {
    format!(
        "[clusters.prod]\napi_endpoints = [\"127.0.0.1:6443\"]\n\n[clusters.prod.aws]\n\
         region = \"us-east-1\"\nendpoint = \"{endpoint}\"\nnode_groups = [\n  \
         {{ name = \"workers-a\", asg = \"prod-workers-a\" }},\n  \
         {{ name = \"ng1\", eks_cluster = \"prod\", eks_nodegroup = \"ng1\" }},\n]\n{more}"
    )
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

    let r = env.undo(&run);
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

// ---------------------------------------------------------------------------------------------
// cloud.firewall.block / unblock

/// A VPC and the API servers' security group with the rules a public cluster has: the API open
/// to the world on 6443 and 443 (IPv4 and IPv6), the control-plane subnet, SSH. Its id.
fn apiserver_group(moto: &Moto) -> String {
    moto.boto(
        "vpc = ec2.create_vpc(CidrBlock='10.0.0.0/16')['Vpc']['VpcId']\n\
         sg = ec2.create_security_group(GroupName='apiservers', Description='API servers', VpcId=vpc)['GroupId']\n\
         ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[\n\
          {'IpProtocol': 'tcp', 'FromPort': 6443, 'ToPort': 6443, 'IpRanges': [{'CidrIp': '0.0.0.0/0', 'Description': 'world'}, {'CidrIp': '10.0.0.0/24', 'Description': 'control plane'}], 'Ipv6Ranges': [{'CidrIpv6': '::/0'}]},\n\
          {'IpProtocol': 'tcp', 'FromPort': 443, 'ToPort': 443, 'IpRanges': [{'CidrIp': '0.0.0.0/0'}, {'CidrIp': '10.0.0.0/24'}]},\n\
          {'IpProtocol': 'tcp', 'FromPort': 22, 'ToPort': 22, 'IpRanges': [{'CidrIp': '0.0.0.0/0', 'Description': 'ssh'}]}])\n\
         print(sg)\n",
        None,
    )
    .expect("security group")
    .trim()
    .to_owned()
}

/// The group's ingress rules, read with boto3: `proto from-to source [description]`, sorted.
fn ingress(moto: &Moto, sg: &str) -> Vec<String> {
    let out = moto
        .boto(
            &format!(
                "g = ec2.describe_security_groups(GroupIds=[{sg:?}])['SecurityGroups'][0]\n\
                 for p in g['IpPermissions']:\n\
                 \x20 for r in p.get('IpRanges', []) + p.get('Ipv6Ranges', []):\n\
                 \x20   print(p['IpProtocol'], '%s-%s' % (p.get('FromPort'), p.get('ToPort')), r.get('CidrIp') or r.get('CidrIpv6'), r.get('Description', ''))\n"
            ),
            None,
        )
        .expect("ingress");
    let mut rules: Vec<String> = out.lines().map(|l| l.trim().to_owned()).collect();
    rules.sort();
    rules
}

/// The tag keys of a security group.
fn group_tags(moto: &Moto, sg: &str) -> Vec<String> {
    let out = moto
        .boto(
            &format!(
                "g = ec2.describe_security_groups(GroupIds=[{sg:?}])['SecurityGroups'][0]\n\
                 print(json.dumps(sorted(t['Key'] for t in g.get('Tags', []))))\n"
            ),
            None,
        )
        .expect("tags");
    serde_json::from_str(out.trim()).expect("json")
}

/// moto with the API servers' group, the inventory naming it, its id and its rules now.
fn firewall_env() -> (Env, String, Vec<String>) {
    let moto = Moto::start().expect("moto_server");
    let sg = apiserver_group(&moto);
    let env = Env::with(
        moto,
        &format!(
            "apiserver_security_group = \"{sg}\"\napiserver_peers = [\"10.0.0.0/24\"]\n\
             operator_cidrs = [\"203.0.113.7/32\"]\n"
        ),
    );
    let before = ingress(&env.moto, &sg);
    (env, sg, before)
}

const BLOCK: &str = "allow = [\"203.0.113.0/24\"]\non = [\"security_group\"]";

#[test]
fn a_security_group_block_revokes_exact_rules_and_undo_restores_them() {
    let (env, sg, before) = firewall_env();
    assert_eq!(before.len(), 6, "{before:?}");
    let rb = env.step("cloud.firewall.block", BLOCK);

    let plan = env.bg(None).arg("plan").arg(&rb).run().ok();
    assert!(
        plan.stdout.contains(&format!(
            "now {sg}: 6 ingress rule(s); the change revokes 3"
        )) && plan.stdout.contains("note")
            && plan.stdout.contains("do not cut established connections"),
        "{}",
        plan.stdout
    );

    let out = env.run(None, &rb).ok();
    let events = out.json_lines();
    let r = results(&events, "apply");
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].1, "ok", "{r:?}");
    assert!(
        r[0].2
            .starts_with(&format!("security group {sg}: revoked 3 ("))
            && r[0].2.contains("authorized 2"),
        "{r:?}"
    );
    let blocked = ingress(&env.moto, &sg);
    let run = events[0]["run_id"].as_str().expect("run id").to_owned();
    let note = format!("breakglass {run}/cloud-firewall-block: allowed while the API is blocked");
    assert_eq!(
        blocked,
        [
            "tcp 22-22 0.0.0.0/0 ssh".to_owned(),
            "tcp 443-443 10.0.0.0/24".to_owned(),
            format!("tcp 443-443 203.0.113.0/24 {note}"),
            "tcp 6443-6443 10.0.0.0/24 control plane".to_owned(),
            format!("tcp 6443-6443 203.0.113.0/24 {note}"),
        ]
    );
    // The change is remembered on the group itself while it stands.
    let tags = group_tags(&env.moto, &sg);
    assert!(
        !tags.is_empty()
            && tags
                .iter()
                .all(|t| t.starts_with(&format!("breakglass/block/{run}/cloud-firewall-block/"))),
        "{tags:?}"
    );

    let r = env.undo(&run);
    assert_eq!((r.len(), r[0].1.as_str()), (1, "ok"), "{r:?}");
    assert_eq!(
        ingress(&env.moto, &sg),
        before,
        "undo must restore the exact rules"
    );
    assert!(group_tags(&env.moto, &sg).is_empty());
}

/// `cloud.firewall.unblock` needs no journal: it finds the block's tags on the group.
#[test]
fn unblock_restores_from_the_tags_a_block_left() {
    let (env, sg, before) = firewall_env();
    env.run(None, &env.step("cloud.firewall.block", BLOCK)).ok();
    assert_ne!(ingress(&env.moto, &sg), before);
    let out = env
        .run(
            None,
            &env.step("cloud.firewall.unblock", "on = [\"security_group\"]"),
        )
        .ok();
    let r = results(&out.json_lines(), "apply");
    assert_eq!(r[0].1, "ok", "{r:?}");
    assert_eq!(ingress(&env.moto, &sg), before);
    assert!(group_tags(&env.moto, &sg).is_empty());
}

/// The preflight: a block that would cut the operator, or has no `allow`, exits 2 before
/// anything changes (no rule, no journal).
#[test]
fn a_block_that_would_cut_the_operator_is_refused_before_anything_changes() {
    let (env, sg, before) = firewall_env();
    let rb = env.step("cloud.firewall.block", BLOCK);
    let plan = env
        .bg(None)
        .args(["plan", "--operator-cidr", "198.51.100.7"])
        .arg(&rb)
        .run()
        .code(2);
    assert!(
        plan.stdout.contains(&format!(
            "REFUSED {sg}: the block would cut the operator's address 198.51.100.7/32 from TCP 443, 6443"
        )),
        "{}",
        plan.stdout
    );
    env.bg(None)
        .env("BREAKGLASS_OPERATOR_CIDR", "198.51.100.7/32")
        .arg("run")
        .arg(&rb)
        .arg("--yes")
        .run()
        .code(2)
        .stderr_has("refused before anything changed")
        .stderr_has("would cut the operator's address 198.51.100.7/32");
    let journal = env.scratch.journal_dir();
    assert!(
        !journal.exists()
            || std::fs::read_dir(&journal)
                .expect("journal dir")
                .next()
                .is_none(),
        "a refused run must not start a journal"
    );
    let rb = env.step(
        "cloud.firewall.block",
        "allow = []\non = [\"security_group\"]",
    );
    env.bg(None)
        .arg("run")
        .arg(&rb)
        .arg("--yes")
        .run()
        .code(2)
        .stderr_has("a block without `allow` would leave nobody able to reach the API");
    assert_eq!(ingress(&env.moto, &sg), before);
}

/// A revoke that matches no rule (the rule went between the snapshot and the revoke: another
/// operator) is a failure, not a success, through the library against moto.
#[test]
fn a_revoke_that_matches_no_rule_is_not_a_success() {
    use breakglass::actions::context::{CloudResource, Context, NoOperator, Operator, Target};
    use breakglass::actions::contract::{ActionFailure, Node};
    use breakglass::transport::cloud::aws::{Aws, AwsConfig};
    use std::sync::Arc;

    struct Cx {
        target: Target,
        aws: Arc<Aws>,
        cancel: breakglass::cancel::Cancel,
    }
    impl Context for Cx {
        fn target(&self) -> &Target {
            &self.target
        }
        fn shell(&mut self) -> Result<&mut dyn Node, ActionFailure> {
            Err(ActionFailure::refused("no shell"))
        }
        fn aws(&mut self) -> Result<Arc<Aws>, ActionFailure> {
            Ok(Arc::clone(&self.aws))
        }
        fn cancel(&self) -> &breakglass::cancel::Cancel {
            &self.cancel
        }
        fn operator(&self) -> &dyn Operator {
            &NoOperator
        }
        fn unattended(&self) -> bool {
            true
        }
        fn step(&self) -> &'static str {
            "block"
        }
        fn notice(&self, _: &str) {}
    }

    let (env, sg, _) = firewall_env();
    let inventory = breakglass::inventory::Inventory::load(&env.inventory).expect("inventory");
    let args: breakglass::actions::args::CloudFirewallBlock = toml::from_str(BLOCK).expect("args");
    let ctx = breakglass::actions::BuildContext {
        inventory: &inventory,
        run_id: "20261207T000000Z-000001",
        step_id: "block",
        cluster: Some("prod"),
        operator_cidrs: &[],
    };
    let action = breakglass::actions::build(
        &breakglass::actions::args::ActionArgs::CloudFirewallBlock(args),
        &ctx,
    )
    .expect("action");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let _inside = rt.enter();
    let aws = Aws::with_env(
        AwsConfig {
            cluster: "prod".into(),
            region: Some("us-east-1".into()),
            endpoint: Some(env.moto.endpoint.clone()),
            profile: None,
            config_file: None,
            credentials_file: None,
            timeout: std::time::Duration::from_secs(5),
            deadline: std::time::Duration::from_secs(10),
        },
        Arc::new(breakglass::transport::RateLimiter::new(0.0)),
        Arc::new(breakglass::transport::rate::Budget::new(100)),
        breakglass::transport::cloud::aws::credentials::Env::from_pairs([
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
        ]),
    )
    .expect("client");
    let mut cx = Cx {
        target: Target::Cloud {
            cluster: "prod".into(),
            resource: CloudResource::security_group(&sg),
        },
        aws: Arc::new(aws),
        cancel: breakglass::cancel::Cancel::new(),
    };
    let snapshot = action.snapshot(&mut cx).expect("snapshot");
    // Another operator removes one of the rules the block is about to revoke.
    env.moto
        .boto(
            &format!(
                "ec2.revoke_security_group_ingress(GroupId={sg:?}, IpPermissions=[{{'IpProtocol': 'tcp', \
                 'FromPort': 443, 'ToPort': 443, 'IpRanges': [{{'CidrIp': '0.0.0.0/0'}}]}}])\n"
            ),
            None,
        )
        .expect("revoke by hand");
    let e = action
        .apply(&mut cx, &snapshot)
        .expect_err("a revoke matched no rule");
    assert_eq!(e.outcome, breakglass::outcome::Outcome::Failed);
    assert!(
        e.message
            .contains("revoking tcp 443 from 0.0.0.0/0 matched no rule"),
        "{}",
        e.message
    );
}

/// moto's EKS: `UpdateClusterConfig` answers `{}` (no update id) and replaces the whole
/// `resourcesVpcConfig`, so the block sends all of it and verify reads the cluster back.
#[test]
fn an_eks_public_endpoint_is_blocked_to_the_break_glass_cidrs_and_undo_restores_them() {
    let moto = Moto::start().expect("moto_server");
    moto.boto(
        "eks.create_cluster(name='prod', roleArn='arn:aws:iam::123456789012:role/eks', resourcesVpcConfig={\
         'endpointPublicAccess': True, 'endpointPrivateAccess': False, 'publicAccessCidrs': ['0.0.0.0/0', '198.51.100.0/24']})\n",
        None,
    )
    .expect("cluster");
    let env = Env::with(
        moto,
        "eks_cluster = \"prod\"\noperator_cidrs = [\"203.0.113.7/32\"]\n",
    );
    let cidrs = |env: &Env| -> (String, String) {
        let out = env
            .moto
            .boto(
                "c = eks.describe_cluster(name='prod')['cluster']\n\
                 print(json.dumps(c['resourcesVpcConfig'])); print(json.dumps(sorted(c.get('tags', {}))))\n",
                None,
            )
            .expect("describe");
        let mut lines = out.lines();
        (
            lines.next().unwrap_or_default().to_owned(),
            lines.next().unwrap_or_default().to_owned(),
        )
    };
    let before = cidrs(&env);
    let rb = env.step(
        "cloud.firewall.block",
        "allow = [\"203.0.113.0/24\"]\non = [\"eks_endpoint\"]",
    );
    let plan = env.bg(None).arg("plan").arg(&rb).run().ok();
    assert!(
        plan.stdout.contains(
            "note eks/prod: the private endpoint is off: nodes reach the public endpoint"
        ),
        "{}",
        plan.stdout
    );
    let out = env.run(None, &rb).ok();
    let events = out.json_lines();
    let r = results(&events, "apply");
    assert_eq!(
        r,
        [(
            "eks/prod".to_owned(),
            "ok".to_owned(),
            "EKS cluster prod: publicAccessCidrs 0.0.0.0/0, 198.51.100.0/24 → 203.0.113.0/24"
                .to_owned()
        )]
    );
    let (blocked, tags) = cidrs(&env);
    assert_eq!(
        blocked,
        r#"{"endpointPublicAccess": true, "endpointPrivateAccess": false, "publicAccessCidrs": ["203.0.113.0/24"]}"#
    );
    assert!(tags.contains("breakglass/block/"), "{tags}");
    let run = events[0]["run_id"].as_str().expect("run id").to_owned();
    assert_eq!(env.undo(&run)[0].1, "ok");
    assert_eq!(cidrs(&env), before);
}

// ---------------------------------------------------------------------------------------------
// apiservers.scale

/// A self-managed control plane in moto: a subnet of loopback addresses (moto hands out
/// `.4`, `.5`, ... in order), so the instances' private IPs are where the tests' API servers
/// listen. One API server now; the step asks for three. The third answers only later: the step
/// ends `pending` at its wait, and `resume` finishes it.
#[test]
fn apiservers_scale_grows_the_control_plane_group_until_each_new_server_is_ready() {
    let moto = Moto::start().expect("moto_server");
    // A /24 of loopback per test run, so parallel tests do not share addresses.
    let net = format!("127.{}.{}", 100 + fastrand::u8(..100), fastrand::u8(1..250));
    moto.boto(
        &format!(
            "vpc = ec2.create_vpc(CidrBlock='{net}.0/24')['Vpc']['VpcId']\n\
             sn = ec2.create_subnet(VpcId=vpc, CidrBlock='{net}.0/24', AvailabilityZone='us-east-1a')['Subnet']['SubnetId']\n\
             asg.create_launch_configuration(LaunchConfigurationName='cp-lc', ImageId='ami-12c6146b', InstanceType='t3.micro')\n\
             asg.create_auto_scaling_group(AutoScalingGroupName='prod-cp', LaunchConfigurationName='cp-lc', MinSize=1, MaxSize=3, \
             DesiredCapacity=1, VPCZoneIdentifier=sn, Tags=[{{'Key': 'k8s-role', 'Value': 'control-plane', 'PropagateAtLaunch': True}}])\n"
        ),
        None,
    )
    .expect("control plane group");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut servers = crate::support::readyz::Readyz::new();
    servers.serve(&format!("{net}.4"), port);
    servers.serve(&format!("{net}.5"), port);
    let env = Env::with(
        moto,
        &format!(
            "control_plane = {{ asg = \"prod-cp\", tag = \"k8s-role=control-plane\", port = {port} }}\n"
        ),
    );
    // The cluster's CA and TLS name, as the API client takes them.
    servers.trusted_by(&env.inventory);
    let rb = env.step("apiservers.scale", "to = 3\nwait = \"3s\"");
    let plan = env.bg(None).arg("plan").arg(&rb).run().ok();
    assert!(
        plan.stdout.contains("scale the control plane's group control-plane (Auto Scaling group prod-cp) to desired 3")
            && plan.stdout.contains(&format!("/readyz on port {port} of each instance tagged k8s-role=control-plane")),
        "{}",
        plan.stdout
    );
    let out = env.run(None, &rb).code(3);
    let events = out.json_lines();
    let r = results(&events, "apply");
    assert!(
        r.len() == 1
            && r[0].1 == "pending"
            && r[0].2.contains("2 of 3 API servers ready")
            && r[0].2.contains(&format!("({net}.6)"))
            && r[0].2.contains("`breakglass resume RUN` waits again"),
        "{r:?}"
    );
    assert_eq!(env.moto.asg("prod-cp", None).expect("asg"), [1, 3, 3, 3]);
    let run = events[0]["run_id"].as_str().expect("run id").to_owned();

    // The third API server comes up: resume waits again and the step completes.
    servers.serve(&format!("{net}.6"), port);
    let out = env
        .bg(None)
        .args(["--output", "json", "resume", &run, "--yes"])
        .run()
        .ok();
    let r = results(&out.json_lines(), "apply");
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].1, "ok", "{r:?}");

    assert_eq!(env.undo(&run)[0].1, "ok");
    assert_eq!(env.moto.asg("prod-cp", None).expect("asg")[..3], [1, 3, 1]);
}

/// EKS as its API reference describes the calls moto lacks (it has no `DescribeUpdate` and no
/// control-plane tier):
/// - `DescribeCluster`, `GET /clusters/{name}`
///   (<https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeCluster.html>): the cluster with
///   `controlPlaneScalingConfig.tier` (<https://docs.aws.amazon.com/eks/latest/APIReference/API_ControlPlaneScalingConfig.html>), `status` UPDATING
///   while an update runs;
/// - `UpdateClusterConfig`, `POST /clusters/{name}/update-config`
///   (<https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateClusterConfig.html>): `{"update": {"id", "status": "InProgress", "type",
///   "params", "errors": []}}`;
/// - `DescribeUpdate`, `GET /clusters/{name}/updates/{updateId}` (<https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeUpdate.html>):
///   `InProgress` for `polls` answers, then `Successful` (never, with `polls = None`); an
///   unknown id is `ResourceNotFoundException` (HTTP 404, `X-Amzn-ErrorType`, body
///   `{"message": ...}`, as in <https://docs.aws.amazon.com/eks/latest/APIReference/CommonErrors.html>); the first poll is throttled: HTTP 429 with
///   `Retry-After: 1` and `ThrottlingException`;
/// - `TagResource` / `UntagResource`, `POST|DELETE /tags/{resourceArn}` (<https://docs.aws.amazon.com/eks/latest/APIReference/API_TagResource.html>).
struct EksStub {
    endpoint: String,
    state: std::sync::Arc<std::sync::Mutex<EksState>>,
}

#[derive(Default)]
struct EksState {
    tier: String,
    tags: serde_json::Map<String, Value>,
    /// (id, tier asked, polls so far)
    update: Option<(String, String, u32)>,
    describe_updates: u32,
    throttled: u32,
    /// `UpdateClusterConfig` calls answered.
    updates_started: u32,
    /// `InProgress` answers before `Successful`; None: never done.
    polls: Option<u32>,
}

impl EksStub {
    fn start(polls: Option<u32>) -> EksStub {
        use std::sync::{Arc, Mutex};
        const ARN: &str = "arn:aws:eks:us-east-1:123456789012:cluster/prod";
        let state = Arc::new(Mutex::new(EksState {
            tier: "standard".into(),
            polls,
            ..EksState::default()
        }));
        let s = Arc::clone(&state);
        let json = |status: u16, body: Value| {
            (
                status,
                vec![("Content-Type", "application/json".to_owned())],
                body.to_string(),
            )
        };
        let endpoint = breakglass::lab::stub::stub(move |r| {
            assert!(
                r.header("authorization").is_some_and(|a| a.contains("/us-east-1/eks/aws4_request")),
                "unsigned or not for EKS: {:?}",
                r.header("authorization")
            );
            let mut st = s.lock().expect("state");
            let path = r.path.split('?').next().unwrap_or_default().to_owned();
            match (r.method.as_str(), path.as_str()) {
                ("GET", "/clusters/prod") => {
                    let updating = st.update.is_some();
                    json(200, serde_json::json!({"cluster": {"name": "prod", "arn": ARN,
                        "status": if updating { "UPDATING" } else { "ACTIVE" },
                        "resourcesVpcConfig": {"endpointPublicAccess": true, "endpointPrivateAccess": true, "publicAccessCidrs": ["0.0.0.0/0"]},
                        "controlPlaneScalingConfig": {"tier": st.tier}, "tags": st.tags}}))
                }
                ("POST", "/clusters/prod/update-config") => {
                    // One update at a time (ResourceInUseException, HTTP 409, as
                    // https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateClusterConfig.html#API_UpdateClusterConfig_Errors lists).
                    if st.update.is_some() {
                        return (409, vec![("X-Amzn-ErrorType", "ResourceInUseException:http://internal.amazon.com/coral/com.amazonaws.eks/".to_owned())],
                            serde_json::json!({"message": "Cluster has update in progress", "clusterName": "prod"}).to_string());
                    }
                    st.updates_started += 1;
                    let body: Value = serde_json::from_str(&r.body).expect("json body");
                    let tier = body.pointer("/controlPlaneScalingConfig/tier").and_then(Value::as_str).expect("a tier").to_owned();
                    assert!(body["clientRequestToken"].is_string());
                    let id = format!("u-{}", fastrand::u32(..));
                    st.update = Some((id.clone(), tier.clone(), 0));
                    json(200, serde_json::json!({"update": {"id": id, "status": "InProgress", "type": "ScalingTierConfigUpdate",
                        "params": [{"type": "ScalingTier", "value": tier}], "createdAt": 1.7e9, "errors": []}}))
                }
                ("GET", p) if p.starts_with("/clusters/prod/updates/") => {
                    st.describe_updates += 1;
                    if st.describe_updates == 1 {
                        st.throttled += 1;
                        return (429, vec![("Retry-After", "1".to_owned()), ("X-Amzn-ErrorType", "ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/".to_owned())],
                            serde_json::json!({"message": "Rate exceeded"}).to_string());
                    }
                    let id = p.rsplit('/').next().unwrap_or_default();
                    let Some((uid, tier, n)) = st.update.clone().filter(|u| u.0 == id) else {
                        return (404, vec![("X-Amzn-ErrorType", "ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.eks/".to_owned())],
                            serde_json::json!({"message": format!("No update found for ID: {id}")}).to_string());
                    };
                    let done = st.polls.is_some_and(|p| n >= p);
                    if done {
                        st.tier.clone_from(&tier);
                        st.update = None;
                    } else {
                        st.update = Some((uid.clone(), tier.clone(), n + 1));
                    }
                    json(200, serde_json::json!({"update": {"id": uid, "status": if done { "Successful" } else { "InProgress" },
                        "type": "ScalingTierConfigUpdate", "params": [{"type": "ScalingTier", "value": tier}], "errors": []}}))
                }
                ("POST", p) if p.starts_with("/tags/") => {
                    let body: Value = serde_json::from_str(&r.body).expect("json body");
                    for (k, v) in body["tags"].as_object().expect("tags") {
                        st.tags.insert(k.clone(), v.clone());
                    }
                    json(200, serde_json::json!({}))
                }
                ("DELETE", p) if p.starts_with("/tags/") => {
                    let query = r.path.split_once('?').map(|q| q.1).unwrap_or_default().to_owned();
                    for kv in query.split('&') {
                        if let Some(("tagKeys", k)) = kv.split_once('=') {
                            st.tags.remove(&k.replace("%2F", "/"));
                        }
                    }
                    json(200, serde_json::json!({}))
                }
                (m, p) => (404, vec![("X-Amzn-ErrorType", "ResourceNotFoundException".to_owned())],
                    serde_json::json!({"message": format!("no route {m} {p}")}).to_string()),
            }
        })
        .expect("stub");
        EksStub { endpoint, state }
    }
}

#[test]
fn an_eks_tier_update_is_followed_to_completion_and_undone() {
    let stub = EksStub::start(Some(2));
    let scratch = Scratch::new();
    let inventory = scratch.write(
        "inventory.toml",
        &format!(
            "[clusters.prod]\napi_endpoints = [\"127.0.0.1:6443\"]\n\n[clusters.prod.aws]\n\
             region = \"us-east-1\"\nendpoint = \"{}\"\neks_cluster = \"prod\"\n",
            stub.endpoint
        ),
    );
    let bg = || {
        scratch
            .bg_with(&inventory)
            .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "not-checked")
    };
    let rb = one_step_runbook(
        &scratch,
        "prod",
        "tier",
        "apiservers.scale",
        "tier = \"tier-xl\"\nwait = \"30s\"",
    );
    let plan = bg().arg("plan").arg(&rb).run().ok();
    assert!(
        plan.stdout.contains("now eks/prod: tier standard"),
        "{}",
        plan.stdout
    );
    let started = std::time::Instant::now();
    let out = bg()
        .args(["--output", "json", "run"])
        .arg(&rb)
        .arg("--yes")
        .run()
        .ok();
    let events = out.json_lines();
    let r = results(&events, "apply");
    assert!(
        r.len() == 1
            && r[0].1 == "ok"
            && r[0]
                .2
                .starts_with("EKS cluster prod: control-plane tier standard → tier-xl (update u-"),
        "{r:?}"
    );
    {
        let st = stub.state.lock().expect("state");
        assert_eq!(st.tier, "tier-xl");
        // One throttled poll (its Retry-After waited for), two InProgress, one Successful.
        assert_eq!((st.throttled, st.describe_updates), (1, 4));
        assert!(started.elapsed() >= std::time::Duration::from_secs(1));
        assert_eq!(
            st.tags
                .get(&format!(
                    "breakglass/prior/{}/tier",
                    events[0]["run_id"].as_str().unwrap_or_default()
                ))
                .and_then(Value::as_str),
            Some("standard")
        );
    }
    let run = events[0]["run_id"].as_str().expect("run id").to_owned();
    stub.state.lock().expect("state").describe_updates = 1; // no second throttle
    let out = bg()
        .args(["--output", "json", "undo", &run, "--yes"])
        .run()
        .ok();
    assert_eq!(results(&out.json_lines(), "undo")[0].1, "ok");
    let st = stub.state.lock().expect("state");
    assert_eq!(st.tier, "standard");
    assert!(st.tags.is_empty(), "{:?}", st.tags);
}

/// An update that never completes: the target is `pending` at the step's wait, the message
/// says what to do, and the journal (hash chain intact) has the snapshot and the result with
/// the update's id, which `resume` follows once EKS finishes it.
#[test]
fn an_eks_update_that_never_completes_is_pending_and_resume_follows_the_same_update() {
    let stub = EksStub::start(None);
    let scratch = Scratch::new();
    let inventory = scratch.write(
        "inventory.toml",
        &format!(
            "[clusters.prod]\napi_endpoints = [\"127.0.0.1:6443\"]\n\n[clusters.prod.aws]\n\
             region = \"us-east-1\"\nendpoint = \"{}\"\neks_cluster = \"prod\"\n",
            stub.endpoint
        ),
    );
    let rb = one_step_runbook(
        &scratch,
        "prod",
        "tier",
        "apiservers.scale",
        "tier = \"tier-2xl\"\nwait = \"3s\"",
    );
    let out = scratch
        .bg_with(&inventory)
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "not-checked")
        .args(["--output", "json", "run"])
        .arg(&rb)
        .arg("--yes")
        .run()
        .code(3);
    let events = out.json_lines();
    let r = results(&events, "apply");
    assert!(
        r.len() == 1
            && r[0].1 == "pending"
            && r[0].2.contains("EKS cluster prod: update u-")
            && r[0].2.contains("not done after")
            && r[0].2.contains("status InProgress")
            && r[0]
                .2
                .contains("`breakglass undo RUN` sets the tier from before"),
        "{r:?}"
    );
    let run = events[0]["run_id"].as_str().expect("run id").to_owned();
    scratch.bg().args(["journal", "verify", &run]).run().ok();
    let journal = std::fs::read_to_string(scratch.journal_dir().join(&run).join("journal.jsonl"))
        .expect("journal");
    let kinds: Vec<Value> = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|r| r["event"].clone())
        .filter(|e| e["type"] == "snapshot" || e["type"] == "target_result")
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert_eq!(kinds[0]["state"], serde_json::json!({"tier": "standard"}));
    assert_eq!(kinds[1]["outcome"], "pending");
    // The update's id is journaled with the pending result.
    let id = kinds[1]["detail"]["update"]
        .as_str()
        .expect("the update id in the journal")
        .to_owned();
    assert_eq!(kinds[1]["detail"]["after"], "tier-2xl");
    assert_eq!(
        stub.state.lock().expect("state").tier,
        "standard",
        "the update never finished"
    );

    // EKS finishes it after a while: resume follows the same update (EKS refuses a second one
    // while it runs) to completion.
    stub.state.lock().expect("state").polls = Some(1);
    let out = scratch
        .bg_with(&inventory)
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "not-checked")
        .args(["--output", "json", "resume", &run, "--yes"])
        .run()
        .ok();
    let r = results(&out.json_lines(), "apply");
    assert!(
        r.len() == 1
            && r[0].1 == "ok"
            && r[0].2.contains(&format!(
                "tier standard → tier-2xl (update {id}, started by an earlier attempt)"
            )),
        "{r:?}"
    );
    let st = stub.state.lock().expect("state");
    assert_eq!((st.tier.as_str(), st.updates_started), ("tier-2xl", 1));
}

// ---------------------------------------------------------------------------------------------
// `inventory import aws`, against the same moto: instances by tag, Auto Scaling groups (pages of
// one), the EKS cluster's node groups (pages of one); the file loads back into `plan`.

/// A self-managed cluster `prod` made with boto3: a control-plane group of 3 (kops's role tag,
/// its own security group), two worker groups (one scaled to 0: found by its tags alone), one
/// instance with hostile tags, and an instance of another cluster. The security group's id.
fn self_managed_cluster(moto: &Moto) -> String {
    moto.boto(
        "vpc = ec2.create_vpc(CidrBlock='10.0.0.0/16')['Vpc']['VpcId']\n\
         sub = ec2.create_subnet(VpcId=vpc, CidrBlock='10.0.1.0/24', AvailabilityZone='us-east-1a')['Subnet']['SubnetId']\n\
         sg = ec2.create_security_group(GroupName='apiservers', Description='API servers', VpcId=vpc)['GroupId']\n\
         c = {'Key': 'kubernetes.io/cluster/prod', 'Value': 'owned', 'PropagateAtLaunch': True}\n\
         def group(name, n, role, sgs):\n\
         \x20 asg.create_launch_configuration(LaunchConfigurationName=name + '-lc', ImageId='ami-12c6146b', InstanceType='t3.micro', SecurityGroups=sgs)\n\
         \x20 asg.create_auto_scaling_group(AutoScalingGroupName=name, LaunchConfigurationName=name + '-lc', MinSize=0, MaxSize=10, DesiredCapacity=n, VPCZoneIdentifier=sub,\n\
         \x20   Tags=[dict(c, ResourceId=name, ResourceType='auto-scaling-group'), {'Key': role, 'Value': '1', 'PropagateAtLaunch': True, 'ResourceId': name, 'ResourceType': 'auto-scaling-group'}])\n\
         group('prod-cp', 3, 'k8s.io/role/control-plane', [sg])\n\
         group('prod-workers-a', 2, 'k8s.io/role/node', [])\n\
         group('prod-workers-b', 0, 'k8s.io/role/node', [])\n\
         ec2.run_instances(ImageId='ami-12c6146b', MinCount=1, MaxCount=1, SubnetId=sub, TagSpecifications=[{'ResourceType': 'instance', 'Tags': [\n\
         \x20 {'Key': 'kubernetes.io/cluster/prod', 'Value': 'owned'}, {'Key': 'Name', 'Value': 'x\"\\n[[hosts]]\t[2J'},\n\
         \x20 {'Key': 'evil', 'Value': 'a,b in (c)'}, {'Key': 'team', 'Value': 'sre'}, {'Key': 'role', 'Value': 'worker'}]}])\n\
         ec2.run_instances(ImageId='ami-12c6146b', MinCount=1, MaxCount=1, SubnetId=sub, TagSpecifications=[{'ResourceType': 'instance', 'Tags': [\n\
         \x20 {'Key': 'kubernetes.io/cluster/other', 'Value': 'owned'}]}])\n\
         print(sg)\n",
        None,
    )
    .expect("cluster")
    .trim()
    .to_owned()
}

/// `inventory import aws` against moto, with the dummy key.
fn import(scratch: &Scratch, moto: &Moto, args: &[&str]) -> crate::support::Ran {
    scratch
        .bg()
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "import-secret-not-for-output")
        .args([
            "inventory",
            "import",
            "aws",
            "--region",
            "us-east-1",
            "--endpoint",
        ])
        .arg(&moto.endpoint)
        .args(args)
        .run()
}

#[test]
fn import_writes_a_self_managed_cluster_that_plan_loads() {
    let moto = Moto::start().expect("moto_server");
    let sg = self_managed_cluster(&moto);
    let scratch = Scratch::new();
    let file = scratch.path().join("prod.toml");
    let file_s = file.to_str().expect("utf-8");
    let out = import(
        &scratch,
        &moto,
        &[
            "--cluster",
            "prod",
            "--page-size",
            "1",
            "--out",
            file_s,
            "--output",
            "json",
        ],
    )
    .ok();
    assert!(!out.stderr.contains("import-secret"), "{}", out.stderr);
    let lines = out.json_lines();
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    let event: breakglass::commands::inventory_import::ImportEvent =
        serde_json::from_value(lines[0].clone()).expect("an inventory_import event");
    assert_eq!(event.kind, "inventory_import");
    assert_eq!(
        (
            event.machines,
            event.hosts,
            event.control_plane,
            event.workers
        ),
        (6, 6, 3, 3),
        "{event:?}\n{}",
        out.stderr
    );
    assert_eq!(event.node_groups, ["prod-workers-a", "prod-workers-b"]);
    // The Auto Scaling groups came in pages of one, all of them.
    assert!(
        out.stderr
            .contains("DescribeAutoScalingGroups page 3: 3 groups so far"),
        "{}",
        out.stderr
    );
    // Hostile tags: left out, named escaped; nothing of them in the file or raw on stderr.
    let dropped: Vec<&str> = event
        .dropped_labels
        .iter()
        .map(|d| d.key.as_str())
        .collect();
    assert!(
        dropped.contains(&"\"Name\"") && dropped.contains(&"\"evil\""),
        "{dropped:?}"
    );
    assert!(!out.stderr.contains('\x1b'), "{}", out.stderr);
    let text = std::fs::read_to_string(&file).expect("written");
    assert!(
        text.starts_with("# breakglass inventory import of cluster prod: 6 hosts"),
        "{text}"
    );
    assert!(!text.contains("a,b in") && !text.contains("[2J"), "{text}");
    assert!(
        text.contains(&format!("apiserver_security_group = \"{sg}\"")),
        "{text}"
    );
    assert!(text.contains("asg = \"prod-cp\""), "{text}");

    // It loads as it is: `inventory show` and `plan` read it.
    let shown = scratch
        .bg_with(&file)
        .args(["--output", "json", "inventory", "show"])
        .run()
        .ok();
    let hosts: Vec<Value> = serde_json::from_str(&shown.stdout).expect("hosts");
    assert_eq!(hosts.len(), 6);
    let cp: Vec<&Value> = hosts
        .iter()
        .filter(|h| h["labels"]["role"] == "control-plane")
        .collect();
    assert_eq!(cp.len(), 3);
    assert!(cp.iter().all(|h| h["labels"].get("node-group").is_none()));
    let workers_a = hosts
        .iter()
        .filter(|h| h["labels"]["node-group"] == "prod-workers-a")
        .count();
    assert_eq!(workers_a, 2);
    let odd = hosts
        .iter()
        .find(|h| h["labels"]["team"] == "sre")
        .expect("the hostile-tagged instance");
    assert_eq!(odd["labels"]["role"], "worker");
    assert!(
        odd["name"]
            .as_str()
            .expect("name")
            .starts_with("ip-10-0-1-")
    );
    assert_eq!(odd["labels"]["topology.kubernetes.io/zone"], "us-east-1a");
    let runbook = one_step_runbook(&scratch, "prod", "shrink", "nodes.scale", "to = 1");
    scratch
        .bg_with(&file)
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .arg("plan")
        .arg(&runbook)
        .run()
        .ok()
        .stdout_has(
            "scale node group prod-workers-a (Auto Scaling group prod-workers-a) to desired 1",
        )
        .stdout_has("prod-workers-b (Auto Scaling group prod-workers-b)");

    // An existing file is not replaced without --force; `--out -` prints the same inventory,
    // and refuses --output json (it would mix into it).
    import(&scratch, &moto, &["--cluster", "prod", "--out", file_s])
        .code(2)
        .stderr_has("exists; refusing to replace it");
    let printed = import(&scratch, &moto, &["--cluster", "prod", "--out", "-"]).ok();
    assert!(
        printed
            .stdout
            .starts_with("# breakglass inventory import of cluster prod: 6 hosts")
    );
    assert!(
        printed.stderr.contains("wrote the inventory to stdout"),
        "{}",
        printed.stderr
    );
    import(
        &scratch,
        &moto,
        &["--cluster", "prod", "--out", "-", "--output", "json"],
    )
    .code(2)
    .stderr_has("would mix its summary into it");
    import(
        &scratch,
        &moto,
        &[
            "--cluster",
            "prod",
            "--out",
            file_s,
            "--force",
            "--tag",
            "team=sre",
        ],
    )
    .ok()
    .stdout_has("1 host of cluster prod");
    // Nothing matches: exit 1, and the file stays as it was.
    import(
        &scratch,
        &moto,
        &["--cluster", "nope", "--out", file_s, "--force"],
    )
    .code(1)
    .stderr_has("no machine of cluster nope can be written");
    assert!(
        std::fs::read_to_string(&file)
            .expect("file")
            .contains("1 host")
    );
}

#[test]
fn import_writes_an_eks_clusters_node_groups_and_security_group() {
    let moto = Moto::start().expect("moto_server");
    let sg = moto
        .boto(
            "vpc = ec2.create_vpc(CidrBlock='10.1.0.0/16')['Vpc']['VpcId']\n\
             sub = ec2.create_subnet(VpcId=vpc, CidrBlock='10.1.2.0/24', AvailabilityZone='us-east-1b')['Subnet']['SubnetId']\n\
             sg = ec2.create_security_group(GroupName='eks', Description='EKS', VpcId=vpc)['GroupId']\n\
             eks.create_cluster(name='eks1', roleArn='arn:aws:iam::123456789012:role/eks', resourcesVpcConfig={'subnetIds': [sub], 'securityGroupIds': [sg]})\n\
             for ng in ['ng1', 'ng2', 'ng3']:\n\
             \x20 eks.create_nodegroup(clusterName='eks1', nodegroupName=ng, subnets=[sub], nodeRole='arn:aws:iam::123456789012:role/node', scalingConfig={'minSize': 1, 'maxSize': 5, 'desiredSize': 2})\n\
             for ng in ['ng1', 'ng2']:\n\
             \x20 ec2.run_instances(ImageId='ami-12c6146b', MinCount=2, MaxCount=2, SubnetId=sub, TagSpecifications=[{'ResourceType': 'instance', 'Tags': [\n\
             \x20   {'Key': 'kubernetes.io/cluster/eks1', 'Value': 'owned'}, {'Key': 'eks:cluster-name', 'Value': 'eks1'}, {'Key': 'eks:nodegroup-name', 'Value': ng}]}])\n\
             print(sg)\n",
            None,
        )
        .expect("eks")
        .trim()
        .to_owned();
    let scratch = Scratch::new();
    let file = scratch.path().join("eks1.toml");
    let out = import(
        &scratch,
        &moto,
        &[
            "--cluster",
            "eks1",
            "--page-size",
            "1",
            "--out",
            file.to_str().expect("utf-8"),
        ],
    )
    .ok()
    .stdout_has("4 hosts of cluster eks1 (0 control-plane, 4 worker), 3 node groups");
    assert!(
        out.stderr
            .contains("EKS ListNodegroups page 3: 3 node groups so far")
            && out
                .stderr
                .contains("is a DNS name and breakglass never resolves names"),
        "{}",
        out.stderr
    );
    let inv = breakglass::inventory::Inventory::load(&file).expect("loads");
    let aws = inv.clusters["eks1"].aws.as_ref().expect("aws");
    assert_eq!(aws.eks_cluster.as_deref(), Some("eks1"));
    assert_eq!(aws.apiserver_security_group.as_deref(), Some(sg.as_str()));
    let groups: Vec<String> = aws
        .node_groups
        .iter()
        .map(|g| g.backing.describe())
        .collect();
    assert_eq!(
        groups,
        [
            "EKS node group eks1/ng1",
            "EKS node group eks1/ng2",
            "EKS node group eks1/ng3"
        ]
    );
    assert!(inv.clusters["eks1"].api_endpoints.is_empty());
    let in_ng1 = inv
        .hosts
        .iter()
        .filter(|h| h.labels.get("node-group").map(String::as_str) == Some("ng1"))
        .count();
    assert_eq!(in_ng1, 2);
    assert!(inv.hosts.iter().all(|h| h.labels["role"] == "worker"));
}
