"""Pooling over (N, H, W, C) images: MaxPool2D, AvgPool2D, GlobalAveragePooling2D
(``MaxPooling2D`` and ``AveragePooling2D``: Keras's names for the same classes).

Pooling loops over the ph * pw window offsets, one strided slice each (see ``_windows``),
never over pixels. Max pooling is the backend's ``max_pool`` hook (its portable form stacks
the slices; NumPy with numba and PyTorch do it in one pass each way), which sends the gradient
to the first maximum of each window, in row-major order, as PyTorch and TensorFlow do.
"""

from __future__ import annotations

from . import windows as win
from ...core.checks import boolean, channels_last, either
from ...errors import ArgumentError
from ..base import Layer, register_layer


class _Pool2D(Layer):
    """Shared arguments and shape logic; subclasses reduce the windows."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, *, stride=None, name=None,
                 dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        kind = type(self).__name__
        channels_last(kind, data_format)
        self.pool_size = win.pair(kind, "pool_size", pool_size)
        strides = either(kind, "strides", strides, None, "stride", stride, lambda k, v: win.pair(kind, k, v))
        self.stride = self.pool_size if strides is None else strides
        self.padding = win.padding_spec(kind, padding)
        if isinstance(self.padding, tuple) and any(2 * p > k for p, k in zip(self.padding, self.pool_size)):
            raise ArgumentError(f"{kind}: padding {padding!r} exceeds half the pool size {self.pool_size}; "
                                "windows would hold padding only")

    def check_input_shape(self, input_shape):
        win.expect_image(self, input_shape, built_for=_channels(self))
        self.output_shape(input_shape)

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        super().build(input_shape)

    def _geometry(self, input_shape):
        return win.geometry(self, tuple(input_shape[:2]), self.pool_size, self.stride, (1, 1), self.padding)

    def output_shape(self, input_shape):
        out_hw = win.output_hw(self, tuple(input_shape[:2]), self.pool_size, self.stride, (1, 1), self.padding)
        return out_hw + (input_shape[-1],)

    def _scatter(self, geom, parts, dy):
        """dx from one gradient part per window offset."""
        dx = win.scatter_add(self.backend.xp, geom, parts, dy.shape[0], dy.shape[-1], dy)
        return win.crop(dx, geom)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.stride),
                "padding": self.padding if isinstance(self.padding, str) else list(self.padding)}


@register_layer
class MaxPool2D(_Pool2D):
    """Maximum over ``pool_size`` windows every ``stride`` (default: ``pool_size``) pixels:
    (N, H, W, C) -> (N, OH, OW, C). Padding counts as -inf."""

    def apply(self, x, training=False, relu=False):
        """``relu``: ReLU after the pooling (``Backend.relu_max_pool``), as a graph runs a ReLU
        that feeds this layer alone (models/fusion.py)."""
        be = self.backend
        y, saved, geom = self.pool(x, relu)

        def backprop(dy, need_dx=True):
            dx = be.max_pool_backward(dy, saved, geom.kernel, geom.stride, geom.padded_hw, geom.disjoint, geom.covers)
            return win.crop(dx, geom)

        return y, backprop

    def pool(self, x, relu=False):
        """``(maxima, saved, geometry)`` for ``x`` (N, H, W, C): the backend's ``max_pool``
        (``relu_max_pool`` with ``relu``) on the padded input, and the windows' geometry."""
        be = self.backend
        geom = self._geometry(x.shape[1:])
        x_padded = win.pad(be.xp, x, geom, value=-float("inf"))
        y, saved = (be.relu_max_pool if relu else be.max_pool)(x_padded, geom.kernel, geom.stride, geom.out_hw)
        return y, saved, geom

    def reads(self, in_hw):
        """The (rows, columns) at the start of an input of spatial size ``in_hw`` that some
        window reads: all of them where the pooling pads, else up to the last window's end (a
        2 x 2 pooling of 11 rows reads 10)."""
        geom = self._geometry(in_hw)
        if geom.padded:
            return tuple(in_hw)
        return tuple((o - 1) * s + k for o, s, k in zip(geom.out_hw, geom.stride, geom.kernel))


