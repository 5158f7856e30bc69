//! [`ApiserversTuneAction`], `apiservers.tune` bound to its arguments: plan, snapshot, apply,
//! verify and inverse, in the order the module doc describes. It sequences the editor
//! (`edit.rs`) and the file operations on the node (`remote.rs`); it must not edit YAML or write
//! shell itself.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use super::edit::{Edit, edit_manifest};
use super::remote::{ManifestPath, RemoteFile, Replace, read_remote, verify_hash};
use super::restore::RestoreManifest;
use super::snapshot::{ManifestSnapshot, sha256_hex};
use crate::actions::args::ApiserversTune;
use crate::actions::contract::{Action, ActionFailure, Applied, Context};

/// `apiservers.tune` bound to its arguments and to the run that names its backups.
pub struct ApiserversTuneAction {
    args: ApiserversTune,
    file: ManifestPath,
    run_id: String,
    step_id: String,
}

impl ApiserversTuneAction {
    pub fn new(args: ApiserversTune, run_id: &str, step_id: &str) -> anyhow::Result<Self> {
        Ok(ApiserversTuneAction {
            file: ManifestPath::new(&args.manifest)?,
            args,
            run_id: run_id.to_owned(),
            step_id: step_id.to_owned(),
        })
    }

    fn edit(&self, original: &[u8]) -> Result<Edit, ActionFailure> {
        edit_manifest(original, &self.args.set, &self.args.remove)
            .map_err(|e| ActionFailure::refused(format!("{}: {e}", self.file.path)))
    }
}

