"""The optimizers' updates, each one pass over its flat, C-contiguous arrays, in place."""

from __future__ import annotations

import numpy
from numba import prange

from .loader import for_work, jit


def adam(w, g, m, v, lr_t, eps_t, beta_1, beta_2):
    """``Backend.adam_step`` in one pass over the four arrays (flat, C-contiguous)."""
    t = w.dtype.type
    # the factors rounded to the dtype as NumPy rounds them (1 - beta in float64 first)
    for_work(_adam, w.size)(w.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), t(lr_t), t(eps_t),
                            t(beta_1), t(1.0 - beta_1), t(beta_2), t(1.0 - beta_2))
    return w, m, v


def rmsprop(w, g, v, lr, rho, eps):
    t = w.dtype.type
    for_work(_rmsprop, w.size)(w.reshape(-1), g.reshape(-1), v.reshape(-1), t(lr), t(rho), t(1.0 - rho), t(eps))
    return w, v


def momentum(w, g, b, lr, mu, nesterov):
    t = w.dtype.type
    for_work(_momentum, w.size)(w.reshape(-1), g.reshape(-1), b.reshape(-1), t(lr), t(mu), nesterov)
    return w, b


# -- the kernels ------------------------------------------------------------------------------

@jit
def _adam(w, g, m, v, lr_t, eps_t, b1, c1, b2, c2):
    for i in prange(w.shape[0]):
        gi = g[i]
        mi = b1 * m[i] + c1 * gi
        vi = b2 * v[i] + c2 * (gi * gi)
        m[i], v[i] = mi, vi
        w[i] -= lr_t * mi / (numpy.sqrt(vi) + eps_t)


@jit
def _rmsprop(w, g, v, lr, rho, c, eps):
    for i in prange(w.shape[0]):
        gi = g[i]
        vi = rho * v[i] + c * (gi * gi)
        v[i] = vi
        w[i] -= lr * gi / (numpy.sqrt(vi) + eps)


@jit
def _momentum(w, g, b, lr, mu, nesterov):
    for i in prange(w.shape[0]):
        gi = g[i]
        bi = mu * b[i] + gi
        b[i] = bi
        w[i] -= lr * (gi + mu * bi) if nesterov else lr * bi
