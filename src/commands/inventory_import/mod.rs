//! `breakglass inventory import aws | gcp | azure`: what a cloud lists, written as an inventory.
//!
//! This file checks the flags, writes the file and reports; each provider's file (`aws.rs`,
//! `gcp.rs`, `azure.rs`) lists through its transport (`transport::cloud::*::discover`) and
//! decides what the cluster's cloud table holds; `inventory::import` turns the machines into
//! hosts and the text. The text is loaded back as an inventory before anything is written, and
//! FILE is written atomically (`commands::snapshot`'s writer), never over an existing file
//! without --force.

mod aws;
mod azure;
mod gcp;

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::cli::{ImportArgs, ImportCommand};
use crate::error::{Exit, ExitError};
use crate::inventory::import::{self, Header, Machine};
use crate::inventory::snapshot::{DroppedLabel, Skipped};
use crate::inventory::{Cluster, Format, Inventory, is_label_name};
use crate::output::{stderr_line, stdout_line, stdout_raw};
use crate::settings::Settings;

/// What a provider found.
pub(super) struct Found {
    /// `[clusters.NAME]` with its cloud table (node groups, control-plane resources) and, when
    /// the cloud tells them as IPs, its API endpoints.
    cluster: Cluster,
    machines: Vec<Machine>,
    /// Where from, for the header: `AWS us-east-1, instances tagged ...`.
    source: String,
    /// Comment lines for the file (and warnings): what the operator must know or add.
    notes: Vec<String>,
    /// The flags that repeat the import, for the header (`--region us-east-1`).
    flags: Vec<(&'static str, String)>,
    /// Requests sent.
    requests: usize,
}

/// The one line `--output json` prints (type `inventory_import`, documented with the other
/// events in `engine/event.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportEvent {
    #[serde(rename = "type")]
    pub kind: String,
    /// `aws`, `gcp`, `azure`.
    pub provider: String,
    pub cluster: String,
    /// The file written; `-` for stdout.
    pub file: PathBuf,
    /// Machines listed.
    pub machines: usize,
    /// Hosts written.
    pub hosts: usize,
    pub control_plane: usize,
    pub workers: usize,
    /// The inventory names of the node groups written.
    pub node_groups: Vec<String>,
    pub skipped: Vec<Skipped>,
    pub dropped_labels: Vec<DroppedLabel>,
    /// What the file's notes say (an endpoint to add by hand, a resource with no inventory key).
    pub notes: Vec<String>,
    /// API requests sent, every page and retry.
    pub requests: usize,
    pub elapsed_ms: u64,
}

fn usage(message: impl Into<String>) -> anyhow::Error {
    ExitError::new(Exit::Usage, message).into()
}

/// A failure of the cloud: nothing written (exit 1).
pub(super) fn cloud_failed(
    what: String,
    e: impl std::error::Error + Send + Sync + 'static,
) -> anyhow::Error {
    ExitError::caused(Exit::TargetsFailed, what, e).into()
}

/// Progress, one line on stderr (the transports' progress callbacks hand over the line).
#[allow(clippy::needless_pass_by_value)]
pub(super) fn progress(line: String) {
    stderr_line(&format!("breakglass: {line}"));
}

/// `KEY=VALUE` or `KEY` pairs of `--tag`, checked: no empty key.
pub(super) fn tag_filters(tags: &[String]) -> anyhow::Result<Vec<(String, Option<String>)>> {
    tags.iter()
        .map(|t| {
            if t.is_empty() || t.starts_with('=') {
                return Err(usage(format!(
                    "--tag `{}`: expected KEY=VALUE or KEY, with a non-empty KEY",
                    t.escape_debug()
                )));
            }
            Ok(match t.split_once('=') {
                Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                None => (t.clone(), None),
            })
        })
        .collect()
}

/// Whether `tags` carry every filter (for the providers whose list calls cannot filter).
pub(super) fn matches(tags: &[(String, String)], filters: &[(String, Option<String>)]) -> bool {
    filters.iter().all(|(k, v)| {
        tags.iter()
            .any(|(tk, tv)| tk == k && v.as_ref().is_none_or(|v| v == tv))
    })
}

