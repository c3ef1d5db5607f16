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
use std::collections::BTreeMap;

/// Open counters on one process tree.
pub struct TreeCounters {
    open: Vec<(&'static str, Counter)>,
    unavailable: BTreeMap<String, String>,
}

impl TreeCounters {
    /// Open every counter we can on `pid`. `before_exec` means the process is
    /// stopped before its exec, so counting starts at the exec.
    pub fn open(pid: i32, before_exec: bool) -> Self {
        let mut me = TreeCounters {
            open: Vec::new(),
            unavailable: BTreeMap::new(),
        };
        me.add("task-clock", Software::TASK_CLOCK, pid, before_exec);
        me.add(
            "context-switches",
            Software::CONTEXT_SWITCHES,
            pid,
            before_exec,
        );
        me.add("cpu-migrations", Software::CPU_MIGRATIONS, pid, before_exec);
        me.add("page-faults", Software::PAGE_FAULTS, pid, before_exec);
        me.add("cycles", Hardware::CPU_CYCLES, pid, before_exec);
        me.add("instructions", Hardware::INSTRUCTIONS, pid, before_exec);
        me
    }

    fn add<E: Event>(&mut self, name: &'static str, event: E, pid: i32, before_exec: bool) {
        let mut b = Builder::new(event);
        b.observe_pid(pid).any_cpu().inherit(true).include_kernel();
        if before_exec {
            b.enable_on_exec(true);
        } else {
            b.enabled(true);
        }
        match b.build() {
            Ok(c) => self.open.push((name, c)),
            Err(e) => {
                let why = match e.raw_os_error() {
                    Some(libc::ENOENT) | Some(libc::EOPNOTSUPP) => {
                        "not supported on this machine (no hardware PMU, e.g. a VM)".to_string()
                    }
                    Some(libc::EACCES) | Some(libc::EPERM) => format!(
                        "permission denied ({e}); run as root or lower /proc/sys/kernel/perf_event_paranoid (e.g. `sysctl kernel.perf_event_paranoid=1`)"
                    ),
                    _ => e.to_string(),
                };
                self.unavailable.insert(name.to_string(), why);
            }
        }
    }

    /// Read the totals (call after the target has exited and been reaped).
    pub fn read(mut self) -> Counters {
        let mut c = Counters {
            unavailable: std::mem::take(&mut self.unavailable),
            ..Counters::default()
        };
        for (name, counter) in &mut self.open {
            let Ok(v) = counter.read() else {
                c.unavailable.insert(name.to_string(), "read failed".into());
                continue;
            };
            match *name {
                "task-clock" => c.task_clock_s = Some(v as f64 / 1e9),
                "context-switches" => c.context_switches = Some(v),
                "cpu-migrations" => c.cpu_migrations = Some(v),
                "page-faults" => c.page_faults = Some(v),
                "cycles" => c.cycles = Some(v),
                "instructions" => c.instructions = Some(v),
                _ => {}
            }
        }
        c
    }
}
