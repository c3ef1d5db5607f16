//! Python stacks and GIL ownership of every Python process in the tree, read
//! with the `py-spy` crate (used as a library: it knows the interpreter
//! layouts of CPython 2.7–3.15, which we should not re-derive by hand).
//!
//! The method:
//! - A process is Python when its executable is named `python*`. It is
//!   re-checked while it is not, because the pyenv shim is bash for its first
//!   ~100 ms and then execs the interpreter.
//! - Opening a process (`PythonSpy::retry_new`: parse the binary's symbols,
//!   find the interpreter) takes tens of milliseconds, so it happens on an
//!   opener thread and never delays a tick.
//! - Reads are non-blocking (the target is never paused, which at high rates
//!   halves its speed); a rare torn read of a changing stack is counted as a
//!   failed read and skipped.
//! - Reading interpreter memory is the sampler's dominant cost
//!   (`process_vm_readv` is slow in this kind of VM: py-spy took 0.6–0.9 ms
//!   per read of a 5-thread process, several ms for 50 threads; the own
//!   reader, `pyread`, which serves CPython 3.11–3.14, a few times less).
//!   Stacks are therefore read at an adaptive rate: after each read the next
//!   one waits until its cost is within [`STACK_BUDGET`] of one core. The OS state of every thread is
//!   still read every tick; a tick without stacks keeps OS states only.
//! - Reads run on a reader thread, so a read of many threads never makes
//!   the sampler miss its ticks (inline, a 3 ms read lost 3 ticks at 1 kHz).
//!   The sample that asked for a read is held, with every sample taken
//!   after it, until the read is back; the stacks are joined to the states
//!   of the tick that asked, and the samples leave in order.

use super::stack_read::{Done, ToReader, join_traces, read_loop};
use crate::timeline::{Sample, StackSampling, StackTable, ThreadState};
use py_spy::config::{LineNo, LockingStrategy};
use py_spy::{Config, PythonSpy};
use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

/// The share of one core that stack reading may use.
pub const STACK_BUDGET: f64 = 0.05;

/// Why a Python process that the run outlived before it could be opened
/// has no stacks.
const STILL_OPENING: &str = "Python stacks unavailable: the run ended while the interpreter was still being opened (its first try takes tens of milliseconds, seconds on a saturated machine); OS states are still sampled";

/// How often a process that is not (yet) Python is looked at again.
const RECHECK: Duration = Duration::from_millis(200);

/// How many times a Python process that could not be opened is tried, the
/// wait before each next try doubling from [`RECHECK`] (tries at about 0,
/// 0.2, 0.6, 1.4, 3 and 6 s of its life). One try can fall in the first
/// moments after `exec`, before the interpreter exists, or in a burst of
/// imports where every non-blocking read is torn: on a loaded machine a
/// spawned worker (a Ray worker, a `spawn` pool's child) stays there longer
/// than py-spy's own retries wait, and a process given up on at birth never
/// gets a stack (a CI run lost every stack of a Ray task so). Doubling keeps
/// the cost of a process that can never be opened (a free-threaded build)
/// at six tries however long it runs.
const OPEN_TRIES: u32 = 6;

/// py-spy's own attempts within one try, 20 ms apart. Few: the tries above
/// are spread wider, and the opener thread opens one process at a time, so
/// a long try on one that cannot open holds up the others.
const PY_SPY_TRIES: u64 = 3;

enum Spy {
    /// Being opened on the opener thread (this is try number `.0`, from 1).
    Opening(u32),
    /// Open, held by the reader thread.
    Ready,
    /// Not a Python executable when last checked.
    NotPython(Instant),
    /// Could not be opened after `tries` tries, the last at `at`; the reason
    /// is in the stats (and leaves them if a later try succeeds).
    Failed { tries: u32, at: Instant },
}

/// Reads Python stacks for the sampler, tick by tick.
pub struct PyStacks {
    spies: HashMap<i32, Spy>,
    to_opener: Sender<i32>,
    from_opener: Receiver<(i32, Result<Box<PythonSpy>, String>)>,
    to_reader: Sender<ToReader>,
    from_reader: Receiver<Done>,
    /// When the read in flight was asked for.
    asked: Option<Instant>,
    /// The sample that asked for the read in flight, then the later ones.
    held: VecDeque<Sample>,
    next_read: Instant,
    started: Instant,
    pub stats: StackSampling,
    pub table: StackTable,
    /// The interpreter's version as py-spy read it from the first Python
    /// process opened: spares asking `python --version` after the run.
    pub version: Option<String>,
    /// CPU the reader thread spent reading, seconds.
    pub reader_cpu_s: f64,
}

