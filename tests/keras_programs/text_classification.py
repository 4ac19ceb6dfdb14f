"""Keras 3 style: text classification from raw strings, as keras.io's "Text classification
from scratch" does it, and structured data with string features.

A TextVectorization layer learns its vocabulary with adapt; a model of token ids is trained;
then an end-to-end model puts the vectorizer in front, so that the model saved takes raw
strings, and is evaluated on a stream of string batches. A second model reads string
categories with StringLookup and Hashing; a third is a bag-of-bigrams classifier with TF-IDF.
"""

import os
import re
import string
import tempfile

import numpy as np

import xdl as keras
from xdl import layers

keras.utils.set_random_seed(7)
workdir = tempfile.mkdtemp()
rng = np.random.default_rng(7)

# -- a small review corpus: positive and negative words among neutral ones -------------------------------
positive = ["wonderful", "moving", "brilliant", "funny", "superb", "charming"]
negative = ["boring", "dull", "awful", "clumsy", "tedious", "predictable"]
neutral = ["the", "film", "plot", "actors", "was", "and", "a", "story", "scenes", "director"]


def review(label):
    words = list(rng.choice(neutral, 8)) + list(rng.choice(positive if label else negative, 2))
    rng.shuffle(words)
    text = " ".join(words).capitalize() + rng.choice([".", "!", "..."])
    return text.replace(" and ", " and<br />") if rng.random() < 0.3 else text


labels = rng.integers(0, 2, 1200)
texts = np.array([review(t) for t in labels])
x_train, y_train = texts[:1000], labels[:1000].astype("float32")
x_test, y_test = texts[1000:], labels[1000:].astype("float32")


@keras.saving.register_keras_serializable()
def custom_standardization(input_data):
    # Keras's example does this with tf.strings; a function of one Python string here
    lowercase = input_data.lower()
    stripped_html = lowercase.replace("<br />", " ")
    return re.sub(f"[{re.escape(string.punctuation)}]", "", stripped_html)


max_features, embedding_dim, sequence_length = 200, 16, 12
vectorize_layer = keras.layers.TextVectorization(
    standardize=custom_standardization,
    max_tokens=max_features,
    output_mode="int",
    output_sequence_length=sequence_length,
)
vectorize_layer.adapt(x_train)
vocabulary = vectorize_layer.get_vocabulary()
assert vocabulary[:2] == ["", "[UNK]"] and "wonderful" in vocabulary and "<br" not in " ".join(vocabulary)

# a model of token ids, trained on vectorized text
inputs = keras.Input(shape=(None,), dtype="int64")
x = layers.Embedding(max_features, embedding_dim)(inputs)
x = layers.Dropout(0.2)(x)
x = layers.Conv1D(32, 3, padding="valid", activation="relu", strides=1)(x)
x = layers.GlobalMaxPooling1D()(x)
x = layers.Dense(32, activation="relu")(x)
predictions = layers.Dense(1, activation="sigmoid", name="predictions")(x)
model = keras.Model(inputs, predictions)
model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
model.fit(vectorize_layer(x_train), y_train, validation_split=0.2, epochs=6, batch_size=32, verbose=0)

# the end-to-end model: raw strings in
string_input = keras.Input(shape=(1,), dtype="string")
indices = vectorize_layer(string_input)
outputs = model(indices)
end_to_end_model = keras.Model(string_input, outputs)
end_to_end_model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])


class RawTestSet(keras.utils.PyDataset):
    """Batches of raw strings and labels, as a text_dataset_from_directory would give."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return x_test[50 * i:50 * (i + 1)], y_test[50 * i:50 * (i + 1)]


loss, accuracy = end_to_end_model.evaluate(RawTestSet(), verbose=0)
print(f"end-to-end accuracy on raw strings: {accuracy:.3f}")
assert accuracy > 0.9, accuracy
path = os.path.join(workdir, "text_classifier.keras")
end_to_end_model.save(path)
reloaded = keras.models.load_model(path)
probe = np.array(["A wonderful and moving story!", "Boring, dull and predictable..."])
scores = keras.ops.convert_to_numpy(reloaded.predict(probe, verbose=0))
assert scores[0, 0] > 0.5 > scores[1, 0], scores
assert np.allclose(scores, keras.ops.convert_to_numpy(end_to_end_model.predict(probe, verbose=0)), atol=1e-6)

# -- structured data with string features: StringLookup one-hot, Hashing for a wide vocabulary -----------
cities = np.array(["paris", "tokyo", "lima", "oslo"])
n = 600
city = rng.choice(cities, n)
user = np.array([f"user{k}" for k in rng.integers(0, 500, n)])
target = ((city == "tokyo") | (city == "oslo")).astype("float32")
city_input = keras.Input(shape=(1,), name="city", dtype="string")
user_input = keras.Input(shape=(1,), name="user", dtype="string")
city_lookup = layers.StringLookup(output_mode="one_hot")
city_lookup.adapt(city)
encoded = layers.concatenate([city_lookup(city_input),
                              layers.Hashing(num_bins=64, output_mode="one_hot")(user_input)])
output = layers.Dense(1, activation="sigmoid")(layers.Dense(8, activation="relu")(encoded))
structured = keras.Model([city_input, user_input], output)
structured.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
structured.fit({"city": city[:, None], "user": user[:, None]}, target, epochs=10, batch_size=32, verbose=0)
_, structured_accuracy = structured.evaluate({"city": city, "user": user}, target, verbose=0)
assert structured_accuracy > 0.95, structured_accuracy
assert city_lookup.vocabulary_size() == 5  # four cities and the OOV index

# -- a bag of bigrams with TF-IDF weights --------------------------------------------------------------
bigrams = layers.TextVectorization(max_tokens=300, ngrams=2, output_mode="tf_idf")
bigrams.adapt(x_train)
bag = keras.Sequential([keras.Input(shape=(1,), dtype="string"), bigrams,
                        layers.Dense(1, activation="sigmoid")])
bag.compile(optimizer=keras.optimizers.Adam(0.02), loss="binary_crossentropy", metrics=["accuracy"])
bag.fit(x_train, y_train, epochs=5, batch_size=64, verbose=0)
_, bag_accuracy = bag.evaluate(x_test, y_test, verbose=0)
assert bag_accuracy > 0.9, bag_accuracy
bag.save(os.path.join(workdir, "bag.keras"))
assert keras.models.load_model(os.path.join(workdir, "bag.keras")).layers[0].get_vocabulary() == \
    bigrams.get_vocabulary()
print(f"structured accuracy {structured_accuracy:.3f}, bag-of-bigrams accuracy {bag_accuracy:.3f}")
