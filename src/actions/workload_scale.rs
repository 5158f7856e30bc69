//! `workload.scale`: a `Deployment`'s or `StatefulSet`'s replicas set through its `scale`
//! subresource (`autoscaling/v1` `Scale`: kubernetes.io/docs/reference/kubernetes-api/
//! workload-resources/deployment-v1/, "read scale" and "patch scale"), with a JSON merge patch
//! `{"spec":{"replicas":N}}` as `kubectl scale` sends. The snapshot is the replica count before;
//! undo sets it back.

use serde_json::{Value, json};

use super::BuildContext;
use super::api::{api_cluster, block_on};
use super::args::{ScalableKind, WorkloadScale};
use super::context::{Context, Target, TargetKind};
use super::contract::{Action, ActionFailure, Applied};

pub struct WorkloadScaleAction {
    kind: ScalableKind,
    namespace: String,
    name: String,
    replicas: u32,
    cluster: String,
}

impl WorkloadScaleAction {
    pub fn new(args: &WorkloadScale, ctx: &BuildContext<'_>) -> anyhow::Result<Self> {
        Ok(WorkloadScaleAction {
            cluster: api_cluster("workload.scale", args.cluster.as_deref(), ctx)?,
            kind: args.kind,
            namespace: args.namespace.clone(),
            name: args.name.clone(),
            replicas: args.replicas,
        })
    }

    /// A scale action without a build context (unit tests).
    #[cfg(test)]
    pub(crate) fn for_test(kind: ScalableKind, namespace: &str, name: &str, replicas: u32) -> Self {
        WorkloadScaleAction {
            kind,
            namespace: namespace.into(),
            name: name.into(),
            replicas,
            cluster: "lab".into(),
        }
    }

    fn resource(&self) -> &'static str {
        match self.kind {
            ScalableKind::Deployment => "deployments",
            ScalableKind::StatefulSet => "statefulsets",
        }
    }

    fn path(&self) -> String {
        format!(
            "/apis/apps/v1/namespaces/{}/{}/{}/scale",
            self.namespace,
            self.resource(),
            self.name
        )
    }

    fn what(&self) -> String {
        format!("{:?} {}/{}", self.kind, self.namespace, self.name)
    }

    fn replicas_of(scale: &Value) -> Result<u32, ActionFailure> {
        scale
            .pointer("/spec/replicas")
            .and_then(Value::as_u64)
            .or(Some(0).filter(|_| scale.pointer("/spec").is_some()))
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| ActionFailure::failed(format!("not a Scale object: {scale}")))
    }
}

impl Action for WorkloadScaleAction {
    fn kind(&self) -> &'static str {
        "workload.scale"
    }

    fn runs_on(&self) -> TargetKind {
        TargetKind::Objects
    }

    fn objects(&self) -> Vec<Target> {
        vec![Target::KubeObject {
            cluster: self.cluster.clone(),
            name: format!("{}/{}/{}", self.resource(), self.namespace, self.name),
            path: self.path(),
        }]
    }

    fn plan(&self, _target: &str) -> String {
        format!(
            "scale {} to {} replicas through the API of cluster {}; undo sets the count it had",
            self.what(),
            self.replicas,
            self.cluster
        )
    }

    fn snapshot(&self, cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        let kube = cx.kube()?;
        let scale = block_on(kube.get(&self.path()), false)?;
        Ok(json!({ "replicas": Self::replicas_of(&scale)? }))
    }

    fn describe_now(&self, snapshot: &Value) -> Option<String> {
        Some(format!(
            "{} has {} replicas",
            self.what(),
            snapshot.get("replicas").unwrap_or(&Value::Null)
        ))
    }

    fn apply(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<Applied, ActionFailure> {
        let kube = cx.kube()?;
        block_on(
            kube.merge_patch(&self.path(), &json!({"spec": {"replicas": self.replicas}})),
            true,
        )?;
        Ok(Applied {
            summary: format!(
                "scaled {} to {} replicas (was {})",
                self.what(),
                self.replicas,
                snapshot.get("replicas").unwrap_or(&Value::Null)
            ),
            detail: Value::Null,
        })
    }

    fn verify(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<(), ActionFailure> {
        let kube = cx.kube()?;
        let now = Self::replicas_of(&block_on(kube.get(&self.path()), false)?)?;
        if now == self.replicas {
            Ok(())
        } else {
            Err(ActionFailure::failed(format!(
                "{} has {now} replicas after the patch, not {}",
                self.what(),
                self.replicas
            )))
        }
    }

    fn inverse(&self, snapshot: &Value) -> Option<Box<dyn Action>> {
        let before = u32::try_from(snapshot.get("replicas")?.as_u64()?).ok()?;
        Some(Box::new(WorkloadScaleAction {
            kind: self.kind,
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            replicas: before,
            cluster: self.cluster.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::api::test_api::{DEPLOY, on_stand_in};

    #[test]
    fn scale_sets_replicas_through_the_subresource_and_undo_sets_them_back() {
        let action = WorkloadScaleAction::for_test(ScalableKind::Deployment, "default", "web", 0);
        on_stand_in(action, |action, cx, a| {
            let snap = action.snapshot(cx).expect("snapshot");
            assert_eq!(snap, json!({"replicas": 3}));
            action.apply(cx, &snap).expect("scale");
            action.verify(cx, &snap).expect("verify");
            assert_eq!(
                a.request("GET", DEPLOY, None).expect("get").body["spec"]["replicas"],
                0
            );
            let undo = action.inverse(&snap).expect("inverse");
            undo.apply(cx, &Value::Null).expect("undo");
            undo.verify(cx, &Value::Null).expect("back");
            assert_eq!(
                a.request("GET", DEPLOY, None).expect("get").body["spec"]["replicas"],
                3
            );
        });
    }
}
