//! Public-key authentication for one session: ssh-agent's keys first (with `use_agent` and
//! `SSH_AUTH_SOCK` set), then each identity file in order, signed in process or by libssh2
//! (`identity.rs` parses the files once per run and decides). Every key tried, and why it did
//! not work, ends up in the `Outcome::AuthFailed` reason.
//!
//! Nothing here prompts: a key protected by a passphrase is skipped, with the hint to load it
//! into ssh-agent.

use std::path::{Path, PathBuf};

use ssh2::Session;

use super::connect::{
    Attempt, LIBSSH2_ERROR_FILE, Phase, arm, classify, is_transport, session_code,
};
use super::identity::{self, Identity};
use super::{Outcome, SshOptions, SshTarget};

/// Where ssh-agent listens when `use_agent` is on, read once per attempt. libssh2 would read
/// `SSH_AUTH_SOCK` itself; passing it explicitly lets tests use an agent of their own.
pub(super) fn agent_socket(opts: &SshOptions) -> Option<PathBuf> {
    if !opts.use_agent {
        return None;
    }
    std::env::var_os("SSH_AUTH_SOCK")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
}

/// Agent keys first (when asked and `SSH_AUTH_SOCK` is set), then each identity file in order.
pub(super) fn authenticate(
    session: &Session,
    target: &SshTarget,
    at: &Attempt<'_>,
) -> Result<(), Outcome> {
    let deadline = at.deadline;
    let user = target.user.as_str();
    let mut tried: Vec<String> = Vec::new();
    // A dropped connection after some keys were refused is sshd's MaxAuthTries, not a network
    // fault: report it as the auth failure it is.
    let fatal = |e: &ssh2::Error, tried: &[String]| {
        let outcome = classify(e, Phase::Connect, deadline, "authentication");
        match outcome {
            Outcome::Unreachable { reason } if !tried.is_empty() => Outcome::AuthFailed {
                reason: format!("{reason} (after trying {})", tried.join(", ")),
            },
            other => other,
        }
    };

    if let Some(socket) = &at.agent {
        arm(session, deadline, Phase::Connect)?;
        match agent_auth(session, user, socket, &mut tried) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => return Err(fatal(&e, &tried)),
        }
    }

    for path in &at.opts.identity_files {
        let result = match at.opts.keys.get(path) {
            Identity::InProcess(key) => {
                arm(session, deadline, Phase::Connect)?;
                identity::userauth(session, user, &key)
            }
            Identity::Locked => {
                tried.push(format!(
                    "{} (protected by a passphrase: load it into ssh-agent)",
                    path.display()
                ));
                continue;
            }
            Identity::Libssh2 => {
                arm(session, deadline, Phase::Connect)?;
                // As OpenSSH does, offer the public key from `KEY.pub` when it exists: without
                // it libssh2 derives the public key from the private one, which costs as much
                // CPU as the signature itself (bench/fanout, BENCHMARKS.md).
                let public = public_key_file(path);
                session.userauth_pubkey_file(user, public.as_deref(), path, None)
            }
        };
        match result {
            Ok(()) if session.authenticated() => return Ok(()),
            Err(e) if is_transport(&e) => return Err(fatal(&e, &tried)),
            Err(e) if session_code(&e) == LIBSSH2_ERROR_FILE => tried.push(format!(
                "{} (unreadable, or protected by a passphrase: load it into ssh-agent)",
                path.display()
            )),
            // Refused, or accepted without completing auth (a second factor we cannot give).
            Ok(()) | Err(_) => tried.push(path.display().to_string()),
        }
    }

    let reason = if tried.is_empty() {
        "no key to offer: ssh-agent is not in use (SSH_AUTH_SOCK unset or --no-agent) and no \
         identity file was given"
            .to_owned()
    } else {
        format!(
            "{user} was refused with every key tried: {}",
            tried.join(", ")
        )
    };
    Err(Outcome::AuthFailed { reason })
}

/// `KEY.pub` next to the identity file `KEY`, if it is a readable file.
fn public_key_file(private: &Path) -> Option<PathBuf> {
    let mut name = private.as_os_str().to_owned();
    name.push(".pub");
    let public = PathBuf::from(name);
    std::fs::File::open(&public)
        .and_then(|f| f.metadata())
        .is_ok_and(|m| m.is_file())
        .then_some(public)
}

