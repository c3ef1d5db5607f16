//! Attaching the perf samplers to a running tree, and following it.
//!
//! Launched, the perf events are opened on one thread held before its exec,
//! and `inherit` makes the kernel copy them into every thread and process it
//! creates. Attached, the tree already runs: as `perf record -p` does, each
//! thread of each process gets its own events (listed from
//! `/proc/PID/task`), and `inherit` again follows whatever those threads
//! create afterwards, so a thread born later needs nothing from us.
//!
//! One gap remains: a thread created while the events are being opened, by
//! a thread whose events are not open yet, is covered by nothing. Every tick
//! already lists the tree's threads, so each thread not seen before has its
//! start time read once (`/proc/PID/task/TID/stat`), and one that started
//! before the last opening finished (within [`START_MARGIN_TICKS`]) is
//! opened directly; one that started later was created by a covered thread.
//! A thread opened that way that turns out to be inherited after all writes
//! its records twice; the rings keep one copy (`Rings::drain`), and a
//! counter may count it twice for the few milliseconds of the opening.

use super::native::{NativeSampler, NativeUnavailable};
use super::offcpu::{OffCpuSampler, OffCpuUnavailable};
use super::perf::TreeCounters;
use super::rings;
use crate::target::tree::TreeTracker;
use crate::timeline::{AttachCoverage, Counters, NativeProfile, OffCpuProfile, Sample};
use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

/// Clock ticks of slack when comparing a thread's start with the last
/// opening: `starttime` and the uptime it is compared with are rounded
/// to ticks (10 ms) separately, so a thread one tick "after" may be before.
pub const START_MARGIN_TICKS: u64 = 2;

/// The threads of a tree at the attach, and those that may escape later.
pub struct Follower {
    known: HashSet<i32>,
    last_open_ticks: u64,
    ticks_per_s: f64,
    /// Processes of the tree at the attach.
    pub processes: u32,
    /// Threads running at the attach.
    pub threads_running: u32,
    /// Threads opened directly after the attach.
    pub threads_followed: u32,
    /// `(pid, tid)` of every thread at the attach, the root's main thread first.
    pub at_attach: Vec<(i32, i32)>,
}

impl Follower {
    /// The tree under `root` now: the follower, and every thread of every
    /// process, the root's main thread first (the perf openers let the
    /// first thread decide whether perf is allowed at all).
    pub fn start(root: i32) -> (Follower, Vec<i32>) {
        let pids = TreeTracker::new(root).scan();
        let mut at_attach = vec![(root, root)];
        for &pid in &pids {
            let others = rings::threads_of(pid).into_iter().filter(|&t| t != root);
            at_attach.extend(others.map(|t| (pid, t)));
        }
        let tids: Vec<i32> = at_attach.iter().map(|&(_, t)| t).collect();
        // SAFETY: sysconf has no memory-safety preconditions.
        let tps = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let ticks_per_s = if tps > 0 { tps as f64 } else { 100.0 };
        let me = Follower {
            known: tids.iter().copied().collect(),
            last_open_ticks: uptime_ticks(ticks_per_s),
            ticks_per_s,
            processes: pids.len() as u32,
            threads_running: tids.len() as u32,
            threads_followed: 0,
            at_attach,
        };
        (me, tids)
    }

    /// Mark that the events were (re)opened now: threads that start later
    /// are created by covered threads. Call after opening on the list that
    /// [`Follower::start`] or [`Follower::newcomers`] gave.
    pub fn opened(&mut self) {
        self.last_open_ticks = uptime_ticks(self.ticks_per_s);
    }

    /// Of the `(pid, tid)` a tick saw, the threads not seen before that
    /// started before the last opening finished: they may be covered by no
    /// event and are to be opened directly.
    pub fn newcomers(&mut self, threads: impl IntoIterator<Item = (i32, i32)>) -> Vec<i32> {
        let mut out = Vec::new();
        for (pid, tid) in threads {
            if !self.known.insert(tid) {
                continue;
            }
            if start_ticks(pid, tid).is_some_and(|s| s <= self.last_open_ticks + START_MARGIN_TICKS)
            {
                out.push(tid);
            }
        }
        self.threads_followed += out.len() as u32;
        out
    }
}

/// The perf samplers of an attached run: counters, exact off-CPU time and
/// (when asked for) native stacks, opened on every thread of the tree and
/// kept following it. Drive it from the record loop's per-tick callback.
pub struct AttachedPerf {
    follower: Follower,
    counters: TreeCounters,
    native: Option<Result<NativeSampler, NativeUnavailable>>,
    off_cpu: Result<OffCpuSampler, OffCpuUnavailable>,
}

impl AttachedPerf {
    /// Open on the tree under `root` now; `native`: sample native stacks
    /// too. `start` is the run's time origin. Never fails: what perf refuses
    /// is kept with its reason for the report.
    pub fn open(root: i32, native: bool, start: Instant) -> Self {
        raise_open_files_limit();
        let (mut follower, tids) = Follower::start(root);
        let counters = TreeCounters::attach(&tids);
        let native = native.then(|| NativeSampler::attach(&tids, start));
        let mut off_cpu = OffCpuSampler::attach(&tids, start);
        if let Ok(o) = &mut off_cpu {
            let at_ns = rings::monotonic_ns();
            for &(pid, tid) in &follower.at_attach {
                if let Some(wchan) = asleep_in(pid, tid) {
                    o.seed_wait(pid, tid, &wchan, at_ns);
                }
            }
        }
        follower.opened();
        AttachedPerf {
            follower,
            counters,
            native,
            off_cpu,
        }
    }

