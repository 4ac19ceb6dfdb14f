"""Keras's namespaces under xdl (issue 32, item 2): ``xdl.utils``, ``xdl.activations``,
``xdl.models``, ``xdl.saving`` and ``xdl.regularizers``' lower-case spellings, each against
Keras's documented behaviour on fixed inputs."""

from __future__ import annotations

import importlib
import json
import math
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import xdl
from tests.helpers import assert_close, host
from xdl import ops


@pytest.mark.parametrize("module, names", [
    ("xdl.utils", ["to_categorical", "pad_sequences", "set_random_seed", "plot_model"]),
    ("xdl.activations", ["relu", "sigmoid", "tanh", "softmax", "gelu", "silu", "swish", "elu", "selu", "softplus",
                         "softsign", "leaky_relu", "relu6", "exponential", "linear", "mish", "hard_sigmoid",
                         "log_softmax", "get", "serialize"]),
    ("xdl.models", ["Model", "Sequential", "load_model", "model_from_json", "clone_model"]),
    ("xdl.saving", ["register_keras_serializable", "load_model", "get_registered_object"]),
    ("xdl.regularizers", ["l1", "l2", "l1_l2"]),
])
def test_namespaces_import_by_module_path(module, names):
    mod = importlib.import_module(module)
    assert getattr(xdl, module.split(".")[1]) is mod
    for name in names:
        assert callable(getattr(mod, name)), f"{module}.{name}"


# -- xdl.utils ------------------------------------------------------------------------------------


def test_to_categorical_as_keras_documents():
    out = xdl.utils.to_categorical([0, 1, 2, 3], num_classes=4)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.eye(4))
    np.testing.assert_array_equal(xdl.utils.to_categorical(np.array([[2], [0]])), [[0, 0, 1], [1, 0, 0]])  # (N, 1)
    assert xdl.utils.to_categorical(np.array([[0, 1], [2, 1]])).shape == (2, 2, 3)
    with pytest.raises(xdl.ArgumentError, match="in \\[0, 2\\)"):
        xdl.utils.to_categorical([0, 2], num_classes=2)


SEQUENCES = [[1], [2, 3], [4, 5, 6]]


@pytest.mark.parametrize("kwargs, expected", [
    ({}, [[0, 0, 1], [0, 2, 3], [4, 5, 6]]),
    ({"value": -1}, [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]),
    ({"padding": "post"}, [[1, 0, 0], [2, 3, 0], [4, 5, 6]]),
    ({"maxlen": 2}, [[0, 1], [2, 3], [5, 6]]),
    ({"maxlen": 2, "truncating": "post"}, [[0, 1], [2, 3], [4, 5]]),
    ({"maxlen": 4, "padding": "post", "truncating": "post"}, [[1, 0, 0, 0], [2, 3, 0, 0], [4, 5, 6, 0]]),
])
def test_pad_sequences_as_keras_documents(kwargs, expected):
    out = xdl.utils.pad_sequences(SEQUENCES, **kwargs)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, expected)


def test_pad_sequences_dtype_steps_and_refusals():
    out = xdl.utils.pad_sequences([[0.5], []], maxlen=2, dtype="float32", value=0.25)
    np.testing.assert_array_equal(out, np.array([[0.25, 0.5], [0.25, 0.25]], np.float32))
    steps = xdl.utils.pad_sequences([np.ones((1, 2)), np.zeros((3, 2))])
    assert steps.shape == (2, 3, 2) and steps[0, :2].sum() == 0 and steps[0, 2].sum() == 2
    with pytest.raises(xdl.ArgumentError, match="padding"):
        xdl.utils.pad_sequences(SEQUENCES, padding="middle")
    with pytest.raises(xdl.ArgumentError, match="truncating"):
        xdl.utils.pad_sequences(SEQUENCES, truncating="both")


def test_set_random_seed_repeats_initial_weights():
    def weights():
        xdl.utils.set_random_seed(7)
        layer = xdl.Dense(units=3)
        layer.build((4,))
        return [host(w) for w in layer.get_weights()] + [np.random.random()]

    first, second = weights(), weights()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def _functional():
    inputs = xdl.Input((4,), name="features")
    a = xdl.Dense(units=8, activation="relu", name="wide")(inputs)
    b = xdl.Dense(units=8, name="side")(inputs)
    merged = xdl.Add(name="join")([a, b])
    return xdl.Model(inputs, xdl.Dense(units=2, name="head")(merged), name="branchy")


