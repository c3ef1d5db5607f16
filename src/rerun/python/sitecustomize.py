"""boundcheck executor swap: re-run a Python program on another kind of pool.

boundcheck puts the directory holding this file first on PYTHONPATH, so
Python imports it as `sitecustomize` at start-up, before the program's own
code.  It is inert unless BOUNDCHECK_SWAP names a mode:

  processes     concurrent.futures.ThreadPoolExecutor -> ProcessPoolExecutor
                (max_workers capped to the usable CPUs; initializer/initargs
                kept, thread_name_prefix dropped),
                multiprocessing.pool.ThreadPool -> multiprocessing.pool.Pool,
                a process pool smaller than the usable CPUs
                (ProcessPoolExecutor(k), multiprocessing.Pool(k)) -> one
                worker per CPU, and joblib.Parallel on the threading or
                sequential backend, or with n_jobs=1 -> backend "loky" with
                n_jobs = the usable CPUs
  interpreters  ThreadPoolExecutor -> concurrent.futures.InterpreterPoolExecutor
                (3.14+; max_workers capped to the usable CPUs).  Older
                Pythons: one error record, nothing swapped.
  threads       ProcessPoolExecutor -> ThreadPoolExecutor,
                multiprocessing.Pool / multiprocessing.pool.Pool -> ThreadPool
                and joblib.Parallel on "loky" or "multiprocessing" ->
                backend "threading" (n_jobs kept)
  chunksize     ProcessPoolExecutor.map(chunksize=1) and
                Pool.map(chunksize=1) / Pool.imap / Pool.imap_unordered
                (default chunksize 1) get max(1, n // (4 * workers))
  more-threads  ThreadPoolExecutor(k) and ThreadPool(k) -> max(8, 4k) workers;
                asyncio's default executor (loop.run_in_executor(None, ...),
                asyncio.to_thread) -> max(8, 4k) threads, k its own default;
                joblib.Parallel on "threading" or with n_jobs=1 -> backend
                "threading" with max(8, 4k) jobs
  joblib-backend
                joblib.Parallel on any backend but "multiprocessing" ->
                "multiprocessing" (a multiprocessing.Pool per call instead of
                loky's reusable executor; n_jobs raised to the usable CPUs
                when smaller); nothing else is touched
  ray, dask     ThreadPoolExecutor, ProcessPoolExecutor, multiprocessing Pool
                and ThreadPool -> the same work on the Ray or Dask cluster
                named by BOUNDCHECK_ENGINE_ADDRESS (see
                boundcheck_swap_engines.py)

Only executors created by the program's own code are swapped: the frame that
calls the constructor (or map) must not be in the standard library (so
asyncio's default executor stays a thread pool) nor in site-packages (a
library's pools cannot be changed by the user; BOUNDCHECK_SWAP_SCOPE=all
swaps those too).  multiprocessing.Pool() and multiprocessing.dummy.Pool()
are looked through to their caller.

Only the process that first loaded this module swaps.  It exports
BOUNDCHECK_SWAP_ROOT_PID; a process that inherits a different pid (spawn and
forkserver children, subprocesses) or a subinterpreter only chains to the
next sitecustomize, and fork children, which inherit the patched classes,
pass every call through to the original because their pid differs.  One
exception: when a swap to processes/interpreters happened and a child
re-imports the main script (spawn/forkserver `__mp_main__`, 3.14
subinterpreter `<fake __main__>`), a pool created while that import runs
raises a RuntimeError: the script lacks an `if __name__ == "__main__":`
guard, and running its work again in every child would be wrong.

BOUNDCHECK_SWAP_LOG=FILE appends one JSON line per distinct event:
  {"event": "swapped", "mode": "processes", "from": "ThreadPoolExecutor",
   "to": "ProcessPoolExecutor", "max_workers": 4, "to_max_workers": 2,
   "site": "app.py:17"}
max_workers is what the program passed (null: the default), to_max_workers
what the replacement got, site the file:line (relative to the start-up
directory when inside it) of the program's call.  Errors:
  {"event": "error", "mode": "...", "message": "..."}
No swapped line means the program had nothing to swap.  The swaps live in
parts beside this file, each saying what its records add:
boundcheck_swap_pools.py (the builders, chunksize, pool size),
boundcheck_swap_libs.py (asyncio and joblib, patched when the program
imports them) and boundcheck_swap_engines.py (Ray and Dask).

Any other sitecustomize on sys.path is imported afterwards (best effort).
Written for Python 3.9 to 3.14 (run on 3.9-3.13; the 3.14 paths are untested).
"""

