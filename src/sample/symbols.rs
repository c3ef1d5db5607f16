//! Addresses to names, in two steps so that processes which exit before the
//! end of the run still resolve.
//!
//! Symbolising a live process needs its `/proc/PID/maps`, which vanishes
//! with the process, and symbolising every address as it arrives would cost
//! the sampler DWARF parsing at every tick. So the work is split the way
//! blazesym's "remote symbolization" is meant to be used:
//!
//! 1. **At drain time** (the process is almost surely alive: drains run every
//!    tick), each *new* `(pid, address)` is normalised to `(file, file
//!    offset)` with blazesym's `Normalizer` (one `PROCMAP_QUERY` ioctl or
//!    maps read per batch, no ELF parsing). Addresses already seen cost a
//!    hash lookup.
//! 2. **After sampling**, every distinct `(file, offset)` is symbolised once
//!    with blazesym (ELF symbols and, when present, DWARF file:line), kernel
//!    addresses through `/proc/kallsyms`, and addresses in anonymous memory
//!    through `/tmp/perf-PID.map`, which CPython 3.12+ writes for its perf
//!    trampolines and leaves behind after exit.
//!
//! What is lost: a process that execs (the pyenv `python3` shim) has its
//! pre-exec addresses normalised against its post-exec maps if they were
//! first seen after the exec; they come out `[unknown]`.

use super::rings::{PERF_CONTEXT_KERNEL, PERF_CONTEXT_MAX, PERF_CONTEXT_USER};
use crate::timeline::Frame;
use blazesym::Pid;
use blazesym::normalize::{NormalizeOpts, Normalizer, UserMeta};
use blazesym::symbolize::source::{Elf, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Where a user address lives, as learnt while its process was alive.
#[derive(Debug, Clone)]
enum Loc {
    /// Queued for normalisation at the end of this drain.
    Pending,
    /// In a mapped file, at this offset.
    File { file: u32, offset: u64 },
    /// Named directly by the normaliser (the vDSO).
    Named(String),
    /// Not file-backed: JIT code (perf map) or unknown.
    Anon,
}

/// A kernel or user address of one process, as it appears in a call chain
/// (already moved into the calling instruction for return addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Addr {
    Kernel(u64),
    User(i32, u64),
}

/// The frames of a raw perf call chain, innermost first, without the
/// `PERF_CONTEXT_*` markers. Return addresses (every frame but the first of
/// each context) are moved back by one byte so they land inside the call
/// instruction, in the calling function and on the calling line.
pub fn chain_addrs(pid: i32, chain: &[u64]) -> impl Iterator<Item = Addr> + '_ {
    let mut kernel = false;
    let mut first = true;
    chain.iter().filter_map(move |&a| {
        if a >= PERF_CONTEXT_MAX {
            kernel = a == PERF_CONTEXT_KERNEL;
            if a == PERF_CONTEXT_USER || a == PERF_CONTEXT_KERNEL {
                first = true;
            }
            return None;
        }
        let a = if first { a } else { a.saturating_sub(1) };
        first = false;
        Some(if kernel {
            Addr::Kernel(a)
        } else {
            Addr::User(pid, a)
        })
    })
}

/// Addresses collected during a run, resolved to frames by [`Symbols::resolve`].
pub struct Symbols {
    normalizer: Normalizer,
    user: HashMap<(i32, u64), Loc>,
    pending: HashMap<i32, Vec<u64>>,
    files: Vec<PathBuf>,
    file_ids: HashMap<PathBuf, u32>,
    kernel: BTreeSet<u64>,
}

impl Default for Symbols {
    fn default() -> Self {
        // Kernel names are looked up after the run: read their table now.
        super::kallsyms::prefetch();
        let ioctl = blazesym::helper::is_procmap_query_supported().unwrap_or(false);
        Symbols {
            normalizer: Normalizer::builder()
                .enable_procmap_query(ioctl)
                .enable_build_ids(false)
                .build(),
            user: HashMap::new(),
            pending: HashMap::new(),
            files: Vec::new(),
            file_ids: HashMap::new(),
            kernel: BTreeSet::new(),
        }
    }
}

