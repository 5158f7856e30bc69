//! `wait.healthy`: probe API server endpoints by IP (`/readyz`, `/livez`) and, with `etcd = true`,
//! the cluster's etcd (`/health` on each endpoint), until the error rate and latency stay under
//! their thresholds for a whole window. Used as a step and as a gate.
//!
//! Endpoints are reached by IP with the TLS server name set explicitly (cluster DNS may be
//! down): the URL carries the server name and the client is told which IP it resolves to.
//! TLS is verified: against `ca_file` when given (and nothing else), else the CA of the
//! cluster's kubeconfig, else the built-in roots.
//! etcd is reached through the run's etcd client (client certificates, its CA, by IP).
//! Probes are few and spaced by `interval`, so the gate never adds load worth mentioning to API
//! servers that are recovering. `breakglass health` probes with the same client and the same
//! verdict ([`api_client`], [`probe`]), once.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::context::{Context, TargetKind};
use super::contract::{Action, ActionFailure, Applied};
use crate::actions::args::{Scheme, WaitHealthy};
use crate::cancel::Cancel;
use crate::transport::etcd::Etcd;

/// `wait.healthy` as an action: acts once, from the operator's machine, changes nothing.
pub struct WaitHealthyAction {
    pub args: WaitHealthy,
    /// With `etcd = true`: the inventory cluster whose etcd is probed (the runbook's `cluster`).
    pub etcd_cluster: Option<String>,
    /// The CA (PEM) when no `ca_file` names one: the cluster's kubeconfig's, as the API client
    /// and `health` take it.
    pub ca_pem: Option<Vec<u8>>,
}

impl Action for WaitHealthyAction {
    fn kind(&self) -> &'static str {
        "wait.healthy"
    }

    fn runs_on(&self) -> TargetKind {
        TargetKind::Operator
    }

    fn read_only(&self) -> bool {
        true
    }

    fn plan(&self, _target: &str) -> String {
        let w = &self.args;
        let mut what = Vec::new();
        if !w.paths.is_empty() {
            what.push(format!(
                "{} on {}",
                w.paths.join(", "),
                w.endpoints
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
        if let Some(cluster) = &self.etcd_cluster {
            what.push(format!("etcd /health of cluster {cluster}"));
        }
        format!(
            "probe {} until error rate <= {} and latency <= {} for {} (give up after {})",
            what.join(" and "),
            w.max_error_rate,
            humantime::format_duration(w.max_latency),
            humantime::format_duration(w.window),
            humantime::format_duration(w.timeout),
        )
    }

    fn snapshot(&self, _cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        Ok(Value::Null)
    }

    fn apply(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<Applied, ActionFailure> {
        let etcd = match &self.etcd_cluster {
            Some(cluster) => Some(cx.etcd_of(cluster)?),
            None => None,
        };
        let cancel = cx.cancel().clone();
        // The probes are async (reqwest); this engine worker waits on them.
        let probed = super::api::call(wait(
            &self.args,
            self.ca_pem.as_deref(),
            etcd.as_deref(),
            &cancel,
            self.args.timeout,
            |m| {
                cx.notice(m);
            },
        ))?;
        match probed {
            Ok(summary) => Ok(Applied {
                summary,
                detail: Value::Null,
            }),
            Err(e) => Err(ActionFailure::refused(format!("not healthy: {e}"))),
        }
    }

    fn verify(&self, _cx: &mut dyn Context, _snapshot: &Value) -> Result<(), ActionFailure> {
        Ok(())
    }

    fn inverse(&self, _snapshot: &Value) -> Option<Box<dyn Action>> {
        None
    }
}

/// One probe's outcome.
struct Sample {
    at: Instant,
    ok: bool,
    /// An etcd `/health` probe, not an API path.
    etcd: bool,
}

/// A client for one API endpoint and the base URL to probe it at (`https://NAME:PORT`, where
/// NAME is the TLS server name, resolved to `endpoint` by the client itself, or the IP).
/// Requests time out after three times `max_latency` (at least 300 ms): a slow answer is
/// still told apart from none.
pub fn api_client(
    endpoint: SocketAddr,
    tls_server_name: Option<&str>,
    ca: Option<&reqwest::Certificate>,
    scheme: Scheme,
    max_latency: Duration,
) -> Result<(reqwest::Client, String), String> {
    let host = tls_server_name.map_or_else(
        || match endpoint.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            std::net::IpAddr::V4(ip) => ip.to_string(),
        },
        str::to_owned,
    );
    let mut builder = reqwest::Client::builder()
        .user_agent(crate::transport::https::USER_AGENT)
        .timeout(max_latency.max(Duration::from_millis(100)) * 3)
        .connect_timeout(max_latency.max(Duration::from_secs(1)))
        .no_proxy()
        .pool_max_idle_per_host(1);
    if tls_server_name.is_some() {
        // Never ask DNS: the name is only what TLS verifies; the address is the endpoint's IP.
        builder = builder.resolve(&host, endpoint);
    }
    if let Some(ca) = ca {
        builder = builder
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca.clone());
    }
    let client = builder
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let scheme = match scheme {
        Scheme::Https => "https",
        Scheme::Http => "http",
    };
    Ok((client, format!("{scheme}://{host}:{}", endpoint.port())))
}

/// What one GET of a health path said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// Until the status line and headers arrived (or the request failed).
    pub latency: Duration,
    /// None: healthy (2xx within `max_latency`). Else why not, naming the URL.
    pub error: Option<String>,
}

