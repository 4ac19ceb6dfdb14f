"""Kernels over the rows of a matrix: attention's masked softmax and its backward, LayerNorm
and its backward, each row's passes while it is in cache."""

from __future__ import annotations

import numpy
from numba import prange

from .loader import for_work, jit


def masked_softmax(s, keep):
    """``Backend.masked_softmax`` of C-contiguous float32 (N, H, Tq, Tk) scores, in place;
    ``keep`` None or C-contiguous (N or 1, 1, Tq, Tk). A row keeping no key gives zeros."""
    n, heads, tq, tk = s.shape
    rows = s.reshape(-1, tk)
    masked = keep is not None
    keep_rows = keep.reshape(-1, tk) if masked else rows[:1]  # unread without a mask
    nk = keep.shape[0] if masked else 1
    for_work(_masked_softmax32, s.size)(rows, keep_rows, masked, heads * tq, tq, nk)
    return s


def softmax_backward(p, dp):
    tk = p.shape[-1]
    for_work(_softmax_backward, p.size)(p.reshape(-1, tk), dp.reshape(-1, tk))
    return dp


def layer_norm(x, gamma, beta, epsilon):
    """``Backend.layer_norm`` in one pass over each row."""
    x = numpy.ascontiguousarray(x)
    d = x.shape[-1]
    y, xhat = numpy.empty_like(x), numpy.empty_like(x)
    inv = numpy.empty(x.shape[:-1] + (1,), dtype=x.dtype)
    for_work(_layer_norm, x.size)(x.reshape(-1, d), numpy.ascontiguousarray(gamma, dtype=x.dtype),
                                  numpy.ascontiguousarray(beta, dtype=x.dtype), x.dtype.type(epsilon),
                                  y.reshape(-1, d), xhat.reshape(-1, d), inv.reshape(-1))
    return y, (xhat, inv)


def layer_norm_backward(dy, saved, gamma):
    """dx of ``layer_norm``, one pass over each row."""
    xhat, inv = saved
    d = xhat.shape[-1]
    dy = numpy.ascontiguousarray(dy, dtype=xhat.dtype)
    dx = numpy.empty_like(dy)
    for_work(_layer_norm_backward, dy.size)(dy.reshape(-1, d), xhat.reshape(-1, d), inv.reshape(-1),
                                            numpy.ascontiguousarray(gamma, dtype=xhat.dtype), dx.reshape(-1, d))
    return dx


# -- the kernels ------------------------------------------------------------------------------

@jit
def _masked_softmax32(s, keep, masked, per_image, tq, nk):
    """Rows of scores ``s`` (R, Tk), R = N * H * Tq, softmaxed in place; row r reads row
    ``(r // per_image % nk) * tq + r % tq`` of ``keep`` (its image's mask, or the one shared).
    The exp is arithmetic only, so that its loop vectorizes (libm's is one call per element);
    rows in blocks, each row's passes in cache, the mask applied as a product, not a branch.
    Below exp(-87) the exponential stays at exp(-87) rather than 0, far below any weight that
    counts."""
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


@jit
def _softmax_backward(p, dp):
    rows, tk = p.shape
    for r in prange(rows):
        d = p.dtype.type(0)
        for j in range(tk):
            d += dp[r, j] * p[r, j]
        for j in range(tk):
            dp[r, j] = (dp[r, j] - d) * p[r, j]


@jit
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


@jit
def _row_dot(a, b, r):
    """Row ``r`` of ``a`` dotted with row ``r`` of ``b``, summed as ``_row_sum`` sums (which is
    a loop of its own, not this with a row of ones: that would read a second stream)."""
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


@jit
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


@jit
def _layer_norm_backward(dy, xhat, inv, gamma, dx):
    rows, d = dy.shape
    for r in prange(rows):
        for j in range(d):
            dx[r, j] = dy[r, j] * gamma[j]
        mean_d = _row_sum(dx, r) / d
        mean_dx = _row_dot(dx, xhat, r) / d
        for j in range(d):
            dx[r, j] = (dx[r, j] - mean_d - xhat[r, j] * mean_dx) * inv[r]
