"""boundcheck engine helper: a local Ray or Dask cluster for one experiment.

    python boundcheck_engine.py ray|dask CPUS WORKDIR

boundcheck runs this with the target's own interpreter before the first run
of a `ray` or `dask` experiment, so the cluster's start-up is paid once,
outside the timed runs, and every run of the experiment connects to the same
cluster.  It prints one JSON line on stdout:

  {"address": "192.0.2.2:43529", "startup_s": 7.4, "pids": [...]}   ready
  {"error": "ModuleNotFoundError: No module named 'ray'"}         could not start

then waits until its stdin closes (boundcheck closes it after the last round,
or dies), stops the cluster and exits.  boundcheck then kills what is left of
its process group and of the pids it reported, so nothing outlives the
experiment.

ray   ray.init(address="local", num_cpus=CPUS, include_dashboard=False,
      _temp_dir=WORKDIR/ray): a head node (gcs_server, raylet) with CPUS
      worker CPUs, always a new one: a bare ray.init() joins the cluster
      named in TEMP_DIR/ray_current_cluster, which a cluster killed without
      `ray stop` leaves behind, and fails (harmless while the temp dir is
      this experiment's own, not when it falls back to the default).  Its session
      files live in WORKDIR, which boundcheck removes afterwards (or, when
      that path is too long for Ray's unix sockets, in $TMPDIR/bc-ray-PID,
      removed when the cluster stops).
dask  distributed.LocalCluster(n_workers=CPUS, threads_per_worker=1,
      processes=True, dashboard_address=None): a scheduler in this process and
      CPUS worker processes (one thread each: a worker per CPU, as a process
      pool would have).
"""

import json
import os
import sys
import time


def _say(record):
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def _descendants(root):
    """Pids under root (engine processes boundcheck must not leave behind)."""
    parents = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
            parents[int(name)] = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == pid]
        found.extend(kids)
        frontier.extend(kids)
    return found


# Ray puts unix sockets under its temp dir, at
# session_<date>_<time>_<us>_<pid>/sockets/plasma_store (62 characters), and a
# unix socket path has at most 107 bytes.
_RAY_SOCKET_TAIL = 62
_UNIX_PATH_MAX = 107


def _ray_temp_dir(workdir):
    """The experiment's own directory for Ray's session, or, when its path is
    too long for Ray's sockets, a short one in the temp dir (removed after)."""
    import tempfile

    for base in (workdir, tempfile.gettempdir(), "/tmp"):
        d = os.path.join(base, "ray") if base == workdir else os.path.join(
            base, "bc-ray-%d" % os.getpid())
        if len(d) + _RAY_SOCKET_TAIL <= _UNIX_PATH_MAX:
            return d, base != workdir
    return None, False


def _start_ray(cpus, workdir):
    import ray

    temp, own = _ray_temp_dir(workdir)
    kwargs = {"_temp_dir": temp} if temp else {}
    context = ray.init(
        address="local",
        num_cpus=cpus,
        include_dashboard=False,
        configure_logging=False,
        log_to_driver=False,
        **kwargs
    )

    def stop():
        ray.shutdown()
        if own:
            import shutil

            shutil.rmtree(temp, ignore_errors=True)

    return context.address_info["gcs_address"], stop


def _start_dask(cpus, workdir):
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=cpus,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
        local_directory=os.path.join(workdir, "dask"),
    )
    return cluster.scheduler_address, cluster.close


def main():
    engine, cpus, workdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    started = time.time()
    try:
        start = {"ray": _start_ray, "dask": _start_dask}[engine]
        address, stop = start(cpus, workdir)
    except Exception as err:
        _say({"error": "%s: %s" % (type(err).__name__, err)})
        return 1
    _say({"address": address, "startup_s": time.time() - started,
          "pids": _descendants(os.getpid())})
    try:
        sys.stdin.read()
    except Exception:
        pass
    try:
        stop()
    except Exception:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
