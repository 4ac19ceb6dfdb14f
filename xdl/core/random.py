"""Reproducible randomness: one host generator, seeded by ``xdl.seed``.

Draws happen on the host in float64 and are cast on the device, so a seed gives the same
initial weights and the same data order on every backend.
"""

from __future__ import annotations

import contextlib

from .. import backends  # the adapters (the repository's backends/ folder)
from .checks import int_at_least

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
