//! Plain settings, one type per subcommand: what the command line means,
//! free of clap. This room imports nothing from the rest of the crate: every
//! room below may read its settings from here, and `cli/` fills them once.
//!
//! A profiled run's settings come in the groups the command line shows
//! (target, sampling, comparative re-runs, output), so a subcommand that has
//! no re-runs has no re-run fields to fill with dummy values.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// One boundcheck invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `boundcheck [OPTIONS] -- COMMAND`, `--workload`, `--attach`.
    Profile(ProfileSpec),
    /// `boundcheck replay TIMELINE`: re-diagnose a recorded timeline.
    Replay(ReplaySpec),
    /// `boundcheck report DIR`: render a recorded run again.
    Report(ReportSpec),
    /// `boundcheck bench`.
    Bench(BenchSpec),
    /// `boundcheck baseline`.
    Baseline(BaselineSpec),
    /// `boundcheck check`.
    Check(CheckSpec),
    /// A native workload in this process (the bench's native cells).
    NativeWorkload(WorkloadSpec),
    /// `boundcheck completions` / `man`: bytes made from the command line's
    /// definitions, printed on stdout as they are.
    Print(Vec<u8>),
}

/// What to profile.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Launch this argv.
    Command(Vec<OsString>),
    /// Launch a built-in workload.
    Workload(WorkloadSpec),
    /// Sample a running process.
    Attach { pid: i32 },
}

/// Which built-in workload to run and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadSpec {
    pub name: String,
    pub strategy: String,
    /// 0 means one per CPU.
    pub workers: usize,
    pub size: String,
    pub python: PathBuf,
}

impl WorkloadSpec {
    /// `cpu/threads/2/med`, the label in reports.
    pub fn label(&self) -> String {
        let workers = self.resolved_workers();
        format!("{}/{}/{}/{}", self.name, self.strategy, workers, self.size)
    }

    /// The workers that will run at once: 0 resolved to one per usable CPU,
    /// and 1 for `sequential` (as the runner reports it). Resolved here, not
    /// by the runner, so the command a report shows says what ran, never
    /// `--workers 0`.
    pub fn resolved_workers(&self) -> usize {
        match (self.strategy.as_str(), self.workers) {
            ("sequential", _) => 1,
            (_, 0) => std::thread::available_parallelism().map_or(1, |n| n.get()),
            (_, n) => n,
        }
    }
}

/// Settings of one profiled run.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileSpec {
    pub target: Target,
    /// Stop sampling after this long (attach mode; the target keeps running).
    pub duration: Option<Duration>,
    /// Stop a launched target after this long (SIGTERM to its tree, SIGKILL
    /// after a grace period); boundcheck then exits 124.
    pub timeout: Option<Duration>,
    pub sampling: SamplingSpec,
    pub rerun: RerunSpec,
    pub output: OutputSpec,
}

/// Samples per second unless `--rate` says otherwise (also the gate's profiled run).
pub const DEFAULT_RATE_HZ: f64 = 100.0;

/// How the live sampler reads the target.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingSpec {
    /// Samples per second (> 0).
    pub rate_hz: f64,
    /// Read Python stacks and GIL ownership (`--no-stacks` turns it off).
    pub stacks: bool,
    /// Sample native call chains under Python too (`--native`).
    pub native: bool,
}

impl Default for SamplingSpec {
    /// `--rate 100`, Python stacks on, native stacks only for non-Python programs.
    fn default() -> SamplingSpec {
        SamplingSpec {
            rate_hz: DEFAULT_RATE_HZ,
            stacks: true,
            native: false,
        }
    }
}

/// Comparative re-runs after the diagnosis.
#[derive(Debug, Clone, PartialEq)]
pub struct RerunSpec {
    /// Whether to re-run at all (`--no-rerun` turns it off).
    pub enabled: bool,
    /// Runs of each experiment.
    pub runs: usize,
    /// Cap on the total time of the re-runs.
    pub budget: Option<Duration>,
    /// `--vary key=v1,v2`: axes of a grid filled into the command's `{key}`s
    /// (the profiled run takes the grid's first point).
    pub vary: Vec<(String, Vec<String>)>,
    /// Interpreter for re-runs of a Python command.
    pub python: Option<PathBuf>,
    /// A free-threaded interpreter for the free-threaded experiment.
    pub python_ft: Option<PathBuf>,
    /// `--cluster ADDRESS` (else `RAY_ADDRESS`, `DASK_SCHEDULER_ADDRESS`):
    /// an existing Ray cluster or Dask scheduler for the engine experiment;
    /// `None`: a local cluster is started for it.
    pub cluster: Option<String>,
}

