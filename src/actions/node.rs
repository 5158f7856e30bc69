//! [`Node`] over SSH: each `run` is one SSH session (connect, exec, close) to the target, with
//! the run's trust settings and deadlines. Actions make few calls per target (snapshot, apply,
//! verify), and a fresh session per call keeps a dropped connection from poisoning the next.

use std::sync::Arc;
use std::time::Duration;

use super::contract::Node;
use crate::transport::RateLimiter;
use crate::transport::ssh::{self, ExecResult, SshOptions, SshTarget};

/// A target reached over SSH.
pub struct SshNode {
    target: SshTarget,
    options: Arc<SshOptions>,
    limiter: Arc<RateLimiter>,
}

impl SshNode {
    /// `timeout` (the step's, if it sets one) replaces the run's command deadline. Every
    /// session waits for its slot from `limiter` (the run's `--rate`) before it connects.
    pub fn new(
        target: SshTarget,
        options: &Arc<SshOptions>,
        timeout: Option<Duration>,
        limiter: &Arc<RateLimiter>,
    ) -> SshNode {
        let options = match timeout {
            Some(t) => Arc::new(SshOptions {
                command_timeout: t,
                ..SshOptions::clone(options)
            }),
            None => Arc::clone(options),
        };
        SshNode {
            target,
            options,
            limiter: Arc::clone(limiter),
        }
    }
}

impl Node for SshNode {
    fn name(&self) -> &str {
        &self.target.name
    }

    fn address(&self) -> String {
        self.target.addr.to_string()
    }

    fn run(&mut self, script: &str, stdin: Option<&[u8]>) -> ExecResult {
        self.limiter.acquire();
        ssh::exec(&self.target, &self.options, script, stdin)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr, TcpListener};
    use std::time::Instant;

    use super::*;
    use crate::transport::ssh::{KnownHosts, Outcome};

    #[test]
    fn every_session_waits_for_its_slot() {
        // A closed port on loopback: each call fails at once, so the time taken is the limiter's.
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("bind")
            .port();
        let dir = tempfile::tempdir().expect("tempdir");
        let options = Arc::new(SshOptions {
            identity_files: Vec::new(),
            keys: Arc::default(),
            use_agent: false,
            known_hosts: Arc::new(
                KnownHosts::load(Some(dir.path().join("known_hosts"))).expect("known_hosts"),
            ),
            accept_new_host_keys: false,
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(5),
            output_cap: 1024,
            sudo: false,
        });
        let target = SshTarget {
            name: "n".into(),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            user: "root".into(),
            host_key: None,
            jump: None,
        };
        let limiter = Arc::new(RateLimiter::new(10.0));
        let mut node = SshNode::new(target, &options, None, &limiter);
        let started = Instant::now();
        for _ in 0..5 {
            let r = node.run("true", None);
            assert!(matches!(r.outcome, Outcome::Unreachable { .. }), "{r:?}");
        }
        // Five sessions at 10 per second: the fifth starts 0.4 s after the first.
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "5 sessions in {:?}",
            started.elapsed()
        );
    }
}
