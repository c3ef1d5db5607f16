//! The recorded run: every sample of every thread, plus the facts about the run.
//!
//! `sample/` writes these types, `diagnose/` and `report/` read them, and none of
//! them depends on the live sampler. A `Timeline` serialises to `timeline.json`
//! and can be replayed (`boundcheck replay timeline.json`), which is the
//! deterministic seam the replay tests use.
//!
//! Units are in the field names (`_s` seconds, `_bytes`, `_hz`) and every field
//! says what it measures, because users' scripts read these files.

mod native;
mod stacks;

pub use native::{
    AttachCoverage, NativeProfile, NativeSample, OffCpuInterval, OffCpuProfile, OffCpuReason,
    ThreadOffCpu,
};
pub use stacks::{Frame, PyState, StackSampling, StackTable, short_file};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bumped on any incompatible change to the timeline's shape; readers refuse
/// a newer major version instead of misreading it.
pub const TIMELINE_SCHEMA_VERSION: u32 = 1;

/// Every field of a timeline file, so one run can be re-diagnosed later.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timeline {
    /// Always `"boundcheck-timeline"`: tells a timeline from a report at a glance.
    pub format: String,
    /// Shape version of this file (see [`TIMELINE_SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// What ran, where, and how it ended.
    pub meta: RunMeta,
    /// The sampler's own bookkeeping: how many ticks, how late, what failed.
    pub sampling: SamplingStats,
    /// Whole-tree totals from perf events, when they could be opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<Counters>,
    /// Every process seen in the tree, in order of discovery.
    pub processes: Vec<ProcessInfo>,
    /// Every thread seen, with its name, so samples can carry only ids.
    pub threads: Vec<ThreadInfo>,
    /// One entry per sampler tick, in time order.
    pub samples: Vec<Sample>,
    /// Distinct Python frames and stacks, referenced by `samples[].threads[].stack`.
    #[serde(default, skip_serializing_if = "StackTable::is_empty")]
    pub stacks: StackTable,
    /// How Python stacks were read; absent when no Python process was seen or stacks were off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_sampling: Option<StackSampling>,
    /// Native (C, Rust, kernel) call chains sampled with perf on CPU time:
    /// taken for programs that are not Python, and for Python with `--native`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native: Option<NativeProfile>,
    /// Exact off-CPU time per thread and reason, from perf context-switch events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off_cpu: Option<OffCpuProfile>,
}

/// How a run reached its target (`mode` in `timeline.json` and
/// `report.json`; the spelling is a public contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RunMode {
    /// A command launched by boundcheck.
    Launch,
    /// A built-in workload launched by boundcheck.
    Workload,
    /// A running process sampled (`--attach`): boundcheck cannot re-run it.
    Attach,
}

impl RunMode {
    /// The spelling in `timeline.json` and `report.json` (`mode`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Launch => "launch",
            RunMode::Workload => "workload",
            RunMode::Attach => "attach",
        }
    }
}

/// What ran and how it ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunMeta {
    /// The command as launched (argv), or `["attach", PID]` when attached.
    pub command: Vec<String>,
    /// `launch`, `workload` or `attach` ([`RunMode::as_str`]).
    pub mode: RunMode,
    /// Built-in workload settings when `mode == "workload"`, e.g. `cpu/threads/2/med`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// Wall-clock start, RFC 3339 UTC.
    pub started_at: String,
    /// Seconds from launch (or attach) to the end of sampling.
    pub duration_s: f64,
    /// How the target ended; `None` when attached (we do not own its exit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitInfo>,
    /// True when boundcheck was interrupted (SIGINT/SIGTERM) before the target ended.
    #[serde(default)]
    pub interrupted: bool,
    /// Set when `--timeout` stopped the target: the limit, seconds. The run
    /// is partial and boundcheck exits 124.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timed_out_after_s: Option<f64>,
    /// The machine the run happened on.
    pub host: Host,
    /// CPUs the target may run on (its affinity mask), the denominator of "cores busy".
    pub cores_available: usize,
    /// Version of the target's Python interpreter, when the tree ran Python.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_version: Option<String>,
    /// What the perf samplers covered when attached; absent when launched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<AttachCoverage>,
}

/// How the target process ended, like `time` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExitInfo {
    /// The exit code it returned, if it exited normally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// The signal that killed it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
}

impl ExitInfo {
    /// The shell convention: the exit code, or 128 + N when killed by signal N.
    pub fn shell_status(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            (None, None) => 0,
        }
    }
}

/// Facts about the machine, so a report read elsewhere says where it came from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Host {
    /// CPU model name as the kernel reports it.
    pub cpu_model: String,
    /// Logical CPUs online.
    pub logical_cpus: usize,
    /// Physical cores, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_cores: Option<usize>,
    /// Total memory in bytes.
    pub memory_bytes: u64,
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// Operating system name and version.
    pub os: String,
    /// boundcheck's version that recorded the run.
    pub boundcheck_version: String,
}

