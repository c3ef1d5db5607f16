//! The export formats, checked against each format's own definition rather
//! than against our reading of it:
//! - speedscope JSON against speedscope's published JSON Schema;
//! - pprof decoded by an independent protobuf decoder (`prost-reflect`)
//!   against the official `profile.proto` (both vendored in
//!   `fixtures/schemas/`, with their sources);
//! - the Chrome trace for well-formed events whose durations add up to each
//!   thread's observed time (no Trace Event Format schema or reader can be
//!   installed here: Perfetto's trace processor downloads a binary at run time);
//! - `report.json` against `docs/report.schema.json`, which is generated from
//!   the report types and must be current (`BOUNDCHECK_BLESS=1` regenerates it).
//!
//! Every recorded timeline in `fixtures/timelines/` goes through every format.

use boundcheck::report::flame::{View, folded};
use boundcheck::report::{Report, json, pprof, read_timeline, speedscope, trace};
use boundcheck::timeline::{Frame, NativeProfile, NativeSample, Timeline, short_file};
use prost_reflect::{DescriptorPool, DynamicMessage, Value as Pb};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn timelines() -> Vec<(String, Timeline)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures/timelines"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 10, "the recorded timelines are missing");
    paths
        .into_iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, read_timeline(&p).unwrap())
        })
        .collect()
}

fn timeline(name: &str) -> Timeline {
    read_timeline(&root().join("fixtures/timelines").join(name)).unwrap()
}

/// A program without Python stacks but with perf's native samples (no
/// recorded timeline has them: perf was refused on the recording machine).
fn native_timeline() -> Timeline {
    let mut tl = timeline("cpu-serial__cpu_serial.json");
    let pid = tl.processes[0].pid;
    let mut native = NativeProfile {
        method: "perf cpu-clock 99 Hz".into(),
        rate_hz: 99.0,
        ..Default::default()
    };
    let frame = |name: &str, file: &str, line: u32| Frame {
        name: name.into(),
        file: file.into(),
        line,
    };
    let hot = native.stacks.intern([
        frame("main", "src/main.rs", 3),
        frame("crunch", "src/main.rs", 9),
    ]);
    let sys = native.stacks.intern([
        frame("main", "src/main.rs", 3),
        frame("write", "libc.so.6", 0),
        frame("ksys_write", "[kernel]", 0),
    ]);
    for i in 0..30 {
        native.samples.push(NativeSample {
            pid,
            tid: pid,
            t_s: 0.01 * f64::from(i),
            stack: if i % 3 == 0 { sys } else { hot },
        });
    }
    tl.native = Some(native);
    tl
}

fn validator(schema_file: &Path) -> jsonschema::Validator {
    let schema: Value = serde_json::from_slice(&std::fs::read(schema_file).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .take(5)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}");
}

// ---------------------------------------------------------------- speedscope

#[test]
fn speedscope_files_match_speedscopes_own_schema() {
    let v = validator(&root().join("fixtures/schemas/speedscope-file-format-schema.json"));
    let mut all = timelines();
    all.push(("native".into(), native_timeline()));
    for (name, tl) in &all {
        let doc: Value = serde_json::from_slice(&speedscope::render(tl)).unwrap();
        assert_valid(&v, &doc, name);
        // What the schema cannot say: indices in range, one weight per sample.
        let frames = doc["shared"]["frames"].as_array().unwrap().len() as u64;
        for p in doc["profiles"].as_array().unwrap() {
            let samples = p["samples"].as_array().unwrap();
            assert_eq!(samples.len(), p["weights"].as_array().unwrap().len());
            for s in samples {
                assert!(
                    s.as_array()
                        .unwrap()
                        .iter()
                        .all(|i| i.as_u64().unwrap() < frames)
                );
            }
        }
    }
    // The schema is not a rubber stamp.
    let mut bad: Value = serde_json::from_slice(&speedscope::render(&all[0].1)).unwrap();
    bad["profiles"][0]["unit"] = "minutes".into();
    assert!(!v.is_valid(&bad), "an unknown unit must fail the schema");
}