impl Symbols {
    /// Remember an address; new user addresses are queued for [`Symbols::flush`].
    pub fn note(&mut self, addr: Addr) {
        match addr {
            Addr::Kernel(a) => {
                self.kernel.insert(a);
            }
            Addr::User(pid, a) => {
                if let std::collections::hash_map::Entry::Vacant(v) = self.user.entry((pid, a)) {
                    v.insert(Loc::Pending);
                    self.pending.entry(pid).or_default().push(a);
                }
            }
        }
    }

    /// Normalise the queued user addresses while their processes live.
    pub fn flush(&mut self) {
        let opts = NormalizeOpts {
            sorted_addrs: true,
            ..Default::default()
        };
        for (pid, mut addrs) in std::mem::take(&mut self.pending) {
            addrs.sort_unstable();
            let out = self.normalizer.normalize_user_addrs_opts(
                Pid::from(maps_reader(pid) as u32),
                &addrs,
                &opts,
            );
            let Ok(out) = out else {
                for a in addrs {
                    self.user.insert((pid, a), Loc::Anon);
                }
                continue;
            };
            for (&a, &(offset, meta)) in addrs.iter().zip(&out.outputs) {
                let loc = match out.meta.get(meta) {
                    Some(UserMeta::Elf(elf)) => {
                        let next = self.files.len() as u32;
                        let file = *self.file_ids.entry(elf.path.clone()).or_insert_with(|| {
                            self.files.push(elf.path.clone());
                            next
                        });
                        Loc::File { file, offset }
                    }
                    Some(UserMeta::Sym(sym)) => Loc::Named(sym.name.to_string()),
                    _ => Loc::Anon,
                };
                self.user.insert((pid, a), loc);
            }
        }
    }

    /// Name every address seen. Costly (ELF and DWARF parsing): run it after sampling.
    pub fn resolve(mut self) -> Resolved {
        self.flush();
        let symbolizer = Symbolizer::builder()
            .enable_code_info(true)
            .enable_inlined_fns(false)
            .build();
        let mut resolved = Resolved::default();

        let kernel_addrs: Vec<u64> = self.kernel.iter().copied().collect();
        let names = super::kallsyms::resolve(&kernel_addrs);
        for (&a, name) in kernel_addrs.iter().zip(names) {
            let name = name.unwrap_or_else(|| "[unknown]".to_string());
            resolved.kernel.insert(a, frame(name, "[kernel]".into(), 0));
        }

        let mut by_file: HashMap<u32, Vec<u64>> = HashMap::new();
        for loc in self.user.values() {
            if let Loc::File { file, offset } = loc {
                by_file.entry(*file).or_default().push(*offset);
            }
        }
        let mut file_frames: HashMap<(u32, u64), Frame> = HashMap::new();
        for (file, mut offsets) in by_file {
            offsets.sort_unstable();
            offsets.dedup();
            let path = &self.files[file as usize];
            let module = module_name(path);
            let src = Source::Elf(Elf::new(path.clone()));
            let syms = symbolizer
                .symbolize(&src, Input::FileOffset(&offsets))
                .unwrap_or_default();
            for (i, &offset) in offsets.iter().enumerate() {
                let f = match syms.get(i) {
                    Some(Symbolized::Sym(sym)) => match &sym.code_info {
                        Some(ci) => frame(
                            sym.name.to_string(),
                            ci.to_path().display().to_string(),
                            ci.line.unwrap_or(0),
                        ),
                        None => frame(sym.name.to_string(), module.clone(), 0),
                    },
                    _ => frame("[unknown]".into(), module.clone(), 0),
                };
                file_frames.insert((file, offset), f);
            }
        }

        let mut perf_maps: HashMap<i32, PerfMap> = HashMap::new();
        for (&(pid, a), loc) in &self.user {
            let f = match loc {
                Loc::File { file, offset } => file_frames.get(&(*file, *offset)).cloned(),
                Loc::Named(name) => Some(frame(name.clone(), "[vdso]".into(), 0)),
                Loc::Anon | Loc::Pending => perf_maps
                    .entry(pid)
                    .or_insert_with(|| PerfMap::load(pid))
                    .lookup(a),
            };
            resolved.user.insert(
                (pid, a),
                f.unwrap_or_else(|| frame("[unknown]".into(), "[unknown]".into(), 0)),
            );
        }
        resolved
    }
}

