//! One command on its own channel of an authenticated session ([`Conn::run`]): the command
//! line (wrapped in `sudo -n --` for a non-root user), stdin then EOF, stdout and stderr read
//! together and capped, then the exit status or the signal, all under the command deadline.
//!
//! The session is non-blocking while the command runs, waiting in `poll(2)` on the socket until
//! data or the command deadline. Waiting on the socket rather than spinning keeps the client near
//! its CPU budget while hundreds of commands run (research/fanout-performance.md).
//!
//! This file never connects or reconnects, and a connection lost once the command started is
//! never `Unreachable`: the command may have run (see [`lost`]).

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use rustix::event::PollFd;

use super::connect::{Conn, Phase, arm, classify, deadline_after, is_eagain, wait_ready, wanted};
use super::{Captured, Outcome, SshOptions, Stopped};

/// Read buffer size: one SSH packet's worth (OpenSSH sends at most 32 KiB of data per packet).
pub(super) const CHUNK: usize = 32 * 1024;

/// How long a command past its deadline gets to end after each signal (TERM, then KILL) before
/// the next, or before it is reported as possibly still running.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Signals the process group of the command running on this connection's other channel
/// (input `sig`); see the script's comments.
const STOP_SCRIPT: &str = include_str!("stop.sh");
/// `stop.sh`'s exit status when no process of the command's group is left.
const STOP_NONE_LEFT: i32 = 3;

/// Where a command's output goes, and how much of each stream is kept.
struct Streams<'a> {
    stdout: &'a mut Captured,
    stderr: &'a mut Captured,
    cap: usize,
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

