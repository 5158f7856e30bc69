//! One AWS client per inventory cluster: credentials from the chain (fetched on first use,
//! fetched again before they expire), every request signed with SigV4 by the `aws-sigv4` crate,
//! and paced like every reach:
//!
//! - every attempt waits for the run's AWS rate limiter and counts against the run's AWS
//!   request budget; at most [`IN_FLIGHT`] requests of one client are in flight at once;
//! - throttling (`Throttling`, `ThrottlingException`, `RequestLimitExceeded`, ..., HTTP 429 and
//!   503) is retried after what `Retry-After` asks for, else jittered exponential backoff, and
//!   5xx answers likewise, all only until the call's deadline; every call we make is idempotent,
//!   so a retry cannot change twice;
//! - `AccessDenied` / `UnauthorizedOperation` become an error naming the IAM permission the call
//!   needs (`autoscaling:UpdateAutoScalingGroup`), and refused signatures one naming where the
//!   credentials came from, never the keys.
//!
//! Endpoints: the inventory's `endpoint` (per cluster), else `AWS_ENDPOINT_URL_<SERVICE>`
//! (`AWS_ENDPOINT_URL_AUTO_SCALING`, `_EKS`, `_STS`, `_EC2`), else `AWS_ENDPOINT_URL`, else the
//! service's regional endpoint (docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use super::credentials::{self, Credentials, Env, Profiles, Source};
use super::xml;
use crate::transport::RateLimiter;
use crate::transport::https::{chain, query_escape};
use crate::transport::rate::{Budget, backoff, retry_after, retry_wait};

/// Requests one client has in flight at most.
pub const IN_FLIGHT: usize = 4;

/// Credentials are fetched again this long before they expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// How to reach AWS for one inventory cluster.
#[derive(Debug, Clone)]
pub struct AwsConfig {
    pub cluster: String,
    /// The inventory's `region`; else the environment's or the profile's.
    pub region: Option<String>,
    /// The inventory's `endpoint`: every service of this cluster at one URL (a VPC endpoint
    /// proxy, moto in the tests).
    pub endpoint: Option<String>,
    /// The inventory's `profile`.
    pub profile: Option<String>,
    /// The inventory's `config_file` and `credentials_file`: read instead of the files
    /// `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE` name.
    pub config_file: Option<std::path::PathBuf>,
    pub credentials_file: Option<std::path::PathBuf>,
    /// One request, connect included.
    pub timeout: Duration,
    /// How long one call may keep retrying (throttling, 5xx) in all.
    pub deadline: Duration,
}

/// The AWS services breakglass calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    AutoScaling,
    Ec2,
    Eks,
    Sts,
}

impl Service {
    /// The SigV4 signing name, the endpoint prefix and the IAM action prefix (the same for these).
    pub fn name(self) -> &'static str {
        match self {
            Service::AutoScaling => "autoscaling",
            Service::Ec2 => "ec2",
            Service::Eks => "eks",
            Service::Sts => "sts",
        }
    }

    /// The suffix of its `AWS_ENDPOINT_URL_<SERVICE>` variable (the service id, upper snake case).
    fn env_suffix(self) -> &'static str {
        match self {
            Service::AutoScaling => "AUTO_SCALING",
            Service::Ec2 => "EC2",
            Service::Eks => "EKS",
            Service::Sts => "STS",
        }
    }

    /// The Query protocol's `Version` (None: a REST-JSON service).
    fn query_version(self) -> Option<&'static str> {
        match self {
            Service::AutoScaling => Some("2011-01-01"),
            Service::Ec2 => Some("2016-11-15"),
            Service::Sts => Some("2011-06-15"),
            Service::Eks => None,
        }
    }
}

