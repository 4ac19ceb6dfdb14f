"""Dense: a fully connected layer over the last axis."""

from __future__ import annotations


from ..core import initializers, regularizers
from ..core.checks import as_int, boolean, either, no_constraints, positive_int
from ..errors import ArgumentError, ArgumentTypeError
from .activations import Activated, activation_layer, activation_name
from ..tutorial import TutorialWeights
from .base import Layer, expect_last_axis, initializer, register_layer, regularizer


@register_layer
class Dense(Activated, TutorialWeights, Layer):
    """``y = x @ W + b`` on the last axis: (N, ..., input_size) -> (N, ..., units).

    Keras's signature: ``Dense(units, activation=None, use_bias=True, ...)``. xdl's names
    are keywords: ``output_size`` (``units``) and ``input_size``, which may be left out (it is
    taken from the first input); the tutorial's ``Dense(input_size=2, output_size=3)``.
    ``activation`` (a name in ``ACTIVATIONS``: "relu", "softmax"...; None for none) is applied
    to the output. The tutorial's attributes ``weights``, ``bias``, ``dweights`` and ``dbias``
    read and write the parameters. ``kernel_regularizer``/``bias_regularizer``: penalties
    (xdl.regularizers, or "l1", "l2"). Keras's constraints and ``lora_rank`` are not supported.
    """

    supports_masking = True  # per position: a mask on (N, T, F) inputs passes on
    sized_axes = ((-1, "input_size"),)

    def __init__(self, units=None, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None, *, input_size=None, output_size=None,
                 name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, activity_regularizer=activity_regularizer, **kwargs)
        owner = f"Dense {self.name!r}"
        if as_int(activation) is not None:  # xdl's former Dense(input_size, output_size)
            raise ArgumentTypeError(f"{owner}: activation={activation!r}: Dense's positional arguments are Keras's "
                                    f"(units, activation); for {units!r} inputs and {activation!r} outputs write "
                                    f"Dense({activation!r}) or Dense(input_size={units!r}, output_size={activation!r})")
        units = either(owner, "units", units, None, "output_size", output_size,
                       lambda key, value: positive_int("Dense", key, value))
        if units is None:
            raise ArgumentTypeError(f"{owner}: units (the output size, xdl's output_size) is required, e.g. "
                                    "Dense(10) or Dense(output_size=10)")
        no_constraints(owner, kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        if lora_rank is not None:
            raise ArgumentError(f"{owner}: lora_rank is not supported; leave it None")
        self.input_size = positive_int("Dense", "input_size", input_size, optional=True)
        self.output_size = units
        self.activation = activation_name(owner, activation)
        self._activation = activation_layer("Dense", activation, f"{self.name}.{self.activation}", dtype)
        self.use_bias = boolean("Dense", "use_bias", use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self._init_W = initializer(owner, "kernel_initializer", kernel_initializer)
        self._init_b = initializer(owner, "bias_initializer", bias_initializer)
        self.kernel_regularizer = regularizer(f"{owner}: kernel_regularizer", kernel_regularizer)
        self.bias_regularizer = regularizer(f"{owner}: bias_regularizer", bias_regularizer)
        self.W = self.b = None
        if input_size is not None:  # the tutorial reads layer.weights before any forward
            self.build((input_size,))

    def build(self, input_shape):
        if self.input_size is not None:
            expect_last_axis(self, input_shape, self.input_size, "check input_size or the previous layer")
        super().build(input_shape)
        self.input_size = input_shape[-1]
        build_weights(self, (self.input_size, self.output_size), self.output_size, self.output_shape(input_shape))

    @property
    def units(self):
        return self.output_size

    def check_input_shape(self, input_shape):
        expect_last_axis(self, input_shape, self.input_size, "check the data or the previous layer")

    def output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_size,)

    def apply_linear(self, x, training=False):
        be, W = self.backend, self.W.value
        xp = be.xp
        x2 = _fold(self, x, self.input_size) if x.ndim > 2 else x  # one 2-D product over leading axes
        y = be.linear(x2, W, self.b.value if self.use_bias else None)
        if x.ndim > 2:
            y = xp.reshape(y, tuple(x.shape[:-1]) + (self.output_size,))

        def backprop(dy, need_dx=True):
            dy2 = _fold(self, dy, self.output_size) if dy.ndim > 2 else dy
            self.W.add_product(be, x2.T, dy2)
            if self.use_bias:
                self.b.add_row_sums(be, dy2)
            if not need_dx:  # the first layer of a model: nobody reads dx, a GEMM saved
                return None
            dx = dy2 @ W.T
            return xp.reshape(dx, tuple(x.shape)) if x.ndim > 2 else dx

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "units": self.output_size, "input_size": self.input_size,
                "activation": self.activation, "use_bias": self.use_bias,
                "kernel_initializer": _name(self.kernel_initializer), "bias_initializer": _name(self.bias_initializer),
                **regularizers.configs(self)}

def build_weights(layer, kernel_shape, units, activation_shape):
    """A layer's kernel ``W``, its (units,) bias ``b`` when it has ``use_bias``, and its
    activation built for ``activation_shape``: Dense's and the convolutions' shared build."""
    be = layer.backend
    layer.W = layer.add_parameter("weights", layer._init_W(be, kernel_shape, layer.dtype),
                                  regularizer=layer.kernel_regularizer)
    if layer.use_bias:
        layer.b = layer.add_parameter("bias", layer._init_b(be, (units,), layer.dtype), regularizer=layer.bias_regularizer)
    if layer._activation is not None:
        layer._activation.build(activation_shape)


def _fold(layer, x, size):
    """(N, ..., size) -> (M, size)."""
    return layer.backend.xp.reshape(x, (-1, size))


def _name(initializer):
    return initializers.spec(initializer)
