//! Bounded fan-out: run one blocking job per target, at most `concurrency` at a time, on that
//! many workers of the blocking thread pool, delivering results in completion order as they
//! arrive.
//!
//! Cancellation stops *launching*: jobs already running finish on their own deadlines (the
//! transport enforces them), so an interrupted run still reports every host it touched.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

pub use crate::cancel::Cancel;

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
    // `concurrency` long-lived workers on the blocking pool, each taking the next target from a
    // shared queue, rather than one blocking task per target: a task per target let the pool
    // grow well past `concurrency` threads (a finished task's thread is not idle yet when the
    // next one is launched), and RSS with it (403 threads at concurrency 256, bench/fanout).
    let workers = concurrency.max(1).min(total);
    let queue = Arc::new(Mutex::new(targets.into_iter().enumerate()));
    let taken = Arc::new(AtomicUsize::new(0));
    let job = Arc::new(job);
    // Bounded by the number of targets; results are small (output is capped by the transport).
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, R)>();
    for _ in 0..workers {
        let (queue, taken, job, tx) = (
            Arc::clone(&queue),
            Arc::clone(&taken),
            Arc::clone(&job),
            tx.clone(),
        );
        let cancel = cancel.clone();
        tokio::task::spawn_blocking(move || {
            // Cancellation stops taking targets; the one in hand finishes on its deadlines.
            while !cancel.is_cancelled() {
                let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
                let Some((index, target)) = next else { break };
                taken.fetch_add(1, Ordering::SeqCst);
                let result = job(target);
                // The receiver lives until every sender is gone; a failed send means the caller
                // stopped listening, and there is nobody left to tell.
                if tx.send((index, result)).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
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
    // The channel closes only when every worker has stopped.
    FanOutStats {
        not_started: total - taken.load(Ordering::SeqCst),
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
        let threads = Arc::new(Mutex::new(std::collections::HashSet::new()));
        let t2 = Arc::clone(&threads);
        let mut seen = vec![0u32; 300];
        let stats = rt.block_on(fan_out(
            (0..300).collect::<Vec<usize>>(),
            16,
            &Cancel::new(),
            move |t| {
                t2.lock().unwrap().insert(std::thread::current().id());
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
        // One worker thread per unit of concurrency, not one per target.
        let threads = threads.lock().unwrap().len();
        assert!(threads <= 16, "{threads} threads ran the jobs");
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
