//! Which [`Part`] each sampled thread-moment goes in: Python or native on a
//! CPU, and for a futex wait, the GIL, a lock held by another thread, or a
//! thread parked on its own condition.

use super::Part;
use crate::diagnose::features::{CONTENDED_SWITCHES_PER_S, Features, lock_waiters};
use crate::timeline::{Frame, FutexSite, PyState, Resource, ThreadSample, ThreadState, Timeline};
use std::collections::{BTreeMap, BTreeSet};

/// What a futex wait is, read from the waiting thread's Python stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FutexWait {
    /// The standard library's waiting code innermost (`Condition.wait`,
    /// `queue.get`, `join`, an idle executor worker): a condition of its own.
    Parked,
    /// A lock the program asked for: a C-level `acquire` from its own frame,
    /// or `with cond:` on its own `threading.Condition`.
    ProgramLock,
    /// The mutex of a `Condition` that the standard library itself takes
    /// (an executor's idle semaphore, a `Future`'s condition, a queue's
    /// mutex) around a few bytecodes.
    LibraryLock,
}

/// Frames of `threading.py` that block taking a `Condition`'s mutex (on
/// entering `with cond:`, or taking it back after a `wait`), as opposed to
/// waiting for a notification.
const MUTEX_ACQUIRES: [&str; 2] = ["Condition.__enter__", "Condition._acquire_restore"];

fn futex_wait(frames: &[&Frame]) -> FutexWait {
    let Some(leaf) = frames.last() else {
        return FutexWait::Parked;
    };
    if !(leaf.is_sync_machinery() || leaf.is_pool_machinery()) {
        return FutexWait::ProgramLock;
    }
    // A semaphore's permits are held by other threads: queueing on one the
    // program took is contention for what it guards (16 threads behind a
    // `Semaphore(2)` around their requests), though `threading` waits for a
    // permit in a `Condition.wait` like any parked thread.
    let semaphore = frames
        .iter()
        .any(|f| f.file.ends_with("/threading.py") && f.name.ends_with("Semaphore.acquire"));
    if !semaphore && !MUTEX_ACQUIRES.contains(&leaf.name.as_str()) {
        return FutexWait::Parked;
    }
    // Who asked for the mutex: the first frame outward not in threading.py.
    let asker = frames
        .iter()
        .rev()
        .find(|f| !f.file.ends_with("/threading.py"));
    match asker {
        Some(f) if !f.is_stdlib() => FutexWait::ProgramLock,
        // A library's own semaphore (an executor's idle count) is no
        // program lock: waiting on it is waiting for work.
        _ if semaphore => FutexWait::Parked,
        _ => FutexWait::LibraryLock,
    }
}

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
    /// Lock addresses whose waits, where a stack was read, were mostly on a
    /// library's mutex ([`FutexWait::LibraryLock`]): the same lock's waits
    /// without a stack read are that too.
    library_locks: BTreeSet<(i32, u64)>,
    /// Processes with threads seen waiting for the GIL.
    gil_pids: BTreeSet<i32>,
    /// Per Python thread, the share of its on-CPU moments with a stack read
    /// that ran native code without the GIL.
    native_share: BTreeMap<i32, f64>,
    /// Per thread, the running remainder of that share over its on-CPU
    /// moments without a stack read (see [`Judge::unread_cpu`]).
    unread_debt: BTreeMap<i32, f64>,
    /// Lines of the program where its threads were seen blocked on a lock
    /// of its own, per process (see [`Judge::acquiring`]).
    lock_lines: BTreeMap<i32, BTreeSet<Frame>>,
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
        let LockScan {
            library: library_locks,
            gil_pids,
            lock_lines,
        } = scan_lock_waits(tl);
        Judge {
            python_pids,
            waiters,
            library_locks,
            gil_pids,
            have_addresses,
            busy_switchers,
            native_share: native_shares(tl),
            unread_debt: Default::default(),
            lock_lines,
        }
    }

    /// Whether a thread on a CPU or queued for one without the GIL is at a
    /// line where its process's threads block on a lock of the program's:
    /// it is taking that lock (woken by its release, retaking the GIL), a
    /// cost of the lock, not native work. A C-level `with lock:` has no
    /// Python frame of its own, so the acquiring line is the innermost
    /// frame. Under a competing load a 4-thread convoy spent 33 % of its
    /// run there, counted as GIL-free CPU and run-queue time: `cpu-parallel`.
    fn acquiring(&self, tl: &Timeline, t: &ThreadSample) -> bool {
        t.py != Some(PyState::GilHeld)
            && t.stack.is_some_and(|id| {
                tl.stacks.frames_of(id).last().is_some_and(|leaf| {
                    self.lock_lines
                        .get(&t.pid)
                        .is_some_and(|l| l.contains(*leaf))
                })
            })
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
    ///
    /// A wait on a library's mutex in a process whose threads wait for the
    /// GIL is charged to the GIL: the library holds that mutex around a few
    /// bytecodes, so a thread queues on it only while its holder waits to
    /// take the GIL back (`json_threadpool`: 8 executor workers queued up to
    /// 19 % of the run on the idle semaphore's condition in `_worker`, and
    /// `shrink-lock` was recommended once in 10 for a lock the program does
    /// not own). Processes, not a smaller lock, remove it.
    fn part(&self, tl: &Timeline, t: &ThreadSample) -> Part {
        if waits_for_gil(t) {
            return Part::GilWait;
        }
        let kind = t.stack.map(|id| futex_wait(&tl.stacks.frames_of(id)));
        if t.futex == Some(FutexSite::Shared) {
            return if kind == Some(FutexWait::ProgramLock) {
                Part::LockWait
            } else {
                Part::Ipc
            };
        }
        let library = match kind {
            Some(k) => k == FutexWait::LibraryLock,
            None => t
                .futex_addr
                .is_some_and(|a| self.library_locks.contains(&(t.pid, a))),
        };
        if library && self.gil_pids.contains(&t.pid) {
            return Part::GilWait;
        }
        let shared = t
            .futex_addr
            .and_then(|a| self.waiters.get(&(t.pid, a)))
            .is_some_and(|w| w.len() >= 2);
        match kind {
            Some(FutexWait::Parked) => Part::Parked,
            Some(_) => Part::LockWait,
            None if library || shared => Part::LockWait,
            None if !self.have_addresses && self.busy_switchers.contains(&t.tid) => Part::LockWait,
            None => Part::Parked,
        }
    }
}

