# Long-run target for scripts/longrun.sh: THREADS threads (default 20) for
# SECONDS, each alternating ~1 ms of pure Python with a 5 ms sleep, so the
# threads are a mix of on-CPU, GIL-wait and sleeping at every tick (every
# state the sampler records, for a realistic per-sample size).
# usage: python3 longrun_target.py SECONDS [THREADS]
import sys
import threading
import time

seconds = float(sys.argv[1])
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 20
end = time.monotonic() + seconds


def worker():
    s = 0
    while time.monotonic() < end:
        for i in range(10000):
            s += i
        time.sleep(0.005)


ts = [threading.Thread(target=worker) for _ in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
