//! Markdown: a compact summary for PR comments and GitHub's step summary
//! (`$GITHUB_STEP_SUMMARY`, written by `output::append_step_summary`) — of
//! a report (verdict, confidence, top evidence, where thread-time went, the
//! re-run table and recommendation when present), of a `check` outcome, and
//! of a recorded baseline. GitHub-flavoured tables; every cell escaped.

use super::Report;
use crate::gate::baseline::Baseline;
use crate::gate::{GateOutcome, Status};
use crate::rerun::stats::Summary;
use std::fmt::Write;

/// Evidence rows shown: the deciding figures come first.
const TOP_EVIDENCE: usize = 5;
/// States below this share of thread-time are left out of the table.
const MIN_SHARE: f64 = 0.005;

pub fn render_report(report: &Report) -> Vec<u8> {
    let d = &report.diagnosis;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### boundcheck: `{}` (confidence {:.2})\n\n{}\n",
        d.verdict.as_str(),
        d.confidence,
        d.verdict.meaning()
    );
    let mut facts = vec![
        code(&report.command.join(" ")),
        format!("{:.2} s", report.duration_s),
    ];
    if let Some(st) = report.exit_status {
        facts.push(format!("exit {st}"));
    }
    facts.push(format!(
        "{} samples at {:.0} Hz",
        report.sampling.samples, report.sampling.achieved_rate_hz
    ));
    facts.push(format!(
        "{:.2} of {} CPUs busy",
        d.cores_busy, d.cores_available
    ));
    if let Some(v) = &report.python_version {
        facts.push(format!("Python {v}"));
    }
    if report.interrupted {
        facts.push("**interrupted (partial)**".into());
    }
    let _ = writeln!(s, "{}\n", facts.join(" · "));
    if !d.evidence.is_empty() {
        let _ = writeln!(
            s,
            "| evidence | observed | | threshold | unit |\n|---|---:|:-:|---:|---|"
        );
        for e in d.evidence.iter().take(TOP_EVIDENCE) {
            let _ = writeln!(
                s,
                "| {} {} | {} | {} | {} | {} |",
                if e.passed { "✔" } else { "✘" },
                code(&e.rule),
                num(e.observed),
                cell(&e.comparison.replace(">=", "≥")),
                num(e.threshold),
                cell(&e.unit)
            );
        }
        s.push('\n');
    }
    s.push_str(&super::budget::markdown(d));
    let mut shares: Vec<(&String, &f64)> =
        d.shares.iter().filter(|(_, v)| **v >= MIN_SHARE).collect();
    shares.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
    if !shares.is_empty() {
        let _ = writeln!(s, "| thread-time in state | share |\n|---|---:|");
        for (state, v) in shares {
            let _ = writeln!(s, "| {} | {:.1} % |", cell(state), v * 100.0);
        }
        s.push('\n');
    }
    if !d.caveats.is_empty() {
        let _ = writeln!(s, "<details><summary>caveats</summary>\n");
        for c in &d.caveats {
            let _ = writeln!(s, "- {}: {}", code(&c.code), line(&c.message));
        }
        let _ = writeln!(s, "\n</details>\n");
    }
    if let Some(rec) = &report.recommendation {
        let _ = writeln!(
            s,
            "**Re-runs** ({} run{} of each, interleaved{})\n",
            rec.runs_per_experiment,
            if rec.runs_per_experiment == 1 {
                ""
            } else {
                "s"
            },
            if rec.interrupted { ", interrupted" } else { "" }
        );
        let _ = writeln!(
            s,
            "| strategy | median | spread | speedup vs as-is | |\n|---|---:|---|---:|---|"
        );
        for e in &rec.experiments {
            match (e.median_s, e.min_s, e.max_s) {
                (Some(m), Some(lo), Some(hi)) => {
                    let d = if m < 0.1 { 3 } else { 2 };
                    let mark = match (e.kind.as_str(), e.significant) {
                        ("as-is", _) => "",
                        (_, true) => "✔ significant",
                        (_, false) => "not significant",
                    };
                    let _ = writeln!(
                        s,
                        "| {} | {m:.d$} s | {lo:.d$}–{hi:.d$} s | {:.2}x | {mark} |",
                        cell(&e.label),
                        e.speedup.unwrap_or(1.0)
                    );
                }
                _ => {
                    let why = e.error.as_deref().unwrap_or(e.status.as_str());
                    let _ = writeln!(
                        s,
                        "| {} | | | | {}: {} |",
                        cell(&e.label),
                        cell(&e.status),
                        cell(why)
                    );
                }
            }
        }
        for n in &rec.not_measured {
            let _ = writeln!(
                s,
                "| {} | | | | not measured: {} |",
                n.strategy.as_str(),
                cell(&n.reason)
            );
        }
        let _ = writeln!(s, "\n**Recommendation:** {}\n", line(&rec.sentence));
        for w in &rec.warnings {
            let _ = writeln!(s, "> ⚠️ {}\n", line(w));
        }
    }
    s.into_bytes()
}

/// A report folded under a `<details>` heading (GitHub renders it closed).
pub fn render_details(title: &str, report: &Report) -> Vec<u8> {
    let mut out = format!("<details><summary>{}</summary>\n\n", cell(title)).into_bytes();
    out.extend(render_report(report));
    out.extend_from_slice(b"</details>\n\n");
    out
}

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

/// Text safe inside a table cell: no pipes breaking the row, no newlines.
fn cell(text: &str) -> String {
    line(text).replace('|', "\\|")
}

/// Text on one line.
fn line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An inline code span that survives backticks in the text (outside tables).
fn code(text: &str) -> String {
    let text = line(text);
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    if longest == 0 {
        format!("`{text}`")
    } else {
        let fence = "`".repeat(longest + 1);
        format!("{fence} {text} {fence}")
    }
}

fn num(v: f64) -> String {
    if (v.fract() == 0.0 && v.abs() < 1e9) || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_and_code_spans_are_escaped() {
        assert_eq!(cell("a | b\nc"), "a \\| b c");
        assert_eq!(code("python3 app.py"), "`python3 app.py`");
        assert_eq!(code("echo `date`"), "`` echo `date` ``");
    }
}
