//! What a node has, read in one call of `facts.sh` before anything changes and again to verify:
//! which firewall tools exist and work, whether PID 1 is systemd, this SSH session as the node
//! sees it, breakglass's table and chains as they are now, and the restore scripts and dead-man
//! timers that earlier steps left. [`Facts`] is that answer parsed, plus the one decision that
//! follows from it alone: which backend a block can use here.
//!
//! Reading only: `facts.sh` changes nothing, and nothing here may send a script that does.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::deadman::{DEADMAN_FNS, rfc3339};
use super::iptables::{IptState, parse_ipt};
use super::nft::{NftState, nft_objects, text_set_elements};
use super::shell::{command, ok_or, sections, stdout};
use super::step_files::{StepFiles, is_state_base};
use super::{Backend, FwState};
use crate::actions::args::FirewallBackend;
use crate::actions::contract::{ActionFailure, Node};

/// Reads everything the actions decide on and verify with ([`Facts`]); changes nothing.
pub(super) const FACTS: &str = include_str!("facts.sh");

/// The SSH session as the node sees it (`$SSH_CONNECTION`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The operator's address (or the jump host's), as the node sees it.
    pub client: IpAddr,
    /// The operator's (or the jump host's) port: where the node's side of the session sends.
    /// `None` in snapshots journaled before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_port: Option<u16>,
    pub server_port: u16,
}

impl Session {
    /// `client_ip client_port server_ip server_port`. A v4-mapped client (`::ffff:a.b.c.d`) is
    /// the IPv4 address it maps; a zone (`%eth0`) is dropped.
    pub fn parse(text: &str) -> Option<Session> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [client, client_port, _, port] = fields.as_slice() else {
            return None;
        };
        let client = client.split('%').next().unwrap_or_default();
        let client: IpAddr = client.parse().ok()?;
        let client = match client {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(client, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        Some(Session {
            client,
            client_port: client_port.parse().ok(),
            server_port: port.parse().ok()?,
        })
    }
}

/// The owner marker as a node reported it (`/run/breakglass/RUN/STEP EPOCH`, see `owner.sh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Owner {
    /// `/run/breakglass/RUN/STEP`.
    pub(super) base: String,
    /// When it was claimed (epoch seconds), if the node said.
    pub(super) since: Option<u64>,
}

impl Owner {
    /// The node's answer is untrusted: only a base of the shape breakglass writes is kept.
    fn parse(text: &str) -> Option<Owner> {
        let mut words = text.split_whitespace();
        let base = words.next()?;
        is_state_base(base).then(|| Owner {
            base: base.to_owned(),
            since: words.next().and_then(|w| w.parse().ok()),
        })
    }

    /// `run RUN step STEP (since TIME)`, for messages.
    pub(super) fn describe(&self) -> String {
        let (run, step) = self
            .base
            .rsplit_once('/')
            .map_or((self.base.as_str(), ""), |(dir, step)| {
                (dir.rsplit('/').next().unwrap_or(dir), step)
            });
        let mut s = format!("run {run} step {step}");
        if let Some(when) = self.since.and_then(|e| rfc3339(&e.to_string())) {
            s.push_str(&format!(" (at {when})"));
        }
        s
    }
}

/// The parsed output of [`FACTS`] (`facts.sh`).
#[derive(Debug, Default)]
pub(super) struct Facts {
    pub(super) nft: bool,
    pub(super) iptables: bool,
    pub(super) ip6tables: bool,
    pub(super) systemd: bool,
    pub(super) ssh: Option<Session>,
    pub(super) ssh_raw: String,
    pub(super) nft_table: Option<String>,
    pub(super) nft_json: Option<Value>,
    pub(super) nft_error: Option<String>,
    pub(super) ipt: Option<IptState>,
    pub(super) ipt_error: Option<String>,
    pub(super) ip6t: Option<IptState>,
    pub(super) ip6t_error: Option<String>,
    pub(super) saved: Option<FwState>,
    pub(super) saved_before: Option<FwState>,
    pub(super) deadman: String,
    /// The owner marker (`owner.sh`): the step whose change the firewall state is, and since
    /// when; `None` when absent or not of the form breakglass writes.
    pub(super) owner: Option<Owner>,
    pub(super) timers: Vec<String>,
    /// Live dead-man timers: (`/run/breakglass/RUN/STEP`, restore script mtime, what it restores).
    pub(super) live: Vec<(String, u64, Option<FwState>)>,
}

