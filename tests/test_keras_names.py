"""Issue 32: Keras's spellings and defaults beside xdl's: BatchNormalization, LayerNormalization,
layers.Input(batch_shape=...), the lower-case merge functions, LeakyReLU(negative_slope=), and
Keras's metric classes, strings and logged names. Expected values are Keras 3's documented
behaviour, worked out by hand on fixed inputs."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.helpers import assert_close, host
from xdl import layers, metrics

X = np.array([[1.0, 2.0, 0.0], [3.0, -2.0, 4.0], [5.0, 0.0, -1.0], [-1.0, 4.0, 1.0]], dtype=np.float32)


# -- normalization --------------------------------------------------------------------------------


def test_batch_normalization_has_keras_defaults_and_momentum_rule(be):
    layer = layers.BatchNormalization()
    assert (layer.axis, layer.momentum, layer.epsilon, layer.center, layer.scale) == (-1, 0.99, 1e-3, True, True)
    assert layer.name.startswith("batch_normalization")
    y = layer.forward(X, training=True)
    mean, var = X.mean(0), X.var(0)  # Keras: the biased batch variance
    assert_close(y, (X - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-5)
    # Keras: moving = moving * momentum + batch * (1 - momentum), from zeros and ones
    assert_close(layer.moving_mean.value, 0.01 * mean, rtol=1e-4, atol=1e-6)
    assert_close(layer.moving_var.value, 0.99 + 0.01 * var, rtol=1e-4)
    y_eval = layer.forward(X, training=False)
    assert_close(y_eval, (X - 0.01 * mean) / np.sqrt(0.99 + 0.01 * var + 1e-3), rtol=1e-4, atol=1e-5)
    assert [p.name for p in layer.parameters()] == ["gamma", "beta", "moving_mean", "moving_variance"]


def test_xdl_names_keep_their_defaults():
    assert xdl.BatchNorm().momentum == 0.9 and xdl.BatchNorm().epsilon == 1e-3
    assert xdl.LayerNorm().epsilon == 1e-5
    assert xdl.LeakyReLU().alpha == 0.3  # a Keras name: Keras's default (activation="leaky_relu" keeps 0.01)


def test_layer_normalization_has_keras_defaults(be):
    layer = layers.LayerNormalization()
    assert (layer.axis, layer.epsilon, layer.center, layer.scale) == (-1, 1e-3, True, True)
    mean, var = X.mean(-1, keepdims=True), X.var(-1, keepdims=True)
    assert_close(layer.forward(X), (X - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls", [layers.BatchNormalization, layers.LayerNormalization])
def test_center_and_scale_false_leave_out_beta_and_gamma(be, cls):
    layer = cls(center=False, scale=False)
    y = layer.forward(X, training=True)
    assert [p.name for p in layer.parameters() if p.trainable] == []
    axis = 0 if cls is layers.BatchNormalization else -1
    mean, var = X.mean(axis, keepdims=True), X.var(axis, keepdims=True)
    assert_close(y, (X - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-5)
    shifted = cls(center=True, scale=False, beta_initializer="ones")
    assert_close(shifted.forward(X, training=True), host(y) + 1.0, rtol=1e-4, atol=1e-5)
    assert [p.name for p in shifted.parameters() if p.trainable] == ["beta"]


def test_normalization_axis_last_is_accepted_other_axes_are_refused(be):
    x = np.ones((2, 3, 4), dtype=np.float32)
    layers.BatchNormalization(axis=2).forward(x)  # the last axis, counting the batch axis as 0
    layers.LayerNormalization(axis=[-1]).forward(x)
    with pytest.raises(xdl.ArgumentError, match=r"\(BatchNormalization\): axis=1 is not the last axis"):
        layers.BatchNormalization(axis=1).forward(x)
    with pytest.raises(xdl.ArgumentError, match=r"axis=-2 is not supported"):
        layers.LayerNormalization(axis=-2)
    with pytest.raises(xdl.ArgumentError, match=r"axis=\[1, 2\] is not supported"):
        layers.LayerNormalization(axis=[1, 2])
    with pytest.raises(xdl.ArgumentError, match="synchronized=True"):
        layers.BatchNormalization(synchronized=True)
    with pytest.raises(xdl.ArgumentError, match="rms_scaling=True"):
        layers.LayerNormalization(rms_scaling=True)
    with pytest.raises(xdl.ArgumentError, match="gamma_constraint"):
        layers.BatchNormalization(gamma_constraint="non_neg")
    with pytest.raises(xdl.ArgumentError, match="beta_initializer"):
        layers.LayerNormalization(beta_initializer="nope")


# -- Input, merges, LeakyReLU ---------------------------------------------------------------------


def test_input_takes_keras_keywords():
    assert layers.Input is xdl.Input
    assert xdl.Input(batch_shape=(None, 4)).shape == (None, 4) == xdl.Input(shape=(4,)).shape
    assert xdl.Input(batch_shape=(8, 2, 3), batch_size=8).shape == (8, 2, 3)
    assert xdl.Input((2, 3), batch_size=8).sample_shape == (2, 3)
    assert xdl.Input(shape=(5,), batch_size=3, dtype="int64", name="tokens").name == "tokens"
    with pytest.raises(xdl.ArgumentError, match="sparse=True is not supported"):
        xdl.Input(shape=(3,), sparse=True)
    with pytest.raises(xdl.ArgumentError, match="not both"):
        xdl.Input(shape=(3,), batch_shape=(None, 3))
    with pytest.raises(xdl.ArgumentError, match="pass shape="):
        xdl.Input()
    with pytest.raises(xdl.ArgumentError, match="disagree"):
        xdl.Input(batch_shape=(4, 3), batch_size=2)


MERGES = [(layers.add, lambda a, b: a + b), (layers.subtract, lambda a, b: a - b),
          (layers.multiply, lambda a, b: a * b), (layers.average, lambda a, b: (a + b) / 2),
          (layers.maximum, np.maximum), (layers.minimum, np.minimum),
          (layers.concatenate, lambda a, b: np.concatenate([a, b], axis=-1))]


@pytest.mark.parametrize("merge,expected", MERGES, ids=[m.__name__ for m, _ in MERGES])
def test_merge_functions_on_data_and_on_symbolic_tensors(be, merge, expected):
    a, b = X, X[::-1] * 0.5
    assert_close(merge([a, b]), expected(a, b), rtol=1e-6)
    x, y = xdl.Input((3,)), xdl.Input((3,))
    out = merge([x, y])
    assert isinstance(out, xdl.SymbolicTensor)
    model = xdl.Model([x, y], out)
    assert_close(model.predict([a, b], verbose=0), expected(a, b), rtol=1e-6)


def test_concatenate_axis_and_layer_kwargs(be):
    a = np.ones((2, 3, 4), dtype=np.float32)
    assert layers.concatenate([a, a], axis=1).shape == (2, 6, 4)
    x = xdl.Input((3, 4))
    assert layers.concatenate([x, x], axis=1, name="joined").shape == (None, 6, 4)


def test_leaky_relu_takes_negative_slope(be):
    x = np.array([[-2.0, 3.0]], dtype=np.float32)
    assert_close(xdl.LeakyReLU(negative_slope=0.3).forward(x), [[-0.6, 3.0]], rtol=1e-6)
    assert_close(xdl.LeakyReLU(0.3).forward(x), [[-0.6, 3.0]], rtol=1e-6)  # positional, as Keras's
    assert_close(xdl.LeakyReLU(alpha=0.2).forward(x), [[-0.4, 3.0]], rtol=1e-6)
    assert_close(xdl.LeakyReLU().forward(x), [[-0.6, 3.0]], rtol=1e-6)  # Keras's default slope, 0.3
    dense = xdl.Dense(1, activation="leaky_relu", kernel_initializer="ones", use_bias=False)
    assert_close(dense.forward(np.array([[-2.0]], np.float32)), [[-0.02]], rtol=1e-6)  # saved models' slope, 0.01
    assert xdl.LeakyReLU(negative_slope=0.3).negative_slope == 0.3
    assert xdl.LeakyReLU(alpha=0.3, negative_slope=0.3).alpha == 0.3
    with pytest.raises(xdl.ArgumentError, match="disagree"):
        xdl.LeakyReLU(alpha=0.1, negative_slope=0.3)
    with pytest.raises(xdl.ArgumentError, match="negative_slope"):
        xdl.LeakyReLU(negative_slope=float("nan"))


# -- metrics --------------------------------------------------------------------------------------

PROBS = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3]], dtype=np.float32)
LABELS = np.array([1, 2, 2, 0])  # right, wrong, right, wrong; top-2 right, wrong, right, right


def figure(be, metric, y_true, y_pred):
    return float(host(metric(be.asarray(y_true), be.asarray(y_pred))))


def test_keras_metric_classes_on_fixed_inputs(be):
    one_hot = np.eye(3, dtype=np.float32)[LABELS]
    assert figure(be, metrics.SparseCategoricalAccuracy(), LABELS, PROBS) == pytest.approx(0.5)
    assert figure(be, metrics.SparseCategoricalAccuracy(), LABELS[:, None], PROBS) == pytest.approx(0.5)
    assert figure(be, metrics.CategoricalAccuracy(), one_hot, PROBS) == pytest.approx(0.5)
    assert figure(be, metrics.TopKCategoricalAccuracy(k=2), one_hot, PROBS) == pytest.approx(0.75)
    assert figure(be, metrics.SparseTopKCategoricalAccuracy(k=2), LABELS, PROBS) == pytest.approx(0.75)
    assert figure(be, metrics.SparseTopKCategoricalAccuracy(), LABELS, PROBS) == pytest.approx(1.0)  # k=5
    binary_true = np.array([[1.0], [0.0], [1.0], [0.0]], dtype=np.float32)
    binary_pred = np.array([[0.7], [0.6], [0.4], [0.2]], dtype=np.float32)
    assert figure(be, metrics.BinaryAccuracy(), binary_true, binary_pred) == pytest.approx(0.5)
    assert figure(be, metrics.BinaryAccuracy(), binary_true[:, 0], binary_pred) == pytest.approx(0.5)
    assert figure(be, metrics.BinaryAccuracy(threshold=0.65), binary_true, binary_pred) == pytest.approx(0.75)
    assert figure(be, metrics.MeanAbsoluteError(), [[1.0, 2.0]], [[2.0, 4.0]]) == pytest.approx(1.5)
    assert figure(be, metrics.MeanSquaredError(), [[1.0, 2.0]], [[2.0, 4.0]]) == pytest.approx(2.5)
    assert figure(be, metrics.RootMeanSquaredError(), [[1.0, 2.0]], [[2.0, 4.0]]) == pytest.approx(2.5 ** 0.5)
    assert figure(be, metrics.Precision(), binary_true, binary_pred) == pytest.approx(0.5)
    assert figure(be, metrics.Recall(), binary_true, binary_pred) == pytest.approx(0.5)
    assert figure(be, metrics.AUC(), binary_true, binary_pred) == pytest.approx(0.75, abs=0.01)


def test_keras_metric_class_names():
    names = {metrics.SparseCategoricalAccuracy: "sparse_categorical_accuracy",
             metrics.CategoricalAccuracy: "categorical_accuracy", metrics.BinaryAccuracy: "binary_accuracy",
             metrics.MeanAbsoluteError: "mean_absolute_error", metrics.MeanSquaredError: "mean_squared_error",
             metrics.RootMeanSquaredError: "root_mean_squared_error", metrics.AUC: "auc",
             metrics.Precision: "precision", metrics.Recall: "recall",
             metrics.TopKCategoricalAccuracy: "top_k_categorical_accuracy",
             metrics.SparseTopKCategoricalAccuracy: "sparse_top_k_categorical_accuracy"}
    for cls, name in names.items():
        assert cls().name == name
    assert metrics.MAE().name == "mae" and metrics.BinaryAccuracy().threshold == 0.5
    with pytest.raises(xdl.ArgumentError, match="from_sorted_ids"):
        metrics.SparseTopKCategoricalAccuracy(from_sorted_ids=True)


def test_metric_strings_log_under_the_string_and_survive_saving(be, tmp_path):
    x = np.random.default_rng(0).standard_normal((32, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    names = ["sparse_categorical_accuracy", "acc", "accuracy"]
    model = xdl.Sequential([xdl.Dense(units=8, activation="relu"), xdl.Dense(units=3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=names)
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert list(history.history) == ["loss", *names]
    logs = model.evaluate(x, y, return_dict=True, verbose=0)
    probs = host(model.predict(x, verbose=0))
    assert logs["sparse_categorical_accuracy"] == pytest.approx(float(np.mean(probs.argmax(1) == y)), abs=1e-6)
    assert logs["acc"] == pytest.approx(logs["sparse_categorical_accuracy"], abs=1e-6)
    model.save(tmp_path / "m.xdl")
    loaded = xdl.Model.load(tmp_path / "m.xdl")
    assert list(loaded.evaluate(x, y, return_dict=True, verbose=0)) == ["loss", *names]

    regression = ["mae", "mean_absolute_error", "mse", "mean_squared_error"]
    t = x[:, :1] * 2.0
    model = xdl.Sequential([xdl.Dense(units=1)])
    model.compile(loss="mse", optimizer="sgd", metrics=regression)
    logs = model.evaluate(x, t, return_dict=True, verbose=0)
    assert list(logs) == ["loss", *regression]
    d = host(model.predict(x, verbose=0)) - t
    assert logs["mae"] == pytest.approx(logs["mean_absolute_error"]) == pytest.approx(float(np.abs(d).mean()), rel=1e-5)
    assert logs["mse"] == pytest.approx(logs["mean_squared_error"]) == pytest.approx(float((d * d).mean()), rel=1e-5)
    model.save(tmp_path / "r.xdl")
    assert list(xdl.Model.load(tmp_path / "r.xdl").evaluate(x, t, return_dict=True, verbose=0)) == list(logs)


def test_categorical_and_binary_strings(be):
    x = np.random.default_rng(1).standard_normal((16, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[(x[:, 0] > 0).astype(np.int64)]
    model = xdl.Sequential([xdl.Dense(units=3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="sgd",
                  metrics=["categorical_accuracy", "accuracy", metrics.TopKCategoricalAccuracy(k=1)])
    logs = model.evaluate(x, y, return_dict=True, verbose=0)
    assert list(logs) == ["loss", "categorical_accuracy", "accuracy", "top_k_categorical_accuracy"]
    assert logs["categorical_accuracy"] == pytest.approx(logs["accuracy"]) == pytest.approx(
        logs["top_k_categorical_accuracy"])
    binary = xdl.Sequential([xdl.Dense(units=1, activation="sigmoid")])
    binary.compile(loss="binary_crossentropy", optimizer="sgd", metrics=["binary_accuracy"])
    t = (x[:, 0] > 0).astype(np.float32)
    logs = binary.evaluate(x, t, return_dict=True, verbose=0)
    p = host(binary.predict(x, verbose=0))[:, 0]
    assert logs["binary_accuracy"] == pytest.approx(float(np.mean((p > 0.5) == (t > 0.5))), abs=1e-6)


# -- a functional model of Keras's spellings -------------------------------------------------------


def test_functional_model_with_keras_spellings_trains_saves_and_loads(be, tmp_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    inputs = layers.Input(batch_shape=(None, 6))
    a = xdl.Dense(units=8, activation="relu")(inputs)
    b = xdl.Dense(units=8)(inputs)
    h = layers.BatchNormalization()(layers.add([a, b]))
    h = layers.LayerNormalization()(layers.concatenate([h, a]))
    h = xdl.LeakyReLU(negative_slope=0.3)(h)
    outputs = xdl.Dense(units=2, activation="softmax")(h)
    model = xdl.Model(inputs, outputs)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=xdl.Adam(0.01),
                  metrics=["sparse_categorical_accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    assert history.history["sparse_categorical_accuracy"][-1] > 0.8
    model.save(tmp_path / "keras_names.xdl")
    loaded = xdl.Model.load(tmp_path / "keras_names.xdl")
    kinds = {type(layer).__name__ for layer in loaded.layers}
    assert {"BatchNormalization", "LayerNormalization", "Add", "Concatenate", "LeakyReLU"} <= kinds
    bn = next(layer for layer in loaded.layers if type(layer).__name__ == "BatchNormalization")
    assert bn.momentum == 0.99 and bn.epsilon == 1e-3
    assert_close(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert loaded.evaluate(x, y, return_dict=True, verbose=0) == pytest.approx(
        model.evaluate(x, y, return_dict=True, verbose=0), rel=1e-5)