import os
import sys

_ROOT_ENV = "BOUNDCHECK_SWAP_ROOT_PID"
_ACTIVE_ENV = "BOUNDCHECK_SWAP_ACTIVE"
_MODES = ("processes", "interpreters", "threads", "chunksize", "more-threads",
          "joblib-backend", "ray", "dask")
_FACTORY_FRAMES = {
    ("multiprocessing.context", "Pool"),
    ("multiprocessing.dummy", "Pool"),
}

_bc_state = {
    "mode": "",
    "root_pid": None,
    "log": None,
    "cwd": None,
    "scope": "user",
    "seen": set(),
    "kinds": {},
    "stdlib_dirs": None,
}


# --------------------------------------------------------------- logging

def _bc_log(event):
    path = _bc_state["log"]
    if not path:
        return
    try:
        import json

        record = {"event": event.pop("event")}
        record["mode"] = _bc_state["mode"]
        record.update(event)
        key = json.dumps(record, sort_keys=True)
        if key in _bc_state["seen"]:
            return
        _bc_state["seen"].add(key)
        line = (json.dumps(record) + "\n").encode("utf-8")
        if not _bc_is_root():
            # children (the tripwire) may be respawned many times by a Pool:
            # one line per distinct event across all of them
            try:
                with open(path, "rb") as f:
                    if line in f.read(1 << 20):
                        return
            except OSError:
                pass
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except Exception:
        pass


def _bc_error(message):
    _bc_log({"event": "error", "message": message})


# ------------------------------------------------------ who is calling us

def _bc_stdlib_dirs():
    dirs = _bc_state["stdlib_dirs"]
    if dirs is None:
        found = set()
        candidates = [os.path.dirname(os.__file__)]
        try:
            import sysconfig

            paths = sysconfig.get_paths()
            candidates += [paths.get("stdlib"), paths.get("platstdlib")]
        except Exception:
            pass
        for d in candidates:
            if d:
                found.add(os.path.normcase(os.path.realpath(d)))
        dirs = _bc_state["stdlib_dirs"] = tuple(sorted(found))
    return dirs


def _bc_own_files():
    """This file and its parts beside it."""
    try:
        here = os.path.normcase(os.path.realpath(os.path.abspath(__file__)))
        parts = ("boundcheck_swap_pools.py", "boundcheck_swap_libs.py",
                 "boundcheck_swap_engines.py")
        return (here,) + tuple(os.path.join(os.path.dirname(here), p) for p in parts)
    except Exception:
        return ()


def _bc_kind(filename):
    """'user', 'stdlib' or 'library' for a code object's file name."""
    kinds = _bc_state["kinds"]
    kind = kinds.get(filename)
    if kind is not None:
        return kind
    if filename.startswith("<"):
        # <frozen ...> is the standard library; <string>, <stdin> are user code
        kind = "stdlib" if filename.startswith("<frozen") else "user"
    else:
        try:
            path = os.path.normcase(os.path.realpath(os.path.abspath(filename)))
        except Exception:
            path = filename
        parts = path.replace("\\", "/").split("/")
        if path in _bc_own_files():
            kind = "stdlib"  # our own factories call the originals
        elif "site-packages" in parts or "dist-packages" in parts:
            kind = "library"
        elif any(path == d or path.startswith(d + os.sep) for d in _bc_stdlib_dirs()):
            kind = "stdlib"
        else:
            kind = "user"
    kinds[filename] = kind
    return kind


def _bc_caller(frame):
    """The program's frame that made this call, or None if it is not ours to swap."""
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if (name, frame.f_code.co_name) not in _FACTORY_FRAMES:
            break
        frame = frame.f_back
    if frame is None:
        return None
    kind = _bc_kind(frame.f_code.co_filename)
    if kind == "stdlib":
        return None
    if kind == "library" and _bc_state["scope"] != "all":
        return None
    return frame


