"""A second oracle for the built-in layers: each layer's forward written again in the test with
``xdl.ops`` (a plain function of the input and the layer's own parameters), its gradients then
coming from the tape. In float64 on every backend, for ``loss = sum(y * R)`` with a fixed random R:

(a) the ops forward gives the layer's output;
(b) the tape's gradients through it (``GradientTape`` and ``xdl.value_and_grad``), w.r.t. the
    input(s) and every trainable parameter, equal those of the layer's hand-written backward
    (``layer.apply(x, True)`` -> ``backprop(R)``, the parameters' ``.grad``).

The re-expressions follow each layer's documented formulas but take other routes where they can:
convolutions as a sum over kernel offsets of strided slices times a kernel tap (no im2col), the
transposed convolution by scattering each tap's product with zero-interleaving, pooling with
stack + max/mean, embeddings as one-hot products, recurrences as Python loops over time steps,
activations from exp/log/tanh. Parameters are set to random values first (biases and gammas too).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import xdl
from tests.helpers import host
from xdl import ops

RTOL, ATOL = 1e-7, 1e-10


# -- the harness --------------------------------------------------------------------------------
def randomize(be, layer, seed=0, scale=0.5):
    """Every trainable parameter to random values (biases, gammas and tables too)."""
    rng = np.random.default_rng(1000 + seed)
    for p in layer.trainable_weights:
        p.value = be.asarray(rng.standard_normal(p.shape) * scale, dtype=be.xp.float64)


def oracle(be, layer, arrays, forward, *, shapes=None, layer_input=None, aligned=None, flags=None, seed=0,
           scale=0.5, rtol=RTOL, atol=ATOL):
    """Check ``layer`` against ``forward`` (its forward in ops) on every array of ``arrays``
    (host float64 inputs, differentiated) and every trainable parameter.

    ``layer_input(*xs)``: what ``layer.apply`` takes, from the backend arrays (default: the one
    array); ``aligned(*xs)``: the arrays the layer's backprop outputs line up with (default: the
    layer input's list); ``flags``: ``apply``'s keyword arguments (a dict, or a function of the
    backend arrays); ``shapes``: what ``build`` takes (default: the per-sample shape)."""
    xs = [be.asarray(np.asarray(a, dtype=np.float64), dtype=be.xp.float64) for a in arrays]
    x_in = layer_input(*xs) if layer_input else xs[0]
    layer.build(shapes if shapes is not None else tuple(x_in.shape[1:]))
    randomize(be, layer, seed, scale)
    params = layer.trainable_weights
    names = {id(p): k for k, p in layer.named_parameters().items()}
    assert params, "nothing to check"

    # the layer's own forward and hand-written backward
    layer.zero_grad()
    y, backprop = layer.apply(x_in, True, **(flags(*xs) if callable(flags) else flags or {}))
    R = be.asarray(np.random.default_rng(seed).standard_normal(tuple(y.shape)), dtype=be.xp.float64)
    dx = backprop(R)
    places = aligned(*xs) if aligned else (list(x_in) if isinstance(x_in, (list, tuple)) else [x_in])
    parts = list(dx) if isinstance(dx, (list, tuple)) else [dx]
    expected_x = []
    for a in xs:  # one array at several places (self-attention): its gradients summed
        found = [g for place, g in zip(places, parts) if place is a and g is not None]
        expected_x.append(sum(host(g) for g in found) if found else np.zeros(tuple(a.shape)))
    expected_p = [np.zeros(p.shape) if p.grad is None else host(p.grad) for p in params]
    assert y.dtype == be.xp.float64

    # the ops version: its value, and its gradients from the tape, two ways
    with xdl.GradientTape() as tape:
        tape.watch(xs)
        out = forward(*lifted(xs))
        loss = ops.sum(ops.multiply(out, R))
    _close(host(out), host(y), rtol, atol, f"{layer.describe()}: forward")
    via_tape = tape.gradient(loss, [*xs, *params])
    value, (gx, gp) = xdl.value_and_grad(lambda xs_, ps: ops.sum(ops.multiply(forward(*xs_), R)),
                                         argnums=(0, 1))(xs, params)
    _close(host(value), float(np.sum(host(y) * host(R))), rtol, atol, "loss")
    labels = [f"input {k}" for k in range(len(xs))] + [f"parameter {names.get(id(p), p.name)!r}" for p in params]
    for route, got in (("GradientTape", via_tape), ("value_and_grad", [*gx, *gp])):
        for label, g, e in zip(labels, got, expected_x + expected_p):
            g = np.zeros_like(e) if g is None else host(g)
            _close(g, e, rtol, atol, f"{layer.describe()}: {route} gradient of {label}")
    return y


def lifted(xs):
    """Watched arrays as Tensors, as a Keras-style ``call`` gets its inputs: a plain array's own
    operators are its library's, not recorded (NumPy's ``0.5 * x``), or refuse a Tensor operand
    (array_api_strict's ``x * parameter``). ops.positive: the identity, recorded."""
    return [ops.positive(x) for x in xs]


def _close(actual, expected, rtol, atol, msg):
    expected = np.asarray(expected)
    assert np.shape(actual) == expected.shape, f"{msg}: shape {np.shape(actual)} != {expected.shape}"
    # atol relative to the array's scale: entries near zero are compared with the others' precision
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * max(1.0, float(np.max(np.abs(expected),
                                                                                             initial=0.0))),
                               err_msg=msg)


