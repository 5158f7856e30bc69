//! Loading an inventory file: the on-disk schema (TOML, or JSON with the identical schema when the
//! file name ends in `.json`), its validation, and [`InventoryError`], whose every message starts
//! with `FILE:LINE:COLUMN` and says what was wrong and what was expected.
//!
//! Positions: TOML syntax and type errors use toml's spans; JSON syntax errors use `serde_json`'s
//! line and column; everything after that (JSON type errors, unknown keys, and all semantic
//! errors in both formats) uses byte spans recorded through `toml::Spanned` fields, which the
//! `json` module fills for JSON too, so both formats point at the exact offending value. Errors
//! about one character of a string (a bad range) point at that character when the string has no
//! escapes, else at the string's opening quote.
//!
//! Rules beyond the schema: `name` and `address` are host sets (`hostset`), zipped one to one
//! (`addresses = [...]` entries may be host sets too); `host_key` is for a single host,
//! `host_keys` gives one per host in order; a host's labels sit over its cluster's labels and
//! `cluster=NAME` is added (the `cluster` label key is reserved); `[defaults] jump` applies to
//! every host except the jump host itself, and `jump = ""` on a host opts out; a jump is the name
//! of a host in the file (which must connect directly: one hop) or `[user@]IP[:port]`, with
//! IPv6 as `[fd00::1]:22`; `~/` expands to `$HOME` and relative paths are relative to the
//! inventory file's directory; host names are ASCII letters, digits, `-`, `_`, `.` and not `all`
//! or `except` (selector keywords); `[groups]` selectors are parsed and evaluated at load time.
//!
//! Loading never touches the network: addresses must be IP literals.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::checks::{
    check_group_name, check_host_key, check_host_name, check_label_key, check_label_value,
    check_port, check_user, inline_jump, non_empty, parse_endpoint, parse_ip, parse_net_endpoint,
    parse_timeout,
};
use super::hostset::{self, HostsetError};
use super::selector::Selector;
use super::{Cluster, Defaults, Host, Inventory, json};

/// Which syntax an inventory file is written in. The schema is the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Json,
}

impl Format {
    /// `.json` (any case) is JSON; everything else is TOML.
    pub fn from_path(path: &Path) -> Format {
        match path.extension() {
            Some(ext) if ext.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Toml,
        }
    }
}

/// A position in an inventory file, printed `FILE:LINE:COLUMN` (1-based, columns in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

/// Why an inventory could not be loaded. Every variant but `Read` names the line and column.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The file could not be read at all.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not valid TOML/JSON, or does not fit the schema (unknown key, wrong type, missing key).
    #[error("{at}: {message}")]
    Syntax { at: Location, message: String },
    /// Well-formed but wrong: a bad range, a duplicate name, a count mismatch, an unknown
    /// cluster, a name where an IP is needed.
    #[error("{at}: {message}")]
    Invalid { at: Location, message: String },
}

impl InventoryError {
    /// Where the problem is, when it is inside the file.
    pub fn location(&self) -> Option<&Location> {
        match self {
            InventoryError::Read { .. } => None,
            InventoryError::Syntax { at, .. } | InventoryError::Invalid { at, .. } => Some(at),
        }
    }
}

/// The largest inventory file read: a 200,000-host fleet written one host per entry, with labels,
/// is about 40 MB.
pub const MAX_INVENTORY_BYTES: u64 = 64 << 20;

/// The most hosts an inventory may expand to, across all its entries: more than any fleet one
/// operator acts on, and a bound on memory (a 219-byte file expanded to 2.9 million hosts and
/// 1.1 GB before this limit).
pub const MAX_HOSTS: usize = 200_000;

pub(super) fn load(path: &Path) -> Result<Inventory, InventoryError> {
    let bytes = crate::input::read_bounded(path, MAX_INVENTORY_BYTES).map_err(|source| {
        InventoryError::Read {
            path: path.to_owned(),
            source,
        }
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
            let cx = Cx {
                path,
                text: &prefix,
            };
            return Err(InventoryError::Syntax {
                at: cx.at(valid),
                message: "invalid UTF-8; expected a UTF-8 text file".into(),
            });
        }
    };
    parse(&text, path, Format::from_path(path))
}

