"""Keras's small layers: TimeDistributed, RepeatVector, Permute, Identity, Lambda,
SpatialDropout1D/2D and GaussianNoise: outputs, gradients (finite differences), files."""

import numpy as np
import pytest

import xdl
from xdl import layers, ops
from tests.gradcheck import check_gradients
from tests.helpers import assert_close, host

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("make, shape", [
    (lambda: layers.TimeDistributed(layers.Dense(2, activation="tanh", dtype="float64")), (2, 4, 3)),
    (lambda: layers.TimeDistributed(layers.Conv1D(2, 2, dtype="float64")), (2, 3, 5, 2)),
    (lambda: layers.RepeatVector(3, dtype="float64"), (2, 4)),
    (lambda: layers.Permute((2, 1), dtype="float64"), (2, 4, 3)),
    (lambda: layers.Permute((3, 1, 2), dtype="float64"), (2, 2, 3, 4)),
    (lambda: layers.Identity(dtype="float64"), (2, 3)),
    (lambda: layers.Lambda(lambda t: ops.tanh(t) * ops.mean(t, axis=-1, keepdims=True), dtype="float64"), (2, 3)),
])
def test_gradients(be, make, shape):
    check_gradients(make(), RNG.standard_normal(shape), be)


def test_outputs_are_keras_definitions(be):
    x = RNG.standard_normal((2, 4, 3)).astype(np.float32)
    dense = layers.Dense(5)
    wrapped = layers.TimeDistributed(dense)
    y = host(wrapped.forward(x))
    assert_close(y, np.stack([host(dense.forward(x[:, t])) for t in range(4)], axis=1), rtol=1e-5)
    assert_close(layers.RepeatVector(2).forward(x[:, 0]), np.repeat(x[:, None, 0], 2, axis=1))
    assert_close(layers.Permute((2, 1)).forward(x), x.transpose(0, 2, 1))
    assert wrapped.count_params() == 3 * 5 + 5 and len(wrapped.trainable_weights) == 2


def test_in_models_trained_saved_and_loaded(be, tmp_path):
    x = RNG.standard_normal((16, 6, 3)).astype(np.float32)
    inputs = xdl.Input((6, 3))
    h = layers.TimeDistributed(layers.Dense(4, activation="relu"))(inputs)
    h = layers.SpatialDropout1D(0.2, seed=1)(h)
    h = layers.GaussianNoise(0.1, seed=2)(layers.Permute((2, 1))(h))
    out = layers.TimeDistributed(layers.Dense(1))(layers.RepeatVector(5)(layers.GlobalAveragePooling1D()(h)))
    model = xdl.Model(inputs, layers.Identity()(out))
    assert model.output_shape == (None, 5, 1)
    model.compile("adam", "mse")
    model.fit(x, np.zeros((16, 5, 1)), epochs=2, verbose=0)
    model.save(tmp_path / "m.keras")
    again = xdl.models.load_model(tmp_path / "m.keras")
    assert_close(again.predict(x), model.predict(x), rtol=1e-6, atol=1e-6)


def test_noise_layers_act_in_training_only(be):
    x = np.ones((64, 8, 16), np.float32)
    drop = layers.SpatialDropout1D(0.5, seed=3)
    y = host(drop.forward(x, training=True))
    assert (y == y[:, :1, :]).all() and 0.3 < (y == 0).mean() < 0.7  # whole channels dropped
    assert_close(drop.forward(x), x)
    images = host(layers.SpatialDropout2D(0.5, seed=4).forward(np.ones((8, 3, 3, 4), np.float32), training=True))
    assert (images == images[:, :1, :1, :]).all()
    noise = layers.GaussianNoise(0.5, seed=5)
    z = host(noise.forward(x, training=True)) - 1
    assert abs(z.std() - 0.5) < 0.02 and abs(z.mean()) < 0.02
    assert_close(noise.forward(x), x)


def test_lambda_is_not_saved_and_bad_arguments_are_refused(be, tmp_path):
    inputs = xdl.Input((3,))
    model = xdl.Model(inputs, layers.Lambda(lambda t, k: t * k, arguments={"k": 2.0})(inputs))
    assert_close(model.predict(np.ones((2, 3))), np.full((2, 3), 2.0))
    with pytest.raises(xdl.ArgumentError, match="holds code"):
        model.save(tmp_path / "m.keras")
    for make, match in [(lambda: layers.TimeDistributed("dense"), "must be a layer"),
                        (lambda: layers.RepeatVector(0), "n must be a positive int"),
                        (lambda: layers.Permute((1, 1)), "permutation"),
                        (lambda: layers.Lambda(3), "callable"),
                        (lambda: layers.GaussianNoise(-1.0), "stddev")]:
        with pytest.raises(xdl.XdlError, match=match):
            make()
    with pytest.raises(xdl.ShapeError, match="expected input shape"):
        layers.RepeatVector(2).forward(np.ones((2, 3, 4)))
