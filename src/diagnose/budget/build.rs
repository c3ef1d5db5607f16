//! Building the budget from a timeline: per-thread exact splits, and the run
//! budget charged along the threads that gate the end of the run.

use super::{
    Budget, GATING_MIN_SHARE, Judge, MAX_THREADS, POLL_NAP_MAX_S, Part, Shares, ThreadBudget,
    part_of,
};
use crate::diagnose::features::{Features, others_share, own_runnable};
use crate::timeline::{OffCpuReason, Sample, ThreadOffCpu, ThreadSample, ThreadState, Timeline};
use std::collections::BTreeMap;

type Seconds = [f64; 12];

/// The off-CPU parts, among which a thread's wait seconds are split.
const WAIT_PARTS: [Part; 8] = [
    Part::GilWait,
    Part::LockWait,
    Part::Disk,
    Part::Network,
    Part::Ipc,
    Part::Sleep,
    Part::Parked,
    Part::Other,
];

#[derive(Default)]
struct ThreadAcc {
    pid: i32,
    observed_s: f64,
    cpu_s: f64,
    run_delay_s: f64,
    /// Of `run_delay_s`, the part while the program's own runnable threads
    /// did not outnumber the cores: other programs held them.
    preempted_s: f64,
    /// Kernel-mode CPU seconds (`stat` stime).
    sys_s: f64,
    /// Sampled wall time per part.
    sampled: Seconds,
}

impl ThreadAcc {
    /// The share of this thread's CPU time that is storage work: its kernel
    /// CPU, when most of its waits are on the disk and it waits on the disk
    /// a real part of its time. A small write followed by `fsync` spends
    /// much of the sync on a CPU in the filesystem (journal, writeback) and
    /// in the run queue after each wake-up, not only in `D`: that CPU is the
    /// disk's cost, not the program's computing. The second condition keeps
    /// a thread that barely waits from turning into a storage thread: a
    /// buffer-churning loop whose one wait in a run was a `D` page fault had
    /// all its kernel CPU (page zeroing, 70 % of its time) counted as disk
    /// and was called `io-disk` once in ten runs.
    fn storage_cpu_share(&self) -> f64 {
        let waits: f64 = WAIT_PARTS.iter().map(|&p| self.sampled[p as usize]).sum();
        let disk = self.sampled[Part::Disk as usize];
        if waits <= 0.0
            || disk / waits < STORAGE_THREAD_DISK_SHARE
            || disk < STORAGE_THREAD_MIN_DISK_TIME * self.observed_s
            || self.cpu_s <= 0.0
        {
            return 0.0;
        }
        (self.sys_s / self.cpu_s).clamp(0.0, 1.0)
    }
}

/// A thread whose waits are at least this much on the disk does storage
/// work: its kernel CPU is counted as disk time (see `storage_cpu_share`).
pub const STORAGE_THREAD_DISK_SHARE: f64 = 0.5;

/// … provided it waits on the disk at least this share of its time.
/// Sync-heavy threads measured 0.17–0.65 (small files with `fsync`, SQLite
/// commits, direct I/O); a page-churning loop's stray `D` ticks, under 0.01.
pub const STORAGE_THREAD_MIN_DISK_TIME: f64 = 0.05;

/// The run's seconds per part, with storage threads' kernel CPU as disk.
fn run_seconds(run_by: &BTreeMap<(i32, Part), f64>, acc: &BTreeMap<i32, ThreadAcc>) -> Seconds {
    let mut run: Seconds = [0.0; 12];
    for (&(tid, p), &secs) in run_by {
        let storage = if matches!(p, Part::CpuPython | Part::CpuNative) {
            acc.get(&tid).map_or(0.0, ThreadAcc::storage_cpu_share)
        } else {
            0.0
        };
        run[p as usize] += secs * (1.0 - storage);
        run[Part::Disk as usize] += secs * storage;
    }
    run
}

