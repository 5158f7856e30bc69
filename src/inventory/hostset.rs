//! Host sets: the ClusterShell-style range notation used for host names and addresses
//! (`node[001-200]`, `10.0.[1-4].[1-50]`, `rack[1-2]-n[1,3,5-7]`, `a[1-2],b`), expanded into names
//! and folded back into the compact form for output.
//!
//! Grammar: a host set is one or more items separated by top-level commas; an item is literal text
//! and bracket groups `[R,R,...]` where each `R` is `N` or `N-M` (decimal, low to high). A number
//! written with a leading zero (`001`) fixes the width, so `[001-200]` gives `001` .. `200`.
//! Several groups in one item make a cartesian product, left to right, the last group fastest.
//! Expansion keeps duplicates (the inventory reports them as duplicate names) and is capped at
//! [`MAX_EXPANSION`] names so a typo cannot exhaust memory.
//!
//! [`Pattern`] adds the globs `*` and `?` and matches names without expanding anything, so a
//! selector like `node[1-900000]*` costs the same as `node1`.
//!
//! This module knows nothing about hosts: it is text in, text out, and never panics on input.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

/// The most names one host set may expand to. Large enough for any real fleet, small enough that
/// a typo like `[1-99999999]` fails fast instead of allocating gigabytes.
pub const MAX_EXPANSION: usize = 1_000_000;

/// Numbers longer than this are rejected: they would not fit a `u64`, and no fleet needs them.
const MAX_DIGITS: usize = 18;

/// A malformed host set. `column` counts characters from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("host set {pattern:?}: column {column}: {message}")]
pub struct HostsetError {
    pub pattern: String,
    pub column: usize,
    /// What was wrong and what was expected, e.g. `range 5-1 is reversed; expected LOW-HIGH`.
    pub message: String,
}

/// One `N` or `N-M` inside brackets. `width` is 0 when the numbers are not zero-padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RangeItem {
    lo: u64,
    hi: u64,
    width: usize,
}

impl RangeItem {
    fn count(self) -> u64 {
        self.hi - self.lo + 1
    }

    /// Whether `digits` (ASCII digits only) is exactly how this range writes one of its numbers:
    /// `[001-200]` matches `007` but not `7`, and `[1-20]` matches `7` but not `07`.
    fn matches_text(self, digits: &str) -> bool {
        let Ok(value) = digits.parse::<u64>() else {
            return false;
        };
        value >= self.lo && value <= self.hi && digits.len() == decimal_len(value).max(self.width)
    }
}

fn decimal_len(mut value: u64) -> usize {
    let mut len = 1;
    while value >= 10 {
        value /= 10;
        len += 1;
    }
    len
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Range(Vec<RangeItem>),
    /// `*`: any run of characters, including none (only in patterns).
    AnyRun,
    /// `?`: exactly one character (only in patterns).
    AnyChar,
}

/// Parses a host set into its comma-separated items, each a list of segments. With `globs`,
/// `*` and `?` are wildcards; without, they are ordinary characters.
fn parse(pattern: &str, globs: bool) -> Result<Vec<Vec<Segment>>, HostsetError> {
    let chars: Vec<char> = pattern.chars().collect();
    let err = |index: usize, message: String| HostsetError {
        pattern: pattern.to_owned(),
        column: index + 1,
        message,
    };
    let mut items = Vec::new();
    let mut segments = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ',' => {
                flush(&mut literal, &mut segments);
                if segments.is_empty() {
                    return Err(err(i, "empty item; expected a name before ','".into()));
                }
                items.push(std::mem::take(&mut segments));
            }
            '[' => {
                flush(&mut literal, &mut segments);
                let (ranges, next) = parse_brackets(&chars, i + 1).map_err(|(at, m)| err(at, m))?;
                segments.push(Segment::Range(ranges));
                i = next;
                continue;
            }
            ']' => return Err(err(i, "unmatched ']'; expected '[' before it".into())),
            '*' if globs => {
                flush(&mut literal, &mut segments);
                segments.push(Segment::AnyRun);
            }
            '?' if globs => {
                flush(&mut literal, &mut segments);
                segments.push(Segment::AnyChar);
            }
            _ => literal.push(c),
        }
        i += 1;
    }
    flush(&mut literal, &mut segments);
    if segments.is_empty() {
        let message = if items.is_empty() {
            "empty host set; expected a name like node[1-3]"
        } else {
            "trailing ','; expected a name after it"
        };
        return Err(err(chars.len(), message.into()));
    }
    items.push(segments);
    Ok(items)
}

