//! Threads grouped by name. A program with hundreds of threads (a pool of
//! 1 000 workers) would show only its ten busiest in `threads`, which hides
//! what the other 990 did; a group per thread name ("python3 ×1000: 95 %
//! sleep") says it in one line. Listed only when there are more threads than
//! the report lists one by one.

use crate::diagnose::features::ThreadFeatures;
use crate::timeline::ThreadState;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many groups the report lists.
const TOP_GROUPS: usize = 10;

/// All threads of one name, summed.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ThreadGroup {
    /// The thread name (`comm`) they share.
    pub name: String,
    /// How many threads had this name.
    pub threads: usize,
    /// Their CPU time together, seconds.
    pub cpu_s: f64,
    /// Their observed thread-time together, seconds.
    pub observed_s: f64,
    /// Fraction of their observed time in each state.
    pub shares: BTreeMap<String, f64>,
}

/// Groups by name, busiest (CPU time) first, at most [`TOP_GROUPS`].
pub fn by_name(threads: &[ThreadFeatures]) -> Vec<ThreadGroup> {
    let mut sums: BTreeMap<&str, (usize, f64, f64, [f64; 8])> = BTreeMap::new();
    for t in threads {
        let g = sums.entry(t.name.as_str()).or_default();
        g.0 += 1;
        g.1 += t.cpu_s;
        g.2 += t.observed_s;
        for (acc, v) in g.3.iter_mut().zip(t.state_s) {
            *acc += v;
        }
    }
    let mut groups: Vec<ThreadGroup> = sums
        .into_iter()
        .map(|(name, (n, cpu, observed, state_s))| ThreadGroup {
            name: name.to_string(),
            threads: n,
            cpu_s: round4(cpu),
            observed_s: round4(observed),
            shares: ThreadState::ALL
                .iter()
                .zip(state_s)
                .map(|(s, v)| {
                    let share = if observed > 0.0 { v / observed } else { 0.0 };
                    (s.as_str().to_string(), round4(share))
                })
                .collect(),
        })
        .collect();
    groups.sort_by(|a, b| b.cpu_s.total_cmp(&a.cpu_s).then(a.name.cmp(&b.name)));
    groups.truncate(TOP_GROUPS);
    groups
}

fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread(name: &str, cpu_s: f64, sleep_s: f64) -> ThreadFeatures {
        let mut t = ThreadFeatures {
            name: name.into(),
            cpu_s,
            observed_s: cpu_s + sleep_s,
            ..ThreadFeatures::default()
        };
        t.state_s[0] = cpu_s;
        t.state_s[5] = sleep_s;
        t
    }

    #[test]
    fn threads_of_one_name_are_summed_and_the_busiest_group_comes_first() {
        let mut ts: Vec<ThreadFeatures> =
            (0..1000).map(|_| thread("worker", 0.001, 0.999)).collect();
        ts.push(thread("main", 2.0, 0.0));
        let g = by_name(&ts);
        assert_eq!(g[0].name, "main");
        assert_eq!((g[1].name.as_str(), g[1].threads), ("worker", 1000));
        assert!((g[1].cpu_s - 1.0).abs() < 1e-9);
        assert_eq!(g[1].shares["sleep"], 0.999);
        assert_eq!(g[1].shares["on-cpu"], 0.001);
    }
}
