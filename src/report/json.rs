//! JSON renderers: the report (pretty, for people and `jq`) and the timeline
//! (compact: it holds every sample and can be large).

use super::Report;
use crate::timeline::Timeline;

/// `report.json` in the format registry.
pub const FORMAT: super::format::Format = super::format::Format {
    name: "json",
    file_name: super::output::REPORT_FILE,
    source: super::format::Source::Report,
    run_extra: false,
    render: |i| Some(render_report(i.report)),
};

pub fn render_report(report: &Report) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(report).unwrap_or_default();
    out.push(b'\n');
    out
}

/// The JSON Schema (draft 2020-12) of `report.json`, generated from the
/// report types so it cannot drift from what [`render_report`] writes; each
/// field's description is its doc comment. It is committed as
/// `docs/report.schema.json` and a test fails when that copy is stale.
pub fn render_report_schema() -> Vec<u8> {
    let schema = schemars::schema_for!(Report);
    let mut out = serde_json::to_vec_pretty(&schema).unwrap_or_default();
    out.push(b'\n');
    out
}

pub fn render_timeline(tl: &Timeline) -> Vec<u8> {
    let mut out = serde_json::to_vec(tl).unwrap_or_default();
    out.push(b'\n');
    out
}

/// [`render_timeline`] into a writer the caller chose (see
/// `OutputDir::write_with`): a long run's timeline is tens of megabytes, and
/// rendering it into a buffer first doubled boundcheck's peak memory.
pub fn write_timeline(tl: &Timeline, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, tl)?;
    w.write_all(b"\n")
}

pub fn render_bench(b: &crate::bench::BenchReport) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(b).unwrap_or_default();
    out.push(b'\n');
    out
}
