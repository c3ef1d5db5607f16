//! Bad input and process lifecycle through the real binary: every case exits
//! as documented and, where a run happened, still writes its report.

mod common;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn unknown_command_is_a_clear_error_with_status_127() {
    let r = run(&["--", "definitely-not-a-command-xyz"]);
    assert_eq!(r.code(), Some(127), "{}", r.stderr());
    assert!(
        r.stderr()
            .contains("command not found: definitely-not-a-command-xyz"),
        "{}",
        r.stderr()
    );
    assert!(r.report.is_none(), "no report for a run that never started");
}

#[test]
fn a_launch_that_fails_leaves_no_empty_numbered_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("report.json"), "earlier").unwrap();
    let o = bin()
        .arg("--out")
        .arg(&out)
        .args(["--quiet", "--", "definitely-not-a-command-xyz"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(127));
    assert!(!dir.path().join("out-2").exists());
    // Nor a fresh --out that the failed run created.
    let fresh = dir.path().join("fresh");
    let o = bin()
        .arg("--out")
        .arg(&fresh)
        .args(["--quiet", "--", "definitely-not-a-command-xyz"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(127));
    assert!(!fresh.exists());
}

#[test]
fn non_executable_file_is_status_126() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("plain.txt");
    std::fs::write(&f, "not a program").unwrap();
    let r = run(&["--", f.to_str().unwrap()]);
    assert_eq!(r.code(), Some(126), "{}", r.stderr());
    assert!(r.stderr().contains("cannot execute"), "{}", r.stderr());
}

#[test]
fn zero_rate_is_refused_before_anything_runs() {
    let r = run(&["--rate", "0", "--", "true"]);
    assert_eq!(r.code(), Some(2));
    assert!(r.stderr().contains("above 0"), "{}", r.stderr());
}

#[test]
fn nothing_to_profile_says_how() {
    let r = run(&[]);
    assert_eq!(r.code(), Some(2));
    assert!(
        r.stderr().contains("boundcheck -- python3 app.py"),
        "{}",
        r.stderr()
    );
}

#[test]
fn unwritable_output_fails_before_launching_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "").unwrap();
    let marker = dir.path().join("target-ran");
    let out = bin()
        .args(["--quiet", "--out"])
        .arg(blocker.join("sub"))
        .args(["--", "touch"])
        .arg(&marker)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not writable"), "{stderr}");
    assert!(
        !marker.exists(),
        "the target must not run when the report cannot be written"
    );
}

#[test]
fn target_exit_status_is_preserved() {
    let _g = exclusive();
    let r = run_fixture("exit_code.py", &[]);
    assert_eq!(r.code(), Some(7), "{}", r.stderr());
    assert_eq!(r.report()["exit_status"], 7);
    assert!(r.caveat_codes().contains(&"target-failed".to_string()));
}

