//! Live reads of a process tree: one [`Sample`] per tick.
//!
//! Cost is what limits the rate, so the reads are chosen by price (measured on
//! this kind of VM: `stat` 10 µs, `schedstat` 6 µs, `wchan`/`syscall` 7 µs,
//! `status` 35 µs per thread): every tick reads `stat` and `schedstat` of
//! every thread, and `wchan` + `syscall` only of threads that are not running;
//! descriptors are resolved only for threads blocked on one; and a blocked
//! thread that has not been scheduled since the last tick (its `schedstat`
//! switch count is unchanged) is still in the same call, so its last answer
//! is reused instead of read again. The expensive
//! `status` (context-switch split, peak RSS) and `io` are read every
//! [`SLOW_EVERY`] ticks: they are cumulative counters, so their deltas stay
//! exact, only coarser in time.
//!
//! A thread or process that vanishes between listing and reading is normal
//! (it exited): it is counted as `vanished`, never reported as an error.

use super::classify::{self, Observation};
use super::parse::{self, CoreTicks, Mapping};
use super::syscalls;
use crate::target::tree::TreeTracker;
use crate::timeline::{
    FutexSite, ProcessInfo, Resource, Sample, SamplingStats, ThreadInfo, ThreadSample,
};
use procfs::process::{Process, Syscall, Task};
use std::collections::{BTreeMap, HashMap, HashSet};

/// `read_failures` key of a `/proc/PID/task/TID/syscall` read the kernel refused.
pub const SYSCALL_DENIED: &str = "syscall-denied";

/// Slow counters (`status`, `io`) are read every this many ticks.
pub const SLOW_EVERY: u64 = 10;

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

/// What a blocked thread was blocked in, kept to skip re-reading it.
#[derive(Debug, Clone)]
struct Blocked {
    /// `schedstat` switch-in count when read: unchanged means the thread has
    /// not run since, so it is still inside the same blocking call.
    pcount: u64,
    os_state: char,
    wchan: Option<String>,
    syscall: Option<String>,
    waits_on: Option<Resource>,
    futex: Option<FutexSite>,
    futex_addr: Option<u64>,
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
    prev: HashMap<i32, Prev>,
    blocked: HashMap<i32, Blocked>,
    cores_prev: Vec<CoreTicks>,
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
    pub fn new(root: i32, attach: bool) -> Self {
        // SAFETY: sysconf has no memory-safety preconditions.
        let (tps, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        LiveReader {
            tree: TreeTracker::new(root),
            root,
            attach_ticks: attach.then(|| uptime_ticks(tps)),
            ticks: 0,
            prev: HashMap::new(),
            blocked: HashMap::new(),
            cores_prev: read_cores(),
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
        let slow = self.ticks.is_multiple_of(SLOW_EVERY);
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
            let Ok(process) = Process::new(pid) else {
                self.fail("vanished");
                continue;
            };
            self.note_process(&process, pid, t_s, slow);
            let Ok(tasks) = process.tasks() else {
                self.fail("vanished");
                continue;
            };
            for task in tasks.flatten() {
                match self.read_thread(&task, interval_s, slow, &mut sockets) {
                    Some((ts, rss)) => {
                        alive.insert(ts.tid);
                        sample.tree_rss_bytes += rss;
                        sample.threads.push(ts);
                    }
                    None => self.fail("vanished"),
                }
            }
        }
        sample.failed_reads = (self.failures.values().sum::<u64>() - failures_before) as u32;
        self.prev.retain(|tid, _| alive.contains(tid));
        self.blocked.retain(|tid, _| alive.contains(tid));
        self.maps.retain(|pid, _| pids.contains(pid));
        let cores = read_cores();
        sample.cores = parse::core_deltas(&self.cores_prev, &cores);
        self.cores_prev = cores;
        sample
    }

    fn fail(&mut self, why: &str) {
        *self.failures.entry(why.to_string()).or_default() += 1;
    }

    fn note_process(&mut self, process: &Process, pid: i32, t_s: f64, slow: bool) {
        let info = self.processes.entry(pid).or_insert_with(|| {
            let stat = process.stat().ok();
            ProcessInfo {
                pid,
                ppid: stat.as_ref().map_or(0, |s| s.ppid),
                name: stat.map(|s| s.comm).unwrap_or_default(),
                cmdline: process.cmdline().unwrap_or_default(),
                first_seen_s: t_s,
                last_seen_s: t_s,
                peak_rss_bytes: 0,
                read_bytes: 0,
                write_bytes: 0,
            }
        });
        info.last_seen_s = t_s;
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
        task: &Task,
        interval_s: f64,
        slow: bool,
        sockets: &mut SocketTable,
    ) -> Option<(ThreadSample, u64)> {
        let (pid, tid) = (task.pid, task.tid);
        let stat = task.stat().ok()?;
        if pid == tid
            && stat.state == 'Z'
            && pid != self.root
            && stat.ppid == std::process::id() as i32
        {
            // An orphan of the tree adopted by us (subreaper) has exited: reap it.
            // SAFETY: waiting, without blocking, for a child of ours by pid.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
        }
        let sched = task.schedstat().ok();
        let (mut vol, mut invol) = (None, None);
        if slow && let Ok(st) = task.status() {
            vol = st.voluntary_ctxt_switches;
            invol = st.nonvoluntary_ctxt_switches;
        }
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
                |s| s.sum_exec_runtime,
            ),
            run_delay_ns: sched.as_ref().map_or(0, |s| s.run_delay),
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
        if stat.state != 'R' {
            let pcount = sched.as_ref().map(|s| s.pcount);
            match self.blocked.get(&tid) {
                // Not scheduled since the last tick: same call, same answer.
                Some(b) if Some(b.pcount) == pcount && b.os_state == stat.state => {
                    ts.wchan.clone_from(&b.wchan);
                    ts.syscall.clone_from(&b.syscall);
                    ts.waits_on = b.waits_on;
                    ts.futex = b.futex;
                    ts.futex_addr = b.futex_addr;
                }
                _ => {
                    self.read_blocked(task, &mut ts, sockets);
                    if let Some(pcount) = pcount {
                        self.blocked.insert(
                            tid,
                            Blocked {
                                pcount,
                                os_state: stat.state,
                                wchan: ts.wchan.clone(),
                                syscall: ts.syscall.clone(),
                                waits_on: ts.waits_on,
                                futex: ts.futex,
                                futex_addr: ts.futex_addr,
                            },
                        );
                    }
                }
            }
        } else {
            self.blocked.remove(&tid);
        }
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
        Some((ts, rss))
    }

