//! The runbook's types after loading: metadata, parameters and steps, with the rollout policy
//! (waves, failure budget) each step carries. The loader (`validate`) builds them; `resolve`
//! turns them into the typed steps the engine runs.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::diagnostic::Pos;
use super::params::Param;
use super::tree::Node;
use crate::actions::args::ActionKind;

/// A loaded, validated runbook. Its `${param}` references are still unresolved: see
/// [`super::bind`] and [`super::resolve`].
#[derive(Debug, Clone, PartialEq)]
pub struct Runbook {
    /// Where it came from, as diagnostics name it: a path, or `embedded:NAME.toml`.
    pub origin: String,
    /// `sha256:<hex>` of the file's bytes, journaled so a run records exactly what it ran.
    pub digest: String,
    /// The file's text, for `runbook show`.
    pub source: String,
    pub name: String,
    pub summary: String,
    pub description: String,
    /// In declaration order.
    pub params: Vec<Param>,
    /// In execution order.
    pub steps: Vec<Step>,
}

impl Runbook {
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }
}

/// One step: an action applied to targets in waves.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    pub action: ActionKind,
    pub description: Option<String>,
    /// The selector, possibly with `${param}` references. `None` for kinds without targets.
    pub targets: Option<String>,
    pub waves: Waves,
    /// `None`: the run's `--concurrency`.
    pub concurrency: Option<usize>,
    pub failure_budget: FailureBudget,
    pub on_failure: OnFailure,
    /// Per target. `None`: the run's command timeout.
    pub timeout: Option<Duration>,
    /// Whether the operator types the cluster name before this step (the kind's default unless
    /// the runbook says otherwise).
    pub confirm: bool,
    pub gate: Option<Gate>,
    /// Run this step only if that earlier step could not reach its targets (every failure
    /// unreachable, timed out or throttled): a fallback, e.g. `etcd.delete` when no API server
    /// answered `workload.pause`. Skipped otherwise.
    pub run_if_unreachable: Option<String>,
    /// Targets that could not be reached before anything ran on them (TCP refused, no route,
    /// a connect deadline) are reported but not counted as failures: for steps after a
    /// node-group shrink, whose terminated nodes cannot answer (Ansible's `ignore_unreachable`).
    pub ignore_unreachable: bool,
    /// When the inventory names nothing for this step to act on (no node groups, no control
    /// plane group, nothing to firewall in the cluster), skip it instead of refusing the run:
    /// one runbook for clusters with and without cloud resources. Cloud kinds only.
    pub skip_if_none: bool,
    pub(crate) run_if_pos: Pos,
    /// `run_if = "${PARAM}"`: the `bool` parameter that must be true for the step to run; a
    /// false one leaves the step out of the resolved run (not planned, not run, not journaled).
    pub run_if: Option<String>,
    /// The `with` table, unresolved, with positions for diagnostics at resolve time.
    pub(crate) with: Option<Node>,
    /// Where problems with the arguments as a whole are reported: the `with` key, or the step.
    pub(crate) with_pos: Pos,
    pub(crate) targets_pos: Pos,
    /// The step's table (its `[[steps]]` header).
    pub(crate) pos: Pos,
}

/// A check run between waves and after the step; if it does not pass within its timeout the
/// run stops (exit 3).
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    /// `wait.healthy` or a read-only `ssh.exec`.
    pub action: ActionKind,
    pub description: Option<String>,
    /// For `ssh.exec`: where to run it. `None`: on the step's targets done so far.
    pub targets: Option<String>,
    /// `None`: `wait.healthy`'s own `timeout`, or 5m for `ssh.exec`.
    pub timeout: Option<Duration>,
    pub(crate) with: Option<Node>,
    pub(crate) with_pos: Pos,
    pub(crate) targets_pos: Pos,
}

/// One wave of a step, cumulative: after it, this many targets (or this share) are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wave {
    Count(usize),
    /// 1 to 100.
    Percent(u8),
}

impl Wave {
    /// How many targets are done after this wave, out of `total` (a share rounds up, so "1%"
    /// of 10 hosts is one host, never zero).
    pub fn cumulative(self, total: usize) -> usize {
        match self {
            Self::Count(n) => n.min(total),
            Self::Percent(p) => (total * usize::from(p)).div_ceil(100).min(total),
        }
    }

    /// Parse the text form of a share, `"10%"`.
    pub fn parse_percent(text: &str) -> Result<Self, String> {
        parse_percent(text).and_then(|p| {
            if p == 0 {
                Err("a wave of 0% does nothing".to_owned())
            } else {
                Ok(Self::Percent(p))
            }
        })
    }
}

