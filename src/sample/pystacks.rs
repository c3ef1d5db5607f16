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
//!   (`process_vm_readv` is slow in this kind of VM: 0.6–0.9 ms per read of a
//!   5-thread process). Stacks are therefore read at an adaptive rate: after
//!   each read the next one waits until its cost is within
//!   [`STACK_BUDGET`] of one core. The OS state of every thread is still read
//!   every tick; a tick without stacks keeps OS states only.

use super::classify;
use crate::timeline::{Frame, Sample, StackSampling, StackTable, ThreadState};
use py_spy::config::{LineNo, LockingStrategy};
use py_spy::{Config, PythonSpy};
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

/// The share of one core that stack reading may use.
pub const STACK_BUDGET: f64 = 0.05;

/// How often a process that is not (yet) Python is looked at again.
const RECHECK: Duration = Duration::from_millis(200);

enum Spy {
    /// Being opened on the opener thread.
    Opening,
    Ready(Box<PythonSpy>),
    /// Not a Python executable when last checked.
    NotPython(Instant),
    /// Could not be opened; the reason is in the stats.
    Failed,
}

/// Reads Python stacks for the sampler, tick by tick.
pub struct PyStacks {
    spies: HashMap<i32, Spy>,
    to_opener: Sender<i32>,
    from_opener: Receiver<(i32, Result<Box<PythonSpy>, String>)>,
    next_read: Instant,
    started: Instant,
    pub stats: StackSampling,
    pub table: StackTable,
    /// The interpreter's version as py-spy read it from the first Python
    /// process opened: spares asking `python --version` after the run.
    pub version: Option<String>,
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
                    let opened = PythonSpy::retry_new(pid, &config(), 10)
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
        let now = Instant::now();
        PyStacks {
            spies: HashMap::new(),
            to_opener,
            from_opener,
            next_read: now,
            started: now,
            stats: StackSampling {
                method: "py-spy".into(),
                budget_share: STACK_BUDGET,
                ..StackSampling::default()
            },
            table: StackTable::default(),
            version: None,
        }
    }

    /// Find new Python processes among `pids`, and when a read is due, read
    /// every Python process's stacks into `sample`'s threads.
    pub fn tick(&mut self, pids: &[i32], sample: &mut Sample) {
        let now = Instant::now();
        while let Ok((pid, opened)) = self.from_opener.try_recv() {
            match opened {
                Ok(spy) => {
                    self.stats.python_pids.push(pid);
                    if self.version.is_none() {
                        self.version = Some(spy.version.to_string());
                    }
                    self.spies.insert(pid, Spy::Ready(spy));
                }
                Err(reason) => {
                    // A process that exited while being opened is not a failure.
                    if std::path::Path::new(&format!("/proc/{pid}")).exists() {
                        self.stats.unavailable.insert(pid, reason);
                    }
                    self.spies.insert(pid, Spy::Failed);
                }
            }
        }
        for &pid in pids {
            let recheck = match self.spies.get(&pid) {
                None => true,
                Some(Spy::NotPython(at)) => now.duration_since(*at) >= RECHECK,
                Some(_) => false,
            };
            if recheck {
                let spy = if is_python(pid) && self.to_opener.send(pid).is_ok() {
                    Spy::Opening
                } else {
                    Spy::NotPython(now)
                };
                self.spies.insert(pid, spy);
            }
        }
        if now < self.next_read {
            return;
        }
        let t0 = Instant::now();
        let mut read_any = false;
        let index: HashMap<i32, usize> = sample
            .threads
            .iter()
            .enumerate()
            .map(|(i, t)| (t.tid, i))
            .collect();
        for &pid in pids {
            let Some(Spy::Ready(spy)) = self.spies.get_mut(&pid) else {
                continue;
            };
            self.stats.reads += 1;
            match spy.get_stack_traces() {
                Ok(traces) => {
                    read_any = true;
                    for trace in traces {
                        let Some(tid) = trace.os_thread_id.map(|t| t as i32) else {
                            continue;
                        };
                        if trace.frames.is_empty() {
                            continue;
                        }
                        let Some(ts) = index.get(&tid).map(|&i| &mut sample.threads[i]) else {
                            continue;
                        };
                        let id = self.table.intern(trace.frames.iter().rev().map(|f| Frame {
                            name: f.name.clone(),
                            file: f.filename.clone(),
                            line: f.line.max(0) as u32,
                        }));
                        let in_sync = self
                            .table
                            .frames_of(id)
                            .last()
                            .is_some_and(|f| f.is_sync_machinery());
                        ts.stack = Some(id);
                        ts.gil = Some(trace.owns_gil);
                        // py-spy looked at the thread's OS state again just
                        // before reading: a thread seen running by /proc but
                        // off the CPU by then was caught in a GIL hand-off,
                        // not running C code without the GIL.
                        let left_cpu = ts.state == ThreadState::OnCpu && !trace.active;
                        ts.py = if left_cpu && !trace.owns_gil {
                            None
                        } else {
                            classify::py_state(ts.state, ts.futex, trace.owns_gil, in_sync)
                        };
                    }
                }
                Err(_) => {
                    self.stats.failed_reads += 1;
                    if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                        self.spies.remove(&pid);
                    }
                }
            }
        }
        let cost = t0.elapsed();
        self.stats.read_s += cost.as_secs_f64();
        if read_any {
            self.stats.ticks_with_stacks += 1;
        }
        self.next_read = t0 + cost.div_f64(STACK_BUDGET);
        // Processes that left the tree: drop their handles.
        self.spies.retain(|pid, _| pids.contains(pid));
    }

    /// Close the books: stacks table and stats for the timeline, or `None`
    /// when no process in the tree was Python.
    pub fn finish(mut self) -> Option<(StackTable, StackSampling)> {
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

fn config() -> Config {
    Config {
        blocking: LockingStrategy::NonBlocking,
        collect_thread_names: false,
        lineno: LineNo::LastInstruction,
        ..Config::default()
    }
}

/// The executable's name starts with `python` (python3, python3.14, python3.13t).
/// Without ptrace rights to the process (another user's, or no
/// CAP_SYS_PTRACE) its `exe` link is unreadable but its `comm` name is not:
/// trying to open it then fails with the kernel's reason, which the report
/// shows, instead of the process silently getting no stacks.
fn is_python(pid: i32) -> bool {
    match std::fs::read_link(format!("/proc/{pid}/exe")) {
        Ok(exe) => exe
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("python")),
        // Only a refusal: a process that exited (or a zombie) has no exe
        // link either, and is no failure to report.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.starts_with("python"))
        }
        Err(_) => false,
    }
}
