//! From measured experiments to one recommendation sentence.
//!
//! The recommendation is the fastest alternative whose win over as-is is
//! significant and at least [`MIN_GAIN`]; otherwise the verdict's own remedy
//! when it needs a code change (`shrink-lock`, `offload`, labelled not
//! measured); otherwise `keep`.

use super::{Experiment, NotMeasured, Recommendation, Strategy, stats};
use crate::diagnose::Verdict;

/// A win smaller than this is not worth a code change.
pub const MIN_GAIN: f64 = 1.10;

/// Turn a failed re-run's stderr into the error and the change that would fix it.
pub fn explain_failure(swap: Option<&str>, status: i32, stderr: &str) -> String {
    let has = |s: &str| stderr.contains(s);
    let advice = if has("boundcheck swap:") {
        Some(
            "the script has no `if __name__ == \"__main__\":` guard, so every worker re-runs its top-level code: put the work under that guard",
        )
    } else if has("NotShareableError") || has("does not support cross-interpreter data") {
        Some(
            "InterpreterPoolExecutor passes the function and its arguments to another interpreter: they must be shareable or picklable (a module-level function, plain data)",
        )
    } else if has("Can't pickle")
        || has("cannot pickle")
        || has("PicklingError")
        || has("Can't get local object")
    {
        Some(
            "a process pool pickles the function and its arguments: submit a module-level function (not a lambda or closure) with picklable arguments",
        )
    } else if has("Can't get attribute") || (has("has no attribute") && has("__mp_main__")) {
        Some(
            "the worker could not find the function: define it in an importable module (not only in `__main__`, which spawn/forkserver workers re-import)",
        )
    } else if swap == Some("interpreters")
        && (has("ImportError") || has("does not support loading in subinterpreters"))
    {
        Some("a module the task needs cannot be loaded in a subinterpreter; use processes instead")
    } else {
        None
    };
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::trim)
        .unwrap_or("(no error output)");
    match advice {
        Some(a) => format!("exited with status {status}: {last}. Fix: {a}"),
        None => format!("exited with status {status}: {last}"),
    }
}

/// What the experiments mean, as one recommendation.
pub fn recommend(
    verdict: Verdict,
    cores: usize,
    runs: usize,
    mut experiments: Vec<Experiment>,
    not_measured: Vec<NotMeasured>,
    warnings: Vec<String>,
    interrupted: bool,
) -> Recommendation {
    let asis = experiments.first().cloned();
    let pinned = experiments.iter().find(|e| e.kind == "core-count").cloned();
    let parallel_speedup = match (&asis, &pinned) {
        (Some(a), Some(p)) => match (a.median_s, p.median_s) {
            (Some(all), Some(one)) if all > 0.0 => Some(one / all),
            _ => None,
        },
        _ => None,
    };
    let parallel_fraction =
        parallel_speedup.and_then(|s| stats::amdahl_parallel_fraction(s, cores as f64));
    // Rank: as-is first, then by median wall time, unmeasured last.
    if experiments.len() > 1 {
        experiments[1..].sort_by(|a, b| match (a.median_s, b.median_s) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.label.cmp(&b.label),
        });
    }
    let best = experiments
        .iter()
        .filter(|e| {
            e.kind != "as-is"
                && e.kind != "core-count"
                && e.strategy.is_some()
                && e.status == super::Status::Measured
        })
        .filter(|e| e.significant && e.speedup.is_some_and(|s| s >= MIN_GAIN))
        .max_by(|a, b| {
            a.speedup
                .unwrap_or(0.0)
                .total_cmp(&b.speedup.unwrap_or(0.0))
        })
        .cloned();
    let asis_median = asis.as_ref().and_then(|a| a.median_s);
    let (strategy, measured, speedup, significant, sentence) = match best {
        Some(b) => {
            let s = b.strategy.unwrap_or(Strategy::Keep);
            let gain = b.speedup.unwrap_or(1.0);
            let sentence = format!(
                "{}: {:.2}x faster than as-is ({} vs {} median of {} runs, significant). {}",
                s.as_str(),
                gain,
                secs(b.median_s),
                secs(asis_median),
                b.runs.len(),
                change(&b, cores)
            );
            (s, true, Some(gain), true, sentence)
        }
        None => {
            let remedy = not_measured.iter().find(|n| {
                matches!(
                    (verdict, n.strategy),
                    (Verdict::LockContended, Strategy::ShrinkLock)
                        | (Verdict::EventLoopBlocked, Strategy::Offload)
                )
            });
            match remedy {
                Some(n) => (
                    n.strategy,
                    false,
                    None,
                    false,
                    format!("{} (not measured): {}.", n.strategy.as_str(), n.reason),
                ),
                None => {
                    let why = if experiments.iter().any(|e| {
                        e.kind != "as-is" && e.kind != "core-count" && e.median_s.is_some()
                    }) {
                        "no alternative measured here was significantly faster"
                    } else {
                        "no alternative could be measured for this program"
                    };
                    (
                        Strategy::Keep,
                        asis_median.is_some(),
                        None,
                        false,
                        format!(
                            "keep: {why}{}.",
                            parallel_note(parallel_speedup, parallel_fraction, cores)
                        ),
                    )
                }
            }
        }
    };
    Recommendation {
        strategy,
        measured,
        sentence,
        speedup,
        significant,
        runs_per_experiment: runs,
        ideal_speedup: cores as f64,
        parallel_speedup,
        parallel_fraction,
        experiments,
        not_measured,
        warnings,
        interrupted,
    }
}

