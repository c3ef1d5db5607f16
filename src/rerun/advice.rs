//! The words of a recommendation that rests on a prediction, and the check
//! of predictions against what the experiments measured.
//!
//! A remedy the re-runs could not try (bare `threading.Thread`s have no
//! executor to swap, a sequential loop has nothing to parallelise, a lock
//! or an event loop needs its code changed) is still the answer when the
//! diagnosis predicts it pays: the report names it as `measured: false`,
//! with the predicted range, the code to change and how to confirm it,
//! instead of falling back to `keep` under a verdict that says otherwise.

use super::{Experiment, PredictionCheck, Strategy, recommend::Judgement, stats};
use crate::diagnose::predict::worth_changing_code;
use crate::diagnose::{Prediction, Verdict};

/// A measured speedup within this factor of the prediction counts as a hit
/// (±25 %, the bar the diagnosis is held to).
pub const PREDICTION_TOLERANCE: f64 = 1.25;

/// A job shorter than this many times an engine's overhead (its cluster's
/// start-up plus what each run paid beyond as-is to connect and ship tasks)
/// cannot win that overhead back on more machines: a 2 s job that pays 10 s
/// to start Ray needs far more than 10 s of parallel work to gain.
pub const ENGINE_PAYOFF_FACTOR: f64 = 10.0;

/// A speedup with sensible precision: `1.76x`, `13.7x`, `137x`.
pub fn times(x: f64) -> String {
    if x >= 99.95 {
        format!("{x:.0}x")
    } else if x >= 9.995 {
        format!("{x:.1}x")
    } else {
        format!("{x:.2}x")
    }
}

/// Whether an experiment measured `s` for real (in every round, comparable).
fn measured(experiments: &[Experiment], s: Strategy) -> bool {
    experiments
        .iter()
        .any(|e| e.strategy == Some(s) && e.has_timing() && e.median_s.is_some())
}

/// The remedies predicted to pay that no experiment measured: what a
/// prediction may recommend, or name beside a measured winner. A swap does
/// not measure a change no swap makes (`Prediction::needs_code_change`:
/// splitting one busy thread's work, batching a Manager's calls): that
/// stays a prediction.
fn untried<'a>(
    j: &'a Judgement,
    experiments: &'a [Experiment],
) -> impl Iterator<Item = &'a Prediction> {
    j.predictions.iter().filter(|p| {
        worth_changing_code(p, j.python_version)
            && (p.needs_code_change || !measured(experiments, p.strategy))
    })
}

/// The cheapest remedy predicted to pay that no experiment measured.
pub fn unmeasured_remedy<'a>(
    j: &'a Judgement,
    experiments: &'a [Experiment],
) -> Option<&'a Prediction> {
    untried(j, experiments).min_by(|a, b| {
        a.effort
            .cmp(&b.effort)
            .then(b.predicted_speedup.total_cmp(&a.predicted_speedup))
    })
}

/// A remedy no experiment could try whose predicted gain exceeds what the
/// measured winner gained (`measured`): said beside the winner, with its
/// change, not in its place unless measured. A process pool of one task
/// per item measured 3.86x on threads, where bigger tasks were predicted
/// 4.7x (2.97–5.56x) and could not be swapped in (`submit`, not `map`).
pub fn predicted_beyond(
    j: &Judgement,
    experiments: &[Experiment],
    measured: f64,
) -> Option<String> {
    let p = untried(j, experiments)
        .filter(|p| p.predicted_speedup > measured)
        .max_by(|a, b| a.predicted_speedup.total_cmp(&b.predicted_speedup))?;
    Some(format!(
        "Not measurable here and predicted higher: {} {} ({}–{}). {}",
        p.strategy.as_str(),
        times(p.predicted_speedup),
        times(p.low),
        times(p.high),
        code_change(p.strategy, j.site, j.cores, j.verdict)
    ))
}

/// The remedy no experiment could try whose pessimistic end still beats
/// what the measured winner gained (`measured`), the surest such if several:
/// recommended in the winner's place (see `recommend::measured_win`).
pub fn outranks_measured<'a>(
    j: &'a Judgement,
    experiments: &'a [Experiment],
    measured: f64,
) -> Option<&'a Prediction> {
    untried(j, experiments)
        .filter(|p| p.low > measured)
        .max_by(|a, b| a.low.total_cmp(&b.low))
}

