//! boundcheck's own Python stack reader (`src/sample/pyread/`) on real
//! interpreters, CPython 3.11 (`python3`), 3.12, 3.13 and 3.14
//! (`scripts/install-pythons.sh` provides the last three, with their headers):
//! - its structure offsets are those of each version's own headers
//!   (`tests/pyread_offsets.c`, compiled against each);
//! - on threads parked in known call chains it gives py-spy's traces frame
//!   for frame, cold and with its caches warm;
//! - under a loop that compiles and frees code objects, its kept names are
//!   never stale: read with the target stopped, the warm reader equals a
//!   fresh one, and every frame's name belongs to its file.

mod common;

use boundcheck::sample::pyread::PyReader;
use common::*;
use py_spy::config::{LineNo, LockingStrategy};
use py_spy::{Config, PythonSpy, StackTrace};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INSTALL: &str = "scripts/install-pythons.sh (and put its bin directory on PATH: eval \"$(scripts/install-pythons.sh | tail -1)\")";

/// A fixture running under `python`, parked until dropped.
struct Target {
    child: Child,
    pid: i32,
}

impl Target {
    fn start(python: &str, name: &str, args: &[&str]) -> Target {
        let mut child = Command::new(python)
            .arg(fixture(name))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{python}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "{python} {name}");
        let pid = child.id() as i32;
        Target { child, pid }
    }

    /// Run `f` with every thread of the target stopped (SIGSTOP), so that
    /// two readers see the same memory.
    fn stopped<T>(&self, f: impl FnOnce() -> T) -> T {
        unsafe { libc::kill(self.pid, libc::SIGSTOP) };
        let t0 = Instant::now();
        while !all_in(self.pid, &['T', 't']) {
            assert!(t0.elapsed() < Duration::from_secs(5), "never stopped");
            std::thread::sleep(Duration::from_millis(1));
        }
        let out = f();
        unsafe { libc::kill(self.pid, libc::SIGCONT) };
        out
    }
}

impl Target {
    /// Wait until every thread sleeps (`S`), twice 20 ms apart.
    fn until_all_sleep(&self) {
        let t0 = Instant::now();
        let mut calm = 0;
        while calm < 2 {
            assert!(t0.elapsed() < Duration::from_secs(10), "never settled");
            std::thread::sleep(Duration::from_millis(20));
            calm = if all_in(self.pid, &['S']) {
                calm + 1
            } else {
                0
            };
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether every thread of `pid` is in one of `states` (`/proc` letters).
fn all_in(pid: i32, states: &[char]) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|t| {
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
        state.is_some_and(|c| states.contains(&c))
    })
}

fn open(pid: i32) -> PythonSpy {
    let config = Config {
        blocking: LockingStrategy::NonBlocking,
        lineno: LineNo::LastInstruction,
        ..Config::default()
    };
    PythonSpy::retry_new(pid, &config, 20).expect("py-spy opens the target")
}

/// A frame: name, file, line.
type Frame = (String, String, i32);
/// A thread: holds the GIL, frames innermost first.
type Thread = (bool, Vec<Frame>);
/// Per native thread id.
type Traces = BTreeMap<u64, Thread>;

fn key(traces: &[StackTrace]) -> Traces {
    traces
        .iter()
        .map(|t| {
            let frames = t
                .frames
                .iter()
                .map(|f| (f.name.clone(), f.filename.clone(), f.line))
                .collect();
            (
                t.os_thread_id.expect("3.11+ has native ids"),
                (t.owns_gil, frames),
            )
        })
        .collect()
}

/// Equal traces, or a failure that shows only the threads that differ and
/// where their frames part.
fn same(py: &str, what: &str, a: &Traces, b: &Traces) {
    if a == b {
        return;
    }
    let mut diff = String::new();
    for tid in a.keys().chain(b.keys()) {
        let (x, y) = (a.get(tid), b.get(tid));
        if x == y {
            continue;
        }
        let at = |t: Option<&Thread>, i: usize| {
            t.map(|(g, f)| format!("gil {g}, {} frames, #{i}: {:?}", f.len(), f.get(i)))
        };
        let first = match (x, y) {
            (Some((_, f)), Some((_, g))) => f.iter().zip(g).position(|(p, q)| p != q).unwrap_or(0),
            _ => 0,
        };
        diff += &format!(
            "\n  thread {tid}: {:?}\n     vs: {:?}",
            at(x, first),
            at(y, first)
        );
    }
    panic!("{py}: {what}:{diff}");
}

/// The line of `@marker` in fixture `name`.
fn marked(name: &str, marker: &str) -> i32 {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    let at = text
        .lines()
        .position(|l| l.contains(&format!("# {marker}")))
        .unwrap_or_else(|| panic!("no {marker} in {name}"));
    at as i32 + 1
}

/// The interpreter's include directory (`sysconfig`), with its `internal/`.
fn include_dir(python: &str) -> Option<std::path::PathBuf> {
    let out = Command::new(python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['include'])",
        ])
        .output()
        .ok()?;
    let dir = std::path::PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    dir.join("internal/pycore_frame.h").is_file().then_some(dir)
}