    /// What a blocked thread waits in: wchan, syscall, and what its descriptor is.
    fn read_blocked(&mut self, task: &Task, ts: &mut ThreadSample, sockets: &mut SocketTable) {
        let (pid, tid) = (task.pid, task.tid);
        ts.wchan = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/wchan"))
            .ok()
            .and_then(|w| parse::parse_wchan(&w));
        let syscall = task.syscall();
        if let Err(procfs::ProcError::PermissionDenied(_)) = syscall {
            // No ptrace access (another user's process without
            // CAP_SYS_PTRACE, a setuid program): the wait cannot be told
            // apart. Counted, so a caveat says so instead of a silent "other".
            self.fail(SYSCALL_DENIED);
            return;
        }
        let Ok(Syscall::Blocked {
            syscall_number,
            argument_registers: args,
            ..
        }) = syscall
        else {
            return;
        };
        let Some(name) = syscalls::name(syscall_number) else {
            return;
        };
        ts.syscall = Some(name.to_string());
        if name == "futex" {
            ts.futex = Some(self.futex_site(pid, args[0]));
            ts.futex_addr = Some(args[0]);
        } else if classify::syscall_uses_fd(name) {
            ts.waits_on = Some(self.resolve_wait(pid, name, &args, sockets));
        }
    }

    fn futex_site(&mut self, pid: i32, addr: u64) -> FutexSite {
        let maps = self.maps.entry(pid).or_insert_with(|| read_maps(pid));
        match parse::futex_site(maps, addr) {
            FutexSite::Unknown => {
                // The map may have grown since we read it: refresh once.
                *maps = read_maps(pid);
                parse::futex_site(maps, addr)
            }
            site => site,
        }
    }

