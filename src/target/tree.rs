//! Which processes belong to the target's tree right now.
//!
//! This kernel has no `/proc/PID/task/TID/children`, so the tree is found by
//! listing `/proc` and reading the parent of each pid not seen before. Each
//! pid's parent is read once and remembered (keyed by pid, forgotten when the
//! pid disappears from `/proc`), so a tick costs one directory listing plus
//! one `stat` read per new process. Membership is sticky: a child whose
//! parent exits is reparented to init but stays in the tree we watch.
//!
//! Listing `/proc` is the largest fixed cost of a tick, so it is done at most
//! every [`RESCAN_EVERY`]; in between the last tree is reused (a process that
//! exited meanwhile simply fails to read). A child that lives shorter than
//! that interval may be missed; its CPU time still reaches its parent's
//! counters (`cutime`) and the perf totals. Even then it is skipped while
//! `/proc/loadavg` says no task was created or reaped anywhere since the
//! last listing ([`Churn`]): a listing cost ~19 % of the sampler's CPU at
//! 100 Hz on a 5-thread target, and a target that has started its threads
//! changes nothing that a listing would find.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Processes boundcheck started for itself (the local Ray or Dask cluster of
/// an engine experiment): as children of the subreaper they would otherwise
/// count as orphans adopted from every run's tree, adding the cluster's
/// memory and processes to each measured run.
static KEPT_OUT: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Keep `pid` and its descendants out of every tree from now on.
pub fn keep_out(pid: i32) {
    if let Ok(mut v) = KEPT_OUT.lock() {
        v.push(pid);
    }
}

/// Undo [`keep_out`] once that process is gone (its pid may be reused).
pub fn let_in(pid: i32) {
    if let Ok(mut v) = KEPT_OUT.lock() {
        v.retain(|&p| p != pid);
    }
}

/// Longest time between two listings of `/proc`.
pub const RESCAN_EVERY: Duration = Duration::from_millis(20);

/// Processes outside the target's tree to sample with it: an existing
/// cluster's workers on this node (`target::cluster`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extra {
    /// These processes and their descendants.
    pub pids: Vec<i32>,
    /// The children these processes start from now on (a raylet's new
    /// workers), not the ones they have already (its agents).
    pub children_of: Vec<i32>,
}

/// Tracks the descendants of one root process.
#[derive(Debug)]
pub struct TreeTracker {
    root: i32,
    /// An existing cluster's processes on this node that count as the tree
    /// too (`target::cluster`).
    extra: Extra,
    /// Whether `/proc` was listed once: children of `extra.children_of`
    /// count only when they appear after that first listing.
    listed_once: bool,
    /// Every pid listed in /proc last time, with whether it is in the tree.
    known: HashMap<i32, bool>,
    last: Vec<i32>,
    last_scan: Option<Instant>,
    /// The machine's task churn when `/proc` was last listed.
    churn: Option<Churn>,
}

/// What `/proc/loadavg` says of the machine's tasks: the last pid handed
/// out (any process or thread created, in this pid namespace or one below
/// it, moves it) and how many tasks exist (one reaped lowers it). While
/// both are unchanged no process was created or reaped since, so a listing
/// of `/proc` would find the same pids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Churn {
    last_pid: u64,
    tasks: u64,
}

impl Churn {
    /// Now, or `None` when `/proc/loadavg` cannot be read or parsed.
    fn now() -> Option<Churn> {
        Churn::parse(&std::fs::read_to_string("/proc/loadavg").ok()?)
    }

    /// `0.44 1.04 1.39 1/111 9559` → 111 tasks, last pid 9559.
    fn parse(text: &str) -> Option<Churn> {
        let mut fields = text.split_whitespace().skip(3);
        let tasks = fields.next()?.split_once('/')?.1.parse().ok()?;
        let last_pid = fields.next()?.parse().ok()?;
        Some(Churn { last_pid, tasks })
    }
}

impl TreeTracker {
    pub fn new(root: i32) -> Self {
        Self::with_extra(root, &Extra::default())
    }

    /// A tracker of `root`'s tree and of an existing cluster's processes.
    pub fn with_extra(root: i32, extra: &Extra) -> Self {
        TreeTracker {
            root,
            extra: extra.clone(),
            listed_once: false,
            known: HashMap::new(),
            last: Vec::new(),
            last_scan: None,
            churn: None,
        }
    }

    /// The pids of the tree, root first: listed afresh when the last listing
    /// is older than [`RESCAN_EVERY`] and tasks were created or reaped since
    /// ([`Churn`]), else the last one.
    pub fn current(&mut self) -> Vec<i32> {
        if self.last_scan.is_none_or(|t| t.elapsed() >= RESCAN_EVERY) {
            // Read before listing: a task created during the listing moves
            // it again, and the next call lists.
            let churn = Churn::now();
            if churn.is_none() || churn != self.churn {
                self.last = self.scan();
            }
            self.churn = churn;
            self.last_scan = Some(Instant::now());
        }
        self.last.clone()
    }