@register_layer
class AvgPool2D(_Pool2D):
    """Mean over ``pool_size`` windows every ``stride`` (default: ``pool_size``) pixels:
    (N, H, W, C) -> (N, OH, OW, C). Padding is left out of each window's count."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)
        self._counts = {}  # (geometry, dtype) -> inverse window counts

    def apply(self, x, training=False):
        xp = self.backend.xp
        geom = self._geometry(x.shape[1:])
        x_padded = win.pad(xp, x, geom)
        total = None
        for rows, cols in geom.offsets():
            part = x_padded[:, rows, cols, :]
            total = part if total is None else total + part
        inverse_count = self._inverse_count(x, geom)

        def backprop(dy, need_dx=True):
            share = dy * inverse_count
            return self._scatter(geom, (share for _ in geom.offsets()), dy)

        return total * inverse_count, backprop

    def _inverse_count(self, x, geom):
        """1 / (pixels of the image in each window): a number where no window holds padding,
        else shape (1, OH, OW, 1). It depends on the geometry alone, so it is made once per
        input size and dtype."""
        if not geom.padded:
            return 1.0 / (geom.kernel[0] * geom.kernel[1])
        key = (geom, x.dtype)
        if key not in self._counts:
            xp = self.backend.xp
            ones = win.pad(xp, xp.ones((1,) + geom.in_hw + (1,), dtype=x.dtype, device=x.device), geom)
            self._counts[key] = 1.0 / sum(ones[:, rows, cols, :] for rows, cols in geom.offsets())
        return self._counts[key]


class GlobalPool(Layer):
    """Base of the global poolings: Keras's ``keepdims=True`` keeps the reduced axes as ones,
    (N, 1, 1, C) for images; subclasses' ``reduce`` gives the (N, C) result and its backprop."""

    def __init__(self, data_format=None, keepdims=False, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        channels_last(type(self).__name__, data_format)
        self.keepdims = boolean(type(self).__name__, "keepdims", keepdims)

    def output_shape(self, input_shape):
        return (1,) * (len(input_shape) - 1) * self.keepdims + (input_shape[-1],)

    def apply(self, x, training=False):
        return self.kept(x, *self.reduce(x))

    def kept(self, x, y, backprop):
        """``(y, backprop)`` with the reduced axes kept when ``keepdims``."""
        if not self.keepdims:
            return y, backprop
        xp, flat = self.backend.xp, tuple(y.shape)
        return (xp.reshape(y, (flat[0],) + (1,) * (x.ndim - 2) + flat[-1:]),
                lambda dy, need_dx=True: backprop(xp.reshape(dy, flat), need_dx))

    def get_config(self):
        return {**super().get_config(), **({"keepdims": True} if self.keepdims else {})}


@register_layer
class GlobalAveragePooling2D(GlobalPool):
    """Mean over height and width: (N, H, W, C) -> (N, C)."""

    def build(self, input_shape):
        win.expect_image(self, input_shape)
        super().build(input_shape)

    def check_input_shape(self, input_shape):
        win.expect_image(self, input_shape, built_for=_channels(self))

    def reduce(self, x):
        xp, shape = self.backend.xp, tuple(x.shape)

        def backprop(dy, need_dx=True):
            return xp.broadcast_to((dy / (shape[1] * shape[2]))[:, None, None, :], shape)

        return xp.mean(x, axis=(1, 2)), backprop


def _channels(layer):
    """The channels a built pooling layer first saw (to recognize channels-first data)."""
    return layer.input_shape[-1] if layer.built and layer.input_shape else None


MaxPooling2D = MaxPool2D  # Keras's names; models save the classes' own names
AveragePooling2D = AvgPool2D
