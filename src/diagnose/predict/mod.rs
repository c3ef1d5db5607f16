//! What-if: a predicted speedup for every strategy, from the run budget.
//!
//! Each remedy changes some parts of the run's wall time `T` and leaves the
//! rest. The model is deliberately simple (Amdahl's law applied to the
//! budget), so that its assumption can be written beside the number and a
//! re-run can check it:
//! - **processes / interpreters / free-threaded**: the CPU-side section of
//!   the run (its Python holding or waiting for the GIL when several
//!   threads want a CPU; a single busy thread's CPU and GIL waits) is
//!   redone as the
//!   program's CPU seconds spread over `m = min(threads wanting a CPU, cores)`
//!   workers — over all cores for a single thread, *if* its iterations are
//!   independent — never slower than it is now, plus a start-up cost per
//!   process; a free-threaded build pays its single-thread slowdown instead.
//! - **threads / asyncio**: waits on the network (and, for threads, on the
//!   disk, and GIL-free native CPU) overlap `N` at a time.
//! - **batch**: pool machinery (CPU in executor/pickle/queue code and IPC
//!   waits) mostly removed, and `fsync` waits shared by `B` writes.
//! - **shared-memory**: the part of that machinery that moves a task's data
//!   (pickling, pipe copies, unpickling) mostly removed, for a process pool.
//! - **shrink-lock**: the time serialised behind a lock is removed, but the
//!   CPU work still needs the cores.
//! - **offload**: the event loop's long steps run on the cores while the loop
//!   serves I/O.
//! - **native**: the pure-Python CPU (and the GIL waits it causes) `F` times
//!   faster; how much faster depends on the code, so the low end is 1.0 and
//!   it is shown as an estimate rather than recommended on prediction alone.
//!
//! `low` and `high` repeat the formula under the pessimistic and optimistic
//! end of each assumption.

