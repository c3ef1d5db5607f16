//! The recommendation from synthetic experiments and predictions.

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
        needs_code_change: false,
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
        r.sentence
            .contains("Replace `ThreadPoolExecutor(4)` at app.py:17 with `ProcessPoolExecutor(2)`"),
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

/// As-is and a processes swap that ran as fast (4.0–4.3 s).
fn a_processes_swap_that_gains_nothing() -> Vec<Experiment> {
    with_stats(vec![
        exp("as-is", "as-is", None, &[4.0, 4.1, 4.2]),
        exp(
            "processes (swap)",
            "swap",
            Some(Strategy::Processes),
            &[4.0, 4.1, 4.3],
        ),
    ])
}

#[test]
fn a_measurement_that_refutes_the_prediction_wins_over_it() {
    let v = a_processes_swap_that_gains_nothing();
    let preds = [prediction(Strategy::Processes, 1.9, 1.4, 2.0)];
    let r = decide(Verdict::GilContended, &preds, v);
    assert_eq!(r.strategy, Strategy::Keep, "{}", r.sentence);
    let check = r.prediction_check.expect("one pair");
    assert_eq!(check.within_25_percent, 0);
}

#[test]
fn a_swap_of_one_busy_thread_s_executor_does_not_refute_splitting_its_work() {
    // The same measurement, but the prediction rests on splitting one busy
    // thread's work (a ThreadPoolExecutor(1) running one long job): the
    // swap ran that same job in one process, which tests nothing of it.
    let v = a_processes_swap_that_gains_nothing();
    let mut split = prediction(Strategy::Processes, 1.9, 1.4, 2.0);
    split.needs_code_change = true;
    let r = decide(Verdict::CpuSerial, &[split], v);
    assert_eq!(r.strategy, Strategy::Processes, "{}", r.sentence);
    assert!(!r.measured);
    assert!(r.sentence.contains("splitting it"), "{}", r.sentence);
    assert!(r.prediction_check.is_none(), "no pair: the swap is no test");
    assert_eq!(r.experiments[1].predicted_speedup, None);
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

#[test]
fn a_gain_too_noisy_to_be_significant_that_agrees_with_its_prediction_is_not_keep() {
    // 1.6x in the median, but one stray run overlaps as-is: three runs
    // cannot call it significant. The prediction (1.66x) stands, and the
    // measurement agrees with it: recommended, measured, not significant.
    let v = with_stats(vec![
        exp("as-is", "as-is", None, &[1.60, 1.65, 1.72]),
        exp(
            "processes (swap)",
            "swap",
            Some(Strategy::Processes),
            &[1.00, 1.04, 1.70],
        ),
    ]);
    assert!(!v[1].significant, "the premise: not significant");
    let preds = [prediction(Strategy::Processes, 1.66, 1.2, 1.7)];
    let r = decide(Verdict::GilContended, &preds, v.clone());
    assert_eq!(r.strategy, Strategy::Processes, "{}", r.sentence);
    assert!(r.measured && !r.significant);
    assert!(
        r.sentence.contains("not significant with 3 runs"),
        "{}",
        r.sentence
    );
    assert!(r.sentence.contains("--runs 10"), "{}", r.sentence);
    // Below the prediction's low end, the same gain refutes it: keep.
    let high = [prediction(Strategy::Processes, 2.5, 1.9, 2.6)];
    assert_eq!(
        decide(Verdict::GilContended, &high, v).strategy,
        Strategy::Keep
    );
}

#[test]
fn a_chunksize_win_names_the_map_call_not_the_pool_constructor() {
    let mut chunks = exp(
        "chunksize (swap)",
        "swap",
        Some(Strategy::Batch),
        &[0.31, 0.29, 0.34],
    );
    chunks.replaced = Some("Pool(2)".into());
    chunks.replacement = Some("Pool.imap(chunksize=7500)".into());
    chunks.site = Some("app.py:22".into());
    let v = with_stats(vec![
        exp("as-is", "as-is", None, &[1.63, 1.64, 1.71]),
        chunks,
    ]);
    let preds = [prediction(Strategy::Batch, 4.6, 3.0, 5.5)];
    let r = decide(Verdict::PoolOverhead, &preds, v);
    assert_eq!(r.strategy, Strategy::Batch);
    assert!(
        r.sentence
            .contains("Pass `chunksize=7500` to the `imap()` call at app.py:22 (on `Pool(2)`)."),
        "{}",
        r.sentence
    );
    assert!(!r.sentence.contains("Replace"), "{}", r.sentence);
}

/// A free-threaded build that is as fast with its GIL on as off: the gain
/// over as-is is the build's (its allocator), so free threading is not
/// recommended for it, and the sentence says whose gain it is. With a gain
/// of its own over the control it is recommended.
#[test]
fn an_interpreter_swap_is_recommended_for_its_own_gain_over_its_control() {
    let ft = |walls: &[f64]| {
        let mut e = exp(
            "free-threaded (python3.13t)",
            "interpreter",
            Some(Strategy::FreeThreaded),
            walls,
        );
        e.command[0] = "/opt/python3.13t".into();
        e
    };
    let mut control = exp(
        "as-is (python3.13t, GIL on)",
        "control",
        None,
        &[1.10, 1.11, 1.12],
    );
    control.command[0] = "/opt/python3.13t".into();
    control.controls = Some(Strategy::FreeThreaded);
    let asis = exp("as-is", "as-is", None, &[4.0, 4.1, 4.2]);
    let preds = [prediction(Strategy::FreeThreaded, 0.7, 0.6, 0.8)];
    let v = with_stats(vec![asis.clone(), control.clone(), ft(&[1.09, 1.11, 1.13])]);
    let r = decide(Verdict::MemoryBound, &preds, v);
    assert_ne!(r.strategy, Strategy::FreeThreaded, "{}", r.sentence);
    assert!(
        r.sentence
            .contains("the gain is that interpreter's, not free-threaded's"),
        "{}",
        r.sentence
    );
    let swap = r
        .experiments
        .iter()
        .find(|e| e.kind == "interpreter")
        .unwrap();
    assert_eq!(swap.control.as_deref(), Some("as-is (python3.13t, GIL on)"));
    assert!(swap.strategy_p_value.unwrap() > stats::ALPHA);
    // Twice as fast as its control too: free threading's own gain.
    let v = with_stats(vec![asis, control, ft(&[0.52, 0.55, 0.56])]);
    let r = decide(Verdict::GilContended, &preds, v);
    assert_eq!(r.strategy, Strategy::FreeThreaded, "{}", r.sentence);
    assert!(
        r.sentence.contains("as-is (python3.13t, GIL on) alone is"),
        "{}",
        r.sentence
    );
}

/// Measured winners rank by their own gain: a 3.14 swap whose total gain
/// over 3.11 is partly 3.14's ranks below a process pool on 3.11 that
/// gains more by itself.
#[test]
fn winners_rank_by_their_own_gain_not_the_interpreters() {
    let asis = exp("as-is", "as-is", None, &[1.64, 1.66, 1.68]);
    let procs = exp(
        "processes (swap)",
        "swap",
        Some(Strategy::Processes),
        &[0.76, 0.77, 0.80],
    );
    let mut swap = exp(
        "interpreters (3.14 swap)",
        "interpreter",
        Some(Strategy::Interpreters),
        &[0.72, 0.74, 0.74],
    );
    swap.command[0] = "/opt/python3.14".into();
    let mut control = exp("as-is (python3.14)", "control", None, &[1.29, 1.31, 1.33]);
    control.command[0] = "/opt/python3.14".into();
    control.controls = Some(Strategy::Interpreters);
    let preds = [
        prediction(Strategy::Processes, 1.86, 1.2, 2.0),
        prediction(Strategy::Interpreters, 1.97, 1.3, 2.0),
    ];
    let r = decide(
        Verdict::GilContended,
        &preds,
        with_stats(vec![asis, procs, swap, control]),
    );
    assert_eq!(r.strategy, Strategy::Processes, "{}", r.sentence);
}

/// A free-threaded run ranks by its gain over as-is: its gain over its own
/// build with the GIL on is not what a user gets.
#[test]
fn a_free_threaded_run_ranks_by_its_gain_over_as_is() {
    let asis = exp("as-is", "as-is", None, &[1.38, 1.40, 1.56]);
    let procs = exp(
        "processes (swap)",
        "swap",
        Some(Strategy::Processes),
        &[0.80, 0.91, 0.94],
    );
    let mut ft = exp(
        "free-threaded (python3.13t)",
        "interpreter",
        Some(Strategy::FreeThreaded),
        &[0.88, 0.97, 1.01],
    );
    ft.command[0] = "/opt/python3.13t".into();
    let mut control = exp(
        "as-is (python3.13t, GIL on)",
        "control",
        None,
        &[1.57, 1.88, 1.91],
    );
    control.command[0] = "/opt/python3.13t".into();
    control.controls = Some(Strategy::FreeThreaded);
    let preds = [
        prediction(Strategy::Processes, 1.93, 1.24, 2.0),
        prediction(Strategy::FreeThreaded, 1.48, 1.29, 1.68),
    ];
    let r = decide(
        Verdict::GilContended,
        &preds,
        with_stats(vec![asis, procs, ft, control]),
    );
    assert_eq!(r.strategy, Strategy::Processes, "{}", r.sentence);
}

/// A measured winner stays the recommendation, and a remedy no experiment
/// could try that is predicted to gain more is named beside it.
#[test]
fn a_higher_prediction_that_could_not_be_measured_is_named_beside_the_winner() {
    let v = with_stats(vec![
        exp("as-is", "as-is", None, &[3.04, 3.10, 3.74]),
        exp(
            "threads (swap)",
            "swap",
            Some(Strategy::Threads),
            &[0.71, 0.80, 0.90],
        ),
    ]);
    let preds = [
        prediction(Strategy::Batch, 4.7, 2.97, 5.56),
        prediction(Strategy::Threads, 2.74, 1.76, 2.74),
        prediction(Strategy::Native, 1.4, 1.0, 1.45),
    ];
    let r = decide(Verdict::PoolOverhead, &preds, v.clone());
    assert_eq!(r.strategy, Strategy::Threads, "{}", r.sentence);
    assert!(
        r.sentence
            .contains("Not measurable here and predicted higher: batch 4.70x (2.97x–5.56x)"),
        "{}",
        r.sentence
    );
    // Nothing predicted above the measured gain: nothing named.
    let r = decide(Verdict::PoolOverhead, &preds[1..], v);
    assert!(!r.sentence.contains("predicted higher"), "{}", r.sentence);
}

/// A remedy no experiment could try whose pessimistic end beats the
/// measured winner is the recommendation, the winner named as a drop-in.
#[test]
fn a_prediction_surer_than_the_measured_gain_outranks_the_winner() {
    let v = with_stats(vec![
        exp("as-is", "as-is", None, &[1.90, 1.92, 1.95]),
        exp(
            "threads (swap)",
            "swap",
            Some(Strategy::Threads),
            &[0.98, 0.99, 1.01],
        ),
    ]);
    let preds = [
        prediction(Strategy::Batch, 3.63, 2.57, 4.09),
        prediction(Strategy::Threads, 2.34, 1.65, 2.34),
    ];
    let r = decide(Verdict::PoolOverhead, &preds, v);
    assert_eq!(r.strategy, Strategy::Batch, "{}", r.sentence);
    assert!(!r.measured);
    assert!(
        r.sentence
            .contains("Measured meanwhile, a drop-in: threads: 1.94x faster"),
        "{}",
        r.sentence
    );
}

/// A swap well ahead of its control but not significantly so (a control
/// run short by an interrupt): no "the gain is that interpreter's" note,
/// but one that says more runs would settle it.
#[test]
fn an_own_gain_not_yet_significant_says_so_not_that_it_is_the_interpreters() {
    let asis = exp("as-is", "as-is", None, &[4.0, 4.1, 4.2]);
    let mut swap = exp(
        "interpreters (3.14 swap)",
        "interpreter",
        Some(Strategy::Interpreters),
        &[1.0, 1.05, 1.1],
    );
    swap.command[0] = "/opt/python3.14".into();
    let mut control = exp("as-is (python3.14)", "control", None, &[1.8, 1.9]);
    control.command[0] = "/opt/python3.14".into();
    control.controls = Some(Strategy::Interpreters);
    let preds = [prediction(Strategy::Interpreters, 2.0, 1.5, 2.0)];
    let r = decide(
        Verdict::GilContended,
        &preds,
        with_stats(vec![asis, swap, control]),
    );
    assert!(!r.sentence.contains("that interpreter's"), "{}", r.sentence);
    // Another interpreter is never recommended on a prediction alone, so
    // the answer stays `keep`, and the sentence says what more runs would
    // settle.
    assert_eq!(r.strategy, Strategy::Keep, "{}", r.sentence);
    assert!(
        r.sentence
            .contains("but not significantly over as-is (python3.14)"),
        "{}",
        r.sentence
    );
    assert!(r.sentence.contains("`--runs 10`"), "{}", r.sentence);
}

/// A 3.14 slower than the program's own Python is not credited to the
/// swap either: it ranks by the smaller of its two gains.
#[test]
fn a_swap_under_a_slower_interpreter_ranks_by_what_adopting_it_gives() {
    let asis = exp("as-is", "as-is", None, &[2.0, 2.0, 2.1]);
    let procs = exp(
        "processes (swap)",
        "swap",
        Some(Strategy::Processes),
        &[1.4, 1.4, 1.45],
    );
    let mut swap = exp(
        "interpreters (3.14 swap)",
        "interpreter",
        Some(Strategy::Interpreters),
        &[1.6, 1.6, 1.65],
    );
    swap.command[0] = "/opt/python3.14".into();
    let mut control = exp("as-is (python3.14)", "control", None, &[2.9, 3.0, 3.0]);
    control.command[0] = "/opt/python3.14".into();
    control.controls = Some(Strategy::Interpreters);
    let preds = [
        prediction(Strategy::Processes, 1.5, 1.2, 2.0),
        prediction(Strategy::Interpreters, 2.0, 1.3, 2.0),
    ];
    let r = decide(
        Verdict::GilContended,
        &preds,
        with_stats(vec![asis, procs, swap, control]),
    );
    assert_eq!(r.strategy, Strategy::Processes, "{}", r.sentence);
}
