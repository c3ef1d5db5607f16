//! Figures computed from a timeline, the inputs of every rule.
//!
//! All time is *thread-time*: each thread-moment weighs the interval since
//! the previous tick. Waits are split further than the public states where
//! the rules need it:
//! - a `lock-wait` on a futex in the interpreter's static data is a **GIL
//!   wait**; one on the heap is an application lock, condition or queue;
//! - an application-lock wait is **contended** when two or more threads of
//!   the run waited on the same futex address (they queue on one lock), and
//!   **parked** otherwise: a main thread waiting for its pool's results, or
//!   an idle worker in `queue.get()`, waits on a condition of its own
//!   (Python allocates a fresh waiter lock per `Condition.wait`). Timelines
//!   without addresses fall back to the switch rate (≥
//!   [`CONTENDED_SWITCHES_PER_S`] voluntary switches per second);
//! - `other` waits on a pipe or unix socket, and futex waits in shared memory
//!   (`/dev/shm` semaphores of `multiprocessing`), are **IPC waits** (pool
//!   workers and their parent passing tasks and results).

use super::stacks::StackFeatures;
use crate::timeline::{CoreSample, FutexSite, PyState, Resource, ThreadState, Timeline};
use std::collections::{BTreeMap, BTreeSet};

/// Above this voluntary switch rate a waiting thread is considered contended.
/// Idle helper threads (a process pool's management and queue-feeder
/// threads) wake a few times a second; threads queueing on a busy lock wake
/// tens to hundreds of times (about 125/s each in `fixtures/lock_fight.py`).
pub const CONTENDED_SWITCHES_PER_S: f64 = 25.0;
/// An on-CPU stretch at least this long blocks an event loop noticeably.
pub const LONG_RUN_S: f64 = 0.05;

/// Per-thread totals.
#[derive(Debug, Clone, Default)]
pub struct ThreadFeatures {
    pub pid: i32,
    pub tid: i32,
    pub name: String,
    /// Thread-time observed (sum of the intervals it was seen in), seconds.
    pub observed_s: f64,
    pub cpu_s: f64,
    /// Time per state, seconds, in [`ThreadState::ALL`] order.
    pub state_s: [f64; 8],
    pub gil_wait_s: f64,
    pub app_lock_wait_s: f64,
    /// Of `app_lock_wait_s`, the part on a lock other threads waited for too.
    pub contended_lock_s: f64,
    /// Of `app_lock_wait_s`, the part (not already contended by address)
    /// where the Python stack shows another thread waiting at the same line.
    pub same_site_lock_s: f64,
    pub ipc_wait_s: f64,
    pub vol_switches: u64,
    pub invol_switches: u64,
    /// Run-queue delay (schedstat), seconds.
    pub run_delay_s: f64,
    /// Of `run_delay_s`, the part in ticks when other programs held CPUs,
    /// weighted by their share of the busy CPUs (see [`others_share`]).
    pub delay_others_busy_s: f64,
    /// Samples taken while blocked in `epoll_*` (the mark of an event loop).
    pub epoll_samples: u32,
    /// On-CPU time spent in stretches of at least [`LONG_RUN_S`].
    pub long_run_s: f64,
    /// Longest unbroken on-CPU stretch, seconds.
    pub longest_run_s: f64,
}

impl ThreadFeatures {
    pub fn state(&self, s: ThreadState) -> f64 {
        self.state_s[index(s)]
    }

    /// Voluntary switches per second of this thread's observed life.
    pub fn switch_rate(&self) -> f64 {
        if self.observed_s > 0.0 {
            self.vol_switches as f64 / self.observed_s
        } else {
            0.0
        }
    }

    /// Share of this thread's context switches that were involuntary
    /// (preempted while it wanted to go on running); 1 without switches.
    pub fn involuntary_share(&self) -> f64 {
        let all = self.vol_switches.saturating_add(self.invol_switches);
        if all == 0 {
            1.0
        } else {
            self.invol_switches as f64 / all as f64
        }
    }

    /// Run-queue delay that is the latency of this thread's own waits,
    /// stretched by other programs: a thread that blocked by itself (a lock,
    /// the GIL, a pipe) and was woken then queued for a CPU that others
    /// held. Under a competing load a 4-thread lock convoy measured 4–5 s of
    /// run-queue delay in a 2.5 s run (0.4 s quiet), with 13–34 % of its
    /// switches involuntary; CPU-bound threads under the same load, 89–100 %.
    /// So the voluntary share of the delay in busy ticks is not demand for
    /// CPUs; the budget charges it to the wait it ends.
    pub fn wake_delay_s(&self) -> f64 {
        self.delay_others_busy_s * (1.0 - self.involuntary_share())
    }

