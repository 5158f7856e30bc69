//! What a drill records: health samples over time, the run's steps as time spans, the three
//! times that matter (detect, first effect, recovery), what breakglass itself cost the far
//! side, and the expectations with their verdicts. `report.rs` renders it; `report.json` is it.

use serde::{Deserialize, Serialize};

/// One health sample (every 250 ms through a drill), at `t_ms` since the drill started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub t_ms: u64,
    /// Every API server answered `/readyz` with 200 within its deadline.
    pub ready: bool,
    /// Latency of the API servers' own requests over the last second (non-health requests,
    /// from their stats), milliseconds; None when there were none.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Fraction of the API servers' answers in the last second that were errors (5xx) or 429.
    pub error_rate: f64,
    /// 429 answers per second over the last second.
    pub throttled_per_s: f64,
    /// Requests in flight on all API servers together at the sample.
    pub inflight: u32,
    /// Pods of the workload running (ready) across the fleet.
    pub agent_pods: u32,
    /// Nodes whose kubelet holds a live watch on an API server.
    pub nodes_connected: u32,
    /// Lab nodes running (not stopped by a node-group shrink); None outside a lab.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes_running: Option<u32>,
}

/// One step of the run as a span on the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepSpan {
    pub id: String,
    pub action: String,
    pub start_ms: u64,
    /// None when the run ended before the step did.
    pub end_ms: Option<u64>,
    /// `completed`, `failed`, `skipped`, ...: the step's end status.
    pub status: String,
    /// Target outcomes: `ok`, `failed`, `unreachable`, ... with their counts.
    pub outcomes: std::collections::BTreeMap<String, u64>,
}

/// An expectation (`--expect recovered_within=5m`) and whether it held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expectation {
    pub name: String,
    pub wanted: String,
    pub observed: String,
    pub held: bool,
}

/// A whole drill, as `report.json` holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillRecord {
    pub runbook: String,
    pub run_id: Option<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// `lab` (built on this machine) or the inventory's path.
    pub fleet: String,
    pub workers: usize,
    pub control_planes: usize,
    /// When the incident was detected (readyz failing and p99 over the threshold), ms since
    /// the drill started; the run starts right after.
    pub detect_ms: Option<u64>,
    /// When the run started.
    pub run_start_ms: Option<u64>,
    /// The first effect: the first sample after the run started in which the load fell
    /// (every API server blocked from the nodes: in-flight down and no 429s), ms since start.
    pub first_effect_ms: Option<u64>,
    /// Recovery: readyz passing and p99 under the threshold for the whole recovery window.
    pub recovered_ms: Option<u64>,
    pub latency_threshold_ms: f64,
    pub recovery_window_ms: u64,
    /// Requests breakglass itself sent to the API servers during the run (not the sampler's).
    pub breakglass_api_requests: u64,
    /// SSH logins per node during the run (max over nodes), when counted.
    pub ssh_logins_per_node: Option<u64>,
    pub samples: Vec<Sample>,
    pub steps: Vec<StepSpan>,
    pub expectations: Vec<Expectation>,
    /// `recovered`, `not recovered`, `stopped` ...: one line for people.
    pub verdict: String,
    /// Whether undo restored the fleet as it was (None when no undo ran).
    pub restored: Option<bool>,
}
