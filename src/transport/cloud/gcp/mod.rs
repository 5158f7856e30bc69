//! GCP: the credential chain in Application Default Credentials order (`credentials`), the
//! bearer-token, paced client (`client`), and the calls `nodes.scale` makes on managed instance
//! groups and GKE node pools, following their Operations (`groups`), and the control plane's
//! VPC firewall rules, GKE authorized networks and API server instances (`firewall`).

pub mod client;
pub mod credentials;
pub mod discover;
pub mod firewall;
pub mod groups;

pub use client::{Api, Gcp, GcpConfig, GcpError};
