//! The lab's network: its namespaces, veths and bridge (created in two `ip -batch` runs, deleted
//! in one), the /24 it claims, the names that mark a namespace as a lab's (`bglab-ID-...`), and
//! the processes found inside a lab's namespaces.
//!
//! Nothing here adds a default route or NAT: no packet can leave the lab's subnet.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, anyhow, bail};

use super::node::NodePlan;
use super::owner::live_labs;
use super::tools::{Tools, run};
use super::{ID_LEN, Lab, NET_A, NET_B, NS_PREFIX, STATE_ROOT};

impl Lab {
    /// Namespaces, veths, bridge and the operator address, in two `ip -batch` runs.
    pub(super) fn create_network(&mut self, plans: &[NodePlan]) -> anyhow::Result<()> {
        // One namespace (and veth, named after its first node's index) per distinct `netns`:
        // in the scale mode several nodes share one.
        let mut firsts: Vec<&NodePlan> = Vec::new();
        for plan in plans {
            if !firsts.iter().any(|f| f.netns == plan.netns) {
                firsts.push(plan);
            }
        }
        // Record names first: if creation fails halfway, teardown still removes what exists.
        self.namespaces.push(self.hub.clone());
        self.namespaces
            .extend(firsts.iter().map(|p| p.netns.clone()));
        let mut root = format!("netns add {}\n", self.hub);
        for plan in &firsts {
            let _ = writeln!(root, "netns add {}", plan.netns);
        }
        let _ = writeln!(
            root,
            "link add {} type veth peer name up-{} netns {}",
            self.root_veth, self.id, self.hub
        );
        for plan in &firsts {
            let _ = writeln!(
                root,
                "link add n{}-{} netns {} type veth peer name eth0 netns {}",
                plan.index, self.id, self.hub, plan.netns
            );
        }
        let _ = writeln!(
            root,
            "addr add {}/{} dev {}\nlink set {} up",
            self.operator_address(),
            self.prefix,
            self.root_veth,
            self.root_veth
        );
        ip_batch(&self.tools, None, &root, false).context("creating the lab's namespaces")?;
        let mut hub = format!(
            "link set lo up\nlink add br-{id} type bridge\nlink set br-{id} up\n\
             link set up-{id} master br-{id} up\n",
            id = self.id
        );
        for plan in &firsts {
            let _ = writeln!(
                hub,
                "link set n{}-{id} master br-{id} up",
                plan.index,
                id = self.id
            );
        }
        ip_batch(&self.tools, Some(&self.hub), &hub, false).context("creating the lab's bridge")
    }
}

/// The prefix length of a lab subnet whose host numbers run from 0 to `hosts - 1` (the
/// operator, the cloud, the nodes from [`FIRST_NODE_HOST`](super::build::FIRST_NODE_HOST) on)
/// with the broadcast address after them.
pub(super) fn prefix_for(hosts: usize) -> Option<u8> {
    [24u8, 23, 22]
        .into_iter()
        .find(|p| hosts < 1usize << (32 - p))
}

/// `X` or `X/PREFIX`, as a lab's `subnet` file holds it.
pub(super) fn parse_subnet(text: &str) -> Option<(u8, u8)> {
    let text = text.trim();
    let (octet, prefix) = text.split_once('/').unwrap_or((text, "24"));
    Some((octet.parse().ok()?, prefix.parse().ok()?)).filter(|(_, p)| (22..=24).contains(p))
}

/// A third octet X, a multiple of the block's size in /24s, such that none of the /24s of
/// 10.231.X.0/`prefix` is on any root-namespace address or more specific route, nor claimed by
/// another live lab. Called under the global lock.
pub(super) fn choose_octet(tools: &Tools, prefix: u8) -> anyhow::Result<u8> {
    let mut used = BTreeSet::new();
    let addrs = run(Command::new(&tools.ip).args(["-o", "-4", "addr", "show"]))?;
    let routes = run(Command::new(&tools.ip).args(["-o", "-4", "route", "show", "table", "all"]))?;
    let text = String::from_utf8_lossy(&addrs.stdout).into_owned()
        + &String::from_utf8_lossy(&routes.stdout);
    for token in text.split_whitespace() {
        let (addr, len) = token.split_once('/').unwrap_or((token, "32"));
        let (Ok(addr), Ok(len)) = (addr.parse::<Ipv4Addr>(), len.parse::<u8>()) else {
            continue;
        };
        let [a, b, c, _] = addr.octets();
        // Addresses count whatever their prefix; a much shorter route (10.0.0.0/8) is
        // overridden by the lab's connected subnet and does not matter; a /22 or /23 (another
        // big lab's) takes its whole block.
        if a == NET_A && b == NET_B {
            if len >= 24 || text.contains(&format!("inet {token}")) {
                used.insert(c);
            }
            if (22..24).contains(&len) {
                let block = 1u8 << (24 - len);
                let first = c & !(block - 1);
                used.extend(first..=first.saturating_add(block - 1));
            }
        }
    }
    for id in live_labs() {
        if let Ok(text) = fs::read_to_string(Path::new(STATE_ROOT).join(id).join("subnet"))
            && let Some((octet, p)) = parse_subnet(&text)
        {
            used.extend(
                (0..1u16 << (24 - p)).filter_map(|i| u8::try_from(u16::from(octet) + i).ok()),
            );
        }
    }
    let size = 1u16 << (24 - prefix);
    let start = fastrand::u16(..256 / size);
    (0..256 / size)
        .map(|i| (start + i) % (256 / size) * size)
        .find(|x| (*x..*x + size).all(|o| u8::try_from(o).is_ok_and(|o| !used.contains(&o))))
        .and_then(|x| u8::try_from(x).ok())
        .ok_or_else(|| anyhow!("no free /{prefix} left in {NET_A}.{NET_B}.0.0/16 for another lab"))
}