use super::budget::Budget;
use super::features::Features;
use super::rules::cpu_competitors;
use super::strategy::Strategy;
use crate::timeline::{ThreadState, Timeline};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Start-up cost of one worker process, seconds (center, pessimistic).
pub const PROCESS_START_S: (f64, f64) = (0.03, 0.15);
/// Start-up cost of one subinterpreter, seconds (center, pessimistic).
pub const INTERPRETER_START_S: (f64, f64) = (0.01, 0.08);
/// Parallel efficiency of a pool at its pessimistic end (pickling, imbalance).
pub const POOL_EFFICIENCY_LOW: f64 = 0.75;
/// Single-thread slowdown of a free-threaded build (center, low end, high end):
/// 1.1–1.5x in `shared/docs/python314.md`, 1.3–1.7x measured by the corpus's
/// re-runs of 3.13t (prime_count 0.60x, word_count_threads and json_threadpool
/// 1.3x against 1.7x predicted at 1.25x).
pub const FREE_THREADED_SLOWDOWN: (f64, f64, f64) = (1.45, 1.7, 1.25);
/// Network waits that overlap when made concurrent (center, low, high).
pub const NET_OVERLAP: (f64, f64, f64) = (8.0, 4.0, 16.0);
/// asyncio's default executor: `min(32, os.cpu_count() + 4)` threads, the
/// most blocking calls `asyncio.to_thread` runs at once.
pub const DEFAULT_EXECUTOR_EXTRA: f64 = 4.0;
pub const DEFAULT_EXECUTOR_MAX: f64 = 32.0;
/// Disk waits that overlap on one device (center, low, high).
pub const DISK_OVERLAP: (f64, f64, f64) = (2.0, 1.3, 4.0);
/// Share of pool machinery that bigger tasks remove (center, low, high): one
/// chunk of `c` tasks pays the dispatch of one, so `1 − 1/c` goes. The change
/// recommended is `chunksize = items / (4 × workers)` (what `Pool.map` picks
/// by itself), hundreds of tasks for a pool of thousands of tiny ones; the
/// center assumes chunks of 20, the low end 5, the high end 100.
pub const BATCH_REMOVED: (f64, f64, f64) = (0.95, 0.8, 0.99);
/// Pool machinery on CPU (seconds) from which a run has a pool whose tasks
/// could be bigger: one sample at the default 100 Hz. Below it the run's
/// pipe and child waits are not a pool's: a pyenv shim's `$(…)` command
/// substitutions wait on pipes for half of a 0.15 s `compileall`, and no
/// chunksize removes them.
pub const POOL_MACHINERY_MIN_S: f64 = 0.01;
/// Share of a process pool's dispatch a thread pool still pays at the
/// pessimistic end (it queues and wakes a thread per task, without the
/// pickling, pipes and helper threads).
pub const THREAD_POOL_DISPATCH_KEPT: f64 = 0.2;
/// Share of the copying (pickling, pipe writes and reads, unpickling) that
/// shared memory removes (center, low, high): each array is written once
/// into the shared block instead of pickled, sent, received and unpickled
/// (one copy of four), so about three quarters go; low: half (the block is
/// still filled and workers may copy out of it); high: 90 %.
pub const SHM_REMOVED: (f64, f64, f64) = (0.75, 0.5, 0.9);
/// Bytes per write from which a process pool's messages count as large
/// arguments: Linux's default pipe capacity (16 pages, 64 KiB). A message
/// that does not fit in the pipe at once costs by its bytes (pickling and
/// copying it), not by the task: bigger tasks do not make it cheaper,
/// shared memory does. A pool of tiny tasks writes a few hundred bytes a call.
pub const LARGE_MESSAGE_BYTES: f64 = 65536.0;
/// Writes per `fsync` once batched (center, low, high).
pub const FSYNC_BATCH: (f64, f64, f64) = (8.0, 2.0, 32.0);
/// How much faster native code runs pure-Python work (center, high).
pub const NATIVE_FACTOR: (f64, f64) = (10.0, 50.0);
/// A process doing at least this much CPU per second of the run shares the
/// work (a pool worker), for the move of a process pool onto threads.
pub const BUSY_PROCESS_CPU_SHARE: f64 = 0.05;
/// Processes of the work busy at once, on average over the ticks with any,
/// from which the work counts as already spread over processes. Children
/// run one after another (a script calling `sort`, then `gzip`, file after
/// file) are one busy process at a time, 1.0; a pool's workers on 2 cores
/// are about 2.
pub const SPLIT_MIN_CONCURRENCY: f64 = 1.5;
/// Waiters at once above which I/O is already concurrent.
pub const CONCURRENT_WAITERS: f64 = 1.5;
/// A remedy is worth recommending on prediction alone from this speedup…
pub const WORTH_PREDICTED: f64 = 1.3;
/// …when even its pessimistic end is above this: no loss. The pessimistic
/// end already takes the worst of each assumption (75 % pool efficiency,
/// the slowest start-up), so a further margin on it counted pessimism twice,
/// and an answer that hinged on that end crossing 1.1x changed between
/// repeats of the same program (lows of 1.04–1.12x across ten runs).
pub const WORTH_LOW: f64 = 1.0;

/// What one remedy is predicted to gain on this machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Prediction {
    pub strategy: Strategy,
    /// Predicted wall-time speedup over as-is (as-is ÷ predicted), ×.
    pub predicted_speedup: f64,
    /// The same under the pessimistic end of each assumption, ×.
    pub low: f64,
    /// The same under the optimistic end, ×.
    pub high: f64,
    /// The parts of the budget it changes and the assumption it rests on.
    pub basis: String,
    /// How much code the change asks of this program: 1 a constructor, a
    /// lock, an event-loop call; 2 restructuring (threads into asyncio, or
    /// an asyncio program's waits into threads); 3 a rewrite in native code.
    /// The cheapest change predicted to pay is recommended first.
    #[serde(default)]
    pub effort: u8,
    /// The gain rests on a change no swap makes, so a swap's measurement
    /// does not test it: splitting one busy thread's work into independent
    /// pieces (swapping the executor moves the same tasks: a
    /// `ThreadPoolExecutor(1)` doing one long job measured 1.04x as
    /// processes, against 1.91x predicted for the split), or batching calls
    /// through a Manager's proxies made per item inside each task (a bigger
    /// `chunksize` leaves them: measured 1.05x, against 8.3x predicted).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub needs_code_change: bool,
}

