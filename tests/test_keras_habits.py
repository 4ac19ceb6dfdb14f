"""Habits brought from Keras (and PyTorch) work, or fail with an error that says what to write:
``trainable = False``, ``activation=``, ``units=``, the pooling aliases, ``fit(x=...)``,
``get_weights``/``set_weights``, channels-first images, ``metrics="accuracy"``."""

from __future__ import annotations

import re

import numpy as np
import pytest

import xdl
from helpers import assert_close, check_layer_gradients, host


def data(n=32, features=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, features)).astype(np.float32)
    y = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, n)]
    return X, y


def totals(model):
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    return tuple(int(re.search(rf"{kind} params: ([\d,]+)", text).group(1).replace(",", ""))
                 for kind in ("Total", "Trainable", "Non-trainable"))


# -- 1. trainable = False ----------------------------------------------------------------------------
def test_frozen_layer_is_not_trained_and_the_others_are(be):
    X, y = data()
    first, middle, last = (xdl.Dense(output_size=8, name="first"), xdl.Dense(output_size=8, name="middle"),
                           xdl.Dense(output_size=3, name="last"))
    model = xdl.Sequential([first, xdl.Tanh(), middle, xdl.Tanh(), last])
    model.predict(X)  # built
    middle.trainable = False
    assert middle.trainable is False and not any(p.trainable for p in middle.parameters())
    assert len(model.trainable_parameters()) == 4
    before = [w.copy() for w in model.get_weights()]
    model.compile(loss="mse", optimizer=xdl.SGD(0.1))
    model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    after = model.get_weights()
    changed = [not np.array_equal(b, a) for b, a in zip(before, after)]
    assert changed == [True, True, False, False, True, True]
    model.forward(X, training=True)
    model.backward(np.ones((len(X), 3), np.float32))
    assert middle.W.grad is None and middle.b.grad is None and first.W.grad is not None
    assert totals(model) == (139, 67, 72)
    middle.trainable = True
    assert len(model.trainable_parameters()) == 6 and totals(model)[2] == 0


def test_trainable_set_before_build_is_remembered(be):
    dense = xdl.Dense(output_size=3)
    dense.trainable = False
    dense.forward(np.ones((2, 5)))
    assert dense.trainable is False and [p.trainable for p in dense.parameters()] == [False, False]
    rnn = xdl.LSTM(hidden_size=2)
    rnn.trainable = False
    rnn.forward(np.ones((2, 3, 4)))
    assert rnn.parameters() and not any(p.trainable for p in rnn.parameters())
    with pytest.raises(TypeError, match="trainable must be True or False"):
        dense.trainable = "no"


def test_frozen_nested_model_and_frozen_model(be):
    X, y = data()
    base = xdl.Sequential([xdl.Dense(output_size=6), xdl.BatchNorm(), xdl.ReLU()], name="base")
    inputs = xdl.Input(shape=(4,))
    head = xdl.Dense(output_size=3, name="head")
    model = xdl.Model(inputs=inputs, outputs=head(base(inputs)))
    base.trainable = False
    assert all(not layer.trainable for layer in base.layers)
    assert totals(model) == (30 + 24 + 21, 21, 54)
    before = base.get_weights()
    model.compile(loss="mse", optimizer="adam")
    model.fit(x=X, y=y, epochs=2, batch_size=8, verbose=0)
    for b, a in zip(before, base.get_weights()):  # BatchNorm's moving statistics too: it is frozen
        np.testing.assert_array_equal(b, a)
    assert not np.array_equal(host(head.W.value), 0)
    model.trainable = False
    assert model.trainable_parameters() == [] and totals(model)[1] == 0
    model.trainable = True
    assert len(model.trainable_parameters()) == 6  # the moving statistics stay state


def test_frozen_batchnorm_normalizes_with_its_moving_statistics(be):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 3)) * 3 + 2
    bn = xdl.BatchNorm()
    bn.forward(x, training=True)  # moves the statistics once
    bn.trainable = False
    mean = host(bn.moving_mean.value).copy()
    assert_close(bn.forward(x, training=True), bn.forward(x, training=False))
    np.testing.assert_array_equal(host(bn.moving_mean.value), mean)
    bn.trainable = True
    assert bn.gamma.trainable and not bn.moving_mean.trainable and not bn.moving_var.trainable
    with pytest.raises(ValueError, match="state"):
        bn.moving_mean.trainable = True


