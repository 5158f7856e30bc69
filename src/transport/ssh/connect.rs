//! One SSH attempt's way in: TCP (or a tunnel through a jump host, see `jump.rs`), the libssh2
//! session and its algorithm preferences, the handshake, host-key trust (`trust.rs`) and auth
//! (`auth.rs`), ending in an authenticated [`Conn`]; and the deadline and libssh2-error helpers
//! every stage shares.
//!
//! Deadlines are enforced here, never by a caller's async timeout (which could not stop this
//! thread): the TCP connect has its own timeout, every blocking libssh2 call is armed with the
//! time left before the connect deadline (`Session::set_timeout`), and a non-blocking session
//! waits in `poll(2)` on its socket ([`wait_ready`]) until data or the deadline.
//!
//! Teardown never waits on the peer: the session says goodbye without blocking, then the socket
//! is shut down so libssh2's own cleanup cannot block on a hung host either.
//!
//! This file runs no command (`channel.rs`), decides no trust (`trust.rs`) and picks no key
//! (`auth.rs`).

use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use ssh2::{BlockDirections, Channel, ErrorCode, MethodType, Session};

use super::auth::authenticate;
use super::jump::{Linger, PUMP_SLACK, tunnel};
use super::trust::verify_host_key;
use super::{Outcome, SshOptions, SshTarget};

// libssh2.h error codes the session code branches on (`ssh2` exposes numbers, not names).
const LIBSSH2_ERROR_BANNER_RECV: i32 = -2;
const LIBSSH2_ERROR_BANNER_SEND: i32 = -3;
const LIBSSH2_ERROR_SOCKET_SEND: i32 = -7;
const LIBSSH2_ERROR_TIMEOUT: i32 = -9;
const LIBSSH2_ERROR_SOCKET_DISCONNECT: i32 = -13;
pub(super) const LIBSSH2_ERROR_FILE: i32 = -16;
pub(super) const LIBSSH2_ERROR_CHANNEL_FAILURE: i32 = -21;
const LIBSSH2_ERROR_SOCKET_TIMEOUT: i32 = -30;
const LIBSSH2_ERROR_EAGAIN: i32 = -37;
const LIBSSH2_ERROR_SOCKET_RECV: i32 = -43;
const LIBSSH2_ERROR_BAD_SOCKET: i32 = -45;

/// Curve25519 first: libssh2 cannot do OpenSSH's post-quantum hybrid default, and curve25519 is
/// the cheapest exchange both sides have. libssh2 drops names it does not support.
const KEX_PREFS: &str = "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,\
ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group16-sha512,diffie-hellman-group14-sha256";

/// Host key algorithms, ed25519 first (what the nodes and `ssh-keygen -A` generate); the types
/// already in `known_hosts` for a host are moved to the front so the server shows a key we can check.
const HOST_KEY_ALGS: [&str; 7] = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
];

/// Longest single wait in `poll`: a wake-up libssh2 did not ask for costs at most this, never a
/// hang, and a second is far too rare to cost CPU.
const MAX_WAIT: Duration = Duration::from_secs(1);

/// What every stage of one attempt needs besides the target.
pub(super) struct Attempt<'a> {
    pub(super) opts: &'a SshOptions,
    pub(super) agent: Option<PathBuf>,
    /// TCP, banner, key exchange, host key and auth must be done by then (the jump's included).
    pub(super) deadline: Instant,
    /// A jump tunnel's pump gives up on its own at this instant; normally it ends long before,
    /// when the session it carries closes. Each command on a kept session moves it past that
    /// command's deadline (see [`Linger`]).
    pub(super) linger: Linger,
}

