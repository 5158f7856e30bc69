//! The command-line surface: clap derive types only. Doc comments here are the `--help` text.
//!
//! Nothing here has behaviour: `settings.rs` turns these into typed settings, and `commands/`
//! acts on them. Every flag has a `BREAKGLASS_*` environment variable (a test walks the whole
//! command tree), except `-p NAME=VALUE`: a runbook's parameters are many and may hold commas,
//! so one variable cannot carry them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("BREAKGLASS_COMMIT"),
    ")"
);

const AFTER_HELP: &str = "\
Exit codes (every verb): 0 all targets ok · 1 some targets failed · 2 usage or invalid input
            (flags, runbook, inventory, selector, a bad or unknown run id) · 3 stopped by
            policy · 4 journal cannot be written, read, trusted or locked · 130 interrupted
Interrupting: the first Ctrl-C, SIGTERM or SIGHUP stops launching targets and lets those in
flight finish (the run is journaled to its end); a second Ctrl-C exits at once

Examples:
  breakglass -i fleet.toml inventory check 'role=worker'
  breakglass -i fleet.toml exec 'role=control-plane' -- crictl ps --name kube-apiserver
  breakglass -i fleet.toml --output json exec 'node[001-200] except node007' -- uptime
  breakglass journal verify 20261125T115801Z-3f9a1c";

/// How `resume`, `undo`, `confirm` and `journal verify` decide to trust a run.
const TRUST_HELP: &str = "\
Trust: the run's head must be signed by your journal key (made on first use, 0600:
$BREAKGLASS_JOURNAL_KEY, else ~/.config/breakglass/journal-key.pk8) or by a key listed in
trusted-journal-keys beside it (`BASE64 comment` per line). resume, undo and confirm also refuse
a journal or run directory, or a file in it, that another user owns or that group or others
can write (exit 4, naming the path and the chmod/chown that fixes it).

Inventory: resume, undo and confirm use the run's own inventory, from the path its journal
recorded; if the file moved, name it with -i (it must have the digest the run recorded, or
the command refuses, naming both files and digests). The config file's inventory is not used.";

