//! Output folding (dshbak/clush style): hosts whose stdout, stderr and outcome are identical are
//! kept once, under a compact host set. Memory grows with the number of *distinct* outputs, not
//! with the number of hosts.
//!
//! "Identical" looks past each host's own name and address: on a bad day 1000 hosts are refused
//! with `TCP connect to 10.0.0.5:22: Connection refused`, each with its own address, and that is
//! one problem to read, not 1000. Before comparing, a host's name becomes `<host>`, its `ip:port`
//! `<address>` and its bare IP `<ip>`, in the reason, stdout and stderr alike (so `hostname` on
//! the whole fleet folds too).

use std::collections::HashMap;
use std::net::SocketAddr;

use sha2::{Digest, Sha256};

use crate::engine::TargetResult;
use crate::inventory::hostset;

/// What stands for the host's own name, `ip:port` and IP in a folded group's text.
const HOST: &str = "<host>";
const ADDRESS: &str = "<address>";
const IP: &str = "<ip>";

/// Hosts that produced the same result.
#[derive(Debug, Clone)]
pub struct Group {
    pub names: Vec<String>,
    pub outcome: String,
    /// The first host's texts, as it wrote them.
    first: Texts,
    /// The same with each host's own name and addresses as placeholders; `None` when the
    /// first host's texts had none to replace.
    general: Option<Texts>,
    /// Whether the hosts' texts differ as written (they are equal only up to the placeholders).
    varied: bool,
    pub stdout_note: Option<String>,
    pub stderr_note: Option<String>,
    first_seen: usize,
}

/// What a result says, in words and output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Texts {
    pub describe: String,
    pub stdout: String,
    pub stderr: String,
}

