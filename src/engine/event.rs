//! The events a run emits: the one machine-readable format of breakglass.
//!
//! With `--output json` every event is printed as one JSON object per line on stdout, and the
//! same events (with output replaced by digests) are appended to the run's journal. Each object
//! has a `type` tag; fields are never removed within a major version, new ones may be added.
//!
//! | `type` | when | fields |
//! | --- | --- | --- |
//! | `run_begin` | first | `run_id`, `version`, `command` (the verb), `argv`, `operator`, `inventory`, `inventory_digest`, `selector` (exec), `targets` (count), `journal` (directory); for `run` also `runbook` (name), `runbook_source` (the full text that ran), `params` (`[[name, value], ...]`) |
//! | `step_begin` | a runbook step starts | `step`, `action`, `description`, `targets`, `waves` (targets per wave) |
//! | `wave_begin` | a wave starts | `step`, `wave` (1-based), `waves`, `targets` (names still to do) |
//! | `snapshot` | journal only, before a target changes | `step`, `target`, `state` (what `undo` restores) |
//! | `target_result` | once per host, as it finishes | `target` (the host's inventory name; `operator` for a step that acts once from the operator's machine, `wait.healthy` or `pause`; the key for `etcd.delete`; `RESOURCE/NAMESPACE/NAME` for an API object), `address` (`ip:port`, or how the target is reached), `outcome` (`ok`, `failed`, `unreachable`, `timed_out`, `auth_failed`, `refused`, `error`; `in_doubt` when `resume` declined to re-run a step that is not idempotent on a target an earlier attempt was cut off changing; `conflict` when the target changed since its snapshot (etcd revision, API preconditions); `throttled` when an API kept answering 429 until the deadline; `pending` reserved for asynchronous cloud operations), `exit_status`, `signal`, `reason`, `nothing_changed` (true on a failure decided before anything changed: `undo` leaves that target alone), `phase` (`connect`/`command` for `timed_out`; for `command`, `reason` says what became of the command on the node: killed, ended, or not confirmed stopped), `expected_host_key`, `presented_host_key`, `recorded_host_key`, `stdout`, `stderr` (UTF-8, invalid bytes replaced), `stdout_bytes`, `stderr_bytes` (what the host sent), `stdout_truncated`, `stderr_truncated`, `connect_ms`, `duration_ms`; runbook steps add `step`, `wave`, `mode` (`apply`/`undo`/`confirm`), `summary`, `detail` (what the action recorded: pod ids, backups, timers); in the journal `stdout`/`stderr` are omitted and `stdout_sha256`/`stderr_sha256` are set |
//! | `wave_end` | a wave ends | `step`, `wave`, `ok`, `failed`, `allowed_failures` |
//! | `gate` | a gate or `wait.healthy` finished | `step`, `passed`, `detail` |
//! | `step_end` | a step ends | `step`, `status` (`completed`, `failed`, `stopped`, `interrupted`, `undone`, `undo_failed`; `skipped` for a `run_if_unreachable` step whose step reached its targets), `ok`, `failed` |
//! | `stopped` | the run stopped on purpose | `step`, `reason` (budget, gate, declined confirmation, pause) |
//! | `notice` | operator-visible happenings (Ctrl-C, confirmations, resume) | `message` |
//! | `summary` | last line of stdout | `total`, `ok`, `failed`, `unreachable`, `timed_out`, `auth_failed`, `refused`, `error`, `in_doubt`, `throttled`, `conflict`, `pending` (these three only when not zero), `not_started`, `interrupted`, `elapsed_ms`, `exit_code` |
//! | `run_end` | journal only, the run's last record; `undo` appends one more each time it acts on the run | `status` (`completed`, `stopped`, `interrupted`; from `undo`: `undone` when every target the run changed that has an inverse is restored, else `partly_undone`), `exit_code` |
//! | `error` | a fatal error before or during the run (json mode, stdout) | `message`, `exit_code` |
//! | `inventory_import` | `inventory import`'s one line (`commands::inventory_import::ImportEvent`) | `provider`, `cluster`, `file` (`-` for stdout), `machines` (listed), `hosts` (written), `control_plane`, `workers`, `node_groups`, `skipped` (`[{node, reason}]`), `dropped_labels` (`[{key, nodes, reason}]`), `notes`, `requests`, `elapsed_ms` |
//! | `inventory_snapshot` | `inventory snapshot`'s one line (`commands::snapshot::SnapshotEvent`) | `cluster`, `file`, `source` (`api`/`file`), `nodes` (read), `hosts` (written), `control_plane`, `workers`, `skipped` (`[{node, reason}]`), `dropped_labels` (`[{key, nodes, reason}]`), `requests` (LIST pages), `elapsed_ms` |

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::outcome::{Mode, Outcome, RunStatus, StepStatus};
use crate::transport::ssh::{self, ExecResult};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    RunBegin(RunBegin),
    StepBegin(StepBegin),
    WaveBegin {
        step: String,
        wave: usize,
        waves: usize,
        targets: Vec<String>,
    },
    /// Journal only: the prior state of one target, recorded before the change.
    Snapshot {
        step: String,
        target: String,
        state: serde_json::Value,
    },
    TargetResult(TargetResult),
    WaveEnd {
        step: String,
        wave: usize,
        ok: usize,
        failed: usize,
        allowed_failures: usize,
    },
    Gate {
        step: String,
        passed: bool,
        detail: String,
    },
    StepEnd {
        step: String,
        status: StepStatus,
        ok: usize,
        failed: usize,
    },
    /// The run stopped on purpose: a failure budget, a gate, or the operator.
    Stopped {
        step: String,
        reason: String,
    },
    Notice {
        message: String,
    },
    Summary(Summary),
    RunEnd {
        status: RunStatus,
        exit_code: u8,
    },
    Error {
        message: String,
        exit_code: u8,
    },
}

