"""Embedding: a trainable lookup table from integer indices to vectors."""

from __future__ import annotations

from ..errors import ArgumentTypeError, IndexRangeError, ShapeError
from .base import Layer, initializer, register_layer
from ..core.checks import positive_int
from .dense import _name


@register_layer
class Embedding(Layer):
    """Row ``x`` of a (vocab_size, dim) table: integer indices (N, ...) -> (N, ..., dim).

    Indices must lie in [0, vocab_size). ``backward`` accumulates the rows' gradients,
    repeated indices included, and returns None: integer inputs have no gradient.

    ``mask_zero=True`` (Keras's): index 0 is padding. The output then carries a mask, True
    where the index is not 0, that the layers after it honour (recurrent layers keep their
    state over padded steps; the loss and metrics leave them out: see masking.py); index 0
    still has a row, so give ``vocab_size`` one more than the real tokens.
    """

    input_kind = "int"

    def __init__(self, vocab_size=None, dim=None, *, embeddings_initializer="uniform", mask_zero=False,
                 name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if not isinstance(mask_zero, bool):
            raise ArgumentTypeError(f"Embedding {self.name!r}: mask_zero must be True or False, got {mask_zero!r}")
        self.mask_zero = mask_zero
        self.vocab_size = positive_int("Embedding", "vocab_size", vocab_size)
        self.dim = positive_int("Embedding", "dim", dim)
        self.embeddings_initializer = embeddings_initializer
        self._init = initializer(f"Embedding {self.name!r}", "embeddings_initializer", embeddings_initializer)
        self.table = None

    def build(self, input_shape):
        super().build(input_shape)
        shape = (self.vocab_size, self.dim)
        self.table = self.add_parameter("embeddings", self._init(self.backend, shape, self.dtype))

    def check_values(self, x, where):
        """Indices outside [0, vocab_size) are refused: -1 would read the last row, and
        vocab_size an array's end. One device read per call (fit, predict, forward)."""
        xp = self.backend.xp
        if x.shape[0] == 0 or not xp.isdtype(x.dtype, "integral"):
            return
        low, high = (int(v) for v in self.backend.to_numpy(xp.stack([xp.min(x), xp.max(x)])))
        if low < 0 or high >= self.vocab_size:
            raise IndexRangeError(f"{where}: {self.describe()} takes indices in [0, {self.vocab_size - 1}] "
                              f"(vocab_size {self.vocab_size}); got indices from {low} to {high}")

    def output_shape(self, input_shape):
        return tuple(input_shape) + (self.dim,)

    def apply(self, x, training=False):
        xp = self.backend.xp
        if not xp.isdtype(x.dtype, "integral"):
            raise ArgumentTypeError(f"{self.describe()}: expected integer indices, got dtype {x.dtype}; "
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

    def compute_mask(self, x, mask):
        return x != 0 if self.mask_zero else None

    def output_masked(self, masked):
        return self.mask_zero

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "dim": self.dim,
                "embeddings_initializer": _name(self.embeddings_initializer), "mask_zero": self.mask_zero}
