//! The two time charts of report.html, drawn as inline SVG from the timeline.
//!
//! - **Cores**: one band per CPU, its time stacked from the bottom as user,
//!   system, iowait and steal, idle the empty rest — the whole machine, as
//!   `/proc/stat` splits it, so a competing program shows too.
//! - **Threads**: one lane per thread, each stretch coloured by the state the
//!   thread spent most of it in (the Python state — `gil-held`, `gil-wait`,
//!   … — when its stack was read, else the OS state), in the colours of the
//!   wall-clock flamegraph.
//!
//! A long run has far more samples than a page has pixels, so samples are
//! grouped into at most [`MAX_COLUMNS`] consecutive runs ("columns"); each
//! column spans from the end of the previous one to its last sample's time,
//! so columns tile the run without gaps even when the sampler was late.
//! Weights are each sample's `interval_s`. Coordinates are printed with one
//! decimal: the same timeline always gives the same bytes.

use super::esc;
use crate::report::flame::{self, state_label};
use crate::report::text::shorten;
use crate::timeline::{Sample, Timeline};
use std::collections::HashMap;
use std::fmt::Write;

/// Columns a chart is drawn with at most: about one per 3 px at print width.
pub const MAX_COLUMNS: usize = 300;
/// Thread lanes drawn at most; the rest share one lane.
pub const MAX_LANES: usize = 40;

/// Width of the drawing (CSS scales it to the page), the label column, the plot.
const WIDTH: f64 = 960.0;
const LABEL_W: f64 = 150.0;
const PLOT_W: f64 = WIDTH - LABEL_W - 20.0;
const AXIS_H: f64 = 42.0;

/// The time columns of a run: sample index ranges and their time bounds.
struct Columns {
    /// `ranges[i]` = the samples of column i.
    ranges: Vec<std::ops::Range<usize>>,
    /// `bounds[i]..bounds[i + 1]`: column i's time span, seconds.
    bounds: Vec<f64>,
}

impl Columns {
    fn of(samples: &[Sample]) -> Option<Columns> {
        let n = samples.len();
        if n == 0 {
            return None;
        }
        let cols = n.min(MAX_COLUMNS);
        let ranges: Vec<_> = (0..cols)
            .map(|c| c * n / cols..(c + 1) * n / cols)
            .collect();
        let first = &samples[0];
        let mut bounds = vec![(first.t_s - first.interval_s).max(0.0)];
        for r in &ranges {
            let end = samples[r.end - 1].t_s;
            let last = *bounds.last().unwrap_or(&0.0);
            bounds.push(end.max(last));
        }
        Some(Columns { ranges, bounds })
    }

    fn start(&self) -> f64 {
        self.bounds[0]
    }

    fn span(&self) -> f64 {
        (self.bounds[self.bounds.len() - 1] - self.start()).max(1e-9)
    }

    /// The x coordinate of time `t`.
    fn x(&self, t: f64) -> f64 {
        LABEL_W + (t - self.start()) / self.span() * PLOT_W
    }

    /// The x coordinate of column boundary `i` (0..=columns).
    fn edge(&self, i: usize) -> f64 {
        self.x(self.bounds[i])
    }
}

/// A weight for a sample: its interval, or 1 when the sampler recorded none.
fn weight(s: &Sample) -> f64 {
    if s.interval_s > 0.0 {
        s.interval_s
    } else {
        1.0
    }
}

