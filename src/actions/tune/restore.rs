//! [`RestoreManifest`], the inverse of `apiservers.tune`: write the snapshot's bytes back the same
//! compare-and-swap way, and only while the file still holds what breakglass wrote. It must not
//! edit: it restores byte for byte or refuses.

use serde_json::Value;

use super::remote::{BACKUP_ROOTS, ManifestPath, Replace, read_remote, verify_hash};
use super::snapshot::{ManifestSnapshot, sha256_hex};
use crate::actions::contract::{Action, ActionFailure, Applied, Context};

/// The inverse of `apiservers.tune`: write the snapshot's bytes back, atomically, if the file
/// still holds what breakglass wrote.
pub struct RestoreManifest {
    pub(super) file: ManifestPath,
    pub(super) run_id: String,
    pub(super) step_id: String,
    pub(super) snap: ManifestSnapshot,
    pub(super) original: Vec<u8>,
}

impl Action for RestoreManifest {
    fn kind(&self) -> &'static str {
        "apiservers.tune"
    }

    fn plan(&self, _target: &str) -> String {
        format!(
            "restore {} byte for byte from the snapshot (sha256 {})",
            self.file.path,
            &self.snap.sha256[..12.min(self.snap.sha256.len())]
        )
    }

    fn snapshot(&self, cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        let node = cx.shell()?;
        let current = read_remote(node, &self.file, &self.run_id, &self.step_id)?.content;
        Ok(serde_json::json!({ "sha256": sha256_hex(&current) }))
    }

    fn apply(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<Applied, ActionFailure> {
        let node = cx.shell()?;
        let conflict = format!(
            "it changed since breakglass wrote it (sha256 {}); not overwriting that edit. \
             The original is in the run's journal and backed up under {}/{}/{}/",
            self.snap.tuned_sha256,
            BACKUP_ROOTS.join(" or "),
            self.run_id,
            self.step_id
        );
        let out = Replace {
            file: &self.file,
            tmp_name: format!(".{}.breakglass-{}.undo.tmp", self.file.name, self.run_id),
            expect_sha: &self.snap.tuned_sha256,
            new_sha: &self.snap.sha256,
            mode: &self.snap.mode,
            uid: self.snap.uid,
            gid: self.snap.gid,
            backup: None,
            conflict: &conflict,
        }
        .run(node, &self.original)?;
        Ok(Applied {
            summary: if out == "unchanged" {
                format!("{} already as before the run", self.file.path)
            } else {
                format!("restored {} byte for byte", self.file.path)
            },
            detail: serde_json::json!({ "path": self.file.path, "sha256": self.snap.sha256 }),
        })
    }

    fn verify(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<(), ActionFailure> {
        let node = cx.shell()?;
        verify_hash(node, &self.file, &self.snap.sha256)
    }

    fn inverse(&self, _snapshot: &Value) -> Option<Box<dyn Action>> {
        None
    }
}