/// Out-of-band remediation for an overloaded Kubernetes control plane.
///
/// breakglass reaches nodes directly over SSH by IP, never through cluster DNS, the cluster's load
/// balancer or a healthy API server. Every run is journaled under the journal directory.
#[derive(Debug, Parser)]
#[command(name = "breakglass", version = VERSION, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every command understands.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Inventory file (TOML, or JSON with the same schema)
    #[arg(
        short,
        long,
        global = true,
        env = "BREAKGLASS_INVENTORY",
        value_name = "FILE"
    )]
    pub inventory: Option<PathBuf>,

    /// Output format: human (folded text, progress on stderr) or json (one event per line)
    #[arg(short, long, global = true, env = "BREAKGLASS_OUTPUT", value_enum)]
    pub output: Option<OutputFormat>,

    /// Where run journals live [default: `$XDG_STATE_HOME/breakglass/runs`]
    #[arg(
        long,
        global = true,
        env = "BREAKGLASS_JOURNAL_DIR",
        value_name = "DIR"
    )]
    pub journal_dir: Option<PathBuf>,

    /// Configuration file [default: ~/.config/breakglass/config.toml]
    #[arg(long, global = true, env = "BREAKGLASS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Never draw progress bars (they are drawn only when stderr is a terminal anyway)
    #[arg(long, global = true, env = "BREAKGLASS_NO_PROGRESS")]
    pub no_progress: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a command on every selected host over SSH, folding identical output
    ///
    /// Hosts are reached by IP with bounded concurrency. Hosts whose stdout, stderr and exit
    /// status are identical are printed once under a compact host set, followed by a tally.
    #[command(after_help = SELECTOR_HELP)]
    Exec(ExecArgs),

    /// One screen of a cluster's health: API /readyz and /livez, etcd, SSH to the control plane
    ///
    /// Every API endpoint by IP (TLS name and CA from the inventory or kubeconfig, as
    /// `wait.healthy` reaches them), every etcd endpoint's /health (client certificates from the
    /// inventory), and an SSH login on each control-plane host of the cluster, with latencies.
    /// Exit 0 when every check answered healthy, 1 otherwise.
    #[command(after_help = HEALTH_HELP)]
    Health(HealthArgs),

    /// Show what a runbook would do, step by step and wave by wave, without changing anything
    #[command(after_help = RUNBOOK_HELP)]
    Plan(PlanCommandArgs),

    /// Run a runbook: show the plan, confirm, then execute canary first, in waves, journaled
    #[command(after_help = RUNBOOK_HELP)]
    Run(RunArgs),

    /// Continue an interrupted or stopped run from its journal, skipping finished targets
    #[command(after_help = TRUST_HELP)]
    Resume(ResumeArgs),

    /// Reverse a run's changes from the snapshots in its journal, last step first
    #[command(after_help = TRUST_HELP)]
    Undo(UndoArgs),

    /// Confirm a run's firewall changes: cancel the dead-man timers so the blocks stay
    #[command(after_help = TRUST_HELP)]
    Confirm(ConfirmArgs),

    /// List, show and validate runbooks
    #[command(subcommand)]
    Runbook(RunbookCommand),

    /// Show and check the inventory; snapshot a cluster's nodes or import a cloud's machines into one
    #[command(subcommand)]
    Inventory(InventoryCommand),

    /// List, show and verify run journals
    #[command(subcommand)]
    Journal(JournalCommand),

    /// A practice fleet on this machine: network namespaces with real sshd and nftables (root)
    #[command(subcommand)]
    Lab(LabCommand),

    /// Rehearse a runbook and measure it: `--lab` reproduces the reference incident on this
    /// machine (root), runs the runbook, waits for recovery, undoes, and writes a report
    #[command(after_help = DRILL_HELP)]
    Drill(DrillArgs),

    /// Print a shell completion script
    ///
    /// Example: `breakglass completions bash > /etc/bash_completion.d/breakglass`
    Completions {
        /// The shell to generate for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

pub const SELECTOR_HELP: &str = "\
Selectors:
  all                         every host in the inventory
  node[001-050],cp1           host names or addresses, with ranges and globs (a union)
  10.0.1.[1-20]               addresses work the same way
  @workers                    a named group from the inventory's [groups]
  role=worker,zone in (a,b)   label requirements, Kubernetes syntax (all must hold):
                              k=v  k!=v  k in (a,b)  k notin (a,b)  k  !k
  role=worker except node007  hosts of the left minus hosts of the right
Globs match names (`*01`), or addresses when the pattern is one (`10.0.1.*`, `fd00::*`). Every
term must make a difference: one that matches no host (or, for !k, k!=v and notin, leaves none
out) is an error naming it, so a typo never widens a selection. To leave out a host, write
`all except NAME`, not `!NAME`.";

pub const HEALTH_HELP: &str = "\
With --output json: one line per check, then a summary (format: `breakglass::commands::health`):
  {\"type\":\"check\",\"check\":\"etcd\",\"target\":\"10.0.0.10:2379\",\"ok\":true,\"latency_ms\":4.2,...}
  {\"type\":\"summary\",\"cluster\":\"prod-east\",\"total\":9,\"ok\":8,\"failed\":1,\"failing\":[...],...}

Examples:
  breakglass -i fleet.toml health prod-east
  breakglass -i fleet.toml health prod-east --max-latency 3s --control-plane 'role=master'
  breakglass -i fleet.toml --output json health prod-east | jq -c 'select(.ok == false)'";

pub const RUNBOOK_HELP: &str = "\
RUNBOOK is the name of a shipped runbook (see `breakglass runbook list`) or a path to a TOML file.

Examples:
  breakglass -i fleet.toml plan apiserver-overload -p cluster=prod-east -p workload_namespace=monitoring
  breakglass -i fleet.toml run apiserver-overload -p cluster=prod-east -p workload_namespace=monitoring
  breakglass -i fleet.toml --output json run fleet-triage --yes";

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Runbook name or file
    pub runbook: String,

    /// A runbook parameter, `name=value` (repeatable; see `breakglass runbook show RUNBOOK`)
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,

    /// Your egress address as the cloud sees it, which a cloud firewall block must not cut
    /// (repeatable, or comma-separated). Default: `operator_cidrs` of the cluster's
    /// `[clusters.NAME.aws]`. Example: --operator-cidr 203.0.113.7/32
    #[arg(
        long = "operator-cidr",
        value_name = "CIDR",
        env = "BREAKGLASS_OPERATOR_CIDR",
        value_delimiter = ',',
        value_parser = crate::actions::args::parse_cidr
    )]
    pub operator_cidrs: Vec<ipnet::IpNet>,
}

pub const DRILL_HELP: &str = "\
What --lab does, in order:
  1. builds a lab (network namespaces: real sshd, nftables, etcd; stand-ins for the API server,
     kubelet and crictl) with the API servers modelling load;
  2. injects the reference incident: a telemetry-agent DaemonSet whose pods list every Node in
     a loop, so the API servers saturate (readyz fails, p99 climbs);
  3. runs the runbook unattended, sampling health every 250 ms;
  4. waits for recovery (readyz passing, p99 under --latency-threshold for --recovery-window);
  5. undoes the run and checks the fleet is back as it was; tears the lab down.
The report (report.html, report.md, report.json) goes to --report-dir, default
JOURNAL/RUN/drill. Exit 0 when the API recovered, the fleet was restored and every --expect
held; 3 otherwise.

