//! The thread states of an interpreter, who holds the GIL, and each
//! thread's frames, read in few batches.
//!
//! The walk is py-spy's (`get_stack_traces`, `get_stack_trace` for 3.11+):
//! the list from `interp->threads.head` through `tstate->next`, each
//! thread's innermost frame (through its `_PyCFrame` on 3.11 and 3.12), and
//! `frame->previous` down to null ([`frames`](super::frames)). What differs
//! is where the bytes come from:
//!
//! - A thread's frames are parsed from one copy of the used part of its data
//!   stack chunk.
//! - What the previous read found (the thread states, each thread's chunk,
//!   its `_PyCFrame`, the frames and chunks outside it) is read again in the
//!   first batch, before it is known to be needed. Bytes read early are as
//!   good as bytes read when needed: either is the memory at one instant of
//!   a process that runs on (py-spy's reads, one per field, are no less
//!   torn). Every pointer is then followed through what was read; only what
//!   the first batch missed costs another call. A target whose threads keep
//!   their stacks costs one call here (and the code-object check one more).
//!
//! Torn reads: every loop is bounded (py-spy's 4096 threads, and 4096 frames
//! a thread), a thread state or frame pointer that is not 8-aligned fails
//! the read, and nothing panics on bytes read.

use super::AddrMap;
use super::ReadError;
use super::frames::{FrameWalk, RawFrame, chunk_span, walk_frames};
use super::layout::{FrameRoot, Gil, Layout};
use super::regions::Regions;
use super::remote::{Batch, MAX_RANGE, word};

/// py-spy's bound on threads.
const MAX_THREADS: usize = 4096;
/// What the first batch reads of a chunk beyond its last used top: room for
/// a stack a few frames deeper than last time.
const CHUNK_SLACK: usize = 2048;

pub(super) struct RawThread {
    pub thread_id: u64,
    pub native_thread_id: u64,
    /// Innermost first.
    pub frames: Vec<RawFrame>,
}

/// What one read learnt that the next one reads in its first batch.
#[derive(Default)]
pub(super) struct Memo {
    tstates: Vec<usize>,
    ahead: AddrMap<usize, Vec<(usize, usize)>>,
}

struct Thread {
    at: usize,
    tstate: Vec<u8>,
    /// The current chunk's span read, if any.
    chunk: Option<(usize, usize)>,
    walk: FrameWalk,
}

/// Every thread of the interpreter at `interp`, and the `thread_id` of the
/// GIL's holder (0 for none) as py-spy's `get_gil_threadid` finds it from
/// `gil_addr`. Adds the system calls made to `calls`.
pub(super) fn read_threads(
    l: &Layout,
    pid: i32,
    (interp, gil_addr): (usize, usize),
    memo: &mut Memo,
    (batch, regions): (&mut Batch, &mut Regions),
    calls: &mut usize,
) -> Result<(Vec<RawThread>, u64), ReadError> {
    regions.clear();
    let head_at = interp.wrapping_add(l.threads_head);
    let gil_len = match l.gil {
        Gil::TstatePointer => 8,
        Gil::RuntimeState {
            last_holder,
            locked,
        } => (last_holder + 8).max(locked + 4),
    };
    let ts_len = l.tstate_len();
    // First batch: what is known to be needed, and what was last time.
    let mut first = vec![(head_at, 8)];
    if gil_addr != 0 {
        first.push((gil_addr, gil_len));
    }
    for t in &memo.tstates {
        first.push((*t, ts_len));
        first.extend(memo.ahead.get(t).into_iter().flatten().copied());
    }
    *calls += regions.fetch(pid, &first, batch);
    let head = regions
        .find(head_at, 8)
        .and_then(|b| word(b, 0))
        .ok_or(ReadError::Unreadable("the thread list head", head_at))?;
    let mut threads = thread_list(l, pid, head, batch, regions, calls)?;
    let gil = gil_holder(l, pid, (gil_addr, gil_len), &threads, batch, regions, calls)?;
    // Each thread's chunk (its used part) and, on 3.11 and 3.12, its `_PyCFrame`.
    let mut second = Vec::new();
    for t in threads.iter_mut() {
        if let Some(at) = cframe_word(l, &t.tstate) {
            second.push((at, 8));
        }
        let chunk = word(&t.tstate, l.tstate_datastack_chunk).unwrap_or(0);
        let top = word(&t.tstate, l.tstate_datastack_top).unwrap_or(0);
        t.chunk = chunk_span(l, chunk, top);
        second.extend(t.chunk);
        t.walk.home = t.chunk;
        t.walk.known = memo.ahead.get(&t.at).cloned().unwrap_or_default();
    }
    second.retain(|&(a, n)| regions.find(a, n).is_none());
    if !second.is_empty() {
        *calls += regions.fetch(pid, &second, batch);
    }
    for t in threads.iter_mut() {
        t.walk.cursor = match (cframe_word(l, &t.tstate), l.root) {
            (Some(at), _) => regions
                .find(at, 8)
                .and_then(|b| word(b, 0))
                .ok_or(ReadError::Unreadable("a thread's _PyCFrame", at))?,
            (None, FrameRoot::Direct { current_frame }) => {
                word(&t.tstate, current_frame).unwrap_or(0)
            }
            (None, FrameRoot::CFrame { .. }) => 0,
        };
        // The chunk before the current one, from the current one's header.
        let chunk = word(&t.tstate, l.tstate_datastack_chunk).unwrap_or(0);
        t.walk.older = regions
            .find(chunk.wrapping_add(l.chunk_previous), 8)
            .and_then(|b| word(b, 0))
            .unwrap_or(0);
    }
    let mut walks: Vec<&mut FrameWalk> = threads.iter_mut().map(|t| &mut t.walk).collect();
    walk_frames(l, pid, &mut walks, batch, regions, calls)?;
    remember(l, memo, &threads, regions);
    let out = threads
        .into_iter()
        .map(|t| RawThread {
            thread_id: word(&t.tstate, l.tstate_thread_id).unwrap_or(0) as u64,
            native_thread_id: word(&t.tstate, l.tstate_native_thread_id).unwrap_or(0) as u64,
            frames: t.walk.frames,
        })
        .collect();
    Ok((out, gil))
}