    /// Share of each public state in this thread's observed time.
    pub fn shares(&self) -> BTreeMap<String, f64> {
        state_shares(&self.state_s, self.observed_s)
    }

    /// Time this thread wanted a CPU: running, runnable, or waiting for the GIL.
    pub fn wanting_cpu_s(&self) -> f64 {
        self.state(ThreadState::OnCpu) + self.state(ThreadState::Runnable) + self.gil_wait_s
    }
}

/// Whole-run figures.
#[derive(Debug, Clone, Default)]
pub struct Features {
    pub samples: usize,
    /// Sum of sample intervals: the span the samples cover, seconds.
    pub span_s: f64,
    pub thread_time_s: f64,
    pub state_s: [f64; 8],
    pub cpu_s: f64,
    pub sys_s: f64,
    pub run_delay_s: f64,
    pub minor_faults: u64,
    pub vol_switches: u64,
    pub gil_wait_s: f64,
    pub contended_lock_s: f64,
    pub parked_lock_s: f64,
    pub ipc_wait_s: f64,
    pub cores_available: usize,
    pub max_processes: u32,
    pub threads: Vec<ThreadFeatures>,
    /// Mean per-core split over the run, one entry per core.
    pub core_means: Vec<CoreSample>,
    /// What Python stacks add, when the timeline has them.
    pub py: Option<StackFeatures>,
    /// How much of the CPU time the stacks explain, when the timeline has them.
    pub coverage: Option<super::coverage::StackCoverage>,
}

/// Each state's time as a fraction of `total`, keyed by the public state name.
fn state_shares(state_s: &[f64; 8], total: f64) -> BTreeMap<String, f64> {
    ThreadState::ALL
        .iter()
        .map(|&s| {
            let v = if total > 0.0 {
                state_s[index(s)] / total
            } else {
                0.0
            };
            (s.as_str().to_string(), v)
        })
        .collect()
}

pub fn index(s: ThreadState) -> usize {
    ThreadState::ALL.iter().position(|&x| x == s).unwrap_or(7)
}

