"""Blocked attention for the NumPy backend: ``Backend.attention`` and its backward as kernels,
one call per group of a few of the N * H heads, the threads of ``_rows.RowThreads`` each taking
the next group when done with one (``_over_heads``).

The same algorithm as the portable form (backends/_flash.py), one head at a time: the head's
q (scaled), k and v copied once into contiguous scratch, then per (query block, key block)
the scores by one BLAS product (numba's ``np.dot``, SciPy's BLAS), the online softmax over
the block's rows while they are in cache, and the product with v. Blocks are at most
``BLAS_ONE_THREAD`` multiply-adds, so that BLAS runs each on the calling thread. The backward
runs over key blocks, each block's dk and dv summed in scratch, the head's dq in scratch too;
each pair's probabilities are recomputed from the per-row log-sum-exp. Memory: the output,
the log-sum-exp and per thread a few blocks and one head's rows, all linear in T.

float32's exponentials are the arithmetic of ``softmax_norms`` (vectorizing, a few ulp), other
dtypes' libm's. Scratch is allocated by NumPy, outside the kernels, so that tracemalloc counts it.
"""

from __future__ import annotations

import math

import numpy

from .._rows import BLAS_ONE_THREAD
from .loader import jit

#: block lengths, the longest tried: the key block as long as this (the forward: few
#: online-softmax rescalings, long rows for the vector units; the backward: less work lost to
#: the causal diagonal), the query block 64 or what ``BLAS_ONE_THREAD`` then allows. Measured at
#: D = 32 (one thread, fwd / bwd ms at T = 128, 512, 2048, PyTorch 5.7 / 11.4, 67 / 178, 652 /
#: 1717): forward (64, 128) 6.9, 70.6, 851 against (64, 64) 7.3, 75.3, 939 and (128, 64) 8.2,
#: 76.3, 951; backward (64, 64) 11.0, 106.7, 1371 against (64, 128) 12.9, 110.5, 1352; blocks
#: beyond ``BLAS_ONE_THREAD`` ((128, 128), (64, 256)) run BLAS's threads inside ours: 10-100x slower
KEY_BLOCK, BACKWARD_KEY_BLOCK, QUERY_BLOCK, SHORTEST_BLOCK = 128, 64, 64, 16


