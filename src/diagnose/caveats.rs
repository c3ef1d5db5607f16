//! Caveats: computed from what the run recorded, never guessed.

use super::features::Features;
use super::{Caveat, CaveatCode, Verdict};
use crate::timeline::Timeline;

/// The share of the CPU time without a Python stack above which the report
/// says so: below it, thread start-up and exit moments account for it.
pub const UNCOVERED_CAVEAT_SHARE: f64 = 0.2;
/// ... and the least time, seconds, for it to matter.
pub const UNCOVERED_CAVEAT_MIN_S: f64 = 0.1;

fn caveat(code: CaveatCode, message: impl Into<String>) -> Caveat {
    Caveat {
        code,
        message: message.into(),
    }
}

pub fn collect(tl: &Timeline, f: &Features, verdict: Verdict) -> Vec<Caveat> {
    let mut out = Vec::new();
    sampling(tl, f, &mut out);
    perf(tl, &mut out);
    run(tl, f, verdict, &mut out);
    out
}

/// How well the run was observed: samples, lateness, perf counters.
fn sampling(tl: &Timeline, f: &Features, out: &mut Vec<Caveat>) {
    let s = &tl.sampling;
    if f.samples < 20 {
        out.push(caveat(
            CaveatCode::FewSamples,
            format!(
                "only {} samples: the verdict rests on little data; run longer or raise --rate",
                f.samples
            ),
        ));
    }
    if tl.meta.duration_s < 1.0 {
        out.push(caveat(
            CaveatCode::ShortRun,
            format!(
                "the run lasted {:.2} s; start-up dominates runs this short",
                tl.meta.duration_s
            ),
        ));
    }
    let period = if s.requested_rate_hz > 0.0 {
        1.0 / s.requested_rate_hz
    } else {
        0.0
    };
    let wanted = s.samples + s.lost_samples;
    if wanted > 0 && (s.lost_samples as f64 / wanted as f64 > 0.05 || s.mean_late_s > 0.25 * period)
    {
        out.push(caveat(
            CaveatCode::SamplerLate,
            format!(
                "the sampler fell behind: {} of {} ticks lost, mean lateness {:.1} ms; lower --rate",
                s.lost_samples,
                wanted,
                s.mean_late_s * 1e3
            ),
        ));
    }
    match &tl.counters {
        None => out.push(caveat(
            CaveatCode::NoPerfCounters,
            "perf counters were not collected",
        )),
        Some(c) => {
            if let Some(why) = c.unavailable.get("cycles") {
                out.push(caveat(
                    CaveatCode::NoPmu,
                    format!("no cycles/instructions counters: {why}"),
                ));
            }
            if let Some(why) = c.unavailable.get("task-clock") {
                out.push(caveat(
                    CaveatCode::NoPerfCounters,
                    format!("software perf counters unavailable: {why}"),
                ));
            }
        }
    }
    if let Some(perf_cpu) = tl.counters.as_ref().and_then(|c| c.task_clock_s)
        && perf_cpu > 1.1 * f.cpu_s + 0.1
    {
        out.push(caveat(
            CaveatCode::UnsampledCpu,
            format!(
                "perf counted {perf_cpu:.2} s of CPU for the tree but the samples saw {:.2} s: processes that lived too briefly to be sampled (or ran outside the tree's /proc view) did work the verdict does not reflect",
                f.cpu_s
            ),
        ));
    }
}

/// What the perf samplers could not see: refused outright, threads they
/// could not be opened on, and (attached) everything before the attach.
fn perf(tl: &Timeline, out: &mut Vec<Caveat>) {
    if let Some(why) = tl.off_cpu.as_ref().and_then(|o| o.unavailable.as_ref()) {
        out.push(caveat(
            CaveatCode::PerfRefused,
            format!("exact off-CPU time unavailable: {why}; waits are told apart from /proc snapshots only"),
        ));
    }
    if let Some(why) = tl.native.as_ref().and_then(|n| n.unavailable.as_ref()) {
        out.push(caveat(
            CaveatCode::PerfRefused,
            format!("native stacks unavailable: {why}"),
        ));
    }
    let Some(a) = &tl.meta.attach else {
        return;
    };
    let plural = |n: u32, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut msg = format!(
        "attached to a running process ({} in {} at the attach): when those threads started and their CPU time before the attach are not in the report, and the waits they were already in count from the attach on (their reason read from the kernel function they slept in, `wchan`, not from a switch-out stack)",
        plural(a.threads_running, "thread", "threads"),
        plural(a.processes, "process", "processes"),
    );
    if a.threads_followed > 0 {
        msg.push_str(&format!(
            "; {} born while perf was being opened were opened on the next tick and may miss their first milliseconds",
            plural(a.threads_followed, "thread", "threads")
        ));
    }
    out.push(caveat(CaveatCode::AttachedMidRun, msg));
    for (why, &n) in &a.threads_missed {
        out.push(caveat(
            CaveatCode::PerfThreadsMissed,
            format!(
                "perf events could not be opened on {} ({why}): their native stacks, exact off-CPU time and counts are missing",
                plural(n as u32, "thread", "threads")
            ),
        ));
    }
}

