//! `--output json`: every event as one JSON object per line on stdout (format documented in
//! `engine/event.rs`), flushed per line so a consumer sees results as hosts finish.

use crate::engine::{Event, Observer};

/// Prints events as JSON lines.
#[derive(Debug, Default)]
pub struct JsonObserver;

impl Observer for JsonObserver {
    fn event(&self, event: &Event) {
        print_event(event);
    }
}

/// Prints one event as a JSON line.
pub fn print_event(event: &Event) {
    if let Err(e) = super::stdout_json_line(event) {
        super::stderr_line(&format!("breakglass: cannot encode an event as JSON: {e}"));
    }
}