#[test]
fn target_that_exits_at_once_still_gets_a_report() {
    let _g = exclusive();
    let r = run(&["--", "true"]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let codes = r.caveat_codes();
    assert!(codes.contains(&"few-samples".to_string()), "{codes:?}");
    assert!(codes.contains(&"short-run".to_string()), "{codes:?}");
}

#[test]
fn target_killed_by_sigkill_reports_128_plus_9() {
    let _g = exclusive();
    let r = run_fixture("self_kill.py", &[]);
    assert_eq!(r.code(), Some(137), "{}", r.stderr());
    assert_eq!(r.report()["exit"]["signal"], 9);
    assert!(r.stderr().contains("killed by signal 9"), "{}", r.stderr());
}

#[test]
fn sigint_is_forwarded_and_the_report_is_still_written() {
    let _g = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let mut child = bin()
        .args(["--quiet", "--out"])
        .arg(dir.path())
        .args(["--", "python3"])
        .arg(fixture("sigint_wait.py"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Let the target start (the pyenv shim execs python after ~100 ms).
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let start = Instant::now();
    let out = loop {
        if let Some(_s) = child.try_wait().unwrap() {
            break child.wait_with_output().unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "boundcheck did not stop after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("got SIGINT"),
        "the target received the signal: {stdout}"
    );
    assert_eq!(out.status.code(), Some(130));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["interrupted"], true);
    assert_eq!(report["exit_status"], 130);
}

#[test]
fn help_teaches_the_main_uses() {
    let out = bin().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--workload",
        "--attach",
        "--rate",
        "--no-rerun",
        "--json",
        "replay",
        "gil-contended",
        "Exit status",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}

#[test]
fn attach_to_a_missing_pid_is_a_clear_error() {
    let r = run(&["--attach", "999999999", "--duration", "1s"]);
    assert_eq!(r.code(), Some(2));
    assert!(
        r.stderr().contains("no process with pid 999999999"),
        "{}",
        r.stderr()
    );
}

#[test]
fn json_flag_prints_the_report_on_stdout() {
    let _g = exclusive();
    // The target's own stdout must not end up inside the JSON.
    let r = run(&["--json", "--", "sh", "-c", "echo target-output; sleep 0.3"]);
    assert_eq!(r.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&r.stdout()).expect("stdout is only JSON");
    assert!(
        r.stderr().contains("target-output"),
        "the target's output went to stderr"
    );
    assert_eq!(v["format"], "boundcheck-report");
    assert_eq!(v["diagnosis"]["verdict"], "idle");
}

#[test]
fn target_gets_default_sigpipe_like_under_a_shell() {
    // Regression: Rust ignores SIGPIPE and exec inherits "ignored"; `yes`
    // would then see EPIPE and complain instead of dying quietly.
    let r = run(&["--", "sh", "-c", "yes | head -n 1"]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert!(!r.stderr().contains("Broken pipe"), "{}", r.stderr());
}

#[test]
fn full_disk_is_a_clear_error_after_the_summary_is_shown_and_keeps_the_old_report() {
    let _g = exclusive();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("report.json"), "previous run").unwrap();
    // A file-size limit of 1 KiB makes every write of the report fail the way
    // a full disk does (EFBIG instead of ENOSPC), without needing a full disk.
    let script = format!(
        "trap '' XFSZ; ulimit -f 1; exec '{}' --quiet --no-rerun --force --out '{}' -- sleep 0.2",
        env!("CARGO_BIN_EXE_boundcheck"),
        dir.path().display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("File too large"), "{stderr}");
    assert!(
        stderr.contains("boundcheck: idle"),
        "the summary is shown before the error: {stderr}"
    );
    let kept = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    assert_eq!(
        kept, "previous run",
        "a failed write never leaves half a report"
    );
}

#[test]
fn a_run_that_cannot_start_leaves_the_previous_report_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("report.json"), "previous run").unwrap();
    let out = bin()
        .args(["--quiet", "--force", "--out"])
        .arg(dir.path())
        .args(["--", "pyhton3-typo", "app.py"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    let kept = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    assert_eq!(kept, "previous run");
}

#[test]
fn bad_arguments_are_refused_before_the_target_runs() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("target-ran");
    let touch = marker.to_str().unwrap();
    // (arguments, what the message must say); each would run `touch MARKER`.
    let cases: &[(&[&str], &str)] = &[
        (&["--timeout", "3s", "--attach", "1"], "cannot be used with"),
        (&["--timeout", "0s"], "timeout of 0"),
        (&["--timeout", "soon"], "not a duration"),
        (&["--timeout=-1s"], "not a duration"),
        (&["--rate", "1e9"], "10000 Hz"),
        (&["--rate", "NaN"], "above 0"),
        (&["--rate", "inf"], "above 0"),
        (&["--runs", "0"], "--runs"),
        (&["--runs", "31"], "--runs"),
        (&["--budget", "forever"], "--budget"),
        (&["--duration", "5s"], "--attach"),
        (
            &["--workload", "cpu", "--attach", "1"],
            "cannot be used with",
        ),
        (&["--strategy", "threads"], "--workload"),
        (&["--vary", "workers"], "is not KEY=V1,V2"),
        (&["--vary", "workers="], "has no values"),
        (&["--vary", "w@rkers=1,2"], "not a usable name"),
        (&["--vary", "workers=1,2"], "no {workers} placeholder"),
    ];
    for (args, needle) in cases {
        let out = bin()
            .args(["--quiet", "--no-rerun", "--out"])
            .arg(dir.path().join("out"))
            .args(*args)
            .args(["--", "touch", touch])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?} should say {needle:?}: {stderr}"
        );
        assert!(!marker.exists(), "{args:?}: the target ran");
    }
    // A placeholder the grid does not fill.
    let out = bin()
        .args(["--quiet", "--vary", "a=1,2", "--", "echo", "{a}", "{b}"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no --vary b=… gives its values"));
}

#[test]
fn braces_in_a_command_without_vary_are_the_commands_own() {
    // Regression: `{x}` was taken for a --vary placeholder even with no --vary.
    let r = run(&["--", "sh", "-c", "echo '{x}'"]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert!(r.stdout().contains("{x}"), "{}", r.stdout());
}

#[test]
fn an_out_dir_holding_a_report_is_never_overwritten_silently() {
    let _g = exclusive();
    let parent = tempfile::tempdir().unwrap();
    let out = parent.path().join("out");
    let go = |extra: &[&str], cmd: &[&str]| {
        let o = bin()
            .args(["--quiet", "--no-rerun", "--out"])
            .arg(&out)
            .args(extra)
            .arg("--")
            .args(cmd)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        o
    };
    let read = |dir: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
    };
    go(&[], &["true"]);
    let first = std::fs::read(out.join("report.json")).unwrap();
    // Second run: a numbered sibling, named on stderr and in the JSON.
    let second = go(&["--json"], &["sleep", "0.05"]);
    let stderr = String::from_utf8_lossy(&second.stderr);
    let numbered = parent.path().join("out-2");
    assert!(
        stderr.contains("holds an earlier run's report.json") && stderr.contains("out-2"),
        "{stderr}"
    );
    let json: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(json["output_dir"], numbered.display().to_string());
    assert_eq!(read(&numbered)["command"][0], "sleep");
    assert_eq!(std::fs::read(out.join("report.json")).unwrap(), first);
    // Third run: out-3.
    go(&[], &["true"]);
    assert!(parent.path().join("out-3/report.json").exists());
    // A command that cannot start writes nowhere, so it names no directory
    // and leaves no out-4 behind.
    let failed = bin()
        .args(["--quiet", "--no-rerun", "--out"])
        .arg(&out)
        .args(["--", "no-such-command-boundcheck"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_ne!(failed.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("writing to"), "{stderr}");
    assert!(!parent.path().join("out-4").exists(), "{stderr}");
    // --force replaces the first.
    go(&["--force"], &["sleep", "0.01"]);
    let forced = read(&out);
    assert_eq!(forced["command"][0], "sleep");
    assert!(forced.get("output_dir").is_none(), "{forced}");
    assert!(!parent.path().join("out-4").exists());
    // `replay out/timeline.json --out out` keeps the report beside its input too.
    let o = bin()
        .arg("replay")
        .arg(out.join("timeline.json"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(read(&out), forced, "the replayed-from report is kept");
    assert!(parent.path().join("out-4/report.json").exists());
}

#[test]
fn help_documents_timeout_force_and_their_exit_status() {
    let out = bin().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in ["--timeout", "--force", "124 when", "DIR-2"] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}

#[test]
fn errors_on_a_closed_stderr_pipe_keep_their_exit_status() {
    // Regression: `eprintln!` panicked on EPIPE (`… 2>&1 | head`): exit 101.
    for (args, want) in [
        (&["--", "definitely-not-a-command-xyz"][..], 127),
        (&["--rate", "0", "--", "true"][..], 2),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = bin()
            .args(["--quiet", "--no-rerun", "--out"])
            .arg(dir.path())
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stderr.take());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(want), "{args:?}");
    }
}

#[path = "cli/report_subcommand.rs"]
mod report_subcommand;
