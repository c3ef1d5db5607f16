//! Live tests of native stacks and exact off-CPU time, through the library:
//! small C programs with known hot functions and known waits are compiled
//! with `cc`, launched held before exec, and sampled with perf events opened
//! in that gap. Assertions are on shares and reason classes, never on times.
#![cfg(target_os = "linux")]

mod common;
#[path = "native/support.rs"]
mod support;
use support::{compile, run};

use boundcheck::sample::native::NativeSampler;
use boundcheck::target::{self, LaunchOptions};
use boundcheck::timeline::{NativeProfile, OffCpuReason};
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Samples per leaf function name.
fn leaf_counts(p: &NativeProfile) -> Vec<(String, usize)> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for s in &p.samples {
        let frames = p.stacks.frames_of(s.stack);
        // The innermost user frame: kernel frames (timer interrupt entry) sit below it.
        let leaf = frames
            .iter()
            .rev()
            .find(|f| f.file != "[kernel]")
            .map_or("[none]".to_string(), |f| f.name.clone());
        *counts.entry(leaf).or_default() += 1;
    }
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

#[test]
fn native_hot_function_is_the_top_leaf_called_from_its_caller() {
    let Some(exe) = compile("hot") else { return };
    let _machine = common::exclusive();
    let r = run(&[exe.into_os_string()], &[], true, false);
    let p = r.native.expect("native profile");
    assert!(p.unavailable.is_none(), "{:?}", p.unavailable);
    assert!(p.samples.len() >= 20, "only {} samples", p.samples.len());
    assert!(
        p.samples.iter().all(|s| s.pid == r.pid),
        "samples from another process"
    );
    let tids: std::collections::BTreeSet<i32> = p.samples.iter().map(|s| s.tid).collect();
    assert!(tids.len() >= 2, "both worker threads sampled: {tids:?}");
    assert!(
        p.samples.windows(2).all(|w| w[0].t_s <= w[1].t_s),
        "time order"
    );

    let leaves = leaf_counts(&p);
    let (top, n) = &leaves[0];
    let share = *n as f64 / p.samples.len() as f64;
    assert_eq!(top, "burn_cpu_hot", "leaves: {leaves:?}");
    assert!(
        share >= 0.5,
        "burn_cpu_hot leaf share {share:.2}: {leaves:?}"
    );
    // Frame pointers let the chain reach the caller: worker → burn_cpu_hot.
    let with_caller = p
        .samples
        .iter()
        .filter(|s| {
            let names: Vec<&str> = p
                .stacks
                .frames_of(s.stack)
                .iter()
                .map(|f| f.name.as_str())
                .collect();
            names.windows(2).any(|w| w == ["worker", "burn_cpu_hot"])
        })
        .count();
    assert!(
        with_caller * 2 >= *n,
        "worker → burn_cpu_hot in {with_caller} of {n} samples"
    );
    // Debug info gives the source file of the hot function.
    let hot = p
        .stacks
        .frames
        .iter()
        .find(|f| f.name == "burn_cpu_hot")
        .unwrap();
    assert!(hot.file.ends_with("hot.c") && hot.line > 0, "{hot:?}");
}

#[test]
fn attaching_samples_the_threads_that_already_run() {
    let Some(exe) = compile("hot") else { return };
    let _machine = common::exclusive();
    let devnull = std::fs::File::create("/dev/null").expect("/dev/null");
    let opts = LaunchOptions {
        stdout: Some(devnull),
        ..LaunchOptions::default()
    };
    let argv = [exe.into_os_string(), "2".into(), "1.5".into()];
    let child = target::launch_with(&argv, &[], &opts, |_| {}).expect("launch");
    // Let both workers start: the main thread then only waits in pthread_join,
    // so every on-CPU sample comes from threads that existed before the attach.
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let mut s = NativeSampler::open(child.pid(), false, start).expect("attach");
    while !child.has_exited() {
        std::thread::sleep(Duration::from_millis(10));
        s.drain();
    }
    let _ = child.wait();
    let p = s.finish();
    let tids: std::collections::BTreeSet<i32> = p.samples.iter().map(|s| s.tid).collect();
    assert!(
        tids.len() >= 2,
        "samples from {tids:?}, {} samples",
        p.samples.len()
    );
    assert_eq!(leaf_counts(&p)[0].0, "burn_cpu_hot");
}

/// The fixture's `ROLE TID` lines.
fn roles(stdout: &str) -> HashMap<String, i32> {
    stdout
        .lines()
        .filter_map(|l| {
            let (role, tid) = l.split_once(' ')?;
            Some((role.to_string(), tid.trim().parse().ok()?))
        })
        .collect()
}

