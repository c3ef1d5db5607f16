//! Overhead benchmark: how much does profiling slow the profiled program?
//!
//! A benchmark, not a test: it asserts nothing, it measures. For each workload
//! it runs, interleaved round after round,
//!   baseline (the workload alone), boundcheck at 100 Hz and 1000 Hz (Python
//!   stacks on, the default), boundcheck at 100 Hz with `--no-stacks` (OS
//!   states only), py-spy record --nonblocking --subprocesses and
//!   Austin 3.7 (`-C`, following children) at 100 Hz and 1000 Hz,
//! and reports per configuration the median work time, its min–max, the median
//! of the per-round ratio to that round's baseline (the slowdown) with its
//! 95 % interval, the same for the whole command (profiler start and finish
//! included), the time the command ran on after its target's work ended
//! (report, flamegraphs, HTML), the profiler's own CPU use and boundcheck's
//! achieved sampling rate.
//!
//! The workloads do a FIXED amount of work and print `elapsed_s=` (the wall
//! time of the work itself, measured inside the target with perf_counter), so
//! a profiler that steals time shows up as a longer run. End-to-end wall time
//! (interpreter start-up, profiler start-up, report writing) is shown too.
//!
//! Usage: cargo bench --bench overhead [-- OPTIONS]
//!   --runs N        rounds (default 5)
//!   --quick         3 rounds at half the work (scale 0.5)
//!   --scale F       multiply each workload's work by F (default 1.0)
//!   --workload W    only this workload (gil_threads, many_threads,
//!                   process_pool); repeatable
//!   --no-pyspy      skip the py-spy and Austin configurations
//!   --config C      only this configuration (baseline is always run): bc100,
//!                   bc1000, bcos100 (no stacks), pyspy100, pyspy1000,
//!                   austin100, austin1000; repeatable. For a focused
//!                   A/B with many rounds, e.g. --config bc100 --runs 20
//! Environment: BOUNDCHECK_BENCH_PYTHON = interpreter to run the workloads
//! (default: the real interpreter behind `python3`, resolved once so that the
//! pyenv bash shim's start-up is not in the measurement). The peers are
//! looked for first in the venv `scripts/install-bench-tools.sh` makes
//! (`target/bench-tools/venv/bin`, or `$BOUNDCHECK_BENCH_TOOLS/venv/bin`),
//! then on PATH.
//!
//! Output: a markdown table on stdout and in `target/overhead.md`; every run's
//! raw numbers in `target/overhead-runs.csv`.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "overhead/discover.rs"]
mod discover;
#[path = "overhead/report.rs"]
mod report;
use discover::{find_python, find_tool, target_dir, tool_version};
use report::{header, table};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const BOUNDCHECK: &str = env!("CARGO_BIN_EXE_boundcheck");
/// A run taking longer than this is killed and counted as failed.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

struct Workload {
    name: &'static str,
    /// Script path relative to the package root.
    script: &'static str,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        name: "gil_threads",
        script: "benches/gil_threads.py",
    },
    Workload {
        name: "many_threads",
        script: "benches/many_threads.py",
    },
    Workload {
        name: "process_pool",
        script: "benches/process_pool.py",
    },
];

#[derive(Clone, Copy, PartialEq)]
enum Tool {
    Baseline,
    /// boundcheck at this rate, Python stacks on (the default).
    Boundcheck(u32),
    /// boundcheck at this rate with `--no-stacks`: what the stacks cost.
    BoundcheckOs(u32),
    PySpy(u32),
    /// Austin 3.7 at this rate (`-i` is its interval), following children.
    Austin(u32),
}

impl Tool {
    fn key(self) -> String {
        match self {
            Tool::Baseline => "baseline".into(),
            Tool::Boundcheck(hz) => format!("bc{hz}"),
            Tool::BoundcheckOs(hz) => format!("bcos{hz}"),
            Tool::PySpy(hz) => format!("pyspy{hz}"),
            Tool::Austin(hz) => format!("austin{hz}"),
        }
    }

    fn label(self) -> String {
        match self {
            Tool::Baseline => "baseline".into(),
            Tool::Boundcheck(hz) => format!("boundcheck {hz} Hz"),
            Tool::BoundcheckOs(hz) => format!("boundcheck {hz} Hz, no stacks"),
            Tool::PySpy(hz) => format!("py-spy {hz} Hz"),
            Tool::Austin(hz) => format!("Austin {hz} Hz"),
        }
    }
}

