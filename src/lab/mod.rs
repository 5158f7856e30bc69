//! The incident lab: real `sshd` processes (and, for node-level actions, network namespaces)
//! that the tests and `drill --lab` run breakglass against. It kills only what it started.

pub mod apiserver;
pub mod etcd;
pub mod moto;
pub mod netns;
pub mod pki;
pub mod sshd;
pub mod stub;
