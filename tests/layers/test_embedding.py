"""Embedding: lookups, gradients accumulated over repeated indices (and by finite differences),
indices out of range, errors, training."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.gradcheck import check_gradients
from tests.helpers import assert_close, host


def reference_index_add(indices, values, size):
    out = np.zeros((size,) + values.shape[1:])
    np.add.at(out, indices, values)
    return out


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
    layer = xdl.Embedding(4, 2, dtype="float64")
    x = np.array([[3, 0, 3], [3, 1, 1]])  # indices: data, no gradient
    check_gradients(layer, x, be, rtol=1e-6, atol=1e-8, seed=2)


def test_embedding_rejects_float_inputs_and_bad_arguments(be):
    layer = xdl.Embedding(4, 2, name="tokens")
    assert_close(layer.forward(np.ones((2, 3))), layer.forward(np.ones((2, 3), np.int64)))  # whole floats, as Keras
    with pytest.raises(TypeError, match=r"tokens \(Embedding\) takes integer indices; got floats .* not whole"):
        layer.forward(np.full((2, 3), 1.5))
    with pytest.raises(ValueError, match="dim must be a positive int"):
        xdl.Embedding(4, 0)


def test_embedding_feeds_a_model_and_trains(be):
    model = xdl.NeuralNetwork([xdl.Embedding(4, 3), xdl.Dense(output_size=1)])
    model.compile(loss=xdl.MSE(), optimizer=xdl.SGD(learning_rate=0.1))
    x = np.array([[0], [1], [2], [3]])
    y = np.array([[[0.0]], [[1.0]], [[2.0]], [[3.0]]])
    history = model.fit(x, y, epochs=60, batch_size=4, verbose=0)
    assert history["loss"][-1] < 0.05 * history["loss"][0]


# issue 17, item 17
def test_embedding_indices_out_of_range_are_named(be):
    model = xdl.NeuralNetwork([xdl.Embedding(10, 4), xdl.LSTM(5), xdl.Dense(output_size=2)])
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer="sgd")
    good = np.zeros((2, 6), dtype=np.int64)
    model.predict(good)
    for bad, seen in ((-1, "from -1 to 0"), (10, "from 0 to 10")):
        X = good.copy()
        X[1, 3] = bad
        for call in (lambda: model.predict(X), lambda: model.fit(X, np.array([0, 1]), epochs=1, verbose=0),
                     lambda: model.evaluate(X, np.array([0, 1])), lambda: model.layers[0].forward(X)):
            match = rf"indices in \[0, 9\] \(vocab_size 10\); got indices {seen}"
            with pytest.raises(xdl.IndexRangeError, match=match):
                call()
