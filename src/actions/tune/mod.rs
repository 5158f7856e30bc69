//! `apiservers.tune`: change flags of the kube-apiserver static pod manifest, for example raise
//! `--max-requests-inflight`; the kubelet restarts the API server with them.
//!
//! The edit is made here, in Rust, on the snapshot's bytes ([`edit_manifest`]: a line editor
//! for the container's `command:`/`args:` block list that leaves every other byte alone), then
//! uploaded on stdin and swapped in atomically on the node:
//!
//! 1. compare-and-swap: the file must still have the snapshot's SHA-256 (a file that already
//!    has the new content is left alone, so a retry or `resume` converges);
//! 2. a backup copy goes to `/var/lib/breakglass/RUN/STEP/NAME` (or `/run/breakglass/...` when
//!    `/var/lib` is not writable), never into the manifests directory: the kubelet starts a pod
//!    from every file there;
//! 3. the new content is written to `.NAME.breakglass-RUN.tmp` next to the manifest (same file
//!    system, so the rename is atomic; the leading dot matters: the kubelet reads `[^.]*` only,
//!    see `pkg/kubelet/config/file.go`, so even for that instant it cannot start a second API
//!    server from it), its hash checked, given the original's mode and owner, fsynced, and
//!    renamed over the manifest.
//!
//! The snapshot journals the exact bytes (base64), hash, mode and owner; the inverse writes them
//! back the same way, refusing if someone changed the file since breakglass wrote it. If an
//! earlier attempt of the same run already wrote the file (killed before its result was
//! journaled), the snapshot takes the bytes to restore from that attempt's backup, so `undo`
//! still restores the file as it was before the run.
//!
//! The node-side shell is `read.sh` (the snapshot) and `replace.sh` (apply and undo) in this
//! folder; Rust puts their inputs in front of them as quoted assignments (`super::script`).

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::args::ApiserversTune;
use super::contract::{Action, ActionFailure, Applied, Context, Node};
use super::script::{Inputs, quote};
use crate::transport::ssh::Outcome;
pub use edit::{Edit, edit_manifest};

mod edit;

/// Where backups go, first writable wins. Both are outside any kubelet-watched directory.
/// The scripts list them too (`for root in ...`), the same way.
const BACKUP_ROOTS: [&str; 2] = ["/var/lib/breakglass", "/run/breakglass"];

/// Reads the manifest and this run's backup of it (`read.sh`: inputs, output).
const READ: &str = include_str!("read.sh");
/// Replaces the manifest atomically, compare-and-swap, backing it up first (`replace.sh`).
const REPLACE: &str = include_str!("replace.sh");

/// The manifest's location split the ways the scripts need it.
#[derive(Debug, Clone)]
struct ManifestPath {
    path: String,
    dir: String,
    name: String,
}

impl ManifestPath {
    fn new(path: &Path) -> anyhow::Result<ManifestPath> {
        let text = path
            .to_str()
            .ok_or_else(|| anyhow::anyhow!("manifest path {} is not UTF-8", path.display()))?;
        let (Some(dir), Some(name)) = (
            path.parent().and_then(Path::to_str),
            path.file_name().and_then(|n| n.to_str()),
        ) else {
            anyhow::bail!("manifest path {text} names no file");
        };
        if !path.is_absolute() {
            anyhow::bail!("manifest path {text} is not absolute");
        }
        Ok(ManifestPath {
            path: text.to_owned(),
            dir: dir.to_owned(),
            name: name.to_owned(),
        })
    }
}

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
    fn from_value(value: &Value) -> Result<(ManifestSnapshot, Vec<u8>), ActionFailure> {
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

/// How to replace the manifest on the node (one script, content on stdin).
struct Replace<'a> {
    file: &'a ManifestPath,
    /// Temporary file name (in the manifest's directory; starts with a dot).
    tmp_name: String,
    /// The file must have this hash to be replaced.
    expect_sha: &'a str,
    /// The content's hash; a file that already has it is left alone.
    new_sha: &'a str,
    mode: &'a str,
    uid: u32,
    gid: u32,
    /// `(run, step)`: back the current file up under the backup roots first.
    backup: Option<(&'a str, &'a str)>,
    /// Said when the file changed under us.
    conflict: &'a str,
}

impl Replace<'_> {
    /// `replace.sh` after its inputs; the content goes on stdin. Prints `unchanged` or
    /// `written` (plus ` backup=PATH`) on success.
    fn script(&self) -> Result<String, ActionFailure> {
        let (run, step) = self.backup.unwrap_or(("", ""));
        let mut inputs = Inputs::new();
        inputs
            .var("f", &self.file.path)?
            .var("d", &self.file.dir)?
            .var("name", &self.file.name)?
            .var("tmp", &format!("{}/{}", self.file.dir, self.tmp_name))?
            .var("want", self.expect_sha)?
            .var("new", self.new_sha)?
            .var("conflict", self.conflict)?
            .var("mode", self.mode)?
            .var("owner", &format!("{}:{}", self.uid, self.gid))?
            .var("run", run)?
            .var("step", step)?;
        Ok(inputs.then(&[REPLACE]))
    }

    fn run(&self, node: &mut dyn Node, content: &[u8]) -> Result<String, ActionFailure> {
        let r = node.run(&self.script()?, Some(content));
        if r.outcome != Outcome::Ok {
            return Err(ActionFailure::from_result(
                &format!("replacing {}", self.file.path),
                &r,
            ));
        }
        Ok(String::from_utf8_lossy(&r.stdout.bytes).trim().to_owned())
    }
}

/// The manifest as read from the node.
struct RemoteFile {
    /// `stat -c '%a %u %g %s'`.
    stat: String,
    content: Vec<u8>,
    /// This run's backup of it, if an earlier attempt made one: (path, bytes).
    backup: Option<(String, Vec<u8>)>,
}

