"""Element-wise kernels: ReLU (a comparison, a cast and a product in one pass), GELU's tanh
form, and ``tanh32``, the float32 tanh of arithmetic only that the recurrent kernels call too."""

from __future__ import annotations

import numpy
from numba import prange

from .loader import for_work, jit


def relu(x):
    """``x * (x > 0)``, the portable form's exact values (NaN stays NaN, -inf gives NaN)."""
    x = numpy.ascontiguousarray(x)
    y = numpy.empty_like(x)
    for_work(_relu, x.size)(x.reshape(-1), x.reshape(-1), y.reshape(-1))
    return y


def relu_backward(dy, x):
    """``dy * (x > 0)``."""
    dy, x = numpy.ascontiguousarray(dy), numpy.ascontiguousarray(x)
    dx = numpy.empty_like(dy)
    for_work(_relu, dy.size)(dy.reshape(-1), x.reshape(-1), dx.reshape(-1))
    return dx


def gelu_tanh32(x):
    """``Backend.gelu(x, "tanh")`` of float32 ``x`` in one pass: ``(y, (x, t))``."""
    x = numpy.ascontiguousarray(x)
    y, t = numpy.empty_like(x), numpy.empty_like(x)
    for_work(_gelu_tanh32, x.size)(x.reshape(-1), y.reshape(-1), t.reshape(-1))
    return y, (x, t)


def gelu_tanh_backward32(dy, saved):
    x, t = saved
    dy = numpy.ascontiguousarray(dy, dtype=x.dtype)
    dx = numpy.empty_like(dy)
    for_work(_gelu_tanh_backward32, x.size)(dy.reshape(-1), x.reshape(-1), t.reshape(-1), dx.reshape(-1))
    return dx


# -- the kernels ------------------------------------------------------------------------------

@jit
def _relu(values, signs, out):
    """out = values * (signs > 0), over flat arrays; the 0/1 factor in the values' dtype, so
    that float32 stays float32 (a bool factor would go through int64 and float64)."""
    one = values.dtype.type(1)
    zero = one - one
    for i in prange(values.shape[0]):
        out[i] = values[i] * (one if signs[i] > 0 else zero)


@jit
def tanh32(v):
    """tanh of a float32 within 6 ulp (0.6 on average; NumPy's is within 1.4): x P(x^2) / Q(x^2)
    fitted to relative error on [0, 9], and +-1 beyond 9, where float32's tanh rounds to 1.
    Arithmetic only, so that loops calling it vectorize, where libm's tanh is one call per element."""
    f = numpy.float32
    x = f(-9.0) if v < f(-9.0) else v  # selects, not min/max: NaN passes through
    x = f(9.0) if x > f(9.0) else x
    s = x * x
    p = ((((((f(-8.561704676387366e-14) * s + f(5.3093099361412044e-11)) * s + f(-2.029680601367545e-08)) * s
             + f(1.1173407983733341e-05)) * s + f(0.00310587789863348)) * s + f(0.13085763156414032)) * s + f(1.0))
    q = ((f(0.0002548884367570281) * s + f(0.024502931162714958)) * s + f(0.46419093012809753)) * s + f(1.0)
    return x * p / q


@jit
def _gelu_tanh32(x, y, t):
    f = numpy.float32
    c, a, half, one = f(0.7978845608028654), f(0.044715), f(0.5), f(1.0)  # c = sqrt(2 / pi)
    for i in prange(x.shape[0]):
        v = x[i]
        th = tanh32(c * (v + a * v * v * v))
        t[i] = th
        y[i] = half * v * (one + th)


@jit
def _gelu_tanh_backward32(dy, x, t, dx):
    f = numpy.float32
    c, a3, half, one = f(0.7978845608028654), f(3 * 0.044715), f(0.5), f(1.0)
    for i in prange(x.shape[0]):
        v, th = x[i], t[i]
        dx[i] = dy[i] * (half * (one + th) + half * v * (one - th * th) * c * (one + a3 * v * v))
