"""Shared test tools: the repository's folders, host comparisons, and a model's loss and
gradients as one training step forms them (gradcheck.py checks them by central differences)."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

import xdl

ROOT = pathlib.Path(__file__).resolve().parent.parent  # the repository
DATA = ROOT / "tests" / "data"  # model files of earlier releases
RTOL_FOR = {"float32": 1e-4, "float64": 1e-10}


def host(x):
    return xdl.to_numpy(x)


def assert_close(actual, expected, rtol=1e-5, atol=1e-7, err_msg=""):
    np.testing.assert_allclose(host(actual), host(expected), rtol=rtol, atol=atol, err_msg=err_msg)


def away_from_zero(rng, shape, low=0.1, high=1.5):
    """Values with |x| >= low, so kinks (ReLU at 0) sit far from the finite-difference step."""
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


def three_classes():
    """X (96, 4) float32 and labels 0..2: how many of the first two features are positive."""
    X = np.random.default_rng(11).standard_normal((96, 4)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)


def small_classifier(lr=0.05, metrics=("accuracy",)):
    """Dense 4-16, ReLU, Dense 3; cross-entropy from logits, Adam."""
    model = xdl.NeuralNetwork([xdl.Dense(input_size=4, output_size=16), xdl.ReLU(), xdl.Dense(output_size=3)])
    model.compile(loss=xdl.CrossEntropy(), optimizer=xdl.Adam(lr), metrics=list(metrics))
    return model


def clusters(seed=0, n=120, classes=4):
    """Points (n, 6) around one random center per class, float32, and their labels: easy to learn."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, 6)) * 3
    y = rng.integers(0, classes, n)
    return (centers[y] + rng.standard_normal((n, 6))).astype(np.float32), y


MIXED_BACKENDS = [("array_api_strict", "numpy"), ("numpy", "array_api_strict")]  # (the arrays', the active)
MIXED_IDS = [f"{s}-on-{a}" for s, a in MIXED_BACKENDS]


def arrays_backend(source, active):
    """The backend ``source`` whose arrays a test hands to xdl while ``active`` is the active one;
    skips unless both can run here."""
    for name in (source, active):
        status = xdl.backends.probe(name)
        if not status.usable:
            pytest.skip(f"{name}: {status.reason}")
    return xdl.backends.create(source)


class Frozen(xdl.Optimizer):
    """Leaves the weights as they are: ``model.train_step`` then forms the gradients alone."""

    def formula(self, be, w, g, state, lr):
        return w


def batch(model, xs, ys, weights=None):
    """Lists per input and output as the batch a step takes (Keras's ``(x, y[, sample_weight])``)."""
    x = xs if model.multiple_inputs else xs[0]
    y = ys if model.objectives.several else ys[0]
    if weights is None:
        return x, y
    return x, y, weights if model.objectives.several else weights[0]


def step_gradients(model, xs, ys, weights=None):
    """The gradients one ``train_step`` forms, left in each parameter's ``grad``, without its
    update; returns the batch's loss (a 0-d array, penalties included)."""
    optimizer, model.optimizer = model.optimizer, Frozen()
    try:
        return model.train_step(batch(model, xs, ys, weights)).batch_loss
    finally:
        model.optimizer = optimizer


def model_loss(model, xs, ys, weights=None, training=True):
    """The compiled total loss of a batch as ``train_step`` forms it (penalties included), a 0-d array."""
    from xdl.core import regularizers

    values, masks, _ = model.graph.run(xs, training, model.objectives.slots)
    figures, _, _ = model.objectives.value_and_grad(ys, values, weights, masks, grad=False)
    return regularizers.penalize(figures, model._regularized, grads=False)[0]


def loss_input_gradients(model, xs, ys, weights=None):
    """The gradients of the compiled loss w.r.t. the inputs ``xs`` (a list), training mode."""
    values, masks, backprop = model.graph.run(xs, True, model.objectives.slots)
    _, grads, _ = model.objectives.value_and_grad(ys, values, weights, masks)
    return backprop(grads, True)
