//! The AWS client against a real `moto_server` (`crate::lab::moto`, which fails loudly when moto
//! is missing), an IMDSv2 stub and a throttling stub: signatures checked by moto's auth mode,
//! every credential source, and pacing under a throttling storm.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::autoscaling::Sizes;
use super::client::{Aws, AwsConfig, AwsError};
use super::credentials::Env;
use crate::lab::moto::{Moto, REGION};
use crate::lab::stub::stub;
use crate::transport::RateLimiter;
use crate::transport::rate::Budget;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn config(endpoint: &str, profile: Option<&str>) -> AwsConfig {
    AwsConfig {
        cluster: "prod".into(),
        region: Some(REGION.into()),
        endpoint: Some(endpoint.into()),
        profile: profile.map(str::to_owned),
        config_file: None,
        credentials_file: None,
        timeout: Duration::from_secs(5),
        deadline: Duration::from_secs(10),
    }
}

fn client(config: AwsConfig, env: &[(&str, &str)]) -> Aws {
    Aws::with_env(
        config,
        Arc::new(RateLimiter::new(0.0)),
        Arc::new(Budget::new(100)),
        Env::from_pairs(env.iter().copied()),
    )
    .expect("client")
}

fn keys<'a>(id: &'a str, secret: &'a str) -> [(&'a str, &'a str); 2] {
    [("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", secret)]
}

#[test]
fn a_group_is_read_resized_and_tagged_through_moto() {
    let moto = Moto::start().expect("moto_server");
    moto.create_asg("prod-workers-a", 2, 10, 6).expect("asg");
    let aws = client(
        config(&moto.endpoint, None),
        &keys("AKIAIOSFODNN7EXAMPLE", "x"),
    );
    rt().block_on(async {
        let g = aws
            .describe_auto_scaling_group("prod-workers-a")
            .await
            .expect("describe")
            .expect("exists");
        assert_eq!((g.min, g.max, g.desired, g.in_service), (2, 10, 6, 6));
        assert_eq!(
            aws.describe_auto_scaling_group("nope")
                .await
                .expect("describe"),
            None
        );
        aws.update_auto_scaling_group(
            "prod-workers-a",
            Sizes {
                min: 1,
                max: 10,
                desired: 1,
            },
        )
        .await
        .expect("update");
        aws.tag_auto_scaling_group(
            "prod-workers-a",
            "breakglass/run/step",
            "min=2,max=10,desired=6",
        )
        .await
        .expect("tag");
        let g = aws
            .describe_auto_scaling_group("prod-workers-a")
            .await
            .expect("describe")
            .expect("exists");
        assert_eq!((g.min, g.desired), (1, 1));
        assert_eq!(
            g.tags.get("breakglass/run/step").map(String::as_str),
            Some("min=2,max=10,desired=6")
        );
        aws.untag_auto_scaling_group("prod-workers-a", "breakglass/run/step")
            .await
            .expect("untag");
    });
    assert_eq!(
        moto.asg("prod-workers-a", None).expect("read back"),
        [1, 10, 1, 1]
    );
}

#[test]
fn an_eks_node_group_is_read_and_resized_through_moto() {
    let moto = Moto::start().expect("moto_server");
    moto.create_nodegroup("prod", "ng1", 1, 5, 3)
        .expect("node group");
    let aws = client(
        config(&moto.endpoint, None),
        &keys("AKIAIOSFODNN7EXAMPLE", "x"),
    );
    rt().block_on(async {
        let ng = aws
            .describe_nodegroup("prod", "ng1")
            .await
            .expect("describe")
            .expect("exists");
        assert_eq!(
            ng.sizes,
            Sizes {
                min: 1,
                max: 5,
                desired: 3
            }
        );
        assert_eq!(
            aws.describe_nodegroup("prod", "nope")
                .await
                .expect("describe"),
            None
        );
        aws.update_nodegroup_scaling(
            "prod",
            "ng1",
            Sizes {
                min: 0,
                max: 5,
                desired: 0,
            },
        )
        .await
        .expect("update");
    });
    assert_eq!(moto.nodegroup("prod", "ng1").expect("read back"), [0, 5, 0]);
}

