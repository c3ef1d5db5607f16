//! Judging finished rounds: do the re-runs reproduce the profiled run, and
//! what do their times say (medians, speedups, significance both ways)?
//!
//! A re-run is only worth comparing when it runs the same program the
//! profile saw. A command that changes state between runs (`pip download`
//! finds its file already there, a build finds its outputs, a cache fills on
//! the first run) re-runs as a different, usually faster, program. The as-is
//! re-runs catch it: they must end with the profiled run's exit status and
//! use about as much CPU, start about as many child processes and write
//! about as many bytes. When they do not, nothing is compared with them and
//! nothing is recommended: every experiment is flagged not comparable, with
//! the figures that differ. The run pinned to one CPU is the same program
//! too and must match in all but CPU time (pinning may change spinning).
//! Swaps legitimately change CPU time, children and bytes written (pool
//! workers talk through pipes): for them a different exit status is a
//! failure of the swap, judged while the rounds run.

use super::{Experiment, RunResult, Status, stats};

/// CPU time of the as-is re-runs (median) against the profiled run's: a
/// ratio beyond this either way is a different program. Run-to-run noise of
/// CPU time on a shared 2-vCPU VM is ~17 %, and profiling adds up to ~10 %
/// to the profiled run; a program that skips or adds real work (a download,
/// a build step, a cache fill) moves it by far more.
pub const CPU_RATIO_LIMIT: f64 = 1.5;
/// Below this difference in CPU seconds the ratio is start-up jitter (an
/// interpreter starts in 30–50 ms), not a different program.
pub const CPU_FLOOR_S: f64 = 0.15;
/// Bytes written (`wchar`) beyond this ratio either way: the same program
/// prints and saves the same bytes, give or take timestamps.
pub const WRITTEN_RATIO_LIMIT: f64 = 2.0;
/// Below this difference in bytes written, a tty-only progress bar or a log
/// line is not a different program.
pub const WRITTEN_FLOOR_BYTES: u64 = 64 * 1024;
/// Lasting child processes beyond this ratio either way. Sampling still
/// catches a lasting child late or early, so the bar is wide.
pub const CHILDREN_RATIO_LIMIT: f64 = 3.0;
/// And by at least this many processes.
pub const CHILDREN_FLOOR: u32 = 3;
/// Only children seen for at least this long are counted. The re-runs
/// sample at 20 Hz, the profile at 100 Hz, so a short child is seen by one
/// and missed by the other: pyenv's `python3` shim alone starts ~15 bash
/// and readlink children of a few ms each, which the profile saw as 20
/// children and the re-runs as 5. 0.2 s is four ticks of the slower sampler.
pub const CHILD_MIN_LIFE_S: f64 = 0.2;

/// The lasting children of a run's tree: processes whose parent is in the
/// tree and that were seen for at least [`CHILD_MIN_LIFE_S`].
pub fn lasting_children(processes: &[crate::timeline::ProcessInfo]) -> u32 {
    let pids: std::collections::HashSet<i32> = processes.iter().map(|p| p.pid).collect();
    processes
        .iter()
        .filter(|p| pids.contains(&p.ppid) && p.last_seen_s - p.first_seen_s >= CHILD_MIN_LIFE_S)
        .count() as u32
}

/// [`lasting_children`] without the processes of `apart` and their
/// descendants: an existing cluster sampled with the profiled run is not
/// the program's children, and its re-runs do not sample it.
pub fn lasting_children_apart(processes: &[crate::timeline::ProcessInfo], apart: &[i32]) -> u32 {
    let mut out: std::collections::HashSet<i32> = apart.iter().copied().collect();
    loop {
        let before = out.len();
        for p in processes {
            if out.contains(&p.ppid) {
                out.insert(p.pid);
            }
        }
        if out.len() == before {
            break;
        }
    }
    let own: Vec<_> = processes
        .iter()
        .filter(|p| !out.contains(&p.pid))
        .cloned()
        .collect();
    lasting_children(&own)
}

/// What the profiled run did: what its re-runs must reproduce.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Profiled {
    /// Its exit status (a run counts when it exits the same way).
    pub exit_status: i32,
    /// CPU time of the whole tree, seconds (`wait4` rusage, as re-runs take it).
    pub cpu_s: Option<f64>,
    /// Lasting child processes ([`lasting_children`]).
    pub children: Option<u32>,
    /// Bytes written (`wchar` at exit).
    pub written_bytes: Option<u64>,
}

