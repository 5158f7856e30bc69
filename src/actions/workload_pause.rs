//! `workload.pause`: a `DaemonSet` stopped everywhere by its own controller. A JSON merge patch
//! (RFC 7386) puts a label no node has into its pod template's `nodeSelector`
//! (`breakglass.io/paused: RUN`): the `DaemonSet` controller then removes its pods from every node
//! and schedules none, and since the object stays, nothing is lost. Undo patches exactly that
//! label away again (or back to what it was, if the object had one before the run).
//!
//! Through one API server at a time (`transport::kube`): the snapshot reads the object, apply
//! patches it, verify reads it back.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::BuildContext;
use super::api::{api_cluster, block_on};
use super::args::WorkloadPause;
use super::context::{Context, Target, TargetKind};
use super::contract::{Action, ActionFailure, Applied};
use crate::outcome::Outcome;

/// The node-selector label that no node carries.
pub const PAUSE_LABEL: &str = "breakglass.io/paused";

pub struct WorkloadPauseAction {
    args: WorkloadPause,
    cluster: String,
    /// The label's value: the run that paused it, so `kubectl get ds -o yaml` says who did.
    run_id: String,
}

impl WorkloadPauseAction {
    pub fn new(
        args: &WorkloadPause,
        ctx: &BuildContext<'_>,
    ) -> anyhow::Result<WorkloadPauseAction> {
        let cluster = api_cluster("workload.pause", args.cluster.as_deref(), ctx)?;
        Ok(WorkloadPauseAction {
            args: args.clone(),
            cluster,
            run_id: ctx.run_id.to_owned(),
        })
    }

    fn path(&self) -> String {
        format!(
            "/apis/apps/v1/namespaces/{}/daemonsets/{}",
            self.args.namespace, self.args.name
        )
    }
}

/// What the `DaemonSet` was before the pause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseSnapshot {
    pub cluster: String,
    pub path: String,
    pub uid: String,
    pub resource_version: String,
    /// The label's value before the run, if it had one (another run's pause).
    pub previous: Option<String>,
}

/// The pause label's value in the object's pod template, if it carries one.
pub(super) fn selector_value(object: &Value) -> Option<String> {
    object
        .pointer("/spec/template/spec/nodeSelector")
        .and_then(|s| s.get(PAUSE_LABEL))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn patch(value: Option<&str>) -> Value {
    json!({"spec": {"template": {"spec": {"nodeSelector": {PAUSE_LABEL: value}}}}})
}

impl Action for WorkloadPauseAction {
    fn kind(&self) -> &'static str {
        "workload.pause"
    }

    fn runs_on(&self) -> TargetKind {
        TargetKind::Objects
    }

    fn objects(&self) -> Vec<Target> {
        vec![Target::KubeObject {
            cluster: self.cluster.clone(),
            name: format!("daemonsets/{}/{}", self.args.namespace, self.args.name),
            path: self.path(),
        }]
    }

    fn plan(&self, _target: &str) -> String {
        format!(
            "add nodeSelector {PAUSE_LABEL}={} to the pod template through the API of cluster {}: \
             its controller removes the pods from every node; undo removes the label",
            self.run_id, self.cluster
        )
    }

    fn snapshot(&self, cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        let kube = cx.kube()?;
        let object = block_on(kube.get(&self.path()), false)?;
        let text = |p: &str| {
            object
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        serde_json::to_value(PauseSnapshot {
            cluster: self.cluster.clone(),
            path: self.path(),
            uid: text("/metadata/uid"),
            resource_version: text("/metadata/resourceVersion"),
            previous: selector_value(&object),
        })
        .map_err(|e| ActionFailure::refused(format!("cannot encode the snapshot: {e}")))
    }

    fn describe_now(&self, snapshot: &Value) -> Option<String> {
        let snap: PauseSnapshot = serde_json::from_value(snapshot.clone()).ok()?;
        Some(format!(
            "daemonset {}/{} (uid {}, resourceVersion {}){}",
            self.args.namespace,
            self.args.name,
            snap.uid,
            snap.resource_version,
            snap.previous.map_or_else(
                || ", not paused".to_owned(),
                |v| format!(", already paused by run {v}")
            )
        ))
    }

    fn apply(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<Applied, ActionFailure> {
        let kube = cx.kube()?;
        block_on(
            kube.merge_patch(&self.path(), &patch(Some(&self.run_id))),
            true,
        )?;
        Ok(Applied {
            summary: format!(
                "paused: nodeSelector {PAUSE_LABEL}={} on daemonset {}/{}",
                self.run_id, self.args.namespace, self.args.name
            ),
            detail: Value::Null,
        })
    }

    fn verify(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<(), ActionFailure> {
        let kube = cx.kube()?;
        let object = block_on(kube.get(&self.path()), false)?;
        if selector_value(&object).as_deref() == Some(&self.run_id) {
            Ok(())
        } else {
            Err(ActionFailure::failed(format!(
                "the pod template's nodeSelector does not hold {PAUSE_LABEL}={} after the patch",
                self.run_id
            )))
        }
    }

    fn inverse(&self, snapshot: &Value) -> Option<Box<dyn Action>> {
        let snap: PauseSnapshot = serde_json::from_value(snapshot.clone()).ok()?;
        Some(Box::new(Unpause {
            snap,
            run_id: self.run_id.clone(),
        }))
    }
}

/// Undo of `workload.pause`: the label back to what it was (removed when there was none), and
/// only while it is still this run's.
pub struct Unpause {
    snap: PauseSnapshot,
    run_id: String,
}

impl Action for Unpause {
    fn kind(&self) -> &'static str {
        "workload.unpause"
    }

    fn runs_on(&self) -> TargetKind {
        TargetKind::Objects
    }

    fn plan(&self, _target: &str) -> String {
        format!("remove nodeSelector {PAUSE_LABEL} from {}", self.snap.path)
    }

    fn snapshot(&self, _cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        Ok(Value::Null)
    }

    fn apply(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<Applied, ActionFailure> {
        let kube = cx.kube()?;
        let object = block_on(kube.get(&self.snap.path), false)?;
        match selector_value(&object) {
            Some(v) if v == self.run_id => {}
            now if now == self.snap.previous => {
                return Ok(Applied {
                    summary: "already unpaused".into(),
                    detail: Value::Null,
                });
            }
            now => {
                return Err(ActionFailure {
                    outcome: Outcome::Conflict,
                    message: format!(
                        "{PAUSE_LABEL} is {} now, not this run's {}: left as it is",
                        now.map_or_else(|| "absent".to_owned(), |v| format!("`{v}`")),
                        self.run_id
                    ),
                    never_ran: true,
                });
            }
        }
        block_on(
            kube.merge_patch(&self.snap.path, &patch(self.snap.previous.as_deref())),
            true,
        )?;
        Ok(Applied {
            summary: match &self.snap.previous {
                None => format!("unpaused: nodeSelector {PAUSE_LABEL} removed"),
                Some(v) => format!("nodeSelector {PAUSE_LABEL} back to `{v}`"),
            },
            detail: Value::Null,
        })
    }

    fn verify(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<(), ActionFailure> {
        let kube = cx.kube()?;
        let object = block_on(kube.get(&self.snap.path), false)?;
        if selector_value(&object) == self.snap.previous {
            Ok(())
        } else {
            Err(ActionFailure::failed(format!(
                "{PAUSE_LABEL} is not back to what it was before the run"
            )))
        }
    }

    fn inverse(&self, _snapshot: &Value) -> Option<Box<dyn Action>> {
        None
    }
}
