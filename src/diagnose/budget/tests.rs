//! The budget on synthetic runs: shares sum to one, and the run budget
//! follows the threads that gate the end of the run.

use super::*;
use crate::diagnose::tests::{as_python, thread, timeline};
use crate::timeline::{CoreSample, FutexSite, PyState, Resource, ThreadState, Timeline};

fn with_root(tl: Timeline) -> Timeline {
    let mut tl = as_python(tl);
    // The synthetic helper numbers threads pid * 100 + k: make thread 0 the main thread.
    for s in &mut tl.samples {
        if let Some(t) = s.threads.first_mut() {
            t.tid = 100;
        }
    }
    tl
}

fn sums_to_one(s: &Shares) -> bool {
    (s.total() - 1.0).abs() <= 0.01
}

#[test]
fn a_main_thread_parked_on_its_workers_is_charged_to_what_they_do() {
    let tl = with_root(timeline(2, |_| {
        let mut main = thread(ThreadState::LockWait, 0.0);
        main.futex = Some(FutexSite::Heap);
        main.futex_addr = Some(0x1000);
        vec![
            main,
            thread(ThreadState::OnCpu, 1.0),
            thread(ThreadState::OnCpu, 1.0),
        ]
    }));
    let b = budget(&tl, &crate::diagnose::Features::from_timeline(&tl));
    assert!(b.run.cpu() > 0.95, "{:?}", b.run);
    assert_eq!(b.gating_threads.len(), 3, "{:?}", b.gating_threads);
    let main = b
        .threads
        .iter()
        .find(|t| t.tid == 100)
        .expect("main listed");
    assert!(main.shares.parked > 0.95, "{main:?}");
    for t in &b.threads {
        assert!(sums_to_one(&t.shares), "{t:?}");
    }
    assert!(sums_to_one(&b.run) && sums_to_one(&b.all_threads));
}

#[test]
fn a_busy_helper_does_not_make_a_waiting_program_cpu_bound() {
    let tl = with_root(timeline(2, |_| {
        let mut main = thread(ThreadState::NetWait, 0.0);
        main.syscall = Some("recvfrom");
        main.waits_on = Some(Resource::InetSocket);
        vec![main, thread(ThreadState::OnCpu, 1.0)]
    }));
    let b = budget(&tl, &crate::diagnose::Features::from_timeline(&tl));
    assert!(b.run.network > 0.95, "{:?}", b.run);
    assert!(
        b.all_threads.cpu() > 0.4,
        "the helper is busy: {:?}",
        b.all_threads
    );
    assert_eq!(b.gating_threads, vec![100]);
    assert_eq!(
        crate::diagnose::diagnose(&tl).verdict,
        crate::diagnose::Verdict::IoNetwork
    );
}

#[test]
fn threads_that_only_wait_for_work_make_an_idle_run() {
    let tl = with_root(timeline(2, |_| {
        let parked = || {
            let mut t = thread(ThreadState::LockWait, 0.0);
            t.futex = Some(FutexSite::Heap);
            t
        };
        let mut main = thread(ThreadState::Sleep, 0.0);
        main.syscall = Some("clock_nanosleep");
        vec![main, parked(), parked(), parked()]
    }));
    let b = budget(&tl, &crate::diagnose::Features::from_timeline(&tl));
    assert!(b.run.sleep + b.run.parked > 0.95, "{:?}", b.run);
    assert_eq!(
        crate::diagnose::diagnose(&tl).verdict,
        crate::diagnose::Verdict::Idle
    );
}

#[test]
fn exact_cpu_seconds_set_the_on_cpu_share_whatever_the_samples_say() {
    // Seen running at every tick, but with only half a core of CPU time: the
    // other half is waiting (here: in the states it was never sampled in).
    let tl = timeline(1, |_| vec![thread(ThreadState::OnCpu, 0.5)]);
    let b = budget(&tl, &crate::diagnose::Features::from_timeline(&tl));
    let t = &b.threads[0];
    assert!((t.shares.cpu() - 0.5).abs() < 0.01, "{:?}", t.shares);
    assert!(sums_to_one(&t.shares));
}

#[test]
fn a_main_thread_polling_its_workers_is_charged_to_them_but_a_long_sleep_is_its_own() {
    let run = |naps_per_s: u64| {
        let tl = with_root(timeline(2, |_| {
            let mut main = thread(ThreadState::Sleep, 0.0);
            main.syscall = Some("clock_nanosleep");
            main.switches_per_s = naps_per_s;
            vec![
                main,
                thread(ThreadState::OnCpu, 1.0),
                thread(ThreadState::OnCpu, 1.0),
            ]
        }));
        budget(&tl, &crate::diagnose::Features::from_timeline(&tl))
    };
    // `while not done: time.sleep(0.01)`: 100 naps a second.
    let polling = run(100);
    assert!(polling.run.cpu() > 0.95, "{:?}", polling.run);
    assert_eq!(polling.gating_threads.len(), 3);
    // `time.sleep(2)` while helpers spin: the run is the sleep.
    let sleeping = run(1);
    assert!(sleeping.run.sleep > 0.95, "{:?}", sleeping.run);
    assert_eq!(sleeping.gating_threads, vec![100]);
}

