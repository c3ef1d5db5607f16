//! The one writer of a run's files, used by a profiled run and a replay
//! alike: prepared before launch (a bad `--out` fails in a second, and an
//! earlier run's report is never overwritten silently), written after the
//! diagnosis, rewritten after the re-runs. A write that fails does not stop
//! the others; the first error is kept and returned by [`RunFiles::finish`],
//! after the caller has shown the results, so nothing measured is lost.

use super::format::{self, Inputs};
use super::output::{self, OutputDir, REPORT_FILE, TIMELINE_FILE};
use super::{Report, html, json};
use crate::error::Error;
use crate::timeline::Timeline;
use std::path::Path;

/// What a run's files are drawn from besides the report: its timeline (when
/// there is one) and its flamegraphs as `(file name, bytes)`.
#[derive(Debug, Clone, Copy)]
pub struct Drawn<'a> {
    pub timeline: Option<&'a Timeline>,
    pub flames: &'a [(String, Vec<u8>)],
}

impl<'a> Drawn<'a> {
    fn with(self, report: &'a Report) -> Inputs<'a> {
        Inputs {
            report,
            timeline: self.timeline,
            flames: self.flames,
        }
    }
}

/// A run's output directory and what has gone wrong writing to it.
#[derive(Debug)]
pub struct RunFiles {
    out: OutputDir,
    /// The directory the caller asked for (`--out`).
    asked: std::path::PathBuf,
    /// `--format` extras, as registry entries.
    extras: Vec<&'static format::Format>,
    first_error: Option<Error>,
}

impl RunFiles {
    /// The output directory, never over an earlier run's report unless
    /// `force`: a numbered sibling is used instead ([`RunFiles::announce`]
    /// names it once the run has something to write).
    pub fn prepare(out_dir: &Path, force: bool, extras: &[String]) -> Result<RunFiles, Error> {
        let (out, _) = OutputDir::prepare_fresh(out_dir, force, REPORT_FILE)?;
        Ok(RunFiles {
            out,
            asked: out_dir.to_path_buf(),
            extras: extras.iter().filter_map(|w| format::find(w)).collect(),
            first_error: None,
        })
    }

    /// Say on stderr that the files go to a numbered sibling, when they do
    /// (even with `--quiet`: they are not where the caller asked). Called
    /// once the target has run, beside the summary that names the files: a
    /// command that cannot start writes nothing there, and the directory is
    /// removed again (`abandon`).
    pub fn announce(&self) {
        if let Some(dir) = self.renumbered() {
            output::to_stderr(
                format!(
                    "boundcheck: {} holds an earlier run's {REPORT_FILE}; writing to {dir} instead (--force replaces it)\n",
                    self.asked.display(),
                )
                .as_bytes(),
            );
        }
    }

    /// The directory the files go to.
    pub fn dir(&self) -> &Path {
        self.out.dir()
    }

    /// `report.output_dir`: set only when the files went elsewhere than `--out`.
    pub fn renumbered(&self) -> Option<String> {
        (self.out.dir() != self.asked.as_path()).then(|| self.out.dir().display().to_string())
    }

    /// The files the summary's `report` line names: every file the run
    /// writes (the report, the page, the timeline when one is written, each
    /// flamegraph with its folded stacks, the `--format` extras).
    pub fn listed(&self, with_timeline: bool, flames: &[(String, Vec<u8>)]) -> Vec<String> {
        let mut files = vec![self.out.path(REPORT_FILE), self.out.path(html::HTML_FILE)];
        if with_timeline {
            files.push(self.out.path(TIMELINE_FILE));
        }
        files.extend(flames.iter().map(|(name, _)| self.out.path(name)));
        files.extend(self.extras.iter().map(|f| self.out.path(f.file_name)));
        files.iter().map(|p| p.display().to_string()).collect()
    }

    /// After the diagnosis: the timeline (a live run's; a replay's is on
    /// disk already), the flamegraphs, report.json and the page.
    pub fn write_diagnosis(&mut self, report: &Report, new_timeline: bool, drawn: Drawn) {
        if new_timeline && let Some(tl) = drawn.timeline {
            let written = self
                .out
                .write_with(TIMELINE_FILE, |w| json::write_timeline(tl, w));
            self.keep(written);
        }
        for (name, bytes) in drawn.flames {
            let written = self.out.write(name, bytes);
            self.keep(written);
        }
        self.write_report(report, drawn);
    }

    /// report.json and the page (again, after the re-runs).
    pub fn write_report(&mut self, report: &Report, drawn: Drawn) {
        let written = self.out.write(REPORT_FILE, &json::render_report(report));
        self.keep(written);
        let inputs = drawn.with(report);
        let written = self.out.write(
            html::HTML_FILE,
            &(html::FORMAT.render)(&inputs).unwrap_or_default(),
        );
        self.keep(written);
    }

    /// The `--format` extras (an export drawn from the timeline is left out
    /// when there is none).
    pub fn write_extras(&mut self, report: &Report, drawn: Drawn) {
        let inputs = drawn.with(report);
        for f in self.extras.clone() {
            if let Some(bytes) = f.render(&inputs) {
                let written = self.out.write(f.file_name, &bytes);
                self.keep(written);
            }
        }
    }

    /// The first write error, if any.
    pub fn finish(self) -> Result<(), Error> {
        match self.first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Nothing was run (the launch failed): remove the directory if this run
    /// created it and it is still empty.
    pub fn abandon(self) {
        self.out.remove_if_unused();
    }

    fn keep<T>(&mut self, result: Result<T, Error>) {
        if let Err(e) = result
            && self.first_error.is_none()
        {
            self.first_error = Some(e);
        }
    }
}
