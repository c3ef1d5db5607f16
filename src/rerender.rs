//! `boundcheck report DIR`: render a recorded run again, in another format or
//! after an upgrade, without re-running anything.
//!
//! `report.json` is required (it holds the diagnosis and the re-runs); the
//! time charts need `timeline.json` and the page embeds the flamegraph
//! `.svg` files beside it. Those are optional: a directory copied without
//! its (large) timeline still gives a page, with a note where a chart would
//! be, and a warning on stderr says what was missing or unreadable.

use crate::error::Error;
use crate::report::output::{self, REPORT_FILE, TIMELINE_FILE};
use crate::report::{html, json, markdown, pprof, read_report, read_timeline, speedscope, trace};
use crate::run::Outcome;
use crate::spec::{Destination, Format, ReportSpec};
use crate::timeline::Timeline;
use std::path::{Path, PathBuf};

/// The flamegraphs a run writes, in the order the page shows them.
const FLAMEGRAPHS: [&str; 3] = ["cpu.svg", "wall.svg", "native.svg"];

pub fn run(spec: &ReportSpec) -> Result<Outcome, Error> {
    let (dir, report_path) = locate(&spec.dir)?;
    let report = read_report(&report_path)?;
    let bytes = match spec.format {
        Format::Json => json::render_report(&report),
        Format::Markdown => markdown::render_report(&report),
        Format::Html => {
            let timeline = optional_timeline(&dir.join(TIMELINE_FILE));
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
            html::render(&report, timeline.as_ref(), &flames)
        }
        export => {
            let path = dir.join(TIMELINE_FILE);
            let timeline = read_timeline(&path).map_err(|e| match e {
                Error::ReadFailed { path, reason } => Error::ReadFailed {
                    path,
                    reason: format!(
                        "{reason} (the {} export is drawn from timeline.json)",
                        export.name()
                    ),
                },
                other => other,
            })?;
            render_export(export, &timeline).unwrap_or_default()
        }
    };
    let target = match (&spec.output, spec.format) {
        (Destination::Stdout, _) | (Destination::Default, Format::Markdown | Format::Json) => {
            output::to_stdout(&bytes);
            return Ok(Outcome { exit_code: 0 });
        }
        (Destination::File(path), _) => path.clone(),
        (Destination::Default, format) => dir.join(format.file_name()),
    };
    let written = output::write_file(&target, &bytes)?;
    output::to_stderr(format!("boundcheck: wrote {}\n", written.display()).as_bytes());
    Ok(Outcome { exit_code: 0 })
}

/// The bytes of a timeline export (`None` for formats drawn from the report).
pub fn render_export(format: Format, timeline: &Timeline) -> Option<Vec<u8>> {
    Some(match format {
        Format::Speedscope => speedscope::render(timeline),
        Format::Pprof => pprof::render(timeline),
        Format::Trace => trace::render(timeline),
        Format::Html | Format::Markdown | Format::Json => return None,
    })
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

/// The timeline beside the report, when there is a readable one.
fn optional_timeline(path: &Path) -> Option<crate::timeline::Timeline> {
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
