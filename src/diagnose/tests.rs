//! Rules on synthetic timelines: each verdict from the figures that define it.
//! (Recorded timelines of real programs are replayed in `tests/replay.rs`.)

use super::{Verdict, diagnose};
use crate::timeline::*;

/// A thread's behaviour at every tick of a synthetic run.
#[derive(Clone)]
pub(crate) struct Pattern {
    pub(crate) pid: i32,
    pub(crate) state: ThreadState,
    /// CPU seconds per second of wall time.
    pub(crate) cpu: f64,
    pub(crate) syscall: Option<&'static str>,
    pub(crate) futex: Option<FutexSite>,
    pub(crate) waits_on: Option<Resource>,
    pub(crate) switches_per_s: u64,
    pub(crate) futex_addr: Option<u64>,
    pub(crate) watched_sockets: Option<u32>,
}

pub(crate) fn thread(state: ThreadState, cpu: f64) -> Pattern {
    Pattern {
        pid: 100,
        state,
        cpu,
        syscall: None,
        futex: None,
        waits_on: None,
        switches_per_s: 0,
        futex_addr: None,
        watched_sockets: None,
    }
}

/// 200 ticks of 10 ms on `cores` CPUs, each thread following its pattern
/// (a pattern list per tick-parity lets threads alternate).
pub(crate) fn timeline(cores: usize, per_tick: impl Fn(usize) -> Vec<Pattern>) -> Timeline {
    let dt = 0.01;
    let samples = (0..200)
        .map(|i| {
            let pats = per_tick(i);
            Sample {
                t_s: i as f64 * dt,
                interval_s: dt,
                processes: pats
                    .iter()
                    .map(|p| p.pid)
                    .collect::<std::collections::BTreeSet<_>>()
                    .len() as u32,
                threads: pats
                    .iter()
                    .enumerate()
                    .map(|(k, p)| ThreadSample {
                        pid: p.pid,
                        tid: p.pid * 100 + k as i32,
                        state: p.state,
                        os_state: if p.state == ThreadState::OnCpu {
                            'R'
                        } else {
                            'S'
                        },
                        cpu_s: p.cpu * dt,
                        syscall: p.syscall.map(str::to_string),
                        futex: p.futex,
                        waits_on: p.waits_on,
                        futex_addr: p.futex_addr,
                        watched_sockets: p.watched_sockets,
                        // Switch counters arrive every 10th tick, like the live sampler's.
                        vol_switches: if i % 10 == 0 {
                            p.switches_per_s / 10
                        } else {
                            0
                        },
                        ..ThreadSample::default()
                    })
                    .collect(),
                ..Sample::default()
            }
        })
        .collect();
    Timeline {
        format: "boundcheck-timeline".into(),
        schema_version: TIMELINE_SCHEMA_VERSION,
        meta: RunMeta {
            command: vec!["synthetic".into()],
            mode: RunMode::Launch,
            workload: None,
            started_at: "2026-01-01T00:00:00Z".into(),
            duration_s: 2.0,
            exit: Some(ExitInfo {
                code: Some(0),
                signal: None,
            }),
            interrupted: false,
            timed_out_after_s: None,
            host: Host::default(),
            cores_available: cores,
            python_version: None,
            attach: None,
        },
        sampling: SamplingStats {
            requested_rate_hz: 100.0,
            samples: 200,
            ..SamplingStats::default()
        },
        counters: None,
        processes: Vec::new(),
        threads: Vec::new(),
        samples,
        stacks: Default::default(),
        stack_sampling: None,
        native: None,
        off_cpu: None,
    }
}

/// Mark the synthetic run's process 100 as a Python interpreter, the
/// launched process (its CPU is then Python CPU, as for a real `python3`).
pub(crate) fn as_python(mut tl: Timeline) -> Timeline {
    tl.processes = vec![ProcessInfo {
        pid: 100,
        ppid: 1,
        name: "python3".into(),
        cmdline: Vec::new(),
        first_seen_s: 0.0,
        last_seen_s: 2.0,
        peak_rss_bytes: 0,
        read_bytes: 0,
        write_bytes: 0,
        written_chars: 0,
        write_calls: 0,
    }];
    tl
}

fn verdict(tl: &Timeline) -> Verdict {
    diagnose(tl).verdict
}

