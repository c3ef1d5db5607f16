//! Python stacks in a timeline: interned frames and stacks, and the finer
//! Python states a stack lets us name.
//!
//! A 10-second run at 100 Hz of 5 threads holds 5 000 thread-moments whose
//! stacks are mostly the same few dozen: each distinct frame is stored once in
//! [`StackTable::frames`], each distinct stack once in [`StackTable::stacks`]
//! (frame indices, outermost first), and a [`ThreadSample`](super::ThreadSample)
//! carries only the stack's index. That keeps `timeline.json` small and the
//! replay seam exact.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// One Python frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Frame {
    /// Function name (`<module>` for module level code).
    pub name: String,
    /// Source file as the interpreter knows it.
    pub file: String,
    /// Line being executed in that frame (0 when unknown).
    pub line: u32,
}

impl Frame {
    /// `file:line`, with the file shortened to its last two path parts.
    pub fn site(&self) -> String {
        format!("{}:{}", short_file(&self.file), self.line)
    }

    /// `function (file:line)`, the label used in flamegraphs and hot lists.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.site())
    }

    /// True for frames of Python's standard library (and frozen importlib).
    pub fn is_stdlib(&self) -> bool {
        self.file.starts_with("<frozen") || self.file.contains("/lib/python")
    }

    /// True for frames of the standard library's pool and IPC code: executors,
    /// multiprocessing's queues and connections, pickling, selectors, threading.
    pub fn is_pool_machinery(&self) -> bool {
        const MACHINERY: [&str; 8] = [
            "concurrent/futures/",
            "multiprocessing/",
            "threading.py",
            "queue.py",
            "selectors.py",
            "pickle.py",
            "copyreg.py",
            "socket.py",
        ];
        self.is_stdlib() && MACHINERY.iter().any(|m| self.file.contains(m))
    }

    /// True for `multiprocessing`'s Manager code: a proxy's call to shared
    /// state in the Manager's process, or that process serving one.
    pub fn is_manager_proxy(&self) -> bool {
        self.file.ends_with("multiprocessing/managers.py")
    }

    /// True for the Manager's own process serving a proxy's call
    /// (`Server.handle_request`, `Server.serve_client`, …).
    pub fn is_manager_server(&self) -> bool {
        self.is_manager_proxy() && self.name.starts_with("Server.")
    }

    /// True for `multiprocessing`'s `BaseProcess._bootstrap`, where a child
    /// process's own work begins (see `Stacks::own_frame`).
    pub fn is_process_start(&self) -> bool {
        self.file.ends_with("multiprocessing/process.py") && self.name.ends_with("_bootstrap")
    }

    /// True for frames of the standard library's locking and queueing code:
    /// the caller of such a frame is where the program asked for the lock.
    pub fn is_sync_machinery(&self) -> bool {
        let f = short_file(&self.file);
        ["threading.py", "queue.py", "thread.py", "synchronize.py"]
            .iter()
            .any(|m| f.ends_with(m))
    }
}

/// The last two parts of a path: `lib/python3.11/threading.py` → `python3.11/threading.py`.
pub fn short_file(file: &str) -> &str {
    let mut cut = file.len();
    for _ in 0..2 {
        match file[..cut].rfind('/') {
            Some(i) => cut = i,
            None => return file,
        }
    }
    &file[cut + 1..]
}

/// Every distinct frame and stack seen in the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StackTable {
    /// Distinct frames; stacks refer to them by index.
    pub frames: Vec<Frame>,
    /// Distinct stacks as frame indices, outermost (entry point) first.
    pub stacks: Vec<Vec<u32>>,
    #[serde(skip)]
    frame_ids: HashMap<Frame, u32>,
    #[serde(skip)]
    stack_ids: HashMap<Vec<u32>, u32>,
}

impl StackTable {
    pub fn is_empty(&self) -> bool {
        self.stacks.is_empty()
    }

    /// Whether any frame is in the installed package `name` (a file under a
    /// `name/` directory): what the program imported and used while sampled.
    pub fn uses_package(&self, name: &str) -> bool {
        let dir = format!("/{name}/");
        self.frames.iter().any(|f| f.file.contains(&dir))
    }

    /// The index of this stack (frames outermost first), adding it if new.
    pub fn intern(&mut self, frames: impl IntoIterator<Item = Frame>) -> u32 {
        let ids: Vec<u32> = frames
            .into_iter()
            .map(|f| {
                if let Some(&id) = self.frame_ids.get(&f) {
                    return id;
                }
                let id = self.frames.len() as u32;
                self.frames.push(f.clone());
                self.frame_ids.insert(f, id);
                id
            })
            .collect();
        if let Some(&id) = self.stack_ids.get(&ids) {
            return id;
        }
        let id = self.stacks.len() as u32;
        self.stacks.push(ids.clone());
        self.stack_ids.insert(ids, id);
        id
    }

