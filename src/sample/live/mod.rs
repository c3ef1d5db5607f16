//! Live reads of a process tree: one [`Sample`] per tick.
//!
//! Cost is what limits the rate, so the reads are chosen by price (measured on
//! this kind of VM: `stat` 10 µs, `schedstat` 6 µs, `wchan`/`syscall` 7 µs,
//! `status` 35 µs per thread): every tick reads `stat` and `schedstat` of
//! every thread, `syscall` only of threads that are not running, and `wchan`
//! only of those whose call does not decide their state or that wait on the
//! disk;
//! descriptors are resolved only for threads blocked on one; and a blocked
//! thread that has not been scheduled since the last tick (its `schedstat`
//! switch count is unchanged) is still in the same call, so its last answer
//! is reused instead of read again. The expensive
//! `status` (context-switch split, peak RSS) and `io` are read every
//! [`SLOW_EVERY`] ticks: they are cumulative counters, so their deltas stay
//! exact, only coarser in time.
//!
//! Each thread's files stay open between ticks and are re-read with `pread`
//! (`procfd.rs`); a process's thread list is listed again only when its
//! thread count changes or a thread fails to read (`tasks.rs`).
//!
//! A thread or process that vanishes between listing and reading is normal
//! (it exited): it is counted as `vanished`, never reported as an error.

mod blocked;
mod procfd;
mod remote;
mod tasks;

use super::classify::{self, Observation};
use super::parse::{self, CoreTicks, Mapping};
use super::taskstat::TaskStat;
use crate::target::tree::{Extra, TreeTracker};
use crate::timeline::{ProcessInfo, Sample, SamplingStats, ThreadInfo, ThreadSample};
use blocked::{Blocked, SocketTable};
use procfs::Current;
use procfs::process::Process;
use std::collections::{BTreeMap, HashMap, HashSet};
use tasks::TaskReader;

/// `read_failures` key of a `/proc/PID/task/TID/syscall` read the kernel refused.
pub const SYSCALL_DENIED: &str = "syscall-denied";

/// Slow counters (`status`, `io`) are read every this many ticks…
pub const SLOW_EVERY: u64 = 10;

/// `/proc/stat` is read at most this often. Its per-CPU times move in clock
/// ticks (10 ms): at a higher rate most ticks saw no change and recorded an
/// all-idle machine, while the file (which also lists every interrupt's
/// counts) cost more than reading a thread. Ticks in between repeat the last
/// split.
pub const CORES_EVERY: std::time::Duration = std::time::Duration::from_millis(10);

/// …and at most this many times a second: at 1 kHz `status` (the costliest
/// file, 35 µs a thread) every 10th tick was a tenth of the sampler's work,
/// while its counters are cumulative and lose nothing by being read less.
pub const SLOW_MAX_HZ: f64 = 10.0;

/// Cumulative counters of a thread at its last reading.
#[derive(Debug, Clone, Copy, Default)]
struct Prev {
    starttime: u64,
    runtime_ns: u64,
    run_delay_ns: u64,
    stime_ticks: u64,
    minflt: u64,
    vol: Option<u64>,
    invol: Option<u64>,
}

/// Reads one process tree, tick after tick.
pub struct LiveReader {
    tree: TreeTracker,
    root: i32,
    /// When attaching: the moment of attaching in clock ticks since boot.
    /// Threads started before it begin from a baseline (their past CPU time
    /// is not ours to report); threads born later (and every thread when
    /// launching) count from zero.
    attach_ticks: Option<u64>,
    ticks: u64,
    /// Ticks between two readings of the slow counters.
    slow_every: u64,
    files: TaskReader,
    prev: HashMap<i32, Prev>,
    blocked: HashMap<i32, Blocked>,
    cores_prev: Vec<CoreTicks>,
    /// When `cores_prev` was read, and the split it gave.
    cores_at: std::time::Instant,
    cores_last: Vec<crate::timeline::CoreSample>,
    maps: HashMap<i32, Vec<Mapping>>,
    processes: BTreeMap<i32, ProcessInfo>,
    threads: Vec<ThreadInfo>,
    seen_threads: HashSet<i32>,
    pub failures: BTreeMap<String, u64>,
    ticks_per_s: f64,
    page_size: u64,
    python_exe: Option<String>,
}

