//! Many reads of another process's memory in one `process_vm_readv` call.
//!
//! In this kind of VM the call's fixed cost (a security hook on every call)
//! dwarfs the copying: py-spy's one call per field made `process_vm_readv`
//! 75 % of the reader thread's CPU. A [`Batch`] gathers every range a step
//! of the read needs (thread states, frames, code objects of all threads)
//! into one buffer and reads them with one call per [`MAX_IOVECS`] ranges.
//!
//! The kernel stops at the first range it cannot read in full (an unmapped
//! page, a freed object's memory returned to the OS): that range fails, and
//! the call is made again from the one after it, so a bad pointer costs its
//! own range only.

/// Ranges per call: the kernel's `IOV_MAX` (1024) for the remote side.
const MAX_IOVECS: usize = 1024;

/// Largest single range: nothing this reader copies is bigger (a thread's
/// data stack chunk is capped well below), so a larger one is a torn value.
pub(super) const MAX_RANGE: usize = 1 << 20;

/// A set of ranges to read at once, then their bytes.
#[derive(Default)]
pub(super) struct Batch {
    ranges: Vec<(usize, usize)>,
    /// Start of each range's bytes in `buf`.
    starts: Vec<usize>,
    ok: Vec<bool>,
    buf: Vec<u8>,
}

/// One range of a [`Batch`], by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Slot(usize);

impl Batch {
    /// Forget the previous ranges (their buffer is kept for reuse).
    pub fn clear(&mut self) {
        self.ranges.clear();
        self.starts.clear();
        self.ok.clear();
    }

    /// Ask for `len` bytes at `addr`.
    pub fn add(&mut self, addr: usize, len: usize) -> Slot {
        self.ranges.push((addr, len));
        Slot(self.ranges.len() - 1)
    }

    /// The bytes of `slot`, when its whole range was read.
    pub fn get(&self, slot: Slot) -> Option<&[u8]> {
        if !*self.ok.get(slot.0)? {
            return None;
        }
        let start = self.starts[slot.0];
        self.buf.get(start..start + self.ranges[slot.0].1)
    }

    /// Read every range from process `pid`; the number of system calls made.
    /// A range that is null, too large or unreadable reads as missing.
    pub fn read(&mut self, pid: i32) -> usize {
        let mut total = 0usize;
        self.starts.clear();
        self.ok.clear();
        for &(addr, len) in &self.ranges {
            self.starts.push(total);
            let plausible = addr != 0 && len <= MAX_RANGE && addr.checked_add(len).is_some();
            self.ok.push(plausible);
            if plausible {
                total += len;
            }
        }
        self.buf.clear();
        self.buf.resize(total, 0);
        let mut calls = 0;
        let mut next = 0;
        while next < self.ranges.len() {
            // The ranges of this call: up to MAX_IOVECS plausible, non-empty ones.
            let mut remote: Vec<libc::iovec> = Vec::with_capacity(MAX_IOVECS);
            let mut which: Vec<usize> = Vec::with_capacity(MAX_IOVECS);
            let mut i = next;
            while i < self.ranges.len() && remote.len() < MAX_IOVECS {
                let (addr, len) = self.ranges[i];
                if self.ok[i] && len > 0 {
                    remote.push(libc::iovec {
                        iov_base: addr as *mut libc::c_void,
                        iov_len: len,
                    });
                    which.push(i);
                }
                i += 1;
            }
            next = i;
            if remote.is_empty() {
                break;
            }
            let mut done = 0;
            while done < remote.len() {
                calls += 1;
                let first = which[done];
                let want: usize = remote[done..].iter().map(|v| v.iov_len).sum();
                let local = libc::iovec {
                    iov_base: self.buf[self.starts[first]..].as_mut_ptr() as *mut libc::c_void,
                    iov_len: want,
                };
                let rest = &remote[done..];
                // SAFETY: `local` covers `want` bytes of `self.buf`, which the
                // remote ranges fill in order (their starts were laid out back
                // to back above); the remote side is only read by the kernel.
                let n = unsafe {
                    libc::process_vm_readv(pid, &local, 1, rest.as_ptr(), rest.len() as _, 0)
                };
                if n < 0 {
                    let err = std::io::Error::last_os_error().raw_os_error();
                    if err == Some(libc::ESRCH) || err == Some(libc::EPERM) {
                        // No such process (or no right to it): nothing more to read.
                        for &j in &which[done..] {
                            self.ok[j] = false;
                        }
                        return calls;
                    }
                    // The first range failed: skip it, go on after it.
                    self.ok[first] = false;
                    done += 1;
                    continue;
                }
                // Whole ranges read; a range read in part failed.
                let mut got = n as usize;
                while done < remote.len() && got >= remote[done].iov_len {
                    got -= remote[done].iov_len;
                    done += 1;
                }
                if done < remote.len() {
                    self.ok[which[done]] = false;
                    done += 1;
                }
            }
        }
        calls
    }
}

/// A little-endian `u64` at `at` of `bytes` (x86_64 is the only target).
pub(super) fn word(bytes: &[u8], at: usize) -> Option<usize> {
    let b = bytes.get(at..at + 8)?;
    Some(u64::from_le_bytes(b.try_into().ok()?) as usize)
}

pub(super) fn int32(bytes: &[u8], at: usize) -> Option<i32> {
    let b = bytes.get(at..at + 4)?;
    Some(i32::from_le_bytes(b.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_memory_and_skips_a_bad_range() {
        let a = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let b = 0x0102_0304_0506_0708u64.to_le_bytes();
        let mut batch = Batch::default();
        let sa = batch.add(a.as_ptr() as usize, a.len());
        // Page 1 is never mapped: this range fails alone.
        let bad = batch.add(4096, 16);
        let null = batch.add(0, 8);
        let sb = batch.add(b.as_ptr() as usize, b.len());
        let empty = batch.add(b.as_ptr() as usize, 0);
        let calls = batch.read(std::process::id() as i32);
        assert!((1..=2).contains(&calls), "{calls} calls");
        assert_eq!(batch.get(sa), Some(&a[..]));
        assert_eq!(batch.get(bad), None);
        assert_eq!(batch.get(null), None);
        assert_eq!(word(batch.get(sb).unwrap(), 0), Some(0x0102_0304_0506_0708));
        assert_eq!(batch.get(empty), Some(&[][..]));
    }

    #[test]
    fn more_ranges_than_one_call_takes() {
        let data: Vec<u64> = (0..3000).collect();
        let mut batch = Batch::default();
        let slots: Vec<Slot> = data
            .iter()
            .map(|v| batch.add(v as *const u64 as usize, 8))
            .collect();
        assert_eq!(batch.read(std::process::id() as i32), 3);
        for (i, s) in slots.into_iter().enumerate() {
            assert_eq!(word(batch.get(s).unwrap(), 0), Some(i));
        }
    }
}
