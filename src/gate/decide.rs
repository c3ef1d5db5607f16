//! The decision, pure: two [`Measurement`]s and a [`Policy`] in, a
//! [`GateOutcome`] out. No I/O, so every rule is unit-tested below.
//!
//! Significance, for "current is worse than baseline by more than the limit":
//! the baseline's values are moved by the limit (times × 1.10 for a 10 %
//! limit; efficiencies − 0.10 for 10 points) and the one-sided exact
//! Mann-Whitney test of [`stats::mann_whitney_less`] asks whether those are
//! smaller than the current values. p ≤ [`stats::ALPHA`] means the change
//! goes beyond the limit with 95 % confidence. With m and n runs the smallest
//! possible p is 1 / C(m + n, m): below 3 runs a side (2 against 5 excepted)
//! it never reaches 0.05, and the policy is reported as not tested.

use super::baseline::Measurement;
use super::{GateOutcome, Policy, PolicyCheck, Status};
use crate::rerun::stats::{self, ALPHA, Summary};
use crate::timeline::Host;

/// Below this diagnosis confidence (either side) a verdict change is too
/// unsure to fail a build on: nominal verdicts of tiny runs flip between
/// classes by chance.
pub const VERDICT_MIN_CONFIDENCE: f64 = 0.5;

/// A median change smaller than this (0.5 %, or half a point of efficiency)
/// is reported as unchanged: runs on a shared machine vary by more, and the
/// figure shown (one decimal) would otherwise read "+0.0 %: less than before".
pub const UNCHANGED_WITHIN: f64 = 0.005;

/// Apply every policy.
pub fn decide(base: &Measurement, cur: &Measurement, policy: &Policy) -> GateOutcome {
    let wall = |m: &Measurement| m.runs.iter().map(|r| r.wall_s).collect::<Vec<_>>();
    let cpu = |m: &Measurement| m.runs.iter().map(|r| r.cpu_s).collect::<Vec<_>>();
    let memory = |m: &Measurement| {
        m.runs
            .iter()
            .map(|r| r.peak_rss_bytes as f64)
            .collect::<Vec<_>>()
    };
    let efficiency = |m: &Measurement| {
        m.runs
            .iter()
            .map(|r| r.cpu_s / (r.wall_s * m.cores_available as f64))
            .collect::<Vec<_>>()
    };
    let checks = vec![
        verdict_check(base, cur),
        worse_check(
            "wall-time",
            &wall(base),
            &wall(cur),
            Limit::Growth(policy.max_regression),
            seconds,
        ),
        worse_check(
            "cpu-time",
            &cpu(base),
            &cpu(cur),
            Limit::Growth(policy.max_regression),
            seconds,
        ),
        worse_check(
            "cpu-efficiency",
            &efficiency(base),
            &efficiency(cur),
            Limit::Drop(policy.max_efficiency_drop),
            percent,
        ),
        if memory(base).contains(&0.0) || memory(cur).contains(&0.0) {
            not_tested(
                "peak-memory",
                "a run's peak memory could not be sampled (it exited before the first sample)",
            )
        } else {
            worse_check(
                "peak-memory",
                &memory(base),
                &memory(cur),
                Limit::Growth(policy.max_memory_growth),
                bytes,
            )
        },
    ];
    let host_differences = host_differences(base, cur);
    let mut warnings = Vec::new();
    if !host_differences.is_empty() && !policy.require_same_host {
        warnings.push(format!(
            "the host differs ({}): times and efficiency may not compare; --require-same-host makes this an error",
            host_differences.join("; ")
        ));
    }
    if base.command != cur.command {
        warnings.push(format!(
            "the commands differ: baseline `{}`, current `{}`",
            base.command.join(" "),
            cur.command.join(" ")
        ));
    }
    if let (Some(a), Some(b)) = (&base.report.python_version, &cur.report.python_version)
        && a != b
    {
        warnings.push(format!("Python differs: baseline {a}, current {b}"));
    }
    for m in [base, cur] {
        if m.timed_under_sampler {
            warnings.push(format!(
                "{} is a report without re-runs: its one timing is the profiled run's, too few for the time policies (record a baseline, or run with re-runs)",
                m.source
            ));
        }
    }
    GateOutcome {
        command: cur.command.clone(),
        baseline_source: base.source.clone(),
        current_source: cur.source.clone(),
        baseline_runs: base.runs.len(),
        current_runs: cur.runs.len(),
        checks,
        host_differences,
        require_same_host: policy.require_same_host,
        warnings,
    }
}

