"""The Sequential model as the Keras 3 guide teaches it: a list of layers or add(), input_shape
on the first layer, delayed building, build(), pop(), model.layers and weights, a layer's
get_weights, feature extraction through layer.output, freezing layers for transfer learning,
regularizers and initializers, and fit/evaluate/predict on a regression task."""

import numpy as np

import xdl as keras

keras.utils.set_random_seed(1)
rng = np.random.default_rng(1)

x = rng.standard_normal((512, 4)).astype("float32")
y = (x @ np.array([[2.0], [-1.0], [0.5], [0.0]]) + np.sin(x[:, :1]) + 0.1).astype("float32")

# A list of layers.
model = keras.Sequential(
    [
        keras.layers.Dense(16, activation="relu", name="layer1"),
        keras.layers.Dense(8, activation="relu", name="layer2"),
        keras.layers.Dense(1, name="layer3"),
    ]
)
assert len(model.layers) == 3
assert not model.built  # no input shape yet: no weights
out = model(np.ones((3, 4), dtype="float32"))  # the first call builds it
assert tuple(out.shape) == (3, 1)
assert len(model.weights) == 6
assert model.layers[0].kernel.shape == (4, 16)
model.summary()

# add(), one layer at a time, after an Input.
incremental = keras.Sequential(name="incremental")
incremental.add(keras.Input(shape=(4,)))
incremental.add(keras.layers.Dense(16, activation="relu"))
incremental.add(keras.layers.Dense(16, activation="relu"))
incremental.add(keras.layers.Dense(1))
assert len(incremental.layers) == 3 and incremental.built
incremental.pop()
assert len(incremental.layers) == 2 and incremental.output_shape == (None, 16)
incremental.add(keras.layers.Dense(1))
assert incremental.output_shape == (None, 1)

# input_shape= on the first layer (Keras 3 still takes it), and build() for the rest.
shaped = keras.Sequential([keras.layers.Dense(8, activation="tanh", input_shape=(4,)), keras.layers.Dense(1)])
assert shaped.built and shaped.count_params() == 4 * 8 + 8 + 8 + 1
later = keras.Sequential([keras.layers.Dense(8), keras.layers.Dense(1)])
later.build((None, 4))
assert later.count_params() == shaped.count_params()

# Regularizers, initializers, a regression fit with a validation split.
regression = keras.Sequential(
    [
        keras.Input(shape=(4,)),
        keras.layers.Dense(32, activation="relu", kernel_regularizer=keras.regularizers.l2(1e-4),
                           kernel_initializer="he_normal"),
        keras.layers.Dense(32, activation="relu", bias_initializer=keras.initializers.Constant(0.01)),
        keras.layers.Dense(1),
    ]
)
regression.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2), loss="mse", metrics=["mae"])
history = regression.fit(x, y, epochs=15, batch_size=32, validation_split=0.2, verbose=0)
assert set(history.history) == {"loss", "mae", "val_loss", "val_mae"}
print("regression val_mae:", history.history["val_mae"][-1])
assert history.history["val_mae"][-1] < 0.3 * history.history["val_mae"][0]
mse, mae = regression.evaluate(x, y, verbose=0)
assert mae < 0.3
first_weights = regression.layers[0].get_weights()
assert [w.shape for w in first_weights] == [(4, 32), (32,)]

# Feature extraction: every layer's output from the same inputs.
extractor = keras.Model(inputs=regression.inputs, outputs=[layer.output for layer in regression.layers])
features = extractor(x[:5])
assert [tuple(f.shape) for f in features] == [(5, 32), (5, 32), (5, 1)]
np.testing.assert_allclose(keras.ops.convert_to_numpy(features[-1]), regression.predict(x[:5], verbose=0),
                           rtol=1e-5, atol=1e-6)

# Transfer learning: freeze the trained body, train a new head on a new target.
body = keras.Sequential(regression.layers[:-1])
body.trainable = False
frozen_before = [w.copy() for w in body.get_weights()]
transfer = keras.Sequential([keras.Input(shape=(4,)), body, keras.layers.Dense(1, name="new_head")])
assert len(transfer.trainable_weights) == 2 and len(transfer.non_trainable_weights) == 4
y2 = 3.0 * y + 1.0
transfer.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9), loss="mse")
losses = transfer.fit(x, y2, epochs=5, batch_size=32, verbose=0).history["loss"]
assert losses[-1] < 0.5 * losses[0], losses
for before, after in zip(frozen_before, body.get_weights()):
    np.testing.assert_array_equal(before, after)
assert transfer.predict(x[:7], verbose=0).shape == (7, 1)