/// `tests/pyread_offsets.c` compiled against `include` and run: its keys.
fn offsets_from_headers(include: &std::path::Path) -> BTreeMap<String, u64> {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("offsets");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pyread_offsets.c");
    let cc = Command::new("cc")
        .arg("-DPy_BUILD_CORE")
        .arg("-I")
        .arg(include)
        .arg("-I")
        .arg(include.parent().unwrap())
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("cc (scripts/install-test-tools.sh installs it)");
    assert!(
        cc.status.success(),
        "{}: {}",
        include.display(),
        String::from_utf8_lossy(&cc.stderr)
    );
    let out = Command::new(&exe).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

fn check_offsets(include: &std::path::Path) {
    let from_c = offsets_from_headers(include);
    let minor = from_c["version.minor"];
    let ours: BTreeMap<String, u64> = PyReader::layout_fields(3, minor)
        .unwrap_or_else(|| panic!("no layout for 3.{minor}"))
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(ours, from_c, "3.{minor}, headers in {}", include.display());
}

#[test]
fn offsets_are_those_of_each_versions_headers() {
    for py in cpythons() {
        match include_dir(&py) {
            Some(dir) => check_offsets(&dir),
            None => skip_or_fail(
                &format!("{py}'s C headers (internal/pycore_frame.h)"),
                "BOUNDCHECK_SKIP_PYREAD_HEADERS",
                INSTALL,
            ),
        }
    }
    // Other patch releases that happen to be installed (pyenv's) must agree too.
    let pyenv =
        std::path::Path::new(&std::env::var("HOME").unwrap_or_default()).join(".pyenv/versions");
    for v in std::fs::read_dir(pyenv).into_iter().flatten().flatten() {
        let name = v.file_name().to_string_lossy().into_owned();
        let minor = name.split('.').nth(1).and_then(|m| m.parse::<u64>().ok());
        if let Some(minor @ 11..=14) = minor {
            let dir = v.path().join(format!("include/python3.{minor}"));
            if dir.join("internal/pycore_frame.h").is_file() {
                check_offsets(&dir);
            }
        }
    }
}

#[test]
fn parked_threads_read_as_py_spy_reads_them() {
    let _g = exclusive();
    let f = "pyread_parked.py";
    let depth = 300;
    for py in cpythons() {
        let target = Target::start(&py, f, &[&depth.to_string()]);
        let mut spy = open(target.pid);
        let mut reader = PyReader::new(&spy).expect("3.11-3.14 with the GIL");
        // "ready" is printed just before the main thread's blocking read: on
        // a loaded machine it may not be there yet.
        target.until_all_sleep();
        let (theirs, cold, cold_calls, warm, warm_calls) = target.stopped(|| {
            let theirs = spy.get_stack_traces().expect("py-spy reads");
            let cold = reader.read(&[]).expect("own reader, cold");
            let cold_calls = reader.last_calls;
            let warm = reader.read(&[]).expect("own reader, warm");
            (theirs, cold, cold_calls, warm, reader.last_calls)
        });
        let (theirs, cold, warm) = (key(&theirs), key(&cold), key(&warm));
        same(&py, "own reader (cold) vs py-spy", &cold, &theirs);
        same(&py, "own reader warm vs cold", &warm, &cold);
        eprintln!("{py}: system calls cold {cold_calls}, warm {warm_calls}");
        assert!(
            warm_calls <= cold_calls,
            "{py}: {warm_calls} > {cold_calls}"
        );
        // The ground truth, so that equality is not of two empty answers.
        assert_eq!(cold.len(), 4, "{py}: {cold:?}");
        let chain = |inner: &str| {
            cold.values()
                .map(|(_, fr)| fr)
                .find(|fr| fr.iter().any(|(n, ..)| n == inner))
                .unwrap_or_else(|| panic!("{py}: no thread in {inner}: {cold:?}"))
        };
        let at = |fr: &[Frame], name: &str| {
            let (_, file, line) = fr.iter().find(|(n, ..)| n == name).unwrap();
            (file.ends_with(f).then_some(*line), *line)
        };
        let gen_thread = chain("gen_sleep");
        assert_eq!(gen_thread[0].0, "gen_sleep", "{py}: {gen_thread:?}");
        assert_eq!(at(gen_thread, "gen_sleep").0, Some(marked(f, "@gen-sleep")));
        assert_eq!(at(gen_thread, "run_gen").0, Some(marked(f, "@run-gen")));
        let wait = chain("Waiter.park");
        assert_eq!(at(wait, "Waiter.park").0, Some(marked(f, "@event-wait")));
        assert_eq!(at(wait, "Waiter.outer").0, Some(marked(f, "@outer")));
        assert!(wait[0].1.ends_with("threading.py"), "{py}: {wait:?}");
        let deep = chain("deep");
        let n = deep.iter().filter(|(n, ..)| n == "deep").count();
        assert_eq!(n, depth + 1, "{py}");
        assert_eq!(deep[0].2, marked(f, "@deep-sleep"), "{py}: {:?}", deep[0]);
        assert_eq!(deep[1].2, marked(f, "@deep-recurse"), "{py}: {:?}", deep[1]);
        // Not stopped, once the main thread's read, interrupted by the stop,
        // sits again (a loaded machine may take a while): every thread
        // sleeps, so asking each one's OS state gives py-spy's "active"
        // flags (all idle).
        let tids: Vec<i32> = cold.keys().map(|&t| t as i32).collect();
        let flags = |t: &[StackTrace]| -> Vec<(Option<u64>, bool)> {
            let mut v: Vec<_> = t.iter().map(|t| (t.os_thread_id, t.active)).collect();
            v.sort_unstable();
            v
        };
        let mut tries = 0;
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let ours = reader.read(&tids).expect("own reader");
            let theirs = spy.get_stack_traces().expect("py-spy reads");
            // The stopped reads may have caught a thread holding the GIL for
            // a moment: the frames must be the same, the holder may not.
            let frames = |t: &Traces| -> Traces {
                t.iter()
                    .map(|(&k, (_, f))| (k, (false, f.clone())))
                    .collect()
            };
            let (o, t) = (key(&ours), key(&theirs));
            let settled = o == t && frames(&o) == frames(&cold);
            tries += 1;
            if settled || tries == 50 {
                same(&py, "a third read vs py-spy's", &o, &t);
                same(
                    &py,
                    "a third read's frames vs the first",
                    &frames(&o),
                    &frames(&cold),
                );
                assert_eq!(flags(&ours), flags(&theirs), "{py}: active flags");
                assert!(flags(&ours).iter().all(|(_, a)| !a), "{py}: all idle");
                break;
            }
        }
    }
}

