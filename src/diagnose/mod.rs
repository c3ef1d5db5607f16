//! Diagnosis: what bounds the program, how sure we are, and why.
//!
//! Pure functions over a [`Timeline`]: no I/O, so recorded timelines replay to
//! the same verdict every time. Every rule returns the evidence it used
//! (observed value beside its threshold) so the report shows *why*.

pub mod budget;
mod caveats;
mod competition;
pub mod coverage;
pub mod features;
pub mod predict;
mod rules;
pub mod stacks;
mod strategy;

pub use budget::Budget;
pub use coverage::StackCoverage;
pub use features::Features;
pub use predict::Prediction;
pub use rules::{PARALLEL_CORES_SHARE, THRESHOLDS};
pub use stacks::HotFunction;
pub use strategy::Strategy;

use crate::timeline::Timeline;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What bounds the program. The spelling is a public contract (`diagnosis.verdict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// One thread does the work, other cores idle.
    CpuSerial,
    /// The CPU work already fills the cores.
    CpuParallel,
    /// Several Python threads want the CPU but about one runs at a time.
    GilContended,
    /// Threads queue on an application lock.
    LockContended,
    /// Threads wait for storage.
    IoDisk,
    /// Threads wait for the network.
    IoNetwork,
    /// Time goes to allocating and faulting in memory.
    MemoryBound,
    /// Threads sleep on timers.
    Idle,
    /// An asyncio loop thread runs CPU work inline.
    EventLoopBlocked,
    /// Time goes to dispatching tiny tasks, pickling and IPC.
    PoolOverhead,
    /// No single dominant bound: see `shares`.
    Mixed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::CpuSerial => "cpu-serial",
            Verdict::CpuParallel => "cpu-parallel",
            Verdict::GilContended => "gil-contended",
            Verdict::LockContended => "lock-contended",
            Verdict::IoDisk => "io-disk",
            Verdict::IoNetwork => "io-network",
            Verdict::MemoryBound => "memory-bound",
            Verdict::Idle => "idle",
            Verdict::EventLoopBlocked => "event-loop-blocked",
            Verdict::PoolOverhead => "pool-overhead",
            Verdict::Mixed => "mixed",
        }
    }

    /// One sentence for a person: what this verdict means for their program.
    pub fn meaning(self) -> &'static str {
        match self {
            Verdict::CpuSerial => "one thread does the CPU work while other cores idle",
            Verdict::CpuParallel => "the CPU work already keeps the cores busy",
            Verdict::GilContended => {
                "several Python threads want the CPU but about one runs at a time (the GIL)"
            }
            Verdict::LockContended => "threads queue on an application lock",
            Verdict::IoDisk => "threads mostly wait for the disk",
            Verdict::IoNetwork => "threads mostly wait for the network",
            Verdict::MemoryBound => {
                "time goes to allocating and faulting in fresh memory: reuse buffers or work in place"
            }
            Verdict::Idle => "the program mostly sleeps",
            Verdict::EventLoopBlocked => "an asyncio event loop runs CPU work inline and stalls",
            Verdict::PoolOverhead => {
                "a pool spends its time dispatching tiny tasks, not doing them"
            }
            Verdict::Mixed => "no single bound dominates",
        }
    }
}

/// One figure a rule looked at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Evidence {
    /// Machine name of the figure, e.g. `gil_wait_share`.
    pub rule: String,
    /// The value measured.
    pub observed: f64,
    /// The value it is compared with.
    pub threshold: f64,
    /// `>=` or `<`: how observed is compared with threshold.
    pub comparison: String,
    /// Whether the comparison held.
    pub passed: bool,
    /// Unit of observed and threshold (`share`, `cores`, `threads`, `per_s`, `s`).
    pub unit: String,
    /// What the figure measures, in words.
    pub meaning: String,
}

/// A reason to trust the verdict less, or something the run could not measure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Caveat {
    /// Stable machine name, e.g. `few-samples`, `no-pmu`.
    pub code: CaveatCode,
    /// What it means and, where there is one, the fix.
    pub message: String,
}

/// The caveats' machine names. The spelling is a public contract
/// (`diagnosis.caveats[].code`, `docs/report-schema.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CaveatCode {
    FewSamples,
    ShortRun,
    SamplerLate,
    NoPerfCounters,
    NoPmu,
    UnsampledCpu,
    SingleCore,
    CpuCompetition,
    OsSignalsOnly,
    NoPythonStacks,
    Thinned,
    Interrupted,
    PypyGil,
    PtraceDenied,
    TimedOut,
    TargetFailed,
    /// A share of the CPU time that no Python stack covers (subinterpreters,
    /// threads without a stack).
    StacksIncomplete,
    /// Attached to a running process: what its threads did (and the waits
    /// they were in) before the attach is not in the run.
    AttachedMidRun,
    /// Perf events could not be opened on some threads (attach): their
    /// native stacks, exact off-CPU time and counts are missing.
    PerfThreadsMissed,
    /// Perf refused native stacks or exact off-CPU time altogether.
    PerfRefused,
    /// A code this version does not know (a report from a newer boundcheck).
    #[serde(other)]
    Unknown,
}

impl CaveatCode {
    /// The public spelling (`few-samples`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            CaveatCode::FewSamples => "few-samples",
            CaveatCode::ShortRun => "short-run",
            CaveatCode::SamplerLate => "sampler-late",
            CaveatCode::NoPerfCounters => "no-perf-counters",
            CaveatCode::NoPmu => "no-pmu",
            CaveatCode::UnsampledCpu => "unsampled-cpu",
            CaveatCode::SingleCore => "single-core",
            CaveatCode::CpuCompetition => "cpu-competition",
            CaveatCode::OsSignalsOnly => "os-signals-only",
            CaveatCode::NoPythonStacks => "no-python-stacks",
            CaveatCode::Thinned => "thinned",
            CaveatCode::Interrupted => "interrupted",
            CaveatCode::PypyGil => "pypy-gil",
            CaveatCode::PtraceDenied => "ptrace-denied",
            CaveatCode::TimedOut => "timed-out",
            CaveatCode::TargetFailed => "target-failed",
            CaveatCode::StacksIncomplete => "stacks-incomplete",
            CaveatCode::AttachedMidRun => "attached-mid-run",
            CaveatCode::PerfThreadsMissed => "perf-threads-missed",
            CaveatCode::PerfRefused => "perf-refused",
            CaveatCode::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for CaveatCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer to "what bounds this program?".
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Diagnosis {
    pub verdict: Verdict,
    /// How sure, 0–1: the margin of the deciding figures over their thresholds,
    /// scaled down for few samples and a late sampler.
    pub confidence: f64,
    pub evidence: Vec<Evidence>,
    pub caveats: Vec<Caveat>,
    /// Fraction of all thread-time in each state (keys: the thread states).
    pub shares: BTreeMap<String, f64>,
    /// Average cores the tree kept busy (its CPU time / wall time).
    pub cores_busy: f64,
    /// CPUs the target could run on.
    pub cores_available: usize,
    /// The code the verdict is about, from Python stacks: where threads wait
    /// for the GIL, the line that takes a contended lock, the coroutine that
    /// blocks the event loop, the hottest function. Absent without stacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<Site>,
    /// Where the run's wall time went, and each thread's (see `budget::Budget`).
    #[serde(default)]
    pub budget: Budget,
    /// A predicted speedup for every strategy, most promising first, from
    /// the budget (see `predict`); re-runs check the ones they can measure.
    #[serde(default)]
    pub predictions: Vec<Prediction>,
    /// The remedy the predictions alone point to: the cheapest code change
    /// predicted to gain at least 1.3x (and more than 1.0x at the pessimistic end), else
    /// `keep`. Re-runs may overrule it (`recommendation`).
    #[serde(default = "keep")]
    pub remedy: Strategy,
    /// How much of the CPU time the Python stacks explain: the time of
    /// threads running a subinterpreter (whose frames the stack reader cannot
    /// see) and of threads without a stack. Absent without stacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_coverage: Option<StackCoverage>,
}

fn keep() -> Strategy {
    Strategy::Keep
}

/// A place in the program and why it matters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Site {
    /// Which hot list it heads: `on-cpu`, `gil-wait`, `lock-wait`, `io-wait`,
    /// `event-loop`, or `pool` (where the program hands a pool its tasks).
    pub state: String,
    #[serde(flatten)]
    pub at: HotFunction,
    /// For an `on-cpu` site: the share of the tree's CPU time spent in
    /// processes whose Python stacks were not read (programs it ran, such as
    /// `sort` or `gzip`), when at least [`ELSEWHERE_MIN_SHARE`]: the site
    /// names Python code that may be a small part of the work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_elsewhere_share: Option<f64>,
    /// Those processes' names, the busiest first (at most three).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpu_elsewhere: Vec<String>,
}

/// Share of the tree's CPU outside the processes whose stacks were read from
/// which an `on-cpu` site says so: a held-out `sort`/`gzip` pipeline spent
/// 69 % of its CPU in its children while the site named the Python loop that
/// generated their input.
pub const ELSEWHERE_MIN_SHARE: f64 = 0.25;

impl Site {
    /// `; 69 % of the CPU is in programs it ran: sort, gzip`, or nothing.
    pub fn elsewhere_words(&self) -> String {
        match self.cpu_elsewhere_share {
            Some(share) => format!(
                "; {:.0} % of the CPU is in programs it ran{}",
                share * 100.0,
                if self.cpu_elsewhere.is_empty() {
                    String::new()
                } else {
                    format!(": {}", self.cpu_elsewhere.join(", "))
                }
            ),
            None => String::new(),
        }
    }

    /// What `at.share` is a share of, in words ("of the samples waiting for the GIL").
    pub fn share_of(&self) -> &'static str {
        match self.state.as_str() {
            "gil-wait" => "of the samples waiting for the GIL",
            "lock-wait" => "of the samples blocked on a lock (the acquiring line)",
            "event-loop" => "of the event loop's on-CPU samples (the coroutine stepping)",
            "io-wait" => "of the samples waiting for I/O",
            "pool" => "of the samples in pool machinery that name the program's line",
            _ => "of the on-CPU samples",
        }
    }
}

