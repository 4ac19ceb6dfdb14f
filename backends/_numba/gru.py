"""The GRU's loop over time: per step one product (BLAS) and one pass over the gates; for
float32 the whole loop in one kernel per part of the batch, each part on a thread of its own
(``recurrent.loop_plan``), as the LSTM's."""

from __future__ import annotations

import numpy
from numba import prange

from .._rows import ONE_THREAD
from .elementwise import tanh32
from .loader import for_work, jit
from .recurrent import blocked_dot, contiguous_transpose, kernel_plan


def gru_scan(xw, h, u, bh, rows=ONE_THREAD):
    """``Backend.gru_scan``: per step one product (BLAS) and one pass over the gates; for
    float32 the whole loop in one kernel per part of the batch, as ``lstm_scan``."""
    n, steps, width = xw.shape
    H = width // 3
    hs = numpy.empty((n, steps, H), dtype=xw.dtype)
    to_xw, to_hw, zs = numpy.empty_like(xw), numpy.empty_like(xw), numpy.empty((n, steps, H), dtype=xw.dtype)
    plan = kernel_plan(n, steps, xw.dtype, u, rows)
    if plan is not None:
        xw, h = numpy.ascontiguousarray(xw), numpy.ascontiguousarray(h, dtype=xw.dtype)
        bh = numpy.ascontiguousarray(bh, dtype=xw.dtype)
        (ranges, blocks), loop = plan, _gru_loop32

        def part(lo, hi):
            loop(xw[lo:hi], h[lo:hi], blocks, bh, hs[lo:hi], to_xw[lo:hi], to_hw[lo:hi], zs[lo:hi])

        rows.run(part, ranges)
        return hs, (hs[:, steps - 1],), (to_xw, to_hw, zs)
    hw = numpy.empty((n, width), dtype=xw.dtype)
    rz, pre_n = numpy.empty((n, 2 * H), dtype=xw.dtype), numpy.empty((n, H), dtype=xw.dtype)
    h = numpy.ascontiguousarray(h, dtype=xw.dtype)
    gates, out = for_work(_gru_gates, n * width), for_work(_gru_out, n * width)
    for t in range(steps):  # the tanh in NumPy (SIMD), the rest of the gates in one pass each
        numpy.matmul(h, u, out=hw)
        hw += bh
        numpy.add(xw[:, t, :2 * H], hw[:, :2 * H], out=rz)
        rz *= 0.5
        numpy.tanh(rz, out=rz)
        gates(rz, hw, xw[:, t], pre_n)  # rz becomes r, z; pre_n the candidate's pre-activation
        numpy.tanh(pre_n, out=pre_n)
        out(rz, hw, pre_n, h, hs[:, t], to_xw[:, t], to_hw[:, t], zs[:, t])
        h = hs[:, t]
    return hs, (h,), (to_xw, to_hw, zs)


def gru_scan_back(saved, dhs, dh, u_t, rows=ONE_THREAD):
    to_xw, to_hw, zs = saved
    u_t = contiguous_transpose(u_t)
    n, steps, width = to_xw.shape
    dxw, dhw = numpy.empty_like(to_xw), numpy.empty_like(to_hw)
    dh = numpy.array(dh, dtype=to_xw.dtype, order="C")
    add = dhs is not None
    plan = kernel_plan(n, steps, to_xw.dtype, u_t, rows)
    if plan is not None:
        dhs = numpy.ascontiguousarray(dhs, dtype=to_xw.dtype) if add else zs  # zs: any array of the type, unread
        (ranges, blocks), loop = plan, _gru_loop_back32

        def part(lo, hi):
            loop(dhs[lo:hi], add, dh[lo:hi], blocks, to_xw[lo:hi], to_hw[lo:hi], zs[lo:hi], dxw[lo:hi], dhw[lo:hi])

        rows.run(part, ranges)
        return dxw, dhw, dh
    back = for_work(_gru_step_back, n * width)
    for t in reversed(range(steps)):
        back(dh, dhs[:, t] if add else dh, add, to_xw[:, t], to_hw[:, t], dxw[:, t], dhw[:, t])
        dh = dh * zs[:, t] + dhw[:, t] @ u_t
    return dxw, dhw, dh


# -- the kernels ------------------------------------------------------------------------------

