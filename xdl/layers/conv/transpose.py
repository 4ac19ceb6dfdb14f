"""Conv2DTranspose: the adjoint of a strided convolution, for learned upsampling.

Its forward is Conv2D's input gradient (one product, then col2im), its input gradient
Conv2D's forward (im2col, then one product): the same ``_windows`` machinery, roles swapped.
"""

from __future__ import annotations

from ...core import regularizers
from ...core.checks import either, positive_int
from .conv1d import expect_sequence, length_arg
from ...errors import ArgumentError, ArgumentTypeError, ShapeError, shape_str
from . import windows as win
from ..activations import Activated
from ...tutorial import TutorialWeights
from ..base import Layer, register_layer
from .conv2d import keras_conv_options, weight_options
from ..dense import _name, build_weights


def shift_window(xp, a, before, out_hw):
    """``out[:, o] = a[:, o + before]`` per spatial axis, zero past ``a``'s end: (N, *out_hw, C)."""
    if before == (0, 0) and tuple(a.shape[1:3]) == tuple(out_hw):
        return a
    m = [min(out_hw[i], a.shape[1 + i] - before[i]) for i in (0, 1)]
    out = xp.zeros((a.shape[0],) + tuple(out_hw) + (a.shape[3],), dtype=a.dtype, device=a.device)
    out[:, :m[0], :m[1], :] = a[:, before[0]:before[0] + m[0], before[1]:before[1] + m[1], :]
    return out


def unshift_window(xp, g, before, in_hw):
    """The adjoint of ``shift_window``: ``g`` put back on an (N, *in_hw, C) array of zeros."""
    if before == (0, 0) and tuple(g.shape[1:3]) == tuple(in_hw):
        return g
    m = [min(g.shape[1 + i], in_hw[i] - before[i]) for i in (0, 1)]
    out = xp.zeros((g.shape[0],) + tuple(in_hw) + (g.shape[3],), dtype=g.dtype, device=g.device)
    out[:, before[0]:before[0] + m[0], before[1]:before[1] + m[1], :] = g[:, :m[0], :m[1], :]
    return out


