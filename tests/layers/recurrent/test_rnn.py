"""SimpleRNN, LSTM, GRU and their cells: finite-difference gradients through time (float64),
initial states included, the cells' hand-written loops against the sequence layers, activations,
shapes, errors, learning."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.gradcheck import check_gradients
from tests.helpers import assert_close, host

LAYERS = [xdl.SimpleRNN, xdl.LSTM, xdl.GRU]
CELLS = {xdl.SimpleRNN: xdl.SimpleRNNCell, xdl.LSTM: xdl.LSTMCell, xdl.GRU: xdl.GRUCell}
IDS = [cls.__name__ for cls in LAYERS]
EPOCHS = 15
CASES = {  # options, sequence length, with an initial state
    "sequences": ({"return_sequences": True}, 3, False),
    "last": ({}, 3, False),
    "initial_state": ({"return_sequences": True, "return_state": True}, 3, True),
    "last_and_state": ({"return_state": True}, 2, True),
    "length1": ({"return_sequences": True}, 1, False),
}


def as_tuple(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("cls", LAYERS, ids=IDS)
def test_recurrent_gradients(be, cls, case):
    options, steps, with_state = CASES[case]
    rng = np.random.default_rng(1)
    layer = cls(hidden_size=2, dtype="float64", bias_initializer="glorot_uniform", **options)
    x = rng.standard_normal((2, steps, 3))
    n_states = 2 if cls is xdl.LSTM else 1
    state = [0.5 * rng.standard_normal((2, 2)) for _ in range(n_states)] if with_state else None
    check_gradients(layer, x, be, initial_state=state)


@pytest.mark.parametrize("cls", LAYERS, ids=IDS)
def test_tutorial_backward_gives_the_initial_states_gradients(be, cls):
    """``forward(x, initial_state)`` then ``backward(dy)``: dx, and ``initial_state_grad`` as the
    layer's backprop gives them (check_gradients checks those by central differences)."""
    rng = np.random.default_rng(7)
    layer = cls(hidden_size=2, return_sequences=True, return_state=True, dtype="float64")
    x = rng.standard_normal((2, 3, 3))
    state = [rng.standard_normal((2, 2)) for _ in range(2 if cls is xdl.LSTM else 1)]
    outs = layer.forward(x, state, training=True)
    dys = [rng.standard_normal(tuple(o.shape)) for o in outs]
    dx = layer.backward(tuple(dys))
    f64 = be.xp.float64
    _, backprop = layer.apply(be.asarray(x, dtype=f64), True, initial_state=[be.asarray(s, dtype=f64) for s in state])
    expected = backprop(tuple(be.asarray(d, dtype=f64) for d in dys))
    assert_close(dx, expected[0], rtol=1e-12, atol=1e-12)
    assert len(as_tuple(layer.initial_state_grad)) == len(state)
    for got, want in zip(as_tuple(layer.initial_state_grad), expected[1:]):
        assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", LAYERS, ids=IDS)
def test_cell_loop_matches_the_sequence_layer(be, cls):
    """A hand-written loop of cell steps gives the layer's outputs and gradients."""
    rng = np.random.default_rng(2)
    layer = cls(hidden_size=3, input_size=2, return_sequences=True, bias_initializer="glorot_uniform")
    cell = CELLS[cls](hidden_size=3, input_size=2)
    for p, q in zip(cell.parameters(), layer.parameters()):
        p.value = q.value
    x = rng.standard_normal((4, 5, 2)).astype(np.float32)
    dy = rng.standard_normal((4, 5, 3)).astype(np.float32)
    y = layer.forward(x, training=True)
    dx = layer.backward(dy)

    state, hs = None, []
    for t in range(5):
        state = cell.forward(x[:, t, :], state, training=True)
        hs.append(host(as_tuple(state)[0]))
    assert_close(y, np.stack(hs, axis=1), rtol=1e-5, atol=1e-6)
    dstate, dxs = None, [None] * 5
    for t in reversed(range(5)):
        dh = dy[:, t, :] + (0 if dstate is None else host(as_tuple(dstate)[0]))
        grad = dh if cls is not xdl.LSTM else (dh, None if dstate is None else dstate[1])
        dxs[t], dstate = cell.backward(grad)
    assert_close(dx, np.stack([host(d) for d in dxs], axis=1), rtol=1e-4, atol=1e-5)
    for p, q in zip(cell.parameters(), layer.parameters()):
        assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5, err_msg=p.name)


