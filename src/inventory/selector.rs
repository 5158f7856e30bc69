//! Selectors: which hosts a command or runbook step targets.
//!
//! ```text
//! SELECTOR      = SET [ " except " SET ]...      hosts of the left minus hosts of the right
//! SET           = ITEM [ "," ITEM ]...           commas inside [...] and (...) do not split
//! ITEM          = "all" | "*"                    every host
//!               | "@" GROUP                      the hosts of a [groups] selector
//!               | HOST-PATTERN                   name or address; ranges and globs
//!               | LABEL-REQUIREMENT
//! HOST-PATTERN  = node[001-050]  node1*  cp?  10.0.1.[1-20]  10.0.0.7  bastion
//! LABEL-REQUIREMENT (Kubernetes label-selector syntax)
//!               = key=value | key==value        the label is set to value
//!               | key!=value                    not set to value (hosts without it match)
//!               | key in (a,b)                  set to one of the values
//!               | key notin (a,b)               not set to any of them (hosts without it match)
//!               | key                           the label exists
//!               | !key                          the label is absent
//! ```
//!
//! Within a SET, host patterns and groups are joined with OR (a union), then the union is filtered
//! by the label requirements joined with AND. A SET with no host pattern starts from all hosts.
//! Examples:
//! `role=worker,zone in (a,b)`, `node[001-050],cp* except node013`, `@workers,!drained`,
//! `all except cluster=prod-east`.
//!
//! A bare word such as `bastion` could be a host name or a label key (`key` means "the label
//! exists"). It is a host pattern when a host has that name; otherwise, when some host has a
//! label with that key, it is a label requirement; otherwise it is an error. Words with `/`
//! (`node-role.kubernetes.io/control-plane`) are always label keys, and IP addresses are always
//! host patterns.
//!
//! Globs match host names only, or addresses only when the pattern is an address pattern (its
//! text outside ranges and globs is digits and dots with at least one dot, or hex digits and
//! colons with at least one colon: `10.0.1.*`, `fd00::*`): `*01` never picks a host because its
//! address ends in `01`. A word with a character no host name or address can contain (`>`, `&`,
//! non-ASCII, ...) is a syntax error, never a pattern that matches nothing.
//!
//! Selectors pick exactly what was written (issue #11): [`Inventory::select`] refuses a selector
//! with a term that makes no difference, naming the term. A host pattern, group, word or
//! positive label requirement (`key=value`, `key in (...)`, `key`) must match at least one host
//! of the inventory; a negative one (`!key`, `key!=value`, `key notin (...)`) must leave at
//! least one host out; and each `except` set must match at least one host. So a typo never
//! turns `role=worker except nodee13` into every worker. This is stricter than Kubernetes, where
//! such a selector silently selects more. `!NAME` where NAME is a host and no label key is
//! refused with the hint `all except NAME`.
//!
//! [`Inventory::select`] returns what matches, in inventory order without duplicates; the caller
//! decides whether an empty result (a set whose terms each match, but not together) is an error.
//!
//! Selection is linear in the number of hosts: exact names and addresses are hash lookups (IPs are
//! compared as addresses, so `FD00::1` finds `fd00::1`), and patterns are compiled when the
//! selector is parsed and matched without expanding their ranges.

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::str::FromStr;

use super::checks::{check_label_key, check_label_value};
use super::hostset::Pattern;
use super::{Host, Inventory};

/// A parsed selector. See the module documentation for the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    include: Vec<Item>,
    /// Each `except SET`; the result is `include` minus the union of these.
    except: Vec<Vec<Item>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    All,
    Group(String),
    Pattern(Pattern),
    /// A host name or a label key, decided against the inventory (see the module docs).
    Word(String),
    Label(Requirement),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    Absent(String),
}

impl Requirement {
    /// `!key`, `key!=value` and `key notin (...)`: they match hosts without the label.
    fn is_negative(&self) -> bool {
        matches!(
            self,
            Requirement::NotEquals(..) | Requirement::NotIn(..) | Requirement::Absent(_)
        )
    }

    fn key(&self) -> &str {
        match self {
            Requirement::Equals(k, _)
            | Requirement::NotEquals(k, _)
            | Requirement::In(k, _)
            | Requirement::NotIn(k, _)
            | Requirement::Exists(k)
            | Requirement::Absent(k) => k,
        }
    }

    fn matches(&self, host: &Host) -> bool {
        let get = |key: &str| host.labels.get(key).map(String::as_str);
        match self {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::Absent(k) => get(k).is_none(),
        }
    }
}

