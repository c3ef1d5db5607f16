//! Which experiments to run, from the verdict and what the command is.
//!
//! - Any command: **as-is** and the **core-count** experiment (pinned to one
//!   CPU), whose ratio is the parallel speedup the program really gets.
//! - A Python command: executor **swaps** injected through a `sitecustomize`
//!   (no code change), chosen by verdict: CPU-bound threads → processes
//!   (also a process pool smaller than the CPUs, joblib on threads or with
//!   `n_jobs=1`), interpreters (3.14+), free-threaded Python; I/O-bound
//!   pools → more threads (also asyncio's default executor and joblib on
//!   threads), processes → threads (also joblib on `loky`); tiny tasks →
//!   `chunksize`. One experiment per mode: the mode varies whichever of
//!   these the program uses.
//! - A built-in workload: every other strategy of the same workload.
//! - `--vary`: every point of the grid.
//!
//! What cannot be tried without editing code (shrinking a lock, moving CPU
//! work out of an event loop) is listed as not measured, with the change.

use super::{NotMeasured, Strategy};
use crate::diagnose::Verdict;
use crate::workloads::{STRATEGIES, WorkloadSpec};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What the planner knows about the run.
#[derive(Debug, Clone)]
pub struct PlanContext {
    pub verdict: Verdict,
    /// The command as profiled (for a workload: its prepared argv).
    pub argv: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub cores: usize,
    /// `--python`: the interpreter for re-runs.
    pub python: Option<PathBuf>,
    /// A Python 3.14+ for the interpreter-pool swap, if found.
    pub python_314: Option<PathBuf>,
    /// A free-threaded Python, if found.
    pub python_ft: Option<PathBuf>,
    /// The Python version the profiled command ran (e.g. `3.11.7`).
    pub python_version: Option<String>,
    pub workload: Option<WorkloadSpec>,
    /// `--vary key=v1,v2` axes and the command template they fill.
    pub vary: Vec<(String, Vec<String>)>,
    /// The diagnosis's predicted speedups, which the experiments check.
    pub predictions: Vec<crate::diagnose::Prediction>,
    /// The code the verdict is about (`function (file:line)`), for the
    /// change an unmeasured recommendation names.
    pub site: Option<String>,
    /// `--cluster`: the existing cluster its engine's experiment runs on
    /// (else each engine gets a local cluster of its own).
    pub cluster: Option<super::engines::Cluster>,
    /// joblib frames were on the profiled stacks: its `Parallel`'s backend
    /// gets an experiment of its own (a swap that finds nothing to change
    /// still costs a whole run, so it is planned only when joblib was seen).
    pub uses_joblib: bool,
}

/// One planned experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub label: String,
    pub kind: &'static str,
    pub strategy: Option<Strategy>,
    pub argv: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    /// Pin to these CPUs.
    pub cpus: Option<Vec<usize>>,
    /// `BOUNDCHECK_SWAP` mode of the injected sitecustomize.
    pub swap: Option<&'static str>,
    /// A built-in workload to prepare (files, server) before running.
    pub workload: Option<WorkloadSpec>,
    /// A Ray or Dask experiment: the engine and the cluster it runs on.
    pub engine: Option<super::engines::EngineRun>,
    /// For a `control`: the strategy of the experiment it is the control of
    /// (the same interpreter path may serve two, e.g. a `python3.14t`).
    pub controls: Option<Strategy>,
}

impl Planned {
    fn new(
        label: impl Into<String>,
        kind: &'static str,
        ctx: &PlanContext,
        argv: Vec<OsString>,
    ) -> Planned {
        Planned {
            label: label.into(),
            kind,
            strategy: None,
            argv,
            env: ctx.env.clone(),
            cpus: None,
            swap: None,
            workload: None,
            engine: None,
            controls: None,
        }
    }
}

/// Whether a program name is a Python interpreter (`python3`, `python3.14t`, a path to one).
pub fn is_python(program: &OsStr) -> bool {
    let name = Path::new(program)
        .file_name()
        .map(OsStr::as_bytes)
        .unwrap_or(b"");
    name.starts_with(b"python")
}