/// "processes (not measured; predicted 1.9x, 1.4–2.0x): why. Change. Confirm."
pub fn unmeasured_sentence(j: &Judgement, p: &Prediction, experiments: &[Experiment]) -> String {
    let swapped = experiments
        .iter()
        .filter(|e| p.needs_code_change && e.strategy == Some(p.strategy) && e.has_timing())
        .find_map(|e| e.speedup);
    let why = match swapped {
        Some(s) if p.strategy == Strategy::Batch => format!(
            "a bigger chunksize ({} measured) leaves the calls each task makes through a Manager's proxies: the gain predicted is from batching those, a code change",
            times(s)
        ),
        Some(s) => format!(
            "swapping the executor moved the same work, one busy thread's, to {} ({} measured): the gain predicted is from splitting it into independent pieces, a code change",
            p.strategy.as_str(),
            times(s)
        ),
        None => experiments
            .iter()
            .find(|e| e.strategy == Some(p.strategy) && e.error.is_some())
            .and_then(|e| e.error.clone())
            .unwrap_or_else(|| "no experiment can try it without a code change".to_string()),
    };
    let change = if p.needs_code_change && p.strategy == Strategy::Batch {
        let at = site_phrase(j.site);
        format!(
            "Make each task at {at} send one update: collect its results locally and return them (or update the Manager's object once per task)."
        )
    } else {
        code_change(p.strategy, j.site, j.cores, j.verdict)
    };
    format!(
        "{} (not measured; predicted {}, {}–{} — {}): {}. {} Confirm: {}",
        p.strategy.as_str(),
        times(p.predicted_speedup),
        times(p.low),
        times(p.high),
        p.basis,
        why.trim_end_matches('.'),
        change,
        confirm(p.strategy)
    )
}

/// Where a change goes, as a sentence names it: the site in backticks, or
/// "the hot code" when the run named none.
fn site_phrase(site: Option<&str>) -> String {
    site.map_or("the hot code".to_string(), |s| format!("`{s}`"))
}

/// The change a remedy asks for, at the code the verdict names. `batch`
/// means fewer `fsync`s for a program bound by its disk, bigger tasks for a
/// pool: an fsync loop told about `chunksize` and "the pool's `map()`" had
/// no pool.
pub(super) fn code_change(
    s: Strategy,
    site: Option<&str>,
    cores: usize,
    verdict: Verdict,
) -> String {
    let at = site_phrase(site);
    match s {
        Strategy::Processes => format!(
            "Run the work of {at} in a `concurrent.futures.ProcessPoolExecutor({cores})` (a module-level function, picklable arguments; a single loop split into independent chunks)."
        ),
        Strategy::Interpreters => format!(
            "Run the work of {at} in a `concurrent.futures.InterpreterPoolExecutor({cores})` (shareable arguments)."
        ),
        Strategy::Threads => format!(
            "Overlap the waits at {at}: submit them to a `concurrent.futures.ThreadPoolExecutor(8)`."
        ),
        Strategy::Asyncio => format!(
            "Make the waits at {at} coroutines and run them together with `asyncio.gather`."
        ),
        Strategy::Batch if verdict == Verdict::IoDisk => format!(
            "Make the writes at {at} durable in batches: write several, then `fsync` once (one file, or one journal, per batch; `os.fsync` of the directory once after the renames)."
        ),
        Strategy::Batch => format!(
            "Give each task at {at} more work: pass `chunksize=len(items) // (4 * workers)` to the pool's `map()` (or submit one task per chunk of items)."
        ),
        Strategy::ShrinkLock => format!(
            "Hold the lock taken at {at} only around the shared state it protects; do the work outside it (or split the lock)."
        ),
        Strategy::Offload => format!(
            "Move the CPU work of {at} out of the event loop: `await loop.run_in_executor(ProcessPoolExecutor(), fn, *args)`."
        ),
        Strategy::FreeThreaded => {
            "Run it on a free-threaded Python (3.13t/3.14t, PYTHON_GIL=0).".to_string()
        }
        Strategy::Native => format!("Move the hot loop of {at} into native code (Rust/C, numpy)."),
        Strategy::Ray => format!(
            "Run the pool at {at} on Ray: `ray.util.multiprocessing.Pool()` in place of `multiprocessing.Pool`, started against the cluster (`ray.init(address=...)`)."
        ),
        Strategy::Dask => format!(
            "Run the pool at {at} on Dask: `distributed.Client(address).get_executor()` in place of the `ProcessPoolExecutor`."
        ),
        Strategy::SharedMemory => format!(
            "Pass the large arguments of {at} through `multiprocessing.shared_memory` (or numpy arrays on a shared buffer) and send workers only names and offsets."
        ),
        Strategy::Keep => String::new(),
    }
}

/// How to measure the change once it is made.
fn confirm(s: Strategy) -> &'static str {
    match s {
        Strategy::Processes | Strategy::Interpreters | Strategy::Threads => {
            "make the executor a flag and run `boundcheck --vary executor=threads,processes -- python3 app.py --executor {executor}`."
        }
        _ => {
            "record a baseline first (`boundcheck baseline -- CMD`), make the change, then `boundcheck check --baseline boundcheck-baseline.json -- CMD`."
        }
    }
}