impl Group {
    /// The texts to print. While every host wrote exactly the same, that text is shown as is
    /// (a single refused host keeps its address in view); once hosts differ by their own name or
    /// address, the placeholder form is the only text true for all of them.
    pub fn texts(&self) -> &Texts {
        match &self.general {
            Some(general) if self.varied => general,
            _ => &self.first,
        }
    }
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

/// A host's own name and addresses, each with its placeholder, longest first so that an
/// `ip:port` is replaced whole rather than as an IP followed by `:22`.
struct Own(Vec<(String, &'static str)>);

impl Own {
    fn of(r: &TargetResult) -> Own {
        let mut needles = vec![(r.address.clone(), ADDRESS)];
        if let Ok(addr) = r.address.parse::<SocketAddr>() {
            needles.push((addr.ip().to_string(), IP));
        }
        needles.push((r.target.clone(), HOST));
        needles.retain(|(needle, _)| !needle.is_empty());
        needles.sort_by_key(|(needle, _)| std::cmp::Reverse(needle.len()));
        Own(needles)
    }

    /// `text` with this host's own name and addresses replaced by placeholders, or `None` when
    /// it has none. Only whole words are replaced: `node1` in `node10` or `10.0.0.5` in
    /// `10.0.0.50` is another host's, and must stay. All needles are matched in one scan, so a
    /// host named `host` does not rewrite the `<host>` put in for its own name.
    fn replace(&self, text: &str) -> Option<String> {
        let is_word = |c: char| c.is_alphanumeric() || c == '_';
        let mut out = String::new();
        let (mut copied, mut i, mut after_word) = (0, 0, false);
        'scan: while let Some(c) = text[i..].chars().next() {
            if !after_word {
                for (needle, placeholder) in &self.0 {
                    let end = i + needle.len();
                    if text[i..].starts_with(needle.as_str())
                        && !text[end..].chars().next().is_some_and(is_word)
                    {
                        out.push_str(&text[copied..i]);
                        out.push_str(placeholder);
                        (copied, i) = (end, end);
                        after_word = needle.chars().next_back().is_some_and(is_word);
                        continue 'scan;
                    }
                }
            }
            after_word = is_word(c);
            i += c.len_utf8();
        }
        if copied == 0 {
            return None;
        }
        out.push_str(&text[copied..]);
        Some(out)
    }
}

impl Folder {
    /// Adds a copy of `r` (see [`Folder::add_owned`], which keeps the output without copying).
    pub fn add(&mut self, r: &TargetResult) {
        self.add_owned(r.clone());
    }

    /// Adds `r`, keeping its output itself, not a copy: a host's output can be as large as
    /// `--max-output`, and only the first host of each group keeps it.
    pub fn add_owned(&mut self, mut r: TargetResult) {
        let describe = super::describe::describe(&r);
        let stdout = r.stdout.take().unwrap_or_default();
        let stderr = r.stderr.take().unwrap_or_default();
        let stdout_note = truncation_note(stdout.len(), r.stdout_bytes, r.stdout_truncated);
        let stderr_note = truncation_note(stderr.len(), r.stderr_bytes, r.stderr_truncated);
        let own = Own::of(&r);
        let texts = [describe.as_str(), stdout.as_str(), stderr.as_str()];
        // A text that already holds a placeholder literally is compared as written, and tagged
        // apart, so a host printing `<host>` never joins the hosts printing their own name.
        let literal = texts.map(|t| [HOST, ADDRESS, IP].iter().any(|p| t.contains(p)));
        let replaced: Vec<Option<String>> = texts
            .iter()
            .zip(literal)
            .map(|(t, literal)| if literal { None } else { own.replace(t) })
            .collect();
        let mut h = Sha256::new();
        for ((text, literal), replaced) in texts.iter().zip(literal).zip(&replaced) {
            let text = replaced.as_deref().unwrap_or(text);
            h.update([u8::from(literal)]);
            // Length-prefix each part so ("ab","c") and ("a","bc") differ.
            h.update((text.len() as u64).to_le_bytes());
            h.update(text.as_bytes());
        }
        for note in [&stdout_note, &stderr_note] {
            let note = note.as_deref().unwrap_or("");
            h.update((note.len() as u64).to_le_bytes());
            h.update(note.as_bytes());
        }
        let key: [u8; 32] = h.finalize().into();
        let seen = self.seen;
        self.seen += 1;
        if let Some(group) = self.groups.get_mut(&key) {
            let first = &group.first;
            group.varied |=
                first.describe != describe || first.stdout != stdout || first.stderr != stderr;
            group.names.push(r.target);
            return;
        }
        let first = Texts {
            describe,
            stdout,
            stderr,
        };
        let general = replaced.iter().any(Option::is_some).then(|| {
            let [describe, stdout, stderr] = [&first.describe, &first.stdout, &first.stderr];
            let mut replaced = replaced.into_iter();
            let mut next =
                |text: &String| replaced.next().flatten().unwrap_or_else(|| text.clone());
            Texts {
                describe: next(describe),
                stdout: next(stdout),
                stderr: next(stderr),
            }
        });
        self.groups.insert(
            key,
            Group {
                names: vec![r.target],
                outcome: r.outcome.label().to_owned(),
                first,
                general,
                varied: false,
                stdout_note,
                stderr_note,
                first_seen: seen,
            },
        );
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
        self.render_with(&mut |piece| out.push_str(piece));
        out
    }

    /// The folded text in pieces, as [`Folder::render`] joins them: printed piece by piece, a
    /// host's output (up to `--max-output`) is never copied into one string first.
    pub fn render_with(&self, emit: &mut dyn FnMut(&str)) {
        for g in self.groups() {
            let n = g.names.len();
            let texts = g.texts();
            emit(&format!(
                "---- {} ({} host{}): {}\n",
                hostset::fold(&g.names),
                n,
                if n == 1 { "" } else { "s" },
                texts.describe
            ));
            emit_block(emit, &texts.stdout);
            if let Some(note) = &g.stdout_note {
                emit(note);
                emit("\n");
            }
            if !texts.stderr.is_empty() {
                emit("[stderr]\n");
                emit_block(emit, &texts.stderr);
            }
            if let Some(note) = &g.stderr_note {
                emit(note);
                emit("\n");
            }
        }
    }
}

/// `text` line by line, each ending in a newline (a last line without one gets it).
fn emit_block(emit: &mut dyn FnMut(&str), text: &str) {
    for line in text.lines() {
        emit(line);
        emit("\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;

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

    fn unreachable(name: &str, address: &str, reason: &str) -> TargetResult {
        TargetResult {
            target: name.into(),
            address: address.into(),
            outcome: Outcome::Unreachable,
            reason: Some(reason.into()),
            ..TargetResult::default()
        }
    }

    #[test]
    fn a_thousand_refusals_naming_their_own_address_fold_into_one_group() {
        let mut f = Folder::default();
        for i in 0..1000 {
            let address = format!("10.0.{}.{}:22", i / 250, i % 250 + 1);
            let reason = format!("TCP connect to {address}: Connection refused (os error 111)");
            f.add(&unreachable(&format!("node{i:04}"), &address, &reason));
        }
        assert_eq!(f.groups().len(), 1);
        assert_eq!(
            f.render(),
            "---- node[0000-0999] (1000 hosts): unreachable: TCP connect to <address>: \
             Connection refused (os error 111)\n"
        );
    }

    #[test]
    fn name_ip_and_address_become_placeholders_only_when_hosts_differ() {
        let mut f = Folder::default();
        f.add(&unreachable(
            "cp1",
            "10.0.0.1:22",
            "no route to 10.0.0.1 (cp1)",
        ));
        // Alone, a host's text is shown as written: the address is worth seeing.
        assert_eq!(
            f.render(),
            "---- cp1 (1 host): unreachable: no route to 10.0.0.1 (cp1)\n"
        );
        f.add(&unreachable(
            "cp2",
            "10.0.0.2:22",
            "no route to 10.0.0.2 (cp2)",
        ));
        assert_eq!(
            f.render(),
            "---- cp[1-2] (2 hosts): unreachable: no route to <ip> (<host>)\n"
        );
        // IPv6 addresses, bracketed with their port or bare.
        let mut f = Folder::default();
        for i in 1..=2 {
            let address = format!("[fd00::{i}]:22");
            let reason = format!("TCP connect to {address}: refused by fd00::{i}");
            f.add(&unreachable(&format!("n{i}"), &address, &reason));
        }
        assert_eq!(
            f.render(),
            "---- n[1-2] (2 hosts): unreachable: TCP connect to <address>: refused by <ip>\n"
        );
    }

    #[test]
    fn each_host_printing_its_own_name_folds_but_another_hosts_name_does_not() {
        let mut f = Folder::default();
        for i in 1..=3 {
            f.add(&r(&format!("node{i}"), "ok", 0, &format!("node{i}\n")));
        }
        // node1 printing node10 is not node1 printing itself: only whole words are replaced.
        f.add(&r("node1", "ok", 0, "node10\n"));
        f.add(&r("10.0.0.5", "ok", 0, "10.0.0.50\n"));
        let text = f.render();
        assert!(
            text.starts_with("---- node[1-3] (3 hosts): ok\n<host>\n"),
            "{text}"
        );
        assert!(text.contains("---- node1 (1 host): ok\nnode10\n"), "{text}");
        assert!(
            text.contains("---- 10.0.0.5 (1 host): ok\n10.0.0.50\n"),
            "{text}"
        );
    }

    #[test]
    fn a_literal_placeholder_is_not_mistaken_for_a_replaced_name() {
        let mut f = Folder::default();
        f.add(&r("a1", "ok", 0, "a1\n"));
        f.add(&r("a2", "ok", 0, "a2\n"));
        f.add(&r("a3", "ok", 0, "<host>\n"));
        assert_eq!(f.groups().len(), 2);
        // A host named like a placeholder's word does not rewrite the placeholder.
        let mut f = Folder::default();
        f.add(&unreachable(
            "host",
            "10.0.0.1:22",
            "host 10.0.0.1:22 said no",
        ));
        f.add(&unreachable("ip", "10.0.0.2:22", "ip 10.0.0.2:22 said no"));
        assert_eq!(
            f.render(),
            "---- host,ip (2 hosts): unreachable: <host> <address> said no\n"
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
