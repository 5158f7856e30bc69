//! Putting a recorded firewall state back. [`restore_script`] turns a [`FwState`] into one
//! self-contained POSIX sh script (`restore.sh`, then one call of its functions per recorded
//! component, the recorded text in a quoted heredoc); the dead-man timer, `undo` and
//! `firewall.unblock` all run scripts made here. [`FirewallRestoreAction`], the inverse of both
//! firewall actions, runs one and checks that the state is back.
//!
//! It puts back exactly what was recorded: it must not work out a new state (`firewall.unblock`
//! does) nor arm a timer.

use std::fmt::Write as _;

use serde_json::Value;

use super::FwState;
use super::deadman::{DEADMAN_FNS, FORGET, is_armed};
use super::facts::{Facts, list};
use super::iptables::{CHAIN, IptState};
use super::shell::{PRELUDE, heredoc, ok_or, sections, stdout};
use super::step_files::StepFiles;
use crate::actions::contract::{Action, ActionFailure, Applied, Context};
use crate::actions::script::Inputs;

/// The fixed part of every restore script ([`restore_script`]).
pub(super) const RESTORE_FNS: &str = include_str!("restore.sh");
/// Sets or hands back the owner marker (`owner.sh`).
pub(super) const OWNER: &str = include_str!("owner.sh");

/// The script that makes the owner marker name `new` (remove it when `None`): whatever it
/// names now (`expect` `None`), or only while it names `expect`.
pub(super) fn owner_script(
    expect: Option<&str>,
    new: Option<&str>,
) -> Result<String, ActionFailure> {
    let mut inputs = Inputs::new();
    inputs
        .var("owner_expect", expect.unwrap_or("-"))?
        .var("owner_new", new.unwrap_or(""))?;
    Ok(inputs.then(&[OWNER]))
}

/// A self-contained POSIX sh script that makes the node's breakglass firewall state equal to
/// `state` (only its `Some` components). The dead-man timer, `undo` and `firewall.unblock`
/// all run scripts made here: the `# breakglass-prior:` lines, `restore.sh`, then one call of
/// its functions per component, the recorded text in a quoted heredoc (which the shell never
/// expands).
pub fn restore_script(
    state: &FwState,
    before: Option<&FwState>,
    what: &str,
) -> Result<String, ActionFailure> {
    let json = |st: &FwState| {
        serde_json::to_string(st)
            .map_err(|e| ActionFailure::refused(format!("cannot encode the firewall state: {e}")))
    };
    let mut s = String::new();
    let _ = writeln!(s, "#!/bin/sh");
    let _ = writeln!(s, "# breakglass: {}", what.replace('\n', " "));
    let _ = writeln!(s, "# breakglass-prior: {}", json(state)?);
    if let Some(before) = before {
        let _ = writeln!(s, "# breakglass-before: {}", json(before)?);
    }
    s.push_str(RESTORE_FNS);
    if let Some(nft) = &state.nft {
        // Declaring the table first makes the delete succeed whether or not it exists; the
        // whole file is one transaction, so the table is never missing in between.
        let mut ruleset = String::from("table inet breakglass {}\ndelete table inet breakglass\n");
        if let Some(table) = &nft.table {
            ruleset.push_str(table);
            if !table.ends_with('\n') {
                ruleset.push('\n');
            }
        }
        s.push_str(&heredoc("restore_table", &ruleset));
    }
    for (cmd, st) in [
        ("iptables", &state.iptables),
        ("ip6tables", &state.ip6tables),
    ] {
        if let Some(st) = st {
            s.push_str(&ipt_restore(cmd, st));
        }
    }
    Ok(s)
}

/// One family of [`restore_script`]: `restore_chain FAMILY` with the recorded rules and jumps
/// (at their recorded positions) on stdin, or `remove_chain FAMILY` (see `restore.sh`).
fn ipt_restore(cmd: &str, st: &IptState) -> String {
    match &st.chain {
        Some(rules) => {
            let mut data = String::new();
            for r in rules {
                let _ = writeln!(data, "{r}");
            }
            let mut jumps = st.jumps.clone();
            jumps.sort_by_key(|j| j.position);
            for j in &jumps {
                let (chain, spec) = j.chain_and_spec();
                let _ = writeln!(data, "-I {chain} {} {spec}", j.position);
            }
            heredoc(&format!("restore_chain {cmd}"), &data)
        }
        None => format!("remove_chain {cmd}\n"),
    }
}