impl Conn {
    /// Runs `command` on this session until it exits or the command deadline passes.
    pub(super) fn run(
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
        let mut input = stdin.unwrap_or_default();
        let mut streams = Streams {
            stdout,
            stderr,
            cap: opts.output_cap,
        };
        match self.pump(&mut channel, &mut input, &mut streams, deadline) {
            Ok(()) => {}
            // The deadline passed with the command still running: abandoning it would leave it
            // running on the node, so stop it there and say whether that worked.
            Err(Outcome::TimedOut { phase, .. }) => {
                return Err(Outcome::TimedOut {
                    phase,
                    stopped: Some(self.stop(&mut channel, &mut streams)),
                });
            }
            Err(other) => return Err(other),
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

    /// Writes `input` then EOF, reads stdout and stderr until both end, then waits for the
    /// channel to close (the exit status comes before the close), all before `deadline`.
    fn pump(
        &self,
        channel: &mut ssh2::Channel,
        input: &mut &[u8],
        streams: &mut Streams<'_>,
        deadline: Instant,
    ) -> Result<(), Outcome> {
        let mut stderr_stream = channel.stderr();
        let mut eof_sent = false;
        let (mut out_done, mut err_done) = (false, false);
        let mut buf = vec![0u8; CHUNK];
        loop {
            let mut progress = false;
            if !input.is_empty() {
                match channel.write(input) {
                    Ok(n) => {
                        *input = &input[n..];
                        progress |= n > 0;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // The command closed its stdin or exited: the rest is not wanted, and its
                    // exit status tells the story.
                    Err(_) => *input = &[],
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
                let (moved, ended) = drain(channel, &mut buf, streams.stdout, streams.cap)
                    .map_err(|e| lost(&e, deadline))?;
                progress |= moved;
                out_done = ended && channel.eof();
            }
            if !err_done {
                let (moved, ended) =
                    drain(&mut stderr_stream, &mut buf, streams.stderr, streams.cap)
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
                Ok(()) => return Ok(()),
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
    }

    /// Stops a command past its deadline on the node: signals its process group (SIGTERM,
    /// then SIGKILL) from a second channel of this session, each time waiting [`STOP_GRACE`]
    /// for the command's channel to close, which is the proof that it ended. Output that
    /// arrives meanwhile is kept.
    ///
    /// Not the SSH `signal` channel request (RFC 4254 section 6.9): libssh2 sends it only
    /// through `libssh2_channel_signal_ex`, which the `ssh2` crate does not bind (and its
    /// generic `process_startup` refuses a channel that already runs a command), and sshd
    /// ignores it before recent OpenSSH releases. This way needs only `/proc` and `kill`.
    fn stop(&self, channel: &mut ssh2::Channel, streams: &mut Streams<'_>) -> Stopped {
        let mut sent: Option<&str> = None;
        for signal in ["TERM", "KILL"] {
            let grace = deadline_after(Instant::now(), STOP_GRACE);
            if let Some(linger) = &self.linger {
                linger.extend_past(grace);
            }
            let signalled = match self.signal_group(signal, grace) {
                Ok(signalled) => signalled,
                Err(reason) => {
                    return Stopped::Unconfirmed {
                        reason: format!("cannot send SIG{signal} to its process group: {reason}"),
                    };
                }
            };
            let ended = self.pump(channel, &mut &[][..], streams, grace);
            match (signalled, ended, sent) {
                (true, Ok(()), _) => {
                    return Stopped::Killed {
                        signal: signal.to_owned(),
                    };
                }
                (false, Ok(()), None) => return Stopped::Ended,
                (false, Ok(()), Some(sent)) => {
                    return Stopped::Killed {
                        signal: sent.to_owned(),
                    };
                }
                // Nothing of its group is left, yet its output stays open.
                (false, Err(Outcome::TimedOut { .. }), _) => break,
                (true, Err(Outcome::TimedOut { .. }), _) => sent = Some(signal),
                (_, Err(other), _) => {
                    return Stopped::Unconfirmed {
                        reason: format!("after SIG{signal}: {}", other.describe()),
                    };
                }
            }
        }
        Stopped::Unconfirmed {
            reason: format!(
                "its output stayed open after {} to its process group: something it started \
                 left the group (setsid, a daemon) and holds it",
                sent.map_or_else(|| "the deadline".to_owned(), |s| format!("SIG{s}"))
            ),
        }
    }

    /// Runs `stop.sh` on a new channel of this session: `signal` to the process group of the
    /// command still running on the other channel. False when no process of that group is
    /// left to signal.
    fn signal_group(&self, signal: &str, deadline: Instant) -> Result<bool, String> {
        self.session.set_blocking(true);
        let open = || -> Result<ssh2::Channel, ssh2::Error> {
            let mut channel = self.session.channel_session()?;
            channel.exec(&format!("sig={signal}\n{STOP_SCRIPT}"))?;
            Ok(channel)
        };
        let started = arm(&self.session, deadline, Phase::Command)
            .map_err(|o| o.describe())
            .and_then(|()| open().map_err(|e| e.message().to_owned()));
        self.session.set_blocking(false);
        let mut channel = started?;
        let (mut stdout, mut stderr) = (Captured::default(), Captured::default());
        let mut streams = Streams {
            stdout: &mut stdout,
            stderr: &mut stderr,
            cap: 4096,
        };
        self.pump(&mut channel, &mut &[][..], &mut streams, deadline)
            .map_err(|o| o.describe())?;
        match channel.exit_status() {
            Ok(0) => Ok(true),
            Ok(STOP_NONE_LEFT) => Ok(false),
            Ok(status) => Err(format!(
                "exit {status}: {}",
                String::from_utf8_lossy(&stderr.bytes).trim()
            )),
            Err(e) => Err(e.message().to_owned()),
        }
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

/// Keeps at most `cap` bytes, counts them all. The buffer grows by doubling, as a `Vec` does,
/// but never past `cap`: left to itself it would reserve up to twice the cap.
fn keep(captured: &mut Captured, chunk: &[u8], cap: usize) {
    captured.total = captured
        .total
        .saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
    let bytes = &mut captured.bytes;
    let kept = &chunk[..chunk.len().min(cap.saturating_sub(bytes.len()))];
    if kept.len() > bytes.capacity() - bytes.len() {
        let want = bytes
            .capacity()
            .saturating_mul(2)
            .max(bytes.len() + kept.len())
            .min(cap);
        bytes.reserve_exact(want - bytes.len());
    }
    bytes.extend_from_slice(kept);
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::transport::ssh::exec;
    use crate::transport::ssh::fixture::{Fixture, text};

    use super::*;

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

    /// Issue #11 point 18: what is kept of a stream never reserves more than the cap.
    #[test]
    fn kept_output_never_reserves_more_than_the_cap() {
        for cap in [0, 1, 1000, 100_000, 3 * CHUNK + 7] {
            let mut captured = Captured::default();
            let chunk = vec![b'a'; CHUNK];
            for _ in 0..10 {
                keep(&mut captured, &chunk, cap);
                assert!(
                    captured.bytes.capacity() <= cap.max(1),
                    "cap {cap}: {} bytes reserved for {} kept",
                    captured.bytes.capacity(),
                    captured.bytes.len()
                );
            }
            assert_eq!(captured.bytes.len(), cap.min(10 * CHUNK));
            assert_eq!(captured.total, 10 * CHUNK as u64);
        }
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
        assert_eq!(r.outcome, killed("TERM"), "{r:?}");
        assert!(!r.outcome.never_ran());
        assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    }

    fn killed(signal: &str) -> Outcome {
        Outcome::TimedOut {
            phase: "command".to_owned(),
            stopped: Some(Stopped::Killed {
                signal: signal.to_owned(),
            }),
        }
    }

    /// The PID a command wrote to `file` (sshd runs on this machine, so it is ours to look up).
    fn pid_in(file: &std::path::Path) -> i32 {
        let text = std::fs::read_to_string(file).expect("the command wrote its PID");
        text.trim().parse().expect("a PID")
    }

    /// Whether `pid` is a live process (a zombie is dead, only not reaped yet).
    fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                let state = stat.rsplit_once(") ")?.1.chars().next()?;
                Some(state != 'Z')
            })
            .unwrap_or(false)
    }

    /// Issue #11 point 16: a command past its deadline is stopped on the node, its children
    /// too (sshd signals the session's process group), not abandoned to run on.
    #[test]
    fn a_command_past_its_deadline_is_killed_on_the_node_with_its_children() {
        let fx = Fixture::new();
        let mut opts = fx.opts();
        opts.command_timeout = Duration::from_secs(1);
        let file = fx.lab.dir().join("sleep.pid");
        let command = format!("sleep 300 & echo $! > {}; wait", file.display());
        let r = exec(&fx.target(), &opts, &command, None);
        assert_eq!(r.outcome, killed("TERM"), "{r:?}");
        let pid = pid_in(&file);
        assert!(
            !alive(pid),
            "sleep {pid} still runs on the node after its deadline"
        );
        assert_eq!(
            r.outcome.describe(),
            "timed out (command): killed on the node (SIGTERM to its process group)"
        );
    }

    /// A command that ignores SIGTERM gets SIGKILL; one whose child left the process group and
    /// holds its output open cannot be confirmed stopped, and the outcome says it may still run.
    #[test]
    fn sigkill_follows_an_ignored_sigterm_and_an_escaped_child_is_reported_unconfirmed() {
        let fx = Fixture::new();
        let mut opts = fx.opts();
        opts.command_timeout = Duration::from_secs(1);
        let r = exec(
            &fx.target(),
            &opts,
            "trap '' TERM; sleep 300; sleep 300",
            None,
        );
        assert_eq!(r.outcome, killed("KILL"), "{r:?}");

        let file = fx.lab.dir().join("escaped.pid");
        let command = format!("setsid sleep 300 & echo $! > {}; wait", file.display());
        let started = Instant::now();
        let r = exec(&fx.target(), &opts, &command, None);
        let pid = pid_in(&file);
        let still = alive(pid);
        // Ours to clean up: the test started it, outside any group breakglass could signal.
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid).expect("pid"),
            rustix::process::Signal::KILL,
        );
        assert!(still, "the escaped sleep was expected to survive");
        match &r.outcome {
            Outcome::TimedOut {
                stopped: Some(Stopped::Unconfirmed { reason }),
                ..
            } => assert!(reason.contains("left the group"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(r.outcome.describe().contains("it may still run"), "{r:?}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
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
}
