//! Identity files signed in process: an unencrypted OpenSSH Ed25519 key is parsed once per run
//! (`ssh-key`) and every session signs its auth request with `ed25519-dalek` through libssh2's
//! callback API (`libssh2_userauth_publickey`, libssh2.h), instead of libssh2 reading, decoding
//! and deriving the key again for each of a thousand sessions through OpenSSL's decoders: that
//! was 15% of breakglass's CPU per host (`perf`, bench/fanout, BENCHMARKS.md).
//!
//! A passphrase-protected OpenSSH key is not offered at all (breakglass never prompts; libssh2
//! would fail on it after a round trip, with a message that does not say why). Every other
//! identity file (RSA, ECDSA, PEM, unreadable, not a key) is left to libssh2 as before.
//!
//! This is the one module that calls libssh2 directly: the `ssh2` crate does not wrap the
//! callback API. The unsafe code is the call, the callback, and the allocation libssh2 frees.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::ffi::{CString, c_char, c_int, c_uchar, c_void};
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use ed25519_dalek::{SIGNATURE_LENGTH, Signer, SigningKey};
use libssh2_sys::LIBSSH2_SESSION;
use ssh2::{ErrorCode, Session};
use zeroize::Zeroizing;

/// `LIBSSH2_ERROR_ALLOC` (libssh2.h).
const LIBSSH2_ERROR_ALLOC: c_int = -6;
/// `LIBSSH2_ERROR_INVAL` (libssh2.h).
const LIBSSH2_ERROR_INVAL: c_int = -34;

/// `LIBSSH2_USERAUTH_PUBLICKEY_SIGN_FUNC` (libssh2.h): sign `data`, return the raw signature
/// (without its algorithm name: libssh2 adds it) in `*sig`, allocated with the session's
/// allocator, which libssh2 frees.
type SignCallback = unsafe extern "C" fn(
    session: *mut LIBSSH2_SESSION,
    sig: *mut *mut c_uchar,
    sig_len: *mut usize,
    data: *const c_uchar,
    data_len: usize,
    abstract_: *mut *mut c_void,
) -> c_int;

unsafe extern "C" {
    /// libssh2.h: public key auth with an external signer. Blocks like the rest of the blocking
    /// API (the session's timeout applies); `abstract_` is handed to `sign_callback` as is.
    fn libssh2_userauth_publickey(
        session: *mut LIBSSH2_SESSION,
        username: *const c_char,
        pubkeydata: *const c_uchar,
        pubkeydata_len: usize,
        sign_callback: Option<SignCallback>,
        abstract_: *mut *mut c_void,
    ) -> c_int;
}

/// An Ed25519 private key held in memory for the run (zeroized on drop by `ed25519-dalek`).
pub struct InProcessKey {
    /// The SSH wire-format public key (`string "ssh-ed25519"`, `string key`), RFC 8709.
    public_blob: Vec<u8>,
    signing: SigningKey,
}

impl std::fmt::Debug for InProcessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessKey").finish_non_exhaustive()
    }
}

/// How an identity file is used, decided once per run by reading it.
#[derive(Debug, Clone)]
pub enum Identity {
    /// An unencrypted OpenSSH Ed25519 key: signed in process.
    InProcess(Arc<InProcessKey>),
    /// An OpenSSH key protected by a passphrase: not offered (breakglass never prompts; the
    /// way to use it is ssh-agent).
    Locked,
    /// Anything else (RSA, ECDSA, PEM, unreadable, not a key): libssh2 reads it, and explains
    /// when it cannot.
    Libssh2,
}

/// Identity files already looked at in this run. Shared by every session of a run.
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: Mutex<HashMap<PathBuf, Identity>>,
}

impl KeyCache {
    /// How to use `path`, reading the file the first time it is asked for.
    pub fn get(&self, path: &Path) -> Identity {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        keys.entry(path.to_path_buf())
            .or_insert_with(|| load(path))
            .clone()
    }
}

