"""``xdl.ops`` and the tape: every differentiable op's gradient against central differences in
float64 on every backend; what is not differentiated; plain arrays stay plain; float32
gradients stay float32; ``GradientTape``, ``backward`` and ``grad``/``value_and_grad``."""

from __future__ import annotations

import math

import numpy as np
import pytest

import xdl
from tests.helpers import away_from_zero, host
from xdl import ops

EPS = 1e-6


def _rng(seed=0):
    return np.random.default_rng(seed)


def numeric_gradients(be, fn, xs, w, eps=EPS):
    """d sum(fn(*xs) * w) / d xs[k] by central differences, fn on plain arrays."""
    def objective(values):
        return float(np.sum(host(fn(*[be.asarray(v) for v in values])) * w))

    grads = []
    for k, x in enumerate(xs):
        values = [np.array(v, dtype=np.float64) for v in xs]
        g = np.zeros_like(values[k])
        flat, gflat = values[k].reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            original = flat[i]
            flat[i] = original + eps
            plus = objective(values)
            flat[i] = original - eps
            minus = objective(values)
            flat[i] = original
            gflat[i] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def check(be, fn, *xs, rtol=1e-6, atol=1e-8, seed=1):
    """``fn``'s gradients (through ``xdl.value_and_grad``) against central differences, for an
    objective ``sum(fn(*xs) * w)`` with random ``w``; ``xs`` NumPy float64 inputs."""
    xs = [np.asarray(x, dtype=np.float64) for x in xs]
    arrays = [be.asarray(x) for x in xs]
    plain = fn(*arrays)  # on plain arrays nothing is recorded
    assert not isinstance(plain, xdl.Tensor) and be.owns(plain), type(plain)
    w = _rng(seed).standard_normal(tuple(plain.shape))
    w_array = be.asarray(w)

    def objective(*args):
        return ops.sum(ops.multiply(fn(*args), w_array))

    value, grads = xdl.value_and_grad(objective, argnums=tuple(range(len(xs))))(*arrays)
    np.testing.assert_allclose(host(value), np.sum(host(plain) * w), rtol=1e-12, atol=1e-12)
    expected = numeric_gradients(be, fn, xs, w)
    for k, (g, e) in enumerate(zip(grads, expected)):
        assert be.owns(g) and g.dtype == be.xp.float64 and tuple(g.shape) == xs[k].shape, (type(g), g.dtype, g.shape)
        np.testing.assert_allclose(host(g), e, rtol=rtol, atol=atol, err_msg=f"argument {k}")


# -- inputs ------------------------------------------------------------------------------------
def normal(*shape, seed=0, scale=1.0):
    return lambda: _rng(seed).standard_normal(shape) * scale


def uniform(low, high, *shape, seed=0):
    return lambda: _rng(seed).uniform(low, high, shape)


def nonzero(*shape, seed=0, low=0.1, high=1.5):
    return lambda: away_from_zero(_rng(seed), shape, low, high)


def distinct(*shape, seed=0):
    """Values at least 0.1 apart (max, min, sorting: no ties within a finite-difference step)."""
    n = math.prod(shape)
    return lambda: (_rng(seed).permutation(n) * 0.1 - n * 0.05 + 0.03).reshape(shape)


# -- element-wise, one argument ----------------------------------------------------------------
UNARY = [
    ("exp", ops.exp, normal(3, 4)), ("expm1", ops.expm1, normal(3, 4)),
    ("log", ops.log, uniform(0.3, 2.0, 3, 4)), ("log1p", ops.log1p, uniform(-0.5, 2.0, 3, 4)),
    ("log2", ops.log2, uniform(0.3, 2.0, 3, 4)), ("log10", ops.log10, uniform(0.3, 2.0, 3, 4)),
    ("sqrt", ops.sqrt, uniform(0.3, 2.0, 3, 4)), ("square", ops.square, normal(3, 4)),
    ("sin", ops.sin, normal(3, 4)), ("cos", ops.cos, normal(3, 4)), ("tan", ops.tan, uniform(-1.2, 1.2, 3, 4)),
    ("asin", ops.asin, uniform(-0.8, 0.8, 3, 4)), ("acos", ops.acos, uniform(-0.8, 0.8, 3, 4)),
    ("atan", ops.atan, normal(3, 4)), ("sinh", ops.sinh, normal(3, 4)), ("cosh", ops.cosh, normal(3, 4)),
    ("tanh", ops.tanh, normal(3, 4)), ("asinh", ops.asinh, normal(3, 4)),
    ("acosh", ops.acosh, uniform(1.2, 3.0, 3, 4)), ("atanh", ops.atanh, uniform(-0.8, 0.8, 3, 4)),
    ("abs", ops.abs, nonzero(3, 4)), ("absolute", ops.absolute, nonzero(3, 4)),
    ("negative", ops.negative, normal(3, 4)), ("positive", ops.positive, normal(3, 4)),
    ("sigmoid", ops.sigmoid, normal(3, 4, scale=3.0)), ("relu", ops.relu, nonzero(3, 4)),
    ("relu6", ops.relu6, lambda: np.array([[-1.0, 0.5, 3.0, 5.5], [6.5, 8.0, -0.2, 5.9]])),
    ("leaky_relu", ops.leaky_relu, nonzero(3, 4)),
    ("leaky_relu_0.05", lambda x: ops.leaky_relu(x, negative_slope=0.05), nonzero(3, 4)),
    ("elu", ops.elu, nonzero(3, 4)), ("elu_0.5", lambda x: ops.elu(x, alpha=0.5), nonzero(3, 4)),
    ("gelu_tanh", ops.gelu, normal(3, 4, scale=2.0)),
    ("gelu_exact", lambda x: ops.gelu(x, approximate=False), normal(3, 4, scale=2.0)),
    ("silu", ops.silu, normal(3, 4, scale=2.0)), ("swish", ops.swish, normal(3, 4)),
    ("softplus", ops.softplus, normal(3, 4, scale=3.0)), ("softsign", ops.softsign, nonzero(3, 4)),
    ("erf", ops.erf, nonzero(3, 4)),
    ("0-d", ops.tanh, lambda: np.array(0.3)),
]


