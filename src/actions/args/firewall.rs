//! The arguments of `firewall.block` and `firewall.unblock`: the packet filter, the direction,
//! the allowlist and the dead-man timer's bounds.

use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::ArgProblem;
use super::values::{cidr_list, cidr_list_option, duration};

/// Which packet filter `firewall.block` programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FirewallBackend {
    /// nftables when `nft` is present, else iptables.
    #[default]
    Auto,
    /// nftables, in the dedicated table `inet breakglass`, applied atomically with `nft -f`.
    Nft,
    /// iptables and ip6tables, in dedicated chains, for hosts without `nft`.
    Iptables,
}

/// Which traffic `firewall.block` drops on its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Connections coming in to `ports` of the targets (the targets are API server hosts).
    #[default]
    Ingress,
    /// The targets' connections out to `to` on `ports` (the targets are the nodes, the
    /// destinations the API endpoints): the lever for managed control planes (EKS with the
    /// private endpoint, GKE private clusters, AKS), where there is no API server host to
    /// firewall and the cloud side cannot stop the nodes. Both the node's own connections (the
    /// output hook) and those it forwards for its pods (the forward hook: a `DaemonSet` pod in
    /// its own network namespace). Not covered: pod traffic a CNI sends past netfilter (Cilium
    /// with eBPF host routing, for one).
    Egress,
}

impl Direction {
    /// `incoming` or `outgoing`, as plans and summaries say it.
    pub fn word(self) -> &'static str {
        match self {
            Self::Ingress => "incoming",
            Self::Egress => "outgoing",
        }
    }
}

/// `firewall.block`, ingress (the default): on each target, drop TCP to `ports` from everyone
/// except loopback, `allow` and the addresses of the `allow_targets` hosts. Egress
/// (`direction = "egress"`): on each target, drop its TCP to the destinations `to` on `ports`,
/// its own and its pods' (forwarded), except to loopback, `allow` and the `allow_targets`
/// hosts. A CNI that bypasses netfilter for pod traffic (Cilium with eBPF host routing) takes
/// the pods' out of its reach.
///
/// Refuses a rule set that would block the SSH port or the operator's own address as the node
/// sees it (ingress), or the node's replies to the operator's SSH session (egress). The prior
/// ruleset is journaled, and `undo` restores it exactly.
///
/// ```toml
/// [steps.with]
/// direction = "egress"        # on the workers: their and their pods' connections to the API
/// to = ["10.0.12.0/24"]       # default: the cluster's node_api_endpoints (else api_endpoints)
/// ports = [443]               # required with `to`; default: the inventory endpoints' ports
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallBlock {
    /// "ingress" (default) or "egress": see the kind's description.
    #[serde(default)]
    pub direction: Direction,
    /// Egress only: the destinations whose `ports` the targets may no longer reach, the API
    /// endpoints' addresses or networks as the nodes reach them. Default: the runbook
    /// cluster's `node_api_endpoints` in the inventory, else its `api_endpoints` (with their
    /// ports).
    #[serde(
        default,
        deserialize_with = "cidr_list_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub to: Option<Vec<IpNet>>,
    /// TCP ports to block. Ingress default `[6443]`, the Kubernetes admin API; egress default:
    /// the ports of the inventory endpoints that `to` comes from (required with `to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<u16>>,
    /// Ingress: source networks still allowed, e.g. the break-glass bastion range. Egress:
    /// destinations still allowed, e.g. one API endpoint kept for the operator's tools. A bare
    /// address is one host. Default none.
    #[serde(default, deserialize_with = "cidr_list")]
    pub allow: Vec<IpNet>,
    /// Allow an entry of `allow` that is the whole address space (`0.0.0.0/0`, `::/0`), which
    /// makes the block block nothing on that family, or (egress) an entry of `to` that is the
    /// whole address space, which blocks `ports` to everywhere. Default false: such an entry
    /// is refused, since a parameter typed that way would silently turn the block off (or
    /// into a wall).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_any: bool,
    /// A selector: the inventory addresses of these hosts are allowed too (typically the
    /// control-plane peers, so API servers, etcd and load balancer health checks keep working).
    #[serde(default)]
    pub allow_targets: Option<String>,
    /// The dead-man timer: the node itself restores its previous ruleset after this long unless
    /// `breakglass confirm RUN` cancels it, so a block that cuts off the operator undoes itself.
    /// Default "20m"; "0s" disables the timer. Otherwise it must lie within
    /// `revert_after_limits` (default one minute to a day): a timer that fires before the
    /// operator can confirm, or one so far away that it is no safety net, is refused.
    #[serde(default = "default_revert_after", with = "duration")]
    pub revert_after: Duration,
    /// The bounds `revert_after` must lie within, e.g. `["30s", "3d"]`, themselves within the
    /// hard limits of 10 seconds and 7 days. Default `["1m", "1d"]`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "duration::limits"
    )]
    pub revert_after_limits: Option<(Duration, Duration)>,
    /// Also cut connections already established (kubelets and `DaemonSet` pods hold long-lived
    /// watches that a rule on new connections would leave running). Default true.
    #[serde(default = "yes")]
    pub cut_established: bool,
    /// "auto" (default), "nft" or "iptables".
    #[serde(default)]
    pub backend: FirewallBackend,
}

impl FirewallBlock {
    /// The ports an ingress block drops (`ports`, default 6443). An egress block without
    /// `ports` takes them from the inventory instead (`FirewallBlockAction`).
    pub fn ingress_ports(&self) -> Vec<u16> {
        self.ports.clone().unwrap_or_else(default_api_ports)
    }

