//! Flamegraphs: folded stacks from a timeline, and SVGs drawn by inferno.
//!
//! Two views:
//! - **on-CPU** (`cpu.folded`, `cpu.svg`): thread-moments that were running,
//!   by Python stack. It answers "where does the CPU time go?".
//! - **wall-clock** (`wall.folded`, `wall.svg`): every thread-moment, running
//!   or not, under a frame per thread, with the stack's leaf annotated by the
//!   thread's state (`[gil-wait]`, `[disk-wait]`, `[net-wait]`, `[lock-wait]`,
//!   `[sleep]`, …) and coloured by it. Off-CPU time is where a program that
//!   "uses little CPU but is slow" spends its life; an on-CPU profile cannot
//!   show it.
//!
//! Each process gets a root frame (`name [pid N]`), so a pool's workers and
//! subprocesses appear side by side. Counts are sampler ticks. Only ticks on
//! which stacks were read count (stacks are read at an adaptive rate), so the
//! proportions are those of a uniform sample in time; a timeline without any
//! stacks (a non-Python program, `--no-stacks`) still gets per-thread graphs
//! from every tick. Output is deterministic: sorted lines, a title built from
//! the run's metadata, and colours derived from names, so golden files can pin it.

use crate::error::Error;
use crate::timeline::{Frame, PyState, Sample, ThreadSample, ThreadState, Timeline};
use inferno::flamegraph::color::{BasicPalette, Color, MultiPalette, Palette, PaletteMap};
use inferno::flamegraph::{self, Options};
use std::collections::{BTreeMap, HashMap};

/// Which flamegraph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Cpu,
    Wall,
    /// On-CPU native call chains (perf samples), user and kernel frames.
    Native,
}

impl View {
    pub fn file_stem(self) -> &'static str {
        match self {
            View::Cpu => "cpu",
            View::Wall => "wall",
            View::Native => "native",
        }
    }
}

/// The state label a thread-moment's leaf carries in the wall-clock view.
pub fn state_label(t: &ThreadSample) -> &'static str {
    match t.py {
        Some(p) => p.as_str(),
        None => t.state.as_str(),
    }
}

/// Colours of the state leaves: hot for CPU, cool for waits, grey for idle.
const STATE_COLOURS: [(&str, (u8, u8, u8)); 11] = [
    ("[gil-held]", (230, 120, 40)),
    // Brown, not gil-held's orange: on-CPU time with no Python state (a
    // native program, or a Python thread between stack reads) is a
    // different finding from running bytecode under the GIL.
    ("[on-cpu]", (165, 85, 20)),
    ("[native-nogil]", (240, 200, 40)),
    ("[runnable]", (200, 80, 80)),
    ("[gil-wait]", (200, 40, 40)),
    ("[lock-wait]", (150, 60, 180)),
    ("[disk-wait]", (40, 110, 200)),
    ("[net-wait]", (40, 170, 170)),
    ("[sleep]", (170, 170, 170)),
    ("[child-wait]", (120, 170, 120)),
    ("[other]", (200, 200, 200)),
];

/// The states in the order charts list them (CPU first, then waits, then
/// idle), with the colours of the flamegraph's state leaves, so a state looks
/// the same in `wall.svg` and in report.html's thread chart.
pub(crate) fn state_colours() -> impl Iterator<Item = (&'static str, (u8, u8, u8))> {
    STATE_COLOURS
        .iter()
        .map(|(label, rgb)| (label.trim_start_matches('[').trim_end_matches(']'), *rgb))
}

