//! Who owns a lab: `DIR/owner` holds the PID and start time of the process that built it, and
//! the lab is live while that process runs (the start time guards against PID reuse after a
//! crash). Stale cleanup removes only labs this calls dead.

use std::fs;
use std::path::Path;

use anyhow::anyhow;

use super::STATE_ROOT;
use super::network::is_lab_id;

/// `PID STARTTIME`: the start time guards against PID reuse after a crash.
pub(super) fn owner_record(pid: u32) -> anyhow::Result<String> {
    let start = start_time(pid).ok_or_else(|| anyhow!("reading /proc/{pid}/stat"))?;
    Ok(format!("{pid} {start}\n"))
}

fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22 (starttime); fields after the parenthesised command start at field 3.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

pub(super) fn owner_alive(lab_dir: &Path) -> bool {
    let Ok(text) = fs::read_to_string(lab_dir.join("owner")) else {
        return false;
    };
    let mut fields = text.split_whitespace();
    let (Some(Ok(pid)), Some(Ok(start))) = (
        fields.next().map(str::parse::<u32>),
        fields.next().map(str::parse::<u64>),
    ) else {
        return false;
    };
    start_time(pid) == Some(start)
}

/// Lab ids with a live owner.
pub(super) fn live_labs() -> Vec<String> {
    let Ok(entries) = fs::read_dir(STATE_ROOT) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| is_lab_id(name) && owner_alive(&Path::new(STATE_ROOT).join(name)))
        .collect()
}

/// A lab on this machine, as `lab status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabInfo {
    pub id: String,
    /// The process that built it (and tears it down), when the record is readable.
    pub owner_pid: Option<u32>,
    /// Whether that process still runs; a lab whose owner is gone is stale (`lab down` removes
    /// it).
    pub alive: bool,
    /// `10.231.X.0/24` (/23, /22).
    pub subnet: Option<String>,
    pub nodes: usize,
    pub inventory: std::path::PathBuf,
}

/// Every lab under `/run/breakglass-lab`, by id.
pub fn list_labs() -> Vec<LabInfo> {
    let Ok(entries) = fs::read_dir(STATE_ROOT) else {
        return Vec::new();
    };
    let mut labs: Vec<LabInfo> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| is_lab_id(name))
        .map(|id| {
            let dir = Path::new(STATE_ROOT).join(&id);
            LabInfo {
                owner_pid: fs::read_to_string(dir.join("owner"))
                    .ok()
                    .and_then(|t| t.split_whitespace().next()?.parse().ok()),
                alive: owner_alive(&dir),
                subnet: fs::read_to_string(dir.join("subnet"))
                    .ok()
                    .and_then(|t| super::network::parse_subnet(&t))
                    .map(|(o, p)| format!("{}.{}.{o}.0/{p}", super::NET_A, super::NET_B)),
                nodes: fs::read_dir(dir.join("nodes")).map_or(0, |d| d.flatten().count()),
                inventory: dir.join("inventory.toml"),
                id,
            }
        })
        .collect();
    labs.sort_by(|a, b| a.id.cmp(&b.id));
    labs
}
