//! Predictions on synthetic runs whose best remedy is not in doubt.

use crate::diagnose::tests::{as_python, thread, timeline};
use crate::diagnose::{Strategy, diagnose};
use crate::timeline::{FutexSite, Resource, ThreadState};

fn first(tl: &crate::timeline::Timeline) -> (Strategy, f64) {
    let d = diagnose(tl);
    let p = &d.predictions[0];
    (p.strategy, p.predicted_speedup)
}

fn speedup(tl: &crate::timeline::Timeline, s: Strategy) -> f64 {
    diagnose(tl)
        .predictions
        .iter()
        .find(|p| p.strategy == s)
        .map(|p| p.predicted_speedup)
        .expect("every strategy is predicted")
}

/// `n` threads on two cores taking turns on the CPU, one tick each, the
/// others waiting on a futex at `site` (the GIL, or one lock on the heap).
fn taking_turns(n: usize, site: FutexSite) -> crate::timeline::Timeline {
    timeline(2, move |i| {
        (0..n)
            .map(|k| {
                if k == i % n {
                    thread(ThreadState::OnCpu, 1.0)
                } else {
                    let mut t = thread(ThreadState::LockWait, 0.0);
                    t.futex = Some(site);
                    if site == FutexSite::Heap {
                        t.futex_addr = Some(0xbeef);
                    }
                    t
                }
            })
            .collect()
    })
}

#[test]
fn four_threads_sharing_one_gil_on_two_cores_gain_about_two_from_processes() {
    let tl = as_python(taking_turns(4, FutexSite::Interpreter));
    let (s, x) = first(&tl);
    assert_eq!(s, Strategy::Processes);
    assert!((1.7..=2.0).contains(&x), "{x}");
    assert!(speedup(&tl, Strategy::Threads) < 1.1);
    assert_eq!(diagnose(&tl).remedy, Strategy::Processes);
}

#[test]
fn a_program_already_using_both_cores_is_predicted_no_gain_but_native() {
    let tl = timeline(2, |_| {
        let mut b = thread(ThreadState::OnCpu, 1.0);
        b.pid = 101;
        vec![thread(ThreadState::OnCpu, 1.0), b]
    });
    assert!(speedup(&tl, Strategy::Processes) < 1.1);
    assert!(speedup(&tl, Strategy::FreeThreaded) < 1.1);
    assert_eq!(
        diagnose(&tl).remedy,
        Strategy::Keep,
        "native is an estimate, not a remedy"
    );
}

#[test]
fn one_thread_waiting_on_sockets_gains_from_overlapping_waits() {
    let tl = timeline(2, |_| {
        let mut t = thread(ThreadState::NetWait, 0.05);
        t.syscall = Some("recvfrom");
        t.waits_on = Some(Resource::InetSocket);
        vec![t]
    });
    let d = diagnose(&tl);
    assert_eq!(d.remedy, Strategy::Threads);
    assert!(speedup(&tl, Strategy::Threads) >= 3.0);
    assert!(speedup(&tl, Strategy::Asyncio) >= 3.0);
    assert!(speedup(&tl, Strategy::Processes) < 1.1);
}

#[test]
fn an_event_loop_with_many_requests_in_flight_gains_nothing_from_more_overlap() {
    // One thread in epoll, the whole run: with one socket watched it is one
    // wait at a time (overlapping pays); with ten, ten requests are in
    // flight already (an asyncio.gather) and neither asyncio nor threads
    // overlap them further.
    let loop_waiting = |sockets: u32| {
        timeline(2, move |_| {
            let mut t = thread(ThreadState::NetWait, 0.05);
            t.syscall = Some("epoll_wait");
            t.waits_on = Some(Resource::InetSocket);
            t.watched_sockets = Some(sockets);
            vec![t]
        })
    };
    let one = loop_waiting(1);
    assert!(speedup(&one, Strategy::Asyncio) >= 3.0);
    let ten = loop_waiting(10);
    assert!(speedup(&ten, Strategy::Asyncio) < 1.1);
    assert!(speedup(&ten, Strategy::Threads) < 1.1);
    assert_eq!(diagnose(&ten).remedy, Strategy::Keep);
}

#[test]
fn threads_queueing_on_one_lock_are_told_to_shrink_it() {
    let tl = taking_turns(3, FutexSite::Heap);
    let d = diagnose(&tl);
    assert_eq!(d.remedy, Strategy::ShrinkLock, "{:?}", d.predictions);
    assert!(speedup(&tl, Strategy::ShrinkLock) >= 1.5);
}

#[test]
fn a_lock_held_around_python_work_is_not_worth_shrinking_but_worth_splitting() {
    // The same convoy, but the holder runs Python: with the lock shrunk the
    // waiters would wait for the GIL instead (measured on a held-out
    // histogram: 2.1 s as-is, 2.3 s shrunk). Workers with their own part
    // of the state run it in parallel.
    let tl = as_python(taking_turns(3, FutexSite::Heap));
    let d = diagnose(&tl);
    assert!(
        speedup(&tl, Strategy::ShrinkLock) < 1.1,
        "{:?}",
        d.predictions
    );
    assert_eq!(d.remedy, Strategy::Processes, "{:?}", d.predictions);
    assert!(speedup(&tl, Strategy::Processes) >= 1.5);
}

