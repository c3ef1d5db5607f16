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

ray   ray.init(num_cpus=CPUS, include_dashboard=False, _temp_dir=WORKDIR/ray):
      a head node (gcs_server, raylet) with CPUS worker CPUs.  Its session
      files live in WORKDIR, which boundcheck removes afterwards.
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


def _start_ray(cpus, workdir):
    import ray

    context = ray.init(
        num_cpus=cpus,
        include_dashboard=False,
        _temp_dir=os.path.join(workdir, "ray"),
        configure_logging=False,
        log_to_driver=False,
    )
    return context.address_info["gcs_address"], ray.shutdown


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
