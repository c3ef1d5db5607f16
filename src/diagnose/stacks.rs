//! Figures from Python stacks: the finer Python states, the hottest
//! functions by state, and the code a verdict is about.
//!
//! Only ticks on which stacks were read count (they are read at an adaptive
//! rate); on those ticks every thread-moment weighs its interval, like the OS
//! figures, so `py_share` values compare with `diagnosis.shares`.
//!
//! Where a thread "is" depends on the question:
//! - on CPU, GIL wait: the innermost frame (the code running or waiting);
//! - I/O wait: the innermost frame of the program itself, outside the standard
//!   library (the line that called `requests.get` rather than `selectors.py`);
//! - lock wait: the innermost frame *outside* `threading`/`queue`, i.e. the
//!   line of the program that asked for the lock (`with lock:` or `q.get()`);
//! - an event loop's CPU: the frame just inside asyncio's `Handle._run`,
//!   which is the coroutine (or callback) the loop is stepping.

use crate::timeline::{Frame, PyState, ThreadState, Timeline};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// How many hot functions per state the report lists.
pub const TOP_FUNCTIONS: usize = 10;

/// One function's weight in one state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HotFunction {
    /// Function name as the interpreter knows it (qualified name on 3.11+).
    pub function: String,
    /// Source file, shortened to its last two path parts.
    pub file: String,
    /// Line being executed.
    pub line: u32,
    /// Thread-moments (sampler ticks with stacks) in which this was the frame.
    pub samples: u64,
    /// Those samples as a share of all samples of this state.
    pub share: f64,
}

impl HotFunction {
    /// `function (file:line)`.
    pub fn label(&self) -> String {
        format!("{} ({}:{})", self.function, self.file, self.line)
    }
}

/// Per-thread Python figures.
#[derive(Debug, Clone, Default)]
pub struct ThreadPy {
    /// Thread-time observed on ticks with stacks, seconds.
    pub observed_s: f64,
    /// Time per [`PyState`], seconds, in [`PyState::ALL`] order.
    pub state_s: [f64; 4],
    /// On-CPU moments with a stack, of them the ones in pool or IPC
    /// machinery, and the GIL hand-offs (counted as neither: see
    /// [`ThreadPy::machinery_share`]).
    pub cpu_samples: u64,
    pub pool_cpu_samples: u64,
    pub handoff_samples: u64,
    /// Of the machinery moments, those under a `multiprocessing` Manager's
    /// proxy (a call to shared state served by the Manager's process, or
    /// that process serving it): the program's shared state, which stays
    /// when its pool moves onto threads (a `Pool` updating a
    /// `Manager().dict()` measured 0.82x on threads, predicted 7.6x when
    /// this counted as the pool's dispatch).
    pub proxy_cpu_samples: u64,
    /// Of those, the moments of the Manager's own process serving a call.
    pub server_cpu_samples: u64,
}

impl ThreadPy {
    /// Share of this thread's on-CPU time spent dispatching work (pool and
    /// IPC machinery) rather than doing it, over the moments that are not a
    /// GIL hand-off (a hand-off is the cost of sharing the GIL, which no
    /// change of task size removes). `None` without such moments.
    pub fn machinery_share(&self) -> Option<f64> {
        let n = self.cpu_samples.saturating_sub(self.handoff_samples);
        (n > 0).then(|| self.pool_cpu_samples as f64 / n as f64)
    }

    /// Of that share, the part under a Manager's proxies (see
    /// [`ThreadPy::proxy_cpu_samples`]).
    pub fn proxy_share(&self) -> Option<f64> {
        let n = self.cpu_samples.saturating_sub(self.handoff_samples);
        (n > 0).then(|| self.proxy_cpu_samples as f64 / n as f64)
    }

    /// Whether this thread is a Manager's server: most of its on-CPU
    /// moments serve proxies' calls.
    pub fn serves_a_manager(&self) -> bool {
        self.server_cpu_samples * 2 > self.cpu_samples
    }

    pub fn share(&self, s: PyState) -> f64 {
        if self.observed_s > 0.0 {
            self.state_s[py_index(s)] / self.observed_s
        } else {
            0.0
        }
    }
}

