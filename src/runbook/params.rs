//! Runbook parameters: their declared types, and binding `-p key=value` strings to them.
//!
//! Every value is parsed by its declared type before anything runs, so a mistyped CIDR or
//! duration is a usage error at the prompt, not a half-applied change on the fleet. Binding
//! reports every problem at once and suggests the closest name for a misspelt parameter.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use ipnet::IpNet;

use super::Runbook;
use super::diagnostic::did_you_mean;
use super::tree::{Node, Value};
use crate::actions::args::{duration, parse_cidr};

/// The type of a parameter, declared with `type = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    /// Any text.
    String,
    /// A whole number (`-p inflight=1200`).
    Integer,
    /// A humantime duration (`-p revert=20m`).
    Duration,
    /// Networks, comma-separated on the command line (`-p allow=10.0.0.0/8,192.0.2.7`); a bare
    /// address means that one host.
    CidrList,
    /// An inventory selector (`-p workers=role=worker,zone=a`), parsed with the inventory's grammar.
    Selector,
    /// The name of a cluster of the inventory (`-p cluster=prod-east`): one label value,
    /// checked against the inventory's clusters when the plan is built. What a confirmation
    /// asks the operator to type.
    Cluster,
    /// `true` or `false` (also `yes` / `no`).
    Bool,
}

impl ParamType {
    pub const ALL: [Self; 7] = [
        Self::String,
        Self::Integer,
        Self::Duration,
        Self::CidrList,
        Self::Selector,
        Self::Bool,
        Self::Cluster,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Duration => "duration",
            Self::CidrList => "cidr_list",
            Self::Selector => "selector",
            Self::Bool => "bool",
            Self::Cluster => "cluster",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Parse a value given on the command line.
    pub fn parse_text(self, text: &str) -> Result<ParamValue, String> {
        match self {
            Self::String => Ok(ParamValue::String(text.to_owned())),
            Self::Integer => text
                .trim()
                .parse()
                .map(ParamValue::Integer)
                .map_err(|_| format!("`{text}` is not an integer")),
            Self::Duration => duration::parse(text).map(ParamValue::Duration),
            Self::CidrList => text
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(parse_cidr)
                .collect::<Result<_, _>>()
                .map(ParamValue::CidrList),
            Self::Selector => parse_selector(text).map(|()| ParamValue::Selector(text.to_owned())),
            Self::Cluster => single_label_value(text)
                .map(|()| ParamValue::Cluster(text.to_owned()))
                .map_err(|e| format!("`{text}` is not a cluster name: {e}")),
            Self::Bool => match text.trim() {
                "true" | "yes" => Ok(ParamValue::Bool(true)),
                "false" | "no" => Ok(ParamValue::Bool(false)),
                _ => Err(format!("`{text}` is not a boolean (true or false)")),
            },
        }
    }

    /// Parse a `default = ...` from the runbook, written the way TOML writes the type.
    pub(crate) fn parse_node(self, node: &Node) -> Result<ParamValue, String> {
        match (self, &node.value) {
            (Self::String, Value::String(s)) => Ok(ParamValue::String(s.clone())),
            (Self::Integer, Value::Integer(i)) => Ok(ParamValue::Integer(*i)),
            (Self::Duration | Self::Selector | Self::Cluster, Value::String(s)) => {
                self.parse_text(s)
            }
            (Self::Bool, Value::Boolean(b)) => Ok(ParamValue::Bool(*b)),
            (Self::CidrList, Value::Array(items)) => items
                .iter()
                .map(|item| match &item.value {
                    Value::String(s) => parse_cidr(s),
                    other => Err(format!("a CIDR is a string, not {}", other.type_name())),
                })
                .collect::<Result<_, _>>()
                .map(ParamValue::CidrList),
            (_, other) => Err(format!(
                "a {} default is written as {}, not {}",
                self.name(),
                self.toml_form(),
                other.type_name()
            )),
        }
    }

    fn toml_form(self) -> &'static str {
        match self {
            Self::String => "a string",
            Self::Integer => "an integer",
            Self::Duration => "a string such as \"5m\"",
            Self::CidrList => "an array of strings such as [\"10.0.0.0/8\"]",
            Self::Selector => "a string such as \"role=worker\"",
            Self::Cluster => "a string such as \"prod-east\"",
            Self::Bool => "true or false",
        }
    }

