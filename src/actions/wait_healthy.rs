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

use serde_json::Value;

use super::context::{Context, TargetKind};
use super::contract::{Action, ActionFailure, Applied};
use crate::actions::args::{Scheme, WaitHealthy};
use crate::cancel::Cancel;

/// `wait.healthy` as an action: acts once, from the operator's machine, changes nothing.
pub struct WaitHealthyAction {
    pub args: WaitHealthy,
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
        format!(
            "probe {} on {} until error rate <= {} and latency <= {} for {} (give up after {})",
            w.paths.join(", "),
            w.endpoints
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
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
        // Actions run on the engine's blocking workers, inside its runtime: the probes are
        // async (reqwest), so this worker waits on them.
        let handle = tokio::runtime::Handle::try_current().map_err(|e| {
            ActionFailure::refused(format!("wait.healthy needs the async runtime: {e}"))
        })?;
        let cancel = cx.cancel().clone();
        let probed = handle.block_on(wait(&self.args, &cancel, self.args.timeout, |m| {
            cx.notice(m);
        }));
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

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

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
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let started = Instant::now();
        let r = rt.block_on(wait(args, &Cancel::new(), timeout, |_| {}));
        (r, started.elapsed())
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