/// Compares the node's state now with `want` (its `Some` components); `Err` says what differs.
pub(super) fn state_matches(facts: &Facts, want: &FwState) -> Result<(), String> {
    if let Some(nft) = &want.nft
        && facts.nft_table != nft.table
    {
        return Err(match (&facts.nft_table, &nft.table) {
            (Some(_), None) => "table inet breakglass still exists".into(),
            (None, Some(_)) => "table inet breakglass is missing".into(),
            _ => "table inet breakglass differs from the recorded one".into(),
        });
    }
    for (name, now, want) in [
        ("iptables", &facts.ipt, &want.iptables),
        ("ip6tables", &facts.ip6t, &want.ip6tables),
    ] {
        if let Some(want) = want {
            let now = now.clone().unwrap_or_default();
            let mut a = now.jumps.clone();
            let mut b = want.jumps.clone();
            a.sort_by_key(|j| j.position);
            b.sort_by_key(|j| j.position);
            if now.chain != want.chain || a != b {
                return Err(format!(
                    "the {name} {CHAIN} chain differs from the recorded one"
                ));
            }
        }
    }
    Ok(())
}

/// Whether the live state is what the undone step left (`Err` says what differs).
pub(super) type Holds = Box<dyn Fn(&Facts) -> Result<(), String> + Send + Sync>;

/// What keeps an undo from clobbering a later change: the undone step's owner marker and what
/// it applied. Without it (older snapshots) the recorded state is restored as before.
pub(super) struct UndoGuard {
    /// The undone step (its node-side state and owner marker name).
    pub(super) files: StepFiles,
    /// What the owner marker named before the step claimed it (handed back after the undo).
    pub(super) owner_before: Option<String>,
    /// States that leave nothing to restore (the prior, and what the step's dead-man timer
    /// restores): the undo then changes no rule.
    pub(super) reverted: Vec<FwState>,
    /// The live state is still what the step applied.
    pub(super) holds: Holds,
}

impl UndoGuard {
    /// `Ok(true)`: nothing to restore; `Ok(false)`: the live state is the step's, restore it;
    /// `Err`: a later change is live, which an undo must not clobber (nothing was changed).
    fn check(&self, node: &str, facts: &Facts) -> Result<bool, ActionFailure> {
        if self
            .reverted
            .iter()
            .any(|st| state_matches(facts, st).is_ok())
        {
            return Ok(true);
        }
        let base = self.files.base();
        let later = facts.owner.as_ref().filter(|o| o.base != base);
        let differs = (self.holds)(facts).err();
        if later.is_none() && differs.is_none() {
            return Ok(false);
        }
        let who = match later {
            Some(o) => format!("{} changed it since", o.describe()),
            None => "it changed since (no breakglass step claimed the change)".to_owned(),
        };
        let diff = differs.map_or_else(String::new, |d| {
            format!("; the live ruleset is not what this run applied: {d}")
        });
        Err(ActionFailure::refused(format!(
            "refused: the firewall on {node} is no longer what run {} step {} left: {who}{diff}. \
             Restoring the state from before run {} would clobber that change; nothing was \
             changed. Undo the later run first (`breakglass undo RUN`), or lift every block \
             with a firewall.unblock runbook",
            self.files.run_id, self.files.step_id, self.files.run_id
        )))
    }
}

/// Restores a recorded [`FwState`] (the inverse of `firewall.block` and `firewall.unblock`),
/// with the same script the dead-man timer runs; for a block, then cancels its timer and
/// removes its node-side files. With a [`UndoGuard`], only while the live state is still what
/// the undone step left.
pub struct FirewallRestoreAction {
    pub prior: FwState,
    /// The block step whose timer and files go away once restored.
    pub cancel: Option<StepFiles>,
    /// The kind being undone (for messages).
    pub what: &'static str,
    pub(super) guard: Option<UndoGuard>,
}

