//! boundcheck's own Python stack reader for CPython 3.11–3.14 (GIL builds,
//! x86_64 Linux): the same traces as py-spy 0.4.3's `get_stack_traces`, for
//! a fraction of its system calls (issue 16).
//!
//! py-spy still opens the process (`PythonSpy::retry_new` finds the
//! interpreter and the GIL's state); this reader takes the addresses it
//! found and reads the stacks itself:
//! - one `process_vm_readv` for many ranges ([`remote`]), the ranges of all
//!   threads at once;
//! - a thread's frames from one copy of its data stack chunk, and what the
//!   last read found read again up front ([`threads`]);
//! - names, files and line tables kept per code object and checked, not
//!   re-read, on every read ([`codes`], which says why a kept name is never
//!   stale).
//!
//! What each trace holds is py-spy's: the native thread id, frames innermost
//! first named by `co_qualname` (else `co_name`), with file and line (the
//! line of `prev_instr`/`instr_ptr` in the location table, decoded as py-spy
//! decodes it, [`linetable`]); frames py-spy skips (C-stack and interpreter
//! entry frames, shims, frames whose strings cannot be copied) are skipped;
//! whether the thread holds the GIL. The "active" flag is py-spy's too (the
//! thread's OS state re-read just before reading, then py-spy's idle
//! heuristic), but only for the threads the caller names: boundcheck uses it
//! only for threads its tick saw on a CPU (see `stack_read::join_traces`),
//! and py-spy's pass over every thread's `/proc` file was 7 % of its read.
//! Other threads' flag is what py-spy gives a thread it has no OS state
//! for: active unless its innermost frame looks idle.

mod codes;
mod frames;
mod layout;
mod linetable;
mod objects;
mod regions;
mod remote;
mod threads;

use codes::{CodeCache, CodeInfo};
use layout::Layout;
use py_spy::{Frame, PythonSpy, StackTrace};
use regions::Regions;
use remote::Batch;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

/// Why a read failed (counted as a failed read, like a torn py-spy read).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("could not read {0} at {1:#x}")]
    Unreadable(&'static str, usize),
    #[error("implausible {what}: {value:#x} (a torn read)")]
    Implausible { what: &'static str, value: usize },
    #[error("more than {1} {0} (a torn read)")]
    TooMany(&'static str, usize),
}

/// Reads the Python stacks of one process opened by py-spy.
pub struct PyReader {
    pid: i32,
    layout: &'static Layout,
    interp: usize,
    gil_addr: usize,
    memo: threads::Memo,
    codes: CodeCache,
    batch: Batch,
    regions: Regions,
    /// System calls the last read made (`process_vm_readv` and `/proc`).
    pub last_calls: usize,
}

impl PyReader {
    /// A reader for the process `spy` opened, when its interpreter is one
    /// this reader knows (CPython 3.11–3.14 with the GIL); `None` otherwise,
    /// and py-spy keeps reading it.
    pub fn new(spy: &PythonSpy) -> Option<PyReader> {
        let layout = Layout::of(spy.version.major, spy.version.minor)?;
        if free_threaded(spy.pid) || spy.addresses.interpreter_address == 0 {
            return None;
        }
        Some(PyReader {
            pid: spy.pid,
            layout,
            interp: spy.addresses.interpreter_address,
            gil_addr: spy.addresses.threadstate_address,
            memo: threads::Memo::default(),
            codes: CodeCache::default(),
            batch: Batch::default(),
            regions: Regions::default(),
            last_calls: 0,
        })
    }

    /// The structure offsets this reader uses for CPython `major.minor`, by
    /// the names `tests/pyread_offsets.c` prints them under (for the test
    /// that checks them against each version's headers).
    pub fn layout_fields(major: u64, minor: u64) -> Option<Vec<(&'static str, u64)>> {
        Layout::of(major, minor).map(Layout::fields)
    }

    /// Every thread's trace, in the interpreter's thread order. `on_cpu`:
    /// the native thread ids whose OS state is re-read for the "active" flag.
    pub fn read(&mut self, on_cpu: &[i32]) -> Result<Vec<StackTrace>, ReadError> {
        let l = self.layout;
        let mut calls = 0;
        let activity: HashMap<i32, bool> = on_cpu
            .iter()
            .filter_map(|&tid| {
                calls += 1;
                Some((tid, running(self.pid, tid)?))
            })
            .collect();
        let (raw, gil_thread) = threads::read_threads(
            l,
            self.pid,
            (self.interp, self.gil_addr),
            &mut self.memo,
            (&mut self.batch, &mut self.regions),
            &mut calls,
        )?;
        let mut addrs: Vec<usize> = raw
            .iter()
            .flat_map(|t| t.frames.iter().filter(|f| !f.skip).map(|f| f.code))
            .collect();
        addrs.sort_unstable();
        addrs.dedup();
        let infos = self
            .codes
            .resolve(l, self.pid, &addrs, &mut self.batch, &mut calls);
        // Sorted by address, as `addrs` is.
        let mut code_of: Vec<(usize, Rc<CodeInfo>)> = Vec::with_capacity(addrs.len());
        for (addr, info) in addrs.into_iter().zip(infos) {
            let info = info.ok_or(ReadError::Unreadable("a code object", addr))?;
            code_of.push((addr, info));
        }
        let traces = raw
            .into_iter()
            .map(|t| {
                let frames = frames_of(l, &t.frames, &code_of);
                let os_thread_id = t.native_thread_id;
                let mut trace = StackTrace {
                    pid: self.pid,
                    thread_id: t.thread_id,
                    thread_name: None,
                    os_thread_id: Some(os_thread_id),
                    active: true,
                    owns_gil: t.thread_id == gil_thread,
                    frames,
                    process_info: None,
                };
                if let Some(&active) = activity.get(&(os_thread_id as i32)) {
                    trace.active = active;
                }
                if trace.active {
                    trace.active = !looks_idle(&trace.frames);
                }
                trace
            })
            .collect();
        self.last_calls = calls;
        Ok(traces)
    }
}

/// A thread's frames as py-spy's `get_stack_trace` lists them.
fn frames_of(
    l: &Layout,
    raw: &[frames::RawFrame],
    code_of: &[(usize, Rc<CodeInfo>)],
) -> Vec<Frame> {
    let mut frames: Vec<Frame> = Vec::with_capacity(raw.len());
    // py-spy marks the frame before a skipped one (and the last) a shim entry.
    let shim = |frames: &mut Vec<Frame>| {
        if let Some(f) = frames.last_mut() {
            f.is_shim_entry = true;
        }
    };
    for f in raw {
        let info = code_of
            .binary_search_by_key(&f.code, |(a, _)| *a)
            .ok()
            .filter(|_| !f.skip)
            .map(|i| &*code_of[i].1);
        let named = info.and_then(|i| Some((i.name.as_ref()?, i.filename.as_ref()?, i)));
        let Some((name, filename, info)) = named else {
            shim(&mut frames);
            continue;
        };
        if filename.is_empty() || filename == "<shim>" {
            shim(&mut frames);
            continue;
        }
        let lasti = f.instr.wrapping_sub(f.code) as isize as i32;
        let offset = lasti.wrapping_sub(l.code_adaptive as i32);
        frames.push(Frame {
            name: name.clone(),
            filename: filename.clone(),
            module: None,
            short_filename: None,
            line: info.table.as_ref().map_or(0, |t| t.line_at(offset)),
            locals: None,
            is_entry: f.is_entry,
            is_shim_entry: false,
        });
    }
    shim(&mut frames);
    frames
}

/// Maps keyed by addresses (and small tuples of them), hashed by a
/// multiplication rather than SipHash: the keys come from the target's
/// memory, but a collision only slows a lookup, and SipHash was a tenth of
/// a read's CPU.
pub(super) type AddrMap<K, V> = HashMap<K, V, BuildHasherDefault<AddrHasher>>;

pub(super) fn new_map<K, V>() -> AddrMap<K, V> {
    AddrMap::default()
}

#[derive(Default)]
pub(super) struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }

    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing, folded so the high bits reach the table index.
        let h = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = h ^ (h >> 32);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(n as u64);
    }
}

