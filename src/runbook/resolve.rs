//! Resolving a runbook with bound parameters: every `${param}` substituted and every step's
//! arguments typed, giving the engine exactly what it runs and the journal exactly what ran.
//!
//! The runbook was fully checked when it loaded; what can still fail here is a real parameter
//! value that does not fit where it is used (a `string` parameter in a CIDR field, a selector
//! that only parses with its default). Such problems are reported at the line that uses it.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::diagnostic::{Diags, RunbookError};
use super::interpolate::Substituter;
use super::params::{BoundParams, ParamValue, parse_selector};
use super::schema::{FailureBudget, OnFailure, Runbook, Waves};
use super::validate::type_args;
use crate::actions::args::{ActionArgs, duration};

/// How long an `ssh.exec` gate may take to pass when the runbook does not say.
pub const DEFAULT_SSH_GATE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// A runbook ready to plan and run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedRunbook {
    pub name: String,
    pub origin: String,
    /// `sha256:<hex>` of the runbook file.
    pub digest: String,
    pub params: BoundParams,
    /// The value of the `cluster` parameter: what the operator types to confirm.
    pub cluster: Option<String>,
    pub steps: Vec<ResolvedStep>,
}

/// A step with its arguments typed and its selector final.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedStep {
    pub id: String,
    pub description: Option<String>,
    /// The action and its typed arguments (serialized as `action` and `with`).
    #[serde(flatten)]
    pub action: ActionArgs,
    /// The selector with parameters substituted; `None` for `wait.healthy` and `pause`.
    pub targets: Option<String>,
    pub waves: Waves,
    /// `None`: the run's `--concurrency`.
    pub concurrency: Option<usize>,
    pub failure_budget: FailureBudget,
    pub on_failure: OnFailure,
    /// Per target; `None`: the run's command timeout.
    #[serde(with = "duration::option")]
    pub timeout: Option<Duration>,
    pub confirm: bool,
    pub gate: Option<ResolvedGate>,
    /// Run only if this earlier step could not reach its targets; skipped otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_if_unreachable: Option<String>,
    /// Targets never reached are reported, not counted as failures.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_unreachable: bool,
    /// Skipped when the inventory names nothing for it to act on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_if_none: bool,
}

/// A step's gate, typed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedGate {
    #[serde(flatten)]
    pub action: ActionArgs,
    pub description: Option<String>,
    /// For `ssh.exec`: the selector to run it on; `None`: the step's targets done so far.
    pub targets: Option<String>,
    /// The gate fails (the run stops, exit 3) if it has not passed within this.
    #[serde(with = "duration")]
    pub timeout: Duration,
}

/// Substitute `params` (from [`super::bind`] for this runbook) into every step.
pub fn resolve(runbook: &Runbook, params: &BoundParams) -> Result<ResolvedRunbook, RunbookError> {
    let mut d = Diags::new(&runbook.origin);
    let none = BTreeSet::new();
    let mut steps = Vec::new();
    for step in &runbook.steps {
        if let Some(param) = &step.run_if
            && matches!(params.get(param), Some(ParamValue::Bool(false)))
        {
            continue;
        }
        let prefix = format!("step `{}`: ", step.id);
        let targets = step
            .targets
            .as_ref()
            .and_then(|t| selector(t, params, &mut d, step.targets_pos, &prefix));
        let action = type_args(
            step.action,
            step.with.as_ref(),
            step.with_pos,
            params,
            &none,
            &prefix,
            &mut d,
        );
        let gate = step.gate.as_ref().and_then(|g| {
            let prefix = format!("{prefix}gate: ");
            let targets = g
                .targets
                .as_ref()
                .and_then(|t| selector(t, params, &mut d, g.targets_pos, &prefix));
            let action = type_args(
                g.action,
                g.with.as_ref(),
                g.with_pos,
                params,
                &none,
                &prefix,
                &mut d,
            )?;
            let timeout = g.timeout.unwrap_or(match &action {
                ActionArgs::WaitHealthy(w) => w.timeout,
                _ => DEFAULT_SSH_GATE_TIMEOUT,
            });
            Some(ResolvedGate {
                action,
                description: g.description.clone(),
                targets,
                timeout,
            })
        });
        let Some(action) = action else { continue };
        steps.push(ResolvedStep {
            id: step.id.clone(),
            description: step.description.clone(),
            action,
            targets,
            waves: step.waves.clone(),
            concurrency: step.concurrency,
            failure_budget: step.failure_budget,
            on_failure: step.on_failure,
            timeout: step.timeout,
            confirm: step.confirm,
            gate,
            run_if_unreachable: step.run_if_unreachable.clone(),
            ignore_unreachable: step.ignore_unreachable,
            skip_if_none: step.skip_if_none,
        });
    }
    d.finish()?;
    let cluster = match params.get("cluster") {
        Some(ParamValue::String(c) | ParamValue::Cluster(c)) => Some(c.clone()),
        _ => None,
    };
    Ok(ResolvedRunbook {
        name: runbook.name.clone(),
        origin: runbook.origin.clone(),
        digest: runbook.digest.clone(),
        params: params.clone(),
        cluster,
        steps,
    })
}

fn selector(
    template: &str,
    params: &BoundParams,
    d: &mut Diags,
    pos: super::diagnostic::Pos,
    prefix: &str,
) -> Option<String> {
    let mut s = Substituter::new(params);
    let result = s
        .selector(template)
        .and_then(|text| parse_selector(&text).map(|()| text));
    match result {
        Ok(text) => Some(text),
        Err(m) => {
            d.push(pos, format!("{prefix}`targets`: {m}"));
            None
        }
    }
}
