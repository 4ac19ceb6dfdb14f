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


# -- every loss: value against a NumPy formula, gradient against central differences -------------

def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


RNG = np.random.default_rng(1)
LABELS = RNG.integers(0, 4, (3, 2))  # (batch, time) labels for (batch, time, 4) scores
SCORES = RNG.standard_normal((3, 2, 4)) * 3
PROBS = _softmax(RNG.standard_normal((3, 2, 4)))
BINARY = RNG.integers(0, 2, (5, 3)).astype(float)
REAL = RNG.standard_normal((5, 3)) * 2

CASES = {  # name: (loss, y_true, y_pred, reference value)
    "ce-logits-labels": (xdl.CrossEntropy(), LABELS, SCORES,
                         lambda t, z: -np.mean(np.log(np.take_along_axis(_softmax(z), t[..., None], -1)))),
    "ce-logits-soft": (xdl.CrossEntropy(), PROBS, SCORES,
                       lambda t, z: -np.sum(t * np.log(_softmax(z))) / 6),
    "ce-probs-labels": (xdl.CrossEntropy(from_logits=False), LABELS, _softmax(SCORES),
                        lambda t, p: -np.mean(np.log(np.take_along_axis(p, t[..., None], -1)))),
    "bce-logits": (xdl.BinaryCrossEntropy(from_logits=True), BINARY, REAL,
                   lambda t, z: -np.mean(t * np.log(_sigmoid(z)) + (1 - t) * np.log(1 - _sigmoid(z)))),
    "bce-probs": (xdl.BinaryCrossEntropy(from_logits=False), BINARY, _sigmoid(REAL),
                  lambda t, p: -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))),
    "mae": (xdl.MAE(), REAL, REAL + RNG.uniform(0.1, 1, REAL.shape) * RNG.choice([-1, 1], REAL.shape),
            lambda t, p: np.mean(np.abs(p - t))),
    "huber": (xdl.Huber(delta=1.0), REAL, REAL + RNG.choice([-0.4, 0.5, -2.0, 3.0], REAL.shape),
              lambda t, p: np.mean(np.where(np.abs(p - t) <= 1, 0.5 * (p - t) ** 2, np.abs(p - t) - 0.5))),
    "mse": (xdl.MSE(), REAL, 3 * _sigmoid(REAL), lambda t, p: np.mean((p - t) ** 2)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_loss_value_and_gradient(be, case):
    loss, y_true, y_pred, reference = CASES[case]
    f64 = be.xp.float64
    t = be.asarray(y_true) if y_true.dtype.kind == "i" else be.asarray(y_true, dtype=f64)
    value = loss.forward(t, be.asarray(y_pred, dtype=f64))
    assert_close(value, reference(y_true, y_pred), rtol=1e-10)
    analytic = host(loss.backward())
    state = {"pred": y_pred}

    def objective():
        return float(host(loss.forward(t, be.asarray(state["pred"], dtype=f64))))

    expected = numeric_gradient(objective, y_pred, lambda v: state.update(pred=v.copy()))
    np.testing.assert_allclose(analytic, expected, rtol=1e-6, atol=1e-9, err_msg=case)


def test_cross_entropy_labels_and_one_hot_agree(be):
    loss, scores = xdl.CrossEntropy(), be.asarray(SCORES, dtype=be.xp.float32)
    from_one_hot = loss.forward(np.eye(4)[LABELS], scores)
    grad_one_hot = host(loss.backward())
    assert_close(loss.forward(LABELS, scores), from_one_hot, rtol=1e-6)
    assert_close(loss.backward(), grad_one_hot, rtol=1e-6, atol=1e-8)


def test_cross_entropy_is_stable_for_huge_logits(be):
    z = be.asarray([[1000.0, 0.0, -1000.0], [-5e4, 5e4, 0.0]], dtype=be.xp.float32)
    loss = xdl.CrossEntropy()
    value = loss.forward(be.asarray([0, 0]), z)
    assert_close(value, 5e4, rtol=1e-6)  # first row ~0, second 1e5, mean 5e4
    grad = host(loss.backward())
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, [[0, 0, 0], [-0.5, 0.5, 0]], atol=1e-6)
    bce = xdl.BinaryCrossEntropy(from_logits=True)
    assert np.isfinite(float(host(bce.forward([[1.0, 0.0]], be.asarray([[-1e4, 1e4]], dtype=be.xp.float32)))))
    assert np.all(np.isfinite(host(bce.backward())))


