//! Typed settings: command-line flags, then `BREAKGLASS_*` environment variables (clap reads
//! both), then the config file (`~/.config/breakglass/config.toml` or `--config`), then the
//! inventory's `[defaults]`, then built-in defaults. Behaviour never reads clap types directly.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use crate::cli::{GlobalArgs, OutputFormat, SshArgs};
use crate::inventory::Inventory;
use crate::transport::ssh::{KnownHosts, SshOptions};

/// Default number of hosts contacted at once.
pub const DEFAULT_CONCURRENCY: usize = 64;
/// Most hosts contacted at once; each in-flight host holds one blocking thread.
pub const MAX_CONCURRENCY: usize = 4096;
/// Default bytes kept per host and stream.
pub const DEFAULT_MAX_OUTPUT: usize = 64 * 1024;

/// The config file. Every key is optional; flags and environment variables win over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub inventory: Option<PathBuf>,
    pub output: Option<OutputFormat>,
    pub journal_dir: Option<PathBuf>,
    #[serde(default)]
    pub ssh: SshConfig,
}

/// `[ssh]` in the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshConfig {
    pub concurrency: Option<usize>,
    #[serde(default, with = "humantime_serde_opt")]
    pub connect_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    pub command_timeout: Option<Duration>,
    pub known_hosts: Option<PathBuf>,
    #[serde(default)]
    pub identity_files: Vec<PathBuf>,
    pub use_agent: Option<bool>,
    pub max_output: Option<usize>,
}