/// The CPU share of the tree outside the processes whose stacks were read,
/// and those processes' names (busiest first), when it reaches
/// [`ELSEWHERE_MIN_SHARE`].
fn cpu_elsewhere(tl: &Timeline, f: &Features) -> Option<(f64, Vec<String>)> {
    let read = &tl.stack_sampling.as_ref()?.python_pids;
    let mut by_pid: BTreeMap<i32, f64> = BTreeMap::new();
    for t in &f.threads {
        *by_pid.entry(t.pid).or_default() += t.cpu_s;
    }
    let total: f64 = by_pid.values().sum();
    let mut outside: Vec<(i32, f64)> = by_pid
        .into_iter()
        .filter(|(pid, _)| !read.contains(pid))
        .collect();
    let share = outside.iter().map(|(_, c)| c).sum::<f64>() / total.max(1e-9);
    if total <= 0.0 || share < ELSEWHERE_MIN_SHARE {
        return None;
    }
    outside.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut names: Vec<String> = Vec::new();
    for (pid, _) in outside {
        let name = tl
            .processes
            .iter()
            .find(|p| p.pid == pid)
            .map(|p| p.name.clone());
        if let Some(n) = name.filter(|n| !names.contains(n)) {
            names.push(n);
        }
    }
    names.truncate(3);
    Some((share, names))
}

