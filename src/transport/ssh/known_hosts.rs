//! The OpenSSH `known_hosts` trust store, parsed once per run and shared by every session.
//!
//! Format per sshd(8), section `SSH_KNOWN_HOSTS FILE FORMAT`: `[marker] hosts keytype base64 [comment]`,
//! where hosts is a comma-separated list of patterns (`*`, `?`, `!negation`, `[addr]:port` for
//! non-22 ports) or one hashed name `|1|base64(salt)|base64(HMAC-SHA1(salt, host))`. `@revoked`
//! lines are honoured; `@cert-authority` lines are skipped (breakglass does not do host
//! certificates). Lines that cannot be parsed are skipped and counted, as OpenSSH does.
//!
//! Lookups never touch the disk. Recording a new key (`--accept-new-host-keys`) appends one line
//! to the file and updates the in-memory store under the same lock, so parallel sessions to the
//! same new host agree on the first key seen instead of appending duplicates.
//!
//! Stricter than OpenSSH on one point: a host known only under *other* key types is a
//! [`HostKeyStatus::Mismatch`], not unknown, because a node that suddenly presents a different key
//! type is exactly the case trust-on-first-use must not paper over.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::IpAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use anyhow::{Context, anyhow};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// `SHA256:<base64 without padding>` of a public key blob, exactly as `ssh-keygen -lf` prints it.
pub fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob)))
}

/// Whether two fingerprints name the same key, tolerating base64 padding that some inventories
/// copy along (`ssh-keygen` prints none).
pub(crate) fn fingerprints_equal(a: &str, b: &str) -> bool {
    a.trim().trim_end_matches('=') == b.trim().trim_end_matches('=')
}

/// The name a host has in `known_hosts`: `ip` for port 22, `[ip]:port` otherwise (sshd(8)).
pub fn host_pattern(ip: IpAddr, port: u16) -> String {
    if port == 22 {
        ip.to_string()
    } else {
        format!("[{ip}]:{port}")
    }
}

/// The key type named inside an SSH public key blob (RFC 4253 section 6.6: the blob starts with
/// the type as an SSH string).
pub(crate) fn blob_key_type(blob: &[u8]) -> Option<&str> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    std::str::from_utf8(blob.get(4..4usize.checked_add(len)?)?).ok()
}

/// The answer of [`KnownHosts::lookup`] for one presented host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// A line for this host holds exactly this key.
    Match,
    /// The host is known under other keys (fingerprints listed): the key changed.
    Mismatch { expected: Vec<String> },
    /// The key is marked `@revoked` for this host.
    Revoked,
    /// No line names this host.
    NotFound,
}

/// The result of [`KnownHosts::record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The key was appended to the file; the line written (without newline).
    Added { line: String },
    /// Another session decided this host first; the status against what it recorded.
    Existing(HostKeyStatus),
}

/// The OpenSSH `known_hosts` file, loaded once. Cheap to share behind an `Arc`.
pub struct KnownHosts {
    path: Option<PathBuf>,
    store: RwLock<Store>,
}

impl fmt::Debug for KnownHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = self.store.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("KnownHosts")
            .field("path", &self.path)
            .field("entries", &store.entries.len())
            .field("skipped_lines", &store.skipped)
            .finish()
    }
}

/// The largest `known_hosts` read: about 300,000 entries of hashed Ed25519 and ECDSA keys.
pub const MAX_KNOWN_HOSTS_BYTES: u64 = 64 << 20;