/// The figures the formulas read.
struct Inputs {
    /// Wall time of the run, seconds.
    t: f64,
    cores: f64,
    /// Threads wanting a CPU (at least 1).
    k: f64,
    /// CPU seconds a pool would spread: with several threads wanting a CPU,
    /// their Python (GIL-held) CPU only — GIL-free native code already runs
    /// in parallel on threads; with one busy thread, all of its CPU.
    work: f64,
    /// Seconds of the run in that work's section, outside an event loop's
    /// long steps (those are `offload`'s): with several threads wanting a
    /// CPU, their Python CPU and GIL waits (the part one GIL serialises);
    /// with one busy thread, its CPU and GIL waits. Run-queue waits are not
    /// in it: more workers do not add cores.
    section: f64,
    /// What the section is, for the bases ("Python holding or waiting for
    /// the GIL").
    section_what: &'static str,
    /// Share of `work` that runs in the interpreter (GIL held) rather than
    /// in GIL-free native code: 1 when `work` is Python CPU only.
    python_share: f64,
    /// CPU seconds of the whole tree.
    cpu_total: f64,
    /// CPU seconds in pool machinery (dispatch, pickling): serial in the
    /// parent whatever the executor.
    serial_cpu: f64,
    /// Processes that each run one thread wanting a CPU: the work is already
    /// spread over processes.
    split_over: usize,
    /// Processes doing a share of the CPU work (at least
    /// [`BUSY_PROCESS_CPU_SHARE`] of a core).
    busy_processes: usize,
    /// Mean threads waiting on the network / disk when any does.
    net_waiters: f64,
    disk_waiters: f64,
    /// Share of disk-wait samples inside fsync/fdatasync.
    fsync_share: f64,
    /// The largest mean bytes per `write` call of a process of the tree
    /// (`wchar` ÷ `syscw`), 0 when unread (timelines before they were kept).
    bytes_per_write: f64,
    /// The tree's CPU seconds split into work and pool machinery, by process.
    split: CpuSplit,
    /// Seconds of the run waiting on a lock while its process ran Python
    /// (`Budget::lock_wait_behind_python`), with several threads wanting a
    /// CPU: shrinking that lock leaves the work on one GIL, workers that each
    /// keep their own part of the locked state run it in parallel.
    lock_python: f64,
    /// Interpreter (GIL-held) CPU seconds of the process with the most: one
    /// GIL runs them one at a time, whatever locks surround them.
    one_gil_s: f64,
}

/// The tree's CPU seconds, split by where they run and what they do: the
/// launched process's main thread (the calls the program makes, which any
/// way of running the work keeps), its other threads and the child processes
/// (a pool's helper threads and workers), each divided into the work itself
/// and pool machinery by the thread's own on-CPU stacks (its
/// [`ThreadPy::machinery_share`](super::stacks::ThreadPy::machinery_share),
/// else the tree's). Why per thread: in a pool of tiny tasks nearly all of a
/// helper thread's and a worker's CPU is dispatch, while the main thread's is
/// the program's own; one tree-wide share under-counts what goes.
#[derive(Debug, Clone, Copy, Default)]
struct CpuSplit {
    /// The launched process's main thread: work, machinery.
    main_work_s: f64,
    main_machinery_s: f64,
    /// Other threads of the launched process: work, machinery.
    own_work_s: f64,
    own_machinery_s: f64,
    /// Child processes: work, machinery, and how many do a share of it.
    child_work_s: f64,
    child_machinery_s: f64,
    busy_children: usize,
    /// Of the other threads' and the children's machinery, the part under a
    /// Manager's proxies: shared state, kept on threads (see
    /// [`ThreadPy::proxy_cpu_samples`](super::stacks::ThreadPy::proxy_cpu_samples)).
    proxy_s: f64,
    /// Of the children's CPU, the Manager's server process serving those
    /// calls: it stays a process of its own whatever runs the pool.
    server_s: f64,
}

