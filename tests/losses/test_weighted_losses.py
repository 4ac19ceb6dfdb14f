"""Weighted losses as Keras defines them: ``sum(w * terms) / terms`` (reduction
"sum_over_batch_size"), their gradients by finite differences, weights per time step."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.gradcheck import check_gradients

rng = np.random.default_rng(0)
N, C = 6, 4
Z = rng.standard_normal((N, C))
W = rng.uniform(0.0, 2.0, N)
LABELS = rng.integers(0, C, N)
ONE_HOT = np.eye(C)[LABELS]
BINARY = (rng.random((N, C)) > 0.5).astype(np.float64)
REAL = rng.standard_normal((N, C))
PROBS = np.exp(Z) / np.exp(Z).sum(1, keepdims=True)


def log_softmax(z):
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


# loss, targets, predictions, per-sample terms (N, ...) of the unweighted mean, count of terms
CASES = {
    "mse": (xdl.MSE(), REAL, Z, lambda t, z: (z - t) ** 2),
    "mae": (xdl.MAE(), REAL, Z, lambda t, z: np.abs(z - t)),
    "huber": (xdl.Huber(0.5), REAL, Z, lambda t, z: np.where(np.abs(z - t) < 0.5, 0.5 * (z - t) ** 2,
                                                               0.5 * (np.abs(z - t) - 0.25))),
    "ce-labels": (xdl.CrossEntropy(), LABELS, Z, lambda t, z: -log_softmax(z)[np.arange(N), t]),
    "ce-one-hot": (xdl.CrossEntropy(), ONE_HOT, Z, lambda t, z: -(t * log_softmax(z)).sum(1)),
    "ce-probabilities": (xdl.CategoricalCrossEntropy(), ONE_HOT, PROBS, lambda t, p: -(t * np.log(p)).sum(1)),
    "bce-logits": (xdl.BinaryCrossEntropy(), BINARY, Z,
                   lambda t, z: np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))),
}


@pytest.mark.parametrize("case", list(CASES))
def test_weighted_losses_are_keras_sum_over_batch_size(be, case):
    loss, t, z, terms = CASES[case]
    with xdl.use_floatx("float64"):
        pred = be.asarray(z, dtype=be.xp.float64)
        value = float(loss.forward(t, pred, sample_weight=W))
        per = terms(t, z)
        expected = (per * W.reshape((N,) + (1,) * (per.ndim - 1))).sum() / per.size
        assert value == pytest.approx(expected, rel=1e-10)
        check_gradients(loss, z, be, y=t, sample_weight=W, rtol=1e-5, atol=1e-8)
        # all-ones weights are no weights
        assert float(loss.forward(t, pred, sample_weight=np.ones(N))) == pytest.approx(float(loss.forward(t, pred)))


def test_per_timestep_weights_broadcast_over_the_last_axis(be):
    z = rng.standard_normal((3, 5, 2))
    t = rng.standard_normal((3, 5, 2))
    w = rng.uniform(0, 1, (3, 5))
    value = float(xdl.MSE().forward(t, be.asarray(z, dtype=be.xp.float32), sample_weight=w))
    assert value == pytest.approx(((z - t) ** 2 * w[..., None]).sum() / z.size, rel=1e-5)
