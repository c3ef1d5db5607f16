//! What the program waits on, and how many waits it has in flight: the
//! inputs of the overlap formulas (threads, asyncio, offload).

use super::super::budget::Budget;
use super::super::features::Features;
use super::formulas::{flush_wait, gating_loop};
use crate::timeline::{ThreadState, Timeline};

/// A gating asyncio loop blocked inside its own steps (in calls on sockets,
/// sleeps or the disk) at least this share of its time waits in blocking
/// calls, not awaits: gathering them needs another client library, a
/// restructuring like moving awaits onto threads, where
/// `asyncio.to_thread` moves them as they are.
pub const LOOP_BLOCKING_CALLS_SHARE: f64 = 0.25;

/// Whether the program's event loop waits in blocking calls (see
/// [`LOOP_BLOCKING_CALLS_SHARE`]).
pub(super) fn loop_blocks_in_calls(f: &Features, b: &Budget) -> bool {
    gating_loop(f, b)
        .is_some_and(|(long, blocked, disk)| long * (blocked + disk) >= LOOP_BLOCKING_CALLS_SHARE)
}

/// Whether the launched process's main thread runs an event loop: asyncio
/// frames in its stack, or (without stacks) waits in `epoll`.
pub(super) fn runs_event_loop(tl: &Timeline, f: &Features) -> bool {
    let Some(root) = tl.processes.first().map(|p| p.pid) else {
        return false;
    };
    if let Some(py) = &f.py {
        return py.loops.contains_key(&root);
    }
    f.threads
        .iter()
        .any(|t| t.tid == root && t.epoll_samples >= 2)
}

/// Mean concurrent network and disk waiters of the program itself (over
/// ticks with at least one), and the share of disk waits that are flushes.
///
/// Only the launched process's threads count: a test or development server
/// the program started as a child waits on sockets too (in `accept`, or in
/// `epoll` between requests), but its waits are the far end's, not the
/// program's own concurrency. An event loop's one thread counts as many
/// waits as the network sockets its `poll`/`epoll` watches (requests in
/// flight: `watched_sockets`), and as one when that was not recorded.
pub(super) fn waiters(tl: &Timeline) -> (f64, f64, f64) {
    let root = tl.processes.first().map(|p| p.pid);
    let own = |t: &&crate::timeline::ThreadSample| root.is_none_or(|r| t.pid == r);
    let (mut net, mut net_ticks, mut disk, mut disk_ticks) = (0.0, 0.0, 0.0, 0.0);
    let (mut fsync, mut known) = (0.0, 0.0);
    for s in &tl.samples {
        let net_waiting: Vec<_> = s
            .threads
            .iter()
            .filter(own)
            .filter(|t| t.state == ThreadState::NetWait)
            .collect();
        let n: f64 = net_waiting
            .iter()
            .map(|t| f64::from(t.watched_sockets.unwrap_or(1).max(1)))
            .sum();
        let d: Vec<_> = s
            .threads
            .iter()
            .filter(own)
            .filter(|t| t.state == ThreadState::DiskWait)
            .collect();
        if n > 0.0 {
            net += n;
            net_ticks += 1.0;
        }
        if !d.is_empty() {
            disk += d.len() as f64;
            disk_ticks += 1.0;
            for t in &d {
                match flush_wait(t) {
                    Some(true) => {
                        fsync += 1.0;
                        known += 1.0;
                    }
                    Some(false) => known += 1.0,
                    None => {}
                }
            }
        }
    }
    let mean = |a: f64, n: f64| if n > 0.0 { a / n } else { 0.0 };
    (
        mean(net, net_ticks),
        mean(disk, disk_ticks),
        mean(fsync, known),
    )
}
