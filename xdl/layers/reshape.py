"""Shape-only layers: Flatten, Reshape, RepeatVector, Permute and Identity. Their backward
moves the gradient back (reshaped, summed over the repeats, permuted back)."""

from __future__ import annotations

import math

from ..core.checks import as_int, positive_int, short
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


@register_layer
class RepeatVector(Layer):
    """Keras's: (N, F) -> (N, n, F), the vector repeated ``n`` times (e.g. an encoder's
    summary fed to every step of a decoder)."""

    def __init__(self, n, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.n = positive_int("RepeatVector", "n", n)

    def check_input_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ShapeError(f"{self.describe()}: expected input shape (N, features), got {shape_str(input_shape)}")

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        super().build(input_shape)

    def output_shape(self, input_shape):
        return (self.n, *input_shape)

    def apply(self, x, training=False):
        xp = self.backend.xp
        y = xp.broadcast_to(x[:, None, :], (x.shape[0], self.n, x.shape[1]))
        return y, lambda dy, need_dx=True: xp.sum(dy, axis=1)

    def get_config(self):
        return {**super().get_config(), "n": self.n}


@register_layer
class Permute(Layer):
    """Keras's: the per-sample axes reordered, ``dims`` counting from 1 (the batch axis stays
    first): ``Permute((2, 1))`` swaps (N, T, F) to (N, F, T)."""

    def __init__(self, dims, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        order = tuple(dims) if isinstance(dims, (tuple, list)) else None
        if order is None or sorted(as_int(d) if as_int(d) is not None else -1 for d in order) != list(
                range(1, len(order) + 1)):
            raise ArgumentError(f"Permute: dims must be a permutation of 1..n (the batch axis, 0, stays), got "
                                f"{short(dims)}")
        self.dims = tuple(int(d) for d in order)

    def check_input_shape(self, input_shape):
        if len(input_shape) != len(self.dims):
            raise ShapeError(f"{self.describe()}: permutes {len(self.dims)} axes, got per-sample shape "
                             f"{shape_str(input_shape)}")

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        super().build(input_shape)

    def output_shape(self, input_shape):
        return tuple(input_shape[d - 1] for d in self.dims)

    def apply(self, x, training=False):
        xp = self.backend.xp
        order = (0, *self.dims)
        back = tuple(order.index(k) for k in range(len(order)))
        return xp.permute_dims(x, order), lambda dy, need_dx=True: xp.permute_dims(dy, back)

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


@register_layer
class Identity(Layer):
    """Keras's: the input unchanged (a placeholder, e.g. where a block may be left out)."""

    supports_masking = True

    def apply(self, x, training=False):
        return x, lambda dy, need_dx=True: dy
