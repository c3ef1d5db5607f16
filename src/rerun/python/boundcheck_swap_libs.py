"""boundcheck executor swap, library part: asyncio and joblib.

sitecustomize.py (beside this file) imports this module in the program's
first process when BOUNDCHECK_SWAP is `processes`, `threads`,
`more-threads` or `joblib-backend`, hands it its helpers (borrow) and calls install(mode).  Nothing here runs
before the program imports asyncio or joblib: an import hook patches each
library once its module has run, so a program that uses neither pays
nothing.  What each mode does to them is in sitecustomize.py's docstring;
the records go to the same BOUNDCHECK_SWAP_LOG.  They add "replaced", the
program's call as a person reads it (`Parallel(n_jobs=1, backend='loky')`,
`the asyncio default executor (6 threads)`), and joblib ones "backend" and
"to_backend"; an asyncio record's site is the line that called
asyncio.to_thread (or run_in_executor).
"""

import sys


def borrow(core):
    """sitecustomize's helpers (_bc_log, _bc_caller, ...) as this module's globals."""
    globals().update({k: v for k, v in core.items() if k.startswith("_bc_")
                      and k not in globals()})


def install(mode):
    """Hook the libraries this mode varies."""
    if mode == "more-threads":
        _bc_after_import("asyncio", _bc_patch_asyncio)
    if mode in ("processes", "threads", "more-threads", "joblib-backend"):
        _bc_after_import("joblib.parallel", _bc_patch_joblib)


# --------------------------------------------------------------- asyncio

def _bc_user_caller(frame):
    """The first frame outside the standard library (asyncio.to_thread is
    called from the program's coroutine), if it is the program's."""
    while frame is not None and _bc_kind(frame.f_code.co_filename) == "stdlib":
        frame = frame.f_back
    if frame is None:
        return None
    return _bc_caller(frame)


def _bc_patch_asyncio(asyncio_mod):
    """loop.run_in_executor(None, ...) on a loop without a default executor
    yet: give it one of max(8, 4k) threads, k asyncio's own default.
    asyncio.to_thread is wrapped to note the program's line that called it:
    by the time its task asks for the executor, only the event loop's frames
    are above it."""
    import concurrent.futures.thread as cft
    import functools
    import inspect

    loop_cls = asyncio_mod.base_events.BaseEventLoop
    orig = loop_cls.run_in_executor

    @functools.wraps(orig)
    def run_in_executor(self, executor, func, *args):
        if (executor is None and getattr(self, "_default_executor", 1) is None
                and _bc_is_root()):
            frame = sys._getframe(1)
            try:
                direct = _bc_kind(frame.f_code.co_filename) != "stdlib"
                caller = _bc_user_caller(frame)
                site = _bc_site(caller) if caller is not None else None
                if not direct and _bc_state.get("to_thread_site"):
                    site = _bc_state["to_thread_site"]
                if site is not None:
                    k = _bc_default_threads()
                    n = max(8, 4 * k)
                    tpe = getattr(cft.ThreadPoolExecutor, "_bc_orig", cft.ThreadPoolExecutor)
                    self.set_default_executor(tpe(max_workers=n, thread_name_prefix="asyncio"))
                    _bc_mark_active()
                    _bc_log({"event": "swapped", "from": "asyncio default executor",
                             "to": "ThreadPoolExecutor",
                             "replaced": "the asyncio default executor (%d threads)" % k,
                             "max_workers": k, "to_max_workers": n, "site": site})
            except Exception as err:
                _bc_error("asyncio default executor not resized: %s: %s"
                          % (type(err).__name__, err))
            finally:
                frame = caller = None
        return orig(self, executor, func, *args)

    loop_cls.run_in_executor = run_in_executor

    threads = getattr(asyncio_mod, "threads", None)
    orig_to_thread = getattr(threads, "to_thread", None)
    if orig_to_thread is None:
        return  # before 3.9

    @functools.wraps(orig_to_thread)
    def to_thread(func, *args, **kwargs):
        if not _bc_state.get("to_thread_site") and _bc_is_root():
            frame = sys._getframe(1)
            try:
                caller = _bc_caller(frame)
                if caller is not None:
                    _bc_state["to_thread_site"] = _bc_site(caller)
            except Exception:
                pass
            finally:
                frame = caller = None
        return orig_to_thread(func, *args, **kwargs)

    mark = getattr(inspect, "markcoroutinefunction", None)  # 3.12+
    if mark is not None:
        to_thread = mark(to_thread)
    else:
        to_thread._is_coroutine = getattr(asyncio_mod.coroutines, "_is_coroutine", None)
    threads.to_thread = to_thread
    asyncio_mod.to_thread = to_thread


# ---------------------------------------------------------------- joblib

