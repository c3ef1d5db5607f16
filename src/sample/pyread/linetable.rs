//! The line of an instruction, from a CPython 3.11+ code object's location
//! table (`co_linetable`, format in CPython's `InternalDocs/code_objects.md`).
//!
//! Decoded exactly as py-spy 0.4.3 does (`CompactCodeObjectImpl::
//! get_line_number`), quirks included, so both readers name the same line:
//! the line starts at `co_firstlineno`; each entry covers `(first byte & 7) + 1`
//! code units and adds its line delta; an entry with no location (code 15)
//! keeps the line before it; the answer is the line after the first entry
//! whose end passes the instruction offset (or after the last entry).
//!
//! py-spy walks the table on every read; here a table is decoded once into
//! its entries' ends and lines (kept in the code-object cache) and each
//! lookup is a binary search over them.

/// A decoded location table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LineTable {
    first_line: i32,
    /// Per entry: the byte offset where it ends (strictly increasing) and the
    /// line after it.
    entries: Vec<(i32, i32)>,
}

impl LineTable {
    pub fn decode(first_line: i32, table: &[u8]) -> Self {
        let mut entries = Vec::new();
        let mut line = first_line;
        let mut address: i32 = 0;
        let mut index = 0usize;
        while let Some(&byte) = table.get(index) {
            index += 1;
            address += ((byte & 7) as i32 + 1) * 2;
            let code = (byte >> 3) & 15;
            let delta = match code {
                15 => 0,
                14 => {
                    let delta = read_signed_varint(&mut index, table).unwrap_or(0);
                    read_varint(&mut index, table); // end line
                    read_varint(&mut index, table); // start column
                    read_varint(&mut index, table); // end column
                    delta
                }
                13 => read_signed_varint(&mut index, table).unwrap_or(0),
                10..=12 => {
                    index += 2; // start and end column
                    (code - 10) as isize
                }
                _ => {
                    index += 1; // column
                    0
                }
            };
            line = line.wrapping_add(delta as i32);
            entries.push((address, line));
        }
        LineTable {
            first_line,
            entries,
        }
    }

    /// The line of the instruction `offset` bytes into `co_code_adaptive`.
    pub fn line_at(&self, offset: i32) -> i32 {
        let i = self.entries.partition_point(|&(end, _)| end <= offset);
        match self.entries.get(i).or(self.entries.last()) {
            Some(&(_, line)) => line,
            None => self.first_line,
        }
    }
}

fn read_varint(index: &mut usize, table: &[u8]) -> Option<usize> {
    let mut byte = *table.get(*index)?;
    *index += 1;
    let mut value = (byte & 63) as usize;
    let mut shift = 0;
    while byte & 64 != 0 {
        byte = *table.get(*index)?;
        *index += 1;
        shift += 6;
        // A torn table could shift past the word: such bits are dropped.
        value = value.wrapping_add(((byte & 63) as usize).checked_shl(shift).unwrap_or(0));
    }
    Some(value)
}

fn read_signed_varint(index: &mut usize, table: &[u8]) -> Option<isize> {
    let v = read_varint(index, table)?;
    Some(if v & 1 != 0 {
        -((v >> 1) as isize)
    } else {
        (v >> 1) as isize
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// `(start, end, line)` of `code.co_lines()`; `None` lines are `-1`.
    fn check(first_line: i32, table: &str, lines: &[(i32, i32, i32)]) {
        let t = LineTable::decode(first_line, &hex(table));
        let mut previous = first_line;
        for &(start, end, line) in lines {
            for offset in (start..end).step_by(2) {
                // A range without a location keeps the line before it (py-spy's rule).
                let want = if line < 0 { previous } else { line };
                assert_eq!(t.line_at(offset), want, "offset {offset}");
            }
            if line >= 0 {
                previous = line;
            }
        }
        // Past the end: the last entry's line.
        assert_eq!(t.line_at(100_000), previous);
    }

    // Both tables are `sample.__code__.co_linetable` of this function, with
    // `list(sample.__code__.co_lines())`, dumped by the interpreter named:
    //
    //   def sample(n):              # line 2 of the file
    //       total = 0
    //       for i in range(n):
    //           if i % 3 == 0:
    //               total += (i *
    //                         2)
    //           else:
    //               total -= 1
    //       try:
    //           x = [j for j in range(n)]
    //       except ValueError:
    //           pass
    //       return total

    #[test]
    fn python_3_11_table_gives_co_lines() {
        let table = "8000d80c0d8045dd0d12903189588c58f000050517f0000505178801d80b0c8871893590418a3a883ad80c119061d81617f103011718f100010d1988458845f006000d129051894a88458845f00203050dd80c21d00c219d05986199089c08d00c21d10c21d40c2188018801f8dd0b15f00001050df00001050df00001050dd8080c8804f00301050df8f8f8e00b10804c";
        let lines = [
            (0, 2, 2),
            (2, 4, 3),
            (4, 6, 3),
            (6, 18, 4),
            (18, 40, 4),
            (40, 58, 5),
            (58, 62, 6),
            (62, 64, 7),
            (64, 76, 6),
            (76, 88, 9),
            (88, 90, 10),
            (90, 142, 11),
            (142, 144, -1),
            (144, 162, 12),
            (162, 166, 13),
            (166, 168, 12),
            (168, 174, -1),
            (174, 178, 14),
        ];
        check(2, table, &lines);
    }

    #[test]
    fn python_3_14_table_gives_co_lines() {
        let table = "8000d80c0d8045dc0d1290318e588801d80b0c88718d3590418c3ad80c11d81617f503011718f500010d198a45f006000d1290518d4a8a45f10b000e16f00c03050ddc181d98619c08d30c21990890318a5199088801d00c21f006000c11804cf9f207000d22f8dc0b15f40001050dd8080cd80b10804cf00501050dfa";
        let lines = [
            (0, 2, 2),
            (2, 6, 3),
            (6, 34, 4),
            (34, 62, 5),
            (62, 64, 6),
            (64, 66, 7),
            (66, 96, 6),
            (96, 118, 9),
            (118, 122, 4),
            (122, 124, 10),
            (124, 174, 11),
            (174, 178, 14),
            (178, 182, -1),
            (182, 188, 11),
            (188, 190, -1),
            (190, 210, 12),
            (210, 212, 13),
            (212, 216, 14),
            (216, 218, 12),
            (218, 224, -1),
        ];
        check(2, table, &lines);
    }

    #[test]
    fn empty_negative_and_truncated_tables_never_panic() {
        let empty = LineTable::decode(7, &[]);
        assert_eq!(empty.line_at(0), 7);
        assert_eq!(empty.line_at(-4), 7);
        let t = LineTable::decode(2, &hex("8000d80c0d"));
        // Before the first instruction (a garbage `lasti`): the first entry's line.
        assert_eq!(t.line_at(-10), 2);
        // A long-form entry cut short, and varints that never end.
        for bytes in [
            vec![0xf0],
            vec![0xe8, 0x7f],
            vec![0xf0, 0x7f, 0x7f, 0x7f],
            vec![0x6a; 40],
        ] {
            let t = LineTable::decode(1, &bytes);
            let _ = t.line_at(0);
            let _ = t.line_at(i32::MAX);
        }
    }
}
