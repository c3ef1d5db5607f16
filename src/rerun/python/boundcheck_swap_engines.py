"""boundcheck executor swap, engine part: the program's pools on Ray or Dask.

sitecustomize.py (beside this file) imports this module in the program's
first process when BOUNDCHECK_SWAP is `ray` or `dask`, hands it its helpers
(borrow) and calls install(mode).  The cluster is already running:
BOUNDCHECK_ENGINE_ADDRESS names it (a local cluster boundcheck started for the
experiment, or the user's `--cluster`).  The program connects to it once, at
its first swapped pool, as a real program would.

  ray   ThreadPoolExecutor / ProcessPoolExecutor -> a concurrent.futures
        Executor over Ray tasks (submit(fn, *args) = ray.remote(fn).remote(*args),
        its ObjectRef's future()); multiprocessing Pool / ThreadPool ->
        ray.util.multiprocessing.Pool(n, ray_address=...)
  dask  ThreadPoolExecutor / ProcessPoolExecutor ->
        distributed.Client(address).get_executor(pure=False) (every call is
        computed, as in a pool: Dask would otherwise merge identical calls);
        multiprocessing Pool / ThreadPool -> a Pool-shaped adapter over that
        executor (map, starmap, imap, imap_unordered, apply, apply_async)

Records are the usual {"event": "swapped", ...} lines; "to" names the
engine's pool ("ray tasks", "ray.util.multiprocessing.Pool",
"distributed.Client.get_executor") and "to_code" is what the program would
write instead.  When the engine does not import, one
error record says so and nothing is swapped: the experiment is then
not-applicable with the fix (scripts/install-engines.sh, pip install ray).
"""

import os
import sys

_ADDRESS_ENV = "BOUNDCHECK_ENGINE_ADDRESS"
_engine = {"client": None, "ray": None}


def borrow(core):
    """sitecustomize's helpers (_bc_log, _bc_caller, ...) as this module's globals."""
    globals().update({k: v for k, v in core.items()
                      if k.startswith("_bc_") and k not in globals()})


def _address():
    return os.environ.get(_ADDRESS_ENV) or None


def _ray():
    """ray, connected to the experiment's cluster (once per process)."""
    if _engine["ray"] is None:
        import ray

        if not ray.is_initialized():
            ray.init(address=_address(), log_to_driver=True)
        _engine["ray"] = ray
    return _engine["ray"]


def _dask_client():
    if _engine["client"] is None:
        import atexit
        from distributed import Client

        client = Client(_address())
        atexit.register(client.close)
        _engine["client"] = client
    return _engine["client"]


def _ray_executor_class():
    import concurrent.futures as cf

    class RayTaskExecutor(cf.Executor):
        """concurrent.futures on Ray tasks: one task per submit()."""

        def __init__(self):
            self._ray = _ray()
            self._remotes = {}
            self._pending = set()
            self._closed = False

        def submit(self, fn, *args, **kwargs):
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            try:
                remote = self._remotes.get(fn)
            except TypeError:  # an unhashable callable
                remote = None
            if remote is None:
                remote = self._ray.remote(fn)
                try:
                    self._remotes[fn] = remote
                except TypeError:
                    pass
            future = remote.remote(*args, **kwargs).future()
            self._pending.add(future)
            future.add_done_callback(self._pending.discard)
            return future

        def map(self, fn, *iterables, timeout=None, chunksize=1, **kwargs):
            return super().map(fn, *iterables, timeout=timeout)

        def shutdown(self, wait=True, cancel_futures=False):
            self._closed = True
            if cancel_futures:
                for f in list(self._pending):
                    f.cancel()
            if wait:
                cf.wait(list(self._pending))

    return RayTaskExecutor


