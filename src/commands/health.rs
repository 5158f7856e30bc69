//! `breakglass health CLUSTER`: one screen with everything that says whether a cluster's control
//! plane is up, each check reaching its thing the out-of-band way the runbooks do:
//!
//! - every API endpoint's `/readyz` and `/livez`, by IP with the TLS name and CA set (the client
//!   and verdict of `wait.healthy`: 2xx within `--max-latency`), anonymously, as the API server
//!   allows health reads by default (`system:public-info-viewer`,
//!   kubernetes.io/docs/reference/using-api/health-checks/);
//! - every etcd endpoint's `/health`, with the inventory's etcd client certificate;
//! - an SSH login (TCP, handshake, host key, authentication) on each control-plane host of the
//!   cluster, with bounded concurrency and `--rate`, as `inventory check` does.
//!
//! A check that fails is a result, never an error: it is shown, counted, and makes the exit
//! code 1. Each API and etcd endpoint gets one request per path, in turn, so the command adds
//! nothing worth mentioning to a control plane that is drowning.
//!
//! ## `--output json`
//!
//! One JSON object per line on stdout, tagged by `type` ([`HealthLine`]); fields are never
//! removed within a major version, new ones may be added:
//!
//! | `type` | when | fields |
//! | --- | --- | --- |
//! | `check` | once per check, API first, then etcd, then SSH | `check` (`api`, `etcd`, `ssh`), `target` (`IP:port` of the endpoint; the inventory host name for `ssh`), `address` (`IP:port`), `path` (`api` only: `/readyz`, `/livez`), `ok`, `status` (`api`: the HTTP status, when one came), `latency_ms` (`api`: until the status arrived; `etcd`: until the whole answer; `ssh`: TCP + handshake + authentication, when all three finished), `detail` (`ok`, or why not) |
//! | `summary` | last line | `cluster`, `total`, `ok`, `failed`, `failing` (each failing check as `api IP:port/path`, `etcd IP:port`, `ssh HOST`), `not_started` (SSH checks never launched after Ctrl-C), `elapsed_ms`, `exit_code` |

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::actions::args::Scheme;
use crate::actions::context::kube_config;
use crate::actions::wait_healthy::{api_client, probe};
use crate::cli::HealthArgs;
use crate::engine::event::ms;
use crate::engine::exec::ssh_target;
use crate::engine::{Cancel, fan_out};
use crate::error::{Exit, ExitError};
use crate::inventory::{Cluster, Host, Inventory, Selector, SelectorError};
use crate::output::{stdout_line, stdout_raw};
use crate::settings::Settings;
use crate::transport::RateLimiter;
use crate::transport::etcd::Etcd;
use crate::transport::ssh::{self, CheckResult, Outcome, SshTarget};

/// The API paths probed on every endpoint.
pub const API_PATHS: [&str; 2] = ["/readyz", "/livez"];

/// One line of `--output json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HealthLine {
    Check(HealthCheck),
    Summary(HealthSummary),
}

/// What is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    Api,
    Etcd,
    Ssh,
}

/// One check and what it found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub check: CheckKind,
    pub target: String,
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub latency_ms: Option<f64>,
    pub detail: String,
}

