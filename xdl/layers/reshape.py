"""Shape-only layers: Flatten and Reshape. Their backward reshapes the gradient back."""

from __future__ import annotations

import math

from ..errors import ArgumentError, ShapeError, shape_str
from .base import Layer, register_layer


@register_layer
class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...), e.g. between Conv2D and Dense."""

    def output_shape(self, input_shape):
        if None in input_shape:
            raise ShapeError(f"{self.describe()}: needs every size of the input, got {shape_str(input_shape)}")
        return (math.prod(input_shape),)

    def apply(self, x, training=False):
        xp, shape = self.backend.xp, tuple(x.shape)
        return xp.reshape(x, (shape[0], math.prod(shape[1:]))), lambda dy, need_dx=True: xp.reshape(dy, shape)


@register_layer
class Reshape(Layer):
    """(N, ...) -> (N, *target_shape); one entry of ``target_shape`` may be -1 (inferred)."""

    def __init__(self, target_shape, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        target = tuple(target_shape) if isinstance(target_shape, (tuple, list)) else (target_shape,)
        ok = all(isinstance(d, int) and not isinstance(d, bool) and (d >= 1 or d == -1) for d in target)
        if not ok or sum(d == -1 for d in target) > 1:
            raise ArgumentError(f"Reshape: target_shape must hold positive ints and at most one -1, "
                                f"got {target_shape!r}")
        self.target_shape = target

    def output_shape(self, input_shape):
        if None in input_shape:
            raise ShapeError(f"{self.describe()}: needs every size of the input, got {shape_str(input_shape)}")
        size, known = math.prod(input_shape), math.prod(d for d in self.target_shape if d != -1)
        if (size % known if -1 in self.target_shape else size != known):
            raise ShapeError(f"{self.describe()}: cannot reshape {shape_str(input_shape)} to "
                             f"{shape_str(self.target_shape)}: {size} values per sample")
        return tuple(size // known if d == -1 else d for d in self.target_shape)

    def check_input_shape(self, input_shape):
        self.output_shape(input_shape)

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        super().build(input_shape)

    def apply(self, x, training=False):
        xp, shape = self.backend.xp, tuple(x.shape)
        y = xp.reshape(x, (x.shape[0],) + self.output_shape(x.shape[1:]))
        return y, lambda dy, need_dx=True: xp.reshape(dy, shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}