Without --lab the drill runs against the inventory (-i) like `run --yes`, journaled, sampling
the /readyz of the runbook cluster's API endpoints; a --stop-if condition that trips stops the
run (as Ctrl-C would) and undoes what it changed.

Examples:
  breakglass drill --lab apiserver-overload
  breakglass drill --lab apiserver-overload --workers 40 --expect recovered_within=2m \\
      --expect api_requests_max=50
  breakglass -i staging.toml drill workload-removal -p cluster=staging -p namespace=monitoring \\
      -p daemonset=telemetry-agent --stop-if not_ready=10s --expect failed_targets=0";

#[derive(Debug, Args)]
pub struct DrillArgs {
    /// Runbook name or file
    pub runbook: String,

    /// A runbook parameter, `name=value` (repeatable); on a lab the lab's own are filled in
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,

    /// Build the lab and inject the incident (root). Without it the drill runs against the
    /// inventory (`-i`) and the runbook's `-p cluster=NAME`, with --stop-if conditions
    #[arg(long, env = "BREAKGLASS_DRILL_LAB")]
    pub lab: bool,

    /// Without --lab: stop the run and undo what it changed when health fails (repeatable):
    /// `not_ready=DURATION` (an API endpoint fails /readyz that long), `p99_over=DURATION`
    #[arg(long = "stop-if", env = "BREAKGLASS_STOP_IF", value_delimiter = ',', value_name = "NAME=VALUE", value_parser = parse_param)]
    pub stop_if: Vec<(String, String)>,

    /// Worker nodes of the lab
    #[arg(long, env = "BREAKGLASS_LAB_WORKERS", default_value_t = 20)]
    pub workers: usize,

    /// Control-plane nodes of the lab
    #[arg(long, env = "BREAKGLASS_LAB_CONTROL_PLANES", default_value_t = 1)]
    pub control_planes: usize,

    /// Auto Scaling groups the lab's workers belong to (a real `moto_server` in the lab, so
    /// `nodes.scale` stops and starts workers); 0: none, and node-group steps are skipped
    #[arg(long, env = "BREAKGLASS_LAB_NODE_GROUPS", default_value_t = 2)]
    pub node_groups: usize,

    /// Workers per network namespace: above 1 is the scale mode (up to 1000 workers), each
    /// worker still with its own address, sshd, host key and processes
    #[arg(long, env = "BREAKGLASS_LAB_NODES_PER_NAMESPACE", default_value_t = 1)]
    pub nodes_per_namespace: usize,

    /// Where the report goes (default: the run's journal directory, `drill/`)
    #[arg(long, env = "BREAKGLASS_REPORT_DIR", value_name = "DIR")]
    pub report_dir: Option<std::path::PathBuf>,

    /// What must hold for exit 0 (repeatable): `recovered_within=DURATION`,
    /// `failed_targets=N`, `api_requests_max=N`, `restored=true`
    #[arg(long = "expect", env = "BREAKGLASS_EXPECT", value_delimiter = ',', value_name = "NAME=VALUE", value_parser = parse_param)]
    pub expect: Vec<(String, String)>,

    /// p99 latency above which the API counts as unhealthy (detection and recovery)
    #[arg(long, env = "BREAKGLASS_LATENCY_THRESHOLD", value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    pub latency_threshold: std::time::Duration,

    /// How long the API must stay ready and fast to count as recovered
    #[arg(long, env = "BREAKGLASS_RECOVERY_WINDOW", value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    pub recovery_window: std::time::Duration,

    /// How long after the run to wait for recovery
    #[arg(long, env = "BREAKGLASS_RECOVERY_TIMEOUT", value_name = "DURATION", value_parser = parse_duration, default_value = "3m")]
    pub recovery_timeout: std::time::Duration,

    /// How long the injected incident may take to saturate the API servers
    #[arg(long, env = "BREAKGLASS_DETECT_TIMEOUT", value_name = "DURATION", value_parser = parse_duration, default_value = "2m")]
    pub detect_timeout: std::time::Duration,

    /// Leave the run's changes in place (the lab is still torn down)
    #[arg(long, env = "BREAKGLASS_NO_UNDO")]
    pub no_undo: bool,

    #[command(flatten)]
    pub ssh: SshArgs,
}

#[derive(Debug, Args)]
pub struct PlanCommandArgs {
    #[command(flatten)]
    pub plan: PlanArgs,

    /// Read nothing. By default `plan` reads each etcd key and Kubernetes object a step names
    /// (read-only, a few seconds at most) to show what it holds now: kind, name, uid, revision,
    /// size. Hosts are never contacted by `plan`
    #[arg(long, env = "BREAKGLASS_OFFLINE")]
    pub offline: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub plan: PlanArgs,

    /// Do not ask for confirmation (pauses must be skippable). For automation
    #[arg(short = 'y', long, env = "BREAKGLASS_YES")]
    pub yes: bool,

