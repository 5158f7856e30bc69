//! The operator's journal key: an Ed25519 key pair (ring) that signs every run's `head`, so a
//! journal rewritten by someone without the key (its records rehashed, records cut from the end,
//! or the whole run replaced) no longer verifies. A hash chain alone cannot give that: anyone can
//! recompute SHA-256.
//!
//! The key is created on first use, 0600 in a 0700 directory outside the journal directory
//! (`$BREAKGLASS_JOURNAL_KEY`, else `$XDG_CONFIG_HOME/breakglass/journal-key.pk8`, else
//! `~/.config/breakglass/journal-key.pk8`): whoever can write the journal directory must not be
//! able to read it. A key file readable or writable by others, or not owned by the invoking user,
//! is refused. Which signers to trust is [`Trust`]: the operator's own key, and the public keys
//! listed in `trusted-journal-keys` beside it (one `BASE64 comment` per line: a colleague's, or
//! root's and the engineer's own on a shared bastion).
//!
//! It signs and checks; it must not decide what a head holds (`head.rs`) nor read records.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use sha2::{Digest, Sha256};

use super::error::{JournalError, io};

/// The file that lists the other signers an operator trusts, beside the key.
const TRUSTED_FILE: &str = "trusted-journal-keys";

/// Where the key lives when `$BREAKGLASS_JOURNAL_KEY` does not say.
pub fn default_key_path() -> PathBuf {
    key_path_from(
        std::env::var_os("BREAKGLASS_JOURNAL_KEY"),
        std::env::var_os("XDG_CONFIG_HOME"),
        std::env::var_os("HOME"),
    )
}

fn key_path_from(
    explicit: Option<OsString>,
    xdg_config_home: Option<OsString>,
    home: Option<OsString>,
) -> PathBuf {
    let absolute = |v: Option<OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(path) = explicit
        .map(PathBuf::from)
        .filter(|p| !p.as_os_str().is_empty())
    {
        path
    } else if let Some(config) = absolute(xdg_config_home) {
        config.join("breakglass").join("journal-key.pk8")
    } else if let Some(home) = absolute(home) {
        home.join(".config/breakglass/journal-key.pk8")
    } else {
        PathBuf::from(".breakglass/journal-key.pk8")
    }
}

/// The invoking operator's key (created on first use at [`default_key_path`]) and whom they
/// trust. A key inside the journal directory `root` is refused: whoever can write runs there
/// could read it.
pub fn operator_key(root: &Path) -> Result<(Arc<OperatorKey>, Trust), JournalError> {
    let path = default_key_path();
    let inside = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let parent = path.parent().map(inside).unwrap_or_default();
    if parent.starts_with(inside(root)) {
        return Err(JournalError::Key {
            reason: format!(
                "it is inside the journal directory {}, where whoever can write runs could read \
                 it. Fix: point BREAKGLASS_JOURNAL_KEY outside it",
                root.display()
            ),
            path,
        });
    }
    let key = Arc::new(OperatorKey::load_or_create(&path)?);
    let trust = Trust::load(&key)?;
    Ok((key, trust))
}

/// An Ed25519 public key as the head and the trust file write it: standard base64 of its 32
/// bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    pub fn parse(text: &str) -> Option<PublicKey> {
        let bytes = STANDARD.decode(text.trim()).ok()?;
        Some(PublicKey(bytes.try_into().ok()?))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// `SHA256:...` of the key, as `ssh-keygen -l` writes fingerprints.
    pub fn fingerprint(&self) -> String {
        format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(self.0)))
    }

    /// Whether `signature` is this key's over `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, self.0)
            .verify(message, signature)
            .is_ok()
    }
}

/// The operator's signing key, loaded (or created) once per process.
pub struct OperatorKey {
    pair: Ed25519KeyPair,
    path: PathBuf,
}

impl std::fmt::Debug for OperatorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "OperatorKey({}, {})",
            self.path.display(),
            self.public().fingerprint()
        )
    }
}