/// py-spy's `_heuristic_is_thread_idle`: an innermost frame that waits.
fn looks_idle(frames: &[Frame]) -> bool {
    let Some(f) = frames.first() else {
        return false;
    };
    let file = f.filename.as_str();
    (f.name == "wait" && file.ends_with("threading.py"))
        || (f.name == "select" && file.ends_with("selectors.py"))
        || (f.name == "poll"
            && (file.ends_with("asyncore.py")
                || file.contains("zmq")
                || file.contains("gevent")
                || file.contains("tornado")))
}

/// Whether thread `tid` runs (`R` in its `stat`), as py-spy's
/// `Thread::active` reads it (the first 512 bytes, no size query); `None`
/// when it cannot be read.
fn running(pid: i32, tid: i32) -> Option<bool> {
    use std::io::Read;
    let mut file = std::fs::File::open(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    let mut buf = [0u8; 512];
    let n = file.read(&mut buf).ok()?;
    stat_state(&buf[..n]).map(|s| s == b'R')
}

/// The state letter of a `stat` line: after the name's last `)`.
fn stat_state(stat: &[u8]) -> Option<u8> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat.get(close + 2).copied()
}

/// A free-threaded build (whose layouts differ): py-spy cannot open those
/// today, but should it learn to, this reader must not read them.
fn free_threaded(pid: i32) -> bool {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    super::stack_open::free_threaded_build(&exe, &maps).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_s_state_follows_the_last_parenthesis() {
        assert_eq!(stat_state(b"4242 (python3) R 1 4242 0"), Some(b'R'));
        assert_eq!(stat_state(b"7 (a) b) (c) S 1 7"), Some(b'S'));
        assert_eq!(stat_state(b"7 (cut"), None);
        assert_eq!(stat_state(b"7 (x)"), None);
        let own = std::fs::read(format!("/proc/self/task/{}/stat", unsafe {
            libc::gettid()
        }));
        assert_eq!(stat_state(&own.unwrap()), Some(b'R'), "this thread runs");
    }
}