def test_trainable_survives_save_and_load(be, tmp_path):
    X, _ = data()
    model = xdl.Sequential([xdl.Dense(output_size=5, name="frozen"), xdl.BatchNorm(name="bn"),
                            xdl.Dense(output_size=2, name="free")])
    model.predict(X)
    model.get_layer("frozen").trainable = False
    model.get_layer("bn").trainable = False
    model.save(tmp_path / "m.xdl")
    loaded = xdl.Model.load(tmp_path / "m.xdl")
    assert [layer.trainable for layer in loaded.layers] == [False, False, True]
    assert totals(loaded) == totals(model)
    assert "trainable" not in model.get_layer("free").get_config()  # configs of trainable layers unchanged
    layer = xdl.Dense.from_config({**xdl.Dense(output_size=2).get_config(), "trainable": False})
    assert layer.trainable is False

    model.trainable = False
    inputs = xdl.Input(shape=(4,))
    outer = xdl.Model(inputs=inputs, outputs=xdl.Dense(output_size=1, name="top")(model(inputs)))
    outer.save(tmp_path / "outer.xdl")
    back = xdl.Model.load(tmp_path / "outer.xdl")
    nested = back.layers[0]
    assert nested.trainable is False and back.trainable is True
    assert all(not layer.trainable for layer in nested.layers) and back.get_layer("top").trainable


# -- 2. activation= and Activation ---------------------------------------------------------------------
@pytest.mark.parametrize("name, layer", [("relu", xdl.ReLU), ("sigmoid", xdl.Sigmoid), ("tanh", xdl.Tanh),
                                         ("softmax", xdl.Softmax), ("leaky_relu", xdl.LeakyReLU)])
def test_dense_activation_is_the_layer_after_it(be, name, layer):
    x = np.random.default_rng(2).standard_normal((5, 4))
    dense = xdl.Dense(output_size=3, activation=name)
    plain = xdl.Dense(input_size=4, output_size=3)
    y = dense.forward(x)
    plain.set_weights(dense.get_weights())
    assert_close(y, layer().forward(plain.forward(x)), rtol=1e-6)
    assert_close(xdl.Activation(name).forward(plain.forward(x)), y, rtol=1e-6)
    assert dense.get_config()["activation"] == name


@pytest.mark.parametrize("name", ["sigmoid", "softmax", "linear"])
def test_activation_gradients(be, name):
    x = np.random.default_rng(3).standard_normal((3, 5, 5, 2))
    check_layer_gradients(xdl.Conv2D(output_channels=3, kernel_size=3, activation=name, dtype="float64"), x, be)
    check_layer_gradients(xdl.Dense(output_size=3, activation=name, dtype="float64"), x[:, 0, 0, :], be)
    check_layer_gradients(xdl.Activation(name, dtype="float64"), x, be)


def test_activations_are_saved_and_unknown_names_listed(be, tmp_path):
    model = xdl.Sequential([xdl.Conv2D(output_channels=2, kernel_size=3, activation="relu"), xdl.Flatten(),
                            xdl.Dense(units=4, activation="tanh"), xdl.Activation("softmax")])
    x = np.random.default_rng(4).standard_normal((2, 5, 5, 1))
    expected = host(model.predict(x))
    model.save(tmp_path / "m.xdl")
    loaded = xdl.Model.load(tmp_path / "m.xdl")
    assert_close(loaded.predict(x), expected, rtol=1e-6)
    assert [getattr(layer, "activation", None) for layer in loaded.layers] == ["relu", None, "tanh", "softmax"]
    assert_close(np.sum(expected, axis=-1), np.ones(2), rtol=1e-6)
    for make in (lambda: xdl.Dense(units=2, activation="gelu_new"), lambda: xdl.Activation("swishy"),
                 lambda: xdl.Conv2D(filters=2, kernel_size=1, activation="Relu")):
        with pytest.raises(ValueError, match=r"unknown activation .*'relu'.*'softmax'"):
            make()


def test_recurrent_activation(be):
    x = np.random.default_rng(5).standard_normal((2, 4, 3))
    for name in ("relu", "sigmoid", "linear", "leaky_relu"):
        rnn = xdl.SimpleRNN(hidden_size=3, activation=name, return_sequences=True, dtype="float64")
        check_layer_gradients(rnn, x, be)
        assert rnn.get_config()["activation"] == name
    linear = xdl.SimpleRNN(hidden_size=2, activation="linear", input_size=3)
    cell = linear.cell
    h = np.zeros((2, 2), np.float32)
    for t in range(4):
        h = x[:, t, :] @ host(cell.kernel.value) + h @ host(cell.recurrent_kernel.value) + host(cell.bias.value)
    assert_close(linear.forward(x), h, rtol=1e-5, atol=1e-6)
    for kind in (xdl.SimpleRNN, xdl.LSTM, xdl.GRU):
        assert kind(hidden_size=2, activation="tanh").get_config()["activation"] == "tanh"
    for kind in (xdl.LSTM, xdl.GRU):
        with pytest.raises(ValueError, match=r"activation='relu' is not supported.*'tanh'"):
            kind(hidden_size=2, activation="relu")


# -- 3. units=, and Keras's positional arguments ------------------------------------------------------------
def test_dense_units_and_the_positional_trap():
    assert xdl.Dense(units=7).output_size == 7 and xdl.Dense(units=7).units == 7
    assert xdl.Dense(units=7, output_size=7).output_size == 7
    with pytest.raises(ValueError, match="disagree"):
        xdl.Dense(units=7, output_size=8)
    with pytest.raises(TypeError, match=r"first positional argument is input_size.*Dense\(output_size=128\)"
                                        r".*Dense\(units=128\)"):
        xdl.Dense(128)
    with pytest.raises(TypeError, match=r"input_channels=16, output_channels=3.*Conv2D\(output_channels=16, "
                                        r"kernel_size=3\).*filters=16"):
        xdl.Conv2D(16, 3)


