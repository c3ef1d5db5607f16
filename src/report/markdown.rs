//! Markdown: a compact summary for PR comments and GitHub's step summary
//! (`$GITHUB_STEP_SUMMARY`, written by `output::append_step_summary`) — of
//! a report (verdict, confidence, top evidence, where thread-time went, the
//! re-run table and recommendation when present). GitHub-flavoured tables;
//! every cell escaped. The gate's own markdown is in `gate/render/`.

use super::Report;
use std::fmt::Write;

/// Evidence rows shown: the deciding figures come first.
const TOP_EVIDENCE: usize = 5;
/// States below this share of thread-time are left out of the table.
const MIN_SHARE: f64 = 0.005;

/// `report.md` in the format registry.
pub const FORMAT: super::format::Format = super::format::Format {
    name: "markdown",
    file_name: "report.md",
    source: super::format::Source::Report,
    run_extra: true,
    render: |i| Some(render_report(i.report)),
};

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
            let _ = writeln!(s, "- {}: {}", code(c.code.as_str()), line(&c.message));
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
        let rows = crate::report::rerun_table::rows(rec);
        let predicted = crate::report::rerun_table::any_predicted(&rows);
        let _ = if predicted {
            writeln!(
                s,
                "| strategy | predicted | median | spread | speedup vs as-is | |\n|---|---:|---:|---|---:|---|"
            )
        } else {
            writeln!(
                s,
                "| strategy | median | spread | speedup vs as-is | |\n|---|---:|---|---:|---|"
            )
        };
        for row in rows {
            let label = match (predicted, &row.predicted) {
                (true, p) => format!("{} | {}", cell(&row.label), p.as_deref().unwrap_or("")),
                (false, _) => cell(&row.label),
            };
            match (&row.timing, &row.notes) {
                (Some(t), _) => {
                    let _ = writeln!(
                        s,
                        "| {label} | {} | {} | {} | {} |",
                        t.median,
                        t.spread,
                        t.speedup,
                        cell(&t.significance())
                    );
                }
                (None, notes) => {
                    let _ = writeln!(
                        s,
                        "| {label} | | | | {} |",
                        cell(notes.as_deref().unwrap_or(""))
                    );
                }
            }
        }
        if let Some(forecast) = crate::report::rerun_table::scale_out_line(rec) {
            let _ = writeln!(s, "\n{}", line(&forecast));
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

/// Text safe inside a table cell: no pipes breaking the row, no newlines.
pub fn cell(text: &str) -> String {
    line(text).replace('|', "\\|")
}

/// Text on one line.
pub fn line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An inline code span that survives backticks in the text (outside tables).
pub fn code(text: &str) -> String {
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
