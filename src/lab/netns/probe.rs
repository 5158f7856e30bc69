//! [`Probe`]: whether a TCP connection from a node's namespace (or from the operator side) gets
//! through, for tests of what a firewall lets pass. It connects and reports; it sends no data.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, bail};

use super::Lab;
use super::shell::output_within;

/// What a TCP connection attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The three-way handshake completed.
    Connected,
    /// A RST came back (nothing listening, or `reject with tcp reset`).
    Refused,
    /// Nothing came back in time (packets dropped).
    TimedOut,
    /// The kernel gave up at once or reported another error (no route, host unreachable).
    Unreachable(String),
}

impl Lab {
    /// Tries a TCP connection to `to` from `from_node`'s namespace, or from the root namespace
    /// (the operator address) when `None`.
    pub fn tcp_probe(
        &self,
        from_node: Option<&str>,
        to: SocketAddr,
        timeout: Duration,
    ) -> anyhow::Result<Probe> {
        let Some(node) = from_node else {
            return Ok(match TcpStream::connect_timeout(&to, timeout) {
                Ok(_) => Probe::Connected,
                Err(e) => match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => Probe::Refused,
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                        Probe::TimedOut
                    }
                    _ => Probe::Unreachable(e.to_string()),
                },
            });
        };
        let mut cmd = self.node_command(node, "/usr/local/bin/breakglass-lab-net")?;
        cmd.args(["probe", &to.ip().to_string(), &to.port().to_string()])
            .arg(format!("{:.3}", timeout.as_secs_f64()));
        let out = output_within(&mut cmd, timeout + Duration::from_secs(10), &self.tools)
            .with_context(|| format!("probing {to} from lab node {node}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.trim();
        Ok(match line {
            "connected" => Probe::Connected,
            "refused" => Probe::Refused,
            "timeout" => Probe::TimedOut,
            _ => match line.strip_prefix("unreachable ") {
                Some(reason) => Probe::Unreachable(reason.to_owned()),
                None => bail!(
                    "the probe on {node} printed {line:?}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            },
        })
    }
}
