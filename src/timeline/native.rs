//! Native stacks and exact off-CPU time, as recorded from perf events.
//!
//! Two products of the kernel's own bookkeeping, both optional (perf may be
//! refused): [`NativeProfile`] holds on-CPU call chains (user and kernel
//! frames, symbolised) sampled on CPU time; [`OffCpuProfile`] holds, for each
//! thread, how long it was switched out and why, measured from switch-out to
//! switch-in rather than guessed from /proc snapshots. Frames and stacks are
//! interned in a [`StackTable`] like Python stacks, so the same renderers can
//! read them.

use super::StackTable;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// On-CPU native call chains of the whole process tree.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NativeProfile {
    /// Why there are no native stacks (perf refused, with the fix); absent when sampling ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// How they were taken, e.g. `perf cpu-clock 99 Hz per thread, user+kernel callchains`.
    pub method: String,
    /// Samples per second of each thread's on-CPU time that were asked of the kernel.
    pub rate_hz: f64,
    /// Whether kernel frames were recorded (refused when `perf_event_paranoid` > 1 and not root).
    pub kernel_frames: bool,
    /// Why kernel frames are missing, with the fix; absent when they were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_unavailable: Option<String>,
    /// One entry per sample, in time order. Every sample is a moment a thread was on a CPU.
    pub samples: Vec<NativeSample>,
    /// Distinct frames and stacks referenced by `samples[].stack`. Frame
    /// `file` is the source file when debug info names it, else the module
    /// (`libc.so.6`, `[kernel]`, `[perf-map]`, `[unknown]`); Python functions
    /// seen through the 3.12+ perf trampoline carry their `.py` file.
    pub stacks: StackTable,
    /// Samples the kernel dropped because a ring buffer was full.
    pub lost: u64,
    /// Frames that could not be named (stripped code, unmapped memory), counted once per sample.
    pub unresolved_frames: u64,
    /// Wall time spent turning addresses into names after sampling, seconds.
    pub symbolize_s: f64,
}

impl NativeProfile {
    /// A profile that could not be taken, saying why.
    pub fn unavailable(reason: String) -> Self {
        NativeProfile {
            unavailable: Some(reason),
            ..Default::default()
        }
    }
}

/// One on-CPU call chain of one thread.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NativeSample {
    /// Process id (thread group id) of the sampled thread.
    pub pid: i32,
    /// Thread id.
    pub tid: i32,
    /// Seconds from the start of the run (the same clock as `samples[].t_s`).
    pub t_s: f64,
    /// Index into [`NativeProfile::stacks`]`.stacks` (frames outermost first, kernel frames innermost).
    pub stack: u32,
}

/// Why a thread was off a CPU, named from the kernel call chain at the
/// moment it was switched out. The spelling is a public contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OffCpuReason {
    /// Blocked on a lock: a futex (the GIL, `threading.Lock`, pthread mutexes
    /// and condition variables) or a kernel mutex / rw-semaphore.
    Lock,
    /// Waiting for block I/O (`io_schedule`, `folio_wait_bit`, `wait_for_completion_io`, journal commits).
    Disk,
    /// Sleeping on purpose (`nanosleep`, `clock_nanosleep`).
    Sleep,
    /// Waiting on a socket (`sk_wait_data`, `inet_csk_accept`, TCP/UDP/unix receive paths).
    Net,
    /// Waiting in `poll`/`select`/`epoll_wait` on descriptors whose kind the
    /// kernel stack does not show (sockets, pipes, timers: /proc fds tell).
    Poll,
    /// Waiting to read or write a pipe.
    Pipe,
    /// Waiting for a child process (`wait4`, `waitid`).
    Child,
    /// Still runnable but switched out by the scheduler: wanted a CPU and had none.
    Preempted,
    /// Anything else (page faults on swap, signals, unnamed kernel waits).
    Other,
}

impl OffCpuReason {
    pub const ALL: [OffCpuReason; 9] = [
        OffCpuReason::Lock,
        OffCpuReason::Disk,
        OffCpuReason::Sleep,
        OffCpuReason::Net,
        OffCpuReason::Poll,
        OffCpuReason::Pipe,
        OffCpuReason::Child,
        OffCpuReason::Preempted,
        OffCpuReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OffCpuReason::Lock => "lock",
            OffCpuReason::Disk => "disk",
            OffCpuReason::Sleep => "sleep",
            OffCpuReason::Net => "net",
            OffCpuReason::Poll => "poll",
            OffCpuReason::Pipe => "pipe",
            OffCpuReason::Child => "child",
            OffCpuReason::Preempted => "preempted",
            OffCpuReason::Other => "other",
        }
    }
}

