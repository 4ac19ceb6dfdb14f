"""Whether numba's kernels run here, the ``jit`` that compiles every one of them, and their
parallel builds.

numba is imported by the first call of ``usable()``, i.e. when a model first runs a layer that
has a kernel, not when xdl is imported: its import is slow. This module imports nothing of
numba at its top, so that the kernel modules, which do, are imported only after ``usable()``.

Loading, i.e. numba's import, a kernel family's import and each kernel's compiling or loading
from the disk cache, runs with Ctrl-C held back until it is done (``ctrl_c_held``): numba's
registries and C extensions do not survive an import or a first compile cut short, and every
later kernel call in that process failed (issue 35).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import os
import signal
import sys
import threading
import types
import warnings

from ...errors import ArgumentError

_state = {}


def version():
    """numba's version without importing it, or None where it is not installed."""
    try:
        return importlib.metadata.version("numba")
    except importlib.metadata.PackageNotFoundError:
        return None


def usable() -> bool:
    """Whether the kernels run here: numba installed, importing, and not turned off by
    ``XDL_FUSED=0``. Recorded once the import has finished, so that an interrupted one leaves
    nothing behind and the next call tries again. After the first call: one dict look-up."""
    if "usable" not in _state:
        with ctrl_c_held():
            _state["usable"] = _import()
    return _state["usable"]


@contextlib.contextmanager
def ctrl_c_held():
    """Hold a Ctrl-C (SIGINT) back until the block has run, then deliver it: numba is then
    loaded whole, and the next call runs its kernels. Only in the main thread, the one Python
    runs signal handlers in and lets set them, and only where SIGINT has a Python handler (by
    default the one raising KeyboardInterrupt); elsewhere the block just runs."""
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous) or threading.current_thread() is not threading.main_thread():
        yield  # SIGINT ignored or handled outside Python; or a thread, which it never interrupts
        return
    caught = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            previous(signal.SIGINT, caught[0])  # by default raises KeyboardInterrupt here


def _import() -> bool:
    if os.environ.get("XDL_FUSED", "1") == "0" or version() is None:
        return False
    before = set(sys.modules)
    try:
        import numba  # noqa: F401
    except BaseException as e:
        # an interrupt ctrl_c_held could not hold (raised by other means than SIGINT, or where
        # SIGINT has no Python handler): no half-imported numba for the next call to build on
        _forget_new_packages(before)
        if not isinstance(e, Exception):
            raise  # nothing is recorded: the next call imports anew
        # installed but broken, e.g. built for another NumPy
        warnings.warn(f"xdl: numba {version()} is installed but does not import ({type(e).__name__}: {e}); "
                      "the numpy backend runs without its fused kernels", RuntimeWarning, stacklevel=3)
        return False
    return True


def _forget_new_packages(before):
    """Take out of ``sys.modules`` every module of the packages that a failed import brought in
    (numba, llvmlite). Python takes out only the modules whose import was cut short, not the
    submodules they had already loaded: an import after an interrupt would then build a new
    ``numba`` on those and lack their attributes (``module 'numba' has no attribute 'core'``,
    in every later kernel call). Packages loaded before are left alone: no second copies."""
    known = {name.partition(".")[0] for name in before}
    for name in [name for name in list(sys.modules) if name.partition(".")[0] not in known]:
        sys.modules.pop(name, None)


def jit(fn, parallel=False):
    """``_njit(fn, parallel)``, its compiling (or loading from the disk cache) with Ctrl-C held
    back (``ctrl_c_held``): a first compile cut short leaves numba's registries half-filled, and
    every later one fails (``duplicate registration for <class ...UnicodeType>``)."""
    kernel = _njit(fn, parallel)
    # numba's C dispatcher looks ``_compile_for_args`` up on the dispatcher each time a call's
    # types have no build yet, and only then: the calls that have one cost nothing more
    kernel._compile_for_args = _held(kernel._compile_for_args)
    return kernel


def _held(compile_for_args):
    @functools.wraps(compile_for_args)
    def compile_held(*args, **kwargs):
        with ctrl_c_held():
            return compile_for_args(*args, **kwargs)

    return compile_held


