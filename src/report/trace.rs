//! Chrome trace / Perfetto export (`trace.json`, Trace Event Format): the
//! timeline as tracks, opened in ui.perfetto.dev or `chrome://tracing`.
//!
//! What it holds:
//! - one track per thread, grouped by process (`M` metadata events name
//!   them: `process_name` is `name [pid N]`, `thread_name` the thread's name);
//! - on each thread track, an `X` (complete) event per run of one state:
//!   consecutive ticks in the same state are merged, so a thread that waited
//!   for the GIL for 2 s is one 2 s `gil-wait` slice, not 200 ten-millisecond
//!   ones. The state is the finer Python one where stacks were read
//!   (`gil-held`, `gil-wait`, `native-nogil`, `lock-wait`), else the OS one
//!   (`on-cpu`, `disk-wait`, `net-wait`, `sleep`, …) — the same labels as the
//!   wall-clock flamegraph; a tick between stack reads whose OS state agrees
//!   with the run's Python state continues it (see [`refines`]). A tick covers the interval before it
//!   (`t_s - interval_s` to `t_s`); a tick in which the thread was not seen
//!   ends its run;
//! - `C` (counter) events on the root process: `cpu N` per core (percent
//!   `user`, `system`, `iowait`, `steal` of the interval, stacked; idle is
//!   the rest, whole machine) and `tree RSS` (bytes, the whole tree).
//!
//! Units: `ts` and `dur` are microseconds from the start of the run (the
//! format's unit); they are whole microseconds, each run's end rounded once,
//! so a thread's durations add up to its observed time to within a
//! microsecond per run.

use super::flame::state_label;
use crate::timeline::{ThreadState, Timeline};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// `trace.json` in the format registry (drawn from the timeline).
pub const FORMAT: super::format::Format = super::format::Format {
    name: "trace",
    file_name: "trace.json",
    source: super::format::Source::Timeline,
    run_extra: true,
    render: |i| i.timeline.map(render),
};

/// A run of one state on one thread.
struct Run {
    state: &'static str,
    start_s: f64,
    end_s: f64,
    ticks: u64,
    /// Index of the last sample that extended it.
    last: usize,
}

