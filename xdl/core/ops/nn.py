"""The Keras ops users reach for in their own layers and losses, differentiable."""

from __future__ import annotations

from ...errors import ArgumentError
from ..backend import floatx, namespace_of
from ..tape import primitive, unwrap
from .elementwise import abs as _abs
from .elementwise import multiply, sqrt
from .reduce import _axes, _kept
from .reduce import max as _max
from .reduce import sum as _sum


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` over ``axis``, stable for any magnitude."""
    def forward(xp, v):
        e = xp.exp(v - xp.max(v, axis=axis, keepdims=True))
        return e / xp.sum(e, axis=axis, keepdims=True)

    return primitive(forward, lambda xp, g, out, need, v: (out * (g - xp.sum(g * out, axis=axis, keepdims=True)),), x)


def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` over ``axis``."""
    def forward(xp, v):
        shifted = v - xp.max(v, axis=axis, keepdims=True)
        return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))

    return primitive(forward, lambda xp, g, out, need, v: (g - xp.exp(out) * xp.sum(g, axis=axis, keepdims=True),), x)


def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` over ``axis``, stable for any magnitude."""
    def forward(xp, v):
        axes = _axes(v.ndim, axis)
        top = xp.max(v, axis=axes, keepdims=True)
        top = xp.where(xp.isfinite(top), top, 0.0)
        out = xp.log(xp.sum(xp.exp(v - top), axis=axes, keepdims=True)) + top
        return out if keepdims else xp.reshape(out, tuple(d for i, d in enumerate(v.shape) if i not in axes))

    def rule(xp, g, out, need, v):
        return (_kept(xp, g, v, axis, keepdims) * xp.exp(v - _kept(xp, out, v, axis, keepdims)),)

    return primitive(forward, rule, x)


def one_hot(x, num_classes, axis=-1, dtype=None):
    """Integer labels ``x`` as rows of ``num_classes`` zeros with a one (not differentiated), in
    ``dtype`` (a name or the namespace's dtype; default floatx)."""
    x = unwrap(x)
    xp = namespace_of(x)
    classes = xp.arange(num_classes, dtype=x.dtype, device=x.device)
    dtype = getattr(xp, dtype or floatx()) if dtype is None or isinstance(dtype, str) else dtype
    out = xp.astype(xp.expand_dims(x, axis=-1) == classes, dtype)
    return out if axis == -1 else xp.moveaxis(out, -1, axis)


def norm(x, ord=None, axis=None, keepdims=False):
    """The 2-norm (``ord`` None, 2 or "fro"), 1-norm or max-norm (``ord=inf``) over ``axis``
    (all axes by default), as vector norms."""
    if ord in (None, 2, "fro", "euclidean"):
        return sqrt(_sum(multiply(x, x), axis=axis, keepdims=keepdims))
    if ord == 1:
        return _sum(_abs(x), axis=axis, keepdims=keepdims)
    if ord == float("inf"):
        return _max(_abs(x), axis=axis, keepdims=keepdims)
    raise ArgumentError(f"ops.norm: ord must be None, 1, 2, 'fro' or inf, got {ord!r}")
