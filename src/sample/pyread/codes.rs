//! What each code object a stack runs names: function, file and the line
//! table, kept between reads and checked on every read.
//!
//! py-spy copies a frame's code object, its qualified name, its file name
//! and its line table anew on every read (8 system calls a frame). Here they
//! are derived once per code object and kept, keyed by its address.
//!
//! Why a kept entry is never stale: a code object can be freed and another
//! allocated at its address, and so can the strings it points to (a loop of
//! `exec(compile(...))` does exactly that), so neither the address nor the
//! pointers inside prove anything. Instead, on every read, the inputs of the
//! derivation are read again — the code object from `co_firstlineno` to
//! `co_linetable` (its first line, its four pointers and the fields between,
//! none of which a live code object changes), and for each string the
//! length, kind and text, for the line table its size and bytes — all in the
//! same batch, one system call for every code object of every thread, and
//! compared with the inputs the kept entry was derived from. The derivation (decoding the strings, the
//! qualname-else-name choice, decoding the table) is a pure function of
//! those inputs, so when they are equal byte for byte the kept result is
//! exactly what a fresh read would give at this instant; when any differs
//! the entry is derived afresh. What changes in a live object (reference
//! counts, cached hashes, the `interned` bits) is not an input and is not
//! compared. Each kept code object keeps its own inputs (not a shared table
//! of strings, which another code object's entry could have refreshed since):
//! what it is compared with is what it was derived from. A string shared by
//! many code objects (a module's file name) is still read once per read.

use super::layout::Layout;
use super::linetable::LineTable;
use super::objects::{StrHeader, bytes_len};
use super::remote::{Batch, Slot, int32, word};
use super::{AddrMap as HashMap, new_map};
use std::rc::Rc;

/// Code objects kept at most; past it the cache starts over (a program that
/// compiles code in a loop must not grow the reader's memory without bound).
const MAX_CODES: usize = 8192;

/// What a frame of this code object shows, as py-spy derives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CodeInfo {
    /// `co_qualname`, else `co_name`; `None` when neither could be copied
    /// (py-spy then skips the frame as torn).
    pub name: Option<String>,
    pub filename: Option<String>,
    /// `None` when the table could not be copied (py-spy: line 0).
    pub table: Option<LineTable>,
}

/// A string or bytes object as an input: its decoding-relevant bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    /// Bytes to read from the object's address to check it again.
    span: usize,
    /// The header fields the decoding used, then the data.
    key: Vec<u8>,
}

struct Entry {
    /// `co_firstlineno` and the four pointers, as read.
    fields: Vec<u8>,
    /// The objects of [`code_pointers`] as they were when `info` was derived.
    inputs: [Snapshot; POINTERS],
    info: Rc<CodeInfo>,
}

#[derive(Default)]
pub(super) struct CodeCache {
    codes: HashMap<usize, Entry>,
}

/// The four objects a code object points to, in `code_pointers` order; the
/// last is the line table (`bytes`), the others `str`.
const POINTERS: usize = 4;
const TABLE: usize = 3;

impl CodeCache {
    /// Derive (or confirm) every code object of `addrs` (distinct) from
    /// process `pid`: one batch to check what is kept, two more for code
    /// objects seen for the first time or changed. `None` for a code object
    /// whose own fields could not be read (py-spy fails the read then).
    /// Adds the system calls made to `calls`.
    pub fn resolve(
        &mut self,
        l: &Layout,
        pid: i32,
        addrs: &[usize],
        batch: &mut Batch,
        calls: &mut usize,
    ) -> Vec<Option<Rc<CodeInfo>>> {
        if self.codes.len() > MAX_CODES {
            self.codes.clear();
        }
        let (start, len) = l.code_span();
        batch.clear();
        let code_slots: Vec<Slot> = addrs
            .iter()
            .map(|&a| batch.add(a.wrapping_add(start), len))
            .collect();
        // The kept inputs of every kept code object, each range read once.
        let mut input_slots: HashMap<(usize, usize), Slot> = new_map();
        for a in addrs {
            if let Some(e) = self.codes.get(a) {
                for (p, s) in code_pointers(l, &e.fields).into_iter().zip(&e.inputs) {
                    input_slots
                        .entry((p, s.span))
                        .or_insert_with(|| batch.add(p, s.span));
                }
            }
        }
        *calls += batch.read(pid);
        let mut out = Vec::with_capacity(addrs.len());
        let mut fresh = Vec::new();
        for (i, (&a, &slot)) in addrs.iter().zip(&code_slots).enumerate() {
            let Some(fields) = batch.get(slot) else {
                out.push(None);
                continue;
            };
            let unchanged = |e: &Entry| {
                e.fields == fields
                    && code_pointers(l, fields)
                        .into_iter()
                        .zip(&e.inputs)
                        .enumerate()
                        .all(|(k, (p, kept))| {
                            input_slots
                                .get(&(p, kept.span))
                                .and_then(|&s| batch.get(s))
                                .and_then(|now| snapshot(l, now, k == TABLE))
                                .is_some_and(|now| now == *kept)
                        })
            };
            match self.codes.get(&a).filter(|e| unchanged(e)) {
                Some(e) => out.push(Some(Rc::clone(&e.info))),
                None => {
                    fresh.push((i, a, fields.to_vec()));
                    out.push(None);
                }
            }
        }
        for (i, info) in self.derive(l, pid, fresh, batch, calls) {
            out[i] = Some(info);
        }
        out
    }

