"""Conv1DTranspose: Keras's output lengths, Conv2DTranspose's numbers on a (N, 1, L, C) view,
PyTorch's conv_transpose1d, finite-difference gradients, files."""

import numpy as np
import pytest

import xdl
from xdl import layers
from tests.gradcheck import check_gradients
from tests.helpers import assert_close, host

CASES = {  # (length, kernel, stride, padding, dilation, output_padding)
    "k3-s2-same": (5, 3, 2, "same", 1, None),
    "k3-s2-valid": (4, 3, 2, "valid", 1, None),
    "k4-s3-valid-op2": (3, 4, 3, "valid", 1, 2),
    "k3-s1-same-dil2": (6, 3, 1, "same", 2, None),
    "k1-s2-valid": (3, 1, 2, "valid", 1, None),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_equals_the_2d_layer_on_a_row(be, case):
    length, k, s, padding, d, op = CASES[case]
    one = layers.Conv1DTranspose(3, k, s, padding, op, dilation_rate=d, bias_initializer="glorot_uniform")
    x = np.random.default_rng(1).standard_normal((2, length, 2)).astype(np.float32)
    y = one.forward(x)
    assert tuple(one.weights.shape) == (k, 3, 2)  # Keras's (k, C_out, C_in)
    two = layers.Conv2DTranspose(3, (1, k), (1, s), padding, None if op is None else (0, op), dilation_rate=(1, d))
    two.build((1, length, 2))
    two.set_weights([host(one.weights)[None], host(one.bias)])
    assert_close(y, host(two.forward(x[:, None]))[:, 0], rtol=1e-5, atol=1e-6)
    assert tuple(y.shape) == (2, *one.output_shape((length, 2)))


def test_keras_lengths_and_gradients(be):
    assert layers.Conv1DTranspose(4, 3, 2, "same").output_shape((7, 2)) == (14, 4)
    assert layers.Conv1DTranspose(4, 3, 2).output_shape((7, 2)) == (15, 4)
    assert layers.Conv1DTranspose(4, 3, 2, output_padding=1).output_shape((7, None)) == (16, 4)
    assert layers.Conv1DTranspose(4, 3).output_shape((None, 2)) == (None, 4)
    layer = layers.Conv1DTranspose(2, 3, 2, "same", activation="tanh", dtype="float64",
                                   bias_initializer="glorot_uniform")
    check_gradients(layer, np.random.default_rng(2).standard_normal((2, 4, 3)), be)


def test_matches_pytorch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).standard_normal((2, 5, 3))
    with xdl.use_backend("numpy"), xdl.use_floatx("float64"):
        layer = layers.Conv1DTranspose(4, 3, 2, bias_initializer="glorot_uniform")
        got = host(layer.forward(x))
    want = torch.nn.functional.conv_transpose1d(torch.tensor(x).permute(0, 2, 1),
                                                torch.tensor(host(layer.weights)).permute(2, 1, 0),
                                                torch.tensor(host(layer.bias)), stride=2).permute(0, 2, 1)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-10, atol=1e-12)


def test_in_an_autoencoder_saved_and_loaded(be, tmp_path):
    series = np.random.default_rng(4).standard_normal((8, 16, 1)).astype(np.float32)
    model = xdl.Sequential([xdl.Input((16, 1)), layers.Conv1D(4, 3, 2, "same", activation="relu"),
                            layers.Conv1DTranspose(4, 3, 2, "same", activation="relu"),
                            layers.Conv1DTranspose(1, 3, padding="same")])
    model.compile("adam", "mse")
    model.fit(series, series, epochs=2, verbose=0)
    assert model.output_shape == (None, 16, 1)
    model.save(tmp_path / "ae.xdl")
    assert_close(xdl.models.load_model(tmp_path / "ae.xdl").predict(series), model.predict(series), atol=1e-6)
    with pytest.raises(xdl.ShapeError, match=r"expected input shape \(N, L, C\)"):
        layers.Conv1DTranspose(2, 3).forward(np.ones((2, 4, 4, 1), np.float32))
    with pytest.raises(xdl.ArgumentError, match="output_padding"):
        layers.Conv1DTranspose(2, 3, 2, output_padding=2)
