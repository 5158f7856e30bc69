//! One SSH attempt on one host: TCP (or a tunnel through a jump host), handshake, host-key
//! trust, public-key auth, then either a command ([`exec`]) or nothing ([`check`]).
//!
//! Deadlines are enforced here, never by a caller's async timeout (which could not stop this
//! thread): the TCP connect has its own timeout, every blocking libssh2 call is armed with the
//! time left before the connect deadline (`Session::set_timeout`), and the command runs with the
//! session non-blocking, waiting in `poll(2)` on the socket until data or the command deadline.
//! Waiting on the socket rather than spinning keeps the client near its CPU budget while
//! hundreds of commands run (research/fanout-performance.md).
//!
//! Teardown never waits on the peer: the session says goodbye without blocking, then the socket
//! is shut down so libssh2's own cleanup cannot block on a hung host either.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use ssh2::{BlockDirections, Channel, ErrorCode, MethodType, Session};

use super::identity::{self, Identity};
use super::known_hosts::{HostKeyStatus, Recorded, fingerprint, fingerprints_equal, host_pattern};
use super::{Captured, CheckResult, ExecResult, Outcome, SshOptions, SshTarget};

// libssh2.h error codes this module branches on (`ssh2` exposes numbers, not names).
const LIBSSH2_ERROR_BANNER_RECV: i32 = -2;
const LIBSSH2_ERROR_BANNER_SEND: i32 = -3;
const LIBSSH2_ERROR_SOCKET_SEND: i32 = -7;
const LIBSSH2_ERROR_TIMEOUT: i32 = -9;
const LIBSSH2_ERROR_SOCKET_DISCONNECT: i32 = -13;
const LIBSSH2_ERROR_FILE: i32 = -16;
const LIBSSH2_ERROR_CHANNEL_FAILURE: i32 = -21;
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

/// Read buffer size: one SSH packet's worth (OpenSSH sends at most 32 KiB of data per packet).
const CHUNK: usize = 32 * 1024;

/// A jump tunnel outlives the command deadline by this much before its pump gives up on its own
/// (normally it ends as soon as the inner session closes).
const PUMP_SLACK: Duration = Duration::from_secs(5);

/// The pump thread only copies bytes; it does not need a default 2 MiB stack.
const PUMP_STACK: usize = 256 * 1024;

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

/// Where ssh-agent listens when `use_agent` is on, read once per attempt. libssh2 would read
/// `SSH_AUTH_SOCK` itself; passing it explicitly lets tests use an agent of their own.
fn agent_socket(opts: &SshOptions) -> Option<PathBuf> {
    if !opts.use_agent {
        return None;
    }
    std::env::var_os("SSH_AUTH_SOCK")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
}

fn exec_with(
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

/// What every stage of one attempt needs besides the target.
struct Attempt<'a> {
    opts: &'a SshOptions,
    agent: Option<PathBuf>,
    /// TCP, banner, key exchange, host key and auth must be done by then (the jump's included).
    deadline: Instant,
    /// A jump tunnel's pump gives up on its own at this instant; normally it ends long before,
    /// when the session it carries closes. Each command on a kept session moves it past that
    /// command's deadline (see [`Linger`]).
    linger: Linger,
}

/// When a jump tunnel's pump gives up on its own, shared by the pump and the session it carries:
/// a session kept open for several commands moves it forward with each one.
#[derive(Clone)]
struct Linger(Arc<Mutex<Instant>>);

impl Linger {
    fn get(&self) -> Instant {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps the tunnel up at least until `deadline` (plus slack).
    fn extend_past(&self, deadline: Instant) {
        let mut at = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *at = (*at).max(deadline_after(deadline, PUMP_SLACK));
    }
}

impl<'a> Attempt<'a> {
    fn new(
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
            linger: Linger(Arc::new(Mutex::new(deadline_after(
                deadline,
                command_timeout.saturating_add(PUMP_SLACK),
            )))),
        }
    }
}

/// The command line sent to the server: with `sudo` for a non-root user, the command becomes one
/// `sh -c` argument of `sudo -n --` (`-n`: fail instead of prompting for a password nobody can
/// type). Errors when the command cannot be quoted (a NUL byte).
pub(crate) fn remote_command(command: &str, user: &str, sudo: bool) -> Result<String, String> {
    if !sudo || user == "root" {
        return Ok(command.to_owned());
    }
    let quoted =
        shlex::try_quote(command).map_err(|e| format!("cannot quote the command for sudo: {e}"))?;
    Ok(format!("sudo -n -- sh -c {quoted}"))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Connect,
    Command,
}

impl Phase {
    fn timed_out(self) -> Outcome {
        let phase = match self {
            Phase::Connect => "connect",
            Phase::Command => "command",
        };
        Outcome::TimedOut {
            phase: phase.to_owned(),
        }
    }
}

/// What the stages of one connection measured and decided.
#[derive(Default)]
struct Probe {
    tcp: Option<Duration>,
    handshake: Option<Duration>,
    auth: Option<Duration>,
    host_key: Option<String>,
    /// Fingerprints recorded in `known_hosts` (a jump host's is labelled).
    recorded: Vec<String>,
}

impl Probe {
    fn recorded_summary(&self) -> Option<String> {
        (!self.recorded.is_empty()).then(|| self.recorded.join(", "))
    }
}

/// The socket a session runs on: TCP to the host, or our end of a jump tunnel. Shared with the
/// session (which owns a clone) so we can poll it and shut it down.
enum Socket {
    Tcp(Arc<TcpStream>),
    Unix(Arc<UnixStream>),
}

