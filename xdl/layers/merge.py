"""Merge layers: combine a list of tensors into one (``Add()([x, y])`` for a residual).

Shapes are checked when the graph is built. Element-wise merges take inputs of one shape;
``Concatenate`` joins along ``axis`` and needs the other axes equal.
"""

from __future__ import annotations

from ..core.ops.shape import split_along
from ..errors import ArgumentError, ShapeError, missing_method, shape_str
from .base import Layer, register_layer


class _Merge(Layer):
    """Shared by the element-wise merges: a list of at least two inputs of one shape."""

    multiple_inputs = True
    #: the output's mask: a step counts where it counts in every input with a mask (Keras)
    supports_masking = True

    def compute_mask(self, x, mask):
        masks = [m for m in (mask or []) if m is not None]
        out = masks[0] if masks else None
        for m in masks[1:]:
            out = self.backend.xp.logical_and(out, m)
        return out

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        super().build(input_shape)

    def check_input_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        if len(shapes) < 2:
            raise ShapeError(f"{self.describe()}: merges at least two inputs, got {len(shapes)}")
        first = shapes[0]
        for shape in shapes[1:]:
            if len(shape) != len(first) or any(a is not None and b is not None and a != b
                                                for a, b in zip(first, shape)):
                listed = ", ".join(shape_str(s) for s in shapes)
                raise ShapeError(f"{self.describe()}: inputs must have one shape, got {listed}")

    def output_shape(self, input_shape):
        self.check_input_shape(input_shape)
        return tuple(a if a is not None else b for a, b in zip(*input_shape[:2]))


@register_layer
class Add(_Merge):
    """The sum of the inputs."""

    def apply(self, xs, training=False):
        return _sum(xs), lambda dy, need_dx=True: [dy] * len(xs)


@register_layer
class Subtract(_Merge):
    """``x0 - x1`` of exactly two inputs."""

    def check_input_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ShapeError(f"{self.describe()}: subtracts exactly two inputs, got {len(input_shape)}")
        super().check_input_shape(input_shape)

    def apply(self, xs, training=False):
        return xs[0] - xs[1], lambda dy, need_dx=True: [dy, -dy]


@register_layer
class Multiply(_Merge):
    """The element-wise product of the inputs."""

    def apply(self, xs, training=False):
        y = xs[0]
        for x in xs[1:]:
            y = y * x

        def backprop(dy, need_dx=True):
            if len(xs) == 2:
                return [dy * xs[1], dy * xs[0]]
            grads = []
            for k in range(len(xs)):  # the product of the others: no division, so zeros are safe
                g = dy
                for m, x in enumerate(xs):
                    if m != k:
                        g = g * x
                grads.append(g)
            return grads

        return y, backprop


@register_layer
class Average(_Merge):
    """The mean of the inputs."""

    def apply(self, xs, training=False):
        scale = 1.0 / len(xs)
        return _sum(xs) * scale, lambda dy, need_dx=True: [dy * scale] * len(xs)


def _sum(xs):
    y = xs[0]
    for x in xs[1:]:
        y = y + x
    return y


class _Extremum(_Merge):
    """Element-wise maximum or minimum; the gradient goes to the first input holding it
    (PyTorch's and TensorFlow's choice between tied inputs)."""

    def _pick(self, xp, a, b):
        raise missing_method(self, "_pick(xp, a, b)")

    def apply(self, xs, training=False):
        xp = self.backend.xp
        y = xs[0]
        for x in xs[1:]:
            y = self._pick(xp, y, x)

        def backprop(dy, need_dx=True):
            grads, taken = [], None
            for x in xs:
                hit = x == y
                first = hit if taken is None else xp.logical_and(hit, xp.logical_not(taken))
                taken = hit if taken is None else xp.logical_or(taken, hit)
                grads.append(dy * xp.astype(first, dy.dtype))
            return grads

        return y, backprop


@register_layer
class Maximum(_Extremum):
    """The element-wise maximum of the inputs."""

    def _pick(self, xp, a, b):
        return xp.where(b > a, b, a)


@register_layer
class Minimum(_Extremum):
    """The element-wise minimum of the inputs."""

    def _pick(self, xp, a, b):
        return xp.where(b < a, b, a)


@register_layer
class Concatenate(Layer):
    """The inputs joined along ``axis`` (default -1, the features); every other axis must agree.
    ``axis`` counts the batch axis as 0, as in Keras."""

    multiple_inputs = True

    def __init__(self, axis=-1, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int) or axis == 0:
            raise ArgumentError(f"Concatenate: axis must be a nonzero int (0 is the batch axis), got {axis!r}")
        self.axis = axis

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        super().build(input_shape)

    def _sample_axis(self, rank):
        """The axis within a per-sample shape of ``rank`` dimensions."""
        axis = self.axis - 1 if self.axis > 0 else rank + self.axis
        if not 0 <= axis < rank:
            raise ShapeError(f"{self.describe()}: axis {self.axis} is out of range for inputs of shape "
                             f"(N, {rank} more axes)")
        return axis

    def check_input_shape(self, input_shape):
        self.output_shape(input_shape)

    def output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        listed = ", ".join(shape_str(s) for s in shapes)
        if len(shapes) < 2:
            raise ShapeError(f"{self.describe()}: joins at least two inputs, got {len(shapes)}")
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ShapeError(f"{self.describe()}: inputs must have the same number of axes, got {listed}")
        axis = self._sample_axis(rank)
        out = list(shapes[0])
        for s in shapes[1:]:
            for a in range(rank):
                if a != axis and out[a] is not None and s[a] is not None and out[a] != s[a]:
                    raise ShapeError(f"{self.describe()}: inputs must agree on every axis but {self.axis}, "
                                     f"got {listed}")
                if a != axis and out[a] is None:
                    out[a] = s[a]
        sizes = [s[axis] for s in shapes]
        out[axis] = None if None in sizes else sum(sizes)
        return tuple(out)

    def apply(self, xs, training=False):
        xp = self.backend.xp
        axis = self._sample_axis(xs[0].ndim - 1) + 1
        sizes = [x.shape[axis] for x in xs]

        def backprop(dy, need_dx=True):
            return split_along(dy, sizes, axis)

        return xp.concat(list(xs), axis=axis), backprop

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


# -- Keras's lower-case merge functions: make the layer and call it --------------------------------


def _merge_function(cls):
    def merge(inputs, **kwargs):
        return cls(**kwargs)(inputs)

    name = cls.__name__.lower()
    merge.__name__ = merge.__qualname__ = name
    merge.__doc__ = (f"Keras's ``layers.{name}(inputs, **kwargs)``: ``{cls.__name__}(**kwargs)(inputs)`` on a list "
                     "of symbolic tensors (a graph node) or of arrays (the result).")
    return merge


add = _merge_function(Add)
subtract = _merge_function(Subtract)
multiply = _merge_function(Multiply)
average = _merge_function(Average)
maximum = _merge_function(Maximum)
minimum = _merge_function(Minimum)


def concatenate(inputs, axis=-1, **kwargs):
    """Keras's ``layers.concatenate(inputs, axis=-1, **kwargs)``: ``Concatenate(axis=axis,
    **kwargs)(inputs)`` on a list of symbolic tensors (a graph node) or of arrays (the result)."""
    return Concatenate(axis=axis, **kwargs)(inputs)
