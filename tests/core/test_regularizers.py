"""Weight regularizers: the penalty joins the reported loss and its gradient (checked by
finite differences), configs and files keep them, names and bad values."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.gradcheck import check_gradients
from tests.helpers import host
from xdl.core import regularizers

RNG = np.random.default_rng(21)


def _model(with_penalties=True):
    """Conv2D, LSTM and Dense, each with the regularizers Keras gives it."""
    r = (lambda value: value) if with_penalties else (lambda value: None)
    inputs = xdl.Input(shape=(4, 4, 1))
    x = xdl.Conv2D(output_channels=2, kernel_size=3, kernel_regularizer=r(xdl.regularizers.L2(0.3)),
                   bias_regularizer=r("l1"))(inputs)
    x = xdl.Reshape((2, 4))(x)
    x = xdl.LSTM(hidden_size=2, return_sequences=True, kernel_regularizer=r(xdl.regularizers.L1L2(0.05, 0.2)),
                 recurrent_regularizer=r("l2"), bias_regularizer=r(xdl.regularizers.L1(0.1)))(x)
    out = xdl.Dense(output_size=3, kernel_regularizer=r(xdl.regularizers.L1(0.2)),
                    bias_regularizer=r(xdl.regularizers.L2(0.5)))(xdl.Flatten()(x))
    model = xdl.Model(inputs, out)
    model.compile(loss="mse", optimizer="sgd")
    for p in model.parameters():  # away from 0, where L1 has its kink
        p.value = model.backend.asarray(RNG.uniform(0.2, 0.8, p.shape) * RNG.choice([-1.0, 1.0], p.shape),
                                        dtype=p.dtype)
    return model


def _penalty(model):
    """The penalty by hand, from the host copies of the weights."""
    total = 0.0
    for p in model.parameters():
        r, w = p.regularizer, host(p.value)
        if r is not None:
            total += r.l1 * np.abs(w).sum() + r.l2 * (w * w).sum()
    return total


def test_regularized_loss_and_its_gradient_by_finite_differences(be):
    with xdl.use_floatx("float64"):
        model = _model()
    x, y = RNG.standard_normal((3, 4, 4, 1)), RNG.standard_normal((3, 3))
    assert all(p.trainable for p in model.parameters())  # the check covers every one, by path
    loss = check_gradients(model, x, be, y=y, rtol=1e-6, atol=1e-8)
    plain = float(np.mean((host(model.call(be.asarray(x, dtype=be.xp.float64), training=True)) - y) ** 2))
    np.testing.assert_allclose(float(host(loss)), plain + _penalty(model), rtol=1e-10)
    assert _penalty(model) > 0.1 * plain


def test_fit_and_evaluate_report_the_penalty_and_frozen_layers_have_none(be):
    model = _model()
    x, y = RNG.standard_normal((8, 4, 4, 1)), RNG.standard_normal((8, 3))
    plain = _model(with_penalties=False)
    plain.set_weights(model.get_weights())
    penalty = _penalty(model)
    np.testing.assert_allclose(model.evaluate(x, y), plain.evaluate(x, y) + penalty, rtol=1e-5)
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert history["loss"][1] < history["loss"][0]  # the penalty shrinks the weights: the loss falls
    assert _penalty(model) < penalty
    for layer in model.layers:
        layer.trainable = False
    frozen = _model(with_penalties=False)
    frozen.set_weights(model.get_weights())
    np.testing.assert_allclose(model.evaluate(x, y), frozen.evaluate(x, y), rtol=1e-6)


def test_penalty_gradient_joins_the_step(be):
    """One SGD step on a Dense whose data gradient is zero (targets equal to the output) moves
    the weights by the penalty's gradient alone."""
    layer = xdl.Dense(output_size=2, kernel_regularizer=xdl.regularizers.L2(0.5), bias_regularizer="l1")
    model = xdl.Sequential([layer])
    model.compile(loss="mse", optimizer=xdl.SGD(learning_rate=0.1))
    x = RNG.standard_normal((4, 3))
    model.build((3,))
    layer.bias = np.array([0.5, -0.5])
    y = host(model.predict(x))
    w, b = host(layer.weights).copy(), host(layer.bias).copy()
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    np.testing.assert_allclose(host(layer.weights), w - 0.1 * 2 * 0.5 * w, rtol=1e-5)
    np.testing.assert_allclose(host(layer.bias), b - 0.1 * 0.01 * np.sign(b), rtol=1e-5)


def test_saved_in_configs_and_files(be, tmp_path):
    model = _model()
    x = RNG.standard_normal((2, 4, 4, 1))
    model.save(tmp_path / "m.xdl")
    loaded = xdl.Model.load(tmp_path / "m.xdl")
    before = {k: p.regularizer for k, p in model.named_parameters().items()}
    assert {k: p.regularizer for k, p in loaded.named_parameters().items()} == before
    np.testing.assert_allclose(loaded.evaluate(x, np.zeros((2, 3))), model.evaluate(x, np.zeros((2, 3))), rtol=1e-6)
    config = xdl.Dense(output_size=1, kernel_regularizer="l2").get_config()
    assert config["kernel_regularizer"] == {"class": "L2", "config": {"l2": 0.01}}
    assert "bias_regularizer" not in config and "kernel_regularizer" not in xdl.Dense(output_size=1).get_config()
    gru = xdl.GRU(hidden_size=2, bias_regularizer="l1")
    gru.build((3, 2))
    assert gru.cell.recurrent_bias.regularizer == xdl.regularizers.L1(0.01)  # Keras's GRU has one bias
    assert xdl.GRU.from_config(gru.get_config()).cell.bias_regularizer == xdl.regularizers.L1(0.01)


def test_names_defaults_and_errors():
    assert regularizers.get("L1") == regularizers.L1(0.01)
    assert regularizers.get("l1_l2") == regularizers.L1L2(0.0, 0.0)
    assert regularizers.l1_l2() == regularizers.L1L2(0.01, 0.01)
    assert repr(regularizers.L2(1e-4)) == "L2(l2=0.0001)"
    with pytest.raises(ValueError, match="unknown regularizer 'l3'"):
        xdl.Dense(output_size=2, kernel_regularizer="l3")
    with pytest.raises(ValueError, match="l2 must be a finite number >= 0"):
        regularizers.L2(-1.0)
    with pytest.raises(ValueError, match="recurrent_regularizer"):
        xdl.LSTM(hidden_size=2, recurrent_regularizer=object())
