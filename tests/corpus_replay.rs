//! The accuracy corpus, pinned: every program in `fixtures/corpus/` has a
//! recorded timeline in `fixtures/timelines/corpus/<program>.json` (a real
//! `--no-rerun` run, `scripts/accuracy.py --record`), and replaying it must give
//! the verdict its header expects (`# expect-verdict:`). The labels come from
//! reasoning about each program, not from boundcheck's output, so a mismatch is
//! a diagnosis error to fix, never a label to copy. All mismatches are listed in
//! one failure so one run shows the whole picture.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const VERDICTS: [&str; 11] = [
    "cpu-serial",
    "cpu-parallel",
    "gil-contended",
    "lock-contended",
    "io-disk",
    "io-network",
    "memory-bound",
    "idle",
    "event-loop-blocked",
    "pool-overhead",
    "mixed",
];

const STRATEGIES: [&str; 13] = [
    "keep",
    "threads",
    "asyncio",
    "processes",
    "interpreters",
    "free-threaded",
    "native",
    "batch",
    "shrink-lock",
    "offload",
    "ray",
    "dask",
    "shared-memory",
];

/// The corpus is meant to be broad; a shrinking corpus would weaken the pin.
const MIN_PROGRAMS: usize = 45;

struct Header {
    verdict: String,
    remedy: Vec<String>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Corpus programs by name (file stem); helper modules start with `_`.
fn programs() -> Vec<(String, PathBuf)> {
    let dir = root().join("fixtures/corpus");
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "py"))
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?.to_string();
            (!stem.starts_with('_')).then_some((stem, p))
        })
        .collect();
    out.sort();
    out
}

/// The four header lines, exactly as `scripts/accuracy.py` reads them.
fn header(path: &Path) -> Result<Header, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut lines = text.lines();
    let mut field = |prefix: &str| -> Result<String, String> {
        lines
            .next()
            .and_then(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("missing or empty '{prefix}' line"))
    };
    field("# corpus: ")?;
    let verdict = field("# expect-verdict: ")?;
    let remedy: Vec<String> = field("# expect-remedy: ")?
        .split_whitespace()
        .map(str::to_string)
        .collect();
    field("# why: ")?;
    if !VERDICTS.contains(&verdict.as_str()) {
        return Err(format!("unknown verdict {verdict:?}"));
    }
    if let Some(bad) = remedy.iter().find(|s| !STRATEGIES.contains(&s.as_str())) {
        return Err(format!("unknown strategy {bad:?}"));
    }
    if !text.contains("if __name__ == \"__main__\":") {
        return Err("work not guarded by `if __name__ == \"__main__\":`".into());
    }
    Ok(Header { verdict, remedy })
}

#[test]
fn every_corpus_program_has_a_header_and_a_timeline() {
    let progs = programs();
    let tl_dir = root().join("fixtures/timelines/corpus");
    let mut problems = Vec::new();
    let mut covered = BTreeSet::new();
    for (name, path) in &progs {
        match header(path) {
            Ok(h) => {
                covered.insert(h.verdict.clone());
                assert!(!h.remedy.is_empty());
            }
            Err(e) => problems.push(format!("{name}.py: {e}")),
        }
        if !tl_dir.join(format!("{name}.json")).is_file() {
            problems.push(format!(
                "{name}.py: no timeline {}/{name}.json (record it: scripts/accuracy.py --no-rerun --only {name} --record {})",
                tl_dir.display(),
                tl_dir.display()
            ));
        }
    }
    let names: BTreeSet<&str> = progs.iter().map(|(n, _)| n.as_str()).collect();
    for entry in std::fs::read_dir(&tl_dir).expect("fixtures/timelines/corpus") {
        let path = entry.expect("dir entry").path();
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if path.extension().is_some_and(|x| x == "json") && !names.contains(stem) {
            problems.push(format!("{}: no corpus program {stem}.py", path.display()));
        }
    }
    for v in VERDICTS {
        if !covered.contains(v) {
            problems.push(format!("no corpus program expects {v}"));
        }
    }
    assert!(
        progs.len() >= MIN_PROGRAMS,
        "{} corpus programs, expected at least {MIN_PROGRAMS}",
        progs.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn corpus_timelines_replay_to_their_expected_verdict() {
    let tl_dir = root().join("fixtures/timelines/corpus");
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for (name, path) in programs() {
        let Ok(h) = header(&path) else { continue };
        let tl = tl_dir.join(format!("{name}.json"));
        if !tl.is_file() {
            continue; // reported by the test above
        }
        let r = run_replay(&tl, &[]);
        assert_eq!(r.code(), Some(0), "{name}: {}", r.stderr());
        let got = r.verdict();
        if got != h.verdict {
            mismatches.push(format!(
                "{name}: expected {}, got {got} (confidence {})",
                h.verdict,
                r.report()["diagnosis"]["confidence"]
            ));
        }
        checked += 1;
    }
    assert!(
        checked >= MIN_PROGRAMS,
        "only {checked} corpus timelines replayed"
    );
    assert!(
        mismatches.is_empty(),
        "{} of {checked} corpus timelines replay to another verdict than their header expects:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// The `where` line on two recorded runs: a pipeline whose CPU is mostly in
/// the programs it runs says so beside the Python line it names, and a pool
/// with tiny tasks names the line that hands the pool its tasks (not the
/// constructor its forked workers inherit on their stacks).
#[test]
fn the_site_says_where_the_cpu_is_when_not_in_python_and_where_a_pool_gets_its_tasks() {
    let tl_dir = root().join("fixtures/timelines/corpus");
    let r = run_replay(&tl_dir.join("shell_sort_gzip.json"), &[]);
    let site = &r.report()["diagnosis"]["site"];
    let share = site["cpu_elsewhere_share"]
        .as_f64()
        .expect("share of CPU elsewhere");
    assert!(share >= 0.25, "{site}");
    let names = site["cpu_elsewhere"].to_string();
    assert!(names.contains("sort") && names.contains("gzip"), "{site}");
    let r = run_replay(&tl_dir.join("mp_imap_tiny.json"), &[]);
    let site = &r.report()["diagnosis"]["site"];
    assert_eq!(site["state"], "pool", "{site}");
    // The parent's module-level `sum(pool.imap(...))`, not a worker's
    // inherited frame or the word list built before the pool.
    assert_eq!(site["function"], "<module>", "{site}");
    assert!(site.get("cpu_elsewhere_share").is_none(), "{site}");
}
