//! Exact off-CPU time per thread, and why, from the kernel's context switches.
//!
//! Polling /proc at 100 Hz misses waits shorter than a tick and costs CPU per
//! thread. The kernel already knows: a `context-switches` software event with
//! sample period 1 fires at every switch-out of a thread of the tree, and its
//! kernel call chain names what the thread waits for (`futex_wait` → lock,
//! `io_schedule` → disk, `do_nanosleep` → sleep, …; see [`classify_switch`]).
//! The same event with `context_switch` records adds a switch-out record
//! (flagged when the thread was still runnable, i.e. preempted) and a
//! switch-in record, so each wait is timed exactly from switch-out to
//! switch-in. Only kernel chains are taken (`exclude_callchain_user`): the
//! reason is in the kernel, and walking user stacks at every switch would
//! multiply the cost on a lock convoy (~75 000 switches/s).
//!
//! A thread's switch-out and switch-in can be written to different CPUs'
//! rings, so each drain merges the rings by timestamp and only pairs events
//! older than the drain's start (minus a millisecond for records still being
//! written); younger ones wait for the next drain. Totals are folded per
//! (thread, kernel stack) during the run and classified once per distinct
//! stack at the end, so the per-switch cost stays a hash update.

use super::rings::{self, ChainTable, Rec, Rings, RunClock};
pub use super::switch_reason::classify_switch;
use super::symbols::{Symbols, chain_addrs};
use crate::timeline::{OffCpuInterval, OffCpuProfile, OffCpuReason, StackTable, ThreadOffCpu};
use perf_event::events::Software;
use std::collections::HashMap;
use std::time::Instant;

/// Ring size per CPU. A lock convoy writes ~300 bytes per switch (sample with
/// a short kernel chain + two switch records) at up to ~40 000 switches/s per
/// CPU, ~12 MB/s: 2 MiB holds ~170 ms, many ticks of slack.
const RING_BYTES: usize = 2 * 1024 * 1024;
/// Smallest ring per thread and CPU when attaching (threads opened one by
/// one): 256 KiB holds ~20 ms of a convoy's whole switch traffic, and one
/// thread writes only its own share of it.
const MIN_THREAD_RING_BYTES: usize = 256 * 1024;
/// Kernel frames kept per switch: the reason sits within the first dozen.
const MAX_STACK: u16 = 32;
/// Intervals shorter than this are only counted in the totals.
pub const INTERVAL_MIN_S: f64 = 0.001;
/// Most intervals kept in the profile.
pub const INTERVAL_CAP: usize = 50_000;
/// Events this much younger than a drain's start wait for the next drain.
const SETTLE_NS: u64 = 1_000_000;
/// Chain id for a switch whose sample was lost.
const NO_CHAIN: u32 = u32::MAX;
/// Chain ids of waits in progress at an attach count down from here (see
/// [`OffCpuSampler::seed_wait`]); real chains count up from 0.
const SEEDED_TOP: u32 = NO_CHAIN - 1;

/// Why off-CPU accounting could not start.
#[derive(Debug, thiserror::Error)]
#[error("exact off-CPU time unavailable: {0}")]
pub struct OffCpuUnavailable(pub String);

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// The sampled kernel chain at a switch-out.
    Chain {
        chain: u32,
    },
    Out {
        preempt: bool,
    },
    In,
}

#[derive(Debug, Clone, Copy)]
struct Ev {
    time_ns: u64,
    pid: i32,
    tid: i32,
    kind: Kind,
}

#[derive(Debug, Default)]
struct ThreadState {
    pid: i32,
    /// Chain sampled at the switch-out being recorded.
    chain: Option<u32>,
    /// Switched out at, with chain and whether still runnable.
    out: Option<(u64, u32, bool)>,
}

#[derive(Debug, Clone, Copy)]
struct RawInterval {
    tid: i32,
    start_ns: u64,
    dur_ns: u64,
    chain: u32,
    preempt: bool,
}

/// A running off-CPU recorder; drain it every tick, finish it once.
pub struct OffCpuSampler {
    rings: Rings,
    clock: RunClock,
    pending: Vec<Ev>,
    threads: HashMap<i32, ThreadState>,
    chains: ChainTable,
    /// (tid, chain, preempted) → (ns off CPU, switches).
    totals: HashMap<(i32, u32, bool), (u64, u64)>,
    intervals: Vec<RawInterval>,
    intervals_dropped: u64,
    symbols: Symbols,
    lost: u64,
    /// When [`OffCpuSampler::stop`] stopped the events.
    stopped_ns: Option<u64>,
    /// Waits in progress at the attach: the reason and the kernel function
    /// (`wchan`) of each, chain id `SEEDED_TOP - index`.
    seeded: Vec<(OffCpuReason, String)>,
}