/// The core chart, or `None` when the timeline has no per-core readings.
pub fn cores(tl: &Timeline) -> Option<String> {
    let cols = Columns::of(&tl.samples)?;
    let ncores = tl.samples.iter().map(|s| s.cores.len()).max()?;
    if ncores == 0 {
        return None;
    }
    let lane_h = (480.0 / ncores as f64).clamp(8.0, 40.0);
    let gap = (lane_h / 6.0).round().max(2.0);
    let height = ncores as f64 * (lane_h + gap) + AXIS_H + 24.0;
    let mut s = svg_open(
        height,
        "Per-core utilisation over time: user, system, iowait and steal stacked, idle empty",
    );
    // Cumulative layers, drawn largest first so each shows as a band above
    // the one before: (label, colour, which of user/system/iowait/steal it adds up).
    let layers: [(&str, &str, usize); 4] = [
        ("steal", "#8e6bbf", 4),
        ("iowait", "#4a86c8", 3),
        ("system", "#d4603a", 2),
        ("user", "#3f9e5a", 1),
    ];
    for core in 0..ncores {
        let top = 4.0 + core as f64 * (lane_h + gap);
        let base = top + lane_h;
        let means: Vec<[f64; 4]> = cols
            .ranges
            .iter()
            .map(|r| core_mean(&tl.samples[r.clone()], core))
            .collect();
        let label_every = (12.0 / lane_h).ceil().max(1.0) as usize;
        if core % label_every == 0 {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{:.1}" class="lbl">cpu{core}</text>"#,
                LABEL_W - 8.0,
                top + lane_h / 2.0 + 4.0
            );
        }
        let _ = write!(
            s,
            r##"<rect x="{LABEL_W:.1}" y="{top:.1}" width="{PLOT_W:.1}" height="{lane_h:.1}" fill="#f1f1f1" stroke="#c8c8c8" stroke-width="0.5"/>"##
        );
        for (_, colour, upto) in layers {
            let heights: Vec<f64> = means
                .iter()
                .map(|m| m[..upto].iter().sum::<f64>().clamp(0.0, 1.0) * lane_h)
                .collect();
            if heights.iter().all(|h| *h < 0.05) {
                continue;
            }
            let _ = write!(
                s,
                r#"<path fill="{colour}" d="M{:.1} {base:.1}"#,
                cols.edge(0)
            );
            for (i, h) in heights.iter().enumerate() {
                let _ = write!(s, "V{:.1}H{:.1}", base - h, cols.edge(i + 1));
            }
            let _ = write!(s, "V{base:.1}Z\"/>");
        }
    }
    let axis_y = ncores as f64 * (lane_h + gap) + 4.0;
    axis(&mut s, &cols, axis_y);
    let legend: Vec<(&str, &str)> = layers
        .iter()
        .rev()
        .map(|(l, c, _)| (*l, *c))
        .chain([("idle", "#f1f1f1")])
        .collect();
    legend_row(&mut s, &legend, axis_y + AXIS_H + 10.0);
    s.push_str("</svg>");
    Some(s)
}

/// Mean user, system, iowait, steal of one core over some samples.
fn core_mean(samples: &[Sample], core: usize) -> [f64; 4] {
    let (mut sum, mut total) = ([0.0; 4], 0.0);
    for smp in samples {
        if let Some(c) = smp.cores.get(core) {
            let w = weight(smp);
            for (acc, v) in sum.iter_mut().zip([c.user, c.system, c.iowait, c.steal]) {
                *acc += w * f64::from(v);
            }
            total += w;
        }
    }
    if total > 0.0 {
        sum.map(|v| v / total)
    } else {
        sum
    }
}

/// The states a thread lane can show, in legend order, with their colours.
fn states() -> Vec<(&'static str, String)> {
    flame::state_colours()
        .map(|(name, (r, g, b))| (name, format!("#{r:02x}{g:02x}{b:02x}")))
        .collect()
}