/// One frame of a flame stack, before a format spells it. Folded stacks,
/// speedscope and pprof all draw the same stacks; keeping the frames typed
/// until the last step lets each format keep what it can use (a file and
/// line for real code, a name for the pseudo-frames) instead of re-parsing
/// folded labels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FlameFrame<'a> {
    /// The root of each process: `name [pid N]`.
    Process { name: &'a str, pid: i32 },
    /// A thread, under its process: `name [tid N]`. Present in the
    /// wall-clock view, and in the on-CPU view for a thread without a stack.
    Thread { name: &'a str, tid: i32 },
    /// A Python frame.
    Code(&'a Frame),
    /// A native frame from perf (user or kernel).
    Native(&'a Frame),
    /// The wall-clock view's leaf: the thread's state (`gil-wait`, `sleep`, …).
    State(&'static str),
}

impl FlameFrame<'_> {
    /// The label of this frame in folded stacks and flamegraphs.
    pub fn label(&self) -> String {
        match self {
            FlameFrame::Process { name, pid } => format!("{} [pid {pid}]", clean(name)),
            FlameFrame::Thread { name, tid } => format!("{} [tid {tid}]", clean(name)),
            FlameFrame::Code(f) => clean(&f.label()),
            FlameFrame::Native(f) => clean(&native_label(f)),
            FlameFrame::State(s) => format!("[{s}]"),
        }
    }
}

/// One thread-moment of a view: whose, when, how much time it stands for,
/// and its stack.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightedStack<'a> {
    pub pid: i32,
    pub tid: i32,
    /// Seconds from the start of the run at which the stack was taken.
    pub t_s: f64,
    /// Seconds of this thread's time the moment stands for: the time since
    /// the previous tick that read stacks (stacks are read at an adaptive
    /// rate, so one read can stand for several ticks), the tick's interval
    /// without stacks, one sampling period (`1 / rate_hz`) for perf samples.
    pub weight_s: f64,
    /// The state the thread was in (`None` for perf samples, on a CPU by construction).
    pub state: Option<&'static str>,
    /// Frames, outermost first.
    pub frames: Vec<FlameFrame<'a>>,
}

/// The thread-moments a view draws, in time order, each with its stack. This
/// is the one place that decides which moments count and what their stacks
/// are; [`folded`], `speedscope` and `pprof` all read it.
///
/// The on-CPU view of a program without Python stacks but with native
/// samples (a C or Rust program) is its native view.
pub fn weighted_stacks(tl: &Timeline, view: View) -> Vec<WeightedStack<'_>> {
    let native_samples = tl.native.as_ref().is_some_and(|n| !n.samples.is_empty());
    if view == View::Native || (view == View::Cpu && tl.stacks.is_empty() && native_samples) {
        return native_stacks(tl);
    }
    let proc_names: HashMap<i32, &str> = tl
        .processes
        .iter()
        .map(|p| (p.pid, p.name.as_str()))
        .collect();
    let thread_names: HashMap<i32, &str> = tl
        .threads
        .iter()
        .map(|t| (t.tid, t.name.as_str()))
        .collect();
    let any_stacks = !tl.stacks.is_empty();
    let mut out = Vec::new();
    let mut last_read_s: Option<f64> = None;
    for s in &tl.samples {
        if any_stacks && !has_stacks(s) {
            continue;
        }
        let weight_s = match last_read_s {
            Some(last) if any_stacks => (s.t_s - last).max(0.0),
            _ => s.interval_s,
        };
        last_read_s = Some(s.t_s);
        for t in &s.threads {
            let running = t.state == ThreadState::OnCpu
                || matches!(t.py, Some(PyState::GilHeld | PyState::NativeNogil));
            if view == View::Cpu && !running {
                continue;
            }
            let mut frames = vec![FlameFrame::Process {
                name: proc_names.get(&t.pid).copied().unwrap_or("?"),
                pid: t.pid,
            }];
            if view == View::Wall || t.stack.is_none() {
                frames.push(FlameFrame::Thread {
                    name: thread_names.get(&t.tid).copied().unwrap_or("?"),
                    tid: t.tid,
                });
            }
            if let Some(id) = t.stack {
                frames.extend(tl.stacks.frames_of(id).into_iter().map(FlameFrame::Code));
            }
            let state = state_label(t);
            if view == View::Wall {
                frames.push(FlameFrame::State(state));
            }
            out.push(WeightedStack {
                pid: t.pid,
                tid: t.tid,
                t_s: s.t_s,
                weight_s,
                state: Some(state),
                frames,
            });
        }
    }
    out
}

/// Native samples under their process frame.
fn native_stacks(tl: &Timeline) -> Vec<WeightedStack<'_>> {
    let Some(native) = &tl.native else {
        return Vec::new();
    };
    let proc_names: HashMap<i32, &str> = tl
        .processes
        .iter()
        .map(|p| (p.pid, p.name.as_str()))
        .collect();
    let period_s = if native.rate_hz > 0.0 {
        1.0 / native.rate_hz
    } else {
        0.0
    };
    native
        .samples
        .iter()
        .map(|s| {
            let mut frames = vec![FlameFrame::Process {
                name: proc_names.get(&s.pid).copied().unwrap_or("?"),
                pid: s.pid,
            }];
            frames.extend(
                native
                    .stacks
                    .frames_of(s.stack)
                    .into_iter()
                    .map(FlameFrame::Native),
            );
            WeightedStack {
                pid: s.pid,
                tid: s.tid,
                t_s: s.t_s,
                weight_s: period_s,
                state: None,
                frames,
            }
        })
        .collect()
}

