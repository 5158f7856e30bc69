//! `workload.delete`: a workload deleted through the API, and only the one the snapshot saw.
//!
//! The snapshot is the whole object. The DELETE carries `DeleteOptions` with the snapshot's
//! `uid` and `resourceVersion` as preconditions (kubernetes.io/docs/reference/using-api/
//! api-concepts/, "Preconditions"): an object changed or re-created since is refused with 409
//! Conflict, never deleted. `propagationPolicy` says what happens to its pods. Undo re-creates the
//! object from the snapshot without the fields the server sets (status, uid, resourceVersion,
//! managedFields, creationTimestamp, generation, deletionTimestamp, selfLink, ownerReferences
//! stay), as a new object: its controller then makes new pods.

use serde_json::{Value, json};

use super::BuildContext;
use super::api::{api_cluster, block_on, call, failure, workload_target};
use super::args::{PropagationPolicy, WorkloadDelete};
use super::context::{Context, Target, TargetKind};
use super::contract::{Action, ActionFailure, Applied};
use crate::outcome::Outcome;

pub struct WorkloadDeleteAction {
    args: WorkloadDelete,
    cluster: String,
}

impl WorkloadDeleteAction {
    pub fn new(args: &WorkloadDelete, ctx: &BuildContext<'_>) -> anyhow::Result<Self> {
        Ok(WorkloadDeleteAction {
            cluster: api_cluster("workload.delete", args.cluster.as_deref(), ctx)?,
            args: args.clone(),
        })
    }

    fn collection(&self) -> String {
        let (group, resource) = self.args.kind.resource();
        format!(
            "/apis/{group}/namespaces/{}/{resource}",
            self.args.namespace
        )
    }

    fn path(&self) -> String {
        format!("{}/{}", self.collection(), self.args.name)
    }

    fn what(&self) -> String {
        format!(
            "{:?} {}/{}",
            self.args.kind, self.args.namespace, self.args.name
        )
    }
}

fn policy(p: PropagationPolicy) -> &'static str {
    match p {
        PropagationPolicy::Background => "Background",
        PropagationPolicy::Foreground => "Foreground",
        PropagationPolicy::Orphan => "Orphan",
    }
}

fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The object as it can be created again: no status, and none of the metadata the server sets.
pub fn without_server_fields(object: &Value) -> Value {
    let mut o = object.clone();
    if let Some(map) = o.as_object_mut() {
        map.remove("status");
    }
    if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "uid",
            "resourceVersion",
            "managedFields",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            meta.remove(field);
        }
    }
    o
}

