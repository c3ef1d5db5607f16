//! The fit on known Amdahl inputs, its edge cases, and the scale-out
//! recommendation both ways (synthetic experiments: no engine is run here).

use super::*;
use crate::diagnose::{Prediction, Verdict};
use crate::rerun::recommend::{Judgement, recommend};
use crate::rerun::{Recommendation, Status};

fn exp(kind: &str, strategy: Option<Strategy>, times: &[f64]) -> Experiment {
    Experiment::timed(&format!("{kind} {strategy:?}"), kind, strategy, times)
}

fn engine(s: Strategy, times: &[f64], startup: f64) -> Experiment {
    let mut e = exp("engine", Some(s), times);
    e.engine_startup_s = Some(startup);
    e.site = Some("app.py:17".into());
    e.replaced = Some("ProcessPoolExecutor(2)".into());
    e
}

/// As-is on 2 CPUs and pinned to one, every run the same.
fn asis_and_pinned(tn: f64, t1: f64) -> Vec<Experiment> {
    vec![
        exp("as-is", None, &[tn, tn, tn]),
        exp("core-count", None, &[t1, t1, t1]),
    ]
}

#[test]
fn known_amdahl_inputs_give_known_forecasts() {
    // T1 = 10 s, T2 = 5.5 s: p = (1 - 0.55) / (1 - 1/2) = 0.9; an engine
    // measured with no costs at all, so the forecast is Amdahl's law alone.
    let mut v = asis_and_pinned(5.5, 10.0);
    v.push(engine(Strategy::Ray, &[5.5, 5.5, 5.5], 0.0));
    let so = forecast(&v, 2).expect("a fit");
    assert_eq!(so.parallel_fraction, 0.9);
    assert_eq!(so.measured_cores, 2);
    assert_eq!((so.startup_s, so.overhead_s), (0.0, 0.0));
    assert!(!so.startup_assumed);
    // T(c) = 10 x (0.1 + 0.9 / c); speedup = 5.5 / T(c).
    let expect = [
        (2, 4, 5.5 / 3.25),
        (4, 8, 5.5 / 2.125),
        (8, 16, 5.5 / 1.5625),
    ];
    for (m, c, s) in expect {
        let f = so.at(m).unwrap();
        assert_eq!(f.cores, c);
        assert!((f.speedup - s).abs() < 0.006, "{m}x: {} vs {s}", f.speedup);
        // No spread in the runs: no range.
        assert_eq!((f.low, f.high), (f.speedup, f.speedup));
    }
    assert!(so.model.contains("a model beyond"), "{}", so.model);
}

#[test]
fn without_an_engine_run_its_start_up_is_assumed_and_said_so() {
    // T1 = 100 s, T2 = 55 s (p = 0.9), s = 5 s assumed: T(4) = 5 + 32.5 s.
    let so = forecast(&asis_and_pinned(55.0, 100.0), 2).unwrap();
    assert!(so.startup_assumed && so.engine.is_none());
    assert_eq!(so.startup_s, ASSUMED_ENGINE_START_S.0);
    let f = so.at(2).unwrap();
    assert!((f.speedup - 55.0 / 37.5).abs() < 0.006, "{f:?}");
    // The assumption's ends make the range even without noise.
    assert!(f.low < f.speedup && f.speedup < f.high, "{f:?}");
    assert!(engine_costs(&so).contains("assumed"));
}

#[test]
fn an_engine_s_start_up_and_per_task_costs_cap_the_forecast() {
    let mut v = asis_and_pinned(5.5, 10.0);
    // Ray on the same 2 CPUs: 0.5 s slower than as-is, 1 s to start.
    v.push(engine(Strategy::Ray, &[6.0, 6.0, 6.0], 1.0));
    let so = forecast(&v, 2).unwrap();
    assert_eq!(so.engine, Some(Strategy::Ray));
    assert_eq!((so.startup_s, so.overhead_s), (1.0, 0.5));
    // T(4) = 1 + 0.5 + 3.25 = 4.75 s.
    assert!((so.at(2).unwrap().speedup - 5.5 / 4.75).abs() < 0.006);
    // An engine faster than as-is costs nothing (not a negative cost).
    let mut v = asis_and_pinned(5.5, 10.0);
    v.push(engine(Strategy::Dask, &[5.0, 5.0, 5.0], 0.0));
    assert_eq!(forecast(&v, 2).unwrap().overhead_s, 0.0);
}

