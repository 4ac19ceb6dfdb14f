"""Keras 3 style: preprocessing inside the model, so the saved model takes raw inputs.

An image classifier with data augmentation (RandomFlip, RandomRotation, RandomZoom,
RandomTranslation, RandomContrast) and Rescaling in front of a small convnet on the digits; a
regressor whose Normalization layer learns its statistics with adapt; a structured-data model
that turns integer category codes into one-hot vectors with IntegerLookup and buckets a
numeric feature with Discretization; a Conv1DTranspose autoencoder on series.
"""

import os
import tempfile

import numpy as np
from sklearn.datasets import load_digits

import xdl as keras

keras.utils.set_random_seed(3)
workdir = tempfile.mkdtemp()

# -- images: augmentation and rescaling inside the model ------------------------------------------------
digits = load_digits()
images = (digits.images[..., None] * (255.0 / 16.0)).astype("float32")  # raw pixel values, 0..255
labels = digits.target
augment = keras.Sequential([
    keras.layers.RandomFlip("horizontal"),
    keras.layers.RandomRotation(0.05),
    keras.layers.RandomZoom(0.1),
    keras.layers.RandomTranslation(0.05, 0.05),
    keras.layers.RandomContrast(0.1),
], name="augment")
inputs = keras.Input(shape=(8, 8, 1))
x = augment(inputs)
x = keras.layers.Rescaling(1.0 / 255)(x)
x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
x = keras.layers.MaxPooling2D()(x)
x = keras.layers.Flatten()(x)
outputs = keras.layers.Dense(10, activation="softmax")(x)
classifier = keras.Model(inputs, outputs)
classifier.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = classifier.fit(images[:1400], labels[:1400], batch_size=64, epochs=12, validation_split=0.1, verbose=0)
_, accuracy = classifier.evaluate(images[1400:], labels[1400:], verbose=0)
print("augmented convnet test accuracy:", accuracy)
assert accuracy > 0.6, accuracy  # chance is 0.1; flips and rotations make the digits harder to learn
# augmentation is off in inference: predictions repeat
first = classifier.predict(images[:8], verbose=0)
np.testing.assert_allclose(classifier.predict(images[:8], verbose=0), first)
path = os.path.join(workdir, "classifier.keras")
classifier.save(path)
np.testing.assert_allclose(keras.models.load_model(path).predict(images[:8], verbose=0), first, rtol=1e-6, atol=1e-6)

# -- a regressor whose inputs are normalized by statistics it learnt ----------------------------------
rng = np.random.default_rng(0)
features = rng.normal(loc=[10.0, -3.0, 500.0], scale=[2.0, 0.5, 100.0], size=(512, 3)).astype("float32")
target = (0.5 * (features[:, 0] - 10) + 2.0 * (features[:, 1] + 3) + 0.01 * (features[:, 2] - 500))[:, None]
normalizer = keras.layers.Normalization()
normalizer.adapt(features)
print("learnt mean:", keras.ops.convert_to_numpy(normalizer.mean))
np.testing.assert_allclose(keras.ops.convert_to_numpy(normalizer.mean), features.mean(axis=0), rtol=1e-4)
regressor = keras.Sequential([keras.Input((3,)), normalizer, keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1)])
regressor.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse", metrics=["mae"])
losses = regressor.fit(features, target, epochs=20, batch_size=64, verbose=0).history["loss"]
print("regressor loss:", losses[0], "->", losses[-1])
assert losses[-1] < losses[0] / 5

# -- structured data: category codes and a bucketed number ---------------------------------------------
color = rng.choice([101, 202, 303, 404], size=600)
age = rng.uniform(0, 80, size=600).astype("float32")
label = ((color == 202) | (age > 60)).astype("float32")
color_in = keras.Input(shape=(1,), dtype="int64", name="color")
age_in = keras.Input(shape=(1,), name="age")
lookup = keras.layers.IntegerLookup(output_mode="one_hot")
lookup.adapt(color)
buckets = keras.layers.Discretization(num_bins=4)
buckets.adapt(age)
encoded = keras.layers.concatenate([lookup(color_in),
                                    keras.layers.CategoryEncoding(4, output_mode="one_hot")(buckets(age_in))])
hidden = keras.layers.Dense(8, activation="relu")(encoded)
structured = keras.Model([color_in, age_in], keras.layers.Dense(1, activation="sigmoid")(hidden))
structured.compile(optimizer=keras.optimizers.Adam(2e-2), loss="binary_crossentropy", metrics=["accuracy"])
structured.fit([color[:, None], age[:, None]], label, epochs=30, batch_size=64, verbose=0)
_, accuracy = structured.evaluate([color[:, None], age[:, None]], label, verbose=0)
print("structured accuracy:", accuracy, "vocabulary:", lookup.get_vocabulary())
assert accuracy > 0.8, accuracy
structured.save(os.path.join(workdir, "structured.keras"))
again = keras.models.load_model(os.path.join(workdir, "structured.keras"))
np.testing.assert_allclose(again.predict([color[:5, None], age[:5, None]], verbose=0),
                           structured.predict([color[:5, None], age[:5, None]], verbose=0), rtol=1e-6, atol=1e-6)

# -- a convolutional autoencoder on series -----------------------------------------------------------
t = np.linspace(0, 4 * np.pi, 32, dtype="float32")
series = np.sin(t[None, :] + rng.uniform(0, 2 * np.pi, (128, 1))).astype("float32")[..., None]
autoencoder = keras.Sequential([
    keras.Input((32, 1)),
    keras.layers.Conv1D(8, 5, strides=2, padding="same", activation="relu"),
    keras.layers.Conv1D(4, 5, strides=2, padding="same", activation="relu"),
    keras.layers.Conv1DTranspose(4, 5, strides=2, padding="same", activation="relu"),
    keras.layers.Conv1DTranspose(8, 5, strides=2, padding="same", activation="relu"),
    keras.layers.Conv1D(1, 5, padding="same"),
])
autoencoder.compile(optimizer="adam", loss="mse")
losses = autoencoder.fit(series, series, epochs=15, batch_size=32, verbose=0).history["loss"]
print("autoencoder loss:", losses[0], "->", losses[-1])
assert autoencoder.output_shape == (None, 32, 1) and losses[-1] < losses[0]