mod humantime_serde_opt {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| crate::duration::parse(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Settings every command uses.
#[derive(Debug, Clone)]
pub struct Settings {
    pub output: OutputFormat,
    /// Draw progress bars: human output, stderr is a terminal, and not `--no-progress`.
    pub progress: bool,
    pub inventory: Option<PathBuf>,
    /// `inventory` was named for this invocation (`-i`, `BREAKGLASS_INVENTORY`), not taken
    /// from the config file's default.
    inventory_given: bool,
    pub journal_root: PathBuf,
    config: Arc<ConfigFile>,
}

impl Settings {
    pub fn resolve(global: &GlobalArgs) -> anyhow::Result<Settings> {
        let config = load_config(global.config.as_deref())?;
        let output = global
            .output
            .or(config.output)
            .unwrap_or(OutputFormat::Human);
        let progress =
            output == OutputFormat::Human && !global.no_progress && std::io::stderr().is_terminal();
        let inventory_given = global.inventory.is_some();
        let inventory = global
            .inventory
            .clone()
            .or_else(|| config.inventory.clone());
        let journal_root = global
            .journal_dir
            .clone()
            .or_else(|| config.journal_dir.clone())
            .unwrap_or_else(crate::journal::default_root);
        Ok(Settings {
            output,
            progress,
            inventory,
            inventory_given,
            journal_root,
            config: Arc::new(config),
        })
    }

    pub fn json(&self) -> bool {
        self.output == OutputFormat::Json
    }

    /// The inventory named for this invocation (`-i` or `BREAKGLASS_INVENTORY`), never the
    /// config file's default: `resume`, `undo` and `confirm` act with the run's own inventory,
    /// found where its journal says unless one is named here (the file moved since the run).
    pub fn given_inventory(&self) -> Option<&Path> {
        self.inventory.as_deref().filter(|_| self.inventory_given)
    }

    /// Loads the inventory, or says how to name one.
    pub fn load_inventory(&self) -> anyhow::Result<Inventory> {
        let path = self.inventory.as_deref().ok_or_else(|| {
            crate::error::ExitError::new(
                crate::error::Exit::Usage,
                "no inventory: pass --inventory FILE, set BREAKGLASS_INVENTORY, or set `inventory` in the config file",
            )
        })?;
        Inventory::load(path).map_err(|e| {
            crate::error::ExitError::new(crate::error::Exit::Usage, e.to_string()).into()
        })
    }

    /// SSH settings for a run: flags > env > config > inventory defaults > built-in defaults.
    pub fn ssh(&self, args: &SshArgs, inventory: &Inventory) -> anyhow::Result<SshSettings> {
        let cfg = &self.config.ssh;
        let d = &inventory.defaults;
        let concurrency = args
            .concurrency
            .or(cfg.concurrency)
            .unwrap_or(DEFAULT_CONCURRENCY);
        if concurrency == 0 || concurrency > MAX_CONCURRENCY {
            return Err(crate::error::ExitError::new(
                crate::error::Exit::Usage,
                format!("--concurrency must be between 1 and {MAX_CONCURRENCY}, got {concurrency}"),
            )
            .into());
        }
        let known_hosts_path = args
            .known_hosts
            .clone()
            .or_else(|| cfg.known_hosts.clone())
            .or_else(|| d.known_hosts.clone())
            .or_else(|| home().map(|h| h.join(".ssh/known_hosts")));
        let known_hosts = KnownHosts::load(known_hosts_path.clone()).with_context(|| {
            format!(
                "cannot load known_hosts {}",
                known_hosts_path
                    .as_deref()
                    .map_or_else(|| "(none)".into(), |p| p.display().to_string())
            )
        })?;
        let mut identity_files: Vec<PathBuf> = if !args.identity.is_empty() {
            args.identity.clone()
        } else if !cfg.identity_files.is_empty() {
            cfg.identity_files.clone()
        } else {
            d.identity_files.clone()
        };
        if identity_files.is_empty()
            && let Some(h) = home()
        {
            identity_files = ["id_ed25519", "id_ecdsa", "id_rsa"]
                .iter()
                .map(|f| h.join(".ssh").join(f))
                .filter(|p| p.exists())
                .collect();
        }
        let use_agent = !args.no_agent && cfg.use_agent.unwrap_or(true);
        if let Some(rate) = args.rate {
            check_rate(rate)
                .map_err(|m| crate::error::ExitError::new(crate::error::Exit::Usage, m))?;
        }
        Ok(SshSettings {
            rate: args.rate,
            concurrency,
            options: SshOptions {
                identity_files,
                keys: Arc::default(),
                use_agent,
                known_hosts: Arc::new(known_hosts),
                accept_new_host_keys: args.accept_new_host_keys,
                connect_timeout: args
                    .connect_timeout
                    .or(cfg.connect_timeout)
                    .unwrap_or(d.connect_timeout),
                command_timeout: args
                    .command_timeout
                    .or(cfg.command_timeout)
                    .unwrap_or(d.command_timeout),
                output_cap: args
                    .max_output
                    .or(cfg.max_output)
                    .unwrap_or(DEFAULT_MAX_OUTPUT),
                sudo: args.sudo,
            },
        })
    }
}

/// SSH settings resolved for one run.
#[derive(Debug, Clone)]
pub struct SshSettings {
    pub concurrency: usize,
    pub options: SshOptions,
    /// `--rate`, if given (each verb has its own default).
    pub rate: Option<f64>,
}

impl SshSettings {
    /// The limiter every new SSH session of the command waits on: `--rate`, else `default`
    /// sessions per second (0: no limit).
    pub fn limiter(&self, default: f64) -> std::sync::Arc<crate::transport::RateLimiter> {
        std::sync::Arc::new(crate::transport::RateLimiter::new(
            self.rate.unwrap_or(default),
        ))
    }
}

/// Requests per second a run sends to a cluster's API servers or etcd: a handful, so the tool
/// never adds load worth mentioning to a control plane that is drowning.
pub const DEFAULT_API_RATE: f64 = 20.0;

/// How long one API call may keep retrying (429 Retry-After, 5xx backoff, failover) in all.
pub const API_CALL_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// API requests one run may send to one cluster: an upper bound that no runbook reaches, so a
/// bug can never turn breakglass into the load it was run to remove.
pub const API_REQUEST_BUDGET: usize = 2000;

/// How long one etcd or API request may take on one endpoint before the next is tried.
pub const API_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Requests per second a run sends to a cloud provider, across its clusters: well under the
/// Auto Scaling and EKS API rate limits, so a run never uses up the account's quota that the
/// operator's other tools need during the incident.
pub const DEFAULT_CLOUD_RATE: f64 = 5.0;

/// Cloud requests one run may send to one provider in all (every retry counts).
pub const CLOUD_REQUEST_BUDGET: usize = 1000;

/// How long one cloud request may take (connect included).
pub const CLOUD_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// How to reach a cluster's etcd, if the inventory lists its `etcd_endpoints`.
pub fn etcd_config(c: &crate::inventory::Cluster) -> Option<crate::transport::etcd::EtcdConfig> {
    (!c.etcd_endpoints.is_empty()).then(|| crate::transport::etcd::EtcdConfig {
        cluster: c.name.clone(),
        endpoints: c.etcd_endpoints.clone(),
        ca_file: c.etcd_ca_file.clone(),
        cert_file: c.etcd_cert_file.clone(),
        key_file: c.etcd_key_file.clone(),
        server_name: c.etcd_server_name.clone(),
        timeout: API_REQUEST_TIMEOUT,
    })
}

/// `--rate` for the verbs that change things (`run`, `resume`, `undo`, `confirm`): fast enough
/// for a thousand nodes in 20 s, slow enough that a jump host or a saturated API server host is
/// never handed a login storm.
pub const DEFAULT_CHANGE_RATE: f64 = 50.0;

/// The slowest `--rate` accepted: one session a minute. Slower is a typo (`0.001` for `0`), and
/// a run that waits hours for its next login is no remediation; `1e-300` would not even fit a
/// wait in a `Duration`.
pub const MIN_RATE: f64 = 1.0 / 60.0;

/// `--cloud-rate` as clap parses it: a number that passes [`check_rate`].
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of requests per second"))?;
    check_rate(rate).map(|()| rate)
}

/// The pace of a run's cloud calls: `--cloud-rate`, slowed to `--rate` when that is given and
/// lower (a run told to go slow goes slow everywhere); 0 means no limit in either.
pub fn cloud_pace(rate: Option<f64>, cloud_rate: f64) -> f64 {
    match rate.filter(|r| *r > 0.0) {
        Some(r) if cloud_rate == 0.0 || r < cloud_rate => r,
        _ => cloud_rate,
    }
}

/// `--rate`: 0 (no limit), or at least [`MIN_RATE`], and finite.
fn check_rate(rate: f64) -> Result<(), String> {
    if rate == 0.0 || (rate.is_finite() && rate >= MIN_RATE) {
        Ok(())
    } else {
        Err(format!(
            "--rate must be 0 (no limit) or at least {MIN_RATE:.4} (one session a minute), got {rate}"
        ))
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

fn load_config(explicit: Option<&Path>) -> anyhow::Result<ConfigFile> {
    let (path, must_exist) = if let Some(p) = explicit {
        (p.to_path_buf(), true)
    } else {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| home().map(|h| h.join(".config")));
        match base {
            Some(b) => (b.join("breakglass/config.toml"), false),
            None => return Ok(ConfigFile::default()),
        }
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
            return Ok(ConfigFile::default());
        }
        Err(e) => {
            return Err(crate::error::ExitError::new(
                crate::error::Exit::Usage,
                format!("{}: cannot read config file: {e}", path.display()),
            )
            .into());
        }
    };
    toml::from_str(&text).map_err(|e| {
        let (line, col) = e
            .span()
            .map_or((1, 1), |s| crate::error::line_col(&text, s.start));
        crate::error::ExitError::new(
            crate::error::Exit::Usage,
            format!("{}:{line}:{col}: {}", path.display(), e.message()),
        )
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_name_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "output = \"json\"\n[ssh]\nconcurency = 3\n").unwrap();
        let err = load_config(Some(&p)).unwrap_err().to_string();
        assert!(err.contains("c.toml:3:1"), "{err}");
        assert!(err.contains("unknown field"), "{err}");
    }

    #[test]
    fn config_parses() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "output = \"json\"\n[ssh]\nconcurrency = 3\nconnect_timeout = \"2s\"\n",
        )
        .unwrap();
        let c = load_config(Some(&p)).unwrap();
        assert_eq!(c.output, Some(OutputFormat::Json));
        assert_eq!(c.ssh.concurrency, Some(3));
        assert_eq!(c.ssh.connect_timeout, Some(Duration::from_secs(2)));
    }

    #[test]
    fn the_cloud_pace_is_cloud_rate_slowed_by_a_lower_rate() {
        assert!((cloud_pace(None, 5.0) - 5.0).abs() < f64::EPSILON);
        assert!((cloud_pace(Some(50.0), 5.0) - 5.0).abs() < f64::EPSILON);
        assert!((cloud_pace(Some(1.0), 5.0) - 1.0).abs() < f64::EPSILON);
        assert!((cloud_pace(Some(0.0), 5.0) - 5.0).abs() < f64::EPSILON);
        assert!((cloud_pace(Some(2.0), 0.0) - 2.0).abs() < f64::EPSILON);
        assert!(parse_rate("0.001").is_err() && parse_rate("x").is_err());
    }

    /// Issue #11, point 10: `--rate 1e-300` waited forever (or panicked making the wait).
    #[test]
    fn rate_is_zero_or_at_least_one_session_a_minute() {
        for ok in [0.0, MIN_RATE, 1.0, 50.0, 1e9] {
            assert!(check_rate(ok).is_ok(), "{ok}");
        }
        for bad in [-1.0, 0.001, 1e-300, f64::NAN, f64::INFINITY, -0.5] {
            let e = check_rate(bad).unwrap_err();
            assert!(e.contains("one session a minute"), "{bad}: {e}");
        }
    }

    #[test]
    fn missing_default_config_is_fine_but_explicit_is_not() {
        assert!(load_config(Some(Path::new("/nonexistent/breakglass.toml"))).is_err());
    }
}
