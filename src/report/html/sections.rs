//! The sections of report.html, in reading order: what bounds it and how
//! sure, why (evidence), where in the code, what to trust less, what the
//! re-runs measured, then the pictures (time charts, flamegraphs) and the
//! facts about the run. Each writes one `<section>`, or nothing when the
//! report has nothing for it.

use super::{base64, charts, esc, esc_code_spans};
use crate::report::Report;
use crate::timeline::Timeline;
use std::collections::BTreeMap;
use std::fmt::Write;

/// States below this share of thread-time are left out of share lists.
const MIN_SHARE: f64 = 0.005;

/// The verdict, its meaning, the command and the run in one line.
pub fn header(s: &mut String, r: &Report) {
    let d = &r.diagnosis;
    let _ = write!(
        s,
        "<header>\n<p class=\"kicker\">boundcheck report</p>\n\
         <h1>Verdict: <code id=\"verdict\">{}</code> <small>(confidence {:.2})</small></h1>\n\
         <p class=\"meaning\">{}</p>\n<pre class=\"cmd\">$ {}</pre>\n",
        esc(d.verdict.as_str()),
        d.confidence,
        esc(d.verdict.meaning()),
        esc(&shell_join(&r.command))
    );
    let mut facts = vec![format!("{:.2} s", r.duration_s)];
    match (r.exit, r.exit_status) {
        (Some(e), Some(st)) if e.signal.is_some() => facts.push(format!(
            "killed by signal {} (status {st})",
            e.signal.unwrap_or(0)
        )),
        (_, Some(st)) => facts.push(format!("exit {st}")),
        _ => facts.push("attached".into()),
    }
    facts.push(format!(
        "{} samples at {:.0} Hz",
        r.sampling.samples, r.sampling.achieved_rate_hz
    ));
    facts.push(format!(
        "{:.2} of {} CPUs busy",
        d.cores_busy, d.cores_available
    ));
    if let Some(v) = &r.python_version {
        facts.push(format!("Python {}", esc(v)));
    }
    facts.push(format!("started {}", esc(&r.started_at)));
    let _ = writeln!(s, "<p>{}</p>", facts.join(" · "));
    if r.interrupted {
        s.push_str("<p class=\"warn\"><strong>Interrupted:</strong> boundcheck was stopped before the program ended; this report covers only what ran.</p>\n");
    }
    if let Some(limit) = r.timed_out_after_s {
        let _ = writeln!(
            s,
            "<p class=\"warn\"><strong>Stopped by --timeout</strong> after {limit:.1} s; this report covers only what ran.</p>"
        );
    }
    if let Some(rec) = &r.recommendation {
        let _ = writeln!(
            s,
            "<p class=\"recommend\"><strong>Recommendation:</strong> {}</p>",
            esc_code_spans(&rec.sentence)
        );
    }
    s.push_str("</header>\n");
}

/// Every figure the verdict rests on, beside its threshold.
pub fn evidence(s: &mut String, r: &Report) {
    let d = &r.diagnosis;
    if d.evidence.is_empty() {
        return;
    }
    s.push_str("<section id=\"evidence\">\n<h2>Evidence</h2>\n<table>\n<thead><tr><th></th><th>figure</th><th class=\"n\">observed</th><th class=\"n\">threshold</th><th>unit</th><th>what it measures</th></tr></thead>\n<tbody>\n");
    for e in &d.evidence {
        let (class, mark, word) = if e.passed {
            ("pass", "✔", "holds")
        } else {
            ("fail", "✘", "does not hold")
        };
        let _ = writeln!(
            s,
            "<tr><td class=\"{class}\" title=\"{word}\">{mark}</td><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{} {}</td><td>{}</td><td>{}</td></tr>",
            esc(&e.rule),
            num(e.observed),
            esc(&e.comparison.replace(">=", "≥")),
            num(e.threshold),
            esc(&e.unit),
            esc(&e.meaning)
        );
    }
    s.push_str("</tbody>\n</table>\n</section>\n");
}