impl<'a> Attempt<'a> {
    pub(super) fn new(
        opts: &'a SshOptions,
        agent: Option<PathBuf>,
        started: Instant,
        command_timeout: Duration,
    ) -> Attempt<'a> {
        let deadline = deadline_after(started, opts.connect_timeout);
        Attempt {
            opts,
            agent,
            deadline,
            linger: Linger::new(deadline_after(
                deadline,
                command_timeout.saturating_add(PUMP_SLACK),
            )),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Phase {
    Connect,
    Command,
}

impl Phase {
    pub(super) fn timed_out(self) -> Outcome {
        let phase = match self {
            Phase::Connect => "connect",
            Phase::Command => "command",
        };
        Outcome::TimedOut {
            phase: phase.to_owned(),
            stopped: None,
        }
    }
}

/// What the stages of one connection measured and decided.
#[derive(Default)]
pub(super) struct Probe {
    pub(super) tcp: Option<Duration>,
    pub(super) handshake: Option<Duration>,
    pub(super) auth: Option<Duration>,
    pub(super) host_key: Option<String>,
    /// Fingerprints recorded in `known_hosts` (a jump host's is labelled).
    pub(super) recorded: Vec<String>,
}

impl Probe {
    pub(super) fn recorded_summary(&self) -> Option<String> {
        (!self.recorded.is_empty()).then(|| self.recorded.join(", "))
    }
}

/// The socket a session runs on: TCP to the host, or our end of a jump tunnel. Shared with the
/// session (which owns a clone) so we can poll it and shut it down.
pub(super) enum Socket {
    Tcp(Arc<TcpStream>),
    Unix(Arc<UnixStream>),
}

impl Socket {
    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Socket::Tcp(s) => s.as_fd(),
            Socket::Unix(s) => s.as_fd(),
        }
    }

    fn shutdown(&self) {
        // NotConnected when the peer is already gone: nothing left to cut.
        let _ = match self {
            Socket::Tcp(s) => s.shutdown(Shutdown::Both),
            Socket::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }
}

/// An authenticated session and what must be torn down with it, in order (see `Drop`).
pub(super) struct Conn {
    pub(super) session: Session,
    pub(super) socket: Socket,
    pub(super) channel: Option<Channel>,
    /// The thread carrying this session through a jump host; ends when `socket` shuts down.
    pump: Option<JoinHandle<()>>,
    /// The pump's own deadline, moved past each command's (a session kept for several).
    pub(super) linger: Option<Linger>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Goodbye without waiting on the peer (it may be why we are closing), then cut the
        // socket: libssh2 frees channels by sending CLOSE and waiting for the reply, which
        // returns at once on a dead socket instead of blocking or leaking the session.
        self.session.set_blocking(false);
        let _ = self.session.disconnect(None, "breakglass: done", None);
        self.socket.shutdown();
        self.channel = None;
        if let Some(pump) = self.pump.take() {
            // The pump sees our end close and exits promptly.
            let _ = pump.join();
        }
    }
}

/// TCP (or a tunnel), handshake, host key, auth: an authenticated session, or why not.
pub(super) fn connect(
    target: &SshTarget,
    at: &Attempt<'_>,
    probe: &mut Probe,
) -> Result<Conn, Outcome> {
    let deadline = at.deadline;
    let session = Session::new().map_err(|e| Outcome::Error {
        reason: format!("creating a libssh2 session: {e}"),
    })?;
    let started = Instant::now();
    let (socket, pump) = match &target.jump {
        None => (
            Socket::Tcp(Arc::new(tcp_connect(target.addr, deadline)?)),
            None,
        ),
        Some(jump) => {
            let (inner, pump) = tunnel(jump, target.addr, at, probe)?;
            (Socket::Unix(Arc::new(inner)), Some(pump))
        }
    };
    probe.tcp = Some(started.elapsed());
    let mut conn = Conn {
        session,
        linger: pump.is_some().then(|| at.linger.clone()),
        socket,
        channel: None,
        pump,
    };
    match &conn.socket {
        Socket::Tcp(s) => conn.session.set_tcp_stream(Arc::clone(s)),
        Socket::Unix(s) => conn.session.set_tcp_stream(Arc::clone(s)),
    }
    prefer_methods(&conn.session, target, at.opts)?;

    arm(&conn.session, deadline, Phase::Connect)?;
    let started = Instant::now();
    conn.session
        .handshake()
        .map_err(|e| classify(&e, Phase::Connect, deadline, "the SSH handshake"))?;
    probe.handshake = Some(started.elapsed());

    verify_host_key(&conn.session, target, at.opts, probe)?;

    let started = Instant::now();
    authenticate(&conn.session, target, at)?;
    probe.auth = Some(started.elapsed());
    Ok(conn)
}