    /// Read and decode the objects of code objects not (or no longer) kept,
    /// as py-spy does (header, then data), and keep those read in full.
    fn derive(
        &mut self,
        l: &Layout,
        pid: i32,
        fresh: Vec<(usize, usize, Vec<u8>)>,
        batch: &mut Batch,
        calls: &mut usize,
    ) -> Vec<(usize, Rc<CodeInfo>)> {
        if fresh.is_empty() {
            return Vec::new();
        }
        // Headers: strings as py-spy copies them, bytes up to their data.
        batch.clear();
        let mut headers: HashMap<(usize, bool), Slot> = new_map();
        for (_, _, fields) in &fresh {
            for (k, p) in code_pointers(l, fields).into_iter().enumerate() {
                let size = if k == TABLE {
                    l.bytes_sval + 8
                } else {
                    l.str_object_size
                };
                headers
                    .entry((p, k == TABLE))
                    .or_insert_with(|| batch.add(p, size));
            }
        }
        *calls += batch.read(pid);
        let header_bytes: HashMap<(usize, bool), Vec<u8>> = headers
            .iter()
            .filter_map(|(&k, &s)| Some((k, batch.get(s)?.to_vec())))
            .collect();
        // Data.
        batch.clear();
        let mut data: HashMap<(usize, bool), (Slot, Option<StrHeader>)> = new_map();
        for (&(p, is_bytes), h) in &header_bytes {
            if is_bytes {
                if let Some(n) = bytes_len(l, h) {
                    data.insert(
                        (p, true),
                        (batch.add(p.wrapping_add(l.bytes_sval), n), None),
                    );
                }
            } else if let Some(sh) = StrHeader::parse(l, h)
                && let Some(n) = sh.data_len()
            {
                data.insert((p, false), (batch.add(sh.data_addr(p), n), Some(sh)));
            }
        }
        *calls += batch.read(pid);
        let text = |p: usize| -> Option<String> {
            let (slot, sh) = data.get(&(p, false))?;
            sh.as_ref()?.decode(batch.get(*slot)?)
        };
        // An object's header and data as one range from its address (what a
        // later read checks), when it is compact.
        let whole = |p: usize, is_bytes: bool| -> Option<Snapshot> {
            let h = header_bytes.get(&(p, is_bytes))?;
            let body = batch.get(data.get(&(p, is_bytes))?.0)?;
            let at = if is_bytes {
                l.bytes_sval
            } else {
                StrHeader::parse(l, h)?.data_offset?
            };
            let mut all = h.clone();
            all.resize(at, 0);
            all.extend_from_slice(body);
            snapshot(l, &all, is_bytes)
        };
        let mut out = Vec::with_capacity(fresh.len());
        for (i, a, fields) in fresh {
            let ptrs = code_pointers(l, &fields);
            let [filename, name, qualname, linetable] = ptrs;
            let first_line = int32(&fields, l.code_firstlineno - l.code_span().0).unwrap_or(0);
            let table = data
                .get(&(linetable, true))
                .and_then(|(slot, _)| batch.get(*slot))
                .map(|t| LineTable::decode(first_line, t));
            let info = Rc::new(CodeInfo {
                name: text(qualname).or_else(|| text(name)),
                filename: text(filename),
                table,
            });
            // Kept only when every input was read in full and can be checked
            // again with one range.
            let inputs: Option<Vec<Snapshot>> = ptrs
                .iter()
                .enumerate()
                .map(|(k, &p)| whole(p, k == TABLE))
                .collect();
            if let Some(Ok(inputs)) = inputs.map(<[Snapshot; POINTERS]>::try_from) {
                let entry = Entry {
                    fields,
                    inputs,
                    info: Rc::clone(&info),
                };
                self.codes.insert(a, entry);
            }
            out.push((i, info));
        }
        out
    }
}

/// `co_filename`, `co_name`, `co_qualname`, `co_linetable` from a code
/// object's span as read.
fn code_pointers(l: &Layout, fields: &[u8]) -> [usize; POINTERS] {
    let at = |off: usize| word(fields, off - l.code_span().0).unwrap_or(0);
    [
        at(l.code_filename),
        at(l.code_name),
        at(l.code_qualname),
        at(l.code_linetable),
    ]
}

/// The decoding inputs of a `str` (`is_bytes` false) or `bytes` object whose
/// header and data were read as one range starting at the object.
fn snapshot(l: &Layout, whole: &[u8], is_bytes: bool) -> Option<Snapshot> {
    if is_bytes {
        let n = bytes_len(l, whole)?;
        let span = l.bytes_sval + n;
        let mut key = (n as u64).to_le_bytes().to_vec();
        key.extend_from_slice(whole.get(l.bytes_sval..span)?);
        return Some(Snapshot { span, key });
    }
    let h = StrHeader::parse(l, whole)?;
    let at = h.data_offset?;
    let span = at + h.data_len()?;
    let mut key = (h.length as u64).to_le_bytes().to_vec();
    key.extend_from_slice(&[h.kind as u8, h.ascii as u8, h.compact as u8]);
    key.extend_from_slice(whole.get(at..span)?);
    Some(Snapshot { span, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bytes_snapshot_keeps_size_and_data_only() {
        let l = Layout::of(3, 13).unwrap();
        let mut a = vec![0xAAu8; l.bytes_sval];
        a[l.bytes_size..l.bytes_size + 8].copy_from_slice(&3u64.to_le_bytes());
        a.extend_from_slice(&[1, 2, 3]);
        let mut b = a.clone();
        b[0] = 0x55; // a reference count: not an input
        assert_eq!(snapshot(l, &a, true), snapshot(l, &b, true));
        b[l.bytes_sval + 1] = 9;
        assert_ne!(snapshot(l, &a, true), snapshot(l, &b, true));
        assert_eq!(snapshot(l, &a, true).unwrap().span, l.bytes_sval + 3);
    }
}
