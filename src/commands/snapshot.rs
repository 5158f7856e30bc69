//! `breakglass inventory snapshot CLUSTER --out FILE`: the cluster's nodes, listed through its
//! API while it is healthy (or read from a saved `kubectl get nodes -o json`), written as an
//! inventory file for the day the API is down.
//!
//! This file lists and writes; `inventory::snapshot` converts. The listing is one paged LIST
//! (`limit` = `--page-size`, following `continue`) through the same paced, budgeted client the
//! actions use. The write is all or nothing: the text is loaded back as an inventory first, then
//! written to a temporary file beside FILE, fsynced, renamed over FILE, and the directory fsynced.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::cli::SnapshotArgs;
use crate::error::{Exit, ExitError};
use crate::inventory::snapshot::{self, DroppedLabel, Header, MARKER, Skipped};
use crate::inventory::{Cluster, Format, Inventory};
use crate::output::{stderr_line, stdout_line};
use crate::settings::Settings;
use crate::transport::RateLimiter;
use crate::transport::kube::Kube;

/// The collection every node lives in (cluster-scoped, core group).
const NODES: &str = "/api/v1/nodes";

/// Where the nodes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Api,
    File,
}

/// The one line `--output json` prints (type `inventory_snapshot`, documented with the other
/// events in `engine/event.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotEvent {
    #[serde(rename = "type")]
    pub kind: String,
    pub cluster: String,
    pub file: PathBuf,
    pub source: Source,
    /// Nodes read (listed or in the file).
    pub nodes: usize,
    /// Hosts written.
    pub hosts: usize,
    pub control_plane: usize,
    pub workers: usize,
    pub skipped: Vec<Skipped>,
    pub dropped_labels: Vec<DroppedLabel>,
    /// LIST requests sent (pages), 0 for a file.
    pub requests: usize,
    pub elapsed_ms: u64,
}

pub async fn snapshot(settings: &Settings, args: &SnapshotArgs) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let out = &args.out;
    if Format::from_path(out) == Format::Json {
        return Err(usage(format!(
            "--out {}: a snapshot is TOML (it starts with a comment saying what made it); expected a file name not ending in .json",
            out.display()
        )));
    }
    let base = base_inventory(settings, args)?;
    let cluster = base.clusters.get(&args.cluster).ok_or_else(|| {
        usage(format!(
            "the inventory {} has no cluster `{}`; expected one of: {}",
            base.path.display(),
            args.cluster,
            base.clusters.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })?;
    may_replace(out, args.force)?;

    let Listing {
        items,
        source,
        requests,
        from,
    } = match &args.from_file {
        Some(file) => read_file(file)?,
        None => list_api(cluster, &base, args).await?,
    };

    let nodes = snapshot::nodes(&items);
    for s in &nodes.skipped {
        stderr_line(&format!(
            "breakglass: warning: node {} skipped: {}",
            s.node, s.reason
        ));
    }
    for d in &nodes.dropped_labels {
        stderr_line(&format!(
            "breakglass: warning: label `{}` left out on {} node{}: {}",
            d.key,
            d.nodes,
            if d.nodes == 1 { "" } else { "s" },
            d.reason
        ));
    }
    if args.strict && !nodes.skipped.is_empty() {
        return Err(ExitError::new(
            Exit::TargetsFailed,
            format!(
                "--strict: {} of {} nodes cannot be written ({}); {} left as it was",
                nodes.skipped.len(),
                items.len(),
                nodes
                    .skipped
                    .iter()
                    .map(|s| s.node.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                out.display()
            ),
        )
        .into());
    }
    if nodes.hosts.is_empty() {
        return Err(ExitError::new(
            Exit::TargetsFailed,
            format!(
                "no node of cluster {} can be written ({} read); {} left as it was",
                cluster.name,
                items.len(),
                out.display()
            ),
        )
        .into());
    }

    let header = Header {
        made_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        source: from,
        base: settings.inventory.as_ref().map(|_| base.path.clone()),
        refresh: refresh_command(settings, args),
    };
    let text = snapshot::render(&base, cluster, &nodes, &header).map_err(usage)?;
    // Never write a file `inventory show` would refuse on the bad day.
    Inventory::from_str(&text, out, Format::Toml).map_err(|e| {
        ExitError::caused(
            Exit::Usage,
            format!(
                "the snapshot would not load as an inventory; {} left as it was",
                out.display()
            ),
            e,
        )
    })?;
    write_atomically(out, &text)?;

    let control_plane = nodes
        .hosts
        .iter()
        .filter(|h| h.labels.get("role").is_some_and(|r| r == "control-plane"))
        .count();
    let event = SnapshotEvent {
        kind: "inventory_snapshot".into(),
        cluster: cluster.name.clone(),
        file: out.clone(),
        source,
        nodes: items.len(),
        hosts: nodes.hosts.len(),
        control_plane,
        workers: nodes.hosts.len() - control_plane,
        skipped: nodes.skipped.clone(),
        dropped_labels: nodes.dropped_labels.clone(),
        requests,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    if settings.json() {
        stdout_line(&serde_json::to_string(&event)?);
    } else {
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        stdout_line(&format!(
            "wrote {}: {} of cluster {} ({} control-plane, {} worker){}",
            out.display(),
            plural(event.hosts, "host"),
            event.cluster,
            event.control_plane,
            event.workers,
            if event.skipped.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} skipped (see the warnings)",
                    plural(event.skipped.len(), "node")
                )
            }
        ));
        stdout_line(&format!(
            "when the API is down: breakglass -i {} inventory show",
            out.display()
        ));
    }
    Ok(Exit::Success)
}

