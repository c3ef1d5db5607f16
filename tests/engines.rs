//! Ray and Dask experiments for real (issue 14): local clusters started and
//! torn down by boundcheck, and existing clusters reached with `--cluster`.
//!
//! The engines live in the project's engines venv: these tests run their
//! Python program with `$BOUNDCHECK_ENGINES_PYTHON` (scripts/install-engines.sh
//! installs it and prints the variable; scripts/test.sh sets it) and fail,
//! naming that script, without it. Every process a test starts, and every
//! process boundcheck starts for it, carries a marker in its environment, so
//! "nothing left behind" is checked in /proc, whatever else runs on the
//! machine, and a guard kills what carries its marker when a test ends, on
//! failure too. Assertions are on what was measured, never on times.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The marker variable every process of a test inherits.
const MARK: &str = "BOUNDCHECK_TEST_MARK";

fn engines_python() -> PathBuf {
    let py = std::env::var_os("BOUNDCHECK_ENGINES_PYTHON").map(PathBuf::from);
    match py {
        Some(p) if p.exists() => p,
        _ => panic!(
            "these tests need ray and dask: run scripts/install-engines.sh and export the BOUNDCHECK_ENGINES_PYTHON it prints (scripts/test.sh does both)"
        ),
    }
}

/// Processes of a test: those whose environment carries its marker or whose
/// open files or working directory are under its directory (Ray's processes
/// rename themselves with setproctitle, which overwrites their environment,
/// but their logs stay open under the temp dir they were given), and every
/// descendant of those. Zombies are left out: they are gone but for a status.
fn carrying(mark: &Marked) -> Vec<(i32, String)> {
    let needle = format!("{MARK}={}\0", mark.name);
    let dir = mark.dir.path().to_path_buf();
    let mut parents = Vec::new();
    let mut ours = std::collections::HashSet::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap_or(0) + 2..]
            .split(' ')
            .collect();
        if fields.first() == Some(&"Z") {
            continue;
        }
        parents.push((
            pid,
            fields
                .get(1)
                .and_then(|p| p.parse::<i32>().ok())
                .unwrap_or(0),
        ));
        let env = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        let in_dir = |p: &Path| std::fs::read_link(p).is_ok_and(|t| t.starts_with(&dir));
        let files = std::fs::read_dir(entry.path().join("fd"))
            .map(|fds| fds.flatten().any(|fd| in_dir(&fd.path())))
            .unwrap_or(false);
        if env.windows(needle.len()).any(|w| w == needle.as_bytes())
            || files
            || in_dir(&entry.path().join("cwd"))
        {
            ours.insert(pid);
        }
    }
    loop {
        let before = ours.len();
        for &(pid, ppid) in &parents {
            if ours.contains(&ppid) {
                ours.insert(pid);
            }
        }
        if ours.len() == before {
            break;
        }
    }
    let me = std::process::id() as i32;
    ours.into_iter()
        .filter(|&p| p != me)
        .map(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            (pid, String::from_utf8_lossy(&cmd).replace('\0', " "))
        })
        .collect()
}

/// A test's marker and directory (its TMPDIR, so boundcheck's scratch files
/// and the clusters' session files are under it); dropping it kills every
/// process of the test that is still there.
struct Marked {
    name: String,
    dir: tempfile::TempDir,
}