/// Why an AWS call failed. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    /// No credentials, or a source that failed (a `credential_process`, IMDS, AssumeRole).
    #[error("{0}")]
    Credentials(String),
    /// The configuration cannot work (no region, a bad endpoint).
    #[error("{0}")]
    Config(String),
    #[error("cannot reach AWS: {0}")]
    Unreachable(String),
    /// The signature or the key was refused.
    #[error("{service} refused the credentials from {from} ({code}): {message}")]
    AuthFailed {
        service: &'static str,
        from: String,
        code: String,
        message: String,
    },
    /// The identity lacks the permission.
    #[error(
        "access denied: the identity from {from} needs the IAM permission {permission} ({code}: {message})"
    )]
    Denied {
        permission: String,
        from: String,
        code: String,
        message: String,
    },
    #[error("{permission} was still throttled at the deadline ({code})")]
    Throttled { permission: String, code: String },
    #[error("the run's budget of {0} AWS requests is spent")]
    Budget(usize),
    /// Any other error answer.
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

impl AwsError {
    /// The API's error code, if it answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Api { code, .. }
            | AwsError::Denied { code, .. }
            | AwsError::AuthFailed { code, .. }
            | AwsError::Throttled { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A client for one cluster's AWS account and region.
pub struct Aws {
    config: AwsConfig,
    env: Env,
    region: String,
    source: Source,
    http: reqwest::Client,
    /// For the instance metadata service: never through a proxy, short deadlines.
    imds_http: reqwest::Client,
    limiter: Arc<RateLimiter>,
    budget: Arc<Budget>,
    sent: AtomicUsize,
    in_flight: tokio::sync::Semaphore,
    credentials: tokio::sync::Mutex<Option<Credentials>>,
}

impl std::fmt::Debug for Aws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aws")
            .field("cluster", &self.config.cluster)
            .field("region", &self.region)
            .field("credentials", &self.source.describe())
            .finish_non_exhaustive()
    }
}

impl Aws {
    /// A client reading the process environment and the shared files. Connects nothing yet.
    pub fn new(
        config: AwsConfig,
        limiter: Arc<RateLimiter>,
        budget: Arc<Budget>,
    ) -> Result<Aws, AwsError> {
        Aws::with_env(config, limiter, budget, Env::from_process())
    }

