//! `workload.kill`: on each node, stop and remove the pod sandboxes of one workload with
//! `crictl`, for when the API server is too loaded to delete the workload itself.
//!
//! Pods are matched by namespace and pod-name prefix and/or label through crictl's own filters
//! (`--namespace` and `--name` are regular expressions there, so both are anchored and the
//! prefix escaped: `monitoring` must not also match `monitoring-canary`). Nothing matching is
//! not an error. There is no inverse: a killed pod comes back only through its controller, and
//! a `DaemonSet` recreates it on its own unless it is deleted through the API.
//!
//! The shell it runs on nodes is `list.sh` (the matching pods, as crictl's JSON) and `kill.sh`
//! (stop and remove the given sandboxes, then list again in the same call), with every value
//! handed over as a quoted input line (`super::script`). One login and four calls per target:
//! the snapshot's list, apply's list, apply's kill-and-relist, and verify's list.

use std::collections::BTreeSet;
use std::fmt::Write as _;

/// The matching pods, as crictl's JSON.
const LIST: &str = include_str!("list.sh");
/// Stop and remove the given sandboxes, then a marker line; `LIST` follows it.
const KILL: &str = include_str!("kill.sh");
/// The line `KILL` prints between crictl's own output and the list after the kill.
const AFTER_KILL: &str = "breakglass: pods after the kill";

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::args::WorkloadKill;
use super::contract::{Action, ActionFailure, Applied, Context, Node};
use super::script::Inputs;
use crate::transport::ssh::Outcome;

/// How many pod names a summary line lists before "and N more".
const NAMES_SHOWN: usize = 5;
/// crictl's state of a running sandbox.
const READY: &str = "SANDBOX_READY";

/// `workload.kill` bound to its arguments.
pub struct WorkloadKillAction {
    pub args: WorkloadKill,
}

/// One matching pod sandbox, as `crictl pods -o json` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRef {
    pub id: String,
    pub name: String,
    pub namespace: String,
    pub state: String,
}

/// `s` as a regular expression matching itself literally (Go RE2 syntax, which crictl uses).
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// "a, b, c and 2 more".
fn names(pods: &[PodRef]) -> String {
    let mut text = pods
        .iter()
        .take(NAMES_SHOWN)
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if pods.len() > NAMES_SHOWN {
        let _ = write!(text, " and {} more", pods.len() - NAMES_SHOWN);
    }
    text
}

/// Parses `crictl pods -o json` (`{"items": [{"id", "metadata": {"name", "namespace"}, "state"}]}`).
pub fn parse_pods(json: &[u8]) -> Result<Vec<PodRef>, String> {
    let value: Value = serde_json::from_slice(json)
        .map_err(|e| format!("crictl printed something that is not JSON ({e})"))?;
    let items = value
        .get("items")
        .and_then(Value::as_array)
        .ok_or("crictl's JSON has no `items` list")?;
    items
        .iter()
        .map(|item| {
            let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
            let id = text(item.get("id")).ok_or("a pod without an `id`")?;
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("`{id}` is not a pod sandbox ID"));
            }
            Ok(PodRef {
                name: text(item.pointer("/metadata/name")).unwrap_or_default(),
                namespace: text(item.pointer("/metadata/namespace")).unwrap_or_default(),
                state: text(item.get("state")).unwrap_or_default(),
                id,
            })
        })
        .collect()
}

impl WorkloadKillAction {
    /// The selection in words, for plans and messages.
    fn selection(&self) -> String {
        let mut parts = Vec::new();
        if let Some(prefix) = &self.args.name_prefix {
            parts.push(format!("named {prefix}*"));
        }
        if let Some(label) = &self.args.label {
            parts.push(format!("labelled {label}"));
        }
        format!(
            "pods in namespace {} {}",
            self.args.namespace,
            parts.join(" and ")
        )
    }

    /// The inputs of `list.sh` (and `kill.sh`): crictl's path and the anchored filters.
    fn inputs(&self) -> Result<Inputs, ActionFailure> {
        let mut inputs = Inputs::new();
        inputs
            .var("crictl", &self.args.crictl)?
            .var(
                "namespace",
                &format!("^{}$", regex_escape(&self.args.namespace)),
            )?
            .var(
                "name",
                &self
                    .args
                    .name_prefix
                    .as_ref()
                    .map_or_else(String::new, |p| format!("^{}", regex_escape(p))),
            )?
            .var("label", self.args.label.as_deref().unwrap_or(""))?;
        Ok(inputs)
    }

