//! Loading a runbook: walk the positioned TOML tree, build the schema types, and report every
//! problem at its line and column.
//!
//! The walk never stops at the first problem: each key is checked on its own, and a problem
//! only skips the checks that depend on it (arguments of an unknown action kind are not
//! typed). Arguments are checked with the parameters' defaults, or a placeholder of the
//! parameter's type for a required one, so a runbook is fully checked before any `-p` value
//! exists; `resolve` checks them again with the real values.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::diagnostic::{Diags, Pos, RunbookError, did_you_mean};
use super::interpolate::{Substituter, is_param_name};
use super::params::{BoundParams, IntRange, Param, ParamType, ParamValue, parse_selector};
use super::schema::{FailureBudget, Gate, OnFailure, Runbook, Step, Wave, Waves};
use super::tree::{self, Entry, Node, Value};
use crate::actions::args::{ActionArgs, ActionKind, duration};
use crate::settings::MAX_CONCURRENCY;

const TOP_KEYS: &[&str] = &["name", "summary", "description", "params", "steps"];
const PARAM_KEYS: &[&str] = &["type", "required", "default", "help", "min", "max"];
const STEP_KEYS: &[&str] = &[
    "id",
    "action",
    "description",
    "targets",
    "waves",
    "concurrency",
    "failure_budget",
    "on_failure",
    "timeout",
    "confirm",
    "gate",
    "with",
    "run_if_unreachable",
    "run_if",
    "ignore_unreachable",
    "skip_if_none",
];
const GATE_KEYS: &[&str] = &["action", "description", "targets", "timeout", "with"];
/// Step keys that only make sense for an action that runs on targets.
const TARGET_KEYS: &[&str] = &[
    "targets",
    "waves",
    "concurrency",
    "failure_budget",
    "timeout",
    "gate",
    "ignore_unreachable",
];

/// Parse and validate a runbook's text. `origin` names it in diagnostics.
pub(crate) fn load(text: &str, origin: &str) -> Result<Runbook, RunbookError> {
    let mut d = Diags::new(origin);
    let root = match tree::parse(text) {
        Ok(root) => root,
        Err((pos, message)) => {
            d.push(pos, message);
            return Err(d.into_error());
        }
    };
    check_keys(&root, TOP_KEYS, "", "the runbook", &mut d);

    let name = required_string(
        &root,
        "name",
        "",
        "e.g. name = \"apiserver-overload\"",
        &mut d,
    );
    if let Some((name, pos)) = &name
        && !is_id(name)
    {
        d.push(
            *pos,
            format!("`name` \"{name}\": use lowercase letters, digits and `-`"),
        );
    }
    let summary = required_string(&root, "summary", "", "one line for `runbook list`", &mut d);
    if let Some((summary, pos)) = &summary
        && (summary.trim().is_empty() || summary.contains('\n'))
    {
        d.push(*pos, "`summary` is one non-empty line");
    }
    let description = optional_string(find(&root, "description"), "", &mut d).unwrap_or_default();

    let params = find(&root, "params").map_or_else(Vec::new, |e| load_params(e, &mut d));
    let mut loader = Loader::new(&params, d);
    let steps = loader.steps(find(&root, "steps"));
    loader.check_confirm_has_cluster(&steps, &params);
    loader.d.finish()?;

    Ok(Runbook {
        origin: origin.to_owned(),
        digest: format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes()))),
        source: text.to_owned(),
        name: name.map(|(n, _)| n).unwrap_or_default(),
        summary: summary.map(|(s, _)| s).unwrap_or_default(),
        description,
        params,
        steps,
    })
}

/// `[a-z0-9][a-z0-9-]*`: runbook names and step ids, which operators type (`undo --step ID`).
fn is_id(id: &str) -> bool {
    id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn find<'a>(entries: &'a [Entry], key: &str) -> Option<&'a Entry> {
    entries.iter().find(|e| e.key == key)
}

