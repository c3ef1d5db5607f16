//! Which [`Part`] each sampled thread-moment goes in: Python or native on a
//! CPU, and for a futex wait, the GIL, a lock held by another thread, or a
//! thread parked on its own condition.

use super::Part;
use crate::diagnose::features::{CONTENDED_SWITCHES_PER_S, Features, lock_waiters};
use crate::timeline::{FutexSite, PyState, Resource, ThreadSample, ThreadState, Timeline};
use std::collections::{BTreeMap, BTreeSet};

/// Tells contended lock waits from parked ones, and Python from native code,
/// per thread-moment.
pub(super) struct Judge {
    /// Processes running Python: read by py-spy, or named `python*` (a run
    /// without stacks still runs Python there, GIL and all).
    python_pids: BTreeSet<i32>,
    /// (pid, futex address) → threads seen waiting on it.
    waiters: BTreeMap<(i32, u64), BTreeSet<i32>>,
    have_addresses: bool,
    /// Threads woken often enough to be handing a lock around.
    busy_switchers: BTreeSet<i32>,
    /// Per Python thread, the share of its on-CPU moments with a stack read
    /// that ran native code without the GIL.
    native_share: BTreeMap<i32, f64>,
    /// Per thread, the running remainder of that share over its on-CPU
    /// moments without a stack read (see [`Judge::unread_cpu`]).
    unread_debt: BTreeMap<i32, f64>,
}

impl Judge {
    pub(super) fn new(tl: &Timeline, f: &Features) -> Judge {
        let have_addresses = tl
            .samples
            .iter()
            .any(|s| s.threads.iter().any(|t| t.futex_addr.is_some()));
        let busy_switchers = f
            .threads
            .iter()
            .filter(|t| t.switch_rate() >= CONTENDED_SWITCHES_PER_S)
            .map(|t| t.tid)
            .collect();
        let waiters = lock_waiters(tl);
        let python_pids = tl
            .processes
            .iter()
            .filter(|p| p.name.starts_with("python"))
            .map(|p| p.pid)
            .chain(
                tl.stack_sampling
                    .iter()
                    .flat_map(|s| s.python_pids.iter().copied()),
            )
            .collect();
        Judge {
            python_pids,
            waiters,
            have_addresses,
            busy_switchers,
            native_share: native_shares(tl),
            unread_debt: Default::default(),
        }
    }

    /// The part of an on-CPU moment of a Python thread whose tick got no
    /// stack read. Stacks are read at an adaptive rate, often on every
    /// other tick or fewer: charging every such moment to Python made a
    /// program that hashes with the GIL released (hashlib, zlib) read as
    /// `cpu-python 42 % · cpu-native 15 %`. The moments are split in the
    /// proportion the thread's read moments show, by error diffusion (the
    /// `k`-th unread moment is native when the running sum of the share
    /// crosses a whole number), so the split is exact over the run and the
    /// same on every replay. A thread never read is Python, as before.
    fn unread_cpu(&mut self, tid: i32) -> Part {
        let Some(&share) = self.native_share.get(&tid) else {
            return Part::CpuPython;
        };
        let debt = self.unread_debt.entry(tid).or_insert(0.0);
        *debt += share;
        if *debt >= 0.5 {
            *debt -= 1.0;
            Part::CpuNative
        } else {
            Part::CpuPython
        }
    }

    /// Lock wait, parked, GIL wait or IPC, for a thread blocked on a futex.
    fn part(&self, tl: &Timeline, t: &ThreadSample) -> Part {
        if t.futex == Some(FutexSite::Interpreter) || t.py == Some(PyState::GilWait) {
            return Part::GilWait;
        }
        // With a stack: the standard library's waiting code innermost means
        // the thread waits on a condition of its own; the program's own frame
        // innermost means it called a C-level `acquire` on a lock held elsewhere.
        let leaf_is_waiting = t.stack.map(|id| {
            tl.stacks
                .frames_of(id)
                .last()
                .is_some_and(|f| f.is_sync_machinery() || f.is_pool_machinery())
        });
        if t.futex == Some(FutexSite::Shared) {
            return if leaf_is_waiting == Some(false) {
                Part::LockWait
            } else {
                Part::Ipc
            };
        }
        let shared = t
            .futex_addr
            .and_then(|a| self.waiters.get(&(t.pid, a)))
            .is_some_and(|w| w.len() >= 2);
        match leaf_is_waiting {
            Some(true) => Part::Parked,
            Some(false) => Part::LockWait,
            None if shared => Part::LockWait,
            None if !self.have_addresses && self.busy_switchers.contains(&t.tid) => Part::LockWait,
            None => Part::Parked,
        }
    }
}

/// Per thread with stack reads on the CPU, the share of them native without
/// the GIL.
fn native_shares(tl: &Timeline) -> BTreeMap<i32, f64> {
    let mut counts: BTreeMap<i32, (f64, f64)> = BTreeMap::new();
    for t in tl.samples.iter().flat_map(|s| &s.threads) {
        if t.state != ThreadState::OnCpu {
            continue;
        }
        if let Some(py) = t.py {
            let c = counts.entry(t.tid).or_default();
            c.1 += 1.0;
            if py == PyState::NativeNogil {
                c.0 += 1.0;
            }
        }
    }
    counts
        .into_iter()
        .map(|(tid, (native, read))| (tid, native / read))
        .collect()
}

/// The part of one thread-moment, from its sampled state.
/// Samples must come in order: unread on-CPU moments carry a running
/// remainder from one to the next ([`Judge::unread_cpu`]).
pub(super) fn part_of(judge: &mut Judge, tl: &Timeline, t: &ThreadSample) -> Part {
    match t.state {
        ThreadState::OnCpu => match t.py {
            Some(PyState::NativeNogil) => Part::CpuNative,
            Some(_) => Part::CpuPython,
            None if judge.python_pids.contains(&t.pid) => judge.unread_cpu(t.tid),
            None => Part::CpuNative,
        },
        ThreadState::Runnable => Part::RunQueue,
        ThreadState::LockWait => judge.part(tl, t),
        ThreadState::DiskWait => Part::Disk,
        ThreadState::NetWait => Part::Network,
        ThreadState::Sleep => Part::Sleep,
        ThreadState::ChildWait => Part::Ipc,
        ThreadState::Other => match t.waits_on {
            Some(Resource::Pipe | Resource::UnixSocket) => Part::Ipc,
            _ => Part::Other,
        },
    }
}