/// Folded stacks (`frame;frame;frame count` lines, sorted) for one view:
/// the count of each distinct stack of [`weighted_stacks`].
pub fn folded(tl: &Timeline, view: View) -> String {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for w in weighted_stacks(tl, view) {
        let line: Vec<String> = w.frames.iter().map(FlameFrame::label).collect();
        *counts.entry(line.join(";")).or_default() += 1;
    }
    let mut out = String::new();
    for (line, n) in counts {
        out.push_str(&format!("{line} {n}\n"));
    }
    out
}

/// A native frame: `function (file:line)` with debug info, `function [module]` without.
fn native_label(f: &Frame) -> String {
    if f.line > 0 {
        f.label()
    } else {
        format!("{} [{}]", f.name, f.file.trim_matches(['[', ']']))
    }
}

fn has_stacks(s: &Sample) -> bool {
    s.threads.iter().any(|t| t.stack.is_some())
}

/// Frame names may not contain the folded format's separators.
fn clean(s: &str) -> String {
    s.replace([';', '\n'], ":")
}

/// Draw `folded` as an SVG. Returns `None` for an empty profile.
pub fn svg(tl: &Timeline, folded: &str, view: View) -> Result<Option<Vec<u8>>, Error> {
    if folded.trim().is_empty() {
        return Ok(None);
    }
    let command = tl.meta.command.join(" ");
    let command: String = if command.chars().count() > 80 {
        command.chars().take(77).chain("...".chars()).collect()
    } else {
        command
    };
    let mut palette = PaletteMap::default();
    let mut opts = Options::default();
    opts.deterministic = true;
    opts.hash = true;
    opts.count_name = "samples".into();
    opts.colors = Palette::Multi(MultiPalette::Python);
    match view {
        View::Native => {
            opts.title = format!("boundcheck · native on-CPU · {command}");
            opts.subtitle =
                Some("perf cpu-clock samples, user and kernel frames; width = samples".into());
            opts.colors = Palette::Basic(BasicPalette::Hot);
        }
        View::Cpu => {
            opts.title = format!("boundcheck · on-CPU · {command}");
            opts.subtitle = Some("Python stacks of running threads; width = samples".into());
        }
        View::Wall => {
            opts.title = format!("boundcheck · wall-clock by state · {command}");
            opts.subtitle = Some(
                "every thread's time; the leaf says the state: red gil-wait, purple lock-wait, blue disk-wait, teal net-wait, grey sleep"
                    .into(),
            );
            opts.colors = Palette::Basic(BasicPalette::Aqua);
            for (name, (r, g, b)) in STATE_COLOURS {
                palette.insert(name, Color { r, g, b });
            }
            opts.palette_map = Some(&mut palette);
        }
    }
    let mut bytes = Vec::new();
    flamegraph::from_lines(&mut opts, folded.lines(), &mut bytes).map_err(|e| Error::Render {
        what: format!("{}.svg", view.file_stem()),
        reason: e.to_string(),
    })?;
    Ok(Some(bytes))
}

