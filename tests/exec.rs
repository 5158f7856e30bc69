//! `exec` against real sshd: outcomes, folding, JSON, trust, deadlines, jump host, Ctrl-C.

use std::time::{Duration, Instant};

use breakglass::engine::Event;
use breakglass::lab::sshd::silent_listener;

use crate::support::events;
use crate::support::fleet::{Fleet, addrs};

fn results(events: &[Event]) -> Vec<&breakglass::engine::TargetResult> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::TargetResult(r) => Some(r),
            _ => None,
        })
        .collect()
}

#[test]
fn identical_output_is_folded_with_a_tally() {
    let f = Fleet::new(21, 12);
    // One host differs: its address shows up in SSH_CONNECTION on the server side.
    let out = f
        .bg()
        .args([
            "exec",
            "all",
            "--",
            r#"case "$SSH_CONNECTION" in *" 127.21.0.5 "*) echo odd; exit 3;; esac; echo same"#,
        ])
        .run()
        .code(1);
    assert!(
        out.stdout
            .contains("---- node[001-004,006-012] (11 hosts): ok\nsame\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("---- node005 (1 host): exit 3\nodd\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("12 hosts in "), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("11 ok, 1 failed, 0 unreachable, 0 timed out, 0 refused"),
        "{}",
        out.stdout
    );
}

#[test]
fn json_stream_deserializes_with_stdout_stderr_and_status() {
    let f = Fleet::new(22, 3);
    let out = f
        .bg()
        .args([
            "--output",
            "json",
            "exec",
            "all",
            "--",
            "echo out; echo err >&2; exit 7",
        ])
        .run()
        .code(1);
    let ev = events(&out.stdout);
    assert!(
        matches!(ev.first(), Some(Event::RunBegin(b)) if b.targets == 3 && b.command == "exec")
    );
    let rs = results(&ev);
    assert_eq!(rs.len(), 3);
    for r in &rs {
        assert_eq!(r.outcome, "failed");
        assert_eq!(r.exit_status, Some(7));
        assert_eq!(r.stdout.as_deref(), Some("out\n"));
        assert_eq!(r.stderr.as_deref(), Some("err\n"));
        assert!(r.connect_ms.is_some() && r.duration_ms > 0.0);
    }
    let Some(Event::Summary(s)) = ev.last() else {
        panic!("last event is not a summary: {}", out.stdout)
    };
    assert_eq!((s.total, s.failed, s.exit_code), (3, 3, 1));
}

#[test]
fn command_timeout_is_enforced() {
    let f = Fleet::new(23, 2);
    let started = Instant::now();
    let out = f
        .bg()
        .args([
            "--output",
            "json",
            "exec",
            "all",
            "--command-timeout",
            "1s",
            "--",
            "sleep 30",
        ])
        .run()
        .code(1);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    let ev = events(&out.stdout);
    for r in results(&ev) {
        assert_eq!(r.outcome, "timed_out");
        assert_eq!(r.phase.as_deref(), Some("command"));
    }
}

/// Issue #11 point 16: a command past its deadline is stopped on the node, what it started
/// with it (not abandoned there to run on), and the output says so.
#[test]
fn a_timed_out_command_is_killed_on_the_node_and_the_output_says_so() {
    let f = Fleet::new(32, 1);
    let pid_file = f.scratch.path().join("sleep.pid");
    let out = f
        .bg()
        .args(["exec", "all", "--command-timeout", "2s", "--"])
        .arg(format!(
            "sleep 300 & echo $! > {}; wait",
            pid_file.display()
        ))
        .run()
        .code(1);
    // sshd runs on this machine: the sleep's PID is ours to look up.
    let pid = std::fs::read_to_string(&pid_file).expect("the command wrote its PID");
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
    let gone = matches!(state, None | Some(Some('Z')));
    if !gone {
        // The test started it: not left to run for five minutes after a failure.
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    }
    assert!(
        gone,
        "the sleep (PID {}) still runs on the node: {stat}",
        pid.trim()
    );
    assert!(
        out.stdout.contains(
            "---- node001 (1 host): timed out (command): killed on the node (SIGTERM to its \
             process group)"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn silent_peer_times_out_at_connect() {
    let f = Fleet::new(24, 1);
    let silent = silent_listener().expect("listener");
    let inv = f.scratch.write(
        "silent.toml",
        &format!(
            "[[hosts]]\nname = \"mute\"\naddress = \"{}\"\nport = {}\n",
            silent.addr().ip(),
            silent.addr().port()
        ),
    );
    let started = Instant::now();
    let out = f
        .scratch
        .bg()
        .arg("-i")
        .arg(&inv)
        .args([
            "--output",
            "json",
            "exec",
            "all",
            "--connect-timeout",
            "1s",
            "--",
            "true",
        ])
        .run()
        .code(1);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let ev = events(&out.stdout);
    let rs = results(&ev);
    assert_eq!(rs[0].outcome, "timed_out", "{}", out.stdout);
    assert_eq!(rs[0].phase.as_deref(), Some("connect"));
}

#[test]
fn wrong_key_is_auth_failed() {
    let f = Fleet::new(25, 1);
    let other = f.lab.new_key("stranger").expect("key");
    let out = f
        .bg()
        .args(["--output", "json", "exec", "all", "-k"])
        .arg(&other.private)
        .args(["--", "true"])
        .run()
        .code(1);
    let ev = events(&out.stdout);
    assert_eq!(results(&ev)[0].outcome, "auth_failed", "{}", out.stdout);
}

#[test]
fn unknown_host_key_is_refused_unless_accepted_and_then_recorded() {
    let f = Fleet::new(26, 2);
    std::fs::write(&f.known_hosts, "").expect("empty known_hosts");
    let out = f
        .bg()
        .args(["--output", "json", "exec", "all", "--", "true"])
        .run()
        .code(1);
    assert!(
        results(&events(&out.stdout))
            .iter()
            .all(|r| r.outcome == "refused"),
        "{}",
        out.stdout
    );

    let out = f
        .bg()
        .args([
            "--output",
            "json",
            "exec",
            "all",
            "--accept-new-host-keys",
            "--",
            "true",
        ])
        .run()
        .ok();
    assert!(
        results(&events(&out.stdout))
            .iter()
            .all(|r| r.recorded_host_key.is_some()),
        "{}",
        out.stdout
    );
    let recorded = std::fs::read_to_string(&f.known_hosts).expect("known_hosts");
    assert_eq!(recorded.lines().count(), 2, "{recorded}");
    // Now known: plain runs succeed.
    f.bg().args(["exec", "all", "--", "true"]).run().ok();
}

#[test]
fn changed_host_key_is_refused_even_with_accept_new() {
    let f = Fleet::new(27, 1);
    let impostor = f.lab.new_key("impostor").expect("key");
    let addr = f.sshd.addrs()[0];
    std::fs::write(
        &f.known_hosts,
        format!("{}\n", impostor.known_hosts_line(addr, f.sshd.port())),
    )
    .expect("write");
    let out = f
        .bg()
        .args(["exec", "all", "--accept-new-host-keys", "--", "true"])
        .run()
        .code(1);
    assert!(
        out.stdout.contains(&impostor.fingerprint),
        "expected fingerprint missing:\n{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(f.lab.host_key_fingerprint()),
        "presented fingerprint missing:\n{}",
        out.stdout
    );
    assert!(out.stdout.contains("1 refused"), "{}", out.stdout);
}

#[test]
fn jump_host_reaches_the_target_through_the_bastion() {
    let f = Fleet::new(28, 1);
    let lab = breakglass::lab::sshd::SshdLab::new()
        .expect("lab")
        .with_log_level("DEBUG1");
    let bastion = lab.start(&addrs(28, 4, 1)).expect("bastion sshd");
    let target = f.sshd.socket_addr(0);
    let mut kh = std::fs::read_to_string(&f.known_hosts).expect("kh");
    kh.push_str(&format!(
        "{}\n",
        lab.known_hosts_line(bastion.addrs()[0], bastion.port())
    ));
    std::fs::write(&f.known_hosts, kh).expect("kh");
    std::fs::copy(lab.client_key(), f.scratch.path().join("bastion_key")).expect("copy key");
    let inv = f.scratch.write(
        "jump.toml",
        &format!(
            "[defaults]\nuser = \"{user}\"\nidentity_files = [\"{k1}\", \"{k2}\"]\nknown_hosts = \"{kh}\"\n\n\
             [[hosts]]\nname = \"bastion\"\naddress = \"{b}\"\nport = {bp}\n\n\
             [[hosts]]\nname = \"inner\"\naddress = \"{t}\"\nport = {tp}\njump = \"bastion\"\n",
            user = f.lab.user(),
            k1 = f.lab.client_key().display(),
            k2 = lab.client_key().display(),
            kh = f.known_hosts.display(),
            b = bastion.addrs()[0],
            bp = bastion.port(),
            t = target.ip(),
            tp = target.port(),
        ),
    );
    let out = f
        .scratch
        .bg()
        .arg("-i")
        .arg(&inv)
        .env("BREAKGLASS_NO_AGENT", "true")
        .args(["exec", "inner", "--", "echo via-jump"])
        .run()
        .ok();
    assert!(
        out.stdout.contains("---- inner (1 host): ok\nvia-jump\n"),
        "{}",
        out.stdout
    );
    let log = bastion.log();
    assert!(
        log.contains(&format!("{}", target.ip())) && log.contains("direct-tcpip"),
        "bastion log shows no forwarding to {target}:\n{log}"
    );
}

#[test]
fn out_dir_and_output_cap() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fleet::new(29, 2);
    let dir = f.scratch.path().join("out");
    // A symlink planted where a host's output goes must not be followed: the file it points
    // to stays as it was.
    std::fs::create_dir(&dir).expect("mkdir");
    let victim = f.scratch.write("victim", "precious\n");
    std::os::unix::fs::symlink(&victim, dir.join("node001.out")).expect("symlink");
    let out = f
        .bg()
        .args(["exec", "all", "--max-output", "1KiB", "--out-dir"])
        .arg(&dir)
        .args(["--", "head -c 100000 /dev/zero | tr '\\0' a; echo done >&2"])
        .run()
        .ok();
    assert!(
        out.stdout
            .contains("[output truncated: 1024 of 100000 bytes kept"),
        "{}",
        out.stdout
    );
    let kept = std::fs::read(dir.join("node001.out")).expect("node001.out");
    assert_eq!(kept.len(), 1024);
    assert_eq!(
        std::fs::read_to_string(dir.join("node002.err")).expect("err"),
        "done\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("node002.status")).expect("status"),
        "ok\n"
    );
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "precious\n",
        "node output was written through a symlink"
    );
    for name in ["node001.out", "node001.err", "node002.status"] {
        let meta = std::fs::symlink_metadata(dir.join(name)).expect("meta");
        assert!(meta.file_type().is_file(), "{name}");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
    }
}

#[test]
fn five_hundred_hosts_each_answer_exactly_once() {
    let f = Fleet::new(30, 520);
    let out = f
        .bg()
        .args([
            "--output",
            "json",
            "exec",
            "all",
            // Every host at once: the documented ceiling of 1024 in flight must work.
            "--concurrency",
            "1024",
            // Coverage, not speed: on a loaded 2-core machine 520 sshd logins can queue for
            // seconds; a generous deadline keeps the test about "every host exactly once".
            "--connect-timeout",
            "60s",
            "--",
            "true",
        ])
        .run();
    let ev = events(&out.stdout);
    let rs = results(&ev);
    let mut names: Vec<&str> = rs.iter().map(|r| r.target.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 520, "distinct hosts reported");
    assert_eq!(rs.len(), 520, "results");
    let bad: Vec<_> = rs
        .iter()
        .filter(|r| r.outcome != "ok")
        .map(|r| (&r.target, &r.outcome, &r.reason))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(out.code, 0);
    // The servers saw each address exactly once.
    let log = f.sshd.log();
    for addr in f.sshd.addrs() {
        let needle = format!(" on {addr} port {}", f.sshd.port());
        let n = log.matches(&needle).count();
        assert_eq!(n, 1, "{addr} was connected {n} times");
    }
}

/// `exec` on every host of `f`, two at a time, each for a second; once `answered` hosts have
/// answered, `signals` are sent. Checks that the run stopped as the first Ctrl-C stops it: exit
/// 130, hosts in flight finished, the rest never started, the journal verifies. Returns the events.
fn interrupted_exec(f: &Fleet, hosts: usize, answered: usize, signals: &[&str]) -> Vec<Event> {
    let mut live = f
        .bg()
        .args([
            "--output",
            "json",
            "exec",
            "all",
            "--concurrency",
            "2",
            "--",
            "sleep 1; echo finished",
        ])
        .spawn();
    for _ in 0..answered {
        live.wait_for(Duration::from_secs(60), |line: &str| {
            line.contains("\"target_result\"")
        });
    }
    for signal in signals {
        live.signal(signal);
    }
    let out = live.finish();
    assert_eq!(out.code, 130, "{signals:?}: {}", out.stderr);
    let ev = events(&out.stdout);
    let Some(Event::Summary(s)) = ev.last() else {
        panic!("{signals:?}: no summary: {}", out.stdout)
    };
    assert!(
        s.interrupted && s.not_started > 0 && s.ok >= answered,
        "{signals:?}: {s:?}"
    );
    assert_eq!(s.ok + s.not_started, hosts, "{signals:?}: {s:?}");
    f.scratch
        .bg()
        .args(["journal", "verify", run_id(&ev)])
        .run()
        .ok();
    ev
}

fn run_id(events: &[Event]) -> &str {
    let Some(Event::RunBegin(b)) = events.first() else {
        panic!("no run_begin")
    };
    &b.run_id
}

fn has_notice(events: &[Event], text: &str) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::Notice { message } if message.contains(text)))
}