def _njit(fn, parallel):
    """``fn`` compiled on its first call (once per dtype) and cached on disk, so that later
    processes load it instead of compiling: next to its module (__pycache__), else in the user's
    cache folder (~/.cache/numba), or in NUMBA_CACHE_DIR when that is set; where none of them is
    writable (a read-only install, no home), in a folder of the temporary directory, and failing
    that not at all: every process then compiles, silently. numba checks a cached kernel against
    its own file only: after changing a kernel that another module's kernels call (``tanh32``),
    delete those modules' cache files (__pycache__/*.nbi, *.nbc)."""
    import numba

    # error_model="numpy": a float division by zero gives inf, as in NumPy, instead of a check
    # per element that keeps LLVM from vectorizing any loop with a division
    options = {"nogil": True, "boundscheck": False, "error_model": "numpy", **({"parallel": True} if parallel else {})}
    if parallel:
        # numba names a cache entry by the function's qualified name and keys it by signature and
        # bytecode, not by its options: the serial and parallel builds would share one entry, and
        # whichever compiled first would serve both. A copy under another name gets its own.
        fn = _renamed(fn, f"{fn.__qualname__}__parallel")
    try:
        return numba.njit(cache=True, **options)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        pass
    from numba.core import config

    if not config.CACHE_DIR:
        import tempfile

        folder = os.path.join(tempfile.gettempdir(), f"xdl-numba-cache-{_user()}")
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            tempfile.TemporaryFile(dir=folder).close()
        except OSError:
            pass
        else:
            config.CACHE_DIR = folder  # numba's user-provided locator reads it for each function
            try:
                return numba.njit(cache=True, **options)(fn)
            except RuntimeError:
                pass
    return numba.njit(cache=False, **options)(fn)


def _renamed(fn, qualname):
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__qualname__, copy.__doc__, copy.__module__ = qualname, fn.__doc__, fn.__module__
    return copy


def _user():
    try:
        return str(os.getuid())
    except AttributeError:  # Windows
        return os.environ.get("USERNAME", "user")


def _parallel_min():
    value = os.environ.get("XDL_PARALLEL_MIN", "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ArgumentError(f"xdl: XDL_PARALLEL_MIN must be a whole number of elements, got {value!r}") from None


#: the least work (elements) for which a kernel runs its parallel build; None (the default):
#: always serial, since on the 2-core machine we measure on, handing a kernel to numba's threads
#: and back cost more than the second core gave (benchmarks/README.md)
PARALLEL_MIN = _parallel_min()


def for_work(kernel, work):
    """``kernel`` (a ``jit`` one), or its parallel build where the user opted in
    (XDL_PARALLEL_MIN), more than one thread is allowed (NUMBA_NUM_THREADS) and ``work``
    elements reach the minimum."""
    if PARALLEL_MIN is None or _threads() < 2 or work < PARALLEL_MIN:
        return kernel
    builds = _state.setdefault("parallel", {})
    parallel = builds.get(kernel.py_func)
    if parallel is None:
        with ctrl_c_held():  # numba's thread pool starts whole, as the kernels load
            _start_threads()  # before a parallel build loads: loading one starts the pool
            parallel = builds[kernel.py_func] = jit(kernel.py_func, parallel=True)
    return parallel


def _threads():
    if "threads" not in _state:
        import numba

        _state["threads"] = numba.config.NUMBA_NUM_THREADS  # without starting the pool
    return _state["threads"]


def _start_threads():
    """Start numba's thread pool on its own work queue, not on OpenMP, unless the user chose a
    layer (NUMBA_THREADING_LAYER). GNU OpenMP's idle threads spin for a while after each kernel
    and, on a machine with few cores, take the CPU from OpenBLAS's threads, so that the matrix
    products after a kernel run on one core. OpenMP's wait policy is read once per process, by
    a library that PyTorch shares, so it is not ours to change; the work queue's threads sleep
    when idle and nothing else uses them."""
    import numba
    import numba.np.ufunc.parallel as pool

    if "NUMBA_THREADING_LAYER" not in os.environ and numba.config.THREADING_LAYER == "default":
        numba.config.THREADING_LAYER = "workqueue"
    try:
        pool._launch_threads()
    except AttributeError:  # a numba without this (private) entry point starts its pool on first use
        pass


def blas() -> bool:
    """Whether kernels can multiply matrices themselves: numba's ``np.dot`` calls SciPy's BLAS
    (``pip install "xdl[fast]"`` brings it); without SciPy the time loops stay in Python."""
    if "blas" not in _state:
        try:
            import scipy.linalg.cython_blas  # noqa: F401  what numba binds np.dot to
        except Exception:
            _state["blas"] = False
        else:
            _state["blas"] = True
    return _state["blas"]