#[test]
fn children_run_one_after_another_are_not_already_spread_over_processes() {
    // The parent waits for one busy child at a time (`sort`, then `gzip`,
    // file after file): a sequential program, whose children could run side
    // by side (measured on a held-out script: 1.45x with two at once).
    let in_turn = timeline(2, |i| {
        let mut parent = thread(ThreadState::ChildWait, 0.0);
        parent.syscall = Some("wait4");
        let mut child = thread(ThreadState::OnCpu, 1.0);
        child.pid = 101 + (i / 50) as i32;
        vec![parent, child]
    });
    let d = diagnose(&in_turn);
    assert_eq!(d.remedy, Strategy::Processes, "{:?}", d.predictions);
    assert!(speedup(&in_turn, Strategy::Processes) >= 1.5);
    // Two children busy at once on two cores: already spread.
    let side_by_side = timeline(2, |i| {
        let mut parent = thread(ThreadState::ChildWait, 0.0);
        parent.syscall = Some("wait4");
        let (mut a, mut b) = (
            thread(ThreadState::OnCpu, 1.0),
            thread(ThreadState::OnCpu, 1.0),
        );
        a.pid = 101 + (i / 50) as i32;
        b.pid = 201 + (i / 50) as i32;
        vec![parent, a, b]
    });
    assert!(speedup(&side_by_side, Strategy::Processes) < 1.1);
}

#[test]
fn every_strategy_but_keep_gets_a_prediction_with_an_ordered_range() {
    let tl = timeline(2, |_| vec![thread(ThreadState::OnCpu, 1.0)]);
    let d = diagnose(&tl);
    assert_eq!(d.predictions.len(), 10);
    for p in &d.predictions {
        assert!(
            p.low <= p.predicted_speedup && p.predicted_speedup <= p.high,
            "{p:?}"
        );
        assert!(!p.basis.is_empty());
    }
}

#[test]
fn interpreters_are_only_worth_a_change_on_python_3_14() {
    use crate::diagnose::predict::worth_changing_code;
    let p = crate::diagnose::Prediction {
        strategy: Strategy::Interpreters,
        predicted_speedup: 1.9,
        low: 1.4,
        high: 2.0,
        basis: String::new(),
        effort: 1,
        needs_code_change: false,
    };
    assert!(!worth_changing_code(&p, Some("3.11.7")));
    assert!(worth_changing_code(&p, Some("3.14.1")));
    assert!(!worth_changing_code(&p, None));
}

fn corpus(name: &str) -> crate::timeline::Timeline {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/timelines/corpus")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).expect("a recorded corpus timeline");
    serde_json::from_str(&text).expect("a timeline")
}

fn prediction(tl: &crate::timeline::Timeline, s: Strategy) -> crate::diagnose::Prediction {
    diagnose(tl)
        .predictions
        .into_iter()
        .find(|p| p.strategy == s)
        .expect("every strategy is predicted")
}

/// A recorded pool that sends 8 MiB blocks to its workers: the copying is
/// per byte, so shared memory is predicted to pay and bigger tasks are not.
#[test]
fn a_pool_pickling_large_arguments_is_predicted_to_gain_from_shared_memory() {
    let tl = corpus("procpool_big_payloads");
    let shm = prediction(&tl, Strategy::SharedMemory);
    assert!(
        shm.predicted_speedup >= super::WORTH_PREDICTED && shm.low >= super::WORTH_LOW,
        "{shm:?}"
    );
    assert!(shm.basis.contains("KiB per write"), "{}", shm.basis);
    let batch = prediction(&tl, Strategy::Batch);
    assert!(
        batch.predicted_speedup < shm.predicted_speedup,
        "chunksize moves the same bytes: {batch:?}"
    );
    // Without the bytes per write (a timeline recorded before they were
    // kept) nothing tells large messages from tiny ones: no claim.
    let mut unread = tl.clone();
    for p in &mut unread.processes {
        p.written_chars = 0;
        p.write_calls = 0;
    }
    assert_eq!(
        prediction(&unread, Strategy::SharedMemory).predicted_speedup,
        1.0
    );
}

/// A pool of tiny tasks copies little per task: its machinery is per task
/// (batch), never shared memory.
#[test]
fn a_pool_of_tiny_tasks_is_not_told_shared_memory() {
    for name in ["procpool_submit_tiny", "mp_imap_tiny", "apply_async_tiny"] {
        let mut tl = corpus(name);
        // As a live run records it now: a few hundred bytes per write.
        for p in &mut tl.processes {
            p.written_chars = 300 * 1000;
            p.write_calls = 1000;
        }
        let d = diagnose(&tl);
        let shm = d
            .predictions
            .iter()
            .find(|p| p.strategy == Strategy::SharedMemory)
            .unwrap();
        assert_eq!(shm.predicted_speedup, 1.0, "{name}: {shm:?}");
        assert_eq!(d.remedy, Strategy::Batch, "{name}");
    }
}

