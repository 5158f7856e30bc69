//! A real `moto_server` (PyPI `moto[server]`) on a free loopback port, for the AWS reach's
//! tests: Auto Scaling, EC2, EKS, IAM and STS behind one endpoint, routed by the service in each
//! request's SigV4 scope. Optionally in moto's auth mode (`INITIAL_NO_AUTH_ACTION_COUNT`): the
//! first calls are free (to create an IAM user, its policy and its access key), and every call
//! after that must be signed with a key moto issued. Stopped by PID on drop.
//!
//! The fixture sets moto up with boto3 (installed with moto), not with breakglass's own client,
//! so what the tests check is written by an independent implementation of the same API.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The region the fixture's resources live in.
pub const REGION: &str = "us-east-1";

/// A running moto server.
#[derive(Debug)]
pub struct Moto {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    child: Child,
    dir: tempfile::TempDir,
}

/// An IAM access key moto issued (for auth mode).
pub struct AccessKey {
    pub id: String,
    pub secret: String,
}

impl Moto {
    /// moto without signature checks (requests must still carry a well-formed SigV4 header).
    pub fn start() -> anyhow::Result<Moto> {
        Moto::spawn(None)
    }

    /// moto in auth mode: the first `free_calls` requests are not checked, every later one
    /// must be signed with a key moto issued and allowed by its IAM policies.
    pub fn start_with_auth(free_calls: u32) -> anyhow::Result<Moto> {
        Moto::spawn(Some(free_calls))
    }

    /// moto without signature checks, listening on `addr:port` inside network namespace
    /// `netns` (a lab's "cloud" namespace), started with `nsenter` so that the lab finds and
    /// stops it with the rest of its namespaces' processes.
    pub fn start_in(
        nsenter: &std::path::Path,
        netns: &str,
        addr: Ipv4Addr,
        port: u16,
    ) -> anyhow::Result<Moto> {
        let mut cmd = Command::new(nsenter);
        cmd.arg(format!("--net=/run/netns/{netns}")).args([
            "--",
            "moto_server",
            "-H",
            &addr.to_string(),
            "-p",
            &port.to_string(),
        ]);
        Moto::spawn_with(cmd, SocketAddr::from((addr, port)))
    }

    fn spawn(free_calls: Option<u32>) -> anyhow::Result<Moto> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .context("a free port for moto")?
            .port();
        let mut cmd = Command::new("moto_server");
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        if let Some(n) = free_calls {
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", n.to_string());
        }
        Moto::spawn_with(cmd, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    }