fn check_keys(entries: &[Entry], allowed: &[&str], prefix: &str, what: &str, d: &mut Diags) {
    for e in entries {
        if !allowed.contains(&e.key.as_str()) {
            d.push(
                e.key_pos,
                format!(
                    "{prefix}unknown key `{}` in {what}{}; expected one of: {}",
                    e.key,
                    did_you_mean(&e.key, allowed.iter().copied()),
                    allowed.join(", ")
                ),
            );
        }
    }
}

/// A string where `${...}` is not substituted gets a hint when it contains one.
fn no_params_hint(text: &str) -> &'static str {
    if text.contains("${") {
        " (`${...}` is only substituted in `targets` and `with`)"
    } else {
        ""
    }
}

fn type_error(e: &Entry, prefix: &str, expected: &str) -> String {
    format!(
        "{prefix}`{}` must be {expected}, not {}",
        e.key,
        e.node.value.type_name()
    )
}

fn optional_string(entry: Option<&Entry>, prefix: &str, d: &mut Diags) -> Option<String> {
    let e = entry?;
    if let Value::String(s) = &e.node.value {
        Some(s.clone())
    } else {
        d.push(e.node.pos, type_error(e, prefix, "a string"));
        None
    }
}

fn required_string(
    entries: &[Entry],
    key: &str,
    prefix: &str,
    example: &str,
    d: &mut Diags,
) -> Option<(String, Pos)> {
    let Some(e) = find(entries, key) else {
        d.push(Pos::START, format!("{prefix}missing `{key}` ({example})"));
        return None;
    };
    optional_string(Some(e), prefix, d).map(|s| (s, e.node.pos))
}

fn optional_bool(entry: Option<&Entry>, prefix: &str, d: &mut Diags) -> Option<bool> {
    let e = entry?;
    if let Value::Boolean(b) = e.node.value {
        Some(b)
    } else {
        d.push(e.node.pos, type_error(e, prefix, "true or false"));
        None
    }
}

fn optional_duration(entry: Option<&Entry>, prefix: &str, d: &mut Diags) -> Option<Duration> {
    let e = entry?;
    let Value::String(text) = &e.node.value else {
        d.push(
            e.node.pos,
            type_error(e, prefix, "a duration string such as \"5m\""),
        );
        return None;
    };
    match duration::parse(text) {
        Ok(t) if t.is_zero() => {
            d.push(
                e.node.pos,
                format!("{prefix}`{}` must be longer than 0s", e.key),
            );
            None
        }
        Ok(t) => Some(t),
        Err(m) => {
            d.push(
                e.node.pos,
                format!("{prefix}`{}`: {m}{}", e.key, no_params_hint(text)),
            );
            None
        }
    }
}

