//! Kernel function names for the addresses of kernel call chains, from
//! `/proc/kallsyms`.
//!
//! The file lists every kernel symbol (about 120 000 lines here) and the
//! kernel formats it afresh on each read: loading it after the target had
//! exited was the largest part of boundcheck's work after the run (≈ 100 ms
//! of the ≈ 190 ms, measured with `strace -ttt`), and every run with
//! off-CPU accounting pays it. So the text is read, and indexed, on a
//! background thread at the lowest priority while the target runs
//! ([`prefetch`]); parsing it after the run still cost ≈ 16 ms, a fifth of
//! the main thread's CPU for a one-second run (`perf record --no-inherit`).
//! After the run only the addresses the chains hold are looked up. The core
//! kernel's part is kept between runs of one boot ([`cache`]), so most runs
//! do not read the file at all.

mod cache;

use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;

/// Niceness of the prefetch thread: it must not take a CPU from the target.
const PREFETCH_NICE: libc::c_int = 19;

static PREFETCH: OnceLock<Mutex<Option<JoinHandle<Index>>>> = OnceLock::new();

/// Start reading and indexing `/proc/kallsyms` in the background (once per
/// process).
pub fn prefetch() {
    PREFETCH.get_or_init(|| {
        let reader = std::thread::Builder::new()
            .name("boundcheck-kallsyms".into())
            .spawn(|| {
                let tid = super::gettid() as libc::id_t;
                // SAFETY: setpriority on our own thread id; no memory involved.
                unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, PREFETCH_NICE) };
                let file = cache::file();
                file.as_deref()
                    .and_then(cache::load)
                    // Absent or unreadable (another layout, a torn write):
                    // read the file and replace it.
                    .unwrap_or_else(|| read_and_keep(file.as_deref(), true))
            })
            .ok();
        Mutex::new(reader)
    });
}

/// The text symbols of a kallsyms text (`ADDR TYPE NAME [module]` lines;
/// only text symbols, types `t`/`T`, name code), by address: each its
/// address and where its name starts in the text. Of aliases (one address,
/// several names) the last listed answers (a stable sort).
struct Index {
    text: Vec<u8>,
    syms: Vec<(u64, u32)>,
    /// Loaded from the cache: the only addresses it answers for, the core
    /// kernel's text (`_stext` to `_etext`). `None`: read from the file now,
    /// it answers every address.
    core: Option<(u64, u64)>,
}

/// Read `/proc/kallsyms`, index it, and save its core part for the next
/// runs of this boot when there is a place for it: always when `replace`,
/// else only where none is saved yet.
fn read_and_keep(file: Option<&std::path::Path>, replace: bool) -> Index {
    let index = Index::of(std::fs::read("/proc/kallsyms").unwrap_or_default());
    if let Some(file) = file.filter(|f| replace || !f.exists()) {
        cache::save(&index, file);
    }
    index
}

impl Index {
    fn of(text: Vec<u8>) -> Index {
        let mut syms = Vec::new();
        let mut at = 0usize;
        for line in text.split(|&b| b == b'\n') {
            if let Some((addr, name)) = text_symbol(line) {
                let offset = at + (name.as_ptr() as usize - line.as_ptr() as usize);
                syms.push((addr, offset as u32));
            }
            at += line.len() + 1;
        }
        syms.sort_by_key(|&(a, _)| a);
        Index {
            text,
            syms,
            core: None,
        }
    }

