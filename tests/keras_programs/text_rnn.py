"""Recurrent text models the Keras 3 way on a made-up "sentiment" task: variable-length
token lists padded with keras.utils.pad_sequences, Embedding(mask_zero=True), LSTM, a
Bidirectional GRU, stacked recurrent layers with return_sequences, and a per-token tagger
(a Dense on every time step)."""

import numpy as np

import xdl as keras

keras.utils.set_random_seed(3)
rng = np.random.default_rng(3)

vocab_size = 20  # 0 is padding; 1-9 are "good" words, 10-19 "bad" ones
maxlen = 12


def make_reviews(n):
    reviews, labels = [], []
    for _ in range(n):
        length = rng.integers(3, maxlen + 1)
        tokens = rng.integers(1, vocab_size, size=length)
        reviews.append(tokens.tolist())
        labels.append(int(np.sum(tokens < 10) > np.sum(tokens >= 10)))
    return reviews, np.array(labels)


train_reviews, y_train = make_reviews(800)
test_reviews, y_test = make_reviews(200)
x_train = keras.utils.pad_sequences(train_reviews, maxlen=maxlen)
x_test = keras.utils.pad_sequences(test_reviews, maxlen=maxlen)
assert x_train.shape == (800, maxlen) and x_test.shape == (200, maxlen)
assert list(x_train[0][-len(train_reviews[0]):]) == train_reviews[0]  # padded in front by default

# 1. Embedding -> LSTM -> a sigmoid unit.
model = keras.Sequential(
    [
        keras.Input(shape=(maxlen,), dtype="int32"),
        keras.layers.Embedding(vocab_size, 16, mask_zero=True),
        keras.layers.LSTM(32),
        keras.layers.Dense(1, activation="sigmoid"),
    ]
)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=32, epochs=8, validation_split=0.2, verbose=0)
losses = history.history["loss"]
assert losses[-1] < 0.7 * losses[0], losses
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print("LSTM test accuracy:", accuracy)
assert accuracy > 0.75, accuracy
assert model.predict(x_test[:4], verbose=0).shape == (4, 1)

# 2. The functional way: a bidirectional GRU over a stacked SimpleRNN's sequence.
tokens = keras.Input(shape=(None,), dtype="int64", name="tokens")
x = keras.layers.Embedding(input_dim=vocab_size, output_dim=16, mask_zero=True)(tokens)
x = keras.layers.SimpleRNN(16, return_sequences=True)(x)
x = keras.layers.Bidirectional(keras.layers.GRU(16))(x)
assert x.shape == (None, 32)
x = keras.layers.Dropout(0.2)(x)
outputs = keras.layers.Dense(2, activation="softmax")(x)
birnn = keras.Model(tokens, outputs)
birnn.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = birnn.fit(x_train, y_train, batch_size=32, epochs=6, verbose=0)
assert history.history["loss"][-1] < history.history["loss"][0]
assert birnn.predict(x_test, verbose=0).shape == (200, 2)

# 3. A tagger: one output per token (is this word "good"?), padding masked out of the loss.
tags = (x_train > 0) & (x_train < 10)
tagger = keras.Sequential(
    [
        keras.Input(shape=(maxlen,)),
        keras.layers.Embedding(vocab_size, 8, mask_zero=True),
        keras.layers.LSTM(16, return_sequences=True),
        keras.layers.Dense(1, activation="sigmoid"),
    ]
)
tagger.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.01), loss="binary_crossentropy")
history = tagger.fit(x_train, tags[..., None].astype("float32"), epochs=5, batch_size=32, verbose=0)
assert history.history["loss"][-1] < 0.5 * history.history["loss"][0], history.history["loss"]
tagged = tagger.predict(x_test, verbose=0)
assert tagged.shape == (200, maxlen, 1)
real = x_test > 0
truth = (x_test > 0) & (x_test < 10)
assert np.mean((tagged[..., 0] > 0.5)[real] == truth[real]) > 0.95