/// The flamegraphs of a timeline as (file name, bytes): `cpu.folded`,
/// `cpu.svg`, `wall.folded`, `wall.svg`, and `native.*` when native stacks
/// sit beside Python ones; each only when it has samples. Every run writes
/// these, and the golden test renders them through this very function.
pub fn flamegraphs(tl: &Timeline) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let mut files = Vec::new();
    let mut views = vec![View::Cpu, View::Wall];
    // Native stacks beside Python ones (`--native`) get a graph of their own;
    // without Python stacks they already are the on-CPU graph.
    if !tl.stacks.is_empty() && tl.native.as_ref().is_some_and(|n| !n.samples.is_empty()) {
        views.push(View::Native);
    }
    for view in views {
        let folded = folded(tl, view);
        if let Some(svg) = svg(tl, &folded, view)? {
            files.push((format!("{}.folded", view.file_stem()), folded.into_bytes()));
            files.push((format!("{}.svg", view.file_stem()), svg));
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{ProcessInfo, ThreadInfo};

    fn tl() -> Timeline {
        let mut tl: Timeline = serde_json::from_str(include_str!(
            "../../fixtures/timelines/cpu-serial__cpu_serial.json"
        ))
        .unwrap();
        tl.samples.retain(|s| !s.threads.is_empty());
        tl.samples.truncate(4);
        let id = tl.stacks.intern([
            Frame {
                name: "<module>".into(),
                file: "/x/app.py".into(),
                line: 3,
            },
            Frame {
                name: "hot;fn".into(),
                file: "/x/app.py".into(),
                line: 9,
            },
        ]);
        for s in &mut tl.samples {
            for t in &mut s.threads {
                t.stack = Some(id);
            }
        }
        let mut pids: Vec<i32> = tl
            .samples
            .iter()
            .flat_map(|s| s.threads.iter().map(|t| t.pid))
            .collect();
        pids.sort_unstable();
        pids.dedup();
        tl.processes = pids
            .into_iter()
            .map(|pid| ProcessInfo {
                pid,
                ppid: 1,
                name: "python3".into(),
                cmdline: vec![],
                first_seen_s: 0.0,
                last_seen_s: 1.0,
                peak_rss_bytes: 0,
                read_bytes: 0,
                write_bytes: 0,
                written_chars: 0,
                write_calls: 0,
            })
            .collect();
        tl.threads = vec![ThreadInfo {
            pid: 0,
            tid: 0,
            name: "x".into(),
        }];
        tl
    }

    #[test]
    fn folded_lines_are_sorted_with_a_process_root_and_clean_names() {
        let tl = tl();
        let cpu = folded(&tl, View::Cpu);
        let first = cpu.lines().next().expect("a line");
        assert!(first.starts_with("python3 [pid "), "{first}");
        assert!(
            first.contains(";<module> (x/app.py:3);hot:fn (x/app.py:9) "),
            "{first}"
        );
        let wall = folded(&tl, View::Wall);
        assert!(wall.lines().all(|l| l.contains(";[")), "{wall}");
        let mut sorted: Vec<&str> = wall.lines().collect();
        sorted.sort();
        assert_eq!(sorted, wall.lines().collect::<Vec<_>>());
    }

    #[test]
    fn svg_is_deterministic_and_empty_profiles_draw_nothing() {
        let tl = tl();
        let f = folded(&tl, View::Wall);
        let a = svg(&tl, &f, View::Wall).unwrap().unwrap();
        let b = svg(&tl, &f, View::Wall).unwrap().unwrap();
        assert_eq!(a, b);
        assert!(svg(&tl, "", View::Cpu).unwrap().is_none());
    }
}
