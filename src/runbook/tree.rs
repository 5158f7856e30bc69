//! The runbook's TOML as a tree in which every key and value keeps its line and column.
//!
//! serde stops at the first error and forgets positions, so the loader does not deserialize
//! the runbook into its types directly: it reads this tree (with the spans `toml::Spanned` uses) and walks it,
//! reporting every problem at the key or value it belongs to. Only a TOML syntax error stops
//! the load early, since nothing after it can be trusted.

use std::fmt;
use std::ops::Range;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::diagnostic::Pos;

/// A value with the position of its first character.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Array(Vec<Node>),
    Table(Vec<Entry>),
}

/// A table entry: the key's own position (for "unknown key") and the value's.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub node: Node,
}

impl Value {
    /// The TOML name of the value's type, for "must be a string, not an integer".
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Self::String(_) => "a string",
            Self::Integer(_) => "an integer",
            Self::Float(_) => "a float",
            Self::Boolean(_) => "a boolean",
            Self::Array(_) => "an array",
            Self::Table(_) => "a table",
        }
    }
}

impl Node {
    /// The same value without positions, for serde.
    pub(crate) fn to_toml(&self) -> toml::Value {
        match &self.value {
            Value::String(s) => toml::Value::String(s.clone()),
            Value::Integer(i) => toml::Value::Integer(*i),
            Value::Float(f) => toml::Value::Float(*f),
            Value::Boolean(b) => toml::Value::Boolean(*b),
            Value::Array(items) => toml::Value::Array(items.iter().map(Self::to_toml).collect()),
            Value::Table(entries) => toml::Value::Table(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.node.to_toml()))
                    .collect(),
            ),
        }
    }
}

/// Parse a TOML document into its top-level entries, or the position and message of the
/// syntax error.
pub(crate) fn parse(text: &str) -> Result<Vec<Entry>, (Pos, String)> {
    let lines = Lines::new(text);
    match toml::from_str::<Raw>(text) {
        Ok(Raw::Table(entries)) => Ok(lines.entries(entries, Pos::START)),
        Ok(_) => Err((Pos::START, "a runbook is a TOML table".to_owned())),
        Err(e) => {
            let pos = e.span().map_or(Pos::START, |s| lines.pos(s.start));
            let message = e.message().trim_end();
            let message = if message.contains(DATETIME) {
                "dates and times are not used in runbooks; quote the value if it is text".to_owned()
            } else {
                format!("invalid TOML: {message}")
            };
            Err((pos, message))
        }
    }
}

/// Byte offsets to 1-based line and column (in characters), by binary search over line starts.
struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { text, starts }
    }

    fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self
            .starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(1, |s| s.chars().count() + 1);
        Pos { line, column }
    }

    fn span_pos(&self, span: Option<&Range<usize>>, fallback: Pos) -> Pos {
        span.map_or(fallback, |s| self.pos(s.start))
    }

    /// `fallback` positions what TOML gives no span for (a table only implied by a dotted
    /// header such as `[params.cluster]`): the nearest enclosing key.
    fn node(&self, located: Located, fallback: Pos) -> Node {
        let pos = self.span_pos(located.span.as_ref(), fallback);
        let value = match located.raw {
            Raw::String(s) => Value::String(s),
            Raw::Integer(i) => Value::Integer(i),
            Raw::Float(f) => Value::Float(f),
            Raw::Boolean(b) => Value::Boolean(b),
            Raw::Array(items) => {
                Value::Array(items.into_iter().map(|i| self.node(i, pos)).collect())
            }
            Raw::Table(entries) => Value::Table(self.entries(entries, pos)),
        };
        Node { pos, value }
    }

    fn entries(&self, entries: Vec<(Key, Located)>, fallback: Pos) -> Vec<Entry> {
        entries
            .into_iter()
            .map(|(key, value)| {
                let value_pos = self.span_pos(value.span.as_ref(), fallback);
                let key_pos = self.span_pos(key.span.as_ref(), value_pos);
                Entry {
                    key: key.name,
                    key_pos,
                    node: self.node(value, key_pos),
                }
            })
            .collect()
    }
}

// `toml::Spanned` refuses keys and tables that TOML has no span for (those implied by a dotted
// header), so the tree reads spans itself, through the same private protocol `Spanned` uses
// (serde_spanned's `__unstable` names): a span when there is one, the plain value when not.
const SPANNED: &str = "$__serde_spanned_private_Spanned";
const SPAN_START: &str = "$__serde_spanned_private_start";
const SPAN_END: &str = "$__serde_spanned_private_end";
const SPAN_VALUE: &str = "$__serde_spanned_private_value";
const SPANNED_FIELDS: &[&str] = &[SPAN_START, SPAN_END, SPAN_VALUE];
/// The one key of the map the TOML deserializer presents a date as.
const DATETIME: &str = "$__toml_private_datetime";

/// What the TOML deserializer gives us: values, with byte spans where it has them.
enum Raw {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Array(Vec<Located>),
    Table(Vec<(Key, Located)>),
}

struct Located {
    span: Option<Range<usize>>,
    raw: Raw,
}

struct Key {
    name: String,
    span: Option<Range<usize>>,
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

impl<'de> Deserialize<'de> for Located {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct(SPANNED, SPANNED_FIELDS, LocatedVisitor)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct(SPANNED, SPANNED_FIELDS, KeyVisitor)
    }
}

