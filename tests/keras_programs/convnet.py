"""A small convnet on scikit-learn's 8x8 digits, written as a Keras 3 user writes one:
channels-last images, Conv2D/MaxPooling2D/Flatten/Dropout/Dense in a Sequential, one-hot
targets with categorical cross-entropy, a validation split, evaluate and predict; then a
functional variant with strided convolutions, BatchNormalization and integer labels."""

import numpy as np
from sklearn.datasets import load_digits

import xdl as keras

keras.utils.set_random_seed(7)

digits = load_digits()
images = (digits.images / 16.0).astype("float32")
images = np.expand_dims(images, -1)  # (N, 8, 8, 1)
labels = digits.target
num_classes = 10
x_train, x_test = images[:1400], images[1400:]
y_train, y_test = labels[:1400], labels[1400:]
y_train_onehot = keras.utils.to_categorical(y_train, num_classes)
y_test_onehot = keras.utils.to_categorical(y_test, num_classes)
assert y_train_onehot.shape == (1400, 10)

model = keras.Sequential(
    [
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Conv2D(16, kernel_size=(3, 3), activation="relu", padding="same"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(num_classes, activation="softmax"),
    ]
)
model.summary()
assert model.output_shape == (None, 10)
assert model.layers[0].output.shape == (None, 8, 8, 16)
assert model.layers[1].output.shape == (None, 4, 4, 16)
assert model.layers[2].output.shape == (None, 2, 2, 32)

model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
history = model.fit(x_train, y_train_onehot, batch_size=32, epochs=8, validation_split=0.1, verbose=0)
assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
assert history.history["loss"][-1] < history.history["loss"][0]

score = model.evaluate(x_test, y_test_onehot, verbose=0)
print("Test loss:", score[0], "Test accuracy:", score[1])
assert score[1] > 0.8, score

probabilities = model.predict(x_test[:5], verbose=0)
assert probabilities.shape == (5, 10)
np.testing.assert_allclose(np.sum(probabilities, axis=1), 1.0, rtol=1e-5)

# The functional way: strides, "same" padding, batch normalization, integer labels, logits.
inputs = keras.Input(shape=(8, 8, 1), name="image")
x = keras.layers.Conv2D(32, 3, strides=2, padding="same")(inputs)
x = keras.layers.BatchNormalization()(x)
x = keras.layers.Activation("relu")(x)
x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
x = keras.layers.GlobalAveragePooling2D()(x)
outputs = keras.layers.Dense(num_classes)(x)
functional = keras.Model(inputs, outputs, name="digits_cnn")
assert functional.output_shape == (None, 10)
functional.compile(
    optimizer=keras.optimizers.Adam(learning_rate=3e-3),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
)
history = functional.fit(x_train, y_train, batch_size=32, epochs=5, validation_data=(x_test, y_test), verbose=0)
assert history.history["val_acc"][-1] > 0.7, history.history
predicted = np.argmax(keras.ops.convert_to_numpy(functional.predict(x_test, verbose=0)), axis=-1)
assert np.mean(predicted == y_test) > 0.7