impl LiveReader {
    /// A reader of `root`'s tree and of an existing cluster's processes
    /// (`target::cluster`).
    pub fn new(root: i32, extra: &Extra, attach: bool, rate_hz: f64) -> Self {
        // SAFETY: sysconf has no memory-safety preconditions.
        let (tps, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        let mut files = TaskReader::default();
        LiveReader {
            tree: TreeTracker::with_extra(root, extra),
            root,
            attach_ticks: attach.then(|| uptime_ticks(tps)),
            ticks: 0,
            slow_every: SLOW_EVERY.max((rate_hz / SLOW_MAX_HZ).ceil() as u64),
            cores_prev: files.cores(),
            cores_at: std::time::Instant::now(),
            cores_last: Vec::new(),
            files,
            prev: HashMap::new(),
            blocked: HashMap::new(),
            maps: HashMap::new(),
            processes: BTreeMap::new(),
            threads: Vec::new(),
            seen_threads: HashSet::new(),
            failures: BTreeMap::new(),
            ticks_per_s: if tps > 0 { tps as f64 } else { 100.0 },
            page_size: if page > 0 { page as u64 } else { 4096 },
            python_exe: None,
        }
    }

    /// Take one sample. `t_s` is seconds since start, `interval_s` since the last tick.
    pub fn tick(&mut self, t_s: f64, interval_s: f64, late_s: f64) -> Sample {
        let slow = self.ticks.is_multiple_of(self.slow_every);
        self.ticks += 1;
        let pids = self.tree.current();
        let mut sockets = SocketTable::default();
        let mut sample = Sample {
            t_s,
            interval_s,
            late_s,
            processes: pids.len() as u32,
            ..Sample::default()
        };
        let failures_before: u64 = self.failures.values().sum();
        let mut alive = HashSet::new();
        for &pid in &pids {
            // The leader first: it says the process is there and how many
            // threads it has (whether `task/` must be listed again).
            let Some(leader) = self.files.stat(pid, pid) else {
                self.fail("vanished");
                continue;
            };
            self.note_process(pid, &leader, t_s, slow);
            let Some(tids) = self.files.threads(pid, &leader) else {
                self.fail("vanished");
                continue;
            };
            let mut leader = Some(leader);
            for tid in tids {
                let stat = match leader.take_if(|_| tid == pid) {
                    Some(stat) => Some(stat),
                    None => self.files.stat(pid, tid),
                };
                let read =
                    stat.map(|st| self.read_thread(pid, tid, st, interval_s, slow, &mut sockets));
                match read {
                    Some((ts, rss)) => {
                        alive.insert(ts.tid);
                        sample.tree_rss_bytes += rss;
                        sample.threads.push(ts);
                    }
                    None => {
                        self.files.forget(pid, tid);
                        self.fail("vanished");
                    }
                }
            }
        }
        sample.failed_reads = (self.failures.values().sum::<u64>() - failures_before) as u32;
        self.prev.retain(|tid, _| alive.contains(tid));
        self.blocked.retain(|tid, _| alive.contains(tid));
        self.maps.retain(|pid, _| pids.contains(pid));
        self.files.retain(&alive, &pids);
        if self.cores_at.elapsed() >= CORES_EVERY || self.cores_last.is_empty() {
            let cores = self.files.cores();
            self.cores_last = parse::core_deltas(&self.cores_prev, &cores);
            self.cores_prev = cores;
            self.cores_at = std::time::Instant::now();
        }
        sample.cores.clone_from(&self.cores_last);
        sample
    }

    fn fail(&mut self, why: &str) {
        *self.failures.entry(why.to_string()).or_default() += 1;
    }

    /// What the process list says of `pid`: its name and parent from the
    /// leader's `stat` (already read), and on slow ticks only the files read
    /// through `procfs` (`cmdline` when still empty, `status`, `io`, `exe`).
    fn note_process(&mut self, pid: i32, leader: &TaskStat, t_s: f64, slow: bool) {
        let first = !self.processes.contains_key(&pid);
        let info = self.processes.entry(pid).or_insert_with(|| ProcessInfo {
            pid,
            ppid: leader.ppid,
            name: leader.comm.clone(),
            cmdline: Vec::new(),
            first_seen_s: t_s,
            last_seen_s: t_s,
            peak_rss_bytes: 0,
            read_bytes: 0,
            write_bytes: 0,
            written_chars: 0,
            write_calls: 0,
        });
        info.last_seen_s = t_s;
        if !(first || slow) {
            return;
        }
        let Ok(process) = Process::new(pid) else {
            return;
        };
        if info.cmdline.is_empty() {
            info.cmdline = process.cmdline().unwrap_or_default();
        }
        if slow {
            if let Ok(status) = process.status() {
                info.name = status.name.clone();
                let hwm = status.vmhwm.unwrap_or(0) * 1024;
                info.peak_rss_bytes = info.peak_rss_bytes.max(hwm);
            }
            if let Ok(io) = process.io() {
                info.read_bytes = io.read_bytes;
                info.write_bytes = io.write_bytes;
                info.written_chars = io.wchar;
                info.write_calls = io.syscw;
            }
            if self.python_exe.is_none()
                && let Ok(exe) = process.exe()
                && exe
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("python"))
            {
                self.python_exe = Some(exe.to_string_lossy().into_owned());
            }
        }
    }

