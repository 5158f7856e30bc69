//! What a block by added rules shares, whichever cloud holds them (a GCP VPC firewall, an Azure
//! network security group): an allow rule for `allow` and the peers at the lever's priority,
//! then a deny rule for everyone else at the next one, both on the API's ports. Neither cloud
//! takes exclusions in a deny rule, so the allow rule before it keeps the break-glass ranges
//! open; the allow rule goes in first and comes out last, so no moment cuts them.
//!
//! The rules are the marker: their names (`bg-block-HASH-allow`, `-deny`, the hash of the
//! run-and-step marker) and their description (`breakglass/block/RUN/STEP: ...`) tell `resume`
//! and `unblock` which run made them.

use std::time::{Duration, Instant};

use ipnet::IpNet;
use sha2::Digest;

use super::{Block, Change, MARKER_FAMILY, Marked, listed};
use crate::actions::contract::{ActionFailure, Preflight};
use crate::outcome::Outcome;

/// Every rule a block adds is named with this first.
pub(super) const RULE_PREFIX: &str = "bg-block-";

/// A rule of either cloud, as the block reasons about it.
pub(super) trait LeverRule: Clone + PartialEq {
    fn name(&self) -> &str;
    fn description(&self) -> &str;
    fn priority(&self) -> u32;
    fn allows(&self) -> bool;
    fn sources(&self) -> &[String];
    /// Whether it covers TCP `port` (its protocol and port ranges).
    fn opens(&self, port: u16) -> bool;
}

/// Whether a port list (`443`, `6000-7000`, `*`; empty: every port) covers `port`.
pub(super) fn ports_cover(ports: &[String], port: u16) -> bool {
    ports.is_empty()
        || ports.iter().any(|p| {
            let p = p.trim();
            if p == "*" {
                return true;
            }
            match p.split_once('-') {
                Some((a, b)) => a
                    .parse::<u16>()
                    .ok()
                    .zip(b.parse::<u16>().ok())
                    .is_some_and(|(a, b)| (a..=b).contains(&port)),
                None => p.parse::<u16>().ok() == Some(port),
            }
        })
}

/// `bg-block-0123456789`: the names' stem for a marker.
pub(super) fn stem(marker: &str) -> String {
    let digest = sha2::Sha256::digest(marker.as_bytes());
    format!("{RULE_PREFIX}{}", &hex::encode(digest)[..10])
}

/// The marker a rule of a block carries in its description, if it is one.
pub(super) fn marker_of<R: LeverRule>(r: &R) -> Option<String> {
    if !r.name().starts_with(RULE_PREFIX) {
        return None;
    }
    let (marker, _) = r.description().split_once(": ")?;
    marker.starts_with(MARKER_FAMILY).then(|| marker.to_owned())
}

/// The two rules of a block, allow first: `make(name, priority, allow, sources, description)`.
pub(super) fn planned<R>(
    b: &Block,
    priority: u32,
    marker: &str,
    make: impl Fn(String, u32, bool, Vec<String>, String) -> R,
) -> Vec<R> {
    let stem = stem(marker);
    let keep: Vec<String> = b
        .allow
        .iter()
        .chain(&b.peers)
        .map(ToString::to_string)
        .collect();
    vec![
        make(
            format!("{stem}-allow"),
            priority,
            true,
            keep,
            format!("{marker}: allowed while blocked"),
        ),
        make(
            format!("{stem}-deny"),
            priority + 1,
            false,
            vec!["0.0.0.0/0".to_owned()],
            format!("{marker}: denied while blocked"),
        ),
    ]
}

