//! From measured experiments to one recommendation sentence.
//!
//! The recommendation is the fastest alternative whose win over as-is is
//! significant and at least [`MIN_GAIN`]; otherwise the cheapest remedy the
//! diagnosis predicts to gain (see `diagnose::predict::worth_changing_code`)
//! that could not be measured without a code change, labelled `measured:
//! false` with its predicted speedup, the line to change and how to confirm
//! it; otherwise, for a program that saturates this machine and is forecast
//! to gain at least 1.5x on twice its cores, `ray` or `dask`
//! (`scale_out.rs`); otherwise `keep` — prediction and measurement agree
//! that nothing beats as-is.

use super::{Experiment, NotMeasured, Recommendation, Strategy, advice, scale_out, stats};
use crate::diagnose::{Prediction, Verdict};

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

/// What the diagnosis knew when the re-runs began.
pub struct Judgement<'a> {
    pub verdict: Verdict,
    pub cores: usize,
    /// Runs per experiment asked for (`--runs`).
    pub runs: usize,
    /// The diagnosis's predictions, most promising first.
    pub predictions: &'a [Prediction],
    /// The profiled Python's version, which decides what it can adopt.
    pub python_version: Option<&'a str>,
    /// The code the verdict is about (`function (file:line)`), when known.
    pub site: Option<&'a str>,
}

/// Whether an experiment measured a strategy that can be recommended (not
/// the as-is or pinned reference runs, not a native ceiling of a built-in
/// workload: its headline is the best Python-level way).
fn candidate(e: &Experiment) -> bool {
    e.kind != "as-is"
        && e.kind != "core-count"
        && e.has_timing()
        && e.strategy.is_some()
        && !(e.kind == "workload" && e.strategy == Some(Strategy::Native))
}

/// What the experiments mean, as one recommendation: the measured winner
/// when one is significant; else the cheapest remedy predicted to pay that
/// could not be measured here, labelled so; else `keep`.
pub fn recommend(
    j: &Judgement,
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
        parallel_speedup.and_then(|s| stats::amdahl_parallel_fraction(s, j.cores as f64));
    for e in experiments.iter_mut() {
        let p = e
            .strategy
            .and_then(|s| j.predictions.iter().find(|p| p.strategy == s));
        e.predicted_speedup = p.map(|p| p.predicted_speedup);
        e.predicted_low = p.map(|p| p.low);
        e.predicted_high = p.map(|p| p.high);
    }
    rank(&mut experiments);
    let scale_out = scale_out::forecast(&experiments, j.cores);
    let prediction_check = advice::check_predictions(&experiments);
    let best = experiments
        .iter()
        .filter(|e| candidate(e) && e.significant && e.speedup.is_some_and(|s| s >= MIN_GAIN))
        .max_by(|a, b| {
            a.speedup
                .unwrap_or(0.0)
                .total_cmp(&b.speedup.unwrap_or(0.0))
        })
        .cloned();
    let asis_median = asis.as_ref().and_then(|a| a.median_s);
    let native_ceiling = experiments
        .iter()
        .filter(|e| e.kind == "workload" && e.strategy == Some(Strategy::Native))
        .filter_map(|e| e.speedup.map(|s| (s, e.label.clone())))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let mut rec = Recommendation {
        strategy: Strategy::Keep,
        measured: asis_median.is_some(),
        sentence: String::new(),
        speedup: None,
        significant: false,
        prediction: None,
        runs_per_experiment: j.runs,
        ideal_speedup: j.cores as f64,
        parallel_speedup,
        parallel_fraction,
        scale_out: scale_out.clone(),
        prediction_check,
        experiments: Vec::new(),
        not_measured: Vec::new(),
        warnings: Vec::new(),
        interrupted,
    };
    if let Some(b) = best {
        let s = b.strategy.unwrap_or(Strategy::Keep);
        let gain = b.speedup.unwrap_or(1.0);
        rec.sentence = format!(
            "{}: {} faster than as-is ({} vs {} median of {} runs, significant). {}{}",
            s.as_str(),
            advice::times(gain),
            secs(b.median_s),
            secs(asis_median),
            b.runs.len(),
            change(&b, j.cores),
            native_ceiling
                .map(|(x, l)| format!(" Native ceiling: {} ({l}).", advice::times(x)))
                .unwrap_or_default()
        );
        rec.strategy = s;
        rec.measured = true;
        rec.speedup = Some(gain);
        rec.significant = true;
        rec.prediction = j.predictions.iter().find(|p| p.strategy == s).cloned();
    } else if let Some(p) = advice::unmeasured_remedy(j, &experiments) {
        rec.strategy = p.strategy;
        rec.measured = false;
        rec.sentence = advice::unmeasured_sentence(j, p, &experiments);
        rec.prediction = Some(p.clone());
    } else if let Some((s, measured, so)) = scale_out.as_ref().and_then(|so| {
        scale_out::scale_out_pick(so, j.verdict, parallel_speedup, &experiments)
            .map(|(s, m)| (s, m, so))
    }) {
        // Saturated here and forecast to pay on a cluster: the one remedy
        // beyond this machine, after every change that would pay on it.
        let line = scale_out::executor_line(&experiments, j.site);
        let change = advice::code_change(s, line.as_deref(), j.cores);
        rec.strategy = s;
        rec.measured = measured;
        rec.sentence = scale_out::sentence(so, s, measured, parallel_speedup, &change);
    } else {
        let asis_lost = asis
            .as_ref()
            .filter(|a| !a.comparable)
            .and_then(|a| a.not_comparable.clone());
        let why = if let Some(reason) = asis_lost {
            format!(
                "the re-runs did not reproduce the profiled run ({reason}), so nothing could be compared, and no code change is predicted to gain 1.3x"
            )
        } else if experiments
            .iter()
            .any(|e| candidate(e) && e.median_s.is_some())
        {
            "no alternative measured here was significantly faster, and no code change is predicted to gain 1.3x".to_string()
        } else {
            "no alternative could be measured for this program, and no code change is predicted to gain 1.3x".to_string()
        };
        // The forecast's too-short clause concludes the sentence unless the
        // measured engines' note (appended below) already does.
        let conclude = advice::engine_payoff_note(&experiments, Strategy::Keep).is_none();
        let too_short = scale_out
            .as_ref()
            .and_then(|so| scale_out::too_short_note(so, j.verdict, parallel_speedup, conclude))
            .unwrap_or_default();
        rec.sentence = format!(
            "keep: {why}{}{too_short}.",
            parallel_note(parallel_speedup, parallel_fraction, j.cores)
        );
    }
    if let Some(note) = advice::engine_payoff_note(&experiments, rec.strategy) {
        rec.sentence = format!("{} {note}", rec.sentence);
    }
    rec.experiments = experiments;
    rec.not_measured = not_measured;
    rec.warnings = warnings;
    rec
}

