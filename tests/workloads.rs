//! Built-in workloads through the real binary.

mod common;
use common::*;

#[test]
fn cpu_workload_on_threads_is_gil_contended() {
    let _g = exclusive();
    let r = run(&[
        "--workload",
        "cpu",
        "--strategy",
        "threads",
        "--workers",
        "4",
        "--size",
        "low",
    ]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(r.report()["mode"], "workload");
    assert_eq!(r.report()["workload"], "cpu/threads/4/low");
    assert_eq!(r.verdict(), "gil-contended", "{}", explain(&r));
}

#[test]
fn network_workload_talks_to_the_local_server_and_waits_on_it() {
    let _g = exclusive();
    let r = run(&[
        "--workload",
        "network",
        "--strategy",
        "sequential",
        "--size",
        "low",
    ]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(r.verdict(), "io-network", "{}", explain(&r));
}

#[test]
fn sleep_workload_is_idle() {
    let _g = exclusive();
    let r = run(&[
        "--workload",
        "sleep",
        "--strategy",
        "threads",
        "--size",
        "low",
    ]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(r.verdict(), "idle", "{}", explain(&r));
}

#[test]
fn interpreters_strategy_on_an_old_python_says_it_needs_3_14() {
    // python3 here is 3.11; with a 3.14 on PATH as python3 this test is moot.
    let version = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.version_info >= (3, 14))"])
        .output()
        .expect("python3");
    if String::from_utf8_lossy(&version.stdout).trim() == "True" {
        eprintln!("python3 is 3.14+: nothing to check");
        return;
    }
    let r = run(&["--workload", "cpu", "--strategy", "interpreters"]);
    assert_eq!(r.code(), Some(2), "{}", r.stderr());
    assert!(r.stderr().contains("needs Python 3.14"), "{}", r.stderr());
}

#[test]
fn unknown_workload_lists_the_choices() {
    let r = run(&["--workload", "nope"]);
    assert_eq!(r.code(), Some(2));
    assert!(r.stderr().contains("cpu"), "{}", r.stderr());
}