#[test]
fn speedscope_weights_add_up_to_each_threads_time_and_name_the_hot_function() {
    let tl = timeline("gil-contended__gil_threads_stacks.json");
    let doc: Value = serde_json::from_slice(&speedscope::render(&tl)).unwrap();
    let frames = doc["shared"]["frames"].as_array().unwrap();
    // Each thread's weights sum to the span its stack-reading ticks cover.
    let ticks: Vec<f64> = tl
        .samples
        .iter()
        .filter(|s| s.threads.iter().any(|t| t.stack.is_some()))
        .map(|s| s.t_s)
        .collect();
    for p in doc["profiles"].as_array().unwrap() {
        let total: f64 = p["weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_f64().unwrap())
            .sum();
        let span = p["endValue"].as_f64().unwrap() - p["startValue"].as_f64().unwrap();
        assert!((total - span).abs() < 1e-5, "{}", p["name"]);
        assert!(total <= ticks.last().unwrap() + 1e-6, "{}", p["name"]);
        assert_eq!(p["unit"], "seconds");
        let name = p["name"].as_str().unwrap();
        assert!(name.ends_with(']') && name.contains(" ["), "{name}");
    }
    let site = Report::of(&tl).diagnosis.site.expect("a site");
    assert!(
        frames
            .iter()
            .any(|f| f["name"] == site.at.function.as_str()),
        "{} is not a frame",
        site.at.function
    );
    assert!(frames.iter().any(|f| f["name"] == "[gil-wait]"));
}

#[test]
fn speedscope_gives_native_samples_their_own_profiles() {
    let doc: Value = serde_json::from_slice(&speedscope::render(&native_timeline())).unwrap();
    let native: Vec<&Value> = doc["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"].as_str().unwrap().starts_with("native on-CPU"))
        .collect();
    assert_eq!(native.len(), 1);
    assert_eq!(native[0]["samples"].as_array().unwrap().len(), 30);
    let frames = doc["shared"]["frames"].as_array().unwrap();
    assert!(
        frames
            .iter()
            .any(|f| f["name"] == "crunch" && f["line"] == 9)
    );
}

// --------------------------------------------------------------------- pprof

fn profile_descriptor() -> prost_reflect::MessageDescriptor {
    let dir = root().join("fixtures/schemas");
    let fds = protox::compile([dir.join("profile.proto")], [&dir]).unwrap();
    DescriptorPool::from_file_descriptor_set(fds)
        .unwrap()
        .get_message_by_name("perftools.profiles.Profile")
        .unwrap()
}

fn decode_pprof(gz: &[u8]) -> DynamicMessage {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut raw)
        .expect("gzip");
    let m = DynamicMessage::decode(profile_descriptor(), raw.as_slice()).expect("a Profile");
    assert_no_unknown_fields(&m, "Profile");
    m
}

/// A field written with a wrong number would decode as an unknown field.
fn assert_no_unknown_fields(m: &DynamicMessage, path: &str) {
    assert_eq!(m.unknown_fields().count(), 0, "unknown fields in {path}");
    for (f, v) in m.fields() {
        let children: Vec<&DynamicMessage> = match v {
            Pb::Message(c) => vec![c],
            Pb::List(l) => l.iter().filter_map(|x| x.as_message()).collect(),
            _ => vec![],
        };
        for c in children {
            assert_no_unknown_fields(c, &format!("{path}.{}", f.name()));
        }
    }
}

fn get(m: &DynamicMessage, field: &str) -> Pb {
    m.get_field_by_name(field).unwrap().into_owned()
}

fn int(m: &DynamicMessage, field: &str) -> i64 {
    match get(m, field) {
        Pb::I64(v) => v,
        Pb::U64(v) => v as i64,
        other => panic!("{field}: {other:?}"),
    }
}

fn messages(m: &DynamicMessage, field: &str) -> Vec<DynamicMessage> {
    match get(m, field) {
        Pb::List(l) => l
            .into_iter()
            .map(|v| v.as_message().unwrap().clone())
            .collect(),
        other => panic!("{field}: {other:?}"),
    }
}

fn ints(m: &DynamicMessage, field: &str) -> Vec<i64> {
    match get(m, field) {
        Pb::List(l) => l
            .into_iter()
            .map(|v| v.as_i64().or(v.as_u64().map(|u| u as i64)).unwrap())
            .collect(),
        other => panic!("{field}: {other:?}"),
    }
}

/// One decoded sample: frames outermost first as `(function, file, line)`,
/// its values, its labels.
type DecodedSample = (
    Vec<(String, String, i64)>,
    Vec<i64>,
    BTreeMap<String, String>,
);

/// A decoded pprof profile, resolved into strings.
struct Decoded {
    sample_types: Vec<(String, String)>,
    samples: Vec<DecodedSample>,
    first_string: String,
}

