//! The one printer. It owns stdout, stderr and the progress bars; everything the operator sees
//! goes through here. Human mode folds identical output; JSON mode prints one event per line.

pub mod describe;
pub mod fold;
pub mod human;
pub mod json;
pub mod plan;

use std::io::Write;

/// Writes a line to stdout. A closed pipe (`breakglass ... | head`) is not an error worth a
/// message: the reader has what it wanted, and the run's outcome is in the journal.
pub fn stdout_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Writes text (already ending in a newline, or not) to stdout as is.
pub fn stdout_raw(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Writes a line to stderr.
pub fn stderr_line(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}
