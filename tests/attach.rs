//! Attach parity: `--attach PID` on a program that already runs must give
//! what a launched run of the same program gives — the verdict, native
//! stacks (`cpu.svg` for a C program, `native.svg` beside Python stacks with
//! `--native`), exact off-CPU time by reason and the counters — and follow
//! threads created after the attach. Real processes through the real
//! binary; assertions on verdicts, leaf frames and reason classes, never on
//! times. Every spawned program is killed when its test ends, pass or fail.
#![cfg(target_os = "linux")]

mod common;
#[path = "native/support.rs"]
mod support;

use common::{Run, explain};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long each attach samples.
const ATTACH_FOR: &str = "2s";
/// How long a spawned program runs at most: longer than the start-up, the
/// warm-up and the attach together even on a loaded machine (it is killed
/// as soon as the attach ends).
const PROGRAM_S: &str = "20";
/// Steps of work `convoy.c` does holding its mutex: long enough (about a
/// millisecond) that the waiters sleep on the futex rather than stay
/// runnable, so the verdict holds on a machine loaded by other builds.
const CONVOY_WORK: &str = "200000";
/// Time for a spawned program to start its threads before the attach.
const WARM_UP: Duration = Duration::from_millis(500);
/// Longest wait for `python3` (a pyenv shim, bash at first) to become Python.
const EXEC_WAIT: Duration = Duration::from_secs(10);

/// A spawned program in a process group of its own, the whole group
/// killed and the program reaped when dropped (also on a failed assertion).
struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the group we created; no memory is involved.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(argv: &[&str]) -> Spawned {
    use std::os::unix::process::CommandExt;
    let child = Command::new(argv[0])
        .args(&argv[1..])
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {argv:?}: {e}"));
    Spawned(child)
}