impl fmt::Display for Wave {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Count(n) => write!(f, "{n}"),
            Self::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// "N%" with N from 0 to 100.
fn parse_percent(text: &str) -> Result<u8, String> {
    let share = text
        .strip_suffix('%')
        .and_then(|n| n.parse::<u8>().ok())
        .ok_or_else(|| format!("`{text}` is not a share such as \"10%\""))?;
    if share > 100 {
        return Err(format!("`{text}` is more than 100%"));
    }
    Ok(share)
}

/// A step's waves, validated: strictly growing, counts before shares, the last one "100%".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waves(Vec<Wave>);

impl Default for Waves {
    /// One wave with every target.
    fn default() -> Self {
        Self(vec![Wave::Percent(100)])
    }
}

impl Waves {
    /// Check a list of waves; the error names the index of the offending wave.
    pub fn new(waves: Vec<Wave>) -> Result<Self, Vec<(usize, String)>> {
        let mut problems = Vec::new();
        if waves.is_empty() {
            problems.push((0, "list at least one wave, e.g. [\"100%\"]".to_owned()));
        }
        for (i, pair) in waves.windows(2).enumerate() {
            let message = match (pair[0], pair[1]) {
                (Wave::Count(a), Wave::Count(b)) if b <= a => {
                    format!(
                        "wave {b} does not grow: waves are cumulative, so each must be larger than the one before ({a})"
                    )
                }
                (Wave::Percent(a), Wave::Percent(b)) if b <= a => {
                    format!(
                        "wave {b}% does not grow: waves are cumulative, so each must be larger than the one before ({a}%)"
                    )
                }
                (Wave::Percent(_), Wave::Count(b)) => format!(
                    "a count ({b}) after a share cannot be ordered for every fleet size; list counts first, e.g. [1, 10, \"50%\", \"100%\"]"
                ),
                _ => continue,
            };
            problems.push((i + 1, message));
        }
        if let Some(last) = waves.last()
            && *last != Wave::Percent(100)
        {
            problems.push((
                waves.len() - 1,
                format!("the last wave is {last}; it must be \"100%\" so every target is covered"),
            ));
        }
        if problems.is_empty() {
            Ok(Self(waves))
        } else {
            Err(problems)
        }
    }

    pub fn as_slice(&self) -> &[Wave] {
        &self.0
    }

    /// The number of targets in each wave, out of `total`. Waves that would be empty (two
    /// cumulative sizes rounding to the same count on a small fleet) are left out; the sizes
    /// always add up to `total`.
    pub fn sizes(&self, total: usize) -> Vec<usize> {
        let mut sizes = Vec::new();
        let mut done = 0;
        for wave in &self.0 {
            let upto = wave.cumulative(total);
            if upto > done {
                sizes.push(upto - done);
                done = upto;
            }
        }
        if done < total {
            // Unreachable for validated waves (the last is 100%); kept so no target is dropped.
            sizes.push(total - done);
        }
        sizes
    }
}

impl fmt::Display for Waves {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "[{}]", parts.join(", "))
    }
}

/// How many targets of a wave may fail before the step stops: a count, or a share of the wave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureBudget {
    /// Default 0: any failure stops the step.
    Count(usize),
    /// 0 to 100.
    Percent(u8),
}

impl Default for FailureBudget {
    fn default() -> Self {
        Self::Count(0)
    }
}

impl FailureBudget {
    /// Failures tolerated in a wave of `wave_size` targets. A share rounds down, so "10%" of a
    /// 5-host canary wave tolerates none: the budget never allows more than it says.
    pub fn allowed(self, wave_size: usize) -> usize {
        match self {
            Self::Count(n) => n,
            Self::Percent(p) => wave_size * usize::from(p) / 100,
        }
    }

    pub fn parse_percent(text: &str) -> Result<Self, String> {
        parse_percent(text).map(Self::Percent)
    }
}

impl fmt::Display for FailureBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Count(n) => write!(f, "{n}"),
            Self::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// What happens when a wave exceeds its failure budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Stop the run (exit 3). Default.
    #[default]
    Stop,
    /// Skip the rest of this step and go on with the next one; the run ends with exit 1.
    Continue,
}

impl OnFailure {
    pub fn name(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Continue => "continue",
        }
    }
}

// Waves and budgets are serialized the way runbooks write them (5 or "10%"), so the journal
// reads like the runbook.

fn serialize_count_or_share<S: Serializer>(
    count: Option<usize>,
    share: u8,
    s: S,
) -> Result<S::Ok, S::Error> {
    match count {
        Some(n) => n.serialize(s),
        None => s.serialize_str(&format!("{share}%")),
    }
}

enum CountOrShare {
    Count(usize),
    Share(String),
}

