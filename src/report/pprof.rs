//! pprof export (`profile.pb.gz`): the on-CPU profile as a gzip-compressed
//! `perftools.profiles.Profile` protobuf, the format `go tool pprof`,
//! Pyroscope, Parca and Google Cloud Profiler read.
//!
//! What it holds: the stacks of `cpu.folded` (each process under a root
//! frame `name [pid N]`, Python frames with their file and line; perf's
//! native frames for a program without Python stacks), with two values per
//! sample: `samples/count` (thread-moments) and `cpu/nanoseconds` (the
//! thread time each moment stands for, see
//! [`WeightedStack::weight_s`](super::flame::WeightedStack)), the default.
//! Every sample carries labels `pid`, `tid`, `thread` (name) and `state`
//! (`gil-held`, `native-nogil`, `on-cpu`), so `pprof -tagfocus=state=gil-held`
//! keeps the time Python bytecode ran. Identical stacks of one thread in one
//! state are merged into one sample, as pprof itself does.
//!
//! **Why the protobuf is encoded by hand** rather than with `prost`: the
//! writer needs six small messages and two wire types (varint and
//! length-delimited), about sixty lines below. `prost` would bring a
//! protobuf runtime and either a code-generation build step (with `protoc`
//! or a Rust protobuf compiler as a build dependency) or hand-written
//! message structs, which are no safer than hand-written fields. The risk of
//! hand encoding, a wrong field number or wire type, is what the test in
//! `tests/exports.rs` rules out: it decodes the output with an independent
//! decoder (`prost-reflect`) against the official `profile.proto`.

use super::flame::{FlameFrame, View, weighted_stacks};
use crate::timeline::Timeline;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

/// `profile.pb.gz` in the format registry (drawn from the timeline).
pub const FORMAT: super::format::Format = super::format::Format {
    name: "pprof",
    file_name: "profile.pb.gz",
    source: super::format::Source::Timeline,
    run_extra: true,
    render: |i| i.timeline.map(render),
};

/// The gzip-compressed pprof profile of a timeline's on-CPU time. Empty
/// samples (a program that never ran on a CPU) still give a valid profile.
pub fn render(tl: &Timeline) -> Vec<u8> {
    let raw = encode(tl);
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    gz.write_all(&raw)
        .and_then(|_| gz.finish())
        .unwrap_or_default()
}

/// The uncompressed `Profile` message.
pub fn encode(tl: &Timeline) -> Vec<u8> {
    let mut strings = Strings::default();
    strings.id(""); // string_table[0] must be "".
    let thread_names: HashMap<i32, &str> = tl
        .threads
        .iter()
        .map(|t| (t.tid, t.name.as_str()))
        .collect();

    // Locations (one per distinct frame) and functions (one per name and file).
    let mut locations: Vec<(u64, i64)> = Vec::new(); // (function id, line)
    let mut location_ids: HashMap<(String, String, u32), u64> = HashMap::new();
    let mut functions: Vec<(i64, i64)> = Vec::new(); // (name, filename) string ids
    let mut function_ids: HashMap<(String, String), u64> = HashMap::new();
    let mut location_of = |f: &FlameFrame, strings: &mut Strings| -> u64 {
        let (name, file, line) = match f {
            FlameFrame::Code(fr) | FlameFrame::Native(fr) => {
                (fr.name.clone(), fr.file.clone(), fr.line)
            }
            other => (other.label(), String::new(), 0),
        };
        let key = (name, file, line);
        if let Some(&id) = location_ids.get(&key) {
            return id;
        }
        let fkey = (key.0.clone(), key.1.clone());
        let function = match function_ids.get(&fkey) {
            Some(&id) => id,
            None => {
                functions.push((strings.id(&fkey.0), strings.id(&fkey.1)));
                let id = functions.len() as u64;
                function_ids.insert(fkey, id);
                id
            }
        };
        locations.push((function, i64::from(line)));
        let id = locations.len() as u64;
        location_ids.insert(key, id);
        id
    };

    // Samples, merged by (stack, thread, state); values: [count, cpu ns].
    type SampleKey = (Vec<u64>, i32, i32, &'static str);
    let mut samples: BTreeMap<SampleKey, (i64, i64)> = BTreeMap::new();
    let mut total_ns: i64 = 0;
    for w in weighted_stacks(tl, View::Cpu) {
        let stack: Vec<u64> = w
            .frames
            .iter()
            .rev() // pprof wants the leaf first
            .map(|f| location_of(f, &mut strings))
            .collect();
        let ns = (w.weight_s * 1e9).round() as i64;
        total_ns += ns;
        let v = samples
            .entry((stack, w.pid, w.tid, w.state.unwrap_or("on-cpu")))
            .or_default();
        v.0 += 1;
        v.1 += ns;
    }

    let mut out = Vec::new();
    let samples_id = strings.id("samples");
    let count_id = strings.id("count");
    let cpu_id = strings.id("cpu");
    let ns_id = strings.id("nanoseconds");
    message(&mut out, 1, |m| value_type(m, samples_id, count_id));
    message(&mut out, 1, |m| value_type(m, cpu_id, ns_id));
    let (pid_key, tid_key) = (strings.id("pid"), strings.id("tid"));
    let (thread_key, state_key) = (strings.id("thread"), strings.id("state"));
    let moments: i64 = samples.values().map(|v| v.0).sum();
    for ((stack, pid, tid, state), (count, ns)) in &samples {
        let thread = strings.id(thread_names.get(tid).copied().unwrap_or("?"));
        let state = strings.id(state);
        message(&mut out, 2, |m| {
            packed(m, 1, stack.iter().copied());
            packed(m, 2, [*count as u64, *ns as u64]);
            message(m, 3, |l| label_num(l, pid_key, i64::from(*pid)));
            message(m, 3, |l| label_num(l, tid_key, i64::from(*tid)));
            message(m, 3, |l| label_str(l, thread_key, thread));
            message(m, 3, |l| label_str(l, state_key, state));
        });
    }
    for (i, (function, line)) in locations.iter().enumerate() {
        message(&mut out, 4, |m| {
            uint(m, 1, i as u64 + 1);
            message(m, 4, |l| {
                uint(l, 1, *function);
                uint(l, 2, *line as u64);
            });
        });
    }
    for (i, (name, file)) in functions.iter().enumerate() {
        message(&mut out, 5, |m| {
            uint(m, 1, i as u64 + 1);
            uint(m, 2, *name as u64);
            uint(m, 3, *name as u64);
            uint(m, 4, *file as u64);
        });
    }
    let comment = strings.id(&format!(
        "boundcheck {} on-CPU profile of: {}",
        env!("CARGO_PKG_VERSION"),
        tl.meta.command.join(" ")
    ));
    for s in &strings.list {
        bytes(&mut out, 6, s.as_bytes());
    }
    let started = humantime::parse_rfc3339_weak(&tl.meta.started_at)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64);
    uint(&mut out, 9, started);
    uint(
        &mut out,
        10,
        (tl.meta.duration_s.max(0.0) * 1e9).round() as u64,
    );
    message(&mut out, 11, |m| value_type(m, cpu_id, ns_id));
    // The mean time one sample stands for.
    uint(
        &mut out,
        12,
        if moments > 0 {
            (total_ns / moments) as u64
        } else {
            0
        },
    );
    packed(&mut out, 13, [comment as u64]);
    uint(&mut out, 14, cpu_id as u64);
    out
}

