"""Keras's layers that read strings: Hashing, StringLookup, TextVectorization (and the
IntegerLookup modes they share). Outputs are the ones Keras's documentation gives for the same
inputs; models take raw strings through fit, evaluate, predict, streams and files."""

import numpy as np
import pytest

import xdl
from xdl import layers
from tests.helpers import assert_close, host

VOCAB = ["a", "b", "c", "d"]


def test_hashing_bins_as_keras_documents(be):
    letters = [["A"], ["B"], ["C"], ["D"], ["E"]]
    assert host(layers.Hashing(3)(letters)).tolist() == [[1], [0], [1], [1], [2]]
    assert host(layers.Hashing(3, mask_value="")([["A"], ["B"], [""], ["C"], ["D"]])).tolist() == \
        [[1], [1], [0], [2], [2]]
    assert host(layers.Hashing(3, salt=133)(letters)).tolist() == [[0], [0], [2], [1], [0]]
    assert host(layers.Hashing(3, salt=[133, 133])(letters)).tolist() == [[0], [0], [2], [1], [0]]
    assert_close(layers.Hashing(3, output_mode="one_hot")(["A", "B"]), [[0, 1, 0], [1, 0, 0]])
    assert_close(layers.Hashing(3, output_mode="count")([["A", "C", "B"]]), [[1, 2, 0]])
    ints = layers.Hashing(3)(np.array([[1], [2]]))  # integers hash as their decimal text
    assert host(ints).tolist() == host(layers.Hashing(3)([["1"], ["2"]])).tolist()
    with pytest.raises(xdl.ArgumentError, match="num_bins must be at least 2"):
        layers.Hashing(1, mask_value="")


def test_the_string_hashes_match_their_references():
    from xdl.text.hashes import fingerprint64, hash_buckets, siphash24

    # TensorFlow's documented to_hash_bucket_fast(["Hello", "TensorFlow", "2.x"], 3)
    assert hash_buckets(np.array(["Hello", "TensorFlow", "2.x"]), 3).tolist() == [0, 2, 2]
    key = (int.from_bytes(bytes(range(8)), "little"), int.from_bytes(bytes(range(8, 16)), "little"))
    assert siphash24(key, b"") == 0x726FDB47DD0E0E31  # SipHash's reference vectors
    assert siphash24(key, bytes(range(15))) == 0xA129CA6149BE45E5
    for n in (0, 3, 7, 15, 31, 63, 64, 65, 200):  # every length branch runs and stays in 64 bits
        assert 0 <= fingerprint64(bytes(range(n))) < 2**64


def test_string_lookup_as_keras_documents(be):
    data = [["a", "c", "d"], ["d", "z", "b"]]
    assert host(layers.StringLookup(vocabulary=VOCAB)(data)).tolist() == [[1, 3, 4], [4, 0, 2]]
    learnt = layers.StringLookup()
    learnt.adapt(np.array(data))
    assert learnt.get_vocabulary() == ["[UNK]", "d", "z", "c", "b", "a"]
    masked = layers.StringLookup(vocabulary=VOCAB, mask_token="")
    assert host(masked([["a", "c", "d"], ["", "z", "b"]])).tolist() == [[2, 4, 5], [0, 1, 3]]
    assert masked.get_vocabulary() == ["", "[UNK]"] + VOCAB
    two_oov = layers.StringLookup(vocabulary=VOCAB, num_oov_indices=2)
    assert host(two_oov([["a", "c", "d"], ["m", "z", "b"]])).tolist() == [[2, 4, 5], [0, 1, 3]]
    assert_close(layers.StringLookup(vocabulary=VOCAB, output_mode="one_hot")(["a", "b", "c", "d", "z"]),
                 np.eye(5)[[1, 2, 3, 4, 0]])
    assert_close(layers.StringLookup(vocabulary=VOCAB, output_mode="multi_hot")(data),
                 [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]])
    counted = [["a", "c", "d", "d"], ["d", "z", "b", "z"]]
    assert_close(layers.StringLookup(vocabulary=VOCAB, output_mode="count")(counted),
                 [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]])
    tf_idf = layers.StringLookup(vocabulary=VOCAB, output_mode="tf_idf", idf_weights=[0.25, 0.75, 0.6, 0.4])
    assert_close(tf_idf(counted), [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]], rtol=1e-6)
    inverse = layers.StringLookup(vocabulary=VOCAB, invert=True)
    assert inverse(np.array([[1, 3, 4], [4, 0, 2]])).tolist() == [["a", "c", "d"], ["d", "[UNK]", "b"]]


