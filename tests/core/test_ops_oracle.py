"""``xdl.ops`` against ``torch.autograd``: random chains of ops (element-wise with broadcasting,
reductions, shapes, indexing, products) on random float64 inputs; the value of ``sum(out * w)``
for random weights ``w`` and its gradient for every input agree between xdl (on the NumPy
backend, and on the PyTorch backend) and PyTorch's own autograd. Hypothesis draws one seed per
example (derandomized: the same 150 chains on every run); the chain is built from it with every
op of the table equally likely, and a failure notes the chain it ran.

The chains avoid where two conventions may differ, not where gradients are hard: no exact ties
between two operands of ``maximum``/``minimum`` (their second operand has the first's shape, so
no row of equal values comes from broadcasting one), a standard deviation only over at least two
values that differ, no ``relu``/``clip`` (exact zeros and ties at the bounds).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the oracle is torch.autograd: pip install 'xdl[torch]'")
hypothesis = pytest.importorskip("hypothesis", reason="property tests need hypothesis: pip install 'xdl[test]'")
xp_torch = pytest.importorskip("array_api_compat.torch")

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import xdl
from xdl import ops

MAX_NDIM = 4


# -- the two namespaces a chain runs on -----------------------------------------------------------
class XdlOps:
    """xdl.ops, with constants (indices, masks, conditions) as arrays of backend ``be``."""

    def __init__(self, be):
        self.be = be

    def __getattr__(self, name):
        return getattr(ops, name)

    def const(self, a):
        return self.be.asarray(a)

    @staticmethod
    def index(x, key):
        return x[key] if isinstance(x, xdl.Tensor) else ops.getitem(x, key)


class TorchOps:
    """The array API over torch (array_api_compat) and torch's own functions: the oracle."""

    def __getattr__(self, name):
        return getattr(xp_torch, name)

    @staticmethod
    def const(a):
        return torch.as_tensor(a)

    @staticmethod
    def index(x, key):
        return x[key]

    @staticmethod
    def take(x, idx, axis=None):
        if axis is None:
            return torch.reshape(torch.reshape(x, (-1,))[torch.reshape(idx, (-1,))], tuple(idx.shape))
        a = axis % x.ndim
        picked = torch.index_select(x, a, torch.reshape(idx, (-1,)))
        return torch.reshape(picked, tuple(x.shape[:a]) + tuple(idx.shape) + tuple(x.shape[a + 1:]))

    @staticmethod
    def _dims(x, axis):
        return tuple(range(x.ndim)) if axis is None else axis

    def logsumexp(self, x, axis=None, keepdims=False):
        return torch.logsumexp(x, dim=self._dims(x, axis), keepdim=keepdims)

    def norm(self, x, ord=None, axis=None, keepdims=False):
        return torch.linalg.vector_norm(x, ord=2 if ord is None else ord, dim=self._dims(x, axis), keepdim=keepdims)

    @staticmethod
    def softmax(x, axis=-1):
        return torch.softmax(x, dim=axis)

    @staticmethod
    def log_softmax(x, axis=-1):
        return torch.log_softmax(x, dim=axis)

    sigmoid = staticmethod(torch.sigmoid)
    softplus = staticmethod(torch.nn.functional.softplus)
    silu = staticmethod(torch.nn.functional.silu)
    softsign = staticmethod(torch.nn.functional.softsign)

    @staticmethod
    def gelu(x):
        return torch.nn.functional.gelu(x, approximate="tanh")

    @staticmethod
    def leaky_relu(x, negative_slope=0.2):
        return torch.nn.functional.leaky_relu(x, negative_slope)

    @staticmethod
    def elu(x, alpha=1.0):
        return torch.nn.functional.elu(x, alpha)


# -- the chains --------------------------------------------------------------------------------
class Step:
    """One op of a chain: ``fn(m, x, *extra)``, ``extra`` new inputs of ``shapes``."""

    def __init__(self, text, fn, shapes=()):
        self.text, self.fn, self.shapes = text, fn, list(shapes)

    def __repr__(self):
        return self.text


