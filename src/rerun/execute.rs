//! Running the planned experiments: interleaved rounds, each run measured by
//! [`measure`] (wall, CPU and peak memory of the whole tree).
//!
//! Rounds are interleaved (as-is, A, B, as-is, A, B, …) so slow drift of a
//! shared machine hits every experiment alike. Re-runs keep the terminal
//! quiet: their stdout goes to /dev/null and their stderr to a file that
//! explains a failure. A signal stops the rounds; finished runs are kept.

use super::engines;
use super::judge::{self, Profiled};
use super::measure;
use super::plan::Planned;
use super::{Experiment, Status};
use crate::target::signals;
use crate::workloads;
use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

/// The swap module and the parts it imports from its own directory: the
/// pool builders, and the asyncio and joblib patches.
const SWAP_MODULE: [(&str, &str); 4] = [
    ("sitecustomize.py", include_str!("python/sitecustomize.py")),
    (
        "boundcheck_swap_pools.py",
        include_str!("python/boundcheck_swap_pools.py"),
    ),
    (
        "boundcheck_swap_libs.py",
        include_str!("python/boundcheck_swap_libs.py"),
    ),
    (
        "boundcheck_swap_engines.py",
        include_str!("python/boundcheck_swap_engines.py"),
    ),
];

/// How to run the experiments.
#[derive(Debug, Clone)]
pub struct Settings {
    pub runs: usize,
    pub budget: Option<Duration>,
    /// Expected length of one run (the profiled run's), for the budget.
    pub estimate: Duration,
    /// No notice or progress on stderr.
    pub quiet: bool,
    /// What the profiled run did, for the re-runs to reproduce.
    pub profiled: Profiled,
}

/// What the rounds produced.
pub struct Outcome {
    pub experiments: Vec<Experiment>,
    pub interrupted: bool,
    pub warnings: Vec<String>,
}

/// A planned experiment made ready: files written, servers started.
struct Ready {
    planned: Planned,
    argv: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    _workload: Option<workloads::Prepared>,
    /// The local Ray or Dask cluster of an engine experiment, stopped when
    /// the rounds are over (dropped with this).
    _cluster: Option<engines::LocalCluster>,
    exp: Experiment,
    /// Still to be run in later rounds.
    active: bool,
}

pub fn execute(planned: &[Planned], settings: &Settings) -> Outcome {
    let mut warnings = Vec::new();
    let scratch = match tempfile::Builder::new()
        .prefix("boundcheck-rerun-")
        .tempdir()
    {
        Ok(d) => d,
        Err(e) => {
            warnings.push(format!(
                "no re-runs: cannot create a scratch directory: {e}"
            ));
            return Outcome {
                experiments: Vec::new(),
                interrupted: false,
                warnings,
            };
        }
    };
    let dir = scratch.path();
    if settings.runs < 3 {
        warnings.push(format!(
            "with {} run(s) of each, no difference can reach significance (p <= 0.05 needs 3 runs each, all faster): raise --runs",
            settings.runs
        ));
    }
    let mut ready: Vec<Ready> = planned.iter().map(|p| prepare(p, dir)).collect();
    let active = ready.iter().filter(|r| r.active).count();
    let total = settings.runs * active;
    if !settings.quiet && total > 0 {
        crate::progress::note(&notice(settings, active));
    }
    let progress = crate::progress::bar(settings.quiet, "re-runs", total as u64);
    let start = Instant::now();
    let mut interrupted = false;
    'rounds: for round in 0..settings.runs {
        for i in 0..ready.len() {
            if ready[i].active && orphaned_control(&ready, i) {
                let r = &mut ready[i];
                r.active = false;
                r.exp.status = Status::NotApplicable;
                r.exp.error = Some(
                    "no experiment under this interpreter was measured to compare it with".into(),
                );
            }
            let r = &mut ready[i];
            if !r.active {
                continue;
            }
            if signals::received().is_some() {
                interrupted = true;
                break 'rounds;
            }
            if let Some(budget) = settings.budget
                && start.elapsed() + settings.estimate > budget
            {
                warnings.push(format!(
                    "the --budget of {} ran out after {} of {} rounds: raise it for more runs",
                    humantime::format_duration(budget),
                    round,
                    settings.runs
                ));
                break 'rounds;
            }
            if let Some(p) = &progress {
                p.set_message(format!(
                    "{} · run {} of {}",
                    r.exp.label,
                    round + 1,
                    settings.runs
                ));
            }
            run_and_record(r, dir, (i, round), settings);
            if let Some(p) = &progress {
                p.inc(1);
            }
        }
    }
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    for r in &mut ready {
        if r.exp.status == Status::Measured && r.exp.runs.is_empty() {
            r.exp.status = Status::Skipped;
        }
    }
    let mut experiments: Vec<Experiment> = ready.into_iter().map(|r| r.exp).collect();
    judge::judge(&mut experiments, &settings.profiled, &mut warnings);
    Outcome {
        experiments,
        interrupted,
        warnings,
    }
}