@pytest.mark.parametrize("fn,make", [pytest.param(f, m, id=n) for n, f, m in UNARY])
def test_unary_gradients(f64, fn, make):
    check(f64, fn, make())


# -- element-wise, two arguments (broadcasting) -------------------------------------------------
BINARY = {
    "add": (ops.add, normal, normal), "subtract": (ops.subtract, normal, normal),
    "multiply": (ops.multiply, normal, normal), "divide": (ops.divide, normal, nonzero),
    "maximum": (ops.maximum, normal, lambda *s, seed: normal(*s, seed=seed + 7)),
    "minimum": (ops.minimum, normal, lambda *s, seed: normal(*s, seed=seed + 7)),
    "atan2": (ops.atan2, nonzero, nonzero), "hypot": (ops.hypot, nonzero, nonzero),
    "logaddexp": (ops.logaddexp, normal, normal), "pow": (ops.pow, lambda *s, seed: uniform(0.5, 2.0, *s, seed=seed),
                                                          normal),
}
SHAPES = {"same": ((3, 4), (3, 4)), "outer": ((3, 1), (1, 4)), "row": ((3, 4), (4,)), "lead": ((2, 1, 4), (3, 1)),
          "0d": ((), (3,)), "d0": ((2, 3), ())}


@pytest.mark.parametrize("shapes", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_gradients(f64, name, shapes):
    fn, make_a, make_b = BINARY[name]
    check(f64, fn, make_a(*shapes[0], seed=2)(), make_b(*shapes[1], seed=3)())


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_with_a_python_number(f64, name):
    fn, make_a, make_b = BINARY[name]
    a, b = make_a(3, seed=2)(), make_b(3, seed=3)()
    number = 1.7 if name != "maximum" and name != "minimum" else 0.1
    check(f64, lambda x: fn(x, number), a)
    check(f64, lambda y: fn(number, y), b)


def test_maximum_minimum_ties_send_the_gradient_to_the_first(f64):
    a = f64.asarray(np.array([1.0, 2.0, 3.0]))
    b = f64.asarray(np.array([1.0, 0.0, 3.0]))
    for op in (ops.maximum, ops.minimum):
        ga, gb = xdl.grad(lambda x, y, op=op: ops.sum(op(x, y)), argnums=(0, 1))(a, b)
        expected_a = [1.0, 1.0, 1.0] if op is ops.maximum else [1.0, 0.0, 1.0]
        np.testing.assert_array_equal(host(ga), expected_a)
        np.testing.assert_array_equal(host(gb), 1.0 - np.array(expected_a))


# -- reductions --------------------------------------------------------------------------------
AXES = {"all": None, "0": 0, "-1": -1, "(0,2)": (0, 2)}
REDUCTIONS = {
    "sum": (ops.sum, normal(2, 3, 4)), "mean": (ops.mean, normal(2, 3, 4)), "prod": (ops.prod, nonzero(2, 3, 4)),
    "max": (ops.max, distinct(2, 3, 4)), "min": (ops.min, distinct(2, 3, 4)),
    "var": (ops.var, normal(2, 3, 4)), "std": (ops.std, normal(2, 3, 4)),
    "var1": (lambda x, **k: ops.var(x, correction=1, **k), normal(2, 3, 4)),
    "std1": (lambda x, **k: ops.std(x, correction=1.0, **k), normal(2, 3, 4)),
    "logsumexp": (ops.logsumexp, normal(2, 3, 4)),
}


@pytest.mark.parametrize("keepdims", [False, True], ids=["drop", "keep"])
@pytest.mark.parametrize("axis", list(AXES.values()), ids=list(AXES))
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_gradients(f64, name, axis, keepdims):
    fn, make = REDUCTIONS[name]
    check(f64, lambda x: fn(x, axis=axis, keepdims=keepdims), make())


@pytest.mark.parametrize("name", ["sum", "mean", "max", "logsumexp"])
def test_reduction_of_a_0d_array(f64, name):
    check(f64, REDUCTIONS[name][0], np.array(0.7))


@pytest.mark.parametrize("op", [ops.max, ops.min], ids=["max", "min"])
def test_max_min_ties_share_the_gradient(f64, op):
    x = f64.asarray(np.array([[1.0, 3.0, 3.0, -2.0], [0.5, 0.5, 0.5, 0.5], [-4.0, 2.0, -4.0, 1.0]]))
    g = host(xdl.grad(lambda v: ops.sum(op(v, axis=1)))(x))
    if op is ops.max:
        expected = [[0, 0.5, 0.5, 0], [0.25] * 4, [0, 1, 0, 0]]
    else:
        expected = [[0, 0, 0, 1], [0.25] * 4, [0.5, 0, 0.5, 0]]
    np.testing.assert_allclose(g, expected)
    g = host(xdl.grad(lambda v: op(v))(f64.asarray(np.array([2.0, 5.0, 5.0, 5.0]) * (1 if op is ops.max else -1))))
    np.testing.assert_allclose(g, [0, 1 / 3, 1 / 3, 1 / 3])


@pytest.mark.parametrize("axis,shape", [(None, (5,)), (0, (3, 4)), (1, (3, 4)), (-1, (2, 3, 4))])
@pytest.mark.parametrize("op", [ops.cumulative_sum, ops.cumsum], ids=["cumulative_sum", "cumsum"])
def test_cumulative_sum_gradients(f64, op, axis, shape):
    check(f64, lambda x: op(x, axis=axis), normal(*shape)())


# -- products ----------------------------------------------------------------------------------
MATMUL_SHAPES = [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)), ((2, 1, 3, 4), (5, 4, 2)),
                 ((2, 3, 4), (4,)), ((4,), (2, 4, 3)), ((3, 4), (2, 4, 2)), ((2, 3, 4), (1, 4, 2))]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=[f"{a}@{b}" for a, b in MATMUL_SHAPES])
