//! `firewall.block` and `firewall.unblock`: keep the nodes off the admin API of an overloaded
//! control plane, from the API server hosts themselves, over SSH.
//!
//! With nftables (the default) everything breakglass adds lives in one dedicated table,
//! `inet breakglass`, loaded atomically with `nft -f -` (the ruleset goes on stdin, never into a
//! shell string). Applying is idempotent because the same transaction creates, deletes and
//! recreates the table (<https://wiki.nftables.org/wiki-nftables/index.php/Atomic_rule_replacement>).
//! Without `nft` (or with `backend = "iptables"`) the same semantics live in a `BREAKGLASS` chain
//! jumped to from position 1 of `INPUT`, in `iptables` and `ip6tables`, loaded with
//! `iptables-restore --noflush` so each family changes in one commit.
//!
//! The rules, in order: accept what comes in on `lo`; accept the allowlist (loopback networks,
//! `allow`, the addresses of `allow_targets`); drop new connections (a bare SYN) to the ports;
//! with `cut_established`, let RSTs through and answer every other packet to the ports with a
//! TCP reset. A drop, not a reset, for SYNs: a client whose SYN goes unanswered backs off
//! exponentially, while a refused one retries at once, and thousands of kubelets retrying at once
//! is the load we are removing. A reset for the rest: a kubelet's watch is an established
//! connection that a SYN rule never sees, and the reset ends it now rather than at its next
//! reconnect. RSTs are let through so that the client's own reset (sent when the server writes to
//! the connection we killed) also closes the server's side, freeing the API server's watch.
//!
//! Before changing anything, `apply` refuses a block that would cut the SSH port this very
//! session uses, or the operator's own address as the node sees it (`$SSH_CONNECTION`).
//!
//! The prior state (`nft -s list table inet breakglass`, or the `BREAKGLASS` chain and its jumps
//! as `iptables -S` prints them) is the snapshot. One generated shell script puts it back
//! exactly; it serves three purposes: the **dead-man timer** on the node runs it unless
//! `breakglass confirm RUN` cancels the timer first, `undo` runs it (the inverse), and
//! `firewall.unblock` uses the same generator to reach its target state. Node-side state lives
//! in `/run/breakglass/<run_id>/<step_id>.*` (tmpfs: a reboot clears it together with the
//! unpersisted ruleset it would restore):
//!
//! - `.restore`: the restore script (its `# breakglass-prior:` line holds the prior state as
//!   JSON, so a resumed run snapshots the state from *before* its first attempt);
//! - `.pid`: the detached timer process (when PID 1 is not systemd), a session leader whose
//!   command line names the `.restore` file, which is how a stale PID is told apart;
//! - `.unit`: the transient systemd unit (`systemd-run --on-active`) when PID 1 is systemd;
//! - `.fired` / `.confirmed`: when the timer fired or was cancelled by `confirm` (epoch seconds).
//!
//! The shell run on the node is this folder's `.sh` files, each with its inputs and output in
//! its header; Rust only puts quoted input lines in front of them (`super::script`) and data on
//! stdin or in quoted heredocs.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::BuildContext;
use super::args::{FirewallBackend, FirewallBlock, FirewallUnblock};
use super::contract::{Action, ActionFailure, Applied, Context};
use super::script::Inputs;
use crate::inventory::Selector;
pub use confirm::{Confirmed, confirm_command, confirm_results};
use deadman::{Armed, CANCEL_ALL, DEADMAN_FNS, block_then_arm, is_armed, save_restore};
pub use facts::Session;
use facts::list;
use iptables::BLOCK_IPTABLES;
pub use iptables::{IptState, Jump};
pub use nft::NftState;
use nft::{BLOCK_NFT, UNBLOCK_PORTS};
use restore::state_matches;
pub use restore::{FirewallRestoreAction, restore_script};
use shell::{PRELUDE, command, ok_or, sections, stdout};
pub use step_files::StepFiles;
use step_files::is_state_base;

mod confirm;
mod deadman;
mod facts;
mod iptables;
mod nft;
mod restore;
mod shell;
mod step_files;

/// Node-side state of every run (see the module docs).
pub const STATE_ROOT: &str = "/run/breakglass";

/// Which tool holds the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Nft,
    Iptables,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Nft => "nft",
            Backend::Iptables => "iptables",
        }
    }
}

/// The firewall state breakglass owns on a node, per component. `None` means "not captured and
/// not touched": restoring a state only changes its `Some` components.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FwState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nft: Option<NftState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables: Option<IptState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6tables: Option<IptState>,
}

// ---------------------------------------------------------------------------------------------
// firewall.block