def _bc_site(frame):
    filename = frame.f_code.co_filename
    line = frame.f_lineno
    if not filename.startswith("<"):
        try:
            absolute = os.path.abspath(filename)
            shown = absolute
            cwd = _bc_state["cwd"]
            if cwd:
                rel = os.path.relpath(absolute, cwd)
                if rel != os.pardir and not rel.startswith(os.pardir + os.sep):
                    shown = rel
            filename = shown.replace(os.sep, "/")
        except Exception:
            pass
    return "%s:%d" % (filename, line)


def _bc_is_root():
    return os.getpid() == _bc_state["root_pid"]


# -------------------------------------------------------------- helpers

def _bc_ncpu():
    n = None
    counter = getattr(os, "process_cpu_count", None)  # 3.13+
    if counter is not None:
        n = counter()
    elif hasattr(os, "sched_getaffinity"):
        try:
            n = len(os.sched_getaffinity(0))
        except Exception:
            n = None
    return n or os.cpu_count() or 1


def _bc_default_threads():
    # ThreadPoolExecutor's own default
    return min(32, _bc_ncpu() + 4)


def _bc_args_tpe(max_workers=None, thread_name_prefix="", initializer=None, initargs=()):
    return max_workers, thread_name_prefix, initializer, initargs


def _bc_args_ppe(max_workers=None, mp_context=None, initializer=None, initargs=(),
                 max_tasks_per_child=None):
    return max_workers, initializer, initargs


def _bc_args_pool(processes=None, initializer=None, initargs=(), maxtasksperchild=None,
                  context=None):
    return processes, initializer, initargs


def _bc_make_swap_class(orig, decide):
    """A stand-in for `orig` whose constructor may build something else.

    decide(frame, args, kwargs) returns an instance to use instead, or None
    to build the original.  Subclasses (user code subclassing the module
    attribute) are built normally, and isinstance/issubclass against the
    stand-in answer as they would against the original.
    """

    def _bc_instancecheck(cls, obj):
        if cls.__dict__.get("_bc_orig") is not None:
            return isinstance(obj, cls.__dict__["_bc_orig"])
        return super(meta, cls).__instancecheck__(obj)

    def _bc_subclasscheck(cls, sub):
        if cls.__dict__.get("_bc_orig") is not None:
            return issubclass(sub, cls.__dict__["_bc_orig"])
        return super(meta, cls).__subclasscheck__(sub)

    meta = type(type(orig))(
        "_BoundcheckSwapMeta",
        (type(orig),),
        {"__instancecheck__": _bc_instancecheck, "__subclasscheck__": _bc_subclasscheck},
    )

    def __new__(cls, *args, **kwargs):
        if cls is swap:
            frame = sys._getframe(1)
            try:
                made = decide(frame, args, kwargs)
            finally:
                del frame
            if made is not None:
                return made
            return orig(*args, **kwargs)
        return super(swap, cls).__new__(cls)

    swap = meta(orig.__name__, (orig,), {
        "__new__": __new__,
        "__module__": orig.__module__,
        "__qualname__": orig.__qualname__,
        "__doc__": orig.__doc__,
        "_bc_orig": orig,
    })
    return swap


def _bc_guarded_decide(label, build):
    """Wrap build(frame, args, kwargs) -> (factory, record) | None.

    Bugs in the analysis never break the program: they log an error and the
    original is built.  Errors raised by the replacement's constructor
    propagate, as the program would see them after the change.
    """

    def decide(frame, args, kwargs):
        if not _bc_is_root():
            return None
        try:
            caller = _bc_caller(frame)
            if caller is None:
                return None
            plan = build(caller, args, kwargs)
            if plan is None:
                return None
            factory, record = plan
            record["site"] = _bc_site(caller)
        except Exception as err:
            _bc_error("%s not swapped: %s: %s" % (label, type(err).__name__, err))
            return None
        finally:
            caller = None
        _bc_mark_active()  # before: Pool() starts its (maybe spawned) workers at once
        made = factory()
        record["event"] = "swapped"
        _bc_log(record)
        return made

    return decide


def _bc_mark_active():
    if os.environ.get(_ACTIVE_ENV) != "1":
        os.environ[_ACTIVE_ENV] = "1"


# -------------------------------------------------------------- install

def _bc_set_tpe(cls):
    import concurrent.futures as cf
    import concurrent.futures.thread as cft

    cft.ThreadPoolExecutor = cls
    cf.ThreadPoolExecutor = cls


