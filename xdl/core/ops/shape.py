"""Ops that move, select or convert values, and their rules; creation functions."""

from __future__ import annotations

import math

from ...errors import ArgumentError
from ..backend import backend_of, convert, floatx, get_backend, namespace_of
from ..parameter import Parameter
from ..symbolic import SymbolicTensor
from ..tape import Tensor, primitive, unwrap
from .elementwise import _shape, unbroadcast


def _zeros_like(xp, x):
    return xp.zeros(x.shape, dtype=x.dtype, device=x.device)


def reshape(x, shape):
    """``x`` with ``shape`` (one -1 allowed)."""
    return primitive(lambda xp, v: xp.reshape(v, tuple(shape)),
                     lambda xp, g, out, need, v: (xp.reshape(g, v.shape),), x)


def permute_dims(x, axes):
    """Axes reordered: output axis i is input axis ``axes[i]``."""
    axes = tuple(a % len(axes) for a in axes)  # negative axes too: the inverse sorts them
    inverse = tuple(sorted(range(len(axes)), key=lambda i: axes[i]))
    return primitive(lambda xp, v: xp.permute_dims(v, axes),
                     lambda xp, g, out, need, v: (xp.permute_dims(g, inverse),), x)


def transpose(x, axes=None):
    """Keras's ``transpose``: axes reversed, or permuted by ``axes``."""
    return permute_dims(x, tuple(range(len(x.shape)))[::-1] if axes is None else axes)


def expand_dims(x, axis=0):
    return primitive(lambda xp, v: xp.expand_dims(v, axis=axis),
                     lambda xp, g, out, need, v: (xp.reshape(g, v.shape),), x)


def squeeze(x, axis=None):
    """``x`` without the length-1 axes ``axis`` (all of them by default)."""
    def forward(xp, v):
        axes = tuple(i for i, d in enumerate(v.shape) if d == 1) if axis is None else axis
        return xp.squeeze(v, axis=axes)

    return primitive(forward, lambda xp, g, out, need, v: (xp.reshape(g, v.shape),), x)


def broadcast_to(x, shape):
    return primitive(lambda xp, v: xp.broadcast_to(v, tuple(shape)),
                     lambda xp, g, out, need, v: (unbroadcast(xp, g, v.shape),), x)


def split_along(g, sizes, axis):
    """``g`` cut along ``axis`` into pieces of ``sizes`` (views where the library has them)."""
    out, start = [], 0
    for n in sizes:
        index = [slice(None)] * g.ndim
        index[axis] = slice(start, start + n)
        out.append(g[tuple(index)])
        start += n
    return out


def concat(arrays, axis=0):
    """Arrays joined along ``axis``."""
    def forward(xp, *vs):
        return xp.concat(list(vs), axis=axis)

    def rule(xp, g, out, need, *vs):
        if axis is None:  # the arrays flattened, then joined
            parts = split_along(g, [math.prod(v.shape) for v in vs], 0)
            return tuple(xp.reshape(p, v.shape) if n else None for p, v, n in zip(parts, vs, need))
        a = axis % g.ndim
        return tuple(p if n else None for p, n in zip(split_along(g, [v.shape[a] for v in vs], a), need))

    return primitive(forward, rule, *arrays)


concatenate = concat


def stack(arrays, axis=0):
    """Arrays stacked along a new axis ``axis``."""
    def rule(xp, g, out, need, *vs):
        a = axis % g.ndim
        return tuple(xp.squeeze(p, axis=a) if n else None for p, n in zip(split_along(g, [1] * len(vs), a), need))

    return primitive(lambda xp, *vs: xp.stack(list(vs), axis=axis), rule, *arrays)


def flip(x, axis=None):
    return primitive(lambda xp, v: xp.flip(v, axis=axis), lambda xp, g, out, need, v: (xp.flip(g, axis=axis),), x)


