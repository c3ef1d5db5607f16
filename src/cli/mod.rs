//! The command line. clap types stay in this room: [`Cli::into_command`]
//! (in `convert.rs`) converts them once into plain [`crate::spec::Command`]
//! settings. A flag shared by several subcommands is declared once, in an
//! argument group flattened where it applies.

mod convert;
pub mod generate;
mod hint;
mod parse;

pub use hint::parse_args;

use crate::workloads::{STRATEGIES, WORKLOADS};
use clap::{Args, Parser, Subcommand};
use parse::{parse_percent, parse_rate, parse_timeout, parse_vary};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

const AFTER_HELP: &str = "\
Examples:
  boundcheck -- python3 app.py --flag          run app.py, sample it, say what bounds it
  boundcheck --workload cpu --strategy threads  the same on a built-in workload
  boundcheck --attach 4242 --duration 10s      sample a running process for 10 s
  boundcheck --json -- ./server > report.json  the report as JSON on stdout
  boundcheck replay boundcheck-report/timeline.json   re-diagnose a recorded run
  boundcheck report boundcheck-report          write boundcheck-report/report.html again
  boundcheck report boundcheck-report --format markdown   the PR-comment summary on stdout
  boundcheck --vary workers=1,2,4 -- python3 app.py --workers {workers}   measure a grid
  boundcheck --cluster 127.0.0.1:6379 -- python3 app.py   its pools measured on an existing Ray cluster
  boundcheck baseline -- python3 app.py        record a baseline for CI (5 timed runs)
  boundcheck check --baseline boundcheck-baseline.json --junit gate.xml -- python3 app.py
                                               fail (exit 1) on a significant regression

Python programs: every thread's Python stack and GIL ownership are read (py-spy,
never pausing the target), so the verdict names the code (diagnosis.site) and
DIR gets cpu.svg (on-CPU by stack) and wall.svg (every thread's time, leaves
coloured by state: gil-wait, lock-wait, disk-wait, net-wait, sleep) with their
.folded stacks. Other programs get native stacks from perf; --native adds them
for Python too. Every run also writes DIR/report.html: one self-contained page
(verdict, evidence, per-core and per-thread charts over time, flamegraphs,
re-runs, host facts) to attach to a ticket; it needs no network to open.

After the diagnosis, boundcheck re-runs the program (--runs times, interleaved)
with the alternatives the verdict suggests: pinned to one CPU (how parallel is
it really?), thread pools swapped for process pools or 3.14 interpreter pools
without code changes, more threads for I/O, bigger chunks for tiny tasks, and
for CPU-bound work Ray and Dask on a local cluster started for the experiment
(or --cluster), when the program's interpreter has them installed
(pip install ray 'dask[distributed]'). It
recommends one strategy (recommendation.strategy: keep, threads, asyncio,
processes, interpreters, free-threaded, native, batch, shrink-lock, offload,
ray, dask, shared-memory) only on a significant measured win. --no-rerun skips this.

Verdicts (diagnosis.verdict in report.json):
  cpu-serial, cpu-parallel, gil-contended, lock-contended, io-disk, io-network,
  memory-bound, idle, event-loop-blocked, pool-overhead, mixed

Exit status of `check`: 0 within policy, 1 a regression, 2 it could not compare.
Exit status otherwise: the target's own (128+N if killed by signal N); 2 when boundcheck
itself fails (bad arguments, unwritable output); 127 / 126 when the command is
not found / not executable; 130 when Ctrl-C stopped the re-runs; 124 when
--timeout stopped the target (whatever it did with SIGTERM).
An --out that already holds a report.json is never overwritten silently: the
files go to DIR-2, DIR-3, … (named on stderr and in report.json's output_dir)
unless --force is given.
The summary goes to stderr so the target's stdout stays yours.";

/// What bounds my program, and which way of running it in parallel would help?
#[derive(Debug, Parser)]
#[command(name = "boundcheck", version, about, after_help = AFTER_HELP, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub subcommand: Option<Sub>,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub python: PythonArgs,

    #[command(flatten)]
    pub sampling: SamplingArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub exports: ExportArgs,

    #[command(flatten)]
    pub quiet: QuietArg,

    #[command(flatten)]
    pub rerun: RerunArgs,

    #[command(flatten)]
    pub command: CommandArg,
}

