//! Comparative re-runs: every recommendation is a measurement.
//!
//! After the diagnosis, boundcheck plans experiments from the verdict
//! ([`plan`]), runs the as-is command and each alternative several times,
//! interleaved so drift of a shared machine hits all alike ([`execute`]),
//! compares them with the statistics of [`stats`], and recommends one
//! strategy ([`recommend`]). The door type is [`Recommendation`], which the
//! report carries as `recommendation`.

mod advice;
pub mod engines;
#[cfg(target_os = "linux")]
pub mod execute;
pub mod judge;
#[cfg(target_os = "linux")]
pub mod measure;
/// A speedup with sensible precision (`1.76x`, `13.7x`, `137x`).
pub use advice::times;
pub mod plan;
pub mod recommend;
pub mod scale_out;
pub mod stats;

use serde::{Deserialize, Serialize};

use crate::diagnose::Prediction;
pub use crate::diagnose::Strategy;

/// What the re-runs measured and what to do.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Recommendation {
    /// The recommended strategy.
    pub strategy: Strategy,
    /// Whether the recommendation rests on a measurement made here; `false`
    /// means the change could not be tried without editing code (see `sentence`).
    pub measured: bool,
    /// One sentence: the strategy, the measured gain, the code change.
    pub sentence: String,
    /// Speedup of the recommended alternative over as-is (median ÷ median).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speedup: Option<f64>,
    /// Whether that speedup passed the significance test.
    pub significant: bool,
    /// Runs of each experiment asked for (`--runs`).
    pub runs_per_experiment: usize,
    /// CPUs available: the ideal speedup of a perfectly parallel program.
    pub ideal_speedup: f64,
    /// Speedup the program gets from all CPUs over one (core-count experiment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_speedup: Option<f64>,
    /// The parallel fraction that speedup implies (Amdahl's law), 0–1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_fraction: Option<f64>,
    /// The diagnosis's prediction for the recommended strategy (for an
    /// unmeasured recommendation, the only figure there is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Prediction>,
    /// The scale-out forecast: Amdahl's law fitted to the runs on all CPUs
    /// and on one (and an engine's costs when one was measured), forecast at
    /// 2×, 4× and 8× this machine's cores. Absent without a pinned run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_out: Option<scale_out::ScaleOut>,
    /// How well the predictions matched the experiments that measured them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction_check: Option<PredictionCheck>,
    /// Every experiment, ranked by median wall time (as-is first).
    pub experiments: Vec<Experiment>,
    /// Strategies that were considered but not measured, and why.
    pub not_measured: Vec<NotMeasured>,
    /// Noisy runs, budget cuts and the like.
    pub warnings: Vec<String>,
    /// True when a signal stopped the re-runs: only finished runs are here.
    pub interrupted: bool,
}

/// What became of an experiment. The spellings are a public contract
/// (`recommendation.experiments[].status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Every run finished as the profiled run did (its exit status).
    Measured,
    /// A run exited otherwise, timed out or could not start: no timing.
    Failed,
    /// Nothing to change in this program (no executor to swap, a workload
    /// strategy that does not apply): no timing.
    NotApplicable,
    /// Not run: the budget ran out or the re-runs were interrupted first.
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Measured => "measured",
            Status::Failed => "failed",
            Status::NotApplicable => "not-applicable",
            Status::Skipped => "skipped",
        }
    }
}

fn yes() -> bool {
    true
}

