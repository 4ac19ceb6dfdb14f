"""Fused CPU kernels for the NumPy backend, compiled by numba when it is installed.

Each kernel does in one pass over memory what the portable layer code does in several NumPy
calls: max pooling (a stack of window slices, a reduction, comparisons, a first-maximum pass
and a scatter), ReLU (a comparison, a cast and a product) and col2im (zeros, then one add
per kernel offset). They are fast paths only: without numba (``pip install "xdl[fast]"``),
or with ``XDL_FUSED=0``, the layers run their portable code, and tests/test_fast_paths.py
checks each kernel against it. Kernels take C-contiguous arrays and run on the calling
thread; with ``XDL_PARALLEL_MIN`` set, those with at least that much work run a build split
across numba's threads (its work queue: see ``_start_threads``). The float32 LSTM's and GRU's
loops over time are kernels too, with their products through SciPy's BLAS (numba's ``np.dot``):
the numpy adapter runs one per part of the batch, each on a thread of its own (``_loop_plan``).
numba compiles one version per dtype on first use and caches it on disk (see ``_jit``).
"""

from __future__ import annotations

import importlib.metadata
import os
import types
import warnings

import numpy

from ._rows import BLAS_ONE_THREAD, ONE_THREAD

prange = range  # numba's prange once numba is imported (see _compiled)
_step32 = _step_back = None  # the compiled step kernels the loop kernels call (see _compiled)
KERNELS = frozenset({"max_pool", "relu", "col2im", "adam", "rmsprop", "momentum", "lstm", "gru", "softmax", "gelu", "layer_norm"})
_state = {}


def version():
    """numba's version without importing it, or None where it is not installed."""
    try:
        return importlib.metadata.version("numba")
    except importlib.metadata.PackageNotFoundError:
        return None


def fused() -> frozenset:
    """The kernels usable here: all of ``KERNELS`` once numba imports, none without it.

    numba is imported on the first call (it takes ~0.3 s), i.e. when a model first runs a
    layer that has a kernel here, not when xdl is imported."""
    if "fused" not in _state:
        _state["fused"] = KERNELS if _import() else frozenset()
    return _state["fused"]


def _import() -> bool:
    if os.environ.get("XDL_FUSED", "1") == "0" or version() is None:
        return False
    try:
        import numba  # noqa: F401
    except Exception as e:  # installed but broken, e.g. built for another NumPy
        warnings.warn(f"xdl: numba {version()} is installed but does not import ({type(e).__name__}: {e}); "
                      "the numpy backend runs without its fused kernels", RuntimeWarning, stacklevel=3)
        return False
    return True


def _compiled():
    if "kernels" not in _state:
        import numba

        # numba keys its disk cache (__pycache__/_numba.*) on this file's mtime and size only, and a
        # cached kernel re-imports its module by name: a cache written while this package was the
        # top-level ``backends`` (now ``xdl.backends``) fails, "No module named 'backends'", until
        # this file changes.
        global prange
        prange = numba.prange  # a plain range in the serial kernels, split across threads in the parallel ones
        global _tanh32, _row_sum, _row_dot
        _tanh32 = _jit(numba, _tanh32)  # the kernels below call these compiled (and inline them)
        _row_sum, _row_dot = _jit(numba, _row_sum), _jit(numba, _row_dot)
        _state["kernels"] = kernels = {name: _jit(numba, fn) for name, fn in KERNEL_FUNCTIONS.items()}
        global _blocked_dot, _step32, _step_back  # what the loop kernels call, serial builds
        _blocked_dot, _step32, _step_back = _jit(numba, _blocked_dot), kernels["lstm_step32"], kernels["lstm_step_back"]
        _state["parallel"] = {}
        _state["threads"] = numba.config.NUMBA_NUM_THREADS  # without starting the pool
    return _state["kernels"]