    /// The frames of stack `id`, outermost first; empty for an unknown id
    /// (a hand-edited or truncated file must not panic a reader).
    pub fn frames_of(&self, id: u32) -> Vec<&Frame> {
        self.stacks
            .get(id as usize)
            .map(|s| {
                s.iter()
                    .filter_map(|&f| self.frames.get(f as usize))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The innermost frame of the program's own code (not the standard
    /// library), looking no further out than a child process's start. A
    /// forked worker's stack keeps its parent's frames down to the fork (the
    /// `Pool(2)` line under `BaseProcess._bootstrap`): the worker is not
    /// running that line, so a pool worker inside pickling or pipe code has
    /// no own frame rather than the parent's constructor.
    pub fn own_frame(&self, id: u32) -> Option<&Frame> {
        self.frames_of(id)
            .into_iter()
            .rev()
            .take_while(|f| !f.is_process_start())
            .find(|f| !f.is_stdlib())
    }

    /// The frame where the program itself was: the innermost frame that is
    /// not the standard library's lock/queue machinery (for a thread blocked in
    /// `lock.acquire()` via `threading.Condition.wait`, the caller of `wait`).
    pub fn program_frame(&self, id: u32) -> Option<&Frame> {
        let frames = self.frames_of(id);
        frames
            .iter()
            .rev()
            .find(|f| !f.is_sync_machinery())
            .or(frames.last())
            .copied()
    }
}

/// What a Python stack adds to a thread-moment's OS state. The spelling is a
/// public contract: these are keys of `diagnosis.shares` next to the OS states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PyState {
    /// On a CPU holding the GIL: running Python bytecode (or C code that kept the GIL).
    GilHeld,
    /// Blocked waiting to take the GIL.
    GilWait,
    /// On a CPU without the GIL: C code that released it (hashlib, zlib, numpy, I/O).
    NativeNogil,
    /// Blocked on an application lock: `threading.Lock/RLock/Condition`, `queue.get`.
    LockWait,
}

impl PyState {
    pub const ALL: [PyState; 4] = [
        PyState::GilHeld,
        PyState::GilWait,
        PyState::NativeNogil,
        PyState::LockWait,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PyState::GilHeld => "gil-held",
            PyState::GilWait => "gil-wait",
            PyState::NativeNogil => "native-nogil",
            PyState::LockWait => "lock-wait",
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How Python stacks were collected, and what could not be.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StackSampling {
    /// `py-spy` (the py-spy crate finds each interpreter; its stacks are read
    /// non-blocking by boundcheck's own reader for CPython 3.11–3.14 with the
    /// GIL, by py-spy for other versions).
    pub method: String,
    /// Python processes whose stacks were read.
    pub python_pids: Vec<i32>,
    /// Processes that looked like Python but could not be read, with the reason and the fix.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unavailable: BTreeMap<i32, String>,
    /// Stack reads (one per Python process per read tick).
    pub reads: u64,
    /// Reads that failed (a torn read of a changing stack, or a process that exited).
    pub failed_reads: u64,
    /// Of `reads`, those made by boundcheck's own caching reader (CPython
    /// 3.11–3.14 with the GIL); the others were py-spy's.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub own_reads: u64,
    /// Processes whose own reader failed several reads in a row and which
    /// py-spy read from then on, with the own reader's last error.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub own_reader_fallbacks: BTreeMap<i32, String>,
    /// Sampler ticks that carried stacks: stacks are read at an adaptive
    /// rate that keeps their cost under [`StackSampling::budget_share`] of a core.
    pub ticks_with_stacks: u64,
    /// Stack reads per second actually achieved.
    pub rate_hz: f64,
    /// Wall time spent reading stacks, seconds (on the sampler's thread).
    pub read_s: f64,
    /// The share of one core stack reading was allowed to use.
    pub budget_share: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fr(name: &str, file: &str, line: u32) -> Frame {
        Frame {
            name: name.into(),
            file: file.into(),
            line,
        }
    }

    #[test]
    fn a_forked_worker_s_inherited_frames_are_not_its_own_code() {
        let lib = "/usr/lib/python3.11";
        let mut t = StackTable::default();
        // Outermost first: the parent's `with Pool(2)` line down to the fork,
        // then the worker inside the pipe code.
        let inherited = [
            fr("<module>", "/app/main.py", 21),
            fr(
                "Pool.__init__",
                &format!("{lib}/multiprocessing/pool.py"),
                215,
            ),
            fr(
                "BaseProcess._bootstrap",
                &format!("{lib}/multiprocessing/process.py"),
                314,
            ),
            fr("worker", &format!("{lib}/multiprocessing/pool.py"), 114),
        ];
        let in_pipe = t.intern(inherited.iter().cloned().chain([fr(
            "Connection._recv",
            &format!("{lib}/multiprocessing/connection.py"),
            395,
        )]));
        assert_eq!(t.own_frame(in_pipe), None);
        let scoring = t.intern(
            inherited
                .iter()
                .cloned()
                .chain([fr("score", "/app/main.py", 14)]),
        );
        assert_eq!(t.own_frame(scoring).map(|f| f.line), Some(14));
        // The parent itself, calling into the pool.
        let parent = t.intern([
            fr("<module>", "/app/main.py", 22),
            fr(
                "IMapIterator.next",
                &format!("{lib}/multiprocessing/pool.py"),
                861,
            ),
        ]);
        assert_eq!(t.own_frame(parent).map(|f| f.line), Some(22));
    }
}