impl Action for FirewallRestoreAction {
    fn kind(&self) -> &'static str {
        "firewall.restore"
    }

    fn plan(&self, _target: &str) -> String {
        format!("restore the firewall as it was before {}", self.what)
    }

    fn snapshot(&self, _cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        Ok(Value::Null)
    }

    fn apply(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<Applied, ActionFailure> {
        let node = cx.shell()?;
        let mut already = false;
        let mut script = String::new();
        if let Some(guard) = &self.guard {
            let facts = list(node, &guard.files, "reading the firewall before the undo")?;
            let name = node.name().to_owned();
            already = guard.check(&name, &facts)?;
        }
        if !already {
            script = restore_script(&self.prior, None, &format!("undo of {}", self.what))?;
        }
        let mut cancelled = String::new();
        if let Some(files) = &self.cancel {
            script.push_str(&files.vars()?.then(&[DEADMAN_FNS, FORGET]));
        }
        if let Some(guard) = &self.guard {
            let base = guard.files.base();
            script.push_str(&owner_script(Some(&base), guard.owner_before.as_deref())?);
        }
        let full = format!("{PRELUDE}{script}");
        let r = node.run("/bin/sh -s", Some(full.as_bytes()));
        ok_or("restoring the firewall", &r)?;
        if let Some(c) = sections(&stdout(&r)).get("cancelled") {
            let c = c.trim();
            if c != "none" {
                cancelled = format!("; cancelled the dead-man timer ({c})");
            }
        }
        let summary = if already {
            format!(
                "nothing to restore: the firewall is already as before {}{cancelled}",
                self.what
            )
        } else {
            format!("restored {}{cancelled}", describe_state(&self.prior))
        };
        Ok(Applied {
            summary,
            detail: Value::Null,
        })
    }

    fn verify(&self, cx: &mut dyn Context, _snapshot: &Value) -> Result<(), ActionFailure> {
        let node = cx.shell()?;
        let files = match &self.cancel {
            Some(f) => f.clone(),
            None => {
                StepFiles::new("none", "none").map_err(|e| ActionFailure::refused(e.to_string()))?
            }
        };
        let facts = list(node, &files, "reading the firewall back")?;
        let reverted = self.guard.iter().flat_map(|g| &g.reverted);
        if !reverted
            .into_iter()
            .any(|st| state_matches(&facts, st).is_ok())
        {
            state_matches(&facts, &self.prior)
                .map_err(|e| ActionFailure::failed(format!("the restore does not hold: {e}")))?;
        }
        if self.cancel.is_some() && is_armed(&facts.deadman) {
            return Err(ActionFailure::failed(format!(
                "the dead-man timer is still armed ({})",
                facts.deadman
            )));
        }
        Ok(())
    }

    fn inverse(&self, _snapshot: &Value) -> Option<Box<dyn Action>> {
        None
    }
}

fn describe_state(st: &FwState) -> String {
    let mut parts = Vec::new();
    if let Some(n) = &st.nft {
        parts.push(if n.table.is_some() {
            "the prior table inet breakglass"
        } else {
            "no table inet breakglass (as before)"
        });
    }
    for (name, s) in [("iptables", &st.iptables), ("ip6tables", &st.ip6tables)] {
        if let Some(s) = s {
            parts.push(match (name, s.exists()) {
                ("iptables", true) => "the prior iptables BREAKGLASS chain",
                ("iptables", false) => "no iptables BREAKGLASS chain (as before)",
                (_, true) => "the prior ip6tables BREAKGLASS chain",
                (_, false) => "no ip6tables BREAKGLASS chain (as before)",
            });
        }
    }
    if parts.is_empty() {
        "nothing (nothing was recorded)".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::firewall::{Jump, NftState};

    #[test]
    fn restore_scripts_put_back_exactly_what_was_recorded() {
        let none = restore_script(
            &FwState {
                nft: Some(NftState { table: None }),
                ..FwState::default()
            },
            None,
            "t",
        )
        .expect("script");
        assert!(none.starts_with("#!/bin/sh\n# breakglass: t\n"), "{none}");
        assert!(none.contains(RESTORE_FNS), "{none}");
        assert!(
            none.contains("\nrestore_table <<'BREAKGLASS_EOF'\n"),
            "{none}"
        );
        assert!(
            none.contains(
                "\ntable inet breakglass {}\ndelete table inet breakglass\nBREAKGLASS_EOF\n"
            ),
            "{none}"
        );
        let hostile = "table inet breakglass {\nBREAKGLASS_EOF\n}\n".to_owned();
        let s = restore_script(
            &FwState {
                nft: Some(NftState {
                    table: Some(hostile.clone()),
                }),
                ..FwState::default()
            },
            None,
            "t",
        )
        .expect("script");
        assert!(s.contains("restore_table <<'BREAKGLASS_EOF_1'"), "{s}");
        let prior = s
            .lines()
            .find_map(|l| l.strip_prefix("# breakglass-prior: "))
            .expect("prior");
        let back: FwState = serde_json::from_str(prior).expect("json");
        assert_eq!(back.nft.and_then(|n| n.table), Some(hostile));

        let ipt = IptState {
            chain: Some(vec!["-A BREAKGLASS -s 1.2.3.4/32 -j RETURN".into()]),
            jumps: vec![Jump {
                position: 3,
                rule: "-A INPUT -j BREAKGLASS".into(),
            }],
        };
        let s = restore_script(
            &FwState {
                iptables: Some(ipt),
                ..FwState::default()
            },
            None,
            "t",
        )
        .expect("script");
        assert!(
            s.ends_with(
                "\nrestore_chain iptables <<'BREAKGLASS_EOF'\n\
                 -A BREAKGLASS -s 1.2.3.4/32 -j RETURN\n-I INPUT 3 -j BREAKGLASS\nBREAKGLASS_EOF\n"
            ),
            "{s}"
        );
        let gone = restore_script(
            &FwState {
                iptables: Some(IptState::absent()),
                ip6tables: Some(IptState::absent()),
                ..FwState::default()
            },
            None,
            "t",
        )
        .expect("script");
        assert!(
            gone.ends_with("\nremove_chain iptables\nremove_chain ip6tables\n"),
            "{gone}"
        );
    }
}
