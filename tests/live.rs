//! Live tests: real Python programs from `fixtures/`, run under the real
//! binary, must get the verdict their header promises. Assertions are on the
//! verdict, never on absolute times; the fixtures are built to give a strong
//! signal on a 2-core machine, and tests hold a lock so they never overlap.

mod common;
use common::*;

fn assert_verdict(name: &str) {
    let _g = exclusive();
    let want = expected_verdict(name);
    let r = run_fixture(name, &[]);
    assert_eq!(r.code(), Some(0), "{name} failed:\n{}", r.stderr());
    assert_eq!(r.verdict(), want, "{name}: {}", explain(&r));
}

#[test]
fn serial_cpu_is_cpu_serial() {
    assert_verdict("cpu_serial.py");
}

#[test]
fn python_threads_doing_cpu_work_are_gil_contended() {
    assert_verdict("gil_threads.py");
}

#[test]
fn process_pool_doing_cpu_work_is_cpu_parallel() {
    assert_verdict("process_pool.py");
}

#[test]
fn fsync_after_every_write_is_io_disk() {
    assert_verdict("disk_fsync.py");
}

#[test]
fn sequential_http_to_a_slow_local_server_is_io_network() {
    assert_verdict("http_client.py");
}

#[test]
fn a_sleeping_program_is_idle() {
    assert_verdict("sleeper.py");
}

#[test]
fn threads_fighting_over_one_lock_are_lock_contended() {
    assert_verdict("lock_fight.py");
}

#[test]
fn work_in_grandchildren_is_followed_and_cpu_parallel() {
    let _g = exclusive();
    let r = run_fixture("fan_out.py", &[]);
    assert_eq!(
        r.verdict(),
        expected_verdict("fan_out.py"),
        "{}",
        explain(&r)
    );
    let procs = r.report()["processes"].as_array().unwrap();
    assert!(procs.len() >= 3, "children were sampled: {procs:?}");
}

#[test]
fn attaching_to_a_running_sleeper_samples_it_and_leaves_it_running() {
    let _g = exclusive();
    let mut child = std::process::Command::new("python3")
        .arg(fixture("sleeper.py"))
        .arg("4")
        .spawn()
        .expect("python3");
    std::thread::sleep(std::time::Duration::from_millis(700));
    let pid = child.id().to_string();
    let r = run(&["--attach", &pid, "--duration", "1500ms"]);
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert!(still_running, "attaching must not stop the process");
    assert_eq!(r.report()["mode"], "attach");
    assert_eq!(r.verdict(), "idle", "{}", explain(&r));
}

#[test]
fn allocation_churn_is_memory_bound() {
    assert_verdict("memory_churn.py");
}

#[test]
fn cpu_work_inside_async_def_is_event_loop_blocked() {
    assert_verdict("async_blocked.py");
}

#[test]
fn a_process_pool_fed_tiny_tasks_is_pool_overhead() {
    assert_verdict("tiny_tasks_pool.py");
}

#[test]
fn an_asyncio_client_with_requests_in_flight_is_not_told_to_overlap_them() {
    // Twenty requests in flight in one loop thread (asyncio.gather under a
    // Semaphore(20)): the loop's epoll watches them all, so the run is
    // already as concurrent as asyncio or threads would make it. A
    // sequential client (fixtures/http_client.py) is the contrast: one
    // socket at a time, and overlapping is predicted to pay.
    let _g = exclusive();
    let gather = fixture("corpus/asyncio_gather_client.py");
    let r = run(&["--", "python3", gather.to_str().unwrap()]);
    assert_eq!(r.verdict(), "io-network", "{}", explain(&r));
    let timeline: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(r.out_dir.path().join("timeline.json")).unwrap(),
    )
    .unwrap();
    let most = timeline["samples"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["threads"].as_array().unwrap())
        .filter_map(|t| t["watched_sockets"].as_u64())
        .max()
        .unwrap_or(0);
    assert!(most >= 10, "the loop watched up to {most} sockets");
    let predicted = |r: &Run, s: &str| {
        r.report()["diagnosis"]["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["strategy"] == s)
            .and_then(|p| p["predicted_speedup"].as_f64())
            .unwrap()
    };
    for s in ["asyncio", "threads"] {
        let x = predicted(&r, s);
        assert!(x < 1.3, "{s} predicted {x:.2}x: {}", explain(&r));
    }
    let sequential = run_fixture("http_client.py", &[]);
    let x = predicted(&sequential, "asyncio");
    assert!(x >= 1.3, "a sequential client: asyncio {x:.2}x");
}
