//! `${param}` substitution.
//!
//! Substitution is typed, so a parameter value can only ever be data:
//! - a whole value `"${name}"` becomes the parameter's typed value (an integer stays an integer,
//!   a `cidr_list` becomes an array, and inside an array it is spliced into it);
//! - inside a longer string, `${name}` becomes the value's text;
//! - inside a shell command (`ssh.exec`'s `command`, `nodes.quiesce`'s commands) it is always
//!   shell-quoted, so `; rm -rf /` arrives as one literal argument, never as shell syntax.
//!
//! `$${` writes a literal `${` (for shell `${VAR}`); a lone `$` is left alone (`$HOME`, `$$`).

use std::collections::BTreeSet;

use super::diagnostic::Pos;
use super::params::{BoundParams, ParamValue};
use super::tree::{Node, Value};

/// A piece of a template string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(String),
    Param(String),
}

/// Split a string into text and `${name}` references.
pub(crate) fn parse(text: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        let (before, at) = rest.split_at(i);
        literal.push_str(before);
        if let Some(after) = at.strip_prefix("$${") {
            literal.push_str("${");
            rest = after;
        } else if let Some(after) = at.strip_prefix("${") {
            let Some(end) = after.find('}') else {
                return Err(format!(
                    "`${{` without a closing `}}` in `{text}` (write `$${{` for a literal `${{`)"
                ));
            };
            let name = &after[..end];
            if !is_param_name(name) {
                return Err(format!(
                    "`${{{name}}}`: a parameter name is lowercase letters, digits and `_`, \
                     starting with a letter (write `$${{` for a literal `${{`)"
                ));
            }
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Param(name.to_owned()));
            rest = &after[end + 1..];
        } else {
            literal.push('$');
            rest = &at[1..];
        }
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(pieces)
}

/// `[a-z][a-z0-9_]*`: the names `${...}` and `-p` accept.
pub(crate) fn is_param_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Quote `text` as one word for a POSIX shell. A NUL byte cannot be passed in a shell word at
/// all, so it is refused rather than silently truncating the argument.
pub fn shell_quote(text: &str) -> Result<String, String> {
    shlex::try_quote(text)
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| "the value contains a NUL byte, which no shell argument can carry".to_owned())
}

/// Substitutes parameters, recording which ones it used (so a problem can name them).
pub(crate) struct Substituter<'a> {
    pub params: &'a BoundParams,
    pub used: BTreeSet<String>,
}

impl<'a> Substituter<'a> {
    pub(crate) fn new(params: &'a BoundParams) -> Self {
        Self {
            params,
            used: BTreeSet::new(),
        }
    }

