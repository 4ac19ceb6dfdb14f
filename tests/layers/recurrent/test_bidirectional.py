"""Bidirectional: a recurrent layer run forwards and, as a copy, backwards: finite-difference
gradients for every merge mode, the two runs, initial and final states."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.gradcheck import check_gradients
from tests.helpers import assert_close, host

RNG = np.random.default_rng(11)


@pytest.mark.parametrize("merge_mode, return_sequences, every_parameter",
                         [("concat", True, True), ("mul", False, True), ("sum", True, False), ("ave", False, False)])
def test_bidirectional_gradients(be, merge_mode, return_sequences, every_parameter):
    inner = xdl.GRU(hidden_size=2, return_sequences=return_sequences, dtype="float64")
    layer = xdl.Bidirectional(inner, merge_mode=merge_mode)
    x = RNG.standard_normal((2, 3, 2))
    # the parameters by path (both directions have a "kernel"); the merges differ only in dx's split
    check_gradients(layer, x, be, params=every_parameter)
    h = 4 if merge_mode == "concat" else 2
    assert tuple(layer.forward(x).shape) == ((2, 3, h) if return_sequences else (2, h))


def test_bidirectional_is_a_forward_and_a_reversed_run(be):
    layer = xdl.Bidirectional(xdl.SimpleRNN(hidden_size=3, return_sequences=True), merge_mode="concat")
    x = RNG.standard_normal((2, 4, 2))
    y = host(layer.forward(x))
    assert_close(y[..., :3], layer.forward_layer.forward(x), rtol=1e-5)
    assert_close(y[..., 3:], host(layer.backward_layer.forward(x[:, ::-1].copy()))[:, ::-1], rtol=1e-5)
    assert [p.name for p in layer.parameters()][:3] == ["kernel", "recurrent_kernel", "bias"]
    assert sorted(layer.named_parameters())[0].startswith("backward_")


def test_bidirectional_states(be):
    layer = xdl.Bidirectional(xdl.LSTM(hidden_size=2, return_state=True, dtype="float64"), merge_mode="ave")
    x = RNG.standard_normal((3, 4, 2))
    out, h_f, c_f, h_b, c_b = layer.forward(x, training=True)
    assert_close(out, (host(h_f) + host(h_b)) / 2)
    state = [RNG.standard_normal((3, 2)) for _ in range(4)]
    out2 = layer.forward(x, initial_state=state, training=True)
    assert_close(out2[1], host(layer.forward_layer.forward(x, initial_state=tuple(state[:2]))[0]))
    layer.forward(x, initial_state=state, training=True)
    layer.backward((np.ones((3, 2)), None, np.ones((3, 2)), None, None))
    assert len(layer.initial_state_grad) == 4
    with pytest.raises(ValueError, match="initial_state must be a list of 4"):
        layer.forward(x, initial_state=state[:2])
    inputs = xdl.Input(shape=(4, 2))
    outs = xdl.Bidirectional(xdl.GRU(hidden_size=2, return_state=True))(inputs)
    assert len(outs) == 3