fn tcp_connect(addr: SocketAddr, deadline: Instant) -> Result<TcpStream, Outcome> {
    let left = remaining(deadline).ok_or_else(|| Phase::Connect.timed_out())?;
    let stream = match TcpStream::connect_timeout(&addr, left) {
        Ok(stream) => stream,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) =>
        {
            return Err(Phase::Connect.timed_out());
        }
        Err(e) => {
            return Err(Outcome::Unreachable {
                reason: format!("TCP connect to {addr}: {e}"),
            });
        }
    };
    // Without it, two Nagle/delayed-ACK stalls add ~80 ms per host (research/fanout-performance.md).
    stream.set_nodelay(true).map_err(|e| Outcome::Unreachable {
        reason: format!("TCP connect to {addr}: {e}"),
    })?;
    Ok(stream)
}

fn prefer_methods(session: &Session, target: &SshTarget, opts: &SshOptions) -> Result<(), Outcome> {
    let known = if target.host_key.is_some() {
        Vec::new()
    } else {
        opts.known_hosts
            .key_types(target.addr.ip(), target.addr.port())
    };
    let mut algs: Vec<&str> = Vec::with_capacity(HOST_KEY_ALGS.len());
    for key_type in &known {
        // An `ssh-rsa` key is verified by any of the three RSA signature algorithms.
        let family = if key_type == "ssh-rsa" {
            &HOST_KEY_ALGS[4..]
        } else {
            HOST_KEY_ALGS
                .iter()
                .position(|alg| alg == key_type)
                .map_or(&HOST_KEY_ALGS[..0], |i| &HOST_KEY_ALGS[i..=i])
        };
        for &alg in family {
            if !algs.contains(&alg) {
                algs.push(alg);
            }
        }
    }
    for alg in HOST_KEY_ALGS {
        if !algs.contains(&alg) {
            algs.push(alg);
        }
    }
    let set = |kind, prefs: &str| {
        session
            .method_pref(kind, prefs)
            .map_err(|e| Outcome::Error {
                reason: format!("setting SSH algorithm preferences: {e}"),
            })
    };
    set(MethodType::Kex, KEX_PREFS)?;
    set(MethodType::HostKey, &algs.join(","))
}

/// Poll flags for what libssh2 is blocked on; inbound when it says nothing (a read that would
/// block always waits for inbound data).
pub(super) fn wanted(dirs: &BlockDirections) -> PollFlags {
    match dirs {
        BlockDirections::Outbound => PollFlags::OUT,
        BlockDirections::Both => PollFlags::IN | PollFlags::OUT,
        BlockDirections::Inbound | BlockDirections::None => PollFlags::IN,
    }
}

pub(super) fn wanted_strict(dirs: BlockDirections) -> PollFlags {
    match dirs {
        BlockDirections::None => PollFlags::empty(),
        other => wanted(&other),
    }
}