const CONFIGS: &[Tool] = &[
    Tool::Baseline,
    Tool::Boundcheck(100),
    Tool::Boundcheck(1000),
    Tool::BoundcheckOs(100),
    Tool::PySpy(100),
    Tool::PySpy(1000),
    Tool::Austin(100),
    Tool::Austin(1000),
];

struct Options {
    runs: usize,
    scale: f64,
    workloads: Vec<String>,
    configs: Vec<String>,
    pyspy: bool,
}

fn parse_args() -> Options {
    let mut o = Options {
        runs: 5,
        scale: 1.0,
        workloads: Vec::new(),
        configs: Vec::new(),
        pyspy: true,
    };
    let mut quick = false;
    let (mut runs, mut scale) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| die(&format!("{name} needs a value")))
        };
        match a.as_str() {
            "--runs" => {
                runs = Some(
                    value("--runs")
                        .parse()
                        .unwrap_or_else(|_| die("bad --runs")),
                )
            }
            "--scale" => {
                scale = Some(
                    value("--scale")
                        .parse()
                        .unwrap_or_else(|_| die("bad --scale")),
                )
            }
            "--workload" => o.workloads.push(value("--workload")),
            "--config" => o.configs.push(value("--config")),
            "--quick" => quick = true,
            "--no-pyspy" => o.pyspy = false,
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            "-h" | "--help" => {
                println!(
                    "usage: cargo bench --bench overhead [-- --runs N] [--quick] [--scale F] \
                     [--workload NAME] [--config bc100|bc1000|bcos100|pyspy100|pyspy1000|austin100|austin1000] [--no-pyspy]"
                );
                std::process::exit(0);
            }
            other => eprintln!("overhead: ignoring unknown argument {other:?}"),
        }
    }
    if quick {
        o.runs = 3;
        o.scale = 0.5;
    }
    o.runs = runs.unwrap_or(o.runs).max(1);
    o.scale = scale.unwrap_or(o.scale);
    if !o.scale.is_finite() || o.scale <= 0.0 {
        die("--scale must be > 0");
    }
    for w in &o.workloads {
        if !WORKLOADS.iter().any(|k| k.name == w) {
            die(&format!("unknown workload {w:?}"));
        }
    }
    for c in &o.configs {
        if !CONFIGS.iter().any(|k| k.key() == *c) {
            die(&format!("unknown config {c:?}"));
        }
    }
    o
}

fn die(msg: &str) -> ! {
    eprintln!("overhead: {msg}");
    std::process::exit(2);
}

/// What one run measured.
#[derive(Clone, Default)]
struct RunResult {
    /// Wall time of the work, printed by the target (falls back to end-to-end).
    work_s: f64,
    /// Whether `work_s` came from the target's own `elapsed_s=` line.
    work_from_target: bool,
    /// Wall time of the whole command (profiler included).
    e2e_s: f64,
    /// From the end of the target's work (its `end_unix=`) to the command's
    /// exit: interpreter teardown, plus whatever the profiler does after.
    after_s: Option<f64>,
    /// CPU of the whole command tree (rusage of reaped children).
    tree_cpu_s: f64,
    /// CPU the target reported for itself (`cpu_s=`).
    target_cpu_s: Option<f64>,
    /// boundcheck's report.json: sampling.sampler_cpu_s, duration_s, achieved rate.
    sampler_cpu_s: Option<f64>,
    bc_duration_s: Option<f64>,
    achieved_hz: Option<f64>,
    /// Ticks lost (a whole period late) as a share of ticks due.
    late_share: Option<f64>,
    /// Stack reads per second achieved (py-spy inside boundcheck).
    stack_hz: Option<f64>,
    /// Sampler CPU per sample per thread seen, microseconds.
    us_per_thread_sample: Option<f64>,
}

struct Env {
    python: PathBuf,
    pyspy: Option<PathBuf>,
    austin: Option<PathBuf>,
    wants_pyspy: bool,
    tmp: PathBuf,
}

