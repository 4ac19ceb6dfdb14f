"""The functional API of Keras 3: a model of two inputs and two outputs (losses, loss weights
and metrics by output name, data as dicts), shared layers (a siamese encoder), residual
connections written with "+" and with keras.layers.add, keras.ops on symbolic tensors,
Concatenate, models used as layers, get_layer, and predicting several outputs."""

import numpy as np

import xdl as keras

keras.utils.set_random_seed(2)
rng = np.random.default_rng(2)

# Listings: 6 numeric features and a 10-token description; predict a price and a category.
n, vocab = 600, 30
features = rng.standard_normal((n, 6)).astype("float32")
words = rng.integers(1, vocab, size=(n, 10))
groups = np.stack([(words // 10 == g).sum(axis=1) for g in range(3)], axis=1)
category = np.argmax(groups, axis=1)  # the kind of word the description uses most
price = (features[:, :1] * 2.0 - features[:, 1:2] + category[:, None]).astype("float32")

numbers_in = keras.Input(shape=(6,), name="numbers")
words_in = keras.Input(shape=(10,), dtype="int32", name="words")
w = keras.layers.Embedding(vocab, 16)(words_in)
w = keras.layers.GlobalAveragePooling1D()(w)
h = keras.layers.Dense(32, activation="relu")(numbers_in)
merged = keras.layers.concatenate([h, w])
merged = keras.layers.Dense(32, activation="relu")(merged)
residual = keras.layers.Dense(32, activation="relu")(merged)
merged = keras.layers.add([merged, residual])  # a residual connection, the layer way
price_out = keras.layers.Dense(1, name="price")(merged)
category_out = keras.layers.Dense(3, activation="softmax", name="category")(merged)
model = keras.Model(inputs=[numbers_in, words_in], outputs=[price_out, category_out], name="listings")
model.summary()
assert [t.shape for t in model.outputs] == [(None, 1), (None, 3)]
assert model.get_layer("price").output.shape == (None, 1)

model.compile(
    optimizer=keras.optimizers.Adam(learning_rate=5e-3),
    loss={"price": keras.losses.MeanSquaredError(), "category": keras.losses.SparseCategoricalCrossentropy()},
    loss_weights={"price": 1.0, "category": 0.5},
    metrics={"category": ["accuracy"], "price": [keras.metrics.MeanAbsoluteError()]},
)
history = model.fit(
    {"numbers": features, "words": words},
    {"price": price, "category": category},
    epochs=12,
    batch_size=32,
    validation_split=0.2,
    verbose=0,
)
logged = history.history
assert {"loss", "price_loss", "category_loss", "category_accuracy", "val_loss"} <= set(logged), sorted(logged)
assert logged["loss"][-1] < 0.5 * logged["loss"][0], logged["loss"]
print("category accuracy:", logged["val_category_accuracy"][-1])
assert logged["val_category_accuracy"][-1] > 0.5  # chance is about a third
predicted_price, predicted_category = model.predict([features[:8], words[:8]], verbose=0)
assert predicted_price.shape == (8, 1) and predicted_category.shape == (8, 3)

# Shared layers: one encoder applied to two inputs (a siamese network), compared with keras.ops.
encoder = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(16, activation="tanh"),
                            keras.layers.Dense(8)], name="encoder")
left = keras.Input(shape=(6,))
right = keras.Input(shape=(6,))
difference = keras.ops.abs(encoder(left) - encoder(right))  # arithmetic and ops on symbolic tensors
same = keras.layers.Dense(1, activation="sigmoid")(difference)
siamese = keras.Model([left, right], same)
assert len(siamese.trainable_weights) == 4 + 2  # the encoder's weights count once
pairs_left = features
pairs_right = np.where(rng.random((n, 1)) < 0.5, features + 0.05 * rng.standard_normal((n, 6)),
                       rng.standard_normal((n, 6))).astype("float32")
is_same = (np.abs(pairs_right - pairs_left).max(axis=1) < 0.5).astype("float32")
siamese.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2), loss="binary_crossentropy", metrics=["accuracy"])
history = siamese.fit([pairs_left, pairs_right], is_same, epochs=10, batch_size=32, verbose=0)
assert history.history["loss"][-1] < history.history["loss"][0]
assert history.history["accuracy"][-1] > 0.8, history.history["accuracy"]
# The same encoder gives the same codes inside and outside the siamese model.
np.testing.assert_allclose(encoder.predict(features[:4], verbose=0),
                           keras.Model(left, encoder(left)).predict(features[:4], verbose=0), rtol=1e-6)

# A residual block written with "+", ops on symbolic tensors, and a model inside a model.
block_in = keras.Input(shape=(16,))
t = keras.layers.Dense(16, activation="relu")(block_in)
t = keras.layers.Dense(16)(t)
block_out = keras.ops.relu(block_in + t)
block = keras.Model(block_in, block_out, name="residual_block")
outer_in = keras.Input(shape=(6,))
t = keras.layers.Dense(16)(outer_in)
t = block(t)
t = block(t)  # the block twice, sharing its weights
summary = keras.ops.mean(t, axis=-1, keepdims=True) * 2.0 + 1.0
assert summary.shape == (None, 1)
outer = keras.Model(outer_in, keras.layers.Dense(1)(t) + 0.1 * summary)
outer.compile(optimizer="adam", loss="mse")
history = outer.fit(features, price, epochs=5, batch_size=32, verbose=0)
assert history.history["loss"][-1] < history.history["loss"][0]
assert outer.predict(features[:3], verbose=0).shape == (3, 1)
assert len(outer.trainable_weights) == 2 + 4 + 2  # the block's weights count once
