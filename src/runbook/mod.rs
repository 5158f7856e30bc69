//! Runbooks: the remediation of an incident as one reviewed, rehearsed TOML file.
//!
//! This module loads and validates runbooks, binds their parameters and resolves them into typed
//! steps for the engine. It never touches a host, the network or the terminal. The shipped
//! runbooks (`runbooks/*.toml`) are compiled in; see [`embedded`].
//!
//! # The runbook format
//!
//! ```toml
//! name = "apiserver-overload"          # [a-z0-9-]; shipped runbooks are named after their file
//! summary = "Recover API servers saturated by a node-wide workload"   # one line
//! description = """Longer text for `runbook show`."""                 # optional
//!
//! [params.cluster]                     # a parameter, bound with `-p cluster=prod-eu1`
//! type = "cluster"                     # string | integer | duration | cidr_list | selector | bool | cluster
//! required = true                      # a parameter is required, or has a default
//! help = "Cluster name; typed back to confirm destructive steps"
//!
//! [params.allow_cidrs]
//! type = "cidr_list"                   # -p allow_cidrs=10.0.0.0/8,192.0.2.7
//! default = ["10.0.0.0/8"]             # written in the type's TOML form
//! help = "Networks that keep access to the admin API"
//!
//! [[steps]]                            # steps run in order
//! id = "block-admin-api"               # [a-z0-9-], unique (`undo --step ID`)
//! action = "firewall.block"            # the action kind; `with` holds its arguments
//! description = "Why this step is here"
//! targets = "cluster=${cluster},role=control-plane"   # an inventory selector
//! waves = [1, "50%", "100%"]           # cumulative; default ["100%"]
//! concurrency = 16                     # default: the run's --concurrency
//! failure_budget = 0                   # per wave: a count or "10%"; default 0
//! on_failure = "stop"                  # stop (default) | continue
//! timeout = "5m"                       # per target; default: the run's command timeout
//! confirm = true                       # type the cluster name first; default per kind
//! ignore_unreachable = true            # hosts never reached (refused, no route, connect
//!                                      # deadline) are reported, not failed; default false
//! skip_if_none = true                  # cloud kinds: skip the step when the inventory names
//!                                      # nothing for it (no node groups...); default false
//!
//! [steps.gate]                         # must pass between waves and after the step
//! action = "wait.healthy"              # wait.healthy | ssh.exec (read-only)
//! timeout = "5m"                       # default: wait.healthy's timeout; 5m for ssh.exec
//! [steps.gate.with]
//! endpoints = ["10.0.0.10:6443"]
//!
//! [steps.with]                         # the action's arguments, typed per kind
//! ports = [6443]
//! allow = "${allow_cidrs}"             # a whole-value reference keeps its type (a list here)
//! ```
//!
//! Any key not listed here, or not an argument of the step's action, is an error.
//!
//! ## Parameters
//!
//! | type | `-p` form | TOML `default` |
//! | --- | --- | --- |
//! | `string` | any text | `"text"` |
//! | `integer` | `1200` | `1200` |
//! | `duration` | `90s`, `5m`, `1h30m` | `"5m"` |
//! | `cidr_list` | `10.0.0.0/8,192.0.2.7` (a bare address is one host) | `["10.0.0.0/8"]` |
//! | `selector` | `role=worker,zone in (a,b)` (checked with the inventory grammar) | `"role=worker"` |
//! | `bool` | `true`, `false`, `yes`, `no` | `true` |
//! | `cluster` | `prod-east` (one label value; must be a cluster of the inventory) | `"prod-east"` |
//!
//! Every value is parsed by its type before anything runs. An unknown `-p` name is refused
//! with the closest declared name. A runbook with a step that asks for confirmation must declare
//! a `cluster` parameter (type `cluster`; `string` is still read): confirming means typing that
//! value back, and it must be a non-empty name of a cluster of the inventory.
//!
//! ## `${param}` substitution
//!
//! Parameters are substituted in `targets` and in `with` (of steps and gates), nowhere else:
//! - a whole string `"${name}"` becomes the typed value (an integer stays an integer, a
//!   `cidr_list` becomes an array; as an array element it is spliced into the array);
//! - inside a longer string, `${name}` becomes its text (a `cidr_list` joined with commas);
//! - in `targets`, a `selector` parameter is spliced in as selector text, and any other only when
//!   its value is one label value (`-p cluster='lab except nothing'` is refused: it would widen
//!   the step);
//! - inside a shell command (`ssh.exec`'s `command`, `nodes.quiesce`'s `stop_commands` and
//!   `start_commands`) it is always **shell-quoted**: a value reaches the remote shell as one
//!   literal argument, whatever it contains;
//! - `$${` writes a literal `${` (for shell `${VAR}`); other `$` are left alone.
//!
//! Values are then checked by the field's type: a CIDR field accepts only CIDRs, a selector
//! field only selectors, whatever the parameter held.
//!
//! ## Waves, failure budget, gate
//!
//! `waves` are cumulative: after each wave this many targets (`5`) or this share (`"10%"`,
//! rounded up) are done. They must grow, list counts before shares, and end with `"100%"`.
//! `[1, "10%", "100%"]` on 200 hosts runs 1, then 19, then 180.
//!
//! `failure_budget` is how many targets of each wave may fail (a count, or a share of the wave
//! rounded down). Exceeding it ends the step: `on_failure = "stop"` stops the run (exit 3),
//! `"continue"` goes on with the next step (the run then exits 1).
//!
//! The `gate` runs after each wave and after the step; it must pass within its `timeout` or the
//! run stops (exit 3). `wait.healthy` gates take no targets; an `ssh.exec` gate runs on its own
//! `targets`, or on the step's targets done so far.
//!
//! `wait.healthy` and `pause` run once from the operator's machine: `targets`, `waves`,
//! `concurrency`, `failure_budget`, `timeout` and `gate` do not apply to them and are errors.
//!
//! ## Actions
//!
//! | action | arguments (`with`) | confirms by default |
//! | --- | --- | --- |
//! | `ssh.exec` | `command`, `idempotent` | no |
//! | `firewall.block` | `direction`, `to`, `ports`, `allow`, `allow_any`, `allow_targets`, `revert_after`, `revert_after_limits`, `cut_established`, `backend` | yes |
//! | `firewall.unblock` | `ports` | no |
//! | `nodes.quiesce` / `nodes.unquiesce` | `stop_runtime`, `stop_commands`, `start_commands` | yes / no |
//! | `apiservers.tune` | `manifest`, `set`, `remove` | yes |
//! | `workload.kill` | `namespace`, `name_prefix`, `label`, `crictl` | yes |
//! | `wait.healthy` | `endpoints`, `paths`, `etcd`, `ca_file`, `tls_server_name`, `scheme`, `max_error_rate`, `max_latency`, `window`, `interval`, `timeout` | no |
//! | `pause` | `message`, `skippable` | no |
//!
//! Each argument, its type and default is documented on its struct in
//! [`crate::actions::args`].
//!
//! ## Diagnostics
//!
//! `runbook validate` reports every problem at once, each as `FILE:LINE:COLUMN: message`,
//! pointing at the offending key or value. Arguments that use a required parameter are checked
//! with a placeholder of its type, and again with the real value when the run resolves.