/// Why these runs are not the profiled program, or `None` when they are.
/// `cpu`: also compare CPU time (the as-is runs, not the pinned one).
pub fn differs(p: &Profiled, runs: &[RunResult], cpu: bool) -> Option<String> {
    if let Some(r) = runs.iter().find(|r| r.exit_status != p.exit_status) {
        return Some(format!(
            "a re-run exited with status {} where the profiled run exited with {}",
            r.exit_status, p.exit_status
        ));
    }
    let median = |xs: Vec<f64>| stats::Summary::of(&xs).map(|s| s.median);
    // CPU time against the re-run nearest to the profiled run, not their
    // median: the profiled run is one draw, and on a noisy VM one draw lands
    // beyond the limit of a median now and then (a CI run: 2.07 s profiled,
    // plain runs of the same program 1.26–1.72 s). A program that really
    // changed between runs (a cache filled, a download skipped) does so in
    // every re-run, so the nearest one is as far off as the median.
    let cpus: Vec<f64> = runs.iter().map(|r| r.cpu_s).collect();
    if cpu
        && let Some(then) = p.cpu_s
        && let Some(near) = nearest(then, &cpus)
        && beyond(then, near, CPU_RATIO_LIMIT, CPU_FLOOR_S)
    {
        let range = stats::Summary::of(&cpus).map_or((near, near), |s| (s.min, s.max));
        return Some(format!(
            "the re-runs used {:.2}–{:.2} s of CPU, the profiled run {then:.2} s",
            range.0, range.1
        ));
    }
    let written: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.written_bytes.map(|b| b as f64))
        .collect();
    if let (Some(then), Some(now)) = (p.written_bytes, median(written))
        && beyond(
            then as f64,
            now,
            WRITTEN_RATIO_LIMIT,
            WRITTEN_FLOOR_BYTES as f64,
        )
    {
        return Some(format!(
            "the re-runs wrote {} (median), the profiled run {}",
            bytes(now),
            bytes(then as f64)
        ));
    }
    let children: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.children.map(f64::from))
        .collect();
    if let (Some(then), Some(now)) = (p.children, median(children))
        && beyond(
            f64::from(then),
            now,
            CHILDREN_RATIO_LIMIT,
            f64::from(CHILDREN_FLOOR),
        )
    {
        return Some(format!(
            "the re-runs started {now:.0} lasting child processes (median), the profiled run {then}"
        ));
    }
    None
}

/// The figure of `xs` nearest to `x` by ratio (the figures are positive).
fn nearest(x: f64, xs: &[f64]) -> Option<f64> {
    let off = |y: f64| (x.max(y) / x.min(y).max(f64::MIN_POSITIVE)).abs();
    xs.iter()
        .copied()
        .min_by(|a, b| off(*a).total_cmp(&off(*b)))
}

/// Whether two figures differ by more than `ratio` either way and by at least `floor`.
fn beyond(then: f64, now: f64, ratio: f64, floor: f64) -> bool {
    let (lo, hi) = if then < now { (then, now) } else { (now, then) };
    hi - lo >= floor && hi > lo * ratio
}

fn bytes(b: f64) -> String {
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.0} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

/// Flag what does not reproduce the profiled run, then give every
/// experiment with timing its median, range, speedup and significance
/// against the as-is runs. Warnings say what was excluded and why.
pub fn judge(experiments: &mut [Experiment], profiled: &Profiled, warnings: &mut Vec<String>) {
    flag_not_comparable(experiments, profiled, warnings);
    let baseline = experiments
        .first()
        .filter(|e| e.has_timing())
        .map(Experiment::walls)
        .unwrap_or_default();
    for e in experiments.iter_mut() {
        if !e.has_timing() {
            continue;
        }
        let t = e.walls();
        if let Some(s) = stats::Summary::of(&t) {
            e.median_s = Some(s.median);
            e.min_s = Some(s.min);
            e.max_s = Some(s.max);
            if s.is_wide() && s.n >= 2 {
                let d = stats::decimals(s.median);
                warnings.push(format!(
                    "{}: runs spread {:.d$}–{:.d$} s (more than {:.0} %): the machine is noisy; raise --runs",
                    e.label,
                    s.min,
                    s.max,
                    (stats::WIDE_SPREAD - 1.0) * 100.0
                ));
            }
        }
        if e.kind != "as-is"
            && let Some(v) = stats::compare(&baseline, &t)
        {
            e.speedup = Some(v.speedup);
            e.p_value = Some(v.p_value);
            e.significant = v.significant;
            e.p_value_slower = Some(v.p_value_slower);
            e.significant_slower = v.significant_slower;
            e.min_p_value = Some(v.min_p_value);
        }
    }
    if let Some(first) = experiments.first_mut() {
        first.speedup = first.median_s.map(|_| 1.0);
    }
}

