"""Run one boundcheck workload with one concurrency strategy.

  python run_workload.py --workload W --strategy S --workers N
                         --size low|med|high [--url http://127.0.0.1:PORT/]

Prints one JSON line: workload, strategy, workers, size, tasks, wall_s,
checksum (and engine_startup_s for the ray and dask strategies, whose local
cluster is started before the clock and stopped after it).  The checksum is identical across strategies for the same
workload+size (each workload's total work is fixed; only its split varies).
Exit 3 (with a message on stderr) for a strategy that cannot apply.
Needs bcwork.py next to it or on PYTHONPATH.  Python 3.9+.
"""
import argparse
import asyncio
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import bcwork

WORKLOADS = ["cpu", "memory", "io", "network", "lock", "sleep", "async-blocked", "pipeline", "array"]
STRATEGIES = ["sequential", "threads", "processes", "asyncio", "interpreters", "numba", "shared-memory",
              "ray", "dask"]

# Which strategies make sense, and why not when they don't.
SUPPORTED = {
    "cpu": {"sequential", "threads", "processes", "interpreters", "numba", "ray", "dask"},
    "memory": {"sequential", "threads", "processes", "interpreters"},
    "io": {"sequential", "threads", "processes", "asyncio", "interpreters"},
    "network": {"sequential", "threads", "processes", "asyncio", "interpreters"},
    "lock": {"sequential", "threads"},
    "sleep": {"sequential", "threads", "processes", "asyncio", "interpreters"},
    "async-blocked": {"asyncio"},
    "pipeline": {"sequential", "threads", "processes", "asyncio", "interpreters"},
    "array": {"sequential", "threads", "processes", "shared-memory"},
}
# What a strategy or workload imports beyond the standard library.
NEEDS = {"numba": "numba", "shared-memory": "numpy", "array": "numpy", "ray": "ray",
         "dask": "distributed"}
WHY_NOT = {
    ("lock", "processes"): "a threading.Lock is not shared between processes",
    ("lock", "interpreters"): "a threading.Lock is not shared between interpreters",
    ("lock", "asyncio"): "a threading.Lock gives nothing to contend on one event-loop thread",
    ("cpu", "asyncio"): "asyncio cannot run CPU work concurrently (see workload async-blocked)",
    ("memory", "asyncio"): "asyncio cannot run CPU work concurrently (see workload async-blocked)",
    ("array", "asyncio"): "asyncio cannot run numpy work concurrently",
    ("array", "interpreters"): "numpy does not load in subinterpreters",
}

# Total work at --size med (sequential ~2-4 s on a 2-core box); low = /4,
# high = x4.  Units: cpu/async-blocked = loop iterations, memory = 4 KiB
# objects allocated, io = 1 MiB blocks written+fsynced+read, network = GETs
# (boundcheck's server answers in 20 ms), lock = 2 ms critical sections,
# sleep = 50 ms sleeps, pipeline = items fetched (20 ms) then processed
# (~15 ms of CPU each), array = 4 MiB numpy arrays handed to the workers.
MED_UNITS = {
    "cpu": 28_000_000,
    "memory": 1_200_000,
    "io": 2_000,
    "network": 150,
    "lock": 1_200,
    "sleep": 60,
    "async-blocked": 28_000_000,
    "pipeline": 80,
    "array": 96,
}
SIZE_FACTOR = {"low": 0.25, "med": 1.0, "high": 4.0}
IO_BLOCK = 1 << 20  # 1 MiB uncached blocks: long, CPU-cheap waits on the disk
LOCK_HOLD_US = 2000  # lock held 2 ms per critical section (GIL released)
SLEEP_UNIT_MS = 50
ASYNC_STEP = 1_000_000  # ~0.1 s of CPU per slice between awaits: loop blocked
PIPE_WORK = 200_000  # sum-of-squares numbers per pipeline item: ~15 ms of CPU
MIN_TASKS = 16


def fail(msg, code=3):
    print(msg, file=sys.stderr)
    sys.exit(code)