impl CpuSplit {
    fn of(tl: &Timeline, f: &Features) -> CpuSplit {
        let root = tl.processes.first().map(|p| p.pid);
        // The same share as each thread's (hand-offs aside), for a thread
        // with no on-CPU stack of its own.
        let tree_share = f.py.as_ref().map_or(0.0, |py| py.dispatch_share());
        let mut s = CpuSplit::default();
        let mut child_cpu: BTreeMap<i32, f64> = BTreeMap::new();
        for th in &f.threads {
            let py = f.py.as_ref().and_then(|py| py.threads.get(&th.tid));
            let share = py.and_then(|t| t.machinery_share()).unwrap_or(tree_share);
            if Some(th.tid) != root {
                s.proxy_s += th.cpu_s * py.and_then(|t| t.proxy_share()).unwrap_or(0.0);
            }
            if Some(th.pid) != root && py.is_some_and(|t| t.serves_a_manager()) {
                s.server_s += th.cpu_s;
            }
            let (work, machinery) = (th.cpu_s * (1.0 - share), th.cpu_s * share);
            if Some(th.tid) == root {
                s.main_work_s += work;
                s.main_machinery_s += machinery;
            } else if Some(th.pid) == root {
                s.own_work_s += work;
                s.own_machinery_s += machinery;
            } else {
                s.child_work_s += work;
                s.child_machinery_s += machinery;
                *child_cpu.entry(th.pid).or_default() += th.cpu_s;
            }
        }
        s.busy_children = child_cpu
            .values()
            .filter(|&&c| c >= BUSY_PROCESS_CPU_SHARE * f.span_s)
            .count();
        s
    }

    /// CPU seconds on the run's critical path once `removed` of the
    /// machinery is gone: the launched process's threads share one GIL
    /// (serial), the children run side by side on up to `cores`.
    fn critical_s(&self, cores: f64, removed: f64) -> f64 {
        let kept = 1.0 - removed;
        let own = self.main_work_s
            + self.own_work_s
            + (self.main_machinery_s + self.own_machinery_s) * kept;
        let m = (self.busy_children as f64).min(cores).max(1.0);
        own.max((self.child_work_s + self.child_machinery_s * kept) / m)
    }

    /// The helper threads' and workers' machinery that is the pool's own
    /// dispatch: what moving the pool onto threads removes (not the calls
    /// through a Manager's proxies).
    fn dispatch_s(&self) -> f64 {
        (self.own_machinery_s + self.child_machinery_s - self.proxy_s).max(0.0)
    }

    /// The same when all of it runs on threads of one process (one GIL):
    /// the main thread's calls stay whole, the helper threads' and workers'
    /// machinery goes but for `kept`, and calls through a Manager's proxies
    /// stay (the Manager does not go with the pool).
    /// The Manager's server keeps its own process and runs beside them.
    fn on_one_gil_s(&self, kept: f64) -> f64 {
        let dispatch = self.dispatch_s();
        let serial = self.main_work_s
            + self.main_machinery_s
            + self.own_work_s
            + self.child_work_s
            + self.proxy_s
            + dispatch * kept
            - self.server_s;
        serial.max(self.server_s)
    }
}

fn ratio(t: f64, t_new: f64) -> f64 {
    let s = if t_new > 0.0 { t / t_new } else { 1.0 };
    (s.clamp(0.01, 1000.0) * 100.0).round() / 100.0
}

fn pred(strategy: Strategy, t: f64, times: (f64, f64, f64), basis: String) -> Prediction {
    let (c, lo, hi) = (ratio(t, times.0), ratio(t, times.1), ratio(t, times.2));
    Prediction {
        strategy,
        predicted_speedup: c,
        low: lo.min(c),
        high: hi.max(c),
        basis,
        effort: strategy.effort(),
        needs_code_change: false,
    }
}

