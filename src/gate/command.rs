//! `boundcheck baseline` and `boundcheck check`: read or record each side,
//! decide, then hand the outcome to the renderers and the destinations.
//!
//! Inputs are read and output paths checked before anything runs, so a
//! missing baseline or an unwritable `--junit` path fails in a second, not
//! after minutes of runs. Every error leaves as exit 2 (never 126/127 as the
//! main command's launch errors do): the gate's exit status is 0/1/2 only.

use super::baseline::{self, Measurement, read_measurement};
use super::decide::{decide, differing_hosts};
use super::record::record;
use super::{BaselineSpec, CheckSpec, Current};
use crate::error::Error;
use crate::report::output::{self, OutputDir};
use crate::report::{junit, markdown, text};
use crate::run::Outcome;
use std::path::Path;

/// Record a baseline file.
pub fn run_baseline(spec: &BaselineSpec) -> Result<Outcome, Error> {
    let out = destination(&spec.out).map_err(gate_error)?;
    let b = record(&spec.command, spec.runs, &spec.report_dir, spec.quiet).map_err(gate_error)?;
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
            let b = record(argv, runs, &spec.report_dir, spec.quiet)?;
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
        && let Some((folded, svg)) = super::diff::render(before, after)?
    {
        let dir = crate::report::output::OutputDir::prepare(&spec.report_dir)?;
        dir.write("diff.folded", folded.as_bytes())?;
        let path = dir.write("diff.svg", &svg)?;
        output::to_stderr(
            format!("boundcheck: on-CPU change drawn in {}\n", path.display()).as_bytes(),
        );
    }
    output::to_stderr(&text::render_gate(&outcome));
    let mut md = markdown::render_gate(&outcome);
    md.extend(markdown::render_details(
        "the current run's diagnosis",
        &current.report,
    ));
    output::append_step_summary(&md);
    if let Some((dir, name)) = junit_dest {
        dir.write(&name, &junit::render_gate(&outcome))?;
    }
    Ok(outcome.exit_code())
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
