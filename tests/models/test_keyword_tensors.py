"""Keyword tensors in functional calls: ``LSTM(...)(x, initial_state=[h, c])``,
``GRU(...)(x, initial_state=h)``, states from ``return_state=True`` feeding another layer:
recorded in the graph, differentiated through (finite differences), saved and loaded, and
refused when they do not fit."""

import json

import numpy as np
import pytest

import xdl
from xdl import layers
from tests.gradcheck import check_gradients
from tests.helpers import assert_close

RNG = np.random.default_rng(8)


def _seq2seq(units=3, cell=layers.LSTM):
    source, target = xdl.Input((5, 2), name="source"), xdl.Input((4, 2), name="target")
    _, *states = cell(units, return_state=True, name="encoder")(source)
    decoded = cell(units, return_sequences=True, name="decoder")(target, initial_state=states)
    return xdl.Model([source, target], layers.Dense(2, name="head")(decoded))


def _data():
    return [RNG.standard_normal((2, 5, 2)), RNG.standard_normal((2, 4, 2))]


@pytest.mark.parametrize("cell", [layers.LSTM, layers.GRU, layers.SimpleRNN])
def test_gradients_reach_the_encoder_through_the_states(be, cell):
    xdl.set_floatx("float64")
    try:
        check_gradients(_seq2seq(cell=cell), _data(), be)
    finally:
        xdl.set_floatx("float32")


def test_the_states_are_what_the_decoder_starts_from(be):
    model = _seq2seq()
    source, target = (x.astype(np.float32) for x in _data())
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    _, h, c = encoder.forward(source)
    expected = model.get_layer("head").forward(decoder.forward(target, initial_state=(h, c)))
    assert_close(model.predict([source, target]), expected, rtol=1e-5, atol=1e-6)


def test_saved_loaded_and_as_json(be, tmp_path):
    model = _seq2seq(cell=layers.GRU)
    model.compile("adam", "mse")
    x, y = [v.astype(np.float32) for v in _data()], np.zeros((2, 4, 2), np.float32)
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "s2s.xdl")
    again = xdl.models.load_model(tmp_path / "s2s.xdl")
    assert_close(again.predict(x), model.predict(x), rtol=1e-6, atol=1e-6)
    spec = json.loads(model.to_json())
    decoder_node = next(n for n in spec["config"]["nodes"] if n["layer"] == "decoder")
    assert decoder_node["tensor_kwargs"] == [["initial_state", 1, True]]
    for bad in ([["initial_state", 2, True]], [["initial_state", 1, "yes"]], "initial_state"):
        spec_bad = json.loads(model.to_json())
        next(n for n in spec_bad["config"]["nodes"] if n["layer"] == "decoder")["tensor_kwargs"] = bad
        with pytest.raises(xdl.XdlError, match="tensor_kwargs"):
            xdl.models.model_from_json(json.dumps(spec_bad))


def test_a_single_state_and_bidirectional_states(be):
    steps, h = xdl.Input((4, 2)), xdl.Input((3,))
    gru = xdl.Model([steps, h], layers.GRU(3)(steps, initial_state=h))
    x = RNG.standard_normal((2, 4, 2)).astype(np.float32)
    zero = gru.predict([x, np.zeros((2, 3), np.float32)])
    assert not np.allclose(zero, gru.predict([x, np.ones((2, 3), np.float32)]))
    states = [xdl.Input((3,)) for _ in range(4)]
    both = layers.Bidirectional(layers.LSTM(3))(steps, initial_state=states)
    model = xdl.Model([steps, *states], both)
    assert model.output_shape == (None, 6)
    assert model.predict([x] + [np.zeros((2, 3), np.float32)] * 4).shape == (2, 6)


def test_states_that_do_not_fit_are_refused(be):
    steps = xdl.Input((4, 2))
    with pytest.raises(xdl.ShapeError, match=r"initial_state must be \(h, c\)"):
        layers.LSTM(3)(steps, initial_state=[xdl.Input((3,))])
    with pytest.raises(xdl.ShapeError, match=r"per-sample shape \(3,\)"):
        layers.GRU(3)(steps, initial_state=xdl.Input((4,)))
    with pytest.raises(xdl.ShapeError, match="4 tensors"):
        layers.Bidirectional(layers.LSTM(3))(steps, initial_state=[xdl.Input((3,))] * 2)
    with pytest.raises(xdl.ArgumentTypeError, match="extra arguments"):
        layers.Dense(2)(steps, initial_state=xdl.Input((3,)))