    /// A valid value of the type, used to check a runbook's arguments before a required
    /// parameter has a value.
    pub(crate) fn placeholder(self) -> ParamValue {
        match self {
            Self::String => ParamValue::String("example".to_owned()),
            Self::Integer => ParamValue::Integer(1),
            Self::Duration => ParamValue::Duration(Duration::from_secs(60)),
            Self::CidrList => ParamValue::CidrList(vec![IpNet::V4(
                ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(192, 0, 2, 0), 24).unwrap_or_default(),
            )]),
            Self::Selector => ParamValue::Selector("role=example".to_owned()),
            Self::Cluster => ParamValue::Cluster("example".to_owned()),
            Self::Bool => ParamValue::Bool(false),
        }
    }
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Check a selector with the inventory's grammar, so runbooks and `-p` values are checked
/// by the same parser that will later pick the hosts.
pub(crate) fn parse_selector(text: &str) -> Result<(), String> {
    crate::inventory::Selector::parse(text)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// One label value (`prod-east`): what a parameter that is not a `selector` must be where it is
/// put into a selector, so that its value can pick hosts only the way the runbook wrote.
pub(crate) fn single_label_value(text: &str) -> Result<(), String> {
    if crate::inventory::is_label_name(text) {
        Ok(())
    } else {
        Err(
            "expected one label value: at most 63 letters, digits, `-`, `_`, `.`, starting and \
             ending with a letter or digit"
                .to_owned(),
        )
    }
}

/// A parameter's value, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    String(String),
    Integer(i64),
    Duration(Duration),
    CidrList(Vec<IpNet>),
    Selector(String),
    Bool(bool),
    Cluster(String),
}

impl ParamValue {
    pub fn param_type(&self) -> ParamType {
        match self {
            Self::String(_) => ParamType::String,
            Self::Integer(_) => ParamType::Integer,
            Self::Duration(_) => ParamType::Duration,
            Self::CidrList(_) => ParamType::CidrList,
            Self::Selector(_) => ParamType::Selector,
            Self::Bool(_) => ParamType::Bool,
            Self::Cluster(_) => ParamType::Cluster,
        }
    }

    /// The value as text: what `${name}` becomes inside a longer string, and the form
    /// `-p name=TEXT` accepts back (used to journal the parameters of a run).
    pub fn to_text(&self) -> String {
        match self {
            Self::String(s) | Self::Selector(s) | Self::Cluster(s) => s.clone(),
            Self::Integer(i) => i.to_string(),
            Self::Duration(d) => humantime::format_duration(*d).to_string(),
            Self::CidrList(nets) => nets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            Self::Bool(b) => b.to_string(),
        }
    }

    /// The value as TOML: what a whole-value `"${name}"` becomes, so an integer stays an integer
    /// and a CIDR list becomes an array.
    pub(crate) fn to_toml(&self) -> toml::Value {
        match self {
            Self::Integer(i) => toml::Value::Integer(*i),
            Self::Bool(b) => toml::Value::Boolean(*b),
            Self::CidrList(nets) => toml::Value::Array(
                nets.iter()
                    .map(|n| toml::Value::String(n.to_string()))
                    .collect(),
            ),
            Self::String(_) | Self::Duration(_) | Self::Selector(_) | Self::Cluster(_) => {
                toml::Value::String(self.to_text())
            }
        }
    }
}

