//! `workload.check`: the last word of an ordered removal, that the workload's object is gone or
//! paused at its source. Through the API first (404, or a `DaemonSet` carrying the pause label,
//! or a `Deployment`/`StatefulSet` at 0 replicas); when no API server answers, in etcd itself
//! (the key absent, or its JSON value paused). Reads only: nothing to journal, nothing to undo.
//!
//! A runbook checks the nodes too (crictl over SSH): this check is about the object, which is
//! what brings the pods back while it stays.

use serde_json::Value;

use super::BuildContext;
use super::api::{api_cluster, call, failure, workload_path, workload_target};
use super::args::{WorkloadCheck, WorkloadKind};
use super::context::{Context, Target, TargetKind};
use super::contract::{Action, ActionFailure, Applied};
use super::workload_pause::selector_value;
use crate::outcome::Outcome;
use crate::transport::kube::KubeError;

pub struct WorkloadCheckAction {
    args: WorkloadCheck,
    cluster: String,
    /// Whether the cluster lists etcd endpoints to fall back on.
    has_etcd: bool,
}

impl WorkloadCheckAction {
    pub fn new(args: &WorkloadCheck, ctx: &BuildContext<'_>) -> anyhow::Result<Self> {
        let cluster = api_cluster("workload.check", args.cluster.as_deref(), ctx)?;
        let has_etcd = ctx
            .inventory
            .clusters
            .get(&cluster)
            .is_some_and(|c| !c.etcd_endpoints.is_empty());
        Ok(WorkloadCheckAction {
            args: args.clone(),
            cluster,
            has_etcd,
        })
    }

    fn path(&self) -> String {
        workload_path(self.args.kind, &self.args.namespace, &self.args.name)
    }

    /// Where a kube-apiserver keeps the object in etcd.
    fn key(&self) -> String {
        let (_, resource) = self.args.kind.resource();
        format!(
            "/registry/{resource}/{}/{}",
            self.args.namespace, self.args.name
        )
    }

    fn what(&self) -> String {
        format!(
            "{:?} {}/{}",
            self.args.kind, self.args.namespace, self.args.name
        )
    }

    /// Ok with how the object is harmless, or Err saying what is still there.
    fn judge(&self, object: &Value) -> Result<String, String> {
        match self.args.kind {
            WorkloadKind::DaemonSet => match selector_value(object) {
                Some(run) => Ok(format!("paused (by run {run})")),
                None => Err("still there, and not paused".to_owned()),
            },
            WorkloadKind::Deployment | WorkloadKind::StatefulSet => {
                match object.pointer("/spec/replicas").and_then(Value::as_u64) {
                    Some(0) => Ok("scaled to 0 replicas".to_owned()),
                    n => Err(format!(
                        "still there, with {} replicas",
                        n.map_or_else(|| "the default number of".to_owned(), |n| n.to_string())
                    )),
                }
            }
            WorkloadKind::Job | WorkloadKind::CronJob => Err("still there".to_owned()),
        }
    }

    fn verdict(&self, how: Result<String, String>, source: &str) -> Result<Applied, ActionFailure> {
        match how {
            Ok(how) => Ok(Applied {
                summary: format!("{} is {how} ({source})", self.what()),
                detail: Value::Null,
            }),
            Err(what) => Err(ActionFailure {
                outcome: Outcome::Failed,
                message: format!("{} is {what} ({source})", self.what()),
                never_ran: true,
            }),
        }
    }

    /// No API server answered: the object's key in etcd.
    fn check_in_etcd(
        &self,
        cx: &mut dyn Context,
        api: &KubeError,
    ) -> Result<Applied, ActionFailure> {
        let etcd = cx.etcd_of(&self.cluster)?;
        let key = self.key();
        let source = format!("etcd, since {api}");
        let kv = match call(etcd.get(&key))? {
            Ok(kv) => kv,
            Err(e) => {
                return Err(ActionFailure {
                    outcome: Outcome::Unreachable,
                    message: format!("neither the API nor etcd answered: {api}; etcd: {e}"),
                    never_ran: true,
                });
            }
        };
        let Some(kv) = kv else {
            return self.verdict(Ok("gone".to_owned()), &source);
        };
        match serde_json::from_slice::<Value>(&kv.value) {
            Ok(object) => self.verdict(self.judge(&object), &source),
            // A protobuf value (a real API server's default) cannot be read for the label.
            Err(_) => self.verdict(
                Err(format!(
                    "still in etcd at {key} ({} bytes, not JSON: whether it is paused cannot be told)",
                    kv.value.len()
                )),
                &source,
            ),
        }
    }
}

