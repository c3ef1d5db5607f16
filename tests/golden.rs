//! Golden files: the report a recorded timeline produces, as JSON, as the
//! terminal summary, as markdown and as the HTML page, and the gate's markdown and JUnit
//! outcome on fixture files, must not change by accident. After an intended change,
//! regenerate them with `BOUNDCHECK_BLESS=1 cargo test --test golden` and
//! review the diff.

use boundcheck::gate::Policy;
use boundcheck::gate::baseline::{Measurement, read_measurement};
use boundcheck::gate::decide::decide;
use boundcheck::gate::render::{junit, markdown as gate_markdown};
use boundcheck::report::{Report, html, json, markdown, read_timeline, text};
use std::path::Path;

fn check(golden: &str, actual: &[u8]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/golden")
        .join(golden);
    if std::env::var_os("BOUNDCHECK_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with BOUNDCHECK_BLESS=1 to create it)",
            path.display()
        )
    });
    assert!(
        want == actual,
        "{} differs from the output; if the change is intended, run BOUNDCHECK_BLESS=1 cargo test --test golden\n--- got ---\n{}",
        path.display(),
        String::from_utf8_lossy(actual)
    );
}

fn report_of(timeline: &str) -> Report {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/timelines")
        .join(timeline);
    let tl = read_timeline(&path).unwrap();
    Report::of(&tl)
}

#[test]
fn gil_threads_report_json() {
    let r = report_of("gil-contended__gil_threads.json");
    check("gil_threads.report.json", &json::render_report(&r));
}

#[test]
fn gil_threads_summary_text() {
    let r = report_of("gil-contended__gil_threads.json");
    check(
        "gil_threads.summary.txt",
        &text::render(&r, &["out/report.json".into()]),
    );
}

#[test]
fn disk_fsync_summary_text() {
    let r = report_of("io-disk__disk_fsync.json");
    check("disk_fsync.summary.txt", &text::render(&r, &[]));
}

#[test]
fn gil_threads_summary_markdown() {
    let r = report_of("gil-contended__gil_threads.json");
    check("gil_threads.summary.md", &markdown::render_report(&r));
}

/// A report with re-runs: the re-run table and the recommendation.
#[test]
fn gil_pool_rerun_summary_markdown() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/gate/report_rerun.json");
    let r = boundcheck::report::read_report(&path).unwrap();
    check("gil_pool_rerun.summary.md", &markdown::render_report(&r));
}

fn gate_side(name: &str) -> Measurement {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/gate")
        .join(name);
    let mut m = read_measurement(&path, "baseline").unwrap();
    m.source = name.to_string();
    m
}

#[test]
fn check_regression_markdown_and_junit() {
    let o = decide(
        &gate_side("baseline.json"),
        &gate_side("slow_30pct.json"),
        &Policy::default(),
    );
    check("check_slow_30pct.md", &gate_markdown::render_gate(&o));
    check("check_slow_30pct.junit.xml", &junit::render_gate(&o));
}

#[test]
fn check_verdict_change_on_another_host_markdown() {
    let mut changed = gate_side("verdict_changed.json");
    changed.host = gate_side("other_host.json").host;
    let o = decide(&gate_side("baseline.json"), &changed, &Policy::default());
    check(
        "check_verdict_other_host.md",
        &gate_markdown::render_gate(&o),
    );
}

fn timeline_of(name: &str) -> boundcheck::timeline::Timeline {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/timelines")
        .join(name);
    read_timeline(&path).unwrap()
}

#[test]
fn gil_threads_with_stacks_summary_names_the_waiting_function() {
    let r = report_of("gil-contended__gil_threads_stacks.json");
    let site = r.diagnosis.site.as_ref().expect("a site from stacks");
    assert_eq!(
        (site.state.as_str(), site.at.function.as_str()),
        ("gil-wait", "spin")
    );
    check("gil_threads_stacks.summary.txt", &text::render(&r, &[]));
    check("gil_threads_stacks.report.json", &json::render_report(&r));
}

#[test]
fn flamegraph_folded_stacks_and_svgs_are_pinned() {
    use boundcheck::report::flame::{View, folded, svg};
    for (name, golden) in [
        (
            "gil-contended__gil_threads_stacks.json",
            "gil_threads_stacks",
        ),
        (
            "lock-contended__lock_fight_stacks.json",
            "lock_fight_stacks",
        ),
    ] {
        let tl = timeline_of(name);
        for view in [View::Cpu, View::Wall] {
            let f = folded(&tl, view);
            check(
                &format!("{golden}.{}.folded", view.file_stem()),
                f.as_bytes(),
            );
            let drawn = svg(&tl, &f, view).unwrap().expect("samples to draw");
            check(&format!("{golden}.{}.svg", view.file_stem()), &drawn);
        }
    }
}

