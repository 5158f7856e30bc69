//! Non-root logins on the lab's nodes ([`Lab::add_users`], for `--sudo`): see the parent
//! module's docs. Only the nodes' mount namespaces change; the host's `/etc` is read, never
//! written.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, bail};

use super::{Lab, Node};

/// Where [`Lab::add_users`] puts a node's account files and homes, as the node sees them.
const NODE_ACCOUNTS: &str = "/run/breakglass-lab/accounts";
const NODE_HOMES: &str = "/run/breakglass-lab/home";
/// The host files a node's accounts start from, mounted over by the node's copies.
const ACCOUNT_FILES: [&str; 4] = ["passwd", "group", "shadow", "hosts"];
/// The lab's sudoers drop-in (sudo skips names containing a dot).
const SUDOERS_DROP_IN: &str = "breakglass-lab";
/// Lab users get the first uid from here that the host uses neither as a uid nor as a gid
/// (each user's group has the same number).
const FIRST_USER_ID: u32 = 2000;

/// A non-root login that [`Lab::add_users`] creates on every node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeUser {
    /// The login name: `[a-z_][a-z0-9_-]*`, at most 32 characters, not `root`.
    pub name: String,
    pub sudo: Sudo,
}

impl NodeUser {
    pub fn new(name: &str, sudo: Sudo) -> NodeUser {
        NodeUser {
            name: name.to_owned(),
            sudo,
        }
    }
}

/// What a [`NodeUser`] may do with `sudo`: its rule in the node's `/etc/sudoers.d/breakglass-lab`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sudo {
    /// No rule: sudo refuses the user.
    Never,
    /// `NAME ALL=(ALL) ALL`: sudo wants the user's password, and the account has none (`*` in
    /// shadow), so `sudo -n` fails with "a password is required" and a prompt could never pass.
    WithPassword,
    /// `NAME ALL=(ALL) NOPASSWD: ALL`.
    Passwordless,
}

impl Lab {
    /// Creates non-root logins on every node, all in one call per lab: each user logs in over
    /// SSH with [`Lab::client_key`] (sshd's `AuthorizedKeysFile` is one absolute path for every
    /// user, with `StrictModes no`) and gets the sudo rule it asks for. Only the nodes' mount
    /// namespaces change (see the module docs); a [`Sudo`] rule needs the real `sudo` installed
    /// on the host.
    pub fn add_users(&mut self, users: &[NodeUser]) -> anyhow::Result<()> {
        if !self.users.is_empty() {
            bail!(
                "lab {}: users were already added; add them all in one add_users call",
                self.id
            );
        }
        let mut names = BTreeSet::new();
        for user in users {
            check_user_name(&user.name)?;
            if !names.insert(&user.name) {
                bail!("lab user {} is listed twice", user.name);
            }
        }
        if users.is_empty() {
            return Ok(());
        }
        if users.iter().any(|u| u.sudo != Sudo::Never) {
            check_sudo_installed()?;
        }
        let host = HostAccounts::read()?;
        let shell = if Path::new("/bin/bash").is_file() {
            "/bin/bash"
        } else {
            "/bin/sh"
        };
        let accounts = render_accounts(&host, users, shell);
        for node in &self.nodes {
            self.install_accounts(node, &host, &accounts, users)
                .with_context(|| format!("node {}: adding the lab's users", node.name))?;
        }
        self.users = users
            .iter()
            .map(|u| u.name.clone())
            .zip(accounts.uids)
            .collect();
        Ok(())
    }