impl Action for WorkloadDeleteAction {
    fn kind(&self) -> &'static str {
        "workload.delete"
    }

    fn runs_on(&self) -> TargetKind {
        TargetKind::Objects
    }

    fn objects(&self) -> Vec<Target> {
        vec![workload_target(
            &self.cluster,
            self.args.kind,
            &self.args.namespace,
            &self.args.name,
        )]
    }

    fn plan(&self, _target: &str) -> String {
        format!(
            "delete {} through the API of cluster {} (propagationPolicy {}), only if its uid and \
             resourceVersion are still the snapshot's; undo re-creates it from the snapshot \
             without its server-set fields (a new object: its pods are made anew)",
            self.what(),
            self.cluster,
            policy(self.args.propagation_policy)
        )
    }

    fn snapshot(&self, cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        let kube = cx.kube()?;
        match call(kube.get(&self.path()))? {
            Ok(object) => Ok(json!({ "object": object })),
            // Nothing to delete is not a failure: the step is idempotent.
            Err(e) if e.is_not_found() => Ok(json!({ "absent": true })),
            Err(e) => Err(failure(&e, false)),
        }
    }

    fn describe_now(&self, snapshot: &Value) -> Option<String> {
        Some(match snapshot.get("object") {
            Some(object) => format!(
                "{} (uid {}, resourceVersion {})",
                self.what(),
                text(object, "/metadata/uid"),
                text(object, "/metadata/resourceVersion")
            ),
            None => format!("{} does not exist: nothing to delete", self.what()),
        })
    }

    fn apply(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<Applied, ActionFailure> {
        let Some(object) = snapshot.get("object") else {
            return Ok(Applied {
                summary: format!("{} does not exist: nothing to delete", self.what()),
                detail: Value::Null,
            });
        };
        let (uid, rv) = (
            text(object, "/metadata/uid"),
            text(object, "/metadata/resourceVersion"),
        );
        let options = json!({
            "apiVersion": "v1", "kind": "DeleteOptions",
            "propagationPolicy": policy(self.args.propagation_policy),
            "preconditions": {"uid": uid, "resourceVersion": rv},
        });
        let kube = cx.kube()?;
        match call(kube.delete(&self.path(), &options))? {
            Ok(_) => Ok(Applied {
                summary: format!(
                    "deleted {} (uid {uid}, resourceVersion {rv}, propagationPolicy {})",
                    self.what(),
                    policy(self.args.propagation_policy)
                ),
                detail: json!({"uid": uid, "resourceVersion": rv}),
            }),
            Err(e) if e.is_not_found() => Ok(Applied {
                summary: format!("{} was already gone", self.what()),
                detail: Value::Null,
            }),
            Err(e) if e.is_conflict() => Err(ActionFailure {
                outcome: Outcome::Conflict,
                message: format!(
                    "{} changed since the snapshot (uid {uid}, resourceVersion {rv}): not \
                     deleted. {e}",
                    self.what()
                ),
                never_ran: true,
            }),
            Err(e) => Err(failure(&e, true)),
        }
    }

    fn verify(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<(), ActionFailure> {
        let Some(object) = snapshot.get("object") else {
            return Ok(());
        };
        let kube = cx.kube()?;
        match call(kube.get(&self.path()))? {
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(failure(&e, false)),
            // Foreground: the object stays, marked, until its pods are gone.
            Ok(now)
                if text(&now, "/metadata/uid") == text(object, "/metadata/uid")
                    && now.pointer("/metadata/deletionTimestamp").is_some() =>
            {
                Ok(())
            }
            Ok(now) => Err(ActionFailure {
                outcome: Outcome::Conflict,
                message: format!(
                    "{} exists again (uid {}): something re-created it",
                    self.what(),
                    text(&now, "/metadata/uid")
                ),
                never_ran: true,
            }),
        }
    }

    fn inverse(&self, snapshot: &Value) -> Option<Box<dyn Action>> {
        let object = snapshot.get("object")?;
        Some(Box::new(Recreate {
            collection: self.collection(),
            path: self.path(),
            what: self.what(),
            object: without_server_fields(object),
        }))
    }
}

/// Undo of `workload.delete`: the object created again from the snapshot, unless one of that
/// name exists (then nothing is overwritten).
pub struct Recreate {
    collection: String,
    path: String,
    what: String,
    object: Value,
}

impl Action for Recreate {
    fn kind(&self) -> &'static str {
        "workload.recreate"
    }

    fn runs_on(&self) -> TargetKind {
        TargetKind::Objects
    }

    fn plan(&self, _target: &str) -> String {
        format!("re-create {} from the snapshot", self.what)
    }

    fn snapshot(&self, _cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        Ok(Value::Null)
    }

    fn apply(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<Applied, ActionFailure> {
        let kube = cx.kube()?;
        match call(kube.create(&self.collection, &self.object))? {
            Ok(created) => Ok(Applied {
                summary: format!(
                    "re-created {} (new uid {})",
                    self.what,
                    text(&created, "/metadata/uid")
                ),
                detail: Value::Null,
            }),
            Err(e) if e.is_conflict() => Err(ActionFailure {
                outcome: Outcome::Conflict,
                message: format!("{} exists again: not overwritten. {e}", self.what),
                never_ran: true,
            }),
            Err(e) => Err(failure(&e, true)),
        }
    }

    fn verify(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<(), ActionFailure> {
        let kube = cx.kube()?;
        block_on(kube.get(&self.path), false).map(drop)
    }

    fn inverse(&self, _snapshot: &Value) -> Option<Box<dyn Action>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::api::test_api::{DEPLOY, on_stand_in};
    use crate::actions::args::WorkloadKind;

    #[test]
    fn delete_refuses_an_object_changed_since_the_snapshot_and_undo_recreates_it() {
        let action = WorkloadDeleteAction {
            args: WorkloadDelete {
                kind: WorkloadKind::Deployment,
                namespace: "default".into(),
                name: "web".into(),
                propagation_policy: PropagationPolicy::Background,
                cluster: None,
            },
            cluster: "lab".into(),
        };
        on_stand_in(action, |action, cx, a| {
            let snap = action.snapshot(cx).expect("snapshot");
            // Someone edits it after the snapshot: its resourceVersion moves, the delete refuses.
            let r = a
                .request(
                    "PATCH",
                    DEPLOY,
                    Some((
                        "application/merge-patch+json",
                        r#"{"metadata":{"labels":{"edited":"yes"}}}"#,
                    )),
                )
                .expect("patch");
            assert_eq!(r.code, 200, "{:?}", r.body);
            let err = action.apply(cx, &snap).expect_err("refused");
            assert_eq!(err.outcome, Outcome::Conflict, "{err}");
            assert_eq!(a.request("GET", DEPLOY, None).expect("get").code, 200);

            let snap = action.snapshot(cx).expect("snapshot");
            let applied = action.apply(cx, &snap).expect("delete");
            assert!(
                applied.summary.contains("deleted Deployment default/web"),
                "{}",
                applied.summary
            );
            action.verify(cx, &snap).expect("verify");
            assert_eq!(a.request("GET", DEPLOY, None).expect("get").code, 404);
            // Background propagation: its pod went too.
            assert_eq!(
                a.request("GET", "/api/v1/namespaces/default/pods/web-1", None)
                    .expect("get")
                    .code,
                404
            );
            // Deleting again is the same as once.
            action.apply(cx, &snap).expect("idempotent");

            let undo = action.inverse(&snap).expect("inverse");
            undo.apply(cx, &Value::Null).expect("recreate");
            undo.verify(cx, &Value::Null).expect("exists");
            let now = a.request("GET", DEPLOY, None).expect("get").body;
            assert_eq!(now["spec"]["replicas"], 3);
            assert_eq!(now["metadata"]["labels"]["edited"], "yes");
            assert_ne!(
                now["metadata"]["uid"], "web-uid",
                "a new object, with a new uid"
            );
            assert!(
                now.get("status")
                    .is_none_or(|s| s.get("replicas").is_none()),
                "{now}"
            );
            // An object of that name exists now: a second undo overwrites nothing.
            let err = undo.apply(cx, &Value::Null).expect_err("exists");
            assert_eq!(err.outcome, Outcome::Conflict);
        });
    }
}