/// A predicted speedup for every strategy but `keep`, most promising first.
pub fn predict(tl: &Timeline, f: &Features, b: &Budget) -> Vec<Prediction> {
    // Predict for the program on a quiet machine: the time other programs
    // held the cores is neither a bound nor a gain.
    let r = &b.run.quiet();
    let t = (b.wall_s * (1.0 - b.run.preempted)).max(1e-6);
    // Processes doing a share of the work (a pool's workers, busy or
    // mostly handed tiny tasks).
    let mut cpu_by_process: BTreeMap<i32, f64> = BTreeMap::new();
    for th in &f.threads {
        *cpu_by_process.entry(th.pid).or_default() += th.cpu_s;
    }
    let busy_processes = cpu_by_process
        .values()
        .filter(|&&c| c >= BUSY_PROCESS_CPU_SHARE * f.span_s)
        .count();
    let (wanting, split_over) = wanting_and_split(tl, f);
    let (net_waiters, disk_waiters, fsync_share) = waiters(tl);
    let loop_long = gating_loop(f, b).map_or(0.0, |l| l.0);
    let pool_share = f.py.as_ref().map_or(0.0, |py| py.pool_cpu_share());
    let python_share = if wanting >= 2 || r.cpu_python + r.cpu_native <= 0.0 {
        1.0
    } else {
        r.cpu_python / (r.cpu_python + r.cpu_native)
    };
    let (work, section_share, section_what) = if wanting >= 2 {
        // GIL hand-offs show as GIL-free CPU; they exist only because the
        // threads share one GIL, so one GIL per worker removes them too.
        let handoff = f.py.as_ref().map_or(0.0, |py| py.handoff_share());
        let handoffs = ((r.cpu_python + r.cpu_native) * handoff).min(r.cpu_native);
        (
            b.all_threads.cpu_python * f.thread_time_s,
            r.cpu_python + r.gil_wait + handoffs,
            "Python holding or waiting for the GIL",
        )
    } else {
        (
            f.cpu_s,
            r.cpu_python + r.cpu_native + r.gil_wait,
            "on a CPU or waiting for the GIL",
        )
    };
    let behind_python = b.lock_wait_behind_python.unwrap_or(0.0);
    let lock_python = if wanting >= 2 {
        r.lock_wait * behind_python * t
    } else {
        0.0
    };
    let i = Inputs {
        t,
        lock_python,
        cores: f.cores_available.max(1) as f64,
        k: wanting.max(1) as f64,
        work,
        python_share,
        section: ((section_share - loop_long).max(0.0) * t).min(t),
        section_what,
        cpu_total: f.cpu_s,
        serial_cpu: pool_share * work,
        split_over,
        busy_processes,
        net_waiters,
        disk_waiters,
        fsync_share,
        split: CpuSplit::of(tl, f),
        bytes_per_write: bytes_per_write(tl),
        one_gil_s: one_gil_s(b),
    };
    let mut out = vec![
        parallel(&i, Strategy::Processes, PROCESS_START_S),
        parallel(&i, Strategy::Interpreters, INTERPRETER_START_S),
        free_threaded(&i),
        {
            // Threads overlap waits; for work spread over processes they
            // also take the pool's IPC away and put the work on one GIL.
            let overlap = threads(&i, r.network, r.disk, r.cpu_native);
            if i.busy_processes >= 2 {
                let mut merged = onto_threads(&i, r.cpu() + r.gil_wait + r.ipc);
                let saved = |x: f64| i.t - i.t / x.max(0.01);
                // The work left on one GIL bounds what overlapping waits saves.
                let serial = i.split.on_one_gil_s(0.0).min(i.t);
                let after = |m: f64, o: f64| (i.t / m.max(0.01) - saved(o)).max(serial);
                merged.predicted_speedup = ratio(
                    i.t,
                    after(merged.predicted_speedup, overlap.predicted_speedup),
                );
                merged.low =
                    ratio(i.t, after(merged.low, overlap.low)).min(merged.predicted_speedup);
                merged.high =
                    ratio(i.t, after(merged.high, overlap.high)).max(merged.predicted_speedup);
                merged
            } else {
                overlap
            }
        },
        asyncio(&i, r.network),
        batch(&i, f, r.cpu() + r.gil_wait, r.ipc, r.disk),
        shared_memory(&i, f, r.cpu() + r.gil_wait, r.ipc),
        shrink_lock(
            &i,
            r.lock_wait,
            behind_python,
            b.lock_waiters.unwrap_or(1.0),
        ),
        offload(&i, f, b),
        native(&i, r.cpu_python + r.gil_wait, f.system_fraction()),
    ];
    // An asyncio program gathers its awaits more cheaply than it moves
    // them onto threads; not its blocking calls (`LOOP_BLOCKING_CALLS_SHARE`),
    // which `offload` moves as they are.
    if runs_event_loop(tl, f) {
        let gathers = !loop_blocks_in_calls(f, b);
        for p in &mut out {
            match p.strategy {
                Strategy::Asyncio if gathers => p.effort = 1,
                Strategy::Threads => p.effort = 2,
                _ => {}
            }
        }
    }
    out.sort_by(|a, b| b.predicted_speedup.total_cmp(&a.predicted_speedup));
    let version = tl.meta.python_version.as_deref();
    // The cheapest change predicted to pay goes first (see `Strategy::effort`);
    // among equally cheap ones, the surest to pay (the higher pessimistic
    // end): two centres a few percent apart swap places between repeats.
    let best = out
        .iter()
        .enumerate()
        .filter(|(_, p)| worth_changing_code(p, version))
        .min_by(|a, b| {
            a.1.effort
                .cmp(&b.1.effort)
                .then(b.1.low.total_cmp(&a.1.low))
                .then(b.1.predicted_speedup.total_cmp(&a.1.predicted_speedup))
        })
        .map(|(j, _)| j);
    if let Some(j) = best {
        let chosen = out.remove(j);
        out.insert(0, chosen);
    }
    out
}

