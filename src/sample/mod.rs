//! Sampling: read the target's process tree at a jittered rate until told to stop.
//!
//! The tick schedule is jittered by ±10 % of the period so that a target with
//! a periodic rhythm (a 10 ms timer, a 100 Hz loop) is not sampled at the same
//! phase every time, which would make one state look like all of them. Each
//! tick records how late it ran; a tick more than a period late is counted as
//! lost rather than taken twice. The sampler's own CPU time is measured so the
//! report can show what profiling cost.

pub mod classify;
pub mod host;
pub mod parse;
pub mod stack_open;
pub mod syscalls;
pub mod taskstat;
pub mod thin;

#[cfg(target_os = "linux")]
pub mod attach;
#[cfg(target_os = "linux")]
mod exit_watch;
#[cfg(target_os = "linux")]
mod kallsyms;
#[cfg(target_os = "linux")]
mod live;
#[cfg(target_os = "linux")]
pub mod native;
#[cfg(target_os = "linux")]
pub mod offcpu;
#[cfg(target_os = "linux")]
pub mod perf;
#[cfg(target_os = "linux")]
pub mod pyread;
#[cfg(target_os = "linux")]
mod pystacks;
#[cfg(target_os = "linux")]
mod rings;
#[cfg(target_os = "linux")]
mod stack_read;
#[cfg(target_os = "linux")]
mod switch_reason;
#[cfg(target_os = "linux")]
mod symbols;

use crate::timeline::{
    Counters, NativeProfile, OffCpuProfile, ProcessInfo, RunMeta, Sample, SamplingStats,
    StackSampling, StackTable, ThreadInfo, Timeline,
};
use std::time::{Duration, Instant};

/// Settings of one sampling session.
#[derive(Debug, Clone, Copy)]
pub struct SamplerSettings {
    /// Ticks per second.
    pub rate_hz: f64,
    /// Attached to a running process (baseline its counters at the first tick).
    pub attach: bool,
    /// Read Python stacks and GIL ownership (py-spy) of Python processes.
    pub stacks: bool,
}

/// What a sampling session produced.
#[derive(Debug, Default)]
pub struct Recording {
    pub samples: Vec<Sample>,
    pub processes: Vec<ProcessInfo>,
    pub threads: Vec<ThreadInfo>,
    pub stats: SamplingStats,
    /// Path of a Python interpreter seen in the tree, to ask its version.
    pub python_exe: Option<String>,
    /// That version when the stack reader already knows it (read from the
    /// interpreter's memory), so it need not be asked after the run.
    pub python_version: Option<String>,
    /// Seconds from `start` to the end of sampling.
    pub duration_s: f64,
    /// Python stacks referenced by the samples.
    pub stacks: StackTable,
    /// How stacks were read, when any process was Python.
    pub stack_sampling: Option<StackSampling>,
    /// Native call chains from perf sampling, when taken.
    pub native: Option<NativeProfile>,
    /// Exact off-CPU time from perf context-switch events, when taken.
    pub off_cpu: Option<OffCpuProfile>,
}

impl Recording {
    /// The timeline of this recording: the one place a `Timeline` is
    /// assembled from what the sampler saw.
    pub fn into_timeline(self, meta: RunMeta, counters: Option<Counters>) -> Timeline {
        Timeline {
            format: "boundcheck-timeline".into(),
            schema_version: crate::timeline::TIMELINE_SCHEMA_VERSION,
            meta,
            sampling: self.stats,
            counters,
            processes: self.processes,
            threads: self.threads,
            samples: self.samples,
            stacks: self.stacks,
            stack_sampling: self.stack_sampling,
            native: self.native,
            off_cpu: self.off_cpu,
        }
    }
}

/// Sample the tree under `root` until `done()` says stop. `on_sample` sees each
/// sample as it is taken (for progress display).
#[cfg(target_os = "linux")]
pub fn record(
    root: i32,
    settings: SamplerSettings,
    start: Instant,
    done: impl FnMut() -> bool,
    on_sample: impl FnMut(&Sample),
) -> Recording {
    record_with(root, &Default::default(), settings, start, done, on_sample)
}

