//! The stack reader thread: it holds the open interpreters and reads them
//! when the sampler asks, so a read of many threads (milliseconds) never
//! delays a tick; the read is joined to the sample that asked for it
//! ([`join_traces`]) once it is back.
//!
//! py-spy opens every process; CPython 3.11–3.14 with the GIL is then read
//! by boundcheck's own caching reader ([`PyReader`], a few system calls a
//! read where py-spy makes about eight a frame), other versions by py-spy.
//! A process the own reader fails to read [`FALLBACK_AFTER`] times in a row
//! goes back to py-spy for good, and the stats say so.

use super::classify;
use super::pyread::PyReader;
use crate::timeline::{Frame, Sample, StackSampling, StackTable, ThreadState};
use py_spy::{PythonSpy, StackTrace};
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

/// Failed own reads in a row after which a process goes back to py-spy. A
/// torn read is rare (about 1 in 1 000 on threads doing ordinary work, up to
/// 1 in 10 on a loop that does nothing but compile and call new code, where
/// py-spy fails as often): eight in a row by chance is beyond belief there,
/// while a reader that cannot read a process at all (an interpreter whose
/// layout differs from its version's table) gives up within a few reads.
const FALLBACK_AFTER: u32 = 8;

/// What the reader thread is asked to do.
pub(super) enum ToReader {
    /// A process opened: read it from now on.
    Spy(i32, Box<PythonSpy>),
    /// Read these processes (those of them it holds; drop the others), each
    /// with the native ids of its threads the tick saw on a CPU (whose OS
    /// state the read looks at again, as py-spy does, for the "active" flag).
    Read(Vec<(i32, Vec<i32>)>),
}

/// One process's read.
pub(super) struct Read {
    pub(super) pid: i32,
    /// The traces, `None` for a failed read.
    pub(super) traces: Option<Vec<StackTrace>>,
    /// Read by the own reader (not py-spy).
    pub(super) own: bool,
    /// The own reader gave up on this process with this read (its last error).
    pub(super) fell_back: Option<String>,
}

/// One read's outcome: each process's traces.
pub(super) struct Done {
    pub(super) cost: Duration,
    /// The reader thread's CPU for it, seconds (the sampler's CPU includes it).
    pub(super) cpu_s: f64,
    pub(super) reads: Vec<Read>,
}

/// An open process: py-spy's handle, and the own reader while it serves.
struct Held {
    spy: Box<PythonSpy>,
    own: Option<PyReader>,
    failures: u32,
}

impl Held {
    fn read(&mut self, pid: i32, on_cpu: &[i32]) -> Read {
        let Some(own) = self.own.as_mut() else {
            let traces = self.spy.get_stack_traces().ok();
            return Read {
                pid,
                traces,
                own: false,
                fell_back: None,
            };
        };
        let (traces, mut fell_back) = match own.read(on_cpu) {
            Ok(t) => {
                self.failures = 0;
                (Some(t), None)
            }
            Err(e) => {
                self.failures += 1;
                (None, Some(e.to_string()))
            }
        };
        if self.failures < FALLBACK_AFTER {
            fell_back = None;
        } else {
            self.own = None;
        }
        Read {
            pid,
            traces,
            own: true,
            fell_back,
        }
    }
}

/// The reader thread: holds the open processes and reads them on request.
pub(super) fn read_loop(requests: Receiver<ToReader>, done: Sender<Done>) {
    let mut held: HashMap<i32, Held> = HashMap::new();
    for msg in requests {
        match msg {
            ToReader::Spy(pid, spy) => {
                let own = PyReader::new(&spy);
                let failures = 0;
                held.insert(pid, Held { spy, own, failures });
            }
            ToReader::Read(asked) => {
                held.retain(|pid, _| asked.iter().any(|(p, _)| p == pid));
                let (t0, cpu0) = (Instant::now(), super::thread_cpu_s());
                let reads = asked
                    .iter()
                    .filter_map(|(pid, on_cpu)| Some(held.get_mut(pid)?.read(*pid, on_cpu)))
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
    for read in &done.reads {
        stats.reads += 1;
        stats.own_reads += read.own as u64;
        if let Some(why) = &read.fell_back {
            stats.own_reader_fallbacks.insert(read.pid, why.clone());
        }
        let Some(traces) = &read.traces else {
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
            // The reader looked at the OS state of the threads seen on a
            // CPU again just before reading (py-spy: of every thread): a
            // thread seen running by /proc but off the CPU by then was
            // caught in a GIL hand-off, not running C code without the GIL.
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
