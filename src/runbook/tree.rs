//! The runbook's TOML as a tree in which every key and value keeps its line and column.
//!
//! serde stops at the first error and forgets positions, so the loader does not deserialize
//! the runbook into its types directly: it reads this tree (through `toml::Spanned`) and walks it,
//! reporting every problem at the key or value it belongs to. Only a TOML syntax error stops
//! the load early, since nothing after it can be trusted.

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

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
        Ok(Raw::Table(entries)) => Ok(entries.into_iter().map(|e| lines.entry(e)).collect()),
        Ok(_) => Err((Pos::START, "a runbook is a TOML table".to_owned())),
        Err(e) => {
            let pos = e.span().map_or(Pos::START, |s| lines.pos(s.start));
            let message = e.message().trim_end();
            // The TOML deserializer hands a date to our tree as a magic one-key map, which our
            // spanned keys refuse; nothing in a runbook is a date, so say that plainly.
            let message = if message.contains("$__toml_private_datetime") {
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
        let start = self.starts.get(line.saturating_sub(1)).copied().unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(1, |s| s.chars().count() + 1);
        Pos { line, column }
    }

    fn node(&self, raw: Spanned<Raw>) -> Node {
        let pos = self.pos(raw.span().start);
        let value = match raw.into_inner() {
            Raw::String(s) => Value::String(s),
            Raw::Integer(i) => Value::Integer(i),
            Raw::Float(f) => Value::Float(f),
            Raw::Boolean(b) => Value::Boolean(b),
            Raw::Array(items) => Value::Array(items.into_iter().map(|i| self.node(i)).collect()),
            Raw::Table(entries) => Value::Table(entries.into_iter().map(|e| self.entry(e)).collect()),
        };
        Node { pos, value }
    }

    fn entry(&self, (key, value): (Spanned<String>, Spanned<Raw>)) -> Entry {
        let key_pos = self.pos(key.span().start);
        Entry {
            key: key.into_inner(),
            key_pos,
            node: self.node(value),
        }
    }
}

/// What the TOML deserializer gives us: values with byte spans.
enum Raw {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Array(Vec<Spanned<Raw>>),
    Table(Vec<(Spanned<String>, Spanned<Raw>)>),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
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
        while let Some(item) = seq.next_element::<Spanned<Raw>>()? {
            items.push(item);
        }
        Ok(Raw::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<Spanned<Raw>>()?;
            entries.push((key, value));
        }
        Ok(Raw::Table(entries))
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
        assert_eq!(pos_of("é = 1\n", 5), at(1, 4));
        assert_eq!(pos_of("a\nb", 2), at(2, 1));
        assert_eq!(pos_of("a\nb", 99), at(2, 2));
    }
}
