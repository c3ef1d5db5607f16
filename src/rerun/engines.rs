//! Ray and Dask experiments: the program's pools run on a real cluster.
//!
//! The swap module's `ray` and `dask` modes put a program's
//! `ProcessPoolExecutor`, `ThreadPoolExecutor` and `multiprocessing` pools on
//! an engine without a code change (`python/boundcheck_swap_engines.py`).
//! The engine needs a cluster. With no address, boundcheck starts one on this
//! machine for the experiment (`python/boundcheck_engine.py`: a Ray head with
//! one worker CPU per CPU, or a Dask `LocalCluster` with one single-threaded
//! worker process per CPU), once, before the first round, so its start-up is
//! measured apart ([`super::Experiment::engine_startup_s`]) and every run of
//! the experiment connects to the same warm cluster, as a program in
//! production would. It is stopped after the last round, and what is left of
//! it is killed ([`LocalCluster`]'s `Drop`), so no process outlives the
//! experiment. `--cluster ADDRESS` (or `RAY_ADDRESS` / `DASK_SCHEDULER_ADDRESS`)
//! runs that engine's experiment on an existing cluster instead.

use super::plan::{PlanContext, Planned};
use super::{NotMeasured, Strategy};
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The cluster helper, written beside the swap module.
pub const HELPER: (&str, &str) = (
    "boundcheck_engine.py",
    include_str!("python/boundcheck_engine.py"),
);

/// Longest wait for a local cluster to be ready. Ray's head took 2.6 s on an
/// idle 2-core VM and 10 s on a busy one; far beyond that it is stuck.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);
/// Time a cluster gets to stop by itself once asked, before it is killed.
/// `ray.shutdown()` of a head takes 1–3 s.
pub const STOP_GRACE: Duration = Duration::from_secs(15);
/// Shortest time limit of one run of an engine experiment: each run imports
/// the engine and connects to the cluster (1–2 s on an idle machine, 6–10 s
/// on a busy 2-core VM) however short the program, so the usual limit of 5x
/// the profiled run would kill a short program's engine runs.
pub const RUN_TIMEOUT_FLOOR: Duration = Duration::from_secs(60);
/// Longest wait for a TCP connection to a `--cluster` address: a cluster on
/// the same network answers in milliseconds.
pub const REACH_TIMEOUT: Duration = Duration::from_secs(3);

/// A cluster engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Ray,
    Dask,
}

impl Engine {
    pub const ALL: [Engine; 2] = [Engine::Ray, Engine::Dask];

    /// The swap mode and the helper's argument.
    pub fn word(self) -> &'static str {
        match self {
            Engine::Ray => "ray",
            Engine::Dask => "dask",
        }
    }

    pub fn strategy(self) -> Strategy {
        match self {
            Engine::Ray => Strategy::Ray,
            Engine::Dask => Strategy::Dask,
        }
    }

    /// The `pip install` argument that brings it.
    pub fn install_command(self) -> &'static str {
        match self {
            Engine::Ray => "ray",
            Engine::Dask => "'dask[distributed]'",
        }
    }

    /// Why an experiment could not use the engine: it does not import in
    /// `python`. The re-run table recognises the message by
    /// [`Engine::is_not_installed`] to give missing engines one row.
    pub fn not_installed(self, python: &str, why: &str) -> String {
        format!(
            "{} does not import in {python} ({why}): install it with `pip install {}` for that Python (scripts/install-engines.sh in a clone of boundcheck)",
            self.word(),
            self.install_command()
        )
    }

    /// Whether `message` is [`Engine::not_installed`]'s.
    pub fn is_not_installed(self, message: &str) -> bool {
        message.starts_with(&format!("{} does not import in ", self.word()))
    }
}

/// An existing cluster given by `--cluster` (or the engines' own variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub engine: Engine,
    /// As given: `HOST:PORT` or `ray://HOST:PORT` for Ray, `tcp://HOST:PORT` for Dask.
    pub address: String,
}

impl Cluster {
    /// Which engine an address names: `tcp://` is a Dask scheduler, `ray://`
    /// or a bare `HOST:PORT` a Ray cluster (its GCS address, as `ray start
    /// --head` prints it).
    pub fn parse(address: &str) -> Result<Cluster, String> {
        let a = address.trim();
        let (engine, rest) = if let Some(rest) = a.strip_prefix("tcp://") {
            (Engine::Dask, rest)
        } else if let Some(rest) = a.strip_prefix("ray://") {
            (Engine::Ray, rest)
        } else {
            (Engine::Ray, a)
        };
        let port_ok = rest
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok || rest.contains('/') {
            return Err(format!(
                "--cluster {address:?} is not a cluster address: give a Ray address (HOST:PORT as `ray start --head` prints it, or ray://HOST:PORT) or a Dask scheduler (tcp://HOST:PORT)"
            ));
        }
        Ok(Cluster {
            engine,
            address: a.to_string(),
        })
    }