/// Start `argv`, let it start its threads, attach with `extra` options, and
/// check the attach left it running.
fn attach_to(argv: &[&str], extra: &[&str]) -> Run {
    let mut p = spawn(argv);
    let pid = p.0.id();
    if argv[0].starts_with("python") {
        let t0 = Instant::now();
        while !runs_python(pid) {
            assert!(t0.elapsed() < EXEC_WAIT, "{argv:?} never became Python");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    std::thread::sleep(WARM_UP);
    let pid = pid.to_string();
    let mut args = vec!["--attach", &pid, "--duration", ATTACH_FOR];
    args.extend_from_slice(extra);
    let r = common::run(&args);
    assert!(
        p.0.try_wait().ok().flatten().is_none(),
        "the attach must leave {argv:?} running"
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert_eq!(r.report()["mode"], "attach");
    r
}

fn runs_python(pid: u32) -> bool {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .is_ok_and(|e| e.to_string_lossy().contains("python"))
}

fn timeline(r: &Run) -> Value {
    let text = std::fs::read_to_string(r.out_dir.path().join("timeline.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Seconds off CPU for `reason` in the report (`off_cpu.by_reason_s`), which must be measured.
fn off_cpu_s(r: &Run, reason: &str) -> f64 {
    let o = &r.report()["off_cpu"];
    assert!(o["unavailable"].is_null(), "off-CPU refused: {o}");
    assert!(o["by_reason_s"].is_object(), "{o}");
    o["by_reason_s"][reason].as_f64().unwrap_or(0.0)
}

/// The innermost non-kernel frame (name, file) of each native sample.
fn native_leaves(tl: &Value) -> Vec<(String, String)> {
    let n = &tl["native"];
    assert!(
        n["unavailable"].is_null(),
        "native refused: {}",
        n["unavailable"]
    );
    let frames = n["stacks"]["frames"].as_array().expect("frames");
    let stacks = n["stacks"]["stacks"].as_array().expect("stacks");
    n["samples"]
        .as_array()
        .expect("native samples")
        .iter()
        .filter_map(|s| {
            let stack = stacks[s["stack"].as_u64()? as usize].as_array()?;
            stack.iter().rev().find_map(|f| {
                let f = &frames[f.as_u64()? as usize];
                let file = f["file"].as_str().unwrap_or("");
                (file != "[kernel]").then(|| (f["name"].as_str().unwrap_or("").into(), file.into()))
            })
        })
        .collect()
}

/// The most frequent leaf name.
fn top_leaf(leaves: &[(String, String)]) -> String {
    let mut counts = std::collections::HashMap::<&str, usize>::new();
    for (name, _) in leaves {
        *counts.entry(name).or_default() += 1;
    }
    let top = counts
        .into_iter()
        .max_by_key(|&(n, c)| (c, std::cmp::Reverse(n)));
    top.map_or(String::new(), |(n, _)| n.to_string())
}

/// The hottest line of a folded file, its innermost frame.
fn hottest_leaf(folded: &Path) -> String {
    let text = std::fs::read_to_string(folded).unwrap_or_default();
    let (stack, _) = text
        .lines()
        .filter_map(|l| l.rsplit_once(' '))
        .max_by_key(|(_, n)| n.parse::<u64>().unwrap_or(0))
        .unwrap_or_else(|| panic!("{} is empty", folded.display()));
    stack.rsplit(';').next().unwrap_or("").to_string()
}

/// What every attach must record beside the /proc samples.
fn assert_perf_parity(r: &Run, tl: &Value) {
    let c = &r.report()["counters"];
    assert!(
        c["task_clock_s"].as_f64().unwrap_or(0.0) > 0.0,
        "counters: {c}"
    );
    let a = &tl["meta"]["attach"];
    assert!(
        a["threads_running"].as_u64().unwrap_or(0) >= 3,
        "coverage: {a}"
    );
    assert!(r.caveat_codes().contains(&"attached-mid-run".to_string()));
    assert!(
        !r.caveat_codes()
            .contains(&"perf-threads-missed".to_string()),
        "{}",
        explain(r)
    );
}

#[test]
fn attaching_to_a_busy_c_program_matches_its_launched_run() {
    let Some(exe) = support::compile("hot") else {
        return;
    };
    let exe = exe.to_str().unwrap();
    let _g = common::exclusive();
    let launched = common::run(&["--", exe, "2", "2"]);
    assert_eq!(launched.code(), Some(0), "{}", launched.stderr());
    let r = attach_to(&[exe, "2", PROGRAM_S], &[]);
    // Two threads burning CPU on two cores.
    assert_eq!(r.verdict(), "cpu-parallel", "{}", explain(&r));
    assert_eq!(
        r.verdict(),
        launched.verdict(),
        "attached: {}\nlaunched: {}",
        explain(&r),
        explain(&launched)
    );
    // A C program's on-CPU graph is its native one, without --native.
    assert!(r.out_dir.path().join("cpu.svg").is_file());
    assert_eq!(
        hottest_leaf(&r.out_dir.path().join("cpu.folded"))
            .split(' ')
            .next(),
        Some("burn_cpu_hot")
    );
    let tl = timeline(&r);
    assert_eq!(top_leaf(&native_leaves(&tl)), "burn_cpu_hot");
    // The main thread sits in pthread_join through the whole attach: a wait
    // that began before it, counted from the attach on, as a lock (futex).
    assert!(off_cpu_s(&r, "lock") > 0.0, "{}", r.report()["off_cpu"]);
    let main = tl["meta"]["command"][1].as_str().unwrap();
    let joined = &tl["off_cpu"]["threads"][main]["off_cpu_s"]["lock"];
    assert!(joined.as_f64() > Some(0.0), "{}", tl["off_cpu"]["threads"]);
    assert_perf_parity(&r, &tl);
}

#[test]
fn attaching_to_a_gil_contended_python_program_with_native_matches_its_launched_run() {
    let fixture = common::fixture("gil_threads.py");
    let fixture = fixture.to_str().unwrap();
    let _g = common::exclusive();
    let launched = common::run_fixture("gil_threads.py", &["2"]);
    assert_eq!(launched.code(), Some(0), "{}", launched.stderr());
    let r = attach_to(&["python3", fixture, PROGRAM_S], &["--native"]);
    assert_eq!(r.verdict(), "gil-contended", "{}", explain(&r));
    assert_eq!(
        r.verdict(),
        launched.verdict(),
        "launched: {}",
        explain(&launched)
    );
    // GIL waits are futex waits: exact off-CPU time files them under lock.
    assert!(off_cpu_s(&r, "lock") > 0.0, "{}", r.report()["off_cpu"]);
    // --native on an attach: native.svg beside the Python graphs, its leaves in the interpreter.
    assert!(
        r.out_dir.path().join("native.svg").is_file(),
        "{}",
        explain(&r)
    );
    let tl = timeline(&r);
    let leaves = native_leaves(&tl);
    let interpreter = leaves
        .iter()
        .filter(|(name, file)| {
            file.contains("python")
                || ["Objects/", "Python/", "Include/", "Modules/"]
                    .iter()
                    .any(|d| file.contains(d))
                || name.starts_with("_Py")
                || name.starts_with("Py")
        })
        .count();
    assert!(
        !leaves.is_empty() && interpreter * 2 >= leaves.len(),
        "{interpreter} of {} native leaves in the interpreter: {leaves:?}",
        leaves.len()
    );
    assert_perf_parity(&r, &tl);
}

#[test]
fn attaching_to_a_lock_convoy_matches_its_launched_run() {
    let Some(exe) = support::compile("convoy") else {
        return;
    };
    let exe = exe.to_str().unwrap();
    let _g = common::exclusive();
    let launched = common::run(&["--", exe, "4", "2", CONVOY_WORK]);
    assert_eq!(launched.code(), Some(0), "{}", launched.stderr());
    let r = attach_to(&[exe, "4", PROGRAM_S, CONVOY_WORK], &[]);
    assert_eq!(r.verdict(), "lock-contended", "{}", explain(&r));
    assert_eq!(
        r.verdict(),
        launched.verdict(),
        "launched: {}",
        explain(&launched)
    );
    // The work is done holding the mutex, the waits are on it.
    let tl = timeline(&r);
    assert_eq!(top_leaf(&native_leaves(&tl)), "fight");
    assert!(off_cpu_s(&r, "lock") > 0.0, "{}", r.report()["off_cpu"]);
    assert_perf_parity(&r, &tl);
}

/// Threads created after the attach inherit the events of the thread that
/// created them: their native samples and off-CPU time are there.
#[test]
fn threads_started_after_the_attach_are_followed() {
    let script = "import threading, time\n\
                  time.sleep(1.0)\n\
                  def spin():\n    end = time.monotonic() + 20\n    while time.monotonic() < end:\n        sum(range(1000))\n\
                  ts = [threading.Thread(target=spin) for _ in range(2)]\n\
                  [t.start() for t in ts]\n[t.join() for t in ts]\n";
    let _g = common::exclusive();
    let r = attach_to(&["python3", "-c", script], &["--native"]);
    let tl = timeline(&r);
    let pid = tl["meta"]["command"][1]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    assert_eq!(tl["meta"]["attach"]["threads_running"], 1, "{}", tl["meta"]);
    let born_later = |v: &Value| v.as_i64().is_some_and(|t| t != pid);
    let samples = tl["native"]["samples"].as_array().expect("native samples");
    let new_tids: std::collections::BTreeSet<i64> = samples
        .iter()
        .filter(|s| born_later(&s["tid"]))
        .filter_map(|s| s["tid"].as_i64())
        .collect();
    assert_eq!(
        new_tids.len(),
        2,
        "native samples of the new threads: {new_tids:?}"
    );
    let off = tl["off_cpu"]["threads"]
        .as_object()
        .expect("off-CPU threads");
    for tid in &new_tids {
        assert!(
            off.contains_key(&tid.to_string()),
            "no off-CPU account of {tid}: {off:?}"
        );
    }
}

/// CPU seconds (`schedstat`) and context switches (`status`) of a thread so far.
fn cpu_and_switches(pid: u32, tid: i32) -> Option<(f64, u64)> {
    let dir = format!("/proc/{pid}/task/{tid}");
    let sched = std::fs::read_to_string(format!("{dir}/schedstat")).ok()?;
    let cpu_ns: u64 = sched.split_whitespace().next()?.parse().ok()?;
    let status = std::fs::read_to_string(format!("{dir}/status")).ok()?;
    let switches = status
        .lines()
        .filter(|l| l.contains("ctxt_switches"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum();
    Some((cpu_ns as f64 / 1e9, switches))
}

/// A thread opened directly although it already inherited the events (what
/// the follow does for a thread born while the events were being opened)
/// writes each sample and switch twice, through two rings: it is counted
/// once. Library level, to open the second time on purpose.
#[test]
fn a_thread_opened_twice_is_counted_once() {
    use boundcheck::sample::native::NativeSampler;
    use boundcheck::sample::offcpu::OffCpuSampler;
    let script = "import threading, time\n\
                  time.sleep(0.5)\n\
                  def spin():\n    end = time.monotonic() + 1.5\n    while time.monotonic() < end:\n        sum(range(1000))\n    time.sleep(1.0)\n\
                  ts = [threading.Thread(target=spin) for _ in range(2)]\n\
                  [t.start() for t in ts]\n[t.join() for t in ts]\n";
    let _g = common::exclusive();
    let mut p = spawn(&["python3", "-c", script]);
    let pid = p.0.id();
    let t0 = Instant::now();
    while !runs_python(pid) {
        assert!(t0.elapsed() < EXEC_WAIT, "python3 never became Python");
        std::thread::sleep(Duration::from_millis(20));
    }
    let start = Instant::now();
    let main = pid as i32;
    let mut n = NativeSampler::attach(&[main], start).expect("native");
    let mut o = OffCpuSampler::attach(&[main], start).expect("off-CPU");
    let mut seen: std::collections::BTreeMap<i32, (f64, u64)> = Default::default();
    while p.0.try_wait().ok().flatten().is_none() {
        std::thread::sleep(Duration::from_millis(10));
        let tids: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .filter(|&t| t != main)
                    .collect()
            })
            .unwrap_or_default();
        let new: Vec<i32> = tids
            .iter()
            .copied()
            .filter(|t| !seen.contains_key(t))
            .collect();
        // Born after the attach, so already covered by inheritance: open again anyway.
        n.follow(&new);
        o.follow(&new);
        for tid in tids {
            if let Some(now) = cpu_and_switches(pid, tid) {
                seen.insert(tid, now);
            }
        }
        n.drain();
        o.drain();
    }
    let (native, off) = (n.finish(), o.finish());
    assert_eq!(seen.len(), 2, "two workers: {seen:?}");
    for (tid, &(cpu_s, switches)) in &seen {
        let samples = native.samples.iter().filter(|s| s.tid == *tid).count() as f64;
        let expected = cpu_s * native.rate_hz;
        assert!(
            samples > 0.0 && samples <= 1.4 * expected + 10.0,
            "thread {tid}: {samples} native samples for {cpu_s:.2} s of CPU at {} Hz",
            native.rate_hz
        );
        let counted: u64 = off
            .threads
            .get(tid)
            .map_or(0, |t| t.switches.values().sum());
        assert!(
            counted > 0 && counted as f64 <= 1.2 * switches as f64 + 5.0,
            "thread {tid}: {counted} switches counted, the kernel made {switches}"
        );
    }
}

/// Child processes that run at the attach get their own events, as the
/// launched mode follows children: their native samples are there.
#[test]
fn child_processes_running_at_the_attach_are_sampled() {
    let Some(exe) = support::compile("hot") else {
        return;
    };
    let exe = exe.to_str().unwrap();
    let _g = common::exclusive();
    let script = format!("'{exe}' 1 {PROGRAM_S} & '{exe}' 1 {PROGRAM_S} & wait");
    let r = attach_to(&["sh", "-c", &script], &[]);
    let tl = timeline(&r);
    let shell = tl["meta"]["command"][1]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    assert!(
        tl["meta"]["attach"]["processes"].as_u64() >= Some(3),
        "{}",
        tl["meta"]
    );
    let pids: std::collections::BTreeSet<i64> = tl["native"]["samples"]
        .as_array()
        .expect("native samples")
        .iter()
        .filter_map(|s| s["pid"].as_i64())
        .filter(|&p| p != shell)
        .collect();
    assert_eq!(pids.len(), 2, "native samples from both children: {pids:?}");
    assert_eq!(top_leaf(&native_leaves(&tl)), "burn_cpu_hot");
}

/// A process whose main thread called `pthread_exit` shows as a zombie
/// while its other threads run on: the attach samples it for the whole
/// `--duration` instead of taking it for ended (and perf is opened on the
/// live threads, the zombie main thread passed over).
#[test]
fn a_process_whose_main_thread_exited_is_sampled_until_the_end() {
    let Some(exe) = support::compile("main_exits") else {
        return;
    };
    let exe = exe.to_str().unwrap();
    let _g = common::exclusive();
    let mut p = spawn(&[exe, PROGRAM_S]);
    std::thread::sleep(WARM_UP);
    let pid = p.0.id().to_string();
    let r = common::run(&["--attach", &pid, "--duration", ATTACH_FOR]);
    assert!(p.0.try_wait().ok().flatten().is_none(), "left running");
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert!(
        !r.caveat_codes().contains(&"few-samples".to_string()),
        "{}",
        explain(&r)
    );
    let tl = timeline(&r);
    assert_eq!(top_leaf(&native_leaves(&tl)), "spin_alone");
}
