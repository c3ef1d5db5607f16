//! The report: everything a reader needs, built from a timeline and its diagnosis.
//!
//! Renderers turn a [`Report`] into bytes and never do I/O; [`output`] decides
//! where bytes go. Every field carries a doc comment saying what it measures
//! (see also `docs/report-schema.md`).

pub mod bench_md;
pub mod bench_svg;
pub mod budget;
pub mod flame;
pub mod format;
pub mod groups;
pub mod html;
pub mod json;
pub mod launcher;
pub mod markdown;
pub mod output;
pub mod pprof;
pub mod rerun_table;
pub mod run_files;
pub mod speedscope;
pub mod text;
pub mod trace;

use crate::diagnose::{Diagnosis, Features, HotFunction};
use crate::error::Error;
use crate::rerun::Recommendation;
use crate::timeline::{
    CoreSample, Counters, ExitInfo, Host, PyState, SamplingStats, StackSampling, Timeline,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Shape version of `report.json`: major.minor. Readers refuse a newer major.
pub const REPORT_SCHEMA_VERSION: &str = "1.1";

/// How many threads the report lists.
const TOP_THREADS: usize = 10;

/// `report.json`: what bounds the program and the evidence, for people and
/// scripts. Fields are added in minor versions, never renamed or removed
/// within a major one (`docs/report-schema.md`).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(title = "boundcheck report.json")]
pub struct Report {
    /// Always `"boundcheck-report"`.
    pub format: String,
    /// See [`REPORT_SCHEMA_VERSION`].
    pub schema_version: String,
    /// The command as launched (argv).
    pub command: Vec<String>,
    /// `launch`, `workload` or `attach`.
    pub mode: crate::timeline::RunMode,
    /// Built-in workload settings, when one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// Wall-clock start, RFC 3339 UTC.
    pub started_at: String,
    /// Seconds from launch to the end of sampling.
    pub duration_s: f64,
    /// How the target ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitInfo>,
    /// The target's status as a shell reports it (code, or 128 + signal); absent when attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,
    /// True when boundcheck was interrupted before the target ended: the report is partial.
    pub interrupted: bool,
    /// Set when `--timeout` stopped the target: the limit, seconds (the report is partial).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timed_out_after_s: Option<f64>,
    /// The directory this report was written to, when it is not the `--out`
    /// asked for (that one held an earlier run's report; see `--force`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dir: Option<String>,
    pub host: Host,
    /// Version of the target's Python, when it ran Python.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_version: Option<String>,
    /// The sampler's rate, lateness, losses and own cost.
    pub sampling: SamplingStats,
    /// Whole-tree perf counters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<Counters>,
    pub diagnosis: Diagnosis,
    /// Mean split of each core's time over the run (whole machine, not only the target).
    pub cores: Vec<CoreSample>,
    /// The busiest threads, by CPU time.
    pub threads: Vec<ThreadSummary>,
    /// Threads summed by name, busiest first: present only when the program
    /// had more threads than `threads` lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thread_groups: Vec<groups::ThreadGroup>,
    /// Every process of the tree.
    pub processes: Vec<ProcessSummary>,
    /// What the comparative re-runs measured and recommend (absent when skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<Recommendation>,
    /// Hottest Python functions by state (`on-cpu`, `gil-wait`, `lock-wait`,
    /// `io-wait`), top 10 each, from the stacks. Absent without stacks.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hot_functions: BTreeMap<String, Vec<HotFunction>>,
    /// How Python stacks were read (rate, cost, processes that could not be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_sampling: Option<StackSampling>,
    /// Exact off-CPU time of the whole tree by reason, from perf
    /// context-switch events (switch-out to switch-in). The per-sample
    /// states above come from /proc polling; this is the kernel's own account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off_cpu: Option<OffCpuSummary>,
    /// Native stack sampling (perf cpu-clock): how, how many, or why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_stacks: Option<NativeSummary>,
    /// Why the re-runs were skipped (`--no-rerun`, attached, the target failed, interrupted, replay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun_skipped: Option<String>,
}

/// One thread's time, split by state.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ThreadSummary {
    pub pid: i32,
    pub tid: i32,
    pub name: String,
    /// CPU time, seconds.
    pub cpu_s: f64,
    /// Thread-time observed, seconds.
    pub observed_s: f64,
    /// Fraction of its observed time in each state.
    pub shares: BTreeMap<String, f64>,
    /// Voluntary context switches per second.
    pub voluntary_switches_per_s: f64,
    /// Share of its time (on ticks with Python stacks) holding the GIL on a CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gil_held: Option<f64>,
    /// Share of its time (on ticks with Python stacks) blocked waiting for the GIL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gil_wait: Option<f64>,
}

