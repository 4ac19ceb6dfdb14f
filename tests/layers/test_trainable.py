"""``layer.trainable = False`` as in Keras: a frozen layer (or nested model) gets no gradient and
no update, the summary counts its weights as non-trainable, and files keep the flag."""

from __future__ import annotations

import re

import numpy as np
import pytest

import xdl
from tests.helpers import host


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