def _parallel_min():
    value = os.environ.get("XDL_PARALLEL_MIN", "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"xdl: XDL_PARALLEL_MIN must be a whole number of elements, got {value!r}") from None


#: the least work (elements) for which a kernel runs its parallel build; None (the default):
#: always serial. On the 2-vCPU VM numba's work queue takes 90-160 us to hand a kernel to its
#: threads and back, more than the second core gave in every training step measured (the CNN's
#: 16.8-18.9 ms serial against 18.1-22.9 ms; the LSTM and attention no faster); OpenMP's pool is
#: faster alone but its spinning threads slow OpenBLAS's (benchmarks/README.md, 2026-12-03).
PARALLEL_MIN = _parallel_min()


def _kernel(name, work):
    """The kernel ``name``: its parallel build where the user opted in (XDL_PARALLEL_MIN), more
    than one thread is allowed (NUMBA_NUM_THREADS) and ``work`` elements reach the minimum."""
    serial = _compiled()[name]
    if PARALLEL_MIN is None or _state["threads"] < 2 or work < PARALLEL_MIN:
        return serial
    parallel = _state["parallel"].get(name)
    if parallel is None:
        import numba

        _start_threads()  # before a parallel build loads: loading one starts the pool
        parallel = _state["parallel"][name] = _jit(numba, KERNEL_FUNCTIONS[name], parallel=True)
    return parallel


def _start_threads():
    """Start numba's thread pool on its own work queue, not on OpenMP, unless the user chose a
    layer (NUMBA_THREADING_LAYER). GNU OpenMP's idle threads spin for a while after each kernel,
    and on two cores they take the CPU from OpenBLAS's threads, so that every matrix product
    after a kernel runs on one core: the CNN step of the benchmarks took 72 ms against 31 ms.
    OpenMP's wait policy is read once per process, by a library that PyTorch shares, so it is
    not ours to change; the work queue's threads sleep when idle and nothing else uses them."""
    import numba
    import numba.np.ufunc.parallel as pool

    if "NUMBA_THREADING_LAYER" not in os.environ and numba.config.THREADING_LAYER == "default":
        numba.config.THREADING_LAYER = "workqueue"
    try:
        pool._launch_threads()
    except AttributeError:  # a numba without this (private) entry point starts its pool on first use
        pass


def _jit(numba, fn, parallel=False):
    """``fn`` compiled on first use and cached on disk, so that later processes load it instead
    of compiling (~1 s for all four kernels). numba caches next to this file (__pycache__), else
    in the user's cache folder (~/.cache/numba), or in NUMBA_CACHE_DIR when that is set; where
    none of them is writable (a read-only install, no home), in a folder of the temporary
    directory, and failing that not at all: every process then compiles, silently."""
    # error_model="numpy": a float division by zero gives inf as in NumPy instead of a check
    # per element that keeps LLVM from vectorizing any loop with a division (7x slower)
    options = {"nogil": True, "boundscheck": False, "error_model": "numpy", **({"parallel": True} if parallel else {})}
    if parallel:
        # numba names a cache entry by the function's qualified name and keys it by signature
        # and bytecode, not by its options: the serial and parallel builds of one function would
        # share an entry, and whichever was compiled first served both from then on (a serial
        # ReLU of 1K elements took 110 us, waking the pool, instead of 0.4 us). A copy of the
        # function under another name gets an entry of its own.
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


def index_dtype(values):
    """The integer dtype of ``values``'s width, for the offset of each window's first maximum:
    a uint8 index beside float32 values keeps LLVM from vectorizing the loop (3-4x slower)."""
    return numpy.int64 if values.itemsize == 8 else numpy.int32


def max_pool(x, kernel, stride, out_hw, relu=False):
    """(y, first): the maxima of ``x``'s (N, Hp, Wp, C) windows, (N, OH, OW, C), and for each
    the row-major offset of its first maximum (``kh * kw`` where the maximum is NaN). With
    ``relu``, ``y`` is ReLU's of the maxima (``relu``'s values) and ``first`` is ``kh * kw``
    also where ReLU's gradient is 0 (the maximum is not above 0), so that the backward, with
    nothing more to read, sends those windows nothing."""
    x = numpy.ascontiguousarray(x)
    n, c = x.shape[0], x.shape[3]
    y = numpy.empty((n,) + tuple(out_hw) + (c,), dtype=x.dtype)
    first = numpy.empty(y.shape, dtype=index_dtype(x.dtype))
    _kernel("max_pool", y.size * kernel[0] * kernel[1])(x, kernel[0], kernel[1], stride[0], stride[1], relu, y, first)
    return y, first


def max_pool_backward(dy, first, kernel, stride, padded_hw, disjoint, covers):
    """The gradient for the (N, Hp, Wp, C) input of ``max_pool``: each window's ``dy`` at its
    first maximum, summed where windows overlap. Disjoint windows just write; where they also
    cover the input, every element once, onto uninitialised memory."""
    dy = numpy.ascontiguousarray(dy)
    make = numpy.empty if covers else numpy.zeros
    dx = make((dy.shape[0],) + tuple(padded_hw) + (dy.shape[3],), dtype=dy.dtype)
    _kernel("max_pool_backward", dx.size)(dy, first, kernel[0], kernel[1], stride[0], stride[1], not disjoint, dx)
    return dx


def relu(x):
    """``x * (x > 0)``, the portable form's exact values (NaN stays NaN, -inf gives NaN)."""
    x = numpy.ascontiguousarray(x)
    y = numpy.empty_like(x)
    _kernel("relu", x.size)(x.reshape(-1), x.reshape(-1), y.reshape(-1))
    return y


def relu_backward(dy, x):
    """``dy * (x > 0)``."""
    dy, x = numpy.ascontiguousarray(dy), numpy.ascontiguousarray(x)
    dx = numpy.empty_like(dy)
    _kernel("relu", dy.size)(dy.reshape(-1), x.reshape(-1), dx.reshape(-1))
    return dx


def col2im(dcols, kernel, stride, dilation, padded_hw):
    """Sum ``dcols`` (N, OH, OW, kh * kw * C) into a new (N, Hp, Wp, C) array, each window's
    columns onto the pixels they were copied from."""
    dcols = numpy.ascontiguousarray(dcols)
    n, c = dcols.shape[0], dcols.shape[3] // (kernel[0] * kernel[1])
    dx = numpy.empty((n,) + tuple(padded_hw) + (c,), dtype=dcols.dtype)
    _kernel("col2im", dcols.size)(dcols, kernel[0], kernel[1], stride[0], stride[1], dilation[0], dilation[1], dx)
    return dx


def gelu_tanh32(x):
    """``Backend.gelu(x, "tanh")`` of float32 ``x`` in one pass: ``(y, (x, t))``."""
    x = numpy.ascontiguousarray(x)
    y, t = numpy.empty_like(x), numpy.empty_like(x)
    _kernel("gelu_tanh32", x.size)(x.reshape(-1), y.reshape(-1), t.reshape(-1))
    return y, (x, t)


def gelu_tanh_backward32(dy, saved):
    x, t = saved
    dy = numpy.ascontiguousarray(dy, dtype=x.dtype)
    dx = numpy.empty_like(dy)
    _kernel("gelu_tanh_backward32", x.size)(dy.reshape(-1), x.reshape(-1), t.reshape(-1), dx.reshape(-1))
    return dx


def layer_norm(x, gamma, beta, epsilon):
    """``Backend.layer_norm`` in one pass over each row."""
    x = numpy.ascontiguousarray(x)
    d = x.shape[-1]
    y, xhat = numpy.empty_like(x), numpy.empty_like(x)
    inv = numpy.empty(x.shape[:-1] + (1,), dtype=x.dtype)
    _kernel("layer_norm", x.size)(x.reshape(-1, d), numpy.ascontiguousarray(gamma, dtype=x.dtype),
                                  numpy.ascontiguousarray(beta, dtype=x.dtype), x.dtype.type(epsilon),
                                  y.reshape(-1, d), xhat.reshape(-1, d), inv.reshape(-1))
    return y, (xhat, inv)


def layer_norm_backward(dy, saved, gamma):
    """dx of ``layer_norm``, one pass over each row."""
    xhat, inv = saved
    d = xhat.shape[-1]
    dy = numpy.ascontiguousarray(dy, dtype=xhat.dtype)
    dx = numpy.empty_like(dy)
    _kernel("layer_norm_backward", dy.size)(dy.reshape(-1, d), xhat.reshape(-1, d), inv.reshape(-1),
                                            numpy.ascontiguousarray(gamma, dtype=xhat.dtype), dx.reshape(-1, d))
    return dx


def masked_softmax(s, keep):
    """``Backend.masked_softmax`` of C-contiguous float32 (N, H, Tq, Tk) scores, in place;
    ``keep`` None or C-contiguous (N or 1, 1, Tq, Tk). A row keeping no key gives zeros."""
    n, heads, tq, tk = s.shape
    rows = s.reshape(-1, tk)
    masked = keep is not None
    keep_rows = keep.reshape(-1, tk) if masked else rows[:1]  # unread without a mask
    nk = keep.shape[0] if masked else 1
    _kernel("masked_softmax32", s.size)(rows, keep_rows, masked, heads * tq, tq, nk)
    return s


def softmax_backward(p, dp):
    tk = p.shape[-1]
    _kernel("softmax_backward", p.size)(p.reshape(-1, tk), dp.reshape(-1, tk))
    return dp


def adam(w, g, m, v, lr_t, eps_t, beta_1, beta_2):
    """``Backend.adam_step`` in one pass over the four arrays (flat, C-contiguous)."""
    t = w.dtype.type
    # the factors rounded to the dtype as NumPy rounds them (1 - beta in float64 first)
    _kernel("adam", w.size)(w.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), t(lr_t), t(eps_t),
                        t(beta_1), t(1.0 - beta_1), t(beta_2), t(1.0 - beta_2))
    return w, m, v