pub(super) fn parse(text: &str, path: &Path, format: Format) -> Result<Inventory, InventoryError> {
    let cx = Cx { path, text };
    let raw: RawFile = match format {
        Format::Toml => toml::from_str(text).map_err(|e| InventoryError::Syntax {
            at: cx.at(e.span().map_or(0, |s| s.start)),
            message: tidy(e.message(), "valid TOML (https://toml.io)"),
        })?,
        Format::Json => json::from_str(text).map_err(|e| match e {
            json::JsonError::Syntax {
                line,
                column,
                message,
            } => InventoryError::Syntax {
                at: Location {
                    path: path.to_owned(),
                    line,
                    column,
                },
                message: tidy(&message, "valid JSON"),
            },
            json::JsonError::Value { span, message } => InventoryError::Syntax {
                at: cx.at(span.start),
                message: tidy(&message, "valid JSON"),
            },
        })?,
    };
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())));
    Builder::new(&cx).build(raw, digest)
}

/// serde and toml say `invalid type: string "x", expected u16` and split toml syntax messages
/// over lines; make them one line in our `what; expected` shape, naming the format when the
/// parser did not say what it expected.
fn tidy(message: &str, format: &str) -> String {
    let one_line = message.trim().replace('\n', "; ");
    match one_line.split_once(", expected ") {
        Some((what, expected)) => format!("{what}; expected {expected}"),
        None if one_line.contains("expected") => one_line,
        None => format!("{one_line}; expected {format}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The schema as written. Every value an error may point at is `Spanned`.

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an inventory table")]
struct RawFile {
    #[serde(default)]
    defaults: Option<RawDefaults>,
    #[serde(default)]
    clusters: BTreeMap<Spanned<String>, RawCluster>,
    #[serde(default)]
    groups: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    hosts: Vec<Spanned<RawHost>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a [defaults] table")]
struct RawDefaults {
    user: Option<Spanned<String>>,
    port: Option<Spanned<u16>>,
    identity_files: Option<Vec<Spanned<String>>>,
    known_hosts: Option<Spanned<String>>,
    connect_timeout: Option<Spanned<String>>,
    command_timeout: Option<Spanned<String>>,
    jump: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [clusters.NAME] table")]
struct RawCluster {
    #[serde(default)]
    api_endpoints: Vec<Spanned<String>>,
    #[serde(default)]
    node_api_endpoints: Vec<Spanned<String>>,
    tls_server_name: Option<Spanned<String>>,
    ca_file: Option<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    etcd_endpoints: Vec<Spanned<String>>,
    etcd_cert_file: Option<Spanned<String>>,
    etcd_key_file: Option<Spanned<String>>,
    etcd_ca_file: Option<Spanned<String>>,
    etcd_server_name: Option<Spanned<String>>,
    kubeconfig: Option<Spanned<String>>,
    context: Option<Spanned<String>>,
    aws: Option<super::load_aws::RawAws>,
    gcp: Option<super::load_gcp::RawGcp>,
    azure: Option<super::load_azure::RawAzure>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[hosts]] table")]
struct RawHost {
    name: Spanned<String>,
    address: Option<Spanned<String>>,
    addresses: Option<Spanned<Vec<Spanned<String>>>>,
    cluster: Option<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<Spanned<String>, Spanned<String>>,
    host_key: Option<Spanned<String>>,
    host_keys: Option<Spanned<Vec<Spanned<String>>>>,
    port: Option<Spanned<u16>>,
    user: Option<Spanned<String>>,
    jump: Option<Spanned<String>>,
}

// ---------------------------------------------------------------------------------------------
// Turning spans into locations.

pub(super) struct Cx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Cx<'_> {
    fn at(&self, offset: usize) -> Location {
        let (line, column) = crate::error::line_col(self.text, offset);
        Location {
            path: self.path.to_owned(),
            line,
            column,
        }
    }

    fn line_of(&self, span: &Range<usize>) -> usize {
        self.at(span.start).line
    }

    pub(super) fn invalid(
        &self,
        span: &Range<usize>,
        message: impl Into<String>,
    ) -> InventoryError {
        InventoryError::Invalid {
            at: self.at(span.start),
            message: message.into(),
        }
    }

    /// The byte offset of character `index` of string `value`, written at `span`, if the string
    /// is written without escapes (so source and value line up); else the span's start.
    fn char_offset(&self, span: &Range<usize>, value: &str, index: usize) -> usize {
        let written = self.text.get(span.clone()).unwrap_or("");
        let quoted = written.len() >= 2
            && (written.starts_with('"') || written.starts_with('\''))
            && written.get(1..written.len() - 1) == Some(value);
        if !quoted {
            return span.start;
        }
        let byte = value
            .char_indices()
            .nth(index)
            .map_or(value.len(), |(b, _)| b);
        span.start + 1 + byte
    }

    fn hostset_error(
        &self,
        what: &str,
        value: &Spanned<String>,
        e: &HostsetError,
    ) -> InventoryError {
        let offset = self.char_offset(&value.span(), value.get_ref(), e.column - 1);
        InventoryError::Invalid {
            at: self.at(offset),
            message: format!("bad {what} `{}`: {}", value.get_ref(), e.message),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Validation.

/// What a host entry asked for as its jump host.
#[derive(Clone)]
enum JumpSpec {
    /// No `jump` key: use `[defaults] jump`, if any.
    Default,
    /// `jump = ""`: connect directly even when a default jump is set.
    Direct,
    Via(Spanned<String>),
}

/// Per `[[hosts]]` entry: where it was written, for error messages and jump resolution.
struct Entry {
    name_span: Range<usize>,
    jump: JumpSpec,
}

/// Every expanded host's entry (`origins[host] = index into entries`).
struct Origins {
    entries: Vec<Entry>,
    of_host: Vec<usize>,
}

impl Origins {
    fn of(&self, host: usize) -> &Entry {
        &self.entries[self.of_host[host]]
    }
}

enum Target {
    Host(usize),
    Inline(Host),
}

struct Builder<'a> {
    cx: &'a Cx<'a>,
    base_dir: PathBuf,
}

impl<'a> Builder<'a> {
    fn new(cx: &'a Cx<'a>) -> Self {
        let base_dir = cx.path.parent().map(Path::to_path_buf).unwrap_or_default();
        Builder { cx, base_dir }
    }

    fn build(&self, raw: RawFile, digest: String) -> Result<Inventory, InventoryError> {
        let raw_defaults = raw.defaults.unwrap_or_default();
        let default_jump = raw_defaults.jump.clone();
        let defaults = self.defaults(raw_defaults)?;
        let clusters = self.clusters(raw.clusters)?;
        let (mut hosts, origins) = self.hosts(raw.hosts, &defaults, &clusters)?;
        self.resolve_jumps(&mut hosts, &origins, default_jump.as_ref(), &defaults)?;
        let groups = raw
            .groups
            .iter()
            .map(|(k, v)| (k.get_ref().clone(), v.get_ref().clone()))
            .collect();
        let inventory = Inventory {
            path: self.cx.path.to_owned(),
            digest,
            defaults,
            clusters,
            groups,
            hosts,
        };
        self.check_groups(&raw.groups, &inventory)?;
        Ok(inventory)
    }

    fn defaults(&self, raw: RawDefaults) -> Result<Defaults, InventoryError> {
        let cx = self.cx;
        let user = match raw.user {
            Some(u) => check_user(u.get_ref())
                .map_err(|m| cx.invalid(&u.span(), m))
                .map(|()| u.into_inner())?,
            None => "root".to_owned(),
        };
        let port = match raw.port {
            Some(p) => check_port(*p.get_ref()).map_err(|m| cx.invalid(&p.span(), m))?,
            None => 22,
        };
        let identity_files = raw
            .identity_files
            .unwrap_or_default()
            .iter()
            .map(|f| self.file_path(f))
            .collect::<Result<_, _>>()?;
        let known_hosts = raw
            .known_hosts
            .as_ref()
            .map(|f| self.file_path(f))
            .transpose()?;
        let timeout = |value: Option<Spanned<String>>, default: u64| match value {
            Some(v) => parse_timeout(v.get_ref()).map_err(|m| cx.invalid(&v.span(), m)),
            None => Ok(Duration::from_secs(default)),
        };
        Ok(Defaults {
            user,
            port,
            identity_files,
            known_hosts,
            connect_timeout: timeout(raw.connect_timeout, 10)?,
            command_timeout: timeout(raw.command_timeout, 60)?,
            jump: raw.jump.map(Spanned::into_inner).filter(|j| !j.is_empty()),
        })
    }

    /// `~` and `~/...` expand to `$HOME`; relative paths are relative to the inventory file's
    /// directory, so an inventory and its keys can be moved together and used from anywhere.
    fn file_path(&self, value: &Spanned<String>) -> Result<PathBuf, InventoryError> {
        let text = value.get_ref();
        let fail = |m: String| self.cx.invalid(&value.span(), m);
        let rest = if text == "~" {
            Some("")
        } else {
            text.strip_prefix("~/")
        };
        if let Some(rest) = rest {
            let home = std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .ok_or_else(|| {
                    fail(format!(
                        "`{text}` needs $HOME, which is not set; expected an absolute path"
                    ))
                })?;
            return Ok(PathBuf::from(home).join(rest));
        }
        if text.starts_with('~') {
            return Err(fail(format!(
                "`{text}`: only `~/` is expanded; expected an absolute path or one under ~/"
            )));
        }
        if text.is_empty() {
            return Err(fail("empty path; expected a file path".into()));
        }
        Ok(self.base_dir.join(text))
    }

    fn clusters(
        &self,
        raw: BTreeMap<Spanned<String>, RawCluster>,
    ) -> Result<BTreeMap<String, Cluster>, InventoryError> {
        let cx = self.cx;
        let mut clusters = BTreeMap::new();
        for (name, c) in raw {
            check_label_value(name.get_ref())
                .and_then(|()| non_empty(name.get_ref(), "cluster name"))
                .map_err(|m| cx.invalid(&name.span(), format!("cluster name: {m}")))?;
            let api_endpoints = c
                .api_endpoints
                .iter()
                .map(|e| parse_endpoint(e.get_ref()).map_err(|m| cx.invalid(&e.span(), m)))
                .collect::<Result<_, _>>()?;
            let node_api_endpoints = c
                .node_api_endpoints
                .iter()
                .map(|e| parse_net_endpoint(e.get_ref()).map_err(|m| cx.invalid(&e.span(), m)))
                .collect::<Result<_, _>>()?;
            if let Some(t) = &c.tls_server_name {
                non_empty(t.get_ref(), "TLS server name").map_err(|m| cx.invalid(&t.span(), m))?;
            }
            let labels = self.labels(&c.labels)?;
            let ca_file = c.ca_file.as_ref().map(|f| self.file_path(f)).transpose()?;
            let etcd_endpoints = c
                .etcd_endpoints
                .iter()
                .map(|e| parse_endpoint(e.get_ref()).map_err(|m| cx.invalid(&e.span(), m)))
                .collect::<Result<_, _>>()?;
            if let Some(t) = &c.etcd_server_name {
                non_empty(t.get_ref(), "etcd server name").map_err(|m| cx.invalid(&t.span(), m))?;
            }
            let file =
                |f: &Option<Spanned<String>>| f.as_ref().map(|f| self.file_path(f)).transpose();
            let (etcd_cert_file, etcd_key_file, etcd_ca_file) = (
                file(&c.etcd_cert_file)?,
                file(&c.etcd_key_file)?,
                file(&c.etcd_ca_file)?,
            );
            if etcd_cert_file.is_some() != etcd_key_file.is_some() {
                let at = c.etcd_cert_file.as_ref().or(c.etcd_key_file.as_ref());
                if let Some(at) = at {
                    return Err(cx.invalid(
                        &at.span(),
                        "etcd_cert_file and etcd_key_file go together: set both, or neither",
                    ));
                }
            }
            clusters.insert(
                name.get_ref().clone(),
                Cluster {
                    name: name.into_inner(),
                    api_endpoints,
                    node_api_endpoints,
                    tls_server_name: c.tls_server_name.map(Spanned::into_inner),
                    ca_file,
                    labels,
                    etcd_endpoints,
                    etcd_cert_file,
                    etcd_key_file,
                    etcd_ca_file,
                    etcd_server_name: c.etcd_server_name.map(Spanned::into_inner),
                    kubeconfig: file(&c.kubeconfig)?,
                    context: c.context.map(Spanned::into_inner),
                    aws: c
                        .aws
                        .map(|a| super::load_aws::build(cx, a, &|f| self.file_path(f)))
                        .transpose()?,
                    gcp: c.gcp.map(|g| super::load_gcp::build(cx, g)).transpose()?,
                    azure: c
                        .azure
                        .map(|a| super::load_azure::build(cx, a))
                        .transpose()?,
                },
            );
        }
        Ok(clusters)
    }

    fn labels(
        &self,
        raw: &BTreeMap<Spanned<String>, Spanned<String>>,
    ) -> Result<BTreeMap<String, String>, InventoryError> {
        let cx = self.cx;
        let mut labels = BTreeMap::new();
        for (key, value) in raw {
            check_label_key(key.get_ref()).map_err(|m| cx.invalid(&key.span(), m))?;
            if key.get_ref() == "cluster" {
                return Err(cx.invalid(
                    &key.span(),
                    "the `cluster` label is set from the host's `cluster` key; expected `cluster = \"NAME\"` on the host instead",
                ));
            }
            check_label_value(value.get_ref()).map_err(|m| cx.invalid(&value.span(), m))?;
            labels.insert(key.get_ref().clone(), value.get_ref().clone());
        }
        Ok(labels)
    }

    #[allow(clippy::too_many_lines)] // One pass over an entry reads best top to bottom.
    fn hosts(
        &self,
        raw: Vec<Spanned<RawHost>>,
        defaults: &Defaults,
        clusters: &BTreeMap<String, Cluster>,
    ) -> Result<(Vec<Host>, Origins), InventoryError> {
        let cx = self.cx;
        let mut hosts: Vec<Host> = Vec::new();
        let mut origins = Origins {
            entries: Vec::new(),
            of_host: Vec::new(),
        };
        let mut by_name: HashMap<String, usize> = HashMap::new();
        let mut by_socket: HashMap<SocketAddr, usize> = HashMap::new();
        for entry in raw {
            let entry_span = entry.span();
            let h = entry.into_inner();
            let name_span = h.name.span();
            let count = hostset::count(h.name.get_ref())
                .map_err(|e| cx.hostset_error("host name", &h.name, &e))?;
            if hosts.len() + count > MAX_HOSTS {
                return Err(cx.invalid(
                    &name_span,
                    format!(
                        "`{}` would bring the inventory to {} hosts; expected at most {MAX_HOSTS} in one inventory (split the fleet into several files)",
                        h.name.get_ref(),
                        hosts.len() + count
                    ),
                ));
            }
            let names = hostset::expand(h.name.get_ref())
                .map_err(|e| cx.hostset_error("host name", &h.name, &e))?;
            for n in &names {
                check_host_name(n).map_err(|m| cx.invalid(&name_span, m))?;
            }

            // Addresses: one range (zipped with the names) or an explicit list. Counted before
            // they are expanded, so a huge range next to three names costs nothing.
            let mismatch = |span: &std::ops::Range<usize>, what: &str, count: usize| {
                cx.invalid(
                    span,
                    format!(
                        "`{}` is {} name{} but {what} {count} address{}; expected one address per name",
                        h.name.get_ref(),
                        names.len(),
                        plural(names.len(), "", "s"),
                        plural(count, "", "es"),
                    ),
                )
            };
            let (addresses, count_span, what) = match (&h.address, &h.addresses) {
                (Some(a), None) => {
                    let count = hostset::count(a.get_ref())
                        .map_err(|e| cx.hostset_error("address", a, &e))?;
                    let what = format!("`{}` is", a.get_ref());
                    if count != names.len() {
                        return Err(mismatch(&a.span(), &what, count));
                    }
                    let list = hostset::expand(a.get_ref())
                        .map_err(|e| cx.hostset_error("address", a, &e))?;
                    let spans = vec![a.span(); list.len()];
                    (
                        list.into_iter().zip(spans).collect::<Vec<_>>(),
                        a.span(),
                        what,
                    )
                }
                (None, Some(list)) => {
                    let mut out = Vec::new();
                    for a in list.get_ref() {
                        // Counted first: a list of huge ranges must not be expanded to find out
                        // that it has more addresses than the entry has names.
                        let more = hostset::count(a.get_ref())
                            .map_err(|e| cx.hostset_error("address", a, &e))?;
                        if out.len() + more > names.len() {
                            return Err(mismatch(
                                &list.span(),
                                "`addresses` has at least",
                                out.len() + more,
                            ));
                        }
                        let expanded = hostset::expand(a.get_ref())
                            .map_err(|e| cx.hostset_error("address", a, &e))?;
                        out.extend(expanded.into_iter().map(|x| (x, a.span())));
                    }
                    (out, list.span(), "`addresses` has".to_owned())
                }
                (Some(a), Some(_)) => {
                    return Err(cx.invalid(
                        &a.span(),
                        "both `address` and `addresses` are set; expected only one of them",
                    ));
                }
                (None, None) => {
                    return Err(cx.invalid(
                        &entry_span,
                        format!(
                            "host `{}` has no address; expected `address = \"10.0.0.1\"` (ranges allowed) or `addresses = [...]`",
                            h.name.get_ref()
                        ),
                    ));
                }
            };
            if addresses.len() != names.len() {
                return Err(mismatch(&count_span, &what, addresses.len()));
            }

            let host_keys: Vec<Option<String>> = match (&h.host_key, &h.host_keys) {
                (Some(k), None) => {
                    if names.len() != 1 {
                        return Err(cx.invalid(
                            &k.span(),
                            format!(
                                "`host_key` pins one key but `{}` is {} hosts; expected `host_keys = [...]` with one key per host",
                                h.name.get_ref(),
                                names.len()
                            ),
                        ));
                    }
                    check_host_key(k.get_ref()).map_err(|m| cx.invalid(&k.span(), m))?;
                    vec![Some(k.get_ref().clone())]
                }
                (None, Some(keys)) => {
                    if keys.get_ref().len() != names.len() {
                        return Err(cx.invalid(
                            &keys.span(),
                            format!(
                                "`host_keys` has {} key{} but `{}` is {} host{}; expected one key per host, in order",
                                keys.get_ref().len(),
                                plural(keys.get_ref().len(), "", "s"),
                                h.name.get_ref(),
                                names.len(),
                                plural(names.len(), "", "s"),
                            ),
                        ));
                    }
                    keys.get_ref()
                        .iter()
                        .map(|k| {
                            check_host_key(k.get_ref())
                                .map_err(|m| cx.invalid(&k.span(), m))
                                .map(|()| Some(k.get_ref().clone()))
                        })
                        .collect::<Result<_, _>>()?
                }
                (Some(k), Some(_)) => {
                    return Err(cx.invalid(
                        &k.span(),
                        "both `host_key` and `host_keys` are set; expected only one of them",
                    ));
                }
                (None, None) => vec![None; names.len()],
            };

            let port = match &h.port {
                Some(p) => check_port(*p.get_ref()).map_err(|m| cx.invalid(&p.span(), m))?,
                None => defaults.port,
            };
            let user = match &h.user {
                Some(u) => {
                    check_user(u.get_ref()).map_err(|m| cx.invalid(&u.span(), m))?;
                    u.get_ref().clone()
                }
                None => defaults.user.clone(),
            };
            let cluster = match &h.cluster {
                Some(c) => Some(clusters.get(c.get_ref()).ok_or_else(|| {
                    let known = if clusters.is_empty() {
                        "no clusters are defined; expected a [clusters.NAME] table".to_owned()
                    } else {
                        format!(
                            "expected one of: {}",
                            clusters.keys().cloned().collect::<Vec<_>>().join(", ")
                        )
                    };
                    cx.invalid(
                        &c.span(),
                        format!("unknown cluster `{}`; {known}", c.get_ref()),
                    )
                })?),
                None => None,
            };
            // Cluster labels are defaults under the host's own; `cluster=NAME` always wins.
            let mut labels = cluster.map(|c| c.labels.clone()).unwrap_or_default();
            labels.extend(self.labels(&h.labels)?);
            if let Some(c) = cluster {
                labels.insert("cluster".to_owned(), c.name.clone());
            }
            let jump = match &h.jump {
                None => JumpSpec::Default,
                Some(j) if j.get_ref().is_empty() => JumpSpec::Direct,
                Some(j) => JumpSpec::Via(j.clone()),
            };
            let entry_index = origins.entries.len();
            origins.entries.push(Entry {
                name_span: name_span.clone(),
                jump,
            });

            for ((name, (address_text, address_span)), host_key) in
                names.into_iter().zip(addresses).zip(host_keys)
            {
                let address = parse_ip(&address_text).map_err(|m| cx.invalid(&address_span, m))?;
                if let Some(&first) = by_name.get(&name) {
                    return Err(cx.invalid(
                        &name_span,
                        format!(
                            "duplicate host name `{name}` (first defined on line {}); expected unique names",
                            cx.line_of(&origins.of(first).name_span)
                        ),
                    ));
                }
                let socket = SocketAddr::new(address, port);
                if let Some(&first) = by_socket.get(&socket) {
                    return Err(cx.invalid(
                        &address_span,
                        format!(
                            "address {socket} of `{name}` is already used by `{}` (line {}); expected each address:port once",
                            hosts[first].name,
                            cx.line_of(&origins.of(first).name_span)
                        ),
                    ));
                }
                by_name.insert(name.clone(), hosts.len());
                by_socket.insert(socket, hosts.len());
                hosts.push(Host {
                    name,
                    address,
                    port,
                    user: user.clone(),
                    labels: labels.clone(),
                    host_key,
                    cluster: cluster.map(|c| c.name.clone()),
                    jump: None,
                });
                origins.of_host.push(entry_index);
            }
        }
        Ok((hosts, origins))
    }

    /// Resolves every host's jump to a host of this file or an inline `user@IP:port`, and
    /// enforces one hop: a jump host must itself be reached directly.
    fn resolve_jumps(
        &self,
        hosts: &mut [Host],
        origins: &Origins,
        default_jump: Option<&Spanned<String>>,
        defaults: &Defaults,
    ) -> Result<(), InventoryError> {
        let cx = self.cx;
        let by_name: HashMap<&str, usize> = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.name.as_str(), i))
            .collect();
        // Most hosts share one spec; resolve each distinct spec once.
        let mut resolved: HashMap<String, Target> = HashMap::new();
        let mut resolve = |spec: &Spanned<String>| -> Result<(), InventoryError> {
            if !resolved.contains_key(spec.get_ref()) {
                let target = match by_name.get(spec.get_ref().as_str()) {
                    Some(&i) => Target::Host(i),
                    None => Target::Inline(
                        inline_jump(spec.get_ref(), defaults)
                            .map_err(|m| cx.invalid(&spec.span(), m))?,
                    ),
                };
                resolved.insert(spec.get_ref().clone(), target);
            }
            Ok(())
        };
        if let Some(d) = default_jump
            && !d.get_ref().is_empty()
        {
            resolve(d)?;
        }
        for entry in &origins.entries {
            if let JumpSpec::Via(spec) = &entry.jump {
                resolve(spec)?;
            }
        }

        // Which spec applies to host i (and where it was written), after defaults.
        let effective = |i: usize| -> Option<&Spanned<String>> {
            match &origins.of(i).jump {
                JumpSpec::Direct => None,
                JumpSpec::Via(spec) => Some(spec),
                JumpSpec::Default => {
                    let d = default_jump.filter(|d| !d.get_ref().is_empty())?;
                    // The default jump host does not jump through itself.
                    let itself = match resolved.get(d.get_ref()) {
                        Some(Target::Host(t)) => *t == i,
                        Some(Target::Inline(j)) => j.socket_addr() == hosts[i].socket_addr(),
                        None => false,
                    };
                    (!itself).then_some(d)
                }
            }
        };
        let mut plan: Vec<Option<Box<Host>>> = Vec::with_capacity(hosts.len());
        let mut boxed: HashMap<String, Box<Host>> = HashMap::new();
        for i in 0..hosts.len() {
            let Some(spec) = effective(i) else {
                plan.push(None);
                continue;
            };
            if !boxed.contains_key(spec.get_ref()) {
                let target = match resolved.get(spec.get_ref()) {
                    Some(Target::Host(t)) => {
                        let t = *t;
                        if t == i {
                            return Err(cx.invalid(
                                &spec.span(),
                                format!(
                                    "host `{}` cannot jump through itself; expected another host, or `jump = \"\"` to connect directly",
                                    hosts[i].name
                                ),
                            ));
                        }
                        if let Some(second) = effective(t) {
                            return Err(cx.invalid(
                                &spec.span(),
                                format!(
                                    "jump host `{}` itself connects through `{}`; expected a jump host reached directly (one hop): give it `jump = \"\"`",
                                    hosts[t].name,
                                    second.get_ref()
                                ),
                            ));
                        }
                        hosts[t].clone()
                    }
                    Some(Target::Inline(h)) => h.clone(),
                    // Every spec was resolved above; an unknown one cannot happen.
                    None => continue,
                };
                boxed.insert(spec.get_ref().clone(), Box::new(target));
            }
            plan.push(boxed.get(spec.get_ref()).cloned());
        }
        for (host, jump) in hosts.iter_mut().zip(plan) {
            host.jump = jump;
        }
        Ok(())
    }

    /// Group names are checked, their selectors parsed and evaluated once, so a typo or a cycle
    /// is reported at load time with its position rather than in the middle of an incident.
    fn check_groups(
        &self,
        raw: &BTreeMap<Spanned<String>, Spanned<String>>,
        inventory: &Inventory,
    ) -> Result<(), InventoryError> {
        let cx = self.cx;
        for (name, value) in raw {
            check_group_name(name.get_ref()).map_err(|m| cx.invalid(&name.span(), m))?;
            let selector = Selector::parse(value.get_ref()).map_err(|e| {
                let offset = match &e {
                    super::SelectorError::Syntax { column, .. } => {
                        cx.char_offset(&value.span(), value.get_ref(), column - 1)
                    }
                    _ => value.span().start,
                };
                InventoryError::Invalid {
                    at: cx.at(offset),
                    message: format!("group `{}`: {e}", name.get_ref()),
                }
            })?;
            inventory.select(&selector).map_err(|e| {
                cx.invalid(&value.span(), format!("group `{}`: {e}", name.get_ref()))
            })?;
        }
        Ok(())
    }
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// An inventory of one cluster `prod` whose `[clusters.prod.TABLE]` is `body`: what the cloud
/// tables' tests load.
#[cfg(test)]
pub(super) fn load_cloud_table(table: &str, body: &str) -> Result<Inventory, String> {
    parse(
        &format!("[clusters.prod]\napi_endpoints = [\"10.0.0.10:6443\"]\n\n[clusters.prod.{table}]\n{body}"),
        Path::new("inv.toml"),
        Format::Toml,
    )
    .map_err(|e| e.to_string())
}