/// The flamegraphs a run writes beside its report: the production function itself.
fn flamegraphs_of(tl: &boundcheck::timeline::Timeline) -> Vec<(String, Vec<u8>)> {
    boundcheck::report::flame::flamegraphs(tl).expect("flamegraphs render")
}

/// The whole page of a run with Python stacks: charts from its timeline,
/// both flamegraphs embedded, hot functions, caveats.
#[test]
fn gil_threads_stacks_report_html() {
    let tl = timeline_of("gil-contended__gil_threads_stacks.json");
    let r = Report::of(&tl);
    let page = html::render(&r, Some(&tl), &flamegraphs_of(&tl));
    check("gil_threads_stacks.report.html", &page);
}

/// A report with re-runs and nothing beside it: the re-run table and the
/// recommendation, and notes where the charts and flamegraphs would be.
#[test]
fn gil_pool_rerun_report_html_without_timeline() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/gate/report_rerun.json");
    let r = boundcheck::report::read_report(&path).unwrap();
    let page = html::render(&r, None, &[]);
    check("gil_pool_rerun.report.html", &page);
}

/// A 52 s pool that saturates 2 CPUs (1.9x from 2 over one) re-judged from
/// synthetic runs: the scale-out forecast line and the `ray` recommendation
/// in the summary and the markdown.
#[test]
fn saturated_pool_scale_out_summary_and_markdown() {
    use boundcheck::diagnose::Verdict;
    use boundcheck::rerun::recommend::{Judgement, recommend};
    use boundcheck::rerun::{Experiment, RunResult};
    let exp = |label: &str, kind: &str, walls: &[f64]| {
        let mut e = Experiment::new(label.into(), kind.into(), None, vec!["python3".into()]);
        e.runs = walls
            .iter()
            .map(|&w| RunResult {
                wall_s: w,
                cpu_s: 2.0 * w,
                peak_rss_bytes: 0,
                exit_status: 0,
                written_bytes: None,
                children: None,
            })
            .collect();
        let mut sorted = walls.to_vec();
        sorted.sort_by(f64::total_cmp);
        e.median_s = Some(sorted[sorted.len() / 2]);
        e.min_s = sorted.first().copied();
        e.max_s = sorted.last().copied();
        e
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/gate/report_rerun.json");
    let mut r = boundcheck::report::read_report(&path).unwrap();
    let j = Judgement {
        verdict: Verdict::CpuParallel,
        cores: 2,
        runs: 3,
        predictions: &[],
        python_version: Some("3.11.7"),
        site: Some("crunch (app.py:12)"),
    };
    let rec = recommend(
        &j,
        vec![exp("as-is", "as-is", &[52.0, 52.5, 54.0]), {
            let mut pinned = exp("pinned to 1 CPU", "core-count", &[99.0, 100.0, 103.0]);
            pinned.speedup = Some(0.525);
            pinned.significant_slower = true;
            pinned
        }],
        Vec::new(),
        Vec::new(),
        false,
    );
    check(
        "saturated_pool.summary.txt",
        &text::render_recommendation(&rec, &[]),
    );
    r.recommendation = Some(rec);
    check("saturated_pool.summary.md", &markdown::render_report(&r));
    let page = String::from_utf8(html::render(&r, None, &[])).unwrap();
    assert!(
        page.contains(
            "scale-out forecast (Amdahl&#39;s law fitted to 2 CPUs and one; beyond 2 a model)"
        ) || page.contains(
            "scale-out forecast (Amdahl's law fitted to 2 CPUs and one; beyond 2 a model)"
        ),
        "report.html carries the forecast"
    );

    // A serial program (one CPU as fast as two): the summary leaves the
    // forecast out, report.json keeps it.
    let serial = recommend(
        &Judgement {
            verdict: Verdict::CpuSerial,
            ..j
        },
        vec![
            exp("as-is", "as-is", &[52.0, 52.5, 54.0]),
            exp("pinned to 1 CPU", "core-count", &[52.0, 53.0, 53.5]),
        ],
        Vec::new(),
        Vec::new(),
        false,
    );
    assert!(serial.scale_out.is_some(), "the report keeps the forecast");
    let summary = String::from_utf8(text::render_recommendation(&serial, &[])).unwrap();
    assert!(summary.contains("all CPUs vs one"), "{summary}");
    assert!(!summary.contains("scale-out forecast"), "{summary}");
}