/// GIL hand-offs (a thread on a CPU without the GIL inside locking code)
/// are neither dispatch nor work: however many a run catches, a pool of
/// tiny tasks stays `pool-overhead` and is told to batch.
#[test]
fn gil_hand_offs_do_not_dilute_a_pools_dispatch_share() {
    use crate::timeline::PyState;
    let mut tl = corpus("threadpool_tiny");
    let handoff = (0..tl.stacks.stacks.len() as u32)
        .find(|&id| {
            tl.stacks
                .frames_of(id)
                .last()
                .is_some_and(|f| f.is_sync_machinery())
        })
        .expect("a stack in threading code");
    let read: usize = tl
        .samples
        .iter()
        .flat_map(|s| &s.threads)
        .filter(|t| t.state == ThreadState::OnCpu && t.stack.is_some())
        .count();
    // As many hand-offs again as the recorded on-CPU stacks, on on-CPU
    // moments that had none.
    let mut added = 0;
    for t in tl.samples.iter_mut().flat_map(|s| s.threads.iter_mut()) {
        if added < read && t.state == ThreadState::OnCpu && t.stack.is_none() {
            t.stack = Some(handoff);
            t.py = Some(PyState::NativeNogil);
            added += 1;
        }
    }
    assert!(added >= read / 2, "{added} of {read}");
    let d = diagnose(&tl);
    assert_eq!(d.verdict, crate::diagnose::Verdict::PoolOverhead);
    assert_eq!(d.remedy, Strategy::Batch);
}

/// Native code makes Python faster, not the kernel: a loop whose CPU is
/// mostly page faults and zeroing fresh buffers is not promised 9x, a
/// pure-Python loop still is.
#[test]
fn native_code_is_not_predicted_to_speed_up_the_kernel() {
    let churn = prediction(&corpus("frame_buffers"), Strategy::Native);
    assert!(churn.predicted_speedup < 2.0, "{churn:?}");
    assert!(churn.basis.contains("kernel time"), "{}", churn.basis);
    let pure = prediction(&corpus("prime_count"), Strategy::Native);
    assert!(pure.predicted_speedup > 5.0, "{pure:?}");
}

#[test]
fn a_batch_basis_names_only_the_parts_the_run_has() {
    use super::formulas::batch_basis;
    let fsync_only = batch_basis(0.0, 0.0, 0.8);
    assert!(
        fsync_only.starts_with("fsync waits 80 %") && !fsync_only.contains("pool"),
        "{fsync_only}"
    );
    let pool_only = batch_basis(1.2, 0.3, 0.0);
    assert!(
        pool_only.contains("pool machinery") && !pool_only.contains("fsync"),
        "{pool_only}"
    );
}

/// A recorded asyncio job whose gathered coroutines make blocking
/// `http.client` calls: the loop is blocked in `recv` inside its steps, so
/// moving the calls to threads overlaps them (not a CPU spread over two
/// cores), and that is the cheap change; gathering needs an async client.
#[test]
fn a_loop_blocked_in_calls_is_told_to_offload_them_where_they_overlap() {
    let tl = corpus("async_blocking_requests");
    let offload = prediction(&tl, Strategy::Offload);
    assert!(offload.predicted_speedup > 3.0, "{offload:?}");
    assert!(offload.basis.contains("asyncio.to_thread"), "{offload:?}");
    assert_eq!(prediction(&tl, Strategy::Asyncio).effort, 2);
    assert_eq!(first(&tl).0, Strategy::Offload);
}

/// A loop that awaits its requests one by one gathers them cheaply.
#[test]
fn a_loop_awaiting_one_request_at_a_time_is_told_to_gather_them() {
    let tl = corpus("asyncio_sequential_client");
    assert_eq!(prediction(&tl, Strategy::Asyncio).effort, 1);
    assert_eq!(prediction(&tl, Strategy::Threads).effort, 2);
    assert_eq!(first(&tl).0, Strategy::Asyncio);
}

#[test]
fn calls_through_a_manager_stay_on_threads_and_need_batching_by_hand() {
    // A process pool whose tasks append every record to a Manager().list():
    // moving the pool onto threads keeps the Manager and its round trips
    // (before, they counted as the pool's dispatch: threads 14x predicted,
    // 0.96x and 1.16x measured), the Manager's server runs beside the
    // threads in its own process, and a bigger chunksize leaves the
    // per-item calls.
    let tl = corpus("manager_list_collect");
    let threads = prediction(&tl, Strategy::Threads);
    assert!(threads.predicted_speedup < 1.5, "{threads:?}");
    assert!(threads.low < 1.0, "not worth a change: {threads:?}");
    assert!(
        threads.basis.contains("Manager's proxies stay"),
        "{}",
        threads.basis
    );
    let batch = prediction(&tl, Strategy::Batch);
    assert!(batch.predicted_speedup >= 3.0, "{batch:?}");
    assert!(batch.needs_code_change, "{}", batch.basis);
    // A pool of tiny tasks without a Manager: a bigger chunksize tests it.
    let tiny = corpus("mp_imap_tiny");
    assert!(!prediction(&tiny, Strategy::Batch).needs_code_change);
}