/// The thread states from `head` on, each read from what was fetched or
/// else alone (a thread new since the last read).
fn thread_list(
    l: &Layout,
    pid: i32,
    head: usize,
    batch: &mut Batch,
    regions: &mut Regions,
    calls: &mut usize,
) -> Result<Vec<Thread>, ReadError> {
    let ts_len = l.tstate_len();
    let mut threads = Vec::new();
    let mut next = head;
    while next != 0 {
        if threads.len() >= MAX_THREADS {
            return Err(ReadError::TooMany("threads", MAX_THREADS));
        }
        if !next.is_multiple_of(8) {
            return Err(ReadError::Implausible {
                what: "thread state pointer",
                value: next,
            });
        }
        if regions.find(next, ts_len).is_none() {
            *calls += regions.fetch(pid, &[(next, ts_len)], batch);
        }
        let tstate = regions
            .find(next, ts_len)
            .ok_or(ReadError::Unreadable("a thread state", next))?
            .to_vec();
        let at = next;
        next = word(&tstate, l.tstate_next).unwrap_or(0);
        threads.push(Thread {
            at,
            tstate,
            chunk: None,
            walk: FrameWalk::default(),
        });
    }
    Ok(threads)
}

/// Where `tstate->cframe->current_frame` is (3.11, 3.12).
fn cframe_word(l: &Layout, tstate: &[u8]) -> Option<usize> {
    match l.root {
        FrameRoot::CFrame {
            cframe,
            current_frame,
        } => Some(word(tstate, cframe)?.wrapping_add(current_frame)),
        FrameRoot::Direct { .. } => None,
    }
}

/// The GIL holder's `thread_id`, as py-spy's `get_gil_threadid` reads it.
fn gil_holder(
    l: &Layout,
    pid: i32,
    (gil_addr, gil_len): (usize, usize),
    threads: &[Thread],
    batch: &mut Batch,
    regions: &mut Regions,
    calls: &mut usize,
) -> Result<u64, ReadError> {
    if gil_addr == 0 {
        return Ok(0);
    }
    let b = regions
        .find(gil_addr, gil_len)
        .ok_or(ReadError::Unreadable("the GIL state", gil_addr))?;
    let holder = match l.gil {
        Gil::TstatePointer => word(b, 0).unwrap_or(0),
        Gil::RuntimeState {
            last_holder,
            locked,
        } => {
            let is_locked = b.get(locked..locked + 4).is_some_and(|v| v != [0; 4]);
            if is_locked {
                word(b, last_holder).unwrap_or(0)
            } else {
                0
            }
        }
    };
    if holder == 0 {
        return Ok(0);
    }
    if let Some(t) = threads.iter().find(|t| t.at == holder) {
        return Ok(word(&t.tstate, l.tstate_thread_id).unwrap_or(0) as u64);
    }
    let at = holder.wrapping_add(l.tstate_thread_id);
    if regions.find(at, 8).is_none() {
        *calls += regions.fetch(pid, &[(at, 8)], batch);
    }
    regions
        .find(at, 8)
        .and_then(|b| word(b, 0))
        .map(|id| id as u64)
        .ok_or(ReadError::Unreadable(
            "the GIL holder's thread state",
            holder,
        ))
}

/// What the next read's first batch reads again: each thread state, its
/// `_PyCFrame` word, its current chunk with room to grow (not past the
/// chunk's own size), and the ranges its walk read outside that chunk.
fn remember(l: &Layout, memo: &mut Memo, threads: &[Thread], regions: &Regions) {
    memo.tstates = threads.iter().map(|t| t.at).collect();
    memo.ahead.clear();
    for t in threads {
        let mut ahead = t.walk.outside.clone();
        ahead.extend(cframe_word(l, &t.tstate).map(|at| (at, 8)));
        if let Some((start, len)) = t.chunk {
            let size = regions
                .find(start.wrapping_add(l.chunk_size), 8)
                .and_then(|b| word(b, 0));
            let chunk = word(&t.tstate, l.tstate_datastack_chunk).unwrap_or(0);
            let room = match size {
                Some(size) if start == chunk => size.min(len + CHUNK_SLACK),
                _ => len,
            };
            ahead.push((start, room.max(len).min(MAX_RANGE)));
        }
        memo.ahead.insert(t.at, ahead);
    }
}