    /// Print the plan and stop (the same as `breakglass plan`)
    #[arg(long, env = "BREAKGLASS_DRY_RUN")]
    pub dry_run: bool,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub ssh: SshArgs,
}

/// Limits that keep a run from becoming the thundering herd it is meant to stop.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Limits")]
pub struct EngineArgs {
    /// Retries after a transport failure (unreachable, timed out); a command that may have run
    /// is retried only when its action is idempotent
    #[arg(
        long,
        env = "BREAKGLASS_RETRIES",
        default_value_t = 2,
        value_name = "N"
    )]
    pub retries: u32,

    /// Requests per second to each cloud provider (AWS, GCP, Azure: each its own pace) across
    /// the run: every call, retry and operation poll waits for its slot; 0: no limit, else at
    /// least 0.0167. An explicit --rate lower than this slows the cloud calls too. Example:
    /// `--cloud-rate 1` while the provider throttles
    #[arg(
        long,
        env = "BREAKGLASS_CLOUD_RATE",
        default_value_t = crate::settings::DEFAULT_CLOUD_RATE,
        value_name = "PER_SECOND",
        value_parser = crate::settings::parse_rate
    )]
    pub cloud_rate: f64,

    /// Requests the run may send to each cloud provider in all (every retry, poll and token
    /// request counts); past it, cloud calls fail with "budget spent" instead of adding load
    #[arg(
        long,
        env = "BREAKGLASS_CLOUD_BUDGET",
        default_value_t = crate::settings::CLOUD_REQUEST_BUDGET,
        value_name = "N"
    )]
    pub cloud_budget: usize,
}

impl Default for EngineArgs {
    /// The flags' defaults (the drill runs without a command line).
    fn default() -> EngineArgs {
        EngineArgs {
            retries: 2,
            cloud_rate: crate::settings::DEFAULT_CLOUD_RATE,
            cloud_budget: crate::settings::CLOUD_REQUEST_BUDGET,
        }
    }
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Run id (see `breakglass journal list`)
    pub run: String,

    /// Do not ask for confirmation
    #[arg(short = 'y', long, env = "BREAKGLASS_YES")]
    pub yes: bool,

    /// Accept that the inventory changed since the run started
    #[arg(long, env = "BREAKGLASS_ALLOW_INVENTORY_CHANGE")]
    pub allow_inventory_change: bool,

    /// Run a step that is not idempotent again on targets an earlier attempt was cut off
    /// changing (reported `in_doubt`); check those hosts first
    #[arg(long, env = "BREAKGLASS_RERUN_IN_DOUBT")]
    pub rerun_in_doubt: bool,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub ssh: SshArgs,
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    /// Run id (see `breakglass journal list`)
    pub run: String,

    /// Undo only this step
    #[arg(long, env = "BREAKGLASS_UNDO_STEP", value_name = "ID")]
    pub step: Option<String>,

    /// Do not ask for confirmation
    #[arg(short = 'y', long, env = "BREAKGLASS_YES")]
    pub yes: bool,

    /// Accept that the inventory changed since the run started
    #[arg(long, env = "BREAKGLASS_ALLOW_INVENTORY_CHANGE")]
    pub allow_inventory_change: bool,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub ssh: SshArgs,
}

#[derive(Debug, Args)]
pub struct ConfirmArgs {
    /// Run id (see `breakglass journal list`)
    pub run: String,

    #[command(flatten)]
    pub ssh: SshArgs,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Build a lab, print its inventory and example commands, tear it down on Ctrl-C or
    /// SIGTERM (`lab down`)
    Up(LabArgs),
    /// List the labs on this machine: id, subnet, nodes, owner process, inventory
    Status,
    /// Tear labs down: ask each one's owner to (SIGTERM), then remove what dead owners left
    Down {
        /// The lab ids (see `lab status`); none: every lab on this machine
        ids: Vec<String>,
    },
    /// A short drill: the reference incident on a fresh lab, `apiserver-overload` run against
    /// it, recovery measured, undone, a report written (`drill --lab apiserver-overload`)
    Demo(LabArgs),
}

#[derive(Debug, Args)]
pub struct LabArgs {
    /// Worker nodes
    #[arg(long, env = "BREAKGLASS_LAB_WORKERS", default_value_t = 6)]
    pub workers: usize,

    /// Control-plane nodes (each runs an API server stand-in on 6443)
    #[arg(long, env = "BREAKGLASS_LAB_CONTROL_PLANES", default_value_t = 1)]
    pub control_planes: usize,

    /// Auto Scaling groups the workers belong to (a real `moto_server` in the lab: `nodes.scale`
    /// stops and starts workers); 0: none
    #[arg(long, env = "BREAKGLASS_LAB_NODE_GROUPS", default_value_t = 2)]
    pub node_groups: usize,

