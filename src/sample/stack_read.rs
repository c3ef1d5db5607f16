//! The stack reader thread: it holds the open interpreters and reads them
//! when the sampler asks, so a read of many threads (milliseconds) never
//! delays a tick; the read is joined to the sample that asked for it
//! ([`join_traces`]) once it is back.

use super::classify;
use crate::timeline::{Frame, Sample, StackSampling, StackTable, ThreadState};
use py_spy::{PythonSpy, StackTrace};
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

/// What the reader thread is asked to do.
pub(super) enum ToReader {
    /// A process opened: read it from now on.
    Spy(i32, Box<PythonSpy>),
    /// Read these processes (those of them it holds); drop the others.
    Read(Vec<i32>),
}

/// One read's outcome: each process's traces, `None` for a failed read.
pub(super) struct Done {
    pub(super) cost: Duration,
    /// The reader thread's CPU for it, seconds (the sampler's CPU includes it).
    pub(super) cpu_s: f64,
    pub(super) reads: Vec<(i32, Option<Vec<StackTrace>>)>,
}

/// The reader thread: holds the open processes and reads them on request.
pub(super) fn read_loop(requests: Receiver<ToReader>, done: Sender<Done>) {
    let mut spies: HashMap<i32, Box<PythonSpy>> = HashMap::new();
    for msg in requests {
        match msg {
            ToReader::Spy(pid, spy) => {
                spies.insert(pid, spy);
            }
            ToReader::Read(pids) => {
                spies.retain(|pid, _| pids.contains(pid));
                let (t0, cpu0) = (Instant::now(), super::thread_cpu_s());
                let reads = pids
                    .iter()
                    .filter_map(|pid| {
                        let spy = spies.get_mut(pid)?;
                        Some((*pid, spy.get_stack_traces().ok()))
                    })
                    .collect();
                let (cost, cpu_s) = (t0.elapsed(), super::thread_cpu_s() - cpu0);
                if done.send(Done { cost, cpu_s, reads }).is_err() {
                    break;
                }
            }
        }
    }
}

/// Put one read's stacks on the threads of the sample that asked for it;
/// whether any process was read.
pub(super) fn join_traces(
    table: &mut StackTable,
    stats: &mut StackSampling,
    sample: &mut Sample,
    done: &Done,
) -> bool {
    let index: HashMap<i32, usize> = sample
        .threads
        .iter()
        .enumerate()
        .map(|(i, t)| (t.tid, i))
        .collect();
    let mut read_any = false;
    for (_, traces) in &done.reads {
        stats.reads += 1;
        let Some(traces) = traces else {
            stats.failed_reads += 1;
            continue;
        };
        read_any = true;
        for trace in traces {
            let Some(tid) = trace.os_thread_id.map(|t| t as i32) else {
                continue;
            };
            if trace.frames.is_empty() {
                continue;
            }
            let Some(ts) = index.get(&tid).map(|&i| &mut sample.threads[i]) else {
                continue;
            };
            let id = table.intern(trace.frames.iter().rev().map(|f| Frame {
                name: f.name.clone(),
                file: f.filename.clone(),
                line: f.line.max(0) as u32,
            }));
            let in_sync = table
                .frames_of(id)
                .last()
                .is_some_and(|f| f.is_sync_machinery());
            ts.stack = Some(id);
            ts.gil = Some(trace.owns_gil);
            // py-spy looked at the thread's OS state again just before
            // reading: a thread seen running by /proc but off the CPU by
            // then was caught in a GIL hand-off, not running C code
            // without the GIL.
            let left_cpu = ts.state == ThreadState::OnCpu && !trace.active;
            ts.py = if left_cpu && !trace.owns_gil {
                None
            } else {
                classify::py_state(ts.state, ts.futex, trace.owns_gil, in_sync)
            };
        }
    }
    read_any
}
