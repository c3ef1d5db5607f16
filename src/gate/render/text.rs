//! The terminal lines of `check` and `baseline`, in the style of the run summary.

use crate::gate::baseline::Baseline;
use crate::gate::{GateOutcome, Status};
use crate::report::text::shorten;
use crate::rerun::RunResult;
use crate::rerun::stats::Summary;
use std::fmt::Write;

/// The `check` outcome: a headline, then one line per policy with its figures.
pub fn render_gate(o: &GateOutcome) -> Vec<u8> {
    let mut s = String::new();
    let count = |st: Status| o.checks.iter().filter(|c| c.status == st).count();
    let headline = if o.host_error() {
        "ERROR — the host differs and --require-same-host is set".to_string()
    } else if o.failures() > 0 {
        format!(
            "REGRESSION — {} of {} policies failed",
            o.failures(),
            o.checks.len()
        )
    } else {
        format!(
            "within policy — {} passed, {} not tested",
            count(Status::Pass),
            count(Status::NotTested)
        )
    };
    let _ = writeln!(s, "\nboundcheck check: {headline}");
    let _ = writeln!(
        s,
        "  baseline  {} · {} run{}",
        o.baseline_source,
        o.baseline_runs,
        if o.baseline_runs == 1 { "" } else { "s" }
    );
    let _ = writeln!(
        s,
        "  current   {} · {} run{} · {}",
        o.current_source,
        o.current_runs,
        if o.current_runs == 1 { "" } else { "s" },
        shorten(&o.command.join(" "), 60)
    );
    for c in &o.checks {
        let mark = match c.status {
            Status::Pass => "✔",
            Status::Fail => "✘",
            Status::NotTested => "–",
        };
        let tag = if c.status == Status::NotTested {
            "not tested: "
        } else {
            ""
        };
        let _ = writeln!(s, "  {mark} {:<15} {tag}{}", c.name, c.detail);
    }
    if o.host_error() {
        let _ = writeln!(
            s,
            "  ✘ {:<15} {}: record the baseline on the same kind of machine, or drop --require-same-host",
            "same-host",
            o.host_differences.join("; ")
        );
    }
    for w in &o.warnings {
        let _ = writeln!(s, "  warning: {w}");
    }
    s.into_bytes()
}

/// What `baseline` recorded, in two lines.
pub fn render_baseline(b: &Baseline, path: &str) -> Vec<u8> {
    let summary = |f: fn(&RunResult) -> f64| Summary::of(&b.runs.iter().map(f).collect::<Vec<_>>());
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nbaseline: {} timed run{} of {} → {path}",
        b.runs.len(),
        if b.runs.len() == 1 { "" } else { "s" },
        shorten(&b.command.join(" "), 60)
    );
    if let (Some(w), Some(c), Some(m)) = (
        summary(|r| r.wall_s),
        summary(|r| r.cpu_s),
        summary(|r| r.peak_rss_bytes as f64),
    ) {
        let _ = writeln!(
            s,
            "  wall median {:.3} s ({:.3}–{:.3}) · CPU {:.3} s · peak memory {:.1} MiB · verdict {} ({:.2})",
            w.median,
            w.min,
            w.max,
            c.median,
            m.median / 1048576.0,
            b.report.diagnosis.verdict.as_str(),
            b.report.diagnosis.confidence
        );
    }
    s.into_bytes()
}
