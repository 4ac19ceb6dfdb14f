"""Kernels over the windows of (N, H, W, C) images: max pooling and its backward, col2im, and
the backward of a convolution whose output only a max pooling reads.

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


def pooled_conv_backward(dy, first, pool, conv, x, w, use_bias, need_dx, rows):
    """``(dw, db, dx)``, the gradients of a convolution (``conv``: its window geometry; ``x``
    its padded (N, Hp, Wp, C_in) input, ``w`` its (kh, kw, C_in, C_out) kernel) whose output
    fed a max pooling alone (``pool``: its geometry; ``first``, ``max_pool``'s offsets), from the
    pooling's ``dy``. Each of the pooled values sends its gradient to one output of the
    convolution: the gradients come from those outputs alone, about a quarter of them under
    2 x 2 pooling (less where ReLU gave none), not from the zeros between. The images are
    split between ``rows``'s threads (``backends/_rows.RowThreads``), each adding its own
    weight gradients; ``dx`` is None unless ``need_dx``. The width must not be dilated (a
    window's row is then one run of kw * C_in values)."""
    x = numpy.ascontiguousarray(x)
    n, hp, wp, c_in = x.shape
    kh, kw, _, c_out = w.shape
    w_t = numpy.ascontiguousarray(numpy.moveaxis(w, 3, 0)).reshape(c_out, kh, kw * c_in)
    dy, first = numpy.ascontiguousarray(dy), numpy.ascontiguousarray(first)
    dx = numpy.zeros_like(x) if need_dx else numpy.empty((n, 0, 0, c_in), dtype=x.dtype)
    ranges = rows.ranges(n)
    parts = [(numpy.zeros_like(w_t), numpy.zeros(c_out, dtype=x.dtype)) for _ in ranges]
    (ph, pw), (qh, qw), (top, left) = pool.kernel, pool.stride, (pool.pads[0][0], pool.pads[1][0])
    geometry = numpy.array([ph, pw, qh, qw, top, left, *conv.out_hw, *conv.stride, conv.dilation[0], wp * c_in, kw],
                           dtype=numpy.int64)

    def part(lo, hi):
        dw, db = parts[ranges.index((lo, hi))]
        _pooled_conv_backward(dy, first, x.reshape(n, -1), w_t, geometry, lo, hi, need_dx, dw, db,
                              dx.reshape(n, -1))

    rows.run(part, ranges)
    dw, db = parts[0]
    for more_dw, more_db in parts[1:]:
        dw += more_dw
        db += more_db
    dw = numpy.ascontiguousarray(numpy.moveaxis(dw.reshape(c_out, kh, kw, c_in), 0, 3))
    return dw, (db if use_bias else None), (dx if need_dx else None)


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


@jit
def _pooled_conv_backward(dy, first, x, w, geometry, lo, hi, need_dx, dw, db, dx):
    # x, dx: (N, Hp * Wp * C_in), each image's pixels; w, dw: (C_out, kh, kw * C_in), each
    # output channel's kernel, a row of a window (kw * C_in values) at a time. One-dimensional
    # slices: LLVM vectorizes their loops.
    pooled_h, pooled_w, c_out = dy.shape[1], dy.shape[2], dy.shape[3]
    ph, pw, qh, qw, top, left = geometry[0], geometry[1], geometry[2], geometry[3], geometry[4], geometry[5]
    out_h, out_w, sh, sw, dh, row = geometry[6], geometry[7], geometry[8], geometry[9], geometry[10], geometry[11]
    kh, run = w.shape[1], w.shape[2]
    c_in = run // (geometry[12])
    none = ph * pw
    for b in range(lo, hi):
        xb, dxb = x[b], dx[b]
        for i in range(pooled_h):
            for j in range(pooled_w):
                picks, grads = first[b, i, j], dy[b, i, j]
                for c in range(c_out):
                    pick = picks[c]
                    if pick == none:  # NaN maximum, or ReLU's gradient 0
                        continue
                    pick_i = pick // pw
                    oi = i * qh + pick_i - top
                    oj = j * qw + (pick - pick_i * pw) - left
                    if oi < 0 or oi >= out_h or oj < 0 or oj >= out_w:  # a maximum on the padding
                        continue
                    g = grads[c]
                    db[c] += g
                    for ki in range(kh):
                        at = (oi * sh + ki * dh) * row + oj * sw * c_in
                        xs, dws = xb[at:at + run], dw[c, ki]
                        for t in range(run):
                            dws[t] += g * xs[t]
                        if need_dx:
                            dxs, ws = dxb[at:at + run], w[c, ki]
                            for t in range(run):
                                dxs[t] += g * ws[t]