#[test]
fn first_ctrl_c_stops_launching_and_reports_second_exits_now() {
    let f = Fleet::new(31, 30);
    let is = |kind: &'static str| {
        move |line: &str| {
            serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v["type"] == kind)
        }
    };
    let minute = Duration::from_secs(60);
    // First Ctrl-C, sent once two hosts have answered: hosts in flight finish, the rest never
    // start; exit 130; the journal verifies.
    let ev = interrupted_exec(&f, 30, 2, &["-INT"]);
    assert!(has_notice(&ev, "Ctrl-C again"), "{ev:?}");

    // Second Ctrl-C: out at once even though hosts are mid-command. `run_begin` is shown after
    // Ctrl-C is caught, and the second press is sent once the first was acknowledged.
    let mut live = f
        .bg()
        .args([
            "--output",
            "json",
            "exec",
            "all",
            "--concurrency",
            "4",
            "--",
            "sleep 20",
        ])
        .spawn();
    let begin = live.wait_for(minute, is("run_begin"));
    std::thread::sleep(Duration::from_secs(1));
    live.signal("-INT");
    live.wait_for(minute, |line: &str| {
        serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| {
            v["type"] == "notice"
                && v["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("Ctrl-C again"))
        })
    });
    let started = Instant::now();
    live.signal("-INT");
    let out = live.finish();
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "second Ctrl-C took {:?}",
        started.elapsed()
    );
    assert_eq!(out.code, 130, "{}", out.stderr);
    let Ok(Event::RunBegin(b)) = serde_json::from_str::<Event>(&begin) else {
        panic!("not run_begin: {begin}")
    };
    f.scratch
        .bg()
        .args(["journal", "verify", &b.run_id])
        .run()
        .ok();
}

