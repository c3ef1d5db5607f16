//! Native on-CPU call chains of the whole tree, from perf `cpu-clock` samples.
//!
//! One `cpu-clock` event per online CPU, opened on the target before its exec
//! (`enable_on_exec`) with `inherit`, so every thread and child process is
//! sampled from its first instruction. `cpu-clock` is a software hrtimer that
//! runs only while a thread of the tree is on a CPU, so each sample is a
//! moment of on-CPU time and a thread's share of samples is its share of CPU
//! time. The period is 1/99 s of CPU time per thread: 99 Hz rather than 100
//! so the samples do not fall in lockstep with 100 Hz timers (the kernel
//! tick, the /proc sampler, the target's own periodic work), the choice perf
//! and bcc make for the same reason. At that rate the kernel's cost is the
//! call-chain walk (a few µs per sample) and the ring holds seconds of
//! samples, so a drain per tick never falls behind.
//!
//! Kernel frames are asked for; when `perf_event_paranoid` refuses them the
//! event is reopened for user code only, which also drops samples that land
//! in the kernel, and the reason is kept for the report. User chains follow
//! frame pointers: code built without them (this machine's libpython) stops
//! after a frame or three, hence Python stacks come from py-spy instead.

use super::rings::{self, ChainTable, Rec, Rings, RunClock};
use super::symbols::{Symbols, chain_addrs};
use crate::timeline::{NativeProfile, NativeSample, StackTable};
use perf_event::events::Software;
use std::collections::BTreeMap;
use std::time::Instant;

/// Samples per second of a thread's CPU time.
pub const NATIVE_RATE_HZ: u64 = 99;
/// Ring size per CPU: 99 samples/s × ≤ 1 KiB (127 frames) ≈ 100 KiB/s, so a
/// drain every tick (10 ms) leaves it nearly empty and a stalled second is
/// still absorbed.
const RING_BYTES: usize = 256 * 1024;
/// Smallest ring per thread and CPU when attaching (threads opened one by
/// one): 64 KiB holds over half a second of one thread's samples.
const MIN_THREAD_RING_BYTES: usize = 64 * 1024;

/// Why native sampling could not start.
#[derive(Debug, thiserror::Error)]
#[error("native stacks unavailable: {0}")]
pub struct NativeUnavailable(pub String);

struct RawSample {
    pid: i32,
    tid: i32,
    time_ns: u64,
    chain: u32,
}

/// A running native sampler; drain it every tick, finish it once.
pub struct NativeSampler {
    rings: Rings,
    clock: RunClock,
    kernel_frames: bool,
    kernel_unavailable: Option<String>,
    /// Distinct raw chains, the pid prepended (addresses only mean something per process).
    chains: ChainTable,
    samples: Vec<RawSample>,
    symbols: Symbols,
    key: Vec<u64>,
    lost: u64,
}

impl NativeSampler {
    /// Open on `pid`. `before_exec`: the process is held before its exec (call
    /// this inside [`crate::target::launch_with`]'s closure) and sampling
    /// starts at the exec. Otherwise (attach) it starts now, on every thread
    /// of `pid` and whatever they create from now on, but not on child
    /// processes that already exist (see [`NativeSampler::attach`]). `start`
    /// is the run's time origin (`t_s = 0`).
    pub fn open(pid: i32, before_exec: bool, start: Instant) -> Result<Self, NativeUnavailable> {
        if before_exec {
            Self::open_on(&[pid], true, RING_BYTES, start)
        } else {
            Self::attach(&rings::threads_of(pid), start)
        }
    }

    /// Attach to running threads (of one process or of a whole tree, the
    /// root's main thread first), as `perf record -p` does: one event per
    /// thread and CPU, with `inherit` so threads and processes they create
    /// later are followed. Threads found later that may have escaped
    /// (created while the events were being opened) are opened by
    /// [`NativeSampler::follow`].
    pub fn attach(tids: &[i32], start: Instant) -> Result<Self, NativeUnavailable> {
        let ring = rings::per_thread_ring(RING_BYTES, MIN_THREAD_RING_BYTES, tids.len());
        Self::open_on(tids, false, ring, start)
    }