def test_matmul_gradients(f64, shapes):
    check(f64, ops.matmul, normal(*shapes[0], seed=1)(), normal(*shapes[1], seed=2)())


TENSORDOT = [((3, 4), (4, 2), 1), ((2, 3, 4), (3, 4, 2), 2), ((3, 4), (2, 5), 0),
             ((2, 3, 4), (4, 2, 3), ([1, 2], [2, 0])), ((3, 4), (4, 3), ([-1], [0]))]


@pytest.mark.parametrize("a,b,axes", TENSORDOT, ids=[str(t[2]) for t in TENSORDOT])
def test_tensordot_gradients(f64, a, b, axes):
    check(f64, lambda x, y: ops.tensordot(x, y, axes=axes), normal(*a, seed=1)(), normal(*b, seed=2)())


@pytest.mark.parametrize("a,b,axis", [((3, 4), (3, 4), -1), ((3, 4), (4,), -1), ((3, 4), (3, 1), 0),
                                      ((2, 3, 4), (3, 4), 1)])
def test_vecdot_gradients(f64, a, b, axis):
    check(f64, lambda x, y: ops.vecdot(x, y, axis=axis), normal(*a, seed=1)(), normal(*b, seed=2)())


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4)])
def test_matrix_transpose_gradients(f64, shape):
    check(f64, ops.matrix_transpose, normal(*shape)())


# -- moving and selecting values ------------------------------------------------------------
X234 = normal(2, 3, 4)
SHAPE_OPS = [
    ("reshape", lambda x: ops.reshape(x, (4, 6)), X234), ("reshape-1", lambda x: ops.reshape(x, (-1, 2)), X234),
    ("reshape0d", lambda x: ops.reshape(x, (1, 1)), lambda: np.array(0.4)),
    ("permute_dims", lambda x: ops.permute_dims(x, (2, 0, 1)), X234),
    ("permute_dims_negative", lambda x: ops.permute_dims(x, (-1, 0, 1)), X234),
    ("transpose", ops.transpose, X234), ("transpose_axes", lambda x: ops.transpose(x, (1, 2, 0)), X234),
    ("expand_dims0", lambda x: ops.expand_dims(x, 0), X234),
    ("expand_dims-1", lambda x: ops.expand_dims(x, axis=-1), X234),
    ("squeeze", ops.squeeze, normal(1, 3, 1, 4)), ("squeeze_axis", lambda x: ops.squeeze(x, axis=2), normal(1, 3, 1, 4)),
    ("broadcast_to", lambda x: ops.broadcast_to(x, (2, 3, 4)), normal(3, 1)),
    ("broadcast_to_same", lambda x: ops.broadcast_to(x, (3, 4)), normal(3, 4)),
    ("flip", ops.flip, X234), ("flip0", lambda x: ops.flip(x, axis=0), X234),
    ("flip_axes", lambda x: ops.flip(x, axis=(0, 2)), X234),
    ("roll", lambda x: ops.roll(x, 5), X234), ("roll_axis", lambda x: ops.roll(x, -1, axis=1), X234),
    ("roll_axes", lambda x: ops.roll(x, (1, 2), axis=(0, 2)), X234),
    ("moveaxis", lambda x: ops.moveaxis(x, 0, 2), X234), ("moveaxis_negative", lambda x: ops.moveaxis(x, -1, 0), X234),
    ("moveaxis_tuple", lambda x: ops.moveaxis(x, (0, -1), (2, 0)), X234),
    ("clip", lambda x: ops.clip(x, -0.5, 0.5), lambda: np.array([[-1.0, -0.3, 0.1, 0.7], [0.45, -0.6, 2.0, 0.0]])),
    ("clip_min", lambda x: ops.clip(x, min=0.0), nonzero(3, 4)),
    ("clip_max", lambda x: ops.clip(x, max=0.0), nonzero(3, 4)),
    ("astype", lambda x: ops.astype(x, "float64"), X234), ("cast", lambda x: ops.cast(x, "float64"), X234),
]


