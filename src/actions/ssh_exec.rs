//! `ssh.exec`: a command on every target. It records no prior state and has no inverse: a
//! runbook that changes something with `ssh.exec` must undo it with another step.

use serde_json::Value;

use super::args::SshExec;
use super::contract::{Action, ActionFailure, Applied, Context};

pub struct SshExecAction {
    pub args: SshExec,
}

impl Action for SshExecAction {
    fn kind(&self) -> &'static str {
        "ssh.exec"
    }

    fn plan(&self, _target: &str) -> String {
        format!(
            "run `{}`{}",
            self.args.command.trim().replace('\n', "\\n"),
            if self.args.idempotent {
                ""
            } else {
                " (not retried once started)"
            }
        )
    }

    fn idempotent(&self) -> bool {
        self.args.idempotent
    }

    fn snapshot(&self, _cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        Ok(Value::Null)
    }

    fn apply(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<Applied, ActionFailure> {
        let node = cx.shell()?;
        let r = node.run(&self.args.command, None);
        if r.outcome != crate::transport::ssh::Outcome::Ok {
            return Err(ActionFailure::from_result("command", &r));
        }
        let stdout = String::from_utf8_lossy(&r.stdout.bytes);
        let last = stdout.trim_end().lines().last().unwrap_or("").trim();
        Ok(Applied {
            summary: if last.is_empty() {
                "exit 0".into()
            } else {
                last.chars().take(200).collect()
            },
            detail: serde_json::json!({
                "stdout": stdout,
                "stderr": String::from_utf8_lossy(&r.stderr.bytes),
            }),
        })
    }

    fn verify(&self, _cx: &mut dyn Context, _snapshot: &Value) -> Result<(), ActionFailure> {
        Ok(())
    }

    fn inverse(&self, _snapshot: &Value) -> Option<Box<dyn Action>> {
        None
    }
}