/// Issue #11, point 15: SIGTERM and SIGHUP (a dropped bastion session) ended a run mid-wave with
/// no summary and no end record. They now stop it as the first Ctrl-C does: hosts in flight
/// finish, the rest never start, exit 130, the journal ends with `run_end` and verifies.
#[test]
fn sigterm_and_sighup_stop_like_the_first_ctrl_c() {
    let f = Fleet::new(69, 12);
    for signal in ["-TERM", "-HUP"] {
        // A second one changes nothing (a dropped session sends several): hosts in flight finish.
        let ev = interrupted_exec(&f, 12, 1, &[signal, signal]);
        let name = format!("interrupted (SIG{})", &signal[1..]);
        assert!(has_notice(&ev, &name), "{signal}: {ev:?}");
        let records = f
            .scratch
            .bg()
            .args(["--output", "json", "journal", "show", run_id(&ev)])
            .run()
            .ok();
        let last = records.json_lines().pop().expect("records");
        assert_eq!(last["event"]["type"], "run_end", "{signal}: {last}");
        assert_eq!(last["event"]["status"], "interrupted", "{signal}: {last}");
    }
}

#[test]
fn escape_sequences_from_nodes_are_shown_not_interpreted_and_json_is_unchanged() {
    let f = Fleet::new(68, 2);
    // Clear screen, window title, clipboard write (OSC 52) and a carriage return, on stdout
    // and stderr; node002 also fails, so its stderr reaches the folded output.
    let cmd = r"printf 'a\033[2J\033]0;pwned\007\033]52;c;ZXZpbA==\007\rb\n'; printf 'e\033[31m\n' >&2; case $SSH_CONNECTION in *' 127.68.0.2 '*) exit 1;; esac";
    let out = f.bg().args(["exec", "all", "--", cmd]).run().code(1);
    let both = format!("{}{}", out.stdout, out.stderr);
    assert!(
        !both.contains('\u{1b}') && !both.contains('\u{7}'),
        "{both:?}"
    );
    assert!(
        out.stdout
            .contains(r"a\x1b[2J\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\rb"),
        "{}",
        out.stdout
    );
    let out = f
        .bg()
        .args(["--output", "json", "exec", "all", "--", cmd])
        .run()
        .code(1);
    let stdouts: Vec<String> = results(&events(&out.stdout))
        .iter()
        .filter_map(|r| r.stdout.clone())
        .collect();
    assert_eq!(
        stdouts,
        vec!["a\u{1b}[2J\u{1b}]0;pwned\u{7}\u{1b}]52;c;ZXZpbA==\u{7}\rb\n"; 2],
        "JSON must carry the bytes as they were"
    );
}

