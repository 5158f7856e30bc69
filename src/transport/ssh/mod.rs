//! SSH to nodes by IP on libssh2 (`ssh2`): host-key trust (pinned keys and OpenSSH `known_hosts`,
//! fail closed), public-key auth (agent and key files; unencrypted Ed25519 key files are signed in
//! process, see `identity.rs`), one `ProxyJump` hop, and connect and command deadlines that hold
//! even when the peer stops answering.
//!
//! libssh2 is blocking: every function here blocks the calling thread and is meant to run on one
//! of the engine's blocking workers (as many as the run's concurrency). A tokio timeout around these calls
//! would not stop the thread, so every deadline is enforced in here (socket connect timeout,
//! libssh2 session timeout, and a command deadline checked between reads).
//!
//! This module must not print, prompt, or decide policy: a host that cannot be reached is an
//! [`Outcome`], not an error.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One SSH endpoint to reach.
#[derive(Debug, Clone)]
pub struct SshTarget {
    /// Inventory name, used in messages and for `known_hosts` lookups only as a label.
    pub name: String,
    /// Always an IP address: breakglass never resolves names (cluster DNS may be down).
    pub addr: SocketAddr,
    pub user: String,
    /// Pinned host key fingerprint `SHA256:<base64 without padding>`, from the inventory. When set
    /// it is the only key accepted, and `known_hosts` is not consulted for this host.
    pub host_key: Option<String>,
    /// One `ProxyJump` hop, reached first; the target is reached through a direct-tcpip channel.
    pub jump: Option<Box<SshTarget>>,
}

/// How to authenticate, whom to trust and how long to wait. Shared by all targets of a run.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// Private key files tried in order (after the agent, if `use_agent`).
    pub identity_files: Vec<PathBuf>,
    /// Identity files parsed once per run and signed in process (unencrypted Ed25519 keys).
    pub keys: Arc<KeyCache>,
    /// Try keys from ssh-agent (`SSH_AUTH_SOCK`) first.
    pub use_agent: bool,
    /// Trust store shared by all sessions of a run (loaded once).
    pub known_hosts: Arc<KnownHosts>,
    /// Record unknown host keys instead of refusing them (`--accept-new-host-keys`).
    pub accept_new_host_keys: bool,
    /// TCP connect + SSH banner + key exchange + auth must finish within this.
    pub connect_timeout: Duration,
    /// The remote command must finish within this (measured from the start of the command).
    pub command_timeout: Duration,
    /// Bytes of stdout and of stderr kept per host; the rest is counted and dropped.
    pub output_cap: usize,
    /// Wrap the command in `sudo -n --` for non-root users.
    pub sudo: bool,
}

mod identity;
mod known_hosts;

/// Identity files signed in process (see `identity.rs`); `KeyCache::default()` per run.
pub use identity::{Identity, KeyCache};

/// The OpenSSH `known_hosts` file, parsed once per run (see `known_hosts.rs`):
/// `KnownHosts::load(Option<PathBuf>) -> anyhow::Result<KnownHosts>`.
pub use known_hosts::KnownHosts;

/// Lookup answers and helpers of the trust store: `fingerprint(blob)` is `ssh-keygen -lf`'s
/// `SHA256:...`, `host_pattern(ip, port)` the name a host has in `known_hosts`.
pub use known_hosts::{HostKeyStatus, Recorded, fingerprint, host_pattern};

/// What happened on one host. Distinct outcomes, never collapsed into a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// The command ran and exited 0.
    Ok,
    /// The command ran and exited non-zero (or was killed by a signal: `signal` set).
    Exit { status: i32, signal: Option<String> },
    /// TCP connect failed (refused, no route) or the connection was lost before the command
    /// started. A loss while it runs is `Error`: the command may have run, so it must not count
    /// as `never_ran`.
    Unreachable { reason: String },
    /// A deadline passed: `phase` is `connect` (TCP, banner, kex, auth) or `command`; for a
    /// command, `stopped` says what became of it on the node.
    TimedOut {
        phase: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stopped: Option<Stopped>,
    },
    /// No offered key was accepted (or no key was available).
    AuthFailed { reason: String },
    /// The host key was refused: changed (`expected` set) or unknown.
    HostKeyRefused {
        reason: String,
        expected: Option<String>,
        presented: String,
    },
    /// Anything else libssh2 reported (protocol error, channel refused, ...).
    Error { reason: String },
}

