//! `boundcheck bench` through the real binary. The 3.14 and free-threaded
//! cells run for real when `scripts/install-pythons.sh` has put
//! `python3.14` / `python3.13t` on PATH (the test script does); without them
//! those tests say so and check the "not available" message instead.

mod common;
use common::*;
use serde_json::Value;

fn bench(args: &[&str]) -> (std::process::Output, Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["bench", "--quiet", "--out"])
        .arg(dir.path())
        .args(args)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(dir.path().join("bench.json")).unwrap_or_default();
    let v = serde_json::from_str(&text).unwrap_or(Value::Null);
    (out, v, dir)
}

fn cell<'a>(v: &'a Value, workload: &str, strategy: &str) -> &'a Value {
    v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["workload"] == workload && c["strategy"] == strategy)
        .unwrap_or_else(|| panic!("no cell {workload}/{strategy}"))
}

fn on_path(name: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn quick_bench_over_two_workloads_has_every_cell_and_native_beats_python() {
    let _g = exclusive();
    let (out, v, dir) = bench(&["--quick", "--workloads", "cpu,sleep"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(v["format"], "boundcheck-bench");
    assert_eq!(v["schema_version"], "1.0");
    assert_eq!(v["runs"], 2);
    let cells = v["cells"].as_array().unwrap();
    assert_eq!(
        cells.len(),
        2 * 11,
        "every workload x strategy but ray and dask, run only when named (tests/engines.rs)"
    );
    assert!(
        cells
            .iter()
            .all(|c| c["strategy"] != "ray" && c["strategy"] != "dask"),
        "no cluster started by default"
    );
    for c in cells {
        let status = c["status"].as_str().unwrap();
        assert!(
            ["measured", "not-applicable", "not-available", "failed"].contains(&status),
            "{c}"
        );
        if status == "measured" {
            for key in [
                "median_s",
                "min_s",
                "max_s",
                "cpu_s",
                "cpu_efficiency",
                "speedup",
                "efficiency",
            ] {
                if key == "efficiency" && c["strategy"] == "native-simd" {
                    continue; // SIMD is parallel within one core: no efficiency
                }
                assert!(c[key].as_f64().is_some(), "{key} missing in {c}");
            }
        } else {
            assert!(c["reason"].as_str().is_some_and(|r| !r.is_empty()), "{c}");
        }
    }
    let seq = cell(&v, "cpu", "sequential");
    assert_eq!(seq["status"], "measured");
    assert!(
        seq["verdict"].is_string(),
        "each Python cell carries a verdict: {seq}"
    );
    assert!(seq["throughput_per_s"].as_f64().unwrap() > 0.0);
    assert!(
        seq["peak_rss_bytes"].as_u64().unwrap() > 0,
        "memory of the tree: {seq}"
    );
    let native = cell(&v, "cpu", "native-serial");
    assert!(
        native["median_s"].as_f64().unwrap() < seq["median_s"].as_f64().unwrap(),
        "native beats sequential Python: {native} vs {seq}"
    );
    assert_eq!(
        cell(&v, "sleep", "native-serial")["status"],
        "not-applicable"
    );
    for f in ["bench.md", "speedup.svg", "efficiency.svg"] {
        let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert!(text.len() > 100, "{f}");
    }
    let svg = std::fs::read_to_string(dir.path().join("speedup.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("ideal "), "{svg}");
}

#[test]
fn interpreter_pool_cell_runs_under_python_3_14() {
    let _g = exclusive();
    let (out, v, _dir) = bench(&[
        "--quick",
        "--workloads",
        "cpu",
        "--strategies",
        "sequential,interpreters",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = cell(&v, "cpu", "interpreters");
    if !on_path("python3.14") {
        eprintln!(
            "python3.14 not on PATH: run scripts/install-pythons.sh (./scripts/test.sh does) to exercise this cell for real"
        );
        assert_eq!(c["status"], "not-available", "{c}");
        assert!(
            c["reason"].as_str().unwrap().contains("install-pythons.sh"),
            "{c}"
        );
        skip_or_fail(
            "python3.14 on PATH, to measure the cell",
            "BOUNDCHECK_SKIP_PYTHON314",
            "scripts/install-pythons.sh (and put its bin directory on PATH)",
        );
        return;
    }
    assert_eq!(c["status"], "measured", "{c}");
    assert!(c["interpreter"].as_str().unwrap().contains("3.14"), "{c}");
    let versions: Vec<&str> = v["interpreters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["version"].as_str())
        .collect();
    assert!(
        versions.iter().any(|v| v.starts_with("3.14")),
        "{versions:?}"
    );
}

#[test]
fn free_threaded_cell_names_the_version_it_measured() {
    let _g = exclusive();
    let (out, v, _dir) = bench(&[
        "--quick",
        "--workloads",
        "cpu",
        "--strategies",
        "sequential,free-threaded",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = cell(&v, "cpu", "free-threaded");
    if !on_path("python3.13t") && !on_path("python3.14t") {
        eprintln!(
            "no free-threaded Python on PATH: run scripts/install-pythons.sh (./scripts/test.sh does)"
        );
        assert_eq!(c["status"], "not-available", "{c}");
        skip_or_fail(
            "a free-threaded Python on PATH, to measure the cell",
            "BOUNDCHECK_SKIP_FREE_THREADED",
            "scripts/install-pythons.sh (and put its bin directory on PATH)",
        );
        return;
    }
    assert_eq!(c["status"], "measured", "{c}");
    let ft = v["interpreters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["role"] == "free-threaded")
        .unwrap();
    assert!(
        ft["version"].as_str().unwrap().contains("free-threaded"),
        "{ft}"
    );
}

/// The engines venv's interpreter (`scripts/install-engines.sh` prints
/// `export BOUNDCHECK_ENGINES_PYTHON=…`; `scripts/test.sh` evals it), with
/// numba and numpy. Missing, the test fails naming the script.
fn engines_python() -> String {
    let py = std::env::var("BOUNDCHECK_ENGINES_PYTHON").unwrap_or_else(|_| {
        panic!(
            "BOUNDCHECK_ENGINES_PYTHON is not set: run `eval \"$(scripts/install-engines.sh | tail -1)\"` (scripts/test.sh does)"
        )
    });
    let ok = std::process::Command::new(&py)
        .args(["-c", "import numba, numpy"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{py} cannot import numba and numpy: run scripts/install-engines.sh"
    );
    py
}

/// The numba cell beside native-serial, and the array workload passing
/// numpy arrays to a process pool pickled and through shared memory, side
/// by side (small: size low, 2 runs). No timing is asserted: the machine is
/// shared; the cells must be measured and compute the same work.
#[test]
fn numba_cell_and_array_workload_with_and_without_shared_memory() {
    let _g = exclusive();
    let py = engines_python();
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["bench", "--quiet", "--quick", "--out"])
        .arg(dir.path())
        .args([
            "--workloads",
            "cpu,array",
            "--strategies",
            "sequential,processes,native-serial,numba,shared-memory",
        ])
        .env("BOUNDCHECK_ENGINES_PYTHON", &py)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("bench.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let numba = cell(&v, "cpu", "numba");
    assert_eq!(numba["status"], "measured", "{numba}");
    assert_eq!(numba["interpreter"], py.as_str(), "{numba}");
    assert_eq!(
        numba["parallel_speedup"], 1.0,
        "a JIT is not parallelism, it is its own serial run: {numba}"
    );
    assert!(numba["speedup"].as_f64().is_some(), "{numba}");
    assert_eq!(cell(&v, "cpu", "native-serial")["status"], "measured");
    for s in ["sequential", "processes", "shared-memory"] {
        let c = cell(&v, "array", s);
        assert_eq!(c["status"], "measured", "{c}");
        assert_eq!(c["interpreter"], py.as_str(), "numpy's interpreter: {c}");
        assert!(c["median_s"].as_f64().is_some_and(|m| m > 0.0), "{c}");
    }
    // Strategies that do not fit a workload say so in a clear cell.
    for (w, s) in [("cpu", "shared-memory"), ("array", "numba")] {
        let c = cell(&v, w, s);
        assert_eq!(c["status"], "not-applicable", "{c}");
    }
    let md = std::fs::read_to_string(dir.path().join("bench.md")).unwrap();
    assert!(
        md.contains("| numba |") && md.contains("| shared-memory |"),
        "{md}"
    );
}

/// Without an interpreter that has numba, the numba cell is a clear "not
/// available" naming the script, not an error.
#[test]
fn numba_cell_without_numba_is_not_available() {
    let _g = exclusive();
    let dir = tempfile::tempdir().unwrap();
    // Whatever python3 has installed, a `numba` module that refuses to
    // import shadows it.
    let shadow = tempfile::tempdir().unwrap();
    std::fs::write(
        shadow.path().join("numba.py"),
        "raise ImportError('no numba here')\n",
    )
    .unwrap();
    let out = bin()
        .args(["bench", "--quiet", "--quick", "--out"])
        .arg(dir.path())
        .args(["--workloads", "cpu", "--strategies", "numba", "--runs", "1"])
        .env_remove("BOUNDCHECK_ENGINES_PYTHON")
        .env("PYTHONPATH", shadow.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(dir.path().join("bench.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let c = cell(&v, "cpu", "numba");
    assert_eq!(c["status"], "not-available", "{c}");
    assert!(
        c["reason"]
            .as_str()
            .is_some_and(|r| r.contains("scripts/install-engines.sh")),
        "{c}"
    );
}
