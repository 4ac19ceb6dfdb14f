"""A Transformer the way Keras 3 users write one: a TransformerBlock layer of their own around
MultiHeadAttention, LayerNormalization, Dropout and a Dense feed-forward Sequential, residual
connections as "+", token plus position embeddings built with keras.ops.arange; used for
sequence classification and, with a causal mask, for next-token prediction."""

import numpy as np

import xdl as keras

keras.utils.set_random_seed(11)
rng = np.random.default_rng(11)


class TransformerBlock(keras.layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1, causal=False, **kwargs):
        super().__init__(**kwargs)
        self.causal = causal
        self.att = keras.layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim // num_heads)
        self.ffn = keras.Sequential([keras.layers.Dense(ff_dim, activation="relu"), keras.layers.Dense(embed_dim)])
        self.layernorm1 = keras.layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = keras.layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = keras.layers.Dropout(rate)
        self.dropout2 = keras.layers.Dropout(rate)

    def call(self, inputs, training=False):
        attended = self.att(inputs, inputs, use_causal_mask=self.causal)
        out1 = self.layernorm1(inputs + self.dropout1(attended, training=training))
        ffn_output = self.ffn(out1)
        return self.layernorm2(out1 + self.dropout2(ffn_output, training=training))


class TokenAndPositionEmbedding(keras.layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.token_emb = keras.layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = keras.layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        length = keras.ops.shape(x)[-1]
        positions = self.pos_emb(keras.ops.arange(0, length, 1))
        return self.token_emb(x) + positions


vocab_size, maxlen, embed_dim = 16, 10, 32

# 1. Classification: does token 3 come before token 4 in the sequence?
def make_pairs(n):
    x = rng.integers(5, vocab_size, size=(n, maxlen))
    y = rng.integers(0, 2, size=n)
    for row, label in zip(x, y):
        i, j = sorted(rng.choice(maxlen, size=2, replace=False))
        row[i], row[j] = (3, 4) if label else (4, 3)
    return x, y


x_train, y_train = make_pairs(1000)
x_test, y_test = make_pairs(200)

inputs = keras.layers.Input(shape=(maxlen,))
x = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)(inputs)
x = TransformerBlock(embed_dim, num_heads=2, ff_dim=32)(x)
x = keras.layers.GlobalAveragePooling1D()(x)
x = keras.layers.Dropout(0.1)(x)
x = keras.layers.Dense(20, activation="relu")(x)
outputs = keras.layers.Dense(2, activation="softmax")(x)
classifier = keras.Model(inputs=inputs, outputs=outputs)
classifier.summary()
classifier.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                   metrics=["accuracy"])
history = classifier.fit(x_train, y_train, batch_size=32, epochs=10, validation_data=(x_test, y_test), verbose=0)
print("classifier val accuracy:", history.history["val_accuracy"])
assert history.history["loss"][-1] < history.history["loss"][0]
assert history.history["val_accuracy"][-1] > 0.75, history.history["val_accuracy"]

# 2. A causal language model: each sequence counts up modulo the vocabulary; predict the next token.
starts = rng.integers(0, vocab_size, size=(600, 1))
counting = (starts + np.arange(maxlen + 1)) % vocab_size
x_lm, y_lm = counting[:, :-1], counting[:, 1:]

tokens = keras.Input(shape=(maxlen,), dtype="int32")
h = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)(tokens)
h = TransformerBlock(embed_dim, num_heads=4, ff_dim=64, causal=True)(h)
logits = keras.layers.Dense(vocab_size)(h)
language_model = keras.Model(tokens, logits)
language_model.compile(
    optimizer=keras.optimizers.Adam(learning_rate=3e-3),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=[keras.metrics.SparseCategoricalAccuracy()],
)
history = language_model.fit(x_lm, y_lm, batch_size=32, epochs=5, verbose=0)
assert history.history["sparse_categorical_accuracy"][-1] > 0.9, history.history
next_logits = language_model.predict(x_lm[:3], verbose=0)
assert next_logits.shape == (3, maxlen, vocab_size)
np.testing.assert_array_equal(np.argmax(next_logits, axis=-1), y_lm[:3])

# The causal mask means a position never sees the ones after it.
changed = x_lm[:1].copy()
changed[0, -1] = (changed[0, -1] + 5) % vocab_size
before = language_model.predict(x_lm[:1], verbose=0)
after = language_model.predict(changed, verbose=0)
np.testing.assert_allclose(before[0, :-1], after[0, :-1], rtol=1e-5, atol=1e-5)
assert not np.allclose(before[0, -1], after[0, -1])