    /// Workers per network namespace: above 1 is the scale mode (up to 1000 workers), each
    /// worker still with its own address, sshd, host key and processes
    #[arg(long, env = "BREAKGLASS_LAB_NODES_PER_NAMESPACE", default_value_t = 1)]
    pub nodes_per_namespace: usize,
}

#[derive(Debug, Subcommand)]
pub enum RunbookCommand {
    /// List the shipped runbooks
    List,
    /// Print a runbook's parameters and steps (and its source with --output json)
    Show {
        /// Runbook name or file
        runbook: String,
    },
    /// Check runbook files; every problem is reported as `FILE:LINE:COLUMN`
    Validate {
        /// Runbook files (or shipped names)
        #[arg(required = true)]
        files: Vec<String>,
    },
}

/// Parses `name=value`.
pub fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("'{s}' is not NAME=VALUE")),
    }
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Which hosts (see Selectors below)
    pub selector: String,

    /// The command, run by the remote user's shell (put it after `--`)
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,

    /// Also write each host's output to DIR/HOST.out and DIR/HOST.err (and the status to DIR/HOST.status)
    ///
    /// The files are created 0600 (DIR 0700 when it is made) and renamed into place, so a
    /// symlink or link already at DIR/HOST.out is replaced, never written through.
    #[arg(long, env = "BREAKGLASS_OUT_DIR", value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    #[command(flatten)]
    pub ssh: SshArgs,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The inventory cluster (`[clusters.NAME]`)
    pub cluster: String,

    /// A probe answering slower than this counts as unhealthy, e.g. 500ms (requests give up
    /// after three times as long)
    #[arg(
        long,
        env = "BREAKGLASS_HEALTH_MAX_LATENCY",
        default_value = "1s",
        value_name = "DURATION",
        value_parser = parse_duration
    )]
    pub max_latency: std::time::Duration,

    /// Which of the cluster's hosts are its control plane (a selector, see `inventory show`)
    #[arg(
        long,
        env = "BREAKGLASS_HEALTH_CONTROL_PLANE",
        default_value = "role=control-plane",
        value_name = "SELECTOR"
    )]
    pub control_plane: String,

    #[command(flatten)]
    pub ssh: SshArgs,
}

/// SSH options shared by every command that reaches hosts.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "SSH")]
pub struct SshArgs {
    /// Hosts contacted at once
    #[arg(short = 'f', long, env = "BREAKGLASS_CONCURRENCY", value_name = "N")]
    pub concurrency: Option<usize>,

    /// Deadline for TCP connect, SSH handshake and authentication, e.g. 5s [inventory default, else 10s]
    #[arg(long, env = "BREAKGLASS_CONNECT_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub connect_timeout: Option<std::time::Duration>,

    /// Deadline for the remote command, e.g. 2m [inventory default, else 60s]
    #[arg(short = 't', long, env = "BREAKGLASS_COMMAND_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub command_timeout: Option<std::time::Duration>,

    /// OpenSSH `known_hosts` file used to verify host keys [default: `~/.ssh/known_hosts`]
    #[arg(long, env = "BREAKGLASS_KNOWN_HOSTS", value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,

    /// Accept and record host keys not yet known (a changed key is still refused)
    #[arg(long, env = "BREAKGLASS_ACCEPT_NEW_HOST_KEYS")]
    pub accept_new_host_keys: bool,

