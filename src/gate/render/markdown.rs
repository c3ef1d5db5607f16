//! Markdown of a `check` outcome and of a recorded baseline, for PR comments
//! and `$GITHUB_STEP_SUMMARY`, in the style of the report's markdown.

use crate::gate::baseline::Baseline;
use crate::gate::{GateOutcome, Status};
use crate::report::markdown::{cell, code, line, render_details};
use crate::rerun::stats::Summary;
use std::fmt::Write;

fn mark(status: Status) -> &'static str {
    match status {
        Status::Pass => "✅ pass",
        Status::Fail => "❌ fail",
        Status::NotTested => "➖ not tested",
    }
}

pub fn render_gate(o: &GateOutcome) -> Vec<u8> {
    let mut s = String::new();
    let tested = o.checks.len();
    let headline = if o.host_error() {
        "⚠️ could not compare: the host differs (--require-same-host)".to_string()
    } else if o.failures() > 0 {
        format!(
            "❌ regression ({} of {tested} policies failed)",
            o.failures()
        )
    } else {
        "✅ within policy".to_string()
    };
    let _ = writeln!(s, "### boundcheck check: {headline}\n");
    let _ = writeln!(
        s,
        "{} · baseline {} ({} runs) vs {} ({} runs)\n",
        code(&o.command.join(" ")),
        code(&o.baseline_source),
        o.baseline_runs,
        if o.current_source == "this run" {
            "this run".to_string()
        } else {
            code(&o.current_source)
        },
        o.current_runs
    );
    let _ = writeln!(
        s,
        "| policy | baseline | current | change | limit | p beyond limit | result |\n|---|---:|---:|---:|---:|---:|---|"
    );
    for c in &o.checks {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            c.name,
            cell(&c.baseline),
            cell(&c.current),
            cell(&c.change),
            cell(&c.limit),
            c.p_value.map(|p| format!("{p:.3}")).unwrap_or_default(),
            mark(c.status)
        );
    }
    s.push('\n');
    for c in o.checks.iter().filter(|c| c.status != Status::Pass) {
        let _ = writeln!(s, "- **{}**: {}", c.name, line(&c.detail));
    }
    if o.host_error() {
        let _ = writeln!(
            s,
            "- **host**: {} — record the baseline on the same kind of machine, or drop --require-same-host",
            line(&o.host_differences.join("; "))
        );
    }
    if o.checks.iter().any(|c| c.status != Status::Pass) || o.host_error() {
        s.push('\n');
    }
    for w in &o.warnings {
        let _ = writeln!(s, "> ⚠️ {}\n", line(w));
    }
    let _ = writeln!(
        s,
        "<sub>p beyond limit: one-sided Mann-Whitney p-value that the change goes beyond the limit; a policy fails only when p ≤ 0.05.</sub>\n"
    );
    s.into_bytes()
}

/// The gate could not run (exit 2): say why where the outcome would be.
pub fn render_gate_error(message: &str) -> Vec<u8> {
    format!("### boundcheck check: ⚠️ error\n\n{}\n\n", line(message)).into_bytes()
}

/// A table row: label, values, how to show one.
type Row = (&'static str, Vec<f64>, fn(f64) -> String);

pub fn render_baseline(b: &Baseline) -> Vec<u8> {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### boundcheck baseline: {} timed runs\n\n{} · {} ({} CPUs available)\n",
        b.runs.len(),
        code(&b.command.join(" ")),
        cell(&b.host.cpu_model),
        b.cores_available
    );
    let _ = writeln!(s, "| | median | min | max |\n|---|---:|---:|---:|");
    let rows: [Row; 3] = [
        (
            "wall time",
            b.runs.iter().map(|r| r.wall_s).collect(),
            |v| format!("{v:.3} s"),
        ),
        ("CPU time", b.runs.iter().map(|r| r.cpu_s).collect(), |v| {
            format!("{v:.3} s")
        }),
        (
            "peak memory",
            b.runs.iter().map(|r| r.peak_rss_bytes as f64).collect(),
            |v| format!("{:.1} MiB", v / 1048576.0),
        ),
    ];
    for (name, values, show) in rows {
        if let Some(x) = Summary::of(&values) {
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {} |",
                show(x.median),
                show(x.min),
                show(x.max)
            );
        }
    }
    s.push('\n');
    let mut out = s.into_bytes();
    out.extend(render_details("the profiled run's diagnosis", &b.report));
    out
}
