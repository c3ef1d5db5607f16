//! The wall-time budget: where every second of every thread went, and where
//! the seconds that decide when the run ends went.
//!
//! Each thread-moment is put in one [`Part`]. Python stacks split on-CPU time
//! into interpreting (GIL held) and native code (GIL released), and a futex
//! wait into the GIL, a lock held by another thread, or a thread **parked**
//! on its own condition (`join`, `Event.wait`, `queue.get`,
//! `Future.result`: the innermost frame is the standard library's waiting
//! code). The sampled states only give the *proportions* of a thread's
//! off-CPU time; its CPU and run-queue seconds are the kernel's exact
//! `schedstat` figures, and where perf recorded context switches, the exact
//! off-CPU seconds by reason set the proportions instead (`method`).
//!
//! A busy helper thread does not make a program CPU-bound, so the verdict
//! reads the **run** budget: the main thread's own time, except that while
//! it waits for others (parked, waiting for a child or on a pipe) each tick
//! is charged to what the threads doing something were doing then. Those
//! threads gate the end of the run and are listed in `gating_threads`.

use serde::{Deserialize, Serialize};

/// A thread counts as gating when at least this share of the run budget was
/// charged to it.
pub const GATING_MIN_SHARE: f64 = 0.05;

/// A main thread asleep for at most this long per voluntary switch, on
/// average over its sleeping ticks, is polling: while other threads work,
/// its naps wait for them and the run budget follows them (joblib's
/// threading backend polls its results every 10 ms).
pub const POLL_NAP_MAX_S: f64 = 0.05;

/// At most this many threads are listed one by one (a 1 000-thread program
/// would otherwise make the report mostly budget rows).
pub const MAX_THREADS: usize = 40;

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Where a moment of wall time went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    CpuPython,
    CpuNative,
    RunQueue,
    Preempted,
    GilWait,
    LockWait,
    Disk,
    Network,
    Ipc,
    Sleep,
    Parked,
    Other,
}

impl Part {
    pub const ALL: [Part; 12] = [
        Part::CpuPython,
        Part::CpuNative,
        Part::RunQueue,
        Part::Preempted,
        Part::GilWait,
        Part::LockWait,
        Part::Disk,
        Part::Network,
        Part::Ipc,
        Part::Sleep,
        Part::Parked,
        Part::Other,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// Waiting for other threads or processes: the time is theirs.
    fn delegates(self) -> bool {
        matches!(self, Part::Parked | Part::Ipc | Part::Other)
    }

    /// Doing or wanting something itself (not waiting for others, not asleep).
    /// A thread preempted by other programs wanted the CPU: it counts.
    fn is_active(self) -> bool {
        !matches!(self, Part::Parked | Part::Ipc | Part::Other | Part::Sleep)
    }
}

/// Shares of wall time, summing to 1 (the field names are the report's keys).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct Shares {
    /// On a CPU running Python: holding the GIL (or a Python thread seen
    /// running without stacks).
    pub cpu_python: f64,
    /// On a CPU in native code: the GIL released (hashlib, zlib, numpy), or
    /// a program that is not Python.
    pub cpu_native: f64,
    /// Runnable, waiting for a CPU while the program's own runnable threads
    /// outnumbered the cores (the kernel's run-queue delay).
    pub run_queue: f64,
    /// Runnable, waiting for a CPU that *other programs* held (the program's
    /// own runnable threads did not outnumber the cores): time the machine
    /// took, not a bound of the program. The verdict and the predictions
    /// read the run without it (`Shares::quiet`).
    pub preempted: f64,
    /// Waiting to take the GIL.
    pub gil_wait: f64,
    /// Blocked on a lock another thread holds (`threading.Lock`, a mutex).
    pub lock_wait: f64,
    /// Blocked on storage.
    pub disk: f64,
    /// Blocked on a network socket.
    pub network: f64,
    /// Waiting on a pipe, a unix socket, a shared-memory semaphore or a child
    /// process: on other processes.
    pub ipc: f64,
    /// Sleeping on a timer.
    pub sleep: f64,
    /// Parked on its own condition: `join`, `Event.wait`, `queue.get`,
    /// `Future.result` — waiting for other threads, or for work.
    pub parked: f64,
    /// Anything else (terminals, signals, unclassified waits).
    pub other: f64,
}

impl Shares {
    pub fn get(&self, p: Part) -> f64 {
        self.as_array()[p.index()]
    }

