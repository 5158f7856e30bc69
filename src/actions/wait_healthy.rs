//! `wait.healthy`: probe API server endpoints by IP (`/readyz`, `/livez`) until the error rate
//! and latency stay under their thresholds for a whole window. Used as a step and as a gate.
//!
//! Endpoints are reached by IP with the TLS server name set explicitly (cluster DNS may be
//! down): the URL carries the server name and the client is told which IP it resolves to.
//! TLS is verified: against `ca_file` when given (and nothing else), else the built-in roots.
//! Probes are few and spaced by `interval`, so the gate never adds load worth mentioning to API
//! servers that are recovering.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::actions::args::{Scheme, WaitHealthy};
use crate::engine::Cancel;

/// One probe's outcome.
struct Sample {
    at: Instant,
    ok: bool,
}

fn client_for(
    args: &WaitHealthy,
    endpoint: SocketAddr,
    ca: Option<&reqwest::Certificate>,
) -> Result<(reqwest::Client, String), String> {
    let host = args
        .tls_server_name
        .clone()
        .unwrap_or_else(|| match endpoint.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            std::net::IpAddr::V4(ip) => ip.to_string(),
        });
    let mut builder = reqwest::Client::builder()
        .timeout(args.max_latency.max(Duration::from_millis(100)) * 3)
        .connect_timeout(args.max_latency.max(Duration::from_secs(1)))
        .no_proxy()
        .pool_max_idle_per_host(1);
    if args.tls_server_name.is_some() {
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
    let scheme = match args.scheme {
        Scheme::Https => "https",
        Scheme::Http => "http",
    };
    Ok((client, format!("{scheme}://{host}:{}", endpoint.port())))
}

/// Probes until healthy (Ok with a summary), or until `timeout` or cancellation (Err with the
/// last failures). `progress` receives a line now and then for the operator.
pub async fn wait(
    args: &WaitHealthy,
    cancel: &Cancel,
    timeout: Duration,
    progress: impl Fn(&str),
) -> Result<String, String> {
    let ca =
        match &args.ca_file {
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
                Some(reqwest::Certificate::from_pem(&pem).map_err(|e| {
                    format!("ca_file {}: not a PEM certificate: {e}", path.display())
                })?)
            }
            None => None,
        };
    let clients: Vec<(reqwest::Client, String)> = args
        .endpoints
        .iter()
        .map(|&e| client_for(args, e, ca.as_ref()))
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let deadline = started + timeout;
    let mut samples: VecDeque<Sample> = VecDeque::new();
    let mut last_error = String::from("no probe finished yet");
    let mut last_report = Instant::now();
    loop {
        let round = Instant::now();
        for (client, base) in &clients {
            for path in &args.paths {
                let url = format!("{base}{path}");
                let t = Instant::now();
                let ok = match client.get(&url).send().await {
                    Ok(resp) if resp.status().is_success() && t.elapsed() <= args.max_latency => {
                        true
                    }
                    Ok(resp) if resp.status().is_success() => {
                        last_error = format!(
                            "{url}: slow ({} ms > {} ms)",
                            t.elapsed().as_millis(),
                            args.max_latency.as_millis()
                        );
                        false
                    }
                    Ok(resp) => {
                        last_error = format!("{url}: HTTP {}", resp.status());
                        false
                    }
                    Err(e) => {
                        last_error = format!("{url}: {}", error_chain(&e));
                        false
                    }
                };
                samples.push_back(Sample {
                    at: Instant::now(),
                    ok,
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
            return Ok(format!(
                "healthy: {total} probes over {} with error rate {:.1}%",
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