    fn name_bytes(&self, offset: u32) -> &[u8] {
        let rest = &self.text[offset as usize..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n' || b == b' ' || b == b'\t')
            .unwrap_or(rest.len());
        &rest[..end]
    }

    fn name(&self, offset: u32) -> String {
        String::from_utf8_lossy(self.name_bytes(offset)).into_owned()
    }

    /// Whether every one of `addrs` can be looked up here.
    fn answers(&self, addrs: &[u64]) -> bool {
        !self.syms.is_empty()
            && self
                .core
                .is_none_or(|(start, end)| addrs.iter().all(|a| (start..end).contains(a)))
    }

    fn lookup(&self, addrs: &[u64]) -> Vec<Option<String>> {
        addrs
            .iter()
            .map(|&a| {
                let i = self.syms.partition_point(|&(s, _)| s <= a);
                let &(_, offset) = self.syms.get(i.checked_sub(1)?)?;
                Some(self.name(offset))
            })
            .collect()
    }
}

/// The name of the function holding each address (`None` when no text
/// symbol precedes it, or addresses are hidden: `kptr_restrict` shows zeros).
/// The prefetched index when [`prefetch`] ran and has finished and answers
/// for all of them, else one built now from the text read now (an address
/// in a module or a BPF program, which the cache of the core kernel does
/// not hold). Never waited for: on a loaded machine a
/// nice-19 thread may get almost no CPU (its weight is 1/70 of a normal
/// thread's), and waiting for it made the end of a run seconds late.
pub fn resolve(addrs: &[u64]) -> Vec<Option<String>> {
    if addrs.is_empty() {
        return Vec::new();
    }
    let handle = PREFETCH
        .get()
        .and_then(|m| m.lock().ok())
        .and_then(|mut h| h.take_if(|h| h.is_finished()));
    match handle.map(JoinHandle::join) {
        Some(Ok(index)) if index.answers(addrs) => index.lookup(addrs),
        // Not finished, or a module's address the saved core cannot name
        // (the saved file is then fine: kept).
        _ => read_and_keep(cache::file().as_deref(), false).lookup(addrs),
    }
}

/// A kallsyms line's address and name when it is a text symbol with an
/// address (hidden addresses read as zero).
fn text_symbol(line: &[u8]) -> Option<(u64, &[u8])> {
    let mut f = line.split(|&b| b == b' ' || b == b'\t');
    let addr = f.next()?;
    let kind = f.next()?;
    if !matches!(kind, b"t" | b"T") {
        return None;
    }
    let name = f.next()?;
    let addr = hex(addr)?;
    (addr != 0).then_some((addr, name))
}

/// A hexadecimal address (no `str` and no radix parse: this runs for every
/// one of the file's lines).
fn hex(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    digits.iter().try_fold(0u64, |v, &c| {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        Some(v << 4 | u64::from(d))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &[u8] = b"ffffffff81000000 T _stext\n\
ffffffff81200000 t futex_do_wait\n\
ffffffff81100000 T do_nanosleep\n\
ffffffff81300000 D some_data\n\
ffffffffc0000000 t ext4_sync_file\t[ext4]\n";

    #[test]
    fn addresses_resolve_to_the_text_symbol_before_them() {
        let got = Index::of(TEXT.to_vec()).lookup(&[
            0xffffffff81200010,
            0xffffffff81100000,
            0xffffffff81300010,
            0xffffffffc0000100,
            0x1000,
        ]);
        assert_eq!(
            got,
            vec![
                Some("futex_do_wait".into()),
                Some("do_nanosleep".into()),
                // Data symbols are skipped: the function before it.
                Some("futex_do_wait".into()),
                Some("ext4_sync_file".into()),
                None,
            ]
        );
    }

    #[test]
    fn the_cache_holds_the_core_kernel_and_answers_nothing_else() {
        let text = [
            b"ffffffff81000000 T _stext\nffffffff81400000 T _etext\n".as_slice(),
            TEXT,
        ]
        .concat();
        let fresh = Index::of(text);
        let cached = cache::decode(&cache::encode(&fresh).expect("bounds")).expect("decoded");
        let core = [0xffffffff81000010, 0xffffffff81200010, 0xffffffff81300010];
        assert!(cached.answers(&core));
        assert_eq!(cached.lookup(&core), fresh.lookup(&core));
        // A module's address: the file must be read again.
        assert!(!cached.answers(&[0xffffffff81200010, 0xffffffffc0000100]));
        assert!(fresh.answers(&[0xffffffffc0000100]));
        // No bounds (hidden addresses, a foreign text): nothing to save.
        assert!(cache::encode(&Index::of(TEXT.to_vec())).is_none());
        let bytes = cache::encode(&fresh).expect("bounds");
        assert!(
            cache::decode(&bytes[..bytes.len() / 2]).is_none(),
            "truncated"
        );
        assert!(cache::decode(b"bcksym00").is_none());
    }

    #[test]
    fn this_kernels_cached_core_agrees_with_its_kallsyms() {
        let fresh = Index::of(std::fs::read("/proc/kallsyms").expect("/proc/kallsyms"));
        let Some(bytes) = cache::encode(&fresh) else {
            // Addresses hidden (kptr_restrict): the cache is never written.
            assert!(
                fresh.syms.is_empty(),
                "bounds missing from a readable kallsyms"
            );
            return;
        };
        let cached = cache::decode(&bytes).expect("decoded");
        let (start, end) = cached.core.expect("core");
        let addrs: Vec<u64> = (0..997)
            .map(|i| start + (end - start) / 997 * i + 5)
            .collect();
        assert!(cached.answers(&addrs));
        assert_eq!(cached.lookup(&addrs), fresh.lookup(&addrs));
    }

    #[test]
    fn hidden_addresses_resolve_to_nothing() {
        let hidden = b"0000000000000000 T _stext\n0000000000000000 t futex_do_wait\n";
        let index = Index::of(hidden.to_vec());
        assert_eq!(index.lookup(&[0xffffffff81200010]), vec![None]);
        assert!(resolve(&[]).is_empty());
    }

    #[test]
    fn the_index_agrees_with_a_sorted_table() {
        // A file in no order (as kallsyms is past the core kernel), with
        // data symbols, and addresses asked for twice, at symbols, between
        // them and below the first: against a plain sorted table.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 20
        };
        let mut text = Vec::new();
        let mut table = Vec::new();
        for i in 0..5000 {
            // Every 10th an alias of the one before.
            let addr = match table.last() {
                Some(&(a, _)) if i % 10 == 0 => a,
                _ => 0x1000 + next() % 0x100_0000,
            };
            let kind = if i % 7 == 0 { "D" } else { "t" };
            text.extend_from_slice(format!("{addr:016x} {kind} f{i}\n").as_bytes());
            if kind == "t" {
                table.push((addr, format!("f{i}")));
            }
        }
        table.sort();
        let mut addrs: Vec<u64> = (0..2000).map(|_| next() % 0x110_0000).collect();
        addrs.extend(table.iter().step_by(50).map(|(a, _)| *a));
        addrs.extend_from_slice(&addrs.clone()[..10]);
        let got = Index::of(text).lookup(&addrs);
        for (a, name) in addrs.iter().zip(got) {
            let i = table.partition_point(|(s, _)| s <= a);
            let want = i.checked_sub(1).map(|i| table[i].0);
            // Aliases share an address: any of their names is right.
            let at = name.map(|n| table.iter().find(|(_, m)| *m == n).unwrap().0);
            assert_eq!(at, want, "{a:x}");
        }
    }
}
