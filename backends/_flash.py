"""Blocked ("flash") attention in array API calls: ``Backend.attention`` and its backward.

``softmax(scale * q k^T, masked) v`` is formed one (query block, key block) pair at a time,
for every image and head at once: a block's scores (N, H, bq, bk) exist only while that pair
is worked on, so memory grows with T, not T^2. The softmax runs online: per query row a running
maximum ``m`` and sum ``l`` of exponentials, the accumulated output rescaled by
``exp(m_old - m_new)`` whenever the maximum grows. Under a causal mask the key blocks entirely
above the diagonal are never formed. The forward keeps per query row ``lse = m + log(l)``; the
backward recomputes each block's probabilities from it, ``p = exp(s - lse)``, and forms
FlashAttention-2's gradients: ``D = rowsum(dO * O)``, ``dP = dO v^T``, ``dS = p * (dP - D)``,
``dq = scale dS k``, ``dk = scale dS^T q``, ``dv = p^T dO``. The loops run over blocks, never
elements. A query row that may attend no key gives zeros (``lse`` is then +inf: every
recomputed probability is 0), never NaN.

Masked scores are -inf inside a block, and the running maximum is taken as 0 while a row has
met no allowed key: exp(-inf) is then an exact 0, so a masked key gets weight 0 exactly,
without a large finite offset whose exponential is not quite 0.
"""

from __future__ import annotations

import math

#: the most elements of one block's scores, all images and heads together (N * H * bq * bk):
#: 2**20, 4 MB in float32, bounds what a block's few temporaries hold
BLOCK_ELEMENTS = 1 << 20
#: the longest query and key blocks, and the shortest that ``block_sizes`` halves them to
QUERY_BLOCK, KEY_BLOCK, SHORTEST_BLOCK = 256, 256, 16


def block_sizes(stacks, tq, tk, most=None):
    """(bq, bk) for ``stacks`` (N * H) score matrices of Tq x Tk: as long as ``most`` elements
    (``BLOCK_ELEMENTS``) allow, the key block kept longest (fewer online-softmax rescalings)."""
    most = BLOCK_ELEMENTS if most is None else most
    bk = min(tk, KEY_BLOCK)
    while bk > SHORTEST_BLOCK and stacks * SHORTEST_BLOCK * bk > most:
        bk //= 2
    bq = min(tq, QUERY_BLOCK)
    while bq > SHORTEST_BLOCK and stacks * bq * bk > most:
        bq //= 2
    return max(1, bq), max(1, bk)


def _allowed(xp, dev, mask, causal, offset, i0, i1, j0, j1):
    """The bool (N or 1, 1, i1 - i0, j1 - j0) array of the block's allowed (query, key) pairs,
    or None where every pair is allowed."""
    allowed = None
    if mask is not None:
        allowed = (mask[:, i0:i1, j0:j1] != 0)[:, None, :, :]
    if causal and j1 - 1 > i0 + offset:  # some key of the block lies after some query's position
        rows = xp.arange(i0 + offset, i1 + offset, device=dev)[:, None]
        tri = (xp.arange(j0, j1, device=dev)[None, :] <= rows)[None, None, :, :]
        allowed = tri if allowed is None else xp.logical_and(allowed, tri)
    return allowed


def _key_end(causal, tk, i1, offset):
    """One past the last key a query block ending at ``i1`` may attend."""
    return max(0, min(tk, i1 + offset)) if causal else tk


