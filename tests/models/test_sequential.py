"""NeuralNetwork: build, fit, predict, evaluate, and the errors users meet first."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.helpers import host


def regression_data(n=256, seed=0):
    X = np.random.default_rng(seed).standard_normal((n, 2))
    return X, X.sum(axis=1, keepdims=True)


def small_model(lr=0.05):
    model = xdl.NeuralNetwork()
    model.add(xdl.Dense(input_size=2, output_size=8))
    model.add(xdl.ReLU())
    model.add(xdl.Dense(output_size=1))
    model.compile(loss=xdl.MSE(), optimizer=xdl.SGD(learning_rate=lr))
    return model


def test_fit_learns_and_returns_history(be):
    X, y = regression_data()
    history = small_model().fit(X, y, epochs=20, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 20 and history.epoch == list(range(20))
    assert all(isinstance(v, float) for v in losses)
    assert losses[-1] < 0.1 * losses[0]


def test_predict_and_evaluate(be):
    X, y = regression_data()
    model = small_model()
    model.fit(X, y, epochs=30, verbose=0)
    out = model.predict(X[:10])
    assert be.owns(out) and tuple(out.shape) == (10, 1) and out.dtype == be.xp.float32
    np.testing.assert_allclose(host(model.predict(X, batch_size=7)), host(model.predict(X)), rtol=1e-5, atol=1e-6)
    loss = model.evaluate(X, y)
    assert isinstance(loss, float) and loss < 0.05
    assert abs(model.evaluate(X, y, batch_size=50) - loss) < 1e-5


def test_training_keeps_float32_end_to_end(be):
    X, y = regression_data(64)
    model = small_model()
    model.fit(X, y, epochs=1, verbose=0)
    for p in model.parameters():
        assert p.value.dtype == be.xp.float32 and p.grad.dtype == be.xp.float32, p


def test_forward_backward_by_hand(be):
    """The tutorial's slide 6: forward and backward over the whole network."""
    model = small_model()
    out = model.forward(np.ones((3, 2)))
    dx = model.backward(be.xp.ones(tuple(out.shape), dtype=out.dtype))
    assert tuple(dx.shape) == (3, 2)
    assert all(p.grad is not None for p in model.parameters())


def test_seeded_fit_is_reproducible(be):
    X, y = regression_data(100)
    runs = []
    for _ in range(2):
        xdl.seed(3)
        model = small_model()
        model.fit(X, y, epochs=2, batch_size=16, verbose=0, seed=11)
        runs.append([host(p.value) for p in model.parameters()])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_verbose_prints_one_line_per_epoch(be, capsys):
    X, y = regression_data(64)
    small_model().fit(X, y, epochs=3, verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[-1].startswith("Epoch 3/3 - loss: ")
    small_model().fit(X, y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


def test_sequential_alias_and_layers_in_constructor():
    model = xdl.Sequential([xdl.Dense(output_size=4), xdl.Tanh(), xdl.Dense(output_size=1)])
    assert isinstance(model, xdl.NeuralNetwork) and len(model.layers) == 3


def test_wrong_feature_count_names_layer_and_shapes(be):
    model = small_model()
    with pytest.raises(xdl.ShapeError, match=r"dense.*\(Dense\): expected input shape \(N, \.\.\., 2\), got \(N, 3\)"):
        model.predict(np.ones((4, 3)))


def test_sample_count_mismatch(be):
    model = small_model()
    with pytest.raises(xdl.ShapeError, match="fit: X has 10 samples but y has 9 samples"):
        model.fit(np.ones((10, 2)), np.ones((9, 1)), verbose=0)


def test_targets_of_one_axis_fewer_count_as_keras_counts_them(be):
    """(N,) targets against (N, 1) outputs are (N, 1) targets, as in Keras (no broadcast to (N, N))."""
    model = small_model()
    flat = model.evaluate(np.ones((10, 2)), np.arange(10.0))
    assert flat == pytest.approx(model.evaluate(np.ones((10, 2)), np.arange(10.0)[:, None]))


def test_misuse_errors():
    model = xdl.NeuralNetwork()
    with pytest.raises(TypeError, match="expects a Layer.*got function"):
        model.add(lambda x: x)
    with pytest.raises(xdl.NotBuiltError, match="compile"):
        model.fit(np.ones((2, 2)), np.ones((2, 1)))
    model.compile(loss="mse", optimizer="sgd")
    with pytest.raises(xdl.NotBuiltError, match="no layers"):
        model.fit(np.ones((2, 2)), np.ones((2, 1)))
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        small_model().fit(np.ones((2, 2)), np.ones((2, 1)), batch_size=0)
    with pytest.raises(xdl.ShapeError, match=r"X must have shape \(N, features...\), got \(5,\)"):
        small_model().predict(np.ones(5))


def test_model_stays_on_its_backend(be):
    """A model built on one backend keeps working after the active backend changes."""
    X, y = regression_data(64)
    model = small_model()
    model.fit(X, y, epochs=1, verbose=0)
    with xdl.use_backend("numpy"):
        out = model.predict(X)
        model.fit(X, y, epochs=1, verbose=0)
    assert be.owns(out)


def test_adding_a_layer_after_build_extends_the_model(be):
    model = small_model()
    model.predict(np.ones((2, 2)))
    model.add(xdl.Dense(output_size=3))
    assert tuple(model.predict(np.ones((2, 2))).shape) == (2, 3)
    assert len(model.parameters()) == 6