impl Facts {
    fn parse(stdout: &str) -> Result<Facts, ActionFailure> {
        let s = sections(stdout);
        let Some(tools) = s.get("tools") else {
            return Err(ActionFailure::refused(
                "the node's answer to the firewall snapshot is incomplete (no tools section)",
            ));
        };
        let tools: BTreeSet<&str> = tools.lines().map(str::trim).collect();
        let nft_json = match s.get("nft_json") {
            Some(text) => Some(serde_json::from_str(text).map_err(|e| {
                ActionFailure::refused(format!("`nft -j list table inet breakglass`: {e}"))
            })?),
            None => None,
        };
        let ssh_raw = s.get("ssh").map_or("", |v| v.trim()).to_owned();
        Ok(Facts {
            nft: tools.contains("nft"),
            iptables: tools.contains("iptables"),
            ip6tables: tools.contains("ip6tables"),
            systemd: tools.contains("systemd"),
            ssh: Session::parse(&ssh_raw),
            ssh_raw,
            nft_table: s.get("nft_table").cloned(),
            nft_json,
            nft_error: s.get("nft_error").cloned(),
            ipt: s.get("iptables").map(|t| parse_ipt(t)),
            ipt_error: s.get("iptables_error").cloned(),
            ip6t: s.get("ip6tables").map(|t| parse_ipt(t)),
            ip6t_error: s.get("ip6tables_error").cloned(),
            saved: s
                .get("saved")
                .and_then(|t| serde_json::from_str(t.trim()).ok()),
            saved_before: s
                .get("saved_before")
                .and_then(|t| serde_json::from_str(t.trim()).ok()),
            live: s
                .iter()
                .filter_map(|(k, v)| {
                    let mut words = k.strip_prefix("timer_prior ")?.split(' ');
                    let base = words.next()?.to_owned();
                    let mtime = words.next().and_then(|m| m.parse().ok()).unwrap_or(0);
                    Some((base, mtime, serde_json::from_str(v.trim()).ok()))
                })
                .collect(),
            deadman: s.get("deadman").map_or("none", |v| v.trim()).to_owned(),
            owner: s.get("owner").and_then(|o| Owner::parse(o)),
            timers: s
                .get("timers")
                .map(|t| t.lines().map(str::to_owned).collect())
                .unwrap_or_default(),
        })
    }

    /// The nft component as it is now (`None` when nft is absent).
    pub(super) fn nft_state(&self) -> Option<NftState> {
        self.nft.then(|| NftState {
            table: self.nft_table.clone(),
        })
    }

    /// The ports of the table's `ports` set, when the table has one.
    pub(super) fn nft_ports(&self) -> Option<BTreeSet<u16>> {
        let Some(json) = self.nft_json.as_ref() else {
            return text_set_elements(self.nft_table.as_deref()?, "ports")?
                .iter()
                .map(|e| e.parse().ok())
                .collect();
        };
        let set = nft_objects(json, "set").find(|s| s["name"] == "ports")?;
        let mut ports = BTreeSet::new();
        for e in set["elem"].as_array().map_or(&[][..], Vec::as_slice) {
            ports.insert(u16::try_from(e.as_u64()?).ok()?);
        }
        Some(ports)
    }

    fn tool_error(&self, which: &str) -> Option<&str> {
        match which {
            "nft" => self.nft_error.as_deref(),
            "iptables" => self.ipt_error.as_deref(),
            _ => self.ip6t_error.as_deref(),
        }
    }

    /// The backend a block with `backend = wanted` uses on this node, or why it cannot block.
    pub(super) fn choose_backend(
        &self,
        node: &str,
        wanted: FirewallBackend,
    ) -> Result<Backend, ActionFailure> {
        let usable = |b: Backend| match b {
            Backend::Nft => self.nft && self.nft_error.is_none(),
            Backend::Iptables => self.iptables && self.ipt_error.is_none(),
        };
        let backend = match wanted {
            FirewallBackend::Auto if self.nft => Backend::Nft,
            FirewallBackend::Auto | FirewallBackend::Iptables => Backend::Iptables,
            FirewallBackend::Nft => Backend::Nft,
        };
        if usable(backend) {
            return Ok(backend);
        }
        let why = match self.tool_error(backend.name()) {
            Some(e) => format!("`{}` failed: {}", backend.name(), e.trim()),
            None => format!("`{}` is not installed", backend.name()),
        };
        Err(ActionFailure::refused(format!(
            "cannot block on {node}: {why}{}; nothing was changed",
            if wanted == FirewallBackend::Auto {
                " (and nft is absent)"
            } else {
                "; set `backend` to \"auto\" to use whichever is present"
            }
        )))
    }
}