/// [`record`], sampling an existing cluster's workers on this node as part
/// of the tree: the work a program hands to a cluster it did not start.
#[cfg(target_os = "linux")]
pub fn record_with(
    root: i32,
    extra: &crate::target::tree::Extra,
    settings: SamplerSettings,
    start: Instant,
    mut done: impl FnMut() -> bool,
    mut on_sample: impl FnMut(&Sample),
) -> Recording {
    let period = 1.0 / settings.rate_hz;
    let _slice = ShortSlice::ask();
    let mut reader = live::LiveReader::new(root, extra, settings.attach, settings.rate_hz);
    let mut watch = exit_watch::ExitWatch::new(root);
    let mut stacks = settings.stacks.then(pystacks::PyStacks::new);
    let mut pids: Vec<i32> = Vec::new();
    let mut thinner = thin::Thinner::new(thin::MAX_THREAD_SAMPLES);
    // Samples whose stacks (if any) are joined, in the order they were taken.
    let mut ready: Vec<Sample> = Vec::new();
    let mut ticks: u64 = 0;
    let mut jitter = Jitter::seeded();
    let cpu_before = thread_cpu_s();
    let mut rec = Recording::default();
    let mut next = start + Duration::from_secs_f64(period * jitter.factor());
    let mut last_tick = start;
    let (mut late_sum, mut late_max) = (0.0f64, 0.0f64);
    while !done() {
        let now = Instant::now();
        if next > now {
            // Sleep in short steps, and wake at the target's exit.
            watch.nap((next - now).min(Duration::from_millis(50)));
            if Instant::now() < next {
                continue;
            }
        }
        let now = Instant::now();
        let mut late = now.saturating_duration_since(next).as_secs_f64();
        // The next tick is due a period after this one was due, not after it
        // ran: a schedule that restarts at each wake-up loses the tick's own
        // time every period (1 kHz ran at ~870 Hz). A tick missed entirely
        // is counted lost, and the schedule restarts from now.
        let due = if late > period {
            rec.stats.lost_samples += (late / period) as u64;
            late %= period;
            now
        } else {
            next
        };
        let sample = reader.tick(
            now.duration_since(start).as_secs_f64(),
            now.duration_since(last_tick).as_secs_f64(),
            late,
        );
        match &mut stacks {
            Some(stacks) => {
                pids.clear();
                pids.extend(sample.threads.iter().map(|t| t.pid));
                pids.sort_unstable();
                pids.dedup();
                stacks.tick(&pids, sample, &mut ready);
            }
            None => ready.push(sample),
        }
        last_tick = now;
        late_sum += late;
        late_max = late_max.max(late);
        ticks += 1;
        keep(&mut ready, &mut rec.samples, &mut thinner, &mut on_sample);
        next = due + Duration::from_secs_f64(period * jitter.factor());
    }
    if let Some(stacks) = &mut stacks {
        stacks.drain(&mut ready);
        keep(&mut ready, &mut rec.samples, &mut thinner, &mut on_sample);
    }
    if thinner.stride() > 1 {
        rec.stats.ticks_per_sample = Some(thinner.stride());
    }
    thinner.finish(&mut rec.samples);
    rec.duration_s = start.elapsed().as_secs_f64();
    let n = ticks as f64;
    rec.stats.requested_rate_hz = settings.rate_hz;
    rec.stats.samples = ticks;
    rec.stats.achieved_rate_hz = if rec.duration_s > 0.0 {
        n / rec.duration_s
    } else {
        0.0
    };
    rec.stats.mean_late_s = if n > 0.0 { late_sum / n } else { 0.0 };
    rec.stats.max_late_s = late_max;
    rec.stats.sampler_cpu_s =
        thread_cpu_s() - cpu_before + stacks.as_ref().map_or(0.0, |s| s.reader_cpu_s);
    reader.stats_failures(&mut rec.stats);
    rec.processes = reader.processes();
    rec.threads = reader.threads();
    rec.python_exe = reader.python_exe().map(str::to_string);
    rec.python_version = stacks.as_ref().and_then(|s| s.version.clone());
    if let Some((table, stats)) = stacks.and_then(pystacks::PyStacks::finish) {
        rec.stacks = table;
        rec.stack_sampling = Some(stats);
    }
    rec
}

/// The scheduler slice the sampling thread asks for, nanoseconds.
///
/// Why: at 1 kHz on 50 runnable target threads and 2 cores, the sampler
/// woke on time but waited for a CPU behind threads in the middle of their
/// slices, and 1–4 % of its ticks came more than a period late (lost). Since
/// Linux 6.6 (EEVDF) a thread may ask for a shorter slice
/// (`sched_setattr`, `sched_runtime`, unprivileged within 0.1–100 ms): one
/// that asks for less is picked sooner when it wakes. It is no priority: the
/// sampler gets no larger share of the CPU than before, and the target gives
/// up nothing but an earlier switch. Older kernels ignore the request.
const SAMPLER_SLICE_NS: u64 = 100_000;

/// A short scheduler slice for the calling (sampling) thread while it
/// lives, its nice value kept; a refusal changes nothing. Dropping it gives
/// the thread the default slice back: the thread that sampled goes on to
/// launch the re-runs, whose processes would otherwise inherit the short
/// slice (and switch ten times as often).
#[cfg(target_os = "linux")]
struct ShortSlice;

