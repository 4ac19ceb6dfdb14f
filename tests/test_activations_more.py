"""SiLU/Swish, ELU, Softplus, Softsign, Mish: values, finite-difference gradients, names,
extreme inputs, files, and PyTorch's functions where installed."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close, away_from_zero, check_layer_gradients, host

import xdl


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


@pytest.mark.parametrize("case", REFERENCES, ids=list(REFERENCES))
def test_values(be, case):
    cls, kwargs, reference = REFERENCES[case]
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32) * 3
    y = cls(**kwargs).forward(x)
    assert be.owns(y) and y.dtype == be.xp.float32
    assert_close(y, reference(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", REFERENCES, ids=list(REFERENCES))
def test_gradients(be, case):
    cls, kwargs, _ = REFERENCES[case]
    x = away_from_zero(np.random.default_rng(2), (3, 4), high=4.0)  # ELU's kink sits at 0
    check_layer_gradients(cls(**kwargs, dtype="float64"), x, be)


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


def test_saved_and_loaded(be, tmp_path):
    model = xdl.Sequential([xdl.Dense(output_size=4, activation="swish"), xdl.ELU(alpha=0.3), xdl.Softplus(),
                            xdl.Dense(output_size=3, activation="mish"), xdl.Softsign(), xdl.Activation("elu"),
                            xdl.Mish(), xdl.SiLU()])
    x = np.random.default_rng(4).standard_normal((3, 5)).astype(np.float32)
    before = host(model.forward(x))
    model.save(tmp_path / "act.xdl")
    loaded = xdl.Sequential.load(tmp_path / "act.xdl")
    assert loaded.layers[1].alpha == 0.3 and loaded.layers[0].activation == "swish"
    assert_close(loaded.forward(x), before, rtol=1e-6)


def test_elu_rejects_bad_alpha():
    with pytest.raises(ValueError, match="alpha"):
        xdl.ELU(alpha="big")


def test_against_torch_functions():
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
