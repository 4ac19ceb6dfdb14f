"""Keras 3's files both ways: ``.keras`` (a zip of config.json, metadata.json and model.weights.h5)
and ``.weights.h5``, checked against Keras itself (its numpy backend) where it is installed, and
held to xdl's file rules (bounded, registered classes only, no code, ``ModelFileError``)."""

from __future__ import annotations

import io
import json
import os
import random
import sys
import warnings
import zipfile

import numpy as np
import pytest

import xdl
from tests import fuzz_files

h5py = pytest.importorskip("h5py", reason="Keras's weights are HDF5: pip install xdl[keras]")
from xdl.io import keras_config

ATOL = 1e-5
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")


@pytest.fixture(scope="module")
def keras():
    """Keras 3 on its numpy backend (chosen before it is imported; it needs jax and scipy)."""
    before = os.environ.get("KERAS_BACKEND")
    os.environ.setdefault("KERAS_BACKEND", "numpy")
    try:
        module = pytest.importorskip("keras", minversion="3.0", reason="Keras 3 (and jax, which it imports) is not "
                                     "installed: pip install keras jax")
    finally:
        if before is None:
            os.environ.pop("KERAS_BACKEND", None)
    return module


# -- the models, written once with the API both libraries share -------------------------------------------


def mlp(lib):
    L = lib.layers
    return lib.Sequential([lib.Input((7,)), L.Dense(16, activation="relu"), L.Dropout(0.3),
                           L.Dense(3, activation="softmax")])


def cnn(lib):
    L = lib.layers
    return lib.Sequential([lib.Input((8, 8, 2)), L.Conv2D(4, 3, padding="same", activation="relu"),
                           L.BatchNormalization(), L.MaxPooling2D(), L.Conv2D(3, 2, strides=2), L.AveragePooling2D(1),
                           L.Flatten(), L.Dense(2)])


def lstm_text(lib):
    L = lib.layers
    return lib.Sequential([lib.Input((9,), dtype="int32"), L.Embedding(30, 8, mask_zero=True),
                           L.LSTM(6, return_sequences=True), L.LSTM(5), L.Dense(3, activation="sigmoid")])


def gru_text(lib):
    L = lib.layers
    tokens = lib.Input((9,), dtype="int32")
    x = L.Embedding(30, 8)(tokens)
    x = L.Bidirectional(L.GRU(5, return_sequences=True))(x)
    x = L.Concatenate()([L.GlobalAveragePooling1D()(x), L.SimpleRNN(4)(x), L.Bidirectional(L.LSTM(2), merge_mode="sum")(x)])
    return lib.Model(tokens, L.Dense(2)(x))


def merges(lib):
    L = lib.layers
    a, b = lib.Input((5,), name="a"), lib.Input((5,), name="b")
    shared = L.Dense(4, activation="tanh", name="shared")
    ha, hb = shared(a), shared(b)  # one layer, two nodes
    inner = lib.Sequential([lib.Input((4,)), L.Dense(4), L.Activation("elu")], name="inner")
    parts = [L.Add()([ha, hb]), L.Subtract()([ha, hb]), L.Multiply()([ha, hb]), L.Average()([ha, hb]),
             L.Maximum()([ha, hb]), L.Minimum()([ha, hb]), inner(ha)]
    joined = L.Concatenate()(parts)
    return lib.Model([a, b], [L.LayerNormalization()(joined), L.Dense(1, name="second")(hb)])


def attention(lib):
    L = lib.layers
    tokens, mask = lib.Input((6,), dtype="int32"), lib.Input((6, 6))
    x = L.Embedding(20, 8)(tokens)
    x = L.LayerNormalization()(L.Add()([x, L.MultiHeadAttention(2, 4)(x, x, attention_mask=mask)]))
    y = L.MultiHeadAttention(2, 3, value_dim=5)(x, x, use_causal_mask=True)
    return lib.Model([tokens, mask], L.Dense(2)(L.GlobalAveragePooling1D()(y)))


MODELS = {"mlp": mlp, "cnn": cnn, "lstm_text": lstm_text, "gru_text": gru_text, "merges": merges,
          "attention": attention}


def data(kind):
    rng = np.random.default_rng(7)
    tokens = rng.integers(1, 30, (4, 9)).astype("int32")
    tokens[0, 6:] = 0  # padding, masked by Embedding(mask_zero=True)
    return {"mlp": rng.standard_normal((4, 7)).astype("float32"),
            "cnn": rng.standard_normal((4, 8, 8, 2)).astype("float32"),
            "lstm_text": tokens, "gru_text": tokens,
            "merges": [rng.standard_normal((4, 5)).astype("float32"), rng.standard_normal((4, 5)).astype("float32")],
            "attention": [tokens[:, :6] % 20, (rng.random((4, 6, 6)) > 0.3).astype("float32")]}[kind]