/// One alternative and all of its runs.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Experiment {
    /// What a person reads in the table, e.g. `processes (swap)`.
    pub label: String,
    /// `as-is`, `core-count`, `control`, `swap`, `interpreter`, `workload`
    /// or `vary`. A `control` runs the unchanged program under the
    /// interpreter an `interpreter` experiment uses.
    pub kind: String,
    /// The strategy this experiment measures, if it measures one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// `measured`, `failed`, `not-applicable`, `skipped` (budget or interrupt).
    pub status: Status,
    /// False when these runs did not reproduce the profiled run (exit status,
    /// CPU time, child processes or bytes written differ beyond noise): the
    /// program changed between runs, so its times compare nothing. Such an
    /// experiment carries no timing and is never recommended.
    #[serde(default = "yes")]
    pub comparable: bool,
    /// Why it is not comparable, in words with both figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_comparable: Option<String>,
    pub runs: Vec<RunResult>,
    /// Median, min and max wall time of the runs, seconds; only for a
    /// `measured`, comparable experiment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_s: Option<f64>,
    /// Median as-is ÷ median of this experiment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speedup: Option<f64>,
    /// One-sided Mann-Whitney p-value that this is faster than as-is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// `p_value` ≤ 0.05: significantly faster.
    pub significant: bool,
    /// One-sided Mann-Whitney p-value that this is slower than as-is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value_slower: Option<f64>,
    /// `p_value_slower` ≤ 0.05: significantly slower.
    #[serde(default)]
    pub significant_slower: bool,
    /// The smallest p-value this many runs (this experiment's and as-is's)
    /// can give at all: 1 / C(n1 + n2, n1), e.g. 0.05 for 3 vs 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_p_value: Option<f64>,
    /// Why it failed or did not apply, with the code change that would help.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where the swapped executor was created (`app.py:17`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// What the swap replaced, e.g. `ThreadPoolExecutor(4)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<String>,
    /// What the swap put in its place, e.g. `ProcessPoolExecutor(2)`,
    /// `Parallel(n_jobs=2, backend='loky')`, `ProcessPoolExecutor.map(chunksize=500)`:
    /// the code change that makes the measured gain permanent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    /// The command line of this experiment.
    pub command: Vec<String>,
    /// The diagnosis's predicted speedup for this experiment's strategy, ×.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_speedup: Option<f64>,
    /// Its pessimistic and optimistic ends, ×.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_high: Option<f64>,
    /// For an engine experiment (`ray`, `dask`): seconds the engine took to
    /// start (cluster up, workers ready), measured apart from the runs so a
    /// short program is not called slow for a one-off cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_startup_s: Option<f64>,
    /// For an experiment under another interpreter (the 3.14 swap of a
    /// program that runs on an older Python): the label of the `control`
    /// that ran the unchanged program under that interpreter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
    /// The control's median ÷ this experiment's: the strategy's own gain,
    /// apart from what the newer interpreter alone gives. A 3.11 program's
    /// `InterpreterPoolExecutor` swap measured 3.8x where 2.0x was
    /// predicted, half of it 3.14 itself; the prediction (one interpreter
    /// throughout) is checked against this figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy_speedup: Option<f64>,
    /// One-sided Mann-Whitney p-value that this is faster than its control.
    /// A strategy is recommended for its own gain: the free-threaded build
    /// ran an allocation-churning program 3.6x faster than 3.11 with or
    /// without threads that could use it (its allocator, not free threading).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy_p_value: Option<f64>,
    /// For a `control`: the strategy whose experiment it is the control of.
    /// Pairing by interpreter path alone would give a free-threaded
    /// `python3.14t` used for both swaps the wrong control.
    #[serde(skip)]
    pub controls: Option<Strategy>,
}

#[cfg(test)]
impl Experiment {
    /// A synthetic measured experiment of `walls` seconds (CPU = wall, exit
    /// 0), with its median, min and max: the builder the recommendation,
    /// advice and scale-out tests share.
    pub(crate) fn timed(
        label: &str,
        kind: &str,
        strategy: Option<Strategy>,
        walls: &[f64],
    ) -> Experiment {
        let mut e = Experiment::new(
            label.into(),
            kind.into(),
            strategy,
            vec!["python3".into(), "app.py".into()],
        );
        e.runs = walls
            .iter()
            .map(|&w| RunResult {
                wall_s: w,
                cpu_s: w,
                peak_rss_bytes: 0,
                exit_status: 0,
                written_bytes: None,
                children: None,
            })
            .collect();
        let s = stats::Summary::of(walls);
        e.median_s = s.map(|s| s.median);
        e.min_s = s.map(|s| s.min);
        e.max_s = s.map(|s| s.max);
        e
    }
}

