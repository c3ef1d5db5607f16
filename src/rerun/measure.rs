//! Measuring one run of a command: wall time (launch to exit, taken by a
//! thread blocked in `waitid`, not by the sampler's coarse ticks), CPU time
//! of the whole tree (`wait4` rusage covers every descendant the target
//! reaped) and peak memory of the whole tree (a light sampler sums the
//! processes' peak RSS) and the bytes the tree wrote (`wchar`, read from the
//! exited but not yet reaped root, whose count includes every child it
//! reaped). The child runs in its own process group with stdin
//! from /dev/null, so a hung run is killed with all it started.

use super::RunResult;
use crate::sample::{self, Recording, SamplerSettings};
use crate::target::{self, LaunchOptions, signals};
use crate::timeline::ExitInfo;
use std::ffi::OsString;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What to run and how.
pub struct MeasureSpec<'a> {
    pub argv: &'a [OsString],
    pub env: &'a [(OsString, OsString)],
    /// Pin to these CPUs.
    pub cpus: Option<Vec<usize>>,
    /// Keep the run's stdout here (else /dev/null).
    pub stdout: Option<&'a Path>,
    /// Keep the run's stderr here, to explain a failure.
    pub stderr: &'a Path,
    /// Kill the run (and its process group) after this long.
    pub timeout: Duration,
    /// Sampling rate of the tree while it runs.
    pub rate_hz: f64,
}

/// One measured run.
pub struct Measured {
    pub result: RunResult,
    pub exit: ExitInfo,
    /// What the sampler saw, for a diagnosis of the run.
    pub recording: Recording,
}

/// Run one command to completion and measure it.
pub fn measure(spec: &MeasureSpec) -> Result<Measured, String> {
    let (argv, env, timeout) = (spec.argv, spec.env, spec.timeout);
    let stdout = match spec.stdout {
        Some(p) => File::create(p).ok(),
        None => File::create("/dev/null").ok(),
    };
    let opts = LaunchOptions {
        stdout,
        stderr: File::create(spec.stderr).ok(),
        cpus: spec.cpus.clone(),
        detached: true,
    };
    let start = Instant::now();
    let child = target::launch_with(argv, env, &opts, |_| {}).map_err(|e| e.to_string())?;
    let exited = AtomicBool::new(false);
    let killed = AtomicBool::new(false);
    let timed_out = AtomicBool::new(false);
    let mut end = start;
    let rec = std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            child.wait_exited();
            let t = Instant::now();
            exited.store(true, Ordering::SeqCst);
            t
        });
        let settings = SamplerSettings {
            rate_hz: spec.rate_hz,
            attach: false,
            stacks: false,
        };
        let pid = child.pid();
        let done = || {
            let over = start.elapsed() > timeout;
            if !killed.load(Ordering::SeqCst) && (over || signals::received().is_some()) {
                // A hung run (or Ctrl-C): end it with everything it started.
                timed_out.store(over, Ordering::SeqCst);
                killed.store(true, Ordering::SeqCst);
                // SAFETY: the child leads its own process group (`detached`).
                unsafe { libc::kill(-pid, libc::SIGKILL) };
            }
            exited.load(Ordering::SeqCst)
        };
        let rec = sample::record(pid, settings, start, done, |_| {});
        end = waiter.join().unwrap_or_else(|_| Instant::now());
        rec
    });
    // Exited, not yet reaped: its counts are final and still readable.
    let written_bytes = written_bytes(child.pid());
    let (exit, cpu_s) = child.wait_rusage();
    // Orphans of a killed run (pool workers) were adopted by us as subreaper:
    // reap whatever has exited so no zombies pile up over many runs.
    // SAFETY: non-blocking waits for our own children.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
    if timed_out.load(Ordering::SeqCst) {
        return Err(format!(
            "timed out after {:.0} s and was killed",
            timeout.as_secs_f64()
        ));
    }
    let sampled_peak = rec
        .samples
        .iter()
        .map(|s| s.tree_rss_bytes)
        .max()
        .unwrap_or(0);
    let summed_peaks: u64 = rec.processes.iter().map(|p| p.peak_rss_bytes).sum();
    Ok(Measured {
        result: RunResult {
            wall_s: end.duration_since(start).as_secs_f64(),
            cpu_s,
            peak_rss_bytes: sampled_peak.max(summed_peaks),
            exit_status: exit.shell_status(),
            written_bytes,
            children: Some(super::judge::lasting_children(&rec.processes)),
        },
        exit,
        recording: rec,
    })
}

/// Bytes written by a process and the children it reaped (`wchar` of
/// `/proc/PID/io`): every write to a file, pipe, socket or terminal. Read
/// it after the process exited and before it is reaped, when the count is
/// final. `None` when the kernel does not say (no task I/O accounting).
pub fn written_bytes(pid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    parse_wchar(&text)
}

fn parse_wchar(io: &str) -> Option<u64> {
    io.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn wchar_is_read_from_proc_io_text() {
        let text = "rchar: 10\nwchar: 100000\nsyscr: 0\nsyscw: 100\nwrite_bytes: 0\n";
        assert_eq!(super::parse_wchar(text), Some(100_000));
        assert_eq!(super::parse_wchar("rchar: 1\n"), None);
    }
}