/// Runs `bg` under python3, which reports the peak RSS (`ru_maxrss`, KiB) of its one child.
fn peak_rss_kib(bg: crate::support::Bg) -> (crate::support::Ran, u64) {
    const SCRIPT: &str = "import resource, subprocess, sys\n\
        code = subprocess.run(sys.argv[1:]).returncode\n\
        sys.stderr.write('maxrss=%d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n\
        sys.exit(code)\n";
    let ran = bg.under("python3", &["-c", SCRIPT]).run();
    let kib = ran
        .stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("maxrss="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no maxrss from python3: {}", ran.stderr));
    (ran, kib)
}

/// Issue #11 point 18: the output kept per host is bounded in memory to about its cap, not
/// held three times over (the capture, its text, the event's copies).
#[test]
fn output_kept_per_host_costs_about_its_cap_in_memory() {
    let f = Fleet::new(33, 1);
    // 100 MB printed, 24 MiB kept.
    let command = "head -c 100000000 /dev/zero | tr '\\0' a";
    let cap_kib = 24 * 1024;
    for output in ["human", "json"] {
        let run = |max: &str| {
            peak_rss_kib(
                f.bg()
                    .args(["--output", output, "exec", "all", "--max-output", max, "--"])
                    .arg(command),
            )
        };
        let (small, baseline) = run("1KiB");
        small.ok();
        let (big, peak) = run("24MiB");
        let big = big.ok();
        assert!(
            big.stdout.len() > 24 * 1024 * 1024,
            "{output}: the output was not kept"
        );
        let extra = peak.saturating_sub(baseline);
        assert!(
            extra < cap_kib * 5 / 4,
            "{output}: keeping {cap_kib} KiB of output cost {extra} KiB over the baseline \
             ({baseline} KiB; peak {peak} KiB)"
        );
    }
}
