"""The layer protocol every layer follows (layers/base.py): a batch axis, backward after forward,
weights read and written as NumPy arrays, empty batches."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.helpers import assert_close


def test_layer_needs_batch_axis(be):
    with pytest.raises(xdl.ShapeError, match="batch axis"):
        xdl.ReLU().forward(3.0)


def test_backward_before_forward_is_a_clear_error():
    with pytest.raises(xdl.NotBuiltError, match="backward called before forward"):
        xdl.ReLU(name="act").backward(np.ones((1, 2)))


def test_get_and_set_weights(be):
    model = xdl.Sequential([xdl.Dense(input_size=3, output_size=2, name="d"), xdl.BatchNorm(name="bn")])
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(3, 2), (2,), (2,), (2,), (2,), (2,)]
    assert all(isinstance(w, np.ndarray) for w in weights)
    new = [np.full(w.shape, k, dtype=np.float64) for k, w in enumerate(weights)]
    model.set_weights(new)
    for k, w in enumerate(model.get_weights()):
        assert w.dtype == np.float32 and np.all(w == k)
    new[0][...] = 99  # set_weights copied
    assert model.get_weights()[0][0, 0] == 0
    assert [w.shape for w in model.get_layer("d").get_weights()] == [(3, 2), (2,)]
    model.get_layer("d").set_weights([np.ones((3, 2)), np.ones(2)])
    assert_close(model.get_layer("d").W.value, np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"list of 6 arrays.*got 5"):
        model.set_weights(new[:5])
    bad = new[:4] + [np.ones(3)] + new[5:]
    with pytest.raises(ValueError, match=r"bn/moving_mean has shape \(2,\), got an array of shape \(3,\)"):
        model.set_weights(bad)
    assert model.get_weights()[4][0] == 4  # nothing half set


EMPTY = {  # issue 17, item 18
    "cnn": (lambda: [xdl.Conv2D(2, 3, input_channels=1), xdl.MaxPool2D(2), xdl.Conv2D(2, 1, input_channels=2, padding="same"), xdl.AvgPool2D(2),
                     xdl.Flatten(), xdl.Dense(output_size=2)], (8, 8, 1), np.float64),
    "cnn-global": (lambda: [xdl.Conv2D(2, 3, input_channels=1, stride=2), xdl.BatchNorm(), xdl.ReLU(), xdl.GlobalAveragePooling2D(),
                            xdl.Dense(output_size=2)], (8, 8, 1), np.float64),
    "embedding-lstm": (lambda: [xdl.Embedding(10, 4), xdl.LSTM(5, return_sequences=True), xdl.GRU(3)], (6,), np.int64),
    "rnn": (lambda: [xdl.SimpleRNN(4), xdl.LayerNorm(), xdl.Dropout(0.5), xdl.Dense(output_size=2), xdl.Softmax()],
            (5, 3), np.float64),
    "reshape": (lambda: [xdl.Reshape((2, 3)), xdl.LeakyReLU(0.1), xdl.Sigmoid(), xdl.Flatten()], (6,), np.float64),
}


@pytest.mark.parametrize("case", list(EMPTY))
def test_empty_batches_pass_every_layer(be, case):
    layers, shape, dtype = EMPTY[case]
    model = xdl.NeuralNetwork(layers())
    one = model.predict(np.ones((1, *shape), dtype=dtype))
    empty = model.predict(np.ones((0, *shape), dtype=dtype))
    assert tuple(empty.shape) == (0,) + tuple(one.shape[1:])
    y = model.forward(np.ones((0, *shape), dtype=dtype), training=True)
    model.backward(np.zeros(tuple(y.shape)))  # and back