def test_cross_entropy_shape_errors_name_both_shapes(be):
    with pytest.raises(xdl.ShapeError, match=r"labels of shape \(8,\) or one-hot/probabilities of shape "
                                             r"\(8, 10\); got \(8, 3\)"):
        xdl.CrossEntropy().forward(np.zeros((8, 3)), np.zeros((8, 10)))


def test_losses_by_name():
    for name, cls in [("cross_entropy", xdl.CrossEntropy), ("binary_crossentropy", xdl.BinaryCrossEntropy),
                      ("mae", xdl.MAE), ("huber", xdl.Huber)]:
        assert isinstance(xdl.losses.get(name), cls)


# -- losses and metrics compute on their arrays' backend, whichever backend is active -----------

MIXED = [("array_api_strict", "numpy"), ("numpy", "array_api_strict")]  # (the arrays', the active)


def _usable_pair(source, active):
    for name in (source, active):
        status = xdl.backends.probe(name)
        if not status.usable:
            pytest.skip(f"{name}: {status.reason}")
    return xdl.backends.create(source)


@pytest.mark.parametrize("source, active", MIXED, ids=[f"{s}-on-{a}" for s, a in MIXED])
@pytest.mark.parametrize("case", list(CASES))
def test_losses_use_their_arrays_backend_not_the_active_one(source, active, case):
    loss, y_true, y_pred, reference = CASES[case]
    src = _usable_pair(source, active)
    f64 = src.xp.float64
    t = src.asarray(y_true) if y_true.dtype.kind == "i" else src.asarray(y_true, dtype=f64)
    p = src.asarray(y_pred, dtype=f64)
    with xdl.use_backend(source, fallback=False):  # the reference: the arrays' backend active
        expected_value, expected_grad = (host(a) for a in loss.value_and_grad(t, p))
    with xdl.use_backend(active, fallback=False):
        value, grad = loss.value_and_grad(t, p)  # what training runs, on arrays already on the device
        assert src.owns(value) and src.owns(grad), case
        np.testing.assert_array_equal(host(value), expected_value, err_msg=case)
        np.testing.assert_array_equal(host(grad), expected_grad, err_msg=case)
        for targets in (t, y_true, y_true.tolist()):  # an array of y_pred's backend, NumPy, a list
            value = loss.forward(targets, p)
            grad = loss.backward()
            assert src.owns(value) and src.owns(grad), f"{case}: y_true as {type(targets).__name__}"
            assert_close(value, reference(y_true, y_pred), rtol=1e-10, err_msg=case)
            np.testing.assert_array_equal(host(grad), expected_grad, err_msg=case)


@pytest.mark.parametrize("source, active", MIXED, ids=[f"{s}-on-{a}" for s, a in MIXED])
def test_metrics_use_their_arrays_backend_not_the_active_one(source, active):
    src = _usable_pair(source, active)
    scores = src.asarray(SCORES.reshape(-1, 4), dtype=src.xp.float32)
    labels = src.asarray(LABELS.reshape(-1))
    binary_true = src.asarray(BINARY, dtype=src.xp.float32)
    binary_pred = src.asarray(_sigmoid(REAL), dtype=src.xp.float32)
    cases = [(xdl.Accuracy(), labels, scores), (xdl.TopKAccuracy(k=2), labels, scores),
             (xdl.Accuracy(binary=True), binary_true, binary_pred),
             (xdl.metrics.MeanAbsoluteError(), binary_true, binary_pred)]
    with xdl.use_backend(source, fallback=False):
        expected = [host(metric(y, out)) for metric, y, out in cases]
    with xdl.use_backend(active, fallback=False):
        for (metric, y, out), want in zip(cases, expected):
            value = metric(y, out)
            assert src.owns(value), repr(metric)
            np.testing.assert_array_equal(host(value), want, err_msg=repr(metric))


