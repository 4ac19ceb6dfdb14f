"""Embedding and the backends' index_add: lookups, accumulation over repeated indices, errors."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close, host

import xdl
from xdl import backends


def reference_index_add(indices, values, size):
    out = np.zeros((size,) + values.shape[1:])
    np.add.at(out, indices, values)
    return out


def test_index_add_accumulates_repeats_and_matches_the_portable_route(be):
    rng = np.random.default_rng(0)
    indices = np.array([3, 0, 3, 3, 1, 0])  # 3 three times, 0 twice, 2 never
    values = rng.standard_normal((6, 4))
    idx, vals = be.asarray(indices), be.asarray(values, dtype=be.xp.float32)
    fast = be.index_add(idx, vals, 5)
    portable = backends.Backend.index_add(be, idx, vals, 5)  # the one-hot product
    expected = reference_index_add(indices, values, 5)
    assert fast.dtype == be.xp.float32 and tuple(fast.shape) == (5, 4)
    assert_close(fast, expected, rtol=1e-5, atol=1e-6)
    assert_close(portable, expected, rtol=1e-5, atol=1e-6)


def test_embedding_looks_up_rows(be):
    layer = xdl.Embedding(6, 3)
    x = np.array([[0, 5, 2], [2, 2, 1]])
    y = layer.forward(x)
    table = host(layer.table.value)
    assert y.dtype == be.xp.float32 and tuple(y.shape) == (2, 3, 3)
    assert_close(y, table[x])


def test_embedding_gradient_accumulates_repeated_indices(be):
    layer = xdl.Embedding(5, 2, dtype="float64")
    x = np.array([[1, 1, 4], [1, 0, 4]])  # 1 three times, 4 twice, 2 and 3 never
    layer.forward(x)
    dy = np.random.default_rng(1).standard_normal((2, 3, 2))
    assert layer.backward(dy) is None  # integer inputs have no gradient
    expected = reference_index_add(x.reshape(-1), dy.reshape(-1, 2), 5)
    assert_close(layer.table.grad, expected, rtol=1e-12, atol=1e-12)


def test_embedding_gradient_matches_finite_differences(be):
    from helpers import numeric_gradient

    layer = xdl.Embedding(4, 2, dtype="float64")
    x = be.asarray(np.array([[3, 0, 3], [3, 1, 1]]))
    R = np.random.default_rng(2).standard_normal((2, 3, 2))
    layer.forward(x)
    layer.backward(R)

    def objective():
        return float(np.sum(host(layer.call(x)) * R))

    def install(value):
        layer.table.value = be.asarray(value, dtype=be.xp.float64)

    expected = numeric_gradient(objective, host(layer.table.value), install)
    assert_close(layer.table.grad, expected, rtol=1e-6, atol=1e-8)


def test_embedding_rejects_float_inputs_and_bad_arguments(be):
    layer = xdl.Embedding(4, 2, name="tokens")
    with pytest.raises(TypeError, match=r"tokens \(Embedding\): expected integer indices, got dtype"):
        layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match="dim must be a positive int"):
        xdl.Embedding(4, 0)


def test_embedding_feeds_a_model_and_trains(be):
    model = xdl.NeuralNetwork([xdl.Embedding(4, 3), xdl.Dense(output_size=1)])
    model.compile(loss=xdl.MSE(), optimizer=xdl.SGD(learning_rate=0.1))
    x = np.array([[0], [1], [2], [3]])
    y = np.array([[[0.0]], [[1.0]], [[2.0]], [[3.0]]])
    history = model.fit(x, y, epochs=60, batch_size=4, verbose=0)
    assert history["loss"][-1] < 0.05 * history["loss"][0]
