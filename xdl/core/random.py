"""Reproducible randomness: one host generator, seeded by ``xdl.seed``, and ``xdl.random``.

The library's own draws (initial weights, data order) happen on the host in float64 and are
cast on the device, so a seed gives the same weights and order on every backend. The Keras
functions below (``xdl.random.normal`` ...) draw on the device, for users' layers and steps.
"""

from __future__ import annotations

import contextlib
import math

from .. import backends  # the adapters (the repository's backends/ folder)
from . import ops
from .backend import floatx, get_backend, namespace_of
from .checks import int_at_least
from .tape import unwrap

_rng = backends.host_rng()


def seed(n: int) -> None:
    """Seed xdl's generator (initial weights, shuffling)."""
    global _rng
    _rng = backends.host_rng(int_at_least("seed", "n", n, 0))


def generator(seed=None):
    """The global generator, or a fresh one when ``seed`` is given."""
    return _rng if seed is None else backends.host_rng(seed)


@contextlib.contextmanager
def preserved_state():
    """Run a block without advancing the global generator (e.g. while loading a model)."""
    state = _rng.bit_generator.state
    try:
        yield
    finally:
        _rng.bit_generator.state = state


# -- Keras's keras.random: draws on the device ---------------------------------------------------
class SeedGenerator:
    """Keras's ``SeedGenerator``: a stream of draws (``xdl.random.normal(shape, seed=gen)`` gives
    new values each call), on the backend's own generator where it has one."""

    def __init__(self, seed=None):
        self.seed = int(generator().integers(2**62)) if seed is None else int_at_least("SeedGenerator", "seed", seed,
                                                                                        0)
        self._draws = {}

    def draw(self, be):
        """The uniform [0, 1) drawer of this stream on ``be``: ``draw(shape, dtype)``."""
        key = (be.name, str(be.device))
        if key not in self._draws:
            self._draws[key] = be.random_uniform(self.seed)
        return self._draws[key]


def _uniform01(shape, dtype, seed):
    """Uniform [0, 1) draws of ``shape`` on the active backend: a ``SeedGenerator``'s next ones,
    the same ones for an int ``seed`` (Keras's), or fresh ones from xdl's generator."""
    be = get_backend()
    dtype = be.dtype(dtype or floatx()) if dtype is None or isinstance(dtype, str) else dtype
    if isinstance(seed, SeedGenerator):
        draw = seed.draw(be)
    else:
        start = int(generator().integers(2**62)) if seed is None else int_at_least("xdl.random", "seed", seed, 0)
        draw = be.random_uniform(start)
    return draw(tuple(int(d) for d in shape), dtype), be.xp


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Uniform draws in [minval, maxval) (Keras's ``keras.random.uniform``)."""
    u, _ = _uniform01(shape, dtype, seed)
    return minval + (maxval - minval) * u


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal draws (Keras's ``keras.random.normal``), by Box and Muller from uniform ones."""
    shape = tuple(int(d) for d in shape)
    u, xp = _uniform01((2, *shape), dtype, seed)
    radius = xp.sqrt(-2.0 * xp.log(1.0 - u[0, ...]))  # 1 - u is in (0, 1]: no log of zero
    return mean + stddev * radius * xp.cos((2.0 * math.pi) * u[1, ...])


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal draws within two standard deviations (values beyond are drawn again, four times,
    then clipped: no host read)."""
    stream = seed if isinstance(seed, SeedGenerator) else SeedGenerator(seed)  # redraws must differ
    z = normal(shape, 0.0, 1.0, dtype, stream)
    xp = namespace_of(z)
    for _ in range(4):
        z = xp.where(xp.abs(z) < 2.0, z, normal(shape, 0.0, 1.0, dtype, stream))
    return mean + stddev * xp.clip(z, -2.0, 2.0)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers in [minval, maxval) (Keras's ``keras.random.randint``)."""
    u, xp = _uniform01(shape, None, seed)
    return xp.astype(xp.floor(minval + (maxval - minval) * u), getattr(xp, dtype) if isinstance(dtype, str) else dtype)


def dropout(inputs, rate, noise_shape=None, seed=None):
    """``inputs`` with each element zeroed with probability ``rate`` and the rest scaled by
    1 / (1 - rate) (Keras's ``keras.random.dropout``); differentiable in ``inputs``."""
    value = unwrap(inputs)
    keep, xp = _uniform01(noise_shape or tuple(value.shape), value.dtype, seed)
    return ops.multiply(inputs, xp.astype(keep >= rate, value.dtype) * (1.0 / (1.0 - rate)))


def shuffle(x, axis=0, seed=None):
    """``x`` with its entries along ``axis`` in a random order (differentiable)."""
    value = unwrap(x)
    u, xp = _uniform01((value.shape[axis],), None, seed)
    return ops.take(x, xp.argsort(u), axis=axis)