def roll(x, shift, axis=None):
    negated = tuple(-s for s in shift) if isinstance(shift, (tuple, list)) else -shift
    return primitive(lambda xp, v: xp.roll(v, shift, axis=axis),
                     lambda xp, g, out, need, v: (xp.roll(g, negated, axis=axis),), x)


def moveaxis(x, source, destination):
    """Axes ``source`` (an int or a tuple) moved to ``destination``, the others kept in order."""
    n = len(x.shape)
    source = [s % n for s in (source if isinstance(source, (tuple, list)) else (source,))]
    destination = [d % n for d in (destination if isinstance(destination, (tuple, list)) else (destination,))]
    order = [i for i in range(n) if i not in source]
    for d, s in sorted(zip(destination, source)):
        order.insert(d, s)
    return permute_dims(x, order)


def where(condition, x1, x2):
    """``x1`` where ``condition`` holds, else ``x2`` (broadcast); the condition is not differentiated."""
    cond = unwrap(condition)

    def rule(xp, g, out, need, a, b):
        return (unbroadcast(xp, xp.where(cond, g, 0.0), _shape(a)) if need[0] else None,
                unbroadcast(xp, xp.where(cond, 0.0, g), _shape(b)) if need[1] else None)

    return primitive(lambda xp, a, b: xp.where(cond, a, b), rule, x1, x2)


def clip(x, min=None, max=None):
    """``x`` limited to [min, max]; the gradient passes where ``x`` is inside."""
    def rule(xp, g, out, need, v):
        inside = out == v
        return (xp.where(inside, g, 0.0),)

    return primitive(lambda xp, v: xp.clip(v, min, max), rule, x)


def astype(x, dtype):
    """``x`` as ``dtype`` (a name such as "float64" or the namespace's dtype); the gradient
    comes back in ``x``'s dtype (none flows into integers)."""
    def forward(xp, v):
        return xp.astype(v, getattr(xp, dtype) if isinstance(dtype, str) else dtype)

    def rule(xp, g, out, need, v):
        return (xp.astype(g, v.dtype) if xp.isdtype(v.dtype, "real floating") else None,)

    if not hasattr(x, "shape"):  # a Python number (Keras's cast(ops.size(x), "float32"))
        x = convert_to_tensor(x)
    return primitive(forward, rule, x)


cast = astype


def take(x, indices, axis=None):
    """Elements of ``x`` at integer ``indices`` along ``axis`` (of any shape: the result has
    the indices' shape in place of that axis); repeated indices add their gradients."""
    idx = unwrap(indices)

    def forward(xp, v):
        flat = xp.reshape(v, (-1,)) if axis is None else v
        a = 0 if axis is None else axis % v.ndim
        picked = xp.take(flat, xp.reshape(idx, (-1,)), axis=a)
        return xp.reshape(picked, flat.shape[:a] + tuple(idx.shape) + flat.shape[a + 1:])

    def rule(xp, g, out, need, v):
        flat_shape = (math.prod(v.shape),) if axis is None else tuple(v.shape)
        a = 0 if axis is None else axis % v.ndim
        n_idx = math.prod(idx.shape)
        g = xp.reshape(g, flat_shape[:a] + (n_idx,) + flat_shape[a + 1:])
        g = xp.moveaxis(g, a, 0)
        rows = xp.reshape(g, (n_idx, -1))
        be = backend_of(v) or get_backend()
        flat_idx = xp.reshape(idx, (-1,))
        flat_idx = xp.where(flat_idx < 0, flat_idx + flat_shape[a], flat_idx)  # -1: the last
        summed = be.index_add(flat_idx, rows, flat_shape[a])
        rest = tuple(d for i, d in enumerate(flat_shape) if i != a)
        return (xp.reshape(xp.moveaxis(xp.reshape(summed, (flat_shape[a],) + rest), 0, a), v.shape),)

    return primitive(forward, rule, x)