def _axis(size, k, s, d, padding, output_padding):
    """Keras's (output size, crop at the start) along one axis of a transposed convolution."""
    span = (k - 1) * d + 1
    if output_padding is None:
        out = size * s + max(span - s, 0) if padding == "valid" else size * s
    else:
        out = (size - 1) * s + span - 2 * (span // 2 if padding == "same" else 0) + output_padding
    full = (size - 1) * s + span
    before = 0 if padding == "valid" else max(full - out, 0) // 2  # TF's "same" of the forward conv
    return out, before, full


@register_layer
class Conv2DTranspose(Activated, TutorialWeights, Layer):
    """Transposed convolution of (N, H, W, C_in) images with a (kh, kw, C_out, C_in) kernel
    (Keras's layout): each input pixel adds ``x[n, i, j] @ W[a, b].T`` at output pixel
    ``(i * stride + a * dilation, j * stride + b * dilation)``.

    Output size as Keras defines it, per axis with ``span = (k - 1) * dilation + 1``:
    "valid": ``H * stride + max(span - stride, 0)``; "same": ``H * stride`` (the full
    ``(H - 1) * stride + span`` output cropped as TensorFlow does, the odd pixel at the end);
    with ``output_padding`` p (< stride): ``(H - 1) * stride + span - 2 * pad + p``, pad
    ``span // 2`` for "same", 0 for "valid". This is PyTorch's ``conv_transpose2d`` with
    the kernel permuted to (C_in, C_out, kh, kw), cropped or zero-extended to that size.
    Parameters: ``weights`` (kh, kw, C_out, C_in) and ``bias`` (C_out,).
    """

    sized_axes = ((-1, "input_channels"),)

    def __init__(self, filters=None, kernel_size=None, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None, *,
                 input_channels=None, output_channels=None, stride=None, dilation=None, name=None, dtype=None,
                 **kwargs):
        super().__init__(name=name, dtype=dtype, activity_regularizer=activity_regularizer, **kwargs)
        owner = f"{type(self).__name__} {self.name!r}"
        filters = either(owner, "filters", filters, None, "output_channels", output_channels,
                         lambda key, value: positive_int(owner, key, value))
        if filters is None or kernel_size is None:
            raise ArgumentTypeError(f"{owner}: filters (xdl's output_channels) and kernel_size are required, "
                                    f"e.g. {type(self).__name__}(16, 3, strides=2)")
        keras_conv_options(owner, data_format, 1, kernel_constraint, bias_constraint)
        self.output_channels = filters
        self.input_channels = positive_int(owner, "input_channels", input_channels, optional=True)
        self.kernel_size = win.pair(owner, "kernel_size", kernel_size)
        self.stride = either(owner, "strides", strides, (1, 1), "stride", stride, lambda k, v: win.pair(owner, k, v))
        self.dilation = either(owner, "dilation_rate", dilation_rate, (1, 1), "dilation", dilation,
                               lambda k, v: win.pair(owner, k, v))
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ArgumentError(f"{owner}: padding must be 'valid' or 'same', got {padding!r}")
        self.padding = padding.lower()
        self.output_padding = None if output_padding is None else win.pair(
            owner, "output_padding", output_padding, minimum=0)
        if self.output_padding is not None and any(p >= s for p, s in zip(self.output_padding, self.stride)):
            raise ArgumentError(f"{owner}: output_padding {self.output_padding} must be smaller than the strides "
                                f"{self.stride}")
        weight_options(self, "Conv2DTranspose", owner, activation, use_bias, kernel_initializer, bias_initializer,
                       kernel_regularizer, bias_regularizer, dtype)
        if input_channels is not None:
            self.build((None, None, input_channels))

    @property
    def filters(self):
        return self.output_channels

    def build(self, input_shape):
        win.expect_image(self, input_shape, self.input_channels)
        super().build(input_shape)
        self.input_channels = input_shape[-1]
        build_weights(self, self.kernel_size + (self.output_channels, self.input_channels), self.output_channels,
                      (None, None, self.output_channels))

    def check_input_shape(self, input_shape):
        win.expect_image(self, input_shape, self.input_channels)
        self.output_shape(input_shape)

    def _axes(self, in_hw):
        """Per spatial axis (output size, crop at the start, full size) for ``in_hw``; a free
        size (None) counts as 1 and is not checked."""
        op = self.output_padding or (None, None)
        axes = [_axis(in_hw[a] or 1, self.kernel_size[a], self.stride[a], self.dilation[a], self.padding, op[a])
                for a in (0, 1)]
        for a, name, size, (out, _, full) in zip((0, 1), ("height", "width"), in_hw, axes):
            # the full output is made, then cropped: a dilation spreading the kernel far beyond
            # the output (2**40) would cost memory for pixels that are all cropped away
            if size is not None and self.dilation[a] > 1 and full - out > 2 * out:
                k, d = self.kernel_size[a], self.dilation[a]
                raise ShapeError(f"{self.describe()}: dilation {d} spreads its {k}-tap kernel over "
                                 f"{(k - 1) * d + 1} pixels of {name}, and the output has {out}: its outer taps "
                                 "would land on cropped pixels only; use a smaller dilation")
        return axes

    def output_shape(self, input_shape):
        out = tuple(None if size is None else axis[0] for size, axis in
                    zip(input_shape[:2], self._axes(tuple(input_shape[:2]))))
        if any(o is not None and o < 1 for o in out):
            raise ShapeError(f"{self.describe()}: input {shape_str(tuple(input_shape))} gives no output pixels")
        return out + (self.output_channels,)

    def apply_linear(self, x, training=False):
        be, xp = self.backend, self.backend.xp
        n, h, w, c = x.shape
        axes = self._axes((h, w))
        out_hw, before, full_hw = tuple(a[0] for a in axes), tuple(a[1] for a in axes), tuple(a[2] for a in axes)
        # the convolution whose adjoint this is: from the full output down to the input's size
        geom = win.geometry(self, full_hw, self.kernel_size, self.stride, self.dilation, "valid")
        kernel = xp.reshape(self.W.value, (-1, c))  # (kh * kw * C_out, C_in), im2col's row order
        x2 = xp.reshape(x, (n * h * w, c))
        dcols = xp.reshape(x2 @ kernel.T, (n, h, w, kernel.shape[0]))
        full = be.col2im(dcols, geom.kernel, geom.stride, geom.dilation, geom.padded_hw)
        y = shift_window(xp, full, before, out_hw)
        if self.use_bias:
            y = y + self.b.value

        def backprop(dy, need_dx=True):
            if self.use_bias:
                self.b.add_grad(xp.sum(dy, axis=(0, 1, 2)))
            dy_full = unshift_window(xp, dy, before, full_hw)
            cols = xp.empty((n, h, w, kernel.shape[0]), dtype=dy.dtype, device=dy.device)
            cols = xp.reshape(win.columns(be, dy_full, geom, cols), (n * h * w, kernel.shape[0]))
            self.W.add_product(be, cols.T, x2)
            return xp.reshape(cols @ kernel, (n, h, w, c)) if need_dx else None

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "filters": self.output_channels, "kernel_size": list(self.kernel_size),
                "strides": list(self.stride), "padding": self.padding,
                "output_padding": None if self.output_padding is None else list(self.output_padding),
                "dilation_rate": list(self.dilation), "activation": self.activation, "use_bias": self.use_bias,
                "input_channels": self.input_channels, "kernel_initializer": _name(self.kernel_initializer),
                "bias_initializer": _name(self.bias_initializer), **regularizers.configs(self)}



