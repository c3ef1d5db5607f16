//! Permissions, for real: boundcheck run as an unprivileged user (`setpriv
//! --reuid=nobody`) and as root without CAP_SYS_PTRACE (`setpriv
//! --bounding-set=-sys_ptrace`, what a container without SYS_PTRACE gets).
//! A case that cannot be set up (not root, no `setpriv`) fails saying what
//! it needs, unless `BOUNDCHECK_SKIP_PERMISSIONS=1` opts out.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Whether we can run commands as another user here; fails saying why not,
/// unless `BOUNDCHECK_SKIP_PERMISSIONS=1` (then `false`: the test returns).
fn can_switch_users() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip_or_fail(
            "root, to run boundcheck as another user",
            "BOUNDCHECK_SKIP_PERMISSIONS",
            "the tests as root (CI does: `sudo -E scripts/test.sh`)",
        );
        return false;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        skip_or_fail(
            "`setpriv` (util-linux)",
            "BOUNDCHECK_SKIP_PERMISSIONS",
            "scripts/install-test-tools.sh",
        );
        return false;
    }
    true
}

fn as_nobody() -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]);
    c
}

/// An output directory anyone may write to.
fn open_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    d
}

fn boundcheck(mut prefix: Command, out: &Path, args: &[&str]) -> Output {
    prefix
        .arg(env!("CARGO_BIN_EXE_boundcheck"))
        .args(["--quiet", "--no-rerun", "--out"])
        .arg(out)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn report(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

fn caveat<'a>(r: &'a Value, code: &str) -> Option<&'a str> {
    r["diagnosis"]["caveats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == code)
        .and_then(|c| c["message"].as_str())
}

#[test]
fn unprivileged_run_falls_back_to_proc_only_when_perf_is_refused() {
    if !can_switch_users() {
        return;
    }
    let _g = exclusive();
    let dir = open_dir();
    let out = dir.path().join("out");
    let o = boundcheck(as_nobody(), &out, &["--", "sleep", "0.5"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let r = report(&out);
    assert_eq!(r["diagnosis"]["verdict"], "idle", "{r}");
    // Counting kernel time (needed for context switches) is allowed to an
    // unprivileged user only with perf_event_paranoid <= 1.
    let paranoid: i32 = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let msg = caveat(&r, "no-perf-counters");
    if paranoid >= 2 {
        let msg = msg.unwrap_or_else(|| panic!("perf refused without a caveat: {r}"));
        assert!(
            msg.contains("sysctl kernel.perf_event_paranoid=1"),
            "the exact fix: {msg}"
        );
        assert!(r["counters"]["task_clock_s"].is_null(), "{r}");
    } else {
        assert!(msg.is_none(), "perf allowed at paranoid {paranoid}: {r}");
    }
}

#[test]
fn attaching_to_another_users_process_without_rights_is_a_clear_error() {
    if !can_switch_users() {
        return;
    }
    let mut victim = Command::new("sleep").arg("20").spawn().unwrap();
    let dir = open_dir();
    let pid = victim.id().to_string();
    let o = boundcheck(
        as_nobody(),
        &dir.path().join("out"),
        &["--attach", &pid, "--duration", "1s"],
    );
    let still_running = victim.try_wait().unwrap().is_none();
    let _ = victim.kill();
    let _ = victim.wait();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot attach to pid {pid}"))
            && stderr.contains("same user as the process, or as root"),
        "{stderr}"
    );
    assert!(still_running, "the process was left alone");
}

#[test]
fn without_cap_sys_ptrace_blocked_threads_are_flagged_not_misread() {
    if !can_switch_users() {
        return;
    }
    let _g = exclusive();
    // Another user's process; root without CAP_SYS_PTRACE may read its
    // /proc/PID/stat but not /proc/PID/syscall.
    let mut victim = as_nobody();
    victim.args(["sleep", "20"]);
    let r = attached_without_ptrace(victim, "1s");
    let msg = caveat(&r, "ptrace-denied").unwrap_or_else(|| panic!("no caveat: {r}"));
    assert!(msg.contains("CAP_SYS_PTRACE"), "{msg}");
}

/// Another user's process (`victim`, run as nobody), attached to for
/// `duration` by root without CAP_SYS_PTRACE (setpriv execs boundcheck
/// after dropping it): the report, once boundcheck exited 0.
fn attached_without_ptrace(mut victim: Command, duration: &str) -> Value {
    let mut victim = victim.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let dir = open_dir();
    let out = dir.path().join("out");
    let mut drop_ptrace = Command::new("setpriv");
    drop_ptrace.args(["--bounding-set=-sys_ptrace", "--"]);
    let pid = victim.id().to_string();
    let o = boundcheck(
        drop_ptrace,
        &out,
        &["--attach", &pid, "--duration", duration],
    );
    let _ = victim.kill();
    let _ = victim.wait();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    report(&out)
}

#[test]
fn a_refused_stack_open_reports_its_real_cause_not_the_build() {
    if !can_switch_users() {
        return;
    }
    // Another user's Python (Debian's, which that user can run), attached to
    // by root without CAP_SYS_PTRACE: py-spy's open is refused by the kernel.
    let python = Path::new("/usr/bin/python3");
    if !python.is_file() {
        skip_or_fail(
            "Debian's /usr/bin/python3 (a Python another user can run)",
            "BOUNDCHECK_SKIP_PERMISSIONS",
            "scripts/install-test-tools.sh",
        );
        return;
    }
    let _g = exclusive();
    let busy =
        "import time\nt = time.monotonic()\nwhile time.monotonic() - t < 20: sum(range(10000))";
    let mut victim = as_nobody();
    victim.arg(python).args(["-c", busy]);
    let r = attached_without_ptrace(victim, "2s");
    let msg = caveat(&r, "no-python-stacks").unwrap_or_else(|| panic!("no caveat: {r}"));
    // The kernel's answer, from py-spy's error chain, and its fix; the build
    // (3.11 with the GIL) is not blamed.
    assert!(msg.contains("Permission denied"), "{msg}");
    assert!(msg.contains("ptrace rights"), "{msg}");
    assert!(!msg.contains("free-threaded"), "{msg}");
}

#[test]
fn an_unprivileged_attach_says_which_perf_data_it_could_not_have_and_the_fix() {
    if !can_switch_users() {
        return;
    }
    let _g = exclusive();
    let mut own = as_nobody().args(["sleep", "20"]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let dir = open_dir();
    let out = dir.path().join("out");
    let pid = own.id().to_string();
    let o = boundcheck(as_nobody(), &out, &["--attach", &pid, "--duration", "1s"]);
    let _ = own.kill();
    let _ = own.wait();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let r = report(&out);
    assert_eq!(r["diagnosis"]["verdict"], "idle", "{r}");
    assert!(caveat(&r, "attached-mid-run").is_some(), "{r}");
    let paranoid: i32 = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Exact off-CPU time needs kernel call chains, refused to an
    // unprivileged user above paranoid 1: said, with the fix.
    let refused = caveat(&r, "perf-refused");
    if paranoid >= 2 {
        let msg = refused.unwrap_or_else(|| panic!("perf refused without a caveat: {r}"));
        assert!(msg.contains("perf_event_paranoid"), "the exact fix: {msg}");
        assert!(r["off_cpu"]["unavailable"].is_string(), "{r}");
    } else {
        assert!(
            refused.is_none(),
            "perf allowed at paranoid {paranoid}: {r}"
        );
    }
}
