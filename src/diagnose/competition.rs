//! Who made the threads wait for a CPU: the `cpu-competition` caveat's
//! message. Run-queue delay (schedstat) is the same number whether other
//! programs took the cores or the program's own runnable threads
//! outnumbered them; the program's mean demand for CPUs tells the two apart.

use super::features::{Features, index};
use crate::timeline::ThreadState;

/// Mean number of the program's threads that wanted a CPU (running or
/// runnable; a GIL waiter sleeps and takes no core) over the run.
pub fn own_cpu_demand(f: &Features) -> f64 {
    if f.span_s <= 0.0 {
        return 0.0;
    }
    let wanting = f.state_s[index(ThreadState::OnCpu)] + f.state_s[index(ThreadState::Runnable)];
    wanting / f.span_s
}

/// The caveat's text for a run whose threads waited `delay_share` of its
/// core-time in the run queue.
pub fn message(f: &Features, delay_share: f64) -> String {
    let demand = own_cpu_demand(f);
    let waited = format!(
        "threads waited {:.0} % of core-time for a CPU",
        delay_share * 100.0
    );
    if demand > f.cores_available as f64 {
        format!(
            "{waited}: the program itself kept {demand:.1} threads runnable on average for {} cores, so they queued for each other (not a sign of other load)",
            f.cores_available
        )
    } else {
        format!(
            "{waited}: other programs competed for the machine (the program itself wanted {demand:.1} of {} cores on average)",
            f.cores_available
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(on_cpu_s: f64, runnable_s: f64, span_s: f64, cores: usize) -> Features {
        let mut f = Features {
            span_s,
            cores_available: cores,
            ..Features::default()
        };
        f.state_s[index(ThreadState::OnCpu)] = on_cpu_s;
        f.state_s[index(ThreadState::Runnable)] = runnable_s;
        f
    }

    #[test]
    fn more_runnable_threads_than_cores_is_the_program_s_own_queue() {
        // 4 busy threads on 2 cores for 10 s: 20 s on CPU, 20 s runnable.
        let m = message(&features(20.0, 20.0, 10.0, 2), 0.5);
        assert!(
            m.contains("the program itself kept 4.0 threads runnable"),
            "{m}"
        );
        assert!(!m.contains("other programs competed"), "{m}");
    }

    #[test]
    fn one_thread_that_waited_blames_other_programs() {
        // One thread on 2 cores that still waited: someone else had the cores.
        let m = message(&features(6.0, 3.0, 10.0, 2), 0.2);
        assert!(m.contains("other programs competed"), "{m}");
        assert!(m.contains("wanted 0.9 of 2 cores"), "{m}");
    }
}
