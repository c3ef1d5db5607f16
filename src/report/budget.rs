//! The budget and the predictions, spelled for each format: two summary
//! lines, markdown tables, and in the page one bar per thread.
//!
//! The figures come from `diagnosis.budget` and `diagnosis.predictions`;
//! nothing here computes a share, it only lays them out.

use super::html::esc;
use crate::diagnose::budget::{Budget, Part, Shares};
use crate::diagnose::{Diagnosis, Prediction, Strategy};
use crate::rerun::times;
use std::fmt::Write;

/// Parts under this share are left out of a one-line split.
const MIN_SHOWN: f64 = 0.02;
/// Predictions listed in the summary line.
const SUMMARY_PREDICTIONS: usize = 4;

/// The report's spelling of a part, and its colour in the page (the same
/// hues as the state chart where the meaning is the same).
fn label(p: Part) -> (&'static str, &'static str) {
    match p {
        Part::CpuPython => ("cpu-python", "#d62728"),
        Part::CpuNative => ("cpu-native", "#ff9896"),
        Part::RunQueue => ("run-queue", "#8c564b"),
        Part::Preempted => ("preempted", "#c49c94"),
        Part::GilWait => ("gil-wait", "#9467bd"),
        Part::LockWait => ("lock-wait", "#e377c2"),
        Part::Disk => ("disk", "#1f77b4"),
        Part::Network => ("network", "#17becf"),
        Part::Ipc => ("ipc", "#bcbd22"),
        Part::Sleep => ("sleep", "#c7c7c7"),
        Part::Parked => ("parked", "#dbdbdb"),
        Part::Other => ("other", "#7f7f7f"),
    }
}

/// `gil-wait 64% · cpu-python 25% · …`, largest first.
pub fn split(s: &Shares) -> String {
    let mut parts: Vec<(Part, f64)> = Part::ALL
        .iter()
        .map(|&p| (p, s.get(p)))
        .filter(|(_, v)| *v >= MIN_SHOWN)
        .collect();
    parts.sort_by(|a, b| b.1.total_cmp(&a.1));
    parts
        .iter()
        .map(|(p, v)| format!("{} {:.0}%", label(*p).0, v * 100.0))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// `1.20x–2.00x`: a prediction's pessimistic and optimistic ends.
fn low_high(p: &Prediction) -> String {
    format!("{}–{}", times(p.low), times(p.high))
}

/// `1.86x (1.20x–2.00x)`.
fn range(p: &Prediction) -> String {
    format!("{} ({})", times(p.predicted_speedup), low_high(p))
}

/// The summary's `budget` and `predicted` lines.
pub fn text(d: &Diagnosis) -> String {
    let b = &d.budget;
    if b.wall_s <= 0.0 {
        return String::new();
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "  budget    {} ({}; gating: {})",
        split(&b.run),
        b.method,
        gating(b)
    );
    let list = d
        .predictions
        .iter()
        .take(SUMMARY_PREDICTIONS)
        .map(|p| match p.strategy {
            // An estimate, not a bound: native code may be more than 50x
            // faster than CPython and may use more cores too (the cpu
            // workload's native-parallel measured 124x against 35x here).
            Strategy::Native => format!(
                "native {}–{} (an estimate: its Python {}–{}x faster)",
                times(p.predicted_speedup),
                times(p.high.max(p.predicted_speedup)),
                crate::diagnose::predict::NATIVE_FACTOR.0,
                crate::diagnose::predict::NATIVE_FACTOR.1
            ),
            s => format!("{} {}", s.as_str(), range(p)),
        })
        .collect::<Vec<_>>()
        .join(" · ");
    if !list.is_empty() {
        let _ = writeln!(s, "  predicted {list}");
    }
    s
}

fn gating(b: &Budget) -> String {
    match b.gating_threads.len() {
        0 => "none seen".into(),
        1 => "the main thread".into(),
        n => format!("{n} threads"),
    }
}

/// Markdown: the run's budget and the predictions as tables.
pub fn markdown(d: &Diagnosis) -> String {
    let b = &d.budget;
    let mut s = String::new();
    if b.wall_s > 0.0 {
        let _ = writeln!(
            s,
            "**Where the run's time went** ({}, {:.2} s, gating: {}): {}\n",
            b.method,
            b.wall_s,
            gating(b),
            split(&b.run)
        );
    }
    if !d.predictions.is_empty() {
        s.push_str("| strategy | predicted | low–high | basis |\n|---|---:|---|---|\n");
        for p in &d.predictions {
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} |",
                p.strategy.as_str(),
                times(p.predicted_speedup),
                low_high(p),
                p.basis.replace('|', "\\|")
            );
        }
        s.push('\n');
    }
    s
}

/// One stacked bar (percent widths) for a split of wall time.
fn bar(s: &mut String, shares: &Shares) {
    s.push_str("<div class=\"bar\">");
    for p in Part::ALL {
        let v = shares.get(p);
        if v <= 0.0 {
            continue;
        }
        let (name, colour) = label(p);
        let _ = write!(
            s,
            "<span style=\"width:{:.2}%;background:{colour}\" title=\"{name} {:.1} %\"></span>",
            v * 100.0,
            v * 100.0
        );
    }
    s.push_str("</div>");
}

/// The page's budget section: the run's bar, one bar per thread, and the
/// predictions table.
pub fn html(s: &mut String, d: &Diagnosis) {
    let b = &d.budget;
    if b.wall_s <= 0.0 {
        return;
    }
    let _ = write!(
        s,
        "<section id=\"budget\">\n<h2>Where the time went</h2>\n<p class=\"note\">Wall time by part ({}). The run's bar follows the threads that gate its end: the main thread, and while it waits for others, what they were doing.</p>\n<p class=\"legend\">",
        esc(&b.method)
    );
    for p in Part::ALL {
        let (name, colour) = label(p);
        let _ = write!(
            s,
            "<span><i style=\"background:{colour}\"></i>{name}</span> "
        );
    }
    s.push_str("</p>\n<table class=\"budget\">\n<tbody>\n");
    let _ = write!(s, "<tr><th>run ({:.2} s)</th><td>", b.wall_s);
    bar(s, &b.run);
    let _ = writeln!(s, "</td><td>{}</td></tr>", esc(&split(&b.run)));
    for t in &b.threads {
        let _ = write!(
            s,
            "<tr><td>{}{} {}/{}</td><td>",
            esc(&t.name),
            if t.gating { " ★" } else { "" },
            t.pid,
            t.tid
        );
        bar(s, &t.shares);
        let _ = writeln!(s, "</td><td>{}</td></tr>", esc(&split(&t.shares)));
    }
    s.push_str("</tbody>\n</table>\n");
    if b.threads_omitted > 0 {
        let _ = writeln!(
            s,
            "<p class=\"note\">{} more threads not listed.</p>",
            b.threads_omitted
        );
    }
    s.push_str("<p class=\"note\">★ gates the end of the run.</p>\n");
    if !d.predictions.is_empty() {
        s.push_str("<h3>Predicted speedups</h3>\n<table>\n<thead><tr><th>strategy</th><th class=\"n\">predicted</th><th class=\"n\">low–high</th><th>basis</th></tr></thead>\n<tbody>\n");
        for p in &d.predictions {
            let _ = writeln!(
                s,
                "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                p.strategy.as_str(),
                times(p.predicted_speedup),
                low_high(p),
                esc(&p.basis)
            );
        }
        s.push_str("</tbody>\n</table>\n");
    }
    s.push_str("</section>\n");
}
