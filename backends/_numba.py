"""Fused CPU kernels for the NumPy backend, compiled by numba when it is installed.

Each kernel does in one pass over memory what the portable layer code does in several NumPy
calls: max pooling (a stack of window slices, a reduction, comparisons, a first-maximum pass
and a scatter), ReLU (a comparison, a cast and a product) and col2im (zeros, then one add
per kernel offset). They are fast paths only: without numba (``pip install "xdl[fast]"``),
or with ``XDL_FUSED=0``, the layers run their portable code, and tests/test_fast_paths.py
checks each kernel against it. Kernels take C-contiguous arrays and run on one thread;
numba compiles one version per dtype on first use and caches it on disk (see ``_jit``).
"""

from __future__ import annotations

import importlib.metadata
import os
import warnings

import numpy

KERNELS = frozenset({"max_pool", "relu", "col2im"})
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
        kernels = {"max_pool": _max_pool, "max_pool_backward": _max_pool_backward, "relu": _relu,
                   "col2im": _col2im}
        _state["kernels"] = {name: _jit(numba, fn) for name, fn in kernels.items()}
    return _state["kernels"]


def _jit(numba, fn):
    """``fn`` compiled on first use and cached on disk, so that later processes load it instead
    of compiling (~1 s for all four kernels). numba caches next to this file (__pycache__), else
    in the user's cache folder (~/.cache/numba), or in NUMBA_CACHE_DIR when that is set; where
    none of them is writable (a read-only install, no home), in a folder of the temporary
    directory, and failing that not at all: every process then compiles, silently."""
    options = {"nogil": True, "boundscheck": False}
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


def _user():
    try:
        return str(os.getuid())
    except AttributeError:  # Windows
        return os.environ.get("USERNAME", "user")


def index_dtype(window):
    """The smallest unsigned dtype that holds every offset of a ``window``-element window,
    plus one value meaning "no maximum" (a window of NaNs)."""
    return numpy.uint8 if window < 255 else numpy.uint32


def max_pool(x, kernel, stride, out_hw):
    """(y, first): the maxima of ``x``'s (N, Hp, Wp, C) windows, (N, OH, OW, C), and for each
    the row-major offset of its first maximum (``kh * kw`` where the maximum is NaN)."""
    x = numpy.ascontiguousarray(x)
    n, c = x.shape[0], x.shape[3]
    y = numpy.empty((n,) + tuple(out_hw) + (c,), dtype=x.dtype)
    first = numpy.empty(y.shape, dtype=index_dtype(kernel[0] * kernel[1]))
    _compiled()["max_pool"](x, kernel[0], kernel[1], stride[0], stride[1], y, first)
    return y, first


def max_pool_backward(dy, first, kernel, stride, padded_hw, disjoint, covers):
    """The gradient for the (N, Hp, Wp, C) input of ``max_pool``: each window's ``dy`` at its
    first maximum, summed where windows overlap. Disjoint windows just write; where they also
    cover the input, every element once, onto uninitialised memory."""
    dy = numpy.ascontiguousarray(dy)
    make = numpy.empty if covers else numpy.zeros
    dx = make((dy.shape[0],) + tuple(padded_hw) + (dy.shape[3],), dtype=dy.dtype)
    _compiled()["max_pool_backward"](dy, first, kernel[0], kernel[1], stride[0], stride[1], not disjoint, dx)
    return dx


def relu(x):
    """``x * (x > 0)``, the portable form's exact values (NaN stays NaN, -inf gives NaN)."""
    x = numpy.ascontiguousarray(x)
    y = numpy.empty_like(x)
    _compiled()["relu"](x.reshape(-1), x.reshape(-1), y.reshape(-1))
    return y


def relu_backward(dy, x):
    """``dy * (x > 0)``."""
    dy, x = numpy.ascontiguousarray(dy), numpy.ascontiguousarray(x)
    dx = numpy.empty_like(dy)
    _compiled()["relu"](dy.reshape(-1), x.reshape(-1), dx.reshape(-1))
    return dx


def col2im(dcols, kernel, stride, dilation, padded_hw):
    """Sum ``dcols`` (N, OH, OW, kh * kw * C) into a new (N, Hp, Wp, C) array, each window's
    columns onto the pixels they were copied from."""
    dcols = numpy.ascontiguousarray(dcols)
    n, c = dcols.shape[0], dcols.shape[3] // (kernel[0] * kernel[1])
    dx = numpy.empty((n,) + tuple(padded_hw) + (c,), dtype=dcols.dtype)
    _compiled()["col2im"](dcols, kernel[0], kernel[1], stride[0], stride[1], dilation[0], dilation[1], dx)
    return dx


# -- the kernels: plain loops, innermost over contiguous channels so that LLVM vectorizes them --

def _max_pool(x, kh, kw, sh, sw, y, first):
    n, oh, ow, c = y.shape
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                r, s = i * sh, j * sw
                for ch in range(c):
                    y[b, i, j, ch] = x[b, r, s, ch]
                    first[b, i, j, ch] = 0
                for k in range(1, kh * kw):
                    for ch in range(c):
                        v = x[b, r + k // kw, s + k % kw, ch]
                        m = y[b, i, j, ch]
                        take = (v > m) | ((v != v) & (m == m))  # the first NaN wins, as in max()
                        y[b, i, j, ch] = v if take else m
                        first[b, i, j, ch] = k if take else first[b, i, j, ch]
                for ch in range(c):
                    m = y[b, i, j, ch]
                    first[b, i, j, ch] = first[b, i, j, ch] if m == m else kh * kw


def _max_pool_backward(dy, first, kh, kw, sh, sw, add, dx):
    n, oh, ow, c = dy.shape
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                for k in range(kh * kw):
                    r, s = i * sh + k // kw, j * sw + k % kw
                    # a product, not a select: a NaN in dy reaches the whole window, as in the
                    # portable form; overlapping windows add up, disjoint ones just write
                    if add:
                        for ch in range(c):
                            dx[b, r, s, ch] += dy[b, i, j, ch] * (first[b, i, j, ch] == k)
                    else:
                        for ch in range(c):
                            dx[b, r, s, ch] = dy[b, i, j, ch] * (first[b, i, j, ch] == k)


def _relu(values, signs, out):
    """out = values * (signs > 0), over flat arrays; the 0/1 factor in the values' dtype, so
    that float32 stays float32 (a bool factor would go through int64 and float64)."""
    one = values.dtype.type(1)
    zero = one - one
    for i in range(values.shape[0]):
        out[i] = values[i] * (one if signs[i] > 0 else zero)


def _col2im(dcols, kh, kw, sh, sw, dh, dw, dx):
    n, oh, ow = dcols.shape[0], dcols.shape[1], dcols.shape[2]
    c = dx.shape[3]
    for b in range(n):  # one image at a time: its gradient stays in cache while it adds up
        dx[b] = 0
        for i in range(oh):
            for j in range(ow):
                for k in range(kh * kw):
                    r, s = i * sh + (k // kw) * dh, j * sw + (k % kw) * dw
                    for ch in range(c):
                        dx[b, r, s, ch] += dcols[b, i, j, k * c + ch]