def test_plot_model_writes_svg_and_dot(tmp_path):
    model = _functional()
    svg = tmp_path / "m.svg"
    xdl.utils.plot_model(model, to_file=svg, show_shapes=True)
    root = ET.fromstring(svg.read_text())  # well-formed XML
    text = svg.read_text()
    for name in ("features", "wide", "side", "join", "head", "(None, 8)"):
        assert name in text
    assert len(root.findall("{http://www.w3.org/2000/svg}line")) == 5  # input->wide, input->side, 2->join, join->head
    dot = tmp_path / "m.dot"
    chain = xdl.Sequential([xdl.Dense(input_size=4, output_size=3), xdl.Dense(units=2)])
    xdl.utils.plot_model(chain, to_file=dot)  # not built yet: the layers alone, no shapes
    assert dot.read_text().count("->") == 1 and "None" not in dot.read_text()
    chain.build((4,))
    xdl.utils.plot_model(chain, to_file=dot, show_shapes=True, rankdir="LR")
    assert dot.read_text().count("->") == 2 and "(None, 2)" in dot.read_text() and "rankdir=LR" in dot.read_text()
    xdl.utils.plot_model(chain, to_file=svg, rankdir="LR")
    ET.fromstring(svg.read_text())


def test_plot_model_names_a_format_it_cannot_write(tmp_path):
    with pytest.raises(xdl.ArgumentError, match="'xyz'"):
        xdl.utils.plot_model(_functional(), to_file=tmp_path / "m.xyz")
    if shutil.which("dot") is None:
        with pytest.raises(xdl.DependencyError, match="png.*Graphviz"):
            xdl.utils.plot_model(_functional(), to_file=tmp_path / "m.png")


# -- xdl.activations ------------------------------------------------------------------------------

X = np.array([-3.0, -0.5, 0.0, 0.7, 4.0], np.float32)


def _softplus(x):
    return np.log1p(np.exp(x))


EXPECTED = {
    "relu": np.maximum(X, 0), "sigmoid": 1 / (1 + np.exp(-X)), "tanh": np.tanh(X), "linear": X,
    "silu": X / (1 + np.exp(-X)), "swish": X / (1 + np.exp(-X)), "elu": np.where(X > 0, X, np.expm1(X)),
    "selu": 1.0507009873554805 * np.where(X > 0, X, 1.6732632423543772 * np.expm1(X)),
    "softplus": _softplus(X), "softsign": X / (1 + np.abs(X)), "leaky_relu": np.where(X > 0, X, 0.2 * X),
    "relu6": np.clip(X, 0, 6), "exponential": np.exp(X), "mish": X * np.tanh(_softplus(X)),
    "hard_sigmoid": np.clip(X + 3, 0, 6) / 6,
    "softmax": np.exp(X) / np.exp(X).sum(), "log_softmax": X - np.log(np.exp(X).sum()),
    "gelu": np.array([x * 0.5 * (1 + math.erf(x / math.sqrt(2))) for x in X]),  # the exact (erf) form
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_activation_values(be, name):
    fn = xdl.activations.get(name)
    assert_close(fn(be.asarray(X)), EXPECTED[name], rtol=1e-5, atol=1e-6)


def test_relu_arguments_and_gradients():
    relu = xdl.activations.relu
    assert_close(relu(X, max_value=1.0), np.clip(X, 0, 1))
    assert_close(relu(X, threshold=1.0), np.where(X > 1, X, 0))
    assert_close(relu(X, negative_slope=0.1, threshold=1.0), np.where(X > 1, X, 0.1 * (X - 1)), atol=1e-6)
    g = xdl.grad(lambda x: ops.sum(xdl.activations.mish(x)))(X)
    sp, s = _softplus(X), 1 / (1 + np.exp(-X))
    assert_close(g, np.tanh(sp) + X * s * (1 - np.tanh(sp) ** 2), rtol=1e-4, atol=1e-5)


def test_activation_get_and_serialize():
    acts = xdl.activations
    assert acts.get(None) is acts.linear and acts.get(np.tanh) is np.tanh
    for name in ("relu", "gelu", "hard_sigmoid", "log_softmax"):
        assert acts.serialize(acts.get(name)) == name
    assert acts.get("swish") is acts.silu
    with pytest.raises(xdl.ArgumentError, match="unknown activation 'nope'"):
        acts.get("nope")
    with pytest.raises(xdl.ArgumentTypeError):
        acts.get(3)


# -- xdl.regularizers -----------------------------------------------------------------------------


def test_lower_case_regularizers():
    w = np.array([1.0, -2.0], np.float32)
    assert float(xdl.regularizers.l2(0.1)(w)) == pytest.approx(0.5)
    assert float(xdl.regularizers.l1()(w)) == pytest.approx(0.03)
    assert float(xdl.regularizers.l1_l2(l1=0.1, l2=0.1)(w)) == pytest.approx(0.8)
    layer = xdl.Dense(units=2, kernel_regularizer=xdl.regularizers.l2(1e-4))
    assert layer.kernel_regularizer == xdl.regularizers.L2(1e-4)


# -- xdl.models and xdl.saving --------------------------------------------------------------------

DATA = np.random.default_rng(0).random((6, 4)).astype(np.float32)


def _chain():
    return xdl.Sequential([xdl.Dense(input_size=4, output_size=8, activation="tanh"), xdl.Dense(units=3)], name="chain")


@pytest.mark.parametrize("make", [_functional, _chain], ids=["functional", "sequential"])
def test_to_json_model_from_json_and_clone_model(make):
    model = make()
    text = model.to_json()
    assert json.loads(text)["config"]["name"] == model.name
    for again in (xdl.models.model_from_json(text), xdl.models.clone_model(model)):
        assert type(again) is type(model) and again.to_json() == text
        assert [layer.name for layer in again.layers] == [layer.name for layer in model.layers]
        assert not np.allclose(host(again.predict(DATA)), host(model.predict(DATA)))  # new weights
        again.set_weights(model.get_weights())
        assert_close(again.predict(DATA), model.predict(DATA))


def test_to_json_refuses_a_subclassed_model():
    class Mine(xdl.Model):
        def __init__(self):
            super().__init__()
            self.dense = xdl.Dense(units=2)

        def call(self, x):
            return self.dense(x)

    model = Mine()
    model.predict(DATA)
    with pytest.raises(xdl.ModelFileError, match="subclassed"):
        model.to_json()


def test_model_from_json_refuses_what_a_file_would():
    with pytest.raises(xdl.ModelFileError, match="model_from_json"):
        xdl.models.model_from_json('{"class": "Sequential"')
    with pytest.raises(xdl.ModelFileError, match="unknown"):
        xdl.models.model_from_json(json.dumps({"class": "Sequential", "config": {
            "name": "s", "input_shape": [2], "layers": [{"class": "NoSuchLayer", "config": {"name": "x"}}]}}))


def test_load_model_both_namespaces(tmp_path):
    model = _functional()
    model.compile(optimizer="adam", loss="mse")
    path = tmp_path / "m.xdl"
    model.save(path)
    for load in (xdl.models.load_model, xdl.saving.load_model):
        back = load(path)
        assert_close(back.predict(DATA), model.predict(DATA))


@xdl.saving.register_keras_serializable(package="KerasNamespaces")
class Shift(xdl.Layer):
    def build(self, input_shape):
        self.b = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="b")

    def call(self, x):
        return x + self.b


