"""NumPy on the CPU, through array-api-compat's namespace."""

from __future__ import annotations

import math
import sys

import numpy

from . import _numba
from ._base import Backend, Status, consecutive_views, numpy_like_im2col
from ._host_memory import keep_freed_memory
from ._rows import BLAS_ONE_THREAD, RowThreads, allowed_threads

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
        self._rows = RowThreads(allowed_threads())

    def batched_matmul(self, a, b):
        """Many small products: OpenBLAS splits each across its threads and gains nothing
        (attention's 128 x 32 @ 32 x 128 heads at N=32: 4.0 ms on two threads, 3.9 on one).
        Here row blocks small enough for OpenBLAS to run on the calling thread, and the stack
        split between threads of our own (2.4-2.9 ms)."""
        shape = a.shape[:-2]
        m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
        if (self._rows.threads < 2 or a.ndim < 3 or b.shape[:-2] != shape or shape[0] < 2 or a.dtype != b.dtype
                or a.dtype.kind != "f" or not isinstance(a, numpy.ndarray) or not isinstance(b, numpy.ndarray)
                or m * n * k > 16 * BLAS_ONE_THREAD):
            return a @ b
        rows = m
        while rows * n * k > BLAS_ONE_THREAD and rows % 2 == 0:
            rows //= 2
        if rows * n * k > BLAS_ONE_THREAD:
            return a @ b
        out = numpy.empty(shape + (m, n), dtype=a.dtype)

        def part(lo, hi):
            for r in range(0, m, rows):
                numpy.matmul(a[lo:hi, ..., r:r + rows, :], b[lo:hi], out=out[lo:hi, ..., r:r + rows, :])

        self._rows.run(part, self._rows.ranges(shape[0]))
        return out

    def sum_rows(self, x):
        return self._ones_for(x) @ x

    def views(self, flat, shapes):
        return consecutive_views(flat, shapes, lambda part, shape: part.reshape(shape))

    def add_matmul_grad(self, p, a, b):
        out, live = p.claim_grad()
        if out is None:
            if live is None:  # frozen
                return
            p.add_grad(a @ b)
        elif live:
            out += a @ b
        else:
            numpy.matmul(a, b, out=out)  # straight into the flat buffer

    def add_sum_rows_grad(self, p, dy):
        out, live = p.claim_grad()
        if out is None:
            if live is None:  # frozen
                return
            p.add_grad(self.sum_rows(dy))
        elif live:
            out += self.sum_rows(dy)
        else:
            numpy.matmul(self._ones_for(dy), dy, out=out)

    def _ones_for(self, x):
        key = (x.shape[0], x.dtype)
        ones = self._ones.get(key)
        if ones is None:
            ones = self._ones[key] = numpy.ones(x.shape[0], dtype=x.dtype)
        return ones

    def index_add(self, indices, values, size):
        # one bincount over (index, column) pairs: repeats accumulate (unlike out[i] += v),
        # several times faster than numpy.add.at on (M, D) rows
        width = math.prod(values.shape[1:])
        flat = (indices[:, None] * width + numpy.arange(width)).reshape(-1)
        sums = numpy.bincount(flat, weights=values.reshape(-1), minlength=size * width)
        return sums.astype(values.dtype, copy=False).reshape((size,) + tuple(values.shape[1:]))

    def im2col(self, x, out, kernel, stride, dilation):
        if numpy_like_im2col(numpy, x, out, kernel, stride, dilation):
            return out
        return super().im2col(x, out, kernel, stride, dilation)

    # numba's kernels where it imports; the portable forms otherwise
    def max_pool(self, x, kernel, stride, out_hw, relu=False):
        if not _numba.fused():
            return super().max_pool(x, kernel, stride, out_hw, relu)
        return _numba.max_pool(x, kernel, stride, out_hw, relu)

    def max_pool_backward(self, dy, saved, kernel, stride, padded_hw, disjoint, covers):
        if not _numba.fused():
            return super().max_pool_backward(dy, saved, kernel, stride, padded_hw, disjoint, covers)
        return _numba.max_pool_backward(dy, saved, kernel, stride, padded_hw, disjoint, covers)

    # below ~4096 elements numba's call costs more than the three NumPy passes it saves (3.6
    # against 2.9 us at 1024; 6.5 against 9.9 at 16384); forward and backward of one call see
    # one size, so both take the same form
    _RELU_KERNEL_MIN = 4096

    def relu(self, x):
        if x.size < self._RELU_KERNEL_MIN or not _numba.fused():
            mask = (x > 0).astype(x.dtype)  # the portable form without the namespace's astype wrapper
            return x * mask, mask
        return _numba.relu(x), x

    def relu_backward(self, dy, saved):
        if dy.size < self._RELU_KERNEL_MIN or not _numba.fused():
            return dy * saved  # the portable form's product with the 0/1 mask
        return _numba.relu_backward(dy, saved)

    def lstm_scan(self, xw, h, c, u, scale2):
        if not _numba.fused():
            return super().lstm_scan(xw, h, c, u, scale2)
        hs, final, saved = _numba.lstm_scan(xw, h, c, u, self._rows)
        return hs, final, (saved, scale2)

    def lstm_scan_back(self, saved, dhs, dh, dc, u_t):
        if not _numba.fused():
            return super().lstm_scan_back(saved, dhs, dh, dc, u_t)
        saved, scale2 = saved
        return _numba.lstm_scan_back(saved, dhs, dh, dc, u_t, scale2, self._rows)

    def gru_scan(self, xw, h, u, bh):
        if not _numba.fused():
            return super().gru_scan(xw, h, u, bh)
        return _numba.gru_scan(xw, h, u, bh, self._rows)

    def gru_scan_back(self, saved, dhs, dh, u_t):
        if not _numba.fused():
            return super().gru_scan_back(saved, dhs, dh, u_t)
        return _numba.gru_scan_back(saved, dhs, dh, u_t, self._rows)

    def layer_norm(self, x, gamma, beta, epsilon):
        if not _numba.fused() or not isinstance(x, numpy.ndarray) or x.ndim < 1 or x.size == 0 \
                or x.dtype.kind != "f":
            return super().layer_norm(x, gamma, beta, epsilon)
        return _numba.layer_norm(x, gamma, beta, epsilon)

    def layer_norm_backward(self, dy, saved, gamma, need_dx=True):
        if not need_dx or not _numba.fused() or dy.size == 0 or not _contiguous(*saved) or saved[1].shape[-1] != 1:
            return super().layer_norm_backward(dy, saved, gamma, need_dx)
        _, dgamma, dbeta = super().layer_norm_backward(dy, saved, gamma, need_dx=False)
        return _numba.layer_norm_backward(dy, saved, gamma), dgamma, dbeta

    def gelu(self, x, approximate):
        if approximate != "tanh" or x.dtype != numpy.float32 or not _numba.fused():
            return super().gelu(x, approximate)
        return _numba.gelu_tanh32(x)

    def gelu_backward(self, dy, saved, approximate):
        if approximate != "tanh" or saved[0].dtype != numpy.float32 or not _numba.fused():
            return super().gelu_backward(dy, saved, approximate)
        return _numba.gelu_tanh_backward32(dy, saved)

    def masked_softmax(self, s, keep, empty_rows):
        if not _numba.fused() or s.dtype != numpy.float32 or not _contiguous(s) or s.ndim != 4 or not (
                keep is None or (_contiguous(s, keep) and keep.shape[1] == 1 and keep.shape[2:] == s.shape[2:]
                                 and keep.shape[0] in (1, s.shape[0]))):
            return super().masked_softmax(s, keep, empty_rows)
        return _numba.masked_softmax(s, keep)

    def softmax_backward(self, p, dp):
        if not _numba.fused() or not _contiguous(p, dp) or p.shape != dp.shape:
            return super().softmax_backward(p, dp)
        return _numba.softmax_backward(p, dp)

    def adam_step(self, w, g, m, v, lr_t, eps_t, beta_1, beta_2):
        if not _numba.fused() or not _contiguous(w, g, m, v):
            return super().adam_step(w, g, m, v, lr_t, eps_t, beta_1, beta_2)
        return _numba.adam(w, g, m, v, lr_t, eps_t, beta_1, beta_2)

    def rmsprop_step(self, w, g, v, lr, rho, eps):
        if not _numba.fused() or not _contiguous(w, g, v):
            return super().rmsprop_step(w, g, v, lr, rho, eps)
        return _numba.rmsprop(w, g, v, lr, rho, eps)

    def momentum_step(self, w, g, b, lr, momentum, nesterov):
        if not _numba.fused() or not _contiguous(w, g, b):
            return super().momentum_step(w, g, b, lr, momentum, nesterov)
        return _numba.momentum(w, g, b, lr, momentum, nesterov)

    def col2im(self, dcols, kernel, stride, dilation, padded_hw):
        if not _numba.fused():
            return super().col2im(dcols, kernel, stride, dilation, padded_hw)
        return _numba.col2im(dcols, kernel, stride, dilation, padded_hw)

    def random_uniform(self, seed):
        rng = numpy.random.default_rng(seed)
        return lambda shape, dtype: rng.random(shape, dtype=dtype)  # float32 drawn as such


def _contiguous(*arrays):
    """The kernels update in place through flat views: C-contiguous arrays of one dtype."""
    return all(isinstance(a, numpy.ndarray) and a.flags.c_contiguous and a.dtype == arrays[0].dtype
               for a in arrays)


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