/// Reads the manifest and this run's backup of it, if any.
fn read_remote(
    node: &mut dyn Node,
    file: &ManifestPath,
    run_id: &str,
    step_id: &str,
) -> Result<RemoteFile, ActionFailure> {
    let mut inputs = Inputs::new();
    inputs
        .var("f", &file.path)?
        .var("name", &file.name)?
        .var("run", run_id)?
        .var("step", step_id)?;
    let script = inputs.then(&[READ]);
    let r = node.run(&script, None);
    if r.outcome != Outcome::Ok {
        return Err(ActionFailure::from_result(
            &format!("reading {}", file.path),
            &r,
        ));
    }
    if r.stdout.truncated() {
        return Err(ActionFailure::refused(format!(
            "{} is larger than --max-output ({} bytes kept); raise it",
            file.path,
            r.stdout.bytes.len()
        )));
    }
    let garbled = || {
        ActionFailure::refused(format!(
            "reading {}: unexpected output (did the file change while it was read?)",
            file.path
        ))
    };
    let out = &r.stdout.bytes;
    let (header, rest) = split_line(out).ok_or_else(garbled)?;
    let size: usize = header
        .rsplit(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(garbled)?;
    if rest.len() < size {
        return Err(garbled());
    }
    let (content, rest) = rest.split_at(size);
    let backup = if rest.is_empty() {
        None
    } else {
        let (line, rest) = split_line(rest).ok_or_else(garbled)?;
        let (size, path) = line.split_once(' ').ok_or_else(garbled)?;
        let size: usize = size.parse().map_err(|_| garbled())?;
        if rest.len() != size {
            return Err(garbled());
        }
        Some((path.to_owned(), rest.to_vec()))
    };
    Ok(RemoteFile {
        stat: header.to_owned(),
        content: content.to_vec(),
        backup,
    })
}

/// The first line (without `\n`, as UTF-8) and the rest.
fn split_line(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let end = bytes.iter().position(|&b| b == b'\n')?;
    Some((std::str::from_utf8(&bytes[..end]).ok()?, &bytes[end + 1..]))
}

/// Reads the manifest back and checks its hash.
fn verify_hash(node: &mut dyn Node, file: &ManifestPath, want: &str) -> Result<(), ActionFailure> {
    let r = node.run(&format!("cat -- {}", quote(&file.path)?), None);
    if r.outcome != Outcome::Ok {
        return Err(ActionFailure::from_result(
            &format!("reading {} back", file.path),
            &r,
        ));
    }
    let got = sha256_hex(&r.stdout.bytes);
    if r.stdout.truncated() || got != want {
        return Err(ActionFailure::failed(format!(
            "{} reads back with sha256 {got}, not {want}",
            file.path
        )));
    }
    Ok(())
}

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

/// The inverse of `apiservers.tune`: write the snapshot's bytes back, atomically, if the file
/// still holds what breakglass wrote.
pub struct RestoreManifest {
    file: ManifestPath,
    run_id: String,
    step_id: String,
    snap: ManifestSnapshot,
    original: Vec<u8>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::tune::edit::tests::{KUBEADM, set};

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
    /// `replace.sh` run by `sh` on a temporary file, as undo runs it (no backup: nothing is
    /// written outside the temporary directory).
    fn replace_locally(dir: &Path, content: &[u8], expect: &[u8]) -> (bool, String, String) {
        let file = ManifestPath::new(&dir.join("kube-apiserver.yaml")).expect("path");
        let (want, new) = (sha256_hex(expect), sha256_hex(content));
        let meta = std::fs::metadata(&file.path).expect("stat");
        let script = Replace {
            file: &file,
            tmp_name: ".kube-apiserver.yaml.breakglass-run.tmp".into(),
            expect_sha: &want,
            new_sha: &new,
            mode: "640",
            uid: std::os::unix::fs::MetadataExt::uid(&meta),
            gid: std::os::unix::fs::MetadataExt::gid(&meta),
            backup: None,
            conflict: "it's someone else's edit; $(not run)",
        }
        .script()
        .expect("script");
        let mut child = std::process::Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), content).expect("write");
        let out = child.wait_with_output().expect("wait");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
    #[test]
    fn the_node_side_scripts_replace_only_what_the_snapshot_saw() {
        for script in [READ, REPLACE] {
            assert!(
                script.contains(&format!("for root in {}; do", BACKUP_ROOTS.join(" "))),
                "{script}"
            );
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kube-apiserver.yaml");
        std::fs::write(&path, "old\n").expect("write");
        let (ok, out, err) = replace_locally(dir.path(), b"new\n", b"old\n");
        assert!(ok, "{err}");
        assert_eq!(out, "written\n");
        assert_eq!(std::fs::read(&path).expect("read"), b"new\n");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).expect("stat").permissions(),
        );
        assert_eq!(mode & 0o777, 0o640);
        // Again: already in place.
        let (ok, out, _) = replace_locally(dir.path(), b"new\n", b"old\n");
        assert!(ok && out == "unchanged\n", "{out}");
        // Someone else's edit is not overwritten, and the conflict text is only text.
        std::fs::write(&path, "theirs\n").expect("write");
        let (ok, out, err) = replace_locally(dir.path(), b"mine\n", b"new\n");
        assert!(!ok && out.is_empty(), "{out}");
        assert!(
            err.ends_with(&format!(
                "expected {}: it's someone else's edit; $(not run)\n",
                sha256_hex(b"new\n")
            )),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).expect("read"), b"theirs\n");
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").collect();
        assert_eq!(left.len(), 1, "the temporary file is removed: {left:?}");
    }
}