_JOBLIB_BACKENDS = {
    "ThreadingBackend": "threading",
    "LokyBackend": "loky",
    "MultiprocessingBackend": "multiprocessing",
    "SequentialBackend": "sequential",
}


def _bc_joblib_plan(parallel_mod, mode, n_jobs, backend, prefer, require):
    """(new backend, new n_jobs, what the program had) or None."""
    value = lambda x: getattr(x, "default_value", x)  # joblib's default() sentinels
    n_jobs, backend, prefer, require = map(value, (n_jobs, backend, prefer, require))
    if isinstance(backend, str):
        name = backend
    elif backend is None:
        active, active_n = parallel_mod.get_active_backend(prefer=prefer, require=require)
        name = _JOBLIB_BACKENDS.get(type(active).__name__, type(active).__name__)
        if n_jobs is None:
            n_jobs = active_n
    else:
        return None  # a backend object: the program chose it with care
    k = 1 if n_jobs is None else n_jobs
    if not isinstance(k, int):
        return None
    cpus = _bc_ncpu()
    workers = k if k > 0 else max(1, cpus + 1 + k)  # joblib: -1 = all CPUs
    had = (name, k)
    if mode == "processes":
        if require == "sharedmem":
            _bc_error("joblib.Parallel(require='sharedmem') not swapped: its tasks "
                      "share memory, which processes cannot")
            return None
        if name in ("loky", "multiprocessing") and workers >= min(cpus, 2):
            return None
        return "loky", (cpus if workers < cpus else k), had
    if mode == "threads":
        if name not in ("loky", "multiprocessing") or workers == 1:
            return None
        return "threading", k, had
    if mode == "more-threads":
        if name != "threading" and workers != 1:
            return None
        return "threading", max(8, 4 * workers), had
    if mode == "joblib-backend":
        # loky (joblib's default) keeps one executor alive across calls and
        # spawns fresh interpreters; "multiprocessing" forks a Pool per call:
        # which is faster depends on start-up, call count and payloads.
        if name == "multiprocessing" or require == "sharedmem":
            return None
        return "multiprocessing", (cpus if workers < cpus else k), had
    return None


def _bc_patch_joblib(parallel_mod):
    import functools
    import inspect

    cls = parallel_mod.Parallel
    orig = cls.__init__
    signature = inspect.signature(orig)
    mode = _bc_state["mode"]

    @functools.wraps(orig)
    def __init__(self, *args, **kwargs):
        if _bc_is_root():
            frame = sys._getframe(1)
            try:
                caller = _bc_caller(frame)
                if caller is not None:
                    bound = signature.bind(self, *args, **kwargs)
                    a = bound.arguments
                    plan = _bc_joblib_plan(parallel_mod, mode, a.get("n_jobs"),
                                           a.get("backend"), a.get("prefer"),
                                           a.get("require"))
                    if plan is not None:
                        backend, n_jobs, (had_backend, had_n) = plan
                        a["backend"], a["n_jobs"] = backend, n_jobs
                        args, kwargs = bound.args[1:], bound.kwargs
                        _bc_mark_active()
                        _bc_log({"event": "swapped", "from": "Parallel", "to": "Parallel",
                                 "replaced": "Parallel(n_jobs=%s, backend=%r)"
                                             % (had_n, had_backend),
                                 "backend": had_backend, "to_backend": backend,
                                 "max_workers": had_n, "to_max_workers": n_jobs,
                                 "site": _bc_site(caller)})
            except Exception as err:
                _bc_error("joblib.Parallel not swapped: %s: %s" % (type(err).__name__, err))
            finally:
                frame = caller = None
        orig(self, *args, **kwargs)

    cls.__init__ = __init__


# ----------------------------------------------------------- import hook

class _BcLoader(object):
    """A module's own loader, then a patch once the module has run."""

    def __init__(self, inner, after):
        self._bc_inner = inner
        self._bc_after = after

    def create_module(self, spec):
        return self._bc_inner.create_module(spec)

    def exec_module(self, module):
        self._bc_inner.exec_module(module)
        try:
            self._bc_after(module)
        except Exception as err:
            _bc_error("patching %s failed: %s: %s" % (module.__name__, type(err).__name__, err))

    def __getattr__(self, name):
        return getattr(self._bc_inner, name)


class _BcAfterImport(object):
    """Patch a module when the program first imports it."""

    def __init__(self):
        self.hooks = {}

    def find_spec(self, name, path=None, target=None):
        after = self.hooks.pop(name, None)
        if after is None:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _BcLoader(spec.loader, after)
        return spec


def _bc_after_import(name, after):
    if name in sys.modules:
        after(sys.modules[name])
        return
    hook = next((f for f in sys.meta_path if isinstance(f, _BcAfterImport)), None)
    if hook is None:
        hook = _BcAfterImport()
        sys.meta_path.insert(0, hook)
    hook.hooks[name] = after