impl Features {
    pub fn from_timeline(tl: &Timeline) -> Features {
        let names: BTreeMap<i32, &str> = tl
            .threads
            .iter()
            .map(|t| (t.tid, t.name.as_str()))
            .collect();
        let mut threads: BTreeMap<i32, ThreadFeatures> = BTreeMap::new();
        let mut run: BTreeMap<i32, f64> = BTreeMap::new();
        let mut f = Features {
            samples: tl.samples.len(),
            cores_available: tl.meta.cores_available.max(1),
            ..Features::default()
        };
        let mut core_sums: Vec<CoreSample> = Vec::new();
        let waiters = lock_waiters(tl);
        // With stacks: which threads waited on a lock at each line of the
        // program. CPython 3.13+ parks each waiter of a `threading.Lock` on a
        // semaphore of its own, so the futex address no longer shows who
        // queues together; the acquiring line still does.
        let mut site_waiters: BTreeMap<(i32, Option<&crate::timeline::Frame>), BTreeSet<i32>> =
            BTreeMap::new();
        let lock_site = |t: &crate::timeline::ThreadSample| {
            (t.py == Some(PyState::LockWait))
                .then(|| t.stack.and_then(|id| tl.stacks.program_frame(id)))
                .flatten()
        };
        for s in &tl.samples {
            for t in &s.threads {
                if let Some(site) = lock_site(t) {
                    site_waiters
                        .entry((t.pid, Some(site)))
                        .or_default()
                        .insert(t.tid);
                }
            }
        }
        let have_addresses = tl
            .samples
            .iter()
            .any(|s| s.threads.iter().any(|t| t.futex_addr.is_some()));
        let shared_lock = |pid: i32, addr: Option<u64>| {
            addr.and_then(|a| waiters.get(&(pid, a)))
                .map(|w| w.len() >= 2)
        };
        for s in &tl.samples {
            f.span_s += s.interval_s;
            f.max_processes = f.max_processes.max(s.processes);
            accumulate_cores(&mut core_sums, &s.cores);
            let others = others_share(s, f.cores_available);
            let mut running_now = BTreeSet::new();
            for t in &s.threads {
                let w = s.interval_s;
                let tf = threads.entry(t.tid).or_insert_with(|| ThreadFeatures {
                    pid: t.pid,
                    tid: t.tid,
                    name: names.get(&t.tid).unwrap_or(&"?").to_string(),
                    ..ThreadFeatures::default()
                });
                tf.observed_s += w;
                tf.cpu_s += t.cpu_s;
                tf.state_s[index(t.state)] += w;
                tf.vol_switches = tf.vol_switches.saturating_add(t.vol_switches);
                tf.invol_switches = tf.invol_switches.saturating_add(t.invol_switches);
                tf.run_delay_s += t.run_delay_s;
                tf.delay_others_busy_s += t.run_delay_s * others;
                f.sys_s += t.sys_s;
                f.run_delay_s += t.run_delay_s;
                f.minor_faults = f.minor_faults.saturating_add(t.minor_faults);
                if t.state == ThreadState::LockWait {
                    match t.futex {
                        Some(FutexSite::Interpreter) => tf.gil_wait_s += w,
                        // A semaphore in shared memory is a lock *and* the
                        // hand-off point of a process pool's queues.
                        Some(FutexSite::Shared) => {
                            tf.app_lock_wait_s += w;
                            tf.ipc_wait_s += w;
                        }
                        _ => {
                            tf.app_lock_wait_s += w;
                            if shared_lock(t.pid, t.futex_addr) == Some(true) {
                                tf.contended_lock_s += w;
                            } else if lock_site(t).is_some_and(|site| {
                                site_waiters
                                    .get(&(t.pid, Some(site)))
                                    .is_some_and(|w| w.len() >= 2)
                            }) {
                                tf.same_site_lock_s += w;
                            }
                        }
                    }
                }
                if t.state == ThreadState::Other
                    && matches!(t.waits_on, Some(Resource::Pipe | Resource::UnixSocket))
                {
                    tf.ipc_wait_s += w;
                }
                if t.syscall.as_deref().is_some_and(|s| s.starts_with("epoll")) {
                    tf.epoll_samples += 1;
                }
                if t.state == ThreadState::OnCpu {
                    running_now.insert(t.tid);
                    let r = run.entry(t.tid).or_default();
                    *r += w;
                    tf.longest_run_s = tf.longest_run_s.max(*r);
                }
            }
            // Close the on-CPU stretches that ended at this tick.
            let ended: Vec<i32> = run
                .keys()
                .filter(|k| !running_now.contains(k))
                .copied()
                .collect();
            for tid in ended {
                let len = run.remove(&tid).unwrap_or(0.0);
                if len >= LONG_RUN_S
                    && let Some(tf) = threads.get_mut(&tid)
                {
                    tf.long_run_s += len;
                }
            }
        }
        for (tid, len) in run {
            if len >= LONG_RUN_S
                && let Some(tf) = threads.get_mut(&tid)
            {
                tf.long_run_s += len;
            }
        }
        f.sum_threads(&mut threads, have_addresses);
        f.core_means = mean_cores(core_sums, tl.samples.len());
        f.threads = threads.into_values().collect();
        f.py = StackFeatures::from_timeline(tl);
        f.coverage = super::coverage::StackCoverage::from_timeline(tl);
        f
    }

    pub fn state(&self, s: ThreadState) -> f64 {
        self.state_s[index(s)]
    }

    /// Average number of cores the tree kept busy.
    pub fn cores_busy(&self) -> f64 {
        if self.span_s > 0.0 {
            self.cpu_s / self.span_s
        } else {
            0.0
        }
    }

    /// Average cores the tree used or queued for: CPU time plus run-queue
    /// delay, less the delay of threads woken from their own waits while
    /// other programs held the CPUs (`ThreadFeatures::wake_delay_s`).
    pub fn cores_wanted(&self) -> f64 {
        if self.span_s > 0.0 {
            let wake: f64 = self.threads.iter().map(ThreadFeatures::wake_delay_s).sum();
            (self.cpu_s + (self.run_delay_s - wake).max(0.0)) / self.span_s
        } else {
            0.0
        }
    }

    /// Thread-time that could matter to speed: everything except parked
    /// threads, waits for children (the work is in the children) and `other`.
    pub fn active_time_s(&self) -> f64 {
        (self.thread_time_s
            - self.parked_lock_s
            - self.state(ThreadState::ChildWait)
            - self.state(ThreadState::Other))
        .max(0.0)
    }

    /// Share of each public state in all thread-time (the `shares` of the
    /// report). With Python stacks, `gil-held`, `gil-wait` and `native-nogil`
    /// join them: they refine `on-cpu` and `lock-wait` (shares of the
    /// thread-time on ticks with stacks), so the eight OS states still sum to 1.
    pub fn shares(&self) -> BTreeMap<String, f64> {
        let mut shares = state_shares(&self.state_s, self.thread_time_s);
        if let Some(py) = &self.py {
            for s in [PyState::GilHeld, PyState::GilWait, PyState::NativeNogil] {
                shares.insert(s.as_str().to_string(), py.share(s));
            }
        }
        shares
    }