fn secs(v: Option<f64>) -> String {
    v.map_or("?".into(), |s| format!("{s:.2} s"))
}

fn parallel_note(speedup: Option<f64>, fraction: Option<f64>, cores: usize) -> String {
    match (speedup, fraction) {
        (Some(s), Some(p)) => format!(
            "; it gets {s:.2}x from {cores} CPUs over one (parallel fraction {:.0} %)",
            p * 100.0
        ),
        _ => String::new(),
    }
}

/// The code change that makes a swap permanent.
fn change(e: &Experiment, cores: usize) -> String {
    let at = e
        .site
        .as_ref()
        .map(|s| format!(" at {s}"))
        .unwrap_or_default();
    let what = e.replaced.clone().unwrap_or_else(|| "the executor".into());
    if e.kind == "vary" || e.kind == "workload" {
        return format!("Use {}.", e.label);
    }
    match e.strategy {
        Some(Strategy::Processes) => {
            format!("Replace `{what}`{at} with `ProcessPoolExecutor({cores})`.")
        }
        Some(Strategy::Interpreters) => format!(
            "Replace `{what}`{at} with `concurrent.futures.InterpreterPoolExecutor({cores})` (Python 3.14+)."
        ),
        Some(Strategy::Threads) if e.label.starts_with("more threads") => {
            format!("Give `{what}`{at} more workers (the swap used max(8, 4 x workers)).")
        }
        Some(Strategy::Threads) => format!("Replace `{what}`{at} with `ThreadPoolExecutor`."),
        Some(Strategy::Batch) => format!(
            "Pass a larger `chunksize` to `map()` of `{what}`{at} (the swap used len / (4 x workers))."
        ),
        Some(Strategy::FreeThreaded) => format!(
            "Run it with {} (a free-threaded build, PYTHON_GIL=0).",
            e.command.first().map_or("it", String::as_str)
        ),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rerun::RunResult;

    fn exp(label: &str, kind: &str, strategy: Option<Strategy>, times: &[f64]) -> Experiment {
        let mut e = Experiment::new(
            label.into(),
            kind.into(),
            strategy,
            vec!["python3".into(), "app.py".into()],
        );
        e.runs = times
            .iter()
            .map(|&t| RunResult {
                wall_s: t,
                cpu_s: t,
                peak_rss_bytes: 0,
                exit_status: 0,
                written_bytes: None,
                children: None,
            })
            .collect();
        e.median_s = stats::Summary::of(times).map(|s| s.median);
        e.site = Some("app.py:17".into());
        e.replaced = Some("ThreadPoolExecutor(4)".into());
        e
    }

    fn with_stats(mut v: Vec<Experiment>) -> Vec<Experiment> {
        let base: Vec<f64> = v[0].runs.iter().map(|r| r.wall_s).collect();
        for e in v.iter_mut().skip(1) {
            let t: Vec<f64> = e.runs.iter().map(|r| r.wall_s).collect();
            let c = stats::compare(&base, &t).unwrap();
            e.speedup = Some(c.speedup);
            e.significant = c.significant;
        }
        v
    }

    #[test]
    fn a_significant_swap_is_recommended_with_the_code_change() {
        let v = with_stats(vec![
            exp("as-is", "as-is", None, &[8.05, 8.12, 8.30]),
            exp("pinned to 1 CPU", "core-count", None, &[8.0, 8.1, 8.2]),
            exp(
                "processes (swap)",
                "swap",
                Some(Strategy::Processes),
                &[4.15, 4.21, 4.40],
            ),
        ]);
        let r = recommend(
            Verdict::GilContended,
            2,
            3,
            v,
            Vec::new(),
            Vec::new(),
            false,
        );
        assert_eq!(r.strategy, Strategy::Processes);
        assert!(r.measured && r.significant);
        assert!(r.sentence.contains("1.93x"), "{}", r.sentence);
        assert!(
            r.sentence.contains(
                "Replace `ThreadPoolExecutor(4)` at app.py:17 with `ProcessPoolExecutor(2)`"
            ),
            "{}",
            r.sentence
        );
        // About 1.0x from two CPUs: a serialised program.
        assert!(r.parallel_speedup.unwrap() < 1.05);
        assert_eq!(
            r.experiments[1].label, "processes (swap)",
            "ranked by median"
        );
    }

    #[test]
    fn an_insignificant_win_means_keep() {
        let v = with_stats(vec![
            exp("as-is", "as-is", None, &[4.0, 4.2, 4.4]),
            exp(
                "threads (swap)",
                "swap",
                Some(Strategy::Threads),
                &[3.9, 4.3, 4.5],
            ),
        ]);
        let r = recommend(Verdict::CpuParallel, 2, 3, v, Vec::new(), Vec::new(), false);
        assert_eq!(r.strategy, Strategy::Keep);
        assert!(
            r.sentence
                .contains("no alternative measured here was significantly faster"),
            "{}",
            r.sentence
        );
    }

    #[test]
    fn a_lock_needs_a_code_change_and_says_it_is_not_measured() {
        let v = with_stats(vec![exp("as-is", "as-is", None, &[1.0, 1.1, 1.2])]);
        let not = vec![NotMeasured {
            strategy: Strategy::ShrinkLock,
            reason: "hold it shorter".into(),
        }];
        let r = recommend(Verdict::LockContended, 2, 3, v, not, Vec::new(), false);
        assert_eq!(r.strategy, Strategy::ShrinkLock);
        assert!(!r.measured);
        assert!(r.sentence.contains("not measured"));
    }

    #[test]
    fn failures_get_the_fix() {
        let e = explain_failure(
            Some("processes"),
            1,
            "Traceback…\n_pickle.PicklingError: Can't pickle <function <lambda> at 0x7f>: attribute lookup <lambda> on __main__ failed\n",
        );
        assert!(e.contains("module-level function"), "{e}");
        assert!(
            e.starts_with("exited with status 1: _pickle.PicklingError"),
            "{e}"
        );
        let e = explain_failure(
            Some("interpreters"),
            1,
            "concurrent.interpreters.NotShareableError: x\n",
        );
        assert!(e.contains("shareable"), "{e}");
    }
}
