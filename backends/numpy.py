"""NumPy on the CPU, through array-api-compat's namespace."""

from __future__ import annotations

import functools
import math
import sys

import numpy

from ..errors import ArgumentError
from . import _numba
from ._base import Backend, Status, consecutive_views, numpy_like_im2col
from ._host_memory import keep_freed_memory
from ._rows import BLAS_ONE_THREAD, ONE_THREAD, RowThreads, allowed_threads

PRIORITY = 10


def probe() -> Status:
    import array_api_compat

    versions = {"numpy": numpy.__version__, "array-api-compat": array_api_compat.__version__}
    numba = _numba.version()
    if numba:
        versions["numba"] = numba
    note = "" if numba else 'no fused kernels: numba is not installed (pip install "xdl[fast]")'
    return Status("numpy", True, note, versions, "cpu", PRIORITY)


#: the least elements for which ReLU runs its kernel: below, numba's call costs more than the
#: NumPy passes it saves; forward and backward of one call see one size, so both take one form
_RELU_KERNEL_MIN = 4096


def fused(condition=None, otherwise=None):
    """Decorate a hook written as its kernel form: the hook runs that form where numba's kernels
    run here and ``condition``, called with the hook's arguments but ``self``, holds (dtype,
    contiguity, shapes); else ``otherwise(self, ...)``, by default ``Backend``'s portable method
    of the same name. The one place the adapter chooses between a kernel and the portable form;
    the condition comes first, so that a call no kernel could take does not import numba."""
    def wrap(kernel_form):
        portable = otherwise or getattr(Backend, kernel_form.__name__)

        @functools.wraps(kernel_form)
        def hook(self, *args, **kwargs):
            if (condition is None or condition(*args, **kwargs)) and _numba.usable():
                return kernel_form(self, *args, **kwargs)
            return portable(self, *args, **kwargs)

        return hook

    return wrap