    fn lookup(&mut self, name: &str) -> Result<&'a ParamValue, String> {
        let value = self
            .params
            .get(name)
            .ok_or_else(|| format!("`${{{name}}}` refers to no declared parameter"))?;
        self.used.insert(name.to_owned());
        Ok(value)
    }

    /// A string with every `${name}` replaced by the value's text, shell-quoted if `shell`.
    pub(crate) fn text(&mut self, text: &str, shell: bool) -> Result<String, String> {
        let mut out = String::new();
        for piece in parse(text)? {
            match piece {
                Piece::Text(t) => out.push_str(&t),
                Piece::Param(name) => {
                    let value = self.lookup(&name)?.to_text();
                    if shell {
                        out.push_str(
                            &shell_quote(&value).map_err(|e| format!("`${{{name}}}`: {e}"))?,
                        );
                    } else {
                        out.push_str(&value);
                    }
                }
            }
        }
        Ok(out)
    }

    /// A selector (`targets`) with every `${name}` replaced: a `selector` parameter as the
    /// selector text it is, any other only when its value is one label value, so that a value
    /// such as `lab except nothing` cannot widen what the step targets.
    pub(crate) fn selector(&mut self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        for piece in parse(text)? {
            match piece {
                Piece::Text(t) => out.push_str(&t),
                Piece::Param(name) => {
                    let value = self.lookup(&name)?;
                    let text = value.to_text();
                    if !matches!(value, ParamValue::Selector(_)) {
                        super::params::single_label_value(&text).map_err(|e| {
                            format!(
                                "`${{{name}}}` is `{text}`, which is not a single value: {e}. A \
                                 {} parameter cannot add selector syntax to `targets`; declare \
                                 it `type = \"selector\"` if it is meant to be one",
                                value.param_type()
                            )
                        })?;
                    }
                    out.push_str(&text);
                }
            }
        }
        Ok(out)
    }

    /// The value a TOML string becomes: typed for a whole `"${name}"` (outside shell commands),
    /// else text.
    fn string(&mut self, text: &str, shell: bool) -> Result<toml::Value, String> {
        if !shell && let [Piece::Param(name)] = parse(text)?.as_slice() {
            return Ok(self.lookup(name)?.to_toml());
        }
        self.text(text, shell).map(toml::Value::String)
    }

    /// Substitute every string in `node`, collecting every problem with its position.
    pub(crate) fn node(
        &mut self,
        node: &Node,
        shell: bool,
    ) -> Result<toml::Value, Vec<(Pos, String)>> {
        let mut problems = Vec::new();
        let value = self.walk(node, shell, &mut problems);
        if problems.is_empty() {
            Ok(value)
        } else {
            Err(problems)
        }
    }

    fn walk(&mut self, node: &Node, shell: bool, problems: &mut Vec<(Pos, String)>) -> toml::Value {
        match &node.value {
            Value::String(s) => self.string(s, shell).unwrap_or_else(|e| {
                problems.push((node.pos, e));
                toml::Value::String(String::new())
            }),
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    match self.walk(item, shell, problems) {
                        // A whole-value list parameter inside an array is spliced in, so
                        // `allow = ["${allow_cidrs}", "192.0.2.7/32"]` is one flat list.
                        toml::Value::Array(inner) if is_whole_reference(item) => out.extend(inner),
                        value => out.push(value),
                    }
                }
                toml::Value::Array(out)
            }
            Value::Table(entries) => toml::Value::Table(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), self.walk(&e.node, shell, problems)))
                    .collect(),
            ),
            _ => node.to_toml(),
        }
    }
}

