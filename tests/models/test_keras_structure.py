"""Keras's model structure: Input inside Sequential, build(batch shape), pop, layer.input /
layer.output, model.input / model.output, feature extractors (issue 32, item 3)."""

import numpy as np
import pytest

import xdl
from xdl.errors import XdlError


def _x(n=5, d=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype("float32")


def _lines(model):
    out = []
    model.summary(print_fn=out.append)
    return out


# -- 1. Input in a Sequential ---------------------------------------------------------------------
def test_input_first_in_list_builds_at_once():
    model = xdl.Sequential([xdl.Input(shape=(4,)), xdl.Dense(units=8, activation="relu"), xdl.Dense(units=3)])
    assert model.built and model.input_shape == (None, 4)
    assert any("Total params: 67" in line for line in _lines(model))  # no data needed
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]  # the Input is no layer
    assert model.predict(_x()).shape == (5, 3)


def test_add_input_then_layers():
    model = xdl.Sequential()
    model.add(xdl.Input(shape=(4,)))
    assert not model.built  # no layers yet
    model.add(xdl.Dense(units=2))
    assert model.built and model.output.shape == (None, 2)
    model.add(xdl.Dense(units=5))
    assert model.output.shape == (None, 5)
    _lines(model)


def test_input_dtype_kept_through_save(tmp_path):
    model = xdl.Sequential([xdl.Input(shape=(3,), dtype="int64"), xdl.Embedding(vocab_size=10, dim=2)])
    assert model.input.dtype == "int64"
    path = tmp_path / "m.safetensors"
    model.save(path)
    again = xdl.Model.load(path)
    ids = np.array([[1, 2, 3]])
    np.testing.assert_allclose(again.predict(ids), model.predict(ids))


def test_second_input_refused():
    with pytest.raises(XdlError, match="already has an input"):
        xdl.Sequential([xdl.Input(shape=(4,)), xdl.Input(shape=(4,)), xdl.Dense(units=2)])
    model = xdl.Sequential([xdl.Input(shape=(4,)), xdl.Dense(units=2)])
    with pytest.raises(ValueError, match="already has an input"):  # Keras's kind too
        model.add(xdl.Input(shape=(4,)))


def test_input_after_layers_or_layer_output_refused():
    with pytest.raises(XdlError, match="must come first"):
        xdl.Sequential([xdl.Dense(units=2), xdl.Input(shape=(4,))])
    inner = xdl.Dense(units=3)(xdl.Input(shape=(4,)))
    with pytest.raises(XdlError, match="output of layer"):
        xdl.Sequential([inner])


# -- 2. pop -----------------------------------------------------------------------------------------
def test_pop_rebuilds():
    model = xdl.Sequential([xdl.Input(shape=(4,)), xdl.Dense(units=8), xdl.Dense(units=3)])
    last = model.pop()
    assert isinstance(last, xdl.Dense) and len(model.layers) == 1
    assert model.built and model.output.shape == (None, 8)
    assert model.predict(_x()).shape == (5, 8)
    assert len(model.parameters()) == 2
    model.add(xdl.Dense(units=2))
    assert model.predict(_x()).shape == (5, 2)


def test_pop_unbuilt_and_to_empty():
    model = xdl.Sequential([xdl.Dense(units=8), xdl.Dense(units=3)])
    model.pop()
    assert not model.built
    assert model.predict(_x()).shape == (5, 8)
    model.pop()
    assert model.layers == [] and not model.built
    with pytest.raises(XdlError, match="without layers"):
        model.pop()
    with pytest.raises(TypeError):  # Keras raises a TypeError here
        xdl.Sequential().pop()


# -- 3. build ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(None, 4), [None, 4], (4,)])
def test_build_batch_first_or_per_sample(shape):
    model = xdl.Sequential([xdl.Dense(units=3)])
    model.build(shape)
    assert model.input_shape == (None, 4)
    assert any("Total params: 15" in line for line in _lines(model))


def test_build_sequences_of_any_length():
    model = xdl.Sequential([xdl.SimpleRNN(hidden_size=3)])
    model.build((None, None, 2))  # Keras's: batch, free length, 2 features
    assert model.sample_input_shape == (None, 2) and model.input_shape == (None, None, 2)
    model = xdl.Sequential([xdl.Embedding(vocab_size=10, dim=2)])
    model.build((None,))  # xdl's per-sample shape with one free axis stays as it is
    assert model.input_shape == (None, None)


def test_build_from_input_and_bad_shape():
    model = xdl.Sequential([xdl.Input(shape=(4,)), xdl.Dense(units=3)])
    model.build()
    assert model.input_shape == (None, 4)
    with pytest.raises(XdlError, match="needs input_shape"):
        xdl.Sequential([xdl.Dense(units=3)]).build()
    with pytest.raises(XdlError, match="tuple of ints"):
        xdl.Sequential([xdl.Dense(units=3)]).build("4")


