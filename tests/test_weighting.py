"""sample_weight and class_weight as Keras defines them: a loss is ``sum(w * terms) / terms``
(reduction "sum_over_batch_size"), a metric the weighted mean ``sum(w * v) / sum(w)``."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from helpers import assert_close, host, numeric_gradient

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
        grad = host(loss.backward())
        state = {}

        def install(v):
            state["p"] = be.asarray(v, dtype=be.xp.float64)

        numeric = numeric_gradient(lambda: float(loss.forward(t, state["p"], sample_weight=W)), z, install)
        assert_close(grad, numeric, rtol=1e-5, atol=1e-8)
        # all-ones weights are no weights
        assert float(loss.forward(t, pred, sample_weight=np.ones(N))) == pytest.approx(float(loss.forward(t, pred)))


def test_per_timestep_weights_broadcast_over_the_last_axis(be):
    z = rng.standard_normal((3, 5, 2))
    t = rng.standard_normal((3, 5, 2))
    w = rng.uniform(0, 1, (3, 5))
    value = float(xdl.MSE().forward(t, be.asarray(z, dtype=be.xp.float32), sample_weight=w))
    assert value == pytest.approx(((z - t) ** 2 * w[..., None]).sum() / z.size, rel=1e-5)


def classifier():
    xdl.seed(0)
    net = xdl.NeuralNetwork([xdl.Dense(input_size=5, output_size=8), xdl.ReLU(), xdl.Dense(output_size=3)])
    net.compile(loss="cross_entropy", optimizer=xdl.SGD(0.1), metrics=["accuracy"])
    return net


def problem(n=40):
    r = np.random.default_rng(1)
    X = r.standard_normal((n, 5))
    return X, r.integers(0, 3, n)


def test_class_weight_is_the_sample_weight_of_each_class(be):
    X, y = problem()
    table = {0: 1.0, 1: 3.0, 2: 0.5}
    a = classifier()
    ha = a.fit(X, y, class_weight=table, epochs=2, batch_size=8, seed=0, verbose=0)
    b = classifier()
    hb = b.fit(X, y, sample_weight=np.array([table[int(c)] for c in y]), epochs=2, batch_size=8, seed=0, verbose=0)
    for p, q in zip(a.parameters(), b.parameters()):
        assert_close(p.value, q.value, rtol=1e-6)
    for key in ("loss", "accuracy"):
        assert ha[key] == pytest.approx(hb[key])
    c = classifier()  # classes not named weigh 1; one-hot targets pick the arg-max
    c.fit(X, np.eye(3)[y], class_weight={1: 3.0, 2: 0.5}, epochs=2, batch_size=8, seed=0, verbose=0)
    for p, q in zip(a.parameters(), c.parameters()):
        assert_close(p.value, q.value, rtol=1e-6)


def test_evaluate_weights_the_loss_and_metrics_as_keras(be):
    X, y = problem()
    net = classifier()
    net.fit(X, y, epochs=1, verbose=0)
    w = np.random.default_rng(2).uniform(0, 3, len(y))
    got = net.evaluate(X, y, sample_weight=w, batch_size=7, return_dict=True)
    z = xdl.to_numpy(net.predict(X)).astype(np.float64)
    terms = -log_softmax(z)[np.arange(len(y)), y]
    assert got["loss"] == pytest.approx((w * terms).sum() / len(y), rel=1e-5)  # over the batch size
    hits = (z.argmax(1) == y).astype(np.float64)
    assert got["accuracy"] == pytest.approx((w * hits).sum() / w.sum(), rel=1e-6)  # weighted mean
    # fit reports its epoch figures the same way (before the step changes nothing at lr 0)
    net.optimizer.learning_rate = 1e-12
    history = net.fit(X, y, sample_weight=w, epochs=1, batch_size=7, shuffle=False, verbose=0)
    assert history["accuracy"][0] == pytest.approx(got["accuracy"], rel=1e-6)
    assert history["loss"][0] == pytest.approx(got["loss"], rel=1e-4)


def test_weights_per_output_of_a_graph(be):
    x = xdl.Input(shape=(5,))
    h = xdl.ReLU()(xdl.Dense(output_size=8)(x))
    a, b = xdl.Dense(output_size=1, name="a")(h), xdl.Dense(output_size=3, name="b")(h)
    net = xdl.Model(x, [a, b])
    net.compile(loss={"a": "mse", "b": "cross_entropy"}, optimizer="sgd")
    X, y = problem()
    t = np.random.default_rng(3).standard_normal((len(y), 1))
    w = np.random.default_rng(4).uniform(0, 2, len(y))
    both = net.evaluate(X, {"a": t, "b": y}, sample_weight=w, return_dict=True)
    only_b = net.evaluate(X, {"a": t, "b": y}, sample_weight={"b": w}, return_dict=True)
    plain = net.evaluate(X, {"a": t, "b": y}, return_dict=True)
    assert only_b["a_loss"] == pytest.approx(plain["a_loss"]) and only_b["b_loss"] == pytest.approx(both["b_loss"])
    assert both["a_loss"] != pytest.approx(plain["a_loss"])


def test_weighting_mistakes_are_named():
    X, y = problem()
    net = classifier()
    with pytest.raises(ValueError, match="sample_weight or class_weight, not both"):
        net.fit(X, y, sample_weight=np.ones(len(y)), class_weight={0: 2.0}, verbose=0)
    with pytest.raises(xdl.ShapeError, match=r"sample_weight has shape \(39,\)"):
        net.fit(X, y, sample_weight=np.ones(len(y) - 1), verbose=0)
    with pytest.raises(ValueError, match="class_weight keys must be class indices"):
        net.fit(X, y, class_weight={"cat": 2.0}, verbose=0)
    with pytest.raises(ValueError, match="sample_weight holds 1 NaN"):
        net.fit(X, y, sample_weight=np.r_[np.nan, np.ones(len(y) - 1)], check_finite=True, verbose=0)
