//! Per-CPU perf ring buffers on one process tree, and the few record layouts
//! we read from them.
//!
//! A sampling event that follows a whole tree needs `inherit`, and the kernel
//! refuses `inherit` + mmap on a `cpu = -1` event (EINVAL), so each event is
//! opened once per online CPU: every thread of the tree writes into the ring
//! of the CPU it runs on. Records are parsed by hand for the fixed
//! `sample_type` we ask for (ip | tid | time | callchain) rather than through
//! `perf-event-data`'s visitor, which allocates per sample and panics on
//! record types it does not implement. Timestamps use `CLOCK_MONOTONIC`, the
//! clock behind [`std::time::Instant`], so they line up with the sampler's ticks.

use perf_event::events::Event;
use perf_event::{Builder, Clock, SampleFlag, Sampler};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::time::Instant;

const PERF_RECORD_LOST: u32 = 2;
const PERF_RECORD_SAMPLE: u32 = 9;
const PERF_RECORD_SWITCH: u32 = 14;
const MISC_SWITCH_OUT: u16 = 1 << 13;
const MISC_SWITCH_OUT_PREEMPT: u16 = 1 << 14;
/// Callchain entries at or above this are context markers (`PERF_CONTEXT_*`), not addresses.
pub const PERF_CONTEXT_MAX: u64 = -4095i64 as u64;
pub const PERF_CONTEXT_KERNEL: u64 = -128i64 as u64;
pub const PERF_CONTEXT_USER: u64 = -512i64 as u64;

/// One record of interest, borrowed from a scratch buffer.
#[derive(Debug)]
pub enum Rec<'a> {
    /// A sample: who, when (CLOCK_MONOTONIC ns) and the raw call chain
    /// (innermost first, with `PERF_CONTEXT_*` markers).
    Sample {
        pid: i32,
        tid: i32,
        time_ns: u64,
        chain: &'a [u64],
    },
    /// A context switch of `tid`: out (with whether it was still runnable) or in.
    Switch {
        pid: i32,
        tid: i32,
        time_ns: u64,
        out: bool,
        preempt: bool,
    },
    /// The kernel dropped this many records: the ring was full.
    Lost(u64),
}

/// Opens the configured event on one thread and one CPU.
type Opener = Box<dyn Fn(i32, usize) -> io::Result<perf_event::Counter>>;

/// The same event opened on every online CPU for one process tree.
pub struct Rings {
    /// Each ring with its slot: the index in `owners` of the thread it was opened on.
    rings: Vec<(u32, Sampler)>,
    /// Word-aligned copy of the record being parsed.
    scratch: Vec<u64>,
    open_one: Opener,
    ring_bytes: usize,
    /// Threads opened directly, in opening order.
    owners: Vec<i32>,
    /// Per thread, the slot whose records are kept (see [`Rings::drain`]).
    source: HashMap<i32, u32>,
    /// Threads perf refused, by reason (attach; a thread that exited is not counted).
    pub missed: BTreeMap<String, u64>,
}

