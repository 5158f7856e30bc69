//! The host programs a lab needs: found once per process by absolute path (`python3` checked for
//! `ssl`), a missing one named with its Debian package, the root check, and the two ways the
//! lab runs them (to completion, or `kill -s KILL`).
//!
//! Nothing here installs anything: a missing program is an error saying what to install.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use anyhow::{Context, anyhow, bail};

/// What the lab needs on the host: (program, Debian package).
const PREREQUISITES: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("nft", "nftables"),
    ("sshd", "openssh-server"),
    ("ssh-keygen", "openssh-client"),
    ("openssl", "openssl"),
    ("python3", "python3"),
    ("unshare", "util-linux"),
    ("nsenter", "util-linux"),
    ("setsid", "util-linux"),
    ("mount", "mount"),
    ("umount", "mount"),
    ("hostname", "hostname"),
    ("kill", "procps"),
    ("pgrep", "procps"),
];

/// Absolute paths of the programs the lab runs itself.
#[derive(Debug, Clone)]
pub(super) struct Tools {
    pub(super) ip: PathBuf,
    pub(super) sshd: PathBuf,
    pub(super) openssl: PathBuf,
    /// The real interpreter (not a pyenv shim), validated to have `ssl`.
    pub(super) python: PathBuf,
    pub(super) unshare: PathBuf,
    pub(super) nsenter: PathBuf,
    pub(super) kill: PathBuf,
    pub(super) mount: PathBuf,
    pub(super) umount: PathBuf,
}

impl Tools {
    /// Found once per process (checking python costs ~0.2 s); a failure is not cached.
    pub(super) fn find() -> anyhow::Result<Tools> {
        static FOUND: OnceLock<Tools> = OnceLock::new();
        if let Some(tools) = FOUND.get() {
            return Ok(tools.clone());
        }
        let tools = Tools::find_uncached()?;
        Ok(FOUND.get_or_init(|| tools).clone())
    }

    fn find_uncached() -> anyhow::Result<Tools> {
        let mut dirs: Vec<PathBuf> =
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect();
        // sbin is not on every user's PATH, and the system python beats a pyenv shim.
        for d in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
            dirs.push(PathBuf::from(d));
        }
        Tools::find_in(&dirs)
    }

    fn find_in(dirs: &[PathBuf]) -> anyhow::Result<Tools> {
        let found = find_programs(dirs).map_err(|missing| anyhow!(missing_message(&missing)))?;
        let get = |name: &str| found.get(name).cloned().unwrap_or_default();
        let python = if Path::new("/usr/bin/python3").is_file() {
            PathBuf::from("/usr/bin/python3")
        } else {
            get("python3")
        };
        let out = Command::new(&python)
            .args([
                "-c",
                "import sys, ssl, json, fcntl, http.server; print(sys.executable)",
            ])
            .output()
            .with_context(|| format!("running {}", python.display()))?;
        if !out.status.success() {
            bail!(
                "{} cannot run the lab's stand-ins (it needs the ssl module): {}; \
                 install python3 (apt-get install -y python3)",
                python.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(Tools {
            ip: get("ip"),
            sshd: get("sshd"),
            openssl: get("openssl"),
            python: PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()),
            unshare: get("unshare"),
            nsenter: get("nsenter"),
            kill: get("kill"),
            mount: get("mount"),
            umount: get("umount"),
        })
    }
}

/// Every prerequisite's absolute path, or the list of missing (program, package).
fn find_programs(
    dirs: &[PathBuf],
) -> Result<BTreeMap<&'static str, PathBuf>, Vec<(&'static str, &'static str)>> {
    let mut found = BTreeMap::new();
    let mut missing = Vec::new();
    for &(program, package) in PREREQUISITES {
        match dirs
            .iter()
            .map(|d| d.join(program))
            .find(|p| p.is_absolute() && p.is_file())
        {
            Some(path) => {
                found.insert(program, path);
            }
            None => missing.push((program, package)),
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(missing)
    }
}

fn missing_message(missing: &[(&str, &str)]) -> String {
    let programs: Vec<String> = missing.iter().map(|(p, k)| format!("{p} ({k})")).collect();
    let mut packages: Vec<&str> = missing.iter().map(|(_, k)| *k).collect();
    packages.dedup();
    format!(
        "the network-namespace lab cannot start: missing {}. Install with: \
         apt-get install -y {}. Lab tests fail, never skip, without them.",
        programs.join(", "),
        packages.join(" ")
    )
}

pub(super) fn require_root() -> anyhow::Result<()> {
    let status = fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?");
    if euid != "0" {
        bail!(
            "the network-namespace lab needs root (it creates network, mount and PID namespaces \
             and veths); this process runs as uid {euid}: run the tests as root"
        );
    }
    Ok(())
}

/// `kill -s KILL -- TARGET...` (PIDs, or `-PGID` for a group). Errors (already gone) ignored.
pub(super) fn kill(tools: &Tools, targets: &[String]) {
    if targets.is_empty() {
        return;
    }
    let _ = Command::new(&tools.kill)
        .args(["-s", "KILL", "--"])
        .args(targets)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Runs a command to completion; a non-zero exit is an error carrying its stderr.
pub(super) fn run(cmd: &mut Command) -> anyhow::Result<Output> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", cmd.get_program().display()))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}): {}",
            cmd.get_program().display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_programs_name_their_packages() {
        let missing = find_programs(&[PathBuf::from("/nonexistent")]).expect_err("nothing found");
        assert_eq!(missing.len(), PREREQUISITES.len());
        let message = missing_message(&missing);
        assert!(
            message.contains("missing ip (iproute2), nft (nftables), sshd (openssh-server)"),
            "{message}"
        );
        assert!(
            message.contains("apt-get install -y iproute2 nftables openssh-server"),
            "{message}"
        );
        let err = Tools::find_in(&[]).expect_err("no tools");
        assert!(err.to_string().contains("python3 (python3)"), "{err}");
    }
}