/// The thread chart, or `None` when no thread was sampled.
pub fn threads(tl: &Timeline) -> Option<String> {
    let cols = Columns::of(&tl.samples)?;
    let states = states();
    let index: HashMap<&str, usize> = states
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (*n, i))
        .collect();
    let lanes = pick_lanes(tl);
    if lanes.shown.is_empty() {
        return None;
    }
    let grouped = lanes.rest.len();
    let nlanes = lanes.shown.len() + usize::from(grouped > 0);
    let lane_h = 14.0;
    let gap = 3.0;
    let height = nlanes as f64 * (lane_h + gap) + AXIS_H + 24.0;
    let mut s = svg_open(
        height,
        "Per-thread state over time: one lane per thread, coloured by state",
    );
    let lane_of: HashMap<i32, usize> = lanes
        .shown
        .iter()
        .enumerate()
        .map(|(i, t)| (t.0, i))
        .chain(lanes.rest.iter().map(|tid| (*tid, lanes.shown.len())))
        .collect();
    // weights[lane][column][state]
    let mut weights = vec![vec![vec![0.0f64; states.len()]; cols.ranges.len()]; nlanes];
    for (c, r) in cols.ranges.iter().enumerate() {
        for smp in &tl.samples[r.clone()] {
            let w = weight(smp);
            for t in &smp.threads {
                if let (Some(lane), Some(st)) = (lane_of.get(&t.tid), index.get(state_label(t))) {
                    weights[*lane][c][*st] += w;
                }
            }
        }
    }
    let mut used = vec![false; states.len()];
    for (lane, cells) in weights.iter().enumerate() {
        let top = 4.0 + lane as f64 * (lane_h + gap);
        let label = match lanes.shown.get(lane) {
            Some((tid, name)) => format!("{} {tid}", shorten(name, 16)),
            None => format!("{grouped} other threads"),
        };
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" class="lbl">{}</text><rect x="{LABEL_W:.1}" y="{top:.1}" width="{PLOT_W:.1}" height="{lane_h:.1}" fill="none" stroke="#d8d8d8" stroke-width="0.5"/>"##,
            LABEL_W - 8.0,
            top + lane_h / 2.0 + 4.0,
            esc(&label)
        );
        // The dominant state of each column; equal neighbours drawn as one rect.
        let dominant: Vec<Option<usize>> = cells
            .iter()
            .map(|w| {
                let (i, best) =
                    w.iter().enumerate().fold(
                        (0, 0.0),
                        |acc, (i, v)| if *v > acc.1 { (i, *v) } else { acc },
                    );
                (best > 0.0).then_some(i)
            })
            .collect();
        let mut c = 0;
        while c < dominant.len() {
            let run_end = (c..dominant.len())
                .find(|&e| dominant[e] != dominant[c])
                .unwrap_or(dominant.len());
            if let Some(st) = dominant[c] {
                used[st] = true;
                let (x0, x1) = (cols.edge(c), cols.edge(run_end));
                let _ = write!(
                    s,
                    r#"<rect x="{x0:.1}" y="{top:.1}" width="{:.1}" height="{lane_h:.1}" fill="{}"/>"#,
                    (x1 - x0).max(0.3),
                    states[st].1
                );
            }
            c = run_end;
        }
    }
    let axis_y = nlanes as f64 * (lane_h + gap) + 4.0;
    axis(&mut s, &cols, axis_y);
    let legend: Vec<(&str, &str)> = states
        .iter()
        .zip(&used)
        .filter(|(_, u)| **u)
        .map(|((n, c), _)| (*n, c.as_str()))
        .collect();
    legend_row(&mut s, &legend, axis_y + AXIS_H + 10.0);
    s.push_str("</svg>");
    Some(s)
}

/// Which threads get a lane of their own.
pub struct Lanes {
    /// (tid, name) in the order threads were first seen.
    pub shown: Vec<(i32, String)>,
    /// Tids drawn together in the last lane.
    pub rest: Vec<i32>,
}

/// All threads when they fit; otherwise the busiest by CPU time (ties: first
/// seen), shown in the order they were first seen, and one lane for the rest.
pub fn pick_lanes(tl: &Timeline) -> Lanes {
    let mut seen: Vec<(i32, String)> = tl.threads.iter().map(|t| (t.tid, t.name.clone())).collect();
    // Threads sampled but missing from the list (older timelines) still count.
    let mut known: std::collections::HashSet<i32> = seen.iter().map(|t| t.0).collect();
    for smp in &tl.samples {
        for t in &smp.threads {
            if known.insert(t.tid) {
                seen.push((t.tid, String::from("?")));
            }
        }
    }
    if seen.len() <= MAX_LANES {
        return Lanes {
            shown: seen,
            rest: Vec::new(),
        };
    }
    let mut cpu: HashMap<i32, f64> = HashMap::new();
    for smp in &tl.samples {
        for t in &smp.threads {
            *cpu.entry(t.tid).or_default() += t.cpu_s;
        }
    }
    let mut order: Vec<usize> = (0..seen.len()).collect();
    let busy = |i: &usize| cpu.get(&seen[*i].0).copied().unwrap_or(0.0);
    order.sort_by(|a, b| busy(b).total_cmp(&busy(a)).then(a.cmp(b)));
    let mut keep: Vec<usize> = order[..MAX_LANES - 1].to_vec();
    keep.sort_unstable();
    let rest = order[MAX_LANES - 1..].iter().map(|i| seen[*i].0).collect();
    Lanes {
        shown: keep.into_iter().map(|i| seen[i].clone()).collect(),
        rest,
    }
}

fn svg_open(height: f64, label: &str) -> String {
    format!(
        r#"<svg class="chart" viewBox="0 0 {WIDTH:.0} {height:.0}" role="img" aria-label="{label}"><title>{label}</title>"#
    )
}

