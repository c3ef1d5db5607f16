//! The scale-out forecast: how fast the program would run on more cores than
//! this machine has (a cluster of such machines), fitted to what the re-runs
//! measured here.
//!
//! The model is Amdahl's law with two costs an engine adds (`docs/rerun.md`,
//! "Scale-out forecast"):
//!
//! ```text
//! T(c) = s + o + T1 × ((1 − p) + p / c)        seconds, c cores
//! p    = (1 − Tn / T1) / (1 − 1 / n)            from the pinned run (T1) and as-is (Tn) on n cores
//! F(c) = Tn / T(c)                              speedup over as-is on this machine, ×
//! ```
//!
//! `s` is the engine's one-off start-up (`engine_startup_s` of a measured
//! Ray/Dask experiment, else [`ASSUMED_ENGINE_START_S`], said to be
//! assumed) and `o` its per-task costs summed over the
//! run (the engine run's median minus as-is's on the same cores, at least 0;
//! else 0): both stay whatever the cores, so they cap the gain. The forecast
//! is at 2×, 4× and 8× this machine's cores; its range repeats the fit with
//! the runs' extremes (the slowest all-core run against the fastest one-core
//! run for `low`, the reverse for `high`). Only `c = n` was measured: every
//! other figure is a model, and the report says so.

use super::{Experiment, Strategy, stats};
use serde::{Deserialize, Serialize};

/// The multiples of this machine's cores the forecast is made for.
pub const SCALE_MULTIPLES: [usize; 3] = [2, 4, 8];
/// A cluster is worth recommending when the forecast at 2× this machine's
/// cores is at least this much faster than as-is: below it, the network,
/// the engine and a second machine cost more than they return.
pub const SCALE_OUT_WORTH: f64 = 1.5;

/// An engine's start-up when none was measured here, seconds (center,
/// pessimistic end, optimistic end): a local Ray head or Dask cluster
/// started and its first tasks run took 16 s each on this 2-CPU VM under
/// load (Ray: 2.3 s import, 14 s `ray.init`; Dask: 5.8 s import, 10 s
/// `LocalCluster`), a few seconds on a quiet machine. A short job is not
/// told to scale out for want of a measurement.
pub const ASSUMED_ENGINE_START_S: (f64, f64, f64) = (5.0, 15.0, 2.0);

/// The forecast at one number of cores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScalePoint {
    /// Multiple of this machine's cores (2, 4, 8).
    pub multiple: usize,
    /// Cores forecast for: `multiple` × the cores measured.
    pub cores: usize,
    /// Forecast wall-time speedup over as-is on this machine, ×.
    pub speedup: f64,
    /// The same from the runs' pessimistic extremes, ×.
    pub low: f64,
    /// The same from the runs' optimistic extremes, ×.
    pub high: f64,
}

/// Amdahl's law fitted to the runs, and what it forecasts beyond this machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScaleOut {
    /// Cores the as-is runs had (`n`): the only core count measured besides one.
    pub measured_cores: usize,
    /// Median wall time of as-is on all `n` cores (`Tn`), seconds.
    pub all_cores_s: f64,
    /// Median wall time pinned to one CPU (`T1`), seconds.
    pub one_core_s: f64,
    /// Fitted parallel fraction `p`, 0–1, and its range from the runs' extremes.
    pub parallel_fraction: f64,
    pub parallel_fraction_low: f64,
    pub parallel_fraction_high: f64,
    /// The engine whose measured overheads the forecast includes (`ray`,
    /// `dask`); absent when none was measured (no engine costs assumed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<Strategy>,
    /// The engine's one-off start-up (`s`), seconds: measured, or without an
    /// engine run the assumed [`ASSUMED_ENGINE_START_S`] (its center; the
    /// range uses its ends).
    pub startup_s: f64,
    /// True when `startup_s` is assumed, not measured here.
    #[serde(default)]
    pub startup_assumed: bool,
    /// The engine's per-task costs over the whole run (`o`): its median minus
    /// as-is's on the same cores, seconds; 0 without an engine run.
    pub overhead_s: f64,
    /// The forecast at 2×, 4× and 8× this machine's cores.
    pub forecasts: Vec<ScalePoint>,
    /// What the figures are: measured on `n` cores and one, a model beyond.
    pub model: String,
}

impl ScaleOut {
    /// The forecast at `multiple` × this machine's cores.
    pub fn at(&self, multiple: usize) -> Option<&ScalePoint> {
        self.forecasts.iter().find(|f| f.multiple == multiple)
    }
}

/// One fit: the measured all-core and one-core times and the engine costs.
#[derive(Debug, Clone, Copy)]
struct Fit {
    tn: f64,
    t1: f64,
    fixed: f64,
}

