//! `boundcheck report DIR` through the real binary: the page written into the
//! run directory, markdown and json on stdout, a missing timeline, a missing
//! directory, a newer schema, and the formats its help offers.

use super::*;

/// A run directory as `replay` leaves it, with the timeline copied beside
/// the report as a live run leaves it.
fn recorded_run_dir() -> tempfile::TempDir {
    let timeline = fixture("timelines/gil-contended__gil_threads_stacks.json");
    let r = run_replay(&timeline, &["--quiet", "--force"]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    std::fs::copy(&timeline, r.out_dir.path().join("timeline.json")).unwrap();
    std::fs::remove_file(r.out_dir.path().join("report.html")).unwrap();
    r.out_dir
}

#[test]
fn report_subcommand_writes_the_page_into_the_run_directory() {
    let dir = recorded_run_dir();
    let o = bin().arg("report").arg(dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let page = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        page.contains("<code id=\"verdict\">gil-contended</code>"),
        "{page}"
    );
    assert!(
        page.contains("<svg class=\"chart\""),
        "charts from timeline.json"
    );
    assert!(
        stderr.contains("wrote") && stderr.contains("report.html"),
        "{stderr}"
    );
    assert!(o.stdout.is_empty());

    // The report.json itself works as DIR too; --output elsewhere, or stdout.
    let elsewhere = dir.path().join("sub/page.html");
    let o = bin()
        .arg("report")
        .arg(dir.path().join("report.json"))
        .arg("--output")
        .arg(&elsewhere)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), page);
    let o = bin()
        .arg("report")
        .arg(dir.path())
        .args(["-o", "-"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), page);
}

#[test]
fn report_subcommand_renders_markdown_and_json_on_stdout() {
    let dir = recorded_run_dir();
    let o = bin()
        .arg("report")
        .arg(dir.path())
        .args(["--format", "markdown"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.starts_with("### boundcheck: `gil-contended`"), "{md}");
    let o = bin()
        .arg("report")
        .arg(dir.path())
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let again: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(again, original);
    assert!(
        !dir.path().join("report.html").exists(),
        "only html writes a file"
    );
}

#[test]
fn report_subcommand_without_timeline_warns_and_still_writes_the_page() {
    let dir = recorded_run_dir();
    std::fs::remove_file(dir.path().join("timeline.json")).unwrap();
    let o = bin().arg("report").arg(dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("timeline.json not found"), "{stderr}");
    let page = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(page.contains("gil-contended") && !page.contains("<svg class=\"chart\""));
}

#[test]
fn report_subcommand_on_a_missing_directory_is_exit_2_with_what_dir_should_be() {
    let parent = tempfile::tempdir().unwrap();
    let missing = parent.path().join("no-such-run");
    let o = bin().arg("report").arg(&missing).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no-such-run") && stderr.contains("--out directory of a boundcheck run"),
        "{stderr}"
    );
    // A directory that is not a run's: the same, naming report.json.
    let o = bin().arg("report").arg(parent.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("report.json: not found"), "{stderr}");
    assert!(!parent.path().join("report.html").exists());
}

#[test]
fn report_subcommand_refuses_a_newer_schema_with_exit_2() {
    let dir = recorded_run_dir();
    let path = dir.path().join("report.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v["schema_version"] = "2.0".into();
    std::fs::write(&path, v.to_string()).unwrap();
    let o = bin().arg("report").arg(dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("newer boundcheck") && stderr.contains("schema 2.0"),
        "{stderr}"
    );
    assert!(!dir.path().join("report.html").exists());
}

#[test]
fn every_run_and_replay_writes_report_html() {
    let r = run(&["--", "sleep", "0.1"]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let page = std::fs::read_to_string(r.out_dir.path().join("report.html")).unwrap();
    assert!(page.contains(&format!("<code id=\"verdict\">{}</code>", r.verdict())));
    assert!(
        page.contains("<svg class=\"chart\""),
        "charts of the live timeline"
    );
    let r = run_replay(&fixture("timelines/io-disk__disk_fsync.json"), &["--quiet"]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let page = std::fs::read_to_string(r.out_dir.path().join("report.html")).unwrap();
    assert!(page.contains("<code id=\"verdict\">io-disk</code>"));
    assert!(
        page.contains("<svg class=\"chart\""),
        "charts of the replayed timeline"
    );
}

#[test]
fn report_help_offers_only_the_formats_it_renders() {
    let out = bin().args(["report", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    let values: String = help
        .split("possible values:")
        .nth(1)
        .unwrap_or("")
        .split(']')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(
        values, "html, markdown, json, speedscope, pprof, trace",
        "{help}"
    );
    let out = bin()
        .args(["report", "x", "--format", "pdf"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin().arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("report.html"));
}
