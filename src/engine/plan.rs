//! The plan: every step of a resolved runbook bound to its targets and split into waves, with a
//! one-line description of what would change on each target. Building it touches nothing.

use serde::Serialize;
use std::collections::BTreeMap;

use std::sync::Arc;

use crate::actions;
use crate::actions::args::ActionArgs;
use crate::actions::context::{Target, TargetKind};
use crate::actions::contract::Action;
use crate::error::{Exit, ExitError};
use crate::inventory::{Host, Inventory, Selector, hostset};
use crate::runbook::{ResolvedRunbook, ResolvedStep};

/// A runbook ready to execute.
pub struct Plan {
    pub runbook: ResolvedRunbook,
    pub steps: Vec<PlannedStep>,
}

/// One step with its targets in waves.
pub struct PlannedStep {
    pub step: ResolvedStep,
    pub action: Arc<dyn Action>,
    /// Targets per wave, canary first; one wave of the operator's machine for a step that acts
    /// once (`wait.healthy`, `pause`).
    pub waves: Vec<Vec<Target>>,
    /// Where the gate runs when it is not on the targets the step has done so far: its own
    /// selector, or the operator's machine (`wait.healthy`).
    pub gate_targets: Option<Vec<Target>>,
    pub gate_action: Option<Arc<dyn Action>>,
}

impl PlannedStep {
    pub fn targets(&self) -> impl Iterator<Item = &Target> {
        self.waves.iter().flatten()
    }

    /// The step's hosts (none for a step that acts from the operator's machine).
    pub fn hosts(&self) -> impl Iterator<Item = &Host> {
        self.targets().filter_map(Target::host)
    }

    pub fn target_count(&self) -> usize {
        self.waves.iter().map(Vec::len).sum()
    }
}

fn select(inventory: &Inventory, step: &str, selector: &str) -> anyhow::Result<Vec<Host>> {
    let parsed = Selector::parse(selector)
        .map_err(|e| ExitError::new(Exit::Usage, format!("step {step}: {e}")))?;
    let hosts = inventory
        .select(&parsed)
        .map_err(|e| ExitError::new(Exit::Usage, format!("step {step}: {e}")))?;
    if hosts.is_empty() {
        return Err(ExitError::new(
            Exit::Usage,
            format!(
                "step {step}: targets \"{selector}\" match no host in {}",
                inventory.path.display()
            ),
        )
        .into());
    }
    Ok(hosts.into_iter().cloned().collect())
}

/// Binds every step to its hosts and builds its action.
pub fn build(
    runbook: ResolvedRunbook,
    inventory: &Inventory,
    run_id: &str,
) -> anyhow::Result<Plan> {
    let mut steps = Vec::new();
    for step in &runbook.steps {
        let ctx = actions::BuildContext {
            inventory,
            run_id,
            step_id: &step.id,
            cluster: runbook.cluster.as_deref(),
        };
        let action = actions::build(&step.action, &ctx)
            .map_err(|e| ExitError::new(Exit::Usage, format!("step {}: {e:#}", step.id)))?;
        let waves = match (action.runs_on(), &step.targets) {
            (TargetKind::Hosts, Some(sel)) => {
                let hosts = select(inventory, &step.id, sel)?;
                let mut rest = hosts.as_slice();
                let mut waves = Vec::new();
                for size in step.waves.sizes(hosts.len()) {
                    let (wave, tail) = rest.split_at(size.min(rest.len()));
                    waves.push(wave.iter().cloned().map(Target::Host).collect());
                    rest = tail;
                }
                waves
            }
            (TargetKind::Operator, _) => vec![vec![Target::Operator]],
            (TargetKind::Hosts, None) => {
                return Err(ExitError::new(
                    Exit::Usage,
                    format!("step {}: {} needs `targets`", step.id, action.kind()),
                )
                .into());
            }
        };
        let (gate_targets, gate_action) = match &step.gate {
            Some(g) => {
                // A health wait as a gate waits as long as the gate allows.
                let mut args = g.action.clone();
                if let ActionArgs::WaitHealthy(w) = &mut args {
                    w.timeout = g.timeout;
                }
                let gate_action = actions::build(&args, &ctx).map_err(|e| {
                    ExitError::new(Exit::Usage, format!("step {} gate: {e:#}", step.id))
                })?;
                let targets = match (gate_action.runs_on(), g.targets.as_deref()) {
                    (TargetKind::Operator, _) => Some(vec![Target::Operator]),
                    (TargetKind::Hosts, Some(sel)) => Some(
                        select(inventory, &format!("{} gate", step.id), sel)?
                            .into_iter()
                            .map(Target::Host)
                            .collect(),
                    ),
                    (TargetKind::Hosts, None) => None,
                };
                (targets, Some(gate_action))
            }
            None => (None, None),
        };
        steps.push(PlannedStep {
            step: step.clone(),
            action,
            waves,
            gate_targets,
            gate_action,
        });
    }
    Ok(Plan { runbook, steps })
}

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
        match s.action.runs_on() {
            TargetKind::Hosts => {
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
                }
            }
            TargetKind::Operator => out.push_str(&format!(
                "   {}\n",
                s.action.plan(crate::actions::context::OPERATOR)
            )),
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
                    TargetKind::Hosts => s
                        .targets()
                        .map(|t| (t.name().to_owned(), s.action.plan(t.name())))
                        .collect(),
                    TargetKind::Operator => BTreeMap::new(),
                },
                detail: match s.action.runs_on() {
                    TargetKind::Hosts => None,
                    TargetKind::Operator => Some(s.action.plan(crate::actions::context::OPERATOR)),
                },
            })
            .collect(),
    }
}
