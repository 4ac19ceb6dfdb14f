"""The LSTM's loop over time: per step one product (BLAS) and one pass over the gates; for
float32 the whole loop in one kernel per part of the batch, each part on a thread of its own
(``recurrent.loop_plan``). The float32 kernels take tanh from ``elementwise.tanh32``, whose
loops vectorize; the float64 ones leave it to NumPy (numba's, libm's, is scalar)."""

from __future__ import annotations

import numpy
from numba import prange

from .._rows import ONE_THREAD
from .elementwise import tanh32
from .loader import for_work, jit
from .recurrent import blocked_dot, contiguous_transpose, kernel_plan


def lstm_scan(xw, h, c, u, rows=ONE_THREAD):
    """``Backend.lstm_scan``: per step one product (BLAS) and one pass over the gates; for
    float32 the whole loop in one kernel per part of the batch (``recurrent.loop_plan``)."""
    xw = numpy.ascontiguousarray(xw)
    n, steps, width = xw.shape
    H = width // 4
    S = numpy.empty_like(xw)
    cs = numpy.empty((n, steps + 1, H), dtype=xw.dtype)
    tcs, hs = numpy.empty((n, steps, H), dtype=xw.dtype), numpy.empty((n, steps, H), dtype=xw.dtype)
    cs[:, 0] = c
    plan = kernel_plan(n, steps, xw.dtype, u, rows)
    if plan is not None:
        h = numpy.ascontiguousarray(h, dtype=xw.dtype)
        (ranges, blocks), loop = plan, _lstm_loop32

        def part(lo, hi):
            loop(xw[lo:hi], h[lo:hi], blocks, S[lo:hi], cs[lo:hi], tcs[lo:hi], hs[lo:hi])

        rows.run(part, ranges)
        return hs, (hs[:, steps - 1], cs[:, steps]), (S, cs, tcs)
    z = numpy.empty((n, width), dtype=xw.dtype)
    if xw.dtype == numpy.float32:  # the whole step but the product in one pass
        gates = for_work(_lstm_step32, n * width)
        for t in range(steps):
            numpy.matmul(h, u, out=z)
            gates(z, xw, t, S, cs, tcs, hs)
            h = hs[:, t]
        return hs, (h, cs[:, steps]), (S, cs, tcs)
    cell, hidden = for_work(_lstm_cell, n * width), for_work(_lstm_hidden, n * width)
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
    u_t = contiguous_transpose(u_t)
    n, steps, width = S.shape
    dz = numpy.empty_like(S)
    dh = numpy.array(dh, dtype=S.dtype, order="C")
    dc = numpy.array(dc, dtype=S.dtype, order="C")
    scale2 = numpy.ascontiguousarray(scale2, dtype=S.dtype)
    add = dhs is not None
    dhs = numpy.ascontiguousarray(dhs, dtype=S.dtype) if add else tcs  # tcs: any array of the type, unread
    plan = kernel_plan(n, steps, S.dtype, u_t, rows)
    if plan is not None:
        (ranges, blocks), loop, dh_first = plan, _lstm_loop_back32, numpy.empty_like(dh)

        def part(lo, hi):
            loop(dhs[lo:hi], add, dh[lo:hi], dc[lo:hi], blocks, S[lo:hi], cs[lo:hi], tcs[lo:hi], scale2, dz[lo:hi],
                 dh_first[lo:hi])

        rows.run(part, ranges)
        return dz, dh_first, dc
    back = for_work(_lstm_step_back, n * width)
    for t in reversed(range(steps)):
        if t < steps - 1:
            numpy.matmul(dz[:, t + 1], u_t, out=dh)
        back(dh, dhs, add, t, dc, S, cs, tcs, scale2, dz)
    return dz, dz[:, 0] @ u_t, dc


# -- the kernels ------------------------------------------------------------------------------

@jit
def _lstm_cell(s, c_prev, c_out):
    """c = f * c_prev + i * g from the gates' tanh values (the sigmoids' halved)."""
    n, H = c_prev.shape
    half = s.dtype.type(0.5)
    for b in prange(n):
        for j in range(H):
            i = half * s[b, j] + half
            f = half * s[b, H + j] + half
            c_out[b, j] = f * c_prev[b, j] + i * s[b, 3 * H + j]


@jit
def _lstm_step32(z, xw, t, S, cs, tcs, hs):
    """Step ``t`` of a float32 LSTM after its product ``z = h @ u``: the gates' tanh ``S[:, t]``,
    the cell state ``cs[:, t + 1]``, its tanh and the hidden state (``_lstm_cell`` and
    ``_lstm_hidden`` with the tanhs). Whole arrays and ``t``, not slices, and one loop per array
    written: LLVM vectorizes a loop only where it knows the rows contiguous and can check the
    arrays it reads against the one it writes (neither a slice nor one loop writing three
    arrays vectorized)."""
    n, H = z.shape[0], z.shape[1] // 4
    half = numpy.float32(0.5)
    for b in prange(n):
        for j in range(4 * H):
            S[b, t, j] = tanh32(z[b, j] + xw[b, t, j])
        for j in range(H):
            cs[b, t + 1, j] = ((half * S[b, t, H + j] + half) * cs[b, t, j]
                               + (half * S[b, t, j] + half) * S[b, t, 3 * H + j])
        for j in range(H):
            tcs[b, t, j] = tanh32(cs[b, t + 1, j])
        for j in range(H):
            hs[b, t, j] = (half * S[b, t, 2 * H + j] + half) * tcs[b, t, j]


@jit
def _lstm_hidden(s, tc, h_out):
    n, H = tc.shape
    half = s.dtype.type(0.5)
    for b in prange(n):
        for j in range(H):
            h_out[b, j] = (half * s[b, 2 * H + j] + half) * tc[b, j]


@jit
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


@jit
def _lstm_loop32(xw, h0, u_blocks, S, cs, tcs, hs):
    """Every step of ``lstm_scan`` for these rows: the product, then ``_lstm_step32``."""
    n, steps, width = xw.shape
    H = width // 4
    h = numpy.empty((n, H), xw.dtype)  # contiguous, as np.dot wants
    h[:] = h0
    z = numpy.empty((n, width), xw.dtype)
    zb = numpy.empty((u_blocks.shape[0], n, u_blocks.shape[2]), xw.dtype)
    for t in range(steps):
        blocked_dot(h, u_blocks, zb, z)
        _lstm_step32(z, xw, t, S, cs, tcs, hs)
        h[:] = hs[:, t]


@jit
def _lstm_loop_back32(dhs, add, dh, dc, ut_blocks, S, cs, tcs, scale2, dz, dh_first):
    """Every step of ``lstm_scan_back`` for these rows, and the first state's gradient."""
    n, steps, width = S.shape
    dz_t = numpy.empty((n, width), S.dtype)  # contiguous, as np.dot wants
    hb = numpy.empty((ut_blocks.shape[0], n, ut_blocks.shape[2]), S.dtype)
    for t in range(steps - 1, -1, -1):
        if t < steps - 1:
            blocked_dot(dz_t, ut_blocks, hb, dh)
        _lstm_step_back(dh, dhs, add, t, dc, S, cs, tcs, scale2, dz)
        dz_t[:] = dz[:, t]
    blocked_dot(dz_t, ut_blocks, hb, dh_first)