    fn open_on(
        tids: &[i32],
        before_exec: bool,
        ring_bytes: usize,
        start: Instant,
    ) -> Result<Self, NativeUnavailable> {
        let open = |kernel: bool| {
            Rings::open_threads(
                tids,
                before_exec,
                Software::CPU_CLOCK,
                ring_bytes,
                move |b| {
                    b.sample_period(1_000_000_000 / NATIVE_RATE_HZ);
                    if kernel {
                        b.include_kernel();
                    } else {
                        b.exclude_kernel(true).exclude_callchain_kernel(true);
                    }
                },
            )
        };
        let (rings, kernel_unavailable) = match open(true) {
            Ok(r) => (r, None),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM)) => {
                let why = rings::explain_open_error(&e);
                let r =
                    open(false).map_err(|e| NativeUnavailable(rings::explain_open_error(&e)))?;
                (r, Some(format!("kernel frames not recorded: {why}")))
            }
            Err(e) => return Err(NativeUnavailable(rings::explain_open_error(&e))),
        };
        Ok(NativeSampler {
            rings,
            clock: RunClock::new(start),
            kernel_frames: kernel_unavailable.is_none(),
            kernel_unavailable,
            chains: ChainTable::default(),
            samples: Vec::new(),
            symbols: Symbols::default(),
            key: Vec::new(),
            lost: 0,
        })
    }

    /// Open on threads that appeared after [`NativeSampler::attach`] and
    /// that no inherited event may cover (see `sample::attach`).
    pub fn follow(&mut self, tids: &[i32]) {
        self.rings.follow(tids);
    }

    /// Stop sampling now (attach: the tree outlives the run); drain and
    /// finish afterwards as usual.
    pub fn stop(&mut self) {
        self.rings.stop();
    }

    /// Threads perf refused, by reason (attach).
    pub fn missed(&self) -> &BTreeMap<String, u64> {
        &self.rings.missed
    }

    /// Move what the kernel wrote into memory, and learn where new addresses
    /// live while their processes are still alive. Cheap when nothing is new:
    /// a parse and a hash lookup per sample.
    pub fn drain(&mut self) {
        let Self {
            rings,
            chains,
            samples,
            symbols,
            key,
            lost,
            ..
        } = self;
        rings.drain(|rec| match rec {
            Rec::Sample {
                pid,
                tid,
                time_ns,
                chain,
            } => {
                key.clear();
                key.push(pid as u64);
                key.extend_from_slice(chain);
                let id = chains.intern(key, || {
                    chain_addrs(pid, chain).for_each(|a| symbols.note(a))
                });
                samples.push(RawSample {
                    pid,
                    tid,
                    time_ns,
                    chain: id,
                });
            }
            Rec::Lost(n) => *lost += n,
            Rec::Switch { .. } => {}
        });
        symbols.flush();
    }

    /// Drain the rest and symbolise: the profile, samples in time order.
    pub fn finish(mut self) -> NativeProfile {
        self.drain();
        let t0 = Instant::now();
        let resolved = std::mem::take(&mut self.symbols).resolve();
        let mut table = StackTable::default();
        let mut unresolved_per_chain = Vec::with_capacity(self.chains.list.len());
        let stack_of_chain: Vec<u32> = self
            .chains
            .list
            .iter()
            .map(|key| {
                let pid = key[0] as i32;
                let mut frames: Vec<_> = chain_addrs(pid, &key[1..])
                    .filter_map(|a| resolved.frame(a).cloned())
                    .collect();
                frames.reverse();
                unresolved_per_chain.push(frames.iter().filter(|f| f.name == "[unknown]").count());
                table.intern(frames)
            })
            .collect();
        self.samples.sort_by_key(|s| s.time_ns);
        let unresolved_frames = self
            .samples
            .iter()
            .map(|s| unresolved_per_chain[s.chain as usize] as u64)
            .sum();
        let samples = self
            .samples
            .iter()
            .map(|s| NativeSample {
                pid: s.pid,
                tid: s.tid,
                t_s: self.clock.seconds(s.time_ns),
                stack: stack_of_chain[s.chain as usize],
            })
            .collect();
        NativeProfile {
            method: format!(
                "perf cpu-clock, {NATIVE_RATE_HZ} Hz of each thread's CPU time, {} callchains, symbolised with blazesym",
                if self.kernel_frames {
                    "user+kernel"
                } else {
                    "user"
                }
            ),
            rate_hz: NATIVE_RATE_HZ as f64,
            kernel_frames: self.kernel_frames,
            kernel_unavailable: self.kernel_unavailable,
            samples,
            stacks: table,
            lost: self.lost,
            unresolved_frames,
            symbolize_s: t0.elapsed().as_secs_f64(),
            unavailable: None,
        }
    }
}