    fn as_array(&self) -> [f64; 12] {
        [
            self.cpu_python,
            self.cpu_native,
            self.run_queue,
            self.preempted,
            self.gil_wait,
            self.lock_wait,
            self.disk,
            self.network,
            self.ipc,
            self.sleep,
            self.parked,
            self.other,
        ]
    }

    /// Shares from seconds per part (all zero when there is no time).
    fn from_seconds(s: &[f64; 12]) -> Shares {
        let total: f64 = s.iter().sum();
        let f = |p: Part| {
            if total > 0.0 {
                round4(s[p.index()] / total)
            } else {
                0.0
            }
        };
        Shares {
            cpu_python: f(Part::CpuPython),
            cpu_native: f(Part::CpuNative),
            run_queue: f(Part::RunQueue),
            preempted: f(Part::Preempted),
            gil_wait: f(Part::GilWait),
            lock_wait: f(Part::LockWait),
            disk: f(Part::Disk),
            network: f(Part::Network),
            ipc: f(Part::Ipc),
            sleep: f(Part::Sleep),
            parked: f(Part::Parked),
            other: f(Part::Other),
        }
    }

    /// The run as it would be on a quiet machine: without the time other
    /// programs held the cores, the other parts scaled back to sum to 1.
    pub fn quiet(&self) -> Shares {
        let keep = 1.0 - self.preempted;
        if keep <= 0.0 || self.preempted <= 0.0 {
            return Shares {
                preempted: 0.0,
                ..*self
            };
        }
        let mut secs = self.as_array();
        secs[Part::Preempted.index()] = 0.0;
        Shares::from_seconds(&secs)
    }

    /// Time on a CPU or queued for one.
    pub fn cpu(&self) -> f64 {
        self.cpu_python + self.cpu_native + self.run_queue
    }

    /// Sum of every part (1 ± rounding; 0 for an empty budget).
    pub fn total(&self) -> f64 {
        self.as_array().iter().sum()
    }
}

fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

/// One thread's wall time, split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ThreadBudget {
    pub pid: i32,
    pub tid: i32,
    /// Thread name when first seen.
    pub name: String,
    /// Seconds this thread was observed (its wall time within the run).
    pub wall_s: f64,
    /// Whether this thread gates the end of the run (see `gating_threads`).
    pub gating: bool,
    /// Its wall time by part, summing to 1.
    pub shares: Shares,
}

/// The wall-time budget of the run and of each thread.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Budget {
    /// How off-CPU seconds were split: `perf-switches` (exact seconds per
    /// reason from context-switch records) or `proc-states` (proportions of
    /// the sampled /proc states). CPU and run-queue seconds are exact either way.
    pub method: String,
    /// Wall time the run budget covers, seconds.
    pub wall_s: f64,
    /// The run's wall time by part: the main thread's own time, and while it
    /// waited for other threads or processes, theirs. Sums to 1.
    pub run: Shares,
    /// All threads' time together (thread-seconds), by part. Sums to 1.
    pub all_threads: Shares,
    /// Thread ids that gate the end of the run: the main thread, and those
    /// charged at least 5 % of the run budget while it waited for them.
    pub gating_threads: Vec<i32>,
    /// The threads, gating ones first, then by CPU time; at most
    /// [`MAX_THREADS`] (see `threads_omitted`).
    pub threads: Vec<ThreadBudget>,
    /// Threads not listed in `threads` (a program with very many threads).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub threads_omitted: usize,
    /// Of the thread-seconds blocked on a lock another thread holds, the
    /// share spent while a thread of the same process ran Python (held the
    /// GIL); `None` without lock waits. Shrinking a lock lets its waiters run
    /// meanwhile only if they could: while the holder runs Python, they would
    /// wait for the GIL instead (a held-out session store doing `deepcopy`
    /// and `pickle` under its lock measured 1.00x with the lock shrunk). An
    /// input of the predictions, computed in the same pass as the parts; not
    /// in the report.
    #[serde(skip)]
    pub lock_wait_behind_python: Option<f64>,
    /// Mean threads blocked on a lock at the ticks when any was: with the
    /// lock shrunk, the sections it serialised run that many plus the holder
    /// at once, no more (a 6-thread cache holding its `RLock` across a 3 ms
    /// load was predicted 12.4x before). Not in the report, like the above.
    #[serde(skip)]
    pub lock_waiters: Option<f64>,
}

mod build;
mod judge;
pub use build::budget;
use judge::{Judge, part_of};

#[cfg(test)]
mod tests;