    /// [`Aws::new`] with the environment given (tests).
    pub fn with_env(
        config: AwsConfig,
        limiter: Arc<RateLimiter>,
        budget: Arc<Budget>,
        env: Env,
    ) -> Result<Aws, AwsError> {
        let cred = |e: credentials::CredentialError| AwsError::Credentials(e.to_string());
        let mut env = env;
        if let Some(p) = &config.config_file {
            env.set("AWS_CONFIG_FILE", &p.to_string_lossy());
        }
        if let Some(p) = &config.credentials_file {
            env.set("AWS_SHARED_CREDENTIALS_FILE", &p.to_string_lossy());
        }
        let profiles = Profiles::load(&env).map_err(cred)?;
        let region = config
            .region
            .clone()
            .or_else(|| credentials::region(&env, &profiles, config.profile.as_deref()))
            .ok_or_else(|| {
                AwsError::Config(format!(
                    "no AWS region for cluster {}: set `region` in [clusters.{}.aws] of the inventory, or AWS_REGION",
                    config.cluster, config.cluster
                ))
            })?;
        let source =
            credentials::chain(&env, &profiles, config.profile.as_deref()).map_err(cred)?;
        if let Some(e) = &config.endpoint {
            check_endpoint(e)?;
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .pool_max_idle_per_host(1)
            .build()
            .map_err(|e| {
                AwsError::Config(format!("cannot build an HTTPS client: {}", chain(&e)))
            })?;
        let imds_http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .connect_timeout(Duration::from_secs(1))
            .no_proxy()
            .build()
            .map_err(|e| AwsError::Config(format!("cannot build an HTTP client: {}", chain(&e))))?;
        Ok(Aws {
            config,
            env,
            region,
            source,
            http,
            imds_http,
            limiter,
            budget,
            sent: AtomicUsize::new(0),
            in_flight: tokio::sync::Semaphore::new(IN_FLIGHT),
            credentials: tokio::sync::Mutex::new(None),
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn cluster(&self) -> &str {
        &self.config.cluster
    }

    /// Where the credentials come from (for plans and messages).
    pub fn credential_source(&self) -> String {
        self.source.describe()
    }

    /// Requests this client sent (every attempt counts).
    pub fn requests_sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }

    /// The base URL of `service` (no trailing slash).
    pub fn endpoint(&self, service: Service) -> String {
        let ignore_env = self
            .env
            .get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let configured = self.config.endpoint.clone().or_else(|| {
            (!ignore_env)
                .then(|| {
                    self.env
                        .get(&format!("AWS_ENDPOINT_URL_{}", service.env_suffix()))
                        .or_else(|| self.env.get("AWS_ENDPOINT_URL"))
                        .map(str::to_owned)
                })
                .flatten()
        });
        configured.map_or_else(
            || {
                let suffix = if self.region.starts_with("cn-") {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                };
                format!("https://{}.{}.{suffix}", service.name(), self.region)
            },
            |e| e.trim_end_matches('/').to_owned(),
        )
    }

    /// The current credentials, fetched on first use and again before they expire.
    async fn credentials(&self) -> Result<Credentials, AwsError> {
        let mut cached = self.credentials.lock().await;
        if let Some(c) = cached.as_ref()
            && !c.expiring(REFRESH_MARGIN)
        {
            return Ok(c.clone());
        }
        let fresh = self.fetch(&self.source).await?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    fn fetch<'a>(
        &'a self,
        source: &'a Source,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Credentials, AwsError>> + Send + 'a>> {
        Box::pin(async move {
            match source {
                Source::Static(c) => Ok(c.clone()),
                Source::Process { profile, command } => {
                    let (profile, command) = (profile.clone(), command.clone());
                    tokio::task::spawn_blocking(move || {
                        credentials::run_process(&profile, &command, Duration::from_secs(60))
                    })
                    .await
                    .map_err(|e| AwsError::Credentials(format!("credential_process: {e}")))?
                    .map_err(|e| AwsError::Credentials(e.to_string()))
                }
                Source::Imds { endpoint } => self.imds(endpoint).await,
                Source::AssumeRole {
                    profile,
                    role_arn,
                    session_name,
                    external_id,
                    duration_seconds,
                    source,
                } => {
                    let base = self.fetch(source).await?;
                    let mut params = vec![
                        ("RoleArn", role_arn.clone()),
                        ("RoleSessionName", session_name.clone()),
                    ];
                    if let Some(x) = external_id {
                        params.push(("ExternalId", x.clone()));
                    }
                    if let Some(d) = duration_seconds {
                        params.push(("DurationSeconds", d.to_string()));
                    }
                    let text = self
                        .query_with(Service::Sts, "AssumeRole", &params, &base)
                        .await
                        .map_err(|e| {
                            AwsError::Credentials(format!(
                                "profile {profile}: assuming role {role_arn} failed: {e}"
                            ))
                        })?;
                    assumed(
                        &text,
                        format!("profile {profile} (assumed role {role_arn})"),
                    )
                }
            }
        })
    }

    /// IMDSv2: a session token (PUT), then the instance role's name, then its credentials
    /// (docs.aws.amazon.com/AWSEC2/latest/UserGuide/instance-metadata-security-credentials.html).
    async fn imds(&self, endpoint: &str) -> Result<Credentials, AwsError> {
        let fail = |what: &str, why: String| {
            AwsError::Credentials(format!(
                "AWS credentials: none in the environment or the shared files, and the instance \
                 metadata service at {endpoint} {what}: {why}. Export keys, set AWS_PROFILE, or \
                 name a `profile` in the inventory"
            ))
        };
        let get = |req: reqwest::RequestBuilder, what: &'static str| async move {
            let r = req.send().await.map_err(|e| fail(what, chain(&e)))?;
            let status = r.status();
            let text = r.text().await.map_err(|e| fail(what, chain(&e)))?;
            if status.is_success() {
                Ok(text)
            } else {
                Err(fail(what, format!("HTTP {status}")))
            }
        };
        let token = get(
            self.imds_http
                .put(format!("{endpoint}/latest/api/token"))
                .header("x-aws-ec2-metadata-token-ttl-seconds", "21600"),
            "gave no session token",
        )
        .await?;
        let token = token.trim();
        let base = format!("{endpoint}/latest/meta-data/iam/security-credentials/");
        let roles = get(
            self.imds_http
                .get(&base)
                .header("x-aws-ec2-metadata-token", token),
            "named no instance role",
        )
        .await?;
        let role = roles
            .lines()
            .next()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| fail("named no instance role", "an empty answer".into()))?
            .to_owned();
        let json = get(
            self.imds_http
                .get(format!("{base}{role}"))
                .header("x-aws-ec2-metadata-token", token),
            "gave no role credentials",
        )
        .await?;
        credentials::from_json(
            &json,
            format!("the instance metadata service (instance role {role})"),
        )
        .map_err(|e| AwsError::Credentials(e.to_string()))
    }

    /// A Query-protocol call (`Action=…&Version=…`, form-encoded POST); the XML answer.
    pub async fn query(
        &self,
        service: Service,
        action: &str,
        params: &[(&str, String)],
    ) -> Result<String, AwsError> {
        let creds = self.credentials().await?;
        self.query_with(service, action, params, &creds).await
    }

    /// [`Aws::query`] with parameter names made at run time (`IpPermissions.1.IpProtocol`).
    pub async fn query_named(
        &self,
        service: Service,
        action: &str,
        params: &[(String, String)],
    ) -> Result<String, AwsError> {
        let params: Vec<(&str, String)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        self.query(service, action, &params).await
    }

    async fn query_with(
        &self,
        service: Service,
        action: &str,
        params: &[(&str, String)],
        creds: &Credentials,
    ) -> Result<String, AwsError> {
        let version = service.query_version().ok_or_else(|| {
            AwsError::Config(format!(
                "{} is not a Query-protocol service",
                service.name()
            ))
        })?;
        let mut body = format!("Action={action}&Version={version}");
        for (k, v) in params {
            body.push('&');
            body.push_str(&query_escape(k));
            body.push('=');
            body.push_str(&query_escape(v));
        }
        self.send(
            service,
            action,
            &reqwest::Method::POST,
            "/",
            body.into_bytes(),
            "application/x-www-form-urlencoded; charset=utf-8",
            creds,
        )
        .await
    }

    /// A REST-JSON call (EKS): `method path` with an optional JSON body; the JSON answer.
    /// `operation` is the API's name for it (`UpdateNodegroupConfig`), for the permission.
    pub async fn rest_json(
        &self,
        service: Service,
        operation: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, AwsError> {
        let creds = self.credentials().await?;
        let bytes = body.map(Value::to_string).unwrap_or_default().into_bytes();
        let text = self
            .send(
                service,
                operation,
                &method,
                path,
                bytes,
                "application/json",
                &creds,
            )
            .await?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| AwsError::Protocol {
            permission: permission(service, operation),
            message: format!("not JSON: {e}"),
        })
    }

    /// One call: signed, paced, budgeted, retried on throttling and 5xx until the deadline.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        service: Service,
        operation: &str,
        method: &reqwest::Method,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
        creds: &Credentials,
    ) -> Result<String, AwsError> {
        let _slot = self
            .in_flight
            .acquire()
            .await
            .map_err(|e| AwsError::Config(format!("the request limiter is closed: {e}")))?;
        let url = format!("{}{path}", self.endpoint(service));
        let permission = permission(service, operation);
        let deadline = Instant::now() + self.config.deadline;
        let mut attempt: u32 = 0;
        loop {
            if !self.budget.take() {
                return Err(AwsError::Budget(self.budget.limit()));
            }
            self.sent.fetch_add(1, Ordering::SeqCst);
            let limiter = Arc::clone(&self.limiter);
            let _ = tokio::task::spawn_blocking(move || limiter.acquire()).await;
            let headers = self.sign(service, method, &url, content_type, &body, creds)?;
            let mut req = self
                .http
                .request(method.clone(), &url)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body.clone());
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let (status, wait_hint, text) = match req.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let hint = retry_after(r.headers());
                    let error_type = r
                        .headers()
                        .get("x-amzn-errortype")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let text = r.text().await.map_err(|e| AwsError::Protocol {
                        permission: permission.clone(),
                        message: chain(&e),
                    })?;
                    if (200..300).contains(&status) {
                        return Ok(text);
                    }
                    (status, hint, (error_type, text))
                }
                Err(e) => {
                    let why = format!("{url}: {}", chain(&e));
                    let wait = backoff(attempt);
                    attempt += 1;
                    if e.is_builder() || Instant::now() + wait >= deadline {
                        return Err(AwsError::Unreachable(why));
                    }
                    tokio::time::sleep(wait).await;
                    continue;
                }
            };
            let (code, message) = error_of(text.0.as_deref(), &text.1);
            match classify(status, &code) {
                Kind::Retry => {
                    let wait = retry_wait(wait_hint, attempt);
                    attempt += 1;
                    if Instant::now() + wait >= deadline {
                        return Err(if is_throttle(status, &code) {
                            AwsError::Throttled { permission, code }
                        } else {
                            AwsError::Api {
                                permission,
                                status,
                                code,
                                message,
                            }
                        });
                    }
                    tokio::time::sleep(wait).await;
                }
                Kind::Denied => {
                    return Err(AwsError::Denied {
                        permission,
                        from: creds.source.clone(),
                        code,
                        message,
                    });
                }
                Kind::Auth => {
                    return Err(AwsError::AuthFailed {
                        service: service.name(),
                        from: format!("{} (key {})", creds.source, creds.masked_key_id()),
                        code,
                        message,
                    });
                }
                Kind::Other => {
                    return Err(AwsError::Api {
                        permission,
                        status,
                        code,
                        message,
                    });
                }
            }
        }
    }

    /// The SigV4 headers for one request (`Authorization`, `X-Amz-Date`, and the session token).
    fn sign(
        &self,
        service: Service,
        method: &reqwest::Method,
        url: &str,
        content_type: &str,
        body: &[u8],
        creds: &Credentials,
    ) -> Result<Vec<(String, String)>, AwsError> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let bad = |e: &dyn std::fmt::Display| AwsError::Config(format!("signing {url}: {e}"));
        let identity = aws_credential_types::Credentials::new(
            creds.access_key_id.clone(),
            creds.secret_access_key.expose().to_owned(),
            creds.session_token.as_ref().map(|t| t.expose().to_owned()),
            creds.expires,
            "breakglass",
        )
        .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service.name())
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| bad(&e))?
            .into();
        let signable = SignableRequest::new(
            method.as_str(),
            url,
            [("content-type", content_type)].into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| bad(&e))?;
        let (instructions, _signature) = sign(signable, &params).map_err(|e| bad(&e))?.into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }
}