/// Everything the stacks tell.
#[derive(Debug, Clone, Default)]
pub struct StackFeatures {
    /// Thread-time on ticks with stacks, seconds: the denominator of the shares.
    pub thread_time_s: f64,
    /// Time per [`PyState`], seconds.
    pub state_s: [f64; 4],
    pub threads: BTreeMap<i32, ThreadPy>,
    /// Hottest functions by state: `on-cpu`, `gil-wait`, `lock-wait`, `io-wait`.
    pub hot: BTreeMap<String, Vec<HotFunction>>,
    /// For `on-cpu` and `gil-wait`: the innermost frame of the program's own
    /// code (outside the standard library and frozen importlib), which is
    /// what a `where` line should name: the line that called `json.loads`,
    /// not `raw_decode`. `pool`: the same for samples inside pool machinery
    /// (on a CPU or waiting), the line that hands the pool its tasks.
    pub hot_own: BTreeMap<String, Vec<HotFunction>>,
    /// The coroutine or callback an event loop thread was running when on CPU, most often first.
    pub loop_steps: Vec<HotFunction>,
    /// Per event-loop thread: how long it spent inside loop steps.
    pub loops: BTreeMap<i32, LoopFigures>,
    /// On-CPU thread-moments with a stack.
    pub cpu_samples: u64,
    /// Of those, the ones whose innermost frame is pool or IPC machinery
    /// (see [`Frame::is_pool_machinery`]): dispatching, not doing, the work.
    pub pool_cpu_samples: u64,
    /// Of those, the ones moving a task's data between processes (see
    /// [`moves_data`]): pickling, unpickling, pipe reads and writes. Their
    /// cost grows with the bytes per task, not the number of tasks.
    pub copy_cpu_samples: u64,
}

/// An asyncio loop thread's steps (a step is one coroutine resumption or
/// callback, run by `Handle._run`; the loop serves nothing else meanwhile).
#[derive(Debug, Clone, Default)]
pub struct LoopFigures {
    /// Thread-time observed on ticks with stacks, seconds.
    pub observed_s: f64,
    /// Time inside steps lasting at least 50 ms, seconds.
    pub long_step_s: f64,
    /// Time inside steps seen on two ticks or more, seconds: the loop's own
    /// CPU work, whatever each step's length. What `offload` moves: a parse
    /// of ~50 ms per page measured 40 or 50 ms at 100 Hz, so its share of
    /// steps of 50 ms or more moved between 0.23 and 0.59 from run to run.
    pub multi_tick_step_s: f64,
    /// The longest step seen, seconds: the worst lag the loop caused.
    pub longest_step_s: f64,
    /// Thread-time on ticks inside a step, seconds, and of it the time the
    /// step was blocked off the CPU on a socket or a sleep, and on the disk:
    /// a blocking call made by the step, not an await. Such calls overlap on
    /// threads once moved off the loop, where CPU work needs processes.
    pub in_step_s: f64,
    pub in_step_blocked_s: f64,
    pub in_step_disk_s: f64,
}

/// A step in progress: which step, since when, until when last seen.
struct OpenStep<'a> {
    step: (&'a str, &'a str),
    from_s: f64,
    to_s: f64,
}

impl LoopFigures {
    fn close(&mut self, open: Option<OpenStep>) {
        if let Some(o) = open {
            let len = o.to_s - o.from_s;
            self.longest_step_s = self.longest_step_s.max(len);
            self.multi_tick_step_s += len;
            if len >= super::features::LONG_RUN_S {
                self.long_step_s += len;
            }
        }
    }
}

fn py_index(s: PyState) -> usize {
    PyState::ALL.iter().position(|&x| x == s).unwrap_or(0)
}

