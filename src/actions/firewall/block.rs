//! `firewall.block` ([`FirewallBlockAction`]): resolve the allowlist (and, for an egress block,
//! the destinations), snapshot the state a revert must lead back to, refuse a block that would
//! cut the operator off (the guard rails), load the backend's rules and arm the dead-man timer,
//! then check that both hold.
//!
//! It decides and sequences. The rules are `nft.rs` and `iptables.rs`, the timer `deadman.rs`,
//! the restore script `restore.rs`; it must not write shell of its own.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::deadman::{Armed, DEADMAN_FNS, FORGET, block_then_arm, is_armed, save_restore};
use super::facts::{Facts, Session, list};
use super::iptables::BLOCK_IPTABLES;
use super::nft::BLOCK_NFT;
use super::restore::{FirewallRestoreAction, OWNER, UndoGuard, owner_script, restore_script};
use super::shell::{PRELUDE, command, ok_or, sections, stdout};
use super::step_files::{StepFiles, is_state_base};
use super::{Backend, FwState, Hook, parse_snapshot};
use crate::actions::BuildContext;
use crate::actions::args::{Direction, FirewallBackend, FirewallBlock};
use crate::actions::contract::{Action, ActionFailure, Applied, Context, Node};
use crate::inventory::Selector;
use crate::transport::ssh::Outcome;

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
    /// What the owner marker named before this step claimed it (`owner.sh`): an undo hands
    /// it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_before: Option<String>,
    /// Egress: the block also covers the connections the node forwards (its pods'), on the
    /// forward hook. False in the snapshots of egress blocks made before it did (the output
    /// hook only), so that their verify and undo check the rules those runs loaded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forwarded: bool,
}

/// `firewall.block` bound to its arguments, with `allow_targets` (and an egress block's
/// destinations) resolved.
#[derive(Clone)]
pub struct FirewallBlockAction {
    pub(super) args: FirewallBlock,
    /// The ports blocked: `ports`, else 6443 (ingress) or the inventory endpoints' (egress).
    pub(super) ports: Vec<u16>,
    /// Sources (ingress) or destinations (egress) still allowed, loopback included.
    pub(super) allow4: Vec<Ipv4Net>,
    pub(super) allow6: Vec<Ipv6Net>,
    /// Egress: the destinations blocked (empty for ingress).
    pub(super) to4: Vec<Ipv4Net>,
    pub(super) to6: Vec<Ipv6Net>,
    /// Egress: where the destinations came from (for the plan line).
    to_source: String,
    /// Networks named by `allow` (for the plan line).
    explicit: Vec<IpNet>,
    /// Hosts `allow_targets` matched.
    peers: usize,
    /// Egress: also on the forward hook (always, when built; an older run's snapshot may say
    /// otherwise, see [`FirewallBlockAction::as_applied`]).
    pub(super) forwarded: bool,
    files: StepFiles,
}

const LOOPBACK: [&str; 2] = ["127.0.0.0/8", "::1/128"];

/// An egress block with `cut_established`: ends at once the established connections the block
/// covers (`ss -K`), rather than at their next packet.
pub(super) const KILL_FLOWS: &str = include_str!("kill-flows.sh");

/// Networks split by family, each aggregated: nft interval sets reject overlapping elements,
/// and aggregated networks never overlap.
fn families(all: &[IpNet]) -> (Vec<Ipv4Net>, Vec<Ipv6Net>) {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for n in all {
        match n {
            IpNet::V4(n) => v4.push(*n),
            IpNet::V6(n) => v6.push(*n),
        }
    }
    (Ipv4Net::aggregate(&v4), Ipv6Net::aggregate(&v6))
}

