//! Reading a JSON inventory with byte spans, so JSON errors point at the offending value exactly
//! as TOML errors do.
//!
//! `serde_json` reports where a syntax error is, but it cannot fill `toml::Spanned<T>` fields, so
//! the schema's spans would be lost for semantic errors (duplicate names, count mismatches). This
//! module therefore (1) lets `serde_json` check the syntax and report syntax errors with its own
//! line and column, then (2) parses the now-valid text into a small tree that remembers each
//! value's byte range, and (3) deserializes the schema from that tree, answering `serde_spanned`'s
//! `Spanned` protocol with those ranges. Type errors, unknown keys and missing keys get the span of
//! the value, key or object concerned. Strings and numbers are decoded by `serde_json` itself.
//!
//! Duplicate keys in one object are rejected (TOML forbids them, and the two formats must mean the
//! same thing).

use std::fmt;
use std::ops::Range;

use serde::de::value::{BorrowedStrDeserializer, MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};

// serde_spanned's private protocol (stable across 0.6.x): `Spanned<T>` asks for a struct with
// this name and these fields and receives start, end and the value. A test in load.rs fails if
// it ever changes.
const SPANNED_NAME: &str = "$__serde_spanned_private_Spanned";
const SPANNED_START: &str = "$__serde_spanned_private_start";
const SPANNED_END: &str = "$__serde_spanned_private_end";
const SPANNED_VALUE: &str = "$__serde_spanned_private_value";

/// `serde_json` accepts nesting this deep; we refuse deeper text rather than recurse without bound.
const MAX_DEPTH: usize = 128;

/// Where and what: either a 1-based line/column (syntax errors, from `serde_json`) or a byte span.
#[derive(Debug)]
pub(super) enum JsonError {
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    Value {
        span: Range<usize>,
        message: String,
    },
}

pub(super) fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, JsonError> {
    if let Err(e) = serde_json::from_str::<de::IgnoredAny>(text) {
        // serde_json appends " at line L column C" to its message; we print those ourselves.
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        return Err(JsonError::Syntax {
            line: e.line().max(1),
            column: e.column().max(1),
            message,
        });
    }
    let mut parser = Parser { text, pos: 0 };
    let root = parser
        .value(0)
        .map_err(|DeError { span, message }| JsonError::Value {
            span: span.unwrap_or(0..0),
            message,
        })?;
    T::deserialize(&root).map_err(|DeError { span, message }| JsonError::Value {
        span: span.unwrap_or(root.span.clone()),
        message,
    })
}

#[derive(Debug)]
struct Node {
    span: Range<usize>,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Null,
    Bool(bool),
    /// The literal text, parsed on demand as u64, i64 or f64.
    Number(String),
    String(String),
    Array(Vec<Node>),
    Object(Vec<(Node, Node)>),
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error<T>(&self, message: &str) -> Result<T, DeError> {
        Err(DeError {
            span: Some(self.pos..self.pos),
            message: message.to_owned(),
        })
    }

    fn skip_ws(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start_matches([' ', '\t', '\n', '\r']).len();
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn value(&mut self, depth: usize) -> Result<Node, DeError> {
        if depth > MAX_DEPTH {
            return self.error("nesting too deep; expected at most 128 levels");
        }
        self.skip_ws();
        let start = self.pos;
        let kind = match self.peek() {
            Some(b'{') => self.object(depth)?,
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                } else {
                    loop {
                        items.push(self.value(depth + 1)?);
                        if self.list_end(b']')? {
                            break;
                        }
                    }
                }
                Kind::Array(items)
            }
            Some(b'"') => Kind::String(self.string()?),
            Some(b't') => self.literal("true", Kind::Bool(true))?,
            Some(b'f') => self.literal("false", Kind::Bool(false))?,
            Some(b'n') => self.literal("null", Kind::Null)?,
            Some(b'-' | b'0'..=b'9') => {
                let rest = &self.text[self.pos..];
                let len = rest
                    .find(|c: char| !matches!(c, '0'..='9' | '-' | '+' | '.' | 'e' | 'E'))
                    .unwrap_or(rest.len());
                self.pos += len;
                Kind::Number(rest[..len].to_owned())
            }
            _ => return self.error("expected a JSON value"),
        };
        Ok(Node {
            span: start..self.pos,
            kind,
        })
    }

    fn object(&mut self, depth: usize) -> Result<Kind, DeError> {
        self.pos += 1;
        let mut entries: Vec<(Node, Node)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Kind::Object(entries));
        }
        loop {
            self.skip_ws();
            let start = self.pos;
            if self.peek() != Some(b'"') {
                return self.error("expected a string key");
            }
            let key = self.string()?;
            let key_span = start..self.pos;
            if entries
                .iter()
                .any(|(k, _)| matches!(&k.kind, Kind::String(s) if *s == key))
            {
                return Err(DeError {
                    span: Some(key_span),
                    message: format!("duplicate key `{key}`; expected each key once per object"),
                });
            }
            self.skip_ws();
            if self.peek() != Some(b':') {
                return self.error("expected ':'");
            }
            self.pos += 1;
            let value = self.value(depth + 1)?;
            entries.push((
                Node {
                    span: key_span,
                    kind: Kind::String(key),
                },
                value,
            ));
            if self.list_end(b'}')? {
                return Ok(Kind::Object(entries));
            }
        }
    }

    /// After an element: `,` continues (false), `close` ends (true).
    fn list_end(&mut self, close: u8) -> Result<bool, DeError> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(false)
            }
            Some(c) if c == close => {
                self.pos += 1;
                Ok(true)
            }
            _ => self.error("expected ',' or a closing bracket"),
        }
    }

    fn literal(&mut self, word: &str, kind: Kind) -> Result<Kind, DeError> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(kind)
        } else {
            self.error("expected a JSON value")
        }
    }

    fn string(&mut self) -> Result<String, DeError> {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        let mut i = start + 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => {
                    self.pos = i + 1;
                    // Escapes (\u00e9, surrogate pairs) are serde_json's business.
                    return serde_json::from_str(&self.text[start..self.pos]).map_err(|e| {
                        DeError {
                            span: Some(start..self.pos),
                            message: format!("bad string: {e}"),
                        }
                    });
                }
                _ => i += 1,
            }
        }
        self.error("unterminated string; expected '\"'")
    }
}

