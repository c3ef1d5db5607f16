# expected-verdict: pool-overhead
# Purpose: the overhead benchmark's process pool (benches/overhead.rs): a
# ProcessPoolExecutor(2) handed many small tasks (~0.2 ms of pure Python
# each, chunksize 4), so the tree is a parent that pickles and dispatches
# and two workers that compute: three processes, each with a few threads,
# and ~10k context switches/s. It does a FIXED amount of work (not a fixed
# wall time), so a profiler's slowdown shows up as a longer wall time, and a
# profiler that does not follow child processes misses most of the work.
#
# Usage: python3 process_pool.py [SCALE]   (SCALE multiplies the tasks;
# default 1.0 ≈ 3 s on a 2-vCPU VM). Prints one line on stdout:
#   process_pool: elapsed_s=<work wall time> cpu_s=<CPU of parent + workers>
#   checksum=<n> end_unix=<wall clock when the work ended>
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor

WORKERS = 2
TASKS = 12_000  # tasks at SCALE 1.0
ITERS = 1_500  # loop iterations per task (~0.2 ms)
CHUNK = 4
MOD = (1 << 61) - 1


def task(x):
    s = 0
    for i in range(x, x + ITERS):
        s += i * i
    return s % MOD


if __name__ == "__main__":  # required: workers may be spawned, re-importing us
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    tasks = max(1, round(TASKS * scale))
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=WORKERS) as pool:
        total = sum(pool.map(task, range(tasks), chunksize=CHUNK)) % MOD
    elapsed = time.perf_counter() - t0
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    print(
        f"process_pool: elapsed_s={elapsed:.4f} cpu_s={cpu:.4f} checksum={total} "
        f"end_unix={time.time():.6f}",
        flush=True,
    )