fn resolve(p: &DynamicMessage) -> Decoded {
    let strings: Vec<String> = match get(p, "string_table") {
        Pb::List(l) => l.iter().map(|s| s.as_str().unwrap().to_string()).collect(),
        other => panic!("{other:?}"),
    };
    let s = |i: i64| strings[i as usize].clone();
    let functions: HashMap<u64, (String, String)> = messages(p, "function")
        .iter()
        .map(|f| {
            (
                int(f, "id") as u64,
                (s(int(f, "name")), s(int(f, "filename"))),
            )
        })
        .collect();
    let locations: HashMap<u64, (String, String, i64)> = messages(p, "location")
        .iter()
        .map(|l| {
            let line = &messages(l, "line")[0];
            let (name, file) = functions[&(int(line, "function_id") as u64)].clone();
            (int(l, "id") as u64, (name, file, int(line, "line")))
        })
        .collect();
    let samples = messages(p, "sample")
        .iter()
        .map(|smp| {
            let mut frames: Vec<_> = ints(smp, "location_id")
                .into_iter()
                .map(|id| locations[&(id as u64)].clone())
                .collect();
            frames.reverse();
            let labels = messages(smp, "label")
                .iter()
                .map(|l| {
                    let v = if int(l, "str") != 0 {
                        s(int(l, "str"))
                    } else {
                        int(l, "num").to_string()
                    };
                    (s(int(l, "key")), v)
                })
                .collect();
            (frames, ints(smp, "value"), labels)
        })
        .collect();
    Decoded {
        sample_types: messages(p, "sample_type")
            .iter()
            .map(|t| (s(int(t, "type")), s(int(t, "unit"))))
            .collect(),
        samples,
        first_string: strings[0].clone(),
    }
}

/// On-CPU thread-moments as `cpu.folded` counts them, from the timeline
/// alone: on ticks that read stacks (all ticks without stacks), threads
/// on a CPU, and the seconds since the previous such tick.
fn on_cpu_moments(tl: &Timeline) -> (u64, f64) {
    let any = !tl.stacks.is_empty();
    let (mut n, mut secs, mut last) = (0, 0.0, None::<f64>);
    for s in &tl.samples {
        if any && !s.threads.iter().any(|t| t.stack.is_some()) {
            continue;
        }
        let w = match last {
            Some(l) if any => s.t_s - l,
            _ => s.interval_s,
        };
        last = Some(s.t_s);
        for t in &s.threads {
            let py = t.py.map(|p| p.as_str());
            if t.state.as_str() == "on-cpu" || matches!(py, Some("gil-held" | "native-nogil")) {
                n += 1;
                secs += w;
            }
        }
    }
    (n, secs)
}

#[test]
fn pprof_decodes_against_the_official_proto_and_counts_every_on_cpu_moment() {
    let mut all = timelines();
    all.push(("native".into(), native_timeline()));
    for (name, tl) in &all {
        let d = resolve(&decode_pprof(&pprof::render(tl)));
        assert_eq!(d.first_string, "", "{name}: string_table[0]");
        assert_eq!(
            d.sample_types,
            [
                ("samples".to_string(), "count".to_string()),
                ("cpu".to_string(), "nanoseconds".to_string())
            ],
            "{name}"
        );
        let count: i64 = d.samples.iter().map(|s| s.1[0]).sum();
        let cpu_ns: i64 = d.samples.iter().map(|s| s.1[1]).sum();
        let (want_n, want_s) = if name == "native" {
            (30, 30.0 / 99.0)
        } else {
            on_cpu_moments(tl)
        };
        assert_eq!(count as u64, want_n, "{name}: samples/count");
        assert!(
            (cpu_ns as f64 / 1e9 - want_s).abs() < 1e-6 * (want_n as f64 + 1.0),
            "{name}: cpu/nanoseconds {cpu_ns} vs {want_s} s"
        );
        // The stacks are cpu.folded's, frame for frame.
        let mut lines: BTreeMap<String, i64> = BTreeMap::new();
        for (frames, values, labels) in &d.samples {
            assert!(labels.contains_key("pid") && labels.contains_key("tid"));
            let line: Vec<String> = frames
                .iter()
                .map(|(f, file, l)| match (file.as_str(), *l) {
                    ("", _) => f.clone(),
                    (file, 0) => format!("{f} [{}]", file.trim_matches(['[', ']'])),
                    (file, l) => format!("{f} ({}:{l})", short_file(file)),
                })
                .map(|l| l.replace([';', '\n'], ":"))
                .collect();
            *lines.entry(line.join(";")).or_default() += values[0];
        }
        let rebuilt: String = lines.iter().map(|(l, n)| format!("{l} {n}\n")).collect();
        assert_eq!(rebuilt, folded(tl, View::Cpu), "{name}");
    }
}

#[test]
fn pprof_names_the_hot_function_with_its_file_and_labels_the_gil_state() {
    let tl = timeline("gil-contended__gil_threads_stacks.json");
    let d = resolve(&decode_pprof(&pprof::render(&tl)));
    let report = Report::of(&tl);
    let hot = &report.hot_functions["on-cpu"][0];
    let leaf_samples: i64 = d
        .samples
        .iter()
        .filter(|(frames, _, _)| {
            let (f, file, line) = frames.last().unwrap();
            f == &hot.function && short_file(file) == hot.file && *line == i64::from(hot.line)
        })
        .map(|s| s.1[0])
        .sum();
    assert_eq!(leaf_samples as u64, hot.samples, "{}", hot.label());
    let states: BTreeSet<&str> = d.samples.iter().map(|s| s.2["state"].as_str()).collect();
    assert!(states.contains("gil-held"), "{states:?}");
}