    /// Private key file to authenticate with (repeatable) [default: `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`]
    #[arg(
        short = 'k',
        long = "identity",
        env = "BREAKGLASS_IDENTITY",
        value_name = "FILE",
        value_delimiter = ','
    )]
    pub identity: Vec<PathBuf>,

    /// Do not use keys from ssh-agent
    #[arg(long, env = "BREAKGLASS_NO_AGENT")]
    pub no_agent: bool,

    /// Run the command through `sudo -n` when the SSH user is not root
    #[arg(long, env = "BREAKGLASS_SUDO")]
    pub sudo: bool,

    /// Bytes of stdout and of stderr kept per host; the rest is counted and marked truncated
    #[arg(long, env = "BREAKGLASS_MAX_OUTPUT", value_name = "BYTES", value_parser = parse_size)]
    pub max_output: Option<usize>,

    /// New SSH sessions per second across the whole command: every session a step, gate,
    /// undo, confirm or check opens waits for its slot; 0: no limit, else at least 0.0167 (one
    /// a minute) [default: 50 for run, resume, undo and confirm; no limit for exec, inventory
    /// check and health]
    #[arg(long, env = "BREAKGLASS_RATE", value_name = "PER_SECOND")]
    pub rate: Option<f64>,
}

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// List the selected hosts (table, or JSON with --output json)
    #[command(after_help = SELECTOR_HELP)]
    Show {
        /// Which hosts [default: all]
        selector: Option<String>,
    },
    /// Check TCP connect, SSH handshake, host key and authentication on each host, with latency
    #[command(after_help = SELECTOR_HELP)]
    Check {
        /// Which hosts [default: all]
        selector: Option<String>,

        #[command(flatten)]
        ssh: SshArgs,
    },
    /// Write a cluster's nodes (names, internal IPs, labels, roles) to an inventory file for the
    /// day its API is down
    ///
    /// Run it while the API is healthy (a cron job, a CI step): it lists the nodes through one
    /// API server at a time by IP (the inventory cluster's `api_endpoints`, TLS name, CA and
    /// kubeconfig credentials), in pages of --page-size, or reads a saved
    /// `kubectl get nodes -o json` with --from-file (no API needed; the inventory is then
    /// optional). The file holds one `[[hosts]]` per node in name order: the node's name, its
    /// first `InternalIP`, its labels, `role = control-plane` (node-role.kubernetes.io/control-plane
    /// or .../master) or `role = worker`, and `cluster = CLUSTER`; plus the inventory's
    /// `[defaults]` and `[clusters.CLUSTER]`, so it is a complete inventory on its own.
    ///
    /// A node that cannot be a host (no `InternalIP`, an address that is not an IP, a duplicate
    /// address) is skipped with a warning that names it and says why, and is listed in the
    /// file's header: on the bad day a snapshot missing one unreachable node beats no snapshot.
    /// --strict makes any skipped node a failure (exit 1, FILE untouched), for CI.
    ///
    /// FILE is replaced atomically (a temporary file beside it, fsynced, then renamed), and only
    /// if it is an earlier snapshot (its first line is `# breakglass inventory snapshot`), so a
    /// cron job refreshes it in place but a typo cannot replace a hand-written inventory; --force
    /// replaces any file. A snapshot with no host, or one that would not load back, is never
    /// written.
    #[command(after_help = SNAPSHOT_HELP)]
    Snapshot(SnapshotArgs),
    /// Write an inventory from what a cloud lists: hosts (private IPs, names, labels from tags,
    /// role, node group) and the cluster's node groups and control-plane resources
    ///
    /// Read-only: it lists instances, node groups and the managed cluster through the provider's
    /// API (credentials as for the cloud actions), every page, and writes one `[clusters.CLUSTER]`
    /// with its cloud table and one `[[hosts]]` per machine with a private IP. The file loads as
    /// it is (`inventory show`, `plan`); what the cloud cannot tell (SSH user and keys, the
    /// kubeconfig, etcd) is yours to add. Tags that cannot be labels (quotes, newlines, a `/` too
    /// many, over 63 characters) are left out with a warning naming them.
    ///
    /// FILE must not exist (--force replaces it); `--out -` writes to stdout.
    #[command(subcommand, after_help = IMPORT_HELP)]
    Import(ImportCommand),
}