#[test]
fn one_busy_thread_on_two_cores_is_cpu_serial() {
    let tl = timeline(2, |_| vec![thread(ThreadState::OnCpu, 1.0)]);
    assert_eq!(verdict(&tl), Verdict::CpuSerial);
}

#[test]
fn two_busy_processes_are_cpu_parallel() {
    let tl = timeline(2, |_| {
        let mut b = thread(ThreadState::OnCpu, 1.0);
        b.pid = 101;
        vec![thread(ThreadState::OnCpu, 1.0), b]
    });
    assert_eq!(verdict(&tl), Verdict::CpuParallel);
}

#[test]
fn threads_taking_turns_on_the_interpreter_futex_are_gil_contended() {
    let tl = timeline(2, |i| {
        (0..4)
            .map(|k| {
                if (i + k) % 4 == 0 {
                    thread(ThreadState::OnCpu, 1.0)
                } else {
                    let mut w = thread(ThreadState::LockWait, 0.0);
                    w.syscall = Some("futex");
                    w.futex = Some(FutexSite::Interpreter);
                    w.switches_per_s = 200;
                    w
                }
            })
            .collect()
    });
    let d = diagnose(&tl);
    assert_eq!(d.verdict, Verdict::GilContended, "{:?}", d.evidence);
    assert!(
        d.caveats
            .iter()
            .any(|c| c.code == super::CaveatCode::OsSignalsOnly)
    );
}

#[test]
fn a_producer_that_waits_for_the_gil_to_feed_one_busy_consumer_leaves_it_cpu_serial() {
    // Thread 1 runs Python every tick; thread 2 waits for the GIL 80 % of
    // its ticks and runs briefly on the others (a few % CPU): its waits are
    // the holder's switch interval, not demand for a CPU.
    let pair = |producer_cpu: f64| {
        timeline(2, move |i| {
            let mut producer = if i % 5 == 0 {
                thread(ThreadState::OnCpu, producer_cpu)
            } else {
                thread(ThreadState::LockWait, 0.0)
            };
            if producer.state == ThreadState::LockWait {
                producer.syscall = Some("futex");
                producer.futex = Some(FutexSite::Interpreter);
            }
            vec![thread(ThreadState::OnCpu, 1.0), producer]
        })
    };
    let d = diagnose(&pair(0.1));
    assert_eq!(d.verdict, Verdict::CpuSerial, "{:?}", d.evidence);
    // The same waits beside a CPU share like the other thread's: a convoy.
    let d = diagnose(&pair(1.0));
    assert_eq!(d.verdict, Verdict::GilContended, "{:?}", d.evidence);
    let wanting = d
        .evidence
        .iter()
        .find(|e| e.rule == "threads_wanting_cpu")
        .map(|e| e.observed);
    assert!(wanting.is_none_or(|w| w >= 2.0), "{:?}", d.evidence);
}

#[test]
fn heap_futex_shared_by_threads_is_lock_contended_but_own_conditions_are_parked() {
    let lock = |shared: bool| {
        move |i: usize| {
            (0..4)
                .map(|k| {
                    if (i + k).is_multiple_of(4) {
                        thread(ThreadState::Sleep, 0.0)
                    } else {
                        let mut w = thread(ThreadState::LockWait, 0.0);
                        w.syscall = Some("futex");
                        w.futex = Some(FutexSite::Heap);
                        // One lock for all, or a condition of each thread's own.
                        w.futex_addr = Some(if shared {
                            0x5000
                        } else {
                            0x5000 + k as u64 * 64
                        });
                        w
                    }
                })
                .collect()
        }
    };
    assert_eq!(verdict(&timeline(2, lock(true))), Verdict::LockContended);
    // Each thread parked on a condition of its own: not contention; the sleeping remains.
    assert_eq!(verdict(&timeline(2, lock(false))), Verdict::Idle);
}

#[test]
fn waits_classes_pick_io_and_idle_verdicts() {
    let disk = timeline(2, |_| vec![thread(ThreadState::DiskWait, 0.05)]);
    assert_eq!(verdict(&disk), Verdict::IoDisk);
    let net = timeline(2, |_| vec![thread(ThreadState::NetWait, 0.02)]);
    assert_eq!(verdict(&net), Verdict::IoNetwork);
    let sleep = timeline(2, |_| vec![thread(ThreadState::Sleep, 0.0)]);
    assert_eq!(verdict(&sleep), Verdict::Idle);
}

