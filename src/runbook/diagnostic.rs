//! Runbook diagnostics: `FILE:LINE:COLUMN: message`, collected so that `runbook validate`
//! reports every problem in one pass instead of making the author fix them one at a time.

use std::fmt;

/// A 1-based line and column (in characters) in a runbook file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    /// The start of the file: where problems of the whole file (a missing key) are reported.
    pub const START: Self = Self { line: 1, column: 1 };
}

/// One problem in a runbook, at a position in its file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// The file as the operator named it, or `embedded:NAME.toml` for a shipped runbook.
    pub file: String,
    /// 1-based; 0 when the problem is the file as a whole (it could not be read).
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

/// Every problem found in a runbook (or in binding its parameters to it), in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RunbookError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for RunbookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl RunbookError {
    /// A problem with the file as a whole (unreadable, not found).
    pub fn whole_file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            diagnostics: vec![Diagnostic {
                file: file.into(),
                line: 0,
                column: 0,
                message: message.into(),
            }],
        }
    }
}

/// The collector the loader pushes problems into.
#[derive(Debug)]
pub(crate) struct Diags {
    file: String,
    list: Vec<Diagnostic>,
}

impl Diags {
    pub(crate) fn new(file: &str) -> Self {
        Self {
            file: file.to_owned(),
            list: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, pos: Pos, message: impl Into<String>) {
        self.list.push(Diagnostic {
            file: self.file.clone(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
        });
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// Every problem so far, as the error (for a problem that stops the load early).
    pub(crate) fn into_error(self) -> RunbookError {
        self.finish().err().unwrap_or(RunbookError {
            diagnostics: Vec::new(),
        })
    }

    /// `Ok` when nothing was pushed; otherwise every problem, sorted by position (stable, so
    /// problems at one position keep the order they were found in).
    pub(crate) fn finish(mut self) -> Result<(), RunbookError> {
        if self.list.is_empty() {
            return Ok(());
        }
        self.list.sort_by_key(|d| (d.line, d.column));
        Err(RunbookError {
            diagnostics: self.list,
        })
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// " (did you mean `x`?)" or nothing.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    closest(word, candidates).map_or_else(String::new, |c| format!(" (did you mean `{c}`?)"))
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_one_per_line_and_whole_file() {
        let err = RunbookError {
            diagnostics: vec![
                Diagnostic {
                    file: "rb.toml".into(),
                    line: 3,
                    column: 7,
                    message: "first".into(),
                },
                Diagnostic {
                    file: "rb.toml".into(),
                    line: 9,
                    column: 1,
                    message: "second".into(),
                },
            ],
        };
        assert_eq!(err.to_string(), "rb.toml:3:7: first\nrb.toml:9:1: second");
        assert_eq!(
            RunbookError::whole_file("x.toml", "cannot read").to_string(),
            "x.toml: cannot read"
        );
    }

    #[test]
    fn closest_finds_typos_only() {
        let words = ["ports", "allow", "allow_targets", "revert_after"];
        assert_eq!(closest("prots", words), Some("ports"));
        assert_eq!(closest("revert_afer", words), Some("revert_after"));
        assert_eq!(closest("command", words), None);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }
}
