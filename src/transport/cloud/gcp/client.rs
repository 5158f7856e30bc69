//! One GCP client per inventory cluster: an access token from the chain (fetched on first use,
//! again before it expires), sent as a bearer token, and paced like every cloud reach (the run's
//! GCP rate limiter and request budget, a few requests in flight, 429 and 503 retried after
//! `Retry-After` or jittered backoff, 500/502/504 likewise, only until the call's deadline).
//!
//! Errors are read from Google's error body (<https://cloud.google.com/apis/design/errors#http_mapping>:
//! `{"error": {"code", "message", "status", "errors": [{"reason"}]}}`); a 403 names the IAM
//! permission the call needs and where the credentials came from, never the token.
//!
//! Endpoints: the inventory's `endpoint` (the root for both APIs), else gcloud's
//! `CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE` / `_CONTAINER` (the API's base URL, as gcloud takes
//! them), else `https://compute.googleapis.com/compute/v1/` and `https://container.googleapis.com/`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::credentials::{self, CredentialError, Source};
use crate::transport::RateLimiter;
use crate::transport::cloud::aws::credentials::{Env, Secret};
use crate::transport::cloud::rest::{
    Failure, Pace, Reply, TokenCache, TokenError, fetch_token, http_client, reply, send_json,
};
use crate::transport::https::query_escape;
use crate::transport::rate::Budget;

/// Requests one client has in flight at most.
pub const IN_FLIGHT: usize = 4;

/// How to reach GCP for one inventory cluster.
#[derive(Debug, Clone)]
pub struct GcpConfig {
    pub cluster: String,
    /// The inventory's `project`; else the key file's, `CLOUDSDK_CORE_PROJECT`,
    /// `GOOGLE_CLOUD_PROJECT`.
    pub project: Option<String>,
    /// The inventory's `endpoint`: both APIs under one root (a private endpoint; the tests' fake).
    pub endpoint: Option<String>,
    pub timeout: Duration,
    /// How long one call may keep retrying (throttling, 5xx) in all.
    pub deadline: Duration,
}

/// The GCP APIs breakglass calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Compute,
    Container,
}

/// Why a GCP call failed. Never holds a token or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GcpError {
    #[error("{0}")]
    Credentials(String),
    #[error("{0}")]
    Config(String),
    #[error("cannot reach GCP: {0}")]
    Unreachable(String),
    #[error("GCP refused the credentials from {from} (HTTP 401 {status}): {message}")]
    AuthFailed {
        from: String,
        status: String,
        message: String,
    },
    #[error(
        "access denied: the identity from {from} needs the IAM permission {permission} ({status}: {message})"
    )]
    Denied {
        permission: String,
        from: String,
        status: String,
        message: String,
    },
    #[error("{permission} was still throttled at the deadline (HTTP {code})")]
    Throttled { permission: String, code: u16 },
    #[error("the run's budget of {0} GCP requests is spent")]
    Budget(usize),
    #[error("{permission}: HTTP {code} {status}: {message}")]
    Api {
        permission: String,
        code: u16,
        status: String,
        message: String,
    },
    #[error("unexpected answer to {permission}: {message}")]
    Protocol { permission: String, message: String },
}

/// A client for one cluster's GCP project.
pub struct Gcp {
    config: GcpConfig,
    env: Env,
    project: String,
    source: Source,
    http: reqwest::Client,
    limiter: Arc<RateLimiter>,
    budget: Arc<Budget>,
    sent: AtomicUsize,
    in_flight: tokio::sync::Semaphore,
    token: TokenCache,
}

impl std::fmt::Debug for Gcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gcp")
            .field("cluster", &self.config.cluster)
            .field("project", &self.project)
            .field("credentials", &self.source.describe())
            .finish_non_exhaustive()
    }
}

impl Gcp {
    pub fn new(
        config: GcpConfig,
        limiter: Arc<RateLimiter>,
        budget: Arc<Budget>,
    ) -> Result<Gcp, GcpError> {
        Gcp::with_env(config, limiter, budget, Env::from_process())
    }