/// Reads the rest of a span wrapper after its start key: start, end, then the value.
fn read_span<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
) -> Result<(Range<usize>, T), A::Error> {
    let start: usize = map.next_value()?;
    let end_key: Option<String> = map.next_key()?;
    let end: usize = map.next_value()?;
    let value_key: Option<String> = map.next_key()?;
    if end_key.as_deref() != Some(SPAN_END) || value_key.as_deref() != Some(SPAN_VALUE) {
        return Err(de::Error::custom(
            "unexpected span layout from the TOML parser",
        ));
    }
    let value: T = map.next_value()?;
    Ok((start..end, value))
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key {
            name: v.to_owned(),
            span: None,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        match map.next_key::<String>()?.as_deref() {
            Some(SPAN_START) => {
                let (span, name) = read_span::<A, String>(&mut map)?;
                Ok(Key {
                    name,
                    span: Some(span),
                })
            }
            _ => Err(de::Error::custom(
                "unexpected key layout from the TOML parser",
            )),
        }
    }
}

struct LocatedVisitor;

impl LocatedVisitor {
    fn plain<E>(raw: Result<Raw, E>) -> Result<Located, E> {
        raw.map(|raw| Located { span: None, raw })
    }
}

impl<'de> Visitor<'de> for LocatedVisitor {
    type Value = Located;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Located, E> {
        Self::plain(RawVisitor.visit_bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Located, E> {
        Self::plain(RawVisitor.visit_i64(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Located, E> {
        Self::plain(RawVisitor.visit_u64(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Located, E> {
        Self::plain(RawVisitor.visit_f64(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Located, E> {
        Self::plain(RawVisitor.visit_str(v))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Located, E> {
        Self::plain(RawVisitor.visit_string(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Located, A::Error> {
        Self::plain(RawVisitor.visit_seq(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Located, A::Error> {
        let Some(first) = map.next_key::<Key>()? else {
            return Ok(Located {
                span: None,
                raw: Raw::Table(Vec::new()),
            });
        };
        if first.name == SPAN_START && first.span.is_none() {
            let (span, raw) = read_span::<A, Raw>(&mut map)?;
            return Ok(Located {
                span: Some(span),
                raw,
            });
        }
        // A table TOML has no span for: read it as it is.
        if first.name == DATETIME {
            return Err(de::Error::custom(DATETIME));
        }
        let mut entries = vec![(first, map.next_value::<Located>()?)];
        entries.extend(table_entries(&mut map)?);
        Ok(Located {
            span: None,
            raw: Raw::Table(entries),
        })
    }
}

fn table_entries<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Vec<(Key, Located)>, A::Error> {
    let mut entries = Vec::new();
    while let Some(key) = map.next_key::<Key>()? {
        if key.name == DATETIME {
            // A date's magic key: say what it is (see `parse`).
            return Err(de::Error::custom(DATETIME));
        }
        let value = map.next_value::<Located>()?;
        entries.push((key, value));
    }
    Ok(entries)
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Boolean(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Integer(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        i64::try_from(v)
            .map(Raw::Integer)
            .map_err(|_| E::custom("integer too large"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Located>()? {
            items.push(item);
        }
        Ok(Raw::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        table_entries(&mut map).map(Raw::Table)
    }
}

/// Exposed for tests of positions elsewhere in the module.
#[cfg(test)]
pub(crate) fn pos_of(text: &str, offset: usize) -> Pos {
    Lines::new(text).pos(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Pos {
        Pos { line, column }
    }

    #[test]
    fn keys_and_values_keep_positions() {
        let text = "name = \"x\"\n\n[params.cluster]\ntype = \"string\"\n\n[[steps]]\nid = \"a\"\nwaves = [1, \"50%\"]\n[steps.with]\nports = [6443]\n";
        let entries = parse(text).expect("parses");
        assert_eq!(entries[0].key, "name");
        assert_eq!(entries[0].key_pos, at(1, 1));
        assert_eq!(entries[0].node.pos, at(1, 8));
        let params = &entries[1];
        assert_eq!(params.key, "params");
        let Value::Table(params) = &params.node.value else {
            panic!("table")
        };
        assert_eq!(params[0].key, "cluster");
        assert_eq!(params[0].key_pos, at(3, 9));
        let Value::Table(cluster) = &params[0].node.value else {
            panic!("table")
        };
        assert_eq!(cluster[0].node.pos, at(4, 8));
        let Value::Array(steps) = &entries[2].node.value else {
            panic!("array")
        };
        let Value::Table(step) = &steps[0].value else {
            panic!("table")
        };
        let Value::Array(waves) = &step[1].node.value else {
            panic!("waves")
        };
        assert_eq!(waves[1].pos, at(8, 13));
        assert_eq!(step[2].key, "with");
        assert_eq!(step[2].key_pos, at(9, 8));
        let Value::Table(with) = &step[2].node.value else {
            panic!("with")
        };
        assert_eq!(with[0].key_pos, at(10, 1));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let (pos, message) = parse("name = \"x\"\nsummary = \n").expect_err("bad");
        assert_eq!(pos.line, 2);
        assert!(message.starts_with("invalid TOML"), "{message}");
        let (pos, message) = parse("a = 1\nwhen = 1979-05-27\n").expect_err("date");
        assert_eq!(pos.line, 2);
        assert!(message.starts_with("dates and times"), "{message}");
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(pos_of("é = 1\n", 5), at(1, 5));
        assert_eq!(pos_of("a\nb", 2), at(2, 1));
        assert_eq!(pos_of("a\nb", 99), at(2, 2));
    }
}
