//! Cloud provider APIs, the reach for managed node groups and control planes that have no host
//! to SSH into. One folder per provider (`aws`, `gcp`, `azure`; issue #9), each
//! owning its credential chain (following the provider's own CLI, in its documented order),
//! request signing, and the calls the actions need.
//!
//! Like every transport, a cloud client never prompts and never prints; it is paced (the run's
//! rate limiter, a request budget, a few requests in flight, throttling answered with jittered
//! backoff and `Retry-After`) and bound by deadlines. Secrets never reach an error, the journal
//! or the output: they live in a redacting type and only the signer reads them.

pub mod aws;
pub mod azure;
pub mod gcp;
pub mod jwt;
pub mod rest;
