//! One Azure Resource Manager client per inventory cluster: a token from the chain (fetched on
//! first use, again before it expires) as a bearer token, paced by the shared send loop
//! (`cloud::rest`: the run's Azure rate limiter and budget, 429/5xx retried after
//! `Retry-After`).
//!
//! Errors are read from ARM's error body (`{"error": {"code", "message"}}`,
//! learn.microsoft.com/azure/azure-resource-manager/troubleshooting/common-deployment-errors);
//! a 403 names the RBAC action the call needs and where the credentials came from, never the
//! token. Endpoint: the inventory's `endpoint`, else `https://management.azure.com`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::credentials::{self, Source};
use crate::transport::RateLimiter;
use crate::transport::cloud::aws::credentials::{Env, Secret};
use crate::transport::cloud::rest::{
    Failure, Pace, Reply, TokenCache, TokenError, fetch_token, http_client, reply, send_json,
};
use crate::transport::https::query_escape;
use crate::transport::rate::Budget;

pub const IN_FLIGHT: usize = 4;
pub const ARM: &str = "https://management.azure.com";

#[derive(Debug, Clone)]
pub struct AzureConfig {
    pub cluster: String,
    pub subscription: String,
    pub endpoint: Option<String>,
    pub timeout: Duration,
    pub deadline: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AzureError {
    #[error("{0}")]
    Credentials(String),
    #[error("{0}")]
    Config(String),
    #[error("cannot reach Azure: {0}")]
    Unreachable(String),
    #[error("Azure refused the credentials from {from} ({code}): {message}")]
    AuthFailed {
        from: String,
        code: String,
        message: String,
    },
    #[error(
        "access denied: the identity from {from} needs the Azure RBAC action {permission} ({code}: {message})"
    )]
    Denied {
        permission: String,
        from: String,
        code: String,
        message: String,
    },
    #[error("{permission} was still throttled at the deadline (HTTP {status})")]
    Throttled { permission: String, status: u16 },
    #[error("the run's budget of {0} Azure requests is spent")]
    Budget(usize),
    #[error("{permission}: HTTP {status} {code}: {message}")]
    Api {
        permission: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("unexpected answer to {permission}: {message}")]
    Protocol { permission: String, message: String },
}

/// A successful answer: its status, headers (the async-operation ones) and JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

pub struct Azure {
    config: AzureConfig,
    source: Source,
    http: reqwest::Client,
    limiter: Arc<RateLimiter>,
    budget: Arc<Budget>,
    sent: AtomicUsize,
    in_flight: tokio::sync::Semaphore,
    token: TokenCache,
}

impl std::fmt::Debug for Azure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Azure")
            .field("cluster", &self.config.cluster)
            .field("credentials", &self.source.describe())
            .finish_non_exhaustive()
    }
}

impl Azure {
    pub fn new(
        config: AzureConfig,
        limiter: Arc<RateLimiter>,
        budget: Arc<Budget>,
    ) -> Result<Azure, AzureError> {
        Azure::with_env(config, limiter, budget, &Env::from_process())
    }

    pub fn with_env(
        config: AzureConfig,
        limiter: Arc<RateLimiter>,
        budget: Arc<Budget>,
        env: &Env,
    ) -> Result<Azure, AzureError> {
        let source = credentials::chain(env).map_err(AzureError::Credentials)?;
        if let Some(e) = &config.endpoint
            && !(e.starts_with("https://") || e.starts_with("http://"))
        {
            return Err(AzureError::Config(format!(
                "endpoint `{e}` is not an http:// or https:// URL"
            )));
        }
        let http = http_client(config.timeout).map_err(AzureError::Config)?;
        Ok(Azure {
            config,
            source,
            http,
            limiter,
            budget,
            sent: AtomicUsize::new(0),
            in_flight: tokio::sync::Semaphore::new(IN_FLIGHT),
            token: TokenCache::default(),
        })
    }

    pub fn subscription(&self) -> &str {
        &self.config.subscription
    }

