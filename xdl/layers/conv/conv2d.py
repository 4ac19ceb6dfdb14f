"""Conv2D: 2-D convolution on channels-last images, as im2col plus one matrix product."""

from __future__ import annotations

import dataclasses

from ...core import regularizers
from . import windows as win
from ...errors import ArgumentError, ArgumentTypeError
from ..activations import Activated, activation_layer, activation_name
from ...tutorial import TutorialWeights
from ..base import Layer, initializer, register_layer, regularizer
from ...core.checks import as_int, boolean, channels_last, either, no_constraints, positive_int, short
from ..dense import _name, build_weights


def keras_conv_options(owner, data_format, groups, kernel_constraint, bias_constraint) -> None:
    """Keras's convolution arguments xdl takes only at their defaults."""
    channels_last(owner, data_format)
    if as_int(groups) != 1:
        raise ArgumentError(f"{owner}: groups must be 1 (grouped convolutions are not supported), got {short(groups)}")
    no_constraints(owner, kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)


def weight_options(layer, kind, owner, activation, use_bias, kernel_initializer, bias_initializer,
                   kernel_regularizer, bias_regularizer, dtype):
    """The arguments every convolution shares, checked and set on ``layer`` (weights not built)."""
    layer.activation = activation_name(owner, activation)
    layer._activation = activation_layer(kind, activation, f"{layer.name}.{layer.activation}", dtype)
    layer.use_bias = boolean(type(layer).__name__, "use_bias", use_bias)
    layer.kernel_initializer, layer.bias_initializer = kernel_initializer, bias_initializer
    layer._init_W = initializer(owner, "kernel_initializer", kernel_initializer)
    layer._init_b = initializer(owner, "bias_initializer", bias_initializer)
    layer.kernel_regularizer = regularizer(f"{owner}: kernel_regularizer", kernel_regularizer)
    layer.bias_regularizer = regularizer(f"{owner}: bias_regularizer", bias_regularizer)
    layer.W = layer.b = None