    /// [`Gcp::new`] with the environment given (tests).
    pub fn with_env(
        config: GcpConfig,
        limiter: Arc<RateLimiter>,
        budget: Arc<Budget>,
        env: Env,
    ) -> Result<Gcp, GcpError> {
        let source =
            credentials::chain(&env).map_err(|CredentialError(m)| GcpError::Credentials(m))?;
        let project = config
            .project
            .clone()
            .or_else(|| source.project().map(str::to_owned))
            .or_else(|| env.get("CLOUDSDK_CORE_PROJECT").map(str::to_owned))
            .or_else(|| env.get("GOOGLE_CLOUD_PROJECT").map(str::to_owned))
            .ok_or_else(|| {
                GcpError::Config(format!(
                    "no GCP project for cluster {0}: set `project` in [clusters.{0}.gcp] of the inventory, or CLOUDSDK_CORE_PROJECT",
                    config.cluster
                ))
            })?;
        if let Some(e) = &config.endpoint
            && !(e.starts_with("https://") || e.starts_with("http://"))
        {
            return Err(GcpError::Config(format!(
                "endpoint `{e}` is not an http:// or https:// URL"
            )));
        }
        let http = http_client(config.timeout).map_err(GcpError::Config)?;
        Ok(Gcp {
            config,
            env,
            project,
            source,
            http,
            limiter,
            budget,
            sent: AtomicUsize::new(0),
            in_flight: tokio::sync::Semaphore::new(IN_FLIGHT),
            token: TokenCache::default(),
        })
    }

    pub fn project(&self) -> &str {
        &self.project
    }

    pub fn cluster(&self) -> &str {
        &self.config.cluster
    }

    pub fn credential_source(&self) -> String {
        self.source.describe()
    }

    /// Requests this client sent (every attempt counts, token requests included).
    pub fn requests_sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }

    /// The base URL of `api`, ending in `/`.
    pub fn endpoint(&self, api: Api) -> String {
        let (var, root_path, default) = match api {
            Api::Compute => (
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE",
                "compute/v1/",
                "https://compute.googleapis.com/compute/v1/",
            ),
            Api::Container => (
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER",
                "",
                "https://container.googleapis.com/",
            ),
        };
        if let Some(root) = &self.config.endpoint {
            return format!("{}/{root_path}", root.trim_end_matches('/'));
        }
        let base = self
            .env
            .get(var)
            .filter(|v| !v.is_empty())
            .unwrap_or(default);
        format!("{}/", base.trim_end_matches('/'))
    }

    /// The current access token, fetched on first use and again before it expires.
    async fn token(&self) -> Result<Secret, GcpError> {
        self.token.get(|| self.fetch_token()).await
    }

    async fn fetch_token(&self) -> Result<(Secret, Duration), GcpError> {
        let from = self.source.describe();
        let fail = |m: String| GcpError::Credentials(format!("GCP credentials from {from}: {m}"));
        let req = match &self.source {
            Source::ServiceAccount {
                email,
                key_id,
                key,
                token_uri,
                ..
            } => {
                let assertion =
                    credentials::jwt(email, key_id.as_deref(), key, token_uri, SystemTime::now())
                        .map_err(|CredentialError(m)| fail(m))?;
                self.http
                    .post(token_uri)
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(format!(
                        "grant_type={}&assertion={}",
                        query_escape("urn:ietf:params:oauth:grant-type:jwt-bearer"),
                        assertion.expose()
                    ))
            }
            Source::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
                token_uri,
                ..
            } => self
                .http
                .post(token_uri)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(format!(
                    "grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={}",
                    query_escape(client_id),
                    query_escape(client_secret.expose()),
                    query_escape(refresh_token.expose())
                )),
            Source::Metadata { base } => self
                .http
                .get(format!(
                    "{base}/computeMetadata/v1/instance/service-accounts/default/token"
                ))
                .header("Metadata-Flavor", "Google")
                .timeout(Duration::from_secs(3)),
        };
        fetch_token(&self.pace(), req).await.map_err(|e| match e {
            TokenError::Budget(n) => GcpError::Budget(n),
            TokenError::Unreachable(why) if matches!(self.source, Source::Metadata { .. }) => {
                fail(format!("{why}. Outside GCP, set GOOGLE_APPLICATION_CREDENTIALS to a service-account key \
                     or run `gcloud auth application-default login`"))
            }
            TokenError::Unreachable(why) | TokenError::Refused(why) => fail(why),
        })
    }

    fn pace(&self) -> Pace<'_> {
        Pace {
            limiter: &self.limiter,
            budget: &self.budget,
            sent: &self.sent,
            deadline: self.config.deadline,
        }
    }

    /// One JSON call: authorised, paced, budgeted, retried on throttling and 5xx until the
    /// deadline. `permission` is the IAM permission it needs, for a denial. None: HTTP 404.
    pub async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
        permission: &str,
    ) -> Result<Option<Value>, GcpError> {
        let _slot = self
            .in_flight
            .acquire()
            .await
            .map_err(|e| GcpError::Config(format!("the request limiter is closed: {e}")))?;
        let token = self.token().await?;
        let sent = send_json(&self.pace(), &self.http, &method, url, &token, body).await;
        let permission = permission.to_owned();
        match reply(sent) {
            Reply::Json { body, .. } => Ok(Some(body)),
            Reply::NotFound => Ok(None),
            Reply::NotJson(message) => Err(GcpError::Protocol {
                permission,
                message,
            }),
            Reply::Unreachable(why) => Err(GcpError::Unreachable(why)),
            Reply::Budget(n) => Err(GcpError::Budget(n)),
            Reply::Failed {
                failure,
                status: code,
                text,
            } => {
                let (status, message) = error_of(&text);
                let from = self.source.describe();
                Err(match failure {
                    Failure::Unauthenticated => GcpError::AuthFailed {
                        from,
                        status,
                        message,
                    },
                    Failure::Denied => GcpError::Denied {
                        permission,
                        from,
                        status,
                        message,
                    },
                    Failure::Throttled => GcpError::Throttled { permission, code },
                    Failure::Other => GcpError::Api {
                        permission,
                        code,
                        status,
                        message,
                    },
                })
            }
        }
    }
}

