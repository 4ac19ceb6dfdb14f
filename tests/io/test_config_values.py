"""Issue 35, item 6: every config value a model file gives a layer's constructor is checked, so a
bad one is an XdlError naming the layer and the key (a ModelFileError naming the file too when
it comes from a file), never a TypeError, ValueError, AttributeError or MemoryError from inside
the layer. tests/fuzz_files.py's "config" mutations search for the rest."""

from __future__ import annotations

import copy
import json
import random
import warnings

import numpy as np
import pytest

import xdl
from xdl.layers.operation import Operation
from tests import fuzz_files
from xdl.core import initializers
from xdl.io.spec import MAX_ELEMENTS
from xdl.layers.base import LAYERS

pytestmark = pytest.mark.filterwarnings("ignore")


def floats(*shape):
    return np.random.default_rng(0).standard_normal((2, *shape))


def ints(*shape):
    return np.random.default_rng(0).integers(0, 5, (2, *shape))


#: one working layer of every registered type (models aside: check_spec checks their configs),
#: its arguments away from the defaults where it matters, and an input it takes
SAMPLES = {
    "Activation": (lambda: xdl.Activation("relu"), floats(3)),
    "Add": (xdl.Add, [floats(3), floats(3)]), "Average": (xdl.Average, [floats(3), floats(3)]),
    "Maximum": (xdl.Maximum, [floats(3), floats(3)]), "Minimum": (xdl.Minimum, [floats(3), floats(3)]),
    "Multiply": (xdl.Multiply, [floats(3), floats(3)]), "Subtract": (xdl.Subtract, [floats(3), floats(3)]),
    "Concatenate": (xdl.Concatenate, [floats(3), floats(2)]),
    "AvgPool1D": (lambda: xdl.AvgPool1D(2), floats(6, 2)),
    "MaxPool1D": (lambda: xdl.MaxPool1D(2, padding="same"), floats(6, 2)),
    "GlobalAveragePooling1D": (xdl.GlobalAveragePooling1D, floats(6, 2)),
    "GlobalMaxPooling1D": (xdl.GlobalMaxPooling1D, floats(6, 2)),
    "AvgPool2D": (lambda: xdl.AvgPool2D(2), floats(6, 6, 2)),
    "MaxPool2D": (lambda: xdl.MaxPool2D(2, stride=1), floats(6, 6, 2)),
    "GlobalAveragePooling2D": (xdl.GlobalAveragePooling2D, floats(6, 6, 2)),
    "GlobalMaxPooling2D": (xdl.GlobalMaxPooling2D, floats(6, 6, 2)),
    "BatchNorm": (xdl.BatchNorm, floats(3)), "LayerNorm": (xdl.LayerNorm, floats(3)),
    "BatchNormalization": (lambda: xdl.BatchNormalization(momentum=0.9, center=False, gamma_regularizer="l2"),
                           floats(3)),
    "LayerNormalization": (lambda: xdl.LayerNormalization(scale=False, beta_initializer="ones"), floats(4, 3)),
    "Bidirectional": (lambda: xdl.Bidirectional(xdl.LSTM(3, return_sequences=True)), floats(5, 2)),
    "Conv1D": (lambda: xdl.Conv1D(4, 3, padding="same", kernel_regularizer="l2"), floats(6, 2)),
    "Conv2D": (lambda: xdl.Conv2D(4, 3, input_channels=2, padding="same"), floats(6, 6, 2)),
    "Conv2DTranspose": (lambda: xdl.Conv2DTranspose(2, 3, stride=2), floats(4, 4, 2)),
    "Cropping2D": (lambda: xdl.Cropping2D(((1, 1), (1, 0))), floats(6, 6, 2)),
    "Dense": (lambda: xdl.Dense(output_size=3, activation="relu", kernel_regularizer="l1_l2"), floats(3)),
    "DepthwiseConv2D": (lambda: xdl.DepthwiseConv2D(3, depth_multiplier=2), floats(6, 6, 2)),
    "SeparableConv2D": (lambda: xdl.SeparableConv2D(3, 3), floats(6, 6, 2)),
    "Dropout": (lambda: xdl.Dropout(0.2, seed=1), floats(3)),
    "ELU": (xdl.ELU, floats(3)), "GELU": (lambda: xdl.GELU(approximate="tanh"), floats(3)),
    "LeakyReLU": (xdl.LeakyReLU, floats(3)), "Mish": (xdl.Mish, floats(3)), "ReLU": (xdl.ReLU, floats(3)),
    "SiLU": (xdl.SiLU, floats(3)), "Sigmoid": (xdl.Sigmoid, floats(3)), "Softmax": (xdl.Softmax, floats(3)),
    "Softplus": (xdl.Softplus, floats(3)), "Softsign": (xdl.Softsign, floats(3)), "Tanh": (xdl.Tanh, floats(3)),
    "Embedding": (lambda: xdl.Embedding(10, 4, mask_zero=True), ints(5)), "Flatten": (xdl.Flatten, floats(2, 3)),
    "GRU": (lambda: xdl.GRU(3), floats(5, 2)),
    "LSTM": (lambda: xdl.LSTM(3, return_sequences=True, recurrent_regularizer="l2"), floats(5, 2)),
    "SimpleRNN": (lambda: xdl.SimpleRNN(3, activation="relu"), floats(5, 2)),
    "GRUCell": (lambda: xdl.GRUCell(3), floats(2)), "LSTMCell": (lambda: xdl.LSTMCell(3), floats(2)),
    "SimpleRNNCell": (lambda: xdl.SimpleRNNCell(3), floats(2)),
    "Masking": (xdl.Masking, floats(5, 2)),
    "IntegerLookup": (lambda: xdl.layers.IntegerLookup(vocabulary=[3, 1, 7]), np.array([[1, 2], [7, 3]])),
    "StringLookup": (lambda: xdl.layers.StringLookup(vocabulary=["a", "b"], mask_token=""),
                     np.array([["a", "z"], ["", "b"]])),
    "Hashing": (lambda: xdl.layers.Hashing(4, mask_value="", salt=3), np.array([["a"], [""]])),
    "TextVectorization": (lambda: xdl.layers.TextVectorization(max_tokens=6, output_sequence_length=3,
                                                               vocabulary=["the", "cat"], ngrams=2),
                          np.array(["The cat sat.", "a dog"])),
    "RandomTranslation": (lambda: xdl.layers.RandomTranslation(0.1, 0.2, seed=1), floats(3, 3, 2)),
    "RandomZoom": (lambda: xdl.layers.RandomZoom(0.1, seed=1), floats(3, 3, 2)),
    "RandomRotation": (lambda: xdl.layers.RandomRotation(0.1, seed=1), floats(3, 3, 2)),
    "Resizing": (lambda: xdl.layers.Resizing(2, 3, crop_to_aspect_ratio=True), floats(4, 4, 2)),
    "RandomFlip": (lambda: xdl.layers.RandomFlip(seed=1), floats(3, 3, 2)),
    "RandomContrast": (lambda: xdl.layers.RandomContrast(0.2, seed=1), floats(3, 3, 2)),
    "Rescaling": (lambda: xdl.layers.Rescaling(0.5, 1.0), floats(3)),
    "Normalization": (lambda: xdl.layers.Normalization(mean=0.5, variance=2.0), floats(3)),
    "CenterCrop": (lambda: xdl.layers.CenterCrop(2, 2), floats(3, 3, 2)),
    "CategoryEncoding": (lambda: xdl.layers.CategoryEncoding(5), np.array([[1, 2], [0, 4]])),
    "Discretization": (lambda: xdl.layers.Discretization(bin_boundaries=[0.0, 0.5]), floats(3)),
    "Conv1DTranspose": (lambda: xdl.layers.Conv1DTranspose(2, 3, 2, output_padding=1), floats(5, 2)),
    "TimeDistributed": (lambda: xdl.layers.TimeDistributed(xdl.Dense(2)), floats(4, 3)),
    "RepeatVector": (lambda: xdl.layers.RepeatVector(2), floats(3)),
    "Permute": (lambda: xdl.layers.Permute((2, 1)), floats(4, 3)),
    "Identity": (xdl.layers.Identity, floats(3)),
    "GaussianNoise": (lambda: xdl.layers.GaussianNoise(0.1, seed=1), floats(3)),
    "SpatialDropout1D": (lambda: xdl.layers.SpatialDropout1D(0.2, seed=1), floats(4, 3)),
    "SpatialDropout2D": (lambda: xdl.layers.SpatialDropout2D(0.2, seed=1), floats(3, 3, 2)),
    "Operation": (lambda: Operation("clip", [{"tensor": 0}], {"min": -1.0, "max": {"float": "inf"}}), floats(3)),
    "MultiHeadAttention": (lambda: xdl.MultiHeadAttention(2, 2, dropout=0.1, seed=1),
                           [floats(5, 4), floats(5, 4), floats(5, 4)]),
    "PositionEmbedding": (lambda: xdl.PositionEmbedding(6, 4), floats(5, 4)),
    "Reshape": (lambda: xdl.Reshape((3, 2)), floats(6)),
    "TransformerBlock": (lambda: xdl.TransformerBlock(4, 2, 8, dropout=0.1), floats(5, 4)),
    "UpSampling2D": (lambda: xdl.UpSampling2D((2, 2)), floats(3, 3, 2)),
    "ZeroPadding2D": (lambda: xdl.ZeroPadding2D((1, 1)), floats(3, 3, 2)),
}
#: a value of each JSON type a file can hold instead of the right one (sizes are bounded by the
#: loader: see test_tensors_past_max_elements_are_refused)
WRONG = (None, True, -1, 0, 1.5, "x", [], {}, [None], [1, 2, 3], {"class": "L2", "config": {"l2": "x"}})


