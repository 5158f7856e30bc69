//! What an inventory value may be: host, group and node-group names, label keys and values,
//! ports, users, timeouts, IP literals and endpoints, host keys, inline jump hosts, cloud
//! endpoints. Each plain check returns "what was wrong; what was expected"; the loaders
//! (`load.rs`, `load_aws.rs`, ...) add the position.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use toml::Spanned;

use super::load::{Cx, InventoryError};
use super::{Defaults, Host};

pub(super) fn non_empty(value: &str, what: &str) -> Result<(), String> {
    if value.is_empty() {
        Err(format!("empty {what}; expected a non-empty string"))
    } else {
        Ok(())
    }
}

pub(super) fn check_port(port: u16) -> Result<u16, String> {
    if port == 0 {
        Err("port 0; expected 1-65535".into())
    } else {
        Ok(port)
    }
}

pub(super) fn check_user(user: &str) -> Result<(), String> {
    let ok = !user.is_empty()
        && user.len() <= 32
        && !user.starts_with('-')
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "bad user `{user}`; expected a login name (letters, digits, `_`, `-`, `.`, at most 32)"
        ))
    }
}

pub(super) fn parse_timeout(text: &str) -> Result<Duration, String> {
    match crate::duration::parse(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(format!(
            "timeout `{text}` is zero; expected a positive duration like \"10s\""
        )),
        Err(e) => Err(format!(
            "bad duration `{text}`: {e}; expected a duration like \"10s\" or \"2m\""
        )),
    }
}

const NEVER_RESOLVES: &str = "breakglass never resolves names; give an IP";

/// A host's address: unicast, and an IPv4-mapped IPv6 address as its IPv4 address, so the
/// duplicate check sees `::ffff:10.0.0.1` and `10.0.0.1` as the one host they are.
pub(super) fn parse_ip(text: &str) -> Result<IpAddr, String> {
    let ip = text
        .parse()
        .map_err(|_| format!("`{text}` is not an IP address; {NEVER_RESOLVES}"))?;
    crate::address::host_address(ip)
}

pub(super) fn parse_endpoint(text: &str) -> Result<SocketAddr, String> {
    if let Ok(s) = text.parse::<SocketAddr>() {
        let ip = crate::address::host_address(s.ip())?;
        return Ok(SocketAddr::new(ip, s.port()));
    }
    if text.parse::<IpAddr>().is_ok() {
        return Err(format!(
            "endpoint `{text}` has no port; expected IP:PORT like 10.0.0.10:6443"
        ));
    }
    Err(format!(
        "endpoint `{text}` is not IP:PORT; {NEVER_RESOLVES} and port, like 10.0.0.10:6443"
    ))
}

/// A `node_api_endpoints` entry: `ADDRESS:PORT` or `NETWORK/LEN:PORT`, with IPv6 in brackets
/// (`[fd00::/64]:443`). The network is canonical (host bits cleared, v4-mapped as IPv4).
pub(super) fn parse_net_endpoint(text: &str) -> Result<(ipnet::IpNet, u16), String> {
    let syntax = || {
        format!(
            "`{text}` is not ADDRESS:PORT or NETWORK/LEN:PORT (IPv6 in brackets, \
             `[fd00::/64]:443`); {NEVER_RESOLVES} or network"
        )
    };
    let (net, port) = match text.strip_prefix('[') {
        Some(rest) => rest.split_once("]:").ok_or_else(syntax)?,
        None => text.rsplit_once(':').ok_or_else(syntax)?,
    };
    if net.contains(':') && !text.starts_with('[') {
        return Err(syntax());
    }
    let port: u16 = port.parse().map_err(|_| syntax())?;
    check_port(port)?;
    let net = match net.parse::<ipnet::IpNet>() {
        Ok(n) => n.trunc(),
        Err(_) => ipnet::IpNet::from(net.parse::<IpAddr>().map_err(|_| syntax())?),
    };
    if net.prefix_len() == 0 {
        return Err(format!(
            "`{text}` is every address; expected the API endpoints' addresses or networks"
        ));
    }
    let net = crate::address::source_network(net).map_err(|e| format!("`{text}`: {e}"))?;
    Ok((net, port))
}

