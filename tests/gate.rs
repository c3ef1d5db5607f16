//! The CI gate through the real binary: `check` on fixture files in
//! `fixtures/gate/` (how each was made: its README), exit statuses 0/1/2,
//! JUnit XML, the step summary, and one live `baseline` + `check`.

mod common;
use common::*;
use std::path::Path;
use std::process::Output;

fn gate_fixture(name: &str) -> String {
    fixture(&format!("gate/{name}"))
        .to_str()
        .expect("utf-8 path")
        .to_string()
}

/// `boundcheck check --baseline B --current C EXTRA…`.
fn check_files(baseline: &str, current: &str, extra: &[&str]) -> Output {
    bin()
        .args(["check", "--baseline"])
        .arg(gate_fixture(baseline))
        .arg("--current")
        .arg(gate_fixture(current))
        .args(extra)
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .expect("run boundcheck")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_same_file_on_both_sides_is_within_policy() {
    let o = check_files("baseline.json", "baseline.json", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("within policy"), "{}", stderr(&o));
}

#[test]
fn a_verdict_change_fails() {
    let o = check_files("baseline.json", "verdict_changed.json", &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("REGRESSION — 1 of 5 policies failed"), "{err}");
    assert!(
        err.contains("✘ verdict") && err.contains("changed class from cpu-serial"),
        "{err}"
    );
}

#[test]
fn a_five_percent_noise_level_change_passes() {
    let o = check_files("baseline.json", "noise_5pct.json", &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("(+5.0 %)"), "{err}");
}

#[test]
fn a_thirty_percent_significant_slowdown_fails_with_its_confidence() {
    let o = check_files("baseline.json", "slow_30pct.json", &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("✘ wall-time"), "{err}");
    assert!(
        err.contains("(+30.0 %), more than the +10 % allowed"),
        "{err}"
    );
    assert!(err.contains("significant (p = 0.004"), "{err}");
    // A looser policy lets the same change through.
    let o = check_files(
        "baseline.json",
        "slow_30pct.json",
        &["--max-regression", "40%"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn a_missing_baseline_is_exit_2_and_says_how_to_record_one() {
    let o = check_files("no-such-baseline.json", "baseline.json", &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot read the baseline"), "{err}");
    assert!(err.contains("boundcheck baseline -- CMD"), "{err}");
}

#[test]
fn a_missing_baseline_fails_before_the_command_runs() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let o = bin()
        .args(["check", "--quiet", "--baseline"])
        .arg(dir.path().join("none.json"))
        .args(["--", "touch"])
        .arg(&marker)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        !marker.exists(),
        "the command must not run without a baseline"
    );
}

#[test]
fn a_corrupt_baseline_is_exit_2_with_a_clear_message() {
    let o = check_files("corrupt.json", "baseline.json", &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("corrupt.json is not a boundcheck baseline or report file: not valid JSON"),
        "{err}"
    );
}

#[test]
fn a_newer_schema_is_exit_2_and_says_to_upgrade() {
    let o = check_files("newer_schema.json", "baseline.json", &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("was written by a newer boundcheck (schema 2.0, this one reads up to 1.0)"),
        "{err}"
    );
}

#[test]
fn a_timeline_is_not_a_baseline() {
    let o = bin()
        .args(["check", "--baseline"])
        .arg(fixture("timelines/idle__sleeper.json"))
        .arg("--current")
        .arg(gate_fixture("baseline.json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("\"boundcheck-timeline\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_different_host_warns_and_is_an_error_only_when_required() {
    let o = check_files("baseline.json", "other_host.json", &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("warning: the host differs"), "{err}");
    assert!(err.contains("logical CPUs 2 → 64"), "{err}");
    let o = check_files("baseline.json", "other_host.json", &["--require-same-host"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("ERROR — the host differs"), "{err}");
}

#[test]
fn a_report_json_serves_as_either_side() {
    // A report with re-runs: its as-is runs are the timings.
    let o = check_files("report_rerun.json", "report_rerun.json", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("3 runs"), "{}", stderr(&o));
    // Against a baseline of another program: the commands differ, and it says so.
    let o = check_files("baseline.json", "report_rerun.json", &[]);
    assert!(stderr(&o).contains("the commands differ"), "{}", stderr(&o));
}

/// Failures, errors and skips counted from the XML's test cases.
fn junit_counts(path: &Path) -> (usize, usize, usize, usize) {
    let text = std::fs::read_to_string(path).expect("junit file");
    let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let having = |tag: &str| {
        cases
            .iter()
            .filter(|c| c.children().any(|n| n.has_tag_name(tag)))
            .count()
    };
    let (failures, errors, skipped) = (having("failure"), having("error"), having("skipped"));
    // The counts in the attributes agree with the test cases.
    for suite in doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite") || n.has_tag_name("testsuites"))
    {
        assert_eq!(suite.attribute("tests"), Some(&*cases.len().to_string()));
        assert_eq!(suite.attribute("failures"), Some(&*failures.to_string()));
        assert_eq!(suite.attribute("errors"), Some(&*errors.to_string()));
        assert_eq!(suite.attribute("skipped"), Some(&*skipped.to_string()));
    }
    (cases.len(), failures, errors, skipped)
}

#[test]
fn junit_is_well_formed_with_one_case_per_policy_and_the_right_failures() {
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("sub/gate.xml");
    let o = check_files(
        "baseline.json",
        "slow_30pct.json",
        &["--junit", xml.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        junit_counts(&xml),
        (5, 2, 0, 0),
        "wall-time and cpu-time fail"
    );
    let text = std::fs::read_to_string(&xml).unwrap();
    assert!(text.contains("name=\"wall-time\""), "{text}");

    let o = check_files(
        "baseline.json",
        "baseline.json",
        &["--junit", xml.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(junit_counts(&xml), (5, 0, 0, 0));

    // A gate that could not compare is still a (failing) test in CI.
    let o = check_files(
        "corrupt.json",
        "baseline.json",
        &["--junit", xml.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(junit_counts(&xml), (1, 0, 1, 0));

    let o = check_files(
        "baseline.json",
        "other_host.json",
        &["--junit", xml.to_str().unwrap(), "--require-same-host"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(junit_counts(&xml), (6, 0, 1, 0));
}

#[test]
fn check_appends_its_outcome_to_the_github_step_summary() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("step_summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let o = bin()
        .args(["check", "--baseline"])
        .arg(gate_fixture("baseline.json"))
        .arg("--current")
        .arg(gate_fixture("verdict_changed.json"))
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.starts_with("earlier step\n"),
        "appended, not replaced: {md}"
    );
    assert!(
        md.contains("### boundcheck check: ❌ regression (1 of 5 policies failed)"),
        "{md}"
    );
    assert!(md.contains("| verdict | cpu-serial"), "{md}");
}

#[test]
fn the_main_command_writes_the_step_summary_too() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("step_summary.md");
    let o = bin()
        .args(["replay", "--quiet", "--out"])
        .arg(dir.path().join("out"))
        .arg(fixture("timelines/gil-contended__gil_threads.json"))
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("### boundcheck: `gil-contended`"), "{md}");
}

#[test]
fn baseline_then_check_of_the_same_program_passes() {
    let _g = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("b.json");
    let script = fixture("cpu_serial.py");
    let cmd = ["python3", script.to_str().unwrap(), "0.5"];
    let o = bin()
        .args(["baseline", "--quiet", "--runs", "3", "--out"])
        .arg(&base)
        .arg("--report-dir")
        .arg(dir.path().join("r1"))
        .arg("--")
        .args(cmd)
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let b: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&base).unwrap()).unwrap();
    assert_eq!(b["format"], "boundcheck-baseline");
    assert_eq!(b["runs"].as_array().map(Vec::len), Some(3));
    assert_eq!(b["report"]["diagnosis"]["verdict"], "cpu-serial");
    assert!(b["host"]["logical_cpus"].as_u64() >= Some(1));
    assert!(
        b["cpu_folded"]
            .as_str()
            .is_some_and(|f| f.contains("cpu_serial.py")),
        "the baseline keeps its on-CPU stacks: {}",
        b["cpu_folded"]
    );

    // The two sides are measured seconds apart on a shared machine whose load
    // may change in between (see docs/ci-gating.md, "Where the baseline comes
    // from"): this test proves record → compare → exit 0 end to end, with
    // wide limits; the policies' arithmetic is tested on the fixture files.
    let xml = dir.path().join("gate.xml");
    let o = bin()
        .args(["check", "--quiet", "--max-regression", "50%"])
        .args(["--max-memory-growth", "50%", "--max-efficiency-drop", "30%"])
        .arg("--baseline")
        .arg(&base)
        .arg("--junit")
        .arg(&xml)
        .arg("--report-dir")
        .arg(dir.path().join("r2"))
        .arg("--")
        .args(cmd)
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("within policy"), "{}", stderr(&o));
    assert_eq!(junit_counts(&xml).1, 0);
    assert!(dir.path().join("r2/report.json").exists());
    // Where on-CPU time moved: the differential flamegraph, pids stripped so
    // the same stacks of two runs pair up.
    let diff = std::fs::read_to_string(dir.path().join("r2/diff.folded")).unwrap();
    assert!(
        diff.lines()
            .any(|l| l.starts_with("python3;") && l.contains("cpu_serial.py")),
        "{diff}"
    );
    assert!(dir.path().join("r2/diff.svg").exists());
}

#[test]
fn check_of_a_failing_command_is_exit_2_not_its_status() {
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["check", "--quiet", "--baseline"])
        .arg(gate_fixture("baseline.json"))
        .arg("--report-dir")
        .arg(dir.path())
        .args(["--", "definitely-not-a-command-xyz"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("command not found"), "{}", stderr(&o));
}

#[test]
fn baseline_keeps_an_earlier_report_in_its_report_dir() {
    // Regression: the gate forced its profiled run over `--report-dir`,
    // replacing an earlier run's report silently; it now follows --out's rule.
    let _g = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("r");
    std::fs::create_dir(&reports).unwrap();
    std::fs::write(reports.join("report.json"), "earlier").unwrap();
    let o = bin()
        .args(["baseline", "--quiet", "--runs", "1", "--out"])
        .arg(dir.path().join("b.json"))
        .arg("--report-dir")
        .arg(&reports)
        .args(["--", "sleep", "0.3"])
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(reports.join("report.json")).unwrap(),
        "earlier"
    );
    let moved = dir.path().join("r-2");
    assert!(moved.join("report.json").exists(), "{}", stderr(&o));
    assert!(stderr(&o).contains("r-2"), "{}", stderr(&o));
}

#[test]
fn a_check_whose_command_cannot_start_leaves_no_numbered_directory() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("r");
    std::fs::create_dir(&reports).unwrap();
    std::fs::write(reports.join("report.json"), "earlier").unwrap();
    let o = bin()
        .args(["check", "--quiet", "--baseline"])
        .arg(gate_fixture("baseline.json"))
        .arg("--report-dir")
        .arg(&reports)
        .args(["--", "definitely-not-a-command-xyz"])
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!dir.path().join("r-2").exists(), "{}", stderr(&o));
}
