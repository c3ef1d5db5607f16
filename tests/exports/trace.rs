//! The Chrome trace / Perfetto export, checked event by event against the
//! timeline it was drawn from.

use super::*;

#[test]
fn trace_events_are_well_formed_and_add_up_to_each_threads_observed_time() {
    for (name, tl) in timelines() {
        let doc: Value = serde_json::from_slice(&trace::render(&tl)).unwrap();
        let events = doc["traceEvents"].as_array().expect("traceEvents");
        let mut named_threads = BTreeSet::new();
        let mut slices: BTreeMap<(i64, i64), Vec<(i64, i64)>> = BTreeMap::new();
        let mut counters = 0;
        for e in events {
            let (pid, tid) = (e["pid"].as_i64(), e["tid"].as_i64());
            assert!(pid.is_some() && tid.is_some(), "{name}: {e}");
            let key = (pid.unwrap(), tid.unwrap());
            match e["ph"].as_str() {
                Some("M") => {
                    assert!(e["args"]["name"].is_string(), "{name}: {e}");
                    if e["name"] == "thread_name" {
                        named_threads.insert(key);
                    }
                }
                Some("X") => {
                    let (ts, dur) = (e["ts"].as_i64().unwrap(), e["dur"].as_i64().unwrap());
                    assert!(ts >= 0 && dur >= 0, "{name}: {e}");
                    assert!(e["name"].is_string());
                    slices.entry(key).or_default().push((ts, dur));
                }
                Some("C") => {
                    assert!(e["ts"].as_i64().unwrap() >= 0, "{name}: {e}");
                    assert!(
                        e["args"]
                            .as_object()
                            .unwrap()
                            .values()
                            .all(|v| v.is_number())
                    );
                    counters += 1;
                }
                other => panic!("{name}: unexpected ph {other:?}"),
            }
        }
        assert!(counters > 0, "{name}: no counters");
        let mut observed: BTreeMap<(i64, i64), f64> = BTreeMap::new();
        for s in &tl.samples {
            for t in &s.threads {
                *observed
                    .entry((i64::from(t.pid), i64::from(t.tid)))
                    .or_default() += s.interval_s;
            }
        }
        assert_eq!(
            observed.keys().collect::<Vec<_>>(),
            slices.keys().collect::<Vec<_>>(),
            "{name}: a track per thread"
        );
        for (key, runs) in &slices {
            assert!(named_threads.contains(key), "{name}: {key:?} unnamed");
            // In time order and not overlapping.
            for w in runs.windows(2) {
                assert!(w[0].0 + w[0].1 <= w[1].0, "{name}: {key:?} overlaps");
            }
            let total_s = runs.iter().map(|r| r.1).sum::<i64>() as f64 / 1e6;
            let tolerance = 1e-6 * runs.len() as f64 + 1e-6;
            assert!(
                (total_s - observed[key]).abs() <= tolerance,
                "{name}: {key:?} slices sum to {total_s} s, observed {} s",
                observed[key]
            );
        }
    }
}