class Chain:
    def __init__(self, shape, steps, seed):
        self.shape, self.steps, self.seed = shape, steps, seed
        self.input_shapes = [shape] + [s for step in steps for s in step.shapes]

    def __repr__(self):
        return f"Chain(x{self.shape} -> {' -> '.join(map(repr, self.steps))}, seed={self.seed})"

    def run(self, m, inputs):
        x, k = inputs[0], 1
        for step in self.steps:
            extra = inputs[k:k + len(step.shapes)]
            k += len(step.shapes)
            x = step.fn(m, x, *extra)
        return x


_NUMPY = XdlOps(xdl.backends.create("numpy"))


def _shape_of(fn, shape, extra=()):
    """The output shape of one step, from running it on zeros."""
    return tuple(fn(_NUMPY, np.zeros(shape), *[np.zeros(s) for s in extra]).shape)


UNARY = {
    "negative": lambda m, x: m.negative(x), "exp_tanh": lambda m, x: m.exp(m.tanh(x)),
    "log": lambda m, x: m.log(m.square(x) + 1.0), "sqrt": lambda m, x: m.sqrt(m.multiply(x, x) + 0.5),
    "sin": lambda m, x: m.sin(x), "cos": lambda m, x: m.cos(x), "tanh": lambda m, x: m.tanh(x),
    "atan": lambda m, x: m.atan(x), "abs": lambda m, x: m.abs(x), "sigmoid": lambda m, x: m.sigmoid(x),
    "softplus": lambda m, x: m.softplus(x), "silu": lambda m, x: m.silu(x), "gelu": lambda m, x: m.gelu(x),
    "softsign": lambda m, x: m.softsign(x), "leaky_relu": lambda m, x: m.leaky_relu(x),
    "elu": lambda m, x: m.elu(x, alpha=0.7), "cube": lambda m, x: x ** 3, "two_to": lambda m, x: 2.0 ** x,
    "reciprocal": lambda m, x: 1.0 / (x * x + 1.0), "affine": lambda m, x: 0.5 - x * 1.5,
    "expm1_log1p": lambda m, x: m.expm1(m.log1p(m.square(x))),
}
BINARY = {
    "add": lambda m, x, y: m.add(x, y), "sub": lambda m, x, y: x - y, "mul": lambda m, x, y: x * y,
    "div": lambda m, x, y: x / (y * y + 0.5), "rdiv": lambda m, x, y: y / (x * x + 0.5),
    "logaddexp": lambda m, x, y: m.logaddexp(x, y), "atan2": lambda m, x, y: m.atan2(x, m.abs(y) + 0.5),
    "pow": lambda m, x, y: (m.abs(x) + 0.5) ** y,
    "where": None,  # below: a condition of the broadcast shape
}


def _broadcast_partner(draw, shape):
    """A shape that broadcasts with ``shape``: some of its axes 1, leading ones dropped or one
    added, some bigger where ``shape`` has a 1 (the chains keep their sizes small)."""
    other = [1 if draw.bool() else d for d in shape]
    drop = draw.int(0, len(other))
    other = other[drop:]
    other = [draw.int(2, 3) if shape[drop + i] == 1 and draw.int(0, 3) == 0 else d
             for i, d in enumerate(other)]
    if drop == 0 and len(shape) < MAX_NDIM and draw.bool():
        other = [draw.int(1, 3)] + other
    return tuple(other)


def _axis(draw, ndim):
    kind = draw.pick(["none", "int", "tuple"])
    if kind == "none" or ndim == 0:
        return None
    if kind == "int" or ndim == 1:
        return draw.int(-ndim, ndim - 1)
    axes = draw.perm(ndim)[:draw.int(1, ndim)]
    return tuple(a - ndim if draw.bool() else a for a in axes)