class NumpyBackend(Backend):
    """``sum_rows``: the namespace's sum over axis 0 pays wrapper and reduction costs that a
    GEMV with a ones vector does not."""

    def __init__(self, *args):
        super().__init__(*args)
        self._ones = {}
        self._rows = RowThreads(allowed_threads())

    def batched_matmul(self, a, b):
        """Many small products (attention's heads): OpenBLAS splits each across its threads
        and gains nothing. Here row blocks small enough for OpenBLAS to run on the calling
        thread, and the stack split between threads of our own."""
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

    def matmul_t(self, a, b):
        """OpenBLAS spreads a product with few outputs summed over many rows (a first
        convolution's weight gradient: 10 x 32 outputs over 43,264 rows) badly over its threads:
        such a product runs here as blocks of rows small enough for one thread, summed."""
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] * b.shape[1] > _SKINNY_OUTPUTS:
            return super().matmul_t(a, b)
        rows = _SKINNY_BLOCK // max(1, a.shape[1] * b.shape[1])
        if a.shape[0] < 2 * rows:
            return super().matmul_t(a, b)
        out = a[:rows].T @ b[:rows]
        for lo in range(rows, a.shape[0], rows):
            out += a[lo:lo + rows].T @ b[lo:lo + rows]
        return out

    def sum_rows(self, x):
        return self._ones_for(x) @ x

    def views(self, flat, shapes):
        return consecutive_views(flat, shapes, lambda part, shape: part.reshape(shape))

    def matmul_into(self, a, b, out, add=False):
        if add:
            out += a @ b
        else:
            numpy.matmul(a, b, out=out)

    def sum_rows_into(self, x, out, add=False):
        if add:
            out += self.sum_rows(x)
        else:
            numpy.matmul(self._ones_for(x), x, out=out)

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

    # numba's kernels where they run here (see ``fused``); Backend's portable forms otherwise
    @fused()
    def max_pool(self, x, kernel, stride, out_hw):
        return _numba.windows.max_pool(x, kernel, stride, out_hw)

    @fused()
    def relu_max_pool(self, x, kernel, stride, out_hw):
        return _numba.windows.max_pool(x, kernel, stride, out_hw, relu=True)

    @fused()
    def max_pool_backward(self, dy, saved, kernel, stride, padded_hw, disjoint, covers):
        return _numba.windows.max_pool_backward(dy, saved, kernel, stride, padded_hw, disjoint, covers)

    @fused(lambda dy, saved, pool, conv, x, weights, *_: _routes(dy, saved, conv, x, weights))
    def pooled_conv_backward(self, dy, saved, pool, conv, x, weights, use_bias, need_dx, dense):
        return _numba.windows.pooled_conv_backward(dy, saved, pool, conv, x, weights, use_bias, need_dx, self._rows)

    # ReLU runs between every two layers, on small arrays too: the size decides first, inline,
    # since a call through ``fused`` costs as much as a small array's passes
    def relu(self, x):
        if x.size >= _RELU_KERNEL_MIN:
            return self._relu_kernel(x)
        mask = (x > 0).astype(x.dtype)  # as _relu_mask, inline: this runs after every small layer
        return x * mask, mask

    def relu_backward(self, dy, saved):
        return dy * saved if dy.size < _RELU_KERNEL_MIN else self._relu_backward_kernel(dy, saved)

    @fused(otherwise=lambda self, x: _relu_mask(x))
    def _relu_kernel(self, x):
        return _numba.elementwise.relu(x), x

    @fused(otherwise=Backend.relu_backward)
    def _relu_backward_kernel(self, dy, saved):
        return _numba.elementwise.relu_backward(dy, saved)

    @fused()
    def lstm_scan(self, xw, h, c, u, scale2):
        hs, final, saved = _numba.lstm.lstm_scan(xw, h, c, u, self._rows)
        return hs, final, (saved, scale2)

    @fused()
    def lstm_scan_back(self, saved, dhs, dh, dc, u_t):
        saved, scale2 = saved
        return _numba.lstm.lstm_scan_back(saved, dhs, dh, dc, u_t, scale2, self._rows)

    @fused()
    def gru_scan(self, xw, h, u, bh):
        return _numba.gru.gru_scan(xw, h, u, bh, self._rows)

    @fused()
    def gru_scan_back(self, saved, dhs, dh, u_t):
        return _numba.gru.gru_scan_back(saved, dhs, dh, u_t, self._rows)

    @fused(lambda x, *_: isinstance(x, numpy.ndarray) and x.ndim >= 1 and x.size != 0 and x.dtype.kind == "f")
    def layer_norm(self, x, gamma, beta, epsilon):
        return _numba.softmax_norms.layer_norm(x, gamma, beta, epsilon)

    @fused(lambda dy, saved, gamma, need_dx=True: need_dx and dy.size != 0 and _contiguous(*saved)
           and saved[1].shape[-1] == 1)
    def layer_norm_backward(self, dy, saved, gamma, need_dx=True):
        _, dgamma, dbeta = super().layer_norm_backward(dy, saved, gamma, need_dx=False)
        return _numba.softmax_norms.layer_norm_backward(dy, saved, gamma), dgamma, dbeta

    @fused(lambda x, approximate: approximate == "tanh" and x.dtype == numpy.float32)
    def gelu(self, x, approximate):
        return _numba.elementwise.gelu_tanh32(x)

    @fused(lambda dy, saved, approximate: approximate == "tanh" and saved[0].dtype == numpy.float32)
    def gelu_backward(self, dy, saved, approximate):
        return _numba.elementwise.gelu_tanh_backward32(dy, saved)

    @fused(lambda s, keep, empty_rows: _softmax_fits(s, keep))
    def masked_softmax(self, s, keep, empty_rows):
        return _numba.softmax_norms.masked_softmax(s, keep)

    @fused(lambda p, dp: _contiguous(p, dp) and p.shape == dp.shape)
    def softmax_backward(self, p, dp):
        return _numba.softmax_norms.softmax_backward(p, dp)

    def attention(self, q, k, v, mask, causal, scale, offset=0):
        """Attention whose scores are few (``_WHOLE_SCORES_MOST``: decoding a token, short
        sequences) formed whole, as ``batched_matmul`` and ``masked_softmax`` (fewer, larger
        calls; their memory bounded all the same); else blocked, as numba's kernels
        (``_numba.flash``) on threads of our own where they run here, the portable form
        otherwise. ``saved`` says which form made it, for the backward."""
        n, h, tq, _ = q.shape
        if isinstance(q, numpy.ndarray) and n * h * tq * k.shape[2] <= _WHOLE_SCORES_MOST:
            return self._whole_attention(q, k, v, mask, causal, scale, offset)
        if _flash_fits(q, k, v, mask) and _numba.usable() and _numba.blas():
            flash = _numba.flash
            o, lse = flash.forward(q, k, v, mask, causal, scale, offset, self._flash_rows(q, k))
            return o, (flash, (q, k, v, o, lse, mask, causal, scale, offset))
        o, saved = super().attention(q, k, v, mask, causal, scale, offset)
        return o, (None, saved)

    def attention_backward(self, do, saved):
        flash, saved = saved
        if flash is None:
            return super().attention_backward(do, saved)
        if flash == "whole":
            q, k, v, p, scale = saved
            dv = self.batched_matmul(p.transpose(0, 1, 3, 2), do)
            ds = self.softmax_backward(p, self.batched_matmul(do, v.transpose(0, 1, 3, 2)))
            return self.batched_matmul(ds, k) * scale, self.batched_matmul(ds.transpose(0, 1, 3, 2), q) * scale, dv
        q, k = saved[0], saved[1]
        return flash.backward(numpy.asarray(do, dtype=q.dtype), *saved, self._flash_rows(q, k))

    def _whole_attention(self, q, k, v, mask, causal, scale, offset):
        tq, tk = q.shape[2], k.shape[2]
        keep = None if mask is None else mask[:, None]
        if causal and offset < tk - 1:  # else every key is at or before every query's position
            tri = (numpy.arange(tk)[None, :] <= numpy.arange(offset, offset + tq)[:, None]).astype(q.dtype)
            keep = tri[None, None] if keep is None else keep * tri
        p = self.masked_softmax(self.batched_matmul(q * scale, k.transpose(0, 1, 3, 2)), keep, mask is not None)
        return self.batched_matmul(p, v), ("whole", (q, k, v, p, scale))

    def _flash_rows(self, q, k):
        """The threads for attention's heads: one where the work is too small to pay a handoff."""
        n, h, tq, d = q.shape
        return self._rows if n * h * tq * k.shape[2] * d >= _FLASH_THREADED_MIN else ONE_THREAD

    @fused(lambda w, g, m, v, *_: _contiguous(w, g, m, v))
    def adam_step(self, w, g, m, v, lr_t, eps_t, beta_1, beta_2):
        return _numba.optimizers.adam(w, g, m, v, lr_t, eps_t, beta_1, beta_2)

    @fused(lambda w, g, v, *_: _contiguous(w, g, v))
    def rmsprop_step(self, w, g, v, lr, rho, eps):
        return _numba.optimizers.rmsprop(w, g, v, lr, rho, eps)

    @fused(lambda w, g, b, *_: _contiguous(w, g, b))
    def momentum_step(self, w, g, b, lr, momentum, nesterov):
        return _numba.optimizers.momentum(w, g, b, lr, momentum, nesterov)

    @fused()
    def col2im(self, dcols, kernel, stride, dilation, padded_hw):
        return _numba.windows.col2im(dcols, kernel, stride, dilation, padded_hw)

    def random_uniform(self, seed):
        rng = numpy.random.default_rng(seed)
        return lambda shape, dtype: rng.random(shape, dtype=dtype)  # float32 drawn as such