fn flush(literal: &mut String, segments: &mut Vec<Segment>) {
    if !literal.is_empty() {
        segments.push(Segment::Literal(std::mem::take(literal)));
    }
}

/// Parses the inside of `[...]` starting at `start` (just after `[`); returns the ranges and the
/// index just after `]`. Errors are (character index, message).
fn parse_brackets(
    chars: &[char],
    start: usize,
) -> Result<(Vec<RangeItem>, usize), (usize, String)> {
    let mut ranges = Vec::new();
    let mut i = start;
    loop {
        let lo_at = i;
        let lo = read_digits(chars, &mut i);
        if lo.is_empty() {
            return Err(match chars.get(i) {
                Some(']') if ranges.is_empty() => (
                    i,
                    "empty brackets; expected numbers like [1-4] or [1,3,5-7]".into(),
                ),
                // `[-5]`: ranges are of non-negative numbers, and a range needs both bounds.
                Some('-') => (
                    i,
                    "range without a low bound; expected LOW-HIGH like [1-5]".into(),
                ),
                None => (i, "expected a number and ']'".into()),
                Some(c) => (i, format!("unexpected {c:?}; expected a number")),
            });
        }
        let hi = if chars.get(i) == Some(&'-') {
            i += 1;
            let hi = read_digits(chars, &mut i);
            if hi.is_empty() {
                return Err((i, "expected a number after '-'".into()));
            }
            Some(hi)
        } else {
            None
        };
        let is_range = hi.is_some();
        ranges.push(range_item(&lo, hi.as_deref(), lo_at)?);
        match chars.get(i) {
            Some(',') => i += 1,
            Some(']') => return Ok((ranges, i + 1)),
            None => return Err((i, "expected ']'".into())),
            // After `1-5`, a second `-` is not a longer range: say what may follow.
            Some(c) if is_range => {
                return Err((i, format!("unexpected {c:?}; expected ',' or ']'")));
            }
            Some(c) => return Err((i, format!("unexpected {c:?}; expected '-', ',' or ']'"))),
        }
    }
}

fn read_digits(chars: &[char], i: &mut usize) -> String {
    let mut digits = String::new();
    while let Some(c) = chars.get(*i).filter(|c| c.is_ascii_digit()) {
        digits.push(*c);
        *i += 1;
    }
    digits
}

fn range_item(lo: &str, hi: Option<&str>, at: usize) -> Result<RangeItem, (usize, String)> {
    let number = |text: &str| {
        if text.len() > MAX_DIGITS {
            return Err((
                at,
                format!("number {text} is too long; expected at most {MAX_DIGITS} digits"),
            ));
        }
        text.parse::<u64>()
            .map_err(|e| (at, format!("bad number {text}: {e}; expected digits")))
    };
    // A bound written with a leading zero fixes the width: `[001-200]` is width 3. When one bound
    // is padded, both must be written at that width, as ClusterShell requires ("padding length
    // mismatch"): `[1-010]` could mean `1..10` or `001..010`, and a selector that guesses picks
    // hosts nobody wrote. Unpadded ranges have width 0 and print numbers as they are.
    let padded = |text: &str| {
        if text.len() > 1 && text.starts_with('0') {
            text.len()
        } else {
            0
        }
    };
    let lo_value = number(lo)?;
    let (hi_value, width) = match hi {
        Some(hi) => {
            let hi_value = number(hi)?;
            if (padded(lo) > 0 || padded(hi) > 0) && lo.len() != hi.len() {
                let w = lo.len().max(hi.len());
                return Err((
                    at,
                    format!(
                        "padding mismatch in {lo}-{hi}; expected both bounds at the same width, like [{lo_value:0w$}-{hi_value:0w$}] or [{lo_value}-{hi_value}]"
                    ),
                ));
            }
            (hi_value, padded(lo).max(padded(hi)))
        }
        None => (lo_value, padded(lo)),
    };
    if hi_value < lo_value {
        return Err((
            at,
            format!(
                "range {lo}-{} is reversed; expected LOW-HIGH",
                hi.unwrap_or(lo)
            ),
        ));
    }
    Ok(RangeItem {
        lo: lo_value,
        hi: hi_value,
        width,
    })
}

