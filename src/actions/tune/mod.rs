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

use std::collections::BTreeMap;
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

// ---------------------------------------------------------------------------------------------
// The manifest editor.

/// The result of [`edit_manifest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The whole new file.
    pub bytes: Vec<u8>,
    /// One entry per requested flag: `set --x=1 (was 2)`, `add --y=3`, `remove --z (was --z=4)`,
    /// or `--x=1 already set` / `--z already absent` for flags that needed nothing.
    pub changes: Vec<String>,
    changed: bool,
}

impl Edit {
    /// Whether the bytes differ from the input.
    pub fn changed(&self) -> bool {
        self.changed
    }
}

/// How a list item's scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
}

/// A scalar on an item line: its decoded value and where it sits in the line.
#[derive(Debug, Clone)]
struct Scalar {
    value: String,
    style: Style,
    start: usize,
    end: usize,
}

/// One item of a block list.
#[derive(Debug, Clone)]
struct Item {
    /// First and last line (continuation lines of a multi-line item included).
    first: usize,
    last: usize,
    /// Where the item's content starts on its first line (after `- `).
    content_start: usize,
    /// `None` for anything but a one-line scalar (nested structure, block or multi-line scalar).
    scalar: Option<Scalar>,
    /// The text of the first line's content, unquoted as far as possible: to recognise a flag
    /// even in an item this editor cannot rewrite.
    raw: String,
}

/// A block list under `command:` or `args:`.
#[derive(Debug, Clone)]
struct List {
    key: &'static str,
    key_line: usize,
    key_col: usize,
    items: Vec<Item>,
}

/// One line: its text and its line ending (`\n`, `\r\n` or none at the end of the file).
#[derive(Debug, Clone)]
struct Line<'a> {
    text: &'a str,
    eol: &'a str,
}

fn split_lines(text: &str) -> Vec<Line<'_>> {
    text.split_inclusive('\n')
        .map(|l| {
            let body = l.strip_suffix('\n').unwrap_or(l);
            let body_cr = body.strip_suffix('\r').unwrap_or(body);
            Line {
                text: body_cr,
                eol: &l[body_cr.len()..],
            }
        })
        .collect()
}

fn indent(text: &str) -> usize {
    text.len() - text.trim_start_matches(' ').len()
}