def _relu_mask(x):
    """ReLU's portable form, ``x * (x > 0)``, without the namespace's ``astype`` wrapper."""
    mask = (x > 0).astype(x.dtype)
    return x * mask, mask


#: the most scores (N * H * Tq * Tk) for which attention forms them whole: 256 kB in float32, a
#: token decoded against 16k cached keys; the blocked kernels' overhead (a few BLAS calls and
#: copies a head) is then most of their time
_WHOLE_SCORES_MOST = 1 << 16
#: the least multiply-adds of one attention call (N * H * Tq * Tk * D) split between threads:
#: a token decoded with the cache is far less, and handing it to a thread costs more than it runs
_FLASH_THREADED_MIN = 1 << 20


def _flash_fits(q, k, v, mask):
    """The attention kernels' arrays: NumPy float32 or float64 of one dtype, (N, H, T, D) with any
    strides, a mask None or (N, Tq, Tk) of the same dtype."""
    arrays = (q, k, v) if mask is None else (q, k, v, mask)
    return (all(isinstance(a, numpy.ndarray) and a.dtype == q.dtype for a in arrays)
            and q.dtype in (numpy.float32, numpy.float64) and q.ndim == k.ndim == v.ndim == 4
            and (mask is None or (mask.ndim == 3 and mask.shape == (q.shape[0], q.shape[2], k.shape[2]))))