def test_saved_sequence_model_loads(tmp_path):
    """A per-sample shape with a free first axis, saved in a file, is not read as a batch axis."""
    model = xdl.Sequential([xdl.SimpleRNN(hidden_size=3)])
    model.build((None, None, 2))
    path = tmp_path / "rnn.safetensors"
    model.save(path)
    again = xdl.Model.load(path)
    assert again.sample_input_shape == (None, 2)


def test_nested_sequential_in_functional_model():
    inner = xdl.Sequential([xdl.SimpleRNN(hidden_size=3)])
    inputs = xdl.Input(shape=(None, 2))
    outer = xdl.Model(inputs, xdl.Dense(units=1)(inner(inputs)))
    assert inner.sample_input_shape == (None, 2)
    x = np.zeros((2, 5, 2), dtype="float32")
    assert outer.predict(x).shape == (2, 1)


# -- 4. layer.input / layer.output, model.input / model.output, feature extractors -------------
def test_layer_input_output_functional():
    inputs = xdl.Input(shape=(4,))
    dense = xdl.Dense(units=3)
    y = dense(inputs)
    assert dense.input is inputs and dense.output is y
    dense(xdl.Input(shape=(4,)))  # a second call: input and output stay the first node's (Keras 3)
    assert dense.output is y
    a, b = xdl.Input(shape=(2,)), xdl.Input(shape=(2,))
    cat = xdl.Concatenate()
    out = cat([a, b])
    assert cat.input == [a, b] and cat.output is out


def test_layer_never_called():
    dense = xdl.Dense(units=3)
    for what in ("input", "output"):
        with pytest.raises(XdlError, match=f"dense.*no {what}"):
            getattr(dense, what)
    assert not hasattr(dense, "output")  # an AttributeError too, as Keras's


def test_model_input_output():
    a, b = xdl.Input(shape=(2,), name="a"), xdl.Input(shape=(3,), name="b")
    y = xdl.Dense(units=1)(xdl.Concatenate()([a, b]))
    model = xdl.Model([a, b], y)
    assert model.input == [a, b] and model.output is y
    assert model.inputs == [a, b] and model.outputs == [y]
    two = xdl.Model(a, [xdl.Dense(units=1)(a), xdl.Dense(units=2)(a)])
    assert isinstance(two.output, list) and len(two.output) == 2
    unbuilt = xdl.Sequential([xdl.Dense(units=3)])
    assert not hasattr(unbuilt, "input")
    with pytest.raises(XdlError, match="needs the input shape"):
        unbuilt.outputs  # noqa: B018
    first_sized = xdl.Sequential([xdl.Dense(input_size=4, output_size=3)])
    assert first_sized.input.shape == (None, 4)  # built from its first layer's size


def test_rebuilt_sequential_layers_point_at_the_new_chain():
    model = xdl.Sequential([xdl.Dense(units=8), xdl.Dense(units=3)])
    model.build((None, 4))
    model.build((None, 4))
    assert model.layers[0].input is model.input
    assert model.layers[-1].output is model.output
    model.add(xdl.Dense(units=2))
    assert model.layers[0].input is model.input


def _by_hand(layers, x):
    outs = []
    for layer in layers:
        x = layer(x)
        outs.append(np.asarray(xdl.to_numpy(x)) if hasattr(xdl, "to_numpy") else np.asarray(x))
    return outs


def test_feature_extractor_sequential(be):
    model = xdl.Sequential([xdl.Input(shape=(4,)), xdl.Dense(units=6, activation="relu"),
                            xdl.Dense(units=5), xdl.Dense(units=2)])
    extractor = xdl.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
    assert extractor.layers == model.layers  # the same layers, sharing weights
    x = _x()
    feats = extractor.predict(x)
    assert [f.shape for f in feats] == [(5, 6), (5, 5), (5, 2)]
    for got, want in zip(feats, _by_hand(model.layers, x)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)
    one = xdl.Model(inputs=model.input, outputs=model.get_layer(model.layers[1].name).output)
    np.testing.assert_allclose(np.asarray(one.predict(x)), np.asarray(feats[1]), rtol=1e-6)


def test_feature_extractor_sequential_built_from_data():
    model = xdl.Sequential([xdl.Dense(units=6), xdl.Dense(units=2)])
    x = _x()
    model.predict(x)
    extractor = xdl.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
    for got, want in zip(extractor.predict(x), _by_hand(model.layers, x)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_feature_extractor_functional(be):
    inputs = xdl.Input(shape=(4,))
    h = xdl.Dense(units=6, activation="relu", name="h")(inputs)
    out = xdl.Dense(units=2, name="out")(h)
    model = xdl.Model(inputs, out)
    extractor = xdl.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
    x = _x()
    feats = extractor.predict(x)
    for got, want in zip(feats, _by_hand(model.layers, x)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)
    mid = xdl.Model(inputs=model.input, outputs=model.get_layer("h").output)
    np.testing.assert_allclose(np.asarray(mid.predict(x)), np.asarray(feats[0]), rtol=1e-6)