impl Rings {
    /// Open `event` on each of `tids` (threads of one or more processes of
    /// the tree) on each online CPU, with a ring of `ring_bytes` (a power of
    /// two) each; `configure` adds the event-specific settings.
    ///
    /// A perf event on a thread follows that one thread and what it creates
    /// afterwards (`inherit`). Held before exec the process has one thread,
    /// so that is the whole tree. When attaching (`before_exec == false`)
    /// every thread that already exists gets its own events (threads × CPUs
    /// descriptors), as `perf record -p` does.
    /// The first thread that still exists decides: when perf refuses it the
    /// whole open fails with the kernel's error (permissions, no such
    /// event). A thread that exited meanwhile is skipped; a later one
    /// refused is counted in `missed`.
    pub fn open_threads<E: Event + Clone + 'static>(
        tids: &[i32],
        before_exec: bool,
        event: E,
        ring_bytes: usize,
        configure: impl Fn(&mut Builder) + 'static,
    ) -> io::Result<Rings> {
        let open_one: Opener = Box::new(move |tid, cpu| {
            let mut b = Builder::new(event.clone());
            b.observe_pid(tid)
                .one_cpu(cpu)
                .inherit(true)
                .clockid(Clock::MONOTONIC)
                .sample(SampleFlag::IP | SampleFlag::TID | SampleFlag::TIME | SampleFlag::CALLCHAIN)
                .sample_id_all(true);
            if before_exec {
                b.enabled(false).enable_on_exec(true);
            } else {
                b.enabled(true);
            }
            configure(&mut b);
            b.build()
        });
        let mut me = Rings {
            rings: Vec::new(),
            scratch: Vec::new(),
            open_one,
            ring_bytes,
            owners: Vec::new(),
            source: HashMap::new(),
            missed: BTreeMap::new(),
        };
        let mut decided = false;
        for &tid in tids {
            match me.add_thread(tid) {
                Ok(()) => decided = true,
                // Gone since the listing (a main thread that called
                // pthread_exit lingers as a zombie): the next one decides.
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) if !decided => return Err(e),
                Err(e) => me.note_refused(&e),
            }
        }
        if decided {
            Ok(me)
        } else {
            Err(io::Error::from_raw_os_error(libc::ESRCH))
        }
    }

    /// Open the event on threads found after the first open that no event
    /// may cover yet (see `sample::attach`). Threads already opened are
    /// passed over; a thread that exited is skipped, one refused counted.
    pub fn follow(&mut self, tids: &[i32]) {
        for &tid in tids {
            if self.owners.contains(&tid) {
                continue;
            }
            if let Err(e) = self.add_thread(tid) {
                self.note_refused(&e);
            }
        }
    }

    /// Stop every event (and the copies inherited from it): an attached
    /// tree keeps running while the samplers finish, and what it does then
    /// is outside the run.
    pub fn stop(&mut self) {
        for (_, ring) in &mut self.rings {
            // A failure leaves the event running: records after the end
            // would only lengthen the run's last waits, not invent others.
            let _ = ring.disable();
        }
    }

    fn note_refused(&mut self, e: &io::Error) {
        // A thread that exited since it was listed: nothing was lost.
        if e.raw_os_error() != Some(libc::ESRCH) {
            *self.missed.entry(explain_open_error(e)).or_default() += 1;
        }
    }

    /// One ring per online CPU for `tid`, all or none.
    fn add_thread(&mut self, tid: i32) -> io::Result<()> {
        let slot = self.owners.len() as u32;
        let mut opened = Vec::new();
        for cpu in online_cpus() {
            let counter = (self.open_one)(tid, cpu)?;
            opened.push((slot, counter.sampled(self.ring_bytes)?));
        }
        self.rings.extend(opened);
        self.owners.push(tid);
        Ok(())
    }

    /// Hand every record waiting in every ring to `f`, ring by ring (so
    /// records of different CPUs are not in time order).
    ///
    /// A thread's records are taken from one slot only. An inherited event
    /// writes into the ring of the event it was inherited from, so a thread
    /// created while the events were being opened, and opened again by
    /// [`Rings::follow`] because nothing showed it was covered, can write
    /// the same switch or sample twice: once through its creator's slot and
    /// once through its own. The earliest-opened slot that delivers a
    /// thread's records wins (it has covered the thread longest); rings are
    /// read in slot order, so it is met first within a drain.
    pub fn drain(&mut self, mut f: impl FnMut(Rec<'_>)) {
        for (slot, ring) in &mut self.rings {
            while let Some(record) = ring.next_record() {
                let (ty, misc) = (record.ty(), record.misc());
                if !matches!(
                    ty,
                    PERF_RECORD_SAMPLE | PERF_RECORD_SWITCH | PERF_RECORD_LOST
                ) {
                    continue;
                }
                let len = record.data().iter().map(|p| p.len()).sum::<usize>();
                self.scratch.clear();
                self.scratch.resize(len / 8, 0);
                let mut at = 0;
                for part in record.data() {
                    let take = part.len().min(len / 8 * 8 - at);
                    // SAFETY: `scratch` holds len/8 words, i.e. at least
                    // `at + take` bytes, and any byte pattern is a valid u64.
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            part.as_ptr(),
                            self.scratch.as_mut_ptr().cast::<u8>().add(at),
                            take,
                        );
                    }
                    at += take;
                }
                drop(record);
                let Some(rec) = parse(ty, misc, &self.scratch) else {
                    continue;
                };
                let tid = match rec {
                    // One thread opened (launched): every record is its tree's.
                    _ if self.owners.len() == 1 => {
                        f(rec);
                        continue;
                    }
                    Rec::Sample { tid, .. } | Rec::Switch { tid, .. } => tid,
                    Rec::Lost(_) => {
                        f(rec);
                        continue;
                    }
                };
                let kept = self.source.entry(tid).or_insert(*slot);
                if *slot <= *kept {
                    *kept = *slot;
                    f(rec);
                }
            }
        }
    }
}

