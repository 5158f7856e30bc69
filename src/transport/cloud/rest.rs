//! The paced send loop the bearer-token providers (GCP, Azure) share: every attempt waits for
//! the run's rate limiter of the provider and counts against its request budget; 429 and 503
//! (throttling) and 500/502/504 are retried after what `Retry-After` asks for, else jittered
//! backoff (`transport::rate`), and transport errors likewise, all only until the call's
//! deadline. What an answer means (an error body, a denial) is the provider's to read.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::transport::RateLimiter;
use crate::transport::cloud::aws::credentials::Secret;
use crate::transport::https::chain;
use crate::transport::rate::{Budget, backoff, retry_after, retry_wait};

/// A provider client's pacing: shared limiter and budget, its own request count.
pub struct Pace<'a> {
    pub limiter: &'a Arc<RateLimiter>,
    pub budget: &'a Budget,
    pub sent: &'a AtomicUsize,
    pub deadline: Duration,
}

/// How one call ended.
#[derive(Debug)]
pub enum Sent {
    /// An answer not retried: a success or an error to read.
    Answer {
        status: u16,
        headers: reqwest::header::HeaderMap,
        text: String,
    },
    /// Still throttled (429/503) or failing (5xx) at the deadline: the last answer.
    GaveUp {
        status: u16,
        text: String,
    },
    Unreachable(String),
    /// The run's budget is spent (its size).
    Budget(usize),
}

/// Sends `build()` until an answer worth reading, retrying what is worth retrying.
pub async fn send(pace: &Pace<'_>, url: &str, build: impl Fn() -> reqwest::RequestBuilder) -> Sent {
    let deadline = Instant::now() + pace.deadline;
    let mut attempt: u32 = 0;
    loop {
        if !pace.budget.take() {
            return Sent::Budget(pace.budget.limit());
        }
        pace.sent.fetch_add(1, Ordering::SeqCst);
        let limiter = Arc::clone(pace.limiter);
        let _ = tokio::task::spawn_blocking(move || limiter.acquire()).await;
        let (status, hint, headers, text) = match build().send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let headers = r.headers().clone();
                match r.text().await {
                    Ok(text) => (status, retry_after(&headers), headers, text),
                    Err(e) => return Sent::Unreachable(format!("{url}: {}", chain(&e))),
                }
            }
            Err(e) => {
                let wait = backoff(attempt);
                attempt += 1;
                if e.is_builder() || Instant::now() + wait >= deadline {
                    return Sent::Unreachable(format!("{url}: {}", chain(&e)));
                }
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        if !matches!(status, 429 | 500 | 502 | 503 | 504) {
            return Sent::Answer {
                status,
                headers,
                text,
            };
        }
        let wait = retry_wait(hint, attempt);
        attempt += 1;
        if Instant::now() + wait >= deadline {
            return Sent::GaveUp { status, text };
        }
        tokio::time::sleep(wait).await;
    }
}

/// A JSON request with a bearer token, as both providers' APIs take it.
pub async fn send_json(
    pace: &Pace<'_>,
    http: &reqwest::Client,
    method: &reqwest::Method,
    url: &str,
    token: &Secret,
    body: Option<&serde_json::Value>,
) -> Sent {
    send(pace, url, || {
        let req = http
            .request(method.clone(), url)
            .bearer_auth(token.expose());
        match body {
            Some(b) => req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_string()),
            None => req,
        }
    })
    .await
}

/// The HTTPS client of one provider client: the request timeout, one idle connection a host.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .pool_max_idle_per_host(1)
        .build()
        .map_err(|e| format!("cannot build an HTTPS client: {}", chain(&e)))
}

/// A token is fetched again this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// An OAuth access token, kept until shortly before it expires.
#[derive(Default)]
pub struct TokenCache(tokio::sync::Mutex<Option<(Secret, Instant)>>);

