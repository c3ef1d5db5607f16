//! Plain settings for one boundcheck run: what the CLI means, free of clap.

use crate::workloads::WorkloadSpec;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// What to profile.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetSpec {
    /// Launch this argv.
    Command(Vec<OsString>),
    /// Launch a built-in workload.
    Workload(WorkloadSpec),
    /// Sample a running process.
    Attach { pid: i32 },
    /// Re-diagnose a recorded timeline.
    Replay(PathBuf),
    /// `boundcheck bench`.
    Bench(crate::bench::BenchSpec),
    /// A native workload in this process (the bench's native cells).
    NativeWorkload(WorkloadSpec),
    /// `boundcheck baseline`.
    Baseline(crate::gate::BaselineSpec),
    /// `boundcheck check`.
    Check(crate::gate::CheckSpec),
    /// `boundcheck report DIR`: render a recorded run again.
    Report(ReportSpec),
    /// `boundcheck completions` / `man`: bytes made from the command line's
    /// definitions, printed on stdout as they are.
    Print(Vec<u8>),
}

/// A format `boundcheck report` renders a recorded run in. This enum is the
/// one list of them: `--format` offers exactly [`Format::ALL`], so a new
/// exporter is a variant here, its name in [`Format::name`], and its arm in
/// `rerender::render`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The self-contained page (`report.html`): charts, flamegraphs, tables.
    Html,
    /// The compact summary for PR comments and `$GITHUB_STEP_SUMMARY`.
    Markdown,
    /// `report.json` as this boundcheck writes it.
    Json,
    /// speedscope's file format: a wall-clock profile per thread (needs timeline.json).
    Speedscope,
    /// pprof (gzip protobuf) of the on-CPU stacks, for `go tool pprof`, Pyroscope, Parca (needs timeline.json).
    Pprof,
    /// Chrome trace / Perfetto JSON of the timeline: a track per thread, core and memory counters (needs timeline.json).
    Trace,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Html,
        Format::Markdown,
        Format::Json,
        Format::Speedscope,
        Format::Pprof,
        Format::Trace,
    ];

    /// The `--format` word.
    pub fn name(self) -> &'static str {
        match self {
            Format::Html => "html",
            Format::Markdown => "markdown",
            Format::Json => "json",
            Format::Speedscope => "speedscope",
            Format::Pprof => "pprof",
            Format::Trace => "trace",
        }
    }

    /// The file it is written to in a run's directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Html => "report.html",
            Format::Markdown => "report.md",
            Format::Json => "report.json",
            Format::Speedscope => "profile.speedscope.json",
            Format::Pprof => "profile.pb.gz",
            Format::Trace => "trace.json",
        }
    }

    /// Exports drawn from the timeline rather than the report.
    pub fn needs_timeline(self) -> bool {
        matches!(self, Format::Speedscope | Format::Pprof | Format::Trace)
    }

    pub fn parse(word: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == word)
    }

    /// Every `--format` word, for the parser and the help.
    pub fn names() -> Vec<&'static str> {
        Format::ALL.iter().map(|f| f.name()).collect()
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
    pub format: Format,
    pub output: Destination,
}

/// Settings of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub target: TargetSpec,
    /// Samples per second (> 0).
    pub rate_hz: f64,
    /// Stop sampling after this long (attach mode; the target keeps running).
    pub duration: Option<Duration>,
    /// Where report.json and timeline.json go.
    pub out_dir: PathBuf,
    /// Print the report JSON to stdout instead of the summary.
    pub json: bool,
    /// Comparative re-runs after the diagnosis.
    pub rerun: bool,
    /// Runs of each experiment.
    pub runs: usize,
    /// Cap on the total time of the re-runs.
    pub budget: Option<Duration>,
    /// `--vary key=v1,v2`: axes of a grid filled into the command's `{key}`s.
    pub vary: Vec<(String, Vec<String>)>,
    /// Interpreter for re-runs of a Python command.
    pub python: Option<PathBuf>,
    /// A free-threaded interpreter for the free-threaded experiment.
    pub python_ft: Option<PathBuf>,
    /// No progress line.
    pub quiet: bool,
    /// Append a markdown summary to `$GITHUB_STEP_SUMMARY` when it is set
    /// (off for the gate's inner profiled run: the gate writes its own).
    pub step_summary: bool,
    /// Read Python stacks and GIL ownership (`--no-stacks` turns it off).
    pub stacks: bool,
    /// Sample native call chains under Python too (`--native`).
    pub native: bool,
    /// Extra files to write into `out_dir` (`--format`): markdown and the exports.
    pub exports: Vec<Format>,
    /// Stop a launched target after this long (SIGTERM to its tree, SIGKILL
    /// after a grace period); boundcheck then exits 124.
    pub timeout: Option<Duration>,
    /// Replace the report of an earlier run in `out_dir` instead of writing
    /// to a new numbered directory beside it.
    pub force: bool,
}
