//! Python stacks and verdicts, live: real fixtures with known hot functions,
//! through the real binary, under every CPython of [`CPYTHONS`] (3.11, 3.12,
//! 3.13 and 3.14; `scripts/install-pythons.sh` provides the last three and
//! `scripts/test.sh` runs it). py-spy 0.4.3 has layouts for CPython 2.7 and
//! 3.3–3.15 with the GIL; free-threaded builds it cannot read, and those
//! runs must say so.

mod common;

use common::*;
use serde_json::Value;

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
    for py in cpythons() {
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
        // One interpreter: the stacks cover its CPU time.
        let cover = &report["diagnosis"]["stack_coverage"];
        assert_eq!(cover["subinterpreter_s"], 0.0, "{py}: {cover}");
        assert!(
            !r.caveat_codes().contains(&"stacks-incomplete".to_string()),
            "{py}: {}",
            explain(&r)
        );
    }
}

#[test]
fn serial_loop_is_cpu_serial_and_its_module_is_where() {
    let _g = exclusive();
    for py in cpythons() {
        let path = fixture("cpu_serial.py");
        // 1.5 s of work: long enough to stay clear of the short-run caveat.
        let r = run(&["--", &py, path.to_str().unwrap(), "1.5"]);
        assert_eq!(r.verdict(), "cpu-serial", "{py}: {}", explain(&r));
        let report = r.report();
        let site = &report["diagnosis"]["site"];
        assert_eq!(site["state"], "on-cpu", "{py}: {site}");
        assert_eq!(site["function"], "<module>", "{py}: {site}");
        assert!(site["file"].as_str().unwrap().ends_with("cpu_serial.py"));
        assert!(
            report["stack_sampling"]["python_pids"]
                .as_array()
                .is_some_and(|p| !p.is_empty()),
            "{py}: {}",
            report["stack_sampling"]
        );
    }
}

#[test]
fn hashlib_threads_run_without_the_gil_and_are_not_contention() {
    let _g = exclusive();
    for py in cpythons() {
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
    for py in cpythons() {
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
    for py in cpythons() {
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
    // 4 s: opening fails only after py-spy's retries (about a second on a
    // loaded machine), and a run that ends first gets no caveat.
    let path = fixture("cpu_serial.py");
    let r = run(&["--", ft.to_str().unwrap(), path.to_str().unwrap(), "4"]);
    assert!(
        r.caveat_codes().contains(&"no-python-stacks".to_string()),
        "{}",
        explain(&r)
    );
    // The reader's own error, and the build named as its cause from the
    // process's executable (not from the error's wording).
    let why = r.report()["stack_sampling"]["unavailable"].to_string();
    assert!(why.contains("Failed to find a python interpreter"), "{why}");
    let name = ft.file_name().unwrap().to_str().unwrap();
    assert!(
        why.contains(&format!("{name} is a free-threaded build")),
        "{why}"
    );
    let caveat = r.report()["diagnosis"]["caveats"].to_string();
    assert!(
        caveat.contains("Failed to find a python interpreter"),
        "{caveat}"
    );
}

#[test]
fn interpreter_pool_says_how_much_cpu_no_stack_covers() {
    let Some(py) = on_path("python3.14") else {
        skip_or_fail(
            "python3.14 on PATH (InterpreterPoolExecutor)",
            "BOUNDCHECK_SKIP_PYTHON314",
            "scripts/install-pythons.sh (and put its bin directory on PATH)",
        );
        return;
    };
    let _g = exclusive();
    let r = profile(py.to_str().unwrap(), "interp_pool.py");
    let cover = &r.report()["diagnosis"]["stack_coverage"];
    // Two workers burn CPU in subinterpreters while the main thread waits.
    // py-spy reads at most one interpreter's frames: at least one worker's
    // CPU is uncovered, seen as subinterpreter time (its stack ends in
    // `Interpreter._call`) or as a thread without a stack (py-spy read
    // nothing of it); which one varies from run to run.
    let uncovered = cover["uncovered_share"].as_f64().unwrap_or(-1.0);
    assert!(uncovered >= 0.4, "{cover}\n{}", explain(&r));
    let parts = cover["subinterpreter_s"].as_f64().unwrap_or(0.0)
        + cover["no_stack_s"].as_f64().unwrap_or(0.0);
    let cpu = cover["cpu_s"].as_f64().unwrap_or(0.0);
    assert!((parts / cpu - uncovered).abs() < 0.01, "{cover}");
    assert!(
        r.caveat_codes().contains(&"stacks-incomplete".to_string()),
        "{}",
        explain(&r)
    );
    // The summary says it plainly, with the share.
    let pct = format!(
        "{}%",
        (100.0 * cover["uncovered_share"].as_f64().unwrap()).round()
    );
    let stderr = r.stderr();
    assert!(
        stderr.contains("stacks-incomplete: no Python stack covers ")
            && stderr.contains(&pct)
            && (stderr.contains("ran in subinterpreters")
                || stderr.contains("ran in threads without a Python stack")),
        "{pct}: {stderr}"
    );
}

#[test]
fn a_python_not_ready_when_first_opened_gets_its_stacks_later() {
    // The process is named like Python from its start but runs bash for
    // its first 0.8 s (a try of py-spy gives up within a tenth of that),
    // then execs the interpreter: the state of a spawned worker on
    // a loaded machine, caught before its interpreter exists. It is tried
    // again, and its stacks are read.
    let _g = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let late = dir.path().join("python3-late");
    std::fs::copy("/bin/bash", &late).unwrap();
    let script = format!(
        "sleep 0.8; exec python3 {} 1.5",
        fixture("cpu_serial.py").display()
    );
    let r = run(&["--", late.to_str().unwrap(), "-c", &script]);
    let report = r.report();
    assert!(
        report["stack_sampling"]["unavailable"]
            .as_object()
            .is_none_or(|u| u.is_empty()),
        "a later try succeeded: {}",
        report["stack_sampling"]
    );
    // The Python frames are in the flamegraph (the verdict is no matter
    // here: a second of bash sleeping and then a CPU loop is `mixed`).
    let cpu = std::fs::read_to_string(r.out_dir.path().join("cpu.folded")).unwrap();
    assert!(cpu.contains("cpu_serial.py"), "{cpu}\n{}", explain(&r));
}