/// `autoscaling:UpdateAutoScalingGroup`: the IAM action a call needs.
fn permission(service: Service, operation: &str) -> String {
    format!("{}:{operation}", service.name())
}

fn check_endpoint(e: &str) -> Result<(), AwsError> {
    if e.starts_with("https://") || e.starts_with("http://") {
        Ok(())
    } else {
        Err(AwsError::Config(format!(
            "endpoint `{e}` is not an http:// or https:// URL"
        )))
    }
}

/// The credentials in an STS AssumeRole answer.
fn assumed(text: &str, source: String) -> Result<Credentials, AwsError> {
    let bad = |m: String| AwsError::Credentials(format!("{source}: {m}"));
    let doc = xml::parse(text).map_err(|e| bad(e.to_string()))?;
    let c = xml::find(doc.root(), "Credentials")
        .ok_or_else(|| bad("the AssumeRole answer has no <Credentials>".into()))?;
    let field = |name: &str| {
        xml::text(c, name)
            .map(str::to_owned)
            .ok_or_else(|| bad(format!("the AssumeRole answer has no <{name}>")))
    };
    let expiration = field("Expiration")?;
    Ok(Credentials {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: credentials::Secret::new(field("SecretAccessKey")?),
        session_token: Some(credentials::Secret::new(field("SessionToken")?)),
        expires: Some(
            credentials::parse_time(&expiration)
                .ok_or_else(|| bad(format!("Expiration `{expiration}` is not a time")))?,
        ),
        source,
    })
}

