//! The facts a report states, as plain text, shared by `report.md` and `report.html` so that
//! the two say the same thing in the same words. Nothing here is escaped: each renderer escapes
//! for its own format (`text.rs`).

use super::text::{format_secs, secs};
use crate::drill::model::{DrillRecord, StepSpan};

/// What a moment that never came reads as.
pub const NOT_REACHED: &str = "not reached";

/// How a verdict or a row should strike the reader: the HTML colours it, Markdown does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Bad,
    Neutral,
}

impl Tone {
    /// The CSS class the HTML gives it.
    pub fn class(self) -> &'static str {
        match self {
            Tone::Good => "good",
            Tone::Bad => "bad",
            Tone::Neutral => "neutral",
        }
    }
}

/// A table: its column heads, its rows, and what to say instead when it has none.
pub struct Table {
    pub head: Vec<&'static str>,
    pub rows: Vec<Row>,
    pub empty: &'static str,
}

pub struct Row {
    pub cells: Vec<String>,
    pub tone: Tone,
}

/// One of the three times a drill measures.
pub struct Moment {
    pub name: &'static str,
    pub at_ms: Option<u64>,
    /// Read first from the run's start (the goals in issue 10 are), else from the drill's:
    /// detection comes before the run, so it counts from the drill's start.
    pub from_run_first: bool,
}

impl Moment {
    pub fn since_drill(&self) -> String {
        self.at_ms
            .map_or_else(|| NOT_REACHED.to_owned(), |ms| format_secs(secs(ms)))
    }

    /// Negative for detection, which happens just before the run starts.
    pub fn since_run(&self, record: &DrillRecord) -> String {
        match (self.at_ms, record.run_start_ms) {
            (None, _) => NOT_REACHED.to_owned(),
            (Some(_), None) => "no run".to_owned(),
            (Some(at), Some(run)) => format_secs(secs(at) - secs(run)),
        }
    }

    /// The number to show big, the origin it counts from, and the same moment read from the
    /// other origin (`14.3 s from the drill's start`).
    pub fn headline(&self, record: &DrillRecord) -> (String, &'static str, String) {
        if self.from_run_first && record.run_start_ms.is_some() {
            let other = format!("{} from the drill's start", self.since_drill());
            (self.since_run(record), "from the run's start", other)
        } else {
            let other = format!("{} from the run's start", self.since_run(record));
            (self.since_drill(), "from the drill's start", other)
        }
    }
}

/// Detect, first effect, recovery, in that order.
pub fn moments(record: &DrillRecord) -> [Moment; 3] {
    [
        Moment {
            name: "time to detect",
            at_ms: record.detect_ms,
            from_run_first: false,
        },
        Moment {
            name: "time to first effect",
            at_ms: record.first_effect_ms,
            from_run_first: true,
        },
        Moment {
            name: "time to recovery",
            at_ms: record.recovered_ms,
            from_run_first: true,
        },
    ]
}

/// One line naming the drill: runbook, fleet, start, verdict.
pub fn title(record: &DrillRecord) -> String {
    format!(
        "Drill {} on {}, {}: {}",
        record.runbook, record.fleet, record.started_at, record.verdict
    )
}

/// What the header shows in coloured badges: the verdict (green when it says the fleet
/// recovered, red when it says it did not or stopped, amber otherwise), then whether the
/// expectations held and whether undo restored the fleet, when there were any and it ran.
pub fn badges(record: &DrillRecord) -> Vec<(String, Tone)> {
    let verdict = record.verdict.to_lowercase();
    let tone = if verdict.starts_with("not") || verdict.contains("fail") || verdict.contains("stop")
    {
        Tone::Bad
    } else if verdict.starts_with("recovered") {
        Tone::Good
    } else {
        Tone::Neutral
    };
    let mut badges = vec![(record.verdict.clone(), tone)];
    let total = record.expectations.len();
    let failed = record.expectations.iter().filter(|e| !e.held).count();
    if failed > 0 {
        badges.push((
            format!("{failed} of {total} expectations failed"),
            Tone::Bad,
        ));
    } else if total > 0 {
        badges.push((format!("all {total} expectations held"), Tone::Good));
    }
    match record.restored {
        Some(true) => badges.push(("undo restored the fleet".to_owned(), Tone::Good)),
        Some(false) => badges.push(("undo did NOT restore the fleet".to_owned(), Tone::Bad)),
        None => {}
    }
    badges
}

