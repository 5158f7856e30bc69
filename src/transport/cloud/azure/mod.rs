//! Azure: the credential chain (`credentials`: a service principal's secret, then managed
//! identity), the bearer-token, paced ARM client (`client`), and the calls `nodes.scale` makes
//! on scale sets and AKS agent pools, following their asynchronous operations (`groups`).

pub mod client;
pub mod credentials;
pub mod discover;
pub mod groups;

pub use client::{Azure, AzureConfig, AzureError};