def _bc_preimport_interpreter():
    """Import 3.14's interpreter module before ThreadPoolExecutor is replaced,
    so that InterpreterPoolExecutor subclasses the real ThreadPoolExecutor."""
    try:
        import concurrent.futures as cf

        return getattr(cf, "InterpreterPoolExecutor", None)
    except Exception:
        return None


def _bc_import(name):
    """A part of this module kept in its own file beside it (pools: the
    executor builders, chunksize and pool size; libs: asyncio and joblib),
    given this module's helpers."""
    try:
        module = __import__(name)
        module.borrow(globals())
        return module
    except Exception as err:
        _bc_error("%s unavailable: %s: %s" % (name, type(err).__name__, err))
        return None


def _bc_libs(mode):
    """asyncio and joblib: patched when the program imports them."""
    libs = _bc_import("boundcheck_swap_libs")
    if libs is not None:
        libs.install(mode)


def _bc_install_root(mode):
    if mode in ("ray", "dask"):
        engines = _bc_import("boundcheck_swap_engines")
        if engines is not None:
            engines.install(mode)
        return
    pools = _bc_import("boundcheck_swap_pools")
    if pools is None:
        return
    if mode == "processes":
        import concurrent.futures.thread as cft
        import concurrent.futures.process as cfp
        import multiprocessing.pool as mpp

        _bc_preimport_interpreter()
        tpe = cft.ThreadPoolExecutor
        _bc_set_tpe(_bc_make_swap_class(tpe, _bc_guarded_decide(
            "ThreadPoolExecutor",
            pools._bc_tpe_to("ProcessPoolExecutor", lambda: cfp.ProcessPoolExecutor, True))))
        mpp.ThreadPool = _bc_make_swap_class(
            mpp.ThreadPool, _bc_guarded_decide("ThreadPool", pools._bc_threadpool_to_pool))
        ppe = cfp.ProcessPoolExecutor
        bigger = _bc_make_swap_class(ppe, _bc_guarded_decide(
            "ProcessPoolExecutor", pools._bc_bigger_pool("ProcessPoolExecutor", ppe, "max_workers")))
        cfp.ProcessPoolExecutor = bigger
        import concurrent.futures as cf

        cf.ProcessPoolExecutor = bigger
        # multiprocessing.Pool() looks the module global up at call time;
        # ThreadPool.__init__ calls Pool.__init__, which the stand-in inherits.
        pool = mpp.Pool
        mpp.Pool = _bc_make_swap_class(pool, _bc_guarded_decide(
            "Pool", pools._bc_bigger_pool("Pool", pool, "processes")))
        _bc_libs(mode)
    elif mode == "interpreters":
        ipe = _bc_preimport_interpreter()
        if ipe is None:
            _bc_error("InterpreterPoolExecutor is not available on Python %s "
                      "(it needs 3.14+ built with subinterpreter support); nothing swapped"
                      % sys.version.split()[0])
            return
        import concurrent.futures.thread as cft

        tpe = cft.ThreadPoolExecutor
        _bc_set_tpe(_bc_make_swap_class(tpe, _bc_guarded_decide(
            "ThreadPoolExecutor", pools._bc_tpe_to("InterpreterPoolExecutor", lambda: ipe, True))))
    elif mode == "threads":
        import concurrent.futures as cf
        import concurrent.futures.thread as cft  # noqa: F401  (the target)
        import concurrent.futures.process as cfp
        import multiprocessing.pool as mpp

        swap = _bc_make_swap_class(cfp.ProcessPoolExecutor, _bc_guarded_decide(
            "ProcessPoolExecutor", pools._bc_ppe_to_threads))
        cfp.ProcessPoolExecutor = swap
        cf.ProcessPoolExecutor = swap
        # ThreadPool.__init__ calls the module global Pool.__init__: the
        # stand-in inherits it, so ThreadPool keeps working.
        mpp.Pool = _bc_make_swap_class(
            mpp.Pool, _bc_guarded_decide("Pool", pools._bc_pool_to_threads))
        _bc_libs(mode)
    elif mode == "chunksize":
        import concurrent.futures.process as cfp
        import multiprocessing.pool as mpp

        pools._bc_patch_ppe_map(cfp.ProcessPoolExecutor)
        pools._bc_patch_pool_method(mpp.Pool, "map", None)
        pools._bc_patch_pool_method(mpp.Pool, "imap", 1)
        pools._bc_patch_pool_method(mpp.Pool, "imap_unordered", 1)
    elif mode == "more-threads":
        import concurrent.futures.thread as cft
        import multiprocessing.pool as mpp

        _bc_preimport_interpreter()
        tpe = cft.ThreadPoolExecutor
        _bc_set_tpe(_bc_make_swap_class(tpe, _bc_guarded_decide(
            "ThreadPoolExecutor", pools._bc_more_threads_tpe(tpe))))
        tp = mpp.ThreadPool
        mpp.ThreadPool = _bc_make_swap_class(
            tp, _bc_guarded_decide("ThreadPool", pools._bc_more_threads_pool(tp)))
        _bc_libs(mode)
    elif mode == "joblib-backend":
        _bc_libs(mode)