    /// Returns the thread's sample and its process RSS (counted once, on the main thread).
    fn read_thread(
        &mut self,
        pid: i32,
        tid: i32,
        stat: TaskStat,
        interval_s: f64,
        slow: bool,
        sockets: &mut SocketTable,
    ) -> (ThreadSample, u64) {
        if pid == tid && pid != self.root {
            crate::target::reap_adopted_orphan(pid, stat.state, stat.ppid);
        }
        let sched = self.files.schedstat(pid, tid);
        let (vol, invol) = if slow {
            self.files.switches(pid, tid)
        } else {
            (None, None)
        };
        if self.seen_threads.insert(tid) {
            self.threads.push(ThreadInfo {
                pid,
                tid,
                name: stat.comm.clone(),
            });
        } else if let Some(t) = self.threads.iter_mut().rev().find(|t| t.tid == tid) {
            // A thread renames itself, or its process execs (the pyenv shim
            // becomes python): keep the latest name.
            if t.name != stat.comm {
                t.name.clone_from(&stat.comm);
            }
        }
        let now = Prev {
            starttime: stat.starttime,
            runtime_ns: sched.as_ref().map_or(
                ((stat.utime + stat.stime) as f64 * 1e9 / self.ticks_per_s) as u64,
                |s| s.runtime_ns,
            ),
            run_delay_ns: sched.as_ref().map_or(0, |s| s.run_delay_ns),
            stime_ticks: stat.stime,
            minflt: stat.minflt,
            vol,
            invol,
        };
        let before = match self.prev.get(&tid) {
            Some(p) if p.starttime == now.starttime => *p,
            // Started before we attached: its past is not ours to report.
            _ if self.attach_ticks.is_some_and(|t| now.starttime <= t) => now,
            _ => Prev {
                starttime: now.starttime,
                vol: vol.map(|_| 0),
                invol: invol.map(|_| 0),
                ..Prev::default()
            },
        };
        let mut stored = now;
        if !slow {
            stored.vol = before.vol;
            stored.invol = before.invol;
        }
        self.prev.insert(tid, stored);

        let cpu_s = now.runtime_ns.saturating_sub(before.runtime_ns) as f64 / 1e9;
        let run_delay_s = now.run_delay_ns.saturating_sub(before.run_delay_ns) as f64 / 1e9;
        let sys_s = now.stime_ticks.saturating_sub(before.stime_ticks) as f64 / self.ticks_per_s;
        let delta = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => a.saturating_sub(b),
            (Some(a), None) => a,
            _ => 0,
        };
        let mut ts = ThreadSample {
            pid,
            tid,
            os_state: stat.state,
            cpu_s,
            sys_s,
            run_delay_s,
            vol_switches: if slow { delta(vol, before.vol) } else { 0 },
            invol_switches: if slow { delta(invol, before.invol) } else { 0 },
            minor_faults: now.minflt.saturating_sub(before.minflt),
            ..ThreadSample::default()
        };
        let pcount = sched.as_ref().map(|s| s.pcount);
        self.read_wait(pid, tid, pcount, &mut ts, sockets);
        ts.state = classify::classify(&Observation {
            os_state: ts.os_state,
            syscall: ts.syscall.as_deref(),
            waits_on: ts.waits_on,
            wchan: ts.wchan.as_deref(),
            cpu_s,
            run_delay_s,
            interval_s,
        });
        let rss = if pid == tid {
            stat.rss * self.page_size
        } else {
            0
        };
        (ts, rss)
    }

    pub fn processes(&self) -> Vec<ProcessInfo> {
        self.processes.values().cloned().collect()
    }

    pub fn threads(&self) -> Vec<ThreadInfo> {
        self.threads.clone()
    }

    pub fn python_exe(&self) -> Option<&str> {
        self.python_exe.as_deref()
    }

    pub fn stats_failures(&self, stats: &mut SamplingStats) {
        stats.read_failures = self.failures.clone();
    }
}

/// Clock ticks since boot now, the unit of a thread's `starttime`.
fn uptime_ticks(tps: libc::c_long) -> u64 {
    let secs = procfs::Uptime::current().map_or(0.0, |u| u.uptime);
    (secs * tps.max(1) as f64) as u64
}
