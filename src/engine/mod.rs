//! The engine: fans work out to targets within limits, judges outcomes, journals every result
//! and reports typed [`Event`]s to an [`Observer`]. It never prints; `output/` does.

pub mod event;
pub mod exec;
pub mod executor;
pub mod plan;
pub mod recovery;
pub mod runbook;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use event::{Event, Summary, TargetResult};
pub use executor::{Cancel, FanOutStats, fan_out, fan_out_batched};

use crate::journal::Journal;

/// Receives the events of a run as they happen (progress bars, folded output, JSON lines).
pub trait Observer: Send + Sync {
    fn event(&self, event: &Event);

    /// [`Observer::event`] for an event given away: an observer that keeps part of it (the
    /// folded output) takes it rather than copying a host's output.
    fn take(&self, event: Event) {
        self.event(&event);
    }
}

/// One run in progress: its journal, its observer, and its cancellation flag.
pub struct Run {
    pub run_id: String,
    pub journal: Arc<Journal>,
    pub observer: Arc<dyn Observer>,
    pub cancel: Cancel,
}

impl Run {
    /// Appends `journaled` (the journal's form of `event`) to the journal, then shows `event`
    /// to the observer: nothing is reported that a kill at the next instant could lose. A
    /// journal that cannot be written stops the run from launching anything more: an
    /// unrecorded change cannot be undone.
    pub fn record(&self, event: &Event, journaled: &Event) -> anyhow::Result<()> {
        self.commit(&[serde_json::to_value(journaled)?], || {
            self.observer.event(event);
        })
    }

    /// [`Run::record`] for many events at once: one journal write and fsync for all of them
    /// (group commit), then each is given to the observer, in order. `events` pairs each event
    /// with its journal form.
    pub fn record_batch(&self, events: Vec<(Event, Event)>) -> anyhow::Result<()> {
        let values = events
            .iter()
            .map(|(_, journaled)| serde_json::to_value(journaled))
            .collect::<Result<Vec<_>, _>>()?;
        self.commit(&values, || {
            for (event, _) in events {
                self.observer.take(event);
            }
        })
    }

    /// Journals `values` as one group, then shows the events (`show`) to the observer (also
    /// when the journal failed, after stopping the run).
    fn commit(&self, values: &[serde_json::Value], show: impl FnOnce()) -> anyhow::Result<()> {
        let appended = self.journal.append_batch(values);
        if appended.is_err() {
            self.cancel.cancel();
        }
        show();
        appended.map(drop).map_err(|e| {
            anyhow::Error::new(e).context("cannot append to the run journal; stopping")
        })
    }

    /// First Ctrl-C (or SIGTERM, or SIGHUP): stop launching new targets and let in-flight ones
    /// finish within their deadlines; the run ends with its summary and end record. A later
    /// Ctrl-C: exit 130 at once, without tearing a journal record. A later SIGTERM or SIGHUP
    /// changes nothing: a dropped session sends several, and only the operator at the keyboard
    /// decides to give up on hosts in flight (SIGKILL remains for anyone else).
    ///
    /// SIGINT is caught from this call on (call it before the run's first event), not from when
    /// the watching task first runs, and one stream serves both presses, so neither can fall
    /// between two registrations.
    pub fn watch_interrupts(&self) {
        let mut interrupts = match interrupts() {
            Ok(stream) => stream,
            Err(e) => {
                self.observer.event(&Event::Notice {
                    message: format!(
                        "cannot catch Ctrl-C ({e}): it will end breakglass without a summary \
                         (the journal stays valid)"
                    ),
                });
                return;
            }
        };
        let cancel = self.cancel.clone();
        let observer = Arc::clone(&self.observer);
        // Weak: the watcher outlives the run (nothing stops it), and must not keep the run's
        // journal (and its lock) alive after the run ends: a drill undoes the run next.
        let journal = Arc::downgrade(&self.journal);
        tokio::spawn(async move {
            let Some(first) = interrupts.recv().await else {
                return;
            };
            cancel.cancel();
            observer.event(&Event::Notice {
                message: format!(
                    "interrupted ({}): no new hosts will be started; waiting for hosts in \
                     flight (Ctrl-C again to exit now)",
                    first.name()
                ),
            });
            loop {
                match interrupts.recv().await {
                    None => return,
                    Some(Interrupt::Int) => break,
                    Some(Interrupt::Term | Interrupt::Hup) => {}
                }
            }
            match journal.upgrade() {
                Some(journal) => {
                    journal.exit_now(i32::from(crate::error::Exit::Interrupted.code()));
                }
                None => std::process::exit(i32::from(crate::error::Exit::Interrupted.code())),
            }
        });
    }
}

/// The signals that stop a run the way the first Ctrl-C does (issue #11, point 15): SIGINT,
/// SIGTERM (`kill`, a service manager, a drill harness) and SIGHUP (the terminal or the bastion
/// session went away). Their default action ends the process mid-wave with no end record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    Int,
    Term,
    Hup,
}

impl Interrupt {
    pub fn name(self) -> &'static str {
        match self {
            Interrupt::Int => "SIGINT",
            Interrupt::Term => "SIGTERM",
            Interrupt::Hup => "SIGHUP",
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP as one stream, caught from [`interrupts`] on.
pub struct Interrupts {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Interrupts {
    /// The next signal; `None` only if the runtime's signal driver is gone.
    pub async fn recv(&mut self) -> Option<Interrupt> {
        tokio::select! {
            s = self.int.recv() => s.map(|()| Interrupt::Int),
            s = self.term.recv() => s.map(|()| Interrupt::Term),
            s = self.hup.recv() => s.map(|()| Interrupt::Hup),
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP as a stream, caught from this call on: none is lost to its default
/// action (which would end the process mid-work) between this call and the first `recv`. Must
/// be called inside the tokio runtime.
pub fn interrupts() -> std::io::Result<Interrupts> {
    use tokio::signal::unix::{SignalKind, signal};
    Ok(Interrupts {
        int: signal(SignalKind::interrupt())?,
        term: signal(SignalKind::terminate())?,
        hup: signal(SignalKind::hangup())?,
    })
}
