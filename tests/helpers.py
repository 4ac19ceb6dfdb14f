"""Shared test tools: host comparisons and central-difference gradient checks (float64)."""

from __future__ import annotations

import numpy as np

import xdl

RTOL_FOR = {"float32": 1e-4, "float64": 1e-10}


def host(x):
    return xdl.to_numpy(x)


def assert_close(actual, expected, rtol=1e-5, atol=1e-7, err_msg=""):
    np.testing.assert_allclose(host(actual), host(expected), rtol=rtol, atol=atol, err_msg=err_msg)


def away_from_zero(rng, shape, low=0.1, high=1.5):
    """Values with |x| >= low, so kinks (ReLU at 0) sit far from the finite-difference step."""
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


def numeric_gradient(objective, value, install, eps=1e-6):
    """d objective / d value by central differences; ``install(array)`` puts a perturbed copy in place."""
    value = np.array(value, dtype=np.float64)
    grad = np.zeros_like(value)
    flat, gflat = value.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        install(value)
        plus = objective()
        flat[i] = original - eps
        install(value)
        minus = objective()
        flat[i] = original
        gflat[i] = (plus - minus) / (2 * eps)
    install(value)
    return grad


def check_layer_gradients(layer, x, be, rtol=1e-5, atol=1e-7, seed=0, training=True):
    """Compare ``layer.backward`` with central differences for the input and every parameter.

    The objective is ``sum(layer(x) * R)`` for a fixed random ``R``, so ``dL/dy = R``.
    """
    rng = np.random.default_rng(seed)
    x = be.asarray(x, dtype=be.xp.float64)
    y = layer.forward(x, training=training)
    assert y.dtype == be.xp.float64, f"{layer.name} computed in {y.dtype}, not float64"
    R = be.asarray(rng.standard_normal(tuple(y.shape)), dtype=be.xp.float64)
    dx = host(layer.backward(R))
    trainable = [p for p in layer.parameters() if p.trainable]
    analytic = [host(p.grad) for p in trainable]  # by position: sublayers' parameters may share names

    state = {"x": x}

    def objective():
        return float(np.sum(host(layer.call(state["x"], training)) * host(R)))

    def install_x(value):
        state["x"] = be.asarray(value, dtype=be.xp.float64)

    expected_dx = numeric_gradient(objective, host(x), install_x)
    np.testing.assert_allclose(dx, expected_dx, rtol=rtol, atol=atol, err_msg=f"{layer.name}: input gradient")
    for p, grad in zip(trainable, analytic):
        def install_p(value, p=p):
            p.value = be.asarray(value, dtype=be.xp.float64)

        expected = numeric_gradient(objective, host(p.value), install_p)
        np.testing.assert_allclose(grad, expected, rtol=rtol, atol=atol,
                                   err_msg=f"{layer.name}: gradient of {p.name}")