#[test]
fn off_cpu_waits_are_timed_and_land_in_their_reason_class() {
    let Some(exe) = compile("waits") else { return };
    let _machine = common::exclusive();
    let dir = OsString::from(env!("CARGO_TARGET_TMPDIR"));
    let r = run(&[exe.into_os_string(), dir], &[], false, true);
    let p = r.offcpu.expect("off-CPU profile");
    assert!(p.unavailable.is_none(), "{:?}", p.unavailable);
    let roles = roles(&r.stdout);
    assert_eq!(roles.len(), 4, "fixture output: {:?}", r.stdout);
    let thread = |role: &str| {
        let tid = roles[role];
        p.threads
            .get(&tid)
            .unwrap_or_else(|| panic!("{role} ({tid}) has no off-CPU time: {:?}", p.threads))
    };
    let secs = |role: &str, reason: OffCpuReason| {
        thread(role).off_cpu_s.get(&reason).copied().unwrap_or(0.0)
    };
    let top = |role: &str| {
        thread(role)
            .off_cpu_s
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(r, _)| *r)
    };
    assert_eq!(
        top("sleeper"),
        Some(OffCpuReason::Sleep),
        "{:?}",
        thread("sleeper")
    );
    assert!(
        secs("sleeper", OffCpuReason::Sleep) >= 0.4,
        "{:?}",
        thread("sleeper")
    );
    assert_eq!(
        top("holder"),
        Some(OffCpuReason::Sleep),
        "{:?}",
        thread("holder")
    );
    assert_eq!(
        top("waiter"),
        Some(OffCpuReason::Lock),
        "{:?}",
        thread("waiter")
    );
    assert!(
        secs("waiter", OffCpuReason::Lock) >= 0.3,
        "{:?}",
        thread("waiter")
    );
    assert!(
        secs("syncer", OffCpuReason::Disk) > 0.0,
        "{:?}",
        thread("syncer")
    );
    assert!(thread("waiter").pid == r.pid);
    // The long lock wait is one interval, with its kernel stack.
    let lock_wait = p
        .intervals
        .iter()
        .filter(|i| i.tid == roles["waiter"] && i.reason == OffCpuReason::Lock)
        .max_by(|a, b| a.duration_s.total_cmp(&b.duration_s))
        .expect("a lock interval for the waiter");
    assert!(lock_wait.duration_s >= 0.3, "{lock_wait:?}");
    let names: Vec<&str> = p
        .stacks
        .frames_of(lock_wait.stack)
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert!(names.iter().any(|n| n.contains("futex")), "{names:?}");
}

#[test]
fn python_functions_resolve_through_the_perf_trampoline() {
    let python = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/boundcheck/pythons/bin/python3.14"))
        .filter(|p| p.exists());
    let Some(python) = python else {
        common::skip_or_fail(
            "CPython 3.14 in ~/.cache/boundcheck/pythons (perf trampolines)",
            "BOUNDCHECK_SKIP_PYTHON314",
            "scripts/install-pythons.sh",
        );
        return;
    };
    let _machine = common::exclusive();
    let script = "import time\n\
                  def burn_python_hot(n):\n    x = 0\n    for i in range(n):\n        x += i * i\n    return x\n\
                  end = time.monotonic() + 1.0\n\
                  while time.monotonic() < end:\n    burn_python_hot(20000)\n";
    let env = [(OsString::from("PYTHONPERFSUPPORT"), OsString::from("1"))];
    let r = run(
        &[python.into_os_string(), "-c".into(), script.into()],
        &env,
        true,
        false,
    );
    let p = r.native.expect("native profile");
    let hits = p
        .samples
        .iter()
        .filter(|s| {
            p.stacks
                .frames_of(s.stack)
                .iter()
                .any(|f| f.name == "burn_python_hot")
        })
        .count();
    assert!(
        hits * 4 >= p.samples.len(),
        "burn_python_hot in {hits} of {} samples; frames: {:?}",
        p.samples.len(),
        p.stacks.frames.iter().map(|f| &f.name).collect::<Vec<_>>()
    );
}

/// Through the real binary: a C program's hot function heads `cpu.folded`
/// (its on-CPU graph is its native one), and the report carries the exact
/// off-CPU account.
#[test]
fn binary_draws_a_c_programs_hot_function_in_cpu_svg() {
    let Some(hot) = compile("hot") else {
        return;
    };
    let _g = common::exclusive();
    let r = common::run(&["--", hot.to_str().unwrap(), "2", "1.5"]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let folded = std::fs::read_to_string(r.out_dir.path().join("cpu.folded")).unwrap();
    let (stack, _) = folded
        .lines()
        .filter_map(|l| l.rsplit_once(' '))
        .max_by_key(|(_, n)| n.parse::<u64>().unwrap_or(0))
        .expect("native samples");
    assert!(
        stack
            .rsplit(';')
            .next()
            .unwrap()
            .starts_with("burn_cpu_hot"),
        "{stack}\n{folded}"
    );
    assert!(r.out_dir.path().join("cpu.svg").is_file());
    let report = r.report();
    assert!(
        report["native_stacks"]["samples"].as_u64().unwrap_or(0) > 20,
        "{}",
        report["native_stacks"]
    );
    assert!(
        report["off_cpu"]["by_reason_s"].is_object(),
        "{}",
        report["off_cpu"]
    );
}
