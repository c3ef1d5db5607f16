//! Python `str` and `bytes` objects from their raw bytes, as py-spy 0.4.3's
//! `copy_string` and `copy_bytes` read them (same limits, same decoding),
//! split into what the object's header says and what its data decodes to, so
//! the code-object cache can keep the inputs of a decoding and compare them.

use super::layout::Layout;
use super::remote::word;

/// py-spy refuses strings of this many characters or more (a torn length).
pub(super) const MAX_STR_CHARS: usize = 4096;
/// py-spy refuses `bytes` (line tables) of this many bytes or more.
pub(super) const MAX_BYTES: usize = 65536;

/// What a `str` object's header says about its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StrHeader {
    pub length: usize,
    pub kind: u32,
    pub ascii: bool,
    /// Where the text is: right after the header for a compact string.
    pub compact: bool,
    /// The text's offset from the object (compact) — `None` for a legacy
    /// string whose text lives elsewhere (never a code object's name or
    /// file in practice; such strings are read but not cached).
    pub data_offset: Option<usize>,
    /// A legacy string's text pointer.
    pub data_any: usize,
}

impl StrHeader {
    /// Parse the first bytes of a `str` object (at least up to its state).
    pub fn parse(l: &Layout, bytes: &[u8]) -> Option<StrHeader> {
        let length = word(bytes, l.str_length)?;
        let state = u32::from_le_bytes(bytes.get(l.str_state..l.str_state + 4)?.try_into().ok()?);
        let field = |(shift, mask): (u32, u32)| (state >> shift) & mask;
        let kind = field(l.state_kind);
        let ascii = field(l.state_ascii) != 0;
        let compact = field(l.state_compact) != 0;
        let data_offset = compact.then_some(if ascii {
            l.str_ascii_size
        } else {
            l.str_compact_size
        });
        let data_any = if compact {
            0
        } else {
            word(bytes, l.str_data_any).unwrap_or(0)
        };
        Some(StrHeader {
            length,
            kind,
            ascii,
            compact,
            data_offset,
            data_any,
        })
    }

    /// Bytes of text to copy, or `None` when py-spy would refuse the string
    /// (too long: a torn length). Empty strings copy nothing.
    pub fn data_len(&self) -> Option<usize> {
        if self.length >= MAX_STR_CHARS {
            return None;
        }
        self.length.checked_mul(self.kind as usize)
    }

    /// Where the text is, for the object at `addr`.
    pub fn data_addr(&self, addr: usize) -> usize {
        match self.data_offset {
            Some(off) => addr.wrapping_add(off),
            None => self.data_any,
        }
    }

    /// The text, decoded as py-spy decodes it; `None` where py-spy errs.
    pub fn decode(&self, data: &[u8]) -> Option<String> {
        if self.length == 0 {
            return Some(String::new());
        }
        match (self.kind, self.ascii) {
            (4, _) => data
                .chunks_exact(4)
                .map(|c| char::from_u32(u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            (2, _) => {
                let units: Vec<u16> = data
                    .chunks_exact(2)
                    .map(|c| u16::from_ne_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16(&units).ok()
            }
            (1, true) => String::from_utf8(data.to_vec()).ok(),
            (1, false) => Some(data.iter().map(|&b| b as char).collect()),
            _ => None,
        }
    }
}

/// The size of a `bytes` object (from its header), when py-spy would copy it.
pub(super) fn bytes_len(l: &Layout, header: &[u8]) -> Option<usize> {
    let size = word(header, l.bytes_size)? as isize;
    (0..MAX_BYTES as isize)
        .contains(&size)
        .then_some(size as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(l: &Layout, length: usize, kind: u32, compact: bool, ascii: bool) -> Vec<u8> {
        let mut b = vec![0u8; l.str_object_size];
        b[l.str_length..l.str_length + 8].copy_from_slice(&(length as u64).to_le_bytes());
        let state = (kind << l.state_kind.0)
            | ((compact as u32) << l.state_compact.0)
            | ((ascii as u32) << l.state_ascii.0)
            | 3; // `interned` bits: not part of the text
        b[l.str_state..l.str_state + 4].copy_from_slice(&state.to_le_bytes());
        b
    }

    #[test]
    fn strings_decode_as_py_spy_decodes_them() {
        let l = Layout::of(3, 12).unwrap();
        let h = StrHeader::parse(l, &header(l, 3, 1, true, true)).unwrap();
        assert_eq!(h.data_offset, Some(l.str_ascii_size));
        assert_eq!(h.data_len(), Some(3));
        assert_eq!(h.decode(b"run").as_deref(), Some("run"));
        // Latin-1 (kind 1, not ASCII), UCS-2 and UCS-4.
        let h = StrHeader::parse(l, &header(l, 2, 1, true, false)).unwrap();
        assert_eq!(h.data_offset, Some(l.str_compact_size));
        assert_eq!(h.decode(&[0xe9, 0x74]).as_deref(), Some("ét"));
        let h = StrHeader::parse(l, &header(l, 1, 2, true, false)).unwrap();
        assert_eq!(h.decode(&0x4e2du16.to_ne_bytes()).as_deref(), Some("中"));
        let h = StrHeader::parse(l, &header(l, 1, 4, true, false)).unwrap();
        assert_eq!(h.decode(&0x1f600u32.to_ne_bytes()).as_deref(), Some("😀"));
        assert_eq!(h.decode(&0xd800u32.to_ne_bytes()), None);
        // A torn length or kind is refused.
        let h = StrHeader::parse(l, &header(l, 5000, 1, true, true)).unwrap();
        assert_eq!(h.data_len(), None);
        let h = StrHeader::parse(l, &header(l, 2, 3, true, false)).unwrap();
        assert_eq!(h.decode(&[0; 6]), None);
        // Legacy (not compact): the text is where `data.any` points.
        let mut b = header(l, 2, 1, false, true);
        b[l.str_data_any..l.str_data_any + 8].copy_from_slice(&0x1234u64.to_le_bytes());
        let h = StrHeader::parse(l, &b).unwrap();
        assert_eq!((h.data_offset, h.data_addr(0x10)), (None, 0x1234));
    }

    #[test]
    fn bytes_sizes_beyond_py_spy_s_limit_are_refused() {
        let l = Layout::of(3, 11).unwrap();
        let mut b = vec![0u8; l.bytes_sval + 8];
        for (size, want) in [(0i64, Some(0)), (300, Some(300)), (65536, None), (-1, None)] {
            b[l.bytes_size..l.bytes_size + 8].copy_from_slice(&size.to_le_bytes());
            assert_eq!(bytes_len(l, &b), want, "{size}");
        }
    }
}
