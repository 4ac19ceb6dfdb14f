"""Dense: finite-difference gradients (float64), values against a matrix product, shapes, dtypes,
Keras's ``units=``, the tutorial's attributes, errors."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.gradcheck import check_gradients
from tests.helpers import assert_close, host


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 3), (1, 3)], ids=["batch", "sequence", "batch1"])
@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "nobias"])
def test_dense_gradients(be, shape, use_bias):
    layer = xdl.Dense(input_size=3, output_size=2, use_bias=use_bias, dtype="float64")
    check_gradients(layer, np.random.default_rng(1).standard_normal(shape), be)


def test_dense_forward_matches_matmul(be):
    layer = xdl.Dense(input_size=4, output_size=3)
    x = np.random.default_rng(4).standard_normal((6, 4)).astype(np.float32)
    W, b = host(layer.weights), host(layer.bias)
    assert_close(layer.forward(x), x @ W + b, rtol=1e-5, atol=1e-6)


def test_dense_infers_input_size_and_keeps_float32(be):
    layer = xdl.Dense(output_size=5)
    assert layer.weights is None and not layer.built
    y = layer.forward(np.ones((2, 7)))  # float64 host data is cast once, at the boundary
    assert layer.input_size == 7 and tuple(layer.weights.shape) == (7, 5)
    assert y.dtype == be.xp.float32 and layer.weights.dtype == be.xp.float32
    layer.backward(be.xp.ones((2, 5), dtype=be.xp.float32))
    assert layer.dweights.dtype == be.xp.float32 and layer.dbias.dtype == be.xp.float32


def test_dense_applies_to_last_axis(be):
    layer = xdl.Dense(input_size=3, output_size=4)
    assert tuple(layer.forward(np.ones((2, 5, 3))).shape) == (2, 5, 4)


def test_dense_wrong_input_names_layer_and_both_shapes(be):
    layer = xdl.Dense(input_size=64, output_size=10, name="hidden")
    with pytest.raises(xdl.ShapeError, match=r"hidden \(Dense\).*\(N, \.\.\., 64\).*\(N, 32\)"):
        layer.forward(np.ones((8, 32)))


@pytest.mark.parametrize("kwargs,match", [
    ({"input_size": 3}, r"units \(the output size, xdl's output_size\) is required"),
    ({"output_size": 0}, "output_size must be a positive int, got 0"),
    ({"input_size": 2.5, "output_size": 3}, "input_size must be a positive int or None, got 2.5"),
    ({"output_size": 3, "kernel_initializer": "nope"}, "unknown initializer 'nope'"),
    ({"output_size": 3, "dtype": "int8"}, "dtype must be one of None, 'float32', 'float64', got 'int8'"),
])
def test_dense_rejects_bad_arguments(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        xdl.Dense(**kwargs)


def test_tutorial_attributes_read_and_write_parameters(be):
    layer = xdl.Dense(input_size=5, output_size=3)
    assert [p.name for p in layer.parameters()] == ["weights", "bias"]
    layer.dweights = np.full((5, 3), 2.0)
    layer.dbias = np.full((1, 3), 1.0)  # the tutorial's (1, n) bias shape is accepted
    before = host(layer.weights).copy()
    xdl.SGD(learning_rate=0.1).update(layer)
    assert_close(layer.weights, before - 0.2, rtol=1e-6)
    assert_close(layer.bias, np.full(3, -0.1), rtol=1e-6)
    with pytest.raises(ValueError, match=r"weights has shape \(5, 3\), got \(4, 3\)"):
        layer.dweights = np.ones((4, 3))


def test_dense_units_and_the_positional_trap():
    assert xdl.Dense(units=7).output_size == 7 and xdl.Dense(units=7).units == 7
    assert xdl.Dense(units=7, output_size=7).output_size == 7
    with pytest.raises(ValueError, match="disagree"):
        xdl.Dense(units=7, output_size=8)
    layer = xdl.Dense(128)  # Keras's positional order: units first
    assert layer.output_size == 128 and layer.input_size is None
    assert xdl.Dense(4, "relu").activation == "relu"
    with pytest.raises(TypeError, match=r"positional arguments are Keras's \(units, activation\); for 3 inputs and 8 "
                                        r"outputs write Dense\(8\) or Dense\(input_size=3, output_size=8\)"):
        xdl.Dense(3, 8)  # xdl's former order
    tutorial = xdl.Dense(input_size=3, output_size=8)
    assert (tutorial.input_size, tutorial.output_size) == (3, 8) and tutorial.weights.shape == (3, 8)


def test_dense_backprop_without_dx_gives_the_same_gradients(be):
    layer = xdl.Dense(2, input_size=3)
    x = np.random.default_rng(4).standard_normal((4, 3))
    dy = be.asarray(np.random.default_rng(5).standard_normal((4, 2)), dtype=be.xp.float32)
    layer.forward(x)
    layer.backward(dy)
    expected = host(layer.dweights), host(layer.dbias)
    layer.W.grad = layer.b.grad = None
    _, backprop = layer.apply(be.asarray(x, dtype=be.xp.float32), training=True)
    assert backprop(dy, need_dx=False) is None
    assert_close(layer.dweights, expected[0])
    assert_close(layer.dbias, expected[1])
