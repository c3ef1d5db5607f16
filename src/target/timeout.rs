//! `--timeout`: stop a launched target that runs too long, like coreutils
//! `timeout`, but for the whole process tree.
//!
//! When the time is up every process of the tree gets SIGTERM, so a program
//! that handles it can flush its output; one that is still there after
//! [`GRACE`] gets SIGKILL. The tree, not only the launched process, is
//! signalled: the launched process shares boundcheck's process group (so a
//! Ctrl-C typed at the terminal reaches it), which rules out signalling a
//! group, and a target that forked workers or called `setsid` would otherwise
//! leave them running. The tree is found the way the sampler finds it
//! (descendants by parent pid, plus orphans adopted by boundcheck as
//! subreaper), so a double-forked daemon of the target is stopped too.
//!
//! The exit status of a timed-out run is 124 (coreutils' choice), whatever the
//! target did with the signal: a script can tell "too slow" from "failed".

use super::tree::TreeTracker;
use std::time::{Duration, Instant};

/// How long a target has between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);

/// Exit status of boundcheck when `--timeout` stopped the target.
pub const TIMED_OUT_STATUS: i32 = 124;

/// Watches the clock for one launched target.
#[derive(Debug)]
pub struct Timeout {
    deadline: Option<Instant>,
    limit: Option<Duration>,
    terminated_at: Option<Instant>,
    killed: bool,
}

impl Timeout {
    /// A watch that fires `limit` after `start`; `None` never fires.
    pub fn new(start: Instant, limit: Option<Duration>) -> Self {
        Timeout {
            deadline: limit.map(|l| start + l),
            limit,
            terminated_at: None,
            killed: false,
        }
    }

    /// Call often while the target runs: signals the tree under `root` when due.
    pub fn poll(&mut self, root: i32) {
        let now = Instant::now();
        match self.terminated_at {
            None if self.deadline.is_some_and(|d| now >= d) => {
                signal_tree(root, libc::SIGTERM);
                self.terminated_at = Some(now);
            }
            Some(t) if !self.killed && now.duration_since(t) >= GRACE => {
                signal_tree(root, libc::SIGKILL);
                self.killed = true;
            }
            _ => {}
        }
    }

    /// The limit, when it stopped the target.
    pub fn fired(&self) -> Option<Duration> {
        self.terminated_at.and(self.limit)
    }

    /// After the launched process has exited (not yet reaped, so the tree can
    /// still be found from it): give what is left of the tree the rest of the
    /// grace period, then SIGKILL it; reap what boundcheck adopted as it ends.
    pub fn finish(&mut self, root: i32) {
        let Some(t) = self.terminated_at else {
            return;
        };
        // SIGKILL cannot be refused, but its delivery is not instant.
        let give_up = t + GRACE + Duration::from_secs(1);
        loop {
            let tree: Vec<i32> = TreeTracker::new(root)
                .scan()
                .into_iter()
                .filter(|&p| p != root)
                .collect();
            reap(&tree);
            let alive: Vec<i32> = tree.into_iter().filter(|&p| !super::has_ended(p)).collect();
            let now = Instant::now();
            if alive.is_empty() || now >= give_up {
                return;
            }
            if now.duration_since(t) >= GRACE {
                for &pid in &alive {
                    // SAFETY: sending a signal to a pid of the target's tree.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                self.killed = true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn signal_tree(root: i32, sig: i32) {
    for pid in TreeTracker::new(root).scan() {
        // SAFETY: sending a signal to a pid of the target's tree.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Reap those of `pids` that are boundcheck's (adopted) children and have exited.
fn reap(pids: &[i32]) {
    for &pid in pids {
        // SAFETY: non-blocking wait for a specific pid; ECHILD when not ours.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
    }
}