/// Reads `path` once: its key is held only when it is signed in process.
fn load(path: &Path) -> Identity {
    let Some(text) = read_small_file(path) else {
        return Identity::Libssh2;
    };
    let Ok(key) = ssh_key::PrivateKey::from_openssh(&*text) else {
        return Identity::Libssh2;
    };
    if key.is_encrypted() {
        return Identity::Locked;
    }
    let Some(pair) = key.key_data().ed25519() else {
        return Identity::Libssh2;
    };
    let signing = SigningKey::from_bytes(&pair.private.to_bytes());
    // A file whose public half does not match its private half is libssh2's to reject.
    if signing.verifying_key().as_bytes() != pair.public.as_ref() {
        return Identity::Libssh2;
    }
    match key.public_key().to_bytes() {
        Ok(public_blob) => Identity::InProcess(Arc::new(InProcessKey {
            public_blob,
            signing,
        })),
        Err(_) => Identity::Libssh2,
    }
}

/// The contents of `path` if it is a regular file of at most 64 KiB (an OpenSSH private key is
/// a few KiB even for 16384-bit RSA); wiped from memory when dropped.
fn read_small_file(path: &Path) -> Option<Zeroizing<Vec<u8>>> {
    const MAX: u64 = 64 * 1024;
    let file = fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > MAX {
        return None;
    }
    // Room for MAX bytes up front, so the buffer is never reallocated (leaving a copy behind)
    // even if the file grows while it is read.
    let mut text = Zeroizing::new(Vec::with_capacity(usize::try_from(MAX).ok()?));
    file.take(MAX).read_to_end(&mut text).ok()?;
    Some(text)
}

