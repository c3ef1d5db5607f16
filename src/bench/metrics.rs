//! The arithmetic of a benchmark cell: pure functions on fixed inputs.
//!
//! Definitions (also in `docs/benchmarks.md`):
//! - **speedup** = median wall of the workload's baseline ÷ median wall of the
//!   cell (baseline: Python `sequential` for Python strategies and the native
//!   strategies alike, so a native cell shows how far Python is from the hardware);
//! - **parallel speedup** = median wall of the cell's own serial counterpart ÷
//!   the cell's (Python strategies vs Python sequential, native-parallel and
//!   native-simd vs native-serial): what running in parallel bought;
//! - **CPU efficiency** = CPU time ÷ (wall × workers): how busy the workers were;
//! - **efficiency** = parallel speedup ÷ min(workers, cores): how close to ideal;
//! - **throughput** = tasks ÷ median wall.
//!
//! Physics: CPU-bound work cannot run more than `cores` times faster in
//! parallel than serially on `cores` CPUs. A parallel speedup above the core
//! count (with 5 % tolerance for noise) gets a warning, which explains
//! itself for waiting workloads (overlapped waits are not CPU work).

use crate::rerun::stats::Summary;

/// Tolerance above the core count before physics objects.
pub const PHYSICS_TOLERANCE: f64 = 1.05;

/// Workloads whose time is mostly waiting: overlapping waits can beat the core count.
pub fn is_waiting_workload(workload: &str) -> bool {
    matches!(workload, "io" | "network" | "sleep" | "lock" | "pipeline")
}

/// Workers a strategy really uses (sequential and the serial native run use one).
pub fn effective_workers(strategy: &str, workers: usize) -> usize {
    match strategy {
        // SIMD is data parallelism within one core: one worker.
        // numba compiles the loop, it does not spread it: one worker.
        "sequential" | "native-serial" | "native-simd" | "asyncio" | "numba" => 1,
        _ => workers.max(1),
    }
}

/// The serial counterpart a strategy's parallel speedup is measured against.
pub fn serial_counterpart(strategy: &str) -> &'static str {
    match strategy {
        "native-parallel" | "native-simd" | "native-serial" => "native-serial",
        // Its gain is the compiler's, shown by `speedup` over sequential
        // Python; as parallelism it is its own serial run.
        "numba" => "numba",
        _ => "sequential",
    }
}

/// Figures of one cell from its runs and its baselines' medians.
#[derive(Debug, Clone, PartialEq)]
pub struct CellFigures {
    pub wall: Summary,
    pub cpu_s: f64,
    pub throughput_per_s: Option<f64>,
    pub cpu_efficiency: f64,
    pub speedup: Option<f64>,
    pub parallel_speedup: Option<f64>,
    pub efficiency: Option<f64>,
    pub warning: Option<String>,
}

