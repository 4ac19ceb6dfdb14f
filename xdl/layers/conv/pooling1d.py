"""Pooling over sequences (N, L, C) and global max pooling: MaxPool1D, AvgPool1D (Keras's
``MaxPooling1D``, ``AveragePooling1D``), GlobalAveragePooling1D, GlobalMaxPooling1D and
GlobalMaxPooling2D.

The 1-D windows are the 2-D pooling layers' on an (N, 1, L, C) view: same kernels, same
backward (the gradient of a max goes to the window's first maximum).
"""

from __future__ import annotations

import math

from ..base import register_layer
from ...core.checks import either
from .conv1d import expect_sequence, length_arg
from . import windows as win
from .pooling import AvgPool2D, GlobalPool, MaxPool2D


class _Pool1D:
    """Mixin before a 2-D pooling class: 1-D arguments in, the 2-D layer on a (1, L) image."""

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, *, stride=None, **kwargs):
        owner = type(self).__name__
        size = length_arg(owner, "pool_size", pool_size)
        strides = either(owner, "strides", strides, None, "stride", stride, lambda k, v: length_arg(owner, k, v))
        step = size if strides is None else strides
        if not isinstance(padding, str):
            padding = (0, length_arg(owner, "padding", padding, minimum=0))
        super().__init__((1, size), (1, step), padding, data_format, **kwargs)

    def check_input_shape(self, input_shape):
        expect_sequence(self, input_shape)
        self.output_shape(input_shape)

    def output_shape(self, input_shape):
        return super().output_shape((1,) + tuple(input_shape))[1:]

    def apply(self, x, training=False, **relu):
        xp = self.backend.xp
        n, length, c = x.shape
        y, back = super().apply(xp.reshape(x, (n, 1, length, c)), training, **relu)

        def backprop(dy, need_dx=True):
            dx = back(xp.reshape(dy, (n, 1) + tuple(dy.shape[1:])), need_dx)
            return None if dx is None else xp.reshape(dx, (n, length, c))

        return xp.reshape(y, (n,) + tuple(y.shape[2:])), backprop

    def get_config(self):
        config = super().get_config()
        padding = config["padding"]
        return {**config, "pool_size": self.pool_size[1], "strides": self.stride[1],
                "padding": padding if isinstance(padding, str) else padding[1]}


@register_layer
class MaxPool1D(_Pool1D, MaxPool2D):
    """Maximum over ``pool_size`` steps every ``stride`` (default: ``pool_size``):
    (N, L, C) -> (N, OL, C); ``padding`` "valid", "same" or an int (counts as -inf)."""


@register_layer
class AvgPool1D(_Pool1D, AvgPool2D):
    """Mean over ``pool_size`` steps every ``stride`` (default: ``pool_size``):
    (N, L, C) -> (N, OL, C); padding is left out of each window's count."""


class _Global(GlobalPool):
    """Reduce every axis but the batch and the last: ``rank`` is the per-sample rank."""

    rank = 2

    def check_input_shape(self, input_shape):
        if self.rank == 2:
            expect_sequence(self, input_shape)
        else:
            win.expect_image(self, input_shape)

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        super().build(input_shape)


@register_layer
class GlobalAveragePooling1D(_Global):
    """Mean over time: (N, L, C) -> (N, C). With a mask (padded steps, see masking.py): the
    mean over the steps that count, as in Keras; the mask stops here."""

    supports_masking = True

    def reduce(self, x):
        xp, shape = self.backend.xp, tuple(x.shape)
        return xp.mean(x, axis=1), lambda dy, need_dx=True: xp.broadcast_to((dy / shape[1])[:, None, :], shape)

    def compute_mask(self, x, mask):
        return None

    def output_masked(self, masked):
        return False

    def apply_masked(self, x, mask, training=False):
        if mask is None:
            y, backprop = self.apply(x, training)
            return y, None, backprop
        xp = self.backend.xp
        keep = xp.astype(mask, x.dtype)[..., None]  # (N, L, 1)
        count = xp.sum(keep, axis=1, keepdims=True)
        scale = keep / xp.where(count > 0, count, 1.0)  # a sequence with no step counted gives zeros
        y, backprop = self.kept(x, xp.sum(x * scale, axis=1), lambda dy, need_dx=True: dy[:, None, :] * scale)
        return y, None, backprop


class _GlobalMax(_Global):
    """Maximum over the inner axes; the gradient goes to the first maximum (row-major), as
    MaxPool2D's does."""

    def reduce(self, x):
        xp, shape = self.backend.xp, tuple(x.shape)
        flat = xp.reshape(x, (shape[0], math.prod(shape[1:-1]), shape[-1]))  # no -1: N may be 0
        first = xp.argmax(flat, axis=1)  # (N, C): the first maximum's position

        def backprop(dy, need_dx=True):
            positions = xp.arange(flat.shape[1], dtype=first.dtype, device=x.device)
            hit = xp.astype(positions[None, :, None] == first[:, None, :], dy.dtype)
            return xp.reshape(hit * dy[:, None, :], shape)

        return xp.max(flat, axis=1), backprop


@register_layer
class GlobalMaxPooling1D(_GlobalMax):
    """Maximum over time: (N, L, C) -> (N, C)."""


@register_layer
class GlobalMaxPooling2D(_GlobalMax):
    """Maximum over height and width: (N, H, W, C) -> (N, C)."""

    rank = 3


MaxPooling1D = MaxPool1D  # Keras's names; models save the classes' own names
AveragePooling1D = AvgPool1D
