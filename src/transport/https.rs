//! HTTPS to a control-plane endpoint by IP, shared by the Kubernetes and etcd clients: the
//! address is the endpoint's own, the name TLS checks is set explicitly (or is the IP, which
//! the certificate's SANs must hold), the CA is the cluster's and nothing else, and DNS is never
//! asked. One idle connection per endpoint: a struggling server gets few of them from us.

use std::net::SocketAddr;
use std::time::Duration;

/// What every request breakglass sends says it is (API server audit logs show it, and drills
/// count breakglass's own requests by it).
pub const USER_AGENT: &str = concat!("breakglass/", env!("CARGO_PKG_VERSION"));

/// A client for one endpoint and its base URL (`https://NAME:PORT`). `server_name`: the name
/// the certificate is checked against (default: the IP). `timeout` bounds connect and the
/// whole request. Err: why the client cannot be built.
pub fn client(
    addr: SocketAddr,
    server_name: Option<&str>,
    ca: Option<&reqwest::Certificate>,
    identity: Option<&reqwest::Identity>,
    timeout: Duration,
) -> Result<(reqwest::Client, String), String> {
    let host = server_name.map_or_else(
        || match addr.ip() {
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        },
        str::to_owned,
    );
    let mut b = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(timeout)
        .connect_timeout(timeout)
        .no_proxy()
        .pool_max_idle_per_host(1);
    if server_name.is_some() {
        // The name is only what TLS verifies; the address is the endpoint's IP.
        b = b.resolve(&host, addr);
    }
    if let Some(ca) = ca {
        b = b
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca.clone());
    }
    if let Some(id) = identity {
        b = b.identity(id.clone());
    }
    let client = b
        .build()
        .map_err(|e| format!("cannot build an HTTPS client: {e}"))?;
    Ok((client, format!("https://{host}:{}", addr.port())))
}

/// An error with its causes, `a: b: c` (reqwest's top-level message alone says little).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(c) = source {
        s.push_str(": ");
        s.push_str(&c.to_string());
        source = c.source();
    }
    s
}

/// Percent-encodes a query or form value (RFC 3986 unreserved characters pass): Kubernetes
/// continue tokens are base64, whose `+`, `/` and `=` would otherwise be read as a space and
/// separators, and AWS's SigV4 canonical form is exactly this encoding.
pub fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(query_escape("eyJ2Ijo+/x=="), "eyJ2Ijo%2B%2Fx%3D%3D");
        assert_eq!(query_escape("a-b.c_d~"), "a-b.c_d~");
    }
}