@xdl.saving.register_keras_serializable(package="KerasNamespaces")
def mean_cubes(y_true, y_pred):
    return ops.mean(ops.abs(y_pred - y_true) ** 3, axis=-1)


@xdl.saving.register_keras_serializable(package="KerasNamespaces", name="twice")
class TwiceSquares(xdl.losses.Loss):
    def call(self, y_true, y_pred):
        return 2.0 * ops.square(y_pred - y_true)


@pytest.mark.parametrize("loss", [mean_cubes, TwiceSquares()], ids=["function", "class"])
def test_registered_objects_load_without_custom_objects(tmp_path, loss):
    model = xdl.Sequential([xdl.Dense(input_size=4, output_size=3), Shift(), xdl.Dense(units=1)])
    model.compile(optimizer="sgd", loss=loss, metrics=[mean_cubes])
    model.fit(DATA, DATA[:, :1], epochs=1, verbose=0)
    path = tmp_path / "m.xdl"
    model.save(path)
    back = xdl.models.load_model(path)
    assert isinstance(back.layers[1], Shift)
    assert back.evaluate(DATA, DATA[:, :1], return_dict=True) == \
        pytest.approx(model.evaluate(DATA, DATA[:, :1], return_dict=True))
    assert xdl.models.model_from_json(model.to_json()).layers[1].__class__ is Shift


def test_registry_lookups():
    saving = xdl.saving
    assert saving.get_registered_object("KerasNamespaces>Shift") is Shift
    assert saving.get_registered_object("KerasNamespaces>twice") is TwiceSquares
    assert saving.get_registered_object("mean_cubes") is mean_cubes
    assert saving.get_registered_object("x", custom_objects={"x": len}) is len
    assert saving.get_registered_object("nothing") is None
    assert saving.get_registered_name(Shift) == "KerasNamespaces>Shift"
    class Shift2(Shift):  # the class made again (a notebook cell run twice): the latest counts, as in Keras
        pass

    saving.register_keras_serializable(package="KerasNamespaces", name="Shift")(Shift2)
    assert saving.get_registered_object("KerasNamespaces>Shift") is Shift2
    saving.register_keras_serializable(package="KerasNamespaces", name="Shift")(Shift)