/// The drill's setting, as label and value.
pub fn about(record: &DrillRecord) -> Vec<(&'static str, String)> {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    vec![
        (
            "fleet",
            format!(
                "{} ({}, {})",
                record.fleet,
                plural(record.workers, "worker", "workers"),
                plural(record.control_planes, "control plane", "control planes")
            ),
        ),
        ("started at", record.started_at.clone()),
        (
            "run",
            match (&record.run_id, record.run_start_ms) {
                (_, None) => "never started".to_owned(),
                (id, Some(ms)) => format!(
                    "{}started {} into the drill",
                    id.as_ref().map(|id| format!("{id}, ")).unwrap_or_default(),
                    format_secs(secs(ms))
                ),
            },
        ),
        (
            "recovered means",
            format!(
                "readyz passing and p99 under {} ms for {}",
                record.latency_threshold_ms,
                format_secs(secs(record.recovery_window_ms))
            ),
        ),
        (
            "undo",
            match record.restored {
                Some(true) => "restored the fleet as it was".to_owned(),
                Some(false) => "did NOT restore the fleet as it was".to_owned(),
                None => "did not run".to_owned(),
            },
        ),
        ("verdict", record.verdict.clone()),
    ]
}

/// What breakglass itself cost the far side during the run.
pub fn cost(record: &DrillRecord) -> Vec<(&'static str, String)> {
    vec![
        (
            "API requests sent by breakglass",
            record.breakglass_api_requests.to_string(),
        ),
        (
            "SSH logins per node (most on any node)",
            record
                .ssh_logins_per_node
                .map_or_else(|| "not counted".to_owned(), |n| n.to_string()),
        ),
    ]
}

pub fn expectations(record: &DrillRecord) -> Table {
    Table {
        head: vec!["expectation", "wanted", "observed", "held"],
        rows: record
            .expectations
            .iter()
            .map(|e| Row {
                cells: vec![
                    e.name.clone(),
                    e.wanted.clone(),
                    e.observed.clone(),
                    if e.held { "✓" } else { "✗" }.to_owned(),
                ],
                tone: if e.held { Tone::Good } else { Tone::Bad },
            })
            .collect(),
        empty: "No expectations were set.",
    }
}

pub fn steps(record: &DrillRecord) -> Table {
    let (origin, head) = match record.run_start_ms {
        Some(run) => (run, "start (from the run's start)"),
        None => (0, "start (from the drill's start)"),
    };
    Table {
        head: vec!["step", "action", head, "duration", "status", "outcomes"],
        rows: record
            .steps
            .iter()
            .map(|step| Row {
                cells: vec![
                    step.id.clone(),
                    step.action.clone(),
                    format_secs(secs(step.start_ms) - secs(origin)),
                    step.end_ms.map_or_else(
                        || "did not end".to_owned(),
                        |end| format_secs(secs(end.saturating_sub(step.start_ms))),
                    ),
                    step.status.clone(),
                    outcome_counts(step),
                ],
                tone: step_tone(step),
            })
            .collect(),
        empty: "No steps ran.",
    }
}

/// `ok 20, failed 1`: the outcomes that happened, in the record's order.
pub fn outcome_counts(step: &StepSpan) -> String {
    let counts: Vec<String> = step
        .outcomes
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(outcome, n)| format!("{outcome} {n}"))
        .collect();
    if counts.is_empty() {
        "none".to_owned()
    } else {
        counts.join(", ")
    }
}

/// Red when the step did not complete or a target ended in anything but `ok` (or is still
/// `pending`); green when it completed (or was undone) with every target `ok`.
pub fn step_tone(step: &StepSpan) -> Tone {
    let target_trouble = step
        .outcomes
        .iter()
        .any(|(outcome, n)| *n > 0 && outcome != "ok" && outcome != "pending");
    match step.status.as_str() {
        "failed" | "stopped" | "interrupted" | "undo_failed" => Tone::Bad,
        _ if target_trouble => Tone::Bad,
        "completed" | "undone" => Tone::Good,
        _ => Tone::Neutral,
    }
}