/// One process of the tree.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProcessSummary {
    pub pid: i32,
    pub ppid: i32,
    pub name: String,
    pub cmdline: Vec<String>,
    /// Seconds since start when first and last seen.
    pub first_seen_s: f64,
    pub last_seen_s: f64,
    /// Peak resident memory (`VmHWM`), bytes.
    pub peak_rss_bytes: u64,
    /// Bytes read from / written to storage.
    pub read_bytes: u64,
    pub write_bytes: u64,
}

impl Report {
    /// Diagnose a timeline and build its report, computing its figures once.
    pub fn of(tl: &Timeline) -> Report {
        let f = Features::from_timeline(tl);
        let diagnosis = crate::diagnose::diagnose_features(tl, &f);
        Report::build(tl, &f, diagnosis)
    }

    fn build(tl: &Timeline, f: &Features, diagnosis: Diagnosis) -> Report {
        let noise = launcher::noise_pids(tl);
        let listed: Vec<_> = f
            .threads
            .iter()
            .filter(|t| !noise.contains(&t.pid))
            .cloned()
            .collect();
        let mut threads: Vec<ThreadSummary> = listed
            .iter()
            .map(|t| ThreadSummary {
                pid: t.pid,
                tid: t.tid,
                name: t.name.clone(),
                cpu_s: round(t.cpu_s, 4),
                observed_s: round(t.observed_s, 4),
                shares: t
                    .shares()
                    .into_iter()
                    .map(|(k, v)| (k, round(v, 4)))
                    .collect(),
                voluntary_switches_per_s: round(t.switch_rate(), 1),
                gil_held: py_share(f, t.tid, PyState::GilHeld),
                gil_wait: py_share(f, t.tid, PyState::GilWait),
            })
            .collect();
        threads.sort_by(|a, b| b.cpu_s.total_cmp(&a.cpu_s).then(a.tid.cmp(&b.tid)));
        let thread_groups = if threads.len() > TOP_THREADS {
            groups::by_name(&listed)
        } else {
            Vec::new()
        };
        threads.truncate(TOP_THREADS);
        let m = &tl.meta;
        Report {
            format: "boundcheck-report".into(),
            schema_version: REPORT_SCHEMA_VERSION.into(),
            command: m.command.clone(),
            mode: m.mode,
            workload: m.workload.clone(),
            started_at: m.started_at.clone(),
            duration_s: round(m.duration_s, 4),
            exit: m.exit,
            exit_status: m.exit.map(|e| e.shell_status()),
            interrupted: m.interrupted,
            timed_out_after_s: m.timed_out_after_s,
            output_dir: None,
            host: m.host.clone(),
            python_version: m.python_version.clone(),
            sampling: tl.sampling.clone(),
            counters: tl.counters.clone(),
            diagnosis,
            cores: f.core_means.clone(),
            threads,
            thread_groups,
            processes: tl
                .processes
                .iter()
                .filter(|p| !noise.contains(&p.pid))
                .map(|p| ProcessSummary {
                    pid: p.pid,
                    ppid: p.ppid,
                    name: p.name.clone(),
                    cmdline: p.cmdline.clone(),
                    first_seen_s: round(p.first_seen_s, 3),
                    last_seen_s: round(p.last_seen_s, 3),
                    peak_rss_bytes: p.peak_rss_bytes,
                    read_bytes: p.read_bytes,
                    write_bytes: p.write_bytes,
                })
                .collect(),
            recommendation: None,
            hot_functions: f.py.as_ref().map(|p| p.hot.clone()).unwrap_or_default(),
            stack_sampling: tl.stack_sampling.clone(),
            off_cpu: tl.off_cpu.as_ref().map(OffCpuSummary::of),
            native_stacks: tl.native.as_ref().map(|n| NativeSummary {
                method: n.method.clone(),
                samples: n.samples.len() as u64,
                lost: n.lost,
                unavailable: n.unavailable.clone(),
            }),
            rerun_skipped: None,
        }
    }
}

