//! `firewall.unblock` ([`FirewallUnblockAction`]): remove breakglass's blocks from a node, all of
//! them or only some ports, and cancel every dead-man timer there, so that a block ends now
//! rather than when its timer fires. The state it reaches is written by the same restore script
//! generator as `undo` (`restore.rs`); its own `undo` puts the blocks back as they were, without
//! a timer.
//!
//! It must not touch rules breakglass did not make: only `table inet breakglass` and the
//! `BREAKGLASS` chains.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::deadman::{CANCEL_ALL, DEADMAN_FNS};
use super::facts::list;
use super::iptables::IptState;
use super::nft::{NftState, UNBLOCK_PORTS};
use super::restore::{
    FirewallRestoreAction, UndoGuard, owner_script, restore_script, state_matches,
};
use super::shell::{PRELUDE, ok_or, sections, stdout};
use super::step_files::StepFiles;
use super::{FwState, parse_snapshot};
use crate::actions::BuildContext;
use crate::actions::args::FirewallUnblock;
use crate::actions::contract::{Action, ActionFailure, Applied, Context};
use crate::actions::script::Inputs;

/// What `firewall.unblock` journals.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnblockSnapshot {
    /// Every breakglass component present before (restored by `undo`).
    pub prior: FwState,
    /// The nft `ports` set before, when the table has one.
    pub nft_ports: Option<BTreeSet<u16>>,
    /// What the owner marker named before this step claimed it (`owner.sh`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_before: Option<String>,
}

/// `firewall.unblock` bound to its arguments.
pub struct FirewallUnblockAction {
    args: FirewallUnblock,
    files: StepFiles,
}

impl FirewallUnblockAction {
    pub fn new(args: &FirewallUnblock, ctx: &BuildContext<'_>) -> anyhow::Result<Self> {
        Ok(FirewallUnblockAction {
            args: args.clone(),
            files: StepFiles::new(ctx.run_id, ctx.step_id)?,
        })
    }

    /// The state to reach from `prior`, and for a partial nft unblock the ports that stay
    /// blocked (`6443, 10250`: `unblock-ports.sh`'s `keep`).
    fn target(&self, snap: &UnblockSnapshot) -> Result<(FwState, Option<String>), ActionFailure> {
        let mut target = FwState::default();
        let mut nft_keep = None;
        if snap.prior.nft.as_ref().is_some_and(|n| n.table.is_some()) {
            let rest: Option<Vec<String>> = match &self.args.ports {
                None => None,
                Some(ports) => {
                    let Some(have) = &snap.nft_ports else {
                        return Err(ActionFailure::refused(
                            "table inet breakglass has no `ports` set (it was not made by this \
                             version of breakglass), so single ports cannot be unblocked; omit \
                             `ports` to remove the whole table; nothing was changed",
                        ));
                    };
                    Some(
                        have.iter()
                            .filter(|p| !ports.contains(p))
                            .map(ToString::to_string)
                            .collect(),
                    )
                }
            };
            match rest {
                Some(rest) if !rest.is_empty() => nft_keep = Some(rest.join(", ")),
                _ => target.nft = Some(NftState { table: None }),
            }
        }
        for (now, out) in [
            (&snap.prior.iptables, &mut target.iptables),
            (&snap.prior.ip6tables, &mut target.ip6tables),
        ] {
            let Some(now) = now else { continue };
            let Some(rules) = &now.chain else { continue };
            *out = Some(match &self.args.ports {
                None => IptState::absent(),
                Some(ports) => {
                    let blocks = |r: &String| {
                        let w: Vec<&str> = r.split_whitespace().collect();
                        w.windows(2).any(|p| {
                            p[0] == "--dport"
                                && p[1].parse::<u16>().is_ok_and(|x| ports.contains(&x))
                        })
                    };
                    let kept: Vec<String> = rules.iter().filter(|r| !blocks(r)).cloned().collect();
                    if kept.iter().any(|r| r.contains("--dport")) {
                        IptState {
                            chain: Some(kept),
                            jumps: now.jumps.clone(),
                        }
                    } else {
                        IptState::absent()
                    }
                }
            });
        }
        Ok((target, nft_keep))
    }
}