fn main() {
    let opts = parse_args();
    let root = Path::new(MANIFEST_DIR);
    let python = find_python();
    let wants_pyspy = opts.pyspy
        && (opts.configs.is_empty() || opts.configs.iter().any(|c| c.starts_with("pyspy")));
    let wants_austin = opts.pyspy
        && (opts.configs.is_empty() || opts.configs.iter().any(|c| c.starts_with("austin")));
    let pyspy = if wants_pyspy {
        find_tool("py-spy")
    } else {
        None
    };
    let austin = if wants_austin {
        find_tool("austin")
    } else {
        None
    };
    for (wanted, found, name) in [
        (wants_pyspy, &pyspy, "py-spy"),
        (wants_austin, &austin, "austin"),
    ] {
        if wanted && found.is_none() {
            eprintln!(
                "overhead: {name} not found (target/bench-tools/venv/bin, PATH, \
                 `python3 -m site --user-base`/bin, shutil.which): its rows are left out. \
                 Install py-spy and Austin 3.7 with: scripts/install-bench-tools.sh"
            );
        }
    }
    let tmp = std::env::temp_dir().join(format!("boundcheck-overhead-{}", std::process::id()));
    fs::create_dir_all(&tmp).unwrap_or_else(|e| die(&format!("temp dir: {e}")));
    let env = Env {
        python,
        pyspy,
        austin,
        wants_pyspy,
        tmp,
    };

    let workloads: Vec<&Workload> = WORKLOADS
        .iter()
        .filter(|w| opts.workloads.is_empty() || opts.workloads.iter().any(|n| n == w.name))
        .collect();
    let configs: Vec<Tool> = CONFIGS
        .iter()
        .copied()
        .filter(|t| !matches!(t, Tool::PySpy(_)) || env.pyspy.is_some())
        .filter(|t| !matches!(t, Tool::Austin(_)) || env.austin.is_some())
        .filter(|t| {
            *t == Tool::Baseline || opts.configs.is_empty() || opts.configs.contains(&t.key())
        })
        .collect();

    let mut md = header(&opts, &env);
    let mut csv = String::from(
        "workload,round,config,work_s,e2e_s,after_s,tree_cpu_s,target_cpu_s,sampler_cpu_s,achieved_hz\n",
    );
    for w in &workloads {
        let script = root.join(w.script);
        if !script.is_file() {
            die(&format!("workload script missing: {}", script.display()));
        }
        eprintln!("overhead: {} — warm-up run", w.name);
        let _ = run_once(&env, Tool::Baseline, &script, opts.scale, "warmup");
        // results[config][round]
        let mut results: Vec<Vec<Option<RunResult>>> = vec![Vec::new(); configs.len()];
        for round in 0..opts.runs {
            for (ci, &tool) in configs.iter().enumerate() {
                let tag = format!("{}-{}-{}", w.name, ci, round);
                let r = run_once(&env, tool, &script, opts.scale, &tag);
                match &r {
                    Ok(r) => eprintln!(
                        "overhead: {} round {}/{} {:<18} work {:.3} s  e2e {:.3} s",
                        w.name,
                        round + 1,
                        opts.runs,
                        tool.label(),
                        r.work_s,
                        r.e2e_s
                    ),
                    Err(e) => eprintln!(
                        "overhead: {} round {}/{} {:<18} FAILED: {e}",
                        w.name,
                        round + 1,
                        opts.runs,
                        tool.label()
                    ),
                }
                if let Ok(r) = &r {
                    let o = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
                    let _ = writeln!(
                        csv,
                        "{},{},{},{:.6},{:.6},{},{:.6},{},{},{}",
                        w.name,
                        round + 1,
                        tool.key(),
                        r.work_s,
                        r.e2e_s,
                        o(r.after_s),
                        r.tree_cpu_s,
                        o(r.target_cpu_s),
                        o(r.sampler_cpu_s),
                        o(r.achieved_hz)
                    );
                }
                results[ci].push(r.ok());
            }
        }
        md.push_str(&table(
            w,
            &configs,
            &results,
            env.pyspy.is_some(),
            env.wants_pyspy,
        ));
    }
    let _ = fs::remove_dir_all(&env.tmp);

    print!("{md}");
    let out = target_dir().join("overhead.md");
    match fs::write(&out, &md) {
        Ok(()) => eprintln!("overhead: wrote {}", out.display()),
        Err(e) => eprintln!("overhead: could not write {}: {e}", out.display()),
    }
    let out = target_dir().join("overhead-runs.csv");
    match fs::write(&out, &csv) {
        Ok(()) => eprintln!("overhead: wrote {} (one row per run)", out.display()),
        Err(e) => eprintln!("overhead: could not write {}: {e}", out.display()),
    }
}

// ------------------------------------------------------------------ running