/// A selector that cannot be parsed or evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// `column` counts characters from 1; the end of the selector is its length + 1. `problem`
    /// is empty when what was expected says it all.
    #[error("selector {selector:?}: column {column}: {}expected {expected}", problem_prefix(.problem))]
    Syntax {
        selector: String,
        column: usize,
        problem: String,
        expected: String,
    },
    /// A host pattern, group, word or positive label requirement that matches no host.
    #[error("{term:?} matches no host{detail}; expected {expected}")]
    NoMatch {
        term: String,
        /// Why, when there is more to say (`, no host's name and no label key`).
        detail: String,
        expected: String,
    },
    /// A negative label requirement that leaves no host out, an `except` set that removes
    /// nothing, or `!NAME` for a host.
    #[error("{term:?} {problem}; expected {expected}")]
    Term {
        term: String,
        problem: String,
        expected: String,
    },
    #[error("unknown group @{name}; expected {}", known_groups(.known))]
    UnknownGroup { name: String, known: Vec<String> },
    #[error("group @{name} includes itself ({}); expected groups without cycles", .chain.join(" -> "))]
    GroupCycle { name: String, chain: Vec<String> },
    #[error("group @{name}: {source}")]
    InvalidGroup {
        name: String,
        source: Box<SelectorError>,
    },
}

fn problem_prefix(problem: &str) -> String {
    if problem.is_empty() {
        String::new()
    } else {
        format!("{problem}; ")
    }
}

/// What to do about a term that matches nothing.
const LIST_HOSTS: &str =
    "a term that matches a host (`breakglass inventory show` lists hosts and labels)";

fn known_groups(known: &[String]) -> String {
    if known.is_empty() {
        "a group defined under [groups] (none are)".to_owned()
    } else {
        let names: Vec<String> = known.iter().map(|k| format!("@{k}")).collect();
        format!("one of: {}", names.join(", "))
    }
}

/// Group names: what may follow `@`.
pub(super) fn is_group_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        Parser {
            text,
            chars: text.chars().collect(),
            pos: 0,
        }
        .selector()
    }

    /// Selects every host.
    pub fn all() -> Selector {
        Selector {
            include: vec![Item::All],
            except: Vec::new(),
        }
    }
}

impl FromStr for Selector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_set(f, &self.include)?;
        for set in &self.except {
            f.write_str(" except ")?;
            write_set(f, set)?;
        }
        Ok(())
    }
}

fn write_set(f: &mut fmt::Formatter<'_>, items: &[Item]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// One SET as text, for error messages.
struct SetText<'a>(&'a [Item]);

impl fmt::Display for SetText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_set(f, self.0)
    }
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::All => f.write_str("all"),
            Item::Group(g) => write!(f, "@{g}"),
            Item::Pattern(p) => write!(f, "{p}"),
            Item::Word(w) => f.write_str(w),
            Item::Label(r) => write!(f, "{r}"),
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Equals(k, v) => write!(f, "{k}={v}"),
            Requirement::NotEquals(k, v) => write!(f, "{k}!={v}"),
            Requirement::In(k, vs) => write!(f, "{k} in ({})", vs.join(",")),
            Requirement::NotIn(k, vs) => write!(f, "{k} notin ({})", vs.join(",")),
            Requirement::Exists(k) => f.write_str(k),
            Requirement::Absent(k) => write!(f, "!{k}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing: a hand-written recursive descent over characters, so errors know their column.

struct Parser<'a> {
    text: &'a str,
    chars: Vec<char>,
    pos: usize,
}

