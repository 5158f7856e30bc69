//! [`Node`] over SSH: one authenticated session per target per step. An action's snapshot,
//! apply, verify and every extra call of a multi-call action run on channels of that one
//! session, so a saturated API server host pays for one login, not four (ARCHITECTURE.md, "One
//! login per target per step"). A session lost mid-step is reopened for the next call; whether
//! that call is made at all is the engine's retry rule (nothing that may have run is run twice).

use std::sync::Arc;
use std::time::Duration;

use super::contract::Node;
use crate::transport::RateLimiter;
use crate::transport::ssh::{self, Connection, ExecResult, SshOptions, SshTarget};

/// A target reached over SSH.
pub struct SshNode {
    target: SshTarget,
    options: Arc<SshOptions>,
    limiter: Arc<RateLimiter>,
    /// The step's session, opened by the first call.
    connection: Option<Connection>,
    logins: usize,
}

impl SshNode {
    /// `timeout` (the step's, if it sets one) replaces the run's command deadline. Every new
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
            connection: None,
            logins: 0,
        }
    }

    /// How many sessions this node opened (1 when every call shared one).
    pub fn logins(&self) -> usize {
        self.logins
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
        let kept = self.connection.take().filter(Connection::usable);
        let connection = if let Some(connection) = kept {
            connection
        } else {
            self.limiter.acquire();
            self.logins += 1;
            match ssh::open(&self.target, &self.options) {
                Ok(connection) => connection,
                Err(failed) => return *failed,
            }
        };
        self.connection
            .insert(connection)
            .run(&self.options, script, stdin)
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