/// A deserialization error, with the span of the value it is about once known.
#[derive(Debug)]
struct DeError {
    span: Option<Range<usize>>,
    message: String,
}

impl DeError {
    fn at(mut self, span: &Range<usize>) -> Self {
        if self.span.is_none() {
            self.span = Some(span.clone());
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            span: None,
            message: msg.to_string(),
        }
    }
}

impl IntoDeserializer<'_, DeError> for &Node {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl Node {
    fn visit<'de, V: Visitor<'de>>(&self, visitor: V) -> Result<V::Value, DeError> {
        match &self.kind {
            Kind::Null => visitor.visit_unit(),
            Kind::Bool(b) => visitor.visit_bool(*b),
            Kind::Number(text) => {
                if let Ok(n) = text.parse::<u64>() {
                    visitor.visit_u64(n)
                } else if let Ok(n) = text.parse::<i64>() {
                    visitor.visit_i64(n)
                } else {
                    let n: f64 = serde_json::from_str(text)
                        .map_err(|e| de::Error::custom(format!("bad number {text}: {e}")))?;
                    visitor.visit_f64(n)
                }
            }
            Kind::String(s) => visitor.visit_str(s),
            Kind::Array(items) => {
                let mut seq = SeqDeserializer::new(items.iter());
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            Kind::Object(entries) => {
                let mut map = MapDeserializer::new(entries.iter().map(|(k, v)| (k, v)));
                let value = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(value)
            }
        }
    }
}

impl<'de> de::Deserializer<'de> for &Node {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.visit(visitor).map_err(|e| e.at(&self.span))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.kind {
            Kind::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
        .map_err(|e| e.at(&self.span))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| e.at(&self.span))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if name == SPANNED_NAME && fields == [SPANNED_START, SPANNED_END, SPANNED_VALUE] {
            return visitor.visit_map(SpannedAccess {
                node: self,
                field: 0,
            });
        }
        // serde would accept an array for a struct (fields by position); TOML cannot express
        // that, so neither may JSON.
        if let Kind::Array(_) = self.kind {
            return Err(DeError {
                span: Some(self.span.clone()),
                message: format!("invalid type: array; expected {}", Expecting(&visitor)),
            });
        }
        self.deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// A visitor's `expecting` text, for our own type errors.
struct Expecting<'a, V>(&'a V);

impl<'de, V: Visitor<'de>> fmt::Display for Expecting<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }
}

/// Feeds `Spanned<T>` its three fields: start, end, then the value itself.
struct SpannedAccess<'a> {
    node: &'a Node,
    field: u8,
}

impl<'de> MapAccess<'de> for SpannedAccess<'_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let key = match self.field {
            0 => SPANNED_START,
            1 => SPANNED_END,
            2 => SPANNED_VALUE,
            _ => return Ok(None),
        };
        // `Spanned` wants its keys borrowed; the names are 'static, which outlives any 'de.
        seed.deserialize(BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        self.field += 1;
        match self.field {
            1 => seed.deserialize(self.node.span.start.into_deserializer()),
            2 => seed.deserialize(self.node.span.end.into_deserializer()),
            _ => seed.deserialize(self.node),
        }
    }
}
