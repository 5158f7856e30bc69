//! The paced send loop the bearer-token providers (GCP, Azure) share: every attempt waits for
//! the run's rate limiter of the provider and counts against its request budget; 429 and 503
//! (throttling) and 500/502/504 are retried after what `Retry-After` asks for, else jittered
//! backoff (`transport::rate`), and transport errors likewise, all only until the call's
//! deadline. What an answer means (an error body, a denial) is the provider's to read.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::transport::RateLimiter;
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