impl KnownHosts {
    /// Parses `path`, or `~/.ssh/known_hosts` when `None` (no file at all when `HOME` is unset).
    /// A missing file is an empty store that still records new keys at that path.
    pub fn load(path: Option<PathBuf>) -> anyhow::Result<KnownHosts> {
        let path = path.or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".ssh/known_hosts"))
        });
        let mut store = Store::default();
        if let Some(path) = &path {
            match crate::input::read_bounded(path, MAX_KNOWN_HOSTS_BYTES) {
                Ok(bytes) => {
                    for line in String::from_utf8_lossy(&bytes).lines() {
                        store.add_line(line);
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    return Err(err)
                        .with_context(|| format!("reading known_hosts {}", path.display()));
                }
            }
        }
        Ok(KnownHosts {
            path,
            store: RwLock::new(store),
        })
    }

    /// A store with the given lines and no file behind it (recording fails). For tests and for
    /// keys that come from somewhere other than a file.
    pub fn from_lines(text: &str) -> KnownHosts {
        let mut store = Store::default();
        for line in text.lines() {
            store.add_line(line);
        }
        KnownHosts {
            path: None,
            store: RwLock::new(store),
        }
    }

    /// The file new keys are appended to, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Number of usable lines (keys and revocations) loaded or recorded.
    pub fn len(&self) -> usize {
        self.read().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lines that were neither blank, comments, `@cert-authority`, nor parseable.
    pub fn skipped_lines(&self) -> usize {
        self.read().skipped
    }

    /// Judges the key `blob` presented by `ip:port`.
    pub fn lookup(&self, ip: IpAddr, port: u16, blob: &[u8]) -> HostKeyStatus {
        self.read().lookup(&host_pattern(ip, port), blob)
    }

    /// Key types (`ssh-ed25519`, `ssh-rsa`, ...) known for `ip:port`, in file order without
    /// duplicates, so the handshake can ask for a key type it can verify.
    pub fn key_types(&self, ip: IpAddr, port: u16) -> Vec<String> {
        let host = host_pattern(ip, port);
        let store = self.read();
        let mut types: Vec<String> = Vec::new();
        for entry in store.matching(&host).filter(|e| !e.revoked) {
            if !types.contains(&entry.key_type) {
                types.push(entry.key_type.clone());
            }
        }
        types
    }

    /// Records `blob` as the key of `ip:port` (trust on first use), unless a line for the host
    /// appeared since the caller's lookup: then nothing is written and the status against that
    /// line is returned. The line is appended to the file before the store is updated, so a key
    /// is never trusted in memory without being on disk.
    pub fn record(&self, ip: IpAddr, port: u16, blob: &[u8]) -> anyhow::Result<Recorded> {
        let host = host_pattern(ip, port);
        let mut store = self.store.write().unwrap_or_else(PoisonError::into_inner);
        match store.lookup(&host, blob) {
            HostKeyStatus::NotFound => {}
            other => return Ok(Recorded::Existing(other)),
        }
        let key_type = blob_key_type(blob)
            .ok_or_else(|| anyhow!("host key of {host} is not a valid SSH public key blob"))?;
        let line = format!("{host} {key_type} {}", STANDARD.encode(blob));
        let path = self.path.as_deref().ok_or_else(|| {
            anyhow!("no known_hosts file to record the host key of {host} in (HOME is not set)")
        })?;
        append_line(path, &line)
            .with_context(|| format!("recording the host key of {host} in {}", path.display()))?;
        store.add_line(&line);
        Ok(Recorded::Added { line })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        // A panic while holding the lock cannot leave the store half-updated (entries are pushed
        // whole), so a poisoned lock is still a consistent store.
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Appends `line` to `path`, creating the directory (0700, like `~/.ssh`) and the file, and
/// adding a newline first if the file does not end with one.
fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    let mut text = String::with_capacity(line.len() + 2);
    if !ends_with_newline(&mut file)? {
        text.push('\n');
    }
    text.push_str(line);
    text.push('\n');
    // One write call: with O_APPEND the line lands whole even if another process appends too.
    file.write_all(text.as_bytes())?;
    file.sync_data()
}

fn ends_with_newline(file: &mut File) -> std::io::Result<bool> {
    if file.metadata()?.len() == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

/// Parsed lines. Plain host names are indexed for O(1) lookups (a 1000-node fleet file is read
/// 1000 times per run); wildcard, negated and hashed lines are scanned.
#[derive(Default)]
struct Store {
    entries: Vec<Entry>,
    by_name: HashMap<String, Vec<usize>>,
    scanned: Vec<usize>,
    skipped: usize,
}

struct Entry {
    revoked: bool,
    hosts: Hosts,
    key_type: String,
    blob: Vec<u8>,
}

enum Hosts {
    /// Plain names, found through `Store::by_name`.
    Indexed,
    Patterns(Vec<Pattern>),
    /// `|1|salt|hash`: the HMAC is keyed with the salt once at load, so a lookup costs one
    /// clone and one short HMAC per hashed line.
    Hashed {
        mac: Hmac<Sha1>,
        digest: Vec<u8>,
    },
}

struct Pattern {
    negated: bool,
    glob: String,
}

impl Store {
    fn add_line(&mut self, line: &str) {
        match parse_line(line) {
            Parsed::Nothing => {}
            Parsed::Skipped => self.skipped += 1,
            Parsed::Entry {
                revoked,
                hosts,
                key_type,
                blob,
            } => {
                let index = self.entries.len();
                let hosts = if let Some(hashed) = hosts.strip_prefix("|1|") {
                    let Some((mac, digest)) = parse_hashed(hashed) else {
                        self.skipped += 1;
                        return;
                    };
                    Hosts::Hashed { mac, digest }
                } else {
                    let patterns: Vec<Pattern> = hosts
                        .split(',')
                        .filter(|p| !p.is_empty())
                        .map(|p| {
                            let (negated, glob) = match p.strip_prefix('!') {
                                Some(rest) => (true, rest),
                                None => (false, p),
                            };
                            Pattern {
                                negated,
                                glob: glob.to_ascii_lowercase(),
                            }
                        })
                        .collect();
                    if patterns.is_empty() {
                        self.skipped += 1;
                        return;
                    }
                    let plain = patterns
                        .iter()
                        .all(|p| !p.negated && !p.glob.contains(['*', '?']));
                    if plain {
                        for p in patterns {
                            self.by_name.entry(p.glob).or_default().push(index);
                        }
                        Hosts::Indexed
                    } else {
                        Hosts::Patterns(patterns)
                    }
                };
                if !matches!(hosts, Hosts::Indexed) {
                    self.scanned.push(index);
                }
                self.entries.push(Entry {
                    revoked,
                    hosts,
                    key_type,
                    blob,
                });
            }
        }
    }

    /// Entries whose host field matches `host` (an exact `host_pattern`).
    fn matching<'a>(&'a self, host: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        let indexed = self.by_name.get(host).into_iter().flatten();
        let scanned = self
            .scanned
            .iter()
            .filter(move |&&i| self.entries[i].hosts.matches(host));
        indexed.chain(scanned).map(|&i| &self.entries[i])
    }

    fn lookup(&self, host: &str, blob: &[u8]) -> HostKeyStatus {
        let mut matched = false;
        let mut expected: Vec<String> = Vec::new();
        for entry in self.matching(host) {
            if entry.blob == blob {
                if entry.revoked {
                    // A revocation wins over any line that also trusts the key.
                    return HostKeyStatus::Revoked;
                }
                matched = true;
            } else if !entry.revoked {
                let fp = fingerprint(&entry.blob);
                if !expected.contains(&fp) {
                    expected.push(fp);
                }
            }
        }
        if matched {
            HostKeyStatus::Match
        } else if expected.is_empty() {
            HostKeyStatus::NotFound
        } else {
            HostKeyStatus::Mismatch { expected }
        }
    }
}

impl Hosts {
    fn matches(&self, host: &str) -> bool {
        match self {
            // Indexed entries are found by name, never scanned.
            Hosts::Indexed => false,
            Hosts::Hashed { mac, digest } => mac
                .clone()
                .chain_update(host.as_bytes())
                .verify_slice(digest)
                .is_ok(),
            Hosts::Patterns(patterns) => {
                // sshd(8): a negated pattern that matches rejects the line even if another
                // pattern on it matches.
                let host = host.to_ascii_lowercase();
                let mut any = false;
                for p in patterns {
                    if glob_match(p.glob.as_bytes(), host.as_bytes()) {
                        if p.negated {
                            return false;
                        }
                        any = true;
                    }
                }
                any
            }
        }
    }
}

enum Parsed<'a> {
    /// Blank, comment or `@cert-authority`: not counted.
    Nothing,
    Skipped,
    Entry {
        revoked: bool,
        hosts: &'a str,
        key_type: String,
        blob: Vec<u8>,
    },
}

