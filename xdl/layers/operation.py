"""Operation: one ``xdl.ops`` function applied in a graph. ``x + y``, ``x[:, 0]`` or
``xdl.ops.mean(x, axis=1)`` on symbolic tensors (``xdl.Input`` and layers' outputs) records
one, so that Keras's functional code mixes layers and ops; the tape gives its backward.

A file holds the op's name and its constant arguments as JSON; loading finds the name among
``xdl.ops``' functions only (``OPS``), so a file cannot name any other code.
"""

from __future__ import annotations

import inspect
import math

from ..core.checks import short
from ..core import symbolic
from ..core.symbolic import SymbolicTensor, connect, unique_name
from ..errors import ArgumentError, ArgumentTypeError
from . import traced
from .base import Layer, register_layer

#: ops that act per element: a mask (padded steps) on an input passes to the output
ELEMENTWISE = frozenset({
    "abs", "absolute", "add", "subtract", "multiply", "divide", "true_divide", "negative", "positive", "pow", "power",
    "square", "sqrt", "exp", "log", "log1p", "tanh", "sigmoid", "relu", "relu6", "gelu", "silu", "swish", "softplus",
    "softsign", "elu", "leaky_relu", "maximum", "minimum", "clip", "where", "cast", "astype", "erf", "sin", "cos"})


def _ops():
    from ..core import ops  # ops import layers' modules indirectly: resolved at first use
    return ops


def allowed(name) -> bool:
    """Whether ``name`` is an op a graph may record (and a file may name)."""
    ops = _ops()
    return isinstance(name, str) and name in ops.__all__ and name not in ("operators", "shape") \
        and callable(getattr(ops, name, None))


def encode(value, tensors):
    """A call's argument as JSON: symbolic tensors become ``{"tensor": k}`` (appended to
    ``tensors``), tuples ``{"tuple": [...]}``, slices ``{"slice": [start, stop, step]}``,
    ``...`` ``{"ellipsis": true}``; numbers, strings, None and lists stay."""
    if isinstance(value, SymbolicTensor):
        for k, t in enumerate(tensors):
            if t is value:
                return {"tensor": k}
        tensors.append(value)
        return {"tensor": len(tensors) - 1}
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) or type(value).__module__ == "numpy" and getattr(value, "ndim", 1) == 0:
        number = value.item() if hasattr(value, "item") else value
        if isinstance(number, float) and not math.isfinite(number):
            return {"float": repr(number)}
        return number
    if isinstance(value, tuple):
        return {"tuple": [encode(v, tensors) for v in value]}
    if isinstance(value, list):
        return [encode(v, tensors) for v in value]
    if isinstance(value, slice):
        return {"slice": [encode(v, tensors) for v in (value.start, value.stop, value.step)]}
    if value is Ellipsis:
        return {"ellipsis": True}
    raise ArgumentTypeError(f"ops on symbolic tensors take symbolic tensors, numbers, strings, None and tuples or "
                            f"lists of them, got {type(value).__name__} {short(value)}; for a constant array, make "
                            "it a weight of a layer of your own")


def decode(value, inputs, where):
    """``encode``'s inverse, ``inputs`` the arrays (or Tensors) in the tensors' places; a
    file's malformed value raises an ``ArgumentError`` naming ``where``."""
    if isinstance(value, list):
        return [decode(v, inputs, where) for v in value]
    if not isinstance(value, dict):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise ArgumentError(f"{where}: unexpected argument {short(value)}")
    if len(value) != 1:
        raise ArgumentError(f"{where}: an argument's form must have one key, got {short(value)}")
    (kind, body), = value.items()
    if kind == "tensor" and isinstance(body, int) and not isinstance(body, bool) and 0 <= body < len(inputs):
        return inputs[body]
    if kind == "tuple" and isinstance(body, list):
        return tuple(decode(v, inputs, where) for v in body)
    if kind == "slice" and isinstance(body, list) and len(body) == 3:
        return slice(*(decode(v, inputs, where) for v in body))
    if kind == "ellipsis" and body is True:
        return Ellipsis
    if kind == "float" and body in ("nan", "inf", "-inf"):
        return float(body)
    raise ArgumentError(f"{where}: unexpected argument {short(value)}")