def _reduced_count(shape, axis):
    if axis is None:
        return math.prod(shape)
    axes = axis if isinstance(axis, tuple) else (axis,)
    return math.prod(shape[a] for a in axes)


def unary(draw, shape):
    name = draw.pick(sorted(UNARY))
    return Step(name, UNARY[name])


def binary(draw, shape):
    name = draw.pick(sorted(BINARY))
    other = _broadcast_partner(draw, shape)
    if name == "where":
        out = np.broadcast_shapes(shape, other)
        cond = np.random.default_rng(draw.int(0, 99)).random(out) < 0.5
        return Step(f"where({other})", lambda m, x, y: m.where(m.const(cond), x, y), [other])
    return Step(f"{name}({other})", BINARY[name], [other])


def extremum(draw, shape):  # the second operand of maximum/minimum has the first's shape
    name = draw.pick(["maximum", "minimum"])
    return Step(f"{name}({shape})", lambda m, x, y: getattr(m, name)(x, y), [shape])


def reduction(draw, shape):
    if not shape:
        return None
    name = draw.pick(["sum", "mean", "max", "min", "prod", "var", "std", "logsumexp", "norm",
                                 "norm1", "norminf"])
    axis, keepdims = _axis(draw, len(shape)), draw.bool()
    if name in ("var", "std"):
        if _reduced_count(shape, axis) < 2:
            return None
        correction = draw.pick([0, 1])
        return Step(f"{name}(axis={axis}, correction={correction}, keepdims={keepdims})",
                    lambda m, x: getattr(m, name)(x, axis=axis, correction=correction, keepdims=keepdims))
    if name.startswith("norm"):
        ord_ = {"norm": None, "norm1": 1, "norminf": math.inf}[name]
        return Step(f"norm(ord={ord_}, axis={axis}, keepdims={keepdims})",
                    lambda m, x: m.norm(m.add(x, 0.25), ord=ord_, axis=axis, keepdims=keepdims))
    return Step(f"{name}(axis={axis}, keepdims={keepdims})",
                lambda m, x: getattr(m, name)(x, axis=axis, keepdims=keepdims))


def along_axis(draw, shape):
    if not shape:
        return None
    name = draw.pick(["softmax", "log_softmax", "cumulative_sum"])
    axis = draw.int(-len(shape), len(shape) - 1)
    return Step(f"{name}(axis={axis})", lambda m, x: getattr(m, name)(x, axis=axis))


def reshaping(draw, shape):
    n = len(shape)
    options = ["reshape_flat", "reshape_reversed", "expand_squeeze"]
    if n >= 1:
        options += ["permute_dims", "flip", "roll", "moveaxis"]
    if n >= 2:
        options += ["matrix_transpose", "reshape_merge"]
    if n < MAX_NDIM:
        options += ["expand_dims"]
    name = draw.pick(options)
    if name == "reshape_flat":
        return Step("reshape(-1)", lambda m, x: m.reshape(x, (-1,)))
    if name == "reshape_reversed":
        return Step(f"reshape({shape[::-1]})", lambda m, x: m.reshape(x, shape[::-1]))
    if name == "reshape_merge":
        target = (shape[0] * shape[1],) + shape[2:]
        return Step(f"reshape({target})", lambda m, x: m.reshape(x, target))
    if name == "expand_squeeze":
        return Step("expand_dims(0)+squeeze(0)", lambda m, x: m.squeeze(m.expand_dims(x, axis=0), axis=0))
    if name == "expand_dims":
        axis = draw.int(-n - 1, n)
        return Step(f"expand_dims({axis})", lambda m, x: m.expand_dims(x, axis=axis))
    if name == "permute_dims":
        perm = draw.perm(n)
        return Step(f"permute_dims({perm})", lambda m, x: m.permute_dims(x, perm))
    if name == "flip":
        axis = _axis(draw, n)
        return Step(f"flip({axis})", lambda m, x: m.flip(x, axis=axis))
    if name == "roll":
        axis = draw.pick([None, draw.int(-n, n - 1)])
        shift = draw.int(-3, 3)
        return Step(f"roll({shift}, {axis})", lambda m, x: m.roll(x, shift, axis=axis))
    if name == "moveaxis":
        source, destination = draw.int(-n, n - 1), draw.int(-n, n - 1)
        return Step(f"moveaxis({source}, {destination})", lambda m, x: m.moveaxis(x, source, destination))
    return Step("matrix_transpose", lambda m, x: m.matrix_transpose(x))