/// When the Ray or Dask experiments lost because the job is short beside
/// the engine's overhead, one sentence that says so with the figures: a
/// short program is not slow on an engine, it is too short for one.
pub fn engine_payoff_note(experiments: &[Experiment], chosen: Strategy) -> Option<String> {
    let asis = experiments.first()?.median_s?;
    let parts: Vec<String> = experiments
        .iter()
        .filter(|e| matches!(e.strategy, Some(Strategy::Ray | Strategy::Dask)))
        .filter(|e| e.strategy != Some(chosen) && e.has_timing() && !e.significant)
        .filter_map(|e| {
            let extra = (e.median_s? - asis).max(0.0);
            let startup = e.engine_startup_s.unwrap_or(0.0);
            (asis < ENGINE_PAYOFF_FACTOR * (startup + extra)).then(|| {
                let word = e.strategy.map_or("engine", Strategy::as_str);
                match e.engine_startup_s {
                    Some(s) => {
                        format!("{word} took {s:.1} s to start and each run {extra:.2} s more")
                    }
                    None => format!("each {word} run took {extra:.2} s more"),
                }
            })
        })
        .collect();
    if parts.is_empty() {
        return None;
    }
    Some(format!(
        "The job is too short for an engine to pay off ({asis:.2} s as-is; {}): Ray or Dask gain on more machines only when the work is many times longer than that.",
        parts.join("; ")
    ))
}

/// Pair each experiment run under another interpreter with the `control`
/// that ran the unchanged program under the same one, and give it its own
/// gain over that control ([`Experiment::strategy_speedup`]).
pub fn attribute_controls(experiments: &mut [Experiment]) {
    let controls: Vec<Experiment> = experiments
        .iter()
        .filter(|e| e.kind == "control" && e.has_timing())
        .cloned()
        .collect();
    for e in experiments.iter_mut().filter(|e| e.has_timing()) {
        let Some(c) = controls.iter().find(|c| c.is_control_of(e)) else {
            continue;
        };
        // Only with a figure: a control without one leaves the experiment
        // judged against as-is, as before controls.
        if let Some(v) = stats::compare(&c.walls(), &e.walls()) {
            e.control = Some(c.label.clone());
            e.strategy_speedup = Some(v.speedup);
            e.strategy_p_value = Some(v.p_value);
        }
    }
}

/// An interpreter experiment significantly faster than as-is that is not
/// a winner for its own gain over its control: under
/// [`super::recommend::MIN_GAIN`], the interpreter did it (the user gets it
/// by running the program under that interpreter, without the strategy);
/// above it but not significant (a control run short by an interrupt or
/// the budget), more runs would tell.
pub fn interpreter_only_note(experiments: &[Experiment]) -> Option<String> {
    let e = experiments
        .iter()
        .filter(|e| e.kind == "interpreter" && e.significant && e.strategy_speedup.is_some())
        .filter(|e| !own_gain(e, super::recommend::MIN_GAIN))
        .max_by(|a, b| {
            a.speedup
                .unwrap_or(0.0)
                .total_cmp(&b.speedup.unwrap_or(0.0))
        })?;
    let control = e.control.as_deref()?;
    let word = e.strategy.map_or("the swap", Strategy::as_str);
    let own = e.strategy_speedup.unwrap_or(1.0);
    let total = times(e.speedup.unwrap_or(1.0));
    Some(if own < super::recommend::MIN_GAIN {
        format!(
            "{} ran {total} faster than as-is, but no faster than {control} ({}): the gain is that interpreter's, not {word}'s.",
            e.label,
            times(own),
        )
    } else {
        format!(
            "{} ran {total} faster than as-is and {} faster than {control}, but not significantly over {control} (p = {:.2}): confirm with more runs (`--runs 10`).",
            e.label,
            times(own),
            e.strategy_p_value.unwrap_or(1.0),
        )
    })
}

/// Whether an experiment's gain is its strategy's: no control, or
/// significantly and at least `min_gain` faster than its control.
pub fn own_gain(e: &Experiment, min_gain: f64) -> bool {
    e.control.is_none()
        || (e.strategy_speedup.is_some_and(|s| s >= min_gain)
            && e.strategy_p_value.is_some_and(|p| p <= stats::ALPHA))
}

/// Predicted against measured over the experiments that carry both (the
/// measured figure: [`Experiment::own_speedup`]).
pub fn check_predictions(experiments: &[Experiment]) -> Option<PredictionCheck> {
    let pairs: Vec<(f64, f64, f64, f64)> = experiments
        .iter()
        .filter(|e| e.has_timing() && e.strategy != Some(Strategy::Native))
        .filter_map(|e| {
            Some((
                e.predicted_speedup?,
                e.own_speedup()?,
                e.predicted_low?,
                e.predicted_high?,
            ))
        })
        .filter(|(p, m, _, _)| *p > 0.0 && *m > 0.0)
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let mut errors: Vec<f64> = pairs
        .iter()
        .map(|(p, m, _, _)| (p / m).ln().abs())
        .collect();
    errors.sort_by(f64::total_cmp);
    let mid = errors.len() / 2;
    let median = if errors.len() % 2 == 1 {
        errors[mid]
    } else {
        (errors[mid - 1] + errors[mid]) / 2.0
    };
    Some(PredictionCheck {
        pairs: pairs.len(),
        median_abs_log_error: (median * 1000.0).round() / 1000.0,
        within_25_percent: errors
            .iter()
            .filter(|e| **e <= PREDICTION_TOLERANCE.ln())
            .count(),
        within_range: pairs
            .iter()
            .filter(|(_, m, lo, hi)| m >= lo && m <= hi)
            .count(),
    })
}

#[cfg(test)]
mod tests;