def block_sizes(tq, tk, dk, dv, key_block=None):
    """(bq, bk): each block's products (bq x bk x D) within ``BLAS_ONE_THREAD``. Fewer queries
    than a block (decoding: one new token) take key blocks as long as that allows: each
    product is a BLAS call, whose cost for so few rows is mostly the call's own."""
    d = max(dk, dv, 1)
    bk = KEY_BLOCK if key_block is None else key_block
    if tq < QUERY_BLOCK:
        bk = max(bk, BLAS_ONE_THREAD // (max(1, tq) * d))
    bk = min(tk, bk)
    while bk > SHORTEST_BLOCK and SHORTEST_BLOCK * bk * d > BLAS_ONE_THREAD:
        bk //= 2
    bq = min(tq, QUERY_BLOCK)
    while bq > SHORTEST_BLOCK and bq * bk * d > BLAS_ONE_THREAD:
        bq //= 2
    return max(1, bq), max(1, bk)


def _heads_in_place(a):
    """``(a as (N * H, T, D), True)`` where each head's rows are contiguous already (keys and
    values cached while decoding): the kernel then reads them where they are; else ``(a
    placeholder, False)``: it copies each head's rows, as it must for np.dot (permuted views).
    A head read once (one query block) costs as much to copy as to use."""
    if a.flags.c_contiguous:
        return a.reshape(a.shape[0] * a.shape[1], a.shape[2], a.shape[3]), True
    return _placeholder(a.dtype), False


def _masked_arg(mask, dtype):
    return (mask, True) if mask is not None else (_placeholder(dtype), False)


_PLACEHOLDERS = {}


def _placeholder(dtype):
    """A (1, 1, 1) array of ``dtype`` for an argument the kernel does not read: one per dtype."""
    a = _PLACEHOLDERS.get(dtype)
    if a is None:
        a = _PLACEHOLDERS[dtype] = numpy.zeros((1, 1, 1), dtype)
    return a


def forward(q, k, v, mask, causal, scale, offset, rows, blocks=None):
    """``(o, lse)``: o (N, H, Tq, Dv), a view of (N, Tq, H, Dv) memory (merging the heads is then
    free), and the per-row log-sum-exp (N, H, Tq)."""
    n, h, tq, dk = q.shape
    tk, dv = k.shape[2], v.shape[3]
    dtype = q.dtype
    bq, bk = blocks or block_sizes(tq, tk, dk, dv)
    o = numpy.empty((n, tq, h, dv), dtype)
    lse = numpy.empty((n, h, tq), dtype)
    mask, masked = _masked_arg(mask, dtype)
    (k3, k_direct), (v3, v_direct) = _heads_in_place(k), _heads_in_place(v)
    # one scratch buffer a thread, cut in the kernel: q's rows, k's and v's where copied, a block's
    # scores, its product with v, the accumulated output, four numbers per query row
    size = tq * dk + (0 if k_direct else tk * dk) + (0 if v_direct else tk * (dv + 1)) + bq * (bk + 2 * dv + 5)
    args = (q, k, v, k3, k_direct, v3, v_direct, mask, masked, causal, offset, dtype.type(scale))

    def part(heads):
        work, bits = numpy.empty(size, dtype), numpy.empty(bk, numpy.int32)
        for lo, hi in heads:
            _forward(*args, lo, hi, bq, bk, dtype == numpy.float32, o, lse, work, bits)

    _over_heads(part, n * h, rows)
    return o.transpose(0, 2, 1, 3), lse


def backward(do, q, k, v, o, lse, mask, causal, scale, offset, rows, blocks=None):
    """``(dq, dk, dv)``, each a view of (N, T, H, D) memory, of ``forward``'s ``o`` (the (N, Tq,
    H, Dv) array ``forward`` made) and ``lse``."""
    n, h, tq, dk = q.shape
    tk, dv = k.shape[2], v.shape[3]
    dtype = q.dtype
    bq, bk = blocks or block_sizes(tq, tk, dk, dv, BACKWARD_KEY_BLOCK)
    dq, dkk, dvv = (numpy.empty((n, t, h, d), dtype) for t, d in ((tq, dk), (tk, dk), (tk, dv)))
    mask, masked = _masked_arg(mask, dtype)
    fast = dtype == numpy.float32
    o = o.transpose(0, 2, 1, 3)  # back to the (N, Tq, H, Dv) memory's own order

    def part(heads):
        qh, kh, vh = numpy.empty((tq, dk), dtype), numpy.empty((tk, dk), dtype), numpy.empty((tk, dv), dtype)
        doh, dqh, d_rows = numpy.empty((tq, dv), dtype), numpy.empty((tq, dk), dtype), numpy.empty(tq, dtype)
        s, dp = numpy.empty(bq * bk, dtype), numpy.empty(bq * bk, dtype)
        t = numpy.empty(max(bq, bk) * max(dk, dv), dtype)
        dkb, dvb = numpy.empty((bk, dk), dtype), numpy.empty((bk, dv), dtype)
        bits = numpy.empty(bk, numpy.int32)
        for lo, hi in heads:
            _backward(do, q, k, v, o, lse, mask, masked, causal, offset, dtype.type(scale), lo, hi, bq, bk, fast,
                      dq, dkk, dvv, qh, kh, vh, doh, dqh, d_rows, s, dp, t, dkb, dvb, bits)

    _over_heads(part, n * h, rows)
    return tuple(a.transpose(0, 2, 1, 3) for a in (dq, dkk, dvv))


#: heads per kernel call when they are shared between threads: each thread takes the next
#: group when done with one, so that a thread slowed down (a core taken by another process)
#: takes fewer groups, and the other does not wait for it at the end
_HEADS_PER_CALL = 4


def _over_heads(part, count, rows):
    """Run ``part(groups)`` on each of ``rows``' threads, every one of them taking groups of heads
    from one shared sequence until none is left (one thread: all in one group)."""
    if rows.threads < 2:
        part([(0, count)])
        return
    step = max(1, min(_HEADS_PER_CALL, count // (2 * rows.threads)))
    groups = iter([(lo, min(lo + step, count)) for lo in range(0, count, step)])  # next() holds the GIL: no lock
    rows.run(lambda lo, hi: part(groups), rows.ranges(rows.threads))


# -- the kernels ------------------------------------------------------------------------------

@jit
def _exp_row(row, count, shift, fast, bits):
    """``row[:count] = exp(row[:count] - shift)`` (arguments <= 0, up to rounding). ``fast``
    (float32): ``softmax_norms``'s arithmetic, 2**n times a polynomial, vectorizing; clamped
    at exp(-87), far below any weight that counts (callers zero masked entries themselves)."""
    if not fast:
        for j in range(count):
            row[j] = math.exp(row[j] - shift)
        return
    f = numpy.float32
    two_n = bits.view(numpy.float32)
    one, zero, sh = f(1.0), f(0.0), f(shift)
    for j in range(count):
        x = min(max(row[j] - sh, f(-87.0)), zero)
        n = (x * f(1.4426950408889634) + f(12582912.0)) - f(12582912.0)
        t = x - n * f(0.693359375) - n * f(-2.12194440e-4)
        bits[j] = (numpy.int32(n) + numpy.int32(127)) << numpy.int32(23)
        row[j] = ((((f(1 / 720) * t + f(1 / 120)) * t + f(1 / 24)) * t + f(1 / 6)) * t + f(0.5)) * t * t + t + one
    for j in range(count):
        row[j] *= two_n[j]


@jit
def _row_max(row, count, start):
    """The largest of ``start`` and ``row[:count]``, in four running maxima (one waits on each compare)."""
    m0 = m1 = m2 = m3 = start
    for j in range(0, count - 3, 4):
        m0, m1 = max(m0, row[j]), max(m1, row[j + 1])
        m2, m3 = max(m2, row[j + 2]), max(m3, row[j + 3])
    top = max(max(m0, m1), max(m2, m3))
    for j in range(count - count % 4, count):
        top = max(top, row[j])
    return top


@jit
def _row_total(row, count):
    """The sum of ``row[:count]`` in four running sums."""
    t0 = t1 = t2 = t3 = row[0] * 0
    for j in range(0, count - 3, 4):
        t0 += row[j]
        t1 += row[j + 1]
        t2 += row[j + 2]
        t3 += row[j + 3]
    total = (t0 + t1) + (t2 + t3)
    for j in range(count - count % 4, count):
        total += row[j]
    return total


@jit
def _load_head(src, n, h, dst, factor):
    """``dst[:, :D] = src[n, h] * factor``: one head's (T, D) rows, contiguous."""
    for i in range(src.shape[2]):
        for d in range(src.shape[3]):
            dst[i, d] = src[n, h, i, d] * factor


@jit
def _allowed_count(causal, offset, i, j0, c):
    """How many of the keys j0 .. j0 + c - 1 query ``i`` may attend under the causal mask (a prefix)."""
    if not causal:
        return c
    return min(c, max(0, i + offset - j0 + 1))


@jit
def _forward(q, k, v, k3, k_direct, v3, v_direct, mask, masked, causal, offset, scale, lo, hi, bq, bk, fast, o, lse,
             work, bits):
    heads, tq, dk = q.shape[1], q.shape[2], q.shape[3]
    tk, dv = k.shape[2], v.shape[3]
    width = dv if v_direct else dv + 1  # copied v's rows have a 1 after them: p @ [v 1] sums the weights too
    qh, at = work[:tq * dk].reshape((tq, dk)), tq * dk
    kh_buf, at = work[at:at + (0 if k_direct else tk * dk)].reshape((0 if k_direct else tk, dk)), at + (
        0 if k_direct else tk * dk)
    vh_buf, at = work[at:at + (0 if v_direct else tk * (dv + 1))].reshape((0 if v_direct else tk, dv + 1)), at + (
        0 if v_direct else tk * (dv + 1))
    s_buf, at = work[at:at + bq * bk], at + bq * bk
    t_buf, at = work[at:at + bq * (dv + 1)], at + bq * (dv + 1)
    acc_buf, at = work[at:at + bq * dv], at + bq * dv
    m, l, alpha, sums = work[at:at + bq], work[at + bq:at + 2 * bq], work[at + 2 * bq:at + 3 * bq], work[
        at + 3 * bq:at + 4 * bq]
    one, zero = scale * 0 + 1, scale * 0
    inf = one / zero  # in the dtype of the arrays, as every scalar here
    ninf = -inf
    if not v_direct:
        for j in range(tk):
            vh_buf[j, dv] = one
    for b in range(lo, hi):
        n, h = b // heads, b % heads
        _load_head(q, n, h, qh, scale)
        if k_direct:
            kh = k3[b]
        else:
            _load_head(k, n, h, kh_buf, one)
            kh = kh_buf
        if v_direct:
            vh = v3[b]
        else:
            _load_head(v, n, h, vh_buf, one)
            vh = vh_buf
        for i0 in range(0, tq, bq):
            i1 = min(i0 + bq, tq)
            r = i1 - i0
            end = max(0, min(tk, i1 + offset)) if causal else tk
            acc = acc_buf[:r * dv].reshape((r, dv))
            for x in range(r):
                m[x], l[x] = ninf, zero
                for d in range(dv):
                    acc[x, d] = zero
            for j0 in range(0, end, bk):
                j1 = min(j0 + bk, end)
                c = j1 - j0
                s = s_buf[:r * c].reshape((r, c))
                numpy.dot(qh[i0:i1], kh[j0:j1].T, s)
                for x in range(r):
                    i, row = i0 + x, s[x]
                    lim = _allowed_count(causal, offset, i, j0, c)
                    if masked:
                        for y in range(lim):
                            if mask[n, i, j0 + y] == zero:
                                row[y] = ninf
                    m_new = _row_max(row, lim, m[x])
                    if m_new == ninf:  # no allowed key met yet: nothing to add
                        alpha[x], sums[x] = one, zero
                        for y in range(c):
                            row[y] = zero
                        continue
                    alpha[x] = math.exp(m[x] - m_new)
                    m[x] = m_new
                    _exp_row(row, lim, m_new, fast, bits)
                    for y in range(lim, c):
                        row[y] = zero
                    if masked:  # exp(-inf) is no exact 0 in the fast form
                        for y in range(lim):
                            if mask[n, i, j0 + y] == zero:
                                row[y] = zero
                    if v_direct:
                        sums[x] = _row_total(row, lim)
                t = t_buf[:r * width].reshape((r, width))
                numpy.dot(s, vh[j0:j1], t)  # p @ v (and the weights' sums in a last column)
                for x in range(r):
                    a = alpha[x]
                    l[x] = l[x] * a + (sums[x] if v_direct else t[x, dv])
                    for d in range(dv):
                        acc[x, d] = acc[x, d] * a + t[x, d]
            for x in range(r):
                i = i0 + x
                if l[x] > zero:
                    inv = one / l[x]
                    lse[n, h, i] = m[x] + math.log(l[x])
                else:  # a row left no key: zeros, and no weight in the backward
                    inv = zero
                    lse[n, h, i] = inf
                for d in range(dv):
                    o[n, i, h, d] = acc[x, d] * inv


@jit
def _backward(do, q, k, v, o, lse, mask, masked, causal, offset, scale, lo, hi, bq, bk, fast,
              dq, dk_out, dv_out, qh, kh, vh, doh, dqh, d_rows, s_buf, dp_buf, t_buf, dkb, dvb, bits):
    heads, tq, dk = q.shape[1], q.shape[2], q.shape[3]
    tk, dv = k.shape[2], v.shape[3]
    one, zero = scale * 0 + 1, scale * 0
    for b in range(lo, hi):
        n, h = b // heads, b % heads
        _load_head(q, n, h, qh, scale)
        _load_head(k, n, h, kh, one)
        _load_head(v, n, h, vh, one)
        _load_head(do, n, h, doh, one)
        for i in range(tq):
            total = zero
            for d in range(dv):
                total += doh[i, d] * o[n, i, h, d]
            d_rows[i] = total
            for d in range(dk):
                dqh[i, d] = zero
        for j0 in range(0, tk, bk):
            j1 = min(j0 + bk, tk)
            c = j1 - j0
            for y in range(c):
                for d in range(dk):
                    dkb[y, d] = zero
                for d in range(dv):
                    dvb[y, d] = zero
            first = 0
            if causal:  # the first query block with a query at or past key j0
                first = max(0, j0 - offset) // bq * bq
            for i0 in range(first, tq, bq):
                i1 = min(i0 + bq, tq)
                r = i1 - i0
                s = s_buf[:r * c].reshape((r, c))
                numpy.dot(qh[i0:i1], kh[j0:j1].T, s)
                for x in range(r):
                    i, row = i0 + x, s[x]
                    lim = _allowed_count(causal, offset, i, j0, c)
                    _exp_row(row, lim, lse[n, h, i], fast, bits)  # lse +inf (a row left no key): exp -> 0 or tiny
                    for y in range(lim, c):
                        row[y] = zero
                    if masked:
                        for y in range(lim):
                            if mask[n, i, j0 + y] == zero:
                                row[y] = zero
                dp = dp_buf[:r * c].reshape((r, c))
                numpy.dot(doh[i0:i1], vh[j0:j1].T, dp)
                tv = t_buf[:c * dv].reshape((c, dv))
                numpy.dot(s.T, doh[i0:i1], tv)  # dv += p^T dO
                for y in range(c):
                    for d in range(dv):
                        dvb[y, d] += tv[y, d]
                for x in range(r):  # dS = p * (dP - D)
                    di = d_rows[i0 + x]
                    for y in range(c):
                        dp[x, y] = s[x, y] * (dp[x, y] - di)
                tk_ = t_buf[:c * dk].reshape((c, dk))
                numpy.dot(dp.T, qh[i0:i1], tk_)  # dk += dS^T (q scale)
                for y in range(c):
                    for d in range(dk):
                        dkb[y, d] += tk_[y, d]
                tq_ = t_buf[:r * dk].reshape((r, dk))
                numpy.dot(dp, kh[j0:j1], tq_)  # dq += dS k (scaled once, below)
                for x in range(r):
                    for d in range(dk):
                        dqh[i0 + x, d] += tq_[x, d]
            for y in range(c):
                for d in range(dk):
                    dk_out[n, j0 + y, h, d] = dkb[y, d]
                for d in range(dv):
                    dv_out[n, j0 + y, h, d] = dvb[y, d]
        for i in range(tq):
            for d in range(dk):
                dq[n, i, h, d] = dqh[i, d] * scale