impl PyStacks {
    pub fn new() -> Self {
        let (to_opener, requests) = channel::<i32>();
        let (replies, from_opener) = channel();
        std::thread::Builder::new()
            .name("boundcheck-pyspy-open".into())
            .spawn(move || {
                for pid in requests {
                    // py-spy's whole chain of causes, not its outermost
                    // context only (an OS error often repeats: said once).
                    let opened = PythonSpy::retry_new(pid, &config(), PY_SPY_TRIES)
                        .map(Box::new)
                        .map_err(|e| {
                            let mut chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
                            chain.dedup();
                            super::stack_open::explain(pid, &chain.join(": "))
                        });
                    if replies.send((pid, opened)).is_err() {
                        break;
                    }
                }
            })
            .ok();
        let (to_reader, reads) = channel::<ToReader>();
        let (done, from_reader) = channel();
        std::thread::Builder::new()
            .name("boundcheck-pyspy-read".into())
            .spawn(move || read_loop(reads, done))
            .ok();
        let now = Instant::now();
        PyStacks {
            spies: HashMap::new(),
            to_opener,
            from_opener,
            to_reader,
            from_reader,
            asked: None,
            held: VecDeque::new(),
            next_read: now,
            started: now,
            stats: StackSampling {
                method: "py-spy".into(),
                budget_share: STACK_BUDGET,
                ..StackSampling::default()
            },
            table: StackTable::default(),
            version: None,
            reader_cpu_s: 0.0,
        }
    }

    /// Take the tick's `sample` (its processes are `pids`): find new Python
    /// processes, join a finished read to the sample that asked for it, and
    /// ask for a read when one is due. Samples no read waits for are moved
    /// to `ready`, in the order they were taken.
    pub fn tick(&mut self, pids: &[i32], sample: Sample, ready: &mut Vec<Sample>) {
        let now = Instant::now();
        self.take_opened();
        if let Ok(done) = self.from_reader.try_recv() {
            self.join(done, ready);
        }
        for &pid in pids {
            let tries = match self.spies.get(&pid) {
                None => Some(0),
                Some(Spy::NotPython(at)) => (now.duration_since(*at) >= RECHECK).then_some(0),
                Some(Spy::Failed { tries, at }) => {
                    let wait = RECHECK * 2u32.pow(tries.saturating_sub(1));
                    (*tries < OPEN_TRIES && now.duration_since(*at) >= wait).then_some(*tries)
                }
                Some(_) => None,
            };
            if let Some(tries) = tries {
                let exe = exe_of(pid);
                let spy = if exe == Exe::Python && self.to_opener.send(pid).is_ok() {
                    Spy::Opening(tries + 1)
                } else {
                    // A fork of a Python-named process that then ran
                    // something else (a shell's `sleep`, a subprocess's
                    // program) failed to open as Python: no failure of ours.
                    // Not a process that exited (no `exe` to read): its
                    // failure stands.
                    if exe == Exe::Other {
                        self.stats.unavailable.remove(&pid);
                    }
                    Spy::NotPython(now)
                };
                self.spies.insert(pid, spy);
            }
        }
        // Processes that left the tree: forget them.
        self.spies.retain(|pid, _| pids.contains(pid));
        let python = self.spies.values().any(|s| matches!(s, Spy::Ready));
        if self.asked.is_none()
            && now >= self.next_read
            && python
            && self
                .to_reader
                .send(ToReader::Read(asked(pids, &sample)))
                .is_ok()
        {
            self.asked = Some(now);
        }
        if self.asked.is_some() {
            self.held.push_back(sample);
        } else {
            ready.push(sample);
        }
    }

    /// At the end: wait (a bounded time) for the read in flight, then hand
    /// over every held sample.
    pub fn drain(&mut self, ready: &mut Vec<Sample>) {
        if self.asked.is_some() {
            match self.from_reader.recv_timeout(DRAIN_WAIT) {
                Ok(done) => self.join(done, ready),
                Err(_) => self.asked = None,
            }
        }
        ready.extend(self.held.drain(..));
    }

    fn take_opened(&mut self) {
        while let Ok((pid, opened)) = self.from_opener.try_recv() {
            match opened {
                Ok(spy) => {
                    self.stats.unavailable.remove(&pid);
                    self.stats.python_pids.push(pid);
                    if self.version.is_none() {
                        self.version = Some(spy.version.to_string());
                    }
                    let held = self.to_reader.send(ToReader::Spy(pid, spy)).is_ok();
                    let failed = Spy::Failed {
                        tries: OPEN_TRIES,
                        at: Instant::now(),
                    };
                    self.spies
                        .insert(pid, if held { Spy::Ready } else { failed });
                }
                Err(reason) => {
                    // A process that exited while being opened is not a failure.
                    if std::path::Path::new(&format!("/proc/{pid}")).exists() {
                        self.stats.unavailable.insert(pid, reason);
                    }
                    let tries = match self.spies.get(&pid) {
                        Some(Spy::Opening(n)) => *n,
                        _ => OPEN_TRIES,
                    };
                    let at = Instant::now();
                    self.spies.insert(pid, Spy::Failed { tries, at });
                }
            }
        }
    }

