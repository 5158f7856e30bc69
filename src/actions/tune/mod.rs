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
//!
//! The Rust is one file per part: `action.rs` ([`ApiserversTuneAction`]: plan, snapshot, apply,
//! verify), `restore.rs` ([`RestoreManifest`], its inverse), `snapshot.rs` ([`ManifestSnapshot`],
//! what the journal holds and the checks on it), `remote.rs` (the manifest on the node: read,
//! replace compare-and-swap, read back) and `edit.rs` ([`edit_manifest`], the line editor, which
//! never touches a node).

mod action;
mod edit;
mod remote;
mod restore;
mod snapshot;

pub use action::ApiserversTuneAction;
pub use edit::{Edit, edit_manifest};
pub use restore::RestoreManifest;
pub use snapshot::{ManifestSnapshot, sha256_hex};
