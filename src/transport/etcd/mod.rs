//! etcd v3 through its JSON gateway (`/v3/kv/...`, etcd.io/docs/v3.4/dev-guide/api_grpc_gateway/),
//! with client certificates (kubeadm's etcd requires them), for when no API server answers.
//!
//! One endpoint at a time: a request goes to the first endpoint and fails over to the next only
//! when that one cannot be reached or does not answer within the deadline, so a struggling
//! cluster never sees the same request from us several times at once. Every request waits for
//! its slot from the run's limiter. TLS is verified against the cluster's etcd CA and nothing
//! else; endpoints are IPs, and the name checked is the IP (kubeadm puts it in the SANs) or the
//! inventory's `etcd_server_name`, never a DNS answer.
//!
//! Only exact keys and guarded transactions: reads are single keys or a bounded prefix range,
//! deletes compare the `mod_revision` read before (a key that moved is refused, not deleted),
//! and puts only create a key that is absent. This module does not print and decides no policy.

pub mod value;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::RateLimiter;
use super::https::chain;

/// How to reach one cluster's etcd.
#[derive(Debug, Clone)]
pub struct EtcdConfig {
    pub cluster: String,
    pub endpoints: Vec<SocketAddr>,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub server_name: Option<String>,
    /// Per request, per endpoint.
    pub timeout: Duration,
}

/// Why an etcd request failed. The kinds map onto target outcomes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EtcdError {
    /// No endpoint could be reached (connect refused, no route, deadline).
    #[error("no etcd endpoint answered: {0}")]
    Unreachable(String),
    /// The configuration cannot work (no endpoints, unreadable certificate files).
    #[error("{0}")]
    Config(String),
    /// etcd answered with an error (HTTP status and its message).
    #[error("etcd refused the request: HTTP {status}: {message}")]
    Rejected { status: u16, message: String },
    /// etcd answered something this client cannot read.
    #[error("unexpected answer from etcd: {0}")]
    Protocol(String),
}

/// One key as etcd stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kv {
    pub key: String,
    pub value: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
}

/// What a guarded delete did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    /// Deleted; the value it had.
    Yes(Kv),
    /// Not deleted: the key moved since the revision the caller read (now `Some(kv)`), or is gone.
    Moved(Option<Kv>),
}

/// A client for one cluster's etcd.
pub struct Etcd {
    cluster: String,
    /// A client and base URL per endpoint, in the inventory's order.
    endpoints: Vec<(reqwest::Client, String)>,
    /// The endpoints' addresses, in the same order (what health reports name).
    addrs: Vec<SocketAddr>,
    limiter: Arc<RateLimiter>,
    /// At most [`IN_FLIGHT`] requests at once, however many targets a step runs in parallel.
    in_flight: tokio::sync::Semaphore,
}

/// Requests one client has in flight at most: a struggling etcd gets a handful from us.
pub const IN_FLIGHT: usize = 4;

