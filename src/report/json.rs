//! JSON renderers: the report (pretty, for people and `jq`) and the timeline
//! (compact: it holds every sample and can be large).

use super::Report;
use crate::timeline::Timeline;

pub fn render_report(report: &Report) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(report).unwrap_or_default();
    out.push(b'\n');
    out
}

pub fn render_timeline(tl: &Timeline) -> Vec<u8> {
    let mut out = serde_json::to_vec(tl).unwrap_or_default();
    out.push(b'\n');
    out
}

pub fn render_bench(b: &crate::bench::BenchReport) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(b).unwrap_or_default();
    out.push(b'\n');
    out
}