/// The error code and message of an answer: a Query XML error, or a REST-JSON one
/// (`X-Amzn-ErrorType: Code:…`, body `{"message": …}`).
fn error_of(error_type: Option<&str>, text: &str) -> (String, String) {
    if let Some(e) = xml::error(text) {
        return e;
    }
    let json: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let field = |f: &str| json.get(f).and_then(Value::as_str).map(str::to_owned);
    let code = error_type
        .map(|t| t.split(':').next().unwrap_or(t).to_owned())
        .or_else(|| field("__type").or_else(|| field("code")))
        .map_or_else(
            || "Unknown".into(),
            |c| c.rsplit('#').next().unwrap_or(&c).to_owned(),
        );
    let message = field("message")
        .or_else(|| field("Message"))
        .unwrap_or_else(|| text.chars().take(200).collect());
    (code, message)
}

enum Kind {
    Retry,
    Denied,
    Auth,
    Other,
}

/// The throttling codes the AWS SDKs retry (smithy-rs `aws-runtime` retries/classifiers.rs).
fn is_throttle(status: u16, code: &str) -> bool {
    matches!(status, 429 | 503)
        || matches!(
            code,
            "Throttling"
                | "ThrottlingException"
                | "ThrottledException"
                | "RequestThrottledException"
                | "TooManyRequestsException"
                | "RequestLimitExceeded"
                | "RequestThrottled"
                | "BandwidthLimitExceeded"
                | "SlowDown"
                | "PriorRequestNotComplete"
                | "EC2ThrottledException"
        )
}