def randomized(weights, names, seed=0):
    """Weights drawn anew (variances positive): a layout mixed up shows in the predictions."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(0.3, 1.2, w.shape).astype(w.dtype) if "variance" in n else
            rng.uniform(-0.8, 0.8, w.shape).astype(w.dtype) for w, n in zip(weights, names)]


def randomize_keras(model):
    model.set_weights(randomized(model.get_weights(), [w.path for w in model.weights]))
    for layer in model.layers:  # Keras's Normalization computes from its variables when it loads or adapts only
        if hasattr(layer, "finalize_state") and type(layer).__name__ == "Normalization":
            layer.finalize_state()


def randomize_xdl(model):
    model.set_weights(randomized(model.get_weights(), list(model.named_parameters())))


def outputs(predicted):
    return [np.asarray(p) for p in predicted] if isinstance(predicted, (list, tuple)) else [np.asarray(predicted)]


def assert_same(actual, expected):
    actual, expected = outputs(actual), outputs(expected)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(xdl.to_numpy(a), e, atol=ATOL, rtol=ATOL)


# -- both ways, against Keras -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", MODELS)
def test_a_file_keras_saved_loads_and_predicts_alike(be, keras, kind, tmp_path):
    model = MODELS[kind](keras)
    randomize_keras(model)
    model.save(tmp_path / "k.keras")
    loaded = xdl.models.load_model(tmp_path / "k.keras")
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers
                                                       if type(layer).__name__ != "InputLayer"]
    assert_same(loaded.predict(data(kind)), model.predict(data(kind), verbose=0))


@pytest.mark.parametrize("kind", MODELS)
def test_a_file_xdl_saved_loads_in_keras_and_predicts_alike(be, keras, kind, tmp_path):
    model = MODELS[kind](xdl)
    randomize_xdl(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every layer has a Keras form: no warning
        model.save(tmp_path / "x.keras")
    loaded = keras.models.load_model(tmp_path / "x.keras")
    assert_same(model.predict(data(kind)), loaded.predict(data(kind), verbose=0))


def zoo(lib):
    """A model of every other layer and activation the table maps (``test_the_zoo_covers_the_table``)."""
    L = lib.layers
    x = lib.Input((8, 6))
    seq = L.Conv1D(5, 3, padding="causal", dilation_rate=2, activation="gelu")(x)
    seq = L.AveragePooling1D(2, strides=1)(L.MaxPooling1D(2, padding="same")(seq))
    seq = L.SpatialDropout1D(0.2)(L.GaussianNoise(0.1)(seq))
    pooled = [L.GlobalMaxPooling1D()(seq), L.GlobalAveragePooling1D()(seq)]
    img = L.Reshape((8, 6, 1))(x)
    img = L.Cropping2D(((1, 0), (0, 1)))(L.ZeroPadding2D((1, 2))(img))
    img = L.SpatialDropout2D(0.1)(L.Conv2D(3, 3, use_bias=False)(img))
    pooled += [L.GlobalMaxPooling2D()(img), L.GlobalAveragePooling2D()(img)]
    up = L.SeparableConv2D(2, 3, padding="same", depth_multiplier=2, activation="relu")(img)
    up = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(up)
    up = L.UpSampling2D((2, 1), interpolation="bilinear")(L.Conv2DTranspose(2, 3, strides=2, padding="same")(up))
    pooled += [L.GlobalAveragePooling2D()(L.UpSampling2D()(up)),
               L.GlobalMaxPooling1D()(L.Conv1DTranspose(3, 3, strides=2)(seq)),
               L.GlobalAveragePooling1D()(L.TimeDistributed(L.Dense(2, activation="tanh"))(seq))]
    aug = L.RandomTranslation(0.1, 0.1)(L.RandomZoom(0.1)(L.RandomRotation(0.1)(L.RandomFlip("horizontal")(img))))
    pooled += [L.GlobalAveragePooling2D()(L.CenterCrop(5, 4)(L.Resizing(9, 7)(L.RandomContrast(0.2)(aug))))]
    flat = L.Flatten()(L.Permute((2, 1))(x))
    acts = [L.Dense(3, activation=name)(flat) for name in sorted(keras_config.ACTIVATIONS)]
    adapted = L.Normalization()
    adapted.adapt(np.random.default_rng(9).standard_normal((16, 48)).astype("float32") * 2 + 1)
    acts += [L.ReLU()(flat), L.LeakyReLU(0.2)(flat), L.Softmax()(flat), L.ELU(0.7)(flat), L.Identity()(flat),
             L.Rescaling(0.5, offset=0.1)(flat), adapted(flat), L.Normalization(mean=0.5, variance=2.0)(flat)]
    acts += [L.CategoryEncoding(4, output_mode="count")(L.Discretization(bin_boundaries=[-0.5, 0.0, 0.5])(flat))]
    norm = L.BatchNormalization(center=False)(L.LayerNormalization(scale=False)(L.Concatenate()(pooled + acts)))
    rep = L.RepeatVector(2)(L.Dense(4)(norm))
    return lib.Model(x, L.Flatten()(rep))


def test_the_zoo_covers_the_table():
    model = zoo(xdl)
    kinds = {type(layer).__name__ for layer in model.layers}
    missing = {keras_config.KERAS_CLASS[k] for k in keras_config.KERAS_CLASS} - {
        keras_config.KERAS_CLASS.get(k, k) for k in kinds} - {"SimpleRNN", "LSTM", "GRU", "Bidirectional", "Embedding",
                                                             "MultiHeadAttention", "Add", "Subtract", "Multiply",
                                                             "Average", "Maximum", "Minimum", "Dropout", "Activation",
                                                             "Dense", "Flatten", "MaxPooling2D", "AveragePooling2D"}
    assert not missing, f"layers of the table that no test model holds: {sorted(missing)}"


@pytest.mark.parametrize("direction", ["keras to xdl", "xdl to keras"])
def test_every_other_mapped_layer_and_activation(be, keras, direction, tmp_path):
    x = np.random.default_rng(3).standard_normal((3, 8, 6)).astype("float32")
    source = zoo(keras if direction == "keras to xdl" else xdl)
    (randomize_keras if direction == "keras to xdl" else randomize_xdl)(source)
    source.save(tmp_path / "zoo.keras")
    loaded = (xdl.models.load_model if direction == "keras to xdl" else keras.models.load_model)(tmp_path / "zoo.keras")
    keras_model = source if direction == "keras to xdl" else loaded
    xdl_model = loaded if direction == "keras to xdl" else source
    assert_same(xdl_model.predict(x), keras_model.predict(x, verbose=0))


def test_xdl_activation_layers_and_norms_become_keras_layers(be, keras, tmp_path):
    L = xdl.layers
    x = xdl.Input((5,))
    parts = [layer(x) for layer in (L.Sigmoid(), L.Tanh(), L.SiLU(), L.Softplus(), L.Softsign(), L.Mish(), L.GELU())]
    out = xdl.BatchNorm()(xdl.LayerNorm()(L.Concatenate()(parts)))
    model = xdl.Model(x, out)
    randomize_xdl(model)
    model.save(tmp_path / "acts.keras")
    loaded = keras.models.load_model(tmp_path / "acts.keras")
    assert {type(layer).__name__ for layer in loaded.layers} == {"InputLayer", "Activation", "Concatenate",
                                                                  "LayerNormalization", "BatchNormalization"}
    probe = np.random.default_rng(0).standard_normal((4, 5)).astype("float32")
    assert_same(model.predict(probe), loaded.predict(probe, verbose=0))


def test_states_between_recurrent_layers_and_frozen_layers(be, keras, tmp_path):
    """LSTM(return_state) feeding another's initial_state, GRU's, and a frozen layer, both ways."""
    def build(lib):
        L = lib.layers
        x = lib.Input((5, 3))
        seq, h, c = L.LSTM(4, return_sequences=True, return_state=True)(x)
        y = L.LSTM(4)(x, initial_state=[h, c])
        g, state = L.GRU(4, return_state=True, go_backwards=True)(seq)
        frozen = L.Dense(2, name="frozen")
        frozen.trainable = False
        return lib.Model(x, [frozen(y), L.GRU(3)(seq, initial_state=L.Dense(3)(state)), g])

    probe = np.random.default_rng(1).standard_normal((2, 5, 3)).astype("float32")
    for source, load in ((build(keras), xdl.models.load_model), (build(xdl), None)):
        (randomize_keras if load else randomize_xdl)(source)
        path = tmp_path / f"states_{bool(load)}.keras"
        source.save(path)
        loaded = (load or keras.models.load_model)(path)
        assert not loaded.get_layer("frozen").trainable
        xdl_model, keras_model = (loaded, source) if load else (source, loaded)
        assert_same(xdl_model.predict(probe), keras_model.predict(probe, verbose=0))


def masked_text(lib):
    """Embedding(mask_zero=True) feeding recurrent layers in a functional model: Keras writes the
    mask as operations (NotEqual) passed on as mask=; xdl derives it as it builds."""
    L = lib.layers
    tokens = lib.Input((9,), dtype="int32")
    x = L.Embedding(30, 8, mask_zero=True)(tokens)
    x = L.Bidirectional(L.LSTM(4, return_sequences=True))(x)
    x = L.Add()([L.Dense(4)(x), L.Dense(4)(x)])
    return lib.Model(tokens, [L.GlobalAveragePooling1D()(L.GRU(3, return_sequences=True)(x)), L.SimpleRNN(2)(x)])


@pytest.mark.parametrize("direction", ["keras to xdl", "xdl to keras"])
def test_masks_from_embedding_mask_zero_both_ways(be, keras, direction, tmp_path):
    source = masked_text(keras if direction == "keras to xdl" else xdl)
    (randomize_keras if direction == "keras to xdl" else randomize_xdl)(source)
    source.save(tmp_path / "masked.keras")
    loaded = (xdl.models.load_model if direction == "keras to xdl" else keras.models.load_model)(tmp_path / "masked.keras")
    xdl_model, keras_model = (loaded, source) if direction == "keras to xdl" else (source, loaded)
    assert_same(xdl_model.predict(data("lstm_text")), keras_model.predict(data("lstm_text"), verbose=0))


@pytest.mark.filterwarnings("ignore:.*the mask stops here")  # xdl's own, as the graph is built
def test_attention_over_a_mask_is_refused_both_ways(be, keras, tmp_path):
    """Keras applies the mask of Embedding(mask_zero=True) in attention; xdl's takes attention_mask only."""
    def build(lib):
        tokens = lib.Input((6,), dtype="int32")
        x = lib.layers.Embedding(20, 8, mask_zero=True)(tokens)
        return lib.Model(tokens, lib.layers.MultiHeadAttention(2, 4)(x, x))

    build(keras).save(tmp_path / "k.keras")
    with pytest.raises(xdl.ModelFileError, match="Keras applies in attention"):
        xdl.models.load_model(tmp_path / "k.keras")
    with pytest.warns(UserWarning), pytest.raises(xdl.ModelFileError, match="save it as .xdl"):
        build(xdl).save(tmp_path / "x.keras")


