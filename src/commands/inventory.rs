//! `breakglass inventory show | check`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cli::SshArgs;
use crate::engine::exec::ssh_target;
use crate::engine::{Cancel, fan_out};
use crate::error::Exit;
use crate::inventory::{Host, hostset};
use crate::output::{stdout_line, stdout_raw};
use crate::settings::Settings;
use crate::transport::ssh::{self, CheckResult, Outcome, SshTarget};

#[derive(Serialize)]
struct HostView<'a> {
    name: &'a str,
    address: String,
    port: u16,
    user: &'a str,
    cluster: Option<&'a str>,
    labels: &'a BTreeMap<String, String>,
    host_key: Option<&'a str>,
    jump: Option<&'a str>,
}

pub fn show(settings: &Settings, selector: Option<&str>) -> anyhow::Result<Exit> {
    let inventory = settings.load_inventory()?;
    let hosts = super::select_hosts(&inventory, selector.unwrap_or("all"))?;
    let views: Vec<HostView<'_>> = hosts
        .iter()
        .map(|h| HostView {
            name: &h.name,
            address: h.address.to_string(),
            port: h.port,
            user: &h.user,
            cluster: h.cluster.as_deref(),
            labels: &h.labels,
            host_key: h.host_key.as_deref(),
            jump: h.jump.as_deref().map(|j| j.name.as_str()),
        })
        .collect();
    if settings.json() {
        stdout_line(&serde_json::to_string_pretty(&views)?);
        return Ok(Exit::Success);
    }
    let rows: Vec<[String; 6]> = views
        .iter()
        .map(|v| {
            [
                v.name.to_owned(),
                format!("{}:{}", v.address, v.port),
                v.user.to_owned(),
                v.jump.unwrap_or("-").to_owned(),
                if v.host_key.is_some() {
                    "pinned"
                } else {
                    "known_hosts"
                }
                .to_owned(),
                v.labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ]
        })
        .collect();
    stdout_raw(&table(
        &["NAME", "ADDRESS", "USER", "JUMP", "HOST KEY", "LABELS"],
        &rows,
    ));
    stdout_line(&format!(
        "{} of {} hosts: {}",
        hosts.len(),
        inventory.hosts.len(),
        hostset::fold(hosts.iter().map(|h| h.name.as_str()))
    ));
    // The cloud resources `nodes.scale` can act on, one line per cluster that names any.
    for c in inventory.clusters.values() {
        let Some(aws) = c.aws.as_ref().filter(|a| !a.node_groups.is_empty()) else {
            continue;
        };
        let groups: Vec<String> = aws
            .node_groups
            .iter()
            .map(|g| format!("{} ({})", g.name, g.backing.describe()))
            .collect();
        stdout_line(&format!(
            "cluster {}: AWS{} node groups {}",
            c.name,
            aws.region
                .as_deref()
                .map_or_else(String::new, |r| format!(" {r},")),
            groups.join(", ")
        ));
    }
    Ok(Exit::Success)
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
pub(super) fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                l.push_str(cell);
            } else {
                l.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

#[derive(Serialize)]
struct CheckView {
    #[serde(rename = "type")]
    kind: &'static str,
    target: String,
    address: String,
    outcome: &'static str,
    detail: String,
    tcp_ms: Option<f64>,
    handshake_ms: Option<f64>,
    auth_ms: Option<f64>,
    host_key: Option<String>,
}

/// An SSH check's outcome in a few words (`ok`, `unreachable: ...`).
pub(super) fn detail(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Ok => "ok".into(),
        Outcome::Exit { status, .. } => format!("exit {status}"),
        Outcome::TimedOut { phase, .. } => format!("timed out ({phase})"),
        Outcome::HostKeyRefused {
            reason,
            expected,
            presented,
        } => {
            let mut s = format!("host key refused: {reason}; presented {presented}");
            if let Some(e) = expected {
                s.push_str(&format!("; expected {e}"));
            }
            s
        }
        Outcome::Unreachable { reason } => format!("unreachable: {reason}"),
        Outcome::AuthFailed { reason } => format!("auth failed: {reason}"),
        Outcome::Error { reason } => format!("error: {reason}"),
    }
}