# -- Keras's names, one default, no double squashing, float labels ------------------------------

def test_keras_names_take_probabilities_and_xdl_names_logits():
    assert xdl.losses.get("sparse_categorical_crossentropy").from_logits is False
    assert xdl.losses.get("categorical_crossentropy").from_logits is False
    assert xdl.losses.get("binary_crossentropy").from_logits is False
    assert xdl.SparseCategoricalCrossEntropy().from_logits is False
    assert xdl.CategoricalCrossEntropy().from_logits is False
    # one rule for xdl's own classes and names: logits
    assert xdl.CrossEntropy().from_logits is True and xdl.BinaryCrossEntropy().from_logits is True
    assert xdl.losses.get("cross_entropy").from_logits and xdl.losses.get("binary_cross_entropy").from_logits


def _digits_like(seed=0, n=120, classes=4):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, 6)) * 3
    y = rng.integers(0, classes, n)
    return (centers[y] + rng.standard_normal((n, 6))).astype(np.float32), y


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "cross_entropy",
                                  xdl.CrossEntropy(from_logits=True), xdl.CrossEntropy(from_logits=False)],
                         ids=["keras-name", "xdl-name", "from-logits", "probabilities"])
def test_a_softmax_model_is_never_squashed_twice(be, loss):
    """Every way of naming the loss trains a model ending in Softmax as the fused logits form."""
    X, y = _digits_like()

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
    X, y = _digits_like(classes=2)
    y = y[:, None].astype(np.float32)
    for loss in ("binary_crossentropy", xdl.BinaryCrossEntropy(from_logits=True)):
        xdl.seed(0)
        m = xdl.Sequential([xdl.Dense(output_size=8), xdl.Tanh(), xdl.Dense(output_size=1), xdl.Sigmoid()])
        m.compile(loss=loss, optimizer=xdl.Adam(0.02), metrics=["accuracy"])
        history = m.fit(X, y, epochs=10, batch_size=16, verbose=0, seed=0)
        assert history["accuracy"][-1] > 0.9, loss  # binary accuracy at 0.5: the outputs are probabilities
        assert history["loss"][-1] < 0.3


@pytest.mark.parametrize("labels,message", [(np.array([0.5, 1.0, 2.0, 3.0]), "whole numbers"),
                                            (np.array([0.0, np.nan, 1.0, 2.0]), "whole numbers"),
                                            (np.array([1.0, 2.0, 3.0, 4.0]), r"\[0, 3\]")])
def test_float_labels_must_be_whole_class_indices(be, labels, message):
    m = xdl.Sequential([xdl.Dense(output_size=4)])
    m.compile(loss="cross_entropy", optimizer="sgd")
    with pytest.raises(ValueError, match=message):
        m.fit(np.ones((4, 3)), labels, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=message):
        xdl.CrossEntropy().forward(labels, np.ones((4, 4)))


def test_whole_number_float_labels_stand_for_integers(be):
    X, y = _digits_like()
    results = []
    for labels in (y, y.astype(np.float32)):
        xdl.seed(0)
        m = xdl.Sequential([xdl.Dense(output_size=4)])
        m.compile(loss="cross_entropy", optimizer="sgd", metrics=["accuracy"])
        results.append(m.fit(X, labels, epochs=2, verbose=0, seed=0).history)
    assert results[0] == results[1]