impl Etcd {
    /// Builds a client per endpoint (reads the certificate files once). Connects nothing yet.
    pub fn new(config: &EtcdConfig, limiter: Arc<RateLimiter>) -> Result<Etcd, EtcdError> {
        if config.endpoints.is_empty() {
            return Err(EtcdError::Config(format!(
                "cluster {} lists no etcd_endpoints in the inventory",
                config.cluster
            )));
        }
        let read = |what: &str, path: &PathBuf| {
            std::fs::read(path).map_err(|e| {
                EtcdError::Config(format!(
                    "cluster {}: cannot read {what} {}: {e}",
                    config.cluster,
                    path.display()
                ))
            })
        };
        let ca = config
            .ca_file
            .as_ref()
            .map(|p| {
                let pem = read("etcd_ca_file", p)?;
                reqwest::Certificate::from_pem(&pem)
                    .map_err(|e| EtcdError::Config(format!("etcd_ca_file {}: {e}", p.display())))
            })
            .transpose()?;
        let identity = match (&config.cert_file, &config.key_file) {
            (Some(cert), Some(key)) => {
                let mut pem = read("etcd_cert_file", cert)?;
                pem.push(b'\n');
                pem.extend(read("etcd_key_file", key)?);
                Some(reqwest::Identity::from_pem(&pem).map_err(|e| {
                    EtcdError::Config(format!(
                        "etcd_cert_file {} with etcd_key_file {}: {e}",
                        cert.display(),
                        key.display()
                    ))
                })?)
            }
            _ => None,
        };
        let endpoints = config
            .endpoints
            .iter()
            .map(|&addr| {
                super::https::client(
                    addr,
                    config.server_name.as_deref(),
                    ca.as_ref(),
                    identity.as_ref(),
                    config.timeout,
                )
                .map_err(|e| EtcdError::Config(format!("etcd: {e}")))
            })
            .collect::<Result<_, EtcdError>>()?;
        Ok(Etcd {
            cluster: config.cluster.clone(),
            endpoints,
            addrs: config.endpoints.clone(),
            limiter,
            in_flight: tokio::sync::Semaphore::new(IN_FLIGHT),
        })
    }

    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// One request, to the first endpoint that answers. etcd's own errors come back from the
    /// endpoint that gave them (another endpoint would say the same).
    async fn send(&self, path: &str, body: Option<&Value>) -> Result<Value, EtcdError> {
        let _slot = self
            .in_flight
            .acquire()
            .await
            .map_err(|e| EtcdError::Config(format!("the request limiter is closed: {e}")))?;
        let mut unreachable = Vec::new();
        for (client, base) in &self.endpoints {
            let limiter = Arc::clone(&self.limiter);
            // The limiter blocks: wait for the slot off the async workers.
            let _ = tokio::task::spawn_blocking(move || limiter.acquire()).await;
            let url = format!("{base}{path}");
            let request = match body {
                Some(b) => client
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(b.to_string()),
                None => client.get(&url),
            };
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    unreachable.push(format!("{base}: {}", chain(&e)));
                    continue;
                }
            };
            let status = response.status();
            let text = response
                .text()
                .await
                .map_err(|e| EtcdError::Protocol(format!("{url}: {}", chain(&e))))?;
            if !status.is_success() {
                let message = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| {
                        v.get("message")
                            .or_else(|| v.get("error"))
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .unwrap_or(text);
                return Err(EtcdError::Rejected {
                    status: status.as_u16(),
                    message,
                });
            }
            return serde_json::from_str(&text)
                .map_err(|e| EtcdError::Protocol(format!("{url}: {e}: {text}")));
        }
        Err(EtcdError::Unreachable(unreachable.join("; ")))
    }

    /// The key's current value, or None when it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Kv>, EtcdError> {
        let answer = self
            .send("/v3/kv/range", Some(&json!({ "key": B64.encode(key) })))
            .await?;
        Ok(kvs(&answer)?.into_iter().next())
    }

    /// Up to `limit` keys under `prefix`, and whether there are more.
    pub async fn list_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<(Vec<Kv>, bool), EtcdError> {
        let answer = self
            .send(
                "/v3/kv/range",
                Some(&json!({
                    "key": B64.encode(prefix),
                    "range_end": B64.encode(prefix_end(prefix.as_bytes())),
                    "limit": limit.to_string(),
                })),
            )
            .await?;
        let more = answer.get("more").and_then(Value::as_bool).unwrap_or(false);
        Ok((kvs(&answer)?, more))
    }

    /// Deletes `key` only if its `mod_revision` is still `mod_revision` (one transaction).
    pub async fn delete_if_unchanged(
        &self,
        key: &str,
        mod_revision: i64,
    ) -> Result<Deleted, EtcdError> {
        let k = B64.encode(key);
        let answer = self
            .send(
                "/v3/kv/txn",
                Some(&json!({
                    "compare": [{
                        "key": k, "target": "MOD", "result": "EQUAL",
                        "mod_revision": mod_revision.to_string(),
                    }],
                    "success": [{ "request_delete_range": { "key": k, "prev_kv": true } }],
                    "failure": [{ "request_range": { "key": k } }],
                })),
            )
            .await?;
        // Zero and false fields are omitted by the gateway: no `succeeded` means false.
        let succeeded = answer
            .get("succeeded")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let response = answer
            .get("responses")
            .and_then(|r| r.get(0))
            .cloned()
            .unwrap_or(Value::Null);
        if succeeded {
            let deleted = response
                .get("response_delete_range")
                .cloned()
                .unwrap_or(Value::Null);
            let prev = kvs_at(&deleted, "prev_kvs")?.into_iter().next();
            return prev.map(Deleted::Yes).ok_or_else(|| {
                EtcdError::Protocol(format!("a delete without its previous value: {answer}"))
            });
        }
        let now = response
            .get("response_range")
            .cloned()
            .unwrap_or(Value::Null);
        Ok(Deleted::Moved(kvs(&now)?.into_iter().next()))
    }

    /// Creates `key` with `value` only if it does not exist. False: it exists (not overwritten).
    pub async fn put_if_absent(&self, key: &str, value: &[u8]) -> Result<bool, EtcdError> {
        let k = B64.encode(key);
        let answer = self
            .send(
                "/v3/kv/txn",
                Some(&json!({
                    "compare": [{
                        "key": k, "target": "CREATE", "result": "EQUAL", "create_revision": "0",
                    }],
                    "success": [{ "request_put": { "key": k, "value": B64.encode(value) } }],
                })),
            )
            .await?;
        Ok(answer
            .get("succeeded")
            .and_then(Value::as_bool)
            .unwrap_or(false))
    }

    /// Each endpoint's `/health` (`{"health":"true"}`), in order: Ok when every one is healthy.
    pub async fn health(&self) -> Result<String, EtcdError> {
        let each = self.endpoint_health().await;
        let bad: Vec<String> = each
            .iter()
            .filter_map(|h| h.error.as_ref().map(|e| format!("{}: {e}", h.endpoint)))
            .collect();
        if bad.is_empty() {
            Ok(format!("etcd healthy on {} endpoint(s)", each.len()))
        } else {
            Err(EtcdError::Unreachable(bad.join("; ")))
        }
    }

    /// Each endpoint's `/health`, one request each, in order, with how long it took to answer.
    /// Health is not paced by the run's limiter: callers space their rounds themselves
    /// (`wait.healthy`'s `interval`, one round for `breakglass health`).
    pub async fn endpoint_health(&self) -> Vec<EndpointHealth> {
        let mut all = Vec::with_capacity(self.endpoints.len());
        for ((client, base), &addr) in self.endpoints.iter().zip(&self.addrs) {
            let url = format!("{base}/health");
            let started = std::time::Instant::now();
            let answer = match client.get(&url).send().await {
                Ok(r) => r
                    .text()
                    .await
                    .map_err(|e| chain(&e))
                    .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string())),
                Err(e) => Err(chain(&e)),
            };
            let latency = started.elapsed();
            let error = match answer {
                Ok(v) if v.get("health").and_then(Value::as_str) == Some("true") => None,
                Ok(v) => Some(format!("unhealthy: {v}")),
                Err(e) => Some(e),
            };
            all.push(EndpointHealth {
                endpoint: addr,
                latency,
                error,
            });
        }
        all
    }
}

