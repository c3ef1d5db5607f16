//! Native (Rust) versions of the `cpu` and `memory` workloads: the ceiling
//! that shows how far the Python strategies are from what the hardware can do
//! with the same work.
//!
//! The work mirrors `python/bcwork.py` exactly: the same units per size, the
//! same split into tasks, the same per-unit values and the same checksum
//! (sum modulo 2^61-1, printed in decimal), so a native row and a Python row
//! of the benchmark can be checked to have done the same thing.  Workloads
//! that wait (io, network, lock, sleep, async-blocked, pipeline) have no
//! native version: Rust would wait just as long.

use rayon::prelude::*;
use std::hint::black_box;
use std::time::Instant;

/// `bcwork.MOD`: per-task results are reduced modulo this, and so is the sum.
const MOD: u128 = (1 << 61) - 1;
/// `bcwork.MEM_OBJ` and `bcwork.MEM_BATCH`: 4 KiB objects, 64 MiB per batch.
const MEM_OBJ: usize = 4096;
const MEM_BATCH: u64 = 16384;
/// `run_workload.MIN_TASKS`.
const MIN_TASKS: u64 = 16;

/// Workloads with a native version.
pub const NATIVE_WORKLOADS: [&str; 2] = ["cpu", "memory"];
/// Native strategy names, a public contract.
pub const NATIVE_STRATEGIES: [&str; 3] = ["native-serial", "native-parallel", "native-simd"];

/// What a native run did: the same fields as the Python runner's JSON line.
#[derive(Debug, Clone, PartialEq)]
pub struct NativeResult {
    pub tasks: u64,
    pub wall_s: f64,
    /// Decimal, exactly as `run_workload.py` prints it for the same workload+size.
    pub checksum: String,
}

/// Run `workload` (`cpu` or `memory`) natively with `strategy`.
///
/// `workers` is the thread count of `native-parallel` (0 = one per CPU); the
/// single-threaded strategies ignore it, as the Python runner does for
/// `sequential`.  The task count follows `run_workload.py`, so the tasks
/// match the Python run with the same workers.
pub fn run(
    workload: &str,
    strategy: &str,
    workers: usize,
    size: &str,
) -> Result<NativeResult, String> {
    let units = units(workload, size)?;
    run_units(workload, strategy, workers, units)
}

/// Total units of `workload` at `size`: `run_workload.MED_UNITS` scaled by
/// `SIZE_FACTOR` (low = /4, high = x4; the med values divide by 4 exactly).
fn units(workload: &str, size: &str) -> Result<u64, String> {
    let med: u64 = match workload {
        "cpu" => 28_000_000,
        "memory" => 1_200_000,
        "io" | "network" | "lock" | "sleep" | "async-blocked" | "pipeline" => {
            return Err(format!(
                "workload '{workload}' has no native version: it spends its time waiting \
                 (disk, network, locks, timers or a blocked event loop), which native code \
                 would wait for just as long; native workloads: {}",
                NATIVE_WORKLOADS.join(", ")
            ));
        }
        "array" => {
            return Err(format!(
                "workload 'array' has no native version: it measures how numpy arrays reach \
                 a process pool's workers (pickled or in shared memory); native workloads: {}",
                NATIVE_WORKLOADS.join(", ")
            ));
        }
        _ => {
            return Err(format!(
                "unknown workload '{workload}': native workloads are {}",
                NATIVE_WORKLOADS.join(", ")
            ));
        }
    };
    match size {
        "low" => Ok(med / 4),
        "med" => Ok(med),
        "high" => Ok(med * 4),
        _ => Err(format!(
            "unknown size '{size}': choose one of low, med, high"
        )),
    }
}