/// GETs `url` once and judges it: healthy is a 2xx answer within `max_latency`.
pub async fn probe(client: &reqwest::Client, url: &str, max_latency: Duration) -> Probe {
    let t = Instant::now();
    let sent = client.get(url).send().await;
    let latency = t.elapsed();
    let (status, error) = match sent {
        Ok(resp) if resp.status().is_success() && latency <= max_latency => {
            (Some(resp.status().as_u16()), None)
        }
        Ok(resp) if resp.status().is_success() => (
            Some(resp.status().as_u16()),
            Some(format!(
                "{url}: slow ({} ms > {} ms)",
                latency.as_millis(),
                max_latency.as_millis()
            )),
        ),
        Ok(resp) => (
            Some(resp.status().as_u16()),
            Some(format!("{url}: HTTP {}", resp.status())),
        ),
        Err(e) => (None, Some(format!("{url}: {}", error_chain(&e)))),
    };
    Probe {
        status,
        latency,
        error,
    }
}

/// Reads a PEM CA file for [`api_client`].
pub fn read_ca(path: &std::path::Path) -> Result<reqwest::Certificate, String> {
    let pem =
        std::fs::read(path).map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
    reqwest::Certificate::from_pem(&pem)
        .map_err(|e| format!("ca_file {}: not a PEM certificate: {e}", path.display()))
}