/// Expands a host set into its names, in order: items left to right, and within an item the
/// cartesian product of its bracket groups with the last group varying fastest.
///
/// `expand("n[1-2]-[a,b]")` is an error (ranges are numeric); `expand("r[1-2]n[01-02]")` is
/// `r1n01, r1n02, r2n01, r2n02`.
pub fn expand(pattern: &str) -> Result<Vec<String>, HostsetError> {
    let items = parse(pattern, false)?;
    let total = count_items(pattern, &items)?;
    let mut names = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for segments in &items {
        let mut partial = vec![String::new()];
        for segment in segments {
            match segment {
                Segment::Literal(text) => partial.iter_mut().for_each(|p| p.push_str(text)),
                Segment::Range(ranges) => {
                    let mut next = Vec::new();
                    for prefix in &partial {
                        for r in ranges {
                            for value in r.lo..=r.hi {
                                next.push(format!("{prefix}{value:0width$}", width = r.width));
                            }
                        }
                    }
                    partial = next;
                }
                // `parse(_, false)` never produces globs; treat them as nothing to be total.
                Segment::AnyRun | Segment::AnyChar => {}
            }
        }
        names.extend(partial);
    }
    Ok(names)
}

/// How many names `pattern` expands to, without expanding it (at most [`MAX_EXPANSION`]).
pub fn count(pattern: &str) -> Result<usize, HostsetError> {
    let items = parse(pattern, false)?;
    // At most MAX_EXPANSION, so it fits.
    Ok(usize::try_from(count_items(pattern, &items)?).unwrap_or(MAX_EXPANSION))
}

/// Counts the names of parsed items without allocating them, so a huge range fails fast.
fn count_items(pattern: &str, items: &[Vec<Segment>]) -> Result<u64, HostsetError> {
    let too_many = || HostsetError {
        pattern: pattern.to_owned(),
        column: 1,
        message: format!(
            "expands to more than {MAX_EXPANSION} names; expected a smaller range (or several entries)"
        ),
    };
    let mut total: u64 = 0;
    for segments in items {
        let mut count: u64 = 1;
        for segment in segments {
            if let Segment::Range(ranges) = segment {
                let size = ranges
                    .iter()
                    .try_fold(0u64, |acc, r| acc.checked_add(r.count()))
                    .ok_or_else(too_many)?;
                count = count.checked_mul(size).ok_or_else(too_many)?;
            }
        }
        total = total.checked_add(count).ok_or_else(too_many)?;
        if total > MAX_EXPANSION as u64 {
            return Err(too_many());
        }
    }
    Ok(total)
}

/// A compiled host pattern: a host set whose items may also contain the globs `*` (any run of
/// characters) and `?` (one character). Matching never expands the ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    items: Vec<Vec<Segment>>,
}