/// Run-queue samples that are the latency of a thread's own wait, stretched
/// by other programs (`ThreadFeatures::wake_delay_s`): a thread that blocked
/// by itself and was woken queues for a CPU others hold. In the proportion
/// `others_share × (1 − involuntary share)`, spread over the thread's
/// runnable samples by carrying the remainder, such a sample is charged to
/// the wait the thread was last seen in (a lock convoy's woken waiters stay
/// lock waits under a competing load instead of turning into CPU demand).
struct WakeLatency {
    involuntary: BTreeMap<i32, f64>,
    seconds: BTreeMap<i32, f64>,
    carry: BTreeMap<i32, f64>,
    last_wait: BTreeMap<i32, Part>,
}

impl WakeLatency {
    fn new(f: &Features) -> WakeLatency {
        WakeLatency {
            involuntary: f
                .threads
                .iter()
                .map(|t| (t.tid, t.involuntary_share()))
                .collect(),
            seconds: f
                .threads
                .iter()
                .map(|t| (t.tid, t.wake_delay_s()))
                .collect(),
            carry: BTreeMap::new(),
            last_wait: BTreeMap::new(),
        }
    }

    /// The wait a runnable sample of `tid` is charged to, if any.
    fn charge(&mut self, tid: i32, others_busy: f64) -> Option<Part> {
        let wait = *self.last_wait.get(&tid)?;
        let q = others_busy * (1.0 - self.involuntary.get(&tid).copied().unwrap_or(1.0));
        let c = self.carry.entry(tid).or_default();
        *c += q;
        (*c >= 0.5).then(|| {
            *c -= 1.0;
            wait
        })
    }

    fn saw(&mut self, tid: i32, p: Part) {
        if WAIT_PARTS.contains(&p) {
            self.last_wait.insert(tid, p);
        }
    }

    fn seconds(&self, tid: i32) -> f64 {
        self.seconds.get(&tid).copied().unwrap_or(0.0)
    }
}