impl Outcome {
    /// Short label used in tallies and JSON: `ok`, `failed`, `unreachable`, `timed_out`,
    /// `auth_failed`, `refused`, `error`.
    pub fn label(&self) -> &'static str {
        self.kind().label()
    }

    /// The kind of outcome, as tallies and policy see it.
    pub fn kind(&self) -> crate::outcome::Outcome {
        use crate::outcome::Outcome as Kind;
        match self {
            Outcome::Ok => Kind::Ok,
            Outcome::Exit { .. } => Kind::Failed,
            Outcome::Unreachable { .. } => Kind::Unreachable,
            Outcome::TimedOut { .. } => Kind::TimedOut,
            Outcome::AuthFailed { .. } => Kind::AuthFailed,
            Outcome::HostKeyRefused { .. } => Kind::Refused,
            Outcome::Error { .. } => Kind::Error,
        }
    }

    /// One line for people: `exit 1`, `killed by signal TERM`, `unreachable: ...`,
    /// `timed out (connect)`, `host key refused: ...; presented ...; expected ...`.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Ok => "ok".into(),
            Outcome::Exit {
                signal: Some(sig), ..
            } => format!("killed by signal {sig}"),
            Outcome::Exit {
                status,
                signal: None,
            } => format!("exit {status}"),
            Outcome::Unreachable { reason } => format!("unreachable: {reason}"),
            Outcome::TimedOut {
                phase,
                stopped: None,
            } => format!("timed out ({phase})"),
            Outcome::TimedOut {
                phase,
                stopped: Some(stopped),
            } => format!("timed out ({phase}): {}", stopped.describe()),
            Outcome::AuthFailed { reason } => format!("auth failed: {reason}"),
            Outcome::HostKeyRefused {
                reason,
                expected,
                presented,
            } => {
                let mut s = format!("host key refused: {reason}; presented {presented}");
                if let Some(e) = expected {
                    s.push_str(&format!("; expected {e}"));
                }
                s
            }
            Outcome::Error { reason } => format!("error: {reason}"),
        }
    }

    /// True when nothing reached the remote command (safe to retry even a non-idempotent one).
    pub fn never_ran(&self) -> bool {
        matches!(
            self,
            Outcome::Unreachable { .. }
                | Outcome::AuthFailed { .. }
                | Outcome::HostKeyRefused { .. }
        ) || matches!(self, Outcome::TimedOut { phase, .. } if phase == "connect")
    }
}

/// What became of a command on the node after its deadline passed. breakglass signals the
/// command's process group from a second channel of the same connection, TERM first, then KILL
/// (sshd runs each command in a session of its own, so the group holds what it started, unless
/// that left it), and takes the command's channel closing as the proof that it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Stopped {
    /// Its process group was signalled and the command ended: `signal` is the last one sent.
    Killed { signal: String },
    /// It ended on its own as it was being stopped: nothing of it was left to signal.
    Ended,
    /// The command may still be running on the node: why it could not be confirmed stopped.
    Unconfirmed { reason: String },
}

impl Stopped {
    /// One line for people: `killed on the node (SIGTERM to its process group)`.
    pub fn describe(&self) -> String {
        match self {
            Stopped::Killed { signal } => {
                format!("killed on the node (SIG{signal} to its process group)")
            }
            Stopped::Ended => "it ended on the node as it was being stopped".to_owned(),
            Stopped::Unconfirmed { reason } => {
                format!("could not be confirmed stopped on the node, it may still run: {reason}")
            }
        }
    }
}

/// Output kept from one stream, capped at `SshOptions::output_cap`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    pub bytes: Vec<u8>,
    /// Total bytes the host sent, including what was dropped.
    pub total: u64,
}

impl Captured {
    pub fn truncated(&self) -> bool {
        self.total > self.bytes.len() as u64
    }
}

/// The result of [`exec`] on one host.
#[derive(Debug, Clone)]
pub struct ExecResult {
    pub outcome: Outcome,
    pub stdout: Captured,
    pub stderr: Captured,
    /// Time to an authenticated session (None if never reached).
    pub connect: Option<Duration>,
    /// Wall time of the whole attempt.
    pub total: Duration,
    /// A new host key was recorded in `known_hosts` (with `accept_new_host_keys`).
    pub recorded_host_key: Option<String>,
}

/// The result of [`check`] on one host (`inventory check`): each stage's latency, and where it
/// stopped.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// `Outcome::Ok` when TCP, handshake, host key and auth all succeeded.
    pub outcome: Outcome,
    pub tcp: Option<Duration>,
    pub handshake: Option<Duration>,
    pub auth: Option<Duration>,
    /// The host key fingerprint the server presented, if the handshake got that far.
    pub host_key: Option<String>,
}

// One attempt on one host, by concern: the connection and its deadlines, the jump tunnel, host
// key trust, authentication, a command on a channel, and the entry points that tie them up.
mod auth;
mod channel;
mod connect;
mod connection;
#[cfg(test)]
mod fixture;
mod jump;
mod trust;

/// `exec(&SshTarget, &SshOptions, command: &str, stdin: Option<&[u8]>) -> ExecResult` and
/// `check(&SshTarget, &SshOptions) -> CheckResult`; both block (see the module docs).
/// `open(&SshTarget, &SshOptions) -> Result<Connection, Box<ExecResult>>` keeps one authenticated
/// session for several commands (`Connection::run`), one channel each.
pub use connection::{Connection, check, exec, open};