def test_every_registered_layer_type_has_a_sample():
    ours = {name for name, cls in LAYERS.items() if cls.__module__.startswith("xdl.layers.")}
    assert ours == set(SAMPLES)


def build_and_run(cls, config, x):
    """What loading does with a layer's config (build it, bounded), then what predict does."""
    with initializers.limit(10**6, xdl.ArgumentError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer = cls.from_config(config)
        layer.forward(x)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_config_value_of_another_type_is_an_xdl_error_naming_the_key(be, name):
    """Every argument the constructor takes (those get_config writes, and those it leaves
    out), set to null and to values of every other JSON type in turn: the layer is built and
    runs, or an XdlError is raised; one raised by the constructor names the argument."""
    make, x = SAMPLES[name]
    cls = LAYERS[name]
    config = make().get_config()
    build_and_run(cls, config, x)  # the sample itself works
    for key in sorted(cls.config_keys()):
        for value in WRONG:
            bad = {**copy.deepcopy(config), key: copy.deepcopy(value)}
            try:
                layer = cls.from_config(bad)
            except xdl.XdlError as e:
                assert key in str(e) or key == "name", f"{name} {key}={value!r}: {type(e).__name__}: {e}"
                continue
            except Exception as e:  # noqa: BLE001 (what the test looks for)
                pytest.fail(f"{name} {key}={value!r}: {type(e).__name__}: {e}")
            try:
                build_and_run(cls, layer.get_config() if key != "trainable" else bad, x)
            except xdl.XdlError:
                pass
            except Exception as e:  # noqa: BLE001
                pytest.fail(f"{name} {key}={value!r} (built and run): {type(e).__name__}: {e}")


@pytest.mark.parametrize("key,value", [("class", ["L2"]), ("class", {}), ("class", "l3"), ("config", [1]),
                                       ("config", {"l2": 0.1, "class": "L2"}), ("extra", 1)])
def test_a_malformed_regularizer_config_is_an_xdl_error(key, value):
    spec = {"class": "L2", "config": {"l2": 0.1}, key: value}
    with pytest.raises(xdl.XdlError, match="kernel_regularizer"):
        xdl.Dense.from_config({"output_size": 2, "kernel_regularizer": spec})


def test_unknown_and_missing_config_keys_are_named():
    with pytest.raises(xdl.ArgumentTypeError, match=r"Conv1D: unknown config key \['units'\]"):
        xdl.Conv1D.from_config({"filters": 2, "kernel_size": 3, "units": 2})
    with pytest.raises(xdl.ArgumentTypeError, match=r"LSTM: unknown config key \['filters'\]"):
        xdl.LSTM.from_config({"hidden_size": 2, "filters": 2})  # the cell's arguments pass, others do not
    assert xdl.LSTM.from_config({"units": 2}).hidden_size == 2  # Keras's name or xdl's
    with pytest.raises(xdl.ArgumentError, match=r"units=3 and hidden_size=2 disagree"):
        xdl.LSTM.from_config({"hidden_size": 2, "units": 3})
    xdl.LSTM.from_config({"hidden_size": 2, "unit_forget_bias": False, "recurrent_initializer": "zeros"})
    with pytest.raises(xdl.ArgumentTypeError, match=r"TransformerBlock: its config lacks \['dim'\]"):
        xdl.TransformerBlock.from_config({"num_heads": 2, "mlp_dim": 4})


# -- through model files ---------------------------------------------------------------------------

def saved(tmp_path, model, name="m.xdl"):
    path = tmp_path / name
    model.save(path)
    return fuzz_files.split(path.read_bytes())


def write(tmp_path, header, body, mutate):
    model = json.loads(header["__metadata__"]["model"])
    mutate(model)
    header = {**header, "__metadata__": {**header["__metadata__"], "model": json.dumps(model)}}
    path = tmp_path / "hostile.xdl"
    path.write_bytes(fuzz_files.join(header, body))
    return path


def lstm_file(tmp_path):
    model = xdl.NeuralNetwork([xdl.LSTM(5, name="lstm"), xdl.Dense(output_size=2, name="dense")])
    model.predict(np.ones((2, 6, 3)))
    return saved(tmp_path, model)


def test_issue_35_item_6_an_lstm_whose_features_are_free(tmp_path):
    """The file that escaped: an LSTM with input_size null on a sequence whose features are
    null (free). Its weights cannot be made, and the error said so in Python's words
    ("unsupported operand type(s) for *: 'int' and 'NoneType'"); now it names the layer, what it
    needs and the key that gives it."""
    header, body = lstm_file(tmp_path)

    def mutate(model):
        model["config"]["input_shape"] = [6, None]
        model["config"]["layers"][0]["config"]["input_size"] = None

    path = write(tmp_path, header, body, mutate)
    with pytest.raises(xdl.ModelFileError) as caught:
        xdl.Model.load(path)
    message = str(caught.value)
    assert "NoneType" not in message and "unsupported operand" not in message, message
    assert message.startswith(str(path)), message
    assert "lstm (LSTM): the last axis of its input must have a size" in message
    assert "(N, 6, None)" in message and "input_size" in message


@pytest.mark.parametrize("shape", [(6, None), (None, None)])
def test_a_free_feature_axis_in_a_graph_is_refused_by_every_recurrent_layer(shape):
    for layer in (xdl.LSTM(4), xdl.GRU(4), xdl.SimpleRNN(4), xdl.Bidirectional(xdl.LSTM(4))):
        with pytest.raises(xdl.ShapeError, match=r"last axis of its input must have a size.*input_size"):
            layer(xdl.Input(shape))


@pytest.mark.parametrize("key,value,match", [
    ("units", None, r"units \(xdl's hidden_size\) is required"),
    ("units", "5", r"units must be a positive int"),
    ("return_sequences", "yes", r"return_sequences must be True or False"),
    ("kernel_initializer", ["glorot_uniform"], r"kernel_initializer: unknown initializer"),
    ("kernel_regularizer", {"class": ["L2"], "config": {}}, r"kernel_regularizer: a regularizer's config"),
    ("filters", 5, r"unknown config key \['filters'\]"),
])
def test_a_bad_lstm_config_value_names_the_file_the_layer_and_the_key(tmp_path, key, value, match):
    header, body = lstm_file(tmp_path)
    path = write(tmp_path, header, body, lambda m: m["config"]["layers"][0]["config"].update({key: value}))
    with pytest.raises(xdl.ModelFileError, match=match) as caught:
        xdl.Model.load(path)
    assert str(caught.value).startswith(f"{path}: the layer type LSTM named 'lstm'")
    assert isinstance(caught.value.__cause__, xdl.XdlError)  # raised by a check, not by arithmetic


@pytest.mark.parametrize("index,key,value", [(0, "padding", [[2**30, 2**30], [1, 1]]),
                                             (8, "size", [2**16, 2**16]), (1, "strides", [2**20, 2**20]),
                                             (1, "dilation_rate", [1, 2**40])])
def test_tensors_past_max_elements_are_refused(tmp_path, index, key, value):
    """Layers without weights for the file to pay for describe outputs (or temporaries) of
    terabytes from a few bytes: refused before any data is made."""
    xdl.seed(0)
    model, _, _ = fuzz_files._img()
    model.predict(np.zeros((1, 6, 5, 1)))
    header, body = saved(tmp_path, model)
    path = write(tmp_path, header, body, lambda m: m["config"]["layers"][index]["config"].update({key: value}))
    with pytest.raises(xdl.ModelFileError, match=f"more than {MAX_ELEMENTS:,}|outer taps would"):
        xdl.Model.load(path)


def test_a_model_past_max_elements_is_not_saved(tmp_path):
    x = xdl.Input((6, 5, 1))
    model = xdl.Model(x, xdl.UpSampling2D((2**16, 2**16))(x))
    with pytest.raises(xdl.ModelFileError, match="cannot be saved: up_sampling2d.*more than"):
        model.save(tmp_path / "m.xdl")
    assert not (tmp_path / "m.xdl").exists()


@pytest.mark.parametrize("pool_size", [2**31, 2**40])
def test_a_pool_window_that_pads_past_max_size_is_refused(pool_size):
    """A pool has no weights to pay for its window: with "same" padding a huge pool_size would
    pad the input by as much."""
    with pytest.raises(xdl.ShapeError, match="window .* pads the 1x6 input to .* more than 2,147,483,647 pixels"):
        xdl.MaxPool1D(pool_size, padding="same").forward(np.ones((2, 6, 2)))
    xdl.MaxPool1D(4, padding="same").forward(np.ones((2, 1, 2)))  # wider than the input, as Keras allows


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    return fuzz_files.valid_files(tmp_path_factory.mktemp("config"))


def test_config_mutations_load_cleanly_or_are_refused_by_a_check(tmp_path, originals):
    """tests/fuzz_files.py's config mutations of its seven files (every layer type): each file
    is refused with a ModelFileError raised from an XdlError (a check that names what is wrong),
    or loads into a model that predicts."""
    rng, path, names = random.Random("config-ci"), tmp_path / "fuzzed.xdl", sorted(originals)
    for i in range(210):
        name = names[i % len(names)]
        path.write_bytes(fuzz_files.mutate(rng, originals[name], "config"))
        result, exception, details = fuzz_files.classify(path)
        assert result != "escaped", f"file {i} ({name}): {details}"
        assert exception in (None, "ModelFileError") or exception.endswith(" (predict)"), \
            f"file {i} ({name}): refused from an unchecked {exception}: {details}"