    /// List `/proc` and return the pids of the tree now, root first.
    pub fn scan(&mut self) -> Vec<i32> {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return vec![self.root];
        };
        let listed: HashSet<i32> = dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        self.known.retain(|pid, _| listed.contains(pid));
        let me = std::process::id() as i32;
        // The root is ours by definition, boundcheck itself never is (attaching
        // to one of our ancestors must not sample ourselves).
        self.known.insert(me, false);
        if let Ok(out) = KEPT_OUT.lock() {
            for &pid in out.iter().filter(|&&p| listed.contains(&p)) {
                self.known.insert(pid, false);
            }
        }
        for &pid in self.extra.pids.iter().filter(|&&p| listed.contains(&p)) {
            self.known.insert(pid, true);
        }
        self.known.insert(self.root, true);
        let mut fresh: Vec<(i32, i32)> = listed
            .iter()
            .filter(|pid| !self.known.contains_key(pid))
            .filter_map(|&pid| Some((pid, read_ppid(pid)?)))
            .collect();
        // Resolve new pids whose parent is also new: repeat until nothing changes.
        loop {
            let before = fresh.len();
            fresh.retain(|&(pid, ppid)| {
                // A child of boundcheck that is not the root is an orphan of
                // the tree adopted by us as subreaper (`cmd &` in a shell).
                let parent =
                    if ppid == me || (self.listed_once && self.extra.children_of.contains(&ppid)) {
                        Some(true)
                    } else {
                        self.known.get(&ppid).copied()
                    };
                match parent {
                    Some(in_tree) => {
                        self.known.insert(pid, in_tree);
                        false
                    }
                    None => true,
                }
            });
            if fresh.len() == before {
                break;
            }
        }
        // Parents we never saw (exited before the listing): not ours.
        for (pid, _) in fresh {
            self.known.insert(pid, false);
        }
        let mut tree: Vec<i32> = self
            .known
            .iter()
            .filter(|&(&pid, &in_tree)| in_tree && listed.contains(&pid))
            .map(|(&pid, _)| pid)
            .collect();
        tree.sort_unstable_by_key(|&p| (p != self.root, p));
        self.listed_once = true;
        tree
    }
}

fn read_ppid(pid: i32) -> Option<i32> {
    Some(procfs::process::Process::new(pid).ok()?.stat().ok()?.ppid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loadavg_gives_the_last_pid_and_the_task_count() {
        let c = Churn::parse("0.44 1.04 1.39 1/111 9559\n").expect("parsed");
        assert_eq!((c.tasks, c.last_pid), (111, 9559));
        assert_eq!(Churn::parse("0.44 1.04 1.39 1-111 9559"), None);
        assert!(Churn::now().is_some(), "this machine's /proc/loadavg");
    }

    #[test]
    fn a_child_started_after_a_quiet_spell_is_found() {
        // The listing is skipped while nothing is created or reaped; a
        // child started later must still be found by current().
        let me = std::process::id() as i32;
        let mut tracker = TreeTracker::new(me);
        tracker.current();
        std::thread::sleep(RESCAN_EVERY * 2);
        tracker.current();
        let mut child = std::process::Command::new("sleep")
            .arg("2")
            .spawn()
            .expect("sleep");
        std::thread::sleep(RESCAN_EVERY * 2);
        let found = tracker.current();
        let _ = child.kill();
        let _ = child.wait();
        assert!(found.contains(&(child.id() as i32)), "{found:?}");
    }

    #[test]
    fn the_root_is_in_the_tree_from_the_first_scan() {
        // Regression: the root was reset to "not ours" on the first listing.
        let mut child = std::process::Command::new("sleep")
            .arg("2")
            .spawn()
            .expect("sleep");
        let pid = child.id() as i32;
        let mut tracker = TreeTracker::new(pid);
        let first = tracker.scan();
        let _ = child.kill();
        let _ = child.wait();
        // (Other children of this test process may be listed too: to a
        // subreaper, every child is part of the tree.)
        assert_eq!(first.first(), Some(&pid), "{first:?}");
    }

    #[test]
    fn finds_children_and_grandchildren_of_this_test() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 2 & wait"])
            .spawn()
            .expect("sh");
        let me = std::process::id() as i32;
        let mut tracker = TreeTracker::new(me);
        let mut found = Vec::new();
        for _ in 0..100 {
            found = tracker.scan();
            if found.len() >= 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(found[0], me, "root first");
        assert!(found.contains(&(child.id() as i32)), "{found:?}");
        assert!(found.len() >= 3, "grandchild (sleep) found too: {found:?}");
    }
}