@pytest.mark.parametrize("fn,make", [pytest.param(f, m, id=n) for n, f, m in SHAPE_OPS])
def test_shape_op_gradients(f64, fn, make):
    check(f64, fn, make())


@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_concat_gradients(f64, axis):
    shapes = {0: [(2, 3), (1, 3), (3, 3)], 1: [(2, 1), (2, 3), (2, 2)], -1: [(2, 1), (2, 3), (2, 2)],
              None: [(2, 1), (3,), (2, 2)]}[axis]
    xs = [normal(*s, seed=i)() for i, s in enumerate(shapes)]
    for op in (ops.concat, ops.concatenate):
        check(f64, lambda *a, op=op: op(list(a), axis=axis), *xs)


def test_concat_with_a_constant_part(f64):
    constant = f64.asarray(np.ones((1, 3)))
    check(f64, lambda a, b: ops.concat([constant, a, b, constant], axis=0), normal(2, 3)(), normal(1, 3, seed=1)())


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_stack_gradients(f64, axis):
    check(f64, lambda *a: ops.stack(list(a), axis=axis), *[normal(2, 3, seed=i)() for i in range(3)])


def test_clip_with_array_bounds(f64):
    low, high = f64.asarray(np.array([-0.5, 0.0, 0.2, -1.0])), f64.asarray(np.array([[0.5], [1.0], [0.3]]))
    check(f64, lambda x: ops.clip(x, low, high), np.array([[-1.0, -0.3, 0.1, 0.7], [0.45, -0.6, 2.0, 0.5],
                                                        [0.25, 0.1, 0.1, -2.0]]))


def test_where_gradients(f64):
    cond = f64.asarray(np.array([[True, False, True, False], [False, False, True, True], [True, True, False, False]]))
    check(f64, lambda a, b: ops.where(cond, a, b), normal(3, 4)(), normal(3, 4, seed=1)())
    check(f64, lambda a, b: ops.where(cond, a, b), normal(3, 1)(), normal(4, seed=1)())  # broadcast
    row = f64.asarray(np.array([True, False, False, True]))
    check(f64, lambda a: ops.where(row, a, 0.0), normal(3, 4)())
    check(f64, lambda b: ops.where(row, -1.0, b), normal(3, 4)())


TAKE = [("repeated", [2, 0, 2, 2, 1], None), ("axis0", [1, 1, 0], 0), ("axis1", [3, 0, 3], 1),
        ("axis-1", [0, 0], -1), ("2d_None", [[0, 5], [5, 11]], None), ("2d_axis1", [[0, 1], [1, 1], [3, 2]], 1),
        ("0d", 2, 0), ("negative", [-1, 0, -1], 1), ("negative_None", [-12, 11, -1], None)]


@pytest.mark.parametrize("indices,axis", [(t[1], t[2]) for t in TAKE], ids=[t[0] for t in TAKE])
def test_take_gradients(f64, indices, axis):
    idx = f64.asarray(np.array(indices, dtype=np.int64))
    check(f64, lambda x: ops.take(x, idx, axis=axis), normal(3, 4)())


GETITEM = [
    ("slice", lambda be: (slice(1, None), slice(None, None, 2))), ("int", lambda be: 1), ("int_tuple", lambda be: (1, 2)),
    ("negative_int", lambda be: (-1, slice(None))), ("none", lambda be: (None, 1)),
    ("none_slice", lambda be: (slice(0, 2), None, slice(None))),
    ("ellipsis", lambda be: (Ellipsis, 0)), ("ellipsis_slice", lambda be: (0, Ellipsis, slice(1, 3))),
    ("mask", lambda be: be.asarray(np.array([[True, False, True, False], [False, False, False, True],
                                             [True, True, False, False]]))),
    ("row_mask", lambda be: be.asarray(np.array([True, False, True]))),
    ("int_array", lambda be: be.asarray(np.array([2, 0, 2], dtype=np.int64))),
    ("int_array_2d", lambda be: be.asarray(np.array([[2, 0], [1, 1]], dtype=np.int64))),
    ("int_array_slice", lambda be: (be.asarray(np.array([1, 1, 0], dtype=np.int64)), slice(1, 3))),
    ("int_array_int", lambda be: (be.asarray(np.array([1, 1, 0], dtype=np.int64)), -1)),
]


@pytest.mark.parametrize("make_key", [pytest.param(k, id=n) for n, k in GETITEM])
def test_getitem_gradients(f64, make_key):
    key = make_key(f64)
    x = normal(3, 4)()
    check(f64, lambda v: ops.getitem(v, key), x)
    check(f64, lambda v: v[key] if isinstance(v, xdl.Tensor) else ops.getitem(v, key), x)  # the operator


def test_getitem_with_a_list_adds_repeated_gradients(f64):
    x = normal(3, 4)()
    check(f64, lambda v: ops.getitem(v, [2, 0, 2]), x)
    check(f64, lambda v: ops.getitem(v, ([1, 1], slice(None, 2))), x)
    check(f64, lambda v: ops.getitem(v, [-1, 0, -1]), x)
    g = xdl.grad(lambda v: ops.sum(v[[0, 0, 0]]))(f64.asarray(x))
    np.testing.assert_array_equal(host(g)[:, 0], [3.0, 0.0, 0.0])


