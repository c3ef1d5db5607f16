//! Comparative re-runs through the real binary: every recommendation is a
//! measurement. Fixtures state in `# rerun-expect:` what the re-run should
//! find. Assertions are on the recommended strategy and on relative speed,
//! never on absolute times.

mod common;
use common::*;
use serde_json::Value;

fn rec(r: &Run) -> &Value {
    &r.report()["recommendation"]
}

fn experiment<'a>(r: &'a Run, label_start: &str) -> &'a Value {
    rec(r)["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["label"].as_str().unwrap_or("").starts_with(label_start))
        .unwrap_or_else(|| panic!("no experiment '{label_start}': {}", rec(r)))
}

#[test]
fn gil_bound_thread_pool_is_told_to_use_processes_or_interpreters_with_a_measured_speedup() {
    let _g = exclusive();
    let r = run_rerun(&["--", "python3", fixture("gil_pool.py").to_str().unwrap()]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(r.verdict(), "gil-contended", "{}", explain(&r));
    let rec = rec(&r);
    let strategy = rec["strategy"].as_str().unwrap();
    assert!(
        ["processes", "interpreters", "free-threaded"].contains(&strategy),
        "{}",
        r.stderr()
    );
    assert_eq!(rec["measured"], true);
    assert!(rec["speedup"].as_f64().unwrap() > 1.3, "{rec}");
    let swap = experiment(&r, "processes (swap)");
    assert_eq!(swap["replaced"], "ThreadPoolExecutor(4)");
    assert!(
        swap["site"].as_str().unwrap().contains("gil_pool.py:"),
        "{swap}"
    );
    assert!(
        swap["speedup"].as_f64().unwrap() > 1.3,
        "processes beat one GIL: {swap}"
    );
    let change = match strategy {
        "processes" => "with `ProcessPoolExecutor(2)`",
        "interpreters" => "InterpreterPoolExecutor(2)",
        _ => "free-threaded",
    };
    assert!(rec["sentence"].as_str().unwrap().contains(change), "{rec}");
    // The one-CPU run shows a serialised program: all CPUs gain little.
    assert!(rec["parallel_speedup"].as_f64().unwrap() < 1.3, "{rec}");
    // With a Python 3.14 (scripts/install-pythons.sh) the interpreter pool is
    // measured for real; without one it is labelled, not guessed.
    let exps = rec["experiments"].as_array().unwrap();
    match exps.iter().find(|e| e["strategy"] == "interpreters") {
        Some(e) => assert_eq!(e["status"], "measured", "{e}"),
        None => {
            let not = rec["not_measured"].as_array().unwrap();
            assert!(not.iter().any(|n| n["strategy"] == "interpreters"
                && n["reason"].as_str().unwrap().contains("3.14")));
        }
    }
    for e in exps.iter().filter(|e| e["status"] == "measured") {
        for run in e["runs"].as_array().unwrap() {
            assert!(
                run["cpu_s"].as_f64().unwrap() > 0.0 && run["peak_rss_bytes"].as_u64().unwrap() > 0,
                "{run}"
            );
        }
    }
}

#[test]
fn an_already_parallel_process_pool_is_kept() {
    let _g = exclusive();
    let r = run_rerun(&[
        "--",
        "python3",
        fixture("proc_pool_parallel.py").to_str().unwrap(),
    ]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(rec(&r)["strategy"], "keep", "{}", r.stderr());
    let threads = experiment(&r, "threads (swap)");
    assert!(
        threads["speedup"].as_f64().unwrap() < 1.0,
        "threads are slower here: {threads}"
    );
    // Clearly more than the ~1.0x of a serialised program (noise allowed for).
    assert!(
        rec(&r)["parallel_speedup"].as_f64().unwrap() > 1.2,
        "{}",
        rec(&r)
    );
}

#[test]
fn sequential_http_gets_more_threads_with_a_measured_gain() {
    let _g = exclusive();
    let r = run_rerun(&["--", "python3", fixture("http_pool1.py").to_str().unwrap()]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(r.verdict(), "io-network", "{}", explain(&r));
    assert_eq!(rec(&r)["strategy"], "threads", "{}", r.stderr());
    assert!(rec(&r)["speedup"].as_f64().unwrap() > 2.0, "{}", rec(&r));
}

#[test]
fn a_swap_that_cannot_pickle_a_lambda_is_reported_with_the_fix_and_not_counted() {
    let _g = exclusive();
    let r = run_rerun(&[
        "--runs",
        "2",
        "--",
        "python3",
        fixture("lambda_pool.py").to_str().unwrap(),
    ]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let swap = experiment(&r, "processes (swap)");
    assert_eq!(swap["status"], "failed", "{swap}");
    assert!(
        swap["error"]
            .as_str()
            .unwrap()
            .contains("module-level function"),
        "{swap}"
    );
    assert!(
        swap["median_s"].is_null(),
        "a failed swap is not a measurement"
    );
    assert_ne!(rec(&r)["strategy"], "processes");
    assert!(
        r.stderr().contains("module-level function"),
        "{}",
        r.stderr()
    );
}

#[test]
fn vary_runs_the_grid_and_finds_processes_faster() {
    let _g = exclusive();
    let path = fixture("vary_workers.py");
    let r = run_rerun(&[
        "--vary",
        "executor=threads,processes",
        "--vary",
        "workers=1,2",
        "--",
        "python3",
        path.to_str().unwrap(),
        "--executor",
        "{executor}",
        "--workers",
        "{workers}",
    ]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let exps = rec(&r)["experiments"].as_array().unwrap();
    let labels: Vec<&str> = exps.iter().map(|e| e["label"].as_str().unwrap()).collect();
    for want in ["executor=threads workers=1", "executor=processes workers=2"] {
        assert!(labels.contains(&want), "{labels:?}");
    }
    assert_eq!(rec(&r)["strategy"], "processes", "{}", r.stderr());
    assert!(
        rec(&r)["sentence"]
            .as_str()
            .unwrap()
            .contains("executor=processes"),
        "{}",
        rec(&r)
    );
}

#[test]
fn a_vary_axis_missing_from_the_command_is_a_usage_error() {
    let r = run_rerun(&["--vary", "workers=1,2", "--", "python3", "app.py"]);
    assert_eq!(r.code(), Some(2));
    assert!(
        r.stderr().contains("no {workers} placeholder"),
        "{}",
        r.stderr()
    );
}

#[test]
fn ctrl_c_during_re_runs_keeps_the_finished_experiments() {
    let _g = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let child = bin()
        .args(["--quiet", "--runs", "5", "--out"])
        .arg(dir.path())
        .args(["--", "python3"])
        .arg(fixture("gil_pool.py"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The diagnosis is written before the re-runs start; then let some finish.
    let report = dir.path().join("report.json");
    let start = std::time::Instant::now();
    while !report.exists() {
        assert!(start.elapsed().as_secs() < 30, "no report written");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_secs(7));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let rec = &v["recommendation"];
    assert_eq!(rec["interrupted"], true, "{rec}");
    let runs: usize = rec["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["runs"].as_array().unwrap().len())
        .sum();
    assert!(runs >= 1, "finished runs are kept: {rec}");
}

#[test]
fn no_rerun_says_why_in_the_report() {
    let _g = exclusive();
    let r = run(&["--", "sleep", "0.2"]);
    assert_eq!(r.report()["rerun_skipped"], "--no-rerun");
    assert!(r.report()["recommendation"].is_null());
}
