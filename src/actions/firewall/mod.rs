//! `firewall.block` and `firewall.unblock`: keep the nodes off the admin API of an overloaded
//! control plane, from the API server hosts themselves, over SSH.
//!
//! With nftables (the default) everything breakglass adds lives in one dedicated table,
//! `inet breakglass`, loaded atomically with `nft -f -` (the ruleset goes on stdin, never into a
//! shell string). Applying is idempotent because the same transaction creates, deletes and
//! recreates the table (<https://wiki.nftables.org/wiki-nftables/index.php/Atomic_rule_replacement>).
//! Without `nft` (or with `backend = "iptables"`) the same semantics live in a `BREAKGLASS` chain
//! jumped to from position 1 of `INPUT` (egress: of `OUTPUT` and `FORWARD`), in `iptables` and
//! `ip6tables`, loaded with `iptables-restore --noflush` so each family changes in one commit.
//!
//! An ingress block (the default) protects the API server hosts it runs on: the rules below sit
//! on the input hook (`INPUT`). An egress block (`direction = "egress"`) runs on the nodes and
//! drops their connections *to* the API endpoints (`to`, or the inventory cluster's
//! endpoints): the same rules mirrored onto the output hook (`OUTPUT`), with destinations where
//! ingress has sources, and again onto the forward hook (`FORWARD`). The output hook sees what
//! the node's own processes send (kubelet, host-network pods); the forward hook sees what the
//! node routes for its pods, each in its own network namespace behind a veth: a `DaemonSet`'s
//! watch, with kube-proxy's DNAT (prerouting) already done, so its destination is the real
//! endpoint, as `to` names it. A CNI that hands pod traffic past netfilter (Cilium's eBPF host
//! routing, say) bypasses both hooks, and so this block. Nothing here accepts by conntrack
//! state, so `reject with tcp reset` answers every packet of an established connection too: a
//! kubelet's watch fails at its next packet rather than hanging; and `kill-flows.sh` (`ss -K`)
//! ends the node's own quiet ones at once (a pod's socket lives in the pod's namespace, out of
//! its reach: the reset ends it at its next packet, the pod's ACK of the API server's next
//! write). The node's replies to the operator's SSH session leave from port 22 to the
//! operator's port, which no rule matches unless the operator's address is a destination and
//! its port one of `ports` (refused). Egress blocks made before the forward hook was covered
//! hold the output hook only; their snapshot says so (`BlockSnapshot::forwarded`), and their
//! verify and undo check that ruleset, not today's. A node holds one breakglass block at a
//! time (one table, one chain): a block of the other direction is refused rather than
//! replaced.
//!
//! The rules, in order: accept what comes in on `lo` (goes out on `lo`, egress; the forward chain
//! has no such rule, as nothing forwarded passes `lo`); accept the allowlist (loopback networks,
//! `allow`, the addresses of `allow_targets`); drop new connections (a bare SYN) to the ports; with
//! `cut_established`, let RSTs through and answer every other packet to the ports with a TCP reset.
//! A drop, not a reset, for SYNs: a client whose SYN goes unanswered backs off exponentially, while
//! a refused one retries at once, and thousands of kubelets retrying at once is the load we are
//! removing. A reset for the rest: a kubelet's watch is an established connection that a SYN rule
//! never sees, and the reset ends it now rather than at its next reconnect. RSTs are let through so
//! that the client's own reset (sent when the server writes to the connection we killed) also
//! closes the server's side, freeing the API server's watch.
//!
//! Before changing anything, `apply` refuses a block that would cut the SSH port this very
//! session uses, or the operator's own address as the node sees it (`$SSH_CONNECTION`).
//!
//! The prior state (`nft -s list table inet breakglass`, or the `BREAKGLASS` chain and its jumps
//! from `INPUT`, `FORWARD` and `OUTPUT` as `iptables -S` prints them) is the snapshot. One
//! generated shell script puts it back exactly; it serves three purposes: the **dead-man
//! timer** on the node runs it unless `breakglass confirm RUN` cancels the timer first, `undo`
//! runs it (the inverse), and `firewall.unblock` uses the same generator to reach its target
//! state. Node-side state lives in `/run/breakglass/<run_id>/<step_id>.*` (tmpfs: a reboot
//! clears it together with the unpersisted ruleset it would restore):
//!
//! - `.restore`: the restore script (its `# breakglass-prior:` line holds the prior state as
//!   JSON, so a resumed run snapshots the state from *before* its first attempt);
//! - `.pid`: the detached timer process (when PID 1 is not systemd), a session leader whose
//!   command line names the `.restore` file, which is how a stale PID is told apart;
//! - `.unit`: the transient systemd unit (`systemd-run --on-active`) when PID 1 is systemd;
//! - `.fired` / `.confirmed`: when the timer fired or was cancelled by `confirm` (epoch seconds);
//! - and one per node, `/run/breakglass/firewall.owner`: the step whose change the breakglass
//!   firewall state now is (`owner.sh`). `undo` restores a step's prior state only while the
//!   marker still names that step and the live rules are what it applied, so undoing an older
//!   run never clobbers a later run's block; a block whose timer cannot be armed is rolled back.
//!
//! The shell run on the node is this folder's `.sh` files, each with its inputs and output in
//! its header; Rust only puts quoted input lines in front of them (`super::script`) and data on
//! stdin or in quoted heredocs.
//!
//! The Rust is one file per concern: `facts.rs` (what a node has, as `facts.sh` reports it),
//! `nft.rs` and `iptables.rs` (the two backends: the rules, their read-back, the state a snapshot
//! records), `block.rs` and `unblock.rs` (the two actions), `restore.rs` (putting a recorded state
//! back: the restore script and the inverse of both actions), `deadman.rs` (the timer),
//! `confirm.rs` (what `breakglass confirm` runs), `shell.rs` (how a script is sent and its answer
//! split) and `step_files.rs` (the names of a step's node-side state). This file holds what they
//! all share: [`FwState`], [`Backend`], [`STATE_ROOT`] and reading a journaled snapshot back.

