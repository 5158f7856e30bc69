//! The test fixture of `transport::ssh`, after wezterm-ssh's (STYLE.md): a lab sshd on
//! 127.0.0.1 trusted by a `known_hosts` file, the targets and options that reach it, and checks
//! shared by the tests of several files. Test builds only; it kills and reaps only the sshd it
//! started (on drop, see `lab::sshd`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::lab::sshd::{Sshd, SshdLab};

use super::{Captured, ExecResult, KnownHosts, Outcome, SshOptions, SshTarget, exec, open};

pub(super) const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A lab, one sshd on 127.0.0.1, and a `known_hosts` file trusting it.
pub(super) struct Fixture {
    pub(super) lab: SshdLab,
    pub(super) sshd: Sshd,
    pub(super) known_hosts: PathBuf,
}

impl Fixture {
    pub(super) fn new() -> Fixture {
        Fixture::with_lab(SshdLab::new().expect("sshd lab"))
    }

    pub(super) fn with_lab(lab: SshdLab) -> Fixture {
        let sshd = lab.start(&[LOCALHOST]).expect("start sshd");
        let known_hosts = lab.dir().join("known_hosts");
        lab.write_known_hosts(&known_hosts, &[LOCALHOST], sshd.port())
            .expect("known_hosts");
        Fixture {
            lab,
            sshd,
            known_hosts,
        }
    }

    pub(super) fn addr(&self) -> SocketAddr {
        self.sshd.socket_addr(0)
    }

    pub(super) fn target(&self) -> SshTarget {
        target(&self.lab, self.addr())
    }

    pub(super) fn opts(&self) -> SshOptions {
        opts(&self.lab, &self.known_hosts)
    }

    pub(super) fn exec(&self, command: &str) -> ExecResult {
        exec(&self.target(), &self.opts(), command, None)
    }
}

pub(super) fn target(lab: &SshdLab, addr: SocketAddr) -> SshTarget {
    SshTarget {
        name: "node".to_owned(),
        addr,
        user: lab.user().to_owned(),
        host_key: None,
        jump: None,
    }
}

pub(super) fn opts(lab: &SshdLab, known_hosts: &Path) -> SshOptions {
    SshOptions {
        identity_files: vec![lab.client_key().to_path_buf()],
        keys: Arc::default(),
        use_agent: false,
        known_hosts: Arc::new(
            KnownHosts::load(Some(known_hosts.to_path_buf())).expect("load known_hosts"),
        ),
        accept_new_host_keys: false,
        connect_timeout: Duration::from_secs(10),
        command_timeout: Duration::from_secs(20),
        output_cap: 1 << 20,
        sudo: false,
    }
}

pub(super) fn closed_port() -> u16 {
    let listener = TcpListener::bind((LOCALHOST, 0)).expect("bind");
    listener.local_addr().expect("addr").port()
}

pub(super) fn text(c: &Captured) -> String {
    String::from_utf8_lossy(&c.bytes).into_owned()
}

/// `SSH_CONNECTION` (client address and port, server address and port) names the TCP
/// connection a command ran on: equal for every command of one kept session.
pub(super) fn kept_session_runs(target: &SshTarget, opts: &SshOptions) -> Vec<ExecResult> {
    let mut connection = open(target, opts).expect("connect");
    let results = vec![
        connection.run(opts, "echo \"$SSH_CONNECTION\"", None),
        connection.run(opts, "echo \"$SSH_CONNECTION\"; echo err >&2; exit 3", None),
        connection.run(opts, "cat; echo \"$SSH_CONNECTION\"", Some(b"in\n")),
    ];
    assert!(connection.usable());
    results
}

pub(super) fn assert_one_connection(results: &[ExecResult]) {
    let conns: Vec<String> = results
        .iter()
        .map(|r| text(&r.stdout).lines().last().unwrap_or("").to_owned())
        .collect();
    assert!(!conns[0].is_empty(), "{results:?}");
    assert!(conns.iter().all(|c| *c == conns[0]), "{conns:?}");
    assert_eq!(results[0].outcome, Outcome::Ok, "{results:?}");
    assert_eq!(
        results[1].outcome,
        Outcome::Exit {
            status: 3,
            signal: None
        }
    );
    assert_eq!(text(&results[1].stderr), "err\n");
    assert_eq!(text(&results[2].stdout).lines().next(), Some("in"));
    assert!(results[0].connect.is_some_and(|c| !c.is_zero()));
    assert_eq!(results[2].connect, Some(Duration::ZERO));
}
