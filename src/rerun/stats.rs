//! Statistics of repeated runs: one file, pure functions.
//!
//! Method (also in `docs/rerun.md`):
//! - each strategy's runs are summarised by **median** and **min–max** (few
//!   runs, skewed noise: no means, no standard deviations);
//! - **speedup** = median wall time of the as-is runs ÷ median of the candidate's;
//! - a win is **significant** when a one-sided exact **Mann-Whitney U** test
//!   says the candidate's times are smaller with p ≤ [`ALPHA`]. It assumes
//!   nothing about the noise's shape, which on shared VMs is far from normal.
//!   With 3 runs each, p ≤ 0.05 is reached only when every candidate run beats
//!   every as-is run (p = 1/20): a deliberately strict bar for few runs;
//! - a loss is **significantly slower** by the same test the other way
//!   round, so a clear slowdown is labelled as such, not as "not significant";
//! - the smallest p a test of n1 vs n2 runs can reach is [`min_p_value`]
//!   (1 / C(n1 + n2, n1)): a report prints it beside p, so `p = 0.05` with
//!   3 vs 3 runs reads as "as sure as 3 runs can be", not as a weak result;
//! - the spread is **wide** when max/min of a strategy exceeds [`WIDE_SPREAD`]:
//!   the machine is noisy and `--runs` should be raised.

/// Significance level of the one-sided test.
pub const ALPHA: f64 = 0.05;
/// max/min ratio above which a strategy's runs are called noisy.
pub const WIDE_SPREAD: f64 = 1.25;

/// Decimals to print run times with: three below 0.1 s, so that a 10 ms
/// program's spread reads `0.010–0.013 s` and not `0.01–0.01 s`; two above.
pub fn decimals(median_s: f64) -> usize {
    if median_s < 0.1 { 3 } else { 2 }
}

/// Median and range of one strategy's runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    /// `None` for no values (or any NaN).
    pub fn of(xs: &[f64]) -> Option<Summary> {
        if xs.is_empty() || xs.iter().any(|x| x.is_nan()) {
            return None;
        }
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Summary {
            n,
            median,
            min: v[0],
            max: v[n - 1],
        })
    }

    /// Whether the runs disagree by more than [`WIDE_SPREAD`].
    pub fn is_wide(&self) -> bool {
        self.min > 0.0 && self.max / self.min > WIDE_SPREAD
    }
}

/// One-sided exact Mann-Whitney U test: the probability, if both samples
/// came from one distribution, of the candidate looking at least this much
/// smaller. Ties count one half. Exact by counting rank arrangements, which
/// is cheap for the handful of runs a re-run makes (≤ 30 per side).
pub fn mann_whitney_less(candidate: &[f64], baseline: &[f64]) -> f64 {
    let (m, n) = (candidate.len(), baseline.len());
    if m == 0 || n == 0 {
        return 1.0;
    }
    // U = number of (candidate, baseline) pairs where the candidate is faster.
    let u: f64 = candidate
        .iter()
        .map(|c| {
            baseline
                .iter()
                .map(|b| {
                    if c < b {
                        1.0
                    } else if c == b {
                        0.5
                    } else {
                        0.0
                    }
                })
                .sum::<f64>()
        })
        .sum();
    // Distribution of U under the null: counts[k] = arrangements with U = k,
    // by the recurrence over the largest value's origin.
    // The CLI caps --runs at 30, which keeps this table small (31 x 31 x 901).
    let counts = u_distribution(m.min(30), n.min(30));
    let total: f64 = counts.iter().sum();
    // Half-integers (ties) sit between two integers: count from the lower
    // one, the conservative side (a tie never makes a win look surer).
    let threshold = u.floor() as usize;
    let at_least: f64 = counts.iter().skip(threshold).sum();
    (at_least / total).clamp(0.0, 1.0)
}

