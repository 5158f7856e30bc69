//! `etcd.delete`: remove Kubernetes objects at their source when no API server answers, by
//! deleting their keys in etcd. The snapshot reads each key's raw value and `mod_revision` (and
//! says what object it holds); apply deletes each key in a transaction guarded by that revision,
//! so a key that changed since is refused, never deleted; undo puts each value back byte for
//! byte, but only while its key is still absent, so nothing newer is ever overwritten.
//!
//! A prefix target deletes every key under the prefix, and nothing at all when the prefix holds
//! more than the step's `max_keys`. Secrets are refused by the argument check: their values
//! would be journaled.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::BuildContext;
use super::args::EtcdDelete;
use super::context::{Context, Target, TargetKind};
use super::contract::{Action, ActionFailure, Applied};
use crate::outcome::Outcome;
use crate::transport::etcd::value::{ObjectSummary, summarize};
use crate::transport::etcd::{Deleted, Etcd, EtcdError, Kv};

pub struct EtcdDeleteAction {
    args: EtcdDelete,
    cluster: String,
}

impl EtcdDeleteAction {
    /// Binds the step to its cluster: the step's `cluster`, else the runbook's, which must be an
    /// inventory cluster that lists `etcd_endpoints`.
    pub fn new(args: &EtcdDelete, ctx: &BuildContext<'_>) -> anyhow::Result<EtcdDeleteAction> {
        let Some(cluster) = args.cluster.as_deref().or(ctx.cluster) else {
            anyhow::bail!(
                "etcd.delete has no `cluster`, and the runbook has no `cluster` parameter to take it from"
            );
        };
        match ctx.inventory.clusters.get(cluster) {
            None => anyhow::bail!("etcd.delete: the inventory has no cluster '{cluster}'"),
            Some(c) if c.etcd_endpoints.is_empty() => anyhow::bail!(
                "etcd.delete: cluster '{cluster}' in the inventory lists no etcd_endpoints \
                 (and etcd_cert_file, etcd_key_file, etcd_ca_file to reach them)"
            ),
            Some(_) => {}
        }
        Ok(EtcdDeleteAction {
            args: args.clone(),
            cluster: cluster.to_owned(),
        })
    }
}

/// One key as the snapshot keeps it: enough to delete it guarded and to put it back exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedKey {
    pub key: String,
    /// The raw value, base64.
    pub value: String,
    pub mod_revision: i64,
    pub create_revision: i64,
    /// What the value holds, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectSummary>,
}

impl SavedKey {
    fn from_kv(kv: Kv) -> SavedKey {
        SavedKey {
            object: summarize(&kv.value).ok(),
            value: B64.encode(&kv.value),
            key: kv.key,
            mod_revision: kv.mod_revision,
            create_revision: kv.create_revision,
        }
    }

    fn bytes(&self) -> Result<Vec<u8>, ActionFailure> {
        B64.decode(&self.value).map_err(|e| {
            ActionFailure::refused(format!("the snapshot of {} is not base64: {e}", self.key))
        })
    }

    fn what(&self) -> String {
        match &self.object {
            Some(o) => format!("{}: {}", self.key, o.describe()),
            None => self.key.clone(),
        }
    }
}

/// The snapshot of one target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcdSnapshot {
    pub cluster: String,
    pub keys: Vec<SavedKey>,
}

fn snapshot_of(v: &Value) -> Result<EtcdSnapshot, ActionFailure> {
    serde_json::from_value(v.clone())
        .map_err(|e| ActionFailure::refused(format!("unreadable etcd snapshot: {e}")))
}

/// Runs an etcd request from the engine's blocking worker (inside its runtime).
fn block_on<T>(
    f: impl std::future::Future<Output = Result<T, EtcdError>>,
    changing: bool,
) -> Result<T, ActionFailure> {
    super::api::call(f)?.map_err(|e| failure(&e, changing))
}

/// An etcd error as a target's outcome. A change that could not be confirmed (`changing`) may
/// have been applied: not "never ran", and retried only because every change here is guarded.
fn failure(e: &EtcdError, changing: bool) -> ActionFailure {
    let outcome = match e {
        EtcdError::Unreachable(_) => Outcome::Unreachable,
        EtcdError::Config(_) | EtcdError::Rejected { .. } => Outcome::Failed,
        EtcdError::Protocol(_) => Outcome::Error,
    };
    ActionFailure {
        outcome,
        message: e.to_string(),
        never_ran: !changing || matches!(e, EtcdError::Config(_)),
    }
}

fn conflict(message: String) -> ActionFailure {
    ActionFailure {
        outcome: Outcome::Conflict,
        message,
        never_ran: true,
    }
}