impl OffCpuSampler {
    /// Open on `pid` (see [`super::native::NativeSampler::open`] for
    /// `before_exec` and what attaching follows). Needs kernel sampling: the
    /// switch happens in the kernel, so without it there is nothing to see.
    pub fn open(pid: i32, before_exec: bool, start: Instant) -> Result<Self, OffCpuUnavailable> {
        if before_exec {
            Self::open_on(&[pid], true, RING_BYTES, start)
        } else {
            Self::attach(&rings::threads_of(pid), start)
        }
    }

    /// Attach to running threads (see [`super::native::NativeSampler::attach`]).
    /// A wait in progress at the attach has no switch-out to start from:
    /// [`OffCpuSampler::seed_wait`] starts it.
    pub fn attach(tids: &[i32], start: Instant) -> Result<Self, OffCpuUnavailable> {
        let ring = rings::per_thread_ring(RING_BYTES, MIN_THREAD_RING_BYTES, tids.len());
        Self::open_on(tids, false, ring, start)
    }

    fn open_on(
        tids: &[i32],
        before_exec: bool,
        ring_bytes: usize,
        start: Instant,
    ) -> Result<Self, OffCpuUnavailable> {
        let open = |ring_bytes| {
            Rings::open_threads(
                tids,
                before_exec,
                Software::CONTEXT_SWITCHES,
                ring_bytes,
                |b| {
                    b.sample_period(1)
                        .include_kernel()
                        .exclude_callchain_user(true)
                        .sample_max_stack(MAX_STACK)
                        .context_switch(true);
                },
            )
        };
        // A smaller ring when locked memory is short (non-root users).
        let rings = open(ring_bytes)
            .or_else(|e| match e.raw_os_error() {
                Some(libc::EPERM) | Some(libc::ENOMEM) => open(ring_bytes / 8),
                _ => Err(e),
            })
            .map_err(|e| OffCpuUnavailable(rings::explain_open_error(&e)))?;
        Ok(OffCpuSampler {
            rings,
            clock: RunClock::new(start),
            pending: Vec::new(),
            threads: HashMap::new(),
            chains: ChainTable::default(),
            totals: HashMap::new(),
            intervals: Vec::new(),
            intervals_dropped: 0,
            symbols: Symbols::default(),
            lost: 0,
            stopped_ns: None,
            seeded: Vec::new(),
        })
    }

    /// Open on threads that appeared after [`OffCpuSampler::attach`] and
    /// that no inherited event may cover (see `sample::attach`).
    pub fn follow(&mut self, tids: &[i32]) {
        self.rings.follow(tids);
    }

    /// Stop recording now (attach: the tree outlives the run). A thread
    /// still switched out is counted as waiting until this moment.
    pub fn stop(&mut self) {
        self.rings.stop();
        self.stopped_ns = Some(rings::monotonic_ns());
    }

    /// A thread found asleep in `wchan` (its kernel wait function) when
    /// the events were opened at `at_ns`: no switch-out will ever be seen
    /// for that wait, so it is started here, classified from `wchan` as a
    /// switch-out stack would be, and ends at the thread's first switch-in
    /// (or at the end of the run). Without this, a thread blocked through
    /// the whole attach (a server's idle thread, a main thread joining its
    /// workers) would have no off-CPU time at all.
    pub fn seed_wait(&mut self, pid: i32, tid: i32, wchan: &str, at_ns: u64) {
        let st = self.threads.entry(tid).or_default();
        if st.out.is_some() {
            return;
        }
        let id = SEEDED_TOP - self.seeded.len() as u32;
        self.seeded
            .push((classify_switch(&[wchan], false), wchan.to_string()));
        st.pid = pid;
        st.out = Some((at_ns, id, false));
    }

    /// Threads perf refused, by reason (attach).
    pub fn missed(&self) -> &std::collections::BTreeMap<String, u64> {
        &self.rings.missed
    }

    /// Read the rings and pair the switches that are settled.
    pub fn drain(&mut self) {
        let cutoff = rings::monotonic_ns().saturating_sub(SETTLE_NS);
        self.read_rings();
        self.pair_until(cutoff);
    }

