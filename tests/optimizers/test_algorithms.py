"""The update rules step by step: SGD (momentum, Nesterov, weight decay), Adam, AdamW and RMSprop
against their textbook updates; Adagrad, Nadam and Lion against their published rules, written
here in plain NumPy (float64) as Keras states them; on every backend, flat buffer or not."""

from __future__ import annotations

import math

import numpy as np
import pytest

import xdl
from tests.helpers import assert_close, host
from xdl.core.parameter import Parameter

STEPS = 5


RNG = np.random.default_rng(3)


W0 = [RNG.standard_normal((3, 4)), RNG.standard_normal(4)]


GRADS = [[RNG.standard_normal(w.shape) for w in W0] for _ in range(STEPS)]


def sgd(lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    def run(w, grads):
        b = [np.zeros_like(x) for x in w]
        for gs in grads:
            for i, g in enumerate(gs):
                g = g + weight_decay * w[i]
                b[i] = momentum * b[i] + g
                w[i] = w[i] - lr * ((g + momentum * b[i]) if nesterov else (b[i] if momentum else g))
        return w
    return run


def adam(lr, b1=0.9, b2=0.999, eps=1e-7, decoupled_decay=0.0):
    def run(w, grads):
        m = [np.zeros_like(x) for x in w]
        v = [np.zeros_like(x) for x in w]
        for t, gs in enumerate(grads, start=1):
            for i, g in enumerate(gs):
                w[i] = w[i] * (1 - lr * decoupled_decay)
                m[i] = b1 * m[i] + (1 - b1) * g
                v[i] = b2 * v[i] + (1 - b2) * g * g
                m_hat, v_hat = m[i] / (1 - b1 ** t), v[i] / (1 - b2 ** t)
                w[i] = w[i] - lr * m_hat / (np.sqrt(v_hat) + eps)
        return w
    return run


def rmsprop(lr, rho=0.9, eps=1e-7):
    def run(w, grads):
        v = [np.zeros_like(x) for x in w]
        for gs in grads:
            for i, g in enumerate(gs):
                v[i] = rho * v[i] + (1 - rho) * g * g
                w[i] = w[i] - lr * g / (np.sqrt(v[i]) + eps)
        return w
    return run


CASES = {
    "sgd": (lambda: xdl.SGD(0.1), sgd(0.1)),
    "sgd-momentum": (lambda: xdl.SGD(0.1, momentum=0.9), sgd(0.1, 0.9)),
    "sgd-nesterov": (lambda: xdl.SGD(0.1, momentum=0.9, nesterov=True), sgd(0.1, 0.9, True)),
    "sgd-l2": (lambda: xdl.SGD(0.1, weight_decay=0.01), sgd(0.1, weight_decay=0.01)),
    "adam": (lambda: xdl.Adam(0.01), adam(0.01)),
    "adamw": (lambda: xdl.AdamW(0.01, weight_decay=0.1), adam(0.01, decoupled_decay=0.1)),
    "rmsprop": (lambda: xdl.RMSprop(0.01), rmsprop(0.01)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_optimizer_matches_textbook_update(be, case):
    make, textbook = CASES[case]
    optimizer = make()
    params = [Parameter(be.asarray(w.copy(), dtype=be.xp.float64), f"p{i}") for i, w in enumerate(W0)]
    for gs in GRADS:
        for p, g in zip(params, gs):
            p.grad = be.asarray(g, dtype=be.xp.float64)
        optimizer.step(params)
    expected = textbook([w.copy() for w in W0], GRADS)
    for p, w in zip(params, expected):
        assert_close(p.value, w, rtol=1e-10, atol=1e-12, err_msg=case)
    assert optimizer.iterations == STEPS


def adagrad(w, grads, lr=0.1, initial=0.1, eps=1e-7):
    a = np.full_like(w, initial)
    for g in grads:
        a = a + g * g
        w = w - lr * g / np.sqrt(a + eps)
        yield w


def nadam(w, grads, lr=0.01, b1=0.9, b2=0.999, eps=1e-7):
    m, v, product = np.zeros_like(w), np.zeros_like(w), 1.0
    for t, g in enumerate(grads, start=1):
        u_t, u_next = b1 * (1 - 0.5 * 0.96 ** t), b1 * (1 - 0.5 * 0.96 ** (t + 1))
        product *= u_t
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = u_next * m / (1 - product * u_next) + (1 - u_t) * g / (1 - product)
        w = w - lr * m_hat / (np.sqrt(v / (1 - b2 ** t)) + eps)
        yield w


def lion(w, grads, lr=0.01, b1=0.9, b2=0.99):
    m = np.zeros_like(w)
    for g in grads:
        w = w - lr * np.sign(b1 * m + (1 - b1) * g)
        m = b2 * m + (1 - b2) * g
        yield w


RULES = {"adagrad": (lambda: xdl.Adagrad(0.1), adagrad), "nadam": (lambda: xdl.Nadam(0.01), nadam),
         "lion": (lambda: xdl.Lion(0.01), lion)}


@pytest.mark.parametrize("name", RULES)
def test_steps_follow_the_published_rule(be, name):
    make, rule = RULES[name]
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal((3, 4)) for _ in range(6)]
    w0 = rng.standard_normal((3, 4))
    with xdl.use_floatx("float64"):
        layer = xdl.Dense(4, input_size=4, use_bias=False)
        layer.W.value = be.asarray(w0)
        opt = make()
        for g, want in zip(grads, rule(w0, grads)):
            layer.W.grad = be.asarray(g)
            opt.update(layer)
            np.testing.assert_allclose(host(layer.W.value), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", RULES)
def test_a_resumed_run_continues_the_rule(be, tmp_path, name):
    """Nadam's momentum schedule is a host product over the steps: a checkpoint resumes it."""
    make, _ = RULES[name]
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((16, 5)), rng.integers(0, 3, 16)

    def model():
        xdl.seed(0)
        m = xdl.NeuralNetwork([xdl.Dense(output_size=6), xdl.ReLU(), xdl.Dense(output_size=3)])
        m.compile(loss="cross_entropy", optimizer=make())
        return m

    straight = model()
    straight.fit(x, y, epochs=4, batch_size=8, verbose=0, shuffle=False)
    first = model()
    first.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    first.save(tmp_path / "c.xdl", include_optimizer=True)
    resumed = xdl.NeuralNetwork.load(tmp_path / "c.xdl")
    resumed.fit(x, y, epochs=4, batch_size=8, verbose=0, shuffle=False, initial_epoch=resumed.epoch)
    for p, q in zip(straight.parameters(), resumed.parameters()):
        np.testing.assert_allclose(host(q.value), host(p.value), rtol=1e-6, atol=1e-7)
    assert math.isfinite(float(straight.evaluate(x, y)))
