//! The arguments of the actions that act through a cloud provider's API: `nodes.scale`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ArgProblem;
use super::values::duration;

/// `nodes.scale`: set the desired capacity of cloud node groups (EC2 Auto Scaling groups, EKS
/// managed node groups) named in the inventory's `[clusters.NAME.aws] node_groups`, and wait
/// until the instances in service match. The minimum is lowered (the maximum raised) when the
/// new desired capacity needs it; the sizes before (min, max, desired) are journaled, and also
/// kept in a tag on the group (`breakglass/prior/RUN/STEP`) so a resumed run still knows them.
/// `undo` restores min, max and desired exactly and removes the tag.
///
/// Exactly one of `to` and `by`. Example: `node_groups = ["workers-a"]`, `to = "30%"`.
/// IAM permissions: `autoscaling:DescribeAutoScalingGroups`, `UpdateAutoScalingGroup`,
/// `CreateOrUpdateTags`, `DeleteTags`; for EKS `eks:DescribeNodegroup`,
/// `UpdateNodegroupConfig`, `TagResource`, `UntagResource`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodesScale {
    /// The node groups to scale, by their inventory names. Default: every node group of the
    /// cluster.
    #[serde(default)]
    pub node_groups: Option<Vec<String>>,
    /// The new desired capacity: a count (`to = 3`) or a share of the current desired capacity
    /// (`to = "30%"`, rounded up, so a group that had instances keeps at least one).
    #[serde(default)]
    pub to: Option<ScaleTo>,
    /// Or a change to the current desired capacity (`by = -2`); never below zero.
    #[serde(default)]
    pub by: Option<i64>,
    /// The inventory cluster whose node groups these are. Default: the runbook's `cluster`.
    #[serde(default)]
    pub cluster: Option<String>,
    /// How long verify waits for the instances in service to reach the new desired capacity
    /// (an EKS node group: to be ACTIVE again). Past it the target is `pending`: the change
    /// stands, `resume` waits again and `undo` restores. Default "10m"; "0s" only checks that
    /// the new sizes hold.
    #[serde(default = "default_wait", with = "duration")]
    pub wait: Duration,
}

fn default_wait() -> Duration {
    Duration::from_secs(600)
}

impl NodesScale {
    pub(super) fn validate(&self) -> Vec<ArgProblem> {
        let mut problems = Vec::new();
        match (&self.to, self.by) {
            (None, None) => problems.push(ArgProblem::whole(
                "say how far to scale: `to = N`, `to = \"30%\"` or `by = -N`",
            )),
            (Some(_), Some(_)) => {
                problems.push(ArgProblem::at("by", "`to` and `by` both set; keep one"));
            }
            (None, Some(0)) => problems.push(ArgProblem::at("by", "`by = 0` changes nothing")),
            (Some(ScaleTo::Percent(p)), None) if *p > 1000 => problems.push(ArgProblem::at(
                "to",
                format!("{p}% is more than ten times the current size; expected at most 1000%"),
            )),
            _ => {}
        }
        if self.node_groups.as_ref().is_some_and(Vec::is_empty) {
            problems.push(ArgProblem::at(
                "node_groups",
                "an empty list scales nothing; omit `node_groups` to scale every node group of the cluster",
            ));
        }
        problems
    }
}

/// `to`: a count, or a percentage of the current desired capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleTo {
    Count(u32),
    Percent(u32),
}

impl ScaleTo {
    /// The new desired capacity for a group that now wants `current`.
    pub fn of(self, current: u32) -> u32 {
        match self {
            ScaleTo::Count(n) => n,
            ScaleTo::Percent(p) => {
                let scaled = (u64::from(current) * u64::from(p)).div_ceil(100);
                u32::try_from(scaled).unwrap_or(u32::MAX)
            }
        }
    }
}

impl fmt::Display for ScaleTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScaleTo::Count(n) => write!(f, "{n}"),
            ScaleTo::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for ScaleTo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ScaleTo::Count(n) => s.serialize_u32(*n),
            ScaleTo::Percent(_) => s.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for ScaleTo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ScaleTo, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ScaleTo;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count such as 3 or a percentage such as \"30%\"")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ScaleTo, E> {
                u32::try_from(v)
                    .map(ScaleTo::Count)
                    .map_err(|_| E::custom(format!("{v} is not a count of instances")))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ScaleTo, E> {
                u32::try_from(v)
                    .map(ScaleTo::Count)
                    .map_err(|_| E::custom(format!("{v} is not a count of instances")))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ScaleTo, E> {
                let t = v.trim();
                let bad = || {
                    E::custom(format!(
                        "`{v}` is neither a count nor a percentage; write e.g. 3 or \"30%\""
                    ))
                };
                match t.strip_suffix('%') {
                    Some(p) => p.trim().parse().map(ScaleTo::Percent).map_err(|_| bad()),
                    None => t.parse().map(ScaleTo::Count).map_err(|_| bad()),
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(with: &str) -> Result<NodesScale, String> {
        toml::from_str(with).map_err(|e| e.message().to_owned())
    }

    #[test]
    fn to_is_a_count_or_a_percentage_and_by_a_change() {
        assert_eq!(args("to = 3").expect("count").to, Some(ScaleTo::Count(3)));
        assert_eq!(
            args("to = \"30%\"").expect("percent").to,
            Some(ScaleTo::Percent(30))
        );
        assert_eq!(
            args("to = \"4\"").expect("count").to,
            Some(ScaleTo::Count(4))
        );
        assert!(
            args("to = -1")
                .expect_err("negative")
                .contains("not a count")
        );
        assert!(
            args("to = \"lots\"")
                .expect_err("words")
                .contains("write e.g. 3")
        );
        assert_eq!(ScaleTo::Percent(30).of(10), 3);
        assert_eq!(ScaleTo::Percent(30).of(1), 1, "rounded up");
        assert_eq!(ScaleTo::Percent(0).of(10), 0);
        let a = args("by = -2\nnode_groups = [\"workers-a\"]").expect("by");
        assert_eq!((a.by, a.wait), (Some(-2), Duration::from_secs(600)));
        assert!(a.validate().is_empty());
        // Serialized as written, so the journal records what ran.
        assert_eq!(
            toml::to_string(&args("to = \"30%\"").expect("percent")).expect("toml"),
            "to = \"30%\"\nwait = \"10m\"\n"
        );
    }

    #[test]
    fn one_way_to_say_how_far() {
        let fields = |with: &str| -> Vec<Option<&'static str>> {
            args(with)
                .expect("parses")
                .validate()
                .into_iter()
                .map(|p| p.field)
                .collect()
        };
        assert_eq!(fields(""), [None]);
        assert_eq!(fields("to = 1\nby = -1"), [Some("by")]);
        assert_eq!(fields("by = 0"), [Some("by")]);
        assert_eq!(fields("to = \"5000%\""), [Some("to")]);
        assert_eq!(fields("to = 1\nnode_groups = []"), [Some("node_groups")]);
    }
}
