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
pub const WORKLOADS: [&str; 8] = [
    "cpu",
    "memory",
    "io",
    "network",
    "lock",
    "sleep",
    "async-blocked",
    "pipeline",
];
/// Strategy names, a public contract.
pub const STRATEGIES: [&str; 5] = [
    "sequential",
    "threads",
    "processes",
    "asyncio",
    "interpreters",
];
/// Delay of each request to the local server of the `network` workload.
pub const NETWORK_DELAY: Duration = Duration::from_millis(20);

/// Which workload to run and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadSpec {
    pub name: String,
    pub strategy: String,
    /// 0 means one per CPU.
    pub workers: usize,
    pub size: String,
    pub python: PathBuf,
}

impl WorkloadSpec {
    /// `cpu/threads/2/med`, the label in reports.
    pub fn label(&self) -> String {
        let workers = self.resolved_workers();
        format!("{}/{}/{}/{}", self.name, self.strategy, workers, self.size)
    }

    /// The workers that will run at once: 0 resolved to one per usable CPU,
    /// and 1 for `sequential` (as the runner reports it). Resolved here, not
    /// by the runner, so the command a report shows says what ran, never
    /// `--workers 0`.
    pub fn resolved_workers(&self) -> usize {
        match (self.strategy.as_str(), self.workers) {
            ("sequential", _) => 1,
            (_, 0) => std::thread::available_parallelism().map_or(1, |n| n.get()),
            (_, n) => n,
        }
    }
}

/// A workload ready to launch: argv, environment, and what must live while it runs.
pub struct Prepared {
    pub argv: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    dir: PathBuf,
    _server: Option<DelayServer>,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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
    if !STRATEGIES.contains(&spec.strategy.as_str()) {
        return Err(Error::Workload(format!(
            "unknown strategy '{}': choose one of {}",
            spec.strategy,
            STRATEGIES.join(", ")
        )));
    }
    if spec.strategy == "interpreters" {
        check_python_314(&spec.python)?;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "boundcheck-workload-{}-{nanos}",
        std::process::id()
    ));
    let io_err = |e: std::io::Error| {
        Error::Workload(format!(
            "cannot write workload files to {}: {e}",
            dir.display()
        ))
    };
    std::fs::create_dir_all(&dir).map_err(io_err)?;
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
        dir,
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
