//! `boundcheck report DIR`: render a recorded run again, in another format or
//! after an upgrade, without re-running anything.
//!
//! `report.json` is required (it holds the diagnosis and the re-runs); the
//! time charts need `timeline.json` and the page embeds the flamegraph
//! `.svg` files beside it. Those are optional: a directory copied without
//! its (large) timeline still gives a page, with a note where a chart would
//! be, and a warning on stderr says what was missing or unreadable.

use super::Outcome;
use crate::error::Error;
use crate::report::format::{self, Inputs, Source};
use crate::report::output::{self, REPORT_FILE, TIMELINE_FILE};
use crate::report::{read_report, read_timeline};
use crate::spec::{Destination, ReportSpec};
use crate::timeline::Timeline;
use std::path::{Path, PathBuf};

/// The flamegraphs a run writes, in the order the page shows them.
const FLAMEGRAPHS: [&str; 3] = ["cpu.svg", "wall.svg", "native.svg"];

pub fn run(spec: &ReportSpec) -> Result<Outcome, Error> {
    // The command line offers only the registry's words; this guards callers of the library.
    let format = format::find(&spec.format).ok_or_else(|| Error::Render {
        what: format!("the '{}' format", spec.format),
        reason: format!("no such format (there are: {})", format::names().join(", ")),
    })?;
    let (dir, report_path) = locate(&spec.dir)?;
    let report = read_report(&report_path)?;
    let (timeline, flames) = match format.source {
        Source::Report => (None, Vec::new()),
        Source::Page => (
            optional_timeline(&dir.join(TIMELINE_FILE)),
            flamegraphs(&dir),
        ),
        Source::Timeline => (Some(needed_timeline(&dir, format.name)?), Vec::new()),
    };
    let inputs = Inputs {
        report: &report,
        timeline: timeline.as_ref(),
        flames: &flames,
    };
    let bytes = format.render(&inputs).unwrap_or_default();
    let target = match (&spec.output, format.source) {
        (Destination::Stdout, _) | (Destination::Default, Source::Report) => {
            output::to_stdout(&bytes);
            return Ok(Outcome { exit_code: 0 });
        }
        (Destination::File(path), _) => path.clone(),
        (Destination::Default, _) => dir.join(format.file_name),
    };
    let written = output::write_file(&target, &bytes)?;
    output::to_stderr(format!("boundcheck: wrote {}\n", written.display()).as_bytes());
    Ok(Outcome { exit_code: 0 })
}

/// The run's directory and its report.json, from either of them, or an
/// error that says what `DIR` should be.
fn locate(given: &Path) -> Result<(PathBuf, PathBuf), Error> {
    if given.is_file() {
        let dir = given.parent().unwrap_or(Path::new(".")).to_path_buf();
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        return Ok((dir, given.to_path_buf()));
    }
    if !given.is_dir() {
        return Err(Error::ReadFailed {
            path: given.to_path_buf(),
            reason: "no such directory: give the --out directory of a boundcheck run (it holds report.json)".into(),
        });
    }
    let report = given.join(REPORT_FILE);
    if !report.exists() {
        return Err(Error::ReadFailed {
            path: report,
            reason: "not found: is this the --out directory of a boundcheck run?".into(),
        });
    }
    Ok((given.to_path_buf(), report))
}

/// The flamegraph SVGs beside the report, for the page.
fn flamegraphs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut flames = Vec::new();
    for name in FLAMEGRAPHS {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        match std::fs::read(&path) {
            Ok(b) => flames.push((name.to_string(), b)),
            Err(e) => warn(&format!("{} left out: {e}", path.display())),
        }
    }
    flames
}

/// The timeline an export is drawn from, or an error that says so.
fn needed_timeline(dir: &Path, format: &str) -> Result<Timeline, Error> {
    read_timeline(&dir.join(TIMELINE_FILE)).map_err(|e| match e {
        Error::ReadFailed { path, reason } => Error::ReadFailed {
            path,
            reason: format!("{reason} (the {format} export is drawn from timeline.json)"),
        },
        other => other,
    })
}

/// The timeline beside the report, when there is a readable one.
fn optional_timeline(path: &Path) -> Option<Timeline> {
    if !path.exists() {
        warn(&format!(
            "{} not found: the page has no time charts",
            path.display()
        ));
        return None;
    }
    read_timeline(path)
        .map_err(|e| warn(&format!("{e}; the page has no time charts")))
        .ok()
}

fn warn(message: &str) {
    output::to_stderr(format!("boundcheck: warning: {message}\n").as_bytes());
}
