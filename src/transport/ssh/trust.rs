//! Host-key trust for one session, right after the handshake: the fingerprint pinned in the
//! inventory when there is one, else `known_hosts`. `known_hosts.rs` owns the file and its
//! lookups; this decides what a lookup means for the session, and turns a refusal into an
//! `Outcome::HostKeyRefused` that says what to do next.
//!
//! Fail closed: an unknown key is recorded only with `--accept-new-host-keys`, and a changed or
//! revoked key is refused regardless. Nothing here prompts.

use ssh2::Session;

use super::connect::Probe;
use super::known_hosts::{HostKeyStatus, Recorded, fingerprint, fingerprints_equal, host_pattern};
use super::{Outcome, SshOptions, SshTarget};

/// Pinned fingerprint if the inventory has one, else `known_hosts`; unknown keys are recorded
/// only with `accept_new_host_keys`, and a changed or revoked key is refused regardless.
pub(super) fn verify_host_key(
    session: &Session,
    target: &SshTarget,
    opts: &SshOptions,
    probe: &mut Probe,
) -> Result<(), Outcome> {
    let Some((blob, _)) = session.host_key() else {
        return Err(Outcome::Error {
            reason: "the server presented no host key".to_owned(),
        });
    };
    let presented = fingerprint(blob);
    probe.host_key = Some(presented.clone());
    let (ip, port) = (target.addr.ip(), target.addr.port());

    if let Some(pinned) = &target.host_key {
        if fingerprints_equal(pinned, &presented) {
            return Ok(());
        }
        return Err(Outcome::HostKeyRefused {
            reason: "host key does not match the fingerprint pinned in the inventory; if the \
                     node was rebuilt, verify its new key out of band and update the inventory"
                .to_owned(),
            expected: Some(pinned.clone()),
            presented,
        });
    }

    let known_hosts = &opts.known_hosts;
    let file = known_hosts
        .path()
        .map_or_else(|| "known_hosts".to_owned(), |p| p.display().to_string());
    let changed = |expected: Vec<String>, presented: String| Outcome::HostKeyRefused {
        reason: format!(
            "host key changed: {file} has a different key for {host}; if the change is expected, \
             verify the new key out of band and run: ssh-keygen -R '{host}' -f {file}",
            host = host_pattern(ip, port)
        ),
        expected: Some(expected.join(", ")),
        presented,
    };
    match known_hosts.lookup(ip, port, blob) {
        HostKeyStatus::Match => Ok(()),
        HostKeyStatus::Mismatch { expected } => Err(changed(expected, presented)),
        HostKeyStatus::Revoked => Err(Outcome::HostKeyRefused {
            reason: format!("host key is marked @revoked in {file}"),
            expected: None,
            presented,
        }),
        HostKeyStatus::NotFound if !opts.accept_new_host_keys => Err(Outcome::HostKeyRefused {
            reason: format!(
                "host key is not in {file}: verify it out of band and add it, pin it in the \
                 inventory, or rerun with --accept-new-host-keys"
            ),
            expected: None,
            presented,
        }),
        HostKeyStatus::NotFound => match known_hosts.record(ip, port, blob) {
            Ok(Recorded::Added { .. }) => {
                probe.recorded.push(presented);
                Ok(())
            }
            // Another session to the same host recorded this key after our lookup: it reports
            // the recording, we just trust it.
            Ok(Recorded::Existing(HostKeyStatus::Match)) => Ok(()),
            Ok(Recorded::Existing(HostKeyStatus::Mismatch { expected })) => {
                Err(changed(expected, presented))
            }
            Ok(Recorded::Existing(_)) => Err(Outcome::HostKeyRefused {
                reason: format!("host key is marked @revoked in {file}"),
                expected: None,
                presented,
            }),
            Err(e) => Err(Outcome::Error {
                reason: format!("{e:#}"),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::process::Command;
    use std::thread;

    use crate::transport::ssh::fixture::{Fixture, LOCALHOST, opts};
    use crate::transport::ssh::{ExecResult, exec};

    use super::*;

    #[test]
    fn unknown_host_key_is_refused_by_default() {
        let fx = Fixture::new();
        fs::write(&fx.known_hosts, "").expect("empty known_hosts");
        let r = fx.exec("true");
        assert_eq!(
            r.outcome,
            Outcome::HostKeyRefused {
                reason: r.outcome_reason(),
                expected: None,
                presented: fx.lab.host_key_fingerprint().to_owned(),
            }
        );
        assert!(r.outcome_reason().contains("accept-new-host-keys"));
        assert_eq!(fs::read_to_string(&fx.known_hosts).expect("read"), "");
    }

    #[test]
    fn changed_host_key_is_refused_even_with_accept_new() {
        let fx = Fixture::new();
        let old = fx.lab.new_key("old_host_key").expect("key");
        fs::write(
            &fx.known_hosts,
            old.known_hosts_line(LOCALHOST, fx.sshd.port()),
        )
        .expect("write");
        for accept_new in [false, true] {
            let mut opts = fx.opts();
            opts.accept_new_host_keys = accept_new;
            let r = exec(&fx.target(), &opts, "true", None);
            let Outcome::HostKeyRefused {
                reason,
                expected,
                presented,
            } = &r.outcome
            else {
                panic!("{r:?}");
            };
            assert_eq!(expected.as_deref(), Some(old.fingerprint.as_str()));
            assert_eq!(presented, fx.lab.host_key_fingerprint());
            assert!(reason.contains("changed"), "{reason}");
            assert_eq!(r.recorded_host_key, None);
        }
    }

    #[test]
    fn accept_new_records_a_line_a_fresh_load_matches() {
        let fx = Fixture::new();
        let path = fx.lab.dir().join("new/dir/known_hosts");
        let mut opts = opts(&fx.lab, &path);
        opts.accept_new_host_keys = true;
        let r = exec(&fx.target(), &opts, "true", None);
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        assert_eq!(
            r.recorded_host_key.as_deref(),
            Some(fx.lab.host_key_fingerprint())
        );
        let written = fs::read_to_string(&path).expect("recorded");
        assert_eq!(
            written,
            format!("{}\n", fx.lab.known_hosts_line(LOCALHOST, fx.sshd.port()))
        );
        // The same store now knows it: nothing recorded twice.
        let r = exec(&fx.target(), &opts, "true", None);
        assert_eq!((r.outcome, r.recorded_host_key), (Outcome::Ok, None));
        // And a later run, without accept-new, trusts it.
        let r = exec(&fx.target(), &self::opts(&fx.lab, &path), "true", None);
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    }

    #[test]
    fn parallel_sessions_to_a_new_host_record_it_once() {
        let fx = Fixture::new();
        fs::write(&fx.known_hosts, "").expect("empty");
        let mut opts = fx.opts();
        opts.accept_new_host_keys = true;
        let target = fx.target();
        let results: Vec<ExecResult> = thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| exec(&target, &opts, "true", None)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        assert!(
            results.iter().all(|r| r.outcome == Outcome::Ok),
            "{results:?}"
        );
        let written = fs::read_to_string(&fx.known_hosts).expect("read");
        assert_eq!(written.lines().count(), 1, "{written}");
        assert_eq!(
            results
                .iter()
                .filter(|r| r.recorded_host_key.is_some())
                .count(),
            1
        );
    }

    #[test]
    fn hashed_known_hosts_entry_matches() {
        let fx = Fixture::new();
        let out = Command::new("ssh-keygen")
            .arg("-H")
            .arg("-f")
            .arg(&fx.known_hosts)
            .output()
            .expect("ssh-keygen -H");
        assert!(out.status.success(), "{out:?}");
        let hashed = fs::read_to_string(&fx.known_hosts).expect("read");
        assert!(hashed.starts_with("|1|"), "{hashed}");
        let r = fx.exec("true");
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    }

    #[test]
    fn revoked_key_is_refused() {
        let fx = Fixture::new();
        let line = fx.lab.known_hosts_line(LOCALHOST, fx.sshd.port());
        let revoked = format!("{line}\n@revoked * {}\n", fx.lab.host_key().public);
        fs::write(&fx.known_hosts, revoked).expect("write");
        let r = fx.exec("true");
        assert!(
            matches!(&r.outcome, Outcome::HostKeyRefused { reason, .. } if reason.contains("revoked")),
            "{r:?}"
        );
    }

    #[test]
    fn pinned_fingerprint_is_the_only_key_accepted() {
        let fx = Fixture::new();
        // Pinned keys do not consult known_hosts: an empty one must not matter.
        fs::write(&fx.known_hosts, "").expect("empty");
        let mut target = fx.target();
        target.host_key = Some(fx.lab.host_key_fingerprint().to_owned());
        let r = exec(&target, &fx.opts(), "true", None);
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");

        let other = fx.lab.new_key("other_host_key").expect("key");
        target.host_key = Some(other.fingerprint.clone());
        let mut opts = fx.opts();
        opts.accept_new_host_keys = true;
        let r = exec(&target, &opts, "true", None);
        let Outcome::HostKeyRefused {
            expected,
            presented,
            ..
        } = &r.outcome
        else {
            panic!("{r:?}");
        };
        assert_eq!(expected.as_deref(), Some(other.fingerprint.as_str()));
        assert_eq!(presented, fx.lab.host_key_fingerprint());
        assert_eq!(fs::read_to_string(&fx.known_hosts).expect("read"), "");
    }

    impl ExecResult {
        fn outcome_reason(&self) -> String {
            match &self.outcome {
                Outcome::Unreachable { reason }
                | Outcome::AuthFailed { reason }
                | Outcome::HostKeyRefused { reason, .. }
                | Outcome::Error { reason } => reason.clone(),
                _ => String::new(),
            }
        }
    }
}
