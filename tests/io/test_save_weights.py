"""Keras's ``save_weights``/``load_weights``: by name, or by order and shape for a model made
again (its layers named anew); a subclassed model's way of saving; mismatches refused whole."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.helpers import assert_close

X = np.random.default_rng(0).random((8, 3)).astype(np.float32)


class Small(xdl.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = xdl.Dense(units=4, activation="relu")
        self.out = xdl.Dense(units=1)

    def call(self, x):
        return self.out(self.hidden(x))


def test_a_subclassed_model_round_trips_its_weights(be, tmp_path):
    model = Small()
    model.compile(loss="mse", optimizer="adam")
    model.fit(X, X[:, :1], epochs=2, verbose=0)
    model.save_weights(tmp_path / "small.weights")
    again = Small()
    with pytest.raises(xdl.NotBuiltError, match="call it on data first"):
        again.load_weights(tmp_path / "small.weights")
    again.predict(X[:1])
    again.load_weights(tmp_path / "small.weights")
    assert_close(again.predict(X), model.predict(X), rtol=0, atol=0)
    with pytest.raises(xdl.ModelFileError, match="save_weights"):
        model.save(tmp_path / "small.xdl")


@pytest.mark.parametrize("how", ["save_weights", "save"])
def test_a_model_made_again_reads_weights_by_order(be, tmp_path, how):
    def make():
        return xdl.Sequential([xdl.Dense(2, input_size=3), xdl.ReLU(), xdl.Dense(1, input_size=2)])

    model = make()
    model.predict(X[:1])
    getattr(model, how)(tmp_path / "w.xdl")
    again = make()  # its Dense layers have new automatic names
    again.load_weights(tmp_path / "w.xdl")
    assert_close(again.predict(X), model.predict(X), rtol=0, atol=0)


def test_weights_that_do_not_fit_are_refused_whole(be, tmp_path):
    model = xdl.Sequential([xdl.Dense(2, input_size=3)])
    model.save_weights(tmp_path / "w.xdl")
    other = xdl.Sequential([xdl.Dense(5, input_size=3)])
    before = other.get_weights()
    with pytest.raises(xdl.ModelFileError, match="do not match the model's"):
        other.load_weights(tmp_path / "w.xdl")
    assert all(np.array_equal(a, b) for a, b in zip(other.get_weights(), before))
