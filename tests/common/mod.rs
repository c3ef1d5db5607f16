//! Shared helpers for tests that run the real binary on real processes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};

/// Live tests measure CPU use: running two at once on a 2-core machine would
/// make each see the other's load. Every live test holds this lock.
static MACHINE: Mutex<()> = Mutex::new(());

pub fn exclusive() -> MutexGuard<'static, ()> {
    MACHINE.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_boundcheck"));
    c.stdin(Stdio::null());
    c
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// The verdict a fixture's header promises (`# expected-verdict: X`).
pub fn expected_verdict(name: &str) -> String {
    let text = std::fs::read_to_string(fixture(name)).expect("fixture");
    text.lines()
        .find_map(|l| l.strip_prefix("# expected-verdict:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("{name} has no '# expected-verdict:' header"))
}

pub struct Run {
    pub output: Output,
    pub report: Option<serde_json::Value>,
    pub out_dir: tempfile::TempDir,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    pub fn report(&self) -> &serde_json::Value {
        self.report
            .as_ref()
            .unwrap_or_else(|| panic!("no report.json; stderr:\n{}", self.stderr()))
    }
    pub fn verdict(&self) -> String {
        self.report()["diagnosis"]["verdict"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
    pub fn caveat_codes(&self) -> Vec<String> {
        self.report()["diagnosis"]["caveats"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["code"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Run boundcheck with `args` (a fresh --out dir and --no-rerun are added)
/// and read its report.
pub fn run(args: &[&str]) -> Run {
    run_inner(true, args)
}

/// Like [`run`], with the comparative re-runs on.
pub fn run_rerun(args: &[&str]) -> Run {
    run_inner(false, args)
}

fn run_inner(no_rerun: bool, args: &[&str]) -> Run {
    let out_dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = bin();
    cmd.arg("--out")
        .arg(out_dir.path())
        .arg("--quiet")
        .args(if no_rerun {
            &["--no-rerun"][..]
        } else {
            &[][..]
        })
        .args(args);
    finish(cmd, out_dir)
}

/// `boundcheck replay PATH --out DIR EXTRA…` (subcommand options follow it).
pub fn run_replay(path: &Path, extra: &[&str]) -> Run {
    let out_dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = bin();
    cmd.arg("replay")
        .arg(path)
        .arg("--out")
        .arg(out_dir.path())
        .args(extra);
    finish(cmd, out_dir)
}

/// Run `cmd` and read the report it wrote to `out_dir`.
fn finish(mut cmd: Command, out_dir: tempfile::TempDir) -> Run {
    let output = cmd.output().expect("run boundcheck");
    let report = std::fs::read_to_string(out_dir.path().join("report.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    Run {
        output,
        report,
        out_dir,
    }
}

/// Run a Python fixture under boundcheck.
pub fn run_fixture(name: &str, extra: &[&str]) -> Run {
    let path = fixture(name);
    let path = path.to_str().expect("utf-8 path");
    let mut args = vec!["--", "python3", path];
    args.extend_from_slice(extra);
    run(&args)
}

/// A short description of a run for assertion messages.
pub fn explain(r: &Run) -> String {
    let d = &r.report()["diagnosis"];
    format!(
        "verdict {} (conf {}), cores_busy {}, shares {}\nevidence {}\nstderr:\n{}",
        d["verdict"],
        d["confidence"],
        d["cores_busy"],
        d["shares"],
        d["evidence"],
        r.stderr()
    )
}

/// A tool a test needs is missing here. The test fails, naming the project
/// script that installs it, unless `SKIP_VAR=1` opts out (documented in the
/// README's test section): then this prints the skip and returns, and the
/// caller returns. No test passes silently for want of a tool.
pub fn skip_or_fail(what: &str, skip_var: &str, script: &str) {
    if std::env::var_os(skip_var).is_some_and(|v| v == "1") {
        println!("skipped ({skip_var}=1): needs {what}");
        return;
    }
    panic!("this test needs {what}: run {script}, or set {skip_var}=1 to skip it");
}

/// The CPythons the live stack and verdict tests run under: the machine's
/// `python3` (3.11) and the ones `scripts/install-pythons.sh` provides
/// (3.12 from Ubuntu noble, 3.13 from Debian trixie, 3.14 from Debian sid).
pub const CPYTHONS: &[&str] = &["python3", "python3.12", "python3.13", "python3.14"];

/// `name` found in a directory of PATH.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `name` on PATH and able to start. pyenv's shims (python3.12, python3.13 on
/// these machines) are on PATH but exit 127 unless that pyenv version is
/// selected: such a name counts as missing.
pub fn runs_from_path(name: &str) -> bool {
    on_path(name).is_some()
        && Command::new(name)
            .args(["-c", "pass"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// Every interpreter of [`CPYTHONS`], as a command to run. A missing one
/// (or one that does not start, see [`runs_from_path`]) fails the test,
/// naming the script that installs it, unless its
/// `BOUNDCHECK_SKIP_PYTHON3NN=1` (e.g. `BOUNDCHECK_SKIP_PYTHON312`) opts out.
pub fn cpythons() -> Vec<String> {
    let mut out = Vec::new();
    for &py in CPYTHONS {
        if py == "python3" || runs_from_path(py) {
            out.push(py.to_string());
            continue;
        }
        let skip_var = format!("BOUNDCHECK_SKIP_{}", py.replace('.', "").to_uppercase());
        skip_or_fail(
            &format!("{py} on PATH"),
            &skip_var,
            "scripts/install-pythons.sh (and put its bin directory on PATH: eval \"$(scripts/install-pythons.sh | tail -1)\")",
        );
    }
    out
}