/// Parse a record body (as 8-byte words: perf pads every record to 8 bytes)
/// for `sample_type = IP | TID | TIME | CALLCHAIN` with `sample_id_all`
/// (switch and lost records then end with pid, tid, time).
pub fn parse(ty: u32, misc: u16, body: &[u64]) -> Option<Rec<'_>> {
    let pid_tid = |w: u64| ((w & 0xffff_ffff) as u32 as i32, (w >> 32) as u32 as i32);
    match ty {
        PERF_RECORD_SAMPLE => {
            // ip, pid|tid, time, nr, ips[nr]
            let (pid, tid) = pid_tid(*body.get(1)?);
            let time_ns = *body.get(2)?;
            let nr = usize::try_from(*body.get(3)?).ok()?;
            let chain = body.get(4..4usize.checked_add(nr)?)?;
            Some(Rec::Sample {
                pid,
                tid,
                time_ns,
                chain,
            })
        }
        PERF_RECORD_SWITCH => {
            let (pid, tid) = pid_tid(*body.first()?);
            Some(Rec::Switch {
                pid,
                tid,
                time_ns: *body.get(1)?,
                out: misc & MISC_SWITCH_OUT != 0,
                preempt: misc & MISC_SWITCH_OUT_PREEMPT != 0,
            })
        }
        PERF_RECORD_LOST => Some(Rec::Lost(*body.get(1)?)),
        _ => None,
    }
}

/// Ring bytes per CPU for each of `threads` threads opened one by one
/// (attach): the budget `full` of a tree opened once shared out, but never
/// below `floor`. Each directly opened thread has rings of its own, and
/// `full` × threads × CPUs of locked memory would be hundreds of MiB on a
/// server with fifty threads; lost records are counted, never hidden.
pub fn per_thread_ring(full: usize, floor: usize, threads: usize) -> usize {
    (full / threads.max(1)).clamp(floor.min(full), full)
}

/// The threads of `pid` now (`/proc/PID/task`), or just `pid` when unreadable.
pub fn threads_of(pid: i32) -> Vec<i32> {
    let mut tids: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    if !tids.contains(&pid) {
        tids.push(pid);
    }
    tids.sort_unstable();
    tids
}

/// CPUs the kernel lists as online (`/sys/devices/system/cpu/online`), or
/// every CPU this process may use when that file is unreadable.
pub fn online_cpus() -> Vec<usize> {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .map(|s| parse_cpu_list(&s))
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect()
        })
}

/// Parse a kernel CPU list such as `0-3,6,8-9`.
pub fn parse_cpu_list(s: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<usize>().ok()),
        }
    }
    out
}

/// Converts CLOCK_MONOTONIC nanoseconds (perf timestamps) to seconds since
/// the run's `start`.
#[derive(Debug, Clone, Copy)]
pub struct RunClock {
    start_ns: u64,
}

impl RunClock {
    pub fn new(start: Instant) -> Self {
        let since_start = start.elapsed().as_nanos() as u64;
        RunClock {
            start_ns: monotonic_ns().saturating_sub(since_start),
        }
    }

    pub fn seconds(&self, time_ns: u64) -> f64 {
        time_ns.saturating_sub(self.start_ns) as f64 / 1e9
    }
}

