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


class Frozen(xdl.Optimizer):
    """Leaves the weights as they are: ``model.train_step`` then forms the gradients alone."""

    def apply(self, be, w, g, state, lr):
        return w


def batch(model, xs, ys, weights=None):
    """Lists per input and output as the batch a step takes (Keras's ``(x, y[, sample_weight])``)."""
    x = xs if model.multiple_inputs else xs[0]
    y = ys if model.objectives.several else ys[0]
    if weights is None:
        return x, y
    return x, y, weights if model.objectives.several else weights[0]


def step_gradients(model, xs, ys, weights=None):
    """The gradients one ``train_step`` forms, left in each parameter's ``grad``, without its
    update; returns the batch's loss (a 0-d array, penalties included)."""
    optimizer, model.optimizer = model.optimizer, Frozen()
    try:
        return model.train_step(batch(model, xs, ys, weights)).batch_loss
    finally:
        model.optimizer = optimizer


def model_loss(model, xs, ys, weights=None, training=True):
    """The compiled total loss of a batch as ``train_step`` forms it (penalties included), a 0-d array."""
    from xdl.core import regularizers

    values, masks, _ = model.graph.run(xs, training, model.objectives.slots)
    figures, _, _ = model.objectives.value_and_grad(ys, values, weights, masks, grad=False)
    return regularizers.penalize(figures, model._regularized, grads=False)[0]


def loss_input_gradients(model, xs, ys, weights=None):
    """The gradients of the compiled loss w.r.t. the inputs ``xs`` (a list), training mode."""
    values, masks, backprop = model.graph.run(xs, True, model.objectives.slots)
    _, grads, _ = model.objectives.value_and_grad(ys, values, weights, masks)
    return backprop(grads, True)
