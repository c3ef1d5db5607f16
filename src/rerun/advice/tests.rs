//! A pickling-bound pool's recommendation, from its recorded diagnosis.

use crate::diagnose::diagnose;
use crate::rerun::recommend::{Judgement, recommend};
use crate::rerun::{Experiment, Strategy};

fn exp(label: &str, kind: &str, strategy: Option<Strategy>, walls: &[f64]) -> Experiment {
    Experiment::timed(label, kind, strategy, walls)
}

/// When the cheaper remedy (a thread pool) was measured and did not win,
/// shared memory, predicted from the recorded pool's copying, is the
/// recommendation, with the change at the program's code.
#[test]
fn a_pickling_bound_pool_is_told_shared_memory_when_it_is_the_best_predicted_remedy() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/timelines/corpus/procpool_big_payloads.json");
    let text = std::fs::read_to_string(path).expect("the recorded corpus timeline");
    let tl: crate::timeline::Timeline = serde_json::from_str(&text).expect("a timeline");
    let d = diagnose(&tl);
    let j = Judgement {
        verdict: d.verdict,
        cores: 2,
        runs: 3,
        predictions: &d.predictions,
        python_version: Some("3.11.7"),
        site: Some("checksum (procpool_big_payloads.py:27)"),
    };
    let mut threads = exp(
        "threads (swap)",
        "swap",
        Some(Strategy::Threads),
        &[2.6, 2.7, 2.8],
    );
    threads.speedup = Some(1.0);
    let v = vec![exp("as-is", "as-is", None, &[2.6, 2.7, 2.8]), threads];
    let r = recommend(&j, v, Vec::new(), Vec::new(), false);
    assert_eq!(r.strategy, Strategy::SharedMemory, "{}", r.sentence);
    assert!(!r.measured);
    for words in [
        "multiprocessing.shared_memory",
        "procpool_big_payloads.py:27",
    ] {
        assert!(r.sentence.contains(words), "{words}: {}", r.sentence);
    }
}

/// `batch` asks a disk-bound program for fewer fsyncs and a pool for bigger
/// tasks, never the one the other's change.
#[test]
fn batching_means_fsyncs_for_a_disk_bound_program_and_chunks_for_a_pool() {
    use crate::diagnose::Verdict;
    let site = Some("save (configs.py:21)");
    let disk = super::code_change(Strategy::Batch, site, 2, Verdict::IoDisk);
    assert!(
        disk.contains("fsync") && !disk.contains("chunksize"),
        "{disk}"
    );
    let pool = super::code_change(Strategy::Batch, site, 2, Verdict::PoolOverhead);
    assert!(
        pool.contains("chunksize") && !pool.contains("fsync"),
        "{pool}"
    );
}

/// A swap under a newer interpreter is paired with its control (the
/// unchanged program under that interpreter): its own gain is the control's
/// median over its own, and that figure, not the total, is held against
/// the prediction (which assumes one interpreter throughout).
#[test]
fn an_interpreter_swap_is_measured_against_its_control() {
    use crate::rerun::advice::{attribute_controls, check_predictions};
    let mut asis = exp("as-is", "as-is", None, &[4.0, 4.0, 4.0]);
    asis.speedup = Some(1.0);
    let mut control = exp("as-is (python3.14)", "control", None, &[2.0, 2.0, 2.0]);
    control.command[0] = "/opt/python3.14".into();
    control.controls = Some(Strategy::Interpreters);
    let mut swap = exp(
        "interpreters (3.14 swap)",
        "interpreter",
        Some(Strategy::Interpreters),
        &[1.0, 1.0, 1.0],
    );
    swap.command[0] = "/opt/python3.14".into();
    swap.speedup = Some(4.0);
    swap.predicted_speedup = Some(2.0);
    swap.predicted_low = Some(1.5);
    swap.predicted_high = Some(2.2);
    // An interpreter experiment under another binary has no control.
    let mut ft = exp(
        "free-threaded (python3.13t)",
        "interpreter",
        Some(Strategy::FreeThreaded),
        &[3.0, 3.0, 3.0],
    );
    ft.command[0] = "/opt/python3.13t".into();
    let mut v = vec![asis, control, swap, ft];
    attribute_controls(&mut v);
    assert_eq!(v[2].control.as_deref(), Some("as-is (python3.14)"));
    assert_eq!(v[2].strategy_speedup, Some(2.0));
    assert!(v[3].control.is_none() && v[3].strategy_speedup.is_none());
    let check = check_predictions(&v).unwrap();
    assert_eq!(check.pairs, 1);
    assert_eq!(
        check.median_abs_log_error, 0.0,
        "2.0x predicted, 2.0x of its own"
    );
    assert_eq!(check.within_range, 1);
}

/// One interpreter path serving two experiments (a free-threaded 3.14t
/// used for the 3.14 swap and for free threading): each gets its own
/// control, by the strategy it was planned for.
#[test]
fn two_controls_on_one_interpreter_pair_by_strategy() {
    use crate::rerun::advice::attribute_controls;
    let on = |mut e: Experiment, s: Option<Strategy>| {
        e.command[0] = "/opt/python3.14t".into();
        e.controls = s;
        e
    };
    let asis = exp("as-is", "as-is", None, &[4.0, 4.0, 4.0]);
    let gil_off_default = on(
        exp("as-is (python3.14t)", "control", None, &[3.0, 3.0, 3.0]),
        Some(Strategy::Interpreters),
    );
    let gil_on = on(
        exp(
            "as-is (python3.14t, GIL on)",
            "control",
            None,
            &[2.0, 2.1, 2.2],
        ),
        Some(Strategy::FreeThreaded),
    );
    let mut swap = on(
        exp(
            "interpreters (3.14 swap)",
            "interpreter",
            Some(Strategy::Interpreters),
            &[1.5, 1.5, 1.5],
        ),
        None,
    );
    swap.kind = "interpreter".into();
    let ft = on(
        exp(
            "free-threaded (python3.14t)",
            "interpreter",
            Some(Strategy::FreeThreaded),
            &[1.0, 1.0, 1.0],
        ),
        None,
    );
    let mut v = vec![asis, gil_off_default, swap, gil_on, ft];
    attribute_controls(&mut v);
    assert_eq!(v[2].control.as_deref(), Some("as-is (python3.14t)"));
    assert_eq!(v[4].control.as_deref(), Some("as-is (python3.14t, GIL on)"));
    assert_eq!(v[4].strategy_speedup, Some(2.1));
}