# -- compile settings and the optimizer's state ----------------------------------------------------------------


def test_keras_compile_settings_and_optimizer_state_load(be, keras, tmp_path):
    L = keras.layers
    model = keras.Sequential([keras.Input((4, 3)), L.LSTM(2, name="lstm"), L.Dense(3, name="dense")])
    model.compile(optimizer=keras.optimizers.Adam(0.003, global_clipnorm=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    opt = model.optimizer
    opt.build(model.trainable_variables)
    rng = np.random.default_rng(5)
    values = [rng.uniform(0.1, 1.0, v.shape).astype("float32") for v in opt.variables]
    values[0], values[1] = np.int64(7), np.float32(0.002)  # the step count, the learning rate (as a callback left it)
    for variable, value in zip(opt.variables, values):
        variable.assign(value)
    model.save(tmp_path / "c.keras")
    loaded = xdl.models.load_model(tmp_path / "c.keras")
    xopt = loaded.optimizer
    assert type(xopt).__name__ == "Adam" and xopt.iterations == 7 and xopt.clipnorm == 1.0
    assert abs(float(xopt.learning_rate) - 0.002) < 1e-9
    assert type(loaded.loss).__name__ == "SparseCategoricalCrossentropy" and loaded.loss.from_logits
    by_path = {v.path.rpartition("/")[2]: value for v, value in zip(opt.variables, values)}
    params = loaded.named_parameters()
    kernel_m = xdl.to_numpy(xopt.state[params["lstm/kernel"]]["m"])
    keras_m = next(v for k, v in by_path.items() if k.endswith("lstm_cell_kernel_momentum"))
    units = 2  # Keras's gates i, f, c, o; xdl's i, f, o, g
    np.testing.assert_array_equal(kernel_m[:, 2 * units:3 * units], keras_m[:, 3 * units:])
    np.testing.assert_array_equal(kernel_m[:, 3 * units:], keras_m[:, 2 * units:3 * units])
    dense_v = next(v for k, v in by_path.items() if k.endswith("dense_kernel_velocity"))
    np.testing.assert_array_equal(xdl.to_numpy(xopt.state[params["dense/weights"]]["v"]), dense_v)
    assert not xdl.models.load_model(tmp_path / "c.keras", compile=False).optimizer


def test_xdl_compile_settings_and_optimizer_state_load_in_keras(be, keras, tmp_path):
    model = gru_text(xdl)
    model.compile(optimizer=xdl.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = data("gru_text")
    model.fit(x, np.array([0, 1, 1, 0]), epochs=2, batch_size=2, verbose=0)
    model.save(tmp_path / "c.keras")
    loaded = keras.models.load_model(tmp_path / "c.keras")
    opt = loaded.optimizer
    assert type(opt).__name__ == "Adam" and int(opt.iterations.numpy()) == model.optimizer.iterations == 4
    assert abs(float(opt.learning_rate.numpy()) - 0.01) < 1e-7
    last = model.layers[-1]
    dense = last.named_parameters()["weights"]
    keras_m = next(v.numpy() for v in opt.variables if v.path.endswith(f"{last.name}_kernel_momentum"))
    np.testing.assert_allclose(keras_m, xdl.to_numpy(model.optimizer.state[dense]["m"]), atol=1e-7)
    assert_same(model.predict(x), loaded.predict(x, verbose=0))


def test_keras_schedules_metric_objects_and_an_optimizer_never_stepped(be, keras, tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    schedule = keras.optimizers.schedules.CosineDecay(0.1, 100)
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9), loss="mse",
                  metrics=["mae", keras.metrics.AUC(num_thresholds=50)])
    model.save(tmp_path / "s.keras")  # compiled, never trained: the step count alone, no slots
    loaded = xdl.models.load_model(tmp_path / "s.keras")
    opt = loaded.optimizer
    assert type(opt).__name__ == "SGD" and opt.momentum == 0.9 and opt.iterations == 0 and not opt.state
    assert opt.get_config()["learning_rate"]["class"] == "CosineDecay"
    assert [type(m).__name__ for m in loaded.objectives.metrics[0]] == ["MeanAbsoluteError", "AUC"]
    loaded.fit(np.ones((4, 3)), np.zeros((4, 2)), epochs=1, verbose=0)


def test_compile_settings_keras_lacks_stay_xdls(be, keras, tmp_path):
    model = mlp(xdl)
    model.compile(optimizer="adam", loss=xdl.CrossEntropy(), metrics=["accuracy"])  # labels or one-hot: no Keras twin
    model.fit(data("mlp"), np.array([0, 1, 2, 1]), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    assert json.loads(zipfile.ZipFile(tmp_path / "m.keras").read("config.json"))["compile_config"] is None
    assert not keras.models.load_model(tmp_path / "m.keras").compiled  # Keras loads it, uncompiled
    again = xdl.models.load_model(tmp_path / "m.keras")
    assert type(again.loss).__name__ == "CrossEntropy" and again.optimizer.iterations == model.optimizer.iterations


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop", "nadam", "adagrad", "lion", "adamw", "schedule"])
def test_xdl_round_trip_continues_training_exactly(be, optimizer, tmp_path):
    opts = {"sgd": lambda: xdl.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
            "schedule": lambda: xdl.optimizers.Adam(xdl.optimizers.schedules.ExponentialDecay(0.01, 5, 0.5),
                                                    clipnorm=1.0)}
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((32, 5)).astype("float32"), rng.integers(0, 3, 32)
    model = xdl.Sequential([xdl.Input((5,)), xdl.layers.Dense(8, activation="tanh"), xdl.layers.Dense(3)])
    model.compile(optimizer=opts.get(optimizer, lambda: optimizer)(), loss=xdl.CrossEntropy(), metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / "ck.keras")
    again = xdl.models.load_model(tmp_path / "ck.keras")
    assert again.epoch == model.epoch == 2 and again.optimizer.iterations == model.optimizer.iterations
    for m in (model, again):
        m.fit(x, y, epochs=4, initial_epoch=2, batch_size=8, verbose=0)
    np.testing.assert_array_equal(xdl.to_numpy(again.predict(x)), xdl.to_numpy(model.predict(x)))


# -- xdl's own classes, weights files, old files ------------------------------------------------------------


@xdl.register_layer
class Scaled(xdl.layers.Layer):
    """A layer of one's own: a custom object in Keras's terms, found again by its registered name."""

    def __init__(self, units=2, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
        self.scale = self.add_weight(shape=(self.units,), initializer="ones", name="scale", trainable=False)

    def call(self, x):
        return xdl.ops.matmul(x, self.kernel) * self.scale

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_layers_keras_lacks_are_written_as_custom_objects_and_read_back(be, tmp_path):
    x = xdl.Input((6, 6, 1))
    h = xdl.layers.GELU(approximate="tanh")(x)  # Keras's gelu is the exact one: no Keras form
    out = Scaled(3, name="mine")(xdl.layers.Flatten()(h))
    model = xdl.Model(x, out)
    with pytest.warns(UserWarning, match=r"without a Keras form \(gelu.*GELU.*name it \.xdl"):
        model.save(tmp_path / "own.keras")
    config = json.loads(zipfile.ZipFile(tmp_path / "own.keras").read("config.json"))
    entries = {e["name"]: e for e in config["config"]["layers"]}
    assert entries["mine"]["registered_name"] == "Scaled" and entries["mine"]["class_name"] == "Scaled"
    assert entries[model.layers[0].name]["registered_name"] == "xdl>GELU"
    probe = np.random.default_rng(0).standard_normal((2, 6, 6, 1))
    again = xdl.models.load_model(tmp_path / "own.keras")
    assert isinstance(again.get_layer("mine"), Scaled)
    np.testing.assert_array_equal(xdl.to_numpy(again.predict(probe)), xdl.to_numpy(model.predict(probe)))


def test_weights_h5_files_both_ways(be, keras, tmp_path):
    xm, km = merges(xdl), merges(keras)
    randomize_keras(km)
    km.save_weights(tmp_path / "k.weights.h5")
    xm.load_weights(tmp_path / "k.weights.h5")
    assert_same(xm.predict(data("merges")), km.predict(data("merges"), verbose=0))
    randomize_xdl(xm)
    xm.save_weights(tmp_path / "x.weights.h5")
    km.load_weights(tmp_path / "x.weights.h5")
    assert_same(xm.predict(data("merges")), km.predict(data("merges"), verbose=0))


def test_weights_files_without_keras(be, tmp_path):
    model = lstm_text(xdl)
    randomize_xdl(model)
    model.save_weights(tmp_path / "w.weights.h5")
    with open(tmp_path / "w.weights.h5", "rb") as f:
        assert f.read(8) == b"\x89HDF\r\n\x1a\n"
    model.save(tmp_path / "m.keras")
    for source in ("w.weights.h5", "m.keras"):  # Keras's load_weights reads a whole .keras file too
        twin = lstm_text(xdl)
        twin.load_weights(tmp_path / source)
        np.testing.assert_array_equal(xdl.to_numpy(twin.predict(data("lstm_text"))),
                                      xdl.to_numpy(model.predict(data("lstm_text"))))
    with pytest.raises(xdl.ModelFileError, match=r"w\.weights\.h5.*shape"):
        mlp(xdl).load_weights(tmp_path / "w.weights.h5")


def test_a_subclassed_models_weights_h5_stay_xdl_safetensors(be, tmp_path):
    class Small(xdl.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = xdl.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Small()
    model.predict(np.ones((1, 3)))
    model.save_weights(tmp_path / "s.weights.h5")
    again = Small()
    again.predict(np.ones((1, 3)))
    again.load_weights(tmp_path / "s.weights.h5")
    np.testing.assert_array_equal(xdl.to_numpy(again.predict(np.ones((1, 3)))),
                                  xdl.to_numpy(model.predict(np.ones((1, 3)))))


def test_an_xdl_file_named_keras_by_an_earlier_release_still_loads(be, tmp_path):
    model = mlp(xdl)
    model.save(tmp_path / "m.xdl")
    os.replace(tmp_path / "m.xdl", tmp_path / "old.keras")
    np.testing.assert_array_equal(xdl.to_numpy(xdl.models.load_model(tmp_path / "old.keras").predict(data("mlp"))),
                                  xdl.to_numpy(model.predict(data("mlp"))))


def test_without_h5py_the_error_says_what_to_install(be, tmp_path, monkeypatch):
    model = mlp(xdl)
    model.save(tmp_path / "before.keras")
    monkeypatch.setitem(sys.modules, "h5py", None)
    for call in (lambda: model.save(tmp_path / "m.keras"), lambda: xdl.models.load_model(tmp_path / "before.keras"),
                 lambda: model.save_weights(tmp_path / "m.weights.h5")):
        with pytest.raises(xdl.errors.DependencyError, match=r"pip install xdl\[keras\]"):
            call()
    model.save(tmp_path / "m.xdl")  # xdl's own format needs nothing more


# -- what is refused, and how ---------------------------------------------------------------------------------


def rewrite(source, target, config=None, metadata=None, weights=None, extra=()):
    """``target``: the .keras file ``source`` with its members changed by the functions given."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    for member, change in (("config.json", config), ("metadata.json", metadata)):
        if change is not None:
            document = json.loads(members[member])
            members[member] = json.dumps(change(document) or document).encode()
    if weights is not None:
        buffer = io.BytesIO(members["model.weights.h5"])
        with h5py.File(buffer, "r+") as f:
            weights(f)
        members["model.weights.h5"] = buffer.getvalue()
    target.write_bytes(fuzz_files.rezip(list(members.items()) + list(extra)))
    return target


def layer_entry(name):
    def find(document):
        return next(e for e in document["config"]["layers"] if e.get("name", e["config"].get("name")) == name)
    return find


@pytest.fixture
def valid(tmp_path):
    """A functional model's .keras file (Dense, LSTM, Dense), compiled with Adam and trained."""
    with xdl.use_backend("numpy"):
        x = xdl.Input((4, 3), name="x")
        h = xdl.layers.LSTM(3, name="lstm")(x)
        model = xdl.Model(x, xdl.layers.Dense(2, activation="relu", name="dense")(h))
        model.compile(optimizer="adam", loss="mse")
        model.fit(np.ones((4, 4, 3)), np.ones((4, 2)), epochs=1, verbose=0)
        model.save(tmp_path / "valid.keras")
    return tmp_path / "valid.keras"


def _set(key, value, name="dense"):
    def change(document):
        layer_entry(name)(document)["config"][key] = value
    return change


CONFIG_CASES = {
    "lambda": (lambda d: layer_entry("dense")(d).update(class_name="Lambda"), "Lambda layer holds Python code"),
    "unknown layer": (lambda d: layer_entry("dense")(d).update(module="mylib.layers", class_name="Fancy",
                                                              registered_name="mylib>Fancy"), "unknown class 'mylib>Fancy'"),
    "keras op": (lambda d: layer_entry("dense")(d).update(module="keras.src.ops.numpy", class_name="Einsum"),
                 r"Keras's Einsum \(keras.src.ops.numpy\) has no xdl reader"),
    "unknown keras layer": (lambda d: layer_entry("dense")(d).update(class_name="ConvLSTM2D"),
                            "ConvLSTM2D .* has no xdl reader"),
    "subclassed model": (lambda d: d.update(module="mine", class_name="MyModel", config={"units": 3}),
                         "MyModel' is a subclassed Keras model"),
    "unknown activation": (_set("activation", "swoosh"), "unknown activation 'swoosh'"),
    "leaky_relu activation": (_set("activation", "leaky_relu"), "slopes 0.2 in Keras"),
    "channels_first": (_set("data_format", "channels_first"), "data_format='channels_first' is not supported"),
    "constraint": (_set("kernel_constraint", {"class_name": "NonNeg", "config": {}}), "take no constraints"),
    "mixed precision": (_set("dtype", {"class_name": "DTypePolicy", "config": {"name": "mixed_float16"}}),
                        "no mixed precision"),
    "unknown key": (_set("explode", True), "explode=True is not supported"),
    "bad units": (_set("units", -3), "config does not fit"),
    "explicit mask": (lambda d: layer_entry("dense")(d)["inbound_nodes"][0]["kwargs"].update(
        mask={"class_name": "__keras_tensor__", "config": {"keras_history": ["x", 0, 0]}}), "a mask= tensor that no mask operation makes"),
    "dangling": (lambda d: layer_entry("dense")(d)["inbound_nodes"][0]["args"][0]["config"].update(
        keras_history=["ghost", 0, 0]), "ghost.* no layer|which no node makes"),
    "cycle": (lambda d: layer_entry("lstm")(d)["inbound_nodes"][0]["args"][0]["config"].update(
        keras_history=["dense", 0, 0]), "cycle"),
    "keras 2 nodes": (lambda d: layer_entry("dense")(d).update(inbound_nodes=["lstm"]), "Keras 3's form"),
    "huge input": (lambda d: layer_entry("x")(d)["config"].update(batch_shape=[None, 2**20, 2**20]),
                   "elements per sample|more than the file"),
    "sparse input": (lambda d: layer_entry("x")(d)["config"].update(sparse=True), "dense inputs"),
    "reset_after": (lambda d: layer_entry("lstm")(d).update(class_name="GRU") or layer_entry("lstm")(d)["config"].update(
        reset_after=False, unit_forget_bias=None) or layer_entry("lstm")(d)["config"].pop("unit_forget_bias"),
        "reset_after=False"),
    "not a dict": (lambda d: d.update(config=[1, 2]), "malformed entry"),
    "compile_config optimizer": (lambda d: d.update(compile_config={"optimizer": {"class_name": "Adam", "config": {
        "clipnorm": 1.0}}, "loss": "mse"}), "clipnorm=1.0 has no xdl counterpart.*compile=False"),
    "compile_config loss function": (lambda d: d.update(compile_config={"optimizer": "adam", "loss": {
        "module": "builtins", "class_name": "function", "config": "my_loss", "registered_name": "function"}}),
        "your function 'my_loss'"),
}


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_a_config_that_is_refused_names_the_file_and_the_fault(valid, tmp_path, case):
    change, match = CONFIG_CASES[case]
    strip = (lambda m: m.pop("xdl_training")) if case.startswith("compile_config") else None
    path = rewrite(valid, tmp_path / "bad.keras", config=change, metadata=strip)
    with pytest.raises(xdl.ModelFileError, match=match) as caught:
        xdl.models.load_model(path)
    assert str(path) in str(caught.value)


def _soft_link(f):
    del f["layers/dense/vars/0"]
    f["layers/dense/vars/0"] = h5py.SoftLink("/layers/lstm/cell/vars/0")


def _external_link(f):
    del f["layers/dense/vars/0"]
    f["layers/dense/vars/0"] = h5py.ExternalLink("/etc/hostname", "/x")


def _external_storage(f):
    del f["layers/dense/vars/0"]
    f.create_dataset("layers/dense/vars/0", shape=(3, 2), dtype="f4", external=[("/etc/hostname", 0, 2**20)])


def _huge_chunks(f):
    del f["layers/dense/vars/0"]
    f.create_dataset("layers/dense/vars/0", shape=(3, 2**24), dtype="f4", chunks=True, compression="gzip")


def _replace(path, value):
    def change(f):
        del f[path]
        f[path] = value
    return change


WEIGHT_CASES = {
    "wrong shape": (_replace("layers/dense/vars/0", np.ones((2, 3), "f4")), r"shape \(2, 3\).*expects \(3, 2\)"),
    "integers": (_replace("layers/dense/vars/0", np.ones((3, 2), "i4")), "dtype int32"),
    "missing": (lambda f: f.__delitem__("layers/lstm/cell/vars/2"), "missing weight 'layers/lstm/cell/vars/2'"),
    "one too many": (lambda f: f.create_dataset("layers/dense/vars/2", data=np.ones(2)), "holds 3 variables"),
    "soft link": (_soft_link, "SoftLink; only hard links are read"),
    "external link": (_external_link, "ExternalLink; only hard links are read"),
    "external storage": (_external_storage, "outside the file"),
    "huge and empty": (_huge_chunks, "expects"),
    "optimizer state": (lambda f: f.create_dataset("optimizer/vars/99", data=np.ones(1)), "do not fit Adam"),
    "step count": (_replace("optimizer/vars/0", np.float32(1.5)), "expected an integer"),
}


@pytest.mark.parametrize("case", WEIGHT_CASES)
def test_weights_that_are_refused_name_the_file_and_the_fault(valid, tmp_path, case):
    change, match = WEIGHT_CASES[case]
    path = rewrite(valid, tmp_path / "bad.keras", weights=change)
    with pytest.raises(xdl.ModelFileError, match=match) as caught:
        xdl.models.load_model(path)
    assert str(path) in str(caught.value)


def _zip_bomb(tmp_path, valid):
    with zipfile.ZipFile(valid) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["config.json"] = b" " * (5 * 2**20)
    return fuzz_files.rezip(members, zipfile.ZIP_DEFLATED)


ZIP_CASES = {
    "not a zip": (lambda tmp, v: b"PK\x03\x04" + b"\x00" * 100, "not a zip file"),
    "truncated": (lambda tmp, v: v.read_bytes()[:-40], "not a zip file|not a readable zip"),
    "missing member": (lambda tmp, v: fuzz_files.rezip({k: d for k, d in fuzz_files.unzip(v.read_bytes()).items()
                                                        if k != "metadata.json"}), "missing 'metadata.json'"),
    "twice": (lambda tmp, v: fuzz_files.rezip(list(fuzz_files.unzip(v.read_bytes()).items()) + [("config.json", b"{}")]),
              "naming one member twice"),
    "bomb": (_zip_bomb, "expands to"),
    "many entries": (lambda tmp, v: fuzz_files.rezip(list(fuzz_files.unzip(v.read_bytes()).items())
                                                     + [(f"assets/{i}", b"") for i in range(1001)]), "1,004 entries"),
    "config not json": (lambda tmp, v: fuzz_files.rezip({**fuzz_files.unzip(v.read_bytes()), "config.json": b"{x"}),
                        "'config.json' not JSON"),
    "weights not hdf5": (lambda tmp, v: fuzz_files.rezip({**fuzz_files.unzip(v.read_bytes()),
                                                          "model.weights.h5": b"\x89HDF junk"}), "not an HDF5 file"),
}


@pytest.mark.parametrize("case", ZIP_CASES)
def test_a_broken_zip_is_refused(valid, tmp_path, case):
    make, match = ZIP_CASES[case]
    path = tmp_path / "bad.keras"
    path.write_bytes(make(tmp_path, valid))
    with pytest.raises(xdl.ModelFileError, match=match) as caught:
        xdl.models.load_model(path)
    assert str(path) in str(caught.value)


def test_safe_mode_changes_nothing_no_code_runs_either_way(valid, tmp_path):
    path = rewrite(valid, tmp_path / "lambda.keras", config=lambda d: layer_entry("dense")(d).update(
        class_name="Lambda", config={"function": {"class_name": "__lambda__", "config": {"code": "x"}}}))
    with pytest.raises(xdl.ModelFileError, match="Lambda"):
        xdl.models.load_model(path, safe_mode=False)


# -- the structure-aware fuzzer on .keras files (tests/fuzz_files.py --keras runs thousands) ----------------


KERAS_EXAMPLES = int(os.environ.get("XDL_FUZZ_STRUCTURED", "300")) // 3


@pytest.fixture(scope="module")
def keras_originals(tmp_path_factory):
    with xdl.use_backend("numpy"):
        return fuzz_files.keras_valid_files(tmp_path_factory.mktemp("keras_fuzz"))


@pytest.mark.parametrize("kind", ["kjson", "kconfig", "kweights", "kmember", "flip", "truncate"])
def test_mutated_keras_files_load_cleanly_or_raise_model_file_error(tmp_path, keras_originals, kind):
    """Mutations of the seven models' .keras files (every layer type; xdl's and Keras's compile
    settings): config and metadata JSON, layer configs, HDF5 datasets, the zip's entries. Each is
    refused with ModelFileError or loads into a model that predicts."""
    rng, path, names = random.Random(f"{kind}-keras"), tmp_path / "fuzzed.keras", sorted(keras_originals)
    with xdl.use_backend("numpy"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(KERAS_EXAMPLES):
            name = names[i % len(names)]
            path.write_bytes(fuzz_files.mutate_keras(rng, keras_originals[name], kind))
            result, exception, details = fuzz_files.classify(path)
            assert result != "escaped", f"file {i} ({name}): {details}"
            assert exception is None or "(" not in exception or "(predict)" in exception, \
                f"file {i} ({name}): refused from an error no check named: {details}"
