"""``xdl.activations``: Keras's activation functions, on arrays and Tensors alike.

Each is built on ``xdl.ops``, so it is differentiable under a ``GradientTape`` and on plain
arrays is the bare computation. ``get(name)`` finds one by Keras's name (None: ``linear``),
``serialize(fn)`` gives that name back. A layer's ``activation="relu"`` keeps its own table.
"""

from __future__ import annotations

from . import ops
from ..errors import ArgumentError, ArgumentTypeError


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras's: ``x`` above ``threshold`` (else ``negative_slope * (x - threshold)``), clipped at
    ``max_value``."""
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return ops.relu(x)
    if negative_slope != 0.0 and max_value is None and threshold == 0.0:
        return ops.leaky_relu(x, negative_slope=negative_slope)
    negative = ops.relu(ops.subtract(threshold, x)) if negative_slope != 0.0 else None
    if threshold != 0.0:
        y = ops.multiply(x, ops.astype(ops.greater(x, threshold), x.dtype))
    else:
        y = ops.relu(x)
    if max_value is not None:
        y = ops.clip(y, 0.0, max_value)
    if negative is not None:
        y = ops.subtract(y, ops.multiply(negative_slope, negative))
    return y


def sigmoid(x):
    return ops.sigmoid(x)


def tanh(x):
    return ops.tanh(x)


def softmax(x, axis=-1):
    return ops.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    return ops.log_softmax(x, axis=axis)


def gelu(x, approximate=False):
    """Keras's ``activations.gelu``: the exact form by default (``ops.gelu`` defaults to tanh's)."""
    return ops.gelu(x, approximate=approximate)


def silu(x):
    return ops.silu(x)


swish = silu


def elu(x, alpha=1.0):
    return ops.elu(x, alpha=alpha)


SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def selu(x):
    return ops.multiply(SELU_SCALE, ops.elu(x, alpha=SELU_ALPHA))


def softplus(x):
    return ops.softplus(x)


def softsign(x):
    return ops.softsign(x)


def leaky_relu(x, negative_slope=0.2):
    return ops.leaky_relu(x, negative_slope=negative_slope)


def relu6(x):
    return ops.relu6(x)


def exponential(x):
    return ops.exp(x)


def linear(x):
    return x


def mish(x):
    """``x * tanh(softplus(x))``."""
    return ops.multiply(x, ops.tanh(ops.softplus(x)))


def hard_sigmoid(x):
    """Keras 3's: ``relu6(x + 3) / 6``."""
    return ops.divide(ops.relu6(ops.add(x, 3.0)), 6.0)


def hard_silu(x):
    return ops.multiply(x, hard_sigmoid(x))


hard_swish = hard_silu

ALL = {fn.__name__: fn for fn in (relu, sigmoid, tanh, softmax, log_softmax, gelu, silu, elu, selu, softplus,
                                   softsign, leaky_relu, relu6, exponential, linear, mish, hard_sigmoid, hard_silu)}
ALIASES = {"swish": silu, "hard_swish": hard_silu}


def serialize(activation):
    """Keras's name of one of these functions (a function of one's own: its ``__name__``)."""
    for name, fn in ALL.items():
        if activation is fn:
            return name
    if callable(activation) and isinstance(getattr(activation, "__name__", None), str):
        return activation.__name__
    raise ArgumentTypeError(f"activations.serialize: expected an activation function, got {activation!r:.80}")


def get(identifier, custom_objects=None):
    """The function for ``identifier``: None (``linear``), a function (itself) or a name."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        found = (custom_objects or {}).get(identifier) or ALL.get(identifier) or ALIASES.get(identifier)
        if found is None:
            raise ArgumentError(f"activations.get: unknown activation {identifier!r}; known: "
                                f"{sorted(ALL.keys() | ALIASES.keys())}")
        return found
    if callable(identifier):
        return identifier
    raise ArgumentTypeError(f"activations.get: expected a name, a function or None, got {identifier!r:.80}")


deserialize = get

__all__ = sorted(ALL.keys() | ALIASES.keys()) + ["get", "serialize", "deserialize"]