#[test]
fn kept_names_are_never_stale_while_code_objects_are_freed_and_reused() {
    let _g = exclusive();
    for py in cpythons() {
        let target = Target::start(&py, "pyread_churn.py", &[]);
        let mut spy = open(target.pid);
        let mut warm = PyReader::new(&spy).expect("3.11-3.14 with the GIL");
        let (mut compared, mut churn_frames, mut failed) = (0, 0, 0);
        let mut why: BTreeMap<String, usize> = BTreeMap::new();
        // Stopped reads where only py-spy, or only the own reader, failed.
        let (mut only_spy_read, mut only_own_read) = (0, 0);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            // Stopped: the kept entries must give what a fresh read gives,
            // and that is what py-spy reads.
            let (a, b, c) = target.stopped(|| {
                let mut cold = PyReader::new(&spy).unwrap();
                let a = warm.read(&[]).map(|t| key(&t));
                let b = cold.read(&[]).map(|t| key(&t));
                (a, b, spy.get_stack_traces().map(|t| key(&t)))
            });
            match (a, b) {
                (Ok(a), Ok(b)) => {
                    same(&py, "warm reader vs a fresh one (stopped)", &a, &b);
                    match c {
                        Ok(c) => same(&py, "own reader vs py-spy (stopped)", &a, &c),
                        Err(_) => only_own_read += 1,
                    }
                    churn_frames += check_churn_names(&py, &a, true);
                    compared += 1;
                }
                (Err(e), Err(_)) => {
                    failed += 1;
                    only_spy_read += c.is_ok() as usize;
                    *why.entry(reason(&e)).or_default() += 1;
                }
                (a, b) => panic!("{py}: warm {a:?} vs fresh {b:?}"),
            }
            // Running: torn reads may fail, but never name a frame wrongly.
            for _ in 0..5 {
                match warm.read(&[]) {
                    Ok(t) => churn_frames += check_churn_names(&py, &key(&t), false),
                    Err(e) => {
                        failed += 1;
                        *why.entry(reason(&e)).or_default() += 1;
                    }
                }
            }
        }
        eprintln!(
            "{py}: {compared} stopped comparisons, {churn_frames} churn frames, {failed} failed reads {why:?}; stopped, read by py-spy only {only_spy_read}, by the own reader only {only_own_read}"
        );
        assert!(
            compared >= 20,
            "{py}: only {compared} comparisons ({failed} failed)"
        );
        assert!(
            churn_frames >= 20,
            "{py}: the churn thread was rarely in its code"
        );
    }
}