impl<'de> Deserialize<'de> for CountOrShare {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = CountOrShare;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count such as 5 or a share such as \"10%\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<CountOrShare, E> {
                usize::try_from(v)
                    .map(CountOrShare::Count)
                    .map_err(|_| E::custom("count too large"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<CountOrShare, E> {
                usize::try_from(v)
                    .map(CountOrShare::Count)
                    .map_err(|_| E::custom("a count cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CountOrShare, E> {
                Ok(CountOrShare::Share(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Wave {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Self::Count(n) => serialize_count_or_share(Some(n), 0, s),
            Self::Percent(p) => serialize_count_or_share(None, p, s),
        }
    }
}

impl<'de> Deserialize<'de> for Wave {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match CountOrShare::deserialize(d)? {
            CountOrShare::Count(0) => Err(de::Error::custom("a wave of 0 targets does nothing")),
            CountOrShare::Count(n) => Ok(Self::Count(n)),
            CountOrShare::Share(s) => Self::parse_percent(&s).map_err(de::Error::custom),
        }
    }
}

impl Serialize for Waves {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Waves {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let waves = Vec::<Wave>::deserialize(d)?;
        Self::new(waves).map_err(|problems| {
            let messages: Vec<String> = problems.into_iter().map(|(_, m)| m).collect();
            de::Error::custom(messages.join("; "))
        })
    }
}

impl Serialize for FailureBudget {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Self::Count(n) => serialize_count_or_share(Some(n), 0, s),
            Self::Percent(p) => serialize_count_or_share(None, p, s),
        }
    }
}

impl<'de> Deserialize<'de> for FailureBudget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match CountOrShare::deserialize(d)? {
            CountOrShare::Count(n) => Ok(Self::Count(n)),
            CountOrShare::Share(s) => Self::parse_percent(&s).map_err(de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waves(list: &[Wave]) -> Waves {
        Waves::new(list.to_vec()).expect("valid waves")
    }

    #[test]
    fn sizes_turn_cumulative_waves_into_per_wave_counts() {
        let w = waves(&[Wave::Count(1), Wave::Percent(50), Wave::Percent(100)]);
        assert_eq!(w.sizes(10), vec![1, 4, 5]);
        assert_eq!(w.sizes(200), vec![1, 99, 100]);
        // Small fleets: waves that round to the same size vanish instead of being empty.
        assert_eq!(w.sizes(2), vec![1, 1]);
        assert_eq!(w.sizes(1), vec![1]);
        assert_eq!(w.sizes(0), Vec::<usize>::new());
        let w = waves(&[Wave::Count(5), Wave::Count(20), Wave::Percent(100)]);
        assert_eq!(w.sizes(8), vec![5, 3]);
        assert_eq!(Waves::default().sizes(7), vec![7]);
        // Shares round up so a canary share is never zero hosts.
        let w = waves(&[Wave::Percent(1), Wave::Percent(100)]);
        assert_eq!(w.sizes(10), vec![1, 9]);
        for total in 0..300 {
            let w = waves(&[
                Wave::Count(1),
                Wave::Count(3),
                Wave::Percent(10),
                Wave::Percent(33),
                Wave::Percent(100),
            ]);
            let sizes = w.sizes(total);
            assert_eq!(sizes.iter().sum::<usize>(), total);
            assert!(sizes.iter().all(|&s| s > 0));
        }
    }

    #[test]
    fn bad_waves_name_the_wave() {
        let problems =
            Waves::new(vec![Wave::Count(5), Wave::Count(5), Wave::Percent(50)]).expect_err("bad");
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].0, 1);
        assert!(problems[0].1.contains("does not grow"));
        assert_eq!(problems[1].0, 2);
        assert!(problems[1].1.contains("must be \"100%\""));
        let problems = Waves::new(vec![Wave::Percent(10), Wave::Count(50), Wave::Percent(100)])
            .expect_err("bad");
        assert!(problems[0].1.contains("list counts first"));
        let problems = Waves::new(vec![
            Wave::Percent(60),
            Wave::Percent(50),
            Wave::Percent(100),
        ])
        .expect_err("bad");
        assert_eq!(problems[0].0, 1);
        assert!(Waves::new(Vec::new()).is_err());
        assert_eq!(
            Wave::parse_percent("0%"),
            Err("a wave of 0% does nothing".to_owned())
        );
        assert!(
            Wave::parse_percent("101%")
                .expect_err("big")
                .contains("more than 100%")
        );
        assert!(Wave::parse_percent("10").is_err());
        assert!(Wave::parse_percent("12.5%").is_err());
    }

    #[test]
    fn budget_allows_count_or_share_rounded_down() {
        assert_eq!(FailureBudget::default().allowed(100), 0);
        assert_eq!(FailureBudget::Count(2).allowed(1), 2);
        assert_eq!(FailureBudget::Percent(10).allowed(5), 0);
        assert_eq!(FailureBudget::Percent(10).allowed(25), 2);
        assert_eq!(FailureBudget::Percent(100).allowed(7), 7);
        assert_eq!(
            FailureBudget::parse_percent("0%"),
            Ok(FailureBudget::Percent(0))
        );
        assert!(FailureBudget::parse_percent("150%").is_err());
    }

    #[test]
    fn serde_uses_the_runbook_form() {
        let w = waves(&[Wave::Count(1), Wave::Percent(10), Wave::Percent(100)]);
        let json = serde_json::to_string(&w).expect("ser");
        assert_eq!(json, r#"[1,"10%","100%"]"#);
        assert_eq!(serde_json::from_str::<Waves>(&json).expect("de"), w);
        assert!(serde_json::from_str::<Waves>("[5, 2]").is_err());
        let b: FailureBudget = serde_json::from_str(r#""5%""#).expect("de");
        assert_eq!(b, FailureBudget::Percent(5));
        assert_eq!(
            serde_json::to_string(&FailureBudget::Count(3)).expect("ser"),
            "3"
        );
    }
}