@register_layer
class Conv1DTranspose(Conv2DTranspose):
    """Transposed convolution of (N, L, C_in) sequences with a (k, C_out, C_in) kernel (Keras's
    layout): Conv2DTranspose on an (N, 1, L, C) view, so Keras's output lengths: "valid"
    ``L * stride + max(span - stride, 0)``, "same" ``L * stride``, or with ``output_padding``
    p ``(L - 1) * stride + span - 2 * pad + p``. PyTorch's ``conv_transpose1d`` with the kernel
    permuted to (C_in, C_out, k). Parameters: ``weights`` (k, C_out, C_in), ``bias`` (C_out,)."""

    def __init__(self, filters=None, kernel_size=None, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, *, input_channels=None, output_channels=None,
                 stride=None, dilation=None, name=None, dtype=None, **kwargs):
        owner = "Conv1DTranspose"
        length = lambda key, value: length_arg(owner, key, value)  # noqa: E731
        k = None if kernel_size is None else length("kernel_size", kernel_size)
        s = either(owner, "strides", strides, 1, "stride", stride, length)
        d = either(owner, "dilation_rate", dilation_rate, 1, "dilation", dilation, length)
        p = None if output_padding is None else length_arg(owner, "output_padding", output_padding, minimum=0)
        if p is not None and p >= s:
            raise ArgumentError(f"{owner}: output_padding {p} must be smaller than the strides {s}")
        super().__init__(filters, None if k is None else (1, k), (1, s), padding, None if p is None else (0, p),
                         data_format, (1, d), activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint,
                         output_channels=output_channels, name=name, dtype=dtype, **kwargs)
        self.input_channels = positive_int(owner, "input_channels", input_channels, optional=True)
        if input_channels is not None:
            self.build((None, input_channels))

    def build(self, input_shape):
        expect_sequence(self, input_shape, self.input_channels)
        Layer.build(self, input_shape)
        self.input_channels = input_shape[-1]
        build_weights(self, (self.kernel_size[1], self.output_channels, self.input_channels), self.output_channels,
                      (None, self.output_channels))

    def check_input_shape(self, input_shape):
        expect_sequence(self, input_shape, self.input_channels)
        self.output_shape(input_shape)

    def output_shape(self, input_shape):
        return Conv2DTranspose.output_shape(self, (1, *input_shape))[1:]

    def apply_linear(self, x, training=False):
        xp = self.backend.xp
        n, length, c = x.shape
        y, back = Conv2DTranspose.apply_linear(self, xp.reshape(x, (n, 1, length, c)), training)

        def backprop(dy, need_dx=True):
            dx = back(xp.reshape(dy, (dy.shape[0], 1, *dy.shape[1:])), need_dx)
            return None if dx is None else xp.reshape(dx, (n, length, c))

        return xp.reshape(y, (n, *y.shape[2:])), backprop

    def get_config(self):
        config = super().get_config()
        return {**config, "kernel_size": self.kernel_size[1], "strides": self.stride[1],
                "dilation_rate": self.dilation[1], "input_channels": self.input_channels,
                "output_padding": None if self.output_padding is None else self.output_padding[1]}