mod diagnostic;
pub mod embedded;
mod interpolate;
mod params;
mod resolve;
mod schema;
mod tree;
mod validate;

#[cfg(test)]
mod tests;

use std::path::Path;

pub(crate) use diagnostic::did_you_mean;
pub use diagnostic::{Diagnostic, RunbookError};
pub use interpolate::shell_quote;
pub use params::{BindError, BoundParams, IntRange, Param, ParamType, ParamValue, bind};
pub use resolve::{DEFAULT_SSH_GATE_TIMEOUT, ResolvedGate, ResolvedRunbook, ResolvedStep, resolve};
pub use schema::{FailureBudget, Gate, OnFailure, Runbook, Step, Wave, Waves};

impl Runbook {
    /// Parse and validate runbook text. `origin` names the file in diagnostics.
    pub fn parse(text: &str, origin: &str) -> Result<Self, RunbookError> {
        validate::load(text, origin)
    }

    /// Read and validate a runbook file: a regular file of at most [`MAX_RUNBOOK_BYTES`].
    pub fn load(path: &Path) -> Result<Self, RunbookError> {
        let origin = path.display().to_string();
        let cannot = |e: &dyn std::fmt::Display| {
            RunbookError::whole_file(&origin, format!("cannot read the runbook: {e}"))
        };
        let bytes = crate::input::read_bounded(path, MAX_RUNBOOK_BYTES).map_err(|e| cannot(&e))?;
        let text = String::from_utf8(bytes).map_err(|e| cannot(&e))?;
        Self::parse(&text, &origin)
    }
}

/// The largest runbook file read; the shipped ones are under 20 KB.
pub const MAX_RUNBOOK_BYTES: u64 = 4 << 20;

/// A runbook named on the command line: a shipped runbook's name, or a file.
///
/// An argument with a `/` or ending in `.toml` is always a file, and a shipped name wins over a
/// file of the same name in the current directory, so a stray file cannot shadow a reviewed
/// runbook.
pub fn load_any(name_or_path: &str) -> Result<Runbook, RunbookError> {
    let looks_like_path = name_or_path.contains(std::path::MAIN_SEPARATOR)
        || name_or_path.contains('/')
        || Path::new(name_or_path)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    if !looks_like_path && let Some(runbook) = embedded::get(name_or_path) {
        return runbook;
    }
    let path = Path::new(name_or_path);
    if looks_like_path || path.is_file() {
        return Runbook::load(path);
    }
    let names = embedded::names();
    Err(RunbookError::whole_file(
        name_or_path,
        format!(
            "neither a shipped runbook nor a file{}; shipped runbooks: {} (see `breakglass runbook list`)",
            diagnostic::did_you_mean(name_or_path, names.iter().copied()),
            names.join(", ")
        ),
    ))
}
