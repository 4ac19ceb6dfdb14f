"""Layers written Keras's way (``build`` with ``add_weight``, ``call`` with xdl.ops): their
gradients from the tape against finite differences (float64) on every backend, in
Sequential, functional and nested models, saved and loaded; sublayers tracked; a built-in layer
inside ``call`` keeps its own backward; Keras's weights API; errors."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.gradcheck import check_gradients
from tests.helpers import assert_close, host
from xdl import ops


@xdl.register_layer
class Linear(xdl.Layer):
    """A Dense written by a user."""

    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.activation = units, activation

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs):
        y = ops.matmul(inputs, self.kernel) + self.bias
        return ops.tanh(y) if self.activation == "tanh" else y

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation}


@xdl.register_layer
class Residual(xdl.Layer):
    """Sublayers as attributes (a user's and a built-in), a weight of its own."""

    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.inner = Linear(units, activation="tanh")
        self.dense = xdl.Dense(units=units)
        self.units = units

    def build(self, input_shape):
        super().build(input_shape)  # Keras's no-op: allowed
        self.gate = self.add_weight(shape=(1,), initializer="ones", name="gate")

    def call(self, x, training=None):
        h = self.dense(self.inner(x))
        return x[..., :self.units] + self.gate * ops.softmax(h, axis=-1) * ops.sigmoid(h)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_custom_layer_gradients_match_finite_differences(be):
    with xdl.use_floatx("float64"):
        layer = Linear(4, activation="tanh")
        check_gradients(layer, np.random.default_rng(0).standard_normal((5, 3)), be)


def test_nested_sublayers_and_builtin_inside_call(be):
    with xdl.use_floatx("float64"):
        layer = Residual(3)
        check_gradients(layer, np.random.default_rng(1).standard_normal((4, 3)), be)
    names = [p.name for p in layer.trainable_weights]
    assert set(names) == {"gate", "kernel", "bias", "weights"}
    assert list(layer.named_parameters()) == ["gate", "inner/kernel", "inner/bias", "dense/weights", "dense/bias"]


def test_keras_build_gets_the_batch_axis():
    seen = []

    class Probe(xdl.Layer):
        def build(self, input_shape):
            seen.append(input_shape)

        def call(self, x):
            return x * 2.0

    Probe()(np.ones((2, 5, 3), dtype=np.float32))
    assert seen == [(None, 5, 3)]


def test_custom_layers_train_in_sequential_and_functional_models(be):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((64, 3)).astype(np.float32)
    y = (X @ np.array([[1.0], [-2.0], [0.5]])).astype(np.float32)
    xdl.seed(0)
    seq = xdl.Sequential([Linear(8, activation="tanh"), Linear(1)])
    seq.compile(loss="mse", optimizer=xdl.Adam(0.02))
    losses = seq.fit(X, y, epochs=25, verbose=0).history["loss"]
    assert losses[-1] < 0.2 * losses[0]
    inputs = xdl.Input(shape=(3,))
    model = xdl.Model(inputs, Linear(1)(Residual(3)(inputs)))
    model.compile(loss="mse", optimizer=xdl.Adam(0.02))
    losses = model.fit(X, y, epochs=25, verbose=0).history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert tuple(model.predict(X[:2]).shape) == (2, 1)


def test_custom_layers_save_and_load(be, tmp_path):
    inputs = xdl.Input(shape=(3,))
    model = xdl.Model(inputs, Linear(2)(Residual(3)(inputs)))
    X = np.random.default_rng(3).standard_normal((4, 3)).astype(np.float32)
    before = host(model.predict(X))
    model.save(tmp_path / "m.xdl")
    back = xdl.Model.load(tmp_path / "m.xdl")
    assert_close(back.predict(X), before, rtol=0, atol=0)


def test_output_shape_is_inferred_without_compute_output_shape():
    class Pairs(xdl.Layer):
        def call(self, x):
            return ops.concat([x, x], axis=-1)[:, :, :5]

    out = Pairs()(xdl.Input(shape=(None, 4)))
    assert out.shape == (None, None, 5)  # Keras's: the batch axis first


class Penalized(Linear):
    def call(self, inputs):
        self.add_loss(0.5 * ops.sum(ops.square(self.kernel)))
        return super().call(inputs)


def test_add_loss_joins_the_gradients_and_the_logged_loss(be):
    X = np.random.default_rng(5).standard_normal((8, 3))
    with xdl.use_floatx("float64"):
        layer = Penalized(2)
        layer.forward(X)  # builds it
        y, backprop = layer.apply(be.asarray(X, dtype=be.xp.float64), True)
        layer.zero_grad()
        backprop(be.xp.zeros_like(y))  # no gradient from the output: the penalty's alone
        assert_close(layer.kernel.grad, host(layer.kernel.value), rtol=1e-12, atol=0)
        assert len(layer.losses) == 1
        penalty = 0.5 * float(np.sum(host(layer.kernel.value) ** 2))
        assert float(host(layer.losses[0])) == pytest.approx(penalty)
        model = xdl.Sequential([layer])
        model.compile(loss="mse", optimizer="sgd")
        logged = model.evaluate(X, np.zeros((8, 2)))
        mse = float(np.mean(host(model.predict(X)) ** 2))
        assert logged == pytest.approx(mse + penalty)


def test_frozen_custom_layer_freezes_its_sublayers():
    layer = Residual(3)
    layer(np.ones((2, 3), dtype=np.float32))
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 5
    assert not layer.inner.trainable and not layer.dense.trainable


def test_weights_api_names_keras_lists():
    layer = Linear(2)
    layer(np.ones((1, 3), dtype=np.float32))
    assert [v.name for v in layer.weights] == ["kernel", "bias"]
    assert layer.variables == layer.weights and layer.trainable_variables == layer.trainable_weights
    assert all(isinstance(v, xdl.Variable) for v in layer.weights)
    state = xdl.Layer()
    counter = state.add_weight(shape=(), initializer="zeros", trainable=False, name="count")
    counter.assign_add(3.0)
    assert float(counter.numpy()) == 3.0 and state.non_trainable_weights == [counter]


def test_a_layer_without_call_or_apply_is_refused_by_name():
    class Empty(xdl.Layer):
        pass

    with pytest.raises(xdl.MissingMethodError, match=r"Empty must define call\(inputs\)"):
        Empty()(np.ones((2, 3), dtype=np.float32))


def test_add_weight_errors_name_the_layer():
    layer = Linear(2, name="lin")
    layer.add_weight(shape=(2,), name="w")
    with pytest.raises(xdl.ArgumentError, match="lin .*'w' .*exists|lin .*new str"):
        layer.add_weight(shape=(2,), name="w")
    with pytest.raises(xdl.XdlError):
        layer.add_weight(shape=(2,), dtype="complex64")