impl Parser<'_> {
    fn fail<T>(&self, at: usize, expected: impl Into<String>) -> Result<T, SelectorError> {
        self.fail_because(at, String::new(), expected)
    }

    fn fail_because<T>(
        &self,
        at: usize,
        problem: String,
        expected: impl Into<String>,
    ) -> Result<T, SelectorError> {
        Err(SelectorError::Syntax {
            selector: self.text.to_owned(),
            column: at + 1,
            problem,
            expected: expected.into(),
        })
    }

    /// A host pattern, or the syntax error of the host-set notation at its column in the
    /// selector (`padding mismatch in 1-010; expected ...`).
    fn pattern(&self, word: &str, start: usize) -> Result<Item, SelectorError> {
        self.check_host_chars(word, start)?;
        Pattern::compile(word).map(Item::Pattern).or_else(|e| {
            let (problem, expected) = match e.message.split_once("; expected ") {
                Some((problem, expected)) => (problem.to_owned(), expected.to_owned()),
                None => match e.message.strip_prefix("expected ") {
                    Some(expected) => (String::new(), expected.to_owned()),
                    None => (
                        e.message.clone(),
                        "a host pattern like node[1-3]".to_owned(),
                    ),
                },
            };
            self.fail_because(start + e.column - 1, problem, expected)
        })
    }

    /// Host names are ASCII letters, digits, `-`, `_` and `.`; addresses add `:`; patterns add
    /// `*`, `?` and brackets (whose inside the host-set parser checks). Anything else can match
    /// no host, so it is a mistake, not a pattern that silently matches nothing.
    fn check_host_chars(&self, word: &str, start: usize) -> Result<(), SelectorError> {
        let mut depth = 0usize;
        for (i, c) in word.chars().enumerate() {
            match c {
                '[' => depth += 1,
                ']' => depth = depth.saturating_sub(1),
                _ if depth > 0 => {}
                c if c.is_ascii_alphanumeric()
                    || matches!(c, '-' | '_' | '.' | ':' | '*' | '?') => {}
                c => {
                    return self.fail_because(
                        start + i,
                        format!("unexpected {c:?}, which no host name or address contains"),
                        "a host name, address or pattern (letters, digits, '-', '_', '.', ':', ranges like [1-3], globs * and ?) or a label requirement",
                    );
                }
            }
        }
        Ok(())
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// Whether the keyword `word` starts at `at` and is followed by whitespace, `(` or the end.
    fn keyword_at(&self, at: usize, word: &str) -> bool {
        let n = word.chars().count();
        self.chars.len() >= at + n
            && self.chars[at..at + n].iter().copied().eq(word.chars())
            && self
                .chars
                .get(at + n)
                .is_none_or(|c| c.is_whitespace() || *c == '(')
    }

    fn selector(mut self) -> Result<Selector, SelectorError> {
        let include = self.set()?;
        let mut except = Vec::new();
        // `set` stops at the end or just before ` except `.
        while self.pos < self.chars.len() {
            self.pos += "except".len();
            if !self.skip_ws() {
                return self.fail(self.pos, "a selector after 'except'");
            }
            except.push(self.set()?);
        }
        Ok(Selector { include, except })
    }

    fn set(&mut self) -> Result<Vec<Item>, SelectorError> {
        let mut items = Vec::new();
        loop {
            items.push(self.item()?);
            let before_ws = self.pos;
            let had_ws = self.skip_ws();
            match self.peek() {
                None => return Ok(items),
                Some(',') => self.pos += 1,
                Some(_) if had_ws && self.keyword_at(self.pos, "except") => {
                    if self.chars.get(self.pos + "except".len()) == Some(&'(') {
                        return self.fail(self.pos + "except".len(), "a space after 'except'");
                    }
                    return Ok(items);
                }
                Some(_) => {
                    let at = if had_ws { self.pos } else { before_ws };
                    return self.fail(at, "',' or ' except ' or the end of the selector");
                }
            }
        }
    }

    fn item(&mut self) -> Result<Item, SelectorError> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            None | Some(',') => {
                return self.fail(self.pos, "a host pattern, @group or label requirement");
            }
            Some('!') => {
                self.pos += 1;
                let key = self.word();
                self.check_key(&key, start + 1)?;
                return Ok(Item::Label(Requirement::Absent(key)));
            }
            Some('@') => {
                self.pos += 1;
                let name = self.word();
                if !is_group_name(&name) {
                    return self.fail(start + 1, "a group name after '@'");
                }
                return Ok(Item::Group(name));
            }
            Some(_) => {}
        }
        if self.keyword_at(start, "except") {
            return self.fail(start, "a selector before 'except'");
        }
        let word = self.word();
        if word.is_empty() {
            return self.fail(start, "a host pattern, @group or label requirement");
        }
        let after_word = self.pos;
        self.skip_ws();
        match self.peek() {
            Some('=') => {
                self.pos += 1;
                if self.peek() == Some('=') {
                    self.pos += 1;
                }
                self.check_key(&word, start)?;
                let value = self.value()?;
                return Ok(Item::Label(Requirement::Equals(word, value)));
            }
            Some('!') if self.chars.get(self.pos + 1) == Some(&'=') => {
                self.pos += 2;
                self.check_key(&word, start)?;
                let value = self.value()?;
                return Ok(Item::Label(Requirement::NotEquals(word, value)));
            }
            Some(_) if self.pos > after_word && self.keyword_at(self.pos, "in") => {
                self.pos += 2;
                self.check_key(&word, start)?;
                return Ok(Item::Label(Requirement::In(word, self.values()?)));
            }
            Some(_) if self.pos > after_word && self.keyword_at(self.pos, "notin") => {
                self.pos += 5;
                self.check_key(&word, start)?;
                return Ok(Item::Label(Requirement::NotIn(word, self.values()?)));
            }
            _ => self.pos = after_word,
        }
        self.classify(word, start)
    }

    /// A run of text up to whitespace, `,`, `=`, `!`, `(` or `)`; brackets are kept whole, so
    /// `node[1,3]` is one word.
    fn word(&mut self) -> String {
        let mut out = String::new();
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            if depth == 0 && (c.is_whitespace() || matches!(c, ',' | '=' | '!' | '(' | ')')) {
                break;
            }
            match c {
                '[' => depth += 1,
                ']' => depth = depth.saturating_sub(1),
                _ => {}
            }
            out.push(c);
            self.pos += 1;
        }
        out
    }

    fn check_key(&self, key: &str, at: usize) -> Result<(), SelectorError> {
        if key.is_empty() {
            return self.fail(at, "a label key");
        }
        check_label_key(key).or_else(|_| {
            self.fail(
                at,
                "a label key like role or example.com/role (letters, digits, '-', '_', '.')",
            )
        })
    }

    /// A label value after `=` or `!=`; may be empty, as in Kubernetes.
    fn value(&mut self) -> Result<String, SelectorError> {
        self.skip_ws();
        let start = self.pos;
        let value = self.value_text();
        if check_label_value(&value).is_err() {
            return self.fail(start, "a label value (letters, digits, '-', '_', '.')");
        }
        Ok(value)
    }

    fn value_text(&mut self) -> String {
        let mut out = String::new();
        while let Some(c) = self
            .peek()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            out.push(c);
            self.pos += 1;
        }
        out
    }

    /// `(a, b, c)` after `in` / `notin`.
    fn values(&mut self) -> Result<Vec<String>, SelectorError> {
        self.skip_ws();
        if self.peek() != Some('(') {
            return self.fail(self.pos, "'('");
        }
        self.pos += 1;
        let mut values = Vec::new();
        loop {
            self.skip_ws();
            let start = self.pos;
            let value = self.value_text();
            if value.is_empty() || check_label_value(&value).is_err() {
                return match self.peek() {
                    None => self.fail(self.pos, "a value and ')'"),
                    Some(_) => self.fail(start, "a label value"),
                };
            }
            values.push(value);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => {
                    self.pos += 1;
                    return Ok(values);
                }
                None => return self.fail(self.pos, "')'"),
                Some(_) => return self.fail(self.pos, "',' or ')'"),
            }
        }
    }

    fn classify(&self, word: String, start: usize) -> Result<Item, SelectorError> {
        if word == "all" || word == "*" {
            return Ok(Item::All);
        }
        if word.contains(['[', ']', '*', '?']) || word.parse::<IpAddr>().is_ok() {
            return self.pattern(&word, start);
        }
        if word.contains('/') {
            self.check_key(&word, start)?;
            return Ok(Item::Label(Requirement::Exists(word)));
        }
        if check_label_key(&word).is_ok() {
            return Ok(Item::Word(word));
        }
        // Anything else (an IPv6 fragment, a name ending in '-') can only be a host pattern.
        self.pattern(&word, start)
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation.

/// State of one `select` call: groups already evaluated (and the stack of groups being
/// evaluated, to report cycles).
struct Eval<'a> {
    inventory: &'a Inventory,
    groups: HashMap<String, Vec<bool>>,
    stack: Vec<String>,
}

