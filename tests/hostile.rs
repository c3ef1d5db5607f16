//! Hostile targets: programs that misbehave the way programs under a
//! profiler do (fork storms, a thousand threads, crashes, daemons, closed or
//! flooded output, no Python at all). Each runs under the real binary and must
//! get the documented exit status, a report.json that boundcheck's own reader
//! accepts, and leave no process behind: every fixture is given a unique
//! marker argument and the process table is scanned for it afterwards.
//!
//! Lifecycle cases covered elsewhere are not repeated here: SIGKILL (137),
//! Ctrl-C forwarded (130) and a target that exits at once (`true`) are in
//! `tests/cli.rs`; Ctrl-C during re-runs is in `tests/rerun.rs`.

mod common;
#[path = "hostile/support.rs"]
mod support;
use common::*;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

#[test]
fn fork_storm_of_short_children_is_followed_and_cleaned_up() {
    let _g = exclusive();
    let m = marker("fork-storm");
    // 200 children per second for 2.5 s (the issue asks for 5 s; 2.5 s gives
    // the same storm at half the suite time).
    let r = run_bounded(&strs(&python("fork_storm.py", &m, &["2.5"])));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let born: usize = r
        .stdout
        .trim()
        .strip_prefix("children=")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("fixture output: {}", r.stdout));
    assert!(born >= 50, "the storm happened: {born} children");
    let rep = r.report();
    let procs = rep["processes"].as_array().unwrap();
    assert!(
        procs.len() >= 2,
        "some short-lived children were caught: {}",
        procs.len()
    );
    assert!(procs.len() <= born + 3, "no phantom processes");
    assert_no_stray(&m);
}

