"""Keras ops composed of the differentiable ones (their gradients come from the parts), and the
host readers ``convert_to_numpy`` and ``size``."""

from __future__ import annotations

import math

from ...errors import ArgumentError
from ..backend import namespace_of, to_numpy
from ..checks import as_int, short
from ..tape import unwrap
from . import elementwise as ew
from . import linalg, reduce, shape


def convert_to_numpy(x):
    """``x`` (an array of any backend, a Tensor or a Variable) as a NumPy array: a host read."""
    return to_numpy(unwrap(x))


def size(x) -> int:
    """The number of elements of ``x``."""
    return math.prod(unwrap(x).shape)


def rsqrt(x):
    """``1 / sqrt(x)``, differentiable."""
    return ew.divide(1.0, ew.sqrt(x))


def mod(x1, x2):
    """Python's ``%`` element-wise (the array API's ``remainder``; not differentiated)."""
    return ew.remainder(x1, x2)


def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """Element-wise ``|x1 - x2| <= atol + rtol * |x2|`` (not differentiated)."""
    a, b = unwrap(x1), unwrap(x2)
    close = ew.less_equal(ew.abs(ew.subtract(a, b)), ew.add(atol, ew.multiply(rtol, ew.abs(b))))
    return ew.logical_or(close, ew.logical_and(ew.isnan(a), ew.isnan(b))) if equal_nan else close


def dot(x1, x2):
    """Keras's ``dot``: a product for scalars, ``matmul`` otherwise (the last axis of ``x1``
    against ``x2``'s first for 1-D, or its second to last)."""
    if len(unwrap(x1).shape) == 0 or len(unwrap(x2).shape) == 0:
        return ew.multiply(x1, x2)
    if len(unwrap(x2).shape) <= 2:
        return linalg.matmul(x1, x2)
    return linalg.tensordot(x1, x2, axes=([-1], [-2]))


def moments(x, axes, keepdims=False):
    """``(mean, variance)`` over ``axes`` (the biased variance, as Keras's)."""
    axes = tuple(axes) if isinstance(axes, (list, tuple)) else axes
    mean = reduce.mean(x, axis=axes, keepdims=True)
    variance = reduce.mean(ew.square(ew.subtract(x, mean)), axis=axes, keepdims=keepdims)
    return (mean if keepdims else shape.squeeze(mean, axis=axes)), variance


def tile(x, repeats):
    """``x`` repeated ``repeats[k]`` times along axis k (leading axes added as NumPy's)."""
    reps = _ints("tile", "repeats", repeats if isinstance(repeats, (list, tuple)) else [repeats])
    ndim = max(len(unwrap(x).shape), len(reps))
    x = shape.reshape(x, (1,) * (ndim - len(unwrap(x).shape)) + tuple(unwrap(x).shape))
    reps = [1] * (ndim - len(reps)) + reps
    for axis, r in enumerate(reps):
        if r != 1:
            x = shape.concat([x] * r, axis=axis) if r else shape.getitem(x, (slice(None),) * axis + (slice(0, 0),))
    return x


def repeat(x, repeats, axis=None):
    """Each element of ``x`` ``repeats`` times along ``axis`` (flattened first when None)."""
    r = _ints("repeat", "repeats", [repeats])[0]
    if axis is None:
        x, axis = shape.reshape(x, (-1,)), 0
    dims = tuple(unwrap(x).shape)
    axis = axis % len(dims)
    out = shape.broadcast_to(shape.expand_dims(x, axis=axis + 1), dims[:axis + 1] + (r,) + dims[axis + 1:])
    return shape.reshape(out, dims[:axis] + (dims[axis] * r,) + dims[axis + 1:])


def split(x, indices_or_sections, axis=0):
    """``x`` cut along ``axis`` into equal sections (an int) or at ``indices`` (a list)."""
    length = unwrap(x).shape[axis]
    if isinstance(indices_or_sections, (list, tuple)):
        cuts = _ints("split", "indices_or_sections", indices_or_sections)
    else:
        n = _ints("split", "indices_or_sections", [indices_or_sections])[0]
        if n < 1 or length % n:
            raise ArgumentError(f"ops.split: {length} elements along axis {axis} do not split into {n} equal parts")
        cuts = list(range(length // n, length, length // n))
    bounds = [0, *cuts, length]
    lead = (slice(None),) * (axis % len(unwrap(x).shape))
    return [shape.getitem(x, lead + (slice(a, b),)) for a, b in zip(bounds[:-1], bounds[1:])]


def pad(x, pad_width, mode="constant", constant_values=0):
    """``x`` with ``pad_width[k] = (before, after)`` constants around axis k (mode "constant")."""
    if mode != "constant":
        raise ArgumentError(f"ops.pad: mode {mode!r} is not supported; only 'constant'")
    value = unwrap(x)
    widths = pad_width if isinstance(pad_width[0], (list, tuple)) else [pad_width] * value.ndim
    _ints("pad", "pad_width", [v for w in widths for v in w])
    xp = namespace_of(value)
    for axis, (before, after) in enumerate(widths):
        dims = tuple(unwrap(x).shape)
        sides = [xp.full(dims[:axis] + (count,) + dims[axis + 1:], constant_values, dtype=value.dtype,
                         device=value.device) if count else None for count in (before, after)]
        x = shape.concat([p for p in (sides[0], x, sides[1]) if p is not None], axis=axis)
    return x


def _ints(op, name, values):
    out = [as_int(v) for v in values]
    if any(v is None or v < 0 for v in out):
        raise ArgumentError(f"ops.{op}: {name} must be non-negative ints, got {short(values)}")
    return out
