//! `boundcheck bench`: every workload × strategy × size, measured the same
//! trustworthy way as the re-runs (interleaved runs, medians and ranges,
//! CPU time and peak memory of the whole process tree, not the parent alone),
//! each cell diagnosed by boundcheck itself. The door type is [`BenchReport`].
//!
//! Native cells run the same computation in Rust, in a child process (a
//! hidden `boundcheck native-workload` command), so they are measured exactly
//! like the Python ones.

pub mod metrics;

use crate::timeline::Host;
use serde::{Deserialize, Serialize};

/// Shape version of `bench.json`.
pub const BENCH_SCHEMA_VERSION: &str = "1.0";

/// Strategies a bench can run, a public contract.
pub const BENCH_STRATEGIES: [&str; 13] = [
    "sequential",
    "threads",
    "processes",
    "asyncio",
    "interpreters",
    "free-threaded",
    "native-serial",
    "native-parallel",
    "native-simd",
    "numba",
    "shared-memory",
    "ray",
    "dask",
];

/// Strategies a bench runs only when `--strategies` names them: each run
/// of theirs starts and stops a local cluster (seconds of start-up, several
/// processes), too much for the default table on a small machine.
pub const ON_REQUEST_STRATEGIES: [&str; 2] = ["ray", "dask"];

pub use crate::spec::BenchSpec;

/// Everything a bench measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    /// Always `"boundcheck-bench"`.
    pub format: String,
    pub schema_version: String,
    pub started_at: String,
    pub host: Host,
    /// CPUs boundcheck may use: the ideal parallel speedup.
    pub cores: usize,
    /// Runs per cell.
    pub runs: usize,
    pub quick: bool,
    /// The interpreters used, by role (`python`, `python-3.14`, `free-threaded`), with versions.
    pub interpreters: Vec<Interpreter>,
    pub cells: Vec<Cell>,
    /// Physics and noise warnings.
    pub warnings: Vec<String>,
}

/// An interpreter a bench used.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interpreter {
    pub role: String,
    pub path: String,
    pub version: String,
}

/// How a cell came out; the JSON spellings are a contract of `bench.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CellStatus {
    /// Timed runs were made.
    Measured,
    /// The strategy does not apply to this workload (the runner said so).
    NotApplicable,
    /// Something it needs is missing here (e.g. no Python 3.14).
    NotAvailable,
    /// A run failed or produced nothing.
    Failed,
    /// Interrupted before it ran.
    Skipped,
}

impl CellStatus {
    /// The `bench.json` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CellStatus::Measured => "measured",
            CellStatus::NotApplicable => "not-applicable",
            CellStatus::NotAvailable => "not-available",
            CellStatus::Failed => "failed",
            CellStatus::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for CellStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One workload × strategy × size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    pub workload: String,
    pub strategy: String,
    pub size: String,
    /// Workers asked for (sequential/asyncio/native-serial use one).
    pub workers: usize,
    /// `measured`, `not-applicable`, `not-available` (e.g. no Python 3.14),
    /// `failed`, `skipped` (Ctrl-C before it ran).
    pub status: CellStatus,
    /// Why the cell was not measured, or how it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Which interpreter ran it (absent for native cells).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
    pub runs: Vec<CellRun>,
    /// Median, min and max wall time, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_s: Option<f64>,
    /// Median CPU time of the whole tree, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_s: Option<f64>,
    /// Tasks per second (median wall).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput_per_s: Option<f64>,
    /// Largest peak memory of the whole tree over the runs, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    /// CPU time ÷ (wall × workers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_efficiency: Option<f64>,
    /// Python sequential ÷ this (same workload and size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speedup: Option<f64>,
    /// Its own serial counterpart ÷ this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_speedup: Option<f64>,
    /// Parallel speedup ÷ min(workers, cores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efficiency: Option<f64>,
    /// boundcheck's verdict for this cell (the most frequent over its runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// Physics warning, if the figures need one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// A ray or dask cell: median seconds of its runs spent starting the
    /// local cluster, included in `median_s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_startup_s: Option<f64>,
}

/// One run of a cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellRun {
    pub wall_s: f64,
    pub cpu_s: f64,
    pub peak_rss_bytes: u64,
    pub exit_status: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// A ray or dask cell: seconds its local cluster took to start, inside
    /// `wall_s` (what a user pays once per job) but printed apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_startup_s: Option<f64>,
}

pub mod engines;
#[cfg(target_os = "linux")]
mod run;
#[cfg(target_os = "linux")]
pub use run::run_bench;
