//! Running the bench grid: prepare every cell, run them in interleaved
//! rounds, then compute each cell's figures against its baselines.

use super::engines;
use super::metrics::{self, serial_counterpart};
use super::{BENCH_SCHEMA_VERSION, BenchReport, BenchSpec, Cell, CellRun, CellStatus, Interpreter};
use crate::diagnose::diagnose;
use crate::error::Error;
use crate::rerun::measure::{self, MeasureSpec};
use crate::sample::host;
use crate::target::signals;
use crate::timeline::RunMeta;
use crate::workloads::{self, WorkloadSpec};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A cell ready to run.
struct Ready {
    cell: Cell,
    argv: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    _prepared: Option<workloads::Prepared>,
}

/// The interpreter behind a launcher: pyenv's `python3` is a bash shim that
/// costs ~0.3 s per start, which would drown short cells in start-up time.
fn real_interpreter(python: &Path) -> PathBuf {
    std::process::Command::new(python)
        .args(["-c", "import sys; print(sys.executable)"])
        .stdin(std::process::Stdio::null())
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|p| !p.is_empty() && Path::new(p).exists())
        .map_or_else(|| python.to_path_buf(), PathBuf::from)
}

/// Run the whole bench and return its report (files are written by the caller).
pub fn run_bench(spec: &BenchSpec) -> Result<BenchReport, Error> {
    signals::install();
    let mut spec = spec.clone();
    spec.python = real_interpreter(&spec.python);
    let spec = &spec;
    let cores = host::cores_available(0);
    let workers = if spec.workers == 0 {
        cores
    } else {
        spec.workers
    };
    let started_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let mut interpreters = Vec::new();
    let python_version = host::python_version(&spec.python.to_string_lossy()).ok_or_else(|| {
        Error::Workload(format!(
            "cannot run {} --version: is Python installed?",
            spec.python.display()
        ))
    })?;
    interpreters.push(Interpreter {
        role: "python".into(),
        path: spec.python.display().to_string(),
        version: python_version.clone(),
    });
    let python_314 = if crate::rerun::plan::version_at_least(&python_version, 3, 14) {
        Some(spec.python.clone())
    } else {
        crate::rerun::plan::find_on_path("python3.14")
    };
    if let Some(p) = &python_314 {
        let v = host::python_version(&p.to_string_lossy()).unwrap_or_default();
        interpreters.push(Interpreter {
            role: "python-3.14".into(),
            path: p.display().to_string(),
            version: v,
        });
    }
    let python_ft = crate::rerun::plan::find_free_threaded(spec.python_ft.as_deref());
    if let Some(p) = &python_ft {
        let v = host::python_version(&p.to_string_lossy()).unwrap_or_default();
        interpreters.push(Interpreter {
            role: "free-threaded".into(),
            path: p.display().to_string(),
            version: format!("{v} (free-threaded)"),
        });
    }
    // Only the modules a chosen cell needs are probed (importing numba
    // takes a second or more).
    let mut needed: Vec<&'static str> = Vec::new();
    for w in &spec.workloads {
        for s in &spec.strategies {
            needed.extend(engines::needs(w, s));
        }
    }
    needed.sort_unstable();
    needed.dedup();
    let modules = engines::ModulePythons::probe(&needed, &spec.python);
    for (module, p) in modules.used() {
        let v = host::python_version(&p.to_string_lossy()).unwrap_or_default();
        interpreters.push(Interpreter {
            role: format!("with {module}"),
            path: p.display().to_string(),
            version: v,
        });
    }
    let scratch = tempfile::Builder::new()
        .prefix("boundcheck-bench-")
        .tempdir()
        .map_err(|e| Error::Workload(format!("cannot create a scratch directory: {e}")))?;
    let dir = scratch.path();
    let mut ready = Vec::new();
    for size in &spec.sizes {
        for w in &spec.workloads {
            for s in &spec.strategies {
                ready.push(prepare(
                    w,
                    s,
                    size,
                    workers,
                    spec,
                    python_314.as_deref(),
                    python_ft.as_deref(),
                    &modules,
                ));
            }
        }
    }
    let total = spec.runs
        * ready
            .iter()
            .filter(|r| r.cell.status == CellStatus::Measured)
            .count();
    let progress = crate::progress::bar(spec.quiet, "bench", total as u64);
    'rounds: for round in 0..spec.runs {
        for (i, r) in ready.iter_mut().enumerate() {
            if r.cell.status != CellStatus::Measured {
                continue;
            }
            if signals::received().is_some() {
                break 'rounds;
            }
            if let Some(p) = &progress {
                p.set_message(format!(
                    "{}/{}/{} · run {} of {}",
                    r.cell.workload,
                    r.cell.strategy,
                    r.cell.size,
                    round + 1,
                    spec.runs
                ));
            }
            run_cell(r, dir, i, cores);
            if let Some(p) = &progress {
                p.inc(1);
            }
        }
    }
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    drop(scratch);
    let mut cells: Vec<Cell> = ready.into_iter().map(|r| r.cell).collect();
    let mut warnings = Vec::new();
    finish(&mut cells, cores, &mut warnings);
    if signals::received().is_some() {
        warnings.push("interrupted: cells have fewer runs than asked".into());
    }
    Ok(BenchReport {
        format: "boundcheck-bench".into(),
        schema_version: BENCH_SCHEMA_VERSION.into(),
        started_at,
        host: host::host_facts(),
        cores,
        runs: spec.runs,
        quick: spec.quick,
        interpreters,
        cells,
        warnings,
    })
}