    fn spawn_with(mut cmd: Command, addr: SocketAddr) -> anyhow::Result<Moto> {
        let dir = tempfile::tempdir().context("a temporary directory for moto")?;
        let log = std::fs::File::create(dir.path().join("moto.log")).context("moto.log")?;
        cmd.env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("moto.log")?)
            .stderr(log);
        let child = cmd
            .spawn()
            .context("starting moto_server (pip install 'moto[server]'; .ci/install-deps does)")?;
        let moto = Moto {
            endpoint: format!("http://{addr}"),
            child,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if Instant::now() >= deadline {
                bail!(
                    "moto_server did not listen on {addr} within 30s; its log:\n{}",
                    moto.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }

    /// What moto logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("moto.log")).unwrap_or_default()
    }

    /// Runs a boto3 script against this moto with clients `asg`, `eks`, `iam`, `sts` and `ec2`
    /// already made (signed with `key`, else with a dummy key); its stdout.
    pub fn boto(&self, script: &str, key: Option<&AccessKey>) -> anyhow::Result<String> {
        let (id, secret) = key.map_or(("AKIAIOSFODNN7EXAMPLE", "not-checked"), |k| {
            (k.id.as_str(), k.secret.as_str())
        });
        let prelude = format!(
            "import boto3, json\n\
             kw = dict(endpoint_url={ep:?}, region_name={REGION:?}, aws_access_key_id={id:?}, aws_secret_access_key={secret:?})\n\
             asg = boto3.client('autoscaling', **kw)\neks = boto3.client('eks', **kw)\n\
             iam = boto3.client('iam', **kw)\nsts = boto3.client('sts', **kw)\nec2 = boto3.client('ec2', **kw)\n",
            ep = self.endpoint
        );
        let out = Command::new("python3")
            .args(["-c", &format!("{prelude}{script}")])
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .output()
            .context("python3 with boto3 (installed with moto[server])")?;
        if !out.status.success() {
            bail!(
                "boto3 script failed: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// An Auto Scaling group of `desired` running instances (a launch configuration first): 2
    /// requests.
    pub fn create_asg(&self, name: &str, min: u32, max: u32, desired: u32) -> anyhow::Result<()> {
        self.boto(
            &format!(
                "ami = 'ami-12c6146b'\n\
                 asg.create_launch_configuration(LaunchConfigurationName={name:?} + '-lc', ImageId=ami, InstanceType='t3.micro')\n\
                 asg.create_auto_scaling_group(AutoScalingGroupName={name:?}, LaunchConfigurationName={name:?} + '-lc', \
                 MinSize={min}, MaxSize={max}, DesiredCapacity={desired}, AvailabilityZones=['{REGION}a'])\n"
            ),
            None,
        )
        .map(drop)
    }

    /// An EKS cluster with one managed node group: 2 requests.
    pub fn create_nodegroup(
        &self,
        cluster: &str,
        nodegroup: &str,
        min: u32,
        max: u32,
        desired: u32,
    ) -> anyhow::Result<()> {
        self.boto(
            &format!(
                "eks.create_cluster(name={cluster:?}, roleArn='arn:aws:iam::123456789012:role/eks', resourcesVpcConfig={{}})\n\
                 eks.create_nodegroup(clusterName={cluster:?}, nodegroupName={nodegroup:?}, subnets=['subnet-1'], \
                 nodeRole='arn:aws:iam::123456789012:role/node', scalingConfig={{'minSize': {min}, 'maxSize': {max}, 'desiredSize': {desired}}})\n"
            ),
            None,
        )
        .map(drop)
    }

    /// An IAM user allowed `actions` (e.g. `autoscaling:*`), and an access key of it: 3
    /// requests.
    pub fn create_user(&self, user: &str, actions: &[&str]) -> anyhow::Result<AccessKey> {
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        });
        let out = self.boto(
            &format!(
                "iam.create_user(UserName={user:?})\n\
                 iam.put_user_policy(UserName={user:?}, PolicyName='breakglass', PolicyDocument={policy:?})\n\
                 k = iam.create_access_key(UserName={user:?})['AccessKey']\n\
                 print(k['AccessKeyId']); print(k['SecretAccessKey'])\n",
                policy = policy.to_string()
            ),
            None,
        )?;
        let mut lines = out.lines();
        match (lines.next(), lines.next()) {
            (Some(id), Some(secret)) => Ok(AccessKey {
                id: id.trim().to_owned(),
                secret: secret.trim().to_owned(),
            }),
            _ => bail!("iam.create_access_key printed no key: {out}"),
        }
    }

    /// An IAM role that IAM user `trusted` may assume, allowed `actions`: 2 requests. Its ARN.
    /// (moto matches the trust policy's principal exactly: the account root does not stand for
    /// its users.)
    pub fn create_role(
        &self,
        role: &str,
        trusted: &str,
        actions: &[&str],
    ) -> anyhow::Result<String> {
        let trust = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::123456789012:user/{trusted}")},
                           "Action": "sts:AssumeRole"}],
        });
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        });
        let out = self.boto(
            &format!(
                "r = iam.create_role(RoleName={role:?}, AssumeRolePolicyDocument={trust:?})['Role']\n\
                 iam.put_role_policy(RoleName={role:?}, PolicyName='breakglass', PolicyDocument={policy:?})\n\
                 print(r['Arn'])\n",
                trust = trust.to_string(),
                policy = policy.to_string()
            ),
            None,
        )?;
        Ok(out.trim().to_owned())
    }

    /// (min, max, desired, instances in service) of a group, read with boto3.
    pub fn asg(&self, name: &str, key: Option<&AccessKey>) -> anyhow::Result<[u32; 4]> {
        let out = self.boto(
            &format!(
                "g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[{name:?}])['AutoScalingGroups'][0]\n\
                 print(g['MinSize'], g['MaxSize'], g['DesiredCapacity'], \
                 len([i for i in g['Instances'] if i['LifecycleState'] == 'InService']))\n"
            ),
            key,
        )?;
        counts(&out)
    }

    /// (min, max, desired) of an EKS node group, read with boto3.
    pub fn nodegroup(&self, cluster: &str, nodegroup: &str) -> anyhow::Result<[u32; 3]> {
        let out = self.boto(
            &format!(
                "s = eks.describe_nodegroup(clusterName={cluster:?}, nodegroupName={nodegroup:?})['nodegroup']['scalingConfig']\n\
                 print(s['minSize'], s['maxSize'], s['desiredSize'])\n"
            ),
            None,
        )?;
        counts(&out)
    }
}

/// `N` counts a boto3 script printed on one line.
fn counts<const N: usize>(out: &str) -> anyhow::Result<[u32; N]> {
    let n: Vec<u32> = out
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("not {N} counts: {out}"))?;
    n.try_into()
        .map_err(|n| anyhow::anyhow!("not {N} counts: {n:?}"))
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