def _bc_in_subinterpreter():
    for name in ("_interpreters", "_xxsubinterpreters"):
        try:
            mod = __import__(name)
        except ImportError:
            continue
        try:
            cur, main = mod.get_current(), mod.get_main()
            if isinstance(cur, tuple):
                cur = cur[0]
            if isinstance(main, tuple):
                main = main[0]
            return int(cur) != int(main)
        except Exception:
            return False
    return False


def _bc_setup():
    mode = os.environ.get("BOUNDCHECK_SWAP", "").strip().lower()
    if not mode or mode == "none":
        return
    _bc_state["mode"] = mode
    log = os.environ.get("BOUNDCHECK_SWAP_LOG")
    try:
        _bc_state["cwd"] = os.getcwd()
    except OSError:
        _bc_state["cwd"] = None
    if log:
        _bc_state["log"] = os.path.abspath(log) if _bc_state["cwd"] else log
    _bc_state["scope"] = os.environ.get("BOUNDCHECK_SWAP_SCOPE", "user").strip().lower()

    pid = os.getpid()
    marker = os.environ.get(_ROOT_ENV)
    if marker == str(pid):
        root = not _bc_in_subinterpreter()  # same pid: exec'd program, or a subinterpreter
    else:
        root = marker is None
    if not root:
        if os.environ.get(_ACTIVE_ENV) == "1" and mode in ("processes", "interpreters"):
            _bc_state["root_pid"] = None
            pools = _bc_import("boundcheck_swap_pools")
            if pools is not None:
                pools._bc_install_tripwire(mode)
        return
    os.environ[_ROOT_ENV] = str(pid)
    _bc_state["root_pid"] = pid
    if mode not in _MODES:
        _bc_error("unknown BOUNDCHECK_SWAP mode %r (expected one of: %s)"
                  % (mode, ", ".join(_MODES)))
        return
    _bc_install_root(mode)


def _bc_chain():
    """Import the sitecustomize this one shadows, if there is one."""
    try:
        from importlib.machinery import PathFinder
        import importlib.util

        here = os.path.dirname(os.path.abspath(__file__))

        def is_here(entry):
            try:
                return os.path.samefile(entry or os.curdir, here)
            except OSError:
                return False

        others = [p for p in sys.path if isinstance(p, str) and not is_here(p)]
        spec = PathFinder.find_spec("sitecustomize", others)
        if spec is None or spec.loader is None:
            return
        origin = getattr(spec, "origin", None)
        if origin and os.path.abspath(origin) == os.path.abspath(__file__):
            return
        module = importlib.util.module_from_spec(spec)
    except Exception:
        return
    ours = sys.modules.get("sitecustomize")
    sys.modules["sitecustomize"] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        if ours is not None:
            sys.modules["sitecustomize"] = ours
        if sys.flags.verbose:
            sys.excepthook(*sys.exc_info())
        else:
            sys.stderr.write("Error in sitecustomize; set PYTHONVERBOSE for traceback:\n"
                             "%s: %s\n" % (type(err).__name__, err))


try:
    _bc_setup()
except Exception as _bc_err:  # never break the program for a swap
    try:
        _bc_error("swap set-up failed: %s: %s" % (type(_bc_err).__name__, _bc_err))
    except Exception:
        pass
_bc_chain()
