"""Element-wise ops and their rules: one argument (the derivative from x and the output), two
(broadcasting: gradients summed back to each argument's shape), and those not differentiated."""

from __future__ import annotations

import math

from ...backends._base import erf_and_slope
from ..backend import backend_of, get_backend
from ..tape import namespace_of_values, primitive, unwrap


def _shape(v):
    return tuple(v.shape) if hasattr(v, "shape") else ()


def unbroadcast(xp, g, shape):
    """``g`` summed over the axes broadcasting added or stretched, back to ``shape``."""
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1)
    if axes:
        g = xp.sum(g, axis=axes, keepdims=True)
    return xp.reshape(g, shape)


def _named(op, name, doc):
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


# -- element-wise, one argument: the derivative from x and the output -----------------------------
def _unary(name, derivative, forward=None):
    def fwd(xp, x):
        return getattr(xp, name)(x) if forward is None else forward(xp, x)

    def rule(xp, g, out, need, x):
        return (g * derivative(xp, x, out),)

    return _named(lambda x: primitive(fwd, rule, x), name, f"Element-wise ``{name}``, differentiable.")


exp = _unary("exp", lambda xp, x, out: out)
expm1 = _unary("expm1", lambda xp, x, out: out + 1.0)
log = _unary("log", lambda xp, x, out: 1.0 / x)
log1p = _unary("log1p", lambda xp, x, out: 1.0 / (1.0 + x))
log2 = _unary("log2", lambda xp, x, out: 1.0 / (x * math.log(2.0)))
log10 = _unary("log10", lambda xp, x, out: 1.0 / (x * math.log(10.0)))
sqrt = _unary("sqrt", lambda xp, x, out: 0.5 / out)
square = _unary("square", lambda xp, x, out: 2.0 * x, lambda xp, x: x * x)
sin = _unary("sin", lambda xp, x, out: xp.cos(x))
cos = _unary("cos", lambda xp, x, out: -xp.sin(x))
tan = _unary("tan", lambda xp, x, out: 1.0 + out * out)
asin = _unary("asin", lambda xp, x, out: 1.0 / xp.sqrt(1.0 - x * x))
acos = _unary("acos", lambda xp, x, out: -1.0 / xp.sqrt(1.0 - x * x))
atan = _unary("atan", lambda xp, x, out: 1.0 / (1.0 + x * x))
sinh = _unary("sinh", lambda xp, x, out: xp.cosh(x))
cosh = _unary("cosh", lambda xp, x, out: xp.sinh(x))
tanh = _unary("tanh", lambda xp, x, out: 1.0 - out * out)
asinh = _unary("asinh", lambda xp, x, out: 1.0 / xp.sqrt(x * x + 1.0))
acosh = _unary("acosh", lambda xp, x, out: 1.0 / xp.sqrt(x * x - 1.0))
atanh = _unary("atanh", lambda xp, x, out: 1.0 / (1.0 - x * x))
abs = _unary("abs", lambda xp, x, out: xp.sign(x))
negative = _unary("negative", lambda xp, x, out: -1.0, lambda xp, x: -x)
positive = _unary("positive", lambda xp, x, out: 1.0, lambda xp, x: +x)
def _sig(xp, x):
    """The logistic function as ``0.5 (tanh(x / 2) + 1)``: no overflow for any |x|."""
    return 0.5 * (xp.tanh(0.5 * x) + 1.0)


sigmoid = _unary("sigmoid", lambda xp, x, out: out * (1.0 - out), _sig)
relu6 = _unary("relu6", lambda xp, x, out: xp.astype((x > 0) & (x < 6), x.dtype),
               lambda xp, x: xp.clip(x, 0.0, 6.0))
softplus = _unary("softplus", lambda xp, x, out: _sig(xp, x),
                  lambda xp, x: xp.where(x > 0, x, 0.0) + xp.log1p(xp.exp(-xp.abs(x))))
softsign = _unary("softsign", lambda xp, x, out: 1.0 / ((1.0 + xp.abs(x)) * (1.0 + xp.abs(x))),
                  lambda xp, x: x / (1.0 + xp.abs(x)))
silu = _unary("silu", lambda xp, x, out: _sig(xp, x) * (1.0 + x * (1.0 - _sig(xp, x))), lambda xp, x: x * _sig(xp, x))
swish = silu
erf = _unary("erf", lambda xp, x, out: erf_and_slope(xp, x)[1], lambda xp, x: erf_and_slope(xp, x)[0])
erf.__doc__ = "Element-wise erf (Abramowitz and Stegun 7.1.26: float32's precision), differentiable."


def relu(x):
    """``max(x, 0)``, by the backend's fused form (one pass each way where the adapter has one)."""
    saved = []

    def forward(xp, v):
        y, keep = get_backend_of(v).relu(v)
        saved.append(keep)
        return y

    return primitive(forward, lambda xp, g, out, need, v: (get_backend_of(v).relu_backward(g, saved[0]),), x)


def leaky_relu(x, negative_slope=0.2):
    """``x`` where positive, ``negative_slope * x`` elsewhere (Keras's default slope 0.2)."""
    return primitive(lambda xp, v: xp.where(v > 0, v, negative_slope * v),
                     lambda xp, g, out, need, v: (xp.where(v > 0, g, negative_slope * g),), x)