/// The code the verdict is about, and the hottest functions in each state.
pub fn site_and_hot(s: &mut String, r: &Report) {
    let site = r.diagnosis.site.as_ref();
    if site.is_none() && r.hot_functions.is_empty() {
        return;
    }
    s.push_str("<section id=\"where\">\n<h2>Where in the code</h2>\n");
    if let Some(site) = site {
        let what = site.share_of();
        let _ = writeln!(
            s,
            "<p><code>{}</code> at <code>{}:{}</code> — {:.0}% {what}{}.</p>",
            esc(&site.at.function),
            esc(&site.at.file),
            site.at.line,
            site.at.share * 100.0,
            esc(&site.elsewhere_words())
        );
    }
    for (state, hot) in &r.hot_functions {
        if hot.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "<h3>Hot functions: {}</h3>\n<table>\n<thead><tr><th>function</th><th>file:line</th><th class=\"n\">samples</th><th class=\"n\">share</th></tr></thead>\n<tbody>",
            esc(state)
        );
        for h in hot {
            let _ = writeln!(
                s,
                "<tr><td><code>{}</code></td><td><code>{}:{}</code></td><td class=\"n\">{}</td><td class=\"n\">{:.1} %</td></tr>",
                esc(&h.function),
                esc(&h.file),
                h.line,
                h.samples,
                h.share * 100.0
            );
        }
        s.push_str("</tbody>\n</table>\n");
    }
    s.push_str("</section>\n");
}

/// Reasons to trust the verdict less, with their fixes.
pub fn caveats(s: &mut String, r: &Report) {
    let d = &r.diagnosis;
    if d.caveats.is_empty() {
        return;
    }
    s.push_str("<section id=\"caveats\">\n<h2>Caveats</h2>\n<ul class=\"caveats\">\n");
    for c in &d.caveats {
        let _ = writeln!(
            s,
            "<li><code>{}</code>: {}</li>",
            esc(c.code.as_str()),
            esc_code_spans(&c.message)
        );
    }
    s.push_str("</ul>\n</section>\n");
}

/// The comparative re-runs: every experiment, then the recommendation.
pub fn reruns(s: &mut String, r: &Report) {
    let Some(rec) = &r.recommendation else {
        if let Some(why) = &r.rerun_skipped {
            let _ = writeln!(
                s,
                "<section id=\"reruns\">\n<h2>Comparative re-runs</h2>\n<p class=\"note\">Not run: {}.</p>\n</section>",
                esc_code_spans(why)
            );
        }
        return;
    };
    let _ = writeln!(
        s,
        "<section id=\"reruns\">\n<h2>Comparative re-runs</h2>\n<p class=\"note\">{} run{} of each alternative, interleaved{}; wall time of the whole run.</p>",
        rec.runs_per_experiment,
        if rec.runs_per_experiment == 1 {
            ""
        } else {
            "s"
        },
        if rec.interrupted {
            ", interrupted (only finished runs count)"
        } else {
            ""
        }
    );
    use crate::report::rerun_table::{self, Mark};
    let rows = rerun_table::rows(rec);
    // A predicted column only once predictions exist.
    let predicted = rerun_table::any_predicted(&rows);
    let _ = writeln!(
        s,
        "<table>\n<thead><tr><th>strategy</th>{}<th class=\"n\">median</th><th class=\"n\">range</th><th class=\"n\">speedup vs as-is</th><th>significance</th></tr></thead>\n<tbody>",
        if predicted {
            "<th class=\"n\">predicted</th>"
        } else {
            ""
        }
    );
    for row in rows {
        let label = match (predicted, &row.predicted) {
            (true, p) => format!(
                "{}</td><td class=\"n\">{}",
                esc(&row.label),
                esc(p.as_deref().unwrap_or(""))
            ),
            (false, _) => esc(&row.label),
        };
        match (&row.timing, &row.notes) {
            (Some(t), _) => {
                let words = esc(&t.significance());
                let mark = match t.mark {
                    Mark::Faster => format!("<span class=\"pass\">{words}</span>"),
                    Mark::Slower => format!("<span class=\"fail\">{words}</span>"),
                    _ => words,
                };
                let _ = writeln!(
                    s,
                    "<tr><td>{label}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{mark}</td></tr>",
                    esc(&t.median),
                    esc(&t.spread),
                    esc(&t.speedup.replace('x', "×"))
                );
            }
            (None, notes) => {
                let _ = writeln!(
                    s,
                    "<tr><td>{label}</td><td colspan=\"4\">{}</td></tr>",
                    esc_code_spans(notes.as_deref().unwrap_or(""))
                );
            }
        }
    }
    s.push_str("</tbody>\n</table>\n");
    if let (Some(sp), Some(frac)) = (rec.parallel_speedup, rec.parallel_fraction) {
        let _ = writeln!(
            s,
            "<p class=\"note\">All CPUs vs one: {} of an ideal {:.0}× (parallel fraction {:.0} %, Amdahl).</p>",
            crate::report::rerun_table::times(sp).replace('x', "×"),
            rec.ideal_speedup,
            frac * 100.0
        );
    }
    if let Some(forecast) = crate::report::rerun_table::scale_out_line(rec) {
        let _ = writeln!(s, "<p class=\"note\">{}</p>", esc(&forecast));
    }
    if !rec.warnings.is_empty() {
        s.push_str("<ul class=\"warn\">\n");
        for w in &rec.warnings {
            let _ = writeln!(s, "<li>{}</li>", esc_code_spans(w));
        }
        s.push_str("</ul>\n");
    }
    s.push_str("</section>\n");
}