/// Fill `{key}` placeholders of a command template.
pub fn expand(template: &[OsString], values: &[(String, String)]) -> Vec<OsString> {
    template
        .iter()
        .map(|arg| {
            let mut s = arg.to_string_lossy().into_owned();
            for (k, v) in values {
                s = s.replace(&format!("{{{k}}}"), v);
            }
            OsString::from(s)
        })
        .collect()
}

/// Check a `--vary` grid against its template: every axis must appear as
/// `{key}` and every `{key}` must have an axis.
pub fn check_vary(template: &[OsString], vary: &[(String, Vec<String>)]) -> Result<(), String> {
    let text: String = template.iter().map(|a| a.to_string_lossy() + " ").collect();
    for (k, values) in vary {
        if values.is_empty() {
            return Err(format!("--vary {k}= has no values: give them as {k}=a,b,c"));
        }
        if !text.contains(&format!("{{{k}}}")) {
            return Err(format!(
                "--vary {k}=… but the command has no {{{k}}} placeholder: write it where the value goes, e.g. `-- python3 app.py --{k} {{{k}}}`"
            ));
        }
    }
    let mut rest = text.as_str();
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let key = &rest[open + 1..open + close];
        if !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            && !vary.iter().any(|(k, _)| k == key)
        {
            return Err(format!(
                "the command uses {{{key}}} but no --vary {key}=… gives its values"
            ));
        }
        rest = &rest[open + close + 1..];
    }
    Ok(())
}

/// Every point of the grid, in axis order.
pub fn grid(vary: &[(String, Vec<String>)]) -> Vec<Vec<(String, String)>> {
    let mut points: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for (k, values) in vary {
        points = points
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push((k.clone(), v.clone()));
                    q
                })
            })
            .collect();
    }
    points
}

