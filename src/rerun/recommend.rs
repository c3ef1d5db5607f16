//! From measured experiments to one recommendation sentence.
//!
//! The recommendation is the fastest alternative whose win over as-is is
//! significant and at least [`MIN_GAIN`]; otherwise a measured gain too
//! noisy to be significant that agrees with a prediction worth a change
//! (`measured`, not `significant`); otherwise the cheapest remedy the
//! diagnosis predicts to gain (see `diagnose::predict::worth_changing_code`)
//! that could not be measured without a code change, labelled `measured:
//! false` with its predicted speedup, the line to change and how to confirm
//! it; otherwise, for a program that saturates this machine and is forecast
//! to gain at least 1.5x on twice its cores, `ray` or `dask`
//! (`scale_out.rs`); otherwise `keep` — prediction and measurement agree
//! that nothing beats as-is.

use super::{Experiment, NotMeasured, Recommendation, Strategy, advice, scale_out, stats};
use crate::diagnose::predict::worth_changing_code;
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
        // A swap does not test a prediction resting on a change no swap
        // makes (`Prediction::needs_code_change`): no pair.
        let p = e
            .strategy
            .and_then(|s| j.predictions.iter().find(|p| p.strategy == s))
            .filter(|p| !p.needs_code_change);
        e.predicted_speedup = p.map(|p| p.predicted_speedup);
        e.predicted_low = p.map(|p| p.low);
        e.predicted_high = p.map(|p| p.high);
    }
    advice::attribute_controls(&mut experiments);
    rank(&mut experiments);
    let scale_out = scale_out::forecast(&experiments, j.cores);
    let prediction_check = advice::check_predictions(&experiments);
    let best = measured_winner(&experiments);
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
        let won = format!(
            "{}, significant). {}",
            faster_than_asis(b.strategy.unwrap_or(Strategy::Keep), &b, asis_median),
            change(&b, j.cores)
        );
        let ceiling = native_ceiling
            .map(|(x, l)| format!(" Native ceiling: {} ({l}).", advice::times(x)))
            .unwrap_or_default();
        measured_win(&mut rec, j, &b, &experiments, &won, &ceiling);
    } else if let Some((b, p)) = unconfirmed_winner(j, &experiments) {
        // A measured gain that agrees with a prediction worth a change, but
        // too few runs to call it significant: the prediction stands (never
        // `keep` while it does), with the measurement beside it.
        rec.sentence = format!(
            "{}), not significant with {} runs (p = {:.2}), as predicted ({}, {}–{}). {} Confirm with more runs: `--runs 10`.",
            faster_than_asis(p.strategy, &b, asis_median),
            b.runs.len(),
            b.strategy_p_value.or(b.p_value).unwrap_or(1.0),
            advice::times(p.predicted_speedup),
            advice::times(p.low),
            advice::times(p.high),
            change(&b, j.cores),
        );
        adopt_measured(&mut rec, &b, p.strategy, false, Some(p.clone()));
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
        let change = advice::code_change(s, line.as_deref(), j.cores, j.verdict);
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
                "the re-runs did not reproduce the profiled run ({reason}), so nothing could be compared, and {}",
                nothing_predicted()
            )
        } else if experiments
            .iter()
            .any(|e| candidate(e) && e.median_s.is_some())
        {
            format!(
                "no alternative measured here was significantly faster, and {}",
                nothing_predicted()
            )
        } else {
            format!(
                "no alternative could be measured for this program, and {}",
                nothing_predicted()
            )
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
    let notes = [
        advice::engine_payoff_note(&experiments, rec.strategy),
        advice::interpreter_only_note(&experiments),
    ];
    for note in notes.into_iter().flatten() {
        rec.sentence = format!("{} {note}", rec.sentence);
    }
    rec.experiments = experiments;
    rec.not_measured = not_measured;
    rec.warnings = warnings;
    rec
}

/// A significant measured winner `b` (`won` says so): the recommendation,
/// unless a remedy no experiment could try is predicted, even at its
/// pessimistic end, to beat what `b` measured. Its low end already takes the
/// worst of each assumption, so that prediction is the better advice, with
/// the measured drop-in beside it: a `Pool.apply_async` per 2 µs item
/// measured 1.94x on `ThreadPool`, where bigger tasks were predicted 3.63x
/// (2.57x–4.09x) and `apply_async` could not take a `chunksize`.
fn measured_win(
    rec: &mut Recommendation,
    j: &Judgement,
    b: &Experiment,
    experiments: &[Experiment],
    won: &str,
    ceiling: &str,
) {
    let gain = b.speedup.unwrap_or(1.0);
    if let Some(p) = advice::outranks_measured(j, experiments, gain) {
        rec.strategy = p.strategy;
        rec.measured = false;
        rec.sentence = format!(
            "{} Measured meanwhile, a drop-in: {won}{ceiling}",
            advice::unmeasured_sentence(j, p, experiments)
        );
        rec.prediction = Some(p.clone());
        return;
    }
    let s = b.strategy.unwrap_or(Strategy::Keep);
    rec.sentence = format!(
        "{won}{ceiling}{}",
        advice::predicted_beyond(j, experiments, gain)
            .map(|n| format!(" {n}"))
            .unwrap_or_default()
    );
    let p = j.predictions.iter().find(|p| p.strategy == s).cloned();
    adopt_measured(rec, b, s, true, p);
}

