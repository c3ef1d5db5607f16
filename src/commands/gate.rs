//! `boundcheck baseline` and `boundcheck check`: measure each side, let the
//! gate decide, then hand the outcome to the gate's renderers and the
//! destinations.
//!
//! Measuring a command: one profiled run ([`profile`], sampled, diagnosed,
//! its files written to the report directory, re-runs off), then N timed
//! runs measured by `rerun/measure.rs` exactly as the re-runs measure theirs:
//! wall time, CPU time of the whole tree (`wait4`), peak memory of the tree;
//! stdout discarded, stdin from /dev/null. The profiled run goes first and
//! doubles as the warm-up (page cache, compiled `.pyc` files), so the timed
//! runs do not pay for a cold start and the sampler's own cost is in none of
//! them. The baseline is built from the profiled run in memory.
//!
//! Inputs are read and output paths checked before anything runs, so a
//! missing baseline or an unwritable `--junit` path fails in a second, not
//! after minutes of runs. Every error leaves as exit 2 (never 126/127 as the
//! main command's launch errors do): the gate's exit status is 0/1/2 only.

use super::Outcome;
use super::profile::profile;
use crate::error::Error;
use crate::gate::baseline::{
    self, BASELINE_FORMAT, BASELINE_SCHEMA_VERSION, Baseline, Measurement, read_measurement,
};
use crate::gate::decide::{decide, differing_hosts};
use crate::gate::render::{junit, markdown, text};
use crate::report::output::{self, OutputDir};
use crate::rerun::measure::{MeasureSpec, measure};
use crate::spec::{
    BaselineSpec, CheckSpec, Current, OutputSpec, ProfileSpec, RerunSpec, SamplingSpec, Target,
};
use crate::target::signals;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Sampling rate of the timed runs' light sampler (peak memory only), as the re-runs use.
const TIMED_RUN_RATE_HZ: f64 = 20.0;
/// A hung timed run is killed after this many times the profiled run's length…
const TIMEOUT_FACTOR: f64 = 5.0;
/// …and never sooner than this (as the re-runs).
const MIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Lines of a failed timed run's stderr quoted in the error.
const STDERR_TAIL_LINES: usize = 5;

/// Record a baseline file.
pub fn run_baseline(spec: &BaselineSpec) -> Result<Outcome, Error> {
    let out = destination(&spec.out).map_err(gate_error)?;
    let (b, _) = record(
        &spec.command,
        spec.runs,
        &spec.report_dir,
        spec.force,
        spec.quiet,
    )
    .map_err(gate_error)?;
    let path = out.0.write(&out.1, &baseline::render(&b))?;
    output::to_stderr(&text::render_baseline(&b, &path.display().to_string()));
    output::append_step_summary(&markdown::render_baseline(&b));
    Ok(Outcome { exit_code: 0 })
}

/// Compare a baseline with the current program (or a second file).
pub fn run_check(spec: &CheckSpec) -> Result<Outcome, Error> {
    match check(spec) {
        Ok(code) => Ok(Outcome { exit_code: code }),
        Err(e) => {
            let e = gate_error(e);
            // CI shows the gate as a test even when it could not run.
            let message = e.to_string();
            if let Some(path) = &spec.junit
                && let Ok((dir, name)) = destination(path)
            {
                let _ = dir.write(&name, &junit::render_error(&message));
            }
            output::append_step_summary(&markdown::render_gate_error(&message));
            Err(e)
        }
    }
}

fn check(spec: &CheckSpec) -> Result<i32, Error> {
    let base = read_measurement(&spec.baseline, "baseline")?;
    let junit_dest = spec.junit.as_deref().map(destination).transpose()?;
    // Where the differential flamegraph goes: beside the current run's report.
    let mut report_dir = spec.report_dir.clone();
    let current = match &spec.current {
        Current::File(path) => read_measurement(path, "current")?,
        Current::Command(argv) => {
            if spec.policy.require_same_host {
                let here = crate::sample::host::host_facts();
                let d = differing_hosts(&base.host, &here);
                if !d.is_empty() {
                    return Err(Error::Gate(format!(
                        "this host differs from the baseline's ({}) and --require-same-host is set: record a baseline on this kind of machine",
                        d.join("; ")
                    )));
                }
            }
            let save = spec.save.as_deref().map(destination).transpose()?;
            let runs = spec
                .runs
                .unwrap_or(base.runs.len().max(3))
                .min(baseline::MAX_RUNS);
            let (b, dir) = record(argv, runs, &spec.report_dir, spec.force, spec.quiet)?;
            report_dir = dir;
            if let Some((dir, name)) = save {
                dir.write(&name, &baseline::render(&b))?;
            }
            Measurement::from_baseline(b, "this run")
        }
    };
    let outcome = decide(&base, &current, &spec.policy);
    // Where on-CPU time moved: a differential flamegraph beside the current
    // run's report, when both sides carry stacks.
    if let (Some(before), Some(after)) = (&base.cpu_folded, &current.cpu_folded)
        && let Some((folded, svg)) = crate::gate::diff::render(before, after)?
    {
        let dir = OutputDir::prepare(&report_dir)?;
        dir.write("diff.folded", folded.as_bytes())?;
        let path = dir.write("diff.svg", &svg)?;
        output::to_stderr(
            format!("boundcheck: on-CPU change drawn in {}\n", path.display()).as_bytes(),
        );
    }
    output::to_stderr(&text::render_gate(&outcome));
    let mut md = markdown::render_gate(&outcome);
    md.extend(crate::report::markdown::render_details(
        "the current run's diagnosis",
        &current.report,
    ));
    output::append_step_summary(&md);
    if let Some((dir, name)) = junit_dest {
        dir.write(&name, &junit::render_gate(&outcome))?;
    }
    Ok(outcome.exit_code())
}

