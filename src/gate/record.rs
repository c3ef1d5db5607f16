//! Measuring a command for the gate: one profiled run through the normal
//! pipeline (sampled, diagnosed, report.json and timeline.json written, re-runs
//! off), then N timed runs measured by `rerun/measure.rs` exactly as the
//! re-runs measure theirs: wall time, CPU time of the whole tree (`wait4`),
//! peak memory of the tree; stdout discarded, stdin from /dev/null.
//!
//! The profiled run goes first and doubles as the warm-up (page cache,
//! compiled `.pyc` files), so the timed runs do not pay for a cold start and
//! the 100 Hz sampler's own cost is in none of them.

use super::baseline::{BASELINE_FORMAT, BASELINE_SCHEMA_VERSION, Baseline};
use crate::error::Error;
use crate::report::output::REPORT_FILE;
use crate::report::read_report;
use crate::rerun::measure::{MeasureSpec, measure};
use crate::spec::{Spec, TargetSpec};
use crate::target::signals;
use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Sampling rate of the timed runs' light sampler (peak memory only), as the re-runs use.
const TIMED_RUN_RATE_HZ: f64 = 20.0;

/// Profile `argv` once, then time it `runs` times.
pub fn record(
    argv: &[OsString],
    runs: usize,
    report_dir: &Path,
    quiet: bool,
) -> Result<Baseline, Error> {
    let recorded_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let spec = Spec {
        target: TargetSpec::Command(argv.to_vec()),
        rate_hz: 100.0,
        duration: None,
        out_dir: report_dir.to_path_buf(),
        json: false,
        rerun: false,
        runs: 0,
        budget: None,
        vary: Vec::new(),
        python: None,
        python_ft: None,
        quiet,
        step_summary: false,
        stacks: true,
        exports: Vec::new(),
        native: false,
        timeout: None,
        // The gate reads the report back from `report_dir`, so it must land
        // there, not in a numbered sibling: the gate's report directory is
        // its own working copy of the profiled run, rewritten on each gate.
        force: true,
    };
    let outcome = crate::run::run(&spec)?;
    if let Some(sig) = signals::received() {
        return Err(Error::Gate(format!(
            "interrupted by signal {sig} during the profiled run: nothing recorded"
        )));
    }
    if outcome.exit_code != 0 {
        return Err(Error::Gate(format!(
            "the command exited with status {} in the profiled run: the gate measures a command that succeeds",
            outcome.exit_code
        )));
    }
    let report = read_report(&report_dir.join(REPORT_FILE))?;
    let scratch = tempfile_dir()?;
    let stderr_path = scratch.join("stderr.txt");
    // A hung run is killed: 5x the profiled run, at least 10 s (as the re-runs).
    let timeout = Duration::from_secs_f64(report.duration_s * 5.0).max(Duration::from_secs(10));
    let progress = crate::progress::bar(quiet, "timed runs", runs as u64);
    let mut results = Vec::with_capacity(runs);
    let mut failure = None;
    for i in 0..runs {
        if let Some(p) = &progress {
            p.set_message(format!("run {} of {runs}", i + 1));
        }
        let measured = measure(&MeasureSpec {
            argv,
            env: &[],
            cpus: None,
            stdout: None,
            stderr: &stderr_path,
            timeout,
            rate_hz: TIMED_RUN_RATE_HZ,
        });
        if let Some(sig) = signals::received() {
            failure = Some(format!(
                "interrupted by signal {sig} after {i} of {runs} timed runs: nothing recorded"
            ));
            break;
        }
        let stderr_tail = || {
            let text = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        };
        match measured {
            Err(e) => {
                failure = Some(format!("timed run {} of {runs}: {e}", i + 1));
                break;
            }
            Ok(m) if m.result.exit_status != 0 => {
                failure = Some(format!(
                    "timed run {} of {runs} exited with status {}: the gate measures a command that succeeds; its stderr ended:\n{}",
                    i + 1,
                    m.result.exit_status,
                    stderr_tail()
                ));
                break;
            }
            Ok(m) => results.push(m.result),
        }
        if let Some(p) = &progress {
            p.inc(1);
        }
    }
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if let Some(f) = failure {
        return Err(Error::Gate(f));
    }
    Ok(Baseline {
        format: BASELINE_FORMAT.into(),
        schema_version: BASELINE_SCHEMA_VERSION.into(),
        boundcheck_version: env!("CARGO_PKG_VERSION").into(),
        recorded_at,
        command: report.command.clone(),
        host: report.host.clone(),
        cores_available: report.diagnosis.cores_available,
        runs: results,
        cpu_folded: std::fs::read_to_string(report_dir.join("cpu.folded")).ok(),
        report,
    })
}

fn tempfile_dir() -> Result<std::path::PathBuf, Error> {
    let dir = std::env::temp_dir().join(format!("boundcheck-gate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| {
        Error::Gate(format!(
            "cannot create a scratch directory {}: {e}",
            dir.display()
        ))
    })?;
    Ok(dir)
}
