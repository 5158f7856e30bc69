//! What the actions that act through the Kubernetes API (and etcd) share: running a call of an
//! async client from the engine's blocking worker, and an API error as a target's outcome.

use super::args::WorkloadKind;
use super::context::Target;
use super::contract::ActionFailure;
use crate::outcome::Outcome;
use crate::transport::kube::KubeError;

/// Runs an API call from the engine's blocking worker (inside its runtime). `changing`: the
/// call changes something, so a failure after it was sent may have taken effect.
pub fn block_on<T>(
    f: impl std::future::Future<Output = Result<T, KubeError>>,
    changing: bool,
) -> Result<T, ActionFailure> {
    call(f)?.map_err(|e| failure(&e, changing))
}

/// Runs a client call (API or etcd) on the engine's blocking worker, inside its runtime, and
/// hands back the call's own result, for callers that branch on its answer (404 Not Found,
/// 409 Conflict). The outer error: no runtime to run it on.
pub fn call<T, E>(
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<Result<T, E>, ActionFailure> {
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|e| ActionFailure::refused(format!("the client needs the async runtime: {e}")))?;
    Ok(handle.block_on(f))
}

/// An API error as a target's outcome: 409 is a conflict (the object changed), 401/403 an auth
/// failure, a TLS failure a refusal, 429 until the deadline throttled.
pub fn failure(e: &KubeError, changing: bool) -> ActionFailure {
    let outcome = match e {
        KubeError::Unreachable(_) => Outcome::Unreachable,
        KubeError::Tls(_) => Outcome::Refused,
        KubeError::Throttled(_) => Outcome::Throttled,
        KubeError::Status { code: 409, .. } => Outcome::Conflict,
        KubeError::Status {
            code: 401 | 403, ..
        } => Outcome::AuthFailed,
        KubeError::Config(_) | KubeError::Status { .. } | KubeError::Budget(_) => Outcome::Failed,
        KubeError::Protocol(_) => Outcome::Error,
    };
    ActionFailure {
        outcome,
        message: e.to_string(),
        // Only a change that was sent and then lost (no answer) may have happened.
        never_ran: !changing || !matches!(e, KubeError::Unreachable(_) | KubeError::Protocol(_)),
    }
}

/// The inventory cluster an API action acts on: its own `cluster`, else the runbook's; it must
/// list `api_endpoints`.
pub fn api_cluster(
    kind: &str,
    own: Option<&str>,
    ctx: &super::BuildContext<'_>,
) -> anyhow::Result<String> {
    let Some(cluster) = own.or(ctx.cluster) else {
        anyhow::bail!(
            "{kind} has no `cluster`, and the runbook has no `cluster` parameter to take it from"
        );
    };
    match ctx.inventory.clusters.get(cluster) {
        None => anyhow::bail!("{kind}: the inventory has no cluster '{cluster}'"),
        Some(c) if c.api_endpoints.is_empty() => {
            anyhow::bail!("{kind}: cluster '{cluster}' in the inventory lists no api_endpoints")
        }
        Some(_) => Ok(cluster.to_owned()),
    }
}

/// A workload's API path: `/apis/GROUP/namespaces/NS/RESOURCE/NAME`.
pub fn workload_path(kind: WorkloadKind, namespace: &str, name: &str) -> String {
    let (group, resource) = kind.resource();
    format!("/apis/{group}/namespaces/{namespace}/{resource}/{name}")
}

/// The target a workload action acts on: named `RESOURCE/NS/NAME`, at its API path.
pub fn workload_target(cluster: &str, kind: WorkloadKind, namespace: &str, name: &str) -> Target {
    let (_, resource) = kind.resource();
    Target::KubeObject {
        cluster: cluster.to_owned(),
        name: format!("{resource}/{namespace}/{name}"),
        path: workload_path(kind, namespace, name),
    }
}

/// A context on an object of the lab's API server stand-in, for the API actions' unit tests.
#[cfg(test)]
pub(crate) mod test_api {
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::json;