def elu(x, alpha=1.0):
    return primitive(lambda xp, v: xp.where(v > 0, v, alpha * xp.expm1(xp.where(v > 0, 0.0, v))),
                     lambda xp, g, out, need, v: (xp.where(v > 0, g, g * (out + alpha)),), x)


def gelu(x, approximate=True):
    """``x * Phi(x)``; ``approximate=True`` (Keras's default) is the tanh form. By the backend's
    fused form, whose saved values the backward reads (as ``relu``'s)."""
    mode, saved = "tanh" if approximate else "none", []

    def forward(xp, v):
        y, keep = get_backend_of(v).gelu(v, mode)
        saved.append(keep)
        return y

    return primitive(forward, lambda xp, g, out, need, v: (get_backend_of(v).gelu_backward(g, saved[0], mode),), x)


def get_backend_of(v):
    """The backend adapter holding ``v`` (for its fused forms, e.g. gelu)."""
    return backend_of(v) or get_backend()


# -- element-wise, two arguments (broadcasting) ---------------------------------------------------
def _binary(name, forward, grads, doc):
    def rule(xp, g, out, need, a, b):
        ga, gb = grads(xp, g, out, a, b, need)
        return (unbroadcast(xp, ga, _shape(a)) if need[0] else None,
                unbroadcast(xp, gb, _shape(b)) if need[1] else None)

    return _named(lambda a, b: primitive(forward, rule, a, b), name, doc)


add = _binary("add", lambda xp, a, b: a + b, lambda xp, g, out, a, b, need: (g, g), "``a + b``.")
subtract = _binary("subtract", lambda xp, a, b: a - b, lambda xp, g, out, a, b, need: (g, -g), "``a - b``.")
multiply = _binary("multiply", lambda xp, a, b: a * b,
                   lambda xp, g, out, a, b, need: (g * b if need[0] else None, g * a if need[1] else None),
                   "``a * b``.")
divide = _binary("divide", lambda xp, a, b: a / b,
                 lambda xp, g, out, a, b, need: (g / b if need[0] else None, -g * out / b if need[1] else None),
                 "``a / b``.")
maximum = _binary("maximum", lambda xp, a, b: xp.maximum(a, b),
                  lambda xp, g, out, a, b, need: (xp.where(a >= b, g, 0.0), xp.where(a >= b, 0.0, g)),
                  "Element-wise maximum; a tie's gradient goes to ``a``.")
minimum = _binary("minimum", lambda xp, a, b: xp.minimum(a, b),
                  lambda xp, g, out, a, b, need: (xp.where(a <= b, g, 0.0), xp.where(a <= b, 0.0, g)),
                  "Element-wise minimum; a tie's gradient goes to ``a``.")
atan2 = _binary("atan2", lambda xp, a, b: xp.atan2(a, b),
                lambda xp, g, out, a, b, need: (g * b / (a * a + b * b), -g * a / (a * a + b * b)), "``atan2(a, b)``.")
hypot = _binary("hypot", lambda xp, a, b: xp.hypot(a, b),
                lambda xp, g, out, a, b, need: (g * a / out, g * b / out), "``sqrt(a^2 + b^2)``.")
logaddexp = _binary("logaddexp", lambda xp, a, b: xp.logaddexp(a, b),
                    lambda xp, g, out, a, b, need: (g * xp.exp(a - out), g * xp.exp(b - out)), "``log(e^a + e^b)``.")


def _pow_grads(xp, g, out, a, b, need):
    ga = g * b * a ** (b - 1) if need[0] else None
    gb = None
    if need[1] and not hasattr(a, "shape"):  # a Python number: its log on the host
        gb = g * out * math.log(a) if a > 0 else xp.zeros_like(g)
    elif need[1]:
        positive = a > 0
        gb = g * out * xp.log(xp.where(positive, a, 1.0))
        gb = xp.where(positive, gb, 0.0)
    return ga, gb


pow = _binary("pow", lambda xp, a, b: a ** b, _pow_grads, "``a ** b``; d/db is 0 where a <= 0.")


# -- not differentiated: they accept Tensors and give plain arrays ----------------------------------
def _constant(name):
    def op(*args, **kwargs):
        values = [unwrap(a) for a in args]
        xp = namespace_of_values(values)
        return getattr(xp, name)(*values, **{k: unwrap(v) for k, v in kwargs.items()})

    return _named(op, name, f"``{name}`` of the array API (not differentiated: its result is an array).")


CONSTANT = ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or",
            "logical_not", "logical_xor", "isnan", "isinf", "isfinite", "sign", "floor", "ceil", "round", "trunc",
            "argmax", "argmin", "argsort", "nonzero", "all", "any", "count_nonzero", "searchsorted", "unique_values",
            "unique_counts", "unique_inverse", "unique_all", "bitwise_and", "bitwise_or", "bitwise_xor",
            "bitwise_invert", "bitwise_left_shift", "bitwise_right_shift", "floor_divide", "remainder", "signbit")
for _name in CONSTANT:
    globals()[_name] = _constant(_name)