/// Profile `argv` once (its files into `report_dir`, or a numbered sibling
/// when that holds an earlier run and `force` is off), then time it `runs` times. Returns the
/// baseline and the directory the profiled run's files went to.
fn record(
    argv: &[OsString],
    runs: usize,
    report_dir: &Path,
    force: bool,
    quiet: bool,
) -> Result<(Baseline, PathBuf), Error> {
    let recorded_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let spec = ProfileSpec {
        target: Target::Command(argv.to_vec()),
        duration: None,
        timeout: None,
        sampling: SamplingSpec::default(),
        rerun: RerunSpec::off(),
        output: OutputSpec {
            out_dir: report_dir.to_path_buf(),
            json: false,
            force,
            quiet,
            exports: Vec::new(),
            // The gate writes its own step summary.
            step_summary: false,
        },
    };
    let run = profile(&spec)?;
    if let Some(sig) = signals::received() {
        return Err(Error::Gate(format!(
            "interrupted by signal {sig} during the profiled run: nothing recorded"
        )));
    }
    if run.exit_code != 0 {
        return Err(Error::Gate(format!(
            "the command exited with status {} in the profiled run: the gate measures a command that succeeds",
            run.exit_code
        )));
    }
    let timeout = Duration::from_secs_f64(run.report.duration_s * TIMEOUT_FACTOR).max(MIN_TIMEOUT);
    let results = timed_runs(argv, runs, timeout, quiet)?;
    let cpu_folded = run
        .flames
        .iter()
        .find(|(name, _)| name == "cpu.folded")
        .and_then(|(_, bytes)| String::from_utf8(bytes.clone()).ok());
    let report = run.report;
    let baseline = Baseline {
        format: BASELINE_FORMAT.into(),
        schema_version: BASELINE_SCHEMA_VERSION.into(),
        boundcheck_version: env!("CARGO_PKG_VERSION").into(),
        recorded_at,
        command: report.command.clone(),
        host: report.host.clone(),
        cores_available: report.diagnosis.cores_available,
        runs: results,
        cpu_folded,
        report,
    };
    Ok((baseline, run.out_dir))
}

/// `runs` timed runs of `argv`, each killed after `timeout`; the first
/// failure (an error, a non-zero status, Ctrl-C) stops them all.
fn timed_runs(
    argv: &[OsString],
    runs: usize,
    timeout: Duration,
    quiet: bool,
) -> Result<Vec<crate::rerun::RunResult>, Error> {
    let scratch = tempfile::Builder::new()
        .prefix("boundcheck-gate-")
        .tempdir()
        .map_err(|e| Error::Gate(format!("cannot create a scratch directory: {e}")))?;
    let stderr_path = scratch.path().join("stderr.txt");
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
                    tail(&stderr_path)
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
    match failure {
        Some(f) => Err(Error::Gate(f)),
        None => Ok(results),
    }
}

/// The last lines of a file.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(STDERR_TAIL_LINES).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// A file destination: its directory prepared (created, checked writable) and its name.
fn destination(path: &Path) -> Result<(OutputDir, String), Error> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::Gate(format!("{} is not a file name", path.display())))?;
    Ok((OutputDir::prepare(dir)?, name))
}

/// A command that cannot be found or run is still a gate error: exit 2.
fn gate_error(e: Error) -> Error {
    match e {
        Error::CommandNotFound { .. } | Error::CommandNotExecutable { .. } => {
            Error::Gate(e.to_string())
        }
        e => e,
    }
}
