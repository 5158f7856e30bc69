//! One `ProxyJump` hop: a session to the jump host, a direct-tcpip channel from it to the
//! target, and the pump thread that carries the target session's bytes over that channel
//! (libssh2 needs a real fd for the inner session, hence a socket pair). Failures on the jump
//! host are labelled with its name, so the operator knows which machine failed.
//!
//! The tunnel must not outlive its session: the pump ends when the inner session's socket
//! closes, when the target closes, or at its own deadline ([`Linger`]), and never blocks on the
//! jump host past that.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};

use super::channel::CHUNK;
use super::connect::{
    Attempt, Conn, LIBSSH2_ERROR_CHANNEL_FAILURE, Phase, Probe, arm, classify, connect,
    deadline_after, session_code, wait_ready, wanted_strict,
};
use super::{Outcome, SshTarget};

/// A jump tunnel outlives the command deadline by this much before its pump gives up on its own
/// (normally it ends as soon as the inner session closes).
pub(super) const PUMP_SLACK: Duration = Duration::from_secs(5);

/// The pump thread only copies bytes; it does not need a default 2 MiB stack.
const PUMP_STACK: usize = 256 * 1024;

/// When a jump tunnel's pump gives up on its own, shared by the pump and the session it carries:
/// a session kept open for several commands moves it forward with each one.
#[derive(Clone)]
pub(super) struct Linger(Arc<Mutex<Instant>>);

impl Linger {
    /// A deadline of its own for a tunnel's pump, at `at` until extended.
    pub(super) fn new(at: Instant) -> Linger {
        Linger(Arc::new(Mutex::new(at)))
    }

    pub(super) fn get(&self) -> Instant {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps the tunnel up at least until `deadline` (plus slack).
    pub(super) fn extend_past(&self, deadline: Instant) {
        let mut at = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *at = (*at).max(deadline_after(deadline, PUMP_SLACK));
    }
}

/// Connects to `jump`, opens a direct-tcpip channel to `to`, and starts the pump that carries
/// the returned socket's bytes over that channel. libssh2 needs a real fd for the inner session,
/// hence the socket pair.
pub(super) fn tunnel(
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

#[cfg(test)]
mod tests {
    use std::fs;
    use std::net::{IpAddr, Ipv4Addr};

    use crate::lab::sshd::{Sshd, SshdLab, silent_listener};
    use crate::transport::ssh::fixture::{
        Fixture, LOCALHOST, assert_one_connection, closed_port, kept_session_runs, target, text,
    };
    use crate::transport::ssh::{check, exec, open};

    use super::*;

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
}