/// The budget of a recorded run.
pub fn budget(tl: &Timeline, f: &Features) -> Budget {
    let mut judge = Judge::new(tl, f);
    let main = main_thread(tl);
    let main_polls = main.is_some_and(|m| polls(tl, m));
    let mut acc: BTreeMap<i32, ThreadAcc> = BTreeMap::new();
    // Run seconds charged to each (thread, part), resolved after the loop.
    let mut run_by: BTreeMap<(i32, Part), f64> = BTreeMap::new();
    let mut charged: BTreeMap<i32, f64> = BTreeMap::new();
    let mut wall_s = 0.0;
    // Lock-wait seconds, and those while the waiter's process ran Python,
    // and the seconds of ticks with any lock wait.
    let (mut lock_s, mut lock_behind_python_s, mut lock_ticks_s) = (0.0, 0.0, 0.0);
    let cores = tl.meta.cores_available.max(1);
    let mut wake = WakeLatency::new(f);
    for s in &tl.samples {
        let w = s.interval_s;
        wall_s += w;
        // Other programs, not the program's own threads, kept a runnable
        // thread off the CPU when its runnable threads fit on the cores.
        let others_hold_cpu = own_runnable(s) <= cores;
        let parts = tick_parts(&mut judge, &mut wake, tl, s, cores, others_hold_cpu);
        for (t, &(_, p)) in s.threads.iter().zip(&parts) {
            let a = acc.entry(t.tid).or_default();
            a.pid = t.pid;
            a.observed_s += w;
            a.cpu_s += t.cpu_s;
            a.run_delay_s += t.run_delay_s;
            a.sys_s += t.sys_s;
            if others_hold_cpu {
                a.preempted_s += t.run_delay_s;
            }
            a.sampled[p as usize] += w;
            if p == Part::LockWait {
                lock_s += w;
                if runs_python(&s.threads, &parts, t.pid) {
                    lock_behind_python_s += w;
                }
            }
        }
        if parts.iter().any(|&(_, p)| p == Part::LockWait) {
            lock_ticks_s += w;
        }
        // A main thread waking from `join`/`Future.result` that must retake
        // the GIL still waits on the thread holding it: that thread's work.
        let main_retaking = s.threads.iter().any(|t| {
            Some(t.tid) == main
                && t.py == Some(crate::timeline::PyState::GilWait)
                && t.stack.is_some_and(|id| {
                    tl.stacks
                        .frames_of(id)
                        .last()
                        .is_some_and(|f| f.is_sync_machinery() || f.is_pool_machinery())
                })
        });
        // A polling main thread's nap while others work is a wait for them.
        let main_polling = main_polls
            && parts
                .iter()
                .any(|&(t, p)| Some(t) == main && p == Part::Sleep)
            && parts.iter().any(|&(t, p)| Some(t) != main && p.is_active());
        let main_waits = main_retaking || main_polling;
        charge_tick(&parts, main, main_waits, w, &mut run_by, &mut charged);
    }
    let perf = tl
        .off_cpu
        .as_ref()
        .filter(|o| o.unavailable.is_none() && !o.threads.is_empty());
    let names: BTreeMap<i32, &str> = tl
        .threads
        .iter()
        .map(|t| (t.tid, t.name.as_str()))
        .collect();
    let charged_total: f64 = charged.values().sum();
    let mut gating: Vec<i32> = charged
        .iter()
        .filter(|&(_, &secs)| charged_total > 0.0 && secs / charged_total >= GATING_MIN_SHARE)
        .map(|(&tid, _)| tid)
        .chain(main)
        .collect();
    gating.sort_unstable();
    gating.dedup();
    let mut all: Seconds = [0.0; 12];
    let mut threads: Vec<(f64, ThreadBudget)> = acc
        .iter()
        .map(|(&tid, a)| {
            let secs = exact_split(a, perf.and_then(|o| o.threads.get(&tid)), wake.seconds(tid));
            for (sum, v) in all.iter_mut().zip(secs) {
                *sum += v;
            }
            let tb = ThreadBudget {
                pid: a.pid,
                tid,
                name: names.get(&tid).unwrap_or(&"?").to_string(),
                wall_s: round3(a.observed_s),
                gating: gating.contains(&tid),
                shares: Shares::from_seconds(&secs),
            };
            (a.cpu_s, tb)
        })
        .collect();
    threads.sort_by(|a, b| {
        b.1.gating
            .cmp(&a.1.gating)
            .then(b.0.total_cmp(&a.0))
            .then(a.1.tid.cmp(&b.1.tid))
    });
    let threads_omitted = threads.len().saturating_sub(MAX_THREADS);
    Budget {
        method: if perf.is_some() {
            "perf-switches"
        } else {
            "proc-states"
        }
        .to_string(),
        wall_s: round3(wall_s),
        run: Shares::from_seconds(&run_seconds(&run_by, &acc)),
        all_threads: Shares::from_seconds(&all),
        gating_threads: gating,
        threads: threads
            .into_iter()
            .take(MAX_THREADS)
            .map(|(_, t)| t)
            .collect(),
        threads_omitted,
        lock_wait_behind_python: (lock_s > 0.0).then(|| lock_behind_python_s / lock_s),
        lock_waiters: (lock_ticks_s > 0.0).then(|| lock_s / lock_ticks_s),
    }
}

/// Each thread's part at one tick: a runnable thread is preempted when
/// other programs held the CPUs, finishing its own wait when it was woken
/// into a queue they stretched ([`WakeLatency`]), else the program's own
/// run queue.
fn tick_parts(
    judge: &mut Judge,
    wake: &mut WakeLatency,
    tl: &Timeline,
    s: &Sample,
    cores: usize,
    preempted: bool,
) -> Vec<(i32, Part)> {
    let others_busy = others_share(s, cores);
    s.threads
        .iter()
        .map(|t| {
            let p = match part_of(judge, tl, t) {
                Part::RunQueue if preempted => Part::Preempted,
                Part::RunQueue => wake.charge(t.tid, others_busy).unwrap_or(Part::RunQueue),
                p => p,
            };
            wake.saw(t.tid, p);
            (t.tid, p)
        })
        .collect()
}

