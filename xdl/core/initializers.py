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
    fan_in = math.prod(shape[:-1]) if len(shape) > 1 else shape[0]
    return fan_in, shape[-1]


def _host(be, values, dtype):
    return be.asarray(values, dtype=dtype)


@_budgeted
def zeros(be, shape, dtype):
    return be.xp.zeros(shape, dtype=dtype, device=be.device)


@_budgeted
def ones(be, shape, dtype):
    return be.xp.ones(shape, dtype=dtype, device=be.device)


@_budgeted
def uniform(be, shape, dtype):
    """Uniform in [-0.05, 0.05] (Keras' RandomUniform default; embeddings start here)."""
    return _host(be, random.generator().uniform(-0.05, 0.05, shape), dtype)


@_budgeted
def glorot_uniform(be, shape, dtype):
    fan_in, fan_out = _fans(shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return _host(be, random.generator().uniform(-limit, limit, shape), dtype)


@_budgeted
def glorot_normal(be, shape, dtype):
    fan_in, fan_out = _fans(shape)
    return _host(be, random.generator().normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), shape), dtype)


@_budgeted
def he_uniform(be, shape, dtype):
    limit = math.sqrt(6.0 / _fans(shape)[0])
    return _host(be, random.generator().uniform(-limit, limit, shape), dtype)


@_budgeted
def he_normal(be, shape, dtype):
    return _host(be, random.generator().normal(0.0, math.sqrt(2.0 / _fans(shape)[0]), shape), dtype)


_BY_NAME = {f.__name__: f for f in (zeros, ones, uniform, glorot_uniform, glorot_normal, he_uniform, he_normal)}
_BY_NAME.update(xavier_uniform=glorot_uniform, xavier_normal=glorot_normal)


def get(name):
    """An initializer by name, or a callable ``f(be, shape, dtype)`` passed through."""
    if callable(name):
        return name
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):  # TypeError: unhashable
        raise ArgumentError(f"unknown initializer {name!r}; choose one of {sorted(_BY_NAME)}") from None
