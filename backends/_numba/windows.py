"""Kernels over the windows of (N, H, W, C) images: max pooling and its backward, col2im.

Each does in one pass what the portable form does in several NumPy calls (a stack of window
slices, a reduction, comparisons, a first-maximum pass and a scatter; zeros, then one add per
kernel offset). Plain loops, innermost over contiguous channels so that LLVM vectorizes them.
"""

from __future__ import annotations

import numpy
from numba import prange

from .loader import for_work, jit


def index_dtype(values):
    """The integer dtype of ``values``'s width, for the offset of each window's first maximum:
    a uint8 index beside float32 values keeps LLVM from vectorizing the loop."""
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
    for_work(_max_pool, y.size * kernel[0] * kernel[1])(x, kernel[0], kernel[1], stride[0], stride[1], relu, y, first)
    return y, first


def max_pool_backward(dy, first, kernel, stride, padded_hw, disjoint, covers):
    """The gradient for the (N, Hp, Wp, C) input of ``max_pool``: each window's ``dy`` at its
    first maximum, summed where windows overlap. Disjoint windows just write; where they also
    cover the input, every element once, onto uninitialised memory."""
    dy = numpy.ascontiguousarray(dy)
    make = numpy.empty if covers else numpy.zeros
    dx = make((dy.shape[0],) + tuple(padded_hw) + (dy.shape[3],), dtype=dy.dtype)
    for_work(_max_pool_backward, dx.size)(dy, first, kernel[0], kernel[1], stride[0], stride[1], not disjoint, dx)
    return dx


def col2im(dcols, kernel, stride, dilation, padded_hw):
    """Sum ``dcols`` (N, OH, OW, kh * kw * C) into a new (N, Hp, Wp, C) array, each window's
    columns onto the pixels they were copied from."""
    dcols = numpy.ascontiguousarray(dcols)
    n, c = dcols.shape[0], dcols.shape[3] // (kernel[0] * kernel[1])
    dx = numpy.empty((n,) + tuple(padded_hw) + (c,), dtype=dcols.dtype)
    for_work(_col2im, dcols.size)(dcols, kernel[0], kernel[1], stride[0], stride[1], dilation[0], dilation[1], dx)
    return dx


# -- the kernels ------------------------------------------------------------------------------

@jit
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


@jit
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


@jit
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
