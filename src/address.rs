//! Which IP addresses and networks breakglass accepts, in one place, so the inventory, the
//! allowlists of a firewall step and API or etcd endpoints agree (issue #11, point 10).
//!
//! Two rules. An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, RFC 4291 section 2.5.5.2) is the
//! IPv4 address it maps: the inventory's duplicate check must see one host, and an allowlist
//! entry written that way must land in the IPv4 set that IPv4 packets are matched against, not
//! in the IPv6 one where it would allow nothing. And an address a host has, or a peer connects
//! from, is unicast: `0.0.0.0` and `::` (unspecified), `255.255.255.255` (limited broadcast) and
//! multicast addresses are never one, so a file or parameter naming them is a mistake.
//!
//! Leaf module: text and `std::net` only; it never resolves or connects.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};

/// `ip`, with an IPv4-mapped IPv6 address turned into its IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// `net`, with an IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) turned into its IPv4 network
/// (`10.0.0.0/8`), and host bits cleared.
pub fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && v6.prefix_len() >= 96
        && let Ok(mapped) = Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(mapped.trunc());
    }
    net.trunc()
}

/// Why `ip` cannot be a host's address or a peer's source, if it cannot.
pub fn non_unicast(ip: IpAddr) -> Option<&'static str> {
    let ip = canonical(ip);
    if ip.is_unspecified() {
        Some("the unspecified address (it names no host)")
    } else if ip.is_multicast() {
        Some("a multicast address (a group, not a host)")
    } else if matches!(ip, IpAddr::V4(v4) if v4.is_broadcast()) {
        Some("the broadcast address (every host of the link, not one)")
    } else {
        None
    }
}

/// `ip` in canonical form if it is a unicast address a host can have; else what it is instead.
pub fn host_address(ip: IpAddr) -> Result<IpAddr, String> {
    match non_unicast(ip) {
        None => Ok(canonical(ip)),
        Some(what) => Err(format!(
            "{ip} is {what}; expected a unicast address of one host"
        )),
    }
}

/// `net` in canonical form if it can hold a peer's source address: a single address must be
/// unicast, and a network may not lie within multicast or start at the unspecified address
/// unless it is the whole space (`0.0.0.0/0`, which callers refuse or allow on their own).
pub fn source_network(net: IpNet) -> Result<IpNet, String> {
    let net = canonical_net(net);
    let addr = net.addr();
    let single = net.prefix_len() == net.max_prefix_len();
    if single {
        return host_address(addr).map(IpNet::from);
    }
    if addr.is_multicast() {
        return Err(format!(
            "{net} is a multicast range; expected networks that hosts connect from"
        ));
    }
    if addr.is_unspecified() && net.prefix_len() > 0 {
        return Err(format!(
            "{net} is the \"this network\" range (RFC 1122), which no peer connects from; expected a network such as 10.0.0.0/8"
        ));
    }
    Ok(net)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    #[test]
    fn mapped_addresses_become_ipv4() {
        assert_eq!(canonical(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
        assert_eq!(canonical(ip("fd00::1")), ip("fd00::1"));
        assert_eq!(canonical_net(net("::ffff:10.0.0.0/104")), net("10.0.0.0/8"));
        assert_eq!(
            canonical_net(net("::ffff:10.1.2.3/128")),
            net("10.1.2.3/32")
        );
        // A prefix shorter than the mapped block is not one IPv4 network: left as it is.
        assert_eq!(
            canonical_net(net("::ffff:0.0.0.0/95")),
            net("::fffe:0.0.0.0/95")
        );
        assert_eq!(canonical_net(net("10.1.2.3/8")), net("10.0.0.0/8"));
    }

    #[test]
    fn only_unicast_hosts_and_sources() {
        for bad in [
            "0.0.0.0",
            "::",
            "255.255.255.255",
            "224.0.0.1",
            "ff02::1",
            "::ffff:0.0.0.0",
        ] {
            let e = host_address(ip(bad)).unwrap_err();
            assert!(e.contains("expected a unicast address"), "{bad}: {e}");
            assert!(source_network(IpNet::from(ip(bad))).is_err(), "{bad}");
        }
        assert_eq!(
            host_address(ip("::ffff:192.0.2.7")).unwrap(),
            ip("192.0.2.7")
        );
        for bad in ["224.0.0.0/4", "ff00::/8", "0.0.0.0/8"] {
            assert!(source_network(net(bad)).is_err(), "{bad}");
        }
        for good in [
            "0.0.0.0/0",
            "::/0",
            "10.0.0.0/8",
            "192.0.2.7/32",
            "fd00::/64",
        ] {
            assert_eq!(source_network(net(good)).unwrap(), net(good), "{good}");
        }
    }
}