@register_layer
class Conv2D(Activated, TutorialWeights, Layer):
    """Cross-correlation of (N, H, W, C_in) images with a (kh, kw, C_in, C_out) kernel.

    Returns (N, OH, OW, C_out). Keras's signature: ``Conv2D(filters, kernel_size,
    strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1), groups=1,
    activation=None, use_bias=True, ...)``. xdl's names are keywords: ``output_channels``
    (``filters``), ``stride``, ``dilation``, and ``input_channels``, which may be left out
    (taken from the first input): the tutorial's ``Conv2D(input_channels=3,
    output_channels=16, kernel_size=3)``.

    Strides and dilations are ints or (h, w) pairs; ``padding`` is "valid" (none), "same"
    (``ceil(H / stride)`` outputs, as in Keras) or an int / (h, w) pair of zeros on each side.
    ``activation`` (a name in ``ACTIVATIONS``; None for none) is applied to the output.
    Parameters: ``weights`` (kh, kw, C_in, C_out) and ``bias`` (C_out,);
    ``kernel_regularizer``/``bias_regularizer``: penalties (xdl.regularizers, or "l1", "l2").
    Channels come last (``data_format="channels_first"`` is refused); ``groups`` must be 1.
    """

    sized_axes = ((-1, "input_channels"),)

    def __init__(self, filters=None, kernel_size=None, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, *, input_channels=None, output_channels=None,
                 stride=None, dilation=None, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, activity_regularizer=activity_regularizer, **kwargs)
        owner = f"Conv2D {self.name!r}"
        filters = either(owner, "filters", filters, None, "output_channels", output_channels,
                         lambda key, value: positive_int("Conv2D", key, value))
        if filters is None or kernel_size is None:
            raise ArgumentTypeError(f"{owner}: filters (xdl's output_channels) and kernel_size are required, e.g. Conv2D(16, 3) or "
                                    "Conv2D(output_channels=16, kernel_size=3)")
        keras_conv_options(owner, data_format, groups, kernel_constraint, bias_constraint)
        self.input_channels = positive_int("Conv2D", "input_channels", input_channels, optional=True)
        self.output_channels = filters
        self.kernel_size = win.pair("Conv2D", "kernel_size", kernel_size)
        pair = lambda key, value: win.pair("Conv2D", key, value)  # noqa: E731
        self.stride = either(owner, "strides", strides, (1, 1), "stride", stride, pair)
        self.dilation = either(owner, "dilation_rate", dilation_rate, (1, 1), "dilation", dilation, pair)
        self.padding = win.padding_spec("Conv2D", padding)
        weight_options(self, "Conv2D", owner, activation, use_bias, kernel_initializer,
                       bias_initializer, kernel_regularizer, bias_regularizer, dtype)
        if input_channels is not None:  # the weights do not depend on the image size
            self.build((None, None, input_channels))

    @property
    def filters(self):
        return self.output_channels

    def build(self, input_shape):
        win.expect_image(self, input_shape, self.input_channels)
        super().build(input_shape)
        self._columns = self.backend.buffers()  # im2col arrays, one call's at a time
        self.input_channels = input_shape[-1]
        build_weights(self, self.kernel_size + (self.input_channels, self.output_channels), self.output_channels,
                      (None, None, self.output_channels))

    def check_input_shape(self, input_shape):
        win.expect_image(self, input_shape, self.input_channels)
        self.output_shape(input_shape)

    def _geometry(self, input_shape):
        return win.geometry(self, tuple(input_shape[:2]), self.kernel_size, self.stride, self.dilation,
                            self.padding)

    def output_shape(self, input_shape):
        out_hw = win.output_hw(self, tuple(input_shape[:2]), self.kernel_size, self.stride, self.dilation,
                               self.padding)
        return out_hw + (self.output_channels,)

    def apply_linear(self, x, training=False):
        y, _, cols, buffer, geom = self._convolve(x)
        if not training:
            self._columns.give(buffer)

        def backprop(dy, need_dx=True):
            grads = self._dense_backward(cols, geom)(dy, need_dx)
            if training:
                self._columns.give(buffer)  # the columns are read for the last time
            return self._add_grads(grads, geom)

        return y, backprop

    def apply_pooled(self, x, training=False, *, pool, relu=False):
        """This convolution (without its activation), then the max pooling ``pool``, with a
        ReLU between them where ``relu`` (in the pooling's pass: ``Backend.relu_max_pool``), as
        one step: a graph runs them so where the pooling alone reads the convolution's output
        (models/fusion.py). The convolution computes only the outputs some window reads (10 of
        11 rows under a 2 x 2 pooling; ``Backend.pooled_outputs``), and its backward is
        ``Backend.pooled_conv_backward``."""
        xp, geom = self.backend.xp, self._geometry(x.shape[1:])
        used = tuple(self.backend.pooled_outputs(geom.out_hw, pool.reads(geom.out_hw)))
        if used != geom.out_hw:
            geom = dataclasses.replace(geom, out_hw=used)
        y, x_padded, cols, buffer, geom = self._convolve(x, geom)
        pooled, saved, pool_geom = pool.pool(y, relu)
        if not training:
            self._columns.give(buffer)
        weights = xp.reshape(self.W.value, self.kernel_size + (self.input_channels, self.output_channels))

        def backprop(dy, need_dx=True):
            grads = self.backend.pooled_conv_backward(dy, saved, pool_geom, geom, x_padded, weights, self.use_bias,
                                                      need_dx, self._dense_backward(cols, geom))
            if training:
                self._columns.give(buffer)
            return self._add_grads(grads, geom)

        return pooled, backprop

    def _convolve(self, x, geom=None):
        """``(y, padded x, im2col matrix, its buffer, geometry)``; ``geom``: the windows, where
        they are not all of ``x``'s (the outputs a pooling reads)."""
        be, xp = self.backend, self.backend.xp
        n = x.shape[0]
        geom = self._geometry(x.shape[1:]) if geom is None else geom
        # (N * OH * OW, kh * kw * C_in [+ 1]): rows are output pixels, columns match the
        # kernel's layout; a last column of ones carries the bias through the same product
        buffer = self._columns.take((n,) + geom.out_hw + (self._fan_in() + self.use_bias,), x.dtype, x.device,
                                    self._ones_column)
        x_padded = win.pad(xp, x, geom)
        cols = win.columns(be, x_padded, geom, buffer)
        cols = xp.reshape(cols, (n * geom.out_hw[0] * geom.out_hw[1], self._fan_in() + self.use_bias))  # no -1: n may be 0
        W = self._kernel_matrix()
        if self.use_bias:
            W = xp.concat([W, self.b.value[None, :]], axis=0)
        return xp.reshape(cols @ W, (n,) + geom.out_hw + (self.output_channels,)), x_padded, cols, buffer, geom

    def _kernel_matrix(self):
        """The weights as one (kh * kw * C_in, C_out) matrix, rows in im2col's column order."""
        return self.backend.xp.reshape(self.W.value, (self._fan_in(), self.output_channels))

    def _ones_column(self, columns):
        """A new im2col array's last column, ones for the bias, written once (``Backend.buffers``)."""
        if self.use_bias:
            columns[..., -1] = 1.0

    def _dense_backward(self, cols, geom):
        """``backward(dy, need_dx)``: ``(dweights, dbias or None, dx of the padded input or
        None)`` from the output's gradient ``dy``: the weight and bias gradients from one
        product with the im2col matrix; one product gives every window's columns of dx, and
        ``Backend.col2im`` adds them back."""
        be, xp, fan_in = self.backend, self.backend.xp, self._fan_in()

        def backward(dy, need_dx):
            n, oh, ow, _ = dy.shape
            dy2 = xp.reshape(dy, (-1, self.output_channels))
            grads = be.matmul_t(cols, dy2)  # (fan_in [+ 1], C_out): the ones column's row is the bias's
            dw = xp.reshape(grads[:fan_in, :], self.W.value.shape)
            db = grads[fan_in, :] if self.use_bias else None
            if not need_dx:
                return dw, db, None
            dcols = xp.reshape(dy2 @ self._kernel_matrix().T, (n, oh, ow, fan_in))
            return dw, db, be.col2im(dcols, geom.kernel, geom.stride, geom.dilation, geom.padded_hw)

        return backward

    def _add_grads(self, grads, geom):
        """Add ``(dweights, dbias, dx)``'s parameter gradients; returns dx without the padding."""
        dw, db, dx = grads
        self.W.add_grad(self.backend.xp.reshape(dw, self.W.value.shape))  # Conv1D's kernel has no height
        if self.use_bias:
            self.b.add_grad(db)
        return None if dx is None else win.crop(dx, geom)

    def _fan_in(self):
        return self.kernel_size[0] * self.kernel_size[1] * self.input_channels

    def get_config(self):
        return {**super().get_config(), "input_channels": self.input_channels,
                "filters": self.output_channels, "kernel_size": list(self.kernel_size),
                "strides": list(self.stride), "padding": _config_padding(self.padding),
                "dilation_rate": list(self.dilation), "activation": self.activation, "use_bias": self.use_bias,
                "kernel_initializer": _name(self.kernel_initializer),
                "bias_initializer": _name(self.bias_initializer), **regularizers.configs(self)}



def _config_padding(padding):
    return padding if isinstance(padding, str) else list(padding)