@jit
def _gru_loop32(xw, h0, u_blocks, bh, hs, to_xw, to_hw, zs):
    """Every step of ``gru_scan`` for these rows, float32: the product, the gates with
    ``tanh32`` (so that the loops vectorize), the output and the backward's factors (those of
    ``_gru_out``), one loop per array written."""
    n, steps, width = xw.shape
    H = width // 3
    half, one = numpy.float32(0.5), numpy.float32(1.0)
    h = numpy.empty((n, H), xw.dtype)  # contiguous, as np.dot wants
    h[:] = h0
    hw = numpy.empty((n, width), xw.dtype)
    hb = numpy.empty((u_blocks.shape[0], n, u_blocks.shape[2]), xw.dtype)
    rz, c = numpy.empty((n, 2 * H), xw.dtype), numpy.empty((n, H), xw.dtype)
    for t in range(steps):
        blocked_dot(h, u_blocks, hb, hw)
        for b in range(n):
            for j in range(width):
                hw[b, j] += bh[j]
            for j in range(2 * H):
                rz[b, j] = half * tanh32(half * (xw[b, t, j] + hw[b, j])) + half
            for j in range(H):
                c[b, j] = tanh32(xw[b, t, 2 * H + j] + rz[b, j] * hw[b, 2 * H + j])
            for j in range(H):
                hs[b, t, j] = c[b, j] + rz[b, H + j] * (h[b, j] - c[b, j])
            for j in range(H):
                zs[b, t, j] = rz[b, H + j]
            for j in range(H):  # dr, for the input and the recurrent pre-activations
                to_xw[b, t, j] = ((one - rz[b, H + j]) * (one - c[b, j] * c[b, j]) * hw[b, 2 * H + j]
                                  * rz[b, j] * (one - rz[b, j]))
            for j in range(H):
                to_hw[b, t, j] = to_xw[b, t, j]
            for j in range(H):  # dz
                to_xw[b, t, H + j] = (h[b, j] - c[b, j]) * rz[b, H + j] * (one - rz[b, H + j])
            for j in range(H):
                to_hw[b, t, H + j] = to_xw[b, t, H + j]
            for j in range(H):  # dn; times r for the recurrent part
                to_xw[b, t, 2 * H + j] = (one - rz[b, H + j]) * (one - c[b, j] * c[b, j])
            for j in range(H):
                to_hw[b, t, 2 * H + j] = to_xw[b, t, 2 * H + j] * rz[b, j]
            for j in range(H):
                h[b, j] = hs[b, t, j]


@jit
def _gru_loop_back32(dhs, add, dh, ut_blocks, to_xw, to_hw, zs, dxw, dhw):
    """Every step of ``gru_scan_back`` for these rows: ``dh`` arrives as the last state's
    gradient and leaves as the first's."""
    n, steps, width = to_xw.shape
    H = width // 3
    dhw_t = numpy.empty((n, width), to_xw.dtype)  # contiguous, as np.dot wants
    hb = numpy.empty((ut_blocks.shape[0], n, ut_blocks.shape[2]), to_xw.dtype)
    through = numpy.empty((n, H), to_xw.dtype)
    for t in range(steps - 1, -1, -1):
        for b in range(n):
            if add:
                for j in range(H):
                    dh[b, j] += dhs[b, t, j]
            for g in range(3):
                for j in range(H):
                    dxw[b, t, g * H + j] = dh[b, j] * to_xw[b, t, g * H + j]
                for j in range(H):
                    dhw_t[b, g * H + j] = dh[b, j] * to_hw[b, t, g * H + j]
            for j in range(width):
                dhw[b, t, j] = dhw_t[b, j]
        blocked_dot(dhw_t, ut_blocks, hb, through)
        for b in range(n):
            for j in range(H):
                dh[b, j] = dh[b, j] * zs[b, t, j] + through[b, j]


@jit
def _gru_gates(rz, hw, x_t, pre_n):
    n, H = pre_n.shape
    half = rz.dtype.type(0.5)
    for b in prange(n):
        for j in range(2 * H):
            rz[b, j] = half * rz[b, j] + half
        for j in range(H):
            pre_n[b, j] = x_t[b, 2 * H + j] + rz[b, j] * hw[b, 2 * H + j]


@jit
def _gru_out(rz, hw, nn, h_prev, h_out, to_xw, to_hw, z_out):
    n, H = nn.shape
    one = rz.dtype.type(1)
    for b in prange(n):
        for j in range(H):
            r, z, c, hp = rz[b, j], rz[b, H + j], nn[b, j], h_prev[b, j]
            h_out[b, j] = c + z * (hp - c)
            dn = (one - z) * (one - c * c)
            dr, dz = dn * hw[b, 2 * H + j] * r * (one - r), (hp - c) * z * (one - z)
            to_xw[b, j], to_xw[b, H + j], to_xw[b, 2 * H + j] = dr, dz, dn
            to_hw[b, j], to_hw[b, H + j], to_hw[b, 2 * H + j] = dr, dz, dn * r
            z_out[b, j] = z


@jit
def _gru_step_back(dh, dh_seq, add, to_xw, to_hw, dxw, dhw):
    n, width = to_xw.shape
    H = width // 3
    for b in prange(n):
        for j in range(H):
            d = dh[b, j] + dh_seq[b, j] if add else dh[b, j]
            dh[b, j] = d
            for k in (j, H + j, 2 * H + j):
                dxw[b, k] = d * to_xw[b, k]
                dhw[b, k] = d * to_hw[b, k]