#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Benchmark every workload × strategy (threads, processes, interpreters,
    /// asyncio, free-threaded, native Rust, numba; Ray and Dask when named)
    /// the trustworthy way: interleaved
    /// runs, medians and ranges, CPU and memory of the whole process tree.
    /// Writes bench.json, bench.md, speedup.svg and efficiency.svg.
    #[command(mut_arg("out", |a| a
        .default_value("boundcheck-bench")
        .help("Directory for bench.json, bench.md and the charts")))]
    #[command(mut_arg("json", |a| a.help("Print bench.json on stdout instead of the tables")))]
    #[command(mut_arg("force", |a| a.help(
        "Replace the results of an earlier bench in --out (otherwise: a new numbered directory)")))]
    Bench(BenchArgs),
    /// Record a baseline for `check`: one profiled run (its verdict), then N
    /// timed runs (wall, CPU, peak memory of the whole tree), with host facts,
    /// in one JSON file.
    #[command(mut_arg("command", |a| a.required(true)))]
    Baseline(BaselineArgs),
    /// Gate CI on performance: compare the program (or a second file) with a
    /// baseline. Exit 0 within policy, 1 on a regression (verdict class,
    /// significant slowdown, efficiency drop, memory growth), 2 on error.
    Check(CheckArgs),
    /// Run a built-in workload in native Rust (used by `bench`).
    #[command(hide = true)]
    NativeWorkload {
        #[arg(long)]
        workload: String,
        #[arg(long)]
        strategy: String,
        #[arg(long, default_value_t = 0)]
        workers: usize,
        #[arg(long, default_value = "med")]
        size: String,
    },
    /// Render a recorded run again from its directory (report.json, and
    /// timeline.json and the flamegraph .svg files when present): html writes
    /// DIR/report.html, a self-contained page (no scripts, nothing fetched);
    /// markdown and json go to stdout. Exit 2 when DIR holds no readable report.
    Report(ReportArgs),
    /// Print a completion script for a shell on stdout, e.g.
    /// `boundcheck completions bash > ~/.local/share/bash-completion/completions/boundcheck`.
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: generate::Shell,
    },
    /// Print the man page (roff) on stdout, e.g.
    /// `boundcheck man > ~/.local/share/man/man1/boundcheck.1`.
    Man,
    /// Re-run diagnosis and reporting on a recorded timeline.json (no process needed).
    Replay {
        /// A timeline.json written by an earlier run.
        timeline: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        exports: ExportArgs,
        #[command(flatten)]
        quiet: QuietArg,
    },
}

/// `-q, --quiet`, wherever there is progress to hide.
#[derive(Debug, Args)]
pub struct QuietArg {
    /// No progress line on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The command to run, after `--` (launched directly, no shell).
#[derive(Debug, Args)]
pub struct CommandArg {
    /// The command to profile or measure, after `--` (launched directly, no shell).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// Where the gate's profiled run writes its files.
#[derive(Debug, Args)]
pub struct ReportDirArg {
    /// Directory for the profiled run's report.json and timeline.json (an
    /// earlier report there is kept: a numbered sibling is used, as for --out).
    #[arg(long, value_name = "DIR", default_value = "boundcheck-report")]
    pub report_dir: PathBuf,

    /// Replace the report of an earlier run in --report-dir instead of
    /// writing to a new numbered directory beside it (DIR-2, DIR-3, …).
    #[arg(long)]
    pub force: bool,
}

/// The interpreters a run, its re-runs or a bench use.
#[derive(Debug, Args)]
#[command(next_help_heading = "Interpreters")]
pub struct PythonArgs {
    /// Python interpreter for workloads, re-runs of a Python command and
    /// bench cells (default: python3 on PATH).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,

