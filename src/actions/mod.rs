//! Actions: what a runbook step does to its targets.
//!
//! `args` holds the typed arguments of every action kind (a step's `with` table); they are the
//! runbook reference. The implementations (plan, snapshot, apply, verify, inverse) live in one
//! file per kind next to it.

pub mod args;
