//! The one printer. It owns stdout, stderr and the progress bars; everything the operator sees
//! goes through here. Human mode folds identical output; JSON mode prints one event per line.

pub mod describe;
pub mod fold;
pub mod human;
pub mod json;
pub mod plan;

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once at start-up for `--output json`: stdout then carries JSON lines, which serde
/// already escapes and which must reach scripts byte for byte.
static JSON_STDOUT: AtomicBool = AtomicBool::new(false);

/// Says whether stdout carries JSON lines (`--output json`) rather than text for people.
pub fn set_json_stdout(json: bool) {
    JSON_STDOUT.store(json, Ordering::Relaxed);
}

/// Text for a terminal with every control character shown, never interpreted: what nodes print,
/// runbook text, label values and run ids can hold escape sequences (clear the screen, set the
/// window title, write the clipboard through OSC 52), and a terminal would act on them. C0
/// controls but newline and tab, DEL and the C1 controls become `\x1b`-style text (`\r` for a
/// carriage return, which would let a line overwrite the one before it).
pub fn neutralize(text: &str) -> Cow<'_, str> {
    let shown = |c: char| c == '\n' || c == '\t' || !(c.is_control());
    if text.chars().all(shown) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            c if shown(c) => out.push(c),
            c if u32::from(c) <= 0xff => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    Cow::Owned(out)
}

/// What stdout gets: text for people neutralized, JSON lines as they are.
fn for_stdout(text: &str) -> Cow<'_, str> {
    if JSON_STDOUT.load(Ordering::Relaxed) {
        Cow::Borrowed(text)
    } else {
        neutralize(text)
    }
}

/// Writes a line to stdout. A closed pipe (`breakglass ... | head`) is not an error worth a
/// message: the reader has what it wanted, and the run's outcome is in the journal.
pub fn stdout_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", for_stdout(line));
    let _ = out.flush();
}

/// Writes text (already ending in a newline, or not) to stdout as is (but neutralized).
pub fn stdout_raw(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(for_stdout(text).as_bytes());
    let _ = out.flush();
}

/// Writes what `write` emits to stdout piece by piece (each neutralized, as [`stdout_raw`]),
/// through one buffer: large text (a host's output) is printed without being joined first.
pub fn stdout_stream(write: impl FnOnce(&mut dyn FnMut(&str))) {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    write(&mut |piece| {
        let _ = out.write_all(for_stdout(piece).as_bytes());
    });
    let _ = out.flush();
}

/// Writes `value` as one JSON line to stdout, serialized straight into it: an event holding a
/// host's output (up to `--max-output`) is not copied into a line first.
pub fn stdout_json_line(value: &impl serde::Serialize) -> serde_json::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer(&mut out, value)?;
    let _ = out.write_all(b"\n");
    let _ = out.flush();
    Ok(())
}

/// Writes a line to stderr, neutralized: stderr is always for people.
pub fn stderr_line(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", neutralize(line));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_never_interpreted() {
        // Clear screen, window title (OSC 0), clipboard write (OSC 52), a C1 CSI, DEL, CR.
        let hostile = "ok\x1b[2J\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\u{9b}31m\x7f\rover\tx\n";
        assert_eq!(
            neutralize(hostile),
            "ok\\x1b[2J\\x1b]0;pwned\\x07\\x1b]52;c;ZXZpbA==\\x07\\x9b31m\\x7f\\rover\tx\n"
        );
        assert!(matches!(neutralize("plain\ttext\n"), Cow::Borrowed(_)));
        assert_eq!(neutralize("naïve ✓"), "naïve ✓");
    }
}