#[test]
fn a_thousand_threads_are_sampled_or_the_loss_is_reported_and_the_report_stays_small() {
    let _g = exclusive();
    let m = marker("threads");
    let r = run_bounded(&strs(&python("thousand_threads.py", &m, &["3"])));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let rep = r.report();
    let s = &rep["sampling"];
    let (taken, lost) = (
        s["samples"].as_u64().unwrap(),
        s["lost_samples"].as_u64().unwrap(),
    );
    assert!(taken >= 5, "{s}");
    // Either it kept up (≥ 80 % of the requested rate) or it says what it lost.
    let kept_up = s["achieved_rate_hz"].as_f64().unwrap() >= 80.0;
    assert!(
        kept_up || (lost > 0 && r.caveats().contains(&"sampler-late".to_string())),
        "fell behind silently: {s}"
    );
    let timeline = std::fs::read_to_string(r.out().join("timeline.json")).unwrap();
    let seen = timeline.matches("\"tid\"").count();
    assert!(seen >= 1000, "every thread was read: {seen} thread entries");
    let size = std::fs::metadata(r.out().join("report.json"))
        .unwrap()
        .len();
    assert!(size < 64 * 1024, "report.json stays readable: {size} bytes");
    assert!(rep["threads"].as_array().unwrap().len() <= 10);
    // The other 990 are not lost: summed by name.
    let biggest = rep["thread_groups"]
        .as_array()
        .unwrap_or_else(|| panic!("no thread_groups: {rep}"))
        .iter()
        .map(|g| g["threads"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(biggest >= 1000, "{}", rep["thread_groups"]);
    assert!(r.stderr.contains("by name"), "{}", r.stderr);
    assert_no_stray(&m);
}

#[test]
fn never_exiting_target_is_stopped_by_timeout_with_status_124() {
    let _g = exclusive();
    let m = marker("never");
    let mut args = vec!["--timeout", "3s"];
    let py = python("never_exits.py", &m, &[]);
    args.extend(strs(&py));
    let start = Instant::now();
    let r = run_bounded(&args);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(start.elapsed() < Duration::from_secs(30));
    let rep = r.report();
    assert_eq!(rep["timed_out_after_s"], 3.0, "{rep}");
    assert_eq!(rep["exit"]["signal"], 15, "SIGTERM was enough: {rep}");
    assert!(r.caveats().contains(&"timed-out".to_string()));
    assert!(r.stderr.contains("STOPPED by --timeout"), "{}", r.stderr);
    assert!(r.stdout.contains("ready"), "the target ran: {}", r.stdout);
    assert_no_stray(&m);
}

#[test]
fn target_ignoring_sigterm_is_killed_after_the_grace_period() {
    let _g = exclusive();
    let m = marker("ignore-term");
    let mut args = vec!["--timeout", "2s"];
    let py = python("never_exits.py", &m, &["ignore-term"]);
    args.extend(strs(&py));
    let r = run_bounded(&args);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    let rep = r.report();
    assert_eq!(rep["exit"]["signal"], 9, "escalated to SIGKILL: {rep}");
    // 2 s limit + 2 s grace: sampling went on through the grace period.
    assert!(rep["duration_s"].as_f64().unwrap() >= 3.9, "{rep}");
    assert_no_stray(&m);
}

#[test]
fn target_dying_of_sigsegv_reports_139() {
    let _g = exclusive();
    let m = marker("segv");
    let r = run_bounded(&strs(&python("segfault.py", &m, &[])));
    assert_eq!(r.code, Some(139), "{}", r.stderr);
    let rep = r.report();
    assert_eq!(rep["exit"]["signal"], 11);
    assert!(r.caveats().contains(&"target-failed".to_string()));
    assert!(r.stderr.contains("killed by signal 11"), "{}", r.stderr);
    assert_no_stray(&m);
}

#[test]
fn target_that_renames_itself_is_reported_under_its_new_names() {
    let _g = exclusive();
    let m = marker("rename");
    let r = run_bounded(&strs(&python("renames_itself.py", &m, &[])));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let rep = r.report();
    let names: Vec<&str> = rep["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"renamed-main") && names.contains(&"renamed-worker"),
        "{names:?}"
    );
    assert_no_stray(&m);
}

#[test]
fn target_that_calls_setsid_and_forks_stays_in_the_tree() {
    let _g = exclusive();
    let m = marker("setsid");
    let r = run_bounded(&strs(&python("setsid_child.py", &m, &[])));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let rep = r.report();
    let procs = rep["processes"].as_array().unwrap();
    let marked: Vec<i64> = procs
        .iter()
        .filter(|p| p["cmdline"].as_array().unwrap().iter().any(|a| a == &m))
        .map(|p| p["pid"].as_i64().unwrap())
        .collect();
    assert!(marked.len() >= 2, "parent and child sampled: {procs:?}");
    // Each burned CPU for a second: both show CPU time (not a timing bound:
    // any share of a core under load is > 0.05 s).
    let busy = rep["threads"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| marked.contains(&t["pid"].as_i64().unwrap()))
        .filter(|t| t["cpu_s"].as_f64().unwrap() > 0.05)
        .count();
    assert!(busy >= 2, "both processes' CPU counted: {}", rep["threads"]);
    assert_no_stray(&m);
}

#[test]
fn double_forked_daemon_does_not_hold_boundcheck_and_is_left_running() {
    let _g = exclusive();
    let m = marker("daemon");
    let start = Instant::now();
    let r = run_bounded(&strs(&python("daemonizes.py", &m, &["30"])));
    let took = start.elapsed();
    // Documented: sampling ends with the launched process; a daemon it left
    // is neither waited for nor killed.
    let left = strays(&m);
    kill_all(&m);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        took < Duration::from_secs(20),
        "did not wait for the daemon"
    );
    r.report();
    assert_eq!(left.len(), 1, "the daemon outlives the run: {left:?}");
    assert_no_stray(&m);
}

#[test]
fn timeout_stops_a_daemon_the_target_started_too() {
    let _g = exclusive();
    let m = marker("daemon-timeout");
    let mut args = vec!["--timeout", "2s"];
    let py = python("daemonizes.py", &m, &["60", "wait"]);
    args.extend(strs(&py));
    let r = run_bounded(&args);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    r.report();
    assert_no_stray(&m);
}

#[test]
fn target_closing_its_stdout_and_stderr_does_not_disturb_boundcheck() {
    let _g = exclusive();
    let m = marker("close-stdio");
    let r = run_bounded(&strs(&python("closes_stdio.py", &m, &[])));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    r.report();
    assert!(r.stderr.contains("boundcheck:"), "{}", r.stderr);
    assert_no_stray(&m);
}

#[test]
fn target_flooding_a_stdout_pipe_the_reader_closes_dies_of_sigpipe_and_is_reported() {
    let _g = exclusive();
    for closed_at_start in [false, true] {
        let m = marker(if closed_at_start {
            "flood-closed"
        } else {
            "flood"
        });
        let dir = tempfile::tempdir().unwrap();
        let err_path = dir.path().join("stderr");
        let mut child = bin()
            .args(["--quiet", "--no-rerun", "--out"])
            .arg(dir.path().join("out"))
            // `yes MARKER` floods stdout with the marker, with SIGPIPE at its
            // default action (boundcheck resets it as a shell does). A Python
            // flooder would not do: CPython ignores SIGPIPE and exits 1 with
            // BrokenPipeError, which boundcheck would report as exit 1.
            .args(["--", "yes", &m])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap();
        let mut pipe = child.stdout.take().unwrap();
        if !closed_at_start {
            // Read 4 MiB of the flood, then hang up like `| head` does.
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = 0;
            while got < 4 << 20 {
                match std::io::Read::read(&mut pipe, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
            }
            assert!(got >= 4 << 20, "the target flooded: {got} bytes");
        }
        drop(pipe);
        let status = wait_bounded(&mut child, &err_path);
        let stderr = std::fs::read_to_string(&err_path).unwrap();
        assert_eq!(status.code(), Some(141), "{stderr}");
        let r = Outcome {
            code: status.code(),
            stdout: String::new(),
            stderr,
            dir,
        };
        assert_eq!(r.report()["exit"]["signal"], 13, "{}", r.stderr);
        assert_no_stray(&m);
    }
}

#[test]
fn non_python_targets_get_a_verdict() {
    let _g = exclusive();
    let m = marker("shell");
    // A shell loop: no Python anywhere in the tree. The marker is $0.
    let r = run_bounded(&[
        "--",
        "sh",
        "-c",
        "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done",
        &m,
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let rep = r.report();
    assert_eq!(rep["diagnosis"]["verdict"], "cpu-serial", "{}", r.stderr);
    assert!(rep.get("python_version").is_none(), "{rep}");
    assert_no_stray(&m);
}

#[test]
fn statically_linked_stripped_binary_gets_a_verdict() {
    let _g = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("spin");
    let built = Command::new("cc")
        .args(["-O1", "-static", "-s", "-o"])
        .arg(&exe)
        .arg(fixture("hostile").join("spin.c"))
        .output();
    match built {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            let why = format!(
                "a static libc for `cc -static -s` (it said: {})",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            skip_or_fail(&why, "BOUNDCHECK_SKIP_CC", "scripts/install-test-tools.sh");
            return;
        }
        Err(e) => {
            let why = format!("a C compiler, `cc` ({e})");
            skip_or_fail(&why, "BOUNDCHECK_SKIP_CC", "scripts/install-test-tools.sh");
            return;
        }
    }
    let file = Command::new("file").arg(&exe).output();
    if let Ok(f) = file {
        let what = String::from_utf8_lossy(&f.stdout);
        assert!(
            what.contains("statically linked") && what.contains("stripped"),
            "{what}"
        );
    }
    let m = marker("static");
    let r = run_bounded(&["--", exe.to_str().unwrap(), &m]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let rep = r.report();
    assert_eq!(rep["diagnosis"]["verdict"], "cpu-serial", "{}", r.stderr);
    assert!(rep.get("python_version").is_none(), "{rep}");
    assert_no_stray(&m);
}

#[test]
fn python_2_target_gets_a_verdict_and_its_version() {
    let Some(py2) = python2() else {
        skip_or_fail(
            "a Python 2 interpreter (python2 on PATH or in ~/.pyenv/versions/2.*)",
            "BOUNDCHECK_SKIP_PYTHON2",
            "scripts/install-test-tools.sh",
        );
        return;
    };
    let _g = exclusive();
    let m = marker("python2");
    let script =
        "import time\nend = time.time() + 1.5\nx = 0\nwhile time.time() < end:\n    x += 1\n";
    let r = run_bounded(&["--", py2.to_str().unwrap(), "-c", script, &m]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let rep = r.report();
    assert_eq!(rep["diagnosis"]["verdict"], "cpu-serial", "{}", r.stderr);
    assert!(
        rep["python_version"]
            .as_str()
            .unwrap_or("")
            .starts_with("2."),
        "{}",
        rep["python_version"]
    );
    assert_no_stray(&m);
}

#[test]
fn pypy_target_degrades_with_a_caveat_instead_of_a_wrong_word() {
    if Command::new("pypy3").arg("--version").output().is_err() {
        skip_or_fail(
            "PyPy (pypy3 on PATH)",
            "BOUNDCHECK_SKIP_PYPY",
            "scripts/install-test-tools.sh",
        );
        return;
    }
    let _g = exclusive();
    let m = marker("pypy");
    // Four threads in pure-Python loops: GIL-bound on PyPy as on CPython.
    let gil = fixture("gil_threads.py");
    let r = run_bounded(&["--", "pypy3", gil.to_str().unwrap(), "2", &m]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let rep = r.report();
    match rep["diagnosis"]["verdict"].as_str().unwrap() {
        "gil-contended" => {}
        // PyPy's GIL futex is on the heap: read as an application lock, and
        // the report must say that it may be the GIL.
        "lock-contended" => assert!(
            r.caveats().contains(&"pypy-gil".to_string()),
            "{}",
            r.stderr
        ),
        other => panic!("{other}: {}", r.stderr),
    }
    assert_no_stray(&m);
}

#[test]
fn a_timed_out_run_is_not_re_run() {
    let _g = exclusive();
    let m = marker("timeout-rerun");
    let dir = tempfile::tempdir().unwrap();
    // Re-runs on (no --no-rerun): a partial run must not be compared.
    let o = bin()
        .args(["--quiet", "--timeout", "1s", "--out"])
        .arg(dir.path())
        .args(["--", "sh", "-c", "sleep 30", &m])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(124),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rep: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert!(
        rep["rerun_skipped"]
            .as_str()
            .unwrap_or("")
            .contains("--timeout"),
        "{rep}"
    );
    assert_no_stray(&m);
}

#[test]
fn fork_storm_stopped_by_timeout_leaves_no_child_behind() {
    let _g = exclusive();
    let m = marker("fork-storm-timeout");
    // Children are born while the tree is being signalled.
    let mut args = vec!["--timeout", "1s"];
    let py = python("fork_storm.py", &m, &["30"]);
    args.extend(strs(&py));
    let r = run_bounded(&args);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    r.report();
    assert_no_stray(&m);
}

#[test]
fn timeout_kills_a_child_that_ignores_sigterm_after_its_parent_died() {
    let _g = exclusive();
    let m = marker("orphan-ignores-term");
    let never = hostile("never_exits.py");
    // The root (sh) dies of SIGTERM at once; its child ignores SIGTERM and is
    // adopted by boundcheck, which must still SIGKILL and reap it.
    let script = format!("python3 {never} {m} ignore-term & sleep 60");
    let r = run_bounded(&["--timeout", "2s", "--", "sh", "-c", &script, &m]);
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert_eq!(r.report()["exit"]["signal"], 15, "the root died of SIGTERM");
    assert_no_stray(&m);
}
