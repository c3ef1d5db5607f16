//! Whole-tree counters from perf events.
//!
//! Counters are opened on the target's pid before it execs (`enable_on_exec`)
//! with `inherit`, so every thread and child it creates is counted and the
//! totals include children once they exit. Each counter is opened alone:
//! groups cannot target another pid. Kernel counting is on, without which
//! context switches and migrations read 0. Hardware events (cycles,
//! instructions) need a PMU, which many VMs lack: their failure is recorded in
//! `unavailable` with the kernel's reason and becomes a caveat, never an error.

use crate::timeline::Counters;
use perf_event::events::{Event, Hardware, Software};
use perf_event::{Builder, Counter};
use std::collections::{BTreeMap, BTreeSet};

/// Opens one counter on one thread.
type Opener = Box<dyn Fn(i32) -> std::io::Result<Counter>>;

/// Open counters on one process tree.
pub struct TreeCounters {
    open: Vec<(&'static str, Counter)>,
    unavailable: BTreeMap<String, String>,
    /// The counters that opened, to open again on threads found later (attach).
    openers: Vec<(&'static str, Opener)>,
    /// Threads directly opened.
    opened: BTreeSet<i32>,
    /// Threads perf refused, by reason (attach; one that exited is not counted).
    missed: BTreeMap<String, BTreeSet<i32>>,
}

impl TreeCounters {
    /// Open every counter we can on `pid`. `before_exec` means the process is
    /// stopped before its exec, so counting starts at the exec.
    pub fn open(pid: i32, before_exec: bool) -> Self {
        Self::open_on(&[pid], before_exec)
    }

    /// Count running threads (of a whole tree, the root's main thread
    /// first), each with its own inherited counters summed at the end: a
    /// counter on a pid covers only that thread and what it creates later,
    /// so one on the main thread alone would miss every thread running at
    /// the attach. Counting starts now; what the threads did before is not in it.
    pub fn attach(tids: &[i32]) -> Self {
        Self::open_on(tids, false)
    }

    fn open_on(tids: &[i32], before_exec: bool) -> Self {
        let mut me = TreeCounters {
            open: Vec::new(),
            unavailable: BTreeMap::new(),
            openers: Vec::new(),
            opened: BTreeSet::new(),
            missed: BTreeMap::new(),
        };
        me.add("task-clock", Software::TASK_CLOCK, before_exec);
        me.add("context-switches", Software::CONTEXT_SWITCHES, before_exec);
        me.add("cpu-migrations", Software::CPU_MIGRATIONS, before_exec);
        me.add("page-faults", Software::PAGE_FAULTS, before_exec);
        me.add("cycles", Hardware::CPU_CYCLES, before_exec);
        me.add("instructions", Hardware::INSTRUCTIONS, before_exec);
        // The first thread that still exists decides which counters exist
        // at all (a zombie main thread, after pthread_exit, is passed over).
        let gone = |e: &std::io::Error| e.raw_os_error() == Some(libc::ESRCH);
        let mut rest = tids;
        while let Some((&first, after)) = rest.split_first() {
            rest = after;
            if me
                .openers
                .first()
                .is_some_and(|(_, o)| o(first).as_ref().is_err_and(gone))
            {
                continue;
            }
            let openers = std::mem::take(&mut me.openers);
            for (name, opener) in openers {
                match opener(first) {
                    Ok(c) => {
                        me.open.push((name, c));
                        me.openers.push((name, opener));
                    }
                    Err(e) => {
                        me.unavailable.insert(name.to_string(), explain(&e));
                    }
                }
            }
            me.opened.insert(first);
            break;
        }
        me.follow(rest);
        me
    }

    fn add<E: Event + Clone + 'static>(&mut self, name: &'static str, event: E, before_exec: bool) {
        self.openers.push((
            name,
            Box::new(move |tid| {
                let mut b = Builder::new(event.clone());
                b.observe_pid(tid).any_cpu().inherit(true).include_kernel();
                if before_exec {
                    b.enable_on_exec(true);
                } else {
                    b.enabled(true);
                }
                b.build()
            }),
        ));
    }

    /// Count threads that appeared after [`TreeCounters::attach`] and that
    /// no inherited counter may cover (see `sample::attach`).
    pub fn follow(&mut self, tids: &[i32]) {
        for &tid in tids {
            if !self.opened.insert(tid) {
                continue;
            }
            for (name, opener) in &self.openers {
                match opener(tid) {
                    Ok(c) => self.open.push((name, c)),
                    Err(e) if e.raw_os_error() == Some(libc::ESRCH) => break,
                    Err(e) => {
                        self.missed.entry(explain(&e)).or_default().insert(tid);
                    }
                }
            }
        }
    }

    /// Threads perf refused, by reason (attach).
    pub fn missed(&self) -> BTreeMap<String, u64> {
        self.missed
            .iter()
            .map(|(why, tids)| (why.clone(), tids.len() as u64))
            .collect()
    }

    /// Read the totals (call after the target has exited and been reaped).
    pub fn read(mut self) -> Counters {
        let mut c = Counters {
            unavailable: std::mem::take(&mut self.unavailable),
            ..Counters::default()
        };
        // Attached, a counter is open once per thread: the totals are sums.
        let add = |slot: &mut Option<u64>, v: u64| *slot = Some(slot.unwrap_or(0) + v);
        let mut task_clock_ns = None;
        for (name, counter) in &mut self.open {
            let Ok(v) = counter.read() else {
                c.unavailable.insert(name.to_string(), "read failed".into());
                continue;
            };
            match *name {
                "task-clock" => add(&mut task_clock_ns, v),
                "context-switches" => add(&mut c.context_switches, v),
                "cpu-migrations" => add(&mut c.cpu_migrations, v),
                "page-faults" => add(&mut c.page_faults, v),
                "cycles" => add(&mut c.cycles, v),
                "instructions" => add(&mut c.instructions, v),
                _ => {}
            }
        }
        c.task_clock_s = task_clock_ns.map(|ns| ns as f64 / 1e9);
        c
    }
}

/// The kernel's reason a counter could not be opened, with the fix.
fn explain(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::EOPNOTSUPP) => {
            "not supported on this machine (no hardware PMU, e.g. a VM)".to_string()
        }
        Some(libc::EACCES) | Some(libc::EPERM) => format!(
            "permission denied ({e}); run as root or lower /proc/sys/kernel/perf_event_paranoid (e.g. `sysctl kernel.perf_event_paranoid=1`)"
        ),
        _ => e.to_string(),
    }
}
