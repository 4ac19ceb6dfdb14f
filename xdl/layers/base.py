"""The layer protocol, and the registry of layer types a model file may name."""

from __future__ import annotations

import re
from collections import Counter

from .._backend import convert, floatx, get_backend
from ..errors import NotBuiltError, ShapeError, shape_str
from ..parameter import Parameter

LAYERS = {}
_counts = Counter()


def register_layer(cls):
    """Class decorator: let model files name this layer type (custom layers too)."""
    LAYERS[cls.__name__] = cls
    return cls


class Layer:
    """Base of all layers.

    A layer implements:

    - ``build(input_shape)``: create its ``Parameter``s for inputs of per-sample shape
      ``input_shape`` (the batch axis left out); called once, on first use.
    - ``call(x, training)``: forward on backend arrays, caching what backward needs.
    - ``backprop(dy)``: fill each parameter's ``grad`` and return ``dx``.
    - ``output_shape(input_shape)`` when it changes the shape, ``get_config()`` when its
      constructor takes arguments.

    ``forward(x)`` and ``backward(dy)`` are the public entry points: they accept lists,
    NumPy or other backends' arrays, build the layer and check shapes, then call the above.
    """

    #: "float" inputs are cast to the layer's dtype; "int" inputs (indices) keep theirs
    input_kind = "float"

    def __init__(self, name=None, dtype=None):
        if dtype is not None and dtype not in ("float32", "float64"):
            raise ValueError(f"{type(self).__name__}: unknown dtype {dtype!r}; use 'float32' or 'float64'")
        self.name = name or self._default_name()
        self.dtype_name = dtype
        self.backend = None
        self.dtype = None
        self.input_shape = None
        self.built = False
        self._parameters = {}

    def _default_name(self) -> str:
        base = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", type(self).__name__)
        base = re.sub(r"([a-z])([A-Z])", r"\1_\2", base).lower()  # LeakyReLU -> leaky_re_lu, Conv2D -> conv2d
        n = _counts[base]
        _counts[base] += 1
        return base if n == 0 else f"{base}_{n}"

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"

    # -- what subclasses implement ------------------------------------------------------
    def build(self, input_shape) -> None:
        """Bind the layer to the active backend and dtype; subclasses then add parameters."""
        self.backend = get_backend()
        self.dtype_name = self.dtype_name or floatx()
        self.dtype = self.backend.dtype(self.dtype_name)
        self.input_shape = tuple(input_shape)
        self.built = True

    def call(self, x, training=False):
        raise NotImplementedError

    def backprop(self, dy):
        raise NotImplementedError

    def backprop_parameters(self, dy) -> None:
        """Fill the parameters' grads only: a model's first trainable layer, whose ``dx``
        nobody reads. Layers override it to skip computing ``dx`` (Dense saves a GEMM)."""
        self.backprop(dy)

    def output_shape(self, input_shape) -> tuple:
        return tuple(input_shape)

    def start_epoch(self, epoch: int, stream: int = 0) -> None:
        """Called by ``fit`` before each epoch: layers with randomness reseed from the epoch
        and ``stream`` (the process's rank in data-parallel training, so ranks differ)."""

    def check_input_shape(self, input_shape) -> None:
        """Raise ``ShapeError`` if a built layer cannot take per-sample ``input_shape``."""

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype_name}

    # -- parameters -----------------------------------------------------------------------
    def add_parameter(self, name: str, value, trainable: bool = True) -> Parameter:
        """Register an array; ``trainable=False`` for state such as BatchNorm's running mean."""
        p = Parameter(value, name, trainable)
        self._parameters[name] = p
        return p

    def parameters(self) -> list:
        """This layer's ``Parameter``s, in a fixed order."""
        return list(self._parameters.values())

    def describe(self) -> str:
        return f"{self.name} ({type(self).__name__})"

    # -- public entry points --------------------------------------------------------------
    def forward(self, x, training=False):
        """Forward pass on any array-like ``x`` of shape (N, ...)."""
        return self.call(self.accept(x), training)

    def backward(self, dy):
        """Gradient of the loss w.r.t. this layer's input, given ``dy`` w.r.t. its output."""
        if not self.built:
            raise NotBuiltError(f"{self.describe()}: backward called before forward")
        return self.backprop(convert(self.backend, dy, self.dtype, f"{self.describe()}: dy"))

    def input_dtype(self, be):
        """The dtype inputs are cast to on ``be`` (None: keep theirs, e.g. integer indices)."""
        if self.input_kind != "float":
            return None
        return self.dtype or be.dtype(self.dtype_name or floatx())

    def accept(self, x):
        """Move ``x`` onto this layer's backend and dtype, building the layer on first use."""
        be = self.backend or get_backend()
        x = convert(be, x, self.input_dtype(be), self.describe())
        if x.ndim < 1:
            raise ShapeError(f"{self.describe()}: expected an array with a batch axis, got a scalar")
        if not self.built:
            self.build(x.shape[1:])
        else:
            self.check_input_shape(x.shape[1:])
        return x


def expect_last_axis(layer, input_shape, size, hint=""):
    """Shared check for layers that act on the last axis (Dense and friends)."""
    if len(input_shape) < 1 or input_shape[-1] != size:
        raise ShapeError(
            f"{layer.describe()}: expected input shape (N, ..., {size}), got {shape_str(input_shape)}"
            + (f"; {hint}" if hint else "")
        )