#[test]
fn no_dominant_class_is_mixed_with_all_shares() {
    let tl = timeline(2, |i| {
        vec![match i % 3 {
            0 => thread(ThreadState::OnCpu, 1.0),
            1 => thread(ThreadState::DiskWait, 0.0),
            _ => thread(ThreadState::NetWait, 0.0),
        }]
    });
    let d = diagnose(&tl);
    assert_eq!(d.verdict, Verdict::Mixed, "{:?}", d.evidence);
    assert_eq!(d.shares.len(), 8, "every state has a share");
    let sum: f64 = d.shares.values().sum();
    assert!((sum - 1.0).abs() < 1e-9);
}

#[test]
fn loop_thread_polling_between_long_cpu_stretches_is_event_loop_blocked() {
    // 200 ms on CPU, then one tick in epoll_wait, repeated.
    let tl = timeline(2, |i| {
        if i % 21 == 20 {
            let mut p = thread(ThreadState::Sleep, 0.0);
            p.syscall = Some("epoll_wait");
            vec![p]
        } else {
            vec![thread(ThreadState::OnCpu, 1.0)]
        }
    });
    assert_eq!(verdict(&tl), Verdict::EventLoopBlocked);
}

#[test]
fn too_few_samples_is_mixed_with_low_confidence_and_caveats() {
    let mut tl = timeline(2, |_| vec![thread(ThreadState::OnCpu, 1.0)]);
    tl.samples.truncate(2);
    tl.meta.duration_s = 0.02;
    let d = diagnose(&tl);
    assert_eq!(d.verdict, Verdict::Mixed);
    assert!(d.confidence <= 0.1);
    let codes: Vec<&str> = d.caveats.iter().map(|c| c.code.as_str()).collect();
    assert!(
        codes.contains(&"few-samples") && codes.contains(&"short-run"),
        "{codes:?}"
    );
}

#[test]
fn verdict_spelling_is_the_public_contract() {
    let all = [
        (Verdict::CpuSerial, "cpu-serial"),
        (Verdict::CpuParallel, "cpu-parallel"),
        (Verdict::GilContended, "gil-contended"),
        (Verdict::LockContended, "lock-contended"),
        (Verdict::IoDisk, "io-disk"),
        (Verdict::IoNetwork, "io-network"),
        (Verdict::MemoryBound, "memory-bound"),
        (Verdict::Idle, "idle"),
        (Verdict::EventLoopBlocked, "event-loop-blocked"),
        (Verdict::PoolOverhead, "pool-overhead"),
        (Verdict::Mixed, "mixed"),
    ];
    for (v, s) in all {
        assert_eq!(v.as_str(), s);
        assert_eq!(serde_json::to_value(v).unwrap(), s);
    }
}

#[test]
fn an_attach_says_what_perf_could_not_see() {
    let mut tl = timeline(2, |_| vec![thread(ThreadState::OnCpu, 1.0)]);
    let codes = |tl: &Timeline| -> Vec<&'static str> {
        diagnose(tl)
            .caveats
            .iter()
            .map(|c| c.code.as_str())
            .collect()
    };
    assert!(!codes(&tl).contains(&"attached-mid-run"));
    tl.meta.mode = crate::timeline::RunMode::Attach;
    tl.meta.attach = Some(crate::timeline::AttachCoverage {
        processes: 1,
        threads_running: 3,
        threads_followed: 1,
        threads_missed: [("permission denied".to_string(), 2)].into(),
    });
    tl.off_cpu = Some(crate::timeline::OffCpuProfile::unavailable(
        "perf events not permitted".into(),
    ));
    let d = diagnose(&tl);
    let says = |code: &str| {
        d.caveats
            .iter()
            .find(|c| c.code.as_str() == code)
            .map(|c| c.message.clone())
            .unwrap_or_else(|| panic!("no {code}: {:?}", d.caveats))
    };
    assert!(says("attached-mid-run").contains("3 threads in 1 process at the attach"));
    assert!(says("attached-mid-run").contains("1 thread born while perf was being opened"));
    assert!(says("perf-threads-missed").contains("2 threads (permission denied)"));
    assert!(says("perf-refused").contains("exact off-CPU time unavailable"));
}
