//! [`Node`] over SSH: each `run` is one SSH session (connect, exec, close) to the target, with
//! the run's trust settings and deadlines. Actions make few calls per target (snapshot, apply,
//! verify), and a fresh session per call keeps a dropped connection from poisoning the next.

use std::sync::Arc;
use std::time::Duration;

use super::contract::Node;
use crate::transport::ssh::{self, ExecResult, SshOptions, SshTarget};

/// A target reached over SSH.
pub struct SshNode {
    target: SshTarget,
    options: Arc<SshOptions>,
}

impl SshNode {
    /// `timeout` (the step's, if it sets one) replaces the run's command deadline.
    pub fn new(target: SshTarget, options: &Arc<SshOptions>, timeout: Option<Duration>) -> SshNode {
        let options = match timeout {
            Some(t) => Arc::new(SshOptions {
                command_timeout: t,
                ..SshOptions::clone(options)
            }),
            None => Arc::clone(options),
        };
        SshNode { target, options }
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
        ssh::exec(&self.target, &self.options, script, stdin)
    }
}
