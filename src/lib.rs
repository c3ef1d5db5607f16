//! boundcheck: what bounds my program, and which way of running it in
//! parallel would really help?
//!
//! The pipeline flows one way (`docs/architecture.md`: the rooms, the flow, where a new line goes):
//! `target` launches → `sample` reads the tree into a [`timeline::Timeline`]
//! → `diagnose` decides → `rerun` measures alternatives → `report` renders; `gate` compares a
//! baseline with a candidate for CI. Live OS code sits behind
//! `cfg(target_os = "linux")` in `target/` and `sample/`'s `live`/`perf`.

pub mod bench;
pub mod cli;
pub mod commands;
pub mod diagnose;
pub mod error;
pub mod gate;
pub mod progress;
pub mod report;
pub mod rerun;
pub mod sample;
pub mod spec;
#[cfg(target_os = "linux")]
pub mod target;
pub mod timeline;
pub mod workloads;

pub use commands::{Outcome, run};
pub use error::Error;
