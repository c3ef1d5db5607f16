# expected-verdict: gil-contended
# Purpose: fixed-work variant of fixtures/gil_threads.py for the overhead
# benchmark (benches/overhead.rs): 4 threads of pure-Python CPU work that
# serialise on the GIL. It does a FIXED amount of work (not a fixed wall
# time), so a profiler's slowdown shows up as a longer wall time.
#
# Usage: python3 gil_threads.py [SCALE]   (SCALE multiplies the work; default
# 1.0 ≈ 3 s on a 2-vCPU VM). Prints one line on stdout:
#   gil_threads: elapsed_s=<work wall time> cpu_s=<process CPU> checksum=<n> end_unix=<t>
# (end_unix: the wall clock when the work ended, so the benchmark can time
# what a profiler does after its target is done)
import resource
import sys
import threading
import time

THREADS = 4
ITERS = 7_500_000  # loop iterations per thread at SCALE 1.0
MOD = (1 << 61) - 1


def worker(idx, iters, out):
    s = 0
    base = idx * iters
    for i in range(base, base + iters):
        s += i * i
    out[idx] = s % MOD


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    iters = max(1, round(ITERS * scale))
    out = [0] * THREADS
    threads = [
        threading.Thread(target=worker, args=(i, iters, out), name=f"cpu-{i}")
        for i in range(THREADS)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"gil_threads: elapsed_s={elapsed:.4f} cpu_s={ru.ru_utime + ru.ru_stime:.4f} "
        f"checksum={sum(out) % MOD} end_unix={time.time():.6f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
