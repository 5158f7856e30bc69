//! [`StepFiles`]: the names one step's node-side state goes by (`/run/breakglass/RUN/STEP.*`
//! and the `breakglass-deadman-RUN-STEP` unit), validated once so that every script can use
//! them. It names things; it must not read or change anything on a node.

use super::STATE_ROOT;
use crate::actions::contract::ActionFailure;
use crate::actions::script::Inputs;

/// The names a run's node-side state uses, validated and shell-quoted once.
#[derive(Debug, Clone)]
pub struct StepFiles {
    pub run_id: String,
    pub step_id: String,
    /// `/run/breakglass/RUN`.
    pub dir: String,
    /// `breakglass-deadman-RUN-STEP` (systemd unit name, without `.timer`).
    pub unit: String,
}

impl StepFiles {
    /// Run and step ids become file and unit names on the node, so only `[A-Za-z0-9._-]`
    /// (they always are: `new_run_id` and the runbook validator make them so).
    pub fn new(run_id: &str, step_id: &str) -> anyhow::Result<StepFiles> {
        for (what, id) in [("run id", run_id), ("step id", step_id)] {
            let ok = !id.is_empty()
                && !id.starts_with('.')
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !ok {
                anyhow::bail!(
                    "{what} `{id}` cannot name node-side state (letters, digits, `.`, `_`, `-`)"
                );
            }
        }
        Ok(StepFiles {
            run_id: run_id.to_owned(),
            step_id: step_id.to_owned(),
            dir: format!("{STATE_ROOT}/{run_id}"),
            unit: format!("breakglass-deadman-{run_id}-{step_id}"),
        })
    }

    /// `/run/breakglass/RUN/STEP`: the stem of the step's files, and its owner marker name.
    pub(super) fn base(&self) -> String {
        format!("{}/{}", self.dir, self.step_id)
    }

    /// The scripts' inputs `dir`, `step` and `unit`.
    pub(super) fn vars(&self) -> Result<Inputs, ActionFailure> {
        let mut inputs = Inputs::new();
        inputs
            .var("dir", &self.dir)?
            .var("step", &self.step_id)?
            .var("unit", &self.unit)?;
        Ok(inputs)
    }
}

/// `/run/breakglass/RUN/STEP` with ids [`StepFiles::new`] accepts (a node's listing is only
/// used in a script when it has this shape).
pub(super) fn is_state_base(base: &str) -> bool {
    base.strip_prefix(STATE_ROOT)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(run, step)| StepFiles::new(run, step).is_ok() && !step.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_cannot_name_files_are_refused() {
        assert!(StepFiles::new("run/../x", "s").is_err());
    }
}