def test_string_lookup_refuses_and_reads_files(be, tmp_path):
    strict = layers.StringLookup(vocabulary=VOCAB, num_oov_indices=0)
    assert host(strict([["a", "d"]])).tolist() == [[0, 3]]
    with pytest.raises(xdl.IndexRangeError, match="outside its vocabulary"):
        strict([["a", "q"]])
    with pytest.raises(xdl.ArgumentError, match="repeats"):
        layers.StringLookup(vocabulary=["a", "a"])
    with pytest.raises(xdl.ArgumentError, match="mask token"):
        layers.StringLookup(vocabulary=["", "a"], mask_token="")
    with pytest.raises(xdl.ArgumentError, match="exceed max_tokens"):
        layers.StringLookup(vocabulary=VOCAB, max_tokens=3)
    with pytest.raises(xdl.ArgumentError, match="idf_weights"):
        layers.StringLookup(vocabulary=VOCAB, output_mode="tf_idf")
    with pytest.raises(xdl.ArgumentTypeError, match="expected strings"):
        layers.StringLookup(vocabulary=VOCAB)(np.array([[1.5]], dtype=object))
    path = tmp_path / "vocab.txt"
    path.write_text("a\nb\nc\nd\n\n", encoding="utf-8")
    assert layers.StringLookup(vocabulary=str(path)).get_vocabulary() == ["[UNK]"] + VOCAB
    with pytest.raises(xdl.ArgumentError, match="cannot read the vocabulary file"):
        layers.StringLookup(vocabulary=str(tmp_path / "missing.txt"))


def test_lookups_adapt_on_streams_with_max_tokens_and_tf_idf(be):
    batches = [np.array([["x", "y"], ["x", "x"]]), np.array([["z", "y"], ["x", "w"]])]
    learnt = layers.StringLookup(max_tokens=3)
    learnt.adapt(iter(batches))
    assert learnt.get_vocabulary() == ["[UNK]", "x", "y"]
    tf_idf = layers.StringLookup(output_mode="tf_idf")
    tf_idf.adapt(iter(batches))
    # documents: 4 rows; x in 3 of them, y in 2, z and w in 1
    idf = {t: np.log(1 + 4 / (1 + d)) for t, d in {"x": 3, "y": 2, "w": 1, "z": 1}.items()}
    assert tf_idf.get_vocabulary() == ["[UNK]", "x", "y", "z", "w"]
    weights = [idf["x"], idf["y"], idf["z"], idf["w"]]
    expected = [np.mean(weights), *weights]
    assert_close(tf_idf([["x", "x", "q"]]), [[expected[0], 2 * expected[1], 0, 0, 0]], rtol=1e-6)
    ints = layers.IntegerLookup(vocabulary=[12, 36, 1138, 42], num_oov_indices=2)  # Keras's documented example
    assert host(ints(np.array([[12, 1138, 42], [37, 1000, 36]]))).tolist() == [[2, 4, 5], [1, 0, 3]]
    padded = layers.IntegerLookup(vocabulary=[12, 36], output_mode="multi_hot", pad_to_max_tokens=True, max_tokens=6)
    assert_close(padded(np.array([[12, 7]])), [[1, 1, 0, 0, 0, 0]])


def test_text_vectorization_as_keras_documents(be):
    adapted = layers.TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4)
    adapted.adapt(["foo bar", "bar baz", "baz bada boom"])
    assert host(adapted([["foo qux bar"], ["qux baz"]])).tolist() == [[4, 1, 3, 0], [1, 2, 0, 0]]
    given = layers.TextVectorization(output_sequence_length=4, vocabulary=["earth", "wind", "and", "fire"])
    assert host(given([["earth wind and Fire!"], ["fire and earth michigan"]])).tolist() == [[2, 3, 4, 5],
                                                                                           [5, 4, 2, 1]]
    assert given.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]
    free = layers.TextVectorization(vocabulary=["a", "b"])  # no length: the batch's longest
    assert host(free(["a b b a", "b"])).tolist() == [[2, 3, 3, 2], [3, 0, 0, 0]]
    cut = layers.TextVectorization(vocabulary=["a", "b"], output_sequence_length=2)
    assert host(cut(["a b b a"])).tolist() == [[2, 3]]