/// Reads the node's firewall facts (for `step`'s state files).
pub(super) fn list(
    node: &mut dyn Node,
    files: &StepFiles,
    doing: &str,
) -> Result<Facts, ActionFailure> {
    let cmd = command(&files.vars()?, &[DEADMAN_FNS, FACTS])?;
    let r = node.run(&cmd, None);
    ok_or(doing, &r).map_err(|mut e| {
        // Reading changed nothing, whatever the transport says.
        e.never_ran = true;
        e
    })?;
    Facts::parse(&stdout(&r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_parse_mapped_and_zoned_addresses() {
        let s = Session::parse("::ffff:192.0.2.1 5000 192.0.2.9 22").expect("parse");
        assert_eq!(s.client, "192.0.2.1".parse::<IpAddr>().expect("ip"));
        assert_eq!(s.client_port, Some(5000));
        let s = Session::parse("fe80::1%eth0 5000 fe80::2 2222").expect("parse");
        assert_eq!(s.server_port, 2222);
        assert!(Session::parse("").is_none());
        assert!(Session::parse("1.2.3.4 5 6.7.8.9").is_none());
    }

    /// One section of a node's answer: a name `facts.sh` writes, then lines of odd content.
    fn section() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let name = prop::sample::select(vec![
            "tools",
            "ssh",
            "nft_table",
            "nft_json",
            "nft_error",
            "iptables",
            "iptables_error",
            "ip6tables",
            "saved",
            "saved_before",
            "timer_prior /run/breakglass/r/s 17",
            "deadman",
            "owner",
            "timers",
            "x",
        ]);
        let line = prop_oneof![
            "\\PC{0,30}",
            "(nft|iptables|ip6tables|systemd)",
            "(::ffff:)?[0-9.:a-f%]{1,20} [0-9]{1,6} [0-9.:]{1,15} [0-9]{1,7}",
            "/run/breakglass/[a-z0-9-]{0,8}/[a-z0-9]{0,4}( [0-9]{0,25})?",
            "-(N|A) (BREAKGLASS|INPUT)( -p tcp -m multiport --dports [0-9,:]{0,12})?( -j [A-Z]{0,8})?",
            "\\{\"nftables\": \\[\\{\"(table|chain|set|rule)\": \\{\"name\": \"[a-z]{0,5}\", \"elem\": \\[[0-9, ]{0,10}\\]\\}\\}\\]\\}",
        ];
        (name, prop::collection::vec(line, 0..4))
            .prop_map(|(name, lines)| format!("@@bg:{name}@@\n{}", lines.join("\n")))
    }

    proptest::proptest! {
        #![proptest_config(crate::proptests::config())]

        /// Issue #11 point 6: whatever a node answers to the firewall snapshot, reading it
        /// (and what is derived from it) never panics.
        #[test]
        fn firewall_facts_never_panic(sections in proptest::collection::vec(section(), 0..8)) {
            let text = sections.join("\n");
            if let Ok(facts) = Facts::parse(&text) {
                let _ = facts.nft_state();
                let _ = facts.nft_ports();
                if let Some(owner) = &facts.owner {
                    let _ = owner.describe();
                }
            }
            let _ = Facts::parse(&format!("@@bg:tools@@\nnft\n{text}"));
        }

        #[test]
        fn node_words_never_panic(text in "\\PC{0,60}") {
            let _ = Session::parse(&text);
            let _ = Owner::parse(&text);
            let _ = super::super::iptables::parse_ipt(&text);
            let _ = super::super::deadman::Armed::parse(&text);
            let _ = super::super::deadman::rfc3339(&text);
            let _ = super::super::shell::sections(&text);
        }

        /// `expires=`, `.fired` and `.confirmed` epochs from a node: any number, any size.
        #[test]
        fn reported_epochs_never_panic(n in proptest::prelude::any::<u64>(), extra in "[ -~]{0,4}") {
            let _ = super::super::deadman::rfc3339(&format!("{n}{extra}"));
            let report = format!("kind=detached pid={n} pidfile=/x expires={n}{extra}");
            let _ = super::super::deadman::Armed::parse(&report);
        }
    }
}
