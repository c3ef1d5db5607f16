//! Where CPython 3.11–3.14 (GIL builds, x86_64) keep what a stack read
//! needs: byte offsets into the interpreter's structures, one table per
//! minor version.
//!
//! The numbers come from each version's own headers, printed by
//! `tests/pyread_offsets.c` (compiled with `-DPy_BUILD_CORE`); `tests/pyread.rs`
//! compiles that program against every installed CPython and compares its
//! output with [`Layout::fields`], so a field that moves in some release
//! fails a test rather than a flamegraph. Internal layouts can change between
//! patch releases in principle; the integration test also compares whole
//! stacks with py-spy's on the interpreters the project tests.

/// How a thread state leads to its innermost frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FrameRoot {
    /// 3.11, 3.12: `tstate->cframe->current_frame` (the `_PyCFrame` lives on
    /// the thread's C stack, so it costs a read of its own).
    CFrame { cframe: usize, current_frame: usize },
    /// 3.13+: `tstate->current_frame`.
    Direct { current_frame: usize },
}

/// Who holds the GIL, as py-spy's `get_gil_threadid` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gil {
    /// 3.11: `_PyRuntime.gilstate.tstate_current`, a thread state pointer.
    TstatePointer,
    /// 3.12+: `struct _gil_runtime_state`: its holder counts while `locked`.
    RuntimeState { last_holder: usize, locked: usize },
}

/// Offsets of one CPython minor version (see the module doc).
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    pub minor: u8,
    /// `PyInterpreterState.threads.head`.
    pub threads_head: usize,
    pub tstate_next: usize,
    pub tstate_thread_id: usize,
    pub tstate_native_thread_id: usize,
    pub root: FrameRoot,
    pub tstate_datastack_chunk: usize,
    pub tstate_datastack_top: usize,
    /// `_PyStackChunk.previous`: the older chunk.
    pub chunk_previous: usize,
    /// `_PyStackChunk.size`: the chunk's allocated bytes.
    pub chunk_size: usize,
    /// `_PyStackChunk.top`: words used, set when a newer chunk is pushed.
    pub chunk_top: usize,
    /// `_PyStackChunk.data`: where the chunk's frames start.
    pub chunk_data: usize,
    /// `_PyInterpreterFrame`: its code object (`f_code`, `f_executable`).
    pub frame_code: usize,
    pub frame_previous: usize,
    /// `prev_instr` (3.11, 3.12) or `instr_ptr` (3.13+).
    pub frame_instr: usize,
    pub frame_owner: usize,
    /// 3.11 only: `is_entry`.
    pub frame_is_entry: Option<usize>,
    /// The frame's fixed part (`offsetof(localsplus)`): what a read copies.
    pub frame_size: usize,
    /// 3.14: `f_executable` is a tagged `_PyStackRef`; these low bits are not
    /// part of the pointer.
    pub tag_bits: usize,
    /// `FRAME_OWNED_BY_CSTACK` (3.12+): a frame py-spy skips.
    pub owner_cstack: Option<u8>,
    /// `FRAME_OWNED_BY_INTERPRETER` (3.14): also skipped.
    pub owner_interpreter: Option<u8>,
    pub code_filename: usize,
    pub code_name: usize,
    pub code_qualname: usize,
    pub code_linetable: usize,
    pub code_firstlineno: usize,
    /// `co_code_adaptive`: instruction offsets count from here.
    pub code_adaptive: usize,
    pub bytes_size: usize,
    pub bytes_sval: usize,
    pub str_length: usize,
    pub str_state: usize,
    /// `sizeof(PyASCIIObject)`: an ASCII compact string's data follows it.
    pub str_ascii_size: usize,
    /// `sizeof(PyCompactUnicodeObject)`: other compact strings' data.
    pub str_compact_size: usize,
    /// `PyUnicodeObject.data.any`: a non-compact string's data pointer.
    pub str_data_any: usize,
    /// `sizeof(PyUnicodeObject)`: what py-spy copies of a string object.
    pub str_object_size: usize,
    pub state_kind: (u32, u32),
    pub state_compact: (u32, u32),
    pub state_ascii: (u32, u32),
    pub gil: Gil,
}