    use crate::actions::context::{Context, Target};
    use crate::actions::contract::{Action, ActionFailure};
    use crate::cancel::Cancel;
    use crate::lab::apiserver::ApiServer;
    use crate::lab::etcd::EtcdServer;
    use crate::transport::RateLimiter;
    use crate::transport::kube::kubeconfig::Credentials;
    use crate::transport::kube::{Kube, KubeConfig};

    pub const DEPLOY: &str = "/apis/apps/v1/namespaces/default/deployments/web";

    /// A context on one object of the API server stand-in, as the engine would hand it out.
    pub(crate) struct KubeContext {
        pub target: Target,
        pub kube: Arc<Kube>,
        pub cancel: Cancel,
    }

    impl Context for KubeContext {
        fn target(&self) -> &Target {
            &self.target
        }

        fn shell(&mut self) -> Result<&mut dyn crate::actions::contract::Node, ActionFailure> {
            Err(ActionFailure::refused("no shell"))
        }

        fn kube(&mut self) -> Result<Arc<Kube>, ActionFailure> {
            Ok(Arc::clone(&self.kube))
        }

        fn cancel(&self) -> &Cancel {
            &self.cancel
        }

        fn operator(&self) -> &dyn crate::actions::context::Operator {
            unreachable!("API actions never ask the operator")
        }

        fn unattended(&self) -> bool {
            true
        }

        #[allow(clippy::unnecessary_literal_bound)] // the engine's contexts borrow theirs
        fn step(&self) -> &str {
            "api"
        }

        fn notice(&self, _message: &str) {}
    }

    pub fn kube(api: &ApiServer) -> Arc<Kube> {
        Arc::new(
            Kube::new(
                KubeConfig {
                    cluster: "lab".into(),
                    endpoints: vec![api.endpoint],
                    tls_server_name: Some("kubernetes.default.svc".into()),
                    ca: Some(std::fs::read(&api.ca_file).expect("ca")),
                    credentials: Credentials::Token(api.token.clone()),
                    timeout: Duration::from_secs(5),
                    deadline: Duration::from_secs(20),
                    budget: 100,
                },
                Arc::new(RateLimiter::new(0.0)),
            )
            .expect("client"),
        )
    }

    /// Runs `f` on a blocking thread of a runtime, as the engine's workers do.
    pub fn on_worker<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async { tokio::task::spawn_blocking(f).await.expect("worker") })
    }

    /// Starts etcd and the API server stand-in, seeds them ([`seed`]), and runs `f` on an
    /// engine-like worker with a context on `action`'s (first) object.
    pub fn on_stand_in<A: Action + Send + 'static>(
        action: A,
        f: impl FnOnce(&A, &mut KubeContext, &ApiServer) + Send + 'static,
    ) {
        let etcd = EtcdServer::start().expect("etcd");
        let api = Arc::new(ApiServer::start(&etcd).expect("API server stand-in"));
        seed(&etcd);
        let client = kube(&api);
        let api = Arc::clone(&api);
        on_worker(move || {
            let mut cx = KubeContext {
                target: action.objects().remove(0),
                kube: client,
                cancel: Cancel::new(),
            };
            f(&action, &mut cx, &api);
        });
    }

    /// A Deployment `default/web` (uid `web-uid`, 3 replicas) and one pod it owns.
    pub fn seed(etcd: &EtcdServer) {
        ApiServer::seed(
            etcd,
            "/registry/deployments/default/web",
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web", "namespace": "default", "uid": "web-uid",
                                "labels": {"app": "web"}},
                   "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "w", "image": "w"}]}}},
                   "status": {"replicas": 3}}),
        )
        .expect("seed");
        ApiServer::seed(
            etcd,
            "/registry/pods/default/web-1",
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "web-1", "namespace": "default",
                                "ownerReferences": [{"uid": "web-uid", "kind": "Deployment", "name": "web"}]}}),
        )
        .expect("seed pod");
    }
}