impl StackFeatures {
    /// `None` when the timeline has no stacks.
    pub fn from_timeline(tl: &Timeline) -> Option<StackFeatures> {
        if tl.stacks.is_empty() {
            return None;
        }
        let mut f = StackFeatures::default();
        let mut counts: BTreeMap<&str, HashMap<&Frame, u64>> = BTreeMap::new();
        let mut own_counts: BTreeMap<&str, HashMap<&Frame, u64>> = BTreeMap::new();
        let mut loop_counts: HashMap<&Frame, u64> = HashMap::new();
        let mut open: HashMap<i32, OpenStep> = HashMap::new();
        for s in &tl.samples {
            if !s.threads.iter().any(|t| t.stack.is_some()) {
                continue;
            }
            for t in &s.threads {
                // Event loops: follow each loop thread's current step across
                // ticks; a tick in another step or back in the selector ends it.
                let frames = t
                    .stack
                    .map(|id| tl.stacks.frames_of(id))
                    .unwrap_or_default();
                // A loop method on the stack (not the module's own import,
                // which a program importing asyncio also shows once).
                let in_loop = frames
                    .iter()
                    .any(|f| f.file.ends_with("asyncio/base_events.py") && f.name != "<module>");
                if in_loop || f.loops.contains_key(&t.tid) {
                    let lf = f.loops.entry(t.tid).or_default();
                    lf.observed_s += s.interval_s;
                    let step = loop_step(&frames).map(|fr| (fr.name.as_str(), fr.file.as_str()));
                    if step.is_some() {
                        lf.in_step_s += s.interval_s;
                        match t.state {
                            ThreadState::NetWait | ThreadState::Sleep => {
                                lf.in_step_blocked_s += s.interval_s
                            }
                            ThreadState::DiskWait => lf.in_step_disk_s += s.interval_s,
                            _ => {}
                        }
                    }
                    let same =
                        matches!((open.get(&t.tid), step), (Some(o), Some(st)) if o.step == st);
                    if same {
                        if let Some(o) = open.get_mut(&t.tid) {
                            o.to_s = s.t_s;
                        }
                    } else {
                        lf.close(open.remove(&t.tid));
                        if let Some(st) = step {
                            // The step began at most one interval before it was seen.
                            let from_s = s.t_s - s.interval_s;
                            open.insert(
                                t.tid,
                                OpenStep {
                                    step: st,
                                    from_s,
                                    to_s: s.t_s,
                                },
                            );
                        }
                    }
                }
                let w = s.interval_s;
                f.thread_time_s += w;
                let tp = f.threads.entry(t.tid).or_default();
                tp.observed_s += w;
                if let Some(p) = t.py {
                    f.state_s[py_index(p)] += w;
                    tp.state_s[py_index(p)] += w;
                }
                let Some(id) = t.stack else { continue };
                let leaf = tl.stacks.frames_of(id).last().copied();
                let (kind, frame) = match (t.py, t.state) {
                    (Some(PyState::GilHeld | PyState::NativeNogil), _)
                    | (None, ThreadState::OnCpu) => ("on-cpu", leaf),
                    (Some(PyState::GilWait), _) => ("gil-wait", leaf),
                    (Some(PyState::LockWait), _) => ("lock-wait", tl.stacks.program_frame(id)),
                    (None, ThreadState::DiskWait | ThreadState::NetWait) => {
                        ("io-wait", tl.stacks.own_frame(id).or(leaf))
                    }
                    _ => continue,
                };
                if let Some(fr) = frame {
                    *counts.entry(kind).or_default().entry(fr).or_default() += 1;
                }
                let own = tl.stacks.own_frame(id);
                if matches!(kind, "on-cpu" | "gil-wait")
                    && let Some(own) = own
                {
                    *own_counts.entry(kind).or_default().entry(own).or_default() += 1;
                }
                if leaf.is_some_and(|l| l.is_pool_machinery())
                    && let Some(own) = own
                {
                    *own_counts
                        .entry("pool")
                        .or_default()
                        .entry(own)
                        .or_default() += 1;
                }
                if kind == "on-cpu" {
                    f.cpu_samples += 1;
                    // A thread "on CPU" without the GIL whose innermost frame
                    // is locking code (`threading`, `queue`, a semaphore) is
                    // inside a C-level acquire or retaking the GIL: a hand-off,
                    // not dispatch work (pipe reads and writes without the
                    // GIL are real IPC work and still count).
                    let handoff = t.py == Some(PyState::NativeNogil)
                        && leaf.is_some_and(|l| l.is_sync_machinery());
                    let machinery = leaf.is_some_and(|l| l.is_pool_machinery()) && !handoff;
                    if machinery {
                        f.pool_cpu_samples += 1;
                        if leaf.is_some_and(moves_data) {
                            f.copy_cpu_samples += 1;
                        }
                    }
                    let tp = f.threads.entry(t.tid).or_default();
                    tp.cpu_samples += 1;
                    tp.pool_cpu_samples += u64::from(machinery);
                    tp.handoff_samples += u64::from(handoff);
                    let frames = tl.stacks.frames_of(id);
                    if machinery {
                        tp.proxy_cpu_samples +=
                            u64::from(frames.iter().any(|fr| fr.is_manager_proxy()));
                        tp.server_cpu_samples +=
                            u64::from(frames.iter().any(|fr| fr.is_manager_server()));
                    }
                    if let Some(step) = loop_step(&frames) {
                        *loop_counts.entry(step).or_default() += 1;
                    }
                }
            }
        }
        for (tid, o) in open {
            if let Some(lf) = f.loops.get_mut(&tid) {
                lf.close(Some(o));
            }
        }
        f.hot = counts
            .into_iter()
            .map(|(k, c)| (k.to_string(), top(c)))
            .collect();
        f.hot_own = own_counts
            .into_iter()
            .map(|(k, c)| (k.to_string(), top(c)))
            .collect();
        f.loop_steps = top(loop_counts);
        Some(f)
    }