/// The rules made by blocks among `rules`, by marker, oldest first (by marker order).
pub(super) fn markers<R: LeverRule>(rules: &[R], wrap: impl Fn(Vec<R>) -> Change) -> Vec<Marked> {
    let mut by: std::collections::BTreeMap<String, Vec<R>> = std::collections::BTreeMap::new();
    for r in rules {
        if let Some(m) = marker_of(r) {
            by.entry(m).or_default().push(r.clone());
        }
    }
    by.into_iter()
        .map(|(marker, mut rules)| {
            // Allow first: they are made in that order, and removed in the other.
            rules.sort_by_key(|r| !r.allows());
            Marked {
                marker,
                change: wrap(rules),
            }
        })
        .collect()
}

fn inside(a: &IpNet, set: &[IpNet]) -> bool {
    set.iter().any(|k| k.contains(a))
}

/// What a block would do on a lever whose rules are `existing` (the block's own left out):
/// refused when it cuts the operator; notes on the rules before its deny that still let others
/// in. `what`: `VPC firewall rule`, `NSG rule`.
pub(super) fn preflight<R: LeverRule>(
    b: &Block,
    existing: &[R],
    priority: u32,
    what: &str,
) -> Preflight {
    let mut p = operator_check(b);
    let keep: Vec<IpNet> = b.allow.iter().chain(&b.peers).copied().collect();
    for r in existing.iter().filter(|r| {
        r.allows() && r.priority() <= priority && b.ports.iter().any(|port| r.opens(*port))
    }) {
        let open: Vec<&String> = r
            .sources()
            .iter()
            .filter(|s| s.parse::<IpNet>().map_or(true, |n| !inside(&n, &keep)))
            .collect();
        if !open.is_empty() {
            p.notes.push(format!(
                "{what} {} (priority {}) comes before the deny and still lets {} reach the API: \
                 the block does not stop them (give the block a lower `priority` number in the \
                 inventory)",
                r.name(),
                r.priority(),
                listed(&open)
            ));
        }
    }
    p
}

/// A block that keeps `allow` and the peers: refused when `allow` is empty or the operator's
/// address is outside them.
pub(super) fn operator_check(b: &Block) -> Preflight {
    let mut p = Preflight::default();
    let keep: Vec<IpNet> = b.allow.iter().chain(&b.peers).copied().collect();
    if b.allow.is_empty() {
        p.refusals.push(
            "`allow` is empty: the block would leave nobody able to reach the API, you included"
                .into(),
        );
    }
    if b.operator.is_empty() {
        p.notes.push(
            "the operator's egress address is unknown (--operator-cidr, or operator_cidrs in the \
             inventory): check that `allow` covers it, or the block cuts you off too"
                .into(),
        );
    }
    for o in b.operator.iter().filter(|o| !inside(o, &keep)) {
        p.refusals.push(format!(
            "the block would cut the operator's address {o} from the API: add it to `allow`"
        ));
    }
    p
}

/// A call about one rule: whether it is there; or make (remove) it, following the operation
/// until the instant given, true when done.
type RuleCall<'a, R, A> = Box<dyn Fn(&R, A) -> Result<bool, ActionFailure> + 'a>;

/// The rules now, and the names of those still being provisioned.
type Read<'a, R> = Box<dyn Fn() -> Result<(Vec<R>, Vec<String>), ActionFailure> + 'a>;

/// The calls through which one cloud holds a lever's rules.
pub(super) struct Calls<'a, R> {
    /// Whether the rule is there as made (and done being provisioned).
    pub present: RuleCall<'a, R, ()>,
    pub make: RuleCall<'a, R, Instant>,
    pub remove: RuleCall<'a, R, Instant>,
    pub read: Read<'a, R>,
}

