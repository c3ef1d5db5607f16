//! The core kernel's text symbols of this boot, kept between runs.
//!
//! Reading `/proc/kallsyms` costs ≈ 45 ms of kernel CPU here (120 000 lines
//! formatted afresh on each read), about a third of boundcheck's own CPU on
//! a one-second run. Between `_stext` and `_etext` nothing changes until the
//! next boot, so that part is saved once per boot (named by
//! `/proc/sys/kernel/random/boot_id`) and loaded in about a millisecond.
//! Modules and BPF programs come and go, and live outside that range: an
//! address there is not answered from the cache, and the caller reads the
//! file afresh (`answers`).

use super::Index;
use std::path::{Path, PathBuf};

/// First bytes of a cache file; a different layout gets a different magic.
const MAGIC: &[u8; 8] = b"bcksym01";

/// Where this boot's symbols are kept: `$XDG_CACHE_HOME/boundcheck/kallsyms/
/// BOOT_ID` (or `~/.cache/…`); `None` without a boot id or a home.
pub(super) fn file() -> Option<PathBuf> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let boot = boot.trim();
    if boot.is_empty() || boot.contains('/') {
        return None;
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| Some(PathBuf::from(std::env::var_os("HOME")?).join(".cache")))?;
    Some(base.join("boundcheck").join("kallsyms").join(boot))
}

/// The saved index, answering only for the core kernel's text.
pub(super) fn load(path: &Path) -> Option<Index> {
    decode(&std::fs::read(path).ok()?)
}

/// Save the core kernel's text symbols of `index` (best effort: a cache
/// that cannot be written costs the next run a read of the file, nothing
/// else). Other boots' files are removed.
pub(super) fn save(index: &Index, path: &Path) {
    let Some(bytes) = encode(index) else {
        return;
    };
    let Some(dir) = path.parent() else {
        return;
    };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    if let Ok(old) = std::fs::read_dir(dir) {
        for e in old.flatten().filter(|e| e.path() != path) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    // Written aside, then renamed: a run reading meanwhile sees the whole
    // file or none.
    let tmp = dir.join(format!(".{}.tmp", std::process::id()));
    if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// `MAGIC`, `_stext`, `_etext`, the count, then (address, name offset) per
/// symbol, then the names, each ended by a newline. `None` when the core's
/// bounds are not among the symbols (hidden addresses, another kernel).
pub(super) fn encode(index: &Index) -> Option<Vec<u8>> {
    let bound = |name: &[u8]| {
        index
            .syms
            .iter()
            .find(|&&(_, o)| index.name_bytes(o) == name)
            .map(|&(a, _)| a)
    };
    let (start, end) = (bound(b"_stext")?, bound(b"_etext")?);
    let core: Vec<(u64, u32)> = index
        .syms
        .iter()
        .copied()
        .filter(|&(a, _)| (start..end).contains(&a))
        .collect();
    let mut names = Vec::new();
    let mut out = Vec::with_capacity(28 + core.len() * 12);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&start.to_le_bytes());
    out.extend_from_slice(&end.to_le_bytes());
    out.extend_from_slice(&(core.len() as u32).to_le_bytes());
    for &(addr, offset) in &core {
        out.extend_from_slice(&addr.to_le_bytes());
        out.extend_from_slice(&(names.len() as u32).to_le_bytes());
        names.extend_from_slice(index.name_bytes(offset));
        names.push(b'\n');
    }
    out.extend_from_slice(&names);
    Some(out)
}

/// The index [`encode`] wrote, or `None` for anything else.
pub(super) fn decode(bytes: &[u8]) -> Option<Index> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let u64_at = |b: &[u8], i: usize| Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?));
    let (start, end) = (u64_at(rest, 0)?, u64_at(rest, 8)?);
    let count = u32::from_le_bytes(rest.get(16..20)?.try_into().ok()?) as usize;
    let table = rest.get(20..20 + count.checked_mul(12)?)?;
    let names = rest[20 + table.len()..].to_vec();
    let syms: Vec<(u64, u32)> = table
        .chunks_exact(12)
        .map(|c| {
            let addr = u64::from_le_bytes(c[..8].try_into().unwrap_or_default());
            let offset = u32::from_le_bytes(c[8..].try_into().unwrap_or_default());
            (addr, offset)
        })
        .collect();
    let sound = syms.windows(2).all(|w| w[0].0 <= w[1].0)
        && syms.iter().all(|&(_, o)| (o as usize) < names.len());
    sound.then_some(Index {
        text: names,
        syms,
        core: Some((start, end)),
    })
}
