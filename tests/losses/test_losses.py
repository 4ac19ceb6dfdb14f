"""Losses: values, gradients against finite differences, shape errors, class labels (integers or
whole floats), Keras's names, and the arrays' backend whichever backend is active."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.gradcheck import check_gradients
from tests.helpers import MIXED_BACKENDS, MIXED_IDS, arrays_backend, assert_close, clusters, host


def test_mse_value_and_gradient(be):
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    value = check_gradients(xdl.MSE(), y_pred, be, y=y_true, rtol=1e-6, atol=1e-9)
    assert_close(value, np.mean((y_pred - y_true) ** 2), rtol=1e-12)


def test_mse_accepts_lists_and_integers(be):
    value = xdl.MSE().forward([1, 2, 3], [1.5, 2.0, 3.0])
    assert be.owns(value) and tuple(value.shape) == ()
    assert_close(value, 0.25 / 3)


def test_mse_shape_mismatch_names_both_shapes(be):
    with pytest.raises(xdl.ShapeError, match=r"MSE: y_true has shape \(8,\) but y_pred has \(8, 10\)"):
        xdl.MSE().forward(np.zeros(8), np.zeros((8, 10)))


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
    value = check_gradients(loss, y_pred, be, y=y_true, rtol=1e-6, atol=1e-9)
    assert_close(value, reference(y_true, y_pred), rtol=1e-10)


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


# -- losses compute on their arrays' backend, whichever backend is active ------------------------

@pytest.mark.parametrize("source, active", MIXED_BACKENDS, ids=MIXED_IDS)
@pytest.mark.parametrize("case", list(CASES))
def test_losses_use_their_arrays_backend_not_the_active_one(source, active, case):
    loss, y_true, y_pred, reference = CASES[case]
    src = arrays_backend(source, active)
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


# -- Keras's names, one default, float labels --------------------------------------------------

def test_keras_names_take_probabilities_and_xdl_names_logits():
    assert xdl.losses.get("sparse_categorical_crossentropy").from_logits is False
    assert xdl.losses.get("categorical_crossentropy").from_logits is False
    assert xdl.losses.get("binary_crossentropy").from_logits is False
    assert xdl.SparseCategoricalCrossEntropy().from_logits is False
    assert xdl.CategoricalCrossEntropy().from_logits is False
    # one rule for xdl's own classes and names: logits
    assert xdl.CrossEntropy().from_logits is True and xdl.BinaryCrossEntropy().from_logits is True
    assert xdl.losses.get("cross_entropy").from_logits and xdl.losses.get("binary_cross_entropy").from_logits


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
    X, y = clusters()
    results = []
    for labels in (y, y.astype(np.float32)):
        xdl.seed(0)
        m = xdl.Sequential([xdl.Dense(output_size=4)])
        m.compile(loss="cross_entropy", optimizer="sgd", metrics=["accuracy"])
        results.append(m.fit(X, labels, epochs=2, verbose=0, seed=0).history)
    assert results[0] == results[1]


# issue 17, item 16
def test_float_labels_for_cross_entropy_are_refused():
    model = xdl.NeuralNetwork([xdl.Dense(input_size=3, output_size=3)])
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer="sgd")
    for labels in ([np.nan, 0, 1], [3.5, 0, 1], [42.0, 0, 1]):
        with pytest.raises(ValueError, match="whole numbers|must lie in"):
            model.fit(np.ones((3, 3)), np.array(labels), epochs=1, verbose=0)
