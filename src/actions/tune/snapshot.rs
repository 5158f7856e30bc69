//! [`ManifestSnapshot`]: what `apiservers.tune` journals before it changes anything (the exact
//! bytes to restore, their hash, mode and owner, and the hash of what `apply` will write), and
//! the checks a journaled one must pass before `apply` or `undo` trusts it.
//!
//! It must not talk to a node.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::actions::contract::ActionFailure;

/// What `apiservers.tune` journals before changing anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSnapshot {
    pub path: String,
    /// The bytes `undo` restores, base64.
    pub content_b64: String,
    /// SHA-256 (hex) of those bytes.
    pub sha256: String,
    /// Permission bits, octal as `stat -c %a` prints them.
    pub mode: String,
    pub uid: u32,
    pub gid: u32,
    /// SHA-256 of the file as `apply` will write it (from this binary's editor), so `undo`
    /// knows what to expect even if a later breakglass edits differently.
    pub tuned_sha256: String,
    /// What `apply` will change, in words.
    pub changes: Vec<String>,
    /// Set when an earlier attempt of this run already replaced the file: the bytes above come
    /// from its backup at this path, and the file then had `current_sha256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_backup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_sha256: Option<String>,
}

impl ManifestSnapshot {
    pub(super) fn from_value(value: &Value) -> Result<(ManifestSnapshot, Vec<u8>), ActionFailure> {
        let snap: ManifestSnapshot = serde_json::from_value(value.clone()).map_err(|e| {
            ActionFailure::refused(format!("the manifest snapshot is unusable: {e}"))
        })?;
        let bytes = BASE64.decode(&snap.content_b64).map_err(|e| {
            ActionFailure::refused(format!(
                "the manifest snapshot's content is not base64: {e}"
            ))
        })?;
        if sha256_hex(&bytes) != snap.sha256 {
            return Err(ActionFailure::refused(
                "the manifest snapshot's content does not match its SHA-256",
            ));
        }
        // The mode reaches a shell (quoted anyway); only octal permission bits are accepted.
        if !(3..=4).contains(&snap.mode.len())
            || !snap.mode.chars().all(|c| ('0'..='7').contains(&c))
        {
            return Err(ActionFailure::refused(format!(
                "the manifest snapshot's mode `{}` is not octal permission bits",
                snap.mode
            )));
        }
        Ok((snap, bytes))
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_checks_its_own_integrity() {
        let content = b"x".to_vec();
        let mut snap = ManifestSnapshot {
            path: "/m.yaml".into(),
            content_b64: BASE64.encode(&content),
            sha256: sha256_hex(&content),
            mode: "600".into(),
            uid: 0,
            gid: 0,
            tuned_sha256: sha256_hex(b"y"),
            changes: vec![],
            from_backup: None,
            current_sha256: None,
        };
        let value = serde_json::to_value(&snap).expect("json");
        assert_eq!(ManifestSnapshot::from_value(&value).expect("ok").1, content);
        snap.mode = "600; rm -rf /".into();
        let value = serde_json::to_value(&snap).expect("json");
        assert!(ManifestSnapshot::from_value(&value).is_err());
        snap.mode = "644".into();
        snap.sha256 = sha256_hex(b"other");
        let value = serde_json::to_value(&snap).expect("json");
        assert!(ManifestSnapshot::from_value(&value).is_err());
    }
}
