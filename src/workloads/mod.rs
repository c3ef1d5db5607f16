//! Built-in workloads: Python programs shipped inside the binary, so anyone
//! can see boundcheck's verdicts without a program of their own.
//!
//! The two Python files are written to a fresh temporary directory which is
//! put on `PYTHONPATH`: the task functions must live in an importable module
//! (not `__main__`) for process pools that spawn and for 3.14's
//! `InterpreterPoolExecutor`, which looks functions up by name.

pub mod native;
mod server;

use crate::error::Error;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

pub use server::DelayServer;

const BCWORK_PY: &str = include_str!("python/bcwork.py");
const RUNNER_PY: &str = include_str!("python/run_workload.py");

/// Workload names, a public contract.
pub const WORKLOADS: [&str; 9] = [
    "cpu",
    "memory",
    "io",
    "network",
    "lock",
    "sleep",
    "async-blocked",
    "pipeline",
    "array",
];
/// Strategy names, a public contract.
pub const STRATEGIES: [&str; 5] = [
    "sequential",
    "threads",
    "processes",
    "asyncio",
    "interpreters",
];
/// Strategies only `boundcheck bench` runs, for one workload each and with
/// an interpreter that has the module they need (`numba` for the cpu
/// workload's JIT-compiled loop, numpy for the `array` workload's
/// `shared-memory` pool): see `bench::run`.
pub const BENCH_ONLY_STRATEGIES: [&str; 4] = ["numba", "shared-memory", "ray", "dask"];
/// Delay of each request to the local server of the `network` workload.
pub const NETWORK_DELAY: Duration = Duration::from_millis(20);

pub use crate::spec::WorkloadSpec;

/// A workload ready to launch: argv, environment, and what must live while it runs.
pub struct Prepared {
    pub argv: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    /// The workload's files, removed when the workload is dropped.
    _dir: tempfile::TempDir,
    _server: Option<DelayServer>,
}

/// Write the workload files and start its server if it needs one.
pub fn prepare(spec: &WorkloadSpec) -> Result<Prepared, Error> {
    if !WORKLOADS.contains(&spec.name.as_str()) {
        return Err(Error::Workload(format!(
            "unknown workload '{}': choose one of {}",
            spec.name,
            WORKLOADS.join(", ")
        )));
    }
    let s = spec.strategy.as_str();
    if !STRATEGIES.contains(&s) && !BENCH_ONLY_STRATEGIES.contains(&s) {
        return Err(Error::Workload(format!(
            "unknown strategy '{}': choose one of {}",
            spec.strategy,
            STRATEGIES.join(", ")
        )));
    }
    if spec.strategy == "interpreters" {
        check_python_314(&spec.python)?;
    }
    // A fresh private directory (unpredictable name, mode 0700), not a
    // guessable /tmp path another user could have created first.
    let scratch = tempfile::Builder::new()
        .prefix("boundcheck-workload-")
        .tempdir()
        .map_err(|e| Error::Workload(format!("cannot create a scratch directory: {e}")))?;
    let dir = scratch.path().to_path_buf();
    let io_err = |e: std::io::Error| {
        Error::Workload(format!(
            "cannot write workload files to {}: {e}",
            dir.display()
        ))
    };
    std::fs::write(dir.join("bcwork.py"), BCWORK_PY).map_err(io_err)?;
    std::fs::write(dir.join("run_workload.py"), RUNNER_PY).map_err(io_err)?;
    let server = if matches!(spec.name.as_str(), "network" | "pipeline") {
        Some(
            DelayServer::start(NETWORK_DELAY)
                .map_err(|e| Error::Workload(format!("cannot start the local server: {e}")))?,
        )
    } else {
        None
    };
    let mut argv: Vec<OsString> = vec![
        spec.python.clone().into(),
        dir.join("run_workload.py").into(),
        "--workload".into(),
        spec.name.clone().into(),
        "--strategy".into(),
        spec.strategy.clone().into(),
        "--workers".into(),
        spec.resolved_workers().to_string().into(),
        "--size".into(),
        spec.size.clone().into(),
    ];
    if let Some(s) = &server {
        argv.push("--url".into());
        argv.push(s.url().into());
    }
    let mut pythonpath = OsString::from(dir.as_os_str());
    if let Some(old) = std::env::var_os("PYTHONPATH") {
        pythonpath.push(":");
        pythonpath.push(old);
    }
    let env = vec![
        ("PYTHONPATH".into(), pythonpath),
        ("BOUNDCHECK_TMPDIR".into(), dir.clone().into()),
    ];
    Ok(Prepared {
        argv,
        env,
        _dir: scratch,
        _server: server,
    })
}

/// `interpreters` needs `concurrent.futures.InterpreterPoolExecutor` (3.14+).
fn check_python_314(python: &PathBuf) -> Result<(), Error> {
    let out = std::process::Command::new(python)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .map_err(|e| Error::Workload(format!("cannot run {}: {e}", python.display())))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let ok = version
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
        .is_some_and(|v| v >= (3, 14));
    if ok {
        Ok(())
    } else {
        Err(Error::Workload(format!(
            "strategy 'interpreters' needs Python 3.14+ (InterpreterPoolExecutor); {} is Python {version}. Pass --python PATH to a Python 3.14 interpreter",
            python.display()
        )))
    }
}
