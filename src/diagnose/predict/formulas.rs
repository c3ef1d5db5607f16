//! The formula of each strategy's prediction (see the module above and
//! `docs/diagnosis.md` § 3): each returns a [`Prediction`] from the inputs.

use super::*;

impl Inputs {
    /// No way of running the same CPU work ends before it fits on the
    /// cores, nor gains more than the cores from spreading it.
    pub(super) fn floor(&self) -> f64 {
        (self.cpu_total / self.cores)
            .max(self.t / self.cores)
            .min(self.t)
    }
}

/// Whether a disk wait is a flush to stable storage (`fsync`, `fdatasync`,
/// a journal commit, a cache flush), a plain read or write, or unknown (no
/// syscall and no kernel function could be read).
pub(super) fn flush_wait(t: &crate::timeline::ThreadSample) -> Option<bool> {
    const FLUSH: [&str; 4] = ["sync", "submit_bio_wait", "jbd2", "flush"];
    let is_flush = |x: &str| FLUSH.iter().any(|f| x.contains(f));
    match (t.syscall.as_deref(), t.wchan.as_deref()) {
        (None, None) => None,
        (sc, wc) => Some(sc.is_some_and(is_flush) || wc.is_some_and(is_flush)),
    }
}

/// Processes or subinterpreters: one GIL per worker.
pub(super) fn parallel(i: &Inputs, s: Strategy, start: (f64, f64)) -> Prediction {
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
    let section = (i.section + i.lock_python).min(i.t);
    let redo = |eff: f64, start_s: f64| {
        (i.t - section + (serial + (i.work - serial) / (m * eff)).min(section) + start_s * m)
            .max(i.floor())
    };
    let how = if i.k >= 2.0 {
        format!("the {} threads wanting a CPU", i.k)
    } else {
        "the one busy thread, split into independent pieces".to_string()
    };
    let locked = if i.lock_python > 0.005 * i.t {
        format!(
            ", and {:.0} % waiting on a lock held around Python work, if each worker keeps its own part of the locked state",
            100.0 * i.lock_python / i.t
        )
    } else {
        String::new()
    };
    let mut p = pred(
        s,
        i.t,
        (
            redo(1.0, start.0),
            redo(POOL_EFFICIENCY_LOW, start.1),
            redo(1.0, 0.0),
        ),
        format!(
            "{:.0} % of the run is {}{locked}; its {:.2} s of CPU spread over {m} workers ({how}), {:.2} s start-up each; low: {:.0} % efficiency",
            100.0 * i.section / i.t,
            i.section_what,
            i.work,
            start.0,
            POOL_EFFICIENCY_LOW * 100.0
        ),
    );
    p.needs_code_change = i.k < 2.0;
    p
}

/// A free-threaded build: the section's work spread over the existing
/// threads, slower single-threaded, but only in the interpreter: the share
/// of the work in GIL-free native code (zlib, hashlib) runs the same C code.
pub(super) fn free_threaded(i: &Inputs) -> Prediction {
    let m = i.k.min(i.cores).max(1.0);
    let slower = |slow: f64| i.python_share * slow + (1.0 - i.python_share);
    let redo = |slow: f64| {
        let slow = slower(slow);
        (i.t - i.section + (i.work * slow / m).min(i.section * slow)).max(i.floor())
    };
    let (c, lo, hi) = FREE_THREADED_SLOWDOWN;
    pred(
        Strategy::FreeThreaded,
        i.t,
        (redo(c), redo(lo), redo(hi)),
        format!(
            "no GIL: the {:.0} % of the run that is {}, spread over {m} existing threads; its Python ({:.0} % of the work) {c}x slower single-threaded (low {lo}x, high {hi}x), its native code unchanged",
            100.0 * i.section / i.t,
            i.section_what,
            100.0 * i.python_share
        ),
    )
}