#[test]
fn without_a_pinned_run_or_a_second_core_there_is_nothing_to_fit() {
    let asis = vec![exp("as-is", None, &[5.0, 5.0, 5.0])];
    assert!(forecast(&asis, 2).is_none());
    assert!(forecast(&asis_and_pinned(5.5, 10.0), 1).is_none());
    // A pinned experiment that failed carries no timing.
    let mut v = asis_and_pinned(5.5, 10.0);
    v[1].status = Status::Failed;
    assert!(forecast(&v, 2).is_none());
}

#[test]
fn a_serial_program_is_forecast_no_gain() {
    let mut v = asis_and_pinned(5.0, 5.0);
    v.push(engine(Strategy::Dask, &[5.0, 5.0, 5.0], 0.0));
    let so = forecast(&v, 2).unwrap();
    assert_eq!(so.parallel_fraction, 0.0);
    for f in &so.forecasts {
        assert_eq!((f.speedup, f.low, f.high), (1.0, 1.0, 1.0), "{f:?}");
    }
    // With an engine's assumed start-up on top, it would only lose.
    let so = forecast(&asis_and_pinned(5.0, 5.0), 2).unwrap();
    assert!(so.forecasts.iter().all(|f| f.high <= 1.0), "{so:?}");
}

#[test]
fn noisy_runs_widen_the_range_around_the_center() {
    let v = vec![
        exp("as-is", None, &[5.0, 5.5, 6.5]),
        exp("core-count", None, &[9.0, 10.0, 12.5]),
    ];
    let so = forecast(&v, 2).unwrap();
    assert!(so.parallel_fraction_low < so.parallel_fraction);
    assert!(so.parallel_fraction < so.parallel_fraction_high);
    for f in &so.forecasts {
        assert!(f.low < f.speedup && f.speedup < f.high, "{f:?}");
    }
    // Noise that looks superlinear (one CPU more than 2x slower) is held
    // to a parallel fraction of 1, never beyond.
    let so = forecast(&asis_and_pinned(4.0, 9.0), 2).unwrap();
    assert_eq!(so.parallel_fraction, 1.0);
    assert!(so.forecasts.iter().all(|f| f.speedup.is_finite()));
}

fn judged(verdict: Verdict, predictions: &[Prediction], v: Vec<Experiment>) -> Recommendation {
    let j = Judgement {
        verdict,
        cores: 2,
        runs: 3,
        predictions,
        python_version: Some("3.11.7"),
        site: Some("work (app.py:9)"),
    };
    recommend(&j, v, Vec::new(), Vec::new(), false)
}

#[test]
fn a_program_that_saturates_the_machine_is_told_to_scale_out_with_the_forecast() {
    // p = 0.95: 1.90x from 2 CPUs; a 52.5 s job, forecast 1.56x at 4 CPUs
    // with the assumed 5 s start-up.
    let r = judged(Verdict::CpuParallel, &[], asis_and_pinned(52.5, 100.0));
    assert_eq!(r.strategy, Strategy::Ray, "{}", r.sentence);
    assert!(!r.measured);
    let so = r.scale_out.as_ref().expect("scale_out in the report");
    assert!(so.at(2).unwrap().speedup >= SCALE_OUT_WORTH);
    for words in ["not measured", "a model beyond 2", "on 4 CPUs"] {
        assert!(r.sentence.contains(words), "{words}: {}", r.sentence);
    }
    assert!(r.sentence.contains("work (app.py:9)"), "{}", r.sentence);
    let line = crate::report::rerun_table::scale_out_line(&r).unwrap();
    assert!(!line.contains("below 1x"), "{line}");
    // The same program as a 2 s job: the assumed start-up outweighs it, and
    // the line says why every figure is below 1x.
    let r = judged(Verdict::CpuParallel, &[], asis_and_pinned(2.0, 3.8));
    let line = crate::report::rerun_table::scale_out_line(&r).unwrap();
    assert!(
        line.contains("below 1x at every size: the engine's start-up"),
        "{line}"
    );
}