/// The Trace Event Format JSON of a timeline (see the module doc).
pub fn render(tl: &Timeline) -> Vec<u8> {
    let mut events: Vec<Value> = Vec::new();
    let root = tl
        .processes
        .first()
        .map(|p| p.pid)
        .or_else(|| {
            tl.samples
                .iter()
                .flat_map(|s| &s.threads)
                .map(|t| t.pid)
                .next()
        })
        .unwrap_or(0);

    let mut named_pids = std::collections::BTreeSet::new();
    for p in &tl.processes {
        if named_pids.insert(p.pid) {
            events.push(meta(
                "process_name",
                p.pid,
                p.pid,
                &format!("{} [pid {}]", p.name, p.pid),
            ));
        }
    }
    let thread_names: HashMap<i32, &str> = tl
        .threads
        .iter()
        .map(|t| (t.tid, t.name.as_str()))
        .collect();

    // Runs of one state per thread, merged across consecutive ticks.
    let mut open: BTreeMap<(i32, i32), Run> = BTreeMap::new();
    let mut done: BTreeMap<(i32, i32), Vec<Run>> = BTreeMap::new();
    for (i, s) in tl.samples.iter().enumerate() {
        for t in &s.threads {
            let state = state_label(t);
            let key = (t.pid, t.tid);
            match open.get_mut(&key) {
                Some(r)
                    if r.last + 1 == i
                        && (r.state == state || (t.py.is_none() && refines(r.state, t.state))) =>
                {
                    r.end_s = s.t_s;
                    r.ticks += 1;
                    r.last = i;
                }
                _ => {
                    let run = Run {
                        state,
                        start_s: (s.t_s - s.interval_s).max(0.0),
                        end_s: s.t_s,
                        ticks: 1,
                        last: i,
                    };
                    if let Some(old) = open.insert(key, run) {
                        done.entry(key).or_default().push(old);
                    }
                }
            }
        }
    }
    for (key, run) in open {
        done.entry(key).or_default().push(run);
    }
    for (&(pid, tid), runs) in &done {
        if named_pids.insert(pid) {
            events.push(meta("process_name", pid, pid, &format!("? [pid {pid}]")));
        }
        let name = thread_names.get(&tid).copied().unwrap_or("?");
        events.push(meta("thread_name", pid, tid, name));
        for r in runs {
            let ts = micros(r.start_s);
            events.push(json!({
                "name": r.state,
                "cat": "thread-state",
                "ph": "X",
                "ts": ts,
                "dur": micros(r.end_s) - ts,
                "pid": pid,
                "tid": tid,
                "args": { "ticks": r.ticks },
            }));
        }
    }

    // Counters, at the start of the interval each value describes.
    for s in &tl.samples {
        let ts = micros((s.t_s - s.interval_s).max(0.0));
        for (n, c) in s.cores.iter().enumerate() {
            events.push(json!({
                "name": format!("cpu {n}"),
                "ph": "C",
                "ts": ts,
                "pid": root,
                "tid": root,
                "args": {
                    "user": percent(c.user),
                    "system": percent(c.system),
                    "iowait": percent(c.iowait),
                    "steal": percent(c.steal),
                },
            }));
        }
        events.push(json!({
            "name": "tree RSS",
            "ph": "C",
            "ts": micros(s.t_s),
            "pid": root,
            "tid": root,
            "args": { "bytes": s.tree_rss_bytes },
        }));
    }

    let file = json!({
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {
            "exporter": format!("boundcheck {}", env!("CARGO_PKG_VERSION")),
            "command": tl.meta.command.join(" "),
            "started_at": tl.meta.started_at,
        },
    });
    let mut out = serde_json::to_vec(&file).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Whether Python state `py` is a refinement of OS state `os`. Stacks are
/// read on some ticks only; a tick between reads knows only the OS state,
/// and splitting a 2 s `gil-wait` run at every such tick into `gil-wait`,
/// `lock-wait`, `gil-wait` slices would draw a change that did not happen.
/// So a tick without a stack read continues a run whose Python state its
/// OS state agrees with.
fn refines(py: &str, os: ThreadState) -> bool {
    match os {
        ThreadState::OnCpu => matches!(py, "gil-held" | "native-nogil"),
        ThreadState::LockWait => matches!(py, "gil-wait" | "lock-wait"),
        _ => false,
    }
}

fn meta(kind: &str, pid: i32, tid: i32, name: &str) -> Value {
    json!({ "name": kind, "ph": "M", "pid": pid, "tid": tid, "args": { "name": name } })
}

/// Seconds to whole microseconds, the format's unit.
fn micros(s: f64) -> i64 {
    (s * 1e6).round() as i64
}

/// A fraction of an interval as a percentage, to 0.1.
fn percent(f: f32) -> f64 {
    (f64::from(f) * 1000.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{Sample, ThreadSample, ThreadState};

    fn sample(t_s: f64, states: &[(i32, ThreadState)]) -> Sample {
        Sample {
            t_s,
            interval_s: 0.01,
            threads: states
                .iter()
                .map(|&(tid, state)| ThreadSample {
                    pid: 1,
                    tid,
                    state,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_tick_between_stack_reads_continues_the_python_state_it_agrees_with() {
        let mut tl: Timeline = serde_json::from_str(include_str!(
            "../../fixtures/timelines/cpu-serial__cpu_serial.json"
        ))
        .unwrap();
        use crate::timeline::PyState;
        let mut ticks = vec![
            sample(0.01, &[(1, ThreadState::LockWait)]),
            sample(0.02, &[(1, ThreadState::LockWait)]),
            sample(0.03, &[(1, ThreadState::LockWait)]),
            sample(0.04, &[(1, ThreadState::OnCpu)]),
        ];
        ticks[0].threads[0].py = Some(PyState::GilWait);
        ticks[2].threads[0].py = Some(PyState::GilWait);
        tl.samples = ticks;
        let v: Value = serde_json::from_slice(&render(&tl)).unwrap();
        let names: Vec<&str> = v["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["ph"] == "X")
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["gil-wait", "on-cpu"]);
    }

    #[test]
    fn consecutive_ticks_of_one_state_merge_and_a_gap_splits_them() {
        let mut tl: Timeline = serde_json::from_str(include_str!(
            "../../fixtures/timelines/cpu-serial__cpu_serial.json"
        ))
        .unwrap();
        use ThreadState::*;
        tl.samples = vec![
            sample(0.01, &[(1, OnCpu), (2, Sleep)]),
            sample(0.02, &[(1, OnCpu), (2, Sleep)]),
            sample(0.03, &[(1, DiskWait)]),
            sample(0.04, &[(1, DiskWait), (2, Sleep)]),
        ];
        let v: Value = serde_json::from_slice(&render(&tl)).unwrap();
        let slices: Vec<(i64, &str, i64, i64)> = v["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["ph"] == "X")
            .map(|e| {
                (
                    e["tid"].as_i64().unwrap(),
                    e["name"].as_str().unwrap(),
                    e["ts"].as_i64().unwrap(),
                    e["dur"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            slices,
            [
                (1, "on-cpu", 0, 20_000),
                (1, "disk-wait", 20_000, 20_000),
                (2, "sleep", 0, 20_000),
                (2, "sleep", 30_000, 10_000),
            ]
        );
    }
}
