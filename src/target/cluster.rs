//! The processes of an existing Ray or Dask cluster on this machine.
//!
//! A program that connects to a running cluster (`ray.init(address=...)`,
//! `distributed.Client("tcp://...")`) hands its work to processes that are
//! not its descendants: the cluster's workers. A cluster the program starts
//! itself (`ray.init()`, `LocalCluster()`) needs nothing from here: its
//! raylet, gcs_server and workers, or its nanny and worker processes, are the
//! program's children and grandchildren, already in the tree. For an
//! existing cluster the node's processes are found the way Ray finds its own
//! (`ray stop` looks for `--gcs-address` on command lines): a raylet, agent
//! or gcs_server names the cluster's GCS port on its command line, a Dask
//! worker or nanny names its scheduler's `tcp://HOST:PORT`, a Dask scheduler
//! its `--port`. Of those, the workers are sampled: Ray's worker processes
//! (the raylet's `ray::…` children, present from the start: a node prestarts
//! one per CPU) and Dask's `dask worker` processes with their descendants.
//! Matching is on the port: a node may name its GCS by another of this
//! machine's addresses than the one the user gave.

/// Which engine's processes to look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterKind {
    Ray,
    Dask,
}

/// Whether a command line belongs to the cluster whose GCS (Ray) or
/// scheduler (Dask) listens on `port`.
pub fn belongs(kind: ClusterKind, port: u16, args: &[String]) -> bool {
    let tail = format!(":{port}");
    match kind {
        ClusterKind::Ray => args.iter().any(|a| {
            a == &format!("--gcs_server_port={port}")
                || (a.starts_with("--gcs-address=") && a.ends_with(&tail))
        }),
        ClusterKind::Dask => {
            let names_scheduler = args
                .iter()
                .any(|a| a.starts_with("tcp://") && a.ends_with(&tail));
            let is_scheduler = args
                .iter()
                .any(|a| a == "scheduler" || a.ends_with("dask-scheduler"));
            let on_port = args.iter().any(|a| a == &format!("--port={port}"))
                || args
                    .windows(2)
                    .any(|w| w[0] == "--port" && w[1] == port.to_string());
            names_scheduler || (is_scheduler && on_port)
        }
    }
}

/// Whether a process of a Ray node is a worker (`ray::IDLE`, `ray::f`), not
/// one of the node's agents (`ray::DashboardAgent`, `ray::RuntimeEnvAgent`).
pub fn is_ray_worker(args: &[String]) -> bool {
    args.first()
        .is_some_and(|a| a.starts_with("ray::") && !a.contains("Agent"))
}

/// The processes on this machine that run that cluster's work: Ray's worker
/// processes (children of a raylet of that cluster, now and as it starts
/// them), Dask's `dask worker` processes (with their nanny and worker
/// children, found as descendants).
/// Not the raylet, GCS, agents or scheduler: they mostly wait on the
/// network, and sampling them would make a CPU-bound job look I/O-bound.
pub fn processes(kind: ClusterKind, port: u16) -> super::tree::Extra {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return super::tree::Extra::default();
    };
    let me = std::process::id() as i32;
    let listed: Vec<(i32, i32, Vec<String>)> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let ppid = stat[stat.rfind(')')? + 2..]
                .split(' ')
                .nth(1)?
                .parse()
                .ok()?;
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args = raw
                .split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            Some((pid, ppid, args))
        })
        .collect();
    let nodes: Vec<i32> = listed
        .iter()
        .filter(|(_, _, args)| belongs(kind, port, args))
        .filter(|(_, _, args)| {
            kind == ClusterKind::Dask || args.iter().any(|a| a.ends_with("raylet"))
        })
        .map(|(pid, _, _)| *pid)
        .collect();
    let mut found: Vec<i32> = match kind {
        ClusterKind::Dask => nodes
            .iter()
            .copied()
            .filter(|pid| {
                listed.iter().any(|(p, _, a)| {
                    p == pid
                        && a.iter()
                            .any(|x| x == "worker" || x.ends_with("dask-worker"))
                })
            })
            .collect(),
        ClusterKind::Ray => listed
            .iter()
            .filter(|(_, ppid, args)| nodes.contains(ppid) && is_ray_worker(args))
            .map(|(pid, _, _)| *pid)
            .collect(),
    };
    found.sort_unstable();
    super::tree::Extra {
        pids: found,
        // A raylet starts workers on demand: the ones it starts for the
        // program's tasks join as they appear.
        children_of: if kind == ClusterKind::Ray {
            nodes
        } else {
            Vec::new()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn ray_and_dask_processes_are_recognised_by_their_cluster_port() {
        // Captured from `ray start --head --port=6379` and a second node.
        let raylet = args(
            "/venv/ray/core/src/ray/raylet/raylet --raylet_socket_name=/tmp/ray/s/raylet --gcs-address=192.0.2.2:6379 --num_cpus=2",
        );
        let gcs =
            args("/venv/ray/core/src/ray/gcs/gcs_server --log_dir=/tmp/ray --gcs_server_port=6379");
        assert!(belongs(ClusterKind::Ray, 6379, &raylet));
        assert!(belongs(ClusterKind::Ray, 6379, &gcs));
        assert!(!belongs(ClusterKind::Ray, 6380, &raylet), "another cluster");
        let worker =
            args("/venv/bin/python /venv/bin/dask worker tcp://127.0.0.1:8786 --nthreads 1");
        let scheduler = args("/venv/bin/python /venv/bin/dask scheduler --port 8786");
        assert!(belongs(ClusterKind::Dask, 8786, &worker));
        assert!(belongs(ClusterKind::Dask, 8786, &scheduler));
        assert!(!belongs(ClusterKind::Dask, 8787, &scheduler));
        assert!(!belongs(ClusterKind::Dask, 8786, &raylet));
        assert!(!belongs(ClusterKind::Ray, 8786, &worker));
        assert!(is_ray_worker(&args("ray::IDLE")));
        assert!(is_ray_worker(&args("ray::sum_squares")));
        assert!(!is_ray_worker(&args("ray::DashboardAgent")));
        assert!(!is_ray_worker(&raylet));
    }
}