#[test]
fn a_program_that_does_not_saturate_the_machine_is_never_told_to_scale_out() {
    // The same perfect runs, but the diagnosis saw one busy thread.
    let r = judged(Verdict::CpuSerial, &[], asis_and_pinned(52.5, 100.0));
    assert_eq!(r.strategy, Strategy::Keep, "{}", r.sentence);
    // cpu-parallel, but all CPUs gain only 1.2x over one (< 0.7 x 2).
    let r = judged(Verdict::CpuParallel, &[], asis_and_pinned(83.0, 100.0));
    assert_eq!(r.strategy, Strategy::Keep, "{}", r.sentence);
    // Saturating (1.6x from 2 CPUs, p = 0.75) but forecast only 1.43x at 4.
    let r = judged(Verdict::CpuParallel, &[], asis_and_pinned(62.5, 100.0));
    assert!(r.scale_out.as_ref().unwrap().at(2).unwrap().speedup < SCALE_OUT_WORTH);
    assert_eq!(r.strategy, Strategy::Keep, "{}", r.sentence);
    // An I/O-bound program is never told to scale out.
    let r = judged(Verdict::IoNetwork, &[], asis_and_pinned(52.5, 100.0));
    assert_eq!(r.strategy, Strategy::Keep, "{}", r.sentence);
}

#[test]
fn a_measured_engine_is_preferred_and_named_with_its_costs() {
    // A 52.5 s job: a 1.5 s start-up is small beside it.
    let mut v = asis_and_pinned(52.5, 100.0);
    v.push(engine(Strategy::Ray, &[56.0, 57.0, 58.0], 2.0));
    v.push(engine(Strategy::Dask, &[54.0, 54.0, 55.0], 1.5));
    let r = judged(Verdict::CpuParallel, &[], v);
    assert_eq!(r.strategy, Strategy::Dask, "{}", r.sentence);
    assert!(r.measured);
    let so = r.scale_out.as_ref().unwrap();
    assert_eq!(so.engine, Some(Strategy::Dask));
    assert!(r.sentence.contains("1.50 s start-up"), "{}", r.sentence);
    assert!(
        r.sentence.contains("app.py:17 (ProcessPoolExecutor(2))"),
        "the executor line: {}",
        r.sentence
    );
}

#[test]
fn a_change_that_pays_on_this_machine_comes_before_a_cluster() {
    let batch = Prediction {
        strategy: Strategy::Batch,
        predicted_speedup: 1.6,
        low: 1.3,
        high: 1.9,
        basis: "test".into(),
        effort: Strategy::Batch.effort(),
        needs_code_change: false,
    };
    let r = judged(Verdict::CpuParallel, &[batch], asis_and_pinned(52.5, 100.0));
    assert_eq!(r.strategy, Strategy::Batch, "{}", r.sentence);
    assert!(r.scale_out.is_some());
}

#[test]
fn a_job_too_short_for_an_engine_keeps_and_says_so() {
    // 5.25 s on 2 CPUs: Dask's 1.5 s start-up eats the gain of 4 CPUs.
    let mut v = asis_and_pinned(5.25, 10.0);
    v.push(engine(Strategy::Dask, &[5.4, 5.4, 5.5], 1.5));
    let r = judged(Verdict::CpuParallel, &[], v);
    assert_eq!(r.strategy, Strategy::Keep, "{}", r.sentence);
    assert!(
        r.sentence.contains("too short for an engine to pay off"),
        "{}",
        r.sentence
    );
    // Without an engine run, the assumed start-up says the same.
    let r = judged(Verdict::CpuParallel, &[], asis_and_pinned(5.25, 10.0));
    assert_eq!(r.strategy, Strategy::Keep, "{}", r.sentence);
    assert!(r.sentence.contains("start-up assumed"), "{}", r.sentence);
}
