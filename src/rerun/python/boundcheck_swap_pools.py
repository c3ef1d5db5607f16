"""boundcheck executor swap, pool part: the builders of each swap, chunksize,
pool size, and the tripwire children install (see sitecustomize.py).

sitecustomize.py (beside this file) imports this module in the program's
first process when a swap mode is set, hands it its helpers (borrow) and
installs these builders on the executor classes; what each mode does is in
its docstring.

chunksize records name the pool ("from" = "to" = "ProcessPoolExecutor" or
"Pool", "max_workers" = its worker count) and add "method" ("map", "imap",
"imap_unordered"), "chunksize" (the caller's), "to_chunksize" and "items",
with site = the map call.
"""

import sys

# Items of an iterable without len() read ahead to size its chunks.
_MATERIALISE_CAP = 1000000
# How a child re-imports the main script: spawn/forkserver, 3.14 subinterpreters.
_REIMPORT_NAMES = ("__mp_main__", "<fake __main__>")


def borrow(core):
    """sitecustomize's helpers (_bc_log, _bc_caller, ...) as this module's globals."""
    globals().update({k: v for k, v in core.items()
                      if k.startswith("_bc_") and k not in globals()})


# ----------------------------------------------------- executor builders

def _bc_tpe_to(target_name, target, cap):
    """ThreadPoolExecutor(...) -> target(...) with the worker count capped."""

    def build(frame, args, kwargs):
        try:
            max_workers, prefix, initializer, initargs = _bc_args_tpe(*args, **kwargs)
        except TypeError:
            _bc_error("ThreadPoolExecutor not swapped: unexpected arguments (%d positional, "
                      "keywords %s)" % (len(args), ", ".join(sorted(kwargs)) or "none"))
            return None
        n = max_workers if max_workers is not None else _bc_ncpu()
        if cap and isinstance(n, int):
            n = min(n, _bc_ncpu())
        cls = target()
        cls = cls.__dict__.get("_bc_orig") or cls  # not our own stand-in again
        if target_name == "InterpreterPoolExecutor":
            factory = lambda: cls(n, prefix, initializer, initargs)
        else:
            factory = lambda: cls(max_workers=n, initializer=initializer, initargs=initargs)
        record = {"from": "ThreadPoolExecutor", "to": target_name,
                  "max_workers": max_workers, "to_max_workers": n}
        return factory, record

    return build


def _bc_threadpool_to_pool(frame, args, kwargs):
    try:
        processes, initializer, initargs = _bc_args_tpe_pool(*args, **kwargs)
    except TypeError:
        _bc_error("ThreadPool not swapped: unexpected arguments")
        return None
    import multiprocessing.pool as mpp

    n = processes if processes is not None else _bc_ncpu()
    if isinstance(n, int):
        n = min(n, _bc_ncpu())
    orig_pool = getattr(mpp.Pool, "_bc_orig", mpp.Pool)
    factory = lambda: orig_pool(n, initializer, initargs)
    record = {"from": "ThreadPool", "to": "Pool", "max_workers": processes, "to_max_workers": n}
    return factory, record


def _bc_args_tpe_pool(processes=None, initializer=None, initargs=()):
    return processes, initializer, initargs


def _bc_ppe_to_threads(frame, args, kwargs):
    try:
        max_workers, initializer, initargs = _bc_args_ppe(*args, **kwargs)
    except TypeError:
        _bc_error("ProcessPoolExecutor not swapped: unexpected arguments")
        return None
    import concurrent.futures.thread as cft

    orig_tpe = getattr(cft.ThreadPoolExecutor, "_bc_orig", cft.ThreadPoolExecutor)
    n = max_workers if max_workers is not None else _bc_ncpu()
    factory = lambda: orig_tpe(max_workers=n, initializer=initializer, initargs=initargs)
    record = {"from": "ProcessPoolExecutor", "to": "ThreadPoolExecutor",
              "max_workers": max_workers, "to_max_workers": n}
    return factory, record