/// The `status` and `message` of a Google error body; the text itself when it is not one.
pub fn error_of(text: &str) -> (String, String) {
    let json: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let e = &json["error"];
    let status = e["status"]
        .as_str()
        .or_else(|| e["errors"][0]["reason"].as_str())
        .unwrap_or("UNKNOWN")
        .to_owned();
    let message = e["message"]
        .as_str()
        .map_or_else(|| text.chars().take(200).collect(), str::to_owned);
    (status, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_error_bodies_are_read() {
        // The shape compute answers with (cloud.google.com/compute/docs/api/handling-errors).
        let body = r#"{"error":{"code":403,"message":"Required 'compute.instanceGroupManagers.update' permission for 'projects/p/zones/z/instanceGroupManagers/m'","errors":[{"message":"x","domain":"global","reason":"forbidden"}]}}"#;
        let (status, message) = error_of(body);
        assert_eq!(status, "forbidden");
        assert!(message.contains("compute.instanceGroupManagers.update"));
        let (status, _) =
            error_of(r#"{"error":{"code":404,"message":"Not found","status":"NOT_FOUND"}}"#);
        assert_eq!(status, "NOT_FOUND");
        assert_eq!(error_of("oops").1, "oops");
    }

    #[test]
    fn endpoints_follow_the_inventory_then_gclouds_overrides() {
        let client = |endpoint: Option<&str>, env: &[(&str, &str)]| {
            let mut pairs = vec![
                ("GCE_METADATA_HOST", "127.0.0.1:1"),
                ("HOME", "/nonexistent"),
            ];
            pairs.extend_from_slice(env);
            Gcp::with_env(
                GcpConfig {
                    cluster: "prod".into(),
                    project: Some("p".into()),
                    endpoint: endpoint.map(str::to_owned),
                    timeout: Duration::from_secs(1),
                    deadline: Duration::from_secs(1),
                },
                Arc::new(RateLimiter::new(0.0)),
                Arc::new(Budget::new(10)),
                Env::from_pairs(pairs),
            )
            .expect("client")
        };
        let c = client(None, &[]);
        assert_eq!(
            c.endpoint(Api::Compute),
            "https://compute.googleapis.com/compute/v1/"
        );
        assert_eq!(
            c.endpoint(Api::Container),
            "https://container.googleapis.com/"
        );
        assert_eq!(
            c.credential_source(),
            "the metadata server at http://127.0.0.1:1"
        );
        let c = client(
            None,
            &[(
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE",
                "http://127.0.0.1:2/compute/v1",
            )],
        );
        assert_eq!(c.endpoint(Api::Compute), "http://127.0.0.1:2/compute/v1/");
        let c = client(Some("http://127.0.0.1:3/"), &[]);
        assert_eq!(c.endpoint(Api::Compute), "http://127.0.0.1:3/compute/v1/");
        assert_eq!(c.endpoint(Api::Container), "http://127.0.0.1:3/");
    }
}