/// The sampler's bookkeeping, from which sampling caveats are computed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SamplingStats {
    /// Rate asked for, samples per second.
    pub requested_rate_hz: f64,
    /// Samples actually taken per second of run.
    pub achieved_rate_hz: f64,
    /// Samples taken.
    pub samples: u64,
    /// Ticks that were skipped because the sampler fell more than a whole period behind.
    pub lost_samples: u64,
    /// Mean lateness of a tick behind its schedule, seconds.
    pub mean_late_s: f64,
    /// Worst lateness of a tick, seconds.
    pub max_late_s: f64,
    /// CPU time the sampler itself used (user + system), seconds.
    pub sampler_cpu_s: f64,
    /// Reads that failed, by reason (`vanished` threads are normal and counted apart).
    pub read_failures: BTreeMap<String, u64>,
    /// Set when a long run was thinned to bound memory: each recorded sample
    /// stands for this many ticks (sums stay exact, time resolution drops).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticks_per_sample: Option<u64>,
}

/// Whole-tree totals from perf events (inherited by every child).
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Counters {
    /// On-CPU time of the whole tree, seconds (`task-clock`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_clock_s: Option<f64>,
    /// Context switches of the whole tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_switches: Option<u64>,
    /// Migrations between CPUs of the whole tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_migrations: Option<u64>,
    /// Page faults of the whole tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_faults: Option<u64>,
    /// CPU cycles, only where the machine has a PMU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycles: Option<u64>,
    /// Instructions retired, only where the machine has a PMU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<u64>,
    /// Counters that could not be opened, with the kernel's reason.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unavailable: BTreeMap<String, String>,
}

/// A process of the tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessInfo {
    pub pid: i32,
    pub ppid: i32,
    /// Short name (`comm`) when first seen.
    pub name: String,
    /// Command line when first seen (may be empty for a process caught mid-exec).
    pub cmdline: Vec<String>,
    /// Seconds since start when first and last seen.
    pub first_seen_s: f64,
    pub last_seen_s: f64,
    /// Largest resident set seen (`VmHWM`), bytes.
    pub peak_rss_bytes: u64,
    /// Bytes this process read from and wrote to storage (`/proc/PID/io`), last reading.
    pub read_bytes: u64,
    pub write_bytes: u64,
    /// Bytes this process passed to `write`-like calls (files, pipes,
    /// sockets: `wchar` of `/proc/PID/io`), last reading; 0 when unread.
    #[serde(default, skip_serializing_if = "is_zero_u")]
    pub written_chars: u64,
    /// `write`-like calls it made (`syscw`), last reading: with
    /// `written_chars`, the bytes per write, which tells a pool sending
    /// large arguments (a message per write) from one sending tiny ones.
    #[serde(default, skip_serializing_if = "is_zero_u")]
    pub write_calls: u64,
}

/// A thread of the tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThreadInfo {
    pub pid: i32,
    pub tid: i32,
    /// Thread name (`comm`) when first seen.
    pub name: String,
}

/// One sampler tick.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds since the start of the run.
    pub t_s: f64,
    /// Seconds since the previous tick: the weight of this sample.
    pub interval_s: f64,
    /// How late this tick ran behind its schedule, seconds.
    pub late_s: f64,
    /// Every thread of the tree at this tick.
    pub threads: Vec<ThreadSample>,
    /// Every core's time split over the interval.
    pub cores: Vec<CoreSample>,
    /// Resident memory of the whole tree at this tick, bytes.
    pub tree_rss_bytes: u64,
    /// Number of processes in the tree at this tick.
    pub processes: u32,
    /// Reads that failed at this tick (mostly threads that exited mid-read,
    /// which is normal); reasons are totalled in `sampling.read_failures`.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub failed_reads: u32,
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

/// One thread at one moment: what it was doing, and what it used since the last tick.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ThreadSample {
    pub pid: i32,
    pub tid: i32,
    /// The single state this thread-moment is classified as.
    pub state: ThreadState,
    /// The kernel's one-letter state (`R`, `S`, `D`, …).
    pub os_state: char,
    /// CPU time used since the previous tick, seconds (`schedstat` run time).
    pub cpu_s: f64,
    /// Kernel-mode CPU time since the previous tick, seconds (`stat` stime: 10 ms steps, exact only in sums).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sys_s: f64,
    /// Time spent runnable without a CPU since the previous tick, seconds (`schedstat` run delay).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub run_delay_s: f64,
    /// Times switched out voluntarily / involuntarily since the last reading.
    #[serde(default, skip_serializing_if = "is_zero_u")]
    pub vol_switches: u64,
    #[serde(default, skip_serializing_if = "is_zero_u")]
    pub invol_switches: u64,
    /// Minor page faults since the previous tick.
    #[serde(default, skip_serializing_if = "is_zero_u")]
    pub minor_faults: u64,
    /// Kernel function the thread sleeps in (`wchan`), when blocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wchan: Option<String>,
    /// System call the thread is blocked in, by name, when blocked in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscall: Option<String>,
    /// What the blocking call waits on, when its argument names a file descriptor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waits_on: Option<Resource>,
    /// For futex waits: where the futex word lives, which tells the GIL from an application lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub futex: Option<FutexSite>,
    /// For futex waits: the futex word's address. Several threads waiting on
    /// the same address are queueing on the same lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub futex_addr: Option<u64>,
    /// For a `poll`/`select`/`epoll` wait on network (TCP, UDP) sockets: the
    /// requests in flight they carry. One thread of an event loop waiting on
    /// ten connections to servers is ten waits at once, not one; listening
    /// sockets carry none, and the program's connections to itself count as
    /// hops of requests counted where they leave it
    /// (`sample::classify::requests_in_flight`; timelines recorded before
    /// December 2026 counted every watched socket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watched_sockets: Option<u32>,
    /// Index into `stacks.stacks` of this thread's Python stack, when read at this tick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<u32>,
    /// Whether this thread held the GIL at this tick (present when its stack was read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gil: Option<bool>,
    /// The finer Python state its stack and GIL ownership give (see `PyState`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub py: Option<PyState>,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}