impl Action for WorkloadCheckAction {
    fn kind(&self) -> &'static str {
        "workload.check"
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
            "check that it is gone or paused, through the API of cluster {}{}; changes nothing",
            self.cluster,
            if self.has_etcd {
                format!(", else in etcd at {}", self.key())
            } else {
                String::new()
            }
        )
    }

    fn read_only(&self) -> bool {
        true
    }

    fn snapshot(&self, _cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        Ok(Value::Null)
    }

    fn apply(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<Applied, ActionFailure> {
        let kube = cx.kube()?;
        match call(kube.get(&self.path()))? {
            Ok(object) => self.verdict(self.judge(&object), "API"),
            Err(e) if e.is_not_found() => self.verdict(Ok("gone".to_owned()), "API"),
            Err(e @ (KubeError::Unreachable(_) | KubeError::Throttled(_))) if self.has_etcd => {
                self.check_in_etcd(cx, &e)
            }
            Err(e) => Err(failure(&e, false)),
        }
    }

    fn verify(&self, _cx: &mut dyn Context, _snapshot: &Value) -> Result<(), ActionFailure> {
        Ok(())
    }

    fn inverse(&self, _snapshot: &Value) -> Option<Box<dyn Action>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::actions::api::test_api::{DEPLOY, on_stand_in};

    fn check(kind: WorkloadKind) -> WorkloadCheckAction {
        WorkloadCheckAction {
            args: WorkloadCheck {
                kind,
                namespace: "default".into(),
                name: "web".into(),
                cluster: None,
            },
            cluster: "lab".into(),
            has_etcd: false,
        }
    }

    #[test]
    fn a_deployment_passes_once_at_zero_replicas_or_gone_and_fails_while_it_runs() {
        on_stand_in(check(WorkloadKind::Deployment), |action, cx, a| {
            let e = action.apply(cx, &Value::Null).expect_err("3 replicas");
            assert_eq!(e.outcome, Outcome::Failed);
            assert!(
                e.message.ends_with("is still there, with 3 replicas (API)"),
                "{}",
                e.message
            );
            let body = json!({"spec": {"replicas": 0}}).to_string();
            let r = a
                .request(
                    "PATCH",
                    DEPLOY,
                    Some(("application/merge-patch+json", &body)),
                )
                .expect("patch");
            assert_eq!(r.code, 200, "{:?}", r.body);
            let ok = action.apply(cx, &Value::Null).expect("at 0");
            assert_eq!(
                ok.summary,
                "Deployment default/web is scaled to 0 replicas (API)"
            );
            assert_eq!(a.request("DELETE", DEPLOY, None).expect("delete").code, 200);
            let ok = action.apply(cx, &Value::Null).expect("gone");
            assert_eq!(ok.summary, "Deployment default/web is gone (API)");
        });
    }

    #[test]
    fn a_job_passes_only_when_gone_and_a_daemonset_when_paused() {
        let ds = json!({"spec": {"template": {"spec": {"nodeSelector": {"breakglass.io/paused": "r1"}}}}});
        let a = check(WorkloadKind::DaemonSet);
        assert_eq!(a.judge(&ds), Ok("paused (by run r1)".to_owned()));
        assert!(a.judge(&json!({"spec": {}})).is_err());
        let j = check(WorkloadKind::Job);
        assert!(j.judge(&json!({"spec": {"parallelism": 0}})).is_err());
        assert_eq!(j.key(), "/registry/jobs/default/web");
    }
}