/// What differs between the machines, in words (CPU model, CPU counts).
pub fn host_differences(base: &Measurement, cur: &Measurement) -> Vec<String> {
    let mut d = differing_hosts(&base.host, &cur.host);
    if base.cores_available != cur.cores_available {
        d.push(format!(
            "CPUs available {} → {}",
            base.cores_available, cur.cores_available
        ));
    }
    d
}

/// CPU model and logical CPU count, the facts `--require-same-host` compares.
pub fn differing_hosts(a: &Host, b: &Host) -> Vec<String> {
    let mut d = Vec::new();
    if a.cpu_model != b.cpu_model {
        d.push(format!(
            "CPU model \"{}\" → \"{}\"",
            a.cpu_model, b.cpu_model
        ));
    }
    if a.logical_cpus != b.logical_cpus {
        d.push(format!(
            "logical CPUs {} → {}",
            a.logical_cpus, b.logical_cpus
        ));
    }
    d
}

fn verdict_check(base: &Measurement, cur: &Measurement) -> PolicyCheck {
    let (b, c) = (&base.report.diagnosis, &cur.report.diagnosis);
    let show =
        |d: &crate::diagnose::Diagnosis| format!("{} ({:.2})", d.verdict.as_str(), d.confidence);
    let mut check = PolicyCheck {
        name: "verdict",
        status: Status::Pass,
        baseline: show(b),
        current: show(c),
        change: "same".into(),
        limit: "same class".into(),
        p_value: None,
        detail: format!(
            "both {} (confidence {:.2} and {:.2})",
            b.verdict.as_str(),
            b.confidence,
            c.confidence
        ),
    };
    if b.verdict == c.verdict {
        return check;
    }
    check.change = "changed".into();
    let unsure = b.confidence.min(c.confidence);
    if unsure < VERDICT_MIN_CONFIDENCE {
        check.status = Status::NotTested;
        check.detail = format!(
            "the verdict changed from {} to {}, but a confidence of {unsure:.2} (below {VERDICT_MIN_CONFIDENCE:.2}) is too unsure to gate on; longer runs give surer verdicts",
            b.verdict.as_str(),
            c.verdict.as_str()
        );
    } else {
        check.status = Status::Fail;
        check.detail = format!(
            "the verdict changed class from {} (confidence {:.2}) to {} ({:.2}): what bounds the program is different now; if intended, record a new baseline",
            b.verdict.as_str(),
            b.confidence,
            c.verdict.as_str(),
            c.confidence
        );
    }
    check
}

fn not_tested(name: &'static str, why: &str) -> PolicyCheck {
    PolicyCheck {
        name,
        status: Status::NotTested,
        baseline: "–".into(),
        current: "–".into(),
        change: "–".into(),
        limit: "–".into(),
        p_value: None,
        detail: why.to_string(),
    }
}

/// The smallest p-value m against n runs can give: complete separation.
fn smallest_p(m: usize, n: usize) -> f64 {
    stats::mann_whitney_less(&vec![0.0; m], &vec![1.0; n])
}

fn untestable_sizes(m: usize, n: usize) -> Option<String> {
    (smallest_p(m, n) > ALPHA).then(|| {
        format!(
            "{m} against {n} runs cannot reach significance (p ≤ {ALPHA} needs 3 runs a side): raise --runs"
        )
    })
}

/// How a figure may get worse, and by how much at most.
#[derive(Clone, Copy)]
enum Limit {
    /// Must not grow by more than this fraction (times, memory).
    Growth(f64),
    /// Must not drop by more than this many fractions of one (efficiency).
    Drop(f64),
}