def rmsprop(w, g, v, lr, rho, eps):
    t = w.dtype.type
    _kernel("rmsprop", w.size)(w.reshape(-1), g.reshape(-1), v.reshape(-1), t(lr), t(rho), t(1.0 - rho), t(eps))
    return w, v


def momentum(w, g, b, lr, mu, nesterov):
    t = w.dtype.type
    _kernel("momentum", w.size)(w.reshape(-1), g.reshape(-1), b.reshape(-1), t(lr), t(mu), nesterov)
    return w, b


def _contiguous_transpose(u_t):
    """The recurrent kernel's transpose, which layers pass as a view of the kernel, copied
    once: OpenBLAS multiplies (32, 512) by a transposed (128, 512) in 77-98 us and by its
    contiguous copy in 55-61 us, and the backward loop makes one such product a step."""
    return numpy.ascontiguousarray(u_t)


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


#: the fewest batch rows worth a thread of their own in a time loop
_ROWS_PER_THREAD = 8
#: the narrowest column block a part's products are cut into, to stay on its own thread
_NARROWEST_BLOCK = 32
#: the most multiply-adds of one step's product for which the loop runs in one kernel: beyond,
#: NumPy's BLAS threads each product well enough where its idle threads spin (OpenBLAS's default),
#: and they then take the second core from our second part (an LSTM 256 at batch 32, 8M a step:
#: 50.3 ms a training step against 46.0 in the Python loop; 46.0 against 56.3 where they sleep)
_LOOP_PRODUCT_MOST = 1 << 22


