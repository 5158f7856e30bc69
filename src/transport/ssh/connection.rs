//! The entry points of `transport::ssh`: [`exec`] (connect, run one command, close), [`check`]
//! (connect and time each stage, run nothing), and [`open`], whose [`Connection`] keeps one
//! authenticated session for several commands, one channel each.
//!
//! Each call blocks its thread (see the module docs of `transport::ssh`). A host that cannot be
//! reached is an [`Outcome`] in the result, never an error; nothing here prints.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::auth::agent_socket;
use super::channel::remote_command;
use super::connect::{Attempt, Conn, Probe, connect};
use super::{Captured, CheckResult, ExecResult, Outcome, SshOptions, SshTarget};

/// Runs `command` on `target` and returns what happened. Blocks; see the module docs of
/// `transport::ssh` for the deadlines.
pub fn exec(
    target: &SshTarget,
    opts: &SshOptions,
    command: &str,
    stdin: Option<&[u8]>,
) -> ExecResult {
    exec_with(target, opts, command, stdin, agent_socket(opts))
}

/// Connects, checks the host key and authenticates, timing each stage; runs nothing.
pub fn check(target: &SshTarget, opts: &SshOptions) -> CheckResult {
    check_with(target, opts, agent_socket(opts))
}

/// [`exec`] with the agent socket given: the tests bring an agent of their own.
pub(super) fn exec_with(
    target: &SshTarget,
    opts: &SshOptions,
    command: &str,
    stdin: Option<&[u8]>,
    agent: Option<PathBuf>,
) -> ExecResult {
    let started = Instant::now();
    if let Err(reason) = remote_command(command, &target.user, opts.sudo) {
        return ExecResult {
            outcome: Outcome::Error { reason },
            stdout: Captured::default(),
            stderr: Captured::default(),
            connect: None,
            total: started.elapsed(),
            recorded_host_key: None,
        };
    }
    match open_with(target, opts, agent) {
        Err(failed) => *failed,
        // Dropped (closed) as soon as the command is done: a run over 1000 hosts must not hold
        // 1000 connections open.
        Ok(mut connection) => connection.run(opts, command, stdin),
    }
}

/// An authenticated session kept open for several commands, each on a channel of its own: an
/// action's snapshot, apply and verify on one target cost the target one login, not one each
/// (ARCHITECTURE.md, "One login per target per step"). A saturated API server host pays 25-40
/// ms of CPU per login.
///
/// After a command that did not end cleanly (the connection broke, a deadline passed) the
/// session is not used again: [`Connection::usable`] turns false and the caller reconnects
/// only where its own rules say nothing can run twice.
pub struct Connection {
    conn: Conn,
    user: String,
    /// The time the connection took and the keys it recorded, reported with its first result.
    first: Option<(Instant, Duration, Option<String>)>,
    usable: bool,
}

/// Opens an authenticated session to `target` for [`Connection::run`]. On failure, the result
/// of the attempt (its outcome, and any host key it recorded) as [`exec`] would report it.
pub fn open(target: &SshTarget, opts: &SshOptions) -> Result<Connection, Box<ExecResult>> {
    open_with(target, opts, agent_socket(opts))
}

fn open_with(
    target: &SshTarget,
    opts: &SshOptions,
    agent: Option<PathBuf>,
) -> Result<Connection, Box<ExecResult>> {
    let started = Instant::now();
    let attempt = Attempt::new(opts, agent, started, opts.command_timeout);
    let mut probe = Probe::default();
    match connect(target, &attempt, &mut probe) {
        Ok(conn) => Ok(Connection {
            conn,
            user: target.user.clone(),
            first: Some((started, started.elapsed(), probe.recorded_summary())),
            usable: true,
        }),
        Err(outcome) => Err(Box::new(ExecResult {
            outcome,
            stdout: Captured::default(),
            stderr: Captured::default(),
            connect: None,
            total: started.elapsed(),
            recorded_host_key: probe.recorded_summary(),
        })),
    }
}

impl Connection {
    /// Runs `command` on a new channel of this session, under `opts.command_timeout`. The first
    /// result carries the connect time and any recorded host key; later ones a zero connect time.
    pub fn run(&mut self, opts: &SshOptions, command: &str, stdin: Option<&[u8]>) -> ExecResult {
        let (started, connect, recorded) =
            self.first
                .take()
                .unwrap_or((Instant::now(), Duration::ZERO, None));
        let mut stdout = Captured::default();
        let mut stderr = Captured::default();
        let outcome = if self.usable {
            match remote_command(command, &self.user, opts.sudo) {
                Err(reason) => Outcome::Error { reason },
                Ok(remote) => {
                    match self
                        .conn
                        .run(&remote, stdin, opts, &mut stdout, &mut stderr)
                    {
                        Ok(outcome) => outcome,
                        Err(outcome) => {
                            self.usable = false;
                            outcome
                        }
                    }
                }
            }
        } else {
            Outcome::Error {
                reason: "the connection was lost by an earlier command of this step".into(),
            }
        };
        ExecResult {
            outcome,
            stdout,
            stderr,
            connect: Some(connect),
            total: started.elapsed(),
            recorded_host_key: recorded,
        }
    }

    /// False once a command on this session ended without a clean exit (connection lost,
    /// deadline): the session may be in any state and is not used again.
    pub fn usable(&self) -> bool {
        self.usable
    }
}

fn check_with(target: &SshTarget, opts: &SshOptions, agent: Option<PathBuf>) -> CheckResult {
    let attempt = Attempt::new(opts, agent, Instant::now(), Duration::ZERO);
    let mut probe = Probe::default();
    let outcome = match connect(target, &attempt, &mut probe) {
        Ok(conn) => {
            drop(conn);
            Outcome::Ok
        }
        Err(outcome) => outcome,
    };
    CheckResult {
        outcome,
        tcp: probe.tcp,
        handshake: probe.handshake,
        auth: probe.auth,
        host_key: probe.host_key,
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use crate::transport::ssh::fixture::{Fixture, assert_one_connection, kept_session_runs};

    use super::*;

    #[test]
    fn a_kept_session_runs_every_command_on_one_connection() {
        let fx = Fixture::new();
        assert_one_connection(&kept_session_runs(&fx.target(), &fx.opts()));
    }

    #[test]
    fn a_kept_session_that_timed_out_is_not_used_again() {
        let fx = Fixture::new();
        let mut opts = fx.opts();
        opts.command_timeout = Duration::from_millis(500);
        let mut connection = open(&fx.target(), &opts).expect("connect");
        let r = connection.run(&opts, "sleep 5", None);
        assert_eq!(r.outcome.label(), "timed_out", "{r:?}");
        assert!(!connection.usable());
        let r = connection.run(&opts, "echo never", None);
        assert_eq!(r.outcome.label(), "error", "{r:?}");
        assert!(r.stdout.bytes.is_empty());
    }

    #[test]
    fn check_times_each_stage() {
        let fx = Fixture::new();
        let c = check(&fx.target(), &fx.opts());
        assert_eq!(c.outcome, Outcome::Ok);
        assert!(c.tcp.is_some() && c.handshake.is_some() && c.auth.is_some());
        assert_eq!(c.host_key.as_deref(), Some(fx.lab.host_key_fingerprint()));
        fs::write(&fx.known_hosts, "").expect("empty");
        let c = check(&fx.target(), &fx.opts());
        assert_eq!(c.outcome.label(), "refused");
        assert!(c.handshake.is_some() && c.auth.is_none());
    }
}