/// Plan the experiments. The first one is always as-is.
pub fn plan(ctx: &PlanContext) -> (Vec<Planned>, Vec<NotMeasured>) {
    let mut out = Vec::new();
    let mut not = Vec::new();
    let python_cmd = ctx.argv.first().is_some_and(|p| is_python(p));
    let rerun_argv = |argv: &[OsString]| -> Vec<OsString> {
        let mut a = argv.to_vec();
        if let (Some(py), true) = (&ctx.python, python_cmd) {
            a[0] = py.clone().into_os_string();
        }
        a
    };

    if !ctx.vary.is_empty() {
        for point in grid(&ctx.vary) {
            let label = point
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            let mut p = Planned::new(label, "vary", ctx, rerun_argv(&expand(&ctx.argv, &point)));
            p.strategy = point.iter().find_map(|(_, v)| Strategy::parse(v));
            out.push(p);
        }
        if let Some(first) = out.first_mut() {
            first.kind = "as-is";
        }
        return (out, not);
    }

    if let Some(w) = &ctx.workload {
        return plan_workload(ctx, w);
    }

    let asis = Planned::new("as-is", "as-is", ctx, rerun_argv(&ctx.argv));
    out.push(asis.clone());
    push_core_count(ctx, &mut out, &asis);
    if !python_cmd {
        return (out, not);
    }
    let swap = |label: &str, mode: &'static str, strategy: Strategy| {
        let mut p = asis.clone();
        p.label = label.to_string();
        p.kind = "swap";
        p.swap = Some(mode);
        p.strategy = Some(strategy);
        p
    };
    let cpu_bound = matches!(
        ctx.verdict,
        Verdict::GilContended | Verdict::CpuSerial | Verdict::Mixed | Verdict::MemoryBound
    );
    if cpu_bound {
        out.push(swap("processes (swap)", "processes", Strategy::Processes));
        let own_314 = ctx
            .python_version
            .as_deref()
            .is_some_and(|v| version_at_least(v, 3, 14));
        match (&ctx.python_314, own_314) {
            (_, true) => out.push(swap("interpreters (swap)", "interpreters", Strategy::Interpreters)),
            (Some(py), false) => {
                let mut p = swap("interpreters (3.14 swap)", "interpreters", Strategy::Interpreters);
                p.kind = "interpreter";
                p.argv[0] = py.clone().into_os_string();
                out.push(p);
                // The unchanged program under 3.14: how much of the swap's
                // gain is the newer interpreter's. After the swap, so a swap
                // that finds no executor stops it (`execute`).
                out.push(control(&asis, py, Strategy::Interpreters, false));
            }
            (None, false) => not.push(NotMeasured {
                strategy: Strategy::Interpreters,
                reason: "needs Python 3.14+ (InterpreterPoolExecutor): none found as python3.14 on PATH; pass --python PATH".into(),
            }),
        }
        match &ctx.python_ft {
            Some(py) => {
                let mut p = asis.clone();
                p.label = format!("free-threaded ({})", exe_name(py));
                p.kind = "interpreter";
                p.strategy = Some(Strategy::FreeThreaded);
                p.argv[0] = py.clone().into_os_string();
                p.env.push(("PYTHON_GIL".into(), "0".into()));
                out.push(p);
                // The same build with its GIL on: what the build alone does
                // (its allocator, its slower single thread).
                out.push(control(&asis, py, Strategy::FreeThreaded, true));
            }
            None => not.push(NotMeasured {
                strategy: Strategy::FreeThreaded,
                reason: "no free-threaded Python found (python3.14t or python3.13t on PATH, or --python-ft PATH)".into(),
            }),
        }
        not.push(NotMeasured {
            strategy: Strategy::Native,
            reason: "moving the hot loop to native code needs a code change; `boundcheck bench` shows the ceiling".into(),
        });
    }
    if cpu_bound || ctx.verdict == Verdict::CpuParallel {
        super::engines::plan(ctx, &asis, &mut out, &mut not);
    }
    match ctx.verdict {
        Verdict::IoNetwork | Verdict::IoDisk => {
            out.push(swap("more threads (swap)", "more-threads", Strategy::Threads));
            out.push(swap("threads (swap)", "threads", Strategy::Threads));
            not.push(NotMeasured {
                strategy: Strategy::Asyncio,
                reason: "rewriting the waits as coroutines needs a code change; try --vary if the program has an asyncio mode".into(),
            });
        }
        Verdict::PoolOverhead => {
            out.push(swap("chunksize (swap)", "chunksize", Strategy::Batch));
            out.push(swap("threads (swap)", "threads", Strategy::Threads));
        }
        Verdict::CpuParallel => out.push(swap("threads (swap)", "threads", Strategy::Threads)),
        Verdict::LockContended => not.push(NotMeasured {
            strategy: Strategy::ShrinkLock,
            reason: "needs a code change: hold the lock only around the shared update, not around slow work".into(),
        }),
        Verdict::EventLoopBlocked => not.push(NotMeasured {
            strategy: Strategy::Offload,
            reason: "needs a code change: run the CPU work with `await loop.run_in_executor(pool, fn, ...)`".into(),
        }),
        _ => {}
    }
    let pools_help =
        cpu_bound || matches!(ctx.verdict, Verdict::CpuParallel | Verdict::PoolOverhead);
    if ctx.uses_joblib && pools_help {
        out.push(swap(
            "joblib multiprocessing (swap)",
            "joblib-backend",
            Strategy::Processes,
        ));
    }
    (out, not)
}

/// The control of an experiment of `strategy` under interpreter `py`:
/// the unchanged command under it, `as-is (python3.14)`; with `gil_on`
/// (a free-threaded build) under `PYTHON_GIL=1`, `as-is (python3.13t, GIL
/// on)`.
fn control(asis: &Planned, py: &Path, strategy: Strategy, gil_on: bool) -> Planned {
    let mut c = asis.clone();
    c.label = if gil_on {
        format!("as-is ({}, GIL on)", exe_name(py))
    } else {
        format!("as-is ({})", exe_name(py))
    };
    c.kind = "control";
    c.controls = Some(strategy);
    c.argv[0] = py.as_os_str().to_os_string();
    if gil_on {
        c.env.push(("PYTHON_GIL".into(), "1".into()));
    }
    c
}

/// An interpreter's file name for a label (`python3.14`).
fn exe_name(py: &Path) -> String {
    py.file_name()
        .map_or("python".into(), |n| n.to_string_lossy().into_owned())
}

fn push_core_count(ctx: &PlanContext, out: &mut Vec<Planned>, asis: &Planned) {
    if ctx.cores >= 2 {
        let mut p = asis.clone();
        p.label = "pinned to 1 CPU".into();
        p.kind = "core-count";
        p.strategy = None;
        p.cpus = Some(vec![first_allowed_cpu()]);
        out.push(p);
    }
}