fn is_zero_u(v: &u64) -> bool {
    *v == 0
}

/// One state per thread-moment. The spelling is a public contract: these are
/// the keys of `diagnosis.shares`. How each is detected: `docs/thread-states.md`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ThreadState {
    /// Running on a CPU.
    OnCpu,
    /// Wants a CPU, none free (run-queue delay dominated the interval).
    Runnable,
    /// Blocked on a futex or similar lock (the GIL, a mutex, a condition).
    LockWait,
    /// Blocked on storage: D state, or a blocking call on a regular file or fsync.
    DiskWait,
    /// Blocked on a network socket (poll/epoll/select/recv/accept/connect).
    NetWait,
    /// Sleeping on a timer (nanosleep, a poll with no descriptors).
    Sleep,
    /// Waiting for a child process (wait4/waitid).
    ChildWait,
    /// Anything else (pipes, terminals, signals, unknown).
    #[default]
    Other,
}

impl ThreadState {
    /// All states in report order.
    pub const ALL: [ThreadState; 8] = [
        ThreadState::OnCpu,
        ThreadState::Runnable,
        ThreadState::LockWait,
        ThreadState::DiskWait,
        ThreadState::NetWait,
        ThreadState::Sleep,
        ThreadState::ChildWait,
        ThreadState::Other,
    ];

    /// The public spelling (`on-cpu`, `lock-wait`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ThreadState::OnCpu => "on-cpu",
            ThreadState::Runnable => "runnable",
            ThreadState::LockWait => "lock-wait",
            ThreadState::DiskWait => "disk-wait",
            ThreadState::NetWait => "net-wait",
            ThreadState::Sleep => "sleep",
            ThreadState::ChildWait => "child-wait",
            ThreadState::Other => "other",
        }
    }
}

/// What a blocked thread's file descriptor points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resource {
    /// A TCP or UDP socket (IPv4 or IPv6).
    InetSocket,
    /// A Unix-domain socket (local IPC, e.g. multiprocessing).
    UnixSocket,
    /// A socket whose family could not be told.
    Socket,
    /// A pipe (local IPC, e.g. multiprocessing queues).
    Pipe,
    /// A regular file or block device.
    File,
    /// A terminal or other character device.
    Device,
    /// An epoll set, eventfd, timerfd or similar with nothing more telling inside.
    Event,
    /// Nothing: a poll/epoll/select with no descriptors, i.e. a pure timeout.
    Nothing,
    /// Could not be resolved.
    Unknown,
}

/// Where a futex word lives: in the interpreter's static data (CPython's GIL),
/// in the heap (an application lock, condition or queue), or elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FutexSite {
    /// Static data of `python*` / `libpython*`: the GIL.
    Interpreter,
    /// Heap or anonymous memory: an application lock, condition, semaphore.
    Heap,
    /// Static data of another library (e.g. libc internals).
    Library,
    /// Shared memory (`/dev/shm`): a lock between processes, e.g. a
    /// `multiprocessing` queue's or pool's semaphore.
    Shared,
    /// Address not found in the memory map.
    Unknown,
}

/// One core over one interval, as fractions of the interval (they sum to ~1).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct CoreSample {
    /// User time including nice.
    pub user: f32,
    /// Kernel time including irq and softirq.
    pub system: f32,
    /// Idle with no I/O outstanding.
    pub idle: f32,
    /// Idle while some task waited for I/O (a per-CPU idle state, not per-process).
    pub iowait: f32,
    /// Time stolen by the hypervisor.
    pub steal: f32,
}

#[cfg(test)]
mod tests {
    use super::RunMode;

    #[test]
    fn run_modes_keep_their_report_spellings() {
        let words: Vec<_> = [RunMode::Launch, RunMode::Workload, RunMode::Attach]
            .map(RunMode::as_str)
            .into();
        assert_eq!(words, ["launch", "workload", "attach"]);
    }
}
