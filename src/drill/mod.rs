//! Drills: a runbook rehearsed with its effect measured. `lab.rs` builds the reference
//! incident on this machine, injects it, runs the runbook, waits for recovery, undoes and
//! checks the fleet is back; `sampler.rs` samples health throughout; `timeline.rs` reads the
//! run's steps back from its journal; `expect.rs` judges `--expect`; `report.rs` writes
//! `report.html`, `report.md` and `report.json` from the record (`model.rs`).

pub mod common;
pub mod expect;
pub mod lab;
pub mod model;
pub mod report;
pub mod sampler;
pub mod staging;
pub mod timeline;
