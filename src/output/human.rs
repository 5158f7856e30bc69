//! Human output: a progress bar on stderr while hosts run (only on a terminal), then the folded
//! output and a one-line tally on stdout.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::fold::Folder;
use crate::engine::{Event, Observer, Summary};

/// Collects results for folding and draws progress.
pub struct HumanObserver {
    progress: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    bar: Option<ProgressBar>,
    folder: Folder,
    tally: Summary,
}

impl HumanObserver {
    pub fn new(progress: bool) -> HumanObserver {
        HumanObserver {
            progress,
            state: Mutex::new(State::default()),
        }
    }

    /// Prints the folded output and the tally (after the run).
    pub fn finish(&self, summary: &Summary, run_id: &str) {
        let state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(bar) = &state.bar {
            bar.finish_and_clear();
        }
        super::stdout_raw(&state.folder.render());
        super::stdout_line(&format!("{}  [run {run_id}]", summary.tally()));
    }
}

fn bar_message(t: &Summary) -> String {
    let mut s = format!("{} ok", t.ok);
    for (n, label) in [
        (t.failed, "failed"),
        (t.unreachable, "unreachable"),
        (t.timed_out, "timed out"),
        (t.refused + t.auth_failed, "refused"),
        (t.error, "error"),
    ] {
        if n > 0 {
            s.push_str(&format!(", {n} {label}"));
        }
    }
    s
}

impl Observer for HumanObserver {
    fn event(&self, event: &Event) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match event {
            Event::RunBegin(begin) if self.progress => {
                let bar = ProgressBar::with_draw_target(
                    Some(begin.targets as u64),
                    ProgressDrawTarget::stderr_with_hz(10),
                );
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} hosts  {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.enable_steady_tick(Duration::from_millis(200));
                state.bar = Some(bar);
            }
            Event::TargetResult(r) => {
                state.folder.add(r);
                state.tally.count(&r.outcome);
                let msg = bar_message(&state.tally);
                if let Some(bar) = &state.bar {
                    bar.inc(1);
                    bar.set_message(msg);
                }
            }
            Event::Notice { message } => match &state.bar {
                Some(bar) => bar.println(format!("breakglass: {message}")),
                None => super::stderr_line(&format!("breakglass: {message}")),
            },
            _ => {}
        }
    }
}