fn load_params(entry: &Entry, d: &mut Diags) -> Vec<Param> {
    let Value::Table(entries) = &entry.node.value else {
        d.push(
            entry.node.pos,
            type_error(entry, "", "a table of parameters ([params.NAME])"),
        );
        return Vec::new();
    };
    let mut params = Vec::new();
    for e in entries {
        let name = &e.key;
        let prefix = format!("parameter `{name}`: ");
        if !is_param_name(name) {
            d.push(
                e.key_pos,
                format!(
                    "{prefix}a parameter name is lowercase letters, digits and `_`, starting with a letter"
                ),
            );
        }
        let Value::Table(fields) = &e.node.value else {
            d.push(
                e.node.pos,
                format!(
                    "{prefix}must be a table ([params.{name}] with `type` and `help`), not {}",
                    e.node.value.type_name()
                ),
            );
            continue;
        };
        check_keys(fields, PARAM_KEYS, &prefix, "a parameter", d);
        let ty = match find(fields, "type") {
            None => {
                d.push(
                    e.key_pos,
                    format!("{prefix}missing `type` ({})", type_names()),
                );
                None
            }
            Some(t) => optional_string(Some(t), &prefix, d).and_then(|text| {
                let ty = ParamType::from_name(&text);
                if ty.is_none() {
                    d.push(
                        t.node.pos,
                        format!(
                            "{prefix}unknown type `{text}`{}; expected one of: {}",
                            did_you_mean(&text, ParamType::ALL.iter().map(|t| t.name())),
                            type_names()
                        ),
                    );
                }
                ty
            }),
        };
        let required = optional_bool(find(fields, "required"), &prefix, d).unwrap_or(false);
        let help = match find(fields, "help") {
            None => {
                d.push(
                    e.key_pos,
                    format!(
                        "{prefix}missing `help` (one line the operator sees in `runbook show`)"
                    ),
                );
                String::new()
            }
            Some(h) => optional_string(Some(h), &prefix, d).unwrap_or_default(),
        };
        let range = integer_range(fields, ty, &prefix, d);
        let default_entry = find(fields, "default");
        let default = match (ty, default_entry) {
            (Some(ty), Some(def)) => match ty
                .parse_node(&def.node)
                .and_then(|v| range.check(&v).map(|()| v))
            {
                Ok(v) => Some(v),
                Err(m) => {
                    d.push(def.node.pos, format!("{prefix}`default`: {m}"));
                    None
                }
            },
            _ => None,
        };
        match (required, default_entry) {
            (true, Some(def)) => d.push(
                def.key_pos,
                format!("{prefix}a required parameter never uses its default; remove `default` or `required`"),
            ),
            (false, None) => d.push(
                e.key_pos,
                format!("{prefix}give it a `default` or mark it `required = true`"),
            ),
            _ => {}
        }
        if let Some(ty) = ty {
            params.push(Param {
                name: name.clone(),
                ty,
                required,
                default,
                help,
                range,
            });
        }
    }
    params
}

/// `min` and `max` of an integer parameter; `min` defaults to 0 (see [`IntRange`]).
fn integer_range(fields: &[Entry], ty: Option<ParamType>, prefix: &str, d: &mut Diags) -> IntRange {
    let mut range = IntRange::default();
    for (key, slot) in [("min", &mut range.min), ("max", &mut range.max)] {
        let Some(e) = find(fields, key) else {
            continue;
        };
        match (&e.node.value, ty) {
            (Value::Integer(i), Some(ParamType::Integer)) => *slot = Some(*i),
            (_, Some(ParamType::Integer)) => {
                d.push(e.node.pos, type_error(e, prefix, "an integer"));
            }
            (_, Some(other)) => d.push(
                e.key_pos,
                format!("{prefix}`{key}` bounds an integer parameter, not a {other} one"),
            ),
            (_, None) => {}
        }
    }
    if let (Some(min), Some(max)) = (range.min, range.max)
        && min > max
        && let Some(e) = find(fields, "max")
    {
        d.push(
            e.node.pos,
            format!("{prefix}`max` {max} is below `min` {min}"),
        );
    }
    range
}

