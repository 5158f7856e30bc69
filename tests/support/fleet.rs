//! A loopback fleet for tests: real sshd processes (src/lab/sshd.rs) serving many 127.x
//! addresses, a `known_hosts` file trusting them, and an inventory naming them.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use breakglass::lab::sshd::{Sshd, SshdLab};

use super::{Bg, Scratch};

pub struct Fleet {
    pub scratch: Scratch,
    pub lab: SshdLab,
    pub sshd: Sshd,
    pub known_hosts: PathBuf,
    pub inventory: PathBuf,
}

/// `n` addresses starting at 127.`a`.`b`.1, walking the last two octets.
pub fn addrs(a: u8, b: u8, n: usize) -> Vec<IpAddr> {
    (0..n)
        .map(|i| {
            let idx = usize::from(b) * 250 + i;
            let third = u8::try_from(idx / 250).expect("octet");
            let fourth = u8::try_from(idx % 250 + 1).expect("octet");
            IpAddr::V4(Ipv4Addr::new(127, a, third, fourth))
        })
        .collect()
}

impl Fleet {
    /// `n` hosts named node001.. on distinct loopback addresses in 127.`a`.x.y.
    pub fn new(a: u8, n: usize) -> Fleet {
        let scratch = Scratch::new();
        let lab = SshdLab::new().expect("sshd lab (apt-get install openssh-server)");
        let addrs = addrs(a, 0, n);
        let sshd = lab.start(&addrs).expect("start sshd");
        let known_hosts = scratch.path().join("known_hosts");
        lab.write_known_hosts(&known_hosts, &addrs, sshd.port())
            .expect("known_hosts");
        let mut fleet = Fleet {
            scratch,
            lab,
            sshd,
            known_hosts,
            inventory: PathBuf::new(),
        };
        fleet.inventory = fleet.write_inventory("fleet.toml", "");
        fleet
    }

    /// Writes an inventory with the fleet's hosts (all of cluster `lab`), plus `extra` TOML
    /// appended.
    pub fn write_inventory(&self, name: &str, extra: &str) -> PathBuf {
        let mut text = format!(
            "[defaults]\nuser = \"{}\"\nport = {}\nidentity_files = [\"{}\"]\nknown_hosts = \"{}\"\nconnect_timeout = \"5s\"\ncommand_timeout = \"20s\"\n\n[clusters.lab]\n\n",
            self.lab.user(),
            self.sshd.port(),
            self.lab.client_key().display(),
            self.known_hosts.display()
        );
        let width = self.sshd.addrs().len().to_string().len().max(3);
        for (i, addr) in self.sshd.addrs().iter().enumerate() {
            let _ = writeln!(
                text,
                "[[hosts]]\nname = \"node{:0width$}\"\naddress = \"{addr}\"\ncluster = \"lab\"\nlabels = {{ role = \"{}\" }}\n",
                i + 1,
                if i == 0 { "control-plane" } else { "worker" }
            );
        }
        text.push_str(extra);
        self.scratch.write(name, &text)
    }

    /// breakglass with this fleet's inventory, no agent.
    pub fn bg(&self) -> Bg {
        self.scratch
            .bg()
            .arg("-i")
            .arg(&self.inventory)
            .env("BREAKGLASS_NO_AGENT", "true")
    }
}