/// "processes: 1.93x faster than as-is (4.21 s vs 8.12 s median of 3 runs"
/// (the caller closes the parenthesis).
fn faster_than_asis(s: Strategy, b: &Experiment, asis_median: Option<f64>) -> String {
    let own = match (&b.control, b.strategy_speedup, b.speedup) {
        (Some(c), Some(x), Some(total)) => format!(
            "; {c} alone is {}, {} {} over it",
            advice::times(total / x),
            s.as_str(),
            advice::times(x)
        ),
        _ => String::new(),
    };
    format!(
        "{}: {} faster than as-is ({} vs {} median of {} runs{own}",
        s.as_str(),
        advice::times(b.speedup.unwrap_or(1.0)),
        secs(b.median_s),
        secs(asis_median),
        b.runs.len()
    )
}

/// Recommend the measured experiment `b` as strategy `s`.
fn adopt_measured(
    rec: &mut Recommendation,
    b: &Experiment,
    s: Strategy,
    significant: bool,
    prediction: Option<Prediction>,
) {
    rec.strategy = s;
    rec.measured = true;
    rec.speedup = Some(b.speedup.unwrap_or(1.0));
    rec.significant = significant;
    rec.prediction = prediction;
}

/// The fastest measured alternative that gained at least [`MIN_GAIN`] but
/// not significantly (three runs cannot tell 1.6x from noise when one run
/// strays), when its prediction is worth a code change and the measurement
/// reaches the prediction's low end: measurement and prediction agree it
/// beats as-is. A gain below the low end refutes the prediction instead.
fn unconfirmed_winner<'a>(
    j: &Judgement<'a>,
    experiments: &[Experiment],
) -> Option<(Experiment, &'a Prediction)> {
    experiments
        .iter()
        // Not significant over as-is, or (under another interpreter) not
        // over its control: three runs may not tell a real own gain.
        .filter(|e| candidate(e) && e.comparable)
        .filter(|e| !e.significant || !advice::own_gain(e, MIN_GAIN))
        .filter_map(|e| {
            let gain = e.own_speedup()?;
            let p = j
                .predictions
                .iter()
                .find(|p| Some(p.strategy) == e.strategy)?;
            (gain >= MIN_GAIN.max(p.low) && worth_changing_code(p, j.python_version))
                .then(|| (e.clone(), p))
        })
        .max_by(|a, b| {
            a.0.speedup
                .unwrap_or(0.0)
                .total_cmp(&b.0.speedup.unwrap_or(0.0))
        })
}

/// The candidate with the largest gain of its own among those
/// significantly and at least [`MIN_GAIN`] faster than as-is, and than
/// their control when they have one. Its own gain: the smaller of its gain
/// over as-is and over its control. A 3.14 swap at 2.24x over 3.11, of
/// which 3.14 alone gave 1.27x, ranks at 1.76x, below a process pool's
/// 2.15x on the program's own Python (3.14 can be had without the pool);
/// a 3.14 that is slower than 3.11 is not credited either. A free-threaded
/// run ranks by its 1.43x over as-is, not its 1.93x over its build with
/// the GIL on, which nobody would run.
fn measured_winner(experiments: &[Experiment]) -> Option<Experiment> {
    let own = |e: &Experiment| {
        e.speedup
            .unwrap_or(0.0)
            .min(e.strategy_speedup.unwrap_or(f64::INFINITY))
    };
    experiments
        .iter()
        .filter(|e| candidate(e) && e.significant && e.speedup.is_some_and(|s| s >= MIN_GAIN))
        .filter(|e| advice::own_gain(e, MIN_GAIN))
        .max_by(|a, b| own(a).total_cmp(&own(b)))
        .cloned()
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

/// Why no prediction is recommended: none of the changes to the program
/// reaches [`WORTH_PREDICTED`](crate::diagnose::predict::WORTH_PREDICTED) with no loss at its pessimistic end. Native code
/// and other builds may show a larger figure in the table: they are
/// estimates, never recommended on a prediction alone, and a reader took the
/// bare "no code change is predicted to gain 1.3x" under "native 2.55x" for a
/// contradiction.
fn nothing_predicted() -> String {
    format!(
        "no change to the program is predicted to gain {}x without risking a loss (native code and other Python builds are estimates, not recommended unmeasured)",
        crate::diagnose::predict::WORTH_PREDICTED
    )
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
    // A chunksize swap keeps the pool: the change is one argument of the
    // map call, at the call's line (`site`), not a new constructor.
    if let (Some(Strategy::Batch), Some((method, arg))) =
        (e.strategy, e.replacement.as_deref().and_then(call_argument))
    {
        return format!("Pass `{arg}` to the `{method}()` call{at} (on `{what}`).");
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

/// `("imap", "chunksize=62")` from a replacement spelled
/// `Pool.imap(chunksize=62)`.
fn call_argument(replacement: &str) -> Option<(&str, &str)> {
    let (_, call) = replacement.split_once('.')?;
    let (method, rest) = call.split_once('(')?;
    Some((method, rest.strip_suffix(')')?))
}

#[cfg(test)]
mod tests;