/// Makes (removes) the rules of `changes`, newest block last (first when removing), each
/// change followed to completion until `wait` runs out: then the target is `pending` and the
/// rules not made yet wait for `resume` (a deny is never made before its allow is in place).
pub(super) fn apply<R: LeverRule>(
    changes: &[Marked],
    rules_of: fn(&Marked) -> &[R],
    forward: bool,
    wait: Duration,
    subject: &str,
    calls: &Calls<'_, R>,
) -> Result<crate::actions::contract::Applied, ActionFailure> {
    let until = Instant::now() + wait;
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    let mut ordered: Vec<&R> = changes.iter().flat_map(|m| rules_of(m).iter()).collect();
    if !forward {
        ordered.reverse();
    }
    for r in ordered {
        let there = (calls.present)(r, ())?;
        let done = match (forward, there) {
            (true, false) => {
                added.push(r.name().to_owned());
                (calls.make)(r, until)?
            }
            (false, true) => {
                removed.push(r.name().to_owned());
                (calls.remove)(r, until)?
            }
            _ => true,
        };
        if !done {
            return Err(ActionFailure {
                outcome: Outcome::Pending,
                message: format!(
                    "{subject}: {} rule {} not done after {}; the rules after it wait. \
                     `breakglass resume RUN` goes on, `breakglass undo RUN` removes what was made",
                    if forward { "making" } else { "removing" },
                    r.name(),
                    humantime::format_duration(Duration::from_secs(wait.as_secs()))
                ),
                never_ran: false,
            });
        }
    }
    Ok(crate::actions::contract::Applied {
        summary: format!(
            "{subject}: added {} ({}), removed {} ({})",
            added.len(),
            listed(&added),
            removed.len(),
            listed(&removed)
        ),
        detail: serde_json::json!({"added": added, "removed": removed}),
    })
}

/// Reads the rules back until the changes hold and none of them is still being provisioned.
pub(super) fn verify<R: LeverRule>(
    cx: &dyn crate::actions::context::Context,
    changes: &[Marked],
    rules_of: fn(&Marked) -> &[R],
    forward: bool,
    wait: Duration,
    subject: &str,
    calls: &Calls<'_, R>,
) -> Result<(), ActionFailure> {
    crate::actions::cloud::poll(
        cx,
        wait,
        &format!("the rules of {subject}"),
        "`breakglass resume RUN` looks again, `breakglass undo RUN` removes the block's rules",
        || {
            let (now, provisioning) = (calls.read)()?;
            let wrong: Vec<String> = changes
                .iter()
                .filter_map(|m| check(rules_of(m), &now, forward))
                .collect();
            if !wrong.is_empty() {
                return Err(ActionFailure::failed(format!(
                    "{subject} read back after the change: {}: the change did not hold",
                    wrong.join("; ")
                )));
            }
            let mine: Vec<&String> = provisioning
                .iter()
                .filter(|n| {
                    changes
                        .iter()
                        .any(|m| rules_of(m).iter().any(|r| r.name() == n.as_str()))
                })
                .collect();
            Ok((!mine.is_empty()).then(|| format!("rules {} still provisioning", listed(&mine))))
        },
    )
}

/// What is wrong with `now` after the change: the rules that should be there and are not (or
/// are not as made), and those still there that should be gone.
fn check<R: LeverRule>(rules: &[R], now: &[R], forward: bool) -> Option<String> {
    let (mut missing, mut still) = (Vec::new(), Vec::new());
    for r in rules {
        let found = now.iter().find(|n| n.name() == r.name());
        match (forward, found) {
            (true, Some(n)) if n == r => {}
            (true, _) => missing.push(r.name().to_owned()),
            (false, Some(_)) => still.push(r.name().to_owned()),
            (false, None) => {}
        }
    }
    (!missing.is_empty() || !still.is_empty()).then(|| {
        format!(
            "missing or changed: {}; still there: {}",
            listed(&missing),
            listed(&still)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_lists_cover_ranges_stars_and_everything() {
        let p = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(ports_cover(&p(&[]), 6443));
        assert!(ports_cover(&p(&["*"]), 6443));
        assert!(ports_cover(&p(&["6000-7000"]), 6443));
        assert!(ports_cover(&p(&["22", "6443"]), 6443));
        assert!(!ports_cover(&p(&["22", "443"]), 6443));
        assert_eq!(stem("breakglass/block/r/s").len(), RULE_PREFIX.len() + 10);
    }
}