fn frame(name: String, file: String, line: u32) -> Frame {
    Frame { name, file, line }
}

fn module_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Every collected address with its frame.
#[derive(Debug, Default)]
pub struct Resolved {
    user: HashMap<(i32, u64), Frame>,
    kernel: HashMap<u64, Frame>,
}

impl Resolved {
    /// The frame of an address noted before [`Symbols::resolve`]; `None` when never noted.
    pub fn frame(&self, addr: Addr) -> Option<&Frame> {
        match addr {
            Addr::Kernel(a) => self.kernel.get(&a),
            Addr::User(pid, a) => self.user.get(&(pid, a)),
        }
    }
}

/// `/tmp/perf-PID.map`: `START SIZE NAME` lines in hex, written by JITs.
#[derive(Debug, Default)]
pub struct PerfMap {
    entries: Vec<(u64, u64, String)>,
}

impl PerfMap {
    fn load(pid: i32) -> PerfMap {
        std::fs::read_to_string(format!("/tmp/perf-{pid}.map"))
            .map(|t| PerfMap::parse(&t))
            .unwrap_or_default()
    }

    pub fn parse(text: &str) -> PerfMap {
        let mut entries: Vec<(u64, u64, String)> = text
            .lines()
            .filter_map(|l| {
                let mut it = l.splitn(3, ' ');
                let start = u64::from_str_radix(it.next()?.trim_start_matches("0x"), 16).ok()?;
                let size = u64::from_str_radix(it.next()?.trim_start_matches("0x"), 16).ok()?;
                Some((start, size, it.next()?.trim().to_string()))
            })
            .collect();
        entries.sort_by_key(|e| e.0);
        PerfMap { entries }
    }

    /// The frame for `addr`. CPython's trampoline entries (`py::func:/path/file.py`)
    /// become Python-looking frames (function name, `.py` file).
    pub fn lookup(&self, addr: u64) -> Option<Frame> {
        let i = self
            .entries
            .partition_point(|e| e.0 <= addr)
            .checked_sub(1)?;
        let (start, size, name) = &self.entries[i];
        if addr >= start + size {
            return None;
        }
        Some(
            match name.strip_prefix("py::").and_then(|r| r.split_once(':')) {
                Some((func, file)) => frame(func.to_string(), file.to_string(), 0),
                None => frame(name.clone(), "[perf-map]".into(), 0),
            },
        )
    }
}

/// Whose `/proc/ID/maps` to read for `pid`'s addresses: its own, or, when
/// its main thread has exited (`pthread_exit`; a zombie whose `maps` is
/// empty) while other threads run on, one of those (threads share the maps).
fn maps_reader(pid: i32) -> i32 {
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s.rsplit_once(')')?.1.split_whitespace().next()? == "Z"))
        .unwrap_or(false);
    if !zombie {
        return pid;
    }
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()
        .and_then(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .find(|&t| t != pid)
        })
        .unwrap_or(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_drop_markers_and_step_back_return_addresses() {
        let chain = [
            PERF_CONTEXT_KERNEL,
            0xffff_0010,
            0xffff_0020,
            PERF_CONTEXT_USER,
            0x100,
            0x200,
        ];
        let got: Vec<Addr> = chain_addrs(7, &chain).collect();
        assert_eq!(
            got,
            vec![
                Addr::Kernel(0xffff_0010),
                Addr::Kernel(0xffff_001f),
                Addr::User(7, 0x100),
                Addr::User(7, 0x1ff),
            ]
        );
    }

    #[test]
    fn perf_map_names_python_trampolines_and_misses_gaps() {
        let m = PerfMap::parse(
            "7f0000001000 40 py::transform:/app/work.py\n7f0000002000 10 some_jit_fn\n",
        );
        let f = m.lookup(0x7f00_0000_1010).expect("inside the first entry");
        assert_eq!(
            (f.name.as_str(), f.file.as_str()),
            ("transform", "/app/work.py")
        );
        assert_eq!(
            m.lookup(0x7f00_0000_2005).map(|f| f.file),
            Some("[perf-map]".into())
        );
        assert!(m.lookup(0x7f00_0000_1040).is_none());
        assert!(m.lookup(0x10).is_none());
    }
}
