# expected-verdict: gil-contended
# The overhead benchmark's 50-thread workload: fixtures/many_threads.py plus
# an end_unix= stamp (the wall clock when the work ended, so the benchmark
# can time what a profiler does after its target is done).
# Purpose: 50 threads that each alternate a short burst of pure-Python work
# (~1.5 ms) with a short sleep (1 ms). Work dominates, so the threads queue on
# the GIL: about one core busy however many cores there are. Used by the
# overhead benchmark (benches/overhead.rs) to price per-thread sampling: the
# run does a FIXED amount of work (not a fixed wall time), so any slowdown a
# profiler causes shows up as a longer wall time.
#
# Usage: python3 many_threads.py [SCALE]   (SCALE multiplies the work; default
# 1.0 ≈ 3 s on a 2-vCPU VM). Prints one line on stdout:
#   many_threads: elapsed_s=<work wall time> cpu_s=<process CPU> checksum=<n> end_unix=<t>
import resource
import sys
import threading
import time

THREADS = 50
ROUNDS = 40  # work bursts per thread at SCALE 1.0
BURST = 15000  # loop iterations per burst (~1.5 ms of pure Python)
SLEEP_S = 0.001
MOD = (1 << 61) - 1


def worker(idx, rounds, out):
    s = 0
    for r in range(rounds):
        base = (idx * rounds + r) * BURST
        for i in range(base, base + BURST):
            s += i * i
        time.sleep(SLEEP_S)
    out[idx] = s % MOD


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    rounds = max(1, round(ROUNDS * scale))
    out = [0] * THREADS
    threads = [
        threading.Thread(target=worker, args=(i, rounds, out), name=f"worker-{i}")
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
        f"many_threads: elapsed_s={elapsed:.4f} cpu_s={ru.ru_utime + ru.ru_stime:.4f} "
        f"checksum={sum(out) % MOD} end_unix={time.time():.6f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