impl TokenCache {
    /// The cached token, else `fetch()`'s (token and lifetime), cached.
    pub async fn get<E, F>(&self, fetch: impl FnOnce() -> F) -> Result<Secret, E>
    where
        F: Future<Output = Result<(Secret, Duration), E>>,
    {
        let mut cached = self.0.lock().await;
        if let Some((t, expires)) = cached.as_ref()
            && *expires > Instant::now() + REFRESH_MARGIN
        {
            return Ok(Secret::new(t.expose()));
        }
        let (value, lifetime) = fetch().await?;
        *cached = Some((Secret::new(value.expose()), Instant::now() + lifetime));
        Ok(value)
    }
}

/// Why a token request failed (never with the token or the secret in it).
#[derive(Debug)]
pub enum TokenError {
    Budget(usize),
    /// Not sent or no answer (the transport error's chain).
    Unreachable(String),
    /// An answer without a token: the OAuth error (RFC 6749 section 5.2) or what was missing.
    Refused(String),
}

/// Sends one token request (budgeted and counted, not retried: a refusal is an answer) and
/// reads the answer (RFC 6749 section 5.1; `expires_in` a number, or a string as Azure's IMDS
/// sends it).
pub async fn fetch_token(
    pace: &Pace<'_>,
    req: reqwest::RequestBuilder,
) -> Result<(Secret, Duration), TokenError> {
    if !pace.budget.take() {
        return Err(TokenError::Budget(pace.budget.limit()));
    }
    pace.sent.fetch_add(1, Ordering::SeqCst);
    let r = req
        .send()
        .await
        .map_err(|e| TokenError::Unreachable(chain(&e)))?;
    let status = r.status();
    let text = r
        .text()
        .await
        .map_err(|e| TokenError::Unreachable(chain(&e)))?;
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if !status.is_success() {
        let code = json["error"].as_str().unwrap_or("unknown");
        let why = json["error_description"].as_str().unwrap_or_default();
        return Err(TokenError::Refused(format!(
            "the token endpoint answered HTTP {status}: {code} {why}"
        )));
    }
    let token = json["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| TokenError::Refused("the token answer has no access_token".into()))?;
    let secs = json["expires_in"]
        .as_u64()
        .or_else(|| json["expires_in"].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(3600);
    Ok((Secret::new(token), Duration::from_secs(secs)))
}

/// What an answer means, in the terms both providers' errors are made of.
#[derive(Debug)]
pub enum Reply {
    /// 2xx: the JSON body (`null` when empty).
    Json {
        status: u16,
        headers: reqwest::header::HeaderMap,
        body: serde_json::Value,
    },
    NotFound,
    /// An error answer, or throttling that outlasted the deadline: the status and the body.
    Failed {
        failure: Failure,
        status: u16,
        text: String,
    },
    Unreachable(String),
    Budget(usize),
    /// 2xx with a body that is not JSON.
    NotJson(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 401: the token was refused.
    Unauthenticated,
    /// 403: the identity lacks the permission.
    Denied,
    /// 429 or 503 still at the deadline.
    Throttled,
    Other,
}

/// Reads what [`send`] returned.
pub fn reply(sent: Sent) -> Reply {
    let (status, headers, text) = match sent {
        Sent::Answer {
            status,
            headers,
            text,
        } => (status, headers, text),
        Sent::GaveUp { status, text } => {
            let failure = if matches!(status, 429 | 503) {
                Failure::Throttled
            } else {
                Failure::Other
            };
            return Reply::Failed {
                failure,
                status,
                text,
            };
        }
        Sent::Unreachable(why) => return Reply::Unreachable(why),
        Sent::Budget(n) => return Reply::Budget(n),
    };
    let failure = match status {
        200..=299 => {
            return if text.trim().is_empty() {
                Reply::Json {
                    status,
                    headers,
                    body: serde_json::Value::Null,
                }
            } else {
                match serde_json::from_str(&text) {
                    Ok(body) => Reply::Json {
                        status,
                        headers,
                        body,
                    },
                    Err(e) => Reply::NotJson(format!("not JSON: {e}")),
                }
            };
        }
        404 => return Reply::NotFound,
        401 => Failure::Unauthenticated,
        403 => Failure::Denied,
        _ => Failure::Other,
    };
    Reply::Failed {
        failure,
        status,
        text,
    }
}