fn nets_text(v4: &[Ipv4Net], v6: &[Ipv6Net]) -> String {
    v4.iter()
        .map(ToString::to_string)
        .chain(v6.iter().map(ToString::to_string))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An egress block's destinations, ports, and where they came from: the step's `to` and
/// `ports` (validation made `ports` go with `to`), or else the runbook cluster's
/// `node_api_endpoints` in the inventory, or else its `api_endpoints`, with `ports` or the
/// endpoints' own ports.
fn egress_destinations(
    args: &FirewallBlock,
    ctx: &BuildContext<'_>,
) -> anyhow::Result<(Vec<IpNet>, Vec<u16>, String)> {
    if let Some(to) = &args.to {
        let ports = args.ports.clone().unwrap_or_default();
        return Ok((to.clone(), ports, "from `to`".to_owned()));
    }
    let Some(name) = ctx.cluster else {
        anyhow::bail!(
            "firewall.block with direction = \"egress\" has no `to`, and the runbook has no \
             `cluster` parameter naming whose API endpoints to block: give `to` and `ports`"
        );
    };
    let Some(cluster) = ctx.inventory.clusters.get(name) else {
        anyhow::bail!(
            "firewall.block with direction = \"egress\" has no `to`, and the inventory has no \
             cluster '{name}' to take the API endpoints from: give `to` and `ports`"
        );
    };
    let (key, endpoints): (&str, Vec<(IpNet, u16)>) = if cluster.node_api_endpoints.is_empty() {
        (
            "api_endpoints",
            cluster
                .api_endpoints
                .iter()
                .map(|e| (IpNet::from(e.ip()), e.port()))
                .collect(),
        )
    } else {
        ("node_api_endpoints", cluster.node_api_endpoints.clone())
    };
    if endpoints.is_empty() {
        anyhow::bail!(
            "firewall.block with direction = \"egress\" has no `to`, and cluster '{name}' in \
             the inventory lists neither node_api_endpoints nor api_endpoints: add \
             node_api_endpoints = [\"ADDRESS:PORT\"] (the API endpoints as the nodes reach \
             them) to [clusters.{name}], or give `to` and `ports`"
        );
    }
    let ports = args.ports.clone().unwrap_or_else(|| {
        let set: BTreeSet<u16> = endpoints.iter().map(|(_, p)| *p).collect();
        set.into_iter().collect()
    });
    Ok((
        endpoints.into_iter().map(|(n, _)| n).collect(),
        ports,
        format!("cluster {name}'s {key}"),
    ))
}

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
        let (allow4, allow6) = families(&all);
        let (to, ports, to_source) = match args.direction {
            Direction::Ingress => (Vec::new(), args.ingress_ports(), String::new()),
            Direction::Egress => egress_destinations(args, ctx)?,
        };
        let (to4, to6) = families(&to);
        Ok(FirewallBlockAction {
            args: args.clone(),
            ports,
            allow4,
            allow6,
            to4,
            to6,
            to_source,
            explicit: args.allow.clone(),
            peers,
            forwarded: args.direction == Direction::Egress,
            files: StepFiles::new(ctx.run_id, ctx.step_id)?,
        })
    }

    pub(super) fn direction(&self) -> Direction {
        self.args.direction
    }

    /// The hooks the block's rules sit on: ingress `input`; egress `output` (the node's own
    /// connections) and `forward` (its pods'), or `output` alone for a block made before the
    /// forward hook was covered.
    pub(super) fn hooks(&self) -> &'static [Hook] {
        match (self.direction(), self.forwarded) {
            (Direction::Ingress, _) => &[Hook::Input],
            (Direction::Egress, true) => &[Hook::Output, Hook::Forward],
            (Direction::Egress, false) => &[Hook::Output],
        }
    }

    /// This block as the run that journaled `snap` applied it: verify and undo compare the node
    /// with the rules that run loaded, which for an egress block made before the forward hook
    /// was covered are the output hook's alone.
    fn as_applied(&self, snap: &BlockSnapshot) -> FirewallBlockAction {
        let mut applied = self.clone();
        applied.forwarded = snap.forwarded && self.direction() == Direction::Egress;
        applied
    }

    pub(super) fn ports_text(&self, sep: &str) -> String {
        self.ports
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
        nets_text(&self.allow4, &self.allow6)
    }

    /// Whether an egress block drops this node's packets to `addr` (on `ports`).
    fn blocks_destination(&self, addr: IpAddr) -> bool {
        let to = match addr {
            IpAddr::V4(a) => self.to4.iter().any(|n| n.contains(&a)),
            IpAddr::V6(a) => self.to6.iter().any(|n| n.contains(&a)),
        };
        to && !self.covers(addr)
    }

    /// The `ss` filter of the established connections an egress block covers: to `ports` of
    /// the destinations, not to an allowed one (`kill-flows.sh`). Only typed addresses and
    /// ports go into it, and it reaches the node as one quoted input.
    pub(super) fn ss_filter(&self) -> String {
        let nets = |v4: &[Ipv4Net], v6: &[Ipv6Net]| {
            v4.iter()
                .map(|n| format!("dst {n}"))
                // `[net/len]`: ss reads a bare `/len` after `]` as a port.
                .chain(v6.iter().map(|n| format!("dst [{n}]")))
                .collect::<Vec<_>>()
                .join(" or ")
        };
        let ports = self
            .ports
            .iter()
            .map(|p| format!("dport = :{p}"))
            .collect::<Vec<_>>()
            .join(" or ");
        format!(
            "( {ports} ) and ( {} ) and not ( {} )",
            nets(&self.to4, &self.to6),
            nets(&self.allow4, &self.allow6)
        )
    }

    /// `incoming tcp/6443` or `outgoing tcp/443 to 10.0.12.0/24`: what the block drops.
    fn what(&self) -> String {
        match self.direction() {
            Direction::Ingress => format!("incoming tcp/{}", self.ports_text(",")),
            Direction::Egress => format!(
                "outgoing tcp/{} to {}",
                self.ports_text(","),
                nets_text(&self.to4, &self.to6)
            ),
        }
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
        if let Some(live) = snap.prior.direction()
            && live != self.direction()
        {
            let whose = snap.owner_before.as_deref().map_or_else(String::new, |b| {
                let (run, step) = b.rsplit_once('/').unwrap_or((b, ""));
                format!(
                    " (run {} step {step})",
                    run.rsplit('/').next().unwrap_or(run)
                )
            });
            return Err(ActionFailure::refused(format!(
                "refused: {node} holds a breakglass block of {} connections{whose}, and a node \
                 holds one breakglass block at a time: this block of {} connections would \
                 replace it. Lift that block first (`breakglass undo RUN`, or a \
                 firewall.unblock runbook), or leave {node} out of this step's `targets`; \
                 nothing was changed",
                live.word(),
                self.direction().word()
            )));
        }
        if self.direction() == Direction::Egress {
            // The node's side of this SSH session sends to the operator's (or the jump
            // host's) port: only a block of that address and that port could cut it.
            if self.blocks_destination(session.client)
                && let Some(port) = session.client_port.filter(|p| self.ports.contains(p))
            {
                return Err(ActionFailure::refused(format!(
                    "refused: {node} answers this SSH session at {addr} port {port}, which the \
                     block would drop ({addr} is among the destinations and {port} among \
                     `ports`), cutting breakglass and the operator off the node. Narrow `to` \
                     or `ports`, or add \"{addr}\" to `allow`; nothing was changed",
                    addr = session.client
                )));
            }
            return Ok(());
        }
        if self.ports.contains(&session.server_port) {
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

impl FirewallBlockAction {
    /// Appended to a script that reverts this block: the owner marker goes back to the step
    /// that held it before, if it still names this one. A timer that also lifts earlier blocks
    /// (`deadman_prior`) cannot tell who held it before those: it removes the marker.
    fn hand_back(&self, snap: &BlockSnapshot) -> Result<String, ActionFailure> {
        let before = if snap.deadman_prior.is_some() {
            None
        } else {
            snap.owner_before.as_deref()
        };
        owner_script(Some(&self.files.base()), before)
    }

    /// Whether the node's rules are this block's (`verify`, and `undo` before it restores).
    fn holds(&self, facts: &Facts, backend: Backend, v6: bool) -> Result<(), String> {
        match backend {
            Backend::Nft => match (&facts.nft_json, &facts.nft_table) {
                (Some(json), _) => self.check_nft(json),
                (None, Some(text)) => self.check_nft_text(text, facts),
                (None, None) => Err("table inet breakglass is missing".to_owned()),
            },
            Backend::Iptables => self
                .check_ipt("iptables", facts.ipt.as_ref(), false)
                .and_then(|()| {
                    if v6 {
                        self.check_ipt("ip6tables", facts.ip6t.as_ref(), true)
                    } else {
                        Ok(())
                    }
                }),
        }
    }

    /// Does now what the step's dead-man timer would have done (the same restore script), and
    /// cancels the timer and removes the step's files: a block whose timer could not be armed
    /// is not left behind. Returns what to add to the failure.
    fn roll_back(&self, node: &mut dyn Node, snap: &BlockSnapshot) -> String {
        let rolled = restore_script(
            snap.deadman_prior.as_ref().unwrap_or(&snap.prior),
            None,
            &format!(
                "rollback of run {} step {}: its dead-man timer could not be armed",
                self.files.run_id, self.files.step_id
            ),
        )
        .and_then(|script| {
            let forget = self.files.vars()?.then(&[DEADMAN_FNS, FORGET]);
            let forget = forget + &self.hand_back(snap)?;
            let r = node.run(
                "/bin/sh -s",
                Some(format!("{PRELUDE}{script}{forget}").as_bytes()),
            );
            ok_or("rolling the block back", &r)
        });
        match rolled {
            Ok(()) => "the block was rolled back on this node".to_owned(),
            Err(e) => format!(
                "the block could not be rolled back ({e}): it may still be in place with no \
                 timer; run `breakglass undo {}` or a firewall.unblock runbook",
                self.files.run_id
            ),
        }
    }
}

impl Action for FirewallBlockAction {
    fn kind(&self) -> &'static str {
        "firewall.block"
    }

    fn plan(&self, _target: &str) -> String {
        let mut except: Vec<String> = self.explicit.iter().map(ToString::to_string).collect();
        except.push(LOOPBACK[0].to_owned());
        let mut s = format!("block {}", self.what());
        if self.direction() == Direction::Egress {
            let _ = write!(s, " ({})", self.to_source);
        }
        let _ = write!(s, " except {}", except.join(", "));
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
        let own = self.files.base();
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
        let owner_before = facts
            .owner
            .as_ref()
            .map(|o| o.base.clone())
            .filter(|base| *base != own);
        let snap = BlockSnapshot {
            owner_before,
            backend,
            earlier_attempt: saved.is_some(),
            deadman_prior,
            supersedes: earlier.iter().map(|(base, _, _)| base.clone()).collect(),
            prior,
            ssh_connection: facts.ssh_raw.clone(),
            session: facts.ssh.clone(),
            systemd: facts.systemd,
            forwarded: self.forwarded,
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
            let mut script = restore_script(
                snap.deadman_prior.as_ref().unwrap_or(&snap.prior),
                Some(&snap.prior),
                &format!(
                    "restores the firewall as it was before run {} step {} blocked {}",
                    self.files.run_id,
                    self.files.step_id,
                    self.what()
                ),
            )?;
            script.push_str(&self.hand_back(&snap)?);
            save_restore(node, &self.files, &script)?;
        }
        let mut inputs = self.files.vars()?;
        inputs
            .var("owner_expect", "-")?
            .var("owner_new", &self.files.base())?;
        let (block, payload) = match snap.backend {
            Backend::Nft => (BLOCK_NFT, self.nft_ruleset()),
            Backend::Iptables => {
                let v6 = if snap.prior.ip6tables.is_some() {
                    "yes"
                } else {
                    "no"
                };
                let hooks: Vec<&str> = self.hooks().iter().map(|h| h.iptables()).collect();
                inputs.var("v6", v6)?.var("hooks", &hooks.join(" "))?;
                (BLOCK_IPTABLES, self.ipt_payload())
            }
        };
        let mut scripts = vec![block, OWNER];
        let kill = self.args.cut_established && self.direction() == Direction::Egress;
        if kill {
            inputs.var("flows", &self.ss_filter())?;
            scripts.push(KILL_FLOWS);
        }
        let cmd = if secs > 0 {
            block_then_arm(inputs, &scripts, secs, &snap.supersedes)?
        } else {
            command(&inputs, &scripts)?
        };
        let r = node.run(&cmd, Some(payload.as_bytes()));
        if let Err(mut e) = ok_or(&format!("blocking with {}", snap.backend.name()), &r) {
            // Exit 3: the backend refused the block (one transaction: nothing changed). Exit 5:
            // `arm.sh` could not arm the timer and reverted the block itself. Anything else
            // may have left a block without its timer: put it back now.
            let code = match &r.outcome {
                Outcome::Exit { status, .. } => Some(*status),
                _ => None,
            };
            if secs > 0 && !matches!(code, Some(3 | 5)) && !e.never_ran {
                e.message = format!("{}; {}", e.message, self.roll_back(node, &snap));
            }
            return Err(e);
        }
        let out = sections(&stdout(&r));
        let mut summary = format!(
            "blocked {} with {} ({} allowed network{})",
            self.what(),
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
            "direction": self.direction(),
            "ports": self.ports,
            "allow": self.allowlist_text(),
            "cut_established": self.args.cut_established,
        });
        if self.direction() == Direction::Egress {
            detail["to"] = json!(nets_text(&self.to4, &self.to6));
        }
        if kill {
            // `kill-flows.sh`: how many established connections `ss -K` ended at once, or
            // why it could not (the rules still cut each one at its next packet).
            let killed = out.get("killed").map_or("", |k| k.trim());
            match killed.parse::<u64>() {
                Ok(n) => {
                    let _ = write!(
                        summary,
                        "; ended {n} established connection{} at once",
                        if n == 1 { "" } else { "s" }
                    );
                    detail["killed"] = json!(n);
                }
                Err(_) => {
                    let _ = write!(
                        summary,
                        "; established connections end at their next packet ({})",
                        if killed.is_empty() {
                            "ss -K did not answer"
                        } else {
                            killed
                        }
                    );
                }
            }
        }
        if secs > 0 {
            let Armed {
                kind,
                timer,
                id,
                expires,
            } = Armed::parse(out.get("deadman").map_or("", String::as_str));
            if kind.is_none() || expires.is_empty() {
                return Err(ActionFailure::failed(format!(
                    "the node did not report an armed dead-man timer (its answer: {:?}); {}",
                    out.get("deadman").map_or("", |d| d.trim()),
                    self.roll_back(node, &snap)
                )));
            }
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
        self.as_applied(&snap)
            .holds(&facts, snap.backend, snap.prior.ip6tables.is_some())
            .map_err(|e| ActionFailure::failed(format!("the block does not hold: {e}")))?;
        let armed = is_armed(&facts.deadman);
        if !self.args.revert_after.is_zero() && !armed {
            return Err(ActionFailure::failed(format!(
                "the dead-man timer is not armed ({}); {}",
                facts.deadman,
                self.roll_back(node, &snap)
            )));
        }
        Ok(())
    }

    fn inverse(&self, snapshot: &Value) -> Option<Box<dyn Action>> {
        let snap: BlockSnapshot = serde_json::from_value(snapshot.clone()).ok()?;
        let this = self.as_applied(&snap);
        let (backend, v6) = (snap.backend, snap.prior.ip6tables.is_some());
        let mut reverted = vec![snap.prior.clone()];
        reverted.extend(snap.deadman_prior.clone());
        Some(Box::new(FirewallRestoreAction {
            prior: snap.prior,
            cancel: Some(self.files.clone()),
            what: "firewall.block",
            guard: Some(UndoGuard {
                files: self.files.clone(),
                owner_before: snap.owner_before,
                reverted,
                holds: Box::new(move |facts| this.holds(facts, backend, v6)),
            }),
        }))
    }
}

#[cfg(test)]
mod tests;