pub async fn check(
    settings: &Settings,
    selector: Option<&str>,
    args: &SshArgs,
) -> anyhow::Result<Exit> {
    let inventory = settings.load_inventory()?;
    let hosts: Vec<Host> = super::select_hosts(&inventory, selector.unwrap_or("all"))?;
    let ssh = settings.ssh(args, &inventory)?;
    let limiter = ssh.limiter(0.0);
    let options = Arc::new(ssh.options);
    let started = Instant::now();
    let cancel = Cancel::new();
    // Ctrl-C stops launching checks; the ones in flight finish within their deadline.
    if let Ok(mut interrupts) = crate::engine::interrupts() {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if interrupts.recv().await.is_some() {
                cancel.cancel();
            }
        });
    }
    let targets: Vec<SshTarget> = hosts.iter().map(ssh_target).collect();
    let mut results: Vec<(String, String, CheckResult)> = Vec::with_capacity(targets.len());
    let json = settings.json();
    let stats = fan_out(
        targets,
        ssh.concurrency,
        &cancel,
        move |t: SshTarget| {
            limiter.acquire();
            let r = ssh::check(&t, &options);
            (t.name, t.addr.to_string(), r)
        },
        |_, (name, addr, r): (String, String, CheckResult)| {
            if json {
                let view = CheckView {
                    kind: "check_result",
                    target: name.clone(),
                    address: addr.clone(),
                    outcome: r.outcome.label(),
                    detail: detail(&r.outcome),
                    tcp_ms: r.tcp.map(crate::engine::event::ms),
                    handshake_ms: r.handshake.map(crate::engine::event::ms),
                    auth_ms: r.auth.map(crate::engine::event::ms),
                    host_key: r.host_key.clone(),
                };
                if let Ok(line) = serde_json::to_string(&view) {
                    stdout_line(&line);
                }
            }
            results.push((name, addr, r));
        },
    )
    .await;
    let bad = results
        .iter()
        .filter(|(_, _, r)| r.outcome != Outcome::Ok)
        .count();
    let elapsed = started.elapsed();
    if json {
        stdout_line(
            &serde_json::json!({
                "type": "summary", "total": hosts.len(), "ok": results.len() - bad, "bad": bad,
                "not_started": stats.not_started, "elapsed_ms": crate::engine::event::ms(elapsed),
            })
            .to_string(),
        );
    } else {
        stdout_raw(&render_check(
            &mut results,
            hosts.len(),
            stats.not_started,
            elapsed,
        ));
    }
    Ok(if cancel.is_cancelled() {
        Exit::Interrupted
    } else if bad > 0 {
        Exit::TargetsFailed
    } else {
        Exit::Success
    })
}

fn render_check(
    results: &mut [(String, String, CheckResult)],
    total: usize,
    not_started: usize,
    elapsed: Duration,
) -> String {
    let mut out = String::new();
    // Per-host latencies are useful on small fleets; on large ones the folded summary is.
    if results.len() <= 32 {
        results.sort_by(|a, b| a.0.cmp(&b.0));
        let f = |d: Option<Duration>| {
            d.map_or_else(
                || "-".to_owned(),
                |d| format!("{:.1}ms", d.as_secs_f64() * 1000.0),
            )
        };
        let rows: Vec<[String; 6]> = results
            .iter()
            .map(|(n, a, r)| {
                [
                    n.clone(),
                    a.clone(),
                    f(r.tcp),
                    f(r.handshake),
                    f(r.auth),
                    detail(&r.outcome),
                ]
            })
            .collect();
        out.push_str(&table(
            &["NAME", "ADDRESS", "TCP", "HANDSHAKE", "AUTH", "RESULT"],
            &rows,
        ));
    }
    let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (n, _, r) in results.iter() {
        groups.entry(detail(&r.outcome)).or_default().push(n);
    }
    for (d, names) in &groups {
        out.push_str(&format!(
            "---- {} ({}): {d}\n",
            hostset::fold(names),
            names.len()
        ));
    }
    let mut lat: Vec<f64> = results
        .iter()
        .filter_map(|(_, _, r)| Some(r.tcp? + r.handshake? + r.auth?))
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    lat.sort_by(f64::total_cmp);
    // Nearest-rank percentile: index ceil(p * n) - 1, in integers.
    let pct = |p_percent: usize| {
        let rank = (lat.len() * p_percent).div_ceil(100).max(1);
        lat.get(rank - 1).copied().unwrap_or(0.0)
    };
    let ok = groups.get("ok").map_or(0, Vec::len);
    out.push_str(&format!(
        "{total} hosts checked in {:.1}s: {ok} ok, {} not ok{}; connect+auth p50 {:.1}ms p95 {:.1}ms max {:.1}ms\n",
        elapsed.as_secs_f64(),
        results.len() - ok,
        if not_started > 0 { format!(", {not_started} not started") } else { String::new() },
        pct(50),
        pct(95),
        lat.last().copied().unwrap_or(0.0),
    ));
    out
}
