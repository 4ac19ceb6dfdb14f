"""PositionEmbedding: one vector per position, added to token embeddings (Keras-hub style)."""

from __future__ import annotations

import math

from ...core import initializers
from ...core.checks import boolean, positive_int
from ...errors import ShapeError, shape_str
from ..base import Layer, register_layer
from ..base import initializer as get_initializer
from ..dense import _name


@register_layer
class PositionEmbedding(Layer):
    """The embeddings of positions 0..T-1 for an input (N, T, dim), broadcast to its shape,
    as Keras-hub's ``PositionEmbedding``: the input gives only the length; add the result
    to the token embeddings yourself, ``xdl.Add()([x, PositionEmbedding(64, 128)(x)])``.

    Learned by default: a (max_length, dim) table. ``sinusoidal=True``: the fixed table of
    Vaswani et al. (sin on even features, cos on odd, wavelengths up to 10000 * 2 pi), no
    weights. Inputs longer than ``max_length`` are a ShapeError.
    """

    def __init__(self, max_length, dim, sinusoidal=False, *, initializer="glorot_uniform", name=None,
                 dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.max_length = positive_int("PositionEmbedding", "max_length", max_length)
        self.dim = positive_int("PositionEmbedding", "dim", dim)
        self.sinusoidal = boolean("PositionEmbedding", "sinusoidal", sinusoidal)
        self.initializer = initializer
        get_initializer(f"PositionEmbedding {self.name!r}", "initializer", initializer)  # resolved in build
        self.table = None

    def check_input_shape(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 2 or shape[1] != self.dim or (shape[0] is not None and shape[0] > self.max_length):
            raise ShapeError(f"{self.describe()}: expected input shape (N, T <= {self.max_length}, {self.dim}), "
                             f"got {shape_str(shape)}")

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        super().build(input_shape)
        if self.sinusoidal:
            self._fixed = self._sinusoid()
        else:
            init = initializers.get(self.initializer)
            self.table = self.add_parameter("embeddings", init(self.backend, (self.max_length, self.dim), self.dtype))

    def _sinusoid(self):
        xp, dev = self.backend.xp, self.backend.device
        pos = xp.astype(xp.arange(self.max_length, device=dev), self.dtype)[:, None]
        k = xp.astype(xp.arange(self.dim, device=dev), self.dtype)
        rate = xp.exp(xp.astype(k // 2 * 2, self.dtype) * (-math.log(10000.0) / self.dim))
        angle = pos * rate[None, :]
        even = xp.astype(k % 2 == 0, self.dtype)[None, :]
        return xp.sin(angle) * even + xp.cos(angle) * (1.0 - even)

    def rows(self, start, length):
        """Positions ``start .. start + length - 1`` as (length, dim)."""
        if start + length > self.max_length:
            raise ShapeError(f"{self.describe()}: positions up to {start + length} asked, max_length is "
                             f"{self.max_length}")
        table = self._fixed if self.sinusoidal else self.table.value
        return table[start:start + length, :]

    def apply(self, x, training=False):
        xp = self.backend.xp
        n, t = x.shape[0], x.shape[1]
        rows = self.rows(0, t)
        y = xp.broadcast_to(rows[None, :, :], (n, t, self.dim))

        def backprop(dy, need_dx=True):
            if self.table is not None:
                g = xp.sum(dy, axis=0)
                if t < self.max_length:  # rows past the input's length get no gradient
                    g = xp.concat([g, xp.zeros((self.max_length - t, self.dim), dtype=g.dtype,
                                                device=self.backend.device)], axis=0)
                self.table.add_grad(g)
            return xp.zeros_like(dy) if need_dx else None  # y depends on x's shape only

        return y, backprop

    def decode(self, x, cache):
        """Positions continuing from ``cache`` (the count seen so far, None at the start)."""
        start = cache or 0
        rows = self.rows(start, x.shape[1])
        return self.backend.xp.broadcast_to(rows[None, :, :], tuple(x.shape)), start + x.shape[1]

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length, "dim": self.dim,
                "sinusoidal": self.sinusoidal, "initializer": _name(self.initializer)}