    /// After each tick: open on threads that may have escaped, then move
    /// what the kernel wrote into memory.
    pub fn tick(&mut self, sample: &Sample) {
        let new = self
            .follower
            .newcomers(sample.threads.iter().map(|t| (t.pid, t.tid)));
        if !new.is_empty() {
            self.counters.follow(&new);
            if let Some(Ok(n)) = &mut self.native {
                n.follow(&new);
            }
            if let Ok(o) = &mut self.off_cpu {
                o.follow(&new);
            }
            self.follower.opened();
        }
        if let Some(Ok(n)) = &mut self.native {
            n.drain();
        }
        if let Ok(o) = &mut self.off_cpu {
            o.drain();
        }
    }

    /// Stop and return the native profile (when asked for), the off-CPU
    /// profile, the counters and what the attach covered.
    pub fn finish(mut self) -> Finished {
        // The tree keeps running: freeze everything at the end of the run
        // before the (slower) symbolisation, counters first.
        let mut missed: BTreeMap<String, u64> = self.counters.missed();
        let counters = self.counters.read();
        if let Some(Ok(n)) = &mut self.native {
            n.stop();
        }
        if let Ok(o) = &mut self.off_cpu {
            o.stop();
        }
        let mut merge = |m: &BTreeMap<String, u64>| {
            for (why, &n) in m {
                let e = missed.entry(why.clone()).or_default();
                *e = (*e).max(n);
            }
        };
        if let Some(Ok(n)) = &self.native {
            merge(n.missed());
        }
        if let Ok(o) = &self.off_cpu {
            merge(o.missed());
        }
        let coverage = AttachCoverage {
            processes: self.follower.processes,
            threads_running: self.follower.threads_running,
            threads_followed: self.follower.threads_followed,
            threads_missed: missed,
        };
        Finished {
            native: self.native.map(|n| match n {
                Ok(n) => n.finish(),
                Err(e) => NativeProfile::unavailable(e.0),
            }),
            off_cpu: match self.off_cpu {
                Ok(o) => o.finish(),
                Err(e) => OffCpuProfile::unavailable(e.0),
            },
            counters,
            coverage,
        }
    }
}

/// What the perf samplers of an attached run produced.
pub struct Finished {
    /// Native stacks, when asked for.
    pub native: Option<NativeProfile>,
    pub off_cpu: OffCpuProfile,
    pub counters: Counters,
    pub coverage: AttachCoverage,
}

/// Raise this process's soft limit on open descriptors to its hard limit,
/// as `perf record` does: attached, every thread costs a descriptor per
/// counter and per sampler and CPU (6 on 2 CPUs: 4 counters and the
/// off-CPU rings; 8 with native stacks), so a 200-thread server would pass
/// the usual soft limit of 1024 and its last threads would go unrecorded.
fn raise_open_files_limit() {
    // SAFETY: getrlimit/setrlimit with a valid, owned rlimit struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Whether `pid` runs a Python interpreter (its executable is `python…`):
/// such a process gets native stacks only with `--native`, as when launched.
pub fn runs_python(pid: i32) -> bool {
    std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| {
        exe.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("python"))
    })
}

/// The kernel function a sleeping thread waits in (`wchan`), or `None`
/// when it runs, is runnable or is gone.
fn asleep_in(pid: i32, tid: i32) -> Option<String> {
    let dir = format!("/proc/{pid}/task/{tid}");
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
    if !matches!(state, "S" | "D") {
        return None;
    }
    let wchan = std::fs::read_to_string(format!("{dir}/wchan")).ok()?;
    let wchan = wchan.trim();
    (!wchan.is_empty() && wchan != "0").then(|| wchan.to_string())
}

/// A thread's start, clock ticks since boot (field 22 of its `stat`).
fn start_ticks(pid: i32, tid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    parse_starttime(&text)
}

/// Field 22 (`starttime`) of a `stat` line; the command name (field 2) may
/// hold spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_starttime(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Clock ticks since boot now, the unit of a thread's `starttime`.
fn uptime_ticks(ticks_per_s: f64) -> u64 {
    use procfs::Current;
    let secs = procfs::Uptime::current().map_or(0.0, |u| u.uptime);
    (secs * ticks_per_s) as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn starttime_is_counted_after_the_command_name() {
        let stat = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 3 0 987654 12345678 300 18446744073709551615";
        assert_eq!(super::parse_starttime(stat), Some(987654));
        assert_eq!(super::parse_starttime("1 (x) S 0"), None);
    }

    #[test]
    fn our_own_threads_are_listed_main_first_and_not_followed_again() {
        let me = std::process::id() as i32;
        let (mut f, tids) = super::Follower::start(me);
        assert_eq!(tids[0], me);
        assert!(f.threads_running >= 1 && f.processes >= 1);
        f.opened();
        assert!(f.newcomers(tids.iter().map(|&t| (me, t))).is_empty());
    }
}
