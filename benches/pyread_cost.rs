//! What one Python stack read costs: boundcheck's own reader
//! (`sample::pyread`) against py-spy's `get_stack_traces`, on the overhead
//! benchmark's workloads (issue 16).
//!
//! A benchmark, not a test: it asserts nothing. For each workload it starts
//! the target under `python3` (or `--python P`), opens it with py-spy as the
//! sampler does, then reads its stacks in a tight loop, first with the own
//! reader (warm after its first read), then with py-spy, and prints the CPU
//! time of the reading thread per read, the wall time per read, the system
//! calls the own reader made per read and the failed reads of each.
//!
//! Usage: cargo bench --bench pyread_cost [-- --python P] [--reads N]
use boundcheck::sample::pyread::PyReader;
use py_spy::config::{LineNo, LockingStrategy};
use py_spy::{Config, PythonSpy};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// CPU time of the calling thread, seconds.
fn thread_cpu() -> f64 {
    // SAFETY: `ts` is a valid out-pointer.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Per read: CPU µs, wall µs, failed reads.
fn time(n: usize, mut read: impl FnMut() -> bool) -> (f64, f64, usize) {
    let (cpu0, t0) = (thread_cpu(), Instant::now());
    let failed = (0..n).filter(|_| !read()).count();
    let per = |s: f64| s / n as f64 * 1e6;
    (
        per(thread_cpu() - cpu0),
        per(t0.elapsed().as_secs_f64()),
        failed,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let python = opt("--python").unwrap_or_else(|| "python3".into());
    let reads: usize = opt("--reads").and_then(|n| n.parse().ok()).unwrap_or(2000);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for workload in ["gil_threads", "many_threads"] {
        let script = root.join(format!("benches/{workload}.py"));
        let mut child = Command::new(&python)
            .arg(&script)
            .arg("30")
            .stdout(Stdio::null())
            .spawn()
            .expect("the workload starts");
        // Let its threads start (the pyenv shim execs first).
        std::thread::sleep(Duration::from_millis(800));
        let config = Config {
            blocking: LockingStrategy::NonBlocking,
            lineno: LineNo::LastInstruction,
            ..Config::default()
        };
        let mut spy =
            PythonSpy::retry_new(child.id() as i32, &config, 20).expect("py-spy opens it");
        let mut own = PyReader::new(&spy).expect("CPython 3.11-3.14 with the GIL");
        let mut calls = 0;
        let (o_cpu, o_wall, o_failed) = time(reads, || {
            let ok = own.read(&[]).is_ok();
            calls += own.last_calls;
            ok
        });
        let spy_reads = reads / 4;
        let (s_cpu, s_wall, s_failed) = time(spy_reads, || spy.get_stack_traces().is_ok());
        println!(
            "{workload} ({python} {}): own reader {o_cpu:.1} us CPU, {o_wall:.1} us wall a read, {:.2} system calls, {o_failed}/{reads} failed; py-spy {s_cpu:.1} us CPU, {s_wall:.1} us wall, {s_failed}/{spy_reads} failed; load average {}",
            spy.version,
            calls as f64 / reads as f64,
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .split(' ')
                .next()
                .unwrap_or("?"),
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}
