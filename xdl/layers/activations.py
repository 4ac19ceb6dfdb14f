"""Element-wise activations. Each backward keeps the one array it needs.

``ACTIVATIONS`` names them for ``activation=`` arguments (Dense, Conv2D, SimpleRNN) and for
``Activation(name)``, Keras's way of writing them.
"""

from __future__ import annotations

from .base import Layer, register_layer


@register_layer
class ReLU(Layer):
    """``max(x, 0)``, computed as ``x * (x > 0)``: a NaN passes through, as in NumPy and
    PyTorch (and an input of -inf gives NaN, not 0)."""

    def apply(self, x, training=False):
        # A 0/1 mask, multiplied: NumPy's where() branches per element and runs ~8x slower on
        # random signs; maximum(x, 0.0) would make array-api-compat copy the scalar to the
        # device, which on torch-CUDA waits for the GPU. No scalar, no branch here. A backend
        # with a fused kernel (Backend.relu) does the same in one pass and keeps x instead.
        be = self.backend
        if "relu" in be.fused:
            return be.relu(x), lambda dy, need_dx=True: be.relu_backward(dy, x)
        mask = be.xp.astype(x > 0, x.dtype)
        return x * mask, lambda dy, need_dx=True: dy * mask


@register_layer
class LeakyReLU(Layer):
    """``x`` where positive, ``alpha * x`` elsewhere."""

    def __init__(self, alpha=0.01, *, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.alpha = float(alpha)

    def apply(self, x, training=False):
        xp, alpha = self.backend.xp, self.alpha
        return xp.where(x > 0, x, alpha * x), lambda dy, need_dx=True: xp.where(x > 0, dy, alpha * dy)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


@register_layer
class Sigmoid(Layer):
    """``1 / (1 + exp(-x))``, computed as ``(tanh(x / 2) + 1) / 2`` so it never overflows."""

    def apply(self, x, training=False):
        y = 0.5 * self.backend.xp.tanh(0.5 * x) + 0.5
        return y, lambda dy, need_dx=True: dy * y * (1.0 - y)


@register_layer
class Tanh(Layer):
    def apply(self, x, training=False):
        y = self.backend.xp.tanh(x)
        return y, lambda dy, need_dx=True: dy * (1.0 - y * y)


@register_layer
class Softmax(Layer):
    """Softmax over ``axis`` (default: last). For classification prefer a loss on logits."""

    def __init__(self, axis=-1, *, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.axis = int(axis)

    def apply(self, x, training=False):
        xp, axis = self.backend.xp, self.axis
        e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
        y = e / xp.sum(e, axis=axis, keepdims=True)
        return y, lambda dy, need_dx=True: y * (dy - xp.sum(dy * y, axis=axis, keepdims=True))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Linear(Layer):
    """The identity: the "linear" activation (Keras's name for none)."""

    def apply(self, x, training=False):
        return x, lambda dy, need_dx=True: dy


#: the activation names ``activation=`` and ``Activation`` take, and the layer of each
ACTIVATIONS = {"linear": Linear, "relu": ReLU, "leaky_relu": LeakyReLU, "sigmoid": Sigmoid, "tanh": Tanh,
               "softmax": Softmax}


def activation_name(owner, name) -> str:
    """``name`` checked against ``ACTIVATIONS`` (None is "linear"); ValueError listing them."""
    if name is None:
        return "linear"
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"{owner}: unknown activation {name!r}; known: {', '.join(map(repr, ACTIVATIONS))} "
                         "(or None)")
    return name


def activation_layer(owner, name, layer_name, dtype=None):
    """The layer for activation ``name``, named ``layer_name``; None for "linear" (and None)."""
    name = activation_name(owner, name)
    return None if name == "linear" else ACTIVATIONS[name](name=layer_name, dtype=dtype)


def then(activation, y, backprop, training=False):
    """``(activation(y), backprop)`` composed: a layer's output passed through ``activation``
    (a built activation layer, or None for none)."""
    if activation is None:
        return y, backprop
    out, back = activation.apply(y, training)
    return out, lambda dy, need_dx=True: backprop(back(dy), need_dx)


@register_layer
class Activation(Layer):
    """A named activation as a layer, as in Keras: ``Activation("relu")``; the names are
    ``ACTIVATIONS``'s."""

    def __init__(self, activation, *, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.activation = activation_name(f"Activation {self.name!r}", activation)
        self._layer = ACTIVATIONS[self.activation](name=f"{self.name}.{self.activation}", dtype=dtype)

    def build(self, input_shape):
        super().build(input_shape)
        self._layer.build(input_shape)

    def apply(self, x, training=False):
        return self._layer.apply(x, training)

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}
