//! The plan as the operator reads it (`plan`, `--dry-run`, and before a run): steps, waves and
//! what changes where, identical descriptions folded under a host set; and its JSON form
//! (`plan --output json`). Reads a built plan; builds nothing and touches nothing.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::actions::context::{OPERATOR, Target, TargetKind};
use crate::actions::contract::Preflight;
use crate::engine::plan::Plan;
use crate::inventory::hostset;

/// The plan as the operator reads it: steps, waves, and what changes where (identical
/// descriptions folded under a host set).
pub fn render(plan: &Plan) -> String {
    let mut out = format!(
        "Plan for runbook {} ({} step{}):\n",
        plan.runbook.name,
        plan.steps.len(),
        if plan.steps.len() == 1 { "" } else { "s" }
    );
    for (i, s) in plan.steps.iter().enumerate() {
        let st = &s.step;
        out.push_str(&format!(
            "\n{}. {} [{}]{}\n",
            i + 1,
            st.id,
            st.action.kind(),
            if st.confirm {
                "  (asks for confirmation)"
            } else {
                ""
            }
        ));
        if let Some(d) = &st.description {
            for line in d.trim().lines() {
                out.push_str(&format!("   {}\n", line.trim()));
            }
        }
        if let Some(first) = &st.run_if_unreachable {
            out.push_str(&format!(
                "   runs only if step {first} could not reach its targets; skipped otherwise\n"
            ));
        }
        match s.action.runs_on() {
            TargetKind::Hosts | TargetKind::Objects => {
                let action = &s.action;
                out.push_str(&format!(
                    "   {} target{} in {} wave{}; concurrency {}; failure budget {} per wave; on failure: {}\n",
                    s.target_count(),
                    if s.target_count() == 1 { "" } else { "s" },
                    s.waves.len(),
                    if s.waves.len() == 1 { "" } else { "s" },
                    st.concurrency.map_or_else(|| "--concurrency".to_owned(), |c| c.to_string()),
                    st.failure_budget,
                    st.on_failure.name(),
                ));
                for (w, wave) in s.waves.iter().enumerate() {
                    let label = if w == 0 && s.waves.len() > 1 {
                        " (canary)"
                    } else {
                        ""
                    };
                    out.push_str(&format!(
                        "   wave {}{label}: {}\n",
                        w + 1,
                        hostset::fold(wave.iter().map(Target::name))
                    ));
                    let mut by_line: BTreeMap<String, Vec<&str>> = BTreeMap::new();
                    for t in wave {
                        by_line
                            .entry(action.plan(t.name()))
                            .or_default()
                            .push(t.name());
                    }
                    for (line, names) in by_line {
                        out.push_str(&format!("     {}: {line}\n", hostset::fold(names)));
                    }
                    for t in wave {
                        let key = (st.id.clone(), t.name().to_owned());
                        if let Some(now) = plan.now.get(&key) {
                            out.push_str(&format!("     now {}: {now}\n", t.name()));
                        }
                        if let Some(p) = plan.preflight.get(&key) {
                            for r in &p.refusals {
                                out.push_str(&format!("     REFUSED {}: {r}\n", t.name()));
                            }
                            for n in &p.notes {
                                out.push_str(&format!("     note {}: {n}\n", t.name()));
                            }
                        }
                    }
                }
            }
            TargetKind::Operator => out.push_str(&format!("   {}\n", s.action.plan(OPERATOR))),
        }
        if let (Some(g), Some(ga)) = (&st.gate, &s.gate_action) {
            out.push_str(&format!(
                "   gate after each wave (within {}): {}{}\n",
                humantime::format_duration(g.timeout),
                ga.plan("each target"),
                s.gate_targets
                    .as_ref()
                    .filter(|_| ga.runs_on() == TargetKind::Hosts)
                    .map_or_else(String::new, |t| format!(
                        " on {}",
                        hostset::fold(t.iter().map(Target::name))
                    )),
            ));
        }
    }
    if !plan.skipped.is_empty() {
        out.push_str("\nSkipped (skip_if_none: the inventory names nothing for them):\n");
        for s in &plan.skipped {
            out.push_str(&format!("   {}: {}\n", s.id, s.reason));
        }
    }
    out
}

/// The plan as JSON (`plan --output json`).
#[derive(Serialize)]
pub struct PlanView {
    #[serde(rename = "type")]
    kind: &'static str,
    runbook: String,
    params: Vec<(String, String)>,
    steps: Vec<StepView>,
    /// Steps left out (`skip_if_none`): id and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    skipped: Vec<(String, String)>,
}

#[derive(Serialize)]
struct StepView {
    id: String,
    action: String,
    description: Option<String>,
    confirm: bool,
    waves: Vec<Vec<String>>,
    /// target -> what would change
    changes: BTreeMap<String, String>,
    /// target -> what it holds now (objects `plan` read; absent with `--offline`)
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    now: BTreeMap<String, String>,
    /// target -> what its preflight found (`refusals`, `notes`; cloud firewall steps)
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    preflight: BTreeMap<String, Preflight>,
    detail: Option<String>,
}

pub fn view(plan: &Plan) -> PlanView {
    PlanView {
        kind: "plan",
        runbook: plan.runbook.name.clone(),
        params: plan.runbook.params.to_pairs(),
        steps: plan
            .steps
            .iter()
            .map(|s| StepView {
                id: s.step.id.clone(),
                action: s.step.action.kind().name().to_owned(),
                description: s.step.description.clone(),
                confirm: s.step.confirm,
                waves: s
                    .waves
                    .iter()
                    .map(|w| w.iter().map(|t| t.name().to_owned()).collect())
                    .collect(),
                changes: match s.action.runs_on() {
                    TargetKind::Hosts | TargetKind::Objects => s
                        .targets()
                        .map(|t| (t.name().to_owned(), s.action.plan(t.name())))
                        .collect(),
                    TargetKind::Operator => BTreeMap::new(),
                },
                now: plan
                    .now
                    .iter()
                    .filter(|((step, _), _)| *step == s.step.id)
                    .map(|((_, target), line)| (target.clone(), line.clone()))
                    .collect(),
                preflight: plan
                    .preflight
                    .iter()
                    .filter(|((step, _), _)| *step == s.step.id)
                    .map(|((_, target), p)| (target.clone(), p.clone()))
                    .collect(),
                detail: match s.action.runs_on() {
                    TargetKind::Hosts | TargetKind::Objects => None,
                    TargetKind::Operator => Some(s.action.plan(OPERATOR)),
                },
            })
            .collect(),
        skipped: plan
            .skipped
            .iter()
            .map(|s| (s.id.clone(), s.reason.clone()))
            .collect(),
    }
}
