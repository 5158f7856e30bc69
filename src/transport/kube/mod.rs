//! The Kubernetes API, one API server at a time, by IP, polite to a drowning control plane.
//!
//! - **Out of band**: endpoints are IPs from the inventory; the TLS name is set explicitly
//!   (`tls_server_name`, else the kubeconfig's `tls-server-name`, else its server's host name)
//!   and the CA verified; DNS is never asked.
//! - **One endpoint at a time**: a request goes to the endpoint that last answered; only when it
//!   cannot be reached or does not answer within the short per-request deadline is the next one
//!   tried. A saturated server is never sent the same request by several connections.
//! - **Paced and bounded**: every request waits for the run's API rate limiter and counts
//!   against a request budget; `429 Too Many Requests` is honoured (`Retry-After`, API Priority
//!   and Fairness: kubernetes.io/docs/concepts/cluster-administration/flow-control/) and 5xx
//!   answers are retried with jittered backoff, both only until the request's deadline.
//! - **Secrets stay secret**: credentials are never printed, journaled, or put in an error.
//!
//! The answers are `serde_json::Value`s; errors are the API's own `Status` objects
//! (kubernetes.io/docs/reference/using-api/api-concepts/#response-status-kind).

pub mod kubeconfig;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use self::kubeconfig::{Credentials, ExecCredential};
use super::RateLimiter;
use super::https::{chain, query_escape};
use super::rate::backoff;

/// How to reach one cluster's API servers.
#[derive(Debug, Clone)]
pub struct KubeConfig {
    pub cluster: String,
    pub endpoints: Vec<SocketAddr>,
    /// The name the servers' certificates are checked against.
    pub tls_server_name: Option<String>,
    /// PEM.
    pub ca: Option<Vec<u8>>,
    pub credentials: Credentials,
    /// Per request on one endpoint (connect included) before the next endpoint is tried.
    pub timeout: Duration,
    /// How long one call may keep retrying (429, 5xx, failover) in all.
    pub deadline: Duration,
    /// Requests this client may send in the whole run.
    pub budget: usize,
}

/// Why a request failed. The kinds map onto target outcomes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeError {
    #[error("no API server answered: {0}")]
    Unreachable(String),
    /// The server's certificate did not verify against the CA and TLS name (or another TLS
    /// failure): never retried on another endpoint's behalf.
    #[error("TLS with the API server failed: {0}")]
    Tls(String),
    #[error("{0}")]
    Config(String),
    /// The API answered with a `Status` (404 `NotFound`, 409 `Conflict`, 422 `Invalid`, 401, 403).
    #[error("HTTP {code} {reason}: {message}")]
    Status {
        code: u16,
        reason: String,
        message: String,
    },
    /// Still throttled (429) when the deadline came.
    #[error("the API server kept answering 429 Too Many Requests until the deadline: {0}")]
    Throttled(String),
    #[error("the run's budget of {0} API requests is spent")]
    Budget(usize),
    #[error("unexpected answer from the API server: {0}")]
    Protocol(String),
}

impl KubeError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, KubeError::Status { code: 404, .. })
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, KubeError::Status { code: 409, .. })
    }
}

/// One HTTP client per endpoint, built with the credentials of the moment.
struct Endpoints {
    clients: Vec<(reqwest::Client, String)>,
    /// A token sent as `Authorization: Bearer`, if the credentials are one.
    token: Option<String>,
}

/// A client for one cluster's API servers.
pub struct Kube {
    config: KubeConfig,
    limiter: Arc<RateLimiter>,
    /// The endpoint that answered last: the next request goes there first.
    preferred: AtomicUsize,
    sent: AtomicUsize,
    endpoints: Mutex<Option<Arc<Endpoints>>>,
    /// At most [`IN_FLIGHT`] requests at once, however many targets a step runs in parallel.
    in_flight: tokio::sync::Semaphore,
}

/// Requests one client has in flight at most: a drowning API server gets a handful of
/// requests from us, never one per worker.
pub const IN_FLIGHT: usize = 4;

impl Kube {
    pub fn new(config: KubeConfig, limiter: Arc<RateLimiter>) -> Result<Kube, KubeError> {
        if config.endpoints.is_empty() {
            return Err(KubeError::Config(format!(
                "cluster {} lists no api_endpoints in the inventory",
                config.cluster
            )));
        }
        Ok(Kube {
            config,
            limiter,
            preferred: AtomicUsize::new(0),
            sent: AtomicUsize::new(0),
            endpoints: Mutex::new(None),
            in_flight: tokio::sync::Semaphore::new(IN_FLIGHT),
        })
    }

    pub fn cluster(&self) -> &str {
        &self.config.cluster
    }

