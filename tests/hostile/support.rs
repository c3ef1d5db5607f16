//! Helpers of `tests/hostile.rs`: unique markers, the process-table scan for
//! strays, and runs bounded in time with output kept in files.
#![allow(dead_code)]

use crate::common::{bin, fixture};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest any single run may take before we call it a hang.
pub const HANG: Duration = Duration::from_secs(60);

/// A marker argument unique to this test and this test process.
pub fn marker(name: &str) -> String {
    format!("bc-hostile-{name}-{}", std::process::id())
}

pub fn hostile(name: &str) -> String {
    fixture("hostile")
        .join(name)
        .to_str()
        .expect("utf-8 path")
        .to_string()
}

/// Live processes (not zombies) whose command line holds `marker` as an argument.
pub fn strays(marker: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if raw.split(|&b| b == 0).any(|a| a == marker.as_bytes()) {
            let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
            found.push((pid, cmd));
        }
    }
    found
}

pub fn kill_all(marker: &str) {
    for (pid, _) in strays(marker) {
        // SAFETY: killing a test fixture we started (found by its marker).
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Nothing carrying `marker` is left running (a short wait lets the kernel
/// finish tearing down processes that were just killed).
pub fn assert_no_stray(marker: &str) {
    let start = Instant::now();
    loop {
        let left = strays(marker);
        if left.is_empty() {
            return;
        }
        if start.elapsed() > Duration::from_secs(3) {
            kill_all(marker);
            panic!("stray processes left behind: {left:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One finished run, with its output kept in files (a daemon that inherits
/// a pipe would keep it open and make a pipe reader hang).
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub dir: tempfile::TempDir,
}

impl Outcome {
    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// report.json, read by boundcheck's own reader and as plain JSON.
    pub fn report(&self) -> Value {
        let path = self.out().join("report.json");
        if let Err(e) = boundcheck::report::read_report(&path) {
            panic!("report.json unreadable: {e}\nstderr:\n{}", self.stderr);
        }
        if let Err(e) = boundcheck::report::read_timeline(&self.out().join("timeline.json")) {
            panic!("timeline.json unreadable: {e}\nstderr:\n{}", self.stderr);
        }
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    pub fn caveats(&self) -> Vec<String> {
        self.report()["diagnosis"]["caveats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["code"].as_str().unwrap().to_string())
            .collect()
    }
}

/// Run boundcheck (`--quiet --no-rerun --out DIR` first) and fail if it
/// takes longer than [`HANG`].
pub fn run_bounded(args: &[&str]) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = bin()
        .args(["--quiet", "--no-rerun", "--out"])
        .arg(dir.path().join("out"))
        .args(args)
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut child, &err_path);
    Outcome {
        code: status.code(),
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        dir,
    }
}

pub fn wait_bounded(child: &mut std::process::Child, stderr: &Path) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "boundcheck hung for {HANG:?}; stderr:\n{}",
                std::fs::read_to_string(stderr).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn python(fixture: &str, mark: &str, rest: &[&str]) -> Vec<String> {
    let mut v = vec!["--".into(), "python3".into(), hostile(fixture), mark.into()];
    v.extend(rest.iter().map(|s| s.to_string()));
    v
}

pub fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A Python 2 interpreter, if one is installed (PATH, then pyenv's versions).
pub fn python2() -> Option<PathBuf> {
    let runs = |p: &Path| {
        Command::new(p)
            .arg("-c")
            .arg("import sys; sys.exit(0 if sys.version_info[0] == 2 else 1)")
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let on_path = PathBuf::from("python2");
    if runs(&on_path) {
        return Some(on_path);
    }
    let versions = Path::new(&std::env::var("HOME").ok()?).join(".pyenv/versions");
    std::fs::read_dir(versions)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("2."))
        .map(|e| e.path().join("bin/python2"))
        .find(|p| runs(p))
}