fn is_whole_reference(node: &Node) -> bool {
    matches!(&node.value, Value::String(s) if matches!(parse(s).as_deref(), Ok([Piece::Param(_)])))
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::Duration;

    use super::*;
    use crate::runbook::tree;

    fn params() -> BoundParams {
        let mut p = BoundParams::default();
        p.insert("ns", ParamValue::String("telemetry".into()));
        p.insert("n", ParamValue::Integer(1200));
        p.insert("ttl", ParamValue::Duration(Duration::from_secs(90)));
        p.insert(
            "cidrs",
            ParamValue::CidrList(vec![
                "10.0.0.0/8".parse().expect("net"),
                "192.0.2.7/32".parse().expect("net"),
            ]),
        );
        p.insert("hostile", ParamValue::String("; rm -rf /".into()));
        p
    }

    fn with(text: &str) -> Node {
        let entries = tree::parse(text).expect("toml");
        entries.into_iter().next().expect("one entry").node
    }

    #[test]
    fn parses_references_and_escapes() {
        assert_eq!(
            parse("a ${ns} b").expect("ok"),
            vec![
                Piece::Text("a ".into()),
                Piece::Param("ns".into()),
                Piece::Text(" b".into())
            ]
        );
        assert_eq!(
            parse("echo $${HOME} $$ $1").expect("ok"),
            vec![Piece::Text("echo ${HOME} $$ $1".into())]
        );
        assert!(
            parse("${ns")
                .expect_err("open")
                .contains("without a closing")
        );
        assert!(
            parse("${Bad-Name}")
                .expect_err("name")
                .contains("lowercase")
        );
        assert!(parse("${}").is_err());
    }

    #[test]
    fn whole_references_are_typed() {
        let p = params();
        let mut s = Substituter::new(&p);
        assert_eq!(
            s.node(&with("x = \"${n}\""), false).expect("ok"),
            toml::Value::Integer(1200)
        );
        assert_eq!(
            s.node(&with("x = \"${ttl}\""), false).expect("ok"),
            toml::Value::String("1m 30s".into())
        );
        assert_eq!(
            s.node(&with("x = \"n=${n}\""), false).expect("ok"),
            toml::Value::String("n=1200".into())
        );
        let spliced = s
            .node(&with("x = [\"${cidrs}\", \"172.16.0.0/12\"]"), false)
            .expect("ok");
        assert_eq!(
            spliced,
            toml::Value::Array(
                ["10.0.0.0/8", "192.0.2.7/32", "172.16.0.0/12"]
                    .map(|s| toml::Value::String(s.into()))
                    .to_vec()
            )
        );
        assert_eq!(
            s.used.iter().map(String::as_str).collect::<Vec<_>>(),
            vec!["cidrs", "n", "ttl"]
        );
    }

    #[test]
    fn shell_context_quotes_even_whole_references() {
        let p = params();
        let mut s = Substituter::new(&p);
        assert_eq!(
            s.node(&with("x = \"crictl pods --namespace ${ns}\""), true)
                .expect("ok"),
            toml::Value::String("crictl pods --namespace telemetry".into())
        );
        let toml::Value::String(quoted) = s.node(&with("x = \"${hostile}\""), true).expect("ok")
        else {
            panic!("string")
        };
        assert_ne!(quoted, "; rm -rf /");
        assert_eq!(shlex::split(&quoted), Some(vec!["; rm -rf /".to_owned()]));
    }

    #[test]
    fn problems_carry_positions() {
        let p = params();
        let mut s = Substituter::new(&p);
        let problems = s
            .node(&with("x = [\"${ns}\",\n  \"${nope}\", \"${ns\"]"), false)
            .expect_err("bad");
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].0, Pos { line: 2, column: 3 });
        assert!(
            problems[0]
                .1
                .contains("`${nope}` refers to no declared parameter")
        );
        assert_eq!(
            problems[1].0,
            Pos {
                line: 2,
                column: 14
            }
        );
    }

    #[test]
    fn nul_is_refused() {
        let mut p = BoundParams::default();
        p.insert("v", ParamValue::String("a\0b".into()));
        let mut s = Substituter::new(&p);
        let err = s.text("echo ${v}", true).expect_err("nul");
        assert!(err.contains("NUL"), "{err}");
        // Outside a shell command the value is data and is checked by its field's type.
        assert_eq!(s.text("${v}", false).expect("ok"), "a\0b");
    }

    /// The proof the issue asks for: hostile values, substituted into a command, reach a real
    /// `sh` as exactly one argument with exactly the original bytes.
    #[test]
    fn hostile_values_reach_the_shell_as_one_literal_argument() {
        let hostile = [
            "; rm -rf /",
            "$(touch /tmp/breakglass-pwned)",
            "`touch /tmp/breakglass-pwned`",
            "it's",
            "say \"hi\"",
            "'\"'\"'",
            "line one\nline two",
            "--flag",
            "-n",
            "a b\tc",
            "$HOME ${HOME} $$ $1",
            "*",
            "~root",
            "&& || | > < >> 2>&1 &",
            "\\",
            "",
            "é ünïcode ✓",
        ];
        for value in hostile {
            let mut p = BoundParams::default();
            p.insert("v", ParamValue::String(value.to_owned()));
            let mut s = Substituter::new(&p);
            // `$#` proves it is one argument; printf echoes it back byte for byte.
            let command = s
                .text("set -- ${v}; printf '%s|' \"$#\"; printf '%s' \"$1\"", true)
                .expect("quotes");
            let out = Command::new("sh")
                .arg("-c")
                .arg(&command)
                .output()
                .expect("run sh");
            assert!(out.status.success(), "{value:?}: {out:?}");
            assert_eq!(
                String::from_utf8(out.stdout).expect("utf8"),
                format!("1|{value}"),
                "value {value:?} via {command:?}"
            );
        }
        assert!(!std::path::Path::new("/tmp/breakglass-pwned").exists());
    }

    /// The same proof in the form the brief states: `sh -c 'printf %s\n <quoted>'`.
    #[test]
    fn printf_echoes_each_hostile_value_back_literally() {
        for value in ["; rm -rf /", "$(id)", "`id`", "'", "\"", "a\nb", "--flag"] {
            let quoted = shell_quote(value).expect("quote");
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("printf '%s\\n' {quoted}"))
                .output()
                .expect("run sh");
            assert_eq!(
                String::from_utf8(out.stdout).expect("utf8"),
                format!("{value}\n")
            );
        }
    }
}
