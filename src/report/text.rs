//! The terminal summary: a dozen lines that answer "what bounds it, how sure,
//! and why", then where the full report is.

use super::Report;
use std::fmt::Write;

/// Threads listed in the summary.
const SUMMARY_THREADS: usize = 4;

pub fn render(report: &Report, files: &[String]) -> Vec<u8> {
    let d = &report.diagnosis;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "boundcheck: {}  (confidence {:.2})",
        d.verdict.as_str(),
        d.confidence
    );
    let _ = writeln!(s, "  {}", d.verdict.meaning());
    let exit = match (report.exit, report.exit_status) {
        (Some(e), Some(st)) if e.signal.is_some() => {
            format!("killed by signal {} (status {st})", e.signal.unwrap_or(0))
        }
        (_, Some(st)) => format!("exit {st}"),
        _ => "attached".to_string(),
    };
    let _ = writeln!(
        s,
        "  run       {} · {:.2} s · {} · {} samples at {:.0} Hz{}",
        // One line whatever the argv holds (`python -c` scripts have newlines).
        shorten(
            &report.command.join(" ").replace(['\n', '\r', '\t'], " "),
            60
        ),
        report.duration_s,
        exit,
        report.sampling.samples,
        report.sampling.achieved_rate_hz,
        if report.interrupted {
            " · INTERRUPTED (partial)".to_string()
        } else if let Some(limit) = report.timed_out_after_s {
            format!(" · STOPPED by --timeout after {limit:.1} s (partial)")
        } else {
            String::new()
        }
    );
    for (i, e) in d.evidence.iter().enumerate() {
        let head = if i == 0 {
            "  evidence  "
        } else {
            "            "
        };
        let mark = if e.passed { "✔" } else { "✘" };
        let _ = writeln!(
            s,
            "{head}{mark} {:<28} {:>9} {:<2} {:<8} {}",
            e.rule,
            num(e.observed),
            e.comparison,
            num(e.threshold),
            e.unit
        );
    }
    if let Some(site) = &d.site {
        let what = site.share_of();
        let _ = writeln!(
            s,
            "  where     {} — {:.0}% {what}",
            site.at.label(),
            site.at.share * 100.0
        );
    }
    s.push_str(&super::budget::text(d));
    if let Some(hot) = report.hot_functions.get("on-cpu") {
        let list = hot
            .iter()
            .filter(|h| h.share >= 0.01)
            .take(3)
            .map(|h| format!("{} {:.0}%", shorten(&h.label(), 50), h.share * 100.0))
            .collect::<Vec<_>>()
            .join(" · ");
        let _ = writeln!(s, "  hot       {list}");
    }
    let _ = writeln!(
        s,
        "  cores     {:.2} of {} busy (this program) · {}",
        d.cores_busy,
        d.cores_available,
        report
            .cores
            .iter()
            .enumerate()
            .map(|(i, c)| format!(
                "cpu{i} {:>3.0}% (usr {:.0} sys {:.0} iowait {:.0})",
                (1.0 - c.idle - c.iowait) * 100.0,
                c.user * 100.0,
                c.system * 100.0,
                c.iowait * 100.0
            ))
            .collect::<Vec<_>>()
            .join(" · ")
    );
    for (i, t) in report.threads.iter().take(SUMMARY_THREADS).enumerate() {
        let head = if i == 0 {
            "  threads   "
        } else {
            "            "
        };
        let mut states: Vec<(&String, &f64)> =
            t.shares.iter().filter(|(_, v)| **v >= 0.01).collect();
        states.sort_by(|a, b| b.1.total_cmp(a.1));
        let split = states
            .iter()
            .map(|(k, v)| format!("{k} {:.0}%", **v * 100.0))
            .collect::<Vec<_>>()
            .join(", ");
        let id = format!("{}/{}", t.pid, t.tid);
        let gil = match (t.gil_held, t.gil_wait) {
            (Some(h), Some(w)) if h + w >= 0.01 => {
                format!(" · GIL held {:.0}%, waited {:.0}%", h * 100.0, w * 100.0)
            }
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "{head}{:<15} {id:<13} cpu {:>6.2} s  {split}{gil}",
            shorten(&t.name, 15),
            t.cpu_s
        );
    }
    for (i, g) in report
        .thread_groups
        .iter()
        .take(SUMMARY_THREADS)
        .enumerate()
    {
        let head = if i == 0 {
            "  by name   "
        } else {
            "            "
        };
        let mut states: Vec<(&String, &f64)> =
            g.shares.iter().filter(|(_, v)| **v >= 0.01).collect();
        states.sort_by(|a, b| b.1.total_cmp(a.1));
        let split: Vec<String> = states
            .iter()
            .map(|(k, v)| format!("{k} {:.0}%", **v * 100.0))
            .collect();
        let count = format!("×{}", g.threads);
        let _ = writeln!(
            s,
            "{head}{:<15} {count:<13} cpu {:>6.2} s  {}",
            shorten(&g.name, 15),
            g.cpu_s,
            split.join(", ")
        );
    }
    for (i, c) in d.caveats.iter().enumerate() {
        let head = if i == 0 {
            "  caveats   "
        } else {
            "            "
        };
        let _ = writeln!(s, "{head}{}: {}", c.code, c.message);
    }
    if !files.is_empty() {
        let _ = writeln!(s, "  report    {}", files.join(", "));
    }
    s.into_bytes()
}