fn is_blank_or_comment(text: &str) -> bool {
    let t = text.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// `command:` / `- command:` / `args:` with nothing but a comment after it: the key and the
/// column the key starts at.
fn list_key(text: &str) -> Option<(&'static str, usize)> {
    let mut col = indent(text);
    let mut rest = &text[col..];
    if let Some(after) = rest.strip_prefix("- ") {
        let spaces = after.len() - after.trim_start_matches(' ').len();
        col += 2 + spaces;
        rest = &after[spaces..];
    }
    for key in ["command", "args"] {
        if let Some(after) = rest.strip_prefix(key).and_then(|r| r.strip_prefix(':')) {
            let after_trim = after.trim_start();
            if after_trim.is_empty() || (after_trim.starts_with('#') && after.starts_with(' ')) {
                return Some((key, col));
            }
        }
    }
    None
}

/// A `- ` item line at column `col`: where its content starts.
fn item_content(text: &str, col: usize) -> Option<usize> {
    if indent(text) != col {
        return None;
    }
    let rest = &text[col..];
    if rest == "-" {
        return Some(text.len());
    }
    let after = rest.strip_prefix("- ")?;
    Some(col + 2 + (after.len() - after.trim_start_matches(' ').len()))
}

/// Whether the rest of a line after a scalar is only blanks and maybe a comment.
fn only_comment_after(rest: &str) -> bool {
    let t = rest.trim_start();
    t.is_empty() || (t.starts_with('#') && rest.starts_with([' ', '\t']))
}

/// Parses a one-line scalar starting at byte `start` of `text`.
fn parse_scalar(text: &str, start: usize) -> Option<Scalar> {
    let s = &text[start..];
    let first = s.chars().next()?;
    match first {
        '\'' => {
            let mut value = String::new();
            let mut chars = s.char_indices().skip(1).peekable();
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().map(|&(_, c)| c) == Some('\'') {
                        value.push('\'');
                        chars.next();
                        continue;
                    }
                    let end = start + i + 1;
                    return only_comment_after(&text[end..]).then_some(Scalar {
                        value,
                        style: Style::Single,
                        start,
                        end,
                    });
                }
                value.push(c);
            }
            None
        }
        '"' => {
            let mut value = String::new();
            let mut chars = s.char_indices().skip(1);
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        let (_, e) = chars.next()?;
                        value.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            '0' => '\0',
                            // Other escapes (\xNN, \uNNNN, ...) never occur in kubeadm's
                            // manifests; decoding them as the bare character only affects how
                            // a value is shown, not the bytes of untouched lines.
                            other => other,
                        });
                    }
                    '"' => {
                        let end = start + i + 1;
                        return only_comment_after(&text[end..]).then_some(Scalar {
                            value,
                            style: Style::Double,
                            start,
                            end,
                        });
                    }
                    other => value.push(other),
                }
            }
            None
        }
        // Flow collections, block scalars, anchors, aliases, tags, reserved indicators.
        '[' | '{' | '|' | '>' | '&' | '*' | '!' | '%' | '@' | '`' | '#' => None,
        _ => {
            let end_rel = s.find(" #").or_else(|| s.find("\t#")).unwrap_or(s.len());
            let value = s[..end_rel].trim_end();
            // `key: value` would be a mapping, not a scalar item.
            if value.contains(": ") || value.ends_with(':') {
                return None;
            }
            Some(Scalar {
                value: value.to_owned(),
                style: Style::Plain,
                start,
                end: start + value.len(),
            })
        }
    }
}

/// Every block list under `command:` or `args:`.
fn find_lists(lines: &[Line<'_>]) -> Vec<List> {
    let mut lists = Vec::new();
    for (k, line) in lines.iter().enumerate() {
        let Some((key, key_col)) = list_key(line.text) else {
            continue;
        };
        let Some(first) = (k + 1..lines.len()).find(|&i| !is_blank_or_comment(lines[i].text))
        else {
            continue;
        };
        let col = indent(lines[first].text);
        // Items may sit at the key's column (`- command:` then `- kube-apiserver` below `command`)
        // or deeper; shallower means the key has no list.
        if col < key_col || item_content(lines[first].text, col).is_none() {
            continue;
        }
        let mut items: Vec<Item> = Vec::new();
        let mut i = first;
        while i < lines.len() {
            let text = lines[i].text;
            if is_blank_or_comment(text) {
                i += 1;
                continue;
            }
            if let Some(content_start) = item_content(text, col) {
                let raw = text[content_start..].trim_end();
                let raw = raw.trim_start_matches(['\'', '"']).to_owned();
                items.push(Item {
                    first: i,
                    last: i,
                    content_start,
                    scalar: parse_scalar(text, content_start),
                    raw,
                });
            } else if indent(text) > col {
                if let Some(item) = items.last_mut() {
                    item.last = i;
                    item.scalar = None;
                }
            } else {
                break;
            }
            i += 1;
        }
        lists.push(List {
            key,
            key_line: k,
            key_col,
            items,
        });
    }
    lists
}

fn is_kube_apiserver(item: &Item) -> bool {
    item.scalar
        .as_ref()
        .is_some_and(|s| s.value.rsplit('/').next() == Some("kube-apiserver"))
}

/// Whether `args` belongs to the same mapping (container) as `command`: same key column, and
/// no line between them leaves that mapping.
fn siblings(lines: &[Line<'_>], command: &List, args: &List) -> bool {
    if args.key_col != command.key_col {
        return false;
    }
    let (a, b) = if args.key_line < command.key_line {
        (args.key_line, command.key_line)
    } else {
        (command.key_line, args.key_line)
    };
    lines[a + 1..b]
        .iter()
        .all(|l| is_blank_or_comment(l.text) || indent(l.text) >= command.key_col)
}

/// The flag name of an item's text (`--name` of `--name=value`), if it is a flag.
fn flag_name(text: &str) -> Option<&str> {
    if !text.starts_with("--") {
        return None;
    }
    let name = text.split('=').next().unwrap_or(text);
    let name = name.split([' ', '\t', '\'', '"']).next().unwrap_or(name);
    Some(name)
}

fn plain_safe(value: &str) -> bool {
    !value.is_empty()
        && !value.contains(": ")
        && !value.contains(" #")
        && !value.ends_with(':')
        && value.trim() == value
        && !value.contains('\t')
}

/// `value` as a YAML scalar in `style` (falling back to double quotes where plain is unsafe).
fn render(value: &str, style: Style) -> String {
    match style {
        Style::Plain if plain_safe(value) => value.to_owned(),
        Style::Single => format!("'{}'", value.replace('\'', "''")),
        _ => format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"")),
    }
}