/// Where all thread-time went, by state.
pub fn time_split(s: &mut String, r: &Report) {
    let mut shares: Vec<(&String, &f64)> = r
        .diagnosis
        .shares
        .iter()
        .filter(|(_, v)| **v >= MIN_SHARE)
        .collect();
    if shares.is_empty() {
        return;
    }
    shares.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
    s.push_str("<section id=\"states\">\n<h2>Thread-time by state</h2>\n<table class=\"narrow\">\n<thead><tr><th>state</th><th class=\"n\">share of all thread-time</th></tr></thead>\n<tbody>\n");
    for (state, v) in shares {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td class=\"n\">{:.1} %</td></tr>",
            esc(state),
            v * 100.0
        );
    }
    s.push_str("</tbody>\n</table>\n");
    if ["gil-held", "gil-wait", "native-nogil"]
        .iter()
        .any(|k| r.diagnosis.shares.contains_key(*k))
    {
        s.push_str("<p class=\"note\">The GIL states (<code>gil-held</code>, <code>gil-wait</code>, <code>native-nogil</code>) refine <code>on-cpu</code> and <code>lock-wait</code> on ticks with Python stacks, so they overlap the OS states.</p>\n");
    }
    s.push_str("</section>\n");
}

/// The per-core chart, or why there is none.
pub fn core_chart(s: &mut String, r: &Report, tl: Option<&Timeline>) {
    s.push_str("<section id=\"cores\">\n<h2>CPU cores over time</h2>\n");
    match tl.and_then(charts::cores) {
        Some(svg) => {
            let _ = write!(s, "<figure>\n{svg}\n<figcaption>Each band is one CPU of the whole machine (not only this program): user, system, iowait and steal time stacked from the bottom, idle left empty; {} samples drawn in at most {} columns.", tl.map_or(0, |t| t.samples.len()), charts::MAX_COLUMNS);
        }
        None => s.push_str("<figure><figcaption>No chart: drawn from <code>timeline.json</code>, which is not here."),
    }
    if !r.cores.is_empty() {
        let means: Vec<String> = r
            .cores
            .iter()
            .enumerate()
            .map(|(i, c)| {
                format!(
                    "cpu{i} {:.0} % busy (user {:.0}, system {:.0}, iowait {:.0})",
                    (1.0 - c.idle - c.iowait) * 100.0,
                    c.user * 100.0,
                    c.system * 100.0,
                    c.iowait * 100.0
                )
            })
            .collect();
        let _ = write!(s, " Over the run: {}.", means.join(" · "));
    }
    s.push_str("</figcaption></figure>\n</section>\n");
}

