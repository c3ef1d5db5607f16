//! The wall-time budget of every recorded timeline (the replay fixtures and
//! the accuracy corpus): each thread's shares and the run's sum to one, and
//! a prediction exists for every strategy whenever there is a verdict.

use boundcheck::diagnose::{Strategy, diagnose};
use boundcheck::report::read_timeline;
use std::path::{Path, PathBuf};

/// Every `*.json` timeline under `fixtures/timelines/`, subfolders included.
fn timelines() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/timelines"),
        &mut out,
    );
    out.sort();
    out
}

#[test]
fn every_recorded_budget_sums_to_one_for_the_run_and_for_every_thread() {
    let files = timelines();
    assert!(files.len() >= 15, "only {} timelines found", files.len());
    let mut bad = Vec::new();
    for path in &files {
        let tl = read_timeline(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let d = diagnose(&tl);
        let b = &d.budget;
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        for (what, total) in [
            ("run", b.run.total()),
            ("all threads", b.all_threads.total()),
        ] {
            if (total - 1.0).abs() > 0.01 {
                bad.push(format!("{name}: {what} sums to {total:.4}"));
            }
        }
        for t in &b.threads {
            let total = t.shares.total();
            if (total - 1.0).abs() > 0.01 {
                bad.push(format!("{name}: thread {} sums to {total:.4}", t.tid));
            }
        }
        assert!(!b.gating_threads.is_empty(), "{name}: no gating thread");
        let mut strategies: Vec<Strategy> = d.predictions.iter().map(|p| p.strategy).collect();
        strategies.sort_by_key(|s| s.as_str());
        strategies.dedup();
        // Every strategy but keep and the cluster engines (ray, dask: the
        // re-runs forecast those, docs/rerun.md).
        assert_eq!(strategies.len(), 10, "{name}: predictions {strategies:?}");
        for p in &d.predictions {
            assert!(
                p.low <= p.predicted_speedup && p.predicted_speedup <= p.high && p.low > 0.0,
                "{name}: {p:?}"
            );
        }
    }
    assert!(
        bad.is_empty(),
        "budgets that do not sum to 1:\n{}",
        bad.join("\n")
    );
}