/// Probes until healthy (Ok with a summary), or until `timeout` or cancellation (Err with the
/// last failures). Each round probes every path on every API endpoint, then (when `etcd` is
/// given) every etcd endpoint's `/health`; the window and error rate count them all alike.
/// `progress` receives a line now and then for the operator.
pub async fn wait(
    args: &WaitHealthy,
    ca_pem: Option<&[u8]>,
    etcd: Option<&Etcd>,
    cancel: &Cancel,
    timeout: Duration,
    progress: impl Fn(&str),
) -> Result<String, String> {
    let ca = match (args.ca_file.as_deref(), ca_pem) {
        (Some(path), _) => Some(read_ca(path)?),
        (None, Some(pem)) => Some(
            reqwest::Certificate::from_pem(pem)
                .map_err(|e| format!("the cluster's CA is not a PEM certificate: {e}"))?,
        ),
        (None, None) => None,
    };
    let clients: Vec<(reqwest::Client, String)> = if args.paths.is_empty() {
        Vec::new()
    } else {
        args.endpoints
            .iter()
            .map(|&e| {
                api_client(
                    e,
                    args.tls_server_name.as_deref(),
                    ca.as_ref(),
                    args.scheme,
                    args.max_latency,
                )
            })
            .collect::<Result<_, _>>()?
    };
    let started = Instant::now();
    let deadline = started + timeout;
    let mut samples: VecDeque<Sample> = VecDeque::new();
    let mut last_error = String::from("no probe finished yet");
    let mut last_report = Instant::now();
    loop {
        let round = Instant::now();
        for (client, base) in &clients {
            for path in &args.paths {
                let p = probe(client, &format!("{base}{path}"), args.max_latency).await;
                if let Some(e) = &p.error {
                    last_error.clone_from(e);
                }
                samples.push_back(Sample {
                    at: Instant::now(),
                    ok: p.error.is_none(),
                    etcd: false,
                });
            }
        }
        if let Some(etcd) = etcd {
            for h in etcd.endpoint_health().await {
                let error = match h.error {
                    Some(e) => Some(format!("etcd {}: {e}", h.endpoint)),
                    None if h.latency > args.max_latency => Some(format!(
                        "etcd {}: slow ({} ms > {} ms)",
                        h.endpoint,
                        h.latency.as_millis(),
                        args.max_latency.as_millis()
                    )),
                    None => None,
                };
                if let Some(e) = &error {
                    last_error.clone_from(e);
                }
                samples.push_back(Sample {
                    at: Instant::now(),
                    ok: error.is_none(),
                    etcd: true,
                });
            }
        }
        let now = Instant::now();
        while samples
            .front()
            .is_some_and(|s| now.duration_since(s.at) > args.window)
        {
            samples.pop_front();
        }
        let total = samples.len();
        let errors = samples.iter().filter(|s| !s.ok).count();
        #[allow(clippy::cast_precision_loss)]
        let rate = if total == 0 {
            1.0
        } else {
            errors as f64 / total as f64
        };
        // Healthy only once a whole window has been observed under the thresholds.
        if now.duration_since(started) >= args.window && total > 0 && rate <= args.max_error_rate {
            let etcd_probes = samples.iter().filter(|s| s.etcd).count();
            return Ok(format!(
                "healthy: {total} probes ({}) over {} with error rate {:.1}%",
                what_was_probed(total - etcd_probes, etcd_probes),
                humantime::format_duration(Duration::from_secs(args.window.as_secs())),
                rate * 100.0
            ));
        }
        if now >= deadline {
            return Err(format!(
                "still unhealthy after {}: error rate {:.1}% over the last {total} probes; last error: {last_error}",
                humantime::format_duration(Duration::from_secs(timeout.as_secs())),
                rate * 100.0
            ));
        }
        if cancel.is_cancelled() {
            return Err(format!(
                "interrupted while waiting; last error: {last_error}"
            ));
        }
        if now.duration_since(last_report) >= Duration::from_secs(10) {
            progress(&format!(
                "waiting for health: error rate {:.1}% over {total} probes; last error: {last_error}",
                rate * 100.0
            ));
            last_report = now;
        }
        let next = (round + args.interval).min(deadline);
        tokio::select! {
            () = tokio::time::sleep_until(next.into()) => {}
            () = cancel.cancelled() => {}
        }
    }
}

