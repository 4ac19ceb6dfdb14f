"""Speed work must not change results: backend fast paths equal the portable forms, and the
training step's shortcut (no dX for the first trainable layer) leaves every gradient as it was."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close, host

import backends
import xdl


def mixed_signs(be, shape, dtype="float32"):
    x = np.random.default_rng(0).standard_normal(shape)
    x.reshape(-1)[::3] = 0.0
    return be.asarray(x, dtype=be.dtype(dtype))


@pytest.mark.parametrize("rows", [1, 6, 33])
def test_sum_rows_fast_path_equals_portable(be, rows):
    for dtype in ("float32", "float64"):  # the NumPy path caches ones per (rows, dtype)
        x = mixed_signs(be, (rows, 4), dtype)
        s = be.sum_rows(x)
        assert s.dtype == x.dtype and tuple(s.shape) == (4,)
        assert_close(s, backends.Backend.sum_rows(be, x), rtol=1e-6, atol=1e-6)


def _model():
    return xdl.NeuralNetwork([xdl.ReLU(), xdl.Dense(4, 5), xdl.Tanh(), xdl.Dense(5, 3)])


def test_train_step_gradients_equal_full_backward(be):
    x = np.random.default_rng(1).standard_normal((6, 4))
    y = np.random.default_rng(2).standard_normal((6, 3))
    xdl.seed(3)
    full = _model()
    xdl.seed(3)
    fast = _model()  # the same initial weights
    X, Y = be.asarray(x, dtype=be.xp.float32), be.asarray(y, dtype=be.xp.float32)
    for model in (full, fast):
        model.compile(loss="mse", optimizer=xdl.SGD(1e-9))
        model.forward(X)
    loss = full.loss.call(Y, full.forward(X, training=True))
    full.backward(full.loss.backward())
    assert_close(fast.train_step(X, Y)[0], loss, rtol=1e-6)
    for p, q in zip(full.parameters(), fast.parameters()):
        assert q.grad.dtype == be.xp.float32
        assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-7, err_msg=p.name)


class Counting(xdl.ReLU):
    calls = 0

    def backprop(self, dy):
        Counting.calls += 1
        return super().backprop(dy)


def test_train_step_stops_at_first_trainable_layer(be):
    model = xdl.NeuralNetwork([Counting(), xdl.Dense(3, 2), Counting()])
    model.compile(loss="mse", optimizer="sgd")
    x, y = be.asarray(np.ones((2, 3)), dtype=be.xp.float32), be.asarray(np.ones((2, 2)), dtype=be.xp.float32)
    model.forward(x)
    Counting.calls = 0
    model.train_step(x, y)
    assert Counting.calls == 1  # the layer after Dense only: nothing reads the one before
    assert model.backward(np.ones((2, 2))).shape == (2, 3)  # the public backward still returns dX
    assert Counting.calls == 3


def test_dense_backprop_parameters_skips_dx(be):
    layer = xdl.Dense(3, 2)
    x = np.random.default_rng(4).standard_normal((4, 3))
    dy = be.asarray(np.random.default_rng(5).standard_normal((4, 2)), dtype=be.xp.float32)
    layer.forward(x)
    layer.backward(dy)
    expected = host(layer.dweights), host(layer.dbias)
    layer.W.grad = layer.b.grad = None
    assert layer.backprop_parameters(dy) is None
    assert_close(layer.dweights, expected[0])
    assert_close(layer.dbias, expected[1])


def test_training_step_stays_float32(be):
    model = xdl.NeuralNetwork([xdl.Dense(4, 5), xdl.ReLU(), xdl.Dense(5, 3)])
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer=xdl.SGD(0.1))
    x = be.asarray(np.random.default_rng(6).standard_normal((6, 4)), dtype=be.xp.float32)
    labels = be.asarray(np.array([0, 1, 2, 0, 1, 2]))
    model.forward(x)
    for _ in range(2):  # the second step updates arrays the first one wrote
        loss, out = model.train_step(x, labels)
    assert loss.dtype == be.xp.float32 and out.dtype == be.xp.float32
    for p in model.parameters():
        assert p.value.dtype == be.xp.float32 and p.grad.dtype == be.xp.float32, p.name