def getitem(x, key):
    """``x[key]``: slices, integers, None, Ellipsis and boolean masks; an integer array (or a
    list) for the first axis (repeats add their gradients)."""
    key_values = tuple(_index(x, k) for k in key) if isinstance(key, tuple) else _index(x, key)
    arrays = [k for k in (key_values if isinstance(key_values, tuple) else (key_values,))
              if hasattr(k, "shape") and not isinstance(k, (int, bool))]
    if arrays and _is_integer_array(arrays[0]):
        parts = key_values if isinstance(key_values, tuple) else (key_values,)
        if len(arrays) == 1 and parts[0] is arrays[0]:
            return take(x, arrays[0], axis=0) if len(parts) == 1 else getitem(take(x, arrays[0], axis=0),
                                                                              (slice(None), *parts[1:]))
        raise ArgumentError("ops: indexing a traced value with integer arrays supports one array, on the first axis; "
                            "use ops.take(x, indices, axis=...) for another axis")

    parts = key_values if isinstance(key_values, tuple) else (key_values,)
    if not arrays and not any(k is Ellipsis for k in parts):
        key_values = parts = (*parts, Ellipsis)  # the array API names every axis: x[i] is x[i, ...]
    # an assignment takes no None (a new axis): the gradient goes in without those axes
    set_key = tuple(k for k in parts if k is not None) if any(k is None for k in parts) else key_values

    def rule(xp, g, out, need, v):
        z = _zeros_like(xp, v)
        z[set_key] = g if set_key is key_values else xp.reshape(g, z[set_key].shape)
        return (z,)

    return primitive(lambda xp, v: v[key_values], rule, x)


def _index(x, k):
    """One part of a key: a Tensor's array; a list (of ints or bools) as an array of ``x``'s
    namespace, so that repeated indices add their gradients."""
    k = unwrap(k)
    if isinstance(k, list):
        v = unwrap(x)
        return namespace_of(v).asarray(k, device=v.device)
    return k


def _is_integer_array(a):
    xp = namespace_of(a)
    return xp.isdtype(a.dtype, "integral")


def _creation(name):
    def op(*args, **kwargs):
        args = [unwrap(a) for a in args]
        xp = get_backend().xp
        like = next((a for a in args if hasattr(a, "shape")), None)
        if like is not None:
            xp = namespace_of(like)
        elif "device" not in kwargs:
            kwargs["device"] = get_backend().device
        if like is None and name != "arange" and kwargs.get("dtype") is None:
            kwargs["dtype"] = getattr(xp, floatx())
        if isinstance(kwargs.get("dtype"), str):
            kwargs["dtype"] = getattr(xp, kwargs["dtype"])
        return getattr(xp, name)(*args, **kwargs)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``{name}`` of the array API, on the active backend (floats in floatx) unless given an array."
    return op


zeros, ones, empty, full, eye, arange, linspace = map(_creation, ("zeros", "ones", "empty", "full", "eye", "arange",
                                                                  "linspace"))
zeros_like, ones_like, empty_like, full_like, tril, triu = map(_creation, ("zeros_like", "ones_like", "empty_like",
                                                                           "full_like", "tril", "triu"))


def convert_to_tensor(x, dtype=None):
    """``x`` (any array-like) as an array of the active backend: arrays keep their dtype,
    Python numbers and lists of floats become floatx, unless ``dtype`` says. Tensors and
    Variables pass as they are."""
    if type(x) is Tensor or type(x) is Parameter:
        return x
    be = get_backend()
    a = convert(be, x, be.dtype(dtype) if isinstance(dtype, str) else dtype, "ops.convert_to_tensor")
    if dtype is None and not hasattr(x, "dtype") and be.xp.isdtype(a.dtype, "real floating"):
        a = be.xp.astype(a, be.dtype(floatx()))
    return a


def stop_gradient(x):
    """``x``'s value cut from the graph: no gradient flows through it."""
    return unwrap(x)


def shape(x) -> tuple:
    """``x``'s shape as a tuple (Keras's ``ops.shape``); a symbolic tensor's has its batch axis,
    None, first."""
    if type(x) is SymbolicTensor:
        return x.shape
    return tuple(unwrap(x).shape)