pub(super) fn threads(i: &Inputs, net: f64, disk: f64, native: f64) -> Prediction {
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
/// threads of one process: the calls the main thread makes stay, the pool's
/// helper threads and the workers' dispatch (pickling, pipes, wake-ups) go,
/// and all of the work then shares one GIL. The CPU-side section (with its
/// GIL and run-queue waits) scales with the CPU on its critical path.
pub(super) fn onto_threads(i: &Inputs, cpu_side: f64) -> Prediction {
    let section = (cpu_side * i.t).min(i.t);
    let c = &i.split;
    let now = c.critical_s(i.cores, 0.0);
    let redo = |kept: f64| {
        let ratio = if now > 0.0 {
            c.on_one_gil_s(kept) / now
        } else {
            1.0
        };
        // What stays is serial on one GIL: the run takes at least its CPU.
        (i.t - section * (1.0 - ratio)).max(c.on_one_gil_s(kept).min(i.t))
    };
    pred(
        Strategy::Threads,
        i.t,
        (redo(0.0), redo(THREAD_POOL_DISPATCH_KEPT), redo(0.0)),
        format!(
            "the work runs in {} processes now: on threads its {:.2} s of CPU share one GIL (serial), and the pool's own {:.2} s of dispatch (helper threads, pickling, pipes) goes (low: {:.0} % of it){}",
            i.busy_processes,
            c.on_one_gil_s(0.0),
            c.dispatch_s(),
            (1.0 - THREAD_POOL_DISPATCH_KEPT) * 100.0,
            if c.proxy_s >= POOL_MACHINERY_MIN_S {
                format!(
                    "; the {:.2} s of calls through a Manager's proxies stay",
                    c.proxy_s
                )
            } else {
                String::new()
            }
        ),
    )
}

/// The further overlap at end `k` (0 center, 1 low, 2 high) of waits that
/// reach `total` at once, when `now` are in flight together already.
pub(super) fn overlap(k: usize, now: f64, total: (f64, f64, f64)) -> f64 {
    let target = [total.0, total.1, total.2][k];
    if now >= CONCURRENT_WAITERS {
        (target / now).max(1.0)
    } else {
        target
    }
}

pub(super) fn asyncio(i: &Inputs, net: f64) -> Prediction {
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

/// Bigger tasks: each thread's and process's pool machinery shrinks by the
/// chunk size, the work itself stays. `cpu_side` is the run's CPU, run-queue
/// and GIL-wait share; it scales with the CPU on the critical path (the
/// dispatch threads cause their own GIL waits and queueing too). IPC waits
/// shrink alike; `fsync` waits are shared by a batch of writes. Large
/// messages cost by their bytes: bigger tasks move as many, so then only the
/// per-task part of the machinery (and of the IPC waits) goes.
pub(super) fn batch(i: &Inputs, f: &Features, cpu_side: f64, ipc: f64, disk: f64) -> Prediction {
    let (pool, copy) =
        f.py.as_ref()
            .map_or((0.0, 0.0), |py| (py.pool_cpu_share(), py.copy_cpu_share()));
    let per_task = if i.bytes_per_write >= LARGE_MESSAGE_BYTES && pool > 0.0 {
        ((pool - copy) / pool).clamp(0.0, 1.0)
    } else {
        1.0
    };
    let c = &i.split;
    let section = (cpu_side * i.t).min(i.t);
    let now = c.critical_s(i.cores, 0.0);
    let ran = c.main_machinery_s + c.own_machinery_s + c.child_machinery_s;
    let machinery = ran * per_task;
    // IPC waits are a pool's to remove only when its machinery ran.
    let ipc = if ran >= POOL_MACHINERY_MIN_S {
        ipc
    } else {
        0.0
    };
    let fsync = disk * i.fsync_share;
    // Calls through a Manager's proxies go only when the program batches
    // them itself (one update per task): no bigger chunk removes them.
    let proxied = ran > 0.0 && c.proxy_s > 0.5 * ran;
    let redo = |k: usize| {
        let removed = [BATCH_REMOVED.0, BATCH_REMOVED.1, BATCH_REMOVED.2][k] * per_task;
        let per = [FSYNC_BATCH.0, FSYNC_BATCH.1, FSYNC_BATCH.2][k];
        let ratio = if now > 0.0 {
            c.critical_s(i.cores, removed) / now
        } else {
            1.0
        };
        i.t - section * (1.0 - ratio) - i.t * (ipc * removed + fsync * (1.0 - 1.0 / per))
    };
    let mut p = pred(
        Strategy::Batch,
        i.t,
        (redo(0), redo(1), redo(2)),
        batch_basis(machinery, ipc, fsync),
    );
    if proxied {
        p.basis = format!(
            "{}; {:.2} s of it are calls through a Manager's proxies, one per item: gone only when each task sends one update",
            p.basis, c.proxy_s
        );
        p.needs_code_change = true;
    }
    p
}

/// What `batch` would remove: the pool's per-task machinery, the `fsync`
/// waits, or both; only the parts the run has (below half a percent of it,
/// or a hundredth of a second of machinery, a part is left unsaid).
pub(super) fn batch_basis(machinery: f64, ipc: f64, fsync: f64) -> String {
    let pool = (machinery >= POOL_MACHINERY_MIN_S || ipc >= 0.005).then(|| {
        format!(
            "bigger tasks: the pool machinery ({:.2} s of CPU, IPC waits {:.0} % of the run) {:.0} % removed (low {:.0} %)",
            machinery,
            ipc * 100.0,
            BATCH_REMOVED.0 * 100.0,
            BATCH_REMOVED.1 * 100.0,
        )
    });
    let sync = (fsync >= 0.005).then(|| {
        format!(
            "fsync waits {:.0} % of the run shared by {} writes (low {})",
            fsync * 100.0,
            FSYNC_BATCH.0,
            FSYNC_BATCH.1
        )
    });
    match (pool, sync) {
        (Some(p), Some(s)) => format!("{p}; {s}"),
        (Some(p), None) => p,
        (None, Some(s)) => s,
        (None, None) => "no pool machinery or fsync waits to batch".to_string(),
    }
}

/// A process pool whose arguments travel through shared memory: the
/// copying part of the pool machinery (its share of on-CPU samples, and the
/// IPC waits in the same proportion of the machinery) mostly goes.
pub(super) fn shared_memory(i: &Inputs, f: &Features, cpu_side: f64, ipc: f64) -> Prediction {
    let (copy, pool) =
        f.py.as_ref()
            .map_or((0.0, 0.0), |py| (py.copy_cpu_share(), py.pool_cpu_share()));
    if i.busy_processes < 2 || copy <= 0.0 {
        return pred(
            Strategy::SharedMemory,
            i.t,
            (i.t, i.t, i.t),
            "no process pool moving task data (pickling, pipes) was seen: nothing to share".into(),
        );
    }
    if i.bytes_per_write < LARGE_MESSAGE_BYTES {
        return pred(
            Strategy::SharedMemory,
            i.t,
            (i.t, i.t, i.t),
            format!(
                "the pool's messages are small ({}): its copying is per task, which bigger tasks remove, not shared memory",
                if i.bytes_per_write > 0.0 {
                    format!("{:.0} bytes per write", i.bytes_per_write)
                } else {
                    "bytes per write not recorded".to_string()
                }
            ),
        );
    }
    let of_machinery = if pool > 0.0 { copy / pool } else { 0.0 };
    let moved = (copy * cpu_side + ipc * of_machinery).min(1.0);
    let redo = |removed: f64| i.t * (1.0 - moved * removed);
    pred(
        Strategy::SharedMemory,
        i.t,
        (
            redo(SHM_REMOVED.0),
            redo(SHM_REMOVED.1),
            redo(SHM_REMOVED.2),
        ),
        format!(
            "the pool moves large arguments ({:.0} KiB per write) by pickling and pipes: {:.0} % of on-CPU samples, with the IPC waits in proportion, {:.0} % of the run; shared memory removes {:.0} % of it (low {:.0} %)",
            i.bytes_per_write / 1024.0,
            copy * 100.0,
            moved * 100.0,
            SHM_REMOVED.0 * 100.0,
            SHM_REMOVED.1 * 100.0
        ),
    )
}

pub(super) fn shrink_lock(i: &Inputs, lock: f64, behind_python: f64, waiters: f64) -> Prediction {
    // Only the waits while the GIL was free go: during the rest the holder
    // ran Python, and with the lock shrunk the waiters would wait for the
    // GIL instead. What the lock serialised then runs once per waiter plus
    // the holder at a time, so at best 1/(waiters + 1) of it stays. The work
    // still needs the cores, its Python one GIL.
    let removable = lock * (1.0 - behind_python);
    let stays = 1.0 / (waiters.max(1.0) + 1.0);
    let floor = (i.cpu_total / i.cores).max(i.one_gil_s).min(i.t);
    let redo = |kept: f64| (i.t * (1.0 - removable * (1.0 - kept))).max(floor);
    let free = if lock > 0.005 {
        format!(
            ", {:.0} % of it while the holder's process ran no Python",
            (1.0 - behind_python) * 100.0
        )
    } else {
        String::new()
    };
    pred(
        Strategy::ShrinkLock,
        i.t,
        (redo(stays), redo(stays.max(0.5)), redo(stays)),
        format!(
            "{:.0} % of the run waits on a lock another thread holds{free}; holding the lock only around shared state lets the {:.1} threads queued on it at a time run with the holder (low: half the wait goes); the {:.2} s of CPU still needs the {} cores and its {:.2} s of Python one GIL",
            lock * 100.0,
            waiters.max(1.0),
            i.cpu_total,
            i.cores,
            i.one_gil_s
        ),
    )
}

/// The gating asyncio loop with the most time in its own steps: that share
/// of its time, and the shares of its in-step time blocked on sockets or
/// sleeps, and on the disk (see `LoopFigures::in_step_blocked_s`).
pub(super) fn gating_loop(f: &Features, b: &Budget) -> Option<(f64, f64, f64)> {
    f.py.as_ref().and_then(|py| {
        py.loops
            .iter()
            .filter(|(tid, _)| b.gating_threads.contains(tid))
            .map(|(_, lf)| {
                let share = |part: f64, of: f64| if of > 0.0 { part / of } else { 0.0 };
                let blocked = share(lf.in_step_blocked_s, lf.in_step_s).clamp(0.0, 1.0);
                let disk = share(lf.in_step_disk_s, lf.in_step_s).clamp(0.0, 1.0 - blocked);
                let long = share(lf.multi_tick_step_s, lf.observed_s).min(1.0);
                (long, blocked, disk)
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
    })
}

/// Moving the loop's own steps off it: their CPU onto a process pool
/// (`run_in_executor`), where it spreads over the cores; their blocking
/// calls onto threads (`asyncio.to_thread`, the default executor), where
/// they overlap as gathered awaits would, up to that executor's size. A
/// step blocked in `urlopen` is not CPU: modelled as CPU, 90 blocking
/// fetches were predicted 1.9x from two cores where threads overlap them.
pub(super) fn offload(i: &Inputs, f: &Features, b: &Budget) -> Prediction {
    let Some((long, blocked, disk)) = gating_loop(f, b).filter(|l| l.0 > 0.0) else {
        return pred(
            Strategy::Offload,
            i.t,
            (i.t, i.t, i.t),
            "no asyncio loop gates this run: nothing to move off a loop".to_string(),
        );
    };
    let executor = (i.cores + DEFAULT_EXECUTOR_EXTRA).min(DEFAULT_EXECUTOR_MAX);
    let (cpu, waits, syncs) = (long * (1.0 - blocked - disk), long * blocked, long * disk);
    let redo = |eff: f64, start_s: f64, k: usize| {
        let n = overlap(k, 1.0, NET_OVERLAP).min(executor);
        let d = overlap(k, 1.0, DISK_OVERLAP).min(executor);
        let moved = cpu * i.t / (i.cores * eff) + waits * i.t / n + syncs * i.t / d;
        let start = if cpu > 0.0 { start_s * i.cores } else { 0.0 };
        moved.max((1.0 - long) * i.t) + start
    };
    pred(
        Strategy::Offload,
        i.t,
        (
            redo(1.0, PROCESS_START_S.0, 0),
            redo(POOL_EFFICIENCY_LOW, PROCESS_START_S.1, 1),
            redo(1.0, 0.0, 2),
        ),
        format!(
            "the loop spends {:.0} % of its time in steps of its own (seen on two ticks or more), {:.0} % of that blocked in calls ({:.0} % on the disk, overlapping {}x); the calls moved to threads (`asyncio.to_thread`) overlap {}x (low {}x, at most the default executor's {executor}), the CPU moved to a process pool (`loop.run_in_executor`) runs on {} cores while the loop serves I/O; low: {:.0} % efficiency",
            long * 100.0,
            (blocked + disk) * 100.0,
            disk * 100.0,
            DISK_OVERLAP.0,
            NET_OVERLAP.0.min(executor),
            NET_OVERLAP.1.min(executor),
            i.cores,
            POOL_EFFICIENCY_LOW * 100.0
        ),
    )
}

/// Native code: the Python side of the run (its CPU and GIL waits) some
/// times faster.
///
/// `kernel` is the kernel's share of the tree's CPU: page faults, zeroing
/// fresh memory, copies in system calls. Native code does not make the
/// kernel faster, so that part of the Python side stays (a loop allocating
/// fresh 32 MiB buffers spent 62 % of its CPU in the kernel and was
/// predicted 9.7–43x from native code).
pub(super) fn native(i: &Inputs, py_side: f64, kernel: f64) -> Prediction {
    let kernel = kernel.clamp(0.0, 1.0);
    let user_side = py_side * (1.0 - kernel);
    let redo = |factor: f64| i.t * (1.0 - user_side * (1.0 - 1.0 / factor));
    let stays = if kernel >= KERNEL_NOTED {
        format!(
            " (its kernel time, {:.0} % of the CPU, stays)",
            kernel * 100.0
        )
    } else {
        String::new()
    };
    pred(
        Strategy::Native,
        i.t,
        (redo(NATIVE_FACTOR.0), i.t, redo(NATIVE_FACTOR.1)),
        format!(
            "an estimate, not a bound: the {:.0} % of the run running or awaiting pure-Python CPU{stays} {}x faster (high {}x); how much faster depends on the code, and native code may use more cores too (low 1x)",
            py_side * 100.0,
            NATIVE_FACTOR.0,
            NATIVE_FACTOR.1
        ),
    )
}

/// A kernel share of the CPU from which the native basis says it stays.
const KERNEL_NOTED: f64 = 0.05;