/// Predicted against measured, over the experiments that measured a
/// predicted strategy (native cells of built-in workloads left out: the
/// native prediction is an estimate of faster Python, not of the Rust the
/// workloads measure).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PredictionCheck {
    /// Experiments paired with a prediction.
    pub pairs: usize,
    /// Median of |ln(predicted ÷ measured speedup)|: 0.22 is about ±25 %.
    pub median_abs_log_error: f64,
    /// Pairs whose measured speedup fell within ±25 % of the prediction.
    pub within_25_percent: usize,
    /// Pairs whose measured speedup fell inside the predicted low–high range.
    pub within_range: usize,
}

impl Experiment {
    /// A planned experiment before its first run: measured until a run says otherwise.
    pub fn new(
        label: String,
        kind: String,
        strategy: Option<Strategy>,
        command: Vec<String>,
    ) -> Self {
        Experiment {
            label,
            kind,
            strategy,
            status: Status::Measured,
            comparable: true,
            not_comparable: None,
            runs: Vec::new(),
            median_s: None,
            min_s: None,
            max_s: None,
            speedup: None,
            p_value: None,
            significant: false,
            p_value_slower: None,
            significant_slower: false,
            min_p_value: None,
            error: None,
            site: None,
            replaced: None,
            replacement: None,
            command,
            predicted_speedup: None,
            predicted_low: None,
            predicted_high: None,
            engine_startup_s: None,
            control: None,
            strategy_speedup: None,
            strategy_p_value: None,
            controls: None,
        }
    }

    /// The wall time of each run, seconds.
    pub fn walls(&self) -> Vec<f64> {
        self.runs.iter().map(|r| r.wall_s).collect()
    }

    /// Whether this is the control of experiment `e`: the same interpreter
    /// and the strategy it was planned for.
    pub fn is_control_of(&self, e: &Experiment) -> bool {
        self.kind == "control"
            && e.kind == "interpreter"
            && self.controls.is_some()
            && self.controls == e.strategy
            && self.command.first() == e.command.first()
    }

    /// The gain the strategy brings by itself, as its prediction means it
    /// (what the prediction is checked against). The `interpreters`
    /// swap's gain over its control (the program under the same 3.14): a
    /// user can move to 3.14 without the pool, and its prediction assumes
    /// one interpreter. For everything else the gain over as-is, the
    /// free-threaded build's own speed included: free threading cannot be
    /// had without the build, and its prediction includes the build's
    /// speed (`FREE_THREADED_SLOWDOWN`).
    pub fn own_speedup(&self) -> Option<f64> {
        match self.strategy {
            Some(Strategy::Interpreters) => self.strategy_speedup.or(self.speedup),
            _ => self.speedup,
        }
    }

    /// Whether its times stand for the strategy: measured in every round
    /// and reproducing the profiled run.
    pub fn has_timing(&self) -> bool {
        self.status == Status::Measured && self.comparable
    }
}

/// One run of one experiment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunResult {
    /// Launch to exit, seconds.
    pub wall_s: f64,
    /// CPU time (user + system) of the whole tree, seconds.
    pub cpu_s: f64,
    /// Peak resident memory of the whole tree (sum over its processes), bytes.
    pub peak_rss_bytes: u64,
    /// Exit status as a shell reports it.
    pub exit_status: i32,
    /// Bytes the program and the children it reaped wrote to any file,
    /// pipe, socket or terminal (`wchar` of `/proc/PID/io` at exit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_bytes: Option<u64>,
    /// Child processes seen for at least 0.2 s (shorter ones are seen or
    /// missed by chance of the sampler's tick).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<u32>,
}

/// A strategy that was not measured, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NotMeasured {
    pub strategy: Strategy,
    pub reason: String,
}

/// Plan, run and judge the experiments for one profiled run.
#[cfg(target_os = "linux")]
pub fn rerun(ctx: &plan::PlanContext, settings: &execute::Settings) -> Recommendation {
    let (planned, not_measured) = plan::plan(ctx);
    let outcome = execute::execute(&planned, settings);
    let judgement = recommend::Judgement {
        verdict: ctx.verdict,
        cores: ctx.cores,
        runs: settings.runs,
        predictions: &ctx.predictions,
        python_version: ctx.python_version.as_deref(),
        site: ctx.site.as_deref(),
    };
    recommend::recommend(
        &judgement,
        outcome.experiments,
        not_measured,
        outcome.warnings,
        outcome.interrupted,
    )
}
