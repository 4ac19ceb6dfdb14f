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
    2 x 2 pooling (less where ReLU gave none), not from the zeros between. A window is read as
    kh runs of kw * C_in values of ``x``'s rows: the width must not be dilated. The images are
    split between ``rows``'s threads (``backends/_rows.RowThreads``), each adding its own weight
    gradients; ``dx`` is None unless ``need_dx``."""
    n, _, wp, c_in = x.shape
    kh, kw, _, c_out = w.shape
    (out_h, out_w), (sh, sw) = conv.out_hw, conv.stride
    dy, first = numpy.ascontiguousarray(dy), numpy.ascontiguousarray(first)
    src = numpy.ascontiguousarray(x).reshape(n, -1)
    w_t = numpy.ascontiguousarray(numpy.moveaxis(w, 3, 0)).reshape(c_out, kh, kw * c_in)
    dx = numpy.zeros_like(x) if need_dx else numpy.empty((n, 0, 0, c_in), dtype=x.dtype)
    ranges = rows.ranges(n)
    parts = [(numpy.zeros_like(w_t), numpy.zeros(c_out, dtype=x.dtype)) for _ in ranges]
    (ph, pw), (qh, qw), (top, left) = pool.kernel, pool.stride, (pool.pads[0][0], pool.pads[1][0])
    row = wp * c_in
    geometry = numpy.array([ph, pw, qh, qw, top, left, out_h, out_w, sh * row, sw * c_in, conv.dilation[0] * row],
                           dtype=numpy.int64)

    def part(lo, hi):
        dw, db = parts[ranges.index((lo, hi))]
        _pooled_conv_backward(dy, first, src, w_t, geometry, lo, hi, need_dx, dw, db, dx.reshape(n, -1))

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
def _pooled_conv_backward(dy, first, src, w, geometry, lo, hi, need_dx, dw, db, dx):
    # src, dx: (N, Hp * Wp * C_in), each image's pixels: the window of output (oi, oj) is
    # ``pieces`` (kh) runs of ``run`` (kw * C_in) values from oi * a_row + oj * a_col, ``step``
    # apart; w, dw: (C_out, kh, kw * C_in), each output channel's kernel in those runs.
    # One-dimensional slices: LLVM vectorizes their loops. The sums go four terms at a time into
    # a run, so that it is read and written once for four pooled values, not once for each:
    # into dw, an image's outputs that a channel's pooled values came from; into dx, the
    # channels whose values came from one output.
    pooled_h, pooled_w, c_out = dy.shape[1], dy.shape[2], dy.shape[3]
    ph, pw, qh, qw, top, left = geometry[0], geometry[1], geometry[2], geometry[3], geometry[4], geometry[5]
    out_h, out_w, a_row, a_col, step = geometry[6], geometry[7], geometry[8], geometry[9], geometry[10]
    pieces, run = w.shape[1], w.shape[2]
    window = ph * pw
    at = numpy.empty((c_out, pooled_h * pooled_w), dtype=numpy.int64)  # by channel: its outputs' offsets
    gs = numpy.empty((c_out, pooled_h * pooled_w), dtype=dy.dtype)  # and the gradients they take
    count = numpy.empty(c_out, dtype=numpy.int64)
    chans = numpy.empty((window, c_out), dtype=numpy.int64)  # by output of a window: the channels from it
    taken = numpy.empty(window, dtype=numpy.int64)
    for b in range(lo, hi):
        sb, dxb = src[b], dx[b]
        count[:] = 0
        for i in range(pooled_h):
            for j in range(pooled_w):
                picks, grads = first[b, i, j], dy[b, i, j]
                taken[:] = 0
                for c in range(c_out):
                    pick = picks[c]
                    if pick == window:  # NaN maximum, or ReLU's gradient 0
                        continue
                    pick_i = pick // pw
                    oi = i * qh + pick_i - top
                    oj = j * qw + (pick - pick_i * pw) - left
                    if oi < 0 or oi >= out_h or oj < 0 or oj >= out_w:  # a maximum on the padding
                        continue
                    k = count[c]
                    at[c, k] = oi * a_row + oj * a_col
                    gs[c, k] = grads[c]
                    count[c] = k + 1
                    db[c] += grads[c]
                    chans[pick, taken[pick]] = c
                    taken[pick] += 1
                if not need_dx:
                    continue
                for q in range(window):
                    m = taken[q]
                    if m == 0:
                        continue
                    q_i = q // pw
                    base = (i * qh + q_i - top) * a_row + (j * qw + q - q_i * pw - left) * a_col
                    cs = chans[q]
                    for piece in range(pieces):
                        a = base + piece * step
                        dxs = dxb[a:a + run]
                        k = 0
                        while k + 4 <= m:
                            c0, c1, c2, c3 = cs[k], cs[k + 1], cs[k + 2], cs[k + 3]
                            g0, g1, g2, g3 = grads[c0], grads[c1], grads[c2], grads[c3]
                            w0, w1, w2, w3 = w[c0, piece], w[c1, piece], w[c2, piece], w[c3, piece]
                            for t in range(run):
                                dxs[t] += g0 * w0[t] + g1 * w1[t] + g2 * w2[t] + g3 * w3[t]
                            k += 4
                        while k < m:
                            g0, w0 = grads[cs[k]], w[cs[k], piece]
                            for t in range(run):
                                dxs[t] += g0 * w0[t]
                            k += 1
        for c in range(c_out):
            m = count[c]
            for piece in range(pieces):
                dws, shift = dw[c, piece], piece * step
                k = 0
                while k + 4 <= m:
                    a0, a1, a2, a3 = at[c, k] + shift, at[c, k + 1] + shift, at[c, k + 2] + shift, at[c, k + 3] + shift
                    g0, g1, g2, g3 = gs[c, k], gs[c, k + 1], gs[c, k + 2], gs[c, k + 3]
                    x0, x1, x2, x3 = sb[a0:a0 + run], sb[a1:a1 + run], sb[a2:a2 + run], sb[a3:a3 + run]
                    for t in range(run):
                        dws[t] += g0 * x0[t] + g1 * x1[t] + g2 * x2[t] + g3 * x3[t]
                    k += 4
                while k < m:
                    a0, g0 = at[c, k] + shift, gs[c, k]
                    x0 = sb[a0:a0 + run]
                    for t in range(run):
                        dws[t] += g0 * x0[t]
                    k += 1
