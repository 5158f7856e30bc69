//! Human output: a progress bar on stderr while hosts run (only on a terminal), then the folded
//! output and a one-line tally on stdout.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::fold::Folder;
use crate::engine::{Event, Observer, Summary, TargetResult};

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
    /// Runbook runs print each wave's folded results when the wave ends.
    wave_folder: Folder,
}

fn new_bar(len: usize, prefix: &str) -> ProgressBar {
    let bar =
        ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr_with_hz(10));
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {prefix}{elapsed_precise} [{bar:30}] {pos}/{len} hosts  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Prints a line without tearing a progress bar.
fn say(state: &State, line: &str) {
    match &state.bar {
        Some(bar) => bar.println(super::neutralize(line)),
        None => super::stdout_line(line),
    }
}

impl HumanObserver {
    pub fn new(progress: bool) -> HumanObserver {
        HumanObserver {
            progress,
            state: Mutex::new(State::default()),
        }
    }

    /// Prints the end of a runbook run (or undo): the tally and what to do next.
    pub fn finish_run(&self, summary: &Summary, run_id: &str, status: &str) {
        let state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(bar) = &state.bar {
            bar.finish_and_clear();
        }
        super::stdout_line(&format!(
            "\n{status}: {}  [run {run_id}]",
            super::describe::tally(summary)
        ));
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
        super::stdout_stream(|emit| state.folder.render_with(emit));
        super::stdout_line(&format!(
            "{}  [run {run_id}]",
            super::describe::tally(summary)
        ));
    }
}

impl HumanObserver {
    /// Counts a target's result and folds it (a runbook step's into its wave's output).
    fn result(&self, r: TargetResult) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.tally.count(r.outcome);
        let msg = bar_message(&state.tally);
        if let Some(bar) = &state.bar {
            bar.inc(1);
            bar.set_message(msg);
        }
        if r.step.is_some() {
            state.wave_folder.add_owned(r);
        } else {
            state.folder.add_owned(r);
        }
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
        (t.in_doubt, "in doubt"),
    ] {
        if n > 0 {
            s.push_str(&format!(", {n} {label}"));
        }
    }
    s
}

impl Observer for HumanObserver {
    fn take(&self, event: Event) {
        match event {
            Event::TargetResult(r) => self.result(r),
            other => self.event(&other),
        }
    }

    fn event(&self, event: &Event) {
        if let Event::TargetResult(r) = event {
            self.result(r.clone());
            return;
        }
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match event {
            Event::RunBegin(begin) if self.progress && begin.runbook.is_none() => {
                state.bar = Some(new_bar(begin.targets, ""));
            }
            Event::StepBegin(b) => {
                let mut line = format!("\n==> step {} [{}]", b.step, b.action);
                if b.targets > 0 {
                    line.push_str(&format!(
                        ": {} target(s) in waves of {:?}",
                        b.targets, b.waves
                    ));
                }
                say(&state, &line);
                if let Some(d) = &b.description {
                    say(
                        &state,
                        &format!("    {}", d.trim().lines().next().unwrap_or("")),
                    );
                }
            }
            Event::WaveBegin {
                step,
                wave,
                waves,
                targets,
            } => {
                state.wave_folder = Folder::default();
                if self.progress && !targets.is_empty() {
                    state.bar = Some(new_bar(
                        targets.len(),
                        &format!("{step} wave {wave}/{waves} "),
                    ));
                }
            }
            Event::WaveEnd {
                wave,
                ok,
                failed,
                allowed_failures,
                ..
            } => {
                if let Some(bar) = state.bar.take() {
                    bar.finish_and_clear();
                }
                super::stdout_stream(|emit| state.wave_folder.render_with(emit));
                super::stdout_line(&format!(
                    "    wave {wave}: {ok} ok, {failed} failed (budget {allowed_failures})"
                ));
            }
            Event::Gate { passed, detail, .. } => {
                say(
                    &state,
                    &format!(
                        "    gate {}: {detail}",
                        if *passed { "passed" } else { "FAILED" }
                    ),
                );
            }
            Event::Stopped { step, reason } => {
                say(&state, &format!("\nSTOPPED at step {step}: {reason}"));
            }
            Event::Notice { message } => match &state.bar {
                Some(bar) => bar.println(super::neutralize(&format!("breakglass: {message}"))),
                None => super::stderr_line(&format!("breakglass: {message}")),
            },
            _ => {}
        }
    }
}
