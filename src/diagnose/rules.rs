//! The rules, tried in order; the first whose checks all pass decides.
//!
//! Order matters where signals overlap: memory-bound programs are also on
//! CPU, a blocked event loop is also a serial CPU program, GIL contention and
//! pool overhead look like partial CPU use. The specific explanations are
//! therefore tried before the general ones (cpu-serial/parallel, I/O, idle),
//! and `mixed` is the answer when no class holds at least
//! [`DOMINANT_SHARE`] of the active thread-time.
//!
//! Thresholds were set on the fixture programs in `fixtures/` on a 2-core VM
//! and leave a wide margin on each side; see `docs/diagnosis.md`.

use super::features::Features;
use super::{Evidence, Verdict};
use crate::timeline::ThreadState;

/// A class must hold this share of active thread-time to be called dominant.
pub const DOMINANT_SHARE: f64 = 0.45;

pub struct Decision {
    pub verdict: Verdict,
    /// 0–1 before the sampling discounts.
    pub strength: f64,
    pub evidence: Vec<Evidence>,
}

fn ev(rule: &str, observed: f64, cmp: &str, threshold: f64, unit: &str, meaning: &str) -> Evidence {
    let passed = match cmp {
        ">=" => observed >= threshold,
        "<" => observed < threshold,
        _ => false,
    };
    Evidence {
        rule: rule.to_string(),
        observed: (observed * 1000.0).round() / 1000.0,
        threshold,
        comparison: cmp.to_string(),
        passed,
        unit: unit.to_string(),
        meaning: meaning.to_string(),
    }
}

fn share(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part / whole } else { 0.0 }
}

/// Strength from how far a share clears its threshold (0.5 at the threshold, →1 at 1.0).
fn margin(observed: f64, threshold: f64) -> f64 {
    if threshold >= 1.0 {
        return 0.5;
    }
    (0.5 + 0.5 * (observed - threshold) / (1.0 - threshold)).clamp(0.3, 1.0)
}