    /// A free-threaded Python for the free-threaded experiment or strategy
    /// (default: python3.14t or python3.13t on PATH).
    #[arg(long, value_name = "PATH")]
    pub python_ft: Option<PathBuf>,
}

/// `boundcheck report` options.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run's output directory (its --out, holding report.json), or a report.json.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// What to render.
    #[arg(long, value_name = "FORMAT", default_value = "html", value_parser = clap::builder::PossibleValuesParser::new(crate::report::format::names()))]
    pub format: String,
    /// Write to FILE instead (`-` for stdout). Default: DIR/report.html for
    /// html, DIR/profile.speedscope.json, DIR/profile.pb.gz, DIR/trace.json
    /// for the exports (drawn from DIR/timeline.json), stdout for markdown and json.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `boundcheck bench` options.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Workloads, comma-separated (default: all).
    #[arg(long, value_delimiter = ',', value_name = "LIST", value_parser = clap::builder::PossibleValuesParser::new(WORKLOADS))]
    pub workloads: Vec<String>,
    /// Strategies, comma-separated (default: all but ray and dask, which
    /// start a local cluster for every run: name them to get their cells).
    #[arg(long, value_delimiter = ',', value_name = "LIST", value_parser = clap::builder::PossibleValuesParser::new(crate::bench::BENCH_STRATEGIES))]
    pub strategies: Vec<String>,
    /// Workers for parallel strategies (0 = one per CPU).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub workers: usize,
    /// Sizes, comma-separated (default: med; --quick: low).
    #[arg(long, value_delimiter = ',', value_name = "LIST", value_parser = ["low", "med", "high"])]
    pub size: Vec<String>,
    /// Runs per cell (default 3; --quick: 2).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=30))]
    pub runs: Option<u16>,
    /// Finish in about 2 minutes on 2 cores: size low, 2 runs.
    #[arg(long)]
    pub quick: bool,
    #[command(flatten)]
    pub python: PythonArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub quiet: QuietArg,
}

/// `boundcheck baseline` options.
#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// Timed runs (1–30; with 5 a side, a clear slowdown reaches significance).
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=30))]
    pub runs: u16,
    /// The baseline file to write.
    #[arg(long, value_name = "FILE", default_value = "boundcheck-baseline.json")]
    pub out: PathBuf,
    #[command(flatten)]
    pub report_dir: ReportDirArg,
    #[command(flatten)]
    pub quiet: QuietArg,
    #[command(flatten)]
    pub command: CommandArg,
}

/// `boundcheck check` options.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The baseline: a file from `boundcheck baseline`, or a report.json.
    #[arg(long, value_name = "FILE")]
    pub baseline: PathBuf,
    /// Compare with this file (a baseline or a report.json) instead of running a command.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["command", "runs", "save"])]
    pub current: Option<PathBuf>,
    /// Timed runs of the command (1–30; default: as many as the baseline has, at least 3).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=30))]
    pub runs: Option<u16>,
    /// Largest allowed slowdown of wall or CPU time, e.g. 10% (failing needs significance).
    #[arg(long, value_name = "PCT", default_value = "10%", value_parser = parse_percent)]
    pub max_regression: f64,
    /// Largest allowed drop of CPU efficiency (CPU time ÷ (wall × CPUs)), in percentage points.
    #[arg(long, value_name = "PCT", default_value = "10%", value_parser = parse_percent)]
    pub max_efficiency_drop: f64,
    /// Largest allowed growth of peak memory, e.g. 20%.
    #[arg(long, value_name = "PCT", default_value = "20%", value_parser = parse_percent)]
    pub max_memory_growth: f64,
    /// A different host (CPU model or count) is an error (exit 2), not a warning.
    #[arg(long)]
    pub require_same_host: bool,
    /// Write the outcome as JUnit XML (one test case per policy).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write the current measurement as a baseline file.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    #[command(flatten)]
    pub report_dir: ReportDirArg,
    #[command(flatten)]
    pub quiet: QuietArg,
    #[command(flatten)]
    pub command: CommandArg,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Target")]
pub struct TargetArgs {
    /// Run a built-in Python workload instead of a command.
    #[arg(long, value_name = "NAME", value_parser = clap::builder::PossibleValuesParser::new(WORKLOADS), conflicts_with = "attach")]
    pub workload: Option<String>,

    /// How the workload runs its tasks.
    #[arg(long, value_name = "S", default_value = "sequential", value_parser = clap::builder::PossibleValuesParser::new(STRATEGIES), requires = "workload")]
    pub strategy: String,

    /// Workers for the workload's pool (0 = one per CPU).
    #[arg(long, value_name = "N", default_value_t = 0, requires = "workload")]
    pub workers: usize,

    /// Workload size: about 0.5–1 s (low), 2–4 s (med), 8–15 s (high) sequentially.
    #[arg(long, value_name = "SIZE", default_value = "med", value_parser = ["low", "med", "high"], requires = "workload")]
    pub size: String,

