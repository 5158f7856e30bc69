//! A run's steps as spans on a drill's timeline, read back from the run's journal (the record
//! of what happened, rather than the engine's own progress): when each step began and ended,
//! its end status and its targets' outcomes; and the moment the first firewall block was in
//! place everywhere (the drill's "first effect").

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use anyhow::Context as _;
use serde_json::Value;

use super::model::StepSpan;

/// What the journal says about a run, in ms since `t0`.
#[derive(Debug, Default)]
pub struct Timeline {
    pub steps: Vec<StepSpan>,
    /// The end of the run's first `firewall.block` step, when it completed.
    pub first_block_done_ms: Option<u64>,
    /// Targets whose last outcome in `apply` mode was not ok, over every step.
    pub failed_targets: u64,
}

fn ms_since(t0: SystemTime, time: &str) -> Option<u64> {
    let at = humantime::parse_rfc3339_weak(time).ok()?;
    let ms = at.duration_since(t0).ok()?.as_millis();
    u64::try_from(ms).ok()
}

/// Reads `journal.jsonl` (one record a line: `time`, `event` with its `type`).
pub fn read(journal: &Path, t0: SystemTime) -> anyhow::Result<Timeline> {
    let text = std::fs::read_to_string(journal)
        .with_context(|| format!("reading the run's journal {}", journal.display()))?;
    let mut t = Timeline::default();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut last_outcome: BTreeMap<(String, String), String> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(record) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(at) = record["time"].as_str().and_then(|s| ms_since(t0, s)) else {
            continue;
        };
        let e = &record["event"];
        let step = e["step"].as_str().unwrap_or_default().to_owned();
        let span = |t: &mut Timeline, index: &mut BTreeMap<String, usize>| -> usize {
            *index.entry(step.clone()).or_insert_with(|| {
                t.steps.push(StepSpan {
                    id: step.clone(),
                    action: e["action"].as_str().unwrap_or_default().to_owned(),
                    start_ms: at,
                    end_ms: None,
                    status: "running".to_owned(),
                    outcomes: BTreeMap::new(),
                });
                t.steps.len() - 1
            })
        };
        match e["type"].as_str() {
            Some("step_begin") => {
                span(&mut t, &mut index);
            }
            Some("target_result") if e["mode"] == "apply" => {
                let i = span(&mut t, &mut index);
                let outcome = e["outcome"].as_str().unwrap_or("?").to_owned();
                *t.steps[i].outcomes.entry(outcome.clone()).or_default() += 1;
                let target = e["target"].as_str().unwrap_or_default().to_owned();
                last_outcome.insert((step.clone(), target), outcome);
            }
            Some("step_end") => {
                let i = span(&mut t, &mut index);
                let s = &mut t.steps[i];
                s.end_ms = Some(at);
                e["status"]
                    .as_str()
                    .unwrap_or("?")
                    .clone_into(&mut s.status);
                if s.action == "firewall.block"
                    && s.status == "completed"
                    && t.first_block_done_ms.is_none()
                {
                    t.first_block_done_ms = Some(at);
                }
            }
            _ => {}
        }
    }
    t.failed_targets = last_outcome.values().filter(|o| *o != "ok").count() as u64;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn spans_outcomes_and_the_first_block_come_from_the_journal() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("journal.jsonl");
        let t0 = humantime::parse_rfc3339("2026-12-07T03:00:00Z").expect("t0");
        let line = |s: f64, event: &str| {
            format!(
                "{{\"time\":\"{}\",\"event\":{event}}}\n",
                humantime::format_rfc3339_millis(t0 + Duration::from_secs_f64(s))
            )
        };
        let text = [
            line(1.0, r#"{"type":"step_begin","step":"block","action":"firewall.block"}"#),
            line(1.5, r#"{"type":"target_result","step":"block","mode":"apply","target":"cp1","outcome":"ok"}"#),
            line(2.0, r#"{"type":"step_end","step":"block","status":"completed"}"#),
            line(2.5, r#"{"type":"step_begin","step":"kill","action":"workload.kill"}"#),
            line(3.0, r#"{"type":"target_result","step":"kill","mode":"apply","target":"w1","outcome":"failed"}"#),
            line(3.2, r#"{"type":"target_result","step":"kill","mode":"apply","target":"w2","outcome":"ok"}"#),
            line(4.0, r#"{"type":"step_end","step":"kill","status":"failed"}"#),
            line(4.5, r#"{"type":"step_end","step":"fallback","status":"skipped"}"#),
            "not json\n".to_owned(),
        ]
        .concat();
        std::fs::write(&path, text).expect("write");
        let t = read(&path, t0).expect("read");
        assert_eq!(t.first_block_done_ms, Some(2000));
        assert_eq!(t.failed_targets, 1);
        let ids: Vec<(&str, u64, Option<u64>, &str)> = t
            .steps
            .iter()
            .map(|s| (s.id.as_str(), s.start_ms, s.end_ms, s.status.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("block", 1000, Some(2000), "completed"),
                ("kill", 2500, Some(4000), "failed"),
                ("fallback", 4500, Some(4500), "skipped"),
            ]
        );
        assert_eq!(t.steps[1].outcomes.get("failed"), Some(&1));
    }
}
