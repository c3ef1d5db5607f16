//! The bytes one stack read has fetched so far, looked up by address: a
//! frame, a thread state or a word is taken from whichever fetched range
//! holds it (a thread's data stack chunk, a range read ahead), and only
//! what no range holds costs another system call.

use super::remote::{Batch, Slot};

/// Byte ranges read during one read, sorted by start, so a lookup looks
/// only at ranges that start at most the longest range's length below the
/// address. Their bytes share one buffer, kept from read to read.
#[derive(Default)]
pub(super) struct Regions {
    /// Start address, offset in `bytes`, length.
    spans: Vec<(usize, usize, usize)>,
    bytes: Vec<u8>,
    longest: usize,
}

impl Regions {
    /// Forget every range (a new read starts).
    pub fn clear(&mut self) {
        self.spans.clear();
        self.bytes.clear();
        self.longest = 0;
    }

    fn take(&mut self, batch: &Batch, asked: &[(usize, Slot)]) {
        for &(addr, slot) in asked {
            if let Some(b) = batch.get(slot) {
                self.longest = self.longest.max(b.len());
                self.spans.push((addr, self.bytes.len(), b.len()));
                self.bytes.extend_from_slice(b);
            }
        }
        self.spans.sort_unstable_by_key(|&(start, ..)| start);
    }

    /// `len` bytes at `addr`, when a fetched range holds them all.
    pub fn find(&self, addr: usize, len: usize) -> Option<&[u8]> {
        let end = self.spans.partition_point(|&(start, ..)| start <= addr);
        let lowest = addr.saturating_sub(self.longest);
        self.spans[..end]
            .iter()
            .rev()
            .take_while(|&&(start, ..)| start >= lowest)
            .find_map(|&(start, at, n)| {
                let off = addr - start;
                let want = off.checked_add(len)?;
                (want <= n).then(|| &self.bytes[at + off..at + want])
            })
    }

    /// Read `ranges` (address, length) in one batch; the system calls made.
    pub fn fetch(&mut self, pid: i32, ranges: &[(usize, usize)], batch: &mut Batch) -> usize {
        batch.clear();
        let asked: Vec<_> = ranges.iter().map(|&(a, n)| (a, batch.add(a, n))).collect();
        let calls = batch.read(pid);
        self.take(batch, &asked);
        calls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lookup_finds_bytes_inside_any_fetched_range() {
        let data: Vec<u8> = (0..=255).collect();
        let base = data.as_ptr() as usize;
        let mut r = Regions::default();
        let calls = r.fetch(
            std::process::id() as i32,
            &[(base, 64), (base + 200, 16), (base + 32, 8)],
            &mut Batch::default(),
        );
        assert_eq!(calls, 1);
        assert_eq!(r.find(base + 10, 4), Some(&data[10..14]));
        assert_eq!(r.find(base + 60, 4), Some(&data[60..64]));
        assert_eq!(r.find(base + 62, 4), None, "runs past the range");
        assert_eq!(r.find(base + 210, 6), Some(&data[210..216]));
        assert_eq!(r.find(base + 100, 1), None);
        assert_eq!(r.find(base - 1, 1), None);
    }
}