@pytest.mark.parametrize("cls", LAYERS, ids=IDS)
def test_shapes_dtypes_and_states(be, cls):
    layer = cls(hidden_size=4, return_sequences=True, return_state=True)
    out = layer.forward(np.ones((2, 3, 5)))
    assert len(out) == (3 if cls is xdl.LSTM else 2)
    assert tuple(out[0].shape) == (2, 3, 4) and all(tuple(s.shape) == (2, 4) for s in out[1:])
    assert all(o.dtype == be.xp.float32 for o in out)
    assert_close(out[0][:, -1, :], out[1])  # the last output is the final h
    assert all(p.dtype == be.xp.float32 for p in layer.parameters())
    dx = layer.backward((np.ones((2, 3, 4)), None) + ((None,) if cls is xdl.LSTM else ()))
    assert tuple(dx.shape) == (2, 3, 5) and dx.dtype == be.xp.float32
    assert tuple(cls(hidden_size=4).forward(np.ones((2, 3, 5))).shape) == (2, 4)


@pytest.mark.parametrize("cls", LAYERS, ids=IDS)
def test_backprop_parameters_gives_the_same_gradients_without_dx(be, cls):
    """A model's first trainable layer skips dx; its weights' gradients are unchanged."""
    layer = cls(hidden_size=3, return_sequences=True)
    x, dy = np.ones((2, 4, 5)), np.random.default_rng(6).standard_normal((2, 4, 3))
    layer.forward(x, training=True)
    layer.backward(dy)
    full = [host(p.grad) for p in layer.parameters()]
    layer.zero_grad()
    _, backprop = layer.apply(be.asarray(x, dtype=be.xp.float32), training=True)
    assert backprop(be.asarray(dy, dtype=be.xp.float32), need_dx=False) is None
    for p, expected in zip(layer.parameters(), full):
        assert_close(p.grad, expected, rtol=1e-6, atol=1e-7, err_msg=p.name)


def test_lstm_gate_order_and_forget_bias(be):
    """One step from zeros against a hand computation with gates i, f, o, g."""
    layer = xdl.LSTM(hidden_size=2, input_size=3, dtype="float64")
    W, b = host(layer.cell.kernel.value), host(layer.cell.bias.value)
    assert_close(b, [0, 0, 1, 1, 0, 0, 0, 0])  # unit forget bias
    x = np.random.default_rng(3).standard_normal((1, 1, 3))
    z = x[:, 0] @ W + b
    i, f, o, g = 1 / (1 + np.exp(-z[:, :2])), None, 1 / (1 + np.exp(-z[:, 4:6])), np.tanh(z[:, 6:])
    h = o * np.tanh(i * g)
    assert f is None and np.allclose(host(layer.forward(x)), h, rtol=1e-12)


@pytest.mark.parametrize("cls", LAYERS, ids=IDS)
def test_wrong_ranks_and_sizes_are_clear_errors(be, cls):
    layer = cls(hidden_size=4, input_size=3, name="seq")
    kind = cls.__name__
    with pytest.raises(xdl.ShapeError, match=rf"seq \({kind}\): expected input shape \(N, T, 3\).*"
                                             rf"got \(N, 3\); for one step on \(N, features\) use {kind}Cell"):
        layer.forward(np.ones((2, 3)))
    with pytest.raises(xdl.ShapeError, match=r"expected input shape \(N, T, 3\).*got \(N, 2, 3, 3\)"):
        layer.forward(np.ones((2, 2, 3, 3)))
    with pytest.raises(xdl.ShapeError, match=r"expected input shape \(N, T, 3\).*got \(N, 5, 4\)"):
        layer.forward(np.ones((2, 5, 4)))
    with pytest.raises(xdl.ShapeError, match="length 0"):
        layer.forward(np.ones((2, 0, 3)))
    bad_state = [np.zeros((2, 5))] * (2 if cls is xdl.LSTM else 1)
    with pytest.raises(xdl.ShapeError, match=r"initial_state h has shape \(2, 5\), expected \(2, 4\)"):
        layer.forward(np.ones((2, 3, 3)), bad_state)
    with pytest.raises(xdl.ShapeError, match=rf"seq.cell \({kind}Cell\): expected input shape \(N, 3\)"):
        CELLS[cls](hidden_size=4, input_size=3, name="seq.cell").forward(np.ones((2, 4, 3)))


def test_hidden_size_is_required_and_training_goes_by_keyword(be):
    with pytest.raises(TypeError, match=r"LSTM 'enc': units \(xdl's hidden_size\) is required"):
        xdl.LSTM(name="enc")
    with pytest.raises(TypeError, match="pass training by keyword"):
        xdl.GRU(hidden_size=2).forward(np.ones((1, 2, 3)), True)


