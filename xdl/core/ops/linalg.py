"""Products: ``matmul`` (a rule of its own), and ``tensordot``/``vecdot``/``einsum``-free
composites of differentiable ops."""

from __future__ import annotations

import math

from ..tape import primitive
from .elementwise import multiply, unbroadcast
from .reduce import sum as _sum
from .shape import permute_dims, reshape


def _matmul_rule(xp, g, out, need, a, b):
    a2 = xp.reshape(a, (1, a.shape[0])) if a.ndim == 1 else a
    b2 = xp.reshape(b, (b.shape[0], 1)) if b.ndim == 1 else b
    g2 = g
    if a.ndim == 1:
        g2 = xp.expand_dims(g2, axis=-2 if b.ndim > 1 else 0)
    if b.ndim == 1:
        g2 = xp.expand_dims(g2, axis=-1)
    ga = gb = None
    if need[0]:
        ga = xp.reshape(unbroadcast(xp, g2 @ xp.matrix_transpose(b2), a2.shape), a.shape)
    if need[1]:
        gb = xp.reshape(unbroadcast(xp, xp.matrix_transpose(a2) @ g2, b2.shape), b.shape)
    return ga, gb


def matmul(a, b):
    """``a @ b`` with NumPy's rules for 1-D and batched operands."""
    return primitive(lambda xp, x, y: x @ y, _matmul_rule, a, b)


def tensordot(a, b, axes=2):
    """Sum of products over ``axes`` (an int: the last of ``a`` with the first of ``b``, or
    a pair of sequences), as a permutation, a reshape and one ``matmul``."""
    na, nb = len(a.shape), len(b.shape)
    if isinstance(axes, int):
        axes_a, axes_b = list(range(na - axes, na)), list(range(axes))
    else:
        axes_a, axes_b = [x % na for x in axes[0]], [x % nb for x in axes[1]]
    free_a = [i for i in range(na) if i not in axes_a]
    free_b = [i for i in range(nb) if i not in axes_b]
    k = math.prod(a.shape[i] for i in axes_a)
    a2 = reshape(permute_dims(a, free_a + axes_a), (math.prod(a.shape[i] for i in free_a), k))
    b2 = reshape(permute_dims(b, axes_b + free_b), (k, math.prod(b.shape[i] for i in free_b)))
    return reshape(matmul(a2, b2), tuple(a.shape[i] for i in free_a) + tuple(b.shape[i] for i in free_b))


def vecdot(a, b, axis=-1):
    """Dot products along ``axis`` (real arrays)."""
    return _sum(multiply(a, b), axis=axis)


def matrix_transpose(x):
    """Swap the last two axes."""
    return primitive(lambda xp, v: xp.matrix_transpose(v), lambda xp, g, out, need, v: (xp.matrix_transpose(g),), x)