/// Offers each agent key; Ok(true) once one is accepted. An agent that cannot be reached or
/// refuses to sign is noted in `tried` (the key files may still work); only a failure of the SSH
/// connection itself is an error.
fn agent_auth(
    session: &Session,
    user: &str,
    socket: &Path,
    tried: &mut Vec<String>,
) -> Result<bool, ssh2::Error> {
    let note = |tried: &mut Vec<String>, e: &ssh2::Error| {
        tried.push(format!(
            "ssh-agent at {} ({})",
            socket.display(),
            e.message()
        ));
    };
    let identities = session.agent().and_then(|mut agent| {
        agent.set_identity_path(socket)?;
        agent.connect()?;
        agent.list_identities()?;
        let identities = agent.identities()?;
        Ok((agent, identities))
    });
    let (mut agent, identities) = match identities {
        Ok(found) => found,
        Err(e) => {
            note(tried, &e);
            return Ok(false);
        }
    };
    if identities.is_empty() {
        tried.push(format!("ssh-agent at {} (no keys)", socket.display()));
    }
    let mut result = Ok(false);
    for identity in identities {
        match agent.userauth(user, &identity) {
            Ok(()) => {
                result = Ok(true);
                break;
            }
            Err(e) if is_transport(&e) => {
                result = Err(e);
                break;
            }
            Err(_) => tried.push(format!("ssh-agent key {:?}", identity.comment())),
        }
    }
    let _ = agent.disconnect();
    result
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::process::Command;
    use std::thread;
    use std::time::{Duration, Instant};

    use crate::lab::sshd::SshdLab;
    use crate::transport::ssh::connection::exec_with;
    use crate::transport::ssh::exec;
    use crate::transport::ssh::fixture::Fixture;

    use super::*;

    #[test]
    fn wrong_or_missing_key_is_auth_failed_naming_the_keys() {
        let fx = Fixture::new();
        let wrong = fx.lab.new_key("wrong_key").expect("key");
        let missing = fx.lab.dir().join("no_such_key");
        let mut opts = fx.opts();
        opts.identity_files = vec![wrong.private.clone(), missing.clone()];
        let r = exec(&fx.target(), &opts, "true", None);
        let Outcome::AuthFailed { reason } = &r.outcome else {
            panic!("{r:?}");
        };
        assert!(
            reason.contains(&wrong.private.display().to_string()),
            "{reason}"
        );
        assert!(reason.contains("no_such_key (unreadable"), "{reason}");
        opts.identity_files.clear();
        let r = exec(&fx.target(), &opts, "true", None);
        assert!(
            matches!(&r.outcome, Outcome::AuthFailed { reason } if reason.contains("no key")),
            "{r:?}"
        );
    }

    /// The lab's Ed25519 key is signed in process; an RSA key goes through libssh2, with or
    /// without its `KEY.pub`; a passphrase-protected key is not offered (there is no passphrase
    /// to give) and the failure says why.
    #[test]
    fn each_kind_of_key_file_authenticates_or_says_why_not() {
        let fx = Fixture::new();
        let keygen = |name: &str, args: &[&str]| {
            let key = fx.lab.new_key_of(name, args).expect(name);
            fx.lab.authorize(&key).expect("authorize");
            key.private
        };
        let rsa = keygen("rsa", &["-t", "rsa", "-b", "2048", "-N", ""]);
        let locked = keygen("locked", &["-t", "ed25519", "-N", "secret"]);
        let mut opts = fx.opts();
        assert!(matches!(
            opts.keys.get(fx.lab.client_key()),
            Identity::InProcess(_)
        ));
        assert!(matches!(opts.keys.get(&rsa), Identity::Libssh2));
        assert!(matches!(opts.keys.get(&locked), Identity::Locked));

        let r = exec(&fx.target(), &opts, "true", None);
        assert_eq!(r.outcome, Outcome::Ok, "Ed25519 in process: {r:?}");

        assert_eq!(public_key_file(&rsa), Some(rsa.with_extension("pub")));
        opts.identity_files = vec![locked.clone(), rsa.clone()];
        let r = exec(&fx.target(), &opts, "true", None);
        assert_eq!(r.outcome, Outcome::Ok, "RSA with KEY.pub: {r:?}");
        // The same private key alone: libssh2 derives the public key.
        let alone = fx.lab.dir().join("alone");
        fs::copy(&rsa, &alone).expect("copy key");
        assert_eq!(public_key_file(&alone), None);
        opts.identity_files = vec![alone];
        let r = exec(&fx.target(), &opts, "true", None);
        assert_eq!(r.outcome, Outcome::Ok, "RSA without KEY.pub: {r:?}");

        opts.identity_files = vec![locked];
        let r = exec(&fx.target(), &opts, "true", None);
        assert!(
            matches!(&r.outcome, Outcome::AuthFailed { reason }
                if reason.contains("locked (protected by a passphrase: load it into ssh-agent)")),
            "{r:?}"
        );
    }

    /// A real `ssh-agent` in the foreground, holding `key`; killed and reaped on drop.
    struct Agent {
        child: std::process::Child,
        socket: PathBuf,
    }

    impl Agent {
        fn start(lab: &SshdLab, key: &Path) -> Agent {
            let socket = lab.dir().join("agent.sock");
            let child = Command::new("ssh-agent")
                .arg("-D")
                .arg("-a")
                .arg(&socket)
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("ssh-agent (apt-get install openssh-client)");
            let agent = Agent { child, socket };
            let started = Instant::now();
            while !agent.socket.exists() {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "ssh-agent did not start"
                );
                thread::sleep(Duration::from_millis(10));
            }
            let added = Command::new("ssh-add")
                .arg(key)
                .env("SSH_AUTH_SOCK", &agent.socket)
                .output()
                .expect("ssh-add");
            assert!(added.status.success(), "{added:?}");
            agent
        }
    }

    impl Drop for Agent {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[test]
    fn agent_keys_are_offered_first_and_a_dead_agent_falls_back_to_files() {
        let fx = Fixture::new();
        let agent = Agent::start(&fx.lab, fx.lab.client_key());
        let mut opts = fx.opts();
        opts.use_agent = true;
        opts.identity_files.clear();
        let r = exec_with(
            &fx.target(),
            &opts,
            "true",
            None,
            Some(agent.socket.clone()),
        );
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");

        // An agent socket nobody listens on: noted, then the key file works.
        let dead = fx.lab.dir().join("dead.sock");
        let r = exec_with(&fx.target(), &opts, "true", None, Some(dead.clone()));
        let Outcome::AuthFailed { reason } = &r.outcome else {
            panic!("{r:?}");
        };
        assert!(reason.contains("ssh-agent at"), "{reason}");
        opts.identity_files = vec![fx.lab.client_key().to_path_buf()];
        let r = exec_with(&fx.target(), &opts, "true", None, Some(dead));
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    }
}