#[allow(clippy::too_many_arguments)]
fn prepare(
    workload: &str,
    strategy: &str,
    size: &str,
    workers: usize,
    spec: &BenchSpec,
    python_314: Option<&Path>,
    python_ft: Option<&Path>,
    modules: &engines::ModulePythons,
) -> Ready {
    let mut cell = Cell {
        workload: workload.into(),
        strategy: strategy.into(),
        size: size.into(),
        workers,
        status: CellStatus::Measured,
        reason: None,
        interpreter: None,
        runs: Vec::new(),
        median_s: None,
        min_s: None,
        max_s: None,
        cpu_s: None,
        throughput_per_s: None,
        peak_rss_bytes: None,
        cpu_efficiency: None,
        speedup: None,
        parallel_speedup: None,
        efficiency: None,
        verdict: None,
        warning: None,
        engine_startup_s: None,
    };
    let not = |mut cell: Cell, status: CellStatus, reason: String| {
        cell.status = status;
        cell.reason = Some(reason);
        Ready {
            cell,
            argv: Vec::new(),
            env: Vec::new(),
            _prepared: None,
        }
    };
    if strategy.starts_with("native") {
        let me = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("boundcheck"));
        let argv: Vec<OsString> = vec![
            me.into(),
            "native-workload".into(),
            "--workload".into(),
            workload.into(),
            "--strategy".into(),
            strategy.into(),
            "--workers".into(),
            workers.to_string().into(),
            "--size".into(),
            size.into(),
        ];
        return Ready {
            cell,
            argv,
            env: Vec::new(),
            _prepared: None,
        };
    }
    let needed = engines::needs(workload, strategy).map(|m| modules.python_for(m));
    let (python, runner_strategy, extra_env): (PathBuf, &str, Vec<(OsString, OsString)>) = match (
        needed, strategy,
    ) {
        (Some(Ok(p)), _) => (p.to_path_buf(), strategy, Vec::new()),
        (Some(Err(why)), _) => return not(cell, CellStatus::NotAvailable, why),
        (None, "interpreters") => match python_314 {
            Some(p) => (p.to_path_buf(), "interpreters", Vec::new()),
            None => {
                return not(
                    cell,
                    CellStatus::NotAvailable,
                    "needs Python 3.14+ (InterpreterPoolExecutor): none found; run scripts/install-pythons.sh and put its bin dir on PATH, or pass --python".into(),
                );
            }
        },
        (None, "free-threaded") => match python_ft {
            Some(p) => (
                p.to_path_buf(),
                "threads",
                vec![("PYTHON_GIL".into(), "0".into())],
            ),
            None => {
                return not(
                    cell,
                    CellStatus::NotAvailable,
                    "needs a free-threaded Python (python3.14t/python3.13t on PATH or --python-ft PATH); scripts/install-pythons.sh builds one".into(),
                );
            }
        },
        (None, s) => (spec.python.clone(), s, Vec::new()),
    };
    cell.interpreter = Some(python.display().to_string());
    let wspec = WorkloadSpec {
        name: workload.into(),
        strategy: runner_strategy.into(),
        workers,
        size: size.into(),
        python,
    };
    match workloads::prepare(&wspec) {
        Ok(p) => {
            let mut env = p.env.clone();
            env.extend(extra_env);
            Ready {
                cell,
                argv: p.argv.clone(),
                env,
                _prepared: Some(p),
            }
        }
        Err(e) => not(cell, CellStatus::NotApplicable, e.to_string()),
    }
}