/// Frequencies of U ∈ 0..=m·n for samples of sizes m and n.
fn u_distribution(m: usize, n: usize) -> Vec<f64> {
    // f[i][j] = distribution for sizes (i, j), as a vector over U.
    let mut f: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); n + 1]; m + 1];
    for i in 0..=m {
        for j in 0..=n {
            f[i][j] = if i == 0 || j == 0 {
                vec![1.0]
            } else {
                let mut d = vec![0.0; i * j + 1];
                // Largest value from the candidate side: it beats no baseline value.
                for (k, c) in f[i - 1][j].iter().enumerate() {
                    d[k] += c;
                }
                // Largest from the baseline side: every candidate beats it.
                for (k, c) in f[i][j - 1].iter().enumerate() {
                    d[k + i] += c;
                }
                d
            };
        }
    }
    std::mem::take(&mut f[m][n])
}

/// The smallest p-value a one-sided exact Mann-Whitney test of `n1` vs
/// `n2` runs can give (complete separation): 1 / C(n1 + n2, n1). `None`
/// when either side has no runs.
pub fn min_p_value(n1: usize, n2: usize) -> Option<f64> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    // C(n1 + n2, k) built up multiplicatively stays exact in f64 for the
    // sizes a re-run makes (≤ 30 per side: C(60, 30) ≈ 1.2e17).
    let k = n1.min(n2);
    let mut c = 1.0_f64;
    for i in 1..=k {
        c = c * (n1 + n2 - k + i) as f64 / i as f64;
    }
    Some(1.0 / c)
}

/// A candidate strategy against the as-is runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Median as-is time ÷ median candidate time (> 1 is faster).
    pub speedup: f64,
    /// One-sided Mann-Whitney p-value that the candidate is faster.
    pub p_value: f64,
    /// `p_value <= ALPHA`.
    pub significant: bool,
    /// One-sided Mann-Whitney p-value that the candidate is slower.
    pub p_value_slower: f64,
    /// `p_value_slower <= ALPHA`.
    pub significant_slower: bool,
    /// The smallest p these run counts allow ([`min_p_value`]).
    pub min_p_value: f64,
}

pub fn compare(baseline: &[f64], candidate: &[f64]) -> Option<Verdict> {
    let b = Summary::of(baseline)?;
    let c = Summary::of(candidate)?;
    if c.median <= 0.0 {
        return None;
    }
    let p = mann_whitney_less(candidate, baseline);
    // Slower is the same test with the roles swapped: the baseline's times
    // being the smaller ones.
    let p_slower = mann_whitney_less(baseline, candidate);
    Some(Verdict {
        speedup: b.median / c.median,
        p_value: p,
        significant: p <= ALPHA,
        p_value_slower: p_slower,
        significant_slower: p_slower <= ALPHA,
        min_p_value: min_p_value(b.n, c.n).unwrap_or(1.0),
    })
}