/// One `poll` until readiness, `deadline`, or `MAX_WAIT`, whichever is first. Callers loop and
/// check their deadline; EINTR is just an early return.
pub(super) fn wait_ready(fds: &mut [PollFd<'_>], deadline: Instant) -> io::Result<()> {
    let wait = deadline
        .saturating_duration_since(Instant::now())
        .min(MAX_WAIT);
    let timeout = Timespec::try_from(wait).map_err(io::Error::other)?;
    match poll(fds, Some(&timeout)) {
        Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn session_code(e: &ssh2::Error) -> i32 {
    match e.code() {
        ErrorCode::Session(code) => code,
        ErrorCode::SFTP(_) => 0,
    }
}

pub(super) fn is_eagain(e: &ssh2::Error) -> bool {
    session_code(e) == LIBSSH2_ERROR_EAGAIN
}

/// Errors of the connection itself (timeout, lost socket), as opposed to a refusal.
pub(super) fn is_transport(e: &ssh2::Error) -> bool {
    matches!(
        session_code(e),
        LIBSSH2_ERROR_TIMEOUT
            | LIBSSH2_ERROR_SOCKET_TIMEOUT
            | LIBSSH2_ERROR_BANNER_RECV
            | LIBSSH2_ERROR_BANNER_SEND
            | LIBSSH2_ERROR_SOCKET_SEND
            | LIBSSH2_ERROR_SOCKET_RECV
            | LIBSSH2_ERROR_SOCKET_DISCONNECT
            | LIBSSH2_ERROR_BAD_SOCKET
    )
}

/// Maps a libssh2 error to an outcome: deadline (or past it) -> `TimedOut`; lost socket ->
/// Unreachable while connecting, Error once the command may have started; anything else -> Error.
pub(super) fn classify(e: &ssh2::Error, phase: Phase, deadline: Instant, what: &str) -> Outcome {
    let code = session_code(e);
    if matches!(code, LIBSSH2_ERROR_TIMEOUT | LIBSSH2_ERROR_SOCKET_TIMEOUT)
        || Instant::now() >= deadline
    {
        return phase.timed_out();
    }
    if is_transport(e) {
        let reason = format!("{what}: connection lost ({})", e.message());
        return match phase {
            Phase::Connect => Outcome::Unreachable { reason },
            Phase::Command => Outcome::Error { reason },
        };
    }
    Outcome::Error {
        reason: format!("{what}: {}", e.message()),
    }
}

pub(super) fn deadline_after(start: Instant, timeout: Duration) -> Instant {
    // A huge timeout ("never") must not overflow Instant; 2^30 s (34 years) is never here.
    start
        .checked_add(timeout)
        .or_else(|| start.checked_add(Duration::from_secs(1 << 30)))
        .unwrap_or(start)
}

fn remaining(deadline: Instant) -> Option<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    (!left.is_zero()).then_some(left)
}

/// Bounds the next blocking libssh2 call by the time left (libssh2 counts its timeout per call).
pub(super) fn arm(session: &Session, deadline: Instant, phase: Phase) -> Result<(), Outcome> {
    let left = remaining(deadline).ok_or_else(|| phase.timed_out())?;
    // 0 means "no timeout" to libssh2: round a sub-millisecond remainder up, not down.
    let ms = u32::try_from(left.as_millis()).unwrap_or(u32::MAX).max(1);
    session.set_timeout(ms);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::thread;

    use crate::lab::sshd::{SshdLab, silent_listener};
    use crate::transport::ssh::fixture::{Fixture, LOCALHOST, closed_port, opts, target, text};
    use crate::transport::ssh::{ExecResult, Outcome, check, exec};

    use super::*;

    #[test]
    fn connect_deadline_holds_when_the_server_never_sends_a_banner() {
        let fx = Fixture::new();
        let silent = silent_listener().expect("silent listener");
        let mut opts = fx.opts();
        opts.connect_timeout = Duration::from_secs(1);
        let started = Instant::now();
        let r = exec(&target(&fx.lab, silent.addr()), &opts, "true", None);
        let elapsed = started.elapsed();
        assert_eq!(
            r.outcome,
            Outcome::TimedOut {
                phase: "connect".to_owned(),
                stopped: None,
            }
        );
        assert!(r.outcome.never_ran());
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
        let c = check(&target(&fx.lab, silent.addr()), &opts);
        assert_eq!(c.outcome.label(), "timed_out");
        assert!(c.tcp.is_some() && c.handshake.is_none());
    }

    #[test]
    fn closed_port_is_unreachable() {
        let fx = Fixture::new();
        let addr = SocketAddr::new(LOCALHOST, closed_port());
        let r = exec(&target(&fx.lab, addr), &fx.opts(), "true", None);
        assert!(
            matches!(&r.outcome, Outcome::Unreachable { reason } if reason.contains("refused")),
            "{r:?}"
        );
        assert!(r.connect.is_none());
    }

    #[test]
    fn many_concurrent_sessions_on_separate_threads() {
        let lab = SshdLab::new().expect("lab");
        let addrs: Vec<IpAddr> = (1..=16)
            .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 6, i)))
            .collect();
        let sshd = lab.start(&addrs).expect("sshd");
        let known_hosts = lab.dir().join("known_hosts");
        lab.write_known_hosts(&known_hosts, &addrs, sshd.port())
            .expect("known_hosts");
        let opts = opts(&lab, &known_hosts);
        let results: Vec<ExecResult> = thread::scope(|s| {
            let handles: Vec<_> = (0..64)
                .map(|i| {
                    let target = target(&lab, sshd.socket_addr(i % addrs.len()));
                    let opts = &opts;
                    s.spawn(move || exec(&target, opts, "echo $SSH_CONNECTION", None))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
            let server_ip = addrs[i % addrs.len()].to_string();
            assert!(text(&r.stdout).contains(&server_ip), "{r:?}");
        }
    }
}
