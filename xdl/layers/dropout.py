"""Dropout: zero a random fraction of activations while training."""

from __future__ import annotations

import math

from ..core import random
from ..core.backend import namespace_of
from ..core.checks import as_int, int_at_least, number, short
from ..errors import ArgumentError, ShapeError
from .base import Layer, register_layer


class Seeded(Layer):
    """A layer that draws random numbers on its device in training (Dropout, the random
    augmentation layers): ``seed`` (drawn from ``xdl.seed``'s generator when None) and the
    epoch seed a generator, ``self._uniform(shape, dtype)``, anew at every epoch."""

    def _seeded(self, seed):
        self.seed = int_at_least(type(self).__name__, "seed", seed, 0, optional=True)

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        super().build(input_shape)
        if self.seed is None:
            self.seed = int(random.generator().integers(2**62))
        self.start_epoch(0)

    def start_epoch(self, epoch, stream=0):
        # distinct, decorrelated per epoch and per process
        mixed = (self.seed ^ (epoch * 0x9E3779B97F4A7C15) ^ (stream * 0xBF58476D1CE4E5B9)) % 2**63
        self._uniform = self.backend.random_uniform(mixed)


@register_layer
class Dropout(Seeded):
    """Inverted dropout: in training, each element is zeroed with probability ``rate`` and the
    survivors scaled by ``1 / (1 - rate)``, so evaluation is the identity with the same mean.

    Masks come from a generator on the layer's device. ``fit`` reseeds it at every epoch from
    ``seed`` (drawn from ``xdl.seed``'s generator when not given), the epoch number and, in
    data-parallel training, the process's rank: a resumed run draws the masks an uninterrupted
    one would have, and processes draw different masks for their different rows.
    """

    supports_masking = True  # elementwise: a mask on the input passes on

    def __init__(self, rate=0.5, noise_shape=None, seed=None, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.rate = _rate(self, rate)
        self._seeded(seed)
        self.noise_shape = _noise_shape(f"Dropout {self.name!r}", noise_shape)

    def apply(self, x, training=False):
        if not training or self.rate == 0.0:
            return x, lambda dy, need_dx=True: dy
        shape = tuple(x.shape) if self.noise_shape is None else tuple(
            d if n is None else n for d, n in zip(x.shape, self.noise_shape))  # 1s: one draw along that axis
        keep = self._uniform(shape, x.dtype) >= self.rate
        mask = self.backend.xp.astype(keep, x.dtype) * (1.0 / (1.0 - self.rate))
        return x * mask, lambda dy, need_dx=True: dy * mask

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                **({"noise_shape": list(self.noise_shape)} if self.noise_shape is not None else {})}

    def check_input_shape(self, input_shape):
        if self.noise_shape is not None and (len(self.noise_shape) != len(input_shape) + 1 or any(
                n not in (None, 1, d) for n, d in zip(self.noise_shape[1:], input_shape))):
            raise ShapeError(f"{self.describe()}: noise_shape {self.noise_shape} does not fit inputs (N, "
                             f"{', '.join(map(str, input_shape))}); each size is None, 1 or the input's")


def _noise_shape(owner, value):
    """Keras's ``noise_shape``: the mask's shape, batch axis first; 1 shares a draw along an
    axis (e.g. ``(None, 1, None)``: one mask per sequence for every step), None takes the input's."""
    if value is None:
        return None
    if not isinstance(value, (tuple, list)) or not value or not all(
            d is None or (as_int(d) is not None and d >= 1) for d in value):
        raise ArgumentError(f"{owner}: noise_shape must be a tuple of positive ints or None, got {short(value)}")
    return tuple(None if d is None else int(d) for d in value)


class _Spatial(Seeded):
    """Dropout of whole channels: one draw per sample and channel, shared over the other axes
    (Dropout's masks with a noise shape of ones but for the batch and the channels)."""

    rank = 1
    supports_masking = True
    apply = Dropout.apply

    def __init__(self, rate=0.5, seed=None, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.rate = _rate(self, rate)
        self._seeded(seed)
        self.noise_shape = None  # set for the input's rank in check_input_shape

    def check_input_shape(self, input_shape):
        if len(input_shape) != self.rank + 1:
            raise ShapeError(f"{self.describe()}: expected input shape (N, {', '.join(['...'] * self.rank)}, C), got "
                             f"per-sample {tuple(input_shape)}")
        self.noise_shape = (None, *([1] * self.rank), None)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@register_layer
class SpatialDropout1D(_Spatial):
    """Keras's: drops whole channels of (N, T, C) sequences (one draw per sample and channel)."""


@register_layer
class SpatialDropout2D(_Spatial):
    """Keras's: drops whole channels of (N, H, W, C) images."""

    rank = 2


@register_layer
class GaussianNoise(Seeded):
    """Keras's: adds normal noise of standard deviation ``stddev`` in training (a regularizer);
    the identity in inference. Drawn from the layer's generator, reseeded each epoch as
    Dropout's masks are."""

    supports_masking = True

    def __init__(self, stddev, seed=None, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.stddev = number(f"GaussianNoise {self.name!r}", "stddev", stddev)
        self._seeded(seed)

    def start_epoch(self, epoch, stream=0):
        super().start_epoch(epoch, stream)
        self._normal = random_normal_from(self._uniform)

    def apply(self, x, training=False):
        if not training or self.stddev == 0.0:
            return x, lambda dy, need_dx=True: dy
        return x + self.stddev * self._normal(tuple(x.shape), x.dtype), lambda dy, need_dx=True: dy

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


def random_normal_from(uniform):
    """Standard normal draws from a uniform generator ``uniform(shape, dtype)`` (Box-Muller)."""
    def normal(shape, dtype):
        u1, u2 = uniform(shape, dtype), uniform(shape, dtype)
        xp = namespace_of(u1)
        return xp.sqrt(-2.0 * xp.log(1.0 - u1)) * xp.cos(2.0 * math.pi * u2)  # 1 - u1 > 0: u1 < 1
    return normal


def _rate(layer, rate):
    return number(f"{type(layer).__name__} {layer.name!r}", "rate", rate, 0.0, 1.0, high_open=True)