fn target_key(cx: &dyn Context) -> Result<(String, bool), ActionFailure> {
    match cx.target() {
        Target::EtcdKey { key, prefix, .. } => Ok((key.clone(), *prefix)),
        other => Err(ActionFailure::refused(format!(
            "etcd.delete acts on etcd keys, not on {other}"
        ))),
    }
}

impl Action for EtcdDeleteAction {
    fn kind(&self) -> &'static str {
        "etcd.delete"
    }

    fn runs_on(&self) -> TargetKind {
        TargetKind::Objects
    }

    fn objects(&self) -> Vec<Target> {
        let key = |key: &String, prefix| Target::EtcdKey {
            cluster: self.cluster.clone(),
            key: key.clone(),
            prefix,
        };
        self.args
            .keys
            .iter()
            .map(|k| key(k, false))
            .chain(self.args.prefix.iter().map(|p| key(p, true)))
            .collect()
    }

    fn plan(&self, target: &str) -> String {
        if self.args.prefix.as_deref() == Some(target) {
            format!(
                "delete every key under it in the etcd of cluster {} (at most {}; none if there \
                 are more), each only if unchanged since the snapshot; undo puts them back while \
                 absent",
                self.cluster,
                self.args.max_keys.unwrap_or(0)
            )
        } else {
            format!(
                "delete this key in the etcd of cluster {} if unchanged since the snapshot; undo \
                 puts the value back while the key is absent",
                self.cluster
            )
        }
    }

    fn snapshot(&self, cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        let (key, prefix) = target_key(cx)?;
        let etcd = cx.etcd()?;
        let keys = if prefix {
            let max = self.args.max_keys.unwrap_or(0);
            let (kvs, more) = block_on(etcd.list_prefix(&key, max + 1), false)?;
            if more || kvs.len() > max {
                return Err(ActionFailure::refused(format!(
                    "{key} holds more than max_keys = {max} keys; nothing was deleted. Raise \
                     max_keys if that many is meant"
                )));
            }
            kvs
        } else {
            block_on(etcd.get(&key), false)?.into_iter().collect()
        };
        let snapshot = EtcdSnapshot {
            cluster: self.cluster.clone(),
            keys: keys.into_iter().map(SavedKey::from_kv).collect(),
        };
        serde_json::to_value(snapshot)
            .map_err(|e| ActionFailure::refused(format!("cannot encode the snapshot: {e}")))
    }

    fn describe_now(&self, snapshot: &Value) -> Option<String> {
        let snap = snapshot_of(snapshot).ok()?;
        if snap.keys.is_empty() {
            return Some("absent: nothing to delete".to_owned());
        }
        let shown: Vec<String> = snap
            .keys
            .iter()
            .take(3)
            .map(|k| format!("{} (mod_revision {})", k.what(), k.mod_revision))
            .collect();
        let more = snap.keys.len().saturating_sub(shown.len());
        Some(format!(
            "{}{}",
            shown.join("; "),
            if more > 0 {
                format!("; and {more} more key(s)")
            } else {
                String::new()
            }
        ))
    }

    fn apply(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<Applied, ActionFailure> {
        let (key, _) = target_key(cx)?;
        let snap = snapshot_of(snapshot)?;
        let etcd = cx.etcd()?;
        let (mut deleted, mut gone, mut moved) = (Vec::new(), Vec::new(), Vec::new());
        for saved in &snap.keys {
            match block_on(
                etcd.delete_if_unchanged(&saved.key, saved.mod_revision),
                true,
            )? {
                Deleted::Yes(_) => deleted.push(saved.what()),
                Deleted::Moved(None) => gone.push(saved.key.clone()),
                Deleted::Moved(Some(now)) => moved.push(format!(
                    "{} changed since the snapshot (mod_revision {} then, {} now)",
                    saved.key, saved.mod_revision, now.mod_revision
                )),
            }
        }
        if !moved.is_empty() {
            return Err(conflict(format!(
                "not deleted: {}{}",
                moved.join("; "),
                if deleted.is_empty() {
                    String::new()
                } else {
                    format!("; deleted: {}", deleted.join("; "))
                }
            )));
        }
        let summary = match (deleted.as_slice(), snap.keys.is_empty()) {
            (_, true) => format!("{key} does not exist: nothing to delete"),
            ([one], _) => format!("deleted {one}"),
            ([], _) => format!("already gone: {}", gone.join(", ")),
            (many, _) => format!("deleted {} keys under {key}", many.len()),
        };
        Ok(Applied {
            summary,
            detail: serde_json::json!({
                "deleted": snap.keys.iter().map(|k| &k.key).filter(|k| !gone.contains(k)).collect::<Vec<_>>(),
                "already_gone": gone,
            }),
        })
    }

    fn verify(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<(), ActionFailure> {
        let snap = snapshot_of(snapshot)?;
        let etcd = cx.etcd()?;
        for saved in &snap.keys {
            if let Some(now) = block_on(etcd.get(&saved.key), false)? {
                return Err(conflict(format!(
                    "{} exists again (created at revision {}): something re-created it",
                    saved.key, now.create_revision
                )));
            }
        }
        Ok(())
    }

    fn inverse(&self, snapshot: &Value) -> Option<Box<dyn Action>> {
        let snap = snapshot_of(snapshot).ok()?;
        (!snap.keys.is_empty()).then(|| Box::new(EtcdRestoreAction { snap }) as Box<dyn Action>)
    }
}

/// Undo of `etcd.delete`: each saved value back at its key, only while the key is absent.
pub struct EtcdRestoreAction {
    snap: EtcdSnapshot,
}

impl EtcdRestoreAction {
    fn etcd(cx: &mut dyn Context) -> Result<Arc<Etcd>, ActionFailure> {
        cx.etcd()
    }
}

impl Action for EtcdRestoreAction {
    fn kind(&self) -> &'static str {
        "etcd.restore"
    }

    fn runs_on(&self) -> TargetKind {
        TargetKind::Objects
    }

    fn plan(&self, _target: &str) -> String {
        format!(
            "put back {} key(s) in the etcd of cluster {} while absent",
            self.snap.keys.len(),
            self.snap.cluster
        )
    }

    fn snapshot(&self, _cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        Ok(Value::Null)
    }

    fn apply(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<Applied, ActionFailure> {
        let etcd = Self::etcd(cx)?;
        let (mut restored, mut already, mut taken) = (Vec::new(), Vec::new(), Vec::new());
        for saved in &self.snap.keys {
            let value = saved.bytes()?;
            if block_on(etcd.put_if_absent(&saved.key, &value), true)? {
                restored.push(saved.what());
                continue;
            }
            match block_on(etcd.get(&saved.key), false)? {
                Some(now) if now.value == value => already.push(saved.key.clone()),
                Some(now) => taken.push(format!(
                    "{} exists again with another value (created at revision {})",
                    saved.key, now.create_revision
                )),
                // Deleted between the two calls: try once more on the next undo.
                None => taken.push(format!("{} was deleted while being restored", saved.key)),
            }
        }
        if !taken.is_empty() {
            return Err(conflict(format!(
                "not restored, nothing overwritten: {}",
                taken.join("; ")
            )));
        }
        Ok(Applied {
            summary: match restored.as_slice() {
                [] => format!("already restored: {}", already.join(", ")),
                [one] => format!("restored {one}"),
                many => format!("restored {} keys", many.len()),
            },
            detail: Value::Null,
        })
    }

    fn verify(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<(), ActionFailure> {
        let etcd = Self::etcd(cx)?;
        for saved in &self.snap.keys {
            let value = saved.bytes()?;
            match block_on(etcd.get(&saved.key), false)? {
                Some(now) if now.value == value => {}
                _ => {
                    return Err(conflict(format!(
                        "{} does not hold the value it had before the run",
                        saved.key
                    )));
                }
            }
        }
        Ok(())
    }

    fn inverse(&self, _snapshot: &Value) -> Option<Box<dyn Action>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cancel::Cancel;
    use crate::lab::etcd::EtcdServer;
    use crate::transport::RateLimiter;
    use crate::transport::etcd::EtcdConfig;
    use crate::transport::etcd::value::encode_protobuf;

    /// A context on one etcd key of a real etcd, as the engine would hand it out.
    struct EtcdContext {
        target: Target,
        etcd: Arc<Etcd>,
        cancel: Cancel,
    }

    impl Context for EtcdContext {
        fn target(&self) -> &Target {
            &self.target
        }

        fn shell(&mut self) -> Result<&mut dyn crate::actions::contract::Node, ActionFailure> {
            Err(ActionFailure::refused("no shell"))
        }

        fn etcd(&mut self) -> Result<Arc<Etcd>, ActionFailure> {
            Ok(Arc::clone(&self.etcd))
        }

        fn cancel(&self) -> &Cancel {
            &self.cancel
        }

        fn operator(&self) -> &dyn crate::actions::context::Operator {
            unreachable!("etcd.delete never asks the operator")
        }

        fn unattended(&self) -> bool {
            true
        }

        #[allow(clippy::unnecessary_literal_bound)] // the engine's contexts borrow theirs
        fn step(&self) -> &str {
            "delete"
        }

        fn notice(&self, _message: &str) {}
    }

    fn action(keys: &[&str], prefix: Option<&str>, max_keys: Option<usize>) -> EtcdDeleteAction {
        EtcdDeleteAction {
            args: EtcdDelete {
                keys: keys.iter().map(|k| (*k).to_owned()).collect(),
                prefix: prefix.map(str::to_owned),
                max_keys,
                cluster: None,
            },
            cluster: "lab".into(),
        }
    }

    fn context(server: &EtcdServer, target: Target) -> EtcdContext {
        EtcdContext {
            target,
            etcd: Arc::new(
                Etcd::new(
                    &EtcdConfig {
                        cluster: "lab".into(),
                        endpoints: vec![server.endpoint],
                        ca_file: Some(server.ca_file.clone()),
                        cert_file: Some(server.cert_file.clone()),
                        key_file: Some(server.key_file.clone()),
                        server_name: None,
                        timeout: Duration::from_secs(5),
                    },
                    Arc::new(RateLimiter::new(0.0)),
                )
                .expect("client"),
            ),
            cancel: Cancel::new(),
        }
    }

    /// Runs `f` on a blocking thread of a runtime, as the engine's workers do.
    fn on_worker<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async { tokio::task::spawn_blocking(f).await.expect("worker") })
    }

    const DS: &str = "/registry/daemonsets/monitoring/telemetry-agent";

    #[test]
    fn a_key_that_moved_after_the_snapshot_is_refused_and_undo_restores_byte_for_byte() {
        let server = Arc::new(EtcdServer::start().expect("etcd (apt-get install etcd-server)"));
        let value = encode_protobuf(
            "apps/v1",
            "DaemonSet",
            "monitoring",
            "telemetry-agent",
            "u-7",
        );
        server.put(DS, &value).expect("put");
        let s = Arc::clone(&server);
        on_worker(move || {
            let a = action(&[DS], None, None);
            let mut cx = context(&s, a.objects().remove(0));
            let snap = a.snapshot(&mut cx).expect("snapshot");
            let saved = snapshot_of(&snap).expect("snapshot");
            let object = saved.keys[0].object.clone().expect("decoded");
            assert_eq!(
                (object.kind.as_str(), object.uid.as_str()),
                ("DaemonSet", "u-7")
            );
            // Someone changes the object after the snapshot: the delete is refused.
            s.put(DS, b"{\"kind\":\"DaemonSet\"}").expect("put");
            let err = a.apply(&mut cx, &snap).expect_err("refused");
            assert_eq!(err.outcome, Outcome::Conflict, "{err}");
            assert!(err.message.contains("changed since the snapshot"), "{err}");
            assert!(s.get(DS).expect("get").is_some(), "a moved key was deleted");

            // Put the original back, snapshot again: deleted, verified, and undone exactly.
            s.put(DS, &value).expect("put");
            let snap = a.snapshot(&mut cx).expect("snapshot");
            let applied = a.apply(&mut cx, &snap).expect("apply");
            assert!(
                applied
                    .summary
                    .contains("apps/v1 DaemonSet monitoring/telemetry-agent (uid u-7"),
                "{}",
                applied.summary
            );
            a.verify(&mut cx, &snap).expect("verify");
            assert_eq!(s.get(DS).expect("get"), None);
            // Applying again is the same as once.
            a.apply(&mut cx, &snap).expect("idempotent");
            let undo = a.inverse(&snap).expect("inverse");
            undo.apply(&mut cx, &Value::Null).expect("restore");
            undo.verify(&mut cx, &Value::Null).expect("restored");
            assert_eq!(s.get(DS).expect("get"), Some(value.clone()));
            // A key that exists again with another value is never overwritten.
            s.put(DS, b"newer").expect("put");
            let err = undo
                .apply(&mut cx, &Value::Null)
                .expect_err("not overwritten");
            assert_eq!(err.outcome, Outcome::Conflict);
            assert_eq!(s.get(DS).expect("get"), Some(b"newer".to_vec()));
        });
    }

    #[test]
    fn a_prefix_holding_more_than_max_keys_deletes_nothing() {
        let server = Arc::new(EtcdServer::start().expect("etcd"));
        for i in 0..3 {
            server
                .put(
                    &format!("/registry/pods/monitoring/telemetry-agent-{i}"),
                    b"{}",
                )
                .expect("put");
        }
        let s = Arc::clone(&server);
        on_worker(move || {
            let a = action(&[], Some("/registry/pods/monitoring/"), Some(2));
            let mut cx = context(&s, a.objects().remove(0));
            let err = a.snapshot(&mut cx).expect_err("too many");
            assert!(err.message.contains("more than max_keys = 2"), "{err}");
            let a = action(&[], Some("/registry/pods/monitoring/"), Some(3));
            let snap = a.snapshot(&mut cx).expect("snapshot");
            assert_eq!(
                a.apply(&mut cx, &snap).expect("apply").summary,
                "deleted 3 keys under /registry/pods/monitoring/"
            );
            for i in 0..3 {
                assert_eq!(
                    s.get(&format!("/registry/pods/monitoring/telemetry-agent-{i}"))
                        .expect("get"),
                    None
                );
            }
        });
    }
}