/// A declared parameter (`[params.NAME]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub ty: ParamType,
    /// The run refuses to start without `-p NAME=...`.
    pub required: bool,
    /// Used when `-p` does not give the parameter. A parameter is required or has a default.
    pub default: Option<ParamValue>,
    /// One line for the operator, shown by `runbook show` and in binding errors.
    pub help: String,
    /// The bounds of an integer parameter (`min`, `max`); unbounded for other types.
    pub range: IntRange,
}

/// The bounds an integer parameter's value must lie within. `min` defaults to 0: the integers
/// runbooks take are counts, limits and seconds, where a negative value is a typo that would
/// reach a node (`--max-requests-inflight=-1` keeps kube-apiserver from starting). A runbook
/// that means negative numbers says `min = -N`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntRange {
    pub min: Option<i64>,
    pub max: Option<i64>,
}

impl IntRange {
    /// The lower bound in force: `min`, else 0.
    pub fn lowest(self) -> i64 {
        self.min.unwrap_or(0)
    }

    /// Whether `value` lies within the bounds (values of other types always do).
    pub fn check(self, value: &ParamValue) -> Result<(), String> {
        let ParamValue::Integer(i) = *value else {
            return Ok(());
        };
        let lowest = self.lowest();
        match self.max {
            Some(max) if i < lowest || i > max => Err(format!("{i} is outside {lowest} to {max}")),
            None if i < lowest => Err(format!("{i} is below the minimum {lowest}")),
            _ => Ok(()),
        }
    }
}

/// The parameters of one run: every declared parameter with its value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoundParams {
    values: BTreeMap<String, ParamValue>,
}

impl BoundParams {
    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.values.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &ParamValue)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// `(name, text)` pairs that [`bind`] accepts back: what the journal records so `resume`
    /// binds exactly the same values.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .map(|(k, v)| (k.clone(), v.to_text()))
            .collect()
    }

    pub(crate) fn insert(&mut self, name: &str, value: ParamValue) {
        self.values.insert(name.to_owned(), value);
    }
}

impl serde::Serialize for BoundParams {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.values.iter().map(|(k, v)| (k, v.to_text())))
    }
}

/// Binding `-p` values failed; every problem, one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", problems.join("\n"))]
pub struct BindError {
    pub problems: Vec<String>,
}

/// Bind `-p name=value` pairs (already split at the first `=`) to the runbook's parameters:
/// parse each by its type, reject unknown and repeated names, enforce required ones, and fill
/// in defaults.
pub fn bind(runbook: &Runbook, given: &[(String, String)]) -> Result<BoundParams, BindError> {
    let mut problems = Vec::new();
    let mut bound = BoundParams::default();
    for (name, text) in given {
        let Some(param) = runbook.param(name) else {
            let names = runbook.params.iter().map(|p| p.name.as_str());
            let known = if runbook.params.is_empty() {
                " (it takes none)".to_owned()
            } else {
                did_you_mean(name, names)
            };
            problems.push(format!(
                "runbook `{}` has no parameter `{name}`{known}",
                runbook.name
            ));
            continue;
        };
        if bound.get(name).is_some() {
            problems.push(format!("parameter `{name}` is given twice"));
            continue;
        }
        match param
            .ty
            .parse_text(text)
            .and_then(|v| param.range.check(&v).map(|()| v))
        {
            Ok(value) => bound.insert(name, value),
            Err(e) => problems.push(format!("parameter `{name}` ({}): {e}", param.ty)),
        }
    }
    for param in &runbook.params {
        if bound.get(&param.name).is_some() {
            continue;
        }
        match &param.default {
            Some(value) => bound.insert(&param.name, value.clone()),
            None => problems.push(format!(
                "missing required parameter `{}` ({}): {}; pass -p {}=VALUE",
                param.name, param.ty, param.help, param.name
            )),
        }
    }
    if problems.is_empty() {
        Ok(bound)
    } else {
        Err(BindError { problems })
    }
}