    /// Sample an already-running process (and its children) instead of launching one.
    #[arg(long, value_name = "PID")]
    pub attach: Option<i32>,

    /// Stop sampling after this long, e.g. 10s, 1m (attach mode; the process keeps running).
    #[arg(long, value_name = "TIME", value_parser = humantime::parse_duration, requires = "attach")]
    pub duration: Option<Duration>,

    /// Stop a launched command after this long, e.g. 30s, 5m: SIGTERM to its
    /// whole process tree, SIGKILL 2 s later; the report is written (marked
    /// timed out) and boundcheck exits 124.
    #[arg(long, value_name = "TIME", value_parser = parse_timeout, conflicts_with = "attach")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Sampling")]
pub struct SamplingArgs {
    /// Samples per second (jittered ±10 % against aliasing).
    #[arg(long, value_name = "HZ", default_value_t = crate::spec::DEFAULT_RATE_HZ, value_parser = parse_rate)]
    pub rate: f64,

    /// Do not read Python stacks (py-spy): OS thread states only, the lowest
    /// overhead. Without stacks GIL waits are still told from lock waits by
    /// the futex's address, but no function is named and no flamegraph is drawn.
    #[arg(long)]
    pub no_stacks: bool,

    /// Also sample native (C, Rust, kernel) call stacks of a Python program
    /// with perf events (always on for programs that are not Python), drawn
    /// as native.svg; Python 3.12+ is started with PYTHONPERFSUPPORT=1 so
    /// its functions are named in them.
    #[arg(long)]
    pub native: bool,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Comparative re-runs")]
pub struct RerunArgs {
    /// Skip the comparative re-runs.
    #[arg(long)]
    pub no_rerun: bool,

    /// Runs of each experiment (as-is and every alternative), interleaved (1–30; 3+ for significance).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=30))]
    pub runs: u16,

    /// Cap on the total time of the re-runs, e.g. 90s, 5m.
    #[arg(long, value_name = "TIME", default_value = "3m", value_parser = humantime::parse_duration)]
    pub budget: std::time::Duration,

    /// Re-run a grid: `--vary workers=1,2,4` fills `{workers}` in the command (repeatable).
    #[arg(long, value_name = "KEY=V1,V2", value_parser = parse_vary)]
    pub vary: Vec<(String, Vec<String>)>,

    /// Run the engine experiment on an existing cluster instead of a local
    /// one: a Ray address (HOST:PORT, as `ray start --head --port=6379`
    /// prints it, or ray://HOST:PORT) or a Dask scheduler (tcp://HOST:PORT).
    /// Default: RAY_ADDRESS, then DASK_SCHEDULER_ADDRESS; with none,
    /// CPU-bound Python programs get a `ray` and a `dask` experiment, each on a
    /// local cluster boundcheck starts before the runs (its start-up reported
    /// apart, as engine_startup_s) and stops after them. A program that
    /// connects to the cluster in RAY_ADDRESS / DASK_SCHEDULER_ADDRESS itself
    /// gets that cluster's workers on this machine sampled with it. An
    /// address nothing answers at is an error (exit 2) before the target runs.
    #[arg(long, value_name = "ADDRESS")]
    pub cluster: Option<String>,
}

/// Where results go: shared by a run, a replay and a bench.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Directory for report.json, report.html, timeline.json and the flamegraphs (created if missing).
    #[arg(long, value_name = "DIR", default_value = "boundcheck-report")]
    pub out: PathBuf,

    /// Print the report as JSON on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,

    /// Replace the report of an earlier run in --out. Without it an --out
    /// that holds a report.json is left alone and the files go to a new
    /// numbered directory beside it (DIR-2, DIR-3, …), named on stderr.
    #[arg(long)]
    pub force: bool,
}

/// A run's extra files.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Output")]
pub struct ExportArgs {
    /// Also write these into DIR, comma-separated: markdown (report.md),
    /// speedscope (profile.speedscope.json), pprof (profile.pb.gz), trace
    /// (trace.json, for Perfetto / chrome://tracing). report.json,
    /// report.html and the flamegraphs are always written.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(crate::report::format::extra_names()))]
    pub format: Vec<String>,
}

#[cfg(test)]
mod tests;