impl Action for FirewallUnblockAction {
    fn kind(&self) -> &'static str {
        "firewall.unblock"
    }

    fn plan(&self, _target: &str) -> String {
        match &self.args.ports {
            None => "remove every breakglass block (table inet breakglass, iptables BREAKGLASS) and cancel dead-man timers".into(),
            Some(p) => format!(
                "unblock tcp/{} (the rest of the block stays) and cancel dead-man timers",
                p.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
            ),
        }
    }

    fn snapshot(&self, cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        let node = cx.shell()?;
        let facts = list(node, &self.files, "reading the firewall")?;
        for (tool, err) in [
            ("nft", &facts.nft_error),
            ("iptables", &facts.ipt_error),
            ("ip6tables", &facts.ip6t_error),
        ] {
            if let Some(e) = err {
                return Err(ActionFailure::refused(format!(
                    "`{tool}` failed on {}: {}; nothing was changed",
                    node.name(),
                    e.trim()
                )));
            }
        }
        let present = |s: &Option<IptState>| s.clone().filter(IptState::exists);
        let snap = UnblockSnapshot {
            prior: FwState {
                nft: facts.nft_state().filter(|n| n.table.is_some()),
                iptables: present(&facts.ipt),
                ip6tables: present(&facts.ip6t),
            },
            nft_ports: facts.nft_ports(),
            owner_before: facts
                .owner
                .as_ref()
                .map(|o| o.base.clone())
                .filter(|base| *base != self.files.base()),
        };
        serde_json::to_value(&snap)
            .map_err(|e| ActionFailure::refused(format!("cannot encode the snapshot: {e}")))
    }

    fn apply(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<Applied, ActionFailure> {
        let node = cx.shell()?;
        let snap: UnblockSnapshot = parse_snapshot(snapshot)?;
        let (target, nft_keep) = self.target(&snap)?;
        let mut script = restore_script(&target, None, "firewall.unblock")?;
        if let Some(keep) = &nft_keep {
            let mut inputs = Inputs::new();
            inputs.var("keep", keep)?;
            script.push_str(&inputs.then(&[UNBLOCK_PORTS]));
        }
        script.push_str(DEADMAN_FNS);
        script.push_str(CANCEL_ALL);
        script.push_str(&owner_script(None, Some(&self.files.base()))?);
        let full = format!("{PRELUDE}{script}");
        let r = node.run("/bin/sh -s", Some(full.as_bytes()));
        ok_or("unblocking", &r)?;
        let cancelled: Vec<String> = sections(&stdout(&r))
            .get("cancelled")
            .map(|c| c.lines().map(str::to_owned).collect())
            .unwrap_or_default();
        let removed = if snap.prior == FwState::default() {
            "nothing was blocked".to_owned()
        } else {
            match &self.args.ports {
                None => "removed every breakglass block".to_owned(),
                Some(p) => format!(
                    "unblocked tcp/{}",
                    p.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            }
        };
        Ok(Applied {
            summary: format!(
                "{removed}; {} dead-man timer{} cancelled",
                cancelled.len(),
                if cancelled.len() == 1 { "" } else { "s" }
            ),
            detail: json!({ "cancelled": cancelled }),
        })
    }

    fn verify(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<(), ActionFailure> {
        let node = cx.shell()?;
        let snap: UnblockSnapshot = parse_snapshot(snapshot)?;
        let (target, nft_keep) = self.target(&snap)?;
        let facts = list(node, &self.files, "reading the firewall back")?;
        state_matches(&facts, &target)
            .map_err(|e| ActionFailure::failed(format!("the unblock does not hold: {e}")))?;
        if nft_keep.is_some() {
            let left = facts.nft_ports().unwrap_or_default();
            if let Some(p) = self.args.ports.iter().flatten().find(|p| left.contains(p)) {
                return Err(ActionFailure::failed(format!(
                    "port {p} is still in the ports set"
                )));
            }
        }
        if !facts.timers.is_empty() {
            return Err(ActionFailure::failed(format!(
                "dead-man timers still armed: {}",
                facts.timers.join("; ")
            )));
        }
        Ok(())
    }

    fn inverse(&self, snapshot: &Value) -> Option<Box<dyn Action>> {
        let snap: UnblockSnapshot = serde_json::from_value(snapshot.clone()).ok()?;
        let (target, _) = self.target(&snap).ok()?;
        Some(Box::new(FirewallRestoreAction {
            prior: snap.prior.clone(),
            cancel: None,
            what: "firewall.unblock",
            guard: Some(UndoGuard {
                files: self.files.clone(),
                owner_before: snap.owner_before,
                reverted: vec![snap.prior],
                holds: Box::new(move |facts| state_matches(facts, &target)),
            }),
        }))
    }
}
