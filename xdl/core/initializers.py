"""Weight initializers, chosen per layer by name: ``Dense(..., kernel_initializer="he_normal")``."""

from __future__ import annotations

import contextlib
import functools
import math

from ..errors import ArgumentError
from . import random

_budget = None  # elements still allowed while a model file is being loaded (None: no limit)


@contextlib.contextmanager
def limit(elements: int, error):
    """Refuse (raise ``error(message)``) to create more than ``elements`` parameter elements
    in this block: a model file's architecture may not ask for more than the file holds."""
    global _budget
    saved, _budget = _budget, [elements, error]
    try:
        yield
    finally:
        _budget = saved


def _budgeted(init):
    @functools.wraps(init)
    def checked(be, shape, dtype):
        if _budget is not None:
            n = math.prod(shape)
            if n > _budget[0]:
                raise _budget[1](f"the architecture asks for a parameter of shape {tuple(shape)}, "
                                 f"more than the file's {_budget[0]:,} remaining weights")
            _budget[0] -= n
        return init(be, shape, dtype)
    return checked


def _fans(shape):
    if not shape:  # a scalar weight (add_weight(shape=())): Keras counts one in, one out
        return 1, 1
    fan_in = math.prod(shape[:-1]) if len(shape) > 1 else shape[0]
    return max(fan_in, 1), max(shape[-1], 1)


def _host(be, values, dtype):
    return be.asarray(values, dtype=dtype)


def _uniform(be, shape, dtype, limit):
    """Uniform draws in [-limit, limit] from xdl's generator, on ``be``."""
    return _host(be, random.generator().uniform(-limit, limit, shape), dtype)


def _normal(be, shape, dtype, stddev):
    return _host(be, random.generator().normal(0.0, stddev, shape), dtype)


@_budgeted
def zeros(be, shape, dtype):
    return be.xp.zeros(shape, dtype=dtype, device=be.device)


@_budgeted
def ones(be, shape, dtype):
    return be.xp.ones(shape, dtype=dtype, device=be.device)


@_budgeted
def uniform(be, shape, dtype):
    """Uniform in [-0.05, 0.05] (Keras' RandomUniform default; embeddings start here)."""
    return _uniform(be, shape, dtype, 0.05)


@_budgeted
def glorot_uniform(be, shape, dtype):
    fan_in, fan_out = _fans(shape)
    return _uniform(be, shape, dtype, math.sqrt(6.0 / (fan_in + fan_out)))


@_budgeted
def glorot_normal(be, shape, dtype):
    fan_in, fan_out = _fans(shape)
    return _normal(be, shape, dtype, math.sqrt(2.0 / (fan_in + fan_out)))


@_budgeted
def he_uniform(be, shape, dtype):
    return _uniform(be, shape, dtype, math.sqrt(6.0 / _fans(shape)[0]))


@_budgeted
def he_normal(be, shape, dtype):
    return _normal(be, shape, dtype, math.sqrt(2.0 / _fans(shape)[0]))


def _truncated(shape, stddev):
    """Normal draws with |x| < 2 stddev (redrawn beyond), as Keras's TruncatedNormal."""
    rng, out = random.generator(), None
    out = rng.normal(0.0, stddev, shape)
    bad = abs(out) >= 2 * stddev
    while bad.any():
        out[bad] = rng.normal(0.0, stddev, int(bad.sum()))
        bad = abs(out) >= 2 * stddev
    return out


@_budgeted
def random_normal(be, shape, dtype):
    """Normal with standard deviation 0.05 (Keras's RandomNormal default)."""
    return _normal(be, shape, dtype, 0.05)


@_budgeted
def truncated_normal(be, shape, dtype):
    """Keras's TruncatedNormal default: standard deviation 0.05, cut at two of them."""
    return _host(be, _truncated(shape, 0.05), dtype)


@_budgeted
def lecun_normal(be, shape, dtype):
    """Keras's: truncated normal of variance 1 / fan_in (the cut's shrinkage made up)."""
    return _host(be, _truncated(shape, math.sqrt(1.0 / _fans(shape)[0]) / 0.87962566103423978), dtype)


@_budgeted
def lecun_uniform(be, shape, dtype):
    return _uniform(be, shape, dtype, math.sqrt(3.0 / _fans(shape)[0]))


@_budgeted
def orthogonal(be, shape, dtype):
    """Keras's Orthogonal (gain 1): a random orthogonal matrix over (fan_in, last axis)."""
    rows, cols = _fans(shape)
    xp = be.xp
    a = be.asarray(random.generator().normal(0.0, 1.0, (max(rows, cols), min(rows, cols))), dtype=dtype)
    q, r = xp.linalg.qr(a)  # the array API's linalg extension, on the device
    q = q * xp.sign(xp.linalg.diagonal(r))
    q = q if rows >= cols else xp.matrix_transpose(q)
    return xp.reshape(xp.reshape(q, (-1,)), tuple(shape))  # through 1-D: a row-major copy, not a transposed view


_BY_NAME = {f.__name__: f for f in (zeros, ones, uniform, glorot_uniform, glorot_normal, he_uniform, he_normal,
                                    random_normal, truncated_normal, lecun_normal, lecun_uniform, orthogonal)}
_BY_NAME.update(xavier_uniform=glorot_uniform, xavier_normal=glorot_normal, random_uniform=uniform)


def get(name):
    """An initializer by name, or a callable ``f(be, shape, dtype)`` passed through."""
    if callable(name):
        return name
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):  # TypeError: unhashable
        raise ArgumentError(f"unknown initializer {name!r}; choose one of {sorted(_BY_NAME)}") from None