    fn resolve_wait(
        &mut self,
        pid: i32,
        name: &str,
        args: &[u64; 6],
        sockets: &mut SocketTable,
    ) -> Resource {
        let fds: Vec<i32> = match name {
            "poll" | "ppoll" => match read_pollfds(pid, args[0], args[1]) {
                Some(fds) => fds,
                None => return Resource::Unknown,
            },
            "select" | "pselect6" => match read_fdsets(pid, args[0], &args[1..4]) {
                Some(fds) => fds,
                None => return Resource::Unknown,
            },
            "epoll_wait" | "epoll_pwait" | "epoll_pwait2" => {
                std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", args[0] as i32))
                    .map(|t| parse::parse_epoll_targets(&t))
                    .unwrap_or_default()
            }
            _ => vec![args[0] as i32],
        };
        let kinds = fds.iter().map(|&fd| resolve_fd(pid, fd, sockets));
        let resource = combine(kinds);
        // An event loop (asyncio) always watches its own wake-up socketpair:
        // with no network or file descriptor in the set and a finite timeout,
        // it is waiting for a timer, i.e. sleeping.
        // epoll_wait/epoll_pwait take an int timeout (-1 = forever);
        // epoll_pwait2 takes a pointer to a timespec (NULL = forever).
        let finite = match name {
            "epoll_wait" | "epoll_pwait" => args[3] as i32 >= 0,
            "epoll_pwait2" => args[3] != 0,
            _ => false,
        };
        if finite
            && !matches!(
                resource,
                Resource::InetSocket | Resource::Socket | Resource::File
            )
        {
            return Resource::Nothing;
        }
        resource
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

/// Several descriptors → one resource: the network wins (a poll on a socket
/// plus a wake-up pipe is a network wait), then storage, then local IPC.
fn combine(kinds: impl Iterator<Item = Resource>) -> Resource {
    let rank = |r: &Resource| match r {
        Resource::InetSocket => 0,
        Resource::Socket => 1,
        Resource::File => 2,
        Resource::UnixSocket => 3,
        Resource::Pipe => 4,
        Resource::Device => 5,
        Resource::Event => 6,
        Resource::Unknown => 7,
        Resource::Nothing => 8,
    };
    kinds.min_by_key(rank).unwrap_or(Resource::Nothing)
}

fn resolve_fd(pid: i32, fd: i32, sockets: &mut SocketTable) -> Resource {
    if fd < 0 {
        return Resource::Unknown;
    }
    let Ok(link) = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")) else {
        return Resource::Unknown;
    };
    match parse::parse_fd_link(&link.to_string_lossy()) {
        (Resource::Socket, Some(inode)) => sockets.kind(pid, inode),
        (r, _) => r,
    }
}

/// Socket inodes of the target's network namespace, read at most once per tick
/// and only when a thread is found blocked on a socket.
#[derive(Default)]
struct SocketTable {
    loaded: bool,
    inet: HashSet<u64>,
    unix: HashSet<u64>,
}

impl SocketTable {
    fn kind(&mut self, pid: i32, inode: u64) -> Resource {
        if !self.loaded {
            self.loaded = true;
            for t in ["tcp", "tcp6", "udp", "udp6"] {
                if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{t}")) {
                    self.inet.extend(parse::parse_inet_inodes(&text));
                }
            }
            if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/unix")) {
                self.unix.extend(parse::parse_unix_inodes(&text));
            }
        }
        if self.inet.contains(&inode) {
            Resource::InetSocket
        } else if self.unix.contains(&inode) {
            Resource::UnixSocket
        } else {
            Resource::Socket
        }
    }
}

fn read_maps(pid: i32) -> Vec<Mapping> {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .map(|t| parse::parse_maps(&t))
        .unwrap_or_default()
}

fn read_cores() -> Vec<CoreTicks> {
    std::fs::read_to_string("/proc/stat")
        .map(|t| parse::parse_proc_stat_cores(&t))
        .unwrap_or_default()
}

/// Copy `len` bytes from another process. Used only for the small argument
/// arrays of poll/select, which /proc does not show.
fn read_remote(pid: i32, addr: u64, len: usize) -> Option<Vec<u8>> {
    if addr == 0 || len == 0 {
        return None;
    }
    let mut buf = vec![0u8; len];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: len,
    };
    // SAFETY: `local` points at `buf`, which is `len` bytes long and outlives
    // the call; the remote range is only read by the kernel on our behalf.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    (n == len as isize).then_some(buf)
}

/// The descriptors of a `struct pollfd[nfds]` array (at most 64 looked at);
/// `None` when the memory could not be read (then the wait is unknown, not
/// a pure timeout).
fn read_pollfds(pid: i32, addr: u64, nfds: u64) -> Option<Vec<i32>> {
    let n = nfds.min(64) as usize;
    if n == 0 {
        return Some(Vec::new());
    }
    let buf = read_remote(pid, addr, n * 8)?;
    Some(
        buf.chunks_exact(8)
            .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .filter(|&fd| fd >= 0)
            .collect(),
    )
}

/// The descriptors set in select's read/write/except `fd_set`s.
fn read_fdsets(pid: i32, nfds: u64, sets: &[u64]) -> Option<Vec<i32>> {
    let bytes = (nfds.min(1024) as usize).div_ceil(8);
    let mut fds = Vec::new();
    for &addr in sets {
        if addr == 0 || bytes == 0 {
            continue;
        }
        let buf = read_remote(pid, addr, bytes)?;
        {
            for (i, b) in buf.iter().enumerate() {
                for bit in 0..8 {
                    if b & (1 << bit) != 0 {
                        fds.push((i * 8 + bit) as i32);
                    }
                }
            }
        }
    }
    fds.sort_unstable();
    fds.dedup();
    Some(fds)
}

/// Clock ticks since boot now, the unit of a thread's `starttime`.
fn uptime_ticks(tps: libc::c_long) -> u64 {
    let secs: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    (secs * tps.max(1) as f64) as u64
}