/// `[user@]IP[:port]`, with IPv6 as `[::1]:22` when a port is given.
pub(super) fn inline_jump(spec: &str, defaults: &Defaults) -> Result<Host, String> {
    let (user, rest) = match spec.split_once('@') {
        Some((user, rest)) => {
            check_user(user)?;
            (user.to_owned(), rest)
        }
        None => (defaults.user.clone(), spec),
    };
    let (address, port) = if let Ok(s) = rest.parse::<SocketAddr>() {
        (crate::address::host_address(s.ip())?, check_port(s.port())?)
    } else if let Ok(ip) = rest.parse::<IpAddr>() {
        (crate::address::host_address(ip)?, defaults.port)
    } else {
        return Err(format!(
            "jump `{spec}` is neither a host in this file nor `user@IP:port`; {NEVER_RESOLVES} or the name of a host defined here"
        ));
    };
    Ok(Host {
        name: address.to_string(),
        address,
        port,
        user,
        labels: BTreeMap::new(),
        host_key: None,
        cluster: None,
        jump: None,
    })
}

/// Host names appear in selectors, so they stay within characters the selector grammar treats
/// as plain text.
pub(super) fn check_host_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(format!(
            "bad host name `{name}`; expected letters, digits, `-`, `_` and `.`, starting with a letter or digit"
        ));
    }
    if matches!(name, "all" | "except") {
        return Err(format!(
            "host name `{name}` is a selector keyword; expected another name"
        ));
    }
    Ok(())
}

pub(super) fn check_group_name(name: &str) -> Result<(), String> {
    if super::selector::is_group_name(name) {
        Ok(())
    } else {
        Err(format!(
            "bad group name `{name}`; expected letters, digits, `-`, `_` and `.`, starting with a letter or digit"
        ))
    }
}

/// `SHA256:` and the base64 digest, as `ssh-keygen -lf` prints it.
pub(super) fn check_host_key(key: &str) -> Result<(), String> {
    let ok = key.strip_prefix("SHA256:").is_some_and(|b64| {
        !b64.is_empty()
            && b64
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "host key `{key}` is not a SHA256 fingerprint; expected `SHA256:` and base64, as `ssh-keygen -lf` prints"
        ))
    }
}

/// Kubernetes label keys: an optional DNS-subdomain prefix and `/`, then a name of at most 63
/// alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric.
/// <https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set>
pub(super) fn check_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            })
    });
    if prefix_ok && is_label_name(name) {
        Ok(())
    } else {
        Err(format!(
            "bad label key `{key}`; expected a name like `role` or `example.com/role` (at most 63 letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit)"
        ))
    }
}

/// Kubernetes label values: empty, or a name as in keys.
pub(super) fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_label_name(value) {
        Ok(())
    } else {
        Err(format!(
            "bad label value `{value}`; expected at most 63 letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit"
        ))
    }
}

/// One label value or name segment (Kubernetes): at most 63 letters, digits, `-`, `_`, `.`,
/// starting and ending with a letter or digit.
pub(crate) fn is_label_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A cloud table's `endpoint`: an http:// or https:// URL (checks shared by
/// `[clusters.NAME.aws]`, `.gcp` and `.azure`).
pub(super) fn check_endpoint(
    cx: &Cx<'_>,
    endpoint: Option<&Spanned<String>>,
) -> Result<(), InventoryError> {
    match endpoint {
        Some(e) if !(e.get_ref().starts_with("https://") || e.get_ref().starts_with("http://")) => {
            Err(cx.invalid(
                &e.span(),
                format!(
                    "bad endpoint `{}`; expected an http:// or https:// URL",
                    e.get_ref()
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// A node group's `name`: a label value, once per cluster table.
pub(super) fn check_node_group_name(
    cx: &Cx<'_>,
    name: &Spanned<String>,
    seen: &mut std::collections::HashSet<String>,
) -> Result<(), InventoryError> {
    let n = name.get_ref();
    non_empty(n, "node group name")
        .and_then(|()| check_label_value(n))
        .map_err(|m| cx.invalid(&name.span(), format!("node group name: {m}")))?;
    if seen.insert(n.clone()) {
        Ok(())
    } else {
        Err(cx.invalid(
            &name.span(),
            format!("node group `{n}` is listed twice in this cluster; expected unique names"),
        ))
    }
}

/// A cloud resource name that goes into a URL path as it is: non-empty, every byte `allowed`
/// (so nothing needs escaping); `expected` says what is.
pub(super) fn check_cloud_name(
    cx: &Cx<'_>,
    v: &Spanned<String>,
    what: &str,
    allowed: fn(u8) -> bool,
    expected: &str,
) -> Result<String, InventoryError> {
    let s = v.get_ref();
    if !s.is_empty() && s.bytes().all(allowed) {
        Ok(s.clone())
    } else {
        Err(cx.invalid(&v.span(), format!("bad {what} `{s}`; expected {expected}")))
    }
}
