"""Embedding: a trainable lookup table from integer indices to vectors."""

from __future__ import annotations

from .. import initializers
from ..errors import ShapeError
from .base import Layer, register_layer
from .._checks import positive_int
from .dense import _name


@register_layer
class Embedding(Layer):
    """Row ``x`` of a (vocab_size, dim) table: integer indices (N, ...) -> (N, ..., dim).

    Indices must lie in [0, vocab_size). ``backward`` accumulates the rows' gradients,
    repeated indices included, and returns None: integer inputs have no gradient.
    """

    input_kind = "int"

    def __init__(self, vocab_size=None, dim=None, *, embeddings_initializer="uniform",
                 name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.vocab_size = positive_int("Embedding", "vocab_size", vocab_size)
        self.dim = positive_int("Embedding", "dim", dim)
        self.embeddings_initializer = embeddings_initializer
        self._init = initializers.get(embeddings_initializer)
        self.table = None

    def build(self, input_shape):
        super().build(input_shape)
        shape = (self.vocab_size, self.dim)
        self.table = self.add_parameter("embeddings", self._init(self.backend, shape, self.dtype))

    def output_shape(self, input_shape):
        return tuple(input_shape) + (self.dim,)

    def apply(self, x, training=False):
        xp = self.backend.xp
        if not xp.isdtype(x.dtype, "integral"):
            raise TypeError(f"{self.describe()}: expected integer indices, got dtype {x.dtype}; "
                            "encode tokens as integers in [0, vocab_size)")
        indices, out_shape = xp.reshape(x, (-1,)), tuple(x.shape) + (self.dim,)
        rows = xp.take(self.table.value, indices, axis=0)

        def backprop(dy, need_dx=True):
            if tuple(dy.shape) != out_shape:
                raise ShapeError(f"{self.describe()}: gradient of shape {tuple(dy.shape)}, expected {out_shape}")
            grad_rows = xp.reshape(dy, (-1, self.dim))
            self.table.add_grad(self.backend.index_add(indices, grad_rows, self.vocab_size))
            return None  # integer indices have no gradient

        return xp.reshape(rows, out_shape), backprop

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "dim": self.dim,
                "embeddings_initializer": _name(self.embeddings_initializer)}