#[test]
fn a_corrupted_pprof_is_caught_by_the_decoder() {
    // The decoder check can fail: a field renumbered from 6 (string_table)
    // to 15 would be a different field, and a truncated body does not parse.
    let tl = timeline("cpu-serial__cpu_serial.json");
    let raw = pprof::encode(&tl);
    let desc = profile_descriptor();
    assert!(DynamicMessage::decode(desc.clone(), &raw[..raw.len() - 3]).is_err());
    let ok = DynamicMessage::decode(desc, raw.as_slice()).unwrap();
    assert_no_unknown_fields(&ok, "Profile");
}

// -------------------------------------------------------------- report schema

#[test]
fn report_schema_file_is_generated_from_the_types_and_current() {
    let path = root().join("docs/report.schema.json");
    let actual = json::render_report_schema();
    if std::env::var_os("BOUNDCHECK_BLESS").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let want = std::fs::read(&path).unwrap_or_default();
    assert!(
        want == actual,
        "{} is stale: the report types changed. Regenerate it with BOUNDCHECK_BLESS=1 cargo test --test exports and review the diff",
        path.display()
    );
}

#[test]
fn every_report_the_recorded_timelines_produce_matches_the_schema() {
    let schema: Value = serde_json::from_slice(&json::render_report_schema()).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let mut docs: Vec<(String, Value)> = timelines()
        .into_iter()
        .map(|(name, tl)| {
            let doc = serde_json::from_slice(&json::render_report(&Report::of(&tl))).unwrap();
            (name, doc)
        })
        .collect();
    // Reports with the parts a replay cannot make: re-runs, a gate fixture's report.
    let rerun =
        boundcheck::report::read_report(&root().join("fixtures/gate/report_rerun.json")).unwrap();
    assert!(rerun.recommendation.is_some());
    docs.push((
        "report_rerun".into(),
        serde_json::from_slice(&json::render_report(&rerun)).unwrap(),
    ));
    for (name, doc) in &docs {
        assert_valid(&v, doc, name);
    }
    // And it rejects what the types would not write.
    let mut bad = docs[0].1.clone();
    bad["diagnosis"]["verdict"] = "slow".into();
    assert!(!v.is_valid(&bad), "an unknown verdict must fail");
    let mut bad = docs[0].1.clone();
    bad.as_object_mut().unwrap().remove("duration_s");
    assert!(!v.is_valid(&bad), "a missing required field must fail");
}

/// Through the binary: `replay --format` writes every export beside the
/// report, and `report DIR --format` renders them again from the directory.
#[test]
fn format_flag_and_report_subcommand_write_the_exports() {
    let tl = root().join("fixtures/timelines/gil-contended__gil_threads_stacks.json");
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("run");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_boundcheck"))
        .args([
            "replay",
            tl.to_str().unwrap(),
            "--quiet",
            "--format",
            "speedscope,pprof,trace,markdown",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let speedscope: Value =
        serde_json::from_slice(&std::fs::read(dir.join("profile.speedscope.json")).unwrap())
            .unwrap();
    assert_valid(
        &validator(&root().join("fixtures/schemas/speedscope-file-format-schema.json")),
        &speedscope,
        "profile.speedscope.json",
    );
    let pb = std::fs::read(dir.join("profile.pb.gz")).unwrap();
    assert_eq!(&pb[..2], &[0x1f, 0x8b], "gzip");
    decode_pprof(&pb);
    let trace: Value =
        serde_json::from_slice(&std::fs::read(dir.join("trace.json")).unwrap()).unwrap();
    assert!(
        trace["traceEvents"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    assert!(
        std::fs::read_to_string(dir.join("report.md"))
            .unwrap()
            .contains("gil-contended")
    );

    // Again from the directory, to stdout (replay reads its timeline from
    // where it is; put a copy beside the report as a live run does).
    std::fs::copy(&tl, dir.join("timeline.json")).unwrap();
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_boundcheck"))
        .args(["report"])
        .arg(&dir)
        .args(["--format", "trace", "--output", "-"])
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let t: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(t, trace);

    // Without timeline.json a timeline export is a clear error, exit 2.
    std::fs::remove_file(dir.join("timeline.json")).unwrap();
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_boundcheck"))
        .args(["report"])
        .arg(&dir)
        .args(["--format", "pprof"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("drawn from timeline.json"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}

#[path = "exports/trace.rs"]
mod trace_export;