/// The per-thread chart and the busiest threads.
pub fn thread_chart(s: &mut String, r: &Report, tl: Option<&Timeline>) {
    s.push_str("<section id=\"threads\">\n<h2>Threads over time</h2>\n");
    match tl.and_then(|t| charts::threads(t).map(|svg| (t, svg))) {
        Some((t, svg)) => {
            let lanes = charts::pick_lanes(t);
            let _ = write!(s, "<figure>\n{svg}\n<figcaption>One lane per thread (its name and id), each stretch coloured by the state it spent most of that stretch in: the Python state where its stack was read, else the OS state, in the colours of <code>wall.svg</code>.");
            if !lanes.rest.is_empty() {
                let _ = write!(
                    s,
                    " {} threads: the {} busiest by CPU time have a lane of their own; the other {} share the last lane, coloured by their most common state.",
                    lanes.shown.len() + lanes.rest.len(),
                    lanes.shown.len(),
                    lanes.rest.len()
                );
            }
            s.push_str("</figcaption></figure>\n");
        }
        None => s.push_str("<p class=\"note\">No chart: drawn from <code>timeline.json</code>, which is not here.</p>\n"),
    }
    if !r.threads.is_empty() {
        s.push_str("<h3>Busiest threads</h3>\n<table>\n<thead><tr><th>thread</th><th class=\"n\">pid/tid</th><th class=\"n\">CPU</th><th>time by state</th><th>GIL</th></tr></thead>\n<tbody>\n");
        for t in &r.threads {
            let gil = match (t.gil_held, t.gil_wait) {
                (Some(h), Some(w)) => format!("held {:.0} %, waited {:.0} %", h * 100.0, w * 100.0),
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td class=\"n\">{}/{}</td><td class=\"n\">{:.2} s</td><td>{}</td><td>{gil}</td></tr>",
                esc(&t.name),
                t.pid,
                t.tid,
                t.cpu_s,
                split(&t.shares)
            );
        }
        s.push_str("</tbody>\n</table>\n");
    }
    if !r.thread_groups.is_empty() {
        s.push_str("<h3>All threads by name</h3>\n<table>\n<thead><tr><th>name</th><th class=\"n\">threads</th><th class=\"n\">CPU</th><th>time by state</th></tr></thead>\n<tbody>\n");
        for g in &r.thread_groups {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{:.2} s</td><td>{}</td></tr>",
                esc(&g.name),
                g.threads,
                g.cpu_s,
                split(&g.shares)
            );
        }
        s.push_str("</tbody>\n</table>\n");
    }
    s.push_str("</section>\n");
}

/// `on-cpu 35 %, lock-wait 65 %`, largest first.
fn split(shares: &BTreeMap<String, f64>) -> String {
    let mut v: Vec<(&String, &f64)> = shares.iter().filter(|(_, v)| **v >= 0.01).collect();
    v.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(k, v)| format!("{} {:.0} %", esc(k), **v * 100.0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The flamegraphs, as images (see the module doc for why).
pub fn flamegraphs(s: &mut String, files: &[(String, Vec<u8>)]) {
    let svgs: Vec<&(String, Vec<u8>)> = files.iter().filter(|(n, _)| n.ends_with(".svg")).collect();
    s.push_str("<section id=\"flamegraphs\">\n<h2>Flamegraphs</h2>\n");
    if svgs.is_empty() {
        s.push_str("<p class=\"note\">None: they are drawn from Python or native stacks, and none were read in this run (or the <code>.svg</code> files are not beside the report).</p>\n</section>\n");
        return;
    }
    for (name, bytes) in svgs {
        let what = match name.as_str() {
            "cpu.svg" => "On-CPU time by stack: where the CPU time goes.",
            "wall.svg" => {
                "Every thread's wall time, under a frame per thread, each stack's leaf marked and coloured by state (<code>[gil-wait]</code>, <code>[lock-wait]</code>, <code>[disk-wait]</code>, …): the off-CPU time an on-CPU profile cannot show."
            }
            "native.svg" => "Native (C, Rust, kernel) call chains on CPU, from perf.",
            _ => "",
        };
        let _ = writeln!(
            s,
            "<figure>\n<img class=\"flame\" alt=\"flamegraph {0}\" src=\"data:image/svg+xml;base64,{1}\">\n<figcaption><code>{0}</code> — {what} Width is time; frames are read bottom-up. The interactive file (click to zoom, search) is <code>{0}</code> beside this report.</figcaption>\n</figure>",
            esc(name),
            base64(bytes)
        );
    }
    s.push_str("</section>\n");
}

/// argv as a shell line: words with spaces or shell characters single-quoted.
pub fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_alphanumeric() || "-_./:=,+@%".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A figure as the tables show it: whole numbers plain, others to 2 places.
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
    fn commands_read_as_shell_lines() {
        let argv = ["python3", "-c", "print('hi')", "a b", ""].map(String::from);
        assert_eq!(
            shell_join(&argv),
            r#"python3 -c 'print('\''hi'\'')' 'a b' ''"#
        );
    }
}