def test_lstm_state_must_be_a_pair(be):
    with pytest.raises(ValueError, match=r"initial_state must be \(h, c\), got 1 arrays"):
        xdl.LSTM(hidden_size=2).forward(np.ones((1, 2, 3)), np.zeros((1, 2)))


def test_backward_before_forward(be):
    with pytest.raises(xdl.NotBuiltError, match="backward called before forward"):
        xdl.GRU(hidden_size=2, input_size=2).backward(np.ones((1, 2)))
    with pytest.raises(xdl.NotBuiltError, match="training=True"):
        xdl.LSTMCell(hidden_size=2, input_size=2).backward((np.ones((1, 2)), None))


def test_tutorial_column_step_has_a_backward(be):
    """The tutorial's forward(x, h_prev) on columns; backward(dh) returns dx as a column."""
    rnn = xdl.SimpleRNN(input_size=3, hidden_size=2, dtype="float64")
    rng = np.random.default_rng(4)
    x, h, dh = rng.standard_normal((3, 1)), rng.standard_normal((2, 1)), rng.standard_normal((2, 1))
    W, U, b = (host(p.value) for p in rnn.parameters())
    out = rnn.forward(x, h)
    expected = np.tanh(x.T @ W + h.T @ U + b).T
    assert_close(out, expected, rtol=1e-12)
    dx = rnn.backward(dh)
    assert_close(dx, W @ ((1 - expected ** 2) * dh), rtol=1e-12)


@pytest.mark.parametrize("cls", LAYERS, ids=IDS)
def test_save_and_load_round_trip(be, cls, tmp_path):
    model = xdl.NeuralNetwork([xdl.Embedding(5, 3), cls(hidden_size=4, return_sequences=True),
                               xdl.Dense(output_size=5)])
    x = np.array([[1, 2, 3], [4, 0, 1]])
    before = host(model.predict(x))
    model.save(tmp_path / "m.xdl")
    assert_close(xdl.NeuralNetwork.load(tmp_path / "m.xdl").predict(x), before, rtol=1e-6)


def copy_task(rng, n, steps, vocab):
    """Targets are the inputs delayed by one step (0 at the first): the model must remember."""
    x = rng.integers(1, vocab, size=(n, steps))
    return x, np.concatenate([np.zeros((n, 1), dtype=x.dtype), x[:, :-1]], axis=1)


@pytest.mark.parametrize("cls", LAYERS, ids=IDS)
def test_learns_to_copy_with_a_delay(be, cls):
    if be.name == "array_api_strict":
        pytest.skip("array_api_strict: a conformance checker, too slow for training loops; "
                    "the gradient checks cover it")
    rng = np.random.default_rng(5)
    x, y = copy_task(rng, 256, 6, 4)
    model = xdl.NeuralNetwork([xdl.Embedding(4, 8), cls(hidden_size=16, return_sequences=True),
                               xdl.Dense(output_size=4)])
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer=xdl.Adam(0.02, clipnorm=5.0))
    history = model.fit(x, y, epochs=EPOCHS, batch_size=32, verbose=0, seed=0)
    x_test, y_test = copy_task(rng, 128, 6, 4)
    accuracy = np.mean(np.argmax(host(model.predict(x_test)), -1) == y_test)
    assert accuracy > 0.95, (accuracy, history["loss"])


def test_recurrent_activation(be):
    x = np.random.default_rng(5).standard_normal((2, 4, 3))
    for name in ("relu", "sigmoid", "linear", "leaky_relu"):
        rnn = xdl.SimpleRNN(hidden_size=3, activation=name, return_sequences=True, dtype="float64")
        check_gradients(rnn, x, be)
        assert rnn.get_config()["activation"] == name
    linear = xdl.SimpleRNN(hidden_size=2, activation="linear", input_size=3)
    cell = linear.cell
    h = np.zeros((2, 2), np.float32)
    for t in range(4):
        h = x[:, t, :] @ host(cell.kernel.value) + h @ host(cell.recurrent_kernel.value) + host(cell.bias.value)
    assert_close(linear.forward(x), h, rtol=1e-5, atol=1e-6)
    for kind in (xdl.SimpleRNN, xdl.LSTM, xdl.GRU):
        assert kind(hidden_size=2, activation="tanh").get_config()["activation"] == "tanh"
    for kind in (xdl.LSTM, xdl.GRU):
        with pytest.raises(ValueError, match=r"activation='relu' is not supported.*'tanh'"):
            kind(hidden_size=2, activation="relu")