/// Checks the requested flags before anything is parsed.
fn check_request(set: &BTreeMap<String, String>, remove: &[String]) -> Result<(), String> {
    for (flag, value) in set {
        if flag_name(flag) != Some(flag.as_str()) || flag.len() < 3 {
            return Err(format!(
                "`{flag}` is not a flag name such as `--max-requests-inflight`"
            ));
        }
        // A newline in a value would add lines to the manifest instead of setting one flag.
        if value.chars().any(char::is_control) {
            return Err(format!(
                "the value of `{flag}` contains a control character"
            ));
        }
    }
    for flag in remove {
        if flag_name(flag) != Some(flag.as_str()) || flag.len() < 3 {
            return Err(format!("`{flag}` is not a flag name such as `--profiling`"));
        }
    }
    Ok(())
}

/// The kube-apiserver `command:` list, and the `args:` list of the same container if any.
fn locate<'l>(
    lines: &[Line<'_>],
    lists: &'l [List],
) -> Result<(&'l List, Option<&'l List>), String> {
    let commands: Vec<&List> = lists
        .iter()
        .filter(|l| l.key == "command" && l.items.first().is_some_and(is_kube_apiserver))
        .collect();
    let command = match commands.as_slice() {
        [one] => *one,
        [] => {
            return Err(
                "no kube-apiserver command list found (expected a block list \
                 `command:` whose first item is `kube-apiserver`, as kubeadm writes it)"
                    .into(),
            );
        }
        several => {
            return Err(format!(
                "{} kube-apiserver command lists found (lines {}); edit it by hand",
                several.len(),
                several
                    .iter()
                    .map(|l| (l.key_line + 1).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    };
    let args = lists
        .iter()
        .find(|l| l.key == "args" && siblings(lines, command, l));
    Ok((command, args))
}

/// What to do to the lines.
#[derive(Default)]
struct LineEdits {
    /// Line index to its new text.
    replaced: BTreeMap<usize, String>,
    /// Inclusive line ranges to drop.
    deleted: Vec<(usize, usize)>,
    /// `--flag=value` entries to add.
    appended: Vec<String>,
    changes: Vec<String>,
}

/// Finds each requested flag among `entries` (items that may hold flags) and decides its edit.
fn plan_edits(
    lines: &[Line<'_>],
    entries: &[(&List, usize)],
    set: &BTreeMap<String, String>,
    remove: &[String],
) -> Result<LineEdits, String> {
    let mut edits = LineEdits::default();
    let wanted = set
        .iter()
        .map(|(k, v)| (k.as_str(), Some(v.as_str())))
        .chain(remove.iter().map(|k| (k.as_str(), None)));
    for (flag, value) in wanted {
        let found: Vec<&(&List, usize)> = entries
            .iter()
            .filter(|(list, i)| flag_name(&list.items[*i].raw) == Some(flag))
            .collect();
        let (list, index) = match found.as_slice() {
            [] => {
                if let Some(v) = value {
                    edits.appended.push(format!("{flag}={v}"));
                    edits.changes.push(format!("add {flag}={v}"));
                } else {
                    edits.changes.push(format!("{flag} already absent"));
                }
                continue;
            }
            [one] => **one,
            several => {
                return Err(format!(
                    "`{flag}` appears {} times (lines {}); edit it by hand",
                    several.len(),
                    several
                        .iter()
                        .map(|(l, i)| (l.items[*i].first + 1).to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        };
        let item = &list.items[index];
        let line_no = item.first + 1;
        let Some(scalar) = &item.scalar else {
            return Err(format!(
                "`{flag}` on line {line_no} is not a one-line string; edit it by hand"
            ));
        };
        let next_is_value = list
            .items
            .get(index + 1)
            .is_some_and(|n| !n.raw.starts_with('-'));
        if !scalar.value.contains('=') && next_is_value {
            return Err(format!(
                "`{flag}` on line {line_no} takes its value from the next list item; \
                 edit it by hand"
            ));
        }
        let Some(v) = value else {
            edits.deleted.push((item.first, item.last));
            edits
                .changes
                .push(format!("remove {flag} (was {})", scalar.value));
            continue;
        };
        let desired = format!("{flag}={v}");
        if scalar.value == desired {
            edits.changes.push(format!("{desired} already set"));
            continue;
        }
        let was = scalar
            .value
            .split_once('=')
            .map_or("(no value)", |(_, v)| v);
        let line = lines[item.first].text;
        edits.replaced.insert(
            item.first,
            format!(
                "{}{}{}",
                &line[..scalar.start],
                render(&desired, scalar.style),
                &line[scalar.end..]
            ),
        );
        edits.changes.push(format!("set {desired} (was {was})"));
    }
    Ok(edits)
}

/// Where new flags go (after this line) and their lines: after the last flag of the list that
/// holds flags (the `args:` list if there is one), with its indentation and quoting.
fn insertion(
    lines: &[Line<'_>],
    command: &List,
    args: Option<&List>,
    appended: &[String],
) -> Result<(usize, Vec<String>), String> {
    let target = args.filter(|a| !a.items.is_empty()).unwrap_or(command);
    // The command list's first item is the program, not a flag.
    let skip = usize::from(std::ptr::eq(target, command));
    let reference = target
        .items
        .iter()
        .skip(skip)
        .rev()
        .find(|i| i.raw.starts_with("--"))
        .or_else(|| target.items.last())
        .ok_or("the kube-apiserver list has no items to add a flag after")?;
    let prefix = &lines[reference.first].text[..reference.content_start];
    let style = reference
        .scalar
        .as_ref()
        .filter(|s| s.value.starts_with("--"))
        .map_or(Style::Plain, |s| s.style);
    Ok((
        reference.last,
        appended
            .iter()
            .map(|f| format!("{prefix}{}", render(f, style)))
            .collect(),
    ))
}

/// The file with the edits applied; untouched lines keep their bytes and line endings.
fn render_lines(
    lines: &[Line<'_>],
    edits: &LineEdits,
    insert: Option<&(usize, Vec<String>)>,
) -> String {
    let default_eol = lines
        .iter()
        .map(|l| l.eol)
        .find(|e| !e.is_empty())
        .unwrap_or("\n");
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let gone = edits.deleted.iter().any(|&(a, b)| (a..=b).contains(&i));
        if !gone {
            out.push_str(edits.replaced.get(&i).map_or(line.text, String::as_str));
        }
        match insert {
            Some((after, new_lines)) if *after == i => {
                // The anchor may be the last line, without a line ending: the new lines then
                // get one between them and the file keeps its missing final newline.
                let eol = if line.eol.is_empty() {
                    default_eol
                } else {
                    line.eol
                };
                if !gone {
                    out.push_str(eol);
                }
                for (n, new) in new_lines.iter().enumerate() {
                    out.push_str(new);
                    if n + 1 < new_lines.len() || !line.eol.is_empty() {
                        out.push_str(eol);
                    }
                }
            }
            _ if !gone => out.push_str(line.eol),
            _ => {}
        }
    }
    out
}

/// Sets and removes kube-apiserver flags in a static pod manifest, changing only the lines of
/// the flags concerned: a replaced flag keeps its line's indentation, quoting and comment; a new
/// flag goes after the last flag with the same indentation and quoting; a removed flag loses
/// its line. With nothing to change the bytes come back identical.
///
/// The flags live in the block list under `command:` whose first item is `kube-apiserver` (or a
/// path ending in `/kube-apiserver`), plus an `args:` list of the same container if there is
/// one (new flags then go there). Refused: no such list or more than one, flow-style lists
/// (`command: [...]`), a requested flag that appears twice or spans several lines or is given
/// as two items (`--flag`, `value`), a file that is not UTF-8 or indents with tabs.
pub fn edit_manifest(
    original: &[u8],
    set: &BTreeMap<String, String>,
    remove: &[String],
) -> Result<Edit, String> {
    let text = std::str::from_utf8(original).map_err(|_| "the manifest is not UTF-8 text")?;
    check_request(set, remove)?;
    let lines = split_lines(text);
    if lines
        .iter()
        .any(|l| l.text[..l.text.len() - l.text.trim_start().len()].contains('\t'))
    {
        return Err("the manifest indents with tabs, which YAML does not allow".into());
    }
    let lists = find_lists(&lines);
    let (command, args) = locate(&lines, &lists)?;
    // Every item that may hold a flag, with its list.
    let mut entries: Vec<(&List, usize)> = (1..command.items.len()).map(|i| (command, i)).collect();
    if let Some(args) = args {
        entries.extend((0..args.items.len()).map(|i| (args, i)));
    }
    let edits = plan_edits(&lines, &entries, set, remove)?;
    let insert = if edits.appended.is_empty() {
        None
    } else {
        Some(insertion(&lines, command, args, &edits.appended)?)
    };
    if edits.replaced.is_empty() && edits.deleted.is_empty() && insert.is_none() {
        return Ok(Edit {
            bytes: original.to_vec(),
            changes: edits.changes,
            changed: false,
        });
    }
    let out = render_lines(&lines, &edits, insert.as_ref());
    Ok(Edit {
        bytes: out.into_bytes(),
        changes: edits.changes,
        changed: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kubeadm's layout (trimmed): `- command:` compact under `containers:`.
    const KUBEADM: &str = "apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint: 10.0.0.10:6443
  creationTimestamp: null
  labels:
    component: kube-apiserver
    tier: control-plane
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-apiserver
    - --advertise-address=10.0.0.10
    - --allow-privileged=true
    - --authorization-mode=Node,RBAC
    - --enable-admission-plugins=NodeRestriction
    - --max-mutating-requests-inflight=200
    - --max-requests-inflight=400
    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key
    image: registry.k8s.io/kube-apiserver:v1.30.4
    livenessProbe:
      httpGet:
        host: 10.0.0.10
        path: /livez
        port: 6443
    name: kube-apiserver
  hostNetwork: true
status: {}
";

    fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn edit(text: &str, s: &[(&str, &str)], r: &[&str]) -> Result<(String, Vec<String>), String> {
        let remove: Vec<String> = r.iter().map(|s| (*s).to_owned()).collect();
        let e = edit_manifest(text.as_bytes(), &set(s), &remove)?;
        Ok((String::from_utf8(e.bytes).expect("utf8"), e.changes))
    }

    #[test]
    fn replaces_a_flag_in_place_and_nothing_else() {
        let (out, changes) =
            edit(KUBEADM, &[("--max-requests-inflight", "1200")], &[]).expect("edit");
        assert_eq!(
            out,
            KUBEADM.replace(
                "--max-requests-inflight=400",
                "--max-requests-inflight=1200"
            )
        );
        assert_eq!(changes, vec!["set --max-requests-inflight=1200 (was 400)"]);
    }

    #[test]
    fn appends_a_missing_flag_after_the_last_flag() {
        let (out, changes) = edit(KUBEADM, &[("--goaway-chance", "0.02")], &[]).expect("edit");
        assert_eq!(
            out,
            KUBEADM.replace(
                "    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key\n",
                "    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key\n    - --goaway-chance=0.02\n"
            )
        );
        assert_eq!(changes, vec!["add --goaway-chance=0.02"]);
    }

    #[test]
    fn removes_a_flag_line() {
        let (out, changes) =
            edit(KUBEADM, &[], &["--allow-privileged", "--profiling"]).expect("edit");
        assert_eq!(out, KUBEADM.replace("    - --allow-privileged=true\n", ""));
        assert_eq!(
            changes,
            vec![
                "remove --allow-privileged (was --allow-privileged=true)",
                "--profiling already absent"
            ]
        );
    }

    #[test]
    fn unchanged_input_round_trips_byte_for_byte() {
        let e = edit_manifest(
            KUBEADM.as_bytes(),
            &set(&[("--max-requests-inflight", "400")]),
            &["--nope".to_owned()],
        )
        .expect("edit");
        assert!(!e.changed());
        assert_eq!(e.bytes, KUBEADM.as_bytes());
        assert_eq!(
            e.changes,
            vec![
                "--max-requests-inflight=400 already set",
                "--nope already absent"
            ]
        );
        // Applying the same edit twice is the same as once.
        let once = edit(
            KUBEADM,
            &[("--max-requests-inflight", "9"), ("--new", "1")],
            &[],
        )
        .expect("once")
        .0;
        let twice = edit(
            &once,
            &[("--max-requests-inflight", "9"), ("--new", "1")],
            &[],
        )
        .expect("twice")
        .0;
        assert_eq!(once, twice);
    }

    #[test]
    fn keeps_comments_indentation_quotes_and_crlf() {
        let text = "# managed by kubeadm\r\nspec:\r\n  containers:\r\n    - name: kube-apiserver\r\n      \
                    command:   # the flags\r\n        - \"kube-apiserver\"\r\n        # limits below\r\n        \
                    - \"--max-requests-inflight=400\"  # raised in INC-42\r\n        - '--v=2'\r\n      image: x\r\n";
        let (out, _) = edit(
            text,
            &[
                ("--max-requests-inflight", "1200"),
                ("--audit-log-path", "/var/log/it's.log"),
            ],
            &[],
        )
        .expect("edit");
        let expected = text
            .replace(
                "\"--max-requests-inflight=400\"  # raised",
                "\"--max-requests-inflight=1200\"  # raised",
            )
            .replace(
                "        - '--v=2'\r\n",
                "        - '--v=2'\r\n        - '--audit-log-path=/var/log/it''s.log'\r\n",
            );
        assert_eq!(out, expected);
    }

    #[test]
    fn a_plain_value_that_would_break_yaml_is_quoted() {
        let (out, _) = edit(KUBEADM, &[("--x", "a: b #c")], &[]).expect("edit");
        assert!(out.contains("    - \"--x=a: b #c\"\n"), "{out}");
    }

    #[test]
    fn args_list_of_the_same_container_holds_the_flags() {
        let text = "spec:\n  containers:\n  - name: kube-apiserver\n    command:\n    - /usr/local/bin/kube-apiserver\n    \
                    args:\n      - --max-requests-inflight=400\n      - --v=2\n    image: x\n  - name: sidecar\n    \
                    args:\n    - --max-requests-inflight=1\n";
        let (out, _) = edit(
            text,
            &[("--max-requests-inflight", "800"), ("--z", "1")],
            &[],
        )
        .expect("edit");
        assert_eq!(
            out,
            text.replacen(
                "--max-requests-inflight=400",
                "--max-requests-inflight=800",
                1
            )
            .replace("      - --v=2\n", "      - --v=2\n      - --z=1\n")
        );
    }

    #[test]
    fn missing_final_newline_is_kept() {
        let text = "spec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --a=1";
        let (out, _) = edit(text, &[("--b", "2")], &[]).expect("edit");
        assert_eq!(out, format!("{text}\n    - --b=2"));
        let (out, _) = edit(text, &[], &["--a"]).expect("edit");
        assert_eq!(
            out,
            "spec:\n  containers:\n  - command:\n    - kube-apiserver\n"
        );
    }

    #[test]
    fn refuses_what_it_cannot_edit_safely() {
        let dup = KUBEADM.replace(
            "    - --allow-privileged=true\n",
            "    - --allow-privileged=true\n    - --max-requests-inflight=500\n",
        );
        let err = edit(&dup, &[("--max-requests-inflight", "1")], &[]).expect_err("dup");
        assert!(err.contains("appears 2 times (lines 18, 22)"), "{err}");
        let err = edit(&dup, &[], &["--max-requests-inflight"]).expect_err("dup");
        assert!(err.contains("appears 2 times"), "{err}");

        let controller = KUBEADM.replace("- kube-apiserver\n", "- kube-controller-manager\n");
        let err = edit(&controller, &[("--v", "2")], &[]).expect_err("not apiserver");
        assert!(err.contains("no kube-apiserver command list"), "{err}");
        let err = edit("{\"kind\": \"Pod\"}", &[("--v", "2")], &[]).expect_err("json");
        assert!(err.contains("no kube-apiserver command list"), "{err}");
        let flow = "spec:\n  containers:\n  - command: [kube-apiserver, --v=1]\n";
        assert!(edit(flow, &[("--v", "2")], &[]).is_err());

        let two_items = KUBEADM.replace(
            "    - --max-requests-inflight=400\n",
            "    - --max-requests-inflight\n    - \"400\"\n",
        );
        let err = edit(&two_items, &[("--max-requests-inflight", "1")], &[]).expect_err("split");
        assert!(err.contains("next list item"), "{err}");

        let multi = KUBEADM.replace(
            "    - --max-requests-inflight=400\n",
            "    - --max-requests-inflight=\n      400\n",
        );
        let err = edit(&multi, &[("--max-requests-inflight", "1")], &[]).expect_err("multi");
        assert!(err.contains("not a one-line string"), "{err}");

        let twice = format!("{KUBEADM}---\n{KUBEADM}");
        assert!(
            edit(&twice, &[("--v", "2")], &[])
                .expect_err("two")
                .contains("2 kube-apiserver")
        );
        assert!(edit_manifest(b"\xff\xfe", &set(&[("--v", "1")]), &[]).is_err());
        assert!(edit(KUBEADM, &[("--v", "1\n- --evil=1")], &[]).is_err());
        assert!(edit(KUBEADM, &[("v", "1")], &[]).is_err());
        let tabs = KUBEADM.replace("    - --allow", "\t- --allow");
        assert!(
            edit(&tabs, &[("--v", "1")], &[])
                .expect_err("tabs")
                .contains("tabs")
        );
    }

    #[test]
    fn the_lab_manifest_is_editable() {
        let text = include_str!("../../lab/standins/kube-apiserver.yaml");
        let (out, changes) = edit(
            text,
            &[
                ("--max-requests-inflight", "1200"),
                ("--max-mutating-requests-inflight", "600"),
            ],
            &[],
        )
        .expect("edit");
        assert_eq!(changes.len(), 2);
        assert_eq!(
            out,
            text.replace("inflight=400", "inflight=1200")
                .replace("inflight=200", "inflight=600")
        );
    }

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