impl Marked {
    fn new(what: &str) -> Marked {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Marked {
            name: format!("{what}-{}-{nanos}", std::process::id()),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// What still runs of this test after up to `wait` for exits in flight.
    fn left_over(&self, wait: Duration) -> Vec<(i32, String)> {
        let start = Instant::now();
        loop {
            let left = carrying(self);
            if left.is_empty() || start.elapsed() > wait {
                return left;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Marked {
    fn drop(&mut self) {
        for _ in 0..50 {
            let left = carrying(self);
            if left.is_empty() {
                return;
            }
            for (pid, _) in left {
                // SAFETY: killing processes this test started (its marker,
                // its directory, or under one of those).
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Processes a test spawned and waits for: killed and reaped when it ends
/// (before its [`Marked`] guard sweeps up their descendants).
struct Children(Vec<std::process::Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// boundcheck on `args`, with the marker in its environment and no engine
/// address inherited from the machine.
fn boundcheck(mark: &Marked, env: &[(&str, &str)], args: &[&std::ffi::OsStr]) -> Run {
    let out_dir = tempfile::tempdir().unwrap();
    let mut cmd = bin();
    cmd.arg("--out")
        .arg(out_dir.path())
        .arg("--quiet")
        .args(args)
        .env(MARK, &mark.name)
        .env("TMPDIR", mark.dir.path())
        .env_remove("RAY_ADDRESS")
        .env_remove("DASK_SCHEDULER_ADDRESS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd.output().unwrap();
    let report = std::fs::read_to_string(out_dir.path().join("report.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    Run {
        output,
        report,
        out_dir,
    }
}

fn engine_experiment<'a>(r: &'a Run, strategy: &str) -> &'a Value {
    r.report()["recommendation"]["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["strategy"] == strategy)
        .unwrap_or_else(|| panic!("no {strategy} experiment: {}", r.stderr()))
}

#[test]
fn a_process_pool_gets_measured_ray_and_dask_experiments_and_leaves_no_process() {
    let py = engines_python();
    let _g = exclusive();
    let mark = Marked::new("local");
    let r = boundcheck(
        &mark,
        &[],
        &[
            "--runs".as_ref(),
            "3".as_ref(),
            "--".as_ref(),
            py.as_os_str(),
            fixture("engine_pool.py").as_os_str(),
        ],
    );
    // Checked before the guard may kill anything: boundcheck must have.
    let left = mark.left_over(Duration::from_secs(3));
    assert!(left.is_empty(), "left behind by the run: {left:?}");
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    for engine in ["ray", "dask"] {
        let e = engine_experiment(&r, engine);
        assert_eq!(e["status"], "measured", "{e}");
        assert_eq!(e["label"], format!("{engine} (swap, local cluster)"), "{e}");
        assert_eq!(e["replaced"], "ProcessPoolExecutor(2)", "{e}");
        assert!(
            e["site"].as_str().unwrap().ends_with("engine_pool.py:33"),
            "{e}"
        );
        assert_eq!(e["runs"].as_array().unwrap().len(), 3, "{e}");
        for field in [
            "median_s",
            "min_s",
            "max_s",
            "speedup",
            "p_value",
            "min_p_value",
        ] {
            assert!(e[field].as_f64().is_some_and(|x| x > 0.0), "{field}: {e}");
        }
        assert!(e["significant"].is_boolean(), "{e}");
        assert!(
            e["engine_startup_s"].as_f64().is_some_and(|s| s > 0.0),
            "start-up measured apart from the runs: {e}"
        );
    }
    let rec = &r.report()["recommendation"];
    let engine_won = ["ray", "dask"]
        .iter()
        .any(|s| engine_experiment(&r, s)["significant"] == true);
    if !engine_won {
        assert!(
            rec["sentence"]
                .as_str()
                .unwrap()
                .contains("too short for an engine to pay off"),
            "{rec}"
        );
    }
}

/// `boundcheck bench --strategies …,ray,dask`: the cpu workload on a local
/// Ray cluster and a Dask `LocalCluster` the runner starts and stops (no
/// process left over), beside the process pool, with the clusters'
/// start-up inside the median and reported apart.
#[test]
fn bench_has_measured_ray_and_dask_cells_and_leaves_no_process() {
    let py = engines_python();
    let _g = exclusive();
    let mark = Marked::new("bench");
    let out = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["bench", "--quiet", "--quick", "--runs", "1", "--out"])
        .arg(out.path())
        .args(["--workloads", "cpu", "--strategies"])
        .arg("sequential,processes,ray,dask")
        .env("BOUNDCHECK_ENGINES_PYTHON", &py)
        .env(MARK, &mark.name)
        .env("TMPDIR", mark.dir.path())
        .env_remove("RAY_ADDRESS")
        .output()
        .unwrap();
    let left = mark.left_over(Duration::from_secs(3));
    assert!(left.is_empty(), "left behind by the bench: {left:?}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("bench.json")).unwrap())
            .unwrap();
    for engine in ["ray", "dask"] {
        let c = v["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["strategy"] == engine)
            .unwrap_or_else(|| panic!("no {engine} cell: {v}"));
        assert_eq!(c["status"], "measured", "{c}");
        assert_eq!(c["interpreter"], py.to_str().unwrap(), "{c}");
        let startup = c["engine_startup_s"].as_f64().expect("start-up");
        let median = c["median_s"].as_f64().expect("median");
        assert!(
            startup > 0.0 && startup < median,
            "start-up inside the run: {c}"
        );
        assert!(c["speedup"].as_f64().is_some(), "{c}");
    }
    let md = std::fs::read_to_string(out.path().join("bench.md")).unwrap();
    assert!(
        md.contains("| ray |") && md.contains("| dask |") && md.contains("Cluster start-up"),
        "{md}"
    );
}

#[test]
fn a_bad_cluster_address_is_exit_2_before_anything_runs() {
    let mark = Marked::new("bad");
    let touched = mark.dir.path().join("ran");
    let program = format!("open({:?}, 'w')", touched.to_str().unwrap());
    let unreachable = format!("tcp://127.0.0.1:{}", free_port());
    for (address, says) in [
        (unreachable.as_str(), "no dask cluster answers there"),
        ("not-an-address", "is not a cluster address"),
    ] {
        let r = boundcheck(
            &mark,
            &[],
            &[
                "--cluster".as_ref(),
                address.as_ref(),
                "--".as_ref(),
                "python3".as_ref(),
                "-c".as_ref(),
                program.as_ref(),
            ],
        );
        assert_eq!(r.code(), Some(2), "{}", r.stderr());
        assert!(r.stderr().contains(says), "{}", r.stderr());
        assert!(!touched.exists(), "the target ran: {}", r.stderr());
    }
}

/// A command of the engines venv (`ray`, `dask`), started with the marker,
/// `ENGINE_NODE` and its output in `log`.
fn engine_cli(py: &Path, tool: &str, node: &str, mark: &Marked, log: &Path) -> Command {
    let mut c = Command::new(py.parent().unwrap().join(tool));
    c.env(MARK, &mark.name)
        .env("ENGINE_NODE", node)
        .env("RAY_AUTH_MODE", "token")
        .env_remove("RAY_ADDRESS")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err")).unwrap());
    c
}

/// `--port` style flags with free ports, so a second node on this machine
/// does not collide with the first (or with anyone else's Ray).
fn ports(flags: &[&str]) -> Vec<String> {
    flags
        .iter()
        .map(|f| format!("--{f}={}", free_port()))
        .collect()
}

#[test]
fn cluster_reaches_an_existing_two_node_ray_cluster_and_its_second_node_does_the_work() {
    let py = engines_python();
    let _g = exclusive();
    let mark = Marked::new("ray2");
    let dir = &mark.dir;
    let port = free_port();
    let node_ports = [
        "node-manager-port",
        "object-manager-port",
        "dashboard-agent-listen-port",
        "dashboard-agent-grpc-port",
        "runtime-env-agent-port",
        "metrics-export-port",
    ];
    let temp = format!("--temp-dir={}", dir.path().join("ray").display());
    // A head with no CPUs: every task must run on the second node.
    let head = engine_cli(&py, "ray", "head", &mark, &dir.path().join("head.log"))
        .args([
            "start",
            "--head",
            "--num-cpus=0",
            "--include-dashboard=false",
        ])
        .args([
            "--disable-usage-stats",
            "--node-ip-address=127.0.0.1",
            &temp,
        ])
        .arg(format!("--port={port}"))
        .args(ports(&node_ports))
        .status()
        .unwrap();
    assert!(head.success(), "ray start --head failed");
    let address = format!("127.0.0.1:{port}");
    let second = engine_cli(&py, "ray", "second", &mark, &dir.path().join("second.log"))
        .args(["start", "--num-cpus=2", "--disable-usage-stats"])
        .args([
            "--node-ip-address=127.0.0.1",
            &format!("--address={address}"),
        ])
        .args(ports(&node_ports))
        .status()
        .unwrap();
    assert!(second.success(), "ray start --address failed");
    let marks = dir.path().join("marks.txt");
    let r = boundcheck(
        &mark,
        &[("RAY_AUTH_MODE", "token")],
        &[
            "--runs".as_ref(),
            "2".as_ref(),
            "--cluster".as_ref(),
            address.as_ref(),
            "--".as_ref(),
            py.as_os_str(),
            fixture("engine_pool.py").as_os_str(),
            marks.as_os_str(),
        ],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let e = engine_experiment(&r, "ray");
    assert_eq!(e["status"], "measured", "{e}");
    assert_eq!(e["label"], format!("ray (swap, cluster {address})"), "{e}");
    assert!(e["engine_startup_s"].is_null(), "an existing cluster: {e}");
    let not = r.report()["recommendation"]["not_measured"].to_string();
    assert!(not.contains("is a ray cluster"), "dask not run: {not}");
    let nodes = std::fs::read_to_string(&marks).unwrap();
    assert!(
        nodes.contains("second"),
        "the second node ran the tasks: {nodes}"
    );
    assert!(!nodes.contains("head"), "the head has no CPUs: {nodes}");
    assert!(nodes.contains("local"), "as-is ran locally: {nodes}");

    // What the engine runs is profiled: a Ray driver's tasks run in the
    // second node's workers, which are not its descendants, yet sampled.
    let r = boundcheck(
        &mark,
        &[("RAY_AUTH_MODE", "token"), ("RAY_ADDRESS", &address)],
        &[
            "--no-rerun".as_ref(),
            "--".as_ref(),
            py.as_os_str(),
            fixture("ray_tasks.py").as_os_str(),
        ],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let timeline: Value = serde_json::from_str(
        &std::fs::read_to_string(r.out_dir.path().join("timeline.json")).unwrap(),
    )
    .unwrap();
    let workers: Vec<&Value> = timeline["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["cmdline"].to_string().contains("default_worker"))
        .collect();
    assert!(!workers.is_empty(), "the cluster's workers were sampled");
    let folded = std::fs::read_to_string(r.out_dir.path().join("cpu.folded")).unwrap();
    assert!(
        folded.contains("sum_squares"),
        "the tasks' stacks are in the flamegraph: {folded}"
    );
}

#[test]
fn cluster_reaches_an_existing_dask_scheduler_whose_worker_does_the_work() {
    let py = engines_python();
    let _g = exclusive();
    let mark = Marked::new("dask");
    let dir = mark.dir.path();
    let port = free_port();
    let address = format!("tcp://127.0.0.1:{port}");
    let mut children = Children(Vec::new());
    let scheduler = engine_cli(&py, "dask", "scheduler", &mark, &dir.join("scheduler.log"))
        .args(["scheduler", "--host", "127.0.0.1", "--no-dashboard"])
        .args(["--port", &port.to_string()])
        .current_dir(dir)
        .spawn()
        .unwrap();
    children.0.push(scheduler);
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(90), "no scheduler");
        std::thread::sleep(Duration::from_millis(200));
    }
    let worker = engine_cli(&py, "dask", "dask-worker", &mark, &dir.join("worker.log"))
        .args(["worker", &address, "--nworkers", "1", "--nthreads", "2"])
        .args(["--no-dashboard", "--local-directory"])
        .arg(dir)
        .current_dir(dir)
        .spawn()
        .unwrap();
    children.0.push(worker);
    let marks = dir.join("marks.txt");
    let r = boundcheck(
        &mark,
        &[],
        &[
            "--runs".as_ref(),
            "2".as_ref(),
            "--cluster".as_ref(),
            address.as_ref(),
            "--".as_ref(),
            py.as_os_str(),
            fixture("engine_pool.py").as_os_str(),
            marks.as_os_str(),
        ],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let e = engine_experiment(&r, "dask");
    assert_eq!(e["status"], "measured", "{e}");
    assert_eq!(e["label"], format!("dask (swap, cluster {address})"), "{e}");
    let not = r.report()["recommendation"]["not_measured"].to_string();
    assert!(not.contains("is a dask cluster"), "ray not run: {not}");
    let nodes = std::fs::read_to_string(&marks).unwrap();
    assert!(
        nodes.contains("dask-worker"),
        "the scheduler's worker ran the tasks: {nodes}"
    );

    // What the engine runs is profiled: a Dask client's tasks run in the
    // worker the nanny started, which is not its descendant, yet sampled.
    let r = boundcheck(
        &mark,
        &[("DASK_SCHEDULER_ADDRESS", &address)],
        &[
            "--no-rerun".as_ref(),
            "--".as_ref(),
            py.as_os_str(),
            fixture("dask_client.py").as_os_str(),
        ],
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    let folded = std::fs::read_to_string(r.out_dir.path().join("cpu.folded")).unwrap();
    assert!(
        folded.contains("sum_squares"),
        "the tasks' stacks are in the flamegraph: {folded}"
    );
}