/// A futex wait on the interpreter's lock: by its address, or by py-spy's
/// GIL state.
fn waits_for_gil(t: &ThreadSample) -> bool {
    t.futex == Some(FutexSite::Interpreter) || t.py == Some(PyState::GilWait)
}

/// What the run's futex waits say about its locks, read in one pass over
/// the lock-wait samples (see [`Judge::part`] and [`Judge::acquiring`]).
struct LockScan {
    /// Lock addresses mostly waited on as a library's mutex.
    library: BTreeSet<(i32, u64)>,
    /// Processes with GIL waits.
    gil_pids: BTreeSet<i32>,
    /// Per process, the innermost frames of waits on the program's own locks.
    lock_lines: BTreeMap<i32, BTreeSet<Frame>>,
}

fn scan_lock_waits(tl: &Timeline) -> LockScan {
    // (pid, address) → (library-mutex waits, other waits) with a stack read.
    let mut votes: BTreeMap<(i32, u64), (u32, u32)> = BTreeMap::new();
    let mut gil_pids = BTreeSet::new();
    let mut lock_lines: BTreeMap<i32, BTreeSet<Frame>> = BTreeMap::new();
    for t in tl.samples.iter().flat_map(|s| &s.threads) {
        if t.state != ThreadState::LockWait {
            continue;
        }
        if waits_for_gil(t) {
            gil_pids.insert(t.pid);
            continue;
        }
        let Some(id) = t.stack else { continue };
        let frames = tl.stacks.frames_of(id);
        let kind = futex_wait(&frames);
        if let Some(addr) = t.futex_addr {
            let v = votes.entry((t.pid, addr)).or_default();
            if kind == FutexWait::LibraryLock {
                v.0 += 1;
            } else {
                v.1 += 1;
            }
        }
        if kind == FutexWait::ProgramLock
            && let Some(leaf) = frames.last()
            && !leaf.is_stdlib()
        {
            lock_lines.entry(t.pid).or_default().insert((*leaf).clone());
        }
    }
    let library = votes
        .into_iter()
        .filter(|(_, (lib, other))| lib > other)
        .map(|(k, _)| k)
        .collect();
    LockScan {
        library,
        gil_pids,
        lock_lines,
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
    if matches!(t.state, ThreadState::OnCpu | ThreadState::Runnable) && judge.acquiring(tl, t) {
        return Part::LockWait;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const THREADING: &str = "/usr/lib/python3.11/threading.py";

    fn frame(name: &str, file: &str) -> Frame {
        Frame {
            name: name.into(),
            file: file.into(),
            line: 1,
        }
    }

    fn kind(frames: &[Frame]) -> FutexWait {
        futex_wait(&frames.iter().collect::<Vec<_>>())
    }

    #[test]
    fn a_mutex_is_the_library_s_or_the_program_s_by_who_asked_for_it() {
        let worker = frame(
            "_worker",
            "/usr/lib/python3.11/concurrent/futures/thread.py",
        );
        let release = frame("Semaphore.release", THREADING);
        let enter = frame("Condition.__enter__", THREADING);
        let app = frame("update", "/srv/app/cache.py");
        // An executor worker bumping its idle semaphore after a task.
        assert_eq!(
            kind(&[worker.clone(), release.clone(), enter.clone()]),
            FutexWait::LibraryLock
        );
        // `with cond:` in the program's own code.
        assert_eq!(kind(&[app.clone(), enter.clone()]), FutexWait::ProgramLock);
        // A C-level `lock.acquire()` from the program's frame.
        assert_eq!(kind(std::slice::from_ref(&app)), FutexWait::ProgramLock);
        // Waiting for a notification, or for work: parked.
        let wait = frame("Condition.wait", THREADING);
        assert_eq!(kind(&[app.clone(), wait.clone()]), FutexWait::Parked);
        assert_eq!(kind(std::slice::from_ref(&worker)), FutexWait::Parked);
        // Waiting for a permit of the program's own semaphore: contention;
        // of a library's: waiting for work.
        let permit = frame("Semaphore.acquire", THREADING);
        assert_eq!(
            kind(&[app, permit.clone(), wait.clone()]),
            FutexWait::ProgramLock
        );
        assert_eq!(kind(&[worker, permit, wait]), FutexWait::Parked);
    }

    /// Two threads on one heap mutex, the first read with stack `frames` on
    /// every other tick; a third thread waits for the GIL when `gil` is set.
    fn run(frames: Vec<Frame>, gil: bool) -> (Timeline, Features) {
        use crate::diagnose::tests::{thread, timeline};
        let mut tl = timeline(2, |_| {
            let mut waiter = thread(ThreadState::LockWait, 0.0);
            waiter.futex = Some(FutexSite::Heap);
            waiter.futex_addr = Some(0x10);
            let mut v = vec![waiter.clone(), waiter];
            if gil {
                let mut g = thread(ThreadState::LockWait, 0.0);
                g.futex = Some(FutexSite::Interpreter);
                v.push(g);
            }
            v
        });
        let id = tl.stacks.intern(frames);
        for (i, s) in tl.samples.iter_mut().enumerate() {
            s.threads[0].stack = (i % 2 == 0).then_some(id);
        }
        let f = Features::from_timeline(&tl);
        (tl, f)
    }

    fn parts(tl: &Timeline, f: &Features) -> Vec<Part> {
        let judge = Judge::new(tl, f);
        tl.samples
            .iter()
            .flat_map(|s| &s.threads)
            .filter(|t| t.futex == Some(FutexSite::Heap))
            .map(|t| judge.part(tl, t))
            .collect()
    }

    #[test]
    fn a_library_mutex_behind_the_gil_is_gil_wait_with_or_without_a_stack() {
        let library = vec![
            frame(
                "_worker",
                "/usr/lib/python3.11/concurrent/futures/thread.py",
            ),
            frame("Semaphore.release", THREADING),
            frame("Condition.__enter__", THREADING),
        ];
        let (tl, f) = run(library.clone(), true);
        assert!(parts(&tl, &f).iter().all(|&p| p == Part::GilWait));
        // No thread waits for the GIL (a free-threaded build): a lock wait.
        let (tl, f) = run(library, false);
        assert!(parts(&tl, &f).iter().all(|&p| p == Part::LockWait));
        // The program's own `with cond:` stays a lock wait beside the GIL.
        let own = vec![
            frame("update", "/srv/app/cache.py"),
            frame("Condition.__enter__", THREADING),
        ];
        let (tl, f) = run(own, true);
        assert!(parts(&tl, &f).iter().all(|&p| p == Part::LockWait));
    }
}