/// What one etcd endpoint's `/health` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointHealth {
    pub endpoint: SocketAddr,
    /// Until the whole answer was read (or the request failed).
    pub latency: Duration,
    /// None: `{"health":"true"}`. Else why not: the answer, or why none came.
    pub error: Option<String>,
}

/// The end of the range holding every key that starts with `prefix`: the prefix with its last
/// byte below 0xff incremented (etcd's `clientv3.GetPrefixRangeEnd`).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte was 0xff: the range goes to the end of the keyspace.
    vec![0]
}

fn kvs(answer: &Value) -> Result<Vec<Kv>, EtcdError> {
    kvs_at(answer, "kvs")
}

fn kvs_at(answer: &Value, field: &str) -> Result<Vec<Kv>, EtcdError> {
    let Some(list) = answer.get(field).and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    list.iter().map(kv).collect()
}

/// One `mvccpb.KeyValue` as the gateway writes it: bytes in base64, 64-bit numbers as strings,
/// zero fields omitted.
fn kv(v: &Value) -> Result<Kv, EtcdError> {
    let bytes = |field: &str| -> Result<Vec<u8>, EtcdError> {
        match v.get(field).and_then(Value::as_str) {
            None => Ok(Vec::new()),
            Some(s) => B64
                .decode(s)
                .map_err(|e| EtcdError::Protocol(format!("{field} is not base64: {e}"))),
        }
    };
    let number = |field: &str| -> Result<i64, EtcdError> {
        match v.get(field) {
            None => Ok(0),
            Some(Value::String(s)) => s
                .parse()
                .map_err(|e| EtcdError::Protocol(format!("{field} {s:?}: {e}"))),
            Some(Value::Number(n)) => n
                .as_i64()
                .ok_or_else(|| EtcdError::Protocol(format!("{field} {n}"))),
            Some(other) => Err(EtcdError::Protocol(format!("{field} {other}"))),
        }
    };
    Ok(Kv {
        key: String::from_utf8_lossy(&bytes("key")?).into_owned(),
        value: bytes("value")?,
        create_revision: number("create_revision")?,
        mod_revision: number("mod_revision")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::etcd::EtcdServer;

    fn client(server: &EtcdServer, cert: bool) -> Etcd {
        Etcd::new(
            &EtcdConfig {
                cluster: "lab".into(),
                endpoints: vec![server.endpoint],
                ca_file: Some(server.ca_file.clone()),
                cert_file: cert.then(|| server.cert_file.clone()),
                key_file: cert.then(|| server.key_file.clone()),
                server_name: None,
                timeout: Duration::from_secs(5),
            },
            Arc::new(RateLimiter::new(0.0)),
        )
        .expect("client")
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn guarded_deletes_and_creates_against_a_real_etcd() {
        let server = EtcdServer::start().expect("etcd (apt-get install etcd-server etcd-client)");
        let etcd = client(&server, true);
        let key = "/registry/daemonsets/monitoring/telemetry-agent";
        server.put(key, b"v1").expect("put");
        let kv = block_on(etcd.get(key)).expect("get").expect("present");
        assert_eq!(kv.value, b"v1");
        // The key moves after the read: the guarded delete refuses and says what it is now.
        server.put(key, b"v2").expect("put");
        match block_on(etcd.delete_if_unchanged(key, kv.mod_revision)).expect("txn") {
            Deleted::Moved(Some(now)) => assert_eq!(now.value, b"v2"),
            other => panic!("deleted a key that moved: {other:?}"),
        }
        assert_eq!(server.get(key).expect("get"), Some(b"v2".to_vec()));
        let kv = block_on(etcd.get(key)).expect("get").expect("present");
        match block_on(etcd.delete_if_unchanged(key, kv.mod_revision)).expect("txn") {
            Deleted::Yes(prev) => assert_eq!(prev.value, b"v2"),
            other @ Deleted::Moved(_) => panic!("{other:?}"),
        }
        assert_eq!(server.get(key).expect("get"), None);
        // Put back only while absent.
        assert!(block_on(etcd.put_if_absent(key, b"v2")).expect("txn"));
        assert!(!block_on(etcd.put_if_absent(key, b"other")).expect("txn"));
        assert_eq!(server.get(key).expect("get"), Some(b"v2".to_vec()));
        // A bounded prefix range says when there is more.
        for i in 0..3 {
            server
                .put(&format!("/registry/pods/monitoring/p{i}"), b"x")
                .expect("put");
        }
        let (kvs, more) =
            block_on(etcd.list_prefix("/registry/pods/monitoring/", 2)).expect("range");
        assert_eq!((kvs.len(), more), (2, true));
        let (kvs, more) =
            block_on(etcd.list_prefix("/registry/pods/monitoring/", 3)).expect("range");
        assert_eq!((kvs.len(), more), (3, false));
        assert!(block_on(etcd.health()).expect("health").contains("healthy"));
    }

    #[test]
    fn without_a_client_certificate_etcd_cannot_be_reached() {
        let server = EtcdServer::start().expect("etcd");
        let err = block_on(client(&server, false).get("/registry/x")).expect_err("refused");
        assert!(matches!(err, EtcdError::Unreachable(_)), "{err}");
    }

    #[test]
    fn a_prefix_range_ends_after_the_last_key_with_that_prefix() {
        assert_eq!(prefix_end(b"/registry/pods/"), b"/registry/pods0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }

    #[test]
    fn gateway_key_values_are_read_with_their_omitted_zero_fields() {
        let v = json!({"key": B64.encode("/registry/x"), "mod_revision": "12", "value": B64.encode("v")});
        assert_eq!(
            kv(&v).expect("kv"),
            Kv {
                key: "/registry/x".into(),
                value: b"v".to_vec(),
                create_revision: 0,
                mod_revision: 12,
            }
        );
        assert!(kv(&json!({"key": "not base64!"})).is_err());
    }
}