def forward(xp, q, k, v, mask, causal, scale, offset=0, blocks=None):
    """``(o, lse)``: the attention output (N, H, Tq, Dv) and the per-row log-sum-exp (N, H, Tq, 1)."""
    n, h, tq, _ = q.shape
    tk, dv = k.shape[2], v.shape[3]
    bq, bk = blocks or block_sizes(n * h, tq, tk)
    dtype, dev = q.dtype, q.device
    ninf = xp.full((), -math.inf, dtype=dtype, device=dev)
    zero, one, inf = (xp.full((), x, dtype=dtype, device=dev) for x in (0.0, 1.0, math.inf))
    kt = xp.permute_dims(k, (0, 1, 3, 2))
    o = xp.empty((n, h, tq, dv), dtype=dtype, device=dev)
    lse = xp.empty((n, h, tq, 1), dtype=dtype, device=dev)
    for i0 in range(0, tq, bq):
        i1 = min(i0 + bq, tq)
        qi = q[:, :, i0:i1, :] * scale
        m = xp.full((n, h, i1 - i0, 1), -math.inf, dtype=dtype, device=dev)
        l = xp.zeros((n, h, i1 - i0, 1), dtype=dtype, device=dev)
        acc = xp.zeros((n, h, i1 - i0, dv), dtype=dtype, device=dev)
        for j0 in range(0, _key_end(causal, tk, i1, offset), bk):
            j1 = min(j0 + bk, _key_end(causal, tk, i1, offset))
            s = qi @ kt[:, :, :, j0:j1]
            allowed = _allowed(xp, dev, mask, causal, offset, i0, i1, j0, j1)
            if allowed is not None:
                s = xp.where(allowed, s, ninf)
            m_new = xp.maximum(m, xp.max(s, axis=-1, keepdims=True))
            if mask is not None:  # a row with no allowed key yet: shift by 0, exp(-inf) = 0
                m_new = xp.where(m_new == ninf, zero, m_new)
            p = xp.exp(s - m_new)
            alpha = xp.exp(m - m_new)
            l = l * alpha + xp.sum(p, axis=-1, keepdims=True)
            acc = acc * alpha + p @ v[:, :, j0:j1, :]
            m = m_new
        if mask is None:  # every row met an allowed key (a causal row its own position)
            o[:, :, i0:i1, :] = acc / l
            lse[:, :, i0:i1, :] = m + xp.log(l)
        else:
            empty = l == zero
            o[:, :, i0:i1, :] = acc / xp.where(empty, one, l)
            lse[:, :, i0:i1, :] = xp.where(empty, inf, m + xp.log(xp.where(empty, one, l)))
    return o, lse


def backward(xp, do, q, k, v, o, lse, mask, causal, scale, offset=0, blocks=None):
    """``(dq, dk, dv)`` of ``forward`` from ``do`` (N, H, Tq, Dv), each block's probabilities
    recomputed from ``lse``."""
    n, h, tq, _ = q.shape
    tk = k.shape[2]
    bq, bk = blocks or block_sizes(n * h, tq, tk)
    dtype, dev = q.dtype, q.device
    ninf = xp.full((), -math.inf, dtype=dtype, device=dev)
    d_rows = xp.sum(do * o, axis=-1, keepdims=True)  # D = rowsum(dO * O)
    kt, vt = xp.permute_dims(k, (0, 1, 3, 2)), xp.permute_dims(v, (0, 1, 3, 2))
    dq = xp.zeros(q.shape, dtype=dtype, device=dev)
    dk, dv = xp.zeros(k.shape, dtype=dtype, device=dev), xp.zeros(v.shape, dtype=dtype, device=dev)
    for i0 in range(0, tq, bq):
        i1 = min(i0 + bq, tq)
        qi, doi, lse_i, d_i = q[:, :, i0:i1, :] * scale, do[:, :, i0:i1, :], lse[:, :, i0:i1, :], d_rows[:, :, i0:i1, :]
        dqi = None
        for j0 in range(0, _key_end(causal, tk, i1, offset), bk):
            j1 = min(j0 + bk, tk)
            s = qi @ kt[:, :, :, j0:j1]
            allowed = _allowed(xp, dev, mask, causal, offset, i0, i1, j0, j1)
            if allowed is not None:
                s = xp.where(allowed, s, ninf)
            p = xp.exp(s - lse_i)
            dp = doi @ vt[:, :, :, j0:j1]
            ds = p * (dp - d_i)
            dv[:, :, j0:j1, :] += xp.permute_dims(p, (0, 1, 3, 2)) @ doi
            dk[:, :, j0:j1, :] += xp.permute_dims(ds, (0, 1, 3, 2)) @ qi  # qi holds the scale already
            dq_part = ds @ k[:, :, j0:j1, :]
            dqi = dq_part if dqi is None else dqi + dq_part
        if dqi is not None:  # else no key for any query of the block: zeros
            dq[:, :, i0:i1, :] = dqi * scale
    return dq, dk, dv
