//! The one integration test binary: drives the built `breakglass` against real servers
//! (OpenSSH `sshd` started per test, nftables in network namespaces the test creates, etcd,
//! `moto_server` for AWS).
//! A missing prerequisite fails the test; nothing here skips.

mod support;

mod actions;
mod aws;
mod azure;
mod cli;
mod drill;
mod etcd;
mod exec;
mod firewall;
mod gcp;
mod health;
mod inventory;
mod journal;
mod kube;
mod lab;
mod logins;
mod progress;
mod runbook;
mod sudo;