/// What the machine, the verdict and the way the run ended mean for it.
fn run(tl: &Timeline, f: &Features, verdict: Verdict, out: &mut Vec<Caveat>) {
    let s = &tl.sampling;
    if f.cores_available < 2 {
        out.push(caveat(
            CaveatCode::SingleCore,
            "only one CPU is available to the target: serial and parallel CPU work look the same",
        ));
    }
    let delay_share = if f.span_s > 0.0 {
        f.run_delay_s / (f.span_s * f.cores_available as f64)
    } else {
        0.0
    };
    if delay_share > 0.15 {
        out.push(caveat(
            CaveatCode::CpuCompetition,
            super::competition::message(f, delay_share),
        ));
    }
    if tl.stacks.is_empty()
        && matches!(
            verdict,
            Verdict::GilContended
                | Verdict::LockContended
                | Verdict::EventLoopBlocked
                | Verdict::PoolOverhead
        )
    {
        out.push(caveat(
            CaveatCode::OsSignalsOnly,
            "decided from OS signals alone (futex addresses, syscalls, switch rates); Python stacks would confirm it and name the code",
        ));
    }
    stack_coverage(f, out);
    if let Some(st) = &tl.stack_sampling {
        for (pid, reason) in &st.unavailable {
            out.push(caveat(
                CaveatCode::NoPythonStacks,
                format!("process {pid}: {reason}"),
            ));
        }
    }
    if let Some(n) = tl.sampling.ticks_per_sample {
        out.push(caveat(
            CaveatCode::Thinned,
            format!(
                "a long run: to bound memory each recorded sample stands for {n} ticks (sums exact, time resolution 1/{n})"
            ),
        ));
    }
    if tl.meta.interrupted {
        out.push(caveat(
            CaveatCode::Interrupted,
            "the run was interrupted: the report covers only the part that ran",
        ));
    }
    // PyPy allocates its GIL's futex on the heap, where the address test
    // (docs/thread-states.md) sees an application lock: observed on PyPy 7.3
    // running fixtures/gil_threads.py, which came out lock-contended.
    if matches!(verdict, Verdict::LockContended)
        && tl.processes.iter().any(|p| p.name.starts_with("pypy"))
    {
        out.push(caveat(
            CaveatCode::PypyGil,
            "the target runs PyPy, whose GIL lives on the heap where it looks like an application lock: this lock contention may be GIL contention (Python stacks would tell them apart)",
        ));
    }
    // Key written by the live sampler (`sample::live::SYSCALL_DENIED`).
    if let Some(&n) = s.read_failures.get("syscall-denied") {
        out.push(caveat(
            CaveatCode::PtraceDenied,
            format!(
                "the kernel refused {n} reads of /proc/PID/syscall (no ptrace access to the target): blocked threads could not be told apart, so lock, disk and network waits count as `other`. Run boundcheck as the target's user, or as root with CAP_SYS_PTRACE (in a container: `docker run --cap-add SYS_PTRACE`)"
            ),
        ));
    }
    if let Some(limit) = tl.meta.timed_out_after_s {
        out.push(caveat(
            CaveatCode::TimedOut,
            format!(
                "--timeout stopped the target after {limit:.1} s: the report covers only the part that ran"
            ),
        ));
    }
    if let Some(exit) = tl.meta.exit
        && exit.shell_status() != 0
    {
        out.push(caveat(
            CaveatCode::TargetFailed,
            format!(
                "the target exited with status {}: the profile may not show its normal behaviour",
                exit.shell_status()
            ),
        ));
    }
}

/// The CPU time no stack covers, said plainly with its share, so that
/// subinterpreters' work is not read as native code (`diagnose::coverage`).
fn stack_coverage(f: &Features, out: &mut Vec<Caveat>) {
    let Some(c) = &f.coverage else { return };
    if c.uncovered_share < UNCOVERED_CAVEAT_SHARE || c.uncovered_s() < UNCOVERED_CAVEAT_MIN_S {
        return;
    }
    let pct = |s: f64| (100.0 * s / c.cpu_s).round();
    let mut parts = Vec::new();
    if c.subinterpreter_s > 0.0 {
        parts.push(format!(
            "{}% ran in subinterpreters (InterpreterPoolExecutor, concurrent.interpreters), whose frames the stack reader (py-spy) cannot see: it reads the main interpreter only, so those threads show only Interpreter._call and their time appears as native code (native-nogil, cpu-native)",
            pct(c.subinterpreter_s)
        ));
    }
    if c.no_stack_s > 0.0 {
        parts.push(format!(
            "{}% ran in threads without a Python stack (native threads, or threads of another interpreter)",
            pct(c.no_stack_s)
        ));
    }
    out.push(caveat(
        CaveatCode::StacksIncomplete,
        format!(
            "no Python stack covers {}% of the CPU time ({:.2} s of {:.2} s): {}. The hot functions and the flamegraph describe only the rest",
            pct(c.uncovered_s()),
            c.uncovered_s(),
            c.cpu_s,
            parts.join("; ")
        ),
    ));
}
