"""What compile sets up: losses, optimizers and metrics by name (one metric as a string), and a
model ending in Softmax or Sigmoid trained and scored from its logits, never squashed twice."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.helpers import clusters, host


def test_one_metric_as_a_string(be):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 32)]
    model = xdl.Sequential([xdl.Dense(units=3)])
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer="sgd", metrics="accuracy")
    assert len(model.metrics) == 2 and model.metrics[0].name == "loss"  # Keras's loss tracker, then accuracy
    scores = model.evaluate(X, y, return_dict=True)
    assert set(scores) == {"loss", "accuracy"}


def test_loss_and_optimizer_by_name():
    model = xdl.NeuralNetwork([xdl.Dense(output_size=1)])
    model.compile(loss="mse", optimizer="sgd")
    assert isinstance(model.loss, xdl.MSE) and isinstance(model.optimizer, xdl.SGD)
    with pytest.raises(ValueError, match="unknown loss 'hingy'"):
        model.compile(loss="hingy", optimizer="sgd")
    with pytest.raises(ValueError, match="learning_rate must be a positive number, got -1"):
        xdl.SGD(learning_rate=-1)


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "cross_entropy",
                                  xdl.CrossEntropy(from_logits=True), xdl.CrossEntropy(from_logits=False)],
                         ids=["keras-name", "xdl-name", "from-logits", "probabilities"])
def test_a_softmax_model_is_never_squashed_twice(be, loss):
    """Every way of naming the loss trains a model ending in Softmax as the fused logits form."""
    X, y = clusters()

    def model():
        xdl.seed(0)
        m = xdl.Sequential([xdl.Dense(output_size=16), xdl.ReLU(), xdl.Dense(output_size=4), xdl.Softmax()])
        m.compile(loss=loss, optimizer=xdl.Adam(0.01), metrics=["accuracy"])
        return m

    m = model()
    history = m.fit(X, y, epochs=15, batch_size=16, verbose=0, seed=0)
    xdl.seed(0)
    reference = xdl.Sequential([xdl.Dense(output_size=16), xdl.ReLU(), xdl.Dense(output_size=4)])
    reference.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer=xdl.Adam(0.01), metrics=["accuracy"])
    expected = reference.fit(X, y, epochs=15, batch_size=16, verbose=0, seed=0)
    assert history["loss"] == pytest.approx(expected["loss"], rel=1e-4, abs=1e-6)
    assert history["accuracy"][-1] > 0.9
    probabilities = host(m.predict(X))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)  # predictions stay probabilities


def test_a_sigmoid_model_is_scored_from_its_logits(be):
    X, y = clusters(classes=2)
    y = y[:, None].astype(np.float32)
    for loss in ("binary_crossentropy", xdl.BinaryCrossEntropy(from_logits=True)):
        xdl.seed(0)
        m = xdl.Sequential([xdl.Dense(output_size=8), xdl.Tanh(), xdl.Dense(output_size=1), xdl.Sigmoid()])
        m.compile(loss=loss, optimizer=xdl.Adam(0.02), metrics=["accuracy"])
        history = m.fit(X, y, epochs=10, batch_size=16, verbose=0, seed=0)
        assert history["accuracy"][-1] > 0.9, loss  # binary accuracy at 0.5: the outputs are probabilities
        assert history["loss"][-1] < 0.3