/// The time axis under a chart: ticks at a round step, about 8 of them.
fn axis(s: &mut String, cols: &Columns, y: f64) {
    let span = cols.span();
    let step = nice_step(span / 8.0);
    let _ = write!(
        s,
        r##"<line x1="{LABEL_W:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#555" stroke-width="0.8"/>"##,
        LABEL_W + PLOT_W
    );
    let first = (cols.start() / step).ceil() as i64;
    let last = ((cols.start() + span) / step + 1e-9).floor() as i64;
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    for k in first..=last {
        let t = k as f64 * step;
        let x = cols.x(t);
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{y:.1}" x2="{x:.1}" y2="{:.1}" stroke="#555" stroke-width="0.8"/><text x="{x:.1}" y="{:.1}" class="tick">{t:.decimals$}</text>"##,
            y + 4.0,
            y + 16.0
        );
    }
    let _ = write!(
        s,
        r#"<text x="{:.1}" y="{:.1}" class="tick">time since start (s)</text>"#,
        LABEL_W + PLOT_W / 2.0,
        y + 30.0
    );
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let raw = raw.max(1e-6);
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|v| *v >= raw * 0.999)
        .unwrap_or(10.0 * p)
}

/// Colour swatches with their names in one row.
fn legend_row(s: &mut String, items: &[(&str, &str)], y: f64) {
    let mut x = LABEL_W;
    for (name, colour) in items {
        let _ = write!(
            s,
            r##"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{colour}" stroke="#888" stroke-width="0.5"/><text x="{:.1}" y="{y:.1}" class="key">{}</text>"##,
            y - 10.0,
            x + 16.0,
            esc(name)
        );
        x += 26.0 + 7.0 * name.chars().count() as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_fall_on_round_steps() {
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(0.09), 0.1);
        assert_eq!(nice_step(1.0), 1.0);
        assert_eq!(nice_step(3.2), 5.0);
        assert_eq!(nice_step(12.0), 20.0);
    }

    #[test]
    fn columns_tile_the_run_and_never_exceed_the_cap() {
        let samples: Vec<Sample> = (1..=1000)
            .map(|i| Sample {
                t_s: i as f64 * 0.01,
                interval_s: 0.01,
                ..Sample::default()
            })
            .collect();
        let c = Columns::of(&samples).unwrap();
        assert_eq!(c.ranges.len(), MAX_COLUMNS);
        assert_eq!(c.ranges.first().unwrap().start, 0);
        assert_eq!(c.ranges.last().unwrap().end, 1000);
        assert!(c.ranges.windows(2).all(|w| w[0].end == w[1].start));
        assert!(c.bounds.windows(2).all(|w| w[0] <= w[1]));
        assert!((c.edge(MAX_COLUMNS) - (LABEL_W + PLOT_W)).abs() < 1e-6);
    }

    #[test]
    fn many_threads_keep_the_busiest_and_group_the_rest() {
        use crate::timeline::{ThreadInfo, ThreadSample};
        let mut tl: Timeline = serde_json::from_str(
            r#"{"format":"boundcheck-timeline","schema_version":1,"meta":{"command":[],"mode":"launch","started_at":"","duration_s":1,"host":{"cpu_model":"","logical_cpus":1,"memory_bytes":0,"kernel":"","os":"","boundcheck_version":""},"cores_available":1},"sampling":{"requested_rate_hz":1,"achieved_rate_hz":1,"samples":1,"lost_samples":0,"mean_late_s":0,"max_late_s":0,"sampler_cpu_s":0,"read_failures":{}},"processes":[],"threads":[],"samples":[]}"#,
        )
        .unwrap();
        let n = 100;
        tl.threads = (0..n)
            .map(|i| ThreadInfo {
                pid: 1,
                tid: 1000 + i,
                name: format!("worker-{i}"),
            })
            .collect();
        tl.samples = vec![Sample {
            t_s: 0.1,
            interval_s: 0.1,
            threads: (0..n)
                .map(|i| ThreadSample {
                    pid: 1,
                    tid: 1000 + i,
                    // The last threads are the busy ones.
                    cpu_s: if i >= 90 { 0.1 } else { 0.0 },
                    ..ThreadSample::default()
                })
                .collect(),
            ..Sample::default()
        }];
        let lanes = pick_lanes(&tl);
        assert_eq!(lanes.shown.len(), MAX_LANES - 1);
        assert_eq!(lanes.rest.len(), n as usize - (MAX_LANES - 1));
        let shown: Vec<i32> = lanes.shown.iter().map(|t| t.0).collect();
        assert!((1090..1100).all(|tid| shown.contains(&tid)), "{shown:?}");
        assert!(shown.windows(2).all(|w| w[0] < w[1]), "first-seen order");
        let svg = threads(&tl).unwrap();
        assert!(svg.contains("61 other threads"), "{svg}");
    }
}
