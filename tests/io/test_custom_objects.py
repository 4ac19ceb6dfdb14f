"""A model compiled with a loss or a metric of the user's own (a function or a class) saves,
and loads back with Keras's ``custom_objects``; without them the error says what to pass."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.helpers import assert_close
from xdl import ops


def halved_squares(y_true, y_pred):
    return 0.5 * ops.mean(ops.square(y_pred - y_true), axis=-1)


def gap(y_true, y_pred):
    return ops.abs(y_pred - y_true)


class Doubled(xdl.losses.Loss):
    def call(self, y_true, y_pred):
        return 2.0 * ops.square(y_pred - y_true)


@xdl.register_layer  # saving checks that a layer's class can be found again
class Scale(xdl.Layer):
    def build(self, input_shape):
        self.s = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="s")

    def call(self, x):
        return x * self.s


@pytest.mark.parametrize("loss", [halved_squares, Doubled()], ids=["function", "class"])
def test_user_objects_load_back_with_custom_objects(be, tmp_path, loss):
    X = np.random.default_rng(0).random((16, 3)).astype(np.float32)
    model = xdl.Sequential([xdl.Dense(2, input_size=3), Scale(), xdl.Dense(units=1)])
    model.compile(loss=loss, optimizer="adam", metrics=[gap])
    model.fit(X, X[:, :1], epochs=2, verbose=0)
    path = tmp_path / "m.xdl"
    model.save(path)
    with pytest.raises(xdl.ModelFileError, match="custom_objects"):
        xdl.Model.load(path)
    custom = {"halved_squares": halved_squares, "gap": gap, "Doubled": Doubled}
    back = xdl.Model.load(path, custom_objects=custom)
    assert back.evaluate(X, X[:, :1], return_dict=True) == pytest.approx(model.evaluate(X, X[:, :1], return_dict=True))
    assert_close(back.predict(X), model.predict(X), rtol=0, atol=0)


def test_custom_objects_must_be_a_dict(tmp_path):
    with pytest.raises(xdl.ArgumentTypeError, match="custom_objects must be a dict"):
        xdl.Model.load(tmp_path / "none.xdl", custom_objects=[halved_squares])