def test_getitem_with_a_negative_step(f64):
    if f64.name == "torch":
        pytest.skip("torch: slices take no negative step (ValueError: step must be greater than zero)")
    check(f64, lambda v: ops.getitem(v, (slice(None, None, -1), slice(1, None))), X234())


def test_stop_gradient(f64):
    x = f64.asarray(np.array([0.5, -1.0, 2.0]))
    g = xdl.grad(lambda v: ops.sum(v + v * ops.stop_gradient(v)))(x)
    np.testing.assert_allclose(host(g), 1.0 + host(x))
    assert type(ops.stop_gradient(xdl.Variable(np.ones(2)))) is type(x)


# -- the Keras ops ----------------------------------------------------------------------------
NN = [
    ("softmax", ops.softmax, normal(3, 4, scale=2.0)), ("softmax0", lambda x: ops.softmax(x, axis=0), normal(3, 4)),
    ("softmax_3d", lambda x: ops.softmax(x, axis=1), normal(2, 3, 4)),
    ("log_softmax", ops.log_softmax, normal(3, 4, scale=2.0)),
    ("log_softmax0", lambda x: ops.log_softmax(x, axis=0), normal(3, 4)),
    ("norm", ops.norm, normal(3, 4)), ("norm_axis", lambda x: ops.norm(x, axis=1), normal(3, 4)),
    ("norm_keep", lambda x: ops.norm(x, axis=0, keepdims=True), normal(3, 4)),
    ("norm2", lambda x: ops.norm(x, ord=2, axis=-1), normal(3, 4)),
    ("norm_fro", lambda x: ops.norm(x, ord="fro"), normal(3, 4)),
    ("norm1", lambda x: ops.norm(x, ord=1), nonzero(3, 4)),
    ("norm1_axis", lambda x: ops.norm(x, ord=1, axis=0), nonzero(3, 4)),
    ("norm_inf", lambda x: ops.norm(x, ord=float("inf")), distinct(3, 4)),
    ("norm_inf_axis", lambda x: ops.norm(x, ord=math.inf, axis=1, keepdims=True), distinct(3, 4)),
]


@pytest.mark.parametrize("fn,make", [pytest.param(f, m, id=n) for n, f, m in NN])
def test_nn_op_gradients(f64, fn, make):
    check(f64, fn, make())


