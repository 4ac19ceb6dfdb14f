"""Element-wise activations. Each backward keeps the one array it needs.

``ACTIVATIONS`` names them for ``activation=`` arguments (Dense, Conv2D, SimpleRNN) and for
``Activation(name)``, Keras's way of writing them.
"""

from __future__ import annotations


from ..core.checks import number, one_of, short
from ..errors import ArgumentError, ShapeError, shape_str
from .base import Layer, register_layer

MAX_AXES = 64  # the most axes a shape in a model file may have (io/spec.py's MAX_OUTPUTS)


@register_layer
class ReLU(Layer):
    """``max(x, 0)``: a NaN passes through, as in NumPy and PyTorch (``Backend.relu``; its
    portable form, ``x * (x > 0)``, also turns -inf into NaN, where PyTorch's gives 0). A graph
    runs it after a max pooling that alone reads it (models/fusion.py)."""

    def apply(self, x, training=False):
        be = self.backend
        y, saved = be.relu(x)  # see Backend.relu: the portable form and why it is a product
        return y, lambda dy, need_dx=True: be.relu_backward(dy, saved)


@register_layer
class LeakyReLU(Layer):
    """``x`` where positive, ``negative_slope * x`` elsewhere.

    Keras's signature and default, ``LeakyReLU(negative_slope=0.3)``; ``alpha`` is xdl's (and
    Keras 2's) keyword for it (both given must agree). ``activation="leaky_relu"`` keeps xdl's
    former slope, 0.01 (``default_slope`` of the layer it makes), because saved models name
    that activation without its slope; Keras's activation function slopes 0.2
    (``xdl.activations.leaky_relu``)."""

    default_slope = 0.3

    def __init__(self, negative_slope=None, *, alpha=None, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        owner = f"LeakyReLU {self.name!r}"
        if alpha is not None and negative_slope is not None \
                and number(owner, "alpha", alpha) != number(owner, "negative_slope", negative_slope):
            raise ArgumentError(f"{owner}: alpha={alpha!r} and negative_slope={negative_slope!r} disagree; give one "
                                "of them (negative_slope is Keras 3's name for alpha)")
        if negative_slope is None:
            negative_slope, key = (self.default_slope, "negative_slope") if alpha is None else (alpha, "alpha")
        else:
            key = "negative_slope"
        self.alpha = number(owner, key, negative_slope)

    @property
    def negative_slope(self):
        """Keras 3's name for ``alpha``."""
        return self.alpha

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

    def __init__(self, axis=-1, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        if not isinstance(axis, int) or isinstance(axis, bool) or not -MAX_AXES <= axis < MAX_AXES:
            raise ArgumentError(f"Softmax {self.name!r}: axis must be an int, got {short(axis)}")
        self.axis = axis

    def check_input_shape(self, input_shape):
        rank = len(input_shape) + 1  # with the batch axis
        if not -rank <= self.axis < rank:
            raise ShapeError(f"{self.describe()}: axis {self.axis} is out of range for input "
                             f"{shape_str(tuple(input_shape))} (axes -{rank}..{rank - 1})")

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        super().build(input_shape)

    def apply(self, x, training=False):
        xp, axis = self.backend.xp, self.axis
        e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
        y = e / xp.sum(e, axis=axis, keepdims=True)
        return y, lambda dy, need_dx=True: y * (dy - xp.sum(dy * y, axis=axis, keepdims=True))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _relu(xp, x):
    """``max(x, 0)`` as a product with a 0/1 mask (no scalar sent to the device; see ReLU)."""
    return x * xp.astype(x > 0, x.dtype)


def _softplus(xp, x):
    """``log(1 + exp(x))`` without overflow: ``max(x, 0) + log1p(exp(-|x|))``."""
    return _relu(xp, x) + xp.log1p(xp.exp(-xp.abs(x)))


def _sigmoid(xp, x):
    return 0.5 * xp.tanh(0.5 * x) + 0.5


@register_layer
class SiLU(Layer):
    """``x * sigmoid(x)`` (Keras's "silu", also named "swish"; PyTorch's ``nn.SiLU``)."""

    def apply(self, x, training=False):
        xp = self.backend.xp
        s = _sigmoid(xp, x)
        return x * s, lambda dy, need_dx=True: dy * (s * (1.0 + x * (1.0 - s)))


Swish = SiLU  # Keras's other name; models save "SiLU"


@register_layer
class ELU(Layer):
    """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere (Keras and PyTorch; alpha 1)."""

    def __init__(self, alpha=1.0, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.alpha = number(f"ELU {self.name!r}", "alpha", alpha)

    def apply(self, x, training=False):
        xp, alpha = self.backend.xp, self.alpha
        positive = x > 0
        # expm1 of the negative part only: exp of a large positive x would overflow to inf
        neg = alpha * xp.expm1(x - _relu(xp, x))
        y = xp.where(positive, x, neg)
        return y, lambda dy, need_dx=True: xp.where(positive, dy, dy * (neg + alpha))

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


@register_layer
class Softplus(Layer):
    """``log(1 + exp(x))``, computed without overflow; its derivative is ``sigmoid(x)``."""

    def apply(self, x, training=False):
        xp = self.backend.xp
        return _softplus(xp, x), lambda dy, need_dx=True: dy * _sigmoid(xp, x)


@register_layer
class Softsign(Layer):
    """``x / (1 + |x|)``."""

    def apply(self, x, training=False):
        xp = self.backend.xp
        inverse = 1.0 / (1.0 + xp.abs(x))
        return x * inverse, lambda dy, need_dx=True: dy * (inverse * inverse)


@register_layer
class Mish(Layer):
    """``x * tanh(softplus(x))`` (Misra 2019; PyTorch's ``nn.Mish``)."""

    def apply(self, x, training=False):
        xp = self.backend.xp
        t = xp.tanh(_softplus(xp, x))

        def backprop(dy, need_dx=True):
            return dy * (t + x * _sigmoid(xp, x) * (1.0 - t * t))

        return x * t, backprop


@register_layer
class GELU(Layer):
    """``x * Phi(x)``, Phi the standard normal CDF (PyTorch's ``nn.GELU``, Keras's "gelu").
    ``approximate="tanh"`` (or True, Keras's spelling): ``0.5 x (1 + tanh(sqrt(2/pi) (x +
    0.044715 x^3)))``. The exact form's erf, which the array API lacks, is Abramowitz and
    Stegun 7.1.26 (absolute error below 1.5e-7: float32's precision)."""

    def __init__(self, approximate="none", *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        if isinstance(approximate, bool):
            approximate = "tanh" if approximate else "none"
        approximate = one_of(f"GELU {self.name!r}", "approximate (or a bool)", approximate, ("none", "tanh"))
        self.approximate = approximate

    def apply(self, x, training=False):
        be, approximate = self.backend, self.approximate
        y, saved = be.gelu(x, approximate)  # Backend.gelu: the portable forms, and one kernel on torch
        return y, lambda dy, need_dx=True: be.gelu_backward(dy, saved, approximate)

    def get_config(self):
        return {**super().get_config(), "approximate": self.approximate}


class Linear(Layer):
    """The identity: the "linear" activation (Keras's name for none)."""

    def apply(self, x, training=False):
        return x, lambda dy, need_dx=True: dy


#: the activation names ``activation=`` and ``Activation`` take, and the layer of each
class _LeakyReLUActivation(LeakyReLU):
    """What ``activation="leaky_relu"`` makes: xdl's former default slope (see LeakyReLU)."""

    default_slope = 0.01


ACTIVATIONS = {"linear": Linear, "relu": ReLU, "leaky_relu": _LeakyReLUActivation, "sigmoid": Sigmoid, "tanh": Tanh,
               "softmax": Softmax}
ACTIVATIONS.update({"silu": SiLU, "swish": SiLU, "elu": ELU, "softplus": Softplus, "softsign": Softsign,
                    "mish": Mish})
ACTIVATIONS["gelu"] = GELU


def activation_name(owner, name) -> str:
    """``name`` checked against ``ACTIVATIONS`` (None is "linear"); ValueError listing them."""
    if name is None:
        return "linear"
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ArgumentError(f"{owner}: unknown activation {name!r}; known: {', '.join(map(repr, ACTIVATIONS))} "
                            "(or None)")
    return name


def activation_layer(owner, name, layer_name, dtype=None):
    """The layer for activation ``name``, named ``layer_name``; None for "linear" (and None)."""
    name = activation_name(owner, name)
    return None if name == "linear" else ACTIVATIONS[name](name=layer_name, dtype=dtype)


class Activated:
    """Mixin for a layer whose output passes through its ``activation=`` (``self._activation``,
    a built activation layer or None): the layer writes ``apply_linear``, the output before
    it, so that a graph may run the activation elsewhere (models/fusion.py)."""

    def apply(self, x, training=False):
        y, backprop = self.apply_linear(x, training)
        if self._activation is None:  # most layers: nothing to compose
            return y, backprop
        out, back = self._activation.apply(y, training)
        return out, lambda dy, need_dx=True: backprop(back(dy), need_dx)


@register_layer
class Activation(Layer):
    """A named activation as a layer, as in Keras: ``Activation("relu")``; the names are
    ``ACTIVATIONS``'s."""

    def __init__(self, activation, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.activation = activation_name(f"Activation {self.name!r}", activation)
        self._layer = ACTIVATIONS[self.activation](name=f"{self.name}.{self.activation}", dtype=dtype)

    def build(self, input_shape):
        super().build(input_shape)
        self._layer.build(input_shape)

    def apply(self, x, training=False):
        return self._layer.apply(x, training)

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


# Activations act per element (Softmax per row): a mask on the input passes on, as in Keras.
for _cls in list(ACTIVATIONS.values()) + [Activation]:
    _cls.supports_masking = True
