//! The readers of boundcheck's own files (`read_report`, `read_timeline`)
//! meet files that were truncated by a full disk, edited by hand, written by
//! a newer boundcheck or are not JSON at all. Corpus-based property tests:
//! start from real files (`fixtures/timelines`, `fixtures/golden`), derive
//! thousands of broken variants with a seeded generator (the same every run,
//! so a failure reproduces), and require for each one: a clear error naming
//! the file, or a value that the whole replay chain (diagnose, report, text
//! and JSON renderers) handles without a panic.
//!
//! The same mutations, unbounded, are the `cargo fuzz` targets in `fuzz/`.

use boundcheck::report::{Report, json, read_report, read_timeline, text};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A tiny xorshift generator: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn manifest(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// A real timeline cut to its first `keep` samples, so each case is cheap.
fn small_timeline(keep: usize) -> Value {
    let text = std::fs::read_to_string(manifest(
        "fixtures/timelines/gil-contended__gil_threads.json",
    ))
    .unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["samples"].as_array_mut().unwrap().truncate(keep);
    v
}

fn real_report() -> Value {
    let text =
        std::fs::read_to_string(manifest("fixtures/golden/gil_threads.report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Values that break assumptions: wrong types, extremes, emptiness.
fn hostile_values(rng: &mut Rng) -> Vec<Value> {
    let deep = (0..200).fold(Value::Null, |acc, _| Value::Array(vec![acc]));
    vec![
        Value::Null,
        Value::Bool(true),
        Value::from(-1),
        Value::from(0),
        Value::from(i64::MIN),
        Value::from(u64::MAX),
        Value::from(1e308),
        Value::from(-1e308),
        Value::from(5e-324),
        Value::from(""),
        Value::from("x".repeat(rng.below(10_000))),
        Value::from("\u{0}\u{fffd}\u{1F600}"),
        Value::Array(vec![]),
        Value::Array(vec![Value::Null; 3]),
        Value::Object(Default::default()),
        deep,
    ]
}

/// Every path (object keys and array indexes) in `v`, arrays sampled.
fn paths(v: &Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(here.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                here.push(Step::Key(k.clone()));
                paths(child, here, out);
                here.pop();
            }
        }
        Value::Array(a) => {
            // The first two and the last element stand for the rest.
            let n = a.len();
            let mut idx: Vec<usize> = (0..n.min(2)).collect();
            if n > 2 {
                idx.push(n - 1);
            }
            for i in idx {
                here.push(Step::Index(i));
                paths(&a[i], here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn at<'a>(v: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(v, |v, s| match s {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

fn remove(v: &mut Value, path: &[Step]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    match (at(v, parent), last) {
        (Value::Object(m), Step::Key(k)) => {
            m.remove(k);
        }
        (Value::Array(a), Step::Index(i)) if *i < a.len() => {
            a.remove(*i);
        }
        _ => {}
    }
}

/// Broken variants of one file, as bytes.
fn variants(original: &Value, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed);
    let bytes = serde_json::to_vec(original).unwrap();
    let mut out: Vec<Vec<u8>> = Vec::new();
    // Not JSON, or not an object.
    for s in [
        "",
        " ",
        "\n",
        "null",
        "0",
        "[]",
        "{}",
        "\"x\"",
        "{",
        "}",
        "[[[",
        "\u{feff}{}",
    ] {
        out.push(s.as_bytes().to_vec());
    }
    for _ in 0..40 {
        let n = 1 + rng.below(4096);
        out.push((0..n).map(|_| rng.next() as u8).collect());
    }
    // Nesting far past any sane depth (serde_json stops at 128).
    out.push(format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes());
    out.push("{\"a\":".repeat(50_000).into_bytes());
    // Truncated anywhere (a full disk, a killed writer).
    for _ in 0..150 {
        out.push(bytes[..rng.below(bytes.len())].to_vec());
    }
    // Single bytes flipped, invalid UTF-8 inserted.
    for _ in 0..150 {
        let mut b = bytes.clone();
        let i = rng.below(b.len());
        b[i] = rng.next() as u8;
        out.push(b);
    }
    for _ in 0..20 {
        let mut b = bytes.clone();
        let i = rng.below(b.len());
        b.splice(i..i, [0xff, 0xfe, 0xc0]);
        out.push(b);
    }
    // Numbers JSON does not have, and numbers past f64/u64.
    let text = String::from_utf8(bytes.clone()).unwrap();
    for bad in [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "-1e400",
        "123456789012345678901234567890",
    ] {
        for _ in 0..5 {
            let digits: Vec<usize> = text
                .match_indices(|c: char| c.is_ascii_digit())
                .map(|(i, _)| i)
                .collect();
            let i = digits[rng.below(digits.len())];
            let mut t = text.clone();
            t.replace_range(i..i + 1, bad);
            out.push(t.into_bytes());
        }
    }
    // Structure kept, one value replaced or removed.
    let mut all = Vec::new();
    paths(original, &mut Vec::new(), &mut all);
    for path in &all {
        if path.is_empty() {
            continue;
        }
        let values = hostile_values(&mut rng);
        // Every path gets two random replacements and a removal.
        for _ in 0..2 {
            let mut v = original.clone();
            *at(&mut v, path) = values[rng.below(values.len())].clone();
            out.push(serde_json::to_vec(&v).unwrap());
        }
        let mut v = original.clone();
        remove(&mut v, path);
        out.push(serde_json::to_vec(&v).unwrap());
    }
    out
}

/// What the readers must do with one input: an error naming the file, or a
/// value the replay chain renders without panicking.
fn check_timeline(path: &Path, input: &[u8]) -> bool {
    std::fs::write(path, input).unwrap();
    match read_timeline(path) {
        Ok(tl) => {
            let report = Report::of(&tl);
            let _ = json::render_report(&report);
            let _ = json::render_timeline(&tl);
            let _ = text::render(&report, &[]);
            true
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&path.display().to_string()),
                "error does not name the file: {msg}"
            );
            false
        }
    }
}

fn check_report(path: &Path, input: &[u8]) -> bool {
    std::fs::write(path, input).unwrap();
    match read_report(path) {
        Ok(r) => {
            let _ = json::render_report(&r);
            let _ = text::render(&r, &[]);
            if let Some(rec) = &r.recommendation {
                let _ = text::render_recommendation(rec, &[]);
            }
            true
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&path.display().to_string()),
                "error does not name the file: {msg}"
            );
            false
        }
    }
}

#[test]
fn broken_timelines_give_clear_errors_or_replay_without_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("timeline.json");
    let original = small_timeline(12);
    let cases = variants(&original, 0x5eed_0001);
    let accepted = cases.iter().filter(|c| check_timeline(&path, c)).count();
    eprintln!(
        "timeline variants: {} tried, {accepted} accepted",
        cases.len()
    );
    assert!(cases.len() >= 1000, "{}", cases.len());
    // Not everything is refused: optional fields may go, extra values are fine.
    assert!(accepted > 0 && accepted < cases.len());
}

#[test]
fn broken_reports_give_clear_errors_or_render_without_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let cases = variants(&real_report(), 0x5eed_0002);
    let accepted = cases.iter().filter(|c| check_report(&path, c)).count();
    eprintln!(
        "report variants: {} tried, {accepted} accepted",
        cases.len()
    );
    assert!(cases.len() >= 500, "{}", cases.len());
    assert!(accepted > 0 && accepted < cases.len());
}