mod block;
mod confirm;
mod deadman;
mod facts;
mod iptables;
mod nft;
mod restore;
mod shell;
mod step_files;
#[cfg(test)]
mod tests;
mod unblock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::args::Direction;
use super::contract::ActionFailure;

pub use block::{BlockSnapshot, FirewallBlockAction};
pub use confirm::{Confirmed, confirm_command, confirm_results};
pub use facts::Session;
pub use iptables::{IptState, Jump};
pub use nft::NftState;
pub use restore::{FirewallRestoreAction, restore_script};
pub use step_files::StepFiles;
pub use unblock::{FirewallUnblockAction, UnblockSnapshot};

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

/// A netfilter hook a block sits on: an nft base chain of that name in `inet breakglass`, or
/// the iptables built-in chain that jumps to `BREAKGLASS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hook {
    /// Packets to the node itself (ingress).
    Input,
    /// Packets the node's own processes send (egress).
    Output,
    /// Packets the node routes for others: on a worker, its pods' (egress).
    Forward,
}

impl Hook {
    /// The nft hook and chain name.
    pub(super) fn nft(self) -> &'static str {
        match self {
            Hook::Input => "input",
            Hook::Output => "output",
            Hook::Forward => "forward",
        }
    }

    /// The interface match of the rule that lets loopback through (`iif`, `oif`). None on
    /// forward: loopback traffic is the node talking to itself, and a forwarded packet never
    /// comes in or goes out by `lo` (one to a local address is input, not forward).
    pub(super) fn loopback(self) -> Option<&'static str> {
        match self {
            Hook::Input => Some("iif"),
            Hook::Output => Some("oif"),
            Hook::Forward => None,
        }
    }

    /// The iptables built-in chain.
    pub(super) fn iptables(self) -> &'static str {
        match self {
            Hook::Input => "INPUT",
            Hook::Output => "OUTPUT",
            Hook::Forward => "FORWARD",
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

impl FwState {
    /// Which way the block this state holds points: nft's chain hook (`input`; `output`, with
    /// or without `forward`), or the built-in chains jumping to `BREAKGLASS`. `None` when it
    /// holds no block (or none that breakglass would recognise).
    pub fn direction(&self) -> Option<Direction> {
        let table = self.nft.as_ref().and_then(|n| n.table.as_deref());
        if let Some(t) = table {
            if t.contains("type filter hook output") {
                return Some(Direction::Egress);
            }
            if t.contains("type filter hook input") {
                return Some(Direction::Ingress);
            }
        }
        let jumps = [&self.iptables, &self.ip6tables]
            .into_iter()
            .flatten()
            .flat_map(|s| &s.jumps);
        for j in jumps {
            if j.rule.starts_with("-A OUTPUT ") || j.rule.starts_with("-A FORWARD ") {
                return Some(Direction::Egress);
            }
            if j.rule.starts_with("-A INPUT ") {
                return Some(Direction::Ingress);
            }
        }
        None
    }
}

/// A journaled snapshot read back into the type its action wrote; one this build cannot read is
/// refused before anything changes.
fn parse_snapshot<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, ActionFailure> {
    serde_json::from_value(v.clone()).map_err(|e| {
        ActionFailure::refused(format!(
            "the snapshot is not one this build understands ({e}); nothing was changed"
        ))
    })
}