    /// Share of stack-sampled thread-time in `s`.
    pub fn share(&self, s: PyState) -> f64 {
        if self.thread_time_s > 0.0 {
            self.state_s[py_index(s)] / self.thread_time_s
        } else {
            0.0
        }
    }

    /// Of the Python threads' on-CPU time, the share spent without the GIL
    /// (C code that released it). High means threads really run in parallel.
    pub fn nogil_cpu_share(&self) -> f64 {
        let held = self.state_s[py_index(PyState::GilHeld)];
        let free = self.state_s[py_index(PyState::NativeNogil)];
        if held + free > 0.0 {
            free / (held + free)
        } else {
            0.0
        }
    }

    /// Share of the on-CPU samples that are not GIL hand-offs spent in pool
    /// and IPC machinery: dispatching the work rather than doing it, as
    /// [`ThreadPy::machinery_share`] is per thread. A hand-off is neither
    /// (the cost of sharing one GIL), and how many a run catches varies
    /// with scheduling: over all on-CPU samples, a thread pool of tiny
    /// tasks measured 0.54 in one run and 0.69–0.86 in five others, the
    /// first with 32 hand-offs in 69 samples, the others 9–16.
    pub fn dispatch_share(&self) -> f64 {
        let n = self.work_samples();
        if n > 0 {
            self.pool_cpu_samples as f64 / n as f64
        } else {
            0.0
        }
    }

    /// On-CPU samples with a stack that are not GIL hand-offs.
    pub fn work_samples(&self) -> u64 {
        self.cpu_samples.saturating_sub(self.handoff_samples())
    }

    /// On-CPU samples that are GIL hand-offs, over all threads.
    fn handoff_samples(&self) -> u64 {
        self.threads.values().map(|t| t.handoff_samples).sum()
    }

    /// Share of on-CPU samples spent in pool and IPC machinery (a share of
    /// CPU time, hand-offs included: what the predictions scale).
    pub fn pool_cpu_share(&self) -> f64 {
        if self.cpu_samples > 0 {
            self.pool_cpu_samples as f64 / self.cpu_samples as f64
        } else {
            0.0
        }
    }

    /// Share of on-CPU moments that are GIL hand-offs (a thread on a CPU
    /// without the GIL, inside locking code: retaking the GIL). It is the
    /// cost of sharing one GIL, which one GIL per worker removes.
    pub fn handoff_share(&self) -> f64 {
        if self.cpu_samples > 0 {
            self.handoff_samples() as f64 / self.cpu_samples as f64
        } else {
            0.0
        }
    }