fn flag_not_comparable(experiments: &mut [Experiment], p: &Profiled, warnings: &mut Vec<String>) {
    let ran = |e: &Experiment| e.status == Status::Measured && !e.runs.is_empty();
    let mut baseline_lost = None;
    let mut others = Vec::new();
    for e in experiments.iter_mut() {
        let why = match e.kind.as_str() {
            "as-is" if ran(e) => differs(p, &e.runs, true),
            "core-count" if ran(e) => differs(p, &e.runs, false),
            _ => None,
        };
        if let Some(why) = why {
            if e.kind == "as-is" {
                baseline_lost = Some(why.clone());
            } else {
                others.push(format!(
                    "{}: not comparable with the profiled run ({why}); left out of the recommendation",
                    e.label
                ));
            }
            e.comparable = false;
            e.not_comparable = Some(why);
        }
    }
    let Some(why) = baseline_lost else {
        warnings.extend(others);
        return;
    };
    warnings.push(format!(
        "the as-is re-runs did not reproduce the profiled run ({why}): the command changes something between runs (a file it creates, a cache it fills), so no re-run is compared and none is recommended; make each run start from the same state, or use --no-rerun"
    ));
    for e in experiments.iter_mut().skip(1) {
        if e.comparable && e.status == Status::Measured {
            e.comparable = false;
            e.not_comparable = Some(
                "the as-is re-runs it would be compared with did not reproduce the profiled run"
                    .into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(wall_s: f64, cpu_s: f64, exit_status: i32, written: u64) -> RunResult {
        RunResult {
            wall_s,
            cpu_s,
            peak_rss_bytes: 1,
            exit_status,
            written_bytes: Some(written),
            children: Some(0),
        }
    }

    fn profiled(exit_status: i32, cpu_s: f64, written: u64) -> Profiled {
        Profiled {
            exit_status,
            cpu_s: Some(cpu_s),
            children: Some(0),
            written_bytes: Some(written),
        }
    }

    fn exp(label: &str, kind: &str, runs: Vec<RunResult>) -> Experiment {
        let mut e = Experiment::new(label.into(), kind.into(), None, Vec::new());
        e.runs = runs;
        e
    }

    #[test]
    fn the_same_program_within_noise_is_comparable() {
        let p = profiled(0, 1.0, 10_000);
        let runs = [run(1.0, 0.85, 0, 10_050), run(1.1, 1.2, 0, 10_000)];
        assert_eq!(differs(&p, &runs, true), None);
        // One draw of the profiled run beyond the limit of the re-runs'
        // median, within it of one of them: noise, not another program.
        let p = profiled(0, 2.07, 10_000);
        let runs = [
            run(1.3, 1.33, 0, 10_000),
            run(1.3, 1.33, 0, 10_000),
            run(1.6, 1.72, 0, 10_000),
        ];
        assert_eq!(differs(&p, &runs, true), None);
        // Tiny programs: start-up jitter is not a different program.
        let p = profiled(0, 0.04, 100);
        assert_eq!(differs(&p, &[run(0.1, 0.09, 0, 300)], true), None);
    }

    #[test]
    fn a_program_that_caches_its_work_is_not_comparable() {
        let p = profiled(0, 1.2, 2_000_000);
        let runs = [run(0.1, 0.05, 0, 200), run(0.1, 0.05, 0, 200)];
        let why = differs(&p, &runs, true).unwrap();
        assert!(
            why.contains("0.05 s of CPU") && why.contains("1.20 s"),
            "{why}"
        );
        // Pinned to one CPU, CPU time is not compared; the bytes still are.
        let why = differs(&p, &runs, false).unwrap();
        assert!(
            why.contains("wrote 200 B") && why.contains("1.9 MiB"),
            "{why}"
        );
    }

    #[test]
    fn a_different_exit_status_is_not_comparable_and_a_reproducible_failure_is() {
        let p = profiled(1, 0.5, 0);
        assert_eq!(differs(&p, &[run(0.5, 0.5, 1, 0)], true), None);
        let why = differs(&p, &[run(0.5, 0.5, 1, 0), run(0.5, 0.5, 0, 0)], true).unwrap();
        assert!(
            why.contains("status 0") && why.contains("exited with 1"),
            "{why}"
        );
    }

    #[test]
    fn only_children_that_last_are_counted() {
        let p = |pid, ppid, life: f64| crate::timeline::ProcessInfo {
            pid,
            ppid,
            name: String::new(),
            cmdline: Vec::new(),
            first_seen_s: 1.0,
            last_seen_s: 1.0 + life,
            peak_rss_bytes: 0,
            read_bytes: 0,
            write_bytes: 0,
            written_chars: 0,
            write_calls: 0,
        };
        // The root (its parent is outside), two pool workers, and a shim's
        // short-lived helpers.
        let tree = [
            p(10, 1, 3.0),
            p(11, 10, 2.5),
            p(12, 10, 2.5),
            p(13, 10, 0.01),
            p(14, 13, 0.0),
        ];
        assert_eq!(lasting_children(&tree), 2);
    }

    #[test]
    fn a_baseline_that_changed_takes_every_comparison_with_it() {
        let p = profiled(0, 1.0, 0);
        let fast = || vec![run(0.2, 0.1, 0, 0); 3];
        let mut v = vec![
            exp("as-is", "as-is", fast()),
            exp("pinned to 1 CPU", "core-count", fast()),
            exp("threads (swap)", "swap", fast()),
        ];
        v[2].status = Status::Measured;
        let mut warnings = Vec::new();
        judge(&mut v, &p, &mut warnings);
        assert!(
            v.iter()
                .all(|e| !e.comparable && e.not_comparable.is_some()),
            "{v:#?}"
        );
        assert!(
            v.iter()
                .all(|e| e.median_s.is_none() && e.speedup.is_none())
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("did not reproduce"), "{warnings:?}");
    }

    #[test]
    fn only_measured_comparable_experiments_get_timing_and_both_tests() {
        let p = profiled(0, 2.0, 0);
        let mut v = vec![
            exp(
                "as-is",
                "as-is",
                vec![
                    run(2.0, 2.0, 0, 0),
                    run(2.05, 2.0, 0, 0),
                    run(2.1, 2.0, 0, 0),
                ],
            ),
            exp(
                "pinned to 1 CPU",
                "core-count",
                vec![
                    run(3.6, 2.0, 0, 0),
                    run(3.7, 2.0, 0, 0),
                    run(3.75, 2.0, 0, 0),
                ],
            ),
            exp("processes (swap)", "swap", vec![run(2.0, 2.0, 0, 0)]),
        ];
        v[2].status = Status::NotApplicable;
        judge(&mut v, &p, &mut Vec::new());
        assert_eq!(v[0].speedup, Some(1.0));
        let pinned = &v[1];
        assert!(
            pinned.significant_slower && !pinned.significant,
            "{pinned:#?}"
        );
        assert_eq!(pinned.min_p_value, Some(0.05));
        assert!(
            v[2].median_s.is_none() && v[2].speedup.is_none(),
            "{:#?}",
            v[2]
        );
    }

    #[test]
    fn a_wide_spread_of_a_short_program_is_printed_to_the_millisecond() {
        let p = profiled(0, 0.011, 0);
        let mut v = vec![exp(
            "as-is",
            "as-is",
            vec![
                run(0.010, 0.01, 0, 0),
                run(0.011, 0.01, 0, 0),
                run(0.013, 0.01, 0, 0),
            ],
        )];
        let mut warnings = Vec::new();
        judge(&mut v, &p, &mut warnings);
        assert!(
            warnings.iter().any(|w| w.contains("0.010–0.013 s")),
            "{warnings:?}"
        );
    }
}