impl RerunSpec {
    /// No re-runs (the gate's profiled run: the gate times its own runs).
    pub fn off() -> RerunSpec {
        RerunSpec {
            enabled: false,
            runs: 0,
            budget: None,
            vary: Vec::new(),
            python: None,
            python_ft: None,
            cluster: None,
        }
    }
}

/// Where a run's results go and how they are shown.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSpec {
    /// Where report.json, report.html, timeline.json and the flamegraphs go.
    pub out_dir: PathBuf,
    /// Print the report JSON to stdout instead of the summary.
    pub json: bool,
    /// Replace the report of an earlier run in `out_dir` instead of writing
    /// to a new numbered directory beside it.
    pub force: bool,
    /// No progress line.
    pub quiet: bool,
    /// Extra files to write into `out_dir` (`--format` words of the registry
    /// in `report/format.rs`): markdown and the exports.
    pub exports: Vec<String>,
    /// Append a markdown summary to `$GITHUB_STEP_SUMMARY` when it is set
    /// (off for the gate's profiled run: the gate writes its own).
    pub step_summary: bool,
}

/// `boundcheck replay TIMELINE`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplaySpec {
    /// A timeline.json written by an earlier run.
    pub timeline: PathBuf,
    pub output: OutputSpec,
}

/// `boundcheck bench`: what to benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchSpec {
    pub workloads: Vec<String>,
    pub strategies: Vec<String>,
    /// 0 = one per CPU.
    pub workers: usize,
    pub sizes: Vec<String>,
    pub runs: usize,
    pub quick: bool,
    pub python: PathBuf,
    /// `--python-ft`, else found on PATH.
    pub python_ft: Option<PathBuf>,
    pub out_dir: PathBuf,
    /// Print bench.json on stdout instead of the tables.
    pub json: bool,
    /// Replace an earlier bench's results in `out_dir`.
    pub force: bool,
    pub quiet: bool,
}

/// `boundcheck baseline` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineSpec {
    pub command: Vec<OsString>,
    /// Timed runs (1–30).
    pub runs: usize,
    /// The baseline file to write.
    pub out: PathBuf,
    /// Where the profiled run's report.json and timeline.json go.
    pub report_dir: PathBuf,
    /// Replace an earlier run's report in `report_dir` (`--force`).
    pub force: bool,
    pub quiet: bool,
}

/// What `check` compares the baseline with.
#[derive(Debug, Clone, PartialEq)]
pub enum Current {
    /// A baseline file or a report.json.
    File(PathBuf),
    /// Measure this command now.
    Command(Vec<OsString>),
}

/// `boundcheck check` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSpec {
    /// A baseline file or a report.json.
    pub baseline: PathBuf,
    pub current: Current,
    /// Timed runs of the current command (default: as many as the baseline has, at least 3).
    pub runs: Option<usize>,
    pub policy: Policy,
    /// Write JUnit XML here.
    pub junit: Option<PathBuf>,
    /// Also write the current measurement as a baseline file here.
    pub save: Option<PathBuf>,
    /// Where the current profiled run's report.json and timeline.json go.
    pub report_dir: PathBuf,
    /// Replace an earlier run's report in `report_dir` (`--force`).
    pub force: bool,
    pub quiet: bool,
}

/// The limits a change must stay within (`check`).
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Largest allowed slowdown of wall and CPU time, a fraction (0.10 = 10 %).
    pub max_regression: f64,
    /// Largest allowed drop of CPU efficiency, in fractions of the available
    /// CPUs (0.10 = 10 percentage points).
    pub max_efficiency_drop: f64,
    /// Largest allowed growth of peak memory, a fraction (0.20 = 20 %).
    pub max_memory_growth: f64,
    /// A different host (CPU model, CPU count) is an error, not a warning.
    pub require_same_host: bool,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            max_regression: 0.10,
            max_efficiency_drop: 0.10,
            max_memory_growth: 0.20,
            require_same_host: false,
        }
    }
}

/// Where `boundcheck report` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// The format's own default: `DIR/report.html` for html, stdout otherwise.
    Default,
    /// `--output -`.
    Stdout,
    /// `--output FILE`.
    File(PathBuf),
}

/// `boundcheck report DIR --format F [--output FILE]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSpec {
    /// A run's output directory (or its report.json).
    pub dir: PathBuf,
    /// A `--format` word of the registry in `report/format.rs` (checked by
    /// the command line; settings keep the word so this room imports nothing).
    pub format: String,
    pub output: Destination,
}