fn type_names() -> String {
    ParamType::ALL
        .iter()
        .map(|t| t.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Step loading, with the values `${param}` stands for while no `-p` value exists.
struct Loader {
    d: Diags,
    values: BoundParams,
    /// Parameters whose value above is a placeholder (required, no default): a problem found
    /// with them says so, since the real value may differ.
    placeholders: BTreeSet<String>,
}

impl Loader {
    fn new(params: &[Param], d: Diags) -> Self {
        let mut values = BoundParams::default();
        let mut placeholders = BTreeSet::new();
        for p in params {
            if let Some(v) = &p.default {
                values.insert(&p.name, v.clone());
            } else {
                values.insert(&p.name, p.ty.placeholder());
                placeholders.insert(p.name.clone());
            }
        }
        Self {
            d,
            values,
            placeholders,
        }
    }

    fn steps(&mut self, entry: Option<&Entry>) -> Vec<Step> {
        let Some(entry) = entry else {
            self.d.push(
                Pos::START,
                "missing `steps`: add at least one [[steps]] table",
            );
            return Vec::new();
        };
        let Value::Array(items) = &entry.node.value else {
            self.d.push(
                entry.node.pos,
                type_error(entry, "", "an array of tables ([[steps]])"),
            );
            return Vec::new();
        };
        if items.is_empty() {
            self.d.push(
                entry.node.pos,
                "`steps` is empty: add at least one [[steps]] table",
            );
        }
        let mut seen: BTreeMap<String, Pos> = BTreeMap::new();
        let mut steps = Vec::new();
        for (index, node) in items.iter().enumerate() {
            let Value::Table(fields) = &node.value else {
                self.d.push(
                    node.pos,
                    format!(
                        "each step is a table ([[steps]]), not {}",
                        node.value.type_name()
                    ),
                );
                continue;
            };
            if let Some(step) = self.step(index, node.pos, fields, &mut seen) {
                steps.push(step);
            }
        }
        self.fallbacks(&steps);
        steps
    }

    /// `run_if = "${PARAM}"`: a `bool` parameter which, false, leaves the step out of the run
    /// (e.g. a step that needs SSH to nodes some clusters do not give).
    fn run_if(&mut self, e: &Entry, prefix: &str) -> Option<String> {
        let text = optional_string(Some(e), prefix, &mut self.d)?;
        let name = text.strip_prefix("${").and_then(|t| t.strip_suffix('}'));
        if let Some(name) = name
            && matches!(self.values.get(name), Some(ParamValue::Bool(_)))
        {
            return Some(name.to_owned());
        }
        self.d.push(
            e.node.pos,
            format!(
                "{prefix}`run_if` is `{text}`; expected \"${{PARAM}}\" naming a parameter of \
                 type \"bool\" (the step runs when it is true)"
            ),
        );
        None
    }

    /// `run_if_unreachable` names an earlier step whose failures let the run go on.
    fn fallbacks(&mut self, steps: &[Step]) {
        for (i, step) in steps.iter().enumerate() {
            let Some(other) = &step.run_if_unreachable else {
                continue;
            };
            let prefix = format!("step `{}`: ", step.id);
            match steps[..i].iter().find(|s| &s.id == other) {
                None => self.d.push(
                    step.run_if_pos,
                    format!(
                        "{prefix}`run_if_unreachable` names `{other}`, which is not an earlier step"
                    ),
                ),
                Some(s) if s.on_failure != OnFailure::Continue => self.d.push(
                    step.run_if_pos,
                    format!(
                        "{prefix}`run_if_unreachable = \"{other}\"` needs step `{other}` to say \
                         `on_failure = \"continue\"`, or the run stops before this step"
                    ),
                ),
                Some(_) => {}
            }
        }
    }

    fn step(
        &mut self,
        index: usize,
        pos: Pos,
        fields: &[Entry],
        seen: &mut BTreeMap<String, Pos>,
    ) -> Option<Step> {
        let id_entry = find(fields, "id");
        let id = optional_string(id_entry, &format!("step {}: ", index + 1), &mut self.d);
        let prefix = match &id {
            Some(id) => format!("step `{id}`: "),
            None => format!("step {}: ", index + 1),
        };
        match (&id, id_entry) {
            (None, None) => self.d.push(
                pos,
                format!("{prefix}missing `id` (lowercase letters, digits and `-`, unique)"),
            ),
            (Some(id), Some(e)) => {
                if !is_id(id) {
                    self.d.push(
                        e.node.pos,
                        format!("{prefix}`id` uses lowercase letters, digits and `-`"),
                    );
                }
                if let Some(first) = seen.get(id) {
                    self.d.push(
                        e.node.pos,
                        format!(
                            "duplicate step id `{id}` (first used at line {})",
                            first.line
                        ),
                    );
                } else {
                    seen.insert(id.clone(), e.node.pos);
                }
            }
            _ => {}
        }
        check_keys(fields, STEP_KEYS, &prefix, "a step", &mut self.d);

        let action = self.action(fields, pos, &prefix, false);
        let description = optional_string(find(fields, "description"), &prefix, &mut self.d);
        let on_failure = self.on_failure(find(fields, "on_failure"), &prefix);
        let run_if_entry = find(fields, "run_if_unreachable");
        let run_if_unreachable = optional_string(run_if_entry, &prefix, &mut self.d);
        let run_if = find(fields, "run_if").and_then(|e| self.run_if(e, &prefix));
        let confirm_entry = find(fields, "confirm");
        let confirm = optional_bool(confirm_entry, &prefix, &mut self.d);
        let ignore_unreachable =
            optional_bool(find(fields, "ignore_unreachable"), &prefix, &mut self.d);
        let skip_entry = find(fields, "skip_if_none");
        let skip_if_none = optional_bool(skip_entry, &prefix, &mut self.d).unwrap_or(false);
        if let (Some(kind), Some(e)) = (action, skip_entry)
            && !kind.acts_on_cloud_resources()
        {
            self.d.push(
                e.key_pos,
                format!(
                    "{prefix}`skip_if_none` is for steps whose targets are the cloud resources the \
                     inventory names (nodes.scale, apiservers.scale, cloud.firewall.*), not {kind}"
                ),
            );
        }

        if let Some(kind) = action {
            self.refuse_target_keys(kind, fields, &prefix);
        }
        let takes_targets = action.is_none_or(ActionKind::takes_targets);

        let targets_entry = find(fields, "targets");
        let targets = if takes_targets {
            self.targets(targets_entry, &prefix)
        } else {
            None
        };
        if let (Some(kind), None) = (action, targets_entry)
            && kind.takes_targets()
        {
            self.d.push(
                pos,
                format!(
                    "{prefix}{kind} needs `targets`: a selector such as \"role=control-plane\""
                ),
            );
        }
        let (waves, concurrency, failure_budget, timeout, gate) = if takes_targets {
            (
                self.waves(find(fields, "waves"), &prefix),
                self.concurrency(find(fields, "concurrency"), &prefix),
                self.failure_budget(find(fields, "failure_budget"), &prefix),
                optional_duration(find(fields, "timeout"), &prefix, &mut self.d),
                find(fields, "gate").and_then(|g| self.gate(g, &prefix)),
            )
        } else {
            (Waves::default(), None, FailureBudget::default(), None, None)
        };

        let with_entry = find(fields, "with");
        let with_pos = with_entry.map_or(pos, |e| e.key_pos);
        if let Some(kind) = action {
            type_args(
                kind,
                with_entry.map(|e| &e.node),
                with_pos,
                &self.values,
                &self.placeholders,
                &prefix,
                &mut self.d,
            );
        }

        Some(Step {
            id: id?,
            action: action?,
            description,
            targets,
            waves,
            concurrency,
            failure_budget,
            on_failure,
            timeout,
            confirm: confirm.unwrap_or_else(|| action.is_some_and(ActionKind::confirm_by_default)),
            gate,
            run_if_unreachable,
            ignore_unreachable: ignore_unreachable.unwrap_or(false),
            skip_if_none,
            run_if_pos: run_if_entry.map_or(pos, |e| e.node.pos),
            run_if,
            with: with_entry.map(|e| e.node.clone()),
            with_pos,
            targets_pos: targets_entry.map_or(pos, |e| e.node.pos),
            pos,
        })
    }

    /// Keys that only make sense with targets are refused for the kinds that run once, rather
    /// than silently ignored.
    fn refuse_target_keys(&mut self, kind: ActionKind, fields: &[Entry], prefix: &str) {
        if kind.takes_targets() {
            return;
        }
        for e in fields
            .iter()
            .filter(|e| TARGET_KEYS.contains(&e.key.as_str()))
        {
            let hint = match (kind, e.key.as_str()) {
                (ActionKind::WaitHealthy, "timeout") => "; set `timeout` under `with`",
                _ => "",
            };
            self.d.push(
                e.key_pos,
                format!(
                    "{prefix}{kind} runs once, from the operator's machine, so `{}` does not apply{hint}",
                    e.key
                ),
            );
        }
    }

    fn action(
        &mut self,
        fields: &[Entry],
        pos: Pos,
        prefix: &str,
        gate: bool,
    ) -> Option<ActionKind> {
        let Some(e) = find(fields, "action") else {
            let known = if gate {
                "\"wait.healthy\" or \"ssh.exec\"".to_owned()
            } else {
                known_kinds()
            };
            self.d
                .push(pos, format!("{prefix}missing `action` (one of: {known})"));
            return None;
        };
        let text = optional_string(Some(e), prefix, &mut self.d)?;
        let Some(kind) = ActionKind::from_name(&text) else {
            self.d.push(
                e.node.pos,
                format!(
                    "{prefix}unknown action `{text}`{}; known actions: {}",
                    did_you_mean(&text, ActionKind::ALL.iter().map(|k| k.name())),
                    known_kinds()
                ),
            );
            return None;
        };
        if gate && !kind.can_gate() {
            self.d.push(
                e.node.pos,
                format!(
                    "{prefix}{kind} cannot be a gate: a gate must change nothing; use \"wait.healthy\" or a read-only \"ssh.exec\""
                ),
            );
            return None;
        }
        Some(kind)
    }

    fn on_failure(&mut self, entry: Option<&Entry>, prefix: &str) -> OnFailure {
        let Some(text) = optional_string(entry, prefix, &mut self.d) else {
            return OnFailure::default();
        };
        match text.as_str() {
            "stop" => OnFailure::Stop,
            "continue" => OnFailure::Continue,
            _ => {
                if let Some(e) = entry {
                    self.d.push(
                        e.node.pos,
                        format!("{prefix}`on_failure` is \"stop\" or \"continue\", not \"{text}\""),
                    );
                }
                OnFailure::default()
            }
        }
    }

    /// Check a `targets` selector: its references, and the selector grammar with the values
    /// parameters have so far.
    fn targets(&mut self, entry: Option<&Entry>, prefix: &str) -> Option<String> {
        let e = entry?;
        let text = optional_string(Some(e), prefix, &mut self.d)?;
        let mut s = Substituter::new(&self.values);
        match s.text(&text, false) {
            Err(m) => self.d.push(e.node.pos, format!("{prefix}`targets`: {m}")),
            Ok(selector) => {
                if let Err(m) = parse_selector(&selector) {
                    let note = placeholder_note(&s.used, &self.placeholders);
                    self.d
                        .push(e.node.pos, format!("{prefix}`targets`: {m}{note}"));
                }
            }
        }
        Some(text)
    }

    fn waves(&mut self, entry: Option<&Entry>, prefix: &str) -> Waves {
        let Some(e) = entry else {
            return Waves::default();
        };
        let Value::Array(items) = &e.node.value else {
            self.d.push(
                e.node.pos,
                type_error(e, prefix, "an array such as [1, \"10%\", \"100%\"]"),
            );
            return Waves::default();
        };
        let mut waves = Vec::new();
        for item in items {
            let wave = match &item.value {
                Value::Integer(n) if *n >= 1 => usize::try_from(*n)
                    .map(Wave::Count)
                    .map_err(|_| format!("{n} is too large")),
                Value::Integer(n) => Err(format!("a wave of {n} targets does nothing")),
                Value::String(s) => {
                    Wave::parse_percent(s).map_err(|m| format!("{m}{}", no_params_hint(s)))
                }
                other => Err(format!(
                    "a wave is a count such as 5 or a share such as \"10%\", not {}",
                    other.type_name()
                )),
            };
            match wave {
                Ok(w) => waves.push(w),
                Err(m) => self.d.push(item.pos, format!("{prefix}`waves`: {m}")),
            }
        }
        if waves.len() != items.len() {
            return Waves::default();
        }
        Waves::new(waves).unwrap_or_else(|problems| {
            for (i, m) in problems {
                let pos = items.get(i).map_or(e.node.pos, |n| n.pos);
                self.d.push(pos, format!("{prefix}`waves`: {m}"));
            }
            Waves::default()
        })
    }

    fn concurrency(&mut self, entry: Option<&Entry>, prefix: &str) -> Option<usize> {
        let e = entry?;
        let n = match e.node.value {
            Value::Integer(n) => usize::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_CONCURRENCY).contains(n)),
            _ => None,
        };
        if n.is_none() {
            self.d.push(
                e.node.pos,
                format!("{prefix}`concurrency` must be an integer from 1 to {MAX_CONCURRENCY}"),
            );
        }
        n
    }

    fn failure_budget(&mut self, entry: Option<&Entry>, prefix: &str) -> FailureBudget {
        let Some(e) = entry else {
            return FailureBudget::default();
        };
        let budget = match &e.node.value {
            Value::Integer(n) => usize::try_from(*n)
                .map(FailureBudget::Count)
                .map_err(|_| format!("{n} is negative")),
            Value::String(s) => {
                FailureBudget::parse_percent(s).map_err(|m| format!("{m}{}", no_params_hint(s)))
            }
            other => Err(format!(
                "a count such as 2 or a share such as \"10%\", not {}",
                other.type_name()
            )),
        };
        budget.unwrap_or_else(|m| {
            self.d
                .push(e.node.pos, format!("{prefix}`failure_budget`: {m}"));
            FailureBudget::default()
        })
    }

    fn gate(&mut self, entry: &Entry, step_prefix: &str) -> Option<Gate> {
        let prefix = format!("{} gate: ", step_prefix.trim_end_matches(": "));
        let Value::Table(fields) = &entry.node.value else {
            self.d.push(
                entry.node.pos,
                type_error(entry, step_prefix, "a table ([steps.gate])"),
            );
            return None;
        };
        check_keys(fields, GATE_KEYS, &prefix, "a gate", &mut self.d);
        let pos = entry.key_pos;
        let action = self.action(fields, pos, &prefix, true);
        let description = optional_string(find(fields, "description"), &prefix, &mut self.d);
        let timeout = optional_duration(find(fields, "timeout"), &prefix, &mut self.d);
        let targets_entry = find(fields, "targets");
        let targets = match (action, targets_entry) {
            (Some(ActionKind::WaitHealthy), Some(e)) => {
                self.d.push(
                    e.key_pos,
                    format!("{prefix}wait.healthy probes API endpoints (under `with`), so `targets` does not apply"),
                );
                None
            }
            _ => self.targets(targets_entry, &prefix),
        };
        let with_entry = find(fields, "with");
        let with_pos = with_entry.map_or(pos, |e| e.key_pos);
        if let Some(kind) = action {
            type_args(
                kind,
                with_entry.map(|e| &e.node),
                with_pos,
                &self.values,
                &self.placeholders,
                &prefix,
                &mut self.d,
            );
        }
        Some(Gate {
            action: action?,
            description,
            targets,
            timeout,
            with: with_entry.map(|e| e.node.clone()),
            with_pos,
            targets_pos: targets_entry.map_or(pos, |e| e.node.pos),
        })
    }

    /// A confirmation is the operator typing the cluster name, which the runbook must declare.
    fn check_confirm_has_cluster(&mut self, steps: &[Step], params: &[Param]) {
        let has_cluster = params
            .iter()
            .any(|p| p.name == "cluster" && matches!(p.ty, ParamType::String | ParamType::Cluster));
        if has_cluster {
            return;
        }
        if let Some(step) = steps.iter().find(|s| s.confirm) {
            self.d.push(
                step.pos,
                format!(
                    "step `{}`: {} asks the operator to type the cluster name first, so the runbook needs a \
                     `cluster` parameter of type cluster (or set `confirm = false`)",
                    step.id, step.action
                ),
            );
        }
    }
}

