//! The rules, one small function each. A specific rule explains one kind of
//! time and requires that time to matter in the run budget; `dominant` names
//! the largest family of time when no specific rule holds.

use super::*;
use crate::diagnose::budget::Budget;
use crate::diagnose::features::Features;

/// Memory: the kernel does much of the CPU work, faulting pages in.
pub fn memory_bound(f: &Features, b: &Budget) -> Option<Decision> {
    let evidence = vec![
        ev(
            "system_cpu_share",
            f.system_fraction(),
            ">=",
            MEMORY_SYSTEM_SHARE,
            "share",
            "share of the program's CPU time spent in the kernel",
        ),
        ev(
            "minor_faults_per_s",
            f.faults_per_s(),
            ">=",
            MEMORY_FAULTS_PER_S,
            "per_s",
            "minor page faults per second",
        ),
        cpu_side_ev(&b.run),
    ];
    decided(
        Verdict::MemoryBound,
        margin(f.system_fraction(), MEMORY_SYSTEM_SHARE),
        evidence,
    )
}

fn gates(b: &Budget, tid: i32) -> Evidence {
    ev(
        "loop_thread_gates_run",
        f64::from(u8::from(b.gating_threads.contains(&tid))),
        ">=",
        1.0,
        "bool",
        "the loop thread gates the end of the run (1) or is a side thread (0)",
    )
}

/// An asyncio loop that spends its time inside long single steps: from
/// stacks (a step is one coroutine resumption, on CPU or queued for one),
/// else from unbroken on-CPU stretches between epoll waits.
pub fn event_loop_blocked(f: &Features, b: &Budget) -> Option<Decision> {
    let from_stacks = f.py.as_ref().and_then(|py| {
        py.loops
            .iter()
            .max_by(|a, b| a.1.long_step_s.total_cmp(&b.1.long_step_s))
            .map(|(&tid, lf)| (tid, share(lf.long_step_s, lf.observed_s), lf.longest_step_s))
    });
    if let Some((tid, long_share, longest)) = from_stacks {
        let evidence = vec![
            ev(
                "loop_long_step_share",
                long_share,
                ">=",
                LOOP_LONG_STEP_SHARE,
                "share",
                "share of the asyncio loop thread's time inside single steps (one coroutine resumption) of 50 ms or more",
            ),
            ev(
                "loop_longest_step_s",
                longest,
                ">=",
                LOOP_LONGEST_STEP_S,
                "s",
                "longest single step: the longest the loop served nothing else (its lag)",
            ),
            gates(b, tid),
        ];
        if let Some(d) = decided(
            Verdict::EventLoopBlocked,
            margin(long_share, LOOP_LONG_STEP_SHARE),
            evidence,
        ) {
            return Some(d);
        }
    }
    let t = f
        .threads
        .iter()
        .filter(|t| t.epoll_samples >= 2)
        .max_by(|a, b| a.long_run_s.total_cmp(&b.long_run_s))?;
    let long_share = share(t.long_run_s, t.observed_s);
    let evidence = vec![
        ev(
            "loop_long_cpu_share",
            long_share,
            ">=",
            LOOP_LONG_STEP_SHARE,
            "share",
            "share of the epoll loop thread's time in on-CPU stretches of 50 ms or more",
        ),
        ev(
            "loop_longest_cpu_stretch_s",
            t.longest_run_s,
            ">=",
            LOOP_LONGEST_STEP_S,
            "s",
            "longest unbroken on-CPU stretch of the loop thread",
        ),
        gates(b, t.tid),
    ];
    decided(
        Verdict::EventLoopBlocked,
        margin(long_share, LOOP_LONG_STEP_SHARE),
        evidence,
    )
}

/// A pool that spends its CPU dispatching rather than doing: from stacks
/// (pool machinery innermost), else from IPC waits and switch rates.
pub fn pool_overhead(f: &Features, b: &Budget) -> Option<Decision> {
    if let Some(py) = &f.py {
        let pool_share = py.dispatch_share();
        let evidence = vec![
            ev(
                "pool_machinery_cpu_share",
                pool_share,
                ">=",
                POOL_MACHINERY_SHARE,
                "share",
                "share of on-CPU Python samples (GIL hand-offs aside) inside executor, multiprocessing, queue, pickle and selector code",
            ),
            ev(
                "on_cpu_stack_samples",
                py.work_samples() as f64,
                ">=",
                POOL_MIN_SAMPLES,
                "samples",
                "on-CPU samples with a Python stack, GIL hand-offs aside (enough to judge)",
            ),
            cpu_side_ev(&b.run),
        ];
        if let Some(d) = decided(
            Verdict::PoolOverhead,
            margin(pool_share, POOL_MACHINERY_SHARE),
            evidence,
        ) {
            return Some(d);
        }
    }
    let ipc_share = share(f.ipc_wait_s, f.thread_time_s);
    let evidence = vec![
        ev(
            "processes",
            f.max_processes as f64,
            ">=",
            POOL_MIN_PROCESSES,
            "processes",
            "processes in the tree at once (a pool and its parent)",
        ),
        ev(
            "ipc_wait_share",
            ipc_share,
            ">=",
            POOL_IPC_SHARE,
            "share",
            "share of thread-time waiting on pipes, unix sockets and shared-memory semaphores (task and result queues)",
        ),
        ev(
            "voluntary_switches_per_s",
            share(f.vol_switches as f64, f.span_s),
            ">=",
            POOL_SWITCHES_PER_S,
            "per_s",
            "voluntary context switches per second, whole tree",
        ),
        cpu_side_ev(&b.run),
    ];
    decided(
        Verdict::PoolOverhead,
        margin(ipc_share, POOL_IPC_SHARE).min(0.8),
        evidence,
    )
}