def test_text_vectorization_standardize_split_ngrams_and_modes(be):
    grams = layers.TextVectorization(output_mode="multi_hot", ngrams=2)
    grams.adapt(["The cat sat.", "the dog sat"])
    assert grams.get_vocabulary() == ["[UNK]", "the", "sat", "the dog", "the cat", "dog sat", "dog", "cat sat",
                                      "cat"]
    assert_close(grams(["the cat", "a dog sat"]), [[0, 1, 0, 0, 1, 0, 0, 0, 1], [1, 0, 1, 0, 0, 1, 1, 0, 0]])
    chars = layers.TextVectorization(split="character", standardize="lower", vocabulary=["a", "b", " "])
    assert host(chars(["Ab a"])).tolist() == [[2, 3, 4, 2]]
    whole = layers.TextVectorization(split=None, standardize=None, vocabulary=["Yes", "no"])
    assert host(whole([["Yes"], ["yes"]])).tolist() == [[2], [1]]
    own = layers.TextVectorization(standardize=lambda s: s.replace("<br />", "").lower(),
                                   split=lambda s: s.split("-"), vocabulary=["x", "y"])
    assert host(own(["X-y<br />-z"])).tolist() == [[2, 3, 1]]
    counts = layers.TextVectorization(output_mode="count", vocabulary=["a", "b"], pad_to_max_tokens=True,
                                      max_tokens=5)
    assert_close(counts(["a a b c", ""]), [[1, 2, 1, 0, 0], [0, 0, 0, 0, 0]])
    tf_idf = layers.TextVectorization(output_mode="tf_idf")
    tf_idf.adapt(["a a b", "b c"])
    idf = [np.log(1 + 2 / 3), np.log(1 + 2 / 2), np.log(1 + 2 / 2)]  # b, a, c
    assert tf_idf.get_vocabulary() == ["[UNK]", "b", "a", "c"]
    assert_close(tf_idf(["a b z"]), [[np.mean(idf), idf[0], idf[1], 0.0]], rtol=1e-6)


def test_text_vectorization_refuses_what_it_cannot_do(be):
    with pytest.raises(xdl.ArgumentError, match="output_sequence_length is for output_mode 'int'"):
        layers.TextVectorization(output_mode="count", output_sequence_length=3)
    with pytest.raises(xdl.ArgumentError, match="ngrams need split"):
        layers.TextVectorization(split=None, ngrams=2)
    with pytest.raises(xdl.ArgumentError, match="standardize must be one of"):
        layers.TextVectorization(standardize="upper")
    with pytest.raises(xdl.ArgumentError, match="ragged=True is not supported"):
        layers.TextVectorization(ragged=True)
    with pytest.raises(xdl.ShapeError, match="one string a sample"):
        layers.TextVectorization(vocabulary=["a"])(np.array([["a", "b"]]))
    with pytest.raises(xdl.ArgumentTypeError, match="must return a list of strings"):
        layers.TextVectorization(split=lambda s: 3, vocabulary=["a"])(["a"])
    with pytest.raises(xdl.ArgumentError, match="adapt got no data"):
        layers.TextVectorization().adapt([])
    with pytest.raises(xdl.ArgumentError, match="TextVectorization: max_tokens must be greater than 1"):
        layers.TextVectorization(max_tokens=1)
    with pytest.raises(xdl.ArgumentTypeError, match="not UTF-8"):
        layers.TextVectorization(vocabulary=["a"])(np.array([b"\xff"]))
    with pytest.raises(xdl.ArgumentTypeError, match="strings or integers"):
        layers.Hashing(3)(np.array([[1.5]]))
    with pytest.raises(xdl.XdlError, match="string input; strings go to TextVectorization"):
        layers.Dense(2)(xdl.Input(shape=(1,), dtype="string"))
    words = xdl.Input(shape=(1,), dtype="string")
    model = xdl.Model(words, layers.StringLookup(vocabulary=["a"])(words))
    with pytest.raises(xdl.ArgumentTypeError, match="expected strings"):
        model.predict(np.ones((2, 1)))


def _reviews(n, seed=0):
    rng = np.random.default_rng(seed)
    good, bad = ["good", "great", "fine", "love", "nice"], ["bad", "awful", "hate", "poor", "sad"]
    y = rng.integers(0, 2, n)
    x = np.array([" ".join(rng.choice(good if t else bad, 4)) + "!" for t in y])
    return x, y.astype("float32")


