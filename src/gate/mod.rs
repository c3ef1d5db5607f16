//! The CI gate: `(baseline, current) + policy → GateOutcome → exit code`.
//!
//! A **baseline** ([`baseline::Baseline`], `boundcheck baseline`) holds N
//! timed runs of a command (wall, CPU and peak memory of the whole tree, as
//! `rerun/measure.rs` measures every run), the report of one profiled run
//! (its verdict), the host facts and the command. `boundcheck check` measures
//! the current program the same way, or reads a second file, and
//! [`decide::decide`] applies the [`Policy`], purely:
//!
//! - **verdict**: the diagnosis changed class (e.g. `cpu-parallel` →
//!   `gil-contended`). A verdict with confidence below
//!   [`decide::VERDICT_MIN_CONFIDENCE`] on either side is too unsure to fail a
//!   build on: the check is then *not tested* and says why.
//! - **wall-time**, **cpu-time**: the current runs are slower than the
//!   baseline's by more than `--max-regression` (default 10 %) *with
//!   significance*: the one-sided exact Mann-Whitney test of `rerun/stats.rs`
//!   rejects "current ≤ baseline × (1 + limit)" at p ≤ 0.05. A median 12 %
//!   slower on noisy runs is reported but passes; a regression never rests on
//!   medians alone.
//! - **cpu-efficiency** (CPU time ÷ (wall × CPUs available), per run): drops
//!   by more than `--max-efficiency-drop` points, with the same test.
//! - **peak-memory**: grows by more than `--max-memory-growth` (default 20 %),
//!   with the same test.
//!
//! Exit status is a contract: 0 within policy, 1 a policy failed, 2 the gate
//! could not decide (missing, corrupt or newer-schema file, the command
//! failed, or the host differs under `--require-same-host`). A policy that
//! cannot be tested (too few runs for significance, a low-confidence verdict)
//! never fails the gate; it is shown as *not tested* with the reason.

pub mod baseline;
pub mod decide;
pub mod diff;
pub mod render;

/// `check` exit status when every policy holds.
pub const EXIT_PASS: i32 = 0;
/// `check` exit status when a policy failed: a regression.
pub const EXIT_REGRESSION: i32 = 1;
/// `check` exit status when the gate could not decide.
pub const EXIT_ERROR: i32 = 2;

pub use crate::spec::{BaselineSpec, CheckSpec, Current, Policy};

/// How one policy came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    /// A regression: the gate fails (exit 1).
    Fail,
    /// The data cannot tell (too few runs, an unsure verdict): never fails the gate.
    NotTested,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::NotTested => "not tested",
        }
    }
}

/// One policy applied to the two sides.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyCheck {
    /// Stable name: `verdict`, `wall-time`, `cpu-time`, `cpu-efficiency`, `peak-memory`.
    pub name: &'static str,
    pub status: Status,
    /// The baseline's figure as shown, e.g. `1.002 s` or `cpu-serial (0.91)`.
    pub baseline: String,
    /// The current figure as shown.
    pub current: String,
    /// What changed and by how much, e.g. `+30.2 %`, `-12 points`, `changed`.
    pub change: String,
    /// The policy's limit as shown, e.g. `+10 %`.
    pub limit: String,
    /// One-sided Mann-Whitney p-value that the change goes beyond the limit
    /// (small = confident it does); `None` for the verdict or when untestable.
    pub p_value: Option<f64>,
    /// One sentence: what was found and why it passes, fails or was not tested.
    pub detail: String,
}

/// Everything `check` decided, for the renderers and the exit code.
#[derive(Debug, Clone, PartialEq)]
pub struct GateOutcome {
    /// The current command (argv).
    pub command: Vec<String>,
    /// Where the baseline came from (a path).
    pub baseline_source: String,
    /// Where the current measurement came from (a path, or `this run`).
    pub current_source: String,
    /// Timed runs on each side.
    pub baseline_runs: usize,
    pub current_runs: usize,
    /// One entry per policy, in a fixed order.
    pub checks: Vec<PolicyCheck>,
    /// Host facts that differ (`CPU model: A → B`); empty when the same.
    pub host_differences: Vec<String>,
    /// Whether a host difference is an error (`--require-same-host`).
    pub require_same_host: bool,
    /// Things a reader should know that do not decide the outcome.
    pub warnings: Vec<String>,
}

impl GateOutcome {
    pub fn failures(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .count()
    }

    /// The host differs and `--require-same-host` makes that an error.
    pub fn host_error(&self) -> bool {
        self.require_same_host && !self.host_differences.is_empty()
    }

    /// 0 within policy, 1 regression, 2 could not compare.
    pub fn exit_code(&self) -> i32 {
        if self.host_error() {
            EXIT_ERROR
        } else if self.failures() > 0 {
            EXIT_REGRESSION
        } else {
            EXIT_PASS
        }
    }
}
