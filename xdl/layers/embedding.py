"""Embedding: a trainable lookup table from integer indices to vectors."""

from __future__ import annotations

from ..core import regularizers
from ..core.backend import convert
from ..errors import ArgumentError, ArgumentTypeError, IndexRangeError, ShapeError
from .base import Layer, initializer, register_layer, regularizer
from ..core.checks import either, no_constraints, positive_int, short
from .dense import _name


@register_layer
class Embedding(Layer):
    """Row ``x`` of an (input_dim, output_dim) table: integer indices (N, ...) -> (N, ..., output_dim).

    Keras's signature, ``Embedding(input_dim, output_dim, embeddings_initializer="uniform",
    embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False, weights=None)``;
    xdl's names ``vocab_size`` and ``dim`` are keywords. ``weights``: the table to start from
    (an (input_dim, output_dim) array, or a list holding it). Keras 2's ``input_length`` gives
    a first layer its input shape, ``(input_length,)``.

    Indices must lie in [0, input_dim). ``backward`` accumulates the rows' gradients,
    repeated indices included, and returns None: integer inputs have no gradient.

    ``mask_zero=True`` (Keras's): index 0 is padding. The output then carries a mask, True
    where the index is not 0, that the layers after it honour (recurrent layers keep their
    state over padded steps; the loss and metrics leave them out: see masking.py); index 0
    still has a row, so give ``input_dim`` one more than the real tokens.
    """

    input_kind = "int"

    def __init__(self, input_dim=None, output_dim=None, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, weights=None, lora_rank=None, *, vocab_size=None,
                 dim=None, input_length=None, name=None, dtype=None, **kwargs):
        if input_length is not None and not {"input_shape", "input_dim", "batch_input_shape"} & set(kwargs):
            kwargs["input_shape"] = (positive_int("Embedding", "input_length", input_length),)
        super().__init__(name=name, dtype=dtype, **kwargs)
        owner = f"Embedding {self.name!r}"
        if not isinstance(mask_zero, bool):
            raise ArgumentTypeError(f"{owner}: mask_zero must be True or False, got {mask_zero!r}")
        no_constraints(owner, embeddings_constraint=embeddings_constraint)
        if lora_rank is not None:
            raise ArgumentError(f"{owner}: lora_rank is not supported; leave it None")
        self.mask_zero = mask_zero
        size = lambda key, value: positive_int("Embedding", key, value)  # noqa: E731
        self.vocab_size = either(owner, "input_dim", input_dim, None, "vocab_size", vocab_size, size)
        self.dim = either(owner, "output_dim", output_dim, None, "dim", dim, size)
        if self.vocab_size is None or self.dim is None:
            raise ArgumentTypeError(f"{owner}: input_dim and output_dim (xdl's vocab_size and dim) are required, "
                                    "e.g. Embedding(1000, 64)")
        self.embeddings_initializer = embeddings_initializer
        self._init = initializer(owner, "embeddings_initializer", embeddings_initializer)
        self.embeddings_regularizer = regularizer(f"{owner}: embeddings_regularizer", embeddings_regularizer)
        self._start = None if weights is None else _table(owner, weights)
        self.table = None

    input_dim = property(lambda self: self.vocab_size)
    embeddings = property(lambda self: self.table, doc="Keras's: the table, a Variable")
    output_dim = property(lambda self: self.dim)

    def build(self, input_shape):
        super().build(input_shape)
        shape = (self.vocab_size, self.dim)
        start = (self._init(self.backend, shape, self.dtype) if self._start is None
                 else convert(self.backend, self._start, self.dtype, f"{self.describe()}: weights"))
        if tuple(start.shape) != shape:
            raise ShapeError(f"{self.describe()}: weights must have shape {shape} (input_dim, output_dim), got "
                             f"{tuple(start.shape)}")
        self.table = self.add_parameter("embeddings", start, regularizer=self.embeddings_regularizer)
        self._start = None

    def check_values(self, x, where):
        """Indices outside [0, vocab_size) are refused: -1 would read the last row, and
        vocab_size an array's end; so are float indices with a fraction (whole floats are
        taken, as Keras casts them). One device read per call (fit, predict, forward)."""
        xp = self.backend.xp
        if x.shape[0] == 0 or xp.isdtype(x.dtype, "bool"):
            return
        whole = xp.isdtype(x.dtype, "integral")
        parts = [xp.min(x), xp.max(x)] if whole else [xp.min(x), xp.max(x), xp.max(xp.abs(x - xp.round(x)))]
        found = self.backend.to_numpy(xp.stack([xp.astype(p, xp.float64) for p in parts]))
        if not whole and not found[2] == 0:  # a fraction (NaN compares unequal too)
            raise ArgumentTypeError(f"{where}: {self.describe()} takes integer indices; got floats ({x.dtype}) "
                                    "that are not whole numbers: encode tokens as integers in [0, vocab_size)")
        low, high = int(found[0]), int(found[1])
        if low < 0 or high >= self.vocab_size:
            raise IndexRangeError(f"{where}: {self.describe()} takes indices in [0, {self.vocab_size - 1}] "
                                  f"(vocab_size {self.vocab_size}); got indices from {low} to {high}")

    def output_shape(self, input_shape):
        return tuple(input_shape) + (self.dim,)

    def apply(self, x, training=False):
        xp = self.backend.xp
        if not xp.isdtype(x.dtype, "integral"):  # whole floats (check_values refuses others), as Keras casts
            x = xp.astype(x, xp.int64)
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
        return {**super().get_config(), "input_dim": self.vocab_size, "output_dim": self.dim,
                "embeddings_initializer": _name(self.embeddings_initializer), "mask_zero": self.mask_zero,
                **regularizers.configs(self)}


def _table(owner, weights):
    """Keras's ``weights=``: the starting table (kept as given until the layer is built)."""
    if isinstance(weights, (list, tuple)) and len(weights) == 1:
        weights = weights[0]
    if not hasattr(weights, "shape"):
        raise ArgumentTypeError(f"{owner}: weights must be an array of shape (input_dim, output_dim), got "
                                f"{short(weights)}")
    return weights