/// Amdahl's law solved for the parallel fraction: with speedup `s` on `n`
/// cores, `p = (1 - 1/s) / (1 - 1/n)`, clamped to [0, 1]. `None` on one core.
pub fn amdahl_parallel_fraction(speedup: f64, cores: f64) -> Option<f64> {
    if cores <= 1.0 || speedup <= 0.0 || !speedup.is_finite() {
        return None;
    }
    Some(((1.0 - 1.0 / speedup) / (1.0 - 1.0 / cores)).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_uses_median_and_range() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.n, s.median, s.min, s.max), (3, 2.0, 1.0, 3.0));
        assert_eq!(Summary::of(&[4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
        assert!(Summary::of(&[]).is_none());
        assert!(Summary::of(&[1.0, f64::NAN]).is_none());
        assert!(Summary::of(&[1.0, 1.3]).unwrap().is_wide());
        assert!(!Summary::of(&[1.0, 1.2]).unwrap().is_wide());
    }

    #[test]
    fn three_runs_each_are_significant_only_when_fully_separated() {
        let base = [8.05, 8.12, 8.30];
        let p = mann_whitney_less(&[4.15, 4.21, 4.40], &base);
        assert!((p - 0.05).abs() < 1e-12, "1 of 20 arrangements: {p}");
        let v = compare(&base, &[4.15, 4.21, 4.40]).unwrap();
        assert!(v.significant);
        assert!((v.speedup - 8.12 / 4.21).abs() < 1e-12);
        // One candidate run slower than one baseline run: not significant.
        let v = compare(&base, &[4.15, 4.21, 8.20]).unwrap();
        assert!(!v.significant, "{v:?}");
        assert!(v.speedup > 1.0);
    }

    #[test]
    fn mann_whitney_matches_known_values() {
        // m = n = 4, complete separation: 1 / C(8,4) = 1/70.
        let p = mann_whitney_less(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0]);
        assert!((p - 1.0 / 70.0).abs() < 1e-12);
        // Identical samples: nothing to see.
        let p = mann_whitney_less(&[1.0, 1.0, 1.0], &[1.0, 1.0, 1.0]);
        assert!(p > 0.4, "{p}");
        // The wrong direction is never significant.
        assert!(mann_whitney_less(&[5.0, 6.0, 7.0], &[1.0, 2.0, 3.0]) > 0.9);
        // Distribution sums to C(m+n, m).
        let d = u_distribution(3, 5);
        assert_eq!(d.iter().sum::<f64>(), 56.0);
    }

    #[test]
    fn a_clear_slowdown_is_significantly_slower_and_never_significantly_faster() {
        // A parallel program pinned to one CPU: 1.8x slower, fully separated.
        let base = [2.00, 2.05, 2.10];
        let v = compare(&base, &[3.60, 3.70, 3.75]).unwrap();
        assert!(v.significant_slower && !v.significant, "{v:?}");
        assert!((v.p_value_slower - 0.05).abs() < 1e-12, "{v:?}");
        assert!(v.speedup < 0.6);
        // Overlapping runs: neither way.
        let v = compare(&base, &[1.95, 2.07, 2.20]).unwrap();
        assert!(!v.significant_slower && !v.significant, "{v:?}");
        // A win is not a loss.
        let v = compare(&base, &[1.0, 1.1, 1.2]).unwrap();
        assert!(v.significant && !v.significant_slower, "{v:?}");
    }

    #[test]
    fn the_floor_of_p_is_one_over_the_arrangements() {
        assert_eq!(min_p_value(3, 3), Some(1.0 / 20.0));
        assert_eq!(min_p_value(4, 4), Some(1.0 / 70.0));
        assert_eq!(min_p_value(2, 3), Some(1.0 / 10.0));
        assert_eq!(min_p_value(3, 2), min_p_value(2, 3));
        assert_eq!(min_p_value(1, 1), Some(0.5));
        assert_eq!(min_p_value(0, 3), None);
        // 2 vs 2 runs can never reach ALPHA: the reason for the --runs warning.
        assert!(min_p_value(2, 2).unwrap() > ALPHA);
        // It is what the test itself gives on complete separation.
        let p = mann_whitney_less(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0]);
        assert!((p - min_p_value(5, 3).unwrap()).abs() < 1e-15);
        // 30 vs 30 stays finite and tiny.
        let tiny = min_p_value(30, 30).unwrap();
        assert!(tiny > 0.0 && tiny < 1e-16, "{tiny}");
    }

    #[test]
    fn amdahl_fraction() {
        assert_eq!(amdahl_parallel_fraction(2.0, 2.0), Some(1.0));
        assert_eq!(amdahl_parallel_fraction(1.0, 2.0), Some(0.0));
        let p = amdahl_parallel_fraction(1.5, 2.0).unwrap();
        assert!((p - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(
            amdahl_parallel_fraction(0.9, 2.0),
            Some(0.0),
            "slower on more cores clamps to 0"
        );
        assert_eq!(amdahl_parallel_fraction(1.5, 1.0), None);
    }
}
