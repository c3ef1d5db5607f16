//! The report: everything a reader needs, built from a timeline and its diagnosis.
//!
//! Renderers turn a [`Report`] into bytes and never do I/O; [`output`] decides
//! where bytes go. Every field carries a doc comment saying what it measures
//! (see also `docs/report-schema.md`).

pub mod bench_md;
pub mod bench_svg;
pub mod groups;
pub mod json;
pub mod output;
pub mod text;

use crate::diagnose::{Diagnosis, Features};
use crate::error::Error;
use crate::rerun::Recommendation;
use crate::timeline::{CoreSample, Counters, ExitInfo, Host, SamplingStats, Timeline};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Shape version of `report.json`: major.minor. Readers refuse a newer major.
pub const REPORT_SCHEMA_VERSION: &str = "1.0";

/// How many threads the report lists.
const TOP_THREADS: usize = 10;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Always `"boundcheck-report"`.
    pub format: String,
    /// See [`REPORT_SCHEMA_VERSION`].
    pub schema_version: String,
    /// The command as launched (argv).
    pub command: Vec<String>,
    /// `launch`, `workload` or `attach`.
    pub mode: String,
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
    /// Why the re-runs were skipped (`--no-rerun`, attached, the target failed, interrupted, replay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun_skipped: Option<String>,
}

/// One thread's time, split by state.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
}

/// One process of the tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
        let mut threads: Vec<ThreadSummary> = f
            .threads
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
            })
            .collect();
        threads.sort_by(|a, b| b.cpu_s.total_cmp(&a.cpu_s).then(a.tid.cmp(&b.tid)));
        let thread_groups = if threads.len() > TOP_THREADS {
            groups::by_name(&f.threads)
        } else {
            Vec::new()
        };
        threads.truncate(TOP_THREADS);
        let m = &tl.meta;
        Report {
            format: "boundcheck-report".into(),
            schema_version: REPORT_SCHEMA_VERSION.into(),
            command: m.command.clone(),
            mode: m.mode.clone(),
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
            rerun_skipped: None,
        }
    }
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
    match (major(version), major(REPORT_SCHEMA_VERSION)) {
        (Some(found), Some(ours)) if found > ours => {
            return Err(Error::NewerSchema {
                path: path.to_path_buf(),
                found: version.to_string(),
                supported: REPORT_SCHEMA_VERSION.to_string(),
            });
        }
        (Some(_), _) => {}
        (None, _) => {
            return Err(Error::BadFile {
                path: path.to_path_buf(),
                expected: "report",
                reason: match value.get("schema_version") {
                    None => "no schema_version field".into(),
                    Some(v) => format!("schema_version {v} is not \"MAJOR.MINOR\""),
                },
            });
        }
    }
    serde_json::from_value(value).map_err(|e| Error::BadFile {
        path: path.to_path_buf(),
        expected: "report",
        reason: e.to_string(),
    })
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
