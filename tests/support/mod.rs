//! A small fluent builder around the built binary (after casey/just's `Test`): arguments,
//! environment, stdin, then the exit code and output to assert on.

pub mod fleet;
pub mod http;
pub mod readyz;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_breakglass");

/// A breakglass invocation isolated from the operator's real config, agent and journal.
#[must_use]
pub struct Bg {
    cmd: Command,
    stdin: Option<Vec<u8>>,
}

/// What the process did.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    #[track_caller]
    pub fn code(self, expected: i32) -> Ran {
        assert_eq!(
            self.code, expected,
            "exit code {} (expected {expected})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn ok(self) -> Ran {
        self.code(0)
    }

    #[track_caller]
    pub fn stdout_has(self, needle: &str) -> Ran {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(self, needle: &str) -> Ran {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// stdout parsed as JSON lines.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

/// Parses JSON-lines output into events, failing the test on a line that is not one.
pub fn events(stdout: &str) -> Vec<breakglass::engine::Event> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not an event ({e}): {l}")))
        .collect()
}

/// Polls `check` every 100 ms until it holds or `timeout` passes; true if it held.
pub fn eventually(timeout: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A scratch home for one test: its own HOME, config dir and journal dir.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn journal_dir(&self) -> PathBuf {
        self.path().join("runs")
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    /// A command whose HOME, XDG dirs and journal live in this scratch dir, with no agent.
    pub fn bg(&self) -> Bg {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .env("XDG_STATE_HOME", self.path().join("state"))
            .env("BREAKGLASS_JOURNAL_DIR", self.journal_dir())
            .env("USER", "tester");
        Bg { cmd, stdin: None }
    }

    /// [`Scratch::bg`] with `-i INVENTORY`.
    pub fn bg_with(&self, inventory: impl AsRef<std::ffi::OsStr>) -> Bg {
        self.bg().arg("-i").arg(inventory)
    }
}

impl Bg {
    pub fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Bg {
        self.cmd.arg(a);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Bg
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Bg {
        self.cmd.env(k, v);
        self
    }

    pub fn stdin(mut self, input: &str) -> Bg {
        self.stdin = Some(input.as_bytes().to_vec());
        self
    }

    pub fn command(self) -> Command {
        self.cmd
    }

    /// Starts it in the background, stdout read line by line as it comes (for signals sent
    /// at a known point of a run rather than after a guessed delay).
    pub fn spawn(mut self) -> Live {
        self.cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.cmd.spawn().expect("spawn breakglass");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Live {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    pub fn run(mut self) -> Ran {
        self.cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.cmd.spawn().expect("spawn breakglass");
        if let Some(input) = self.stdin.take() {
            let mut si = child.stdin.take().expect("stdin");
            si.write_all(&input).expect("write stdin");
        }
        let out = child.wait_with_output().expect("wait");
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Bg {
    /// `program` with this invocation's environment (and nothing else from ours).
    fn wrapper(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear();
        for (k, v) in self.cmd.get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        cmd
    }

    /// The same invocation run by `program ARGS... BIN ...` (e.g. inside `unshare`), with the
    /// same environment.
    pub fn under(self, program: &str, args: &[&str]) -> Bg {
        let mut cmd = self.wrapper(program);
        cmd.args(args)
            .arg(self.cmd.get_program())
            .args(self.cmd.get_args());
        Bg {
            cmd,
            stdin: self.stdin,
        }
    }

    /// Runs it with stderr on a pseudo-terminal, as from an operator's shell (`script` from
    /// bsdutils), and stdout into `stdout_file`: `Ran::stderr` is what the terminal showed.
    pub fn run_on_terminal(self, stdout_file: &Path) -> Ran {
        let words: Vec<String> = std::iter::once(self.cmd.get_program())
            .chain(self.cmd.get_args())
            .map(|w| w.to_string_lossy().into_owned())
            .collect();
        let line = format!(
            "{} > {}",
            shlex::try_join(words.iter().map(String::as_str)).expect("quote"),
            shlex::try_quote(&stdout_file.to_string_lossy()).expect("quote")
        );
        let out = self
            .wrapper("script")
            .args(["-q", "-e", "-c", &line, "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .expect("script (bsdutils)");
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(stdout_file).unwrap_or_default(),
            stderr: String::from_utf8_lossy(&out.stdout).into_owned(),
        }
    }
}

/// A breakglass process running in the background (`Bg::spawn`).
pub struct Live {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Live {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`-INT`, `-TERM`) to the process with `kill`.
    #[track_caller]
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill {signal} {}", self.pid());
    }

    /// Waits up to `timeout` for a stdout line `wanted` accepts, after those already seen.
    #[track_caller]
    pub fn wait_for(
        &mut self,
        timeout: std::time::Duration,
        mut wanted: impl FnMut(&str) -> bool,
    ) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(why) => panic!(
                    "no such line ({why}) within {timeout:?}; stdout so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits for the exit; the whole stdout (lines seen plus the rest) and stderr.
    pub fn finish(mut self) -> Ran {
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            std::io::Read::read_to_string(&mut err, &mut stderr).expect("read stderr");
        }
        let status = self.child.wait().expect("wait");
        // The reader thread ends at EOF, after the process (and its children) closed stdout.
        self.seen.extend(self.lines.iter());
        Ran {
            code: status.code().unwrap_or(-1),
            stdout: self.seen.join("\n"),
            stderr,
        }
    }
}

/// A runbook of one step `ID` running `ACTION` with `with` (TOML lines), and a `cluster`
/// parameter defaulting to `cluster`.
pub fn one_step_runbook(
    scratch: &Scratch,
    cluster: &str,
    id: &str,
    action: &str,
    with: &str,
) -> PathBuf {
    scratch.write(
        &format!("{id}.toml"),
        &format!(
            "name = \"{id}-test\"\nsummary = \"{action}\"\n\n[params.cluster]\ntype = \
             \"string\"\ndefault = \"{cluster}\"\nhelp = \"cluster\"\n\n[[steps]]\nid = \"{id}\"\n\
             action = \"{action}\"\n[steps.with]\n{with}\n"
        ),
    )
}

/// The `target_result` events of `mode` (`apply`, `undo`): target, outcome, and summary or
/// reason.
pub fn target_results(events: &[serde_json::Value], mode: &str) -> Vec<(String, String, String)> {
    events
        .iter()
        .filter(|e| e["type"] == "target_result" && e["mode"] == mode)
        .map(|e| {
            let s = |f: &str| e[f].as_str().unwrap_or_default().to_owned();
            (
                s("target"),
                s("outcome"),
                format!("{}{}", s("summary"), s("reason")),
            )
        })
        .collect()
}
