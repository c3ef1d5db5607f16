//! `boundcheck replay TIMELINE`: diagnose a recorded timeline again and write
//! the report beside a live run's, without a process.

use super::Outcome;
use crate::error::Error;
use crate::report::run_files::{Drawn, RunFiles};
use crate::report::{Report, json, markdown, output, read_timeline, text};
use crate::spec::ReplaySpec;

pub fn run(spec: &ReplaySpec) -> Result<Outcome, Error> {
    // Read first: the timeline may live in the output directory.
    let tl = read_timeline(&spec.timeline)?;
    let o = &spec.output;
    let mut files = RunFiles::prepare(&o.out_dir, o.force, &o.exports)?;
    files.announce();
    let mut report = Report::of(&tl);
    report.output_dir = files.renumbered();
    if o.json {
        output::to_stdout(&json::render_report(&report));
    } else {
        output::to_stderr(&text::render(&report, &files.listed(false, &[])));
    }
    if o.step_summary {
        output::append_step_summary(&markdown::render_report(&report));
    }
    // The timeline is on disk already: it draws the page's time charts only.
    let drawn = Drawn {
        timeline: Some(&tl),
        flames: &[],
    };
    files.write_diagnosis(&report, false, drawn);
    files.write_extras(&report, drawn);
    files.finish()?;
    Ok(Outcome { exit_code: 0 })
}
