"""``sample_weight`` and ``class_weight`` in fit and evaluate, as Keras defines them: a loss is
``sum(w * terms) / terms``, a metric the weighted mean ``sum(w * v) / sum(w)``; per output of a
graph; mistakes named."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.helpers import assert_close


def log_softmax(z):
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


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
