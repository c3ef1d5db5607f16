//! The re-run table, computed once as rows of words and numbers already
//! formatted; text, markdown and HTML only lay the cells out.
//!
//! The cell rules live here and nowhere else:
//! - a time has 2 decimals (3 under 0.1 s, where milliseconds matter);
//! - a speedup has three significant digits at most (`1.76x`, `13.7x`,
//!   `137x`): run-to-run noise of a few percent makes more digits false;
//! - significance is `✔ significant`, `✘ significantly slower` or
//!   `(not significant)`, with p in the direction of the median and, when p
//!   is the smallest this many runs can give, that said (`p = 0.05, the
//!   floor for 3 vs 3 runs`), so it does not read as a weak result;
//! - an experiment without timing (failed, not applicable, skipped, not
//!   comparable) shows its status and reason, never a time.

use crate::rerun::{Experiment, Recommendation, Status};

/// How one timed row compares with as-is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The as-is row itself.
    Baseline,
    /// Significantly faster.
    Faster,
    /// Significantly slower.
    Slower,
    /// Neither, at this many runs.
    Neither,
}

impl Mark {
    pub fn words(self) -> &'static str {
        match self {
            Mark::Baseline => "",
            Mark::Faster => "✔ significant",
            Mark::Slower => "✘ significantly slower",
            Mark::Neither => "(not significant)",
        }
    }
}

/// The cells of a row that was timed.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// `4.21 s`.
    pub median: String,
    /// `4.15–4.40 s`.
    pub spread: String,
    /// `1.93x` against as-is.
    pub speedup: String,
    pub mark: Mark,
    /// `p = 0.05, the floor for 3 vs 3 runs`; none for the as-is row.
    pub p: Option<String>,
}

