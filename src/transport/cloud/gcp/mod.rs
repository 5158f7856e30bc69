//! GCP: the credential chain in Application Default Credentials order (`credentials`), the
//! bearer-token, paced client (`client`), and the calls `nodes.scale` makes on managed instance
//! groups and GKE node pools, following their Operations (`groups`).

pub mod client;
pub mod credentials;
pub mod discover;
pub mod groups;

pub use client::{Api, Gcp, GcpConfig, GcpError};