    /// Requests sent so far (for messages and tests).
    pub fn requests_sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }

    /// The clients, built on first use (an exec plugin runs then, off the async workers).
    async fn endpoints(&self) -> Result<Arc<Endpoints>, KubeError> {
        if let Some(e) = self
            .endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            return Ok(Arc::clone(e));
        }
        let config = self.config.clone();
        let built = tokio::task::spawn_blocking(move || build(&config))
            .await
            .map_err(|e| KubeError::Config(format!("building the API client: {e}")))??;
        let built = Arc::new(built);
        *self
            .endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&built));
        Ok(built)
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Value, KubeError> {
        self.request(reqwest::Method::GET, path, None).await
    }

    /// `PATCH path` with a JSON merge patch (RFC 7386).
    pub async fn merge_patch(&self, path: &str, patch: &Value) -> Result<Value, KubeError> {
        self.request(
            reqwest::Method::PATCH,
            path,
            Some(("application/merge-patch+json", patch)),
        )
        .await
    }

    /// `POST path` (create).
    pub async fn create(&self, path: &str, object: &Value) -> Result<Value, KubeError> {
        self.request(
            reqwest::Method::POST,
            path,
            Some(("application/json", object)),
        )
        .await
    }

    /// `DELETE path` with a `DeleteOptions` body.
    pub async fn delete(&self, path: &str, options: &Value) -> Result<Value, KubeError> {
        self.request(
            reqwest::Method::DELETE,
            path,
            Some(("application/json", options)),
        )
        .await
    }

    /// A LIST read in pages of `limit` objects, following `metadata.continue` to the last
    /// page, never an unbounded LIST
    /// (kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks).
    /// `path` has no query string. Each page is one request: paced, budgeted, retried as any.
    /// A continue token that has expired (410 `Expired`, the server compacted past it) is an
    /// error: the caller starts again rather than mixing two revisions.
    pub async fn list(&self, path: &str, limit: usize) -> Result<Vec<Value>, KubeError> {
        let limit = limit.max(1);
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = format!("{path}?limit={limit}");
            if let Some(t) = &token {
                url.push_str("&continue=");
                url.push_str(&query_escape(t));
            }
            let mut page = self.get(&url).await?;
            match page.get_mut("items").map(Value::take) {
                Some(Value::Array(page_items)) => items.extend(page_items),
                // Go's encoder writes an empty list as `null`.
                Some(Value::Null) | None => {}
                Some(other) => {
                    return Err(KubeError::Protocol(format!(
                        "GET {url}: `items` is not a list but {other}"
                    )));
                }
            }
            let next = page
                .pointer("/metadata/continue")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty());
            match next {
                None => return Ok(items),
                // A server that hands back the token it was given would page forever.
                Some(t) if token.as_deref() == Some(t) => {
                    return Err(KubeError::Protocol(format!(
                        "GET {url}: the same continue token came back; the list does not advance"
                    )));
                }
                Some(t) => token = Some(t.to_owned()),
            }
        }
    }

    /// One API call: paced, budgeted, failing over between endpoints, honouring 429 and
    /// backing off on 5xx, all within the configured deadline.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, &Value)>,
    ) -> Result<Value, KubeError> {
        let _slot = self
            .in_flight
            .acquire()
            .await
            .map_err(|e| KubeError::Config(format!("the request limiter is closed: {e}")))?;
        let endpoints = self.endpoints().await?;
        let deadline = Instant::now() + self.config.deadline;
        let n = endpoints.clients.len();
        let mut unreachable: Vec<String> = Vec::new();
        let mut attempt: u32 = 0;
        let mut index = self.preferred.load(Ordering::SeqCst) % n;
        let mut tried_here = 0;
        loop {
            if self.sent.fetch_add(1, Ordering::SeqCst) >= self.config.budget {
                return Err(KubeError::Budget(self.config.budget));
            }
            let limiter = Arc::clone(&self.limiter);
            let _ = tokio::task::spawn_blocking(move || limiter.acquire()).await;
            let (client, base) = &endpoints.clients[index];
            let mut req = client.request(method.clone(), format!("{base}{path}"));
            req = req.header(reqwest::header::ACCEPT, "application/json");
            if let Some(token) = &endpoints.token {
                req = req.bearer_auth(token);
            }
            if let Some((content_type, value)) = body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(value.to_string());
            }
            let response = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    let why = chain(&e);
                    if is_tls(&why) {
                        return Err(KubeError::Tls(format!("{base}: {why}")));
                    }
                    unreachable.push(format!("{base}: {why}"));
                    tried_here += 1;
                    if tried_here >= n || Instant::now() >= deadline {
                        return Err(KubeError::Unreachable(unreachable.join("; ")));
                    }
                    index = (index + 1) % n;
                    continue;
                }
            };
            self.preferred.store(index, Ordering::SeqCst);
            tried_here = 0;
            let status = response.status().as_u16();
            let retry_after = super::rate::retry_after(response.headers());
            let text = response
                .text()
                .await
                .map_err(|e| KubeError::Protocol(chain(&e)))?;
            let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if (200..300).contains(&status) {
                return Ok(value);
            }
            let error = status_error(status, &value, &text);
            let wait = match status {
                // Priority and Fairness says when to come back; never sooner, never past the
                // deadline.
                429 => {
                    super::rate::retry_wait(retry_after.or(Some(Duration::from_secs(1))), attempt)
                }
                500..=599 => backoff(attempt),
                _ => return Err(error),
            };
            attempt += 1;
            if Instant::now() + wait >= deadline {
                return Err(if status == 429 {
                    KubeError::Throttled(error.to_string())
                } else {
                    error
                });
            }
            tokio::time::sleep(wait).await;
        }
    }
}