/// `run` with an explicit number of units (tests use small ones).
fn run_units(
    workload: &str,
    strategy: &str,
    workers: usize,
    units: u64,
) -> Result<NativeResult, String> {
    let task: fn(u64, u64) -> u64 = match (workload, strategy) {
        ("cpu", "native-serial" | "native-parallel") => cpu_task,
        ("cpu", "native-simd") => cpu_task_simd,
        ("memory", "native-serial" | "native-parallel") => memory_task,
        ("memory", "native-simd") => {
            return Err(
                "strategy 'native-simd' does not apply to workload 'memory': its time \
                        goes to page faults and malloc, and the 4 KiB fills are already \
                        vectorised memcpy; use native-serial or native-parallel"
                    .into(),
            );
        }
        (_, s) if !NATIVE_STRATEGIES.contains(&s) => {
            return Err(format!(
                "unknown native strategy '{strategy}': choose one of {}",
                NATIVE_STRATEGIES.join(", ")
            ));
        }
        _ => return Err(format!("workload '{workload}' has no native version")),
    };
    let parallel = strategy == "native-parallel";
    let workers = match workers {
        _ if !parallel => 1,
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    // As run_workload.py: ntasks = min(units, max(MIN_TASKS, 4 * workers)).
    let ntasks = units.min(MIN_TASKS.max(4 * workers as u64));
    let slices = split(units, ntasks);

    let t0 = Instant::now(); // includes the pool start, as Python's executors do
    let results: Vec<u64> = if parallel {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .thread_name(|i| format!("bc-native-{i}"))
            .build()
            .map_err(|e| format!("cannot start {workers} native threads: {e}"))?;
        pool.install(|| slices.par_iter().map(|&(lo, hi)| task(lo, hi)).collect())
    } else {
        slices.iter().map(|&(lo, hi)| task(lo, hi)).collect()
    };
    let wall_s = t0.elapsed().as_secs_f64();

    let checksum = results.iter().map(|&r| r as u128).sum::<u128>() % MOD;
    Ok(NativeResult {
        tasks: ntasks,
        wall_s,
        checksum: checksum.to_string(),
    })
}

/// `run_workload.split`: `parts` near-equal slices [lo, hi) covering 0..total.
fn split(total: u64, parts: u64) -> Vec<(u64, u64)> {
    let (t, p) = (total as u128, parts as u128);
    (0..p)
        .map(|k| ((t * k / p) as u64, (t * (k + 1) / p) as u64))
        .collect()
}

/// `bcwork.cpu_task`: sum of i*i over [lo, hi) modulo MOD, one square at a
/// time.  u128 holds the exact sum (Python's big int) for any size here:
/// even `high` (1.1e8 units) sums to ~5e23, far below 2^128.
///
/// Each `i` goes through `black_box`: without it LLVM's induction-variable
/// analysis turns the loop into the closed form n(n+1)(2n+1)/6 (checked in
/// the release asm: a handful of multiplies, no loop), which is no ceiling
/// for anything.  The point is the arithmetic Python does, one multiply-add
/// per unit; the barrier costs a store and a load off the critical path.
fn cpu_task(lo: u64, hi: u64) -> u64 {
    let mut s: u128 = 0;
    for i in lo..hi {
        let i = black_box(i) as u128;
        s += i * i;
    }
    (s % MOD) as u64
}

/// Lanes of the vectorised loop, and numbers summed per lane-block.
const LANES: usize = 8;
const BLOCK: u64 = 1024;
/// Below this, a square is < 2^56 and a lane's 128 squares per block fit u64.
const SIMD_LIMIT: u64 = 1 << 28;

/// `cpu_task` with the same arithmetic done 8 lanes at a time: each lane
/// keeps a u64 partial sum over a block of 1024 numbers (no overflow while
/// i < 2^28: `high` stops at 1.12e8 < 2^27), and the lanes are folded into
/// the exact u128 total after each block.  Slices reaching past the limit
/// use the scalar loop.
///
/// Auto-vectorised, no intrinsics: the lane loop compiles to `pmuludq`
/// (32x32->64 multiply, which is why the lane values are u32) and `paddq`;
/// baseline x86-64 has only SSE2 (2 x 64-bit lanes), so on CPUs with AVX2
/// the same source is compiled a second time with AVX2 enabled (4 lanes per
/// register) and picked at run time.  The scalar `cpu_task` stays a `mulq`,
/// `add`/`adc` chain.  Checked with `cargo rustc --release --lib -- --emit asm`.
fn cpu_task_simd(lo: u64, hi: u64) -> u64 {
    if hi > SIMD_LIMIT {
        return cpu_task(lo, hi);
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { cpu_lanes_avx2(lo, hi) };
    }
    cpu_lanes(lo, hi)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn cpu_lanes_avx2(lo: u64, hi: u64) -> u64 {
    cpu_lanes(lo, hi)
}

/// The lane loop of `cpu_task_simd` (inlined into each target-feature copy).
#[inline(always)]
fn cpu_lanes(lo: u64, hi: u64) -> u64 {
    let mut total: u128 = 0;
    let mut a = lo;
    while a + BLOCK <= hi {
        let mut acc = [0u64; LANES];
        let mut x: [u32; LANES] = std::array::from_fn(|l| (a + l as u64) as u32);
        for _ in 0..BLOCK / LANES as u64 {
            for l in 0..LANES {
                acc[l] += x[l] as u64 * x[l] as u64;
                x[l] += LANES as u32;
            }
        }
        total += acc.iter().map(|&v| v as u128).sum::<u128>();
        a += BLOCK;
    }
    total += cpu_task(a, hi) as u128; // the last partial block
    (total % MOD) as u64
}

/// `bcwork.memory_task`: for each batch of 16384 indices, build a list of
/// fresh 4 KiB buffers (index `i` as 8 little-endian bytes, repeated), read
/// back `o[0] | o[1] << 8` (== i & 0xffff) from each, drop the batch.
///
/// Like Python's bytes objects of this size, each buffer is one malloc: the
/// 64 MiB batch is taken from the kernel and given back when dropped, so the
/// page faults that dominate the Python run are here too.  `black_box` keeps
/// LLVM from skipping the buffers and computing i & 0xffff directly.
/// Caveat (glibc, as for Python `threads`): off the main thread malloc uses
/// another arena that keeps freed memory, so `native-parallel` faults ~35x
/// less and is faster even with 1 worker; that is the allocator, not cores.
fn memory_task(lo: u64, hi: u64) -> u64 {
    let mut total: u64 = 0;
    let mut a = lo;
    while a < hi {
        let b = (a + MEM_BATCH).min(hi);
        let objs: Vec<Vec<u8>> = (a..b)
            .map(|i| i.to_le_bytes().repeat(MEM_OBJ / 8))
            .collect();
        let objs = black_box(objs);
        total += objs
            .iter()
            .map(|o| o[0] as u64 | (o[1] as u64) << 8)
            .sum::<u64>();
        drop(objs);
        a = b;
    }
    (total as u128 % MOD) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From `python3 src/workloads/python/run_workload.py --workload cpu
    /// --strategy sequential --size low` (Python 3.11; any strategy prints it).
    const PY_CPU_LOW: &str = "1347001381863496401";
    /// `memory` at low takes ~1.6 s in a debug build, so the test uses a
    /// quarter of it (75,000 units, still 16 tasks); the number is from
    /// `python3 -c "import bcwork; print(bcwork.memory_task(0, 75000))"` run in
    /// src/workloads/python (the sum is the same whatever the split).
    const PY_MEMORY_75K: &str = "2192229796";
    /// `bcwork.memory_task(10, 40000)`, same way: crosses two batch boundaries.
    const PY_MEMORY_TASK_10_40K: u64 = 799979955;

    #[test]
    fn cpu_low_matches_python_for_every_strategy() {
        for s in NATIVE_STRATEGIES {
            let r = run("cpu", s, 2, "low").unwrap();
            assert_eq!(r.checksum, PY_CPU_LOW, "{s}");
            assert_eq!(r.tasks, 16, "{s}");
        }
    }

    #[test]
    fn memory_matches_python() {
        for s in ["native-serial", "native-parallel"] {
            let r = run_units("memory", s, 2, 75_000).unwrap();
            assert_eq!(r.checksum, PY_MEMORY_75K, "{s}");
        }
        assert_eq!(memory_task(10, 40_000), PY_MEMORY_TASK_10_40K);
    }

    #[test]
    fn simd_matches_scalar_on_ragged_slices_and_at_its_limit() {
        let l = SIMD_LIMIT; // (l - 5000, l) has the biggest lane sums: overflow panics in debug
        for (lo, hi) in [(0, 0), (3, 10), (5, 5000), (l - 5000, l), (l - 9, l + 9)] {
            assert_eq!(cpu_task_simd(lo, hi), cpu_task(lo, hi), "[{lo}, {hi})");
            let h = hi.min(l); // the copy without AVX2 too, whatever the CPU
            assert_eq!(cpu_lanes(lo, h), cpu_task(lo, h), "[{lo}, {h})");
        }
    }

    #[test]
    fn task_count_follows_the_python_runner() {
        let tasks = |s, w, units| run_units("cpu", s, w, units).unwrap().tasks;
        assert_eq!(tasks("native-parallel", 8, 1000), 32);
        assert_eq!(tasks("native-serial", 8, 1000), 16);
        assert_eq!(tasks("native-serial", 1, 5), 5);
        assert_eq!(split(10, 3), vec![(0, 3), (3, 6), (6, 10)]);
    }

    #[test]
    fn waiting_and_unknown_names_are_refused_clearly() {
        let err = |w, s, z| run(w, s, 1, z).unwrap_err();
        for w in "io network lock sleep async-blocked pipeline".split(' ') {
            assert!(err(w, "native-serial", "low").contains("no native version"));
        }
        assert!(err("memory", "native-simd", "low").contains("does not apply"));
        assert!(err("cpu", "threads", "low").contains("unknown native strategy"));
        assert!(err("cpu", "native-serial", "huge").contains("unknown size"));
        assert!(err("gpu", "native-serial", "low").contains("unknown workload"));
    }
}