def joining(draw, shape):
    n = len(shape)
    if n == 0 or (draw.bool() and n < MAX_NDIM):
        axis = draw.int(-n - 1, n)
        return Step(f"stack({shape}, axis={axis})", lambda m, x, y: m.stack([y, x], axis=axis), [shape])
    axis = draw.int(-n, n - 1)
    other = list(shape)
    other[axis] = draw.int(1, 3)
    return Step(f"concat({tuple(other)}, axis={axis})", lambda m, x, y: m.concat([x, y], axis=axis), [tuple(other)])


def indexing(draw, shape):
    n = len(shape)
    if n == 0:
        return None
    rng = np.random.default_rng(draw.int(0, 99))
    kind = draw.pick(["slices", "slices", "mask", "int_array", "take"])
    if kind == "slices":
        key = []
        for d in shape:
            if draw.int(0, 3) == 0:
                key.append(draw.int(-d, d - 1))
            else:
                start = draw.int(0, d - 1)
                key.append(slice(start, draw.int(start + 1, d), draw.int(1, 2)))
        if draw.bool():
            key.insert(draw.int(0, len(key)), None)
        if n >= 2 and draw.bool():
            key = key[:1] + [Ellipsis]
        key = tuple(key)
        return Step(f"[{key}]", lambda m, x: m.index(x, key))
    if kind == "mask":
        mask = rng.random(shape) < 0.6
        mask.reshape(-1)[0] = True
        return Step("[mask]", lambda m, x: m.index(x, m.const(mask)))
    axis = draw.pick([None, draw.int(-n, n - 1)]) if kind == "take" else 0
    size = math.prod(shape) if axis is None else shape[axis]
    if size < 2:
        return None  # repeats of one index only: a standard deviation of equal values would follow
    count = draw.int(2, 5)
    idx = np.concatenate([[0, 1], rng.integers(0, size, count - 2)])  # two that differ, repeats likely
    idx = rng.permutation(idx).astype(np.int64)
    if draw.bool() and count % 2 == 0:
        idx = idx.reshape(2, -1)
    if kind == "take":
        return Step(f"take({idx.tolist()}, axis={axis})", lambda m, x: m.take(x, m.const(idx), axis=axis))
    return Step(f"[{idx.tolist()}]", lambda m, x: m.index(x, m.const(idx)))


def product(draw, shape):
    n = len(shape)
    if n == 0:
        return None
    kind = draw.pick(["matmul", "matmul_vector", "matmul_batched", "matmul_left", "tensordot", "vecdot"])
    k = draw.int(1, 3)
    if kind == "matmul":
        return Step(f"@({shape[-1]}, {k})", lambda m, x, y: m.matmul(x, y), [(shape[-1], k)])
    if kind == "matmul_vector":
        return Step(f"@({shape[-1]},)", lambda m, x, y: x @ y, [(shape[-1],)])
    if kind == "matmul_batched" and n < MAX_NDIM:
        other = (draw.pick([1, shape[-3]]) if n >= 3 else 2, shape[-1], k)  # batches broadcast
        return Step(f"@{other}", lambda m, x, y: m.matmul(x, y), [other])
    if kind == "matmul_left":
        inner = shape[-2] if n >= 2 else shape[0]
        return Step(f"({k}, {inner})@", lambda m, x, y: y @ x, [(k, inner)])
    if kind == "vecdot":
        other = _broadcast_partner(draw, shape)
        other = other[:-1] + (shape[-1],) if other else (shape[-1],)
        return Step(f"vecdot({other})", lambda m, x, y: m.vecdot(x, y, axis=-1), [other])
    return Step(f"tensordot(({shape[-1]}, {k}), 1)", lambda m, x, y: m.tensordot(x, y, axes=1), [(shape[-1], k)])