/// Threads wanting a CPU, and the processes the work already runs in side
/// by side with one busy thread each (0 when it does not). One busy process
/// at a time is a sequential program, whatever the number of processes it
/// runs in turn: one thread wanting a CPU.
fn wanting_and_split(tl: &Timeline, f: &Features) -> (usize, usize) {
    let mut per_process: BTreeMap<i32, usize> = BTreeMap::new();
    for th in cpu_competitors(f) {
        *per_process.entry(th.pid).or_default() += 1;
    }
    let one_each = per_process.len() >= 2 && per_process.values().all(|&n| n == 1);
    if !one_each {
        return (per_process.values().sum(), 0);
    }
    if concurrent_processes(tl, &per_process) < SPLIT_MIN_CONCURRENCY {
        (1, 0)
    } else {
        (per_process.len(), per_process.len())
    }
}

/// Mean processes of `pids` on a CPU or queued for one at once, over the
/// ticks with at least one.
fn concurrent_processes(tl: &Timeline, pids: &BTreeMap<i32, usize>) -> f64 {
    let (mut sum, mut ticks) = (0.0, 0.0);
    for s in &tl.samples {
        let busy: std::collections::BTreeSet<i32> = s
            .threads
            .iter()
            .filter(|t| {
                pids.contains_key(&t.pid)
                    && matches!(t.state, ThreadState::OnCpu | ThreadState::Runnable)
            })
            .map(|t| t.pid)
            .collect();
        if !busy.is_empty() {
            sum += busy.len() as f64;
            ticks += 1.0;
        }
    }
    if ticks > 0.0 { sum / ticks } else { 0.0 }
}

/// Interpreter CPU seconds of the listed threads, per process, the largest.
fn one_gil_s(b: &Budget) -> f64 {
    let mut by_pid: BTreeMap<i32, f64> = BTreeMap::new();
    for th in &b.threads {
        *by_pid.entry(th.pid).or_default() += th.shares.cpu_python * th.wall_s;
    }
    by_pid.values().copied().fold(0.0, f64::max)
}

/// The largest mean bytes per write call over the tree's processes that
/// wrote at least twice: a pool's parent sending large arguments writes
/// each message in one call (plus a 4-byte header), so its mean is the
/// message size.
fn bytes_per_write(tl: &Timeline) -> f64 {
    tl.processes
        .iter()
        .filter(|p| p.write_calls >= 2)
        .map(|p| p.written_chars as f64 / p.write_calls as f64)
        .fold(0.0, f64::max)
}

/// Whether a person should make this change on the prediction alone: a
/// change to the program itself (not another interpreter build, not a
/// rewrite whose gain depends on the code), available to its Python, and
/// predicted to pay even at the pessimistic end.
pub fn worth_changing_code(p: &Prediction, python_version: Option<&str>) -> bool {
    let available = match p.strategy {
        Strategy::Interpreters => python_version.is_some_and(at_least_314),
        Strategy::FreeThreaded | Strategy::Native | Strategy::Keep => false,
        _ => true,
    };
    available && p.predicted_speedup >= WORTH_PREDICTED && p.low > WORTH_LOW
}

fn at_least_314(v: &str) -> bool {
    let mut it = v.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    let (major, minor) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (major, minor) >= (3, 14)
}

/// The remedy the predictions point to: the first one when it is worth a
/// code change (see [`predict`]'s order), else `keep`.
pub fn remedy(predictions: &[Prediction], python_version: Option<&str>) -> Strategy {
    predictions
        .first()
        .filter(|p| worth_changing_code(p, python_version))
        .map_or(Strategy::Keep, |p| p.strategy)
}

mod formulas;
mod waits;
use formulas::*;
pub use waits::LOOP_BLOCKING_CALLS_SHARE;
use waits::{loop_blocks_in_calls, runs_event_loop, waiters};

#[cfg(test)]
mod tests;
