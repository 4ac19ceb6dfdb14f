"""Dropout: zero a random fraction of activations while training."""

from __future__ import annotations

from ..core import random
from ..core.checks import int_at_least, number
from .base import Layer, register_layer


@register_layer
class Dropout(Layer):
    """Inverted dropout: in training, each element is zeroed with probability ``rate`` and the
    survivors scaled by ``1 / (1 - rate)``, so evaluation is the identity with the same mean.

    Masks come from a generator on the layer's device. ``fit`` reseeds it at every epoch from
    ``seed`` (drawn from ``xdl.seed``'s generator when not given), the epoch number and, in
    data-parallel training, the process's rank: a resumed run draws the masks an uninterrupted
    one would have, and processes draw different masks for their different rows.
    """

    supports_masking = True  # elementwise: a mask on the input passes on

    def __init__(self, rate=0.5, seed=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.rate = number(f"Dropout {self.name!r}", "rate", rate, 0.0, 1.0, high_open=True)
        self.seed = int_at_least(type(self).__name__, "seed", seed, 0, optional=True)

    def build(self, input_shape):
        super().build(input_shape)
        if self.seed is None:
            self.seed = int(random.generator().integers(2**62))
        self.start_epoch(0)

    def start_epoch(self, epoch, stream=0):
        # distinct, decorrelated per epoch and per process
        mixed = (self.seed ^ (epoch * 0x9E3779B97F4A7C15) ^ (stream * 0xBF58476D1CE4E5B9)) % 2**63
        self._uniform = self.backend.random_uniform(mixed)

    def apply(self, x, training=False):
        if not training or self.rate == 0.0:
            return x, lambda dy, need_dx=True: dy
        keep = self._uniform(tuple(x.shape), x.dtype) >= self.rate
        mask = self.backend.xp.astype(keep, x.dtype) * (1.0 / (1.0 - self.rate))
        return x * mask, lambda dy, need_dx=True: dy * mask

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