    /// Share of on-CPU samples moving task data between processes
    /// (pickling and pipes): what shared memory would take away.
    pub fn copy_cpu_share(&self) -> f64 {
        if self.cpu_samples > 0 {
            self.copy_cpu_samples as f64 / self.cpu_samples as f64
        } else {
            0.0
        }
    }

    /// The hottest function of one kind, if any.
    pub fn hottest(&self, kind: &str) -> Option<&HotFunction> {
        self.hot.get(kind).and_then(|v| v.first())
    }

    /// The hottest place in the program's own code for one kind, falling
    /// back to the hottest frame of any code.
    pub fn hottest_own(&self, kind: &str) -> Option<&HotFunction> {
        self.hot_own
            .get(kind)
            .and_then(|v| v.first())
            .or_else(|| self.hottest(kind))
    }
}

/// Whether an innermost frame is moving a task's data between processes:
/// `multiprocessing`'s pickler (`reduction.py`: `dumps`), pure-Python
/// pickling, a connection sending or receiving bytes (`_send`, `_recv`, …:
/// the pipe copy, often without the GIL), or a queue's `get` (its
/// `_ForkingPickler.loads` is C code, so the sample's Python frame is `get`).
/// Dispatch work (executor bookkeeping, selectors, locks) is not: bigger
/// tasks remove that, shared memory removes this.
pub fn moves_data(f: &Frame) -> bool {
    const SEND_RECV: [&str; 8] = [
        "send",
        "_send",
        "send_bytes",
        "_send_bytes",
        "recv",
        "_recv",
        "recv_bytes",
        "_recv_bytes",
    ];
    let file = f.file.as_str();
    // 3.11+ qualifies the name (`Connection._send`).
    let name = f.name.rsplit('.').next().unwrap_or(&f.name);
    file.ends_with("multiprocessing/reduction.py")
        || file.ends_with("/pickle.py")
        || file.ends_with("/copyreg.py")
        || (file.ends_with("multiprocessing/connection.py") && SEND_RECV.contains(&name))
        || (file.ends_with("multiprocessing/queues.py") && name == "get")
}

/// The frame an asyncio loop is stepping: the one right inside the innermost
/// `asyncio/events.py` frame (`Handle._run` calls the task step or callback).
fn loop_step<'a>(frames: &[&'a Frame]) -> Option<&'a Frame> {
    let i = frames
        .iter()
        .rposition(|f| f.file.ends_with("asyncio/events.py"))?;
    frames.get(i + 1).copied()
}

fn top(counts: HashMap<&Frame, u64>) -> Vec<HotFunction> {
    let total: u64 = counts.values().sum();
    let mut v: Vec<(&Frame, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    v.into_iter()
        .take(TOP_FUNCTIONS)
        .map(|(fr, n)| HotFunction {
            function: fr.name.clone(),
            file: crate::timeline::short_file(&fr.file).to_string(),
            line: fr.line,
            samples: n,
            share: if total > 0 {
                ((n as f64 / total as f64) * 1000.0).round() / 1000.0
            } else {
                0.0
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{LoopFigures, OpenStep};

    fn step(from_s: f64, to_s: f64) -> Option<OpenStep<'static>> {
        Some(OpenStep {
            step: ("parse", "client.py"),
            from_s,
            to_s,
        })
    }

    #[test]
    fn every_step_seen_on_two_ticks_is_the_loop_s_own_work_however_long() {
        let mut lf = LoopFigures::default();
        lf.close(step(1.0, 1.04)); // a 50 ms parse that the ticks saw as 40 ms
        lf.close(step(2.0, 2.06));
        lf.close(step(3.0, 3.0)); // seen on one tick only
        assert!((lf.multi_tick_step_s - 0.10).abs() < 1e-9, "{lf:?}");
        assert!((lf.long_step_s - 0.06).abs() < 1e-9, "{lf:?}");
        assert!((lf.longest_step_s - 0.06).abs() < 1e-9, "{lf:?}");
    }
}