impl OperatorKey {
    /// Loads the key at `path`, creating it (and its directory, 0700) when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<OperatorKey, JournalError> {
        let bad = |reason: String| JournalError::Key {
            path: path.to_path_buf(),
            reason,
        };
        let rng = SystemRandom::new();
        let bytes = match std::fs::symlink_metadata(path) {
            Ok(meta) => {
                check_private(path, &meta).map_err(bad)?;
                std::fs::read(path).map_err(io(path))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(dir)
                        .map_err(io(dir))?;
                }
                let doc = Ed25519KeyPair::generate_pkcs8(&rng)
                    .map_err(|_| bad("the system's random source failed".to_owned()))?;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(io(path))?;
                file.write_all(doc.as_ref())
                    .and_then(|()| file.sync_all())
                    .map_err(io(path))?;
                doc.as_ref().to_vec()
            }
            Err(e) => return Err(io(path)(e)),
        };
        let pair = Ed25519KeyPair::from_pkcs8(&bytes).map_err(|_| {
            bad(
                "it is not an Ed25519 key (PKCS#8) that breakglass wrote; move it away and \
                 a new one is made on next use (runs it signed then verify only where its \
                 public key is trusted)"
                    .to_owned(),
            )
        })?;
        Ok(OperatorKey {
            pair,
            path: path.to_path_buf(),
        })
    }

    /// A key that lives only in memory (tests).
    #[cfg(test)]
    pub fn ephemeral() -> OperatorKey {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("random");
        OperatorKey {
            pair: Ed25519KeyPair::from_pkcs8(doc.as_ref()).expect("pkcs8"),
            path: PathBuf::from("(memory)"),
        }
    }

    /// The same in-memory key in every test process (a test that appends from a child process
    /// must sign with the key its parent trusts).
    #[cfg(test)]
    pub fn for_tests() -> Arc<OperatorKey> {
        static KEY: std::sync::OnceLock<Arc<OperatorKey>> = std::sync::OnceLock::new();
        Arc::clone(KEY.get_or_init(|| {
            Arc::new(OperatorKey {
                pair: Ed25519KeyPair::from_seed_unchecked(&[7; 32]).expect("seed"),
                path: PathBuf::from("(tests)"),
            })
        }))
    }

    pub fn public(&self) -> PublicKey {
        let mut key = [0; 32];
        key.copy_from_slice(self.pair.public_key().as_ref());
        PublicKey(key)
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }

    /// The key file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The signers whose runs `resume`, `undo`, `confirm` and `journal verify` accept.
#[derive(Debug, Clone)]
pub struct Trust {
    own: PublicKey,
    /// Other trusted keys with the comment their line gave.
    others: Vec<(PublicKey, String)>,
    /// Where more are listed (for the message that says how to trust a key).
    file: PathBuf,
}

impl Trust {
    /// The operator's own key and the keys listed in `trusted-journal-keys` beside it.
    pub fn load(key: &OperatorKey) -> Result<Trust, JournalError> {
        let file = key
            .path()
            .parent()
            .unwrap_or(Path::new("."))
            .join(TRUSTED_FILE);
        let mut others = Vec::new();
        match std::fs::symlink_metadata(&file) {
            Ok(meta) => {
                check_not_writable(&file, &meta).map_err(|reason| JournalError::Key {
                    path: file.clone(),
                    reason,
                })?;
                let text = std::fs::read_to_string(&file).map_err(io(&file))?;
                for (n, line) in text.lines().enumerate() {
                    let line = line.trim();
                    if line.is_empty() || line.starts_with('#') {
                        continue;
                    }
                    let (b64, comment) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
                    let key = PublicKey::parse(b64).ok_or_else(|| JournalError::Key {
                        path: file.clone(),
                        reason: format!(
                            "line {}: not a base64 Ed25519 public key (32 bytes) and a comment",
                            n + 1
                        ),
                    })?;
                    others.push((key, comment.trim().to_owned()));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&file)(e)),
        }
        Ok(Trust {
            own: key.public(),
            others,
            file,
        })
    }

    /// Trusting only [`OperatorKey::for_tests`].
    #[cfg(test)]
    pub fn for_tests() -> Trust {
        Trust::only(&OperatorKey::for_tests())
    }

    /// Trusting only `key` (tests).
    #[cfg(test)]
    pub fn only(key: &OperatorKey) -> Trust {
        Trust {
            own: key.public(),
            others: Vec::new(),
            file: PathBuf::from("(none)"),
        }
    }

