//! Output folding (dshbak/clush style): hosts whose stdout, stderr and outcome are identical are
//! kept once, under a compact host set. Memory grows with the number of *distinct* outputs, not
//! with the number of hosts.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::engine::TargetResult;
use crate::inventory::hostset;

/// Hosts that produced the same result.
#[derive(Debug, Clone)]
pub struct Group {
    pub names: Vec<String>,
    pub outcome: String,
    pub describe: String,
    pub stdout: String,
    pub stderr: String,
    pub stdout_note: Option<String>,
    pub stderr_note: Option<String>,
    first_seen: usize,
}

/// Accumulates results into groups.
#[derive(Debug, Default)]
pub struct Folder {
    groups: HashMap<[u8; 32], Group>,
    seen: usize,
}

fn truncation_note(shown: usize, total: u64, truncated: bool) -> Option<String> {
    truncated.then(|| {
        format!(
            "[output truncated: {shown} of {total} bytes kept; raise --max-output to keep more]"
        )
    })
}

impl Folder {
    pub fn add(&mut self, r: &TargetResult) {
        let describe = r.describe();
        let stdout = r.stdout.as_deref().unwrap_or("");
        let stderr = r.stderr.as_deref().unwrap_or("");
        let stdout_note = truncation_note(stdout.len(), r.stdout_bytes, r.stdout_truncated);
        let stderr_note = truncation_note(stderr.len(), r.stderr_bytes, r.stderr_truncated);
        let mut h = Sha256::new();
        for part in [
            describe.as_bytes(),
            stdout.as_bytes(),
            stderr.as_bytes(),
            stdout_note.as_deref().unwrap_or("").as_bytes(),
            stderr_note.as_deref().unwrap_or("").as_bytes(),
        ] {
            // Length-prefix each part so ("ab","c") and ("a","bc") differ.
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        let key: [u8; 32] = h.finalize().into();
        let seen = self.seen;
        self.seen += 1;
        self.groups
            .entry(key)
            .or_insert_with(|| Group {
                names: Vec::new(),
                outcome: r.outcome.label().to_owned(),
                describe,
                stdout: stdout.to_owned(),
                stderr: stderr.to_owned(),
                stdout_note,
                stderr_note,
                first_seen: seen,
            })
            .names
            .push(r.target.clone());
    }

    /// Groups in print order: ok first, then the largest groups, then first seen.
    pub fn groups(&self) -> Vec<&Group> {
        let mut v: Vec<&Group> = self.groups.values().collect();
        v.sort_by(|a, b| {
            (b.outcome == "ok")
                .cmp(&(a.outcome == "ok"))
                .then(b.names.len().cmp(&a.names.len()))
                .then(a.first_seen.cmp(&b.first_seen))
        });
        v
    }

    /// The folded text: one block per group.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for g in self.groups() {
            let n = g.names.len();
            out.push_str(&format!(
                "---- {} ({} host{}): {}\n",
                hostset::fold(&g.names),
                n,
                if n == 1 { "" } else { "s" },
                g.describe
            ));
            push_block(&mut out, &g.stdout, "");
            if let Some(note) = &g.stdout_note {
                out.push_str(note);
                out.push('\n');
            }
            if !g.stderr.is_empty() {
                out.push_str("[stderr]\n");
                push_block(&mut out, &g.stderr, "");
            }
            if let Some(note) = &g.stderr_note {
                out.push_str(note);
                out.push('\n');
            }
        }
        out
    }
}

fn push_block(out: &mut String, text: &str, prefix: &str) {
    for line in text.lines() {
        out.push_str(prefix);
        out.push_str(line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, outcome: &str, status: i32, stdout: &str) -> TargetResult {
        TargetResult {
            target: name.into(),
            outcome: outcome.parse().expect("outcome"),
            exit_status: Some(status),
            stdout: Some(stdout.into()),
            stderr: Some(String::new()),
            stdout_bytes: stdout.len() as u64,
            ..TargetResult::default()
        }
    }

    #[test]
    fn identical_results_fold_into_one_group() {
        let mut f = Folder::default();
        for i in 1..=180 {
            f.add(&r(&format!("node{i:03}"), "ok", 0, "6.1.0\n"));
        }
        f.add(&r("node183", "ok", 0, "6.1.0\n"));
        f.add(&r("node181", "failed", 1, "6.1.0\n"));
        f.add(&r("node182", "failed", 1, "6.1.0\n"));
        let text = f.render();
        assert_eq!(
            text,
            "---- node[001-180,183] (181 hosts): ok\n6.1.0\n---- node[181-182] (2 hosts): exit 1\n6.1.0\n"
        );
    }

    #[test]
    fn stdout_and_stderr_are_both_part_of_the_key() {
        let mut f = Folder::default();
        let mut a = r("a1", "ok", 0, "x");
        a.stderr = Some("warn".into());
        f.add(&a);
        f.add(&r("a2", "ok", 0, "x"));
        assert_eq!(f.groups().len(), 2);
    }
}
