//! The baseline file, and the one shape [`Measurement`] that `check`
//! compares, whichever file (a baseline or a `report.json`) or live run each
//! side comes from.
//!
//! A `report.json` serves as a side too: its timed runs are the as-is runs of
//! its comparative re-runs when it has them (measured like a baseline's);
//! otherwise its one profiled run, timed under the sampler, stands alone, and
//! one run is too few for any time policy to reach significance.

use crate::error::Error;
use crate::report::{REPORT_SCHEMA_VERSION, Report, refuse_newer_major};
use crate::rerun::RunResult;
use crate::timeline::Host;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Shape version of a baseline file: major.minor. Readers refuse a newer major.
pub const BASELINE_SCHEMA_VERSION: &str = "1.0";
/// The `format` of a baseline file.
pub const BASELINE_FORMAT: &str = "boundcheck-baseline";
/// Most runs a side may have: the exact Mann-Whitney table of `rerun/stats.rs` stops there.
pub const MAX_RUNS: usize = 30;

/// A recorded baseline (`boundcheck baseline`), the file `check --baseline` reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baseline {
    /// Always `"boundcheck-baseline"`.
    pub format: String,
    /// See [`BASELINE_SCHEMA_VERSION`].
    pub schema_version: String,
    /// Version of the boundcheck that recorded it.
    pub boundcheck_version: String,
    /// When recording started, RFC 3339 UTC.
    pub recorded_at: String,
    /// The command as launched (argv).
    pub command: Vec<String>,
    /// The machine the runs were made on.
    pub host: Host,
    /// CPUs the runs could use (affinity mask): the denominator of CPU efficiency.
    pub cores_available: usize,
    /// The timed runs, in order: unprofiled, stdout discarded, each measured
    /// for wall time, CPU time and peak memory of the whole process tree.
    pub runs: Vec<RunResult>,
    /// The report of one profiled run (made first, re-runs off): the verdict.
    pub report: Report,
    /// That run's on-CPU folded stacks (`cpu.folded`), for `check`'s
    /// differential flamegraph; absent when the run had no stacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_folded: Option<String>,
}

/// One side of a comparison.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Where it came from: a path, or `this run`.
    pub source: String,
    pub command: Vec<String>,
    pub host: Host,
    pub cores_available: usize,
    /// Successful timed runs.
    pub runs: Vec<RunResult>,
    /// True when the only timing is the profiled run's (a report without re-runs).
    pub timed_under_sampler: bool,
    /// The profiled run's report: verdict, confidence, Python version.
    pub report: Report,
    /// The profiled run's on-CPU folded stacks, when known.
    pub cpu_folded: Option<String>,
}

impl Measurement {
    pub fn from_baseline(b: Baseline, source: &str) -> Measurement {
        Measurement {
            source: source.to_string(),
            command: b.command,
            host: b.host,
            cores_available: b.cores_available.max(1),
            runs: b.runs,
            timed_under_sampler: false,
            report: b.report,
            cpu_folded: b.cpu_folded,
        }
    }

    /// A report's as-is re-runs, or else its profiled run alone.
    pub fn from_report(report: Report, source: &str) -> Measurement {
        let as_is: Vec<RunResult> = report
            .recommendation
            .as_ref()
            .and_then(|r| r.experiments.iter().find(|e| e.kind == "as-is"))
            .map(|e| {
                e.runs
                    .iter()
                    .filter(|r| r.exit_status == 0)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        let timed_under_sampler = as_is.is_empty();
        let runs = if timed_under_sampler {
            let cpu_s = report
                .counters
                .as_ref()
                .and_then(|c| c.task_clock_s)
                .unwrap_or(report.diagnosis.cores_busy * report.duration_s);
            vec![RunResult {
                wall_s: report.duration_s,
                cpu_s,
                peak_rss_bytes: report.processes.iter().map(|p| p.peak_rss_bytes).sum(),
                exit_status: report.exit_status.unwrap_or(0),
                written_bytes: None,
                children: None,
            }]
        } else {
            as_is
        };
        Measurement {
            source: source.to_string(),
            command: report.command.clone(),
            host: report.host.clone(),
            cores_available: report.diagnosis.cores_available.max(1),
            runs,
            timed_under_sampler,
            report,
            cpu_folded: None,
        }
    }
}

/// Render a baseline file (pretty JSON, like report.json).
pub fn render(b: &Baseline) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(b).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Read one side of a comparison: a baseline file or a `report.json`.
/// `role` (`baseline`, `current`) names the side in error messages.
pub fn read_measurement(path: &Path, role: &'static str) -> Result<Measurement, Error> {
    let bad = |reason: String| Error::BadFile {
        path: path.to_path_buf(),
        expected: "baseline or report",
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| Error::GateInput {
        path: path.to_path_buf(),
        role,
        reason: e.to_string(),
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not valid JSON ({e})")))?;
    let source = path.display().to_string();
    let m = match value.get("format").and_then(|v| v.as_str()) {
        Some(BASELINE_FORMAT) => {
            refuse_newer_major(path, &value, BASELINE_SCHEMA_VERSION, "baseline")?;
            // The embedded report has its own version: check it before its fields.
            if let Some(report) = value.get("report") {
                refuse_newer_major(path, report, REPORT_SCHEMA_VERSION, "report")?;
            }
            let b: Baseline = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
            Measurement::from_baseline(b, &source)
        }
        Some("boundcheck-report") => {
            refuse_newer_major(path, &value, REPORT_SCHEMA_VERSION, "report")?;
            let r: Report = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
            if r.interrupted {
                return Err(bad(
                    "the run it records was interrupted: a gate compares complete runs".into(),
                ));
            }
            if let Some(status) = r.exit_status.filter(|s| *s != 0) {
                return Err(bad(format!(
                    "the run it records failed (exit status {status}): a gate compares successful runs"
                )));
            }
            let mut m = Measurement::from_report(r, &source);
            // A report's flamegraph stacks sit beside it in its run directory.
            m.cpu_folded = path
                .parent()
                .and_then(|d| std::fs::read_to_string(d.join("cpu.folded")).ok());
            m
        }
        Some(other) => {
            return Err(bad(format!(
                "its format is \"{other}\"; check reads a baseline (`boundcheck baseline`) or a report.json"
            )));
        }
        None => return Err(bad("no \"format\" field".into())),
    };
    validate(&m).map_err(bad)?;
    Ok(m)
}

/// Figures a comparison can trust: some runs, not too many, all positive.
fn validate(m: &Measurement) -> Result<(), String> {
    if m.runs.is_empty() {
        return Err("it has no successful timed runs".into());
    }
    if m.runs.len() > MAX_RUNS {
        return Err(format!(
            "it has {} runs; at most {MAX_RUNS} are supported",
            m.runs.len()
        ));
    }
    if let Some(r) = m
        .runs
        .iter()
        .find(|r| !(r.wall_s > 0.0 && r.wall_s.is_finite() && r.cpu_s >= 0.0))
    {
        return Err(format!(
            "a run has wall_s {} and cpu_s {}: times must be positive",
            r.wall_s, r.cpu_s
        ));
    }
    if let Some(r) = m.runs.iter().find(|r| r.exit_status != 0) {
        return Err(format!(
            "a run exited with status {}: a baseline holds successful runs only",
            r.exit_status
        ));
    }
    Ok(())
}