def _text_model(vectorize):
    inputs = xdl.Input(shape=(1,), dtype="string")
    h = layers.Embedding(40, 8)(vectorize(inputs))
    outputs = layers.Dense(1, activation="sigmoid")(layers.GlobalAveragePooling1D()(h))
    model = xdl.Model(inputs, outputs)
    model.compile(optimizer=xdl.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def test_a_model_takes_raw_strings_through_fit_evaluate_predict_and_files(be, tmp_path):
    xdl.seed(0)
    x, y = _reviews(200)
    vectorize = layers.TextVectorization(max_tokens=40, output_sequence_length=5)
    vectorize.adapt(x)
    model = _text_model(vectorize)
    history = model.fit(x[:, None], y, epochs=4, batch_size=32, validation_split=0.25, verbose=0)
    assert history.history["val_accuracy"][-1] == 1.0
    loss, accuracy = model.evaluate(x, y, verbose=0)  # (N,) strings for an input of shape (1,), as Keras
    assert accuracy == 1.0
    probe = np.array(["good love", "awful sad"])
    p = host(model.predict(probe))
    assert p[0, 0] > 0.5 > p[1, 0]
    assert_close(model(probe[:, None]), p, rtol=1e-5)
    model.save(tmp_path / "text.xdl")
    again = xdl.models.load_model(tmp_path / "text.xdl")
    assert again.layers[0].get_vocabulary() == vectorize.get_vocabulary()
    assert_close(again.predict(list(probe)), p, rtol=1e-6)
    again.fit(x, y, epochs=1, verbose=0)  # trains on after loading, optimizer state and all


def test_fit_on_streams_of_strings_and_a_sequential_that_starts_with_text(be):
    xdl.seed(1)
    x, y = _reviews(160, seed=1)

    class Reviews(xdl.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[40 * i:40 * (i + 1)], y[40 * i:40 * (i + 1)]

    vectorize = layers.TextVectorization(max_tokens=40, output_sequence_length=5)
    vectorize.adapt(Reviews())  # (x, y) batches: adapt reads x
    model = _text_model(vectorize)
    model.fit(Reviews(), epochs=3, verbose=0)
    assert model.evaluate(Reviews(), verbose=0)[1] == 1.0
    model.fit(((x[i:i + 40], y[i:i + 40]) for i in range(0, 160, 40)), epochs=1, verbose=0)
    chain = xdl.Sequential([layers.TextVectorization(max_tokens=20, output_mode="multi_hot"),
                            layers.Dense(1, activation="sigmoid")])
    chain.layers[0].adapt(x)
    chain.compile(optimizer=xdl.optimizers.Adam(0.1), loss="binary_crossentropy", metrics=["accuracy"])
    chain.fit(list(x), y, epochs=10, batch_size=40, verbose=0)
    assert chain.evaluate(list(x), y, verbose=0)[1] == 1.0


def test_string_layers_in_models_save_their_state(be, tmp_path):
    words = xdl.Input(shape=(2,), dtype="string")
    ids = layers.StringLookup(vocabulary=VOCAB, mask_token="", num_oov_indices=2)(words)
    bins = layers.Hashing(5, salt=7, output_mode="multi_hot")(words)
    merged = layers.Concatenate()([layers.Flatten()(layers.Embedding(7, 2)(ids)), bins])
    model = xdl.Model(words, layers.Dense(1)(merged))
    data = np.array([["a", "zz"], ["", "d"]])
    model.save(tmp_path / "lookups.xdl")
    again = xdl.models.load_model(tmp_path / "lookups.xdl")
    assert_close(again.predict(data), model.predict(data), rtol=1e-6)
    assert xdl.models.model_from_json(model.to_json()).layers[0].get_vocabulary() == ["", "[UNK]", "[UNK]"] + VOCAB


def test_a_train_step_of_ones_own_gets_strings_without_targets(be):
    x, y = _reviews(64, seed=2)
    labels = {text: label for text, label in zip(x.tolist(), y.tolist())}

    class Scored(xdl.Model):
        def train_step(self, data):  # x alone: the step reads the labels from the strings
            targets = xdl.ops.convert_to_tensor([[labels[t]] for t in data[:, 0].tolist()])
            with xdl.GradientTape() as tape:
                loss = self.compute_loss(y=targets, y_pred=self(data, training=True))
            self.optimizer.apply_gradients(zip(tape.gradient(loss, self.trainable_weights), self.trainable_weights))
            return {"loss": loss}

    vectorize = layers.TextVectorization(max_tokens=40, output_sequence_length=5)
    vectorize.adapt(x)
    inputs = xdl.Input(shape=(1,), dtype="string")
    model = Scored(inputs, layers.Dense(1, activation="sigmoid")(layers.GlobalAveragePooling1D()(
        layers.Embedding(40, 4)(vectorize(inputs)))))
    model.compile(optimizer=xdl.optimizers.Adam(0.05), loss="binary_crossentropy")
    history = model.fit(x[:, None], epochs=3, batch_size=16, check_finite=True, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


@xdl.saving.register_keras_serializable(package="tests")
def strip_html(text):
    return text.replace("<br />", " ").lower()


def test_text_functions_save_by_registered_name(be, tmp_path):
    inputs = xdl.Input(shape=(1,), dtype="string")
    vectorize = layers.TextVectorization(standardize=strip_html, vocabulary=["a", "b"], output_sequence_length=3)
    model = xdl.Model(inputs, vectorize(inputs))
    model.save(tmp_path / "fn.xdl")
    again = xdl.models.load_model(tmp_path / "fn.xdl")
    assert host(again.predict(np.array(["A<br />b"]))).tolist() == [[2, 3, 0]]
    unregistered = layers.TextVectorization(standardize=lambda s: s, vocabulary=["a"])
    with pytest.raises(xdl.ArgumentError, match="register it"):
        unregistered.get_config()