/// What `firewall.block` journals before it changes anything.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockSnapshot {
    pub backend: Backend,
    /// What the restore script puts back (the state before this step's first attempt).
    pub prior: FwState,
    /// True when `prior` came from an earlier attempt's restore script (a resumed run).
    #[serde(default)]
    pub earlier_attempt: bool,
    /// What the dead-man timer restores when it differs from `prior`: the prior of an earlier,
    /// still unconfirmed block on this node whose timer this step takes over (`supersedes`).
    /// Otherwise a later timer would put back the earlier block after the earlier timer lifted
    /// it, and leave it with no timer at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadman_prior: Option<FwState>,
    /// Live dead-man timers (`/run/breakglass/RUN/STEP`) of earlier blocks that this step's
    /// timer replaces; cancelled when it is armed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supersedes: Vec<String>,
    /// `$SSH_CONNECTION` as the node reported it.
    pub ssh_connection: String,
    pub session: Option<Session>,
    pub systemd: bool,
}

/// `firewall.block` bound to its arguments, with `allow_targets` resolved.
pub struct FirewallBlockAction {
    args: FirewallBlock,
    allow4: Vec<Ipv4Net>,
    allow6: Vec<Ipv6Net>,
    /// Networks named by `allow` (for the plan line).
    explicit: Vec<IpNet>,
    /// Hosts `allow_targets` matched.
    peers: usize,
    files: StepFiles,
}

const LOOPBACK: [&str; 2] = ["127.0.0.0/8", "::1/128"];

impl FirewallBlockAction {
    pub fn new(args: &FirewallBlock, ctx: &BuildContext<'_>) -> anyhow::Result<Self> {
        let mut all: Vec<IpNet> = LOOPBACK
            .iter()
            .filter_map(|n| n.parse::<IpNet>().ok())
            .collect();
        all.extend(args.allow.iter().copied());
        let mut peers = 0;
        if let Some(sel) = &args.allow_targets {
            let parsed = Selector::parse(sel)
                .map_err(|e| anyhow::anyhow!("allow_targets \"{sel}\": {e}"))?;
            let hosts = ctx
                .inventory
                .select(&parsed)
                .map_err(|e| anyhow::anyhow!("allow_targets \"{sel}\": {e}"))?;
            if hosts.is_empty() {
                anyhow::bail!(
                    "allow_targets \"{sel}\" matches no host in the inventory, so it would allow nothing"
                );
            }
            peers = hosts.len();
            all.extend(hosts.iter().map(|h| IpNet::from(h.address)));
        }
        let v4: Vec<Ipv4Net> = all
            .iter()
            .filter_map(|n| match n {
                IpNet::V4(n) => Some(*n),
                IpNet::V6(_) => None,
            })
            .collect();
        let v6: Vec<Ipv6Net> = all
            .iter()
            .filter_map(|n| match n {
                IpNet::V6(n) => Some(*n),
                IpNet::V4(_) => None,
            })
            .collect();
        Ok(FirewallBlockAction {
            args: args.clone(),
            // Interval sets reject overlapping elements; aggregated networks never overlap.
            allow4: Ipv4Net::aggregate(&v4),
            allow6: Ipv6Net::aggregate(&v6),
            explicit: args.allow.clone(),
            peers,
            files: StepFiles::new(ctx.run_id, ctx.step_id)?,
        })
    }

    fn ports_text(&self, sep: &str) -> String {
        self.args
            .ports
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(sep)
    }

    fn covers(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => self.allow4.iter().any(|n| n.contains(&a)),
            IpAddr::V6(a) => self.allow6.iter().any(|n| n.contains(&a)),
        }
    }

    fn allowlist_text(&self) -> String {
        self.allow4
            .iter()
            .map(ToString::to_string)
            .chain(self.allow6.iter().map(ToString::to_string))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The guard rails: refuse, before anything changes, a block that would cut this session's
    /// SSH port or the operator's own address.
    fn guard(&self, node: &str, snap: &BlockSnapshot) -> Result<(), ActionFailure> {
        let Some(session) = &snap.session else {
            return Err(ActionFailure::refused(format!(
                "refused: cannot tell which address and port this SSH session uses on {node} \
                 ($SSH_CONNECTION is {:?}, also in its parent processes), so the guard rails \
                 (never block the SSH port or the operator) cannot be checked; nothing was changed",
                snap.ssh_connection
            )));
        };
        if self.args.ports.contains(&session.server_port) {
            return Err(ActionFailure::refused(format!(
                "refused: `ports` includes {port}, the SSH port this session reached {node} on; \
                 blocking it would cut breakglass and the operator off the node. Remove {port} \
                 from `ports`; nothing was changed",
                port = session.server_port
            )));
        }
        if !self.covers(session.client) {
            return Err(ActionFailure::refused(format!(
                "refused: the operator's address as {node} sees it, {addr}, is not in the \
                 allowlist ({list}); the block would lock the operator out of the API. Add \
                 \"{addr}\" (or its network) to `allow`, or a host with that address to \
                 `allow_targets`; nothing was changed",
                addr = session.client,
                list = self.allowlist_text()
            )));
        }
        Ok(())
    }
}

