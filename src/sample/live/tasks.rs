//! The per-thread reads of a tick, through descriptors kept open
//! (`procfd.rs`), and the thread list of each process, kept between ticks.
//!
//! Listing `/proc/PID/task` costs about as much as reading three files, so it
//! is not done every tick: every thread's `stat` carries its process's thread
//! count, and while the leader's count equals the number of threads known and
//! none of them failed to read, the known list is still the list. A thread
//! that exits and is replaced within one tick fails its read: it is dropped,
//! the count no longer matches, and the next tick lists again.

use super::super::parse::{self, CoreTicks};
use super::super::taskstat::{self, SchedStat, SyscallState, TaskStat};
use super::procfd::{self, Budget, Cached, ThreadFiles};
use std::collections::{HashMap, HashSet};
use std::io;

/// Reads of threads' `/proc` files with their kept descriptors.
#[derive(Debug, Default)]
pub(super) struct TaskReader {
    files: HashMap<i32, ThreadFiles>,
    budget: Budget,
    /// One buffer for every read: the text is parsed before the next read.
    buf: Vec<u8>,
    /// Threads of each process at the last listing, minus those that failed since.
    known: HashMap<i32, Vec<i32>>,
    cores: Cached,
}

impl TaskReader {
    fn read<T>(
        &mut self,
        pid: i32,
        tid: i32,
        name: &'static str,
        pick: fn(&mut ThreadFiles) -> &mut Cached,
        parse: impl FnOnce(&[u8]) -> T,
    ) -> io::Result<T> {
        let files = self.files.entry(tid).or_default();
        let path = || format!("/proc/{pid}/task/{tid}/{name}");
        pick(files)
            .read(path, &mut self.budget, &mut self.buf)
            .map(parse)
    }

    pub fn stat(&mut self, pid: i32, tid: i32) -> Option<TaskStat> {
        self.read(pid, tid, "stat", |f| &mut f.stat, taskstat::parse_task_stat)
            .ok()
            .flatten()
    }

    pub fn schedstat(&mut self, pid: i32, tid: i32) -> Option<SchedStat> {
        let s = self.read(
            pid,
            tid,
            "schedstat",
            |f| &mut f.schedstat,
            taskstat::parse_schedstat,
        );
        s.ok().flatten()
    }

    /// Voluntary and involuntary context switches (`status`, the costly file).
    pub fn switches(&mut self, pid: i32, tid: i32) -> (Option<u64>, Option<u64>) {
        self.read(
            pid,
            tid,
            "status",
            |f| &mut f.status,
            taskstat::parse_status_switches,
        )
        .unwrap_or((None, None))
    }

    pub fn wchan(&mut self, pid: i32, tid: i32) -> Option<String> {
        self.read(
            pid,
            tid,
            "wchan",
            |f| &mut f.wchan,
            |b| parse::parse_wchan(&String::from_utf8_lossy(b)),
        )
        .ok()
        .flatten()
    }

    /// The system call a thread is blocked in; `Err` only when the kernel
    /// refused the read (`PermissionDenied`: no ptrace access).
    pub fn syscall(&mut self, pid: i32, tid: i32) -> Result<Option<SyscallState>, io::Error> {
        match self.read(
            pid,
            tid,
            "syscall",
            |f| &mut f.syscall,
            taskstat::parse_syscall,
        ) {
            Ok(s) => Ok(s),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Err(e),
            Err(_) => Ok(None),
        }
    }

    /// The threads of `pid`: the known list while the leader's `stat`
    /// (`num_threads`) agrees with it, else a fresh listing of `task/`.
    pub fn threads(&mut self, pid: i32, leader: &TaskStat) -> Option<Vec<i32>> {
        if let Some(tids) = self.known.get(&pid)
            && tids.len() as u64 == leader.num_threads
        {
            return Some(tids.clone());
        }
        let mut tids: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/task"))
            .ok()?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        tids.sort_unstable();
        self.known.insert(pid, tids.clone());
        Some(tids)
    }

    /// A thread of `pid` failed to read (it exited): forget it, so the
    /// count differs and the next tick lists `task/` again.
    pub fn forget(&mut self, pid: i32, tid: i32) {
        if let Some(tids) = self.known.get_mut(&pid) {
            tids.retain(|&t| t != tid);
        }
    }

    /// Close the files of threads not seen this tick and forget processes
    /// that are no longer in the tree.
    pub fn retain(&mut self, alive: &HashSet<i32>, pids: &[i32]) {
        let budget = &mut self.budget;
        self.files.retain(|tid, f| {
            let keep = alive.contains(tid);
            if !keep {
                f.close(budget);
            }
            keep
        });
        self.known.retain(|pid, _| pids.contains(pid));
    }

    /// Per-CPU ticks of `/proc/stat`, through a kept descriptor too.
    pub fn cores(&mut self) -> Vec<CoreTicks> {
        self.cores
            .read(|| "/proc/stat".into(), &mut self.budget, &mut self.buf)
            .map(|b| parse::parse_proc_stat_cores(&String::from_utf8_lossy(b)))
            .unwrap_or_default()
    }

    /// Descriptors held now (for tests and the budget).
    #[cfg(test)]
    pub fn open_files(&self) -> usize {
        self.budget.open
    }
}

/// A `/proc` file read by path (open, one read, close: no `statx`), as text.
pub(super) fn read_text(path: &str) -> Option<String> {
    let mut buf = Vec::new();
    procfd::read_path(std::path::Path::new(path), &mut buf)
        .ok()
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> i32 {
        std::process::id() as i32
    }

    #[test]
    fn thread_list_is_kept_while_the_count_holds_and_relisted_when_it_changes() {
        // Other tests start threads meanwhile: the counts are made up here,
        // the listing is real.
        let mut r = TaskReader::default();
        let pid = me();
        let own = crate::sample::gettid();
        let leader = r.stat(pid, pid).expect("leader stat");
        assert!(r.threads(pid, &leader).expect("listed").contains(&own));
        // A tid that is not there, kept while the count agrees: no listing.
        r.known.get_mut(&pid).expect("known").push(-1);
        let count = |n: usize| TaskStat {
            num_threads: n as u64,
            ..leader.clone()
        };
        let n = r.known[&pid].len();
        assert!(r.threads(pid, &count(n)).expect("kept").contains(&-1));
        // A count that disagrees (a thread started or ended): listed afresh.
        let relisted = r.threads(pid, &count(n + 1)).expect("relisted");
        assert!(!relisted.contains(&-1) && relisted.contains(&own));
        // A thread that failed to read is forgotten: the count then differs.
        let before = r.known[&pid].len();
        r.forget(pid, own);
        assert_eq!(r.known[&pid].len(), before - 1);
    }

    #[test]
    fn files_of_threads_no_longer_seen_are_closed() {
        let mut r = TaskReader::default();
        let pid = me();
        let leader = r.stat(pid, pid).expect("stat");
        assert!(r.schedstat(pid, pid).is_some());
        assert_eq!(r.open_files(), 2);
        r.retain(&HashSet::new(), &[]);
        assert_eq!(r.open_files(), 0);
        assert!(r.known.is_empty() && leader.num_threads >= 1);
        assert!(!r.cores().is_empty(), "/proc/stat per-CPU lines");
    }
}