/// `12 API, 6 etcd` for the summary: says which probes the verdict covers.
fn what_was_probed(api: usize, etcd: usize) -> String {
    match (api, etcd) {
        (_, 0) => format!("{api} API"),
        (0, _) => format!("{etcd} etcd"),
        _ => format!("{api} API, {etcd} etcd"),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::lab::etcd::EtcdServer;
    use crate::transport::RateLimiter;
    use crate::transport::etcd::EtcdConfig;

    /// An endpoint answering `/readyz` and `/livez` the way the API server does (`200 ok`, or
    /// `500` with the failed checks: kubernetes.io/docs/reference/using-api/health-checks/),
    /// where `answer(n)` decides the n-th request's status and delay. One request per
    /// connection (`Connection: close`).
    fn endpoint(answer: impl Fn(usize) -> (u16, Duration) + Send + 'static) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(AtomicUsize::new(0));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let (status, delay) = answer(seen.fetch_add(1, Ordering::SeqCst));
                std::thread::sleep(delay);
                let body = if status == 200 {
                    "ok"
                } else {
                    "[-]etcd failed: reason withheld\nreadyz check failed"
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        addr
    }

    fn args(addr: SocketAddr, extra: serde_json::Value) -> WaitHealthy {
        let mut v = serde_json::json!({
            "endpoints": [addr.to_string()], "scheme": "http", "window": "600ms",
            "interval": "50ms", "max_latency": "200ms",
        });
        if let (Some(v), serde_json::Value::Object(extra)) = (v.as_object_mut(), extra) {
            v.extend(extra);
        }
        serde_json::from_value(v).expect("args")
    }

    fn run(args: &WaitHealthy, timeout: Duration) -> (Result<String, String>, Duration) {
        run_with(args, None, timeout)
    }

    fn run_with(
        args: &WaitHealthy,
        etcd: Option<&Etcd>,
        timeout: Duration,
    ) -> (Result<String, String>, Duration) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let started = Instant::now();
        let r = rt.block_on(wait(args, None, etcd, &Cancel::new(), timeout, |_| {}));
        (r, started.elapsed())
    }

    /// The run's etcd client for the lab's etcd, as `FleetReach::etcd` builds it.
    fn etcd_client(server: &EtcdServer) -> Etcd {
        Etcd::new(
            &EtcdConfig {
                cluster: "lab".into(),
                endpoints: vec![server.endpoint],
                ca_file: Some(server.ca_file.clone()),
                cert_file: Some(server.cert_file.clone()),
                key_file: Some(server.key_file.clone()),
                server_name: None,
                timeout: Duration::from_secs(2),
            },
            Arc::new(RateLimiter::new(0.0)),
        )
        .expect("etcd client")
    }

    #[test]
    fn etcd_health_counts_beside_the_api_probes() {
        let server = EtcdServer::start().expect("etcd (apt-get install etcd-server etcd-client)");
        let etcd = etcd_client(&server);
        let api = endpoint(|_| (200, Duration::ZERO));
        // Generous latency: etcd's TLS handshake with client certificates on a loaded machine.
        let both = args(
            api,
            serde_json::json!({"etcd": true, "max_latency": "2s", "window": "600ms"}),
        );
        let (r, took) = run_with(&both, Some(&etcd), Duration::from_secs(10));
        let summary = r.expect("healthy");
        assert!(
            summary.contains(" API, ") && summary.contains(" etcd)"),
            "{summary}"
        );
        assert!(took >= Duration::from_millis(600), "healthy after {took:?}");

        // With the API servers down, etcd alone can still pass a gate (`paths = []`).
        let closed = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr");
        let alone = args(
            closed,
            serde_json::json!({"etcd": true, "paths": [], "max_latency": "2s"}),
        );
        let (r, _) = run_with(&alone, Some(&etcd), Duration::from_secs(10));
        let summary = r.expect("etcd alone is healthy");
        assert!(
            summary.contains(" etcd)") && !summary.contains("API"),
            "{summary}"
        );
    }

    #[test]
    fn a_stopped_etcd_fails_the_wait_within_its_timeout() {
        let server = EtcdServer::start().expect("etcd (apt-get install etcd-server etcd-client)");
        let etcd = etcd_client(&server);
        let endpoint = server.endpoint;
        drop(server);
        let api = self::endpoint(|_| (200, Duration::ZERO));
        let a = args(api, serde_json::json!({"etcd": true}));
        let (r, took) = run_with(&a, Some(&etcd), Duration::from_secs(2));
        let e = r.expect_err("etcd is down");
        assert!(e.contains(&format!("etcd {endpoint}: ")), "{e}");
        // At least the etcd probe failed, one in three (the API probes may fail too on a
        // machine so loaded that a local answer misses its latency bound).
        let rate: f64 = e
            .split("error rate ")
            .nth(1)
            .and_then(|r| r.split('%').next())
            .and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("no error rate in {e}"));
        assert!(rate >= 33.3, "{e}");
        assert!(took < Duration::from_secs(6), "gave up after {took:?}");
    }

    #[test]
    fn healthy_only_after_a_whole_window() {
        let addr = endpoint(|_| (200, Duration::ZERO));
        let (r, took) = run(&args(addr, serde_json::json!({})), Duration::from_secs(5));
        let summary = r.expect("healthy");
        assert!(summary.starts_with("healthy: "), "{summary}");
        assert!(took >= Duration::from_millis(600), "healthy after {took:?}");
    }

    #[test]
    fn a_slow_answer_counts_as_a_failure() {
        let addr = endpoint(|_| (200, Duration::from_millis(300)));
        let (r, _) = run(&args(addr, serde_json::json!({})), Duration::from_secs(2));
        let e = r.expect_err("slow is not healthy");
        assert!(e.contains("slow (") && e.contains("> 200 ms"), "{e}");
    }

    #[test]
    fn the_error_rate_is_held_to_its_threshold() {
        // Every fourth probe fails: 25% errors. Tolerated at 40%, not at 10%.
        let flaky = || endpoint(|n| (if n % 4 == 3 { 500 } else { 200 }, Duration::ZERO));
        let (r, _) = run(
            &args(flaky(), serde_json::json!({"max_error_rate": 0.4})),
            Duration::from_secs(5),
        );
        r.expect("25% errors under a 40% threshold");
        let (r, _) = run(
            &args(flaky(), serde_json::json!({"max_error_rate": 0.1})),
            Duration::from_secs(2),
        );
        let e = r.expect_err("25% errors over a 10% threshold");
        assert!(e.contains("HTTP 500"), "{e}");
    }
}