def normal(*shape, seed=0, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


# -- ops building blocks (written here, not taken from the layers) ----------------------------------
def zeros(be, shape, value=0.0):
    return be.xp.full(tuple(shape), value, dtype=be.xp.float64, device=be.device)


def take_slice(t, axis, start, stop, step=1):
    key = [slice(None)] * len(t.shape)
    key[axis] = slice(start, stop, step)
    return ops.getitem(t, tuple(key))


def pad_axis(be, t, axis, before, after, value=0.0):
    """``t`` with ``before``/``after`` entries of ``value`` along ``axis`` (ops.concat)."""
    if not before and not after:
        return t
    shape = list(t.shape)
    parts = []
    if before:
        shape[axis] = before
        parts.append(zeros(be, shape, value))
    parts.append(t)
    if after:
        shape[axis] = after
        parts.append(zeros(be, shape, value))
    return ops.concat(parts, axis=axis)


def spread(be, t, axis, s):
    """Zero-interleave along ``axis``: element i lands at i * s, length (n - 1) * s + 1."""
    if s == 1:
        return t
    n = t.shape[axis]
    e = ops.expand_dims(t, axis=axis + 1)
    z_shape = list(e.shape)
    z_shape[axis + 1] = s - 1
    joined = ops.concat([e, zeros(be, z_shape)], axis=axis + 1)
    shape = list(t.shape)
    shape[axis] = n * s
    return take_slice(ops.reshape(joined, tuple(shape)), axis, 0, (n - 1) * s + 1)


def same_pads(size, k, s, d):
    """Keras/TensorFlow "same": ceil(size / s) outputs, the odd pixel of padding at the end."""
    span = (k - 1) * d + 1
    total = max((-(-size // s) - 1) * s + span - size, 0)
    return total // 2, total - total // 2


def pads_for(padding, size, k, s, d):
    if padding == "valid":
        return 0, 0
    if padding == "same":
        return same_pads(size, k, s, d)
    return padding, padding


def windows(t, axes, kernel, stride, dilation):
    """For each kernel offset (row-major), the strided slice of ``t`` under it: ``(offset, slice)``."""
    outs = [(t.shape[a] - ((k - 1) * d + 1)) // s + 1 for a, k, s, d in zip(axes, kernel, stride, dilation)]
    offsets = [()]
    for k in kernel:
        offsets = [o + (i,) for o in offsets for i in range(k)]
    for off in offsets:
        part = t
        for a, i, o, s, d in zip(axes, off, outs, stride, dilation):
            part = take_slice(part, a, i * d, i * d + (o - 1) * s + 1, s)
        yield off, part


def sigmoid(x):
    return 1.0 / (1.0 + ops.exp(ops.negative(x)))


def softplus(x):
    return ops.log(1.0 + ops.exp(x))


GELU_C = math.sqrt(2.0 / math.pi)

ACTIVATION = {  # the layers' formulas, from exp/log/tanh (arguments moderate: no overflow guards)
    "linear": lambda x: x,
    "relu": lambda x: ops.where(ops.greater(x, 0.0), x, 0.0),
    "leaky_relu": lambda x: ops.where(ops.greater(x, 0.0), x, 0.01 * x),  # activation="leaky_relu": slope 0.01
    "sigmoid": sigmoid,
    "tanh": ops.tanh,
    "softmax": lambda x: ops.exp(x) / ops.sum(ops.exp(x), axis=-1, keepdims=True),
    "silu": lambda x: x * sigmoid(x),
    "elu": lambda x: ops.where(ops.greater(x, 0.0), x, ops.exp(x) - 1.0),
    "softplus": softplus,
    "softsign": lambda x: x / (1.0 + ops.abs(x)),
    "mish": lambda x: x * ops.tanh(softplus(x)),
    "gelu": lambda x: 0.5 * x * (1.0 + ops.erf(x * (1.0 / math.sqrt(2.0)))),  # the exact form: GELU()'s default
    "gelu_tanh": lambda x: 0.5 * x * (1.0 + ops.tanh(GELU_C * (x + 0.044715 * x * x * x))),
}


def erf_tolerance(be):
    """ops.erf is Abramowitz and Stegun 7.1.26 (|error| < 1.5e-7) everywhere; the torch backend's
    GELU uses torch's exact erf: there the exact GELU agrees to that approximation only."""
    return {"rtol": 1e-6, "atol": 1e-6} if be.name == "torch" else {}  # seen: 2.1e-7 (values), 7.4e-7 (gradients)


def dense(x, W, b=None, activation="linear"):
    y = ops.matmul(x, W)
    return ACTIVATION[activation](y if b is None else y + b)


def conv_nd(be, x, W, b, stride, dilation, pads):
    """Cross-correlation over the spatial axes 1..k of channels-last ``x``: per kernel offset, the
    strided slice of the padded input times that tap (C_in, C_out), summed."""
    spatial = tuple(range(1, x.ndim - 1))
    for a, (before, after) in zip(spatial, pads):
        x = pad_axis(be, x, a, before, after)
    y = None
    for off, part in windows(x, spatial, W.shape[:len(spatial)], stride, dilation):
        term = ops.matmul(part, ops.getitem(W, off))
        y = term if y is None else y + term
    return y if b is None else y + b


def layer_norm(x, gamma, beta, eps, axes=(-1,)):
    mean = ops.mean(x, axis=axes, keepdims=True)
    var = ops.mean(ops.square(x - mean), axis=axes, keepdims=True)
    return (x - mean) / ops.sqrt(var + eps) * gamma + beta


# -- the premise: the tape sums every path into a value used twice ---------------------------------
def test_tape_sums_both_paths_into_an_inner_value(be):
    """What every oracle below leans on, at its smallest: ``y`` (computed, not a leaf) feeds the
    product directly and through tanh; d/dx sum(y * tanh(y)) for y = 2x has both terms."""
    x = be.asarray(np.array([0.3, -1.2, 2.0]), dtype=be.xp.float64)
    expected = 2 * (np.tanh(2 * host(x)) + 2 * host(x) * (1 - np.tanh(2 * host(x)) ** 2))

    def twice(v):  # two nodes for y: right even when the sweep's order is not
        return ops.sum((v * 2.0) * ops.tanh(v * 2.0))

    def short_path_first(v):
        y = v * 2.0
        return ops.sum(y * ops.tanh(y))

    def long_path_first(v):
        y = v * 2.0
        return ops.sum(ops.tanh(y) * y)

    for f in (twice, short_path_first, long_path_first):
        _close(host(xdl.grad(f)(x)), expected, RTOL, ATOL, f"{f.__name__}: d/dx sum(y * tanh(y)), y = 2x")


# -- Dense and activations ----------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["linear", "relu", "softmax", "gelu", "mish", "elu", "silu", "leaky_relu"])
def test_dense(be, activation):
    layer = xdl.Dense(output_size=4, activation=activation, dtype="float64")
    tol = erf_tolerance(be) if activation == "gelu" else {}
    oracle(be, layer, [normal(3, 2, 5)], lambda x: dense(x, layer.W, layer.b, activation), **tol)


def test_dense_without_bias(be):
    layer = xdl.Dense(output_size=3, use_bias=False, activation="tanh", dtype="float64")
    oracle(be, layer, [normal(4, 5)], lambda x: dense(x, layer.W, None, "tanh"))


ACTIVATION_LAYERS = [
    ("relu", lambda: xdl.ReLU(dtype="float64")),
    ("leaky_relu", lambda: xdl.LeakyReLU(0.01, dtype="float64")),
    ("sigmoid", lambda: xdl.Sigmoid(dtype="float64")),
    ("tanh", lambda: xdl.Tanh(dtype="float64")),
    ("softmax", lambda: xdl.Softmax(dtype="float64")),
    ("silu", lambda: xdl.SiLU(dtype="float64")),
    ("elu", lambda: xdl.ELU(dtype="float64")),
    ("softplus", lambda: xdl.Softplus(dtype="float64")),
    ("softsign", lambda: xdl.Softsign(dtype="float64")),
    ("mish", lambda: xdl.Mish(dtype="float64")),
    ("gelu", lambda: xdl.GELU(dtype="float64")),
    ("gelu_tanh", lambda: xdl.GELU(approximate="tanh", dtype="float64")),
]


def oracle_no_params(be, layer, x, forward, **tol):
    """``oracle`` for a layer without parameters: the input's gradient only."""
    xs = be.asarray(x, dtype=be.xp.float64)
    layer.build(tuple(xs.shape[1:]))
    y, backprop = layer.apply(xs, True)
    R = be.asarray(np.random.default_rng(7).standard_normal(tuple(y.shape)), dtype=be.xp.float64)
    expected = host(backprop(R))
    opts = {"rtol": RTOL, "atol": ATOL, **tol}
    with xdl.GradientTape() as tape:
        tape.watch(xs)
        out = forward(*lifted([xs]))
        loss = ops.sum(out * R)
    _close(host(out), host(y), msg=f"{layer.describe()}: forward", **opts)
    _close(host(tape.gradient(loss, xs)), expected, msg=f"{layer.describe()}: GradientTape gradient", **opts)
    g = xdl.grad(lambda v: ops.sum(ops.multiply(forward(v), R)))(xs)
    _close(host(g), expected, msg=f"{layer.describe()}: xdl.grad gradient", **opts)


@pytest.mark.parametrize("name,make", ACTIVATION_LAYERS, ids=[n for n, _ in ACTIVATION_LAYERS])
def test_activation_layer(be, name, make):
    x = normal(3, 4, 5, seed=3, scale=2.0)
    tol = erf_tolerance(be) if name == "gelu" else {}
    oracle_no_params(be, make(), x, ACTIVATION[name], **tol)


def test_activation_options(be):
    """Non-default constants and axes: LeakyReLU's alpha, ELU's alpha, Softmax over another axis."""
    x = normal(3, 4, 5, seed=4, scale=2.0)
    oracle_no_params(be, xdl.LeakyReLU(alpha=0.3, dtype="float64"), x,
                     lambda v: ops.where(ops.greater(v, 0.0), v, 0.3 * v))
    oracle_no_params(be, xdl.ELU(alpha=0.7, dtype="float64"), x,
                     lambda v: ops.where(ops.greater(v, 0.0), v, 0.7 * (ops.exp(v) - 1.0)))
    oracle_no_params(be, xdl.Softmax(axis=1, dtype="float64"), x,
                     lambda v: ops.exp(v) / ops.sum(ops.exp(v), axis=1, keepdims=True))


def test_dropout_rate_zero(be):
    oracle_no_params(be, xdl.Dropout(0.0, dtype="float64"), normal(4, 3), lambda v: v * 1.0)


# -- convolutions -------------------------------------------------------------------------------
CONV2D = [
    {"kernel_size": 3},
    {"kernel_size": 3, "stride": 2, "padding": "same"},
    {"kernel_size": 3, "dilation": 2, "padding": 1, "activation": "tanh"},
    {"kernel_size": (2, 3), "stride": (2, 1), "dilation": (1, 2), "padding": "same", "use_bias": False},
    {"kernel_size": (3, 2), "stride": (1, 3), "padding": (1, 0), "activation": "elu"},
]


@pytest.mark.parametrize("kw", CONV2D, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_conv2d(be, kw):
    layer = xdl.Conv2D(output_channels=4, dtype="float64", **kw)
    x = normal(2, 7, 6, 3, seed=1)
    k, s, d = layer.kernel_size, layer.stride, layer.dilation
    pads = [pads_for(layer.padding if isinstance(layer.padding, str) else layer.padding[a], x.shape[1 + a], k[a],
                     s[a], d[a]) for a in (0, 1)]
    act = kw.get("activation", "linear")
    oracle(be, layer, [x], lambda v: ACTIVATION[act](conv_nd(be, v, layer.W, layer.b if layer.use_bias else None,
                                                             s, d, pads)))


CONV1D = [
    {"kernel_size": 3},
    {"kernel_size": 3, "stride": 2, "padding": "same"},
    {"kernel_size": 2, "dilation": 2, "padding": "causal"},
    {"kernel_size": 3, "padding": 1, "activation": "sigmoid", "use_bias": False},
]


@pytest.mark.parametrize("kw", CONV1D, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_conv1d(be, kw):
    layer = xdl.Conv1D(filters=4, dtype="float64", **kw)
    x = normal(2, 9, 3, seed=2)
    k, s, d = kw["kernel_size"], kw.get("stride", 1), kw.get("dilation", 1)
    padding = kw.get("padding", "valid")
    pads = [((k - 1) * d, 0)] if padding == "causal" else [pads_for(padding, x.shape[1], k, s, d)]
    act = kw.get("activation", "linear")
    oracle(be, layer, [x], lambda v: ACTIVATION[act](conv_nd(be, v, layer.W, layer.b if layer.use_bias else None,
                                                             (s,), (d,), pads)))


def transposed_axis(size, k, s, d, padding, output_padding):
    """Keras's output length of a transposed convolution and where it starts in the full one."""
    span = (k - 1) * d + 1
    full = (size - 1) * s + span
    if output_padding is None:
        out = size * s + max(span - s, 0) if padding == "valid" else size * s
    else:
        out = full - 2 * (span // 2 if padding == "same" else 0) + output_padding
    return out, (0 if padding == "valid" else max(full - out, 0) // 2), full


def conv_transpose(be, x, W, b, stride, dilation, padding, output_padding):
    """Each input pixel (i, j) adds ``x[n, i, j] @ W[a, b].T`` at (i s + a d, j s + b d): per tap,
    the product zero-interleaved by the stride and shifted into place, summed; then cropped (or
    zero-extended) to Keras's size."""
    h, w = x.shape[1:3]
    kh, kw = W.shape[:2]
    op = output_padding or (None, None)
    axes = [transposed_axis(size, W.shape[a], stride[a], dilation[a], padding, op[a]) for a, size in enumerate((h, w))]
    y = None
    for a in range(kh):
        for c in range(kw):
            t = ops.matmul(x, ops.matrix_transpose(ops.getitem(W, (a, c))))
            for axis, shift in ((1, a * dilation[0]), (2, c * dilation[1])):
                t = spread(be, t, axis, stride[axis - 1])
                t = pad_axis(be, t, axis, shift, axes[axis - 1][2] - shift - t.shape[axis])
            y = t if y is None else y + t
    for axis, (out, before, full) in zip((1, 2), axes):
        y = take_slice(y, axis, before, min(before + out, full))
        y = pad_axis(be, y, axis, 0, out - y.shape[axis])  # past the full output: zeros
    return y + b


CONV_T = [
    {"kernel_size": 3, "stride": 2},
    {"kernel_size": 3, "stride": 2, "padding": "same"},
    {"kernel_size": 2, "stride": 3},  # span < stride: "valid" extends past the full output
    {"kernel_size": 3, "stride": 2, "padding": "same", "output_padding": 1, "activation": "tanh"},
    {"kernel_size": (2, 3), "stride": (1, 2), "dilation": (2, 1), "output_padding": (0, 1)},
]


@pytest.mark.parametrize("kw", CONV_T, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_conv2d_transpose(be, kw):
    layer = xdl.Conv2DTranspose(filters=3, dtype="float64", **kw)
    act = kw.get("activation", "linear")
    oracle(be, layer, [normal(2, 3, 4, 2, seed=3)],
           lambda v: ACTIVATION[act](conv_transpose(be, v, layer.W, layer.b, layer.stride, layer.dilation,
                                                    layer.padding, layer.output_padding)))


def depthwise(be, x, K, stride, dilation, pads):
    """Channel c * M + m is input channel c through its own kernel K[..., c, m]."""
    for a, (before, after) in zip((1, 2), pads):
        x = pad_axis(be, x, a, before, after)
    y = None
    for off, part in windows(x, (1, 2), K.shape[:2], stride, dilation):
        term = ops.expand_dims(part, axis=-1) * ops.getitem(K, off)  # (N, OH, OW, C, M)
        y = term if y is None else y + term
    return ops.reshape(y, tuple(y.shape[:3]) + (y.shape[3] * y.shape[4],))


DEPTHWISE = [
    {"kernel_size": 3},
    {"kernel_size": 3, "stride": 2, "padding": "same", "depth_multiplier": 2},
    {"kernel_size": 2, "dilation": 2, "padding": 1, "depth_multiplier": 3, "activation": "softsign", "use_bias": False},
]


def _pads(layer, x):
    return [pads_for(layer.padding if isinstance(layer.padding, str) else layer.padding[a], x.shape[1 + a],
                     layer.kernel_size[a], layer.stride[a], layer.dilation[a]) for a in (0, 1)]


@pytest.mark.parametrize("kw", DEPTHWISE, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_depthwise_conv2d(be, kw):
    layer = xdl.DepthwiseConv2D(dtype="float64", **kw)
    x = normal(2, 6, 5, 3, seed=4)
    act = kw.get("activation", "linear")

    def forward(v):
        y = depthwise(be, v, layer.depthwise_kernel, layer.stride, layer.dilation, _pads(layer, x))
        return ACTIVATION[act](y + layer.b if layer.use_bias else y)

    oracle(be, layer, [x], forward)


@pytest.mark.parametrize("kw", [{"kernel_size": 3, "depth_multiplier": 2},
                                {"kernel_size": 3, "stride": 2, "padding": "same", "activation": "relu"}],
                         ids=["valid,M=2", "same,stride=2,relu"])
def test_separable_conv2d(be, kw):
    layer = xdl.SeparableConv2D(filters=4, dtype="float64", **kw)
    x = normal(2, 6, 5, 3, seed=5)
    act = kw.get("activation", "linear")

    def forward(v):
        z = depthwise(be, v, layer.depthwise_kernel, layer.stride, layer.dilation, _pads(layer, x))
        P = layer.pointwise_kernel
        return ACTIVATION[act](ops.matmul(z, ops.reshape(P, tuple(P.shape[2:]))) + layer.b)

    oracle(be, layer, [x], forward)


# -- pooling -------------------------------------------------------------------------------------
def pool(be, x, size, stride, padding, kind):
    """Max (padding counts as -inf) or mean (over the image's pixels in the window) of the
    windows of the spatial axes 1..k of ``x``, by stacking one strided slice per offset."""
    spatial = tuple(range(1, x.ndim - 1))
    pads = [pads_for(padding if isinstance(padding, str) else padding[i], x.shape[a], size[i], stride[i], 1)
            for i, a in enumerate(spatial)]
    padded = x
    for a, (before, after) in zip(spatial, pads):
        padded = pad_axis(be, padded, a, before, after, -math.inf if kind == "max" else 0.0)
    parts = ops.stack([part for _, part in windows(padded, spatial, size, stride, (1,) * len(spatial))], axis=-1)
    if kind == "max":
        return ops.max(parts, axis=-1)
    counts = None  # per output position, how many of the window's pixels are the image's
    for i, a in enumerate(spatial):
        starts = np.arange(parts.shape[a]) * stride[i] - pads[i][0]
        c = np.minimum(starts + size[i], x.shape[a]) - np.maximum(starts, 0)
        c = c.reshape([-1 if j == a else 1 for j in range(x.ndim)])
        counts = c if counts is None else counts * c
    return ops.sum(parts, axis=-1) / be.asarray(counts.astype(np.float64), dtype=be.xp.float64)


POOLS = [
    {"pool_size": 2},
    {"pool_size": 3, "stride": 2, "padding": "same"},
    {"pool_size": (2, 3), "stride": 1},
    {"pool_size": 3, "stride": 2, "padding": 1},
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("kw", POOLS, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_pool2d(be, kind, kw):
    layer = (xdl.MaxPool2D if kind == "max" else xdl.AvgPool2D)(dtype="float64", **kw)
    x = normal(2, 7, 6, 3, seed=6)  # continuous values: no ties inside a window
    oracle_no_params(be, layer, x, lambda v: pool(be, v, layer.pool_size, layer.stride, layer.padding, kind))


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("kw", [{"pool_size": 2}, {"pool_size": 3, "stride": 2, "padding": "same"},
                                {"pool_size": 3, "stride": 1, "padding": 1}], ids=["2", "3,2,same", "3,1,pad1"])
def test_pool1d(be, kind, kw):
    layer = (xdl.MaxPool1D if kind == "max" else xdl.AvgPool1D)(dtype="float64", **kw)
    x = normal(2, 9, 3, seed=7)
    padding = kw.get("padding", "valid")
    oracle_no_params(be, layer, x, lambda v: pool(be, v, (layer.pool_size[1],), (layer.stride[1],),
                                                  padding if isinstance(padding, str) else (padding,), kind))


@pytest.mark.parametrize("name", ["GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
                                  "GlobalMaxPooling1D"])
def test_global_pooling(be, name):
    x = normal(2, 4, 5, 3, seed=8) if name.endswith("2D") else normal(2, 6, 3, seed=8)
    axes = (1, 2) if name.endswith("2D") else (1,)
    reduce = ops.mean if "Average" in name else ops.max
    oracle_no_params(be, getattr(xdl, name)(dtype="float64"), x, lambda v: reduce(v, axis=axes))


# -- normalization -----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 2, 3)], ids=["dense", "image"])
def test_batch_norm_training(be, shape):
    layer = xdl.BatchNorm(epsilon=0.05, dtype="float64")  # a large epsilon: its place shows
    axes = tuple(range(len(shape) - 1))
    oracle(be, layer, [normal(*shape, seed=9, scale=0.3) + 0.2],
           lambda v: layer_norm(v, layer.gamma, layer.beta, 0.05, axes))


def test_layer_norm(be):
    layer = xdl.LayerNorm(epsilon=0.05, dtype="float64")
    oracle(be, layer, [normal(3, 4, 5, seed=10, scale=0.3)], lambda v: layer_norm(v, layer.gamma, layer.beta, 0.05))


# -- embeddings ----------------------------------------------------------------------------------
def test_embedding(be):
    """Rows of the table as one-hot rows times the table; repeated indices add their gradients.
    Integer inputs have no gradient: only the table's is compared."""
    layer = xdl.Embedding(7, 3, dtype="float64")
    ids = be.asarray(np.array([[1, 3, 3, 0], [6, 1, 1, 1]]))
    layer.build(tuple(ids.shape[1:]))
    randomize(be, layer)
    y, backprop = layer.apply(ids, True)
    R = be.asarray(normal(*y.shape, seed=11), dtype=be.xp.float64)
    layer.zero_grad()
    assert backprop(R) is None
    expected = host(layer.table.grad)

    def forward():
        return ops.matmul(ops.one_hot(ids, 7, dtype="float64"), layer.table)

    _close(host(forward()), host(y), RTOL, ATOL, "Embedding forward")
    with xdl.GradientTape() as tape:
        loss = ops.sum(forward() * R)
    _close(host(tape.gradient(loss, layer.table)), expected, RTOL, ATOL, "Embedding GradientTape")
    table_grad = xdl.grad(lambda t: ops.sum(ops.take(t, ids, axis=0) * R))(layer.table)
    _close(host(table_grad), expected, RTOL, ATOL, "Embedding xdl.grad through ops.take")


def test_position_embedding(be):
    layer = xdl.PositionEmbedding(6, 3, dtype="float64")

    def forward(v):
        rows = take_slice(layer.table, 0, 0, v.shape[1])
        return ops.broadcast_to(ops.expand_dims(rows, axis=0), tuple(v.shape))

    oracle(be, layer, [normal(2, 4, 3, seed=12)], forward)


# -- recurrent layers -----------------------------------------------------------------------------
def step(x, t):
    return ops.getitem(x, (slice(None), t, slice(None)))


def simple_rnn(be, x, cell, activation, return_sequences, h=None):
    h = zeros(be, (x.shape[0], cell.hidden_size)) if h is None else h
    hs = []
    for t in range(x.shape[1]):
        h = ACTIVATION[activation](ops.matmul(step(x, t), cell.kernel) + ops.matmul(h, cell.recurrent_kernel)
                                   + cell.bias)
        hs.append(h)
    return ops.stack(hs, axis=1) if return_sequences else h


def lstm(be, x, cell, return_sequences, h=None, c=None):
    """Gates in xdl's column order i, f, o, g (LSTMCell's doc; not Keras's i, f, c, o)."""
    H = cell.hidden_size
    h = zeros(be, (x.shape[0], H)) if h is None else h
    c = zeros(be, (x.shape[0], H)) if c is None else c
    hs = []
    for t in range(x.shape[1]):
        z = ops.matmul(step(x, t), cell.kernel) + ops.matmul(h, cell.recurrent_kernel) + cell.bias
        i, f, o = (sigmoid(take_slice(z, 1, k * H, (k + 1) * H)) for k in range(3))
        g = ops.tanh(take_slice(z, 1, 3 * H, 4 * H))
        c = f * c + i * g
        h = o * ops.tanh(c)
        hs.append(h)
    return ops.stack(hs, axis=1) if return_sequences else h


def gru(be, x, cell, return_sequences, h=None):
    """reset_after (Keras's reset_after=True, PyTorch's): gates r, z, n; two biases."""
    H = cell.hidden_size
    h = zeros(be, (x.shape[0], H)) if h is None else h
    hs = []
    for t in range(x.shape[1]):
        xw = ops.matmul(step(x, t), cell.kernel) + cell.bias
        hw = ops.matmul(h, cell.recurrent_kernel) + cell.recurrent_bias
        r, z = (sigmoid(take_slice(xw, 1, k * H, (k + 1) * H) + take_slice(hw, 1, k * H, (k + 1) * H))
                for k in range(2))
        n = ops.tanh(take_slice(xw, 1, 2 * H, 3 * H) + r * take_slice(hw, 1, 2 * H, 3 * H))
        h = (1.0 - z) * n + z * h
        hs.append(h)
    return ops.stack(hs, axis=1) if return_sequences else h


SEQ = {"seed": 13, "scale": 0.8}


@pytest.mark.parametrize("return_sequences", [True, False], ids=["sequences", "last"])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_simple_rnn(be, activation, return_sequences):
    layer = xdl.SimpleRNN(4, activation=activation, return_sequences=return_sequences, dtype="float64")
    oracle(be, layer, [normal(2, 5, 3, **SEQ)],
           lambda v: simple_rnn(be, v, layer.cell, activation, return_sequences))


@pytest.mark.parametrize("return_sequences", [True, False], ids=["sequences", "last"])
def test_lstm(be, return_sequences):
    layer = xdl.LSTM(4, return_sequences=return_sequences, dtype="float64")
    oracle(be, layer, [normal(2, 5, 3, **SEQ)], lambda v: lstm(be, v, layer.cell, return_sequences))


@pytest.mark.parametrize("return_sequences", [True, False], ids=["sequences", "last"])
def test_gru(be, return_sequences):
    layer = xdl.GRU(4, return_sequences=return_sequences, dtype="float64")
    oracle(be, layer, [normal(2, 5, 3, **SEQ)], lambda v: gru(be, v, layer.cell, return_sequences))


def test_lstm_initial_state(be):
    """Given initial states are inputs too: their gradients follow dx in the backprop's list."""
    layer = xdl.LSTM(3, return_sequences=True, dtype="float64")
    oracle(be, layer, [normal(2, 4, 3, **SEQ), normal(2, 3, seed=14), normal(2, 3, seed=15)],
           lambda v, h, c: lstm(be, v, layer.cell, True, h, c), layer_input=lambda v, h, c: v,
           aligned=lambda v, h, c: [v, h, c], flags=lambda v, h, c: {"initial_state": [h, c]})


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave"])
def test_bidirectional_gru(be, merge_mode):
    layer = xdl.Bidirectional(xdl.GRU(3, return_sequences=True, dtype="float64"), merge_mode=merge_mode)

    def forward(v):
        f = gru(be, v, layer.forward_layer.cell, True)
        b = ops.flip(gru(be, ops.flip(v, axis=1), layer.backward_layer.cell, True), axis=1)
        return {"concat": lambda: ops.concat([f, b], axis=-1), "sum": lambda: f + b,
                "ave": lambda: (f + b) * 0.5}[merge_mode]()

    oracle(be, layer, [normal(2, 4, 3, **SEQ)], forward)


# -- attention -----------------------------------------------------------------------------------
def multi_head(be, layer, query, value, key, causal=False, mask=None):
    """Keras's MultiHeadAttention: per head, softmax(q k^T / sqrt(key_dim)) v, heads side by side
    through the output projection; a masked key gets weight 0, a row with none left gives 0."""
    h, kd, vd = layer.num_heads, layer.key_dim, layer.value_dim

    def project(x, part, width):
        w, b = layer.proj[part]
        y = ops.matmul(x, w) + b
        return ops.permute_dims(ops.reshape(y, (x.shape[0], x.shape[1], h, width)), (0, 2, 1, 3))

    q, k, v = project(query, "query", kd), project(key, "key", kd), project(value, "value", vd)
    e = ops.exp(ops.matmul(q, ops.permute_dims(k, (0, 1, 3, 2))) / math.sqrt(kd))
    tq, tk = query.shape[1], key.shape[1]
    keep = np.ones((1, 1, tq, tk))
    if causal:
        keep = keep * np.tril(np.ones((tq, tk)))
    if mask is not None:
        keep = keep * (np.asarray(mask) != 0)[:, None, :, :]
    e = e * be.asarray(keep, dtype=be.xp.float64)
    total = ops.sum(e, axis=-1, keepdims=True)
    p = e / ops.where(ops.equal(total, 0.0), 1.0, total)
    o = ops.matmul(p, v)  # (N, heads, Tq, value_dim)
    o = ops.reshape(ops.permute_dims(o, (0, 2, 1, 3)), (query.shape[0], tq, h * vd))
    w, b = layer.proj["output"]
    return ops.matmul(o, w) + b


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_self_attention(be, causal):
    """One array as query, value and key (the layer's fused projection)."""
    layer = xdl.MultiHeadAttention(num_heads=2, key_dim=3, dtype="float64")
    oracle(be, layer, [normal(2, 5, 4, seed=16)], lambda v: multi_head(be, layer, v, v, v, causal),
           shapes=[(5, 4)] * 3, layer_input=lambda v: [v, v, v], flags={"use_causal_mask": causal})


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_cross_attention(be, causal):
    """Query, value and key distinct, of different widths; value_dim and output_shape set."""
    layer = xdl.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=2, output_shape=5, dtype="float64")
    arrays = [normal(2, 4, 4, seed=17), normal(2, 6, 3, seed=18), normal(2, 6, 2, seed=19)]
    oracle(be, layer, arrays, lambda q, v, k: multi_head(be, layer, q, v, k, causal),
           shapes=[(4, 4), (6, 3), (6, 2)], layer_input=lambda q, v, k: [q, v, k],
           flags={"use_causal_mask": causal})


def test_attention_mask(be):
    """A user's mask, with a query row that keeps no key (zeros), combined with the causal one;
    key defaults to value (one array at two places: its gradients summed)."""
    layer = xdl.MultiHeadAttention(num_heads=2, key_dim=2, dtype="float64")
    mask = (np.random.default_rng(20).uniform(size=(2, 4, 4)) > 0.4).astype(np.float64)
    mask[0, 2, :] = 0.0
    mask[:, :, 0] = 1.0
    mask[1, 3, :] = 0.0
    holder = {}

    def layer_input(q, v):
        holder["mask"] = be.asarray(mask, dtype=be.xp.float64)
        return [q, v, v, holder["mask"]]

    oracle(be, layer, [normal(2, 4, 3, seed=21), normal(2, 4, 3, seed=22)],
           lambda q, v: multi_head(be, layer, q, v, v, True, mask), shapes=[(4, 3)] * 3 + [(4, 4)],
           layer_input=layer_input, flags={"use_causal_mask": True})


def test_transformer_block(be):
    """The whole pre-norm block: LayerNorm, causal self-attention, residual, LayerNorm, Dense,
    GELU (tanh), Dense, residual."""
    layer = xdl.TransformerBlock(dim=4, num_heads=2, mlp_dim=6, dtype="float64")

    def forward(v):
        n1, n2 = layer.norm_1, layer.norm_2
        a = layer_norm(v, n1.gamma, n1.beta, n1.epsilon)
        x1 = v + multi_head(be, layer.attention, a, a, a, causal=True)
        m = dense(layer_norm(x1, n2.gamma, n2.beta, n2.epsilon), layer.mlp_in.W, layer.mlp_in.b, "gelu_tanh")
        return x1 + dense(m, layer.mlp_out.W, layer.mlp_out.b)

    oracle(be, layer, [normal(2, 5, 4, seed=23)], forward, scale=0.4)
