//! What-if: a predicted speedup for every strategy, from the run budget.
//!
//! Each remedy changes some parts of the run's wall time `T` and leaves the
//! rest. The model is deliberately simple (Amdahl's law applied to the
//! budget), so that its assumption can be written beside the number and a
//! re-run can check it:
//! - **processes / interpreters / free-threaded**: the CPU-side section of
//!   the run (on a CPU, queued, waiting for the GIL) is redone as the
//!   program's CPU seconds spread over `m = min(threads wanting a CPU, cores)`
//!   workers — over all cores for a single thread, *if* its iterations are
//!   independent — never slower than it is now, plus a start-up cost per
//!   process; a free-threaded build pays its single-thread slowdown instead.
//! - **threads / asyncio**: waits on the network (and, for threads, on the
//!   disk, and GIL-free native CPU) overlap `N` at a time.
//! - **batch**: pool machinery (CPU in executor/pickle/queue code and IPC
//!   waits) mostly removed, and `fsync` waits shared by `B` writes.
//! - **shrink-lock**: the time serialised behind a lock is removed, but the
//!   CPU work still needs the cores.
//! - **offload**: the event loop's long steps run on the cores while the loop
//!   serves I/O.
//! - **native**: the pure-Python CPU (and the GIL waits it causes) `F` times
//!   faster; how much faster depends on the code, so the low end is 1.0 and
//!   it is shown as a ceiling rather than recommended on prediction alone.
//!
//! `low` and `high` repeat the formula under the pessimistic and optimistic
//! end of each assumption.

use super::budget::Budget;
use super::features::Features;
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
/// Single-thread slowdown of a free-threaded build (center, low end, high end),
/// measured 1.1–1.5x on this kind of machine (`shared/docs/python314.md`).
pub const FREE_THREADED_SLOWDOWN: (f64, f64, f64) = (1.25, 1.5, 1.1);
/// Network waits that overlap when made concurrent (center, low, high).
pub const NET_OVERLAP: (f64, f64, f64) = (8.0, 4.0, 16.0);
/// Disk waits that overlap on one device (center, low, high).
pub const DISK_OVERLAP: (f64, f64, f64) = (2.0, 1.3, 4.0);
/// Share of pool machinery time that bigger tasks remove (center, low, high).
pub const BATCH_REMOVED: (f64, f64, f64) = (0.8, 0.5, 0.95);
/// Writes per `fsync` once batched (center, low, high).
pub const FSYNC_BATCH: (f64, f64, f64) = (8.0, 2.0, 32.0);
/// How much faster native code runs pure-Python work (center, high).
pub const NATIVE_FACTOR: (f64, f64) = (10.0, 50.0);
/// Waiters at once above which I/O is already concurrent.
pub const CONCURRENT_WAITERS: f64 = 1.5;
/// A remedy is worth recommending on prediction alone from this speedup…
pub const WORTH_PREDICTED: f64 = 1.3;
/// …when even its pessimistic end is at least this.
pub const WORTH_LOW: f64 = 1.1;

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
    /// Seconds of the run in that work's section (its CPU, run-queue and
    /// GIL waits), outside an event loop's long steps (those are `offload`'s).
    section: f64,
    /// CPU seconds of the whole tree.
    cpu_total: f64,
    /// CPU seconds in pool machinery (dispatch, pickling): serial in the
    /// parent whatever the executor.
    serial_cpu: f64,
    /// Processes that each run one thread wanting a CPU: the work is already
    /// spread over processes.
    split_over: usize,
    /// Processes with at least one thread wanting a CPU.
    busy_processes: usize,
    /// Mean threads waiting on the network / disk when any does.
    net_waiters: f64,
    disk_waiters: f64,
    /// Share of disk-wait samples inside fsync/fdatasync.
    fsync_share: f64,
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
    }
}