/// Whether experiment `i` is a control whose experiments under the same
/// interpreter (planned before it, so they ran first in each round) all
/// stopped before the control ran: a swap that found nothing to swap
/// leaves nothing to compare the control with, and its runs would only
/// cost the user time. A control that has runs keeps them (its experiment
/// may fail in a later round; the interpreter's own speed is still worth
/// showing).
fn orphaned_control(ready: &[Ready], i: usize) -> bool {
    let c = &ready[i].exp;
    c.kind == "control"
        && c.runs.is_empty()
        && !ready[..i]
            .iter()
            .any(|r| r.active && c.is_control_of(&r.exp))
}

/// What is about to happen, before it takes the user's time: how many more
/// times the command runs, for how many experiments, about how long, and
/// how to turn it off.
fn notice(settings: &Settings, experiments: usize) -> String {
    let total = settings.runs * experiments;
    let about = settings.estimate.as_secs_f64() * total as f64;
    let about = if about < 90.0 {
        format!("{about:.0} s")
    } else {
        format!("{:.0} min", about / 60.0)
    };
    let cap = settings
        .budget
        .map(|b| format!(", at most {}", humantime::format_duration(b)))
        .unwrap_or_default();
    format!(
        "re-runs: running the command {total} more time{} ({} experiment{} x {} run{}, about {about}{cap}) to measure the alternatives; --no-rerun skips this\n",
        if total == 1 { "" } else { "s" },
        experiments,
        if experiments == 1 { "" } else { "s" },
        settings.runs,
        if settings.runs == 1 { "" } else { "s" },
    )
}

fn prepare(p: &Planned, dir: &Path) -> Ready {
    let mut exp = Experiment::new(
        p.label.clone(),
        p.kind.to_string(),
        p.strategy,
        p.argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
    );
    exp.controls = p.controls;
    let (mut argv, mut env, mut prepared) = (p.argv.clone(), p.env.clone(), None);
    if let Some(spec) = &p.workload {
        match workloads::prepare(spec) {
            Ok(w) => {
                argv = w.argv.clone();
                // The workload's own variables, then the plan's (PYTHON_GIL=0).
                env = w.env.iter().chain(&p.env).cloned().collect();
                exp.command = argv
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect();
                prepared = Some(w);
            }
            Err(e) => {
                exp.status = Status::NotApplicable;
                exp.error = Some(e.to_string());
            }
        }
    }
    if let Some(mode) = p.swap {
        let written = SWAP_MODULE
            .iter()
            .try_for_each(|(name, text)| std::fs::write(dir.join(name), text));
        if written.is_err() {
            exp.status = Status::Failed;
            exp.error = Some(format!("cannot write the swap module to {}", dir.display()));
        }
        let mut path = OsString::from(dir.as_os_str());
        if let Some(old) = env_value(&env, "PYTHONPATH") {
            path.push(":");
            path.push(old);
        }
        set_env(&mut env, "PYTHONPATH", path);
        set_env(&mut env, "BOUNDCHECK_SWAP", mode.into());
    }
    let cluster = match &p.engine {
        Some(run) if exp.status == Status::Measured => {
            engine_cluster(run, &argv, dir, &mut env, &mut exp)
        }
        _ => None,
    };
    let active = exp.status == Status::Measured;
    Ready {
        planned: p.clone(),
        argv,
        env,
        _workload: prepared,
        _cluster: cluster,
        exp,
        active,
    }
}