    pub fn cluster(&self) -> &str {
        &self.config.cluster
    }

    pub fn credential_source(&self) -> String {
        self.source.describe()
    }

    pub fn requests_sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }

    /// The ARM root, no trailing slash.
    pub fn endpoint(&self) -> String {
        self.config
            .endpoint
            .as_deref()
            .unwrap_or(ARM)
            .trim_end_matches('/')
            .to_owned()
    }

    async fn token(&self) -> Result<Secret, AzureError> {
        self.token.get(|| self.fetch_token()).await
    }

    async fn fetch_token(&self) -> Result<(Secret, Duration), AzureError> {
        let from = self.source.describe();
        let fail =
            |m: String| AzureError::Credentials(format!("Azure credentials from {from}: {m}"));
        let resource = format!("{ARM}/");
        let req = match &self.source {
            Source::ServicePrincipal {
                authority,
                tenant,
                client_id,
                secret,
            } => self
                .http
                .post(format!("{authority}/{tenant}/oauth2/v2.0/token"))
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(format!(
                    "grant_type=client_credentials&client_id={}&client_secret={}&scope={}",
                    query_escape(client_id),
                    query_escape(secret.expose()),
                    query_escape(&format!("{ARM}/.default"))
                )),
            Source::Certificate {
                authority,
                tenant,
                client_id,
                ..
            } => {
                let url = format!("{authority}/{tenant}/oauth2/v2.0/token");
                let assertion =
                    credentials::client_assertion(&self.source, &url, std::time::SystemTime::now())
                        .map_err(fail)?;
                self.http
                    .post(url)
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(format!(
                        "grant_type=client_credentials&client_id={}&client_assertion_type={}&client_assertion={}&scope={}",
                        query_escape(client_id),
                        query_escape("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                        assertion.expose(),
                        query_escape(&format!("{ARM}/.default"))
                    ))
            }
            Source::AzureCli(cli) => return self.cli_token(cli).await.map_err(fail),
            Source::ManagedIdentity {
                imds, client_id, ..
            } => {
                let mut url = format!(
                    "{imds}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={}",
                    query_escape(&resource)
                );
                if let Some(c) = client_id {
                    url.push_str(&format!("&client_id={}", query_escape(c)));
                }
                self.http
                    .get(url)
                    .header("Metadata", "true")
                    .timeout(Duration::from_secs(3))
            }
        };
        let fetched = fetch_token(&self.pace(), req).await;
        // DefaultAzureCredential's order: the managed identity, then the Azure CLI's login.
        if let (Err(TokenError::Unreachable(why)), Source::ManagedIdentity { cli: Some(cli), .. }) =
            (&fetched, &self.source)
        {
            return self.cli_token(cli).await.map_err(|m| {
                fail(format!(
                    "the metadata service is unreachable ({why}); the Azure CLI: {m}"
                ))
            });
        }
        fetched.map_err(|e| match e {
            TokenError::Budget(n) => AzureError::Budget(n),
            TokenError::Unreachable(why)
                if matches!(self.source, Source::ManagedIdentity { .. }) =>
            {
                fail(format!(
                    "{why}. Outside Azure, export AZURE_TENANT_ID, AZURE_CLIENT_ID and \
                     AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH), or log in with \
                     `az login` (the Azure CLI must be on PATH)"
                ))
            }
            TokenError::Unreachable(why) | TokenError::Refused(why) => fail(why),
        })
    }

    /// A token from `az account get-access-token` (its JSON: `accessToken`, and `expires_on` in
    /// seconds since the epoch, or only `expiresOn` in local time from older CLIs: then it is
    /// taken for ten minutes). The CLI's stderr is shown (its first lines), never its stdout.
    async fn cli_token(&self, cli: &credentials::AzureCli) -> Result<(Secret, Duration), String> {
        if !self.budget.take() {
            return Err(format!(
                "the run's budget of {} Azure requests is spent",
                self.budget.limit()
            ));
        }
        self.sent.fetch_add(1, Ordering::SeqCst);
        let run = tokio::process::Command::new(&cli.program)
            .args(cli.args(&format!("{ARM}/")))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .map_err(|_| format!("{} did not answer within 60s", cli.program.display()))?
            .map_err(|e| format!("cannot run {}: {e}", cli.program.display()))?;
        if !out.status.success() {
            let err: String = String::from_utf8_lossy(&out.stderr)
                .chars()
                .take(300)
                .collect();
            return Err(format!(
                "`az account get-access-token` failed ({}): {}; run `az login`",
                out.status,
                err.trim()
            ));
        }
        let json: Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("`az account get-access-token` printed no JSON: {e}"))?;
        let token = json["accessToken"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or("`az account get-access-token` printed no accessToken")?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let lifetime = json["expires_on"]
            .as_u64()
            .or_else(|| json["expires_on"].as_str().and_then(|s| s.parse().ok()))
            .map_or(600, |at| at.saturating_sub(now));
        Ok((Secret::new(token), Duration::from_secs(lifetime)))
    }

    fn pace(&self) -> Pace<'_> {
        Pace {
            limiter: &self.limiter,
            budget: &self.budget,
            sent: &self.sent,
            deadline: self.config.deadline,
        }
    }

    /// One ARM call to `url` (absolute, on the ARM endpoint). None: HTTP 404.
    pub async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
        permission: &str,
    ) -> Result<Option<Answer>, AzureError> {
        let permission = permission.to_owned();
        if !url.starts_with(&self.endpoint()) {
            // Tokens go to the ARM endpoint only, whatever an answer points at.
            return Err(AzureError::Protocol {
                permission,
                message: format!("{url} is not on {}", self.endpoint()),
            });
        }
        let _slot = self
            .in_flight
            .acquire()
            .await
            .map_err(|e| AzureError::Config(format!("the request limiter is closed: {e}")))?;
        let token = self.token().await?;
        let sent = send_json(&self.pace(), &self.http, &method, url, &token, body).await;
        match reply(sent) {
            Reply::Json {
                status,
                headers,
                body,
            } => Ok(Some(Answer {
                status,
                headers,
                body,
            })),
            Reply::NotFound => Ok(None),
            Reply::NotJson(message) => Err(AzureError::Protocol {
                permission,
                message,
            }),
            Reply::Unreachable(why) => Err(AzureError::Unreachable(why)),
            Reply::Budget(n) => Err(AzureError::Budget(n)),
            Reply::Failed {
                failure,
                status,
                text,
            } => {
                let (code, message) = error_of(&text);
                let from = self.source.describe();
                Err(match failure {
                    Failure::Unauthenticated => AzureError::AuthFailed {
                        from,
                        code,
                        message,
                    },
                    Failure::Denied => AzureError::Denied {
                        permission,
                        from,
                        code,
                        message,
                    },
                    Failure::Throttled => AzureError::Throttled { permission, status },
                    Failure::Other => AzureError::Api {
                        permission,
                        status,
                        code,
                        message,
                    },
                })
            }
        }
    }
}

/// The `code` and `message` of an ARM error body; the text itself when it is not one.
pub fn error_of(text: &str) -> (String, String) {
    let json: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let e = &json["error"];
    (
        e["code"].as_str().unwrap_or("Unknown").to_owned(),
        e["message"]
            .as_str()
            .map_or_else(|| text.chars().take(200).collect(), str::to_owned),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_error_bodies_are_read() {
        let (code, message) = error_of(
            r#"{"error":{"code":"AuthorizationFailed","message":"The client 'x' with object id 'y' does not have authorization to perform action 'Microsoft.Compute/virtualMachineScaleSets/write' over scope '/subscriptions/s' or the scope is invalid."}}"#,
        );
        assert_eq!(code, "AuthorizationFailed");
        assert!(message.contains("Microsoft.Compute/virtualMachineScaleSets/write"));
    }
}