def _bc_pool_to_threads(frame, args, kwargs):
    try:
        processes, initializer, initargs = _bc_args_pool(*args, **kwargs)
    except TypeError:
        _bc_error("Pool not swapped: unexpected arguments")
        return None
    import multiprocessing.pool as mpp

    orig_tp = getattr(mpp.ThreadPool, "_bc_orig", mpp.ThreadPool)
    n = processes if processes is not None else _bc_ncpu()
    factory = lambda: orig_tp(n, initializer, initargs)
    record = {"from": "Pool", "to": "ThreadPool", "max_workers": processes, "to_max_workers": n}
    return factory, record


def _bc_more_threads_tpe(orig):
    def build(frame, args, kwargs):
        try:
            max_workers, prefix, initializer, initargs = _bc_args_tpe(*args, **kwargs)
        except TypeError:
            _bc_error("ThreadPoolExecutor not swapped: unexpected arguments")
            return None
        k = max_workers if max_workers is not None else _bc_default_threads()
        if not isinstance(k, int) or k <= 0:
            return None
        n = max(8, 4 * k)
        factory = lambda: orig(n, prefix, initializer, initargs)
        record = {"from": "ThreadPoolExecutor", "to": "ThreadPoolExecutor",
                  "max_workers": max_workers, "to_max_workers": n}
        return factory, record

    return build


def _bc_more_threads_pool(orig):
    def build(frame, args, kwargs):
        try:
            processes, initializer, initargs = _bc_args_tpe_pool(*args, **kwargs)
        except TypeError:
            _bc_error("ThreadPool not swapped: unexpected arguments")
            return None
        k = processes if processes is not None else _bc_ncpu()
        if not isinstance(k, int) or k <= 0:
            return None
        n = max(8, 4 * k)
        factory = lambda: orig(n, initializer, initargs)
        record = {"from": "ThreadPool", "to": "ThreadPool", "max_workers": processes,
                  "to_max_workers": n}
        return factory, record

    return build


# ------------------------------------------------------------- chunksize

def _bc_count(iterable):
    """(length, iterable to use instead); materialises what has no len()."""
    try:
        return len(iterable), iterable
    except TypeError:
        pass
    import itertools

    it = iter(iterable)
    head = list(itertools.islice(it, _MATERIALISE_CAP))
    if len(head) < _MATERIALISE_CAP:
        return len(head), head
    return len(head), itertools.chain(head, it)  # long or endless: estimate