fn num(v: f64) -> String {
    if (v.fract() == 0.0 && v.abs() < 1e9) || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// `s` cut to `max` characters, the last one an ellipsis when cut.
pub(crate) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

/// The re-run table and the recommendation sentence.
pub fn render_recommendation(rec: &crate::rerun::Recommendation, files: &[String]) -> Vec<u8> {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nre-runs: {} run{} of each, interleaved{}",
        rec.runs_per_experiment,
        if rec.runs_per_experiment == 1 {
            ""
        } else {
            "s"
        },
        if rec.interrupted {
            " · INTERRUPTED (finished runs only)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "  {:<30} {:>8}   {:<15} speedup vs as-is",
        "strategy", "median", "spread"
    );
    for e in &rec.experiments {
        match (e.median_s, e.min_s, e.max_s) {
            (Some(m), Some(lo), Some(hi)) => {
                let mark = match (e.kind.as_str(), e.significant) {
                    ("as-is", _) => "",
                    (_, true) => "  ✔ significant",
                    (_, false) => "  (not significant)",
                };
                // Milliseconds matter for short runs (native code).
                let d = if m < 0.1 { 3 } else { 2 };
                let _ = writeln!(
                    s,
                    "  {:<30} {:>6.d$} s   {:<15} {:.2}x{mark}",
                    shorten(&e.label, 30),
                    m,
                    format!("{lo:.d$}–{hi:.d$} s"),
                    e.speedup.unwrap_or(1.0)
                );
            }
            _ => {
                let why = e.error.as_deref().unwrap_or(e.status.as_str());
                let _ = writeln!(s, "  {:<30} {}: {}", shorten(&e.label, 30), e.status, why);
            }
        }
    }
    for n in &rec.not_measured {
        let _ = writeln!(
            s,
            "  {:<30} not measured: {}",
            n.strategy.as_str(),
            n.reason
        );
    }
    let _ = writeln!(
        s,
        "  {:<30} {:>8}   {:<15} {:.2}x",
        format!("ideal on {} cores", rec.ideal_speedup),
        "",
        "",
        rec.ideal_speedup
    );
    if let (Some(sp), Some(pf)) = (rec.parallel_speedup, rec.parallel_fraction) {
        let _ = writeln!(
            s,
            "  all CPUs vs one: {sp:.2}x, a parallel fraction of {:.0} % (Amdahl)",
            pf * 100.0
        );
    }
    let _ = writeln!(s, "recommendation: {}", rec.sentence);
    for w in &rec.warnings {
        let _ = writeln!(s, "  warning: {w}");
    }
    if !files.is_empty() {
        let _ = writeln!(s, "  report    {}", files.join(", "));
    }
    s.into_bytes()
}

/// The `check` outcome: a headline, then one line per policy with its figures.
pub fn render_gate(o: &crate::gate::GateOutcome) -> Vec<u8> {
    use crate::gate::Status;
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
pub fn render_baseline(b: &crate::gate::baseline::Baseline, path: &str) -> Vec<u8> {
    use crate::rerun::stats::Summary;
    let summary = |f: fn(&crate::rerun::RunResult) -> f64| {
        Summary::of(&b.runs.iter().map(f).collect::<Vec<_>>())
    };
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
