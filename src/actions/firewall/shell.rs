//! How the Rust side runs this folder's `.sh` files on a node and reads what they print.
//!
//! A script sent to a node is `prelude.sh`, the input lines (`StepFiles::vars`, every value
//! quoted by `crate::actions::script`), then the scripts it needs, whole: the Rust side never
//! edits their text, and data goes on stdin or into quoted heredocs. The scripts answer in
//! `@@bg:NAME@@` sections. This file knows that framing and nothing else: what a script does and
//! what its sections mean belong to the file of the concern that sends it.

use std::collections::BTreeMap;

use crate::actions::contract::ActionFailure;
use crate::actions::script::{Inputs, quote};
use crate::transport::ssh::{ExecResult, Outcome};

/// Section markers in the output of the node-side scripts: `@@bg:NAME@@` on a line of its own.
const MARK: (&str, &str) = ("@@bg:", "@@");

/// What every script starts with: `set -u`, a PATH with sbin, `umask 077`, `sec NAME`.
pub(super) const PRELUDE: &str = include_str!("prelude.sh");

/// `/bin/sh -c '<prelude><inputs><scripts>'`: POSIX sh whatever the remote user's login shell
/// is.
pub(super) fn command(inputs: &Inputs, scripts: &[&str]) -> Result<String, ActionFailure> {
    Ok(format!(
        "/bin/sh -c {}",
        quote(&format!("{PRELUDE}{}", inputs.then(scripts)))?
    ))
}

pub(super) fn ok_or(doing: &str, r: &ExecResult) -> Result<(), ActionFailure> {
    if r.outcome == Outcome::Ok {
        Ok(())
    } else {
        Err(ActionFailure::from_result(doing, r))
    }
}

pub(super) fn stdout(r: &ExecResult) -> String {
    String::from_utf8_lossy(&r.stdout.bytes).into_owned()
}

/// Splits script output into its `@@bg:NAME@@` sections. Each value ends with exactly one
/// newline (or is empty), whatever blank lines the markers added.
pub(super) fn sections(stdout: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    let finish = |map: &mut BTreeMap<String, String>, (name, text): (String, String)| {
        let trimmed = text.trim_end_matches('\n');
        let value = if trimmed.is_empty() {
            String::new()
        } else {
            format!("{trimmed}\n")
        };
        map.insert(name, value);
    };
    for line in stdout.split('\n') {
        if let Some(name) = line
            .strip_prefix(MARK.0)
            .and_then(|rest| rest.strip_suffix(MARK.1))
        {
            if let Some(done) = current.take() {
                finish(&mut map, done);
            }
            current = Some((name.to_owned(), String::new()));
        } else if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    if let Some(done) = current.take() {
        finish(&mut map, done);
    }
    map
}

/// `CALL <<'DELIM'`, `data`, `DELIM`: `data` on the command's stdin, unexpanded.
pub(super) fn heredoc(call: &str, data: &str) -> String {
    let delim = delimiter(data);
    format!("{call} <<'{delim}'\n{data}{delim}\n")
}

/// A heredoc delimiter that no line of `body` equals.
fn delimiter(body: &str) -> String {
    let mut delim = "BREAKGLASS_EOF".to_owned();
    let mut n = 0;
    while body.lines().any(|l| l == delim) {
        n += 1;
        delim = format!("BREAKGLASS_EOF_{n}");
    }
    delim
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_parse() {
        let s = sections("junk\n@@bg:a@@\nx\n\n\n@@bg:b@@\n\n@@bg:c@@\ny\nz");
        assert_eq!(s["a"], "x\n");
        assert_eq!(s["b"], "");
        assert_eq!(s["c"], "y\nz\n");
    }
}