/// The `state` bit fields of `PyASCIIObject` (shift, mask): the same in 3.11–3.14.
const KIND: (u32, u32) = (2, 7);
const COMPACT: (u32, u32) = (5, 1);
const ASCII: (u32, u32) = (6, 1);

/// 3.12–3.14 share their GIL structure (py-spy reads it with one binding).
const GIL_3_12: Gil = Gil::RuntimeState {
    last_holder: 8,
    locked: 16,
};

const V3_11: Layout = Layout {
    minor: 11,
    threads_head: 16,
    tstate_next: 8,
    tstate_thread_id: 152,
    tstate_native_thread_id: 160,
    root: FrameRoot::CFrame {
        cframe: 56,
        current_frame: 8,
    },
    tstate_datastack_chunk: 296,
    tstate_datastack_top: 304,
    chunk_previous: 0,
    chunk_size: 8,
    chunk_top: 16,
    chunk_data: 24,
    frame_code: 32,
    frame_previous: 48,
    frame_instr: 56,
    frame_owner: 69,
    frame_is_entry: Some(68),
    frame_size: 72,
    tag_bits: 0,
    owner_cstack: None,
    owner_interpreter: None,
    code_filename: 112,
    code_name: 120,
    code_qualname: 128,
    code_linetable: 136,
    code_firstlineno: 72,
    code_adaptive: 184,
    bytes_size: 16,
    bytes_sval: 32,
    str_length: 16,
    str_state: 32,
    str_ascii_size: 48,
    str_compact_size: 72,
    str_data_any: 72,
    str_object_size: 80,
    state_kind: KIND,
    state_compact: COMPACT,
    state_ascii: ASCII,
    gil: Gil::TstatePointer,
};

const V3_12: Layout = Layout {
    minor: 12,
    threads_head: 72,
    tstate_thread_id: 136,
    tstate_native_thread_id: 144,
    root: FrameRoot::CFrame {
        cframe: 56,
        current_frame: 0,
    },
    tstate_datastack_chunk: 232,
    tstate_datastack_top: 240,
    frame_code: 0,
    frame_previous: 8,
    frame_owner: 70,
    frame_is_entry: None,
    owner_cstack: Some(3),
    code_firstlineno: 68,
    code_adaptive: 192,
    str_ascii_size: 40,
    str_compact_size: 56,
    str_data_any: 56,
    str_object_size: 64,
    gil: GIL_3_12,
    ..V3_11
};

const V3_13: Layout = Layout {
    minor: 13,
    threads_head: 7344,
    tstate_thread_id: 152,
    tstate_native_thread_id: 160,
    root: FrameRoot::Direct { current_frame: 72 },
    code_adaptive: 200,
    ..V3_12
};

const V3_14: Layout = Layout {
    minor: 14,
    frame_owner: 74,
    frame_size: 80,
    tag_bits: 3,
    owner_cstack: Some(4),
    owner_interpreter: Some(3),
    code_adaptive: 208,
    ..V3_13
};