impl Timing {
    /// The significance cell in words: `✔ significant (p = 0.05, the floor
    /// for 3 vs 3 runs)`, `not significant (p = 0.35)`, `(not significant)`.
    pub fn significance(&self) -> String {
        match (self.mark, &self.p) {
            (Mark::Neither, Some(p)) => format!("not significant ({p})"),
            (mark, Some(p)) => format!("{} ({p})", mark.words()),
            (mark, None) => mark.words().to_string(),
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub label: String,
    /// Present only for a measured, comparable experiment.
    pub timing: Option<Timing>,
    /// For a row without timing: its status and the reason
    /// (`not comparable: …`, `failed: …`, `not measured: …`).
    pub notes: Option<String>,
    /// The speedup the diagnosis predicted for this row's strategy, with its
    /// range (`1.84x (1.25x–1.92x)`), when it predicted one.
    pub predicted: Option<String>,
}

/// Every experiment, then every strategy that was not measured. Engines
/// that do not import in the target's Python share one row: two rows of the
/// same missing-package message on every run of a user without Ray or Dask
/// were noise around the rows that matter.
pub fn rows(rec: &Recommendation) -> Vec<Row> {
    let mut out = experiment_rows(&rec.experiments);
    out.extend(rec.not_measured.iter().map(|n| Row {
        label: n.strategy.as_str().to_string(),
        timing: None,
        notes: Some(format!("not measured: {}", n.reason)),
        predicted: None,
    }));
    out
}

fn experiment_rows(experiments: &[Experiment]) -> Vec<Row> {
    let missing: Vec<(&Experiment, crate::rerun::engines::Engine)> = experiments
        .iter()
        .filter_map(|e| not_installed(e).map(|engine| (e, engine)))
        .collect();
    let mut out: Vec<Row> = experiments
        .iter()
        .filter(|e| missing.len() < 2 || not_installed(e).is_none())
        .map(row)
        .collect();
    if missing.len() >= 2 {
        let words: Vec<&str> = missing.iter().map(|(_, e)| e.word()).collect();
        let installs: Vec<String> = missing
            .iter()
            .map(|(_, e)| e.install_command().to_string())
            .collect();
        let python = missing[0]
            .0
            .command
            .first()
            .map_or("the target's Python", String::as_str);
        out.push(Row {
            label: format!("{} (local cluster)", words.join(", ")),
            timing: None,
            notes: Some(format!(
                "not measured: not installed for {python}; `pip install {}` (scripts/install-engines.sh in a clone of boundcheck)",
                installs.join(" ")
            )),
            predicted: None,
        });
    }
    out
}

/// The engine of an engine experiment that did not apply because the
/// engine does not import (`Engine::not_installed`).
fn not_installed(e: &Experiment) -> Option<crate::rerun::engines::Engine> {
    let engine = crate::rerun::engines::Engine::ALL
        .into_iter()
        .find(|en| Some(en.strategy()) == e.strategy)?;
    let why = e.error.as_deref()?;
    (e.status == Status::NotApplicable && engine.is_not_installed(why)).then_some(engine)
}

fn row(e: &Experiment) -> Row {
    let timing = match (e.has_timing(), e.median_s, e.min_s, e.max_s) {
        (true, Some(m), Some(lo), Some(hi)) => {
            let d = crate::rerun::stats::decimals(m);
            let (mark, p) = if e.kind == "as-is" {
                (Mark::Baseline, None)
            } else if e.significant {
                (Mark::Faster, e.p_value)
            } else if e.significant_slower {
                (Mark::Slower, e.p_value_slower)
            } else if e.speedup.unwrap_or(1.0) < 1.0 {
                (Mark::Neither, e.p_value_slower)
            } else {
                (Mark::Neither, e.p_value)
            };
            Some(Timing {
                median: format!("{m:.d$} s"),
                spread: format!("{lo:.d$}–{hi:.d$} s"),
                speedup: match (&e.control, e.strategy_speedup) {
                    // The swap's own gain beside the total: the rest is the
                    // interpreter's, which the control row shows.
                    (Some(c), Some(x)) => {
                        format!("{}, {} over {c}", times(e.speedup.unwrap_or(1.0)), times(x))
                    }
                    _ => times(e.speedup.unwrap_or(1.0)),
                },
                mark,
                p: p.map(|p| p_words(p, e)),
            })
        }
        _ => None,
    };
    let notes = match (&timing, e.status) {
        (Some(_), _) => None,
        (None, Status::Measured) if !e.comparable => Some(format!(
            "not comparable: {}",
            e.not_comparable
                .as_deref()
                .unwrap_or("differs from the profiled run")
        )),
        (None, status) => Some(match &e.error {
            Some(why) => format!("{}: {why}", status.as_str()),
            None => status.as_str().to_string(),
        }),
    };
    // A row without timing shows no predicted figure either: beside a
    // reason, `1.00x (1.00x–1.00x)` reads like a measurement.
    let predicted = timing.as_ref().and(e.predicted_speedup);
    Row {
        label: e.label.clone(),
        timing,
        notes,
        predicted: predicted.map(|c| match (e.predicted_low, e.predicted_high) {
            (Some(lo), Some(hi)) => format!("{} ({}–{})", times(c), times(lo), times(hi)),
            _ => times(c),
        }),
    }
}

/// The scale-out forecast in one line, the same for every format:
/// "scale-out forecast (Amdahl's law fitted to 2 CPUs and one; beyond 2 a
/// model): 1.80x on 4 CPUs (1.62–1.90x), 2.90x on 8, 4.00x on 16; parallel
/// fraction 95 %; no engine measured, no engine costs".
pub fn scale_out_line(rec: &Recommendation) -> Option<String> {
    let so = rec.scale_out.as_ref()?;
    let n = so.measured_cores;
    let points: Vec<String> = so
        .forecasts
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if i == 0 {
                format!(
                    "{} on {} CPUs ({}–{})",
                    times(f.speedup),
                    f.cores,
                    times(f.low),
                    times(f.high)
                )
            } else {
                format!("{} on {}", times(f.speedup), f.cores)
            }
        })
        .collect();
    let engine = crate::rerun::scale_out::engine_costs(so);
    // "0.40x on 4 CPUs" alone read as a machine that makes the program
    // slower; it is the engine's start-up against a short job.
    let below_one = so.forecasts.iter().all(|f| f.speedup < 1.0);
    Some(format!(
        "scale-out forecast (Amdahl's law fitted to {n} CPUs and one; beyond {n} a model): {}; parallel fraction {:.0} % ({:.0}–{:.0} %); {engine}{}",
        points.join(", "),
        so.parallel_fraction * 100.0,
        so.parallel_fraction_low * 100.0,
        so.parallel_fraction_high * 100.0,
        if below_one {
            "; below 1x at every size: the engine's start-up is longer than this job's work"
        } else {
            ""
        }
    ))
}

/// Whether any row carries a prediction: the renderers then add a column.
pub fn any_predicted(rows: &[Row]) -> bool {
    rows.iter().any(|r| r.predicted.is_some())
}

/// A speedup with three significant digits at most (one spelling for every format).
pub use crate::rerun::times;

/// `p = 0.35`, or `p = 0.05, the floor for 3 vs 3 runs` at the smallest p
/// these run counts allow.
fn p_words(p: f64, e: &Experiment) -> String {
    let shown = if p >= 0.01 {
        format!("{p:.2}")
    } else if p >= 0.001 {
        format!("{p:.3}")
    } else {
        format!("{p:.1e}")
    };
    match e.min_p_value {
        Some(floor) if (p - floor).abs() <= floor * 1e-9 => {
            let n = e.runs.len();
            let base = runs_of_baseline(n, floor);
            format!("p = {shown}, the floor for {base} vs {n} runs")
        }
        _ => format!("p = {shown}"),
    }
}