fn parse_snapshot<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, ActionFailure> {
    serde_json::from_value(v.clone()).map_err(|e| {
        ActionFailure::refused(format!(
            "the snapshot is not one this build understands ({e}); nothing was changed"
        ))
    })
}
impl Action for FirewallBlockAction {
    fn kind(&self) -> &'static str {
        "firewall.block"
    }

    fn plan(&self, _target: &str) -> String {
        let mut except: Vec<String> = self.explicit.iter().map(ToString::to_string).collect();
        except.push(LOOPBACK[0].to_owned());
        let mut s = format!(
            "block tcp/{} except {}",
            self.ports_text(","),
            except.join(", ")
        );
        if let Some(sel) = &self.args.allow_targets {
            let _ = write!(
                s,
                " (+{} peer{} from \"{sel}\")",
                self.peers,
                if self.peers == 1 { "" } else { "s" }
            );
        }
        s.push_str(if self.args.cut_established {
            "; cut established"
        } else {
            "; established connections kept"
        });
        if self.args.revert_after.is_zero() {
            s.push_str("; no auto-revert (revert_after = 0s)");
        } else {
            let _ = write!(
                s,
                "; auto-revert in {} unless confirmed",
                humantime::format_duration(self.args.revert_after)
            );
        }
        if self.args.backend == FirewallBackend::Iptables {
            s.push_str(" (iptables)");
        }
        s
    }

    fn snapshot(&self, cx: &mut dyn Context) -> Result<Value, ActionFailure> {
        let node = cx.shell()?;
        let name = node.name().to_owned();
        let facts = list(node, &self.files, "reading the firewall")?;
        let backend = facts.choose_backend(&name, self.args.backend)?;
        let now = match backend {
            Backend::Nft => FwState {
                nft: facts.nft_state(),
                ..FwState::default()
            },
            Backend::Iptables => FwState {
                iptables: facts.ipt.clone(),
                ip6tables: if facts.ip6tables && facts.ip6t_error.is_none() {
                    facts.ip6t.clone()
                } else {
                    None
                },
                ..FwState::default()
            },
        };
        let same_backend = |s: &FwState| {
            (backend == Backend::Nft) == s.nft.is_some()
                && (backend == Backend::Iptables) == s.iptables.is_some()
        };
        // A resumed run snapshots again, after its first attempt may have blocked already:
        // the restore script that attempt left holds the state from before it.
        let saved = facts.saved.clone().filter(same_backend);
        let prior = match (&saved, &facts.saved_before) {
            (Some(_), Some(before)) if same_backend(before) => before.clone(),
            (Some(saved), _) => saved.clone(),
            (None, _) => now,
        };
        // Earlier unconfirmed blocks on this node: the oldest one's prior is where a revert
        // must lead, and this step's timer takes over from theirs.
        let own = format!("{}/{}", self.files.dir, self.files.step_id);
        let mut earlier: Vec<&(String, u64, Option<FwState>)> = facts
            .live
            .iter()
            .filter(|(base, _, st)| {
                *base != own && is_state_base(base) && st.as_ref().is_some_and(same_backend)
            })
            .collect();
        earlier.sort_by_key(|(base, mtime, _)| (*mtime, base.clone()));
        let deadman_prior = earlier
            .first()
            .and_then(|(_, _, st)| st.clone())
            .or_else(|| saved.clone())
            .filter(|st| *st != prior);
        let snap = BlockSnapshot {
            backend,
            earlier_attempt: saved.is_some(),
            deadman_prior,
            supersedes: earlier.iter().map(|(base, _, _)| base.clone()).collect(),
            prior,
            ssh_connection: facts.ssh_raw.clone(),
            session: facts.ssh.clone(),
            systemd: facts.systemd,
        };
        serde_json::to_value(&snap)
            .map_err(|e| ActionFailure::refused(format!("cannot encode the snapshot: {e}")))
    }

    fn apply(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<Applied, ActionFailure> {
        let node = cx.shell()?;
        let snap: BlockSnapshot = parse_snapshot(snapshot)?;
        let name = node.name().to_owned();
        self.guard(&name, &snap)?;
        let secs = self.args.revert_after.as_secs();
        if secs > 0 {
            let script = restore_script(
                snap.deadman_prior.as_ref().unwrap_or(&snap.prior),
                Some(&snap.prior),
                &format!(
                    "restores the firewall as it was before run {} step {} blocked tcp/{}",
                    self.files.run_id,
                    self.files.step_id,
                    self.ports_text(",")
                ),
            )?;
            save_restore(node, &self.files, &script)?;
        }
        let mut inputs = self.files.vars()?;
        let (block, payload) = match snap.backend {
            Backend::Nft => (BLOCK_NFT, self.nft_ruleset()),
            Backend::Iptables => {
                let v6 = if snap.prior.ip6tables.is_some() {
                    "yes"
                } else {
                    "no"
                };
                inputs.var("v6", v6)?;
                (BLOCK_IPTABLES, self.ipt_payload())
            }
        };
        let cmd = if secs > 0 {
            block_then_arm(inputs, block, secs, &snap.supersedes)?
        } else {
            command(&inputs, &[block])?
        };
        let r = node.run(&cmd, Some(payload.as_bytes()));
        ok_or(&format!("blocking with {}", snap.backend.name()), &r)?;
        let out = sections(&stdout(&r));
        let mut summary = format!(
            "blocked tcp/{} with {} ({} allowed network{})",
            self.ports_text(","),
            snap.backend.name(),
            self.allow4.len() + self.allow6.len(),
            if self.allow4.len() + self.allow6.len() == 1 {
                ""
            } else {
                "s"
            }
        );
        let mut detail = json!({
            "backend": snap.backend,
            "ports": self.args.ports,
            "allow": self.allowlist_text(),
            "cut_established": self.args.cut_established,
        });
        if secs > 0 {
            let Armed {
                kind,
                timer,
                id,
                expires,
            } = Armed::parse(out.get("deadman").map_or("", String::as_str));
            let _ = write!(
                summary,
                "; dead-man ({timer}) reverts at {expires} unless confirmed"
            );
            if !snap.supersedes.is_empty() {
                let _ = write!(
                    summary,
                    " (taking over from the unconfirmed timer of {})",
                    snap.supersedes.join(", ")
                );
            }
            detail["deadman"] = json!({
                "kind": kind,
                "id": id,
                "expires": expires,
                "restore": format!("{}/{}.restore", self.files.dir, self.files.step_id),
                "supersedes": snap.supersedes,
            });
        } else {
            summary.push_str("; no dead-man timer");
        }
        Ok(Applied { summary, detail })
    }

    fn verify(&self, cx: &mut dyn Context, snapshot: &Value) -> Result<(), ActionFailure> {
        let node = cx.shell()?;
        let snap: BlockSnapshot = parse_snapshot(snapshot)?;
        let facts = list(node, &self.files, "reading the firewall back")?;
        let checked = match snap.backend {
            Backend::Nft => match (&facts.nft_json, &facts.nft_table) {
                (Some(json), _) => self.check_nft(json),
                (None, Some(text)) => self.check_nft_text(text, &facts),
                (None, None) => Err("table inet breakglass is missing".to_owned()),
            },
            Backend::Iptables => self
                .check_ipt("iptables", facts.ipt.as_ref(), false)
                .and_then(|()| {
                    if snap.prior.ip6tables.is_some() {
                        self.check_ipt("ip6tables", facts.ip6t.as_ref(), true)
                    } else {
                        Ok(())
                    }
                }),
        };
        checked.map_err(|e| ActionFailure::failed(format!("the block does not hold: {e}")))?;
        let armed = is_armed(&facts.deadman);
        if !self.args.revert_after.is_zero() && !armed {
            return Err(ActionFailure::failed(format!(
                "the dead-man timer is not armed ({})",
                facts.deadman
            )));
        }
        Ok(())
    }

    fn inverse(&self, snapshot: &Value) -> Option<Box<dyn Action>> {
        let snap: BlockSnapshot = serde_json::from_value(snapshot.clone()).ok()?;
        Some(Box::new(FirewallRestoreAction {
            prior: snap.prior,
            cancel: Some(self.files.clone()),
            what: "firewall.block",
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// firewall.unblock

/// What `firewall.unblock` journals.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnblockSnapshot {
    /// Every breakglass component present before (restored by `undo`).
    pub prior: FwState,
    /// The nft `ports` set before, when the table has one.
    pub nft_ports: Option<BTreeSet<u16>>,
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
        Some(Box::new(FirewallRestoreAction {
            prior: snap.prior,
            cancel: None,
            what: "firewall.unblock",
        }))
    }
}

#[cfg(test)]
mod tests;
