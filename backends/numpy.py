"""NumPy on the CPU, through array-api-compat's namespace."""

from __future__ import annotations

import math
import sys

import numpy

from . import _numba
from ._base import Backend, Status, numpy_like_im2col
from ._host_memory import keep_freed_memory

PRIORITY = 10


def probe() -> Status:
    import array_api_compat

    versions = {"numpy": numpy.__version__, "array-api-compat": array_api_compat.__version__}
    numba = _numba.version()
    if numba:
        versions["numba"] = numba
    note = "" if numba else 'no fused kernels: numba is not installed (pip install "xdl[fast]")'
    return Status("numpy", True, note, versions, "cpu", PRIORITY)


class NumpyBackend(Backend):
    """``sum_rows``: the namespace's sum over axis 0 pays wrapper and reduction costs (20 us on
    (128, 256) float32) that a GEMV with a ones vector does not (6 us)."""

    def __init__(self, *args):
        super().__init__(*args)
        self._ones = {}

    def sum_rows(self, x):
        key = (x.shape[0], x.dtype)
        ones = self._ones.get(key)
        if ones is None:
            ones = self._ones[key] = numpy.ones(x.shape[0], dtype=x.dtype)
        return ones @ x

    def index_add(self, indices, values, size):
        # one bincount over (index, column) pairs: repeats accumulate (unlike out[i] += v),
        # several times faster than numpy.add.at on (M, D) rows
        width = math.prod(values.shape[1:])
        flat = (indices[:, None] * width + numpy.arange(width)).reshape(-1)
        sums = numpy.bincount(flat, weights=values.reshape(-1), minlength=size * width)
        return sums.astype(values.dtype, copy=False).reshape((size,) + tuple(values.shape[1:]))

    def im2col(self, x, out, kernel, stride, dilation):
        return numpy_like_im2col(numpy, x, out, kernel, stride, dilation)

    @property
    def fused(self):
        return _numba.fused()

    def max_pool(self, x, kernel, stride, out_hw):
        return _numba.max_pool(x, kernel, stride, out_hw)

    def max_pool_backward(self, dy, first, kernel, stride, padded_hw, disjoint, covers):
        return _numba.max_pool_backward(dy, first, kernel, stride, padded_hw, disjoint, covers)

    def relu(self, x):
        return _numba.relu(x)

    def relu_backward(self, dy, x):
        return _numba.relu_backward(dy, x)

    def col2im(self, dcols, kernel, stride, dilation, padded_hw):
        return _numba.col2im(dcols, kernel, stride, dilation, padded_hw)

    def random_uniform(self, seed):
        rng = numpy.random.default_rng(seed)
        return lambda shape, dtype: rng.random(shape, dtype=dtype)  # float32 drawn as such


def create(device=None) -> Backend:
    import array_api_compat.numpy as xp

    if device not in (None, "cpu"):
        raise ValueError(f"numpy runs on 'cpu' only, not {device!r}")
    keep_freed_memory()
    return NumpyBackend("numpy", xp, "cpu", sys.modules[__name__])


def is_array(x) -> bool:
    # reductions return NumPy scalars; strings and objects are data to convert, not arrays
    return isinstance(x, (numpy.ndarray, numpy.generic)) and x.dtype.kind in "biufc"


def to_numpy(x, copy=False):
    return numpy.array(x, copy=True) if copy else numpy.asarray(x)