fn run_cell(r: &mut Ready, dir: &Path, i: usize, cores: usize) {
    let stdout = dir.join(format!("out-{i}.txt"));
    let stderr = dir.join(format!("err-{i}.txt"));
    let m = measure::measure(&MeasureSpec {
        argv: &r.argv,
        env: &r.env,
        cpus: None,
        stdout: Some(&stdout),
        stderr: &stderr,
        timeout: Duration::from_secs(300),
        rate_hz: 50.0,
    });
    if signals::received().is_some() {
        return;
    }
    let last_line = |p: &Path| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_string())
    };
    match m {
        Err(e) => {
            r.cell.status = CellStatus::Failed;
            r.cell.reason = Some(e);
        }
        Ok(m) if m.result.exit_status == 3 => {
            r.cell.status = CellStatus::NotApplicable;
            r.cell.reason = last_line(&stderr);
        }
        Ok(m) if m.result.exit_status != 0 => {
            r.cell.status = CellStatus::Failed;
            r.cell.reason = Some(format!(
                "exited with status {}: {}",
                m.result.exit_status,
                last_line(&stderr).unwrap_or_default()
            ));
        }
        Ok(m) => {
            let line = last_line(&stdout)
                .and_then(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
                .unwrap_or_default();
            let verdict = verdict_of(m.recording, m.exit, cores);
            r.cell.runs.push(CellRun {
                wall_s: m.result.wall_s,
                cpu_s: m.result.cpu_s,
                peak_rss_bytes: m.result.peak_rss_bytes,
                exit_status: 0,
                tasks: line["tasks"].as_u64(),
                verdict,
                engine_startup_s: line["engine_startup_s"].as_f64(),
            });
        }
    }
}

/// Diagnose one run from what the light sampler saw.
fn verdict_of(
    rec: crate::sample::Recording,
    exit: crate::timeline::ExitInfo,
    cores: usize,
) -> Option<String> {
    if rec.samples.len() < 3 {
        return None;
    }
    let meta = RunMeta {
        command: Vec::new(),
        mode: crate::timeline::RunMode::Launch,
        workload: None,
        started_at: String::new(),
        duration_s: rec.duration_s,
        exit: Some(exit),
        interrupted: false,
        timed_out_after_s: None,
        host: Default::default(),
        cores_available: cores,
        python_version: None,
        attach: None,
    };
    let tl = rec.into_timeline(meta, None);
    Some(diagnose(&tl).verdict.as_str().to_string())
}

/// Summaries, baselines and physics for every cell.
fn finish(cells: &mut [Cell], cores: usize, warnings: &mut Vec<String>) {
    let interrupted = signals::received().is_some();
    // Only a cell measured in every round is a baseline.
    let median_of = |cells: &[Cell], w: &str, s: &str, size: &str| -> Option<f64> {
        let c = cells.iter().find(|c| {
            c.workload == w && c.strategy == s && c.size == size && c.status == CellStatus::Measured
        })?;
        let walls: Vec<f64> = c.runs.iter().map(|r| r.wall_s).collect();
        crate::rerun::stats::Summary::of(&walls).map(|s| s.median)
    };
    let snapshot = cells.to_vec();
    for c in cells.iter_mut() {
        if c.status == CellStatus::Measured && c.runs.is_empty() {
            c.status = if interrupted {
                CellStatus::Skipped
            } else {
                CellStatus::Failed
            };
            c.reason.get_or_insert_with(|| "no run finished".into());
        }
        if c.status != CellStatus::Measured {
            continue; // a cell that failed in a later round has no figures
        }
        let walls: Vec<f64> = c.runs.iter().map(|r| r.wall_s).collect();
        let cpus: Vec<f64> = c.runs.iter().map(|r| r.cpu_s).collect();
        let tasks = c.runs.iter().find_map(|r| r.tasks);
        let baseline = median_of(&snapshot, &c.workload, "sequential", &c.size);
        let serial = median_of(
            &snapshot,
            &c.workload,
            serial_counterpart(&c.strategy),
            &c.size,
        );
        let Some(f) = metrics::figures(
            &c.workload,
            &c.strategy,
            c.workers,
            cores,
            &walls,
            &cpus,
            tasks,
            baseline,
            serial,
        ) else {
            continue;
        };
        c.median_s = Some(f.wall.median);
        c.min_s = Some(f.wall.min);
        c.max_s = Some(f.wall.max);
        c.cpu_s = Some(f.cpu_s);
        c.throughput_per_s = f.throughput_per_s;
        // A run too short for the 50 Hz sampler shows no memory: say nothing, not 0.
        c.peak_rss_bytes = c
            .runs
            .iter()
            .map(|r| r.peak_rss_bytes)
            .max()
            .filter(|&b| b > 0);
        c.cpu_efficiency = Some(f.cpu_efficiency);
        let startups: Vec<f64> = c.runs.iter().filter_map(|r| r.engine_startup_s).collect();
        c.engine_startup_s = crate::rerun::stats::Summary::of(&startups).map(|s| s.median);
        c.speedup = f.speedup;
        c.parallel_speedup = f.parallel_speedup;
        c.efficiency = f.efficiency;
        if let Some(w) = &f.warning {
            warnings.push(w.clone());
        }
        c.warning = f.warning;
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for v in c.runs.iter().filter_map(|r| r.verdict.as_deref()) {
            *counts.entry(v).or_default() += 1;
        }
        c.verdict = counts
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .map(|(v, _)| v.to_string());
    }
}
