//! AWS: the credential chain (`credentials`), the signed, paced client (`client`), the Query
//! protocol's XML (`xml`), and the calls the actions make: Auto Scaling groups
//! (`autoscaling`) and EKS managed node groups (`eks`).

pub mod autoscaling;
pub mod client;
pub mod credentials;
pub mod eks;
pub mod xml;

pub use client::{Aws, AwsConfig, AwsError, Service};
#[cfg(test)]
mod tests;