/// The site a verdict points at, from the stack figures.
fn site_of(verdict: Verdict, tl: &Timeline, f: &Features) -> Option<Site> {
    let py = f.py.as_ref()?;
    let (state, at) = match verdict {
        Verdict::GilContended => ("gil-wait", py.hottest_own("gil-wait")),
        Verdict::LockContended => ("lock-wait", py.hottest("lock-wait")),
        Verdict::EventLoopBlocked => ("event-loop", py.loop_steps.first()),
        Verdict::PoolOverhead => match py.hot_own.get("pool").and_then(|v| v.first()) {
            Some(at) => ("pool", Some(at)),
            None => ("on-cpu", py.hottest_own("on-cpu")),
        },
        Verdict::IoDisk | Verdict::IoNetwork => ("io-wait", py.hottest("io-wait")),
        _ => ("on-cpu", py.hottest_own("on-cpu")),
    };
    let elsewhere = (state == "on-cpu").then(|| cpu_elsewhere(tl, f)).flatten();
    Some(Site {
        state: state.to_string(),
        at: at?.clone(),
        cpu_elsewhere_share: elsewhere
            .as_ref()
            .map(|(share, _)| (share * 1000.0).round() / 1000.0),
        cpu_elsewhere: elsewhere.map(|(_, names)| names).unwrap_or_default(),
    })
}

/// Diagnose a recorded run.
pub fn diagnose(tl: &Timeline) -> Diagnosis {
    diagnose_features(tl, &Features::from_timeline(tl))
}

/// Diagnose from figures already computed from `tl` (the report needs them too).
pub fn diagnose_features(tl: &Timeline, f: &Features) -> Diagnosis {
    let budget = budget::budget(tl, f);
    let decision = rules::decide(f, &budget);
    let predictions = predict::predict(tl, f, &budget);
    let remedy = predict::remedy(&predictions, tl.meta.python_version.as_deref());
    let caveats = caveats::collect(tl, f, decision.verdict);
    let sample_factor = (f.samples as f64 / 50.0).min(1.0);
    let period = if tl.sampling.requested_rate_hz > 0.0 {
        1.0 / tl.sampling.requested_rate_hz
    } else {
        0.01
    };
    let late_factor = 1.0 - 0.5 * (tl.sampling.mean_late_s / period).min(1.0);
    let confidence = (decision.strength * sample_factor * late_factor).clamp(0.05, 0.99);
    Diagnosis {
        verdict: decision.verdict,
        confidence: (confidence * 100.0).round() / 100.0,
        evidence: decision.evidence,
        caveats,
        shares: f.shares(),
        cores_busy: f.cores_busy(),
        cores_available: f.cores_available,
        site: site_of(decision.verdict, tl, f),
        budget,
        predictions,
        remedy,
        stack_coverage: f.coverage.clone(),
    }
}

#[cfg(test)]
mod tests;
