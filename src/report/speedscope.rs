//! speedscope export (`profile.speedscope.json`, opened at speedscope.app or
//! with the `speedscope` command; format: speedscope's
//! `file-format-schema.json`).
//!
//! **One sampled profile per thread, of wall-clock time**, named
//! `thread-name [pid/tid]`, each sample's stack ending in a state
//! pseudo-frame (`[gil-held]`, `[gil-wait]`, `[disk-wait]`, `[sleep]`, …)
//! exactly like `wall.folded`, from the same moments (with Python stacks,
//! the ticks that read them: a thread seen only between reads, such as a
//! short-lived shell, has no profile). Why wall-clock and not on-CPU: the wall view
//! holds the on-CPU one (speedscope's sandwich view on `[gil-held]` or
//! `[on-cpu]` lists the code that ran), while an on-CPU profile cannot show
//! where a slow program waits, which is boundcheck's question. A second set
//! of on-CPU profiles would double the file and the thread list for no
//! information. Per thread because speedscope's "time order" view then shows
//! each thread's life in order, which a merged profile scrambles.
//!
//! When perf took native stacks, each thread also gets a `native on-CPU`
//! profile of them (perf samples only exist on a CPU, so they have no state leaf).
//!
//! Units: seconds. A sample's weight is the thread time it stands for (see
//! [`WeightedStack::weight_s`]), so a thread's weights sum to its observed
//! time on ticks that read stacks. Process and thread frames are left out of
//! the stacks: the profile is the thread.

use super::flame::{FlameFrame, View, WeightedStack, weighted_stacks};
use crate::timeline::Timeline;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// `profile.speedscope.json` in the format registry (drawn from the timeline).
pub const FORMAT: super::format::Format = super::format::Format {
    name: "speedscope",
    file_name: "profile.speedscope.json",
    source: super::format::Source::Timeline,
    run_extra: true,
    render: |i| i.timeline.map(render),
};

/// The `$schema` value speedscope recognises its files by.
const SCHEMA_URL: &str = "https://www.speedscope.app/file-format-schema.json";

#[derive(Serialize)]
struct File<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    name: String,
    exporter: String,
    #[serde(rename = "activeProfileIndex")]
    active_profile_index: usize,
    shared: Shared<'a>,
    profiles: Vec<Profile>,
}

#[derive(Serialize)]
struct Shared<'a> {
    frames: Vec<SpeedscopeFrame<'a>>,
}

#[derive(Serialize, Clone, PartialEq, Eq, Hash)]
struct SpeedscopeFrame<'a> {
    name: std::borrow::Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
}

#[derive(Serialize)]
struct Profile {
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    unit: &'static str,
    #[serde(rename = "startValue")]
    start_value: f64,
    #[serde(rename = "endValue")]
    end_value: f64,
    samples: Vec<Vec<usize>>,
    weights: Vec<f64>,
}

/// Interns frames into speedscope's shared frame list.
#[derive(Default)]
struct Frames<'a> {
    list: Vec<SpeedscopeFrame<'a>>,
    ids: HashMap<SpeedscopeFrame<'a>, usize>,
}

impl<'a> Frames<'a> {
    /// The index of this frame, or `None` for process and thread frames
    /// (the profile itself names the thread).
    fn id(&mut self, f: &FlameFrame<'a>) -> Option<usize> {
        let frame = match *f {
            FlameFrame::Process { .. } | FlameFrame::Thread { .. } => return None,
            FlameFrame::Code(fr) | FlameFrame::Native(fr) => SpeedscopeFrame {
                name: fr.name.as_str().into(),
                file: (!fr.file.is_empty()).then_some(fr.file.as_str()),
                line: (fr.line > 0).then_some(fr.line),
            },
            FlameFrame::State(s) => SpeedscopeFrame {
                name: format!("[{s}]").into(),
                file: None,
                line: None,
            },
        };
        if let Some(&id) = self.ids.get(&frame) {
            return Some(id);
        }
        let id = self.list.len();
        self.list.push(frame.clone());
        self.ids.insert(frame, id);
        Some(id)
    }
}