    /// Kernel share of the tree's CPU time.
    pub fn system_fraction(&self) -> f64 {
        if self.cpu_s > 0.0 {
            (self.sys_s / self.cpu_s).min(1.0)
        } else {
            0.0
        }
    }

    pub fn faults_per_s(&self) -> f64 {
        if self.span_s > 0.0 {
            self.minor_faults as f64 / self.span_s
        } else {
            0.0
        }
    }
}

/// The program's threads running or runnable at a tick.
pub fn own_runnable(s: &crate::timeline::Sample) -> usize {
    s.threads
        .iter()
        .filter(|t| matches!(t.state, ThreadState::OnCpu | ThreadState::Runnable))
        .count()
}

/// Of a tick's busy CPUs, the share other programs held while the program's
/// own runnable threads outnumbered the cores: the machine's busy CPUs
/// (user, system and stolen time from `/proc/stat`) less the program's own
/// CPU time in that tick, over the machine's. 0 on a quiet machine, for a
/// timeline without per-core figures, and when the program's runnable
/// threads fit on the cores: then a wait for a CPU is all other programs'
/// doing (the budget's `preempted`), whatever the thread was doing before.
pub fn others_share(s: &crate::timeline::Sample, cores: usize) -> f64 {
    if own_runnable(s) <= cores {
        return 0.0;
    }
    let machine: f64 = s
        .cores
        .iter()
        .map(|c| f64::from(c.user + c.system + c.steal))
        .sum();
    if machine <= 0.0 || s.interval_s <= 0.0 {
        return 0.0;
    }
    let own: f64 = s.threads.iter().map(|t| t.cpu_s).sum::<f64>() / s.interval_s;
    ((machine - own) / machine).clamp(0.0, 1.0)
}

impl Features {
    /// Whole-run sums of the per-thread figures; a lock wait is contended
    /// when others queued on the same lock, or (without addresses) when the
    /// thread was woken often.
    fn sum_threads(&mut self, threads: &mut BTreeMap<i32, ThreadFeatures>, have_addresses: bool) {
        let f = self;
        for tf in threads.values_mut() {
            f.thread_time_s += tf.observed_s;
            f.cpu_s += tf.cpu_s;
            // Saturating: a hand-edited or corrupt timeline may hold counts
            // near u64::MAX (found by tests/readers.rs).
            f.vol_switches = f.vol_switches.saturating_add(tf.vol_switches);
            for (i, v) in tf.state_s.iter().enumerate() {
                f.state_s[i] += v;
            }
            f.gil_wait_s += tf.gil_wait_s;
            f.ipc_wait_s += tf.ipc_wait_s;
            if !have_addresses && tf.switch_rate() >= CONTENDED_SWITCHES_PER_S {
                tf.contended_lock_s = tf.app_lock_wait_s;
            } else if tf.switch_rate() >= CONTENDED_SWITCHES_PER_S {
                // Waiting at the same line as others *and* woken often: the
                // lock is being handed around. Idle pool workers also wait at
                // one line (`queue.get`) but are hardly ever woken.
                tf.contended_lock_s += tf.same_site_lock_s;
            }
            f.contended_lock_s += tf.contended_lock_s;
            f.parked_lock_s += tf.app_lock_wait_s - tf.contended_lock_s;
        }
    }
}

/// Mean per-core split over `samples` ticks.
fn mean_cores(sums: Vec<CoreSample>, samples: usize) -> Vec<CoreSample> {
    let n = samples.max(1) as f32;
    sums.into_iter()
        .map(|c| CoreSample {
            user: c.user / n,
            system: c.system / n,
            idle: c.idle / n,
            iowait: c.iowait / n,
            steal: c.steal / n,
        })
        .collect()
}

/// Which threads waited on each application-lock futex, keyed by (pid,
/// address): two or more waiting on one address queue on the same lock.
pub fn lock_waiters(tl: &Timeline) -> BTreeMap<(i32, u64), BTreeSet<i32>> {
    let mut waiters: BTreeMap<(i32, u64), BTreeSet<i32>> = BTreeMap::new();
    for s in &tl.samples {
        for t in &s.threads {
            if let (ThreadState::LockWait, Some(addr)) = (t.state, t.futex_addr)
                && t.futex != Some(FutexSite::Interpreter)
            {
                waiters.entry((t.pid, addr)).or_default().insert(t.tid);
            }
        }
    }
    waiters
}

fn accumulate_cores(sums: &mut Vec<CoreSample>, cores: &[CoreSample]) {
    if sums.len() < cores.len() {
        sums.resize(cores.len(), CoreSample::default());
    }
    for (s, c) in sums.iter_mut().zip(cores) {
        s.user += c.user;
        s.system += c.system;
        s.idle += c.idle;
        s.iowait += c.iowait;
        s.steal += c.steal;
    }
}