def split(total, parts):
    """[(lo, hi), ...] covering range(total) in `parts` near-equal slices."""
    return [(total * k // parts, total * (k + 1) // parts) for k in range(parts)]


def plan(workload, units, ntasks, workers, url, tmpdir):
    """List of (task name in bcwork, args tuple) covering all the work."""
    slices = split(units, ntasks)
    if workload == "cpu":
        return [("cpu_task", s) for s in slices]
    if workload == "memory":
        return [("memory_task", s) for s in slices]
    if workload == "io":
        return [("io_task", (lo, hi, IO_BLOCK, tmpdir)) for lo, hi in slices]
    if workload in ("network", "pipeline"):
        from urllib.parse import urlsplit

        u = urlsplit(url)
        host, port, path = u.hostname, u.port or 80, u.path or "/"
        if workload == "pipeline":
            return [("pipeline_task", (lo, hi, host, port, path, PIPE_WORK)) for lo, hi in slices]
        return [("network_task", (hi - lo, host, port, path)) for lo, hi in slices]
    if workload == "lock":
        return [("lock_task", (hi - lo, LOCK_HOLD_US)) for lo, hi in slices]
    if workload == "sleep":
        return [("sleep_task", (hi - lo, SLEEP_UNIT_MS)) for lo, hi in slices]
    if workload == "async-blocked":
        return [("async_blocked_task", (lo, hi, ASYNC_STEP, workers)) for lo, hi in slices]
    if workload == "array":
        # Built before the clock starts, like every plan; handed over whole.
        return [("array_task", ([bcwork.array_make(g) for g in range(lo, hi)],)) for lo, hi in slices]
    raise ValueError(workload)


def execute_numba(calls):
    """cpu_task's slices through the numba-compiled loop, one after another
    (JIT is not parallelism: compare it with native-serial). Compiling is
    part of the cost a user pays, so it is timed."""
    fn = bcwork.cpu_numba_compiled()
    return [fn(*a) for _, a in calls]


def shared_memory_plan(units, slices):
    """The array workload with its arrays made in one shared-memory block
    (before the clock starts, as the other plans make theirs): a process
    pool's workers get the block's name and their arrays' indices, nothing
    is pickled but those. Returns the block (to unlink) and the calls."""
    import numpy as np
    from multiprocessing import shared_memory

    shm = shared_memory.SharedMemory(create=True, size=units * bcwork.ARRAY_LEN * 8)
    block = np.ndarray((units, bcwork.ARRAY_LEN), dtype=np.float64, buffer=shm.buf)
    for g in range(units):
        bcwork.array_fill(block[g], g)
    del block
    return shm, [("array_task_shm", (shm.name, lo, hi)) for lo, hi in slices]


class LocalEngine:
    """A Ray head or a Dask LocalCluster of `workers` worker processes on
    this machine, started (start-up timed apart: a cluster is a one-off cost
    a long job amortises) and stopped with everything it started, as
    boundcheck's own ray and dask experiments do. `executor()` is a
    concurrent.futures executor over its tasks."""

    def __init__(self, kind, workers, tmpdir):
        self.kind, self.workers = kind, workers
        here = os.path.dirname(os.path.abspath(bcwork.__file__))
        # The engine's worker processes import bcwork by name.
        os.environ["PYTHONPATH"] = here + os.pathsep + os.environ.get("PYTHONPATH", "")
        t0 = time.perf_counter()
        if kind == "ray":
            import ray

            # address="local": a cluster of its own, never one found through
            # RAY_ADDRESS or /tmp/ray (a stale one there makes init fail).
            ray.init(address="local", num_cpus=workers, include_dashboard=False,
                     log_to_driver=False, configure_logging=False,
                     _temp_dir=self.ray_dir(tmpdir))
            self.remote = ray.remote(num_cpus=1)(bcwork.call_by_name)
        else:
            from distributed import Client, LocalCluster

            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=40)
            self.client = Client(self.cluster)
        self.startup_s = time.perf_counter() - t0

    def ray_dir(self, tmpdir):
        """Ray's session directory: in the scratch directory unless that path
        is too long for the unix sockets Ray puts 62 characters below it (a
        socket path has at most 107 bytes); then a short one in the temp dir,
        removed by stop()."""
        self.own_dir = None
        for d in (os.path.join(tmpdir, "ray"),
                  os.path.join(tempfile.gettempdir(), "bc-ray-%d" % os.getpid()),
                  "/tmp/bc-ray-%d" % os.getpid()):
            if len(d) + 62 <= 107:
                self.own_dir = None if d.startswith(tmpdir) else d
                return d
        return None

    def run(self, calls):
        if self.kind == "ray":
            import ray

            return ray.get([self.remote.remote(name, *a) for name, a in calls])
        futures = [self.client.submit(bcwork.call_by_name, name, *a, pure=False) for name, a in calls]
        return self.client.gather(futures)

    def stop(self):
        if self.kind == "ray":
            import ray

            ray.shutdown()
            if self.own_dir:
                shutil.rmtree(self.own_dir, ignore_errors=True)
        else:
            self.client.close()
            self.cluster.close()


def run_pool(executor, calls, by_name=False):
    from concurrent.futures import wait

    with executor:
        if by_name:  # subinterpreters: see bcwork.call_by_name
            futs = [executor.submit(bcwork.call_by_name, name, *a) for name, a in calls]
        else:
            futs = [executor.submit(getattr(bcwork, name), *a) for name, a in calls]
        # One wait for all: the main thread blocks once instead of waking per
        # result, so it reads as a parked waiter, not a contended lock.
        wait(futs)
        return [f.result() for f in futs]


async def run_async(calls, workers):
    sem = asyncio.Semaphore(workers)  # --workers = max coroutines in flight

    async def one(name, a):
        async with sem:
            coro_fn = getattr(bcwork, name + "_async", None) or getattr(bcwork, name)
            if inspect.iscoroutinefunction(coro_fn):
                return await coro_fn(*a)
            # blocking task (io): hand it to a worker thread
            return await asyncio.to_thread(coro_fn, *a)

    return await asyncio.gather(*(one(n, a) for n, a in calls))


def execute(strategy, calls, workers):
    if strategy == "sequential":
        return [getattr(bcwork, name)(*a) for name, a in calls]
    if strategy == "threads":
        from concurrent.futures import ThreadPoolExecutor

        return run_pool(ThreadPoolExecutor(workers), calls)
    if strategy == "processes":
        from concurrent.futures import ProcessPoolExecutor

        return run_pool(ProcessPoolExecutor(workers), calls)
    if strategy == "interpreters":
        from concurrent.futures import InterpreterPoolExecutor

        # Each subinterpreter unpickles the task function, which imports
        # bcwork by name: make sure it can be found even without PYTHONPATH
        # (exec is a builtin, so it pickles by name).
        here = os.path.dirname(os.path.abspath(bcwork.__file__))
        init = "import sys\nif %r not in sys.path: sys.path.insert(0, %r)" % (here, here)
        return run_pool(InterpreterPoolExecutor(workers, initializer=exec, initargs=(init, {})), calls, by_name=True)
    if strategy == "shared-memory":  # the calls carry the block's name
        from concurrent.futures import ProcessPoolExecutor

        return run_pool(ProcessPoolExecutor(workers), calls)
    if strategy == "asyncio":
        return asyncio.run(run_async(calls, workers))
    raise ValueError(strategy)


def start_local_server(tmpdir):
    """Fallback when no --url: a delay server in a child process (20 ms/GET,
    like boundcheck's own)."""
    port_file = os.path.join(tmpdir, "port")
    env = dict(os.environ)
    here = os.path.dirname(os.path.abspath(bcwork.__file__))
    env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys, bcwork; bcwork.serve_delay(20, sys.argv[1])", port_file],
        env=env,
    )
    deadline = time.monotonic() + 10
    while not os.path.exists(port_file):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            fail("could not start the local HTTP server", 1)
        time.sleep(0.01)
    with open(port_file) as f:
        return proc, "http://127.0.0.1:%s/" % f.read().strip()


