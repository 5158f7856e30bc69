//! `breakglass plan`: the plan as `run` would execute it, plus, for steps that act on etcd keys,
//! Kubernetes objects or cloud resources, what each of those holds now, read once through the
//! same reach `run` uses (read-only: the action's own snapshot, never its change), and what the
//! preflight of a cloud firewall step says (`run` refuses to start on a refusal, and `plan`
//! exits 2). Hosts are not contacted.

use std::sync::Arc;
use std::time::Duration;

use crate::actions::context::{FleetReach, NoOperator, StepContext, TargetKind};
use crate::cancel::Cancel;
use crate::cli::{PlanCommandArgs, SshArgs};
use crate::engine::plan::Plan;
use crate::error::Exit;
use crate::inventory::Inventory;
use crate::settings::Settings;

/// How long `plan` waits for all its reads together: an API or etcd that does not answer must
/// not hold the plan up (the run itself has its own deadlines).
const READ_DEADLINE: Duration = Duration::from_secs(10);
/// At most this many objects are read per step; the rest are planned without a look.
const MAX_READS_PER_STEP: usize = 20;

pub async fn plan(settings: &Settings, args: &PlanCommandArgs) -> anyhow::Result<Exit> {
    let (_, mut plan, inventory) = super::run::prepare(settings, &args.plan, "plan")?;
    if !args.offline {
        read_now(settings, &mut plan, &inventory, false).await?;
    }
    super::run::print_plan(settings, &plan)?;
    // `run` would refuse to start: say so in the exit code too.
    Ok(if refusals(&plan).is_empty() {
        Exit::Success
    } else {
        Exit::Usage
    })
}

/// Every preflight refusal of the plan, as `step STEP, TARGET: why`.
pub(super) fn refusals(plan: &Plan) -> Vec<String> {
    plan.preflight
        .iter()
        .flat_map(|((step, target), p)| {
            p.refusals
                .iter()
                .map(move |r| format!("step {step}, {target}: {r}"))
        })
        .collect()
}

/// Fills `plan.now` (and `plan.preflight`) for every object target (up to
/// [`MAX_READS_PER_STEP`] a step); with `only_preflight`, only for the steps that have a
/// preflight (what `run` checks before it starts).
pub(super) async fn read_now(
    settings: &Settings,
    plan: &mut Plan,
    inventory: &Inventory,
    only_preflight: bool,
) -> anyhow::Result<()> {
    let reads: Vec<_> = plan
        .steps
        .iter()
        .filter(|s| s.action.runs_on() == TargetKind::Objects)
        .filter(|s| !only_preflight || s.action.has_preflight())
        .flat_map(|s| {
            s.targets()
                .take(MAX_READS_PER_STEP)
                .map(|t| (s.step.id.clone(), Arc::clone(&s.action), t.clone()))
        })
        .collect();
    if reads.is_empty() {
        return Ok(());
    }
    let ssh = settings.ssh(&SshArgs::default(), inventory)?;
    let limiter = ssh.limiter(crate::settings::DEFAULT_CHANGE_RATE);
    let reach = Arc::new(FleetReach::new(
        Arc::new(ssh.options),
        limiter,
        inventory.clusters.clone(),
        Arc::new(crate::transport::RateLimiter::new(
            crate::settings::DEFAULT_API_RATE,
        )),
    ));
    let mut tasks = Vec::new();
    for (step, action, target) in reads {
        let reach = Arc::clone(&reach);
        let key = (step.clone(), target.name().to_owned());
        tasks.push((
            key,
            tokio::task::spawn_blocking(move || {
                let cancel = Cancel::new();
                let notice = |_: &str| {};
                let mut cx = StepContext::new(
                    &target,
                    &step,
                    reach.as_ref(),
                    Some(READ_DEADLINE),
                    &cancel,
                    &NoOperator,
                    true,
                    &notice,
                );
                match action.snapshot(&mut cx) {
                    Ok(snapshot) => (
                        action.describe_now(&snapshot),
                        action.has_preflight().then(|| action.preflight(&snapshot)),
                    ),
                    Err(e) => (
                        Some(format!(
                            "could not read it ({}): {}",
                            e.outcome.label(),
                            e.message
                        )),
                        None,
                    ),
                }
            }),
        ));
    }
    let deadline = tokio::time::Instant::now() + READ_DEADLINE;
    for (key, task) in tasks {
        let line = match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok((line, preflight))) => {
                if let Some(p) = preflight {
                    plan.preflight.insert(key.clone(), p);
                }
                match line {
                    Some(line) => line,
                    None => continue,
                }
            }
            Ok(Err(e)) => format!("could not read it: {e}"),
            Err(_) => format!(
                "could not read it within {}s (the run will try with its own deadlines)",
                READ_DEADLINE.as_secs()
            ),
        };
        plan.now.insert(key, line);
    }
    Ok(())
}
