//! Each thread's chain of `_PyInterpreterFrame`s, innermost first, from
//! the bytes of its data stack chunks.
//!
//! CPython 3.11+ pushes a call's frame on the thread's data stack: chunks
//! of (usually) 16 KB, the current one `tstate->datastack_chunk`, used up to
//! `tstate->datastack_top`; each chunk's header links the previous one and,
//! once a newer chunk was pushed, says how far it is used (`top`, in
//! words). A frame that is in no chunk read so far (a generator's frame,
//! which lives in the generator object; an entry frame on the C stack) is
//! read alone; a frame in an older chunk (a stack deeper than one chunk)
//! makes the walk read that chunk's header, then its used part, so a deep
//! recursion costs two steps per chunk, not one per frame. The steps of all
//! threads are batched: one system call per step, whatever the number of
//! threads.

use super::ReadError;
use super::layout::Layout;
use super::regions::Regions;
use super::remote::{Batch, word};

/// py-spy's bound on the frames of one thread.
const MAX_FRAMES: usize = 4096;
/// Bytes of a data stack chunk read at most: the current chunk's innermost
/// frames (at its top), or an older chunk whole.
pub(super) const MAX_CHUNK_READ: usize = 64 * 1024;
/// Ranges outside the current chunk (frames, older chunks) remembered per
/// thread, to be read ahead next time.
const MAX_REMEMBERED: usize = 32;

/// A frame as read: what the trace needs of it.
#[derive(Debug, Clone, Copy)]
pub(super) struct RawFrame {
    pub code: usize,
    pub instr: usize,
    pub is_entry: bool,
    /// Not a Python frame py-spy shows (owned by the C stack or the
    /// interpreter, or without code).
    pub skip: bool,
}

/// One thread's walk down its frames.
#[derive(Default)]
pub(super) struct FrameWalk {
    /// The next frame to read (0: done).
    pub cursor: usize,
    pub frames: Vec<RawFrame>,
    /// The older chunk not yet looked at (from the last chunk header read).
    pub older: usize,
    /// The current chunk's span read (frames there need no remembering).
    pub home: Option<(usize, usize)>,
    /// What the last read remembered of this thread (read ahead this time).
    pub known: Vec<(usize, usize)>,
    /// Ranges outside the current chunk this walk used, whether read ahead
    /// or asked for, to read ahead next time.
    pub outside: Vec<(usize, usize)>,
    /// The frame last asked for alone: asked again, it is unreadable.
    asked_alone: usize,
}

/// `[start, len)` of the current chunk to read: from the chunk to the top
/// the thread state gives, or the top's last [`MAX_CHUNK_READ`] bytes.
pub(super) fn chunk_span(l: &Layout, chunk: usize, top: usize) -> Option<(usize, usize)> {
    if chunk == 0 || top <= chunk.checked_add(l.chunk_data)? {
        return None;
    }
    let used = top - chunk;
    Some(if used > MAX_CHUNK_READ {
        (top - MAX_CHUNK_READ, MAX_CHUNK_READ)
    } else {
        (chunk, used)
    })
}

/// Follow every walk's `previous` pointers to the end, one batch per step
/// for what is not read yet.
pub(super) fn walk_frames(
    l: &Layout,
    pid: i32,
    walks: &mut [&mut FrameWalk],
    batch: &mut Batch,
    regions: &mut Regions,
    calls: &mut usize,
) -> Result<(), ReadError> {
    loop {
        let mut needs = Vec::new();
        for w in walks.iter_mut() {
            step(l, w, regions, &mut needs)?;
        }
        if needs.is_empty() {
            return Ok(());
        }
        *calls += regions.fetch(pid, &needs, batch);
    }
}

/// Walk as far as the fetched bytes allow, then say what to read next.
fn step(
    l: &Layout,
    w: &mut FrameWalk,
    regions: &Regions,
    needs: &mut Vec<(usize, usize)>,
) -> Result<(), ReadError> {
    while w.cursor != 0 {
        if w.frames.len() >= MAX_FRAMES {
            return Err(ReadError::TooMany("frames", MAX_FRAMES));
        }
        let at = w.cursor;
        if !at.is_multiple_of(8) {
            return Err(ReadError::Implausible {
                what: "frame pointer",
                value: at,
            });
        }
        if let Some(b) = regions.find(at, l.frame_size) {
            let (frame, previous) = parse_frame(l, b);
            w.frames.push(frame);
            w.cursor = previous;
            let inside = |(start, len): (usize, usize)| {
                at >= start && at.saturating_add(l.frame_size) <= start.saturating_add(len)
            };
            if !w.home.is_some_and(inside) {
                // Read ahead (an older chunk, a frame alone) or asked for.
                let range = w.known.iter().copied().find(|&r| inside(r));
                remember(w, range.unwrap_or((at, l.frame_size)));
            }
            continue;
        }
        if w.asked_alone == at {
            return Err(ReadError::Unreadable("a frame", at));
        }
        if w.older != 0 {
            match regions.find(w.older, l.chunk_data) {
                // Its header, along with the frame alone.
                None => needs.push((w.older, l.chunk_data)),
                Some(h) => {
                    let chunk = w.older;
                    w.older = word(h, l.chunk_previous).unwrap_or(0);
                    let used = word(h, l.chunk_top)
                        .and_then(|top| top.checked_mul(8)?.checked_add(l.chunk_data))
                        .filter(|&used| used <= MAX_CHUNK_READ);
                    let inside = |used: usize| {
                        at >= chunk.saturating_add(l.chunk_data)
                            && at.saturating_add(l.frame_size) <= chunk.saturating_add(used)
                    };
                    if let Some(used) = used.filter(|&u| inside(u)) {
                        needs.push((chunk, used));
                        w.known.push((chunk, used));
                        return Ok(());
                    }
                }
            }
        }
        needs.push((at, l.frame_size));
        w.asked_alone = at;
        return Ok(());
    }
    Ok(())
}

fn remember(w: &mut FrameWalk, range: (usize, usize)) {
    if w.outside.len() < MAX_REMEMBERED && !w.outside.contains(&range) {
        w.outside.push(range);
    }
}

/// One `_PyInterpreterFrame`: what a trace needs, and its `previous`.
fn parse_frame(l: &Layout, b: &[u8]) -> (RawFrame, usize) {
    let raw_code = word(b, l.frame_code).unwrap_or(0);
    let code = raw_code & !((1usize << l.tag_bits) - 1);
    let owner = b.get(l.frame_owner).copied().unwrap_or(0);
    let by = |o: Option<u8>| o.is_some_and(|o| o == owner);
    // py-spy's `is_python_frame` of each version: 3.12 skips frames owned
    // by the C stack, 3.13 those and frames without code, 3.14 also those
    // owned by the interpreter.
    let skip = by(l.owner_cstack) || by(l.owner_interpreter) || (l.minor >= 13 && code == 0);
    let is_entry = match l.frame_is_entry {
        Some(at) => b.get(at).is_some_and(|&e| e != 0),
        None => by(l.owner_interpreter.or(l.owner_cstack)),
    };
    let frame = RawFrame {
        code,
        instr: word(b, l.frame_instr).unwrap_or(0),
        is_entry,
        skip,
    };
    (frame, word(b, l.frame_previous).unwrap_or(0))
}
