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

/// Most results handed to `on_results` at once by [`fan_out_batched`].
pub const MAX_BATCH: usize = 256;

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
    fan_out_batched(targets, concurrency, cancel, job, |batch| {
        for (index, result) in batch {
            on_result(index, result);
        }
    })
    .await
}

/// [`fan_out`] that hands `on_results` every result that is ready at once (in completion order,
/// at most [`MAX_BATCH`]): the results that finished while the previous call ran. This is what
/// lets the caller journal them with one fsync (group commit) instead of one each.
pub async fn fan_out_batched<T, R, J, F>(
    targets: Vec<T>,
    concurrency: usize,
    cancel: &Cancel,
    job: J,
    mut on_results: F,
) -> FanOutStats
where
    T: Send + 'static,
    R: Send + 'static,
    J: Fn(T) -> R + Send + Sync + 'static,
    F: FnMut(Vec<(usize, R)>),
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
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(ready) => batch.push(ready),
                Err(_) => break,
            }
        }
        on_results(batch);
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
    fn results_that_finish_during_a_slow_callback_arrive_together() {
        let rt = runtime();
        let mut batches = Vec::new();
        let stats = rt.block_on(fan_out_batched(
            (0..40).collect::<Vec<usize>>(),
            40,
            &Cancel::new(),
            |t| t,
            |batch: Vec<(usize, usize)>| {
                // As slow as an fsync: every other job finishes meanwhile.
                std::thread::sleep(Duration::from_millis(50));
                batches.push(batch.len());
            },
        ));
        assert_eq!(stats.not_started, 0);
        assert_eq!(batches.iter().sum::<usize>(), 40);
        assert!(
            batches.len() < 40 && batches.iter().any(|&n| n > 1),
            "one call per result: {batches:?}"
        );
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