/// The as-is run count that, with `n` runs here, gives this floor
/// (1 / C(base + n, n)); `n` when none does (equal counts are the rule).
fn runs_of_baseline(n: usize, floor: f64) -> usize {
    (1..=30)
        .find(|&b| {
            crate::rerun::stats::min_p_value(b, n)
                .is_some_and(|f| (f - floor).abs() <= floor * 1e-9)
        })
        .unwrap_or(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rerun::RunResult;
    use crate::rerun::engines::Engine;

    #[test]
    fn speedups_carry_three_significant_digits_at_most() {
        assert_eq!(times(136.83), "137x");
        assert_eq!(times(13.71), "13.7x");
        assert_eq!(times(1.764), "1.76x");
        assert_eq!(times(0.7996), "0.80x");
        assert_eq!(times(9.999), "10.0x");
        assert_eq!(times(99.96), "100x");
    }

    fn exp(n: usize) -> Experiment {
        let mut e = Experiment::new("processes (swap)".into(), "swap".into(), None, Vec::new());
        e.runs = vec![
            RunResult {
                wall_s: 1.0,
                cpu_s: 1.0,
                peak_rss_bytes: 1,
                exit_status: 0,
                written_bytes: None,
                children: None,
            };
            n
        ];
        e.median_s = Some(1.0);
        e.min_s = Some(0.9);
        e.max_s = Some(1.1);
        e.speedup = Some(1.93);
        e.min_p_value = crate::rerun::stats::min_p_value(3, n);
        e
    }

    #[test]
    fn p_at_its_floor_says_so_and_a_slowdown_is_labelled() {
        let mut e = exp(3);
        e.significant = true;
        e.p_value = Some(0.05);
        let t = row(&e).timing.unwrap();
        assert_eq!(t.mark.words(), "✔ significant");
        assert_eq!(t.p.as_deref(), Some("p = 0.05, the floor for 3 vs 3 runs"));
        assert_eq!(t.speedup, "1.93x");
        let mut e = exp(3);
        e.speedup = Some(0.55);
        e.significant_slower = true;
        e.p_value_slower = Some(0.05);
        e.p_value = Some(1.0);
        let t = row(&e).timing.unwrap();
        assert_eq!(t.mark, Mark::Slower);
        assert_eq!(t.mark.words(), "✘ significantly slower");
        let mut e = exp(5);
        e.p_value = Some(0.35);
        let t = row(&e).timing.unwrap();
        assert_eq!(t.p.as_deref(), Some("p = 0.35"));
        assert_eq!(t.significance(), "not significant (p = 0.35)");
    }

    #[test]
    fn engines_that_do_not_import_share_one_row_that_says_how_to_install_them() {
        // The message the cluster start gives when the engine does not import.
        let engine = |en: Engine| {
            let mut e = Experiment::new(
                format!("{} (swap, local cluster)", en.word()),
                "swap".into(),
                Some(en.strategy()),
                vec!["python3".into(), "app.py".into()],
            );
            e.status = Status::NotApplicable;
            e.error = Some(en.not_installed("python3", "ModuleNotFoundError"));
            e
        };
        let exps = vec![exp(3), engine(Engine::Dask), engine(Engine::Ray)];
        let rows = experiment_rows(&exps);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[1].label, "dask, ray (local cluster)");
        assert_eq!(
            rows[1].notes.as_deref(),
            Some(
                "not measured: not installed for python3; `pip install 'dask[distributed]' ray` (scripts/install-engines.sh in a clone of boundcheck)"
            )
        );
        // One engine missing keeps its own row and message; so does an
        // engine that did not apply for another reason.
        let mut other = engine(Engine::Ray);
        other.error = Some("the program created no executor to swap".into());
        let rows = experiment_rows(&[exp(3), engine(Engine::Dask), other]);
        assert_eq!(rows.len(), 3);
        assert!(
            rows[1]
                .notes
                .as_deref()
                .unwrap()
                .contains("dask does not import")
        );
    }

    #[test]
    fn a_swap_with_a_control_shows_its_own_gain_beside_the_total() {
        let mut e = exp(3);
        e.control = Some("as-is (python3.14)".into());
        e.strategy_speedup = Some(1.02);
        let t = row(&e).timing.unwrap();
        assert_eq!(t.speedup, "1.93x, 1.02x over as-is (python3.14)");
    }

    #[test]
    fn rows_without_timing_show_the_status_and_reason_only() {
        let mut e = exp(1);
        e.status = Status::NotApplicable;
        e.error = Some("nothing to swap".into());
        e.predicted_speedup = Some(1.0);
        let r = row(&e);
        assert!(r.timing.is_none());
        assert!(
            r.predicted.is_none(),
            "a prediction beside a reason reads as a timing"
        );
        assert_eq!(r.notes.as_deref(), Some("not-applicable: nothing to swap"));
        let mut e = exp(3);
        e.comparable = false;
        e.not_comparable = Some("the re-runs used 0.05 s of CPU".into());
        let r = row(&e);
        assert!(
            r.timing.is_none(),
            "a median of another program is no timing"
        );
        assert_eq!(
            r.notes.as_deref(),
            Some("not comparable: the re-runs used 0.05 s of CPU")
        );
    }
}