impl Inventory {
    /// The hosts `selector` picks, in inventory order, without duplicates. An empty result is
    /// not an error here; a term that makes no difference (see the module docs) and an unknown
    /// or cyclic `@group` are.
    pub fn select(&self, selector: &Selector) -> Result<Vec<&Host>, SelectorError> {
        let mut eval = Eval {
            inventory: self,
            groups: HashMap::new(),
            stack: Vec::new(),
        };
        let mask = eval.selector(selector)?;
        Ok(self
            .hosts
            .iter()
            .zip(mask)
            .filter_map(|(h, keep)| keep.then_some(h))
            .collect())
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }
}

impl Eval<'_> {
    fn selector(&mut self, selector: &Selector) -> Result<Vec<bool>, SelectorError> {
        let mut mask = self.set(&selector.include)?;
        for set in &selector.except {
            let minus = self.set(set)?;
            // Each term of the set matches, but not together (`except cluster=west,node10`
            // with node10 in the east): the except removes nothing, which is not what was written.
            if !minus.contains(&true) {
                return Err(SelectorError::Term {
                    term: format!("except {}", SetText(set)),
                    problem: "matches no host, so it removes nothing".to_owned(),
                    expected: "terms that match together (`except A except B` removes either)"
                        .to_owned(),
                });
            }
            for (keep, drop) in mask.iter_mut().zip(minus) {
                *keep &= !drop;
            }
        }
        Ok(mask)
    }

    /// One SET: the union of its host items, filtered by its label requirements. Each step is
    /// one pass over the hosts with hash lookups, whatever the number of items. Each item is
    /// also checked to make a difference on its own ([`Eval::check_terms`]).
    fn set(&mut self, items: &[Item]) -> Result<Vec<bool>, SelectorError> {
        let hosts = &self.inventory.hosts;
        let mut mask = vec![false; hosts.len()];
        // Whether item i matched (or, for a negative requirement, left out) some host.
        let mut hit = vec![false; items.len()];
        let mut has_hosts = false;
        let mut names: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut addresses: HashMap<IpAddr, Vec<usize>> = HashMap::new();
        let mut patterns: Vec<(usize, &Pattern, bool)> = Vec::new();
        let mut requirements: Vec<(usize, Requirement)> = Vec::new();
        let mut words: Vec<(usize, &str)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item {
                Item::All => {
                    has_hosts = true;
                    hit[i] = !hosts.is_empty();
                    mask.fill(true);
                }
                Item::Group(name) => {
                    has_hosts = true;
                    let group = self.group(name)?;
                    hit[i] = group.contains(&true);
                    for (m, g) in mask.iter_mut().zip(group) {
                        *m |= g;
                    }
                }
                Item::Pattern(p) => {
                    has_hosts = true;
                    if !p.is_literal() {
                        patterns.push((i, p, is_address_pattern(p)));
                    } else if let Ok(ip) = p.as_str().parse::<IpAddr>() {
                        // Compared as addresses, so `FD00::1` finds `fd00::1`.
                        addresses.entry(ip).or_default().push(i);
                    } else {
                        names.entry(p.as_str()).or_default().push(i);
                    }
                }
                Item::Word(w) => words.push((i, w)),
                Item::Label(r) => requirements.push((i, r.clone())),
            }
        }
        if !words.is_empty() {
            // A word is a host name if a host has it, else a label key if a host has that key,
            // else an error (see the module docs).
            let host_names: HashSet<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
            let label_keys: HashSet<&str> = hosts
                .iter()
                .flat_map(|h| h.labels.keys())
                .map(String::as_str)
                .collect();
            for (i, w) in words {
                if host_names.contains(w) {
                    has_hosts = true;
                    names.entry(w).or_default().push(i);
                } else if label_keys.contains(w) {
                    requirements.push((i, Requirement::Exists(w.to_owned())));
                } else {
                    return Err(SelectorError::NoMatch {
                        term: w.to_owned(),
                        detail: " (it is no host's name and no label key)".to_owned(),
                        expected: LIST_HOSTS.to_owned(),
                    });
                }
            }
        }
        if !names.is_empty() || !addresses.is_empty() || !patterns.is_empty() {
            let any_address_pattern = patterns.iter().any(|&(_, _, a)| a);
            let mut address = String::new();
            for (m, host) in mask.iter_mut().zip(hosts) {
                for &i in names.get(host.name.as_str()).into_iter().flatten() {
                    hit[i] = true;
                    *m = true;
                }
                for &i in addresses.get(&host.address).into_iter().flatten() {
                    hit[i] = true;
                    *m = true;
                }
                if any_address_pattern {
                    address.clear();
                    // Writing to a String cannot fail.
                    let _ = write!(address, "{}", host.address);
                }
                for &(i, p, is_address) in &patterns {
                    // Once this host is in and the pattern has matched, nothing is left to learn.
                    if *m && hit[i] {
                        continue;
                    }
                    let text = if is_address { &address } else { &host.name };
                    if p.matches(text) {
                        hit[i] = true;
                        *m = true;
                    }
                }
            }
        }
        for (i, r) in &requirements {
            // Over the whole inventory, not this set: `node1,role=worker` with node1 a
            // control-plane host is an empty set, which the caller reports; `role=wroker` is a typo.
            hit[*i] = if r.is_negative() {
                hosts.iter().any(|h| !r.matches(h))
            } else {
                hosts.iter().any(|h| r.matches(h))
            };
        }
        self.check_terms(items, &hit)?;
        if !has_hosts {
            mask.fill(true);
        }
        if !requirements.is_empty() {
            for (m, host) in mask.iter_mut().zip(hosts) {
                *m = *m && requirements.iter().all(|(_, r)| r.matches(host));
            }
        }
        Ok(mask)
    }

    /// The first item (in the order written) that made no difference, as an error that names it.
    fn check_terms(&self, items: &[Item], hit: &[bool]) -> Result<(), SelectorError> {
        let Some(item) = items
            .iter()
            .zip(hit)
            .find_map(|(item, &h)| (!h).then_some(item))
        else {
            return Ok(());
        };
        let term = item.to_string();
        let hosts = &self.inventory.hosts;
        Err(match item {
            Item::Label(Requirement::Absent(key)) if hosts.iter().any(|h| h.name == *key) => {
                SelectorError::Term {
                    problem: format!(
                        "leaves out hosts with the label key {key}, and {key} is a host, not a label key"
                    ),
                    expected: format!(
                        "`all except {key}` (or `... except {key}`) to leave the host out"
                    ),
                    term,
                }
            }
            Item::Label(r) if r.is_negative() => {
                let key = r.key();
                let problem = if hosts.iter().any(|h| h.labels.contains_key(key)) {
                    "leaves no host out".to_owned()
                } else {
                    format!("leaves no host out: no host has the label key {key}")
                };
                SelectorError::Term {
                    term,
                    problem,
                    expected: "a label key and values of the inventory (`breakglass inventory show` lists labels)"
                        .to_owned(),
                }
            }
            Item::Pattern(p) if !p.is_literal() && is_address_pattern(p) => {
                SelectorError::NoMatch {
                    term,
                    detail: " (an address pattern: it is matched against addresses only)"
                        .to_owned(),
                    expected: LIST_HOSTS.to_owned(),
                }
            }
            Item::Pattern(p) if !p.is_literal() => SelectorError::NoMatch {
                term,
                detail: " (a name pattern: it is matched against host names only)".to_owned(),
                expected: LIST_HOSTS.to_owned(),
            },
            _ => SelectorError::NoMatch {
                term,
                detail: String::new(),
                expected: LIST_HOSTS.to_owned(),
            },
        })
    }

    fn group(&mut self, name: &str) -> Result<Vec<bool>, SelectorError> {
        if let Some(mask) = self.groups.get(name) {
            return Ok(mask.clone());
        }
        if self.stack.iter().any(|g| g == name) {
            let mut chain: Vec<String> = self.stack.iter().map(|g| format!("@{g}")).collect();
            chain.push(format!("@{name}"));
            return Err(SelectorError::GroupCycle {
                name: name.to_owned(),
                chain,
            });
        }
        let Some(text) = self.inventory.groups.get(name) else {
            return Err(SelectorError::UnknownGroup {
                name: name.to_owned(),
                known: self.inventory.groups.keys().cloned().collect(),
            });
        };
        let invalid = |e: SelectorError| SelectorError::InvalidGroup {
            name: name.to_owned(),
            source: Box::new(e),
        };
        let selector = Selector::parse(text).map_err(invalid)?;
        self.stack.push(name.to_owned());
        let mask = self.selector(&selector).map_err(|e| match e {
            // A term of the group's own definition: say which group it is in.
            SelectorError::NoMatch { .. } | SelectorError::Term { .. } => invalid(e),
            other => other,
        })?;
        self.stack.pop();
        self.groups.insert(name.to_owned(), mask.clone());
        Ok(mask)
    }
}

/// An address pattern: its text outside ranges and globs is digits and dots with at least one
/// dot (`10.0.1.*`), or hex digits, dots and colons with at least one colon (`fd00::*`). Host
/// names never contain `:`, and a name of only digits and dots is not worth a guess.
fn is_address_pattern(pattern: &Pattern) -> bool {
    let text: String = pattern.literals().collect();
    let v4 = text.contains('.') && text.chars().all(|c| c.is_ascii_digit() || c == '.');
    let v6 = text.contains(':')
        && text
            .chars()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.'));
    v4 || v6
}