#[test]
fn newer_schema_versions_are_refused_with_the_upgrade_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.json");
    let mut tl = small_timeline(2);
    for newer in [2u64, 99, u64::MAX] {
        tl["schema_version"] = Value::from(newer);
        std::fs::write(&path, serde_json::to_vec(&tl).unwrap()).unwrap();
        let msg = read_timeline(&path).unwrap_err().to_string();
        assert!(
            msg.contains("newer boundcheck") && msg.contains("upgrade"),
            "{msg}"
        );
    }
    let mut r = real_report();
    for newer in ["2.0", "2", "10.3", "18446744073709551615.0"] {
        r["schema_version"] = Value::from(newer);
        std::fs::write(&path, serde_json::to_vec(&r).unwrap()).unwrap();
        let msg = read_report(&path).unwrap_err().to_string();
        assert!(msg.contains("newer boundcheck"), "{newer}: {msg}");
    }
    // A newer minor version of the same major is read: minors only add fields.
    r["schema_version"] = Value::from("1.7");
    r["a_field_from_the_future"] = Value::from(1);
    std::fs::write(&path, serde_json::to_vec(&r).unwrap()).unwrap();
    assert!(read_report(&path).is_ok());
}

#[test]
fn a_report_given_to_replay_and_a_timeline_given_as_report_say_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.json");
    std::fs::write(&path, serde_json::to_vec(&real_report()).unwrap()).unwrap();
    let msg = read_timeline(&path).unwrap_err().to_string();
    assert!(msg.contains("is this a report.json"), "{msg}");
    std::fs::write(&path, serde_json::to_vec(&small_timeline(2)).unwrap()).unwrap();
    let msg = read_report(&path).unwrap_err().to_string();
    assert!(msg.contains("not a boundcheck report file"), "{msg}");
}
