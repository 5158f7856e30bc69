//! `exec`: one command on many hosts over SSH, each result journaled and reported as it lands.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use super::{Event, Run, Summary, TargetResult, fan_out_batched};
use crate::error::Exit;
use crate::inventory::Host;
use crate::outcome::RunStatus;
use crate::transport::RateLimiter;
use crate::transport::ssh::{self, ExecResult, SshOptions, SshTarget};

/// What to run where.
pub struct ExecJob {
    pub hosts: Vec<Host>,
    pub command: String,
    pub concurrency: usize,
    pub options: SshOptions,
    pub out_dir: Option<PathBuf>,
    /// Every new session waits for its slot (`--rate`).
    pub limiter: Arc<RateLimiter>,
}

/// The SSH endpoint of an inventory host (and its jump host).
pub use crate::actions::context::ssh_target;

/// Runs the job and returns the summary (with its exit code). Per-host failures are counted,
/// never returned as errors; an `Err` means the run itself could not continue (journal).
pub async fn run(run: &Run, job: ExecJob) -> anyhow::Result<Summary> {
    let started = Instant::now();
    if let Some(dir) = &job.out_dir {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create --out-dir {}", dir.display()))?;
    }
    let total = job.hosts.len();
    let targets: Vec<SshTarget> = job.hosts.iter().map(ssh_target).collect();
    let options = Arc::new(job.options);
    let command = Arc::new(job.command);
    let out_dir = job.out_dir.map(Arc::new);
    let limiter = job.limiter;
    let mut summary = Summary {
        total,
        ..Summary::default()
    };
    let mut journal_error = None;
    let stats = fan_out_batched(
        targets,
        job.concurrency,
        &run.cancel,
        move |target: SshTarget| {
            limiter.acquire();
            let result = ssh::exec(&target, &options, &command, None);
            let written = out_dir
                .as_deref()
                .map(|dir| write_host_output(dir, &target.name, &result));
            (target, result, written)
        },
        |batch: Vec<(usize, Done)>| {
            // Every result that landed during the previous fsync goes into the next one.
            let events: Vec<(Event, Event)> = batch
                .into_iter()
                .map(|(_, (target, result, written))| {
                    let event = target_event(&target, &result, written);
                    summary.count(event.outcome);
                    let journaled = event.for_journal(&result.stdout.bytes, &result.stderr.bytes);
                    // The output moves into the event: kept once, not copied (issue #11, 18).
                    let event = event.with_output(result.stdout.bytes, result.stderr.bytes);
                    (Event::TargetResult(event), Event::TargetResult(journaled))
                })
                .collect();
            if let Err(e) = run.record_batch(events) {
                journal_error.get_or_insert(e);
            }
        },
    )
    .await;
    summary.not_started = stats.not_started;
    summary.interrupted = run.cancel.is_cancelled();
    summary.elapsed_ms = super::event::ms(started.elapsed());
    if let Some(e) = journal_error {
        return Err(e);
    }
    summary.exit_code = if summary.interrupted {
        Exit::Interrupted.code()
    } else if summary.bad() > 0 {
        Exit::TargetsFailed.code()
    } else {
        Exit::Success.code()
    };
    let status = if summary.interrupted {
        RunStatus::Interrupted
    } else {
        RunStatus::Completed
    };
    run.record(
        &Event::Summary(summary.clone()),
        &Event::Summary(summary.clone()),
    )?;
    let end = Event::RunEnd {
        status,
        exit_code: summary.exit_code,
    };
    run.journal
        .append(&serde_json::to_value(&end)?)
        .context("cannot append the end of the run to the journal")?;
    Ok(summary)
}

/// One host's exec result, and whether its `--out-dir` copy was written.
type Done = (SshTarget, ExecResult, Option<std::io::Result<()>>);

/// The reported result of one host; a failed `--out-dir` copy is noted with it.
fn target_event(
    target: &SshTarget,
    result: &ExecResult,
    written: Option<std::io::Result<()>>,
) -> TargetResult {
    let mut event = TargetResult::from_exec(&target.name, &target.addr.to_string(), result);
    if let Some(Err(e)) = written {
        // The host's result stands; only the copy on disk failed. Say so with the result.
        let note = format!("--out-dir: cannot write output: {e}");
        event.reason = Some(
            event
                .reason
                .map_or(note.clone(), |r| format!("{r}; {note}")),
        );
    }
    event
}

/// `--out-dir`: `HOST.out`, `HOST.err` and `HOST.status` (outcome and detail), like pssh's
/// `-o`/`-e`. Host names come from the inventory and never contain `/` (validated on load), but
/// the name is still reduced to one path component so a hostile inventory cannot escape DIR.
fn write_host_output(dir: &Path, name: &str, result: &ExecResult) -> std::io::Result<()> {
    let safe: String = name
        .chars()
        .map(|c| if c == '/' || c == '\0' { '_' } else { c })
        .collect();
    let safe = if safe == "." || safe == ".." {
        format!("_{safe}")
    } else {
        safe
    };
    write_private(dir, &format!("{safe}.out"), &result.stdout.bytes)?;
    write_private(dir, &format!("{safe}.err"), &result.stderr.bytes)?;
    write_private(
        dir,
        &format!("{safe}.status"),
        format!("{}\n", result.outcome.describe()).as_bytes(),
    )
}

/// Writes `DIR/NAME` as a new 0600 file and renames it into place: a symlink (or a hard link to
/// a file elsewhere) already at `DIR/NAME` is replaced, never written through, and the output
/// of a node (which may hold secrets) is readable by the operator alone.
fn write_private(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = dir.join(format!(".{name}.{:08x}.tmp", fastrand::u32(..)));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| std::fs::rename(&tmp, dir.join(name)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