fn classify(status: u16, code: &str) -> Kind {
    if is_throttle(status, code)
        || matches!(status, 500 | 502 | 504)
        || matches!(
            code,
            "InternalFailure" | "InternalError" | "ServiceUnavailable" | "RequestTimeout"
        )
    {
        return Kind::Retry;
    }
    match code {
        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "UnauthorizedAccess"
        | "AuthorizationError" => Kind::Denied,
        "SignatureDoesNotMatch"
        | "InvalidClientTokenId"
        | "AuthFailure"
        | "UnrecognizedClientException"
        | "IncompleteSignature"
        | "InvalidSignatureException"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "MissingAuthenticationToken"
        | "InvalidAccessKeyId" => Kind::Auth,
        _ if status == 403 => Kind::Denied,
        _ => Kind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_read_from_xml_and_json_answers() {
        assert_eq!(
            error_of(
                Some("ResourceNotFoundException:http://internal.amazon.com/"),
                r#"{"message":"No node group found for name: x."}"#
            ),
            (
                "ResourceNotFoundException".into(),
                "No node group found for name: x.".into()
            )
        );
        assert_eq!(
            error_of(
                None,
                r#"{"__type":"com.amazon#AccessDeniedException","Message":"no"}"#
            ),
            ("AccessDeniedException".into(), "no".into())
        );
        let (code, _) = error_of(
            None,
            "<ErrorResponse><Error><Code>ValidationError</Code><Message>m</Message></Error></ErrorResponse>",
        );
        assert_eq!(code, "ValidationError");
    }

    #[test]
    fn throttling_denial_and_refused_signatures_are_told_apart() {
        assert!(matches!(classify(400, "Throttling"), Kind::Retry));
        assert!(matches!(classify(429, "Unknown"), Kind::Retry));
        assert!(matches!(classify(503, "Unknown"), Kind::Retry));
        assert!(matches!(classify(400, "RequestLimitExceeded"), Kind::Retry));
        assert!(matches!(classify(403, "AccessDenied"), Kind::Denied));
        assert!(matches!(
            classify(400, "UnauthorizedOperation"),
            Kind::Denied
        ));
        assert!(matches!(classify(403, "SignatureDoesNotMatch"), Kind::Auth));
        assert!(matches!(classify(400, "ValidationError"), Kind::Other));
        assert_eq!(
            permission(Service::AutoScaling, "SetDesiredCapacity"),
            "autoscaling:SetDesiredCapacity"
        );
    }

    fn client(env: &[(&str, &str)], endpoint: Option<&str>) -> Aws {
        Aws::with_env(
            AwsConfig {
                cluster: "prod".into(),
                region: None,
                endpoint: endpoint.map(str::to_owned),
                profile: None,
                config_file: None,
                credentials_file: None,
                timeout: Duration::from_secs(1),
                deadline: Duration::from_secs(1),
            },
            Arc::new(RateLimiter::new(0.0)),
            Arc::new(Budget::new(10)),
            Env::from_pairs(env.iter().copied()),
        )
        .expect("client")
    }

    #[test]
    fn the_inventorys_files_win_over_the_environments() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config");
        let creds = dir.path().join("credentials");
        std::fs::write(&config, "[profile lab]\nregion = eu-west-3\n").expect("config");
        std::fs::write(
            &creds,
            "[lab]\naws_access_key_id = AKIALAB\naws_secret_access_key = lab-secret\n",
        )
        .expect("credentials");
        let env = Env::from_pairs([
            ("AWS_CONFIG_FILE", "/nonexistent/config"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"),
            ("AWS_ACCESS_KEY_ID", "AKIAAMBIENT"),
            ("AWS_SECRET_ACCESS_KEY", "ambient"),
        ]);
        let config = AwsConfig {
            cluster: "lab".into(),
            region: None,
            endpoint: None,
            profile: Some("lab".into()),
            config_file: Some(config),
            credentials_file: Some(creds),
            timeout: Duration::from_secs(1),
            deadline: Duration::from_secs(1),
        };
        let c = Aws::with_env(
            config.clone(),
            Arc::new(RateLimiter::new(0.0)),
            Arc::new(Budget::new(10)),
            env.clone(),
        )
        .expect("client");
        assert_eq!(c.region, "eu-west-3");
        match &c.source {
            Source::Static(k) => assert_eq!(k.access_key_id, "AKIALAB"),
            other => panic!("expected the profile's keys, got {}", other.describe()),
        }
        // Without the inventory's files the profile is not found: the files were what counted.
        let without = AwsConfig {
            config_file: None,
            credentials_file: None,
            ..config
        };
        let Err(e) = Aws::with_env(
            without,
            Arc::new(RateLimiter::new(0.0)),
            Arc::new(Budget::new(10)),
            env,
        ) else {
            panic!("no profile lab in the environment's files, yet a client");
        };
        assert!(e.to_string().contains("lab"), "{e}");
    }

    #[test]
    fn endpoints_follow_the_documented_precedence() {
        let keys = [
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_REGION", "eu-central-1"),
        ];
        let c = client(&keys, None);
        assert_eq!(
            c.endpoint(Service::AutoScaling),
            "https://autoscaling.eu-central-1.amazonaws.com"
        );
        let mut env = keys.to_vec();
        env.push(("AWS_ENDPOINT_URL", "http://127.0.0.1:1/"));
        env.push(("AWS_ENDPOINT_URL_AUTO_SCALING", "http://127.0.0.1:2"));
        let c = client(&env, None);
        assert_eq!(c.endpoint(Service::AutoScaling), "http://127.0.0.1:2");
        assert_eq!(c.endpoint(Service::Sts), "http://127.0.0.1:1");
        let c = client(&env, Some("http://127.0.0.1:3"));
        assert_eq!(c.endpoint(Service::AutoScaling), "http://127.0.0.1:3");
        let no_region = Aws::with_env(
            AwsConfig {
                cluster: "prod".into(),
                region: None,
                endpoint: None,
                profile: None,
                config_file: None,
                credentials_file: None,
                timeout: Duration::from_secs(1),
                deadline: Duration::from_secs(1),
            },
            Arc::new(RateLimiter::new(0.0)),
            Arc::new(Budget::new(10)),
            Env::from_pairs(keys[..2].iter().copied()),
        )
        .expect_err("no region");
        assert!(
            no_region.to_string().contains("[clusters.prod.aws]"),
            "{no_region}"
        );
    }
}