def _loop_plan(n, w, rows):
    """How a time loop over ``n`` batch rows with the per-step product ``(n, K) @ w`` runs in
    one kernel per part of the batch: the row ranges, one thread each (``rows``, a
    ``_rows.RowThreads``), and ``w`` as contiguous column blocks (B, K, W / B), each product
    of a part's rows by a block small enough that BLAS runs it on that part's thread
    (``BLAS_ONE_THREAD``). The rows of a batch recur independently, so each thread runs its
    rows through every step with no handoff between steps (numba releases the GIL for the
    whole loop), where one product split per step costs a handoff each. None where blocks
    would be narrower than ``_NARROWEST_BLOCK`` columns (a threaded product inside the kernel,
    beside NumPy's BLAS threads still spinning, ran an LSTM 256's backward 7x slower) or the
    product is larger than ``_LOOP_PRODUCT_MOST``: the loop then stays in Python, its products
    threaded by NumPy's BLAS."""
    k, width = w.shape
    if n * k * width > _LOOP_PRODUCT_MOST:
        return None
    ranges = rows.ranges(n, _ROWS_PER_THREAD)
    most = max(hi - lo for lo, hi in ranges)
    cols = width
    while most * k * cols > BLAS_ONE_THREAD and cols % 2 == 0 and cols // 2 >= _NARROWEST_BLOCK:
        cols //= 2
    if most * k * cols > BLAS_ONE_THREAD:
        return None
    return ranges, numpy.ascontiguousarray(w.reshape(k, width // cols, cols).transpose(1, 0, 2))


def lstm_scan(xw, h, c, u, rows=ONE_THREAD):
    """``Backend.lstm_scan``: per step one product (BLAS) and one pass over the gates; for
    float32 the whole loop in one kernel per part of the batch (``_loop_plan``)."""
    xw = numpy.ascontiguousarray(xw)
    n, steps, width = xw.shape
    H = width // 4
    S = numpy.empty_like(xw)
    cs = numpy.empty((n, steps + 1, H), dtype=xw.dtype)
    tcs, hs = numpy.empty((n, steps, H), dtype=xw.dtype), numpy.empty((n, steps, H), dtype=xw.dtype)
    cs[:, 0] = c
    plan = _loop_plan(n, u, rows) if xw.dtype == numpy.float32 and steps and blas() else None
    if plan is not None:
        h = numpy.ascontiguousarray(h, dtype=xw.dtype)
        (ranges, blocks), loop = plan, _compiled()["lstm_loop32"]

        def part(lo, hi):
            loop(xw[lo:hi], h[lo:hi], blocks, S[lo:hi], cs[lo:hi], tcs[lo:hi], hs[lo:hi])

        rows.run(part, ranges)
        return hs, (hs[:, steps - 1], cs[:, steps]), (S, cs, tcs)
    z = numpy.empty((n, width), dtype=xw.dtype)
    if xw.dtype == numpy.float32:  # the whole step but the product in one pass
        gates = _kernel("lstm_step32", n * width)
        for t in range(steps):
            numpy.matmul(h, u, out=z)
            gates(z, xw, t, S, cs, tcs, hs)
            h = hs[:, t]
        return hs, (h, cs[:, steps]), (S, cs, tcs)
    cell, hidden = _kernel("lstm_cell", n * width), _kernel("lstm_hidden", n * width)
    for t in range(steps):  # float64: NumPy's tanh, numba's (libm's) is scalar
        numpy.matmul(h, u, out=z)
        numpy.add(z, xw[:, t], out=z)
        numpy.tanh(z, out=S[:, t])
        cell(S[:, t], cs[:, t], cs[:, t + 1])
        numpy.tanh(cs[:, t + 1], out=tcs[:, t])
        hidden(S[:, t], tcs[:, t], hs[:, t])
        h = hs[:, t]
    return hs, (h, cs[:, steps]), (S, cs, tcs)


def lstm_scan_back(saved, dhs, dh, dc, u_t, scale2, rows=ONE_THREAD):
    S, cs, tcs = saved
    u_t = _contiguous_transpose(u_t)
    n, steps, width = S.shape
    dz = numpy.empty_like(S)
    dh = numpy.array(dh, dtype=S.dtype, order="C")
    dc = numpy.array(dc, dtype=S.dtype, order="C")
    scale2 = numpy.ascontiguousarray(scale2, dtype=S.dtype)
    add = dhs is not None
    dhs = numpy.ascontiguousarray(dhs, dtype=S.dtype) if add else tcs  # tcs: any array of the type, unread
    plan = _loop_plan(n, u_t, rows) if S.dtype == numpy.float32 and steps and blas() else None
    if plan is not None:
        (ranges, blocks), loop, dh_first = plan, _compiled()["lstm_loop_back32"], numpy.empty_like(dh)

        def part(lo, hi):
            loop(dhs[lo:hi], add, dh[lo:hi], dc[lo:hi], blocks, S[lo:hi], cs[lo:hi], tcs[lo:hi], scale2, dz[lo:hi],
                 dh_first[lo:hi])

        rows.run(part, ranges)
        return dz, dh_first, dc
    back = _kernel("lstm_step_back", n * width)
    for t in reversed(range(steps)):
        if t < steps - 1:
            numpy.matmul(dz[:, t + 1], u_t, out=dh)
        back(dh, dhs, add, t, dc, S, cs, tcs, scale2, dz)
    return dz, dz[:, 0] @ u_t, dc


def gru_scan(xw, h, u, bh, rows=ONE_THREAD):
    """``Backend.gru_scan``: per step one product (BLAS) and one pass over the gates; for
    float32 the whole loop in one kernel per part of the batch, as ``lstm_scan``."""
    n, steps, width = xw.shape
    H = width // 3
    hs = numpy.empty((n, steps, H), dtype=xw.dtype)
    to_xw, to_hw, zs = numpy.empty_like(xw), numpy.empty_like(xw), numpy.empty((n, steps, H), dtype=xw.dtype)
    plan = _loop_plan(n, u, rows) if xw.dtype == numpy.float32 and steps and blas() else None
    if plan is not None:
        xw, h = numpy.ascontiguousarray(xw), numpy.ascontiguousarray(h, dtype=xw.dtype)
        bh = numpy.ascontiguousarray(bh, dtype=xw.dtype)
        (ranges, blocks), loop = plan, _compiled()["gru_loop32"]

        def part(lo, hi):
            loop(xw[lo:hi], h[lo:hi], blocks, bh, hs[lo:hi], to_xw[lo:hi], to_hw[lo:hi], zs[lo:hi])

        rows.run(part, ranges)
        return hs, (hs[:, steps - 1],), (to_xw, to_hw, zs)
    hw = numpy.empty((n, width), dtype=xw.dtype)
    rz, pre_n = numpy.empty((n, 2 * H), dtype=xw.dtype), numpy.empty((n, H), dtype=xw.dtype)
    h = numpy.ascontiguousarray(h, dtype=xw.dtype)
    gates, out = _kernel("gru_gates", n * width), _kernel("gru_out", n * width)
    for t in range(steps):  # the tanh in NumPy (SIMD), the rest of the gates in one pass each
        numpy.matmul(h, u, out=hw)
        hw += bh
        numpy.add(xw[:, t, :2 * H], hw[:, :2 * H], out=rz)
        rz *= 0.5
        numpy.tanh(rz, out=rz)
        gates(rz, hw, xw[:, t], pre_n)  # rz becomes r, z; pre_n the candidate's pre-activation
        numpy.tanh(pre_n, out=pre_n)
        out(rz, hw, pre_n, h, hs[:, t], to_xw[:, t], to_hw[:, t], zs[:, t])
        h = hs[:, t]
    return hs, (h,), (to_xw, to_hw, zs)


def gru_scan_back(saved, dhs, dh, u_t, rows=ONE_THREAD):
    to_xw, to_hw, zs = saved
    u_t = _contiguous_transpose(u_t)
    n, steps, width = to_xw.shape
    dxw, dhw = numpy.empty_like(to_xw), numpy.empty_like(to_hw)
    dh = numpy.array(dh, dtype=to_xw.dtype, order="C")
    add = dhs is not None
    plan = _loop_plan(n, u_t, rows) if to_xw.dtype == numpy.float32 and steps and blas() else None
    if plan is not None:
        dhs = numpy.ascontiguousarray(dhs, dtype=to_xw.dtype) if add else zs  # zs: any array of the type, unread
        (ranges, blocks), loop = plan, _compiled()["gru_loop_back32"]

        def part(lo, hi):
            loop(dhs[lo:hi], add, dh[lo:hi], blocks, to_xw[lo:hi], to_hw[lo:hi], zs[lo:hi], dxw[lo:hi], dhw[lo:hi])

        rows.run(part, ranges)
        return dxw, dhw, dh
    back = _kernel("gru_step_back", n * width)
    for t in reversed(range(steps)):
        back(dh, dhs[:, t] if add else dh, add, to_xw[:, t], to_hw[:, t], dxw[:, t], dhw[:, t])
        dh = dh * zs[:, t] + dhw[:, t] @ u_t
    return dxw, dhw, dh


# -- the kernels: plain loops, innermost over contiguous channels so that LLVM vectorizes them --

def _max_pool(x, kh, kw, sh, sw, relu, y, first):
    n, oh, ow, c = y.shape
    one = first.dtype.type(1)
    none = first.dtype.type(kh * kw)
    value_one = y.dtype.type(1)
    value_zero = value_one - value_one
    for b in prange(n):
        for i in range(oh):
            for j in range(ow):
                r, s = i * sh, j * sw
                for ch in range(c):
                    y[b, i, j, ch] = x[b, r, s, ch]
                    first[b, i, j, ch] = 0
                offset = first.dtype.type(0)  # k in the index's dtype, so that the loop vectorizes
                for k in range(1, kh * kw):
                    offset += one
                    di = k // kw
                    dj = k - di * kw
                    for ch in range(c):
                        v = x[b, r + di, s + dj, ch]
                        m = y[b, i, j, ch]
                        take = (v > m) | ((v != v) & (m == m))  # the first NaN wins, as in max()
                        y[b, i, j, ch] = v if take else m
                        first[b, i, j, ch] = offset if take else first[b, i, j, ch]
                if relu:  # relu's x * (x > 0), and no gradient where it gives none
                    for ch in range(c):
                        m = y[b, i, j, ch]
                        first[b, i, j, ch] = first[b, i, j, ch] if m > 0 else none
                        y[b, i, j, ch] = m * (value_one if m > 0 else value_zero)
                else:
                    for ch in range(c):
                        m = y[b, i, j, ch]
                        first[b, i, j, ch] = first[b, i, j, ch] if m == m else none


def _max_pool_backward(dy, first, kh, kw, sh, sw, add, dx):
    n, oh, ow, c = dy.shape
    one = dy.dtype.type(1)
    zero = one - one
    step = first.dtype.type(1)
    for b in prange(n):
        for i in range(oh):
            for j in range(ow):
                offset = step - step
                for k in range(kh * kw):
                    di = k // kw
                    r, s = i * sh + di, j * sw + k - di * kw
                    # a product, not a select: a NaN in dy reaches the whole window, as in the
                    # portable form; overlapping windows add up, disjoint ones just write
                    if add:
                        for ch in range(c):
                            dx[b, r, s, ch] += dy[b, i, j, ch] * (one if first[b, i, j, ch] == offset else zero)
                    else:
                        for ch in range(c):
                            dx[b, r, s, ch] = dy[b, i, j, ch] * (one if first[b, i, j, ch] == offset else zero)
                    offset += step


def _relu(values, signs, out):
    """out = values * (signs > 0), over flat arrays; the 0/1 factor in the values' dtype, so
    that float32 stays float32 (a bool factor would go through int64 and float64)."""
    one = values.dtype.type(1)
    zero = one - one
    for i in prange(values.shape[0]):
        out[i] = values[i] * (one if signs[i] > 0 else zero)


def _col2im(dcols, kh, kw, sh, sw, dh, dw, dx):
    n, oh, ow = dcols.shape[0], dcols.shape[1], dcols.shape[2]
    c = dx.shape[3]
    for b in prange(n):  # one image at a time: its gradient stays in cache while it adds up
        dx[b] = 0
        for i in range(oh):
            for j in range(ow):
                for k in range(kh * kw):
                    r, s = i * sh + (k // kw) * dh, j * sw + (k % kw) * dw
                    for ch in range(c):
                        dx[b, r, s, ch] += dcols[b, i, j, k * c + ch]


def _masked_softmax32(s, keep, masked, per_image, tq, nk):
    """Rows of scores ``s`` (R, Tk), R = N * H * Tq, softmaxed in place; row r reads row
    ``(r // per_image % nk) * tq + r % tq`` of ``keep`` (its image's mask, or the one shared).
    The exp is arithmetic only, so that its loop vectorizes (libm's is one call per element:
    2-3x slower); rows in blocks, each row's passes in cache, the mask applied as a product,
    not a branch. Below exp(-87) the exponential stays at exp(-87) rather than 0, far below
    any weight that counts."""
    rows, tk = s.shape
    f = numpy.float32
    one, zero, big = f(1.0), f(0.0), f(1e30)
    block = 64
    for c in prange((rows + block - 1) // block):
        bits = numpy.empty(tk, numpy.int32)
        two_n = bits.view(numpy.float32)
        for r in range(c * block, min(rows, (c + 1) * block)):
            k = (r // per_image % nk) * tq + r % tq
            for j in range(tk):  # the masked scores far below, in the exponentials' buffer
                two_n[j] = s[r, j] + (keep[k, j] - one) * big if masked else s[r, j]
            m0 = m1 = m2 = m3 = f(-numpy.inf)  # four running maxima, as in _row_sum
            for j in range(0, tk - 3, 4):
                m0, m1 = max(m0, two_n[j]), max(m1, two_n[j + 1])
                m2, m3 = max(m2, two_n[j + 2]), max(m3, two_n[j + 3])
            top = max(max(m0, m1), max(m2, m3))
            for j in range(tk - tk % 4, tk):
                top = max(top, two_n[j])
            for j in range(tk):  # exp(x), x <= 0, as p(t) * 2**n, to 3 ulp down to exp(-87)
                x = min(max(s[r, j] - top, f(-87.0)), zero)  # <= 0 also where a row keeps no key
                n = (x * f(1.4426950408889634) + f(12582912.0)) - f(12582912.0)  # round(x / ln 2), no int64
                t = x - n * f(0.693359375) - n * f(-2.12194440e-4)  # ln 2 in two parts
                bits[j] = (numpy.int32(n) + numpy.int32(127)) << numpy.int32(23)  # 2**n, as float32 bits
                s[r, j] = ((((f(1 / 720) * t + f(1 / 120)) * t + f(1 / 24)) * t + f(1 / 6)) * t + f(0.5)) * t * t + t + one
            if masked:
                for j in range(tk):
                    s[r, j] *= two_n[j] * keep[k, j]
            else:
                for j in range(tk):
                    s[r, j] *= two_n[j]
            total = _row_sum(s, r)
            scale = one / total if total > zero else zero  # a row keeping no key: zeros
            for j in range(tk):
                s[r, j] *= scale


def _softmax_backward(p, dp):
    rows, tk = p.shape
    for r in prange(rows):
        d = p.dtype.type(0)
        for j in range(tk):
            d += dp[r, j] * p[r, j]
        for j in range(tk):
            dp[r, j] = (dp[r, j] - d) * p[r, j]


def _adam(w, g, m, v, lr_t, eps_t, b1, c1, b2, c2):
    for i in prange(w.shape[0]):
        gi = g[i]
        mi = b1 * m[i] + c1 * gi
        vi = b2 * v[i] + c2 * (gi * gi)
        m[i], v[i] = mi, vi
        w[i] -= lr_t * mi / (numpy.sqrt(vi) + eps_t)


def _rmsprop(w, g, v, lr, rho, c, eps):
    for i in prange(w.shape[0]):
        gi = g[i]
        vi = rho * v[i] + c * (gi * gi)
        v[i] = vi
        w[i] -= lr * gi / (numpy.sqrt(vi) + eps)


def _momentum(w, g, b, lr, mu, nesterov):
    for i in prange(w.shape[0]):
        gi = g[i]
        bi = mu * b[i] + gi
        b[i] = bi
        w[i] -= lr * (gi + mu * bi) if nesterov else lr * bi


def _lstm_cell(s, c_prev, c_out):
    """c = f * c_prev + i * g from the gates' tanh values (the sigmoids' halved)."""
    n, H = c_prev.shape
    half = s.dtype.type(0.5)
    for b in prange(n):
        for j in range(H):
            i = half * s[b, j] + half
            f = half * s[b, H + j] + half
            c_out[b, j] = f * c_prev[b, j] + i * s[b, 3 * H + j]


def _tanh32(v):
    """tanh of a float32 within 6 ulp (0.6 on average; NumPy's is within 1.4): x P(x^2) / Q(x^2)
    fitted to relative error on [0, 9], and +-1 beyond 9, where float32's tanh rounds to 1.
    Arithmetic only, so that loops calling it vectorize, where libm's tanh is one call per element."""
    f = numpy.float32
    x = f(-9.0) if v < f(-9.0) else v  # selects, not min/max: NaN passes through
    x = f(9.0) if x > f(9.0) else x
    s = x * x
    p = ((((((f(-8.561704676387366e-14) * s + f(5.3093099361412044e-11)) * s + f(-2.029680601367545e-08)) * s
             + f(1.1173407983733341e-05)) * s + f(0.00310587789863348)) * s + f(0.13085763156414032)) * s + f(1.0))
    q = ((f(0.0002548884367570281) * s + f(0.024502931162714958)) * s + f(0.46419093012809753)) * s + f(1.0)
    return x * p / q


def _row_sum(a, r):
    """The sum of row ``r`` of ``a`` in four running sums (one would wait on each add)."""
    n = a.shape[1]
    t0 = t1 = t2 = t3 = a.dtype.type(0)
    for j in range(0, n - 3, 4):
        t0 += a[r, j]
        t1 += a[r, j + 1]
        t2 += a[r, j + 2]
        t3 += a[r, j + 3]
    total = (t0 + t1) + (t2 + t3)
    for j in range(n - n % 4, n):
        total += a[r, j]
    return total


def _row_dot(a, b, r):
    """Row ``r`` of ``a`` dotted with row ``r`` of ``b``, as ``_row_sum`` sums (a sum through
    this with a row of ones takes twice as long: a second stream of loads)."""
    n = a.shape[1]
    t0 = t1 = t2 = t3 = a.dtype.type(0)
    for j in range(0, n - 3, 4):
        t0 += a[r, j] * b[r, j]
        t1 += a[r, j + 1] * b[r, j + 1]
        t2 += a[r, j + 2] * b[r, j + 2]
        t3 += a[r, j + 3] * b[r, j + 3]
    total = (t0 + t1) + (t2 + t3)
    for j in range(n - n % 4, n):
        total += a[r, j] * b[r, j]
    return total


def _layer_norm(x, gamma, beta, eps, y, xhat, inv):
    rows, d = x.shape
    one = x.dtype.type(1)
    for r in prange(rows):
        mean = _row_sum(x, r) / d
        for j in range(d):
            xhat[r, j] = x[r, j] - mean
        scale = one / numpy.sqrt(_row_dot(xhat, xhat, r) / d + eps)
        inv[r] = scale
        for j in range(d):
            xhat[r, j] *= scale
        for j in range(d):
            y[r, j] = xhat[r, j] * gamma[j] + beta[j]


def _layer_norm_backward(dy, xhat, inv, gamma, dx):
    rows, d = dy.shape
    for r in prange(rows):
        for j in range(d):
            dx[r, j] = dy[r, j] * gamma[j]
        mean_d = _row_sum(dx, r) / d
        mean_dx = _row_dot(dx, xhat, r) / d
        for j in range(d):
            dx[r, j] = (dx[r, j] - mean_d - xhat[r, j] * mean_dx) * inv[r]


def _gelu_tanh32(x, y, t):
    f = numpy.float32
    c, a, half, one = f(0.7978845608028654), f(0.044715), f(0.5), f(1.0)  # c = sqrt(2 / pi)
    for i in prange(x.shape[0]):
        v = x[i]
        th = _tanh32(c * (v + a * v * v * v))
        t[i] = th
        y[i] = half * v * (one + th)


def _gelu_tanh_backward32(dy, x, t, dx):
    f = numpy.float32
    c, a3, half, one = f(0.7978845608028654), f(3 * 0.044715), f(0.5), f(1.0)
    for i in prange(x.shape[0]):
        v, th = x[i], t[i]
        dx[i] = dy[i] * (half * (one + th) + half * v * (one - th * th) * c * (one + a3 * v * v))


def _lstm_step32(z, xw, t, S, cs, tcs, hs):
    """Step ``t`` of a float32 LSTM after its product ``z = h @ u``: the gates' tanh ``S[:, t]``,
    the cell state ``cs[:, t + 1]``, its tanh and the hidden state (``lstm_cell`` and
    ``lstm_hidden`` with the tanhs). Whole arrays and ``t``, not slices, and one loop per array
    written: LLVM vectorizes a loop only where it knows the rows contiguous and can check the
    arrays it reads against the one it writes (a slice, or one loop writing three arrays, ran
    2-5x slower)."""
    n, H = z.shape[0], z.shape[1] // 4
    half = numpy.float32(0.5)
    for b in prange(n):
        for j in range(4 * H):
            S[b, t, j] = _tanh32(z[b, j] + xw[b, t, j])
        for j in range(H):
            cs[b, t + 1, j] = ((half * S[b, t, H + j] + half) * cs[b, t, j]
                               + (half * S[b, t, j] + half) * S[b, t, 3 * H + j])
        for j in range(H):
            tcs[b, t, j] = _tanh32(cs[b, t + 1, j])
        for j in range(H):
            hs[b, t, j] = (half * S[b, t, 2 * H + j] + half) * tcs[b, t, j]


def _lstm_hidden(s, tc, h_out):
    n, H = tc.shape
    half = s.dtype.type(0.5)
    for b in prange(n):
        for j in range(H):
            h_out[b, j] = (half * s[b, 2 * H + j] + half) * tc[b, j]


def _lstm_step_back(dh, dhs, add, t, dc, S, cs, tcs, scale2, dz):
    """Step ``t`` backwards. dh (N, H): the state gradient arriving, plus ``dhs[:, t]`` when
    ``add``, updated in place to the total; dc likewise, then carried to the previous step
    (times f); ``dz[:, t]`` the gates'. Whole arrays and one loop per array written, as in
    ``_lstm_step32``."""
    n, H = dh.shape
    half = S.dtype.type(0.5)
    one = half + half
    for b in prange(n):
        if add:
            for j in range(H):
                dh[b, j] += dhs[b, t, j]
        for j in range(H):
            dc[b, j] += dh[b, j] * (half * S[b, t, 2 * H + j] + half) * (one - tcs[b, t, j] * tcs[b, t, j])
        for j in range(H):  # i, f, o, g
            dz[b, t, j] = dc[b, j] * S[b, t, 3 * H + j] * (one - S[b, t, j] * S[b, t, j]) * scale2[j]
        for j in range(H):
            k = H + j
            dz[b, t, k] = dc[b, j] * cs[b, t, j] * (one - S[b, t, k] * S[b, t, k]) * scale2[k]
        for j in range(H):
            k = 2 * H + j
            dz[b, t, k] = dh[b, j] * tcs[b, t, j] * (one - S[b, t, k] * S[b, t, k]) * scale2[k]
        for j in range(H):
            k = 3 * H + j
            dz[b, t, k] = dc[b, j] * (half * S[b, t, j] + half) * (one - S[b, t, k] * S[b, t, k]) * scale2[k]
        for j in range(H):
            dc[b, j] *= half * S[b, t, H + j] + half


def _blocked_dot(a, blocks, out_blocks, out):
    """``out = a @ w`` with ``w`` as column blocks (see ``_loop_plan``): one BLAS call a block."""
    nb, cols = blocks.shape[0], blocks.shape[2]
    if nb == 1:
        numpy.dot(a, blocks[0], out)
        return
    for q in range(nb):
        numpy.dot(a, blocks[q], out_blocks[q])
    for b in range(a.shape[0]):
        for q in range(nb):
            for j in range(cols):
                out[b, q * cols + j] = out_blocks[q, b, j]


def _lstm_loop32(xw, h0, u_blocks, S, cs, tcs, hs):
    """Every step of ``lstm_scan`` for these rows: the product, then ``_lstm_step32``."""
    n, steps, width = xw.shape
    H = width // 4
    h = numpy.empty((n, H), xw.dtype)  # contiguous, as np.dot wants
    h[:] = h0
    z = numpy.empty((n, width), xw.dtype)
    zb = numpy.empty((u_blocks.shape[0], n, u_blocks.shape[2]), xw.dtype)
    for t in range(steps):
        _blocked_dot(h, u_blocks, zb, z)
        _step32(z, xw, t, S, cs, tcs, hs)
        h[:] = hs[:, t]


def _lstm_loop_back32(dhs, add, dh, dc, ut_blocks, S, cs, tcs, scale2, dz, dh_first):
    """Every step of ``lstm_scan_back`` for these rows, and the first state's gradient."""
    n, steps, width = S.shape
    dz_t = numpy.empty((n, width), S.dtype)  # contiguous, as np.dot wants
    hb = numpy.empty((ut_blocks.shape[0], n, ut_blocks.shape[2]), S.dtype)
    for t in range(steps - 1, -1, -1):
        if t < steps - 1:
            _blocked_dot(dz_t, ut_blocks, hb, dh)
        _step_back(dh, dhs, add, t, dc, S, cs, tcs, scale2, dz)
        dz_t[:] = dz[:, t]
    _blocked_dot(dz_t, ut_blocks, hb, dh_first)


def _gru_loop32(xw, h0, u_blocks, bh, hs, to_xw, to_hw, zs):
    """Every step of ``gru_scan`` for these rows, float32: the product, the gates with
    ``_tanh32`` (so that the loops vectorize), the output and the backward's factors (those of
    ``_gru_out``), one loop per array written."""
    n, steps, width = xw.shape
    H = width // 3
    half, one = numpy.float32(0.5), numpy.float32(1.0)
    h = numpy.empty((n, H), xw.dtype)  # contiguous, as np.dot wants
    h[:] = h0
    hw = numpy.empty((n, width), xw.dtype)
    hb = numpy.empty((u_blocks.shape[0], n, u_blocks.shape[2]), xw.dtype)
    rz, c = numpy.empty((n, 2 * H), xw.dtype), numpy.empty((n, H), xw.dtype)
    for t in range(steps):
        _blocked_dot(h, u_blocks, hb, hw)
        for b in range(n):
            for j in range(width):
                hw[b, j] += bh[j]
            for j in range(2 * H):
                rz[b, j] = half * _tanh32(half * (xw[b, t, j] + hw[b, j])) + half
            for j in range(H):
                c[b, j] = _tanh32(xw[b, t, 2 * H + j] + rz[b, j] * hw[b, 2 * H + j])
            for j in range(H):
                hs[b, t, j] = c[b, j] + rz[b, H + j] * (h[b, j] - c[b, j])
            for j in range(H):
                zs[b, t, j] = rz[b, H + j]
            for j in range(H):  # dr, for the input and the recurrent pre-activations
                to_xw[b, t, j] = ((one - rz[b, H + j]) * (one - c[b, j] * c[b, j]) * hw[b, 2 * H + j]
                                  * rz[b, j] * (one - rz[b, j]))
            for j in range(H):
                to_hw[b, t, j] = to_xw[b, t, j]
            for j in range(H):  # dz
                to_xw[b, t, H + j] = (h[b, j] - c[b, j]) * rz[b, H + j] * (one - rz[b, H + j])
            for j in range(H):
                to_hw[b, t, H + j] = to_xw[b, t, H + j]
            for j in range(H):  # dn; times r for the recurrent part
                to_xw[b, t, 2 * H + j] = (one - rz[b, H + j]) * (one - c[b, j] * c[b, j])
            for j in range(H):
                to_hw[b, t, 2 * H + j] = to_xw[b, t, 2 * H + j] * rz[b, j]
            for j in range(H):
                h[b, j] = hs[b, t, j]


def _gru_loop_back32(dhs, add, dh, ut_blocks, to_xw, to_hw, zs, dxw, dhw):
    """Every step of ``gru_scan_back`` for these rows: ``dh`` arrives as the last state's
    gradient and leaves as the first's."""
    n, steps, width = to_xw.shape
    H = width // 3
    dhw_t = numpy.empty((n, width), to_xw.dtype)  # contiguous, as np.dot wants
    hb = numpy.empty((ut_blocks.shape[0], n, ut_blocks.shape[2]), to_xw.dtype)
    through = numpy.empty((n, H), to_xw.dtype)
    for t in range(steps - 1, -1, -1):
        for b in range(n):
            if add:
                for j in range(H):
                    dh[b, j] += dhs[b, t, j]
            for g in range(3):
                for j in range(H):
                    dxw[b, t, g * H + j] = dh[b, j] * to_xw[b, t, g * H + j]
                for j in range(H):
                    dhw_t[b, g * H + j] = dh[b, j] * to_hw[b, t, g * H + j]
            for j in range(width):
                dhw[b, t, j] = dhw_t[b, j]
        _blocked_dot(dhw_t, ut_blocks, hb, through)
        for b in range(n):
            for j in range(H):
                dh[b, j] = dh[b, j] * zs[b, t, j] + through[b, j]


def _gru_gates(rz, hw, x_t, pre_n):
    n, H = pre_n.shape
    half = rz.dtype.type(0.5)
    for b in prange(n):
        for j in range(2 * H):
            rz[b, j] = half * rz[b, j] + half
        for j in range(H):
            pre_n[b, j] = x_t[b, 2 * H + j] + rz[b, j] * hw[b, 2 * H + j]


def _gru_out(rz, hw, nn, h_prev, h_out, to_xw, to_hw, z_out):
    n, H = nn.shape
    one = rz.dtype.type(1)
    for b in prange(n):
        for j in range(H):
            r, z, c, hp = rz[b, j], rz[b, H + j], nn[b, j], h_prev[b, j]
            h_out[b, j] = c + z * (hp - c)
            dn = (one - z) * (one - c * c)
            dr, dz = dn * hw[b, 2 * H + j] * r * (one - r), (hp - c) * z * (one - z)
            to_xw[b, j], to_xw[b, H + j], to_xw[b, 2 * H + j] = dr, dz, dn
            to_hw[b, j], to_hw[b, H + j], to_hw[b, 2 * H + j] = dr, dz, dn * r
            z_out[b, j] = z


def _gru_step_back(dh, dh_seq, add, to_xw, to_hw, dxw, dhw):
    n, width = to_xw.shape
    H = width // 3
    for b in prange(n):
        for j in range(H):
            d = dh[b, j] + dh_seq[b, j] if add else dh[b, j]
            dh[b, j] = d
            for k in (j, H + j, 2 * H + j):
                dxw[b, k] = d * to_xw[b, k]
                dhw[b, k] = d * to_hw[b, k]


KERNEL_FUNCTIONS = {"layer_norm": _layer_norm, "layer_norm_backward": _layer_norm_backward,
                    "gelu_tanh32": _gelu_tanh32, "gelu_tanh_backward32": _gelu_tanh_backward32,
                    "masked_softmax32": _masked_softmax32, "softmax_backward": _softmax_backward, "max_pool": _max_pool, "max_pool_backward": _max_pool_backward, "relu": _relu,
                    "col2im": _col2im, "adam": _adam, "rmsprop": _rmsprop, "momentum": _momentum,
                    "lstm_cell": _lstm_cell, "lstm_hidden": _lstm_hidden, "lstm_step32": _lstm_step32, "lstm_step_back": _lstm_step_back,
                    "lstm_loop32": _lstm_loop32, "lstm_loop_back32": _lstm_loop_back32,
                    "gru_loop32": _gru_loop32, "gru_loop_back32": _gru_loop_back32, "gru_gates": _gru_gates, "gru_out": _gru_out,
                    "gru_step_back": _gru_step_back}