/// The cluster an engine experiment runs on: the one `--cluster` named, or
/// a local one started now, before the timed runs (its start-up recorded
/// apart). An engine that does not import makes the experiment not applicable.
fn engine_cluster(
    run: &engines::EngineRun,
    argv: &[OsString],
    dir: &Path,
    env: &mut Vec<(OsString, OsString)>,
    exp: &mut Experiment,
) -> Option<engines::LocalCluster> {
    if let Some(address) = &run.cluster {
        set_env(env, "BOUNDCHECK_ENGINE_ADDRESS", address.into());
        return None;
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let python = argv.first().cloned().unwrap_or_else(|| "python3".into());
    match engines::start_local(&python, run.engine, cpus, dir) {
        Ok(cluster) => {
            exp.engine_startup_s = Some(cluster.startup_s);
            for (k, v) in cluster.env() {
                set_env(env, &k.to_string_lossy(), v);
            }
            Some(cluster)
        }
        Err(engines::StartError::NotInstalled(why)) => {
            exp.status = Status::NotApplicable;
            exp.error = Some(why);
            None
        }
        Err(engines::StartError::Failed(why)) => {
            exp.status = Status::Failed;
            exp.error = Some(why);
            None
        }
    }
}

fn run_and_record(r: &mut Ready, dir: &Path, (i, round): (usize, usize), settings: &Settings) {
    let log = dir.join(format!("swap-{i}-{round}.log"));
    let stderr_path = dir.join(format!("stderr-{i}-{round}.txt"));
    let mut env = r.env.clone();
    if r.planned.swap.is_some() {
        set_env(
            &mut env,
            "BOUNDCHECK_SWAP_LOG",
            log.clone().into_os_string(),
        );
    }
    // Pinned to one CPU, a program that uses n cores may take n times longer.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let factor = if r.planned.cpus.is_some() {
        cores + 4
    } else {
        5
    };
    let floor = if r.planned.engine.is_some() {
        engines::RUN_TIMEOUT_FLOOR
    } else {
        Duration::from_secs(10)
    };
    let timeout = (settings.estimate * factor).max(floor);
    let result = measure::measure(&measure::MeasureSpec {
        argv: &r.argv,
        env: &env,
        cpus: r.planned.cpus.clone(),
        stdout: None,
        stderr: &stderr_path,
        timeout,
        rate_hz: 20.0,
    })
    .map(|m| m.result);
    if signals::received().is_some() {
        // Stopped by Ctrl-C (forwarded to the run): neither a measurement nor
        // a failure of the strategy. The rounds end at the next check.
        return;
    }
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    // A run counts when it ends as the profiled run did: 0 for most
    // programs, the same failure for one that fails the same way each time.
    let expected = settings.profiled.exit_status;
    let run = match result {
        Err(e) => {
            r.exp.status = Status::Failed;
            r.exp.error = Some(e);
            r.active = false;
            return;
        }
        Ok(run) => run,
    };
    r.exp.runs.push(run);
    if r.planned.swap.is_some() {
        let events = std::fs::read_to_string(&log).unwrap_or_default();
        note_swap(&mut r.exp, &events);
        if r.exp.replaced.is_none() && run.exit_status == expected {
            // It ran the unchanged program: not a run of this experiment.
            r.exp.runs.pop();
            r.exp.status = Status::NotApplicable;
            // An engine that did not import said so in the log: keep that.
            if r.planned.engine.is_none() || r.exp.error.is_none() {
                r.exp.error = Some(not_applicable(r.planned.swap.unwrap_or("")));
            }
            r.active = false;
            return;
        }
    }
    if run.exit_status == 3 && r.planned.workload.is_some() {
        // The workload runner's "this strategy does not apply here".
        r.exp.runs.pop();
        r.exp.status = Status::NotApplicable;
        r.exp.error = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_string());
        r.active = false;
        return;
    }
    // The as-is and pinned runs are the program itself: a different exit
    // is judged as "not comparable" once the rounds are done.
    if run.exit_status != expected && !matches!(r.exp.kind.as_str(), "as-is" | "core-count") {
        r.exp.status = Status::Failed;
        let mut why = super::recommend::explain_failure(r.planned.swap, run.exit_status, &stderr);
        if expected != 0 {
            why.push_str(&format!(" (the profiled run exited with {expected})"));
        }
        r.exp.error = Some(why);
        r.active = false;
    }
}

/// Read the swap module's log: what it replaced and where.
fn note_swap(exp: &mut Experiment, events: &str) {
    for line in events.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        match v["event"].as_str() {
            Some("swapped") if exp.replaced.is_none() => {
                let from = v["from"].as_str().unwrap_or("executor");
                // asyncio and joblib records spell the call themselves.
                exp.replaced = Some(match (v["replaced"].as_str(), v["max_workers"].as_u64()) {
                    (Some(call), _) => call.to_string(),
                    (None, Some(n)) => format!("{from}({n})"),
                    (None, None) => format!("{from}()"),
                });
                exp.replacement = replacement(&v);
                exp.site = v["site"].as_str().map(str::to_string);
            }
            Some("error") if exp.error.is_none() => {
                exp.error = v["message"].as_str().map(str::to_string);
            }
            _ => {}
        }
    }
}

