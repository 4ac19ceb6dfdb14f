"""DepthwiseConv2D and SeparableConv2D: convolutions with one group per input channel.

A depthwise convolution filters each input channel on its own (PyTorch's ``conv2d`` with
``groups = C_in``): no channel sums, so it is no matrix product; it loops over the kh * kw
kernel offsets, one strided slice and one broadcast product each (see ``_windows``).
"""

from __future__ import annotations

from ...core import regularizers
from ...core.checks import boolean, channels_last, either, no_constraints, positive_int
from . import windows as win
from ...errors import ArgumentTypeError
from ..activations import Activated, activation_layer, activation_name
from ..base import Layer, initializer, register_layer, regularizer
from ..dense import _name


def depthwise(xp, x, kernel, geom):
    """(N, H, W, C) with a (kh, kw, C, M) kernel -> ``(y, backprop)``: y (N, OH, OW, C * M),
    output channel ``c * M + m`` from input channel c (Keras's and PyTorch's order);
    ``backprop(dy, need_dx)`` gives ``(dx or None, dkernel)``."""
    n, c, m = x.shape[0], kernel.shape[2], kernel.shape[3]
    x_padded = win.pad(xp, x, geom)
    kw = geom.kernel[1]
    y = None
    for k, (rows, cols) in enumerate(geom.offsets()):
        term = x_padded[:, rows, cols, :, None] * kernel[k // kw, k % kw, ...]
        y = term if y is None else y + term
    out_shape = (n,) + geom.out_hw

    def backprop(dy, need_dx=True):
        dy5 = xp.reshape(dy, out_shape + (c, m))
        dkernel = xp.stack([xp.sum(x_padded[:, rows, cols, :, None] * dy5, axis=(0, 1, 2))
                            for rows, cols in geom.offsets()], axis=0)
        dkernel = xp.reshape(dkernel, kernel.shape)
        if not need_dx:
            return None, dkernel
        parts = (xp.sum(dy5 * kernel[k // kw, k % kw, ...], axis=-1) for k in range(geom.kernel[0] * kw))
        return win.crop(win.scatter_add(xp, geom, parts, n, c, dy), geom), dkernel

    return xp.reshape(y, out_shape + (c * m,)), backprop


class _Depthwise(Activated, Layer):
    """Shared arguments of the depthwise layers: kernel geometry, depth multiplier, activation."""

    sized_axes = ((-1, None),)

    def _options(self, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier, activation,
                 use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer,
                 constraints, stride, dilation, dtype):
        owner = f"{type(self).__name__} {self.name!r}"
        if kernel_size is None:
            raise ArgumentTypeError(f"{owner}: kernel_size is required")
        channels_last(owner, data_format)
        no_constraints(owner, **constraints)
        self.kernel_size = win.pair(owner, "kernel_size", kernel_size)
        self.stride = either(owner, "strides", strides, (1, 1), "stride", stride, lambda k, v: win.pair(owner, k, v))
        self.dilation = either(owner, "dilation_rate", dilation_rate, (1, 1), "dilation", dilation,
                               lambda k, v: win.pair(owner, k, v))
        self.padding = win.padding_spec(owner, padding)
        self.depth_multiplier = positive_int(owner, "depth_multiplier", depth_multiplier)
        self.activation = activation_name(owner, activation)
        self._activation = activation_layer(type(self).__name__, activation, f"{self.name}.{self.activation}",
                                            dtype)
        self.use_bias = boolean(type(self).__name__, "use_bias", use_bias)
        self.depthwise_initializer, self.bias_initializer = depthwise_initializer, bias_initializer
        self._init_D = initializer(owner, "depthwise_initializer", depthwise_initializer)
        self._init_b = initializer(owner, "bias_initializer", bias_initializer)
        self.depthwise_regularizer = regularizer(f"{owner}: depthwise_regularizer", depthwise_regularizer)
        self.bias_regularizer = regularizer(f"{owner}: bias_regularizer", bias_regularizer)
        self.depthwise_kernel = self.b = None

    def build(self, input_shape):
        win.expect_image(self, input_shape)
        super().build(input_shape)
        shape = self.kernel_size + (input_shape[-1], self.depth_multiplier)
        self.depthwise_kernel = self.add_parameter("depthwise_kernel", self._init_D(self.backend, shape, self.dtype),
                                                   regularizer=self.depthwise_regularizer)

    def _add_bias(self, channels):
        if self.use_bias:
            self.b = self.add_parameter("bias", self._init_b(self.backend, (channels,), self.dtype),
                                        regularizer=self.bias_regularizer)
        if self._activation is not None:
            self._activation.build((None, None, channels))

    def check_input_shape(self, input_shape):
        win.expect_image(self, input_shape, self.input_shape[-1])
        self.output_shape(input_shape)

    def _geometry(self, in_hw):
        return win.geometry(self, tuple(in_hw), self.kernel_size, self.stride, self.dilation, self.padding)

    def _out_hw(self, input_shape):
        return win.output_hw(self, tuple(input_shape[:2]), self.kernel_size, self.stride, self.dilation,
                             self.padding)

    def get_config(self):
        return {**super().get_config(), "kernel_size": list(self.kernel_size), "strides": list(self.stride),
                "padding": self.padding if isinstance(self.padding, str) else list(self.padding),
                "dilation_rate": list(self.dilation), "depth_multiplier": self.depth_multiplier,
                "activation": self.activation, "use_bias": self.use_bias,
                "depthwise_initializer": _name(self.depthwise_initializer),
                "bias_initializer": _name(self.bias_initializer), **regularizers.configs(self)}


@register_layer
class DepthwiseConv2D(_Depthwise):
    """Each of the C input channels of (N, H, W, C) filtered by its own ``depth_multiplier``
    (M) kernels: (N, OH, OW, C * M), channel ``c * M + m``. PyTorch's ``conv2d`` with
    ``groups = C`` and its (C * M, 1, kh, kw) weight read as ours (kh, kw, C, M).
    ``stride``, ``padding``, ``dilation`` as Conv2D's. Parameters: ``depthwise_kernel``
    (kh, kw, C, M) and ``bias`` (C * M,).
    """

    def __init__(self, kernel_size=None, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, *, stride=None,
                 dilation=None, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, activity_regularizer=activity_regularizer, **kwargs)
        self._options(kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier, activation, use_bias,
                      depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer,
                      {"depthwise_constraint": depthwise_constraint, "bias_constraint": bias_constraint}, stride,
                      dilation, dtype)

    def build(self, input_shape):
        super().build(input_shape)
        self._add_bias(input_shape[-1] * self.depth_multiplier)

    def output_shape(self, input_shape):
        return self._out_hw(input_shape) + (input_shape[-1] * self.depth_multiplier,)

    def apply_linear(self, x, training=False):
        xp = self.backend.xp
        y, back = depthwise(xp, x, self.depthwise_kernel.value, self._geometry(x.shape[1:3]))
        if self.use_bias:
            y = y + self.b.value

        def backprop(dy, need_dx=True):
            if self.use_bias:
                self.b.add_grad(xp.sum(dy, axis=(0, 1, 2)))
            dx, dkernel = back(dy, need_dx)
            self.depthwise_kernel.add_grad(dkernel)
            return dx

        return y, backprop


@register_layer
class SeparableConv2D(_Depthwise):
    """A depthwise convolution (no bias) then a 1x1 one to ``filters`` channels, as Keras:
    (N, H, W, C) -> (N, OH, OW, filters). Parameters: ``depthwise_kernel`` (kh, kw, C, M),
    ``pointwise_kernel`` (1, 1, C * M, filters) and ``bias`` (filters,).
    """

    def __init__(self, filters=None, kernel_size=None, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, *, stride=None, dilation=None, name=None,
                 dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, activity_regularizer=activity_regularizer, **kwargs)
        self._options(kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier, activation, use_bias,
                      depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer,
                      {"depthwise_constraint": depthwise_constraint, "pointwise_constraint": pointwise_constraint,
                       "bias_constraint": bias_constraint}, stride, dilation, dtype)
        self.pointwise_regularizer = regularizer(f"SeparableConv2D {self.name!r}: pointwise_regularizer",
                                                 pointwise_regularizer)
        if filters is None:
            raise ArgumentTypeError(f"SeparableConv2D {self.name!r}: filters is required")
        self.filters = positive_int(f"SeparableConv2D {self.name!r}", "filters", filters)
        self.pointwise_initializer = pointwise_initializer
        self._init_P = initializer(f"SeparableConv2D {self.name!r}", "pointwise_initializer", pointwise_initializer)
        self.pointwise_kernel = None

    def build(self, input_shape):
        super().build(input_shape)
        shape = (1, 1, input_shape[-1] * self.depth_multiplier, self.filters)
        self.pointwise_kernel = self.add_parameter("pointwise_kernel", self._init_P(self.backend, shape, self.dtype),
                                                   regularizer=self.pointwise_regularizer)
        self._add_bias(self.filters)

    def output_shape(self, input_shape):
        return self._out_hw(input_shape) + (self.filters,)

    def apply_linear(self, x, training=False):
        xp = self.backend.xp
        z, back = depthwise(xp, x, self.depthwise_kernel.value, self._geometry(x.shape[1:3]))
        shape, width = tuple(z.shape), z.shape[-1]
        P = xp.reshape(self.pointwise_kernel.value, (width, self.filters))
        z2 = xp.reshape(z, (shape[0] * shape[1] * shape[2], width))  # no -1: the batch may be empty
        y2 = z2 @ P
        if self.use_bias:
            y2 = y2 + self.b.value
        y = xp.reshape(y2, shape[:3] + (self.filters,))

        def backprop(dy, need_dx=True):
            dy2 = xp.reshape(dy, (z2.shape[0], self.filters))
            if self.use_bias:
                self.b.add_grad(xp.sum(dy2, axis=0))
            self.pointwise_kernel.add_product(self.backend, z2.T, dy2)
            dx, dkernel = back(xp.reshape(dy2 @ P.T, shape), need_dx)
            self.depthwise_kernel.add_grad(dkernel)
            return dx

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "pointwise_initializer": _name(self.pointwise_initializer)}
