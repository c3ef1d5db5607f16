//! Where the overhead benchmark finds its interpreter, the peer profilers and
//! its output directory.

use super::MANIFEST_DIR;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub(super) fn find_python() -> PathBuf {
    if let Some(p) = std::env::var_os("BOUNDCHECK_BENCH_PYTHON") {
        return PathBuf::from(p);
    }
    // Resolve the real interpreter behind a pyenv-style shim once.
    match python_says("import sys; print(sys.executable)") {
        Some(p) if Path::new(&p).is_file() => PathBuf::from(p),
        _ => PathBuf::from("python3"),
    }
}

fn python_says(code: &str) -> Option<String> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(code)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !s.is_empty() && s != "None").then_some(s)
}

/// A peer profiler's executable: the venv `scripts/install-bench-tools.sh`
/// makes first, then shutil.which, PATH and the user base.
pub(super) fn find_tool(name: &str) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    let tools = std::env::var_os("BOUNDCHECK_BENCH_TOOLS").map_or_else(
        || Path::new(MANIFEST_DIR).join("target/bench-tools"),
        PathBuf::from,
    );
    candidates.push(tools.join("venv").join("bin").join(name));
    // shutil.which through the interpreter: behind pyenv this finds the real
    // executable rather than the bash shim on PATH.
    if let Some(p) = python_says(&format!("import shutil; print(shutil.which('{name}'))")) {
        candidates.push(PathBuf::from(p));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join(name)));
    }
    if let Some(base) = python_says("import site; print(site.getuserbase())") {
        candidates.push(Path::new(&base).join("bin").join(name));
    }
    candidates.into_iter().find(|c| {
        c.is_file()
            && Command::new(c)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    })
}

pub(super) fn tool_version(exe: &Path) -> String {
    Command::new(exe)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "?".into())
}

/// The cargo target directory: the bench runs from target/<profile>/deps/.
pub(super) fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.parent()?.to_path_buf()))
        .filter(|p| p.is_dir())
        .unwrap_or_else(|| Path::new(MANIFEST_DIR).join("target"))
}