/// The Node objects, and where they came from.
struct Listing {
    items: Vec<serde_json::Value>,
    source: Source,
    /// LIST requests sent.
    requests: usize,
    /// For the file's header.
    from: String,
}

fn read_file(file: &Path) -> anyhow::Result<Listing> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read --from-file {}", file.display()))?;
    let items = snapshot::node_items(&text)
        .map_err(|m| usage(format!("--from-file {}: {m}", file.display())))?;
    let from = format!(
        "{} (kubectl get nodes -o json)",
        std::path::absolute(file)
            .unwrap_or_else(|_| file.to_owned())
            .display()
    );
    Ok(Listing {
        items,
        source: Source::File,
        requests: 0,
        from,
    })
}

/// One paged LIST of the nodes through the cluster's API servers, one at a time by IP.
async fn list_api(
    cluster: &Cluster,
    base: &Inventory,
    args: &SnapshotArgs,
) -> anyhow::Result<Listing> {
    let config = crate::actions::context::kube_config(cluster).map_err(|m| {
        usage(format!(
            "cluster {} in {}: {m}",
            cluster.name,
            base.path.display()
        ))
    })?;
    let limiter = Arc::new(RateLimiter::new(crate::settings::DEFAULT_API_RATE));
    let kube = Kube::new(config, limiter).map_err(|e| {
        ExitError::caused(
            Exit::Usage,
            format!("cannot reach the API of cluster {}", cluster.name),
            e,
        )
    })?;
    let items = kube
        .list(NODES, usize::from(args.page_size))
        .await
        .map_err(|e| {
            ExitError::caused(
                Exit::TargetsFailed,
                format!(
                    "cannot list the nodes of cluster {} (GET {NODES}, pages of {}); {} left as it was",
                    cluster.name,
                    args.page_size,
                    args.out.display()
                ),
                e,
            )
        })?;
    let endpoints: Vec<String> = cluster
        .api_endpoints
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok(Listing {
        items,
        source: Source::Api,
        requests: kube.requests_sent(),
        from: format!(
            "the API of cluster {} ({}), pages of {}",
            cluster.name,
            endpoints.join(", "),
            args.page_size
        ),
    })
}

fn usage(message: impl Into<String>) -> anyhow::Error {
    ExitError::new(Exit::Usage, message).into()
}

/// The inventory whose `[defaults]` and cluster table the snapshot carries. With --from-file
/// and no inventory, one with the built-in defaults and an empty `[clusters.CLUSTER]`.
fn base_inventory(settings: &Settings, args: &SnapshotArgs) -> anyhow::Result<Inventory> {
    if settings.inventory.is_some() || args.from_file.is_none() {
        return settings.load_inventory();
    }
    let text = format!("[clusters.{}]\n", toml::Value::String(args.cluster.clone()));
    Inventory::from_str(&text, Path::new("(no inventory)"), Format::Toml).map_err(|e| {
        ExitError::caused(
            Exit::Usage,
            format!("`{}` cannot be a cluster name", args.cluster),
            e,
        )
        .into()
    })
}

/// An existing FILE is replaced only when it is an earlier snapshot, or with --force.
fn may_replace(out: &Path, force: bool) -> anyhow::Result<()> {
    if force {
        return Ok(());
    }
    let first_line = match std::fs::File::open(out) {
        Ok(f) => {
            let mut line = String::new();
            // A file that is not text is not a snapshot either.
            let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(f), &mut line);
            line
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("cannot read {}", out.display())));
        }
    };
    if first_line.starts_with(MARKER) {
        return Ok(());
    }
    Err(usage(format!(
        "{} exists and is not a breakglass snapshot (its first line is not `{MARKER}`); refusing to replace it: choose another --out, or pass --force",
        out.display()
    )))
}

/// Temporary file in FILE's directory, fsynced, renamed over FILE, directory fsynced: a reader
/// sees the old file or the new one, never half of one. A replaced file keeps its permissions.
pub(crate) fn write_atomically(out: &Path, text: &str) -> anyhow::Result<()> {
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let failed = || format!("cannot write {}", out.display());
    let mut tmp = tempfile::Builder::new()
        .prefix(".breakglass-snapshot-")
        .tempfile_in(&dir)
        .with_context(failed)?;
    tmp.write_all(text.as_bytes()).with_context(failed)?;
    let permissions = match std::fs::metadata(out) {
        Ok(m) => m.permissions(),
        // No secrets inside: readable by the other operators, as a hand-written inventory is.
        Err(_) => std::os::unix::fs::PermissionsExt::from_mode(0o644),
    };
    tmp.as_file()
        .set_permissions(permissions)
        .with_context(failed)?;
    tmp.as_file().sync_all().with_context(failed)?;
    tmp.persist(out).map_err(|e| e.error).with_context(failed)?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot fsync {}", dir.display()))?;
    Ok(())
}

/// The command line that makes the same snapshot again, for the file's header.
fn refresh_command(settings: &Settings, args: &SnapshotArgs) -> String {
    let quote = |p: &Path| {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
        shlex::try_quote(&abs.to_string_lossy())
            .map_or_else(|_| abs.display().to_string(), std::borrow::Cow::into_owned)
    };
    let mut cmd = String::from("breakglass");
    if let Some(inv) = &settings.inventory {
        cmd.push_str(&format!(" -i {}", quote(inv)));
    }
    cmd.push_str(&format!(
        " inventory snapshot {}",
        shlex::try_quote(&args.cluster).unwrap_or_default()
    ));
    if let Some(f) = &args.from_file {
        cmd.push_str(&format!(" --from-file {}", quote(f)));
    }
    cmd.push_str(&format!(" --out {}", quote(&args.out)));
    cmd
}
