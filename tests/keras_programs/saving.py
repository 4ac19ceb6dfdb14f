"""Saving and serialization in Keras 3: model.save("x.keras") and keras.models.load_model (with
the optimizer, so training goes on), a custom layer registered with
keras.saving.register_keras_serializable and its get_config, custom_objects for a loss of
one's own (registered too, so that model_from_json and clone_model find it),
to_json/model_from_json, get_config/from_config for layers and models,
save_weights/load_weights, get_weights/set_weights, and keras.models.clone_model."""

import json
import os
import tempfile

import numpy as np

import xdl as keras

keras.utils.set_random_seed(12)
rng = np.random.default_rng(12)
workdir = tempfile.mkdtemp()
x = rng.standard_normal((128, 5)).astype("float32")
y = (np.tanh(x[:, :1]) - x[:, 1:2]).astype("float32")


@keras.saving.register_keras_serializable(package="programs")
class ScaledDense(keras.layers.Layer):
    """A Dense with a learned per-unit scale; its constructor arguments are its config."""

    def __init__(self, units, init_scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.init_scale = init_scale

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform",
                                      name="kernel")
        self.scale = self.add_weight(shape=(self.units,), initializer=keras.initializers.Constant(self.init_scale),
                                     name="scale")

    def call(self, inputs):
        return keras.ops.matmul(inputs, self.kernel) * self.scale

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "init_scale": self.init_scale})
        return config


@keras.saving.register_keras_serializable(package="programs")
def halved_mse(y_true, y_pred):
    return 0.5 * keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)


def make_model():
    inputs = keras.Input(shape=(5,), name="features")
    h = ScaledDense(16, init_scale=0.5, name="scaled")(inputs)
    h = keras.layers.Activation("tanh")(h)
    outputs = keras.layers.Dense(1, name="out")(h)
    return keras.Model(inputs, outputs, name="saved_model")


model = make_model()
model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2), loss=halved_mse, metrics=["mae"])
model.fit(x, y, epochs=3, batch_size=32, verbose=0)
expected = model.predict(x, verbose=0)

# The whole model in one .keras file: architecture, weights, compile settings and optimizer.
path = os.path.join(workdir, "model.keras")
model.save(path)
assert os.path.exists(path)
restored = keras.models.load_model(path, custom_objects={"halved_mse": halved_mse})
np.testing.assert_allclose(restored.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-6)
assert isinstance(restored.get_layer("scaled"), ScaledDense)
assert restored.get_layer("scaled").init_scale == 0.5
np.testing.assert_allclose(restored.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-5)
# Training goes on from the saved optimizer state exactly as the original's does.
model.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0)
restored.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0)
np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)

# The registered name is what the file refers to.
assert keras.saving.get_registered_name(ScaledDense) == "programs>ScaledDense"
assert keras.saving.get_registered_object("programs>ScaledDense") is ScaledDense

# Architecture alone as JSON: the same structure, fresh weights.
json_config = model.to_json()
assert json.loads(json_config)["config"]["name"] == model.name
from_json = keras.models.model_from_json(json_config)
assert [layer.name for layer in from_json.layers] == [layer.name for layer in model.layers]
assert from_json.count_params() == model.count_params()
from_json.set_weights(model.get_weights())
np.testing.assert_allclose(from_json.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)

# get_config / from_config, for a model and for one layer.
config = model.get_config()
twin = keras.Model.from_config(config)
twin.set_weights(model.get_weights())
np.testing.assert_allclose(twin.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
dense_config = keras.layers.Dense(7, activation="relu", name="seven").get_config()
assert dense_config["units"] == 7 and dense_config["activation"] == "relu"
seven = keras.layers.Dense.from_config(dense_config)
assert seven.units == 7 and seven.name == "seven"
layer_config = model.get_layer("scaled").get_config()
assert layer_config["units"] == 16
assert ScaledDense.from_config(layer_config).init_scale == 0.5

# A Sequential's config round trip.
sequential = keras.Sequential([keras.Input(shape=(5,)), keras.layers.Dense(4, activation="relu"),
                               keras.layers.Dense(1)])
same_structure = keras.Sequential.from_config(sequential.get_config())
assert [type(layer).__name__ for layer in same_structure.layers] == ["Dense", "Dense"]

# Weights alone.
weights_path = os.path.join(workdir, "only.weights.h5")
model.save_weights(weights_path)
fresh = make_model()
fresh.load_weights(weights_path)
np.testing.assert_allclose(fresh.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)

# clone_model: the same architecture with new weights; set_weights makes it the same function.
clone = keras.models.clone_model(model)
assert clone is not model and clone.get_layer("scaled") is not model.get_layer("scaled")
assert not np.allclose(clone.get_layer("out").get_weights()[0], model.get_layer("out").get_weights()[0])
clone.set_weights(model.get_weights())
np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
clone.compile(optimizer="sgd", loss="mse")
clone.fit(x, y, epochs=1, verbose=0)  # training the clone leaves the original alone
assert not np.allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0))
