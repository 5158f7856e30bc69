//! The plan: every step of a resolved runbook bound to its targets and split into waves, each
//! action built with its arguments. Building it touches nothing; `output::plan` shows it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::actions;
use crate::actions::args::ActionArgs;
use crate::actions::context::{Target, TargetKind};
use crate::actions::contract::{Action, Preflight};
use crate::error::{Exit, ExitError};
use crate::inventory::{Host, Inventory, Selector};
use crate::runbook::{ResolvedRunbook, ResolvedStep};

/// A runbook ready to execute.
pub struct Plan {
    pub runbook: ResolvedRunbook,
    pub steps: Vec<PlannedStep>,
    /// What `plan` read of the objects the steps name, by (step id, target name): one line
    /// each (`Action::describe_now`, or why it could not be read). Empty unless read.
    pub now: BTreeMap<(String, String), String>,
    /// What each step's preflight found, by (step id, target name), for the steps that have
    /// one (`Action::preflight`). Empty unless read.
    pub preflight: BTreeMap<(String, String), Preflight>,
    /// Steps with `skip_if_none` the inventory gives nothing to act on, in runbook order.
    pub skipped: Vec<SkippedStep>,
}

/// A step left out of the plan: `skip_if_none`, and the inventory names nothing for it.
#[derive(Debug, Clone)]
pub struct SkippedStep {
    pub id: String,
    /// How many planned steps come before it: it is reported right before `steps[before]`.
    pub before: usize,
    pub reason: String,
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
    let hosts = inventory.select(&parsed).map_err(|e| {
        ExitError::new(
            Exit::Usage,
            format!("step {step}: targets \"{selector}\": {e}"),
        )
    })?;
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

/// The clusters of `inventory`: its `[clusters]` and the clusters its hosts name.
fn known_clusters(inventory: &Inventory) -> std::collections::BTreeSet<&str> {
    inventory
        .clusters
        .keys()
        .map(String::as_str)
        .chain(inventory.hosts.iter().filter_map(|h| h.cluster.as_deref()))
        .collect()
}

/// A `cluster` parameter names a cluster of the inventory, and the word a confirmation asks for
/// is one: never empty, never a name the inventory does not know (the operator would confirm
/// a change to a cluster that is not the one the steps reach).
fn check_clusters(runbook: &ResolvedRunbook, inventory: &Inventory) -> anyhow::Result<()> {
    let known = known_clusters(inventory);
    let confirms = runbook.steps.iter().any(|s| s.confirm);
    let mut named: Vec<(&str, &str)> = runbook
        .params
        .iter()
        .filter_map(|(name, v)| match v {
            crate::runbook::ParamValue::Cluster(c) => Some((name, c.as_str())),
            _ => None,
        })
        .collect();
    if confirms && let Some(c) = runbook.cluster.as_deref() {
        named.push(("cluster", c));
    }
    for (param, cluster) in named {
        if cluster.trim().is_empty() {
            return Err(ExitError::new(
                Exit::Usage,
                format!(
                    "parameter `{param}` is empty, and it is the word a confirmation asks for; \
                     pass -p {param}=CLUSTER"
                ),
            )
            .into());
        }
        if !known.contains(cluster) {
            let list = if known.is_empty() {
                "it names none: give its hosts `cluster = \"NAME\"` or add [clusters.NAME]"
                    .to_owned()
            } else {
                format!(
                    "its clusters are {}",
                    known.iter().copied().collect::<Vec<_>>().join(", ")
                )
            };
            return Err(ExitError::new(
                Exit::Usage,
                format!(
                    "parameter `{param}` is `{cluster}`, which is not a cluster of inventory {} \
                     ({list})",
                    inventory.path.display()
                ),
            )
            .into());
        }
    }
    Ok(())
}

/// Binds every step to its hosts and builds its action. `operator_cidrs`: `--operator-cidr`
/// (empty: each cluster's `operator_cidrs` from the inventory).
pub fn build(
    runbook: ResolvedRunbook,
    inventory: &Inventory,
    run_id: &str,
    operator_cidrs: &[ipnet::IpNet],
) -> anyhow::Result<Plan> {
    check_clusters(&runbook, inventory)?;
    let mut steps = Vec::new();
    let mut skipped = Vec::new();
    for step in &runbook.steps {
        let ctx = actions::BuildContext {
            inventory,
            run_id,
            step_id: &step.id,
            cluster: runbook.cluster.as_deref(),
            operator_cidrs,
        };
        let action = match actions::build(&step.action, &ctx) {
            Ok(a) => a,
            Err(e) if step.skip_if_none && e.is::<actions::NothingToActOn>() => {
                skipped.push(SkippedStep {
                    id: step.id.clone(),
                    before: steps.len(),
                    reason: e.to_string(),
                });
                continue;
            }
            Err(e) => {
                return Err(ExitError::new(Exit::Usage, format!("step {}: {e:#}", step.id)).into());
            }
        };
        let in_waves = |targets: Vec<Target>| {
            let mut rest = targets.as_slice();
            let mut waves = Vec::new();
            for size in step.waves.sizes(targets.len()) {
                let (wave, tail) = rest.split_at(size.min(rest.len()));
                waves.push(wave.to_vec());
                rest = tail;
            }
            waves
        };
        let waves = match (action.runs_on(), &step.targets) {
            (TargetKind::Hosts, Some(sel)) => in_waves(
                select(inventory, &step.id, sel)?
                    .into_iter()
                    .map(Target::Host)
                    .collect(),
            ),
            (TargetKind::Operator, _) => vec![vec![Target::Operator]],
            (TargetKind::Objects, _) => in_waves(action.objects()),
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
                    (TargetKind::Objects, _) => Some(gate_action.objects()),
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
    Ok(Plan {
        runbook,
        steps,
        now: BTreeMap::new(),
        preflight: BTreeMap::new(),
        skipped,
    })
}