/// The start of one runbook step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepBegin {
    pub step: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub targets: usize,
    /// Targets per wave.
    pub waves: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunBegin {
    pub run_id: String,
    pub version: String,
    pub command: String,
    pub argv: Vec<String>,
    pub operator: String,
    pub inventory: String,
    pub inventory_digest: String,
    pub selector: String,
    pub targets: usize,
    pub journal: String,
    /// For `run`: the runbook's name, its full source (so `resume` and `undo` act on exactly
    /// what ran), and the bound parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Vec<(String, String)>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TargetResult {
    /// The runbook step (absent for `exec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// 1-based wave number within the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<usize>,
    /// `apply` or `undo` (absent for `exec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// What the action did, in one line (runbook steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    pub target: String,
    pub address: String,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A failure decided before anything changed on the target (a guard rail, a refusal, an
    /// unreachable host): `undo` has nothing to restore there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nothing_changed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_host_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presented_host_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_host_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_sha256: Option<String>,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ms: Option<f64>,
    pub duration_ms: f64,
    /// What the action recorded about the change (pod ids, backup paths, timers), for the
    /// journal and `--output json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

impl TargetResult {
    /// Builds the event for one host's result, without its output (counted, not copied): see
    /// [`TargetResult::with_output`].
    pub fn from_exec(target: &str, address: &str, r: &ExecResult) -> TargetResult {
        let mut t = TargetResult {
            target: target.to_owned(),
            address: address.to_owned(),
            outcome: r.outcome.kind(),
            stdout_bytes: r.stdout.total,
            stderr_bytes: r.stderr.total,
            stdout_truncated: r.stdout.truncated(),
            stderr_truncated: r.stderr.truncated(),
            connect_ms: r.connect.map(ms),
            duration_ms: ms(r.total),
            recorded_host_key: r.recorded_host_key.clone(),
            ..TargetResult::default()
        };
        match &r.outcome {
            ssh::Outcome::Ok => t.exit_status = Some(0),
            ssh::Outcome::Exit { status, signal } => {
                t.exit_status = Some(*status);
                t.signal.clone_from(signal);
            }
            ssh::Outcome::Unreachable { reason }
            | ssh::Outcome::AuthFailed { reason }
            | ssh::Outcome::Error { reason } => t.reason = Some(reason.clone()),
            ssh::Outcome::TimedOut { phase, stopped } => {
                t.phase = Some(phase.clone());
                t.reason = stopped.as_ref().map(ssh::Stopped::describe);
            }
            ssh::Outcome::HostKeyRefused {
                reason,
                expected,
                presented,
            } => {
                t.reason = Some(reason.clone());
                t.expected_host_key.clone_from(expected);
                t.presented_host_key = Some(presented.clone());
            }
        }
        t
    }

    /// The event with the output kept from the host, moved in rather than copied (it can be as
    /// large as `--max-output`): UTF-8 as is, invalid bytes replaced.
    #[must_use]
    pub fn with_output(mut self, stdout: Vec<u8>, stderr: Vec<u8>) -> TargetResult {
        self.stdout = Some(text(stdout));
        self.stderr = Some(text(stderr));
        self
    }

    /// The journal's copy: output replaced by its SHA-256, so the journal stays small and
    /// never holds what a command printed (which may include secrets).
    #[must_use]
    pub fn for_journal(&self, stdout: &[u8], stderr: &[u8]) -> TargetResult {
        TargetResult {
            stdout: None,
            stderr: None,
            stdout_sha256: Some(hex::encode(Sha256::digest(stdout))),
            stderr_sha256: Some(hex::encode(Sha256::digest(stderr))),
            ..self.clone()
        }
    }
}

/// Bytes from a host as text: without a copy when they are UTF-8.
fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Counts per outcome.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Summary {
    pub total: usize,
    pub ok: usize,
    pub failed: usize,
    pub unreachable: usize,
    pub timed_out: usize,
    pub auth_failed: usize,
    pub refused: usize,
    pub error: usize,
    #[serde(default)]
    pub in_doubt: usize,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub throttled: usize,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub conflict: usize,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pending: usize,
    pub not_started: usize,
    pub interrupted: bool,
    pub elapsed_ms: f64,
    pub exit_code: u8,
}

impl Summary {
    pub fn count(&mut self, outcome: Outcome) {
        *match outcome {
            Outcome::Ok => &mut self.ok,
            Outcome::Failed => &mut self.failed,
            Outcome::Unreachable => &mut self.unreachable,
            Outcome::TimedOut => &mut self.timed_out,
            Outcome::AuthFailed => &mut self.auth_failed,
            Outcome::Refused => &mut self.refused,
            Outcome::Error => &mut self.error,
            Outcome::InDoubt => &mut self.in_doubt,
            Outcome::Throttled => &mut self.throttled,
            Outcome::Conflict => &mut self.conflict,
            Outcome::Pending => &mut self.pending,
        } += 1;
    }

    /// Hosts that finished with anything but ok.
    pub fn bad(&self) -> usize {
        self.failed
            + self.unreachable
            + self.timed_out
            + self.auth_failed
            + self.refused
            + self.error
            + self.in_doubt
            + self.throttled
            + self.conflict
            + self.pending
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &usize) -> bool {
    *n == 0
}

pub fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}
