//! Running the planned experiments: interleaved rounds, each run measured by
//! [`measure`] (wall, CPU and peak memory of the whole tree).
//!
//! Rounds are interleaved (as-is, A, B, as-is, A, B, …) so slow drift of a
//! shared machine hits every experiment alike. Re-runs keep the terminal
//! quiet: their stdout goes to /dev/null and their stderr to a file that
//! explains a failure. A signal stops the rounds; finished runs are kept.

use super::measure;
use super::plan::Planned;
use super::{Experiment, stats};
use crate::target::signals;
use crate::workloads;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SITECUSTOMIZE_PY: &str = include_str!("python/sitecustomize.py");

/// How to run the experiments.
#[derive(Debug, Clone)]
pub struct Settings {
    pub runs: usize,
    pub budget: Option<Duration>,
    /// Expected length of one run (the profiled run's), for the budget.
    pub estimate: Duration,
    pub quiet: bool,
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
    exp: Experiment,
    /// Still to be run in later rounds.
    active: bool,
}

pub fn execute(planned: &[Planned], settings: &Settings) -> Outcome {
    let dir = scratch_dir();
    let _cleanup = RemoveOnDrop(dir.clone());
    let mut warnings = Vec::new();
    if settings.runs < 3 {
        warnings.push(format!(
            "with {} run(s) of each, no difference can reach significance (p <= 0.05 needs 3 runs each, all faster): raise --runs",
            settings.runs
        ));
    }
    let mut ready: Vec<Ready> = planned.iter().map(|p| prepare(p, &dir)).collect();
    let total = settings.runs * ready.iter().filter(|r| r.active).count();
    let progress = crate::progress::bar(settings.quiet, "re-runs", total as u64);
    let start = Instant::now();
    let mut interrupted = false;
    'rounds: for round in 0..settings.runs {
        for (i, r) in ready.iter_mut().enumerate() {
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
            run_and_record(r, &dir, i, round, settings.estimate);
            if let Some(p) = &progress {
                p.inc(1);
            }
        }
    }
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    for r in &mut ready {
        if r.exp.status == "measured" && r.exp.runs.is_empty() {
            r.exp.status = "skipped".into();
        }
    }
    let mut experiments: Vec<Experiment> = ready.into_iter().map(|r| r.exp).collect();
    summarise(&mut experiments, &mut warnings);
    Outcome {
        experiments,
        interrupted,
        warnings,
    }
}

fn prepare(p: &Planned, dir: &Path) -> Ready {
    let mut exp = Experiment {
        label: p.label.clone(),
        kind: p.kind.to_string(),
        strategy: p.strategy,
        status: "measured".into(),
        runs: Vec::new(),
        median_s: None,
        min_s: None,
        max_s: None,
        speedup: None,
        p_value: None,
        significant: false,
        error: None,
        site: None,
        replaced: None,
        command: p
            .argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        predicted_speedup: None,
        predicted_low: None,
        predicted_high: None,
    };
    let (mut argv, mut env, mut prepared) = (p.argv.clone(), p.env.clone(), None);
    if let Some(spec) = &p.workload {
        match workloads::prepare(spec) {
            Ok(w) => {
                argv = w.argv.clone();
                env = w.env.clone();
                exp.command = argv
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect();
                prepared = Some(w);
            }
            Err(e) => {
                exp.status = "not-applicable".into();
                exp.error = Some(e.to_string());
            }
        }
    }
    if let Some(mode) = p.swap {
        if std::fs::write(dir.join("sitecustomize.py"), SITECUSTOMIZE_PY).is_err() {
            exp.status = "failed".into();
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
    let active = exp.status == "measured";
    Ready {
        planned: p.clone(),
        argv,
        env,
        _workload: prepared,
        exp,
        active,
    }
}

fn run_and_record(r: &mut Ready, dir: &Path, i: usize, round: usize, estimate: Duration) {
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
    let timeout = (estimate * factor).max(Duration::from_secs(10));
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
    match result {
        Err(e) => {
            r.exp.status = "failed".into();
            r.exp.error = Some(e);
            r.active = false;
        }
        Ok(run) => {
            r.exp.runs.push(run);
            if r.planned.swap.is_some() {
                let events = std::fs::read_to_string(&log).unwrap_or_default();
                note_swap(&mut r.exp, &events);
                if r.exp.replaced.is_none() && run.exit_status == 0 {
                    r.exp.status = "not-applicable".into();
                    r.exp.error = Some(not_applicable(r.planned.swap.unwrap_or("")));
                    r.active = false;
                    return;
                }
            }
            if run.exit_status == 3 && r.planned.workload.is_some() {
                // The workload runner's "this strategy does not apply here".
                r.exp.runs.pop();
                r.exp.status = "not-applicable".into();
                r.exp.error = stderr
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .map(|l| l.trim().to_string());
                r.active = false;
                return;
            }
            if run.exit_status != 0 {
                r.exp.status = "failed".into();
                r.exp.error = Some(super::recommend::explain_failure(
                    r.planned.swap,
                    run.exit_status,
                    &stderr,
                ));
                r.active = false;
            }
        }
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
                exp.replaced = Some(match v["max_workers"].as_u64() {
                    Some(n) => format!("{from}({n})"),
                    None => format!("{from}()"),
                });
                exp.site = v["site"].as_str().map(str::to_string);
            }
            Some("error") if exp.error.is_none() => {
                exp.error = v["message"].as_str().map(str::to_string);
            }
            _ => {}
        }
    }
}

fn not_applicable(mode: &str) -> String {
    match mode {
        "processes" | "interpreters" | "more-threads" => {
            "the program created no ThreadPoolExecutor or multiprocessing ThreadPool to swap; run its work on one (or use --vary with a knob of your program)".into()
        }
        "threads" => "the program created no ProcessPoolExecutor or multiprocessing Pool to swap".into(),
        "chunksize" => "the program called no pool map() whose chunksize could be raised".into(),
        _ => "nothing to swap".into(),
    }
}

/// Medians, ranges, speedups and significance against the as-is runs.
fn summarise(experiments: &mut [Experiment], warnings: &mut Vec<String>) {
    let ok = |e: &Experiment| -> Vec<f64> {
        e.runs
            .iter()
            .filter(|r| r.exit_status == 0)
            .map(|r| r.wall_s)
            .collect()
    };
    let baseline = experiments.first().map(ok).unwrap_or_default();
    for e in experiments.iter_mut() {
        let times = ok(e);
        if let Some(s) = stats::Summary::of(&times) {
            e.median_s = Some(s.median);
            e.min_s = Some(s.min);
            e.max_s = Some(s.max);
            if s.is_wide() && s.n >= 2 {
                warnings.push(format!(
                    "{}: runs spread {:.2}–{:.2} s (more than {:.0} %): the machine is noisy; raise --runs",
                    e.label,
                    s.min,
                    s.max,
                    (stats::WIDE_SPREAD - 1.0) * 100.0
                ));
            }
        }
        if e.kind != "as-is"
            && e.status == "measured"
            && let Some(v) = stats::compare(&baseline, &times)
        {
            e.speedup = Some(v.speedup);
            e.p_value = Some(v.p_value);
            e.significant = v.significant;
        }
    }
    if let Some(first) = experiments.first_mut() {
        first.speedup = first.median_s.map(|_| 1.0);
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

fn scratch_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("boundcheck-rerun-{}-{nanos}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