impl HealthCheck {
    /// How the summary names it: `api 10.0.0.10:6443/readyz`, `etcd 10.0.0.10:2379`, `ssh cp1`.
    pub fn name(&self) -> String {
        match self.check {
            CheckKind::Api => format!("api {}{}", self.target, self.path.as_deref().unwrap_or("")),
            CheckKind::Etcd => format!("etcd {}", self.target),
            CheckKind::Ssh => format!("ssh {}", self.target),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthSummary {
    pub cluster: String,
    pub total: usize,
    pub ok: usize,
    pub failed: usize,
    pub failing: Vec<String>,
    pub not_started: usize,
    pub elapsed_ms: f64,
    pub exit_code: u8,
}

pub async fn health(settings: &Settings, args: &HealthArgs) -> anyhow::Result<Exit> {
    let inventory = settings.load_inventory()?;
    let Some(cluster) = inventory.clusters.get(&args.cluster) else {
        return Err(ExitError::new(
            Exit::Usage,
            format!(
                "the inventory {} has no cluster '{}' (it has: {})",
                inventory.path.display(),
                args.cluster,
                inventory
                    .clusters
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .into());
    };
    let hosts = control_plane(&inventory, &cluster.name, &args.control_plane)?;
    if cluster.api_endpoints.is_empty() && cluster.etcd_endpoints.is_empty() && hosts.is_empty() {
        return Err(ExitError::new(
            Exit::Usage,
            format!(
                "cluster '{}' in {} lists no api_endpoints, no etcd_endpoints, and no host matches \
                 `{}` in it: nothing to check",
                cluster.name,
                inventory.path.display(),
                args.control_plane
            ),
        )
        .into());
    }
    let ssh = settings.ssh(&args.ssh, &inventory)?;
    let limiter = ssh.limiter(0.0);
    let options = Arc::new(ssh.options);
    let cancel = Cancel::new();
    // Ctrl-C stops launching SSH checks; the ones in flight finish within their deadline.
    if let Ok(mut interrupts) = crate::engine::interrupts() {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if interrupts.recv().await.is_some() {
                cancel.cancel();
            }
        });
    }
    let started = Instant::now();
    let targets: Vec<SshTarget> = hosts.iter().map(ssh_target).collect();
    let ssh_checks = async {
        let mut checks = Vec::with_capacity(targets.len());
        let stats = fan_out(
            targets,
            ssh.concurrency,
            &cancel,
            move |t: SshTarget| {
                limiter.acquire();
                let r = ssh::check(&t, &options);
                (t, r)
            },
            |_, (t, r): (SshTarget, CheckResult)| checks.push(ssh_check(&t, &r)),
        )
        .await;
        checks.sort_by(|a, b| a.target.cmp(&b.target));
        (checks, stats.not_started)
    };
    let (api, etcd, (ssh_checks, not_started)) = tokio::join!(
        api_checks(cluster, args.max_latency),
        etcd_checks(cluster, args.max_latency),
        ssh_checks
    );
    let checks: Vec<HealthCheck> = api.into_iter().chain(etcd).chain(ssh_checks).collect();
    let failing: Vec<String> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(HealthCheck::name)
        .collect();
    let exit = if cancel.is_cancelled() {
        Exit::Interrupted
    } else if failing.is_empty() && not_started == 0 {
        Exit::Success
    } else {
        Exit::TargetsFailed
    };
    let summary = HealthSummary {
        cluster: cluster.name.clone(),
        total: checks.len(),
        ok: checks.len() - failing.len(),
        failed: failing.len(),
        failing,
        not_started,
        elapsed_ms: ms(started.elapsed()),
        exit_code: exit.code(),
    };
    if settings.json() {
        for c in checks {
            stdout_line(&serde_json::to_string(&HealthLine::Check(c))?);
        }
        stdout_line(&serde_json::to_string(&HealthLine::Summary(summary))?);
    } else {
        stdout_raw(&render(
            &checks,
            &summary,
            hosts.is_empty(),
            &args.control_plane,
        ));
    }
    Ok(exit)
}

/// The hosts of `cluster` that `selector` picks (none is not an error: the other checks run).
fn control_plane(
    inventory: &Inventory,
    cluster: &str,
    selector: &str,
) -> anyhow::Result<Vec<Host>> {
    let parsed = Selector::parse(selector)
        .map_err(|e| ExitError::new(Exit::Usage, format!("--control-plane: {e}")))?;
    let hosts = match inventory.select(&parsed) {
        // The default `role=control-plane` on an inventory without that label: the note says so.
        Err(SelectorError::NoMatch { .. }) => Vec::new(),
        other => other.map_err(|e| ExitError::new(Exit::Usage, format!("--control-plane: {e}")))?,
    };
    Ok(hosts
        .into_iter()
        .filter(|h| h.cluster.as_deref() == Some(cluster))
        .cloned()
        .collect())
}

/// `/readyz` and `/livez` on each API endpoint, one request at a time.
async fn api_checks(cluster: &Cluster, max_latency: Duration) -> Vec<HealthCheck> {
    let failed = |endpoint: std::net::SocketAddr, path: &str, detail: &str| HealthCheck {
        check: CheckKind::Api,
        target: endpoint.to_string(),
        address: endpoint.to_string(),
        path: Some(path.to_owned()),
        ok: false,
        status: None,
        latency_ms: None,
        detail: detail.to_owned(),
    };
    // The TLS name and CA the way the API client takes them: inventory first, then kubeconfig.
    let trust = kube_config(cluster).and_then(|k| {
        let ca =
            k.ca.as_deref()
                .map(|pem| {
                    reqwest::Certificate::from_pem(pem)
                        .map_err(|e| format!("the cluster's CA is not a PEM certificate: {e}"))
                })
                .transpose()?;
        Ok((k.tls_server_name, ca))
    });
    let mut checks = Vec::new();
    for &endpoint in &cluster.api_endpoints {
        let client = trust.clone().and_then(|(name, ca)| {
            api_client(
                endpoint,
                name.as_deref(),
                ca.as_ref(),
                Scheme::Https,
                max_latency,
            )
        });
        for path in API_PATHS {
            let (client, base) = match &client {
                Ok(c) => c,
                Err(e) => {
                    checks.push(failed(endpoint, path, e));
                    continue;
                }
            };
            let p = probe(client, &format!("{base}{path}"), max_latency).await;
            checks.push(HealthCheck {
                check: CheckKind::Api,
                target: endpoint.to_string(),
                address: endpoint.to_string(),
                path: Some(path.to_owned()),
                ok: p.error.is_none(),
                status: p.status,
                latency_ms: Some(ms(p.latency)),
                detail: p.error.map_or_else(|| "ok".to_owned(), |e| short(&e)),
            });
        }
    }
    checks
}

/// A probe's error without what the check already says: the URL it starts with (the check
/// names the endpoint by IP; the URL carries the TLS name, which would only confuse), and the
/// HTTP client's generic wrappers (`error sending request for url (...)`, `client error
/// (Connect)`), leaving the cause: `tcp connect error: Connection refused (os error 111)`.
fn short(error: &str) -> String {
    let mut rest = error;
    if let Some((url, tail)) = rest.split_once(": ")
        && url.starts_with("http")
    {
        rest = tail;
    }
    if rest.starts_with("error sending request")
        && let Some((_, tail)) = rest.split_once("): ")
    {
        rest = tail;
    }
    if let Some(tail) = rest.strip_prefix("client error (Connect): ") {
        rest = tail;
    }
    rest.to_owned()
}

/// `/health` on each etcd endpoint, with the inventory's client certificate.
async fn etcd_checks(cluster: &Cluster, max_latency: Duration) -> Vec<HealthCheck> {
    let Some(mut config) = crate::settings::etcd_config(cluster) else {
        return Vec::new();
    };
    config.timeout = max_latency.max(Duration::from_millis(100)) * 3;
    let etcd = match Etcd::new(
        &config,
        Arc::new(RateLimiter::new(crate::settings::DEFAULT_API_RATE)),
    ) {
        Ok(etcd) => etcd,
        Err(e) => {
            return config
                .endpoints
                .iter()
                .map(|e2| HealthCheck {
                    check: CheckKind::Etcd,
                    target: e2.to_string(),
                    address: e2.to_string(),
                    path: None,
                    ok: false,
                    status: None,
                    latency_ms: None,
                    detail: e.to_string(),
                })
                .collect();
        }
    };
    etcd.endpoint_health()
        .await
        .into_iter()
        .map(|h| {
            let detail = match h.error {
                Some(e) => Some(short(&e)),
                None if h.latency > max_latency => Some(format!(
                    "slow ({} ms > {} ms)",
                    h.latency.as_millis(),
                    max_latency.as_millis()
                )),
                None => None,
            };
            HealthCheck {
                check: CheckKind::Etcd,
                target: h.endpoint.to_string(),
                address: h.endpoint.to_string(),
                path: None,
                ok: detail.is_none(),
                status: None,
                latency_ms: Some(ms(h.latency)),
                detail: detail.unwrap_or_else(|| "ok".to_owned()),
            }
        })
        .collect()
}

fn ssh_check(target: &SshTarget, r: &CheckResult) -> HealthCheck {
    let latency = match (r.tcp, r.handshake, r.auth) {
        (Some(t), Some(h), Some(a)) => Some(ms(t + h + a)),
        _ => None,
    };
    HealthCheck {
        check: CheckKind::Ssh,
        target: target.name.clone(),
        address: target.addr.to_string(),
        path: None,
        ok: r.outcome == Outcome::Ok,
        status: None,
        latency_ms: latency,
        detail: super::inventory::detail(&r.outcome),
    }
}

fn render(checks: &[HealthCheck], s: &HealthSummary, no_hosts: bool, selector: &str) -> String {
    let rows: Vec<[String; 4]> = checks
        .iter()
        .map(|c| {
            let what = match c.check {
                CheckKind::Api => format!("{} {}", c.target, c.path.as_deref().unwrap_or("")),
                CheckKind::Etcd => c.target.clone(),
                CheckKind::Ssh => format!("{} {}", c.target, c.address),
            };
            let result = match (c.ok, c.status) {
                (true, Some(status)) => format!("ok ({status})"),
                (true, None) => "ok".to_owned(),
                (false, _) => c.detail.clone(),
            };
            [
                format!("{:?}", c.check).to_lowercase(),
                what,
                c.latency_ms
                    .map_or_else(|| "-".to_owned(), |l| format!("{l:.1}ms")),
                result,
            ]
        })
        .collect();
    let mut out = super::inventory::table(&["CHECK", "TARGET", "LATENCY", "RESULT"], &rows);
    if no_hosts {
        out.push_str(&format!(
            "note: no host of cluster {} matches `{selector}`: SSH not checked\n",
            s.cluster
        ));
    }
    if s.not_started > 0 {
        out.push_str(&format!(
            "note: {} SSH checks not started (interrupted)\n",
            s.not_started
        ));
    }
    let verdict = if s.exit_code == 0 {
        "healthy".to_owned()
    } else if s.failing.is_empty() {
        "not fully checked".to_owned()
    } else {
        format!("NOT healthy, failing: {}", s.failing.join(", "))
    };
    out.push_str(&format!(
        "cluster {}: {verdict} ({} of {} checks ok in {:.1}s)\n",
        s.cluster,
        s.ok,
        s.total,
        s.elapsed_ms / 1000.0
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: CheckKind, target: &str, ok: bool) -> HealthCheck {
        HealthCheck {
            check: kind,
            target: target.into(),
            address: "10.0.0.10:6443".into(),
            path: (kind == CheckKind::Api).then(|| "/readyz".into()),
            ok,
            status: (kind == CheckKind::Api).then_some(if ok { 200 } else { 500 }),
            latency_ms: Some(1.5),
            detail: if ok { "ok" } else { "HTTP 500" }.into(),
        }
    }

    #[test]
    fn json_lines_read_back_as_what_was_written() {
        let lines = vec![
            HealthLine::Check(check(CheckKind::Api, "10.0.0.10:6443", false)),
            HealthLine::Check(check(CheckKind::Ssh, "cp1", true)),
            HealthLine::Summary(HealthSummary {
                cluster: "prod".into(),
                total: 2,
                ok: 1,
                failed: 1,
                failing: vec!["api 10.0.0.10:6443/readyz".into()],
                not_started: 0,
                elapsed_ms: 12.5,
                exit_code: 1,
            }),
        ];
        for line in lines {
            let text = serde_json::to_string(&line).expect("json");
            assert!(!text.contains('\n'));
            let back: HealthLine = serde_json::from_str(&text).expect("reads back");
            assert_eq!(back, line);
        }
        let text = serde_json::to_string(&HealthLine::Check(check(CheckKind::Etcd, "x", true)))
            .expect("json");
        assert!(
            text.starts_with(r#"{"type":"check","check":"etcd","#),
            "{text}"
        );
        assert!(!text.contains("\"path\""), "{text}");
    }

    #[test]
    fn errors_are_shortened_to_their_cause() {
        assert_eq!(
            short(
                "https://kubernetes.default.svc:6443/readyz: error sending request for url \
                 (https://kubernetes.default.svc:6443/readyz): client error (Connect): tcp connect \
                 error: Connection refused (os error 111)"
            ),
            "tcp connect error: Connection refused (os error 111)"
        );
        assert_eq!(short("https://10.0.0.1:6443/livez: HTTP 500"), "HTTP 500");
        assert_eq!(
            short("slow (1200 ms > 1000 ms)"),
            "slow (1200 ms > 1000 ms)"
        );
    }

    #[test]
    fn the_table_names_what_fails() {
        let checks = vec![
            check(CheckKind::Api, "10.0.0.10:6443", true),
            check(CheckKind::Api, "10.0.0.11:6443", false),
        ];
        let summary = HealthSummary {
            cluster: "prod".into(),
            total: 2,
            ok: 1,
            failed: 1,
            failing: vec![checks[1].name()],
            not_started: 0,
            elapsed_ms: 1200.0,
            exit_code: 1,
        };
        let out = render(&checks, &summary, true, "role=control-plane");
        assert_eq!(
            out,
            "CHECK  TARGET                  LATENCY  RESULT\n\
             api    10.0.0.10:6443 /readyz  1.5ms    ok (200)\n\
             api    10.0.0.11:6443 /readyz  1.5ms    HTTP 500\n\
             note: no host of cluster prod matches `role=control-plane`: SSH not checked\n\
             cluster prod: NOT healthy, failing: api 10.0.0.11:6443/readyz (1 of 2 checks ok in 1.2s)\n"
        );
    }
}