    pub(super) fn validate(&self) -> Vec<ArgProblem> {
        let mut problems = Vec::new();
        match &self.ports {
            Some(p) if p.is_empty() => {
                problems.push(ArgProblem::at("ports", "list at least one port to block"));
            }
            Some(p) if p.contains(&0) => {
                problems.push(ArgProblem::at("ports", "port 0 is not a TCP port"));
            }
            _ => {}
        }
        let whom = match self.direction {
            Direction::Ingress => "source",
            Direction::Egress => "destination",
        };
        if !self.allow_any
            && let Some(any) = self.allow.iter().find(|n| n.prefix_len() == 0)
        {
            problems.push(ArgProblem::at(
                "allow",
                format!(
                    "{any} allows every {whom}, so the block would block nothing; list the \
                     networks to keep, or set `allow_any = true` in the step if that is meant"
                ),
            ));
        }
        problems.extend(self.to_problems());
        problems.extend(self.revert_after_problem());
        problems
    }

    /// `to` against `direction` and `ports`.
    fn to_problems(&self) -> Option<ArgProblem> {
        let to = self.to.as_ref()?;
        if self.direction == Direction::Ingress {
            return Some(ArgProblem::at(
                "to",
                "`to` names destinations, which only an egress block has: add \
                 `direction = \"egress\"` to block the targets' own connections to these, or \
                 remove `to` (an ingress block keeps the sources in `allow`)",
            ));
        }
        if to.is_empty() {
            return Some(ArgProblem::at(
                "to",
                "an empty list blocks nothing: list the API endpoints' addresses or networks as \
                 the nodes reach them, or omit `to` to take the cluster's from the inventory",
            ));
        }
        if !self.allow_any
            && let Some(any) = to.iter().find(|n| n.prefix_len() == 0)
        {
            return Some(ArgProblem::at(
                "to",
                format!(
                    "{any} is every destination: the targets could reach nothing on these ports \
                     (registries, webhooks, anything on 443). List the API endpoints, or set \
                     `allow_any = true` in the step if that is meant"
                ),
            ));
        }
        if self.ports.is_none() {
            return Some(ArgProblem::at(
                "to",
                "with `to`, give `ports` too: the API port the nodes connect to (443 on EKS, \
                 GKE and AKS; 6443 on kubeadm clusters)",
            ));
        }
        None
    }

    /// The bounds `revert_after` must lie within (`revert_after_limits`, or the default).
    pub fn revert_after_limits(&self) -> (Duration, Duration) {
        self.revert_after_limits
            .unwrap_or(REVERT_AFTER_DEFAULT_LIMITS)
    }

    /// Checked when the runbook is loaded, before any plan is shown: the timer a block arms is
    /// whole seconds on the node (`sleep`, `systemd-run --on-active`) and must fire neither
    /// before the operator can confirm nor so late that it is no safety net (and `8000y` is
    /// past what a node's clock, or an RFC 3339 date, can hold).
    fn revert_after_problem(&self) -> Option<ArgProblem> {
        let show = |d: Duration| humantime::format_duration(d).to_string();
        let (hard_min, hard_max) = REVERT_AFTER_HARD_LIMITS;
        if let Some((min, max)) = self.revert_after_limits
            && (min < hard_min || max > hard_max || min > max)
        {
            return Some(ArgProblem::at(
                "revert_after_limits",
                format!(
                    "[\"{}\", \"{}\"] is not within the hard limits of {} to {} (lower bound first)",
                    show(min),
                    show(max),
                    show(hard_min),
                    show(hard_max)
                ),
            ));
        }
        let d = self.revert_after;
        if d.is_zero() {
            return None;
        }
        let (min, max) = self.revert_after_limits();
        if d.subsec_nanos() != 0 {
            return Some(ArgProblem::at(
                "revert_after",
                format!(
                    "{} is not a whole number of seconds: the node's timer counts seconds",
                    show(d)
                ),
            ));
        }
        if d < min || d > max {
            return Some(ArgProblem::at(
                "revert_after",
                format!(
                    "{} is outside {} to {}: the dead-man timer must leave time to confirm and \
                     still be a safety net. Write a value in that range, or widen \
                     `revert_after_limits` (within {} to {}); \"0s\" disables the timer",
                    show(d),
                    show(min),
                    show(max),
                    show(hard_min),
                    show(hard_max)
                ),
            ));
        }
        None
    }
}

/// `revert_after` lies within these unless `revert_after_limits` says otherwise.
pub const REVERT_AFTER_DEFAULT_LIMITS: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(24 * 3600));
/// No `revert_after_limits` reach past these.
pub const REVERT_AFTER_HARD_LIMITS: (Duration, Duration) =
    (Duration::from_secs(10), Duration::from_secs(7 * 24 * 3600));

/// `firewall.unblock`: remove the blocks `firewall.block` installed, and cancel their dead-man
/// timers. Rules breakglass did not install are never touched.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallUnblock {
    /// Only unblock these ports. Default: every port breakglass blocked.
    #[serde(default)]
    pub ports: Option<Vec<u16>>,
}

impl FirewallUnblock {
    pub(super) fn validate(&self) -> Vec<ArgProblem> {
        match &self.ports {
            Some(p) if p.is_empty() => vec![ArgProblem::at(
                "ports",
                "an empty list unblocks nothing; omit `ports` to remove every block",
            )],
            Some(p) if p.contains(&0) => vec![ArgProblem::at("ports", "port 0 is not a TCP port")],
            _ => Vec::new(),
        }
    }
}

fn default_api_ports() -> Vec<u16> {
    vec![6443]
}

fn default_revert_after() -> Duration {
    Duration::from_secs(20 * 60)
}

fn yes() -> bool {
    true
}
