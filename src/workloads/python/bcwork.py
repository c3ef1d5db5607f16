"""Task functions for boundcheck's bundled Python workloads.

Every task is a module-level function whose arguments are plain ints/strs, so
it can be pickled for ProcessPoolExecutor and shared with subinterpreters
(InterpreterPoolExecutor imports this module by name in each interpreter).

Each task covers one slice [lo, hi) of a fixed total amount of work and
returns a number that run_workload.py adds up; the per-unit results depend
only on the global unit index, so the checksum is the same whatever the
strategy, worker count or number of slices.  Must run on Python 3.9+.
"""
import asyncio
import mmap
import os
import socket
import tempfile
import threading
import time
import zlib

MOD = (1 << 61) - 1  # keep checksums small; sums stay additive modulo MOD

# ---------------------------------------------------------------- cpu


def cpu_task(lo, hi):
    """Sum of squares over [lo, hi): a pure-Python loop that holds the GIL."""
    s = 0
    for i in range(lo, hi):
        s += i * i
    return s % MOD


# ---------------------------------------------------------------- memory

MEM_OBJ = 4096  # bytes per object: each one is a fresh page for malloc
MEM_BATCH = 16384  # objects per list: 64 MiB live at once, then dropped


def memory_task(lo, hi):
    """Build big lists of fresh 4 KiB bytes objects (one per index) and sum
    a value read back from each, batch by batch.

    Each batch allocates 64 MiB that malloc has to take from the kernel and
    gives back when the list is dropped, so the next batch page-faults fresh
    zeroed pages again: lots of minor faults and system time per unit of work.
    """
    total = 0
    for a in range(lo, hi, MEM_BATCH):
        objs = [i.to_bytes(8, "little") * (MEM_OBJ // 8) for i in range(a, min(a + MEM_BATCH, hi))]
        total += sum(o[0] | o[1] << 8 for o in objs)  # == i & 0xffff per object
        del objs
    return total % MOD


# ---------------------------------------------------------------- io


def _block(g, size):
    """Deterministic content of global block number g (cheap to make, so the
    time goes to the disk, not to Python)."""
    return g.to_bytes(8, "little") * (size // 8)


IO_SLOTS = 4  # the file cycles over 4 block slots: stays small on disk


def _open_uncached(path):
    """Open for O_DIRECT I/O (no page cache: every write and read goes to the
    device and waits for it in D state); plain open where it is refused."""
    direct = getattr(os, "O_DIRECT", 0)
    if direct:
        try:
            return os.open(path, os.O_RDWR | direct), True
        except OSError:  # e.g. tmpfs before Linux 6.6
            pass
    return os.open(path, os.O_RDWR), False


def io_task(lo, hi, block_size, dirpath):
    """For each block lo..hi-1: write it to a small scratch file, fsync, and
    read it back from the device.

    Big uncached blocks make each wait long and cheap in CPU, so the thread
    spends its time in D state (the disk), not in Python or the syscall
    overhead.  Overwriting a few fixed slots instead of appending keeps the
    file small.  Returns the sum of CRC32s of the head and tail of each block
    as read back.
    """
    fd, path = tempfile.mkstemp(prefix="bcwork-", suffix=".dat", dir=dirpath)
    os.close(fd)
    fd, direct = _open_uncached(path)
    wbuf = mmap.mmap(-1, block_size)  # page-aligned buffers, as O_DIRECT needs
    rbuf = mmap.mmap(-1, block_size)
    try:
        total = 0
        for g in range(lo, hi):
            off = (g % IO_SLOTS) * block_size
            wbuf[:] = _block(g, block_size)
            os.pwrite(fd, wbuf, off)
            os.fsync(fd)  # wait until the block is on the device
            if not direct and hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fd, off, block_size, os.POSIX_FADV_DONTNEED)
            os.preadv(fd, [rbuf], off)
            total += zlib.crc32(rbuf[:4096]) + zlib.crc32(rbuf[-4096:])
        return total
    finally:
        wbuf.close()
        rbuf.close()
        os.close(fd)
        os.unlink(path)


# ---------------------------------------------------------------- network


def _request(host, path):
    return ("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, host)).encode()


def _body_len(head):
    """Content-Length from raw response headers, or None (read to EOF)."""
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return int(v.strip())
    return None


def _status(head):
    """HTTP status code from raw response headers (0 if not HTTP)."""
    parts = head.split(b" ", 2)
    return int(parts[1]) if head.startswith(b"HTTP/") and len(parts) > 1 else 0


def _score(head, body):
    """Checksum contribution of one response: status code and body length
    only, so it is stable even if the body text varies between requests."""
    return _status(head) * 1000 + len(body)


def _complete(buf):
    """(head, body) once buf holds a whole response with Content-Length,
    else None.  Lets us stop even if the server keeps the connection open."""
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return None
    n = _body_len(head)
    if n is None or len(body) < n:
        return None
    return head, body[:n]


def _fetch(host, port, path):
    """One HTTP/1.0 GET over a plain blocking socket (blocks in recv):
    (head, body)."""
    with socket.create_connection((host, port)) as s:
        s.sendall(_request(host, path))
        buf = b""
        while True:
            c = s.recv(65536)
            buf += c
            done = _complete(buf)
            if done or not c:
                break
    head, _, body = buf.partition(b"\r\n\r\n")
    return done or (head, body)


async def _fetch_async(host, port, path):
    """Same as _fetch, with asyncio.open_connection."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(_request(host, path))
    await writer.drain()
    buf = b""
    while True:
        c = await reader.read(65536)
        buf += c
        done = _complete(buf)
        if done or not c:
            break
    writer.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    return done or (head, body)


def call_by_name(name, *args):
    """Run bcwork.<name>(*args) in whatever interpreter this runs in.

    For InterpreterPoolExecutor: Python 3.14 ships a function whose own code
    names only builtins (network_task's globals hide in its generator
    expression) as bare code, run in the subinterpreter's __main__, where
    bcwork's other globals do not exist (NameError: _score). This trampoline
    names only builtins too, but imports bcwork by name, so every task then
    runs with its own module's globals."""
    import bcwork

    return getattr(bcwork, name)(*args)


def network_task(n, host, port, path):
    """n sequential HTTP/1.0 GETs over plain blocking sockets (blocks in recv)."""
    return sum(_score(*_fetch(host, port, path)) for _ in range(n))


async def network_task_async(n, host, port, path):
    """Same as network_task, with asyncio.open_connection."""
    total = 0
    for _ in range(n):
        total += _score(*await _fetch_async(host, port, path))
    return total


def serve_delay(delay_ms, port_file):
    """Tiny threaded HTTP server that answers each GET after delay_ms.

    Only used when run_workload.py gets no --url; run in a child process.
    Writes its port to port_file once listening.
    """
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            time.sleep(delay_ms / 1000.0)
            body = b"ok\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    with open(port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(port_file + ".tmp", port_file)  # atomic: reader never sees half
    srv.serve_forever()


# ---------------------------------------------------------------- pipeline


def pipeline_process(g, head, work):
    """CPU stage for item g of the pipeline: sum of squares over `work`
    numbers starting at g * work + the response's status code (pure Python,
    holds the GIL; ~15 ms for work=200_000 on CPython 3.11).

    Seeded by the global item index and the status only, not the body, so
    the checksum is the same for every strategy and for either local server
    (boundcheck's and the runner's fallback answer with different bodies);
    a failed request (status 0 or 5xx) changes it.
    """
    lo = g * work + _status(head)
    s = 0
    for i in range(lo, lo + work):
        s += i * i
    return s % MOD


def pipeline_task(lo, hi, host, port, path, work):
    """Items lo..hi-1, one after the other: GET the URL (waits ~20 ms on the
    socket), then process the response (~15 ms of CPU)."""
    total = 0
    for g in range(lo, hi):
        head, _ = _fetch(host, port, path)
        total += pipeline_process(g, head, work)
    return total % MOD


async def pipeline_task_async(lo, hi, host, port, path, work):
    """pipeline_task with the fetch awaited on the event loop and the CPU
    stage run INLINE in the coroutine, not via run_in_executor: this is
    the common way async code gets written, and it shows its cost.  While one
    item is processed the loop is blocked, so the other coroutines' fetches
    only overlap with it if they were already sent; the CPU stages of all
    coroutines run one at a time on the loop's thread.
    """
    total = 0
    for g in range(lo, hi):
        head, _ = await _fetch_async(host, port, path)
        total += pipeline_process(g, head, work)
    return total % MOD


# ---------------------------------------------------------------- lock

_LOCK = threading.Lock()
_SHARED = [0]  # guarded by _LOCK


def lock_reset():
    _SHARED[0] = 0


def lock_value():
    return _SHARED[0]


def lock_task(n, hold_us):
    """n critical sections on one shared threading.Lock.

    Inside, a read-modify-write is split by time.sleep (which releases the
    GIL), so other threads really wait on the lock, not on the GIL; and if the
    lock failed to exclude, updates would be lost and the checksum would drop.
    """
    for _ in range(n):
        with _LOCK:
            v = _SHARED[0]
            time.sleep(hold_us / 1e6)
            _SHARED[0] = v + 1
    return n


# ---------------------------------------------------------------- sleep


def sleep_task(n, unit_ms):
    """n sleeps of unit_ms each: nothing runs, the thread waits on a timer."""
    for _ in range(n):
        time.sleep(unit_ms / 1000.0)
    return n


async def sleep_task_async(n, unit_ms):
    for _ in range(n):
        await asyncio.sleep(unit_ms / 1000.0)
    return n


# ---------------------------------------------------------------- async-blocked


async def async_blocked_task(lo, hi, step, concurrency):
    """Sum of squares over [lo, hi) computed inline in a coroutine, in slices
    of `step` numbers (~0.1-0.2 s of pure-Python CPU each): while a slice
    runs, the event loop can do nothing else.

    Between slices the coroutine awaits asyncio.sleep like a handler awaiting
    its next input.  The pause covers the other coroutines' slices plus
    20 ms, so the loop really goes idle (in epoll_wait) between the long
    blocking stretches: the mark of an event loop, as a profiler sees it.
    """
    s = 0
    for a in range(lo, hi, step):
        t0 = time.perf_counter()
        for i in range(a, min(a + step, hi)):
            s += i * i
        spent = time.perf_counter() - t0
        await asyncio.sleep(0.02 + spent * (concurrency - 1))
    return s % MOD


# ---------------------------------------------------------------- numba


_CPU_NUMBA = None


def cpu_numba_compiled():
    """cpu_task's loop compiled by numba (imported only for the numba
    strategy, so the other workloads need no numba).  The sum is kept
    below MOD as it goes (i * i < MOD here, so one subtraction does): int64
    would overflow where Python ints do not, and the checksum is the same."""
    global _CPU_NUMBA
    if _CPU_NUMBA is None:
        import numba

        @numba.njit(cache=False, nogil=True)
        def cpu_numba(lo, hi):
            s = 0
            for i in range(lo, hi):
                s += i * i
                if s >= 2305843009213693951:  # MOD
                    s -= 2305843009213693951
            return s

        _CPU_NUMBA = cpu_numba
    return _CPU_NUMBA


# ---------------------------------------------------------------- array

ARRAY_LEN = 1 << 19  # float64s per array: 4 MiB, far above a pipe's 64 KiB


_ARRAY_BASE = None


def array_fill(out, g):
    """Array number g, written into `out` (a float64 view of ARRAY_LEN):
    small whole numbers, so every sum of squares is exact in float64.
    Copied from one pattern made once: making the data is not the work."""
    import numpy as np

    global _ARRAY_BASE
    if _ARRAY_BASE is None:
        _ARRAY_BASE = (np.arange(ARRAY_LEN, dtype=np.int64) & 1023).astype(np.float64)
    out[:] = _ARRAY_BASE
    out += g % 7


def array_make(g):
    import numpy as np

    a = np.empty(ARRAY_LEN, dtype=np.float64)
    array_fill(a, g)
    return a


def array_task(arrays):
    """Sum of squares of each array it is handed (by pickling, for a
    process pool): a few ms of numpy work per 4 MiB array."""
    return sum(int((a * a).sum()) for a in arrays) % MOD


def _attach(name):
    from multiprocessing import shared_memory
    import sys

    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name=name, track=False)
    return shared_memory.SharedMemory(name=name)


def array_task_shm(name, lo, hi):
    """array_task over arrays lo..hi-1 of a shared-memory block: the worker
    receives a name and two ints and reads the arrays where they lie."""
    import numpy as np

    shm = _attach(name)
    try:
        block = np.ndarray((hi - lo, ARRAY_LEN), dtype=np.float64, buffer=shm.buf,
                           offset=lo * ARRAY_LEN * 8)
        total = 0
        for k in range(hi - lo):
            total += int((block[k] * block[k]).sum())
        del block
        return total % MOD
    finally:
        shm.close()
