"""Issue 32, item 5 and Keras's losses: test hooks during validation and evaluate, on_train_end's
logs, (N,) targets against (N, 1) outputs, Keras's loss classes, functions and string names.
Expected values are Keras 3's documented formulas computed in NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from xdl import losses as L

from ..helpers import assert_close

EPS = 1e-7


def regression(n=24):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((n, 3)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.float32)  # (N,) targets


def tiny(units=1, activation=None):
    layers = [xdl.Dense(input_size=3, output_size=units)]
    if activation is not None:
        layers.append(activation)
    return xdl.Sequential(layers)


class Recorder(xdl.Callback):
    def __init__(self):
        self.seen = []

    def on_test_begin(self, logs=None):
        self.seen.append(("test_begin", dict(logs or {})))

    def on_test_end(self, logs=None):
        self.seen.append(("test_end", dict(logs or {})))

    def on_test_batch_begin(self, batch, logs=None):
        self.seen.append(("test_batch_begin", batch))

    def on_test_batch_end(self, batch, logs=None):
        self.seen.append(("test_batch_end", batch))

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(("epoch_end", epoch))

    def on_train_end(self, logs=None):
        self.seen.append(("train_end", dict(logs)))


def test_validation_and_evaluate_call_the_test_hooks_as_keras(be):
    X, y = regression()
    model = tiny()
    model.compile(loss="mse", optimizer="sgd")
    rec = Recorder()
    history = model.fit(X, y, epochs=2, batch_size=8, validation_data=(X[:10], y[:10]), verbose=0, callbacks=[rec])
    kinds = [s[0] for s in rec.seen]
    one_pass = ["test_begin", "test_batch_begin", "test_batch_end", "test_batch_begin", "test_batch_end", "test_end"]
    assert kinds == one_pass + ["epoch_end"] + one_pass + ["epoch_end", "train_end"]
    assert [s[1] for s in rec.seen if s[0] == "test_batch_begin"] == [0, 1, 0, 1]
    # on_test_end gets the validation figures unprefixed, as Keras's evaluate gives them
    ends = [s[1] for s in rec.seen if s[0] == "test_end"]
    assert [e["loss"] for e in ends] == pytest.approx(history.history["val_loss"])
    # on_train_end: the last epoch's logs, validation's included
    last = rec.seen[-1][1]
    assert set(last) == {"loss", "val_loss"}
    assert last["loss"] == pytest.approx(history.history["loss"][-1])
    assert last["val_loss"] == pytest.approx(history.history["val_loss"][-1])
    rec.seen.clear()
    scores = model.evaluate(X, y, batch_size=10, callbacks=[rec], return_dict=True)
    assert [s[0] for s in rec.seen] == ["test_begin"] + ["test_batch_begin", "test_batch_end"] * 3 + ["test_end"]
    assert rec.seen[-1][1]["loss"] == pytest.approx(scores["loss"])


def test_on_train_end_without_epochs_gets_empty_logs(be):
    X, y = regression()
    model = tiny()
    model.compile(loss="mse", optimizer="sgd")
    rec = Recorder()
    model.fit(X, y, epochs=0, verbose=0, callbacks=[rec])
    assert rec.seen == [("train_end", {})]


@pytest.mark.parametrize("name", ["mse", "mae", "huber", "binary_crossentropy", "bce", "msle", "log_cosh", "poisson",
                                  "hinge"])
def test_targets_of_one_axis_fewer_train_as_matching_ones(be, name):
    X, y = regression()
    activation = xdl.Sigmoid() if name in ("binary_crossentropy", "bce", "poisson") else None
    figures = []
    for target in (y, y[:, None]):
        model = tiny(activation=activation)
        model.set_weights([np.full((3, 1), 0.1, np.float32), np.zeros(1, np.float32)])
        model.compile(loss=name, optimizer=xdl.SGD(0.1))
        model.fit(X, target, epochs=2, batch_size=8, shuffle=False, verbose=0)
        figures.append((model.evaluate(X, target, return_dict=True)["loss"], model.get_weights()[0]))
    assert figures[0][0] == pytest.approx(figures[1][0], rel=1e-5)
    assert_close(figures[0][1], figures[1][1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss", [xdl.MSE(), xdl.MAE(), L.Huber(), xdl.BinaryCrossEntropy(from_logits=False),
                                  L.MeanSquaredError(), L.BinaryCrossentropy(), L.LogCosh(), L.Hinge()])
def test_direct_calls_broadcast_a_unit_axis(be, loss):
    t = np.array([0.0, 1.0, 1.0, 0.0], np.float32)
    p = np.array([0.2, 0.7, 0.9, 0.4], np.float32)
    same = float(xdl.to_numpy(loss(t, p)))
    assert float(xdl.to_numpy(loss(t, p[:, None]))) == pytest.approx(same, rel=1e-6)
    assert float(xdl.to_numpy(loss(t[:, None], p))) == pytest.approx(same, rel=1e-6)
    assert float(xdl.to_numpy(loss(t[:, None], p[:, None]))) == pytest.approx(same, rel=1e-6)


def test_class_labels_keep_their_meaning(be):
    p = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]], np.float32)
    labels = np.array([1, 0])
    expected = -np.mean(np.log([0.5, 0.6]))
    for loss in (L.SparseCategoricalCrossentropy(), L.CategoricalCrossentropy(), xdl.CrossEntropy(from_logits=False)):
        assert float(xdl.to_numpy(loss(labels, p))) == pytest.approx(expected, rel=1e-5)
    # Keras's sparse loss takes (N, 1) labels too
    assert float(xdl.to_numpy(L.SparseCategoricalCrossentropy()(labels[:, None], p))) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(xdl.errors.ShapeError):
        xdl.MSE()(labels, p)


# -- Keras's formulas in NumPy, per sample ------------------------------------------------------

def np_hinge_labels(t):
    return 2 * t - 1 if np.all((t == 0) | (t == 1)) else t


def np_normalize(x):
    return x / np.maximum(np.sqrt(np.sum(x * x, -1, keepdims=True)), EPS)


def np_cce(t, p):
    q = np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS)
    return -np.sum(t * np.log(q), -1)


def np_bce(t, p):
    p = np.clip(p, EPS, 1 - EPS)
    return np.mean(-(t * np.log(p) + (1 - t) * np.log(1 - p)), -1)


def np_huber(t, p, d=1.0):
    e = np.abs(p - t)
    return np.mean(np.where(e <= d, 0.5 * e * e, d * e - 0.5 * d * d), -1)


FORMULAS = {
    "MeanSquaredError": lambda t, p: np.mean((t - p) ** 2, -1),
    "MeanAbsoluteError": lambda t, p: np.mean(np.abs(t - p), -1),
    "MeanAbsolutePercentageError": lambda t, p: 100 * np.mean(np.abs((t - p) / np.maximum(np.abs(t), EPS)), -1),
    "MeanSquaredLogarithmicError": lambda t, p: np.mean((np.log(np.maximum(p, EPS) + 1)
                                                         - np.log(np.maximum(t, EPS) + 1)) ** 2, -1),
    "Huber": np_huber,
    "LogCosh": lambda t, p: np.mean(np.log(np.cosh(p - t)), -1),
    "KLDivergence": lambda t, p: np.sum(np.clip(t, EPS, 1) * np.log(np.clip(t, EPS, 1) / np.clip(p, EPS, 1)), -1),
    "Poisson": lambda t, p: np.mean(p - t * np.log(p + EPS), -1),
    "Hinge": lambda t, p: np.mean(np.maximum(1 - np_hinge_labels(t) * p, 0), -1),
    "SquaredHinge": lambda t, p: np.mean(np.maximum(1 - np_hinge_labels(t) * p, 0) ** 2, -1),
    "CategoricalHinge": lambda t, p: np.maximum(np.max((1 - t) * p, -1) - np.sum(t * p, -1) + 1, 0),
    "CosineSimilarity": lambda t, p: -np.sum(np_normalize(t) * np_normalize(p), -1),
    "BinaryCrossentropy": np_bce,
    "CategoricalCrossentropy": np_cce,
    "SparseCategoricalCrossentropy": lambda t, p: np_cce(np.eye(p.shape[-1])[t], p),
}
FUNCTIONS = {"MeanSquaredError": "mean_squared_error", "MeanAbsoluteError": "mean_absolute_error",
             "MeanAbsolutePercentageError": "mean_absolute_percentage_error",
             "MeanSquaredLogarithmicError": "mean_squared_logarithmic_error", "Huber": "huber", "LogCosh": "log_cosh",
             "KLDivergence": "kl_divergence", "Poisson": "poisson", "Hinge": "hinge", "SquaredHinge": "squared_hinge",
             "CategoricalHinge": "categorical_hinge", "CosineSimilarity": "cosine_similarity",
             "BinaryCrossentropy": "binary_crossentropy", "CategoricalCrossentropy": "categorical_crossentropy",
             "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy"}


def fixed_input(name):
    rng = np.random.default_rng(7)
    p = rng.uniform(0.05, 0.95, (6, 4))
    if name == "SparseCategoricalCrossentropy":
        return np.array([0, 3, 1, 2, 2, 0]), p
    if name in ("CategoricalCrossentropy", "CategoricalHinge"):
        return np.eye(4)[[0, 3, 1, 2, 2, 0]], p
    if name in ("BinaryCrossentropy", "Hinge", "SquaredHinge"):
        return (rng.uniform(size=(6, 4)) > 0.5).astype(float), p
    if name == "KLDivergence":
        return rng.dirichlet(np.ones(4), 6), p / p.sum(-1, keepdims=True)
    return rng.uniform(0.1, 2.0, (6, 4)), rng.uniform(-0.5, 2.0, (6, 4)) if name != "Poisson" else p


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_keras_loss_classes_and_functions_match_the_formulas(f64, name):
    t, p = fixed_input(name)
    per_sample = FORMULAS[name](t, p)
    w = np.linspace(0.5, 2.0, 6)
    cls = getattr(L, name)
    assert cls().name == (FUNCTIONS[name] if name != "Huber" else "huber_loss")
    assert float(xdl.to_numpy(cls()(t, p))) == pytest.approx(per_sample.mean(), rel=1e-9)
    assert float(xdl.to_numpy(cls(reduction="sum")(t, p))) == pytest.approx(per_sample.sum(), rel=1e-9)
    assert float(xdl.to_numpy(cls()(t, p, sample_weight=w))) == pytest.approx((w * per_sample).mean(), rel=1e-9)
    assert float(xdl.to_numpy(cls(reduction="mean_with_sample_weight")(t, p, sample_weight=w))) == pytest.approx(
        (w * per_sample).sum() / w.sum(), rel=1e-9)
    assert_close(cls(reduction="none")(t, p), per_sample, rtol=1e-9)
    assert_close(getattr(L, FUNCTIONS[name])(t, p), per_sample, rtol=1e-9)
    # the config rebuilds an equal loss (model files)
    assert cls(**cls().get_config()).get_config() == cls().get_config()


@pytest.mark.parametrize("name", ["MeanSquaredError", "Huber", "BinaryCrossentropy", "CategoricalCrossentropy",
                                  "SparseCategoricalCrossentropy", "LogCosh", "CosineSimilarity", "Poisson"])
def test_keras_losses_are_differentiable_as_keras_formulas(f64, name):
    """The gradient of the class (fused built-in or tape) equals the gradient of the lower-case
    function through the tape, by central differences too."""
    t, p = fixed_input(name)
    cls = getattr(L, name)
    for reduction in ("sum_over_batch_size", "sum"):
        loss = cls(reduction=reduction)
        var = xdl.Variable(p)
        with xdl.GradientTape() as tape:
            value = loss(t, var)
        g = xdl.to_numpy(tape.gradient(value, var))
        h, numeric = 1e-6, np.zeros_like(p)
        for i in np.ndindex(p.shape):
            up, down = p.copy(), p.copy()
            up[i] += h
            down[i] -= h
            numeric[i] = (float(xdl.to_numpy(loss(t, up))) - float(xdl.to_numpy(loss(t, down)))) / (2 * h)
        np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-7)


def test_label_smoothing_and_logits(f64):
    t, p = fixed_input("CategoricalCrossentropy")
    s = 0.1
    smooth = t * (1 - s) + s / 4
    assert float(xdl.to_numpy(L.CategoricalCrossentropy(label_smoothing=s)(t, p))) == pytest.approx(
        np_cce(smooth, p).mean(), rel=1e-9)
    labels = np.argmax(t, -1)
    assert float(xdl.to_numpy(L.CategoricalCrossentropy(label_smoothing=s)(labels, p))) == pytest.approx(
        np_cce(smooth, p).mean(), rel=1e-9)
    z = np.log(p)
    log_softmax = z - np.log(np.exp(z).sum(-1, keepdims=True))
    assert float(xdl.to_numpy(L.CategoricalCrossentropy(from_logits=True)(t, z))) == pytest.approx(
        -(t * log_softmax).sum(-1).mean(), rel=1e-9)
    tb, pb = fixed_input("BinaryCrossentropy")
    zb = np.log(pb / (1 - pb))
    assert float(xdl.to_numpy(L.BinaryCrossentropy(from_logits=True, label_smoothing=s)(tb, zb))) == pytest.approx(
        np_bce(tb * (1 - s) + 0.5 * s, pb).mean(), rel=1e-7)
    with pytest.raises(xdl.errors.ArgumentError):
        L.SparseCategoricalCrossentropy(ignore_class=0)


KERAS_NAMES = ["mse", "mean_squared_error", "mae", "mean_absolute_error", "mape", "mean_absolute_percentage_error",
               "msle", "mean_squared_logarithmic_error", "huber", "log_cosh", "kld", "kl_divergence", "poisson",
               "hinge", "squared_hinge", "categorical_hinge", "cosine_similarity", "binary_crossentropy", "bce",
               "categorical_crossentropy", "sparse_categorical_crossentropy", "MeanSquaredError",
               "SparseCategoricalCrossentropy"]


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_compile_with_each_keras_name_trains(be, name):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 3)).astype(np.float32)
    labels = rng.integers(0, 3, 16)
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy", "SparseCategoricalCrossentropy",
                "kld", "kl_divergence", "categorical_hinge"):
        model = tiny(3, xdl.Softmax())
        y = labels if "sparse" in name.lower() else np.eye(3, dtype=np.float32)[labels]
    else:
        model = tiny(1, xdl.Sigmoid())
        y = (labels > 0).astype(np.float32)  # (N,) against (N, 1) outputs
    model.compile(loss=name, optimizer=xdl.SGD(0.05))
    history = model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