fn status_error(code: u16, value: &Value, text: &str) -> KubeError {
    let field = |f: &str| value.get(f).and_then(Value::as_str).map(str::to_owned);
    KubeError::Status {
        code,
        reason: field("reason").unwrap_or_else(|| "Unknown".into()),
        message: field("message").unwrap_or_else(|| text.chars().take(200).collect()),
    }
}

fn is_tls(why: &str) -> bool {
    let w = why.to_ascii_lowercase();
    w.contains("certificate") || w.contains("invalid peer") || w.contains("tls handshake")
}

fn build(config: &KubeConfig) -> Result<Endpoints, KubeError> {
    let (token, identity) = match &config.credentials {
        Credentials::None => (None, None),
        Credentials::Token(t) => (Some(t.clone()), None),
        Credentials::TokenFile(p) => (
            Some(
                std::fs::read_to_string(p)
                    .map_err(|e| {
                        KubeError::Config(format!("cannot read token file {}: {e}", p.display()))
                    })?
                    .trim()
                    .to_owned(),
            ),
            None,
        ),
        Credentials::ClientCert { cert, key } => (None, Some(identity(cert, key)?)),
        Credentials::Exec(exec) => {
            match kubeconfig::run_exec(exec, Duration::from_secs(30)).map_err(KubeError::Config)? {
                ExecCredential::Token(t) => (Some(t), None),
                ExecCredential::ClientCert { cert, key } => (None, Some(identity(&cert, &key)?)),
            }
        }
    };
    let ca = config
        .ca
        .as_ref()
        .map(|pem| {
            reqwest::Certificate::from_pem(pem).map_err(|e| {
                KubeError::Config(format!("the cluster CA is not a PEM certificate: {e}"))
            })
        })
        .transpose()?;
    let clients = config
        .endpoints
        .iter()
        .map(|&addr| {
            super::https::client(
                addr,
                config.tls_server_name.as_deref(),
                ca.as_ref(),
                identity.as_ref(),
                config.timeout,
            )
            .map_err(KubeError::Config)
        })
        .collect::<Result<_, KubeError>>()?;
    Ok(Endpoints { clients, token })
}

fn identity(cert: &[u8], key: &[u8]) -> Result<reqwest::Identity, KubeError> {
    let mut pem = cert.to_vec();
    pem.push(b'\n');
    pem.extend_from_slice(key);
    reqwest::Identity::from_pem(&pem)
        .map_err(|e| KubeError::Config(format!("the client certificate and key do not load: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_never_has_more_than_a_handful_of_requests_in_flight() {
        use std::net::TcpListener;
        use std::sync::atomic::AtomicUsize;
        // An endpoint that accepts connections and never answers (a drowned server): every
        // request holds its connection until its deadline, so accepted connections count the
        // requests in flight at once.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming().take(64) {
                counter.fetch_add(1, Ordering::SeqCst);
                held.push(conn);
            }
        });
        let kube = Arc::new(
            Kube::new(
                KubeConfig {
                    cluster: "lab".into(),
                    endpoints: vec![addr],
                    tls_server_name: None,
                    ca: None,
                    credentials: Credentials::None,
                    timeout: Duration::from_millis(1500),
                    deadline: Duration::from_millis(1500),
                    budget: 100,
                },
                Arc::new(RateLimiter::new(0.0)),
            )
            .expect("client"),
        );
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let calls: Vec<_> = (0..12)
                .map(|_| {
                    let kube = Arc::clone(&kube);
                    tokio::spawn(async move { kube.get("/api/v1/nodes").await })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(700)).await;
            let in_flight = accepted.load(Ordering::SeqCst);
            assert!(
                (1..=IN_FLIGHT).contains(&in_flight),
                "{in_flight} connections at once for 12 concurrent calls"
            );
            for c in calls {
                let r = c.await.expect("task");
                assert!(matches!(r, Err(KubeError::Unreachable(_))), "{r:?}");
            }
        });
    }

    #[test]
    fn a_status_object_becomes_a_typed_error() {
        let v = serde_json::json!({"kind":"Status","apiVersion":"v1","status":"Failure",
            "message":"daemonsets.apps \"x\" not found","reason":"NotFound","code":404});
        let e = status_error(404, &v, "");
        assert!(e.is_not_found());
        assert_eq!(
            e.to_string(),
            "HTTP 404 NotFound: daemonsets.apps \"x\" not found"
        );
    }
}