/// A figure that must not get worse than `limit` allows, significantly.
fn worse_check(
    name: &'static str,
    base: &[f64],
    cur: &[f64],
    limit: Limit,
    show: fn(f64) -> String,
) -> PolicyCheck {
    let (Some(b), Some(c)) = (Summary::of(base), Summary::of(cur)) else {
        return not_tested(name, "no runs to compare");
    };
    // How much worse the medians are, in the limit's terms, and the change as shown.
    let (worse_by, allowed, change, limit_shown) = match limit {
        Limit::Growth(l) => {
            let ratio = if b.median > 0.0 {
                c.median / b.median - 1.0
            } else {
                0.0
            };
            let shown = format!("{} %", signed(ratio * 100.0));
            (ratio, l, shown, format!("+{:.0} %", l * 100.0))
        }
        Limit::Drop(l) => {
            let diff = c.median - b.median;
            let shown = format!("{} points", signed(diff * 100.0));
            (-diff, l, shown, format!("-{:.0} points", l * 100.0))
        }
    };
    let mut check = PolicyCheck {
        name,
        status: Status::Pass,
        baseline: show(b.median),
        current: show(c.median),
        change,
        limit: limit_shown,
        p_value: None,
        detail: String::new(),
    };
    let what = format!(
        "{}median {} → {} ({})",
        if matches!(limit, Limit::Drop(_)) {
            "CPU time ÷ (wall × CPUs available), "
        } else {
            ""
        },
        check.baseline,
        check.current,
        check.change
    );
    if let Some(why) = untestable_sizes(base.len(), cur.len()) {
        check.status = Status::NotTested;
        check.detail = format!("{what}; {why}");
        return check;
    }
    // Move the baseline by the limit, then ask whether the current runs are
    // worse still: larger than the grown baseline, or smaller than the dropped one.
    let p = match limit {
        Limit::Growth(l) => {
            let moved: Vec<f64> = base.iter().map(|v| v * (1.0 + l)).collect();
            stats::mann_whitney_less(&moved, cur)
        }
        Limit::Drop(l) => {
            let moved: Vec<f64> = base.iter().map(|v| v - l).collect();
            stats::mann_whitney_less(cur, &moved)
        }
    };
    check.p_value = Some(p);
    let (beyond, within) = match limit {
        Limit::Growth(_) => (
            format!("more than the {} allowed", check.limit),
            format!("within {}", check.limit),
        ),
        Limit::Drop(l) => (
            format!("a bigger drop than the {} allowed", check.limit),
            format!("within the {:.0}-point allowance", l * 100.0),
        ),
    };
    check.detail = if worse_by > allowed && p <= ALPHA {
        check.status = Status::Fail;
        format!(
            "{what}, {beyond}: significant (p = {p:.3}, one-sided Mann-Whitney, {} vs {} runs)",
            base.len(),
            cur.len()
        )
    } else if worse_by > allowed {
        format!(
            "{what}, beyond {} on the medians but not significantly (p = {p:.3} > {ALPHA}): within policy; more runs would tell",
            check.limit
        )
    } else if worse_by.abs() < UNCHANGED_WITHIN {
        // "+0.0 %: less than before" read as a contradiction (issue 15).
        format!("{what}: unchanged")
    } else if worse_by < 0.0 && matches!(limit, Limit::Growth(_)) {
        format!("{what}: less than before")
    } else {
        format!("{what}, {within}")
    };
    check
}

/// `+1.5`, `-2.0`, and `+0.0` for a change that rounds to nothing (never `-0.0`).
fn signed(v: f64) -> String {
    let s = format!("{v:+.1}");
    if s == "-0.0" { "+0.0".into() } else { s }
}

fn seconds(v: f64) -> String {
    if v < 0.1 {
        format!("{v:.4} s")
    } else {
        format!("{v:.3} s")
    }
}

fn percent(v: f64) -> String {
    format!("{:.0} %", v * 100.0)
}

fn bytes(v: f64) -> String {
    format!("{:.1} MiB", v / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests;
