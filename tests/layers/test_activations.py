"""Element-wise activations (ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, SiLU/Swish, ELU, Softplus,
Softsign, Mish, GELU) and the ``activation=`` argument of Dense, Conv2D and ``Activation``: values,
finite-difference gradients, names, extreme inputs, files, and PyTorch's functions where installed."""

from __future__ import annotations

import math

import numpy as np
import pytest

import xdl
from tests.gradcheck import check_gradients
from tests.helpers import assert_close, away_from_zero, host

ACTIVATIONS = [
    (xdl.ReLU, {}, lambda x: np.maximum(x, 0)),
    (xdl.LeakyReLU, {"alpha": 0.2}, lambda x: np.where(x > 0, x, 0.2 * x)),
    (xdl.Sigmoid, {}, lambda x: 1 / (1 + np.exp(-x))),
    (xdl.Tanh, {}, np.tanh),
    (xdl.Softmax, {}, lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
]
ACTIVATION_IDS = [cls.__name__ for cls, _, _ in ACTIVATIONS]


def _softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


REFERENCES = {  # class, kwargs, reference in float64
    "silu": (xdl.SiLU, {}, lambda x: x / (1 + np.exp(-x))),
    "elu": (xdl.ELU, {}, lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0)))),
    "elu-alpha": (xdl.ELU, {"alpha": 0.5}, lambda x: np.where(x > 0, x, 0.5 * np.expm1(np.minimum(x, 0)))),
    "softplus": (xdl.Softplus, {}, _softplus),
    "softsign": (xdl.Softsign, {}, lambda x: x / (1 + np.abs(x))),
    "mish": (xdl.Mish, {}, lambda x: x * np.tanh(_softplus(x))),
}