/// As-is first, then by median wall time, unmeasured last.
fn rank(experiments: &mut [Experiment]) {
    if experiments.len() > 1 {
        experiments[1..].sort_by(|a, b| match (a.median_s, b.median_s) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.label.cmp(&b.label),
        });
    }
}

fn secs(v: Option<f64>) -> String {
    v.map_or("?".into(), |s| format!("{s:.2} s"))
}

fn parallel_note(speedup: Option<f64>, fraction: Option<f64>, cores: usize) -> String {
    match (speedup, fraction) {
        (Some(s), Some(p)) => format!(
            "; it gets {} from {cores} CPUs over one (parallel fraction {:.0} %)",
            advice::times(s),
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
    // A swap that says what it put in place (`Parallel(n_jobs=2,
    // backend='loky')`, `Pool(2)`) is the change itself.
    if let Some(new) = &e.replacement {
        return format!("Replace `{what}`{at} with `{new}`.");
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

    fn exp(label: &str, kind: &str, strategy: Option<Strategy>, times: &[f64]) -> Experiment {
        let mut e = Experiment::timed(label, kind, strategy, times);
        e.site = Some("app.py:17".into());
        e.replaced = Some("ThreadPoolExecutor(4)".into());
        e
    }

    fn with_stats(mut v: Vec<Experiment>) -> Vec<Experiment> {
        let base: Vec<f64> = v[0].runs.iter().map(|r| r.wall_s).collect();
        for e in v.iter_mut().skip(1) {
            let t: Vec<f64> = e.runs.iter().map(|r| r.wall_s).collect();
            if t.is_empty() {
                continue;
            }
            let c = stats::compare(&base, &t).unwrap();
            e.speedup = Some(c.speedup);
            e.significant = c.significant;
        }
        v
    }

    fn prediction(s: Strategy, c: f64, low: f64, high: f64) -> Prediction {
        Prediction {
            strategy: s,
            predicted_speedup: c,
            low,
            high,
            basis: "test".into(),
            effort: s.effort(),
        }
    }

    /// The recommendation for these experiments, with nothing unmeasured
    /// listed, no warnings and no interrupt.
    fn decide(verdict: Verdict, predictions: &[Prediction], v: Vec<Experiment>) -> Recommendation {
        recommend(
            &judge(verdict, predictions),
            v,
            Vec::new(),
            Vec::new(),
            false,
        )
    }

    fn judge<'a>(verdict: Verdict, predictions: &'a [Prediction]) -> Judgement<'a> {
        Judgement {
            verdict,
            cores: 2,
            runs: 3,
            predictions,
            python_version: Some("3.11.7"),
            site: Some("spin (app.py:21)"),
        }
    }

    #[test]
    fn a_significant_swap_is_recommended_with_the_code_change_and_checks_its_prediction() {
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
        let preds = [prediction(Strategy::Processes, 1.9, 1.4, 2.0)];
        let r = decide(Verdict::GilContended, &preds, v);
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
        assert_eq!(r.experiments[1].predicted_speedup, Some(1.9));
        let check = r.prediction_check.expect("one pair");
        assert_eq!((check.pairs, check.within_25_percent), (1, 1));
    }

    #[test]
    fn an_insignificant_win_and_nothing_predicted_means_keep() {
        let v = with_stats(vec![
            exp("as-is", "as-is", None, &[4.0, 4.2, 4.4]),
            exp(
                "threads (swap)",
                "swap",
                Some(Strategy::Threads),
                &[3.9, 4.3, 4.5],
            ),
        ]);
        let preds = [prediction(Strategy::Processes, 1.02, 0.9, 1.05)];
        let r = decide(Verdict::CpuParallel, &preds, v);
        assert_eq!(r.strategy, Strategy::Keep);
        assert!(
            r.sentence
                .contains("no alternative measured here was significantly faster"),
            "{}",
            r.sentence
        );
    }

    #[test]
    fn a_remedy_that_needs_a_code_change_is_recommended_from_its_prediction() {
        // Bare threads under the GIL: nothing to swap, so the processes swap
        // did not apply; the prediction still stands.
        let mut na = exp("processes (swap)", "swap", Some(Strategy::Processes), &[]);
        na.status = super::super::Status::NotApplicable;
        na.median_s = None;
        na.error = Some("no executor created by the program's code".into());
        let v = with_stats(vec![exp("as-is", "as-is", None, &[1.0, 1.1, 1.2]), na]);
        let preds = [
            prediction(Strategy::Processes, 1.9, 1.4, 2.0),
            prediction(Strategy::Native, 8.0, 1.0, 40.0),
        ];
        let r = decide(Verdict::GilContended, &preds, v);
        assert_eq!(r.strategy, Strategy::Processes);
        assert!(!r.measured);
        assert!(
            r.sentence.contains("not measured; predicted 1.90x"),
            "{}",
            r.sentence
        );
        assert!(r.sentence.contains("`spin (app.py:21)`"), "{}", r.sentence);
        assert!(r.sentence.contains("no executor created"), "{}", r.sentence);
        assert_eq!(
            r.prediction.as_ref().map(|p| p.strategy),
            Some(Strategy::Processes)
        );
    }

    #[test]
    fn a_measurement_that_refutes_the_prediction_wins_over_it() {
        let v = with_stats(vec![
            exp("as-is", "as-is", None, &[4.0, 4.1, 4.2]),
            exp(
                "processes (swap)",
                "swap",
                Some(Strategy::Processes),
                &[4.0, 4.1, 4.3],
            ),
        ]);
        let preds = [prediction(Strategy::Processes, 1.9, 1.4, 2.0)];
        let r = decide(Verdict::GilContended, &preds, v);
        assert_eq!(r.strategy, Strategy::Keep, "{}", r.sentence);
        let check = r.prediction_check.expect("one pair");
        assert_eq!(check.within_25_percent, 0);
    }

    #[test]
    fn a_workload_headline_is_python_level_with_the_native_ceiling_beside_it() {
        let v = with_stats(vec![
            exp("as-is (threads)", "as-is", None, &[4.0, 4.1, 4.2]),
            exp(
                "processes (workload)",
                "workload",
                Some(Strategy::Processes),
                &[2.2, 2.3, 2.4],
            ),
            exp(
                "native-parallel (workload)",
                "workload",
                Some(Strategy::Native),
                &[0.1, 0.1, 0.1],
            ),
        ]);
        let r = decide(Verdict::GilContended, &[], v);
        assert_eq!(r.strategy, Strategy::Processes, "{}", r.sentence);
        assert!(
            r.sentence.contains("Native ceiling: 41.0x"),
            "{}",
            r.sentence
        );
    }

    #[test]
    fn an_engine_that_loses_on_a_short_job_is_called_too_short_not_slow() {
        let mut ray = exp(
            "ray (swap, local cluster)",
            "swap",
            Some(Strategy::Ray),
            &[7.0, 8.0, 9.0],
        );
        ray.engine_startup_s = Some(10.0);
        let pinned = exp("pinned to 1 CPU", "core-count", None, &[3.2, 3.3, 3.4]);
        let v = with_stats(vec![
            exp("as-is", "as-is", None, &[1.6, 1.7, 1.8]),
            pinned,
            ray,
        ]);
        let r = decide(Verdict::CpuParallel, &[], v);
        assert_eq!(r.strategy, Strategy::Keep, "{}", r.sentence);
        assert!(
            r.sentence
                .contains("too short for an engine to pay off (1.70 s as-is; ray took 10.0 s to start and each run 6.30 s more)"),
            "{}",
            r.sentence
        );
        // The scale-out forecast beside it leaves the conclusion to it: said once.
        assert!(r.sentence.contains("with them"), "{}", r.sentence);
        assert_eq!(
            r.sentence.matches("too short for an engine").count(),
            1,
            "{}",
            r.sentence
        );
        // A long job that an engine merely did not beat gets no such note.
        let mut ray = exp("ray", "swap", Some(Strategy::Ray), &[101.0, 102.0, 103.0]);
        ray.engine_startup_s = Some(3.0);
        let v = with_stats(vec![
            exp("as-is", "as-is", None, &[100.0, 100.5, 101.0]),
            ray,
        ]);
        let r = decide(Verdict::CpuParallel, &[], v);
        assert!(!r.sentence.contains("too short"), "{}", r.sentence);
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