/// A predicted speedup for every strategy but `keep`, most promising first.
pub fn predict(tl: &Timeline, f: &Features, b: &Budget) -> Vec<Prediction> {
    // Predict for the program on a quiet machine: the time other programs
    // held the cores is neither a bound nor a gain.
    let r = &b.run.quiet();
    let t = (b.wall_s * (1.0 - b.run.preempted)).max(1e-6);
    let mut per_process: BTreeMap<i32, usize> = BTreeMap::new();
    for th in f
        .threads
        .iter()
        .filter(|th| th.observed_s >= 0.1 && th.wanting_cpu_s() >= 0.3 * th.observed_s)
    {
        *per_process.entry(th.pid).or_default() += 1;
    }
    let wanting: usize = per_process.values().sum();
    let split_over = if per_process.len() >= 2 && per_process.values().all(|&n| n == 1) {
        per_process.len()
    } else {
        0
    };
    let (net_waiters, disk_waiters, fsync_share) = waiters(tl);
    let loop_long = gating_loop_share(f, b).unwrap_or(0.0);
    let pool_share = f.py.as_ref().map_or(0.0, |py| py.pool_cpu_share());
    let (work, section_share) = if wanting >= 2 {
        (
            b.all_threads.cpu_python * f.thread_time_s,
            r.cpu_python + r.gil_wait,
        )
    } else {
        (f.cpu_s, r.cpu_python + r.cpu_native + r.gil_wait)
    };
    let i = Inputs {
        t,
        cores: f.cores_available.max(1) as f64,
        k: wanting.max(1) as f64,
        work,
        section: ((section_share - loop_long).max(0.0) * t).min(t),
        cpu_total: f.cpu_s,
        serial_cpu: pool_share * work,
        split_over,
        busy_processes: per_process.len(),
        net_waiters,
        disk_waiters,
        fsync_share,
    };
    let mut out = vec![
        parallel(&i, Strategy::Processes, PROCESS_START_S),
        parallel(&i, Strategy::Interpreters, INTERPRETER_START_S),
        free_threaded(&i),
        {
            // Threads overlap waits; for work spread over processes they
            // also take the pool's IPC away (and put the work on one GIL).
            let overlap = threads(&i, r.network, r.disk, r.cpu_native);
            match i.busy_processes >= 2 {
                true => {
                    let merged = onto_threads(&i, r.cpu() + r.gil_wait + r.ipc, pool_share);
                    if merged.predicted_speedup > overlap.predicted_speedup {
                        merged
                    } else {
                        overlap
                    }
                }
                false => overlap,
            }
        },
        asyncio(&i, r.network),
        batch(&i, f, r.cpu() + r.gil_wait, r.ipc, r.disk),
        shrink_lock(&i, r.lock_wait),
        offload(&i, f, b),
        native(&i, r.cpu_python + r.gil_wait),
    ];
    // An asyncio program gathers its awaits more cheaply than it moves
    // them onto threads.
    if runs_event_loop(tl, f) {
        for p in &mut out {
            match p.strategy {
                Strategy::Asyncio => p.effort = 1,
                Strategy::Threads => p.effort = 2,
                _ => {}
            }
        }
    }
    out.sort_by(|a, b| b.predicted_speedup.total_cmp(&a.predicted_speedup));
    let version = tl.meta.python_version.as_deref();
    // The cheapest change predicted to pay goes first (see `Strategy::effort`).
    let best = out
        .iter()
        .enumerate()
        .filter(|(_, p)| worth_changing_code(p, version))
        .min_by(|a, b| {
            a.1.effort
                .cmp(&b.1.effort)
                .then(b.1.predicted_speedup.total_cmp(&a.1.predicted_speedup))
        })
        .map(|(j, _)| j);
    if let Some(j) = best {
        let chosen = out.remove(j);
        out.insert(0, chosen);
    }
    out
}

