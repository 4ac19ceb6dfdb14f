"""Same seed, same data, one epoch: every backend ends with NumPy's weights."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.helpers import RTOL_FOR, host


def one_epoch(backend, floatx):
    with xdl.use_backend(backend), xdl.use_floatx(floatx):
        xdl.seed(42)
        model = xdl.NeuralNetwork([xdl.Dense(input_size=8, output_size=16), xdl.Tanh(),
                                   xdl.Dense(output_size=8), xdl.ReLU(), xdl.Dense(output_size=3),
                                   xdl.Softmax()])
        model.compile(loss=xdl.MSE(), optimizer=xdl.SGD(learning_rate=0.1))
        rng = np.random.default_rng(0)
        X, y = rng.standard_normal((200, 8)), rng.random((200, 3))
        history = model.fit(X, y, epochs=1, batch_size=16, verbose=0, seed=5)
        return [host(p.value) for p in model.parameters()], history.history["loss"][0]


@pytest.mark.parametrize("floatx", ["float32", "float64"])
def test_one_epoch_matches_numpy(be, floatx):
    if be.name == "numpy":
        pytest.skip("numpy is the reference")
    reference, ref_loss = one_epoch("numpy", floatx)
    weights, loss = one_epoch(be, floatx)
    rtol = RTOL_FOR[floatx]
    for i, (a, b) in enumerate(zip(weights, reference)):
        assert a.dtype == np.dtype(floatx)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol, err_msg=f"parameter {i} on {be.name}")
    assert abs(loss - ref_loss) <= rtol * abs(ref_loss) + rtol