/// The GIL: several threads want the CPU, they wait on the interpreter's
/// lock, and they do not run C code that released it.
pub fn gil_contended(f: &Features, b: &Budget) -> Option<Decision> {
    let n = f.cores_available as f64;
    let wanting = cpu_competitors(f).len();
    let mut evidence = vec![
        ev(
            "run_gil_wait_share",
            b.run.gil_wait,
            ">=",
            GIL_WAIT_SHARE,
            "share",
            "share of the run's wall time waiting for the interpreter lock (GIL)",
        ),
        ev(
            "threads_wanting_cpu",
            wanting as f64,
            ">=",
            MIN_COMPETING_THREADS,
            "threads",
            "threads that ran, queued or waited for the GIL 30 % or more of their time (a GIL waiter using under a quarter of its peers' mean CPU share excepted)",
        ),
        ev(
            "cores_busy",
            f.cores_busy(),
            "<",
            (0.75 * n).max(1.5),
            "cores",
            "average cores the program kept busy",
        ),
    ];
    if let Some(py) = &f.py {
        evidence.push(ev(
            "gil_free_cpu_share",
            py.nogil_cpu_share(),
            "<",
            GIL_FREE_CPU_SHARE,
            "share",
            "share of the Python threads' on-CPU time spent without the GIL (C code that released it)",
        ));
    }
    evidence.push(cpu_side_ev(&b.run));
    decided(
        Verdict::GilContended,
        margin(b.run.gil_wait, GIL_WAIT_SHARE),
        evidence,
    )
}

/// An application lock: the run waits on a lock other threads hold.
pub fn lock_contended(_f: &Features, b: &Budget) -> Option<Decision> {
    let queueing = b
        .threads
        .iter()
        .filter(|t| t.shares.lock_wait >= LOCK_THREAD_SHARE)
        .count();
    let evidence = vec![
        ev(
            "run_lock_wait_share",
            b.run.lock_wait,
            ">=",
            LOCK_WAIT_SHARE,
            "share",
            "share of the run's wall time blocked on a lock another thread held",
        ),
        ev(
            "lock_waiting_threads",
            queueing as f64,
            ">=",
            MIN_COMPETING_THREADS,
            "threads",
            "threads that spent 15 % or more of their time blocked on a lock",
        ),
    ];
    decided(
        Verdict::LockContended,
        margin(b.run.lock_wait, LOCK_WAIT_SHARE),
        evidence,
    )
}

/// The largest family of the run's time, when it holds [`DOMINANT_SHARE`].
pub fn dominant(f: &Features, b: &Budget) -> Decision {
    let r = &b.run;
    let n = f.cores_available as f64;
    let families = [
        (
            r.cpu() + r.gil_wait,
            "run_cpu_share",
            "share of the run's wall time on a CPU, queued for one or waiting for the GIL",
        ),
        (
            r.disk,
            "run_disk_share",
            "share of the run's wall time blocked on storage",
        ),
        (
            r.network,
            "run_network_share",
            "share of the run's wall time blocked on network sockets",
        ),
        (
            r.sleep + r.parked + r.other,
            "run_idle_share",
            "share of the run's wall time asleep, parked or waiting on nothing the program controls",
        ),
        (
            r.lock_wait,
            "run_lock_wait_share",
            "share of the run's wall time blocked on a lock another thread held",
        ),
    ];
    let (top_i, &(top, rule, meaning)) = families
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.0.total_cmp(&b.1.0))
        .expect("non-empty");
    let runner_up = families
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != top_i)
        .map(|(_, f)| f.0)
        .fold(0.0, f64::max);
    let margin_ev = ev(
        "dominant_over_next",
        if runner_up > 0.0 {
            (top / runner_up).min(99.0)
        } else {
            99.0
        },
        ">=",
        DOMINANT_MARGIN,
        "ratio",
        "the largest family's share over the next largest's (below it, two bounds share the run)",
    );
    let clear = margin_ev.passed;
    let mut evidence = vec![
        ev(rule, top, ">=", DOMINANT_SHARE, "share", meaning),
        margin_ev,
    ];
    if top < DOMINANT_SHARE || !clear {
        for (v, r, m) in families.iter().filter(|c| c.1 != rule) {
            evidence.push(ev(r, *v, ">=", DOMINANT_SHARE, "share", m));
        }
        return Decision {
            verdict: Verdict::Mixed,
            strength: 0.4,
            evidence,
        };
    }
    let strength = margin(top, DOMINANT_SHARE);
    let verdict = match top_i {
        0 => {
            let wanted = f.cores_wanted();
            let meaning = "cores the program used or waited for (CPU time + run-queue delay per second); parallel from 70 % of the CPUs";
            let threshold = PARALLEL_CORES_SHARE * n;
            if wanted >= threshold && n >= 2.0 {
                evidence.push(ev(
                    "cores_wanted",
                    wanted,
                    ">=",
                    threshold,
                    "cores",
                    meaning,
                ));
                Verdict::CpuParallel
            } else {
                evidence.push(ev("cores_wanted", wanted, "<", threshold, "cores", meaning));
                Verdict::CpuSerial
            }
        }
        1 => Verdict::IoDisk,
        2 => Verdict::IoNetwork,
        3 => {
            let quiet = ev(
                "cores_busy",
                f.cores_busy(),
                "<",
                IDLE_MAX_CORES_BUSY,
                "cores",
                "average cores the program kept busy",
            );
            let ok = quiet.passed;
            evidence.push(quiet);
            if !ok {
                return Decision {
                    verdict: Verdict::Mixed,
                    strength: 0.4,
                    evidence,
                };
            }
            Verdict::Idle
        }
        _ => Verdict::LockContended,
    };
    Decision {
        verdict,
        strength,
        evidence,
    }
}
