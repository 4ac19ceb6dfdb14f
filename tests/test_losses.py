"""Losses: values, gradients against finite differences, shape errors."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close, host, numeric_gradient

import xdl


def test_mse_value_and_gradient(be):
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    loss = xdl.MSE()
    value = loss.forward(be.asarray(y_true, dtype=be.xp.float64), be.asarray(y_pred, dtype=be.xp.float64))
    assert_close(value, np.mean((y_pred - y_true) ** 2), rtol=1e-12)
    analytic = host(loss.backward())

    state = {"pred": y_pred}

    def objective():
        return float(host(loss.forward(be.asarray(y_true, dtype=be.xp.float64),
                                       be.asarray(state["pred"], dtype=be.xp.float64))))

    expected = numeric_gradient(objective, y_pred, lambda v: state.update(pred=v.copy()))
    np.testing.assert_allclose(analytic, expected, rtol=1e-6, atol=1e-9)


def test_mse_accepts_lists_and_integers(be):
    value = xdl.MSE().forward([1, 2, 3], [1.5, 2.0, 3.0])
    assert be.owns(value) and tuple(value.shape) == ()
    assert_close(value, 0.25 / 3)


def test_mse_shape_mismatch_names_both_shapes(be):
    with pytest.raises(xdl.ShapeError, match=r"MSE: y_true has shape \(8,\) but y_pred has \(8, 10\)"):
        xdl.MSE().forward(np.zeros(8), np.zeros((8, 10)))


def test_loss_and_optimizer_by_name():
    model = xdl.NeuralNetwork([xdl.Dense(output_size=1)])
    model.compile(loss="mse", optimizer="sgd")
    assert isinstance(model.loss, xdl.MSE) and isinstance(model.optimizer, xdl.SGD)
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        model.compile(loss="hinge", optimizer="sgd")
    with pytest.raises(ValueError, match="learning_rate must be a positive number, got -1"):
        xdl.SGD(learning_rate=-1)
