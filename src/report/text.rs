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
            "  where     {} — {:.0}% {what}{}",
            site.at.label(),
            site.at.share * 100.0,
            site.elsewhere_words()
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
        // Two scopes on one line, each named: the program's own CPU use,
        // then each core of the whole machine (other programs included).
        "  cores     this program: {:.2} cores busy of {}; whole machine: {}",
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
    write_threads(&mut s, report);
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

/// `lock-wait 70%, on-cpu 30%`: a thread's OS states, for a run without a
/// budget (an old report).
fn os_split(t: &super::ThreadSummary) -> String {
    let mut states: Vec<(&String, &f64)> = t.shares.iter().filter(|(_, v)| **v >= 0.01).collect();
    states.sort_by(|a, b| b.1.total_cmp(a.1));
    states
        .iter()
        .map(|(k, v)| format!("{k} {:.0}%", **v * 100.0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// ` · GIL held 24%, waited 68%`, beside [`os_split`].
fn gil_split(t: &super::ThreadSummary) -> String {
    match (t.gil_held, t.gil_wait) {
        (Some(h), Some(w)) if h + w >= 0.01 => {
            format!(" · GIL held {:.0}%, waited {:.0}%", h * 100.0, w * 100.0)
        }
        _ => String::new(),
    }
}

/// The busiest threads, then the threads grouped by name.
fn write_threads(s: &mut String, report: &Report) {
    for (i, t) in report.threads.iter().take(SUMMARY_THREADS).enumerate() {
        let head = if i == 0 {
            "  threads   "
        } else {
            "            "
        };
        let id = format!("{}/{}", t.pid, t.tid);
        // The budget's split has told the GIL from a lock and the program's
        // own run queue from other programs; the raw OS states call every
        // futex wait `lock-wait`, which read as a lock under a GIL verdict.
        let budget = report
            .diagnosis
            .budget
            .threads
            .iter()
            .find(|bt| bt.tid == t.tid);
        let (split, gil) = match budget {
            Some(bt) => (super::budget::split(&bt.shares), String::new()),
            None => (os_split(t), gil_split(t)),
        };
        let _ = writeln!(
            *s,
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
            *s,
            "{head}{:<15} {count:<13} cpu {:>6.2} s  {}",
            shorten(&g.name, 15),
            g.cpu_s,
            split.join(", ")
        );
    }
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
    let rows = crate::report::rerun_table::rows(rec);
    // A predicted column only once predictions exist.
    let predicted = crate::report::rerun_table::any_predicted(&rows);
    // As wide as the widest prediction (`1.95x (1.34x–2.00x)`), so columns line up.
    let width = rows
        .iter()
        .filter_map(|r| r.predicted.as_deref())
        .map(|p| p.chars().count())
        .max()
        .unwrap_or(0)
        .max("predicted".len());
    let pcell = |p: Option<&str>| {
        if predicted {
            format!("{:<width$}  ", p.unwrap_or(""))
        } else {
            String::new()
        }
    };
    // Median and spread columns as wide as their widest cell (a run under
    // 0.1 s has three decimals), so every row lines up.
    let widest = |cell: fn(&crate::report::rerun_table::Timing) -> &str, head: &str| {
        rows.iter()
            .filter_map(|r| r.timing.as_ref())
            .map(|t| cell(t).chars().count())
            .max()
            .unwrap_or(0)
            .max(head.len())
    };
    let mw = widest(|t| &t.median, "median");
    let sw = widest(|t| &t.spread, "spread");
    let _ = writeln!(
        s,
        "  {:<30} {}{:>mw$}   {:<sw$}  speedup vs as-is",
        "strategy",
        pcell(Some("predicted")),
        "median",
        "spread"
    );
    for row in &rows {
        let label = shorten(&row.label, 30);
        let pred = pcell(row.predicted.as_deref());
        match (&row.timing, &row.notes) {
            (Some(t), _) => {
                let mark = t.significance();
                let _ = writeln!(
                    s,
                    "  {label:<30} {pred}{:>mw$}   {:<sw$}  {}{}",
                    t.median,
                    t.spread,
                    t.speedup,
                    if mark.is_empty() {
                        String::new()
                    } else {
                        format!("  {mark}")
                    }
                );
            }
            (None, notes) => {
                let _ = writeln!(s, "  {label:<30} {pred}{}", notes.as_deref().unwrap_or(""));
            }
        }
    }
    let _ = writeln!(
        s,
        "  {:<30} {}{:>mw$}   {:<sw$}  {}",
        format!("ideal on {} cores", rec.ideal_speedup),
        pcell(None),
        "",
        "",
        crate::report::rerun_table::times(rec.ideal_speedup)
    );
    if let (Some(sp), Some(pf)) = (rec.parallel_speedup, rec.parallel_fraction) {
        let _ = writeln!(
            s,
            "  all CPUs vs one: {}, a parallel fraction of {:.0} % (Amdahl)",
            crate::report::rerun_table::times(sp),
            pf * 100.0
        );
    }
    // The forecast beyond this machine only for a program that turns this
    // machine's cores into speed: for any other (a serial loop, a program
    // waiting on the network) it reads "0.29x on 16 CPUs", an engine's
    // assumed start-up and nothing to act on. report.json, report.html
    // and the markdown keep it whole.
    let uses_cores = rec.scale_out.as_ref().is_some_and(|so| {
        crate::rerun::scale_out::uses_cores(rec.parallel_speedup, so.measured_cores)
    });
    if uses_cores && let Some(line) = crate::report::rerun_table::scale_out_line(rec) {
        let _ = writeln!(s, "  {line}");
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