#[cfg(target_os = "linux")]
impl ShortSlice {
    fn ask() -> ShortSlice {
        set_slice(SAMPLER_SLICE_NS);
        ShortSlice
    }
}

#[cfg(target_os = "linux")]
impl Drop for ShortSlice {
    fn drop(&mut self) {
        set_slice(0); // 0: the kernel's default slice
    }
}

/// `sched_setattr` of the calling thread with this slice request.
#[cfg(target_os = "linux")]
fn set_slice(runtime_ns: u64) {
    // SAFETY: getpriority has no memory effects; PRIO_PROCESS with 0 is this thread on Linux.
    let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    let attr = libc::sched_attr {
        size: std::mem::size_of::<libc::sched_attr>() as u32,
        sched_policy: libc::SCHED_OTHER as u32,
        sched_flags: 0,
        sched_nice: nice,
        sched_priority: 0,
        sched_runtime: runtime_ns,
        sched_deadline: 0,
        sched_period: 0,
    };
    // SAFETY: a valid sched_attr of the size it declares, for this thread (pid 0).
    unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0,
            &attr as *const libc::sched_attr,
            0,
        );
    }
}

/// Hand samples over in order: shown as they come (progress), then kept.
fn keep(
    ready: &mut Vec<Sample>,
    samples: &mut Vec<Sample>,
    thinner: &mut thin::Thinner,
    on_sample: &mut impl FnMut(&Sample),
) {
    for mut sample in ready.drain(..) {
        on_sample(&sample);
        // Every sample is kept until the report is written: without this the
        // thread list's growth slack (up to half of it) stays allocated too.
        sample.threads.shrink_to_fit();
        thinner.push(samples, sample);
    }
}

/// The calling thread's id. The raw syscall, not glibc's `gettid()`
/// wrapper: that is glibc 2.30+, and the wheel links against glibc 2.17.
#[cfg(target_os = "linux")]
pub(crate) fn gettid() -> libc::pid_t {
    // SAFETY: gettid has no preconditions and no memory effects.
    unsafe { libc::syscall(libc::SYS_gettid) as libc::pid_t }
}

/// CPU time of the calling thread (the sampler), seconds.
#[cfg(target_os = "linux")]
pub(crate) fn thread_cpu_s() -> f64 {
    // SAFETY: `ts` is a valid out-pointer.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
        ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
    }
}

/// A tiny xorshift generator: the jitter needs no cryptographic quality and
/// not worth a dependency.
struct Jitter(u64);

impl Jitter {
    fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9, |d| d.as_nanos() as u64);
        Jitter(nanos | 1)
    }

    /// A factor in [0.9, 1.1).
    fn factor(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        0.9 + 0.2 * ((self.0 >> 11) as f64 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn jitter_stays_within_ten_percent_and_varies() {
        let mut j = super::Jitter::seeded();
        let v: Vec<f64> = (0..1000).map(|_| j.factor()).collect();
        assert!(v.iter().all(|&f| (0.9..1.1).contains(&f)));
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!((mean - 1.0).abs() < 0.02, "mean {mean}");
        assert!(v.windows(2).any(|w| w[0] != w[1]));
    }

    /// `se.slice` from the text of a task's `sched` file (Linux 6.6+ show it).
    #[cfg(target_os = "linux")]
    fn slice_in(sched: &str) -> Option<u64> {
        let line = sched.lines().find(|l| l.starts_with("se.slice"))?;
        line.split(':').nth(1)?.trim().parse().ok()
    }

    #[cfg(target_os = "linux")]
    fn slice_of(path: &str) -> Option<u64> {
        slice_in(&std::fs::read_to_string(path).ok()?)
    }

    /// The short slice is the sampling thread's alone, and only while it
    /// samples: a process it starts afterwards (a re-run) has the default.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_short_slice_is_given_back_and_not_inherited() {
        std::thread::spawn(|| {
            let me = "/proc/thread-self/sched";
            let before = slice_of(me);
            {
                let _slice = super::ShortSlice::ask();
                if let (Some(b), Some(now)) = (before, slice_of(me)) {
                    assert!(now <= b, "asked for less: {now} vs {b}");
                }
            }
            assert_eq!(slice_of(me), before, "given back");
            let child = std::process::Command::new("cat")
                .arg("/proc/self/sched")
                .output()
                .expect("cat");
            let inherited = slice_in(&String::from_utf8_lossy(&child.stdout));
            assert_eq!(inherited, before, "a later child has the default slice");
        })
        .join()
        .expect("thread");
    }
}