impl Fit {
    fn parallel_fraction(&self, n: f64) -> f64 {
        stats::amdahl_parallel_fraction(self.t1 / self.tn, n).unwrap_or(0.0)
    }

    /// Forecast speedup over `base` (as-is's median) at `c` cores.
    fn speedup(&self, n: f64, c: f64, base: f64) -> f64 {
        let p = self.parallel_fraction(n);
        let t = self.fixed + self.t1 * ((1.0 - p) + p / c);
        round2(if t > 0.0 { base / t } else { 1.0 })
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn summary(e: &Experiment) -> Option<stats::Summary> {
    if !e.has_timing() {
        return None;
    }
    let walls = e.walls();
    stats::Summary::of(&walls)
}

/// The engine experiment whose overheads the forecast carries: the measured
/// Ray or Dask run with the smallest median (the cheaper engine to adopt).
pub fn measured_engine(experiments: &[Experiment]) -> Option<&Experiment> {
    experiments
        .iter()
        .filter(|e| matches!(e.strategy, Some(Strategy::Ray | Strategy::Dask)))
        .filter(|e| e.has_timing() && e.median_s.is_some())
        .min_by(|a, b| {
            a.median_s
                .unwrap_or(f64::MAX)
                .total_cmp(&b.median_s.unwrap_or(f64::MAX))
        })
}

/// Fit the model to the experiments. `None` without both an as-is and a
/// pinned (`core-count`) experiment measured, or on one core (nothing to fit).
pub fn forecast(experiments: &[Experiment], cores: usize) -> Option<ScaleOut> {
    if cores < 2 {
        return None;
    }
    let all = summary(experiments.iter().find(|e| e.kind == "as-is")?)?;
    let one = summary(experiments.iter().find(|e| e.kind == "core-count")?)?;
    if all.min <= 0.0 || one.min <= 0.0 {
        return None;
    }
    let engine = measured_engine(experiments);
    let engine_times = engine.and_then(summary);
    let measured_start = engine.and_then(|e| e.engine_startup_s);
    let (s_mid, s_low, s_high) = match measured_start {
        Some(s) => (s.max(0.0), s.max(0.0), s.max(0.0)),
        None => ASSUMED_ENGINE_START_S,
    };
    let overhead = |e: f64, a: f64| (e - a).max(0.0);
    let (o_mid, o_low, o_high) = engine_times.map_or((0.0, 0.0, 0.0), |e| {
        (
            overhead(e.median, all.median),
            overhead(e.max, all.min),
            overhead(e.min, all.max),
        )
    });
    let mid = Fit {
        tn: all.median,
        t1: one.median,
        fixed: s_mid + o_mid,
    };
    // Pessimistic: the slowest all-core run against the fastest one-core run
    // (the least parallel the runs allow), the largest engine overhead.
    let low = Fit {
        tn: all.max,
        t1: one.min,
        fixed: s_low + o_low,
    };
    let high = Fit {
        tn: all.min,
        t1: one.max,
        fixed: s_high + o_high,
    };
    let n = cores as f64;
    let forecasts = SCALE_MULTIPLES
        .iter()
        .map(|&m| {
            let c = (m * cores) as f64;
            let s = mid.speedup(n, c, all.median);
            // Both ends are speedups over the same as-is median.
            let (lo, hi) = (
                low.speedup(n, c, all.median),
                high.speedup(n, c, all.median),
            );
            ScalePoint {
                multiple: m,
                cores: m * cores,
                speedup: s,
                low: lo.min(s),
                high: hi.max(s),
            }
        })
        .collect();
    let p = mid.parallel_fraction(n);
    Some(ScaleOut {
        measured_cores: cores,
        all_cores_s: all.median,
        one_core_s: one.median,
        parallel_fraction: round3(p),
        parallel_fraction_low: round3(low.parallel_fraction(n).min(p)),
        parallel_fraction_high: round3(high.parallel_fraction(n).max(p)),
        engine: engine.and_then(|e| e.strategy),
        startup_s: s_mid,
        startup_assumed: measured_start.is_none(),
        overhead_s: round3(o_mid),
        forecasts,
        model: format!(
            "Amdahl's law fitted to {cores} CPUs and one: T(c) = s + o + T1 x ((1 - p) + p / c); measured on {cores} CPUs and one, a model beyond them (more cores like these, no costs but the engine's)"
        ),
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

mod words;
pub use words::{
    engine_costs, executor_line, saturates, scale_out_pick, sentence, too_short_note, uses_cores,
};

#[cfg(test)]
mod tests;