/// The string table: each distinct string once, by first use.
#[derive(Default)]
struct Strings {
    list: Vec<String>,
    ids: HashMap<String, i64>,
}

impl Strings {
    fn id(&mut self, s: &str) -> i64 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.list.len() as i64;
        self.list.push(s.to_string());
        self.ids.insert(s.to_string(), id);
        id
    }
}

// Protobuf wire format: a field is a key (field number << 3 | wire type)
// then a varint (type 0) or a length-prefixed payload (type 2). Zero
// scalars are omitted, as proto3 does.

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn uint(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        varint(out, u64::from(field) << 3);
        varint(out, v);
    }
}

fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    varint(out, (u64::from(field) << 3) | 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn message(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    let mut m = Vec::new();
    body(&mut m);
    bytes(out, field, &m);
}

/// A packed repeated varint field (how proto3 writes `repeated int64/uint64`).
fn packed(out: &mut Vec<u8>, field: u32, vs: impl IntoIterator<Item = u64>) {
    let mut m = Vec::new();
    for v in vs {
        varint(&mut m, v);
    }
    if !m.is_empty() {
        bytes(out, field, &m);
    }
}

fn value_type(m: &mut Vec<u8>, kind: i64, unit: i64) {
    uint(m, 1, kind as u64);
    uint(m, 2, unit as u64);
}

fn label_num(m: &mut Vec<u8>, key: i64, num: i64) {
    uint(m, 1, key as u64);
    // int64 is two's complement on the wire; pids are positive anyway.
    uint(m, 3, num as u64);
}

fn label_str(m: &mut Vec<u8>, key: i64, s: i64) {
    uint(m, 1, key as u64);
    uint(m, 2, s as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_the_protobuf_examples() {
        // From the protobuf encoding guide: 150 is 96 01; 1 is 01.
        let mut b = Vec::new();
        varint(&mut b, 150);
        assert_eq!(b, [0x96, 0x01]);
        let mut b = Vec::new();
        uint(&mut b, 1, 150);
        assert_eq!(b, [0x08, 0x96, 0x01]);
        let mut b = Vec::new();
        uint(&mut b, 1, 0);
        assert!(b.is_empty(), "proto3 omits zero scalars");
    }

    #[test]
    fn output_is_gzip_and_deterministic() {
        let tl: Timeline = serde_json::from_str(include_str!(
            "../../fixtures/timelines/gil-contended__gil_threads_stacks.json"
        ))
        .unwrap();
        let a = render(&tl);
        assert_eq!(&a[..2], &[0x1f, 0x8b], "gzip magic");
        assert_eq!(a, render(&tl));
    }
}
