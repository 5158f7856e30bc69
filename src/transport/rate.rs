//! A limit on new connections per second, shared by every thread of a run, so that a run
//! against thousands of hosts opens its sessions at a steady pace instead of all at once (the
//! tool must never become the thundering herd it was built to stop).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Spaces new connections out to at most `rate` per second, across threads.
pub struct RateLimiter {
    interval: Option<Duration>,
    next: Mutex<Instant>,
}

impl RateLimiter {
    pub fn new(rate: f64) -> RateLimiter {
        RateLimiter {
            interval: (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate)),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Blocks until this caller's slot.
    pub fn acquire(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let wait = {
            let mut next = self
                .next
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + interval;
            slot - now
        };
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// Requests a run may send to one kind of server (a cluster's API, a cloud provider) in all: an
/// upper bound no runbook reaches, so a bug can never turn breakglass into the load it was run
/// to remove.
#[derive(Debug)]
pub struct Budget {
    limit: usize,
    spent: std::sync::atomic::AtomicUsize,
}

impl Budget {
    pub fn new(limit: usize) -> Budget {
        Budget {
            limit,
            spent: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Takes one request from the budget; false when it is spent.
    pub fn take(&self) -> bool {
        self.spent.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < self.limit
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// Jittered exponential backoff: 0.5 s doubling to 8 s, full jitter, so clients that failed
/// together do not come back together.
pub fn backoff(attempt: u32) -> Duration {
    let cap = Duration::from_millis(500u64.saturating_mul(1 << attempt.min(4)));
    cap.mul_f64(fastrand::f64()).max(Duration::from_millis(50))
}

/// A `Retry-After` header in seconds (RFC 9110 section 10.2.3; the HTTP-date form is not sent by
/// the servers we talk to and counts as absent).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// How long to wait before retrying a throttled or failed request: what the server asked for
/// (`Retry-After`, at least a second, at most a minute), else [`backoff`].
pub fn retry_wait(retry_after: Option<Duration>, attempt: u32) -> Duration {
    retry_after.map_or_else(
        || backoff(attempt),
        |d| d.clamp(Duration::from_secs(1), Duration::from_secs(60)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_and_capped() {
        for attempt in 0..10 {
            let b = backoff(attempt);
            assert!(b <= Duration::from_secs(8), "{b:?}");
            assert!(b >= Duration::from_millis(50), "{b:?}");
        }
    }

    #[test]
    fn retry_after_wins_within_bounds() {
        assert_eq!(
            retry_wait(Some(Duration::from_secs(3)), 0),
            Duration::from_secs(3)
        );
        assert_eq!(retry_wait(Some(Duration::ZERO), 0), Duration::from_secs(1));
        assert_eq!(
            retry_wait(Some(Duration::from_secs(3600)), 0),
            Duration::from_secs(60)
        );
        assert!(retry_wait(None, 2) <= Duration::from_secs(2));
    }
}
