//! Kernel function names for the addresses of kernel call chains, from
//! `/proc/kallsyms`.
//!
//! The file lists every kernel symbol (about 120 000 lines here) and the
//! kernel formats it afresh on each read: loading it after the target had
//! exited was the largest part of boundcheck's work after the run (≈ 100 ms
//! of the ≈ 190 ms, measured with `strace -ttt`), and every run with
//! off-CPU accounting pays it. So the text is read on a background thread
//! at the lowest priority while the target runs ([`prefetch`]), and only
//! the addresses the chains hold are looked up in it, without an owned
//! string per symbol.

use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;

/// Niceness of the prefetch thread: it must not take a CPU from the target.
const PREFETCH_NICE: libc::c_int = 19;

static PREFETCH: OnceLock<Mutex<Option<JoinHandle<Vec<u8>>>>> = OnceLock::new();

/// Start reading `/proc/kallsyms` in the background (once per process).
pub fn prefetch() {
    PREFETCH.get_or_init(|| {
        let reader = std::thread::Builder::new()
            .name("boundcheck-kallsyms".into())
            .spawn(|| {
                let tid = super::gettid() as libc::id_t;
                // SAFETY: setpriority on our own thread id; no memory involved.
                unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, PREFETCH_NICE) };
                std::fs::read("/proc/kallsyms").unwrap_or_default()
            })
            .ok();
        Mutex::new(reader)
    });
}

/// The text of `/proc/kallsyms`: the prefetched one when [`prefetch`] ran
/// and has finished, else read now. Never waited for: on a loaded machine a
/// nice-19 thread may get almost no CPU (its weight is 1/70 of a normal
/// thread's), and waiting for it made the end of a run seconds late.
fn text() -> Vec<u8> {
    let handle = PREFETCH
        .get()
        .and_then(|m| m.lock().ok())
        .and_then(|mut h| h.take_if(|h| h.is_finished()));
    match handle.map(JoinHandle::join) {
        Some(Ok(text)) if !text.is_empty() => text,
        _ => std::fs::read("/proc/kallsyms").unwrap_or_default(),
    }
}

/// The name of the function holding each address (`None` when no text
/// symbol precedes it, or addresses are hidden: `kptr_restrict` shows zeros).
pub fn resolve(addrs: &[u64]) -> Vec<Option<String>> {
    if addrs.is_empty() {
        return Vec::new();
    }
    lookup(&text(), addrs)
}

/// Pure: look `addrs` up in kallsyms `text` (`ADDR TYPE NAME [module]` lines;
/// only text symbols, types `t`/`T`, name code).
pub fn lookup(text: &[u8], addrs: &[u64]) -> Vec<Option<String>> {
    let mut syms: Vec<(u64, &[u8])> = text
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let mut f = line.split(|&b| b == b' ' || b == b'\t');
            let addr = u64::from_str_radix(std::str::from_utf8(f.next()?).ok()?, 16).ok()?;
            let kind = f.next()?;
            let name = f.next()?;
            (addr != 0 && matches!(kind, b"t" | b"T")).then_some((addr, name))
        })
        .collect();
    syms.sort_unstable_by_key(|&(a, _)| a);
    addrs
        .iter()
        .map(|&a| {
            let i = syms.partition_point(|&(s, _)| s <= a);
            let (_, name) = syms.get(i.checked_sub(1)?)?;
            Some(String::from_utf8_lossy(name).into_owned())
        })
        .collect()
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
        let got = lookup(
            TEXT,
            &[
                0xffffffff81200010,
                0xffffffff81100000,
                0xffffffff81300010,
                0xffffffffc0000100,
                0x1000,
            ],
        );
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
    fn hidden_addresses_resolve_to_nothing() {
        let hidden = b"0000000000000000 T _stext\n0000000000000000 t futex_do_wait\n";
        assert_eq!(lookup(hidden, &[0xffffffff81200010]), vec![None]);
        assert!(resolve(&[]).is_empty());
    }
}