    /// Join a finished read to the first held sample (the one that asked),
    /// then release every held sample.
    fn join(&mut self, done: Done, ready: &mut Vec<Sample>) {
        let asked = self.asked.take().unwrap_or_else(Instant::now);
        if let Some(sample) = self.held.front_mut() {
            let read_any = join_traces(&mut self.table, &mut self.stats, sample, &done);
            if read_any {
                self.stats.ticks_with_stacks += 1;
            }
        }
        for read in &done.reads {
            let pid = read.pid;
            if read.traces.is_none() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                self.spies.remove(&pid);
            }
        }
        self.stats.read_s += done.cost.as_secs_f64();
        self.reader_cpu_s += done.cpu_s;
        self.next_read = asked + done.cost.div_f64(STACK_BUDGET);
        ready.extend(self.held.drain(..));
    }

    /// Close the books: stacks table and stats for the timeline, or `None`
    /// when no process in the tree was Python.
    pub fn finish(mut self) -> Option<(StackTable, StackSampling)> {
        // A process whose first open try was still running when the run
        // ended was never read and never failed: without a reason the
        // report would be silent about its missing stacks. A free-threaded
        // build under load kept py-spy scanning its `.data` section for
        // the whole of an 8 s run.
        for (&pid, spy) in &self.spies {
            if matches!(spy, Spy::Opening(1))
                && !self.stats.python_pids.contains(&pid)
                && !self.stats.unavailable.contains_key(&pid)
            {
                self.stats
                    .unavailable
                    .insert(pid, STILL_OPENING.to_string());
            }
        }
        if self.stats.python_pids.is_empty() && self.stats.unavailable.is_empty() {
            return None;
        }
        let secs = self.started.elapsed().as_secs_f64();
        self.stats.rate_hz = if secs > 0.0 {
            self.stats.ticks_with_stacks as f64 / secs
        } else {
            0.0
        };
        self.stats.python_pids.sort_unstable();
        self.stats.python_pids.dedup();
        Some((self.table, self.stats))
    }
}

/// Each process of the tree with the threads `sample` saw on a CPU: the
/// only threads whose "active" flag the stacks are joined with
/// ([`join_traces`]), so the only ones whose OS state a read looks at again.
fn asked(pids: &[i32], sample: &Sample) -> Vec<(i32, Vec<i32>)> {
    pids.iter()
        .map(|&pid| {
            let on_cpu = sample
                .threads
                .iter()
                .filter(|t| t.pid == pid && t.state == ThreadState::OnCpu)
                .map(|t| t.tid)
                .collect();
            (pid, on_cpu)
        })
        .collect()
}

/// How long the end of a run waits for the read in flight.
const DRAIN_WAIT: Duration = Duration::from_secs(1);

fn config() -> Config {
    Config {
        blocking: LockingStrategy::NonBlocking,
        collect_thread_names: false,
        lineno: LineNo::LastInstruction,
        ..Config::default()
    }
}

/// What a process runs, by its executable's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exe {
    /// Named `python*` (python3, python3.14, python3.13t).
    Python,
    /// Alive and running something else.
    Other,
    /// No `exe` link to read and no Python `comm`: it exited (a zombie has
    /// no link either), or we may not look.
    Unknown,
}

/// What `pid` runs. Without ptrace rights to the process (another user's,
/// or no CAP_SYS_PTRACE) its `exe` link is unreadable but its `comm` name
/// is not: trying to open it then fails with the kernel's reason, which the
/// report shows, instead of the process silently getting no stacks.
fn exe_of(pid: i32) -> Exe {
    let python = |name: Option<&str>| name.is_some_and(|n| n.starts_with("python"));
    match std::fs::read_link(format!("/proc/{pid}/exe")) {
        Ok(exe) if python(exe.file_name().and_then(|n| n.to_str())) => Exe::Python,
        Ok(_) => Exe::Other,
        // Only a refusal: a process that exited (or a zombie) has no exe
        // link either, and is no failure to report.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok();
            if python(comm.as_deref()) {
                Exe::Python
            } else {
                Exe::Unknown
            }
        }
        Err(_) => Exe::Unknown,
    }
}
