//! Python stacks, live: real fixtures with known hot functions, through the
//! real binary. Each test runs under `python3` (3.11 here) and again under
//! `python3.14` when `scripts/install-pythons.sh` has put it on PATH; the
//! free-threaded build, which py-spy cannot read yet, must say so.

mod common;

use common::*;
use serde_json::Value;
use std::path::PathBuf;

/// Interpreters to run each test with: python3 always, 3.14 when present.
fn pythons() -> Vec<String> {
    let mut v = vec!["python3".to_string()];
    if let Some(p) = on_path("python3.14") {
        v.push(p.display().to_string());
    } else {
        eprintln!("python3.14 not on PATH: stack tests run under python3 only");
    }
    v
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn profile(python: &str, fixture_name: &str) -> Run {
    let path = fixture(fixture_name);
    run(&["--", python, path.to_str().unwrap()])
}

/// The first line of a folded file with the largest count.
fn heaviest(folded: &str) -> (String, u64) {
    folded
        .lines()
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(stack, n)| (stack.to_string(), n.parse::<u64>().unwrap_or(0)))
        .max_by_key(|(_, n)| *n)
        .expect("a non-empty folded file")
}

fn share(report: &Value, key: &str) -> f64 {
    report["diagnosis"]["shares"][key].as_f64().unwrap_or(-1.0)
}

#[test]
fn gil_threads_wait_for_the_gil_in_their_hot_function() {
    let _g = exclusive();
    for py in pythons() {
        let r = profile(&py, "gil_threads.py");
        assert_eq!(r.verdict(), "gil-contended", "{py}: {}", explain(&r));
        let report = r.report();
        // The four workers (the busiest threads) wait for the GIL at least half their time.
        let workers: Vec<f64> = report["threads"]
            .as_array()
            .unwrap()
            .iter()
            .take(4)
            .map(|t| t["gil_wait"].as_f64().expect("per-thread gil_wait"))
            .collect();
        let mean = workers.iter().sum::<f64>() / workers.len() as f64;
        assert!(
            mean >= 0.5,
            "{py}: workers' GIL wait {workers:?}\n{}",
            explain(&r)
        );
        let site = &report["diagnosis"]["site"];
        assert_eq!(site["state"], "gil-wait", "{py}: {site}");
        assert_eq!(site["function"], "spin", "{py}: {site}");
        assert!(site["file"].as_str().unwrap().ends_with("gil_threads.py"));
        // The hot function has the largest share of the on-CPU flamegraph.
        let cpu = std::fs::read_to_string(r.out_dir.path().join("cpu.folded")).unwrap();
        let (stack, _) = heaviest(&cpu);
        assert!(
            stack.rsplit(';').next().unwrap().starts_with("spin ("),
            "{py}: {stack}"
        );
        let top = &report["hot_functions"]["on-cpu"][0];
        assert_eq!(top["function"], "spin", "{py}: {top}");
        for f in ["cpu.svg", "wall.svg", "wall.folded"] {
            assert!(r.out_dir.path().join(f).is_file(), "{py}: no {f}");
        }
        let wall = std::fs::read_to_string(r.out_dir.path().join("wall.folded")).unwrap();
        assert!(wall.contains(";[gil-wait] "), "{py}: {wall}");
    }
}

#[test]
fn hashlib_threads_run_without_the_gil_and_are_not_contention() {
    let _g = exclusive();
    for py in pythons() {
        let r = profile(&py, "hashlib_threads.py");
        assert_ne!(r.verdict(), "gil-contended", "{py}: {}", explain(&r));
        let report = r.report();
        let nogil = share(report, "native-nogil");
        let held = share(report, "gil-held");
        assert!(
            nogil > 2.0 * held && nogil > 0.0,
            "{py}: native-nogil {nogil} vs gil-held {held}\n{}",
            explain(&r)
        );
    }
}

#[test]
fn lock_fight_is_lock_contended_and_names_the_acquiring_line() {
    let _g = exclusive();
    for py in pythons() {
        let r = profile(&py, "lock_fight.py");
        assert_eq!(r.verdict(), "lock-contended", "{py}: {}", explain(&r));
        let site = &r.report()["diagnosis"]["site"];
        assert_eq!(site["state"], "lock-wait", "{py}: {site}");
        assert_eq!(site["function"], "fight", "{py}: {site}");
        assert!(site["file"].as_str().unwrap().ends_with("lock_fight.py"));
        assert!(
            r.stderr()
                .contains("where     fight (fixtures/lock_fight.py:"),
            "{}",
            r.stderr()
        );
    }
}

#[test]
fn cpu_in_async_def_blocks_the_loop_and_names_the_coroutine() {
    let _g = exclusive();
    for py in pythons() {
        let r = profile(&py, "async_blocked.py");
        assert_eq!(r.verdict(), "event-loop-blocked", "{py}: {}", explain(&r));
        let site = &r.report()["diagnosis"]["site"];
        assert_eq!(site["state"], "event-loop", "{py}: {site}");
        assert_eq!(site["function"], "worker", "{py}: {site}");
    }
}

#[test]
fn tiny_tasks_process_pool_is_pool_overhead_by_its_stacks() {
    let _g = exclusive();
    let r = profile("python3", "tiny_tasks_pool.py");
    assert_eq!(r.verdict(), "pool-overhead", "{}", explain(&r));
    let ev = r.report()["diagnosis"]["evidence"].to_string();
    assert!(ev.contains("pool_machinery_cpu_share"), "{ev}");
    // Worker processes appear under roots of their own in the flamegraph.
    let cpu = std::fs::read_to_string(r.out_dir.path().join("cpu.folded")).unwrap();
    let roots: std::collections::BTreeSet<&str> =
        cpu.lines().filter_map(|l| l.split(';').next()).collect();
    assert!(roots.len() >= 3, "parent and two workers: {roots:?}");
}

#[test]
fn no_stacks_flag_falls_back_to_os_signals() {
    let _g = exclusive();
    let r = run(&[
        "--no-stacks",
        "--",
        "python3",
        fixture("gil_threads.py").to_str().unwrap(),
    ]);
    assert_eq!(r.verdict(), "gil-contended", "{}", explain(&r));
    assert!(r.report().get("stack_sampling").is_none());
    assert!(r.caveat_codes().contains(&"os-signals-only".to_string()));
}

#[test]
fn free_threaded_python_says_its_stacks_are_unavailable() {
    let Some(ft) = on_path("python3.13t").or_else(|| on_path("python3.14t")) else {
        skip_or_fail(
            "a free-threaded Python on PATH (python3.13t or python3.14t)",
            "BOUNDCHECK_SKIP_FREE_THREADED",
            "scripts/install-pythons.sh (and put its bin directory on PATH)",
        );
        return;
    };
    let _g = exclusive();
    let r = profile(ft.to_str().unwrap(), "cpu_serial.py");
    assert!(
        r.caveat_codes().contains(&"no-python-stacks".to_string()),
        "{}",
        explain(&r)
    );
    let why = r.report()["stack_sampling"]["unavailable"].to_string();
    assert!(why.contains("free-threaded"), "{why}");
}
