//! Replay: recorded timelines of real runs feed the same diagnose/report chain
//! as a live run, deterministically. Files in `fixtures/timelines/` are named
//! `<expected-verdict>__<fixture>.json`; `fixtures/timelines/README.md` says
//! how they were captured.

mod common;
use common::*;
use std::path::Path;

#[test]
fn recorded_timelines_replay_to_their_verdict() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/timelines");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let Some((want, _)) = name.strip_suffix(".json").and_then(|n| n.split_once("__")) else {
            continue;
        };
        let r = run_replay(&path, &[]);
        assert_eq!(r.code(), Some(0), "{name}: {}", r.stderr());
        assert_eq!(r.verdict(), want, "{name}: {}", explain(&r));
        // Deterministic: the same file gives the same report, byte for byte.
        let again = run_replay(&path, &["--json"]);
        let first = std::fs::read_to_string(r.out_dir.path().join("report.json")).unwrap();
        assert_eq!(first, again.stdout(), "{name}: replay is deterministic");
        seen += 1;
    }
    assert!(
        seen >= 5,
        "expected recorded timelines in {}",
        dir.display()
    );
}

#[test]
fn replaying_a_report_instead_of_a_timeline_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("report.json");
    std::fs::write(
        &f,
        r#"{"format":"boundcheck-report","schema_version":"1.0"}"#,
    )
    .unwrap();
    let r = run_replay(&f, &[]);
    assert_eq!(r.code(), Some(2));
    assert!(
        r.stderr().contains("replay reads timeline.json"),
        "{}",
        r.stderr()
    );
}

#[test]
fn a_timeline_from_a_newer_version_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("timeline.json");
    std::fs::write(
        &f,
        r#"{"format":"boundcheck-timeline","schema_version":99}"#,
    )
    .unwrap();
    let r = run_replay(&f, &[]);
    assert_eq!(r.code(), Some(2));
    assert!(r.stderr().contains("newer boundcheck"), "{}", r.stderr());
}

#[test]
fn truncated_or_missing_timelines_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("timeline.json");
    std::fs::write(
        &f,
        r#"{"format":"boundcheck-timeline","schema_version":1,"meta":{"#,
    )
    .unwrap();
    let r = run_replay(&f, &[]);
    assert_eq!(r.code(), Some(2));
    assert!(
        r.stderr().contains("is not a boundcheck timeline file"),
        "{}",
        r.stderr()
    );
    let r = run_replay(&dir.path().join("missing.json"), &[]);
    assert_eq!(r.code(), Some(2));
    assert!(r.stderr().contains("cannot read"), "{}", r.stderr());
}

#[test]
fn replay_reading_from_the_output_dir_does_not_clobber_its_input() {
    // `boundcheck replay boundcheck-report/timeline.json` with the default --out.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/timelines");
    let Some(one) = std::fs::read_dir(&src)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
    else {
        panic!("no recorded timeline");
    };
    let dir = tempfile::tempdir().unwrap();
    let tl = dir.path().join("timeline.json");
    std::fs::copy(&one, &tl).unwrap();
    let before = std::fs::read(&tl).unwrap();
    let out = bin()
        .args(["replay"])
        .arg(&tl)
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&tl).unwrap(), before);
    assert!(dir.path().join("report.json").exists());
}