/// Whole-tree off-CPU time by reason.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OffCpuSummary {
    /// How it was measured.
    pub method: String,
    /// Why it could not be (perf refused, with the fix); then the totals are empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// Seconds switched out, summed over threads, by reason: `lock`, `disk`,
    /// `sleep`, `net`, `poll`, `pipe`, `child`, `preempted`, `other`.
    pub by_reason_s: BTreeMap<String, f64>,
    /// Switch-outs counted, by the same reasons.
    pub switches: BTreeMap<String, u64>,
}

impl OffCpuSummary {
    fn of(p: &crate::timeline::OffCpuProfile) -> OffCpuSummary {
        let mut by_reason_s: BTreeMap<String, f64> = BTreeMap::new();
        let mut switches: BTreeMap<String, u64> = BTreeMap::new();
        for t in p.threads.values() {
            for (reason, s) in &t.off_cpu_s {
                *by_reason_s.entry(reason.as_str().to_string()).or_default() += s;
            }
            for (reason, n) in &t.switches {
                *switches.entry(reason.as_str().to_string()).or_default() += n;
            }
        }
        for v in by_reason_s.values_mut() {
            *v = round(*v, 4);
        }
        OffCpuSummary {
            method: p.method.clone(),
            unavailable: p.unavailable.clone(),
            by_reason_s,
            switches,
        }
    }
}

/// Native stack sampling in brief (the samples themselves are in timeline.json and native/cpu.folded).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NativeSummary {
    pub method: String,
    /// On-CPU samples taken.
    pub samples: u64,
    /// Samples the kernel dropped (ring buffer full).
    pub lost: u64,
    /// Why there are none, with the fix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// A thread's share of one Python state, for threads whose stacks were read.
fn py_share(f: &Features, tid: i32, s: PyState) -> Option<f64> {
    let t = f.py.as_ref()?.threads.get(&tid)?;
    (t.state_s.iter().sum::<f64>() > 0.0).then(|| round(t.share(s), 4))
}

fn round(v: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (v * p).round() / p
}

/// Read a `report.json`, refusing other files and newer major versions.
pub fn read_report(path: &Path) -> Result<Report, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::ReadFailed {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::BadFile {
        path: path.to_path_buf(),
        expected: "report",
        reason: e.to_string(),
    })?;
    refuse_newer_major(path, &value, REPORT_SCHEMA_VERSION, "report")?;
    serde_json::from_value(value).map_err(|e| Error::BadFile {
        path: path.to_path_buf(),
        expected: "report",
        reason: e.to_string(),
    })
}

/// Refuse a file whose `schema_version` ("MAJOR.MINOR") has a newer major
/// than `ours`, or has none: a newer boundcheck may have changed the meaning
/// of its fields, and misreading them silently is worse than stopping.
pub(crate) fn refuse_newer_major(
    path: &Path,
    value: &serde_json::Value,
    ours: &str,
    expected: &'static str,
) -> Result<(), Error> {
    let version = value
        .get("schema_version")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    // A major too large for u64 is still a number, and newer than ours.
    let major = |v: &str| {
        let m = v.split('.').next().unwrap_or("");
        (!m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
            .then(|| m.parse::<u64>().unwrap_or(u64::MAX))
    };
    match (major(version), major(ours)) {
        (Some(found), Some(supported)) if found > supported => Err(Error::NewerSchema {
            path: path.to_path_buf(),
            found: version.to_string(),
            supported: ours.to_string(),
        }),
        (Some(_), _) => Ok(()),
        (None, _) => Err(Error::BadFile {
            path: path.to_path_buf(),
            expected,
            reason: match value.get("schema_version") {
                None => "no schema_version field".into(),
                Some(v) => format!("schema_version {v} is not \"MAJOR.MINOR\""),
            },
        }),
    }
}

/// Read a `timeline.json` for replay, refusing other files and newer versions.
pub fn read_timeline(path: &Path) -> Result<Timeline, Error> {
    let bad = |reason: String| Error::BadFile {
        path: path.to_path_buf(),
        expected: "timeline",
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| Error::ReadFailed {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if value.get("format").and_then(|v| v.as_str()) != Some("boundcheck-timeline") {
        return Err(bad("missing \"format\": \"boundcheck-timeline\" (is this a report.json? replay reads timeline.json)".into()));
    }
    let version = value
        .get("schema_version")
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    let ours = crate::timeline::TIMELINE_SCHEMA_VERSION as u64;
    if version > ours {
        return Err(Error::NewerSchema {
            path: path.to_path_buf(),
            found: version.to_string(),
            supported: ours.to_string(),
        });
    }
    serde_json::from_value(value).map_err(|e| bad(e.to_string()))
}
