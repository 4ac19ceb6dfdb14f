"""Reductions and their rules: the gradient is spread back over the reduced axes."""

from __future__ import annotations

import math

from ..tape import primitive


def _axes(ndim, axis):
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    return tuple(sorted(a % ndim if ndim else 0 for a in axes))


def _kept(xp, g, x, axis, keepdims):
    """``g`` (a reduction's gradient) with the reduced axes back as 1s."""
    if keepdims or x.ndim == 0:
        return g
    axes = _axes(x.ndim, axis)
    return xp.reshape(g, tuple(1 if i in axes else d for i, d in enumerate(x.shape)))


def _count(x, axis):
    return math.prod(x.shape[a] for a in _axes(x.ndim, axis))


def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (all by default)."""
    return primitive(lambda xp, v: xp.sum(v, axis=axis, keepdims=keepdims),
                     lambda xp, g, out, need, v: (xp.broadcast_to(_kept(xp, g, v, axis, keepdims), v.shape),), x)


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis`` (all by default)."""
    return primitive(lambda xp, v: xp.mean(v, axis=axis, keepdims=keepdims),
                     lambda xp, g, out, need, v: (xp.broadcast_to(_kept(xp, g, v, axis, keepdims) / _count(v, axis),
                                                                  v.shape),), x)


def prod(x, axis=None, keepdims=False):
    """Product over ``axis``; its gradient is ``out / x`` (undefined where x is 0)."""
    return primitive(lambda xp, v: xp.prod(v, axis=axis, keepdims=keepdims),
                     lambda xp, g, out, need, v: (_kept(xp, g * out, v, axis, keepdims) / v,), x)


def _extremum(name):
    def rule(xp, g, out, need, v, axis, keepdims):
        hit = xp.astype(v == _kept(xp, out, v, axis, keepdims), v.dtype)
        ties = xp.sum(hit, axis=_axes(v.ndim, axis), keepdims=True)  # tied maxima share the gradient
        return (_kept(xp, g, v, axis, keepdims) * hit / ties,)

    def op(x, axis=None, keepdims=False):
        return primitive(lambda xp, v, axis, keepdims: getattr(xp, name)(v, axis=axis, keepdims=keepdims), rule, x,
                         axis=axis, keepdims=keepdims)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``{name}`` over ``axis``; tied extremes share the gradient equally."
    return op


max = _extremum("max")
min = _extremum("min")


def var(x, axis=None, correction=0.0, keepdims=False):
    """Variance over ``axis``, divided by ``N - correction``."""
    def rule(xp, g, out, need, v):
        centred = v - xp.mean(v, axis=_axes(v.ndim, axis), keepdims=True)
        return (_kept(xp, g, v, axis, keepdims) * centred * (2.0 / (_count(v, axis) - correction)),)

    return primitive(lambda xp, v: xp.var(v, axis=axis, correction=correction, keepdims=keepdims), rule, x)


def std(x, axis=None, correction=0.0, keepdims=False):
    """Standard deviation over ``axis``, divided by ``N - correction``."""
    def rule(xp, g, out, need, v):
        centred = v - xp.mean(v, axis=_axes(v.ndim, axis), keepdims=True)
        scale = _kept(xp, g / out, v, axis, keepdims) / (_count(v, axis) - correction)
        return (scale * centred,)

    return primitive(lambda xp, v: xp.std(v, axis=axis, correction=correction, keepdims=keepdims), rule, x)


def cumulative_sum(x, axis=None):
    """Running sum along ``axis`` (required for arrays of more than one axis)."""
    def rule(xp, g, out, need, v):
        a = 0 if axis is None else axis
        return (xp.flip(xp.cumulative_sum(xp.flip(g, axis=a), axis=a), axis=a),)

    return primitive(lambda xp, v: xp.cumulative_sum(v, axis=axis), rule, x)


cumsum = cumulative_sum
