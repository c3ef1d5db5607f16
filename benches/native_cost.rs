//! Cost of the perf samplers: for C and Python programs, the CPU time this
//! process spends draining the native (cpu-clock call chains) and off-CPU
//! (context switches) rings, per CPU-second of the target, and in `finish()`.
//! A benchmark, not a test: it prints figures and asserts nothing (timings on
//! a shared VM are noise).
//!
//! Usage: `cargo bench --bench native_cost` (needs `cc`:
//! scripts/install-test-tools.sh).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/native/support.rs"]
mod support;

use std::ffi::OsString;
use support::{compile, run};

fn main() {
    let (Some(hot), Some(convoy)) = (compile("hot"), compile("convoy")) else {
        return;
    };
    let _machine = common::exclusive();
    let lock_fight = common::fixture("lock_fight.py").into_os_string();
    let cases: Vec<(&str, Vec<OsString>)> = vec![
        (
            "hot 1 thread",
            vec![hot.clone().into(), "1".into(), "3".into()],
        ),
        (
            "hot 2 threads",
            vec![hot.clone().into(), "2".into(), "3".into()],
        ),
        ("hot 8 threads", vec![hot.into(), "8".into(), "3".into()]),
        (
            "convoy 4 threads",
            vec![convoy.clone().into(), "4".into(), "3".into()],
        ),
        (
            "convoy 4 threads, short hold",
            vec![convoy.into(), "4".into(), "3".into(), "200".into()],
        ),
        (
            "lock_fight.py",
            vec!["python3".into(), lock_fight, "3".into()],
        ),
    ];
    println!(
        "case | sampler | target CPU s | wall s | drain CPU ms | per target-CPU-s | finish CPU ms | events | lost"
    );
    for (name, argv) in &cases {
        for (label, native, offcpu) in [
            ("none", false, false),
            ("native", true, false),
            ("off-cpu", false, true),
        ] {
            let r = run(argv, &[], native, offcpu);
            let events = r.native.as_ref().map_or(0, |p| p.samples.len() as u64)
                + r.offcpu.as_ref().map_or(0, |p| {
                    p.threads.values().flat_map(|t| t.switches.values()).sum()
                });
            let lost =
                r.native.as_ref().map_or(0, |p| p.lost) + r.offcpu.as_ref().map_or(0, |p| p.lost);
            println!(
                "{name} | {label} | {:.3} | {:.3} | {:.1} | {:.2} % | {:.1} | {events} | {lost}",
                r.target_cpu_s,
                r.wall_s,
                r.drain_cpu_s * 1e3,
                100.0 * r.drain_cpu_s / r.target_cpu_s.max(1e-9),
                r.finish_cpu_s * 1e3,
            );
        }
    }
}