/// Public key auth of `user` with `key`, signed in process. Errors are libssh2's, as from
/// `Session::userauth_pubkey_file`.
pub fn userauth(session: &Session, user: &str, key: &InProcessKey) -> Result<(), ssh2::Error> {
    let user = CString::new(user).map_err(|_| {
        ssh2::Error::new(
            ErrorCode::Session(LIBSSH2_ERROR_INVAL),
            "the user name contains a NUL byte",
        )
    })?;
    let mut guard = session.raw();
    let raw: *mut LIBSSH2_SESSION = &raw mut *guard;
    let mut signer: *mut c_void = (&raw const key.signing).cast_mut().cast();
    // SAFETY: `raw` is the live session, locked by the guard for the whole call. Every pointer
    // outlives the call: `user` and `key` are borrowed, `signer` is on this stack frame, and
    // libssh2 only hands `&mut signer` to `sign_ed25519` during the call, which only reads the
    // `SigningKey` behind it.
    let rc = unsafe {
        libssh2_userauth_publickey(
            raw,
            user.as_ptr(),
            key.public_blob.as_ptr(),
            key.public_blob.len(),
            Some(sign_ed25519),
            &raw mut signer,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(ssh2::Error::from_session_error_raw(raw, rc))
    }
}

/// The `SignCallback` for an `InProcessKey`: `*abstract_` points at its `SigningKey`.
unsafe extern "C" fn sign_ed25519(
    _session: *mut LIBSSH2_SESSION,
    sig: *mut *mut c_uchar,
    sig_len: *mut usize,
    data: *const c_uchar,
    data_len: usize,
    abstract_: *mut *mut c_void,
) -> c_int {
    // SAFETY: libssh2 passes back the `abstract_` given to `libssh2_userauth_publickey` by
    // `userauth`, which points at a `*mut c_void` to a `SigningKey` borrowed for the call;
    // `data` is `data_len` readable bytes libssh2 owns for this call.
    let (key, data) = unsafe {
        (
            &*(*abstract_).cast::<SigningKey>(),
            std::slice::from_raw_parts(data, data_len),
        )
    };
    let signature = key.sign(data).to_bytes();
    // libssh2 frees the signature with the session's allocator: `free`, as `ssh2` creates
    // sessions with libssh2's default allocator (`libssh2_session_init_ex(NULL, ...)`).
    // SAFETY: a plain C allocation of SIGNATURE_LENGTH bytes, checked for NULL, filled whole;
    // `sig` and `sig_len` are libssh2's out-parameters, valid for writes.
    unsafe {
        let buf = libc::malloc(SIGNATURE_LENGTH).cast::<c_uchar>();
        if buf.is_null() {
            return LIBSSH2_ERROR_ALLOC;
        }
        std::ptr::copy_nonoverlapping(signature.as_ptr(), buf, SIGNATURE_LENGTH);
        *sig = buf;
        *sig_len = SIGNATURE_LENGTH;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::sshd::SshdLab;
    use ed25519_dalek::{Signature, Verifier};

    fn in_process(cache: &KeyCache, path: &Path) -> Arc<InProcessKey> {
        match cache.get(path) {
            Identity::InProcess(key) => key,
            other => panic!("{} is {other:?}", path.display()),
        }
    }

    #[test]
    fn unencrypted_ed25519_keys_are_signed_in_process_and_others_left_to_libssh2() {
        let lab = SshdLab::new().expect("lab");
        let key_file = |name: &str, args: &[&str]| lab.new_key_of(name, args).expect(name).private;
        let ed = key_file("ed", &["-t", "ed25519", "-N", ""]);
        let locked = key_file("locked", &["-t", "ed25519", "-N", "secret"]);
        let ecdsa = key_file("ecdsa", &["-t", "ecdsa", "-N", ""]);
        let not_a_key = lab.dir().join("not_a_key");
        fs::write(&not_a_key, "hello\n").expect("write");
        let cache = KeyCache::default();

        let key = in_process(&cache, &ed);
        // The blob offered is the one ssh-keygen wrote to KEY.pub.
        let public = fs::read_to_string(ed.with_extension("pub")).expect("pub");
        let public = ssh_key::PublicKey::from_openssh(public.trim()).expect("parse pub");
        assert_eq!(key.public_blob, public.to_bytes().expect("blob"));
        // Loaded once: the same Arc comes back.
        assert!(Arc::ptr_eq(&key, &in_process(&cache, &ed)));

        assert!(matches!(cache.get(&locked), Identity::Locked));
        for other in [&ecdsa, &not_a_key, &lab.dir().join("missing")] {
            assert!(
                matches!(cache.get(other), Identity::Libssh2),
                "{}",
                other.display()
            );
        }
    }

    #[test]
    fn the_callback_returns_a_raw_signature_the_public_key_verifies() {
        let lab = SshdLab::new().expect("lab");
        let key = in_process(&KeyCache::default(), lab.client_key());
        let data = b"session id and userauth request";
        let mut signer: *mut c_void = (&raw const key.signing).cast_mut().cast();
        let mut sig: *mut c_uchar = std::ptr::null_mut();
        let mut sig_len = 0usize;
        // SAFETY: the arguments libssh2 would pass, all valid for the call.
        let rc = unsafe {
            sign_ed25519(
                std::ptr::null_mut(),
                &raw mut sig,
                &raw mut sig_len,
                data.as_ptr(),
                data.len(),
                &raw mut signer,
            )
        };
        assert_eq!((rc, sig_len), (0, SIGNATURE_LENGTH));
        // SAFETY: `sig` is the SIGNATURE_LENGTH-byte malloc'd buffer the callback returned.
        let bytes: [u8; SIGNATURE_LENGTH] = unsafe {
            let bytes = std::slice::from_raw_parts(sig, sig_len)
                .try_into()
                .expect("length");
            libc::free(sig.cast());
            bytes
        };
        key.signing
            .verifying_key()
            .verify(data, &Signature::from_bytes(&bytes))
            .expect("valid signature");
    }

    #[test]
    fn sshd_accepts_the_in_process_signature() {
        let lab = SshdLab::new().expect("lab");
        let sshd = lab
            .start(&[std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)])
            .expect("sshd");
        let key = in_process(&KeyCache::default(), lab.client_key());
        let tcp = std::net::TcpStream::connect(("127.0.0.1", sshd.port())).expect("connect");
        let mut session = Session::new().expect("session");
        session.set_tcp_stream(tcp);
        session.set_timeout(10_000);
        session.handshake().expect("handshake");
        let user = lab.user();
        userauth(&session, user, &key).expect("sshd accepts the signature");
        assert!(session.authenticated());

        // A key sshd does not accept is refused with libssh2's error, not a crash.
        let stranger = lab.new_key("stranger").expect("key");
        let stranger = in_process(&KeyCache::default(), &stranger.private);
        let tcp = std::net::TcpStream::connect(("127.0.0.1", sshd.port())).expect("connect");
        let mut session = Session::new().expect("session");
        session.set_tcp_stream(tcp);
        session.set_timeout(10_000);
        session.handshake().expect("handshake");
        let err = userauth(&session, user, &stranger).expect_err("refused");
        assert!(!session.authenticated(), "{err}");
    }
}