@pytest.mark.parametrize("cls,kwargs,reference", ACTIVATIONS, ids=ACTIVATION_IDS)
def test_values_of_relu_sigmoid_tanh_softmax(be, cls, kwargs, reference):
    x = np.random.default_rng(3).standard_normal((5, 4)).astype(np.float32)
    y = cls(**kwargs).forward(x)
    assert be.owns(y) and y.dtype == be.xp.float32
    assert_close(y, reference(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls,kwargs,reference", ACTIVATIONS, ids=ACTIVATION_IDS)
def test_gradients_of_relu_sigmoid_tanh_softmax(be, cls, kwargs, reference):
    x = away_from_zero(np.random.default_rng(2), (3, 4))
    check_gradients(cls(**kwargs, dtype="float64"), x, be)


def test_sigmoid_saturates_without_overflow(be):
    with np.errstate(all="raise"):
        y = host(xdl.Sigmoid().forward(np.array([[-1000.0, 0.0, 1000.0]])))
    assert_close(y, [[0.0, 0.5, 1.0]])


@pytest.mark.parametrize("case", REFERENCES, ids=list(REFERENCES))
def test_values_of_silu_elu_softplus_softsign_mish(be, case):
    cls, kwargs, reference = REFERENCES[case]
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32) * 3
    y = cls(**kwargs).forward(x)
    assert be.owns(y) and y.dtype == be.xp.float32
    assert_close(y, reference(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", REFERENCES, ids=list(REFERENCES))
def test_gradients_of_silu_elu_softplus_softsign_mish(be, case):
    cls, kwargs, _ = REFERENCES[case]
    x = away_from_zero(np.random.default_rng(2), (3, 4), high=4.0)  # ELU's kink sits at 0
    check_gradients(cls(**kwargs, dtype="float64"), x, be)


@pytest.mark.parametrize("case", REFERENCES, ids=list(REFERENCES))
def test_extreme_inputs_stay_finite(be, case):
    cls, kwargs, reference = REFERENCES[case]
    x = np.array([[-200.0, -30.0, 30.0, 200.0]], dtype=np.float32)
    layer = cls(**kwargs)
    y = layer.forward(x)
    dx = layer.backward(np.ones((1, 4), dtype=np.float32))
    assert np.all(np.isfinite(host(y))) and np.all(np.isfinite(host(dx)))
    with np.errstate(over="ignore"):
        assert_close(y, reference(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_elu_rejects_bad_alpha():
    with pytest.raises(ValueError, match="alpha"):
        xdl.ELU(alpha="big")


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_values_and_gradients(be, approximate):
    x = np.linspace(-5, 5, 41).reshape(1, 41)
    gelu = xdl.GELU(approximate=approximate, dtype="float64")
    check_gradients(gelu, x, be, rtol=1e-5, atol=1e-6)
    if approximate == "none":
        exact = x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
        assert_close(gelu.forward(x), exact, rtol=0, atol=4e-7)  # erf to 1.5e-7
        assert xdl.Dense(units=2, activation="gelu").get_config()["activation"] == "gelu"
    else:
        assert_close(gelu.forward(x), 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))))


# -- the activation= argument and Activation -------------------------------------------------
@pytest.mark.parametrize("name, layer", [("relu", xdl.ReLU), ("sigmoid", xdl.Sigmoid), ("tanh", xdl.Tanh),
                                         ("softmax", xdl.Softmax),
                                         ("leaky_relu", lambda: xdl.LeakyReLU(0.01))])  # the name's slope
def test_dense_activation_is_the_layer_after_it(be, name, layer):
    x = np.random.default_rng(2).standard_normal((5, 4))
    dense = xdl.Dense(output_size=3, activation=name)
    plain = xdl.Dense(input_size=4, output_size=3)
    y = dense.forward(x)
    plain.set_weights(dense.get_weights())
    assert_close(y, layer().forward(plain.forward(x)), rtol=1e-6)
    assert_close(xdl.Activation(name).forward(plain.forward(x)), y, rtol=1e-6)
    assert dense.get_config()["activation"] == name


@pytest.mark.parametrize("name", ["sigmoid", "softmax", "linear"])
def test_activation_arguments_have_the_activations_gradients(be, name):
    x = np.random.default_rng(3).standard_normal((3, 5, 5, 2))
    check_gradients(xdl.Conv2D(output_channels=3, kernel_size=3, activation=name, dtype="float64"), x, be)
    check_gradients(xdl.Dense(output_size=3, activation=name, dtype="float64"), x[:, 0, 0, :], be)
    check_gradients(xdl.Activation(name, dtype="float64"), x, be)


def test_names_for_activation_arguments(be):
    x = np.random.default_rng(3).standard_normal((4, 3)).astype(np.float32)
    for name, cls in [("silu", xdl.SiLU), ("swish", xdl.SiLU), ("elu", xdl.ELU), ("softplus", xdl.Softplus),
                      ("softsign", xdl.Softsign), ("mish", xdl.Mish)]:
        assert xdl.layers.ACTIVATIONS[name] is cls
        dense = xdl.Dense(input_size=3, output_size=2, activation=name)
        plain = xdl.Dense(input_size=3, output_size=2)
        plain.set_weights(dense.get_weights())
        assert_close(dense.forward(x), cls().forward(plain.forward(x)), rtol=1e-6)
        assert_close(xdl.Activation(name).forward(x), cls().forward(x), rtol=1e-6)
    assert xdl.Swish is xdl.SiLU


def test_unknown_name_lists_the_new_ones():
    with pytest.raises(ValueError, match="'silu'.*'mish'"):
        xdl.Dense(output_size=2, activation="mysh")


def test_activation_layers_are_saved_and_loaded(be, tmp_path):
    model = xdl.Sequential([xdl.Dense(output_size=4, activation="swish"), xdl.ELU(alpha=0.3), xdl.Softplus(),
                            xdl.Dense(output_size=3, activation="mish"), xdl.Softsign(), xdl.Activation("elu"),
                            xdl.Mish(), xdl.SiLU()])
    x = np.random.default_rng(4).standard_normal((3, 5)).astype(np.float32)
    before = host(model.forward(x))
    model.save(tmp_path / "act.xdl")
    loaded = xdl.Sequential.load(tmp_path / "act.xdl")
    assert loaded.layers[1].alpha == 0.3 and loaded.layers[0].activation == "swish"
    assert_close(loaded.forward(x), before, rtol=1e-6)


def test_activations_are_saved_and_unknown_names_listed(be, tmp_path):
    model = xdl.Sequential([xdl.Conv2D(output_channels=2, kernel_size=3, activation="relu"), xdl.Flatten(),
                            xdl.Dense(units=4, activation="tanh"), xdl.Activation("softmax")])
    x = np.random.default_rng(4).standard_normal((2, 5, 5, 1))
    expected = host(model.predict(x))
    model.save(tmp_path / "m.xdl")
    loaded = xdl.Model.load(tmp_path / "m.xdl")
    assert_close(loaded.predict(x), expected, rtol=1e-6)
    assert [getattr(layer, "activation", None) for layer in loaded.layers] == ["relu", None, "tanh", "softmax"]
    assert_close(np.sum(expected, axis=-1), np.ones(2), rtol=1e-6)
    for make in (lambda: xdl.Dense(units=2, activation="gelu_new"), lambda: xdl.Activation("swishy"),
                 lambda: xdl.Conv2D(filters=2, kernel_size=1, activation="Relu")):
        with pytest.raises(ValueError, match=r"unknown activation .*'relu'.*'softmax'"):
            make()


def test_activations_match_torch_functions():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.random.default_rng(5).standard_normal((4, 6)) * 4
    t = torch.tensor(x)
    with xdl.use_backend("numpy"):
        for layer, want in [(xdl.SiLU(), F.silu(t)), (xdl.ELU(alpha=0.7), F.elu(t, alpha=0.7)),
                            (xdl.Softplus(), F.softplus(t)), (xdl.Softsign(), F.softsign(t)),
                            (xdl.Mish(), F.mish(t))]:
            layer.dtype_name = "float64"
            np.testing.assert_allclose(host(layer.forward(x)), want.numpy(), rtol=1e-12, atol=1e-12)
