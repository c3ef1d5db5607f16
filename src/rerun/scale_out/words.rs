//! The scale-out recommendation in words: whether the program saturates
//! this machine, which engine to name, the executor line to change, and the
//! sentence (with the forecast and its assumptions) or the note that the job
//! is too short for an engine to pay off.

use super::{SCALE_OUT_WORTH, ScaleOut, measured_engine};
use crate::diagnose::{PARALLEL_CORES_SHARE, Verdict};
use crate::rerun::{Experiment, Strategy, advice::times};

/// Whether the program saturates this machine: the diagnosis found it
/// wanting the cores (`cpu-parallel`: CPU and run-queue seconds per second
/// ≥ `PARALLEL_CORES_SHARE` × cores) and the re-runs show it turning them
/// into speed (all CPUs over one ≥ the same share × cores). Only such a
/// program has outgrown the machine; any other is told to use this one first.
pub fn saturates(verdict: Verdict, parallel_speedup: Option<f64>, cores: usize) -> bool {
    verdict == Verdict::CpuParallel && cores >= 2 && uses_cores(parallel_speedup, cores)
}

/// Whether the re-runs show the program turning this machine's `cores`
/// into speed: all CPUs over one ≥ `PARALLEL_CORES_SHARE` × cores.
pub fn uses_cores(parallel_speedup: Option<f64>, cores: usize) -> bool {
    parallel_speedup.is_some_and(|s| s >= PARALLEL_CORES_SHARE * cores as f64)
}

/// The scale-out to recommend, when the program saturates this machine and
/// the forecast at 2× its cores pays ([`SCALE_OUT_WORTH`]): the engine
/// measured here (the faster of Ray and Dask), else Ray, unmeasured.
pub fn scale_out_pick(
    so: &ScaleOut,
    verdict: Verdict,
    parallel_speedup: Option<f64>,
    experiments: &[Experiment],
) -> Option<(Strategy, bool)> {
    let pays = so.at(2).is_some_and(|f| f.speedup >= SCALE_OUT_WORTH);
    if !(pays && saturates(verdict, parallel_speedup, so.measured_cores)) {
        return None;
    }
    Some(match measured_engine(experiments) {
        Some(e) => (e.strategy.unwrap_or(Strategy::Ray), true),
        None => (Strategy::Ray, false),
    })
}

/// For a saturated program whose forecast fails only for an engine's fixed
/// costs (measured, or the assumed start-up): the note that the job is too
/// short for an engine to pay off. `conclude: false` leaves the conclusion
/// to the engine experiments' own note (said once, with their figures).
pub fn too_short_note(
    so: &ScaleOut,
    verdict: Verdict,
    parallel_speedup: Option<f64>,
    conclude: bool,
) -> Option<String> {
    let f = so.at(2)?;
    if f.speedup >= SCALE_OUT_WORTH || !saturates(verdict, parallel_speedup, so.measured_cores) {
        return None;
    }
    let p = so.parallel_fraction;
    let bare = so.all_cores_s / (so.one_core_s * ((1.0 - p) + p / f.cores as f64));
    (bare >= SCALE_OUT_WORTH).then(|| {
        format!(
            "; on {} CPUs it is forecast {} without an engine's fixed costs ({}), {} with them{}",
            f.cores,
            times(bare),
            engine_costs(so),
            times(f.speedup),
            if conclude {
                ": the job is too short for an engine to pay off"
            } else {
                ""
            }
        )
    })
}

/// The engine costs a forecast carries, in words.
pub fn engine_costs(so: &ScaleOut) -> String {
    match so.engine {
        Some(e) => format!(
            "{} measured here: {:.2} s start-up, {:.2} s of per-task costs",
            e.as_str(),
            so.startup_s,
            so.overhead_s
        ),
        None => format!(
            "no engine measured here: a {:.0} s start-up assumed, no per-task costs",
            so.startup_s
        ),
    }
}

/// The executor line to change: where an engine or a swap found the
/// program's pool (`app.py:17 (ProcessPoolExecutor(2))`), else `site`.
pub fn executor_line(experiments: &[Experiment], site: Option<&str>) -> Option<String> {
    let found = measured_engine(experiments)
        .filter(|e| e.site.is_some())
        .or_else(|| experiments.iter().find(|e| e.site.is_some()));
    let Some(e) = found else {
        return site.map(str::to_string);
    };
    let at = e.site.clone()?;
    Some(match &e.replaced {
        Some(r) => format!("{at} ({r})"),
        None => at,
    })
}

/// "ray (forecast 1.8x at 4 CPUs, 1.6–1.9x, a model beyond the 2 measured):
/// why. Change. Confirm."
pub fn sentence(
    so: &ScaleOut,
    strategy: Strategy,
    measured: bool,
    parallel_speedup: Option<f64>,
    change: &str,
) -> String {
    let n = so.measured_cores;
    let points: Vec<String> = so
        .forecasts
        .iter()
        .enumerate()
        .map(|(i, f)| match i {
            0 => format!(
                "{} on {} CPUs ({}–{})",
                times(f.speedup),
                f.cores,
                times(f.low),
                times(f.high)
            ),
            _ => format!("{} on {}", times(f.speedup), f.cores),
        })
        .collect();
    let engine = engine_costs(so);
    format!(
        "{} ({}; forecast {} — Amdahl's law fitted to {n} CPUs and one, a model beyond {n}; {engine}): this program saturates this machine ({} from {n} CPUs over one, parallel fraction {:.0} %). {change} Confirm on a cluster: `boundcheck --cluster ADDRESS -- CMD`.",
        strategy.as_str(),
        if measured {
            "measured here, forecast beyond"
        } else {
            "not measured"
        },
        points.join(", "),
        parallel_speedup.map_or("?".into(), times),
        so.parallel_fraction * 100.0,
    )
}