impl Action for ApiserversTuneAction {
    fn kind(&self) -> &'static str {
        "apiservers.tune"
    }

    fn plan(&self, _target: &str) -> String {
        let mut parts: Vec<String> = self
            .args
            .set
            .iter()
            .map(|(k, v)| format!("set {k}={v}"))
            .collect();
        parts.extend(self.args.remove.iter().map(|f| format!("remove {f}")));
        format!(
            "{} in {} (backed up, replaced atomically; undo restores it byte for byte)",
            parts.join(", "),
            self.file.path
        )
    }

    fn snapshot(&self, cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        let node = cx.shell()?;
        let RemoteFile {
            stat,
            content: current,
            backup,
        } = read_remote(node, &self.file, &self.run_id, &self.step_id)?;
        let fields: Vec<&str> = stat.split(' ').collect();
        let (Some(mode), Some(Ok(uid)), Some(Ok(gid))) = (
            fields.first(),
            fields.get(1).map(|s| s.parse::<u32>()),
            fields.get(2).map(|s| s.parse::<u32>()),
        ) else {
            return Err(ActionFailure::refused(format!(
                "stat of {} printed {stat:?}",
                self.file.path
            )));
        };
        let current_sha = sha256_hex(&current);
        let (original, from_backup) = match backup {
            Some((path, bytes)) => (bytes, Some(path)),
            None => (current, None),
        };
        // Refuse here, before anything is journaled as changed, if the edit is impossible.
        let edit = self.edit(&original)?;
        let sha = sha256_hex(&original);
        let snap = ManifestSnapshot {
            path: self.file.path.clone(),
            content_b64: BASE64.encode(&original),
            current_sha256: (current_sha != sha).then_some(current_sha),
            sha256: sha,
            mode: (*mode).to_owned(),
            uid,
            gid,
            tuned_sha256: sha256_hex(&edit.bytes),
            changes: edit.changes,
            from_backup,
        };
        serde_json::to_value(&snap)
            .map_err(|e| ActionFailure::refused(format!("cannot encode the snapshot: {e}")))
    }

    fn apply(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<Applied, ActionFailure> {
        let node = cx.shell()?;
        let (snap, original) = ManifestSnapshot::from_value(snapshot)?;
        let edit = self.edit(&original)?;
        let new_sha = sha256_hex(&edit.bytes);
        let out = Replace {
            file: &self.file,
            tmp_name: format!(".{}.breakglass-{}.tmp", self.file.name, self.run_id),
            expect_sha: &snap.sha256,
            new_sha: &new_sha,
            mode: &snap.mode,
            uid: snap.uid,
            gid: snap.gid,
            backup: Some((&self.run_id, &self.step_id)),
            conflict: "someone else changed it since the snapshot; not overwriting their edit",
        }
        .run(node, &edit.bytes)?;
        let backup = out.strip_prefix("written backup=").map(str::to_owned);
        let summary = if edit.changed() {
            let mut s = edit.changes.join(", ");
            if out == "unchanged" {
                s.push_str(" (already in place)");
            }
            s
        } else {
            format!("unchanged: {}", edit.changes.join(", "))
        };
        Ok(Applied {
            summary,
            detail: serde_json::json!({
                "path": self.file.path,
                "sha256_before": snap.sha256,
                "sha256_after": new_sha,
                "backup": backup,
            }),
        })
    }

    fn verify(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<(), ActionFailure> {
        let node = cx.shell()?;
        let (_, original) = ManifestSnapshot::from_value(snapshot)?;
        let edit = self.edit(&original)?;
        verify_hash(node, &self.file, &sha256_hex(&edit.bytes))
    }

    fn inverse(&self, snapshot: &Value) -> Option<Box<dyn Action>> {
        let (snap, original) = ManifestSnapshot::from_value(snapshot).ok()?;
        Some(Box::new(RestoreManifest {
            file: self.file.clone(),
            run_id: self.run_id.clone(),
            step_id: self.step_id.clone(),
            snap,
            original,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::contract::Node;
    use crate::actions::tune::edit::tests::{KUBEADM, set};
    use crate::transport::ssh::Outcome;

    /// A node that answers every script with the same stdout.
    struct Canned(Vec<u8>);
    impl Node for Canned {
        fn name(&self) -> &'static str {
            "cp1"
        }

        fn address(&self) -> String {
            "192.0.2.10:22".into()
        }

        fn run(
            &mut self,
            _script: &str,
            _stdin: Option<&[u8]>,
        ) -> crate::transport::ssh::ExecResult {
            crate::transport::ssh::ExecResult {
                outcome: Outcome::Ok,
                stdout: crate::transport::ssh::Captured {
                    bytes: self.0.clone(),
                    total: self.0.len() as u64,
                },
                stderr: crate::transport::ssh::Captured::default(),
                connect: None,
                total: std::time::Duration::ZERO,
                recorded_host_key: None,
            }
        }
    }
    fn tune_action() -> ApiserversTuneAction {
        let args = ApiserversTune {
            manifest: "/etc/kubernetes/manifests/kube-apiserver.yaml".into(),
            set: set(&[("--max-requests-inflight", "1200")]),
            remove: vec![],
        };
        ApiserversTuneAction::new(args, "run-1", "tune").expect("action")
    }
    #[test]
    fn snapshot_reads_the_file_and_prefers_an_earlier_attempts_backup() {
        let action = tune_action();
        let original = KUBEADM.as_bytes();
        let tuned = edit_manifest(original, &action.args.set, &[])
            .expect("edit")
            .bytes;

        let mut out = format!("600 0 0 {}\n", original.len()).into_bytes();
        out.extend_from_slice(original);
        let value = action.snapshot(&mut Canned(out)).expect("snapshot");
        let (snap, bytes) = ManifestSnapshot::from_value(&value).expect("valid");
        assert_eq!(bytes, original);
        assert_eq!((snap.mode.as_str(), snap.uid, snap.gid), ("600", 0, 0));
        assert_eq!(snap.tuned_sha256, sha256_hex(&tuned));
        assert_eq!(snap.changes, ["set --max-requests-inflight=1200 (was 400)"]);
        assert!(snap.from_backup.is_none() && snap.current_sha256.is_none());

        // An earlier attempt of this run replaced the file, then was killed: the snapshot
        // keeps the bytes from before the run (its backup), so undo restores those.
        let backup = "/var/lib/breakglass/run-1/tune/kube-apiserver.yaml";
        let mut out = format!("644 0 0 {}\n", tuned.len()).into_bytes();
        out.extend_from_slice(&tuned);
        out.extend_from_slice(format!("{} {backup}\n", original.len()).as_bytes());
        out.extend_from_slice(original);
        let value = action.snapshot(&mut Canned(out)).expect("snapshot");
        let (snap, bytes) = ManifestSnapshot::from_value(&value).expect("valid");
        assert_eq!(bytes, original);
        assert_eq!(snap.from_backup.as_deref(), Some(backup));
        assert_eq!(snap.current_sha256, Some(sha256_hex(&tuned)));
        let undo = action.inverse(&value).expect("inverse");
        assert!(
            undo.plan("cp1")
                .starts_with("restore /etc/kubernetes/manifests/kube-apiserver.yaml byte for byte")
        );

        // A file that changed size while it was read is refused, not half-read.
        let mut out = format!("644 0 0 {}\n", original.len() + 10).into_bytes();
        out.extend_from_slice(original);
        let err = action.snapshot(&mut Canned(out)).expect_err("garbled");
        assert!(
            err.message.contains("unexpected output") && err.never_ran,
            "{err}"
        );
        // A manifest the editor cannot handle is refused before anything is journaled.
        let other = b"apiVersion: v1\nkind: Pod\n";
        let mut out = format!("644 0 0 {}\n", other.len()).into_bytes();
        out.extend_from_slice(other);
        let err = action
            .snapshot(&mut Canned(out))
            .expect_err("not apiserver");
        assert!(
            err.message.contains("no kube-apiserver command list"),
            "{err}"
        );
    }
}