/// The first CPU this process may run on (pinning to an unavailable CPU fails).
fn first_allowed_cpu() -> usize {
    // SAFETY: a zeroed cpu_set_t filled by the kernel.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            for c in 0..libc::CPU_SETSIZE as usize {
                if libc::CPU_ISSET(c, &set) {
                    return c;
                }
            }
        }
    }
    0
}

/// Whether a Python version string (`3.14.10`, `3.13.15+`) is at least major.minor.
pub fn version_at_least(version: &str, major: u32, minor: u32) -> bool {
    let mut it = version.split('.').map(|x| {
        x.trim_end_matches(|c: char| !c.is_ascii_digit())
            .parse::<u32>()
            .unwrap_or(0)
    });
    (it.next().unwrap_or(0), it.next().unwrap_or(0)) >= (major, minor)
}

/// An executable of this name on PATH.
#[cfg(target_os = "linux")]
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    crate::target::resolve_program(OsStr::new(name))
}

/// The free-threaded Python to measure: the one given, else the newest found on PATH.
#[cfg(target_os = "linux")]
pub fn find_free_threaded(given: Option<&Path>) -> Option<PathBuf> {
    given
        .map(Path::to_path_buf)
        .or_else(|| find_on_path("python3.14t"))
        .or_else(|| find_on_path("python3.13t"))
}

/// A built-in workload: every other strategy of it, the free-threaded and
/// native runs of the same computation, and the core-count experiment.
fn plan_workload(ctx: &PlanContext, w: &WorkloadSpec) -> (Vec<Planned>, Vec<NotMeasured>) {
    let mut out = Vec::new();
    let mut not = Vec::new();
    let mut asis = Planned::new(format!("as-is ({})", w.strategy), "as-is", ctx, Vec::new());
    asis.workload = Some(w.clone());
    out.push(asis);
    for s in STRATEGIES.iter().filter(|s| **s != w.strategy) {
        let mut spec = w.clone();
        spec.strategy = s.to_string();
        if let (Some(py), "interpreters") = (&ctx.python_314, *s) {
            spec.python = py.clone();
        }
        let mut p = Planned::new(format!("{s} (workload)"), "workload", ctx, Vec::new());
        p.strategy = Strategy::parse(s);
        p.workload = Some(spec);
        out.push(p);
    }
    // `--python-ft` (or one found on PATH): the threads strategy with the GIL off.
    match &ctx.python_ft {
        Some(py) => {
            let mut spec = w.clone();
            spec.strategy = "threads".into();
            spec.python = py.clone();
            let mut p = Planned::new("free-threaded (workload)", "workload", ctx, Vec::new());
            p.strategy = Some(Strategy::FreeThreaded);
            p.env.push(("PYTHON_GIL".into(), "0".into()));
            p.workload = Some(spec);
            out.push(p);
        }
        None => not.push(NotMeasured {
            strategy: Strategy::FreeThreaded,
            reason: "no free-threaded Python found (python3.14t or python3.13t on PATH, or --python-ft PATH)".into(),
        }),
    }
    if matches!(w.name.as_str(), "cpu" | "memory") {
        // The same computation in Rust, run as a child like the rest.
        let me = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("boundcheck"));
        for s in ["native-serial", "native-parallel"] {
            let argv: Vec<OsString> = vec![
                me.clone().into_os_string(),
                "native-workload".into(),
                "--workload".into(),
                w.name.clone().into(),
                "--strategy".into(),
                s.into(),
                "--workers".into(),
                w.workers.to_string().into(),
                "--size".into(),
                w.size.clone().into(),
            ];
            let mut p = Planned::new(format!("{s} (Rust)"), "workload", ctx, argv);
            p.strategy = Some(Strategy::Native);
            out.push(p);
        }
    } else {
        not.push(NotMeasured {
            strategy: Strategy::Native,
            reason: format!(
                "the {} workload mostly waits: native code would wait just as long",
                w.name
            ),
        });
    }
    let first = out[0].clone();
    push_core_count(ctx, &mut out, &first);
    (out, not)
}

#[cfg(test)]
mod tests;