/// Whether the launched process's main thread runs an event loop: asyncio
/// frames in its stack, or (without stacks) waits in `epoll`.
fn runs_event_loop(tl: &Timeline, f: &Features) -> bool {
    let Some(root) = tl.processes.first().map(|p| p.pid) else {
        return false;
    };
    if let Some(py) = &f.py {
        return py.loops.contains_key(&root);
    }
    f.threads
        .iter()
        .any(|t| t.tid == root && t.epoll_samples >= 2)
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
    available && p.predicted_speedup >= WORTH_PREDICTED && p.low >= WORTH_LOW
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

/// Mean concurrent network and disk waiters of the program itself (over
/// ticks with at least one), and the share of disk waits that are flushes.
///
/// Only the launched process's threads count: a test or development server
/// the program started as a child waits on sockets too (in `accept`, or in
/// `epoll` between requests), but its waits are the far end's, not the
/// program's own concurrency. (An event loop's one thread may have one
/// request in flight or many: nothing sampled tells which, so it counts as one.)
fn waiters(tl: &Timeline) -> (f64, f64, f64) {
    let root = tl.processes.first().map(|p| p.pid);
    let own = |t: &&crate::timeline::ThreadSample| root.is_none_or(|r| t.pid == r);
    let (mut net, mut net_ticks, mut disk, mut disk_ticks) = (0.0, 0.0, 0.0, 0.0);
    let (mut fsync, mut known) = (0.0, 0.0);
    for s in &tl.samples {
        let net_waiting: Vec<_> = s
            .threads
            .iter()
            .filter(own)
            .filter(|t| t.state == ThreadState::NetWait)
            .collect();
        let n = net_waiting.len() as f64;
        let d: Vec<_> = s
            .threads
            .iter()
            .filter(own)
            .filter(|t| t.state == ThreadState::DiskWait)
            .collect();
        if n > 0.0 {
            net += n;
            net_ticks += 1.0;
        }
        if !d.is_empty() {
            disk += d.len() as f64;
            disk_ticks += 1.0;
            for t in &d {
                match flush_wait(t) {
                    Some(true) => {
                        fsync += 1.0;
                        known += 1.0;
                    }
                    Some(false) => known += 1.0,
                    None => {}
                }
            }
        }
    }
    let mean = |a: f64, n: f64| if n > 0.0 { a / n } else { 0.0 };
    (
        mean(net, net_ticks),
        mean(disk, disk_ticks),
        mean(fsync, known),
    )
}

impl Inputs {
    /// No way of running the same CPU work ends before it fits on the
    /// cores, nor gains more than the cores from spreading it.
    fn floor(&self) -> f64 {
        (self.cpu_total / self.cores)
            .max(self.t / self.cores)
            .min(self.t)
    }
}

/// Whether a disk wait is a flush to stable storage (`fsync`, `fdatasync`,
/// a journal commit, a cache flush), a plain read or write, or unknown (no
/// syscall and no kernel function could be read).
fn flush_wait(t: &crate::timeline::ThreadSample) -> Option<bool> {
    const FLUSH: [&str; 4] = ["sync", "submit_bio_wait", "jbd2", "flush"];
    let is_flush = |x: &str| FLUSH.iter().any(|f| x.contains(f));
    match (t.syscall.as_deref(), t.wchan.as_deref()) {
        (None, None) => None,
        (sc, wc) => Some(sc.is_some_and(is_flush) || wc.is_some_and(is_flush)),
    }
}

/// Processes or subinterpreters: one GIL per worker.
fn parallel(i: &Inputs, s: Strategy, start: (f64, f64)) -> Prediction {
    if i.split_over >= 2 {
        return pred(
            s,
            i.t,
            (i.t, i.t, i.t),
            format!(
                "the CPU work already runs in {} processes, one busy thread each: nothing left to take off one GIL",
                i.split_over
            ),
        );
    }
    let m = if i.k >= 2.0 {
        i.k.min(i.cores)
    } else {
        i.cores
    };
    let serial = i.serial_cpu.min(i.work);
    let redo = |eff: f64, start_s: f64| {
        (i.t - i.section + (serial + (i.work - serial) / (m * eff)).min(i.section) + start_s * m)
            .max(i.floor())
    };
    let how = if i.k >= 2.0 {
        format!("the {} threads wanting a CPU", i.k)
    } else {
        "the one busy thread, split into independent pieces".to_string()
    };
    pred(
        s,
        i.t,
        (
            redo(1.0, start.0),
            redo(POOL_EFFICIENCY_LOW, start.1),
            redo(1.0, 0.0),
        ),
        format!(
            "{:.0} % of the run is CPU, run-queue or GIL wait; its {:.2} s of CPU spread over {m} workers ({how}), {:.2} s start-up each; low: {:.0} % efficiency",
            100.0 * i.section / i.t,
            i.work,
            start.0,
            POOL_EFFICIENCY_LOW * 100.0
        ),
    )
}

fn free_threaded(i: &Inputs) -> Prediction {
    let m = i.k.min(i.cores).max(1.0);
    let redo =
        |slow: f64| (i.t - i.section + (i.work * slow / m).min(i.section * slow)).max(i.floor());
    let (c, lo, hi) = FREE_THREADED_SLOWDOWN;
    pred(
        Strategy::FreeThreaded,
        i.t,
        (redo(c), redo(lo), redo(hi)),
        format!(
            "no GIL: the CPU-side {:.0} % of the run spread over {m} existing threads, each {c}x slower single-threaded (low {lo}x, high {hi}x)",
            100.0 * i.section / i.t
        ),
    )
}

fn threads(i: &Inputs, net: f64, disk: f64, native: f64) -> Prediction {
    let net_n = |k: usize| overlap(k, i.net_waiters, NET_OVERLAP);
    let disk_n = |k: usize| overlap(k, i.disk_waiters, DISK_OVERLAP);
    // GIL-free native CPU of a single busy thread spreads over the cores.
    let native_gain = if i.k < 2.0 {
        native * (1.0 - 1.0 / i.cores)
    } else {
        0.0
    };
    let redo = |k: usize| {
        i.t * (1.0 - net * (1.0 - 1.0 / net_n(k)) - disk * (1.0 - 1.0 / disk_n(k)))
            - i.t * (if k == 1 { 0.0 } else { native_gain })
    };
    pred(
        Strategy::Threads,
        i.t,
        (redo(0), redo(1), redo(2)),
        format!(
            "waits overlap: network {:.0} % of the run ({:.1} waiting at once now) {}x more at once, disk {:.0} % {}x (low {}x / {}x); GIL-free native CPU {:.0} % over the cores",
            net * 100.0,
            i.net_waiters,
            NET_OVERLAP.0,
            disk * 100.0,
            DISK_OVERLAP.0,
            NET_OVERLAP.1,
            DISK_OVERLAP.1,
            native * 100.0
        ),
    )
}

/// A program whose CPU work already runs in several processes, moved onto
/// threads of one process: the pool's pickling and pipes mostly go (as with
/// `batch`), but all of the Python work then shares one GIL.
fn onto_threads(i: &Inputs, cpu_side: f64, pool_share: f64) -> Prediction {
    let section = (cpu_side * i.t).min(i.t);
    let redo = |removed: f64| i.t - section + i.cpu_total * (1.0 - pool_share * removed);
    pred(
        Strategy::Threads,
        i.t,
        (
            redo(BATCH_REMOVED.0),
            redo(BATCH_REMOVED.1),
            redo(BATCH_REMOVED.2),
        ),
        format!(
            "the work runs in {} processes now: on threads its {:.2} s of CPU share one GIL (serial), less the pool machinery ({:.0} % of on-CPU samples, {:.0} % of it removed)",
            i.busy_processes,
            i.cpu_total,
            pool_share * 100.0,
            BATCH_REMOVED.0 * 100.0
        ),
    )
}

/// The further overlap at end `k` (0 center, 1 low, 2 high) of waits that
/// reach `total` at once, when `now` are in flight together already.
fn overlap(k: usize, now: f64, total: (f64, f64, f64)) -> f64 {
    let target = [total.0, total.1, total.2][k];
    if now >= CONCURRENT_WAITERS {
        (target / now).max(1.0)
    } else {
        target
    }
}

fn asyncio(i: &Inputs, net: f64) -> Prediction {
    let redo = |k: usize| i.t * (1.0 - net * (1.0 - 1.0 / overlap(k, i.net_waiters, NET_OVERLAP)));
    pred(
        Strategy::Asyncio,
        i.t,
        (redo(0), redo(1), redo(2)),
        format!(
            "one loop, many sockets: the {:.0} % of the run waiting on the network overlaps {}x (low {}x); disk and CPU unchanged",
            net * 100.0,
            NET_OVERLAP.0,
            NET_OVERLAP.1
        ),
    )
}

/// `cpu_side` is the run's CPU, run-queue and GIL-wait share: the pool's
/// dispatch threads cause their own GIL waits and queueing too.
fn batch(i: &Inputs, f: &Features, cpu_side: f64, ipc: f64, disk: f64) -> Prediction {
    let pool_cpu = f.py.as_ref().map_or(0.0, |py| py.pool_cpu_share()) * cpu_side;
    let machinery = pool_cpu + ipc;
    let fsync = disk * i.fsync_share;
    let redo = |k: usize| {
        let removed = [BATCH_REMOVED.0, BATCH_REMOVED.1, BATCH_REMOVED.2][k];
        let per = [FSYNC_BATCH.0, FSYNC_BATCH.1, FSYNC_BATCH.2][k];
        i.t * (1.0 - machinery * removed - fsync * (1.0 - 1.0 / per))
    };
    pred(
        Strategy::Batch,
        i.t,
        (redo(0), redo(1), redo(2)),
        format!(
            "bigger tasks: pool machinery and IPC {:.0} % of the run, {:.0} % removed (low {:.0} %); fsync waits {:.0} % shared by {} writes (low {})",
            machinery * 100.0,
            BATCH_REMOVED.0 * 100.0,
            BATCH_REMOVED.1 * 100.0,
            fsync * 100.0,
            FSYNC_BATCH.0,
            FSYNC_BATCH.1
        ),
    )
}

fn shrink_lock(i: &Inputs, lock: f64) -> Prediction {
    let floor = i.cpu_total / i.cores;
    let redo = |kept: f64| (i.t * (1.0 - lock * (1.0 - kept))).max(floor.min(i.t));
    pred(
        Strategy::ShrinkLock,
        i.t,
        (redo(0.0), redo(0.5), redo(0.0)),
        format!(
            "{:.0} % of the run waits on a lock another thread holds; holding it only around shared state removes that wait (low: half), the {:.2} s of CPU still needs the {} cores",
            lock * 100.0,
            i.cpu_total,
            i.cores
        ),
    )
}

/// Share of a gating asyncio loop thread's time inside long steps.
fn gating_loop_share(f: &Features, b: &Budget) -> Option<f64> {
    f.py.as_ref().and_then(|py| {
        py.loops
            .iter()
            .filter(|(tid, _)| b.gating_threads.contains(tid))
            .map(|(_, lf)| {
                if lf.observed_s > 0.0 {
                    lf.long_step_s / lf.observed_s
                } else {
                    0.0
                }
            })
            .max_by(f64::total_cmp)
    })
}

fn offload(i: &Inputs, f: &Features, b: &Budget) -> Prediction {
    let Some(long) = gating_loop_share(f, b).filter(|&l| l > 0.0) else {
        return pred(
            Strategy::Offload,
            i.t,
            (i.t, i.t, i.t),
            "no asyncio loop gates this run: nothing to move off a loop".to_string(),
        );
    };
    let redo = |eff: f64, start_s: f64| {
        (long * i.t / (i.cores * eff)).max((1.0 - long) * i.t) + start_s * i.cores
    };
    pred(
        Strategy::Offload,
        i.t,
        (
            redo(1.0, PROCESS_START_S.0),
            redo(POOL_EFFICIENCY_LOW, PROCESS_START_S.1),
            redo(1.0, 0.0),
        ),
        format!(
            "the loop spends {:.0} % of its time in steps of 50 ms or more; moved to a process pool (`loop.run_in_executor`) they run on {} cores while the loop serves I/O; low: {:.0} % efficiency",
            long * 100.0,
            i.cores,
            POOL_EFFICIENCY_LOW * 100.0
        ),
    )
}

fn native(i: &Inputs, py_side: f64) -> Prediction {
    let redo = |factor: f64| i.t * (1.0 - py_side * (1.0 - 1.0 / factor));
    pred(
        Strategy::Native,
        i.t,
        (redo(NATIVE_FACTOR.0), i.t, redo(NATIVE_FACTOR.1)),
        format!(
            "a ceiling: the {:.0} % of the run running or awaiting pure-Python CPU {}x faster; how much faster depends on the code (low 1x)",
            py_side * 100.0,
            NATIVE_FACTOR.0
        ),
    )
}

#[cfg(test)]
mod tests;