#[test]
fn on_cpu_moments_without_a_stack_read_split_as_the_read_ones_do() {
    // One thread on the CPU all run; a stack read on every third tick only
    // (the adaptive rate). Read moments: all native without the GIL (a
    // hashlib loop), then one in four. The unread moments follow them.
    let run = |native_every: usize| {
        let mut tl = with_root(timeline(2, |_| vec![thread(ThreadState::OnCpu, 1.0)]));
        let mut read = 0;
        for (i, s) in tl.samples.iter_mut().enumerate() {
            if i % 3 == 0 {
                let t = &mut s.threads[0];
                t.stack = Some(0);
                t.py = Some(if read % native_every == 0 {
                    PyState::NativeNogil
                } else {
                    PyState::GilHeld
                });
                read += 1;
            }
        }
        budget(&tl, &crate::diagnose::Features::from_timeline(&tl))
    };
    let all_native = run(1);
    assert!(all_native.run.cpu_native > 0.95, "{:?}", all_native.run);
    let quarter = run(4);
    let share = quarter.run.cpu_native / (quarter.run.cpu_native + quarter.run.cpu_python);
    assert!((share - 0.25).abs() < 0.05, "{share}: {:?}", quarter.run);
    assert!(sums_to_one(&quarter.run), "{:?}", quarter.run);
}

/// A one-thread run: on a CPU (70 % of it in the kernel) except on the
/// ticks `disk_tick` picks, spent waiting on the disk.
fn kernel_heavy(disk_tick: impl Fn(usize) -> bool) -> Budget {
    let mut tl = with_root(timeline(2, |i| {
        if disk_tick(i) {
            vec![thread(ThreadState::DiskWait, 0.0)]
        } else {
            vec![thread(ThreadState::OnCpu, 1.0)]
        }
    }));
    for t in tl.samples.iter_mut().flat_map(|s| s.threads.iter_mut()) {
        t.sys_s = t.cpu_s * 0.7;
    }
    budget(&tl, &crate::diagnose::Features::from_timeline(&tl))
}

#[test]
fn a_syncing_threads_kernel_cpu_is_the_disks_but_a_single_disk_wait_changes_little() {
    // Half its time in fsync, its CPU mostly the filesystem's: storage.
    let syncing = kernel_heavy(|i| i % 2 == 0);
    assert!(syncing.run.disk > 0.8, "{:?}", syncing.run);
    // A buffer-churning loop (kernel CPU = page zeroing) whose only wait was
    // one `D` page fault: still CPU, not a storage thread.
    let churning = kernel_heavy(|i| i == 100);
    assert!(churning.run.cpu() > 0.95, "{:?}", churning.run);
    assert!(churning.run.disk < 0.02, "{:?}", churning.run);
}

/// Four threads taking turns on one lock on 2 cores while another program
/// keeps both CPUs busy: at each tick one holds the lock on a CPU, two were
/// woken and queue for a CPU, one waits on the lock. `involuntary` is their
/// share of involuntary switches.
fn convoy_under_load(involuntary: bool) -> Timeline {
    let mut tl = with_root(timeline(2, |i| {
        let mut main = thread(ThreadState::LockWait, 0.0);
        main.futex = Some(FutexSite::Heap);
        main.futex_addr = Some(0x1000);
        let mut ts = vec![main];
        for k in 0..4 {
            let t = match (i + k) % 4 {
                0 => thread(ThreadState::OnCpu, 1.0),
                1 | 2 => thread(ThreadState::Runnable, 0.0),
                _ => {
                    let mut w = thread(ThreadState::LockWait, 0.0);
                    w.futex = Some(FutexSite::Heap);
                    w.futex_addr = Some(0x2000);
                    w
                }
            };
            ts.push(t);
        }
        ts
    }));
    for s in &mut tl.samples {
        s.cores = vec![
            CoreSample {
                user: 1.0,
                ..CoreSample::default()
            };
            2
        ];
        for t in &mut s.threads {
            if t.state == ThreadState::Runnable {
                t.os_state = 'R';
                t.run_delay_s = s.interval_s;
            }
            if t.tid != 100 {
                (t.vol_switches, t.invol_switches) = if involuntary { (1, 9) } else { (9, 1) };
            }
        }
    }
    tl
}

#[test]
fn a_convoy_s_woken_waiters_queued_behind_another_program_stay_lock_waits() {
    let tl = convoy_under_load(false);
    let f = crate::diagnose::Features::from_timeline(&tl);
    let b = budget(&tl, &f);
    assert!(b.run.lock_wait > b.run.run_queue, "{:?}", b.run);
    // 1 core of CPU and 2 of queueing; the woken waiters' delay in ticks
    // where the other program held half the busy CPUs counts half.
    assert!(
        (f.cores_wanted() - 2.1).abs() < 0.05,
        "{}",
        f.cores_wanted()
    );
    assert_eq!(
        crate::diagnose::diagnose(&tl).verdict,
        crate::diagnose::Verdict::LockContended
    );
    for t in &b.threads {
        assert!(sums_to_one(&t.shares), "{t:?}");
    }
    // Threads preempted while running (CPU-bound, mostly involuntary
    // switches) queue for CPUs they want: that stays run-queue time.
    let tl = convoy_under_load(true);
    let f = crate::diagnose::Features::from_timeline(&tl);
    let b = budget(&tl, &f);
    assert!(b.run.run_queue > b.run.lock_wait, "{:?}", b.run);
    assert!(f.cores_wanted() > 2.8, "{}", f.cores_wanted());
}