pub(super) fn delete_network(
    tools: &Tools,
    root_veth: &str,
    namespaces: &[String],
) -> anyhow::Result<()> {
    let mut batch = String::new();
    if Path::new("/sys/class/net").join(root_veth).exists() {
        let _ = writeln!(batch, "link del {root_veth}");
    }
    for ns in namespaces {
        if Path::new("/run/netns").join(ns).exists() {
            let _ = writeln!(batch, "netns del {ns}");
        }
    }
    if batch.is_empty() {
        return Ok(());
    }
    ip_batch(tools, None, &batch, true).context("deleting the lab's namespaces")
}

pub(super) fn lab_id_of_netns(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(NS_PREFIX)?;
    let (id, _) = rest.split_once('-')?;
    is_lab_id(id).then_some(id)
}

pub(super) fn is_lab_id(s: &str) -> bool {
    s.len() == ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Network namespace inode numbers of the named namespaces (those that still exist).
pub(super) fn netns_inodes(namespaces: &[String]) -> BTreeSet<u64> {
    namespaces
        .iter()
        .filter_map(|ns| fs::metadata(Path::new("/run/netns").join(ns)).ok())
        .map(|m| m.ino())
        .collect()
}

/// PIDs of processes whose network namespace is one of `inodes` (never this process).
pub(super) fn processes_in(inodes: &BTreeSet<u64>) -> Vec<u32> {
    if inodes.is_empty() {
        return Vec::new();
    }
    let me = std::process::id();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            fs::read_link(format!("/proc/{pid}/ns/net"))
                .ok()
                .and_then(|l| {
                    let l = l.to_string_lossy().into_owned();
                    l.strip_prefix("net:[")?
                        .strip_suffix(']')?
                        .parse::<u64>()
                        .ok()
                })
                .is_some_and(|ino| inodes.contains(&ino))
        })
        .collect()
}

/// `ip [-n NS] [-force] -batch -` with `lines` on stdin.
pub(super) fn ip_batch(
    tools: &Tools,
    netns: Option<&str>,
    lines: &str,
    force: bool,
) -> anyhow::Result<()> {
    let mut cmd = Command::new(&tools.ip);
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    if force {
        cmd.arg("-force");
    }
    cmd.args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().context("running ip -batch")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(lines.as_bytes())
            .context("writing to ip -batch")?;
    }
    let out = child.wait_with_output().context("waiting for ip -batch")?;
    if !out.status.success() {
        bail!(
            "ip -batch failed: {}\nbatch:\n{lines}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lab_takes_the_smallest_subnet_its_nodes_fit() {
        assert_eq!(prefix_for(10 + 245), Some(24));
        assert_eq!(prefix_for(10 + 246), Some(23));
        assert_eq!(prefix_for(10 + 500), Some(23));
        assert_eq!(prefix_for(10 + 1013), Some(22));
        assert_eq!(prefix_for(10 + 1014), None);
        assert_eq!(parse_subnet("74\n"), Some((74, 24)));
        assert_eq!(parse_subnet("8/22\n"), Some((8, 22)));
        assert_eq!(parse_subnet("8/16"), None);
    }

    #[test]
    fn lab_ids_are_read_from_namespace_names() {
        assert_eq!(lab_id_of_netns("bglab-0a1b2c-worker3"), Some("0a1b2c"));
        assert_eq!(lab_id_of_netns("bglab-0a1b2c-hub"), Some("0a1b2c"));
        assert_eq!(lab_id_of_netns("bglab-xyz-hub"), None);
        assert_eq!(lab_id_of_netns("other-0a1b2c-hub"), None);
    }
}