/// Exact off-CPU time of every thread of the tree, from context-switch events.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OffCpuProfile {
    /// Why exact off-CPU time is missing (perf refused, with the fix); the
    /// /proc states are then the only source. Absent when it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// How it was measured, e.g. `perf context-switches, period 1, kernel callchains + switch records`.
    pub method: String,
    /// Per thread, keyed by tid.
    pub threads: BTreeMap<i32, ThreadOffCpu>,
    /// Off-CPU intervals of at least [`OffCpuProfile::interval_min_s`], in
    /// switch-in order, at most [`OffCpuProfile::interval_cap`] of them (a lock
    /// convoy makes ~75 000 switches per second: keeping all would swamp the file).
    pub intervals: Vec<OffCpuInterval>,
    /// Shortest interval kept in `intervals`, seconds.
    pub interval_min_s: f64,
    /// Most intervals kept.
    pub interval_cap: usize,
    /// Intervals at least `interval_min_s` long that were not kept because the cap was reached.
    pub intervals_dropped: u64,
    /// Kernel stacks at switch-out referenced by `intervals[].stack` (kernel frames only, outermost first).
    pub stacks: StackTable,
    /// Switch events the kernel dropped because a ring buffer was full: the totals undercount by that much.
    pub lost: u64,
    /// Switch-outs never followed by a switch-in (a thread's last switch at exit, or still blocked at the end of an attach).
    pub unmatched: u64,
}

impl OffCpuProfile {
    /// A profile that could not be taken, saying why.
    pub fn unavailable(reason: String) -> Self {
        OffCpuProfile {
            unavailable: Some(reason),
            ..Default::default()
        }
    }
}

/// One thread's off-CPU totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThreadOffCpu {
    /// Process id the thread belongs to.
    pub pid: i32,
    /// Seconds off a CPU by reason (keys are [`OffCpuReason::as_str`]).
    pub off_cpu_s: BTreeMap<OffCpuReason, f64>,
    /// Number of switch-outs by reason.
    pub switches: BTreeMap<OffCpuReason, u64>,
}

impl ThreadOffCpu {
    /// Total seconds off a CPU, all reasons.
    pub fn total_s(&self) -> f64 {
        self.off_cpu_s.values().sum()
    }
}

/// One stretch a thread spent off a CPU.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OffCpuInterval {
    /// Thread id.
    pub tid: i32,
    /// Seconds from the start of the run at switch-out.
    pub start_s: f64,
    /// Seconds from switch-out to switch-in (exact, from the kernel's timestamps).
    pub duration_s: f64,
    /// Why it was switched out.
    pub reason: OffCpuReason,
    /// Index into [`OffCpuProfile::stacks`]`.stacks`: the kernel stack at switch-out.
    pub stack: u32,
}

/// What attaching could and could not see (attach only): perf events are
/// opened per thread on a tree that already runs (see `sample::attach`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttachCoverage {
    /// Processes of the tree at the attach.
    pub processes: u32,
    /// Threads running at the attach: when they started, their CPU time
    /// before it and the waits they were in at that moment are not recorded.
    pub threads_running: u32,
    /// Threads that appeared while the events were being opened and were
    /// opened on a later tick (possibly missing their first milliseconds).
    pub threads_followed: u32,
    /// Threads perf events could not be opened on, by the kernel's reason
    /// (the largest count over the samplers); their native stacks, exact
    /// off-CPU time and counts are missing.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub threads_missed: BTreeMap<String, u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_cpu_totals_serialise_with_reason_names_as_keys_and_round_trip() {
        let mut t = ThreadOffCpu {
            pid: 3,
            ..Default::default()
        };
        t.off_cpu_s.insert(OffCpuReason::Lock, 0.5);
        t.switches.insert(OffCpuReason::Preempted, 2);
        let json = serde_json::to_string(&t).expect("serialise");
        assert!(json.contains(r#""lock":0.5"#), "{json}");
        assert!(json.contains(r#""preempted":2"#), "{json}");
        let back: ThreadOffCpu = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, t);
        for r in OffCpuReason::ALL {
            let name = serde_json::to_string(&r).expect("serialise");
            assert_eq!(name, format!("\"{}\"", r.as_str()));
        }
    }
}
