"""Conv1D: convolution over sequences (N, L, C), as Conv2D's im2col on an (N, 1, L, C) view."""

from __future__ import annotations

from ...core import regularizers
from ...core.checks import either, int_at_least, positive_int
from ...errors import ArgumentTypeError, ShapeError, shape_str
from . import windows as win
from ..base import Layer, register_layer
from .conv2d import Conv2D, keras_conv_options, weight_options
from ..dense import _name, build_weights


def length_arg(owner, name, value, minimum=1):
    """An int (or a one-element tuple/list, as Keras accepts) >= ``minimum``."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    return int_at_least(owner, name, value, minimum)


def expect_sequence(layer, input_shape, channels=None):
    """Shared check: a per-sample shape (L, C), with C == ``channels`` when given."""
    if len(input_shape) != 2 or (channels is not None and input_shape[-1] != channels):
        expected = f"(N, L, {channels if channels is not None else 'C'})"
        hint = ("sequences with channels last: reshape (N, L) to (N, L, 1)" if len(input_shape) == 1
                else "check the data or the previous layer")
        raise ShapeError(f"{layer.describe()}: expected input shape {expected}, got {shape_str(input_shape)}; "
                         f"{hint}")


@register_layer
class Conv1D(Conv2D):
    """Cross-correlation of (N, L, C_in) sequences with a (k, C_in, C_out) kernel: (N, OL, C_out).

    Keras's signature: ``Conv1D(filters, kernel_size, strides=1, padding="valid",
    data_format=None, dilation_rate=1, groups=1, activation=None, use_bias=True, ...)``;
    xdl's names ``output_channels``, ``stride``, ``dilation`` and ``input_channels`` as
    keywords, as Conv2D's. ``padding`` is "valid", "same" (``ceil(L / stride)`` outputs),
    "causal" (``(k - 1) * dilation`` zeros on the left only, as Keras) or an int of zeros on
    each side. Numerics are PyTorch's ``conv1d`` with the kernel permuted to (C_out, C_in, k).
    Parameters: ``weights`` (k, C_in, C_out) and ``bias`` (C_out,).
    """

    def __init__(self, filters=None, kernel_size=None, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, *, input_channels=None, output_channels=None,
                 stride=None, dilation=None, name=None, dtype=None, **kwargs):
        # not Conv2D's constructor: its checks speak of 2-D
        Layer.__init__(self, name=name, dtype=dtype, activity_regularizer=activity_regularizer, **kwargs)
        owner = f"Conv1D {self.name!r}"
        filters = either(owner, "filters", filters, None, "output_channels", output_channels,
                         lambda key, value: positive_int(owner, key, value))
        if filters is None or kernel_size is None:
            raise ArgumentTypeError(f"{owner}: filters (xdl's output_channels) and kernel_size are required, "
                                    "e.g. Conv1D(16, 3)")
        keras_conv_options(owner, data_format, groups, kernel_constraint, bias_constraint)
        self.output_channels = filters
        self.input_channels = positive_int(owner, "input_channels", input_channels, optional=True)
        self.kernel_size = (1, length_arg(owner, "kernel_size", kernel_size))
        self.stride = (1, either(owner, "strides", strides, 1, "stride", stride, lambda k, v: length_arg(owner, k, v)))
        self.dilation = (1, either(owner, "dilation_rate", dilation_rate, 1, "dilation", dilation,
                                   lambda k, v: length_arg(owner, k, v)))
        if isinstance(padding, str) and padding.lower() == "causal":
            self.causal, self.padding = True, "valid"
        else:
            spec = win.padding_spec(owner, padding if isinstance(padding, str) else length_arg(
                owner, "padding", padding, minimum=0))
            self.causal, self.padding = False, spec if isinstance(spec, str) else (0, spec[1])
        weight_options(self, "Conv1D", owner, activation, use_bias, kernel_initializer, bias_initializer,
                       kernel_regularizer, bias_regularizer, dtype)
        if input_channels is not None:
            self.build((None, input_channels))

    def build(self, input_shape):
        expect_sequence(self, input_shape, self.input_channels)
        Layer.build(self, input_shape)
        self._columns = self.backend.buffers()  # im2col arrays, one call's at a time
        self.input_channels = input_shape[-1]
        build_weights(self, (self.kernel_size[1], self.input_channels, self.output_channels), self.output_channels,
                      (None, self.output_channels))

    def _left_pad(self):
        return (self.kernel_size[1] - 1) * self.dilation[1] if self.causal else 0

    def check_input_shape(self, input_shape):
        expect_sequence(self, input_shape, self.input_channels)
        self.output_shape(input_shape)

    def output_shape(self, input_shape):
        length = input_shape[0] if input_shape[0] is None else input_shape[0] + self._left_pad()
        out = win.output_hw(self, (1, length), self.kernel_size, self.stride, self.dilation, self.padding)
        return (out[1], self.output_channels)

    def apply_linear(self, x, training=False):
        return self._on_image(x, lambda image: Conv2D.apply_linear(self, image, training))

    def apply_pooled(self, x, training=False, *, pool, relu=False):
        """``Conv2D.apply_pooled`` on the (N, 1, L, C) view, for a ``MaxPool1D`` that alone reads
        this layer's output (models/fusion.py)."""
        return self._on_image(x, lambda image: Conv2D.apply_pooled(self, image, training, pool=pool, relu=relu))

    def _on_image(self, x, run):
        """``run`` (a Conv2D method) on ``x`` as an (N, 1, L, C) image, causal padding in place;
        its output and backprop in sequences again."""
        xp = self.backend.xp
        n, length, c = x.shape
        left = self._left_pad()
        if left:
            padded = xp.zeros((n, length + left, c), dtype=x.dtype, device=x.device)
            padded[:, left:, :] = x
            x = padded
        y, back = run(xp.reshape(x, (n, 1, length + left, c)))

        def backprop(dy, need_dx=True):
            dx = back(xp.reshape(dy, (dy.shape[0], 1) + tuple(dy.shape[1:])), need_dx)
            return None if dx is None else xp.reshape(dx, (n, length + left, c))[:, left:, :]

        return xp.reshape(y, (n,) + tuple(y.shape[2:])), backprop

    def get_config(self):
        padding = "causal" if self.causal else (self.padding if isinstance(self.padding, str) else self.padding[1])
        return {**Layer.get_config(self), "filters": self.output_channels,
                "kernel_size": self.kernel_size[1], "strides": self.stride[1], "padding": padding,
                "dilation_rate": self.dilation[1], "activation": self.activation, "use_bias": self.use_bias,
                "input_channels": self.input_channels, "kernel_initializer": _name(self.kernel_initializer),
                "bias_initializer": _name(self.bias_initializer), **regularizers.configs(self)}
