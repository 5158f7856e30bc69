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
