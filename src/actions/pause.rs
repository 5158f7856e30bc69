//! `pause`: wait for the operator to type `continue` (e.g. to look at dashboards before
//! unblocking). Acts once, from the operator's machine; changes nothing.

use serde_json::Value;

use super::args::Pause;
use super::context::{Context, TargetKind};
use super::contract::{Action, ActionFailure, Applied};

pub struct PauseAction {
    pub args: Pause,
}

impl Action for PauseAction {
    fn kind(&self) -> &'static str {
        "pause"
    }

    fn runs_on(&self) -> TargetKind {
        TargetKind::Operator
    }

    fn read_only(&self) -> bool {
        true
    }

    /// Asking twice is not the same as asking once: never retried.
    fn idempotent(&self) -> bool {
        false
    }

    fn plan(&self, _target: &str) -> String {
        format!(
            "pause for the operator: {}{}",
            self.args.message,
            if self.args.skippable {
                " (skipped under --yes)"
            } else {
                " (refused under --yes)"
            }
        )
    }

    fn snapshot(&self, _cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        Ok(Value::Null)
    }

    fn apply(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<Applied, ActionFailure> {
        let go_on = if cx.unattended() {
            self.args.skippable
        } else {
            cx.operator().pause(cx.step(), &self.args.message)
        };
        if go_on {
            Ok(Applied {
                summary: if cx.unattended() {
                    "skipped (--yes)".into()
                } else {
                    "the operator chose to continue".into()
                },
                detail: Value::Null,
            })
        } else {
            Err(ActionFailure::refused(
                "the operator stopped the run at a pause",
            ))
        }
    }

    fn verify(&self, _cx: &mut dyn Context, _snapshot: &Value) -> Result<(), ActionFailure> {
        Ok(())
    }

    fn inverse(&self, _snapshot: &Value) -> Option<Box<dyn Action>> {
        None
    }
}