def _contiguous(*arrays):
    """The kernels update in place through flat views: C-contiguous arrays of one dtype."""
    return all(isinstance(a, numpy.ndarray) and a.flags.c_contiguous and a.dtype == arrays[0].dtype
               for a in arrays)


def _softmax_fits(s, keep):
    """The softmax kernel's layout: C-contiguous float32 (N, H, Tq, Tk) scores and no mask, or
    a C-contiguous one of shape (N or 1, 1, Tq, Tk)."""
    return s.dtype == numpy.float32 and _contiguous(s) and s.ndim == 4 and (
        keep is None or (_contiguous(s, keep) and keep.shape[1] == 1 and keep.shape[2:] == s.shape[2:]
                         and keep.shape[0] in (1, s.shape[0])))


def create(device=None) -> Backend:
    import array_api_compat.numpy as xp

    if device not in (None, "cpu"):
        raise ArgumentError(f"numpy runs on 'cpu' only, not {device!r}")
    keep_freed_memory()
    return NumpyBackend("numpy", xp, "cpu", sys.modules[__name__])


def is_array(x) -> bool:
    # reductions return NumPy scalars; strings and objects are data to convert, not arrays
    return isinstance(x, (numpy.ndarray, numpy.generic)) and x.dtype.kind in "biufc"


def to_numpy(x, copy=False):
    return numpy.array(x, copy=True) if copy else numpy.asarray(x)


#: ``matmul_t`` sums products of at most this many outputs in blocks of rows of about
#: ``_SKINNY_BLOCK`` multiply-adds each (benchmarks/README.md: 10 x 32 outputs over 43,264
#: rows, 0.67 ms in one product, 0.30 in blocks of 2,048 rows, 0.76 in blocks of 4,096)
_SKINNY_OUTPUTS, _SKINNY_BLOCK = 1024, 1 << 19


#: the shortest row of a window (kw * C_in values) for which the convolution under a max pooling
#: sends each pooled gradient to its one output (``pooled_conv_backward``): shorter rows (a
#: first layer's few channels) cost more per value than the dense products
_ROUTED_ROW_MIN = 16


def _routes(dy, saved, conv, x, weights):
    """Whether ``pooled_conv_backward``'s kernel takes the call: ``saved`` from numba's
    ``max_pool`` (an array of offsets), float32 or float64, an undilated width and window rows
    long enough."""
    return (isinstance(saved, numpy.ndarray) and isinstance(x, numpy.ndarray) and x.dtype in (numpy.float32, numpy.float64)
            and weights.dtype == dy.dtype == x.dtype and conv.dilation[1] == 1
            and conv.kernel[1] * x.shape[-1] >= _ROUTED_ROW_MIN)
