//! Remedies: the ways of running the work that a diagnosis can predict and a
//! re-run can measure. The diagnosis owns the words (it predicts each one's
//! gain from the budget); `rerun/` re-exports them for its experiments.

use serde::{Deserialize, Serialize};

/// A way of running the work. The spelling is a public contract
/// (`recommendation.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The current way is as good as anything measured.
    Keep,
    /// A thread pool (for waiting, or GIL-releasing native work).
    Threads,
    /// An asyncio event loop (many waits, one thread).
    Asyncio,
    /// A process pool: one interpreter (and GIL) per worker.
    Processes,
    /// Python 3.14's `InterpreterPoolExecutor`: one GIL per subinterpreter.
    Interpreters,
    /// A free-threaded Python build (no GIL).
    FreeThreaded,
    /// Native code (Rust/C, SIMD) for the hot loop.
    Native,
    /// Bigger tasks: `chunksize` or batching for many tiny tasks.
    Batch,
    /// Hold the contended lock for less time (or split it).
    ShrinkLock,
    /// Move CPU work out of the event loop (`loop.run_in_executor`).
    Offload,
    /// A Ray cluster (`ray.util.multiprocessing.Pool`, Ray tasks): more
    /// machines when this one is saturated.
    Ray,
    /// A Dask cluster (`distributed.Client(...).get_executor()`).
    Dask,
    /// A process pool whose arguments travel through shared memory
    /// (`multiprocessing.shared_memory`) instead of being pickled.
    SharedMemory,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Keep => "keep",
            Strategy::Threads => "threads",
            Strategy::Asyncio => "asyncio",
            Strategy::Processes => "processes",
            Strategy::Interpreters => "interpreters",
            Strategy::FreeThreaded => "free-threaded",
            Strategy::Native => "native",
            Strategy::Batch => "batch",
            Strategy::ShrinkLock => "shrink-lock",
            Strategy::Offload => "offload",
            Strategy::Ray => "ray",
            Strategy::Dask => "dask",
            Strategy::SharedMemory => "shared-memory",
        }
    }

    /// A strategy word as users and `--vary` values spell it.
    pub fn parse(word: &str) -> Option<Strategy> {
        Some(match word {
            "keep" => Strategy::Keep,
            "threads" | "thread" => Strategy::Threads,
            "asyncio" | "async" => Strategy::Asyncio,
            "processes" | "process" => Strategy::Processes,
            "interpreters" | "interpreter" | "subinterpreters" => Strategy::Interpreters,
            "free-threaded" => Strategy::FreeThreaded,
            "native" => Strategy::Native,
            "batch" | "chunksize" => Strategy::Batch,
            "shrink-lock" => Strategy::ShrinkLock,
            "offload" => Strategy::Offload,
            "ray" => Strategy::Ray,
            "dask" => Strategy::Dask,
            "shared-memory" | "shm" => Strategy::SharedMemory,
            _ => return None,
        })
    }
}

impl Strategy {
    /// How much code a remedy asks a person to change, 1 (a constructor or
    /// an interpreter) to 3 (a rewrite in another language). When a remedy
    /// cannot be measured here, the cheapest one predicted to pay is
    /// recommended: a skilled engineer tries a process pool before a rewrite.
    pub fn effort(self) -> u8 {
        match self {
            Strategy::Keep => 0,
            Strategy::Threads
            | Strategy::Processes
            | Strategy::Interpreters
            | Strategy::FreeThreaded
            | Strategy::Batch
            | Strategy::ShrinkLock
            | Strategy::Offload => 1,
            Strategy::Asyncio | Strategy::Ray | Strategy::Dask | Strategy::SharedMemory => 2,
            Strategy::Native => 3,
        }
    }
}