fn parse_line(line: &str) -> Parsed<'_> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Parsed::Nothing;
    }
    let mut fields = line.split_ascii_whitespace();
    let mut first = fields.next().unwrap_or_default();
    let mut revoked = false;
    if let Some(marker) = first.strip_prefix('@') {
        match marker {
            "revoked" => revoked = true,
            "cert-authority" => return Parsed::Nothing,
            _ => return Parsed::Skipped,
        }
        first = match fields.next() {
            Some(hosts) => hosts,
            None => return Parsed::Skipped,
        };
    }
    let (Some(field_type), Some(key)) = (fields.next(), fields.next()) else {
        return Parsed::Skipped;
    };
    let Ok(blob) = STANDARD.decode(key) else {
        return Parsed::Skipped;
    };
    // The type inside the blob is authoritative; the field only has to agree with it.
    match blob_key_type(&blob) {
        Some(t) if t == field_type => {}
        _ => return Parsed::Skipped,
    }
    Parsed::Entry {
        revoked,
        hosts: first,
        key_type: field_type.to_owned(),
        blob,
    }
}

fn parse_hashed(rest: &str) -> Option<(Hmac<Sha1>, Vec<u8>)> {
    let (salt, hash) = rest.split_once('|')?;
    let salt = STANDARD.decode(salt).ok()?;
    let digest = STANDARD.decode(hash).ok()?;
    // OpenSSH writes a 20-byte salt and a 20-byte SHA-1 HMAC; anything else is not its format.
    if salt.len() != 20 || digest.len() != 20 {
        return None;
    }
    let mac = <Hmac<Sha1> as Mac>::new_from_slice(&salt).ok()?;
    Some((mac, digest))
}

