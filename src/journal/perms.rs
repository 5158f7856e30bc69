//! Who may have written a run: `resume`, `undo` and `confirm` act as root on the whole fleet
//! from what a run's journal says, so the journal directory, the run directory and the files in
//! it must be owned by the invoking user (or root) and writable by no one else. Otherwise an
//! unprivileged user who can write the directory could replace a run, and root's `resume --yes`
//! would run their commands on every host.
//!
//! It checks and explains; it must not change modes or owners itself (the operator decides).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::error::{JournalError, io};
use super::key::owned_by_us;
use super::{HEAD_FILE, JOURNAL_FILE};

/// Refuses `root`, `root/run_id` and the run's journal and head when someone other than the
/// invoking user or root owns or can write them. Missing files are left to verification.
pub(crate) fn check_run(root: &Path, dir: &Path) -> Result<(), JournalError> {
    for path in [
        root.to_path_buf(),
        dir.to_path_buf(),
        dir.join(JOURNAL_FILE),
        dir.join(HEAD_FILE),
    ] {
        // The run directory and its files are never symlinks breakglass made; the root may be
        // one (a state directory on another disk), and is judged by what it points to.
        let meta = if path == root {
            std::fs::metadata(&path)
        } else {
            std::fs::symlink_metadata(&path)
        };
        let meta = match meta {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && path != root => continue,
            Err(e) => return Err(io(&path)(e)),
        };
        if path != root && meta.file_type().is_symlink() {
            return Err(JournalError::Unsafe {
                reason: "it is a symbolic link, which breakglass never makes there. Fix: look at \
                         where it points and remove it"
                    .to_owned(),
                path,
            });
        }
        if let Some(reason) = problem(&path, &meta) {
            return Err(JournalError::Unsafe { path, reason });
        }
    }
    Ok(())
}

/// Why `root` is not safe to create runs in, for `run` and `exec` to warn; `None` when it is (or
/// does not exist yet: it is then created 0700).
pub fn root_warning(root: &Path) -> Option<String> {
    let meta = std::fs::metadata(root).ok()?;
    problem(root, &meta).map(|reason| {
        format!(
            "journal directory {}: {reason}; `resume`, `undo` and `confirm` will refuse the runs \
             journaled there until it is fixed",
            root.display()
        )
    })
}

fn problem(path: &Path, meta: &std::fs::Metadata) -> Option<String> {
    if let Err(reason) = owned_by_us(meta) {
        return Some(reason);
    }
    let mode = meta.permissions().mode() & 0o7777;
    (mode & 0o022 != 0).then(|| {
        format!(
            "it is writable by group or others (mode {mode:04o}). Fix: check that nothing in it \
             changed, then `chmod go-w {}`",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_run_others_can_write_is_refused_naming_the_path_and_the_fix() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("runs");
        let dir = root.join("r1");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        std::fs::write(dir.join(JOURNAL_FILE), "").expect("write");
        std::fs::set_permissions(
            dir.join(JOURNAL_FILE),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod");
        check_run(&root, &dir).expect("private");
        assert_eq!(root_warning(&root), None);

        for (path, mode) in [(&root, 0o777), (&dir, 0o770)] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let err = check_run(&root, &dir).expect_err("writable by others");
            let text = err.to_string();
            assert!(
                text.contains(&format!("refusing {}", path.display()))
                    && text.contains(&format!("chmod go-w {}", path.display())),
                "{text}"
            );
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        }
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        assert!(root_warning(&root).is_some_and(|w| w.contains("mode 1777")));

        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        // Owned by someone else (root can give it away, which is what the test does).
        std::os::unix::fs::chown(&dir, Some(54321), None).expect("chown");
        let err = check_run(&root, &dir).expect_err("someone else's");
        assert!(err.to_string().contains("owned by uid 54321"), "{err}");
        std::os::unix::fs::chown(&dir, Some(rustix::process::geteuid().as_raw()), None)
            .expect("chown back");

        let file = dir.join(JOURNAL_FILE);
        std::fs::remove_file(&file).expect("rm");
        std::os::unix::fs::symlink("/etc/hostname", &file).expect("symlink");
        let err = check_run(&root, &dir).expect_err("symlink");
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }
}