class _ExecutorPool(object):
    """multiprocessing.Pool's everyday methods over a concurrent.futures Executor."""

    def __init__(self, executor):
        self._ex = executor

    def apply_async(self, func, args=(), kwds=None, callback=None, error_callback=None):
        future = self._ex.submit(func, *args, **(kwds or {}))
        return _AsyncResult(future, callback, error_callback)

    def apply(self, func, args=(), kwds=None):
        return self._ex.submit(func, *args, **(kwds or {})).result()

    def map(self, func, iterable, chunksize=None):
        return list(self._ex.map(func, iterable))

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        futures = [self._ex.submit(func, x) for x in iterable]
        return _AsyncResult(futures, callback, error_callback)

    def starmap(self, func, iterable, chunksize=None):
        return [f.result() for f in [self._ex.submit(func, *a) for a in iterable]]

    def imap(self, func, iterable, chunksize=1):
        return self._ex.map(func, iterable)

    def imap_unordered(self, func, iterable, chunksize=1):
        import concurrent.futures as cf

        futures = [self._ex.submit(func, x) for x in iterable]
        return (f.result() for f in cf.as_completed(futures))

    def close(self):
        pass

    def join(self):
        self._ex.shutdown(wait=True)

    def terminate(self):
        self._ex.shutdown(wait=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.terminate()


class _AsyncResult(object):
    def __init__(self, futures, callback, error_callback):
        self._futures = futures
        self._many = isinstance(futures, list)
        if callback is not None or error_callback is not None:
            import threading

            def notify():
                try:
                    value = self.get()
                except Exception as err:
                    if error_callback is not None:
                        error_callback(err)
                    return
                if callback is not None:
                    callback(value)

            threading.Thread(target=notify, daemon=True).start()

    def get(self, timeout=None):
        if self._many:
            return [f.result(timeout) for f in self._futures]
        return self._futures.result(timeout)

    def wait(self, timeout=None):
        import concurrent.futures as cf

        cf.wait(self._futures if self._many else [self._futures], timeout)

    def ready(self):
        fs = self._futures if self._many else [self._futures]
        return all(f.done() for f in fs)

    def successful(self):
        fs = self._futures if self._many else [self._futures]
        return all(f.done() and f.exception() is None for f in fs)


def _executor_builder(mode, label, workers_arg):
    """TPE / PPE (...) -> an executor on the engine."""

    def build(frame, args, kwargs):
        k = _bc_bound(label, args, kwargs, workers_arg)
        if mode == "ray":
            factory = lambda: _ray_executor_class()()
            to, code = "ray tasks", "Ray tasks: ray.get([ray.remote(fn).remote(x) for x in items])"
        else:
            factory = lambda: _dask_client().get_executor(pure=False)
            to, code = "distributed.Client.get_executor", "distributed.Client(address).get_executor()"
        record = {"from": label, "to": to, "to_code": code, "max_workers": k}
        return factory, record

    return build


def _pool_builder(mode, label):
    """multiprocessing Pool / ThreadPool (...) -> a pool on the engine."""

    def build(frame, args, kwargs):
        k = _bc_bound(label, args, kwargs, "processes")
        if mode == "ray":
            def factory():
                _ray()
                from ray.util.multiprocessing import Pool

                return Pool(processes=k, ray_address=_address())
            to = "ray.util.multiprocessing.Pool"
            code = "ray.util.multiprocessing.Pool(%s)" % ("" if k is None else k)
        else:
            factory = lambda: _ExecutorPool(_dask_client().get_executor(pure=False))
            to, code = "distributed.Client.get_executor", "distributed.Client(address).get_executor()"
        record = {"from": label, "to": to, "to_code": code, "max_workers": k}
        return factory, record

    return build


def _bc_bound(label, args, kwargs, name):
    """The worker count the program passed (None: the default)."""
    value = kwargs.get(name)
    if value is None and args and isinstance(args[0], int):
        value = args[0]
    return value if isinstance(value, int) else None


def install(mode):
    """Swap the pools of the program's own code onto the engine."""
    module = {"ray": "ray", "dask": "distributed"}[mode]
    try:
        __import__(module)
    except Exception as err:
        _bc_error("%s does not import in %s (%s: %s): nothing swapped; install it "
                  "(scripts/install-engines.sh, or pip install %s)"
                  % (module, sys.executable, type(err).__name__, err,
                     "ray" if mode == "ray" else "'dask[distributed]'"))
        return
    import concurrent.futures as cf
    import concurrent.futures.process as cfp
    import concurrent.futures.thread as cft
    import multiprocessing.pool as mpp

    _bc_preimport_interpreter()
    executor = lambda label, arg: _bc_guarded_decide(label, _executor_builder(mode, label, arg))
    tpe = _bc_make_swap_class(cft.ThreadPoolExecutor, executor("ThreadPoolExecutor", "max_workers"))
    _bc_set_tpe(tpe)
    ppe = _bc_make_swap_class(cfp.ProcessPoolExecutor, executor("ProcessPoolExecutor", "max_workers"))
    cfp.ProcessPoolExecutor = ppe
    cf.ProcessPoolExecutor = ppe
    pool = lambda label: _bc_guarded_decide(label, _pool_builder(mode, label))
    mpp.ThreadPool = _bc_make_swap_class(mpp.ThreadPool, pool("ThreadPool"))
    mpp.Pool = _bc_make_swap_class(mpp.Pool, pool("Pool"))
