//! The format registry: every format a run's report can be rendered in, with
//! its `--format` word, its file name in a run's directory and its renderer.
//! It is the one render dispatch: `boundcheck report --format`, a run's
//! `--format` extras and the files every run writes all go through
//! [`Format::render`].
//!
//! **Adding a format** is one new file and one line: write
//! `report/myformat.rs` with a renderer returning bytes and a
//! `pub const FORMAT: Format`, then list it in [`ALL`]. The command line's
//! word lists, the file name and the dispatch follow from the entry.

use super::{Report, html, json, markdown, pprof, speedscope, trace};
use crate::timeline::Timeline;

/// Every format, in the order `--help` lists them.
pub const ALL: &[Format] = &[
    html::FORMAT,
    markdown::FORMAT,
    json::FORMAT,
    speedscope::FORMAT,
    pprof::FORMAT,
    trace::FORMAT,
];

/// What a renderer draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `report.json` alone.
    Report,
    /// The report, with the timeline's charts and the flamegraphs when present.
    Page,
    /// `timeline.json` (needed: the export is drawn from the samples).
    Timeline,
}

/// What a renderer may draw from: a run's report, its timeline when there is
/// one, and its flamegraphs as `(file name, bytes)`.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub report: &'a Report,
    pub timeline: Option<&'a Timeline>,
    pub flames: &'a [(String, Vec<u8>)],
}

/// One format of the registry.
#[derive(Debug, Clone, Copy)]
pub struct Format {
    /// The `--format` word.
    pub name: &'static str,
    /// The file it is written to in a run's directory.
    pub file_name: &'static str,
    pub source: Source,
    /// Offered by a run's `--format` (report.json and report.html are
    /// always written, so they are not).
    pub run_extra: bool,
    /// The bytes; `None` when a [`Source::Timeline`] format has no timeline.
    pub render: fn(&Inputs) -> Option<Vec<u8>>,
}

impl Format {
    pub fn render(&self, inputs: &Inputs) -> Option<Vec<u8>> {
        (self.render)(inputs)
    }
}

/// The format of a `--format` word.
pub fn find(name: &str) -> Option<&'static Format> {
    ALL.iter().find(|f| f.name == name)
}

/// Every `--format` word of `boundcheck report`.
pub fn names() -> Vec<&'static str> {
    ALL.iter().map(|f| f.name).collect()
}

/// The `--format` words of a run: the extras beside report.json and report.html.
pub fn extra_names() -> Vec<&'static str> {
    ALL.iter().filter(|f| f.run_extra).map(|f| f.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_file_names_are_unique() {
        let mut names = names();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        let mut files: Vec<_> = ALL.iter().map(|f| f.file_name).collect();
        files.sort_unstable();
        files.dedup();
        assert_eq!(files.len(), ALL.len());
        assert_eq!(extra_names(), ["markdown", "speedscope", "pprof", "trace"]);
    }
}
