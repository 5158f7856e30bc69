//! The manifest on the node: where it is ([`ManifestPath`]), reading it and this run's backup of
//! it (`read.sh`), replacing it compare-and-swap and atomically (`replace.sh`: the steps are in
//! the module doc), and reading it back to check its hash.
//!
//! It moves bytes and checks hashes. It must not decide what the bytes are: the editor and the
//! snapshot do.

use std::path::Path;

use super::snapshot::sha256_hex;
use crate::actions::contract::{ActionFailure, Node};
use crate::actions::script::{Inputs, quote};
use crate::transport::ssh::Outcome;

/// Where backups go, first writable wins. Both are outside any kubelet-watched directory.
/// The scripts list them too (`for root in ...`), the same way.
pub(super) const BACKUP_ROOTS: [&str; 2] = ["/var/lib/breakglass", "/run/breakglass"];

/// Reads the manifest and this run's backup of it (`read.sh`: inputs, output).
const READ: &str = include_str!("read.sh");
/// Replaces the manifest atomically, compare-and-swap, backing it up first (`replace.sh`).
const REPLACE: &str = include_str!("replace.sh");

/// The manifest's location split the ways the scripts need it.
#[derive(Debug, Clone)]
pub(super) struct ManifestPath {
    pub(super) path: String,
    pub(super) dir: String,
    pub(super) name: String,
}

impl ManifestPath {
    pub(super) fn new(path: &Path) -> anyhow::Result<ManifestPath> {
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

/// How to replace the manifest on the node (one script, content on stdin).
pub(super) struct Replace<'a> {
    pub(super) file: &'a ManifestPath,
    /// Temporary file name (in the manifest's directory; starts with a dot).
    pub(super) tmp_name: String,
    /// The file must have this hash to be replaced.
    pub(super) expect_sha: &'a str,
    /// The content's hash; a file that already has it is left alone.
    pub(super) new_sha: &'a str,
    pub(super) mode: &'a str,
    pub(super) uid: u32,
    pub(super) gid: u32,
    /// `(run, step)`: back the current file up under the backup roots first.
    pub(super) backup: Option<(&'a str, &'a str)>,
    /// Said when the file changed under us.
    pub(super) conflict: &'a str,
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

    pub(super) fn run(&self, node: &mut dyn Node, content: &[u8]) -> Result<String, ActionFailure> {
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
pub(super) struct RemoteFile {
    /// `stat -c '%a %u %g %s'`.
    pub(super) stat: String,
    pub(super) content: Vec<u8>,
    /// This run's backup of it, if an earlier attempt made one: (path, bytes).
    pub(super) backup: Option<(String, Vec<u8>)>,
}

/// Reads the manifest and this run's backup of it, if any.
pub(super) fn read_remote(
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
pub(super) fn verify_hash(
    node: &mut dyn Node,
    file: &ManifestPath,
    want: &str,
) -> Result<(), ActionFailure> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