/// OpenSSH's `match_pattern`: `*` any run (also empty), `?` exactly one byte, everything else
/// literal. Iterative with one backtrack point, so hostile patterns stay linear-ish.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake but well-formed ed25519 public key blob.
    fn blob(seed: u8) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&11u32.to_be_bytes());
        b.extend_from_slice(b"ssh-ed25519");
        b.extend_from_slice(&32u32.to_be_bytes());
        b.extend_from_slice(&[seed; 32]);
        b
    }

    fn line(hosts: &str, seed: u8) -> String {
        format!("{hosts} ssh-ed25519 {}", STANDARD.encode(blob(seed)))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test ip")
    }

    #[test]
    fn fingerprint_matches_ssh_keygen_format() {
        let fp = fingerprint(b"abc");
        // sha256("abc") = ba7816bf..., base64 without padding is 43 chars.
        assert_eq!(fp, "SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0");
        assert!(fingerprints_equal(&format!("{fp}="), &fp));
    }

    #[test]
    fn host_pattern_brackets_non_default_ports() {
        assert_eq!(host_pattern(ip("10.0.0.1"), 22), "10.0.0.1");
        assert_eq!(host_pattern(ip("10.0.0.1"), 2222), "[10.0.0.1]:2222");
        assert_eq!(host_pattern(ip("::1"), 2222), "[::1]:2222");
    }

    #[test]
    fn plain_lists_and_ports() {
        let kh = KnownHosts::from_lines(&format!(
            "{}\n{}\n",
            line("10.0.0.1,10.0.0.2", 1),
            line("[10.0.0.3]:2222", 2)
        ));
        assert_eq!(
            kh.lookup(ip("10.0.0.2"), 22, &blob(1)),
            HostKeyStatus::Match
        );
        assert_eq!(
            kh.lookup(ip("10.0.0.1"), 2222, &blob(1)),
            HostKeyStatus::NotFound
        );
        assert_eq!(
            kh.lookup(ip("10.0.0.3"), 2222, &blob(2)),
            HostKeyStatus::Match
        );
        assert_eq!(
            kh.lookup(ip("10.0.0.3"), 2222, &blob(9)),
            HostKeyStatus::Mismatch {
                expected: vec![fingerprint(&blob(2))]
            }
        );
        assert_eq!(kh.key_types(ip("10.0.0.3"), 2222), vec!["ssh-ed25519"]);
    }

    #[test]
    fn odd_lines_are_skipped_not_fatal() {
        let text = format!(
            "\n   \n# comment {}\n\
             @cert-authority *.example ssh-ed25519 {}\n\
             @bogus 10.0.0.1 ssh-ed25519 {}\n\
             10.0.0.1 ssh-ed25519\n\
             10.0.0.1 ssh-ed25519 !!!notbase64\n\
             10.0.0.1 ssh-rsa {}\n\
             |1|short|short ssh-ed25519 {}\n\
             @revoked\n\
             ,,, ssh-ed25519 {}\n\
             \t{}   trailing comment with  spaces\r\n",
            line("10.0.0.1", 1),
            STANDARD.encode(blob(1)),
            STANDARD.encode(blob(1)),
            STANDARD.encode(blob(1)),
            STANDARD.encode(blob(1)),
            STANDARD.encode(blob(1)),
            line("10.0.0.9", 3),
        );
        let kh = KnownHosts::from_lines(&text);
        assert_eq!(kh.len(), 1, "{kh:?}");
        assert_eq!(kh.skipped_lines(), 7, "{kh:?}");
        // The comment and the cert-authority line trust nothing.
        assert_eq!(
            kh.lookup(ip("10.0.0.1"), 22, &blob(1)),
            HostKeyStatus::NotFound
        );
        assert_eq!(
            kh.lookup(ip("10.0.0.9"), 22, &blob(3)),
            HostKeyStatus::Match
        );
    }

    #[test]
    fn wildcards_and_negation() {
        let kh = KnownHosts::from_lines(&line("10.1.*,!10.1.0.66,[10.2.0.?]:2222", 4));
        assert_eq!(
            kh.lookup(ip("10.1.0.5"), 22, &blob(4)),
            HostKeyStatus::Match
        );
        assert_eq!(
            kh.lookup(ip("10.1.0.66"), 22, &blob(4)),
            HostKeyStatus::NotFound
        );
        assert_eq!(
            kh.lookup(ip("10.2.0.7"), 2222, &blob(4)),
            HostKeyStatus::Match
        );
        assert_eq!(
            kh.lookup(ip("10.2.0.17"), 2222, &blob(4)),
            HostKeyStatus::NotFound
        );
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"a*b*c", b"aXXbYYbc"));
        assert!(!glob_match(b"a*b", b"aXXbc"));
    }

    #[test]
    fn hashed_entry_matches_only_its_host() {
        let salt = [7u8; 20];
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(&salt).expect("hmac");
        mac.update(b"[127.0.0.1]:2222");
        let hashed = format!(
            "|1|{}|{}",
            STANDARD.encode(salt),
            STANDARD.encode(mac.finalize().into_bytes())
        );
        let kh = KnownHosts::from_lines(&line(&hashed, 5));
        assert_eq!(
            kh.lookup(ip("127.0.0.1"), 2222, &blob(5)),
            HostKeyStatus::Match
        );
        assert_eq!(
            kh.lookup(ip("127.0.0.1"), 22, &blob(5)),
            HostKeyStatus::NotFound
        );
        assert!(matches!(
            kh.lookup(ip("127.0.0.1"), 2222, &blob(6)),
            HostKeyStatus::Mismatch { .. }
        ));
    }

    #[test]
    fn revoked_wins_and_other_types_are_a_mismatch() {
        let text = format!(
            "{}\n@revoked * ssh-ed25519 {}\n",
            line("10.0.0.1", 1),
            STANDARD.encode(blob(1))
        );
        let kh = KnownHosts::from_lines(&text);
        assert_eq!(
            kh.lookup(ip("10.0.0.1"), 22, &blob(1)),
            HostKeyStatus::Revoked
        );
        // Revocation of one key says nothing about another one.
        assert_eq!(
            kh.lookup(ip("10.0.0.2"), 22, &blob(2)),
            HostKeyStatus::NotFound
        );

        let mut rsa = Vec::new();
        rsa.extend_from_slice(&7u32.to_be_bytes());
        rsa.extend_from_slice(b"ssh-rsa");
        rsa.extend_from_slice(&[1, 2, 3]);
        let kh = KnownHosts::from_lines(&format!("10.0.0.1 ssh-rsa {}", STANDARD.encode(&rsa)));
        assert_eq!(
            kh.lookup(ip("10.0.0.1"), 22, &blob(1)),
            HostKeyStatus::Mismatch {
                expected: vec![fingerprint(&rsa)]
            }
        );
    }

    /// Issue #11, point 14: `--known-hosts /dev/zero` read until memory ran out.
    #[test]
    fn only_a_regular_file_of_bounded_size_is_read() {
        let err = KnownHosts::load(Some(PathBuf::from("/dev/zero"))).expect_err("/dev/zero");
        assert_eq!(
            format!("{err:#}"),
            "reading known_hosts /dev/zero: it is a character device; expected a regular file"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let big = dir.path().join("known_hosts");
        let file = fs::File::create(&big).expect("create");
        file.set_len(MAX_KNOWN_HOSTS_BYTES + 1)
            .expect("sparse file");
        let err = KnownHosts::load(Some(big)).expect_err("too big");
        assert!(
            format!("{err:#}").contains("larger than the limit"),
            "{err:#}"
        );
    }

    #[test]
    fn record_appends_creates_dirs_and_agrees_with_a_reload() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/dir/known_hosts");
        let kh = KnownHosts::load(Some(path.clone())).expect("load missing file");
        assert!(kh.is_empty());
        let added = kh.record(ip("127.0.0.5"), 2200, &blob(1)).expect("record");
        assert_eq!(
            added,
            Recorded::Added {
                line: line("[127.0.0.5]:2200", 1)
            }
        );
        // A second session racing on the same host sees the first key, writes nothing.
        assert_eq!(
            kh.record(ip("127.0.0.5"), 2200, &blob(1)).expect("record"),
            Recorded::Existing(HostKeyStatus::Match)
        );
        assert!(matches!(
            kh.record(ip("127.0.0.5"), 2200, &blob(2)).expect("record"),
            Recorded::Existing(HostKeyStatus::Mismatch { .. })
        ));
        kh.record(ip("127.0.0.6"), 22, &blob(3)).expect("record");
        let text = fs::read_to_string(&path).expect("read");
        assert_eq!(
            text,
            format!(
                "{}\n{}\n",
                line("[127.0.0.5]:2200", 1),
                line("127.0.0.6", 3)
            )
        );
        let reloaded = KnownHosts::load(Some(path)).expect("reload");
        assert_eq!(
            reloaded.lookup(ip("127.0.0.6"), 22, &blob(3)),
            HostKeyStatus::Match
        );
    }

    #[test]
    fn record_adds_missing_final_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("known_hosts");
        fs::write(&path, line("10.0.0.1", 1)).expect("write");
        let kh = KnownHosts::load(Some(path.clone())).expect("load");
        kh.record(ip("10.0.0.2"), 22, &blob(2)).expect("record");
        let reloaded = KnownHosts::load(Some(path)).expect("reload");
        assert_eq!(reloaded.len(), 2);
        assert_eq!(reloaded.skipped_lines(), 0);
    }

    #[test]
    fn record_without_a_file_is_an_error() {
        let kh = KnownHosts::from_lines("");
        let err = kh
            .record(ip("10.0.0.1"), 22, &blob(1))
            .expect_err("no path");
        assert!(err.to_string().contains("no known_hosts file"), "{err}");
    }

    proptest::proptest! {
        #![proptest_config(crate::proptests::config())]

        /// Issue #11 point 6: a known_hosts line, however odd, is read or skipped, never a panic.
        #[test]
        fn any_known_hosts_line_never_panics(
            line in "(@(cert-authority|revoked) )?(\\|1\\|[A-Za-z0-9+/=|]{0,40}|[\\[\\]0-9.:*?!,a-z]{0,30}) (ssh-ed25519|ssh-rsa|x)? ?[A-Za-z0-9+/=]{0,80}( \\PC{0,10})?",
            text in "\\PC{0,120}",
        ) {
            let _ = parse_line(&line);
            let _ = parse_line(&text);
        }
    }
}