impl Layout {
    /// The table of CPython 3.`minor`, when this reader knows it.
    pub fn of(major: u64, minor: u64) -> Option<&'static Layout> {
        match (major, minor) {
            (3, 11) => Some(&V3_11),
            (3, 12) => Some(&V3_12),
            (3, 13) => Some(&V3_13),
            (3, 14) => Some(&V3_14),
            _ => None,
        }
    }

    /// How many bytes of a thread state a read copies: up to the last field used.
    pub fn tstate_len(&self) -> usize {
        let root = match self.root {
            FrameRoot::CFrame { cframe, .. } => cframe,
            FrameRoot::Direct { current_frame } => current_frame,
        };
        [
            self.tstate_next,
            self.tstate_thread_id,
            self.tstate_native_thread_id,
            root,
            self.tstate_datastack_chunk,
            self.tstate_datastack_top,
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
            + 8
    }

    /// The span of a code object a read copies: `co_firstlineno` through
    /// `co_linetable` (every field a stack's frame is derived from).
    pub fn code_span(&self) -> (usize, usize) {
        let start = self.code_firstlineno.min(self.code_filename);
        let end = [
            self.code_firstlineno + 4,
            self.code_filename + 8,
            self.code_name + 8,
            self.code_qualname + 8,
            self.code_linetable + 8,
        ]
        .into_iter()
        .max()
        .unwrap_or(start);
        (start, end - start)
    }

    /// Every offset as `tests/pyread_offsets.c` prints it: `(key, value)`.
    pub fn fields(&self) -> Vec<(&'static str, u64)> {
        let mut f: Vec<(&'static str, usize)> = vec![
            ("version.minor", self.minor as usize),
            ("interp.threads_head", self.threads_head),
            ("tstate.next", self.tstate_next),
            ("tstate.thread_id", self.tstate_thread_id),
            ("tstate.native_thread_id", self.tstate_native_thread_id),
        ];
        match self.root {
            FrameRoot::CFrame {
                cframe,
                current_frame,
            } => {
                f.push(("tstate.cframe", cframe));
                f.push(("cframe.current_frame", current_frame));
            }
            FrameRoot::Direct { current_frame } => f.push(("tstate.current_frame", current_frame)),
        }
        f.extend([
            ("tstate.datastack_chunk", self.tstate_datastack_chunk),
            ("tstate.datastack_top", self.tstate_datastack_top),
            ("chunk.previous", self.chunk_previous),
            ("chunk.size", self.chunk_size),
            ("chunk.top", self.chunk_top),
            ("chunk.data", self.chunk_data),
            ("frame.code", self.frame_code),
            ("frame.instr", self.frame_instr),
            ("frame.previous", self.frame_previous),
            ("frame.owner", self.frame_owner),
            ("frame.size", self.frame_size),
        ]);
        f.extend(self.frame_is_entry.map(|o| ("frame.is_entry", o)));
        f.extend(self.owner_cstack.map(|o| ("owner.cstack", o as usize)));
        f.extend(
            self.owner_interpreter
                .map(|o| ("owner.interpreter", o as usize)),
        );
        if self.tag_bits != 0 {
            f.push(("frame.tag_bits", self.tag_bits));
        }
        f.extend([
            ("code.filename", self.code_filename),
            ("code.name", self.code_name),
            ("code.qualname", self.code_qualname),
            ("code.linetable", self.code_linetable),
            ("code.firstlineno", self.code_firstlineno),
            ("code.code_adaptive", self.code_adaptive),
            ("bytes.size", self.bytes_size),
            ("bytes.sval", self.bytes_sval),
            ("str.length", self.str_length),
            ("str.state", self.str_state),
            ("str.ascii_size", self.str_ascii_size),
            ("str.compact_size", self.str_compact_size),
            ("str.data_any", self.str_data_any),
            ("str.object_size", self.str_object_size),
        ]);
        let (k, c, a) = (self.state_kind, self.state_compact, self.state_ascii);
        f.extend([
            ("str.state_kind_shift", k.0 as usize),
            ("str.state_kind_mask", k.1 as usize),
            ("str.state_compact_shift", c.0 as usize),
            ("str.state_compact_mask", c.1 as usize),
            ("str.state_ascii_shift", a.0 as usize),
            ("str.state_ascii_mask", a.1 as usize),
        ]);
        if let Gil::RuntimeState {
            last_holder,
            locked,
        } = self.gil
        {
            f.push(("gil.last_holder", last_holder));
            f.push(("gil.locked", locked));
        }
        f.into_iter().map(|(k, v)| (k, v as u64)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_has_a_distinct_minor_and_sane_spans() {
        for minor in 11..=14 {
            let l = Layout::of(3, minor).unwrap();
            assert_eq!(l.minor as u64, minor);
            let (start, len) = l.code_span();
            assert!(start <= l.code_firstlineno && start + len >= l.code_linetable + 8);
            assert!(l.tstate_len() > l.tstate_datastack_top);
            let keys: Vec<_> = l.fields().into_iter().map(|(k, _)| k).collect();
            let mut unique = keys.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(keys.len(), unique.len(), "3.{minor}");
        }
        assert!(Layout::of(3, 10).is_none() && Layout::of(3, 15).is_none());
    }
}
