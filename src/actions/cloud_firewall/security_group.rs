//! The API servers' security group: which ingress rules a block revokes and adds, its
//! preflight, and the calls that make and check the change.
//!
//! A rule is about the API when it opens one of the step's ports (TCP, or every protocol). Of
//! those, a rule from an address range is revoked unless the range lies inside `allow` or a
//! peer; a rule naming a group is revoked only when the group is in `source_groups`; prefix
//! lists are kept. `allow` is then authorized on each port where no remaining rule covers it.

use super::{Block, Change, Marked, Snapshot, detail, listed, markers};
use crate::actions::cloud::{aws_call, marker_keys, marker_tags};
use crate::actions::contract::{ActionFailure, Applied, Preflight};
use crate::transport::cloud::aws::Aws;
use crate::transport::cloud::aws::ec2::{IngressRule, Revoked, RuleSource, SecurityGroup};
use ipnet::IpNet;

/// What a block does to a group, and whether it may.
pub(super) struct Planned {
    pub revoke: Vec<IngressRule>,
    pub add: Vec<IngressRule>,
    pub preflight: Preflight,
}

fn inside(c: &IpNet, set: &[IpNet]) -> bool {
    set.iter().any(|k| k.contains(c))
}

/// Whether `rules` let `addr` reach `port`.
fn covered(rules: &[&IngressRule], addr: &IpNet, port: u16) -> bool {
    rules
        .iter()
        .any(|r| r.opens(port) && matches!(&r.source, RuleSource::Cidr(c) if c.contains(addr)))
}

/// The block of `b` on a group whose ingress is `rules`.
pub(super) fn plan(b: &Block, rules: &[IngressRule]) -> Planned {
    let mut p = Preflight::default();
    let keep: Vec<IpNet> = b.allow.iter().chain(&b.peers).copied().collect();
    let mut revoke = Vec::new();
    let mut kept_refs = Vec::new();
    for r in rules.iter().filter(|r| b.ports.iter().any(|p| r.opens(*p))) {
        let cut = match &r.source {
            RuleSource::Cidr(c) => !inside(c, &keep),
            RuleSource::Group(g) => {
                let cut = b.source_groups.contains(g);
                if !cut {
                    kept_refs.push(r.source.to_string());
                }
                cut
            }
            RuleSource::PrefixList(_) => {
                kept_refs.push(r.source.to_string());
                false
            }
        };
        if cut {
            revoke.push(r.clone());
        }
    }
    for r in &revoke {
        let wider = r.protocol == "-1"
            || (r.from..=r.to).any(|port| u16::try_from(port).is_ok_and(|p| !b.ports.contains(&p)));
        if wider {
            p.refusals.push(format!(
                "rule `{r}` opens more than the API's ports: revoking it would cut those too \
                 (breakglass revokes whole rules). Narrow it to the API ports first, or list its \
                 ports in `ports`"
            ));
        }
    }
    let remaining: Vec<&IngressRule> = rules.iter().filter(|r| !revoke.contains(r)).collect();
    let mut add = Vec::new();
    for a in &b.allow {
        for port in &b.ports {
            if !covered(&remaining, a, *port) {
                add.push(IngressRule::tcp(*port, *a, Some(b.description.clone())));
            }
        }
    }
    let after: Vec<&IngressRule> = remaining.iter().copied().chain(&add).collect();
    if b.allow.is_empty() {
        p.refusals.push(
            "`allow` is empty: the block would leave nobody able to reach the API, you included"
                .into(),
        );
    }
    let cut = |who: &str, addrs: &[IpNet], out: &mut Vec<String>| {
        for a in addrs {
            let ports: Vec<String> = b
                .ports
                .iter()
                .filter(|port| !covered(&after, a, **port))
                .map(ToString::to_string)
                .collect();
            if !ports.is_empty() {
                out.push(format!(
                    "the block would cut {who} {a} from TCP {}: add it to `allow`",
                    ports.join(", ")
                ));
            }
        }
    };
    if b.operator.is_empty() {
        p.notes.push(
            "the operator's egress address is unknown (--operator-cidr, or operator_cidrs in the \
             inventory): check that `allow` covers it, or the block cuts you off too"
                .into(),
        );
    } else {
        cut("the operator's address", &b.operator, &mut p.refusals);
    }
    cut("the control-plane peer", &b.peers, &mut p.refusals);
    if !kept_refs.is_empty() {
        kept_refs.sort();
        kept_refs.dedup();
        p.notes.push(format!(
            "rules naming {} stay: their members still reach the API (name a group in \
             `source_groups` to cut it)",
            kept_refs.join(", ")
        ));
    }
    if revoke.is_empty() {
        p.notes
            .push("no rule lets anyone else reach the API's ports: nothing to revoke".into());
    } else {
        p.notes.push(
            "security groups do not cut established connections: kubelets' and DaemonSets' open \
             watches keep running until they reconnect; `firewall.block` on the API servers \
             (cut_established) cuts them"
                .into(),
        );
    }
    Planned {
        revoke,
        add,
        preflight: p,
    }
}

