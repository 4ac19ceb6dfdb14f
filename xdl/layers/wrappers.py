"""Keras's wrappers: ``TimeDistributed`` (a layer applied to every time step, as one call on
the steps folded into the batch) and ``Lambda`` (a function of ``xdl.ops`` as a layer, its
backward from the tape; code, so it is not saved)."""

from __future__ import annotations

from ..core.checks import short
from ..errors import ArgumentError, ArgumentTypeError, ShapeError, shape_str
from .base import LAYERS, Layer, register_layer


@register_layer
class TimeDistributed(Layer):
    """``layer`` on each step of (N, T, ...): the steps are folded into the batch, (N * T, ...),
    for one call of ``layer`` (one product for a Dense), and unfolded after; its backward
    the same way. The wrapped layer's weights are this layer's."""

    supports_masking = True  # per step: a mask over (N, T) passes on

    def __init__(self, layer=None, *, name=None, dtype=None, **kwargs):
        if not isinstance(layer, Layer) or getattr(layer, "graph", None) is not None:
            raise ArgumentTypeError(f"TimeDistributed: layer must be a layer such as Dense(8) (not a model), got "
                                    f"{type(layer).__name__}")
        super().__init__(name=name, dtype=layer.dtype_name if dtype is None else dtype, **kwargs)
        self.layer = layer

    def _sublayers(self):
        return [self.layer]

    def check_input_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ShapeError(f"{self.describe()}: expected input shape (N, T, ...) (a time axis, then what "
                             f"{self.layer.describe()} takes), got {shape_str(input_shape)}")
        if self.layer.built:
            self.layer.check_input_shape(tuple(input_shape[1:]))

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        if not self.layer.built:
            self.layer.build(tuple(input_shape[1:]))
        super().build(input_shape)

    def output_shape(self, input_shape):
        return (input_shape[0], *self.layer.output_shape(tuple(input_shape[1:])))

    def start_epoch(self, epoch, stream=0):
        self.layer.start_epoch(epoch, stream)

    def apply(self, x, training=False):
        xp, shape = self.backend.xp, tuple(x.shape)
        folded, back = self.layer.apply(xp.reshape(x, (shape[0] * shape[1], *shape[2:])), training)
        y = xp.reshape(folded, (shape[0], shape[1], *folded.shape[1:]))

        def backprop(dy, need_dx=True):
            dx = back(xp.reshape(dy, (shape[0] * shape[1], *dy.shape[2:])), need_dx)
            return None if dx is None else xp.reshape(dx, shape)

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "layer": {"class": type(self.layer).__name__,
                                                  "config": self.layer.get_config()}}

    @classmethod
    def from_config(cls, config, build_layer=None):
        config = dict(config)
        spec = config.pop("layer", None)
        kind = LAYERS.get(spec["class"]) if isinstance(spec, dict) and isinstance(spec.get("class"), str) else None
        if not (isinstance(kind, type) and issubclass(kind, Layer)) or hasattr(kind, "compile") \
                or not isinstance(spec.get("config"), dict):  # a model's spec is a graph: not here
            raise ArgumentError(f"TimeDistributed: 'layer' must name a layer type and its config, got {short(spec)}")
        return super().from_config({**config, "layer": kind.from_config(spec["config"])})


class Lambda(Layer):  # not registered: a file cannot name it (it is code)
    """Keras's: ``function(inputs)`` (written with ``xdl.ops``) as a layer; the tape gives its
    backward. ``arguments``: keywords passed to the function. A model holding one trains and
    predicts, but is not saved: a file would have to hold code (Keras refuses to load one
    unless ``safe_mode=False``); write a ``Layer`` class and register it instead."""

    def __init__(self, function=None, output_shape=None, mask=None, arguments=None, *, name=None, dtype=None,
                 **kwargs):
        if not callable(function):
            raise ArgumentTypeError(f"Lambda: function must be callable, got {short(function)}")
        if mask is not None:
            raise ArgumentError("Lambda: mask= is not supported")
        if arguments is not None and not isinstance(arguments, dict):
            raise ArgumentTypeError(f"Lambda: arguments must be a dict of keywords, got {short(arguments)}")
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.function, self.arguments = function, dict(arguments or {})
        self._declared_output = output_shape

    def __call__(self, inputs, *args, **kwargs):
        if not self.built and isinstance(inputs, (list, tuple)):
            self.multiple_inputs = True  # Lambda(lambda t: t[0] * t[1])([a, b])
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs):
        return self.function(inputs, **self.arguments)

    def get_config(self):
        raise ArgumentError(f"{self.describe()}: a Lambda layer holds code, which xdl does not save; write a Layer "
                            "class (its call in xdl.ops), register it with xdl.saving.register_keras_serializable, "
                            "and use it instead")