    /// `your key SHA256:...`, `trusted key SHA256:... (comment)`, or `Err` naming the key and
    /// how to trust it.
    pub fn describe(&self, signer: &PublicKey) -> Result<String, String> {
        if *signer == self.own {
            return Ok(format!("your key {}", signer.fingerprint()));
        }
        if let Some((_, comment)) = self.others.iter().find(|(k, _)| k == signer) {
            return Ok(format!("trusted key {} ({comment})", signer.fingerprint()));
        }
        Err(format!(
            "its head is signed by key {} ({}), which is neither yours nor listed in {}. If that \
             is a colleague's key, add the line `{} NAME` to that file",
            signer.fingerprint(),
            signer.to_base64(),
            self.file.display(),
            signer.to_base64()
        ))
    }
}

/// The key file: a regular file of the invoking user, readable by no one else.
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    if !meta.file_type().is_file() {
        return Err(
            "it is not a regular file (a symlink or a device?); it must be the key file itself"
                .to_owned(),
        );
    }
    owned_by_us(meta)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "it is readable or writable by group or others (mode {mode:04o}): whoever can read \
             it can sign a forged journal. Fix: chmod 600 {}, and consider the key compromised",
            path.display()
        ));
    }
    Ok(())
}

/// The trust file: anyone who can write it can trust their own key.
fn check_not_writable(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    owned_by_us(meta)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "it is writable by group or others (mode {mode:04o}). Fix: chmod go-w {}",
            path.display()
        ));
    }
    Ok(())
}

/// Owned by the invoking (effective) user or by root.
pub(super) fn owned_by_us(meta: &std::fs::Metadata) -> Result<(), String> {
    let me = rustix::process::geteuid().as_raw();
    let uid = meta.uid();
    if uid == me || uid == 0 {
        Ok(())
    } else {
        Err(format!(
            "it is owned by uid {uid}, neither you (uid {me}) nor root; whoever owns it can \
             replace what it holds. Fix: check what changed, then `chown {me}` it"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_prefer_the_explicit_one_then_xdg_config_home() {
        assert_eq!(
            key_path_from(Some("/k".into()), Some("/c".into()), Some("/h".into())),
            PathBuf::from("/k")
        );
        assert_eq!(
            key_path_from(None, Some("/c".into()), Some("/h".into())),
            PathBuf::from("/c/breakglass/journal-key.pk8")
        );
        assert_eq!(
            key_path_from(None, Some("rel".into()), Some("/h".into())),
            PathBuf::from("/h/.config/breakglass/journal-key.pk8")
        );
    }

    #[test]
    fn the_key_is_created_private_on_first_use_and_refused_when_others_can_read_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("conf/breakglass/journal-key.pk8");
        let key = OperatorKey::load_or_create(&path).expect("created");
        let meta = std::fs::metadata(&path).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let dir = std::fs::metadata(path.parent().expect("dir")).expect("dir meta");
        assert_eq!(dir.permissions().mode() & 0o777, 0o700);
        let again = OperatorKey::load_or_create(&path).expect("loaded");
        assert_eq!(again.public(), key.public());
        let sig = key.sign(b"m");
        assert!(key.public().verifies(b"m", &sig));
        assert!(!key.public().verifies(b"n", &sig));

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = OperatorKey::load_or_create(&path).expect_err("readable by others");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn trust_is_the_own_key_and_the_listed_ones() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let key = OperatorKey::load_or_create(&tmp.path().join("k.pk8")).expect("key");
        let other = OperatorKey::ephemeral();
        let trust = Trust::load(&key).expect("trust");
        assert!(
            trust
                .describe(&key.public())
                .expect("own")
                .starts_with("your key SHA256:")
        );
        let err = trust.describe(&other.public()).expect_err("stranger");
        assert!(err.contains(TRUSTED_FILE), "{err}");
        std::fs::write(
            tmp.path().join(TRUSTED_FILE),
            format!(
                "# colleagues\n{} alice@bastion\n",
                other.public().to_base64()
            ),
        )
        .expect("write");
        let trust = Trust::load(&key).expect("trust");
        assert!(
            trust
                .describe(&other.public())
                .expect("listed")
                .ends_with("(alice@bastion)")
        );
    }
}