pub const IMPORT_HELP: &str = "\
Roles (label role=control-plane|worker) come from the tags the tools that build clusters set:
kops (k8s.io/role/*), Cluster API (CAPA, CAPZ, CAPG role tags), the managed services' node tags
(EKS, GKE, AKS: workers), or a `role`/`k8s-role` tag. A control-plane Auto Scaling group, MIG or
scale set becomes `control_plane` (AWS) or is left out of `node_groups`, so `nodes.scale` never
shrinks the API servers.

Progress goes to stderr; with --output json stdout gets one `inventory_import` line (with
`--out -` the inventory takes stdout, so --output json is refused).
Exit codes: 0 written (skipped machines are warnings) · 1 the cloud could not be read, or no
machine could be written · 2 usage or invalid input, FILE exists";

/// The provider to import from.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// EC2 instances by tag, Auto Scaling groups, and the EKS cluster of the same name
    ///
    /// Instances (pending or running) carrying every --tag, by default the tag key
    /// `kubernetes.io/cluster/CLUSTER` that the AWS cloud provider, EKS, kops and Cluster API
    /// put on a cluster's instances; the Auto Scaling groups with the same tags or that hold those
    /// instances; and, when the region has an EKS cluster named CLUSTER, its managed node groups
    /// (whose own Auto Scaling groups are then not listed twice) and its security group.
    #[command(after_help = IMPORT_AWS_HELP)]
    Aws(AwsImportArgs),
    /// GCE instances by label, their managed instance groups, and the GKE cluster's node pools
    ///
    /// Instances carrying every --tag (a label here), by default
    /// `goog-k8s-cluster-name=CLUSTER` as GKE labels its nodes, across the project's zones
    /// (aggregatedList) or in --zone; the managed instance groups that made them
    /// (listManagedInstances confirms each member); and, for GKE, the cluster's node pools
    /// (clusters.get, nodePools.list) in --location or the location the nodes' labels name.
    #[command(after_help = IMPORT_GCP_HELP)]
    Gcp(GcpImportArgs),
    /// Scale sets and VMs of a resource group, and the AKS cluster's agent pools
    ///
    /// When the resource group has an AKS cluster named CLUSTER (managedClusters.get), its agent
    /// pools (agentPools.list) and the scale sets of its node resource group; else the scale sets
    /// and virtual machines of --resource-group itself. Private IPs come from the network
    /// interfaces. --tag keeps only machines (and scale sets) with those tags.
    #[command(after_help = IMPORT_AZURE_HELP)]
    Azure(AzureImportArgs),
}

pub const IMPORT_AWS_HELP: &str = "\
Examples:
  breakglass inventory import aws --cluster prod --region us-east-1 --out prod.toml
  breakglass inventory import aws --cluster prod --tag team=sre --tag env=prod --out -
  AWS_PROFILE=breakglass breakglass --output json inventory import aws --cluster prod --out prod.toml

IAM: ec2:DescribeInstances, autoscaling:DescribeAutoScalingGroups, eks:DescribeCluster,
eks:ListNodegroups, eks:DescribeNodegroup.";

pub const IMPORT_GCP_HELP: &str = "\
Examples:
  breakglass inventory import gcp --cluster prod --project acme-prod --out prod.toml
  breakglass inventory import gcp --cluster prod --project acme-prod --zone us-central1-a --tag capg-cluster-prod=owned --out -

IAM: compute.instances.list, compute.instanceGroupManagers.get, container.clusters.get.";

pub const IMPORT_AZURE_HELP: &str = "\
Examples:
  breakglass inventory import azure --cluster prod --subscription 0000-... --resource-group prod-rg --out prod.toml
  breakglass inventory import azure --cluster prod --subscription 0000-... --resource-group k8s-rg --tag role --out -

RBAC: Microsoft.ContainerService/managedClusters/read, .../agentPools/read,
Microsoft.Compute/virtualMachineScaleSets/read, .../virtualMachines/read,
Microsoft.Network/networkInterfaces/read.";

/// What every `inventory import` takes.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The cluster: its name in the inventory, and the cloud's name for it (the EKS, GKE or AKS
    /// cluster; the default tag filter)
    #[arg(long, env = "BREAKGLASS_IMPORT_CLUSTER", value_name = "NAME")]
    pub cluster: String,

    /// The inventory file to write (TOML); `-` writes it to stdout
    #[arg(long, env = "BREAKGLASS_IMPORT_OUT", value_name = "FILE")]
    pub out: PathBuf,

    /// Replace FILE if it exists
    #[arg(long, env = "BREAKGLASS_IMPORT_FORCE")]
    pub force: bool,

    /// Only machines with this tag (a label on GCP): KEY=VALUE, or KEY for any value; repeat to
    /// require several [default: AWS `kubernetes.io/cluster/CLUSTER`, GCP
    /// `goog-k8s-cluster-name=CLUSTER`, Azure none]
    #[arg(
        long = "tag",
        env = "BREAKGLASS_IMPORT_TAG",
        value_name = "KEY[=VALUE]"
    )]
    pub tags: Vec<String>,

    /// The provider's API at another URL (a VPC or private endpoint); written to the inventory
    #[arg(long, env = "BREAKGLASS_IMPORT_ENDPOINT", value_name = "URL")]
    pub endpoint: Option<String>,

    /// Results asked for per page of each list call (the rest follows by page token)
    #[arg(
        long,
        env = "BREAKGLASS_IMPORT_PAGE_SIZE",
        value_name = "N",
        default_value_t = 100,
        value_parser = clap::value_parser!(u32).range(1..=500)
    )]
    pub page_size: u32,
}

#[derive(Debug, Args)]
pub struct AwsImportArgs {
    #[command(flatten)]
    pub common: ImportArgs,

    /// The region [default: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's]; written to the
    /// inventory
    #[arg(long, env = "BREAKGLASS_IMPORT_AWS_REGION", value_name = "REGION")]
    pub region: Option<String>,

    /// A profile of ~/.aws/config for the credentials; written to the inventory
    #[arg(long, env = "BREAKGLASS_IMPORT_AWS_PROFILE", value_name = "PROFILE")]
    pub profile: Option<String>,
}

#[derive(Debug, Args)]
pub struct GcpImportArgs {
    #[command(flatten)]
    pub common: ImportArgs,

    /// The project [default: the key file's `project_id`, `CLOUDSDK_CORE_PROJECT`]
    #[arg(long, env = "BREAKGLASS_IMPORT_GCP_PROJECT", value_name = "PROJECT")]
    pub project: Option<String>,

    /// List instances in this zone only [default: every zone, through aggregatedList]
    #[arg(long, env = "BREAKGLASS_IMPORT_GCP_ZONE", value_name = "ZONE")]
    pub zone: Option<String>,

    /// The GKE cluster's location (zone or region) [default: the nodes'
    /// `goog-k8s-cluster-location` label]
    #[arg(long, env = "BREAKGLASS_IMPORT_GKE_LOCATION", value_name = "LOCATION")]
    pub location: Option<String>,
}

#[derive(Debug, Args)]
pub struct AzureImportArgs {
    #[command(flatten)]
    pub common: ImportArgs,

    /// The subscription id
    #[arg(long, env = "BREAKGLASS_IMPORT_AZURE_SUBSCRIPTION", value_name = "ID")]
    pub subscription: String,

    /// The resource group of the AKS cluster, or of the cluster's scale sets and VMs
    #[arg(
        long,
        env = "BREAKGLASS_IMPORT_AZURE_RESOURCE_GROUP",
        value_name = "GROUP"
    )]
    pub resource_group: String,
}

pub const SNAPSHOT_HELP: &str = "\
Exit codes: 0 written (skipped nodes are warnings) · 1 the API could not be read, no node could be
            written, or --strict and a node was skipped · 2 usage or invalid input

Examples:
  breakglass -i fleet.toml inventory snapshot prod --out /var/lib/breakglass/prod.toml
  kubectl get nodes -o json > nodes.json
  breakglass -i fleet.toml inventory snapshot prod --from-file nodes.json --out prod.toml
  breakglass -i /var/lib/breakglass/prod.toml inventory show role=control-plane   # API down";

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The cluster: a `[clusters.NAME]` of the inventory (with --from-file and no inventory,
    /// the name written)
    pub cluster: String,

    /// The inventory file to write (TOML)
    #[arg(long, env = "BREAKGLASS_SNAPSHOT_OUT", value_name = "FILE")]
    pub out: PathBuf,

    /// Read the nodes from a saved `kubectl get nodes -o json` instead of the API
    #[arg(long, env = "BREAKGLASS_SNAPSHOT_FROM_FILE", value_name = "FILE")]
    pub from_file: Option<PathBuf>,

    /// Fail (exit 1, FILE untouched) when a node is skipped, instead of warning
    #[arg(long, env = "BREAKGLASS_SNAPSHOT_STRICT")]
    pub strict: bool,

    /// Replace FILE even when it is not an earlier snapshot
    #[arg(long, env = "BREAKGLASS_SNAPSHOT_FORCE")]
    pub force: bool,

    /// Nodes per LIST request (its `limit`; the rest follows through `continue`), 1-500
    #[arg(
        long,
        env = "BREAKGLASS_SNAPSHOT_PAGE_SIZE",
        value_name = "N",
        default_value_t = 500,
        value_parser = clap::value_parser!(u16).range(1..=500)
    )]
    pub page_size: u16,
}

#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// List runs, newest first
    List,
    /// Print a run's records (human summary, or the raw records with --output json)
    Show {
        /// Run id (as printed by the run and by `journal list`)
        run: String,
    },
    /// Check a run's hash chain: detects edited, reordered, missing and truncated records
    ///
    /// Also checks the head's signature and says whose key signed it; a missing head, or one
    /// signed by a key you do not trust, fails (exit 4).
    #[command(after_help = TRUST_HELP)]
    Verify {
        /// Run id
        run: String,
    },
}

/// Parses `30s`, `2m`, `1h30m` (and a bare number of seconds).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return crate::duration::bounded(std::time::Duration::from_secs(secs));
    }
    crate::duration::parse(s).map_err(|e| format!("{e} (expected a duration such as 30s, 2m, 1h)"))
}

/// Parses `65536`, `64KiB`, `1MiB`, `64k`, `1m`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (expected e.g. 65536, 64KiB, 1MiB)"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        "g" | "gb" | "gib" => 1024 * 1024 * 1024,
        other => {
            return Err(format!(
                "unknown size unit '{other}' (expected B, KiB, MiB or GiB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("'{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every option of every subcommand, as `path --long`, that has no `BREAKGLASS_*` variable.
    fn options_without_env(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let builtin = matches!(arg.get_id().as_str(), "help" | "version");
            if arg.is_positional() || builtin || arg.get_id() == "params" {
                continue;
            }
            let env = arg.get_env().and_then(|e| e.to_str()).unwrap_or("");
            if !env.starts_with("BREAKGLASS_") {
                missing.push(format!("{path} --{}", arg.get_long().unwrap_or("?")));
            }
        }
        for sub in cmd.get_subcommands() {
            options_without_env(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }

    #[test]
    fn every_option_has_an_environment_variable() {
        let mut missing = Vec::new();
        options_without_env(&Cli::command(), "breakglass", &mut missing);
        assert!(
            missing.is_empty(),
            "options without BREAKGLASS_*: {missing:?}"
        );
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("10"), Ok(10));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert_eq!(parse_duration("90"), Ok(std::time::Duration::from_secs(90)));
        assert_eq!(
            parse_duration("2m"),
            Ok(std::time::Duration::from_secs(120))
        );
        assert!(parse_duration("soon").is_err());
    }
}