fn describe(aws: &Aws, id: &str) -> Result<SecurityGroup, ActionFailure> {
    aws_call(aws.describe_security_group(id), false)?.ok_or_else(|| {
        ActionFailure::refused(format!(
            "security group {id} does not exist in {} (check apiserver_security_group in \
             [clusters.{}.aws] of the inventory)",
            aws.region(),
            aws.cluster()
        ))
    })
}

fn present(g: &SecurityGroup, r: &IngressRule) -> bool {
    g.ingress.iter().any(|x| x.same(r))
}

/// A block's snapshot: the rules now and what the block changes; after an earlier attempt of
/// this run and step (its marker on the group), the rules from before it and its change.
pub(super) fn snapshot_block(
    aws: &Aws,
    id: &str,
    b: &Block,
    marker: &str,
) -> Result<Snapshot, ActionFailure> {
    let g = describe(aws, id)?;
    if let Some(m) = markers(&g.tags, false)
        .into_iter()
        .find(|m| m.marker == marker)
        && let Change::SecurityGroup { revoke, add } = &m.change
    {
        let mut rules: Vec<IngressRule> = g
            .ingress
            .iter()
            .filter(|r| !add.iter().any(|a| a.same(r)))
            .chain(revoke.iter().filter(|r| !present(&g, r)))
            .cloned()
            .collect();
        rules.sort();
        return Ok(Snapshot {
            rules: Some(rules),
            access: None,
            now: None,
            changes: vec![m],
        });
    }
    let planned = plan(b, &g.ingress);
    let changes = if planned.revoke.is_empty() && planned.add.is_empty() {
        Vec::new()
    } else {
        vec![Marked {
            marker: marker.to_owned(),
            change: Change::SecurityGroup {
                revoke: planned.revoke,
                add: planned.add,
            },
        }]
    };
    Ok(Snapshot {
        rules: Some(g.ingress),
        access: None,
        now: None,
        changes,
    })
}

/// An unblock's snapshot: the rules now and every block marker on the group, oldest first.
pub(super) fn snapshot_markers(aws: &Aws, id: &str) -> Result<Snapshot, ActionFailure> {
    let g = describe(aws, id)?;
    Ok(Snapshot {
        changes: markers(&g.tags, false),
        rules: Some(g.ingress),
        access: None,
        now: None,
    })
}

fn rules_of(m: &Marked) -> (&[IngressRule], &[IngressRule]) {
    match &m.change {
        Change::SecurityGroup { revoke, add } => (revoke, add),
        _ => (&[], &[]),
    }
}

