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
//! label with that key, it is a label requirement; otherwise it is a host pattern that matches
//! nothing. Words with `/` (`node-role.kubernetes.io/control-plane`) are always label keys, and
//! IP addresses are always host patterns.
//!
//! Host patterns match a host's name or its address. A pattern that matches nothing is not an
//! error: [`Inventory::select`] returns what matches, in inventory order without duplicates, and
//! the caller decides whether an empty result is an error. Unknown `@groups` are errors.
//!
//! Selection is linear in the number of hosts: exact names and addresses are hash lookups (IPs are
//! compared as addresses, so `FD00::1` finds `fd00::1`), and patterns are compiled when the
//! selector is parsed and matched without expanding their ranges.

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::str::FromStr;

use super::hostset::Pattern;
use super::load::{check_label_key, check_label_value};
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
    /// `column` counts characters from 1; the end of the selector is its length + 1.
    #[error("selector {selector:?}: column {column}: expected {expected}")]
    Syntax {
        selector: String,
        column: usize,
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
        match item {
            Item::All => f.write_str("all")?,
            Item::Group(g) => write!(f, "@{g}")?,
            Item::Pattern(p) => write!(f, "{p}")?,
            Item::Word(w) => f.write_str(w)?,
            Item::Label(r) => write!(f, "{r}")?,
        }
    }
    Ok(())
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
        Err(SelectorError::Syntax {
            selector: self.text.to_owned(),
            column: at + 1,
            expected: expected.into(),
        })
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
            let pattern = Pattern::compile(&word).map_err(|e| SelectorError::Syntax {
                selector: self.text.to_owned(),
                column: start + e.column,
                expected: e
                    .message
                    .split_once("expected ")
                    .map_or(e.message.clone(), |(_, x)| x.to_owned()),
            })?;
            return Ok(Item::Pattern(pattern));
        }
        if word.contains('/') {
            self.check_key(&word, start)?;
            return Ok(Item::Label(Requirement::Exists(word)));
        }
        if check_label_key(&word).is_ok() {
            return Ok(Item::Word(word));
        }
        // Anything else (an IPv6 fragment, odd characters) can only be a host pattern.
        let pattern = Pattern::compile(&word).map_err(|e| SelectorError::Syntax {
            selector: self.text.to_owned(),
            column: start + e.column,
            expected: e.message.clone(),
        })?;
        Ok(Item::Pattern(pattern))
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
    /// not an error here; an unknown or cyclic `@group` is.
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
            for (keep, drop) in mask.iter_mut().zip(minus) {
                *keep &= !drop;
            }
        }
        Ok(mask)
    }

    /// One SET: the union of its host items, filtered by its label requirements. Each step is
    /// one pass over the hosts with hash lookups, whatever the number of items.
    fn set(&mut self, items: &[Item]) -> Result<Vec<bool>, SelectorError> {
        let hosts = &self.inventory.hosts;
        let mut mask = vec![false; hosts.len()];
        let mut has_hosts = false;
        let mut names: HashSet<&str> = HashSet::new();
        let mut addresses: HashSet<IpAddr> = HashSet::new();
        let mut patterns: Vec<&Pattern> = Vec::new();
        let mut requirements: Vec<Requirement> = Vec::new();
        let mut words: HashSet<&str> = HashSet::new();
        for item in items {
            match item {
                Item::All => {
                    has_hosts = true;
                    mask.fill(true);
                }
                Item::Group(name) => {
                    has_hosts = true;
                    let group = self.group(name)?;
                    for (m, g) in mask.iter_mut().zip(group) {
                        *m |= g;
                    }
                }
                Item::Pattern(p) => {
                    has_hosts = true;
                    if !p.is_literal() {
                        patterns.push(p);
                    } else if let Ok(ip) = p.as_str().parse::<IpAddr>() {
                        // Compared as addresses, so `FD00::1` finds `fd00::1`.
                        addresses.insert(ip);
                    } else {
                        names.insert(p.as_str());
                    }
                }
                Item::Word(w) => {
                    words.insert(w);
                }
                Item::Label(r) => requirements.push(r.clone()),
            }
        }
        let hosts = &self.inventory.hosts;
        if !words.is_empty() {
            // A word is a host name if a host has it, else a label key if a host has that key,
            // else a name that matches nothing (see the module docs).
            let host_names: HashSet<&str> = hosts
                .iter()
                .filter_map(|h| words.get(h.name.as_str()).copied())
                .collect();
            let open: HashSet<&str> = words.difference(&host_names).copied().collect();
            let label_keys: HashSet<&str> = if open.is_empty() {
                HashSet::new()
            } else {
                hosts
                    .iter()
                    .flat_map(|h| h.labels.keys())
                    .filter_map(|k| open.get(k.as_str()).copied())
                    .collect()
            };
            for w in words {
                if label_keys.contains(w) {
                    requirements.push(Requirement::Exists(w.to_owned()));
                } else {
                    has_hosts = true;
                    names.insert(w);
                }
            }
        }
        if !names.is_empty() || !addresses.is_empty() || !patterns.is_empty() {
            let mut address = String::new();
            for (m, host) in mask.iter_mut().zip(hosts) {
                if *m {
                    continue;
                }
                *m = names.contains(host.name.as_str())
                    || addresses.contains(&host.address)
                    || (!patterns.is_empty() && {
                        address.clear();
                        // Writing to a String cannot fail.
                        let _ = write!(address, "{}", host.address);
                        patterns
                            .iter()
                            .any(|p| p.matches(&host.name) || p.matches(&address))
                    });
            }
        }
        if !has_hosts {
            mask.fill(true);
        }
        if !requirements.is_empty() {
            for (m, host) in mask.iter_mut().zip(hosts) {
                *m = *m && requirements.iter().all(|r| r.matches(host));
            }
        }
        Ok(mask)
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
        let selector = Selector::parse(text).map_err(|e| SelectorError::InvalidGroup {
            name: name.to_owned(),
            source: Box::new(e),
        })?;
        self.stack.push(name.to_owned());
        let mask = self.selector(&selector)?;
        self.stack.pop();
        self.groups.insert(name.to_owned(), mask.clone());
        Ok(mask)
    }
}