impl Socket {
    fn fd(&self) -> BorrowedFd<'_> {
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
struct Conn {
    session: Session,
    socket: Socket,
    channel: Option<Channel>,
    /// The thread carrying this session through a jump host; ends when `socket` shuts down.
    pump: Option<JoinHandle<()>>,
    /// The pump's own deadline, moved past each command's (a session kept for several).
    linger: Option<Linger>,
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

impl Conn {
    /// Runs `command` on this session until it exits or the command deadline passes.
    fn run(
        &mut self,
        command: &str,
        stdin: Option<&[u8]>,
        opts: &SshOptions,
        stdout: &mut Captured,
        stderr: &mut Captured,
    ) -> Result<Outcome, Outcome> {
        let deadline = deadline_after(Instant::now(), opts.command_timeout);
        let cmd =
            |what: &'static str| move |e: ssh2::Error| classify(&e, Phase::Command, deadline, what);

        // A session reused for another command: the previous one left it non-blocking, and its
        // channel (closed by then) is freed before the next opens.
        self.session.set_blocking(true);
        self.channel = None;
        if let Some(linger) = &self.linger {
            linger.extend_past(deadline);
        }
        // Opening the channel and the exec request are round trips: blocking, armed.
        arm(&self.session, deadline, Phase::Command)?;
        let mut channel = self
            .session
            .channel_session()
            .map_err(cmd("opening a session channel"))?;
        // Kept in `self` too, so teardown frees it after the socket is cut (see Drop).
        self.channel = Some(channel.clone());
        channel.exec(command).map_err(cmd("starting the command"))?;

        self.session.set_blocking(false);
        let mut stderr_stream = channel.stderr();
        let mut input = stdin.unwrap_or_default();
        let mut eof_sent = false;
        let (mut out_done, mut err_done) = (false, false);
        let mut buf = vec![0u8; CHUNK];
        loop {
            let mut progress = false;
            if !input.is_empty() {
                match channel.write(input) {
                    Ok(n) => {
                        input = &input[n..];
                        progress |= n > 0;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // The command closed its stdin or exited: the rest is not wanted, and its
                    // exit status tells the story.
                    Err(_) => input = &[],
                }
            }
            if input.is_empty() && !eof_sent {
                // EOF even without stdin, so a command that reads stdin ends instead of waiting
                // for the deadline (like `ssh -n`).
                match channel.send_eof() {
                    Ok(()) => {
                        eof_sent = true;
                        progress = true;
                    }
                    Err(e) if is_eagain(&e) => {}
                    Err(_) => eof_sent = true,
                }
            }
            if !out_done {
                let (moved, ended) = drain(&mut channel, &mut buf, stdout, opts.output_cap)
                    .map_err(|e| lost(&e, deadline))?;
                progress |= moved;
                out_done = ended && channel.eof();
            }
            if !err_done {
                let (moved, ended) = drain(&mut stderr_stream, &mut buf, stderr, opts.output_cap)
                    .map_err(|e| lost(&e, deadline))?;
                progress |= moved;
                err_done = ended && channel.eof();
            }
            if out_done && err_done {
                break;
            }
            if !progress {
                self.wait(deadline)?;
            }
        }

        // Both streams ended: the exit status arrives before the channel close, so wait for it.
        loop {
            match channel.wait_close() {
                Ok(()) => break,
                Err(e) if is_eagain(&e) => self.wait(deadline)?,
                Err(e) => {
                    return Err(classify(
                        &e,
                        Phase::Command,
                        deadline,
                        "waiting for the exit status",
                    ));
                }
            }
        }
        let signal = channel.exit_signal().ok().and_then(|s| s.exit_signal);
        let status = channel
            .exit_status()
            .map_err(cmd("reading the exit status"))?;
        Ok(match signal {
            Some(signal) => Outcome::Exit {
                status: signal_status(&signal),
                signal: Some(signal),
            },
            None if status == 0 => Outcome::Ok,
            None => Outcome::Exit {
                status,
                signal: None,
            },
        })
    }

    /// Sleeps in `poll` until the socket is ready the way libssh2 last wanted, or the deadline.
    fn wait(&self, deadline: Instant) -> Result<(), Outcome> {
        if Instant::now() >= deadline {
            return Err(Phase::Command.timed_out());
        }
        let flags = wanted(&self.session.block_directions());
        let mut fds = [PollFd::from_borrowed_fd(self.socket.fd(), flags)];
        wait_ready(&mut fds, deadline).map_err(|e| Outcome::Error {
            reason: format!("waiting on the socket: {e}"),
        })
    }
}

/// Reads everything available from one stream into `captured`. Returns (read anything, read
/// returned 0). The caller takes 0 for the end only when libssh2 agrees the channel is at EOF:
/// libssh2 can return 0 with nothing pending, and taking that for EOF would cut output short.
fn drain(
    stream: &mut impl Read,
    buf: &mut [u8],
    captured: &mut Captured,
    cap: usize,
) -> io::Result<(bool, bool)> {
    let mut moved = false;
    loop {
        match stream.read(buf) {
            Ok(0) => return Ok((moved, true)),
            Ok(n) => {
                keep(captured, &buf[..n], cap);
                moved = true;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((moved, false)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Keeps at most `cap` bytes, counts them all.
fn keep(captured: &mut Captured, chunk: &[u8], cap: usize) {
    captured.total = captured
        .total
        .saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
    let room = cap.saturating_sub(captured.bytes.len());
    captured
        .bytes
        .extend_from_slice(&chunk[..chunk.len().min(room)]);
}

/// The connection broke while the command ran. Not `Unreachable`: the command may have run, so
/// it must not count as "never ran" (which would make a retry of a non-idempotent step look safe).
fn lost(e: &io::Error, deadline: Instant) -> Outcome {
    if e.kind() == io::ErrorKind::TimedOut || Instant::now() >= deadline {
        return Phase::Command.timed_out();
    }
    Outcome::Error {
        reason: format!("connection lost while the command ran: {e}"),
    }
}

/// The status a shell reports for a process killed by `signal` (128 + number), or 255 (what
/// `ssh` exits with) for a signal name this table does not know.
fn signal_status(signal: &str) -> i32 {
    let number = match signal.trim_start_matches("SIG") {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "ABRT" => 6,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        _ => return 255,
    };
    128 + number
}

/// TCP (or a tunnel), handshake, host key, auth: an authenticated session, or why not.
fn connect(target: &SshTarget, at: &Attempt<'_>, probe: &mut Probe) -> Result<Conn, Outcome> {
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

/// Connects to `jump`, opens a direct-tcpip channel to `to`, and starts the pump that carries
/// the returned socket's bytes over that channel. libssh2 needs a real fd for the inner session,
/// hence the socket pair.
fn tunnel(
    jump: &SshTarget,
    to: SocketAddr,
    at: &Attempt<'_>,
    probe: &mut Probe,
) -> Result<(UnixStream, JoinHandle<()>), Outcome> {
    let (deadline, linger) = (at.deadline, at.linger.clone());
    let who = label(jump);
    let mut jump_probe = Probe::default();
    let connected = connect(jump, at, &mut jump_probe);
    probe.recorded.extend(
        jump_probe
            .recorded
            .into_iter()
            .map(|fp| format!("{fp} (jump host {who})")),
    );
    let mut jump_conn = connected.map_err(|o| on_jump(&who, o))?;

    arm(&jump_conn.session, deadline, Phase::Connect)?;
    let channel = jump_conn
        .session
        .channel_direct_tcpip(&to.ip().to_string(), to.port(), None)
        .map_err(|e| {
            if session_code(&e) == LIBSSH2_ERROR_CHANNEL_FAILURE {
                // The jump's sshd could not connect to the target (refused, no route, timeout)
                // or forwarding is not allowed there; its reason is in the message.
                Outcome::Unreachable {
                    reason: format!(
                        "via jump host {who}: tunnel to {to} failed: {}",
                        e.message()
                    ),
                }
            } else {
                on_jump(
                    &who,
                    classify(&e, Phase::Connect, deadline, "opening the tunnel"),
                )
            }
        })?;
    jump_conn.channel = Some(channel);

    let (inner, outer) = UnixStream::pair().map_err(|e| Outcome::Error {
        reason: format!("creating the socket pair for the jump tunnel: {e}"),
    })?;
    let pump = thread::Builder::new()
        .name("ssh-jump-pump".to_owned())
        .stack_size(PUMP_STACK)
        .spawn(move || {
            // Any error ends the pump; the inner session then sees its socket close and reports
            // that as its own outcome. Dropping `jump_conn` closes the jump session.
            let _ = pump(&mut jump_conn, &outer, &linger);
        })
        .map_err(|e| Outcome::Error {
            reason: format!("starting the jump tunnel thread: {e}"),
        })?;
    Ok((inner, pump))
}

/// Copies bytes both ways between `outer` (the inner session's socket pair) and the jump's
/// direct-tcpip channel, with the jump session non-blocking and one `poll` over both sockets.
/// Ends when either side closes, on an error, or at `linger`.
fn pump(jump: &mut Conn, outer: &UnixStream, linger: &Linger) -> io::Result<()> {
    let Some(channel) = jump.channel.as_mut() else {
        return Ok(());
    };
    jump.session.set_blocking(false);
    outer.set_nonblocking(true)?;
    let mut outer = outer;
    let mut up: Vec<u8> = Vec::new(); // inner session -> target
    let mut down: Vec<u8> = Vec::new(); // target -> inner session
    let mut target_done = false;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let mut progress = false;
        if up.is_empty() {
            match outer.read(&mut buf) {
                // The inner session is finished (its socket was shut down).
                Ok(0) => return Ok(()),
                Ok(n) => {
                    up.extend_from_slice(&buf[..n]);
                    progress = true;
                }
                Err(e) if retry(&e) => {}
                Err(e) => return Err(e),
            }
        }
        if !up.is_empty() {
            match channel.write(&up) {
                Ok(n) => {
                    up.drain(..n);
                    progress |= n > 0;
                }
                Err(e) if retry(&e) => {}
                Err(e) => return Err(e),
            }
        }
        if down.is_empty() && !target_done {
            match channel.read(&mut buf) {
                Ok(0) => target_done = channel.eof(),
                Ok(n) => {
                    down.extend_from_slice(&buf[..n]);
                    progress = true;
                }
                Err(e) if retry(&e) => {}
                Err(e) => return Err(e),
            }
        }
        if !down.is_empty() {
            match outer.write(&down) {
                Ok(n) => {
                    down.drain(..n);
                    progress |= n > 0;
                }
                Err(e) if retry(&e) => {}
                Err(e) => return Err(e),
            }
        }
        if target_done && down.is_empty() {
            // The target closed the connection; closing our side tells the inner session.
            return Ok(());
        }
        if progress {
            continue;
        }
        let linger = linger.get();
        if Instant::now() >= linger {
            return Ok(());
        }
        // Read the jump socket only when there is room to pass data on (or libssh2 needs it to
        // finish a write): otherwise a readable socket would wake us in a loop.
        let mut jump_flags = wanted_strict(jump.session.block_directions());
        if down.is_empty() && !target_done {
            jump_flags |= PollFlags::IN;
        }
        let mut outer_flags = PollFlags::empty();
        if up.is_empty() {
            outer_flags |= PollFlags::IN;
        }
        if !down.is_empty() {
            outer_flags |= PollFlags::OUT;
        }
        let mut fds = [
            PollFd::from_borrowed_fd(jump.socket.fd(), jump_flags),
            PollFd::from_borrowed_fd(outer.as_fd(), outer_flags),
        ];
        wait_ready(&mut fds, linger)?;
    }
}

fn retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// Poll flags for what libssh2 is blocked on; inbound when it says nothing (a read that would
/// block always waits for inbound data).
fn wanted(dirs: &BlockDirections) -> PollFlags {
    match dirs {
        BlockDirections::Outbound => PollFlags::OUT,
        BlockDirections::Both => PollFlags::IN | PollFlags::OUT,
        BlockDirections::Inbound | BlockDirections::None => PollFlags::IN,
    }
}

fn wanted_strict(dirs: BlockDirections) -> PollFlags {
    match dirs {
        BlockDirections::None => PollFlags::empty(),
        other => wanted(&other),
    }
}

/// One `poll` until readiness, `deadline`, or `MAX_WAIT`, whichever is first. Callers loop and
/// check their deadline; EINTR is just an early return.
fn wait_ready(fds: &mut [PollFd<'_>], deadline: Instant) -> io::Result<()> {
    let wait = deadline
        .saturating_duration_since(Instant::now())
        .min(MAX_WAIT);
    let timeout = Timespec::try_from(wait).map_err(io::Error::other)?;
    match poll(fds, Some(&timeout)) {
        Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Prefixes an outcome on the jump host so the operator knows which machine failed.
fn on_jump(who: &str, outcome: Outcome) -> Outcome {
    let prefix = |reason: String| format!("jump host {who}: {reason}");
    match outcome {
        Outcome::Unreachable { reason } => Outcome::Unreachable {
            reason: prefix(reason),
        },
        Outcome::AuthFailed { reason } => Outcome::AuthFailed {
            reason: prefix(reason),
        },
        Outcome::HostKeyRefused {
            reason,
            expected,
            presented,
        } => Outcome::HostKeyRefused {
            reason: prefix(reason),
            expected,
            presented,
        },
        Outcome::Error { reason } => Outcome::Error {
            reason: prefix(reason),
        },
        other => other,
    }
}

/// `name (ip:port)`, or just the address when the inventory gave no name.
fn label(target: &SshTarget) -> String {
    if target.name.is_empty() {
        target.addr.to_string()
    } else {
        format!("{} ({})", target.name, target.addr)
    }
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

/// Pinned fingerprint if the inventory has one, else `known_hosts`; unknown keys are recorded
/// only with `accept_new_host_keys`, and a changed or revoked key is refused regardless.
fn verify_host_key(
    session: &Session,
    target: &SshTarget,
    opts: &SshOptions,
    probe: &mut Probe,
) -> Result<(), Outcome> {
    let Some((blob, _)) = session.host_key() else {
        return Err(Outcome::Error {
            reason: "the server presented no host key".to_owned(),
        });
    };
    let presented = fingerprint(blob);
    probe.host_key = Some(presented.clone());
    let (ip, port) = (target.addr.ip(), target.addr.port());

    if let Some(pinned) = &target.host_key {
        if fingerprints_equal(pinned, &presented) {
            return Ok(());
        }
        return Err(Outcome::HostKeyRefused {
            reason: "host key does not match the fingerprint pinned in the inventory; if the \
                     node was rebuilt, verify its new key out of band and update the inventory"
                .to_owned(),
            expected: Some(pinned.clone()),
            presented,
        });
    }

    let known_hosts = &opts.known_hosts;
    let file = known_hosts
        .path()
        .map_or_else(|| "known_hosts".to_owned(), |p| p.display().to_string());
    let changed = |expected: Vec<String>, presented: String| Outcome::HostKeyRefused {
        reason: format!(
            "host key changed: {file} has a different key for {host}; if the change is expected, \
             verify the new key out of band and run: ssh-keygen -R '{host}' -f {file}",
            host = host_pattern(ip, port)
        ),
        expected: Some(expected.join(", ")),
        presented,
    };
    match known_hosts.lookup(ip, port, blob) {
        HostKeyStatus::Match => Ok(()),
        HostKeyStatus::Mismatch { expected } => Err(changed(expected, presented)),
        HostKeyStatus::Revoked => Err(Outcome::HostKeyRefused {
            reason: format!("host key is marked @revoked in {file}"),
            expected: None,
            presented,
        }),
        HostKeyStatus::NotFound if !opts.accept_new_host_keys => Err(Outcome::HostKeyRefused {
            reason: format!(
                "host key is not in {file}: verify it out of band and add it, pin it in the \
                 inventory, or rerun with --accept-new-host-keys"
            ),
            expected: None,
            presented,
        }),
        HostKeyStatus::NotFound => match known_hosts.record(ip, port, blob) {
            Ok(Recorded::Added { .. }) => {
                probe.recorded.push(presented);
                Ok(())
            }
            // Another session to the same host recorded this key after our lookup: it reports
            // the recording, we just trust it.
            Ok(Recorded::Existing(HostKeyStatus::Match)) => Ok(()),
            Ok(Recorded::Existing(HostKeyStatus::Mismatch { expected })) => {
                Err(changed(expected, presented))
            }
            Ok(Recorded::Existing(_)) => Err(Outcome::HostKeyRefused {
                reason: format!("host key is marked @revoked in {file}"),
                expected: None,
                presented,
            }),
            Err(e) => Err(Outcome::Error {
                reason: format!("{e:#}"),
            }),
        },
    }
}

/// Agent keys first (when asked and `SSH_AUTH_SOCK` is set), then each identity file in order.
fn authenticate(session: &Session, target: &SshTarget, at: &Attempt<'_>) -> Result<(), Outcome> {
    let deadline = at.deadline;
    let user = target.user.as_str();
    let mut tried: Vec<String> = Vec::new();
    // A dropped connection after some keys were refused is sshd's MaxAuthTries, not a network
    // fault: report it as the auth failure it is.
    let fatal = |e: &ssh2::Error, tried: &[String]| {
        let outcome = classify(e, Phase::Connect, deadline, "authentication");
        match outcome {
            Outcome::Unreachable { reason } if !tried.is_empty() => Outcome::AuthFailed {
                reason: format!("{reason} (after trying {})", tried.join(", ")),
            },
            other => other,
        }
    };

    if let Some(socket) = &at.agent {
        arm(session, deadline, Phase::Connect)?;
        match agent_auth(session, user, socket, &mut tried) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => return Err(fatal(&e, &tried)),
        }
    }

    for path in &at.opts.identity_files {
        let result = match at.opts.keys.get(path) {
            Identity::InProcess(key) => {
                arm(session, deadline, Phase::Connect)?;
                identity::userauth(session, user, &key)
            }
            Identity::Locked => {
                tried.push(format!(
                    "{} (protected by a passphrase: load it into ssh-agent)",
                    path.display()
                ));
                continue;
            }
            Identity::Libssh2 => {
                arm(session, deadline, Phase::Connect)?;
                // As OpenSSH does, offer the public key from `KEY.pub` when it exists: without
                // it libssh2 derives the public key from the private one, which costs as much
                // CPU as the signature itself (bench/fanout, BENCHMARKS.md).
                let public = public_key_file(path);
                session.userauth_pubkey_file(user, public.as_deref(), path, None)
            }
        };
        match result {
            Ok(()) if session.authenticated() => return Ok(()),
            Err(e) if is_transport(&e) => return Err(fatal(&e, &tried)),
            Err(e) if session_code(&e) == LIBSSH2_ERROR_FILE => tried.push(format!(
                "{} (unreadable, or protected by a passphrase: load it into ssh-agent)",
                path.display()
            )),
            // Refused, or accepted without completing auth (a second factor we cannot give).
            Ok(()) | Err(_) => tried.push(path.display().to_string()),
        }
    }

    let reason = if tried.is_empty() {
        "no key to offer: ssh-agent is not in use (SSH_AUTH_SOCK unset or --no-agent) and no \
         identity file was given"
            .to_owned()
    } else {
        format!(
            "{user} was refused with every key tried: {}",
            tried.join(", ")
        )
    };
    Err(Outcome::AuthFailed { reason })
}

/// `KEY.pub` next to the identity file `KEY`, if it is a readable file.
fn public_key_file(private: &Path) -> Option<PathBuf> {
    let mut name = private.as_os_str().to_owned();
    name.push(".pub");
    let public = PathBuf::from(name);
    std::fs::File::open(&public)
        .and_then(|f| f.metadata())
        .is_ok_and(|m| m.is_file())
        .then_some(public)
}

/// Offers each agent key; Ok(true) once one is accepted. An agent that cannot be reached or
/// refuses to sign is noted in `tried` (the key files may still work); only a failure of the SSH
/// connection itself is an error.
fn agent_auth(
    session: &Session,
    user: &str,
    socket: &Path,
    tried: &mut Vec<String>,
) -> Result<bool, ssh2::Error> {
    let note = |tried: &mut Vec<String>, e: &ssh2::Error| {
        tried.push(format!(
            "ssh-agent at {} ({})",
            socket.display(),
            e.message()
        ));
    };
    let identities = session.agent().and_then(|mut agent| {
        agent.set_identity_path(socket)?;
        agent.connect()?;
        agent.list_identities()?;
        let identities = agent.identities()?;
        Ok((agent, identities))
    });
    let (mut agent, identities) = match identities {
        Ok(found) => found,
        Err(e) => {
            note(tried, &e);
            return Ok(false);
        }
    };
    if identities.is_empty() {
        tried.push(format!("ssh-agent at {} (no keys)", socket.display()));
    }
    let mut result = Ok(false);
    for identity in identities {
        match agent.userauth(user, &identity) {
            Ok(()) => {
                result = Ok(true);
                break;
            }
            Err(e) if is_transport(&e) => {
                result = Err(e);
                break;
            }
            Err(_) => tried.push(format!("ssh-agent key {:?}", identity.comment())),
        }
    }
    let _ = agent.disconnect();
    result
}

fn session_code(e: &ssh2::Error) -> i32 {
    match e.code() {
        ErrorCode::Session(code) => code,
        ErrorCode::SFTP(_) => 0,
    }
}

fn is_eagain(e: &ssh2::Error) -> bool {
    session_code(e) == LIBSSH2_ERROR_EAGAIN
}

/// Errors of the connection itself (timeout, lost socket), as opposed to a refusal.
fn is_transport(e: &ssh2::Error) -> bool {
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
fn classify(e: &ssh2::Error, phase: Phase, deadline: Instant, what: &str) -> Outcome {
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

fn deadline_after(start: Instant, timeout: Duration) -> Instant {
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
fn arm(session: &Session, deadline: Instant, phase: Phase) -> Result<(), Outcome> {
    let left = remaining(deadline).ok_or_else(|| phase.timed_out())?;
    // 0 means "no timeout" to libssh2: round a sub-millisecond remainder up, not down.
    let ms = u32::try_from(left.as_millis()).unwrap_or(u32::MAX).max(1);
    session.set_timeout(ms);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::net::{IpAddr, Ipv4Addr, TcpListener};
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use super::*;
    use crate::lab::sshd::{Sshd, SshdLab, silent_listener};
    use crate::transport::ssh::KnownHosts;

    const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    /// A lab, one sshd on 127.0.0.1, and a `known_hosts` file trusting it.
    struct Fixture {
        lab: SshdLab,
        sshd: Sshd,
        known_hosts: PathBuf,
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture::with_lab(SshdLab::new().expect("sshd lab"))
        }

        fn with_lab(lab: SshdLab) -> Fixture {
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

        fn addr(&self) -> SocketAddr {
            self.sshd.socket_addr(0)
        }

        fn target(&self) -> SshTarget {
            target(&self.lab, self.addr())
        }

        fn opts(&self) -> SshOptions {
            opts(&self.lab, &self.known_hosts)
        }

        fn exec(&self, command: &str) -> ExecResult {
            exec(&self.target(), &self.opts(), command, None)
        }
    }

    fn target(lab: &SshdLab, addr: SocketAddr) -> SshTarget {
        SshTarget {
            name: "node".to_owned(),
            addr,
            user: lab.user().to_owned(),
            host_key: None,
            jump: None,
        }
    }

    fn opts(lab: &SshdLab, known_hosts: &Path) -> SshOptions {
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

    fn closed_port() -> u16 {
        let listener = TcpListener::bind((LOCALHOST, 0)).expect("bind");
        listener.local_addr().expect("addr").port()
    }

    fn text(c: &Captured) -> String {
        String::from_utf8_lossy(&c.bytes).into_owned()
    }

    #[test]
    fn runs_a_command_and_captures_stdout() {
        let fx = Fixture::new();
        let r = fx.exec("echo hello");
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        assert_eq!(text(&r.stdout), "hello\n");
        assert_eq!(r.stdout.total, 6);
        assert!(!r.stdout.truncated());
        assert!(r.stderr.bytes.is_empty());
        assert!(r.connect.is_some_and(|c| c <= r.total));
        assert_eq!(r.recorded_host_key, None);
    }

    /// `SSH_CONNECTION` (client address and port, server address and port) names the TCP
    /// connection a command ran on: equal for every command of one kept session.
    fn kept_session_runs(target: &SshTarget, opts: &SshOptions) -> Vec<ExecResult> {
        let mut connection = open(target, opts).expect("connect");
        let results = vec![
            connection.run(opts, "echo \"$SSH_CONNECTION\"", None),
            connection.run(opts, "echo \"$SSH_CONNECTION\"; echo err >&2; exit 3", None),
            connection.run(opts, "cat; echo \"$SSH_CONNECTION\"", Some(b"in\n")),
        ];
        assert!(connection.usable());
        results
    }

    fn assert_one_connection(results: &[ExecResult]) {
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
    fn non_zero_exit_and_signal_are_distinct_from_ok() {
        let fx = Fixture::new();
        let r = fx.exec("echo before; exit 3");
        assert_eq!(
            r.outcome,
            Outcome::Exit {
                status: 3,
                signal: None
            }
        );
        assert_eq!(text(&r.stdout), "before\n");
        // `exec` makes the shell itself the process sshd waits for, so the signal reaches sshd.
        let r = fx.exec("exec sh -c 'kill -TERM $$'");
        assert_eq!(
            r.outcome,
            Outcome::Exit {
                status: 143,
                signal: Some("TERM".to_owned())
            },
            "{r:?}"
        );
    }

    #[test]
    fn stderr_is_captured_separately() {
        let fx = Fixture::new();
        let r = fx.exec("echo out; echo oops >&2; exit 1");
        assert_eq!(text(&r.stdout), "out\n");
        assert_eq!(text(&r.stderr), "oops\n");
        assert_eq!(
            r.outcome,
            Outcome::Exit {
                status: 1,
                signal: None
            }
        );
    }

    #[test]
    fn big_output_on_both_streams_is_capped_counted_and_does_not_deadlock() {
        let fx = Fixture::new();
        let mut opts = fx.opts();
        opts.output_cap = 1000;
        opts.command_timeout = Duration::from_secs(30);
        // 5 MB on stderr first: more than any SSH window, so a client that only read stdout
        // would never see the end of it.
        let r = exec(
            &fx.target(),
            &opts,
            "head -c 5000000 /dev/zero >&2; head -c 3000000 /dev/zero",
            None,
        );
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        assert_eq!(r.stderr.total, 5_000_000);
        assert_eq!(r.stderr.bytes.len(), 1000);
        assert_eq!(r.stdout.total, 3_000_000);
        assert_eq!(r.stdout.bytes.len(), 1000);
        assert!(r.stdout.truncated() && r.stderr.truncated());
    }

    #[test]
    fn stdin_is_passed_then_closed() {
        let fx = Fixture::new();
        let input: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let r = exec(&fx.target(), &fx.opts(), "wc -c", Some(&input));
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        assert_eq!(text(&r.stdout).trim(), "300000");
        let r = exec(&fx.target(), &fx.opts(), "cat", Some(b"line one\n"));
        assert_eq!(text(&r.stdout), "line one\n");
        // Without stdin, EOF is still sent: `cat` ends instead of waiting for the deadline.
        let r = fx.exec("cat");
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        assert!(r.total < Duration::from_secs(5));
    }

    #[test]
    fn command_deadline_holds_when_the_command_hangs_silently() {
        let fx = Fixture::new();
        let mut opts = fx.opts();
        opts.command_timeout = Duration::from_secs(1);
        let started = Instant::now();
        let r = exec(&fx.target(), &opts, "sleep 30", None);
        let elapsed = started.elapsed();
        assert_eq!(
            r.outcome,
            Outcome::TimedOut {
                phase: "command".to_owned()
            }
        );
        assert!(!r.outcome.never_ran());
        assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    }

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
                phase: "connect".to_owned()
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
    fn wrong_or_missing_key_is_auth_failed_naming_the_keys() {
        let fx = Fixture::new();
        let wrong = fx.lab.new_key("wrong_key").expect("key");
        let missing = fx.lab.dir().join("no_such_key");
        let mut opts = fx.opts();
        opts.identity_files = vec![wrong.private.clone(), missing.clone()];
        let r = exec(&fx.target(), &opts, "true", None);
        let Outcome::AuthFailed { reason } = &r.outcome else {
            panic!("{r:?}");
        };
        assert!(
            reason.contains(&wrong.private.display().to_string()),
            "{reason}"
        );
        assert!(reason.contains("no_such_key (unreadable"), "{reason}");
        opts.identity_files.clear();
        let r = exec(&fx.target(), &opts, "true", None);
        assert!(
            matches!(&r.outcome, Outcome::AuthFailed { reason } if reason.contains("no key")),
            "{r:?}"
        );
    }

    /// The lab's Ed25519 key is signed in process; an RSA key goes through libssh2, with or
    /// without its `KEY.pub`; a passphrase-protected key is not offered (there is no passphrase
    /// to give) and the failure says why.
    #[test]
    fn each_kind_of_key_file_authenticates_or_says_why_not() {
        let fx = Fixture::new();
        let keygen = |name: &str, args: &[&str]| {
            let key = fx.lab.new_key_of(name, args).expect(name);
            fx.lab.authorize(&key).expect("authorize");
            key.private
        };
        let rsa = keygen("rsa", &["-t", "rsa", "-b", "2048", "-N", ""]);
        let locked = keygen("locked", &["-t", "ed25519", "-N", "secret"]);
        let mut opts = fx.opts();
        assert!(matches!(
            opts.keys.get(fx.lab.client_key()),
            Identity::InProcess(_)
        ));
        assert!(matches!(opts.keys.get(&rsa), Identity::Libssh2));
        assert!(matches!(opts.keys.get(&locked), Identity::Locked));

        let r = exec(&fx.target(), &opts, "true", None);
        assert_eq!(r.outcome, Outcome::Ok, "Ed25519 in process: {r:?}");

        assert_eq!(public_key_file(&rsa), Some(rsa.with_extension("pub")));
        opts.identity_files = vec![locked.clone(), rsa.clone()];
        let r = exec(&fx.target(), &opts, "true", None);
        assert_eq!(r.outcome, Outcome::Ok, "RSA with KEY.pub: {r:?}");
        // The same private key alone: libssh2 derives the public key.
        let alone = fx.lab.dir().join("alone");
        fs::copy(&rsa, &alone).expect("copy key");
        assert_eq!(public_key_file(&alone), None);
        opts.identity_files = vec![alone];
        let r = exec(&fx.target(), &opts, "true", None);
        assert_eq!(r.outcome, Outcome::Ok, "RSA without KEY.pub: {r:?}");

        opts.identity_files = vec![locked];
        let r = exec(&fx.target(), &opts, "true", None);
        assert!(
            matches!(&r.outcome, Outcome::AuthFailed { reason }
                if reason.contains("locked (protected by a passphrase: load it into ssh-agent)")),
            "{r:?}"
        );
    }

    /// A real `ssh-agent` in the foreground, holding `key`; killed and reaped on drop.
    struct Agent {
        child: std::process::Child,
        socket: PathBuf,
    }

    impl Agent {
        fn start(lab: &SshdLab, key: &Path) -> Agent {
            let socket = lab.dir().join("agent.sock");
            let child = Command::new("ssh-agent")
                .arg("-D")
                .arg("-a")
                .arg(&socket)
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("ssh-agent (apt-get install openssh-client)");
            let agent = Agent { child, socket };
            let started = Instant::now();
            while !agent.socket.exists() {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "ssh-agent did not start"
                );
                thread::sleep(Duration::from_millis(10));
            }
            let added = Command::new("ssh-add")
                .arg(key)
                .env("SSH_AUTH_SOCK", &agent.socket)
                .output()
                .expect("ssh-add");
            assert!(added.status.success(), "{added:?}");
            agent
        }
    }

    impl Drop for Agent {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[test]
    fn agent_keys_are_offered_first_and_a_dead_agent_falls_back_to_files() {
        let fx = Fixture::new();
        let agent = Agent::start(&fx.lab, fx.lab.client_key());
        let mut opts = fx.opts();
        opts.use_agent = true;
        opts.identity_files.clear();
        let r = exec_with(
            &fx.target(),
            &opts,
            "true",
            None,
            Some(agent.socket.clone()),
        );
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");

        // An agent socket nobody listens on: noted, then the key file works.
        let dead = fx.lab.dir().join("dead.sock");
        let r = exec_with(&fx.target(), &opts, "true", None, Some(dead.clone()));
        let Outcome::AuthFailed { reason } = &r.outcome else {
            panic!("{r:?}");
        };
        assert!(reason.contains("ssh-agent at"), "{reason}");
        opts.identity_files = vec![fx.lab.client_key().to_path_buf()];
        let r = exec_with(&fx.target(), &opts, "true", None, Some(dead));
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    }

    #[test]
    fn unknown_host_key_is_refused_by_default() {
        let fx = Fixture::new();
        fs::write(&fx.known_hosts, "").expect("empty known_hosts");
        let r = fx.exec("true");
        assert_eq!(
            r.outcome,
            Outcome::HostKeyRefused {
                reason: r.outcome_reason(),
                expected: None,
                presented: fx.lab.host_key_fingerprint().to_owned(),
            }
        );
        assert!(r.outcome_reason().contains("accept-new-host-keys"));
        assert_eq!(fs::read_to_string(&fx.known_hosts).expect("read"), "");
    }

    #[test]
    fn changed_host_key_is_refused_even_with_accept_new() {
        let fx = Fixture::new();
        let old = fx.lab.new_key("old_host_key").expect("key");
        fs::write(
            &fx.known_hosts,
            old.known_hosts_line(LOCALHOST, fx.sshd.port()),
        )
        .expect("write");
        for accept_new in [false, true] {
            let mut opts = fx.opts();
            opts.accept_new_host_keys = accept_new;
            let r = exec(&fx.target(), &opts, "true", None);
            let Outcome::HostKeyRefused {
                reason,
                expected,
                presented,
            } = &r.outcome
            else {
                panic!("{r:?}");
            };
            assert_eq!(expected.as_deref(), Some(old.fingerprint.as_str()));
            assert_eq!(presented, fx.lab.host_key_fingerprint());
            assert!(reason.contains("changed"), "{reason}");
            assert_eq!(r.recorded_host_key, None);
        }
    }

    #[test]
    fn accept_new_records_a_line_a_fresh_load_matches() {
        let fx = Fixture::new();
        let path = fx.lab.dir().join("new/dir/known_hosts");
        let mut opts = opts(&fx.lab, &path);
        opts.accept_new_host_keys = true;
        let r = exec(&fx.target(), &opts, "true", None);
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        assert_eq!(
            r.recorded_host_key.as_deref(),
            Some(fx.lab.host_key_fingerprint())
        );
        let written = fs::read_to_string(&path).expect("recorded");
        assert_eq!(
            written,
            format!("{}\n", fx.lab.known_hosts_line(LOCALHOST, fx.sshd.port()))
        );
        // The same store now knows it: nothing recorded twice.
        let r = exec(&fx.target(), &opts, "true", None);
        assert_eq!((r.outcome, r.recorded_host_key), (Outcome::Ok, None));
        // And a later run, without accept-new, trusts it.
        let r = exec(&fx.target(), &self::opts(&fx.lab, &path), "true", None);
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    }

    #[test]
    fn parallel_sessions_to_a_new_host_record_it_once() {
        let fx = Fixture::new();
        fs::write(&fx.known_hosts, "").expect("empty");
        let mut opts = fx.opts();
        opts.accept_new_host_keys = true;
        let target = fx.target();
        let results: Vec<ExecResult> = thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| exec(&target, &opts, "true", None)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        assert!(
            results.iter().all(|r| r.outcome == Outcome::Ok),
            "{results:?}"
        );
        let written = fs::read_to_string(&fx.known_hosts).expect("read");
        assert_eq!(written.lines().count(), 1, "{written}");
        assert_eq!(
            results
                .iter()
                .filter(|r| r.recorded_host_key.is_some())
                .count(),
            1
        );
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

    #[test]
    fn hashed_known_hosts_entry_matches() {
        let fx = Fixture::new();
        let out = Command::new("ssh-keygen")
            .arg("-H")
            .arg("-f")
            .arg(&fx.known_hosts)
            .output()
            .expect("ssh-keygen -H");
        assert!(out.status.success(), "{out:?}");
        let hashed = fs::read_to_string(&fx.known_hosts).expect("read");
        assert!(hashed.starts_with("|1|"), "{hashed}");
        let r = fx.exec("true");
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    }

    #[test]
    fn revoked_key_is_refused() {
        let fx = Fixture::new();
        let line = fx.lab.known_hosts_line(LOCALHOST, fx.sshd.port());
        let revoked = format!("{line}\n@revoked * {}\n", fx.lab.host_key().public);
        fs::write(&fx.known_hosts, revoked).expect("write");
        let r = fx.exec("true");
        assert!(
            matches!(&r.outcome, Outcome::HostKeyRefused { reason, .. } if reason.contains("revoked")),
            "{r:?}"
        );
    }

    #[test]
    fn pinned_fingerprint_is_the_only_key_accepted() {
        let fx = Fixture::new();
        // Pinned keys do not consult known_hosts: an empty one must not matter.
        fs::write(&fx.known_hosts, "").expect("empty");
        let mut target = fx.target();
        target.host_key = Some(fx.lab.host_key_fingerprint().to_owned());
        let r = exec(&target, &fx.opts(), "true", None);
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");

        let other = fx.lab.new_key("other_host_key").expect("key");
        target.host_key = Some(other.fingerprint.clone());
        let mut opts = fx.opts();
        opts.accept_new_host_keys = true;
        let r = exec(&target, &opts, "true", None);
        let Outcome::HostKeyRefused {
            expected,
            presented,
            ..
        } = &r.outcome
        else {
            panic!("{r:?}");
        };
        assert_eq!(expected.as_deref(), Some(other.fingerprint.as_str()));
        assert_eq!(presented, fx.lab.host_key_fingerprint());
        assert_eq!(fs::read_to_string(&fx.known_hosts).expect("read"), "");
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

    /// Jump on 127.0.0.1, target on 127.0.5.2; both trusted; the jump logs forwarded channels.
    struct JumpFixture {
        jump: Fixture,
        target_sshd: Sshd,
    }

    impl JumpFixture {
        fn new() -> JumpFixture {
            let jump =
                Fixture::with_lab(SshdLab::new().expect("sshd lab").with_log_level("DEBUG1"));
            let target_ip = IpAddr::V4(Ipv4Addr::new(127, 0, 5, 2));
            let target_sshd = jump.lab.start(&[target_ip]).expect("target sshd");
            let mut trusted = fs::read_to_string(&jump.known_hosts).expect("read");
            trusted.push_str(&jump.lab.known_hosts_line(target_ip, target_sshd.port()));
            trusted.push('\n');
            fs::write(&jump.known_hosts, trusted).expect("write");
            JumpFixture { jump, target_sshd }
        }

        fn target_via_jump(&self, addr: SocketAddr) -> SshTarget {
            let mut t = target(&self.jump.lab, addr);
            t.jump = Some(Box::new(SshTarget {
                name: "bastion".to_owned(),
                ..self.jump.target()
            }));
            t
        }
    }

    #[test]
    fn jump_host_reaches_the_target_through_a_tunnel() {
        let fx = JumpFixture::new();
        let to = fx.target_sshd.socket_addr(0);
        let target = fx.target_via_jump(to);
        let r = exec(&target, &fx.jump.opts(), "echo via; echo err >&2", None);
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        assert_eq!(text(&r.stdout), "via\n");
        assert_eq!(text(&r.stderr), "err\n");
        let log = fx.jump.sshd.log();
        assert!(
            log.contains(&format!("target {} port {}", to.ip(), to.port())),
            "jump sshd did not forward to the target:\n{log}"
        );
        let c = check(&target, &fx.jump.opts());
        assert_eq!(c.outcome, Outcome::Ok);

        // Deadlines hold through the tunnel too.
        let mut opts = fx.jump.opts();
        opts.command_timeout = Duration::from_secs(1);
        let started = Instant::now();
        let r = exec(&target, &opts, "sleep 30", None);
        assert_eq!(r.outcome.label(), "timed_out", "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_kept_session_through_a_jump_host_outlives_one_command_deadline() {
        let fx = JumpFixture::new();
        let target = fx.target_via_jump(fx.target_sshd.socket_addr(0));
        let mut opts = fx.jump.opts();
        // The tunnel's own deadline starts as connect + one command deadline (+5 s slack):
        // each command of a kept session must move it, or the third command would find the
        // tunnel gone after 2 + 1 + 5 s.
        opts.command_timeout = Duration::from_secs(1);
        let mut connection = open(&target, &opts).expect("connect");
        let mut seen = Vec::new();
        for _ in 0..4 {
            let r = connection.run(&opts, "sleep 0.8; echo \"$SSH_CONNECTION\"", None);
            assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
            seen.push(text(&r.stdout));
            std::thread::sleep(Duration::from_millis(2500));
        }
        assert!(seen.iter().all(|c| *c == seen[0]), "{seen:?}");
        assert_one_connection(&kept_session_runs(&target, &fx.jump.opts()));
    }

    #[test]
    fn target_unreachable_from_the_jump_says_so() {
        let fx = JumpFixture::new();
        let to = SocketAddr::new(LOCALHOST, closed_port());
        let r = exec(&fx.target_via_jump(to), &fx.jump.opts(), "true", None);
        let Outcome::Unreachable { reason } = &r.outcome else {
            panic!("{r:?}");
        };
        assert!(reason.contains("via jump host bastion"), "{reason}");
    }

    #[test]
    fn failures_on_the_jump_host_are_labelled() {
        let fx = JumpFixture::new();
        let to = fx.target_sshd.socket_addr(0);
        // Trust only the target: the jump's key is unknown.
        fs::write(
            &fx.jump.known_hosts,
            fx.jump.lab.known_hosts_line(to.ip(), to.port()),
        )
        .expect("write");
        let r = exec(&fx.target_via_jump(to), &fx.jump.opts(), "true", None);
        assert!(
            matches!(&r.outcome, Outcome::HostKeyRefused { reason, .. } if reason.starts_with("jump host bastion")),
            "{r:?}"
        );
        // A target that never speaks, behind the jump: the connect deadline still holds.
        let silent = silent_listener().expect("silent");
        fx.jump
            .lab
            .write_known_hosts(&fx.jump.known_hosts, &[LOCALHOST], fx.jump.sshd.port())
            .expect("write");
        let mut opts = fx.jump.opts();
        opts.connect_timeout = Duration::from_secs(1);
        let started = Instant::now();
        let r = exec(&fx.target_via_jump(silent.addr()), &opts, "true", None);
        assert_eq!(r.outcome.label(), "timed_out", "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn sudo_wraps_non_root_commands_quoted() {
        let wrapped = remote_command("echo 'hi' \"$HOME\" && id", "deploy", true).expect("quote");
        assert!(wrapped.starts_with("sudo -n -- sh -c "), "{wrapped}");
        // The remote shell splits it back into exactly the original command.
        assert_eq!(
            shlex::split(&wrapped).expect("split"),
            ["sudo", "-n", "--", "sh", "-c", "echo 'hi' \"$HOME\" && id"]
        );
        assert_eq!(
            remote_command("id", "root", true).expect("root"),
            "id",
            "root needs no sudo"
        );
        assert_eq!(remote_command("id", "deploy", false).expect("off"), "id");
        assert!(remote_command("a\0b", "deploy", true).is_err());
    }

    #[test]
    fn signal_statuses_follow_the_shell_convention() {
        assert_eq!(signal_status("KILL"), 137);
        assert_eq!(signal_status("SIGTERM"), 143);
        assert_eq!(signal_status("WEIRD"), 255);
    }

    impl ExecResult {
        fn outcome_reason(&self) -> String {
            match &self.outcome {
                Outcome::Unreachable { reason }
                | Outcome::AuthFailed { reason }
                | Outcome::HostKeyRefused { reason, .. }
                | Outcome::Error { reason } => reason.clone(),
                _ => String::new(),
            }
        }
    }
}