def _bc_patch_ppe_map(ppe_cls):
    import functools

    orig_map = ppe_cls.map

    @functools.wraps(orig_map)
    def map(self, fn, *iterables, **kwargs):
        chunksize = kwargs.get("chunksize", 1)
        if (chunksize == 1 and iterables and kwargs.get("buffersize") is None
                and _bc_is_root()):
            frame = sys._getframe(1)
            try:
                caller = _bc_caller(frame)
                if caller is not None:
                    counted = [_bc_count(it) for it in iterables]
                    iterables = tuple(c[1] for c in counted)
                    n = min(c[0] for c in counted)
                    workers = getattr(self, "_max_workers", None) or _bc_ncpu()
                    new = max(1, n // (4 * workers))
                    if new > 1:
                        kwargs["chunksize"] = new
                        name = type(self).__name__
                        _bc_log({"event": "swapped", "from": name, "to": name,
                                 "max_workers": workers, "method": "map",
                                 "chunksize": 1, "to_chunksize": new, "items": n,
                                 "site": _bc_site(caller)})
            except Exception as err:
                _bc_error("map not re-chunked: %s: %s" % (type(err).__name__, err))
            finally:
                frame = caller = None
        return orig_map(self, fn, *iterables, **kwargs)

    ppe_cls.map = map


def _bc_is_thread_pool(pool):
    import multiprocessing.pool as mpp

    tp = mpp.ThreadPool
    return isinstance(pool, tp.__dict__.get("_bc_orig") or tp)


def _bc_patch_pool_method(pool_cls, method, takes_default):
    """Pool.map keeps chunksize=None (the pool already computes len / (4 *
    workers), rounded up); an explicit 1, and imap's default 1, are raised."""
    import functools

    orig = getattr(pool_cls, method)

    @functools.wraps(orig)
    def wrapper(self, func, iterable, chunksize=takes_default, *rest, **kwargs):
        # Process pools only: a ThreadPool's tasks are not pickled, chunking
        # them saves little and is not what the planner asked for.
        if chunksize == 1 and _bc_is_root() and not _bc_is_thread_pool(self):
            frame = sys._getframe(1)
            try:
                caller = _bc_caller(frame)
                if caller is not None:
                    n, iterable = _bc_count(iterable)
                    workers = getattr(self, "_processes", None) or _bc_ncpu()
                    new = max(1, n // (4 * workers))
                    if new > 1:
                        name = type(self).__name__
                        _bc_log({"event": "swapped", "from": name, "to": name,
                                 "max_workers": workers, "method": method,
                                 "chunksize": chunksize, "to_chunksize": new, "items": n,
                                 "site": _bc_site(caller)})
                        chunksize = new
            except Exception as err:
                _bc_error("%s not re-chunked: %s: %s" % (method, type(err).__name__, err))
            finally:
                frame = caller = None
        return orig(self, func, iterable, chunksize, *rest, **kwargs)

    setattr(pool_cls, method, wrapper)


# ------------------------------------------------------ process pool size

def _bc_rebind(orig, args, kwargs, name, value):
    """args/kwargs for orig(...) with the parameter `name` set to value."""
    import inspect

    bound = inspect.signature(orig).bind(*args, **kwargs)
    bound.arguments[name] = value
    return bound.args, bound.kwargs


def _bc_bigger_pool(label, orig, param):
    """A process pool of k < usable CPUs workers -> one worker per CPU."""

    def build(frame, args, kwargs):
        import inspect

        try:
            bound = inspect.signature(orig).bind(*args, **kwargs)
        except TypeError:
            _bc_error("%s not resized: unexpected arguments" % label)
            return None
        k = bound.arguments.get(param)
        n = _bc_ncpu()
        if not isinstance(k, int) or k >= n:
            return None  # the default (None) already uses every CPU
        new_args, new_kwargs = _bc_rebind(orig, args, kwargs, param, n)
        factory = lambda: orig(*new_args, **new_kwargs)
        record = {"from": label, "to": label, "max_workers": k, "to_max_workers": n}
        return factory, record

    return build


# ------------------------------------------------- children: the tripwire

def _bc_reimport_frame(frame):
    """The module-level frame of a child's re-import of the main script, if any."""
    while frame is not None:
        if (frame.f_code.co_name == "<module>"
                and frame.f_globals.get("__name__") in _REIMPORT_NAMES):
            return frame
        frame = frame.f_back
    return None


def _bc_install_tripwire(mode):
    """In a child of a swapped run: refuse pools created while the child
    re-imports an unguarded main script (see the module docstring)."""
    import concurrent.futures.thread as cft

    if mode == "processes":
        import multiprocessing.pool as mpp

        targets = [("ThreadPool", mpp, "ThreadPool")]
        target_name = "ProcessPoolExecutor"
    else:
        targets = []
        target_name = "InterpreterPoolExecutor"
    _bc_preimport_interpreter()

    def tripwire(label):
        def decide(frame, args, kwargs):
            reimport = _bc_reimport_frame(frame)
            if reimport is None:
                return None
            site = _bc_site(frame)
            where = reimport.f_globals.get("__name__")
            reimport = None
            message = (
                "boundcheck swap: %s created at %s while a %s child re-imports the main "
                "script (as %s): the script has no `if __name__ == \"__main__\":` guard, "
                "so its top-level work would run again in every worker. Swapping to %s "
                "needs that guard."
                % (label, site, "subinterpreter" if where == "<fake __main__>" else "worker",
                   where, target_name))
            _bc_error(message)
            raise RuntimeError(message)

        return decide

    _bc_set_tpe(_bc_make_swap_class(cft.ThreadPoolExecutor, tripwire("ThreadPoolExecutor")))
    for label, module, attr in targets:
        setattr(module, attr, _bc_make_swap_class(getattr(module, attr), tripwire(label)))