    /// `list.sh` with the workload's filters.
    fn list_script(&self) -> Result<String, ActionFailure> {
        Ok(self.inputs()?.then(&[LIST]))
    }

    fn list(&self, node: &mut dyn Node) -> Result<Vec<PodRef>, ActionFailure> {
        let r = node.run(&self.list_script()?, None);
        if r.outcome != Outcome::Ok {
            return Err(ActionFailure::from_result("listing pods with crictl", &r));
        }
        if r.stdout.truncated() {
            return Err(ActionFailure::refused(
                "the pod list is larger than --max-output; raise it",
            ));
        }
        self.matching(&r.stdout.bytes)
    }

    /// The pods of crictl's JSON that are the workload's.
    fn matching(&self, json: &[u8]) -> Result<Vec<PodRef>, ActionFailure> {
        let pods = parse_pods(json)
            .map_err(|e| ActionFailure::refused(format!("listing pods with crictl: {e}")))?;
        // crictl's filters are what selected these; checking again guards against a crictl
        // that ignores a flag it does not know and lists every pod on the node.
        Ok(pods
            .into_iter()
            .filter(|p| {
                p.namespace == self.args.namespace
                    && self
                        .args
                        .name_prefix
                        .as_ref()
                        .is_none_or(|prefix| p.name.starts_with(prefix.as_str()))
            })
            .collect())
    }

    /// Stops and removes `pods`, and lists what matches afterwards, in one call.
    fn kill(&self, node: &mut dyn Node, pods: &[PodRef]) -> Result<Vec<PodRef>, ActionFailure> {
        let mut inputs = self.inputs()?;
        inputs.args(pods.iter().map(|p| p.id.as_str()))?;
        let r = node.run(&inputs.then(&[KILL, LIST]), None);
        if r.outcome != Outcome::Ok {
            return Err(ActionFailure::from_result(
                &format!("stopping and removing {}", names(pods)),
                &r,
            ));
        }
        if r.stdout.truncated() {
            return Err(ActionFailure::refused(
                "the pod list is larger than --max-output; raise it",
            ));
        }
        let out = String::from_utf8_lossy(&r.stdout.bytes);
        let Some((_, after)) = out.split_once(AFTER_KILL) else {
            return Err(ActionFailure::failed(format!(
                "the node did not confirm the kill of {} (no `{AFTER_KILL}` line)",
                names(pods)
            )));
        };
        self.matching(after.as_bytes())
    }
}