/// The swap's replacement as code: `ProcessPoolExecutor(2)`,
/// `Parallel(n_jobs=2, backend='loky')`, `Pool.imap(chunksize=62)`.
fn replacement(v: &serde_json::Value) -> Option<String> {
    let to = v["to"].as_str()?;
    // An engine record spells the code itself.
    if let Some(code) = v["to_code"].as_str() {
        return Some(code.to_string());
    }
    let workers = v["to_max_workers"].as_u64();
    Some(
        match (
            v["to_backend"].as_str(),
            v["to_chunksize"].as_u64(),
            workers,
        ) {
            (Some(backend), _, Some(n)) => format!("Parallel(n_jobs={n}, backend='{backend}')"),
            (_, Some(chunks), _) => format!(
                "{to}.{}(chunksize={chunks})",
                v["method"].as_str().unwrap_or("map")
            ),
            (_, _, Some(n)) => format!("{to}({n})"),
            _ => format!("{to}()"),
        },
    )
}

fn not_applicable(mode: &str) -> String {
    match mode {
        "processes" => {
            "the program created no ThreadPoolExecutor, multiprocessing ThreadPool, process pool smaller than the CPUs or joblib Parallel on threads to swap; run its work on one (or use --vary with a knob of your program)".into()
        }
        "interpreters" => {
            "the program created no ThreadPoolExecutor to swap; run its work on one (or use --vary with a knob of your program)".into()
        }
        "more-threads" => {
            "the program created no ThreadPoolExecutor, multiprocessing ThreadPool, joblib Parallel on threads, and used no asyncio default executor, to give more threads".into()
        }
        "threads" => "the program created no ProcessPoolExecutor, multiprocessing Pool or joblib Parallel on processes to swap".into(),
        "joblib-backend" => "the program created no joblib Parallel off the multiprocessing backend (or one with require='sharedmem')".into(),
        "chunksize" => "the program called no process pool map()/imap() whose chunksize could be raised".into(),
        "ray" | "dask" => format!(
            "the program created no ProcessPoolExecutor, ThreadPoolExecutor or multiprocessing Pool to run on {mode}; submit its work to one (or use --vary with a knob of your program)"
        ),
        _ => "nothing to swap".into(),
    }
}

fn env_value(env: &[(OsString, OsString)], key: &str) -> Option<OsString> {
    env.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var_os(key))
}

fn set_env(env: &mut Vec<(OsString, OsString)>, key: &str, value: OsString) {
    env.retain(|(k, _)| k != key);
    env.push((key.into(), value));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noted(lines: &str) -> Experiment {
        let mut e = Experiment::new("x (swap)".into(), "swap".into(), None, Vec::new());
        note_swap(&mut e, lines);
        e
    }

    #[test]
    fn the_swap_log_names_what_was_replaced_by_what_and_where() {
        let e = noted(
            r#"{"event": "swapped", "mode": "processes", "from": "ThreadPool", "to": "Pool", "max_workers": 4, "to_max_workers": 2, "site": "app.py:24"}"#,
        );
        assert_eq!(e.replaced.as_deref(), Some("ThreadPool(4)"));
        assert_eq!(e.replacement.as_deref(), Some("Pool(2)"));
        assert_eq!(e.site.as_deref(), Some("app.py:24"));
        let e = noted(
            r#"{"event": "swapped", "mode": "processes", "from": "Parallel", "to": "Parallel", "replaced": "Parallel(n_jobs=2, backend='threading')", "backend": "threading", "to_backend": "loky", "max_workers": 2, "to_max_workers": 2, "site": "jl.py:6"}"#,
        );
        assert_eq!(
            e.replaced.as_deref(),
            Some("Parallel(n_jobs=2, backend='threading')")
        );
        assert_eq!(
            e.replacement.as_deref(),
            Some("Parallel(n_jobs=2, backend='loky')")
        );
        let e = noted(
            r#"{"event": "swapped", "mode": "chunksize", "from": "Pool", "to": "Pool", "max_workers": 2, "method": "imap", "chunksize": 1, "to_chunksize": 500, "items": 4000, "site": "app.py:9"}"#,
        );
        assert_eq!(e.replacement.as_deref(), Some("Pool.imap(chunksize=500)"));
        // Only the first swap is the experiment's; errors are kept.
        let e = noted(
            "not json\n{\"event\": \"error\", \"message\": \"boom\"}\n{\"event\": \"swapped\", \"from\": \"A\", \"to\": \"B\"}\n{\"event\": \"swapped\", \"from\": \"C\", \"to\": \"D\"}",
        );
        assert_eq!(e.replaced.as_deref(), Some("A()"));
        assert_eq!(e.replacement.as_deref(), Some("B()"));
        assert_eq!(e.error.as_deref(), Some("boom"));
    }
}
