//! Bounded fan-out: run one blocking job per target on the blocking thread pool, at most
//! `concurrency` at a time, delivering results in completion order as they arrive.
//!
//! Cancellation stops *launching*: jobs already running finish on their own deadlines (the
//! transport enforces them), so an interrupted run still reports every host it touched.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Notify, Semaphore, mpsc};

/// A cancellation flag that async code can wait on.
#[derive(Debug, Default, Clone)]
pub struct Cancel {
    inner: Arc<CancelInner>,
}

#[derive(Debug, Default)]
struct CancelInner {
    flag: AtomicBool,
    notify: Notify,
}

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    pub fn cancel(&self) {
        self.inner.flag.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.flag.load(Ordering::SeqCst)
    }

    /// Resolves once `cancel` has been called.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.inner.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// What a fan-out did not get to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FanOutStats {
    /// Targets never launched because the run was cancelled.
    pub not_started: usize,
}

/// Runs `job` for each target, at most `concurrency` at once, calling `on_result(index, result)`
/// on the calling task as each finishes. Returns once every launched job has reported.
pub async fn fan_out<T, R, J, F>(
    targets: Vec<T>,
    concurrency: usize,
    cancel: &Cancel,
    job: J,
    mut on_result: F,
) -> FanOutStats
where
    T: Send + 'static,
    R: Send + 'static,
    J: Fn(T) -> R + Send + Sync + 'static,
    F: FnMut(usize, R),
{
    let total = targets.len();
    let semaphore = Arc::new(Semaphore::new(concurrency.max(1)));
    let job = Arc::new(job);
    // Bounded by the number of targets; results are small (output is capped by the transport).
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, R)>();
    let launcher = {
        let cancel = cancel.clone();
        let semaphore = Arc::clone(&semaphore);
        tokio::spawn(async move {
            let mut launched = 0usize;
            for (index, target) in targets.into_iter().enumerate() {
                let permit = tokio::select! {
                    biased;
                    () = cancel.cancelled() => break,
                    permit = Arc::clone(&semaphore).acquire_owned() => match permit {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                };
                if cancel.is_cancelled() {
                    break;
                }
                let tx = tx.clone();
                let job = Arc::clone(&job);
                tokio::task::spawn_blocking(move || {
                    let result = job(target);
                    drop(permit);
                    // The receiver lives until every sender is gone; a failed send means the
                    // caller stopped listening, and there is nobody left to tell.
                    let _ = tx.send((index, result));
                });
                launched += 1;
            }
            launched
        })
    };
    while let Some((index, result)) = rx.recv().await {
        on_result(index, result);
    }
    // The channel closes only when the launcher and every job have dropped their senders.
    let launched = launcher.await.unwrap_or(total);
    FanOutStats {
        not_started: total - launched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(512)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn every_target_reports_once_and_concurrency_is_bounded() {
        let rt = runtime();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (i2, p2) = (Arc::clone(&in_flight), Arc::clone(&peak));
        let mut seen = vec![0u32; 300];
        let stats = rt.block_on(fan_out(
            (0..300).collect::<Vec<usize>>(),
            16,
            &Cancel::new(),
            move |t| {
                let now = i2.fetch_add(1, Ordering::SeqCst) + 1;
                p2.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
                i2.fetch_sub(1, Ordering::SeqCst);
                t * 2
            },
            |i, r| {
                assert_eq!(r, i * 2);
                seen[i] += 1;
            },
        ));
        assert_eq!(stats.not_started, 0);
        assert!(seen.iter().all(|&n| n == 1));
        let peak = peak.load(Ordering::SeqCst);
        assert!(peak <= 16 && peak > 1, "peak {peak}");
    }

    #[test]
    fn cancel_stops_launching_but_in_flight_finish() {
        let rt = runtime();
        let cancel = Cancel::new();
        let c2 = cancel.clone();
        let mut done = 0;
        let stats = rt.block_on(fan_out(
            (0..100).collect::<Vec<usize>>(),
            4,
            &cancel,
            move |t| {
                if t == 5 {
                    c2.cancel();
                }
                std::thread::sleep(Duration::from_millis(20));
                t
            },
            |_, _| done += 1,
        ));
        assert!((6..=12).contains(&done), "done {done}");
        assert_eq!(stats.not_started, 100 - done);
    }
}