/// moto's auth mode: 2 calls for the group, 3 for the user, 3 for the user without rights; then
/// every request is checked.
#[test]
fn signatures_are_checked_by_moto_and_a_missing_permission_is_named() {
    let moto = Moto::start_with_auth(8).expect("moto_server");
    moto.create_asg("prod-workers-a", 2, 10, 4).expect("asg");
    let key = moto
        .create_user("breakglass", &["autoscaling:*"])
        .expect("user");
    let reader = moto
        .create_user("reader", &["autoscaling:Describe*"])
        .expect("user");
    rt().block_on(async {
        // A wrong secret: moto computes another signature and refuses.
        let wrong = client(
            config(&moto.endpoint, None),
            &keys(&key.id, "not-the-secret"),
        );
        let e = wrong
            .describe_auto_scaling_group("prod-workers-a")
            .await
            .expect_err("a wrong signature must be refused");
        assert!(
            matches!(&e, AwsError::AuthFailed { code, .. } if code == "SignatureDoesNotMatch"),
            "{e:?}"
        );
        let shown = e.to_string();
        assert!(
            shown.contains("the environment") && !shown.contains("not-the-secret"),
            "{shown}"
        );

        // The right one: the same calls go through.
        let right = client(config(&moto.endpoint, None), &keys(&key.id, &key.secret));
        let g = right
            .describe_auto_scaling_group("prod-workers-a")
            .await
            .expect("signed correctly")
            .expect("exists");
        assert_eq!(g.desired, 4);
        right
            .update_auto_scaling_group(
                "prod-workers-a",
                Sizes {
                    min: 2,
                    max: 10,
                    desired: 2,
                },
            )
            .await
            .expect("update");

        // A key without the permission: the error names it.
        let ro = client(
            config(&moto.endpoint, None),
            &keys(&reader.id, &reader.secret),
        );
        ro.describe_auto_scaling_group("prod-workers-a")
            .await
            .expect("may describe");
        let e = ro
            .update_auto_scaling_group(
                "prod-workers-a",
                Sizes {
                    min: 0,
                    max: 10,
                    desired: 0,
                },
            )
            .await
            .expect_err("not allowed");
        assert!(
            e.to_string()
                .contains("needs the IAM permission autoscaling:UpdateAutoScalingGroup"),
            "{e}"
        );
    });
    assert_eq!(
        moto.asg("prod-workers-a", Some(&key)).expect("read"),
        [2, 10, 2, 2]
    );
}

/// A profile whose `credential_process` prints the key, and one that assumes a role with it
/// (STS AssumeRole through moto, in auth mode: the role's session credentials sign the call).
#[test]
fn credential_process_and_role_arn_profiles_reach_moto() {
    let moto = Moto::start_with_auth(7).expect("moto_server");
    moto.create_asg("prod-workers-a", 1, 5, 3).expect("asg");
    let key = moto
        .create_user("breakglass", &["sts:AssumeRole", "autoscaling:*"])
        .expect("user");
    let role = moto
        .create_role("breakglass-ops", "breakglass", &["autoscaling:*"])
        .expect("role");
    let dir = tempfile::tempdir().expect("tempdir");
    let printer = dir.path().join("print-key.sh");
    std::fs::write(
        &printer,
        format!(
            "#!/bin/sh\nprintf '{{\"Version\":1,\"AccessKeyId\":\"%s\",\"SecretAccessKey\":\"%s\"}}' '{}' '{}'\n",
            key.id, key.secret
        ),
    )
    .expect("script");
    let config_file = dir.path().join("config");
    std::fs::write(
        &config_file,
        format!(
            "[profile proc]\ncredential_process = sh {}\n\n[profile ops]\nrole_arn = {role}\nsource_profile = proc\nrole_session_name = incident\n",
            printer.display()
        ),
    )
    .expect("config");
    let env = [("AWS_CONFIG_FILE", config_file.to_str().expect("utf-8"))];
    rt().block_on(async {
        for profile in ["proc", "ops"] {
            let aws = client(config(&moto.endpoint, Some(profile)), &env);
            let g = aws
                .describe_auto_scaling_group("prod-workers-a")
                .await
                .unwrap_or_else(|e| panic!("profile {profile}: {e}"))
                .expect("exists");
            assert_eq!(g.desired, 3, "profile {profile}");
        }
        let ops = client(config(&moto.endpoint, Some("ops")), &env);
        assert!(
            ops.credential_source()
                .contains("assumed role arn:aws:iam::"),
            "{}",
            ops.credential_source()
        );
    });
}

/// IMDSv2 as the EC2 user guide describes it: a token from `PUT /latest/api/token`, required
/// on every `GET` after (401 without it), the role's name, then its credentials.
#[test]
fn instance_metadata_credentials_are_fetched_with_a_session_token() {
    let moto = Moto::start().expect("moto_server");
    moto.create_asg("prod-workers-a", 1, 5, 2).expect("asg");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let imds = stub(move |r| {
        log.lock()
            .expect("log")
            .push(format!("{} {}", r.method, r.path));
        match (r.method.as_str(), r.path.as_str()) {
            ("PUT", "/latest/api/token") if r.header("x-aws-ec2-metadata-token-ttl-seconds").is_some() => {
                (200, vec![], "imds-token".into())
            }
            ("GET", _) if r.header("x-aws-ec2-metadata-token") != Some("imds-token") => {
                (401, vec![], String::new())
            }
            ("GET", "/latest/meta-data/iam/security-credentials/") => {
                (200, vec![], "node-role\n".into())
            }
            ("GET", "/latest/meta-data/iam/security-credentials/node-role") => (
                200,
                vec![],
                r#"{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAIMDSEXAMPLE0","SecretAccessKey":"imds-secret","Token":"imds-session","Expiration":"2099-01-01T00:00:00Z"}"#.into(),
            ),
            _ => (404, vec![], String::new()),
        }
    }).expect("stub");
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().to_str().expect("utf-8");
    let aws = client(
        config(&moto.endpoint, None),
        &[("HOME", home), ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds)],
    );
    assert!(
        aws.credential_source().contains(&imds),
        "{}",
        aws.credential_source()
    );
    rt().block_on(async {
        let g = aws
            .describe_auto_scaling_group("prod-workers-a")
            .await
            .expect("signed with the instance role's credentials")
            .expect("exists");
        assert_eq!(g.desired, 2);
        // Cached: a second call asks IMDS nothing more.
        aws.describe_auto_scaling_group("prod-workers-a")
            .await
            .expect("again");
    });
    assert_eq!(
        *seen.lock().expect("log"),
        [
            "PUT /latest/api/token",
            "GET /latest/meta-data/iam/security-credentials/",
            "GET /latest/meta-data/iam/security-credentials/node-role"
        ]
    );
}