    /// `HOST:PORT` of the address.
    fn host_port(&self) -> &str {
        let a = self.address.as_str();
        a.strip_prefix("tcp://")
            .or_else(|| a.strip_prefix("ray://"))
            .unwrap_or(a)
    }

    /// Whether something listens at the address: checked before the target
    /// runs, so a typo costs seconds, not a whole profile.
    pub fn check_reachable(&self) -> Result<(), String> {
        use std::net::{TcpStream, ToSocketAddrs};
        let hp = self.host_port();
        let addrs: Vec<_> = hp
            .to_socket_addrs()
            .map_err(|e| format!("--cluster {}: cannot resolve {hp}: {e}", self.address))?
            .collect();
        let mut last = String::from("no address");
        for a in addrs {
            match TcpStream::connect_timeout(&a, REACH_TIMEOUT) {
                Ok(_) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
        }
        Err(format!(
            "--cluster {}: no {} cluster answers there ({last}); start one (`{}`) or fix the address",
            self.address,
            self.engine.word(),
            match self.engine {
                Engine::Ray => "ray start --head --port=6379",
                Engine::Dask => "dask scheduler --port 8786, then dask worker tcp://HOST:8786",
            }
        ))
    }
}

impl Cluster {
    /// This cluster's processes on this machine (`target::cluster`), to
    /// sample with a program that hands them its work. A `ray://` address
    /// names the client server, not the GCS, so finds none.
    pub fn local_processes(&self) -> crate::target::tree::Extra {
        use crate::target::cluster::{self, ClusterKind};
        let kind = match self.engine {
            Engine::Ray => ClusterKind::Ray,
            Engine::Dask => ClusterKind::Dask,
        };
        if self.address.starts_with("ray://") {
            return Default::default();
        }
        let port = self
            .host_port()
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok());
        port.map(|p| cluster::processes(kind, p))
            .unwrap_or_default()
    }
}

/// The first of `--cluster`, `RAY_ADDRESS`, `DASK_SCHEDULER_ADDRESS` that is set.
pub fn cluster_from(flag: Option<&str>) -> Option<String> {
    flag.map(str::to_string)
        .or_else(|| std::env::var("RAY_ADDRESS").ok())
        .or_else(|| std::env::var("DASK_SCHEDULER_ADDRESS").ok())
        .filter(|s| !s.trim().is_empty())
}

/// An engine experiment's engine and where it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineRun {
    pub engine: Engine,
    /// An existing cluster's address (`--cluster`); `None`: start a local one.
    pub cluster: Option<String>,
}

/// The engine experiments of a CPU-bound Python program: its pools on Ray
/// and on Dask, each on a local cluster; with `--cluster`, only that
/// cluster's engine, on it.
pub fn plan(ctx: &PlanContext, asis: &Planned, out: &mut Vec<Planned>, not: &mut Vec<NotMeasured>) {
    for engine in Engine::ALL {
        let given = ctx.cluster.as_ref();
        if let Some(c) = given.filter(|c| c.engine != engine) {
            not.push(NotMeasured {
                strategy: engine.strategy(),
                reason: format!(
                    "--cluster {} is a {} cluster: only its engine is measured (without --cluster, both run on local clusters)",
                    c.address,
                    c.engine.word()
                ),
            });
            continue;
        }
        let mut p = asis.clone();
        p.label = match given {
            Some(c) => format!("{} (swap, cluster {})", engine.word(), c.address),
            None => format!("{} (swap, local cluster)", engine.word()),
        };
        p.kind = "swap";
        p.swap = Some(engine.word());
        p.strategy = Some(engine.strategy());
        p.engine = Some(EngineRun {
            engine,
            cluster: given.map(|c| c.address.clone()),
        });
        out.push(p);
    }
}

/// A local cluster started for one experiment; stopped, and what is left of
/// it killed, when dropped.
#[derive(Debug)]
pub struct LocalCluster {
    child: Child,
    pub address: String,
    /// Launch of the helper to the cluster ready, seconds.
    pub startup_s: f64,
}

/// Why a local cluster did not start.
#[derive(Debug)]
pub enum StartError {
    /// The engine does not import in that Python: the experiment does not apply.
    NotInstalled(String),
    /// It imports but would not start: the experiment failed.
    Failed(String),
}