/// CLOCK_MONOTONIC now, nanoseconds.
pub fn monotonic_ns() -> u64 {
    // SAFETY: `ts` is a valid out-pointer.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
}

/// Why perf could not be opened, with the fix when there is one.
pub fn explain_open_error(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => format!(
            "perf events not permitted ({e}); run as root or lower /proc/sys/kernel/perf_event_paranoid (e.g. `sysctl kernel.perf_event_paranoid=1`)"
        ),
        Some(libc::ENOENT) | Some(libc::EOPNOTSUPP) | Some(libc::ENODEV) => {
            format!("event not supported on this machine ({e})")
        }
        Some(libc::EMFILE) | Some(libc::ENFILE) => format!(
            "too many open files ({e}): each thread needs a descriptor per event and CPU; raise `ulimit -n`"
        ),
        Some(libc::ENOMEM) => format!(
            "cannot map perf ring buffers ({e}); raise /proc/sys/kernel/perf_event_mlock_kb or run as root"
        ),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_expand_ranges_and_singles() {
        assert_eq!(parse_cpu_list("0-1\n"), vec![0, 1]);
        assert_eq!(parse_cpu_list("0-2,5,7-8"), vec![0, 1, 2, 5, 7, 8]);
        assert_eq!(parse_cpu_list("3"), vec![3]);
        assert!(parse_cpu_list("").is_empty());
    }

    #[test]
    fn attach_rings_share_the_budget_above_a_floor() {
        assert_eq!(per_thread_ring(1 << 21, 1 << 18, 1), 1 << 21);
        assert_eq!(per_thread_ring(1 << 21, 1 << 18, 4), 1 << 19);
        assert_eq!(per_thread_ring(1 << 21, 1 << 18, 50), 1 << 18);
        assert_eq!(per_thread_ring(1 << 21, 1 << 18, 0), 1 << 21);
    }

    #[test]
    fn sample_and_switch_bodies_parse() {
        let mut b: Vec<u64> = vec![0x1234, (7u64 << 32) | 5, 99, 3];
        b.extend([PERF_CONTEXT_USER, 0x10, 0x20]);
        let Some(Rec::Sample {
            pid,
            tid,
            time_ns,
            chain,
        }) = parse(PERF_RECORD_SAMPLE, 0, &b)
        else {
            panic!("not a sample");
        };
        assert_eq!((pid, tid, time_ns), (5, 7, 99));
        assert_eq!(chain, &[PERF_CONTEXT_USER, 0x10, 0x20]);
        // A chain longer than the body is refused, not read past the end.
        assert!(parse(PERF_RECORD_SAMPLE, 0, &b[..5]).is_none());

        let sw = [(9u64 << 32) | 4, 1000];
        let flags = MISC_SWITCH_OUT | MISC_SWITCH_OUT_PREEMPT;
        let Some(Rec::Switch {
            pid,
            tid,
            out,
            preempt,
            time_ns,
        }) = parse(PERF_RECORD_SWITCH, flags, &sw)
        else {
            panic!("not a switch");
        };
        assert_eq!((pid, tid, out, preempt, time_ns), (4, 9, true, true, 1000));
        assert!(matches!(
            parse(PERF_RECORD_LOST, 0, &[1, 42]),
            Some(Rec::Lost(42))
        ));
    }
}

/// Distinct raw call chains, each given an id the first time it is seen.
/// Both samplers see the same few chains thousands of times; interning them
/// keeps memory flat and lets each new chain's addresses be noted for
/// symbolisation exactly once (`on_new`).
#[derive(Default)]
pub struct ChainTable {
    ids: HashMap<Vec<u64>, u32>,
    pub list: Vec<Vec<u64>>,
}

impl ChainTable {
    pub fn intern(&mut self, key: &[u64], on_new: impl FnOnce()) -> u32 {
        if let Some(&id) = self.ids.get(key) {
            return id;
        }
        on_new();
        let id = self.list.len() as u32;
        self.list.push(key.to_vec());
        self.ids.insert(key.to_vec(), id);
        id
    }
}