const EMPTY_GROUPS: &str = "<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult>\
    <AutoScalingGroups/></DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>";

/// Throttling as Auto Scaling sends it (400 with `<Code>Throttling</Code>`), then 429 with
/// `Retry-After`: retried, waiting what was asked, then the answer.
#[test]
fn throttling_is_retried_after_what_the_server_asks() {
    let count = Arc::new(AtomicUsize::new(0));
    let n = Arc::clone(&count);
    let endpoint = stub(move |r| {
        assert!(
            r.header("authorization")
                .is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256 Credential=AKIA")),
            "unsigned request"
        );
        assert!(
            r.body
                .starts_with("Action=DescribeAutoScalingGroups&Version=2011-01-01")
        );
        match n.fetch_add(1, Ordering::SeqCst) {
            0 => (
                400,
                vec![],
                "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>".into(),
            ),
            1 => (429, vec![("Retry-After", "2".into())], String::new()),
            _ => (200, vec![], EMPTY_GROUPS.into()),
        }
    }).expect("stub");
    let aws = client(config(&endpoint, None), &keys("AKIAIOSFODNN7EXAMPLE", "x"));
    let started = Instant::now();
    let g = rt()
        .block_on(aws.describe_auto_scaling_group("prod-workers-a"))
        .expect("answered after the throttling");
    assert_eq!(g, None);
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After: 2 was not waited for: {:?}",
        started.elapsed()
    );
}

/// A throttling storm: every answer is 503. Twelve concurrent calls at 5 requests per second
/// for 3 seconds send no more than the limiter allows, and end throttled, not failed.
#[test]
fn a_throttling_storm_is_held_under_the_rate_limit() {
    let times = Arc::new(Mutex::new(Vec::new()));
    let t = Arc::clone(&times);
    let endpoint = stub(move |_| {
        t.lock().expect("times").push(Instant::now());
        (503, vec![], "<ErrorResponse><Error><Code>ServiceUnavailable</Code><Message>slow down</Message></Error></ErrorResponse>".into())
    }).expect("stub");
    let mut cfg = config(&endpoint, None);
    cfg.deadline = Duration::from_secs(3);
    let aws = Arc::new(
        Aws::with_env(
            cfg,
            Arc::new(RateLimiter::new(5.0)),
            Arc::new(Budget::new(1000)),
            Env::from_pairs(keys("AKIAIOSFODNN7EXAMPLE", "x")),
        )
        .expect("client"),
    );
    let started = Instant::now();
    let results = rt().block_on(async {
        let calls: Vec<_> = (0..12)
            .map(|_| {
                let aws = Arc::clone(&aws);
                tokio::spawn(async move { aws.describe_auto_scaling_group("g").await })
            })
            .collect();
        let mut out = Vec::new();
        for c in calls {
            out.push(c.await.expect("task"));
        }
        out
    });
    let elapsed = started.elapsed().as_secs_f64();
    let sent = times.lock().expect("times").len();
    // 5 per second, the first at once.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let allowed = (elapsed * 5.0).ceil() as usize + 1;
    assert!(sent <= allowed, "{sent} requests in {elapsed:.1}s at 5/s");
    for r in results {
        assert!(
            matches!(
                &r,
                Err(AwsError::Throttled { .. } | AwsError::Api { status: 503, .. })
            ),
            "{r:?}"
        );
    }
}

#[test]
fn the_request_budget_ends_a_call() {
    let endpoint = stub(|_| (503, vec![], String::new())).expect("stub");
    let aws = Aws::with_env(
        config(&endpoint, None),
        Arc::new(RateLimiter::new(0.0)),
        Arc::new(Budget::new(2)),
        Env::from_pairs(keys("AKIAIOSFODNN7EXAMPLE", "x")),
    )
    .expect("client");
    let e = rt()
        .block_on(aws.describe_auto_scaling_group("g"))
        .expect_err("budget");
    assert_eq!(e, AwsError::Budget(2));
}