/// `; the block revokes 1 (tcp 6443 from 0.0.0.0/0) and adds 1 (...)`, for `plan`.
pub(super) fn describe_changes(changes: &[Marked]) -> String {
    let (mut revoke, mut add) = (Vec::new(), Vec::new());
    for m in changes {
        let (r, a) = rules_of(m);
        revoke.extend(r.iter().cloned());
        add.extend(a.iter().cloned());
    }
    if revoke.is_empty() && add.is_empty() {
        return String::new();
    }
    format!(
        "; the change revokes {} ({}) and adds {} ({})",
        revoke.len(),
        listed(&revoke),
        add.len(),
        listed(&add)
    )
}

/// Makes (`forward`) or reverses the changes, each remembered by its marker until reversed.
pub(super) fn apply(
    aws: &Aws,
    id: &str,
    changes: &[Marked],
    forward: bool,
) -> Result<Applied, ActionFailure> {
    let g = describe(aws, id)?;
    let (mut revoked, mut added, mut no_match) = (Vec::new(), Vec::new(), Vec::new());
    let mut ordered: Vec<&Marked> = changes.iter().collect();
    if !forward {
        // The newest block first: each restores the state the one before it left.
        ordered.reverse();
    }
    for m in ordered {
        let (revoke, add) = rules_of(m);
        let keys = marker_keys(&g.tags, &m.marker);
        let (to_revoke, to_add) = if forward {
            (revoke, add)
        } else {
            (add, revoke)
        };
        if forward && keys.is_empty() {
            let value = serde_json::to_value(&m.change)
                .map_err(|e| ActionFailure::refused(format!("cannot encode the marker: {e}")))?;
            aws_call(
                aws.create_ec2_tags(id, &marker_tags(&m.marker, &value)?),
                true,
            )?;
        }
        for r in to_revoke {
            // A retry, a resume or a restore: what is gone already is not revoked again. A first
            // block revokes exactly what it snapshotted, and says so if the rule is gone.
            if (!forward || !keys.is_empty()) && !present(&g, r) {
                continue;
            }
            match aws_call(aws.revoke_ingress(id, r), true)? {
                Revoked::Removed => revoked.push(r.clone()),
                Revoked::NoMatch => no_match.push(r.clone()),
            }
        }
        for r in to_add {
            aws_call(aws.authorize_ingress(id, r), true)?;
            added.push(r.clone());
        }
        if !forward && !keys.is_empty() {
            aws_call(aws.delete_ec2_tags(id, &keys), true)?;
        }
    }
    if !no_match.is_empty() {
        return Err(ActionFailure::failed(format!(
            "security group {id}: revoking {} matched no rule: the group changed since the \
             snapshot (another operator, an automation), so it was not revoked by this step. \
             Read the group back before going on; `breakglass undo RUN` restores what this \
             step did change",
            listed(&no_match)
        )));
    }
    Ok(Applied {
        summary: format!(
            "security group {id}: revoked {} ({}), authorized {} ({})",
            revoked.len(),
            listed(&revoked),
            added.len(),
            listed(&added)
        ),
        detail: detail(&revoked, &added),
    })
}

/// Reads the group back: the changes hold (made, or reversed).
pub(super) fn verify(
    aws: &Aws,
    id: &str,
    changes: &[Marked],
    forward: bool,
) -> Result<(), ActionFailure> {
    let g = describe(aws, id)?;
    let (mut still, mut missing) = (Vec::new(), Vec::new());
    for m in changes {
        let (revoke, add) = rules_of(m);
        let (gone, there) = if forward {
            (revoke, add)
        } else {
            (add, revoke)
        };
        still.extend(gone.iter().filter(|r| present(&g, r)).cloned());
        missing.extend(there.iter().filter(|r| !present(&g, r)).cloned());
    }
    if still.is_empty() && missing.is_empty() {
        return Ok(());
    }
    Err(ActionFailure::failed(format!(
        "security group {id} read back after the change still has {} and lacks {}: the change \
         did not hold",
        listed(&still),
        listed(&missing)
    )))
}