def test_softmax_and_log_softmax_values(f64):
    x = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, -1000.0]])
    shifted = x - x.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    np.testing.assert_allclose(host(ops.softmax(f64.asarray(x))), e / e.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(host(ops.log_softmax(f64.asarray(x))),
                               shifted - np.log(e.sum(axis=1, keepdims=True)), atol=1e-12)
    np.testing.assert_allclose(host(ops.logsumexp(f64.asarray(x), axis=1)), [3.40760596444438, 1000 + math.log(2)])


# -- Python's operators on Tensors and Variables ------------------------------------------------
OPERATORS = [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
    ("truediv", lambda a, b: a / b), ("pow", lambda a, b: a ** b),
]


def _positive(shape, seed):
    return _rng(seed).uniform(0.5, 2.0, shape)


@pytest.mark.parametrize("name,op", OPERATORS, ids=[n for n, _ in OPERATORS])
def test_binary_operators(f64, name, op):
    a, b = _positive((3, 1), 1), _positive((4,), 2)
    check(f64, op, a, b)  # Tensor with Tensor (value_and_grad's leaves)
    check(f64, lambda x: op(x, 1.5), a)  # a Python number on the right
    check(f64, lambda x: op(1.5, x), b)  # ... and on the left (the reflected operator)
    other = f64.asarray(_positive((3, 4), 3))  # a plain array of the backend on either side
    check(f64, lambda x: op(x, other), a)
    if f64.name != "array_api_strict":  # its arrays raise TypeError on other operands (no NotImplemented)
        check(f64, lambda x: op(other, x), b)


@pytest.mark.parametrize("name,op", OPERATORS + [("matmul", lambda a, b: a @ b)],
                         ids=[n for n, _ in OPERATORS] + ["matmul"])
def test_numpy_array_on_the_left(name, op):
    """``numpy_array <op> tensor`` is the Tensor's (or Variable's) reflected operator, recorded."""
    with xdl.use_backend("numpy"), xdl.use_floatx("float64"):
        be = xdl.get_backend()
        left = _positive((3, 4), 3)
        right = _positive((4, 2) if name == "matmul" else (3, 4), 4)
        check(be, lambda x: op(left, x), right)
        check_variables(be, lambda x: op(left, x), right)


def test_unary_operators_and_getitem(f64):
    x = away_from_zero(_rng(3), (3, 4))
    check(f64, lambda v: -v, x)
    check(f64, lambda v: +v if isinstance(v, xdl.Tensor) else v, x)
    check(f64, lambda v: abs(v), x)
    check(f64, lambda v: v[1:, 2] * v[:2, 0], x)
    check(f64, lambda v: v.T @ v, x)  # Tensor.T and .mT, as the arrays have
    check(f64, lambda v: v.mT, x)


def check_variables(be, fn, *xs, rtol=1e-6, atol=1e-8):
    """``fn``'s gradients through Variables and a ``GradientTape`` against central differences."""
    xs = [np.asarray(x, dtype=np.float64) for x in xs]
    variables = [xdl.Variable(x) for x in xs]
    w = _rng(2).standard_normal(tuple(fn(*[be.asarray(x) for x in xs]).shape))
    with xdl.GradientTape() as tape:
        loss = ops.sum(fn(*variables) * be.asarray(w))
    grads = tape.gradient(loss, variables)
    for k, (g, e) in enumerate(zip(grads, numeric_gradients(be, fn, xs, w))):
        np.testing.assert_allclose(host(g), e, rtol=rtol, atol=atol, err_msg=f"argument {k}")
    assert all(v.grad is None for v in variables)


def test_operators_on_variables(f64):
    a, b = _positive((3, 4), 1), _positive((4,), 2)
    w, m = _positive((4, 2), 3), f64.asarray(_positive((3, 4), 4))
    check_variables(f64, lambda x, y: x * y + x / y - y ** 2 + 2.0 ** x - 1.0 / y + 3.0 * x, a, b)
    check_variables(f64, lambda x, y: -(x @ y) + 1.0, a, w)
    if f64.name != "array_api_strict":  # its arrays raise TypeError on other operands (no NotImplemented)
        check_variables(f64, lambda x: 1.0 - x + m * x - m / x + m ** x - x ** m, a)  # an array on the left
    check_variables(f64, lambda x: 1.0 - x + x * m - x / m + x ** m, a)
    check_variables(f64, lambda x: abs(-x)[1:, ::2].T @ x[1:, :] + x[0, :][None, :], a - 1.2)
    check_variables(f64, lambda x: ops.transpose(x) @ m, a)


# -- not differentiated ---------------------------------------------------------------------------
def test_constant_ops_accept_tensors_and_give_plain_arrays(f64):
    x = f64.asarray(np.array([[0.5, -1.5, 2.5], [3.0, -0.25, 1.0]]))
    v = xdl.Variable(np.array([[0.5, -1.5, 2.5], [3.0, -0.25, 1.0]]))
    labels = f64.asarray(np.array([0, 2, 1], dtype=np.int64))
    with xdl.GradientTape() as tape:
        tape.watch(x)
        t = ops.multiply(x, 1.0)
        assert isinstance(t, xdl.Tensor)
        results = {
            "greater": ops.greater(t, 0.0), "less": t < v, "equal": ops.equal(t, v), "ge": v >= t, "gt": v > 0.0,
            "argmax": ops.argmax(t, axis=1), "argmin": ops.argmin(v, axis=0), "floor": ops.floor(t),
            "ceil": ops.ceil(v), "round": ops.round(t), "sign": ops.sign(t), "isnan": ops.isnan(t),
            "one_hot": ops.one_hot(labels, 3), "one_hot_tensor": ops.one_hot(ops.argmax(t, axis=1), 4),
            "all": ops.all(t > -5.0), "logical_and": ops.logical_and(t > 0, v < 2.0),
            "stop_gradient": ops.stop_gradient(t),
        }
    for name, r in results.items():
        assert not isinstance(r, (xdl.Tensor, xdl.Parameter)) and f64.owns(r), name
    np.testing.assert_array_equal(host(results["argmax"]), [2, 0])
    np.testing.assert_array_equal(host(results["floor"]), [[0, -2, 2], [3, -1, 1]])
    np.testing.assert_array_equal(host(results["one_hot"]), np.eye(3)[[0, 2, 1]])
    assert results["one_hot"].dtype == f64.xp.float64
    np.testing.assert_array_equal(host(results["one_hot_tensor"]), np.eye(4)[[2, 0]])


def test_ops_on_plain_arrays_record_nothing(be):
    x = be.asarray(np.array([[0.5, -1.5, 2.5], [3.0, -0.25, 1.0]], dtype=np.float32))
    w = be.asarray(np.ones((3, 2), dtype=np.float32))
    results = [ops.exp(x), ops.add(x, 1.0), ops.multiply(2.0, x), ops.matmul(x, w), ops.sum(x, axis=0),
               ops.softmax(x), ops.reshape(x, (3, 2)), ops.take(x, be.asarray(np.array([0, 0])), axis=1),
               ops.getitem(x, (slice(None), 1)), ops.concat([x, x]), ops.norm(x), ops.gelu(x), ops.relu(x),
               ops.where(x > 0, x, 0.0), ops.max(x), ops.clip(x, 0.0, 1.0), ops.tensordot(x, w, axes=1)]
    for r in results:  # NumPy's reductions to a number give NumPy scalars: arrays of NumPy all the same
        assert type(r) is type(x) or (r.ndim == 0 and be.owns(r)), type(r)
        assert r.dtype == x.dtype
    with xdl.GradientTape():  # inside a tape: still nothing, unless watched
        assert type(ops.exp(x)) is type(x)


# -- dtypes ----------------------------------------------------------------------------------------
def test_float32_inputs_give_float32_gradients(be):
    rng = _rng(5)
    a = be.asarray(rng.uniform(0.5, 2.0, (3, 4)).astype(np.float32))
    b = be.asarray(rng.uniform(0.5, 2.0, (4,)).astype(np.float32))
    w = xdl.Variable(rng.standard_normal((4, 2)).astype(np.float32))
    idx = be.asarray(np.array([2, 0, 2]))

    def fn(x, y):
        h = ops.tanh(x * y + 1.0) / y - ops.log(x) + x ** 2.0 + 2.0 ** y + ops.sqrt(y)
        h = ops.gelu(h) + ops.gelu(h, approximate=False) + ops.erf(h) + ops.elu(h) + ops.leaky_relu(h)
        h = ops.softmax(h) + ops.log_softmax(h, axis=0) + ops.sigmoid(h) + ops.silu(h) + ops.softplus(h)
        z = ops.matmul(h, w) + ops.take(h, idx, axis=0)[:, :2] + ops.mean(h, axis=1, keepdims=True)
        z = ops.concat([z, ops.stack([ops.max(z, axis=1), ops.std(z, axis=1)], axis=1)], axis=0)
        return ops.sum(ops.var(z, axis=0)) + ops.norm(z) + ops.logsumexp(z) + ops.prod(ops.cumsum(y))

    value, (ga, gb) = xdl.value_and_grad(fn, argnums=(0, 1))(a, b)
    assert value.dtype == be.xp.float32 and ga.dtype == be.xp.float32 and gb.dtype == be.xp.float32
    with xdl.GradientTape() as tape:
        loss = fn(a, b)
    assert tape.gradient(loss, w).dtype == be.xp.float32
    assert np.all(np.isfinite(host(ga))) and np.all(np.isfinite(host(gb)))


def test_astype_sends_the_gradient_back_in_the_input_dtype(f64):
    x = f64.asarray(normal(3, 4)())
    g = xdl.grad(lambda v: ops.sum(ops.astype(v, "float32") * 3.0))(x)
    assert g.dtype == f64.xp.float64
    np.testing.assert_array_equal(host(g), np.full((3, 4), 3.0))
    x32 = f64.asarray(normal(3)().astype(np.float32))
    g = xdl.grad(lambda v: ops.sum(ops.astype(v, f64.xp.float64) * 2.0))(x32)
    assert g.dtype == f64.xp.float32


# -- the tape -------------------------------------------------------------------------------------
def test_gradient_is_none_for_unrelated_sources_and_leaves_grad_alone(f64):
    v = xdl.Variable(np.array([1.0, 2.0, 3.0]))
    u = xdl.Variable(np.array([4.0, 5.0]))
    v.grad = f64.asarray(np.array([10.0, 20.0, 30.0]))
    unrelated = f64.asarray(np.ones(2))
    with xdl.GradientTape() as tape:
        tape.watch(unrelated)
        loss = ops.sum(v * v)
    gv, gu, gx = tape.gradient(loss, [v, u, unrelated])
    np.testing.assert_allclose(host(gv), [2.0, 4.0, 6.0])
    assert gu is None and gx is None
    np.testing.assert_array_equal(host(v.grad), [10.0, 20.0, 30.0])  # left as it was
    assert u.grad is None


def test_backward_accumulates_into_grad(f64):
    v = xdl.Variable(np.array([1.0, -2.0, 3.0]))
    frozen = xdl.Variable(np.array([1.0, 1.0, 1.0]), trainable=False)
    for _ in range(2):
        loss = ops.sum(v * v * frozen) + ops.mean(v)
        assert isinstance(loss, xdl.Tensor)
        loss.backward()
    np.testing.assert_allclose(host(v.grad), 2 * (2 * np.array([1.0, -2.0, 3.0]) + 1 / 3))
    assert frozen.grad is None
    y = v * 2.0  # a non-scalar: backward needs a seed
    with pytest.raises(xdl.ArgumentError, match="give gradient="):
        y.backward()
    v.grad = None
    y.backward(f64.asarray(np.array([1.0, 0.0, -1.0])))
    np.testing.assert_allclose(host(v.grad), [2.0, 0.0, -2.0])


def test_persistent_tape(f64):
    v = xdl.Variable(np.array([1.0, 2.0]))
    with xdl.GradientTape(persistent=True) as tape:
        y = ops.sum(v * v)
        z = ops.sum(ops.exp(v))
    np.testing.assert_allclose(host(tape.gradient(y, v)), [2.0, 4.0])
    np.testing.assert_allclose(host(tape.gradient(z, [v])[0]), np.exp([1.0, 2.0]))
    np.testing.assert_allclose(host(tape.gradient([y, z], v)), [2.0 + math.e, 4.0 + math.exp(2.0)])
    with xdl.GradientTape() as once:
        y = ops.sum(v * v)
    once.gradient(y, v)
    with pytest.raises(xdl.ArgumentError, match="persistent"):
        once.gradient(y, v)


def test_watch_a_plain_array(f64):
    x = f64.asarray(np.array([0.5, 1.5, -2.0]))
    y0 = f64.asarray(np.array([1.0, 2.0]))
    with xdl.GradientTape() as tape:
        tape.watch([x, y0])
        y = ops.sum(ops.sin(x) * x) + ops.sum(y0)
        inner = tape.gradient(y, x)  # asked inside the block
    np.testing.assert_allclose(host(inner), np.cos(host(x)) * host(x) + np.sin(host(x)))
    with xdl.GradientTape() as tape:
        tape.watch(x)
        y = ops.sum(ops.multiply(x, x))  # (``x * x`` is the array's own operator: not recorded)
    np.testing.assert_allclose(host(tape.gradient(y, x)), 2 * host(x))  # asked after the block, as TF does
    assert type(ops.exp(x)) is type(x)  # no longer watched
    frozen = xdl.Variable(np.array([1.0, 2.0]), trainable=False)
    with xdl.GradientTape() as tape:
        tape.watch([frozen, x])
        tape.watch(x)  # twice: one leaf
        y = ops.sum(frozen * 3.0) + ops.sum(ops.square(x)) + ops.sum(ops.multiply(x, 1.0))
    gf, gx = tape.gradient(y, [frozen, x])
    np.testing.assert_allclose(host(gf), [3.0, 3.0])
    np.testing.assert_allclose(host(gx), 2 * host(x) + 1.0)
    assert frozen.grad is None
    assert not isinstance(frozen * 3.0, xdl.Tensor)  # watched no longer
    with xdl.GradientTape() as tape:
        y = ops.sum(ops.multiply(x, x))  # not watched: nothing recorded
    assert not isinstance(y, xdl.Tensor) and tape.gradient(y, x) is None


def test_tape_output_gradients_and_a_tensor_source(f64):
    v = xdl.Variable(np.array([1.0, 2.0, 3.0]))
    with xdl.GradientTape() as tape:
        h = v * v
        y = ops.exp(h)
    gh, gv = tape.gradient(y, [h, v], output_gradients=f64.asarray(np.array([1.0, 0.0, 2.0])))
    e = np.exp(np.array([1.0, 4.0, 9.0])) * np.array([1.0, 0.0, 2.0])
    np.testing.assert_allclose(host(gh), e)
    np.testing.assert_allclose(host(gv), e * 2 * np.array([1.0, 2.0, 3.0]))


def test_grad_and_value_and_grad(f64):
    x, y = f64.asarray(np.array([1.0, 2.0])), f64.asarray(np.array([3.0, -1.0]))

    def f(a, b):
        return ops.sum(ops.multiply(ops.multiply(a, a), b))

    np.testing.assert_allclose(host(xdl.grad(f)(x, y)), 2 * host(x) * host(y))
    gx, gy = xdl.grad(f, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(host(gx), 2 * host(x) * host(y))
    np.testing.assert_allclose(host(gy), host(x) ** 2)
    (gy_only,) = xdl.grad(f, argnums=(1,))(x, y)
    np.testing.assert_allclose(host(gy_only), host(x) ** 2)
    np.testing.assert_allclose(host(xdl.grad(f, argnums=-1)(x, y)), host(x) ** 2)
    value, g = xdl.value_and_grad(f)(x, y)
    assert float(host(value)) == pytest.approx(1.0 * 3 - 4.0)

    def with_aux(a, b):
        loss = f(a, b)
        return loss, {"loss": loss, "twice": 2 * loss}

    (value, aux), (ga, gb) = xdl.value_and_grad(with_aux, argnums=(0, 1), has_aux=True)(x, y)
    assert not isinstance(value, xdl.Tensor) and float(host(value)) == pytest.approx(-1.0)
    np.testing.assert_allclose(host(ga), 2 * host(x) * host(y))
    np.testing.assert_allclose(host(gb), host(x) ** 2)
    assert float(aux["twice"]) == pytest.approx(-2.0)
    g, aux = xdl.grad(with_aux, has_aux=True)(x, y)
    np.testing.assert_allclose(host(g), 2 * host(x) * host(y))
    with pytest.raises(xdl.ArgumentError, match="argnums"):
        xdl.grad(f, argnums=2)(x, y)
    with pytest.raises(xdl.ArgumentError, match="number"):
        xdl.grad(lambda a: a * 2.0)(x)
    with pytest.raises(TypeError, match="aux"):
        xdl.grad(f, has_aux=True)(x, y)
    zero = xdl.grad(lambda a, b: ops.sum(b), argnums=0)(x, y)  # a constant function: zeros
    np.testing.assert_array_equal(host(zero), [0.0, 0.0])


def test_grad_of_lists_and_dicts(f64):
    params = {"w": f64.asarray(np.array([[1.0, 2.0], [3.0, 4.0]])), "b": f64.asarray(np.array([0.5, -0.5]))}
    xs = [f64.asarray(np.array([1.0, -1.0])), f64.asarray(np.array([2.0, 0.0]))]

    def loss(p, inputs):
        return ops.sum(ops.stack([x @ p["w"] + p["b"] for x in inputs]) ** 2)

    gp, gxs = xdl.grad(loss, argnums=(0, 1))(params, xs)
    assert set(gp) == {"w", "b"} and isinstance(gxs, list) and len(gxs) == 2
    w, b = host(params["w"]), host(params["b"])
    outs = [host(x) @ w + b for x in xs]
    np.testing.assert_allclose(host(gp["b"]), sum(2 * o for o in outs))
    np.testing.assert_allclose(host(gp["w"]), sum(np.outer(host(x), 2 * o) for x, o in zip(xs, outs)))
    np.testing.assert_allclose(host(gxs[1]), 2 * outs[1] @ w.T)
    v = xdl.Variable(np.array([1.0, 2.0]))  # a Variable among the arguments: collected by identity
    gv, = xdl.grad(lambda vs: ops.sum(vs[0] * vs[0]), argnums=(0,))([v])
    np.testing.assert_allclose(host(gv[0]), [2.0, 4.0])
    assert v.grad is None