KINDS = [unary, unary, unary, binary, binary, extremum, reduction, reduction, along_axis, reshaping, joining, indexing,
         indexing, product]  # weights: how often each kind is drawn


class Draw:
    """The choices that build a chain, from one seed: every op of the table equally likely
    (hypothesis's own draws lean to the first entries and the smallest shapes)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def int(self, low, high):  # low..high, both included
        return int(self.rng.integers(low, high + 1))

    def bool(self):
        return bool(self.rng.integers(2))

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def perm(self, n):
        return tuple(int(i) for i in self.rng.permutation(n))


def build_chain(seed):
    """A chain of 2 to 5 ops on an input of 0 to 3 axes, and the seed of its values."""
    draw = Draw(seed)
    shape = tuple(draw.int(1, 4) for _ in range(draw.pick([0, 1, 2, 2, 3, 3])))
    start, steps = shape, []
    for _ in range(draw.int(2, 5)):
        while True:
            step = draw.pick(KINDS)(draw, shape)
            if step is not None:
                new = _shape_of(step.fn, shape, step.shapes)
                if len(new) <= MAX_NDIM and math.prod(new) <= 96:
                    break
        steps.append(step)
        shape = new
    return Chain(start, steps, seed)


# -- the comparison ----------------------------------------------------------------------------
def _torch_reference(chain, inputs, w):
    leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in inputs]
    out = chain.run(TorchOps(), leaves)
    loss = torch.sum(out * torch.as_tensor(w))
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    return loss.item(), [np.zeros(a.shape) if g is None else g.numpy() for g, a in zip(grads, inputs)]


def _xdl(chain, backend, inputs, w):
    with xdl.use_backend(backend, fallback=False) as be, xdl.use_floatx("float64"):
        m = XdlOps(be)
        weights = be.asarray(w)

        def objective(*xs):
            return ops.sum(ops.multiply(chain.run(m, list(xs)), weights))

        arrays = [be.asarray(a) for a in inputs]
        value, grads = xdl.value_and_grad(objective, argnums=tuple(range(len(arrays))))(*arrays)
        for g, a in zip(grads, arrays):
            assert g.dtype == be.xp.float64 and tuple(g.shape) == tuple(a.shape)
        return float(xdl.to_numpy(value)), [xdl.to_numpy(g) for g in grads]


BACKENDS = [name for name in ("numpy", "torch") if xdl.backends.probe(name).usable]


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_chains_match_torch_autograd(seed):
    chain = build_chain(seed)
    note(repr(chain))  # a failure shows the chain, not only its seed
    rng = np.random.default_rng(chain.seed)
    inputs = [rng.standard_normal(s) for s in chain.input_shapes]
    out_shape = _shape_of(lambda m, x, *rest: chain.run(m, [x, *rest]), chain.input_shapes[0], chain.input_shapes[1:])
    w = rng.standard_normal(out_shape)
    value, grads = _torch_reference(chain, inputs, w)
    for backend in BACKENDS:
        got_value, got_grads = _xdl(chain, backend, inputs, w)
        scale = max(1.0, abs(value))
        np.testing.assert_allclose(got_value, value, rtol=1e-9, atol=1e-12 * scale, err_msg=f"{backend}: value of {chain}")
        for k, (g, e) in enumerate(zip(got_grads, grads)):
            np.testing.assert_allclose(g, e, rtol=1e-7, atol=1e-9 * max(1.0, float(np.max(np.abs(e), initial=0))),
                                       err_msg=f"{backend}: input {k} of {chain}")