pub async fn import(settings: &Settings, command: &ImportCommand) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let (provider, common) = match command {
        ImportCommand::Aws(a) => ("aws", &a.common),
        ImportCommand::Gcp(g) => ("gcp", &g.common),
        ImportCommand::Azure(z) => ("azure", &z.common),
    };
    check(settings, common)?;
    let found = match command {
        ImportCommand::Aws(a) => aws::discover(a).await?,
        ImportCommand::Gcp(g) => gcp::discover(g).await?,
        ImportCommand::Azure(z) => azure::discover(z).await?,
    };
    let hosts = import::hosts(&found.machines);
    for note in &found.notes {
        stderr_line(&format!("breakglass: note: {note}"));
    }
    for s in &hosts.skipped {
        stderr_line(&format!(
            "breakglass: warning: machine {} skipped: {}",
            s.node, s.reason
        ));
    }
    for d in &hosts.dropped_labels {
        stderr_line(&format!(
            "breakglass: warning: tag {} left out on {} machine{}: {}",
            d.key,
            d.nodes,
            if d.nodes == 1 { "" } else { "s" },
            d.reason
        ));
    }
    let out = &common.out;
    if hosts.hosts.is_empty() {
        return Err(ExitError::new(
            Exit::TargetsFailed,
            format!(
                "no machine of cluster {} can be written ({} listed from {}); nothing written: check --tag, the region or project, and the warnings",
                common.cluster,
                found.machines.len(),
                found.source
            ),
        )
        .into());
    }
    let header = Header {
        made_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        source: found.source.clone(),
        notes: found.notes.clone(),
        refresh: refresh_command(provider, common, &found.flags),
    };
    let text = import::render(&found.cluster, &hosts, &header).map_err(usage)?;
    // Never write a file `inventory show` would refuse on the bad day.
    let shown_path = if to_stdout(out) {
        Path::new("(stdout)")
    } else {
        out.as_path()
    };
    Inventory::from_str(&text, shown_path, Format::Toml).map_err(|e| {
        ExitError::caused(
            Exit::Usage,
            "the imported inventory would not load; nothing written".to_owned(),
            e,
        )
    })?;
    if to_stdout(out) {
        stdout_raw(&text);
    } else {
        crate::commands::snapshot::write_atomically(out, &text)?;
    }

    let role = |r: &str| {
        hosts
            .hosts
            .iter()
            .filter(|h| h.labels.get("role").is_some_and(|x| x == r))
            .count()
    };
    let event = ImportEvent {
        kind: "inventory_import".into(),
        provider: provider.into(),
        cluster: found.cluster.name.clone(),
        file: out.clone(),
        machines: found.machines.len(),
        hosts: hosts.hosts.len(),
        control_plane: role("control-plane"),
        workers: role("worker"),
        node_groups: import::node_groups(&found.cluster)
            .iter()
            .map(|g| g.name.clone())
            .collect(),
        skipped: hosts.skipped.clone(),
        dropped_labels: hosts.dropped_labels.clone(),
        notes: found.notes.clone(),
        requests: found.requests,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    if settings.json() {
        stdout_line(&serde_json::to_string(&event)?);
    } else {
        let line = format!(
            "wrote {}: {} host{} of cluster {} ({} control-plane, {} worker), {} node group{}{}",
            if to_stdout(out) {
                "the inventory to stdout".to_owned()
            } else {
                out.display().to_string()
            },
            event.hosts,
            if event.hosts == 1 { "" } else { "s" },
            event.cluster,
            event.control_plane,
            event.workers,
            event.node_groups.len(),
            if event.node_groups.len() == 1 {
                ""
            } else {
                "s"
            },
            if event.skipped.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} machine(s) skipped (see the warnings)",
                    event.skipped.len()
                )
            }
        );
        // With `--out -` stdout is the inventory: the summary goes to stderr.
        if to_stdout(out) {
            stderr_line(&format!("breakglass: {line}"));
        } else {
            stdout_line(&line);
            stdout_line(&format!(
                "next: add [defaults] (user, identity_files), then breakglass -i {} inventory check",
                out.display()
            ));
        }
    }
    Ok(Exit::Success)
}

fn to_stdout(out: &Path) -> bool {
    out.as_os_str() == "-"
}

/// Everything that can be refused before a request is sent.
fn check(settings: &Settings, common: &ImportArgs) -> anyhow::Result<()> {
    if !is_label_name(&common.cluster) {
        return Err(usage(format!(
            "--cluster `{}`: an inventory cluster name is a label value (at most 63 letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit)",
            common.cluster.escape_debug()
        )));
    }
    tag_filters(&common.tags)?;
    if let Some(e) = &common.endpoint
        && !(e.starts_with("https://") || e.starts_with("http://"))
    {
        return Err(usage(format!(
            "--endpoint `{}`: expected an http:// or https:// URL",
            e.escape_debug()
        )));
    }
    let out = &common.out;
    if to_stdout(out) {
        if settings.json() {
            return Err(usage(
                "--out - writes the inventory to stdout; --output json would mix its summary into it: write to a file, or drop --output json",
            ));
        }
        return Ok(());
    }
    if Format::from_path(out) == Format::Json {
        return Err(usage(format!(
            "--out {}: an import is TOML (it starts with comments saying what made it); expected a file name not ending in .json",
            out.display()
        )));
    }
    if !common.force {
        match std::fs::symlink_metadata(out) {
            Ok(_) => {
                return Err(usage(format!(
                    "{} exists; refusing to replace it: choose another --out, or pass --force (there is no merge: import into a new file and copy what you need)",
                    out.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(
                    anyhow::Error::new(e).context(format!("cannot check {}", out.display()))
                );
            }
        }
    }
    Ok(())
}

/// The command line that makes the same import again, for the file's header.
fn refresh_command(provider: &str, common: &ImportArgs, flags: &[(&str, String)]) -> String {
    let quote = |s: &str| {
        shlex::try_quote(s).map_or_else(|_| format!("{s:?}"), std::borrow::Cow::into_owned)
    };
    let mut cmd = format!(
        "breakglass inventory import {provider} --cluster {}",
        quote(&common.cluster)
    );
    for (flag, value) in flags {
        cmd.push_str(&format!(" --{flag} {}", quote(value)));
    }
    if let Some(e) = &common.endpoint {
        cmd.push_str(&format!(" --endpoint {}", quote(e)));
    }
    for t in &common.tags {
        cmd.push_str(&format!(" --tag {}", quote(t)));
    }
    let out = if to_stdout(&common.out) {
        "-".to_owned()
    } else {
        std::path::absolute(&common.out)
            .unwrap_or_else(|_| common.out.clone())
            .display()
            .to_string()
    };
    cmd.push_str(&format!(" --out {} --force", quote(&out)));
    cmd
}

/// An empty `[clusters.NAME]`, for a provider to fill.
pub(super) fn cluster(name: &str) -> Cluster {
    import::empty_cluster(name)
}