# Strategies only `boundcheck bench` runs (`boundcheck --strategy` rejects
# them): a suggestion names them apart, or a user is sent to one it refuses.
BENCH_ONLY = {"numba", "shared-memory", "ray", "dask"}


def choices(workload):
    """The strategies that apply to `workload`, the bench-only ones apart."""
    ok = [s for s in STRATEGIES if s in SUPPORTED[workload]]
    both = [s for s in ok if s not in BENCH_ONLY]
    bench = [s for s in ok if s in BENCH_ONLY]
    return ", ".join(both) + (" (%s: with `boundcheck bench`)" % ", ".join(bench) if bench else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workload", required=True, choices=WORKLOADS)
    ap.add_argument("--strategy", required=True, choices=STRATEGIES)
    ap.add_argument("--workers", type=int, default=0, help="0 = os.cpu_count()")
    ap.add_argument("--size", default="med", choices=list(SIZE_FACTOR))
    ap.add_argument("--url", default=None, help="HTTP server for --workload network or pipeline")
    args = ap.parse_args()

    if args.strategy == "interpreters" and sys.version_info < (3, 14):
        fail("needs Python 3.14+ for InterpreterPoolExecutor (this is Python %d.%d)" % sys.version_info[:2])
    if args.strategy not in SUPPORTED[args.workload]:
        why = WHY_NOT.get((args.workload, args.strategy), "")
        fail(
            "strategy %r does not apply to workload %r%s; use one of: %s"
            % (args.strategy, args.workload, " (" + why + ")" if why else "",
               choices(args.workload))
        )
    if args.workers < 0:
        fail("--workers must be >= 0", 2)
    for need in {NEEDS.get(args.strategy), NEEDS.get(args.workload)} - {None}:
        try:
            __import__(need)
        except ImportError:
            fail("needs %s, which %s cannot import: run scripts/install-engines.sh and use the "
                 "Python it prints (BOUNDCHECK_ENGINES_PYTHON)" % (need, sys.executable))

    workers = args.workers or os.cpu_count() or 1
    if args.strategy in ("sequential", "numba"):
        workers = 1  # report what actually runs at once
    units = max(1, int(MED_UNITS[args.workload] * SIZE_FACTOR[args.size]))
    ntasks = min(units, max(MIN_TASKS, 4 * workers))  # keep every worker fed

    # scratch dir for io files (on BOUNDCHECK_TMPDIR if set: pick a real disk)
    tmpdir = tempfile.mkdtemp(prefix="bcwork-", dir=os.environ.get("BOUNDCHECK_TMPDIR") or None)
    server = None
    shm = None
    engine = None
    try:
        url = args.url
        if args.workload in ("network", "pipeline") and not url:
            server, url = start_local_server(tmpdir)
        bcwork.lock_reset()
        if args.strategy == "shared-memory":
            shm, calls = shared_memory_plan(units, split(units, ntasks))
        else:
            calls = plan(args.workload, units, ntasks, workers, url, tmpdir)
        if args.strategy in ("ray", "dask"):
            engine = LocalEngine(args.strategy, workers, tmpdir)
        t0 = time.perf_counter()
        if args.strategy == "numba":
            results = execute_numba(calls)
        elif engine is not None:
            results = engine.run(calls)
        else:
            results = execute(args.strategy, calls, workers)
        wall = time.perf_counter() - t0
    finally:
        if engine is not None:
            engine.stop()
        if shm is not None:
            shm.close()
            shm.unlink()
        if server is not None:
            server.kill()
            server.wait()
        shutil.rmtree(tmpdir, ignore_errors=True)

    if args.workload == "lock":
        # value of the lock-guarded counter: equals the number of critical
        # sections only if the lock really excluded (no lost updates)
        checksum = bcwork.lock_value()
    else:
        checksum = sum(results) % bcwork.MOD
    extra = {} if engine is None else {"engine_startup_s": round(engine.startup_s, 3)}
    print(json.dumps({
        "workload": args.workload,
        "strategy": args.strategy,
        "workers": workers,
        "size": args.size,
        "tasks": len(calls),
        "wall_s": round(wall, 3),
        "checksum": checksum,
        **extra,
    }))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
