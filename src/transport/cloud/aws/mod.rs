//! AWS: the credential chain (`credentials`), the signed, paced client (`client`), the Query
//! protocol's XML (`xml`), and the calls the actions make: Auto Scaling groups
//! (`autoscaling`), security groups and instances (`ec2`), EKS clusters, their updates and
//! managed node groups (`eks`).

pub mod autoscaling;
pub mod client;
pub mod credentials;
pub mod discover;
pub mod ec2;
pub mod eks;
pub mod xml;

pub use client::{Aws, AwsConfig, AwsError, Service};
#[cfg(test)]
mod tests;