fn known_kinds() -> String {
    ActionKind::ALL
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn placeholder_note(used: &BTreeSet<String>, placeholders: &BTreeSet<String>) -> String {
    let names: Vec<String> = used
        .intersection(placeholders)
        .map(|n| format!("${{{n}}}"))
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!(
            " (checked with a placeholder for {}, which has no default)",
            names.join(", ")
        )
    }
}

/// The field serde says is missing, from "missing field `x`".
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
}

/// Type a step's (or gate's) `with` table for `kind`, with `${param}` substituted from `values`,
/// reporting every problem at the key or value it belongs to. `anchor` is where problems of the
/// table as a whole go (a missing argument). Returns `None` if anything was reported.
pub(crate) fn type_args(
    kind: ActionKind,
    with: Option<&Node>,
    anchor: Pos,
    values: &BoundParams,
    placeholders: &BTreeSet<String>,
    prefix: &str,
    d: &mut Diags,
) -> Option<ActionArgs> {
    let before = d.len();
    let entries: &[Entry] = match with {
        None => &[],
        Some(Node {
            value: Value::Table(entries),
            ..
        }) => entries,
        Some(node) => {
            d.push(
                node.pos,
                format!(
                    "{prefix}`with` must be a table of {kind}'s arguments, not {}",
                    node.value.type_name()
                ),
            );
            return None;
        }
    };
    let fields = kind.fields();
    let mut table = toml::map::Map::new();
    // Where each argument is, and which placeholders it used, to place later problems.
    let mut located: Vec<(&str, Pos, String)> = Vec::new();
    for e in entries {
        if !fields.contains(&e.key.as_str()) {
            d.push(
                e.key_pos,
                format!(
                    "{prefix}unknown argument `{}` for {kind}{}; its arguments are: {}",
                    e.key,
                    did_you_mean(&e.key, fields.iter().copied()),
                    fields.join(", ")
                ),
            );
            continue;
        }
        let mut s = Substituter::new(values);
        let shell = kind.shell_fields().contains(&e.key.as_str());
        match s.node(&e.node, shell) {
            Err(problems) => {
                for (pos, m) in problems {
                    d.push(pos, format!("{prefix}`{}`: {m}", e.key));
                }
            }
            Ok(value) => {
                let note = placeholder_note(&s.used, placeholders);
                // Type this argument alone, so each bad argument is reported at its own line
                // (serde would stop at the first). Other arguments being absent is fine here.
                let mut alone = toml::map::Map::new();
                alone.insert(e.key.clone(), value.clone());
                if let Err(m) = kind.parse_args(toml::Value::Table(alone))
                    && missing_field(&m).is_none()
                {
                    d.push(e.node.pos, format!("{prefix}`{}`: {m}{note}", e.key));
                }
                table.insert(e.key.clone(), value);
                located.push((e.key.as_str(), e.node.pos, note));
            }
        }
    }
    if d.len() > before {
        return None;
    }
    let args = match kind.parse_args(toml::Value::Table(table)) {
        Ok(args) => args,
        Err(m) => {
            let message = match missing_field(&m) {
                Some(field) => {
                    format!("{prefix}{kind} needs the argument `{field}` (under `with`)")
                }
                None => format!("{prefix}{m}"),
            };
            d.push(anchor, message);
            return None;
        }
    };
    let locate = |field: &str| {
        located
            .iter()
            .find(|(k, _, _)| *k == field)
            .map_or((anchor, ""), |(_, pos, note)| (*pos, note.as_str()))
    };
    for problem in args.validate() {
        match problem.field {
            Some(field) => {
                let (pos, note) = locate(field);
                d.push(pos, format!("{prefix}`{field}`: {}{note}", problem.message));
            }
            None => d.push(anchor, format!("{prefix}{kind}: {}", problem.message)),
        }
    }
    for (field, selector) in args.selectors() {
        if let Err(m) = parse_selector(selector) {
            let (pos, note) = locate(field);
            d.push(pos, format!("{prefix}`{field}`: {m}{note}"));
        }
    }
    (d.len() == before).then_some(args)
}