fn run_once(
    env: &Env,
    tool: Tool,
    script: &Path,
    scale: f64,
    tag: &str,
) -> Result<RunResult, String> {
    let py = env.python.as_os_str();
    let scale_arg = format!("{scale}");
    let dir = env.tmp.join(tag);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut cmd = match tool {
        Tool::Baseline => Command::new(py),
        Tool::Boundcheck(hz) | Tool::BoundcheckOs(hz) => {
            let mut c = Command::new(BOUNDCHECK);
            if matches!(tool, Tool::BoundcheckOs(_)) {
                c.arg("--no-stacks");
            }
            c.arg("--no-rerun")
                .arg("--force")
                .arg("--rate")
                .arg(hz.to_string())
                .arg("--quiet")
                .arg("--out")
                .arg(dir.join("bc"))
                .arg("--")
                .arg(py);
            c
        }
        Tool::PySpy(hz) => {
            let mut c = Command::new(env.pyspy.as_ref().ok_or("py-spy not installed")?);
            c.arg("record")
                .arg("--nonblocking")
                .arg("--subprocesses")
                .arg("--rate")
                .arg(hz.to_string())
                .arg("--format")
                .arg("raw")
                .arg("--output")
                .arg(dir.join("pyspy.txt"))
                .arg("--")
                .arg(py);
            c
        }
        Tool::Austin(hz) => {
            let mut c = Command::new(env.austin.as_ref().ok_or("austin not installed")?);
            // -C: follow children (a pool's workers; behind a pyenv shim,
            // the interpreter the shim execs).
            c.arg("-C")
                .arg("-i")
                .arg(format!("{}us", 1_000_000 / hz))
                .arg("-o")
                .arg(dir.join("austin.txt"))
                .arg(py);
            c
        }
    };
    cmd.arg(script).arg(&scale_arg);
    let stdout_path = dir.join("stdout");
    let stderr_path = dir.join("stderr");
    cmd.stdin(Stdio::null())
        .stdout(File::create(&stdout_path).map_err(|e| e.to_string())?)
        .stderr(File::create(&stderr_path).map_err(|e| e.to_string())?);

    let cpu_before = children_cpu_s();
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() > RUN_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {RUN_TIMEOUT:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(format!("wait: {e}")),
        }
    };
    let e2e_s = start.elapsed().as_secs_f64();
    let exited_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let tree_cpu_s = children_cpu_s() - cpu_before;

    let stdout = fs::read_to_string(&stdout_path).unwrap_or_default();
    if !status.success() {
        let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
        let tail: String = stderr.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
        return Err(format!("exit {status}: {tail}"));
    }
    let target_work = field(&stdout, "elapsed_s=");
    let mut r = RunResult {
        work_s: target_work.unwrap_or(e2e_s),
        work_from_target: target_work.is_some(),
        e2e_s,
        after_s: field(&stdout, "end_unix=").map(|end| exited_unix - end),
        tree_cpu_s,
        target_cpu_s: field(&stdout, "cpu_s="),
        ..RunResult::default()
    };
    if let Tool::Boundcheck(_) | Tool::BoundcheckOs(_) = tool {
        let text = fs::read_to_string(dir.join("bc").join("report.json"))
            .map_err(|e| format!("report.json: {e}"))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("report.json: {e}"))?;
        let sampling = &v["sampling"];
        r.sampler_cpu_s = sampling["sampler_cpu_s"].as_f64();
        r.achieved_hz = sampling["achieved_rate_hz"].as_f64();
        r.bc_duration_s = v["duration_s"].as_f64();
        let taken = sampling["samples"].as_f64().unwrap_or(0.0);
        let lost = sampling["lost_samples"].as_f64().unwrap_or(0.0);
        r.late_share = (taken + lost > 0.0).then(|| lost / (taken + lost));
        r.stack_hz = v["stack_sampling"]["rate_hz"].as_f64();
        // Thread-samples read: from the timeline (the report lists only the busiest threads).
        let thread_samples = fs::read_to_string(dir.join("bc").join("timeline.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|t| {
                t["samples"].as_array().map(|a| {
                    a.iter()
                        .map(|s| s["threads"].as_array().map_or(0, |t| t.len()))
                        .sum::<usize>()
                })
            });
        r.us_per_thread_sample = match (r.sampler_cpu_s, thread_samples) {
            (Some(cpu), Some(n)) if n > 0 => Some(cpu / n as f64 * 1e6),
            _ => None,
        };
    }
    let _ = fs::remove_dir_all(&dir);
    Ok(r)
}

/// `key<float>` anywhere in `text` (e.g. `elapsed_s=1.23`).
fn field(text: &str, key: &str) -> Option<f64> {
    let at = text.find(key)? + key.len();
    let rest = &text[at..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// User + system CPU of all reaped children so far, seconds.
fn children_cpu_s() -> f64 {
    // SAFETY: `ru` is a valid out-pointer for getrusage.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) != 0 {
            return 0.0;
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }
}