@register_layer
class Operation(Layer):
    """``op`` (a name in ``xdl.ops``) applied to the graph's tensors and constant arguments:
    ``arguments`` (positional) and ``keywords``, in ``encode``'s JSON form, over ``tensors``
    symbolic inputs."""

    supports_masking = True

    def __init__(self, op=None, arguments=(), keywords=None, tensors=1, *, name=None, dtype=None, **kwargs):
        if not allowed(op):
            raise ArgumentError(f"Operation: op must name a function of xdl.ops, got {short(op)}")
        super().__init__(name=name, dtype=dtype, **kwargs)
        if not isinstance(arguments, (list, tuple)) or not isinstance(keywords or {}, dict) \
                or not all(isinstance(k, str) for k in (keywords or {})):
            raise ArgumentTypeError(f"Operation {self.name!r}: arguments must be a list and keywords a dict of names, "
                                    f"got {short(arguments)} and {short(keywords)}")
        if isinstance(tensors, bool) or not isinstance(tensors, int) or not 1 <= tensors <= 64:
            raise ArgumentError(f"Operation {self.name!r}: tensors must be an int in [1, 64], got {short(tensors)}")
        self.op, self.arguments, self.keywords, self.tensors = op, list(arguments), dict(keywords or {}), tensors
        self._first = None  # (input shape, output shape) of build's trial
        self.multiple_inputs = tensors > 1
        placeholders = list(range(tensors))
        # a malformed file fails here, not at the first data
        args = decode(self.arguments, placeholders, f"{self.describe()}: arguments")
        keywords = {k: decode(v, placeholders, f"{self.describe()}: keywords") for k, v in self.keywords.items()}
        try:
            inspect.signature(getattr(_ops(), op)).bind(*args, **keywords)
        except TypeError as e:
            raise ArgumentTypeError(f"{self.describe()}: arguments and keywords do not fit ops.{op} ({e})") from None

    def build(self, input_shape):
        # Keras's build (the layer is bound already): shapes with the batch axis. A trial run:
        # arguments the op does not take fail here, named; its result is the first
        # output_shape asked for (a graph asks next)
        shape = [tuple(s[1:]) for s in input_shape] if self.multiple_inputs else tuple(input_shape[1:])
        self._first = (shape, traced.output_shape(self, shape))

    def output_shape(self, input_shape):
        first, self._first = self._first, None
        if first is not None and first[0] == input_shape:
            return first[1]
        return traced.output_shape(self, input_shape)

    def call(self, inputs):
        parts = list(inputs) if self.multiple_inputs else [inputs]
        args = decode(self.arguments, parts, self.describe())
        keywords = {k: decode(v, parts, self.describe()) for k, v in self.keywords.items()}
        return getattr(_ops(), self.op)(*args, **keywords)

    def compute_mask(self, x, mask):
        masks = mask if isinstance(mask, list) else [mask]
        return next((m for m in masks if m is not None), None) if self.op in ELEMENTWISE else None

    def output_masked(self, masked):
        return self.op in ELEMENTWISE and any(masked if isinstance(masked, list) else [masked])

    def get_config(self):
        return {**super().get_config(), "op": self.op, "arguments": self.arguments, "keywords": self.keywords,
                "tensors": self.tensors}


def record(op, args, kwargs):
    """``xdl.ops.<op>(*args, **kwargs)`` where a symbolic tensor takes part: a graph node of
    an ``Operation``, and its symbolic output."""
    trace = symbolic.tracer.get()
    if trace is not None:
        return trace(op, args, kwargs)
    tensors = []
    arguments = [encode(a, tensors) for a in args]
    keywords = {k: encode(v, tensors) for k, v in kwargs.items()}
    layer = Operation(op, arguments, keywords, len(tensors), name=unique_name(op))
    return connect(layer, tensors if len(tensors) > 1 else tensors[0])


symbolic.record_op = record
