//! Transports: how breakglass reaches a target without the broken control plane. They never
//! prompt and never print; every outcome is returned as data for the engine to judge.

pub mod cloud;
pub mod etcd;
pub mod https;
pub mod kube;
pub mod rate;
pub mod ssh;

pub use rate::RateLimiter;