impl Pattern {
    pub fn compile(pattern: &str) -> Result<Pattern, HostsetError> {
        Ok(Pattern {
            text: pattern.to_owned(),
            items: parse(pattern, true)?,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Plain text without ranges, globs or commas: it matches exactly one string, so callers can
    /// look it up in a hash map instead of scanning.
    pub fn is_literal(&self) -> bool {
        matches!(self.items.as_slice(), [segments] if segments.iter().all(|s| matches!(s, Segment::Literal(_))))
    }

    /// The pattern's literal text, piece by piece: everything but ranges and globs.
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.items.iter().flatten().filter_map(|s| match s {
            Segment::Literal(text) => Some(text.as_str()),
            _ => None,
        })
    }

    pub fn matches(&self, candidate: &str) -> bool {
        self.items
            .iter()
            .any(|segments| matches_segments(segments, candidate))
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Matches by tracking every position of `text` reachable after each segment (a small NFA
/// simulation), so ranges of variable width followed by `*` need no backtracking and the cost
/// is linear in the pattern length times the name length.
fn matches_segments(segments: &[Segment], text: &str) -> bool {
    // Selecting from 100k hosts calls this twice per host; names and addresses fit on the stack.
    const STACK: usize = 256;
    let n = text.len();
    let (mut a, mut b) = ([false; STACK], [false; STACK]);
    let (mut heap_a, mut heap_b) = (Vec::new(), Vec::new());
    let (mut reachable, mut next): (&mut [bool], &mut [bool]) = if n < STACK {
        (&mut a[..=n], &mut b[..=n])
    } else {
        heap_a.resize(n + 1, false);
        heap_b.resize(n + 1, false);
        (&mut heap_a, &mut heap_b)
    };
    reachable[0] = true;
    for segment in segments {
        next.fill(false);
        let mut any = false;
        for start in (0..=n).filter(|&p| reachable[p]) {
            let rest = &text[start..];
            match segment {
                Segment::Literal(lit) => {
                    if rest.starts_with(lit.as_str()) {
                        next[start + lit.len()] = true;
                        any = true;
                    }
                }
                Segment::AnyChar => {
                    if let Some(c) = rest.chars().next() {
                        next[start + c.len_utf8()] = true;
                        any = true;
                    }
                }
                Segment::AnyRun => {
                    // Every later character boundary is reachable; the first start covers all.
                    for (offset, _) in rest.char_indices() {
                        next[start + offset] = true;
                    }
                    next[n] = true;
                    any = true;
                    break;
                }
                Segment::Range(ranges) => {
                    let run = rest.bytes().take_while(u8::is_ascii_digit).count();
                    for len in 1..=run.min(MAX_DIGITS + 1) {
                        let digits = &rest[..len];
                        if ranges.iter().any(|r| r.matches_text(digits)) {
                            next[start + len] = true;
                            any = true;
                        }
                    }
                }
            }
        }
        if !any {
            return false;
        }
        std::mem::swap(&mut reachable, &mut next);
    }
    reachable[n]
}

/// One number as a name writes it.
#[derive(Debug, Clone, Copy)]
struct Number {
    value: u64,
    digits: usize,
    /// Written with a leading zero (`07`, `001`): the width is part of the name.
    padded: bool,
}

/// Cuts a name at its numbers: `rack02-n7.dc1` is the texts `rack`, `-n`, `.dc` and an empty one
/// around the numbers `02`, `7` and `1`. There is always one text more than there are numbers. A
/// run of more than [`MAX_DIGITS`] digits cannot be a range bound, so it stays in the text.
fn cut(name: &str) -> (Vec<&str>, Vec<Number>) {
    let bytes = name.as_bytes();
    let (mut texts, mut numbers) = (Vec::new(), Vec::new());
    let (mut text_start, mut i) = (0, 0);
    while i < bytes.len() {
        // Digits are ASCII, so every index found here is a character boundary.
        let Some(start) = bytes[i..]
            .iter()
            .position(u8::is_ascii_digit)
            .map(|p| i + p)
        else {
            break;
        };
        let end = bytes[start..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(bytes.len(), |p| start + p);
        let digits = &name[start..end];
        if digits.len() <= MAX_DIGITS
            && let Ok(value) = digits.parse::<u64>()
        {
            texts.push(&name[text_start..start]);
            text_start = end;
            numbers.push(Number {
                value,
                digits: digits.len(),
                padded: digits.len() > 1 && digits.starts_with('0'),
            });
        }
        i = end;
    }
    texts.push(&name[text_start..]);
    (texts, numbers)
}

/// Folds names into the compact host-set form, like `ClusterShell`'s `nodeset -f`:
/// `node001 .. node180, node183` becomes `node[001-180,183]`, and names with several numbers
/// fold on every one of them: `rack1-n01 .. rack40-n32` becomes `rack[1-40]-n[01-32]`, and
/// `10.0.1.1 .. 10.0.4.50` becomes `10.0.[1-4].[1-50]`.
///
/// Names are grouped by the text around their numbers and by the width each number is written
/// at (`n01` and `n1` are different names, so they never share a bracket); names without digits
/// are kept as they are. Entries are sorted naturally (text, then number value, so `n2` comes
/// before `n10`), so the output is deterministic and `expand(fold(x))` is the set `x`.
///
/// Names containing `[`, `]` or `,` cannot be told apart from the notation; inventory names never
/// contain them.
pub fn fold<I, S>(names: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    // Kept so that the cuts can borrow their texts: output folding sees 100,000 names.
    let names: Vec<S> = names.into_iter().collect();
    let mut by_texts: HashMap<Vec<&str>, Vec<Vec<Number>>> = HashMap::new();
    for name in &names {
        let (texts, numbers) = cut(name.as_ref());
        by_texts.entry(texts).or_default().push(numbers);
    }
    let mut out: Vec<(Vec<Token>, String)> = Vec::new();
    for (texts, cuts) in by_texts {
        let dims = texts.len() - 1;
        // An unpadded number of L digits prints identically at any width <= L, so it joins the
        // widest padded width of its position that fits (`node001,node100` -> `node[001,100]`,
        // `n09,n10` -> `n[09-10]`), else width 0 (`n9,n10` -> `n[9-10]`, never `n[09-10]`).
        let padded: Vec<BTreeSet<usize>> = (0..dims)
            .map(|d| {
                cuts.iter()
                    .filter(|n| n[d].padded)
                    .map(|n| n[d].digits)
                    .collect()
            })
            .collect();
        // One row per name: the width of each number, then its value. Sorted, the names of one
        // set of widths are adjacent, and within them names differing only in their last value.
        let mut rows: Vec<Vec<u64>> = cuts
            .iter()
            .map(|numbers| {
                let widths = numbers.iter().zip(&padded).map(|(n, widths)| {
                    if n.padded {
                        n.digits
                    } else {
                        widths.range(..=n.digits).next_back().copied().unwrap_or(0)
                    }
                });
                let mut row: Vec<u64> = widths.map(|w| w as u64).collect();
                row.extend(numbers.iter().map(|n| n.value));
                row
            })
            .collect();
        rows.sort_unstable();
        rows.dedup();
        for same in rows.chunk_by(|a, b| a[..dims] == b[..dims]) {
            let widths: Vec<usize> = same[0][..dims]
                .iter()
                .map(|&w| usize::try_from(w).unwrap_or(0))
                .collect();
            let points = same.iter().map(|row| &row[dims..]);
            for entry in fold_dimensions(points, dims) {
                out.push(render(&texts, &widths, &entry));
            }
        }
    }
    out.sort_unstable();
    out.into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join(",")
}

/// One piece of a folded entry's sort key: texts compare as text, numbers by value then width,
/// so `n2` sorts before `n10` and `n1` before `n01`.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Token {
    Text(String),
    Number(u64, usize),
}

/// Folds points (one value per dimension; sorted, without duplicates) into entries that are each a
/// product of value sets, one sorted set per dimension, together covering exactly the points and
/// never one twice. `ClusterShell`'s approach: merge along the last dimension the entries whose
/// other dimensions are equal, then along the one before, and so on; repeat until a whole pass
/// merges nothing. A hole stays a hole: `r1n1,r1n2,r2n1` gives `r1n[1-2]` and `r2n1`, because
/// the merged entries' other sets (`{1,2}` and `{1}`) differ.
fn fold_dimensions<'a>(points: impl Iterator<Item = &'a [u64]>, dims: usize) -> Vec<Vec<Vec<u64>>> {
    // The first merge, along the last dimension, is done on the sorted points directly: points
    // that differ only in their last value are adjacent, so the pass that merges the most needs
    // no map.
    let mut entries: Vec<Vec<Vec<u64>>> = Vec::new();
    for point in points {
        let Some((&last, rest)) = point.split_last() else {
            entries.push(Vec::new());
            continue;
        };
        match entries.last_mut() {
            Some(entry)
                if entry[..rest.len()]
                    .iter()
                    .map(|s| s[0])
                    .eq(rest.iter().copied()) =>
            {
                entry[rest.len()].push(last);
            }
            _ => entries.push(point.iter().map(|&v| vec![v]).collect()),
        }
    }
    loop {
        let before = entries.len();
        for axis in (0..dims).rev() {
            entries = merge_along(entries, axis);
        }
        if entries.len() == before {
            return entries;
        }
    }
}

/// Merges the entries that differ only in dimension `axis`. Their sets in that dimension are
/// disjoint (the entries were), so the union is exact.
fn merge_along(entries: Vec<Vec<Vec<u64>>>, axis: usize) -> Vec<Vec<Vec<u64>>> {
    // Keyed by the other dimensions (the `axis` slot left empty in every key).
    let mut by_rest: HashMap<Vec<Vec<u64>>, Vec<u64>> = HashMap::new();
    for mut entry in entries {
        let values = std::mem::take(&mut entry[axis]);
        by_rest.entry(entry).or_default().extend(values);
    }
    by_rest
        .into_iter()
        .map(|(mut entry, mut values)| {
            values.sort_unstable();
            entry[axis] = values;
            entry
        })
        .collect()
}

/// One entry as text, and its sort key (the texts and the first value of each set).
fn render(texts: &[&str], widths: &[usize], sets: &[Vec<u64>]) -> (Vec<Token>, String) {
    let mut key = Vec::with_capacity(texts.len() + sets.len());
    let mut out = String::new();
    for ((text, &width), set) in texts.iter().zip(widths).zip(sets) {
        out.push_str(text);
        key.push(Token::Text((*text).to_owned()));
        if let [only] = set.as_slice() {
            out.push_str(&format!("{only:0width$}"));
        } else {
            out.push('[');
            out.push_str(&runs(set, width));
            out.push(']');
        }
        key.push(Token::Number(set.first().copied().unwrap_or(0), width));
    }
    let last = texts.last().copied().unwrap_or("");
    out.push_str(last);
    key.push(Token::Text(last.to_owned()));
    (key, out)
}

/// `1,2,3,5` -> `1-3,5` (sorted, deduplicated input).
fn runs(values: &[u64], width: usize) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let start = values[i];
        let mut end = start;
        while i + 1 < values.len() && values[i + 1] == end + 1 {
            end += 1;
            i += 1;
        }
        parts.push(if start == end {
            format!("{start:0width$}")
        } else {
            format!("{start:0width$}-{end:0width$}")
        });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn names(pattern: &str) -> Vec<String> {
        expand(pattern).unwrap()
    }

    fn set<S: AsRef<str>>(items: &[S]) -> BTreeSet<String> {
        items.iter().map(|s| s.as_ref().to_owned()).collect()
    }

    #[test]
    fn expands_simple_padded_and_lists() {
        assert_eq!(names("cp[1-3]"), ["cp1", "cp2", "cp3"]);
        assert_eq!(names("node[001-003]"), ["node001", "node002", "node003"]);
        assert_eq!(names("n[1,3,5-7]"), ["n1", "n3", "n5", "n6", "n7"]);
        assert_eq!(names("n[08-10]"), ["n08", "n09", "n10"]);
        assert_eq!(names("bastion"), ["bastion"]);
        assert_eq!(names("a[1-2],b"), ["a1", "a2", "b"]);
        assert_eq!(names("[1-2]x"), ["1x", "2x"]);
    }

    #[test]
    fn cartesian_product_last_group_fastest() {
        assert_eq!(
            names("r[1-2]n[01-02]"),
            ["r1n01", "r1n02", "r2n01", "r2n02"]
        );
        let addresses = names("10.0.[1-4].[1-50]");
        assert_eq!(addresses.len(), 200);
        assert_eq!(addresses[0], "10.0.1.1");
        assert_eq!(addresses[1], "10.0.1.2");
        assert_eq!(addresses[50], "10.0.2.1");
        assert_eq!(addresses[199], "10.0.4.50");
    }

    #[test]
    fn hostile_inputs_are_errors_with_columns() {
        let cases = [
            ("", 1, "empty host set"),
            ("node[]", 6, "empty brackets"),
            ("node[5-1]", 6, "range 5-1 is reversed"),
            ("node[1-", 8, "expected a number after '-'"),
            ("node[1-2", 9, "expected ']'"),
            ("node]", 5, "unmatched ']'"),
            ("node[a]", 6, "unexpected 'a'"),
            ("node[1,,2]", 8, "unexpected ','"),
            ("node[[1]]", 6, "unexpected '['"),
            ("a,,b", 3, "empty item"),
            ("a,", 3, "trailing ','"),
            ("ñode[é]", 6, "unexpected 'é'"),
            ("n[1234567890123456789]", 3, "too long"),
        ];
        for (pattern, column, message) in cases {
            let err = expand(pattern).unwrap_err();
            assert_eq!(err.column, column, "{pattern}: {err}");
            assert!(err.message.contains(message), "{pattern}: {err}");
        }
    }

    /// Issue #11, point 13: a range padded on one bound only is refused, as `ClusterShell` refuses
    /// it ("padding length mismatch"), and each range error names its own problem.
    #[test]
    fn range_errors_name_the_problem() {
        let cases = [
            (
                "n[1-010]",
                3,
                "padding mismatch in 1-010",
                "[001-010] or [1-10]",
            ),
            (
                "n[01-100]",
                3,
                "padding mismatch in 01-100",
                "[001-100] or [1-100]",
            ),
            (
                "n[2,005-10]",
                5,
                "padding mismatch in 005-10",
                "[005-010] or [5-10]",
            ),
            (
                "n[-5]",
                3,
                "range without a low bound",
                "expected LOW-HIGH like [1-5]",
            ),
            ("n[1,-5]", 5, "range without a low bound", "LOW-HIGH"),
            ("n[1-2-3]", 6, "unexpected '-'", "expected ',' or ']'"),
            ("n[1x]", 4, "unexpected 'x'", "expected '-', ',' or ']'"),
        ];
        for (pattern, column, problem, expected) in cases {
            let err = expand(pattern).unwrap_err();
            assert_eq!(err.column, column, "{pattern}: {err}");
            assert!(err.message.contains(problem), "{pattern}: {err}");
            assert!(err.message.contains(expected), "{pattern}: {err}");
            assert!(Pattern::compile(pattern).is_err(), "{pattern}");
        }
        // Same width on both bounds, or no padding at all, is fine.
        assert_eq!(names("n[001-010]").len(), 10);
        assert_eq!(names("n[00-10]")[0], "n00");
        assert_eq!(names("n[0-10]").len(), 11);
        assert_eq!(names("n[08-10]"), ["n08", "n09", "n10"]);
    }

    #[test]
    fn huge_expansions_fail_before_allocating() {
        let err = expand("n[1-999999999999999999]").unwrap_err();
        assert!(err.message.contains("more than 1000000"), "{err}");
        let err = expand("n[1-1000][1-1000][1-1000]").unwrap_err();
        assert!(err.message.contains("more than"), "{err}");
        assert_eq!(expand("n[1-1000000]").unwrap().len(), 1_000_000);
        assert!(expand("n[1-1000000],m").is_err());
    }

    #[test]
    fn unicode_is_literal_text() {
        assert_eq!(names("nœud[1-2]"), ["nœud1", "nœud2"]);
    }

    #[test]
    fn folds_like_clustershell() {
        let mut input: Vec<String> = (1..=180).map(|i| format!("node{i:03}")).collect();
        input.push("node183".into());
        assert_eq!(fold(&input), "node[001-180,183]");
        assert_eq!(fold(["node9", "node10"]), "node[9-10]");
        assert_eq!(fold(["bastion", "cp2", "cp1", "cp3"]), "bastion,cp[1-3]");
        assert_eq!(fold(["node001", "node100"]), "node[001,100]");
        assert_eq!(fold(["node1"]), "node1");
        assert_eq!(fold(["node01", "node1"]), "node1,node01");
        assert_eq!(fold(Vec::<String>::new()), "");
        assert_eq!(fold(["a", "a", "b"]), "a,b");
        let addresses: Vec<String> = (1..=50).map(|i| format!("10.0.1.{i}")).collect();
        assert_eq!(fold(&addresses), "10.0.1.[1-50]");
    }

    #[test]
    fn folds_every_number_of_a_name() {
        // Issue #7: two name shapes with two numbers each, and a few more. Folding on the last
        // number only printed all 250 two-number names one by one (`-ib0` and `.dc1` never vary).
        let mut input = names("node[1-200]-ib0,cn[1-50].dc1,cp[1-3],etcd[1-3]");
        assert_eq!(input.len(), 256);
        fastrand::seed(7);
        fastrand::shuffle(&mut input);
        let folded = fold(&input);
        assert_eq!(folded, "cn[1-50].dc1,cp[1-3],etcd[1-3],node[1-200]-ib0");
        assert!(folded.len() <= 50, "{} characters", folded.len());

        let mut racks = names("rack[1-40]-n[01-32]");
        assert_eq!(racks.len(), 1280);
        racks.reverse();
        assert_eq!(fold(&racks), "rack[1-40]-n[01-32]");

        assert_eq!(fold(names("10.0.[1-4].[1-50]")), "10.0.[1-4].[1-50]");
        assert_eq!(fold(names("r[1-3]-c[1-2]-n[1-4]")), "r[1-3]-c[1-2]-n[1-4]");
    }

    #[test]
    fn a_hole_in_one_dimension_is_not_folded_away() {
        assert_eq!(
            fold(["rack1-n01", "rack1-n02", "rack2-n01"]),
            "rack1-n[01-02],rack2-n01"
        );
        // A full rack and a rack missing its last node: two entries, never the full product.
        let mut input = names("rack[1-2]-n[01-32]");
        input.retain(|n| n != "rack2-n32");
        assert_eq!(fold(&input), "rack1-n[01-32],rack2-n[01-31]");
        // Racks with the same nodes fold together even when they are not adjacent.
        assert_eq!(
            fold(names("r1n[1-4],r2n[1-2],r3n[1-4]")),
            "r[1,3]n[1-4],r2n[1-2]"
        );
    }

    #[test]
    fn padding_is_kept_exactly_in_every_dimension() {
        assert_eq!(fold(["n09", "n10"]), "n[09-10]");
        assert_eq!(fold(["n9", "n10"]), "n[9-10]");
        assert_eq!(fold(["n1", "n01"]), "n1,n01");
        assert_eq!(
            fold(["r1-n09", "r1-n10", "r2-n09", "r2-n10"]),
            "r[1-2]-n[09-10]"
        );
        assert_eq!(
            fold(["r1-n9", "r1-n10", "r2-n9", "r2-n10"]),
            "r[1-2]-n[9-10]"
        );
        // Width is per dimension: a padded first number does not pad the second.
        assert_eq!(fold(["r01-n9", "r02-n10"]), "r01-n9,r02-n10");
        assert_eq!(
            fold(["r01-n9", "r01-n10", "r02-n9", "r02-n10"]),
            "r[01-02]-n[9-10]"
        );
        // `n1` and `n01` differ, so they never share a bracket, in any dimension.
        assert_eq!(fold(["r1-n1", "r2-n01"]), "r1-n1,r2-n01");
    }

    #[test]
    fn output_is_sorted_naturally_and_deterministic() {
        assert_eq!(fold(["n10", "n2", "m1"]), "m1,n[2,10]");
        assert_eq!(fold(["r10-a", "r2-b", "r2-a"]), "r[2,10]-a,r2-b");
        let mut input = names("a[1-3]-b[1-3],c,a[5-6]-b[1-2],b[01-12]");
        let expected = fold(&input);
        for seed in 0..20 {
            fastrand::seed(seed);
            fastrand::shuffle(&mut input);
            assert_eq!(fold(&input), expected);
        }
    }

    #[test]
    fn expand_fold_round_trips() {
        let inputs: Vec<Vec<String>> = vec![
            vec!["node9".into(), "node10".into(), "node11".into()],
            vec![
                "node001".into(),
                "node1".into(),
                "node01".into(),
                "node100".into(),
            ],
            vec![
                "a".into(),
                "b".into(),
                "a1".into(),
                "a01".into(),
                "a001".into(),
            ],
            vec![
                "r1n1".into(),
                "r1n2".into(),
                "r2n1".into(),
                "x-1-y".into(),
                "x-3-y".into(),
            ],
            vec![
                "0".into(),
                "00".into(),
                "000".into(),
                "1".into(),
                "10".into(),
            ],
            names("10.0.[1-4].[1-50]"),
            names("node[001-200],cp[1-3],bastion"),
            names("rack[1-2]-n[01-02]"),
            names("rack[1-40]-n[01-32],node[1-200]-ib0,cn[1-50].dc1"),
            names("r[1-3]n[8-12],r[2-5]n[09-11],r7n[1,01,001]x[1-2]"),
            vec!["rack1-n01".into(), "rack1-n02".into(), "rack2-n01".into()],
            vec![
                format!("n{}x1", "1".repeat(20)),
                format!("n{}x2", "1".repeat(20)),
            ],
            (0..300).map(|i| format!("n{i}")).collect(),
            vec!["fd00::1".into(), "fd00::2".into(), "fd00::a".into()],
        ];
        for input in inputs {
            let folded = fold(&input);
            let back = expand(&folded).unwrap_or_else(|e| panic!("{folded}: {e}"));
            assert_eq!(set(&back), set(&input), "{folded}");
            assert_eq!(back.len(), set(&input).len(), "{folded} has duplicates");
        }
    }

    #[test]
    fn patterns_match_without_expanding() {
        let p = Pattern::compile("node[001-050]").unwrap();
        assert!(p.matches("node001") && p.matches("node050"));
        assert!(!p.matches("node1") && !p.matches("node051") && !p.matches("node0010"));
        let p = Pattern::compile("node1*").unwrap();
        assert!(p.matches("node1") && p.matches("node150") && !p.matches("node2"));
        let p = Pattern::compile("cp?").unwrap();
        assert!(p.matches("cp1") && !p.matches("cp10") && !p.matches("cp"));
        let p = Pattern::compile("10.0.1.[1-20]").unwrap();
        assert!(p.matches("10.0.1.7") && p.matches("10.0.1.20") && !p.matches("10.0.1.21"));
        let p = Pattern::compile("n[1-100]*x").unwrap();
        assert!(p.matches("n10x") && p.matches("n1000x") && p.matches("n5-ax"));
        let p = Pattern::compile("n[1-900000000]").unwrap();
        assert!(p.matches("n899999999") && !p.matches("n900000001"));
        let p = Pattern::compile("*").unwrap();
        assert!(p.matches("") && p.matches("anything"));
        let p = Pattern::compile("é?").unwrap();
        assert!(p.matches("éü") && !p.matches("é"));
        assert!(Pattern::compile("node1").unwrap().is_literal());
        assert!(!Pattern::compile("node[1]").unwrap().is_literal());
        assert!(Pattern::compile("node[").is_err());
    }
}
