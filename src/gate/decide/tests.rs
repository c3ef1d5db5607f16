use super::*;
use crate::diagnose::Verdict;
use crate::gate::EXIT_ERROR;
use crate::report::Report;
use crate::rerun::RunResult;

/// A real report (the golden gil_threads one) as the profiled run of a side.
fn report(verdict: Verdict, confidence: f64) -> Report {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/golden/gil_threads.report.json"
    );
    let mut r: Report = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    r.diagnosis.verdict = verdict;
    r.diagnosis.confidence = confidence;
    r
}

/// A side with these wall times; CPU = wall (one busy core of 2), 100 MiB.
fn side(walls: &[f64]) -> Measurement {
    let runs = walls
        .iter()
        .map(|&w| RunResult {
            wall_s: w,
            cpu_s: w,
            peak_rss_bytes: 100 << 20,
            exit_status: 0,
            written_bytes: None,
            children: None,
        })
        .collect();
    let report = report(Verdict::CpuSerial, 0.9);
    Measurement {
        source: "test".into(),
        command: report.command.clone(),
        host: report.host.clone(),
        cores_available: 2,
        runs,
        timed_under_sampler: false,
        report,
        cpu_folded: None,
    }
}

fn check<'a>(o: &'a GateOutcome, name: &str) -> &'a PolicyCheck {
    o.checks.iter().find(|c| c.name == name).unwrap()
}

const BASE: [f64; 5] = [1.00, 1.02, 0.98, 1.01, 0.99];

#[test]
fn same_runs_pass_every_policy() {
    let o = decide(&side(&BASE), &side(&BASE), &Policy::default());
    assert_eq!(o.exit_code(), 0, "{o:#?}");
    assert!(o.checks.iter().all(|c| c.status == Status::Pass), "{o:#?}");
    assert!(o.warnings.is_empty(), "{:?}", o.warnings);
}

#[test]
fn a_five_percent_noise_level_change_passes() {
    let cur: Vec<f64> = BASE.iter().map(|v| v * 1.05).collect();
    let o = decide(&side(&BASE), &side(&cur), &Policy::default());
    let wall = check(&o, "wall-time");
    assert_eq!(wall.status, Status::Pass, "{wall:#?}");
    assert_eq!(wall.change, "+5.0 %");
    assert_eq!(o.exit_code(), 0);
}

#[test]
fn a_thirty_percent_significant_slowdown_fails_wall_and_cpu() {
    let cur: Vec<f64> = BASE.iter().map(|v| v * 1.30).collect();
    let o = decide(&side(&BASE), &side(&cur), &Policy::default());
    for name in ["wall-time", "cpu-time"] {
        let c = check(&o, name);
        assert_eq!(c.status, Status::Fail, "{c:#?}");
        assert!(c.p_value.unwrap() <= ALPHA);
        assert!(c.detail.contains("significant (p = 0.004"), "{}", c.detail);
    }
    assert_eq!(o.failures(), 2);
    assert_eq!(o.exit_code(), 1);
}

#[test]
fn a_slower_median_that_is_not_significant_passes_with_the_reason() {
    // Median +15 %, but the runs overlap: noise cannot be ruled out.
    let cur = [1.15, 0.97, 1.40, 1.16, 1.01];
    let o = decide(&side(&BASE), &side(&cur), &Policy::default());
    let wall = check(&o, "wall-time");
    assert_eq!(wall.status, Status::Pass, "{wall:#?}");
    assert!(wall.detail.contains("not significantly"), "{}", wall.detail);
}

#[test]
fn the_limit_is_tested_not_just_any_slowdown() {
    // Every run 12 % slower, but 1.12 vs 1.10 × baseline is not separable.
    let cur: Vec<f64> = BASE.iter().map(|v| v * 1.12).collect();
    let o = decide(&side(&BASE), &side(&cur), &Policy::default());
    assert_eq!(check(&o, "wall-time").status, Status::Pass);
    // With no allowance the same runs are a significant regression.
    let strict = Policy {
        max_regression: 0.0,
        ..Policy::default()
    };
    let o = decide(&side(&BASE), &side(&cur), &strict);
    assert_eq!(check(&o, "wall-time").status, Status::Fail);
}

#[test]
fn too_few_runs_are_not_tested_and_never_fail() {
    let o = decide(&side(&[1.0, 1.0]), &side(&[2.0, 2.0]), &Policy::default());
    let wall = check(&o, "wall-time");
    assert_eq!(wall.status, Status::NotTested, "{wall:#?}");
    assert!(wall.detail.contains("raise --runs"), "{}", wall.detail);
    assert_eq!(o.exit_code(), 0);
    assert!(smallest_p(3, 3) <= ALPHA && smallest_p(2, 4) > ALPHA && smallest_p(2, 5) <= ALPHA);
}