pub fn decide(f: &Features) -> Decision {
    let n = f.cores_available as f64;
    let busy = f.cores_busy();
    let active = f.active_time_s();
    let all_pass = |e: &[Evidence]| e.iter().all(|x| x.passed);

    if f.samples < 3 || f.thread_time_s <= 0.0 {
        return Decision {
            verdict: Verdict::Mixed,
            strength: 0.1,
            evidence: vec![ev(
                "samples",
                f.samples as f64,
                ">=",
                3.0,
                "samples",
                "samples taken",
            )],
        };
    }

    // Memory: the kernel does much of the work, faulting pages in.
    let mem = vec![
        ev(
            "system_cpu_share",
            f.system_fraction(),
            ">=",
            0.35,
            "share",
            "share of the program's CPU time spent in the kernel",
        ),
        ev(
            "minor_faults_per_s",
            f.faults_per_s(),
            ">=",
            30_000.0,
            "per_s",
            "minor page faults per second",
        ),
        ev(
            "cores_busy",
            busy,
            ">=",
            0.25,
            "cores",
            "average cores the program kept busy",
        ),
    ];
    if all_pass(&mem) {
        let strength = margin(f.system_fraction(), 0.35);
        return Decision {
            verdict: Verdict::MemoryBound,
            strength,
            evidence: mem,
        };
    }

    // Event loop, from stacks: a loop thread spends much of its time inside
    // single steps of 50 ms or more (on CPU or queued for one: a step is a
    // step whether or not other load delays it).
    if let Some((_, lf)) = f.py.as_ref().and_then(|py| {
        py.loops
            .iter()
            .max_by(|a, b| a.1.long_step_s.total_cmp(&b.1.long_step_s))
    }) {
        let long_share = share(lf.long_step_s, lf.observed_s);
        let loop_ev = vec![
            ev(
                "loop_long_step_share",
                long_share,
                ">=",
                0.4,
                "share",
                "share of the asyncio loop thread's time inside single steps (one coroutine resumption) of 50 ms or more",
            ),
            ev(
                "loop_longest_step_s",
                lf.longest_step_s,
                ">=",
                0.05,
                "s",
                "longest single step: the longest the loop served nothing else (its lag)",
            ),
        ];
        if all_pass(&loop_ev) {
            return Decision {
                verdict: Verdict::EventLoopBlocked,
                strength: margin(long_share, 0.4),
                evidence: loop_ev,
            };
        }
    }

    // Event loop: a thread that sits in epoll between long on-CPU stretches.
    if let Some(t) = f
        .threads
        .iter()
        .filter(|t| t.epoll_samples >= 2)
        .max_by(|a, b| a.long_run_s.total_cmp(&b.long_run_s))
    {
        let long_share = share(t.long_run_s, t.observed_s);
        let loop_ev = vec![
            ev(
                "event_loop_polls",
                t.epoll_samples as f64,
                ">=",
                2.0,
                "samples",
                "samples of the loop thread waiting in epoll (an event loop)",
            ),
            ev(
                "loop_long_cpu_share",
                long_share,
                ">=",
                0.4,
                "share",
                "share of the loop thread's time in on-CPU stretches of 50 ms or more",
            ),
            ev(
                "loop_longest_cpu_stretch_s",
                t.longest_run_s,
                ">=",
                0.05,
                "s",
                "longest unbroken on-CPU stretch of the loop thread",
            ),
        ];
        if all_pass(&loop_ev) {
            return Decision {
                verdict: Verdict::EventLoopBlocked,
                strength: margin(long_share, 0.4),
                evidence: loop_ev,
            };
        }
    }

    // Pool overhead, from stacks: the CPU goes to pool machinery (queues,
    // pickling, wake-ups) rather than to the submitted functions.
    if let Some(py) = &f.py {
        let pool_share = py.pool_cpu_share();
        let pool_ev = vec![
            ev(
                "pool_machinery_cpu_share",
                pool_share,
                ">=",
                0.5,
                "share",
                "share of on-CPU Python samples inside executor, multiprocessing, queue, pickle and selector code",
            ),
            ev(
                "on_cpu_stack_samples",
                py.cpu_samples as f64,
                ">=",
                20.0,
                "samples",
                "on-CPU samples with a Python stack (enough to judge)",
            ),
            ev(
                "cores_busy",
                busy,
                ">=",
                0.1,
                "cores",
                "average cores the program kept busy",
            ),
        ];
        if all_pass(&pool_ev) {
            return Decision {
                verdict: Verdict::PoolOverhead,
                strength: margin(pool_share, 0.5),
                evidence: pool_ev,
            };
        }
    }

    // GIL: several threads want the CPU, about one core is busy, and they wait
    // on the interpreter's lock.
    let wanting = f
        .threads
        .iter()
        .filter(|t| share(t.wanting_cpu_s(), t.observed_s) >= 0.3 && t.observed_s >= 0.1)
        .count();
    let gil_share = share(f.gil_wait_s, active);
    let mut gil = vec![
        ev(
            "gil_wait_share",
            gil_share,
            ">=",
            0.25,
            "share",
            "share of active thread-time waiting for the interpreter lock (GIL)",
        ),
        ev(
            "threads_wanting_cpu",
            wanting as f64,
            ">=",
            2.0,
            "threads",
            "threads that ran or waited to run for 30 % or more of their time",
        ),
        ev(
            "cores_busy",
            busy,
            "<",
            (0.75 * n).max(1.5),
            "cores",
            "average cores the program kept busy",
        ),
    ];
    // With stacks: threads on CPU *without* the GIL run C code that released
    // it (hashlib, zlib, numpy) in parallel; that is not contention.
    if let Some(py) = &f.py {
        gil.push(ev(
            "gil_free_cpu_share",
            py.nogil_cpu_share(),
            "<",
            0.6,
            "share",
            "share of the Python threads' on-CPU time spent without the GIL (C code that released it)",
        ));
    }
    if all_pass(&gil) {
        return Decision {
            verdict: Verdict::GilContended,
            strength: margin(gil_share, 0.25),
            evidence: gil,
        };
    }

    // Pool overhead: several processes that mostly pass messages, with a
    // switch rate far above what real work causes.
    let ipc_share = share(f.ipc_wait_s, f.thread_time_s);
    let switch_rate = share(f.vol_switches as f64, f.span_s);
    let io_share = share(
        f.state(ThreadState::DiskWait) + f.state(ThreadState::NetWait),
        active,
    );
    let pool = vec![
        ev(
            "processes",
            f.max_processes as f64,
            ">=",
            3.0,
            "processes",
            "processes in the tree at once (a pool and its parent)",
        ),
        ev(
            "ipc_wait_share",
            ipc_share,
            ">=",
            0.2,
            "share",
            "share of thread-time waiting on pipes, unix sockets and shared-memory semaphores (task and result queues)",
        ),
        ev(
            "voluntary_switches_per_s",
            switch_rate,
            ">=",
            2_000.0,
            "per_s",
            "voluntary context switches per second, whole tree",
        ),
        ev(
            "io_wait_share",
            io_share,
            "<",
            0.25,
            "share",
            "share of active thread-time waiting on disk or network (a pool of I/O tasks is not overhead)",
        ),
    ];
    if all_pass(&pool) {
        return Decision {
            verdict: Verdict::PoolOverhead,
            strength: margin(ipc_share, 0.2).min(0.8),
            evidence: pool,
        };
    }

    // Application lock: threads wait on a heap futex and are woken often.
    let lock_share = share(f.contended_lock_s, active);
    let lock_waiters = f
        .threads
        .iter()
        .filter(|t| share(t.contended_lock_s, t.observed_s) >= 0.2)
        .count();
    let lock = vec![
        ev(
            "contended_lock_wait_share",
            lock_share,
            ">=",
            0.3,
            "share",
            "share of active thread-time blocked on an application lock that other threads waited on too",
        ),
        ev(
            "lock_waiting_threads",
            lock_waiters as f64,
            ">=",
            2.0,
            "threads",
            "threads that spent 20 % or more of their time queueing on a shared lock",
        ),
    ];
    if all_pass(&lock) {
        return Decision {
            verdict: Verdict::LockContended,
            strength: margin(lock_share, 0.3),
            evidence: lock,
        };
    }

    // The general classes: which kind of time dominates the active thread-time.
    // CPU from exact run time and run-queue delay, not from `R` snapshots: a
    // thread woken from I/O shows `R` for a moment without using the CPU.
    let cpu = share(f.cpu_s + f.run_delay_s, active).min(1.0);
    let classes = [
        (
            cpu,
            "cpu_share",
            "CPU time plus run-queue delay, as a share of active thread-time",
        ),
        (
            share(f.state(ThreadState::DiskWait), active),
            "disk_wait_share",
            "share of active thread-time blocked on storage",
        ),
        (
            share(f.state(ThreadState::NetWait), active),
            "net_wait_share",
            "share of active thread-time blocked on network sockets",
        ),
        (
            share(f.state(ThreadState::Sleep), active),
            "sleep_share",
            "share of active thread-time sleeping on timers",
        ),
    ];
    let (top_i, &(top, rule, meaning)) = classes
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.0.total_cmp(&b.1.0))
        .expect("non-empty");
    let mut evidence = vec![ev(rule, top, ">=", DOMINANT_SHARE, "share", meaning)];
    if active <= 0.0 || top < DOMINANT_SHARE {
        for (v, r, m) in classes.iter().filter(|c| c.1 != rule) {
            evidence.push(ev(r, *v, ">=", DOMINANT_SHARE, "share", m));
        }
        // Nothing active at all and no CPU use: the program is simply waiting.
        let verdict = if active <= 0.0 && busy < 0.05 {
            Verdict::Idle
        } else {
            Verdict::Mixed
        };
        return Decision {
            verdict,
            strength: 0.4,
            evidence,
        };
    }
    let strength = margin(top, DOMINANT_SHARE);
    let verdict = match top_i {
        0 => {
            // Cores *wanted* (run time + run-queue delay): a parallel program
            // squeezed by other load still wants them all (see the
            // `cpu-competition` caveat), a serial one never wants more than one.
            let wanted = f.cores_wanted();
            let meaning = "cores the program used or waited for (CPU time + run-queue delay per second); parallel from 70 % of the CPUs";
            if wanted >= 0.7 * n && n >= 2.0 {
                evidence.push(ev("cores_wanted", wanted, ">=", 0.7 * n, "cores", meaning));
                Verdict::CpuParallel
            } else {
                evidence.push(ev("cores_wanted", wanted, "<", 0.7 * n, "cores", meaning));
                Verdict::CpuSerial
            }
        }
        1 => Verdict::IoDisk,
        2 => Verdict::IoNetwork,
        _ => {
            let quiet = ev(
                "cores_busy",
                busy,
                "<",
                0.5,
                "cores",
                "average cores the program kept busy",
            );
            let ok = quiet.passed;
            evidence.push(quiet);
            if ok {
                Verdict::Idle
            } else {
                // Mostly asleep yet busy: no single bound, and not sure of it.
                return Decision {
                    verdict: Verdict::Mixed,
                    strength: 0.4,
                    evidence,
                };
            }
        }
    };
    Decision {
        verdict,
        strength,
        evidence,
    }
}