# -- 4. pooling aliases --------------------------------------------------------------------------------------
def test_keras_pooling_names_save_and_load(be, tmp_path):
    assert xdl.MaxPooling2D is xdl.MaxPool2D and xdl.AveragePooling2D is xdl.AvgPool2D
    model = xdl.Sequential([xdl.MaxPooling2D(2), xdl.AveragePooling2D(pool_size=2), xdl.Flatten()])
    x = np.random.default_rng(6).standard_normal((2, 8, 8, 3))
    assert tuple(model.predict(x).shape) == (2, 12)
    model.save(tmp_path / "m.xdl")
    assert_close(xdl.Model.load(tmp_path / "m.xdl").predict(x), model.predict(x))


# -- 5. fit(x=...), predict/evaluate(verbose=0) -----------------------------------------------------------
def test_keras_keywords_of_fit_predict_evaluate(be):
    X, y = data()
    model = xdl.Sequential([xdl.Dense(units=8, activation="relu"), xdl.Dense(units=3)])
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer="adam", metrics="accuracy")
    history = model.fit(x=X, y=y, epochs=2, batch_size=8, verbose=0)
    assert "accuracy" in history.history
    assert_close(model.predict(X, verbose=0), model(X), rtol=1e-5, atol=1e-6)
    assert_close(model.predict(x=X, batch_size=8, verbose=1), model.predict(X))
    loss, accuracy = model.evaluate(x=X, y=y, verbose=0)
    assert 0 <= accuracy <= 1 and loss == pytest.approx(model.evaluate(X, y)[0], rel=1e-5)
    with pytest.raises(ValueError, match="verbose"):
        model.predict(X, verbose=5)


# -- 6. get_weights / set_weights ---------------------------------------------------------------------------
def test_get_and_set_weights(be):
    model = xdl.Sequential([xdl.Dense(input_size=3, output_size=2, name="d"), xdl.BatchNorm(name="bn")])
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(3, 2), (2,), (2,), (2,), (2,), (2,)]
    assert all(isinstance(w, np.ndarray) for w in weights)
    new = [np.full(w.shape, k, dtype=np.float64) for k, w in enumerate(weights)]
    model.set_weights(new)
    for k, w in enumerate(model.get_weights()):
        assert w.dtype == np.float32 and np.all(w == k)
    new[0][...] = 99  # set_weights copied
    assert model.get_weights()[0][0, 0] == 0
    assert [w.shape for w in model.get_layer("d").get_weights()] == [(3, 2), (2,)]
    model.get_layer("d").set_weights([np.ones((3, 2)), np.ones(2)])
    assert_close(model.get_layer("d").W.value, np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"list of 6 arrays.*got 5"):
        model.set_weights(new[:5])
    bad = new[:4] + [np.ones(3)] + new[5:]
    with pytest.raises(ValueError, match=r"bn/moving_mean has shape \(2,\), got an array of shape \(3,\)"):
        model.set_weights(bad)
    assert model.get_weights()[4][0] == 4  # nothing half set


# -- 7. channels-first images -------------------------------------------------------------------------------
def test_channels_first_images_are_recognized(be):
    x = np.zeros((2, 1, 28, 28), np.float32)
    hint = r"channels-last \(N, H, W, C\).*x\.transpose\(0, 2, 3, 1\).*x\.permute\(0, 2, 3, 1\)"
    with pytest.raises(xdl.ShapeError, match=hint):
        xdl.Conv2D(input_channels=1, output_channels=4, kernel_size=3, padding="same").forward(x)
    conv = xdl.Conv2D(output_channels=4, kernel_size=3)
    conv.forward(np.zeros((2, 8, 8, 3)))
    pool = xdl.MaxPooling2D()
    pool.forward(np.zeros((2, 8, 8, 3)))
    gap = xdl.GlobalAveragePooling2D()
    gap.forward(np.zeros((2, 8, 8, 3)))
    for layer in (conv, pool, gap):
        with pytest.raises(xdl.ShapeError, match=hint):
            layer.forward(np.zeros((2, 3, 8, 8)))
    model = xdl.Sequential([xdl.Conv2D(input_channels=1, output_channels=2, kernel_size=3), xdl.Flatten()])
    with pytest.raises(xdl.ShapeError, match=hint):
        model.predict(x)
    assert tuple(pool.forward(np.zeros((2, 6, 6, 5))).shape) == (2, 3, 3, 5)  # pooling takes other channels


# -- 8. metrics="accuracy" -----------------------------------------------------------------------------------
def test_one_metric_as_a_string(be):
    X, y = data()
    model = xdl.Sequential([xdl.Dense(units=3)])
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer="sgd", metrics="accuracy")
    assert len(model.metrics) == 1
    scores = model.evaluate(X, y, return_dict=True)
    assert set(scores) == {"loss", "accuracy"}
