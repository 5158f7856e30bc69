//! A real etcd (Debian's `etcd-server`) on loopback for tests and the lab: its own CA, a server
//! certificate for 127.0.0.1, a client certificate, and client certificates required, as
//! kubeadm's etcd does. Started on free ports in a temporary directory, stopped (by PID) and
//! removed on drop. Nothing else on the machine is touched.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running etcd and the files a client needs.
pub struct EtcdServer {
    pub endpoint: SocketAddr,
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    child: Child,
    dir: tempfile::TempDir,
}

impl EtcdServer {
    /// Generates the certificates and starts etcd; ready when it accepts TLS connections and
    /// `etcdctl endpoint health` says so (about a second).
    pub fn start() -> anyhow::Result<EtcdServer> {
        let dir = tempfile::tempdir().context("a temporary directory for etcd")?;
        let d = dir.path();
        super::pki::certificates(
            d,
            &super::pki::Names {
                ca: "/CN=lab-etcd-ca",
                server: "/CN=lab-etcd-server",
                server_sans: "IP:127.0.0.1",
                server_is_client: true,
                client: "/CN=lab-etcd-client",
            },
        )?;
        let client = free_port()?;
        let peer = free_port()?;
        let url = |port: u16, scheme: &str| format!("{scheme}://127.0.0.1:{port}");
        let log = std::fs::File::create(d.join("etcd.log")).context("etcd.log")?;
        let child = Command::new("etcd")
            .args(["--name", "lab", "--data-dir"])
            .arg(d.join("data"))
            .args(["--listen-client-urls", &url(client, "https")])
            .args(["--advertise-client-urls", &url(client, "https")])
            .args(["--listen-peer-urls", &url(peer, "http")])
            .args(["--initial-advertise-peer-urls", &url(peer, "http")])
            .args(["--initial-cluster", &format!("lab={}", url(peer, "http"))])
            .args(["--initial-cluster-state", "new", "--client-cert-auth"])
            .arg("--cert-file")
            .arg(d.join("server.crt"))
            .arg("--key-file")
            .arg(d.join("server.key"))
            .arg("--trusted-ca-file")
            .arg(d.join("ca.crt"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting etcd (apt-get install etcd-server)")?;
        let server = EtcdServer {
            endpoint: SocketAddr::from((Ipv4Addr::LOCALHOST, client)),
            ca_file: d.join("ca.crt"),
            cert_file: d.join("client.crt"),
            key_file: d.join("client.key"),
            child,
            dir,
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect_timeout(&self.endpoint, Duration::from_millis(200)).is_ok()
                && self
                    .etcdctl(&["endpoint", "health"])
                    .is_ok_and(|o| o.status.success())
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "etcd did not become healthy within 30 s; its log:\n{}",
                    std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `etcdctl` pointed at this etcd with the client certificate.
    pub fn ctl(&self) -> Etcdctl {
        Etcdctl {
            endpoint: self.endpoint,
            ca_file: self.ca_file.clone(),
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
        }
    }

    /// Runs Debian's `etcdctl` (v3 API) against this etcd with the client certificate.
    pub fn etcdctl(&self, args: &[&str]) -> anyhow::Result<Output> {
        self.ctl().run(args, None)
    }

    /// `etcdctl` with `stdin` (e.g. `put KEY` reading a binary value).
    pub fn etcdctl_with_stdin(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
    ) -> anyhow::Result<Output> {
        self.ctl().run(args, stdin)
    }

    /// The key's value (None when absent).
    pub fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        self.ctl().get(key)
    }

    /// Writes `value` (any bytes) at `key`.
    pub fn put(&self, key: &str, value: &[u8]) -> anyhow::Result<()> {
        self.ctl().put(key, value)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Debian's `etcdctl` (v3 API) for one etcd endpoint and client certificate: how the lab and
/// the tests read and write etcd without the crate's own client (which is what is under test).
#[derive(Debug, Clone)]
pub struct Etcdctl {
    pub endpoint: SocketAddr,
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl Etcdctl {
    /// Runs `etcdctl ARGS` with `stdin` (e.g. `put KEY` reading a binary value).
    pub fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> anyhow::Result<Output> {
        use std::io::Write;
        let mut child = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints=https://{}", self.endpoint))
            .arg(format!("--cacert={}", self.ca_file.display()))
            .arg(format!("--cert={}", self.cert_file.display()))
            .arg(format!("--key={}", self.key_file.display()))
            .arg("--command-timeout=5s")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running etcdctl (apt-get install etcd-client)")?;
        if let Some(mut pipe) = child.stdin.take() {
            pipe.write_all(stdin.unwrap_or_default())?;
        }
        child.wait_with_output().context("etcdctl")
    }

    /// The key's value as `etcdctl get --print-value-only` prints it (None when absent).
    pub fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let out = self.run(&["get", key, "--print-value-only"], None)?;
        if !out.status.success() {
            bail!(
                "etcdctl get {key}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut v = out.stdout;
        if v.is_empty() {
            return Ok(None);
        }
        // etcdctl ends the value with a newline of its own.
        if v.last() == Some(&b'\n') {
            v.pop();
        }
        Ok(Some(v))
    }

    /// Writes `value` (any bytes) at `key`.
    pub fn put(&self, key: &str, value: &[u8]) -> anyhow::Result<()> {
        // `etcdctl put KEY` reads the value from stdin when it is not given: binary-safe.
        let out = self.run(&["put", key], Some(value))?;
        if !out.status.success() {
            bail!(
                "etcdctl put {key}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}