/// An error without its address: the kind of failure.
fn reason(e: &impl std::fmt::Display) -> String {
    e.to_string()
        .split(" at ")
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Every frame of a `<churn_J>` file is `<module>` or `fn_K`, with K = J
/// and a line of that module when the target was `stopped`; the number of
/// such frames. A read of the running target can be torn the way py-spy's
/// are (a code object half built over a freed one's memory, whose old
/// fields it still holds, gives an old name with a new file, or a line table
/// being freed): it may then pair names wrongly, but never name a frame
/// with a name the thread does not use.
fn check_churn_names(py: &str, traces: &Traces, stopped: bool) -> usize {
    let mut n = 0;
    for (_, frames) in traces.values() {
        for (name, file, line) in frames {
            let Some(j) = file
                .strip_prefix("<churn_")
                .and_then(|r| r.strip_suffix('>'))
            else {
                continue;
            };
            n += 1;
            let fn_k = name
                .strip_prefix("fn_")
                .is_some_and(|k| k.parse::<u32>().is_ok_and(|k| k < 1000));
            assert!(
                name == "<module>" || fn_k,
                "{py}: a frame of {file} named {name}"
            );
            if stopped {
                assert!(
                    name == "<module>" || *name == format!("fn_{j}"),
                    "{py}: a frame of {file} named {name}"
                );
                assert!(
                    (0..=6).contains(line),
                    "{py}: {name} in {file} at line {line}"
                );
            }
        }
    }
    n
}