/// Whether a thread of process `pid` ran Python at this tick, or held the
/// GIL while it queued for a CPU (preempted mid-bytecode by a competing
/// load, which would otherwise make the lock look removable).
fn runs_python(threads: &[ThreadSample], parts: &[(i32, Part)], pid: i32) -> bool {
    threads.iter().zip(parts).any(|(t, &(_, p))| {
        t.pid == pid && (p == Part::CpuPython || t.py == Some(crate::timeline::PyState::GilHeld))
    })
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The main thread of the run's first process (the launched or attached one).
fn main_thread(tl: &Timeline) -> Option<i32> {
    let root = tl.processes.first()?.pid;
    tl.samples
        .iter()
        .any(|s| s.threads.iter().any(|t| t.tid == root))
        .then_some(root)
}

/// Whether `tid` sleeps in short naps: at most [`POLL_NAP_MAX_S`] of its
/// sleeping ticks' time per voluntary switch it made over the run. That is a
/// polling loop (`while not done: time.sleep(0.01)`, joblib's result loop),
/// whose sleep lasts as long as what it polls for; a long `sleep()` is a
/// pause. The switches of the whole run are counted, not only those of
/// sleeping ticks: the counters arrive every tenth tick (`status`), and a
/// poller that retakes a contended GIL after each nap is seen asleep in few
/// of them.
fn polls(tl: &Timeline, tid: i32) -> bool {
    let (mut asleep_s, mut switches) = (0.0, 0u64);
    for s in &tl.samples {
        for t in s.threads.iter().filter(|t| t.tid == tid) {
            switches += t.vol_switches;
            if t.state == ThreadState::Sleep {
                asleep_s += s.interval_s;
            }
        }
    }
    switches > 0 && asleep_s / switches as f64 <= POLL_NAP_MAX_S
}

/// Charge one tick of the run's wall time: to the main thread's own part, or,
/// while it waits for others (or before it exists), to the threads that were
/// doing something, equally; when nobody was, to what the others were doing.
/// `main_waits`: the main thread's part is its own, but it waits for others
/// (retaking the GIL after a join, napping in a polling loop).
fn charge_tick(
    parts: &[(i32, Part)],
    main: Option<i32>,
    main_waits: bool,
    w: f64,
    run: &mut BTreeMap<(i32, Part), f64>,
    charged: &mut BTreeMap<i32, f64>,
) {
    let own = parts.iter().find(|(tid, _)| Some(*tid) == main);
    if let Some(&(tid, p)) = own
        && !p.delegates()
        && !main_waits
    {
        *run.entry((tid, p)).or_default() += w;
        *charged.entry(tid).or_default() += w;
        return;
    }
    let others: Vec<&(i32, Part)> = parts.iter().filter(|(t, _)| Some(*t) != main).collect();
    let active: Vec<&(i32, Part)> = others
        .iter()
        .copied()
        .filter(|(_, p)| p.is_active())
        .collect();
    let chosen = if active.is_empty() { others } else { active };
    if chosen.is_empty() {
        if let Some(&(tid, p)) = own {
            *run.entry((tid, p)).or_default() += w;
            *charged.entry(tid).or_default() += w;
        }
        return;
    }
    let each = w / chosen.len() as f64;
    for &&(tid, p) in &chosen {
        *run.entry((tid, p)).or_default() += each;
        *charged.entry(tid).or_default() += each;
    }
}

/// A thread's wall time in seconds per part: CPU and run-queue seconds from
/// `schedstat` (exact), the rest split in the proportions of perf's off-CPU
/// seconds by reason when recorded, else of the sampled wait states.
fn exact_split(a: &ThreadAcc, perf: Option<&ThreadOffCpu>, wake_s: f64) -> Seconds {
    let obs = a.observed_s;
    let cpu = a.cpu_s.clamp(0.0, obs);
    let queued = a.run_delay_s.clamp(0.0, obs - cpu);
    // Wake-up latency stretched by other programs ends the thread's wait:
    // charged to its largest sampled wait (see `WakeLatency`).
    let woken_from = WAIT_PARTS
        .iter()
        .copied()
        .filter(|&p| a.sampled[p as usize] > 0.0)
        .max_by(|x, y| a.sampled[*x as usize].total_cmp(&a.sampled[*y as usize]));
    let others = if a.run_delay_s > 0.0 {
        queued * (a.preempted_s / a.run_delay_s).clamp(0.0, 1.0)
    } else {
        0.0
    };
    // Drawn only from ticks where the program's own runnable threads
    // outnumbered the cores, so never from `others`.
    let wake = if woken_from.is_some() {
        wake_s.clamp(0.0, queued - others)
    } else {
        0.0
    };
    let waits = (obs - cpu - queued).max(0.0);
    let mut out: Seconds = [0.0; 12];
    let (py, native) = (
        a.sampled[Part::CpuPython as usize],
        a.sampled[Part::CpuNative as usize],
    );
    let storage = cpu * a.storage_cpu_share();
    let computing = cpu - storage;
    if py + native > 0.0 {
        out[Part::CpuPython as usize] = computing * py / (py + native);
        out[Part::CpuNative as usize] = computing * native / (py + native);
    } else {
        out[Part::CpuNative as usize] = computing;
    }
    out[Part::RunQueue as usize] = queued - others - wake;
    out[Part::Preempted as usize] = others;
    let weights = match perf {
        Some(o) => perf_weights(o, &a.sampled),
        None => {
            let mut w: Seconds = [0.0; 12];
            for p in WAIT_PARTS {
                w[p as usize] = a.sampled[p as usize];
            }
            w
        }
    };
    let total: f64 = weights.iter().sum();
    if total > 0.0 {
        for p in WAIT_PARTS {
            out[p as usize] = waits * weights[p as usize] / total;
        }
    } else {
        out[Part::Other as usize] = waits;
    }
    out[Part::Disk as usize] += storage;
    if let Some(p) = woken_from {
        out[p as usize] += wake;
    }
    out
}

/// Exact off-CPU seconds by reason, mapped to parts. A futex wait (`lock`)
/// is split between the GIL, locks and parking as the sampled states split
/// it, a `poll` among the kinds of descriptor the samples saw; preemption is
/// left out (the run-queue seconds are already exact).
fn perf_weights(o: &ThreadOffCpu, sampled: &Seconds) -> Seconds {
    let mut w: Seconds = [0.0; 12];
    let mut spread = |secs: f64, among: &[Part], default: Part| {
        let total: f64 = among.iter().map(|&p| sampled[p as usize]).sum();
        if total > 0.0 {
            for &p in among {
                w[p as usize] += secs * sampled[p as usize] / total;
            }
        } else {
            w[default as usize] += secs;
        }
    };
    for (&reason, &secs) in &o.off_cpu_s {
        match reason {
            OffCpuReason::Lock => spread(
                secs,
                &[Part::GilWait, Part::LockWait, Part::Parked, Part::Ipc],
                Part::LockWait,
            ),
            OffCpuReason::Disk => spread(secs, &[Part::Disk], Part::Disk),
            OffCpuReason::Sleep => spread(secs, &[Part::Sleep], Part::Sleep),
            OffCpuReason::Net => spread(secs, &[Part::Network], Part::Network),
            OffCpuReason::Poll => spread(
                secs,
                &[Part::Network, Part::Ipc, Part::Sleep, Part::Other],
                Part::Other,
            ),
            OffCpuReason::Pipe | OffCpuReason::Child => spread(secs, &[Part::Ipc], Part::Ipc),
            OffCpuReason::Other => spread(secs, &[Part::Other], Part::Other),
            OffCpuReason::Preempted => {}
        }
    }
    w
}