impl Action for WorkloadKillAction {
    fn kind(&self) -> &'static str {
        "workload.kill"
    }

    fn plan(&self, _target: &str) -> String {
        format!(
            "stop and remove the {} with {} (not reversible: pods come back only through their \
             controller, and a DaemonSet recreates them unless it is deleted)",
            self.selection(),
            self.args.crictl
        )
    }

    fn snapshot(&self, cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        let node = cx.shell()?;
        // Informational: which pods were there. Nothing can put them back.
        Ok(json!({ "pods": self.list(node)? }))
    }

    fn apply(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<Applied, ActionFailure> {
        let node = cx.shell()?;
        let pods = self.list(node)?;
        if pods.is_empty() {
            return Ok(Applied {
                summary: "no matching pods".into(),
                detail: json!({ "stopped": 0, "pods": [] }),
            });
        }
        // Stopping an already stopped sandbox is harmless, and `rmp` wants it stopped: so every
        // match is stopped, which also makes a repeated kill (resume, retry) converge.
        let after = self.kill(node, &pods)?;
        let was_running = pods.iter().filter(|p| p.state == READY).count();
        let mut summary = format!("stopped {} pod(s): {}", pods.len(), names(&pods));
        if was_running < pods.len() {
            let _ = write!(summary, " ({} already stopped)", pods.len() - was_running);
        }
        // A controller may already have started a replacement; that is expected, not a failure.
        let killed: BTreeSet<&str> = pods.iter().map(|p| p.id.as_str()).collect();
        let new: Vec<PodRef> = after
            .into_iter()
            .filter(|p| !killed.contains(p.id.as_str()))
            .collect();
        if !new.is_empty() {
            let _ = write!(
                summary,
                "; {} new matching pod(s) appeared since (recreated by their controller?): {}",
                new.len(),
                names(&new)
            );
        }
        Ok(Applied {
            summary,
            detail: json!({ "stopped": pods.len(), "pods": pods, "appeared": new }),
        })
    }

    fn verify(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<(), ActionFailure> {
        let node = cx.shell()?;
        let before: BTreeSet<&str> = snapshot["pods"]
            .as_array()
            .map(|pods| pods.iter().filter_map(|p| p["id"].as_str()).collect())
            .unwrap_or_default();
        let still: Vec<PodRef> = self
            .list(node)?
            .into_iter()
            .filter(|p| before.contains(p.id.as_str()) && p.state == READY)
            .collect();
        if still.is_empty() {
            Ok(())
        } else {
            Err(ActionFailure::failed(format!(
                "still running after crictl stopp: {}",
                names(&still)
            )))
        }
    }

    fn inverse(&self, _snapshot: &Value) -> Option<Box<dyn Action>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kill(prefix: Option<&str>, label: Option<&str>) -> WorkloadKillAction {
        WorkloadKillAction {
            args: WorkloadKill {
                namespace: "monitoring".into(),
                name_prefix: prefix.map(str::to_owned),
                label: label.map(str::to_owned),
                crictl: "/usr/bin/crictl".into(),
            },
        }
    }

    /// The command line `list.sh` runs with `action`'s inputs, as `sh` itself expands it: a
    /// stand-in crictl prints its arguments one per line.
    fn listed_args(action: &WorkloadKillAction) -> Vec<String> {
        let script = action
            .list_script()
            .expect("script")
            .replacen("crictl='/usr/bin/crictl'", "crictl=echo_args", 1)
            .replacen("crictl=/usr/bin/crictl", "crictl=echo_args", 1);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "echo_args() {{ printf '%s\\n' \"$@\"; }}\n{script}"
            ))
            .output()
            .expect("sh");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn list_script_anchors_and_escapes() {
        assert_eq!(
            listed_args(&kill(Some("telemetry.agent-"), Some("app=telemetry-agent"))),
            [
                "pods",
                "--namespace",
                "^monitoring$",
                "--name",
                "^telemetry\\.agent-",
                "--label",
                "app=telemetry-agent",
                "-o",
                "json"
            ]
        );
        assert_eq!(
            listed_args(&kill(None, Some("app=x"))),
            [
                "pods",
                "--namespace",
                "^monitoring$",
                "--label",
                "app=x",
                "-o",
                "json"
            ]
        );
        // A hostile prefix stays one argument.
        let args = listed_args(&kill(Some("x'; rm -rf / #"), None));
        assert_eq!(args[3..5], ["--name", "^x'; rm -rf / #"]);
    }

    #[test]
    fn parses_crictl_json_and_rejects_odd_ids() {
        let json = br#"{"items": [{"id": "ab12", "metadata": {"name": "telemetry-agent-x7k2p",
            "namespace": "monitoring", "uid": "u", "attempt": 0}, "state": "SANDBOX_READY"}]}"#;
        let pods = parse_pods(json).expect("parse");
        assert_eq!(pods[0].name, "telemetry-agent-x7k2p");
        assert_eq!(pods[0].state, READY);
        assert!(parse_pods(br#"{"items": [{"id": "a; rm -rf /"}]}"#).is_err());
        assert!(parse_pods(b"FATA[0000] nope").is_err());
        assert_eq!(parse_pods(br#"{"items": []}"#).expect("empty"), vec![]);
    }

    #[test]
    fn summary_names_are_capped() {
        let pods: Vec<PodRef> = (0..7)
            .map(|i| PodRef {
                id: format!("{i}"),
                name: format!("p{i}"),
                namespace: "n".into(),
                state: READY.into(),
            })
            .collect();
        assert_eq!(names(&pods), "p0, p1, p2, p3, p4 and 2 more");
        assert!(kill(Some("t-"), None).plan("w").contains("not reversible"));
        assert!(kill(Some("t-"), None).inverse(&Value::Null).is_none());
    }
}