    /// The uid (and gid) [`Lab::add_users`] gave `name` on every node.
    pub fn user_uid(&self, name: &str) -> Option<u32> {
        self.users
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, uid)| *uid)
    }

    /// Writes one node's account files and homes, then bind-mounts the files over the host's
    /// inside the node's mount namespace (private propagation: the host never sees them).
    fn install_accounts(
        &self,
        node: &Node,
        host: &HostAccounts,
        accounts: &Accounts,
        users: &[NodeUser],
    ) -> anyhow::Result<()> {
        let state = node.dir.join("run/breakglass-lab");
        // sshd reads authorized_keys as the logging-in user.
        fs::set_permissions(&state, fs::Permissions::from_mode(0o755))?;
        fs::set_permissions(
            state.join("authorized_keys"),
            fs::Permissions::from_mode(0o644),
        )?;
        let dir = state.join("accounts");
        fs::create_dir_all(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        let hosts = format!(
            "{}{}127.0.1.1\t{}\n",
            host.hosts,
            if host.hosts.ends_with('\n') || host.hosts.is_empty() {
                ""
            } else {
                "\n"
            },
            node.name
        );
        for (name, text, mode) in [
            ("passwd", &accounts.passwd, 0o644),
            ("group", &accounts.group, 0o644),
            ("shadow", &accounts.shadow, 0o640),
            ("hosts", &hosts, 0o644),
        ] {
            let path = dir.join(name);
            fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
        }
        // The host's shadow group (Debian's `shadow`) keeps reading it, as on a real node.
        std::os::unix::fs::chown(dir.join("shadow"), Some(0), Some(host.shadow_gid))?;
        let mut mounts = String::from("set -e\n");
        for name in ACCOUNT_FILES {
            let _ = writeln!(mounts, "mount --bind {NODE_ACCOUNTS}/{name} /etc/{name}");
        }
        if let Some(rules) = &accounts.sudoers {
            // sudo ignores a drop-in that is group- or world-writable or not owned by root.
            let sudoers = dir.join("sudoers.d");
            fs::create_dir_all(&sudoers)?;
            fs::set_permissions(&sudoers, fs::Permissions::from_mode(0o755))?;
            let drop_in = sudoers.join(SUDOERS_DROP_IN);
            fs::write(&drop_in, rules)?;
            fs::set_permissions(&drop_in, fs::Permissions::from_mode(0o440))?;
            let _ = writeln!(
                mounts,
                "mount --bind {NODE_ACCOUNTS}/sudoers.d /etc/sudoers.d"
            );
        }
        for (user, uid) in users.iter().zip(&accounts.uids) {
            let home = state.join("home").join(&user.name);
            fs::create_dir_all(&home)?;
            fs::set_permissions(&home, fs::Permissions::from_mode(0o755))?;
            std::os::unix::fs::chown(&home, Some(*uid), Some(*uid))?;
        }
        let out = self.sh(&node.name, &mounts)?;
        if !out.status.success() {
            bail!(
                "mounting the account files: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }
}

/// What a node's accounts start from: the host's files, read, never written.
struct HostAccounts {
    passwd: String,
    group: String,
    shadow: String,
    hosts: String,
    shadow_gid: u32,
}

impl HostAccounts {
    fn read() -> anyhow::Result<HostAccounts> {
        let read = |name: &str| {
            let path = Path::new("/etc").join(name);
            fs::read_to_string(&path).with_context(|| {
                format!(
                    "reading {} (a lab node's accounts are a copy of the host's)",
                    path.display()
                )
            })
        };
        Ok(HostAccounts {
            passwd: read("passwd")?,
            group: read("group")?,
            shadow: read("shadow")?,
            hosts: read("hosts")?,
            shadow_gid: fs::metadata("/etc/shadow")
                .context("reading /etc/shadow's owner")?
                .gid(),
        })
    }
}

/// A node's account files: the host's, minus entries named like a lab user, plus the lab users.
#[derive(Debug)]
struct Accounts {
    passwd: String,
    group: String,
    shadow: String,
    /// The sudoers drop-in, when some user has a rule.
    sudoers: Option<String>,
    /// Each user's uid (= gid), in the order given.
    uids: Vec<u32>,
}

fn render_accounts(host: &HostAccounts, users: &[NodeUser], shell: &str) -> Accounts {
    let ours = |line: &str| {
        users
            .iter()
            .any(|u| line.split(':').next() == Some(&u.name))
    };
    let keep = |text: &str| {
        let mut kept: String = text
            .lines()
            .filter(|l| !ours(l))
            .flat_map(|l| [l, "\n"])
            .collect();
        if kept.is_empty() {
            kept.push('\n');
        }
        kept
    };
    let ids = |text: &str| -> BTreeSet<u32> {
        text.lines()
            .filter_map(|l| l.split(':').nth(2)?.parse().ok())
            .collect()
    };
    let mut taken = ids(&host.passwd);
    taken.extend(ids(&host.group));
    let (mut passwd, mut group, mut shadow) =
        (keep(&host.passwd), keep(&host.group), keep(&host.shadow));
    let mut sudoers =
        String::from("# breakglass lab (src/lab/netns/users.rs): the lab users' rules.\n");
    let mut uids = Vec::new();
    let mut next = FIRST_USER_ID;
    for user in users {
        while taken.contains(&next) {
            next += 1;
        }
        let (name, uid) = (&user.name, next);
        taken.insert(uid);
        uids.push(uid);
        let _ = writeln!(
            passwd,
            "{name}:x:{uid}:{uid}:breakglass lab user:{NODE_HOMES}/{name}:{shell}"
        );
        let _ = writeln!(group, "{name}:x:{uid}:");
        // `*`: no password can match, yet the account is not locked (`!`), which sshd without
        // PAM would refuse even for a key. Empty aging fields: the password never expires.
        let _ = writeln!(shadow, "{name}:*:::::::");
        match user.sudo {
            Sudo::Never => {}
            Sudo::WithPassword => {
                let _ = writeln!(sudoers, "{name} ALL=(ALL) ALL");
            }
            Sudo::Passwordless => {
                let _ = writeln!(sudoers, "{name} ALL=(ALL) NOPASSWD: ALL");
            }
        }
    }
    Accounts {
        passwd,
        group,
        shadow,
        sudoers: users
            .iter()
            .any(|u| u.sudo != Sudo::Never)
            .then_some(sudoers),
        uids,
    }
}

/// A name `useradd` would accept without `--badname`, other than root.
fn check_user_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let valid = name.len() <= 32
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !valid {
        bail!(
            "lab user name {name:?} is not a login name: use [a-z_][a-z0-9_-]*, at most 32 \
             characters"
        );
    }
    if name == "root" {
        bail!("root already logs in to every lab node; lab users are the non-root logins");
    }
    Ok(())
}

/// `sudo` where sshd's PATH finds it, and `/etc/sudoers` reading `/etc/sudoers.d` (where the
/// nodes' rules are mounted).
fn check_sudo_installed() -> anyhow::Result<()> {
    if !["/usr/bin/sudo", "/bin/sudo"]
        .iter()
        .any(|p| Path::new(p).is_file())
    {
        bail!(
            "lab users with a sudo rule need sudo on this machine: apt-get install -y sudo \
             (.ci/install-deps installs it)"
        );
    }
    let sudoers = fs::read_to_string("/etc/sudoers").context("reading /etc/sudoers")?;
    let includes = sudoers.lines().any(|l| {
        matches!(
            l.split_whitespace().collect::<Vec<_>>()[..],
            ["@includedir" | "#includedir", "/etc/sudoers.d"]
        )
    });
    if !includes || !Path::new("/etc/sudoers.d").is_dir() {
        bail!(
            "/etc/sudoers does not read /etc/sudoers.d (no `@includedir /etc/sudoers.d` line), \
             where the lab mounts its nodes' sudo rules; restore Debian's /etc/sudoers"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_users_replace_same_named_entries_and_take_free_ids() {
        let host = HostAccounts {
            passwd: "root:x:0:0:root:/root:/bin/bash\noperator:x:11:0::/root:/sbin/nologin\n\
                     a:x:2000:2000::/home/a:/bin/sh"
                .to_owned(),
            group: "root:x:0:\noperator:x:11:\ng:x:2001:\n".to_owned(),
            shadow: "root:*:19000:0:99999:7:::\noperator:!:19000::::::\n".to_owned(),
            hosts: String::new(),
            shadow_gid: 42,
        };
        let users = [
            NodeUser::new("operator", Sudo::Passwordless),
            NodeUser::new("nopass", Sudo::WithPassword),
            NodeUser::new("plain", Sudo::Never),
        ];
        let a = render_accounts(&host, &users, "/bin/bash");
        // 2000 is a host uid and 2001 a host gid.
        assert_eq!(a.uids, [2002, 2003, 2004]);
        assert_eq!(
            a.passwd,
            "root:x:0:0:root:/root:/bin/bash\na:x:2000:2000::/home/a:/bin/sh\n\
             operator:x:2002:2002:breakglass lab user:/run/breakglass-lab/home/operator:/bin/bash\n\
             nopass:x:2003:2003:breakglass lab user:/run/breakglass-lab/home/nopass:/bin/bash\n\
             plain:x:2004:2004:breakglass lab user:/run/breakglass-lab/home/plain:/bin/bash\n"
        );
        assert_eq!(
            a.group,
            "root:x:0:\ng:x:2001:\noperator:x:2002:\nnopass:x:2003:\nplain:x:2004:\n"
        );
        assert_eq!(
            a.shadow,
            "root:*:19000:0:99999:7:::\noperator:*:::::::\nnopass:*:::::::\nplain:*:::::::\n"
        );
        let rules = a.sudoers.expect("rules");
        let rules: Vec<&str> = rules.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            rules,
            ["operator ALL=(ALL) NOPASSWD: ALL", "nopass ALL=(ALL) ALL"]
        );
        let only_plain = render_accounts(&host, &users[2..], "/bin/sh");
        assert!(only_plain.sudoers.is_none(), "{only_plain:?}");
    }

    #[test]
    fn lab_user_names_are_login_names_and_not_root() {
        for ok in ["operator", "_svc", "ops-2", "a"] {
            check_user_name(ok).expect(ok);
        }
        for bad in ["", "Operator", "2ops", "a b", "a:b", "a.b", &"x".repeat(33)] {
            assert!(check_user_name(bad).is_err(), "{bad:?}");
        }
        let root = check_user_name("root").expect_err("root");
        assert!(root.to_string().contains("non-root"), "{root}");
    }
}