    fn read_rings(&mut self) {
        let Self {
            rings,
            pending,
            chains,
            symbols,
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
                let chain = chains.intern(chain, || {
                    chain_addrs(pid, chain).for_each(|a| symbols.note(a))
                });
                pending.push(Ev {
                    time_ns,
                    pid,
                    tid,
                    kind: Kind::Chain { chain },
                });
            }
            Rec::Switch {
                pid,
                tid,
                time_ns,
                out,
                preempt,
            } => pending.push(Ev {
                time_ns,
                pid,
                tid,
                kind: if out { Kind::Out { preempt } } else { Kind::In },
            }),
            Rec::Lost(n) => *lost += n,
        });
    }

    fn pair_until(&mut self, cutoff: u64) {
        // Stable: a sample and the switch-out record it precedes can share a timestamp.
        self.pending.sort_by_key(|e| e.time_ns);
        let n = self.pending.partition_point(|e| e.time_ns <= cutoff);
        let settled: Vec<Ev> = self.pending.drain(..n).collect();
        for ev in settled {
            let st = self.threads.entry(ev.tid).or_default();
            st.pid = ev.pid;
            match ev.kind {
                Kind::Chain { chain } => st.chain = Some(chain),
                Kind::Out { preempt } => {
                    st.out = Some((ev.time_ns, st.chain.take().unwrap_or(NO_CHAIN), preempt));
                }
                Kind::In => {
                    if let Some((t_out, chain, preempt)) = st.out.take() {
                        self.account(ev.tid, t_out, ev.time_ns, chain, preempt);
                    }
                }
            }
        }
    }

    fn account(&mut self, tid: i32, t_out: u64, t_in: u64, chain: u32, preempt: bool) {
        let dur = t_in.saturating_sub(t_out);
        let t = self.totals.entry((tid, chain, preempt)).or_default();
        t.0 += dur;
        t.1 += 1;
        if dur as f64 / 1e9 >= INTERVAL_MIN_S {
            if self.intervals.len() < INTERVAL_CAP {
                self.intervals.push(RawInterval {
                    tid,
                    start_ns: t_out,
                    dur_ns: dur,
                    chain,
                    preempt,
                });
            } else {
                self.intervals_dropped += 1;
            }
        }
    }

    /// Pair everything left, close the waits of threads still alive at the
    /// end (attach), classify each distinct kernel stack, and total per thread.
    pub fn finish(mut self) -> OffCpuProfile {
        self.read_rings();
        self.pair_until(u64::MAX);
        let now = self.stopped_ns.unwrap_or_else(rings::monotonic_ns);
        let mut unmatched = 0;
        let open: Vec<(i32, i32, (u64, u32, bool))> = self
            .threads
            .iter()
            .filter_map(|(&tid, st)| st.out.map(|o| (tid, st.pid, o)))
            .collect();
        for (tid, pid, (t_out, chain, preempt)) in open {
            if thread_alive(pid, tid) {
                self.account(tid, t_out, now, chain, preempt);
            } else {
                unmatched += 1;
            }
        }

        let resolved = std::mem::take(&mut self.symbols).resolve();
        let mut stacks = StackTable::default();
        let mut chain_stack = Vec::with_capacity(self.chains.list.len());
        let mut chain_reason = Vec::with_capacity(self.chains.list.len());
        for chain in &self.chains.list {
            let frames: Vec<_> = chain_addrs(0, chain)
                .filter_map(|a| resolved.frame(a).cloned())
                .collect();
            let names: Vec<&str> = frames.iter().map(|f| f.name.as_str()).collect();
            chain_reason.push(classify_switch(&names, false));
            chain_stack.push(stacks.intern(frames.into_iter().rev()));
        }
        let no_stack = stacks.intern(std::iter::empty());
        let seeded_stack: Vec<u32> = self
            .seeded
            .iter()
            .map(|(_, wchan)| {
                stacks.intern(std::iter::once(crate::timeline::Frame {
                    name: wchan.clone(),
                    file: "[kernel]".into(),
                    line: 0,
                }))
            })
            .collect();
        let seeded = |chain: u32| SEEDED_TOP.checked_sub(chain).map(|k| k as usize);
        let reason_of = |chain: u32, preempt: bool| match chain_reason.get(chain as usize) {
            _ if preempt => OffCpuReason::Preempted,
            Some(&r) => r,
            None => seeded(chain)
                .and_then(|k| self.seeded.get(k))
                .map_or(OffCpuReason::Other, |&(r, _)| r),
        };

        let mut threads: std::collections::BTreeMap<i32, ThreadOffCpu> = Default::default();
        for (&(tid, chain, preempt), &(ns, count)) in &self.totals {
            let reason = reason_of(chain, preempt);
            let t = threads.entry(tid).or_default();
            t.pid = self.threads.get(&tid).map_or(0, |s| s.pid);
            *t.off_cpu_s.entry(reason).or_default() += ns as f64 / 1e9;
            *t.switches.entry(reason).or_default() += count;
        }
        self.intervals.sort_by_key(|i| i.start_ns);
        let intervals = self
            .intervals
            .iter()
            .map(|i| OffCpuInterval {
                tid: i.tid,
                start_s: self.clock.seconds(i.start_ns),
                duration_s: i.dur_ns as f64 / 1e9,
                reason: reason_of(i.chain, i.preempt),
                stack: chain_stack
                    .get(i.chain as usize)
                    .or_else(|| seeded_stack.get(seeded(i.chain)?))
                    .copied()
                    .unwrap_or(no_stack),
            })
            .collect();
        OffCpuProfile {
            unavailable: None,
            method: "perf context-switches (period 1, kernel callchains) with switch records: exact switch-out → switch-in durations".into(),
            threads,
            intervals,
            interval_min_s: INTERVAL_MIN_S,
            interval_cap: INTERVAL_CAP,
            intervals_dropped: self.intervals_dropped,
            stacks,
            lost: self.lost,
            unmatched,
        }
    }
}

fn thread_alive(pid: i32, tid: i32) -> bool {
    !crate::target::has_ended(tid)
        && std::path::Path::new(&format!("/proc/{pid}/task/{tid}")).exists()
}