/// The speedscope JSON of a timeline (see the module doc for what it holds).
pub fn render(tl: &Timeline) -> Vec<u8> {
    let thread_names: HashMap<i32, &str> = tl
        .threads
        .iter()
        .map(|t| (t.tid, t.name.as_str()))
        .collect();
    let mut frames = Frames::default();
    let mut profiles = Vec::new();
    // The thread that spent the most time on a CPU opens first.
    let mut busiest: Option<(f64, usize)> = None;
    for (kind, view) in [("", View::Wall), ("native on-CPU · ", View::Native)] {
        let mut per_thread: BTreeMap<(i32, i32), Vec<WeightedStack>> = BTreeMap::new();
        for w in weighted_stacks(tl, view) {
            per_thread.entry((w.pid, w.tid)).or_default().push(w);
        }
        for ((pid, tid), moments) in per_thread {
            let name = thread_names.get(&tid).copied().unwrap_or("?");
            let on_cpu_s: f64 = moments
                .iter()
                .filter(|w| w.state.is_some_and(is_running))
                .map(|w| w.weight_s)
                .sum();
            if view == View::Wall && busiest.is_none_or(|(best, _)| on_cpu_s > best) {
                busiest = Some((on_cpu_s, profiles.len()));
            }
            profiles.push(profile(
                format!("{kind}{name} [{pid}/{tid}]"),
                &moments,
                &mut frames,
            ));
        }
    }
    let file = File {
        schema: SCHEMA_URL,
        name: format!(
            "boundcheck · wall-clock by thread · {}",
            tl.meta.command.join(" ")
        ),
        exporter: format!("boundcheck {}", env!("CARGO_PKG_VERSION")),
        active_profile_index: busiest.map_or(0, |(_, i)| i),
        shared: Shared {
            frames: frames.list,
        },
        profiles,
    };
    let mut out = serde_json::to_vec(&file).unwrap_or_default();
    out.push(b'\n');
    out
}

/// One thread's moments as a sampled profile, in time order.
fn profile<'a>(name: String, moments: &[WeightedStack<'a>], frames: &mut Frames<'a>) -> Profile {
    let samples: Vec<Vec<usize>> = moments
        .iter()
        .map(|w| w.frames.iter().filter_map(|f| frames.id(f)).collect())
        .collect();
    let weights: Vec<f64> = moments.iter().map(|w| round_us(w.weight_s)).collect();
    let start_value = moments
        .first()
        .map_or(0.0, |w| round_us((w.t_s - w.weight_s).max(0.0)));
    Profile {
        kind: "sampled",
        name,
        unit: "seconds",
        start_value,
        end_value: round_us(start_value + weights.iter().sum::<f64>()),
        samples,
        weights,
    }
}

/// States in which a thread was on a CPU.
fn is_running(state: &str) -> bool {
    matches!(state, "on-cpu" | "gil-held" | "native-nogil")
}

/// Microsecond precision: finer than any sampler tick, and it keeps the
/// file small and free of float noise like `0.020000000000000018`.
fn round_us(s: f64) -> f64 {
    (s * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tl() -> Timeline {
        serde_json::from_str(include_str!(
            "../../fixtures/timelines/lock-contended__lock_fight_stacks.json"
        ))
        .unwrap()
    }

    #[test]
    fn one_wall_profile_per_thread_with_state_leaves_and_no_process_frames() {
        let tl = tl();
        let v: serde_json::Value = serde_json::from_slice(&render(&tl)).unwrap();
        // The moments of wall.folded: with stacks, the ticks that read them.
        let threads: std::collections::BTreeSet<i32> = tl
            .samples
            .iter()
            .filter(|s| s.threads.iter().any(|t| t.stack.is_some()))
            .flat_map(|s| s.threads.iter().map(|t| t.tid))
            .collect();
        let profiles = v["profiles"].as_array().unwrap();
        assert_eq!(profiles.len(), threads.len());
        let frames = v["shared"]["frames"].as_array().unwrap();
        for p in profiles {
            for s in p["samples"].as_array().unwrap() {
                let leaf = s.as_array().unwrap().last().unwrap().as_u64().unwrap();
                let name = frames[leaf as usize]["name"].as_str().unwrap();
                assert!(name.starts_with('[') && name.ends_with(']'), "{name}");
            }
        }
        assert!(
            frames
                .iter()
                .all(|f| !f["name"].as_str().unwrap().contains("[pid ")),
            "process frames belong in the profile name"
        );
    }

    #[test]
    fn rendering_is_deterministic() {
        let tl = tl();
        assert_eq!(render(&tl), render(&tl));
    }
}
