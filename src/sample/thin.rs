//! Bounded memory for long runs: thin the recorded samples instead of
//! growing without end.
//!
//! Every sample is kept until the report is written, so a 10-minute run of
//! 20 threads at 100 Hz would hold 1.2 million thread-samples (≈ 230 MiB,
//! extrapolated from a measured 150 s run). Once the run holds more than [`MAX_THREAD_SAMPLES`], adjacent
//! samples are merged pairwise and from then on each kept sample stands for
//! twice as many ticks (and again each time the cap is reached). Merging
//! keeps every *sum* exact — CPU time, kernel time, run-queue delay,
//! switches, faults and the interval a sample weighs — and keeps the later
//! tick's observed state, which is the same as sampling states at half the
//! rate: the state shares stay unbiased, only the time resolution drops. The
//! timeline records the factor (`sampling.ticks_per_sample`) and the report
//! carries a `thinned` caveat.
//!
//! Why not spool samples to disk and stream the figures: diagnosis,
//! flamegraphs, the HTML charts and the exports all read a `Timeline` in
//! memory; thinning bounds memory without changing that seam, at the price
//! of resolution on very long runs.

use crate::timeline::Sample;
use std::collections::HashMap;

/// Thread-samples kept in memory at most (≈ 200 bytes each).
pub const MAX_THREAD_SAMPLES: usize = 150_000;

/// Collects samples, thinning them when they pass the cap.
pub struct Thinner {
    cap: usize,
    /// Ticks each kept sample stands for.
    stride: u64,
    /// Ticks merged into `pending` so far.
    merged: u64,
    pending: Option<Sample>,
    thread_samples: usize,
}

impl Thinner {
    pub fn new(cap: usize) -> Self {
        Thinner {
            cap: cap.max(1),
            stride: 1,
            merged: 0,
            pending: None,
            thread_samples: 0,
        }
    }

    /// Ticks each kept sample stands for.
    pub fn stride(&self) -> u64 {
        self.stride
    }

    /// Add one tick's sample.
    pub fn push(&mut self, samples: &mut Vec<Sample>, sample: Sample) {
        let merged = match self.pending.take() {
            Some(earlier) => merge(earlier, sample),
            None => sample,
        };
        self.merged += 1;
        if self.merged < self.stride {
            self.pending = Some(merged);
            return;
        }
        self.merged = 0;
        self.thread_samples += merged.threads.len();
        samples.push(merged);
        if self.thread_samples > self.cap {
            halve(samples);
            samples.shrink_to_fit();
            self.stride *= 2;
            self.thread_samples = samples.iter().map(|s| s.threads.len()).sum();
        }
    }

    /// Keep a partly merged last sample.
    pub fn finish(mut self, samples: &mut Vec<Sample>) {
        if let Some(p) = self.pending.take() {
            samples.push(p);
        }
    }
}

/// Merge neighbours pairwise: (0,1), (2,3), …; an odd last one stays.
fn halve(samples: &mut Vec<Sample>) {
    let old = std::mem::take(samples);
    let mut it = old.into_iter();
    while let Some(a) = it.next() {
        samples.push(match it.next() {
            Some(b) => merge(a, b),
            None => a,
        });
    }
}

/// One sample standing for both ticks: the later one's moment and states,
/// both intervals' sums.
fn merge(earlier: Sample, mut later: Sample) -> Sample {
    let (a, b) = (earlier.interval_s, later.interval_s);
    let total = a + b;
    if total > 0.0 && later.cores.len() == earlier.cores.len() {
        let mix = |l: f32, e: f32| ((l as f64 * b + e as f64 * a) / total) as f32;
        for (l, e) in later.cores.iter_mut().zip(&earlier.cores) {
            l.user = mix(l.user, e.user);
            l.system = mix(l.system, e.system);
            l.idle = mix(l.idle, e.idle);
            l.iowait = mix(l.iowait, e.iowait);
            l.steal = mix(l.steal, e.steal);
        }
    }
    later.interval_s = total;
    later.late_s = later.late_s.max(earlier.late_s);
    later.failed_reads += earlier.failed_reads;
    let index: HashMap<i32, usize> = later
        .threads
        .iter()
        .enumerate()
        .map(|(i, t)| (t.tid, i))
        .collect();
    for t in earlier.threads {
        match index.get(&t.tid) {
            Some(&i) => {
                let l = &mut later.threads[i];
                l.cpu_s += t.cpu_s;
                l.sys_s += t.sys_s;
                l.run_delay_s += t.run_delay_s;
                l.vol_switches += t.vol_switches;
                l.invol_switches += t.invol_switches;
                l.minor_faults += t.minor_faults;
            }
            // A thread that ended between the two ticks keeps its last
            // moment, so its CPU time is not lost.
            None => later.threads.push(t),
        }
    }
    later
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{ThreadSample, ThreadState};

    fn tick(i: usize, threads: usize) -> Sample {
        Sample {
            t_s: i as f64 * 0.01,
            interval_s: 0.01,
            threads: (0..threads)
                .map(|t| ThreadSample {
                    pid: 1,
                    tid: t as i32,
                    state: if i.is_multiple_of(2) {
                        ThreadState::OnCpu
                    } else {
                        ThreadState::Sleep
                    },
                    cpu_s: 0.001,
                    vol_switches: 1,
                    ..ThreadSample::default()
                })
                .collect(),
            ..Sample::default()
        }
    }

    #[test]
    fn memory_stays_under_the_cap_and_every_sum_is_kept() {
        let (ticks, threads, cap) = (10_000, 5, 2_000);
        let mut thinner = Thinner::new(cap);
        let mut kept = Vec::new();
        for i in 0..ticks {
            thinner.push(&mut kept, tick(i, threads));
            let held: usize = kept.iter().map(|s| s.threads.len()).sum();
            assert!(held <= cap + threads, "{held} thread-samples held");
        }
        let stride = thinner.stride();
        thinner.finish(&mut kept);
        assert!(stride >= 16, "stride {stride}");
        let interval: f64 = kept.iter().map(|s| s.interval_s).sum();
        assert!((interval - ticks as f64 * 0.01).abs() < 1e-6, "{interval}");
        let cpu: f64 = kept.iter().flat_map(|s| &s.threads).map(|t| t.cpu_s).sum();
        assert!(
            (cpu - (ticks * threads) as f64 * 0.001).abs() < 1e-6,
            "{cpu}"
        );
        let switches: u64 = kept
            .iter()
            .flat_map(|s| &s.threads)
            .map(|t| t.vol_switches)
            .sum();
        assert_eq!(switches, (ticks * threads) as u64);
    }

    #[test]
    fn a_thread_seen_only_in_the_dropped_tick_keeps_its_cpu() {
        let mut a = tick(0, 1);
        a.threads[0].tid = 99;
        let b = tick(1, 1);
        let m = merge(a, b);
        assert_eq!(m.threads.len(), 2);
        assert!((m.interval_s - 0.02).abs() < 1e-12);
    }
}