/// Start `engine` with `cpus` worker CPUs, using `python` (the target's
/// interpreter, which must import the engine), its files under `dir`.
pub fn start_local(
    python: &OsString,
    engine: Engine,
    cpus: usize,
    dir: &Path,
) -> Result<LocalCluster, StartError> {
    use std::os::unix::process::CommandExt;
    let helper = dir.join(HELPER.0);
    std::fs::write(&helper, HELPER.1)
        .map_err(|e| StartError::Failed(format!("cannot write {}: {e}", helper.display())))?;
    let work = dir.join(format!("{}-cluster", engine.word()));
    let stderr = std::fs::File::create(dir.join(format!("{}-cluster.log", engine.word()))).ok();
    let started = Instant::now();
    let mut cmd = Command::new(python);
    cmd.arg(&helper)
        .arg(engine.word())
        .arg(cpus.to_string())
        .arg(&work)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr.map_or(Stdio::null(), Stdio::from))
        // Its own local cluster, not the one RAY_ADDRESS names.
        .env_remove("RAY_ADDRESS")
        .env_remove("PYTHONPATH")
        .process_group(0);
    if std::env::var_os("RAY_AUTH_MODE").is_none() {
        cmd.env("RAY_AUTH_MODE", "token");
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| StartError::Failed(format!("cannot start {python:?}: {e}")))?;
    crate::target::tree::keep_out(child.id() as i32);
    let ready = read_ready(&mut child);
    let startup_s = started.elapsed().as_secs_f64();
    let mut cluster = LocalCluster {
        child,
        address: String::new(),
        startup_s,
    };
    match ready {
        Ok(address) => {
            cluster.address = address;
            Ok(cluster)
        }
        Err(why) => {
            let py = python.to_string_lossy();
            Err(if why.contains("No module named") {
                StartError::NotInstalled(engine.not_installed(&py, &why))
            } else {
                StartError::Failed(format!(
                    "the local {} cluster did not start: {why}",
                    engine.word()
                ))
            })
            // `cluster` drops here: whatever started is stopped.
        }
    }
}

/// The helper's one JSON line: the address, or why it could not start.
fn read_ready(child: &mut Child) -> Result<String, String> {
    let Some(stdout) = child.stdout.take() else {
        return Err("no stdout".into());
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                let _ = tx.send(v);
                return;
            }
        }
        let _ = tx.send(serde_json::Value::Null);
    });
    match rx.recv_timeout(STARTUP_TIMEOUT) {
        Ok(v) => match (v["address"].as_str(), v["error"].as_str()) {
            (Some(a), _) => Ok(a.to_string()),
            (None, Some(e)) => Err(e.to_string()),
            _ => Err(
                "the helper exited without saying why (its log is in the scratch directory)".into(),
            ),
        },
        Err(_) => Err(format!("not ready after {} s", STARTUP_TIMEOUT.as_secs())),
    }
}

impl LocalCluster {
    /// Environment a run needs to reach this cluster.
    pub fn env(&self) -> Vec<(OsString, OsString)> {
        let mut env = vec![(
            "BOUNDCHECK_ENGINE_ADDRESS".into(),
            self.address.clone().into(),
        )];
        if std::env::var_os("RAY_AUTH_MODE").is_none() {
            // Ray 2.60 starts a local head with token auth (the token in
            // ~/.ray/auth_token); a driver connects only when told to use it.
            env.push(("RAY_AUTH_MODE".into(), "token".into()));
        }
        env
    }
}

impl Drop for LocalCluster {
    /// Ask the helper to stop the cluster (close its stdin), give it
    /// [`STOP_GRACE`], then kill its process group and every process under it
    /// (Ray's workers lead process groups of their own), and reap them.
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        let under = crate::target::tree::TreeTracker::new(pid).scan();
        drop(self.child.stdin.take());
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        // SAFETY: signalling the helper's own group and the processes we
        // listed under it a moment ago; then non-blocking reaps of our children.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
            for &p in under.iter().filter(|&&p| p != pid) {
                libc::kill(p, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        // SAFETY: non-blocking waits for our own (adopted) children.
        while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
        crate::target::tree::let_in(pid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_name_their_engine_and_nonsense_is_refused_with_the_forms() {
        let d = Cluster::parse("tcp://127.0.0.1:8786").unwrap();
        assert_eq!(d.engine, Engine::Dask);
        assert_eq!(d.host_port(), "127.0.0.1:8786");
        assert_eq!(Cluster::parse("10.0.0.5:6379").unwrap().engine, Engine::Ray);
        assert_eq!(
            Cluster::parse("ray://head:10001").unwrap().engine,
            Engine::Ray
        );
        for bad in ["", "localhost", "tcp://x", "http://a:1/b", "host:port"] {
            let e = Cluster::parse(bad).unwrap_err();
            assert!(e.contains("tcp://HOST:PORT"), "{e}");
        }
    }

    #[test]
    fn a_closed_port_is_unreachable_with_how_to_start_a_cluster() {
        // Bind then drop: the port is free and nothing listens on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = Cluster::parse(&format!("tcp://127.0.0.1:{port}"))
            .unwrap()
            .check_reachable()
            .unwrap_err();
        assert!(e.contains("dask scheduler"), "{e}");
    }
}
