//! Azure: the credential chain (`credentials`: a service principal's secret, then managed
//! identity), the bearer-token, paced ARM client (`client`), and the calls `nodes.scale` makes
//! on scale sets and AKS agent pools, following their asynchronous operations (`groups`), and
//! the control plane's security rules, AKS authorized ranges and API server addresses (`network`).

pub mod client;
pub mod credentials;
pub mod discover;
pub mod groups;
pub mod network;

pub use client::{Azure, AzureConfig, AzureError};