#[test]
fn a_verdict_change_fails_unless_either_side_is_unsure() {
    let base = side(&BASE);
    let mut cur = side(&BASE);
    cur.report.diagnosis.verdict = Verdict::GilContended;
    cur.report.diagnosis.confidence = 0.7;
    let o = decide(&base, &cur, &Policy::default());
    let v = check(&o, "verdict");
    assert_eq!(v.status, Status::Fail, "{v:#?}");
    assert!(
        v.detail
            .contains("cpu-serial (confidence 0.90) to gil-contended (0.70)"),
        "{}",
        v.detail
    );
    assert_eq!(o.exit_code(), 1);
    cur.report.diagnosis.confidence = 0.3;
    let o = decide(&base, &cur, &Policy::default());
    assert_eq!(check(&o, "verdict").status, Status::NotTested);
    assert_eq!(o.exit_code(), 0);
}

#[test]
fn an_efficiency_drop_fails_beyond_the_limit() {
    // Same wall time, half the CPU time: 50 % → 25 % of 2 CPUs.
    let base = side(&BASE);
    let mut cur = side(&BASE);
    for r in &mut cur.runs {
        r.cpu_s /= 2.0;
    }
    let o = decide(&base, &cur, &Policy::default());
    let e = check(&o, "cpu-efficiency");
    assert_eq!(e.status, Status::Fail, "{e:#?}");
    assert_eq!((e.baseline.as_str(), e.current.as_str()), ("50 %", "25 %"));
    // A 25-point drop is within a 30-point allowance.
    let lax = Policy {
        max_efficiency_drop: 0.30,
        ..Policy::default()
    };
    assert_eq!(
        check(&decide(&base, &cur, &lax), "cpu-efficiency").status,
        Status::Pass
    );
}

#[test]
fn memory_growth_fails_beyond_the_limit() {
    let base = side(&BASE);
    let mut cur = side(&BASE);
    for (i, r) in cur.runs.iter_mut().enumerate() {
        r.peak_rss_bytes = (130 << 20) + i as u64 * 4096;
    }
    let o = decide(&base, &cur, &Policy::default());
    let m = check(&o, "peak-memory");
    assert_eq!(m.status, Status::Fail, "{m:#?}");
    assert_eq!(m.change, "+30.0 %");
    // An unsampled peak (0) is not tested rather than a 100 % drop.
    cur.runs[0].peak_rss_bytes = 0;
    assert_eq!(
        check(&decide(&base, &cur, &Policy::default()), "peak-memory").status,
        Status::NotTested
    );
}

#[test]
fn a_different_host_warns_or_is_an_error_when_required() {
    let base = side(&BASE);
    let mut cur = side(&BASE);
    cur.host.cpu_model = "Other CPU".into();
    cur.host.logical_cpus = 64;
    let o = decide(&base, &cur, &Policy::default());
    assert_eq!(o.exit_code(), 0);
    assert!(
        o.warnings[0].contains("the host differs"),
        "{:?}",
        o.warnings
    );
    assert!(
        o.warnings[0].contains("logical CPUs 2 → 64"),
        "{:?}",
        o.warnings
    );
    let strict = Policy {
        require_same_host: true,
        ..Policy::default()
    };
    let o = decide(&base, &cur, &strict);
    assert_eq!(o.exit_code(), EXIT_ERROR);
    assert_eq!(o.host_differences.len(), 2);
}

#[test]
fn a_host_error_outranks_a_regression() {
    let base = side(&BASE);
    let mut cur = side(&[2.0, 2.0, 2.0, 2.0, 2.0]);
    cur.cores_available = 1;
    let strict = Policy {
        require_same_host: true,
        ..Policy::default()
    };
    assert_eq!(decide(&base, &cur, &strict).exit_code(), EXIT_ERROR);
}

#[test]
fn a_change_that_rounds_to_nothing_reads_as_unchanged() {
    // 0.03 % faster: shown as +0.0 %, which must not say "less than before".
    let cur: Vec<f64> = BASE.iter().map(|v| v * 0.9997).collect();
    let o = decide(&side(&BASE), &side(&cur), &Policy::default());
    let wall = check(&o, "wall-time");
    assert!(
        wall.detail.contains("(+0.0 %): unchanged"),
        "{}",
        wall.detail
    );
    // A real improvement still says so.
    let cur: Vec<f64> = BASE.iter().map(|v| v * 0.8).collect();
    let o = decide(&side(&BASE), &side(&cur), &Policy::default());
    assert!(check(&o, "wall-time").detail.ends_with("less than before"));
}