/// Compute a cell's figures.
#[allow(clippy::too_many_arguments)]
pub fn figures(
    workload: &str,
    strategy: &str,
    workers: usize,
    cores: usize,
    walls: &[f64],
    cpus: &[f64],
    tasks: Option<u64>,
    baseline_median: Option<f64>,
    serial_median: Option<f64>,
) -> Option<CellFigures> {
    let wall = Summary::of(walls)?;
    let cpu_s = Summary::of(cpus).map_or(0.0, |s| s.median);
    let w = effective_workers(strategy, workers);
    let ratio = |base: Option<f64>| base.filter(|_| wall.median > 0.0).map(|b| b / wall.median);
    let parallel_speedup = ratio(serial_median);
    let limit = w.min(cores.max(1)) as f64;
    // The core-count bound is about several cores; SIMD gains come from one
    // core doing more per instruction, so they are not checked against it.
    let checked = parallel_speedup.filter(|_| strategy != "native-simd");
    let warning = checked.filter(|&s| s > cores as f64 * PHYSICS_TOLERANCE).map(|s| {
        if is_waiting_workload(workload) {
            format!(
                "{workload}/{strategy}: {s:.2}x over its serial run on {cores} cores: possible only because the work is mostly waiting, and waits overlap"
            )
        } else if workload == "memory" {
            format!(
                "{workload}/{strategy}: {s:.2}x over its serial run on {cores} cores: not parallelism alone: off the main thread glibc's per-thread malloc arenas keep freed pages, so the run page-faults far less than the serial one"
            )
        } else {
            format!(
                "{workload}/{strategy}: {s:.2}x over its serial run on {cores} cores is more than the cores allow for CPU work: check the workload (caching, less work done) or the measurement"
            )
        }
    });
    Some(CellFigures {
        wall,
        cpu_s,
        throughput_per_s: tasks
            .filter(|_| wall.median > 0.0)
            .map(|t| t as f64 / wall.median),
        cpu_efficiency: if wall.median > 0.0 {
            cpu_s / (wall.median * w as f64)
        } else {
            0.0
        },
        speedup: ratio(baseline_median),
        parallel_speedup,
        efficiency: parallel_speedup
            .filter(|_| strategy != "native-simd")
            .map(|s| s / limit),
        warning,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_on_fixed_inputs() {
        // Sequential 4 s; processes with 2 workers: 2.2 s wall, 4.3 s CPU, 40 tasks.
        let f = figures(
            "cpu",
            "processes",
            2,
            2,
            &[2.1, 2.2, 2.4],
            &[4.2, 4.3, 4.4],
            Some(40),
            Some(4.0),
            Some(4.0),
        )
        .unwrap();
        assert_eq!(f.wall.median, 2.2);
        assert!((f.speedup.unwrap() - 4.0 / 2.2).abs() < 1e-12);
        assert!((f.efficiency.unwrap() - 4.0 / 2.2 / 2.0).abs() < 1e-12);
        assert!((f.cpu_efficiency - 4.3 / (2.2 * 2.0)).abs() < 1e-12);
        assert!((f.throughput_per_s.unwrap() - 40.0 / 2.2).abs() < 1e-12);
        assert!(f.warning.is_none());
    }

    #[test]
    fn physics_warns_above_the_core_count_and_explains_waiting_workloads() {
        let cpu = figures(
            "cpu",
            "threads",
            8,
            2,
            &[1.0],
            &[1.0],
            None,
            Some(4.0),
            Some(4.0),
        )
        .unwrap();
        assert!(cpu.warning.unwrap().contains("more than the cores allow"));
        let net = figures(
            "network",
            "threads",
            8,
            2,
            &[1.0],
            &[0.1],
            None,
            Some(4.0),
            Some(4.0),
        )
        .unwrap();
        assert!(net.warning.unwrap().contains("waits overlap"));
        // Within 5 % of the core count: noise, no warning.
        let ok = figures(
            "cpu",
            "processes",
            2,
            2,
            &[2.0],
            &[4.0],
            None,
            Some(4.1),
            Some(4.1),
        )
        .unwrap();
        assert!(ok.warning.is_none());
    }

    #[test]
    fn native_is_compared_with_python_and_with_its_own_serial_run() {
        // Python sequential 4 s, native serial 0.2 s, native parallel 0.11 s.
        let f = figures(
            "cpu",
            "native-parallel",
            2,
            2,
            &[0.11],
            &[0.21],
            None,
            Some(4.0),
            Some(0.2),
        )
        .unwrap();
        assert!(
            f.speedup.unwrap() > 30.0,
            "far faster than Python: not a physics violation"
        );
        assert!(
            f.warning.is_none(),
            "the physics check uses the serial counterpart"
        );
        assert!((f.parallel_speedup.unwrap() - 0.2 / 0.11).abs() < 1e-12);
        assert_eq!(serial_counterpart("native-simd"), "native-serial");
        // SIMD on one core may beat the core count: no physics warning, no efficiency.
        let simd = figures(
            "cpu",
            "native-simd",
            2,
            2,
            &[0.05],
            &[0.05],
            None,
            Some(4.0),
            Some(0.2),
        )
        .unwrap();
        assert!(simd.warning.is_none() && simd.efficiency.is_none());
        let mem = figures(
            "memory",
            "threads",
            2,
            2,
            &[1.0],
            &[1.0],
            None,
            Some(4.0),
            Some(4.0),
        )
        .unwrap();
        assert!(mem.warning.unwrap().contains("malloc arenas"));
        assert_eq!(effective_workers("sequential", 8), 1);
    }

    #[test]
    fn no_runs_no_figures() {
        assert!(figures("cpu", "threads", 2, 2, &[], &[], None, None, None).is_none());
    }
}
