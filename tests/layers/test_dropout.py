"""Dropout: identity in evaluation, the mean kept in training, masks reseeded per epoch and
process; with BatchNorm in a model, fit trains, predict and evaluate change nothing, a seed
repeats a run."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.helpers import assert_close, host

RNG = np.random.default_rng(5)


def test_dropout_is_identity_in_evaluation_and_keeps_the_mean_in_training(be):
    x = np.ones((200, 50), dtype=np.float32)
    layer = xdl.Dropout(0.3)
    assert_close(layer.forward(x, training=False), x)
    y = host(layer.forward(x, training=True))
    zeros = np.mean(y == 0)
    assert abs(zeros - 0.3) < 0.02, zeros
    np.testing.assert_allclose(y[y != 0], 1 / 0.7, rtol=1e-6)
    assert abs(y.mean() - 1.0) < 0.03
    dy = RNG.standard_normal(x.shape)
    assert_close(layer.backward(dy), dy * (y != 0) / 0.7, rtol=1e-5, atol=1e-6)  # backward reuses the mask
    assert layer.forward(x, training=True).dtype == be.xp.float32


def test_dropout_rate_is_checked():
    with pytest.raises(ValueError, match=r"Dropout 'drop': rate must be a number in \[0, 1\), got 1"):
        xdl.Dropout(1, name="drop")


def test_dropout_masks_follow_epoch_and_stream(be):
    x = np.ones((16, 32), dtype=np.float32)
    layer = xdl.Dropout(0.5, seed=123)
    masks = {}
    for epoch, stream in [(0, 0), (0, 1), (1, 0), (0, 0)]:
        layer.forward(x[:1])  # built on first use
        layer.start_epoch(epoch, stream)
        masks.setdefault((epoch, stream), []).append(host(layer.forward(x, training=True)))
    np.testing.assert_array_equal(*masks[(0, 0)])  # reseeding replays the stream: resumable
    assert not np.array_equal(masks[(0, 0)][0], masks[(0, 1)][0])  # processes differ
    assert not np.array_equal(masks[(0, 0)][0], masks[(1, 0)][0])  # epochs differ


def _noisy_model(seed):
    xdl.seed(seed)
    model = xdl.NeuralNetwork([xdl.Dense(output_size=16), xdl.BatchNorm(), xdl.ReLU(), xdl.Dropout(0.5),
                               xdl.Dense(output_size=3)])
    model.compile(loss=xdl.CrossEntropy(), optimizer=xdl.Adam(0.01), metrics=["accuracy"])
    return model


def test_fit_trains_and_predict_evaluates(be):
    X = RNG.standard_normal((64, 5)).astype(np.float32)
    y = RNG.integers(0, 3, 64)
    model = _noisy_model(0)
    model.fit(X, y, epochs=2, batch_size=16, verbose=0, seed=0)
    bn = model.layers[1]
    stats = host(bn.moving_mean.value)
    first, second = host(model.predict(X)), host(model.predict(X))
    np.testing.assert_array_equal(first, second)  # no dropout, fixed statistics
    np.testing.assert_array_equal(host(bn.moving_mean.value), stats)
    model.evaluate(X, y)
    np.testing.assert_array_equal(host(bn.moving_mean.value), stats)


def test_same_seed_same_training(be):
    X = RNG.standard_normal((64, 5)).astype(np.float32)
    y = RNG.integers(0, 3, 64)
    runs = []
    for _ in range(2):
        model = _noisy_model(7)
        history = model.fit(X, y, epochs=3, batch_size=16, verbose=0, seed=1)
        runs.append((history.history["loss"], [host(p.value) for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)
